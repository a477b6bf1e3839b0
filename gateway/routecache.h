/*
 * Per-thread cache of verified routes: (provider, account or connection id) ->
 * connection, environment and decrypted credentials. It saves the lookup
 * round trip, a decryption and two JSON parses on every webhook.
 *
 * Only routes whose signature verified are cached, for WH_ROUTE_CACHE_TTL_MS:
 * a deleted connection or changed credentials take effect within that time.
 * A cached route that fails verification is not a refusal: the caller falls
 * back to Redis, which knows every candidate.
 */
#ifndef WH_ROUTECACHE_H
#define WH_ROUTECACHE_H

#include <jansson.h>
#include <stdint.h>
#include "../common/limits.h"

#define WH_ROUTE_CACHE_TTL_MS 1000
#define WH_ROUTE_CACHE_SLOTS 512 /* direct-mapped; a collision just costs a lookup */

typedef struct {
    char key[2 * WH_MAX_ID_LEN + 4];
    char conn_id[WH_MAX_ID_LEN + 1];
    char env_id[WH_MAX_ID_LEN + 1];
    json_t *creds;   /* owned */
    int64_t expires; /* monotonic ms */
} wh_route_t;

typedef struct {
    wh_route_t slots[WH_ROUTE_CACHE_SLOTS];
} wh_route_cache_t;

wh_route_cache_t *wh_route_cache_new(void);
void wh_route_cache_free(wh_route_cache_t *c);
/* The live entry for (provider, id), or NULL. Valid until the next insert. */
const wh_route_t *wh_route_cache_get(wh_route_cache_t *c, const char *provider, const char *id, int64_t now);
/* Stores a verified route; `creds` is borrowed (a reference is taken). */
void wh_route_cache_put(wh_route_cache_t *c, const char *provider, const char *id, const char *conn_id, const char *env_id,
                        json_t *creds, int64_t now);

#endif
