/*
 * The unified vocabulary (design §4): object types and actions. Adding an
 * object type is one table row in unified.c, not code.
 */
#ifndef WH_UNIFIED_H
#define WH_UNIFIED_H

#include <stddef.h>
#include "str.h"

/* How the cache indexes a field for GET /v1/cache filters (design §6). */
typedef enum {
    WH_INDEX_TEXT,  /* eq, startsWith; ASCII case ignored (a lexicographic index of the lower-cased text) */
    WH_INDEX_NUMBER /* eq, gt, lt; numbers, and ISO 8601 dates or date-times as epoch milliseconds */
} wh_index_kind_t;

typedef struct {
    const char *field; /* unified field name: "lastName" */
    wh_index_kind_t kind;
} wh_index_field_t;

#define WH_MAX_INDEXED_FIELDS 12

typedef struct {
    const char *name;   /* singular, as in events: "contact" */
    const char *plural; /* the sync-config key customers use: "contacts" */
    /* fields the cache indexes for this type (updatedAt and createdAt for every type) */
    wh_index_field_t indexed[WH_MAX_INDEXED_FIELDS];
} wh_object_type_t;

/* The index entry of `field` for type `t`, or NULL when that field is not indexed. */
const wh_index_field_t *wh_index_field_find(const wh_object_type_t *t, wh_str_t field);

/*
 * Two-way associations (design §5): a child's reference field names a parent; when both types are synced the
 * parent's cached record lists its children under list_field ("task.dealId = D" => deal D's "taskIds").
 * Re-parenting moves the child; deleting the child removes it from the list.
 */
typedef struct {
    const char *child_type;  /* "task" */
    const char *field;       /* "dealId" */
    const char *parent_type; /* "deal" */
    const char *list_field;  /* "taskIds" */
} wh_association_t;

extern const wh_association_t wh_associations[];
extern const size_t wh_associations_count;

extern const wh_object_type_t wh_object_types[];
extern const size_t wh_object_types_count;

/* The table row for a singular name, or NULL. The returned name pointer is static. */
const wh_object_type_t *wh_object_type_find(wh_str_t name);
/* The table row for a plural sync-config key ("contacts"), or NULL. */
const wh_object_type_t *wh_object_type_find_plural(wh_str_t plural);

/*
 * Object types without a unified name keep the provider's own name: "<provider>:<native>", the native name
 * lower-cased with every byte outside [a-z0-9_-] written as '_', the whole cut at WH_MAX_OBJECT_TYPE_LEN bytes
 * ("salesforce:invoice__c", "attio:97052eb9-e65e-443f-a297-f2d9a4a7f795", "close:custom_activity"). So an event
 * type is always "crm.<objectType>.<action>" with exactly two dots, and a subscription can name it.
 */
#define WH_MAX_OBJECT_TYPE_LEN 80
/* Writes the own name into out (WH_MAX_OBJECT_TYPE_LEN + 1 bytes) and returns its length. */
size_t wh_object_type_own(const char *provider, wh_str_t native, char *out);

/* Actions (static strings; compare by pointer or by text). */
#define WH_ACTION_CREATED "created"
#define WH_ACTION_UPDATED "updated"
#define WH_ACTION_DELETED "deleted"
#define WH_ACTION_MERGED "merged"
#define WH_ACTION_RESTORED "restored"
#define WH_ACTION_ASSOCIATED "associated"

/* The static action string for `name`, or NULL if it is not an action. */
const char *wh_action_find(wh_str_t name);

#endif
