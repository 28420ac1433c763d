/*
 * Copyright (C) ngx_recsys authors
 *
 * recsys-index: builds, inspects and benchmarks ngx_recsys index
 * directories offline, with the same core code the module runs.
 */


#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rs_arena.h"
#include "rs_build.h"
#include "rs_embed_http.h"
#include "rs_engine.h"
#include "rs_gen.h"
#include "rs_openai.h"
#include "rs_render.h"


#define RS_CLI_VERSION      "0.1.0"
#define RS_CLI_BACKOFF_MAX  30.0
#define RS_CLI_KEY_MAX      512


typedef struct {
    const char  *path;
    size_t       rejected;
    size_t       warnings;
    int          quiet;
} rs_cli_report_t;


typedef struct {
    int          enabled;
    double       start;
    double       last;
} rs_cli_progress_t;


typedef struct {
    rs_request_t  req;
    int           explain;
    const char   *item;
} rs_cli_query_t;


typedef struct {
    rs_embed_http_conf_t   http;
    rs_embed_http_stats_t  stats;
    char                   host[256];
    char                   key[RS_CLI_KEY_MAX];
    double                 seconds;
    int                    quiet;
} rs_cli_embed_t;


static int rs_cli_build(int argc, char **argv);
static int rs_cli_build_openai(rs_build_conf_t *conf, rs_cli_embed_t *em,
    const char *endpoint, const char *key_file);
static int rs_cli_read_key(const char *path, char *key, size_t len);
static int rs_cli_embed(void *data, const rs_embed_job_t *jobs, size_t n,
    rs_build_vectors_pt done, void *build, char *err, size_t errlen);
static void rs_cli_interrupt(int signo);
static int rs_cli_gen(int argc, char **argv);
static int rs_cli_query(int argc, char **argv);
static int rs_cli_bench(int argc, char **argv);
static void rs_cli_usage(FILE *f);
static double rs_cli_now(void);
static void rs_cli_report(void *data, size_t line, int is_error,
    const char *reason);
static void rs_cli_progress(void *data, const char *stage, size_t done,
    size_t total);
static int rs_cli_write_file(void *data, const char *buf, size_t len);
static int rs_cli_write_stdout(const char *buf, size_t size, void *data);
static int rs_cli_count(const char *buf, size_t size, void *data);
static int rs_cli_number(const char *opt, const char *s, double min,
    double max, double *out);
static int rs_cli_filter_option(int c, const char *arg, rs_filter_t *f);
static int rs_cli_cmp_double(const void *a, const void *b);
static void rs_cli_bench_profile(rs_profile_t *p, const rs_store_t *st);
static void rs_cli_bench_line(const char *name, double *v, size_t n);


static const struct option  rs_cli_filter_options[] = {
    { "k", required_argument, NULL, 'k' },
    { "item", required_argument, NULL, 'i' },
    { "category", required_argument, NULL, 'c' },
    { "brand", required_argument, NULL, 'b' },
    { "min-price", required_argument, NULL, 'm' },
    { "max-price", required_argument, NULL, 'M' },
    { "in-stock", no_argument, NULL, 's' },
    { "explain", no_argument, NULL, 'e' },
    { "candidates", required_argument, NULL, 'C' },
    { "iterations", required_argument, NULL, 'n' },
    { NULL, 0, NULL, 0 }
};


/* set by SIGINT or SIGTERM: a build keeps what is embedded, then stops */
static volatile sig_atomic_t  rs_cli_stop;


/* the benchmark's shopper queries, rotated so no single one is cached */
static const char  *rs_cli_bench_queries[] = {
    "running shoes", "running shoes under 100", "trail running shoes",
    "lightweight laptop", "gaming laptop 16gb", "noise cancelling headphones",
    "wireless earbuds", "cast iron skillet", "nonstick frying pan",
    "chef knife", "espresso machine", "coffee grinder", "yoga mat",
    "camping tent 4 person", "hiking backpack", "waterproof jacket",
    "kids building blocks", "board game for family", "smart watch",
    "4k monitor", "mechanical keyboard", "office chair ergonomic",
    "stainless steel water bottle", "blender for smoothies",
    "air fryer", "vacuum cleaner cordless", "desk lamp led",
    "winter boots women", "cotton t-shirt men", "sunglasses polarized",
    "bluetooth speaker waterproof", "phone case", NULL
};


