/* common/time.c: ISO 8601 formatting and parsing, the duration and size notations of the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/time.h"

/* Expected values below were computed independently with Python's datetime (UTC). */
#define NOV23_10H 1732356000000LL /* 2024-11-23T10:00:00Z */

static void test_iso8601_format(void **state)
{
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {NOV23_10H + 123, "2024-11-23T10:00:00.123Z"},
        {1709164800000LL, "2024-02-29T00:00:00.000Z"},
        {946684800000LL - 1, "1999-12-31T23:59:59.999Z"},
        {253402300799999LL, "9999-12-31T23:59:59.999Z"},
        /* before the epoch the milliseconds still count forward within the second */
        {-1, "1969-12-31T23:59:59.999Z"},
        {-999, "1969-12-31T23:59:59.001Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},
        {-1001, "1969-12-31T23:59:58.999Z"},
        {-86400000LL, "1969-12-31T00:00:00.000Z"},
    };
    char out[WH_ISO8601_LEN];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        memset(out, 'X', sizeof(out));
        wh_iso8601(cases[i].ms, out);
        print_message("  %lld\n", (long long)cases[i].ms);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(strlen(out), WH_ISO8601_LEN - 1);
    }
}

static void test_iso8601_round_trip(void **state)
{
    static const int64_t values[] = {0, 1, 999, 1000, NOV23_10H + 123, -1, -1001, -86400000LL * 365 + 7, 253402300799999LL};
    char out[WH_ISO8601_LEN];

    for (size_t i = 0; i != sizeof(values) / sizeof(values[0]); ++i) {
        int64_t back = 42;
        wh_iso8601(values[i], out);
        if (!wh_parse_iso8601(wh_str_c(out), &back))
            fail_msg("\"%s\" (from %lld) does not parse back", out, (long long)values[i]);
        if (back != values[i])
            fail_msg("\"%s\" parsed back as %lld, expected %lld", out, (long long)back, (long long)values[i]);
    }
}

static void test_parse_iso8601_accepts(void **state)
{
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"2024-11-23T10:00:00Z", NOV23_10H},
        {"2024-11-23T10:00:00.123Z", NOV23_10H + 123},
        {"2024-11-23t10:00:00z", NOV23_10H}, /* RFC 3339 5.6: T and Z may be lower case */
        {"2024-11-23T10:00:00+00:00", NOV23_10H},
        {"2024-11-23T10:00:00-00:00", NOV23_10H},
        {"2024-11-23T10:00:00+02:00", NOV23_10H - 2 * 3600000LL},
        {"2024-11-23T10:00:00-05:30", NOV23_10H + 5 * 3600000LL + 30 * 60000LL},
        {"2024-11-23T10:00:00.5+01:00", NOV23_10H - 3600000LL + 500},
        /* fractions of 1..9 digits, truncated to milliseconds */
        {"2024-11-23T10:00:00.1Z", NOV23_10H + 100},
        {"2024-11-23T10:00:00.12Z", NOV23_10H + 120},
        {"2024-11-23T10:00:00.123Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.1234Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.12345Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.123456Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.1234567Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.12345678Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.123456789Z", NOV23_10H + 123},
        {"2024-11-23T10:00:00.999999999Z", NOV23_10H + 999},
        {"2024-11-23T10:00:00.000000001Z", NOV23_10H},
        {"2024-02-29T00:00:00Z", 1709164800000LL}, /* a leap day */
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", -1000},
        {"1970-01-01T00:00:00+14:00", -50400000LL},
        {"2000-01-01T00:00:00Z", 946684800000LL},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t ms = 42;
        if (!wh_parse_iso8601(wh_str_c(cases[i].text), &ms))
            fail_msg("\"%s\" was refused", cases[i].text);
        if (ms != cases[i].want)
            fail_msg("\"%s\" -> %lld, expected %lld", cases[i].text, (long long)ms, (long long)cases[i].want);
    }
}

static void test_parse_iso8601_rejects(void **state)
{
    static const char *const cases[] = {
        "",
        "2024-11-23",
        "2024-11-23T10:00Z", /* too short: no seconds */
        "2024-11-23T10:00:0Z",
        "2024-11-23T10:00:00", /* no zone */
        "2024-11-23T10:00:00.123",
        "2024-11-23T10:00:00.Z",           /* a dot without digits */
        "2024-11-23T10:00:00.1234567890Z", /* 10 fraction digits */
        "2024-13-01T00:00:00Z",            /* bad month */
        "2024-00-10T00:00:00Z",
        "2024-01-32T00:00:00Z", /* bad day */
        "2024-01-00T00:00:00Z",
        "2024-11-23T24:00:00Z",     /* bad hour */
        "2024-11-23T10:60:00Z",     /* bad minute */
        "2024-11-23T10:00:00Zjunk", /* trailing junk */
        "2024-11-23T10:00:00Z ",
        "2024-11-23T10:00:00+02:00junk",
        "2024-11-23T10:00:00+02:00Z",
        "2024-11-23T10:00:00+0200", /* RFC 3339 offsets have a colon */
        "2024-11-23T10:00:00+2:00",
        "2024-11-23T10:00:00+02",
        "2024-11-23T10:00:00+24:00",
        "2024-11-23T10:00:00+02:60",
        "2024-11-23X10:00:00Z",
        "2024/11/23T10:00:00Z",
        "24-11-23T10:00:00Z",
        "2024-1-23T10:00:00Z",
        "2024-11-23T10:00:00UTC",
        "+2024-11-23T10:00:00Z",
        "1732356000",
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t ms = 42;
        if (wh_parse_iso8601(wh_str_c(cases[i]), &ms))
            fail_msg("\"%s\" was accepted as %lld, expected a refusal", cases[i], (long long)ms);
    }
}

