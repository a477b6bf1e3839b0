/*
 * hiredis 0.14 on libuv. hiredis gives us the protocol and the adapter; what it lacks (stack-notes §7) is written
 * here: reconnects, a command deadline, knowing when a fresh connection is usable (AUTH, SELECT and every script
 * loaded) before callers may send, and Redis Cluster routing.
 *
 * A client is a seed connection and, when the seed says it is a cluster node, one connection per master:
 *
 *   standalone   the seed carries every command (one connection, as hiredis knows it);
 *   cluster      the seed carries topology (CLUSTER SLOTS) and keyless commands; each keyed command goes to its
 *                slot's master (queue/cluster.c), formatted once and kept until its reply, so that MOVED (update
 *                the map, resend there), ASK (ASKING, resend there) and TRYAGAIN/CLUSTERDOWN (park, resend from
 *                the watchdog) can retry it within its deadline. A lost node connection, a MOVED or a CLUSTERDOWN
 *                asks for a topology refresh (at most one a second).
 *
 * Replies on one connection come in send order; commands of one slot go to one connection, so a caller's pipeline
 * on one slot (settle's HSETs, ZADDs and EVALSHA) keeps its order, redirected or not.
 */
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include "../common/limits.h"
#include "../common/log.h"
#include "cluster.h"
#include "hiuv.h"
#include "keys.h"
#include "redis.h"

typedef enum { ST_DISCONNECTED, ST_CONNECTING, ST_READY, ST_CLOSING } state_t;

static const char *const state_names[] = {"disconnected", "connecting", "ready", "closing"};

typedef enum { MODE_UNKNOWN, MODE_STANDALONE, MODE_CLUSTER } redis_mode_t;

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

typedef struct conn conn_t;

typedef struct cmd {
    struct cmd *next, *prev;
    conn_t *conn; /* where it waits for its reply; NULL while parked */
    cmd_kind_t kind;
    wh_redis_cb cb; /* CMD_CALLER: the caller's; CMD_SETUP: a check of the reply, or NULL; CMD_FORGET: NULL */
    void *data;
    uint64_t deadline; /* uv_now() ms */
    /* cluster mode, caller commands: the formatted command, kept for a redirect */
    char *buf;
    size_t len;
    int slot;
    unsigned redirects;
    uint64_t not_before; /* parked: when to send it again */
} cmd_t;

/* One hiredis connection and its state machine. */
struct conn {
    wh_redis_t *r;
    char host[WH_CLUSTER_HOST_MAX]; /* "" with the configured unix socket */
    int port;
    bool is_seed;
    bool check_partitions; /* the partition count is checked on this connection's setup */
    state_t state;
    redisAsyncContext *ac;
    uint64_t reconnect_at;
    uint64_t backoff_ms;
    unsigned failures;    /* seed: consecutive failed connects, to try the next known address */
    bool reset_requested; /* e.g. NOSCRIPT: drop the connection from the watchdog, outside hiredis callbacks */
    size_t setup_pending; /* CMD_SETUP commands of the current connection not yet answered */
    cmd_t outstanding;    /* sentinel of a list in send order (Redis answers in order) */
};

struct wh_redis {
    uv_loop_t *loop;
    const wh_config_t *cfg;
    char name[32];
    redis_mode_t mode;
    bool closing;
    conn_t *seed;
    /* cluster mode */
    wh_slotmap_t *map;
    conn_t *nodes[WH_CLUSTER_MAX_NODES]; /* nodes[i] serves map->nodes[i] */
    bool refresh_wanted, refreshing;
    uint64_t refresh_at;
    cmd_t parked;        /* sentinel: redirected or refused commands waiting to be sent again */
    bool was_ready;      /* ready_cb ran for the current ready spell */
    uv_timer_t watchdog; /* command deadlines; also drives reconnects, parked commands and refreshes */
    void (*ready_cb)(wh_redis_t *r, void *data);
    void *ready_data;
    void (*close_cb)(void *data);
    void *close_data;
};

#define WATCHDOG_PERIOD_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define REFRESH_MIN_INTERVAL_MS 1000
#define PARK_MS 100      /* TRYAGAIN, CLUSTERDOWN, a redirect to a node not connected yet */
#define MAX_REDIRECTS 16 /* a command bounced more often than this fails: the cluster is reconfiguring */

static void connect_now(conn_t *c);
static void maybe_ready(wh_redis_t *r);

