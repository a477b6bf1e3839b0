/*
 * Attio webhooks (shared/providers/README.md §8).
 *
 * One webhook per connection, on the per-connection route only; its `secret` is stored as
 * credentials.signingSecret.
 *
 * Signature (guides/webhooks; self-computed vector in tests/fixtures/providers/attio/vectors.json):
 *   Attio-Signature (duplicated as X-Attio-Signature) = hex(HMAC-SHA256(key, raw body))
 * No timestamp is sent or signed, so there is no window: redeliveries are caught by the dedupe key alone.
 *
 * UNCONFIRMED key handling (README §8.2, samples/attio/README.md): the shared vectors.json states the key is the
 * secret string as-is (its expected_header), and carries the hex-decoded alternative only as
 * alt_if_hex_decoded_key. wharf keys with the string as-is first and, when the secret is hex, also accepts the
 * MAC keyed with its decoding: both readings are a 256-bit secret the sender must hold, so accepting either
 * costs no security, and a first real delivery cannot then be refused for our guess. Drop the second reading
 * once a capture settles it.
 *
 * Payload (thin): {"webhook_id", "events": [{"event_type": "record.created|updated|deleted|merged",
 * "id": {workspace_id, object_id, record_id, attribute_id?}, "actor": {…}, duplicate_*?}]}.
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

/* Attio secrets are 64 hex chars; the bound only stops absurd values at creation. */
#define SIGNING_SECRET_MAX 256
/* Bounds on credentials.objectMap. */
#define OBJECT_MAP_MAX 256
/* Longest event_type we read. */
#define TYPE_NAME_MAX 64
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */
/* Prefix of the object type an unmapped Attio object keeps: "attio:<object_id>". */

/* event_type -> unified action. Attio's other event families (note.*, task.*, list-entry.*) are not record changes. */
static const struct {
    const char *type;
    const char *action;
} actions[] = {
    {"record.created", WH_ACTION_CREATED},
    {"record.updated", WH_ACTION_UPDATED},
    {"record.deleted", WH_ACTION_DELETED},
    {"record.merged", WH_ACTION_MERGED},
};

static bool plain_id(wh_str_t s)
{
    return s.base != NULL && s.len != 0 && s.len <= WH_MAX_ID_LEN && memchr(s.base, '\0', s.len) == NULL;
}

/* Credentials. */

