
/*
 * Copyright (C) ngx_recsys authors
 *
 * "recsys_profile NAME { ... }" blocks: ranking weights, filters,
 * diversity, caps and business rules a merchandiser reads in nginx.conf;
 * "recsys_use_profile" picks one per request, so split_clients or map
 * run A/B tests from nginx itself.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_recsys_module.h"


static char *ngx_http_recsys_profile_line(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_recsys_profile_filter(ngx_conf_t *cf,
    ngx_http_recsys_profile_t *prof, ngx_str_t *value, ngx_uint_t n);
static ngx_int_t ngx_http_recsys_profile_number(ngx_conf_t *cf,
    ngx_str_t *value, double min, double max, double *out);
static ngx_int_t ngx_http_recsys_profile_match(ngx_conf_t *cf,
    ngx_str_t *kind, ngx_str_t *value, rs_match_t *m);
static ngx_http_recsys_profile_t *ngx_http_recsys_profile_lookup(
    ngx_http_recsys_main_conf_t *rmcf, ngx_str_t *name);


char *
ngx_http_recsys_profile_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    char                        *rv;
    ngx_str_t                   *value;
    ngx_conf_t                   save;
    ngx_http_recsys_profile_t   *prof, **profp;

    value = cf->args->elts;

    if (ngx_http_recsys_profile_lookup(rmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate recsys_profile \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    prof = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_profile_t));
    if (prof == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&prof->boosts, cf->pool, 4, sizeof(rs_boost_t))
        != NGX_OK
        || ngx_array_init(&prof->blocks, cf->pool, 4, sizeof(rs_match_t))
           != NGX_OK
        || ngx_array_init(&prof->pins, cf->pool, 4, sizeof(rs_pin_t))
           != NGX_OK
        || ngx_array_init(&prof->promos, cf->pool, 2, sizeof(rs_promo_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rs_profile_init(&prof->profile);
    prof->name = value[1];

    save = *cf;
    cf->handler = ngx_http_recsys_profile_line;
    cf->handler_conf = (char *) prof;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the arrays stop growing here, so the profile may point into them */
    prof->profile.name = (const char *) prof->name.data;
    prof->profile.name_len = prof->name.len;
    prof->profile.boosts = prof->boosts.elts;
    prof->profile.nboosts = prof->boosts.nelts;
    prof->profile.blocks = prof->blocks.elts;
    prof->profile.nblocks = prof->blocks.nelts;
    prof->profile.pins = prof->pins.elts;
    prof->profile.npins = prof->pins.nelts;
    prof->profile.promos = prof->promos.elts;
    prof->profile.npromos = prof->promos.nelts;

    profp = ngx_array_push(&rmcf->profiles);
    if (profp == NULL) {
        return NGX_CONF_ERROR;
    }

    *profp = prof;

    return NGX_CONF_OK;
}


