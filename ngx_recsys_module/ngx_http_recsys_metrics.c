
/*
 * Copyright (C) ngx_recsys authors
 *
 * Prometheus metrics: a registry of counters, gauges and histograms in a
 * shared memory zone, fed by every worker and served by "recsys_metrics"
 * in the text exposition format (version 0.0.4).
 *
 * The families are fixed at build time (ngx_http_recsys_metric_e and the
 * table below); a series, one label set of a family, is created in the
 * zone the first time it is counted.  Series are never freed, so readers
 * walk the per-family lists without a lock: a series is complete before
 * it is linked, and only its counters change afterwards, by atomic adds.
 * The zone's mutex is taken only to create a series.  A family holds at
 * most NGX_HTTP_RECSYS_METRICS_MAX_SERIES label sets; later ones, and
 * label values that are too long or not UTF-8, are counted under the
 * value "other", so no client can fill the zone.
 *
 * The zone survives a reload: the new configuration takes over the old
 * counters unless the zone's size or the family table changed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"
#include "rs_util.h"


#define NGX_HTTP_RECSYS_METRICS_NLABELS      2
#define NGX_HTTP_RECSYS_METRICS_MAX_SERIES   64
#define NGX_HTTP_RECSYS_METRICS_MAX_VALUE    64
#define NGX_HTTP_RECSYS_METRICS_NBUCKETS     15
#define NGX_HTTP_RECSYS_METRICS_NSTAGES      6
#define NGX_HTTP_RECSYS_METRICS_BUF_SIZE     16384

#define NGX_HTTP_RECSYS_METRICS_COUNTER      0
#define NGX_HTTP_RECSYS_METRICS_GAUGE        1
#define NGX_HTTP_RECSYS_METRICS_HISTOGRAM    2


typedef struct {
    ngx_uint_t                   id;       /* its enum value */
    ngx_str_t                    name;
    ngx_uint_t                   type;
    ngx_uint_t                   nlabels;
    ngx_str_t                    labels[NGX_HTTP_RECSYS_METRICS_NLABELS];
    ngx_str_t                    help;
} ngx_http_recsys_metrics_family_t;


typedef struct ngx_http_recsys_metrics_series_s
    ngx_http_recsys_metrics_series_t;

/*
 * One label set of a family: the label values follow the counters.  A
 * counter or a gauge has one counter; a histogram has one per bucket, one
 * for the values above the last bucket, and the sum in nanoseconds.
 */
struct ngx_http_recsys_metrics_series_s {
    ngx_http_recsys_metrics_series_t   *next;
    uint32_t                            hash;
    u_char                              len[NGX_HTTP_RECSYS_METRICS_NLABELS];
    ngx_atomic_t                        value[1];
};


/* in the zone */
typedef struct {
    uint32_t                          layout;  /* of the family table */
    ngx_atomic_t                      dropped;
    ngx_uint_t                        nseries[NGX_HTTP_RECSYS_METRIC_NFAMILIES];
    ngx_http_recsys_metrics_series_t  *series[NGX_HTTP_RECSYS_METRIC_NFAMILIES];
} ngx_http_recsys_metrics_sh_t;


/* per configuration cycle */
typedef struct {
    ngx_http_recsys_metrics_sh_t       *sh;
    ngx_slab_pool_t                    *shpool;
} ngx_http_recsys_metrics_ctx_t;


/* the exposition being written, in a chain of pool buffers */
typedef struct {
    ngx_pool_t                         *pool;
    ngx_chain_t                        *first;
    ngx_chain_t                       **last;
    ngx_buf_t                          *buf;
    off_t                               size;
} ngx_http_recsys_metrics_out_t;


static ngx_int_t ngx_http_recsys_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_recsys_metrics_init_sh(ngx_shm_zone_t *shm_zone);
static uint32_t ngx_http_recsys_metrics_layout(void);
static ngx_int_t ngx_http_recsys_metrics_log_handler(ngx_http_request_t *r);
static ngx_http_recsys_metrics_ctx_t *ngx_http_recsys_metrics_cycle_ctx(void);
static ngx_atomic_t *ngx_http_recsys_metrics_get(
    ngx_http_recsys_metrics_ctx_t *ctx, ngx_uint_t family, ngx_uint_t type,
    ngx_str_t *labels);
static ngx_http_recsys_metrics_series_t *ngx_http_recsys_metrics_find(
    ngx_http_recsys_metrics_sh_t *sh, ngx_uint_t family, ngx_str_t *values,
    uint32_t hash);
static ngx_http_recsys_metrics_series_t *ngx_http_recsys_metrics_create_locked(
    ngx_http_recsys_metrics_ctx_t *ctx, ngx_uint_t family, ngx_str_t *values,
    uint32_t hash);
static uint32_t ngx_http_recsys_metrics_hash(ngx_uint_t n, ngx_str_t *values);
static ngx_uint_t ngx_http_recsys_metrics_nvalues(ngx_uint_t type);
static void ngx_http_recsys_metrics_count_ctx(
    ngx_http_recsys_metrics_ctx_t *ctx, ngx_uint_t family, ngx_str_t *labels,
    ngx_uint_t n);
