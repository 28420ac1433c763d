/*
 * Copyright (C) ngx_recsys authors
 *
 * Variables for the access log and for other modules: what the last
 * recommendation of a request decided.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"


static ngx_int_t ngx_http_recsys_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_recsys_variable_ms(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_recsys_variable_source(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* the data of ngx_http_recsys_variable_source() */
#define NGX_HTTP_RECSYS_VAR_NARRATIVE  0
#define NGX_HTTP_RECSYS_VAR_EMBED      1


static ngx_http_variable_t  ngx_http_recsys_vars[] = {

    { ngx_string("recsys_profile"), NULL, ngx_http_recsys_variable,
      offsetof(ngx_http_recsys_ctx_t, profile), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_items"), NULL, ngx_http_recsys_variable,
      offsetof(ngx_http_recsys_ctx_t, items), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* the experiment arm is the profile that ranked the answer */
    { ngx_string("recsys_variant"), NULL, ngx_http_recsys_variable,
      offsetof(ngx_http_recsys_ctx_t, profile), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* HIT, UPDATING, EXPIRED, MISS, BYPASS, DEGRADED; empty uncached */
    { ngx_string("recsys_cache_status"), NULL, ngx_http_recsys_variable,
      offsetof(ngx_http_recsys_ctx_t, cache_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_narrative_source"), NULL,
      ngx_http_recsys_variable_source, NGX_HTTP_RECSYS_VAR_NARRATIVE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* the answer's embed_source, "cache" for a model vector from the cache */
    { ngx_string("recsys_embed_source"), NULL,
      ngx_http_recsys_variable_source, NGX_HTTP_RECSYS_VAR_EMBED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_took_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, took_ms), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* stage timings are kept in microseconds and logged in milliseconds */
    { ngx_string("recsys_parse_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_parse) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_embed_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_embed) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_retrieve_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_retrieve) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_rank_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_rank) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_narrative_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_narrative) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("recsys_render_ms"), NULL, ngx_http_recsys_variable_ms,
      offsetof(ngx_http_recsys_ctx_t, us_render) | 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_recsys_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_recsys_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t              *s;
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/* data is the field's offset; its low bit says the field is microseconds */

static ngx_int_t
ngx_http_recsys_variable_ms(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    double                  ms;
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ms = *(double *) ((char *) ctx + (data & ~(uintptr_t) 1));

    if (data & 1) {
        ms /= 1000;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 5);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%.3f", ms) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/* where a part of an answer with items came from, by data */

static ngx_int_t
ngx_http_recsys_variable_source(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char             *s;
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    /* only answers that carry items carry a narrative, a cached one too */
    if (ctx == NULL || ctx->items.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == NGX_HTTP_RECSYS_VAR_NARRATIVE) {
        s = ctx->narrative_source ? ctx->narrative_source : "template";

    } else if (ctx->embed_cached
               && ctx->result.embed_source == RS_SOURCE_MODEL)
    {
        s = "cache";

    } else {
        s = rs_embed_source_name(ctx->result.embed_source);
    }

    v->data = (u_char *) s;
    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
