/*
 * Copyright (C) ngx_recsys authors
 *
 * Unit tests for personalisation and live popularity in the engine: a
 * shopper's history steers retrieval and feeds the personal signal, what
 * they bought or just saw is not shown, live scores lift popularity.  They
 * run against the test index built from t/data/catalog.jsonl
 * (RS_TEST_INDEX, set by "make unit-test").
 */


#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_arena.h"
#include "rs_engine.h"
#include "rs_render.h"


static rs_engine_t  *engine;
static rs_arena_t    arena;


static void
open_index(void)
{
    char         err[512];
    const char  *dir;

    dir = getenv("RS_TEST_INDEX");
    ck_assert_msg(dir != NULL, "RS_TEST_INDEX is not set");
    ck_assert_msg(rs_engine_open(&engine, dir, err, sizeof(err)) == 0, "%s",
                  err);
    rs_index_single_thread();
}


static void
close_index(void)
{
    rs_engine_close(engine);
    engine = NULL;
    rs_arena_reset(&arena);
}


static uint32_t
row(const char *id)
{
    uint32_t  r;

    ck_assert_msg(rs_store_find(rs_engine_store(engine), id, strlen(id), &r)
                  == 0, "no item \"%s\" in the test index", id);

    return r;
}


static const char *
hit_id(const rs_result_t *res, uint32_t i)
{
    const rs_store_t  *st;

    st = rs_engine_store(engine);

    return rs_store_str(st, st->items[res->hits[i].item].id);
}


/* the position of an item in the answer, or -1 */

static int
position(const rs_result_t *res, const char *id)
{
    uint32_t  i;

    for (i = 0; i < res->nhits; i++) {
        if (strcmp(hit_id(res, i), id) == 0) {
            return (int) i;
        }
    }

    return -1;
}


static const rs_hit_t *
hit(const rs_result_t *res, const char *id)
{
    int  i;

    i = position(res, id);
    ck_assert_msg(i >= 0, "\"%s\" is not in the answer", id);

    return &res->hits[i];
}


static uint32_t
count_prefix(const rs_result_t *res, const char *prefix)
{
    uint32_t  i, n;

    n = 0;

    for (i = 0; i < res->nhits; i++) {
        n += strncmp(hit_id(res, i), prefix, strlen(prefix)) == 0;
    }

    return n;
}


static void
request(rs_request_t *req, const char *text)
{
    memset(req, 0, sizeof(*req));
    req->text = text;
    req->text_len = strlen(text);
    req->k = 4;
    req->candidates = 200;
    req->now = 1.7e9;
    req->history_weight = 0.3f;
    req->alloc = rs_arena_alloc;
    req->alloc_data = &arena;
}


static void
recommend(rs_request_t *req, rs_result_t *res)
{
    ck_assert_int_eq(rs_engine_recommend(engine, req, res), 0);
}


static int
collect(const char *buf, size_t size, void *data)
{
    strncat(data, buf, size);
    return 0;
}


START_TEST(test_history_alone_drives_retrieval)
{
    char          out[16384];
    uint32_t      i, history[1];
    rs_render_t   r;
    rs_result_t   res;
    rs_request_t  req;

    request(&req, "");
    recommend(&req, &res);
    ck_assert(res.cold_start);
    ck_assert(!res.personalized);
    ck_assert_str_eq(hit_id(&res, 0), "shoe-001");

    /* a skillet viewed: the rest of its brand's cookware, not best-sellers */
    history[0] = row("cook-001");
    req.history = history;
    req.nhistory = 1;
    recommend(&req, &res);
    ck_assert(!res.cold_start);
    ck_assert(res.personalized);
    ck_assert_uint_eq(res.nhits, 4);
    ck_assert_str_eq(hit_id(&res, 0), "cook-004");
    ck_assert_int_eq(position(&res, "shoe-001"), -1);

    for (i = 0; i < res.nhits; i++) {
        ck_assert_str_ne(hit_id(&res, i), "cook-001");
    }

    ck_assert_float_gt(res.hits[0].signals[RS_SIG_PERSONAL], 0.3f);

    /* the answer says what it is */
    memset(&r, 0, sizeof(r));
    r.result = &res;
    r.request = &req;
    out[0] = '\0';

    ck_assert_int_eq(rs_render_json(engine, &r, collect, out), 0);
    ck_assert_msg(strstr(out, "\"strategy\":\"personal\"") != NULL, "%s",
                  out);
    ck_assert_msg(strstr(out, "\"summary\":\"Picked for you: 4 items")
                  != NULL, "%s", out);
}
END_TEST


START_TEST(test_click_changes_the_answer)
{
    uint32_t      history[1];
    rs_result_t   res;
    rs_request_t  req;

    request(&req, "running shoes");
    recommend(&req, &res);
    ck_assert_str_eq(hit_id(&res, 0), "shoe-002");
    ck_assert_float_eq(res.hits[0].signals[RS_SIG_PERSONAL], 0);

    /* one click on a trail shoe */
    history[0] = row("shoe-005");
    req.history = history;
    req.nhistory = 1;
    recommend(&req, &res);
    ck_assert_str_ne(hit_id(&res, 0), "shoe-002");
    ck_assert_int_eq(position(&res, "shoe-005"), -1);
    ck_assert_float_gt(res.hits[0].signals[RS_SIG_PERSONAL], 0);

    /* shown again when the location says so */
    req.show_history = 1;
    recommend(&req, &res);
    ck_assert_int_ge(position(&res, "shoe-005"), 0);
}
END_TEST


