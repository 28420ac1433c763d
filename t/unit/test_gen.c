
/*
 * ngx_recsys: unit tests for the synthetic catalog generator.
 *
 * gcc -std=gnu99 -Wall -Wextra -O2 -Ingx_recsys_module/core \
 *     t/unit/test_gen.c ngx_recsys_module/core/rs_gen.c \
 *     $(pkg-config --cflags --libs check) -ljansson
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "rs_gen.h"


typedef struct {
    char                *data;
    size_t               len;
    size_t               cap;
    size_t               calls;
    size_t               fail_at;        /* 1-based call to fail, 0: never */
    int                  partial_line;   /* a chunk did not end in '\n' */
} rs_test_buf_t;


static int rs_test_write(void *data, const char *buf, size_t len);
static void rs_test_gen(rs_test_buf_t *b, uint64_t n, uint64_t seed);
static void rs_test_free(rs_test_buf_t *b);
static size_t rs_test_count_lines(const rs_test_buf_t *b);
static json_t *rs_test_parse(const char *line, size_t len);
static int rs_test_cmp_str(const void *a, const void *b);
static const char *rs_test_str(json_t *item, const char *key,
    size_t lineno);
static void rs_test_check_item(json_t *item, size_t lineno);
static int rs_test_count(void *data, const char *buf, size_t len);


static int
rs_test_write(void *data, const char *buf, size_t len)
{
    char           *p;
    size_t          cap;
    rs_test_buf_t  *b;

    b = data;
    b->calls++;

    if (b->fail_at != 0 && b->calls >= b->fail_at) {
        return -1;
    }

    if (len == 0 || buf[len - 1] != '\n') {
        b->partial_line = 1;
    }

    if (b->len + len > b->cap) {
        cap = b->cap ? b->cap : 65536;

        while (cap < b->len + len) {
            cap *= 2;
        }

        p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->cap = cap;
    }

    memcpy(b->data + b->len, buf, len);
    b->len += len;

    return 0;
}


static void
rs_test_gen(rs_test_buf_t *b, uint64_t n, uint64_t seed)
{
    memset(b, 0, sizeof(rs_test_buf_t));

    ck_assert_int_eq(rs_gen_catalog(n, seed, rs_test_write, b), 0);
    ck_assert_int_eq(b->partial_line, 0);
}


static void
rs_test_free(rs_test_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(rs_test_buf_t));
}


static size_t
rs_test_count_lines(const rs_test_buf_t *b)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < b->len; i++) {
        if (b->data[i] == '\n') {
            n++;
        }
    }

    return n;
}


static json_t *
rs_test_parse(const char *line, size_t len)
{
    json_t        *item;
    json_error_t   err;

    /* jansson also validates UTF-8 and rejects duplicate keys here */
    item = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);

    ck_assert_msg(item != NULL, "line does not parse: %s: %.*s", err.text,
                  (int) len, line);
    ck_assert_msg(json_is_object(item), "not an object: %.*s", (int) len,
                  line);

    return item;
}


static int
rs_test_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static const char *
rs_test_str(json_t *item, const char *key, size_t lineno)
{
    json_t  *v;

    v = json_object_get(item, key);

    ck_assert_msg(json_is_string(v), "line %zu: \"%s\" is not a string",
                  lineno, key);
    ck_assert_msg(json_string_length(v) > 0, "line %zu: \"%s\" is empty",
                  lineno, key);

    return json_string_value(v);
}


