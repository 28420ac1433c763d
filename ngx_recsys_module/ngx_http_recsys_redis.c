
/*
 * Copyright (C) ngx_recsys authors
 *
 * The Redis client: one pipelined connection per worker, hiredis's async
 * API driven by nginx's event loop.
 *
 * The socket hiredis opens is wrapped in an ngx_connection_t; hiredis asks
 * for read and write interest through its ev hooks, which become nginx
 * events.  hiredis 0.14 has no timer hook, so the connect timeout and the
 * command timeouts are nginx timers.  Nothing here blocks: host names are
 * resolved when the configuration is read, and only redisAsyncConnect*()
 * and redisAsyncCommandArgv() are called in a worker.
 *
 * The connection is opened on first use.  Every failure (connect error or
 * timeout, AUTH or SELECT refused, connection lost, command timeout) makes
 * callers wait a backoff that doubles, with jitter, before Redis is tried
 * again; after "max_fails" failures in a row the circuit opens and Redis
 * is skipped for "fail_timeout".  Meanwhile callers are told at once that
 * Redis is unavailable.  Any reply resets the count.
 *
 * A request's commands are an "op", allocated from the heap and owned by
 * the client, not by the request: hiredis calls back once per command,
 * even when the connection goes away (with a NULL reply), and the op is
 * freed after the last of those calls.  The request is told once: when
 * the last reply arrives, when the connection fails, or when its timer
 * expires; a request that goes away first clears the op's handler from
 * its pool cleanup, so a late reply touches nothing of it.  Background
 * work sends without a request: its data lives as long as the worker.
 *
 * "recsys_redis_write" is a second client of the same kind, for writes:
 * reads can then go to a nearby replica and writes to the primary.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/ioctl.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_recsys_module.h"


#define NGX_HTTP_RECSYS_REDIS_PORT          6379
#define NGX_HTTP_RECSYS_REDIS_BACKOFF_MIN   100     /* ms */
#define NGX_HTTP_RECSYS_REDIS_BACKOFF_MAX   5000    /* ms */
#define NGX_HTTP_RECSYS_REDIS_PASSWORD_MAX  512


struct ngx_http_recsys_redis_s {
    /* configuration */
    ngx_str_t                           name;       /* as written */
    char                               *host;       /* numeric, or NULL */
    char                               *path;       /* unix socket */
    int                                 port;
    ngx_int_t                           db;
    ngx_str_t                           password;
    ngx_msec_t                          timeout;
    ngx_msec_t                          connect_timeout;
    ngx_uint_t                          max_fails;
    ngx_msec_t                          fail_timeout;

    /* the worker's connection */
    ngx_log_t                          *log;
    redisAsyncContext                  *ac;
    ngx_connection_t                   *conn;
    ngx_event_t                         connect_timer;
    ngx_uint_t                          handshake;  /* replies awaited */
    ngx_uint_t                          generation; /* of the connection */
    ngx_uint_t                          fails;      /* in a row */
    ngx_msec_t                          retry_at;   /* when fails > 0 */
    const char                         *reason;     /* of the last failure */
    unsigned                            ready:1;
    unsigned                            exiting:1;
};


typedef struct {
    ngx_http_recsys_redis_t            *redis;
    ngx_http_recsys_redis_handler_pt    handler;    /* NULL once told */
    void                               *data;
    ngx_pool_cleanup_t                 *cln;        /* the request's */
    ngx_event_t                         timer;
    ngx_uint_t                          pending;    /* hiredis callbacks */
    ngx_uint_t                          errors;
    ngx_int_t                           rc;
} ngx_http_recsys_redis_op_t;


static ngx_int_t ngx_http_recsys_redis_parse_address(ngx_conf_t *cf,
    ngx_http_recsys_redis_t *redis, ngx_str_t *addr);
static ngx_int_t ngx_http_recsys_redis_read_password(ngx_conf_t *cf,
    ngx_http_recsys_redis_t *redis, ngx_str_t *file);
static void ngx_http_recsys_redis_cycle_cleanup(void *data);
static ngx_int_t ngx_http_recsys_redis_available(
    ngx_http_recsys_redis_t *redis);
