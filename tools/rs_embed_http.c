/*
 * Copyright (C) ngx_recsys authors
 */


#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rs_embed.h"
#include "rs_embed_http.h"
#include "rs_openai.h"
#include "rs_util.h"


#define RS_HTTP_EXCERPT     160
#define RS_HTTP_POLL_MS     100

/* what the largest reply may need: numbers of about 20 bytes, and slack */
#define RS_HTTP_REPLY_MAX(n)  ((n) * RS_EMBED_MAX_DIM * 32 + (1 << 20))


typedef struct {
    size_t                        first;        /* job */
    size_t                        n;
    size_t                        number;       /* 1-based, for messages */
    unsigned                      attempts;
    double                        not_before;
    long                          retry_after;  /* seconds; -1: none */
    CURL                         *easy;
    rs_buf_t                      body;
    rs_buf_t                      reply;
    char                          error[CURL_ERROR_SIZE];
    unsigned                      waiting:1;    /* for its retry */
} rs_http_batch_t;


typedef struct {
    const rs_embed_http_conf_t   *conf;
    const rs_embed_job_t         *jobs;
    rs_build_vectors_pt           done;
    void                         *build;
    rs_embed_http_stats_t        *stats;
    CURLM                        *multi;
    struct curl_slist            *headers;
    rs_http_batch_t              *batches;
    size_t                        nbatches;
    size_t                        next;         /* first batch never sent */
    size_t                        finished;
    size_t                        njobs;
    size_t                        jobs_done;
    size_t                        in_flight;
    float                        *vectors;      /* the reply being read */
    unsigned                      seed;
    int                           failed;
    char                         *err;
    size_t                        errlen;
} rs_http_ctx_t;


static double rs_http_now(void);
static size_t rs_http_write(char *ptr, size_t size, size_t nmemb,
    void *data);
static size_t rs_http_header(char *buf, size_t size, size_t nitems,
    void *data);
static void rs_http_fail(rs_http_ctx_t *ctx, const rs_http_batch_t *b,
    const char *fmt, ...);
static void rs_http_excerpt(const rs_buf_t *b, char *out, size_t len);
static int rs_http_start(rs_http_ctx_t *ctx, rs_http_batch_t *b);
static rs_http_batch_t *rs_http_pick(rs_http_ctx_t *ctx, double now,
    double *wake);
static void rs_http_finish(rs_http_ctx_t *ctx, rs_http_batch_t *b,
    CURLcode code);
static void rs_http_retry(rs_http_ctx_t *ctx, rs_http_batch_t *b,
    const char *what);
static void rs_http_deliver(rs_http_ctx_t *ctx, rs_http_batch_t *b);
static int rs_http_retryable(CURLcode code);


