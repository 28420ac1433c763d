/*
 * Copyright (C) ngx_recsys authors
 *
 * Unit tests for query understanding: the vocabulary build, its file
 * format and validation, and a table of shopper phrasings, a good part of
 * which must not be understood as anything.
 */


#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rs_catalog.h"
#include "rs_understand.h"
#include "rs_util.h"
#include "rs_vocab.h"


#define NONE  -1.0


typedef struct {
    const char  *brand;
    const char  *category;
    double       price;
} product_t;


typedef struct {
    const char  *query;
    double       min;               /* NONE: no bound */
    double       max;
    const char  *brand;
    const char  *category;
    const char  *exclude_brands;    /* "|"-joined */
    const char  *exclude_terms;
    const char  *hint;              /* "cheap", "premium" */
    const char  *text;              /* NULL: the query, untouched */
} uq_case_t;


/*
 * Percentiles of this catalogue, interpolated between ranks:
 *   Shoes > Running 60 90 120             p33 79.80   p67 100.20
 *   Electronics > Computers > Laptops     p33 664     p67 1038
 *   Home > Kitchen > Cookware 45 150      p33 79.65   p67 115.35
 *   Clothing > Men > T-Shirts 15 25       p33 18.30   p67 21.70
 *   everything                            p33 78.90   p67 143.70
 */
static const product_t  products[] = {
    { "Acme", "Shoes > Running", 60 },
    { "Acme", "Shoes > Running", 90 },
    { "Stridewell", "Shoes > Running", 120 },
    { "Stridewell", "Shoes > Trail Running", 140 },
    { "Under Armour", "Shoes > Trail Running", 100 },
    { "Under Armour", "Clothing > Men > T-Shirts", 25 },
    { "ACME", "Clothing > Men > T-Shirts", 15 },
    { "Café Bellini", "Home > Kitchen > Cookware", 45 },
    { "Café Bellini", "Home > Kitchen > Cookware", 150 },
    { "Acme", "Electronics > Computers > Laptops", 800 },
    { "Stridewell", "Electronics > Computers > Laptops", 1500 },
    { "Acme", "Electronics > Computers > Laptops", 400 },
};