/* credentials.objectMap: {"<object id or api slug>": "<unified object type>"}, optional. */
static wh_err_t check_object_map(const json_t *map, char *errbuf)
{
    const char *key;
    json_t *v;

    if (!json_is_object(map))
        return wh_errf(errbuf, WH_EINVAL, "credentials.objectMap: must be an object of \"<object id or slug>\": \"<object type>\"");
    if (json_object_size(map) > OBJECT_MAP_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.objectMap: more than %d entries", OBJECT_MAP_MAX);
    json_object_foreach((json_t *)map, key, v)
    {
        wh_str_t k = wh_str_c(key);
        if (!plain_id(k))
            return wh_errf(errbuf, WH_EINVAL, "credentials.objectMap: keys must be 1..%d bytes", WH_MAX_ID_LEN);
        if (!json_is_string(v) || wh_object_type_find(wh_pjson_str(v)) == NULL) {
            if (wh_pjson_echoable(k))
                return wh_errf(errbuf, WH_EINVAL, "credentials.objectMap.%s: must be a unified object type (\"contact\", …)", key);
            return wh_errf(errbuf, WH_EINVAL, "credentials.objectMap: values must be unified object types (\"contact\", …)");
        }
    }
    return WH_OK;
}

/* Unknown keys are refused: credentials are write-only, so a misspelt key would go unnoticed. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *secret, *map;
    size_t known = 1;
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    secret = json_object_get(credentials, "signingSecret");
    if (secret == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signingSecret: required");
    if (!json_is_string(secret) || json_string_length(secret) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signingSecret: must be a non-empty string");
    if (json_string_length(secret) > SIGNING_SECRET_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signingSecret: longer than %d bytes", SIGNING_SECRET_MAX);
    map = json_object_get(credentials, "objectMap");
    if (map != NULL) {
        ++known;
        err = check_object_map(map, errbuf);
        if (err != WH_OK)
            return err;
    }
    if (json_object_size(credentials) != known)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only signingSecret and objectMap are allowed)");
    return WH_OK;
}

/* Verification. */

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t secret = wh_sig_get_credential(credentials, "signingSecret");
    uint8_t mac[WH_SHA256_LEN], key[SIGNING_SECRET_MAX / 2];
    wh_str_t sig, legacy;
    bool ok;
    long key_len = -1;

    if (secret.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.signingSecret missing");
    if (!wh_sig_get_header(in, WH_STRLIT("attio-signature"), &sig) ||
        !wh_sig_get_header(in, WH_STRLIT("x-attio-signature"), &legacy))
        return wh_errf(errbuf, WH_ESIGNATURE, "signature header longer than %d bytes", WH_MAX_HEADER_VALUE);
    /* Attio sends both with the same value; Attio-Signature decides when present, the legacy name otherwise. */
    if (sig.base == NULL)
        sig = legacy;
    if (sig.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "no Attio-Signature or X-Attio-Signature header");

    wh_hmac_sha256(secret, &in->body, 1, mac);
    ok = wh_sig_match_hex(sig, mac, sizeof(mac));
    /* UNCONFIRMED second reading (see the top of this file): the secret hex-decoded. */
    if (secret.len % 2 == 0 && secret.len <= 2 * sizeof(key))
        key_len = wh_hex_decode(secret, key, sizeof(key));
    if (!ok && key_len > 0) {
        wh_hmac_sha256(wh_str((const char *)key, (size_t)key_len), &in->body, 1, mac);
        ok = wh_sig_match_hex(sig, mac, sizeof(mac));
    }
    if (!ok)
        return wh_errf(errbuf, WH_ESIGNATURE, "Attio-Signature does not match");
    return WH_OK;
}

/* Parsing. */

/* A string id (1..WH_MAX_ID_LEN bytes, no NUL) of `o` into `out`. Absent: "" and WH_OK unless `required`. */
static wh_err_t read_id(const json_t *o, size_t index, const char *where, const char *key, bool required, char *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(o, key);

    out[0] = '\0';
    if (v == NULL)
        return required ? wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s%s missing", index, where, key) : WH_OK;
    if (!json_is_string(v) || !plain_id(wh_pjson_str(v)))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s%s must be a non-empty string of at most %d bytes", index, where, key,
                       WH_MAX_ID_LEN);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return WH_OK;
}

typedef struct {
    size_t index;
    wh_str_t type;
    const char *action;
    char workspace_id[WH_MAX_ID_LEN + 1];
    char object_id[WH_MAX_ID_LEN + 1];
    char record_id[WH_MAX_ID_LEN + 1];
    char attribute_id[WH_MAX_ID_LEN + 1];
    char duplicate_record_id[WH_MAX_ID_LEN + 1];
    char duplicate_object_id[WH_MAX_ID_LEN + 1];
} event_t;

static wh_err_t read_event(const json_t *ev, event_t *e, char *errbuf)
{
    const json_t *v, *id;
    wh_err_t err;

    if (!json_is_object(ev))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: not an object", e->index);
    v = wh_pjson_member(ev, "event_type");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: event_type missing", e->index);
    if (!json_is_string(v))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: event_type must be a string", e->index);
    e->type = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(actions) / sizeof(actions[0]); ++k)
        if (wh_str_eq(e->type, wh_str_c(actions[k].type)))
            e->action = wh_action_find(wh_str_c(actions[k].action)); /* the canonical pointer (unified.c) */
    if (e->action == NULL) {
        if (wh_pjson_echoable(e->type))
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: unsupported event_type \"%.*s\" (record.* only)", e->index,
                           (int)e->type.len, e->type.base);
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: unsupported event_type (record.* only)", e->index);
    }
    id = wh_pjson_member(ev, "id");
    if (id == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: id missing", e->index);
    if (!json_is_object(id))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: id must be an object", e->index);
    err = read_id(id, e->index, "id.", "workspace_id", true, e->workspace_id, errbuf);
    if (err == WH_OK)
        err = read_id(id, e->index, "id.", "object_id", true, e->object_id, errbuf);
    if (err == WH_OK)
        err = read_id(id, e->index, "id.", "record_id", true, e->record_id, errbuf);
    if (err == WH_OK)
        err = read_id(id, e->index, "id.", "attribute_id", false, e->attribute_id, errbuf);
    if (err == WH_OK)
        err = read_id(ev, e->index, "", "duplicate_record_id", false, e->duplicate_record_id, errbuf);
    if (err == WH_OK)
        err = read_id(ev, e->index, "", "duplicate_object_id", false, e->duplicate_object_id, errbuf);
    return err;
}

