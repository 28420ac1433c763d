/*
 * Copyright (C) ngx_recsys authors
 *
 * The packed result, all integers little-endian:
 *
 *   "RSRP", u16 version, u16 flags (1 understood_any, 2 cold_start,
 *   bits 2-3 the embed source: what the query was searched with),
 *   u64 profile fingerprint, u32 searched, u32 nhits;
 *   the filter: category, brand, tag, f64 min_price, max_price,
 *   min_rating, u32 bits (1 has_min_price, 2 has_max_price,
 *   4 has_min_rating, 8 in_stock), excluded brands, excluded terms;
 *   the understood: f64 min_price, max_price, u32 bits (1 has_min_price,
 *   2 has_max_price, 4 cheap, 8 premium), brand, category, excluded
 *   brands, excluded terms, text;
 *   nhits hits of RS_PACK_HIT_SIZE bytes: u32 item, f32 score, relevance,
 *   RS_SIGNALS signals, factor, mmr_penalty, u32 boosts_fired,
 *   u16 flags, i16 promo, f64 price, i64 stock, u32 view flags.
 *
 * A string is u32 length and bytes; a list is u32 count and strings.
 * Nothing may follow the last hit.
 */


#include <math.h>
#include <string.h>

#include "rs_catalog.h"
#include "rs_pack.h"


#define RS_PACK_HIT_SIZE     (4 + 4 * (4 + RS_SIGNALS) + 4 + 2 + 2 + 8 + 8 + 4)

#define RS_PACK_UNDERSTOOD_ANY  0x0001
#define RS_PACK_COLD_START      0x0002
#define RS_PACK_SOURCE_SHIFT    2
#define RS_PACK_SOURCE_MASK     0x000c

#define RS_PACK_HIT_FLAGS    (RS_HIT_PINNED | RS_HIT_SPONSORED | RS_HIT_BOOSTED)
#define RS_PACK_VIEW_FLAGS   (RS_HAS_PRICE | RS_HAS_STOCK)


typedef struct {
    unsigned char        *p;        /* NULL: measuring */
    unsigned char        *end;
    size_t                n;        /* the size of the whole result */
    int                   failed;
} rs_pack_writer_t;


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    rs_alloc_pt           alloc;
    void                 *alloc_data;
    int                   failed;
} rs_pack_reader_t;


static void rs_pack_result(rs_pack_writer_t *w, const rs_result_t *res);
static void rs_pack_bytes(rs_pack_writer_t *w, const void *data, size_t len);
static void rs_pack_u16(rs_pack_writer_t *w, uint16_t v);
static void rs_pack_u32(rs_pack_writer_t *w, uint32_t v);
static void rs_pack_u64(rs_pack_writer_t *w, uint64_t v);
static void rs_pack_f32(rs_pack_writer_t *w, float v);
static void rs_pack_f64(rs_pack_writer_t *w, double v);
static void rs_pack_str(rs_pack_writer_t *w, const char *s, size_t len);
static void rs_pack_list(rs_pack_writer_t *w, const char *const *s,
    const size_t *lens, unsigned n, unsigned max);
static void rs_pack_hit(rs_pack_writer_t *w, const rs_hit_t *hit);
static const unsigned char *rs_unpack_take(rs_pack_reader_t *r, size_t len);
static uint16_t rs_unpack_u16(rs_pack_reader_t *r);
static uint32_t rs_unpack_u32(rs_pack_reader_t *r);
static uint64_t rs_unpack_u64(rs_pack_reader_t *r);
static float rs_unpack_f32(rs_pack_reader_t *r);
static double rs_unpack_f64(rs_pack_reader_t *r);
static char *rs_unpack_str(rs_pack_reader_t *r, size_t *len);
static unsigned rs_unpack_list(rs_pack_reader_t *r, const char **s,
    size_t *lens, unsigned max);
static int rs_unpack_filter(rs_pack_reader_t *r, rs_filter_t *f);
static int rs_unpack_understood(rs_pack_reader_t *r, rs_understood_t *u);
static int rs_unpack_hit(rs_pack_reader_t *r, const rs_profile_t *profile,
    uint32_t nitems, rs_hit_t *hit);


