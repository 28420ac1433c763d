
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
    double                       t;
    ngx_int_t                    rc;
    ngx_str_t                    query;
    ngx_flag_t                   explain;
    ngx_uint_t                   format;
    rs_render_t                  render;
    rs_result_t                  result;
    rs_request_t                 req;
    const rs_engine_t           *engine;
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
    engine = rlcf->index->engine;

    ngx_memzero(&req, sizeof(rs_request_t));
    req.k = (uint32_t) rlcf->k;
    req.candidates = (uint32_t) rlcf->candidates;
    req.now = (double) ngx_time();
    req.understand = rlcf->understand ? 1 : 0;
    req.alloc = ngx_http_recsys_palloc;
    req.alloc_data = r->pool;
    req.profile = ngx_http_recsys_find_profile(r, rlcf);
    req.overlay_data = ngx_http_recsys_overlay_data(r, rlcf->index);

    if (req.overlay_data != NULL) {
        req.overlay = ngx_http_recsys_overlay_view;
    }

    rc = ngx_http_recsys_negotiate(r, rlcf, &format, &err);

    if (rc == NGX_OK) {
        ctx->format = format;
        rc = ngx_http_recsys_parse_args(r, rlcf, &req, &query, &explain,
                                        &err);
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

    if (rs_engine_recommend(engine, &req, &result) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: search failed (out of memory or index "
                      "error)");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->us_embed = result.us_embed;
    ctx->us_retrieve = result.us_retrieve;
    ctx->us_rank = result.us_rank;
    ctx->cold_start = result.cold_start;

    if (ngx_http_recsys_set_items(r, ctx, engine, &result) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&render, sizeof(rs_render_t));
    render.query = (const char *) query.data;
    render.query_len = query.len;
    render.result = &result;
    render.request = &req;
    render.explain = explain ? 1 : 0;

    t = ngx_http_recsys_now_ms();
    render.took_ms = t - ctx->start_ms;

    rc = ngx_http_recsys_send_answer(r, rlcf, engine, &render, format);

    ctx->us_render = (ngx_http_recsys_now_ms() - t) * 1000;
    ctx->took_ms = ngx_http_recsys_now_ms() - ctx->start_ms;

    return rc;
}


ngx_int_t
ngx_http_recsys_parse_args(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, rs_request_t *req, ngx_str_t *query,
    ngx_flag_t *explain, ngx_http_recsys_error_t *err)
{
    ngx_int_t        rc, k;
    ngx_str_t        value, user;
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
                                  NGX_HTTP_RECSYS_MAX_ARG, &user, err);
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
