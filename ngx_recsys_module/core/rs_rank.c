/*
 * Copyright (C) ngx_recsys authors
 */


#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "rs_catalog.h"
#include "rs_rank.h"


/* MMR looks this many times k deep: lower-scored items never win a slot */
#define RS_MMR_POOL  4

/* changes every fingerprint, and so every cache key, if what it hashes does */
#define RS_PROFILE_FP_VERSION  1


typedef struct {
    uint32_t     value;             /* string offset in the store */
    uint32_t     count;
} rs_cap_t;


typedef struct {
    float       score;
    uint32_t    index;
} rs_order_t;


static int rs_rank_cmp(const void *a, const void *b);
static int rs_match_category(const char *path, const char *prefix,
    size_t len);
static int rs_match_tag(const char *tags, const char *tag, size_t len);
static int rs_has_word(const char *s, const char *word, size_t len);
static float rs_dot(const float *a, const float *b, uint32_t dim);
static int rs_rank_cap_ok(rs_cap_t *caps, uint32_t n, uint32_t max,
    uint32_t value);
static void rs_rank_cap_add(rs_cap_t *caps, uint32_t *n, uint32_t value);
static int rs_rank_taken(const rs_hit_t *out, const uint8_t *used,
    uint32_t k, uint32_t item);
static uint64_t rs_fp_num(uint64_t h, double v);
static uint64_t rs_fp_str(uint64_t h, const char *s, size_t len);
static uint64_t rs_fp_match(uint64_t h, const rs_match_t *m);
static uint64_t rs_fp_filter(uint64_t h, const rs_filter_t *f);


static const char  *rs_signal_names[RS_SIGNALS] = {
    "relevance", "popularity", "rating", "margin", "freshness", "personal"
};


const char *
rs_signal_name(int signal)
{
    return rs_signal_names[signal];
}


