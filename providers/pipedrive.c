/*
 * Pipedrive webhooks, v1 (legacy) and v2 (default since March 2025) (shared/providers/README.md §5).
 *
 * One event per request on the per-connection route (POST /webhooks/pipedrive/{connectionId}). Pipedrive
 * signs nothing: the webhook is created with http_auth_user/http_auth_password and every request carries
 * `Authorization: Basic base64(user:password)`, checked here against the connection's credentials
 * {"username", "password"} in constant time.
 *
 * The two payload versions are told apart by shape (meta.entity in v2, meta.object in v1):
 *   v2 {"meta": {action create|change|delete, entity, entity_id, id (event uuid), timestamp (RFC 3339)…},
 *       "data": {…current} | null, "previous": {changed fields only} | null}
 *   v1 {"meta": {action added|updated|deleted|merged, object, id (object id), timestamp (s), timestamp_micro…},
 *       "current": {…full object} | null, "previous": {…full object} | null}
 * Both are fat: `fields` is the current object through the field table, `previous` the prior values of
 * the changed keys (v1 sends the whole prior object; only its changed keys are kept, so `previous` means
 * the same thing for both versions). Deletes carry the last state in `previous` and empty `fields`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "../common/crypto.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "fieldmap.h"
#include "pjson.h"
#include "provider.h"
#include "sig.h"

extern const wh_fieldmap_t wh_fieldmap_pipedrive;

/* Pipedrive does not document a bound on http_auth_user/password; this one only stops absurd values. */
#define CREDENTIAL_MAX 256
/* Longest entity / object / action name we read; every known one is far shorter. */
#define TYPE_NAME_MAX 64
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */
/* Room for the decoded Basic credentials of the longest header wh_sig_get_header lets through. */
#define BASIC_DECODED_CAP (WH_MAX_HEADER_VALUE / 4 * 3 + 3)
/* Unix timestamps at or above this are read as milliseconds (year 2286 in seconds); see read_time(). */
#define SECONDS_MAX 9999999999LL

/*
 * Pipedrive object names -> object types (README §5.5). Activities are tasks (Pipedrive's activity `type`
 * — call, meeting, … — stays in fields.type). Objects without a unified type keep Pipedrive's name and flow
 * as events without being cached; any other name becomes "object" with extra.entity (see resolve_type).
 */
static const struct {
    const char *entity;
    const char *object_type;
} entities[] = {
    {"person", "contact"},
    {"organization", "account"},
    {"deal", "deal"},
    {"lead", "lead"},
    {"activity", "task"},
    {"note", "note"},
    {"user", "user"},
    {"pipeline", "pipeline"},
    {"stage", "stage"},
    {"product", "product"},
    {"activityType", "activityType"},
};
#define GENERIC_OBJECT_TYPE "object"

typedef enum { KIND_CREATED, KIND_UPDATED, KIND_DELETED, KIND_MERGED } kind_t;

typedef struct {
    const char *name; /* meta.action as Pipedrive writes it */
    kind_t kind;
    const char *action;
} action_row_t;

/* v2 (README §5.3). A delete naming merged_to_id becomes a merge in read_event. */
static const action_row_t actions_v2[] = {
    {"create", KIND_CREATED, WH_ACTION_CREATED},
    {"change", KIND_UPDATED, WH_ACTION_UPDATED},
    {"delete", KIND_DELETED, WH_ACTION_DELETED},
};

/* v1 (README §5.4). */
static const action_row_t actions_v1[] = {
    {"added", KIND_CREATED, WH_ACTION_CREATED},
    {"updated", KIND_UPDATED, WH_ACTION_UPDATED},
    {"deleted", KIND_DELETED, WH_ACTION_DELETED},
    {"merged", KIND_MERGED, WH_ACTION_MERGED},
};

