/*
 * Copyright (C) ngx_recsys authors
 *
 * libFuzzer target for query understanding and for the vocabulary loader.
 *
 * Any input is a query, understood against a small vocabulary built at
 * start-up, into a buffer of exactly len + 1 bytes so that AddressSanitizer
 * sees the smallest overrun.  An input that starts with the vocabulary
 * magic is also a vocab.bin: its checksum is fixed up first, so mutations
 * reach the structural checks behind it, and whatever loads is then used
 * to understand a few queries.
 *
 * Build and run from the project root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -I ngx_recsys_module/core \
 *       t/fuzz/fuzz_understand.c ngx_recsys_module/core/rs_understand.c \
 *       ngx_recsys_module/core/rs_vocab.c ngx_recsys_module/core/rs_util.c \
 *       -ljansson -lm -o build/fuzz_understand
 *   mkdir -p build/fuzz-corpus
 *   build/fuzz_understand -max_total_time=60 -max_len=4096 \
 *       build/fuzz-corpus
 *
 * A few queries and a vocab.bin from any index make a good seed corpus.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "rs_understand.h"
#include "rs_util.h"
#include "rs_vocab.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static rs_vocab_t  *fuzz_vocab;


static rs_vocab_t *
fuzz_build_vocab(void)
{
    size_t        i, n;
    char          err[256];
    rs_vocab_t   *v;
    rs_catalog_t  cat;
    static const struct {
        const char  *brand;
        const char  *category;
        double       price;
    } products[] = {
        { "Acme", "Shoes > Running", 60 },
        { "Under Armour", "Shoes > Trail Running", 100 },
        { "Caf\xc3\xa9 Bellini", "Home > Kitchen > Cookware", 45 },
        { "Stridewell", "Electronics > Computers > Laptops", 800 },
        { "On", "Clothing > Men > T-Shirts", 25 },
        { "Dolce & Gabbana", "Clothing > Women > Running", 300 },
    };

    n = sizeof(products) / sizeof(products[0]);
    memset(&cat, 0, sizeof(rs_catalog_t));
    cat.items = calloc(n, sizeof(rs_product_t));

    if (cat.items == NULL) {
        abort();
    }

    for (i = 0; i < n; i++) {
        cat.items[i].brand = (char *) products[i].brand;
        cat.items[i].category = (char *) products[i].category;
        cat.items[i].price = products[i].price;
        cat.items[i].flags = RS_HAS_PRICE;
    }

    cat.nitems = n;

    if (rs_vocab_build(&v, &cat, err, sizeof(err)) != 0) {
        fprintf(stderr, "vocab: %s\n", err);
        abort();
    }

    free(cat.items);

    return v;
}


static int
fuzz_inside(const char *p, size_t len, const char *base, size_t size)
{
    return p >= base && len <= size && p - base <= (ptrdiff_t) (size - len);
}


static void
fuzz_understand(const rs_vocab_t *v, const char *q, size_t len)
{
    char             *buf;
    json_t           *o;
    unsigned          i;
    rs_understood_t   u;

    buf = malloc(len + 1);
    if (buf == NULL) {
        return;
    }

    if (rs_understand(v, q, len, buf, &u) != 0
        || u.text != buf || u.text_len > len || buf[u.text_len] != '\0'
        || strlen(buf) != u.text_len
        || (u.has_min_price && u.has_max_price
            && u.min_price > u.max_price)
        || u.nexclude_brands > RS_UNDERSTAND_MAX_EXCLUDES
        || u.nexclude_terms > RS_UNDERSTAND_MAX_EXCLUDES)
    {
        abort();
    }

    if (v != NULL) {
        if ((u.brand_len
             && !fuzz_inside(u.brand, u.brand_len, v->strings,
                             v->header->strings_len))
            || (u.category_len
                && !fuzz_inside(u.category, u.category_len, v->strings,
                                v->header->strings_len)))
        {
            abort();
        }
    }

    for (i = 0; i < u.nexclude_terms; i++) {
        if (!fuzz_inside(u.exclude_terms[i], u.exclude_term_lens[i], q, len))
        {
            abort();
        }
    }

    o = json_object();

    if (o != NULL) {
        rs_understood_to_json(&u, o);
        json_decref(o);
    }

    free(buf);
}


static void
fuzz_load(const uint8_t *data, size_t size)
{
    FILE               *f;
    char                path[64], err[256];
    uint8_t            *blob;
    rs_vocab_t         *v;
    rs_vocab_header_t   h;
    static const char  *queries[] = {
        "cheap acme running shoes under $50 without mesh",
        "premium t-shirt no on except dolce & gabbana",
        "laptop cookware trail running 20-40",
    };
    size_t              i;

    blob = malloc(size);
    if (blob == NULL) {
        return;
    }

    memcpy(blob, data, size);

    if (size >= sizeof(rs_vocab_header_t)) {
        memcpy(&h, blob, sizeof(h));
        h.checksum = rs_hash64(blob + sizeof(h), size - sizeof(h), 0);
        memcpy(blob, &h, sizeof(h));
    }

    snprintf(path, sizeof(path), "/tmp/fuzz_vocab.%ld", (long) getpid());

    f = fopen(path, "wb");
    if (f == NULL || fwrite(blob, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }

    free(blob);

    if (rs_vocab_load(&v, path, err, sizeof(err)) == 0) {
        for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
            fuzz_understand(v, queries[i], strlen(queries[i]));
        }

        rs_vocab_free(v);

    } else if (err[0] == '\0' || v != NULL) {
        abort();
    }

    unlink(path);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    fuzz_vocab = fuzz_build_vocab();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_understand(fuzz_vocab, (const char *) data, size);
    fuzz_understand(NULL, (const char *) data, size);

    if (size >= 8 && memcmp(data, RS_VOCAB_MAGIC, 8) == 0) {
        fuzz_load(data, size);
    }

    return 0;
}
