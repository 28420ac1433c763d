
/*
 * Copyright (C) ngx_recsys authors
 *
 * The "recsys" content handler: request arguments in, ranked items out.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>
#include <time.h>

#include "ngx_http_recsys_module.h"
#include "rs_pack.h"


static ngx_int_t ngx_http_recsys_step(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_prepare(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static void ngx_http_recsys_history_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc, uint32_t *recent, size_t nrecent, uint32_t *purchased,
    size_t npurchased);
static ngx_int_t ngx_http_recsys_result_key(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_result_lookup(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static void ngx_http_recsys_result_fetched(ngx_http_request_t *r,
    void *data, ngx_int_t rc, ngx_uint_t state, ngx_str_t *value);
static ngx_int_t ngx_http_recsys_result_use(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_str_t *value);
static void ngx_http_recsys_result_store(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_rank(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_answer(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static void ngx_http_recsys_end_of_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_degraded_header(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_deadline_cleanup(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
static void ngx_http_recsys_deadline_cancel(void *data);
static void ngx_http_recsys_deadline(ngx_event_t *ev);
static void ngx_http_recsys_resume(ngx_http_request_t *r);
static void *ngx_http_recsys_palloc(void *data, size_t size);
static double ngx_http_recsys_now_ms(void);
static ngx_int_t ngx_http_recsys_arg(ngx_http_request_t *r, const char *name,
    ngx_http_complex_value_t *cv, ngx_str_t *value);
static ngx_int_t ngx_http_recsys_text_arg(ngx_http_request_t *r,
    const char *name, ngx_http_complex_value_t *cv, size_t max,
    ngx_str_t *value, ngx_http_recsys_error_t *err);
static ngx_int_t ngx_http_recsys_flag_arg(ngx_http_request_t *r,
    const char *name, ngx_flag_t *flag, ngx_http_recsys_error_t *err);
static ngx_int_t ngx_http_recsys_price_arg(ngx_http_request_t *r,
    const char *name, double *price, ngx_flag_t *set,
    ngx_http_recsys_error_t *err);
static ngx_int_t ngx_http_recsys_ids_arg(ngx_http_request_t *r,
    const char *name, ngx_http_complex_value_t *cv, const rs_store_t *st,
    ngx_flag_t strict, const uint32_t **ids, size_t *n,
    ngx_http_recsys_error_t *err);
static ngx_int_t ngx_http_recsys_set_items(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, const rs_engine_t *engine,
    const rs_result_t *result);
static void ngx_http_recsys_trim(ngx_str_t *s);


ngx_int_t
ngx_http_recsys_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   format;
    rs_request_t                *req;
    ngx_http_recsys_ctx_t       *ctx;
    ngx_http_recsys_error_t      err;
    ngx_http_recsys_loc_conf_t  *rlcf;

    /* every answer, a 400 too, leaves its traces for variables and metrics */
    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_recsys_module);
    ctx->start_ms = ngx_http_recsys_now_ms();
    err.code = NULL;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        err.code = "method_not_allowed";
        ngx_sprintf(err.message, "only GET and HEAD are allowed%Z");
        rc = ngx_http_recsys_send_error(r, NGX_HTTP_NOT_ALLOWED, "GET, HEAD",
                                        err.code,
                                        (const char *) err.message);
        ctx->took_ms = ngx_http_recsys_now_ms() - ctx->start_ms;
        return rc;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    req = &ctx->req;
    req->k = (uint32_t) rlcf->k;
    req->candidates = (uint32_t) rlcf->candidates;
    req->now = (double) ngx_time();
    req->understand = rlcf->understand ? 1 : 0;
    req->alloc = ngx_http_recsys_palloc;
    req->alloc_data = r->pool;
    req->profile = ngx_http_recsys_find_profile(r, rlcf);
    req->overlay_data = ngx_http_recsys_overlay_data(r, rlcf->index);

    if (req->overlay_data != NULL) {
        req->overlay = ngx_http_recsys_overlay_view;
    }

    rc = ngx_http_recsys_negotiate(r, rlcf, &format, &err);

    if (rc == NGX_OK) {
        ctx->format = format;
        rc = ngx_http_recsys_parse_args(r, rlcf, req, &ctx->query,
                                        &ctx->user, &ctx->explain, &err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys: bad request: %s", err.message);
        rc = ngx_http_recsys_send_error(r, NGX_HTTP_BAD_REQUEST, NULL,
                                        err.code,
                                        (const char *) err.message);
        ctx->took_ms = ngx_http_recsys_now_ms() - ctx->start_ms;
        return rc;
    }

    ctx->us_parse = (ngx_http_recsys_now_ms() - ctx->start_ms) * 1000;
    ctx->phase = NGX_HTTP_RECSYS_PHASE_PREPARE;

    if (ngx_http_recsys_prepare(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_recsys_step(r, ctx);
}


/*
 * Starts what ranking needs from Redis and the embedding model: each
 * lookup counts in pending.  The query's vector is looked for once the
 * result cache has missed: an answer from the cache needs none.
 */

static ngx_int_t
ngx_http_recsys_prepare(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    ctx->req.popularity = ngx_http_recsys_popularity(r, rlcf->index);

    /* a rerank picks from more candidates than the answer shows */
    ctx->want_k = ctx->req.k;

    if (rlcf->llm.rerank && rlcf->llm.mode == NGX_HTTP_RECSYS_NARRATIVE_SYNC
        && ctx->req.k < RS_LLM_RERANK_MAX)
    {
        ctx->req.k = RS_LLM_RERANK_MAX;
    }

    if (rlcf->personalize && ctx->user.len) {
        rc = ngx_http_recsys_history_fetch(r, &ctx->user,
                                           ngx_http_recsys_history_done,
                                           NULL);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            ctx->pending++;

        } else {
            /* Redis is skipped (its circuit is open): no history today */
            ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;
        }
    }

    if (!rlcf->cache) {
        return ngx_http_recsys_embed_query(r, ctx);
    }

    /*
     * An explained answer carries every signal, a shopper's answer is
     * theirs alone: both are always ranked afresh.
     */
    if (ctx->explain || (rlcf->personalize && ctx->user.len)) {
        ngx_str_set(&ctx->cache_status, "BYPASS");
        return ngx_http_recsys_embed_query(r, ctx);
    }

    rc = ngx_http_recsys_result_lookup(r, ctx);

    if (rc == NGX_AGAIN) {
        /* Redis has the result or not: the vector waits for its word */
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_recsys_embed_query(r, ctx);
}


static void
ngx_http_recsys_history_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc, uint32_t *recent, size_t nrecent, uint32_t *purchased,
    size_t npurchased)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (rc == NGX_OK) {
        ngx_http_recsys_history_set(r, &ctx->req, recent, nrecent, purchased,
                                    npurchased);

    } else {
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;
    }

    ngx_http_recsys_wake(r, 1);
}


