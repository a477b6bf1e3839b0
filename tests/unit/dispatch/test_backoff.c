/* dispatch/backoff.c: the retry policy of design §7 as a table, and Retry-After parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <cmocka.h>
#include "../../../dispatch/backoff.h"

#define S 1000LL
#define M (60 * S)
#define NO_RETRY_AFTER (-1)

static const int64_t schedule[] = {5 * S, 5 * M, 30 * M};

static void test_backoff_table(void **state)
{
    static const struct {
        unsigned attempts_made;
        int64_t retry_after;
        double rand01;
        int64_t min, max; /* expected range; min == max for exact values */
        const char *what;
    } cases[] = {
        /* the jittered schedule: nominal × [0.8, 1.2) */
        {1, NO_RETRY_AFTER, 0.0, 4 * S, 4 * S, "5s, rand 0 -> 0.8x"},
        {1, NO_RETRY_AFTER, 0.5, 5 * S, 5 * S, "5s, rand 0.5 -> 1.0x"},
        {1, NO_RETRY_AFTER, 0.999, 5990, 6000, "5s, rand 0.999 -> ~1.2x"},
        {2, NO_RETRY_AFTER, 0.0, 4 * M, 4 * M, "5m, rand 0"},
        {2, NO_RETRY_AFTER, 0.5, 5 * M, 5 * M, "5m, rand 0.5"},
        {2, NO_RETRY_AFTER, 0.999, 359880 - 1, 359880, "5m, rand 0.999"},
        {3, NO_RETRY_AFTER, 0.0, 24 * M, 24 * M, "30m, rand 0"},
        {3, NO_RETRY_AFTER, 0.5, 30 * M, 30 * M, "30m, rand 0.5"},
        {3, NO_RETRY_AFTER, 0.999, 2159280 - 1, 2159280, "30m, rand 0.999"},
        /* no attempt made yet, or the last one failed: no further attempt */
        {0, NO_RETRY_AFTER, 0.5, -1, -1, "attempts_made 0"},
        {4, NO_RETRY_AFTER, 0.5, -1, -1, "attempts_made 4 (past the schedule)"},
        {5, NO_RETRY_AFTER, 0.5, -1, -1, "attempts_made 5"},
        {UINT_MAX, NO_RETRY_AFTER, 0.5, -1, -1, "attempts_made UINT_MAX"},
        {4, 10 * S, 0.5, -1, -1, "Retry-After does not extend the schedule"},
        /* Retry-After: max(jittered, min(Retry-After, 2 × nominal)) */
        {1, 1 * S, 0.5, 5 * S, 5 * S, "Retry-After 1s < jittered 5s -> jittered"},
        {1, 0, 0.5, 5 * S, 5 * S, "Retry-After 0 -> jittered"},
        {1, 7 * S, 0.5, 7 * S, 7 * S, "Retry-After 7s between -> Retry-After"},
        {1, 4500, 0.0, 4500, 4500, "Retry-After 4.5s > jittered 4s -> 4.5s, not jittered"},
        {1, 6500, 0.999, 6500, 6500, "Retry-After 6.5s > jittered ~6s -> 6.5s"},
        {1, 10 * S, 0.5, 10 * S, 10 * S, "Retry-After exactly 2x nominal"},
        {1, 20 * S, 0.5, 10 * S, 10 * S, "Retry-After 20s > 2x nominal -> capped at 10s"},
        {1, 20 * S, 0.0, 10 * S, 10 * S, "cap is not jittered (rand 0)"},
        {1, 20 * S, 0.999, 10 * S, 10 * S, "cap is not jittered (rand 0.999)"},
        {1, 86400 * S * 30, 0.5, 10 * S, 10 * S, "30 days capped"},
        {1, INT64_MAX, 0.5, 10 * S, 10 * S, "INT64_MAX capped"},
        {2, 1 * M, 0.5, 5 * M, 5 * M, "5m: Retry-After 1m -> jittered"},
        {2, 7 * M, 0.0, 7 * M, 7 * M, "5m: Retry-After 7m -> 7m"},
        {2, 1000 * M, 0.0, 10 * M, 10 * M, "5m: capped at 10m"},
        {3, 2 * 3600 * S, 0.3, 60 * M, 60 * M, "30m: 2h capped at 1h"},
        {3, 31 * M, 0.999, 2159280 - 1, 2159280, "30m: Retry-After 31m < jittered ~36m -> jittered"},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t got = wh_backoff_next(schedule, 3, cases[i].attempts_made, cases[i].retry_after, cases[i].rand01);
        if (got < cases[i].min || got > cases[i].max)
            fail_msg("case %zu (%s): %lld ms, expected %lld..%lld", i, cases[i].what, (long long)got, (long long)cases[i].min,
                     (long long)cases[i].max);
    }
}

