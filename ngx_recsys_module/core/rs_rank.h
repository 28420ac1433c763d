/*
 * Copyright (C) ngx_recsys authors
 *
 * Ranking a merchandiser can steer: weighted signals, business rules
 * (pins, boosts and buries, blocks, promotions), per-brand and
 * per-category caps and maximal marginal relevance over item vectors.
 * A profile holds one such setting; the module keeps one per
 * "recsys_profile" block.
 */

#ifndef RS_RANK_H
#define RS_RANK_H


#include <stddef.h>
#include <stdint.h>

#include "rs_store.h"
#include "rs_util.h"


#define RS_SIG_RELEVANCE   0
#define RS_SIG_POPULARITY  1
#define RS_SIG_RATING      2
#define RS_SIG_MARGIN      3
#define RS_SIG_FRESHNESS   4
#define RS_SIG_PERSONAL    5
#define RS_SIGNALS         6

#define RS_MAX_BOOSTS      32       /* one bit each in rs_hit_t */

#define RS_HIT_PINNED      0x01
#define RS_HIT_SPONSORED   0x02
#define RS_HIT_BOOSTED     0x04


typedef enum {
    RS_MATCH_ID = 0,
    RS_MATCH_BRAND,
    RS_MATCH_CATEGORY,              /* a prefix of whole path levels */
    RS_MATCH_TAG
} rs_match_kind_e;


typedef struct {
    rs_match_kind_e  kind;
    const char      *value;
    size_t           len;
} rs_match_t;


/* a factor above 1 boosts, below 1 buries */
typedef struct {
    rs_match_t  match;
    float       factor;
} rs_boost_t;


typedef struct {
    const char  *id;
    size_t       len;
    uint32_t     position;          /* 1-based */
} rs_pin_t;


/* "slots of every per": 1/8 gives one slot of eight to matching items */
typedef struct {
    rs_match_t  match;
    uint32_t    slots;
    uint32_t    per;
} rs_promo_t;


typedef struct {
    const char  *category;          /* a prefix of the category path */
    size_t       category_len;
    const char  *brand;
    size_t       brand_len;
    const char  *tag;
    size_t       tag_len;
    double       min_price;
    double       max_price;
    double       min_rating;
    const char  *const *exclude_brands;   /* "without Acme" */
    const size_t *exclude_brand_lens;
    unsigned     nexclude_brands;
    const char  *const *exclude_terms;    /* "no leather": title and tags */
    const size_t *exclude_term_lens;
    unsigned     nexclude_terms;
    unsigned     has_min_price:1;
    unsigned     has_max_price:1;
    unsigned     has_min_rating:1;
    unsigned     in_stock:1;
} rs_filter_t;


typedef struct {
    const char        *name;
    size_t             name_len;
    float              weights[RS_SIGNALS];
    double             half_life_days;
    double             rating_prior;        /* < 0: the catalogue mean */
    double             rating_prior_count;
    float              diversity;           /* MMR: 0 is pure score */
    uint32_t           max_per_brand;       /* 0: no cap */
    uint32_t           max_per_category;
    rs_filter_t        filter;
    const rs_boost_t  *boosts;
    uint32_t           nboosts;
    const rs_match_t  *blocks;
    uint32_t           nblocks;
    const rs_pin_t    *pins;
    uint32_t           npins;
    const rs_promo_t  *promos;
    uint32_t           npromos;
} rs_profile_t;


/* an item as this request sees it: the catalogue plus the live overlay */
typedef struct {
    double    price;
    int64_t   stock;
    uint32_t  flags;                /* RS_HAS_PRICE, RS_HAS_STOCK */
} rs_view_t;


/* fills the overrides for an item, returns 1 when there are any */
typedef int (*rs_overlay_pt)(void *data, uint32_t item, rs_view_t *view);


/*
 * Live popularity (the shoppers' events) beside the catalogue's static
 * one: an item's popularity is the catalogue's plus its live score.
 */
typedef struct {
    const float         *scores;            /* by item row */
    const uint32_t      *top;               /* the rows with a score, */
    uint32_t             ntop;              /* highest first */
    double               max;               /* the highest of the sums */
} rs_popularity_t;


typedef struct {
    uint32_t  item;
    float     score;
    float     relevance;                    /* cosine similarity */
    float     signals[RS_SIGNALS];          /* normalised to 0..1 */
    float     factor;                       /* boosts and buries */
    float     mmr_penalty;
    uint32_t  boosts_fired;                 /* bit i: boosts[i] */
    uint16_t  flags;                        /* RS_HIT_* */
    int16_t   promo;                        /* index of the promotion */
    rs_view_t view;
} rs_hit_t;


typedef struct {
    const rs_store_t    *store;
    const rs_profile_t  *profile;
    const float         *vectors;           /* the store's, for MMR */
    uint32_t             dim;
    uint32_t             k;
    double               now;               /* seconds, for freshness */
    double               rating_mean;
    double               log_max_popularity;
    const rs_filter_t   *filter;
    const uint32_t      *exclude;           /* never shown, sorted */
    size_t               nexclude;
    rs_overlay_pt        overlay;
    void                *overlay_data;
    const rs_popularity_t *popularity;      /* live, or NULL */
    const float         *personal;          /* the shopper's taste, unit
                                             * length, or NULL */
    unsigned             mmr:1;             /* only with a query vector */
    rs_alloc_pt          alloc;
    void                *alloc_data;
} rs_rank_ctx_t;


const char *rs_signal_name(int signal);
void rs_profile_init(rs_profile_t *p);
uint64_t rs_profile_fingerprint(const rs_profile_t *p);
int rs_signal_parse(const char *name, size_t len);
void rs_filter_merge(rs_filter_t *out, const rs_filter_t *request,
    const rs_filter_t *profile);
int rs_filter_match(const rs_store_t *st, const rs_filter_t *f,
    const rs_item_t *it, const rs_view_t *view);
int rs_match(const rs_store_t *st, const rs_match_t *m, const rs_item_t *it);
int rs_rank_cmp_item(const void *a, const void *b);
int rs_rank_admit(const rs_rank_ctx_t *ctx, uint32_t item, rs_hit_t *hit);
void rs_rank_score(const rs_rank_ctx_t *ctx, rs_hit_t *hit);
int rs_rank_select(const rs_rank_ctx_t *ctx, rs_hit_t *cand, uint32_t n,
    rs_hit_t *out, uint32_t *nout);


#endif /* RS_RANK_H */
