/*
 * Copyright (C) ngx_recsys authors
 *
 * The "why these picks" narrative from an OpenAI-compatible model, called
 * through a subrequest to recsys_llm_location.  The model is never in the
 * shopper's way: "cached" only reads the cache, "async" answers with the
 * template and fills the cache behind the answer, "sync" waits at most
 * recsys_llm_timeout.  Calls for the same narrative are coalesced: one in
 * flight per key in each worker, the others wait for it or go on without.
 * Every reply passes the guardrails of core/rs_llm.c before it is used
 * or cached; a rejected one is remembered for recsys_llm_negative_ttl.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_LLM_KEY_LEN  16


/* one call in flight, in the pool of the request that started it */
typedef struct {
    ngx_http_recsys_call_t           call;      /* first */
    rs_llm_item_t                   *items;
    size_t                           nitems;
    ngx_str_t                        cache_key;
} ngx_http_recsys_llm_call_t;


/* a rerank call of a request, in its pool */
struct ngx_http_recsys_rerank_s {
    rs_llm_item_t                   *items;
    const char                     **ids;
    size_t                           n;
    ngx_http_recsys_fetch_t         *fetch;
    ngx_str_t                        cache_key;
    ngx_msec_t                       started;
    char                             key[NGX_HTTP_RECSYS_LLM_KEY_LEN + 1];
};


/* a request that needs a narrative, in its own pool */
struct ngx_http_recsys_llm_wait_s {
    ngx_http_recsys_call_wait_t      wait;      /* first */
    rs_llm_item_t                   *items;
    size_t                           nitems;
    ngx_str_t                        cache_key;
    char                             key[NGX_HTTP_RECSYS_LLM_KEY_LEN + 1];
};


static void ngx_http_recsys_llm_prompt_cleanup(void *data);
static ngx_int_t ngx_http_recsys_llm_read_file(ngx_conf_t *cf,
    ngx_str_t *path, size_t max, ngx_str_t *text);
static rs_llm_item_t *ngx_http_recsys_llm_items(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, size_t n);
static void ngx_http_recsys_rerank_reply(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body);
static void ngx_http_recsys_rerank_expired(ngx_http_request_t *r);
static void ngx_http_recsys_rerank_apply(ngx_http_recsys_ctx_t *ctx,
    ngx_str_t *value);
static void ngx_http_recsys_llm_config(ngx_http_recsys_llm_conf_t *lcf,
    rs_llm_config_t *config);
static ngx_int_t ngx_http_recsys_llm_prepare(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_http_recsys_llm_wait_t *w);
static ngx_int_t ngx_http_recsys_llm_intent(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, rs_llm_intent_t *intent);
static void ngx_http_recsys_llm_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t state, ngx_str_t *value);
static ngx_int_t ngx_http_recsys_llm_miss(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_uint_t stale);
static ngx_http_recsys_llm_call_t *ngx_http_recsys_llm_start(
    ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx);
static ngx_int_t ngx_http_recsys_llm_body(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_str_t *body);
static void ngx_http_recsys_llm_reply(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body);
static ngx_int_t ngx_http_recsys_llm_accept(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call, ngx_str_t *body, ngx_str_t *value);
static void ngx_http_recsys_llm_error(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call, const char *reason);
static void ngx_http_recsys_llm_failed(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call);
static void ngx_http_recsys_llm_finish(ngx_http_recsys_llm_call_t *call,
    ngx_str_t *value);
