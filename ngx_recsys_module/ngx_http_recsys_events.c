
/*
 * Copyright (C) ngx_recsys authors
 *
 * The events endpoint: "recsys_events" takes shopper events (views,
 * clicks, carts, purchases) as JSON and writes them to Redis in one
 * MULTI/EXEC pipeline: the user's recent and purchased items, the items'
 * popularity for the location's index version, and click and purchase
 * counters per A/B variant.  They go to "recsys_redis_write" when there
 * is one, to "recsys_redis" otherwise.
 *
 * Everything is validated before anything is written: a bad event refuses
 * the whole body with a 400.  The answer waits for Redis: 202 once the
 * transaction is applied, 503 with Retry-After when Redis cannot take the
 * events, so a client is told rather than its events silently lost.  A 503
 * after a timeout is the one uncertain case: the transaction may still be
 * applied later, so a client that retries may count those events twice.
 *
 * User ids are never stored or logged: the keys carry HMAC-SHA1 of the id
 * keyed with "recsys_user_salt".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include <jansson.h>
#include <hiredis/hiredis.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_EVENTS_MAX          100
#define NGX_HTTP_RECSYS_EVENTS_MAX_BODY     (64 * 1024)
#define NGX_HTTP_RECSYS_EVENTS_USER_MAX     256
#define NGX_HTTP_RECSYS_EVENTS_VARIANT_MAX  64
#define NGX_HTTP_RECSYS_EVENTS_REQID_MAX    128
#define NGX_HTTP_RECSYS_EVENTS_SALT_MIN     16

/* the recent list keeps 50 items: LTRIM 0 49 */
#define NGX_HTTP_RECSYS_EVENTS_RECENT_LAST  "49"

/* 30 days, renewed by every write */
#define NGX_HTTP_RECSYS_EVENTS_TTL          "2592000"

/* at most: LPUSH, LTRIM, EXPIRE, SADD, EXPIRE, ZINCRBY, HINCRBY */
#define NGX_HTTP_RECSYS_EVENTS_CMDS         7

#define NGX_HTTP_RECSYS_SHA1_HEX            40
#define NGX_HTTP_RECSYS_USER_PREFIX         "recsys:user:"


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        weight;    /* the ZINCRBY increment */
    ngx_uint_t                       variant;   /* counted per variant */
    ngx_uint_t                       purchase;  /* kept in the user's set */
} ngx_http_recsys_event_type_t;


/* waits for the transaction; in the request's pool */
typedef struct {
    ngx_http_request_t              *request;
    ngx_uint_t                       accepted;
    struct ngx_http_recsys_event_s  *events;    /* counted once applied */
} ngx_http_recsys_events_ctx_t;


/* what one valid event becomes */
typedef struct ngx_http_recsys_event_s {
    ngx_str_t                        item;
    ngx_str_t                        recent_key;
    ngx_str_t                        purchased_key;
    ngx_str_t                        variant_key;
    ngx_http_recsys_event_type_t    *type;
} ngx_http_recsys_event_t;


/* what each event of a body is parsed with */
typedef struct {
    ngx_http_request_t              *r;
    const rs_store_t                *st;
    ngx_array_t                     *events;
} ngx_http_recsys_events_parse_t;


static ngx_int_t ngx_http_recsys_events_handler(ngx_http_request_t *r);
static void ngx_http_recsys_events_count(ngx_http_recsys_events_ctx_t *ctx);
static void ngx_http_recsys_events_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_events_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_events_parse(ngx_http_request_t *r,
    const rs_store_t *st, ngx_str_t *body, ngx_array_t *events,
    const char **code, u_char *msg, size_t size);
static ngx_int_t ngx_http_recsys_events_element(void *data, void *obj,
    const char **code, u_char *msg, size_t size);
static ngx_int_t ngx_http_recsys_events_parse_one(ngx_http_request_t *r,
    const rs_store_t *st, json_t *obj, ngx_http_recsys_event_t *ev,
    const char **code, u_char *msg, size_t size);
