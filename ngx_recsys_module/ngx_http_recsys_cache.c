
/*
 * Copyright (C) ngx_recsys authors
 *
 * The two-tier cache: results and narratives computed once and served
 * again, first from a shared memory zone every worker of this node reads
 * ("recsys_cache_zone"), then from Redis, which every node shares.
 *
 * Tier 1 is an rbtree of the keys (hashed, then compared exactly) and an
 * LRU queue in one slab pool, like nginx's SSL session cache: when the
 * pool is full, the least recently used entries make room.  Tier 2 is a
 * Redis string per key, written with SET ... PX so Redis drops it when
 * even its stale window is over; its first bytes say until when it is
 * fresh, until when it may be served stale and whether it remembers a
 * failure, so a node reading it knows what it holds.
 *
 * An entry is fresh for "recsys_cache_ttl", then stale for its "stale="
 * window: the first request to find it stale is told STALE and refreshes
 * it, the others are told UPDATING and serve it meanwhile, so a popular
 * key is recomputed once rather than by every request that hits it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>

#include "ngx_http_recsys_module.h"


/* how long one request has to refresh a stale entry before another tries */
#define NGX_HTTP_RECSYS_CACHE_UPDATING_TIME 5

/*
 * A store that finds no room evicts at least this many LRU entries, and
 * as many as it takes to free this many times the entry's size, before
 * it gives up
 */
#define NGX_HTTP_RECSYS_CACHE_EVICT_MAX     64
#define NGX_HTTP_RECSYS_CACHE_EVICT_FACTOR  4

/* the Redis value: "RSC1", u8 flags, 3 zero bytes, u64 fresh until,
 * u64 stale until (seconds since the epoch, little-endian), the value */
#define NGX_HTTP_RECSYS_CACHE_MAGIC         "RSC1"
#define NGX_HTTP_RECSYS_CACHE_HEADER        24
#define NGX_HTTP_RECSYS_CACHE_FLAG_NEGATIVE 0x01

#define NGX_HTTP_RECSYS_SHA1_LEN            20


/* in the zone: the key's bytes, then the value's */
typedef struct {
    ngx_str_node_t                      sn;         /* first: the tree's */
    ngx_queue_t                         queue;      /* LRU, newest first */
    time_t                              expire;     /* fresh until */
    time_t                              stale;      /* served until */
    time_t                              updating;   /* refreshed until */
    size_t                              value_len;
    unsigned                            negative:1;
    u_char                              data[1];
} ngx_http_recsys_cache_node_t;


typedef struct {
    ngx_rbtree_t                        rbtree;
    ngx_rbtree_node_t                   sentinel;
    ngx_queue_t                         lru;
    ngx_uint_t                          count;
    time_t                              full_logged;
} ngx_http_recsys_cache_sh_t;


/* per configuration cycle */
typedef struct {
    ngx_http_recsys_cache_sh_t         *sh;
    ngx_slab_pool_t                    *shpool;
    ngx_shm_zone_t                     *shm_zone;
    ngx_log_t                          *log;
    size_t                              max_entry;
} ngx_http_recsys_cache_ctx_t;


/* one GET waiting for Redis; in the request's pool */
typedef struct {
    ngx_http_request_t                 *request;
    ngx_str_t                           key;
    ngx_http_recsys_cache_handler_pt    handler;
    void                               *data;
} ngx_http_recsys_cache_fetch_t;


static ngx_int_t ngx_http_recsys_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_recsys_cache_ctx_t *ngx_http_recsys_cache_ctx(
    ngx_http_request_t *r);
static void ngx_http_recsys_cache_store(ngx_http_recsys_cache_ctx_t *ctx,
    ngx_str_t *key, ngx_str_t *value, time_t expire, time_t stale,
    ngx_uint_t negative, time_t updating);
static void ngx_http_recsys_cache_free_node(ngx_http_recsys_cache_ctx_t *ctx,
    ngx_http_recsys_cache_node_t *node);
static void ngx_http_recsys_cache_expire(ngx_http_recsys_cache_ctx_t *ctx,
    time_t now);
static void ngx_http_recsys_cache_redis_set(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value, time_t expire, time_t stale,
    ngx_uint_t negative);
