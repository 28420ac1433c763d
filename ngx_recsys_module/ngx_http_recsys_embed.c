
/*
 * Copyright (C) ngx_recsys authors
 *
 * The query's vector from the embedding model an index was built with,
 * for the prepare phase: the vector cache first (shared memory, then
 * Redis), else a subrequest to recsys_embed_location, waited for at most
 * recsys_embed_timeout.  Requests of a worker that need the same text
 * share one call.  Whatever goes wrong (a failed or slow call, a reply
 * that is not a vector of the index's dimension, an endpoint whose
 * circuit is open), the request goes on without the vector and the
 * engine searches the index's lexical companion instead.
 *
 * The text sent, and the cache key, is the query redacted and normalised
 * by rs_openai_query_text(), so "Running  Shoes" and "running shoes"
 * cost one call.  A vector is cached as dim native floats for
 * recsys_embed_cache_ttl, a failure for NGX_HTTP_RECSYS_EMBED_NEGATIVE_TTL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_recsys_module.h"
#include "rs_openai.h"


/* after this many failed calls in a row a worker stops calling a while */
#define NGX_HTTP_RECSYS_EMBED_MAX_FAILS     5
#define NGX_HTTP_RECSYS_EMBED_FAIL_TIMEOUT  10000   /* ms */
#define NGX_HTTP_RECSYS_EMBED_NEGATIVE_TTL  10      /* s */

/* the longest vector a reply is read into, to tell a wrong dimension */
#define NGX_HTTP_RECSYS_EMBED_MAX_DIM       16384

/* a query answered without its model vector, by reason */
#define ngx_http_recsys_embed_error(reason)                                  \
    ngx_http_recsys_metrics_count_label(NGX_HTTP_RECSYS_METRIC_EMBED_ERRORS,  \
                                        reason)


/* one call in flight, in the pool of the request that started it */
typedef struct {
    ngx_http_recsys_call_t              call;       /* first */
    ngx_http_recsys_embed_endpoint_t   *endpoint;
    ngx_str_t                           cache_key;
    uint32_t                            dim;
    unsigned                            late:1;     /* a waiter gave up */
} ngx_http_recsys_embed_call_t;


/* a request that needs its query's vector, in its own pool */
struct ngx_http_recsys_embed_wait_s {
    ngx_http_recsys_call_wait_t         wait;       /* first */
    const char                         *model;
    ngx_str_t                           text;
    ngx_str_t                           cache_key;
    uint32_t                            dim;
};