START_TEST(test_history_weight)
{
    uint32_t      history[2];
    rs_result_t   res;
    rs_request_t  req;

    history[0] = row("cook-001");
    history[1] = row("hp-001");

    request(&req, "running shoes");
    req.history = history;
    req.nhistory = 2;

    req.history_weight = 0;
    recommend(&req, &res);
    ck_assert_uint_eq(count_prefix(&res, "shoe-"), 4);

    req.history_weight = 1;
    recommend(&req, &res);
    ck_assert_uint_eq(count_prefix(&res, "shoe-"), 0);
}
END_TEST


START_TEST(test_newest_counts_most)
{
    float         lead[2];
    uint32_t      i, history[2];
    rs_result_t   res;
    rs_request_t  req;

    /* the same two items, headphones newest, then the skillet newest */
    for (i = 0; i < 2; i++) {
        history[i] = row("hp-001");
        history[1 - i] = row("cook-001");

        request(&req, "");
        req.history = history;
        req.nhistory = 2;
        recommend(&req, &res);

        lead[i] = hit(&res, "hp-003")->signals[RS_SIG_PERSONAL]
                  - hit(&res, "cook-004")->signals[RS_SIG_PERSONAL];
    }

    ck_assert_float_gt(lead[0], lead[1]);
}
END_TEST


START_TEST(test_purchases_never_shown)
{
    uint32_t      purchased[1];
    rs_result_t   res;
    rs_request_t  req;

    request(&req, "cast iron skillet");
    recommend(&req, &res);
    ck_assert_str_eq(hit_id(&res, 0), "cook-001");

    purchased[0] = row("cook-001");
    req.purchased = purchased;
    req.npurchased = 1;
    recommend(&req, &res);
    ck_assert_uint_eq(res.nhits, 4);
    ck_assert_int_eq(position(&res, "cook-001"), -1);

    /* nor in the cold-start answer */
    purchased[0] = row("shoe-001");
    request(&req, "");
    req.purchased = purchased;
    req.npurchased = 1;
    recommend(&req, &res);
    ck_assert(res.cold_start);
    ck_assert_uint_eq(res.nhits, 4);
    ck_assert_int_eq(position(&res, "shoe-001"), -1);
}
END_TEST


START_TEST(test_live_popularity)
{
    float             *scores, before;
    uint32_t           top[1];
    rs_result_t        res;
    rs_request_t       req;
    rs_popularity_t    live;
    const rs_store_t  *st;

    st = rs_engine_store(engine);
    scores = calloc(st->count, sizeof(float));
    ck_assert_ptr_nonnull(scores);

    /* a wooden train set, 220 in the catalogue, sells like nothing else */
    top[0] = row("toy-004");
    scores[top[0]] = 1e6f;

    live.scores = scores;
    live.top = top;
    live.ntop = 1;
    live.max = 1e6 + 220;

    request(&req, "wooden train set");
    recommend(&req, &res);
    before = hit(&res, "toy-004")->signals[RS_SIG_POPULARITY];
    ck_assert_float_lt(before, 0.6f);

    req.popularity = &live;
    recommend(&req, &res);
    ck_assert_float_eq_tol(hit(&res, "toy-004")->signals[RS_SIG_POPULARITY],
                           1.0f, 1e-4f);

    /*
     * the cold-start answer: the live leader is found outside the
     * catalogue's most popular, and the others' signals scale down
     */
    request(&req, "");
    req.candidates = 5;
    req.k = 5;
    recommend(&req, &res);
    ck_assert_int_eq(position(&res, "toy-004"), -1);
    before = hit(&res, "shoe-001")->signals[RS_SIG_POPULARITY];

    req.popularity = &live;
    recommend(&req, &res);
    ck_assert(res.cold_start);
    ck_assert_str_eq(hit_id(&res, 0), "toy-004");
    ck_assert_float_lt(hit(&res, "shoe-001")->signals[RS_SIG_POPULARITY],
                       before);

    free(scores);
}
END_TEST


static Suite *
personal_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("personal");

    tc = tcase_create("history");
    tcase_add_checked_fixture(tc, open_index, close_index);
    tcase_add_test(tc, test_history_alone_drives_retrieval);
    tcase_add_test(tc, test_click_changes_the_answer);
    tcase_add_test(tc, test_history_weight);
    tcase_add_test(tc, test_newest_counts_most);
    tcase_add_test(tc, test_purchases_never_shown);
    suite_add_tcase(s, tc);

    tc = tcase_create("popularity");
    tcase_add_checked_fixture(tc, open_index, close_index);
    tcase_add_test(tc, test_live_popularity);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(personal_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
