/*
 * The repair sweep: what a process that died between the steps of a change spanning two slots left behind,
 * finished by the workers (ARCHITECTURE.md "Steps across slots"). A worker walks, on every node, SCAN by SCAN
 * (WH_REPAIR_STEPS_PER_TICK per tick), one round at least WH_REPAIR_PERIOD_MS after the previous one:
 *
 *   wh:ob:*           outboxes not moved whose head is older than WH_OUTBOX_ORPHAN_MS: moved now (queue/outbox.h);
 *   wh:gone:*         tombstones of deleted connections: their id into wh:purge again (SADD, idempotent), for a
 *                     gateway that died before it got there (the purge does the rest, dispatch/purge.h);
 *   wh:env:*:resv     places reserved by creations (env_reserve.lua) older than WH_RESERVATION_STALE_MS: a
 *                     creation that died half way. Its connection's hash is read: this environment's, the
 *                     reservation record goes; none (or another environment's), the place and its app-level index
 *                     entry go too.
 *
 * Several workers may sweep at once: every action is idempotent. Nothing here blocks; a step in flight when the
 * worker stops ends with its reply or with the connection's close.
 */
#ifndef WH_REPAIR_H
#define WH_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../queue/redis.h"

#define WH_REPAIR_PERIOD_MS 5000
/* A reservation this old belongs to a creation that will not finish (its calls time out in seconds). */
#define WH_RESERVATION_STALE_MS 60000
/* An outbox entry this old was left by a process that died before it moved it (they move theirs at once). */
#define WH_OUTBOX_ORPHAN_MS 10000
#define WH_REPAIR_SCAN_COUNT 500
/* SCAN steps per tick (every 500 ms): the sweep walks the whole keyspace of every master, so it goes slowly (a
   round over a million keys takes some minutes; measured: ~0.4 ms of Redis per step of 500) */
#define WH_REPAIR_STEPS_PER_TICK 2

typedef struct {
    wh_redis_t *redis; /* borrowed: the worker's command client */
    bool busy, disposed;
    unsigned steps;
    size_t node;        /* the node being walked */
    unsigned what;      /* index of the pattern being walked on it */
    char cursor[32];    /* "0" at the start of a walk */
    int64_t next_round; /* wh_now_ms() before which no new round starts */
} wh_repair_t;

void wh_repair_init(wh_repair_t *p, wh_redis_t *redis);
/* Goes on with the sweep for at most WH_REPAIR_STEPS_PER_TICK SCAN steps, unless a step is in flight. */
void wh_repair_tick(wh_repair_t *p);
void wh_repair_dispose(wh_repair_t *p);

#endif
