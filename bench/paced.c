/*
 * Copyright (C) ngx_recsys authors
 *
 * bench-paced: an open-loop HTTP/1.1 load generator at a fixed rate, for
 * the latencies wrk cannot give (wrk sends as fast as answers come back).
 *
 *   bench-paced --port N [--host 127.0.0.1] --rate R --duration S
 *               [--warmup S] [--connections C] [--timeout S]
 *               (--path /recs?q=... | --paths FILE)
 *
 * A timer fires every 1/R s and each tick sends one request, the paths in
 * turn, on an idle keep-alive connection; when none is idle the request
 * queues until one is.  A request's latency runs from its scheduled time
 * to the last byte of its answer, so a server that stalls is charged for
 * every request scheduled meanwhile (no "coordinated omission").  Answers
 * are read by Content-Length; "Connection: close" reopens the connection.
 * The first --warmup seconds are sent but not counted.  One line out, the
 * rate being the one achieved in sending:
 *
 *   rate 999.8 sent 10000 ok 10000 non2xx 0 errors 0 p50 0.310 p90 ...
 *
 * latencies in milliseconds.  Exit status 1 on a usage or setup error.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>


#define BP_BUF_SIZE      (256 * 1024)
#define BP_MAX_PATHS     100000
#define BP_TIMER_TAG     ((uint64_t) -1)


typedef struct {
    int                 fd;
    int                 busy;
    int                 connecting;
    long                req;          /* the request it carries */
    size_t              sent;
    size_t              len;          /* bytes in buf */
    size_t              header_len;   /* 0: header not complete yet */
    size_t              body_len;
    int                 status;
    int                 close_after;
    char                out[2048];
    size_t              out_len;
    char               *buf;
} bp_conn_t;


typedef struct {
    struct sockaddr_in  addr;
    const char         *host;
    char              **paths;
    long                npaths;
    double              rate;
    double              duration;
    double              warmup;
    double              timeout;
    int                 nconns;
    int                 ep;
    bp_conn_t          *conns;
    double             *scheduled;    /* by request number */
    double             *latency;      /* counted requests only */
    long                nlatency;
    long                total;        /* requests to send */
    long                next;         /* next request to schedule */
    long                *queue;       /* scheduled, not yet sent */
    long                qhead;
    long                qtail;
    long                done;
    double              last_tick;    /* when the last request was due */
    long                counted;
    long                ok;
    long                non2xx;
    long                errors;
    long                timeouts;
    double              start;
} bp_t;


static double bp_now(void);
static int bp_load_paths(bp_t *bp, const char *file);
static int bp_open(bp_t *bp, bp_conn_t *c);
static void bp_close(bp_t *bp, bp_conn_t *c);
static void bp_send(bp_t *bp, bp_conn_t *c, long req);
static void bp_write(bp_t *bp, bp_conn_t *c);
static void bp_read(bp_t *bp, bp_conn_t *c);
static int bp_parse_header(bp_conn_t *c);
static void bp_finish(bp_t *bp, bp_conn_t *c, int error);
static int bp_count(bp_t *bp, long req, int status, int error);
static void bp_dispatch(bp_t *bp);
static void bp_expire(bp_t *bp);
static int bp_cmp(const void *a, const void *b);
static double bp_pct(bp_t *bp, double p);
static void bp_usage(void);


