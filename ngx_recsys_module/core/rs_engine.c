/*
 * Copyright (C) ngx_recsys authors
 */


#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "rs_engine.h"


struct rs_engine_s {
    rs_store_t          store;
    rs_embedder_t       embedder;
    float              *idf;
    rs_index_t         *index;
    rs_index_t         *lexical;    /* a model's index: the companion */
    rs_engine_model_t   model;
    rs_vocab_t         *vocab;
    double              log_max_popularity;
    double              rating_mean;
    rs_profile_t        profile;
    char                version[32];
    char                index_type[16];
};


/* a vector space to search: the index's own, or the lexical companion */
typedef struct {
    const rs_index_t   *index;
    const float        *vectors;    /* NULL: read back from the index */
    uint32_t            dim;
} rs_engine_space_t;


static int rs_engine_manifest(rs_engine_t *e, const char *dir, char *err,
    size_t errlen);
static int rs_engine_manifest_embedder(rs_engine_t *e, const char *path,
    json_t *m, char *err, size_t errlen);
static int rs_engine_check_dims(const rs_engine_t *e, const char *dir,
    char *err, size_t errlen);
static int rs_engine_verify_file(const char *dir, json_t *files,
    const char *name, char *err, size_t errlen);
static int rs_engine_load_embedder(rs_engine_t *e, const char *path,
    char *err, size_t errlen);
static int rs_engine_cold_start(const rs_engine_t *e, const rs_request_t *req,
    rs_rank_ctx_t *ctx, rs_result_t *res);
static int rs_engine_query_vector(const rs_engine_t *e,
    const rs_request_t *req, const float *taste, rs_engine_space_t *sp,
    float *vec, rs_result_t *res);
static const float *rs_engine_vector(const rs_engine_space_t *sp,
    uint32_t item, float *buf);
static int rs_engine_mean(const rs_engine_space_t *sp, const uint32_t *items,
    size_t n, float weight, float *buf, float *vec);
static int rs_engine_taste(const rs_engine_t *e, const rs_request_t *req,
    float **out);
static uint32_t *rs_engine_exclusions(const rs_request_t *req, size_t *n);
static double rs_engine_us(void);
static uint32_t rs_engine_scan(const rs_engine_t *e, const rs_rank_ctx_t *ctx,
    const rs_engine_space_t *sp, const float *vec, float *buf,
    rs_hit_t *heap, uint32_t cap);
static void rs_engine_sift(rs_hit_t *heap, uint32_t n, uint32_t i);
static int rs_engine_understand(const rs_engine_t *e, rs_request_t *req,
    rs_result_t *res);


static int
rs_engine_verify_file(const char *dir, json_t *files, const char *name,
    char *err, size_t errlen)
{
    char        path[4096], hex[32];
    json_t     *v;
    uint64_t    sum;
    const char *want;

    v = json_object_get(files, name);
    want = json_string_value(json_object_get(v, "checksum"));

    if (want == NULL) {
        rs_errf(err, errlen, "manifest lists no checksum for \"%s\"", name);
        return -1;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    if (rs_file_checksum(path, &sum, err, errlen) != 0) {
        return -1;
    }

    snprintf(hex, sizeof(hex), "%016" PRIx64, sum);

    if (strcmp(hex, want) != 0) {
        rs_errf(err, errlen, "\"%s\" does not match its checksum in the "
                "manifest: the index is corrupt or half-written", path);
        return -1;
    }

    return 0;
}


static int
rs_engine_manifest(rs_engine_t *e, const char *dir, char *err, size_t errlen)
{
    char          path[4096];
    json_t       *m, *files;
    const char   *s;
    json_error_t  jerr;

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_MANIFEST);

    m = json_load_file(path, 0, &jerr);
    if (m == NULL) {
        rs_errf(err, errlen, "cannot read \"%s\": %s", path, jerr.text);
        return -1;
    }

    s = json_string_value(json_object_get(m, "format"));

    if (s == NULL || strcmp(s, RS_INDEX_FORMAT) != 0) {
        rs_errf(err, errlen, "\"%s\" is not an ngx_recsys index manifest",
                path);
        goto failed;
    }

    if (json_integer_value(json_object_get(m, "format_version"))
        != RS_INDEX_FORMAT_VERSION)
    {
        rs_errf(err, errlen,
                "\"%s\": index format version %" JSON_INTEGER_FORMAT
                " is not supported (this module reads version %d); rebuild "
                "the index with this version's recsys-index", path,
                json_integer_value(json_object_get(m, "format_version")),
                RS_INDEX_FORMAT_VERSION);
        goto failed;
    }

    if (rs_engine_manifest_embedder(e, path, m, err, errlen) != 0) {
        goto failed;
    }

    files = json_object_get(m, "files");

    if (rs_engine_verify_file(dir, files, RS_FILE_ITEMS, err, errlen)
        || rs_engine_verify_file(dir, files, RS_FILE_EMBEDDER, err, errlen)
        || rs_engine_verify_file(dir, files, RS_FILE_INDEX, err, errlen)
        || rs_engine_verify_file(dir, files, RS_FILE_VOCAB, err, errlen)
        || (e->model.type == RS_EMBEDDER_OPENAI
            && rs_engine_verify_file(dir, files, RS_FILE_LEXICAL_INDEX, err,
                                     errlen)))
    {
        goto failed;
    }

    s = json_string_value(json_object_get(m, "version"));
    if (s == NULL || strlen(s) >= sizeof(e->version)) {
        rs_errf(err, errlen, "\"%s\" has no valid \"version\"", path);
        goto failed;
    }

    strcpy(e->version, s);

    json_decref(m);

    return 0;

failed:

    json_decref(m);

    return -1;
}


