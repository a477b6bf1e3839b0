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

/* What one attempt's outcome means for its delivery. */
typedef enum {
    WH_NEXT_DELIVERED, /* 2xx */
    WH_NEXT_RETRY,     /* try again after `delay_ms` */
    WH_NEXT_DEAD,      /* no attempt left (or none can work): dead letter */
    WH_NEXT_DISABLE,   /* 410 Gone: the endpoint says it is gone for good; disable the subscription */
} wh_next_t;

typedef enum {
    WH_ATTEMPT_RESPONSE,    /* an HTTP response arrived: `status` says which */
    WH_ATTEMPT_TIMEOUT,     /* no (complete) response within WHARF_DELIVERY_TIMEOUT */
    WH_ATTEMPT_UNREACHABLE, /* DNS, connect, TLS, reset, refused destination address */
    WH_ATTEMPT_BAD_URL,     /* the URL can never work (curl refuses it) */
} wh_attempt_kind_t;

typedef struct {
    wh_attempt_kind_t kind;
    long status;               /* with WH_ATTEMPT_RESPONSE */
    unsigned attempts_made;    /* the attempt just made included */
    int64_t retry_after_ms;    /* -1 when absent */
    int64_t throttle_floor_ms; /* minimum wait after a timeout or a 429 (design: 60 s) */
    double rand01;
} wh_attempt_outcome_t;

/*
 * The whole retry policy (design §7): 2xx delivered; 410 disables; a URL curl refuses is dead at once; anything
 * else (3xx included: redirects are not followed) retries per wh_backoff_next, waiting at least
 * throttle_floor_ms after a timeout or a 429, until the schedule runs out. *delay_ms is set for WH_NEXT_RETRY.
 */
wh_next_t wh_backoff_decide(const int64_t *schedule, size_t steps, const wh_attempt_outcome_t *o, int64_t *delay_ms);

/* Retry-After as a delay in ms from now_ms: delta-seconds or an HTTP date. -1 if absent or unparseable. */
int64_t wh_retry_after_ms(const char *value, int64_t now_ms);

#endif
