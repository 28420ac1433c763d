
/*
 * Copyright (C) ngx_recsys authors
 */


#ifndef _NGX_HTTP_RECSYS_MODULE_H_INCLUDED_
#define _NGX_HTTP_RECSYS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "rs_engine.h"
#include "rs_llm.h"
#include "rs_render.h"
#include "rs_tpl.h"


#define NGX_HTTP_RECSYS_MAX_ARG      256
#define NGX_HTTP_RECSYS_MAX_IDS      100
#define NGX_HTTP_RECSYS_MAX_IDS_LEN  (NGX_HTTP_RECSYS_MAX_IDS * 64)


/* one loaded index directory, shared by every location that names it */
typedef struct {
    ngx_str_t                    path;
    rs_engine_t                 *engine;
} ngx_http_recsys_index_t;


/* a "recsys_profile" block: the rules live in arrays the profile points to */
typedef struct {
    rs_profile_t                 profile;
    ngx_str_t                    name;
    ngx_array_t                  boosts;    /* rs_boost_t */
    ngx_array_t                  blocks;    /* rs_match_t */
    ngx_array_t                  pins;      /* rs_pin_t */
    ngx_array_t                  promos;    /* rs_promo_t */
} ngx_http_recsys_profile_t;


typedef struct {
    ngx_array_t                  indexes;   /* ngx_http_recsys_index_t * */
    ngx_array_t                  profiles;  /* ngx_http_recsys_profile_t * */
    ngx_shm_zone_t              *overlay_zone;
    ngx_shm_zone_t              *metrics_zone;
    ngx_shm_zone_t              *cache_zone;
    ngx_shm_zone_t              *popularity_zone;
    ngx_msec_t                   popularity_refresh;    /* 0: off */
    ngx_uint_t                   popularity_top;
    ngx_str_t                    metrics_file;  /* the first "recsys_metrics" */
    ngx_uint_t                   metrics_line;
    rs_tpl_t                    *default_tpl;
    struct ngx_http_recsys_redis_s  *redis;     /* NULL: no recsys_redis */
    struct ngx_http_recsys_redis_s  *redis_write;   /* NULL: the same */
    ngx_str_t                    user_salt;
    ngx_rbtree_t                 calls;     /* in flight, this worker */
    ngx_rbtree_node_t            calls_sentinel;
} ngx_http_recsys_main_conf_t;


#define NGX_HTTP_RECSYS_NARRATIVE_OFF       0
#define NGX_HTTP_RECSYS_NARRATIVE_TEMPLATE  1
#define NGX_HTTP_RECSYS_NARRATIVE_CACHED    2
#define NGX_HTTP_RECSYS_NARRATIVE_SYNC      3
#define NGX_HTTP_RECSYS_NARRATIVE_ASYNC     4


typedef struct {
    ngx_uint_t                   mode;
    ngx_str_t                    location;
    ngx_str_t                    authorization;  /* "Bearer " + the key */
    ngx_str_t                    model;
    ngx_uint_t                   temperature;    /* hundredths */
    ngx_uint_t                   max_tokens;
    ngx_flag_t                   json_mode;
    ngx_msec_t                   timeout;
    size_t                       max_response;
    time_t                       negative_ttl;
    ngx_flag_t                   rerank;
    rs_llm_limits_t             *limits;         /* banned terms */
    rs_llm_prompt_t             *prompt;         /* NULL: the built-in */
} ngx_http_recsys_llm_conf_t;


/* recsys_embed_location: the URI and, in each worker, its circuit */
typedef struct {
    ngx_str_t                    uri;
    ngx_uint_t                   fails;     /* calls failed in a row */
    ngx_msec_t                   retry_at;  /* once open: calls resume */
} ngx_http_recsys_embed_endpoint_t;


typedef struct {
    ngx_http_recsys_embed_endpoint_t  *endpoint;   /* NULL: none */
    ngx_str_t                    authorization;  /* "Bearer " + the key */
    ngx_str_t                    model;          /* "": the index's */
    ngx_msec_t                   timeout;
    size_t                       max_response;
    time_t                       cache_ttl;
} ngx_http_recsys_embed_conf_t;


