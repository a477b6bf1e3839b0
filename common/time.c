#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "time.h"

int64_t wh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wh_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wh_iso8601(int64_t ms, char out[WH_ISO8601_LEN])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    char buf[64];

    gmtime_r(&secs, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    memcpy(out, buf, WH_ISO8601_LEN - 1);
    out[WH_ISO8601_LEN - 1] = '\0';
}

static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i != n; ++i) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool wh_parse_iso8601(wh_str_t s, int64_t *ms)
{
    const char *p = s.base, *end = s.base + s.len;
    int y, mo, d, h, mi, sec, frac_ms = 0, off_min = 0;
    struct tm tm = {0};

    if (s.len < 19 || !digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' || !digits(p + 8, 2, &d) ||
        (p[10] != 'T' && p[10] != 't' && p[10] != ' ') || !digits(p + 11, 2, &h) || p[13] != ':' || !digits(p + 14, 2, &mi) ||
        p[16] != ':' || !digits(p + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    p += 19;
    if (p < end && *p == '.') {
        int scale = 100, n = 0;
        for (++p; p < end && *p >= '0' && *p <= '9'; ++p, ++n) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9)
            return false;
    }
    if (p == end)
        return false;
    if (*p == 'Z' || *p == 'z') {
        ++p;
    } else if (*p == '+' || *p == '-') {
        int oh, om, sign = *p == '-' ? -1 : 1;
        if (end - p != 6 || !digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off_min = sign * (oh * 60 + om);
        p += 6;
    } else {
        return false;
    }
    if (p != end)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = ((int64_t)timegm(&tm) - (int64_t)off_min * 60) * 1000 + frac_ms;
    return true;
}

bool wh_parse_iso8601_date(wh_str_t s, int64_t *ms)
{
    int y, mo, d;
    struct tm tm = {0};

    if (s.len != 10 || !digits(s.base, 4, &y) || s.base[4] != '-' || !digits(s.base + 5, 2, &mo) || s.base[7] != '-' ||
        !digits(s.base + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    *ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

bool wh_parse_duration_ms(wh_str_t s, int64_t *ms)
{
    size_t i = 0;
    int64_t v = 0, mult;
    wh_str_t unit;

    while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
        if (v > (INT64_MAX / 1000 / 86400 - 9) / 10)
            return false;
        v = v * 10 + (s.base[i++] - '0');
    }
    if (i == 0)
        return false;
    unit = wh_str(s.base + i, s.len - i);
    if (unit.len == 0 || wh_str_eq(unit, WH_STRLIT("s")))
        mult = 1000;
    else if (wh_str_eq(unit, WH_STRLIT("ms")))
        mult = 1;
    else if (wh_str_eq(unit, WH_STRLIT("m")))
        mult = 60 * 1000;
    else if (wh_str_eq(unit, WH_STRLIT("h")))
        mult = 3600 * 1000;
    else if (wh_str_eq(unit, WH_STRLIT("d")))
        mult = 86400 * 1000;
    else
        return false;
    *ms = v * mult;
    return true;
}

bool wh_parse_size(wh_str_t s, uint64_t *bytes)
{
    size_t i = 0;
    uint64_t v = 0, mult;
    wh_str_t unit;

    while (i < s.len && s.base[i] >= '0' && s.base[i] <= '9') {
        if (v > (UINT64_MAX >> 31))
            return false;
        v = v * 10 + (uint64_t)(s.base[i++] - '0');
    }
    if (i == 0)
        return false;
    unit = wh_str(s.base + i, s.len - i);
    if (unit.len == 0 || wh_str_ieq(unit, WH_STRLIT("b")))
        mult = 1;
    else if (wh_str_ieq(unit, WH_STRLIT("k")) || wh_str_ieq(unit, WH_STRLIT("kb")) || wh_str_ieq(unit, WH_STRLIT("kib")))
        mult = 1024;
    else if (wh_str_ieq(unit, WH_STRLIT("m")) || wh_str_ieq(unit, WH_STRLIT("mb")) || wh_str_ieq(unit, WH_STRLIT("mib")))
        mult = 1024 * 1024;
    else if (wh_str_ieq(unit, WH_STRLIT("g")) || wh_str_ieq(unit, WH_STRLIT("gb")) || wh_str_ieq(unit, WH_STRLIT("gib")))
        mult = 1024 * 1024 * 1024;
    else
        return false;
    *bytes = v * mult;
    return true;
}