static ngx_int_t ngx_http_recsys_embed_use(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_str_t *value);
static void ngx_http_recsys_embed_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t state, ngx_str_t *value);
static ngx_int_t ngx_http_recsys_embed_miss(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_embed_closed(
    ngx_http_recsys_embed_endpoint_t *ep);
static ngx_http_recsys_embed_call_t *ngx_http_recsys_embed_start(
    ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx);
static void ngx_http_recsys_embed_reply(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body);
static void ngx_http_recsys_embed_failed(ngx_http_request_t *r,
    ngx_http_recsys_embed_call_t *call, const char *reason,
    const char *detail);
static void ngx_http_recsys_embed_finish(ngx_http_recsys_embed_call_t *call,
    float *vec, const char *reason);
static void ngx_http_recsys_embed_expired(ngx_http_request_t *r);
static void ngx_http_recsys_embed_circuit(ngx_http_recsys_embed_endpoint_t *ep,
    ngx_log_t *log, ngx_uint_t failed);


/* recsys_embed_location uri | off; */

char *
ngx_http_recsys_embed_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_str_t                         *value;
    ngx_http_recsys_embed_endpoint_t  *ep;

    if (rlcf->embed.endpoint != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        rlcf->embed.endpoint = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it "
                           "must be a URI of this server or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    ep = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_embed_endpoint_t));
    if (ep == NULL) {
        return NGX_CONF_ERROR;
    }

    ep->uri = value[1];
    rlcf->embed.endpoint = ep;

    return NGX_CONF_OK;
}


void
ngx_http_recsys_embed_create_conf(ngx_http_recsys_embed_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->authorization = { 0, NULL };
     *     conf->model = { 0, NULL };
     */

    conf->endpoint = NGX_CONF_UNSET_PTR;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->max_response = NGX_CONF_UNSET_SIZE;
    conf->cache_ttl = NGX_CONF_UNSET;
}


/*
 * Only an index of a model has queries to embed.  Without an endpoint it
 * is still served, through its lexical companion, which nginx -t says.
 */

ngx_int_t
ngx_http_recsys_embed_merge(ngx_conf_t *cf, ngx_http_recsys_loc_conf_t *conf,
    ngx_http_recsys_loc_conf_t *prev)
{
    ngx_http_recsys_embed_conf_t  *c, *p;
    const rs_engine_model_t       *md;

    c = &conf->embed;
    p = &prev->embed;

    ngx_conf_merge_ptr_value(c->endpoint, p->endpoint, NULL);
    ngx_conf_merge_str_value(c->authorization, p->authorization, "");
    ngx_conf_merge_str_value(c->model, p->model, "");
    ngx_conf_merge_msec_value(c->timeout, p->timeout, 300);
    ngx_conf_merge_size_value(c->max_response, p->max_response, 256 * 1024);
    ngx_conf_merge_sec_value(c->cache_ttl, p->cache_ttl, 3600);

    if (!conf->enable || conf->index == NULL) {
        return NGX_OK;
    }

    md = rs_engine_model(conf->index->engine);

    if (md->type != RS_EMBEDDER_OPENAI) {
        if (c->endpoint == NULL) {
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_embed_location\" is set for index "
                           "\"%V\", which the built-in embedder embedded: "
                           "its queries need no model; remove the "
                           "directive, or set \"recsys_embed_location "
                           "off\" in this location", &conf->index->path);
        return NGX_ERROR;
    }

    if (c->endpoint == NULL) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "index \"%V\" is embedded by model \"%s\" but "
                           "this location has no \"recsys_embed_location\": "
                           "it answers queries through the lexical "
                           "companion only", &conf->index->path, md->model);
    }

    return NGX_OK;
}


void
ngx_http_recsys_embed_model(ngx_http_request_t *r, ngx_str_t *model)
{
    const rs_engine_model_t     *md;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (rlcf->embed.endpoint == NULL) {
        ngx_str_null(model);
        return;
    }

    if (rlcf->embed.model.len) {
        *model = rlcf->embed.model;
        return;
    }

    md = rs_engine_model(rlcf->index->engine);
    model->data = (u_char *) md->model;
    model->len = ngx_strlen(md->model);
}


/*
 * For a query with text on an index of a model, unless the request came
 * with a vector or an answer from the cache.  NGX_OK with the vector in
 * ctx->req, or with lookups counted in ctx->pending, or with neither: the
 * engine falls back to the lexical companion.
 */