static void ngx_http_recsys_llm_expired(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_llm_use(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_str_t *value, const char *source);
static const char *ngx_http_recsys_llm_strdup(ngx_pool_t *pool,
    const char *s);


void
ngx_http_recsys_llm_create_conf(ngx_http_recsys_llm_conf_t *conf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     conf->location = { 0, NULL };
     *     conf->authorization = { 0, NULL };
     *     conf->model = { 0, NULL };
     *     conf->limits = NULL;
     */

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->temperature = NGX_CONF_UNSET_UINT;
    conf->max_tokens = NGX_CONF_UNSET_UINT;
    conf->json_mode = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->max_response = NGX_CONF_UNSET_SIZE;
    conf->negative_ttl = NGX_CONF_UNSET;
    conf->rerank = NGX_CONF_UNSET;
    conf->prompt = NGX_CONF_UNSET_PTR;
}


ngx_int_t
ngx_http_recsys_llm_merge(ngx_conf_t *cf, ngx_http_recsys_loc_conf_t *conf,
    ngx_http_recsys_loc_conf_t *prev)
{
    ngx_http_recsys_llm_conf_t  *c, *p;

    c = &conf->llm;
    p = &prev->llm;

    ngx_conf_merge_uint_value(c->mode, p->mode,
                              NGX_HTTP_RECSYS_NARRATIVE_TEMPLATE);
    ngx_conf_merge_str_value(c->location, p->location, "");
    ngx_conf_merge_str_value(c->authorization, p->authorization, "");
    ngx_conf_merge_str_value(c->model, p->model, "");
    ngx_conf_merge_uint_value(c->temperature, p->temperature, 20);
    ngx_conf_merge_uint_value(c->max_tokens, p->max_tokens, 300);
    ngx_conf_merge_value(c->json_mode, p->json_mode, 1);
    ngx_conf_merge_msec_value(c->timeout, p->timeout, 1500);
    ngx_conf_merge_size_value(c->max_response, p->max_response, 64 * 1024);
    ngx_conf_merge_sec_value(c->negative_ttl, p->negative_ttl, 30);
    ngx_conf_merge_value(c->rerank, p->rerank, 0);

    ngx_conf_merge_ptr_value(c->prompt, p->prompt, NULL);

    if (c->limits == NULL) {
        c->limits = p->limits;
    }

    if (!conf->enable
        || c->mode == NGX_HTTP_RECSYS_NARRATIVE_OFF
        || c->mode == NGX_HTTP_RECSYS_NARRATIVE_TEMPLATE)
    {
        return NGX_OK;
    }

    /* the model names the narratives in the cache, written by any node */
    if (c->mode == NGX_HTTP_RECSYS_NARRATIVE_CACHED) {
        if (c->model.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"recsys_narrative cached\" needs "
                               "\"recsys_llm_model\"");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (c->location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_narrative %s\" needs "
                           "\"recsys_llm_location\"",
                           c->mode == NGX_HTTP_RECSYS_NARRATIVE_SYNC
                           ? "sync" : "async");
        return NGX_ERROR;
    }

    if (c->model.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_llm_location\" needs "
                           "\"recsys_llm_model\"");
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_recsys_llm_init_main(ngx_conf_t *cf,
    ngx_http_recsys_main_conf_t *rmcf)
{
    ngx_rbtree_init(&rmcf->calls, &rmcf->calls_sentinel,
                    ngx_str_rbtree_insert_value);

    return NGX_OK;
}


/* the file holds the key alone; whitespace around it is dropped */

char *
ngx_http_recsys_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *c = conf;

    u_char     *p, *start, *end;
    ssize_t     n;
    ngx_str_t  *value, path, text, *authorization;

    authorization = (ngx_str_t *) (c + cmd->offset);

    if (authorization->data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_http_recsys_llm_read_file(cf, &path, 4096, &text) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, sizeof("Bearer ") - 1 + text.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    start = text.data;
    end = start + text.len;

    while (end > start && (end[-1] == '\n' || end[-1] == '\r'
                           || end[-1] == ' ' || end[-1] == '\t'))
    {
        end--;
    }

    while (start < end && (*start == ' ' || *start == '\t')) {
        start++;
    }

    for (n = 0; start + n < end; n++) {
        if (start[n] <= ' ' || start[n] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "API key file \"%V\" must hold one key "
                               "without spaces or control characters",
                               &path);
            return NGX_CONF_ERROR;
        }
    }

    if (start == end) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "API key file \"%V\" is empty", &path);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(ngx_cpymem(p, "Bearer ", sizeof("Bearer ") - 1), start,
               end - start);

    authorization->data = p;
    authorization->len = sizeof("Bearer ") - 1 + (end - start);

    return NGX_CONF_OK;
}


/* 0 to 2 with at most two decimals, kept in hundredths */

char *
ngx_http_recsys_llm_temperature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_int_t   t;
    ngx_str_t  *value;

    if (rlcf->llm.temperature != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    t = ngx_atofp(value[1].data, value[1].len, 2);

    if (t == NGX_ERROR || t > 200) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it "
                           "must be a number from 0 to 2", &value[1],
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    rlcf->llm.temperature = t;

    return NGX_CONF_OK;
}


/* parsed once here: a mistake fails nginx -t with the file's line */

