/*
 * Binary-safe strings: a pointer and a length. Network data never goes
 * through strlen(); a wh_str_t does not own its bytes unless said so.
 */
#ifndef WH_STR_H
#define WH_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *base;
    size_t len;
} wh_str_t;

#define WH_STR_NULL ((wh_str_t){NULL, 0})
#define WH_STRLIT(s) ((wh_str_t){(s), sizeof(s) - 1})

/* FNV-1a, 32 bit, of a NUL-terminated string: the hash of wharf's small direct-mapped tables and of its partitions. */
static inline uint32_t wh_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; ++p)
        h = (h ^ *p) * 16777619u;
    return h;
}

static inline wh_str_t wh_str(const char *base, size_t len)
{
    return (wh_str_t){base, len};
}

/* From a NUL-terminated string the caller trusts (configuration, literals). */
static inline wh_str_t wh_str_c(const char *s)
{
    return (wh_str_t){s, s != NULL ? strlen(s) : 0};
}

static inline bool wh_str_eq(wh_str_t a, wh_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* ASCII case-insensitive equality (header names, tokens). */
bool wh_str_ieq(wh_str_t a, wh_str_t b);

/* Parses a whole string as a decimal integer (optional leading '-'); false on anything else or overflow. */
bool wh_str_to_i64(wh_str_t s, long long *out);

/*
 * Copies the NUL-terminated `in` into out (cap >= 1 bytes, always NUL-terminated) as valid UTF-8: each byte of an
 * invalid or truncated sequence becomes '?', and a sequence that would not fit whole is dropped. For texts that
 * echo input (error messages) on their way into JSON. Returns the length written.
 */
size_t wh_utf8_sanitize(const char *in, char *out, size_t cap);

#endif
