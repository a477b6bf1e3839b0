/* The retry policy (design §7) as pure functions: no clock, no randomness of their own. */
#ifndef WH_BACKOFF_H
#define WH_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Delay before the next attempt, in ms, or -1 when the attempt that just failed was the last one.
 * attempts_made: attempts so far, the failed one included (1 after the first). schedule/steps:
 * WHARF_RETRY_SCHEDULE. retry_after_ms: the response's Retry-After as a delay, or -1. rand01 in [0, 1)
 * spreads the scheduled delay by ±20 %. With Retry-After the wait is
 * max(jittered delay, min(Retry-After, 2 × nominal delay)): jitter never applies to Retry-After or the cap.
 */
int64_t wh_backoff_next(const int64_t *schedule, size_t steps, unsigned attempts_made, int64_t retry_after_ms, double rand01);

/* Retry-After as a delay in ms from now_ms: delta-seconds or an HTTP date. -1 if absent or unparseable. */
int64_t wh_retry_after_ms(const char *value, int64_t now_ms);

#endif
