/*
 * Copyright (C) ngx_recsys authors
 *
 * Everything around an LLM "why these picks" narrative and an LLM rerank
 * except the call itself: redaction of the shopper's text, prompt
 * templates, the chat-completions request bodies, the validation of the
 * replies and the cache key.  The model is never trusted: a narrative
 * that names an item not shown, a price not in the catalogue, a stock
 * claim the catalogue does not back or a banned term is rejected as a
 * whole, as is a rerank naming an id that is not a candidate, and the
 * caller falls back to the template narrative or the ranker's order.
 */

#ifndef RS_LLM_H
#define RS_LLM_H


#include <stddef.h>

#include "rs_render.h"


/*
 * Changes whenever the built-in prompt, the data block or the template
 * context changes shape; a template's version is built on it.
 */
#define RS_LLM_PROMPT_VERSION  "rs-llm-2"
#define RS_LLM_RERANK_VERSION  "rs-rerank-1"

/* candidates a rerank covers: the caller reranks the top ones only */
#define RS_LLM_RERANK_MAX      20

/* catalogue attributes sent per item, the first ones that are short */
#define RS_LLM_ATTRS_MAX       4

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
    const char  *attributes;       /* the store's extra: JSON text, or NULL */
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


typedef struct rs_llm_prompt_s  rs_llm_prompt_t;


typedef struct {
    long         prompt_tokens;    /* -1: not reported */
    long         completion_tokens;
} rs_llm_usage_t;


typedef struct {
    char        *summary;
    char       **reasons;          /* by index into items; NULL: none */
    size_t       nreasons;         /* the n of rs_llm_parse_reply() */
    long         prompt_tokens;    /* -1: not reported; set on failure too */
    long         completion_tokens;
} rs_llm_narrative_t;


/*
 * *outlen is the size of out on entry (RS_LLM_REDACT_SIZE(len) is always
 * enough) and the length written, without the NUL, on return; -1 when
 * out is too small.
 */
int rs_llm_redact(const char *in, size_t len, char *out, size_t *outlen);

/*
 * A prompt template file: "--- system" and "--- user" lines open its two
 * Mustache sections (without partials or set-delimiter tags); before the
 * first, only blank and "#" comment lines.  Names are those of the
 * template context described in docs/llm.md; the shopper's intent exists
 * there only as JSON text ({{intent}}, {{data}}) and only in the user
 * section.  NULL and "FILE:LINE: reason" in err on error.
 */
rs_llm_prompt_t *rs_llm_prompt_parse(const char *text, size_t len,
    const char *filename, char *err, size_t errlen);
void rs_llm_prompt_free(rs_llm_prompt_t *prompt);

/*
 * RS_LLM_PROMPT_VERSION for the built-in prompt (NULL) and a template
 * with the same sections; RS_LLM_PROMPT_VERSION "-" and 16 hex digits of
 * a hash of the sections otherwise.
 */
const char *rs_llm_prompt_version(const rs_llm_prompt_t *prompt);

/* the built-in system prompt */
const char *rs_llm_system_prompt(void);

/*
 * The request body, written through write (json_dump_callback); prompt
 * NULL is the built-in one.  0 or -1 (no memory, a write error, or text
 * that is not UTF-8).
 */
int rs_llm_request_json(const rs_llm_config_t *cf,
    const rs_llm_prompt_t *prompt, const rs_llm_intent_t *intent,
    const rs_llm_item_t *items, size_t n, rs_write_pt write, void *data);

/*
 * 0 and a narrative to free with rs_llm_narrative_free(), or -1, a
 * reason code and the usage if the response had one.  Reasons: of the
 * response, "invalid_json", "truncated" (the body or, cut by
 * max_tokens, the content ends early), "api_error" (an "error" member),
 * "refused" (a refusal or a content filter), "bad_shape", "empty",
 * "too_long" (content over 64 KB); of the narrative, "unknown_id",
 * "wrong_price", "stock_claim", "banned_term", "injection" (it talks of
 * instructions or prompts); and "no_memory".  Texts too long are cut at a
 * word boundary with an ellipsis, not rejected.
 */
int rs_llm_parse_reply(const char *body, size_t len,
    const rs_llm_item_t *items, size_t n, const rs_llm_limits_t *limits,
    rs_llm_narrative_t *out, char *reason, size_t reasonlen);
void rs_llm_narrative_free(rs_llm_narrative_t *nv);

/*
 * A request for {"order": [ids]} over n candidates, 1 to
 * RS_LLM_RERANK_MAX; 0 or -1 as rs_llm_request_json().
 */
int rs_llm_rerank_request_json(const rs_llm_config_t *cf,
    const rs_llm_intent_t *intent, const rs_llm_item_t *items, size_t n,
    rs_write_pt write, void *data);

/*
 * 0 and in order[0..n-1] every candidate index once: the *nlisted the
 * model listed, in its order, then the others in the ranker's order.  Or
 * -1 and a reason: those of the response as for rs_llm_parse_reply(),
 * "bad_shape" (no "order" array of strings, or n is 0 or over
 * RS_LLM_RERANK_MAX), "unknown_id", "duplicate_id", "empty" (no id).
 * usage, if not NULL, is filled either way.
 */
int rs_llm_parse_rerank(const char *body, size_t len,
    const char *const *ids, size_t n, size_t *order, size_t *nlisted,
    rs_llm_usage_t *usage, char *reason, size_t reasonlen);

/*
 * 16 lower-case hex digits and a NUL into key: model, prompt version,
 * normalised intent, and the ordered items with their currency, price
 * and stock.  0 or -1 (no memory).
 */
int rs_llm_cache_key(const char *model, const rs_llm_prompt_t *prompt,
    const rs_llm_intent_t *intent, const rs_llm_item_t *items, size_t n,
    char key[17]);


#endif /* RS_LLM_H */