int
main(int argc, char **argv)
{
    int                  opt, i, n, port;
    long                 k;
    char                *path;
    uint64_t             ticks;
    struct itimerspec    its;
    struct epoll_event   ev, events[256];
    bp_t                 bp;
    int                  tfd;

    static struct option  longopts[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "rate", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "connections", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "path", required_argument, NULL, 'u' },
        { "paths", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 }
    };

    memset(&bp, 0, sizeof(bp_t));
    bp.host = "127.0.0.1";
    bp.nconns = 16;
    bp.timeout = 10;
    port = 0;
    path = NULL;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': bp.host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': bp.rate = atof(optarg); break;
        case 'd': bp.duration = atof(optarg); break;
        case 'w': bp.warmup = atof(optarg); break;
        case 'c': bp.nconns = atoi(optarg); break;
        case 't': bp.timeout = atof(optarg); break;
        case 'u': path = optarg; break;
        case 'f':
            if (bp_load_paths(&bp, optarg) != 0) {
                return 1;
            }
            break;
        default:
            bp_usage();
            return 1;
        }
    }

    if (path != NULL) {
        bp.paths = &path;
        bp.npaths = 1;
    }

    if (port <= 0 || bp.rate <= 0 || bp.duration <= 0 || bp.npaths == 0
        || bp.nconns <= 0 || bp.warmup < 0 || bp.timeout <= 0)
    {
        bp_usage();
        return 1;
    }

    bp.addr.sin_family = AF_INET;
    bp.addr.sin_port = htons(port);

    if (inet_pton(AF_INET, bp.host, &bp.addr.sin_addr) != 1) {
        fprintf(stderr, "bench-paced: bad address \"%s\"\n", bp.host);
        return 1;
    }

    bp.total = (long) ((bp.warmup + bp.duration) * bp.rate);
    bp.scheduled = calloc(bp.total, sizeof(double));
    bp.latency = calloc(bp.total, sizeof(double));
    bp.queue = calloc(bp.total, sizeof(long));
    bp.conns = calloc(bp.nconns, sizeof(bp_conn_t));

    if (bp.scheduled == NULL || bp.latency == NULL || bp.queue == NULL
        || bp.conns == NULL)
    {
        fprintf(stderr, "bench-paced: out of memory\n");
        return 1;
    }

    bp.ep = epoll_create1(0);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);

    if (bp.ep == -1 || tfd == -1) {
        perror("bench-paced: epoll/timerfd");
        return 1;
    }

    for (i = 0; i < bp.nconns; i++) {
        bp.conns[i].fd = -1;
        bp.conns[i].buf = malloc(BP_BUF_SIZE);

        if (bp.conns[i].buf == NULL || bp_open(&bp, &bp.conns[i]) != 0) {
            fprintf(stderr, "bench-paced: cannot open connection %d\n", i);
            return 1;
        }
    }

    ev.events = EPOLLIN;
    ev.data.u64 = BP_TIMER_TAG;
    epoll_ctl(bp.ep, EPOLL_CTL_ADD, tfd, &ev);

    /* the first tick one interval from now, the connections made */
    memset(&its, 0, sizeof(struct itimerspec));
    its.it_interval.tv_sec = (time_t) (1 / bp.rate);
    its.it_interval.tv_nsec = (long) ((1 / bp.rate - its.it_interval.tv_sec)
                                      * 1e9);
    its.it_value = its.it_interval;
    timerfd_settime(tfd, 0, &its, NULL);

    bp.start = bp_now();

    while (bp.done < bp.total) {
        n = epoll_wait(bp.ep, events, 256, 100);

        if (n == -1 && errno != EINTR) {
            perror("bench-paced: epoll_wait");
            return 1;
        }

        for (i = 0; i < n; i++) {
            if (events[i].data.u64 == BP_TIMER_TAG) {
                if (read(tfd, &ticks, sizeof(ticks)) != sizeof(ticks)) {
                    continue;
                }

                /* every tick is one request, due at its own time */
                while (ticks-- && bp.next < bp.total) {
                    k = bp.next++;
                    bp.scheduled[k] = bp.start + (k + 1) / bp.rate;
                    bp.queue[bp.qtail++] = k;
                    bp.last_tick = bp_now();
                }

                continue;
            }

            if (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                bp_write(&bp, &bp.conns[events[i].data.u64]);
            }

            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                bp_read(&bp, &bp.conns[events[i].data.u64]);
            }
        }

        bp_dispatch(&bp);
        bp_expire(&bp);
    }

    qsort(bp.latency, bp.nlatency, sizeof(double), bp_cmp);

    printf("rate %.1f sent %ld ok %ld non2xx %ld errors %ld timeouts %ld "
           "p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n",
           bp.total / (bp.last_tick - bp.start), bp.counted, bp.ok, bp.non2xx, bp.errors,
           bp.timeouts, bp_pct(&bp, 50), bp_pct(&bp, 90), bp_pct(&bp, 99),
           bp_pct(&bp, 99.9), bp_pct(&bp, 100));

    return 0;
}