char *
ngx_http_recsys_prompt_template(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    char                 err[256];
    ngx_str_t           *value, path, text;
    rs_llm_prompt_t     *prompt;
    ngx_pool_cleanup_t  *cln;

    if (rlcf->llm.prompt != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_http_recsys_llm_read_file(cf, &path, 64 * 1024, &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    prompt = rs_llm_prompt_parse((const char *) text.data, text.len,
                                 (const char *) path.data, err, sizeof(err));
    if (prompt == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "recsys_prompt_template: %s",
                           err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_recsys_llm_prompt_cleanup;
    cln->data = prompt;

    rlcf->llm.prompt = prompt;

    return NGX_CONF_OK;
}


static void
ngx_http_recsys_llm_prompt_cleanup(void *data)
{
    rs_llm_prompt_free(data);
}


/* a whole file of at most max bytes, NUL-terminated, from cf->pool */

static ngx_int_t
ngx_http_recsys_llm_read_file(ngx_conf_t *cf, ngx_str_t *path, size_t max,
    ngx_str_t *text)
{
    off_t            size;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", path);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    size = ngx_file_size(&fi);

    if (size > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than %uz bytes", path, max);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->data = ngx_pnalloc(cf->pool, size + 1);
    if (text->data == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, text->data, size);
    ngx_close_file(fd);

    if (n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", path);
        return NGX_ERROR;
    }

    text->len = size;
    text->data[size] = '\0';

    return NGX_OK;
}


/* one term per line; "#" starts a comment line */

char *
ngx_http_recsys_llm_banned_terms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    u_char           *p, *line, *end, *buf;
    char            **terms;
    ssize_t           n;
    ngx_str_t        *value, path, text;
    ngx_uint_t        count, lineno;
    rs_llm_limits_t  *limits;

    if (rlcf->llm.limits != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_http_recsys_llm_read_file(cf, &path, 1024 * 1024, &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    buf = text.data;
    limits = ngx_pcalloc(cf->pool, sizeof(rs_llm_limits_t));
    terms = ngx_palloc(cf->pool, (text.len / 2 + 1) * sizeof(char *));

    if (limits == NULL || terms == NULL) {
        return NGX_CONF_ERROR;
    }

    end = buf + text.len;
    count = 0;
    lineno = 0;

    for (line = buf; line < end; line = p + 1) {
        lineno++;

        p = ngx_strlchr(line, end, '\n');
        if (p == NULL) {
            p = end;
        }

        *p = '\0';

        while (line < p && (*line == ' ' || *line == '\t')) {
            line++;
        }

        n = p - line;

        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'
                     || line[n - 1] == '\r'))
        {
            line[--n] = '\0';
        }

        if (n == 0 || line[0] == '#') {
            continue;
        }

        if (!rs_utf8_valid(line, n) || n > 128) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid banned term in \"%V\" line %ui: "
                               "not UTF-8 or longer than 128 bytes",
                               &path, lineno);
            return NGX_CONF_ERROR;
        }

        terms[count++] = (char *) line;
    }

    limits->banned = (const char *const *) terms;
    limits->nbanned = count;
    rlcf->llm.limits = limits;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_recsys_narrative(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    value;
    ngx_http_recsys_llm_wait_t  *w;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    switch (rlcf->llm.mode) {

    case NGX_HTTP_RECSYS_NARRATIVE_OFF:
        ctx->narrative_source = "off";
        return NGX_OK;

    case NGX_HTTP_RECSYS_NARRATIVE_TEMPLATE:
        ctx->narrative_source = "template";
        return NGX_OK;
    }

    ctx->narrative_source = "template";

    /* nothing to tell about an empty answer; a HEAD shows no narrative */
    if (ctx->result.nhits == 0 || r->header_only) {
        return NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_llm_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    ctx->llm = w;
    w->wait.r = r;

    rc = ngx_http_recsys_llm_prepare(r, ctx, w);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (ngx_http_recsys_cache_get(r, &w->cache_key, &value)) {

    case NGX_HTTP_RECSYS_CACHE_HIT:
    case NGX_HTTP_RECSYS_CACHE_UPDATING:
        return ngx_http_recsys_llm_use(r, ctx, &value, "cache");

    case NGX_HTTP_RECSYS_CACHE_STALE:
        if (ngx_http_recsys_llm_use(r, ctx, &value, "cache") != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_recsys_llm_miss(r, ctx, 1);

    case NGX_HTTP_RECSYS_CACHE_NEGATIVE:
        return NGX_OK;

    case NGX_ERROR:
        return NGX_ERROR;
    }

    /* the second tier, shared by the nodes, answers within its timeout */
    rc = ngx_http_recsys_cache_fetch(r, &w->cache_key,
                                     ngx_http_recsys_llm_fetched, w);

    if (rc == NGX_OK) {
        ctx->pending++;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_recsys_llm_miss(r, ctx, 0);
}


/* the facts of the items shown, the prompt's intent and the cache key */

static ngx_int_t
ngx_http_recsys_llm_prepare(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx, ngx_http_recsys_llm_wait_t *w)
{
    ngx_str_t                    part;
    rs_llm_intent_t              intent;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    w->nitems = ctx->result.nhits;
    w->items = ngx_http_recsys_llm_items(r, ctx, w->nitems);
    if (w->items == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_recsys_llm_intent(r, ctx, &intent) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rs_llm_cache_key((const char *) rlcf->llm.model.data,
                         rlcf->llm.prompt, &intent, w->items, w->nitems,
                         w->key)
        != 0)
    {
        return NGX_ERROR;
    }

    part.data = (u_char *) w->key;
    part.len = NGX_HTTP_RECSYS_LLM_KEY_LEN;

    return ngx_http_recsys_cache_key(r, "narrative", NULL, &part, 1,
                                     &w->cache_key);
}


/* the facts of the first n items shown, as the prompt and guardrails see */

static rs_llm_item_t *
ngx_http_recsys_llm_items(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    size_t n)
{
    size_t                       i;
    rs_llm_item_t               *items, *it;
    const rs_hit_t              *hit;
    const rs_item_t             *item;
    const rs_store_t            *st;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    st = rs_engine_store(rlcf->index->engine);

    items = ngx_pcalloc(r->pool, n * sizeof(rs_llm_item_t));
    if (items == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        hit = &ctx->result.hits[i];
        item = &st->items[hit->item];
        it = &items[i];

        it->id = rs_store_str(st, item->id);
        it->title = rs_store_str(st, item->title);
        it->brand = rs_store_str(st, item->brand);
        it->currency = rs_store_str(st, item->currency);
        it->category = rs_store_str(st, item->category);

        /* the view: the catalogue with the live overlay over it */
        it->has_price = (hit->view.flags & RS_HAS_PRICE) ? 1 : 0;
        it->price = hit->view.price;
        it->in_stock = (hit->view.flags & RS_HAS_STOCK)
                       ? (hit->view.stock > 0) : -1;
        it->has_rating = (item->flags & RS_HAS_RATING) ? 1 : 0;
        it->rating = item->rating;
        it->attributes = rs_store_str(st, item->extra);
    }

    return items;
}


/* what every request to the model is sent with */

static void
ngx_http_recsys_llm_config(ngx_http_recsys_llm_conf_t *lcf,
    rs_llm_config_t *config)
{
    ngx_memzero(config, sizeof(rs_llm_config_t));
    config->model = (const char *) lcf->model.data;
    config->temperature = lcf->temperature / 100.0;
    config->max_tokens = (int) lcf->max_tokens;
    config->json_mode = lcf->json_mode ? 1 : 0;
}


/* the query and what was understood of it, both passed as quoted data */

static ngx_int_t
ngx_http_recsys_llm_intent(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    rs_llm_intent_t *intent)
{
    char    *s;
    json_t  *o;

    ngx_memzero(intent, sizeof(rs_llm_intent_t));
    intent->query = (const char *) ctx->query.data;
    intent->query_len = ctx->query.len;

    if (!ctx->result.understood_any) {
        return NGX_OK;
    }

    o = json_object();
    if (o == NULL) {
        return NGX_ERROR;
    }

    if (rs_understood_to_json(&ctx->result.understood, o) != 0) {
        json_decref(o);
        return NGX_ERROR;
    }

    s = json_dumps(o, JSON_COMPACT|JSON_SORT_KEYS);
    json_decref(o);

    if (s == NULL) {
        return NGX_ERROR;
    }

    intent->constraints_len = ngx_strlen(s);
    intent->constraints = ngx_pnalloc(r->pool, intent->constraints_len + 1);

    if (intent->constraints != NULL) {
        ngx_memcpy((char *) intent->constraints, s,
                   intent->constraints_len + 1);
    }

    free(s);

    return intent->constraints ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_recsys_llm_fetched(ngx_http_request_t *r, void *data, ngx_int_t rc,
    ngx_uint_t state, ngx_str_t *value)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    if (rc != NGX_OK) {
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_REDIS;
        state = NGX_HTTP_RECSYS_CACHE_MISS;
    }

    switch (state) {

    case NGX_HTTP_RECSYS_CACHE_HIT:
    case NGX_HTTP_RECSYS_CACHE_UPDATING:
        if (ngx_http_recsys_llm_use(r, ctx, value, "cache") != NGX_OK) {
            ctx->narrative_source = "template";
        }

        break;

    case NGX_HTTP_RECSYS_CACHE_STALE:
        if (ngx_http_recsys_llm_use(r, ctx, value, "cache") != NGX_OK) {
            ctx->narrative_source = "template";
        }

        (void) ngx_http_recsys_llm_miss(r, ctx, 1);
        break;

    case NGX_HTTP_RECSYS_CACHE_NEGATIVE:
        break;

    default:
        (void) ngx_http_recsys_llm_miss(r, ctx, 0);
    }

    ngx_http_recsys_wake(r, 1);
}


/*
 * No narrative in the cache (or a stale one): what happens depends on the
 * mode.  Returns NGX_AGAIN when r waits for a call.
 */

static ngx_int_t
ngx_http_recsys_llm_miss(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    ngx_uint_t stale)
{
    ngx_str_t                     key;
    ngx_http_recsys_llm_call_t   *call;
    ngx_http_recsys_llm_wait_t   *w;
    ngx_http_recsys_loc_conf_t   *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    w = ctx->llm;

    if (rlcf->llm.mode == NGX_HTTP_RECSYS_NARRATIVE_CACHED) {
        return NGX_OK;
    }

    key.data = (u_char *) w->key;
    key.len = NGX_HTTP_RECSYS_LLM_KEY_LEN;

    call = (ngx_http_recsys_llm_call_t *) ngx_http_recsys_call_find(r, &key);

    if (call == NULL) {
        call = ngx_http_recsys_llm_start(r, ctx);

        if (call == NULL) {
            /* the call could not start: the template will do */
            ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;
            return NGX_OK;
        }
    }

    /* async answers now; a stale narrative is served while it refreshes */
    if (rlcf->llm.mode == NGX_HTTP_RECSYS_NARRATIVE_ASYNC || stale) {
        return NGX_OK;
    }

    if (ngx_http_recsys_call_join(&call->call, &w->wait) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_recsys_wait_until(r, rlcf->llm.timeout,
                               ngx_http_recsys_llm_expired);

    return NGX_AGAIN;
}


static ngx_http_recsys_llm_call_t *
ngx_http_recsys_llm_start(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    ngx_str_t                     body, key;
    ngx_http_recsys_llm_call_t   *call;
    ngx_http_recsys_llm_wait_t   *w;
    ngx_http_recsys_loc_conf_t   *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    w = ctx->llm;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_llm_call_t));

    if (call == NULL || ngx_http_recsys_llm_body(r, ctx, &body) != NGX_OK) {
        return NULL;
    }

    call->items = w->items;
    call->nitems = w->nitems;
    call->cache_key = w->cache_key;

    key.data = (u_char *) w->key;
    key.len = NGX_HTTP_RECSYS_LLM_KEY_LEN;

    if (ngx_http_recsys_call_start(r, &call->call, &key, &rlcf->llm.location,
                                   &body, &rlcf->llm.authorization,
                                   rlcf->llm.max_response,
                                   ngx_http_recsys_llm_reply)
        != NGX_OK)
    {
        return NULL;
    }

    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_CALLS, NULL, 1);

    return call;
}


static ngx_int_t
ngx_http_recsys_llm_body(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    ngx_str_t *body)
{
    rs_llm_intent_t                 intent;
    rs_llm_config_t                 config;
    ngx_http_recsys_loc_conf_t     *rlcf;
    ngx_http_recsys_body_writer_t   wr;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    ngx_http_recsys_llm_config(&rlcf->llm, &config);

    if (ngx_http_recsys_llm_intent(r, ctx, &intent) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_recsys_body_writer_init(&wr, r->pool);

    if (rs_llm_request_json(&config, rlcf->llm.prompt, &intent,
                            ctx->llm->items, ctx->llm->nitems,
                            ngx_http_recsys_body_write, &wr)
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_recsys_body_join(&wr, body);
}


static void
ngx_http_recsys_llm_reply(ngx_http_request_t *r, void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body)
{
    ngx_http_recsys_llm_call_t *call = data;

    ngx_str_t    value;
    const char  *failure;

    ngx_http_recsys_metrics_observe(NGX_HTTP_RECSYS_METRIC_LLM_SECONDS, NULL,
                                    (ngx_current_msec - call->call.started)
                                    / 1000.0);

    failure = ngx_http_recsys_fetch_failure(rc, status);

    if (failure != NULL) {
        ngx_http_recsys_llm_error(r, call, failure);
        return;
    }

    if (ngx_http_recsys_llm_accept(r, call, body, &value) != NGX_OK) {
        /* counted and logged as a rejection */
        ngx_http_recsys_llm_failed(r, call);
        return;
    }

    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_SUCCESSES, NULL,
                                  1);
    ngx_http_recsys_cache_put(r, &call->cache_key, &value, 0, 0);
    ngx_http_recsys_llm_finish(call, &value);
}


/*
 * The guardrails, then the narrative as the cache keeps it:
 * {"summary": "...", "reasons": ["...", null, ...]} by position.
 */

static ngx_int_t
ngx_http_recsys_llm_accept(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call, ngx_str_t *body, ngx_str_t *value)
{
    int                          rc;
    char                        *s, reason[64];
    size_t                       i;
    json_t                      *o, *reasons;
    ngx_str_t                    label[1];
    rs_llm_narrative_t           nv;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    rc = rs_llm_parse_reply((const char *) body->data, body->len,
                            call->items, call->nitems, rlcf->llm.limits, &nv,
                            reason, sizeof(reason));

    /* a rejected reply was paid for too: the usage comes either way */
    if (nv.prompt_tokens > 0) {
        ngx_str_set(&label[0], "prompt");
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_TOKENS,
                                      label, nv.prompt_tokens);
    }

    if (nv.completion_tokens > 0) {
        ngx_str_set(&label[0], "completion");
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_TOKENS,
                                      label, nv.completion_tokens);
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_INFO, ngx_http_recsys_private_log(r), 0,
                      "recsys: LLM reply rejected: %s", reason);

        label[0].data = (u_char *) reason;
        label[0].len = ngx_strlen(reason);
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_REJECTIONS,
                                      label, 1);
        return NGX_DECLINED;
    }

    o = json_object();
    reasons = json_array();

    if (o == NULL || reasons == NULL) {
        json_decref(o);
        json_decref(reasons);
        rs_llm_narrative_free(&nv);
        return NGX_ERROR;
    }

    json_object_set_new(o, "summary", json_string(nv.summary));
    json_object_set_new(o, "reasons", reasons);

    for (i = 0; i < nv.nreasons; i++) {
        json_array_append_new(reasons, nv.reasons[i]
                                       ? json_string(nv.reasons[i])
                                       : json_null());
    }

    rs_llm_narrative_free(&nv);

    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    if (s == NULL) {
        return NGX_ERROR;
    }

    value->len = ngx_strlen(s);
    value->data = ngx_pnalloc(r->pool, value->len);

    if (value->data != NULL) {
        ngx_memcpy(value->data, s, value->len);
    }

    free(s);

    return value->data ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_recsys_llm_error(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call, const char *reason)
{
    ngx_log_error(NGX_LOG_WARN, ngx_http_recsys_private_log(r), 0,
                  "recsys: LLM call failed: %s", reason);

    ngx_http_recsys_metrics_count_label(NGX_HTTP_RECSYS_METRIC_LLM_ERRORS,
                                        reason);

    ngx_http_recsys_llm_failed(r, call);
}


/*
 * No narrative from this call: remembered for recsys_llm_negative_ttl,
 * unless that is 0 (the cache would take 0 for its own recsys_cache_ttl)
 */

static void
ngx_http_recsys_llm_failed(ngx_http_request_t *r,
    ngx_http_recsys_llm_call_t *call)
{
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (rlcf->llm.negative_ttl) {
        ngx_http_recsys_cache_put(r, &call->cache_key, NULL,
                                  rlcf->llm.negative_ttl, 1);
    }

    ngx_http_recsys_llm_finish(call, NULL);
}


/* hands the narrative (NULL: none) to every request waiting for it */

static void
ngx_http_recsys_llm_finish(ngx_http_recsys_llm_call_t *call,
    ngx_str_t *value)
{
    ngx_http_recsys_ctx_t        *ctx;
    ngx_http_recsys_call_wait_t  *w;

    ngx_http_recsys_call_end(&call->call);

    while ((w = ngx_http_recsys_call_next(&call->call)) != NULL) {
        ctx = ngx_http_get_module_ctx(w->r, ngx_http_recsys_module);

        if (value == NULL) {
            ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;

        } else if (ngx_http_recsys_llm_use(w->r, ctx, value, "llm")
                   != NGX_OK)
        {
            ctx->narrative_source = "template";
        }

        /* each waiter goes on in its own event, not inside this one */
        ngx_post_event(&w->done, &ngx_posted_events);
    }
}


/* recsys_llm_timeout passed: the template now, the call goes on */

static void
ngx_http_recsys_llm_expired(ngx_http_request_t *r)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    /* NGX_OK: the narrative arrived in this very event loop turn */
    if (ngx_http_recsys_call_leave(&ctx->llm->wait) == NGX_DECLINED) {
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_TIMEOUTS,
                                      NULL, 1);
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;
    }
}


