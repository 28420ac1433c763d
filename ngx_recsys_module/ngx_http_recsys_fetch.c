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
