/*
 * Copyright (C) ngx_recsys authors
 *
 * libFuzzer target for the LLM reply validators.
 *
 * Any input is a chat-completions response body, checked against three
 * fixed items with a banned-terms list and small length caps, so that
 * truncation runs too, and parsed as a rerank of the same three ids.
 * The body is copied into a buffer of exactly its length, so
 * AddressSanitizer sees the smallest overrun.  Every narrative accepted
 * is checked for what the validator promises: valid UTF-8, no longer
 * than its cap, no control characters, no tag or URL left; every rerank
 * accepted for holding each candidate once, the unlisted in the ranker's
 * order.  The input is also redacted, into a buffer of exactly
 * RS_LLM_REDACT_SIZE().
 *
 * Build and run from the project root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -I ngx_recsys_module/core \
 *       t/fuzz/fuzz_llm_reply.c ngx_recsys_module/core/rs_llm.c \
 *       ngx_recsys_module/core/rs_tpl.c ngx_recsys_module/core/rs_util.c \
 *       -ljansson -lm \
 *       -o build/fuzz_llm_reply
 *   mkdir -p build/fuzz-llm-corpus
 *   build/fuzz_llm_reply -max_total_time=60 -max_len=4096 \
 *       build/fuzz-llm-corpus
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rs_llm.h"
#include "rs_util.h"


#define FUZZ_SUMMARY_MAX  64
#define FUZZ_REASON_MAX   24


static void fuzz_check_text(const char *s, size_t max);
static void fuzz_rerank(const char *body, size_t size);


static const rs_llm_item_t  fuzz_items[] = {
    { "sku-1", "Trail Runner", "Acme", "USD", "Shoes > Running",
      79.99, 1, 1, 4.5, 1, NULL },
    { "sku-2", "Road Racer", "Stridewell", NULL, "Shoes > Road",
      120.0, 1, 0, 0, 0, NULL },
    { "sku-3", "Camp Mug", "Hearth", "EUR", "Home > Mugs",
      12.5, 1, -1, 0, 0, NULL }
};


static const char *const  fuzz_banned[] = { "free", "best ever" };

static const char *const  fuzz_ids[] = { "sku-1", "sku-2", "sku-3" };


static void
fuzz_check_text(const char *s, size_t max)
{
    size_t  i, len;

    if (s == NULL) {
        return;
    }

    len = strlen(s);

    if (len > max || !rs_utf8_valid((const unsigned char *) s, len)) {
        abort();
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            abort();
        }
    }

    if (strstr(s, "http://") != NULL || strstr(s, "https://") != NULL) {
        abort();
    }
}


static void
fuzz_rerank(const char *body, size_t size)
{
    char            reason[32];
    size_t          i, order[3], nlisted;
    unsigned        seen;
    rs_llm_usage_t  usage;

    reason[0] = '\0';

    if (rs_llm_parse_rerank(body, size, fuzz_ids, 3, order, &nlisted, &usage,
                            reason, sizeof(reason))
        != 0)
    {
        if (reason[0] == '\0' || nlisted != 0) {
            abort();
        }

        return;
    }

    if (nlisted == 0 || nlisted > 3) {
        abort();
    }

    seen = 0;

    for (i = 0; i < 3; i++) {
        if (order[i] >= 3 || (seen & (1u << order[i]))) {
            abort();
        }

        seen |= 1u << order[i];
    }

    /* the unlisted keep the ranker's order */
    for (i = nlisted + 1; i < 3; i++) {
        if (order[i] < order[i - 1]) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                *body, *red, reason[32];
    size_t               i, rlen;
    rs_llm_limits_t      lim;
    rs_llm_narrative_t   nv;

    body = malloc(size ? size : 1);

    if (body == NULL) {
        return 0;
    }

    memcpy(body, data, size);

    memset(&lim, 0, sizeof(rs_llm_limits_t));
    lim.summary_max = FUZZ_SUMMARY_MAX;
    lim.reason_max = FUZZ_REASON_MAX;
    lim.banned = fuzz_banned;
    lim.nbanned = 2;

    if (rs_llm_parse_reply(body, size, fuzz_items, 3, &lim, &nv, reason,
                           sizeof(reason))
        == 0)
    {
        if (nv.summary == NULL || nv.summary[0] == '\0'
            || nv.nreasons != 3)
        {
            abort();
        }

        fuzz_check_text(nv.summary, FUZZ_SUMMARY_MAX);

        for (i = 0; i < nv.nreasons; i++) {
            fuzz_check_text(nv.reasons[i], FUZZ_REASON_MAX);
        }

        rs_llm_narrative_free(&nv);

    } else if (reason[0] == '\0' || nv.summary != NULL) {
        abort();
    }

    fuzz_rerank(body, size);

    rlen = RS_LLM_REDACT_SIZE(size);
    red = malloc(rlen);

    if (red != NULL) {
        if (rs_llm_redact(body, size, red, &rlen) != 0) {
            abort();
        }

        free(red);
    }

    free(body);

    return 0;
}