static void ngx_http_recsys_cache_fetched(void *data, ngx_int_t rc,
    redisReply *reply, ngx_uint_t errors);
static ngx_uint_t ngx_http_recsys_cache_parse(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *value, time_t *expire, time_t *stale);
static void ngx_http_recsys_cache_count(ngx_uint_t state, ngx_str_t *tier);
static u_char *ngx_http_recsys_cache_le64(u_char *p, uint64_t v);
static uint64_t ngx_http_recsys_cache_read_le64(const u_char *p);


/* the tag tells cache zones apart from the other kinds on reload */
static ngx_uint_t  ngx_http_recsys_cache_tag;

static ngx_str_t  ngx_http_recsys_cache_tier_shm = ngx_string("shm");
static ngx_str_t  ngx_http_recsys_cache_tier_redis = ngx_string("redis");


/* recsys_cache_zone name:size; */

char *
ngx_http_recsys_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_str_t                    *value;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_recsys_cache_ctx_t  *ctx;

    if (rmcf->cache_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_cache_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_http_recsys_shm_zone_add(cf, &value[1],
                                            &ngx_http_recsys_cache_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->shm_zone = shm_zone;

    /* the cycle's error_log, open by the time the zone is set up */
    ctx->log = &cf->cycle->new_log;

    /* one entry never takes more than a sixteenth of the zone */
    ctx->max_entry = shm_zone->shm.size / 16;

    shm_zone->init = ngx_http_recsys_cache_init_zone;
    shm_zone->data = ctx;

    rmcf->cache_zone = shm_zone;

    return NGX_CONF_OK;
}


/* recsys_cache_ttl time [stale=time]; */

char *
ngx_http_recsys_cache_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_str_t  *value, s;
    ngx_int_t   ttl, stale;

    if (rlcf->cache_ttl != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 6 && ngx_strncmp(value[1].data, "stale=", 6) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": the time to live comes "
                           "first", &value[1]);
        return NGX_CONF_ERROR;
    }

    ttl = ngx_parse_time(&value[1], 1);

    if (ttl == NGX_ERROR || ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    stale = NGX_HTTP_RECSYS_CACHE_DEFAULT_STALE;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "stale=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 6;
        s.len = value[2].len - 6;

        stale = ngx_parse_time(&s, 1);

        if (stale == NGX_ERROR || s.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    rlcf->cache_ttl = ttl;
    rlcf->cache_stale = stale;

    return NGX_CONF_OK;
}


/*
 * Runs in the master for every configuration: a reload that keeps the
 * zone's name and size keeps its entries.  The tree's insert function is
 * nginx's own, so its address in the zone stays valid even when a reload
 * loads a rebuilt module.
 */

static ngx_int_t
ngx_http_recsys_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_recsys_cache_ctx_t  *octx = data;

    size_t                        len;
    ngx_uint_t                    count;
    ngx_http_recsys_cache_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        ngx_shmtx_lock(&ctx->shpool->mutex);
        count = ctx->sh->count;
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                      "recsys_cache_zone \"%V\": %ui entries kept from the "
                      "previous configuration", &shm_zone->shm.name, count);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_recsys_cache_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->lru);
    ctx->sh->count = 0;
    ctx->sh->full_logged = 0;

    len = sizeof(" in recsys_cache_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in recsys_cache_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is the normal state of an LRU: entries are evicted */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Tier 1.  The value is copied into the request's pool; the entry becomes
 * the most recently used.  MISS without a zone.
 */

ngx_int_t
ngx_http_recsys_cache_get(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    u_char                        *p;
    time_t                         now;
    uint32_t                       hash;
    ngx_uint_t                     state;
    ngx_http_recsys_cache_sh_t    *sh;
    ngx_http_recsys_cache_ctx_t   *ctx;
    ngx_http_recsys_cache_node_t  *node;

    ngx_str_null(value);

    ctx = ngx_http_recsys_cache_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    sh = ctx->sh;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_time();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = (ngx_http_recsys_cache_node_t *)
               ngx_str_rbtree_lookup(&sh->rbtree, key, hash);

    if (node != NULL && now >= node->stale) {
        ngx_http_recsys_cache_free_node(ctx, node);
        node = NULL;
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_http_recsys_cache_count(NGX_HTTP_RECSYS_CACHE_MISS,
                                    &ngx_http_recsys_cache_tier_shm);
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    if (node->negative) {
        state = NGX_HTTP_RECSYS_CACHE_NEGATIVE;

    } else if (now < node->expire) {
        state = NGX_HTTP_RECSYS_CACHE_HIT;

    } else if (now < node->updating) {
        state = NGX_HTTP_RECSYS_CACHE_UPDATING;

    } else {
        node->updating = now + NGX_HTTP_RECSYS_CACHE_UPDATING_TIME;
        state = NGX_HTTP_RECSYS_CACHE_STALE;
    }

    if (node->value_len) {
        p = ngx_pnalloc(r->pool, node->value_len);
        if (p == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }

        ngx_memcpy(p, node->data + node->sn.str.len, node->value_len);

        value->data = p;
        value->len = node->value_len;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&sh->lru, &node->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_http_recsys_cache_count(state, &ngx_http_recsys_cache_tier_shm);

    return state;
}


/*
 * Both tiers.  ttl 0 is the location's "recsys_cache_ttl"; a failure
 * marker (negative) has no stale window and value may be NULL.  The
 * Redis write is not waited for, and nobody is told if it fails: the
 * Redis client counts and logs that.
 */

void
ngx_http_recsys_cache_put(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value, time_t ttl, ngx_uint_t negative)
{
    time_t                        now, expire, stale;
    ngx_str_t                     empty;
    ngx_http_recsys_cache_ctx_t  *ctx;
    ngx_http_recsys_loc_conf_t   *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (value == NULL) {
        ngx_str_null(&empty);
        value = &empty;
    }

    now = ngx_time();
    expire = now + (ttl ? ttl : rlcf->cache_ttl);
    stale = negative ? expire : expire + rlcf->cache_stale;

    if (stale <= now) {
        return;
    }

    ctx = ngx_http_recsys_cache_ctx(r);

    if (ctx != NULL) {
        ngx_http_recsys_cache_store(ctx, key, value, expire, stale, negative,
                                    0);
    }

    ngx_http_recsys_cache_redis_set(r, key, value, expire, stale, negative);
}


/*
 * Tier 2: GET from Redis.  NGX_OK: the handler is called exactly once,
 * later, from the Redis connection's event (the caller finalizes the
 * request and runs the posted requests there), unless the request is
 * freed first.  NGX_DECLINED: no "recsys_redis", or Redis is skipped now
 * (backing off, circuit open); NGX_ERROR: no memory.
 */

ngx_int_t
ngx_http_recsys_cache_fetch(ngx_http_request_t *r, ngx_str_t *key,
    ngx_http_recsys_cache_handler_pt handler, void *data)
{
    size_t                          argvlen[2];
    const char                     *argv[2];
    ngx_http_recsys_main_conf_t    *rmcf;
    ngx_http_recsys_cache_fetch_t  *f;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->redis == NULL) {
        return NGX_DECLINED;
    }

    f = ngx_palloc(r->pool, sizeof(ngx_http_recsys_cache_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    /* the key outlives the caller's copy: a hit is stored under it */
    f->key.data = ngx_pstrdup(r->pool, key);
    if (f->key.data == NULL) {
        return NGX_ERROR;
    }

    f->key.len = key->len;
    f->request = r;
    f->handler = handler;
    f->data = data;

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    return ngx_http_recsys_redis_command(r, ngx_http_recsys_cache_fetched, f,
                                         2, argv, argvlen);
}


/*
 * recsys:c:<index version>:<kind>:<sha1>, the SHA-1 over the profile's
 * fingerprint and the parts, each with its length so that no two lists
 * of parts hash alike.  A cryptographic hash, since a shopper chooses the
 * parts: nobody can aim a query at another query's entry.  profile NULL
 * is the index's default profile, which the index version covers.
 * NGX_DECLINED in a location without "recsys_index".
 */

ngx_int_t
ngx_http_recsys_cache_key(ngx_http_request_t *r, const char *kind,
    const rs_profile_t *profile, ngx_str_t *parts, ngx_uint_t nparts,
    ngx_str_t *key)
{
    u_char                      *p;
    size_t                       len;
    uint64_t                     fp;
    ngx_uint_t                   i;
    ngx_sha1_t                   sha1;
    const char                  *version;
    u_char                       buf[8], digest[NGX_HTTP_RECSYS_SHA1_LEN];
    ngx_http_recsys_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);

    if (rlcf->index == NULL) {
        return NGX_DECLINED;
    }

    version = rs_engine_version(rlcf->index->engine);
    fp = profile ? rs_profile_fingerprint(profile) : 0;

    ngx_sha1_init(&sha1);

    ngx_http_recsys_cache_le64(buf, fp);
    ngx_sha1_update(&sha1, buf, sizeof(buf));

    for (i = 0; i < nparts; i++) {
        ngx_http_recsys_cache_le64(buf, parts[i].len);
        ngx_sha1_update(&sha1, buf, sizeof(buf));
        ngx_sha1_update(&sha1, parts[i].data, parts[i].len);
    }

    ngx_sha1_final(digest, &sha1);

    len = sizeof("recsys:c:::") - 1 + ngx_strlen(version) + ngx_strlen(kind)
          + 2 * NGX_HTTP_RECSYS_SHA1_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;

    p = ngx_sprintf(p, "recsys:c:%s:%s:", version, kind);
    p = ngx_hex_dump(p, digest, NGX_HTTP_RECSYS_SHA1_LEN);

    key->len = p - key->data;

    return NGX_OK;
}


static ngx_http_recsys_cache_ctx_t *
ngx_http_recsys_cache_ctx(ngx_http_request_t *r)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->cache_zone == NULL) {
        return NULL;
    }

    return rmcf->cache_zone->data;
}


/*
 * Replaces the key's entry.  When the pool has no room, the least
 * recently used entries go first; an entry bigger than max_entry is not
 * kept at all, so one large value cannot empty the cache.
 */

static void
ngx_http_recsys_cache_store(ngx_http_recsys_cache_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *value, time_t expire, time_t stale, ngx_uint_t negative,
    time_t updating)
{
    size_t                         size, freed;
    time_t                         now;
    uint32_t                       hash;
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_recsys_cache_sh_t    *sh;
    ngx_http_recsys_cache_node_t  *node, *old;

    size = offsetof(ngx_http_recsys_cache_node_t, data) + key->len
           + value->len;

    if (size > ctx->max_entry) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                       "recsys cache: %uz bytes not kept, at most %uz",
                       size, ctx->max_entry);
        return;
    }

    sh = ctx->sh;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_time();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = (ngx_http_recsys_cache_node_t *)
               ngx_str_rbtree_lookup(&sh->rbtree, key, hash);

    if (node != NULL) {
        ngx_http_recsys_cache_free_node(ctx, node);
    }

    ngx_http_recsys_cache_expire(ctx, now);

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    /*
     * Freeing small chunks makes room for a big entry only once whole
     * pages are free: a big entry may take a few times its size.
     */
    freed = 0;

    for (n = 0; node == NULL && !ngx_queue_empty(&sh->lru); n++) {

        if (n >= NGX_HTTP_RECSYS_CACHE_EVICT_MAX
            && freed >= NGX_HTTP_RECSYS_CACHE_EVICT_FACTOR * size)
        {
            break;
        }

        q = ngx_queue_last(&sh->lru);
        old = ngx_queue_data(q, ngx_http_recsys_cache_node_t, queue);

        freed += offsetof(ngx_http_recsys_cache_node_t, data)
                 + old->sn.str.len + old->value_len;

        ngx_http_recsys_cache_free_node(ctx, old);

        node = ngx_slab_alloc_locked(ctx->shpool, size);
    }

    if (node == NULL) {
        /* once a minute: every store would say it while the zone is full */
        if (now - sh->full_logged >= 60) {
            sh->full_logged = now;

            ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                          "recsys_cache_zone \"%V\": no room for an entry "
                          "of %uz bytes after evicting %ui entries",
                          &ctx->shm_zone->shm.name, size, n);
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    node->sn.node.key = hash;
    node->sn.str.len = key->len;
    node->sn.str.data = node->data;
    node->expire = expire;
    node->stale = stale;
    node->updating = updating;
    node->value_len = value->len;
    node->negative = negative ? 1 : 0;

    ngx_memcpy(node->data, key->data, key->len);

    if (value->len) {
        ngx_memcpy(node->data + key->len, value->data, value->len);
    }

    ngx_rbtree_insert(&sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&sh->lru, &node->queue);
    sh->count++;

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


static void
ngx_http_recsys_cache_free_node(ngx_http_recsys_cache_ctx_t *ctx,
    ngx_http_recsys_cache_node_t *node)
{
    ngx_rbtree_delete(&ctx->sh->rbtree, &node->sn.node);
    ngx_queue_remove(&node->queue);
    ngx_slab_free_locked(ctx->shpool, node);

    ctx->sh->count--;
}


/*
 * Like limit_req's expiry: a store frees the two least recently used
 * entries when they are past their stale time, so dead entries do not
 * wait for the pool to fill up.
 */

static void
ngx_http_recsys_cache_expire(ngx_http_recsys_cache_ctx_t *ctx, time_t now)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_recsys_cache_node_t  *node;

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&ctx->sh->lru)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->lru);
        node = ngx_queue_data(q, ngx_http_recsys_cache_node_t, queue);

        if (now < node->stale) {
            return;
        }

        ngx_http_recsys_cache_free_node(ctx, node);
    }
}


