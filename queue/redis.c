/*
 * hiredis 0.14 on libuv. hiredis gives us the protocol and the adapter; what
 * it lacks (stack-notes §7) is written here: reconnects, a command deadline,
 * and knowing when a fresh connection is usable (AUTH, SELECT and every script
 * loaded) before callers may send.
 */
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include "../common/limits.h"
#include "../common/log.h"
#include "keys.h"
#include "redis.h"

typedef enum { ST_DISCONNECTED, ST_CONNECTING, ST_READY, ST_CLOSING } state_t;

static const char *const state_names[] = {"disconnected", "connecting", "ready", "closing"};

/*
 * Who is waiting for a reply. A setup command is marked as such when it is sent, never inferred from its
 * callback: a caller's NULL callback means fire and forget, which must neither count towards readiness
 * nor make an error reply fatal to the connection.
 */
typedef enum {
    CMD_CALLER, /* cb runs once with the reply */
    CMD_FORGET, /* the caller's cb was NULL: an error is logged, nothing else */
    CMD_SETUP,  /* the client's own AUTH, SELECT, SCRIPT LOAD, partition check, PING on a new connection; cb, when
                   set, checks the reply before readiness counts it */
} cmd_kind_t;

typedef struct cmd {
    struct cmd *next, *prev;
    wh_redis_t *r;
    cmd_kind_t kind;
    wh_redis_cb cb; /* CMD_CALLER: the caller's; CMD_SETUP: a check of the reply, or NULL; CMD_FORGET: NULL */
    void *data;
    uint64_t deadline; /* uv_now() ms */
} cmd_t;

struct wh_redis {
    uv_loop_t *loop;
    const wh_config_t *cfg;
    char name[32];
    state_t state;
    redisAsyncContext *ac;
    uv_timer_t watchdog; /* command deadlines; also drives reconnects */
    uint64_t reconnect_at;
    uint64_t backoff_ms;
    bool reset_requested; /* e.g. NOSCRIPT: drop the connection from the watchdog, outside hiredis callbacks */
    size_t setup_pending; /* CMD_SETUP commands of the current connection not yet answered */
    cmd_t outstanding;    /* sentinel of a list in send order (Redis answers in order) */
    void (*ready_cb)(wh_redis_t *r, void *data);
    void *ready_data;
    void (*close_cb)(void *data);
    void *close_data;
};

#define WATCHDOG_PERIOD_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

static void connect_now(wh_redis_t *r);

/* The one place that changes r->state. */
static void go_state(wh_redis_t *r, state_t to)
{
    if (r->state == to)
        return;
    wh_log(to == ST_DISCONNECTED && r->state == ST_READY ? WH_LOG_WARN : WH_LOG_INFO, "redis_state", "{s:s, s:s, s:s}", "client",
           r->name, "from", state_names[r->state], "to", state_names[to]);
    r->state = to;
}

