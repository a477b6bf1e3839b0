/*
 * Zoho CRM Notification API ("watch" channels) (shared/providers/README.md §7).
 *
 * Per-connection route (POST /webhooks/zoho/{connectionId}), the channel's notify_url. Zoho signs nothing:
 * the body echoes the channel_id and token given when the channel was enabled, and both must equal the
 * connection's credentials {"channelId", "token"} (constant time, README §2 rule 5).
 *
 * Body (thin): {"server_time": ms, "module": "Leads", "resource_uri", "ids": ["…", …], "operation":
 * "insert|update|delete", "channel_id", "token", "affected_fields"?: [{"<id>": ["Field", …]}],
 * "affected_values"?: [{"record_id", "values": {Field: new value}}], "query_params"}.
 * One change per id, all or nothing, `thin` with empty `fields` (design §4: a consumer fetches the record).
 * changedFields come from affected_fields; the new values Zoho sends with return_affected_field_values go
 * to extra.affectedValues (unified names), so they reach consumers without pretending the event is fat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/unified.h"
#include "fieldmap.h"
#include "pjson.h"
#include "provider.h"
#include "sig.h"

extern const wh_fieldmap_t wh_fieldmap_zoho;

/* Zoho caps the token at 50 characters (README §7.1); this bound only stops absurd values at creation. */
#define CREDENTIAL_MAX 256
/* Longest module / operation name we read (custom module API names are well under it). */
#define TYPE_NAME_MAX 64
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */

/*
 * Module API name -> object type (README §7.4). Users are not a documented Notification API module
 * (UNCONFIRMED); the row costs nothing. Standard modules without a unified type keep a singular name of
 * their own and flow without being cached; any other module (custom ones) becomes "object" with
 * extra.module.
 */
static const struct {
    const char *module;
    const char *object_type;
} modules[] = {
    {"Contacts", "contact"},
    {"Accounts", "account"},
    {"Deals", "deal"},
    {"Leads", "lead"},
    {"Tasks", "task"},
    {"Notes", "note"},
    {"Users", "user"},
    {"Events", "event"},
    {"Calls", "call"},
    {"Products", "product"},
    {"Quotes", "quote"},
    {"Sales_Orders", "sales_order"},
    {"Purchase_Orders", "purchase_order"},
    {"Invoices", "invoice"},
    {"Vendors", "vendor"},
    {"Campaigns", "campaign"},
    {"Cases", "case"},
    {"Solutions", "solution"},
    {"Price_Books", "price_book"},
};
#define GENERIC_OBJECT_TYPE "object"

static const struct {
    const char *operation;
    const char *action;
} operations[] = {
    {"insert", WH_ACTION_CREATED},
    {"update", WH_ACTION_UPDATED},
    {"delete", WH_ACTION_DELETED}, /* no official delete sample (README §7.3): the name is by analogy */
};

/* What the whole notification says, read and checked before any change is written. */
typedef struct {
    const json_t *root;
    const json_t *ids;
    const json_t *affected_fields; /* array, or NULL */
    const json_t *affected_values; /* array, or NULL */
    wh_str_t module, operation;
    const char *object_type;
    const char *action;
    bool generic;
    char channel_id[WH_MAX_ID_LEN + 1];
    char server_time_text[24];
    int64_t server_time;
} note_t;

/*
 * An id as text into `out` (WH_MAX_ID_LEN + 1 bytes): a non-negative integer, or a string of 1..WH_MAX_ID_LEN
 * bytes without NUL. Zoho writes record ids as strings and channel ids as numbers (a Java long); both forms
 * are accepted for each.
 */
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

/* The body as JSON; WH_ETOO_LARGE past WH_MAX_JSON_DEPTH, WH_EMALFORMED when it is not JSON. */
static wh_err_t load_body(const wh_inbound_t *in, json_t **root, char *errbuf);

/* Credentials. */

static wh_err_t check_field(const json_t *credentials, const char *key, size_t max, char *errbuf)
{
    const json_t *v = json_object_get(credentials, key);

    if (v == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: required", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: must be a non-empty string", key);
    if (json_string_length(v) > max)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: longer than %zu bytes", key, max);
    if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.%s: must not contain NUL", key);
    return WH_OK;
}