static ngx_int_t ngx_http_recsys_redis_connect(ngx_http_recsys_redis_t *redis);
static void ngx_http_recsys_redis_close(ngx_http_recsys_redis_t *redis);
static void ngx_http_recsys_redis_failed(ngx_http_recsys_redis_t *redis,
    ngx_uint_t level, const char *reason, const char *fmt, ...);
static void ngx_http_recsys_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_recsys_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_recsys_redis_handshake(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_recsys_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_recsys_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_recsys_redis_op_timeout(ngx_event_t *ev);
static void ngx_http_recsys_redis_op_cancel(void *data);
static void ngx_http_recsys_redis_read_handler(ngx_event_t *rev);
static void ngx_http_recsys_redis_write_handler(ngx_event_t *wev);
static void ngx_http_recsys_redis_add_read(void *privdata);
static void ngx_http_recsys_redis_del_read(void *privdata);
static void ngx_http_recsys_redis_add_write(void *privdata);
static void ngx_http_recsys_redis_del_write(void *privdata);
static void ngx_http_recsys_redis_ev_cleanup(void *privdata);


/*
 * recsys_redis host:port | unix:/path [db=N] [password_file=PATH]
 *     [timeout=50ms] [connect_timeout=100ms] [max_fails=5]
 *     [fail_timeout=10s];
 *
 * recsys_redis_write takes the same arguments; cmd->offset tells which
 * client of the main configuration is set.
 */

char *
ngx_http_recsys_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                  n;
    ngx_str_t                 *value, s, password_file;
    ngx_msec_t                 ms;
    ngx_uint_t                 i;
    ngx_pool_cleanup_t        *cln;
    ngx_http_recsys_redis_t   *redis, **field;

    field = (ngx_http_recsys_redis_t **) ((char *) conf + cmd->offset);

    if (*field != NULL) {
        return "is duplicate";
    }

    redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_recsys_redis_t));
    if (redis == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     redis->host = NULL;
     *     redis->path = NULL;
     *     redis->db = 0;
     *     redis->password = { 0, NULL };
     *     redis->ac = NULL;
     *     redis->conn = NULL;
     *     redis->fails = 0;
     */

    redis->timeout = 50;
    redis->connect_timeout = 100;
    redis->max_fails = 5;
    redis->fail_timeout = 10000;

    value = cf->args->elts;

    if (ngx_http_recsys_redis_parse_address(cf, redis, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&password_file);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            redis->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            password_file.data = value[i].data + 14;
            password_file.len = value[i].len - 14;

            if (password_file.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_fails=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n == NGX_ERROR || n < 1 || n > 1000) {
                goto invalid;
            }

            redis->max_fails = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            redis->timeout = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            redis->connect_timeout = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            redis->fail_timeout = ms;
            continue;
        }

        goto invalid;
    }

    if (password_file.len
        && ngx_http_recsys_redis_read_password(cf, redis, &password_file)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    redis->log = &cf->cycle->new_log;

    redis->connect_timer.handler = ngx_http_recsys_redis_connect_timeout;
    redis->connect_timer.data = redis;
    redis->connect_timer.log = redis->log;

    /* a worker that is shutting down waits for no reconnection */
    redis->connect_timer.cancelable = 1;

    /* the worker's connection is closed with the cycle */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_recsys_redis_cycle_cleanup;
    cln->data = redis;

    *field = redis;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * A host name is resolved here, once: hiredis would resolve it with a
 * blocking getaddrinfo() on every connection.
 */

static ngx_int_t
ngx_http_recsys_redis_parse_address(ngx_conf_t *cf,
    ngx_http_recsys_redis_t *redis, ngx_str_t *addr)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;
    u_char      text[NGX_SOCKADDR_STRLEN];

    redis->name = *addr;

    if (addr->len > 5 && ngx_strncasecmp(addr->data, (u_char *) "unix:", 5)
                         == 0)
    {
        len = addr->len - 5;

        if (len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\": the path is too long",
                               addr);
            return NGX_ERROR;
        }

        redis->path = ngx_pnalloc(cf->pool, len + 1);
        if (redis->path == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(redis->path, addr->data + 5, len);
        *p = '\0';

        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *addr;
    u.default_port = NGX_HTTP_RECSYS_REDIS_PORT;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\": %s", addr, u.err);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\"", addr);
        }

        return NGX_ERROR;
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" has %ui addresses, recsys_redis uses "
                           "the first", &u.host, u.naddrs);
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);

    redis->host = ngx_pnalloc(cf->pool, len + 1);
    if (redis->host == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(redis->host, text, len);
    *p = '\0';

    redis->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_OK;
}


