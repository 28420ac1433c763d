
/*
 * Copyright (C) ngx_recsys authors
 *
 * The catalogue overlay: live price and stock overrides in a shared memory
 * zone, written by the "recsys_catalog_patch" handler and read by every
 * worker for every candidate of every request.
 *
 * The zone serves one index: the one the patch locations use.  It holds a
 * header and one entry per item of that index, indexed by the item's row
 * in the store.  The master sizes it when a configuration is loaded: a
 * reload with the same index version keeps the overrides, another version
 * clears them.
 *
 * Patches are applied in batches under the zone's mutex; readers take no
 * lock.  Every entry has two slots, each stamped with the number of the
 * batch that wrote it.  A request pins the number of the last complete
 * batch when it starts and reads, for every item, the newest slot not
 * newer than that, so a request sees either all of a batch or none of it,
 * even when the batch lands while the request runs.  A slot is rewritten
 * only when it is the older of the two, and its stamp is re-read after its
 * values, so a reader never takes a half-written slot.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include <jansson.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_PATCH_MAX_ITEMS    1000
#define NGX_HTTP_RECSYS_PATCH_MAX_BODY     (512 * 1024)
#define NGX_HTTP_RECSYS_OVERLAY_VERSION    32
#define NGX_HTTP_RECSYS_OVERLAY_TRIES      4

/* the stamp of a slot being written, newer than any batch */
#define NGX_HTTP_RECSYS_OVERLAY_WRITING    ((ngx_atomic_uint_t) -1)

#define NGX_HTTP_RECSYS_OVERLAY_FLAGS      (RS_HAS_PRICE|RS_HAS_STOCK)


typedef struct {
    ngx_atomic_t                       stamp;      /* 0: never written */
    uint32_t                           flags;      /* RS_HAS_* overridden */
    double                             price;
    int64_t                            stock;
} ngx_http_recsys_overlay_slot_t;


typedef struct {
    ngx_http_recsys_overlay_slot_t     slot[2];
} ngx_http_recsys_overlay_entry_t;


/* in the zone */
typedef struct {
    ngx_atomic_t                       generation; /* odd while resized */
    ngx_atomic_t                       batch;      /* the last complete one */
    ngx_atomic_t                       overridden; /* items with overrides */
    ngx_http_recsys_overlay_entry_t   *entries;    /* NULL: no overlay */
    uint32_t                           count;
    uint32_t                           capacity;
    u_char                             version[NGX_HTTP_RECSYS_OVERLAY_VERSION];
} ngx_http_recsys_overlay_sh_t;


/* per configuration cycle */
typedef struct {
    ngx_http_recsys_overlay_sh_t      *sh;
    ngx_slab_pool_t                   *shpool;
    ngx_shm_zone_t                    *shm_zone;
    ngx_log_t                         *log;        /* the cycle's error_log */
    ngx_http_recsys_index_t           *index;      /* the patches' index */
} ngx_http_recsys_overlay_ctx_t;


/* what a request pinned when it started */
typedef struct {
    ngx_http_recsys_overlay_ctx_t     *ctx;
    ngx_http_recsys_overlay_entry_t   *entries;
    ngx_atomic_uint_t                  generation;
    ngx_atomic_uint_t                  batch;
    uint32_t                           count;
} ngx_http_recsys_overlay_reader_t;


/* one validated change */
typedef struct {
    uint32_t                           item;
    uint32_t                           set;        /* RS_HAS_* to set */
    uint32_t                           clear;      /* RS_HAS_* to drop */
    double                             price;
    int64_t                            stock;
} ngx_http_recsys_patch_t;


/* what each change of a body is parsed with */
typedef struct {
    const rs_store_t                  *st;
    ngx_array_t                       *patches;
} ngx_http_recsys_patch_parse_t;


ngx_int_t ngx_http_recsys_overlay_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);