static void unlink_cmd(cmd_t *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

static void schedule_reconnect(wh_redis_t *r)
{
    r->reconnect_at = uv_now(r->loop) + r->backoff_ms;
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Frees the hiredis context; every pending callback runs with a NULL reply. */
static void drop_connection(wh_redis_t *r, const char *why)
{
    redisAsyncContext *ac = r->ac;

    if (ac == NULL)
        return;
    wh_log_warn("redis_drop", "{s:s, s:s}", "client", r->name, "reason", why);
    r->ac = NULL;
    r->reset_requested = false;
    if (r->state != ST_CLOSING) {
        go_state(r, ST_DISCONNECTED);
        schedule_reconnect(r);
    }
    redisAsyncFree(ac);
}

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    cmd_t *c = privdata;
    wh_redis_t *r = c->r;
    redisReply *reply = reply_;
    wh_err_t err = reply == NULL ? WH_EUNAVAILABLE : reply->type == REDIS_REPLY_ERROR ? WH_EINTERNAL : WH_OK;

    unlink_cmd(c);
    if (c->kind == CMD_SETUP) {
        if (ac != r->ac)
            goto Exit; /* a connection we already gave up */
        if (err != WH_OK) {
            wh_log_error("redis_setup_failed", "{s:s, s:s}", "client", r->name, "error",
                         reply != NULL ? reply->str : "connection lost");
            r->reset_requested = true;
            goto Exit;
        }
        if (c->cb != NULL)
            c->cb(r, reply, err, c->data);
        if (--r->setup_pending == 0) {
            go_state(r, ST_READY);
            r->backoff_ms = BACKOFF_MIN_MS;
            if (r->ready_cb != NULL)
                r->ready_cb(r, r->ready_data);
        }
        goto Exit;
    }
    if (err == WH_EINTERNAL && ac == r->ac && reply->len >= 8 && memcmp(reply->str, "NOSCRIPT", 8) == 0) {
        /*
         * Redis lost our scripts (restart without AOF, SCRIPT FLUSH): reconnecting reloads them. This is the one
         * reply that says the connection is wrong rather than the command, so fire-and-forget commands act on it too.
         */
        r->reset_requested = true;
    }
    if (c->kind == CMD_CALLER) {
        c->cb(r, err == WH_EUNAVAILABLE ? NULL : reply, err, c->data);
    } else if (err == WH_EINTERNAL) {
        /* fire and forget: the error is the caller's business to avoid, never the connection's to pay for */
        wh_log_warn("redis_command_failed", "{s:s, s:s}", "client", r->name, "error", reply->str);
    } else if (err == WH_EUNAVAILABLE) {
        wh_log_debug("redis_command_lost", "{s:s}", "client", r->name);
    }
Exit:
    free(c);
}

static cmd_t *new_cmd(wh_redis_t *r, cmd_kind_t kind, wh_redis_cb cb, void *data, int64_t extra_ms)
{
    cmd_t *c = malloc(sizeof(*c));
    if (c == NULL)
        abort();
    c->r = r;
    c->kind = kind;
    c->cb = cb;
    c->data = data;
    c->deadline = uv_now(r->loop) + WH_REDIS_COMMAND_TIMEOUT_MS + (uint64_t)(extra_ms > 0 ? extra_ms : 0);
    c->prev = r->outstanding.prev;
    c->next = &r->outstanding;
    c->prev->next = c;
    r->outstanding.prev = c;
    return c;
}

/* kind: CMD_SETUP for the client's own commands; a caller's command is CMD_CALLER or, with cb == NULL, CMD_FORGET. */
static wh_err_t send_argv(wh_redis_t *r, cmd_kind_t kind, int64_t extra_ms, wh_redis_cb cb, void *data, int argc, const char **argv,
                          const size_t *argvlen)
{
    cmd_t *c;

    if (r->ac == NULL || (kind != CMD_SETUP && r->state != ST_READY))
        return WH_EUNAVAILABLE;
    c = new_cmd(r, kind, cb, data, extra_ms);
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        unlink_cmd(c);
        free(c);
        return WH_EUNAVAILABLE;
    }
    return WH_OK;
}

static cmd_kind_t caller_kind(wh_redis_cb cb)
{
    return cb != NULL ? CMD_CALLER : CMD_FORGET;
}

/* One setup command on the connection being established; readiness waits for its reply, which `check` (or
   NULL) sees first. */
static void send_setup_checked(wh_redis_t *r, wh_redis_cb check, int argc, const char **argv, const size_t *argvlen)
{
    if (send_argv(r, CMD_SETUP, 0, check, NULL, argc, argv, argvlen) == WH_OK)
        ++r->setup_pending;
    else
        r->reset_requested = true; /* never ready without it: start over from the watchdog */
}

static void send_setup(wh_redis_t *r, int argc, const char **argv, const size_t *argvlen)
{
    send_setup_checked(r, NULL, argc, argv, argvlen);
}

/*
 * The deployment's partition count (WHARF_PARTITIONS) is fixed once a Redis holds queues: it decides which stream
 * orders each connection's events. The first connection stores it; a Redis whose partition 0 stream exists without
 * the key predates it, and its count was 8. Every connection compares, and a process configured otherwise stops
 * before it writes anything: a different count would move connections to other streams mid-flight.
 */