static void ngx_http_recsys_metrics_observe_ctx(
    ngx_http_recsys_metrics_ctx_t *ctx, ngx_uint_t family, ngx_str_t *labels,
    double seconds);
static ngx_int_t ngx_http_recsys_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_metrics_write_family(
    ngx_http_recsys_metrics_out_t *out, ngx_http_recsys_metrics_sh_t *sh,
    ngx_uint_t family);
static ngx_int_t ngx_http_recsys_metrics_write_series(
    ngx_http_recsys_metrics_out_t *out, ngx_http_recsys_metrics_family_t *fam,
    ngx_http_recsys_metrics_series_t *s);
static ngx_int_t ngx_http_recsys_metrics_write_index(
    ngx_http_recsys_metrics_out_t *out, ngx_http_recsys_main_conf_t *rmcf);
static ngx_int_t ngx_http_recsys_metrics_write_head(
    ngx_http_recsys_metrics_out_t *out, ngx_str_t *name, ngx_str_t *type,
    ngx_str_t *help);
static u_char *ngx_http_recsys_metrics_reserve(
    ngx_http_recsys_metrics_out_t *out, size_t len);
static void ngx_http_recsys_metrics_commit(ngx_http_recsys_metrics_out_t *out,
    u_char *p);
static u_char *ngx_http_recsys_metrics_label(u_char *p, ngx_str_t *name,
    u_char *value, size_t len);
static u_char *ngx_http_recsys_metrics_seconds(u_char *p, uint64_t ns);


/* a distinct tag: a zone of another recsys kind is never taken over */
static ngx_uint_t  ngx_http_recsys_metrics_tag;


/* upper bounds in nanoseconds, from 50 microseconds to 2.5 seconds */
static uint64_t  ngx_http_recsys_metrics_buckets[] = {
    50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000,
    10000000, 25000000, 50000000,
    100000000, 250000000, 500000000,
    1000000000, 2500000000ULL
};


static ngx_str_t  ngx_http_recsys_metrics_types[] = {
    ngx_string("counter"),
    ngx_string("gauge"),
    ngx_string("histogram")
};


static ngx_str_t  ngx_http_recsys_metrics_other[] = {
    ngx_string("other"),
    ngx_string("other")
};


static ngx_str_t  ngx_http_recsys_metrics_stages[] = {
    ngx_string("parse"),
    ngx_string("embed"),
    ngx_string("retrieve"),
    ngx_string("rank"),
    ngx_string("narrative"),
    ngx_string("render")
};


static ngx_str_t  ngx_http_recsys_metrics_formats[] = {
    ngx_string("json"),
    ngx_string("html")
};


/*
 * In the order of ngx_http_recsys_metric_e, checked at configuration: a
 * missing entry is left zeroed and fails that check.
 */
