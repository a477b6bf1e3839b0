#include "unified.h"

const wh_object_type_t wh_object_types[] = {
    {"contact", "contacts"}, {"account", "accounts"}, {"deal", "deals"},   {"lead", "leads"}, {"task", "tasks"},
    {"note", "notes"},       {"user", "users"},       {"event", "events"}, {"call", "calls"}, {"email", "emails"},
};
const size_t wh_object_types_count = sizeof(wh_object_types) / sizeof(wh_object_types[0]);

static const char *const actions[] = {WH_ACTION_CREATED, WH_ACTION_UPDATED,  WH_ACTION_DELETED,
                                      WH_ACTION_MERGED,  WH_ACTION_RESTORED, WH_ACTION_ASSOCIATED};

const wh_object_type_t *wh_object_type_find(wh_str_t name)
{
    for (size_t i = 0; i != wh_object_types_count; ++i)
        if (wh_str_eq(name, wh_str_c(wh_object_types[i].name)))
            return &wh_object_types[i];
    return NULL;
}

const wh_object_type_t *wh_object_type_find_plural(wh_str_t plural)
{
    for (size_t i = 0; i != wh_object_types_count; ++i)
        if (wh_str_eq(plural, wh_str_c(wh_object_types[i].plural)))
            return &wh_object_types[i];
    return NULL;
}

const char *wh_action_find(wh_str_t name)
{
    for (size_t i = 0; i != sizeof(actions) / sizeof(actions[0]); ++i)
        if (wh_str_eq(name, wh_str_c(actions[i])))
            return actions[i];
    return NULL;
}

size_t wh_object_type_own(const char *provider, wh_str_t native, char *out)
{
    size_t n = 0;

    for (const char *p = provider; *p != '\0' && n < WH_MAX_OBJECT_TYPE_LEN - 1; ++p)
        out[n++] = *p;
    out[n++] = ':';
    for (size_t i = 0; i != native.len && n < WH_MAX_OBJECT_TYPE_LEN; ++i) {
        char c = native.base[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ? c : '_';
    }
    out[n] = '\0';
    return n;
}
