#include <string.h>
#include "fieldmap.h"

const char *wh_fieldmap_find(const wh_fieldmap_t *map, const char *object_type, wh_str_t property)
{
    for (size_t i = 0; i != map->count; ++i) {
        const wh_fieldmap_entry_t *e = &map->entries[i];
        if (strcmp(e->object_type, object_type) == 0 && wh_str_eq(property, wh_str_c(e->property)))
            return e->field;
    }
    return NULL;
}

/* Copies a NUL-terminated static name into `name` (WH_FIELDMAP_NAME_CAP bytes); false if it does not fit. */
static bool copy_name(char *name, const char *src)
{
    size_t n = strlen(src);

    if (n >= WH_FIELDMAP_NAME_CAP)
        return false;
    memcpy(name, src, n + 1);
    return true;
}

wh_err_t wh_fieldmap_put(const wh_fieldmap_t *map, const char *object_type, wh_str_t property, json_t *value, json_t *fields,
                         char *name)
{
    static const char prefix[] = WH_FIELDMAP_ADDITIONAL ".";
    const char *field;
    json_t *additional;
    wh_err_t err = WH_OK;

    name[0] = '\0';
    if (property.len == 0 || property.len > WH_FIELDMAP_MAX_PROPERTY || memchr(property.base, '\0', property.len) != NULL) {
        err = WH_EINVAL;
        goto Exit;
    }

    field = wh_fieldmap_find(map, object_type, property);
    if (field != NULL) {
        if (!copy_name(name, field)) {
            err = WH_EINTERNAL;
            goto Exit;
        }
        /* set_new consumes `value` whether or not it succeeds. */
        if (json_object_set_new(fields, field, value) != 0)
            err = WH_EINTERNAL;
        value = NULL;
        goto Exit;
    }

    additional = json_object_get(fields, WH_FIELDMAP_ADDITIONAL);
    if (additional == NULL) {
        additional = json_object();
        if (json_object_set_new(fields, WH_FIELDMAP_ADDITIONAL, additional) != 0) {
            err = WH_EINTERNAL;
            goto Exit;
        }
    } else if (!json_is_object(additional)) {
        err = WH_EINTERNAL;
        goto Exit;
    }
    /* setn_new checks the key is UTF-8 and consumes `value` whether or not it succeeds. */
    if (json_object_setn_new(additional, property.base, property.len, value) != 0)
        err = WH_EINVAL;
    value = NULL;
    if (err != WH_OK)
        goto Exit;
    memcpy(name, prefix, sizeof(prefix) - 1);
    memcpy(name + sizeof(prefix) - 1, property.base, property.len);
    name[sizeof(prefix) - 1 + property.len] = '\0';

Exit:
    json_decref(value);
    return err;
}