/*
 * channelId is the channel_id given to Zoho's watch call, as a decimal string (Zoho's is a long: a JSON
 * number would lose digits past 2^53 in many clients, so the connection stores text). Unknown keys are
 * refused: credentials are write-only, a misspelt key would otherwise refuse every notification unseen.
 */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    err = check_field(credentials, "channelId", WH_MAX_ID_LEN, errbuf);
    if (err == WH_OK)
        err = check_field(credentials, "token", CREDENTIAL_MAX, errbuf);
    if (err != WH_OK)
        return err;
    if (json_object_size(credentials) != 2)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only channelId and token are allowed)");
    return WH_OK;
}

/* Verification. */

/*
 * The body is parsed here to read what it echoes: a body that is not a JSON object carries no proof and is
 * refused as unauthenticated (401), so an unknown sender learns nothing about what parse would say. Both
 * values are always compared; messages never echo them.
 */
static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t channel = wh_sig_get_credential(credentials, "channelId");
    wh_str_t token = wh_sig_get_credential(credentials, "token");
    char received_channel[WH_MAX_ID_LEN + 1];
    const json_t *v;
    json_t *root = NULL;
    bool channel_ok, token_ok;
    wh_err_t err;

    if (channel.base == NULL || token.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.%s missing", channel.base == NULL ? "channelId" : "token");
    if (load_body(in, &root, NULL) != WH_OK || !json_is_object(root)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "body is not a JSON object carrying channel_id and token");
        goto Exit;
    }
    v = wh_pjson_member(root, "channel_id");
    if (v == NULL || !id_text(v, received_channel)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "channel_id missing or not an id");
        goto Exit;
    }
    v = wh_pjson_member(root, "token");
    if (!json_is_string(v)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "token missing or not a string");
        goto Exit;
    }
    channel_ok = wh_ct_equal(received_channel, strlen(received_channel), channel.base, channel.len);
    token_ok = wh_ct_equal(json_string_value(v), json_string_length(v), token.base, token.len);
    err = (channel_ok & token_ok) ? WH_OK : wh_errf(errbuf, WH_ESIGNATURE, "channel_id or token does not match");
Exit:
    json_decref(root);
    return err;
}

/* Parsing. */

/*
 * JSON_ALLOW_NUL: a field value holding U+0000 is the customer's data; ids and names holding NUL are refused
 * where they are read.
 */
static wh_err_t load_body(const wh_inbound_t *in, json_t **root, char *errbuf)
{
    json_error_t jerr;

    *root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (*root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(*root, WH_MAX_JSON_DEPTH))
        return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
    return WH_OK;
}

static wh_err_t read_name(const json_t *root, const char *key, wh_str_t *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(root, key);

    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "%s missing", key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > TYPE_NAME_MAX ||
        memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "%s must be a non-empty string of at most %d bytes", key, TYPE_NAME_MAX);
    *out = wh_pjson_str(v);
    return WH_OK;
}

/* The canonical static name: the wh_object_types row for unified types, the literal otherwise. */
static const char *canonical_type(const char *name)
{
    const wh_object_type_t *t = wh_object_type_find(wh_str_c(name));
    return t != NULL ? t->name : name;
}

/* An optional member that must be an array when present. */
static wh_err_t read_array(const json_t *root, const char *key, const json_t **out, char *errbuf)
{
    const json_t *v = wh_pjson_member(root, key);

    if (v != NULL && !json_is_array(v))
        return wh_errf(errbuf, WH_EMALFORMED, "%s must be an array", key);
    *out = v;
    return WH_OK;
}

