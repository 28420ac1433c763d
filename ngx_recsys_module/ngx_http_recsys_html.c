
/*
 * Copyright (C) ngx_recsys authors
 *
 * HTML carousel fragments: the answer's format per location and request,
 * logic-less templates parsed once at configuration time, and the HTTP
 * caching headers that let SSI, proxy_cache and CDNs keep the fragment.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ctype.h>

#include "ngx_http_recsys_module.h"
#include "rs_tpl.h"


#define NGX_HTTP_RECSYS_TEMPLATE_MAX  (1024 * 1024)


typedef struct {
    ngx_conf_t  *cf;
    ngx_str_t    dir;
} ngx_http_recsys_loader_t;


static int ngx_http_recsys_tpl_loader(void *data, const char *name,
    size_t len, const char **src, size_t *srclen);
static ngx_int_t ngx_http_recsys_read_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *out, char *err, size_t errlen);
static rs_tpl_t *ngx_http_recsys_tpl_compile(ngx_conf_t *cf, ngx_str_t *src,
    const char *name, ngx_http_recsys_loader_t *loader);
static void ngx_http_recsys_tpl_cleanup(void *data);
static ngx_int_t ngx_http_recsys_vary_add(ngx_conf_t *cf, ngx_array_t *names,
    ngx_http_complex_value_t *cv);


/*
 * The built-in carousel: a list of cards, each a link with image, title,
 * price and why it was picked; no script, no styles beyond class names.
 */
static const char  ngx_http_recsys_default_template[] =
"<section class=\"recsys-carousel\" aria-label=\"Recommended for you\""
" data-profile=\"{{profile}}\" data-index=\"{{index_version}}\">\n"
"{{#narrative}}\n"
"<p class=\"recsys-why\">{{summary}}</p>\n"
"{{/narrative}}\n"
"<ul class=\"recsys-items\">\n"
"{{#items}}\n"
"<li class=\"recsys-card\" data-id=\"{{id}}\">\n"
"<a class=\"recsys-link\"{{#url}} href=\"{{url}}\"{{/url}}>"
"{{#image}}<img class=\"recsys-image\" src=\"{{image}}\" alt=\"\""
" loading=\"lazy\" width=\"160\" height=\"160\">{{/image}}"
"<span class=\"recsys-title\">{{title}}</span></a>\n"
"{{#price_display}}\n"
"<span class=\"recsys-price\">{{price_display}}</span>\n"
"{{/price_display}}\n"
"{{#sponsored}}\n"
"<span class=\"recsys-sponsored\">Sponsored</span>\n"
"{{/sponsored}}\n"
"{{#reason}}\n"
"<p class=\"recsys-reason\">{{reason}}</p>\n"
"{{/reason}}\n"
"</li>\n"
"{{/items}}\n"
"{{^items}}\n"
"<li class=\"recsys-empty\">No recommendations right now.</li>\n"
"{{/items}}\n"
"</ul>\n"
"</section>\n";


ngx_int_t
ngx_http_recsys_html_init_main(ngx_conf_t *cf,
    ngx_http_recsys_main_conf_t *rmcf)
{
    ngx_str_t  src;

    src.data = (u_char *) ngx_http_recsys_default_template;
    src.len = sizeof(ngx_http_recsys_default_template) - 1;

    rmcf->default_tpl = ngx_http_recsys_tpl_compile(cf, &src, "(built-in)",
                                                    NULL);

    return rmcf->default_tpl ? NGX_OK : NGX_ERROR;
}