/*
 * A cached result: shared memory first, then Redis (NGX_AGAIN: asked).
 * A stale entry is ranked afresh by the one request that got STALE while
 * the others serve it (UPDATING); ranking costs about a millisecond, so a
 * miss in both tiers is no reason to wait any longer.
 */

static ngx_int_t
ngx_http_recsys_result_lookup(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                     value;
    ngx_http_recsys_main_conf_t  *rmcf;

    if (ngx_http_recsys_result_key(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_recsys_cache_get(r, &ctx->cache_key, &value);

    switch (rc) {

    case NGX_ERROR:
        return NGX_ERROR;

    case NGX_HTTP_RECSYS_CACHE_HIT:
    case NGX_HTTP_RECSYS_CACHE_UPDATING:
        if (ngx_http_recsys_result_use(r, ctx, &value) == NGX_OK) {
            if (rc == NGX_HTTP_RECSYS_CACHE_HIT) {
                ngx_str_set(&ctx->cache_status, "HIT");

            } else {
                ngx_str_set(&ctx->cache_status, "UPDATING");
            }

            return NGX_OK;
        }

        ngx_str_set(&ctx->cache_status, "MISS");
        return NGX_OK;

    case NGX_HTTP_RECSYS_CACHE_STALE:
        ngx_str_set(&ctx->cache_status, "EXPIRED");
        return NGX_OK;
    }

    ngx_str_set(&ctx->cache_status, "MISS");

    rc = ngx_http_recsys_cache_fetch(r, &ctx->cache_key,
                                     ngx_http_recsys_result_fetched, NULL);

    if (rc == NGX_OK) {
        ctx->pending++;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->redis != NULL) {
        /* Redis is configured but skipped: its circuit is open */
        ngx_str_set(&ctx->cache_status, "DEGRADED");
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;
    }

    return NGX_OK;
}


static void
ngx_http_recsys_result_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t state, ngx_str_t *value)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (rc != NGX_OK) {
        ngx_str_set(&ctx->cache_status, "DEGRADED");
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;

    } else if (state != NGX_HTTP_RECSYS_CACHE_MISS
               && state != NGX_HTTP_RECSYS_CACHE_NEGATIVE
               && ngx_http_recsys_result_use(r, ctx, value) == NGX_OK)
    {
        ngx_str_set(&ctx->cache_status, "HIT");
    }

    /* out of memory, the query goes lexical: nothing else to fail here */
    (void) ngx_http_recsys_embed_query(r, ctx);

    ngx_http_recsys_wake(r, 1);
}


