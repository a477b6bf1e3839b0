/*
 * Copper webhooks (shared/providers/README.md §10; template in samples/copper/README.md).
 *
 * A Copper subscription (one record type, one event) posts to POST /webhooks/copper/{connectionId}. Copper
 * signs nothing: the subscription's `secret` object ({key: value, …}, chosen by whoever subscribes) is
 * echoed in every notification body. Credentials hold the same object: {"secret": {"<key>": "<value>", …}},
 * and every pair must come back with an equal value, compared in constant time, all pairs always compared.
 *
 * UNCONFIRMED (no verbatim notification was found): where the echo sits. The docs' template copies the
 * pairs to the top level of the body, the subscription API names the object `secret`; verification accepts
 * a pair found in the body's `secret` object or at its top level (either place proves knowledge of the
 * value), and parsing ignores both.
 *
 * Body: {"subscription_id", "event": "new|update|delete", "type", "ids": [...], "updated_attributes"?:
 * {"<field>": [old, new]}}: one change per id, all or nothing. new/delete are thin; update carries the new
 * values as fields and the old ones as previous. Copper never retries ("fired not more than once"), so the
 * dedupe key only absorbs a byte-identical re-post: (subscription_id, id, SHA-256 of the body).
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

extern const wh_fieldmap_t wh_fieldmap_copper;

/* Pairs per secret: Copper sets no documented limit; 16 is plenty for a shared secret and bounds verify's work. */
#define SECRET_PAIRS_MAX 16
/* Bounds of one secret key and value (admin-chosen; the bounds only stop absurd values at creation). */
#define SECRET_KEY_MAX 128
#define SECRET_VALUE_MAX 1024
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */

/* event -> action; new and delete carry ids only (thin). */
static const struct {
    const char *event;
    const char *action;
} events[] = {
    {"new", WH_ACTION_CREATED},
    {"update", WH_ACTION_UPDATED},
    {"delete", WH_ACTION_DELETED},
};

/*
 * Copper record type -> object type. project and activity_log have no unified type and keep Copper's name
 * (provider.h allows a provider's own type); activity_log's split into note/call/email by activity type is
 * UNCONFIRMED (README §10) and would need the activity fetched, so it is not attempted here.
 */
static const struct {
    const char *type;
    const char *object_type;
} types[] = {
    {"person", "contact"}, {"company", "account"}, {"opportunity", "deal"},          {"lead", "lead"},
    {"task", "task"},      {"project", "project"}, {"activity_log", "activity_log"},
};

/* Credentials. */

/*
 * Field by field, naming the offending key by position only (the keys are part of the secret's shape and
 * errbuf may be shown to whoever created the connection, but never logged with values).
 */
static wh_err_t check_secret(const json_t *secret, char *errbuf)
{
    const char *key;
    const json_t *value;
    size_t i = 0;

    if (secret == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.secret: required");
    if (!json_is_object(secret))
        return wh_errf(errbuf, WH_EINVAL, "credentials.secret: must be an object of string values");
    if (json_object_size(secret) == 0 || json_object_size(secret) > SECRET_PAIRS_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.secret: must hold 1 to %d key/value pairs", SECRET_PAIRS_MAX);
    /* json_object_foreach wants a non-const object; iteration does not modify it. */
    json_object_foreach((json_t *)secret, key, value)
    {
        size_t klen = strlen(key);
        if (klen == 0 || klen > SECRET_KEY_MAX)
            return wh_errf(errbuf, WH_EINVAL, "credentials.secret: key %zu must be 1 to %d bytes", i, SECRET_KEY_MAX);
        if (!json_is_string(value) || json_string_length(value) == 0)
            return wh_errf(errbuf, WH_EINVAL, "credentials.secret: value %zu must be a non-empty string", i);
        if (json_string_length(value) > SECRET_VALUE_MAX)
            return wh_errf(errbuf, WH_EINVAL, "credentials.secret: value %zu longer than %d bytes", i, SECRET_VALUE_MAX);
        ++i;
    }
    return WH_OK;
}

/* Unknown keys are refused: credentials are write-only, so a misspelt "secrets" must not pass unseen. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    err = check_secret(json_object_get(credentials, "secret"), errbuf);
    if (err != WH_OK)
        return err;
    if (json_object_size(credentials) != 1)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only secret is allowed)");
    return WH_OK;
}

/* Verification. */

/* True when `v` is a string equal to `want` (constant time over the bytes; lengths are not secret). */
static bool same(const json_t *v, const json_t *want)
{
    if (!json_is_string(v))
        return false;
    return wh_ct_equal(json_string_value(v), json_string_length(v), json_string_value(want), json_string_length(want));
}

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    const json_t *secret = json_is_object(credentials) ? json_object_get(credentials, "secret") : NULL, *want, *echo;
    json_t *root;
    const char *key;
    bool ok = true;

    if (check_secret(secret, NULL) != WH_OK)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.secret missing or invalid");
    /* Decoding depth is bounded by jansson (JSON_PARSER_MAX_DEPTH); parse() applies the house bound afterwards. */
    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return wh_errf(errbuf, WH_ESIGNATURE, "body is not a JSON object: no secret to check");
    }
    echo = wh_pjson_member(root, "secret");
    if (!json_is_object(echo))
        echo = NULL;
    /* Every pair, always: how many matched before the first mismatch is not observable. */
    json_object_foreach((json_t *)secret, key, want)
    {
        bool match = same(json_object_get(echo, key), want);
        match = same(json_object_get(root, key), want) || match;
        ok = ok && match;
    }
    json_decref(root);
    if (!ok)
        return wh_errf(errbuf, WH_ESIGNATURE, "secret in the body does not match");
    return WH_OK;
}