static void
rs_test_check_item(json_t *item, size_t lineno)
{
    size_t       i, j, extra;
    json_t      *v, *rating, *tags;
    const char  *id, *s, *key;
    char         expect[256];

    static const char *const  known[] = {
        "id", "title", "description", "brand", "category", "price",
        "currency", "stock", "rating", "rating_count", "popularity",
        "margin", "created_at", "url", "image", "tags"
    };

    id = rs_test_str(item, "id", lineno);
    snprintf(expect, sizeof(expect), "SKU-%06zu", lineno);
    ck_assert_str_eq(id, expect);

    rs_test_str(item, "title", lineno);

    s = rs_test_str(item, "description", lineno);
    ck_assert_msg(s[strlen(s) - 1] == '.', "line %zu: description \"%s\"",
                  lineno, s);

    rs_test_str(item, "brand", lineno);

    s = rs_test_str(item, "category", lineno);
    ck_assert_msg(strstr(s, " > ") != NULL, "line %zu: category \"%s\"",
                  lineno, s);

    v = json_object_get(item, "price");
    ck_assert_msg(json_is_real(v), "line %zu: price not a real", lineno);
    ck_assert(json_real_value(v) > 0.0 && json_real_value(v) < 10000.0);

    ck_assert_str_eq(rs_test_str(item, "currency", lineno), "USD");

    v = json_object_get(item, "stock");
    if (v != NULL) {
        ck_assert_msg(json_is_integer(v), "line %zu: stock", lineno);
        ck_assert(json_integer_value(v) >= 0);
    }

    v = json_object_get(item, "rating_count");
    ck_assert_msg(json_is_integer(v), "line %zu: rating_count", lineno);
    ck_assert(json_integer_value(v) >= 0);

    /* no reviews, no rating: 0.0 would read as "terrible" */
    rating = json_object_get(item, "rating");

    if (json_integer_value(v) == 0) {
        ck_assert_msg(rating == NULL, "line %zu: rating without reviews",
                      lineno);

    } else {
        ck_assert_msg(json_is_real(rating), "line %zu: rating", lineno);
        ck_assert(json_real_value(rating) >= 1.0
                  && json_real_value(rating) <= 5.0);
    }

    v = json_object_get(item, "popularity");
    ck_assert_msg(json_is_integer(v), "line %zu: popularity", lineno);
    ck_assert(json_integer_value(v) >= 0);

    v = json_object_get(item, "margin");
    ck_assert_msg(json_is_real(v), "line %zu: margin", lineno);
    ck_assert(json_real_value(v) >= 0.05 - 1e-9
              && json_real_value(v) <= 0.60 + 1e-9);

    s = rs_test_str(item, "created_at", lineno);
    ck_assert_uint_eq(strlen(s), 20);

    for (i = 0; i < 20; i++) {
        if (i == 4 || i == 7) {
            ck_assert(s[i] == '-');

        } else if (i == 10) {
            ck_assert(s[i] == 'T');

        } else if (i == 13 || i == 16) {
            ck_assert(s[i] == ':');

        } else if (i == 19) {
            ck_assert(s[i] == 'Z');

        } else {
            ck_assert(s[i] >= '0' && s[i] <= '9');
        }
    }

    /* fixed-width UTC timestamps compare correctly as strings */
    ck_assert(strcmp(s, RS_GEN_REF_TIME_STR) < 0);
    ck_assert(strcmp(s, "2022-06-01T00:00:00Z") > 0);

    snprintf(expect, sizeof(expect), "%s%s", RS_GEN_URL_PREFIX, id);
    ck_assert_str_eq(rs_test_str(item, "url", lineno), expect);

    snprintf(expect, sizeof(expect), "%s%s.jpg", RS_GEN_IMAGE_PREFIX, id);
    ck_assert_str_eq(rs_test_str(item, "image", lineno), expect);

    tags = json_object_get(item, "tags");
    ck_assert_msg(json_is_array(tags), "line %zu: tags", lineno);
    ck_assert(json_array_size(tags) >= 1 && json_array_size(tags) <= 4);

    for (i = 0; i < json_array_size(tags); i++) {
        v = json_array_get(tags, i);
        ck_assert(json_is_string(v) && json_string_length(v) > 0);

        for (j = 0; j < i; j++) {
            ck_assert_str_ne(json_string_value(v),
                             json_string_value(json_array_get(tags, j)));
        }
    }

    /* every category adds pass-through attributes */
    extra = 0;

    json_object_foreach(item, key, v) {
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (strcmp(key, known[i]) == 0) {
                break;
            }
        }

        if (i == sizeof(known) / sizeof(known[0])) {
            ck_assert_msg(json_is_string(v) || json_is_number(v),
                          "line %zu: attribute \"%s\"", lineno, key);
            extra++;
        }
    }

    ck_assert_msg(extra >= 1 && extra <= 2, "line %zu: %zu attributes",
                  lineno, extra);
}