static ngx_int_t ngx_http_recsys_events_commands(ngx_http_request_t *r,
    ngx_array_t *events, ngx_array_t *cmds);
static ngx_int_t ngx_http_recsys_events_push(ngx_array_t *cmds,
    ngx_pool_t *pool, ngx_uint_t argc, ...);
static void ngx_http_recsys_user_hash(ngx_str_t *salt, const u_char *user,
    size_t len, u_char *hex);
static void ngx_http_recsys_events_done(void *data, ngx_int_t rc,
    redisReply *reply, ngx_uint_t errors);
static ngx_int_t ngx_http_recsys_events_unavailable(ngx_http_request_t *r,
    const char *reason);
static ngx_http_recsys_redis_t *ngx_http_recsys_events_redis(
    ngx_http_request_t *r);


static ngx_http_recsys_event_type_t  ngx_http_recsys_event_types[] = {
    { ngx_string("view"), ngx_string("1"), 0, 0 },
    { ngx_string("click"), ngx_string("2"), 1, 0 },
    { ngx_string("add_to_cart"), ngx_string("5"), 0, 0 },
    { ngx_string("purchase"), ngx_string("10"), 1, 1 },
    { ngx_null_string, ngx_null_string, 0, 0 }
};


/*
 * recsys_user_salt STRING;
 *
 * The salt is a secret: the messages never quote it.
 */

char *
ngx_http_recsys_user_salt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_str_t  *value;

    if (rmcf->user_salt.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < NGX_HTTP_RECSYS_EVENTS_SALT_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value of \"recsys_user_salt\": it must "
                           "be at least %d characters long",
                           NGX_HTTP_RECSYS_EVENTS_SALT_MIN);
        return NGX_CONF_ERROR;
    }

    rmcf->user_salt = value[1];

    return NGX_CONF_OK;
}


/* recsys_events; */

char *
ngx_http_recsys_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->events) {
        return "is duplicate";
    }

    rlcf->events = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_recsys_events_handler;

    return NGX_CONF_OK;
}


/* called from merge_loc_conf for every location */

ngx_int_t
ngx_http_recsys_events_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    if (!conf->events) {
        return NGX_OK;
    }

    if (conf->enable || conf->catalog_patch) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_events\" and \"%s\" cannot be in the "
                           "same location",
                           conf->enable ? "recsys" : "recsys_catalog_patch");
        return NGX_ERROR;
    }

    if (conf->index == NULL || conf->index == NGX_CONF_UNSET_PTR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_events\" needs a \"recsys_index\" in "
                           "this location or above it");
        return NGX_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->redis == NULL && rmcf->redis_write == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_events\" needs a \"recsys_redis\" or "
                           "\"recsys_redis_write\" in the http block");
        return NGX_ERROR;
    }

    if (rmcf->user_salt.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_events\" needs a \"recsys_user_salt\" "
                           "in the http block");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_recsys_events_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & NGX_HTTP_POST)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_recsys_send_error(r, NGX_HTTP_NOT_ALLOWED, "POST",
                                          "method_not_allowed",
                                          "only POST is allowed");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_RECSYS_EVENTS_MAX_BODY) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_recsys_send_error(r, NGX_HTTP_BAD_REQUEST, NULL,
                                          "body_too_large",
                                          "the body is larger than "
                                          "65536 bytes");
    }

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_recsys_events_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Reading the body took a reference on the request; the answer, sent now
 * or from the Redis callback, finalizes it once.
 */

