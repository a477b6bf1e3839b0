#include <limits.h>
#include "str.h"

bool wh_str_ieq(wh_str_t a, wh_str_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i != a.len; ++i) {
        unsigned char x = (unsigned char)a.base[i], y = (unsigned char)b.base[i];
        if ((unsigned)(x - 'A') < 26u)
            x += 'a' - 'A';
        if ((unsigned)(y - 'A') < 26u)
            y += 'a' - 'A';
        if (x != y)
            return false;
    }
    return true;
}

bool wh_str_to_i64(wh_str_t s, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0, lim;

    if (s.len == 0)
        return false;
    if (s.base[0] == '-') {
        neg = 1;
        i = 1;
        if (s.len == 1)
            return false;
    }
    lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i != s.len; ++i) {
        unsigned d = (unsigned char)s.base[i] - '0';
        if (d > 9)
            return false;
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return true;
}