static ngx_http_recsys_metrics_family_t
    ngx_http_recsys_metrics_families[NGX_HTTP_RECSYS_METRIC_NFAMILIES] =
{

    { NGX_HTTP_RECSYS_METRIC_REQUESTS,
      ngx_string("recsys_requests_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      2, { ngx_string("status"), ngx_string("format") },
      ngx_string("Requests answered by recsys, by HTTP status and "
                 "response format.") },

    { NGX_HTTP_RECSYS_METRIC_REQUEST_SECONDS,
      ngx_string("recsys_request_seconds"),
      NGX_HTTP_RECSYS_METRICS_HISTOGRAM,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Time recsys spent on a request, from its arguments to "
                 "its answer.") },

    { NGX_HTTP_RECSYS_METRIC_STAGE_SECONDS,
      ngx_string("recsys_stage_seconds"),
      NGX_HTTP_RECSYS_METRICS_HISTOGRAM,
      1, { ngx_string("stage"), ngx_null_string },
      ngx_string("Time spent in each stage of a request that reached "
                 "it.") },

    { NGX_HTTP_RECSYS_METRIC_EXPOSURES,
      ngx_string("recsys_exposures_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("variant"), ngx_null_string },
      ngx_string("Items shown in successful answers, by variant (the "
                 "ranking profile).") },

    { NGX_HTTP_RECSYS_METRIC_CLICKS,
      ngx_string("recsys_clicks_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("variant"), ngx_null_string },
      ngx_string("Clicks on recommended items, by variant.") },

    { NGX_HTTP_RECSYS_METRIC_PURCHASES,
      ngx_string("recsys_purchases_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("variant"), ngx_null_string },
      ngx_string("Purchases of recommended items, by variant.") },

    { NGX_HTTP_RECSYS_METRIC_CACHE_HITS,
      ngx_string("recsys_cache_hits_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("tier"), ngx_null_string },
      ngx_string("Cache lookups that found an entry, by cache tier.") },

    { NGX_HTTP_RECSYS_METRIC_CACHE_MISSES,
      ngx_string("recsys_cache_misses_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("tier"), ngx_null_string },
      ngx_string("Cache lookups that found nothing, by cache tier.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_CALLS,
      ngx_string("recsys_llm_calls_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Calls made to the language model.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_ERRORS,
      ngx_string("recsys_llm_errors_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("reason"), ngx_null_string },
      ngx_string("Language model calls that failed, by reason.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_TIMEOUTS,
      ngx_string("recsys_llm_timeouts_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Language model calls abandoned after their timeout.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_REJECTIONS,
      ngx_string("recsys_llm_rejections_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("reason"), ngx_null_string },
      ngx_string("Language model replies the guardrails rejected, by "
                 "reason.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_TOKENS,
      ngx_string("recsys_llm_tokens_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("kind"), ngx_null_string },
      ngx_string("Language model tokens, by kind (prompt or "
                 "completion).") },

    { NGX_HTTP_RECSYS_METRIC_DEGRADED,
      ngx_string("recsys_degraded_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("component"), ngx_null_string },
      ngx_string("Answers served without a component that failed or was "
                 "too slow (redis, llm, embed).") },

    { NGX_HTTP_RECSYS_METRIC_LLM_SUCCESSES,
      ngx_string("recsys_llm_successes_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Language model replies that passed the guardrails.") },

    { NGX_HTTP_RECSYS_METRIC_LLM_SECONDS,
      ngx_string("recsys_llm_seconds"),
      NGX_HTTP_RECSYS_METRICS_HISTOGRAM,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Time from a language model call to its reply or "
                 "failure.") },

    { NGX_HTTP_RECSYS_METRIC_REDIS_ERRORS,
      ngx_string("recsys_redis_errors_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("reason"), ngx_null_string },
      ngx_string("Redis commands that failed, by reason.") },

    { NGX_HTTP_RECSYS_METRIC_REDIS_RECONNECTS,
      ngx_string("recsys_redis_reconnects_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Connections to Redis opened again after a failure.") },

    { NGX_HTTP_RECSYS_METRIC_REDIS_CIRCUIT,
      ngx_string("recsys_redis_circuit_state"),
      NGX_HTTP_RECSYS_METRICS_GAUGE,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("State of the Redis circuit breaker: 0 closed, "
                 "1 half-open, 2 open.") },

    { NGX_HTTP_RECSYS_METRIC_POPULARITY_REFRESHES,
      ngx_string("recsys_popularity_refreshes_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("result"), ngx_null_string },
      ngx_string("Reads of the live popularity from Redis, by result (ok "
                 "or error).") },

    { NGX_HTTP_RECSYS_METRIC_POPULARITY_ITEMS,
      ngx_string("recsys_popularity_live_items"),
      NGX_HTTP_RECSYS_METRICS_GAUGE,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Items with a live popularity score, over the loaded "
                 "index versions.") },

    { NGX_HTTP_RECSYS_METRIC_EMBED_CALLS,
      ngx_string("recsys_embed_calls_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Calls made to the query embedding model.") },

    { NGX_HTTP_RECSYS_METRIC_EMBED_ERRORS,
      ngx_string("recsys_embed_errors_total"),
      NGX_HTTP_RECSYS_METRICS_COUNTER,
      1, { ngx_string("reason"), ngx_null_string },
      ngx_string("Queries answered without their model vector, by "
                 "reason.") },

    { NGX_HTTP_RECSYS_METRIC_EMBED_SECONDS,
      ngx_string("recsys_embed_seconds"),
      NGX_HTTP_RECSYS_METRICS_HISTOGRAM,
      0, { ngx_null_string, ngx_null_string },
      ngx_string("Time from a query embedding call to its reply or "
                 "failure.") }
};


/* recsys_metrics_zone name:size; */

char *
ngx_http_recsys_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_str_t                      *value;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_recsys_metrics_ctx_t  *ctx;

    if (rmcf->metrics_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_metrics_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_http_recsys_shm_zone_add(cf, &value[1],
                                            &ngx_http_recsys_metrics_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_recsys_metrics_init_zone;
    shm_zone->data = ctx;

    rmcf->metrics_zone = shm_zone;

    return NGX_CONF_OK;
}


/* recsys_metrics; */

char *
ngx_http_recsys_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_recsys_main_conf_t  *rmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_recsys_metrics_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_recsys_metrics_handler;

    /* the zone may come later in the http block: checked at its end */
    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->metrics_line == 0) {
        rmcf->metrics_file = cf->conf_file->file.name;
        rmcf->metrics_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


/* from the module's postconfiguration, once the http block is read */

ngx_int_t
ngx_http_recsys_metrics_init(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_recsys_main_conf_t  *rmcf;

    for (i = 0; i < NGX_HTTP_RECSYS_METRIC_NFAMILIES; i++) {
        if (ngx_http_recsys_metrics_families[i].id != i) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "recsys metrics: the family table does not follow "
                          "ngx_http_recsys_metric_e at \"%V\"",
                          &ngx_http_recsys_metrics_families[i].name);
            return NGX_ERROR;
        }
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->metrics_zone == NULL) {

        if (rmcf->metrics_line) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"recsys_metrics\" needs a \"recsys_metrics_zone\" "
                          "in the http block in %V:%ui",
                          &rmcf->metrics_file, rmcf->metrics_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_recsys_metrics_log_handler;

    return NGX_OK;
}


/*
 * In the master for every configuration: the zone is new, or the previous
 * cycle's, whose counters are kept.
 */

static ngx_int_t
ngx_http_recsys_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_recsys_metrics_ctx_t  *octx = data;

    size_t                          len;
    ngx_http_recsys_metrics_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        if (ctx->sh->layout == ngx_http_recsys_metrics_layout()) {
            return NGX_OK;
        }

        /*
         * Another build of the module wrote it: its series do not fit our
         * table.  The old workers keep their header; ours is a new one.
         */

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "recsys_metrics_zone \"%V\" holds the metrics of "
                      "another build, the counters start again",
                      &shm_zone->shm.name);

        return ngx_http_recsys_metrics_init_sh(shm_zone);
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return NGX_OK;
    }

    len = sizeof(" in recsys_metrics_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in recsys_metrics_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is counted in recsys_metrics_dropped_total instead */
    ctx->shpool->log_nomem = 0;

    return ngx_http_recsys_metrics_init_sh(shm_zone);
}


static ngx_int_t
ngx_http_recsys_metrics_init_sh(ngx_shm_zone_t *shm_zone)
{
    ngx_http_recsys_metrics_ctx_t  *ctx;

    ctx = shm_zone->data;

    ctx->sh = ngx_slab_calloc(ctx->shpool,
                              sizeof(ngx_http_recsys_metrics_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->sh->layout = ngx_http_recsys_metrics_layout();
    ctx->shpool->data = ctx->sh;

    return NGX_OK;
}


/* what the series in a zone were laid out for */

static uint32_t
ngx_http_recsys_metrics_layout(void)
{
    uint32_t                           crc;
    ngx_uint_t                         i, n;
    ngx_http_recsys_metrics_family_t  *fam;

    ngx_crc32_init(crc);

    n = sizeof(ngx_http_recsys_metrics_series_t);
    ngx_crc32_update(&crc, (u_char *) &n, sizeof(ngx_uint_t));
    ngx_crc32_update(&crc, (u_char *) ngx_http_recsys_metrics_buckets,
                     sizeof(ngx_http_recsys_metrics_buckets));

    for (i = 0; i < NGX_HTTP_RECSYS_METRIC_NFAMILIES; i++) {
        fam = &ngx_http_recsys_metrics_families[i];

        ngx_crc32_update(&crc, fam->name.data, fam->name.len + 1);
        ngx_crc32_update(&crc, (u_char *) &fam->type, sizeof(ngx_uint_t));
        ngx_crc32_update(&crc, (u_char *) &fam->nlabels, sizeof(ngx_uint_t));
    }

    ngx_crc32_final(crc);

    return crc;
}


/* every request the recsys handler answered, a 400 too */

static ngx_int_t
ngx_http_recsys_metrics_log_handler(ngx_http_request_t *r)
{
    u_char                          status[NGX_INT_T_LEN];
    double                          us[NGX_HTTP_RECSYS_METRICS_NSTAGES];
    ngx_str_t                       labels[NGX_HTTP_RECSYS_METRICS_NLABELS];
    ngx_uint_t                      i, code;
    ngx_http_recsys_ctx_t          *rctx;
    ngx_http_recsys_metrics_ctx_t  *ctx;
    ngx_http_recsys_main_conf_t    *rmcf;

    rctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);
    if (rctx == NULL) {
        return NGX_OK;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);
    if (rmcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    ctx = rmcf->metrics_zone->data;

    /* as $status logs it */
    if (r->err_status) {
        code = r->err_status;

    } else if (r->headers_out.status) {
        code = r->headers_out.status;

    } else {
        code = 0;
    }

    labels[0].data = status;
    labels[0].len = ngx_sprintf(status, "%03ui", code) - status;

    if (rctx->format < sizeof(ngx_http_recsys_metrics_formats)
                       / sizeof(ngx_str_t))
    {
        labels[1] = ngx_http_recsys_metrics_formats[rctx->format];

    } else {
        ngx_str_set(&labels[1], "other");
    }

    ngx_http_recsys_metrics_count_ctx(ctx, NGX_HTTP_RECSYS_METRIC_REQUESTS,
                                      labels, 1);

    if (rctx->took_ms > 0) {
        ngx_http_recsys_metrics_observe_ctx(ctx,
                                         NGX_HTTP_RECSYS_METRIC_REQUEST_SECONDS,
                                         NULL, rctx->took_ms / 1000);
    }

    /*
     * In the order of ngx_http_recsys_metrics_stages; a stage the request
     * did not reach is left at zero.
     */
    us[0] = rctx->us_parse;
    us[1] = rctx->us_embed;
    us[2] = rctx->us_retrieve;
    us[3] = rctx->us_rank;
    us[4] = rctx->us_narrative;
    us[5] = rctx->us_render;

    for (i = 0; i < NGX_HTTP_RECSYS_METRICS_NSTAGES; i++) {
        if (us[i] > 0) {
            ngx_http_recsys_metrics_observe_ctx(ctx,
                                           NGX_HTTP_RECSYS_METRIC_STAGE_SECONDS,
                                           &ngx_http_recsys_metrics_stages[i],
                                           us[i] / 1000000);
        }
    }

    /* a HEAD answer shows nothing */

    if (code == NGX_HTTP_OK && !r->header_only && rctx->nitems) {
        ngx_http_recsys_metrics_count_ctx(ctx,
                                          NGX_HTTP_RECSYS_METRIC_EXPOSURES,
                                          &rctx->profile, rctx->nitems);
    }

    return NGX_OK;
}


void
ngx_http_recsys_metrics_count(ngx_uint_t family, ngx_str_t *labels,
    ngx_uint_t n)
{
    ngx_http_recsys_metrics_ctx_t  *ctx;

    ctx = ngx_http_recsys_metrics_cycle_ctx();

    if (ctx != NULL) {
        ngx_http_recsys_metrics_count_ctx(ctx, family, labels, n);
    }
}


/* one count of a family with a single label */

void
ngx_http_recsys_metrics_count_label(ngx_uint_t family, const char *label)
{
    ngx_str_t  labels[1];

    labels[0].data = (u_char *) label;
    labels[0].len = ngx_strlen(label);

    ngx_http_recsys_metrics_count(family, labels, 1);
}


void
ngx_http_recsys_metrics_observe(ngx_uint_t family, ngx_str_t *labels,
    double seconds)
{
    ngx_http_recsys_metrics_ctx_t  *ctx;

    ctx = ngx_http_recsys_metrics_cycle_ctx();

    if (ctx != NULL) {
        ngx_http_recsys_metrics_observe_ctx(ctx, family, labels, seconds);
    }
}


void
ngx_http_recsys_metrics_set(ngx_uint_t family, ngx_str_t *labels,
    ngx_int_t value)
{
    ngx_atomic_t                   *v;
    ngx_http_recsys_metrics_ctx_t  *ctx;

    ctx = ngx_http_recsys_metrics_cycle_ctx();

    if (ctx == NULL) {
        return;
    }

    v = ngx_http_recsys_metrics_get(ctx, family,
                                    NGX_HTTP_RECSYS_METRICS_GAUGE, labels);

    if (v != NULL) {
        /* one aligned word: readers see the old value or the new one */
        *v = (ngx_atomic_uint_t) value;
    }
}


/*
 * The zone of the running configuration.  A worker's cycle never changes,
 * so callers without a request (timers, upstream callbacks) need nothing.
 */

static ngx_http_recsys_metrics_ctx_t *
ngx_http_recsys_metrics_cycle_ctx(void)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    if (ngx_cycle->conf_ctx == NULL) {
        return NULL;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_recsys_module);

    if (rmcf == NULL || rmcf->metrics_zone == NULL) {
        return NULL;
    }

    return rmcf->metrics_zone->data;
}


static void
ngx_http_recsys_metrics_count_ctx(ngx_http_recsys_metrics_ctx_t *ctx,
    ngx_uint_t family, ngx_str_t *labels, ngx_uint_t n)
{
    ngx_atomic_t  *v;

    v = ngx_http_recsys_metrics_get(ctx, family,
                                    NGX_HTTP_RECSYS_METRICS_COUNTER, labels);

    if (v != NULL) {
        (void) ngx_atomic_fetch_add(v, (ngx_atomic_int_t) n);
    }
}


static void
ngx_http_recsys_metrics_observe_ctx(ngx_http_recsys_metrics_ctx_t *ctx,
    ngx_uint_t family, ngx_str_t *labels, double seconds)
{
    uint64_t       ns;
    ngx_uint_t     i;
    ngx_atomic_t  *v;

    v = ngx_http_recsys_metrics_get(ctx, family,
                                    NGX_HTTP_RECSYS_METRICS_HISTOGRAM, labels);

    if (v == NULL) {
        return;
    }

    /* negative and NaN count as zero, anything huge as a year */

    if (!(seconds > 0)) {
        ns = 0;

    } else if (seconds > 31536000) {
        ns = 31536000000000000ULL;

    } else {
        ns = (uint64_t) (seconds * 1e9);
    }

    for (i = 0; i < NGX_HTTP_RECSYS_METRICS_NBUCKETS; i++) {
        if (ns <= ngx_http_recsys_metrics_buckets[i]) {
            break;
        }
    }

    /* i is NGX_HTTP_RECSYS_METRICS_NBUCKETS above the last bucket */
    (void) ngx_atomic_fetch_add(&v[i], 1);
    (void) ngx_atomic_fetch_add(&v[NGX_HTTP_RECSYS_METRICS_NBUCKETS + 1],
                                (ngx_atomic_int_t) ns);
}


/*
 * The counters of a family's series for these label values, created on
 * first use; NULL when the family is not of that type or the zone is full.
 */

static ngx_atomic_t *
ngx_http_recsys_metrics_get(ngx_http_recsys_metrics_ctx_t *ctx,
    ngx_uint_t family, ngx_uint_t type, ngx_str_t *labels)
{
    uint32_t                           hash;
    ngx_str_t                          values[NGX_HTTP_RECSYS_METRICS_NLABELS];
    ngx_uint_t                         i, n;
    ngx_atomic_uint_t                  dropped;
    ngx_http_recsys_metrics_sh_t      *sh;
    ngx_http_recsys_metrics_family_t  *fam;
    ngx_http_recsys_metrics_series_t  *s;

    if (family >= NGX_HTTP_RECSYS_METRIC_NFAMILIES) {
        return NULL;
    }

    fam = &ngx_http_recsys_metrics_families[family];

    if (fam->type != type || ctx->sh == NULL) {
        return NULL;
    }

    sh = ctx->sh;
    n = fam->nlabels;

    for (i = 0; i < n; i++) {

        if (labels == NULL) {
            ngx_str_null(&values[i]);
            continue;
        }

        values[i] = labels[i];

        if (values[i].len > NGX_HTTP_RECSYS_METRICS_MAX_VALUE
            || !rs_utf8_valid(values[i].data, values[i].len))
        {
            values[i] = ngx_http_recsys_metrics_other[i];
        }
    }

    hash = ngx_http_recsys_metrics_hash(n, values);

    s = ngx_http_recsys_metrics_find(sh, family, values, hash);
    if (s != NULL) {
        return s->value;
    }

    /* a full family takes no lock for yet another new label set */

    if (sh->nseries[family] >= NGX_HTTP_RECSYS_METRICS_MAX_SERIES) {
        ngx_memcpy(values, ngx_http_recsys_metrics_other,
                   n * sizeof(ngx_str_t));
        hash = ngx_http_recsys_metrics_hash(n, values);

        s = ngx_http_recsys_metrics_find(sh, family, values, hash);
        if (s != NULL) {
            return s->value;
        }
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    s = ngx_http_recsys_metrics_find(sh, family, values, hash);

    if (s == NULL
        && sh->nseries[family] >= NGX_HTTP_RECSYS_METRICS_MAX_SERIES)
    {
        ngx_memcpy(values, ngx_http_recsys_metrics_other,
                   n * sizeof(ngx_str_t));
        hash = ngx_http_recsys_metrics_hash(n, values);

        s = ngx_http_recsys_metrics_find(sh, family, values, hash);
    }

    if (s == NULL) {
        s = ngx_http_recsys_metrics_create_locked(ctx, family, values, hash);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (s != NULL) {
        return s->value;
    }

    dropped = ngx_atomic_fetch_add(&sh->dropped, 1);

    if (dropped == 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "recsys_metrics_zone is full: \"%V\" and later new "
                      "series are dropped", &fam->name);
    }

    return NULL;
}


static ngx_http_recsys_metrics_series_t *
ngx_http_recsys_metrics_find(ngx_http_recsys_metrics_sh_t *sh,
    ngx_uint_t family, ngx_str_t *values, uint32_t hash)
{
    u_char                            *p;
    ngx_uint_t                         i, n, nvalues;
    ngx_http_recsys_metrics_family_t  *fam;
    ngx_http_recsys_metrics_series_t  *s;

    fam = &ngx_http_recsys_metrics_families[family];
    n = fam->nlabels;
    nvalues = ngx_http_recsys_metrics_nvalues(fam->type);

    for (s = sh->series[family]; s; s = s->next) {

        if (s->hash != hash) {
            continue;
        }

        p = (u_char *) &s->value[nvalues];

        for (i = 0; i < n; i++) {
            if (s->len[i] != values[i].len
                || ngx_memcmp(p, values[i].data, values[i].len) != 0)
            {
                break;
            }

            p += s->len[i];
        }

        if (i == n) {
            return s;
        }
    }

    return NULL;
}


static ngx_http_recsys_metrics_series_t *
ngx_http_recsys_metrics_create_locked(ngx_http_recsys_metrics_ctx_t *ctx,
    ngx_uint_t family, ngx_str_t *values, uint32_t hash)
{
    u_char                             *p;
    size_t                              size;
    ngx_uint_t                          i, n, nvalues;
    ngx_http_recsys_metrics_sh_t       *sh;
    ngx_http_recsys_metrics_family_t   *fam;
    ngx_http_recsys_metrics_series_t   *s, **last;

    sh = ctx->sh;
    fam = &ngx_http_recsys_metrics_families[family];
    n = fam->nlabels;
    nvalues = ngx_http_recsys_metrics_nvalues(fam->type);

    size = offsetof(ngx_http_recsys_metrics_series_t, value)
           + nvalues * sizeof(ngx_atomic_t);

    for (i = 0; i < n; i++) {
        size += values[i].len;
    }

    s = ngx_slab_calloc_locked(ctx->shpool, size);
    if (s == NULL) {
        return NULL;
    }

    s->hash = hash;
    p = (u_char *) &s->value[nvalues];

    for (i = 0; i < n; i++) {
        s->len[i] = (u_char) values[i].len;
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    /* in order of creation, which keeps the exposition stable */
    for (last = &sh->series[family]; *last; last = &(*last)->next) {
        /* void */
    }

    /* lock-free readers must see the series whole once it is linked */
    ngx_memory_barrier();

    *last = s;
    sh->nseries[family]++;

    return s;
}


static uint32_t
ngx_http_recsys_metrics_hash(ngx_uint_t n, ngx_str_t *values)
{
    u_char      len;
    uint32_t    crc;
    ngx_uint_t  i;

    ngx_crc32_init(crc);

    for (i = 0; i < n; i++) {
        /* the length too, so "a","bc" differs from "ab","c" */
        len = (u_char) values[i].len;
        ngx_crc32_update(&crc, &len, 1);
        ngx_crc32_update(&crc, values[i].data, values[i].len);
    }

    ngx_crc32_final(crc);

    return crc;
}


static ngx_uint_t
ngx_http_recsys_metrics_nvalues(ngx_uint_t type)
{
    if (type == NGX_HTTP_RECSYS_METRICS_HISTOGRAM) {
        /* the buckets, the values above them, the sum */
        return NGX_HTTP_RECSYS_METRICS_NBUCKETS + 2;
    }

    return 1;
}


static ngx_int_t
ngx_http_recsys_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_str_t                       name, help;
    ngx_http_recsys_metrics_ctx_t  *ctx;
    ngx_http_recsys_metrics_out_t   out;
    ngx_http_recsys_main_conf_t    *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);
    ctx = rmcf->metrics_zone->data;

    out.pool = r->pool;
    out.first = NULL;
    out.last = &out.first;
    out.buf = NULL;
    out.size = 0;

    for (i = 0; i < NGX_HTTP_RECSYS_METRIC_NFAMILIES; i++) {
        if (ngx_http_recsys_metrics_write_family(&out, ctx->sh, i) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_recsys_metrics_write_index(&out, rmcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&name, "recsys_metrics_dropped_total");
    ngx_str_set(&help, "Observations lost because recsys_metrics_zone "
                       "was full.");

    if (ngx_http_recsys_metrics_write_head(&out, &name,
                                           &ngx_http_recsys_metrics_types[0],
                                           &help)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_recsys_metrics_reserve(&out, name.len + NGX_ATOMIC_T_LEN + 2)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_recsys_metrics_commit(&out,
                                   ngx_sprintf(out.buf->last, "%V %uA\n",
                                               &name, ctx->sh->dropped));

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = out.size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    out.buf->last_buf = (r == r->main) ? 1 : 0;
    out.buf->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out.first);
}


static ngx_int_t
ngx_http_recsys_metrics_write_family(ngx_http_recsys_metrics_out_t *out,
    ngx_http_recsys_metrics_sh_t *sh, ngx_uint_t family)
{
    ngx_str_t                         *type;
    ngx_http_recsys_metrics_family_t  *fam;
    ngx_http_recsys_metrics_series_t  *s;

    fam = &ngx_http_recsys_metrics_families[family];
    type = &ngx_http_recsys_metrics_types[fam->type];

    if (ngx_http_recsys_metrics_write_head(out, &fam->name, type, &fam->help)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a family nothing fed yet is its HELP and TYPE lines alone */

    for (s = sh->series[family]; s; s = s->next) {
        if (ngx_http_recsys_metrics_write_series(out, fam, s) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_metrics_write_series(ngx_http_recsys_metrics_out_t *out,
    ngx_http_recsys_metrics_family_t *fam, ngx_http_recsys_metrics_series_t *s)
{
    u_char             *p, *v, *last;
    u_char              lbl[NGX_HTTP_RECSYS_METRICS_NLABELS
                            * (32 + 2 * NGX_HTTP_RECSYS_METRICS_MAX_VALUE
                               + 4)];
    size_t              len;
    uint64_t            sum;
    ngx_str_t           le;
    ngx_uint_t          i, nvalues;
    ngx_atomic_uint_t   n, count[NGX_HTTP_RECSYS_METRICS_NBUCKETS + 1];

    nvalues = ngx_http_recsys_metrics_nvalues(fam->type);

    /* the label pairs, without braces, for every line of the series */

    last = lbl;
    v = (u_char *) &s->value[nvalues];

    for (i = 0; i < fam->nlabels; i++) {
        if (i > 0) {
            *last++ = ',';
        }

        last = ngx_http_recsys_metrics_label(last, &fam->labels[i], v,
                                             s->len[i]);
        v += s->len[i];
    }

    len = fam->name.len + (last - lbl)
          + sizeof("_bucket{,le=\"\"} \n") + 2 * NGX_ATOMIC_T_LEN + 2;

    if (fam->type != NGX_HTTP_RECSYS_METRICS_HISTOGRAM) {
        p = ngx_http_recsys_metrics_reserve(out, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, fam->name.data, fam->name.len);

        if (last != lbl) {
            p = ngx_sprintf(p, "{%*s}", (size_t) (last - lbl), lbl);
        }

        if (fam->type == NGX_HTTP_RECSYS_METRICS_GAUGE) {
            p = ngx_sprintf(p, " %A\n", (ngx_atomic_int_t) s->value[0]);

        } else {
            p = ngx_sprintf(p, " %uA\n", s->value[0]);
        }

        ngx_http_recsys_metrics_commit(out, p);

        return NGX_OK;
    }

    /*
     * One read of every bucket: the cumulative counts, "+Inf" and _count
     * agree with each other even while workers keep counting.
     */

    for (i = 0; i <= NGX_HTTP_RECSYS_METRICS_NBUCKETS; i++) {
        count[i] = s->value[i];
    }

    sum = s->value[NGX_HTTP_RECSYS_METRICS_NBUCKETS + 1];
    n = 0;

    for (i = 0; i <= NGX_HTTP_RECSYS_METRICS_NBUCKETS; i++) {
        p = ngx_http_recsys_metrics_reserve(out, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        n += count[i];

        p = ngx_cpymem(p, fam->name.data, fam->name.len);
        p = ngx_sprintf(p, "_bucket{%*s", (size_t) (last - lbl), lbl);

        if (last != lbl) {
            *p++ = ',';
        }

        if (i < NGX_HTTP_RECSYS_METRICS_NBUCKETS) {
            p = ngx_cpymem(p, "le=\"", 4);
            p = ngx_http_recsys_metrics_seconds(p,
                                           ngx_http_recsys_metrics_buckets[i]);
            *p++ = '"';

        } else {
            ngx_str_set(&le, "le=\"+Inf\"");
            p = ngx_cpymem(p, le.data, le.len);
        }

        p = ngx_sprintf(p, "} %uA\n", n);

        ngx_http_recsys_metrics_commit(out, p);
    }

    p = ngx_http_recsys_metrics_reserve(out, 2 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, fam->name.data, fam->name.len);
    p = ngx_cpymem(p, "_sum", 4);

    if (last != lbl) {
        p = ngx_sprintf(p, "{%*s}", (size_t) (last - lbl), lbl);
    }

    *p++ = ' ';
    p = ngx_http_recsys_metrics_seconds(p, sum);
    *p++ = '\n';

    p = ngx_cpymem(p, fam->name.data, fam->name.len);
    p = ngx_cpymem(p, "_count", 6);

    if (last != lbl) {
        p = ngx_sprintf(p, "{%*s}", (size_t) (last - lbl), lbl);
    }

    p = ngx_sprintf(p, " %uA\n", n);

    ngx_http_recsys_metrics_commit(out, p);

    return NGX_OK;
}


/*
 * Read from this worker's configuration, not the zone: every worker of a
 * configuration serves the same indexes, and a reload replaces them.
 */

static ngx_int_t
ngx_http_recsys_metrics_write_index(ngx_http_recsys_metrics_out_t *out,
    ngx_http_recsys_main_conf_t *rmcf)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                  name, help, label, version;
    ngx_uint_t                 i;
    ngx_http_recsys_index_t  **indexes;

    ngx_str_set(&name, "recsys_index_items");
    ngx_str_set(&help, "Items in each loaded recsys_index, by directory "
                       "and index version.");

    if (ngx_http_recsys_metrics_write_head(out, &name,
                                           &ngx_http_recsys_metrics_types[1],
                                           &help)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    indexes = rmcf->indexes.elts;

    for (i = 0; i < rmcf->indexes.nelts; i++) {

        if (indexes[i]->engine == NULL) {
            continue;
        }

        version.data = (u_char *) rs_engine_version(indexes[i]->engine);
        version.len = ngx_strlen(version.data);

        /* escaping doubles a value at most */
        len = name.len + sizeof("{index=\"\",version=\"\"} \n")
              + 2 * (indexes[i]->path.len + version.len) + NGX_INT_T_LEN;

        p = ngx_http_recsys_metrics_reserve(out, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, name.data, name.len);
        *p++ = '{';

        ngx_str_set(&label, "index");
        p = ngx_http_recsys_metrics_label(p, &label, indexes[i]->path.data,
                                          indexes[i]->path.len);
        *p++ = ',';

        ngx_str_set(&label, "version");
        p = ngx_http_recsys_metrics_label(p, &label, version.data,
                                          version.len);

        p = ngx_sprintf(p, "} %uD\n",
                        rs_engine_store(indexes[i]->engine)->count);

        ngx_http_recsys_metrics_commit(out, p);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_metrics_write_head(ngx_http_recsys_metrics_out_t *out,
    ngx_str_t *name, ngx_str_t *type, ngx_str_t *help)
{
    u_char  *p;

    p = ngx_http_recsys_metrics_reserve(out, 2 * name->len + type->len
                                             + help->len
                                             + sizeof("# HELP  \n# TYPE  \n"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n", name, help, name, type);

    ngx_http_recsys_metrics_commit(out, p);

    return NGX_OK;
}


/* room for len bytes at out->buf->last, in a new buffer if need be */

static u_char *
ngx_http_recsys_metrics_reserve(ngx_http_recsys_metrics_out_t *out,
    size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->buf != NULL && (size_t) (out->buf->end - out->buf->last) >= len) {
        return out->buf->last;
    }

    b = ngx_create_temp_buf(out->pool,
                            ngx_max(len, NGX_HTTP_RECSYS_METRICS_BUF_SIZE));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->last = cl;
    out->last = &cl->next;
    out->buf = b;

    return b->last;
}


static void
ngx_http_recsys_metrics_commit(ngx_http_recsys_metrics_out_t *out, u_char *p)
{
    out->size += p - out->buf->last;
    out->buf->last = p;
}


/* name="value", with the value escaped as the text format wants */

static u_char *
ngx_http_recsys_metrics_label(u_char *p, ngx_str_t *name, u_char *value,
    size_t len)
{
    u_char  *end;

    p = ngx_cpymem(p, name->data, name->len);
    *p++ = '=';
    *p++ = '"';

    for (end = value + len; value < end; value++) {
        switch (*value) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *value;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *value;
        }
    }

    *p++ = '"';

    return p;
}


/* nanoseconds as seconds, exactly and without trailing zeros: 0.00005 */

static u_char *
ngx_http_recsys_metrics_seconds(u_char *p, uint64_t ns)
{
    p = ngx_sprintf(p, "%uL", ns / 1000000000);

    if (ns % 1000000000 == 0) {
        return p;
    }

    p = ngx_sprintf(p, ".%09uL", ns % 1000000000);

    while (p[-1] == '0') {
        p--;
    }

    return p;
}
