/*
 * The incremental purge of deleted connections (design §6: "delete purges cache and secrets").
 *
 * DELETE /v1/connections/{id} (queue/scripts/conn_delete.lua) removes the connection's record, leaves a tombstone
 * (wh:gone:{c:<id>}) and adds its id to the purge set (queue/keys.h wh_key_purge). Everything else the connection
 * left — cached records, versions, indexes, association sets, all under its hash tag {c:<id>} — can be
 * arbitrarily big, so it is removed here, a little at a time: each tick takes one id from the set,
 * SCANs "wh:*{c:<id>}*" (COUNT WH_PURGE_SCAN_COUNT; on a Redis Cluster, on the master of that tag's slot) for a few
 * steps and UNLINKs what it finds (queue/scripts/conn_purge.lua, which does so only while the tombstone is there).
 * Once a complete SCAN cycle found nothing left, the deletion's steps in other slots are done again from the
 * tombstone (out of the environment's set, out of the app-level index: idempotent), the tombstone goes
 * (gone_drop.lua) and then the id leaves the set; until the tombstone goes conn_create.lua refuses that id.
 * Redis is never blocked for longer than one SCAN step or one UNLINK of at most WH_PURGE_SCAN_COUNT keys.
 *
 * Several workers may purge the same id at once: every step is idempotent. The worker calls wh_purge_tick
 * from a timer on its loop (every WH_PURGE_PERIOD_MS); nothing here blocks.
 */
#ifndef WH_PURGE_H
#define WH_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include "../queue/keys.h"
#include "../queue/redis.h"

/* How often the worker ticks the purge. */
#define WH_PURGE_PERIOD_MS 500
/* SCAN COUNT, hence also the most keys one UNLINK removes. */
#define WH_PURGE_SCAN_COUNT 500
/* SCAN steps one tick chains at most (each waits for the previous reply). */
#define WH_PURGE_STEPS_PER_TICK 16
/* Longest connection id (as the API's WH_API_ID_MAX). */
#define WH_PURGE_ID_MAX 64

typedef struct {
    wh_redis_t *redis;              /* borrowed: must outlive every callback (the worker's command connection) */
    bool busy;                      /* a step awaits Redis: ticks do nothing until the chain ends */
    bool disposed;                  /* no further step is started (a reply arriving while Redis closes ends the chain) */
    unsigned steps;                 /* SCAN steps in this tick's chain */
    char conn[WH_PURGE_ID_MAX + 1]; /* the connection being purged, "" when none */
    char cursor[32];                /* SCAN cursor, "0" at the start of a cycle */
    bool found_in_cycle;            /* this SCAN cycle found keys: run another before declaring the id done */
    char pattern[WH_KEY_MAX];       /* "wh:*{c:<id>}*" */
    char at[32];                    /* the tombstone's "at", as the end of the purge read it */
    unsigned removals;              /* the tombstone's removals awaiting replies */
    bool removal_failed;
} wh_purge_t;

/* Caller owns `p` and keeps it valid until `redis` has been closed (its pending callbacks fired). */
void wh_purge_init(wh_purge_t *p, wh_redis_t *redis);
/* Starts a chain of at most WH_PURGE_STEPS_PER_TICK steps unless one is running or Redis is not ready. */
void wh_purge_tick(wh_purge_t *p);
/* Starts nothing more; a step in flight ends when its reply (or the connection's close) arrives. */
void wh_purge_dispose(wh_purge_t *p);

#endif
