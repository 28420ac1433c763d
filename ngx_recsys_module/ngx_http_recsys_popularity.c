
/*
 * Copyright (C) ngx_recsys authors
 *
 * Live popularity: the counters the events keep in Redis
 * (recsys:{index_version}:popular), read in the background into a shared
 * memory zone where every request finds them without a round trip.
 *
 * Every worker runs a timer, but the zone holds when the next refresh is
 * due and the first worker past it takes it (compare-and-set), so one
 * ZREVRANGE ... WITHSCORES per index reaches Redis per interval, however
 * many workers there are.  The leaders' scores go into the idle one of the
 * two buffers of the index's table, which then becomes the active one; a
 * request reads the buffer that was active when it started.  A buffer is
 * rewritten one interval (a second at least) after it went idle, long
 * after the requests that read it finished.
 *
 * The zone survives reloads.  A table belongs to an index version: a
 * version no longer loaded gives its table up, and a new version starts
 * from an empty one.  The master changes tables under the zone's mutex
 * and a generation that is odd meanwhile; requests that see it changing
 * go without live popularity.  When Redis is unavailable the last scores
 * stay; the failure is logged once, its end once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include <hiredis/hiredis.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_POPULARITY_TABLES   8
#define NGX_HTTP_RECSYS_POPULARITY_VERSION  32
#define NGX_HTTP_RECSYS_POPULARITY_TOP      10000
#define NGX_HTTP_RECSYS_POPULARITY_MAX_TOP  1000000
#define NGX_HTTP_RECSYS_POPULARITY_MIN      1000    /* ms between refreshes */
#define NGX_HTTP_RECSYS_POPULARITY_JITTER   100     /* ms */


typedef struct {
    float                                  *scores;    /* by row */
    uint32_t                               *top;       /* highest first */
    uint32_t                                ntop;
    double                                  max;       /* catalogue + live */
} ngx_http_recsys_popularity_buf_t;


typedef struct {
    ngx_atomic_t                            generation; /* odd: changing */
    ngx_atomic_t                            active;     /* the buffer read */
    ngx_atomic_t                            ready;      /* refreshed once */
    uint32_t                                count;      /* items */
    uint32_t                                capacity;   /* of top */
    ngx_http_recsys_popularity_buf_t        buf[2];
    u_char                                  version[
                                        NGX_HTTP_RECSYS_POPULARITY_VERSION];
} ngx_http_recsys_popularity_table_t;


/* in the zone */
typedef struct {
    ngx_atomic_t                            next;       /* ngx_current_msec */
    ngx_atomic_t                            failing;
    ngx_http_recsys_popularity_table_t      tables[
                                        NGX_HTTP_RECSYS_POPULARITY_TABLES];
} ngx_http_recsys_popularity_sh_t;


typedef struct ngx_http_recsys_popularity_ctx_s
    ngx_http_recsys_popularity_ctx_t;

/* one index of the configuration */
typedef struct {
    ngx_http_recsys_popularity_ctx_t       *ctx;
    ngx_http_recsys_index_t                *index;
    ngx_http_recsys_popularity_table_t     *table;      /* NULL: no room */
    ngx_str_t                               key;
    ngx_uint_t                              pending;    /* a ZREVRANGE */
} ngx_http_recsys_popularity_index_t;


/* per configuration cycle */
struct ngx_http_recsys_popularity_ctx_s {
    ngx_http_recsys_popularity_sh_t        *sh;
    ngx_slab_pool_t                        *shpool;
    ngx_log_t                              *log;
    ngx_http_recsys_main_conf_t            *rmcf;
    ngx_http_recsys_popularity_index_t     *indexes;    /* as rmcf's */
    ngx_uint_t                              nindexes;
    ngx_event_t                             timer;      /* the worker's */
};


static ngx_int_t ngx_http_recsys_popularity_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_recsys_popularity_assign(ngx_shm_zone_t *shm_zone);
static ngx_http_recsys_popularity_table_t *
    ngx_http_recsys_popularity_find_locked(ngx_http_recsys_popularity_sh_t *sh,
    ngx_http_recsys_index_t *index, uint32_t capacity);