typedef struct {
    ngx_http_recsys_index_t     *index;
    ngx_http_complex_value_t    *use_profile;
    ngx_http_recsys_profile_t   *static_profile;
    ngx_str_t                    use_profile_file;
    ngx_uint_t                   use_profile_line;
    ngx_http_complex_value_t    *query;
    ngx_http_complex_value_t    *item;
    ngx_http_complex_value_t    *user;
    ngx_uint_t                   k;
    ngx_uint_t                   candidates;
    size_t                       max_query_length;
    ngx_flag_t                   enable;
    ngx_flag_t                   catalog_patch;
    ngx_flag_t                   understand;
    ngx_uint_t                   format;
    rs_tpl_t                    *tpl;
    ngx_str_t                    cache_control;
    ngx_str_t                    vary;
    ngx_flag_t                   events;
    time_t                       cache_ttl;
    time_t                       cache_stale;
    ngx_flag_t                   cache;       /* recsys_cache: results */
    ngx_flag_t                   exposures;   /* counted in Redis */
    ngx_http_recsys_llm_conf_t   llm;
    ngx_http_recsys_embed_conf_t embed;
    ngx_flag_t                   personalize;
    ngx_int_t                    history_weight;    /* thousandths */
    ngx_uint_t                   history_length;
    ngx_flag_t                   history_exclude;
} ngx_http_recsys_loc_conf_t;


#define NGX_HTTP_RECSYS_FORMAT_JSON  0
#define NGX_HTTP_RECSYS_FORMAT_HTML  1


typedef struct ngx_http_recsys_fetch_s  ngx_http_recsys_fetch_t;
typedef struct ngx_http_recsys_llm_wait_s  ngx_http_recsys_llm_wait_t;
typedef struct ngx_http_recsys_rerank_s  ngx_http_recsys_rerank_t;
typedef struct ngx_http_recsys_embed_wait_s  ngx_http_recsys_embed_wait_t;


#define NGX_HTTP_RECSYS_PHASE_PREPARE    0   /* lookups before ranking */
#define NGX_HTTP_RECSYS_PHASE_RERANK     1   /* ranked, the model may reorder */
#define NGX_HTTP_RECSYS_PHASE_NARRATIVE  2   /* in order, the narrative next */

#define NGX_HTTP_RECSYS_DEGRADED_REDIS   0x01
#define NGX_HTTP_RECSYS_DEGRADED_LLM     0x02
#define NGX_HTTP_RECSYS_DEGRADED_EMBED   0x04


/* what a request decided and what each stage cost, for variables and metrics */
typedef struct {
    ngx_str_t                    profile;
    ngx_str_t                    items;     /* comma-separated ids */
    ngx_uint_t                   format;
    ngx_uint_t                   nitems;
    double                       start_ms;
    double                       us_parse;
    double                       us_embed;
    double                       us_retrieve;
    double                       us_rank;
    double                       us_narrative;
    double                       us_render;
    double                       took_ms;

    /* the request across its waits for Redis and outside services */
    rs_request_t                 req;
    rs_result_t                  result;
    ngx_str_t                    query;
    ngx_str_t                    user;
    ngx_flag_t                   explain;
    ngx_uint_t                   phase;
    double                       narrative_ms;  /* when that phase began */
    ngx_uint_t                   pending;     /* lookups not answered yet */
    ngx_uint_t                   degraded;    /* NGX_HTTP_RECSYS_DEGRADED_* */
    ngx_event_t                  deadline;
    void                       (*expired)(ngx_http_request_t *r);

    const char                  *narrative_source;
    const char                  *summary;     /* NULL: the template's */
    const char                 **reasons;
    ngx_http_recsys_llm_wait_t  *llm;
    ngx_http_recsys_rerank_t    *rerank;
    uint32_t                     want_k;      /* k once reranked */
    ngx_http_recsys_embed_wait_t  *embed;     /* the query's model vector */

    ngx_http_recsys_fetch_t     *fetch;       /* on a subrequest of ours */
    ngx_uint_t                   calls_running;  /* fetches of r, which
                                                    may outlive its answer */
    ngx_str_t                    cache_key;   /* of the result */
    ngx_str_t                    cache_status;

    unsigned                     cold_start:1;
    unsigned                     waiting:1;   /* counted in r->main->count */
    unsigned                     answered:1;
    unsigned                     deadline_cleanup:1;
    unsigned                     cached:1;    /* the result came cached */
    unsigned                     reranked:1;
    unsigned                     embed_cached:1;  /* the vector did */
} ngx_http_recsys_ctx_t;


