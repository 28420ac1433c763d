/*
 * Copyright (C) ngx_recsys authors
 *
 * The wire format of the OpenAI-compatible embeddings API (POST
 * /v1/embeddings, served by OpenAI, llama.cpp, vLLM, Ollama,
 * text-embeddings-inference): the request body and a strict reading of
 * the reply.  No network here: the CLI sends batches with libcurl, the
 * module one query through a subrequest.
 */

#ifndef RS_OPENAI_H
#define RS_OPENAI_H


#include <stddef.h>
#include <stdint.h>

#include "rs_llm.h"
#include "rs_render.h"


/* OpenAI's own limit of inputs per request */
#define RS_OPENAI_MAX_BATCH  2048

/* the buffer rs_openai_query_text() needs for len bytes, with the NUL */
#define RS_OPENAI_QUERY_SIZE(len)  RS_LLM_REDACT_SIZE(len)


/*
 * {"model": model, "input": [texts...], "encoding_format": "float"},
 * written through write; 0, or -1 (no memory, a write error, or a text
 * that is not UTF-8).
 */
int rs_openai_request_json(const char *model, const char *const *texts,
    const size_t *lens, size_t n, rs_write_pt write, void *data);

/*
 * Reads the n vectors of a reply to n inputs, placing input i's vector at
 * out + i * *dim, in the order of the inputs whatever the order of "data".
 * out has room for n * max_dim floats.  *dim is the dimension found.
 * Returns 0, or -1 with the reason in err and the input it concerns in
 * *which (SIZE_MAX when it concerns the whole reply): not JSON, an error
 * object, a "data" array of another length, an empty vector, a value that
 * is not a finite number, vectors of different dimensions, a vector over
 * max_dim.
 */
int rs_openai_parse_reply(const char *body, size_t len, size_t n,
    uint32_t max_dim, float *out, uint32_t *dim, size_t *which, char *err,
    size_t errlen);

/*
 * A shopper's query as it is sent to the model and as its vector is
 * cached: redacted like an LLM prompt (e-mails, phone and card numbers
 * become "[email]", "[phone]", "[card]"), ASCII letters in lower case,
 * every run of whitespace one space, none at either end.  *outlen is the
 * size of out on entry (RS_OPENAI_QUERY_SIZE(len) is always enough) and
 * the length written, without the NUL, on return; 0, or -1 when out is
 * too small.
 */
int rs_openai_query_text(const char *in, size_t len, char *out,
    size_t *outlen);


#endif /* RS_OPENAI_H */
