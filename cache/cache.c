#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/time.h"
#include "../common/unified.h"
#include "../queue/keys.h"
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

static void add_copy(wh_cache_args_t *a, const char *s)
{
    add_owned(a, strdup(s));
}

void wh_cache_args_add_copy(wh_cache_args_t *a, const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c == NULL)
        abort();
    memcpy(c, s, len);
    c[len] = '\0';
    grow((void **)&a->owned, &a->owned_cap, a->nowned + 1, sizeof(*a->owned));
    a->owned[a->nowned++] = c;
    wh_cache_args_add(a, c, len);
}

void wh_cache_args_add_owned(wh_cache_args_t *a, char *s)
{
    add_owned(a, s);
}

static void add_count(wh_cache_args_t *a, size_t n)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%zu", n);
    add_copy(a, buf);
}

wh_cache_synced_t wh_cache_synced_parse(wh_str_t sync_json)
{
    json_t *root = json_loadb(sync_json.base, sync_json.len, 0, NULL), *v;
    const char *name;
    wh_cache_synced_t mask = 0;

    json_object_foreach(json_object_get(root, "objects"), name, v)
    {
        const wh_object_type_t *t = wh_object_type_find_plural(wh_str_c(name));
        if (t != NULL && json_is_true(v))
            mask |= (wh_cache_synced_t)1 << (t - wh_object_types);
    }
    json_decref(root);
    return mask;
}

bool wh_cache_is_synced(wh_cache_synced_t synced, const char *type)
{
    const wh_object_type_t *t = type != NULL ? wh_object_type_find(wh_str_c(type)) : NULL;
    return t != NULL && (synced & ((wh_cache_synced_t)1 << (t - wh_object_types))) != 0;
}

/* The number index value of v: JSON numbers, numeric strings, ISO 8601 dates as epoch ms; false when none. */
static bool index_number(const json_t *v, char out[32])
{
    double d;
    int64_t ms;

    if (json_is_integer(v)) {
        snprintf(out, 32, "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (json_is_real(v)) {
        d = json_real_value(v);
        snprintf(out, 32, "%.17g", d);
        return isfinite(d);
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return false;
    if (wh_parse_iso8601(wh_str(json_string_value(v), json_string_length(v)), &ms) ||
        wh_parse_iso8601_date(wh_str(json_string_value(v), json_string_length(v)), &ms)) {
        snprintf(out, 32, "%lld", (long long)ms);
        return true;
    }
    {
        const char *s = json_string_value(v);
        char *end;
        d = strtod(s, &end);
        if (end == s || *end != '\0' || !isfinite(d) || strlen(s) != json_string_length(v))
            return false;
        snprintf(out, 32, "%.17g", d);
        return true;
    }
}

/* Which argument group of apply.lua a field goes to: text-indexed, number-indexed, or not indexed. */
typedef enum { GROUP_TEXT, GROUP_NUMBER, GROUP_OTHER } group_t;

static group_t group_of(const wh_object_type_t *t, const char *prefix, const char *name)
{
    const wh_index_field_t *ix = prefix[0] == '\0' && t != NULL ? wh_index_field_find(t, wh_str_c(name)) : NULL;
    return ix == NULL ? GROUP_OTHER : ix->kind == WH_INDEX_TEXT ? GROUP_TEXT : GROUP_NUMBER;
}

/*
 * The text index member of v for record `id`: its text (strings as themselves, numbers and booleans as their JSON
 * text `json`) with [A-Z] lower-cased, "\0", the id; NULL when v has none (null, objects, arrays). apply.lua computes
 * the same member from a stored value when it removes an old entry (its scalar and lower), so the two must agree.
 */
static char *text_member(const json_t *v, const char *json, const char *id, size_t *len)
{
    const char *text = json;
    size_t n = strlen(json), idlen = strlen(id);
    char *m;

    if (json_is_null(v) || json_is_object(v) || json_is_array(v))
        return NULL;
    if (json_is_string(v)) {
        text = json_string_value(v);
        n = json_string_length(v);
    }
    if ((m = malloc(n + 1 + idlen + 1)) == NULL)
        abort();
    for (size_t i = 0; i != n; ++i)
        m[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] - 'A' + 'a') : text[i];
    m[n] = '\0';
    memcpy(m + n + 1, id, idlen + 1);
    *len = n + 1 + idlen;
    return m;
}

/* Appends (field, JSON value) and, for an indexed field, its entry: the text member (or "") or the number (or ""). */
static void add_field(wh_cache_args_t *a, group_t g, const char *prefix, const char *name, const json_t *v, const char *id)
{
    size_t n = strlen(prefix) + strlen(name) + 1, mlen;
    char *field = malloc(n), *json = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), *m, num[32];

    if (field == NULL || json == NULL)
        abort();
    snprintf(field, n, "%s%s", prefix, name);
    add_owned(a, field);
    add_owned(a, json);
    if (g == GROUP_NUMBER) {
        add_copy(a, index_number(v, num) ? num : "");
    } else if (g == GROUP_TEXT) {
        if ((m = text_member(v, json, id, &mlen)) == NULL) {
            add_copy(a, "");
        } else {
            wh_cache_args_add_copy(a, m, mlen);
            free(m);
        }
    }
}

