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

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; ++i) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

size_t wh_utf8_sanitize(const char *in, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;

    while (*p != '\0') {
        size_t k = utf8_seq(p);
        if (k == 0) {
            if (n + 1 >= cap)
                break;
            out[n++] = '?';
            ++p;
            continue;
        }
        if (n + k >= cap)
            break;
        memcpy(out + n, p, k);
        n += k;
        p += k;
    }
    out[n] = '\0';
    return n;
}
