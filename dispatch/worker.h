/*
 * The worker role: one thread with its own loop that consumes change-event
 * batches (consumer group), applies them to the cache, turns them into outgoing
 * events, runs the deliveries to the matching subscriptions (libcurl) at once,
 * and settles each entry when their first attempts are over (settle.h), with
 * retries and dead letters.
 *
 * Durability: an entry is acknowledged in the same Lua call that records its
 * events and creates tasks for whatever was not delivered; tasks live in Redis
 * (a due-time sorted set per partition) and are leased while in flight, so a
 * worker that dies loses nothing: its pending entries are reclaimed (XAUTOCLAIM)
 * and its leases expire.
 */
#ifndef WH_WORKER_H
#define WH_WORKER_H

#include <stdbool.h>
#include "../common/config.h"
#include "../common/err.h"

typedef struct wh_worker wh_worker_t;

/* A worker whose loop has not ticked for this long is stalled (its /healthz fails). */
#define WH_WORKER_STALL_MS 10000

/* Safe from any thread (the worker publishes both from its loop, every CLAIM_PERIOD_MS):
   live: its loop ticked within WH_WORKER_STALL_MS; ready: live, not stopping, and both its Redis connections
   ready. A worker's health listener (WHARF_HEALTH_LISTEN) answers /healthz and /readyz from them. */
bool wh_worker_live(const wh_worker_t *w);
bool wh_worker_ready(const wh_worker_t *w);

wh_err_t wh_worker_start(const wh_config_t *cfg, wh_worker_t **out, char *errbuf);
/* Stops reading, finishes in-flight deliveries (bounded by cfg->shutdown_grace_ms), hands back the rest, frees. */
void wh_worker_stop(wh_worker_t *w);

#endif
