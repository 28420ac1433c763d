
/*
 * Copyright (C) ngx_recsys authors
 *
 * Personalisation: a shopper's history read from Redis for a request.
 *
 * The events endpoint keeps, per hashed user, the recent items (a list,
 * newest first) and the purchased ones (a set).  One MULTI/EXEC reads
 * both from "recsys_redis", which may be a replica near this node, and
 * the ids become rows of the location's index; ids the index does not
 * know (retired items, another catalogue) are skipped.  The caller puts
 * the rows into its rs_request_t: the engine blends the history into the
 * query and never shows the purchases.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "ngx_http_recsys_module.h"


/* what a long-time shopper's purchased set is cut to */
#define NGX_HTTP_RECSYS_HISTORY_MAX_PURCHASED  1000


/* waits for Redis; in the request's pool */
typedef struct {
    ngx_http_request_t              *request;
    ngx_http_recsys_history_pt       handler;
    void                            *data;
    ngx_uint_t                       length;
} ngx_http_recsys_history_ctx_t;


static void ngx_http_recsys_history_done(void *data, ngx_int_t rc,
    redisReply *reply, ngx_uint_t errors);
static ngx_int_t ngx_http_recsys_history_rows(ngx_http_request_t *r,
    const rs_store_t *st, redisReply *list, size_t max, uint32_t **rows,
    size_t *n);


/* recsys_history_weight NUMBER; from 0 to 1 */

char *
ngx_http_recsys_history_weight(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (rlcf->history_weight != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* thousandths */
    n = ngx_atofp(value[1].data, value[1].len, 3);

    if (n == NGX_ERROR || n > 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be a number from "
                           "0 to 1", &value[1]);
        return NGX_CONF_ERROR;
    }

    rlcf->history_weight = n;

    return NGX_CONF_OK;
}


/* called from merge_loc_conf: a personalised location reads Redis */

ngx_int_t
ngx_http_recsys_personal_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    if (!conf->personalize || !conf->enable) {
        return NGX_OK;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_personalize\" needs a \"recsys_redis\" "
                           "in the http block");
        return NGX_ERROR;
    }

    if (rmcf->user_salt.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_personalize\" needs a "
                           "\"recsys_user_salt\" in the http block");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Sends LRANGE of the recent items (recsys_history_length of them) and
 * SMEMBERS of the purchased ones.  NGX_OK: the handler is called exactly
 * once, later, unless the request is freed first.  NGX_DECLINED: nothing
 * was sent: personalisation is off in this location, there is no user,
 * or Redis is not configured or not available now (with
 * recsys_personalize on and a user, that is the degraded answer).
 */

ngx_int_t
ngx_http_recsys_history_fetch(ngx_http_request_t *r, ngx_str_t *user,
    ngx_http_recsys_history_pt handler, void *data)
{
    u_char                          last[NGX_INT_T_LEN];
    size_t                          lrange_len[4], smembers_len[2];
    ngx_str_t                       recent, purchased;
    const char                     *lrange[4], *smembers[2];
    ngx_http_recsys_redis_cmd_t     cmds[4];
    ngx_http_recsys_loc_conf_t     *rlcf;
    ngx_http_recsys_main_conf_t    *rmcf;
    ngx_http_recsys_history_ctx_t  *ctx;

    static const char  *multi = "MULTI";
    static const char  *exec = "EXEC";
    static size_t       multi_len = sizeof("MULTI") - 1;
    static size_t       exec_len = sizeof("EXEC") - 1;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (!rlcf->personalize || user->len == 0 || rmcf->redis == NULL
        || rlcf->index == NULL)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_recsys_user_keys(r, user->data, user->len, &recent,
                                  &purchased)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_recsys_history_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;
    ctx->handler = handler;
    ctx->data = data;
    ctx->length = rlcf->history_length;

    lrange[0] = "LRANGE";
    lrange_len[0] = sizeof("LRANGE") - 1;
    lrange[1] = (const char *) recent.data;
    lrange_len[1] = recent.len;
    lrange[2] = "0";
    lrange_len[2] = 1;
    lrange[3] = (const char *) last;
    lrange_len[3] = ngx_sprintf(last, "%ui", rlcf->history_length - 1)
                    - last;

    smembers[0] = "SMEMBERS";
    smembers_len[0] = sizeof("SMEMBERS") - 1;
    smembers[1] = (const char *) purchased.data;
    smembers_len[1] = purchased.len;

    /* one transaction: the replies of both in the EXEC reply */
    cmds[0].argc = 1;
    cmds[0].argv = &multi;
    cmds[0].argvlen = &multi_len;
    cmds[1].argc = 4;
    cmds[1].argv = lrange;
    cmds[1].argvlen = lrange_len;
    cmds[2].argc = 2;
    cmds[2].argv = smembers;
    cmds[2].argvlen = smembers_len;
    cmds[3].argc = 1;
    cmds[3].argv = &exec;
    cmds[3].argvlen = &exec_len;

    return ngx_http_recsys_redis_send(r, cmds, 4,
                                      ngx_http_recsys_history_done, ctx);
}