static const char partitions_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                        "if v then return v end\n"
                                        "v = redis.call('EXISTS', KEYS[2]) == 1 and '8' or ARGV[1]\n"
                                        "redis.call('SET', KEYS[1], v)\n"
                                        "return v\n";

static void check_partitions(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    char want[16];

    (void)data;
    snprintf(want, sizeof(want), "%u", wh_partitions());
    if (err != WH_OK || reply->type != REDIS_REPLY_STRING || strcmp(reply->str, want) == 0)
        return;
    wh_log_error("partition_count_mismatch", "{s:s, s:s, s:s, s:s}", "client", r->name, "configured", want, "stored", reply->str,
                 "key", WH_KEY_PARTITIONS);
    fprintf(stderr,
            "wharf: WHARF_PARTITIONS is %s, but this Redis holds queues for %s partitions (%s): set WHARF_PARTITIONS=%s "
            "(changing the count needs an empty Redis)\n",
            want, reply->str, WH_KEY_PARTITIONS, reply->str);
    /* _exit, not exit: any loop thread may get here, and several at once; exit()'s teardown would run under
       the feet of the others (stderr is unbuffered: the lines above are out) */
    _exit(2);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    wh_redis_t *r = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns; pending callbacks see NULL replies */
        if (r->ac == ac) {
            wh_log_warn("redis_connect_failed", "{s:s, s:s}", "client", r->name, "error", ac->errstr);
            r->ac = NULL;
            go_state(r, ST_DISCONNECTED);
            schedule_reconnect(r);
        }
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    wh_redis_t *r = ac->data;

    if (r->ac != ac)
        return; /* we dropped it ourselves */
    wh_log_warn("redis_disconnected", "{s:s, s:s}", "client", r->name, "error", status == REDIS_OK ? "closed" : ac->errstr);
    r->ac = NULL;
    if (r->state != ST_CLOSING) {
        go_state(r, ST_DISCONNECTED);
        schedule_reconnect(r);
    }
}

