/* jansson 2.14, called exactly as the providers call it: json_loadb + wh_pjson_within_depth. */
#include <jansson.h>
#include <stdlib.h>
#include "bench.h"

typedef struct {
    json_t *root;
} st_t;

static void *create(void)
{
    return calloc(1, sizeof(st_t));
}

static void destroy(void *p)
{
    free(p);
}

/* providers/provider.c wh_pjson_within_depth, verbatim in substance. */
static int within_depth(const json_t *v, int remaining)
{
    const json_t *child;
    const char *key;
    size_t i;

    if (!json_is_array(v) && !json_is_object(v))
        return 1;
    if (remaining == 0)
        return 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            if (!within_depth(child, remaining - 1))
                return 0;
        }
        return 1;
    }
    json_object_foreach((json_t *)v, key, child)
    {
        if (!within_depth(child, remaining - 1))
            return 0;
    }
    return 1;
}

static bj_verdict_t parse(void *p, const char *buf, size_t len)
{
    st_t *st = p;
    json_error_t jerr;

    st->root = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (st->root == NULL)
        return json_error_code(&jerr) == json_error_stack_overflow ? BJ_DEEP : BJ_INVALID;
    if (!within_depth(st->root, BJ_MAX_DEPTH)) {
        json_decref(st->root);
        st->root = NULL;
        return BJ_DEEP;
    }
    return BJ_OK;
}

static uint64_t scalar(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return bj_sum_string(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return bj_sum_int(json_integer_value(v));
    case JSON_REAL:
        return bj_sum_real(json_real_value(v));
    case JSON_TRUE:
        return bj_sum_const(2);
    case JSON_FALSE:
        return bj_sum_const(1);
    case JSON_NULL:
        return bj_sum_const(0);
    default:
        return 0;
    }
}

static uint64_t walk_value(const json_t *v)
{
    uint64_t sum = 0;
    const json_t *child;
    const char *key;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) sum += walk_value(child);
        return sum;
    }
    if (!json_is_object(v))
        return scalar(v);
    for (i = 0; i != BJ_WALK_NKEYS; ++i) {
        child = json_object_get(v, bj_walk_keys[i]);
        if (child != NULL)
            sum += bj_sum_hit(i) + (json_is_array(child) || json_is_object(child) ? 0 : scalar(child));
    }
    json_object_foreach((json_t *)v, key, child) sum += walk_value(child);
    return sum;
}

static uint64_t walk(void *p)
{
    return walk_value(((st_t *)p)->root);
}

static void release(void *p)
{
    st_t *st = p;
    json_decref(st->root);
    st->root = NULL;
}

const bj_parser_t bj_jansson = {"jansson", create, destroy, parse, walk, release};
