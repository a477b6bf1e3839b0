#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/str.h"
#include "routecache.h"

static size_t slot_of(const char *key)
{
    return wh_fnv1a(key) % WH_ROUTE_CACHE_SLOTS;
}

static void make_key(char *out, size_t cap, const char *provider, const char *id)
{
    snprintf(out, cap, "%s\n%s", provider, id);
}

wh_route_cache_t *wh_route_cache_new(void)
{
    wh_route_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    return c;
}

void wh_route_cache_free(wh_route_cache_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i != WH_ROUTE_CACHE_SLOTS; ++i)
        json_decref(c->slots[i].creds);
    free(c);
}

const wh_route_t *wh_route_cache_get(wh_route_cache_t *c, const char *provider, const char *id, int64_t now)
{
    char key[sizeof(c->slots[0].key)];
    wh_route_t *r;

    make_key(key, sizeof(key), provider, id);
    r = &c->slots[slot_of(key)];
    if (r->creds == NULL || r->expires <= now || strcmp(r->key, key) != 0)
        return NULL;
    return r;
}

void wh_route_cache_put(wh_route_cache_t *c, const char *provider, const char *id, const char *conn_id, const char *env_id,
                        json_t *creds, int64_t now)
{
    char key[sizeof(c->slots[0].key)];
    wh_route_t *r;

    make_key(key, sizeof(key), provider, id);
    r = &c->slots[slot_of(key)];
    json_decref(r->creds);
    memcpy(r->key, key, sizeof(key));
    snprintf(r->conn_id, sizeof(r->conn_id), "%s", conn_id);
    snprintf(r->env_id, sizeof(r->env_id), "%s", env_id);
    r->creds = json_incref(creds);
    r->expires = now + WH_ROUTE_CACHE_TTL_MS;
}