size_t
rs_result_pack(const rs_result_t *res, void *buf, size_t size)
{
    rs_pack_writer_t  w;

    if (res->profile == NULL || res->nhits > RS_MAX_K
        || ((unsigned) res->embed_source << RS_PACK_SOURCE_SHIFT)
           & ~RS_PACK_SOURCE_MASK)
    {
        return 0;
    }

    /* measured first: a buffer too small is left as it was */
    w.p = NULL;
    w.end = NULL;
    w.n = 0;
    w.failed = 0;

    rs_pack_result(&w, res);

    if (w.failed) {
        return 0;
    }

    if (buf != NULL && size >= w.n) {
        w.p = buf;
        w.end = w.p + size;
        w.n = 0;

        rs_pack_result(&w, res);
    }

    return w.n;
}


static void
rs_pack_result(rs_pack_writer_t *w, const rs_result_t *res)
{
    uint16_t                flags;
    uint32_t                i;
    const rs_filter_t      *f;
    const rs_understood_t  *u;

    flags = (res->understood_any ? RS_PACK_UNDERSTOOD_ANY : 0)
            | (res->cold_start ? RS_PACK_COLD_START : 0)
            | (uint16_t) (res->embed_source << RS_PACK_SOURCE_SHIFT);

    rs_pack_bytes(w, RS_PACK_MAGIC, 4);
    rs_pack_u16(w, RS_PACK_VERSION);
    rs_pack_u16(w, flags);
    rs_pack_u64(w, rs_profile_fingerprint(res->profile));
    rs_pack_u32(w, res->searched);
    rs_pack_u32(w, res->nhits);

    f = &res->filter;

    rs_pack_str(w, f->category, f->category_len);
    rs_pack_str(w, f->brand, f->brand_len);
    rs_pack_str(w, f->tag, f->tag_len);
    rs_pack_f64(w, f->min_price);
    rs_pack_f64(w, f->max_price);
    rs_pack_f64(w, f->min_rating);
    rs_pack_u32(w, f->has_min_price | f->has_max_price << 1
                   | f->has_min_rating << 2 | f->in_stock << 3);
    rs_pack_list(w, f->exclude_brands, f->exclude_brand_lens,
                 f->nexclude_brands, RS_PACK_MAX_EXCLUDES);
    rs_pack_list(w, f->exclude_terms, f->exclude_term_lens,
                 f->nexclude_terms, RS_PACK_MAX_EXCLUDES);

    u = &res->understood;

    rs_pack_f64(w, u->min_price);
    rs_pack_f64(w, u->max_price);
    rs_pack_u32(w, u->has_min_price | u->has_max_price << 1
                   | u->cheap << 2 | u->premium << 3);
    rs_pack_str(w, u->brand, u->brand_len);
    rs_pack_str(w, u->category, u->category_len);
    rs_pack_list(w, u->exclude_brands, u->exclude_brand_lens,
                 u->nexclude_brands, RS_UNDERSTAND_MAX_EXCLUDES);
    rs_pack_list(w, u->exclude_terms, u->exclude_term_lens,
                 u->nexclude_terms, RS_UNDERSTAND_MAX_EXCLUDES);
    rs_pack_str(w, u->text, u->text_len);

    for (i = 0; i < res->nhits; i++) {
        rs_pack_hit(w, &res->hits[i]);
    }
}