/* Parsing. */

/* An id as text into `out` (WH_MAX_ID_LEN + 1 bytes): a non-negative integer, or a 1..WH_MAX_ID_LEN byte string without NUL. */
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

/* What the whole notification contributes to each of its changes. */
typedef struct {
    const char *action;
    const char *object_type;
    char subscription_id[WH_MAX_ID_LEN + 1];
    uint8_t body_hash[WH_SHA256_LEN];
    json_t *fields, *previous, *changed; /* owned; update only (NULL otherwise) */
} notice_t;

static wh_err_t read_kind(const json_t *root, notice_t *n, char *errbuf)
{
    const json_t *v = wh_pjson_member(root, "event");
    wh_str_t s;

    if (!json_is_string(v))
        return wh_errf(errbuf, WH_EMALFORMED, "event missing or not a string");
    s = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(events) / sizeof(events[0]) && n->action == NULL; ++k)
        if (wh_str_eq(s, wh_str_c(events[k].event)))
            n->action = events[k].action;
    if (n->action == NULL)
        return wh_pjson_echoable(s)
                   ? wh_errf(errbuf, WH_EMALFORMED, "unknown event \"%.*s\" (new, update, delete)", (int)s.len, s.base)
                   : wh_errf(errbuf, WH_EMALFORMED, "unknown event");

    v = wh_pjson_member(root, "type");
    if (!json_is_string(v))
        return wh_errf(errbuf, WH_EMALFORMED, "type missing or not a string");
    s = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(types) / sizeof(types[0]) && n->object_type == NULL; ++k) {
        if (wh_str_eq(s, wh_str_c(types[k].type))) {
            const wh_object_type_t *t = wh_object_type_find(wh_str_c(types[k].object_type));
            n->object_type = t != NULL ? t->name : types[k].object_type;
        }
    }
    if (n->object_type == NULL)
        return wh_pjson_echoable(s) ? wh_errf(errbuf, WH_EMALFORMED, "unknown type \"%.*s\"", (int)s.len, s.base)
                                    : wh_errf(errbuf, WH_EMALFORMED, "unknown type");

    /* UNCONFIRMED as always present: absent, the key still holds the body hash. */
    v = wh_pjson_member(root, "subscription_id");
    if (v != NULL && !id_text(v, n->subscription_id))
        return wh_errf(errbuf, WH_EMALFORMED, "subscription_id must be a non-negative integer or a non-empty string");
    return WH_OK;
}