static const uq_case_t  cases[] = {

    /* prices */
    { "under $100", NONE, 100, NULL, NULL, NULL, NULL, NULL, "" },
    { "under 100", NONE, 100, NULL, NULL, NULL, NULL, NULL, "" },
    { "less than 50 dollars", NONE, 50, NULL, NULL, NULL, NULL, NULL, "" },
    { "below 80", NONE, 80, NULL, NULL, NULL, NULL, NULL, "" },
    { "cheaper than 60", NONE, 60, NULL, NULL, NULL, NULL, NULL, "" },
    { "max 40", NONE, 40, NULL, NULL, NULL, NULL, NULL, "" },
    { "up to 200", NONE, 200, NULL, NULL, NULL, NULL, NULL, "" },
    { "at most 30", NONE, 30, NULL, NULL, NULL, NULL, NULL, "" },
    { "no more than 75", NONE, 75, NULL, NULL, NULL, NULL, NULL, "" },
    { "$50-$100", 50, 100, NULL, NULL, NULL, NULL, NULL, "" },
    { "50 - 100 dollars", 50, 100, NULL, NULL, NULL, NULL, NULL, "" },
    { "50 to 100", 50, 100, NULL, NULL, NULL, NULL, NULL, "" },
    { "between 20 and 40", 20, 40, NULL, NULL, NULL, NULL, NULL, "" },
    { "from 20 to 40", 20, 40, NULL, NULL, NULL, NULL, NULL, "" },
    { "over 200", 200, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "above 150", 150, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "more than 500", 500, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "at least 30", 30, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "starting at 20", 20, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "100+", 100, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "around $50", 40, 60, NULL, NULL, NULL, NULL, NULL, "" },
    { "about 50", 40, 60, NULL, NULL, NULL, NULL, NULL, "" },
    { "gift under \xe2\x82\xac" "25", NONE, 25, NULL, NULL, NULL, NULL,
      NULL, "gift" },
    { "mug \xc2\xa3" "12.50", NONE, 12.5, NULL, NULL, NULL, NULL, NULL,
      "mug" },
    { "desk 1,299.99 usd", NONE, 1299.99, NULL, NULL, NULL, NULL, NULL,
      "desk" },
    { "tv under 2k", NONE, 2000, NULL, NULL, NULL, NULL, NULL, "tv" },
    { "shoes for under 30 bucks", NONE, 30, NULL, "Shoes", NULL, NULL, NULL,
      "shoes" },
    { "50 or less", NONE, 50, NULL, NULL, NULL, NULL, NULL, "" },
    { "20 and up", 20, NONE, NULL, NULL, NULL, NULL, NULL, "" },
    { "<= 30", NONE, 30, NULL, NULL, NULL, NULL, NULL, "" },
    { "over 50 under 20", 20, 50, NULL, NULL, NULL, NULL, NULL, "" },
    { "kids shoes under $30", NONE, 30, NULL, "Shoes", NULL, NULL, NULL,
      "kids shoes" },
    { "games for kids under 30", NONE, 30, NULL, NULL, NULL, NULL, NULL,
      "games for kids" },
    { "shoes, under $50, black", NONE, 50, NULL, "Shoes", NULL, NULL, NULL,
      "shoes, black" },

    /* "cheap" and "premium" against the category, else the catalogue */
    { "cheap running shoes", NONE, 79.8, NULL, "Shoes > Running", NULL,
      NULL, "cheap", "running shoes" },
    { "premium laptops", 1038, NONE, NULL,
      "Electronics > Computers > Laptops", NULL, NULL, "premium",
      "laptops" },
    { "high-end cookware", 115.35, NONE, NULL, "Home > Kitchen > Cookware",
      NULL, NULL, "premium", "cookware" },
    { "affordable t-shirts", NONE, 18.3, NULL, "Clothing > Men > T-Shirts",
      NULL, NULL, "cheap", "t-shirts" },
    { "cheap gifts", NONE, 78.9, NULL, NULL, NULL, NULL, "cheap", "gifts" },
    { "luxury watch", 143.7, NONE, NULL, NULL, NULL, NULL, "premium",
      "watch" },
    { "not expensive laptop", NONE, 664, NULL,
      "Electronics > Computers > Laptops", NULL, NULL, "cheap", "laptop" },
    { "budget laptop under 500", NONE, 500, NULL,
      "Electronics > Computers > Laptops", NULL, NULL, "cheap", "laptop" },

    /* brands and categories */
    { "under armour", NONE, NONE, "Under Armour", NULL, NULL, NULL, NULL,
      "" },
    { "Under Armour running shoes under $80", NONE, 80, "Under Armour",
      "Shoes > Running", NULL, NULL, NULL, "running shoes" },
    { "acme running shoe", NONE, NONE, "Acme", "Shoes > Running", NULL,
      NULL, NULL, "running shoe" },
    { "men's running shoes", NONE, NONE, NULL, "Shoes > Running", NULL,
      NULL, NULL, NULL },
    { "trail running shoes", NONE, NONE, NULL, "Shoes > Trail Running",
      NULL, NULL, NULL, NULL },
    { "men's t-shirt", NONE, NONE, NULL, "Clothing > Men > T-Shirts", NULL,
      NULL, NULL, NULL },
    { "cafe bellini espresso", NONE, NONE, "Caf\xc3\xa9 Bellini", NULL,
      NULL, NULL, NULL, "espresso" },
    { "CAF\xc3\x89 BELLINI pan", NONE, NONE, "Caf\xc3\xa9 Bellini", NULL,
      NULL, NULL, NULL, "pan" },
    { "home kitchen cookware", NONE, NONE, NULL, "Home > Kitchen > Cookware",
      NULL, NULL, NULL, NULL },
    { "computers", NONE, NONE, NULL, "Electronics > Computers", NULL, NULL,
      NULL, NULL },
    { "acme or stridewell running shoes", NONE, NONE, NULL,
      "Shoes > Running", NULL, NULL, NULL, NULL },

    /* exclusions */
    { "running shoes without acme", NONE, NONE, NULL, "Shoes > Running",
      "Acme", NULL, NULL, "running shoes" },
    { "t-shirt except under armour", NONE, NONE, NULL,
      "Clothing > Men > T-Shirts", "Under Armour", NULL, NULL, "t-shirt" },
    { "no acme no stridewell", NONE, NONE, NULL, NULL, "Acme|Stridewell",
      NULL, NULL, "" },
    { "running shoes no mesh", NONE, NONE, NULL, "Shoes > Running", NULL,
      "mesh", NULL, "running shoes" },
    { "boots without laces for kids", NONE, NONE, NULL, NULL, NULL, "laces",
      NULL, "boots for kids" },

    /* nothing to understand */
    { "100% cotton", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "iphone 15", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "size 10", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "2 pack", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "4k monitor", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "32gb ram", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "1080p", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "usb 3.0", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "model 3", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "over ear headphones", NONE, NONE, NULL, NULL, NULL, NULL, NULL,
      NULL },
    { "under desk treadmill", NONE, NONE, NULL, NULL, NULL, NULL, NULL,
      NULL },
    { "12 inch skillet", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "pack of 3", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "5 star", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "42", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "kids under 5", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "iphone 15+", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "2-4 people tent", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "ages 3-5", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "under 10 inch pan", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "over 3 years", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "no show socks", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "non-stick pan", NONE, NONE, NULL, NULL, NULL, NULL, NULL, NULL },
    { "acmeshoes stridewellness", NONE, NONE, NULL, NULL, NULL, NULL, NULL,
      NULL },
};