static ngx_int_t ngx_http_recsys_popularity_version(
    ngx_http_recsys_popularity_table_t *t, ngx_http_recsys_index_t *index);
static void ngx_http_recsys_popularity_tick(ngx_event_t *ev);
static void ngx_http_recsys_popularity_fetch(
    ngx_http_recsys_popularity_ctx_t *ctx);
static void ngx_http_recsys_popularity_done(void *data, ngx_int_t rc,
    redisReply *reply, ngx_uint_t errors);
static ngx_int_t ngx_http_recsys_popularity_write(
    ngx_http_recsys_popularity_index_t *pi, redisReply *reply);
static void ngx_http_recsys_popularity_failed(
    ngx_http_recsys_popularity_ctx_t *ctx, const char *reason);


/* a distinct tag: a zone of another recsys kind is never taken over */
static ngx_uint_t  ngx_http_recsys_popularity_tag;


/* recsys_popularity_zone name:size; */

char *
ngx_http_recsys_popularity_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_str_t                         *value;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_recsys_popularity_ctx_t  *ctx;

    if (rmcf->popularity_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_popularity_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_http_recsys_shm_zone_add(cf, &value[1],
                                            &ngx_http_recsys_popularity_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the zone is set up once this cycle's error_log is open */
    ctx->log = &cf->cycle->new_log;
    ctx->rmcf = rmcf;

    shm_zone->init = ngx_http_recsys_popularity_init_zone;
    shm_zone->data = ctx;

    rmcf->popularity_zone = shm_zone;

    return NGX_CONF_OK;
}


/* recsys_popularity_refresh time [top=N]; */

char *
ngx_http_recsys_popularity_refresh(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (rmcf->popularity_refresh) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < NGX_HTTP_RECSYS_POPULARITY_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", it must be a time of 1s "
                           "or more", &value[1]);
        return NGX_CONF_ERROR;
    }

    rmcf->popularity_refresh = ms;
    rmcf->popularity_top = NGX_HTTP_RECSYS_POPULARITY_TOP;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "top=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);

            if (n != NGX_ERROR && n >= 1
                && n <= NGX_HTTP_RECSYS_POPULARITY_MAX_TOP)
            {
                rmcf->popularity_top = n;
                continue;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * From postconfiguration, once every index is loaded: the zone and the
 * refresh go together, and each index gets its key.
 */

ngx_int_t
ngx_http_recsys_popularity_init(ngx_conf_t *cf)
{
    u_char                              *p;
    size_t                               len;
    ngx_uint_t                           i;
    const char                          *version;
    ngx_http_recsys_index_t            **indexes;
    ngx_http_recsys_main_conf_t         *rmcf;
    ngx_http_recsys_popularity_ctx_t    *ctx;
    ngx_http_recsys_popularity_index_t  *pi;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->popularity_zone == NULL && rmcf->popularity_refresh == 0) {
        return NGX_OK;
    }

    if (rmcf->popularity_zone == NULL || rmcf->popularity_refresh == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_popularity_zone\" and "
                           "\"recsys_popularity_refresh\" go together");
        return NGX_ERROR;
    }

    if (rmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_popularity_refresh\" needs a "
                           "\"recsys_redis\" in the http block");
        return NGX_ERROR;
    }

    ctx = rmcf->popularity_zone->data;
    ctx->nindexes = rmcf->indexes.nelts;

    ctx->indexes = ngx_pcalloc(cf->pool,
                               (ctx->nindexes + 1)
                               * sizeof(ngx_http_recsys_popularity_index_t));
    if (ctx->indexes == NULL) {
        return NGX_ERROR;
    }

    indexes = rmcf->indexes.elts;

    for (i = 0; i < ctx->nindexes; i++) {
        pi = &ctx->indexes[i];
        pi->ctx = ctx;
        pi->index = indexes[i];

        version = rs_engine_version(indexes[i]->engine);
        len = ngx_strlen(version);

        pi->key.len = sizeof("recsys:") - 1 + len + sizeof(":popular") - 1;
        pi->key.data = ngx_pnalloc(cf->pool, pi->key.len);
        if (pi->key.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(pi->key.data, "recsys:", sizeof("recsys:") - 1);
        p = ngx_cpymem(p, version, len);
        ngx_memcpy(p, ":popular", sizeof(":popular") - 1);
    }

    return NGX_OK;
}