/*
 * The module must embed queries as the items were embedded, or search a
 * space it can embed into: an external model's index is served through
 * its built-in companion until the query's model vector comes with the
 * request, so the companion must be there and be the built-in embedder.
 */

static int
rs_engine_manifest_embedder(rs_engine_t *e, const char *path, json_t *m,
    char *err, size_t errlen)
{
    json_t             *emb, *builtin;
    const char         *s;
    rs_engine_model_t  *md;

    md = &e->model;
    emb = json_object_get(m, "embedder");
    s = json_string_value(json_object_get(emb, "type"));

    /* indexes from before external models name no type */
    if (s != NULL && rs_embedder_type_parse(s, &md->type) != 0) {
        rs_errf(err, errlen, "\"%s\": the index was built with embedder "
                "type \"%s\", which this module cannot reproduce for "
                "queries (it knows \"builtin\" and \"openai\"); rebuild "
                "the index", path, s);
        return -1;
    }

    builtin = emb;

    if (md->type == RS_EMBEDDER_OPENAI) {
        s = json_string_value(json_object_get(emb, "model"));

        if (s == NULL || s[0] == '\0' || strlen(s) >= sizeof(md->model)) {
            rs_errf(err, errlen, "\"%s\": the openai embedder names no "
                    "valid model", path);
            return -1;
        }

        strcpy(md->model, s);

        s = json_string_value(json_object_get(emb, "endpoint_host"));
        snprintf(md->endpoint_host, sizeof(md->endpoint_host), "%s",
                 s ? s : "");

        md->dim = (uint32_t) json_integer_value(json_object_get(emb, "dim"));
        builtin = json_object_get(emb, "companion");
        s = json_string_value(json_object_get(builtin, "index"));

        if (s == NULL || strcmp(s, RS_FILE_LEXICAL_INDEX) != 0) {
            rs_errf(err, errlen, "\"%s\": the index was built with the "
                    "openai embedder (model \"%s\") but has no lexical "
                    "companion index, which answers the queries the model "
                    "cannot embed; rebuild it with this version's "
                    "recsys-index", path, md->model);
            return -1;
        }
    }

    s = json_string_value(json_object_get(builtin, "name"));

    if (s == NULL || strcmp(s, RS_EMBED_NAME) != 0
        || json_integer_value(json_object_get(builtin, "version"))
           != RS_EMBED_VERSION)
    {
        rs_errf(err, errlen, "\"%s\": the index was built with embedder "
                "\"%s\" version %" JSON_INTEGER_FORMAT "%s, which this "
                "module cannot reproduce for queries (it embeds with \"%s\" "
                "version %d); rebuild the index", path, s ? s : "(none)",
                json_integer_value(json_object_get(builtin, "version")),
                builtin == emb ? "" : " as the lexical companion",
                RS_EMBED_NAME, RS_EMBED_VERSION);
        return -1;
    }

    md->lexical_dim = (uint32_t) json_integer_value(json_object_get(builtin,
                                                                    "dim"));

    if (md->type == RS_EMBEDDER_BUILTIN) {
        md->dim = md->lexical_dim;
    }

    return 0;
}