static void
ngx_http_recsys_events_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_recsys_events_process(r);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_recsys_events_process(ngx_http_request_t *r)
{
    u_char                         msg[512];
    ngx_int_t                      rc;
    ngx_str_t                      body;
    ngx_array_t                    events, cmds;
    const char                    *code;
    const rs_store_t              *st;
    ngx_http_recsys_loc_conf_t    *rlcf;
    ngx_http_recsys_events_ctx_t  *ctx;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    st = rs_engine_store(rlcf->index->engine);

    rc = ngx_http_recsys_read_body(r, NGX_HTTP_RECSYS_EVENTS_MAX_BODY, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_recsys_send_error(r, NGX_HTTP_BAD_REQUEST, NULL,
                                          "body_too_large",
                                          "the body is larger than "
                                          "65536 bytes");
    }

    if (ngx_array_init(&events, r->pool, 4, sizeof(ngx_http_recsys_event_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_recsys_events_parse(r, st, &body, &events, &code, msg,
                                      sizeof(msg));

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys: events refused: %s", msg);

        return ngx_http_recsys_send_error(r, NGX_HTTP_BAD_REQUEST, NULL,
                                          code, (const char *) msg);
    }

    if (ngx_array_init(&cmds, r->pool,
                       events.nelts * NGX_HTTP_RECSYS_EVENTS_CMDS + 3,
                       sizeof(ngx_http_recsys_redis_cmd_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_recsys_events_commands(r, &events, &cmds) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_recsys_events_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->accepted = events.nelts;
    ctx->events = events.elts;

    rc = ngx_http_recsys_redis_send_to(ngx_http_recsys_events_redis(r), r,
                                       cmds.elts, cmds.nelts,
                                       ngx_http_recsys_events_done, ctx);

    if (rc == NGX_OK) {
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_recsys_events_unavailable(r, NULL);
}


static ngx_int_t
ngx_http_recsys_events_parse(ngx_http_request_t *r, const rs_store_t *st,
    ngx_str_t *body, ngx_array_t *events, const char **code, u_char *msg,
    size_t size)
{
    ngx_http_recsys_events_parse_t  ctx;

    ctx.r = r;
    ctx.st = st;
    ctx.events = events;

    return ngx_http_recsys_parse_elements(body, NGX_HTTP_RECSYS_EVENTS_MAX,
                                          "event", "events", "invalid_event",
                                          "too_many_events",
                                          ngx_http_recsys_events_element, &ctx,
                                          code, msg, size);
}


static ngx_int_t
ngx_http_recsys_events_element(void *data, void *obj, const char **code,
    u_char *msg, size_t size)
{
    ngx_http_recsys_events_parse_t *ctx = data;

    ngx_http_recsys_event_t  *item;

    item = ngx_array_push(ctx->events);
    if (item == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_recsys_events_parse_one(ctx->r, ctx->st, obj, item, code,
                                            msg, size);
}


/*
 * The messages quote item ids, which are the catalogue's, but never the
 * user id.
 */

static ngx_int_t
ngx_http_recsys_events_parse_one(ngx_http_request_t *r, const rs_store_t *st,
    json_t *obj, ngx_http_recsys_event_t *ev, const char **code, u_char *msg,
    size_t size)
{
    u_char                        *p;
    size_t                         len, i;
    json_t                        *v;
    uint32_t                       row;
    const char                    *key, *s;
    ngx_http_recsys_event_type_t  *t;

    ngx_memzero(ev, sizeof(ngx_http_recsys_event_t));

    json_object_foreach(obj, key, v) {
        if (ngx_strcmp(key, "user") != 0
            && ngx_strcmp(key, "item") != 0
            && ngx_strcmp(key, "type") != 0
            && ngx_strcmp(key, "ts") != 0
            && ngx_strcmp(key, "variant") != 0
            && ngx_strcmp(key, "request_id") != 0)
        {
            len = ngx_strlen(key);
            ngx_snprintf(msg, size - 1, "unknown key \"%*s\"%s%Z",
                         ngx_min(len, 64), key, len > 64 ? "..." : "");
            return NGX_DECLINED;
        }
    }

    /* user */

    v = json_object_get(obj, "user");

    if (!json_is_string(v)
        || json_string_length(v) == 0
        || json_string_length(v) > NGX_HTTP_RECSYS_EVENTS_USER_MAX)
    {
        ngx_snprintf(msg, size - 1, "\"user\" must be a string of 1 to %d "
                     "bytes%Z", NGX_HTTP_RECSYS_EVENTS_USER_MAX);
        return NGX_DECLINED;
    }

    if (ngx_http_recsys_user_keys(r, (u_char *) json_string_value(v),
                                  json_string_length(v), &ev->recent_key,
                                  &ev->purchased_key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* item */

    v = json_object_get(obj, "item");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        ngx_snprintf(msg, size - 1, "\"item\" must be a non-empty "
                     "string%Z");
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len > RS_MAX_ID_LEN || rs_store_find(st, s, len, &row) != 0) {
        *code = "unknown_item";
        ngx_snprintf(msg, size - 1, "no item with id \"%*s\"%s in the "
                     "catalog%Z", ngx_min(len, 64), s,
                     len > 64 ? "..." : "");
        return NGX_DECLINED;
    }

    ev->item.data = ngx_pnalloc(r->pool, len);
    if (ev->item.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ev->item.data, s, len);
    ev->item.len = len;

    /* type */

    v = json_object_get(obj, "type");

    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

        for (t = ngx_http_recsys_event_types; t->name.len; t++) {
            if (t->name.len == len
                && ngx_strncmp(t->name.data, s, len) == 0)
            {
                ev->type = t;
                break;
            }
        }
    }

    if (ev->type == NULL) {
        ngx_snprintf(msg, size - 1, "\"type\" must be one of view, click, "
                     "add_to_cart, purchase%Z");
        return NGX_DECLINED;
    }

    /* ts: not stored yet, checked so that clients send it right */

    v = json_object_get(obj, "ts");

    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        ngx_snprintf(msg, size - 1, "\"ts\" must be an integer >= 0%Z");
        return NGX_DECLINED;
    }

    /* request_id: likewise */

    v = json_object_get(obj, "request_id");

    if (v != NULL
        && (!json_is_string(v)
            || json_string_length(v) > NGX_HTTP_RECSYS_EVENTS_REQID_MAX))
    {
        ngx_snprintf(msg, size - 1, "\"request_id\" must be a string of at "
                     "most %d bytes%Z", NGX_HTTP_RECSYS_EVENTS_REQID_MAX);
        return NGX_DECLINED;
    }

    /* variant: part of a key name, so a short plain token */

    v = json_object_get(obj, "variant");

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)
        || json_string_length(v) == 0
        || json_string_length(v) > NGX_HTTP_RECSYS_EVENTS_VARIANT_MAX)
    {
        goto bad_variant;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '-' || s[i] == '.'))
        {
            goto bad_variant;
        }
    }

    if (!ev->type->variant) {
        return NGX_OK;
    }

    ev->variant_key.data = ngx_pnalloc(r->pool,
                                       sizeof("recsys:variant:") - 1 + len);
    if (ev->variant_key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ev->variant_key.data, "recsys:variant:",
                   sizeof("recsys:variant:") - 1);
    p = ngx_cpymem(p, s, len);
    ev->variant_key.len = p - ev->variant_key.data;

    return NGX_OK;

bad_variant:

    ngx_snprintf(msg, size - 1, "\"variant\" must be 1 to %d characters "
                 "of A-Z, a-z, 0-9, \"_\", \"-\" and \".\"%Z",
                 NGX_HTTP_RECSYS_EVENTS_VARIANT_MAX);

    return NGX_DECLINED;
}


/*
 * MULTI, per event: LPUSH + LTRIM + EXPIRE of the user's recent items,
 * SADD + EXPIRE of the user's purchased items for purchases, ZINCRBY of
 * the item's popularity, HINCRBY of the variant's counter for clicks and
 * purchases; then EXPIRE of the popularity key and EXEC.
 */

static ngx_int_t
ngx_http_recsys_events_commands(ngx_http_request_t *r, ngx_array_t *events,
    ngx_array_t *cmds)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                     popular;
    ngx_uint_t                    i;
    const char                   *version;
    ngx_http_recsys_event_t      *ev;
    ngx_http_recsys_loc_conf_t   *rlcf;

    static ngx_str_t  multi = ngx_string("MULTI");
    static ngx_str_t  exec = ngx_string("EXEC");
    static ngx_str_t  lpush = ngx_string("LPUSH");
    static ngx_str_t  ltrim = ngx_string("LTRIM");
    static ngx_str_t  sadd = ngx_string("SADD");
    static ngx_str_t  expire = ngx_string("EXPIRE");
    static ngx_str_t  zincrby = ngx_string("ZINCRBY");
    static ngx_str_t  hincrby = ngx_string("HINCRBY");
    static ngx_str_t  zero = ngx_string("0");
    static ngx_str_t  one = ngx_string("1");
    static ngx_str_t  last = ngx_string(NGX_HTTP_RECSYS_EVENTS_RECENT_LAST);
    static ngx_str_t  ttl = ngx_string(NGX_HTTP_RECSYS_EVENTS_TTL);

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    version = rs_engine_version(rlcf->index->engine);
    len = ngx_strlen(version);

    popular.len = sizeof("recsys:") - 1 + len + sizeof(":popular") - 1;
    popular.data = ngx_pnalloc(r->pool, popular.len);
    if (popular.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(popular.data, "recsys:", sizeof("recsys:") - 1);
    p = ngx_cpymem(p, version, len);
    ngx_memcpy(p, ":popular", sizeof(":popular") - 1);

    if (ngx_http_recsys_events_push(cmds, r->pool, 1, &multi) != NGX_OK) {
        return NGX_ERROR;
    }

    ev = events->elts;

    for (i = 0; i < events->nelts; i++) {
        if (ngx_http_recsys_events_push(cmds, r->pool, 3, &lpush,
                                        &ev[i].recent_key, &ev[i].item)
            != NGX_OK
            || ngx_http_recsys_events_push(cmds, r->pool, 4, &ltrim,
                                           &ev[i].recent_key, &zero, &last)
               != NGX_OK
            || ngx_http_recsys_events_push(cmds, r->pool, 3, &expire,
                                           &ev[i].recent_key, &ttl)
               != NGX_OK
            || ngx_http_recsys_events_push(cmds, r->pool, 4, &zincrby,
                                           &popular, &ev[i].type->weight,
                                           &ev[i].item)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ev[i].type->purchase
            && (ngx_http_recsys_events_push(cmds, r->pool, 3, &sadd,
                                            &ev[i].purchased_key,
                                            &ev[i].item)
                != NGX_OK
                || ngx_http_recsys_events_push(cmds, r->pool, 3, &expire,
                                               &ev[i].purchased_key, &ttl)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }

        if (ev[i].variant_key.len
            && ngx_http_recsys_events_push(cmds, r->pool, 4, &hincrby,
                                           &ev[i].variant_key,
                                           &ev[i].type->name, &one)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_recsys_events_push(cmds, r->pool, 3, &expire, &popular,
                                    &ttl)
        != NGX_OK
        || ngx_http_recsys_events_push(cmds, r->pool, 1, &exec) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one command of argc ngx_str_t * arguments */

static ngx_int_t
ngx_http_recsys_events_push(ngx_array_t *cmds, ngx_pool_t *pool,
    ngx_uint_t argc, ...)
{
    va_list                       args;
    ngx_str_t                    *arg;
    ngx_uint_t                    i;
    ngx_http_recsys_redis_cmd_t  *cmd;

    cmd = ngx_array_push(cmds);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->argc = (int) argc;
    cmd->argv = ngx_palloc(pool, argc * sizeof(const char *));
    cmd->argvlen = ngx_palloc(pool, argc * sizeof(size_t));

    if (cmd->argv == NULL || cmd->argvlen == NULL) {
        return NGX_ERROR;
    }

    va_start(args, argc);

    for (i = 0; i < argc; i++) {
        arg = va_arg(args, ngx_str_t *);
        cmd->argv[i] = (const char *) arg->data;
        cmd->argvlen[i] = arg->len;
    }

    va_end(args);

    return NGX_OK;
}


/*
 * The keys of a user's history, "recsys:user:{hmac}:recent" and
 * "recsys:user:{hmac}:purchased", in the request's pool: the events write
 * them, personalisation reads them.
 */

ngx_int_t
ngx_http_recsys_user_keys(ngx_http_request_t *r, const u_char *user,
    size_t len, ngx_str_t *recent, ngx_str_t *purchased)
{
    u_char                       *p;
    size_t                        size;
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    size = sizeof(NGX_HTTP_RECSYS_USER_PREFIX) - 1 + NGX_HTTP_RECSYS_SHA1_HEX;

    p = ngx_pnalloc(r->pool, 2 * size + sizeof(":recent") - 1
                             + sizeof(":purchased") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    recent->data = p;
    p = ngx_cpymem(p, NGX_HTTP_RECSYS_USER_PREFIX,
                   sizeof(NGX_HTTP_RECSYS_USER_PREFIX) - 1);
    ngx_http_recsys_user_hash(&rmcf->user_salt, user, len, p);
    p = ngx_cpymem(p + NGX_HTTP_RECSYS_SHA1_HEX, ":recent",
                   sizeof(":recent") - 1);
    recent->len = p - recent->data;

    purchased->data = p;
    p = ngx_cpymem(p, recent->data, size);
    p = ngx_cpymem(p, ":purchased", sizeof(":purchased") - 1);
    purchased->len = p - purchased->data;

    return NGX_OK;
}


/* HMAC-SHA1 (RFC 2104) of the user id keyed with the salt, in hex */

static void
ngx_http_recsys_user_hash(ngx_str_t *salt, const u_char *user, size_t len,
    u_char *hex)
{
    u_char      key[64], pad[64], inner[20], mac[20];
    ngx_uint_t  i;
    ngx_sha1_t  sha1;

    ngx_memzero(key, sizeof(key));

    if (salt->len > sizeof(key)) {
        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, salt->data, salt->len);
        ngx_sha1_final(key, &sha1);

    } else {
        ngx_memcpy(key, salt->data, salt->len);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = key[i] ^ 0x36;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, pad, sizeof(pad));
    ngx_sha1_update(&sha1, user, len);
    ngx_sha1_final(inner, &sha1);

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = key[i] ^ 0x5c;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, pad, sizeof(pad));
    ngx_sha1_update(&sha1, inner, sizeof(inner));
    ngx_sha1_final(mac, &sha1);

    ngx_hex_dump(hex, mac, sizeof(mac));

    ngx_explicit_memzero(key, sizeof(key));
    ngx_explicit_memzero(pad, sizeof(pad));
}


/* the Redis client's callback: exactly once, unless the request went */

static void
ngx_http_recsys_events_done(void *data, ngx_int_t rc, redisReply *reply,
    ngx_uint_t errors)
{
    ngx_http_recsys_events_ctx_t *ctx = data;

    size_t               i;
    json_t              *answer;
    redisReply          *e;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (rc == NGX_AGAIN) {
        rc = ngx_http_recsys_events_unavailable(r, "Redis did not answer "
                                                "in time");
        goto done;
    }

    if (rc != NGX_OK) {
        /* the client knows why: lost, refused, shutting down */
        rc = ngx_http_recsys_events_unavailable(r, NULL);
        goto done;
    }

    /* EXEC's reply: an array with one reply per command */

    e = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        e = reply;

    } else {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                e = reply->element[i];
                break;
            }
        }
    }

    if (e != NULL || errors) {
        if (e != NULL && e->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "recsys: redis refused the events: %*s",
                          (size_t) e->len, e->str);

        } else {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "recsys: redis refused the events");
        }

        rc = ngx_http_recsys_events_unavailable(r, "Redis refused the "
                                                "events");
        goto done;
    }

    ngx_http_recsys_events_count(ctx);

    answer = json_pack("{s:I}", "accepted", (json_int_t) ctx->accepted);

    if (answer == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_http_recsys_send_object(r, NGX_HTTP_ACCEPTED, answer);
    json_decref(answer);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_recsys_events_unavailable(ngx_http_request_t *r,
    const char *reason)
{
    time_t            secs;
    u_char           *p;
    const char       *why;
    ngx_table_elt_t  *h;

    secs = ngx_http_recsys_redis_retry_after(ngx_http_recsys_events_redis(r),
                                             &why);

    if (reason == NULL) {
        reason = why;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%T", secs) - p;

    return ngx_http_recsys_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                      "redis_unavailable", reason);
}


/* writes go to the primary when reads go to a replica */

static ngx_http_recsys_redis_t *
ngx_http_recsys_events_redis(ngx_http_request_t *r)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    return rmcf->redis_write ? rmcf->redis_write : rmcf->redis;
}


/*
 * Clicks and purchases per variant beside the exposures the recsys
 * handler counts, so click-through rate per variant is one query; only
 * once Redis applied the events, so a 503 is never counted.
 */

static void
ngx_http_recsys_events_count(ngx_http_recsys_events_ctx_t *ctx)
{
    ngx_str_t                 variant;
    ngx_uint_t                i, family;
    ngx_http_recsys_event_t  *ev;

    ev = ctx->events;

    for (i = 0; i < ctx->accepted; i++) {
        if (ev[i].variant_key.len == 0) {
            continue;
        }

        if (ngx_strcmp(ev[i].type->name.data, "click") == 0) {
            family = NGX_HTTP_RECSYS_METRIC_CLICKS;

        } else if (ngx_strcmp(ev[i].type->name.data, "purchase") == 0) {
            family = NGX_HTTP_RECSYS_METRIC_PURCHASES;

        } else {
            continue;
        }

        variant.data = ev[i].variant_key.data + sizeof("recsys:variant:") - 1;
        variant.len = ev[i].variant_key.len - (sizeof("recsys:variant:") - 1);

        ngx_http_recsys_metrics_count(family, &variant, 1);
    }
}


/*
 * recsys_exposures: the items an answer showed, counted in the variant's
 * hash next to the clicks and purchases the events count, so the
 * click-through rate of a variant is in Redis too.  Not waited for.
 */

void
ngx_http_recsys_events_exposures(ngx_http_request_t *r, ngx_str_t *variant,
    ngx_uint_t n)
{
    u_char                        *key, count[NGX_INT_T_LEN];
    size_t                         argvlen[4];
    const char                    *argv[4];
    ngx_http_recsys_redis_cmd_t    cmd;
    ngx_http_recsys_main_conf_t   *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->redis == NULL || variant->len == 0 || n == 0) {
        return;
    }

    key = ngx_pnalloc(r->pool, sizeof("recsys:variant:") - 1 + variant->len);
    if (key == NULL) {
        return;
    }

    argv[0] = "HINCRBY";
    argvlen[0] = sizeof("HINCRBY") - 1;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_cpymem(ngx_cpymem(key, "recsys:variant:",
                                       sizeof("recsys:variant:") - 1),
                            variant->data, variant->len)
                 - key;
    argv[2] = "exposure";
    argvlen[2] = sizeof("exposure") - 1;
    argv[3] = (const char *) count;
    argvlen[3] = ngx_sprintf(count, "%ui", n) - count;

    cmd.argc = 4;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    (void) ngx_http_recsys_redis_send_to(rmcf->redis_write
                                         ? rmcf->redis_write : rmcf->redis,
                                         r, &cmd, 1, NULL, NULL);
}