char *
ngx_http_recsys_format_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_str_t  *value;

    if (rlcf->format != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "json") == 0) {
        rlcf->format = NGX_HTTP_RECSYS_FORMAT_JSON;

    } else if (ngx_strcmp(value[1].data, "html") == 0) {
        rlcf->format = NGX_HTTP_RECSYS_FORMAT_HTML;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be \"json\" or "
                           "\"html\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_recsys_template_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    char                       err[256];
    u_char                    *slash;
    ngx_str_t                 *value, path, src;
    ngx_http_recsys_loader_t   loader;

    if (rlcf->tpl != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_recsys_read_file(cf, &path, &src, err, sizeof(err))
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "recsys_template: %s", err);
        return NGX_CONF_ERROR;
    }

    /* partials are files next to the template, "{{> card}}" is card.mustache */
    slash = path.data + path.len;

    while (slash > path.data && slash[-1] != '/') {
        slash--;
    }

    loader.cf = cf;
    loader.dir.data = path.data;
    loader.dir.len = slash - path.data;

    rlcf->tpl = ngx_http_recsys_tpl_compile(cf, &src, (const char *) path.data,
                                            &loader);

    return rlcf->tpl ? NGX_CONF_OK : NGX_CONF_ERROR;
}


static rs_tpl_t *
ngx_http_recsys_tpl_compile(ngx_conf_t *cf, ngx_str_t *src, const char *name,
    ngx_http_recsys_loader_t *loader)
{
    char                 err[512];
    rs_tpl_t            *tpl;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    if (rs_tpl_parse(&tpl, (const char *) src->data, src->len, name,
                     RS_TPL_STRICT_PARTIALS,
                     loader ? ngx_http_recsys_tpl_loader : NULL, loader,
                     err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "recsys_template: %s", err);
        return NULL;
    }

    cln->handler = ngx_http_recsys_tpl_cleanup;
    cln->data = tpl;

    return tpl;
}


static void
ngx_http_recsys_tpl_cleanup(void *data)
{
    rs_tpl_free(data);
}


static int
ngx_http_recsys_tpl_loader(void *data, const char *name, size_t len,
    const char **src, size_t *srclen)
{
    char                       err[256];
    size_t                     i;
    ngx_str_t                  path, out;
    ngx_http_recsys_loader_t  *loader = data;

    /* a partial is a file beside the template, never a path out of it */
    for (i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == '\\'
            || (name[i] == '.' && i + 1 < len && name[i + 1] == '.'))
        {
            return RS_TPL_NOT_FOUND;
        }
    }

    path.len = loader->dir.len + len + sizeof(".mustache") - 1;
    path.data = ngx_pnalloc(loader->cf->temp_pool, path.len + 1);
    if (path.data == NULL) {
        return RS_TPL_LOAD_ERROR;
    }

    ngx_sprintf(path.data, "%V%*s.mustache%Z", &loader->dir, len, name);

    if (ngx_http_recsys_read_file(loader->cf, &path, &out, err, sizeof(err))
        != NGX_OK)
    {
        return RS_TPL_NOT_FOUND;
    }

    *src = (const char *) out.data;
    *srclen = out.len;

    return 0;
}


static ngx_int_t
ngx_http_recsys_read_file(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *out,
    char *err, size_t errlen)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_snprintf((u_char *) err, errlen - 1, "cannot open \"%V\": %s%Z",
                     path, strerror(ngx_errno));
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_RECSYS_TEMPLATE_MAX)
    {
        ngx_snprintf((u_char *) err, errlen - 1,
                     "\"%V\" is not a readable file of at most 1 MB%Z", path);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->temp_pool, out->len + 1);

    if (out->data == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, out->data, out->len);
    ngx_close_file(fd);

    if (n < 0 || (size_t) n != out->len) {
        ngx_snprintf((u_char *) err, errlen - 1, "cannot read \"%V\"%Z",
                     path);
        return NGX_ERROR;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * The format a request gets: the "format" argument, else an Accept header
 * that asks for exactly one of the two, else the location's.
 */

ngx_int_t
ngx_http_recsys_negotiate(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, ngx_uint_t *format,
    ngx_http_recsys_error_t *err)
{
    ngx_str_t         arg;
    ngx_uint_t        html, json;
    ngx_table_elt_t  *accept;

    *format = rlcf->format;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK
        && arg.len)
    {
        if (arg.len == 4 && ngx_strncmp(arg.data, "json", 4) == 0) {
            *format = NGX_HTTP_RECSYS_FORMAT_JSON;
            return NGX_OK;
        }

        if (arg.len == 4 && ngx_strncmp(arg.data, "html", 4) == 0) {
            *format = NGX_HTTP_RECSYS_FORMAT_HTML;
            return NGX_OK;
        }

        err->code = "invalid_argument";
        ngx_sprintf(err->message, "\"format\" must be json or html%Z");
        return NGX_DECLINED;
    }

#if (NGX_HTTP_HEADERS)
    accept = r->headers_in.accept;
#else
    accept = NULL;
#endif

    if (accept != NULL) {
        html = ngx_strlcasestrn(accept->value.data,
                                accept->value.data + accept->value.len,
                                (u_char *) "text/html", 9 - 1)
               != NULL;
        json = ngx_strlcasestrn(accept->value.data,
                                accept->value.data + accept->value.len,
                                (u_char *) "application/json", 16 - 1)
               != NULL;

        if (html != json) {
            *format = html ? NGX_HTTP_RECSYS_FORMAT_HTML
                           : NGX_HTTP_RECSYS_FORMAT_JSON;
        }
    }

    return NGX_OK;
}