static ngx_int_t
ngx_http_recsys_result_use(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    ngx_str_t *value)
{
    const rs_profile_t          *profile;
    const rs_store_t            *st;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    st = rs_engine_store(rlcf->index->engine);
    profile = ctx->req.profile;

    if (profile == NULL) {
        profile = rs_engine_default_profile(rlcf->index->engine);
    }

    if (rs_result_unpack(value->data, value->len, profile, st->count,
                         &ctx->result, ngx_http_recsys_palloc, r->pool)
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys: a cached result does not unpack, ranking "
                      "afresh");
        return NGX_DECLINED;
    }

    ctx->cached = 1;

    return NGX_OK;
}


static void
ngx_http_recsys_result_store(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx)
{
    size_t     size;
    ngx_str_t  value;

    size = rs_result_pack(&ctx->result, NULL, 0);
    if (size == 0) {
        return;
    }

    value.data = ngx_pnalloc(r->pool, size);
    if (value.data == NULL) {
        return;
    }

    value.len = rs_result_pack(&ctx->result, value.data, size);

    ngx_http_recsys_cache_put(r, &ctx->cache_key, &value, 0, 0);
}


/*
 * Everything the engine ranks with, in a fixed order; the profile and the
 * index version are added by ngx_http_recsys_cache_key(), the overlay's
 * batch here, so a price patch is never answered from before it, and the
 * model that embeds the query, so answers of the lexical companion by
 * configuration and answers of a model never meet.
 */

static ngx_int_t
ngx_http_recsys_result_key(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    u_char              *p;
    size_t               len, i;
    ngx_str_t            parts[3];
    const rs_filter_t   *f;
    const rs_request_t  *req;

    req = &ctx->req;
    f = &req->filter;

    len = sizeof("k=&c=&u=&o=&i=&n=&x=&min=&max=&r=&s=&cat=&b=&t=") - 1
          + 5 * NGX_INT_T_LEN + NGX_INT64_LEN + 3 * 32
          + (req->nitems + req->nnegatives + req->nexclude)
            * (NGX_INT32_LEN + 1)
          + f->category_len + f->brand_len + f->tag_len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    parts[1].data = p;

    p = ngx_sprintf(p, "k=%uD&c=%uD&u=%d&o=%uL&i=", req->k, req->candidates,
                    (int) req->understand,
                    req->overlay_data
                    ? ngx_http_recsys_overlay_stamp(req->overlay_data) : 0);

    for (i = 0; i < req->nitems; i++) {
        p = ngx_sprintf(p, "%uD,", req->items[i]);
    }

    p = ngx_cpymem(p, "&n=", 3);

    for (i = 0; i < req->nnegatives; i++) {
        p = ngx_sprintf(p, "%uD,", req->negatives[i]);
    }

    p = ngx_cpymem(p, "&x=", 3);

    for (i = 0; i < req->nexclude; i++) {
        p = ngx_sprintf(p, "%uD,", req->exclude[i]);
    }

    p = ngx_sprintf(p, "&min=%d:%.2f&max=%d:%.2f&r=%d:%.2f&s=%d",
                    (int) f->has_min_price, f->min_price,
                    (int) f->has_max_price, f->max_price,
                    (int) f->has_min_rating, f->min_rating,
                    (int) f->in_stock);

    p = ngx_sprintf(p, "&cat=%*s&b=%*s&t=%*s", f->category_len, f->category,
                    f->brand_len, f->brand, f->tag_len, f->tag);

    parts[1].len = p - parts[1].data;

    /* the query text goes in whole, apart from the rest */
    parts[0].data = (u_char *) req->text;
    parts[0].len = req->text_len;

    ngx_http_recsys_embed_model(r, &parts[2]);

    return ngx_http_recsys_cache_key(r, "result", req->profile, parts, 3,
                                     &ctx->cache_key);
}