/* updated_attributes {"<field>": [old, new]} -> fields (new), previous (old), changedFields. */
static wh_err_t read_updates(const json_t *root, notice_t *n, char *errbuf)
{
    const json_t *attrs = wh_pjson_member(root, "updated_attributes"), *pair;
    const char *key;

    if (attrs == NULL)
        return WH_OK;
    if (!json_is_object(attrs))
        return wh_errf(errbuf, WH_EMALFORMED, "updated_attributes must be an object");
    n->fields = wh_pjson_must(json_object());
    n->previous = wh_pjson_must(json_object());
    n->changed = wh_pjson_must(json_array());
    json_object_foreach((json_t *)attrs, key, pair)
    {
        wh_str_t field = wh_str_c(key);
        char name[WH_FIELDMAP_NAME_CAP];

        if (!json_is_array(pair) || json_array_size(pair) != 2)
            return wh_pjson_echoable(field) ? wh_errf(errbuf, WH_EMALFORMED, "updated_attributes.%s must be [old, new]", key)
                                            : wh_errf(errbuf, WH_EMALFORMED, "updated_attributes: a value is not [old, new]");
        if (wh_fieldmap_put(&wh_fieldmap_copper, n->object_type, field, wh_pjson_must(json_deep_copy(json_array_get(pair, 1))),
                            n->fields, name) != WH_OK ||
            wh_fieldmap_put(&wh_fieldmap_copper, n->object_type, field, wh_pjson_must(json_deep_copy(json_array_get(pair, 0))),
                            n->previous, name) != WH_OK)
            return wh_errf(errbuf, WH_EMALFORMED, "updated_attributes: a field name is not usable");
        json_array_append_new(n->changed, wh_pjson_must(json_string(name)));
    }
    return WH_OK;
}

static void dedupe_key(const notice_t *n, const char *id, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[4] = {WH_STRLIT("copper/v1"), wh_str_c(n->subscription_id), wh_str_c(id),
                         wh_str((const char *)n->body_hash, sizeof(n->body_hash))};

    wh_sig_dedupe_key(parts, 4, out);
}

static wh_err_t read_notice(const wh_inbound_t *in, const json_t *root, notice_t *n, wh_changes_t *out, char *errbuf)
{
    const json_t *ids, *v;
    char id[WH_MAX_ID_LEN + 1];
    wh_err_t err;
    size_t i;

    if ((err = read_kind(root, n, errbuf)) != WH_OK)
        return err;
    ids = wh_pjson_member(root, "ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0)
        return wh_errf(errbuf, WH_EMALFORMED, "ids must be a non-empty array");
    if (json_array_size(ids) > WH_MAX_BATCH)
        return wh_errf(errbuf, WH_ETOO_LARGE, "batch of %zu ids, more than %d", json_array_size(ids), WH_MAX_BATCH);
    /* Only an update carries values; updated_attributes elsewhere would be Copper's bug and is ignored. */
    if (strcmp(n->action, WH_ACTION_UPDATED) == 0 && (err = read_updates(root, n, errbuf)) != WH_OK)
        return err;
    wh_sha256(&in->body, 1, n->body_hash);

    json_array_foreach(ids, i, v)
    {
        wh_change_t *c;

        if (!id_text(v, id))
            return wh_errf(errbuf, WH_EMALFORMED, "ids[%zu] must be a non-negative integer or a non-empty string", i);
        c = wh_changes_push(out);
        if (c == NULL)
            return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
        c->object_type = n->object_type;
        c->action = n->action;
        /* Copper documents no event time (README §14): the receive time is the best there is. */
        c->occurred_at_ms = in->now_ms;
        memcpy(c->object_id, id, sizeof(c->object_id));
        memcpy(c->provider_event_id, n->subscription_id, sizeof(c->provider_event_id));
        dedupe_key(n, id, c->dedupe_key);
        c->fields = n->fields != NULL ? wh_pjson_must(json_deep_copy(n->fields)) : wh_pjson_must(json_object());
        c->previous = n->previous != NULL ? wh_pjson_must(json_deep_copy(n->previous)) : NULL;
        c->changed_fields = n->changed != NULL ? wh_pjson_must(json_deep_copy(n->changed)) : NULL;
        c->thin = json_object_size(c->fields) == 0;
    }
    return WH_OK;
}

/*
 * Parsed with JSON_ALLOW_NUL: a field value holding U+0000 is the CRM's data; ids and names holding NUL are
 * refused where they are read. The echoed secret is never copied into a change.
 */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    notice_t n;
    json_error_t jerr;
    json_t *root;
    wh_err_t err;

    memset(&n, 0, sizeof(n));
    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(root, WH_MAX_JSON_DEPTH))
        err = wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
    else if (!json_is_object(root))
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a Copper notification object");
    else
        err = read_notice(in, root, &n, out, errbuf);
    json_decref(n.fields);
    json_decref(n.previous);
    json_decref(n.changed);
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_copper = {
    .name = "copper",
    .flags = 0, /* per-connection only: each Copper subscription targets its own connection's URL */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Copper sends no validation request when a subscription is created (README §10) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* any 2xx satisfies Copper: the default 202 {"accepted":N} */
    .refusal = NULL, /* Copper does not read error bodies (and never retries): the JSON error body is fine */
};