/* Everything the event contributes, gathered before the change is written. */
typedef struct {
    int version; /* 1 or 2 */
    kind_t kind;
    const char *action;
    const char *object_type;
    wh_str_t entity;        /* as sent */
    wh_str_t verb;          /* meta.action as sent */
    bool generic;           /* entity not in the table: object_type "object", extra.entity */
    const json_t *current;  /* data (v2) / current (v1) object, or NULL */
    const json_t *previous; /* previous object, or NULL */
    char object_id[WH_MAX_ID_LEN + 1];
    char event_id[WH_MAX_ID_LEN + 1]; /* v2 meta.id; "" in v1 */
    char webhook_id[WH_MAX_ID_LEN + 1];
    char account[WH_MAX_ID_LEN + 1];   /* meta.company_id; "" when absent */
    char merged_to[WH_MAX_ID_LEN + 1]; /* v2 meta.merged_to_id on the loser's delete; "" otherwise */
    char time_text[32];                /* the timestamp as sent (dedupe key), or its integer's digits */
    int64_t occurred_at;
} event_t;

/* Credentials. */

static wh_err_t check_field(const json_t *credentials, const char *key, char *errbuf)
{
    const json_t *v = json_object_get(credentials, key);

    if (v == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: required", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: must be a non-empty string", key);
    if (json_string_length(v) > CREDENTIAL_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: longer than %d bytes", key, CREDENTIAL_MAX);
    if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: must not contain NUL", key);
    return WH_OK;
}

/*
 * Unknown keys are refused: credentials are write-only, so a misspelt "user" would otherwise leave the
 * connection refusing every request with no way for the operator to see why. The username may not hold
 * ':' (RFC 7617: the first colon separates user-id from password, so such a name can never match).
 */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *user;
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    err = check_field(credentials, "username", errbuf);
    if (err != WH_OK)
        return err;
    user = json_object_get(credentials, "username");
    if (memchr(json_string_value(user), ':', json_string_length(user)) != NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.username: must not contain ':' (HTTP Basic separator)");
    err = check_field(credentials, "password", errbuf);
    if (err != WH_OK)
        return err;
    if (json_object_size(credentials) != 2)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only username and password are allowed)");
    return WH_OK;
}

/* Verification. */

/*
 * Both halves are always compared, so the time taken does not tell which one was wrong. The decoded bytes
 * (the received password) are wiped before returning. Messages never echo the header or the credentials.
 */
static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t user = wh_sig_get_credential(credentials, "username");
    wh_str_t pass = wh_sig_get_credential(credentials, "password");
    uint8_t decoded[BASIC_DECODED_CAP];
    wh_str_t header, token;
    const uint8_t *colon;
    long n = -1;
    bool user_ok, pass_ok;
    wh_err_t err;

    if (user.base == NULL || pass.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.%s missing", user.base == NULL ? "username" : "password");
    if (!wh_sig_get_header(in, WH_STRLIT("authorization"), &header))
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization header longer than %d bytes", WH_MAX_HEADER_VALUE);
    if (header.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization header missing (the webhook needs http_auth_user/password)");
    /* RFC 7617: the scheme name is case-insensitive, then one or more spaces, then the token68. */
    if (header.len < 6 || !wh_str_ieq(wh_str(header.base, 5), WH_STRLIT("basic")) || header.base[5] != ' ')
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization is not HTTP Basic");
    token = wh_str(header.base + 6, header.len - 6);
    while (token.len > 0 && token.base[0] == ' ')
        ++token.base, --token.len;
    while (token.len > 0 && token.base[token.len - 1] == ' ')
        --token.len;
    if (token.len != 0)
        n = wh_base64_decode(token, decoded, sizeof(decoded));
    if (n < 0) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "Authorization Basic credentials are not base64");
        goto Exit;
    }
    colon = memchr(decoded, ':', (size_t)n);
    if (colon == NULL) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "Authorization Basic credentials have no ':'");
        goto Exit;
    }
    user_ok = wh_ct_equal(decoded, (size_t)(colon - decoded), user.base, user.len);
    pass_ok = wh_ct_equal(colon + 1, (size_t)n - (size_t)(colon - decoded) - 1, pass.base, pass.len);
    err = (user_ok & pass_ok) ? WH_OK : wh_errf(errbuf, WH_ESIGNATURE, "Authorization Basic credentials do not match");
Exit:
    if (n > 0)
        OPENSSL_cleanse(decoded, (size_t)n);
    return err;
}

/* Parsing. */

/* An id as text into `out` (WH_MAX_ID_LEN + 1 bytes): a non-negative integer, or a string of 1..WH_MAX_ID_LEN
 * bytes without NUL (lead ids are UUIDs, v2 sends numeric ids as strings). */