/* Appends the fields of `c` in group `g` (with its count first unless `g` is the last group); "additional" flattened. */
static void add_fields(wh_cache_args_t *a, const wh_object_type_t *t, const wh_cache_change_t *c, group_t g)
{
    const char *k, *k2;
    json_t *v, *v2;
    size_t n = 0;

    for (int pass = g == GROUP_OTHER; pass != 2; ++pass) {
        if (pass == 1 && g != GROUP_OTHER)
            add_count(a, n);
        json_object_foreach((json_t *)c->fields, k, v)
        {
            if (strcmp(k, "additional") == 0 && json_is_object(v)) {
                if (g != GROUP_OTHER)
                    continue;
                json_object_foreach(v, k2, v2)
                {
                    if (pass == 1)
                        add_field(a, g, "additional.", k2, v2, c->object_id);
                }
            } else if (strcmp(k, "id") != 0 && group_of(t, "", k) == g) {
                if (pass == 0)
                    ++n;
                else
                    add_field(a, g, "", k, v, c->object_id);
            }
        }
    }
}

/* Association i with this type as the child and its parent type synced. */
static bool child_link(const wh_cache_change_t *c, size_t i)
{
    const wh_association_t *as = &wh_associations[i];
    return strcmp(as->child_type, c->type) == 0 && wh_cache_is_synced(c->synced, as->parent_type);
}

/* Association i with this type as the parent and its child type synced, the first one naming its list. */
static bool parent_list(const wh_cache_change_t *c, size_t i)
{
    const wh_association_t *as = &wh_associations[i];
    if (strcmp(as->parent_type, c->type) != 0 || !wh_cache_is_synced(c->synced, as->child_type))
        return false;
    for (size_t j = 0; j != i; ++j)
        if (strcmp(wh_associations[j].parent_type, c->type) == 0 && strcmp(wh_associations[j].list_field, as->list_field) == 0 &&
            wh_cache_is_synced(c->synced, wh_associations[j].child_type))
            return false;
    return true;
}

/* Actions that can take a record out of its indexes or bring it back: deleted and merged (unlink), created and
   restored (relink after a tombstone). */
static bool needs_index_list(const char *action)
{
    return strcmp(action, WH_ACTION_DELETED) == 0 || strcmp(action, WH_ACTION_MERGED) == 0 ||
           strcmp(action, WH_ACTION_CREATED) == 0 || strcmp(action, WH_ACTION_RESTORED) == 0;
}