/* in the master, for every configuration */

static ngx_int_t
ngx_http_recsys_popularity_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_recsys_popularity_ctx_t  *octx = data;

    size_t                             len;
    ngx_http_recsys_popularity_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        ngx_http_recsys_popularity_assign(shm_zone);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        ngx_http_recsys_popularity_assign(shm_zone);

        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool,
                              sizeof(ngx_http_recsys_popularity_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    len = sizeof(" in recsys_popularity_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in recsys_popularity_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of room is reported below, with the size needed */
    ctx->shpool->log_nomem = 0;

    ngx_http_recsys_popularity_assign(shm_zone);

    return NGX_OK;
}


/*
 * Every loaded index keeps the table of its version, or takes a free one,
 * cleared; the tables of versions no longer loaded are freed.
 */

static void
ngx_http_recsys_popularity_assign(ngx_shm_zone_t *shm_zone)
{
    size_t                               size, need, len;
    uint32_t                             count, capacity;
    ngx_uint_t                           i, j, keep;
    const char                          *version;
    ngx_slab_pool_t                     *shpool;
    ngx_http_recsys_popularity_sh_t     *sh;
    ngx_http_recsys_popularity_ctx_t    *ctx;
    ngx_http_recsys_popularity_table_t  *t;
    ngx_http_recsys_popularity_index_t  *pi;

    ctx = shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    for (j = 0; j < NGX_HTTP_RECSYS_POPULARITY_TABLES; j++) {
        t = &sh->tables[j];

        if (t->version[0] == '\0') {
            continue;
        }

        keep = 0;

        for (i = 0; i < ctx->nindexes; i++) {
            pi = &ctx->indexes[i];
            count = rs_engine_store(pi->index->engine)->count;
            capacity = ngx_min(count, ctx->rmcf->popularity_top);

            if (t->count == count && t->capacity == capacity
                && ngx_http_recsys_popularity_version(t, pi->index))
            {
                keep = 1;
                break;
            }
        }

        if (keep) {
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                      "recsys_popularity_zone \"%V\": the live popularity "
                      "of index version %s is dropped",
                      &shm_zone->shm.name, t->version);

        t->generation++;
        ngx_memory_barrier();

        ngx_slab_free_locked(shpool, t->buf[0].scores);
        ngx_memzero(t->buf, sizeof(t->buf));
        t->version[0] = '\0';
        t->ready = 0;

        ngx_memory_barrier();
        t->generation++;
    }

    for (i = 0; i < ctx->nindexes; i++) {
        pi = &ctx->indexes[i];
        count = rs_engine_store(pi->index->engine)->count;
        capacity = ngx_min(count, ctx->rmcf->popularity_top);

        pi->table = ngx_http_recsys_popularity_find_locked(sh, pi->index,
                                                           capacity);
        if (pi->table != NULL) {
            continue;
        }

        for (j = 0; j < NGX_HTTP_RECSYS_POPULARITY_TABLES; j++) {
            if (sh->tables[j].version[0] == '\0') {
                break;
            }
        }

        /* both buffers: scores by row and the rows of the top */
        size = 2 * ((size_t) count * sizeof(float)
                    + (size_t) capacity * sizeof(uint32_t));
        version = rs_engine_version(pi->index->engine);

        if (j == NGX_HTTP_RECSYS_POPULARITY_TABLES) {
            ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                          "recsys_popularity_zone \"%V\": more than %d "
                          "index versions, version %s runs without live "
                          "popularity", &shm_zone->shm.name,
                          NGX_HTTP_RECSYS_POPULARITY_TABLES, version);
            continue;
        }

        t = &sh->tables[j];

        t->buf[0].scores = ngx_slab_calloc_locked(shpool, size);

        if (t->buf[0].scores == NULL) {
            need = ngx_align(size, ngx_pagesize) + 4 * ngx_pagesize;
            need += need / ngx_pagesize * sizeof(ngx_slab_page_t);

            ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                          "recsys_popularity_zone \"%V\" is too small for "
                          "%uD items of version %s, needs at least %uzk "
                          "more; running without live popularity",
                          &shm_zone->shm.name, count, version,
                          (need + 1023) / 1024);
            continue;
        }

        t->generation++;
        ngx_memory_barrier();

        t->buf[1].scores = t->buf[0].scores + count;
        t->buf[0].top = (uint32_t *) (t->buf[1].scores + count);
        t->buf[1].top = t->buf[0].top + capacity;
        t->count = count;
        t->capacity = capacity;
        t->active = 0;
        t->ready = 0;

        len = ngx_min(ngx_strlen(version),
                      NGX_HTTP_RECSYS_POPULARITY_VERSION - 1);
        ngx_memcpy(t->version, version, len);
        t->version[len] = '\0';

        ngx_memory_barrier();
        t->generation++;

        pi->table = t;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_http_recsys_popularity_table_t *
ngx_http_recsys_popularity_find_locked(ngx_http_recsys_popularity_sh_t *sh,
    ngx_http_recsys_index_t *index, uint32_t capacity)
{
    ngx_uint_t                           j;
    ngx_http_recsys_popularity_table_t  *t;

    for (j = 0; j < NGX_HTTP_RECSYS_POPULARITY_TABLES; j++) {
        t = &sh->tables[j];

        if (t->version[0] != '\0'
            && t->count == rs_engine_store(index->engine)->count
            && t->capacity == capacity
            && ngx_http_recsys_popularity_version(t, index))
        {
            return t;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_recsys_popularity_version(ngx_http_recsys_popularity_table_t *t,
    ngx_http_recsys_index_t *index)
{
    size_t       len;
    const char  *version;

    version = rs_engine_version(index->engine);
    len = ngx_strlen(version);

    return len < NGX_HTTP_RECSYS_POPULARITY_VERSION
           && ngx_memcmp(t->version, version, len + 1) == 0;
}


/*
 * The live popularity of an index for a request, in its pool; NULL
 * without a zone, before the first refresh, or while the master changes
 * the table.
 */

const rs_popularity_t *
ngx_http_recsys_popularity(ngx_http_request_t *r,
    ngx_http_recsys_index_t *index)
{
    ngx_uint_t                           i;
    ngx_atomic_uint_t                    generation;
    rs_popularity_t                     *pop;
    ngx_http_recsys_main_conf_t         *rmcf;
    ngx_http_recsys_popularity_ctx_t    *ctx;
    ngx_http_recsys_popularity_buf_t    *b;
    ngx_http_recsys_popularity_table_t  *t;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->popularity_zone == NULL || index == NULL) {
        return NULL;
    }

    ctx = rmcf->popularity_zone->data;
    t = NULL;

    for (i = 0; i < ctx->nindexes; i++) {
        if (ctx->indexes[i].index == index) {
            t = ctx->indexes[i].table;
            break;
        }
    }

    if (t == NULL) {
        return NULL;
    }

    generation = t->generation;

    if (generation & 1) {
        return NULL;
    }

    ngx_memory_barrier();

    if (!t->ready || t->count != rs_engine_store(index->engine)->count
        || !ngx_http_recsys_popularity_version(t, index))
    {
        return NULL;
    }

    b = &t->buf[t->active & 1];

    if (b->ntop == 0) {
        return NULL;
    }

    pop = ngx_palloc(r->pool, sizeof(rs_popularity_t));
    if (pop == NULL) {
        return NULL;
    }

    pop->scores = b->scores;
    pop->top = b->top;
    pop->ntop = b->ntop;
    pop->max = b->max;

    ngx_memory_barrier();

    if (t->generation != generation) {
        return NULL;
    }

    return pop;
}


/* in worker processes: the refresh timer */

ngx_int_t
ngx_http_recsys_popularity_init_process(ngx_cycle_t *cycle)
{
    ngx_http_recsys_main_conf_t       *rmcf;
    ngx_http_recsys_popularity_ctx_t  *ctx;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_recsys_module);

    if (rmcf == NULL || rmcf->popularity_zone == NULL) {
        return NGX_OK;
    }

    ctx = rmcf->popularity_zone->data;

    ctx->timer.handler = ngx_http_recsys_popularity_tick;
    ctx->timer.data = ctx;
    ctx->timer.log = cycle->log;

    /* a worker that is shutting down waits for no refresh */
    ctx->timer.cancelable = 1;

    ngx_add_timer(&ctx->timer,
                  1 + ngx_random() % NGX_HTTP_RECSYS_POPULARITY_JITTER);

    return NGX_OK;
}


/*
 * Whoever moves "next" on refreshes; the others sleep until the new
 * "next", each with its own jitter, so they do not all wake together.
 */

static void
ngx_http_recsys_popularity_tick(ngx_event_t *ev)
{
    ngx_http_recsys_popularity_ctx_t *ctx = ev->data;

    ngx_msec_t                        now, refresh;
    ngx_msec_int_t                    delay;
    ngx_atomic_uint_t                 next;
    ngx_http_recsys_popularity_sh_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = ctx->sh;
    refresh = ctx->rmcf->popularity_refresh;
    now = ngx_current_msec;
    next = sh->next;

    if ((ngx_msec_int_t) (now - (ngx_msec_t) next) >= 0
        && ngx_atomic_cmp_set(&sh->next, next, now + refresh))
    {
        ngx_http_recsys_popularity_fetch(ctx);
    }

    delay = (ngx_msec_int_t) ((ngx_msec_t) sh->next - now);

    if (delay <= 0 || delay > (ngx_msec_int_t) refresh) {
        delay = refresh;
    }

    ngx_add_timer(ev, (ngx_msec_t) delay
                      + ngx_random() % NGX_HTTP_RECSYS_POPULARITY_JITTER);
}


static void
ngx_http_recsys_popularity_fetch(ngx_http_recsys_popularity_ctx_t *ctx)
{
    u_char                              *p, last[NGX_INT_T_LEN];
    ngx_int_t                            rc;
    ngx_uint_t                           i, j;
    const char                          *argv[5], *reason;
    size_t                               argvlen[5];
    ngx_http_recsys_redis_cmd_t          cmd;
    ngx_http_recsys_popularity_index_t  *pi;

    argv[0] = "ZREVRANGE";
    argvlen[0] = sizeof("ZREVRANGE") - 1;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[4] = "WITHSCORES";
    argvlen[4] = sizeof("WITHSCORES") - 1;

    cmd.argc = 5;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    for (i = 0; i < ctx->nindexes; i++) {
        pi = &ctx->indexes[i];

        if (pi->table == NULL || pi->pending) {
            continue;
        }

        /* two directories of one version share a table: one read */
        for (j = 0; j < i; j++) {
            if (ctx->indexes[j].table == pi->table) {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        argv[1] = (const char *) pi->key.data;
        argvlen[1] = pi->key.len;

        p = ngx_sprintf(last, "%uD", pi->table->capacity - 1);
        argv[3] = (const char *) last;
        argvlen[3] = p - last;

        rc = ngx_http_recsys_redis_send_to(ctx->rmcf->redis, NULL, &cmd, 1,
                                           ngx_http_recsys_popularity_done,
                                           pi);

        if (rc == NGX_OK) {
            pi->pending = 1;
            continue;
        }

        ngx_http_recsys_redis_retry_after(ctx->rmcf->redis, &reason);
        ngx_http_recsys_popularity_failed(ctx, reason);
    }
}


static void
ngx_http_recsys_popularity_done(void *data, ngx_int_t rc, redisReply *reply,
    ngx_uint_t errors)
{
    ngx_http_recsys_popularity_index_t *pi = data;

    ngx_str_t                          label;
    const char                        *reason;
    ngx_http_recsys_popularity_ctx_t  *ctx;

    ctx = pi->ctx;
    pi->pending = 0;

    if (rc == NGX_AGAIN) {
        ngx_http_recsys_popularity_failed(ctx,
                                          "Redis did not answer in time");
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_recsys_redis_retry_after(ctx->rmcf->redis, &reason);
        ngx_http_recsys_popularity_failed(ctx, reason);
        return;
    }

    if (errors || ngx_http_recsys_popularity_write(pi, reply) != NGX_OK) {
        ngx_str_set(&label, "Redis sent an unexpected reply");
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_REDIS_ERRORS,
                                      &label, 1);
        ngx_http_recsys_popularity_failed(ctx,
                                          "Redis sent an unexpected reply");
        return;
    }

    ngx_str_set(&label, "ok");
    ngx_http_recsys_metrics_count(
        NGX_HTTP_RECSYS_METRIC_POPULARITY_REFRESHES, &label, 1);

    if (ngx_atomic_cmp_set(&ctx->sh->failing, 1, 0)) {
        ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                      "recsys_popularity_refresh: Redis answers again");
    }
}


/*
 * The reply to ZREVRANGE ... WITHSCORES: member, score, member, ...  Ids
 * the index does not know are skipped, so are scores that are not
 * positive.  NGX_DECLINED: not such a reply.
 */

static ngx_int_t
ngx_http_recsys_popularity_write(ngx_http_recsys_popularity_index_t *pi,
    redisReply *reply)
{
    char                                *end;
    size_t                               i;
    double                               score, sum, max;
    uint32_t                             row, n;
    ngx_uint_t                           j;
    ngx_atomic_uint_t                    items;
    redisReply                          *member, *value;
    const rs_store_t                    *st;
    ngx_http_recsys_popularity_buf_t    *b;
    ngx_http_recsys_popularity_ctx_t    *ctx;
    ngx_http_recsys_popularity_table_t  *t;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 2)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            return NGX_DECLINED;
        }
    }

    ctx = pi->ctx;
    t = pi->table;
    st = rs_engine_store(pi->index->engine);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /* a newer configuration may have given the table to another version */
    if (!ngx_http_recsys_popularity_version(t, pi->index)
        || t->count != st->count)
    {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_OK;
    }

    b = &t->buf[(t->active & 1) ^ 1];

    for (n = 0; n < b->ntop; n++) {
        b->scores[b->top[n]] = 0;
    }

    n = 0;
    max = 0;

    for (i = 0; i + 1 < reply->elements && n < t->capacity; i += 2) {
        member = reply->element[i];
        value = reply->element[i + 1];

        if (member->len > RS_MAX_ID_LEN
            || rs_store_find(st, member->str, member->len, &row) != 0)
        {
            continue;
        }

        /* hiredis ends every string with a NUL */
        score = strtod(value->str, &end);

        if (end != value->str + value->len || !isfinite(score)
            || score <= 0)
        {
            continue;
        }

        b->scores[row] = (float) score;
        b->top[n++] = row;

        sum = st->items[row].popularity + score;
        max = sum > max ? sum : max;
    }

    b->ntop = n;
    b->max = max;

    ngx_memory_barrier();

    t->active = (t->active & 1) ^ 1;
    t->ready = 1;

    items = 0;

    for (j = 0; j < NGX_HTTP_RECSYS_POPULARITY_TABLES; j++) {
        t = &ctx->sh->tables[j];

        if (t->version[0] != '\0' && t->ready) {
            items += t->buf[t->active & 1].ntop;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_http_recsys_metrics_set(NGX_HTTP_RECSYS_METRIC_POPULARITY_ITEMS, NULL,
                                (ngx_int_t) items);

    return NGX_OK;
}


/* the live popularity stays as it is: said once, until Redis answers */

static void
ngx_http_recsys_popularity_failed(ngx_http_recsys_popularity_ctx_t *ctx,
    const char *reason)
{
    ngx_str_t  label;

    ngx_str_set(&label, "error");
    ngx_http_recsys_metrics_count(
        NGX_HTTP_RECSYS_METRIC_POPULARITY_REFRESHES, &label, 1);

    if (ngx_atomic_cmp_set(&ctx->sh->failing, 0, 1)) {
        ngx_log_error(NGX_LOG_WARN, ctx->log, 0,
                      "recsys_popularity_refresh: %s; the live popularity "
                      "stays as it is until Redis answers", reason);
    }
}