/*
 * Vary names the request headers an answer depends on: Accept, and the
 * headers and cookies the query, user and profile selection read directly.
 */

ngx_int_t
ngx_http_recsys_html_merge(ngx_conf_t *cf, ngx_http_recsys_loc_conf_t *conf)
{
    u_char       *p;
    ngx_str_t    *name;
    ngx_uint_t    i;
    ngx_array_t   names;

    if (!conf->enable) {
        return NGX_OK;
    }

    if (ngx_array_init(&names, cf->temp_pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    name = ngx_array_push(&names);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(name, "Accept");

    if (ngx_http_recsys_vary_add(cf, &names, conf->query) != NGX_OK
        || ngx_http_recsys_vary_add(cf, &names, conf->user) != NGX_OK
        || ngx_http_recsys_vary_add(cf, &names, conf->use_profile) != NGX_OK)
    {
        return NGX_ERROR;
    }

    name = names.elts;
    conf->vary.len = 0;

    for (i = 0; i < names.nelts; i++) {
        conf->vary.len += name[i].len + 2;
    }

    conf->vary.data = ngx_pnalloc(cf->pool, conf->vary.len);
    if (conf->vary.data == NULL) {
        return NGX_ERROR;
    }

    p = conf->vary.data;

    for (i = 0; i < names.nelts; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, name[i].data, name[i].len);
    }

    conf->vary.len = p - conf->vary.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_vary_add(ngx_conf_t *cf, ngx_array_t *names,
    ngx_http_complex_value_t *cv)
{
    u_char     *p, *end, *start;
    ngx_str_t  *name, *seen, header;
    ngx_uint_t  i;

    if (cv == NULL) {
        return NGX_OK;
    }

    end = cv->value.data + cv->value.len;

    for (p = cv->value.data; p < end; p++) {
        if (*p != '$') {
            continue;
        }

        p++;

        if (p < end && *p == '{') {
            p++;
        }

        if (end - p > 7 && ngx_strncmp(p, "cookie_", 7) == 0) {
            ngx_str_set(&header, "Cookie");

        } else if (end - p > 5 && ngx_strncmp(p, "http_", 5) == 0) {
            start = p + 5;

            for (p = start; p < end && (isalnum(*p) || *p == '_'); p++) {
                /* void */
            }

            header.len = p - start;
            header.data = ngx_pnalloc(cf->pool, header.len);
            if (header.data == NULL) {
                return NGX_ERROR;
            }

            /* $http_x_search is the header X-Search */
            for (i = 0; i < header.len; i++) {
                header.data[i] = start[i] == '_' ? '-'
                                 : (i == 0 || start[i - 1] == '_')
                                   ? ngx_toupper(start[i]) : start[i];
            }

            p--;

        } else {
            continue;
        }

        seen = names->elts;

        for (i = 0; i < names->nelts; i++) {
            if (seen[i].len == header.len
                && ngx_strncasecmp(seen[i].data, header.data, header.len)
                   == 0)
            {
                break;
            }
        }

        if (i == names->nelts) {
            name = ngx_array_push(names);
            if (name == NULL) {
                return NGX_ERROR;
            }

            *name = header;
        }
    }

    return NGX_OK;
}
