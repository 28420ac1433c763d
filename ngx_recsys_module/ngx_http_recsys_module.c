
/*
 * Copyright (C) ngx_recsys authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_recsys_module.h"


static void *ngx_http_recsys_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_recsys_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_recsys_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_recsys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_recsys_set_bounded_num(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_recsys_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_recsys_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_recsys_init_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_recsys_k_bounds = {
    NULL, 1, RS_MAX_K
};


static ngx_conf_num_bounds_t  ngx_http_recsys_candidates_bounds = {
    NULL, 1, RS_MAX_CANDIDATES
};


static ngx_conf_num_bounds_t  ngx_http_recsys_max_tokens_bounds = {
    NULL, 1, 8192
};


static ngx_conf_enum_t  ngx_http_recsys_narrative_modes[] = {
    { ngx_string("off"), NGX_HTTP_RECSYS_NARRATIVE_OFF },
    { ngx_string("template"), NGX_HTTP_RECSYS_NARRATIVE_TEMPLATE },
    { ngx_string("cached"), NGX_HTTP_RECSYS_NARRATIVE_CACHED },
    { ngx_string("sync"), NGX_HTTP_RECSYS_NARRATIVE_SYNC },
    { ngx_string("async"), NGX_HTTP_RECSYS_NARRATIVE_ASYNC },
    { ngx_null_string, 0 }
};


/* the directives of outside services: LLM and embedding model */
#define NGX_HTTP_RECSYS_LLM_CONF                                             \
    NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1


/* the events keep 50 recent items */
static ngx_conf_num_bounds_t  ngx_http_recsys_history_length_bounds = {
    NULL, 1, 50
};