/* The one place that changes a connection's state. */
static void go_state(conn_t *c, state_t to)
{
    if (c->state == to)
        return;
    wh_log(to == ST_DISCONNECTED && c->state == ST_READY ? WH_LOG_WARN : WH_LOG_INFO, "redis_state", "{s:s, s:s, s:s, s:s, s:i}",
           "client", c->r->name, "from", state_names[c->state], "to", state_names[to], "host", c->host, "port", c->port);
    c->state = to;
    if (to != ST_READY)
        c->r->was_ready = false;
}

static void unlink_cmd(cmd_t *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

static void link_cmd(cmd_t *sentinel, cmd_t *c)
{
    c->prev = sentinel->prev;
    c->next = sentinel;
    c->prev->next = c;
    sentinel->prev = c;
}

static void free_cmd(cmd_t *c)
{
    free(c->buf);
    free(c);
}

static void schedule_reconnect(conn_t *c)
{
    c->reconnect_at = uv_now(c->r->loop) + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    ++c->failures;
    if (c->r->mode == MODE_CLUSTER)
        c->r->refresh_wanted = true;
}

/* Frees the hiredis context; every pending callback runs with a NULL reply. */
static void drop_connection(conn_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;

    if (ac == NULL)
        return;
    wh_log_warn("redis_drop", "{s:s, s:s, s:s, s:i}", "client", c->r->name, "reason", why, "host", c->host, "port", c->port);
    c->ac = NULL;
    c->reset_requested = false;
    if (c->state != ST_CLOSING) {
        go_state(c, ST_DISCONNECTED);
        schedule_reconnect(c);
    }
    redisAsyncFree(ac);
}

/* ---- cluster: where a command goes ---------------------------------------------------------------------- */

static conn_t *slot_conn(wh_redis_t *r, int slot)
{
    uint8_t i;

    if (r->map == NULL || slot < 0 || slot >= WH_CLUSTER_SLOTS || (i = r->map->slot_node[slot]) == WH_CLUSTER_UNASSIGNED)
        return NULL;
    return r->nodes[i];
}

static conn_t *conn_new(wh_redis_t *r, const char *host, int port, bool is_seed)
{
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->r = r;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->is_seed = is_seed;
    c->state = ST_DISCONNECTED;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->outstanding.next = c->outstanding.prev = &c->outstanding;
    return c;
}

/* Disconnects and frees (pending callbacks run with WH_EUNAVAILABLE). Never from one of its own callbacks. */
static void conn_free(conn_t *c)
{
    redisAsyncContext *ac = c->ac;

    go_state(c, ST_CLOSING);
    c->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
    free(c);
}

/* Gives every master of the map a connection, reusing those already open to the same address; the rest close. */
static void sync_nodes(wh_redis_t *r)
{
    conn_t *old[WH_CLUSTER_MAX_NODES], *fresh[WH_CLUSTER_MAX_NODES] = {0};
    size_t nold = 0;

    for (size_t i = 0; i != WH_CLUSTER_MAX_NODES; ++i)
        if (r->nodes[i] != NULL)
            old[nold++] = r->nodes[i];
    for (size_t i = 0; i != r->map->nnodes; ++i) {
        const wh_cluster_node_t *n = &r->map->nodes[i];
        for (size_t j = 0; j != nold; ++j)
            if (old[j] != NULL && old[j]->port == n->port && strcmp(old[j]->host, n->host) == 0) {
                fresh[i] = old[j];
                old[j] = NULL;
                break;
            }
    }
    memcpy(r->nodes, fresh, sizeof(r->nodes));
    for (size_t j = 0; j != nold; ++j)
        if (old[j] != NULL) {
            wh_log_info("redis_node_forgotten", "{s:s, s:s, s:i}", "client", r->name, "host", old[j]->host, "port", old[j]->port);
            conn_free(old[j]);
        }
    for (size_t i = 0; i != r->map->nnodes; ++i)
        if (r->nodes[i] == NULL) {
            r->nodes[i] = conn_new(r, r->map->nodes[i].host, r->map->nodes[i].port, false);
            connect_now(r->nodes[i]);
        }
}

/* Whether a command of `slot` waits in the parked list: a later command of that slot must wait behind it, or it
   would overtake it (one slot's commands keep their order, redirected or not). */
static bool slot_parked(const wh_redis_t *r, int slot)
{
    for (const cmd_t *c = r->parked.next; c != &r->parked; c = c->next)
        if (c->slot == slot)
            return true;
    return false;
}

static void park(wh_redis_t *r, cmd_t *c, uint64_t delay_ms)
{
    c->conn = NULL;
    c->not_before = uv_now(r->loop) + delay_ms;
    link_cmd(&r->parked, c);
}

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata);

