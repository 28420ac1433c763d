/*
 * Copyright (C) ngx_recsys authors
 *
 * Unit tests for packed results and profile fingerprints: a result from
 * the test index survives the round trip exactly as the answer shows it,
 * and every kind of damage to the bytes is refused.
 */


#define _GNU_SOURCE                 /* memmem() */

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_arena.h"
#include "rs_catalog.h"
#include "rs_pack.h"
#include "rs_render.h"


/* where the fields of the last hit start, from the end of the buffer */
#define HIT_SIZE      72
#define HIT_SCORE     4
#define HIT_BOOSTS    44
#define HIT_FLAGS     48
#define HIT_PROMO     50
#define HIT_VIEW      68


static rs_engine_t   *engine;
static rs_profile_t   profile;
static rs_boost_t     boosts[2];
static rs_promo_t     promos[1];
static rs_pin_t       pins[1];
static rs_match_t     blocks[1];


static void
open_engine(void)
{
    char         err[512];
    const char  *dir;

    dir = getenv("RS_TEST_INDEX");
    ck_assert_msg(dir != NULL, "RS_TEST_INDEX is not set");
    ck_assert_msg(rs_engine_open(&engine, dir, err, sizeof(err)) == 0,
                  "%s", err);
    rs_index_single_thread();
}


static void
close_engine(void)
{
    rs_engine_close(engine);
    engine = NULL;
}


/* a profile with every kind of rule, so explanations use them all */

static void
make_profile(rs_profile_t *p)
{
    rs_profile_init(p);

    p->name = "summer";
    p->name_len = 6;
    p->weights[RS_SIG_RATING] = 0.2f;
    p->max_per_brand = 2;

    boosts[0].match.kind = RS_MATCH_BRAND;
    boosts[0].match.value = "Stridewell";
    boosts[0].match.len = 10;
    boosts[0].factor = 1.5f;
    boosts[1].match.kind = RS_MATCH_CATEGORY;
    boosts[1].match.value = "Shoes > Sandals";
    boosts[1].match.len = 15;
    boosts[1].factor = 0.5f;
    p->boosts = boosts;
    p->nboosts = 2;

    promos[0].match.kind = RS_MATCH_BRAND;
    promos[0].match.value = "Aerorun";
    promos[0].match.len = 7;
    promos[0].slots = 1;
    promos[0].per = 4;
    p->promos = promos;
    p->npromos = 1;

    pins[0].id = "shoe-008";
    pins[0].len = 8;
    pins[0].position = 2;
    p->pins = pins;
    p->npins = 1;

    blocks[0].kind = RS_MATCH_ID;
    blocks[0].value = "shoe-010";
    blocks[0].len = 8;
    p->blocks = blocks;
    p->nblocks = 1;
}


static void
recommend(rs_arena_t *arena, const char *text, rs_result_t *res)
{
    rs_request_t  req;

    memset(&req, 0, sizeof(req));
    req.text = text;
    req.text_len = strlen(text);
    req.k = 8;
    req.candidates = 200;
    req.now = 1.7e9;
    req.profile = &profile;
    req.understand = 1;
    req.alloc = rs_arena_alloc;
    req.alloc_data = arena;

    ck_assert_int_eq(rs_engine_recommend(engine, &req, res), 0);
}


static int
collect(const char *buf, size_t size, void *data)
{
    strncat(data, buf, size);
    return 0;
}


/* the answer with explanations: what a cached result must reproduce */

static void
render(const rs_result_t *res, char *out)
{
    rs_render_t  r;

    memset(&r, 0, sizeof(r));
    r.query = "q";
    r.query_len = 1;
    r.result = res;
    r.explain = 1;
    out[0] = '\0';

    ck_assert_int_eq(rs_render_json(engine, &r, collect, out), 0);
}


static unsigned char *
pack(const rs_result_t *res, size_t *len)
{
    unsigned char  *buf;

    *len = rs_result_pack(res, NULL, 0);
    ck_assert_uint_gt(*len, 0);

    buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(rs_result_pack(res, buf, *len), *len);

    return buf;
}


static int
unpack(const unsigned char *buf, size_t len, rs_arena_t *arena)
{
    rs_result_t  res;

    return rs_result_unpack(buf, len, &profile,
                            rs_engine_store(engine)->count, &res,
                            rs_arena_alloc, arena);
}


/* returns the answer, for the caller to see which rules it exercised */

