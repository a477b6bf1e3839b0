/*
 * Outboxes: how a state change in one slot queues a system event on a partition stream in another, on a Redis
 * Cluster where no script may span both. The script that changes the state (conn_status.lua, conn_delete.lua,
 * sub_fail.lua) appends the event to an outbox list in its own slot, atomically with the change; this unit then
 * moves the outbox's entries, oldest first, each with XADD to the stream it names followed by outbox_pop.lua
 * (which removes the head only if it is still that entry).
 *
 * A process that dies between the two leaves the entry in its outbox: the next drain of that outbox moves it (the
 * gateway drains a connection's outbox after each status change or deletion, the worker an environment's after
 * disabling a subscription, and the worker's repair sweep every outbox it finds). An entry may so reach its stream
 * twice, with the same event id: system events are delivered at least once, like every event. None is lost, and
 * one outbox's entries reach the stream in the order they were written.
 *
 * An entry is a JSON array: [stream key, field, value, field, value, …], the XADD to make.
 */
#ifndef WH_OUTBOX_H
#define WH_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "redis.h"

/* Entries one drain moves at most; a longer outbox is moved on by the next drain. */
#define WH_OUTBOX_DRAIN_MAX 1000

/* `drained`: the outbox was empty when the drain ended (false: Redis failed, or WH_OUTBOX_DRAIN_MAX was reached). */
typedef void (*wh_outbox_done_cb)(void *data, bool drained);

/* Starts moving outbox `key`'s entries; `done` (may be NULL) runs once at the end (at once, before this returns,
   when Redis is unavailable). */
void wh_outbox_drain(wh_redis_t *r, const char *key, wh_outbox_done_cb done, void *data);

/* The XADD an entry stands for, into argv/argvlen (pointing into `j`, a parsed entry; at most `max` arguments):
   its argument count, or -1 for an entry of another shape. Exposed for the fuzz target and tests. */
int wh_outbox_entry_argv(const json_t *j, const char **argv, size_t *argvlen, int max);

#endif