/* A day that does not exist in its month is not a date (RFC 3339 5.7), not the first days of the next month. */
static void test_parse_iso8601_rejects_impossible_dates(void **state)
{
    static const char *const cases[] = {
        "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", /* 2023 is not a leap year */
        "2024-04-31T00:00:00Z", "2100-02-29T00:00:00Z", /* divisible by 100, not by 400 */
    };

    size_t accepted = 0;

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t ms = 42;
        char normalized[WH_ISO8601_LEN] = "";
        if (wh_parse_iso8601(wh_str_c(cases[i]), &ms)) {
            wh_iso8601(ms, normalized);
            print_error("\"%s\" was accepted as %lld (%s), expected a refusal\n", cases[i], (long long)ms, normalized);
            ++accepted;
        }
    }
    if (accepted != 0)
        fail_msg("%zu of %zu impossible dates accepted", accepted, sizeof(cases) / sizeof(cases[0]));
}

/* Binary-safe: the length ends the input, not a NUL; bytes past it are never read as part of it. */
static void test_parse_iso8601_length_bound(void **state)
{
    static const char text[] = "2024-11-23T10:00:00Z999";
    int64_t ms = 0;

    assert_true(wh_parse_iso8601(wh_str(text, 20), &ms));
    assert_int_equal(ms, NOV23_10H);
    assert_false(wh_parse_iso8601(wh_str(text, 19), &ms)); /* the zone is outside the window */
    assert_false(wh_parse_iso8601(wh_str(text, 18), &ms));
    assert_false(wh_parse_iso8601(wh_str(text, 21), &ms)); /* "Z9" */
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"500ms", 500},
        {"5s", 5000},
        {"5m", 300000},
        {"30m", 1800000},
        {"2h", 7200000},
        {"10h", 36000000},
        {"1d", 86400000},
        {"7", 7000}, /* a bare number is seconds */
        {"0", 0},
        {"0ms", 0},
        {"15s", 15000},
        {"0015s", 15000},
        {"10000000000ms", 10000000000LL},
        {"365d", 365LL * 86400000},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t ms = 42;
        if (!wh_parse_duration_ms(wh_str_c(cases[i].text), &ms))
            fail_msg("\"%s\" was refused", cases[i].text);
        if (ms != cases[i].want)
            fail_msg("\"%s\" -> %lld ms, expected %lld", cases[i].text, (long long)ms, (long long)cases[i].want);
    }
}

static void test_parse_duration_rejects(void **state)
{
    static const char *const cases[] = {
        "",
        "s",
        "ms",
        "5x",
        "-5s",
        "+5s",
        "5 s",
        " 5s",
        "5s ",
        "1.5s",
        "5sec",
        "5ss",
        "5msx",
        "5S", /* units are lower case */
        "5M",
        "5s5",
        "99999999999999999999", /* overflow of the digits */
        "106751991168d",        /* fits in int64 as days, overflows as ms */
        "9223372036854775808ms",
        "99999999999999999999999999ms",
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        int64_t ms = 42;
        if (wh_parse_duration_ms(wh_str_c(cases[i]), &ms))
            fail_msg("\"%s\" was accepted as %lld ms, expected a refusal", cases[i], (long long)ms);
    }
    /* length-bounded: "5s" seen through one byte is "5" (seconds), through zero bytes nothing */
    {
        int64_t ms = 0;
        assert_true(wh_parse_duration_ms(wh_str("5ms", 2), &ms));
        assert_int_equal(ms, 300000);
        assert_false(wh_parse_duration_ms(wh_str("5s", 0), &ms));
    }
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"1048576", 1048576}, {"512KiB", 512 * 1024}, {"1MiB", 1048576}, {"1M", 1048576}, {"64k", 65536},
        {"64K", 65536},       {"1GiB", 1073741824},   {"2MiB", 2097152}, {"0", 0},        {"1", 1},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        uint64_t bytes = 42;
        if (!wh_parse_size(wh_str_c(cases[i].text), &bytes))
            fail_msg("\"%s\" was refused", cases[i].text);
        if (bytes != cases[i].want)
            fail_msg("\"%s\" -> %llu bytes, expected %llu", cases[i].text, (unsigned long long)bytes,
                     (unsigned long long)cases[i].want);
    }
}

static void test_parse_size_rejects(void **state)
{
    static const char *const cases[] = {
        "",
        "1TB",
        "1TiB",
        "MiB",
        "k",
        "-1",
        "1.5MiB",
        "1 MiB",
        "1MiBx",
        "1Mi",
        "0x10",
        "99999999999999999999",
        "18446744073709551616",
        "99999999999GiB", /* overflows 64 bits */
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        uint64_t bytes = 42;
        if (wh_parse_size(wh_str_c(cases[i]), &bytes))
            fail_msg("\"%s\" was accepted as %llu bytes, expected a refusal", cases[i], (unsigned long long)bytes);
    }
}

static void test_clocks(void **state)
{
    int64_t a = wh_mono_ms(), now = wh_now_ms(), b = wh_mono_ms();

    /* the wall clock is past 2024-11-23 and before 2100; the monotonic clock does not go back */
    assert_in_range(now, NOV23_10H, 4102444800000LL);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_format),
        cmocka_unit_test(test_iso8601_round_trip),
        cmocka_unit_test(test_parse_iso8601_accepts),
        cmocka_unit_test(test_parse_iso8601_rejects),
        cmocka_unit_test(test_parse_iso8601_rejects_impossible_dates),
        cmocka_unit_test(test_parse_iso8601_length_bound),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_duration_rejects),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_size_rejects),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests_name("common/time", tests, NULL, NULL);
}