ngx_int_t
ngx_http_recsys_embed_query(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    u_char                        *p;
    size_t                         n;
    ngx_int_t                      rc;
    ngx_str_t                      value, model, parts[2];
    ngx_http_recsys_embed_wait_t  *w;
    ngx_http_recsys_loc_conf_t    *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (rlcf->embed.endpoint == NULL || ctx->req.text_len == 0
        || ctx->req.vector != NULL || ctx->cached || ctx->embed != NULL)
    {
        return NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_embed_wait_t));
    n = RS_OPENAI_QUERY_SIZE(ctx->req.text_len);
    p = ngx_pnalloc(r->pool, n);

    if (w == NULL || p == NULL) {
        return NGX_ERROR;
    }

    if (rs_openai_query_text(ctx->req.text, ctx->req.text_len, (char *) p,
                             &n)
        != 0)
    {
        return NGX_ERROR;
    }

    if (n == 0) {
        return NGX_OK;
    }

    ngx_http_recsys_embed_model(r, &model);

    ctx->embed = w;
    w->wait.r = r;
    w->model = (const char *) model.data;
    w->text.data = p;
    w->text.len = n;
    w->dim = rs_engine_model(rlcf->index->engine)->dim;

    parts[0] = model;
    parts[1] = w->text;

    if (ngx_http_recsys_cache_key(r, "embed", NULL, parts, 2, &w->cache_key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_recsys_cache_get(r, &w->cache_key, &value);

    switch (rc) {

    case NGX_ERROR:
        return NGX_ERROR;

    case NGX_HTTP_RECSYS_CACHE_NEGATIVE:
        ngx_http_recsys_embed_error("remembered");
        return NGX_OK;

    case NGX_HTTP_RECSYS_CACHE_MISS:
        break;

    default:
        /* a vector stays right when stale: the text and model are its key */
        if (ngx_http_recsys_embed_use(r, ctx, &value) == NGX_OK) {
            return NGX_OK;
        }
    }

    rc = ngx_http_recsys_cache_fetch(r, &w->cache_key,
                                     ngx_http_recsys_embed_fetched, w);

    if (rc == NGX_OK) {
        ctx->pending++;
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_recsys_embed_miss(r, ctx);
}


/* a cached vector, checked again since Redis is shared */

static ngx_int_t
ngx_http_recsys_embed_use(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    ngx_str_t *value)
{
    float                         *vec;
    uint32_t                       i;
    ngx_http_recsys_embed_wait_t  *w;

    w = ctx->embed;

    if (value->len != w->dim * sizeof(float)) {
        ngx_log_error(NGX_LOG_INFO, ngx_http_recsys_private_log(r), 0,
                      "recsys: a cached query vector has %uz bytes, not "
                      "%uz: calling the model", value->len,
                      (size_t) w->dim * sizeof(float));
        return NGX_DECLINED;
    }

    /* the value is in the pool unaligned */
    vec = ngx_palloc(r->pool, value->len);
    if (vec == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(vec, value->data, value->len);

    for (i = 0; i < w->dim; i++) {
        if (!isfinite(vec[i])) {
            ngx_log_error(NGX_LOG_INFO, ngx_http_recsys_private_log(r), 0,
                          "recsys: a cached query vector is not numeric: "
                          "calling the model");
            return NGX_DECLINED;
        }
    }

    ctx->req.vector = vec;
    ctx->req.vector_dim = w->dim;
    ctx->embed_cached = 1;

    return NGX_OK;
}


static void
ngx_http_recsys_embed_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t state, ngx_str_t *value)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (rc != NGX_OK) {
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;
        state = NGX_HTTP_RECSYS_CACHE_MISS;
    }

    switch (state) {

    case NGX_HTTP_RECSYS_CACHE_NEGATIVE:
        ngx_http_recsys_embed_error("remembered");
        break;

    case NGX_HTTP_RECSYS_CACHE_MISS:
        (void) ngx_http_recsys_embed_miss(r, ctx);
        break;

    default:
        if (ngx_http_recsys_embed_use(r, ctx, value) != NGX_OK) {
            (void) ngx_http_recsys_embed_miss(r, ctx);
        }
    }

    ngx_http_recsys_wake(r, 1);
}


/* no vector cached: join the worker's call for this text, or make one */

static ngx_int_t
ngx_http_recsys_embed_miss(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    ngx_http_recsys_embed_call_t  *call;
    ngx_http_recsys_embed_wait_t  *w;
    ngx_http_recsys_loc_conf_t    *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    w = ctx->embed;

    call = (ngx_http_recsys_embed_call_t *)
               ngx_http_recsys_call_find(r, &w->cache_key);

    if (call == NULL) {
        if (ngx_http_recsys_embed_closed(rlcf->embed.endpoint) != NGX_OK) {
            ngx_http_recsys_embed_error("circuit_open");
            return NGX_OK;
        }

        call = ngx_http_recsys_embed_start(r, ctx);

        if (call == NULL) {
            ngx_log_error(NGX_LOG_WARN, ngx_http_recsys_private_log(r), 0,
                          "recsys: cannot start the query embedding call "
                          "to \"%V\"", &rlcf->embed.endpoint->uri);
            ngx_http_recsys_embed_error("not_started");
            return NGX_OK;
        }
    }

    if (ngx_http_recsys_call_join(&call->call, &w->wait) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_recsys_wait_until(r, rlcf->embed.timeout,
                               ngx_http_recsys_embed_expired);

    return NGX_OK;
}


/*
 * NGX_OK: call.  Once open, the circuit lets one call through per
 * NGX_HTTP_RECSYS_EMBED_FAIL_TIMEOUT; its outcome closes or reopens it.
 */

static ngx_int_t
ngx_http_recsys_embed_closed(ngx_http_recsys_embed_endpoint_t *ep)
{
    if (ep->fails < NGX_HTTP_RECSYS_EMBED_MAX_FAILS) {
        return NGX_OK;
    }

    if ((ngx_msec_int_t) (ep->retry_at - ngx_current_msec) > 0) {
        return NGX_DECLINED;
    }

    ep->retry_at = ngx_current_msec + NGX_HTTP_RECSYS_EMBED_FAIL_TIMEOUT;

    return NGX_OK;
}


static ngx_http_recsys_embed_call_t *
ngx_http_recsys_embed_start(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    size_t                          len;
    ngx_str_t                       body;
    const char                     *text;
    ngx_http_recsys_embed_call_t   *call;
    ngx_http_recsys_embed_wait_t   *w;
    ngx_http_recsys_loc_conf_t     *rlcf;
    ngx_http_recsys_body_writer_t   wr;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    w = ctx->embed;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_embed_call_t));
    if (call == NULL) {
        return NULL;
    }

    ngx_http_recsys_body_writer_init(&wr, r->pool);

    text = (const char *) w->text.data;
    len = w->text.len;

    if (rs_openai_request_json(w->model, &text, &len, 1,
                               ngx_http_recsys_body_write, &wr)
        != 0
        || ngx_http_recsys_body_join(&wr, &body) != NGX_OK)
    {
        return NULL;
    }

    call->endpoint = rlcf->embed.endpoint;
    call->cache_key = w->cache_key;
    call->dim = w->dim;

    if (ngx_http_recsys_call_start(r, &call->call, &w->cache_key,
                                   &rlcf->embed.endpoint->uri, &body,
                                   &rlcf->embed.authorization,
                                   rlcf->embed.max_response,
                                   ngx_http_recsys_embed_reply)
        != NGX_OK)
    {
        return NULL;
    }

    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_EMBED_CALLS, NULL,
                                  1);

    return call;
}


