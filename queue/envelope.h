/*
 * The change-event envelope (design §4), msgpack in Redis.
 *
 * One stream entry holds one request's change events for one connection:
 * field "b" = msgpack array of envelope maps. Each map carries "v" (the
 * envelope version, WH_ENVELOPE_VERSION) so readers can refuse what they do
 * not understand instead of misreading it.
 */
#ifndef WH_ENVELOPE_H
#define WH_ENVELOPE_H

#include <jansson.h>
#include <msgpack.h>
#include <stdint.h>
#include "../common/err.h"
#include "../providers/provider.h"

#define WH_ENVELOPE_VERSION 1
#define WH_EVENT_ID_LEN 36 /* "evt_" + 32 hex, NUL included below */

typedef struct {
    const char *connection_id;
    const char *environment_id;
    const char *integration_id;
    const char *source; /* "webhook" | "sync" | "api" */
    int64_t received_at_ms;
} wh_envelope_ctx_t;

/*
 * Packs one change as an envelope map. `event_id` is the new "evt_…" id (WH_EVENT_ID_LEN + 1 bytes).
 * The provider's JSON values are packed as msgpack directly (no JSON text is produced).
 */
void wh_envelope_pack(msgpack_packer *pk, const wh_envelope_ctx_t *ctx, const wh_change_t *c, const char *event_id);

/*
 * Decodes a stream entry's "b" field into a JSON array of envelope objects (caller owns it).
 * Bounded: WH_MAX_ENTRY_BYTES input, WH_MAX_ENVELOPE_DEPTH nesting. WH_EMALFORMED on anything unexpected,
 * WH_EUNSUPPORTED for an envelope version newer than this build.
 */
wh_err_t wh_envelope_unpack(const char *buf, size_t len, json_t **out, char *errbuf);

/* msgpack <-> JSON values, shared with the cache and tests. Depth-bounded by WH_MAX_ENVELOPE_DEPTH. */
void wh_msgpack_pack_json(msgpack_packer *pk, const json_t *v);
json_t *wh_msgpack_to_json(const msgpack_object *o, int depth);

#endif