static void connect_now(wh_redis_t *r)
{
    const wh_config_t *cfg = r->cfg;
    redisAsyncContext *ac;
    char db[16];

    ac = cfg->redis_unix_path[0] != '\0' ? redisAsyncConnectUnix(cfg->redis_unix_path)
                                         : redisAsyncConnect(cfg->redis_host, cfg->redis_port);
    if (ac == NULL)
        abort();
    if (ac->err != 0) {
        wh_log_warn("redis_connect_failed", "{s:s, s:s}", "client", r->name, "error", ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    go_state(r, ST_CONNECTING);
    /* hiredis learns of a failed connect only on first I/O (stack-notes P11): queue the setup at once. */
    r->setup_pending = 0;
    r->reset_requested = false; /* a request about a previous connection does not concern this one */
    if (cfg->redis_password[0] != '\0') {
        const char *argv[] = {"AUTH", cfg->redis_password};
        send_setup(r, 2, argv, NULL);
    }
    if (cfg->redis_db != 0) {
        const char *argv[] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", cfg->redis_db);
        send_setup(r, 2, argv, NULL);
    }
    for (size_t i = 0; i != wh_scripts_count; ++i) {
        const char *argv[] = {"SCRIPT", "LOAD", wh_scripts_all[i]->source};
        size_t argvlen[] = {6, 4, wh_scripts_all[i]->len};
        send_setup(r, 3, argv, argvlen);
    }
    {
        char n[16], stream0[WH_KEY_MAX];
        const char *argv[] = {"EVAL", partitions_script, "2", WH_KEY_PARTITIONS, stream0, n};
        snprintf(n, sizeof(n), "%u", wh_partitions());
        wh_key_stream(stream0, 0);
        send_setup_checked(r, check_partitions, 6, argv, NULL);
    }
    {
        const char *argv[] = {"PING"};
        send_setup(r, 1, argv, NULL);
    }
}

static void on_watchdog(uv_timer_t *t)
{
    wh_redis_t *r = t->data;
    uint64_t now = uv_now(r->loop);
    cmd_t *head = r->outstanding.next;

    if (r->state == ST_CLOSING)
        return;
    if (r->ac != NULL && head != &r->outstanding && head->deadline <= now) {
        drop_connection(r, "command deadline exceeded");
        return;
    }
    if (r->ac != NULL && r->reset_requested) {
        drop_connection(r, "reset requested");
        return;
    }
    if (r->ac == NULL && r->state == ST_DISCONNECTED && now >= r->reconnect_at)
        connect_now(r);
}

wh_redis_t *wh_redis_new(uv_loop_t *loop, const wh_config_t *cfg, const char *name)
{
    wh_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->loop = loop;
    r->cfg = cfg;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->state = ST_DISCONNECTED;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->outstanding.next = r->outstanding.prev = &r->outstanding;
    uv_timer_init(loop, &r->watchdog);
    r->watchdog.data = r;
    return r;
}

void wh_redis_start(wh_redis_t *r)
{
    connect_now(r);
    uv_timer_start(&r->watchdog, on_watchdog, WATCHDOG_PERIOD_MS, WATCHDOG_PERIOD_MS);
}

bool wh_redis_ready(const wh_redis_t *r)
{
    return r->state == ST_READY;
}

void wh_redis_on_ready(wh_redis_t *r, void (*cb)(wh_redis_t *r, void *data), void *data)
{
    r->ready_cb = cb;
    r->ready_data = data;
}

wh_err_t wh_redis_command(wh_redis_t *r, wh_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    return send_argv(r, caller_kind(cb), 0, cb, data, argc, argv, argvlen);
}

wh_err_t wh_redis_command_blocking(wh_redis_t *r, int64_t block_ms, wh_redis_cb cb, void *data, int argc, const char **argv,
                                   const size_t *argvlen)
{
    return send_argv(r, caller_kind(cb), block_ms, cb, data, argc, argv, argvlen);
}

wh_err_t wh_redis_commandf(wh_redis_t *r, wh_redis_cb cb, void *data, const char *fmt, ...)
{
    cmd_t *c;
    va_list ap;
    int rc;

    if (r->ac == NULL || r->state != ST_READY)
        return WH_EUNAVAILABLE;
    c = new_cmd(r, caller_kind(cb), cb, data, 0);
    va_start(ap, fmt);
    rc = redisvAsyncCommand(r->ac, on_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        unlink_cmd(c);
        free(c);
        return WH_EUNAVAILABLE;
    }
    return WH_OK;
}

wh_err_t wh_redis_script(wh_redis_t *r, const wh_script_t *script, wh_redis_cb cb, void *data, int nkeys, int argc,
                         const char **argv, const size_t *argvlen)
{
    const char *stack_argv[64], **av = stack_argv;
    size_t stack_len[64], *al = stack_len;
    char nk[16];
    wh_err_t err;

    if (argc < 0 || nkeys < 0 || nkeys > argc)
        return WH_EINVAL;
    if (argc + 3 > 64) {
        av = malloc(sizeof(*av) * (size_t)(argc + 3));
        al = malloc(sizeof(*al) * (size_t)(argc + 3));
        if (av == NULL || al == NULL)
            abort();
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = script->sha1;
    al[1] = 40;
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i != argc; ++i) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    }
    err = send_argv(r, caller_kind(cb), 0, cb, data, argc + 3, av, al);
    if (av != stack_argv) {
        free(av);
        free(al);
    }
    return err;
}

static void on_watchdog_closed(uv_handle_t *h)
{
    wh_redis_t *r = h->data;
    if (r->close_cb != NULL)
        r->close_cb(r->close_data);
    free(r);
}

void wh_redis_close(wh_redis_t *r, void (*cb)(void *data), void *data)
{
    redisAsyncContext *ac = r->ac;

    r->close_cb = cb;
    r->close_data = data;
    go_state(r, ST_CLOSING);
    r->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
    uv_timer_stop(&r->watchdog);
    uv_close((uv_handle_t *)&r->watchdog, on_watchdog_closed);
}
