
/*
 * Copyright (C) ngx_recsys authors
 *
 * JSON answers: the core renders through a callback and the bytes land
 * in buffers from the request pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_BUF_SIZE  4096


typedef struct {
    ngx_http_request_t  *request;
    ngx_chain_t         *out;
    ngx_chain_t        **last;
    ngx_buf_t           *buf;
    size_t               size;
} ngx_http_recsys_writer_t;


static int ngx_http_recsys_write(const char *data, size_t size, void *ctx);


static int
ngx_http_recsys_write(const char *data, size_t size, void *ctx)
{
    size_t                     n;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_recsys_writer_t  *w = ctx;

    w->size += size;

    while (size) {
        b = w->buf;

        if (b == NULL || b->last == b->end) {
            n = ngx_max(size, NGX_HTTP_RECSYS_BUF_SIZE);

            b = ngx_create_temp_buf(w->request->pool, n);
            if (b == NULL) {
                return -1;
            }

            cl = ngx_alloc_chain_link(w->request->pool);
            if (cl == NULL) {
                return -1;
            }

            cl->buf = b;
            cl->next = NULL;
            *w->last = cl;
            w->last = &cl->next;
            w->buf = b;
        }

        n = ngx_min(size, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, data, n);
        data += n;
        size -= n;
    }

    return 0;
}


ngx_int_t
ngx_http_recsys_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const rs_engine_t *engine, const rs_render_t *render,
    ngx_http_recsys_error_t *err)
{
    int                        rc;
    ngx_int_t                  n;
    ngx_http_recsys_writer_t   w;

    ngx_memzero(&w, sizeof(ngx_http_recsys_writer_t));
    w.request = r;
    w.last = &w.out;

    if (render != NULL) {
        rc = rs_render_json(engine, render, ngx_http_recsys_write, &w);

    } else {
        rc = rs_render_error(err->code, (const char *) err->message,
                             ngx_http_recsys_write, &w);
    }

    if (rc != 0 || ngx_http_recsys_write("\n", 1, &w) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: cannot render the answer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last_buf = (r == r->main) ? 1 : 0;
    w.buf->last_in_chain = 1;

    if (status == NGX_HTTP_NOT_ALLOWED) {
        ngx_table_elt_t  *h;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = w.size;
    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = sizeof("application/json") - 1;

    n = ngx_http_send_header(r);

    if (n == NGX_ERROR || n > NGX_OK || r->header_only) {
        return n;
    }

    return ngx_http_output_filter(r, w.out);
}