int
main(int argc, char **argv)
{
    if (argc < 2) {
        rs_cli_usage(stderr);
        return 2;
    }

    if (strcmp(argv[1], "build") == 0) {
        return rs_cli_build(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "gen") == 0) {
        return rs_cli_gen(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "query") == 0) {
        return rs_cli_query(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "bench") == 0) {
        return rs_cli_bench(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
    {
        printf("recsys-index %s (index format %d, embedder %s v%d)\n",
               RS_CLI_VERSION, RS_INDEX_FORMAT_VERSION, RS_EMBED_NAME,
               RS_EMBED_VERSION);
        return 0;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0
        || strcmp(argv[1], "-h") == 0)
    {
        rs_cli_usage(stdout);
        return 0;
    }

    fprintf(stderr, "recsys-index: unknown command \"%s\"\n\n", argv[1]);
    rs_cli_usage(stderr);

    return 2;
}


static void
rs_cli_usage(FILE *f)
{
    fprintf(f,
        "usage:\n"
        "  recsys-index build --catalog FILE --out DIR\n"
        "                     [--index auto|flat|hnsw] [--dim 256]\n"
        "                     [--strict] [--quiet]\n"
        "                     [--embedder builtin|openai --endpoint URL\n"
        "                      --model NAME [--api-key-file PATH]\n"
        "                      [--batch 64] [--concurrency 4] [--retries 5]\n"
        "                      [--timeout 60] [--backoff 0.5]\n"
        "                      [--text-template MUSTACHE]]\n"
        "  recsys-index gen --n N [--seed S] [--out FILE]\n"
        "  recsys-index query DIR [TEXT] [--item ID] [--k 8] [--category C]\n"
        "                     [--brand B] [--min-price X] [--max-price Y]\n"
        "                     [--in-stock] [--explain] [--candidates 200]\n"
        "  recsys-index bench DIR [--iterations 20000] [--k 8]"
        " [--candidates 200]\n"
        "  recsys-index --version\n");
}


static double
rs_cli_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
rs_cli_number(const char *opt, const char *s, double min, double max,
    double *out)
{
    char  *end;

    errno = 0;
    *out = strtod(s, &end);

    if (errno || end == s || *end != '\0' || !isfinite(*out) || *out < min
        || *out > max)
    {
        fprintf(stderr, "recsys-index: invalid value \"%s\" for --%s\n", s,
                opt);
        return -1;
    }

    return 0;
}


static void
rs_cli_report(void *data, size_t line, int is_error, const char *reason)
{
    rs_cli_report_t  *rep;

    rep = data;

    if (is_error) {
        rep->rejected++;

    } else {
        rep->warnings++;
    }

    if (!rep->quiet || is_error) {
        fprintf(stderr, "%s:%zu: %s: %s\n", rep->path, line,
                is_error ? "rejected" : "warning", reason);
    }
}


/* a bar only where a person watches, and only for builds worth watching */

static void
rs_cli_progress(void *data, const char *stage, size_t done, size_t total)
{
    int                 i, width;
    double              now, rate, eta, frac;
    rs_cli_progress_t  *p;

    p = data;

    if (!p->enabled || total == 0) {
        return;
    }

    now = rs_cli_now();

    if (now - p->start < 1.0 || (now - p->last < 0.1 && done < total)) {
        return;
    }

    p->last = now;
    frac = (double) done / total;
    rate = done / (now - p->start);
    eta = rate > 0 ? (total - done) / rate : 0;
    width = 30;

    fprintf(stderr, "\r%-16s [", stage);

    for (i = 0; i < width; i++) {
        fputc(i < (int) (frac * width) ? '=' : ' ', stderr);
    }

    fprintf(stderr, "] %3.0f%% %zu/%zu %.0f/s ETA %.0fs   ", frac * 100,
            done, total, rate, eta);

    if (done == total) {
        fputc('\n', stderr);
        p->start = now;
    }
}


static int
rs_cli_build(int argc, char **argv)
{
    int                rc, c, quiet;
    char               err[1024];
    double             v, t0;
    const char        *endpoint, *key_file;
    rs_cli_embed_t     em;
    rs_build_conf_t    conf;
    rs_build_stats_t   stats;
    rs_cli_report_t    rep;
    rs_cli_progress_t  progress;
    static const struct option  opts[] = {
        { "catalog", required_argument, NULL, 'c' },
        { "out", required_argument, NULL, 'o' },
        { "index", required_argument, NULL, 'i' },
        { "dim", required_argument, NULL, 'd' },
        { "strict", no_argument, NULL, 's' },
        { "quiet", no_argument, NULL, 'q' },
        { "embedder", required_argument, NULL, 'E' },
        { "endpoint", required_argument, NULL, 'U' },
        { "model", required_argument, NULL, 'm' },
        { "api-key-file", required_argument, NULL, 'K' },
        { "batch", required_argument, NULL, 'b' },
        { "concurrency", required_argument, NULL, 'C' },
        { "retries", required_argument, NULL, 'r' },
        { "timeout", required_argument, NULL, 't' },
        { "backoff", required_argument, NULL, 'B' },
        { "text-template", required_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 }
    };

    memset(&conf, 0, sizeof(conf));
    memset(&em, 0, sizeof(em));
    conf.dim = RS_EMBED_DEFAULT_DIM;
    conf.index_type = RS_INDEX_AUTO;
    conf.embedder = RS_EMBEDDER_BUILTIN;
    em.http.batch = 64;
    em.http.concurrency = 4;
    em.http.retries = 5;
    em.http.timeout = 60;
    em.http.backoff = 0.5;
    em.http.backoff_max = RS_CLI_BACKOFF_MAX;
    endpoint = NULL;
    key_file = NULL;
    quiet = 0;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            conf.catalog = optarg;
            break;
        case 'o':
            conf.out = optarg;
            break;
        case 'i':
            if (rs_index_type_parse(optarg, &conf.index_type) != 0) {
                fprintf(stderr, "recsys-index: invalid value \"%s\" for "
                        "--index (auto, flat or hnsw)\n", optarg);
                return 2;
            }
            break;
        case 'd':
            if (rs_cli_number("dim", optarg, 8, RS_EMBED_MAX_DIM, &v) != 0) {
                return 2;
            }
            conf.dim = (uint32_t) v;
            break;
        case 's':
            conf.strict = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'E':
            if (rs_embedder_type_parse(optarg, &conf.embedder) != 0) {
                fprintf(stderr, "recsys-index: invalid value \"%s\" for "
                        "--embedder (builtin or openai)\n", optarg);
                return 2;
            }
            break;
        case 'U':
            endpoint = optarg;
            break;
        case 'm':
            conf.model = optarg;
            break;
        case 'K':
            key_file = optarg;
            break;
        case 'b':
            if (rs_cli_number("batch", optarg, 1, RS_OPENAI_MAX_BATCH, &v)
                != 0)
            {
                return 2;
            }
            em.http.batch = (size_t) v;
            break;
        case 'C':
            if (rs_cli_number("concurrency", optarg, 1, 64, &v) != 0) {
                return 2;
            }
            em.http.concurrency = (size_t) v;
            break;
        case 'r':
            if (rs_cli_number("retries", optarg, 0, 100, &v) != 0) {
                return 2;
            }
            em.http.retries = (unsigned) v;
            break;
        case 't':
            if (rs_cli_number("timeout", optarg, 0.1, 3600, &v) != 0) {
                return 2;
            }
            em.http.timeout = v;
            break;
        case 'B':
            if (rs_cli_number("backoff", optarg, 0, RS_CLI_BACKOFF_MAX, &v)
                != 0)
            {
                return 2;
            }
            em.http.backoff = v;
            break;
        case 'T':
            conf.text_template = optarg;
            break;
        default:
            rs_cli_usage(stderr);
            return 2;
        }
    }

    if (conf.catalog == NULL || conf.out == NULL) {
        fprintf(stderr, "recsys-index build: --catalog and --out are "
                "required\n");
        return 2;
    }

    if (conf.embedder == RS_EMBEDDER_BUILTIN
        && (endpoint || conf.model || key_file || conf.text_template))
    {
        fprintf(stderr, "recsys-index build: --endpoint, --model, "
                "--api-key-file and --text-template need --embedder "
                "openai\n");
        return 2;
    }

    rep.path = conf.catalog;
    rep.rejected = 0;
    rep.warnings = 0;
    rep.quiet = quiet;

    progress.enabled = !quiet && isatty(STDERR_FILENO);
    progress.start = rs_cli_now();
    progress.last = 0;

    conf.report = rs_cli_report;
    conf.report_data = &rep;
    conf.progress = rs_cli_progress;
    conf.progress_data = &progress;

    em.quiet = quiet;
    em.http.progress = rs_cli_progress;
    em.http.progress_data = &progress;

    if (conf.embedder == RS_EMBEDDER_OPENAI) {
        rc = rs_cli_build_openai(&conf, &em, endpoint, key_file);
        if (rc != 0) {
            return rc;
        }
    }

    t0 = rs_cli_now();

    rc = rs_build(&conf, &stats, err, sizeof(err));

    if (conf.embedder == RS_EMBEDDER_OPENAI) {
        memset(em.key, 0, sizeof(em.key));
        curl_global_cleanup();
    }

    if (rc != 0) {
        fprintf(stderr, "recsys-index build: %s\n", err);
        return 1;
    }

    if (quiet) {
        return 0;
    }

    fprintf(stderr, "built %s: %zu items, %zu rejected, %zu duplicate "
            "ids, %s index, dim %u, version %s, %.2fs\n", conf.out,
            stats.items, stats.bad, stats.duplicates,
            rs_index_type_name(stats.index_type),
            conf.embedder == RS_EMBEDDER_OPENAI ? stats.model_dim : conf.dim,
            stats.version, rs_cli_now() - t0);

    if (conf.embedder == RS_EMBEDDER_OPENAI && stats.embedded == 0) {
        fprintf(stderr, "model \"%s\" at %s: all %zu vectors from the "
                "checkpoint, nothing embedded; lexical companion dim %u\n",
                conf.model, em.host, stats.reused, conf.dim);

    } else if (conf.embedder == RS_EMBEDDER_OPENAI) {
        fprintf(stderr, "model \"%s\" at %s: %zu items embedded in %zu "
                "requests (%zu retries, %.0f items/s), %zu from the "
                "checkpoint%s; lexical companion dim %u\n", conf.model,
                em.host, stats.embedded, em.stats.requests, em.stats.retries,
                em.seconds > 0 ? stats.embedded / em.seconds : 0.0,
                stats.reused,
                stats.stale_checkpoint
                    ? " (that of another model was dropped)" : "",
                conf.dim);
    }

    return 0;
}


