/*
 * Batched ingest writes. Appends made during one event-loop turn (by every request that turn served) go to
 * Redis as one ingest-script call per partition, right after the turn's I/O (a uv_check handle). Redis then
 * pays its per-script overhead once per batch instead of once per request; each request still gets its own
 * stream entry and its own result.
 *
 * The async contract: wh_append() returning an error means `cb` never fires; otherwise it fires exactly once.
 */
#ifndef WH_APPEND_H
#define WH_APPEND_H

#include <msgpack.h>
#include <stddef.h>
#include <uv.h>
#include "../common/err.h"
#include "../providers/provider.h"
#include "redis.h"

typedef struct wh_appender wh_appender_t;

/* queued + duplicates = the events appended; err != WH_OK (WH_EUNAVAILABLE) when Redis did not take them. */
typedef void (*wh_append_cb)(size_t queued, size_t duplicates, wh_err_t err, void *data);

/* `loop` and `redis` are borrowed for the appender's lifetime. */
wh_appender_t *wh_appender_new(uv_loop_t *loop, wh_redis_t *redis);

/*
 * Queues one stream entry for `conn_id`: `packed` holds the entry as it will be stored (a msgpack array
 * header for `n` (1..WH_MAX_BATCH) elements, then the envelopes back to back: envelope i spans
 * offs[i]..offs[i+1], and offs[0] is the header's length), with the envelopes' dedupe keys. Everything is
 * copied. Sent at the end of the current loop turn.
 */
wh_err_t wh_append(wh_appender_t *a, const char *conn_id, size_t n, const uint8_t (*dedupe_keys)[WH_DEDUPE_KEY_LEN],
                   const char *packed, const size_t *offs, wh_append_cb cb, void *data);

#endif
