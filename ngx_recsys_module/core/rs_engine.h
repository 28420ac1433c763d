/*
 * Copyright (C) ngx_recsys authors
 *
 * A loaded index directory and the request path through it: embed the
 * query, retrieve candidates, filter, score and cut to k.  The module, the
 * CLI's "query" and "bench" and the unit tests all run this same code.
 */

#ifndef RS_ENGINE_H
#define RS_ENGINE_H


#include <stddef.h>
#include <stdint.h>

#include "rs_embed.h"
#include "rs_index.h"
#include "rs_rank.h"
#include "rs_store.h"
#include "rs_understand.h"
#include "rs_util.h"


#define RS_INDEX_FORMAT          "ngx_recsys-index"
#define RS_INDEX_FORMAT_VERSION  1

#define RS_FILE_MANIFEST         "manifest.json"
#define RS_FILE_ITEMS            "items.bin"
#define RS_FILE_EMBEDDER         "embedder.bin"
#define RS_FILE_INDEX            "index.faiss"
#define RS_FILE_LEXICAL_INDEX    "index-lexical.faiss"

#define RS_EMBEDDER_MAGIC        "RSEMBED1"

#define RS_MAX_K                 100
#define RS_DEFAULT_K             8
#define RS_DEFAULT_CANDIDATES    200
#define RS_MAX_CANDIDATES        10000
#define RS_WIDEN_FACTOR          4
#define RS_WIDEN_LIMIT           32      /* times the configured candidates */
#define RS_ROCCHIO_NEGATIVE      0.5f
#define RS_HISTORY_HALF_LIFE     3.0f    /* items: the 4th counts half */


typedef struct rs_engine_s  rs_engine_t;


/* what the query vector came from */
typedef enum {
    RS_SOURCE_BUILTIN = 0,      /* the built-in embedder of the index */
    RS_SOURCE_MODEL,            /* the model: the request's vector, or the
                                   stored vectors of the items asked about */
    RS_SOURCE_LEXICAL,          /* no model vector: the built-in embedder
                                   through the companion index */
    RS_SOURCE_POPULARITY        /* nothing to search with: cold start */
} rs_embed_source_e;


/* who embedded the index, as its manifest says */
typedef struct {
    rs_embedder_type_e   type;
    uint32_t             dim;            /* of index.faiss and items.bin */
    uint32_t             lexical_dim;    /* of the built-in embedder */
    char                 model[128];     /* RS_EMBEDDER_OPENAI only */
    char                 endpoint_host[256];
} rs_engine_model_t;


typedef struct {
    char      magic[8];
    uint32_t  version;
    uint32_t  dim;
    uint32_t  idf_bits;
    uint32_t  reserved;
    uint64_t  ndocs;
} rs_embedder_header_t;


typedef struct {
    const char          *text;
    size_t               text_len;
    /*
     * The query embedded by the index's model (rs_engine_model()), used
     * instead of embedding the text when vector_dim is the index's
     * dimension; the text still gives the understood filters.
     */
    const float         *vector;
    uint32_t             vector_dim;
    const uint32_t      *items;         /* "more like these" */
    size_t               nitems;
    const uint32_t      *negatives;     /* "less like these" */
    size_t               nnegatives;
    const uint32_t      *exclude;       /* never shown */
    size_t               nexclude;
    const uint32_t      *history;       /* the shopper's recent items, */
    size_t               nhistory;      /* newest first */
    float                history_weight;  /* its share of the query, 0..1 */
    const uint32_t      *purchased;     /* the shopper's: never shown */
    size_t               npurchased;
    const rs_popularity_t *popularity;  /* live; NULL: the catalogue's */
    uint32_t             k;
    uint32_t             candidates;
    const rs_profile_t  *profile;       /* NULL: the built-in default */
    rs_filter_t          filter;        /* the request's, over the profile's */
    rs_overlay_pt        overlay;
    void                *overlay_data;
    double               now;           /* seconds since the epoch */
    unsigned             understand:1;  /* read prices, brands in the text */
    unsigned             show_history:1;  /* history items may be shown */
    rs_alloc_pt          alloc;
    void                *alloc_data;
} rs_request_t;


typedef struct {
    rs_hit_t            *hits;
    uint32_t             nhits;
    uint32_t             searched;      /* candidates the index was asked for */
    const rs_profile_t  *profile;       /* the one that ranked */
    rs_filter_t          filter;        /* as applied */
    double               us_embed;      /* stage timings, microseconds */
    double               us_retrieve;
    double               us_rank;
    rs_understood_t      understood;
    unsigned             understood_any:1;
    unsigned             cold_start:1;
    rs_embed_source_e    embed_source;
    unsigned             personalized:1;  /* the history shaped the query */
} rs_result_t;


int rs_engine_open(rs_engine_t **out, const char *dir, char *err,
    size_t errlen);
void rs_engine_close(rs_engine_t *e);
const rs_store_t *rs_engine_store(const rs_engine_t *e);
const rs_profile_t *rs_engine_default_profile(const rs_engine_t *e);
const char *rs_engine_version(const rs_engine_t *e);
const char *rs_engine_index_type(const rs_engine_t *e);
const rs_engine_model_t *rs_engine_model(const rs_engine_t *e);

/*
 * The built-in embedder (the companion's, for a model's index): vec has
 * room for rs_engine_model()->lexical_dim floats.
 */
int rs_engine_embed(const rs_engine_t *e, const char *text, size_t len,
    float *vec);

/* "builtin", "model", "lexical_fallback", "popularity" */
const char *rs_embed_source_name(rs_embed_source_e source);
int rs_engine_recommend(const rs_engine_t *e, const rs_request_t *req,
    rs_result_t *res);


#endif /* RS_ENGINE_H */