/* Hands a kept command to `to`, linking it there; false when `to` is not ready. */
static bool send_kept(cmd_t *c, conn_t *to, bool asking)
{
    if (to == NULL || to->ac == NULL || to->state != ST_READY)
        return false;
    if (asking && redisAsyncCommand(to->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return false;
    if (redisAsyncFormattedCommand(to->ac, on_reply, c, c->buf, c->len) != REDIS_OK)
        return false;
    c->conn = to;
    /* a fresh deadline on its new connection: the old one may be nearly spent, and a command past it would make
       the watchdog drop a healthy connection (the redirection bound keeps the total finite) */
    c->deadline = uv_now(to->r->loop) + WH_REDIS_COMMAND_TIMEOUT_MS;
    link_cmd(&to->outstanding, c);
    return true;
}

/*
 * A cluster error reply to a kept command: MOVED, ASK, TRYAGAIN or CLUSTERDOWN. True when the command was taken
 * care of (sent again or parked); false to hand the error to its caller.
 */
static bool redirect(conn_t *from, cmd_t *c, const redisReply *reply)
{
    wh_redis_t *r = from->r;
    wh_redirect_t to;

    if (c->buf == NULL || ++c->redirects > MAX_REDIRECTS)
        return false;
    if (wh_cluster_redirect(reply->str, reply->len, &to)) {
        const char *host = to.host[0] != '\0' ? to.host : from->host;
        conn_t *target = NULL;
        if (to.kind == WH_REDIRECT_MOVED) {
            wh_log_info("redis_moved", "{s:s, s:i, s:s, s:i}", "client", r->name, "slot", (int)to.slot, "host", host, "port",
                        to.port);
            if (!wh_slotmap_move(r->map, to.slot, host, to.port)) {
                r->refresh_wanted = true;
                park(r, c, PARK_MS);
                return true;
            }
            r->refresh_wanted = true; /* one slot moved: others likely did too */
            sync_nodes(r);
            target = slot_conn(r, (int)to.slot);
        } else {
            for (size_t i = 0; i != r->map->nnodes; ++i)
                if (r->nodes[i] != NULL && r->nodes[i]->port == to.port && strcmp(r->nodes[i]->host, host) == 0)
                    target = r->nodes[i];
        }
        /* not connected yet (or an ASK to an unknown node): retry by slot later; its owner redirects again. Behind
           an earlier command of its slot that waits already, it waits too. */
        if (slot_parked(r, c->slot) || !send_kept(c, target, to.kind == WH_REDIRECT_ASK))
            park(r, c, slot_parked(r, c->slot) ? 0 : PARK_MS);
        return true;
    }
    if ((reply->len >= 8 && memcmp(reply->str, "TRYAGAIN", 8) == 0) ||
        (reply->len >= 11 && memcmp(reply->str, "CLUSTERDOWN", 11) == 0)) {
        r->refresh_wanted = true;
        park(r, c, PARK_MS);
        return true;
    }
    return false;
}

/* ---- replies ---------------------------------------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    cmd_t *c = privdata;
    conn_t *conn = c->conn;
    wh_redis_t *r = conn->r;
    redisReply *reply = reply_;
    wh_err_t err = reply == NULL ? WH_EUNAVAILABLE : reply->type == REDIS_REPLY_ERROR ? WH_EINTERNAL : WH_OK;

    unlink_cmd(c);
    if (c->kind == CMD_SETUP) {
        if (ac != conn->ac)
            goto Exit; /* a connection we already gave up */
        if (err != WH_OK) {
            wh_log_error("redis_setup_failed", "{s:s, s:s, s:s, s:i}", "client", r->name, "error",
                         reply != NULL ? reply->str : "connection lost", "host", conn->host, "port", conn->port);
            conn->reset_requested = true;
            goto Exit;
        }
        if (c->cb != NULL)
            c->cb(r, reply, err, c->data);
        if (--conn->setup_pending == 0 && conn->ac == ac && !conn->reset_requested) {
            go_state(conn, ST_READY);
            conn->backoff_ms = BACKOFF_MIN_MS;
            conn->failures = 0;
            maybe_ready(r);
        }
        goto Exit;
    }
    if (err == WH_EINTERNAL && r->mode == MODE_CLUSTER && ac == conn->ac && redirect(conn, c, reply))
        return; /* sent again or parked: it lives on */
    if (err == WH_EINTERNAL && ac == conn->ac && reply->len >= 8 && memcmp(reply->str, "NOSCRIPT", 8) == 0) {
        /*
         * Redis lost our scripts (restart without AOF, SCRIPT FLUSH): reconnecting reloads them. This is the one
         * reply that says the connection is wrong rather than the command, so fire-and-forget commands act on it too.
         */
        conn->reset_requested = true;
    }
    if (err == WH_EUNAVAILABLE && r->mode == MODE_CLUSTER)
        r->refresh_wanted = true;
    if (c->kind == CMD_CALLER) {
        c->cb(r, err == WH_EUNAVAILABLE ? NULL : reply, err, c->data);
    } else if (err == WH_EINTERNAL) {
        /* fire and forget: the error is the caller's business to avoid, never the connection's to pay for */
        wh_log_warn("redis_command_failed", "{s:s, s:s}", "client", r->name, "error", reply->str);
    } else if (err == WH_EUNAVAILABLE) {
        wh_log_debug("redis_command_lost", "{s:s}", "client", r->name);
    }
Exit:
    free_cmd(c);
}