static rs_vocab_t  *vocab;


static void
build_vocab(void)
{
    char          err[256];
    size_t        i, n;
    rs_catalog_t  cat;

    n = sizeof(products) / sizeof(products[0]);
    memset(&cat, 0, sizeof(rs_catalog_t));
    cat.items = calloc(n, sizeof(rs_product_t));
    ck_assert_ptr_nonnull(cat.items);

    for (i = 0; i < n; i++) {
        cat.items[i].brand = strdup(products[i].brand);
        cat.items[i].category = strdup(products[i].category);
        cat.items[i].price = products[i].price;
        cat.items[i].flags = RS_HAS_PRICE;
    }

    cat.nitems = n;
    cat.nalloc = n;

    ck_assert_msg(rs_vocab_build(&vocab, &cat, err, sizeof(err)) == 0,
                  "%s", err);

    for (i = 0; i < n; i++) {
        free(cat.items[i].brand);
        free(cat.items[i].category);
    }

    free(cat.items);
}


static void
drop_vocab(void)
{
    rs_vocab_free(vocab);
    vocab = NULL;
}


static int
same_bound(double got, unsigned has, double want)
{
    if (want == NONE) {
        return !has;
    }

    return has && fabs(got - want) < 0.005;
}


static int
same_str(const char *got, size_t len, const char *want)
{
    if (want == NULL) {
        return len == 0;
    }

    return len == strlen(want) && memcmp(got, want, len) == 0;
}


/* want: "|"-joined, in order */
static int
same_list(const char *const *got, const size_t *lens, unsigned n,
    const char *want)
{
    size_t       len;
    unsigned     i;
    const char  *p, *e;

    if (want == NULL) {
        return n == 0;
    }

    p = want;

    for (i = 0; i < n; i++) {
        e = strchr(p, '|');
        len = e ? (size_t) (e - p) : strlen(p);

        if (lens[i] != len || memcmp(got[i], p, len) != 0) {
            return 0;
        }

        if (e == NULL) {
            return i + 1 == n;
        }

        p = e + 1;
    }

    return 0;
}