/* a narrative as the cache keeps it, checked again since Redis is shared */

static ngx_int_t
ngx_http_recsys_llm_use(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx,
    ngx_str_t *value, const char *source)
{
    size_t        i, n;
    json_t       *o, *summary, *reasons, *v;
    const char   *s;
    const char  **out;

    o = json_loadb((const char *) value->data, value->len, 0, NULL);
    if (o == NULL) {
        return NGX_DECLINED;
    }

    summary = json_object_get(o, "summary");
    reasons = json_object_get(o, "reasons");

    if (!json_is_string(summary) || !json_is_array(reasons)) {
        json_decref(o);
        return NGX_DECLINED;
    }

    n = ngx_min(json_array_size(reasons), ctx->result.nhits);

    out = ngx_pcalloc(r->pool, (ctx->result.nhits + 1) * sizeof(char *));
    s = ngx_http_recsys_llm_strdup(r->pool, json_string_value(summary));

    if (out == NULL || s == NULL) {
        json_decref(o);
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        v = json_array_get(reasons, i);

        if (json_is_string(v)) {
            out[i] = ngx_http_recsys_llm_strdup(r->pool, json_string_value(v));
            if (out[i] == NULL) {
                json_decref(o);
                return NGX_ERROR;
            }
        }
    }

    json_decref(o);

    ctx->summary = s;
    ctx->reasons = out;
    ctx->narrative_source = source;

    return NGX_OK;
}


