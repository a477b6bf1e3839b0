/*
 * The worker role: threads (WHARF_WORKER_THREADS, one by default), each with its own loop, that consume change-event
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
/* The process's workers: WHARF_WORKER_THREADS of them, each a thread with its own loop, Redis connections, HTTP
   client and consumer name (the first WHARF_CONSUMER, the others WHARF_CONSUMER.<i>): to Redis, as many workers as
   separate processes would be, sharing nothing but the process. */
typedef struct wh_workers wh_workers_t;

/* A worker whose loop has not ticked for this long is stalled (its /healthz fails). */
#define WH_WORKER_STALL_MS 10000

/* Safe from any thread (each worker publishes both from its loop, every CLAIM_PERIOD_MS):
   live: every worker's loop ticked within WH_WORKER_STALL_MS; ready: every one live, not stopping, and with both its
   Redis connections ready. A worker's health listener (WHARF_HEALTH_LISTEN) answers /healthz and /readyz from them. */
bool wh_workers_live(const wh_workers_t *ws);
bool wh_workers_ready(const wh_workers_t *ws);

wh_err_t wh_workers_start(const wh_config_t *cfg, wh_workers_t **out, char *errbuf);
/* Stops reading, finishes in-flight deliveries (bounded by cfg->shutdown_grace_ms, all workers at once), hands back
   the rest, frees. */
void wh_workers_stop(wh_workers_t *ws);

#endif
