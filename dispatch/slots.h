/*
 * Per-subscription slots: maxConcurrency and rateLimitPerSecond across every worker process, at almost no
 * Redis cost per delivery.
 *
 * A worker holds slots of a subscription in bulk (queue/scripts/slots.lua: holder -> count, leased), uses them
 * locally one attempt after another, and gives back what it no longer needs once the subscription goes idle.
 * While other workers want slots of it too, each holds at most its fair share (slots.lua answers it: the cap over
 * the workers holding or wanting, rounded up): one over it gives a slot back as an attempt ends instead of
 * starting its next waiter, and asks for no more than the share. Alone, a worker takes the whole cap.
 * A delivery that finds no free local slot waits in a local FIFO per subscription (at most WH_MAX_SUB_WAITERS;
 * more go back to Redis) while the broker asks Redis for more; a delivery that waited too long (longer than half
 * its Redis lease allows) goes back to Redis (`defer`) so that a worker never sits on work it cannot start. With one worker and a
 * busy endpoint, the slots are taken once and every further delivery starts without a Redis round trip. Rate tokens are taken the
 * same way, per second, and never reused.
 *
 * A dead worker's slots free themselves when its lease ends (WHARF_DELIVERY_TIMEOUT + WHARF_RECLAIM_IDLE).
 */
#ifndef WH_SLOTS_H
#define WH_SLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "../queue/redis.h"

typedef struct wh_slots wh_slots_t;

/* Start `item` now: a slot (and a rate token) is held for it; call wh_slots_done() when its attempt ends. */
typedef void (*wh_slots_go_cb)(void *item, void *data);
/* Hand `item` back to Redis, due `wait_ms` from now, no attempt counted (it waited too long, or shutdown). */
typedef void (*wh_slots_defer_cb)(void *item, int64_t wait_ms, void *data);

/*
 * `holder` names this worker in Redis (its consumer name); `lease_ms` how long its slots outlive it; a waiter
 * older than `max_wait_ms` is deferred. `redis` and `loop` are borrowed for the broker's lifetime.
 */
wh_slots_t *wh_slots_new(uv_loop_t *loop, wh_redis_t *redis, const char *holder, int64_t lease_ms, int64_t max_wait_ms,
                         wh_slots_go_cb go, wh_slots_defer_cb defer, void *data);
/* Queues `item` for a slot of subscription `sub` (its current caps: max >= 1, rate 0 = none). `go` may run before
 * this returns. */
void wh_slots_request(wh_slots_t *s, const char *sub, unsigned max, unsigned rate, void *item);
/* An attempt of `sub` ended: its slot passes to the next waiter, or is kept a moment, then given back. */
void wh_slots_done(wh_slots_t *s, const char *sub);
/* Deliveries waiting for a slot in this worker, but not those of stalled subscriptions (whose oldest waiter has
   waited over half a second): what will start soon, which is what the worker bounds its intake by. */
size_t wh_slots_waiting(const wh_slots_t *s);
/* Defers every waiter (wait 0), gives every slot back (best effort), frees the broker once its handles are
 * closed, then calls cb(data). */
void wh_slots_close(wh_slots_t *s, void (*cb)(void *data), void *data);

#endif