/*
 * The Redis client's callback.  Anything but an array of two arrays of
 * strings (a key of another type, a transaction refused) is a failure the
 * Redis error metric counts: the shopper is then served without a history.
 */

static void
ngx_http_recsys_history_done(void *data, ngx_int_t rc, redisReply *reply,
    ngx_uint_t errors)
{
    ngx_http_recsys_history_ctx_t *ctx = data;

    size_t                       nrecent, npurchased;
    uint32_t                    *recent, *purchased;
    ngx_str_t                    reason;
    ngx_http_request_t          *r;
    const rs_store_t            *st;
    ngx_http_recsys_loc_conf_t  *rlcf;

    r = ctx->request;

    recent = NULL;
    purchased = NULL;
    nrecent = 0;
    npurchased = 0;

    if (rc != NGX_OK) {
        goto done;
    }

    if (errors || reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        rc = NGX_DECLINED;

    } else {
        rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
        st = rs_engine_store(rlcf->index->engine);

        rc = ngx_http_recsys_history_rows(r, st, reply->element[0],
                                          ctx->length, &recent, &nrecent);

        if (rc == NGX_OK) {
            rc = ngx_http_recsys_history_rows(r, st, reply->element[1],
                                        NGX_HTTP_RECSYS_HISTORY_MAX_PURCHASED,
                                              &purchased, &npurchased);
        }
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&reason, "Redis sent an unexpected reply");
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_REDIS_ERRORS,
                                      &reason, 1);

        /* the shopper's keys hold something else: theirs, not an outage */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys: redis: unexpected reply to the history of a "
                      "user, served without it");

        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        recent = NULL;
        purchased = NULL;
        nrecent = 0;
        npurchased = 0;
    }

done:

    ctx->handler(r, ctx->data, rc, recent, nrecent, purchased, npurchased);
}


/* NGX_DECLINED: not an array of strings */

static ngx_int_t
ngx_http_recsys_history_rows(ngx_http_request_t *r, const rs_store_t *st,
    redisReply *list, size_t max, uint32_t **rows, size_t *n)
{
    size_t       i;
    uint32_t    *out;
    redisReply  *e;

    if (list->type != REDIS_REPLY_ARRAY) {
        return NGX_DECLINED;
    }

    for (i = 0; i < list->elements; i++) {
        if (list->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_DECLINED;
        }
    }

    if (list->elements == 0) {
        return NGX_OK;
    }

    out = ngx_palloc(r->pool, ngx_min(list->elements, max)
                              * sizeof(uint32_t));
    if (out == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < list->elements && *n < max; i++) {
        e = list->element[i];

        if (e->len <= RS_MAX_ID_LEN
            && rs_store_find(st, e->str, e->len, &out[*n]) == 0)
        {
            (*n)++;
        }
    }

    *rows = out;

    return NGX_OK;
}


/* the location's settings and a fetched history, into an engine request */

void
ngx_http_recsys_history_set(ngx_http_request_t *r, rs_request_t *req,
    uint32_t *recent, size_t nrecent, uint32_t *purchased, size_t npurchased)
{
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    req->history = recent;
    req->nhistory = nrecent;
    req->purchased = purchased;
    req->npurchased = npurchased;
    req->history_weight = (float) rlcf->history_weight / 1000;
    req->show_history = rlcf->history_exclude ? 0 : 1;
}
