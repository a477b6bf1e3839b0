/*
 * The parts of the provider contract every provider shares: header lookup on
 * the inbound view and the bounded change list.
 */
#include <stdio.h>
#include <stdlib.h>
#include "provider.h"
#include "pjson.h"
#include "../common/unified.h"

wh_str_t wh_inbound_header(const wh_inbound_t *in, wh_str_t lname)
{
    for (size_t i = 0; i != in->nheaders; ++i) {
        if (!wh_str_ieq(in->headers[i].name, lname))
            continue;
        /* A present header always has a non-NULL base, even when empty, so callers can tell it from an absent one. */
        if (in->headers[i].value.base == NULL)
            return wh_str("", 0);
        return in->headers[i].value;
    }
    return WH_STR_NULL;
}

void wh_changes_init(wh_changes_t *c)
{
    c->items = NULL;
    c->size = 0;
    c->capacity = 0;
}

void wh_changes_dispose(wh_changes_t *c)
{
    for (size_t i = 0; i != c->size; ++i) {
        wh_change_t *ch = &c->items[i];
        json_decref(ch->fields);
        json_decref(ch->changed_fields);
        json_decref(ch->previous);
        json_decref(ch->extra);
        json_decref(ch->own_type);
    }
    free(c->items);
    wh_changes_init(c);
}

/*
 * The array grows geometrically up to WH_MAX_BATCH, so a pointer returned here is valid only until the next push.
 * Running out of memory aborts (style.md: bounds are errors, exhaustion is fatal).
 */
wh_change_t *wh_changes_push(wh_changes_t *c)
{
    wh_change_t *item;

    if (c->size >= WH_MAX_BATCH)
        return NULL;
    if (c->size == c->capacity) {
        size_t cap = c->capacity == 0 ? 8 : c->capacity * 2;
        wh_change_t *items;
        if (cap > WH_MAX_BATCH)
            cap = WH_MAX_BATCH;
        items = realloc(c->items, cap * sizeof(*items));
        if (items == NULL) {
            fprintf(stderr, "fatal: out of memory growing a change list\n");
            abort();
        }
        c->items = items;
        c->capacity = cap;
    }
    item = &c->items[c->size++];
    memset(item, 0, sizeof(*item));
    return item;
}

bool wh_change_own_type(wh_change_t *c, const char *provider, const char *details_key, wh_str_t native)
{
    char own[WH_MAX_OBJECT_TYPE_LEN + 1];
    json_t *name = json_stringn(native.base, native.len);

    if (name == NULL)
        return false;
    if (c->extra == NULL && (c->extra = json_object()) == NULL)
        abort();
    json_object_set_new(c->extra, details_key, name);
    json_decref(c->own_type);
    if ((c->own_type = json_stringn(own, wh_object_type_own(provider, native, own))) == NULL)
        abort();
    c->object_type = json_string_value(c->own_type);
    return true;
}

json_t *wh_pjson_must(json_t *v)
{
    if (v == NULL) {
        fprintf(stderr, "fatal: out of memory building a change\n");
        abort();
    }
    return v;
}

wh_str_t wh_pjson_str(const json_t *v)
{
    return wh_str(json_string_value(v), json_string_length(v));
}

bool wh_pjson_echoable(wh_str_t s)
{
    if (s.len == 0 || s.len > WH_ECHO_MAX)
        return false;
    for (size_t i = 0; i != s.len; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

const json_t *wh_pjson_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

bool wh_pjson_within_depth(const json_t *v, int remaining)
{
    const json_t *child;
    const char *key;
    size_t i;

    if (!json_is_array(v) && !json_is_object(v))
        return true;
    if (remaining == 0)
        return false;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            if (!wh_pjson_within_depth(child, remaining - 1))
                return false;
        }
        return true;
    }
    /* json_object_foreach wants a non-const object; iteration does not modify it. */
    json_object_foreach((json_t *)v, key, child)
    {
        if (!wh_pjson_within_depth(child, remaining - 1))
            return false;
    }
    return true;
}