/* A command not linked anywhere yet, its deadline running from now. */
static cmd_t *cmd_alloc(wh_redis_t *r, cmd_kind_t kind, wh_redis_cb cb, void *data, int64_t extra_ms)
{
    cmd_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->kind = kind;
    c->cb = cb;
    c->data = data;
    c->slot = WH_CLUSTER_NO_KEY;
    c->deadline = uv_now(r->loop) + WH_REDIS_COMMAND_TIMEOUT_MS + (uint64_t)(extra_ms > 0 ? extra_ms : 0);
    return c;
}

/* Keeps the command formatted, for `slot`: what a redirection sends again. */
static void cmd_keep(cmd_t *c, int slot, int argc, const char **argv, const size_t *argvlen)
{
    long long n = redisFormatCommandArgv(&c->buf, argc, argv, argvlen);

    if (n < 0)
        abort();
    c->len = (size_t)n;
    c->slot = slot;
}

/* Sends on one connection. kind: CMD_SETUP for the client's own commands; a caller's is CMD_CALLER or CMD_FORGET.
   `slot` >= 0 keeps the formatted command for a redirect. */
static wh_err_t send_on(conn_t *conn, cmd_kind_t kind, int slot, int64_t extra_ms, wh_redis_cb cb, void *data, int argc,
                        const char **argv, const size_t *argvlen)
{
    cmd_t *c;
    int rc;

    if (conn == NULL || conn->ac == NULL || (kind != CMD_SETUP && conn->state != ST_READY))
        return WH_EUNAVAILABLE;
    c = cmd_alloc(conn->r, kind, cb, data, extra_ms);
    c->conn = conn;
    link_cmd(&conn->outstanding, c);
    if (slot >= 0) {
        cmd_keep(c, slot, argc, argv, argvlen);
        rc = redisAsyncFormattedCommand(conn->ac, on_reply, c, c->buf, c->len);
    } else {
        rc = redisAsyncCommandArgv(conn->ac, on_reply, c, argc, argv, argvlen);
    }
    if (rc != REDIS_OK) {
        unlink_cmd(c);
        free_cmd(c);
        return WH_EUNAVAILABLE;
    }
    return WH_OK;
}

static cmd_kind_t caller_kind(wh_redis_cb cb)
{
    return cb != NULL ? CMD_CALLER : CMD_FORGET;
}

/* Where a caller's command goes: its connection, and the slot to keep it for (-1: not kept). */
static wh_err_t route(wh_redis_t *r, int argc, const char **argv, const size_t *argvlen, conn_t **to, int *slot)
{
    int s;

    *slot = -1;
    if (r->mode == MODE_STANDALONE) {
        *to = r->seed;
        return WH_OK;
    }
    if (r->mode != MODE_CLUSTER)
        return WH_EUNAVAILABLE;
    s = wh_cluster_command_slot(argc, argv, argvlen);
    switch (s) {
    case WH_CLUSTER_NO_KEY:
        *to = r->seed;
        return WH_OK;
    case WH_CLUSTER_CROSS_SLOT:
    case WH_CLUSTER_EVERY_NODE:
    case WH_CLUSTER_LAST_NODE: /* WAIT: refused on a cluster at startup (on_info_cluster) */
        /* a bug in wharf, not a state of Redis: every command wharf sends names one slot (scripts.h) */
        wh_log_error("redis_command_unroutable", "{s:s, s:s, s:s}", "client", r->name, "command", argc > 0 ? argv[0] : "", "why",
                     s == WH_CLUSTER_CROSS_SLOT  ? "its keys are in several slots"
                     : s == WH_CLUSTER_LAST_NODE ? "WAIT is not supported on a cluster"
                                                 : "it must go to every node");
        return WH_EINVAL;
    default:
        *to = slot_conn(r, s);
        *slot = s;
        return WH_OK;
    }
}