/* r is the request that started the call */

static void
ngx_http_recsys_embed_reply(ngx_http_request_t *r, void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body)
{
    ngx_http_recsys_embed_call_t *call = data;

    char                         err[128];
    float                       *vec;
    size_t                       which;
    uint32_t                     dim;
    ngx_str_t                    value;
    const char                  *failure;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    ngx_http_recsys_metrics_observe(NGX_HTTP_RECSYS_METRIC_EMBED_SECONDS,
                                    NULL,
                                    (ngx_current_msec - call->call.started)
                                    / 1000.0);

    failure = ngx_http_recsys_fetch_failure(rc, status);

    if (failure != NULL) {
        ngx_snprintf((u_char *) err, sizeof(err) - 1, "status %ui%Z", status);
        ngx_http_recsys_embed_failed(r, call, failure, err);
        return;
    }

    vec = ngx_palloc(r->pool,
                     ngx_max(call->dim, NGX_HTTP_RECSYS_EMBED_MAX_DIM)
                     * sizeof(float));
    if (vec == NULL) {
        ngx_http_recsys_embed_failed(r, call, "no_memory", NULL);
        return;
    }

    if (rs_openai_parse_reply((const char *) body->data, body->len, 1,
                              ngx_max(call->dim,
                                      NGX_HTTP_RECSYS_EMBED_MAX_DIM),
                              vec, &dim, &which, err, sizeof(err))
        != 0)
    {
        ngx_http_recsys_embed_failed(r, call, "bad_reply", err);
        return;
    }

    if (dim != call->dim) {
        ngx_snprintf((u_char *) err, sizeof(err) - 1,
                     "the vector has %uD dimensions, the index %uD%Z", dim,
                     call->dim);
        ngx_http_recsys_embed_failed(r, call, "wrong_dimension", err);
        return;
    }

    ngx_http_recsys_embed_circuit(call->endpoint, r->connection->log, 0);

    value.data = (u_char *) vec;
    value.len = call->dim * sizeof(float);

    ngx_http_recsys_cache_put(r, &call->cache_key, &value,
                              rlcf->embed.cache_ttl, 0);
    ngx_http_recsys_embed_finish(call, vec, NULL);
}


