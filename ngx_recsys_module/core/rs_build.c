/*
 * Copyright (C) ngx_recsys authors
 */


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


static void rs_build_fields(const rs_product_t *p, const char **text,
    size_t *len, unsigned *kinds, float *weight);
static void rs_build_count_df(void *data, uint64_t hash, float weight);
static int rs_build_write_embedder(const char *path, const rs_embedder_t *em,
    char *err, size_t errlen);
static int rs_build_write_manifest(const rs_build_conf_t *conf,
    const rs_catalog_t *cat, rs_index_type_e type, rs_build_stats_t *stats,
    char *err, size_t errlen);
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


static int
rs_build_write_manifest(const rs_build_conf_t *conf, const rs_catalog_t *cat,
    rs_index_type_e type, rs_build_stats_t *stats, char *err, size_t errlen)
{
    int          rc;
    char         path[4096], tmp[4096], hex[32], when[32];
    json_t      *m, *files, *f;
    size_t       i;
    time_t       now;
    uint64_t     sum, all;
    struct tm    tm;
    struct stat  sb;
    static const char  *names[] = { RS_FILE_ITEMS, RS_FILE_EMBEDDER,
                                    RS_FILE_INDEX, RS_FILE_VOCAB };

    m = json_object();
    files = json_object();

    if (m == NULL || files == NULL) {
        json_decref(m);
        json_decref(files);
        rs_errf(err, errlen, "out of memory");
        return -1;
    }

    all = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        rs_build_path(path, sizeof(path), conf->out, names[i], "");

        if (rs_file_checksum(path, &sum, err, errlen) != 0
            || stat(path, &sb) != 0)
        {
            json_decref(m);
            json_decref(files);
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
    json_object_set_new(m, "dim", json_integer(conf->dim));
    json_object_set_new(m, "index_type",
                        json_string(rs_index_type_name(type)));
    json_object_set_new(m, "embedder",
                        json_pack("{s:s, s:i, s:i, s:i, s:s}",
                                  "name", RS_EMBED_NAME,
                                  "version", RS_EMBED_VERSION,
                                  "dim", (int) conf->dim,
                                  "idf_bits", RS_EMBED_IDF_BITS,
                                  "features",
                                  "word unigrams, word bigrams, "
                                  "character 3-grams"));
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


int
rs_build(const rs_build_conf_t *conf, rs_build_stats_t *stats, char *err,
    size_t errlen)
{
    int             rc;
    char            path[4096];
    float          *idf, *vectors, weight[RS_FIELDS];
    size_t          i, j, n, nslots, len[RS_FIELDS];
    unsigned        kinds[RS_FIELDS];
    uint32_t        dim;
    const char     *text[RS_FIELDS];
    rs_index_t     *index;
    rs_vocab_t     *vocab;
    rs_df_ctx_t     df;
    rs_catalog_t    cat;
    rs_embedder_t   em;
    rs_progress_pt  progress;
    rs_index_type_e type;

    memset(stats, 0, sizeof(rs_build_stats_t));
    memset(&df, 0, sizeof(rs_df_ctx_t));

    progress = conf->progress ? conf->progress : rs_build_no_progress;
    dim = conf->dim;
    idf = NULL;
    vectors = NULL;
    index = NULL;
    rc = -1;

    if (dim < 8 || dim > RS_EMBED_MAX_DIM) {
        rs_errf(err, errlen, "dimension must be between 8 and %d",
                RS_EMBED_MAX_DIM);
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

    nslots = (size_t) 1 << RS_EMBED_IDF_BITS;

    idf = malloc(nslots * sizeof(float));
    df.df = calloc(nslots, sizeof(uint32_t));
    df.last_doc = malloc(nslots * sizeof(uint32_t));
    vectors = calloc(n * dim, sizeof(float));

    if (idf == NULL || df.df == NULL || df.last_doc == NULL
        || vectors == NULL)
    {
        rs_errf(err, errlen, "out of memory");
        goto done;
    }

    memset(df.last_doc, 0xff, nslots * sizeof(uint32_t));
    df.idf_bits = RS_EMBED_IDF_BITS;

    for (i = 0; i < n; i++) {
        df.doc = (uint32_t) i;
        rs_build_fields(&cat.items[i], text, len, kinds, weight);

        for (j = 0; j < RS_FIELDS; j++) {
            rs_embed_features(text[j], len[j], kinds[j], rs_build_count_df,
                              &df);
        }

        if ((i & 1023) == 0) {
            progress(conf->progress_data, "learning weights", i, n);
        }
    }

    /* smoothed, and never zero, so a word in every product still counts */
    for (i = 0; i < nslots; i++) {
        idf[i] = (float) (log((double) (n + 1) / (df.df[i] + 1)) + 1.0);
    }

    em.dim = dim;
    em.idf_bits = RS_EMBED_IDF_BITS;
    em.ndocs = n;
    em.idf = idf;

    for (i = 0; i < n; i++) {
        rs_build_fields(&cat.items[i], text, len, kinds, weight);

        for (j = 0; j < RS_FIELDS; j++) {
            rs_embed_add(&em, text[j], len[j], kinds[j], weight[j],
                         vectors + i * dim);
        }

        rs_embed_normalize(vectors + i * dim, dim);

        if ((i & 1023) == 0) {
            progress(conf->progress_data, "embedding", i, n);
        }
    }

    progress(conf->progress_data, "embedding", n, n);

    progress(conf->progress_data, "indexing", 0, n);

    if (rs_index_build(&index, vectors, n, (int) dim, conf->index_type, err,
                       errlen)
        != 0)
    {
        goto done;
    }

    type = rs_index_type(index);

    progress(conf->progress_data, "indexing", n, n);

    rs_build_path(path, sizeof(path), conf->out, RS_FILE_INDEX, "");
    if (rs_index_save(index, path, err, errlen) != 0) {
        goto done;
    }

    rs_build_path(path, sizeof(path), conf->out, RS_FILE_ITEMS, "");
    if (rs_store_write(path, &cat, vectors, dim, err, errlen) != 0) {
        goto done;
    }

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

    if (rs_build_write_manifest(conf, &cat, type, stats, err, errlen) != 0) {
        goto done;
    }

    stats->items = n;
    stats->index_type = type;
    rc = 0;

done:

    if (index != NULL) {
        rs_index_free(index);
    }

    free(vectors);
    free(df.df);
    free(df.last_doc);
    free(idf);
    rs_catalog_free(&cat);

    return rc;
}