/*
 * Runs the phases until one has to wait for Redis or a subrequest; the
 * first wait takes a reference on the request (NGX_DONE), the lookup's
 * callback wakes it up through ngx_http_recsys_wake().
 */

static ngx_int_t
ngx_http_recsys_step(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    for ( ;; ) {

        if (ctx->pending) {
            if (!ctx->waiting) {
                ctx->waiting = 1;
                r->main->count++;
            }

            return NGX_DONE;
        }

        if (ctx->deadline.timer_set) {
            ngx_del_timer(&ctx->deadline);
        }

        switch (ctx->phase) {

        case NGX_HTTP_RECSYS_PHASE_PREPARE:
            rc = ngx_http_recsys_rank(r, ctx);
            if (rc != NGX_OK) {
                return rc;
            }

            ctx->phase = NGX_HTTP_RECSYS_PHASE_RERANK;

            if (ngx_http_recsys_rerank(r, ctx) == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            break;

        case NGX_HTTP_RECSYS_PHASE_RERANK:

            /* a rerank looked at more candidates than the answer shows */
            if (ctx->result.nhits > ctx->want_k) {
                ctx->result.nhits = ctx->want_k;

                if (ngx_http_recsys_set_items(r, ctx, rlcf->index->engine,
                                              &ctx->result)
                    != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
            }

            ctx->phase = NGX_HTTP_RECSYS_PHASE_NARRATIVE;
            ctx->narrative_ms = ngx_http_recsys_now_ms();

            if (ngx_http_recsys_narrative(r, ctx) == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            break;

        default: /* NGX_HTTP_RECSYS_PHASE_NARRATIVE */
            return ngx_http_recsys_answer(r, ctx);
        }
    }
}


static ngx_int_t
ngx_http_recsys_rank(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    const rs_engine_t           *engine;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    engine = rlcf->index->engine;

    if (ctx->cached) {
        return ngx_http_recsys_set_items(r, ctx, engine, &ctx->result);
    }

    if (rs_engine_recommend(engine, &ctx->req, &ctx->result) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: search failed (out of memory or index "
                      "error)");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->us_embed = ctx->result.us_embed;
    ctx->us_retrieve = ctx->result.us_retrieve;
    ctx->us_rank = ctx->result.us_rank;
    ctx->cold_start = ctx->result.cold_start;

    /*
     * The model's vector was wanted and did not come.  Such an answer is
     * not the one the cache key stands for, so it is not stored.
     */
    if (ctx->result.embed_source == RS_SOURCE_LEXICAL
        && rlcf->embed.endpoint != NULL)
    {
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_EMBED;
    }

    if (ngx_http_recsys_set_items(r, ctx, engine, &ctx->result) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->cache_key.len
        && !(ctx->degraded & NGX_HTTP_RECSYS_DEGRADED_EMBED))
    {
        ngx_http_recsys_result_store(r, ctx);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_answer(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    double                       t;
    ngx_int_t                    rc;
    rs_render_t                  render;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    ngx_memzero(&render, sizeof(rs_render_t));
    render.query = (const char *) ctx->query.data;
    render.query_len = ctx->query.len;
    render.result = &ctx->result;
    render.request = &ctx->req;
    render.explain = ctx->explain ? 1 : 0;
    render.no_narrative = (rlcf->llm.mode == NGX_HTTP_RECSYS_NARRATIVE_OFF);
    render.summary = ctx->summary;
    render.reasons = ctx->reasons;
    render.source = ctx->narrative_source;

    if (ngx_http_recsys_degraded_header(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A call this answer started may still run: its subrequest holds the
     * connection, so a keep-alive client would wait for it with its next
     * request; closing makes that client reconnect instead.
     */
    if (ctx->calls_running) {
        r->keepalive = 0;
    }

    ctx->answered = 1;

    /* with the wait for a model, if there was one */
    t = ngx_http_recsys_now_ms();
    ctx->us_narrative = (t - ctx->narrative_ms) * 1000;
    render.took_ms = t - ctx->start_ms;

    rc = ngx_http_recsys_send_answer(r, rlcf, rlcf->index->engine, &render,
                                     ctx->format);

    /* a HEAD answer and a 304 show nothing */
    if (rlcf->exposures && rc == NGX_OK && !r->header_only
        && r->headers_out.status == NGX_HTTP_OK)
    {
        ngx_http_recsys_events_exposures(r, &ctx->profile, ctx->nitems);
    }

    if (ctx->calls_running && rc == NGX_OK) {
        ngx_http_recsys_end_of_answer(r);
    }

    ctx->us_render = (ngx_http_recsys_now_ms() - t) * 1000;
    ctx->took_ms = ngx_http_recsys_now_ms() - ctx->start_ms;

    return rc;
}


/*
 * The answer is out but a call holds the connection until it ends: a
 * client that reads to the end of the stream rather than Content-Length
 * is told it is over now.  Not over TLS, whose close_notify comes later,
 * nor for HTTP/2 streams, which hold no connection.
 */

static void
ngx_http_recsys_end_of_answer(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (r != r->main || r->buffered || c->buffered || r->out
#if (NGX_HTTP_SSL)
        || c->ssl
#endif
#if (NGX_HTTP_V2)
        || r->stream
#endif
       )
    {
        return;
    }

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        ngx_log_error(NGX_LOG_INFO, c->log, ngx_socket_errno,
                      ngx_shutdown_socket_n " failed");
    }
}


/* "X-Recsys-Degraded: redis, llm": what this answer had to do without */

static ngx_int_t
ngx_http_recsys_degraded_header(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    /* in the order of the NGX_HTTP_RECSYS_DEGRADED_* bits */
    static ngx_str_t  components[] = {
        ngx_string("redis"), ngx_string("llm"), ngx_string("embed")
    };

    if (ctx->degraded == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, sizeof("redis, llm, embed") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Recsys-Degraded");
    h->value.data = p;

    for (i = 0; i < sizeof(components) / sizeof(components[0]); i++) {
        if (!(ctx->degraded & (1 << i))) {
            continue;
        }

        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_DEGRADED,
                                      &components[i], 1);

        p = ngx_cpymem(p, components[i].data, components[i].len);
        *p++ = ',';
        *p++ = ' ';
    }

    h->value.len = p - h->value.data - 2;

    return NGX_OK;
}


void
ngx_http_recsys_wake(ngx_http_request_t *r, ngx_uint_t foreign)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (ctx->pending && --ctx->pending == 0 && ctx->waiting) {
        r->write_event_handler = ngx_http_recsys_resume;
        (void) ngx_http_post_request(r, NULL);
    }

    /*
     * Nothing else runs the posted requests (r, or a subrequest it just
     * started) after a Redis reply or a posted event; r may be freed then.
     */
    if (foreign) {
        ngx_http_run_posted_requests(r->connection);
    }
}


/*
 * The current phase stops waiting after timeout: expired() gives up its
 * lookups (ctx->pending goes to 0) and the request goes on without them.
 */

void
ngx_http_recsys_wait_until(ngx_http_request_t *r, ngx_msec_t timeout,
    void (*expired)(ngx_http_request_t *r))
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    ctx->expired = expired;
    ctx->deadline.handler = ngx_http_recsys_deadline;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ngx_http_recsys_deadline_cleanup(r, ctx) != NGX_OK) {
        /* no memory for the cleanup: do not wait at all */
        expired(r);
        return;
    }

    ngx_add_timer(&ctx->deadline, timeout);
}


static ngx_int_t
ngx_http_recsys_deadline_cleanup(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    if (ctx->deadline_cleanup) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_recsys_deadline_cancel;
    cln->data = &ctx->deadline;
    ctx->deadline_cleanup = 1;

    return NGX_OK;
}


static void
ngx_http_recsys_deadline_cancel(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


static void
ngx_http_recsys_deadline(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_recsys_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    ctx->expired(r);

    if (ctx->pending == 0 && ctx->waiting) {
        ngx_http_recsys_resume(r);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_recsys_resume(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_recsys_ctx_t  *ctx;

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    rc = ngx_http_recsys_step(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


ngx_int_t
ngx_http_recsys_parse_args(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, rs_request_t *req, ngx_str_t *query,
    ngx_str_t *user, ngx_flag_t *explain, ngx_http_recsys_error_t *err)
{
    ngx_int_t        rc, k;
    ngx_str_t        value;
    ngx_flag_t       flag, set;
    rs_filter_t     *f;
    const rs_store_t *st;

    f = &req->filter;
    st = rs_engine_store(rlcf->index->engine);

    rc = ngx_http_recsys_text_arg(r, "q", rlcf->query,
                                  rlcf->max_query_length, query, err);
    if (rc != NGX_OK) {
        return rc;
    }

    req->text = (const char *) query->data;
    req->text_len = query->len;

    rc = ngx_http_recsys_text_arg(r, "user", rlcf->user,
                                  NGX_HTTP_RECSYS_MAX_ARG, user, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_recsys_ids_arg(r, "item", rlcf->item, st, 1, &req->items,
                                 &req->nitems, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_recsys_ids_arg(r, "not", NULL, st, 1, &req->negatives,
                                 &req->nnegatives, err);
    if (rc != NGX_OK) {
        return rc;
    }

    /* stale ids in an exclusion list are common and harmless */
    rc = ngx_http_recsys_ids_arg(r, "exclude", NULL, st, 0, &req->exclude,
                                 &req->nexclude, err);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_recsys_arg(r, "k", NULL, &value);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (value.len) {
        k = ngx_atoi(value.data, value.len);

        if (k < 1 || k > RS_MAX_K) {
            err->code = "invalid_k";
            ngx_snprintf(err->message, sizeof(err->message) - 1,
                         "k must be an integer from 1 to %d%Z", RS_MAX_K);
            return NGX_DECLINED;
        }

        req->k = (uint32_t) k;
    }

    rc = ngx_http_recsys_text_arg(r, "category", NULL,
                                  NGX_HTTP_RECSYS_MAX_ARG, &value, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->category = (const char *) value.data;
    f->category_len = value.len;

    rc = ngx_http_recsys_text_arg(r, "brand", NULL, NGX_HTTP_RECSYS_MAX_ARG,
                                  &value, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->brand = (const char *) value.data;
    f->brand_len = value.len;

    rc = ngx_http_recsys_text_arg(r, "tag", NULL, NGX_HTTP_RECSYS_MAX_ARG,
                                  &value, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->tag = (const char *) value.data;
    f->tag_len = value.len;

    rc = ngx_http_recsys_price_arg(r, "min_rating", &f->min_rating, &set,
                                   err);
    if (rc != NGX_OK) {
        return rc;
    }

    if (set && f->min_rating > 5) {
        err->code = "invalid_argument";
        ngx_sprintf(err->message, "min_rating must be from 0 to 5%Z");
        return NGX_DECLINED;
    }

    f->has_min_rating = set ? 1 : 0;

    rc = ngx_http_recsys_price_arg(r, "min_price", &f->min_price, &set, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->has_min_price = set ? 1 : 0;

    rc = ngx_http_recsys_price_arg(r, "max_price", &f->max_price, &set, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->has_max_price = set ? 1 : 0;

    if (f->has_min_price && f->has_max_price && f->min_price > f->max_price)
    {
        err->code = "invalid_price";
        ngx_sprintf(err->message,
                    "min_price must not be greater than max_price%Z");
        return NGX_DECLINED;
    }

    rc = ngx_http_recsys_flag_arg(r, "in_stock", &flag, err);
    if (rc != NGX_OK) {
        return rc;
    }

    f->in_stock = flag ? 1 : 0;

    return ngx_http_recsys_flag_arg(r, "explain", explain, err);
}


/*
 * The value of a configured complex value, or else of the request argument
 * of that name, URL-decoded ("+" is a space in a query string).
 */

static ngx_int_t
ngx_http_recsys_arg(ngx_http_request_t *r, const char *name,
    ngx_http_complex_value_t *cv, ngx_str_t *value)
{
    u_char     *dst, *src, *p;
    ngx_str_t   raw;

    ngx_str_null(value);

    if (cv != NULL) {
        if (ngx_http_complex_value(r, cv, &raw) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw)
               != NGX_OK)
    {
        return NGX_OK;
    }

    if (raw.len == 0) {
        return NGX_OK;
    }

    src = ngx_pnalloc(r->pool, raw.len * 2 + 1);
    if (src == NULL) {
        return NGX_ERROR;
    }

    for (p = src; p < src + raw.len; p++) {
        *p = raw.data[p - src] == '+' ? ' ' : raw.data[p - src];
    }

    dst = src + raw.len;
    value->data = dst;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;
    *dst = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_text_arg(ngx_http_request_t *r, const char *name,
    ngx_http_complex_value_t *cv, size_t max, ngx_str_t *value,
    ngx_http_recsys_error_t *err)
{
    if (ngx_http_recsys_arg(r, name, cv, value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!rs_utf8_valid(value->data, value->len)) {
        err->code = "invalid_utf8";
        ngx_snprintf(err->message, sizeof(err->message) - 1,
                     "\"%s\" is not valid UTF-8%Z", name);
        return NGX_DECLINED;
    }

    if (value->len > max) {
        err->code = ngx_strcmp(name, "q") == 0 ? "query_too_long"
                                               : "argument_too_long";
        ngx_snprintf(err->message, sizeof(err->message) - 1,
                     "\"%s\" is longer than %uz bytes%Z", name, max);
        return NGX_DECLINED;
    }

    ngx_http_recsys_trim(value);

    return NGX_OK;
}


/* comma-separated item ids; when strict, an unknown one is a client error */

static ngx_int_t
ngx_http_recsys_ids_arg(ngx_http_request_t *r, const char *name,
    ngx_http_complex_value_t *cv, const rs_store_t *st, ngx_flag_t strict,
    const uint32_t **ids, size_t *n, ngx_http_recsys_error_t *err)
{
    u_char     *p, *end, *comma;
    size_t      count;
    uint32_t   *out;
    ngx_int_t   rc;
    ngx_str_t   value, id;

    *ids = NULL;
    *n = 0;

    rc = ngx_http_recsys_text_arg(r, name, cv, NGX_HTTP_RECSYS_MAX_IDS_LEN,
                                  &value, err);
    if (rc != NGX_OK) {
        return rc;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    count = 1;
    end = value.data + value.len;

    for (p = value.data; p < end; p++) {
        count += (*p == ',');
    }

    if (count > NGX_HTTP_RECSYS_MAX_IDS) {
        err->code = "too_many_items";
        ngx_snprintf(err->message, sizeof(err->message) - 1,
                     "\"%s\" holds more than %d ids%Z", name,
                     NGX_HTTP_RECSYS_MAX_IDS);
        return NGX_DECLINED;
    }

    out = ngx_palloc(r->pool, count * sizeof(uint32_t));
    if (out == NULL) {
        return NGX_ERROR;
    }

    for (p = value.data; p < end; p = comma + 1) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        id.data = p;
        id.len = comma - p;
        ngx_http_recsys_trim(&id);

        if (id.len == 0) {
            continue;
        }

        if (rs_store_find(st, (const char *) id.data, id.len, &out[*n]) == 0)
        {
            (*n)++;
            continue;
        }

        if (strict) {
            err->code = "unknown_item";
            ngx_snprintf(err->message, sizeof(err->message) - 1,
                         "no item with id \"%V\" in the catalog%Z", &id);
            return NGX_DECLINED;
        }
    }

    *ids = out;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_set_items(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    const rs_engine_t *engine, const rs_result_t *result)
{
    u_char            *p;
    size_t             len;
    uint32_t           i;
    const char        *id;
    const rs_store_t  *st;

    st = rs_engine_store(engine);
    ctx->profile.data = (u_char *) result->profile->name;
    ctx->profile.len = result->profile->name_len;
    ctx->nitems = result->nhits;

    len = 0;

    for (i = 0; i < result->nhits; i++) {
        len += ngx_strlen(rs_store_str(st, st->items[result->hits[i].item].id))
               + 1;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->items.data = p;

    for (i = 0; i < result->nhits; i++) {
        id = rs_store_str(st, st->items[result->hits[i].item].id);

        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, id, ngx_strlen(id));
    }

    ctx->items.len = p - ctx->items.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_flag_arg(ngx_http_request_t *r, const char *name,
    ngx_flag_t *flag, ngx_http_recsys_error_t *err)
{
    ngx_str_t  value;

    *flag = 0;

    if (ngx_http_recsys_arg(r, name, NULL, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0
        || (value.len == 1 && value.data[0] == '0')
        || (value.len == 5 && ngx_strncasecmp(value.data, (u_char *) "false",
                                              5) == 0))
    {
        return NGX_OK;
    }

    if ((value.len == 1 && value.data[0] == '1')
        || (value.len == 4 && ngx_strncasecmp(value.data, (u_char *) "true",
                                              4) == 0))
    {
        *flag = 1;
        return NGX_OK;
    }

    err->code = "invalid_argument";
    ngx_snprintf(err->message, sizeof(err->message) - 1,
                 "\"%s\" must be 1, 0, true or false%Z", name);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_recsys_price_arg(ngx_http_request_t *r, const char *name,
    double *price, ngx_flag_t *set, ngx_http_recsys_error_t *err)
{
    char       *end;
    u_char     *p;
    ngx_str_t   value;
    ngx_uint_t  digits, dots;

    *set = 0;

    if (ngx_http_recsys_arg(r, name, NULL, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    /* plain decimals only: strtod would also take "inf", "1e999", "0x1p3" */
    digits = 0;
    dots = 0;

    for (p = value.data; p < value.data + value.len; p++) {
        if (*p >= '0' && *p <= '9') {
            digits++;

        } else if (*p == '.') {
            dots++;

        } else {
            break;
        }
    }

    if (p == value.data + value.len && digits > 0 && digits <= 15
        && dots <= 1)
    {
        *price = strtod((const char *) value.data, &end);

        if ((u_char *) end == value.data + value.len && isfinite(*price)) {
            *set = 1;
            return NGX_OK;
        }
    }

    err->code = "invalid_price";
    ngx_snprintf(err->message, sizeof(err->message) - 1,
                 "\"%s\" must be a non-negative number%Z", name);

    return NGX_DECLINED;
}


static void
ngx_http_recsys_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t')) {
        s->data++;
        s->len--;
    }

    while (s->len && (s->data[s->len - 1] == ' '
                      || s->data[s->len - 1] == '\t'))
    {
        s->len--;
    }
}


static void *
ngx_http_recsys_palloc(void *data, size_t size)
{
    return ngx_palloc(data, size);
}


static double
ngx_http_recsys_now_ms(void)
{
    struct timespec  ts;

    /* the cached nginx time has millisecond steps; stages take less */
    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}