static int
rs_cli_build_openai(rs_build_conf_t *conf, rs_cli_embed_t *em,
    const char *endpoint, const char *key_file)
{
    struct sigaction  sa;

    if (endpoint == NULL || conf->model == NULL || conf->model[0] == '\0') {
        fprintf(stderr, "recsys-index build: --embedder openai needs "
                "--endpoint and --model\n");
        return 2;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "recsys-index build: libcurl failed to start\n");
        return 1;
    }

    if (rs_cli_read_key(key_file, em->key, sizeof(em->key)) != 0) {
        curl_global_cleanup();
        return 1;
    }

    if (rs_embed_http_host(endpoint, em->host, sizeof(em->host)) != 0) {
        fprintf(stderr, "recsys-index build: invalid value \"%s\" for "
                "--endpoint\n", endpoint);
        curl_global_cleanup();
        return 2;
    }

    em->http.endpoint = endpoint;
    em->http.model = conf->model;
    em->http.api_key = key_file ? em->key : NULL;
    em->http.stop = &rs_cli_stop;
    em->http.log = em->quiet ? NULL : stderr;

    conf->endpoint_host = em->host;
    conf->embed = rs_cli_embed;
    conf->embed_data = em;

    /* the first signal drains the requests in flight, a second kills */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = rs_cli_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    return 0;
}


