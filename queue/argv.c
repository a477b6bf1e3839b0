#include "argv.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wh_argv_init(wh_argv_t *a)
{
    memset(a, 0, sizeof(*a));
}

void wh_argv_dispose(wh_argv_t *a)
{
    free(a->buf);
    free(a->off);
    free(a->lens);
    free(a->ptrs);
    wh_argv_init(a);
}

void wh_argv_reset(wh_argv_t *a)
{
    a->len = 0;
    a->n = 0;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    size_t c = *cap;
    if (need <= c)
        return p;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size)
            abort();
        c = c == 0 ? first : c * 2;
    }
    if ((p = realloc(p, c * size)) == NULL)
        abort();
    *cap = c;
    return p;
}

void wh_argv_begin(wh_argv_t *a)
{
    a->open = a->len;
}

void wh_argv_put(wh_argv_t *a, const void *s, size_t len)
{
    if (len > SIZE_MAX - a->len - 1)
        abort();
    a->buf = grow(a->buf, &a->cap, a->len + len + 1, 1, 4096);
    if (len != 0)
        memcpy(a->buf + a->len, s, len);
    a->len += len;
    a->buf[a->len] = '\0';
}

void wh_argv_reserve(wh_argv_t *a, size_t len)
{
    if (len > SIZE_MAX - a->len - 1)
        abort();
    a->buf = grow(a->buf, &a->cap, a->len + len + 1, 1, 4096);
}

void wh_argv_end(wh_argv_t *a)
{
    if (a->n == a->ncap) { /* off and lens grow together */
        size_t c = a->ncap;
        a->off = grow(a->off, &c, a->n + 1, sizeof(*a->off), 64);
        c = a->ncap;
        a->lens = grow(a->lens, &c, a->n + 1, sizeof(*a->lens), 64);
        a->ncap = c;
    }
    a->off[a->n] = a->open;
    a->lens[a->n++] = a->len - a->open;
}

void wh_argv_add(wh_argv_t *a, const void *s, size_t len)
{
    wh_argv_begin(a);
    wh_argv_put(a, s, len);
    wh_argv_end(a);
}

void wh_argv_adds(wh_argv_t *a, const char *s)
{
    wh_argv_add(a, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

void wh_argv_addi(wh_argv_t *a, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    wh_argv_add(a, num, (size_t)n);
}

void wh_argv_append(wh_argv_t *a, const wh_argv_t *from)
{
    for (size_t i = 0; i != from->n; ++i)
        wh_argv_add(a, from->buf + from->off[i], from->lens[i]);
}

const char **wh_argv_ptrs(wh_argv_t *a)
{
    size_t cap = 0;
    free(a->ptrs);
    a->ptrs = grow(NULL, &cap, a->n + 1, sizeof(*a->ptrs), a->n + 1);
    for (size_t i = 0; i != a->n; ++i)
        a->ptrs[i] = a->buf + a->off[i];
    return a->ptrs;
}
