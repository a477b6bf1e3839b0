/*
 * Batched ingest writes. Appends made during one event-loop turn (by every request that turn served) go to
 * Redis as one ingest-script call per partition, right after the turn's I/O (a uv_check handle). Redis then
 * pays its per-script overhead once per batch instead of once per request; each request still gets its own
 * stream entry and its own result.
 *
 * With replicas to wait for (WHARF_REDIS_WAIT_REPLICAS), a flush's results are held until one WAIT confirms
 * the whole flush. WAIT counts only the writes of the connection that sends it (Redis remembers each client's
 * replication offset after its last write), so a WAIT on a second connection would confirm nothing of the
 * ingest connection's writes. The wait connection therefore writes first: once every script of the flush has
 * replied, it sends `INCR wh:waitmark` then `WAIT n 1000`. The replication stream is one ordered stream, so a
 * replica that acknowledged the INCR's offset has every write that preceded it, the flush's included. The
 * ingest connection never carries a WAIT, and at most one WAIT is in flight per appender: flushes that finish
 * meanwhile share the next one. Both connections must talk to the same server (same run_id, checked after
 * every reconnect) and an item is confirmed only if neither reconnected since it was appended.
 *
 * The async contract: wh_append() returning an error means `cb` never fires; otherwise it fires exactly once.
 */
#ifndef WH_APPEND_H
#define WH_APPEND_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "../common/err.h"
#include "../providers/provider.h"
#include "redis.h"

typedef struct wh_appender wh_appender_t;

/*
 * queued + duplicates = the events appended; err != WH_OK (WH_EUNAVAILABLE) when Redis did not take them or,
 * with replicas to wait for, when fewer replicas than asked confirmed them (they may be in Redis all the same).
 */
typedef void (*wh_append_cb)(size_t queued, size_t duplicates, wh_err_t err, void *data);

/*
 * `loop`, `redis` (the ingest connection) and `waiter` are borrowed for the appender's lifetime. `waiter` is a
 * connection of its own that carries only the WAITs, and NULL when `replicas` is 0. The appender takes the
 * ready hooks (wh_redis_on_ready) of both connections.
 */
wh_appender_t *wh_appender_new(uv_loop_t *loop, wh_redis_t *redis, wh_redis_t *waiter, unsigned replicas);

/* True when wh_append() can take writes: the connections are ready (and, with a waiter, on the same server). */
bool wh_appender_ready(const wh_appender_t *a);

/*
 * An event's member in the day's dedupe set (wh:dd:{pN}:<day>, ingest.lua): the first WH_DEDUPE_MEMBER_LEN bytes
 * of SHA-256(connection id, NUL, the provider's dedupe key), binary. 12 bytes instead of the 62 of
 * "<connectionId>:<hex key>" take a set member from ~124 to ~60 bytes of Redis; at 96 bits, a false duplicate
 * among a billion events a day has odds of about 1 in 10^11.
 */
#define WH_DEDUPE_MEMBER_LEN 12
void wh_dedupe_member(const char *conn_id, const uint8_t key[WH_DEDUPE_KEY_LEN], uint8_t out[WH_DEDUPE_MEMBER_LEN]);

/*
 * Queues one stream entry for `conn_id`: `packed` holds the entry as it will be stored (a msgpack array
 * header for `n` (1..WH_MAX_BATCH) elements, then the envelopes back to back: envelope i spans
 * offs[i]..offs[i+1], and offs[0] is the header's length), with the envelopes' dedupe keys. Everything is
 * copied. Sent at the end of the current loop turn.
 */
wh_err_t wh_append(wh_appender_t *a, const char *conn_id, size_t n, const uint8_t (*dedupe_keys)[WH_DEDUPE_KEY_LEN],
                   const char *packed, const size_t *offs, wh_append_cb cb, void *data);

#endif