static void
ngx_http_recsys_cache_redis_set(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value, time_t expire, time_t stale, ngx_uint_t negative)
{
    u_char                       *blob, *p;
    size_t                        argvlen[5];
    const char                   *argv[5];
    u_char                        px[NGX_TIME_T_LEN + 3];
    ngx_http_recsys_redis_cmd_t   cmd;
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->redis == NULL) {
        return;
    }

    blob = ngx_pnalloc(r->pool, NGX_HTTP_RECSYS_CACHE_HEADER + value->len);
    if (blob == NULL) {
        return;
    }

    p = ngx_cpymem(blob, NGX_HTTP_RECSYS_CACHE_MAGIC, 4);
    *p++ = negative ? NGX_HTTP_RECSYS_CACHE_FLAG_NEGATIVE : 0;
    *p++ = 0;
    *p++ = 0;
    *p++ = 0;
    p = ngx_http_recsys_cache_le64(p, (uint64_t) expire);
    p = ngx_http_recsys_cache_le64(p, (uint64_t) stale);

    if (value->len) {
        p = ngx_cpymem(p, value->data, value->len);
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;
    argv[2] = (const char *) blob;
    argvlen[2] = p - blob;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (const char *) px;
    argvlen[4] = ngx_sprintf(px, "%T", (stale - ngx_time()) * 1000) - px;

    cmd.argc = 5;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    /*
     * Read from recsys_redis, written to recsys_redis_write when there is
     * one: a replica refuses writes, and through the primary every
     * replica gets the entry.  hiredis copies the arguments when the
     * command is queued.
     */
    (void) ngx_http_recsys_redis_send_to(rmcf->redis_write
                                         ? rmcf->redis_write : rmcf->redis,
                                         r, &cmd, 1, NULL, NULL);
}