static bool id_text(const json_t *v, char *out)
{
    wh_str_t s;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return false;
        snprintf(out, WH_MAX_ID_LEN + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    if (!json_is_string(v))
        return false;
    s = wh_pjson_str(v);
    if (s.len == 0 || s.len > WH_MAX_ID_LEN || memchr(s.base, '\0', s.len) != NULL)
        return false;
    memcpy(out, s.base, s.len);
    out[s.len] = '\0';
    return true;
}

/* An id member of `obj` (see id_text) into `out`. Absent: out = "" and WH_OK unless `required`. */
static wh_err_t read_id(const json_t *obj, const char *where, const char *key, bool required, char *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(obj, key);

    out[0] = '\0';
    if (v == NULL)
        return required ? wh_errf(errbuf, WH_EMALFORMED, "%s.%s missing", where, key) : WH_OK;
    if (!id_text(v, out))
        return wh_errf(errbuf, WH_EMALFORMED, "%s.%s must be a non-negative integer or a non-empty string", where, key);
    return WH_OK;
}

/* A required short string member (meta.action, meta.entity). */
static wh_err_t read_name(const json_t *meta, const char *key, wh_str_t *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(meta, key);

    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "meta.%s missing", key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > TYPE_NAME_MAX)
        return wh_errf(errbuf, WH_EMALFORMED, "meta.%s must be a non-empty string of at most %d bytes", key, TYPE_NAME_MAX);
    *out = wh_pjson_str(v);
    return WH_OK;
}

/* The canonical static name: the wh_object_types row for unified types, the literal otherwise. */
static const char *canonical_type(const char *name)
{
    const wh_object_type_t *t = wh_object_type_find(wh_str_c(name));
    return t != NULL ? t->name : name;
}

static void resolve_type(event_t *e)
{
    for (size_t k = 0; k != sizeof(entities) / sizeof(entities[0]); ++k) {
        if (wh_str_eq(e->entity, wh_str_c(entities[k].entity))) {
            e->object_type = canonical_type(entities[k].object_type);
            return;
        }
    }
    /* A Pipedrive object added after this table was written: it still flows, and says what it was. */
    e->object_type = GENERIC_OBJECT_TYPE;
    e->generic = true;
}

static wh_err_t resolve_action(event_t *e, char *errbuf)
{
    const action_row_t *rows = e->version == 2 ? actions_v2 : actions_v1;
    size_t n = e->version == 2 ? sizeof(actions_v2) / sizeof(actions_v2[0]) : sizeof(actions_v1) / sizeof(actions_v1[0]);

    for (size_t k = 0; k != n; ++k) {
        if (wh_str_eq(e->verb, wh_str_c(rows[k].name))) {
            e->kind = rows[k].kind;
            e->action = rows[k].action;
            return WH_OK;
        }
    }
    if (wh_pjson_echoable(e->verb))
        return wh_errf(errbuf, WH_EMALFORMED, "unknown v%d meta.action \"%.*s\"", e->version, (int)e->verb.len, e->verb.base);
    return wh_errf(errbuf, WH_EMALFORMED, "unknown v%d meta.action", e->version);
}

/*
 * meta.timestamp: v2 sends RFC 3339 text; v2 user events sent a unix-seconds integer (README §5.3, said fixed
 * since mid-2025, both accepted); v1 sends seconds plus timestamp_micro, which is preferred when present.
 * UNCONFIRMED whether any integer form is ever milliseconds: values past year 2286 in seconds are read as ms.
 */
