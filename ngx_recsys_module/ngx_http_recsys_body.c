
/*
 * Copyright (C) ngx_recsys authors
 *
 * Request bodies of the JSON endpoints (catalog patches, events): read in
 * one piece and parsed, with reasons a client can act on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_recsys_module.h"


/*
 * The body in one piece, from memory or read back from the temporary file
 * nginx wrote a large one to; NGX_DECLINED when it is longer than max,
 * which a chunked body cannot announce up front.
 */

ngx_int_t
ngx_http_recsys_read_body(ngx_http_request_t *r, off_t max, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            len += b->last - b->pos;

        } else if (b->in_file) {
            len += b->file_last - b->file_pos;
        }
    }

    if (len > max) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = (size_t) len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);

        } else if (b->in_file) {
            len = b->file_last - b->file_pos;

            n = ngx_read_file(b->file, p, (size_t) len, b->file_pos);

            if (n != (ssize_t) len) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "recsys: cannot read the request body back "
                              "from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            p += n;
        }
    }

    return NGX_OK;
}


/* the parsed body (a json_t to decref), or NULL with the reason in msg */

void *
ngx_http_recsys_parse_body(ngx_str_t *body, u_char *msg, size_t size)
{
    u_char        *last;
    json_t        *root;
    const char    *c;
    json_error_t   jerr;

    if (body->len == 0) {
        ngx_snprintf(msg, size - 1, "the body is empty%Z");
        return NULL;
    }

    root = json_loadb((const char *) body->data, body->len,
                      JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        last = ngx_snprintf(msg, size - 1,
                            "the body is not valid JSON: line %d, column "
                            "%d: ", jerr.line, jerr.column);

        /* jansson quotes the input: keep the message printable ASCII */
        for (c = jerr.text; *c && last < msg + size - 1; c++) {
            *last++ = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
        }

        *last = '\0';
    }

    return root;
}


/*
 * A body of one JSON object, or of an array of 1 to max of them, each
 * handed to element(); its message is prefixed "<noun> N: " when the body
 * is an array.  NGX_DECLINED with code (invalid, unless element() or
 * too_many set another) and msg saying why.
 */

ngx_int_t
ngx_http_recsys_parse_elements(ngx_str_t *body, ngx_uint_t max,
    const char *noun, const char *nouns, const char *invalid,
    const char *too_many, ngx_http_recsys_element_pt element, void *data,
    const char **code, u_char *msg, size_t size)
{
    u_char     *p;
    size_t      n, i;
    json_t     *root, *obj;
    ngx_int_t   rc;

    *code = "invalid_json";

    root = ngx_http_recsys_parse_body(body, msg, size);
    if (root == NULL) {
        return NGX_DECLINED;
    }

    *code = invalid;
    rc = NGX_DECLINED;

    if (json_is_object(root)) {
        rc = element(data, root, code, msg, size);
        goto done;
    }

    if (!json_is_array(root)) {
        ngx_snprintf(msg, size - 1, "the body must be a JSON object or an "
                     "array of objects%Z");
        goto done;
    }

    n = json_array_size(root);

    if (n == 0) {
        ngx_snprintf(msg, size - 1, "the array is empty%Z");
        goto done;
    }

    if (n > max) {
        *code = too_many;
        ngx_snprintf(msg, size - 1, "%uz %s, at most %ui in one request%Z",
                     n, nouns, max);
        goto done;
    }

    for (i = 0; i < n; i++) {
        obj = json_array_get(root, i);

        p = ngx_snprintf(msg, size - 1, "%s %uz: ", noun, i);

        if (!json_is_object(obj)) {
            ngx_snprintf(p, size - 1 - (p - msg), "not an object%Z");
            rc = NGX_DECLINED;
            goto done;
        }

        rc = element(data, obj, code, p, size - (p - msg));
        if (rc != NGX_OK) {
            goto done;
        }
    }

    rc = NGX_OK;

done:

    json_decref(root);

    return rc;
}