static void
rs_cli_interrupt(int signo)
{
    (void) signo;

    rs_cli_stop = 1;
}


/* the key never reaches a message, a manifest or the command line */

static int
rs_cli_read_key(const char *path, char *key, size_t len)
{
    FILE    *f;
    size_t   n;

    if (path == NULL) {
        return 0;
    }

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "recsys-index build: cannot open \"%s\": %s\n",
                path, strerror(errno));
        return -1;
    }

    n = fread(key, 1, len - 1, f);
    fclose(f);

    while (n && isspace((unsigned char) key[n - 1])) {
        n--;
    }

    key[n] = '\0';

    if (n == 0 || n == len - 1 || strpbrk(key, "\r\n") != NULL) {
        fprintf(stderr, "recsys-index build: \"%s\" must hold one API "
                "key on one line\n", path);
        return -1;
    }

    return 0;
}


static int
rs_cli_embed(void *data, const rs_embed_job_t *jobs, size_t n,
    rs_build_vectors_pt done, void *build, char *err, size_t errlen)
{
    int              rc;
    double           t0;
    rs_cli_embed_t  *em;

    em = data;

    if (!em->quiet) {
        fprintf(stderr, "embedding %zu texts with \"%s\" at %s: batches of "
                "%zu, %zu in flight\n", n, em->http.model, em->host,
                em->http.batch, em->http.concurrency);
    }

    t0 = rs_cli_now();
    rc = rs_embed_http(&em->http, jobs, n, done, build, &em->stats, err,
                       errlen);
    em->seconds = rs_cli_now() - t0;

    return rc;
}