/* a client's mistake, answered with a 400 and a JSON reason */
typedef struct {
    const char                  *code;
    u_char                       message[256];
} ngx_http_recsys_error_t;


/*
 * The metric families other files feed; their names, label names and help
 * texts are in ngx_http_recsys_metrics.c, in this order.
 */
typedef enum {
    NGX_HTTP_RECSYS_METRIC_REQUESTS = 0,      /* {status,format} */
    NGX_HTTP_RECSYS_METRIC_REQUEST_SECONDS,   /* histogram */
    NGX_HTTP_RECSYS_METRIC_STAGE_SECONDS,     /* histogram {stage} */
    NGX_HTTP_RECSYS_METRIC_EXPOSURES,         /* {variant} */
    NGX_HTTP_RECSYS_METRIC_CLICKS,            /* {variant} */
    NGX_HTTP_RECSYS_METRIC_PURCHASES,         /* {variant} */
    NGX_HTTP_RECSYS_METRIC_CACHE_HITS,        /* {tier} */
    NGX_HTTP_RECSYS_METRIC_CACHE_MISSES,      /* {tier} */
    NGX_HTTP_RECSYS_METRIC_LLM_CALLS,
    NGX_HTTP_RECSYS_METRIC_LLM_ERRORS,        /* {reason} */
    NGX_HTTP_RECSYS_METRIC_LLM_TIMEOUTS,
    NGX_HTTP_RECSYS_METRIC_LLM_REJECTIONS,    /* {reason} */
    NGX_HTTP_RECSYS_METRIC_LLM_TOKENS,        /* {kind} */
    NGX_HTTP_RECSYS_METRIC_DEGRADED,          /* {component} */
    NGX_HTTP_RECSYS_METRIC_LLM_SUCCESSES,
    NGX_HTTP_RECSYS_METRIC_LLM_SECONDS,       /* histogram */
    NGX_HTTP_RECSYS_METRIC_REDIS_ERRORS,      /* {reason} */
    NGX_HTTP_RECSYS_METRIC_REDIS_RECONNECTS,
    NGX_HTTP_RECSYS_METRIC_REDIS_CIRCUIT,     /* gauge */
    NGX_HTTP_RECSYS_METRIC_POPULARITY_REFRESHES,  /* {result} */
    NGX_HTTP_RECSYS_METRIC_POPULARITY_ITEMS,  /* gauge */
    NGX_HTTP_RECSYS_METRIC_EMBED_CALLS,
    NGX_HTTP_RECSYS_METRIC_EMBED_ERRORS,      /* {reason} */
    NGX_HTTP_RECSYS_METRIC_EMBED_SECONDS,     /* histogram */
    NGX_HTTP_RECSYS_METRIC_NFAMILIES
} ngx_http_recsys_metric_e;


extern ngx_module_t  ngx_http_recsys_module;


ngx_shm_zone_t *ngx_http_recsys_shm_zone_add(ngx_conf_t *cf, ngx_str_t *arg,
    void *tag);
char *ngx_http_recsys_index_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_profile_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_use_profile(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_recsys_merge_profile(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);
const rs_profile_t *ngx_http_recsys_find_profile(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf);
ngx_int_t ngx_http_recsys_add_variables(ngx_conf_t *cf);

char *ngx_http_recsys_overlay_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_catalog_patch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* the live overlay for this index, NULL without a zone or a match */
void *ngx_http_recsys_overlay_data(ngx_http_request_t *r,
    ngx_http_recsys_index_t *index);
int ngx_http_recsys_overlay_view(void *data, uint32_t item, rs_view_t *view);
uint64_t ngx_http_recsys_overlay_stamp(void *data);
ngx_int_t ngx_http_recsys_overlay_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);
ngx_int_t ngx_http_recsys_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_recsys_parse_args(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, rs_request_t *req,
    ngx_str_t *query, ngx_str_t *user, ngx_flag_t *explain,
    ngx_http_recsys_error_t *err);
ngx_int_t ngx_http_recsys_send_answer(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, const rs_engine_t *engine,
    const rs_render_t *render, ngx_uint_t format);
ngx_int_t ngx_http_recsys_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *allow, const char *code,
    const char *message);
ngx_int_t ngx_http_recsys_send_object(ngx_http_request_t *r,
    ngx_uint_t status, void *object);
ngx_int_t ngx_http_recsys_read_body(ngx_http_request_t *r, off_t max,
    ngx_str_t *body);