int
rs_signal_parse(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < RS_SIGNALS; i++) {
        if (strlen(rs_signal_names[i]) == len
            && strncmp(rs_signal_names[i], name, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


void
rs_profile_init(rs_profile_t *p)
{
    memset(p, 0, sizeof(rs_profile_t));

    /*
     * the foundation's ranking: similarity plus a small popularity prior;
     * a shopper's history is already in the query vector, the personal
     * signal only reorders what it retrieved
     */
    p->weights[RS_SIG_RELEVANCE] = 1.0f;
    p->weights[RS_SIG_POPULARITY] = 0.1f;
    p->weights[RS_SIG_PERSONAL] = 0.2f;
    p->half_life_days = 30;
    p->rating_prior = -1;
    p->rating_prior_count = 10;
    p->diversity = 0.3f;
}


/*
 * Everything that changes what a profile ranks or how the answer looks,
 * the name included (the answer carries it), hashed field by field in a
 * fixed byte order: cache keys built from it are shared through Redis by
 * every node, and an edited profile must never find the old entries.
 */

uint64_t
rs_profile_fingerprint(const rs_profile_t *p)
{
    int       i;
    uint32_t  n;
    uint64_t  h;

    h = rs_fp_num(0, RS_PROFILE_FP_VERSION);
    h = rs_fp_str(h, p->name, p->name_len);

    for (i = 0; i < RS_SIGNALS; i++) {
        h = rs_fp_num(h, p->weights[i]);
    }

    h = rs_fp_num(h, p->half_life_days);
    h = rs_fp_num(h, p->rating_prior);
    h = rs_fp_num(h, p->rating_prior_count);
    h = rs_fp_num(h, p->diversity);
    h = rs_fp_num(h, p->max_per_brand);
    h = rs_fp_num(h, p->max_per_category);
    h = rs_fp_filter(h, &p->filter);

    h = rs_fp_num(h, p->nboosts);

    for (n = 0; n < p->nboosts; n++) {
        h = rs_fp_match(h, &p->boosts[n].match);
        h = rs_fp_num(h, p->boosts[n].factor);
    }

    h = rs_fp_num(h, p->nblocks);

    for (n = 0; n < p->nblocks; n++) {
        h = rs_fp_match(h, &p->blocks[n]);
    }

    h = rs_fp_num(h, p->npins);

    for (n = 0; n < p->npins; n++) {
        h = rs_fp_str(h, p->pins[n].id, p->pins[n].len);
        h = rs_fp_num(h, p->pins[n].position);
    }

    h = rs_fp_num(h, p->npromos);

    for (n = 0; n < p->npromos; n++) {
        h = rs_fp_match(h, &p->promos[n].match);
        h = rs_fp_num(h, p->promos[n].slots);
        h = rs_fp_num(h, p->promos[n].per);
    }

    return h;
}


/* a number as the 8 little-endian bytes of its double, with -0 as 0 */

static uint64_t
rs_fp_num(uint64_t h, double v)
{
    int            i;
    uint64_t       bits;
    unsigned char  b[8];

    if (v == 0) {
        v = 0;
    }

    memcpy(&bits, &v, sizeof(bits));

    for (i = 0; i < 8; i++) {
        b[i] = (unsigned char) (bits >> (8 * i));
    }

    return rs_hash64(b, sizeof(b), h);
}


/* rs_hash64() mixes the length in: "ab" + "c" and "a" + "bc" differ */

static uint64_t
rs_fp_str(uint64_t h, const char *s, size_t len)
{
    return rs_hash64(len ? s : "", len, h);
}


static uint64_t
rs_fp_match(uint64_t h, const rs_match_t *m)
{
    h = rs_fp_num(h, m->kind);

    return rs_fp_str(h, m->value, m->len);
}


static uint64_t
rs_fp_filter(uint64_t h, const rs_filter_t *f)
{
    unsigned  i;

    h = rs_fp_str(h, f->category, f->category_len);
    h = rs_fp_str(h, f->brand, f->brand_len);
    h = rs_fp_str(h, f->tag, f->tag_len);
    h = rs_fp_num(h, f->has_min_price | f->has_max_price << 1
                     | f->has_min_rating << 2 | f->in_stock << 3);
    h = rs_fp_num(h, f->has_min_price ? f->min_price : 0);
    h = rs_fp_num(h, f->has_max_price ? f->max_price : 0);
    h = rs_fp_num(h, f->has_min_rating ? f->min_rating : 0);

    h = rs_fp_num(h, f->nexclude_brands);

    for (i = 0; i < f->nexclude_brands; i++) {
        h = rs_fp_str(h, f->exclude_brands[i], f->exclude_brand_lens[i]);
    }

    h = rs_fp_num(h, f->nexclude_terms);

    for (i = 0; i < f->nexclude_terms; i++) {
        h = rs_fp_str(h, f->exclude_terms[i], f->exclude_term_lens[i]);
    }

    return h;
}


void
rs_filter_merge(rs_filter_t *out, const rs_filter_t *request,
    const rs_filter_t *profile)
{
    *out = *request;

    if (profile == NULL) {
        return;
    }

    if (out->category_len == 0) {
        out->category = profile->category;
        out->category_len = profile->category_len;
    }

    if (out->brand_len == 0) {
        out->brand = profile->brand;
        out->brand_len = profile->brand_len;
    }

    if (out->tag_len == 0) {
        out->tag = profile->tag;
        out->tag_len = profile->tag_len;
    }

    if (!out->has_min_price && profile->has_min_price) {
        out->min_price = profile->min_price;
        out->has_min_price = 1;
    }

    if (!out->has_max_price && profile->has_max_price) {
        out->max_price = profile->max_price;
        out->has_max_price = 1;
    }

    if (!out->has_min_rating && profile->has_min_rating) {
        out->min_rating = profile->min_rating;
        out->has_min_rating = 1;
    }

    out->in_stock |= profile->in_stock;
}


/*
 * A prefix of whole levels: "Shoes" matches "Shoes > Running", not
 * "Shoeshine".
 */

static int
rs_match_category(const char *path, const char *prefix, size_t len)
{
    return path != NULL && strncasecmp(path, prefix, len) == 0
           && (path[len] == '\0' || strncmp(path + len, " > ", 3) == 0);
}


static int
rs_match_tag(const char *tags, const char *tag, size_t len)
{
    const char  *p;

    if (tags == NULL) {
        return 0;
    }

    /* one pass over the joined tags, no strlen or strchr per tag */
    for (p = tags; *p; p++) {
        if ((p == tags || p[-1] == RS_TAG_SEP)
            && strncasecmp(p, tag, len) == 0
            && (p[len] == RS_TAG_SEP || p[len] == '\0'))
        {
            return 1;
        }
    }

    return 0;
}


/* a whole word, case-insensitive: "no leather" must not drop "pleather" */

static int
rs_has_word(const char *s, const char *word, size_t len)
{
    const char  *p;

    if (s == NULL || len == 0) {
        return 0;
    }

    for (p = s; *p; p++) {
        if ((p == s || !isalnum((unsigned char) p[-1]))
            && strncasecmp(p, word, len) == 0
            && !isalnum((unsigned char) p[len]))
        {
            return 1;
        }
    }

    return 0;
}


int
rs_match(const rs_store_t *st, const rs_match_t *m, const rs_item_t *it)
{
    const char  *s;

    switch (m->kind) {

    case RS_MATCH_ID:
        s = rs_store_str(st, it->id);
        return strncmp(s, m->value, m->len) == 0 && s[m->len] == '\0';

    case RS_MATCH_BRAND:
        s = rs_store_str(st, it->brand);
        return s != NULL && strncasecmp(s, m->value, m->len) == 0
               && s[m->len] == '\0';

    case RS_MATCH_CATEGORY:
        return rs_match_category(rs_store_str(st, it->category), m->value,
                                 m->len);

    case RS_MATCH_TAG:
        return rs_match_tag(rs_store_str(st, it->tags), m->value, m->len);
    }

    return 0;
}


int
rs_filter_match(const rs_store_t *st, const rs_filter_t *f,
    const rs_item_t *it, const rs_view_t *view)
{
    unsigned     i;
    const char  *s;

    if (f->in_stock && (!(view->flags & RS_HAS_STOCK) || view->stock <= 0)) {
        return 0;
    }

    if (f->has_min_price
        && (!(view->flags & RS_HAS_PRICE) || view->price < f->min_price))
    {
        return 0;
    }

    if (f->has_max_price
        && (!(view->flags & RS_HAS_PRICE) || view->price > f->max_price))
    {
        return 0;
    }

    if (f->has_min_rating
        && (!(it->flags & RS_HAS_RATING) || it->rating < f->min_rating))
    {
        return 0;
    }

    if (f->brand_len) {
        s = rs_store_str(st, it->brand);

        if (s == NULL || strlen(s) != f->brand_len
            || strncasecmp(s, f->brand, f->brand_len) != 0)
        {
            return 0;
        }
    }

    if (f->category_len
        && !rs_match_category(rs_store_str(st, it->category), f->category,
                              f->category_len))
    {
        return 0;
    }

    if (f->tag_len
        && !rs_match_tag(rs_store_str(st, it->tags), f->tag, f->tag_len))
    {
        return 0;
    }

    for (i = 0; i < f->nexclude_brands; i++) {
        s = rs_store_str(st, it->brand);

        if (s != NULL
            && strncasecmp(s, f->exclude_brands[i], f->exclude_brand_lens[i])
               == 0
            && s[f->exclude_brand_lens[i]] == '\0')
        {
            return 0;
        }
    }

    for (i = 0; i < f->nexclude_terms; i++) {
        if (rs_has_word(rs_store_str(st, it->title), f->exclude_terms[i],
                        f->exclude_term_lens[i])
            || rs_has_word(rs_store_str(st, it->tags), f->exclude_terms[i],
                           f->exclude_term_lens[i]))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * Whether an item may be shown at all: not excluded by the request, not
 * blocked by the profile, through the filters as the overlay sees it.
 */

int
rs_rank_admit(const rs_rank_ctx_t *ctx, uint32_t item, rs_hit_t *hit)
{
    size_t              i;
    const rs_item_t    *it;
    const rs_profile_t *p;

    /* a shopper's purchases and history can make the list long */
    if (ctx->nexclude
        && bsearch(&item, ctx->exclude, ctx->nexclude, sizeof(uint32_t),
                   rs_rank_cmp_item)
           != NULL)
    {
        return 0;
    }

    it = &ctx->store->items[item];
    p = ctx->profile;

    for (i = 0; i < p->nblocks; i++) {
        if (rs_match(ctx->store, &p->blocks[i], it)) {
            return 0;
        }
    }

    memset(hit, 0, sizeof(rs_hit_t));
    hit->item = item;
    hit->promo = -1;
    hit->view.price = it->price;
    hit->view.stock = it->stock;
    hit->view.flags = it->flags & (RS_HAS_PRICE | RS_HAS_STOCK);

    if (ctx->overlay != NULL) {
        ctx->overlay(ctx->overlay_data, item, &hit->view);
    }

    return rs_filter_match(ctx->store, ctx->filter, it, &hit->view);
}


void
rs_rank_score(const rs_rank_ctx_t *ctx, rs_hit_t *hit)
{
    int                  i;
    float                score, factor, v;
    double               m, c, age, pop;
    uint32_t             b;
    const rs_item_t     *it;
    const rs_profile_t  *p;

    it = &ctx->store->items[hit->item];
    p = ctx->profile;

    hit->signals[RS_SIG_RELEVANCE] = hit->relevance > 0 ? hit->relevance : 0;

    pop = it->popularity;

    /* "> 0" also keeps out what a table being reassigned may hold */
    if (ctx->popularity != NULL && ctx->popularity->scores[hit->item] > 0) {
        pop += ctx->popularity->scores[hit->item];
    }

    /* log scale: a best-seller should not drown relevance */
    if (ctx->log_max_popularity > 0 && pop > 0) {
        pop = log1p(pop) / ctx->log_max_popularity;
        hit->signals[RS_SIG_POPULARITY] = pop < 1 ? (float) pop : 1.0f;
    }

    /* Bayesian average: three five-star votes do not beat three hundred */
    m = p->rating_prior >= 0 ? p->rating_prior : ctx->rating_mean;
    c = p->rating_prior_count;

    if (it->flags & RS_HAS_RATING) {
        hit->signals[RS_SIG_RATING] =
            (float) ((c * m + it->rating_count * (double) it->rating)
                     / (c + it->rating_count) / 5.0);

    } else {
        hit->signals[RS_SIG_RATING] = (float) (m / 5.0);
    }

    hit->signals[RS_SIG_MARGIN] = it->margin < 0 ? 0
                                  : it->margin > 1 ? 1 : it->margin;

    if ((it->flags & RS_HAS_CREATED) && p->half_life_days > 0) {
        age = (ctx->now - (double) it->created_at) / 86400.0;
        hit->signals[RS_SIG_FRESHNESS] = age <= 0 ? 1.0f
            : (float) exp(-M_LN2 * age / p->half_life_days);
    }

    if (ctx->personal != NULL) {
        v = rs_dot(ctx->vectors + (size_t) hit->item * ctx->dim,
                   ctx->personal, ctx->dim);
        hit->signals[RS_SIG_PERSONAL] = v > 0 ? v : 0;
    }

    score = 0;

    for (i = 0; i < RS_SIGNALS; i++) {
        score += p->weights[i] * hit->signals[i];
    }

    factor = 1.0f;

    for (b = 0; b < p->nboosts; b++) {
        if (rs_match(ctx->store, &p->boosts[b].match, it)) {
            factor *= p->boosts[b].factor;
            hit->boosts_fired |= 1u << b;
        }
    }

    hit->factor = factor;
    hit->score = score * factor;

    if (hit->boosts_fired) {
        hit->flags |= RS_HIT_BOOSTED;
    }
}


static int
rs_rank_cmp(const void *a, const void *b)
{
    const rs_order_t  *x, *y;

    x = a;
    y = b;

    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }

    return x->index < y->index ? -1 : 1;
}


/* item rows in ascending order: the order of an exclusion list */

int
rs_rank_cmp_item(const void *a, const void *b)
{
    uint32_t  x, y;

    x = *(const uint32_t *) a;
    y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}


/*
 * Four lanes: SSE2 is in every x86-64, and nginx builds with -O, which
 * does not vectorise a float reduction by itself.
 */

static float
rs_dot(const float *a, const float *b, uint32_t dim)
{
    float     s;
    uint32_t  i;

#if defined(__SSE2__)
    float     lanes[4];
    __m128    acc;

    acc = _mm_setzero_ps();

    for (i = 0; i + 4 <= dim; i += 4) {
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(a + i),
                                         _mm_loadu_ps(b + i)));
    }

    _mm_storeu_ps(lanes, acc);
    s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#else
    s = 0;
    i = 0;
#endif

    for ( /* void */ ; i < dim; i++) {
        s += a[i] * b[i];
    }

    return s;
}


/* equal strings share one offset in the store, so caps compare offsets */

static int
rs_rank_cap_ok(rs_cap_t *caps, uint32_t n, uint32_t max, uint32_t value)
{
    uint32_t  i;

    if (max == 0 || value == 0) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        if (caps[i].value == value) {
            return caps[i].count < max;
        }
    }

    return 1;
}


static void
rs_rank_cap_add(rs_cap_t *caps, uint32_t *n, uint32_t value)
{
    uint32_t  i;

    if (value == 0) {
        return;
    }

    for (i = 0; i < *n; i++) {
        if (caps[i].value == value) {
            caps[i].count++;
            return;
        }
    }

    caps[*n].value = value;
    caps[*n].count = 1;
    (*n)++;
}


static int
rs_rank_taken(const rs_hit_t *out, const uint8_t *used, uint32_t k,
    uint32_t item)
{
    uint32_t  i;

    for (i = 0; i < k; i++) {
        if (used[i] && out[i].item == item) {
            return 1;
        }
    }

    return 0;
}


/*
 * Fills up to k slots: pins first at their positions, then promotions in
 * their share of slots, then the rest by maximal marginal relevance, all
 * within the brand and category caps.
 *
 * MMR is lazy: a candidate's redundancy (its highest similarity to what
 * is placed, never below 0) only grows, so (1 - diversity) x score bounds
 * what it can still reach; candidates are visited in score order and the
 * visit stops at the first that cannot beat the best so far.  Each
 * candidate catches up only with the items placed since it was last seen.
 */

int
rs_rank_select(const rs_rank_ctx_t *ctx, rs_hit_t *cand, uint32_t n,
    rs_hit_t *out, uint32_t *nout)
{
    float               *maxsim, best, v, lambda;
    uint8_t             *used, *taken, *seen;
    uint32_t             i, j, k, slot, pool, nb, nc, want, pos, found;
    uint32_t             item, placed, bi, nsel, *sel;
    rs_cap_t            *brands, *cats;
    rs_order_t          *order;
    const rs_item_t     *it;
    const rs_profile_t  *p;
    const rs_store_t    *st;
    rs_hit_t             hit;

    p = ctx->profile;
    st = ctx->store;
    k = ctx->k;
    lambda = ctx->mmr ? p->diversity : 0;

    used = ctx->alloc(ctx->alloc_data, k + 2 * n + 1);
    brands = ctx->alloc(ctx->alloc_data, (k + 1) * sizeof(rs_cap_t));
    cats = ctx->alloc(ctx->alloc_data, (k + 1) * sizeof(rs_cap_t));
    maxsim = ctx->alloc(ctx->alloc_data, (n + 1) * sizeof(float));
    sel = ctx->alloc(ctx->alloc_data, (k + 1) * sizeof(uint32_t));
    order = ctx->alloc(ctx->alloc_data, (n + 1) * sizeof(rs_order_t));

    if (used == NULL || brands == NULL || cats == NULL || maxsim == NULL
        || sel == NULL || order == NULL)
    {
        return -1;
    }

    /* sorting small pairs is cheaper than moving whole hits */
    for (j = 0; j < n; j++) {
        order[j].score = cand[j].score;
        order[j].index = j;
        maxsim[j] = 0;
    }

    qsort(order, n, sizeof(rs_order_t), rs_rank_cmp);

    memset(used, 0, k + 2 * n + 1);
    taken = used + k;               /* by candidate index */
    seen = taken + n;               /* by candidate: selections caught up */
    nb = 0;
    nc = 0;
    nsel = 0;

    /* pins: wherever the item ranked, or fetched when it was not found */
    for (i = 0; i < p->npins; i++) {
        pos = p->pins[i].position - 1;

        if (pos >= k || used[pos]
            || rs_store_find(st, p->pins[i].id, p->pins[i].len, &item) != 0
            || rs_rank_taken(out, used, k, item))
        {
            continue;
        }

        found = n;

        for (j = 0; j < n; j++) {
            if (cand[j].item == item) {
                found = j;
                break;
            }
        }

        if (found < n) {
            hit = cand[found];
            taken[found] = 1;

        } else if (rs_rank_admit(ctx, item, &hit)) {
            rs_rank_score(ctx, &hit);

        } else {
            continue;
        }

        hit.flags |= RS_HIT_PINNED;
        out[pos] = hit;
        used[pos] = 1;
        sel[nsel++] = item;

        it = &st->items[item];
        rs_rank_cap_add(brands, &nb, it->brand);
        rs_rank_cap_add(cats, &nc, it->category);
    }

    /*
     * Promotions: the best matching items take their share of the slots,
     * rounded to the nearest, spread out from the second slot on so the
     * first is always earned.
     */
    for (i = 0; i < p->npromos; i++) {
        want = (k * p->promos[i].slots * 2 + p->promos[i].per)
               / (2 * p->promos[i].per);
        placed = 0;

        for (j = 0; j < n && placed < want; j++) {
            bi = order[j].index;
            it = &st->items[cand[bi].item];

            if (taken[bi] || !rs_match(st, &p->promos[i].match, it)) {
                continue;
            }

            pos = 1 + placed * (p->promos[i].per / p->promos[i].slots);

            if (pos >= k) {
                pos = k - 1;
            }

            while (pos < k && used[pos]) {
                pos++;
            }

            if (pos >= k) {
                break;
            }

            out[pos] = cand[bi];
            out[pos].flags |= RS_HIT_SPONSORED;
            out[pos].promo = (int16_t) i;
            used[pos] = 1;
            taken[bi] = 1;
            sel[nsel++] = cand[bi].item;
            placed++;

            rs_rank_cap_add(brands, &nb, it->brand);
            rs_rank_cap_add(cats, &nc, it->category);
        }
    }

    pool = n;

    if (lambda > 0 && pool > RS_MMR_POOL * k) {
        pool = RS_MMR_POOL * k;
    }

    for (slot = 0; slot < k; slot++) {
        if (used[slot]) {
            continue;
        }

        bi = n;
        best = -INFINITY;

        for (j = 0; j < pool; j++) {
            i = order[j].index;

            if (taken[i]) {
                continue;
            }

            if ((1 - lambda) * cand[i].score <= best) {
                break;
            }

            it = &st->items[cand[i].item];

            if (!rs_rank_cap_ok(brands, nb, p->max_per_brand, it->brand)
                || !rs_rank_cap_ok(cats, nc, p->max_per_category,
                                   it->category))
            {
                continue;
            }

            for ( /* void */ ; lambda > 0 && seen[i] < nsel; seen[i]++) {
                v = rs_dot(ctx->vectors + (size_t) sel[seen[i]] * ctx->dim,
                           ctx->vectors + (size_t) cand[i].item * ctx->dim,
                           ctx->dim);
                maxsim[i] = v > maxsim[i] ? v : maxsim[i];
            }

            v = (1 - lambda) * cand[i].score - lambda * maxsim[i];

            if (v > best) {
                best = v;
                bi = i;
            }
        }

        if (bi == n) {
            break;
        }

        out[slot] = cand[bi];
        out[slot].mmr_penalty = lambda * maxsim[bi];
        used[slot] = 1;
        taken[bi] = 1;
        sel[nsel++] = cand[bi].item;

        it = &st->items[cand[bi].item];
        rs_rank_cap_add(brands, &nb, it->brand);
        rs_rank_cap_add(cats, &nc, it->category);
    }

    /* a pin or promotion past the end of a short answer closes the gap */
    j = 0;

    for (slot = 0; slot < k; slot++) {
        if (used[slot]) {
            out[j++] = out[slot];
        }
    }

    *nout = j;

    return 0;
}