int
rs_result_unpack(const void *buf, size_t len, const rs_profile_t *profile,
    uint32_t nitems, rs_result_t *res, rs_alloc_pt alloc, void *alloc_data)
{
    uint16_t                flags;
    uint32_t                i, nhits;
    rs_pack_reader_t        r;
    const unsigned char    *magic;

    memset(res, 0, sizeof(rs_result_t));

    r.p = buf;
    r.end = r.p + len;
    r.alloc = alloc;
    r.alloc_data = alloc_data;
    r.failed = 0;

    magic = rs_unpack_take(&r, 4);

    if (magic == NULL || memcmp(magic, RS_PACK_MAGIC, 4) != 0
        || rs_unpack_u16(&r) != RS_PACK_VERSION)
    {
        return -1;
    }

    flags = rs_unpack_u16(&r);

    if ((flags & ~(RS_PACK_UNDERSTOOD_ANY | RS_PACK_COLD_START
                   | RS_PACK_SOURCE_MASK))
        || rs_unpack_u64(&r) != rs_profile_fingerprint(profile))
    {
        return -1;
    }

    res->profile = profile;
    res->understood_any = (flags & RS_PACK_UNDERSTOOD_ANY) != 0;
    res->cold_start = (flags & RS_PACK_COLD_START) != 0;
    res->embed_source = (rs_embed_source_e)
                            ((flags & RS_PACK_SOURCE_MASK)
                             >> RS_PACK_SOURCE_SHIFT);
    res->searched = rs_unpack_u32(&r);
    nhits = rs_unpack_u32(&r);

    if (r.failed || nhits > RS_MAX_K
        || rs_unpack_filter(&r, &res->filter) != 0
        || rs_unpack_understood(&r, &res->understood) != 0)
    {
        return -1;
    }

    /* exactly the hits are left: a cut or padded value is not a result */
    if ((size_t) (r.end - r.p) != (size_t) nhits * RS_PACK_HIT_SIZE) {
        return -1;
    }

    res->hits = alloc(alloc_data, (nhits ? nhits : 1) * sizeof(rs_hit_t));
    if (res->hits == NULL) {
        return -1;
    }

    for (i = 0; i < nhits; i++) {
        if (rs_unpack_hit(&r, profile, nitems, &res->hits[i]) != 0) {
            return -1;
        }
    }

    res->nhits = nhits;

    return 0;
}


static void
rs_pack_bytes(rs_pack_writer_t *w, const void *data, size_t len)
{
    w->n += len;

    if (w->p == NULL || len == 0) {
        return;
    }

    memcpy(w->p, data, len);
    w->p += len;
}


static void
rs_pack_u16(rs_pack_writer_t *w, uint16_t v)
{
    unsigned char  b[2];

    b[0] = (unsigned char) v;
    b[1] = (unsigned char) (v >> 8);

    rs_pack_bytes(w, b, sizeof(b));
}


static void
rs_pack_u32(rs_pack_writer_t *w, uint32_t v)
{
    int            i;
    unsigned char  b[4];

    for (i = 0; i < 4; i++) {
        b[i] = (unsigned char) (v >> (8 * i));
    }

    rs_pack_bytes(w, b, sizeof(b));
}


static void
rs_pack_u64(rs_pack_writer_t *w, uint64_t v)
{
    int            i;
    unsigned char  b[8];

    for (i = 0; i < 8; i++) {
        b[i] = (unsigned char) (v >> (8 * i));
    }

    rs_pack_bytes(w, b, sizeof(b));
}


static void
rs_pack_f32(rs_pack_writer_t *w, float v)
{
    uint32_t  bits;

    memcpy(&bits, &v, sizeof(bits));
    rs_pack_u32(w, bits);
}


static void
rs_pack_f64(rs_pack_writer_t *w, double v)
{
    uint64_t  bits;

    memcpy(&bits, &v, sizeof(bits));
    rs_pack_u64(w, bits);
}


static void
rs_pack_str(rs_pack_writer_t *w, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        w->failed = 1;
        return;
    }

    rs_pack_u32(w, (uint32_t) len);
    rs_pack_bytes(w, s, len);
}


static void
rs_pack_list(rs_pack_writer_t *w, const char *const *s, const size_t *lens,
    unsigned n, unsigned max)
{
    unsigned  i;

    if (n > max) {
        w->failed = 1;
        return;
    }

    rs_pack_u32(w, n);

    for (i = 0; i < n; i++) {
        rs_pack_str(w, s[i], lens[i]);
    }
}


static void
rs_pack_hit(rs_pack_writer_t *w, const rs_hit_t *hit)
{
    int  i;

    rs_pack_u32(w, hit->item);
    rs_pack_f32(w, hit->score);
    rs_pack_f32(w, hit->relevance);

    for (i = 0; i < RS_SIGNALS; i++) {
        rs_pack_f32(w, hit->signals[i]);
    }

    rs_pack_f32(w, hit->factor);
    rs_pack_f32(w, hit->mmr_penalty);
    rs_pack_u32(w, hit->boosts_fired);
    rs_pack_u16(w, hit->flags);
    rs_pack_u16(w, (uint16_t) hit->promo);
    rs_pack_f64(w, hit->view.price);
    rs_pack_u64(w, (uint64_t) hit->view.stock);
    rs_pack_u32(w, hit->view.flags);
}