static ngx_int_t ngx_http_recsys_overlay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_recsys_overlay_prepare(ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_recsys_overlay_ready(
    ngx_http_recsys_overlay_sh_t *sh, ngx_http_recsys_index_t *index);
static int ngx_http_recsys_overlay_view_locked(
    ngx_http_recsys_overlay_reader_t *rd, uint32_t item, rs_view_t *view);
static ngx_http_recsys_overlay_slot_t *ngx_http_recsys_overlay_newest(
    ngx_http_recsys_overlay_entry_t *e);
static void ngx_http_recsys_overlay_apply(ngx_http_recsys_overlay_sh_t *sh,
    ngx_http_recsys_patch_t *patches, ngx_uint_t n);
static ngx_int_t ngx_http_recsys_patch_handler(ngx_http_request_t *r);
static void ngx_http_recsys_patch_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_patch(ngx_http_request_t *r);
static ngx_int_t ngx_http_recsys_patch_parse(ngx_http_request_t *r,
    const rs_store_t *st, ngx_str_t *body, ngx_array_t *patches,
    const char **code, u_char *msg, size_t size);
static ngx_int_t ngx_http_recsys_patch_element(void *data, void *obj,
    const char **code, u_char *msg, size_t size);
static ngx_int_t ngx_http_recsys_patch_parse_one(const rs_store_t *st,
    json_t *obj, ngx_http_recsys_patch_t *p, const char **code,
    u_char *msg, size_t size);
static size_t ngx_http_recsys_overlay_utf8_cut(const u_char *s, size_t len,
    size_t max);


/* recsys_overlay_zone name:size; */

char *
ngx_http_recsys_overlay_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_main_conf_t *rmcf = conf;

    ngx_str_t                      *value;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_recsys_overlay_ctx_t  *ctx;

    if (rmcf->overlay_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_overlay_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_http_recsys_shm_zone_add(cf, &value[1],
                                            &ngx_http_recsys_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->shm_zone = shm_zone;

    /*
     * shm.log is the log of the cycle before this one; the zone is set up
     * once this cycle's error_log is open
     */
    ctx->log = &cf->cycle->new_log;

    shm_zone->init = ngx_http_recsys_overlay_init_zone;
    shm_zone->data = ctx;

    rmcf->overlay_zone = shm_zone;

    return NGX_CONF_OK;
}


/* recsys_catalog_patch; */

char *
ngx_http_recsys_catalog_patch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_recsys_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->catalog_patch == 1) {
        return "is duplicate";
    }

    rlcf->catalog_patch = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_recsys_patch_handler;

    return NGX_CONF_OK;
}


/*
 * Called from merge_loc_conf for every location: a patch location needs an
 * index and the zone, and tells the zone which index it serves.
 */

