/*
 * Copyright (C) ngx_recsys authors
 *
 * Everything around an LLM "why these picks" narrative except the call
 * itself: redaction of the shopper's text, the chat-completions request
 * body, the validation of the reply and the cache key.  The model is never
 * trusted: a reply that names an item not shown, a price not in the
 * catalogue, a stock claim the catalogue does not back or a banned term is
 * rejected as a whole, and the caller falls back to the template narrative.
 */

#ifndef RS_LLM_H
#define RS_LLM_H


#include <stddef.h>

#include "rs_render.h"


/* changes whenever the system prompt or the data block changes shape */
#define RS_LLM_PROMPT_VERSION  "rs-llm-1"

/*
 * The buffer rs_llm_redact() needs for len bytes of input, with the NUL.
 * The shortest e-mail it redacts is 6 bytes ("a@b.co") and becomes the
 * 7 bytes of "[email]"; phones (7+ digits) and cards (13+) never grow.
 */
#define RS_LLM_REDACT_SIZE(len)  ((len) + (len) / 6 + 8)

#define RS_LLM_SUMMARY_MAX  400
#define RS_LLM_REASON_MAX   200


/* one shown item, filled by the caller from the store and the overlay */
typedef struct {
    const char  *id;
    const char  *title;            /* NULL: unknown */
    const char  *brand;
    const char  *currency;         /* NULL: USD, as rs_format_price() */
    const char  *category;         /* a full path: only the leaf is sent */
    double       price;
    int          has_price;
    int          in_stock;         /* 1 yes, 0 no, -1 unknown */
    double       rating;
    int          has_rating;
} rs_llm_item_t;


typedef struct {
    const char  *model;
    double       temperature;
    int          max_tokens;
    unsigned     json_mode:1;      /* response_format json_object */
} rs_llm_config_t;


/* the shopper's intent: raw text, redacted here before it goes anywhere */
typedef struct {
    const char  *query;
    size_t       query_len;
    const char  *constraints;      /* understood constraints, or NULL */
    size_t       constraints_len;
} rs_llm_intent_t;


typedef struct {
    size_t              summary_max;   /* bytes; 0: RS_LLM_SUMMARY_MAX */
    size_t              reason_max;    /* bytes; 0: RS_LLM_REASON_MAX */
    const char *const  *banned;        /* case-insensitive whole words */
    size_t              nbanned;
} rs_llm_limits_t;


typedef struct {
    char        *summary;
    char       **reasons;          /* by index into items; NULL: none */
    size_t       nreasons;         /* the n of rs_llm_parse_reply() */
    long         prompt_tokens;    /* -1: not reported */
    long         completion_tokens;
} rs_llm_narrative_t;


/*
 * *outlen is the size of out on entry (RS_LLM_REDACT_SIZE(len) is always
 * enough) and the length written, without the NUL, on return; -1 when
 * out is too small.
 */
int rs_llm_redact(const char *in, size_t len, char *out, size_t *outlen);

/*
 * The request body, written through write (json_dump_callback); 0 or -1
 * (no memory, a write error, or text that is not UTF-8).
 */
int rs_llm_request_json(const rs_llm_config_t *cf,
    const rs_llm_intent_t *intent, const rs_llm_item_t *items, size_t n,
    rs_write_pt write, void *data);
const char *rs_llm_system_prompt(void);

/*
 * 0 and a narrative to free with rs_llm_narrative_free(), or -1 and a
 * reason code: "invalid_json", "bad_shape", "unknown_id", "wrong_price",
 * "stock_claim", "banned_term", "empty", "too_long" (content over 64 KB),
 * "no_memory".  Texts too long are
 * cut at a word boundary with an ellipsis, not rejected.
 */
int rs_llm_parse_reply(const char *body, size_t len,
    const rs_llm_item_t *items, size_t n, const rs_llm_limits_t *limits,
    rs_llm_narrative_t *out, char *reason, size_t reasonlen);
void rs_llm_narrative_free(rs_llm_narrative_t *nv);

/* 16 lower-case hex digits and a NUL into key; 0 or -1 (no memory) */
int rs_llm_cache_key(const char *model, const rs_llm_intent_t *intent,
    const rs_llm_item_t *items, size_t n, char key[17]);


#endif /* RS_LLM_H */