static char *
ngx_http_recsys_profile_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_recsys_profile_t *prof = (ngx_http_recsys_profile_t *) conf;

    int           sig;
    double        v;
    u_char       *slash;
    ngx_str_t    *value;
    ngx_int_t     n, per;
    ngx_uint_t    nargs;
    rs_pin_t     *pin;
    rs_boost_t   *boost;
    rs_match_t   *block;
    rs_promo_t   *promo;
    rs_profile_t *p;

    value = cf->args->elts;
    nargs = cf->args->nelts;
    p = &prof->profile;

    if (nargs == 3 && ngx_strcmp(value[0].data, "weight") == 0) {
        sig = rs_signal_parse((const char *) value[1].data, value[1].len);

        if (sig < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", a signal is one of "
                               "relevance, popularity, rating, margin, "
                               "freshness, personal", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_recsys_profile_number(cf, &value[2], 0, 100, &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        p->weights[sig] = (float) v;
        return NGX_CONF_OK;
    }

    if (nargs == 2 && ngx_strcmp(value[0].data, "diversity") == 0) {
        if (ngx_http_recsys_profile_number(cf, &value[1], 0, 1, &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        p->diversity = (float) v;
        return NGX_CONF_OK;
    }

    if (nargs == 2 && ngx_strcmp(value[0].data, "half_life") == 0) {
        n = ngx_parse_time(&value[1], 1);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", a half-life is a "
                               "time such as 30d", &value[1]);
            return NGX_CONF_ERROR;
        }

        p->half_life_days = n / 86400.0;
        return NGX_CONF_OK;
    }

    if ((nargs == 2 || nargs == 3)
        && ngx_strcmp(value[0].data, "rating_prior") == 0)
    {
        if (ngx_http_recsys_profile_number(cf, &value[1], 0, 5, &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        p->rating_prior = v;

        if (nargs == 3) {
            if (ngx_http_recsys_profile_number(cf, &value[2], 0, 1e6, &v)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            p->rating_prior_count = v;
        }

        return NGX_CONF_OK;
    }

    if (nargs == 2 && (ngx_strcmp(value[0].data, "max_per_brand") == 0
                       || ngx_strcmp(value[0].data, "max_per_category") == 0))
    {
        n = ngx_atoi(value[1].data, value[1].len);

        if (n < 1 || n > RS_MAX_K) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", a cap is a number "
                               "from 1 to %d", &value[1], RS_MAX_K);
            return NGX_CONF_ERROR;
        }

        if (value[0].data[8] == 'b') {
            p->max_per_brand = (uint32_t) n;

        } else {
            p->max_per_category = (uint32_t) n;
        }

        return NGX_CONF_OK;
    }

    if (nargs >= 2 && ngx_strcmp(value[0].data, "filter") == 0) {
        return ngx_http_recsys_profile_filter(cf, prof, value, nargs);
    }

    if (nargs == 3 && ngx_strcmp(value[0].data, "pin") == 0) {
        n = ngx_atoi(value[2].data, value[2].len);

        if (n < 1 || n > RS_MAX_K) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", a position is a "
                               "number from 1 to %d", &value[2], RS_MAX_K);
            return NGX_CONF_ERROR;
        }

        pin = ngx_array_push(&prof->pins);
        if (pin == NULL) {
            return NGX_CONF_ERROR;
        }

        pin->id = (const char *) value[1].data;
        pin->len = value[1].len;
        pin->position = (uint32_t) n;
        return NGX_CONF_OK;
    }

    if (nargs == 4 && (ngx_strcmp(value[0].data, "boost") == 0
                       || ngx_strcmp(value[0].data, "bury") == 0))
    {
        if (prof->boosts.nelts == RS_MAX_BOOSTS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "too many boost and bury rules, at most %d",
                               RS_MAX_BOOSTS);
            return NGX_CONF_ERROR;
        }

        boost = ngx_array_push(&prof->boosts);
        if (boost == NULL) {
            return NGX_CONF_ERROR;
        }

        /* a boost lifts and a bury lowers: a factor the other way is a typo */
        if (ngx_http_recsys_profile_match(cf, &value[1], &value[2],
                                          &boost->match)
               != NGX_OK
            || ngx_http_recsys_profile_number(cf, &value[3],
                   value[0].data[1] == 'o' ? 1 : 0.0001,
                   value[0].data[1] == 'o' ? 100 : 1, &v)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        boost->factor = (float) v;
        return NGX_CONF_OK;
    }

    if (nargs == 3 && ngx_strcmp(value[0].data, "block") == 0) {
        block = ngx_array_push(&prof->blocks);
        if (block == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_recsys_profile_match(cf, &value[1], &value[2], block)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (nargs == 4 && ngx_strcmp(value[0].data, "promote") == 0) {
        promo = ngx_array_push(&prof->promos);
        if (promo == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_recsys_profile_match(cf, &value[1], &value[2],
                                          &promo->match)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        slash = ngx_strlchr(value[3].data, value[3].data + value[3].len, '/');
        n = NGX_ERROR;
        per = NGX_ERROR;

        if (slash != NULL) {
            n = ngx_atoi(value[3].data, slash - value[3].data);
            per = ngx_atoi(slash + 1, value[3].data + value[3].len - slash - 1);
        }

        if (n < 1 || per < 1 || n > per || per > RS_MAX_K) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", a share of slots is "
                               "written like 1/8", &value[3]);
            return NGX_CONF_ERROR;
        }

        promo->slots = (uint32_t) n;
        promo->per = (uint32_t) per;

        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown or malformed \"%V\" in recsys_profile "
                       "\"%V\"", &value[0], &prof->name);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_recsys_profile_filter(ngx_conf_t *cf,
    ngx_http_recsys_profile_t *prof, ngx_str_t *value, ngx_uint_t n)
{
    double        v;
    rs_filter_t  *f;

    f = &prof->profile.filter;

    if (n == 2 && ngx_strcmp(value[1].data, "in_stock") == 0) {
        f->in_stock = 1;
        return NGX_CONF_OK;
    }

    if (n != 3) {
        goto invalid;
    }

    if (ngx_strcmp(value[1].data, "category") == 0) {
        f->category = (const char *) value[2].data;
        f->category_len = value[2].len;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "brand") == 0) {
        f->brand = (const char *) value[2].data;
        f->brand_len = value[2].len;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "tag") == 0) {
        f->tag = (const char *) value[2].data;
        f->tag_len = value[2].len;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "min_rating") == 0) {
        if (ngx_http_recsys_profile_number(cf, &value[2], 0, 5, &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        f->min_rating = v;
        f->has_min_rating = 1;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "min_price") == 0
        || ngx_strcmp(value[1].data, "max_price") == 0)
    {
        if (ngx_http_recsys_profile_number(cf, &value[2], 0, 1e12, &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (value[1].data[1] == 'i') {
            f->min_price = v;
            f->has_min_price = 1;

        } else {
            f->max_price = v;
            f->has_max_price = 1;
        }

        return NGX_CONF_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\", a filter is in_stock, "
                       "category, brand, tag, min_rating, min_price or "
                       "max_price", &value[1]);

    return NGX_CONF_ERROR;
}


/* plain decimals: the arguments are NUL-terminated by the parser */

static ngx_int_t
ngx_http_recsys_profile_number(ngx_conf_t *cf, ngx_str_t *value, double min,
    double max, double *out)
{
    char    *end;
    u_char  *p;

    for (p = value->data; p < value->data + value->len; p++) {
        if ((*p < '0' || *p > '9') && *p != '.') {
            goto invalid;
        }
    }

    *out = strtod((const char *) value->data, &end);

    if (value->len > 0 && (u_char *) end == value->data + value->len
        && isfinite(*out) && *out >= min && *out <= max)
    {
        return NGX_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\", it must be a number from %.4f "
                       "to %.4f", value, min, max);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_recsys_profile_match(ngx_conf_t *cf, ngx_str_t *kind,
    ngx_str_t *value, rs_match_t *m)
{
    if (ngx_strcmp(kind->data, "id") == 0) {
        m->kind = RS_MATCH_ID;

    } else if (ngx_strcmp(kind->data, "brand") == 0) {
        m->kind = RS_MATCH_BRAND;

    } else if (ngx_strcmp(kind->data, "category") == 0) {
        m->kind = RS_MATCH_CATEGORY;

    } else if (ngx_strcmp(kind->data, "tag") == 0) {
        m->kind = RS_MATCH_TAG;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", a rule matches id, "
                           "brand, category or tag", kind);
        return NGX_ERROR;
    }

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"\"");
        return NGX_ERROR;
    }

    m->value = (const char *) value->data;
    m->len = value->len;

    return NGX_OK;
}