void *ngx_http_recsys_parse_body(ngx_str_t *body, u_char *msg, size_t size);
/* obj is a json_t object of the body */
typedef ngx_int_t (*ngx_http_recsys_element_pt)(void *data, void *obj,
    const char **code, u_char *msg, size_t size);
ngx_int_t ngx_http_recsys_parse_elements(ngx_str_t *body, ngx_uint_t max,
    const char *noun, const char *nouns, const char *invalid,
    const char *too_many, ngx_http_recsys_element_pt element, void *data,
    const char **code, u_char *msg, size_t size);

ngx_int_t ngx_http_recsys_html_init_main(ngx_conf_t *cf,
    ngx_http_recsys_main_conf_t *rmcf);
ngx_int_t ngx_http_recsys_html_merge(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);
char *ngx_http_recsys_format_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_template_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_recsys_negotiate(ngx_http_request_t *r,
    ngx_http_recsys_loc_conf_t *rlcf, ngx_uint_t *format,
    ngx_http_recsys_error_t *err);

/* rc: NGX_OK, NGX_ERROR (failed, no reply), NGX_DECLINED (over the cap) */
typedef void (*ngx_http_recsys_fetch_pt)(ngx_http_request_t *r, void *data,
    ngx_int_t rc, ngx_uint_t status, ngx_str_t *body);

ngx_int_t ngx_http_recsys_fetch(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *body, ngx_str_t *authorization, size_t max,
    ngx_http_recsys_fetch_pt handler, void *data,
    ngx_http_recsys_fetch_t **fetch);
void ngx_http_recsys_fetch_abandon(ngx_http_recsys_fetch_t *f);
ngx_log_t *ngx_http_recsys_private_log(ngx_http_request_t *r);
ngx_int_t ngx_http_recsys_fetch_init(ngx_conf_t *cf);
/* a metric label for a failed fetch, NULL for a complete 2xx reply */
const char *ngx_http_recsys_fetch_failure(ngx_int_t rc, ngx_uint_t status);

/*
 * What an rs_write_pt writes (an answer, a subrequest's body), gathered in
 * pool buffers of 4k or more.
 */
typedef struct {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *buf;
    size_t                       size;
} ngx_http_recsys_body_writer_t;

void ngx_http_recsys_body_writer_init(ngx_http_recsys_body_writer_t *wr,
    ngx_pool_t *pool);

int ngx_http_recsys_body_write(const char *buf, size_t size, void *data);
ngx_int_t ngx_http_recsys_body_join(ngx_http_recsys_body_writer_t *wr,
    ngx_str_t *body);

/*
 * A call to an outside service in flight, in the pool of the request that
 * started it, shared by every request of the worker that needs the same
 * answer (the same key).
 */
typedef struct {
    ngx_str_node_t               node;      /* in rmcf->calls */
    ngx_queue_t                  waiters;   /* ngx_http_recsys_call_wait_t */
    ngx_http_request_t          *r;
    ngx_http_recsys_fetch_t     *fetch;
    ngx_msec_t                   started;
    unsigned                     in_tree:1;
} ngx_http_recsys_call_t;

/* a request waiting for a call's answer, in the request's pool */
typedef struct {
    ngx_queue_t                  queue;     /* in call->waiters */
    ngx_http_request_t          *r;
    ngx_http_recsys_call_t      *call;      /* NULL: out of its queue */
    ngx_event_t                  done;      /* wakes r, posted */
    unsigned                     counted:1; /* in ctx->pending */
} ngx_http_recsys_call_wait_t;

ngx_http_recsys_call_t *ngx_http_recsys_call_find(ngx_http_request_t *r,
    ngx_str_t *key);
ngx_int_t ngx_http_recsys_call_start(ngx_http_request_t *r,
    ngx_http_recsys_call_t *call, ngx_str_t *key, ngx_str_t *uri,
    ngx_str_t *body, ngx_str_t *authorization, size_t max,
    ngx_http_recsys_fetch_pt handler);
void ngx_http_recsys_call_end(ngx_http_recsys_call_t *call);
ngx_http_recsys_call_wait_t *ngx_http_recsys_call_next(
    ngx_http_recsys_call_t *call);
ngx_int_t ngx_http_recsys_call_join(ngx_http_recsys_call_t *call,
    ngx_http_recsys_call_wait_t *w);
