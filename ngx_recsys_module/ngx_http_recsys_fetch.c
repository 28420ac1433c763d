/*
 * Copyright (C) ngx_recsys authors
 *
 * Calls to outside HTTP services (the LLM, the embedding model) as
 * background subrequests to a location the user configures with
 * proxy_pass, so nginx's own keepalive, timeouts, retries and TLS apply.
 * The reply is captured in memory by a header and a body filter at the
 * top of the chain, with a size cap, and handed to a callback; nothing of
 * it reaches the client.
 *
 * Background subrequests stay out of the parent's postponed output, so
 * the parent can answer while a call is still running (a deadline passed,
 * or a cache fill nobody waits for).
 *
 * Requests that need the same answer share one call: a worker keeps its
 * calls in flight in a tree by key (rmcf->calls), a request that finds
 * its key there joins the call's waiters instead of calling again, and
 * each waiter is woken in its own posted event when the answer is in.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"


struct ngx_http_recsys_fetch_s {
    ngx_http_request_t              *parent;
    ngx_http_recsys_fetch_pt         handler;
    void                            *data;
    u_char                          *body;
    size_t                           len;
    size_t                           max;
    off_t                            content_length;  /* -1: not sent */
    ngx_uint_t                       status;
    unsigned                         too_big:1;
    unsigned                         read_error:1;
    unsigned                         finished:1;
    unsigned                         abandoned:1;
};


static ngx_int_t ngx_http_recsys_fetch_headers(ngx_http_request_t *sr,
    ngx_str_t *authorization, size_t len);
static ngx_int_t ngx_http_recsys_fetch_header(ngx_http_request_t *sr,
    const char *key, ngx_str_t *value);
static ngx_int_t ngx_http_recsys_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_recsys_fetch_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_fetch_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_recsys_fetch_copy(ngx_http_recsys_fetch_t *f,
    ngx_buf_t *b, ngx_log_t *log);
