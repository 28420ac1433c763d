/*
 * Copyright (C) ngx_recsys authors
 *
 * libFuzzer target for packed results: the bytes a cache tier hands back,
 * Redis included, so anything at all.
 *
 * Any input is unpacked for a fixed profile and an index of 1000 items.
 * Its fingerprint field (bytes 8 to 15) is first set to the profile's, so
 * mutations reach the structure behind it.  Whatever unpacks must hold
 * what the renderer relies on (items below the index size, promotions and
 * boosts of the profile, an embed source it can name, NUL-terminated
 * UTF-8 strings of the stated lengths) and must pack back to exactly the
 * same bytes.
 *
 * Build and run from the project root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -I ngx_recsys_module/core \
 *       t/fuzz/fuzz_result_unpack.c ngx_recsys_module/core/rs_pack.c \
 *       ngx_recsys_module/core/rs_rank.c ngx_recsys_module/core/rs_store.c \
 *       ngx_recsys_module/core/rs_util.c ngx_recsys_module/core/rs_arena.c \
 *       -lm -o build/fuzz_result_unpack
 *   mkdir -p build/fuzz-pack-corpus
 *   build/fuzz_result_unpack -max_total_time=60 -max_len=4096 \
 *       build/fuzz-pack-corpus
 *
 * The first run writes a packed result to the corpus directory given as
 * RS_FUZZ_SEED, a good seed: RS_FUZZ_SEED=build/fuzz-pack-corpus.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_arena.h"
#include "rs_pack.h"


#define FUZZ_NITEMS  1000


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static rs_profile_t  fuzz_profile;
static rs_boost_t    fuzz_boosts[3];
static rs_promo_t    fuzz_promos[2];
static uint64_t      fuzz_fingerprint;


static void
fuzz_string(const char *s, size_t len)
{
    if (len == 0) {
        if (s != NULL && s[0] != '\0') {
            abort();
        }

        return;
    }

    if (s == NULL || s[len] != '\0' || strlen(s) != len
        || !rs_utf8_valid((const unsigned char *) s, len))
    {
        abort();
    }
}


static void
fuzz_check(const rs_result_t *res)
{
    unsigned  i;
    uint32_t  h;

    if (res->profile != &fuzz_profile || res->nhits > RS_MAX_K
        || (unsigned) res->embed_source > RS_SOURCE_POPULARITY
        || res->understood.text == NULL
        || res->understood.nexclude_brands > RS_UNDERSTAND_MAX_EXCLUDES
        || res->understood.nexclude_terms > RS_UNDERSTAND_MAX_EXCLUDES
        || res->filter.nexclude_brands > RS_PACK_MAX_EXCLUDES
        || res->filter.nexclude_terms > RS_PACK_MAX_EXCLUDES)
    {
        abort();
    }

    fuzz_string(res->filter.category, res->filter.category_len);
    fuzz_string(res->filter.brand, res->filter.brand_len);
    fuzz_string(res->filter.tag, res->filter.tag_len);
    fuzz_string(res->understood.brand, res->understood.brand_len);
    fuzz_string(res->understood.category, res->understood.category_len);
    fuzz_string(res->understood.text, res->understood.text_len);

    for (i = 0; i < res->filter.nexclude_brands; i++) {
        fuzz_string(res->filter.exclude_brands[i],
                    res->filter.exclude_brand_lens[i]);
    }

    for (i = 0; i < res->filter.nexclude_terms; i++) {
        fuzz_string(res->filter.exclude_terms[i],
                    res->filter.exclude_term_lens[i]);
    }

    for (i = 0; i < res->understood.nexclude_brands; i++) {
        fuzz_string(res->understood.exclude_brands[i],
                    res->understood.exclude_brand_lens[i]);
    }

    for (i = 0; i < res->understood.nexclude_terms; i++) {
        fuzz_string(res->understood.exclude_terms[i],
                    res->understood.exclude_term_lens[i]);
    }

    for (h = 0; h < res->nhits; h++) {
        if (res->hits[h].item >= FUZZ_NITEMS
            || (res->hits[h].boosts_fired >> fuzz_profile.nboosts) != 0
            || res->hits[h].promo >= (int) fuzz_profile.npromos
            || res->hits[h].promo < -1
            || ((res->hits[h].flags & RS_HIT_SPONSORED)
                && res->hits[h].promo < 0))
        {
            abort();
        }
    }
}


static void
fuzz_seed(void)
{
    FILE          *f;
    char           path[512];
    size_t         len;
    const char    *dir;
    rs_hit_t       hits[2];
    rs_result_t    res;
    unsigned char  buf[1024];

    dir = getenv("RS_FUZZ_SEED");
    if (dir == NULL) {
        return;
    }

    memset(&res, 0, sizeof(res));
    memset(hits, 0, sizeof(hits));

    hits[0].item = 7;
    hits[0].score = 0.9f;
    hits[0].boosts_fired = 5;
    hits[0].flags = RS_HIT_BOOSTED;
    hits[0].promo = -1;
    hits[0].view.price = 59.99;
    hits[0].view.flags = 1;
    hits[1].item = 999;
    hits[1].flags = RS_HIT_SPONSORED | RS_HIT_PINNED;
    hits[1].promo = 1;
    hits[1].view.stock = 3;
    hits[1].view.flags = 2;

    res.profile = &fuzz_profile;
    res.hits = hits;
    res.nhits = 2;
    res.understood_any = 1;
    res.embed_source = RS_SOURCE_MODEL;
    res.filter.category = "Shoes > Running";
    res.filter.category_len = 15;
    res.filter.has_max_price = 1;
    res.filter.max_price = 100;
    res.understood.has_max_price = 1;
    res.understood.max_price = 100;
    res.understood.exclude_terms[0] = "mesh";
    res.understood.exclude_term_lens[0] = 4;
    res.understood.nexclude_terms = 1;
    res.understood.text = (char *) "running shoes";
    res.understood.text_len = 13;

    len = rs_result_pack(&res, buf, sizeof(buf));

    snprintf(path, sizeof(path), "%s/seed-result", dir);

    f = fopen(path, "wb");
    if (len == 0 || len > sizeof(buf) || f == NULL
        || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
    {
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    rs_profile_init(&fuzz_profile);
    fuzz_profile.name = "fuzz";
    fuzz_profile.name_len = 4;

    fuzz_boosts[0].match.kind = RS_MATCH_BRAND;
    fuzz_boosts[0].match.value = "Acme";
    fuzz_boosts[0].match.len = 4;
    fuzz_boosts[0].factor = 1.2f;
    fuzz_boosts[1] = fuzz_boosts[0];
    fuzz_boosts[2] = fuzz_boosts[0];
    fuzz_profile.boosts = fuzz_boosts;
    fuzz_profile.nboosts = 3;

    fuzz_promos[0].match = fuzz_boosts[0].match;
    fuzz_promos[0].slots = 1;
    fuzz_promos[0].per = 8;
    fuzz_promos[1] = fuzz_promos[0];
    fuzz_profile.promos = fuzz_promos;
    fuzz_profile.npromos = 2;

    fuzz_fingerprint = rs_profile_fingerprint(&fuzz_profile);

    fuzz_seed();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             i;
    size_t          len;
    uint8_t        *buf, *again;
    rs_arena_t      arena = { NULL };
    rs_result_t     res;

    /* an exact copy: AddressSanitizer sees the smallest overrun */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    if (size >= 16) {
        for (i = 0; i < 8; i++) {
            buf[8 + i] = (uint8_t) (fuzz_fingerprint >> (8 * i));
        }
    }

    if (rs_result_unpack(buf, size, &fuzz_profile, FUZZ_NITEMS, &res,
                         rs_arena_alloc, &arena)
        == 0)
    {
        fuzz_check(&res);

        len = rs_result_pack(&res, NULL, 0);
        again = malloc(len ? len : 1);

        if (len != size || again == NULL
            || rs_result_pack(&res, again, len) != len
            || memcmp(again, buf, len) != 0)
        {
            abort();
        }

        free(again);
    }

    rs_arena_reset(&arena);
    free(buf);

    return 0;
}
