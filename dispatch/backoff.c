#include <curl/curl.h>
#include <stdbool.h>
#include <string.h>
#include "../common/str.h"
#include "backoff.h"

#define MAX_RETRY_AFTER_S (86400LL * 30) /* a Retry-After beyond 30 days is treated as 30 days */

int64_t wh_backoff_next(const int64_t *schedule, size_t steps, unsigned attempts_made, int64_t retry_after_ms, double rand01)
{
    int64_t nominal, jittered;

    if (attempts_made == 0 || attempts_made > steps)
        return -1;
    nominal = schedule[attempts_made - 1];
    jittered = (int64_t)((double)nominal * (0.8 + 0.4 * rand01));
    if (retry_after_ms >= 0) {
        int64_t capped = retry_after_ms < 2 * nominal ? retry_after_ms : 2 * nominal;
        if (capped > jittered)
            return capped;
    }
    return jittered;
}

wh_next_t wh_backoff_decide(const int64_t *schedule, size_t steps, const wh_attempt_outcome_t *o, int64_t *delay_ms)
{
    bool throttled = o->kind == WH_ATTEMPT_TIMEOUT || (o->kind == WH_ATTEMPT_RESPONSE && o->status == 429);
    int64_t delay;

    *delay_ms = 0;
    if (o->kind == WH_ATTEMPT_RESPONSE && o->status >= 200 && o->status < 300)
        return WH_NEXT_DELIVERED;
    if (o->kind == WH_ATTEMPT_RESPONSE && o->status == 410)
        return WH_NEXT_DISABLE;
    if (o->kind == WH_ATTEMPT_BAD_URL)
        return WH_NEXT_DEAD;
    delay = wh_backoff_next(schedule, steps, o->attempts_made, o->kind == WH_ATTEMPT_RESPONSE ? o->retry_after_ms : -1, o->rand01);
    if (delay < 0)
        return WH_NEXT_DEAD;
    if (throttled && delay < o->throttle_floor_ms)
        delay = o->throttle_floor_ms;
    *delay_ms = delay;
    return WH_NEXT_RETRY;
}

int64_t wh_retry_after_ms(const char *value, int64_t now_ms)
{
    long long secs;
    time_t when, now = (time_t)(now_ms / 1000);

    if (value == NULL || value[0] == '\0')
        return -1;
    if (value[0] >= '0' && value[0] <= '9' && strspn(value, "0123456789") == strlen(value)) {
        /* delta-seconds: any digit string is valid, so one too long for int64 is simply very far away */
        if (!wh_str_to_i64(wh_str_c(value), &secs) || secs > MAX_RETRY_AFTER_S)
            secs = MAX_RETRY_AFTER_S;
        return secs * 1000;
    }
    if (wh_str_to_i64(wh_str_c(value), &secs))
        return -1; /* a negative number */
    when = curl_getdate(value, &now);
    if (when == (time_t)-1)
        return -1;
    return when <= now ? 0 : ((int64_t)when - (int64_t)now) * 1000;
}