/*
 * recsys_llm_rerank in sync mode: the model may reorder the first
 * RS_LLM_RERANK_MAX candidates for the shopper's intent.  Pinned and
 * sponsored items keep their slots; only candidate ids are accepted, and
 * anything else leaves the ranker's order.  The orders are cached like
 * narratives.  NGX_AGAIN: r waits for the model.
 */

ngx_int_t
ngx_http_recsys_rerank(ngx_http_request_t *r, ngx_http_recsys_ctx_t *ctx)
{
    size_t                       i;
    ngx_str_t                    parts[2], value, body;
    rs_llm_intent_t              intent;
    rs_llm_config_t              config;
    ngx_http_recsys_rerank_t    *rr;
    ngx_http_recsys_body_writer_t   wr;
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (!rlcf->llm.rerank || rlcf->llm.mode != NGX_HTTP_RECSYS_NARRATIVE_SYNC
        || ctx->result.nhits < 2)
    {
        return NGX_OK;
    }

    rr = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_rerank_t));
    if (rr == NULL) {
        return NGX_ERROR;
    }

    rr->n = ngx_min(ctx->result.nhits, RS_LLM_RERANK_MAX);
    rr->items = ngx_http_recsys_llm_items(r, ctx, rr->n);
    rr->ids = ngx_palloc(r->pool, rr->n * sizeof(char *));

    if (rr->items == NULL || rr->ids == NULL
        || ngx_http_recsys_llm_intent(r, ctx, &intent) != NGX_OK
        || rs_llm_cache_key((const char *) rlcf->llm.model.data, NULL,
                            &intent, rr->items, rr->n, rr->key)
           != 0)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < rr->n; i++) {
        rr->ids[i] = rr->items[i].id;
    }

    parts[0].data = (u_char *) rr->key;
    parts[0].len = NGX_HTTP_RECSYS_LLM_KEY_LEN;
    ngx_str_set(&parts[1], RS_LLM_RERANK_VERSION);

    if (ngx_http_recsys_cache_key(r, "rerank", NULL, parts, 2,
                                  &rr->cache_key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->rerank = rr;

    switch (ngx_http_recsys_cache_get(r, &rr->cache_key, &value)) {

    case NGX_ERROR:
        return NGX_ERROR;

    case NGX_HTTP_RECSYS_CACHE_HIT:
    case NGX_HTTP_RECSYS_CACHE_STALE:
    case NGX_HTTP_RECSYS_CACHE_UPDATING:
        ngx_http_recsys_rerank_apply(ctx, &value);
        return NGX_OK;

    case NGX_HTTP_RECSYS_CACHE_NEGATIVE:
        return NGX_OK;
    }

    ngx_http_recsys_llm_config(&rlcf->llm, &config);

    ngx_http_recsys_body_writer_init(&wr, r->pool);

    if (rs_llm_rerank_request_json(&config, &intent, rr->items, rr->n,
                                   ngx_http_recsys_body_write, &wr)
        != 0
        || ngx_http_recsys_body_join(&wr, &body) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rr->started = ngx_current_msec;

    if (ngx_http_recsys_fetch(r, &rlcf->llm.location, &body,
                              &rlcf->llm.authorization,
                              rlcf->llm.max_response,
                              ngx_http_recsys_rerank_reply, rr, &rr->fetch)
        != NGX_OK)
    {
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;
        return NGX_OK;
    }

    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_CALLS, NULL, 1);

    ctx->calls_running++;
    ctx->pending++;
    ngx_http_recsys_wait_until(r, rlcf->llm.timeout,
                               ngx_http_recsys_rerank_expired);

    return NGX_AGAIN;
}


static void
ngx_http_recsys_rerank_reply(ngx_http_request_t *r, void *data, ngx_int_t rc,
    ngx_uint_t status, ngx_str_t *body)
{
    ngx_http_recsys_rerank_t *rr = data;

    u_char                      *p;
    char                         reason[64];
    size_t                       i, nlisted, *order;
    const char                  *failure;
    ngx_str_t                    value, label[1];
    rs_llm_usage_t               usage;
    ngx_http_recsys_ctx_t       *ctx;
    ngx_http_recsys_loc_conf_t  *rlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    ctx->calls_running--;

    ngx_http_recsys_metrics_observe(NGX_HTTP_RECSYS_METRIC_LLM_SECONDS, NULL,
                                    (ngx_current_msec - rr->started)
                                    / 1000.0);

    order = ngx_palloc(r->pool, rr->n * sizeof(size_t));
    value.data = ngx_pnalloc(r->pool, rr->n * (NGX_SIZE_T_LEN + 1));

    failure = ngx_http_recsys_fetch_failure(rc, status);

    if (failure != NULL || order == NULL || value.data == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_recsys_private_log(r), 0,
                      "recsys: LLM rerank failed: %s",
                      failure ? failure : "no memory");
        ngx_http_recsys_metrics_count_label(NGX_HTTP_RECSYS_METRIC_LLM_ERRORS,
                                            failure ? failure : "no_memory");
        ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;
        goto done;
    }

    if (rs_llm_parse_rerank((const char *) body->data, body->len, rr->ids,
                            rr->n, order, &nlisted, &usage, reason,
                            sizeof(reason))
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, ngx_http_recsys_private_log(r), 0,
                      "recsys: LLM rerank rejected: %s", reason);

        label[0].data = (u_char *) reason;
        label[0].len = ngx_strlen(reason);
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_REJECTIONS,
                                      label, 1);
        ngx_http_recsys_cache_put(r, &rr->cache_key, NULL,
                                  rlcf->llm.negative_ttl, 1);
        goto done;
    }

    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_SUCCESSES, NULL,
                                  1);

    p = value.data;

    for (i = 0; i < rr->n; i++) {
        p = ngx_sprintf(p, "%uz,", order[i]);
    }

    value.len = p - value.data;

    ngx_http_recsys_rerank_apply(ctx, &value);
    ngx_http_recsys_cache_put(r, &rr->cache_key, &value, 0, 0);

