/*
 * Copyright (C) ngx_recsys authors
 *
 * The JSON answer, written through a callback so the module can collect
 * it straight into its own buffers.
 */

#ifndef RS_RENDER_H
#define RS_RENDER_H


#include <stddef.h>

#include "rs_engine.h"


/* the same shape as jansson's json_dump_callback_t */
typedef int (*rs_write_pt)(const char *buf, size_t size, void *data);


typedef struct {
    const char         *query;
    size_t              query_len;
    const rs_result_t  *result;
    const rs_request_t *request;
    double              took_ms;
    /*
     * A validated LLM narrative over the template's: summary NULL keeps
     * the template; a NULL reason keeps that item's template reason.
     */
    const char         *summary;
    const char *const  *reasons;        /* by hit */
    const char         *source;         /* "llm" or "cache" */
    unsigned            explain:1;
    unsigned            no_narrative:1; /* recsys_narrative off */
} rs_render_t;


/* the answer as a JSON object: dumped for JSON, the context of templates */
void *rs_render_build(const rs_engine_t *e, const rs_render_t *r);
int rs_render_json(const rs_engine_t *e, const rs_render_t *r,
    rs_write_pt write, void *data);
int rs_render_error(const char *code, const char *message, rs_write_pt write,
    void *data);


#endif /* RS_RENDER_H */
