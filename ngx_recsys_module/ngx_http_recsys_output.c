
/*
 * Copyright (C) ngx_recsys authors
 *
 * Answers: the core renders JSON or a template through a callback and the
 * bytes land in buffers from the request pool.  An ETag names the item
 * set, so If-None-Match gets a 304 from nginx's not-modified filter.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_recsys_module.h"
#include "rs_narrative.h"
#include "rs_tpl.h"


#define NGX_HTTP_RECSYS_BUF_SIZE  4096


static ngx_int_t ngx_http_recsys_header(ngx_http_request_t *r,
    const char *name, size_t len, u_char *value, size_t vlen);
static ngx_int_t ngx_http_recsys_etag(ngx_http_request_t *r,
    const rs_engine_t *engine, const rs_render_t *render, ngx_uint_t format);
static ngx_int_t ngx_http_recsys_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_http_recsys_body_writer_t *w);


void
ngx_http_recsys_body_writer_init(ngx_http_recsys_body_writer_t *wr,
    ngx_pool_t *pool)
{
    ngx_memzero(wr, sizeof(ngx_http_recsys_body_writer_t));
    wr->pool = pool;
    wr->last = &wr->out;
}


int
ngx_http_recsys_body_write(const char *data, size_t size, void *ctx)
{
    size_t                          n;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_recsys_body_writer_t  *w = ctx;

    w->size += size;

    while (size) {
        b = w->buf;

        if (b == NULL || b->last == b->end) {
            n = ngx_max(size, NGX_HTTP_RECSYS_BUF_SIZE);

            b = ngx_create_temp_buf(w->pool, n);
            if (b == NULL) {
                return -1;
            }

            cl = ngx_alloc_chain_link(w->pool);
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


/* a subrequest's body is one buffer */