static char *
round_trip(const char *text)
{
    char           *a, *b;
    size_t          len;
    rs_arena_t      arena = { NULL };
    rs_result_t     res, back;
    unsigned char  *buf;

    recommend(&arena, text, &res);
    buf = pack(&res, &len);

    ck_assert_int_eq(rs_result_unpack(buf, len, &profile,
                                      rs_engine_store(engine)->count, &back,
                                      rs_arena_alloc, &arena),
                     0);

    ck_assert_ptr_eq(back.profile, &profile);
    ck_assert_uint_eq(back.nhits, res.nhits);
    ck_assert_uint_eq(back.searched, res.searched);
    ck_assert_uint_eq(back.cold_start, res.cold_start);
    ck_assert_uint_eq(back.understood_any, res.understood_any);
    ck_assert_int_eq(back.embed_source, res.embed_source);
    ck_assert(back.us_embed == 0 && back.us_retrieve == 0
              && back.us_rank == 0);

    a = malloc(65536);
    b = malloc(65536);
    ck_assert(a != NULL && b != NULL);

    render(&res, a);
    render(&back, b);
    ck_assert_str_eq(b, a);

    free(b);
    free(buf);
    rs_arena_reset(&arena);

    return a;
}


START_TEST(test_round_trip)
{
    char  *a;

    make_profile(&profile);

    a = round_trip("running shoes under 100 without kinetix no mesh");
    ck_assert_msg(strstr(a, "\"understood\":{") != NULL, "%.300s", a);
    ck_assert_msg(strstr(a, "\"rule\":\"boost\"") != NULL, "%.300s", a);
    ck_assert_msg(strstr(a, "\"rule\":\"pin\"") != NULL, "%.300s", a);
    free(a);

    a = round_trip("aerorun running shoes");
    ck_assert_msg(strstr(a, "\"rule\":\"promote\"") != NULL, "%.300s", a);
    free(a);

    free(round_trip("cheap laptop"));

    a = round_trip("");
    ck_assert_msg(strstr(a, "\"strategy\":\"popular\","
                            "\"embed_source\":\"popularity\"") != NULL,
                  "%.300s", a);
    free(a);
}
END_TEST


START_TEST(test_round_trip_filter)
{
    size_t          len;
    rs_arena_t      arena = { NULL };
    rs_result_t     res, back;
    unsigned char  *buf;

    make_profile(&profile);
    recommend(&arena, "running shoes between 50 and 150 without brooks",
              &res);

    ck_assert(res.understood_any);
    ck_assert_uint_eq(res.filter.nexclude_brands, 1);

    buf = pack(&res, &len);
    ck_assert_int_eq(rs_result_unpack(buf, len, &profile,
                                      rs_engine_store(engine)->count, &back,
                                      rs_arena_alloc, &arena),
                     0);

    ck_assert(back.filter.has_min_price && back.filter.has_max_price);
    ck_assert(back.filter.min_price == 50 && back.filter.max_price == 150);
    ck_assert_uint_eq(back.filter.nexclude_brands, 1);
    ck_assert_uint_eq(back.filter.exclude_brand_lens[0],
                      res.filter.exclude_brand_lens[0]);
    ck_assert(strncmp(back.filter.exclude_brands[0],
                      res.filter.exclude_brands[0],
                      res.filter.exclude_brand_lens[0]) == 0);
    ck_assert_uint_eq(back.understood.nexclude_brands, 1);
    ck_assert_str_eq(back.understood.text, res.understood.text);

    /* nothing points into the bytes */
    memset(buf, 0, len);
    ck_assert_str_eq(back.understood.text, res.understood.text);

    free(buf);

    /* every embed source comes back as it went in */
    res.embed_source = RS_SOURCE_LEXICAL;
    buf = pack(&res, &len);
    ck_assert_int_eq(rs_result_unpack(buf, len, &profile,
                                      rs_engine_store(engine)->count, &back,
                                      rs_arena_alloc, &arena),
                     0);
    ck_assert_int_eq(back.embed_source, RS_SOURCE_LEXICAL);

    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_pack_measures_first)
{
    size_t          len, n;
    rs_arena_t      arena = { NULL };
    rs_result_t     res;
    unsigned char  *buf;

    make_profile(&profile);
    recommend(&arena, "running shoes", &res);
    buf = pack(&res, &len);

    /* too small: the size is still returned, and nothing is written */
    memset(buf, 0x5a, len);
    ck_assert_uint_eq(rs_result_pack(&res, buf, len - 1), len);

    for (n = 0; n < len; n++) {
        ck_assert_uint_eq(buf[n], 0x5a);
    }

    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_pack_refuses)
{
    rs_arena_t   arena = { NULL };
    rs_result_t  res;

    make_profile(&profile);
    recommend(&arena, "running shoes", &res);

    res.profile = NULL;
    ck_assert_uint_eq(rs_result_pack(&res, NULL, 0), 0);

    res.profile = &profile;
    res.nhits = RS_MAX_K + 1;
    ck_assert_uint_eq(rs_result_pack(&res, NULL, 0), 0);

    res.nhits = 0;
    res.embed_source = (rs_embed_source_e) 4;
    ck_assert_uint_eq(rs_result_pack(&res, NULL, 0), 0);

    res.embed_source = RS_SOURCE_MODEL;
    res.filter.nexclude_terms = RS_PACK_MAX_EXCLUDES + 1;
    ck_assert_uint_eq(rs_result_pack(&res, NULL, 0), 0);

    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_unpack_truncated_and_padded)
{
    size_t          len, n;
    rs_arena_t      arena = { NULL };
    rs_result_t     res;
    unsigned char  *buf, *big;

    make_profile(&profile);
    recommend(&arena, "running shoes under 100 without aerorun", &res);
    buf = pack(&res, &len);

    for (n = 0; n < len; n++) {
        ck_assert_msg(unpack(buf, n, &arena) != 0, "cut at %zu of %zu", n,
                      len);
    }

    big = malloc(len + 1);
    ck_assert_ptr_nonnull(big);
    memcpy(big, buf, len);
    big[len] = 0;
    ck_assert_int_ne(unpack(big, len + 1, &arena), 0);
    ck_assert_int_eq(unpack(big, len, &arena), 0);

    free(big);
    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_unpack_wrong_context)
{
    size_t          len;
    uint32_t        i, max;
    rs_arena_t      arena = { NULL };
    rs_result_t     res, back;
    rs_profile_t    other;
    unsigned char  *buf;

    make_profile(&profile);
    recommend(&arena, "running shoes", &res);
    buf = pack(&res, &len);

    /* another profile: another fingerprint */
    other = profile;
    other.diversity = 0.5f;
    ck_assert_int_ne(rs_result_unpack(buf, len, &other,
                                      rs_engine_store(engine)->count, &back,
                                      rs_arena_alloc, &arena),
                     0);

    /* a smaller index than the one that ranked */
    max = 0;

    for (i = 0; i < res.nhits; i++) {
        max = res.hits[i].item > max ? res.hits[i].item : max;
    }

    ck_assert_int_ne(rs_result_unpack(buf, len, &profile, max, &back,
                                      rs_arena_alloc, &arena),
                     0);
    ck_assert_int_eq(rs_result_unpack(buf, len, &profile, max + 1, &back,
                                      rs_arena_alloc, &arena),
                     0);

    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


static void
put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
}


