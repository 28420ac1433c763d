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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rs_build.h"
#include "rs_ckpt.h"
#include "rs_embed.h"
#include "rs_engine.h"
#include "rs_store.h"
#include "rs_util.h"
#include "rs_vocab.h"


/* what a product says about itself, and how loudly each part says it */
#define RS_FIELDS  5
#define RS_DESCRIPTION_MAX  2000


typedef struct {
    uint32_t  *last_doc;        /* per IDF slot: last document counted */
    uint32_t  *df;
    uint32_t   doc;
    uint32_t   idf_bits;
} rs_df_ctx_t;


/* the external model's side of a build */
typedef struct {
    const rs_build_conf_t  *conf;
    const rs_catalog_t     *cat;
    rs_ckpt_t              *ckpt;
    char                   *ckpt_path;
    char                  **texts;      /* per catalogue row */
    size_t                 *lens;
    uint64_t               *keys;
    float                  *vectors;    /* per row, dim floats each */
    uint32_t                dim;
    unsigned                dim_from_ckpt:1;
    rs_embed_job_t         *jobs;
    size_t                 *rows;       /* the catalogue row of each job */
    size_t                  embedded;
} rs_build_model_t;



static void rs_build_fields(const rs_product_t *p, const char **text,
    size_t *len, unsigned *kinds, float *weight);
static void rs_build_count_df(void *data, uint64_t hash, float weight);
static int rs_build_write_embedder(const char *path, const rs_embedder_t *em,
    char *err, size_t errlen);
static int rs_build_write_manifest(const rs_build_conf_t *conf,
    const rs_catalog_t *cat, rs_index_type_e type,
    rs_index_type_e lexical_type, rs_build_stats_t *stats, char *err,
    size_t errlen);
static json_t *rs_build_embedder_json(const rs_build_conf_t *conf,
    rs_index_type_e lexical_type, uint32_t model_dim);
static int rs_build_lexical(const rs_build_conf_t *conf,
    const rs_catalog_t *cat, float *idf, float *vectors, char *err,
    size_t errlen);
static int rs_build_index(const rs_build_conf_t *conf, const char *name,
    const float *vectors, size_t n, uint32_t dim, rs_index_type_e *type,
    char *err, size_t errlen);
static int rs_build_model(rs_build_model_t *m, rs_build_stats_t *stats,
    char *err, size_t errlen);
static int rs_build_model_texts(rs_build_model_t *m, char *err,
    size_t errlen);
static int rs_build_model_vectors(void *build, size_t first, size_t n,
    const float *vectors, uint32_t dim, char *err, size_t errlen);
static void rs_build_model_free(rs_build_model_t *m);
static json_t *rs_build_text_context(const rs_product_t *p);
static int rs_build_text_set(json_t *ctx, const char *key, const char *s,
    size_t len);
static void rs_build_path(char *buf, size_t size, const char *dir,
    const char *name, const char *suffix);
static void rs_build_no_progress(void *data, const char *stage, size_t done,
    size_t total);


static void
rs_build_fields(const rs_product_t *p, const char **text, size_t *len,
    unsigned *kinds, float *weight)
{
    size_t  i;

    /*
     * Character 3-grams only where words are few and telling: a long
     * description would add hundreds of them and bury the title's words
     * under hash collisions.
     */
    text[0] = p->title;        weight[0] = 2.0f;  kinds[0] = RS_EMBED_ALL;
    text[1] = p->brand;        weight[1] = 1.0f;  kinds[1] = RS_EMBED_ALL;
    text[2] = p->category;     weight[2] = 2.0f;  kinds[2] = RS_EMBED_ALL;
    text[3] = p->tags;         weight[3] = 0.7f;
    kinds[3] = RS_EMBED_WORDS | RS_EMBED_CHAR3;
    text[4] = p->description;  weight[4] = 0.4f;
    kinds[4] = RS_EMBED_WORDS | RS_EMBED_BIGRAMS;

    for (i = 0; i < RS_FIELDS; i++) {
        len[i] = text[i] ? strlen(text[i]) : 0;
    }

    /* a long description would otherwise outvote the title */
    if (len[4] > RS_DESCRIPTION_MAX) {
        len[4] = RS_DESCRIPTION_MAX;
    }
}