ngx_int_t
ngx_http_recsys_body_join(ngx_http_recsys_body_writer_t *wr, ngx_str_t *body)
{
    u_char       *p;
    ngx_chain_t  *cl;

    if (wr->out != NULL && wr->out->next == NULL) {
        body->data = wr->out->buf->pos;
        body->len = wr->size;
        return NGX_OK;
    }

    p = ngx_pnalloc(wr->pool, wr->size ? wr->size : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = wr->out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    body->len = wr->size;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_header(ngx_http_request_t *r, const char *name, size_t len,
    u_char *value, size_t vlen)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value.data = value;
    h->value.len = vlen;

    return NGX_OK;
}


/*
 * Weak, since took_ms differs between two answers with the same items: the
 * ids in order with the price and stock shown, the profile, the narrative
 * version, the model's summary when there is one, and the format.
 */

static ngx_int_t
ngx_http_recsys_etag(ngx_http_request_t *r, const rs_engine_t *engine,
    const rs_render_t *render, ngx_uint_t format)
{
    u_char             *p;
    uint32_t            i;
    uint64_t            h;
    const char         *id;
    const rs_hit_t     *hit;
    const rs_store_t   *st;
    const rs_result_t  *res;

    res = render->result;
    st = rs_engine_store(engine);

    h = rs_hash64(rs_engine_version(engine),
                  ngx_strlen(rs_engine_version(engine)),
                  format * 0x100 + RS_NARRATIVE_VERSION);
    h = rs_hash64(res->profile->name, res->profile->name_len, h);
    h = rs_hash64(render->query, render->query_len, h);

    /* the model's narrative replacing the template's is a new answer */
    if (render->summary != NULL) {
        h = rs_hash64(render->summary, ngx_strlen(render->summary), h);
    }

    for (i = 0; i < res->nhits; i++) {
        hit = &res->hits[i];
        id = rs_store_str(st, st->items[hit->item].id);
        h = rs_hash64(id, ngx_strlen(id), h);
        h = rs_hash64(&hit->view, sizeof(rs_view_t), h);
        h = rs_hash64(&hit->flags, sizeof(hit->flags), h);
    }

    p = ngx_pnalloc(r->pool, sizeof("W/\"\"") - 1 + 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.etag = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.etag == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.etag->hash = 1;
    ngx_str_set(&r->headers_out.etag->key, "ETag");
    r->headers_out.etag->value.data = p;
    r->headers_out.etag->value.len = ngx_sprintf(p, "W/\"%016uxL\"", h) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_http_recsys_body_writer_t *w)
{
    ngx_int_t  rc;

    w->buf->last_buf = (r == r->main) ? 1 : 0;
    w->buf->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = w->size;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = ngx_strlchr(type->data,
                                                  type->data + type->len, ';')
                                      - type->data;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w->out);
}


ngx_int_t
ngx_http_recsys_send_answer(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, const rs_engine_t *engine,
    const rs_render_t *render, ngx_uint_t format)
{
    int                           rc;
    json_t                       *root;
    ngx_str_t                     type;
    const rs_tpl_t               *tpl;
    ngx_http_recsys_body_writer_t      w;
    ngx_http_recsys_main_conf_t  *rmcf;

    ngx_http_recsys_body_writer_init(&w, r->pool);

    root = rs_render_build(engine, render);
    if (root == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: cannot build the answer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (format == NGX_HTTP_RECSYS_FORMAT_HTML) {
        rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);
        tpl = rlcf->tpl ? rlcf->tpl : rmcf->default_tpl;
        rc = rs_tpl_render(tpl, root, ngx_http_recsys_body_write, &w);
        ngx_str_set(&type, "text/html; charset=utf-8");

    } else {
        rc = json_dump_callback(root, ngx_http_recsys_body_write, &w,
                                JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (rc == 0) {
            rc = ngx_http_recsys_body_write("\n", 1, &w);
        }

        ngx_str_set(&type, "application/json; charset=utf-8");
    }

    json_decref(root);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: cannot render the answer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a template may render nothing; a buffer still has to end the body */
    if (w.buf == NULL) {
        w.buf = ngx_calloc_buf(r->pool);
        w.out = ngx_alloc_chain_link(r->pool);

        if (w.buf == NULL || w.out == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        w.out->buf = w.buf;
        w.out->next = NULL;
    }

    if (ngx_http_recsys_etag(r, engine, render, format) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rlcf->cache_control.len
        && ngx_http_recsys_header(r, "Cache-Control",
                                  sizeof("Cache-Control") - 1,
                                  rlcf->cache_control.data,
                                  rlcf->cache_control.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the Accept header may pick the format, so a cache must key on it */
    if (rlcf->vary.len
        && ngx_http_recsys_header(r, "Vary", sizeof("Vary") - 1,
                                  rlcf->vary.data, rlcf->vary.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_recsys_send(r, NGX_HTTP_OK, &type, &w);
}


/* an error of every recsys endpoint; allow names the methods of a 405 */

ngx_int_t
ngx_http_recsys_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *allow, const char *code, const char *message)
{
    ngx_str_t                  type;
    ngx_http_recsys_body_writer_t   w;

    ngx_http_recsys_body_writer_init(&w, r->pool);

    if (rs_render_error(code, message, ngx_http_recsys_body_write, &w) != 0
        || ngx_http_recsys_body_write("\n", 1, &w) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: cannot render the answer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_NOT_ALLOWED
        && ngx_http_recsys_header(r, "Allow", sizeof("Allow") - 1,
                                  (u_char *) allow, ngx_strlen(allow))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "application/json; charset=utf-8");

    return ngx_http_recsys_send(r, status, &type, &w);
}


/* a small JSON object as the whole answer: the admin endpoints' results */

ngx_int_t
ngx_http_recsys_send_object(ngx_http_request_t *r, ngx_uint_t status,
    void *object)
{
    ngx_str_t                  type;
    ngx_http_recsys_body_writer_t   w;

    ngx_http_recsys_body_writer_init(&w, r->pool);

    if (json_dump_callback(object, ngx_http_recsys_body_write, &w,
                           JSON_COMPACT | JSON_REAL_PRECISION(15))
        != 0
        || ngx_http_recsys_body_write("\n", 1, &w) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: cannot render the answer");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "application/json; charset=utf-8");

    return ngx_http_recsys_send(r, status, &type, &w);
}