static ngx_command_t  ngx_http_recsys_commands[] = {

    { ngx_string("recsys"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_recsys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_index"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_index_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_query"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, query),
      NULL },

    { ngx_string("recsys_item"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, item),
      NULL },

    { ngx_string("recsys_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, user),
      NULL },

    { ngx_string("recsys_k"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_set_bounded_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, k),
      &ngx_http_recsys_k_bounds },

    { ngx_string("recsys_candidates"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_set_bounded_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, candidates),
      &ngx_http_recsys_candidates_bounds },

    { ngx_string("recsys_profile"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_recsys_profile_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_use_profile"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_use_profile,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_overlay_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_overlay_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_catalog_patch"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_recsys_catalog_patch,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_understand"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, understand),
      NULL },

    { ngx_string("recsys_format"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_format_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_template"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_template_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_cache_control"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, cache_control),
      NULL },

    { ngx_string("recsys_max_query_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, max_query_length),
      NULL },

    { ngx_string("recsys_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_recsys_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_recsys_main_conf_t, redis),
      NULL },

    { ngx_string("recsys_redis_write"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_recsys_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_recsys_main_conf_t, redis_write),
      NULL },

    { ngx_string("recsys_user_salt"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_user_salt,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_events"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_recsys_events,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_personalize"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, personalize),
      NULL },

    { ngx_string("recsys_history_weight"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_history_weight,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_history_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_set_bounded_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, history_length),
      &ngx_http_recsys_history_length_bounds },

    { ngx_string("recsys_history_exclude"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, history_exclude),
      NULL },

    { ngx_string("recsys_popularity_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_popularity_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_exposures"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, exposures),
      NULL },

    { ngx_string("recsys_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, cache),
      NULL },

    { ngx_string("recsys_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_recsys_cache_ttl,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_popularity_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_recsys_popularity_refresh,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_recsys_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_recsys_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_narrative"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.mode),
      &ngx_http_recsys_narrative_modes },

    { ngx_string("recsys_llm_location"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.location),
      NULL },

    { ngx_string("recsys_llm_api_key_file"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_api_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.authorization),
      NULL },

    { ngx_string("recsys_llm_model"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.model),
      NULL },

    { ngx_string("recsys_llm_temperature"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_llm_temperature,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_llm_max_tokens"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_set_bounded_num,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.max_tokens),
      &ngx_http_recsys_max_tokens_bounds },

    { ngx_string("recsys_llm_json_mode"),
      NGX_HTTP_RECSYS_LLM_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.json_mode),
      NULL },

    { ngx_string("recsys_llm_timeout"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.timeout),
      NULL },

    { ngx_string("recsys_llm_max_response"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.max_response),
      NULL },

    { ngx_string("recsys_llm_negative_ttl"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.negative_ttl),
      NULL },

    { ngx_string("recsys_llm_rerank"),
      NGX_HTTP_RECSYS_LLM_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, llm.rerank),
      NULL },

    { ngx_string("recsys_prompt_template"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_prompt_template,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_llm_banned_terms"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_llm_banned_terms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_embed_location"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_embed_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("recsys_embed_api_key_file"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_http_recsys_api_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, embed.authorization),
      NULL },

    { ngx_string("recsys_embed_model"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, embed.model),
      NULL },

    { ngx_string("recsys_embed_timeout"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, embed.timeout),
      NULL },

    { ngx_string("recsys_embed_max_response"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, embed.max_response),
      NULL },

    { ngx_string("recsys_embed_cache_ttl"),
      NGX_HTTP_RECSYS_LLM_CONF,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_recsys_loc_conf_t, embed.cache_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_recsys_module_ctx = {
    ngx_http_recsys_preconfiguration,      /* preconfiguration */
    ngx_http_recsys_postconfiguration,     /* postconfiguration */

    ngx_http_recsys_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_recsys_create_loc_conf,       /* create location configuration */
    ngx_http_recsys_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_recsys_module = {
    NGX_MODULE_V1,
    &ngx_http_recsys_module_ctx,           /* module context */
    ngx_http_recsys_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_recsys_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_recsys_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->indexes, cf->pool, 2,
                       sizeof(ngx_http_recsys_index_t *))
        != NGX_OK
        || ngx_array_init(&rmcf->profiles, cf->pool, 4,
                          sizeof(ngx_http_recsys_profile_t *))
           != NGX_OK)
    {
        return NULL;
    }

    if (ngx_http_recsys_html_init_main(cf, rmcf) != NGX_OK
        || ngx_http_recsys_llm_init_main(cf, rmcf) != NGX_OK)
    {
        return NULL;
    }

    return rmcf;
}


static void *
ngx_http_recsys_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rlcf->query = NULL;
     *     rlcf->item = NULL;
     *     rlcf->user = NULL;
     *     rlcf->use_profile = NULL;
     *     rlcf->static_profile = NULL;
     *     rlcf->enable = 0;
     *     rlcf->catalog_patch = 0;
     *     rlcf->cache_control = { 0, NULL };
     *     rlcf->vary = { 0, NULL };
     */

    rlcf->index = NGX_CONF_UNSET_PTR;
    rlcf->k = NGX_CONF_UNSET_UINT;
    rlcf->candidates = NGX_CONF_UNSET_UINT;
    rlcf->max_query_length = NGX_CONF_UNSET_SIZE;
    rlcf->format = NGX_CONF_UNSET_UINT;
    rlcf->understand = NGX_CONF_UNSET;
    rlcf->tpl = NGX_CONF_UNSET_PTR;
    rlcf->cache_ttl = NGX_CONF_UNSET;
    rlcf->cache_stale = NGX_CONF_UNSET;
    rlcf->cache = NGX_CONF_UNSET;
    rlcf->exposures = NGX_CONF_UNSET;

    ngx_http_recsys_llm_create_conf(&rlcf->llm);
    ngx_http_recsys_embed_create_conf(&rlcf->embed);
    rlcf->personalize = NGX_CONF_UNSET;
    rlcf->history_weight = NGX_CONF_UNSET;
    rlcf->history_length = NGX_CONF_UNSET_UINT;
    rlcf->history_exclude = NGX_CONF_UNSET;

    return rlcf;
}


static char *
ngx_http_recsys_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_recsys_loc_conf_t *prev = parent;
    ngx_http_recsys_loc_conf_t *conf = child;

    ngx_http_recsys_main_conf_t  *rmcf;

    ngx_conf_merge_ptr_value(conf->index, prev->index, NULL);
    ngx_conf_merge_uint_value(conf->k, prev->k, RS_DEFAULT_K);
    ngx_conf_merge_uint_value(conf->candidates, prev->candidates,
                              RS_DEFAULT_CANDIDATES);
    ngx_conf_merge_size_value(conf->max_query_length,
                              prev->max_query_length, 512);
    ngx_conf_merge_value(conf->understand, prev->understand, 1);
    ngx_conf_merge_uint_value(conf->format, prev->format,
                              NGX_HTTP_RECSYS_FORMAT_JSON);
    ngx_conf_merge_ptr_value(conf->tpl, prev->tpl, NULL);
    ngx_conf_merge_str_value(conf->cache_control, prev->cache_control, "");
    ngx_conf_merge_value(conf->personalize, prev->personalize, 0);
    ngx_conf_merge_value(conf->history_weight, prev->history_weight, 300);
    ngx_conf_merge_uint_value(conf->history_length, prev->history_length,
                              20);
    ngx_conf_merge_value(conf->history_exclude, prev->history_exclude, 1);

    /* "recsys_cache_ttl" sets both */
    ngx_conf_merge_sec_value(conf->cache_ttl, prev->cache_ttl,
                             NGX_HTTP_RECSYS_CACHE_DEFAULT_TTL);
    ngx_conf_merge_sec_value(conf->cache_stale, prev->cache_stale,
                             NGX_HTTP_RECSYS_CACHE_DEFAULT_STALE);
    ngx_conf_merge_value(conf->cache, prev->cache, 0);
    ngx_conf_merge_value(conf->exposures, prev->exposures, 0);

    if (conf->query == NULL) {
        conf->query = prev->query;
    }

    if (conf->item == NULL) {
        conf->item = prev->item;
    }

    if (conf->user == NULL) {
        conf->user = prev->user;
    }

    if (conf->use_profile == NULL) {
        conf->use_profile = prev->use_profile;
        conf->use_profile_file = prev->use_profile_file;
        conf->use_profile_line = prev->use_profile_line;
    }

    if ((conf->enable || conf->catalog_patch) && conf->index == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs a \"recsys_index\" in this "
                           "location or above it",
                           conf->enable ? "recsys" : "recsys_catalog_patch");
        return NGX_CONF_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (conf->enable && conf->exposures && rmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_exposures\" needs \"recsys_redis\"");
        return NGX_CONF_ERROR;
    }

    if (conf->enable && conf->cache
        && rmcf->cache_zone == NULL && rmcf->redis == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_cache\" needs \"recsys_cache_zone\" "
                           "or \"recsys_redis\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_recsys_merge_profile(cf, conf) != NGX_OK
        || ngx_http_recsys_html_merge(cf, conf) != NGX_OK
        || ngx_http_recsys_overlay_check(cf, conf) != NGX_OK
        || ngx_http_recsys_events_check(cf, conf) != NGX_OK
        || ngx_http_recsys_llm_merge(cf, conf, prev) != NGX_OK
        || ngx_http_recsys_embed_merge(cf, conf, prev) != NGX_OK
        || ngx_http_recsys_personal_check(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_recsys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->enable) {
        return "is duplicate";
    }

    rlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_recsys_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_recsys_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_recsys_add_variables(cf);
}


static ngx_int_t
ngx_http_recsys_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_recsys_fetch_init(cf) != NGX_OK
        || ngx_http_recsys_popularity_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_recsys_metrics_init(cf);
}


/*
 * "name:size" of a zone directive, checked like limit_req_zone's; tag
 * keeps zones of different kinds with the same name apart.  The zone
 * comes back without data: a taken name is refused here.
 */

ngx_shm_zone_t *
ngx_http_recsys_shm_zone_add(ngx_conf_t *cf, ngx_str_t *arg, void *tag)
{
    u_char          *p;
    ssize_t          size;
    ngx_str_t        name, s;
    ngx_shm_zone_t  *shm_zone;

    name = *arg;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", arg);
        return NULL;
    }

    name.len = p - name.data;

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone name \"%V\"", arg);
        return NULL;
    }

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", arg);
        return NULL;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", arg);
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NULL;
    }

    return shm_zone;
}


/* like ngx_conf_set_num_slot(), with the value and its bounds in the error */

static char *
ngx_http_recsys_set_bounded_num(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_int_t               n;
    ngx_str_t              *value;
    ngx_uint_t             *field;
    ngx_conf_num_bounds_t  *bounds;

    field = (ngx_uint_t *) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    bounds = cmd->post;
    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n < bounds->low || n > bounds->high) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a number from %i to %i",
                           &value[1], &cmd->name, bounds->low, bounds->high);
        return NGX_CONF_ERROR;
    }

    *field = n;

    return NGX_CONF_OK;
}


/*
 * faiss runs its loops on OpenMP; one worker must stay on one thread, so a
 * search never competes with the other workers for their cores.  The pool
 * is created here, after the fork, never in the master.
 */

static ngx_int_t
ngx_http_recsys_init_process(ngx_cycle_t *cycle)
{
    rs_index_single_thread();

    return ngx_http_recsys_popularity_init_process(cycle);
}