static wh_err_t read_time(const json_t *meta, event_t *e, char *errbuf)
{
    const json_t *micro = e->version == 1 ? wh_pjson_member(meta, "timestamp_micro") : NULL;
    const json_t *ts = wh_pjson_member(meta, "timestamp");
    int64_t v;

    if (micro != NULL) {
        if (!json_is_integer(micro) || json_integer_value(micro) < 0)
            return wh_errf(errbuf, WH_EMALFORMED, "meta.timestamp_micro must be a non-negative integer");
        v = json_integer_value(micro);
        e->occurred_at = v / 1000;
        snprintf(e->time_text, sizeof(e->time_text), "u%lld", (long long)v);
        return WH_OK;
    }
    if (ts == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "meta.timestamp missing");
    if (json_is_string(ts)) {
        if (json_string_length(ts) >= sizeof(e->time_text) || !wh_parse_iso8601(wh_pjson_str(ts), &e->occurred_at))
            return wh_errf(errbuf, WH_EMALFORMED, "meta.timestamp is not an RFC 3339 date-time");
        memcpy(e->time_text, json_string_value(ts), json_string_length(ts) + 1);
        return WH_OK;
    }
    if (!json_is_integer(ts) || json_integer_value(ts) < 0)
        return wh_errf(errbuf, WH_EMALFORMED, "meta.timestamp must be an RFC 3339 string or unix seconds");
    v = json_integer_value(ts);
    if (v > INT64_MAX / 1000)
        return wh_errf(errbuf, WH_EMALFORMED, "meta.timestamp out of range");
    e->occurred_at = v > SECONDS_MAX ? v : v * 1000;
    snprintf(e->time_text, sizeof(e->time_text), "%lld", (long long)v);
    return WH_OK;
}

/* `data`/`current` and `previous`: an object, or absent/null. */
static wh_err_t read_body_object(const json_t *root, const char *key, const json_t **out, char *errbuf)
{
    const json_t *v = wh_pjson_member(root, key);

    if (v != NULL && !json_is_object(v))
        return wh_errf(errbuf, WH_EMALFORMED, "%s must be an object or null", key);
    *out = v;
    return WH_OK;
}

/* Reads and checks every member the change needs, before anything is written to `out`. */
static wh_err_t read_event(const json_t *root, event_t *e, char *errbuf)
{
    const json_t *meta = wh_pjson_member(root, "meta");
    wh_err_t err;

    if (!json_is_object(root))
        return wh_errf(errbuf, WH_EMALFORMED, "body is not a JSON object");
    if (meta == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "meta missing (not a Pipedrive webhook)");
    if (!json_is_object(meta))
        return wh_errf(errbuf, WH_EMALFORMED, "meta must be an object");

    /* v2 names the object in meta.entity, v1 in meta.object; meta.version/meta.v are not relied on. */
    if (wh_pjson_member(meta, "entity") != NULL)
        e->version = 2;
    else if (wh_pjson_member(meta, "object") != NULL)
        e->version = 1;
    else
        return wh_errf(errbuf, WH_EMALFORMED, "meta.entity (v2) or meta.object (v1) missing");

    err = read_name(meta, e->version == 2 ? "entity" : "object", &e->entity, errbuf);
    if (err == WH_OK)
        err = read_name(meta, "action", &e->verb, errbuf);
    if (err == WH_OK)
        err = resolve_action(e, errbuf);
    if (err == WH_OK)
        err = read_body_object(root, e->version == 2 ? "data" : "current", &e->current, errbuf);
    if (err == WH_OK)
        err = read_body_object(root, "previous", &e->previous, errbuf);
    if (err != WH_OK)
        return err;
    resolve_type(e);

    if (e->version == 2) {
        err = read_id(meta, "meta", "id", true, e->event_id, errbuf);
        if (err == WH_OK)
            err = read_id(meta, "meta", "entity_id", false, e->object_id, errbuf);
        if (err == WH_OK)
            err = read_id(meta, "meta", "merged_to_id", false, e->merged_to, errbuf);
    } else {
        err = read_id(meta, "meta", "id", false, e->object_id, errbuf);
    }
    if (err == WH_OK)
        err = read_id(meta, "meta", "webhook_id", false, e->webhook_id, errbuf);
    if (err == WH_OK)
        err = read_id(meta, "meta", "company_id", false, e->account, errbuf);
    if (err != WH_OK)
        return err;
    /* Tolerance: an event without meta's object id still names it in its current or previous object. */
    if (e->object_id[0] == '\0' && e->current != NULL)
        err = read_id(e->current, e->version == 2 ? "data" : "current", "id", false, e->object_id, errbuf);
    if (err == WH_OK && e->object_id[0] == '\0' && e->previous != NULL)
        err = read_id(e->previous, "previous", "id", false, e->object_id, errbuf);
    if (err != WH_OK)
        return err;
    if (e->object_id[0] == '\0')
        return wh_errf(errbuf, WH_EMALFORMED, "meta.%s missing", e->version == 2 ? "entity_id" : "id");
    /* v2 reports a merge as the loser's delete naming the survivor (README §5.3). */
    if (e->version == 2 && e->kind == KIND_DELETED && e->merged_to[0] != '\0') {
        e->kind = KIND_MERGED;
        e->action = WH_ACTION_MERGED;
    }
    return read_time(meta, e, errbuf);
}