static double
rs_http_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static size_t
rs_http_write(char *ptr, size_t size, size_t nmemb, void *data)
{
    /* anything but the full size makes libcurl abort the transfer */
    return rs_buf_add(data, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}


/* Retry-After: seconds, or an HTTP date */

static size_t
rs_http_header(char *buf, size_t size, size_t nitems, void *data)
{
    char              value[128];
    size_t            len, n;
    time_t            when;
    rs_http_batch_t  *b;

    b = data;
    len = size * nitems;
    n = sizeof("Retry-After:") - 1;

    if (len <= n || strncasecmp(buf, "Retry-After:", n) != 0) {
        return len;
    }

    buf += n;
    len -= n;

    while (len && (*buf == ' ' || *buf == '\t')) {
        buf++;
        len--;
    }

    while (len && isspace((unsigned char) buf[len - 1])) {
        len--;
    }

    if (len == 0 || len >= sizeof(value)) {
        return size * nitems;
    }

    memcpy(value, buf, len);
    value[len] = '\0';

    if (strspn(value, "0123456789") == len) {
        b->retry_after = len > 9 ? 1000000000L : atol(value);

    } else {
        when = curl_getdate(value, NULL);

        if (when != -1) {
            b->retry_after = when > time(NULL) ? (long) (when - time(NULL))
                                               : 0;
        }
    }

    return size * nitems;
}


static void
rs_http_fail(rs_http_ctx_t *ctx, const rs_http_batch_t *b, const char *fmt,
    ...)
{
    int      n;
    va_list  args;

    if (ctx->failed) {
        return;
    }

    ctx->failed = 1;

    n = snprintf(ctx->err, ctx->errlen, "batch %zu (items %zu-%zu): ",
                 b->number, b->first + 1, b->first + b->n);

    if (n < 0 || (size_t) n >= ctx->errlen) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(ctx->err + n, ctx->errlen - n, fmt, args);
    va_end(args);
}


/* the start of an error body, on one line, for a message */

static void
rs_http_excerpt(const rs_buf_t *b, char *out, size_t len)
{
    size_t  i, n;

    n = b->len < len - 1 ? b->len : len - 1;

    for (i = 0; i < n; i++) {
        out[i] = isprint((unsigned char) b->data[i]) ? b->data[i] : ' ';
    }

    out[n] = '\0';

    if (n == 0) {
        snprintf(out, len, "(empty body)");
    }
}


static int
rs_http_retryable(CURLcode code)
{
    switch (code) {

    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;

    default:
        return 0;
    }
}


static int
rs_http_start(rs_http_ctx_t *ctx, rs_http_batch_t *b)
{
    size_t                       i;
    const char                  *texts[RS_OPENAI_MAX_BATCH];
    size_t                       lens[RS_OPENAI_MAX_BATCH];
    const rs_embed_http_conf_t  *conf;

    conf = ctx->conf;

    if (b->body.len == 0) {
        for (i = 0; i < b->n; i++) {
            texts[i] = ctx->jobs[b->first + i].text;
            lens[i] = ctx->jobs[b->first + i].len;
        }

        if (rs_openai_request_json(conf->model, texts, lens, b->n,
                                   rs_buf_write, &b->body)
            != 0)
        {
            rs_http_fail(ctx, b, "cannot build the request (out of memory, "
                         "or a text that is not UTF-8)");
            return -1;
        }
    }

    b->easy = curl_easy_init();
    if (b->easy == NULL) {
        rs_http_fail(ctx, b, "cannot start a request: out of memory");
        return -1;
    }

    free(b->reply.data);
    memset(&b->reply, 0, sizeof(rs_buf_t));
    b->reply.max = RS_HTTP_REPLY_MAX(b->n);
    b->retry_after = -1;
    b->error[0] = '\0';
    b->waiting = 0;
    b->attempts++;

    curl_easy_setopt(b->easy, CURLOPT_URL, conf->endpoint);
    curl_easy_setopt(b->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(b->easy, CURLOPT_POSTFIELDS, b->body.data);
    curl_easy_setopt(b->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) b->body.len);
    curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, ctx->headers);
    curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, rs_http_write);
    curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, &b->reply);
    curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, rs_http_header);
    curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(b->easy, CURLOPT_ERRORBUFFER, b->error);
    curl_easy_setopt(b->easy, CURLOPT_PRIVATE, b);
    curl_easy_setopt(b->easy, CURLOPT_TIMEOUT_MS,
                     (long) (conf->timeout * 1000));
    curl_easy_setopt(b->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) ((conf->timeout < 10 ? conf->timeout : 10)
                             * 1000));
    curl_easy_setopt(b->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b->easy, CURLOPT_USERAGENT, "recsys-index");
    curl_easy_setopt(b->easy, CURLOPT_ACCEPT_ENCODING, "");

    if (curl_multi_add_handle(ctx->multi, b->easy) != CURLM_OK) {
        curl_easy_cleanup(b->easy);
        b->easy = NULL;
        rs_http_fail(ctx, b, "cannot start a request");
        return -1;
    }

    ctx->in_flight++;
    ctx->stats->requests++;

    return 0;
}


/*
 * The retry that is due first, else the next batch, unless a retry is
 * still waiting: an endpoint that throttles or fails gets no new batch
 * before its backoff is over.  *wake: when the next retry is due.
 */

static rs_http_batch_t *
rs_http_pick(rs_http_ctx_t *ctx, double now, double *wake)
{
    size_t            i;
    rs_http_batch_t  *b, *due;

    due = NULL;
    *wake = 0;

    for (i = 0; i < ctx->next; i++) {
        b = &ctx->batches[i];

        if (!b->waiting) {
            continue;
        }

        if (b->not_before <= now) {
            if (due == NULL || b->not_before < due->not_before) {
                due = b;
            }

        } else if (*wake == 0 || b->not_before < *wake) {
            *wake = b->not_before;
        }
    }

    if (due == NULL && *wake == 0 && ctx->next < ctx->nbatches) {
        due = &ctx->batches[ctx->next++];
    }

    return due;
}


