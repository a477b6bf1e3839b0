/*
 * Provider property -> unified field name, as data.
 *
 * Each provider owns one const table of (object type, provider property, unified camelCase name) rows.
 * wh_fieldmap_put() files a property's value into an event's `fields` object: under its unified name
 * when the table has one, else under fields.additional.<property> (design §4: "provider properties
 * without a unified name are kept under additional").
 */
#ifndef WH_PROVIDERS_FIELDMAP_H
#define WH_PROVIDERS_FIELDMAP_H

#include <jansson.h>
#include <stddef.h>
#include "../common/err.h"
#include "../common/str.h"

/* Longest provider property name accepted (HubSpot internal names are well under 100 bytes). */
#define WH_FIELDMAP_MAX_PROPERTY 256
/* Room for a changedFields name: "additional." + property + NUL. */
#define WH_FIELDMAP_NAME_CAP (sizeof("additional.") + WH_FIELDMAP_MAX_PROPERTY)
/* The fields member that holds unmapped properties. No table row may map to it. */
#define WH_FIELDMAP_ADDITIONAL "additional"

typedef struct {
    const char *object_type; /* the event's object_type: unified ("contact") or a provider's own ("ticket") */
    const char *property;    /* provider property name, matched exactly (case-sensitive) */
    const char *field;       /* unified camelCase field name */
} wh_fieldmap_entry_t;

typedef struct {
    const wh_fieldmap_entry_t *entries;
    size_t count;
} wh_fieldmap_t;

/* Initializer for a wh_fieldmap_t over a const array of rows (usable for static tables). */
#define WH_FIELDMAP_INIT(rows)                                                                                                     \
    {                                                                                                                              \
        (rows), sizeof(rows) / sizeof((rows)[0])                                                                                   \
    }

/* Provider tables: one per provider, in providers/fieldmap_<provider>.c. */
extern const wh_fieldmap_t wh_fieldmap_hubspot;

/* The unified name of `property` on `object_type` (static), or NULL when the table has no row for it. */
const char *wh_fieldmap_find(const wh_fieldmap_t *map, const char *object_type, wh_str_t property);

/*
 * Stores `value` (taken, also on error) in `fields` (borrowed, an object) under the unified name, or under
 * fields.additional.<property> (creating "additional"). Writes the name changedFields uses ("email",
 * "additional.hs_foo"), NUL-terminated, into `name` (WH_FIELDMAP_NAME_CAP bytes).
 * WH_EINVAL when the property is empty, longer than WH_FIELDMAP_MAX_PROPERTY, holds a NUL byte or is not
 * UTF-8; WH_EINTERNAL when fields.additional exists and is not an object.
 */
wh_err_t wh_fieldmap_put(const wh_fieldmap_t *map, const char *object_type, wh_str_t property, json_t *value, json_t *fields,
                         char *name);

#endif