/* the file holds the password alone; a final newline is not part of it */

static ngx_int_t
ngx_http_recsys_redis_read_password(ngx_conf_t *cf,
    ngx_http_recsys_redis_t *redis, ngx_str_t *file)
{
    u_char     *p;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_str_t   name;
    ngx_file_t  f;
    u_char      buf[NGX_HTTP_RECSYS_REDIS_PASSWORD_MAX + 1];

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_ERROR;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = name;
    f.log = cf->log;

    n = ngx_read_file(&f, buf, sizeof(buf), 0);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &name);
    }

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (n > NGX_HTTP_RECSYS_REDIS_PASSWORD_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"password_file=%V\": the file "
                           "is longer than %d bytes", file,
                           NGX_HTTP_RECSYS_REDIS_PASSWORD_MAX);
        return NGX_ERROR;
    }

    while (n > 0 && (buf[n - 1] == LF || buf[n - 1] == CR)) {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"password_file=%V\": the file "
                           "is empty", file);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, buf, n);
    ngx_explicit_memzero(buf, sizeof(buf));

    redis->password.data = p;
    redis->password.len = n;

    return NGX_OK;
}


/*
 * The worker exits: requests are no longer told anything, the pending
 * callbacks only free their ops.
 */

static void
ngx_http_recsys_redis_cycle_cleanup(void *data)
{
    ngx_http_recsys_redis_t *redis = data;

    redis->exiting = 1;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    ngx_http_recsys_redis_close(redis);
}


ngx_int_t
ngx_http_recsys_redis_command(ngx_http_request_t *r,
    ngx_http_recsys_redis_handler_pt handler, void *data, int argc,
    const char **argv, size_t *argvlen)
{
    ngx_http_recsys_redis_cmd_t  cmd;

    cmd.argc = argc;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    return ngx_http_recsys_redis_send(r, &cmd, 1, handler, data);
}


/* to "recsys_redis" */

ngx_int_t
ngx_http_recsys_redis_send(ngx_http_request_t *r,
    ngx_http_recsys_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_recsys_redis_handler_pt handler, void *data)
{
    ngx_http_recsys_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_recsys_module);

    return ngx_http_recsys_redis_send_to(rmcf->redis, r, cmds, n, handler,
                                         data);
}


/*
 * Queues the commands in one pipeline.  NGX_OK: the handler will be called
 * exactly once, never from within this call.  NGX_DECLINED: Redis is not
 * configured (redis is NULL) or not available now (see
 * ngx_http_recsys_redis_retry_after).  Without a request (r is NULL) the
 * handler is not called when the worker exits first, nor does the command
 * keep an exiting worker waiting.
 */