/*
 * v2: meta.id is the event's uuid and stays the same across Pipedrive's retries (meta.attempt changes).
 * Except for user events, whose meta.id was the user id (README §5.3): there it identifies no event, so the
 * key adds the action and the timestamp as sent. v1 has no event id (README §5.4): webhook, object, action
 * and the microsecond timestamp identify one event.
 */
static void dedupe_key(const event_t *e, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[WH_SIG_MAX_KEY_PARTS];
    size_t n = 0;

    if (e->version == 2) {
        parts[n++] = WH_STRLIT("pipedrive/v2");
        parts[n++] = wh_str_c(e->event_id);
        if (strcmp(e->event_id, e->object_id) == 0) {
            parts[n++] = e->entity;
            parts[n++] = e->verb;
            parts[n++] = wh_str_c(e->time_text);
            parts[n++] = wh_str_c(e->webhook_id);
        }
    } else {
        parts[n++] = WH_STRLIT("pipedrive/v1");
        parts[n++] = wh_str_c(e->webhook_id);
        parts[n++] = e->entity;
        parts[n++] = wh_str_c(e->object_id);
        parts[n++] = e->verb;
        parts[n++] = wh_str_c(e->time_text);
    }
    wh_sig_dedupe_key(parts, n, out);
}

/* Appends `name` to the changedFields array unless it is there already (v1 user_id and owner_id both map to ownerId). */
static void append_name(json_t *names, const char *name)
{
    const json_t *v;
    size_t i;

    json_array_foreach(names, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return;
    }
    json_array_append_new(names, wh_pjson_must(json_string(name)));
}

/* Files every key of `src` into `dst` through the field table; appends the used names to `names` (may be NULL). */
static wh_err_t map_object(const event_t *e, const json_t *src, const char *where, json_t *dst, json_t *names, char *errbuf)
{
    const char *key;
    size_t key_len;
    json_t *v;
    char name[WH_FIELDMAP_NAME_CAP];

    json_object_keylen_foreach((json_t *)src, key, key_len, v)
    {
        if (wh_fieldmap_put(&wh_fieldmap_pipedrive, e->object_type, wh_str(key, key_len), json_incref(v), dst, name) != WH_OK)
            return wh_errf(errbuf, WH_EMALFORMED, "%s holds a key that is not usable as a field name", where);
        if (names != NULL)
            append_name(names, name);
    }
    return WH_OK;
}

/* v1 sends whole objects: a key changed when its values differ, or only one side has it. */
static bool v1_changed(const json_t *current, const json_t *previous, const char *key, size_t key_len)
{
    const json_t *a = json_object_getn(current, key, key_len), *b = json_object_getn(previous, key, key_len);
    return a == NULL || b == NULL || !json_equal(a, b);
}