ngx_int_t ngx_http_recsys_call_leave(ngx_http_recsys_call_wait_t *w);

/* the request pipeline: a lookup of r ended; foreign: outside r's events */
void ngx_http_recsys_wake(ngx_http_request_t *r, ngx_uint_t foreign);
void ngx_http_recsys_wait_until(ngx_http_request_t *r, ngx_msec_t timeout,
    void (*expired)(ngx_http_request_t *r));

/* "Bearer " and the key of a file, into the ngx_str_t at cmd->offset */
char *ngx_http_recsys_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_llm_temperature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_prompt_template(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_llm_banned_terms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_recsys_llm_create_conf(ngx_http_recsys_llm_conf_t *conf);
ngx_int_t ngx_http_recsys_llm_merge(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf, ngx_http_recsys_loc_conf_t *prev);
ngx_int_t ngx_http_recsys_llm_init_main(ngx_conf_t *cf,
    ngx_http_recsys_main_conf_t *rmcf);
/* NGX_OK: settled; NGX_AGAIN: r waits (ctx->pending); NGX_ERROR */
ngx_int_t ngx_http_recsys_rerank(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);
ngx_int_t ngx_http_recsys_narrative(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);

char *ngx_http_recsys_embed_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_recsys_embed_create_conf(ngx_http_recsys_embed_conf_t *conf);
ngx_int_t ngx_http_recsys_embed_merge(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf, ngx_http_recsys_loc_conf_t *prev);
/* the model a location embeds queries with; empty: none */
void ngx_http_recsys_embed_model(ngx_http_request_t *r, ngx_str_t *model);
/* the query's model vector into ctx->req, or started (ctx->pending) */
ngx_int_t ngx_http_recsys_embed_query(ngx_http_request_t *r,
    ngx_http_recsys_ctx_t *ctx);

char *ngx_http_recsys_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_recsys_metrics_init(ngx_conf_t *cf);
/*
 * For worker processes, no-ops without a "recsys_metrics_zone": labels holds
 * one value per label name of the family (NULL for a family without labels).
 */
void ngx_http_recsys_metrics_count(ngx_uint_t family, ngx_str_t *labels,
    ngx_uint_t n);
void ngx_http_recsys_metrics_count_label(ngx_uint_t family,
    const char *label);
void ngx_http_recsys_metrics_observe(ngx_uint_t family, ngx_str_t *labels,
    double seconds);
void ngx_http_recsys_metrics_set(ngx_uint_t family, ngx_str_t *labels,
    ngx_int_t value);


typedef struct ngx_http_recsys_redis_s  ngx_http_recsys_redis_t;

struct redisReply;

/* one command of a pipeline: the arguments are copied when it is queued */
typedef struct {
    int                          argc;
    const char                 **argv;
    size_t                      *argvlen;
} ngx_http_recsys_redis_cmd_t;

/*
 * Called exactly once per accepted send, never from within the send:
 * rc is NGX_OK when every reply arrived (errors counts the replies that
 * are Redis errors; reply is the last command's, valid during the call
 * only), NGX_ERROR when the connection failed first, NGX_AGAIN when the
 * "timeout" of recsys_redis expired first.  Not called when the request
 * is freed first, or, for a send without a request, when the worker
 * exits first.
 */
typedef void (*ngx_http_recsys_redis_handler_pt)(void *data, ngx_int_t rc,
    struct redisReply *reply, ngx_uint_t errors);

char *ngx_http_recsys_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_recsys_redis_send(ngx_http_request_t *r,
    ngx_http_recsys_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_recsys_redis_handler_pt handler, void *data);
/* to a given client (rmcf->redis or rmcf->redis_write); r may be NULL */
ngx_int_t ngx_http_recsys_redis_send_to(ngx_http_recsys_redis_t *redis,
    ngx_http_request_t *r, ngx_http_recsys_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_recsys_redis_handler_pt handler, void *data);
ngx_int_t ngx_http_recsys_redis_command(ngx_http_request_t *r,
    ngx_http_recsys_redis_handler_pt handler, void *data, int argc,
    const char **argv, size_t *argvlen);
time_t ngx_http_recsys_redis_retry_after(ngx_http_recsys_redis_t *redis,
    const char **reason);

/*
 * The two-tier cache (ngx_http_recsys_cache.c): tier 1 is the node's
 * "recsys_cache_zone", tier 2 Redis.  A state is what a lookup found.
 */
#define NGX_HTTP_RECSYS_CACHE_MISS      0
#define NGX_HTTP_RECSYS_CACHE_HIT       1
#define NGX_HTTP_RECSYS_CACHE_STALE     2   /* past ttl, inside stale=:
                                               serve it and refresh it */
#define NGX_HTTP_RECSYS_CACHE_NEGATIVE  3   /* a remembered failure */
#define NGX_HTTP_RECSYS_CACHE_UPDATING  4   /* stale, and another request
                                               refreshes it: serve it */

#define NGX_HTTP_RECSYS_CACHE_DEFAULT_TTL    300     /* seconds */
#define NGX_HTTP_RECSYS_CACHE_DEFAULT_STALE  60

/*
 * rc NGX_OK with a state and value (MISS: empty; HIT, STALE, NEGATIVE:
 * in r->pool), or NGX_ERROR (Redis failed, or no memory) or NGX_AGAIN
 * (Redis timed out) with value NULL.
 */
typedef void (*ngx_http_recsys_cache_handler_pt)(ngx_http_request_t *r,
    void *data, ngx_int_t rc, ngx_uint_t state, ngx_str_t *value);

char *ngx_http_recsys_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_cache_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* tier 1, synchronous: a state, or NGX_ERROR (no memory) */
ngx_int_t ngx_http_recsys_cache_get(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value);
/* both tiers; Redis: SET key value PX (ttl + stale), not waited for */
void ngx_http_recsys_cache_put(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value, time_t ttl, ngx_uint_t negative);
/* tier 2, asynchronous: NGX_OK (handler called later), NGX_DECLINED, or
 * NGX_ERROR; a Redis hit is copied into tier 1 */
ngx_int_t ngx_http_recsys_cache_fetch(ngx_http_request_t *r, ngx_str_t *key,
    ngx_http_recsys_cache_handler_pt handler, void *data);
ngx_int_t ngx_http_recsys_cache_key(ngx_http_request_t *r, const char *kind,
    const rs_profile_t *profile, ngx_str_t *parts, ngx_uint_t nparts,
    ngx_str_t *key);

char *ngx_http_recsys_user_salt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_recsys_events_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);
void ngx_http_recsys_events_exposures(ngx_http_request_t *r,
    ngx_str_t *variant, ngx_uint_t n);
