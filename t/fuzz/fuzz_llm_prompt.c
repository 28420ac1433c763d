/*
 * Copyright (C) ngx_recsys authors
 *
 * libFuzzer target for prompt templates (recsys_prompt_template).
 *
 * Any input is a template file.  One that parses must have a version of
 * the documented form, and render for three fixed items and a query into
 * a request body that is JSON, whose system message never holds the
 * shopper's text, whatever the template does (unless the template itself
 * holds that text).  One that fails must say
 * where, as "FILE:LINE: ".
 *
 * Build and run from the project root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=undefined -I ngx_recsys_module/core \
 *       t/fuzz/fuzz_llm_prompt.c ngx_recsys_module/core/rs_llm.c \
 *       ngx_recsys_module/core/rs_tpl.c ngx_recsys_module/core/rs_util.c \
 *       -ljansson -lm -o build/fuzz_llm_prompt
 *   mkdir -p build/fuzz-prompt-corpus
 *   build/fuzz_llm_prompt -max_total_time=60 -max_len=2048 \
 *       -dict=t/fuzz/prompt.dict build/fuzz-prompt-corpus
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rs_llm.h"


#define FUZZ_QUERY  "QZXJ shoes"


typedef struct {
    char    *buf;
    size_t   len;
} fuzz_sink_t;


static int fuzz_write(const char *buf, size_t size, void *data);
static void fuzz_render(const rs_llm_prompt_t *p, int own);


static const rs_llm_item_t  fuzz_items[] = {
    { "sku-1", "Trail Runner", "Acme", "USD", "Shoes > Running",
      79.99, 1, 1, 4.5, 1, "{\"color\": \"red\", \"size\": 10}" },
    { "sku-2", "Road Racer", NULL, NULL, NULL, 120.0, 1, 0, 0, 0, NULL },
    { "sku-3", NULL, "Hearth", "EUR", "Home > Mugs", 0, 0, -1, 0, 0, "[]" }
};


static int
fuzz_write(const char *buf, size_t size, void *data)
{
    char         *p;
    fuzz_sink_t  *s;

    s = data;
    p = realloc(s->buf, s->len + size + 1);

    if (p == NULL) {
        return -1;
    }

    memcpy(p + s->len, buf, size);
    s->buf = p;
    s->len += size;
    s->buf[s->len] = '\0';

    return 0;
}


static void
fuzz_render(const rs_llm_prompt_t *p, int own)
{
    json_t           *root, *sys;
    fuzz_sink_t       s;
    rs_llm_intent_t   in;
    rs_llm_config_t   cf;

    memset(&s, 0, sizeof(fuzz_sink_t));
    memset(&cf, 0, sizeof(rs_llm_config_t));
    cf.model = "m";
    in.query = FUZZ_QUERY;
    in.query_len = sizeof(FUZZ_QUERY) - 1;
    in.constraints = "QZXJ";
    in.constraints_len = 4;

    if (rs_llm_request_json(&cf, p, &in, fuzz_items, 3, fuzz_write, &s)
        != 0)
    {
        abort();
    }

    root = json_loadb(s.buf, s.len, 0, NULL);

    if (root == NULL) {
        abort();
    }

    sys = json_object_get(json_array_get(json_object_get(root, "messages"),
                                         0),
                          "content");

    if (!json_is_string(sys)
        || (!own && strstr(json_string_value(sys), "QZXJ") != NULL))
    {
        abort();
    }

    json_decref(root);
    free(s.buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               own;
    char             *text, err[256];
    size_t            i;
    const char       *v, *colon;
    rs_llm_prompt_t  *p;

    text = malloc(size ? size : 1);

    if (text == NULL) {
        return 0;
    }

    memcpy(text, data, size);
    err[0] = '\0';

    p = rs_llm_prompt_parse(text, size, "f", err, sizeof(err));

    if (p == NULL) {
        colon = strchr(err + 2, ':');

        if (strncmp(err, "f:", 2) != 0 || colon == NULL || colon == err + 2
            || strspn(err + 2, "0123456789") != (size_t) (colon - err - 2))
        {
            abort();
        }

        free(text);
        return 0;
    }

    v = rs_llm_prompt_version(p);

    if (strncmp(v, RS_LLM_PROMPT_VERSION, sizeof(RS_LLM_PROMPT_VERSION) - 1)
        != 0)
    {
        abort();
    }

    for (own = 0, i = 0; !own && i + 4 <= size; i++) {
        own = (memcmp(text + i, "QZXJ", 4) == 0);
    }

    /* the text may go once parsed: nothing points into it */
    free(text);
    fuzz_render(p, own);
    rs_llm_prompt_free(p);

    return 0;
}