static void
check_case(const rs_vocab_t *v, const uq_case_t *c)
{
    char             buf[512];
    const char      *want, *hint;
    rs_understood_t  u;

    ck_assert_int_eq(rs_understand(v, c->query, strlen(c->query), buf, &u),
                     0);

    want = c->text ? c->text : c->query;
    hint = u.cheap ? "cheap" : (u.premium ? "premium" : NULL);

    ck_assert_msg(same_bound(u.min_price, u.has_min_price, c->min),
                  "\"%s\": min_price %s%g", c->query,
                  u.has_min_price ? "" : "(none) ", u.min_price);
    ck_assert_msg(same_bound(u.max_price, u.has_max_price, c->max),
                  "\"%s\": max_price %s%g", c->query,
                  u.has_max_price ? "" : "(none) ", u.max_price);
    ck_assert_msg(same_str(u.brand, u.brand_len, c->brand),
                  "\"%s\": brand \"%.*s\"", c->query, (int) u.brand_len,
                  u.brand ? u.brand : "");
    ck_assert_msg(same_str(u.category, u.category_len, c->category),
                  "\"%s\": category \"%.*s\"", c->query,
                  (int) u.category_len, u.category ? u.category : "");
    ck_assert_msg(same_list(u.exclude_brands, u.exclude_brand_lens,
                            u.nexclude_brands, c->exclude_brands),
                  "\"%s\": %u excluded brands", c->query, u.nexclude_brands);
    ck_assert_msg(same_list(u.exclude_terms, u.exclude_term_lens,
                            u.nexclude_terms, c->exclude_terms),
                  "\"%s\": %u excluded terms", c->query, u.nexclude_terms);
    ck_assert_msg((hint == NULL && c->hint == NULL)
                  || (hint && c->hint && strcmp(hint, c->hint) == 0),
                  "\"%s\": hint %s", c->query, hint ? hint : "(none)");
    ck_assert_msg(u.text == buf && u.text_len == strlen(want)
                  && memcmp(u.text, want, u.text_len) == 0
                  && u.text[u.text_len] == '\0',
                  "\"%s\": text \"%.*s\", expected \"%s\"", c->query,
                  (int) u.text_len, u.text, want);
}


START_TEST(test_phrasings)
{
    check_case(vocab, &cases[_i]);
}
END_TEST


START_TEST(test_table_shape)
{
    size_t  i, nothing;

    nothing = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].min == NONE && cases[i].max == NONE
            && cases[i].brand == NULL && cases[i].category == NULL
            && cases[i].exclude_brands == NULL
            && cases[i].exclude_terms == NULL && cases[i].hint == NULL
            && cases[i].text == NULL)
        {
            nothing++;
        }
    }

    ck_assert_uint_ge(sizeof(cases) / sizeof(cases[0]), 40);
    ck_assert_uint_ge(nothing, 15);
}
END_TEST


START_TEST(test_vocab_contents)
{
    uint32_t                 s;
    const rs_vocab_node_t   *nd;
    const rs_vocab_brand_t  *br;

    /* "Acme" and "ACME" are one brand, spelt as first seen */
    ck_assert_uint_eq(vocab->nbrands, 4);
    ck_assert_uint_eq(vocab->nnodes, 12);

    s = rs_vocab_brand(vocab, "acme", 4);
    ck_assert_uint_ne(s, 0);
    br = &vocab->brands[s - 1];
    ck_assert_str_eq(rs_vocab_str(vocab, br->name), "Acme");
    ck_assert_uint_eq(br->items, 5);

    s = rs_vocab_brand(vocab, "cafe bellini", 12);
    ck_assert_uint_ne(s, 0);
    ck_assert_str_eq(rs_vocab_str(vocab, vocab->brands[s - 1].name),
                     "Caf\xc3\xa9 Bellini");

    ck_assert_uint_eq(rs_vocab_brand(vocab, "under", 5), 0);

    ck_assert_uint_eq(vocab->nnames, 12);

    s = rs_vocab_level(vocab, "t shirt", 7);
    ck_assert_uint_ne(s, 0);
    nd = &vocab->nodes[vocab->names[s - 1].node];
    ck_assert_str_eq(rs_vocab_str(vocab, nd->path),
                     "Clothing > Men > T-Shirts");
    ck_assert_uint_eq(nd->depth, 3);
    ck_assert_uint_eq(nd->items, 2);

    s = rs_vocab_level(vocab, "shoe", 4);
    ck_assert_uint_ne(s, 0);
    nd = &vocab->nodes[vocab->names[s - 1].node];
    ck_assert_str_eq(rs_vocab_str(vocab, nd->path), "Shoes");
    ck_assert_uint_eq(nd->items, 5);
    ck_assert_uint_eq(nd->nprices, 5);
    ck_assert(fabs(nd->p33 - 93.2) < 0.005);

    ck_assert(fabs(vocab->header->p33 - 78.9) < 0.005);
    ck_assert(fabs(vocab->header->p67 - 143.7) < 0.005);
}
END_TEST