static void ngx_http_recsys_call_wake(ngx_event_t *ev);
static void ngx_http_recsys_call_cleanup(void *data);
static void ngx_http_recsys_call_wait_cleanup(void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/*
 * POSTs body to uri as a background subrequest of r; NGX_ERROR when it
 * cannot be started.  The handler runs once when the reply is complete or
 * failed, unless ngx_http_recsys_fetch_abandon() came first.
 */

ngx_int_t
ngx_http_recsys_fetch(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *body, ngx_str_t *authorization, size_t max,
    ngx_http_recsys_fetch_pt handler, void *data,
    ngx_http_recsys_fetch_t **fetch)
{
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *sr;
    ngx_http_recsys_ctx_t        *sctx;
    ngx_http_recsys_fetch_t      *f;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_fetch_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    sctx = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_ctx_t));
    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (f == NULL || ps == NULL || sctx == NULL || rb == NULL || b == NULL
        || cl == NULL)
    {
        return NGX_ERROR;
    }

    f->parent = r;
    f->content_length = -1;
    f->handler = handler;
    f->data = data;
    f->max = max;

    ps->handler = ngx_http_recsys_fetch_done;
    ps->data = f;

    if (ngx_http_subrequest(r, uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;

    sr->request_body = rb;
    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    if (ngx_http_recsys_fetch_headers(sr, authorization, body->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sctx->fetch = f;
    ngx_http_set_ctx(sr, sctx, ngx_http_recsys_module);

    if (fetch != NULL) {
        *fetch = f;
    }

    return NGX_OK;
}


/* the handler will not run; the call itself goes on until it ends */

void
ngx_http_recsys_fetch_abandon(ngx_http_recsys_fetch_t *f)
{
    f->abandoned = 1;
}


ngx_int_t
ngx_http_recsys_fetch_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_recsys_fetch_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_recsys_fetch_body_filter;

    return NGX_OK;
}


/*
 * A fresh header list: the shopper's cookies, authorization and address
 * are none of the service's business.
 */

static ngx_int_t
ngx_http_recsys_fetch_headers(ngx_http_request_t *sr,
    ngx_str_t *authorization, size_t len)
{
    ngx_str_t  value;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, sr->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the proxy module sends Content-Length from this */
    sr->headers_in.content_length_n = len;
    sr->headers_in.keep_alive_n = -1;

    ngx_str_set(&value, "application/json");

    if (ngx_http_recsys_fetch_header(sr, "Content-Type", &value) != NGX_OK
        || ngx_http_recsys_fetch_header(sr, "Accept", &value) != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_type = sr->headers_in.headers.part.elts;

    if (authorization != NULL && authorization->len
        && ngx_http_recsys_fetch_header(sr, "Authorization", authorization)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_fetch_header(ngx_http_request_t *sr, const char *key,
    ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    len = ngx_strlen(key);

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->lowcase_key = ngx_pnalloc(sr->pool, len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    /* the proxy module matches headers it replaces by this hash */
    h->key.data = (u_char *) key;
    h->key.len = len;
    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);
    h->value = *value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_recsys_fetch_t *f = data;

    ngx_str_t  body;

    /* finalization may come back here, after an error page */
    if (f->finished) {
        return rc;
    }

    f->finished = 1;

    if (f->abandoned) {
        return rc;
    }

    body.data = f->body;
    body.len = f->len;

    /*
     * Once the header is out, the proxy module ends a reply cut short as
     * if it were complete: its Content-Length tells.
     */
    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE
        || f->status == 0 || f->read_error
        || (!f->too_big && f->content_length >= 0
            && (off_t) f->len < f->content_length))
    {
        f->handler(f->parent, f->data, NGX_ERROR,
                   f->status ? f->status : (ngx_uint_t) rc, &body);
        return rc;
    }

    if (f->too_big) {
        f->handler(f->parent, f->data, NGX_DECLINED, f->status, &body);
        return rc;
    }

    f->handler(f->parent, f->data, NGX_OK, f->status, &body);

    return rc;
}


static ngx_int_t
ngx_http_recsys_fetch_header_filter(ngx_http_request_t *r)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (ctx == NULL || ctx->fetch == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx->fetch->status = r->headers_out.status;
    ctx->fetch->content_length = r->headers_out.content_length_n;

    /* what ngx_http_header_filter() does for a subrequest */
    r->header_sent = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_fetch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl;
    ngx_http_recsys_ctx_t    *ctx;
    ngx_http_recsys_fetch_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (ctx == NULL || ctx->fetch == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    f = ctx->fetch;

    for (cl = in; cl; cl = cl->next) {

        if (!f->too_big && !f->read_error
            && ngx_http_recsys_fetch_copy(f, cl->buf, r->connection->log)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* consumed: the upstream may reuse the buffer */
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_fetch_copy(ngx_http_recsys_fetch_t *f, ngx_buf_t *b,
    ngx_log_t *log)
{
    off_t    size;
    ssize_t  n;

    size = ngx_buf_size(b);

    if (size == 0) {
        return NGX_OK;
    }

    if ((off_t) (f->max - f->len) < size) {
        f->too_big = 1;
        return NGX_OK;
    }

    if (f->body == NULL) {
        f->body = ngx_pnalloc(f->parent->pool, f->max + 1);
        if (f->body == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_buf_in_memory(b)) {
        ngx_memcpy(f->body + f->len, b->pos, size);

    } else {
        /* a reply the proxy buffered to a temporary file */
        n = ngx_read_file(b->file, f->body + f->len, size, b->file_pos);

        if (n != size) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "recsys: cannot read a buffered reply");
            f->read_error = 1;
            return NGX_OK;
        }
    }

    f->len += size;
    f->body[f->len] = '\0';

    return NGX_OK;
}


/*
 * Why a fetch handler's reply is no answer, as a metric label, or NULL for
 * a complete 2xx reply.
 */

const char *
ngx_http_recsys_fetch_failure(ngx_int_t rc, ngx_uint_t status)
{
    if (rc == NGX_DECLINED) {
        return "too_large";
    }

    if (rc != NGX_OK) {
        return status == NGX_HTTP_GATEWAY_TIME_OUT ? "upstream_timeout"
               : (status >= 200 && status <= 299) ? "truncated"
               : "unreachable";
    }

    if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        return "rate_limited";
    }

    if (status < 200 || status > 299) {
        return status >= 500 ? "http_5xx" : "http_4xx";
    }

    return NULL;
}


/* the call in flight for key in this worker, or NULL */

ngx_http_recsys_call_t *
ngx_http_recsys_call_find(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    return (ngx_http_recsys_call_t *)
               ngx_str_rbtree_lookup(&rmcf->calls, key,
                                     ngx_crc32_short(key->data, key->len));
}


/*
 * POSTs body as call, a zeroed structure in r's pool, known by key (which
 * lives as long as r's pool) until it ends.  The handler gets call as its
 * data and ends it with ngx_http_recsys_call_end().
 */

ngx_int_t
ngx_http_recsys_call_start(ngx_http_request_t *r, ngx_http_recsys_call_t *call,
    ngx_str_t *key, ngx_str_t *uri, ngx_str_t *body,
    ngx_str_t *authorization, size_t max, ngx_http_recsys_fetch_pt handler)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_recsys_ctx_t        *ctx;
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    call->r = r;
    call->started = ngx_current_msec;
    ngx_queue_init(&call->waiters);

    call->node.str = *key;
    call->node.node.key = ngx_crc32_short(key->data, key->len);

    if (ngx_http_recsys_fetch(r, uri, body, authorization, max, handler,
                              call, &call->fetch)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_recsys_call_cleanup;
    cln->data = call;

    ngx_rbtree_insert(&rmcf->calls, &call->node.node);
    call->in_tree = 1;

    /* the subrequest holds r's connection until it ends */
    ctx->calls_running++;

    return NGX_OK;
}


/* the answer is in: nobody joins the call any more */

void
ngx_http_recsys_call_end(ngx_http_recsys_call_t *call)
{
    ngx_http_recsys_ctx_t        *ctx;
    ngx_http_recsys_main_conf_t  *rmcf;

    if (call->in_tree) {
        rmcf = ngx_http_get_module_main_conf(call->r, ngx_http_recsys_module);
        ngx_rbtree_delete(&rmcf->calls, &call->node.node);
        call->in_tree = 0;
    }

    ctx = ngx_http_get_module_ctx(call->r, ngx_http_recsys_module);
    ctx->calls_running--;
}


/*
 * The waiters of an ended call one by one, out of its queue; the caller
 * gives each its answer and posts its done event.  NULL: none left.
 */

ngx_http_recsys_call_wait_t *
ngx_http_recsys_call_next(ngx_http_recsys_call_t *call)
{
    ngx_queue_t                  *q;
    ngx_http_recsys_call_wait_t  *w;

    if (ngx_queue_empty(&call->waiters)) {
        return NULL;
    }

    q = ngx_queue_head(&call->waiters);
    ngx_queue_remove(q);

    w = ngx_queue_data(q, ngx_http_recsys_call_wait_t, queue);
    w->call = NULL;

    return w;
}


/* w->r waits for call, counted in its ctx->pending until w->done runs */

ngx_int_t
ngx_http_recsys_call_join(ngx_http_recsys_call_t *call,
    ngx_http_recsys_call_wait_t *w)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_recsys_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(w->r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_recsys_call_wait_cleanup;
    cln->data = w;

    w->call = call;
    w->done.handler = ngx_http_recsys_call_wake;
    w->done.data = w;
    w->done.log = w->r->connection->log;

    ngx_queue_insert_tail(&call->waiters, &w->queue);

    ctx = ngx_http_get_module_ctx(w->r, ngx_http_recsys_module);
    ctx->pending++;
    w->counted = 1;

    return NGX_OK;
}


/*
 * For the deadline of w's phase: NGX_OK when the answer came in this very
 * event loop turn (it is used), NGX_DECLINED when w gives up on it (the
 * call goes on), NGX_DONE when w is not waiting any more.
 */

ngx_int_t
ngx_http_recsys_call_leave(ngx_http_recsys_call_wait_t *w)
{
    ngx_int_t               rc;
    ngx_http_recsys_ctx_t  *ctx;

    if (!w->counted) {
        return NGX_DONE;
    }

    if (w->call != NULL) {
        ngx_queue_remove(&w->queue);
        w->call = NULL;
    }

    rc = NGX_DECLINED;

    if (w->done.posted) {
        ngx_delete_posted_event(&w->done);
        rc = NGX_OK;
    }

    w->counted = 0;

    ctx = ngx_http_get_module_ctx(w->r, ngx_http_recsys_module);
    ctx->pending--;

    return rc;
}


static void
ngx_http_recsys_call_wake(ngx_event_t *ev)
{
    ngx_http_recsys_call_wait_t *w = ev->data;

    w->counted = 0;
    ngx_http_recsys_wake(w->r, 1);
}


/* the request that started a call is freed: nobody can finish it now */

static void
ngx_http_recsys_call_cleanup(void *data)
{
    ngx_http_recsys_call_t *call = data;

    ngx_http_recsys_main_conf_t  *rmcf;

    ngx_http_recsys_fetch_abandon(call->fetch);

    if (call->in_tree) {
        rmcf = ngx_http_get_module_main_conf(call->r, ngx_http_recsys_module);
        ngx_rbtree_delete(&rmcf->calls, &call->node.node);
        call->in_tree = 0;
    }

    /* waiters keep their deadlines and go on without the answer */
    while (ngx_http_recsys_call_next(call) != NULL) {
        /* void */
    }
}


static void
ngx_http_recsys_call_wait_cleanup(void *data)
{
    ngx_http_recsys_call_wait_t *w = data;

    if (w->call != NULL) {
        ngx_queue_remove(&w->queue);
        w->call = NULL;
    }

    if (w->done.posted) {
        ngx_delete_posted_event(&w->done);
    }
}


/*
 * The connection's log without its handler, which would add the request
 * line: a shopper's query may hold an e-mail address or a phone number,
 * and the lines about calls to outside services must not repeat it.
 */

ngx_log_t *
ngx_http_recsys_private_log(ngx_http_request_t *r)
{
    ngx_log_t  *log;

    log = ngx_palloc(r->pool, sizeof(ngx_log_t));
    if (log == NULL) {
        return ngx_cycle->log;
    }

    *log = *r->connection->log;
    log->handler = NULL;
    log->data = NULL;

    return log;
}