static void
put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t) v);
    put16(p + 2, (uint16_t) (v >> 16));
}


/* one change to a good buffer, which must then be refused */

static void
refused(const unsigned char *good, size_t len, size_t off,
    const void *bytes, size_t n, const char *what)
{
    rs_arena_t      arena = { NULL };
    unsigned char  *buf;

    buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, good, len);
    memcpy(buf + off, bytes, n);

    ck_assert_msg(unpack(buf, len, &arena) != 0, "accepted: %s", what);

    free(buf);
    rs_arena_reset(&arena);
}


START_TEST(test_unpack_damage)
{
    float           nan;
    size_t          len, last;
    uint32_t        nhits;
    rs_arena_t      arena = { NULL };
    rs_result_t     res;
    unsigned char   b[8], *buf, *text;

    make_profile(&profile);
    recommend(&arena, "running shoes no mesh", &res);
    buf = pack(&res, &len);
    ck_assert_uint_gt(res.nhits, 0);
    ck_assert_int_eq(unpack(buf, len, &arena), 0);

    last = len - HIT_SIZE;

    refused(buf, len, 0, "RSRQ", 4, "magic");

    put16(b, RS_PACK_VERSION + 1);
    refused(buf, len, 4, b, 2, "version");

    put16(b, 0x0010);
    refused(buf, len, 6, b, 2, "unknown flags");

    b[0] = buf[8] ^ 1;
    refused(buf, len, 8, b, 1, "fingerprint");

    /* more hits than the bytes hold, and more than RS_MAX_K */
    nhits = res.nhits + 1;
    put32(b, nhits);
    refused(buf, len, 20, b, 4, "one hit more");
    put32(b, RS_MAX_K + 1);
    refused(buf, len, 20, b, 4, "too many hits");

    /* a string's length past the end */
    put32(b, 0xffffffff);
    refused(buf, len, 24, b, 4, "category length");

    nan = NAN;
    memcpy(b, &nan, 4);
    refused(buf, len, last + HIT_SCORE, b, 4, "NaN score");

    put32(b, 1u << 2);
    refused(buf, len, last + HIT_BOOSTS, b, 4, "a boost the profile lacks");

    put16(b, 0x0080);
    refused(buf, len, last + HIT_FLAGS, b, 2, "unknown hit flag");

    put16(b, RS_HIT_SPONSORED);
    put16(b + 2, 0xffff);
    refused(buf, len, last + HIT_FLAGS, b, 4, "sponsored without promo");

    put16(b, 1);
    refused(buf, len, last + HIT_PROMO, b, 2, "promotion out of range");

    put32(b, 0x0004);
    refused(buf, len, last + HIT_VIEW, b, 4, "unknown view flag");

    /* the understood text is "running shoes": bad UTF-8, then a NUL */
    text = memmem(buf, len, "running shoes", 13);
    ck_assert_ptr_nonnull(text);
    refused(buf, len, text - buf, "\xc3\x28", 2, "invalid UTF-8");
    refused(buf, len, text - buf, "\0", 1, "a NUL inside a string");

    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_unpack_empty_result)
{
    size_t          len;
    rs_arena_t      arena = { NULL };
    rs_result_t     res, back;
    unsigned char  *buf;

    make_profile(&profile);
    memset(&res, 0, sizeof(res));
    res.profile = &profile;

    buf = pack(&res, &len);
    ck_assert_int_eq(rs_result_unpack(buf, len, &profile, 0, &back,
                                      rs_arena_alloc, &arena),
                     0);
    ck_assert_uint_eq(back.nhits, 0);
    ck_assert_ptr_nonnull(back.understood.text);
    ck_assert_str_eq(back.understood.text, "");
    ck_assert_ptr_null(back.filter.category);

    free(buf);
    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_fingerprint)
{
    uint64_t      fp;
    rs_pin_t      pin2;
    rs_boost_t    b2[2];
    rs_profile_t  p, q;
    char          name[] = "summer";

    make_profile(&p);
    fp = rs_profile_fingerprint(&p);

    /* equal contents in other memory: the same fingerprint */
    q = p;
    q.name = name;
    memcpy(b2, boosts, sizeof(b2));
    q.boosts = b2;
    ck_assert_uint_eq(rs_profile_fingerprint(&q), fp);

#define CHANGED(stmt)                                                       \
    do {                                                                     \
        q = p;                                                               \
        memcpy(b2, boosts, sizeof(b2));                                      \
        q.boosts = b2;                                                       \
        stmt;                                                                \
        ck_assert_msg(rs_profile_fingerprint(&q) != fp, "same after %s",     \
                      #stmt);                                                \
    } while (0)

    CHANGED(q.name_len = 5);
    CHANGED(q.weights[RS_SIG_MARGIN] = 0.01f);
    CHANGED(q.half_life_days = 31);
    CHANGED(q.rating_prior = 4);
    CHANGED(q.diversity = 0.31f);
    CHANGED(q.max_per_brand = 3);
    CHANGED(q.max_per_category = 1);
    CHANGED(q.filter.in_stock = 1);
    CHANGED(q.filter.has_min_price = 1);
    CHANGED(q.filter.brand = "Aerorun"; q.filter.brand_len = 7);
    CHANGED(b2[1].factor = 0.6f);
    CHANGED(b2[0].match.kind = RS_MATCH_TAG);
    CHANGED(q.nboosts = 1);
    CHANGED(q.nblocks = 0);
    CHANGED(pin2 = pins[0]; pin2.position = 3; q.pins = &pin2);
    CHANGED(q.npromos = 0);

#undef CHANGED

    /* a value moved from one string to the next is another profile */
    q = p;
    q.filter.category = "ab";
    q.filter.category_len = 2;
    q.filter.brand = "c";
    q.filter.brand_len = 1;
    fp = rs_profile_fingerprint(&q);
    q.filter.category_len = 1;
    q.filter.brand = "bc";
    q.filter.brand_len = 2;
    ck_assert_uint_ne(rs_profile_fingerprint(&q), fp);
}
END_TEST


static Suite *
pack_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("pack");

    tc = tcase_create("fingerprint");
    tcase_add_test(tc, test_fingerprint);
    suite_add_tcase(s, tc);

    tc = tcase_create("result");
    tcase_add_checked_fixture(tc, open_engine, close_engine);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_round_trip_filter);
    tcase_add_test(tc, test_pack_measures_first);
    tcase_add_test(tc, test_pack_refuses);
    tcase_add_test(tc, test_unpack_truncated_and_padded);
    tcase_add_test(tc, test_unpack_wrong_context);
    tcase_add_test(tc, test_unpack_damage);
    tcase_add_test(tc, test_unpack_empty_result);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(pack_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