static int
rs_cli_write_file(void *data, const char *buf, size_t len)
{
    return fwrite(buf, 1, len, data) == len ? 0 : -1;
}


static int
rs_cli_gen(int argc, char **argv)
{
    int          c, rc;
    FILE        *f;
    double       v;
    uint64_t     n, seed;
    const char  *out;
    static const struct option  opts[] = {
        { "n", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 }
    };

    n = 0;
    seed = 42;
    out = NULL;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (rs_cli_number("n", optarg, 1, 1e8, &v) != 0) {
                return 2;
            }
            n = (uint64_t) v;
            break;
        case 's':
            if (rs_cli_number("seed", optarg, 0, 1e18, &v) != 0) {
                return 2;
            }
            seed = (uint64_t) v;
            break;
        case 'o':
            out = optarg;
            break;
        default:
            rs_cli_usage(stderr);
            return 2;
        }
    }

    if (n == 0) {
        fprintf(stderr, "recsys-index gen: --n is required\n");
        return 2;
    }

    f = out ? fopen(out, "w") : stdout;
    if (f == NULL) {
        fprintf(stderr, "recsys-index gen: cannot create \"%s\": %s\n", out,
                strerror(errno));
        return 1;
    }

    rc = rs_gen_catalog(n, seed, rs_cli_write_file, f);

    if (fflush(f) != 0 || ferror(f)) {
        rc = -1;
    }

    if (out && fclose(f) != 0) {
        rc = -1;
    }

    if (rc != 0) {
        fprintf(stderr, "recsys-index gen: write failed: %s\n",
                strerror(errno));
        return 1;
    }

    return 0;
}


