/*
 * bench/json: one JSON parser behind the small interface the benchmark drives (bench.c owns the loop).
 * Every parser answers the same question wharf's providers ask of jansson today: is this body JSON within
 * WH_MAX_JSON_DEPTH, and what do a provider's lookups and reads find in it.
 */
#ifndef BJ_BENCH_H
#define BJ_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* common/limits.h WH_MAX_JSON_DEPTH: the root container is level 1. */
#define BJ_MAX_DEPTH 24
/* common/limits.h WH_DEFAULT_MAX_BODY. */
#define BJ_MAX_BODY (1024 * 1024)

typedef enum { BJ_OK = 0, BJ_INVALID = 1, BJ_DEEP = 2 } bj_verdict_t;

typedef struct {
    const char *name;
    void *(*create)(void);
    void (*destroy)(void *st);
    /* Parse `len` bytes (not NUL-terminated); the result is kept in `st` until release(). */
    bj_verdict_t (*parse)(void *st, const char *buf, size_t len);
    /* The provider-like walk over the last accepted parse (NULL: the parser has no walk). */
    uint64_t (*walk)(void *st);
    void (*release)(void *st);
} bj_parser_t;

/*
 * The walk: per object, look up every key of bj_walk_keys (a provider reads ~10 named members per event), then
 * iterate every member, reading scalars and descending into containers (providers copy field maps, and jansson's
 * depth check visits every node anyway); arrays are iterated. The checksum is a sum, so iteration order does not
 * matter, and equal checksums mean two parsers found the same values.
 */
static const char *const bj_walk_keys[] = {"subscriptionType", "eventType",     "objectId", "portalId", "occurredAt", "eventId",
                                           "propertyName",     "propertyValue", "id",       "event",    "data",       "type",
                                           "current",          "meta"};
#define BJ_WALK_NKEYS (sizeof(bj_walk_keys) / sizeof(bj_walk_keys[0]))

static inline uint64_t bj_mix(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    v *= 0xc4ceb9fe1a85ec53ULL;
    v ^= v >> 33;
    return v;
}
/* What reading one scalar contributes. Strings: the unescaped bytes' length and first and last byte. */
static inline uint64_t bj_sum_string(const char *s, size_t len)
{
    return bj_mix(1000003u * len + (len ? (unsigned char)s[0] * 31u + (unsigned char)s[len - 1] : 7u));
}
static inline uint64_t bj_sum_int(int64_t v)
{
    return bj_mix((uint64_t)v ^ 0x1234u);
}
static inline uint64_t bj_sum_real(double d)
{
    union {
        double d;
        uint64_t u;
    } x = {d};
    return bj_mix(x.u ^ 0x5678u);
}
static inline uint64_t bj_sum_const(int which) /* 0 null, 1 false, 2 true */
{
    return bj_mix(0x9abcu + (uint64_t)which);
}
static inline uint64_t bj_sum_hit(size_t key)
{
    return bj_mix(0xdef0u + key);
}

#ifdef __cplusplus
extern "C" {
#endif
extern const bj_parser_t bj_jansson, bj_yajl, bj_jsmn_raw, bj_jsmn, bj_simdjson;
#ifdef __cplusplus
}
#endif

#endif