done:

    ngx_http_recsys_wake(r, 0);
}


static void
ngx_http_recsys_rerank_expired(ngx_http_request_t *r)
{
    ngx_http_recsys_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_recsys_module);

    ngx_http_recsys_fetch_abandon(ctx->rerank->fetch);
    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_LLM_TIMEOUTS, NULL,
                                  1);

    ctx->degraded |= NGX_HTTP_RECSYS_DEGRADED_LLM;
    ctx->pending--;
}


/*
 * value: the candidates' indexes in the new order, comma-terminated, as
 * cached.  The slots of pinned and sponsored items are kept; the others
 * are filled in that order.
 */

static void
ngx_http_recsys_rerank_apply(ngx_http_recsys_ctx_t *ctx, ngx_str_t *value)
{
    u_char          *p, *end;
    size_t           i, n, next;
    ngx_int_t        k;
    rs_hit_t        *hits, moved[RS_LLM_RERANK_MAX];
    ngx_uint_t       used[RS_LLM_RERANK_MAX];
    size_t           order[RS_LLM_RERANK_MAX];

    n = ctx->rerank->n;
    hits = ctx->result.hits;

    ngx_memzero(used, sizeof(used));
    p = value->data;
    end = p + value->len;

    for (i = 0; i < n; i++) {
        k = 0;

        while (p < end && *p >= '0' && *p <= '9') {
            k = k * 10 + (*p++ - '0');
        }

        if (p == end || *p++ != ',' || k < 0 || (size_t) k >= n || used[k]) {
            /* not an order of these candidates: the ranker's stands */
            return;
        }

        used[k] = 1;
        order[i] = k;
    }

    ngx_memcpy(moved, hits, n * sizeof(rs_hit_t));
    next = 0;

    for (i = 0; i < n; i++) {
        if (moved[i].flags & (RS_HIT_PINNED|RS_HIT_SPONSORED)) {
            continue;
        }

        while (moved[order[next]].flags & (RS_HIT_PINNED|RS_HIT_SPONSORED)) {
            next++;
        }

        hits[i] = moved[order[next++]];
    }

    ctx->reranked = 1;
}


static const char *
ngx_http_recsys_llm_strdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s) + 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NULL;
    }

    return (const char *) ngx_cpymem(p, s, len) - len;
}
