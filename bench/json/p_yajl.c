/*
 * yajl 2.1 through yajl_tree (its DOM). yajl_tree_parse reads a NUL-terminated string, so the body is copied into
 * a buffer with one more byte (what the gateway would have to do too); nesting is checked afterwards, as jansson's
 * is today: yajl_tree has no depth bound (only the callback API could count levels as it goes).
 */
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>
#include "bench.h"

typedef struct {
    yajl_val root;
    char *copy;
    size_t cap;
} st_t;

static void *create(void)
{
    st_t *st = calloc(1, sizeof(st_t));
    st->cap = BJ_MAX_BODY + 1;
    st->copy = malloc(st->cap);
    return st;
}

static void destroy(void *p)
{
    st_t *st = p;
    free(st->copy);
    free(st);
}

static int within_depth(yajl_val v, int remaining)
{
    size_t i;

    if (!YAJL_IS_ARRAY(v) && !YAJL_IS_OBJECT(v))
        return 1;
    if (remaining == 0)
        return 0;
    if (YAJL_IS_ARRAY(v)) {
        for (i = 0; i != v->u.array.len; ++i)
            if (!within_depth(v->u.array.values[i], remaining - 1))
                return 0;
        return 1;
    }
    for (i = 0; i != v->u.object.len; ++i)
        if (!within_depth(v->u.object.values[i], remaining - 1))
            return 0;
    return 1;
}

static bj_verdict_t parse(void *p, const char *buf, size_t len)
{
    st_t *st = p;

    if (len >= st->cap)
        return BJ_INVALID;
    memcpy(st->copy, buf, len);
    st->copy[len] = '\0';
    st->root = yajl_tree_parse(st->copy, NULL, 0);
    if (st->root == NULL)
        return BJ_INVALID;
    if (!within_depth(st->root, BJ_MAX_DEPTH)) {
        yajl_tree_free(st->root);
        st->root = NULL;
        return BJ_DEEP;
    }
    return BJ_OK;
}

static uint64_t scalar(yajl_val v)
{
    switch (v->type) {
    case yajl_t_string:
        /* yajl_tree keeps strings NUL-terminated without a length: a value holding U+0000 is cut there. */
        return bj_sum_string(v->u.string, strlen(v->u.string));
    case yajl_t_number:
        if (YAJL_IS_INTEGER(v))
            return bj_sum_int(v->u.number.i);
        return bj_sum_real(v->u.number.d);
    case yajl_t_true:
        return bj_sum_const(2);
    case yajl_t_false:
        return bj_sum_const(1);
    case yajl_t_null:
        return bj_sum_const(0);
    default:
        return 0;
    }
}

/* obj[key]: a linear scan, as yajl_tree_get does (first match wins). */
static yajl_val member(yajl_val obj, const char *key)
{
    for (size_t i = 0; i != obj->u.object.len; ++i)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

static uint64_t walk_value(yajl_val v)
{
    uint64_t sum = 0;
    size_t i;

    if (YAJL_IS_ARRAY(v)) {
        for (i = 0; i != v->u.array.len; ++i)
            sum += walk_value(v->u.array.values[i]);
        return sum;
    }
    if (!YAJL_IS_OBJECT(v))
        return scalar(v);
    for (i = 0; i != BJ_WALK_NKEYS; ++i) {
        yajl_val child = member(v, bj_walk_keys[i]);
        if (child != NULL)
            sum += bj_sum_hit(i) + (YAJL_IS_ARRAY(child) || YAJL_IS_OBJECT(child) ? 0 : scalar(child));
    }
    for (i = 0; i != v->u.object.len; ++i)
        sum += walk_value(v->u.object.values[i]);
    return sum;
}

static uint64_t walk(void *p)
{
    return walk_value(((st_t *)p)->root);
}

static void release(void *p)
{
    st_t *st = p;
    yajl_tree_free(st->root);
    st->root = NULL;
}

const bj_parser_t bj_yajl = {"yajl", create, destroy, parse, walk, release};