ngx_int_t
ngx_http_recsys_redis_send_to(ngx_http_recsys_redis_t *redis,
    ngx_http_request_t *r, ngx_http_recsys_redis_cmd_t *cmds, ngx_uint_t n,
    ngx_http_recsys_redis_handler_pt handler, void *data)
{
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_http_recsys_redis_op_t   *op;

    if (redis == NULL || n == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_recsys_redis_available(redis) != NGX_OK) {
        return NGX_DECLINED;
    }

    cln = NULL;

    if (r != NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }
    }

    op = ngx_calloc(sizeof(ngx_http_recsys_redis_op_t), redis->log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->redis = redis;
    op->rc = NGX_OK;

    for (i = 0; i < n; i++) {
        if (redisAsyncCommandArgv(redis->ac, ngx_http_recsys_redis_reply, op,
                                  cmds[i].argc, cmds[i].argv,
                                  cmds[i].argvlen)
            != REDIS_OK)
        {
            break;
        }

        op->pending++;
    }

    if (i < n) {
        ngx_log_error(NGX_LOG_ERR, r ? r->connection->log : redis->log, 0,
                      "recsys: redis %V: cannot queue a command",
                      &redis->name);

        /* the queued ones free the op when they are called back */
        if (op->pending == 0) {
            ngx_free(op);
        }

        return NGX_DECLINED;
    }

    op->handler = handler;
    op->data = data;

    op->timer.handler = ngx_http_recsys_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = redis->log;

    ngx_add_timer(&op->timer, redis->timeout);

    if (cln == NULL) {
        op->timer.cancelable = 1;
        return NGX_OK;
    }

    cln->handler = ngx_http_recsys_redis_op_cancel;
    cln->data = op;
    op->cln = cln;

    return NGX_OK;
}


/* seconds a caller should wait before trying again, and why */

time_t
ngx_http_recsys_redis_retry_after(ngx_http_recsys_redis_t *redis,
    const char **reason)
{
    ngx_msec_int_t  left;

    if (redis == NULL) {
        *reason = "Redis is not configured";
        return 60;
    }

    *reason = redis->reason ? redis->reason : "Redis is not available";

    if (redis->fails == 0) {
        return 1;
    }

    left = (ngx_msec_int_t) (redis->retry_at - ngx_current_msec);

    if (left <= 0) {
        return 1;
    }

    return (time_t) (left + 999) / 1000;
}


static ngx_int_t
ngx_http_recsys_redis_available(ngx_http_recsys_redis_t *redis)
{
    if (redis->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        redis->reason = "the worker is shutting down";
        return NGX_DECLINED;
    }

    if (redis->fails
        && (ngx_msec_int_t) (redis->retry_at - ngx_current_msec) > 0)
    {
        /* backing off, or the circuit is open */
        return NGX_DECLINED;
    }

    if (redis->ac != NULL) {
        if (redis->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    return ngx_http_recsys_redis_connect(redis);
}


/*
 * AUTH and SELECT go first in the pipeline, so the commands of the
 * requests that arrive while it connects are queued behind them.
 */

static ngx_int_t
ngx_http_recsys_redis_connect(ngx_http_recsys_redis_t *redis)
{
    int                 argc;
    size_t              argvlen[2];
    u_char              db[NGX_INT_T_LEN];
    const char         *argv[2];
    ngx_event_t        *rev, *wev;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    /* a connection after a failure is a reconnection */
    if (redis->fails) {
        ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_REDIS_RECONNECTS,
                                      NULL, 1);
    }

    if (redis->path) {
        ac = redisAsyncConnectUnix(redis->path);

    } else {
        ac = redisAsyncConnect(redis->host, redis->port);
    }

    if (ac == NULL) {
        ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                     "Redis is not connected",
                                     "cannot allocate a connection");
        return NGX_DECLINED;
    }

    if (ac->err) {
        ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                     "Redis is not connected",
                                     "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        return NGX_DECLINED;
    }

    c = ngx_get_connection(ac->c.fd, redis->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                     "Redis is not connected",
                                     "no free connection");
        return NGX_DECLINED;
    }

    rev = c->read;
    wev = c->write;

    c->data = redis;
    c->log = redis->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    /* closed by ngx_close_idle_connections() when the worker shuts down */
    c->idle = 1;

    rev->handler = ngx_http_recsys_redis_read_handler;
    wev->handler = ngx_http_recsys_redis_write_handler;
    rev->log = redis->log;
    wev->log = redis->log;

    ac->data = redis;
    ac->ev.addRead = ngx_http_recsys_redis_add_read;
    ac->ev.delRead = ngx_http_recsys_redis_del_read;
    ac->ev.addWrite = ngx_http_recsys_redis_add_write;
    ac->ev.delWrite = ngx_http_recsys_redis_del_write;
    ac->ev.cleanup = ngx_http_recsys_redis_ev_cleanup;
    ac->ev.data = c;

    redisAsyncSetConnectCallback(ac, ngx_http_recsys_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_recsys_redis_disconnected);

    redis->ac = ac;
    redis->conn = c;
    redis->ready = 0;
    redis->handshake = 0;
    redis->generation++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "recsys: redis %V: connecting, fd:%d",
                   &redis->name, ac->c.fd);

    if (redis->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) redis->password.data;
        argvlen[1] = redis->password.len;
        argc = 2;

        if (redisAsyncCommandArgv(ac, ngx_http_recsys_redis_handshake,
                                  (void *) "AUTH", argc, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }

        redis->handshake++;
    }

    if (redis->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", redis->db) - db;
        argc = 2;

        if (redisAsyncCommandArgv(ac, ngx_http_recsys_redis_handshake,
                                  (void *) "SELECT", argc, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }

        redis->handshake++;
    }

    /* the connect completes with the first write event */
    ngx_http_recsys_redis_add_read(c);
    ngx_http_recsys_redis_add_write(c);

    ngx_add_timer(&redis->connect_timer, redis->connect_timeout);

    return NGX_OK;

failed:

    ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                 "Redis is not connected",
                                 "cannot queue the handshake");
    ngx_http_recsys_redis_close(redis);

    return NGX_DECLINED;
}