START_TEST(test_tokenizer)
{
    char         norm[256], stem[256];
    const char  *q;
    rs_token_t   tok[16];
    rs_tokens_t  t;

    t.tok = tok;
    t.max = 16;
    t.norm = norm;
    t.stem = stem;
    t.size = sizeof(norm);

    q = "$1,299.99 Men's T-Shirts 2k 32GB";
    rs_tokenize(&t, q, strlen(q));

    ck_assert_uint_eq(t.n, 8);
    ck_assert_uint_eq(tok[0].kind, RS_TOK_CUR);
    ck_assert_uint_eq(tok[1].kind, RS_TOK_NUM);
    ck_assert(fabs(tok[1].value - 1299.99) < 1e-9);
    ck_assert_uint_eq(tok[3].kind, RS_TOK_WORD);
    ck_assert_uint_eq(tok[4].kind, RS_TOK_DASH);
    ck_assert_uint_eq(tok[6].kind, RS_TOK_NUM);
    ck_assert(tok[6].flags & RS_TOK_KILO);
    ck_assert_uint_eq(tok[7].kind, RS_TOK_WORD);
    ck_assert(tok[7].flags & RS_TOK_DIGIT);
    ck_assert_uint_eq(t.norm_len, strlen("1,299.99 men t shirts 2k 32gb"));
    ck_assert(memcmp(norm, "1,299.99 men t shirts 2k 32gb", t.norm_len)
              == 0);
    ck_assert(memcmp(stem, "1,299.99 men t shirt 2k 32gb", t.stem_len)
              == 0);

    /* the table fills up: the rest is left for the caller */
    t.max = 2;
    rs_tokenize(&t, "a b c", 5);
    ck_assert_uint_eq(t.n, 2);
    ck_assert_uint_eq(t.done, 3);

    /* singular forms meet */
    t.max = 16;
    q = "battery batteries boxes dresses glass knife knives shelves";
    rs_tokenize(&t, q, strlen(q));
    ck_assert(memcmp(stem, "batterie batterie box dress glass knive knive "
                           "shelve", t.stem_len)
              == 0);
}
END_TEST


START_TEST(test_no_vocab)
{
    char             buf[64];
    const char      *q;
    rs_understood_t  u;

    q = "cheap shoes under $50 without laces";
    rs_understand(NULL, q, strlen(q), buf, &u);

    ck_assert(u.has_max_price && u.max_price == 50);
    ck_assert(u.cheap);
    ck_assert_uint_eq(u.category_len, 0);
    ck_assert_uint_eq(u.nexclude_terms, 1);
    ck_assert_str_eq(buf, "shoes");

    rs_understand(NULL, NULL, 0, buf, &u);
    ck_assert_uint_eq(u.text_len, 0);
    ck_assert_str_eq(buf, "");
}
END_TEST


START_TEST(test_json)
{
    char            *s, buf[128];
    json_t          *o;
    const char      *q;
    rs_understood_t  u;

    q = "cheap acme running shoes without stridewell no mesh";
    rs_understand(vocab, q, strlen(q), buf, &u);

    o = json_object();
    ck_assert_int_eq(rs_understood_to_json(&u, o), 0);
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS
                      | JSON_REAL_PRECISION(10));
    ck_assert_str_eq(s, "{\"brand\":\"Acme\",\"category\":\"Shoes > Running\","
                        "\"exclude_brands\":[\"Stridewell\"],"
                        "\"exclude_terms\":[\"mesh\"],"
                        "\"max_price\":79.8,"
                        "\"price_hint\":\"cheap\"}");
    free(s);
    json_decref(o);

    q = "under 100 or more than 20";
    rs_understand(vocab, q, strlen(q), buf, &u);

    o = json_object();
    ck_assert_int_eq(rs_understood_to_json(&u, o), 0);
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"max_price\":100,\"min_price\":20}");
    free(s);
    json_decref(o);

    /* nothing understood, nothing added */
    rs_understand(vocab, "socks", 5, buf, &u);
    o = json_object();
    ck_assert_int_eq(rs_understood_to_json(&u, o), 0);
    ck_assert_uint_eq(json_object_size(o), 0);
    json_decref(o);
}
END_TEST