static void
ngx_http_recsys_cache_fetched(void *data, ngx_int_t rc, redisReply *reply,
    ngx_uint_t errors)
{
    ngx_http_recsys_cache_fetch_t *f = data;

    time_t                        expire, stale;
    ngx_str_t                     value;
    ngx_uint_t                    state;
    ngx_http_request_t           *r;
    ngx_http_recsys_cache_ctx_t  *ctx;

    r = f->request;

    if (rc != NGX_OK) {
        f->handler(r, f->data, rc, NGX_HTTP_RECSYS_CACHE_MISS, NULL);
        return;
    }

    state = ngx_http_recsys_cache_parse(r, reply, &value, &expire, &stale);

    if (state == (ngx_uint_t) NGX_ERROR) {
        f->handler(r, f->data, NGX_ERROR, NGX_HTTP_RECSYS_CACHE_MISS, NULL);
        return;
    }

    ngx_http_recsys_cache_count(state, &ngx_http_recsys_cache_tier_redis);

    ctx = ngx_http_recsys_cache_ctx(r);

    if (state != NGX_HTTP_RECSYS_CACHE_MISS && ctx != NULL) {
        /* this request refreshes a stale value: others here need not */
        ngx_http_recsys_cache_store(ctx, &f->key, &value, expire, stale,
                            state == NGX_HTTP_RECSYS_CACHE_NEGATIVE,
                            state == NGX_HTTP_RECSYS_CACHE_STALE
                            ? ngx_time() + NGX_HTTP_RECSYS_CACHE_UPDATING_TIME
                            : 0);
    }

    f->handler(r, f->data, NGX_OK, state, &value);
}