/* For every step and every rand01 the delay lies in [0.8, 1.2] × nominal and grows with rand01. */
static void test_backoff_jitter_sweep(void **state)
{
    for (unsigned a = 1; a <= 3; ++a) {
        int64_t nominal = schedule[a - 1], prev = 0;
        for (int k = 0; k != 1000; ++k) {
            double r = k / 1000.0;
            int64_t got = wh_backoff_next(schedule, 3, a, NO_RETRY_AFTER, r);
            if (got < nominal * 8 / 10 || got > nominal * 12 / 10)
                fail_msg("attempt %u, rand %.3f: %lld outside [%lld, %lld]", a, r, (long long)got, (long long)(nominal * 8 / 10),
                         (long long)(nominal * 12 / 10));
            if (got < prev)
                fail_msg("attempt %u, rand %.3f: %lld < %lld for a smaller rand", a, r, (long long)got, (long long)prev);
            prev = got;
        }
    }
}

static void test_backoff_empty_schedule(void **state)
{
    assert_int_equal(wh_backoff_next(schedule, 0, 1, NO_RETRY_AFTER, 0.5), -1);
    assert_int_equal(wh_backoff_next(schedule, 0, 0, 1000, 0.5), -1);
}

#define NOW 1732356000000LL /* Sat, 23 Nov 2024 10:00:00 GMT */

static void test_retry_after(void **state)
{
    static const struct {
        const char *value;
        int64_t want;
    } cases[] = {
        {"120", 120 * S},
        {"0", 0},
        {"1", 1 * S},
        {"-1", -1},
        {"abc", -1},
        {"", -1},
        {"1.5", -1},
        {"12a", -1},
        {"+5", -1},
        {"0x10", -1},
        /* HTTP date in its three RFC 9110 forms, 30 s after now */
        {"Sat, 23 Nov 2024 10:00:30 GMT", 30 * S},
        {"Saturday, 23-Nov-24 10:00:30 GMT", 30 * S},
        {"Sat Nov 23 10:00:30 2024", 30 * S},
        {"Sat, 23 Nov 2024 11:00:00 GMT", 3600 * S},
        /* in the past, or now: retry without waiting for it */
        {"Sat, 23 Nov 2024 09:59:59 GMT", 0},
        {"Sat, 23 Nov 2024 10:00:00 GMT", 0},
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
        /* huge delays are capped at 30 days */
        {"2592000", 2592000LL * S},
        {"2592001", 2592000LL * S},
        {"99999999999", 2592000LL * S},
        {"9223372036854775807", 2592000LL * S},
        {"99999999999999999999", 2592000LL * S}, /* delay-seconds is 1*DIGIT: no upper bound in the grammar */
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t got = wh_retry_after_ms(cases[i].value, NOW);
        if (got != cases[i].want)
            fail_msg("Retry-After \"%s\": %lld ms, expected %lld", cases[i].value, (long long)got, (long long)cases[i].want);
    }
    assert_int_equal(wh_retry_after_ms(NULL, NOW), -1);
}