static void
rs_build_count_df(void *data, uint64_t hash, float weight)
{
    uint32_t      slot;
    rs_df_ctx_t  *ctx;

    (void) weight;

    ctx = data;
    slot = (uint32_t) (hash >> (64 - ctx->idf_bits));

    if (ctx->last_doc[slot] != ctx->doc) {
        ctx->last_doc[slot] = ctx->doc;
        ctx->df[slot]++;
    }
}


static void
rs_build_no_progress(void *data, const char *stage, size_t done, size_t total)
{
    (void) data;
    (void) stage;
    (void) done;
    (void) total;
}


static void
rs_build_path(char *buf, size_t size, const char *dir, const char *name,
    const char *suffix)
{
    snprintf(buf, size, "%s/%s%s", dir, name, suffix);
}


static int
rs_build_write_embedder(const char *path, const rs_embedder_t *em, char *err,
    size_t errlen)
{
    FILE                  *f;
    size_t                 n;
    rs_embedder_header_t   h;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, RS_EMBEDDER_MAGIC, 8);
    h.version = RS_EMBED_VERSION;
    h.dim = em->dim;
    h.idf_bits = em->idf_bits;
    h.ndocs = em->ndocs;

    n = (size_t) 1 << em->idf_bits;

    f = fopen(path, "wb");
    if (f == NULL) {
        rs_errf(err, errlen, "cannot create \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    if (fwrite(&h, sizeof(h), 1, f) != 1
        || fwrite(em->idf, sizeof(float), n, f) != n)
    {
        rs_errf(err, errlen, "cannot write \"%s\": %s", path,
                strerror(errno));
        fclose(f);
        return -1;
    }

    if (fclose(f) != 0) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    return 0;
}


static json_t *
rs_build_embedder_json(const rs_build_conf_t *conf,
    rs_index_type_e lexical_type, uint32_t model_dim)
{
    json_t  *builtin, *emb;

    builtin = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}",
                        "type", "builtin",
                        "name", RS_EMBED_NAME,
                        "version", RS_EMBED_VERSION,
                        "dim", (int) conf->dim,
                        "idf_bits", RS_EMBED_IDF_BITS,
                        "features",
                        "word unigrams, word bigrams, character 3-grams");

    if (builtin == NULL || conf->embedder == RS_EMBEDDER_BUILTIN) {
        return builtin;
    }

    /* the built-in embedder that answers when the model cannot */
    json_object_del(builtin, "type");
    json_object_set_new(builtin, "index", json_string(RS_FILE_LEXICAL_INDEX));
    json_object_set_new(builtin, "index_type",
                        json_string(rs_index_type_name(lexical_type)));
    json_object_set_new(builtin, "embedder", json_string(RS_FILE_EMBEDDER));

    /*
     * "name" is what modules before external models compare with the
     * built-in embedder's: they refuse this index instead of embedding
     * queries into a space they do not know.
     */
    emb = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o}",
                    "type", "openai",
                    "name", "openai",
                    "endpoint_host",
                    conf->endpoint_host ? conf->endpoint_host : "",
                    "model", conf->model,
                    "dim", (int) model_dim,
                    "text_template",
                    conf->text_template ? conf->text_template
                                        : RS_BUILD_TEXT_TEMPLATE,
                    "companion", builtin);

    return emb;
}


