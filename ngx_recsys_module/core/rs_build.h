/*
 * Copyright (C) ngx_recsys authors
 *
 * Building an index directory from a catalogue: learn the embedder's IDF,
 * embed every product, build the faiss index, write the item store and
 * the manifest.  Used by "recsys-index build" and the unit tests.
 *
 * With an external model (RS_EMBEDDER_OPENAI) the products' texts, made
 * from a template, go to the caller's embed function, and their vectors
 * make index.faiss and the item store; the built-in embedder's vectors
 * still make the companion index-lexical.faiss, which serves the queries
 * the model cannot embed.  The model's vectors are kept in a checkpoint
 * in the directory as they arrive (rs_ckpt.h), so a build resumes.
 */

#ifndef RS_BUILD_H
#define RS_BUILD_H


#include <stddef.h>
#include <stdint.h>

#include "rs_catalog.h"
#include "rs_embed.h"
#include "rs_index.h"
#include "rs_tpl.h"


/*
 * What a product says to an embedding model.  A Mustache template over
 * id, title, brand, category ("A > B"), description (its first 2,000
 * bytes), tags (a list) and the catalogue's other fields; nothing is
 * HTML-escaped.  An absent or empty field is false for a section.
 */
#define RS_BUILD_TEXT_TEMPLATE                                               \
    "{{title}}{{#brand}} by {{brand}}{{/brand}}"                             \
    "{{#category}}. Category: {{category}}{{/category}}"                     \
    "{{#description}}. {{description}}{{/description}}"


typedef void (*rs_progress_pt)(void *data, const char *stage, size_t done,
    size_t total);


typedef struct {
    const char  *id;
    const char  *text;
    size_t       len;
} rs_embed_job_t;


/*
 * The embed function hands back the vectors of jobs first .. first + n - 1
 * (one batch), n * dim floats; a non-zero return, with the reason in err,
 * must stop the embedding.
 */
typedef int (*rs_build_vectors_pt)(void *build, size_t first, size_t n,
    const float *vectors, uint32_t dim, char *err, size_t errlen);

/*
 * Embeds the n jobs, calling done once per batch of consecutive jobs;
 * returns 0 when every job was handed back, -1 with the reason in err.
 */
typedef int (*rs_build_embed_pt)(void *data, const rs_embed_job_t *jobs,
    size_t n, rs_build_vectors_pt done, void *build, char *err,
    size_t errlen);


typedef struct {
    const char            *catalog;
    const char            *out;
    rs_index_type_e        index_type;
    uint32_t               dim;             /* of the built-in embedder */
    int                    strict;
    rs_catalog_report_pt   report;
    void                  *report_data;
    rs_progress_pt         progress;
    void                  *progress_data;

    /* RS_EMBEDDER_OPENAI only */
    rs_embedder_type_e     embedder;
    const char            *model;
    const char            *endpoint_host;   /* for the manifest */
    const char            *text_template;   /* NULL: RS_BUILD_TEXT_TEMPLATE */
    rs_build_embed_pt      embed;
    void                  *embed_data;
} rs_build_conf_t;


typedef struct {
    size_t           items;
    size_t           bad;
    size_t           duplicates;
    rs_index_type_e  index_type;
    char             version[32];

    /* RS_EMBEDDER_OPENAI only */
    uint32_t         model_dim;
    size_t           embedded;              /* by the model in this run */
    size_t           reused;                /* found in the checkpoint */
    unsigned         stale_checkpoint:1;    /* of another model: dropped */
} rs_build_stats_t;


int rs_build(const rs_build_conf_t *conf, rs_build_stats_t *stats, char *err,
    size_t errlen);

/*
 * The text of one product under a template compiled with
 * RS_TPL_NO_ESCAPE, NUL-terminated, to free(); NULL when out of memory.
 */
char *rs_build_text(const rs_tpl_t *tpl, const rs_product_t *p,
    size_t *len);


#endif /* RS_BUILD_H */
