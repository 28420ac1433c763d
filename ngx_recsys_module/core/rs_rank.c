/*
 * Copyright (C) ngx_recsys authors
 */


#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rs_catalog.h"
#include "rs_rank.h"


/* MMR looks this many times k deep: lower-scored items never win a slot */
#define RS_MMR_POOL  8


typedef struct {
    const char  *value;
    size_t       len;
    uint32_t     count;
} rs_cap_t;


static int rs_rank_cmp(const void *a, const void *b);
static int rs_match_category(const char *path, const char *prefix,
    size_t len);
static int rs_match_tag(const char *tags, const char *tag, size_t len);
static float rs_dot(const float *a, const float *b, uint32_t dim);
static int rs_rank_cap_ok(rs_cap_t *caps, uint32_t n, uint32_t max,
    const char *value);
static void rs_rank_cap_add(rs_cap_t *caps, uint32_t *n, const char *value);
static int rs_rank_taken(const rs_hit_t *out, const uint8_t *used,
    uint32_t k, uint32_t item);


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

    /* the foundation's ranking: similarity plus a small popularity prior */
    p->weights[RS_SIG_RELEVANCE] = 1.0f;
    p->weights[RS_SIG_POPULARITY] = 0.1f;
    p->half_life_days = 30;
    p->rating_prior = -1;
    p->rating_prior_count = 10;
    p->diversity = 0.3f;
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


/* a prefix of whole levels: "Shoes" matches "Shoes > Running", not "Shoeshine" */

static int
rs_match_category(const char *path, const char *prefix, size_t len)
{
    return path != NULL && strncasecmp(path, prefix, len) == 0
           && (path[len] == '\0' || strncmp(path + len, " > ", 3) == 0);
}


