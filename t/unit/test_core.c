/*
 * Copyright (C) ngx_recsys authors
 *
 * Unit tests for the core: embedder, catalogue parsing, store, filters and
 * the engine's request path.
 */


#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs_arena.h"
#include "rs_build.h"
#include "rs_catalog.h"
#include "rs_embed.h"
#include "rs_engine.h"
#include "rs_render.h"
#include "rs_util.h"


#define DIM  64


typedef struct {
    size_t  errors;
    size_t  warnings;
    size_t  lines[64];
    char    reasons[64][256];
} report_t;


static float          idf_ones[1 << RS_EMBED_IDF_BITS];
static rs_embedder_t  em_ones = { DIM, RS_EMBED_IDF_BITS, 1, idf_ones };


static void
setup_idf(void)
{
    size_t  i;

    for (i = 0; i < sizeof(idf_ones) / sizeof(idf_ones[0]); i++) {
        idf_ones[i] = 1.0f;
    }
}


static float
dot(const float *a, const float *b, size_t n)
{
    size_t  i;
    float   s;

    s = 0;

    for (i = 0; i < n; i++) {
        s += a[i] * b[i];
    }

    return s;
}


static void
embed(const char *text, float *vec)
{
    memset(vec, 0, DIM * sizeof(float));
    rs_embed_add(&em_ones, text, strlen(text), RS_EMBED_ALL, 1.0f, vec);
    rs_embed_normalize(vec, DIM);
}


static void
report(void *data, size_t line, int is_error, const char *reason)
{
    report_t  *r;
    size_t     n;

    r = data;
    n = r->errors + r->warnings;

    if (n < 64) {
        r->lines[n] = line;
        snprintf(r->reasons[n], sizeof(r->reasons[n]), "%s%s",
                 is_error ? "" : "warning: ", reason);
    }

    if (is_error) {
        r->errors++;

    } else {
        r->warnings++;
    }
}