START_TEST(test_long_and_odd_input)
{
    char             q[4096], buf[4096];
    size_t           i, n, len;
    uint64_t         x;
    rs_understood_t  u;

    /* past the token table the text goes through, spaces collapsed */
    n = 0;

    for (i = 0; i < 300; i++) {
        n += snprintf(q + n, sizeof(q) - n, "w%zu  ", i);
    }

    n += snprintf(q + n, sizeof(q) - n, "under $5");

    rs_understand(vocab, q, n, buf, &u);
    ck_assert_uint_le(u.text_len, n);
    ck_assert_uint_eq(strlen(buf), u.text_len);
    ck_assert_ptr_nonnull(strstr(buf, "w299 under $5"));
    ck_assert(!u.has_max_price);

    /* anything at all: bounded, terminated, no NUL inside */
    x = 88172645463325252ULL;

    for (i = 0; i < 20000; i++) {
        len = i % 64;

        for (n = 0; n < len; n++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            q[n] = "$ 1-k,.+%<>~\x00\xc2\xa3\xe2\x80\x99\x82\xac"
                   "abcunderover5mesh'"[x % 36];
        }

        rs_understand(vocab, q, len, buf, &u);
        ck_assert_uint_le(u.text_len, len);
        ck_assert_uint_eq(strlen(buf), u.text_len);
    }
}
END_TEST


static void
write_file(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}


static void
expect_load_error(const char *path, const char *what)
{
    char         err[256];
    rs_vocab_t  *v;

    err[0] = '\0';
    v = (rs_vocab_t *) 1;

    ck_assert_int_eq(rs_vocab_load(&v, path, err, sizeof(err)), -1);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(err, what) != NULL, "error \"%s\", expected \"%s\"",
                  err, what);
}


START_TEST(test_vocab_roundtrip)
{
    int                  fd;
    char                 path[] = "/tmp/rs_vocab_XXXXXX", err[256];
    size_t               i;
    rs_vocab_t          *v;
    unsigned char       *blob;
    rs_vocab_brand_t    *br;
    rs_vocab_node_t     *nd;
    rs_vocab_name_t     *nm;
    rs_vocab_header_t   *h;

    fd = mkstemp(path);
    ck_assert_int_ne(fd, -1);
    close(fd);

    ck_assert_msg(rs_vocab_write(vocab, path, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_msg(rs_vocab_load(&v, path, err, sizeof(err)) == 0, "%s", err);

    ck_assert_uint_eq(v->blob_len, vocab->blob_len);
    ck_assert(memcmp(v->blob, vocab->blob, v->blob_len) == 0);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_case(v, &cases[i]);
    }

    rs_vocab_free(v);

    blob = malloc(vocab->blob_len);
    ck_assert_ptr_nonnull(blob);

    /* truncated anywhere */
    write_file(path, vocab->blob, 0);
    expect_load_error(path, "not a vocabulary file");
    write_file(path, vocab->blob, 10);
    expect_load_error(path, "not a vocabulary file");
    write_file(path, vocab->blob, sizeof(rs_vocab_header_t));
    expect_load_error(path, "truncated or corrupt");
    write_file(path, vocab->blob, vocab->blob_len / 2);
    expect_load_error(path, "truncated or corrupt");
    write_file(path, vocab->blob, vocab->blob_len - 1);
    expect_load_error(path, "truncated or corrupt");

    /* a flipped byte */
    memcpy(blob, vocab->blob, vocab->blob_len);
    blob[vocab->blob_len - 3] ^= 0x40;
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "checksum");

    memcpy(blob, vocab->blob, vocab->blob_len);
    blob[0] = 'X';
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "not a vocabulary file");

    memcpy(blob, vocab->blob, vocab->blob_len);
    h = (rs_vocab_header_t *) blob;
    h->version = 99;
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "version 99");

    /* tampered with a valid checksum: the structure is still checked */
    memcpy(blob, vocab->blob, vocab->blob_len);
    br = (rs_vocab_brand_t *) (blob + sizeof(rs_vocab_header_t));
    br[1].key = 0x7fffffff;
    h->checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                            vocab->blob_len - sizeof(rs_vocab_header_t), 0);
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "brand 1 is corrupt");

    memcpy(blob, vocab->blob, vocab->blob_len);
    nd = (rs_vocab_node_t *) (blob + sizeof(rs_vocab_header_t)
                              + vocab->nbrands * sizeof(rs_vocab_brand_t));
    nd[0].parent = 1;
    h->checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                            vocab->blob_len - sizeof(rs_vocab_header_t), 0);
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "category 0 is corrupt");

    memcpy(blob, vocab->blob, vocab->blob_len);
    nd[1].depth = 3;
    h->checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                            vocab->blob_len - sizeof(rs_vocab_header_t), 0);
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "category 1 is corrupt");

    memcpy(blob, vocab->blob, vocab->blob_len);
    nm = (rs_vocab_name_t *) (nd + vocab->nnodes);
    nm[2].nwords = 7;
    h->checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                            vocab->blob_len - sizeof(rs_vocab_header_t), 0);
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "category name 2 is corrupt");

    memcpy(blob, vocab->blob, vocab->blob_len);
    nm[3].node = vocab->nnodes;
    h->checksum = rs_hash64(blob + sizeof(rs_vocab_header_t),
                            vocab->blob_len - sizeof(rs_vocab_header_t), 0);
    write_file(path, blob, vocab->blob_len);
    expect_load_error(path, "category name 3 is corrupt");

    unlink(path);
    expect_load_error(path, "cannot open");

    free(blob);
}
END_TEST


