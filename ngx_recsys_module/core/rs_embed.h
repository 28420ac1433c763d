/*
 * Copyright (C) ngx_recsys authors
 *
 * The built-in embedder: hashed word unigrams, bigrams and character
 * 3-grams, weighted by TF-IDF learned at build time, signed-hashed into
 * dim dimensions and L2-normalised.  The CLI embeds the catalogue and the
 * module embeds queries with this same code, so both always agree.
 */

#ifndef RS_EMBED_H
#define RS_EMBED_H


#include <stddef.h>
#include <stdint.h>


#define RS_EMBED_NAME            "hashed-tfidf"
#define RS_EMBED_VERSION         2
#define RS_EMBED_DEFAULT_DIM     256
#define RS_EMBED_MAX_DIM         4096
#define RS_EMBED_IDF_BITS        18
#define RS_EMBED_MAX_TOKEN       64


/*
 * Who embedded an index's items: the built-in embedder, or a model behind
 * an OpenAI-compatible API, whose index then carries a built-in companion
 * for queries the model cannot embed.
 */
typedef enum {
    RS_EMBEDDER_BUILTIN = 0,
    RS_EMBEDDER_OPENAI
} rs_embedder_type_e;


typedef struct {
    uint32_t      dim;
    uint32_t      idf_bits;
    uint64_t      ndocs;
    const float  *idf;          /* 1 << idf_bits weights */
} rs_embedder_t;


/* which kinds of features a text contributes */
#define RS_EMBED_WORDS    0x01
#define RS_EMBED_BIGRAMS  0x02
#define RS_EMBED_CHAR3    0x04
#define RS_EMBED_ALL      (RS_EMBED_WORDS|RS_EMBED_BIGRAMS|RS_EMBED_CHAR3)


/* called once per feature occurrence; weight is the feature kind's weight */
typedef void (*rs_feature_pt)(void *data, uint64_t hash, float weight);


void rs_embed_features(const char *text, size_t len, unsigned kinds,
    rs_feature_pt handler, void *data);
void rs_embed_add(const rs_embedder_t *em, const char *text, size_t len,
    unsigned kinds, float weight, float *vec);
float rs_embed_normalize(float *vec, uint32_t dim);
uint32_t rs_embed_idf_slot(const rs_embedder_t *em, uint64_t hash);

/* "builtin", "openai" */
const char *rs_embedder_type_name(rs_embedder_type_e type);
int rs_embedder_type_parse(const char *name, rs_embedder_type_e *type);


#endif /* RS_EMBED_H */