/* The unified type credentials.objectMap gives the object (by id), or NULL. */
static const char *mapped_type(const json_t *credentials, const char *object_id)
{
    const json_t *map = json_is_object(credentials) ? json_object_get(credentials, "objectMap") : NULL;
    const json_t *v = json_is_object(map) ? json_object_get(map, object_id) : NULL;
    const wh_object_type_t *t = json_is_string(v) ? wh_object_type_find(wh_pjson_str(v)) : NULL;

    return t != NULL ? t->name : NULL;
}

/*
 * The Idempotency-Key header stays the same across Attio's retries of one delivery (README §8.2), so it keys
 * the delivery; the event index tells apart several events of one delivery. Without the header the key hashes
 * what identifies the event: webhook, index, type and ids (a redelivery sends the same body).
 */
static void dedupe_key(wh_str_t idempotency, wh_str_t webhook_id, const event_t *e, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    char index[24];
    wh_str_t parts[WH_SIG_MAX_KEY_PARTS];
    size_t n = 0;

    snprintf(index, sizeof(index), "%zu", e->index);
    if (idempotency.base != NULL) {
        parts[n++] = WH_STRLIT("attio/v1/idempotency-key");
        parts[n++] = idempotency;
        parts[n++] = wh_str_c(index);
    } else {
        parts[n++] = WH_STRLIT("attio/v1/body");
        parts[n++] = webhook_id;
        parts[n++] = wh_str_c(index);
        parts[n++] = e->type;
        parts[n++] = wh_str_c(e->workspace_id);
        parts[n++] = wh_str_c(e->object_id);
        parts[n++] = wh_str_c(e->record_id);
        parts[n++] = wh_str_c(e->attribute_id);
        parts[n++] = wh_str_c(e->duplicate_record_id);
    }
    wh_sig_dedupe_key(parts, n, out);
}

