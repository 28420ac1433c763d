/*
 * Copyright (C) ngx_recsys authors
 *
 * Rule-based understanding of a shopper's query: price phrases, the
 * catalogue's brands and categories, exclusions and "cheap"/"premium",
 * taken out of the text so that only what is left is embedded.  A hand
 * written tokenizer and small tables, no allocation: microseconds a query.
 */

#ifndef RS_UNDERSTAND_H
#define RS_UNDERSTAND_H


#include <stddef.h>

#include "rs_vocab.h"


#define RS_UNDERSTAND_MAX_EXCLUDES  4

/* "around 50" means 40 to 60 */
#define RS_UNDERSTAND_APPROX        0.2


/*
 * brand, category and exclude_brands point into the vocabulary;
 * exclude_terms into the caller's original text, spelt as typed;
 * text into the caller's buf.
 */
typedef struct {
    double       min_price, max_price;
    unsigned     has_min_price:1, has_max_price:1, cheap:1, premium:1;
    const char  *brand;     size_t brand_len;
    const char  *category;  size_t category_len;
    const char  *exclude_brands[RS_UNDERSTAND_MAX_EXCLUDES];
    size_t       exclude_brand_lens[RS_UNDERSTAND_MAX_EXCLUDES];
    unsigned     nexclude_brands;
    const char  *exclude_terms[RS_UNDERSTAND_MAX_EXCLUDES];
    size_t       exclude_term_lens[RS_UNDERSTAND_MAX_EXCLUDES];
    unsigned     nexclude_terms;
    char        *text;      size_t text_len;
} rs_understood_t;


/*
 * buf must hold len + 1 bytes and must not overlap text; v may be NULL
 * (prices and exclusions only).  Never allocates; returns 0.
 */
int rs_understand(const rs_vocab_t *v, const char *text, size_t len,
    char *buf, rs_understood_t *out);

/* adds the understood fields to a jansson object (json_t *); -1 on ENOMEM */
int rs_understood_to_json(const rs_understood_t *u, void *json_object);


#endif /* RS_UNDERSTAND_H */