static double
bp_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
bp_load_paths(bp_t *bp, const char *file)
{
    FILE    *f;
    char     line[2048];
    size_t   len;

    f = fopen(file, "r");
    if (f == NULL) {
        perror(file);
        return -1;
    }

    bp->paths = calloc(BP_MAX_PATHS, sizeof(char *));
    if (bp->paths == NULL) {
        fclose(f);
        return -1;
    }

    while (bp->npaths < BP_MAX_PATHS && fgets(line, sizeof(line), f)) {
        len = strcspn(line, "\r\n");
        line[len] = '\0';

        if (len == 0) {
            continue;
        }

        bp->paths[bp->npaths] = strdup(line);
        if (bp->paths[bp->npaths] == NULL) {
            fclose(f);
            return -1;
        }

        bp->npaths++;
    }

    fclose(f);

    return 0;
}


static int
bp_open(bp_t *bp, bp_conn_t *c)
{
    int                 one;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->connecting = 1;

    if (connect(c->fd, (struct sockaddr *) &bp->addr, sizeof(bp->addr))
        == 0)
    {
        c->connecting = 0;

    } else if (errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u64 = c - bp->conns;

    return epoll_ctl(bp->ep, EPOLL_CTL_ADD, c->fd, &ev);
}


static void
bp_close(bp_t *bp, bp_conn_t *c)
{
    close(c->fd);
    c->fd = -1;
    c->busy = 0;
    c->len = 0;

    if (bp_open(bp, c) != 0) {
        /* the next dispatch tries again */
        if (c->fd != -1) {
            close(c->fd);
        }

        c->fd = -1;
    }
}


static void
bp_send(bp_t *bp, bp_conn_t *c, long req)
{
    const char  *path;

    path = bp->paths[req % bp->npaths];

    c->busy = 1;
    c->req = req;
    c->sent = 0;
    c->len = 0;
    c->header_len = 0;
    c->out_len = snprintf(c->out, sizeof(c->out),
                          "GET %s HTTP/1.1\r\nHost: %s\r\n"
                          "User-Agent: bench-paced\r\n\r\n", path, bp->host);

    if (c->out_len >= sizeof(c->out)) {
        c->out_len = sizeof(c->out) - 1;
    }

    bp_write(bp, c);
}


static void
bp_write(bp_t *bp, bp_conn_t *c)
{
    ssize_t    n;
    int        err;
    socklen_t  len;

    if (c->fd == -1) {
        return;
    }

    if (c->connecting) {
        err = 0;
        len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err == EINPROGRESS) {
            return;
        }

        if (err != 0) {
            if (c->busy) {
                bp_finish(bp, c, 1);
            }

            bp_close(bp, c);
            return;
        }

        c->connecting = 0;
    }

    while (c->busy && c->sent < c->out_len) {
        n = write(c->fd, c->out + c->sent, c->out_len - c->sent);

        if (n > 0) {
            c->sent += n;
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        bp_finish(bp, c, 1);
        bp_close(bp, c);
        return;
    }
}


static void
bp_read(bp_t *bp, bp_conn_t *c)
{
    ssize_t  n;

    for ( ;; ) {
        if (c->fd == -1) {
            return;
        }

        if (c->len == BP_BUF_SIZE) {
            /* an answer bigger than the buffer: only its length matters */
            if (c->header_len == 0) {
                bp_finish(bp, c, 1);
                bp_close(bp, c);
                return;
            }

            c->body_len -= c->len - c->header_len;
            c->len = c->header_len;
        }

        n = read(c->fd, c->buf + c->len, BP_BUF_SIZE - c->len);

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            /* closed or reset: an error only for a request on its way */
            if (c->busy) {
                bp_finish(bp, c, 1);
            }

            bp_close(bp, c);
            return;
        }

        if (!c->busy) {
            continue;
        }

        c->len += n;

        if (c->header_len == 0 && bp_parse_header(c) != 0) {
            bp_finish(bp, c, 1);
            bp_close(bp, c);
            return;
        }

        if (c->header_len && c->len >= c->header_len + c->body_len) {
            bp_finish(bp, c, 0);

            if (c->close_after) {
                bp_close(bp, c);
                return;
            }

            c->len = 0;
        }
    }
}