ngx_int_t ngx_http_recsys_user_keys(ngx_http_request_t *r,
    const u_char *user, size_t len, ngx_str_t *recent, ngx_str_t *purchased);

/*
 * A shopper's history, for ngx_http_recsys_history_fetch(): rc is NGX_OK
 * with the rows of the recent items (newest first) and of the purchased
 * ones in the index of the request's location (unknown ids left out,
 * either list may be empty), or NGX_ERROR (Redis failed, or its reply was
 * not the expected one) or NGX_AGAIN (timeout) with none.  The lists are
 * in the request's pool.  Called from a Redis event, outside the
 * request's handlers: finalize the request and run the posted requests
 * there, as the events endpoint does.
 */
typedef void (*ngx_http_recsys_history_pt)(ngx_http_request_t *r,
    void *data, ngx_int_t rc, uint32_t *recent, size_t nrecent,
    uint32_t *purchased, size_t npurchased);

char *ngx_http_recsys_history_weight(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_recsys_personal_check(ngx_conf_t *cf,
    ngx_http_recsys_loc_conf_t *conf);
ngx_int_t ngx_http_recsys_history_fetch(ngx_http_request_t *r,
    ngx_str_t *user, ngx_http_recsys_history_pt handler, void *data);
void ngx_http_recsys_history_set(ngx_http_request_t *r, rs_request_t *req,
    uint32_t *recent, size_t nrecent, uint32_t *purchased,
    size_t npurchased);

char *ngx_http_recsys_popularity_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_recsys_popularity_refresh(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_recsys_popularity_init(ngx_conf_t *cf);
ngx_int_t ngx_http_recsys_popularity_init_process(ngx_cycle_t *cycle);
/* the live popularity of an index for rs_request_t, NULL: none */
const rs_popularity_t *ngx_http_recsys_popularity(ngx_http_request_t *r,
    ngx_http_recsys_index_t *index);


#endif /* _NGX_HTTP_RECSYS_MODULE_H_INCLUDED_ */
