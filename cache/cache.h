/*
 * The synced cache's write side as the worker sees it: the arguments of one apply (cache/scripts/apply.lua,
 * whose header lists them) and the connection's sync config. Values are stored as JSON text, one hash field per
 * unified field; provider properties without a unified name are flattened to "additional.<name>" so each one has
 * its own version. The model (keys, indexes, associations, merges, staleness) is in cache/README.md.
 */
#ifndef WH_CACHE_H
#define WH_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../common/str.h"

typedef struct {
    const char **argv;
    size_t *len;
    char **owned; /* keys, numbers, dumped JSON values and flattened names, freed by dispose */
    size_t n, cap, nowned, owned_cap;
} wh_cache_args_t;

/* The object types a connection syncs: bit i stands for wh_object_types[i] (common/unified.c). */
typedef uint32_t wh_cache_synced_t;

/* The synced types of a stored sync config {"objects": {"contacts": true, …}}; 0 when absent or unreadable. */
wh_cache_synced_t wh_cache_synced_parse(wh_str_t sync_json);
/* True when the singular `type` is a unified type that `synced` includes. */
bool wh_cache_is_synced(wh_cache_synced_t synced, const char *type);

/* One change event to apply. Every pointer is borrowed for the duration of wh_cache_args_apply. */
typedef struct {
    const char *connection_id, *type, *object_id, *action;
    int64_t occurred_at;
    bool thin;
    const json_t *fields;     /* unified name -> value ("additional" flattened), or NULL */
    const json_t *merged_ids; /* "merged": array of the losers' ids (strings), or NULL */
    wh_cache_synced_t synced; /* decides which associations are kept (both ends synced) */
    /* A removed association: `detach_field` (in `fields`, as null) is written only while it holds `detach_parent`
       or nothing. Both NULL otherwise. */
    const char *detach_field, *detach_parent;
} wh_cache_change_t;

/*
 * An "associated" change event as the cache applies it: its extra.association
 * {"childType", "childId", "field", "parentType", "parentId", "removed"} (providers/hubspot.c) names a row of
 * wh_associations (common/unified.c), and the change becomes a write of that reference field on the child at the
 * event's time: the parent's id, or null when removed (with detach_*, so only while it still names that parent).
 * Sets c->type, object_id, fields, thin, detach_field and detach_parent (borrowing from `association`); returns the
 * fields object, which the caller releases (json_decref) after wh_cache_args_apply, or NULL (c untouched) when
 * `association` is absent or names no unified association.
 */
json_t *wh_cache_association(const json_t *association, wh_cache_change_t *c);

void wh_cache_args_init(wh_cache_args_t *a);
void wh_cache_args_dispose(wh_cache_args_t *a);
/* Appends a borrowed argument (valid until the command is sent). */
void wh_cache_args_add(wh_cache_args_t *a, const char *s, size_t len);
/* Appends a copy of `len` bytes (binary-safe), freed by dispose. */
void wh_cache_args_add_copy(wh_cache_args_t *a, const char *s, size_t len);
/* Appends `s` (malloc'd, NUL-terminated), taking it: freed by dispose. */
void wh_cache_args_add_owned(wh_cache_args_t *a, char *s);
/*
 * Appends apply.lua's 3 keys and its arguments for `c` (everything copied: `c` may go away before sending).
 * Number-indexed fields get their index value here: JSON numbers, numeric strings, and ISO 8601 dates or
 * date-times as epoch ms; text-indexed fields their new index member (ASCII lower-cased text "\0" id), which the
 * script recomputes the same way from a stored value when it removes or restores an entry. Returns the number of
 * keys (3).
 */
int wh_cache_args_apply(wh_cache_args_t *a, const wh_cache_change_t *c);

#endif