static ngx_http_recsys_profile_t *
ngx_http_recsys_profile_lookup(ngx_http_recsys_main_conf_t *rmcf,
    ngx_str_t *name)
{
    ngx_uint_t                   i;
    ngx_http_recsys_profile_t  **profp;

    profp = rmcf->profiles.elts;

    for (i = 0; i < rmcf->profiles.nelts; i++) {
        if (profp[i]->name.len == name->len
            && ngx_strncmp(profp[i]->name.data, name->data, name->len) == 0)
        {
            return profp[i];
        }
    }

    return NULL;
}


char *
ngx_http_recsys_use_profile(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (rlcf->use_profile != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rlcf->use_profile = ngx_palloc(cf->pool,
                                   sizeof(ngx_http_complex_value_t));
    if (rlcf->use_profile == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = rlcf->use_profile;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* profiles may be defined further down: checked when merging */
    rlcf->use_profile_file = cf->conf_file->file.name;
    rlcf->use_profile_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * A static name is resolved once, and a wrong one fails "nginx -t"; one
 * that holds variables is resolved per request.  Without the directive a
 * profile called "default" replaces the built-in one.
 */

ngx_int_t
ngx_http_recsys_merge_profile(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf)
{
    ngx_str_t                     name;
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (conf->use_profile == NULL) {
        ngx_str_set(&name, "default");
        conf->static_profile = ngx_http_recsys_profile_lookup(rmcf, &name);
        return NGX_OK;
    }

    if (conf->use_profile->lengths != NULL) {
        return NGX_OK;
    }

    conf->static_profile = ngx_http_recsys_profile_lookup(rmcf,
                                                 &conf->use_profile->value);

    if (conf->static_profile == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "unknown recsys_profile \"%V\" in %V:%ui",
                      &conf->use_profile->value, &conf->use_profile_file,
                      conf->use_profile_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


const rs_profile_t *
ngx_http_recsys_find_profile(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf)
{
    ngx_str_t                     name;
    ngx_http_recsys_profile_t    *prof;
    ngx_http_recsys_main_conf_t  *rmcf;

    if (rlcf->use_profile == NULL || rlcf->use_profile->lengths == NULL) {
        return rlcf->static_profile ? &rlcf->static_profile->profile : NULL;
    }

    if (ngx_http_complex_value(r, rlcf->use_profile, &name) != NGX_OK) {
        return NULL;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);
    prof = ngx_http_recsys_profile_lookup(rmcf, &name);

    if (prof == NULL) {
        /* an experiment's typo must not take the shelf down */
        if (name.len) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "recsys: unknown profile \"%V\", using the "
                          "default", &name);
        }

        ngx_str_set(&name, "default");
        prof = ngx_http_recsys_profile_lookup(rmcf, &name);
    }

    return prof ? &prof->profile : NULL;
}