static wh_err_t parse_event(const wh_inbound_t *in, const json_t *credentials, const json_t *ev, size_t index, wh_str_t webhook_id,
                            wh_str_t idempotency, wh_changes_t *out, char *errbuf)
{
    const json_t *actor;
    const char *object_type;
    event_t e;
    wh_change_t *c;
    json_t *extra;
    wh_err_t err;

    memset(&e, 0, sizeof(e));
    e.index = index;
    err = read_event(ev, &e, errbuf);
    if (err != WH_OK)
        return err;

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->fields = wh_pjson_must(json_object());
    extra = c->extra = wh_pjson_must(json_object());
    json_object_set_new(extra, "objectId", wh_pjson_must(json_string(e.object_id)));

    /*
     * Attio object ids are opaque UUIDs. credentials.objectMap names the unified type; otherwise the object keeps
     * its own name, "attio:<object_id>" (unified.h).
     */
    if ((object_type = mapped_type(credentials, e.object_id)) != NULL)
        c->object_type = object_type;
    else if (!wh_change_own_type(c, "attio", "objectId", wh_str_c(e.object_id))) /* details.objectId: as sent */
        return wh_errf(errbuf, WH_EMALFORMED, "object id is not UTF-8");
    c->action = e.action;
    c->thin = true; /* ids only: a consumer fetches the record for its fields */
    /* The body carries no time at all (README §8.4): the receive time is the best occurredAt there is. */
    c->occurred_at_ms = in->now_ms;
    memcpy(c->object_id, e.record_id, sizeof(c->object_id));
    memcpy(c->account, e.workspace_id, sizeof(c->account));
    if (plain_id(idempotency))
        memcpy(c->provider_event_id, idempotency.base, idempotency.len);
    dedupe_key(idempotency, webhook_id, &e, c->dedupe_key);

    if (e.attribute_id[0] != '\0')
        json_object_set_new(extra, "attributeId", wh_pjson_must(json_string(e.attribute_id)));
    if (strcmp(e.action, WH_ACTION_MERGED) == 0) {
        /*
         * Two versions of Attio's docs disagree on what record_id names after a merge (samples/attio/README.md);
         * both agree duplicate_record_id is gone: it is listed as merged away from record_id.
         */
        json_t *ids = wh_pjson_must(json_array());
        if (e.duplicate_record_id[0] != '\0')
            json_array_append_new(ids, wh_pjson_must(json_string(e.duplicate_record_id)));
        json_object_set_new(extra, "mergedIds", ids);
        if (e.duplicate_object_id[0] != '\0')
            json_object_set_new(extra, "duplicateObjectId", wh_pjson_must(json_string(e.duplicate_object_id)));
    }
    actor = wh_pjson_member(ev, "actor");
    if (json_is_object(actor)) {
        const json_t *type = wh_pjson_member(actor, "type"), *id = wh_pjson_member(actor, "id");
        json_t *copy = wh_pjson_must(json_object());
        if (json_is_string(type) && plain_id(wh_pjson_str(type)))
            json_object_set_new(copy, "type", wh_pjson_must(json_deep_copy(type)));
        if (json_is_string(id) && plain_id(wh_pjson_str(id)))
            json_object_set_new(copy, "id", wh_pjson_must(json_deep_copy(id)));
        json_object_set_new(extra, "actor", copy);
    }
    return WH_OK;
}

/* Parsed with JSON_ALLOW_NUL like every provider; ids holding NUL are refused where they are read. */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root;
    const json_t *events, *webhook, *ev;
    wh_str_t idempotency;
    wh_err_t err = WH_OK;
    size_t i;

    /* An Idempotency-Key longer than a header may be is ignored: the body-derived key takes over. */
    if (!wh_sig_get_header(in, WH_STRLIT("idempotency-key"), &idempotency) || idempotency.len == 0)
        idempotency = WH_STR_NULL;
    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(root, WH_MAX_JSON_DEPTH)) {
        err = wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        goto Exit;
    }
    if (!json_is_object(root)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not an Attio webhook ({\"webhook_id\", \"events\": […]})");
        goto Exit;
    }
    webhook = wh_pjson_member(root, "webhook_id");
    if (webhook == NULL) {
        err = wh_errf(errbuf, WH_EMALFORMED, "webhook_id missing");
        goto Exit;
    }
    if (!json_is_string(webhook) || !plain_id(wh_pjson_str(webhook))) {
        err = wh_errf(errbuf, WH_EMALFORMED, "webhook_id must be a non-empty string of at most %d bytes", WH_MAX_ID_LEN);
        goto Exit;
    }
    events = wh_pjson_member(root, "events");
    if (events == NULL || !json_is_array(events)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "events must be an array");
        goto Exit;
    }
    if (json_array_size(events) == 0) {
        err = wh_errf(errbuf, WH_EMALFORMED, "empty events array");
        goto Exit;
    }
    if (json_array_size(events) > WH_MAX_BATCH) {
        err = wh_errf(errbuf, WH_ETOO_LARGE, "batch of %zu events, more than %d", json_array_size(events), WH_MAX_BATCH);
        goto Exit;
    }
    json_array_foreach(events, i, ev)
    {
        err = parse_event(in, credentials, ev, i, wh_pjson_str(webhook), idempotency, out, errbuf);
        if (err != WH_OK)
            goto Exit;
    }
Exit:
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_attio = {
    .name = "attio",
    .flags = 0, /* per-connection route only: each Attio webhook has its own secret and URL */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Attio has no handshake: the first request is already a delivery (README §8) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* Attio wants any 2xx: the default 202 {"accepted":N} */
    .refusal = NULL, /* Attio reads only the status: the JSON error body is fine */
};