/*
 * Never called from a hiredis connect or disconnect callback: hiredis
 * frees the context itself after those.  From a reply callback hiredis
 * defers the free until the callback returns.
 */

static void
ngx_http_recsys_redis_close(ngx_http_recsys_redis_t *redis)
{
    redisAsyncContext  *ac;

    ac = redis->ac;

    if (ac == NULL || (ac->c.flags & REDIS_FREEING)) {
        return;
    }

    redisAsyncFree(ac);
}


/*
 * Counts a failure and sets when Redis is tried again: a backoff doubling
 * from 100ms with jitter, or fail_timeout once max_fails is reached.
 * Failures within the current backoff period are one outage (a hundred
 * requests timing out together) and count once, so the warning is also
 * written at most once per period.
 */

static void
ngx_http_recsys_redis_failed(ngx_http_recsys_redis_t *redis,
    ngx_uint_t level, const char *reason, const char *fmt, ...)
{
    u_char      *p;
    va_list      args;
    ngx_str_t    label;
    ngx_msec_t   delay;
    u_char       text[NGX_MAX_ERROR_STR];

    redis->reason = reason;

    label.data = (u_char *) reason;
    label.len = ngx_strlen(reason);
    ngx_http_recsys_metrics_count(NGX_HTTP_RECSYS_METRIC_REDIS_ERRORS, &label,
                                  1);

    if (redis->fails
        && (ngx_msec_int_t) (redis->retry_at - ngx_current_msec) > 0)
    {
        return;
    }

    redis->fails++;

    if (redis->fails >= redis->max_fails) {
        ngx_http_recsys_metrics_set(NGX_HTTP_RECSYS_METRIC_REDIS_CIRCUIT,
                                    NULL, 2);
    }

    if (redis->fails >= redis->max_fails) {
        delay = redis->fail_timeout;

    } else {
        delay = NGX_HTTP_RECSYS_REDIS_BACKOFF_MIN << (redis->fails - 1);

        if (delay > NGX_HTTP_RECSYS_REDIS_BACKOFF_MAX) {
            delay = NGX_HTTP_RECSYS_REDIS_BACKOFF_MAX;
        }

        /* "equal jitter": workers that failed together retry apart */
        delay = delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
    }

    redis->retry_at = ngx_current_msec + delay;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    if (redis->fails >= redis->max_fails) {
        ngx_log_error(level, redis->log, 0,
                      "recsys: redis %V: %*s; %ui failures in a row, "
                      "Redis is skipped for %Mms",
                      &redis->name, p - text, text, redis->fails, delay);

    } else {
        ngx_log_error(level, redis->log, 0,
                      "recsys: redis %V: %*s; retrying in %Mms",
                      &redis->name, p - text, text, delay);
    }
}


