/*
 * Copyright (C) ngx_recsys authors
 */


#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "rs_openai.h"
#include "rs_util.h"


static int rs_openai_vector(json_t *emb, size_t i, uint32_t max_dim,
    float *out, uint32_t *dim, char *err, size_t errlen);


int
rs_openai_request_json(const char *model, const char *const *texts,
    const size_t *lens, size_t n, rs_write_pt write, void *data)
{
    int      rc;
    size_t   i;
    json_t  *root, *input, *s;

    input = json_array();
    root = json_pack("{s:s, s:s}", "model", model,
                     "encoding_format", "float");

    if (root == NULL || input == NULL
        || json_object_set_new(root, "input", input) != 0)
    {
        json_decref(root);
        return -1;
    }

    for (i = 0; i < n; i++) {
        s = json_stringn(texts[i], lens[i]);

        if (s == NULL || json_array_append_new(input, s) != 0) {
            json_decref(root);
            return -1;
        }
    }

    rc = json_dump_callback(root, write, data, JSON_COMPACT);
    json_decref(root);

    return rc == 0 ? 0 : -1;
}


/*
 * Models embed "Running  Shoes" and "running shoes" alike or nearly so;
 * one text for both halves what is paid for and doubles the cache's hits.
 * Letters beyond ASCII keep their case: folding them needs tables the
 * model has anyway.
 */

int
rs_openai_query_text(const char *in, size_t len, char *out, size_t *outlen)
{
    char    c;
    size_t  i, o, n;

    n = *outlen;

    if (rs_llm_redact(in, len, out, &n) != 0) {
        return -1;
    }

    o = 0;

    for (i = 0; i < n; i++) {
        c = out[i];

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
            || c == '\v')
        {
            if (o > 0 && out[o - 1] != ' ') {
                out[o++] = ' ';
            }

            continue;
        }

        out[o++] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
    }

    if (o > 0 && out[o - 1] == ' ') {
        o--;
    }

    out[o] = '\0';
    *outlen = o;

    return 0;
}


static int
rs_openai_vector(json_t *emb, size_t i, uint32_t max_dim, float *out,
    uint32_t *dim, char *err, size_t errlen)
{
    size_t   d, len;
    double   v;
    json_t  *x;

    if (!json_is_array(emb)) {
        rs_errf(err, errlen, "the reply's \"embedding\" of input %zu is not "
                "an array", i);
        return -1;
    }

    len = json_array_size(emb);

    if (len == 0) {
        rs_errf(err, errlen, "the vector is empty");
        return -1;
    }

    if (len > max_dim) {
        rs_errf(err, errlen, "the vector has %zu dimensions, more than %u",
                len, max_dim);
        return -1;
    }

    if (*dim == 0) {
        *dim = (uint32_t) len;

    } else if (len != *dim) {
        rs_errf(err, errlen, "the vector has %zu dimensions where the "
                "reply's others have %u", len, *dim);
        return -1;
    }

    for (d = 0; d < len; d++) {
        x = json_array_get(emb, d);
        v = json_number_value(x);

        if (!json_is_number(x) || !isfinite(v) || fabs(v) > FLT_MAX) {
            rs_errf(err, errlen, "the vector has a non-numeric value at "
                    "position %zu", d);
            return -1;
        }

        out[i * len + d] = (float) v;
    }

    return 0;
}


int
rs_openai_parse_reply(const char *body, size_t len, size_t n,
    uint32_t max_dim, float *out, uint32_t *dim, size_t *which, char *err,
    size_t errlen)
{
    size_t         i, k;
    json_t        *root, *data, *item, *index;
    const char    *msg;
    unsigned char  seen[RS_OPENAI_MAX_BATCH];
    json_error_t   jerr;

    *dim = 0;
    *which = SIZE_MAX;

    if (n == 0 || n > RS_OPENAI_MAX_BATCH) {
        rs_errf(err, errlen, "%zu inputs: a reply holds 1 to %d", n,
                RS_OPENAI_MAX_BATCH);
        return -1;
    }

    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        rs_errf(err, errlen, "the reply is not JSON: %s", jerr.text);
        return -1;
    }

    data = json_object_get(root, "data");

    if (!json_is_array(data)) {
        msg = json_string_value(json_object_get(json_object_get(root,
                                                                "error"),
                                                "message"));
        if (msg != NULL) {
            rs_errf(err, errlen, "the reply is an error: %s", msg);

        } else {
            rs_errf(err, errlen, "the reply has no \"data\" array");
        }

        goto failed;
    }

    if (json_array_size(data) != n) {
        rs_errf(err, errlen, "the reply has %zu vectors for %zu inputs",
                json_array_size(data), n);
        goto failed;
    }

    memset(seen, 0, n);

    /* "index" says which input a vector is for; without it, the order */
    for (k = 0; k < n; k++) {
        item = json_array_get(data, k);
        index = json_object_get(item, "index");
        i = k;

        if (index != NULL) {
            if (!json_is_integer(index) || json_integer_value(index) < 0
                || (json_int_t) n <= json_integer_value(index))
            {
                rs_errf(err, errlen, "the reply's vector %zu has an invalid "
                        "\"index\"", k);
                goto failed;
            }

            i = (size_t) json_integer_value(index);
        }

        if (seen[i]) {
            rs_errf(err, errlen, "the reply has two vectors for input %zu",
                    i);
            goto failed;
        }

        seen[i] = 1;

        if (rs_openai_vector(json_object_get(item, "embedding"), i, max_dim,
                             out, dim, err, errlen)
            != 0)
        {
            *which = i;
            goto failed;
        }
    }

    json_decref(root);

    return 0;

failed:

    json_decref(root);

    return -1;
}