ngx_int_t
ngx_http_recsys_overlay_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf)
{
    ngx_http_recsys_main_conf_t    *rmcf;
    ngx_http_recsys_overlay_ctx_t  *ctx;

    if (conf->catalog_patch != 1) {
        return NGX_OK;
    }

    if (conf->enable == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_catalog_patch\" and \"recsys\" cannot "
                           "be in the same location");
        return NGX_ERROR;
    }

    if (conf->index == NULL || conf->index == NGX_CONF_UNSET_PTR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_catalog_patch\" needs a \"recsys_index\" "
                           "in this location or above it");
        return NGX_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_recsys_module);

    if (rmcf->overlay_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"recsys_catalog_patch\" needs a "
                           "\"recsys_overlay_zone\" in the http block");
        return NGX_ERROR;
    }

    ctx = rmcf->overlay_zone->data;

    if (ctx->index == NULL) {
        ctx->index = conf->index;
        return NGX_OK;
    }

    if (ctx->index != conf->index
        && ngx_strcmp(rs_engine_version(ctx->index->engine),
                      rs_engine_version(conf->index->engine))
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "every \"recsys_catalog_patch\" location must use "
                           "the same index: \"%V\" and \"%V\" differ",
                           &ctx->index->path, &conf->index->path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Runs in the master for every configuration: the zone, new or kept from
 * the previous cycle, is made to fit the patch locations' index.
 */

static ngx_int_t
ngx_http_recsys_overlay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_recsys_overlay_ctx_t  *octx = data;

    size_t                          len;
    ngx_http_recsys_overlay_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        ngx_http_recsys_overlay_prepare(shm_zone);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool,
                              sizeof(ngx_http_recsys_overlay_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    len = sizeof(" in recsys_overlay_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in recsys_overlay_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* running out of room is reported below, with the size needed */
    ctx->shpool->log_nomem = 0;

    ngx_http_recsys_overlay_prepare(shm_zone);

    return NGX_OK;
}


static void
ngx_http_recsys_overlay_prepare(ngx_shm_zone_t *shm_zone)
{
    size_t                          size, need, len;
    uint32_t                        count;
    const char                     *version;
    ngx_slab_pool_t                *shpool;
    ngx_http_recsys_overlay_sh_t   *sh;
    ngx_http_recsys_overlay_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (ctx->index == NULL) {
        /* no patch location: whatever the zone holds stays as it is */
        return;
    }

    sh = ctx->sh;
    shpool = ctx->shpool;

    version = rs_engine_version(ctx->index->engine);
    count = rs_engine_store(ctx->index->engine)->count;
    len = ngx_strlen(version);

    if (len >= NGX_HTTP_RECSYS_OVERLAY_VERSION) {
        len = NGX_HTTP_RECSYS_OVERLAY_VERSION - 1;
    }

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->entries != NULL
        && sh->count == count
        && ngx_strncmp(sh->version, version, len) == 0
        && sh->version[len] == '\0')
    {
        /* a reload with the same index keeps the overlay */
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    if (sh->version[0] != '\0') {
        ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                      "recsys_overlay_zone \"%V\": index version %s "
                      "replaces %s, the overlay is cleared",
                      &shm_zone->shm.name, version, sh->version);
    }

    /* readers that see an odd generation, or another one, ignore it */
    sh->generation++;
    ngx_memory_barrier();

    size = (size_t) count * sizeof(ngx_http_recsys_overlay_entry_t);

    if (sh->capacity < count || count == 0) {
        if (sh->entries != NULL) {
            ngx_slab_free_locked(shpool, sh->entries);
        }

        sh->entries = NULL;
        sh->capacity = 0;

        if (count) {
            sh->entries = ngx_slab_alloc_locked(shpool, size);
        }

        if (sh->entries != NULL) {
            sh->capacity = count;
        }
    }

    sh->overridden = 0;

    if (sh->entries != NULL) {
        ngx_memzero(sh->entries, size);
        sh->count = count;
        ngx_memcpy(sh->version, version, len);
        sh->version[len] = '\0';

    } else {
        sh->count = 0;
        sh->version[0] = '\0';
    }

    ngx_memory_barrier();
    sh->generation++;

    ngx_shmtx_unlock(&shpool->mutex);

    if (sh->entries == NULL && count) {

        /*
         * the entries in whole pages, a page for the header, one for its
         * name, one for the pool and the alignment, the page descriptors
         */
        need = ngx_align(size, ngx_pagesize) + 4 * ngx_pagesize;
        need += need / ngx_pagesize * sizeof(ngx_slab_page_t);

        ngx_log_error(NGX_LOG_ERR, ctx->log, 0,
                      "recsys_overlay_zone \"%V\" is too small for %uD "
                      "items, needs at least %uzk; running without the "
                      "overlay", &shm_zone->shm.name, count,
                      (need + 1023) / 1024);
    }
}


/* the zone holds the overlay of this index: its version, its size */

static ngx_int_t
ngx_http_recsys_overlay_ready(ngx_http_recsys_overlay_sh_t *sh,
    ngx_http_recsys_index_t *index)
{
    size_t       len;
    const char  *version;

    if (sh->entries == NULL
        || sh->count != rs_engine_store(index->engine)->count)
    {
        return 0;
    }

    version = rs_engine_version(index->engine);
    len = ngx_strlen(version);

    return len < NGX_HTTP_RECSYS_OVERLAY_VERSION
           && ngx_memcmp(sh->version, version, len + 1) == 0;
}


void *
ngx_http_recsys_overlay_data(ngx_http_request_t *r,
    ngx_http_recsys_index_t *index)
{
    ngx_uint_t                         n, ready;
    ngx_atomic_uint_t                  generation, batch, overridden;
    ngx_http_recsys_overlay_sh_t      *sh;
    ngx_http_recsys_overlay_ctx_t     *ctx;
    ngx_http_recsys_main_conf_t       *rmcf;
    ngx_http_recsys_overlay_entry_t   *entries;
    ngx_http_recsys_overlay_reader_t  *rd;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    if (rmcf->overlay_zone == NULL || index == NULL) {
        return NULL;
    }

    ctx = rmcf->overlay_zone->data;
    sh = ctx->sh;

    if (sh == NULL) {
        return NULL;
    }

    ready = 0;
    entries = NULL;
    batch = 0;
    overridden = 0;

    for (n = 0; /* void */ ; n++) {

        if (n == NGX_HTTP_RECSYS_OVERLAY_TRIES) {
            /* the master is resizing the zone: as if it were empty */
            return NULL;
        }

        generation = sh->generation;

        if (generation & 1) {
            ngx_cpu_pause();
            continue;
        }

        ngx_memory_barrier();

        ready = ngx_http_recsys_overlay_ready(sh, index);
        entries = sh->entries;
        batch = sh->batch;

        /* a batch counts its items before it is published */
        ngx_memory_barrier();
        overridden = sh->overridden;

        ngx_memory_barrier();

        if (sh->generation == generation) {
            break;
        }
    }

    if (!ready || overridden == 0) {
        return NULL;
    }

    rd = ngx_palloc(r->pool, sizeof(ngx_http_recsys_overlay_reader_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->ctx = ctx;
    rd->entries = entries;
    rd->generation = generation;
    rd->batch = batch;
    rd->count = rs_engine_store(index->engine)->count;

    return rd;
}


/*
 * For every candidate: the newest slot of the item that is not newer than
 * the batch the request pinned.  No lock unless a slot changes under us.
 */

/* names the overrides a request sees: part of a cached result's key */

uint64_t
ngx_http_recsys_overlay_stamp(void *data)
{
    ngx_http_recsys_overlay_reader_t *rd = data;

    return ((uint64_t) rd->generation << 32) ^ rd->batch;
}


int
ngx_http_recsys_overlay_view(void *data, uint32_t item, rs_view_t *view)
{
    ngx_http_recsys_overlay_reader_t *rd = data;

    double                            price;
    int64_t                           stock;
    uint32_t                          flags;
    ngx_uint_t                        n;
    ngx_atomic_uint_t                 s0, s1, stamp;
    ngx_http_recsys_overlay_sh_t     *sh;
    ngx_http_recsys_overlay_slot_t   *slot;
    ngx_http_recsys_overlay_entry_t  *e;

    if (rd == NULL || item >= rd->count) {
        return 0;
    }

    sh = rd->ctx->sh;

    if (sh->generation != rd->generation) {
        return 0;
    }

    e = &rd->entries[item];

    for (n = 0; n < NGX_HTTP_RECSYS_OVERLAY_TRIES; n++) {

        s0 = e->slot[0].stamp;
        s1 = e->slot[1].stamp;

        if (s0 == 0 && s1 == 0) {
            /* never patched */
            return 0;
        }

        if (s0 <= rd->batch && (s1 > rd->batch || s0 >= s1)) {
            slot = &e->slot[0];
            stamp = s0;

        } else if (s1 <= rd->batch) {
            slot = &e->slot[1];
            stamp = s1;

        } else {
            /* both slots were rewritten since the request started */
            break;
        }

        if (stamp == 0) {
            return 0;
        }

        ngx_memory_barrier();

        flags = slot->flags;
        price = slot->price;
        stock = slot->stock;

        ngx_memory_barrier();

        if (slot->stamp != stamp) {
            continue;
        }

        if (sh->generation != rd->generation) {
            return 0;
        }

        if (flags & RS_HAS_PRICE) {
            view->price = price;
            view->flags |= RS_HAS_PRICE;
        }

        if (flags & RS_HAS_STOCK) {
            view->stock = stock;
            view->flags |= RS_HAS_STOCK;
        }

        return (flags & NGX_HTTP_RECSYS_OVERLAY_FLAGS) ? 1 : 0;
    }

    return ngx_http_recsys_overlay_view_locked(rd, item, view);
}


/* the rare way: batches keep landing, wait for the writer and read */

static int
ngx_http_recsys_overlay_view_locked(ngx_http_recsys_overlay_reader_t *rd,
    uint32_t item, rs_view_t *view)
{
    uint32_t                          flags;
    ngx_slab_pool_t                  *shpool;
    ngx_http_recsys_overlay_slot_t   *slot;
    ngx_http_recsys_overlay_entry_t  *e;

    shpool = rd->ctx->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    if (rd->ctx->sh->generation != rd->generation) {
        ngx_shmtx_unlock(&shpool->mutex);
        return 0;
    }

    e = &rd->entries[item];

    if (e->slot[0].stamp <= rd->batch
        && (e->slot[1].stamp > rd->batch
            || e->slot[0].stamp >= e->slot[1].stamp))
    {
        slot = &e->slot[0];

    } else if (e->slot[1].stamp <= rd->batch) {
        slot = &e->slot[1];

    } else {
        /* two batches since the request started: the newest wins */
        slot = ngx_http_recsys_overlay_newest(e);
    }

    flags = (slot != NULL && slot->stamp != 0) ? slot->flags : 0;

    if (flags & RS_HAS_PRICE) {
        view->price = slot->price;
        view->flags |= RS_HAS_PRICE;
    }

    if (flags & RS_HAS_STOCK) {
        view->stock = slot->stock;
        view->flags |= RS_HAS_STOCK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return (flags & NGX_HTTP_RECSYS_OVERLAY_FLAGS) ? 1 : 0;
}


/* the slot with the current value, under the mutex; NULL: never patched */

static ngx_http_recsys_overlay_slot_t *
ngx_http_recsys_overlay_newest(ngx_http_recsys_overlay_entry_t *e)
{
    ngx_atomic_uint_t  s0, s1;

    s0 = e->slot[0].stamp;
    s1 = e->slot[1].stamp;

    /* a writer that died mid-slot leaves it marked as being written */
    if (s0 == NGX_HTTP_RECSYS_OVERLAY_WRITING) {
        s0 = 0;
    }

    if (s1 == NGX_HTTP_RECSYS_OVERLAY_WRITING) {
        s1 = 0;
    }

    if (s0 == 0 && s1 == 0) {
        return NULL;
    }

    return (s0 >= s1) ? &e->slot[0] : &e->slot[1];
}


/* under the mutex: write every change, then publish the batch */

static void
ngx_http_recsys_overlay_apply(ngx_http_recsys_overlay_sh_t *sh,
    ngx_http_recsys_patch_t *patches, ngx_uint_t n)
{
    double                            price;
    int64_t                           stock;
    uint32_t                          flags, old;
    ngx_uint_t                        i;
    ngx_atomic_uint_t                 batch, overridden;
    ngx_http_recsys_patch_t          *p;
    ngx_http_recsys_overlay_slot_t   *cur, *dst;
    ngx_http_recsys_overlay_entry_t  *e;

    batch = sh->batch + 1;
    overridden = sh->overridden;

    for (i = 0; i < n; i++) {
        p = &patches[i];
        e = &sh->entries[p->item];

        cur = ngx_http_recsys_overlay_newest(e);

        if (cur != NULL) {
            old = cur->flags;
            price = cur->price;
            stock = cur->stock;

        } else {
            old = 0;
            price = 0;
            stock = 0;
        }

        flags = (old & ~p->clear) | p->set;

        if (p->set & RS_HAS_PRICE) {
            price = p->price;
        }

        if (p->set & RS_HAS_STOCK) {
            stock = p->stock;
        }

        if (cur != NULL && cur->stamp == batch) {
            /* the same item twice in a batch: readers cannot see it yet */
            dst = cur;

        } else {
            dst = (cur == &e->slot[0]) ? &e->slot[1] : &e->slot[0];
        }

        dst->stamp = NGX_HTTP_RECSYS_OVERLAY_WRITING;
        ngx_memory_barrier();

        dst->flags = flags;
        dst->price = (flags & RS_HAS_PRICE) ? price : 0;
        dst->stock = (flags & RS_HAS_STOCK) ? stock : 0;

        ngx_memory_barrier();
        dst->stamp = batch;

        if (old && !flags) {
            overridden--;

        } else if (!old && flags) {
            overridden++;
        }
    }

    sh->overridden = overridden;

    ngx_memory_barrier();
    sh->batch = batch;
}


static ngx_int_t
ngx_http_recsys_patch_handler(ngx_http_request_t *r)
{
    u_char     msg[128];
    ngx_int_t  rc;

    if (!(r->method & NGX_HTTP_POST)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_sprintf(msg, "only POST is allowed%Z");
        return ngx_http_recsys_send_error(r, NGX_HTTP_NOT_ALLOWED, "POST",
                                          "method_not_allowed",
                                          (const char *) msg);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_RECSYS_PATCH_MAX_BODY) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "recsys: catalog patch refused: the body of %O bytes "
                      "is larger than %d",
                      r->headers_in.content_length_n,
                      NGX_HTTP_RECSYS_PATCH_MAX_BODY);

        ngx_sprintf(msg, "the body is larger than %d bytes%Z",
                    NGX_HTTP_RECSYS_PATCH_MAX_BODY);
        return ngx_http_recsys_send_error(r, NGX_HTTP_BAD_REQUEST, NULL,
                                          "body_too_large",
                                          (const char *) msg);
    }

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_recsys_patch_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_recsys_patch_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_recsys_patch(r));
}


static ngx_int_t
ngx_http_recsys_patch(ngx_http_request_t *r)
{
    u_char                          msg[512];
    json_t                         *root;
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_uint_t                      status;
    ngx_array_t                     patches;
    const char                     *code, *version;
    const rs_store_t               *st;
    ngx_http_recsys_index_t        *index;
    ngx_http_recsys_overlay_sh_t   *sh;
    ngx_http_recsys_overlay_ctx_t  *ctx;
    ngx_http_recsys_loc_conf_t     *rlcf;
    ngx_http_recsys_main_conf_t    *rmcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_recsys_module);
    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    index = rlcf->index;

    if (index == NULL || index == NGX_CONF_UNSET_PTR
        || rmcf->overlay_zone == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "recsys: \"recsys_catalog_patch\" without an index or "
                      "a \"recsys_overlay_zone\"");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = rmcf->overlay_zone->data;

    if (ctx->index == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "recsys: recsys_overlay_zone \"%V\" was not set up "
                      "for \"recsys_catalog_patch\" (merge_loc_conf must "
                      "call ngx_http_recsys_overlay_check())",
                      &rmcf->overlay_zone->shm.name);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sh = ctx->sh;
    st = rs_engine_store(index->engine);
    version = rs_engine_version(index->engine);

    rc = ngx_http_recsys_read_body(r, NGX_HTTP_RECSYS_PATCH_MAX_BODY, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_snprintf(msg, sizeof(msg) - 1,
                     "the body is larger than %d bytes%Z",
                     NGX_HTTP_RECSYS_PATCH_MAX_BODY);
        code = "body_too_large";
        status = NGX_HTTP_BAD_REQUEST;
        goto refuse;
    }

    if (ngx_array_init(&patches, r->pool, 4, sizeof(ngx_http_recsys_patch_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_recsys_patch_parse(r, st, &body, &patches, &code, msg,
                                     sizeof(msg));

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        status = NGX_HTTP_BAD_REQUEST;
        goto refuse;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (!ngx_http_recsys_overlay_ready(sh, index)) {

        if (sh->version[0] != '\0') {
            /* this worker's cycle is being replaced */
            ngx_snprintf(msg, sizeof(msg) - 1,
                         "the index was replaced by a reload, "
                         "try again%Z");

        } else {
            ngx_snprintf(msg, sizeof(msg) - 1,
                         "recsys_overlay_zone \"%V\" is too small for the "
                         "index%Z", &rmcf->overlay_zone->shm.name);
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        code = "overlay_unavailable";
        status = NGX_HTTP_SERVICE_UNAVAILABLE;

        goto refuse;
    }

    ngx_http_recsys_overlay_apply(sh, patches.elts, patches.nelts);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "recsys: catalog patch: %ui change%s applied, index "
                  "version %s", patches.nelts,
                  patches.nelts == 1 ? "" : "s", version);

    root = json_pack("{s:I, s:s}", "applied", (json_int_t) patches.nelts,
                     "index_version", version);
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_recsys_send_object(r, NGX_HTTP_OK, root);

    json_decref(root);

    return rc;

refuse:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "recsys: catalog patch refused: %s", msg);

    return ngx_http_recsys_send_error(r, status, "POST", code,
                                      (const char *) msg);
}


/* all of it is checked, and every id looked up, before anything is applied */

static ngx_int_t
ngx_http_recsys_patch_parse(ngx_http_request_t *r, const rs_store_t *st,
    ngx_str_t *body, ngx_array_t *patches, const char **code, u_char *msg,
    size_t size)
{
    ngx_http_recsys_patch_parse_t  ctx;

    ctx.st = st;
    ctx.patches = patches;

    return ngx_http_recsys_parse_elements(body, NGX_HTTP_RECSYS_PATCH_MAX_ITEMS,
                                          "element", "changes", "invalid_patch",
                                          "too_many_patches",
                                          ngx_http_recsys_patch_element, &ctx,
                                          code, msg, size);
}


static ngx_int_t
ngx_http_recsys_patch_element(void *data, void *obj, const char **code,
    u_char *msg, size_t size)
{
    ngx_http_recsys_patch_parse_t *ctx = data;

    ngx_http_recsys_patch_t  *item;

    item = ngx_array_push(ctx->patches);
    if (item == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_recsys_patch_parse_one(ctx->st, obj, item, code, msg, size);
}


static ngx_int_t
ngx_http_recsys_patch_parse_one(const rs_store_t *st, json_t *obj,
    ngx_http_recsys_patch_t *p, const char **code, u_char *msg, size_t size)
{
    size_t       len;
    double       price;
    json_t      *v;
    json_int_t   stock;
    const char  *key, *id;

    ngx_memzero(p, sizeof(ngx_http_recsys_patch_t));

    json_object_foreach(obj, key, v) {
        if (ngx_strcmp(key, "id") != 0
            && ngx_strcmp(key, "price") != 0
            && ngx_strcmp(key, "stock") != 0)
        {
            len = ngx_strlen(key);
            ngx_snprintf(msg, size - 1, "unknown key \"%*s\"%s%Z",
                         ngx_http_recsys_overlay_utf8_cut((u_char *) key,
                                                          len, 64),
                         key, len > 64 ? "..." : "");
            return NGX_DECLINED;
        }
    }

    v = json_object_get(obj, "id");

    if (v == NULL) {
        ngx_snprintf(msg, size - 1, "\"id\" is missing%Z");
        return NGX_DECLINED;
    }

    if (!json_is_string(v)) {
        ngx_snprintf(msg, size - 1, "\"id\" must be a string%Z");
        return NGX_DECLINED;
    }

    id = json_string_value(v);
    len = json_string_length(v);

    if (len > RS_MAX_ID_LEN) {
        *code = "unknown_item";
        ngx_snprintf(msg, size - 1, "\"id\" is longer than %d bytes%Z",
                     RS_MAX_ID_LEN);
        return NGX_DECLINED;
    }

    if (rs_store_find(st, id, len, &p->item) != 0) {
        *code = "unknown_item";
        ngx_snprintf(msg, size - 1, "no item with id \"%*s\" in the "
                     "catalog%Z", len, id);
        return NGX_DECLINED;
    }

    v = json_object_get(obj, "price");

    if (v != NULL) {
        if (json_is_null(v)) {
            p->clear |= RS_HAS_PRICE;

        } else {
            price = json_is_number(v) ? json_number_value(v) : -1;

            if (!isfinite(price) || price < 0) {
                ngx_snprintf(msg, size - 1, "\"price\" must be a number "
                             ">= 0, or null%Z");
                return NGX_DECLINED;
            }

            p->set |= RS_HAS_PRICE;
            p->price = price;
        }
    }

    v = json_object_get(obj, "stock");

    if (v != NULL) {
        if (json_is_null(v)) {
            p->clear |= RS_HAS_STOCK;

        } else {
            stock = json_is_integer(v) ? json_integer_value(v) : -1;

            if (stock < 0) {
                ngx_snprintf(msg, size - 1, "\"stock\" must be an integer "
                             ">= 0, or null%Z");
                return NGX_DECLINED;
            }

            p->set |= RS_HAS_STOCK;
            p->stock = (int64_t) stock;
        }
    }

    if (!(p->set | p->clear)) {
        ngx_snprintf(msg, size - 1, "neither \"price\" nor \"stock\" is "
                     "given%Z");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* at most max bytes of s, not cutting a UTF-8 sequence */

static size_t
ngx_http_recsys_overlay_utf8_cut(const u_char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }

    len = max;

    while (len && (s[len] & 0xc0) == 0x80) {
        len--;
    }

    return len;
}