static int
rs_cli_filter_option(int c, const char *arg, rs_filter_t *f)
{
    double  v;

    switch (c) {
    case 'c':
        f->category = arg;
        f->category_len = strlen(arg);
        return 0;
    case 'b':
        f->brand = arg;
        f->brand_len = strlen(arg);
        return 0;
    case 'm':
        if (rs_cli_number("min-price", arg, 0, 1e12, &v) != 0) {
            return -1;
        }
        f->min_price = v;
        f->has_min_price = 1;
        return 0;
    case 'M':
        if (rs_cli_number("max-price", arg, 0, 1e12, &v) != 0) {
            return -1;
        }
        f->max_price = v;
        f->has_max_price = 1;
        return 0;
    case 's':
        f->in_stock = 1;
        return 0;
    }

    return -1;
}


static int
rs_cli_write_stdout(const char *buf, size_t size, void *data)
{
    (void) data;

    return fwrite(buf, 1, size, stdout) == size ? 0 : -1;
}


static int
rs_cli_query(int argc, char **argv)
{
    int            c, rc, explain;
    char           err[1024];
    double         v, t0;
    uint32_t       item;
    const char    *dir, *text, *item_id;
    rs_arena_t     arena;
    rs_engine_t   *e;
    rs_render_t    r;
    rs_result_t    res;
    rs_request_t   req;

    memset(&req, 0, sizeof(req));
    req.k = RS_DEFAULT_K;
    req.candidates = RS_DEFAULT_CANDIDATES;
    req.now = (double) time(NULL);
    req.understand = 1;
    explain = 0;
    item_id = NULL;

    while ((c = getopt_long(argc, argv, "", rs_cli_filter_options, NULL))
           != -1)
    {
        switch (c) {
        case 'k':
            if (rs_cli_number("k", optarg, 1, RS_MAX_K, &v) != 0) {
                return 2;
            }
            req.k = (uint32_t) v;
            break;
        case 'C':
            if (rs_cli_number("candidates", optarg, 1, RS_MAX_CANDIDATES, &v)
                != 0)
            {
                return 2;
            }
            req.candidates = (uint32_t) v;
            break;
        case 'i':
            item_id = optarg;
            break;
        case 'e':
            explain = 1;
            break;
        default:
            if (rs_cli_filter_option(c, optarg, &req.filter) != 0) {
                rs_cli_usage(stderr);
                return 2;
            }
        }
    }

    if (optind >= argc) {
        fprintf(stderr, "recsys-index query: DIR is required\n");
        return 2;
    }

    dir = argv[optind];
    text = optind + 1 < argc ? argv[optind + 1] : "";

    if (rs_engine_open(&e, dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "recsys-index query: %s\n", err);
        return 1;
    }

    rs_index_single_thread();

    if (item_id != NULL) {
        if (rs_store_find(rs_engine_store(e), item_id, strlen(item_id),
                          &item)
            != 0)
        {
            fprintf(stderr, "recsys-index query: unknown item \"%s\"\n",
                    item_id);
            rs_engine_close(e);
            return 1;
        }

        req.items = &item;
        req.nitems = 1;
    }

    memset(&arena, 0, sizeof(arena));
    req.text = text;
    req.text_len = strlen(text);
    req.alloc = rs_arena_alloc;
    req.alloc_data = &arena;

    t0 = rs_cli_now();
    rc = rs_engine_recommend(e, &req, &res);

    if (rc == 0) {
        memset(&r, 0, sizeof(r));
        r.query = text;
        r.query_len = req.text_len;
        r.result = &res;
        r.request = &req;
        r.took_ms = (rs_cli_now() - t0) * 1000;
        r.explain = explain;

        rc = rs_render_json(e, &r, rs_cli_write_stdout, NULL);
        putchar('\n');

        if (explain) {
            fprintf(stderr, "embed source: %s\n",
                    rs_embed_source_name(res.embed_source));
        }
    }

    if (rc != 0) {
        fprintf(stderr, "recsys-index query: out of memory\n");
    }

    rs_arena_reset(&arena);
    rs_engine_close(e);

    return rc ? 1 : 0;
}


