#include "unified.h"

#define T WH_INDEX_TEXT
#define N WH_INDEX_NUMBER
#define DATES                                                                                                                      \
    {"updatedAt", N},                                                                                                              \
    {                                                                                                                              \
        "createdAt", N                                                                                                             \
    }

/* clang-format off */
const wh_object_type_t wh_object_types[] = {
    {"contact", "contacts", {{"email", T}, {"firstName", T}, {"lastName", T}, {"phone", T}, {"accountId", T}, {"ownerId", T}, DATES}},
    {"account", "accounts", {{"name", T}, {"domain", T}, {"website", T}, {"ownerId", T}, DATES}},
    {"deal", "deals", {{"name", T}, {"stage", T}, {"accountId", T}, {"ownerId", T}, {"amount", N}, {"closeDate", N}, DATES}},
    {"lead", "leads", {{"email", T}, {"firstName", T}, {"lastName", T}, {"company", T}, {"status", T}, {"ownerId", T}, DATES}},
    {"task", "tasks", {{"status", T}, {"dealId", T}, {"accountId", T}, {"contactId", T}, {"ownerId", T}, {"dueDate", N}, DATES}},
    {"note", "notes", {{"dealId", T}, {"accountId", T}, {"contactId", T}, {"ownerId", T}, DATES}},
    {"user", "users", {{"email", T}, {"firstName", T}, {"lastName", T}, {"name", T}, DATES}},
    {"event", "events", {{"dealId", T}, {"accountId", T}, {"contactId", T}, {"ownerId", T}, {"startTime", N}, DATES}},
    {"call", "calls", {{"dealId", T}, {"accountId", T}, {"contactId", T}, {"ownerId", T}, DATES}},
    {"email", "emails", {{"dealId", T}, {"accountId", T}, {"contactId", T}, {"ownerId", T}, DATES}},
};

const wh_association_t wh_associations[] = {
    {"contact", "accountId", "account", "contactIds"},
    {"deal", "accountId", "account", "dealIds"},
    {"task", "dealId", "deal", "taskIds"},
    {"task", "accountId", "account", "taskIds"},
    {"task", "contactId", "contact", "taskIds"},
    {"note", "dealId", "deal", "noteIds"},
    {"note", "accountId", "account", "noteIds"},
    {"note", "contactId", "contact", "noteIds"},
    {"event", "dealId", "deal", "eventIds"},
    {"call", "dealId", "deal", "callIds"},
    {"email", "dealId", "deal", "emailIds"},
};
/* clang-format on */
const size_t wh_associations_count = sizeof(wh_associations) / sizeof(wh_associations[0]);

#undef T
#undef N
#undef DATES

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

const wh_index_field_t *wh_index_field_find(const wh_object_type_t *t, wh_str_t field)
{
    for (size_t i = 0; i != WH_MAX_INDEXED_FIELDS && t->indexed[i].field != NULL; ++i)
        if (wh_str_eq(field, wh_str_c(t->indexed[i].field)))
            return &t->indexed[i];
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