START_TEST(test_deterministic)
{
    rs_test_buf_t  a, b, c;

    rs_test_gen(&a, 2000, 42);
    rs_test_gen(&b, 2000, 42);
    rs_test_gen(&c, 2000, 43);

    ck_assert_uint_eq(a.len, b.len);
    ck_assert(memcmp(a.data, b.data, a.len) == 0);

    ck_assert(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);

    rs_test_free(&a);
    rs_test_free(&b);
    rs_test_free(&c);
}
END_TEST


START_TEST(test_prefix)
{
    rs_test_buf_t  small, big;

    /* items depend on (seed, index) only */
    rs_test_gen(&small, 100, 7);
    rs_test_gen(&big, 1000, 7);

    ck_assert(small.len < big.len);
    ck_assert(memcmp(small.data, big.data, small.len) == 0);

    rs_test_free(&small);
    rs_test_free(&big);
}
END_TEST


START_TEST(test_seed_zero)
{
    rs_test_buf_t  b;

    rs_test_gen(&b, 10, 0);
    ck_assert_uint_eq(rs_test_count_lines(&b), 10);
    rs_test_free(&b);

    rs_test_gen(&b, 10, UINT64_MAX);
    ck_assert_uint_eq(rs_test_count_lines(&b), 10);
    rs_test_free(&b);
}
END_TEST


START_TEST(test_empty)
{
    rs_test_buf_t  b;

    rs_test_gen(&b, 0, 42);

    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.calls, 0);

    ck_assert_int_eq(rs_gen_catalog(10, 42, NULL, NULL), -1);
}
END_TEST


START_TEST(test_line_count)
{
    size_t         i;
    rs_test_buf_t  b;

    rs_test_gen(&b, 12345, 1);

    ck_assert_uint_eq(rs_test_count_lines(&b), 12345);
    ck_assert(b.data[b.len - 1] == '\n');

    /* several lines per chunk, not one write() per item */
    ck_assert(b.calls > 1 && b.calls < 12345 / 10);

    for (i = 1; i < b.len; i++) {
        ck_assert(!(b.data[i] == '\n' && b.data[i - 1] == '\n'));
    }

    rs_test_free(&b);
}
END_TEST


START_TEST(test_write_error)
{
    rs_test_buf_t  b;

    memset(&b, 0, sizeof(rs_test_buf_t));
    b.fail_at = 2;

    ck_assert_int_eq(rs_gen_catalog(10000, 42, rs_test_write, &b), -1);

    /* generation stops at the first failed write */
    ck_assert_uint_eq(b.calls, 2);

    rs_test_free(&b);
}
END_TEST


START_TEST(test_schema)
{
    char           *line, *nl;
    size_t          lineno, quoted, utf8;
    json_t         *item;
    const char     *title, *desc;
    rs_test_buf_t   b;

    rs_test_gen(&b, 5000, 2024);

    quoted = 0;
    utf8 = 0;
    lineno = 0;

    for (line = b.data; line < b.data + b.len; line = nl + 1) {
        nl = memchr(line, '\n', b.data + b.len - line);
        ck_assert(nl != NULL);

        lineno++;
        item = rs_test_parse(line, nl - line);
        rs_test_check_item(item, lineno);

        title = json_string_value(json_object_get(item, "title"));
        desc = json_string_value(json_object_get(item, "description"));

        if (strchr(title, '"') != NULL) {
            quoted++;
        }

        if (strstr(title, "\xc3") != NULL || strstr(desc, "\xc2\xb0")) {
            utf8++;
        }

        json_decref(item);
    }

    ck_assert_uint_eq(lineno, 5000);

    /* the banks exercise escaping and non-ASCII pass-through */
    ck_assert_uint_gt(quoted, 0);
    ck_assert_uint_gt(utf8, 0);

    rs_test_free(&b);
}
END_TEST