static int
rs_cli_count(const char *buf, size_t size, void *data)
{
    (void) buf;

    *(size_t *) data += size;

    return 0;
}


static int
rs_cli_cmp_double(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return x < y ? -1 : x > y;
}


/* a profile with every rule kind, so the benchmark pays for all of them */

static void
rs_cli_bench_profile(rs_profile_t *p, const rs_store_t *st)
{
    static rs_boost_t  boosts[2];
    static rs_match_t  blocks[1];
    static rs_pin_t    pins[1];
    static rs_promo_t  promos[1];
    const char        *brand, *cat, *id;

    rs_profile_init(p);
    p->name = "merchandised";
    p->name_len = sizeof("merchandised") - 1;
    p->weights[RS_SIG_RATING] = 0.1f;
    p->weights[RS_SIG_MARGIN] = 0.1f;
    p->weights[RS_SIG_FRESHNESS] = 0.05f;
    p->max_per_brand = 2;
    p->max_per_category = 3;

    brand = rs_store_str(st, st->items[st->popular[0]].brand);
    cat = rs_store_str(st, st->items[st->popular[1]].category);
    id = rs_store_str(st, st->items[st->popular[2]].id);

    boosts[0].match.kind = RS_MATCH_BRAND;
    boosts[0].match.value = brand ? brand : "none";
    boosts[0].match.len = strlen(boosts[0].match.value);
    boosts[0].factor = 1.2f;
    boosts[1].match.kind = RS_MATCH_TAG;
    boosts[1].match.value = "clearance";
    boosts[1].match.len = sizeof("clearance") - 1;
    boosts[1].factor = 0.5f;
    blocks[0].kind = RS_MATCH_TAG;
    blocks[0].value = "recalled";
    blocks[0].len = sizeof("recalled") - 1;
    pins[0].id = id;
    pins[0].len = strlen(id);
    pins[0].position = 3;
    promos[0].match.kind = RS_MATCH_CATEGORY;
    promos[0].match.value = cat ? cat : "none";
    promos[0].match.len = strlen(promos[0].match.value);
    promos[0].slots = 1;
    promos[0].per = 8;

    p->boosts = boosts;
    p->nboosts = 2;
    p->blocks = blocks;
    p->nblocks = 1;
    p->pins = pins;
    p->npins = 1;
    p->promos = promos;
    p->npromos = 1;
}


static void
rs_cli_bench_line(const char *name, double *v, size_t n)
{
    size_t  i;
    double  sum;

    sum = 0;

    for (i = 0; i < n; i++) {
        sum += v[i];
    }

    qsort(v, n, sizeof(double), rs_cli_cmp_double);

    printf("  %-22s mean %8.1f us  p50 %8.1f us  p99 %8.1f us\n", name,
           sum / n, v[n / 2], v[(size_t) (n * 0.99)]);
}


/*
 * The in-process ceiling: embed, retrieve, rank and render in a loop on
 * one thread, as one worker does, without HTTP around it; once with the
 * default profile and once with one that fires every kind of rule.
 */