static void
ngx_http_recsys_embed_failed(ngx_http_request_t *r,
    ngx_http_recsys_embed_call_t *call, const char *reason,
    const char *detail)
{
    /* the query is not logged: the reply's own words may be */
    ngx_log_error(NGX_LOG_WARN, ngx_http_recsys_private_log(r), 0,
                  "recsys: query embedding failed: %s%s%s", reason,
                  detail ? ": " : "", detail ? detail : "");

    /* a call a waiter already gave up on counted then */
    if (!call->late) {
        ngx_http_recsys_embed_circuit(call->endpoint, r->connection->log, 1);
    }

    ngx_http_recsys_cache_put(r, &call->cache_key, NULL,
                              NGX_HTTP_RECSYS_EMBED_NEGATIVE_TTL, 1);
    ngx_http_recsys_embed_finish(call, NULL, reason);
}


/* the vector (NULL: none, for reason) to every request waiting for it */

static void
ngx_http_recsys_embed_finish(ngx_http_recsys_embed_call_t *call, float *vec,
    const char *reason)
{
    float                        *copy;
    ngx_http_recsys_ctx_t        *ctx;
    ngx_http_recsys_call_wait_t  *w;

    ngx_http_recsys_call_end(&call->call);

    while ((w = ngx_http_recsys_call_next(&call->call)) != NULL) {
        ctx = ngx_http_get_module_ctx(w->r, ngx_http_recsys_module);

        /* the call's pool may go before this request ranks */
        copy = NULL;

        if (vec != NULL) {
            copy = ngx_palloc(w->r->pool, call->dim * sizeof(float));
        }

        if (copy != NULL) {
            ngx_memcpy(copy, vec, call->dim * sizeof(float));
            ctx->req.vector = copy;
            ctx->req.vector_dim = call->dim;

        } else {
            ngx_http_recsys_embed_error(reason ? reason : "no_memory");
        }

        /* each waiter goes on in its own event, not inside this one */
        ngx_post_event(&w->done, &ngx_posted_events);
    }
}


/*
 * recsys_embed_timeout passed: the lexical companion now; the call goes
 * on and fills the cache.  Lookups of Redis in the same phase are left
 * to their own timeout.
 */

static void
ngx_http_recsys_embed_expired(ngx_http_request_t *r)
{
    ngx_http_recsys_ctx_t         *ctx;
    ngx_http_recsys_embed_call_t  *call;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);
    call = (ngx_http_recsys_embed_call_t *) ctx->embed->wait.call;

    /* NGX_OK: the vector arrived in this very event loop turn */
    if (ngx_http_recsys_call_leave(&ctx->embed->wait) != NGX_DECLINED) {
        return;
    }

    ngx_http_recsys_embed_error("timeout");

    if (call != NULL && !call->late) {
        call->late = 1;
        ngx_http_recsys_embed_circuit(call->endpoint, r->connection->log, 1);
    }
}


/* a call's outcome, for the worker's circuit of its endpoint */

static void
ngx_http_recsys_embed_circuit(ngx_http_recsys_embed_endpoint_t *ep,
    ngx_log_t *log, ngx_uint_t failed)
{
    if (!failed) {
        if (ep->fails >= NGX_HTTP_RECSYS_EMBED_MAX_FAILS) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "recsys: embedding endpoint \"%V\" answers "
                          "again", &ep->uri);
        }

        ep->fails = 0;
        return;
    }

    ep->fails++;

    if (ep->fails < NGX_HTTP_RECSYS_EMBED_MAX_FAILS) {
        return;
    }

    ep->retry_at = ngx_current_msec + NGX_HTTP_RECSYS_EMBED_FAIL_TIMEOUT;

    if (ep->fails == NGX_HTTP_RECSYS_EMBED_MAX_FAILS) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "recsys: embedding endpoint \"%V\": %ui calls failed "
                      "in a row, queries are answered lexically for %ui ms "
                      "between tries", &ep->uri, ep->fails,
                      (ngx_uint_t) NGX_HTTP_RECSYS_EMBED_FAIL_TIMEOUT);
    }
}