/* len bytes of the input, or NULL (and failed) past its end */

static const unsigned char *
rs_unpack_take(rs_pack_reader_t *r, size_t len)
{
    const unsigned char  *p;

    if (r->failed || (size_t) (r->end - r->p) < len) {
        r->failed = 1;
        return NULL;
    }

    p = r->p;
    r->p += len;

    return p;
}


static uint16_t
rs_unpack_u16(rs_pack_reader_t *r)
{
    const unsigned char  *b;

    b = rs_unpack_take(r, 2);
    if (b == NULL) {
        return 0;
    }

    return (uint16_t) (b[0] | b[1] << 8);
}


static uint32_t
rs_unpack_u32(rs_pack_reader_t *r)
{
    const unsigned char  *b;

    b = rs_unpack_take(r, 4);
    if (b == NULL) {
        return 0;
    }

    return (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16
           | (uint32_t) b[3] << 24;
}


static uint64_t
rs_unpack_u64(rs_pack_reader_t *r)
{
    uint64_t  lo;

    lo = rs_unpack_u32(r);

    return lo | (uint64_t) rs_unpack_u32(r) << 32;
}


/* a number that is not finite fails the whole result */

static float
rs_unpack_f32(rs_pack_reader_t *r)
{
    float     v;
    uint32_t  bits;

    bits = rs_unpack_u32(r);
    memcpy(&v, &bits, sizeof(v));

    if (!isfinite(v)) {
        r->failed = 1;
        return 0;
    }

    return v;
}


static double
rs_unpack_f64(rs_pack_reader_t *r)
{
    double    v;
    uint64_t  bits;

    bits = rs_unpack_u64(r);
    memcpy(&v, &bits, sizeof(v));

    if (!isfinite(v)) {
        r->failed = 1;
        return 0;
    }

    return v;
}


/*
 * A copy with a NUL after it; NULL for the empty string (as the engine
 * leaves an unset filter) and on failure.  Strings reach JSON and HTML:
 * invalid UTF-8 or a NUL inside fails the result.
 */

static char *
rs_unpack_str(rs_pack_reader_t *r, size_t *len)
{
    char                 *s;
    uint32_t              n;
    const unsigned char  *p;

    *len = 0;
    n = rs_unpack_u32(r);
    p = rs_unpack_take(r, n);

    if (p == NULL || n == 0) {
        return NULL;
    }

    if (memchr(p, '\0', n) != NULL || !rs_utf8_valid(p, n)) {
        r->failed = 1;
        return NULL;
    }

    s = r->alloc(r->alloc_data, (size_t) n + 1);
    if (s == NULL) {
        r->failed = 1;
        return NULL;
    }

    memcpy(s, p, n);
    s[n] = '\0';
    *len = n;

    return s;
}


static unsigned
rs_unpack_list(rs_pack_reader_t *r, const char **s, size_t *lens,
    unsigned max)
{
    uint32_t  i, n;

    n = rs_unpack_u32(r);

    if (n > max) {
        r->failed = 1;
        return 0;
    }

    for (i = 0; i < n && !r->failed; i++) {
        s[i] = rs_unpack_str(r, &lens[i]);
    }

    return r->failed ? 0 : n;
}


static int
rs_unpack_filter(rs_pack_reader_t *r, rs_filter_t *f)
{
    uint32_t      bits;
    const char  **s;
    size_t       *lens;

    f->category = rs_unpack_str(r, &f->category_len);
    f->brand = rs_unpack_str(r, &f->brand_len);
    f->tag = rs_unpack_str(r, &f->tag_len);
    f->min_price = rs_unpack_f64(r);
    f->max_price = rs_unpack_f64(r);
    f->min_rating = rs_unpack_f64(r);
    bits = rs_unpack_u32(r);

    if (r->failed || (bits & ~0xfu)) {
        return -1;
    }

    f->has_min_price = (bits & 1) != 0;
    f->has_max_price = (bits & 2) != 0;
    f->has_min_rating = (bits & 4) != 0;
    f->in_stock = (bits & 8) != 0;

    /* the arrays are sized for the most, the count read is checked */
    s = r->alloc(r->alloc_data, 2 * RS_PACK_MAX_EXCLUDES * sizeof(char *));
    lens = r->alloc(r->alloc_data,
                    2 * RS_PACK_MAX_EXCLUDES * sizeof(size_t));

    if (s == NULL || lens == NULL) {
        return -1;
    }

    f->nexclude_brands = rs_unpack_list(r, s, lens, RS_PACK_MAX_EXCLUDES);
    f->exclude_brands = s;
    f->exclude_brand_lens = lens;

    s += RS_PACK_MAX_EXCLUDES;
    lens += RS_PACK_MAX_EXCLUDES;

    f->nexclude_terms = rs_unpack_list(r, s, lens, RS_PACK_MAX_EXCLUDES);
    f->exclude_terms = s;
    f->exclude_term_lens = lens;

    return r->failed ? -1 : 0;
}


static int
rs_unpack_understood(rs_pack_reader_t *r, rs_understood_t *u)
{
    uint32_t  bits;

    u->min_price = rs_unpack_f64(r);
    u->max_price = rs_unpack_f64(r);
    bits = rs_unpack_u32(r);

    if (r->failed || (bits & ~0xfu)) {
        return -1;
    }

    u->has_min_price = (bits & 1) != 0;
    u->has_max_price = (bits & 2) != 0;
    u->cheap = (bits & 4) != 0;
    u->premium = (bits & 8) != 0;

    u->brand = rs_unpack_str(r, &u->brand_len);
    u->category = rs_unpack_str(r, &u->category_len);
    u->nexclude_brands = rs_unpack_list(r, u->exclude_brands,
                                        u->exclude_brand_lens,
                                        RS_UNDERSTAND_MAX_EXCLUDES);
    u->nexclude_terms = rs_unpack_list(r, u->exclude_terms,
                                       u->exclude_term_lens,
                                       RS_UNDERSTAND_MAX_EXCLUDES);

    u->text = rs_unpack_str(r, &u->text_len);

    if (r->failed) {
        return -1;
    }

    /* the engine's text is never NULL: what was left of the query */
    if (u->text == NULL) {
        u->text = r->alloc(r->alloc_data, 1);
        if (u->text == NULL) {
            return -1;
        }

        u->text[0] = '\0';
    }

    return 0;
}


static int
rs_unpack_hit(rs_pack_reader_t *r, const rs_profile_t *profile,
    uint32_t nitems, rs_hit_t *hit)
{
    int       i;
    uint32_t  boosts;

    memset(hit, 0, sizeof(rs_hit_t));

    hit->item = rs_unpack_u32(r);
    hit->score = rs_unpack_f32(r);
    hit->relevance = rs_unpack_f32(r);

    for (i = 0; i < RS_SIGNALS; i++) {
        hit->signals[i] = rs_unpack_f32(r);
    }

    hit->factor = rs_unpack_f32(r);
    hit->mmr_penalty = rs_unpack_f32(r);
    hit->boosts_fired = rs_unpack_u32(r);
    hit->flags = rs_unpack_u16(r);
    hit->promo = (int16_t) rs_unpack_u16(r);
    hit->view.price = rs_unpack_f64(r);
    hit->view.stock = (int64_t) rs_unpack_u64(r);
    hit->view.flags = rs_unpack_u32(r);

    if (r->failed || hit->item >= nitems
        || (hit->flags & ~RS_PACK_HIT_FLAGS)
        || (hit->view.flags & ~RS_PACK_VIEW_FLAGS))
    {
        return -1;
    }

    /* what the explanation looks up in the profile must be there */

    boosts = profile->nboosts >= 32 ? 0xffffffff
                                    : (1u << profile->nboosts) - 1;

    if (hit->boosts_fired & ~boosts) {
        return -1;
    }

    if (hit->promo != -1
        && (hit->promo < 0 || (uint32_t) hit->promo >= profile->npromos))
    {
        return -1;
    }

    if ((hit->flags & RS_HIT_SPONSORED) && hit->promo == -1) {
        return -1;
    }

    return 0;
}