static int
rs_build_write_manifest(const rs_build_conf_t *conf, const rs_catalog_t *cat,
    rs_index_type_e type, rs_index_type_e lexical_type,
    rs_build_stats_t *stats, char *err, size_t errlen)
{
    int          rc;
    char         path[4096], tmp[4096], hex[32], when[32];
    json_t      *m, *files, *f, *emb;
    size_t       i, nnames;
    time_t       now;
    uint32_t     dim;
    uint64_t     sum, all;
    struct tm    tm;
    struct stat  sb;
    static const char  *names[] = { RS_FILE_ITEMS, RS_FILE_EMBEDDER,
                                    RS_FILE_INDEX, RS_FILE_VOCAB,
                                    RS_FILE_LEXICAL_INDEX };

    dim = conf->embedder == RS_EMBEDDER_OPENAI ? stats->model_dim : conf->dim;
    nnames = sizeof(names) / sizeof(names[0]);

    if (conf->embedder == RS_EMBEDDER_BUILTIN) {
        nnames--;
    }

    m = json_object();
    files = json_object();
    emb = rs_build_embedder_json(conf, lexical_type, dim);

    if (m == NULL || files == NULL || emb == NULL) {
        json_decref(m);
        json_decref(files);
        json_decref(emb);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    all = 0;

    for (i = 0; i < nnames; i++) {
        rs_build_path(path, sizeof(path), conf->out, names[i], "");

        if (rs_file_checksum(path, &sum, err, errlen) != 0
            || stat(path, &sb) != 0)
        {
            json_decref(m);
            json_decref(files);
            json_decref(emb);
            return -1;
        }

        snprintf(hex, sizeof(hex), "%016" PRIx64, sum);
        all = rs_hash64(&sum, sizeof(sum), all);

        f = json_pack("{s:s, s:I}", "checksum", hex,
                      "size", (json_int_t) sb.st_size);
        json_object_set_new(files, names[i], f);
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(stats->version, sizeof(stats->version), "%016" PRIx64, all);

    json_object_set_new(m, "format", json_string(RS_INDEX_FORMAT));
    json_object_set_new(m, "format_version",
                        json_integer(RS_INDEX_FORMAT_VERSION));
    json_object_set_new(m, "version", json_string(stats->version));
    json_object_set_new(m, "item_count", json_integer(cat->nitems));
    json_object_set_new(m, "dim", json_integer(dim));
    json_object_set_new(m, "index_type",
                        json_string(rs_index_type_name(type)));
    json_object_set_new(m, "embedder", emb);
    json_object_set_new(m, "files", files);
    json_object_set_new(m, "build_time", json_string(when));
    json_object_set_new(m, "catalog",
                        json_pack("{s:s, s:I, s:I, s:I}",
                                  "source", conf->catalog,
                                  "items", (json_int_t) cat->nitems,
                                  "rejected", (json_int_t) cat->bad,
                                  "duplicates",
                                  (json_int_t) cat->duplicates));

    rs_build_path(path, sizeof(path), conf->out, RS_FILE_MANIFEST, "");
    rs_build_path(tmp, sizeof(tmp), conf->out, RS_FILE_MANIFEST, ".tmp");

    rc = json_dump_file(m, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(m);

    /* the manifest goes last and atomically: it is what makes DIR valid */
    if (rc != 0 || rename(tmp, path) != 0) {
        rs_errf(err, errlen, "cannot write \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    return 0;
}


/* the built-in embedder: IDF learned over the catalogue, then vectors */

static int
rs_build_lexical(const rs_build_conf_t *conf, const rs_catalog_t *cat,
    float *idf, float *vectors, char *err, size_t errlen)
{
    float           weight[RS_FIELDS];
    size_t          i, j, n, nslots, len[RS_FIELDS];
    unsigned        kinds[RS_FIELDS];
    uint32_t        dim;
    const char     *text[RS_FIELDS];
    rs_df_ctx_t     df;
    rs_embedder_t   em;

    n = cat->nitems;
    dim = conf->dim;
    nslots = (size_t) 1 << RS_EMBED_IDF_BITS;

    df.df = calloc(nslots, sizeof(uint32_t));
    df.last_doc = malloc(nslots * sizeof(uint32_t));

    if (df.df == NULL || df.last_doc == NULL) {
        free(df.df);
        free(df.last_doc);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    memset(df.last_doc, 0xff, nslots * sizeof(uint32_t));
    df.idf_bits = RS_EMBED_IDF_BITS;

    for (i = 0; i < n; i++) {
        df.doc = (uint32_t) i;
        rs_build_fields(&cat->items[i], text, len, kinds, weight);

        for (j = 0; j < RS_FIELDS; j++) {
            rs_embed_features(text[j], len[j], kinds[j], rs_build_count_df,
                              &df);
        }

        if ((i & 1023) == 0) {
            conf->progress(conf->progress_data, "learning weights", i, n);
        }
    }

    /* smoothed, and never zero, so a word in every product still counts */
    for (i = 0; i < nslots; i++) {
        idf[i] = (float) (log((double) (n + 1) / (df.df[i] + 1)) + 1.0);
    }

    free(df.df);
    free(df.last_doc);

    em.dim = dim;
    em.idf_bits = RS_EMBED_IDF_BITS;
    em.ndocs = n;
    em.idf = idf;

    for (i = 0; i < n; i++) {
        rs_build_fields(&cat->items[i], text, len, kinds, weight);

        for (j = 0; j < RS_FIELDS; j++) {
            rs_embed_add(&em, text[j], len[j], kinds[j], weight[j],
                         vectors + i * dim);
        }

        rs_embed_normalize(vectors + i * dim, dim);

        if ((i & 1023) == 0) {
            conf->progress(conf->progress_data, "embedding", i, n);
        }
    }

    conf->progress(conf->progress_data, "embedding", n, n);

    return 0;
}


static int
rs_build_index(const rs_build_conf_t *conf, const char *name,
    const float *vectors, size_t n, uint32_t dim, rs_index_type_e *type,
    char *err, size_t errlen)
{
    int          rc;
    char         path[4096];
    rs_index_t  *index;

    conf->progress(conf->progress_data, "indexing", 0, n);

    if (rs_index_build(&index, vectors, n, (int) dim, conf->index_type, err,
                       errlen)
        != 0)
    {
        return -1;
    }

    *type = rs_index_type(index);

    conf->progress(conf->progress_data, "indexing", n, n);

    rs_build_path(path, sizeof(path), conf->out, name, "");
    rc = rs_index_save(index, path, err, errlen);
    rs_index_free(index);

    return rc;
}


/* absent and empty fields stay out, so that sections skip them */

static int
rs_build_text_set(json_t *ctx, const char *key, const char *s, size_t len)
{
    if (s == NULL || len == 0) {
        json_object_del(ctx, key);
        return 0;
    }

    return json_object_set_new(ctx, key, json_stringn(s, len));
}


static json_t *
rs_build_text_context(const rs_product_t *p)
{
    size_t       len;
    json_t      *ctx, *tags;
    const char  *s, *sep;

    ctx = p->extra ? json_loads(p->extra, 0, NULL) : NULL;

    if (!json_is_object(ctx)) {
        json_decref(ctx);
        ctx = json_object();
    }

    tags = json_array();

    if (ctx == NULL || tags == NULL) {
        json_decref(ctx);
        json_decref(tags);
        return NULL;
    }

    /* models read a few hundred tokens: the description's start will do */
    len = p->description ? strlen(p->description) : 0;

    if (len > RS_DESCRIPTION_MAX) {
        len = RS_DESCRIPTION_MAX;

        while (len && ((unsigned char) p->description[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    for (s = p->tags; s != NULL && *s != '\0'; s = *sep ? sep + 1 : sep) {
        sep = strchr(s, RS_TAG_SEP);
        sep = sep ? sep : s + strlen(s);

        if (json_array_append_new(tags, json_stringn(s, sep - s)) != 0) {
            json_decref(tags);
            json_decref(ctx);
            return NULL;
        }
    }

    if (json_object_set_new(ctx, "tags", tags) != 0
        || rs_build_text_set(ctx, "id", p->id, strlen(p->id)) != 0
        || rs_build_text_set(ctx, "title", p->title, strlen(p->title)) != 0
        || rs_build_text_set(ctx, "brand", p->brand,
                             p->brand ? strlen(p->brand) : 0) != 0
        || rs_build_text_set(ctx, "category", p->category,
                             p->category ? strlen(p->category) : 0) != 0
        || rs_build_text_set(ctx, "description", p->description, len) != 0)
    {
        json_decref(ctx);
        return NULL;
    }

    return ctx;
}


char *
rs_build_text(const rs_tpl_t *tpl, const rs_product_t *p, size_t *len)
{
    int        rc;
    json_t    *ctx;
    rs_buf_t   b;

    ctx = rs_build_text_context(p);
    if (ctx == NULL) {
        return NULL;
    }

    memset(&b, 0, sizeof(b));

    rc = rs_tpl_render(tpl, ctx, rs_buf_write, &b);
    json_decref(ctx);

    /* an empty text still gets its NUL */
    if (rc != 0 || rs_buf_add(&b, "", 0) != 0) {
        free(b.data);
        return NULL;
    }

    *len = b.len;

    return b.data;
}


static int
rs_build_model_texts(rs_build_model_t *m, char *err, size_t errlen)
{
    size_t               i, j, n;
    rs_tpl_t            *tpl;
    const char          *src;
    const rs_product_t  *p;

    n = m->cat->nitems;
    src = m->conf->text_template ? m->conf->text_template
                                 : RS_BUILD_TEXT_TEMPLATE;

    if (rs_tpl_parse(&tpl, src, strlen(src), "--text-template",
                     RS_TPL_NO_ESCAPE | RS_TPL_STRICT_PARTIALS, NULL, NULL,
                     err, errlen)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        p = &m->cat->items[i];
        m->texts[i] = rs_build_text(tpl, p, &m->lens[i]);

        if (m->texts[i] == NULL) {
            rs_errf(err, errlen, "out of memory");
            rs_tpl_free(tpl);
            return -1;
        }

        for (j = 0; j < m->lens[i]; j++) {
            if (!isspace((unsigned char) m->texts[i][j])) {
                break;
            }
        }

        if (j == m->lens[i]) {
            rs_errf(err, errlen, "the text template gives item \"%s\" "
                    "(line %zu) nothing to embed", p->id, p->line);
            rs_tpl_free(tpl);
            return -1;
        }

        m->keys[i] = rs_ckpt_key(p->id, m->texts[i], m->lens[i]);
    }

    rs_tpl_free(tpl);

    return 0;
}


/* a batch of the model's vectors: checked, kept, and checkpointed */

static int
rs_build_model_vectors(void *build, size_t first, size_t n,
    const float *vectors, uint32_t dim, char *err, size_t errlen)
{
    size_t             k, row;
    uint32_t           d;
    const char        *id;
    const float       *v;
    rs_build_model_t  *m;

    m = build;

    if (dim == 0 || dim > RS_EMBED_MAX_DIM) {
        rs_errf(err, errlen, "the model returned %u-dimensional vectors: "
                "1 to %d are supported", dim, RS_EMBED_MAX_DIM);
        return -1;
    }

    if (m->dim == 0) {
        m->vectors = malloc(m->cat->nitems * dim * sizeof(float));
        if (m->vectors == NULL) {
            rs_errf(err, errlen, "out of memory");
            return -1;
        }

        m->dim = dim;
    }

    for (k = 0; k < n; k++) {
        row = m->rows[first + k];
        id = m->cat->items[row].id;
        v = vectors + k * dim;

        if (dim != m->dim && m->dim_from_ckpt) {
            rs_errf(err, errlen, "item \"%s\": the model returned %u "
                    "dimensions, but \"%s\" holds its earlier %u-dimensional "
                    "vectors: the model's dimension changed; remove the "
                    "checkpoint to embed everything again", id, dim,
                    m->ckpt_path, m->dim);
            return -1;
        }

        if (dim != m->dim) {
            rs_errf(err, errlen, "item \"%s\": the model returned %u "
                    "dimensions where earlier items had %u: the model's "
                    "dimension changed mid-build", id, dim, m->dim);
            return -1;
        }

        for (d = 0; d < dim && v[d] == 0.0f; d++) { /* void */ }

        if (d == dim) {
            rs_errf(err, errlen, "item \"%s\": the model returned a zero "
                    "vector", id);
            return -1;
        }

        if (rs_ckpt_add(m->ckpt, m->keys[row], v, dim, err, errlen) != 0) {
            return -1;
        }

        memcpy(m->vectors + row * dim, v, dim * sizeof(float));
        m->embedded++;
    }

    return rs_ckpt_flush(m->ckpt, err, errlen);
}


/*
 * Every product's text, the vectors the checkpoint already has, the
 * model for the rest; on return m->vectors holds one unit vector per
 * product.
 */

static int
rs_build_model(rs_build_model_t *m, rs_build_stats_t *stats, char *err,
    size_t errlen)
{
    int           stale;
    char          path[4096];
    size_t        i, n, njobs;
    const float  *v;

    n = m->cat->nitems;

    m->texts = calloc(n, sizeof(char *));
    m->lens = calloc(n, sizeof(size_t));
    m->keys = calloc(n, sizeof(uint64_t));
    m->jobs = calloc(n, sizeof(rs_embed_job_t));
    m->rows = calloc(n, sizeof(size_t));

    if (m->texts == NULL || m->lens == NULL || m->keys == NULL
        || m->jobs == NULL || m->rows == NULL)
    {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    if (rs_build_model_texts(m, err, errlen) != 0) {
        return -1;
    }

    rs_build_path(path, sizeof(path), m->conf->out, RS_FILE_CHECKPOINT, "");

    m->ckpt_path = strdup(path);
    if (m->ckpt_path == NULL) {
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    if (rs_ckpt_open(&m->ckpt, path, m->conf->model, &stale, err, errlen)
        != 0)
    {
        return -1;
    }

    stats->stale_checkpoint = stale ? 1 : 0;
    m->dim = rs_ckpt_dim(m->ckpt);
    m->dim_from_ckpt = m->dim != 0;

    if (m->dim) {
        m->vectors = malloc(n * m->dim * sizeof(float));
        if (m->vectors == NULL) {
            rs_errf(err, errlen, "out of memory");
            return -1;
        }
    }

    njobs = 0;

    for (i = 0; i < n; i++) {
        v = rs_ckpt_find(m->ckpt, m->keys[i]);

        if (v != NULL) {
            memcpy(m->vectors + i * m->dim, v, m->dim * sizeof(float));
            stats->reused++;
            continue;
        }

        m->jobs[njobs].id = m->cat->items[i].id;
        m->jobs[njobs].text = m->texts[i];
        m->jobs[njobs].len = m->lens[i];
        m->rows[njobs] = i;
        njobs++;
    }

    if (njobs
        && m->conf->embed(m->conf->embed_data, m->jobs, njobs,
                          rs_build_model_vectors, m, err, errlen)
           != 0)
    {
        stats->embedded = m->embedded;
        return -1;
    }

    stats->embedded = m->embedded;

    if (m->embedded != njobs) {
        rs_errf(err, errlen, "the embedder returned %zu of %zu vectors",
                m->embedded, njobs);
        return -1;
    }

    /* what the catalogue no longer has leaves the checkpoint */
    if (rs_ckpt_compact(m->ckpt, m->keys, m->vectors, n, err, errlen) != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        rs_embed_normalize(m->vectors + i * m->dim, m->dim);
    }

    stats->model_dim = m->dim;

    return 0;
}


static void
rs_build_model_free(rs_build_model_t *m)
{
    size_t  i;

    if (m->texts != NULL) {
        for (i = 0; i < m->cat->nitems; i++) {
            free(m->texts[i]);
        }
    }

    rs_ckpt_close(m->ckpt);
    free(m->ckpt_path);
    free(m->texts);
    free(m->lens);
    free(m->keys);
    free(m->vectors);
    free(m->jobs);
    free(m->rows);
}


int
rs_build(const rs_build_conf_t *conf, rs_build_stats_t *stats, char *err,
    size_t errlen)
{
    int               rc;
    char              path[4096];
    float            *idf, *lexical, *vectors;
    size_t            n;
    uint32_t          dim;
    rs_vocab_t       *vocab;
    rs_catalog_t      cat;
    rs_embedder_t     em;
    rs_build_conf_t   c;
    rs_index_type_e   type, lexical_type;
    rs_build_model_t  model;

    memset(stats, 0, sizeof(rs_build_stats_t));
    memset(&model, 0, sizeof(rs_build_model_t));

    c = *conf;
    conf = &c;

    if (c.progress == NULL) {
        c.progress = rs_build_no_progress;
    }

    idf = NULL;
    lexical = NULL;
    rc = -1;

    if (conf->dim < 8 || conf->dim > RS_EMBED_MAX_DIM) {
        rs_errf(err, errlen, "dimension must be between 8 and %d",
                RS_EMBED_MAX_DIM);
        return -1;
    }

    if (conf->embedder == RS_EMBEDDER_OPENAI
        && (conf->model == NULL || conf->model[0] == '\0'
            || conf->embed == NULL))
    {
        rs_errf(err, errlen, "an external embedder needs a model name and "
                "an embed function");
        return -1;
    }

    if (mkdir(conf->out, 0755) != 0 && errno != EEXIST) {
        rs_errf(err, errlen, "cannot create \"%s\": %s", conf->out,
                strerror(errno));
        return -1;
    }

    /* a stale manifest must not vouch for files being rewritten */
    rs_build_path(path, sizeof(path), conf->out, RS_FILE_MANIFEST, "");
    if (unlink(path) != 0 && errno != ENOENT) {
        rs_errf(err, errlen, "cannot remove \"%s\": %s", path,
                strerror(errno));
        return -1;
    }

    if (rs_catalog_load(&cat, conf->catalog, conf->strict, conf->report,
                        conf->report_data, err, errlen)
        != 0)
    {
        return -1;
    }

    stats->bad = cat.bad;
    stats->duplicates = cat.duplicates;
    n = cat.nitems;

    if (n == 0) {
        rs_errf(err, errlen, "\"%s\" holds no valid product", conf->catalog);
        goto done;
    }

    /* the slow, paid and fallible part first, before anything is written */
    if (conf->embedder == RS_EMBEDDER_OPENAI) {
        model.conf = conf;
        model.cat = &cat;

        if (rs_build_model(&model, stats, err, errlen) != 0) {
            goto done;
        }
    }

    idf = malloc(((size_t) 1 << RS_EMBED_IDF_BITS) * sizeof(float));
    lexical = calloc(n * conf->dim, sizeof(float));

    if (idf == NULL || lexical == NULL) {
        rs_errf(err, errlen, "out of memory");
        goto done;
    }

    if (rs_build_lexical(conf, &cat, idf, lexical, err, errlen) != 0) {
        goto done;
    }

    lexical_type = RS_INDEX_AUTO;

    if (conf->embedder == RS_EMBEDDER_OPENAI) {
        if (rs_build_index(conf, RS_FILE_LEXICAL_INDEX, lexical, n,
                           conf->dim, &lexical_type, err, errlen)
            != 0)
        {
            goto done;
        }

        vectors = model.vectors;
        dim = model.dim;

    } else {
        vectors = lexical;
        dim = conf->dim;
    }

    if (rs_build_index(conf, RS_FILE_INDEX, vectors, n, dim, &type, err,
                       errlen)
        != 0)
    {
        goto done;
    }

    rs_build_path(path, sizeof(path), conf->out, RS_FILE_ITEMS, "");
    if (rs_store_write(path, &cat, vectors, dim, err, errlen) != 0) {
        goto done;
    }

    em.dim = conf->dim;
    em.idf_bits = RS_EMBED_IDF_BITS;
    em.ndocs = n;
    em.idf = idf;

    rs_build_path(path, sizeof(path), conf->out, RS_FILE_EMBEDDER, "");
    if (rs_build_write_embedder(path, &em, err, errlen) != 0) {
        goto done;
    }

    /* the brands, categories and price levels queries are read against */
    rs_build_path(path, sizeof(path), conf->out, RS_FILE_VOCAB, "");
    if (rs_vocab_build(&vocab, &cat, err, errlen) != 0) {
        goto done;
    }

    rc = rs_vocab_write(vocab, path, err, errlen);
    rs_vocab_free(vocab);

    if (rc != 0) {
        rc = -1;
        goto done;
    }

    if (rs_build_write_manifest(conf, &cat, type, lexical_type, stats, err,
                                errlen)
        != 0)
    {
        rc = -1;
        goto done;
    }

    stats->items = n;
    stats->index_type = type;
    rc = 0;

done:

    rs_build_model_free(&model);
    free(lexical);
    free(idf);
    rs_catalog_free(&cat);

    return rc;
}