static wh_err_t read_note(const json_t *root, note_t *n, char *errbuf)
{
    const json_t *v;
    wh_err_t err;

    if (!json_is_object(root))
        return wh_errf(errbuf, WH_EMALFORMED, "body is not a JSON object");
    n->root = root;
    err = read_name(root, "module", &n->module, errbuf);
    if (err == WH_OK)
        err = read_name(root, "operation", &n->operation, errbuf);
    if (err != WH_OK)
        return err;

    n->object_type = NULL;
    for (size_t k = 0; k != sizeof(modules) / sizeof(modules[0]) && n->object_type == NULL; ++k)
        if (wh_str_eq(n->module, wh_str_c(modules[k].module)))
            n->object_type = canonical_type(modules[k].object_type);
    if (n->object_type == NULL) {
        n->object_type = GENERIC_OBJECT_TYPE; /* a custom module: still flows, and says which */
        n->generic = true;
    }
    for (size_t k = 0; k != sizeof(operations) / sizeof(operations[0]) && n->action == NULL; ++k)
        if (wh_str_eq(n->operation, wh_str_c(operations[k].operation)))
            n->action = operations[k].action;
    if (n->action == NULL) {
        if (wh_pjson_echoable(n->operation))
            return wh_errf(errbuf, WH_EMALFORMED, "unknown operation \"%.*s\"", (int)n->operation.len, n->operation.base);
        return wh_errf(errbuf, WH_EMALFORMED, "unknown operation");
    }

    v = wh_pjson_member(root, "server_time");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "server_time missing");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return wh_errf(errbuf, WH_EMALFORMED, "server_time must be a non-negative integer of milliseconds");
    n->server_time = json_integer_value(v);
    snprintf(n->server_time_text, sizeof(n->server_time_text), "%lld", (long long)n->server_time);

    /* verify has checked it; parse still reads it for the dedupe key (and stays safe when called alone). */
    v = wh_pjson_member(root, "channel_id");
    if (v == NULL || !id_text(v, n->channel_id))
        return wh_errf(errbuf, WH_EMALFORMED, "channel_id missing or not an id");

    n->ids = wh_pjson_member(root, "ids");
    if (n->ids == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "ids missing");
    if (!json_is_array(n->ids))
        return wh_errf(errbuf, WH_EMALFORMED, "ids must be an array");
    if (json_array_size(n->ids) == 0)
        return wh_errf(errbuf, WH_EMALFORMED, "ids is empty");
    if (json_array_size(n->ids) > WH_MAX_BATCH)
        return wh_errf(errbuf, WH_ETOO_LARGE, "%zu ids, more than %d", json_array_size(n->ids), WH_MAX_BATCH);
    err = read_array(root, "affected_fields", &n->affected_fields, errbuf);
    if (err == WH_OK)
        err = read_array(root, "affected_values", &n->affected_values, errbuf);
    return err;
}

/* README §14: no event id, so the key is what identifies one notification of one record. */
static void dedupe_key(const note_t *n, const char *id, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[6] = {WH_STRLIT("zoho/v1"), wh_str_c(n->channel_id), wh_str_c(n->server_time_text), n->module, n->operation,
                         wh_str_c(id)};
    wh_sig_dedupe_key(parts, 6, out);
}

/* Appends the unified name of field `name` (a JSON string) to `list`. */
static wh_err_t add_changed(const note_t *n, const json_t *name, json_t *list, size_t index, char *errbuf)
{
    char unified[WH_FIELDMAP_NAME_CAP];
    const json_t *v;
    json_t *scratch;
    size_t i;
    wh_err_t err;

    if (!json_is_string(name))
        return wh_errf(errbuf, WH_EMALFORMED, "affected_fields[%zu]: field names must be strings", index);
    scratch = wh_pjson_must(json_object());
    err = wh_fieldmap_put(&wh_fieldmap_zoho, n->object_type, wh_pjson_str(name), json_null(), scratch, unified);
    json_decref(scratch);
    if (err != WH_OK)
        return wh_errf(errbuf, WH_EMALFORMED, "affected_fields[%zu]: a field name is not usable", index);
    /* A field named twice (two entries for one record) is one changed field. */
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), unified) == 0)
            return WH_OK;
    }
    json_array_append_new(list, wh_pjson_must(json_string(unified)));
    return WH_OK;
}

/*
 * changedFields of record `id`, or NULL when affected_fields says nothing about it. Zoho's documented form is
 * per record ([{"<id>": ["Field", …]}]); a bare list of names ([“Field”, …]) is also read, as applying to
 * every id (UNCONFIRMED whether Zoho ever sends it; accepting it costs nothing).
 */
static wh_err_t changed_fields(const note_t *n, const char *id, json_t **out, char *errbuf)
{
    const json_t *entry, *names, *name;
    size_t i, j;
    wh_err_t err = WH_OK;

    *out = NULL;
    json_array_foreach(n->affected_fields, i, entry)
    {
        if (json_is_string(entry)) {
            if (*out == NULL)
                *out = wh_pjson_must(json_array());
            err = add_changed(n, entry, *out, i, errbuf);
        } else if (json_is_object(entry)) {
            names = json_object_get(entry, id);
            if (names == NULL)
                continue;
            if (!json_is_array(names))
                return wh_errf(errbuf, WH_EMALFORMED, "affected_fields[%zu]: must map a record id to an array of names", i);
            if (*out == NULL)
                *out = wh_pjson_must(json_array());
            json_array_foreach(names, j, name)
            {
                if (err == WH_OK)
                    err = add_changed(n, name, *out, i, errbuf);
            }
        } else {
            return wh_errf(errbuf, WH_EMALFORMED, "affected_fields[%zu]: must be an object", i);
        }
        if (err != WH_OK)
            return err;
    }
    return WH_OK;
}