/* The date is measured from now_ms, not from the process clock. */
/* The decision table: attempt kind × status × attempts made → what happens next, and after how long. */
static void test_decide_table(void **state)
{
    static const int64_t sched[] = {5000, 300000, 1800000}; /* 5s, 5m, 30m: 4 attempts in all */
    enum { R = WH_ATTEMPT_RESPONSE, T = WH_ATTEMPT_TIMEOUT, U = WH_ATTEMPT_UNREACHABLE, B = WH_ATTEMPT_BAD_URL };
    static const struct {
        int kind;
        long status;
        unsigned made;
        int64_t retry_after;
        wh_next_t want;
        int64_t delay; /* with rand01 = 0.5: no jitter */
    } cases[] = {
        {R, 200, 1, -1, WH_NEXT_DELIVERED, 0},
        {R, 204, 4, -1, WH_NEXT_DELIVERED, 0}, /* a last attempt that succeeds */
        {R, 299, 1, -1, WH_NEXT_DELIVERED, 0},
        {R, 500, 1, -1, WH_NEXT_RETRY, 5000},
        {R, 500, 2, -1, WH_NEXT_RETRY, 300000},
        {R, 500, 3, -1, WH_NEXT_RETRY, 1800000},
        {R, 500, 4, -1, WH_NEXT_DEAD, 0},     /* schedule exhausted */
        {R, 301, 1, -1, WH_NEXT_RETRY, 5000}, /* 3xx is a failure: redirects are not followed */
        {R, 308, 1, -1, WH_NEXT_RETRY, 5000},
        {R, 400, 1, -1, WH_NEXT_RETRY, 5000}, /* 4xx other than 410 retries too (the endpoint may be fixed) */
        {R, 410, 1, -1, WH_NEXT_DISABLE, 0},  /* gone: disable, no further attempts */
        {R, 410, 4, -1, WH_NEXT_DISABLE, 0},
        {R, 429, 1, -1, WH_NEXT_RETRY, 60000},  /* 60 s floor over the 5 s step */
        {R, 429, 2, -1, WH_NEXT_RETRY, 300000}, /* the floor never shortens */
        {R, 429, 4, -1, WH_NEXT_DEAD, 0},
        {R, 429, 1, 10000, WH_NEXT_RETRY, 60000}, /* Retry-After below the floor: the floor */
        {R, 503, 1, 8000, WH_NEXT_RETRY, 8000},   /* Retry-After within 2× nominal */
        {R, 503, 1, 99000, WH_NEXT_RETRY, 10000}, /* capped at 2× nominal */
        {R, 503, 1, 1000, WH_NEXT_RETRY, 5000},   /* never sooner than scheduled */
        {T, 0, 1, -1, WH_NEXT_RETRY, 60000},      /* timeout: 60 s floor */
        {T, 0, 3, -1, WH_NEXT_RETRY, 1800000},
        {T, 0, 4, -1, WH_NEXT_DEAD, 0},
        {T, 0, 1, 1, WH_NEXT_RETRY, 60000}, /* no response, so no Retry-After can count */
        {U, 0, 1, -1, WH_NEXT_RETRY, 5000}, /* unreachable: no floor (DNS may be fixed soon) */
        {U, 0, 4, -1, WH_NEXT_DEAD, 0},
        {B, 0, 1, -1, WH_NEXT_DEAD, 0}, /* a URL curl refuses never works */
    };

    (void)state;
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        const wh_attempt_outcome_t o = {
            (wh_attempt_kind_t)cases[i].kind, cases[i].status, cases[i].made, cases[i].retry_after, 60000, 0.5};
        int64_t delay = -7;
        print_message("  case %zu: kind %d status %ld made %u\n", i, cases[i].kind, cases[i].status, cases[i].made);
        assert_int_equal(wh_backoff_decide(sched, 3, &o, &delay), cases[i].want);
        assert_int_equal(delay, cases[i].delay);
    }
    /* the floor is a parameter: 0 turns it off */
    {
        const wh_attempt_outcome_t o = {WH_ATTEMPT_TIMEOUT, 0, 1, -1, 0, 0.5};
        int64_t delay;
        assert_int_equal(wh_backoff_decide(sched, 3, &o, &delay), WH_NEXT_RETRY);
        assert_int_equal(delay, 5000);
    }
}

static void test_retry_after_uses_now(void **state)
{
    assert_int_equal(wh_retry_after_ms("Sat, 23 Nov 2024 10:00:30 GMT", NOW - 30 * S), 60 * S);
    assert_int_equal(wh_retry_after_ms("Sat, 23 Nov 2024 10:00:30 GMT", NOW + 30 * S), 0);
    assert_int_equal(wh_retry_after_ms("Sat, 23 Nov 2024 10:00:30 GMT", NOW + 3600 * S), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_table),          cmocka_unit_test(test_backoff_jitter_sweep),
        cmocka_unit_test(test_backoff_empty_schedule), cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_retry_after_uses_now),   cmocka_unit_test(test_decide_table),
    };
    return cmocka_run_group_tests_name("dispatch/backoff", tests, NULL, NULL);
}