static int
rs_engine_check_dims(const rs_engine_t *e, const char *dir, char *err,
    size_t errlen)
{
    const rs_engine_model_t  *md;

    md = &e->model;

    if ((uint32_t) rs_index_dim(e->index) != e->store.dim
        || rs_index_count(e->index) != e->store.count
        || md->dim != e->store.dim)
    {
        rs_errf(err, errlen, "\"%s\": the index, item store and manifest "
                "disagree on dimension or item count", dir);
        return -1;
    }

    if (md->type == RS_EMBEDDER_BUILTIN) {
        if (e->embedder.dim != e->store.dim) {
            rs_errf(err, errlen, "\"%s\": the index, item store and "
                    "embedder disagree on dimension", dir);
            return -1;
        }

        return 0;
    }

    if ((uint32_t) rs_index_dim(e->lexical) != e->embedder.dim
        || md->lexical_dim != e->embedder.dim)
    {
        rs_errf(err, errlen, "\"%s\": the lexical companion index has "
                "dimension %d, its embedder %u and the manifest %u: they "
                "must agree for the module to embed queries into it", dir,
                rs_index_dim(e->lexical), e->embedder.dim, md->lexical_dim);
        return -1;
    }

    if (rs_index_count(e->lexical) != e->store.count) {
        rs_errf(err, errlen, "\"%s\": the lexical companion index holds "
                "%zu items, the item store %u", dir,
                rs_index_count(e->lexical), e->store.count);
        return -1;
    }

    return 0;
}


static int
rs_engine_load_embedder(rs_engine_t *e, const char *path, char *err,
    size_t errlen)
{
    FILE                  *f;
    size_t                 n;
    rs_embedder_header_t   h;

    f = fopen(path, "rb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    if (fread(&h, sizeof(h), 1, f) != 1
        || memcmp(h.magic, RS_EMBEDDER_MAGIC, 8) != 0
        || h.version != RS_EMBED_VERSION
        || h.dim == 0 || h.dim > RS_EMBED_MAX_DIM
        || h.idf_bits < 8 || h.idf_bits > 24)
    {
        rs_errf(err, errlen, "\"%s\" is not a valid embedder file", path);
        fclose(f);
        return -1;
    }

    n = (size_t) 1 << h.idf_bits;

    e->idf = malloc(n * sizeof(float));
    if (e->idf == NULL) {
        rs_errf(err, errlen, "out of memory");
        fclose(f);
        return -1;
    }

    if (fread(e->idf, sizeof(float), n, f) != n) {
        rs_errf(err, errlen, "\"%s\" is truncated", path);
        fclose(f);
        return -1;
    }

    fclose(f);

    e->embedder.dim = h.dim;
    e->embedder.idf_bits = h.idf_bits;
    e->embedder.ndocs = h.ndocs;
    e->embedder.idf = e->idf;

    return 0;
}