/* extra.affectedValues for record `id` ({unified name: new value}), or NULL when Zoho sent none for it. */
static wh_err_t affected_values(const note_t *n, const char *id, json_t **out, char *errbuf)
{
    const json_t *entry, *values;
    json_t *v; /* a value of `values`, shared (incref) into the output */
    char record[WH_MAX_ID_LEN + 1], unified[WH_FIELDMAP_NAME_CAP];
    const char *key;
    size_t i, key_len;

    *out = NULL;
    json_array_foreach(n->affected_values, i, entry)
    {
        values = wh_pjson_member(entry, "values");
        if (!json_is_object(entry) || !id_text(wh_pjson_member(entry, "record_id"), record) ||
            (values != NULL && !json_is_object(values))) {
            json_decref(*out);
            *out = NULL;
            return wh_errf(errbuf, WH_EMALFORMED, "affected_values[%zu]: must be {\"record_id\", \"values\": {…}}", i);
        }
        if (strcmp(record, id) != 0 || values == NULL)
            continue;
        if (*out == NULL)
            *out = wh_pjson_must(json_object());
        json_object_keylen_foreach((json_t *)values, key, key_len, v)
        {
            if (wh_fieldmap_put(&wh_fieldmap_zoho, n->object_type, wh_str(key, key_len), json_incref(v), *out, unified) != WH_OK) {
                json_decref(*out);
                *out = NULL;
                return wh_errf(errbuf, WH_EMALFORMED, "affected_values[%zu].values holds an unusable field name", i);
            }
        }
    }
    return WH_OK;
}

static bool seen_before(const json_t *ids, size_t upto, const char *id)
{
    char other[WH_MAX_ID_LEN + 1];

    for (size_t k = 0; k != upto; ++k)
        if (id_text(json_array_get(ids, k), other) && strcmp(other, id) == 0)
            return true;
    return false;
}

static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_t *root = NULL, *values;
    const json_t *idv;
    note_t n;
    size_t i;
    wh_err_t err;

    (void)credentials; /* no per-connection mapping for Zoho yet */
    memset(&n, 0, sizeof(n));
    err = load_body(in, &root, errbuf);
    if (err == WH_OK)
        err = read_note(root, &n, errbuf);
    if (err != WH_OK)
        goto Exit;
    json_array_foreach(n.ids, i, idv)
    {
        char id[WH_MAX_ID_LEN + 1];
        wh_change_t *c;

        if (!id_text(idv, id)) {
            err = wh_errf(errbuf, WH_EMALFORMED, "ids[%zu] must be a non-empty string or a non-negative integer", i);
            goto Exit;
        }
        /* The same record twice in one notification is one change (and would share its dedupe key). */
        if (seen_before(n.ids, i, id))
            continue;
        c = wh_changes_push(out);
        if (c == NULL) {
            err = wh_errf(errbuf, WH_ETOO_LARGE, "more than %d ids", WH_MAX_BATCH);
            goto Exit;
        }
        c->object_type = n.object_type;
        c->action = n.action;
        c->thin = true;
        c->occurred_at_ms = n.server_time;
        memcpy(c->object_id, id, sizeof(c->object_id));
        dedupe_key(&n, id, c->dedupe_key);
        c->fields = wh_pjson_must(json_object());
        err = changed_fields(&n, id, &c->changed_fields, errbuf);
        if (err == WH_OK)
            err = affected_values(&n, id, &values, errbuf);
        if (err != WH_OK)
            goto Exit;
        if (values != NULL || n.generic) {
            c->extra = wh_pjson_must(json_object());
            if (values != NULL)
                json_object_set_new(c->extra, "affectedValues", values);
            if (n.generic)
                json_object_set_new(c->extra, "module", wh_pjson_must(json_stringn(n.module.base, n.module.len)));
        }
    }
Exit:
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_zoho = {
    .name = "zoho",
    .flags = 0,                         /* per-connection route only: each channel's notify_url names its connection */
    .content_type = "application/json", /* Zoho adds ";charset=UTF-8"; the gateway's check ignores parameters */
    .check_credentials = check_credentials,
    .handshake = NULL, /* Zoho has no handshake: enabling a channel sends nothing to notify_url (README §7.1) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* Zoho expects a 2xx (README §7.3, details UNCONFIRMED): the default 202 {"accepted":N} */
    .refusal = NULL, /* nothing says Zoho reads more than the status: the JSON error body */
};