START_TEST(test_unique_ids)
{
    char           *line, *nl, **ids;
    size_t          i, n;
    json_t         *item;
    rs_test_buf_t   b;

    rs_test_gen(&b, 20000, 99);

    ids = calloc(20000, sizeof(char *));
    ck_assert(ids != NULL);

    n = 0;

    for (line = b.data; line < b.data + b.len; line = nl + 1) {
        nl = memchr(line, '\n', b.data + b.len - line);
        ck_assert(nl != NULL && n < 20000);

        item = rs_test_parse(line, nl - line);
        ids[n] = strdup(json_string_value(json_object_get(item, "id")));
        ck_assert(ids[n] != NULL);
        n++;
        json_decref(item);
    }

    ck_assert_uint_eq(n, 20000);

    qsort(ids, n, sizeof(char *), rs_test_cmp_str);

    for (i = 1; i < n; i++) {
        ck_assert_str_ne(ids[i - 1], ids[i]);
    }

    for (i = 0; i < n; i++) {
        free(ids[i]);
    }

    free(ids);
    rs_test_free(&b);
}
END_TEST


START_TEST(test_distribution)
{
    char           *line, *nl;
    double          price;
    size_t          n, oos, unknown, running, cheap, norating;
    json_t         *item, *stock;
    const char     *cat;
    rs_test_buf_t   b;

    rs_test_gen(&b, 20000, 5);

    n = 0;
    oos = 0;
    unknown = 0;
    running = 0;
    cheap = 0;
    norating = 0;

    for (line = b.data; line < b.data + b.len; line = nl + 1) {
        nl = memchr(line, '\n', b.data + b.len - line);
        item = rs_test_parse(line, nl - line);
        n++;

        stock = json_object_get(item, "stock");

        if (stock == NULL) {
            unknown++;

        } else if (json_integer_value(stock) == 0) {
            oos++;
        }

        if (json_object_get(item, "rating") == NULL) {
            norating++;
        }

        cat = json_string_value(json_object_get(item, "category"));
        price = json_real_value(json_object_get(item, "price"));

        if (strcmp(cat, "Shoes > Running") == 0) {
            running++;

            if (price < 100.0) {
                cheap++;
            }
        }

        json_decref(item);
    }

    ck_assert_uint_eq(n, 20000);

    /* ~10% out of stock, ~5% unknown stock */
    ck_assert_msg(oos > n * 8 / 100 && oos < n * 12 / 100,
                  "out of stock: %zu of %zu", oos, n);
    ck_assert_msg(unknown > n * 35 / 1000 && unknown < n * 65 / 1000,
                  "unknown stock: %zu of %zu", unknown, n);

    /* the demo query "running shoes under 100" needs many candidates */
    ck_assert_msg(running > n * 8 / 100, "running shoes: %zu", running);
    ck_assert_msg(cheap > running / 3, "cheap running shoes: %zu of %zu",
                  cheap, running);

    /* the long tail has unreviewed items, but not most of them */
    ck_assert(norating > n / 20 && norating < n / 2);

    rs_test_free(&b);
}
END_TEST


static int
rs_test_count(void *data, const char *buf, size_t len)
{
    (void) buf;

    *(size_t *) data += len;

    return 0;
}


START_TEST(test_speed)
{
    size_t   bytes;
    double   secs;
    clock_t  start;

    bytes = 0;
    start = clock();

    ck_assert_int_eq(rs_gen_catalog(100000, 42, rs_test_count, &bytes), 0);

    secs = (double) (clock() - start) / CLOCKS_PER_SEC;

    /* generous: ~0.2 s on a laptop, leave room for -O0 and slow CI */
    ck_assert_msg(secs < 3.0, "100000 items took %.2f s", secs);
    ck_assert_uint_gt(bytes, 100000 * 200);
}
END_TEST


static Suite *
rs_test_suite(void)
{
    TCase  *tc;
    Suite  *s;

    s = suite_create("rs_gen");
    tc = tcase_create("catalog");

    tcase_set_timeout(tc, 60);

    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_seed_zero);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_line_count);
    tcase_add_test(tc, test_write_error);
    tcase_add_test(tc, test_schema);
    tcase_add_test(tc, test_unique_ids);
    tcase_add_test(tc, test_distribution);
    tcase_add_test(tc, test_speed);

    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(rs_test_suite());

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