static void
rs_http_retry(rs_http_ctx_t *ctx, rs_http_batch_t *b, const char *what)
{
    double                       delay, base;
    const rs_embed_http_conf_t  *conf;

    conf = ctx->conf;

    if (b->attempts > conf->retries) {
        rs_http_fail(ctx, b, "%s after %u attempt%s", what, b->attempts,
                     b->attempts == 1 ? "" : "s");
        return;
    }

    if (b->retry_after > RS_EMBED_HTTP_RETRY_AFTER_MAX) {
        rs_http_fail(ctx, b, "%s, and the endpoint asks to retry after %ld "
                     "seconds", what, b->retry_after);
        return;
    }

    /* equal jitter: half the exponential delay, plus up to as much again */
    base = conf->backoff_max;

    if (b->attempts <= 30) {
        base = conf->backoff * (double) (1UL << (b->attempts - 1));
    }

    if (base > conf->backoff_max) {
        base = conf->backoff_max;
    }

    delay = base / 2 + base / 2 * ((double) rand_r(&ctx->seed) / RAND_MAX);

    if (b->retry_after >= 0 && delay < (double) b->retry_after) {
        delay = (double) b->retry_after;
    }

    b->not_before = rs_http_now() + delay;
    b->waiting = 1;
    ctx->stats->retries++;

    if (conf->log != NULL) {
        fprintf(conf->log, "batch %zu: %s, retrying in %.1fs (attempt %u "
                "of %u)\n", b->number, what, delay, b->attempts + 1,
                conf->retries + 1);
    }
}


static void
rs_http_deliver(rs_http_ctx_t *ctx, rs_http_batch_t *b)
{
    char                   reason[512];
    size_t                 which;
    uint32_t               dim;
    const rs_embed_job_t  *job;

    if (rs_openai_parse_reply(b->reply.data, b->reply.len, b->n,
                              RS_EMBED_MAX_DIM, ctx->vectors, &dim, &which,
                              reason, sizeof(reason))
        != 0)
    {
        if (which == SIZE_MAX) {
            rs_http_fail(ctx, b, "%s", reason);

        } else {
            job = &ctx->jobs[b->first + which];
            rs_http_fail(ctx, b, "item \"%s\": %s", job->id, reason);
        }

        return;
    }

    if (ctx->done(ctx->build, b->first, b->n, ctx->vectors, dim, reason,
                  sizeof(reason))
        != 0)
    {
        rs_http_fail(ctx, b, "%s", reason);
        return;
    }

    ctx->finished++;
    ctx->jobs_done += b->n;
    ctx->stats->batches++;

    if (ctx->conf->progress != NULL) {
        ctx->conf->progress(ctx->conf->progress_data, "embedding (model)",
                            ctx->jobs_done, ctx->njobs);
    }
}


static void
rs_http_finish(rs_http_ctx_t *ctx, rs_http_batch_t *b, CURLcode code)
{
    long  status;
    char  what[512], excerpt[RS_HTTP_EXCERPT];

    status = 0;
    curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(ctx->multi, b->easy);
    curl_easy_cleanup(b->easy);
    b->easy = NULL;
    ctx->in_flight--;

    if (code != CURLE_OK) {
        snprintf(what, sizeof(what), "%s",
                 b->error[0] ? b->error : curl_easy_strerror(code));

        if (!rs_http_retryable(code)) {
            rs_http_fail(ctx, b, "%s", what);

        } else if (!ctx->failed && !*ctx->conf->stop) {
            rs_http_retry(ctx, b, what);
        }

        return;
    }

    if (status == 200) {
        rs_http_deliver(ctx, b);
        return;
    }

    rs_http_excerpt(&b->reply, excerpt, sizeof(excerpt));
    snprintf(what, sizeof(what), "HTTP %ld: %s", status, excerpt);

    if (status == 429 || status >= 500) {
        if (!ctx->failed && !*ctx->conf->stop) {
            rs_http_retry(ctx, b, what);
        }

        return;
    }

    rs_http_fail(ctx, b, "%s", what);
}