static void
ngx_http_recsys_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_recsys_redis_t *redis = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                     "Redis is not connected",
                                     "connect failed: %s",
                                     ac->errstr ? ac->errstr : "unknown");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                   "recsys: redis %V: connected", &redis->name);

    if (redis->handshake == 0) {
        redis->ready = 1;

        if (redis->connect_timer.timer_set) {
            ngx_del_timer(&redis->connect_timer);
        }
    }
}


static void
ngx_http_recsys_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_recsys_redis_t *redis = ac->data;

    if (status == REDIS_OK || redis->exiting) {
        /* our own close: the failure, if any, is already counted */
        return;
    }

    ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                 "the connection to Redis was lost",
                                 "connection lost: %s",
                                 ac->errstr ? ac->errstr : "unknown");
}


static void
ngx_http_recsys_redis_handshake(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_recsys_redis_t *redis = ac->data;

    redisReply  *rr;
    const char  *what;

    rr = reply;
    what = privdata;

    if (rr == NULL || redis->exiting) {
        /* the connection is going away; whoever closed it counted it */
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        if (redis->connect_timer.timer_set) {
            ngx_del_timer(&redis->connect_timer);
        }

        ngx_http_recsys_redis_failed(redis, NGX_LOG_ERR,
                                     "Redis refused the connection",
                                     "%s failed: \"%*s\"", what,
                                     (size_t) rr->len, rr->str);
        ngx_http_recsys_redis_close(redis);
        return;
    }

    if (--redis->handshake == 0 && (ac->c.flags & REDIS_CONNECTED)) {
        redis->ready = 1;

        if (redis->connect_timer.timer_set) {
            ngx_del_timer(&redis->connect_timer);
        }
    }
}


static void
ngx_http_recsys_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_recsys_redis_t *redis = ev->data;

    if (redis->ac == NULL || redis->ready) {
        return;
    }

    ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                 "Redis did not answer in time",
                                 "connect timed out after %Mms",
                                 redis->connect_timeout);
    ngx_http_recsys_redis_close(redis);
}


static void
ngx_http_recsys_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_recsys_redis_op_t *op = privdata;

    void                              *data;
    redisReply                        *rr;
    ngx_http_recsys_redis_t           *redis;
    ngx_http_recsys_redis_handler_pt   handler;

    redis = op->redis;
    rr = reply;

    op->pending--;

    if (rr == NULL) {
        op->rc = NGX_ERROR;

        /* hiredis calls back before the disconnect callback counts it */
        if (ac->err) {
            redis->reason = "the connection to Redis was lost";
        }

    } else {
        /* Redis answers: whatever failed before is over */
        if (redis->fails >= redis->max_fails) {
            ngx_http_recsys_metrics_set(NGX_HTTP_RECSYS_METRIC_REDIS_CIRCUIT,
                                        NULL, 0);
        }

        redis->fails = 0;

        if (rr->type == REDIS_REPLY_ERROR) {
            op->errors++;
        }
    }

    if (op->pending) {
        return;
    }

    handler = op->handler;
    data = op->data;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (op->cln) {
        op->cln->handler = NULL;
    }

    if (handler != NULL && !redis->exiting) {
        handler(data, op->rc, op->rc == NGX_OK ? rr : NULL, op->errors);
    }

    ngx_free(op);
}


static void
ngx_http_recsys_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_recsys_redis_op_t *op = ev->data;

    void                              *data;
    ngx_http_recsys_redis_t           *redis;
    ngx_http_recsys_redis_handler_pt   handler;

    redis = op->redis;
    handler = op->handler;
    data = op->data;

    /* the op stays until hiredis calls back, the request is told now */
    op->handler = NULL;

    if (op->cln) {
        op->cln->handler = NULL;
        op->cln = NULL;
    }

    ngx_http_recsys_redis_failed(redis, NGX_LOG_WARN,
                                 "Redis did not answer in time",
                                 "no reply within %Mms", redis->timeout);

    if (redis->fails >= redis->max_fails) {
        /* frees the op, among others, through their NULL replies */
        ngx_http_recsys_redis_close(redis);
    }

    if (handler != NULL) {
        handler(data, NGX_AGAIN, NULL, 0);
    }
}