static const char *
write_temp(const char *content)
{
    static char  path[64];
    FILE        *f;
    int          fd;

    strcpy(path, "/tmp/rs-unit-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(content, f);
    fclose(f);

    return path;
}


/* embedder */

START_TEST(test_embed_deterministic)
{
    float  a[DIM], b[DIM];

    setup_idf();
    embed("Brooks Ghost 15 running shoes", a);
    embed("Brooks Ghost 15 running shoes", b);

    ck_assert_mem_eq(a, b, sizeof(a));
    ck_assert_float_eq_tol(dot(a, a, DIM), 1.0f, 1e-5);
}
END_TEST


START_TEST(test_embed_case_and_punctuation)
{
    float  a[DIM], b[DIM];

    setup_idf();
    embed("Running SHOES!", a);
    embed("running, shoes", b);

    ck_assert_float_eq_tol(dot(a, b, DIM), 1.0f, 1e-5);
}
END_TEST


START_TEST(test_embed_related_closer)
{
    float  q[DIM], near[DIM], far[DIM];

    setup_idf();
    embed("running shoes", q);
    embed("lightweight running shoe for marathon", near);
    embed("cast iron skillet", far);

    ck_assert(dot(q, near, DIM) > dot(q, far, DIM) + 0.2f);
}
END_TEST


START_TEST(test_embed_nothing_to_embed)
{
    float  v[DIM];

    setup_idf();
    memset(v, 0, sizeof(v));
    rs_embed_add(&em_ones, "!!! ... ???", 11, RS_EMBED_ALL, 1.0f, v);

    ck_assert_float_eq(rs_embed_normalize(v, DIM), 0.0f);
}
END_TEST


START_TEST(test_embed_utf8_and_long_tokens)
{
    char   text[600];
    float  a[DIM], b[DIM];

    setup_idf();
    embed("crème brûlée torch", a);
    embed("Crème brûlée torch", b);
    ck_assert_float_eq_tol(dot(a, b, DIM), 1.0f, 1e-5);

    /* a token longer than the cap is cut, never overflows */
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    embed(text, a);
    ck_assert_float_eq_tol(dot(a, a, DIM), 1.0f, 1e-5);
}
END_TEST


/* UTF-8 and dates */

START_TEST(test_utf8_valid)
{
    ck_assert(rs_utf8_valid((const unsigned char *) "plain", 5));
    ck_assert(rs_utf8_valid((const unsigned char *) "caf\xc3\xa9", 5));
    ck_assert(rs_utf8_valid((const unsigned char *) "\xf0\x9f\x91\x9f", 4));
    ck_assert(!rs_utf8_valid((const unsigned char *) "\xff", 1));
    ck_assert(!rs_utf8_valid((const unsigned char *) "\xc3", 1));
    ck_assert(!rs_utf8_valid((const unsigned char *) "\xc0\xaf", 2));
    ck_assert(!rs_utf8_valid((const unsigned char *) "\xed\xa0\x80", 3));
    ck_assert(!rs_utf8_valid((const unsigned char *) "\xf4\x90\x80\x80", 4));
}
END_TEST


START_TEST(test_iso8601)
{
    int64_t  t;

    ck_assert_int_eq(rs_parse_iso8601("1970-01-01T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 0);
    ck_assert_int_eq(rs_parse_iso8601("2024-02-29T12:30:00Z", &t), 0);
    ck_assert_int_eq(t, 1709209800);
    ck_assert_int_eq(rs_parse_iso8601("2024-02-29T14:30:00+02:00", &t), 0);
    ck_assert_int_eq(t, 1709209800);
    ck_assert_int_eq(rs_parse_iso8601("2024-02-29", &t), 0);
    ck_assert_int_eq(t, 1709164800);
    ck_assert_int_eq(rs_parse_iso8601("2024-01-01T00:00:00.123Z", &t), 0);
    ck_assert_int_ne(rs_parse_iso8601("yesterday", &t), 0);
    ck_assert_int_ne(rs_parse_iso8601("2024-13-01", &t), 0);
    ck_assert_int_ne(rs_parse_iso8601("2024-01-01T25:00:00Z", &t), 0);
    ck_assert_int_ne(rs_parse_iso8601("2024-01-01T00:00:00Zjunk", &t), 0);
}
END_TEST


/* catalogue parsing */

START_TEST(test_parse_product_fields)
{
    char          reason[256];
    rs_product_t  p;
    const char   *line =
        "{\"id\":\"x1\",\"title\":\"Pan\",\"category\":[\"Home\",\"Kitchen\"],"
        "\"price\":19.5,\"stock\":3,\"rating\":4.5,\"rating_count\":10,"
        "\"tags\":[\"a\",\"b\"],\"color\":\"red\",\"created_at\":"
        "\"2024-01-01T00:00:00Z\"}";

    ck_assert_int_eq(rs_catalog_parse_product(line, strlen(line), &p, reason,
                                              sizeof(reason)), 0);
    ck_assert_str_eq(p.id, "x1");
    ck_assert_str_eq(p.category, "Home > Kitchen");
    ck_assert_str_eq(p.tags, "a\x1f" "b");
    ck_assert_str_eq(p.extra, "{\"color\":\"red\"}");
    ck_assert_int_eq(p.stock, 3);
    ck_assert_uint_eq(p.flags & (RS_HAS_PRICE | RS_HAS_STOCK | RS_HAS_RATING
                                 | RS_HAS_CREATED),
                      RS_HAS_PRICE | RS_HAS_STOCK | RS_HAS_RATING
                      | RS_HAS_CREATED);
    ck_assert(p.currency == NULL);
    rs_product_free(&p);
}
END_TEST


START_TEST(test_parse_product_rejects)
{
    size_t        i;
    char          reason[256];
    rs_product_t  p;
    static const struct {
        const char  *line;
        const char  *reason;
    } cases[] = {
        { "{\"title\":\"t\"}", "\"id\"" },
        { "{\"id\":5,\"title\":\"t\"}", "\"id\"" },
        { "{\"id\":\"\",\"title\":\"t\"}", "\"id\"" },
        { "{\"id\":\"a\"}", "\"title\"" },
        { "{\"id\":\"a\",\"title\":\"t\",\"price\":-1}", "negative" },
        { "{\"id\":\"a\",\"title\":\"t\",\"price\":\"9.99\"}", "\"price\"" },
        { "{\"id\":\"a\",\"title\":\"t\",\"stock\":1.5}", "\"stock\"" },
        { "{\"id\":\"a\",\"title\":\"t\",\"rating\":7}", "\"rating\"" },
        { "{\"id\":\"a\",\"title\":\"t\",\"created_at\":\"soon\"}",
          "ISO 8601" },
        { "{\"id\":\"a\",\"title\":\"t\",\"currency\":\"dollars\"}",
          "currency" },
        { "{\"id\":\"a\",\"title\":\"t\",\"tags\":[1]}", "\"tags\"" },
        { "{\"id\":\"a\",\"title\":\"t\",\"brand\":[\"x\"]}", "\"brand\"" },
        { "[1,2]", "object" },
        { "{\"id\":\"a\",", "invalid JSON" },
        { "{\"id\":\"a\",\"id\":\"b\",\"title\":\"t\"}", "invalid JSON" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(rs_catalog_parse_product(cases[i].line,
                                               strlen(cases[i].line), &p,
                                               reason, sizeof(reason))
                      != 0, "accepted %s", cases[i].line);
        ck_assert_msg(strstr(reason, cases[i].reason) != NULL,
                      "%s: reason \"%s\" lacks \"%s\"", cases[i].line,
                      reason, cases[i].reason);
    }
}
END_TEST


START_TEST(test_catalog_lines_and_duplicates)
{
    char           err[256];
    report_t       rep;
    rs_catalog_t   cat;
    const char    *path;

    path = write_temp(
        "{\"id\":\"a\",\"title\":\"first\"}\n"
        "\n"
        "not json\n"
        "{\"id\":\"b\",\"title\":\"bee\"}\n"
        "{\"id\":\"a\",\"title\":\"second\"}\n"
        "{\"id\":\"c\"}\n");

    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(rs_catalog_load(&cat, path, 0, report, &rep, err,
                                     sizeof(err)), 0);
    ck_assert_uint_eq(cat.nitems, 2);
    ck_assert_uint_eq(cat.bad, 2);
    ck_assert_uint_eq(cat.duplicates, 1);
    ck_assert_str_eq(cat.items[0].title, "second");
    ck_assert_uint_eq(rep.lines[0], 3);
    ck_assert_uint_eq(rep.lines[1], 5);
    ck_assert(strstr(rep.reasons[1], "duplicate id \"a\"") != NULL);
    ck_assert_uint_eq(rep.lines[2], 6);
    rs_catalog_free(&cat);

    memset(&rep, 0, sizeof(rep));
    ck_assert_int_ne(rs_catalog_load(&cat, path, 1, report, &rep, err,
                                     sizeof(err)), 0);
    ck_assert(strstr(err, "line 3") != NULL);

    unlink(path);
}
END_TEST


START_TEST(test_catalog_json_array)
{
    char          err[256];
    report_t      rep;
    rs_catalog_t  cat;
    const char   *path;

    path = write_temp("  [{\"id\":\"a\",\"title\":\"x\"},"
                      "{\"id\":\"b\",\"title\":\"y\",\"price\":-2}]");

    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(rs_catalog_load(&cat, path, 0, report, &rep, err,
                                     sizeof(err)), 0);
    ck_assert_uint_eq(cat.nitems, 1);
    ck_assert_uint_eq(rep.lines[0], 2);
    rs_catalog_free(&cat);
    unlink(path);

    ck_assert_int_ne(rs_catalog_load(&cat, "/nonexistent/catalog.jsonl", 0,
                                     report, &rep, err, sizeof(err)), 0);
    ck_assert(strstr(err, "cannot open") != NULL);
}
END_TEST


/* engine on an index built here */

static rs_engine_t  *engine;
static char          index_dir[64];


static void
build_index(void)
{
    char              err[512];
    report_t          rep;
    rs_build_conf_t   conf;
    rs_build_stats_t  stats;
    const char       *path;

    path = write_temp(
        "{\"id\":\"s1\",\"title\":\"Road running shoes\",\"brand\":\"Brooks\","
        "\"category\":\"Shoes > Running\",\"price\":89.99,\"stock\":4,"
        "\"popularity\":50}\n"
        "{\"id\":\"s2\",\"title\":\"Trail running shoes\",\"brand\":\"Salomon\","
        "\"category\":\"Shoes > Running > Trail\",\"price\":139,\"stock\":0,"
        "\"popularity\":500}\n"
        "{\"id\":\"s3\",\"title\":\"Leather dress shoes\",\"brand\":\"Clarks\","
        "\"category\":\"Shoes > Dress\",\"price\":120,\"stock\":2,"
        "\"popularity\":5}\n"
        "{\"id\":\"k1\",\"title\":\"Cast iron skillet\",\"brand\":\"Lodge\","
        "\"category\":\"Home > Kitchen\",\"price\":35,\"stock\":9,"
        "\"popularity\":300}\n"
        "{\"id\":\"k2\",\"title\":\"Chef knife\",\"brand\":\"Wusthof\","
        "\"category\":\"Home > Kitchen\",\"price\":99,"
        "\"popularity\":100}\n");

    strcpy(index_dir, "/tmp/rs-unit-index-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(index_dir));

    memset(&conf, 0, sizeof(conf));
    memset(&rep, 0, sizeof(rep));
    conf.catalog = path;
    conf.out = index_dir;
    conf.dim = DIM;
    conf.report = report;
    conf.report_data = &rep;

    ck_assert_msg(rs_build(&conf, &stats, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(stats.items, 5);
    unlink(path);

    ck_assert_msg(rs_engine_open(&engine, index_dir, err, sizeof(err)) == 0,
                  "%s", err);
    rs_index_single_thread();
}


static void
drop_index(void)
{
    char  cmd[128];

    rs_engine_close(engine);
    engine = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", index_dir);
    ck_assert_int_eq(system(cmd), 0);
}


static const char *
hit_id(const rs_result_t *res, uint32_t i)
{
    const rs_store_t  *st;

    st = rs_engine_store(engine);

    return rs_store_str(st, st->items[res->hits[i].item].id);
}


static void
request(rs_request_t *req, rs_arena_t *arena, const char *text)
{
    memset(req, 0, sizeof(*req));
    req->text = text;
    req->text_len = strlen(text);
    req->k = 3;
    req->candidates = 200;
    req->now = 1.7e9;
    req->alloc = rs_arena_alloc;
    req->alloc_data = arena;
}


START_TEST(test_engine_search_and_filters)
{
    uint32_t      i;
    rs_arena_t    arena = { NULL };
    rs_result_t   res;
    rs_request_t  req;

    request(&req, &arena, "running shoes");
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_uint_eq(res.nhits, 3);
    ck_assert(!res.cold_start);
    ck_assert(hit_id(&res, 0)[0] == 's' && hit_id(&res, 1)[0] == 's');

    req.filter.in_stock = 1;
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_str_eq(hit_id(&res, 0), "s1");

    req.filter.in_stock = 0;
    req.filter.category = "shoes > running";
    req.filter.category_len = strlen(req.filter.category);
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_uint_eq(res.nhits, 2);

    req.filter.category = "Shoes > Run";
    req.filter.category_len = strlen(req.filter.category);
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_uint_eq(res.nhits, 0);

    req.filter.category_len = 0;
    req.filter.has_max_price = 1;
    req.filter.max_price = 100;
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_uint_eq(res.nhits, 3);

    for (i = 0; i < res.nhits; i++) {
        ck_assert_str_ne(hit_id(&res, i), "s2");
        ck_assert_str_ne(hit_id(&res, i), "s3");
    }

    req.filter.brand = "lodge";
    req.filter.brand_len = 5;
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert_uint_eq(res.nhits, 1);
    ck_assert_str_eq(hit_id(&res, 0), "k1");

    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_engine_cold_start_and_item)
{
    uint32_t      item;
    rs_arena_t    arena = { NULL };
    rs_result_t   res;
    rs_request_t  req;

    /* the most popular item (s2) is out of stock, and k2's is unknown */
    request(&req, &arena, "");
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert(res.cold_start);
    ck_assert_uint_eq(res.nhits, 3);
    ck_assert_str_eq(hit_id(&res, 0), "k1");
    ck_assert_str_eq(hit_id(&res, 1), "s1");
    ck_assert_str_eq(hit_id(&res, 2), "s3");

    request(&req, &arena, "?!");
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert(res.cold_start);

    ck_assert_int_eq(rs_store_find(rs_engine_store(engine), "s1", 2, &item),
                     0);
    ck_assert_int_ne(rs_store_find(rs_engine_store(engine), "s", 1, &item),
                     0);
    ck_assert_int_ne(rs_store_find(rs_engine_store(engine), "s1x", 3, &item),
                     0);

    ck_assert_int_eq(rs_store_find(rs_engine_store(engine), "s1", 2, &item),
                     0);
    request(&req, &arena, "");
    req.items = &item;
    req.nitems = 1;
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);
    ck_assert(!res.cold_start);
    ck_assert_str_ne(hit_id(&res, 0), "s1");
    ck_assert_str_eq(hit_id(&res, 0), "s2");

    rs_arena_reset(&arena);
}
END_TEST


START_TEST(test_engine_rejects_corrupt_index)
{
    char   path[128], err[512];
    FILE  *f;
    rs_engine_t  *e;

    snprintf(path, sizeof(path), "%s/%s", index_dir, RS_FILE_ITEMS);
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 200, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);

    ck_assert_int_ne(rs_engine_open(&e, index_dir, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "checksum") != NULL, "%s", err);

    ck_assert_int_ne(rs_engine_open(&e, "/nonexistent", err, sizeof(err)),
                     0);
    ck_assert_msg(strstr(err, "manifest.json") != NULL, "%s", err);
}
END_TEST


static int
collect(const char *buf, size_t size, void *data)
{
    strncat(data, buf, size);
    return 0;
}


START_TEST(test_render_json)
{
    char          out[8192];
    rs_arena_t    arena = { NULL };
    rs_render_t   r;
    rs_result_t   res;
    rs_request_t  req;

    request(&req, &arena, "skillet");
    req.k = 1;
    ck_assert_int_eq(rs_engine_recommend(engine, &req, &res), 0);

    memset(&r, 0, sizeof(r));
    r.query = "skillet";
    r.query_len = 7;
    r.result = &res;
    r.request = &req;
    r.explain = 1;
    out[0] = '\0';

    ck_assert_int_eq(rs_render_json(engine, &r, collect, out), 0);
    ck_assert_msg(strstr(out, "\"id\":\"k1\"") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"price\":35.0") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"count\":1") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"relevance\":") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"popularity\":{\"value\":") != NULL, "%s",
                  out);
    ck_assert_msg(strstr(out, "\"profile\":\"default\"") != NULL, "%s",
                  out);

    out[0] = '\0';
    ck_assert_int_eq(rs_render_error("invalid_k", "k \"x\"", collect, out),
                     0);
    ck_assert_str_eq(out, "{\"error\":{\"code\":\"invalid_k\","
                          "\"message\":\"k \\\"x\\\"\"}}");

    rs_arena_reset(&arena);
}
END_TEST


static Suite *
core_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("core");

    tc = tcase_create("embed");
    tcase_add_test(tc, test_embed_deterministic);
    tcase_add_test(tc, test_embed_case_and_punctuation);
    tcase_add_test(tc, test_embed_related_closer);
    tcase_add_test(tc, test_embed_nothing_to_embed);
    tcase_add_test(tc, test_embed_utf8_and_long_tokens);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_iso8601);
    suite_add_tcase(s, tc);

    tc = tcase_create("catalog");
    tcase_add_test(tc, test_parse_product_fields);
    tcase_add_test(tc, test_parse_product_rejects);
    tcase_add_test(tc, test_catalog_lines_and_duplicates);
    tcase_add_test(tc, test_catalog_json_array);
    suite_add_tcase(s, tc);

    tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, build_index, drop_index);
    tcase_add_test(tc, test_engine_search_and_filters);
    tcase_add_test(tc, test_engine_cold_start_and_item);
    tcase_add_test(tc, test_engine_rejects_corrupt_index);
    tcase_add_test(tc, test_render_json);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