int
rs_engine_open(rs_engine_t **out, const char *dir, char *err, size_t errlen)
{
    char          path[4096];
    double        sum;
    uint32_t      i, rated;
    rs_engine_t  *e;
    const rs_store_header_t  *h;

    e = calloc(1, sizeof(rs_engine_t));
    if (e == NULL) {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    if (rs_engine_manifest(e, dir, err, errlen) != 0) {
        goto failed;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_ITEMS);
    if (rs_store_open(&e->store, path, err, errlen) != 0) {
        goto failed;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_EMBEDDER);
    if (rs_engine_load_embedder(e, path, err, errlen) != 0) {
        goto failed;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_INDEX);
    if (rs_index_load(&e->index, path, err, errlen) != 0) {
        goto failed;
    }

    if (e->model.type == RS_EMBEDDER_OPENAI) {
        snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_LEXICAL_INDEX);
        if (rs_index_load(&e->lexical, path, err, errlen) != 0) {
            goto failed;
        }
    }

    snprintf(path, sizeof(path), "%s/%s", dir, RS_FILE_VOCAB);
    if (rs_vocab_load(&e->vocab, path, err, errlen) != 0) {
        goto failed;
    }

    if (rs_engine_check_dims(e, dir, err, errlen) != 0) {
        goto failed;
    }

    h = e->store.header;
    e->log_max_popularity = log1p(h->max_popularity);

    /* the prior of the Bayesian rating: what an unrated item is assumed */
    sum = 0;
    rated = 0;

    for (i = 0; i < e->store.count; i++) {
        if (e->store.items[i].flags & RS_HAS_RATING) {
            sum += e->store.items[i].rating;
            rated++;
        }
    }

    e->rating_mean = rated ? sum / rated : 3.0;
    rs_profile_init(&e->profile);
    e->profile.name = "default";
    e->profile.name_len = sizeof("default") - 1;
    snprintf(e->index_type, sizeof(e->index_type), "%s",
             rs_index_type_name(rs_index_type(e->index)));

    *out = e;

    return 0;

failed:

    rs_engine_close(e);

    return -1;
}


void
rs_engine_close(rs_engine_t *e)
{
    if (e == NULL) {
        return;
    }

    if (e->index != NULL) {
        rs_index_free(e->index);
    }

    if (e->lexical != NULL) {
        rs_index_free(e->lexical);
    }

    if (e->vocab != NULL) {
        rs_vocab_free(e->vocab);
    }

    rs_store_close(&e->store);
    free(e->idf);
    free(e);
}


const rs_store_t *
rs_engine_store(const rs_engine_t *e)
{
    return &e->store;
}


/* the profile a request without one is ranked with */

const rs_profile_t *
rs_engine_default_profile(const rs_engine_t *e)
{
    return &e->profile;
}


const char *
rs_engine_version(const rs_engine_t *e)
{
    return e->version;
}


const char *
rs_engine_index_type(const rs_engine_t *e)
{
    return e->index_type;
}


const rs_engine_model_t *
rs_engine_model(const rs_engine_t *e)
{
    return &e->model;
}


const char *
rs_embed_source_name(rs_embed_source_e source)
{
    switch (source) {

    case RS_SOURCE_BUILTIN:
        return "builtin";

    case RS_SOURCE_MODEL:
        return "model";

    case RS_SOURCE_LEXICAL:
        return "lexical_fallback";

    case RS_SOURCE_POPULARITY:
        return "popularity";
    }

    return "unknown";
}


/* returns 0 when the text has nothing to embed */

int
rs_engine_embed(const rs_engine_t *e, const char *text, size_t len,
    float *vec)
{
    memset(vec, 0, e->embedder.dim * sizeof(float));
    rs_embed_add(&e->embedder, text, len, RS_EMBED_ALL, 1.0f, vec);

    return rs_embed_normalize(vec, e->embedder.dim) > 0;
}


static double
rs_engine_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


/*
 * Prices, brands, categories and exclusions read from the text become
 * filters wherever the request did not set its own, and leave the text
 * that is embedded (a category's words stay: they help the embedding).
 */

static int
rs_engine_understand(const rs_engine_t *e, rs_request_t *req,
    rs_result_t *res)
{
    char             *buf;
    rs_filter_t      *f;
    rs_understood_t  *u;

    buf = req->alloc(req->alloc_data, req->text_len + 1);
    if (buf == NULL) {
        return -1;
    }

    u = &res->understood;

    if (rs_understand(e->vocab, req->text, req->text_len, buf, u) != 0) {
        return -1;
    }

    f = &req->filter;

    if (u->has_min_price && !f->has_min_price) {
        f->min_price = u->min_price;
        f->has_min_price = 1;

    } else {
        u->has_min_price = 0;
    }

    if (u->has_max_price && !f->has_max_price) {
        f->max_price = u->max_price;
        f->has_max_price = 1;

    } else {
        u->has_max_price = 0;
    }

    if (u->brand_len && f->brand_len == 0) {
        f->brand = u->brand;
        f->brand_len = u->brand_len;

    } else {
        u->brand_len = 0;
    }

    if (u->category_len && f->category_len == 0) {
        f->category = u->category;
        f->category_len = u->category_len;

    } else {
        u->category_len = 0;
    }

    f->exclude_brands = u->exclude_brands;
    f->exclude_brand_lens = u->exclude_brand_lens;
    f->nexclude_brands = u->nexclude_brands;
    f->exclude_terms = u->exclude_terms;
    f->exclude_term_lens = u->exclude_term_lens;
    f->nexclude_terms = u->nexclude_terms;

    /* a hint only counts where its price bound was applied */
    u->cheap = u->cheap && u->has_max_price;
    u->premium = u->premium && u->has_min_price;

    res->understood_any = u->has_min_price || u->has_max_price
                          || u->brand_len || u->category_len
                          || u->nexclude_brands || u->nexclude_terms;

    req->text = u->text;
    req->text_len = u->text_len;

    return 0;
}