static wh_err_t fill_change(const event_t *e, wh_change_t *c, char *errbuf)
{
    const char *where = e->version == 2 ? "data" : "current";
    wh_err_t err = WH_OK;

    c->fields = wh_pjson_must(json_object());
    /* A delete's data/current is null; a merge's loser (v2) is gone too: its last state is in previous. */
    if (e->current != NULL && e->kind != KIND_DELETED && !(e->kind == KIND_MERGED && e->version == 2))
        err = map_object(e, e->current, where, c->fields, NULL, errbuf);
    if (err != WH_OK || e->previous == NULL)
        return err;

    c->previous = wh_pjson_must(json_object());
    if (e->kind != KIND_UPDATED)
        return map_object(e, e->previous, "previous", c->previous, NULL, errbuf);

    c->changed_fields = wh_pjson_must(json_array());
    if (e->version == 2)
        return map_object(e, e->previous, "previous", c->previous, c->changed_fields, errbuf);

    /* v1: keys of either object whose values differ; previous keeps only those keys' prior values. */
    {
        json_t *changed = wh_pjson_must(json_object());
        const char *key;
        size_t key_len;
        json_t *v;

        json_object_keylen_foreach((json_t *)e->previous, key, key_len, v)
        {
            if (e->current == NULL || v1_changed(e->current, e->previous, key, key_len))
                json_object_setn(changed, key, key_len, v);
        }
        err = map_object(e, changed, "previous", c->previous, c->changed_fields, errbuf);
        json_decref(changed);
        /* keys only the current object has: changed, with no prior value */
        json_object_keylen_foreach((json_t *)e->current, key, key_len, v)
        {
            char name[WH_FIELDMAP_NAME_CAP];
            json_t *scratch;

            if (err != WH_OK || json_object_getn(e->previous, key, key_len) != NULL)
                continue;
            scratch = wh_pjson_must(json_object());
            if (wh_fieldmap_put(&wh_fieldmap_pipedrive, e->object_type, wh_str(key, key_len), json_null(), scratch, name) != WH_OK)
                err = wh_errf(errbuf, WH_EMALFORMED, "current holds a key that is not usable as a field name");
            else
                append_name(c->changed_fields, name);
            json_decref(scratch);
        }
    }
    return err;
}

static void fill_extra(const event_t *e, wh_change_t *c)
{
    if (e->kind != KIND_MERGED && !e->generic)
        return;
    c->extra = wh_pjson_must(json_object());
    if (e->generic)
        json_object_set_new(c->extra, "entity", wh_pjson_must(json_stringn(e->entity.base, e->entity.len)));
    if (e->kind == KIND_MERGED) {
        json_t *ids = wh_pjson_must(json_array());
        char loser[WH_MAX_ID_LEN + 1] = "";

        /* v2: the loser's delete names the survivor (merged_to_id). v1 (UNCONFIRMED shape): previous.id when it
         * differs from meta.id. */
        if (e->version == 2)
            memcpy(loser, e->object_id, sizeof(loser));
        else if (e->previous != NULL && !id_text(wh_pjson_member(e->previous, "id"), loser))
            loser[0] = '\0';
        if (loser[0] != '\0' && (e->version == 2 || strcmp(loser, e->object_id) != 0))
            json_array_append_new(ids, wh_pjson_must(json_string(loser)));
        json_object_set_new(c->extra, "mergedIds", ids);
    }
}

static wh_err_t parse_event(const json_t *root, wh_changes_t *out, char *errbuf)
{
    event_t e;
    wh_change_t *c;

    memset(&e, 0, sizeof(e));
    wh_err_t err = read_event(root, &e, errbuf);
    if (err != WH_OK)
        return err;
    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->object_type = e.object_type;
    c->action = e.action;
    c->thin = false; /* Pipedrive sends the object itself */
    c->occurred_at_ms = e.occurred_at;
    /* A v2 merge is reported on the survivor, as HubSpot's merges are; the loser is in extra.mergedIds. */
    memcpy(c->object_id, e.kind == KIND_MERGED && e.version == 2 ? e.merged_to : e.object_id, sizeof(c->object_id));
    memcpy(c->account, e.account, sizeof(c->account));
    memcpy(c->provider_event_id, e.event_id, sizeof(c->provider_event_id));
    dedupe_key(&e, c->dedupe_key);
    fill_extra(&e, c);
    return fill_change(&e, c, errbuf);
}

/*
 * JSON_ALLOW_NUL: a value holding U+0000 is odd but is the customer's data; refusing it would fail the
 * webhook until Pipedrive bans the endpoint. Ids holding NUL are refused where they are read.
 */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root;
    wh_err_t err;

    (void)credentials; /* no per-connection mapping for Pipedrive yet */
    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(root, WH_MAX_JSON_DEPTH))
        err = wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
    else
        err = parse_event(root, out, errbuf);
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_pipedrive = {
    .name = "pipedrive",
    .flags = 0, /* per-connection route only: each webhook is created with its connection's URL */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Pipedrive has no handshake: the first request is already an event (README §5.2) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* any 2xx within 10 s satisfies Pipedrive, which ignores the body: the default 202 {"accepted":1} */
    .refusal = NULL, /* Pipedrive reads only the status: the JSON error body is fine */
};