int wh_cache_args_apply(wh_cache_args_t *a, const wh_cache_change_t *c)
{
    const wh_object_type_t *t = wh_object_type_find(wh_str_c(c->type));
    bool merged = strcmp(c->action, WH_ACTION_MERGED) == 0;
    char buf[WH_KEY_MAX];
    size_t n, i;

    wh_key_obj(buf, c->connection_id, c->type, c->object_id);
    add_copy(a, buf);
    wh_key_ver(buf, c->connection_id, c->type, c->object_id);
    add_copy(a, buf);
    wh_key_ids(buf, c->connection_id, c->type);
    add_copy(a, buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)c->occurred_at);
    add_copy(a, buf);
    add_copy(a, c->action);
    add_copy(a, c->object_id);
    snprintf(buf, sizeof(buf), "{c:%s}", c->connection_id);
    add_copy(a, buf);
    add_copy(a, c->type);
    add_copy(a, c->thin ? "1" : "0");
    /* the type's whole index list only where a record may leave or rejoin its indexes (apply.lua's unlink and
       relink); a field's own write knows its index kind from the group it is sent in */
    for (n = 0; t != NULL && needs_index_list(c->action) && n != WH_MAX_INDEXED_FIELDS && t->indexed[n].field != NULL; ++n)
        ;
    add_count(a, n);
    for (i = 0; i != n; ++i) {
        add_copy(a, t->indexed[i].field);
        add_copy(a, t->indexed[i].kind == WH_INDEX_TEXT ? "t" : "n");
    }
    for (i = n = 0; i != wh_associations_count; ++i)
        n += child_link(c, i);
    add_count(a, n);
    for (i = 0; i != wh_associations_count; ++i) {
        if (!child_link(c, i))
            continue;
        add_copy(a, wh_associations[i].field);
        add_copy(a, wh_associations[i].parent_type);
        add_copy(a, wh_associations[i].list_field);
    }
    for (i = n = 0; i != wh_associations_count; ++i)
        n += parent_list(c, i);
    add_count(a, n);
    for (i = 0; i != wh_associations_count; ++i)
        if (parent_list(c, i))
            add_copy(a, wh_associations[i].list_field);
    for (i = n = 0; merged && i != json_array_size(c->merged_ids); ++i)
        n += json_is_string(json_array_get(c->merged_ids, i));
    add_count(a, n);
    for (i = 0; merged && i != json_array_size(c->merged_ids); ++i)
        if (json_is_string(json_array_get(c->merged_ids, i)))
            add_copy(a, json_string_value(json_array_get(c->merged_ids, i)));
    add_count(a, c->detach_field != NULL && c->detach_parent != NULL);
    if (c->detach_field != NULL && c->detach_parent != NULL) {
        add_copy(a, c->detach_field);
        add_copy(a, c->detach_parent);
    }
    add_fields(a, t, c, GROUP_TEXT);
    add_fields(a, t, c, GROUP_NUMBER);
    add_fields(a, t, c, GROUP_OTHER);
    return 3;
}

json_t *wh_cache_association(const json_t *association, wh_cache_change_t *c)
{
    const char *child = json_string_value(json_object_get(association, "childType"));
    const char *child_id = json_string_value(json_object_get(association, "childId"));
    const char *field = json_string_value(json_object_get(association, "field"));
    const char *parent = json_string_value(json_object_get(association, "parentType"));
    const char *parent_id = json_string_value(json_object_get(association, "parentId"));
    const json_t *removed = json_object_get(association, "removed");
    const wh_object_type_t *t;
    json_t *fields;
    size_t i;

    if (child == NULL || child_id == NULL || child_id[0] == '\0' || strlen(child_id) > WH_MAX_ID_LEN || field == NULL ||
        parent == NULL || parent_id == NULL || parent_id[0] == '\0' || !json_is_boolean(removed))
        return NULL;
    for (i = 0; i != wh_associations_count; ++i)
        if (strcmp(wh_associations[i].child_type, child) == 0 && strcmp(wh_associations[i].field, field) == 0 &&
            strcmp(wh_associations[i].parent_type, parent) == 0)
            break;
    if (i == wh_associations_count || (t = wh_object_type_find(wh_str_c(child))) == NULL)
        return NULL;
    fields = json_object();
    if (fields == NULL || json_object_set_new(fields, field, json_is_true(removed) ? json_null() : json_string(parent_id)) != 0)
        abort();
    c->type = t->name;
    c->object_id = child_id;
    c->fields = fields;
    c->thin = false;
    c->detach_field = json_is_true(removed) ? wh_associations[i].field : NULL;
    c->detach_parent = json_is_true(removed) ? parent_id : NULL;
    return fields;
}