/* a min-heap on relevance keeps the cap best of an exact scan */

static void
rs_engine_sift(rs_hit_t *heap, uint32_t n, uint32_t i)
{
    uint32_t  l, m;
    rs_hit_t  t;

    for ( ;; ) {
        l = 2 * i + 1;
        m = i;

        if (l < n && heap[l].relevance < heap[m].relevance) {
            m = l;
        }

        if (l + 1 < n && heap[l + 1].relevance < heap[m].relevance) {
            m = l + 1;
        }

        if (m == i) {
            return;
        }

        t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}


static uint32_t
rs_engine_scan(const rs_engine_t *e, const rs_rank_ctx_t *ctx,
    const rs_engine_space_t *sp, const float *vec, float *buf,
    rs_hit_t *heap, uint32_t cap)
{
    float        sim;
    uint32_t     i, n, d;
    rs_hit_t     hit;
    const float *v;

    n = 0;

    for (i = 0; i < e->store.count; i++) {
        if (!rs_rank_admit(ctx, i, &hit)) {
            continue;
        }

        v = rs_engine_vector(sp, i, buf);
        if (v == NULL) {
            continue;
        }

        sim = 0;

        for (d = 0; d < sp->dim; d++) {
            sim += vec[d] * v[d];
        }

        hit.relevance = sim;

        if (n < cap) {
            heap[n++] = hit;

            if (n == cap) {
                for (d = cap / 2; d-- > 0; /* void */) {
                    rs_engine_sift(heap, n, d);
                }
            }

        } else if (sim > heap[0].relevance) {
            heap[0] = hit;
            rs_engine_sift(heap, n, 0);
        }
    }

    return n;
}


/*
 * The most popular items that pass: the answer with nothing to go on.
 * Live popularity can lift an item from anywhere in the catalogue, so
 * the live leaders join the catalogue's before both are scored.
 */

static int
rs_engine_cold_start(const rs_engine_t *e, const rs_request_t *req,
    rs_rank_ctx_t *ctx, rs_result_t *res)
{
    int                     rc;
    double                  t;
    uint8_t                *seen;
    uint32_t                i, n, m, want, item;
    rs_hit_t               *cand;
    const rs_popularity_t  *live;

    want = req->candidates > req->k ? req->candidates : req->k;
    live = req->popularity;

    cand = req->alloc(req->alloc_data,
                      (live ? 2 : 1) * want * sizeof(rs_hit_t));
    res->hits = req->alloc(req->alloc_data, req->k * sizeof(rs_hit_t));
    seen = live ? req->alloc(req->alloc_data, e->store.count / 8 + 1)
                : NULL;

    if (cand == NULL || res->hits == NULL || (live && seen == NULL)) {
        return -1;
    }

    res->filter.in_stock = 1;
    n = 0;
    t = rs_engine_us();

    if (live) {
        memset(seen, 0, e->store.count / 8 + 1);

        for (i = 0; i < live->ntop && n < want; i++) {
            item = live->top[i];

            if (item < e->store.count && rs_rank_admit(ctx, item, &cand[n])) {
                seen[item >> 3] |= (uint8_t) (1 << (item & 7));
                rs_rank_score(ctx, &cand[n]);
                n++;
            }
        }
    }

    for (i = 0, m = 0; i < e->store.count && m < want; i++) {
        item = e->store.popular[i];

        if (seen && (seen[item >> 3] & (1 << (item & 7)))) {
            continue;
        }

        if (rs_rank_admit(ctx, item, &cand[n])) {
            rs_rank_score(ctx, &cand[n]);
            n++;
            m++;
        }
    }

    res->cold_start = 1;
    res->embed_source = RS_SOURCE_POPULARITY;
    rc = rs_rank_select(ctx, cand, n, res->hits, &res->nhits);
    res->us_rank = rs_engine_us() - t;

    return rc;
}


/* the companion index holds the only copy of its vectors */

static const float *
rs_engine_vector(const rs_engine_space_t *sp, uint32_t item, float *buf)
{
    if (sp->vectors != NULL) {
        return sp->vectors + (size_t) item * sp->dim;
    }

    return rs_index_vector(sp->index, item, buf) == 0 ? buf : NULL;
}


static int
rs_engine_mean(const rs_engine_space_t *sp, const uint32_t *items, size_t n,
    float weight, float *buf, float *vec)
{
    size_t        i;
    uint32_t      d;
    const float  *v;

    for (i = 0; i < n; i++) {
        v = rs_engine_vector(sp, items[i], buf);
        if (v == NULL) {
            return -1;
        }

        for (d = 0; d < sp->dim; d++) {
            vec[d] += weight * v[d] / (float) n;
        }
    }

    return 0;
}


/*
 * The shopper's taste: the mean of the history's vectors, the newest
 * counting most, at unit length; NULL without a history.
 */

static int
rs_engine_taste(const rs_engine_t *e, const rs_request_t *req, float **out)
{
    float        *taste, w;
    size_t        i;
    uint32_t      d;
    const float  *v;

    *out = NULL;

    if (req->nhistory == 0) {
        return 0;
    }

    taste = req->alloc(req->alloc_data, e->store.dim * sizeof(float));
    if (taste == NULL) {
        return -1;
    }

    memset(taste, 0, e->store.dim * sizeof(float));

    for (i = 0; i < req->nhistory; i++) {
        if (req->history[i] >= e->store.count) {
            continue;
        }

        v = rs_store_vector(&e->store, req->history[i]);
        w = exp2f(-(float) i / RS_HISTORY_HALF_LIFE);

        for (d = 0; d < e->store.dim; d++) {
            taste[d] += w * v[d];
        }
    }

    if (rs_embed_normalize(taste, e->store.dim) > 0) {
        *out = taste;
    }

    return 0;
}


/*
 * Rocchio: the query, plus the mean of the items wanted, minus half the
 * mean of the items not wanted.  The query is the request's model vector
 * when it has one; otherwise the text through the built-in embedder,
 * which for a model's index means searching the lexical companion, with
 * the items' vectors from there too.  The shopper's taste, in the store's
 * space, is blended in at history_weight, or is the query when there is
 * nothing else to go on.  Returns 1 with a vector, 0 when there is nothing
 * to search with, -1 on error.
 */

static int
rs_engine_query_vector(const rs_engine_t *e, const rs_request_t *req,
    const float *taste, rs_engine_space_t *sp, float *vec, rs_result_t *res)
{
    int       query;
    float    *buf, w;
    uint32_t  d;

    sp->index = e->index;
    sp->vectors = e->store.vectors;
    sp->dim = e->store.dim;
    query = req->text_len > 0;

    if (req->vector != NULL && req->vector_dim == e->store.dim) {
        memcpy(vec, req->vector, e->store.dim * sizeof(float));
        res->embed_source = RS_SOURCE_MODEL;
        query = 1;

    } else if (e->model.type == RS_EMBEDDER_BUILTIN) {
        if (!query || !rs_engine_embed(e, req->text, req->text_len, vec)) {
            memset(vec, 0, sp->dim * sizeof(float));
        }

        res->embed_source = RS_SOURCE_BUILTIN;

    } else if (query && rs_engine_embed(e, req->text, req->text_len, vec)) {
        sp->index = e->lexical;
        sp->vectors = NULL;
        sp->dim = e->embedder.dim;
        res->embed_source = RS_SOURCE_LEXICAL;

    } else {
        memset(vec, 0, sp->dim * sizeof(float));
        res->embed_source = RS_SOURCE_MODEL;
    }

    if (query || req->nitems) {
        buf = req->alloc(req->alloc_data, sp->dim * sizeof(float));

        if (buf == NULL
            || rs_engine_mean(sp, req->items, req->nitems, 1.0f, buf, vec)
               != 0
            || rs_engine_mean(sp, req->negatives, req->nnegatives,
                              -RS_ROCCHIO_NEGATIVE, buf, vec)
               != 0)
        {
            return -1;
        }

        if (rs_embed_normalize(vec, sp->dim) > 0) {

            /* the taste lives in the store's space, not the companion's */
            if (taste == NULL || sp->vectors != e->store.vectors) {
                return 1;
            }

            w = req->history_weight;

            for (d = 0; d < sp->dim; d++) {
                vec[d] = (1 - w) * vec[d] + w * taste[d];
            }

            return rs_embed_normalize(vec, sp->dim) > 0;
        }
    }

    if (taste == NULL) {
        return 0;
    }

    sp->index = e->index;
    sp->vectors = e->store.vectors;
    sp->dim = e->store.dim;
    memcpy(vec, taste, e->store.dim * sizeof(float));

    return 1;
}


/*
 * Never shown: the items asked about (an item is not recommended to its
 * own page), the request's exclusions, what the shopper bought and, unless
 * show_history, what they just saw; sorted for rs_rank_admit().
 */

static uint32_t *
rs_engine_exclusions(const rs_request_t *req, size_t *n)
{
    size_t     nhistory;
    uint32_t  *exclude, *p;

    nhistory = req->show_history ? 0 : req->nhistory;

    exclude = req->alloc(req->alloc_data,
                         (req->nitems + req->nexclude + req->npurchased
                          + nhistory + 1) * sizeof(uint32_t));
    if (exclude == NULL) {
        return NULL;
    }

    p = exclude;
    memcpy(p, req->items, req->nitems * sizeof(uint32_t));
    p += req->nitems;
    memcpy(p, req->exclude, req->nexclude * sizeof(uint32_t));
    p += req->nexclude;
    memcpy(p, req->purchased, req->npurchased * sizeof(uint32_t));
    p += req->npurchased;
    memcpy(p, req->history, nhistory * sizeof(uint32_t));
    p += nhistory;

    *n = p - exclude;
    qsort(exclude, *n, sizeof(uint32_t), rs_rank_cmp_item);

    return exclude;
}


int
rs_engine_recommend(const rs_engine_t *e, const rs_request_t *req,
    rs_result_t *res)
{
    int                n, i, rc, embedded;
    float             *vec, *sims, *buf, *taste;
    size_t             nexclude;
    double             t, t0, max;
    int64_t           *ids;
    uint32_t           c, first, limit, kept, *exclude;
    rs_hit_t          *cand;
    rs_request_t       eff;
    rs_rank_ctx_t      ctx;
    rs_engine_space_t  sp;

    memset(res, 0, sizeof(rs_result_t));
    t0 = rs_engine_us();

    res->profile = req->profile ? req->profile : &e->profile;

    /* what was understood narrows the request and leaves the text */
    eff = *req;

    if (req->understand && req->text_len
        && rs_engine_understand(e, &eff, res) != 0)
    {
        return -1;
    }

    req = &eff;
    rs_filter_merge(&res->filter, &req->filter, &res->profile->filter);

    exclude = rs_engine_exclusions(req, &nexclude);
    vec = req->alloc(req->alloc_data,
                     (e->store.dim > e->embedder.dim ? e->store.dim
                                                     : e->embedder.dim)
                     * sizeof(float));

    if (exclude == NULL || vec == NULL) {
        return -1;
    }

    if (rs_engine_taste(e, req, &taste) != 0) {
        return -1;
    }

    memset(&ctx, 0, sizeof(rs_rank_ctx_t));
    ctx.store = &e->store;
    ctx.profile = res->profile;
    ctx.vectors = e->store.vectors;
    ctx.dim = e->store.dim;
    ctx.k = req->k;
    ctx.now = req->now;
    ctx.rating_mean = e->rating_mean;
    ctx.log_max_popularity = e->log_max_popularity;
    ctx.filter = &res->filter;
    ctx.exclude = exclude;
    ctx.nexclude = nexclude;
    ctx.overlay = req->overlay;
    ctx.overlay_data = req->overlay_data;
    ctx.popularity = req->popularity;
    ctx.personal = taste;
    ctx.alloc = req->alloc;
    ctx.alloc_data = req->alloc_data;

    if (req->popularity != NULL) {
        max = e->store.header->max_popularity;

        if (req->popularity->max > max) {
            max = req->popularity->max;
        }

        ctx.log_max_popularity = log1p(max);
    }

    t = rs_engine_us();
    embedded = rs_engine_query_vector(e, req, taste, &sp, vec, res);
    res->us_embed = rs_engine_us() - t;
    res->personalized = embedded > 0 && taste != NULL;
    t0 = t;

    if (embedded < 0) {
        return -1;
    }

    if (!embedded) {
        return rs_engine_cold_start(e, req, &ctx, res);
    }

    ctx.mmr = 1;

    c = req->candidates > req->k ? req->candidates : req->k;
    limit = c * RS_WIDEN_LIMIT;

    if (limit > RS_MAX_CANDIDATES) {
        limit = RS_MAX_CANDIDATES;
    }

    if (limit > e->store.count) {
        limit = e->store.count;
    }

    if (c > limit) {
        c = limit;
    }

    first = c;

retrieve:

    /*
     * Filters run after retrieval; when they leave fewer than k items the
     * search is repeated wider, up to a bound, before answering short.
     */
    for ( ;; ) {
        sims = req->alloc(req->alloc_data, c * sizeof(float));
        ids = req->alloc(req->alloc_data, c * sizeof(int64_t));
        cand = req->alloc(req->alloc_data, c * sizeof(rs_hit_t));

        if (sims == NULL || ids == NULL || cand == NULL) {
            return -1;
        }

        n = rs_index_search(sp.index, vec, (int) c, sims, ids);
        if (n < 0) {
            return -1;
        }

        kept = 0;

        for (i = 0; i < n; i++) {
            if (ids[i] < 0 || (uint64_t) ids[i] >= e->store.count
                || !rs_rank_admit(&ctx, (uint32_t) ids[i], &cand[kept]))
            {
                continue;
            }

            cand[kept].relevance = sims[i];
            kept++;
        }

        res->searched = c;

        if (kept >= req->k || c >= limit) {
            break;
        }

        c = c * RS_WIDEN_FACTOR > limit ? limit : c * RS_WIDEN_FACTOR;
    }

    /*
     * An approximate index can miss a whole cluster that a category, brand
     * or tag filter asks for; those filters are selective enough to scan
     * the items exactly rather than answer short.
     */
    if (kept < req->k
        && (res->filter.category_len || res->filter.brand_len
            || res->filter.tag_len))
    {
        cand = req->alloc(req->alloc_data, c * sizeof(rs_hit_t));
        buf = req->alloc(req->alloc_data, sp.dim * sizeof(float));

        if (cand == NULL || buf == NULL) {
            return -1;
        }

        kept = rs_engine_scan(e, &ctx, &sp, vec, buf, cand, c);
        res->searched = e->store.count;
    }

    /*
     * A category read from the words can be wrong: when it leaves nothing
     * at all, the words alone are a better guide.
     */
    if (kept == 0 && res->understood.category_len
        && res->filter.category == res->understood.category)
    {
        res->filter.category = NULL;
        res->filter.category_len = 0;
        res->understood.category = NULL;
        res->understood.category_len = 0;
        c = first;
        goto retrieve;
    }

    t = rs_engine_us();
    res->us_retrieve = t - res->us_embed - t0;

    for (i = 0; i < (int) kept; i++) {
        rs_rank_score(&ctx, &cand[i]);
    }

    res->hits = req->alloc(req->alloc_data, req->k * sizeof(rs_hit_t));
    if (res->hits == NULL) {
        return -1;
    }

    rc = rs_rank_select(&ctx, cand, kept, res->hits, &res->nhits);
    res->us_rank = rs_engine_us() - t;

    return rc;
}