static wh_err_t send_routed(wh_redis_t *r, int64_t extra_ms, wh_redis_cb cb, void *data, int argc, const char **argv,
                            const size_t *argvlen)
{
    conn_t *to;
    int slot;
    wh_err_t err;

    if (r->closing)
        return WH_EUNAVAILABLE;
    if ((err = route(r, argc, argv, argvlen, &to, &slot)) != WH_OK)
        return err;
    if (slot >= 0 && r->parked.next != &r->parked && slot_parked(r, slot)) {
        /* an earlier command of this slot waits to be sent again: this one waits behind it */
        cmd_t *c = cmd_alloc(r, caller_kind(cb), cb, data, extra_ms);
        cmd_keep(c, slot, argc, argv, argvlen);
        park(r, c, 0);
        return WH_OK;
    }
    return send_on(to, caller_kind(cb), slot, extra_ms, cb, data, argc, argv, argvlen);
}

/* ---- connection setup ------------------------------------------------------------------------------------- */

/* One setup command on the connection being established; readiness waits for its reply, which `check` (or
   NULL) sees first. */
static void send_setup_checked(conn_t *c, wh_redis_cb check, int argc, const char **argv, const size_t *argvlen)
{
    if (send_on(c, CMD_SETUP, -1, 0, check, NULL, argc, argv, argvlen) == WH_OK)
        ++c->setup_pending;
    else
        c->reset_requested = true; /* never ready without it: start over from the watchdog */
}

