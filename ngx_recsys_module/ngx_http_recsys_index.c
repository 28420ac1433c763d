
/*
 * Copyright (C) ngx_recsys authors
 *
 * Loading index directories at configuration time, in the master, so the
 * workers inherit the pages after fork.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"


static void ngx_http_recsys_index_cleanup(void *data);


char *
ngx_http_recsys_index_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    char                          err[1024];
    ngx_str_t                    *value, path;
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    const rs_engine_model_t      *model;
    ngx_http_recsys_index_t      *index, **indexp;
    ngx_http_recsys_main_conf_t  *rmcf;

    if (rlcf->index != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    /* one copy per directory, however many locations serve it */
    indexp = rmcf->indexes.elts;

    for (i = 0; i < rmcf->indexes.nelts; i++) {
        if (indexp[i]->path.len == path.len
            && ngx_strncmp(indexp[i]->path.data, path.data, path.len) == 0)
        {
            rlcf->index = indexp[i];
            return NGX_CONF_OK;
        }
    }

    index = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_index_t));
    if (index == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() leaves the name NUL-terminated */
    index->path = path;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rs_engine_open(&index->engine, (const char *) path.data, err,
                       sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "recsys_index \"%V\" cannot be loaded: %s",
                           &path, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_recsys_index_cleanup;
    cln->data = index;

    indexp = ngx_array_push(&rmcf->indexes);
    if (indexp == NULL) {
        return NGX_CONF_ERROR;
    }

    *indexp = index;
    rlcf->index = index;

    model = rs_engine_model(index->engine);

    if (model->type == RS_EMBEDDER_BUILTIN) {
        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "recsys_index \"%V\": %uD items, version %s, %s index",
                      &path, rs_engine_store(index->engine)->count,
                      rs_engine_version(index->engine),
                      rs_engine_index_type(index->engine));

        return NGX_CONF_OK;
    }

    /* whoever reads the log must see how queries are searched */
    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "recsys_index \"%V\": %uD items, version %s, %s index "
                  "embedded by model \"%s\" at %s (dim %uD); queries "
                  "without a vector from recsys_embed_location go to its "
                  "lexical companion (dim %uD)",
                  &path, rs_engine_store(index->engine)->count,
                  rs_engine_version(index->engine),
                  rs_engine_index_type(index->engine), model->model,
                  model->endpoint_host, model->dim, model->lexical_dim);

    return NGX_CONF_OK;
}


static void
ngx_http_recsys_index_cleanup(void *data)
{
    ngx_http_recsys_index_t  *index = data;

    rs_engine_close(index->engine);
    index->engine = NULL;
}
