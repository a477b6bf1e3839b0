#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    *cap = need < 16 ? 16 : need * 2;
    if ((*p = realloc(*p, *cap * elem)) == NULL)
        abort();
}

void wh_cache_args_init(wh_cache_args_t *a)
{
    memset(a, 0, sizeof(*a));
}

void wh_cache_args_dispose(wh_cache_args_t *a)
{
    for (size_t i = 0; i != a->nowned; ++i)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->len);
}

void wh_cache_args_add(wh_cache_args_t *a, const char *s, size_t len)
{
    size_t cap = a->cap;
    grow((void **)&a->argv, &cap, a->n + 1, sizeof(*a->argv));
    grow((void **)&a->len, &a->cap, a->n + 1, sizeof(*a->len));
    a->argv[a->n] = s;
    a->len[a->n++] = len;
}

static void add_owned(wh_cache_args_t *a, char *s)
{
    if (s == NULL)
        abort();
    grow((void **)&a->owned, &a->owned_cap, a->nowned + 1, sizeof(*a->owned));
    a->owned[a->nowned++] = s;
    wh_cache_args_add(a, s, strlen(s));
}

static void add_pair(wh_cache_args_t *a, const char *prefix, const char *name, const json_t *v)
{
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *field = malloc(n);
    if (field == NULL)
        abort();
    snprintf(field, n, "%s%s", prefix, name);
    add_owned(a, field);
    add_owned(a, json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
}

void wh_cache_args_add_fields(wh_cache_args_t *a, const json_t *fields)
{
    const char *k, *k2;
    json_t *v, *v2;

    json_object_foreach((json_t *)fields, k, v)
    {
        if (strcmp(k, "additional") == 0 && json_is_object(v)) {
            json_object_foreach(v, k2, v2) add_pair(a, "additional.", k2, v2);
        } else if (strcmp(k, "id") != 0) {
            add_pair(a, "", k, v);
        }
    }
}