/* the request goes away first: its commands run, nobody is told */

static void
ngx_http_recsys_redis_op_cancel(void *data)
{
    ngx_http_recsys_redis_op_t *op = data;

    op->handler = NULL;
    op->cln = NULL;

    /* a timer left behind would keep a shutting down worker waiting */
    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }
}


/*
 * One redisAsyncHandleRead() reads at most 16k; with edge-triggered
 * events nothing more is reported for what is already buffered, so read
 * while the socket has data.  Any call may free the context.
 */

static void
ngx_http_recsys_redis_read_handler(ngx_event_t *rev)
{
    int                       n;
    ngx_uint_t                generation;
    ngx_connection_t         *c;
    ngx_http_recsys_redis_t  *redis;

    c = rev->data;
    redis = c->data;

    if (c->close) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, redis->log, 0,
                       "recsys: redis %V: closed for shutdown",
                       &redis->name);
        ngx_http_recsys_redis_close(redis);
        return;
    }

    if (redis->ac == NULL) {
        return;
    }

    generation = redis->generation;

    for ( ;; ) {
        redisAsyncHandleRead(redis->ac);

        if (redis->generation != generation || redis->ac == NULL) {
            return;
        }

        if (ioctl(c->fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


/* likewise, write while the buffer shrinks */

static void
ngx_http_recsys_redis_write_handler(ngx_event_t *wev)
{
    size_t                    left;
    ngx_uint_t                generation;
    ngx_connection_t         *c;
    ngx_http_recsys_redis_t  *redis;

    c = wev->data;
    redis = c->data;

    if (redis->ac == NULL) {
        return;
    }

    generation = redis->generation;

    for ( ;; ) {
        left = sdslen(redis->ac->c.obuf);

        redisAsyncHandleWrite(redis->ac);

        if (redis->generation != generation || redis->ac == NULL) {
            return;
        }

        if (!(redis->ac->c.flags & REDIS_CONNECTED)) {
            return;
        }

        if (sdslen(redis->ac->c.obuf) == 0
            || sdslen(redis->ac->c.obuf) >= left)
        {
            return;
        }
    }
}


/* the hooks hiredis calls: they may be called again for the same state */

static void
ngx_http_recsys_redis_add_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->read->active) {
        return;
    }

    if (ngx_add_event(c->read, NGX_READ_EVENT,
                      (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                      ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "recsys: redis: cannot add the read event");
    }
}


static void
ngx_http_recsys_redis_del_read(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->read->active) {
        return;
    }

    if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "recsys: redis: cannot delete the read event");
    }
}


static void
ngx_http_recsys_redis_add_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (c->write->active) {
        return;
    }

    if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                      (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                      ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "recsys: redis: cannot add the write event");
    }
}


static void
ngx_http_recsys_redis_del_write(void *privdata)
{
    ngx_connection_t *c = privdata;

    if (!c->write->active) {
        return;
    }

    if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "recsys: redis: cannot delete the write event");
    }
}


/*
 * hiredis frees the context: the events go, the connection returns to
 * the free list, and hiredis closes the socket itself after this returns
 * (closing it here as well would close a descriptor another connection
 * may already have).
 */

static void
ngx_http_recsys_redis_ev_cleanup(void *privdata)
{
    ngx_connection_t *c = privdata;

    ngx_http_recsys_redis_t  *redis;

    if (c == NULL) {
        return;
    }

    redis = c->data;

    if (redis->ac != NULL) {
        redis->ac->ev.data = NULL;
        redis->ac->ev.cleanup = NULL;
    }

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);

    /* stale events for this slot are recognised by fd == -1 */
    c->fd = (ngx_socket_t) -1;

    if (redis->connect_timer.timer_set) {
        ngx_del_timer(&redis->connect_timer);
    }

    redis->ac = NULL;
    redis->conn = NULL;
    redis->ready = 0;
    redis->generation++;
}