/*
 * What Redis answered, as a cache state; the value copied into the
 * request's pool.  Anything that is not a value this module wrote (a key
 * of another type, a string without the header, times that make no
 * sense) is a miss: whoever stores the key next overwrites it.
 * NGX_ERROR: no memory.
 */

static ngx_uint_t
ngx_http_recsys_cache_parse(ngx_http_request_t *r, redisReply *reply,
    ngx_str_t *value, time_t *expire, time_t *stale)
{
    u_char      *s;
    time_t       now;
    uint64_t     e, st;
    const char  *bad;

    ngx_str_null(value);

    if (reply->type == REDIS_REPLY_NIL) {
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    bad = NULL;
    s = (u_char *) reply->str;

    if (reply->type == REDIS_REPLY_ERROR) {
        /* WRONGTYPE: the key holds a list, a hash... */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys cache: the Redis value is a miss: \"%*s\"",
                      (size_t) reply->len, reply->str);
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        bad = "not a string";

    } else if (reply->len < NGX_HTTP_RECSYS_CACHE_HEADER
               || ngx_memcmp(s, NGX_HTTP_RECSYS_CACHE_MAGIC, 4) != 0
               || (s[4] & ~NGX_HTTP_RECSYS_CACHE_FLAG_NEGATIVE)
               || s[5] || s[6] || s[7])
    {
        bad = "no cache header";

    } else {
        e = ngx_http_recsys_cache_read_le64(s + 8);
        st = ngx_http_recsys_cache_read_le64(s + 16);

        if (st < e || st > (uint64_t) NGX_MAX_TIME_T_VALUE
            || ((s[4] & NGX_HTTP_RECSYS_CACHE_FLAG_NEGATIVE) && st != e))
        {
            bad = "invalid times";
        }
    }

    if (bad != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys cache: the Redis value is a miss: %s", bad);
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    now = ngx_time();
    *expire = (time_t) e;
    *stale = (time_t) st;

    if (now >= *stale) {
        return NGX_HTTP_RECSYS_CACHE_MISS;
    }

    value->len = reply->len - NGX_HTTP_RECSYS_CACHE_HEADER;

    if (value->len) {
        value->data = ngx_pnalloc(r->pool, value->len);
        if (value->data == NULL) {
            return (ngx_uint_t) NGX_ERROR;
        }

        ngx_memcpy(value->data, s + NGX_HTTP_RECSYS_CACHE_HEADER, value->len);
    }

    if (s[4] & NGX_HTTP_RECSYS_CACHE_FLAG_NEGATIVE) {
        return NGX_HTTP_RECSYS_CACHE_NEGATIVE;
    }

    return now < *expire ? NGX_HTTP_RECSYS_CACHE_HIT
                         : NGX_HTTP_RECSYS_CACHE_STALE;
}


/* a remembered failure was found, so it counts as a hit */

static void
ngx_http_recsys_cache_count(ngx_uint_t state, ngx_str_t *tier)
{
    ngx_http_recsys_metrics_count(state == NGX_HTTP_RECSYS_CACHE_MISS
                                  ? NGX_HTTP_RECSYS_METRIC_CACHE_MISSES
                                  : NGX_HTTP_RECSYS_METRIC_CACHE_HITS,
                                  tier, 1);
}


static u_char *
ngx_http_recsys_cache_le64(u_char *p, uint64_t v)
{
    ngx_uint_t  i;

    for (i = 0; i < 8; i++) {
        *p++ = (u_char) (v >> (8 * i));
    }

    return p;
}


static uint64_t
ngx_http_recsys_cache_read_le64(const u_char *p)
{
    ngx_uint_t  i;
    uint64_t    v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v |= (uint64_t) p[i] << (8 * i);
    }

    return v;
}
