/*
 * hiredis on a libuv loop: a client of one Redis or of a Redis Cluster (found out from the address given: INFO
 * cluster), its connections' state machines, reconnects with backoff, a command deadline, scripts loaded on every
 * (re)connect, and on a cluster each command sent to its slot's master, redirected on MOVED/ASK (queue/redis.c).
 * A command whose keys span slots is refused with WH_EINVAL on a cluster (and logged: it is a bug in wharf).
 *
 * The async contract: if a call returns an error its callback never fires;
 * otherwise the callback fires exactly once, with err = WH_EUNAVAILABLE and
 * reply = NULL when the connection was lost, timed out or closed (the command
 * may or may not have run: callers are idempotent or at-least-once).
 *
 * Fire and forget: a command sent with cb == NULL has no callback. An error reply to it is logged and is
 * never fatal to the connection (NOSCRIPT excepted: it reloads the scripts, as for any command); it never
 * counts towards readiness, which only the client's own setup commands (AUTH, SELECT, SCRIPT LOAD) gate.
 */
#ifndef WH_REDIS_H
#define WH_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "../common/config.h"
#include "../common/err.h"
#include "scripts.h"

typedef struct wh_redis wh_redis_t;

/*
 * `reply` is valid only during the callback. err: WH_OK (reply is not an error), WH_EINTERNAL (reply is a
 * REDIS_REPLY_ERROR; reply->str says why), WH_EUNAVAILABLE (reply == NULL).
 */
typedef void (*wh_redis_cb)(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/* `name` labels logs ("gateway-0", "worker-read"). `cfg` is borrowed for the client's lifetime. */
wh_redis_t *wh_redis_new(uv_loop_t *loop, const wh_config_t *cfg, const char *name);
/* Connects now and keeps reconnecting (100 ms doubling to 2 s) until wh_redis_close(). */
void wh_redis_start(wh_redis_t *r);
/* True once AUTH/SELECT/SCRIPT LOAD succeeded on the current connection; on a cluster, on the seed and on a
   connection to every master that serves slots. */
bool wh_redis_ready(const wh_redis_t *r);
/* True once the seed said it is a Redis Cluster node (INFO cluster): commands are then routed by slot. */
bool wh_redis_is_cluster(const wh_redis_t *r);
/* Called whenever the client becomes ready (after every reconnect). Optional. */
void wh_redis_on_ready(wh_redis_t *r, void (*cb)(wh_redis_t *r, void *data), void *data);

/* Sends one command (binary-safe argv). WH_EUNAVAILABLE at once when not ready. `cb` may be NULL (fire and forget). */
wh_err_t wh_redis_command(wh_redis_t *r, wh_redis_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);
/* Like wh_redis_command for a blocking command: the deadline is extended by `block_ms`. */
wh_err_t wh_redis_command_blocking(wh_redis_t *r, int64_t block_ms, wh_redis_cb cb, void *data, int argc, const char **argv,
                                   const size_t *argvlen);
/* Sends a command that names no key (SCAN, …) to the node that serves `key`'s slot: on a cluster, the node whose
   keys a SCAN MATCH on that key's hash tag must walk. Standalone: the one connection. Not redirected. */
wh_err_t wh_redis_command_at(wh_redis_t *r, const char *key, size_t keylen, wh_redis_cb cb, void *data, int argc, const char **argv,
                             const size_t *argvlen);
/* The nodes a per-node command (SCAN) must visit: 1 on one Redis, the masters on a cluster (0 until known). */
size_t wh_redis_node_count(const wh_redis_t *r);
/* Sends a keyless per-node command to node `i` (< wh_redis_node_count). WH_EUNAVAILABLE when that node is not
   connected; WH_EINVAL when `i` is out of range. Not redirected. */
wh_err_t wh_redis_command_node(wh_redis_t *r, size_t i, wh_redis_cb cb, void *data, int argc, const char **argv,
                               const size_t *argvlen);
/* EVALSHA `script` with `nkeys` keys followed by the other args in argv. */
wh_err_t wh_redis_script(wh_redis_t *r, const wh_script_t *script, wh_redis_cb cb, void *data, int nkeys, int argc,
                         const char **argv, const size_t *argvlen);

/* Disconnects; pending callbacks fire with WH_EUNAVAILABLE; then `cb` runs and the client is freed. */
void wh_redis_close(wh_redis_t *r, void (*cb)(void *data), void *data);

#endif
