/*
 * Copyright (C) ngx_recsys authors
 *
 * The CLI's client of an OpenAI-compatible embeddings endpoint: batches
 * sent through libcurl's multi interface, several in flight, retried with
 * exponential backoff and jitter on 429, 5xx and network errors, at least
 * as late as the server's Retry-After.  libcurl never enters the module.
 */

#ifndef RS_EMBED_HTTP_H
#define RS_EMBED_HTTP_H


#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "rs_build.h"


/* a Retry-After beyond this is an outage, not throttling */
#define RS_EMBED_HTTP_RETRY_AFTER_MAX  300


typedef struct {
    const char                   *endpoint;     /* the URL to POST to */
    const char                   *model;
    const char                   *api_key;      /* NULL: none sent */
    size_t                        batch;
    size_t                        concurrency;
    unsigned                      retries;      /* after the first attempt */
    double                        timeout;      /* seconds per attempt */
    double                        backoff;      /* seconds, doubled per retry */
    double                        backoff_max;
    volatile sig_atomic_t        *stop;         /* set: drain, then fail */
    rs_progress_pt                progress;
    void                         *progress_data;
    FILE                         *log;          /* retries; NULL: quiet */
} rs_embed_http_conf_t;


typedef struct {
    size_t                        batches;
    size_t                        requests;
    size_t                        retries;
} rs_embed_http_stats_t;


/*
 * Embeds the n jobs in batches of consecutive jobs, handing each batch to
 * done as it arrives.  After a fatal error or a stop, the requests in
 * flight are still completed and handed over (their vectors are paid
 * for), no new one is started, and -1 is returned with the first error.
 */
int rs_embed_http(const rs_embed_http_conf_t *conf,
    const rs_embed_job_t *jobs, size_t n, rs_build_vectors_pt done,
    void *build, rs_embed_http_stats_t *stats, char *err, size_t errlen);

/* "host[:port]" of an endpoint URL, without user or password; 0 or -1 */
int rs_embed_http_host(const char *url, char *host, size_t len);


#endif /* RS_EMBED_HTTP_H */