static int
rs_match_tag(const char *tags, const char *tag, size_t len)
{
    const char  *p, *end;

    if (tags == NULL) {
        return 0;
    }

    for (p = tags; *p; p = *end ? end + 1 : end) {
        end = strchr(p, RS_TAG_SEP);
        if (end == NULL) {
            end = p + strlen(p);
        }

        if ((size_t) (end - p) == len && strncasecmp(p, tag, len) == 0) {
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
        return strlen(s) == m->len && memcmp(s, m->value, m->len) == 0;

    case RS_MATCH_BRAND:
        s = rs_store_str(st, it->brand);
        return s != NULL && strlen(s) == m->len
               && strncasecmp(s, m->value, m->len) == 0;

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

    for (i = 0; i < ctx->nexclude; i++) {
        if (ctx->exclude[i] == item) {
            return 0;
        }
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
    float                score, factor;
    double               m, c, age;
    uint32_t             b;
    const rs_item_t     *it;
    const rs_profile_t  *p;

    it = &ctx->store->items[hit->item];
    p = ctx->profile;

    hit->signals[RS_SIG_RELEVANCE] = hit->relevance > 0 ? hit->relevance : 0;

    /* log scale: a best-seller should not drown relevance */
    hit->signals[RS_SIG_POPULARITY] =
        (ctx->log_max_popularity > 0 && it->popularity > 0)
        ? (float) (log1p(it->popularity) / ctx->log_max_popularity) : 0;

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
    const rs_hit_t  *x, *y;

    x = a;
    y = b;

    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }

    return x->item < y->item ? -1 : 1;
}


/* four partial sums: faster even where the compiler does not vectorise */

static float
rs_dot(const float *a, const float *b, uint32_t dim)
{
    float     s0, s1, s2, s3;
    uint32_t  i;

    s0 = s1 = s2 = s3 = 0;

    for (i = 0; i + 4 <= dim; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }

    for ( /* void */ ; i < dim; i++) {
        s0 += a[i] * b[i];
    }

    return (s0 + s1) + (s2 + s3);
}


static int
rs_rank_cap_ok(rs_cap_t *caps, uint32_t n, uint32_t max, const char *value)
{
    uint32_t  i;

    if (max == 0 || value == NULL) {
        return 1;
    }

    for (i = 0; i < n; i++) {
        if (strcasecmp(caps[i].value, value) == 0) {
            return caps[i].count < max;
        }
    }

    return 1;
}


static void
rs_rank_cap_add(rs_cap_t *caps, uint32_t *n, const char *value)
{
    uint32_t  i;

    if (value == NULL) {
        return;
    }

    for (i = 0; i < *n; i++) {
        if (strcasecmp(caps[i].value, value) == 0) {
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
 * within the brand and category caps.  cand holds the admitted, scored
 * candidates and is sorted here.
 */

int
rs_rank_select(const rs_rank_ctx_t *ctx, rs_hit_t *cand, uint32_t n,
    rs_hit_t *out, uint32_t *nout)
{
    float               *maxsim, best, v;
    uint8_t             *used, *taken;
    uint32_t             i, j, k, slot, pool, nb, nc, want, pos, found;
    uint32_t             item, placed, bi;
    rs_cap_t            *brands, *cats;
    const char          *brand, *cat;
    const rs_item_t     *it;
    const rs_profile_t  *p;
    const rs_store_t    *st;
    rs_hit_t             hit;

    p = ctx->profile;
    st = ctx->store;
    k = ctx->k;

    qsort(cand, n, sizeof(rs_hit_t), rs_rank_cmp);

    used = ctx->alloc(ctx->alloc_data, k + n + 1);
    brands = ctx->alloc(ctx->alloc_data, (k + 1) * sizeof(rs_cap_t));
    cats = ctx->alloc(ctx->alloc_data, (k + 1) * sizeof(rs_cap_t));
    maxsim = ctx->alloc(ctx->alloc_data, (n + 1) * sizeof(float));

    if (used == NULL || brands == NULL || cats == NULL || maxsim == NULL) {
        return -1;
    }

    memset(used, 0, k + n + 1);
    taken = used + k;
    nb = 0;
    nc = 0;

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

        it = &st->items[item];
        rs_rank_cap_add(brands, &nb, rs_store_str(st, it->brand));
        rs_rank_cap_add(cats, &nc, rs_store_str(st, it->category));
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
            it = &st->items[cand[j].item];

            if (taken[j] || !rs_match(st, &p->promos[i].match, it)) {
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

            out[pos] = cand[j];
            out[pos].flags |= RS_HIT_SPONSORED;
            out[pos].promo = (int16_t) i;
            used[pos] = 1;
            taken[j] = 1;
            placed++;

            rs_rank_cap_add(brands, &nb, rs_store_str(st, it->brand));
            rs_rank_cap_add(cats, &nc, rs_store_str(st, it->category));
        }
    }

    pool = n;

    if (ctx->mmr && p->diversity > 0 && pool > RS_MMR_POOL * k) {
        pool = RS_MMR_POOL * k;
    }

    for (j = 0; j < pool; j++) {
        maxsim[j] = 0;
    }

    /* the items already placed count towards the redundancy penalty */
    if (ctx->mmr && p->diversity > 0) {
        for (slot = 0; slot < k; slot++) {
            if (!used[slot]) {
                continue;
            }

            for (j = 0; j < pool; j++) {
                v = rs_dot(ctx->vectors + (size_t) out[slot].item * ctx->dim,
                           ctx->vectors + (size_t) cand[j].item * ctx->dim,
                           ctx->dim);
                maxsim[j] = v > maxsim[j] ? v : maxsim[j];
            }
        }
    }

    for (slot = 0; slot < k; slot++) {
        if (used[slot]) {
            continue;
        }

        bi = pool;
        best = -INFINITY;

        for (j = 0; j < pool; j++) {
            if (taken[j]) {
                continue;
            }

            it = &st->items[cand[j].item];
            brand = rs_store_str(st, it->brand);
            cat = rs_store_str(st, it->category);

            if (!rs_rank_cap_ok(brands, nb, p->max_per_brand, brand)
                || !rs_rank_cap_ok(cats, nc, p->max_per_category, cat))
            {
                continue;
            }

            v = ctx->mmr ? (1 - p->diversity) * cand[j].score
                           - p->diversity * maxsim[j]
                         : cand[j].score;

            if (v > best) {
                best = v;
                bi = j;

                /* sorted by score: without MMR the first fit is the best */
                if (!ctx->mmr || p->diversity == 0) {
                    break;
                }
            }
        }

        if (bi == pool) {
            break;
        }

        out[slot] = cand[bi];
        out[slot].mmr_penalty = ctx->mmr ? p->diversity * maxsim[bi] : 0;
        used[slot] = 1;
        taken[bi] = 1;

        it = &st->items[cand[bi].item];
        rs_rank_cap_add(brands, &nb, rs_store_str(st, it->brand));
        rs_rank_cap_add(cats, &nc, rs_store_str(st, it->category));

        if (ctx->mmr && p->diversity > 0) {
            for (j = 0; j < pool; j++) {
                if (taken[j]) {
                    continue;
                }

                v = rs_dot(ctx->vectors + (size_t) cand[bi].item * ctx->dim,
                           ctx->vectors + (size_t) cand[j].item * ctx->dim,
                           ctx->dim);
                maxsim[j] = v > maxsim[j] ? v : maxsim[j];
            }
        }
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