/* 0: the header is complete and parsed, or not complete yet; -1: bad */

static int
bp_parse_header(bp_conn_t *c)
{
    char   *end, *p, *line;
    size_t  hlen;

    c->buf[c->len < BP_BUF_SIZE ? c->len : BP_BUF_SIZE - 1] = '\0';

    end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (end == NULL) {
        return 0;
    }

    hlen = end + 4 - c->buf;

    if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) {
        return -1;
    }

    c->status = atoi(c->buf + 9);
    c->close_after = 0;
    c->body_len = (size_t) -1;

    for (line = strstr(c->buf, "\r\n") + 2; line < end;
         line = strstr(line, "\r\n") + 2)
    {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            c->body_len = strtoul(line + 15, NULL, 10);

        } else if (strncasecmp(line, "Connection:", 11) == 0) {
            for (p = line + 11; *p == ' '; p++) { /* void */ }
            c->close_after = (strncasecmp(p, "close", 5) == 0);
        }
    }

    if (c->body_len == (size_t) -1) {
        return -1;
    }

    c->header_len = hlen;

    return 0;
}


static void
bp_finish(bp_t *bp, bp_conn_t *c, int error)
{
    c->busy = 0;
    (void) bp_count(bp, c->req, c->status, error);
}


/* 1: the request is past the warmup and so counted */

static int
bp_count(bp_t *bp, long req, int status, int error)
{
    bp->done++;

    if (bp->scheduled[req] < bp->start + bp->warmup) {
        return 0;
    }

    bp->counted++;

    if (error) {
        bp->errors++;
        return 1;
    }

    if (status >= 200 && status <= 299) {
        bp->ok++;

    } else {
        bp->non2xx++;
    }

    bp->latency[bp->nlatency++] = (bp_now() - bp->scheduled[req]) * 1000;

    return 1;
}


static void
bp_dispatch(bp_t *bp)
{
    int         i;
    bp_conn_t  *c;

    for (i = 0; i < bp->nconns && bp->qhead < bp->qtail; i++) {
        c = &bp->conns[i];

        if (c->fd == -1 && bp_open(bp, c) != 0) {
            if (c->fd != -1) {
                close(c->fd);
                c->fd = -1;
            }

            continue;
        }

        if (!c->busy && !c->connecting) {
            bp_send(bp, c, bp->queue[bp->qhead++]);
        }
    }
}


/*
 * A request past --timeout, sent or still queued, is an error; a
 * connection that carried one starts over
 */

static void
bp_expire(bp_t *bp)
{
    int         i;
    long        req;
    double      now;
    bp_conn_t  *c;

    now = bp_now();

    for (i = 0; i < bp->nconns; i++) {
        c = &bp->conns[i];

        if (c->busy && now - bp->scheduled[c->req] > bp->timeout) {
            c->busy = 0;
            bp->timeouts += bp_count(bp, c->req, 0, 1);
            bp_close(bp, c);
        }
    }

    while (bp->qhead < bp->qtail) {
        req = bp->queue[bp->qhead];

        if (now - bp->scheduled[req] <= bp->timeout) {
            break;
        }

        bp->qhead++;
        bp->timeouts += bp_count(bp, req, 0, 1);
    }
}


static int
bp_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
bp_pct(bp_t *bp, double p)
{
    long  i;

    if (bp->nlatency == 0) {
        return 0;
    }

    i = (long) (p / 100 * bp->nlatency + 0.5) - 1;

    if (i < 0) {
        i = 0;
    }

    if (i >= bp->nlatency) {
        i = bp->nlatency - 1;
    }

    return bp->latency[i];
}


static void
bp_usage(void)
{
    fprintf(stderr,
            "usage: bench-paced --port N [--host ADDR] --rate R "
            "--duration S\n"
            "                   [--warmup S] [--connections C] "
            "[--timeout S]\n"
            "                   (--path PATH | --paths FILE)\n");
}