static int
rs_cli_bench(int argc, char **argv)
{
    int            c, pass;
    char           err[1024];
    double         v, t0, total, *lat, *emb, *ret, *rank;
    size_t         i, n, nq, bytes;
    const char    *q;
    rs_arena_t     arena;
    rs_engine_t   *e;
    rs_render_t    r;
    rs_result_t    res;
    rs_profile_t   merchandised;
    rs_request_t   req;

    memset(&req, 0, sizeof(req));
    req.k = RS_DEFAULT_K;
    req.candidates = RS_DEFAULT_CANDIDATES;
    req.now = (double) time(NULL);
    req.understand = 1;
    n = 20000;

    while ((c = getopt_long(argc, argv, "", rs_cli_filter_options, NULL))
           != -1)
    {
        switch (c) {
        case 'k':
            if (rs_cli_number("k", optarg, 1, RS_MAX_K, &v) != 0) {
                return 2;
            }
            req.k = (uint32_t) v;
            break;
        case 'C':
            if (rs_cli_number("candidates", optarg, 1, RS_MAX_CANDIDATES, &v)
                != 0)
            {
                return 2;
            }
            req.candidates = (uint32_t) v;
            break;
        case 'n':
            if (rs_cli_number("iterations", optarg, 1, 1e9, &v) != 0) {
                return 2;
            }
            n = (size_t) v;
            break;
        default:
            if (rs_cli_filter_option(c, optarg, &req.filter) != 0) {
                rs_cli_usage(stderr);
                return 2;
            }
        }
    }

    if (optind >= argc) {
        fprintf(stderr, "recsys-index bench: DIR is required\n");
        return 2;
    }

    if (rs_engine_open(&e, argv[optind], err, sizeof(err)) != 0) {
        fprintf(stderr, "recsys-index bench: %s\n", err);
        return 1;
    }

    rs_index_single_thread();
    rs_cli_bench_profile(&merchandised, rs_engine_store(e));

    for (nq = 0; rs_cli_bench_queries[nq]; nq++) { /* void */ }

    lat = malloc(n * sizeof(double));
    emb = malloc(n * sizeof(double));
    ret = malloc(n * sizeof(double));
    rank = malloc(n * sizeof(double));

    if (lat == NULL || emb == NULL || ret == NULL || rank == NULL) {
        fprintf(stderr, "recsys-index bench: out of memory\n");
        free(lat);
        free(emb);
        free(ret);
        free(rank);
        rs_engine_close(e);
        return 1;
    }

    printf("index %s: %u items, dim %u, %s\n", argv[optind],
           rs_engine_store(e)->count, rs_engine_store(e)->dim,
           rs_engine_index_type(e));
    printf("%zu requests over %zu queries, k %u, candidates %u, "
           "one thread\n", n, nq, req.k, req.candidates);

    memset(&arena, 0, sizeof(arena));
    req.alloc = rs_arena_alloc;
    req.alloc_data = &arena;

    for (pass = 0; pass < 2; pass++) {
        req.profile = pass ? &merchandised : NULL;
        bytes = 0;
        total = 0;

        for (i = 0; i < n; i++) {
            q = rs_cli_bench_queries[i % nq];
            req.text = q;
            req.text_len = strlen(q);

            t0 = rs_cli_now();

            if (rs_engine_recommend(e, &req, &res) != 0) {
                fprintf(stderr, "recsys-index bench: search failed\n");
                break;
            }

            memset(&r, 0, sizeof(r));
            r.query = q;
            r.query_len = req.text_len;
            r.result = &res;
            r.request = &req;
            rs_render_json(e, &r, rs_cli_count, &bytes);

            lat[i] = (rs_cli_now() - t0) * 1e6;
            emb[i] = res.us_embed;
            ret[i] = res.us_retrieve;
            rank[i] = res.us_rank;
            total += lat[i];

            rs_arena_reset(&arena);
        }

        if (i < n) {
            break;
        }

        printf("profile %s:\n", res.profile->name);
        rs_cli_bench_line("embed", emb, n);
        rs_cli_bench_line("retrieve (faiss)", ret, n);
        rs_cli_bench_line("rank (rules, MMR)", rank, n);
        rs_cli_bench_line("whole request+render", lat, n);
        printf("  %-22s %.0f requests/s on one core, %zu bytes/answer\n",
               "throughput", n / (total / 1e6), bytes / n);
    }

    free(lat);
    free(emb);
    free(ret);
    free(rank);
    rs_engine_close(e);

    return pass == 2 ? 0 : 1;
}