/* "Toys & Games" answers to "toys"; the longest name still wins */

START_TEST(test_level_aliases)
{
    char             err[256], buf[64];
    size_t           i;
    rs_vocab_t      *v;
    rs_catalog_t     cat;
    rs_product_t     items[4];
    rs_understood_t  u;
    static const char  *cats[] = {
        "Toys & Games > Board Games", "Electronics > Keyboards & Mice",
        "Home > Bed and Bath", "Home > Kitchen > Knives"
    };
    static const char  *queries[][2] = {
        { "toys", "Toys & Games" },
        { "toys and games", "Toys & Games" },
        { "board games", "Toys & Games > Board Games" },
        { "wireless mice", "Electronics > Keyboards & Mice" },
        { "keyboard", "Electronics > Keyboards & Mice" },
        { "bath towels", "Home > Bed and Bath" },
        { "bed and bath", "Home > Bed and Bath" },
        { "chef knife", "Home > Kitchen > Knives" },
        { "and", NULL },
    };

    memset(&cat, 0, sizeof(rs_catalog_t));
    memset(items, 0, sizeof(items));

    for (i = 0; i < 4; i++) {
        items[i].category = (char *) cats[i];
    }

    cat.items = items;
    cat.nitems = 4;

    ck_assert_msg(rs_vocab_build(&v, &cat, err, sizeof(err)) == 0, "%s",
                  err);

    for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        rs_understand(v, queries[i][0], strlen(queries[i][0]), buf, &u);
        ck_assert_msg(same_str(u.category, u.category_len, queries[i][1]),
                      "\"%s\": category \"%.*s\"", queries[i][0],
                      (int) u.category_len, u.category ? u.category : "");
    }

    rs_vocab_free(v);
}
END_TEST


START_TEST(test_empty_catalog)
{
    char             err[256], buf[64];
    rs_vocab_t      *v;
    rs_catalog_t     cat;
    rs_understood_t  u;

    memset(&cat, 0, sizeof(rs_catalog_t));

    ck_assert_msg(rs_vocab_build(&v, &cat, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_uint_eq(v->nbrands, 0);
    ck_assert_uint_eq(v->nnodes, 0);

    rs_understand(v, "cheap acme shoes", 16, buf, &u);
    ck_assert(u.cheap && !u.has_max_price);
    ck_assert_str_eq(buf, "acme shoes");

    rs_vocab_free(v);
}
END_TEST


static Suite *
understand_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("understand");

    tc = tcase_create("phrasings");
    tcase_add_checked_fixture(tc, build_vocab, drop_vocab);
    tcase_add_loop_test(tc, test_phrasings, 0,
                        sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(tc, test_table_shape);
    tcase_add_test(tc, test_no_vocab);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_long_and_odd_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("vocab");
    tcase_add_checked_fixture(tc, build_vocab, drop_vocab);
    tcase_add_test(tc, test_vocab_contents);
    tcase_add_test(tc, test_tokenizer);
    tcase_add_test(tc, test_vocab_roundtrip);
    tcase_add_test(tc, test_level_aliases);
    tcase_add_test(tc, test_empty_catalog);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    int       failed;
    SRunner  *sr;

    sr = srunner_create(understand_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