int
rs_embed_http(const rs_embed_http_conf_t *conf, const rs_embed_job_t *jobs,
    size_t n, rs_build_vectors_pt done, void *build,
    rs_embed_http_stats_t *stats, char *err, size_t errlen)
{
    int               running, numfds, rc, completed;
    char              auth[1024];
    long              wait_ms;
    size_t            i, batch;
    double            now, wake;
    CURLMsg          *msg;
    rs_http_ctx_t     ctx;
    rs_http_batch_t  *b;

    memset(&ctx, 0, sizeof(ctx));
    memset(stats, 0, sizeof(rs_embed_http_stats_t));

    batch = conf->batch < RS_OPENAI_MAX_BATCH ? conf->batch
                                              : RS_OPENAI_MAX_BATCH;
    ctx.conf = conf;
    ctx.jobs = jobs;
    ctx.njobs = n;
    ctx.done = done;
    ctx.build = build;
    ctx.stats = stats;
    ctx.err = err;
    ctx.errlen = errlen;
    ctx.seed = (unsigned) time(NULL) ^ (unsigned) getpid();
    ctx.nbatches = (n + batch - 1) / batch;
    ctx.batches = calloc(ctx.nbatches, sizeof(rs_http_batch_t));
    ctx.vectors = malloc(batch * RS_EMBED_MAX_DIM * sizeof(float));
    ctx.multi = curl_multi_init();
    ctx.headers = curl_slist_append(NULL, "Content-Type: application/json");

    /* libcurl would wait for a "100 Continue" before a large batch */
    if (ctx.headers != NULL) {
        ctx.headers = curl_slist_append(ctx.headers, "Expect:");
    }

    if (conf->api_key != NULL && ctx.headers != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                 conf->api_key);
        ctx.headers = curl_slist_append(ctx.headers, auth);
        memset(auth, 0, sizeof(auth));
    }

    rc = -1;

    if (ctx.batches == NULL || ctx.vectors == NULL || ctx.multi == NULL
        || ctx.headers == NULL)
    {
        rs_errf(err, errlen, "out of memory");
        goto done;
    }

    for (i = 0; i < ctx.nbatches; i++) {
        ctx.batches[i].first = i * batch;
        ctx.batches[i].n = n - i * batch < batch ? n - i * batch : batch;
        ctx.batches[i].number = i + 1;
    }

    curl_multi_setopt(ctx.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long) conf->concurrency);

    while (ctx.finished < ctx.nbatches) {
        now = rs_http_now();
        wake = 0;

        while (!ctx.failed && !*conf->stop
               && ctx.in_flight < conf->concurrency)
        {
            b = rs_http_pick(&ctx, now, &wake);
            if (b == NULL || rs_http_start(&ctx, b) != 0) {
                break;
            }
        }

        if (ctx.in_flight == 0 && (ctx.failed || *conf->stop)) {
            break;
        }

        if (curl_multi_perform(ctx.multi, &running) != CURLM_OK) {
            rs_errf(err, errlen, "libcurl failed");
            goto done;
        }

        completed = 0;

        while ((msg = curl_multi_info_read(ctx.multi, &numfds)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &b);
            rs_http_finish(&ctx, b, msg->data.result);
            completed = 1;
        }

        /* a finished request frees a slot for the next batch at once */
        if (completed || ctx.finished == ctx.nbatches) {
            continue;
        }

        wait_ms = RS_HTTP_POLL_MS;

        if (wake > 0 && (wake - rs_http_now()) * 1000 < wait_ms) {
            wait_ms = (long) ((wake - rs_http_now()) * 1000);
            wait_ms = wait_ms < 0 ? 0 : wait_ms;
        }

        curl_multi_poll(ctx.multi, NULL, 0, (int) wait_ms, &numfds);
    }

    if (!ctx.failed && ctx.finished < ctx.nbatches) {
        rs_errf(err, errlen, "interrupted: %zu of %zu texts embedded and "
                "kept in the checkpoint; run the same command again to "
                "resume", ctx.jobs_done, n);
        goto done;
    }

    rc = ctx.failed ? -1 : 0;

done:

    for (i = 0; ctx.batches != NULL && i < ctx.nbatches; i++) {
        if (ctx.batches[i].easy != NULL) {
            curl_multi_remove_handle(ctx.multi, ctx.batches[i].easy);
            curl_easy_cleanup(ctx.batches[i].easy);
        }

        free(ctx.batches[i].body.data);
        free(ctx.batches[i].reply.data);
    }

    if (ctx.multi != NULL) {
        curl_multi_cleanup(ctx.multi);
    }

    curl_slist_free_all(ctx.headers);
    free(ctx.batches);
    free(ctx.vectors);

    return rc;
}


int
rs_embed_http_host(const char *url, char *host, size_t len)
{
    int     rc;
    char   *h, *port;
    CURLU  *u;

    u = curl_url();
    if (u == NULL) {
        return -1;
    }

    h = NULL;
    port = NULL;
    rc = -1;

    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
    {
        curl_url_get(u, CURLUPART_PORT, &port, 0);

        if (port != NULL) {
            snprintf(host, len, "%s:%s", h, port);

        } else {
            snprintf(host, len, "%s", h);
        }

        rc = 0;
    }

    curl_free(h);
    curl_free(port);
    curl_url_cleanup(u);

    return rc;
}