static void send_setup(conn_t *c, int argc, const char **argv, const size_t *argvlen)
{
    send_setup_checked(c, NULL, argc, argv, argvlen);
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

/* What a data connection sends before it is ready: the scripts, the partition check where it belongs, a PING. */
static void send_data_setup(conn_t *c)
{
    for (size_t i = 0; i != wh_scripts_count; ++i) {
        const char *argv[] = {"SCRIPT", "LOAD", wh_scripts_all[i]->source};
        size_t argvlen[] = {6, 4, wh_scripts_all[i]->len};
        send_setup(c, 3, argv, argvlen);
    }
    if (c->check_partitions) {
        char n[16], stream0[WH_KEY_MAX];
        const char *argv[] = {"EVAL", partitions_script, "2", WH_KEY_PARTITIONS, stream0, n};
        snprintf(n, sizeof(n), "%u", wh_partitions());
        wh_key_stream(stream0, 0);
        send_setup_checked(c, check_partitions, 6, argv, NULL);
    }
    {
        const char *argv[] = {"PING"};
        send_setup(c, 1, argv, NULL);
    }
}

/* The seed's CLUSTER SLOTS, first or on refresh. */
static void apply_slots(wh_redis_t *r, const redisReply *reply)
{
    char errbuf[256];
    wh_slotmap_t *m = malloc(sizeof(*m));

    if (m == NULL)
        abort();
    if (wh_slotmap_from_slots(m, reply, r->seed->host, errbuf) != WH_OK || !wh_slotmap_complete(m)) {
        wh_log_warn("redis_topology_incomplete", "{s:s, s:s}", "client", r->name, "error",
                    wh_slotmap_complete(m) ? errbuf : "some slots have no master");
        free(m);
        r->refresh_wanted = true;
        if (r->map != NULL)
            return;
        m = NULL; /* the first map: keep none; the client stays unready until a complete one */
        return;
    }
    free(r->map);
    r->map = m;
    sync_nodes(r);
    maybe_ready(r);
}

static void on_cluster_slots(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    (void)data;
    r->refreshing = false;
    if (err == WH_OK)
        apply_slots(r, reply);
    else
        r->refresh_wanted = true;
}

/* The seed's INFO cluster: decides the mode, once. */
static void on_info_cluster(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_t *seed = r->seed;
    bool cluster;

    (void)data;
    if (err != WH_OK || reply->type != REDIS_REPLY_STRING)
        return;
    cluster = strstr(reply->str, "cluster_enabled:1") != NULL;
    if (r->mode == MODE_UNKNOWN) {
        r->mode = cluster ? MODE_CLUSTER : MODE_STANDALONE;
        wh_log_info("redis_mode", "{s:s, s:s}", "client", r->name, "mode", cluster ? "cluster" : "standalone");
    } else if ((r->mode == MODE_CLUSTER) != cluster) {
        wh_log_error("redis_mode_changed", "{s:s}", "client", r->name);
        seed->reset_requested = true;
        return;
    }
    if (r->mode == MODE_CLUSTER) {
        const char *argv[] = {"CLUSTER", "SLOTS"};
        if (r->cfg->redis_db != 0) {
            fprintf(stderr, "wharf: WHARF_REDIS_URL names database %d, but a Redis Cluster has database 0 only\n",
                    r->cfg->redis_db);
            _exit(2);
        }
        if (r->cfg->redis_wait_replicas != 0) {
            /* WAIT counts one connection's writes to one master: a flush spans several (README "Deviations") */
            fprintf(stderr,
                    "wharf: WHARF_REDIS_WAIT_REPLICAS is %u, but waiting for replicas is not supported on a Redis Cluster yet: "
                    "unset it (run every master with appendfsync always; docs/deploy.md, \"Redis Cluster\", on failover)\n",
                    r->cfg->redis_wait_replicas);
            _exit(2);
        }
        send_setup_checked(seed, on_cluster_slots, 2, argv, NULL);
        r->refreshing = true;
        return;
    }
    seed->check_partitions = true;
    send_data_setup(seed);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns; pending callbacks see NULL replies */
        if (c->ac == ac) {
            wh_log_warn("redis_connect_failed", "{s:s, s:s, s:s, s:i}", "client", c->r->name, "error", ac->errstr, "host", c->host,
                        "port", c->port);
            c->ac = NULL;
            go_state(c, ST_DISCONNECTED);
            schedule_reconnect(c);
        }
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;

    if (c->ac != ac)
        return; /* we dropped it ourselves */
    wh_log_warn("redis_disconnected", "{s:s, s:s, s:s, s:i}", "client", c->r->name, "error",
                status == REDIS_OK ? "closed" : ac->errstr, "host", c->host, "port", c->port);
    c->ac = NULL;
    if (c->state != ST_CLOSING) {
        go_state(c, ST_DISCONNECTED);
        schedule_reconnect(c);
    }
}

/* The seed's address for this attempt: the configured ones in turn (WHARF_REDIS_URL's first address, then its
   other seeds), and in cluster mode each known master too (the configured nodes may be the ones that died). */
static void seed_address(conn_t *c)
{
    const wh_config_t *cfg = c->r->cfg;
    size_t nseeds = 1 + cfg->redis_nseeds, k = c->r->map != NULL ? c->r->map->nnodes : 0, pick = c->failures % (nseeds + k);

    if (pick == 0) {
        snprintf(c->host, sizeof(c->host), "%s", cfg->redis_unix_path[0] != '\0' ? "" : cfg->redis_host);
        c->port = cfg->redis_unix_path[0] != '\0' ? 0 : cfg->redis_port;
    } else if (pick < nseeds) {
        snprintf(c->host, sizeof(c->host), "%s", cfg->redis_seeds[pick - 1].host);
        c->port = cfg->redis_seeds[pick - 1].port;
    } else {
        snprintf(c->host, sizeof(c->host), "%s", c->r->map->nodes[pick - nseeds].host);
        c->port = c->r->map->nodes[pick - nseeds].port;
    }
}

static void connect_now(conn_t *c)
{
    const wh_config_t *cfg = c->r->cfg;
    redisAsyncContext *ac;
    char db[16];

    if (c->is_seed)
        seed_address(c);
    ac = c->host[0] == '\0' ? redisAsyncConnectUnix(cfg->redis_unix_path) : redisAsyncConnect(c->host, c->port);
    if (ac == NULL)
        abort();
    if (ac->err != 0) {
        wh_log_warn("redis_connect_failed", "{s:s, s:s}", "client", c->r->name, "error", ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    if (wh_hiuv_attach(ac, c->r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    go_state(c, ST_CONNECTING);
    /* hiredis learns of a failed connect only on first I/O (stack-notes P11): queue the setup at once. */
    c->setup_pending = 0;
    c->reset_requested = false; /* a request about a previous connection does not concern this one */
    if (cfg->redis_password[0] != '\0') {
        const char *argv[] = {"AUTH", cfg->redis_password};
        send_setup(c, 2, argv, NULL);
    }
    if (!c->is_seed) {
        /* a master of the cluster: the partition check where partition 0 lives */
        char stream0[WH_KEY_MAX];
        wh_key_stream(stream0, 0);
        c->check_partitions = slot_conn(c->r, (int)wh_cluster_keyslot(stream0, strlen(stream0))) == c;
        send_data_setup(c);
        return;
    }
    if (cfg->redis_db != 0) {
        const char *argv[] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", cfg->redis_db);
        send_setup(c, 2, argv, NULL);
    }
    {
        /* standalone or cluster? The reply decides what else this connection sends before it is ready. */
        const char *argv[] = {"INFO", "cluster"};
        send_setup_checked(c, on_info_cluster, 2, argv, NULL);
    }
}

/* ---- readiness, the watchdog ------------------------------------------------------------------------------ */

static bool client_ready(const wh_redis_t *r)
{
    if (r->closing || r->seed->state != ST_READY)
        return false;
    if (r->mode == MODE_STANDALONE)
        return true;
    if (r->mode != MODE_CLUSTER || r->map == NULL)
        return false;
    for (size_t i = 0; i != r->map->nnodes; ++i)
        if (r->nodes[i] == NULL || r->nodes[i]->state != ST_READY) {
            /* a node the map names but that serves no slot any more does not count */
            bool serves = false;
            for (size_t s = 0; s != WH_CLUSTER_SLOTS && !serves; ++s)
                serves = r->map->slot_node[s] == i;
            if (serves)
                return false;
        }
    return true;
}

static void maybe_ready(wh_redis_t *r)
{
    if (r->was_ready || !client_ready(r))
        return;
    r->was_ready = true;
    if (r->ready_cb != NULL)
        r->ready_cb(r, r->ready_data);
}

/* One connection's deadlines, resets and reconnects. */
static void watch_conn(conn_t *c, uint64_t now)
{
    cmd_t *head = c->outstanding.next;

    if (c->ac != NULL && head != &c->outstanding && head->deadline <= now) {
        drop_connection(c, "command deadline exceeded");
        return;
    }
    if (c->ac != NULL && c->reset_requested) {
        drop_connection(c, "reset requested");
        return;
    }
    if (c->ac == NULL && c->state == ST_DISCONNECTED && now >= c->reconnect_at)
        connect_now(c);
}

/* Parked commands: sent again by slot once their time has come, failed once their deadline has passed. */
static void watch_parked(wh_redis_t *r, uint64_t now)
{
    cmd_t pending;
    int blocked[64];
    size_t nblocked = 0;
    bool all_blocked = false;

    /* taken out whole, put back in order: a callback below may park more (behind these) */
    if (r->parked.next == &r->parked)
        return;
    pending.next = r->parked.next;
    pending.prev = r->parked.prev;
    pending.next->prev = pending.prev->next = &pending;
    r->parked.next = r->parked.prev = &r->parked;
    while (pending.next != &pending) {
        cmd_t *c = pending.next;
        bool held = all_blocked;
        unlink_cmd(c);
        if (c->deadline <= now) {
            if (c->kind == CMD_CALLER)
                c->cb(r, NULL, WH_EUNAVAILABLE, c->data);
            free_cmd(c);
            continue;
        }
        for (size_t i = 0; i != nblocked && !held; ++i)
            held = blocked[i] == c->slot;
        /* a command of a slot whose earlier command stays parked stays too: one slot's commands keep their order */
        if (held || now < c->not_before || !send_kept(c, slot_conn(r, c->slot), false)) {
            if (!held && now >= c->not_before)
                c->not_before = now + PARK_MS;
            c->conn = NULL;
            link_cmd(&r->parked, c);
            if (nblocked == sizeof(blocked) / sizeof(blocked[0]))
                all_blocked = true;
            else if (!held)
                blocked[nblocked++] = c->slot;
        }
    }
}

static void on_watchdog(uv_timer_t *t)
{
    wh_redis_t *r = t->data;
    uint64_t now = uv_now(r->loop);

    if (r->closing)
        return;
    watch_conn(r->seed, now);
    if (r->mode != MODE_CLUSTER)
        return;
    for (size_t i = 0; i != WH_CLUSTER_MAX_NODES; ++i)
        if (r->nodes[i] != NULL)
            watch_conn(r->nodes[i], now);
    watch_parked(r, now);
    if (r->refresh_wanted && !r->refreshing && r->seed->state == ST_READY && now >= r->refresh_at) {
        const char *argv[] = {"CLUSTER", "SLOTS"};
        if (send_on(r->seed, CMD_CALLER, -1, 0, on_cluster_slots, NULL, 2, argv, NULL) == WH_OK) {
            r->refresh_wanted = false;
            r->refreshing = true;
            r->refresh_at = now + REFRESH_MIN_INTERVAL_MS;
        }
    }
}

/* ---- the interface ---------------------------------------------------------------------------------------- */

wh_redis_t *wh_redis_new(uv_loop_t *loop, const wh_config_t *cfg, const char *name)
{
    wh_redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->loop = loop;
    r->cfg = cfg;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->mode = MODE_UNKNOWN;
    r->seed = conn_new(r, "", 0, true);
    r->parked.next = r->parked.prev = &r->parked;
    uv_timer_init(loop, &r->watchdog);
    r->watchdog.data = r;
    return r;
}

void wh_redis_start(wh_redis_t *r)
{
    connect_now(r->seed);
    uv_timer_start(&r->watchdog, on_watchdog, WATCHDOG_PERIOD_MS, WATCHDOG_PERIOD_MS);
}

bool wh_redis_ready(const wh_redis_t *r)
{
    return client_ready(r);
}

bool wh_redis_is_cluster(const wh_redis_t *r)
{
    return r->mode == MODE_CLUSTER;
}

void wh_redis_on_ready(wh_redis_t *r, void (*cb)(wh_redis_t *r, void *data), void *data)
{
    r->ready_cb = cb;
    r->ready_data = data;
}

wh_err_t wh_redis_command(wh_redis_t *r, wh_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    return send_routed(r, 0, cb, data, argc, argv, argvlen);
}

wh_err_t wh_redis_command_blocking(wh_redis_t *r, int64_t block_ms, wh_redis_cb cb, void *data, int argc, const char **argv,
                                   const size_t *argvlen)
{
    return send_routed(r, block_ms, cb, data, argc, argv, argvlen);
}

wh_err_t wh_redis_command_at(wh_redis_t *r, const char *key, size_t keylen, wh_redis_cb cb, void *data, int argc, const char **argv,
                             const size_t *argvlen)
{
    conn_t *to = r->seed;

    if (r->closing)
        return WH_EUNAVAILABLE;
    if (r->mode == MODE_CLUSTER)
        to = slot_conn(r, (int)wh_cluster_keyslot(key, keylen));
    else if (r->mode != MODE_STANDALONE)
        return WH_EUNAVAILABLE;
    return send_on(to, caller_kind(cb), -1, 0, cb, data, argc, argv, argvlen);
}

size_t wh_redis_node_count(const wh_redis_t *r)
{
    return r->mode == MODE_STANDALONE ? 1 : r->mode == MODE_CLUSTER && r->map != NULL ? r->map->nnodes : 0;
}

wh_err_t wh_redis_command_node(wh_redis_t *r, size_t i, wh_redis_cb cb, void *data, int argc, const char **argv,
                               const size_t *argvlen)
{
    if (r->closing)
        return WH_EUNAVAILABLE;
    if (i >= wh_redis_node_count(r))
        return WH_EINVAL;
    return send_on(r->mode == MODE_STANDALONE ? r->seed : r->nodes[i], caller_kind(cb), -1, 0, cb, data, argc, argv, argvlen);
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
    err = send_routed(r, 0, cb, data, argc + 3, av, al);
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
    free(r->map);
    free(r);
}

void wh_redis_close(wh_redis_t *r, void (*cb)(void *data), void *data)
{
    r->close_cb = cb;
    r->close_data = data;
    r->closing = true;
    /* parked commands first: their callbacks may not find the client half gone */
    while (r->parked.next != &r->parked) {
        cmd_t *c = r->parked.next;
        unlink_cmd(c);
        if (c->kind == CMD_CALLER)
            c->cb(r, NULL, WH_EUNAVAILABLE, c->data);
        free_cmd(c);
    }
    for (size_t i = 0; i != WH_CLUSTER_MAX_NODES; ++i)
        if (r->nodes[i] != NULL) {
            conn_free(r->nodes[i]);
            r->nodes[i] = NULL;
        }
    conn_free(r->seed);
    r->seed = NULL;
    uv_timer_stop(&r->watchdog);
    uv_close((uv_handle_t *)&r->watchdog, on_watchdog_closed);
}
