/*
 * Generic Standard Webhooks provider (design §3, `standard`; https://www.standardwebhooks.com).
 *
 * Any system that signs with the Standard Webhooks scheme can feed wharf on POST /webhooks/standard/{connectionId}:
 *   webhook-id         the message id (wharf's provider event id and dedupe key)
 *   webhook-timestamp  unix seconds, refused beyond ±5 min once the signature verifies (WH_ESTALE)
 *   webhook-signature  space-separated "v<n>,<base64>"; only v1 entries are tried, any one matching passes
 *   v1 = base64(HMAC-SHA256(base64-decode(secret without "whsec_"), id "." timestamp "." body))
 *
 * Body: {"type": "<objectType>.<action>", "timestamp": "<ISO 8601>", "data": {"id": "…", …unified fields}}.
 * credentials.typeMap maps the sender's own type names onto "<objectType>.<action>" first. The action must be a
 * unified action (anything else is WH_EMALFORMED). An object type outside the unified list is not refused: like
 * HubSpot's generic objects it flows as object type "object" with extra.objectType naming it, so the event still
 * reaches subscribers (the name cannot be kept as the object type itself: wh_change_t holds static names only).
 * fields = data minus "id", names taken as-is (the sender already speaks the unified vocabulary; a nested
 * "additional" object passes through unchanged).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "pjson.h"
#include "provider.h"
#include "sig.h"

#define SECRET_PREFIX "whsec_"
/* The spec's secrets are 24..64 random bytes; anything else is a configuration mistake. */
#define SECRET_MIN_BYTES 24
#define SECRET_MAX_BYTES 64
/* Longest "<objectType>.<action>" type name read, and most typeMap entries accepted. */
#define TYPE_NAME_MAX 128
#define TYPE_MAP_MAX 256
/* Longest object type name kept in extra.objectType. */
#define OBJECT_TYPE_MAX 64
#define GENERIC_OBJECT_TYPE "object"

/* Object type names: [a-z0-9_:-], 1..OBJECT_TYPE_MAX bytes (safe to echo in an errbuf and to put in a type). */
static bool plain_name(wh_str_t s)
{
    if (s.len == 0 || s.len > OBJECT_TYPE_MAX)
        return false;
    for (size_t i = 0; i != s.len; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return true;
}

/* A type name safe to echo in an errbuf: plain names joined by dots. */
static bool echoable(wh_str_t s)
{
    size_t start = 0;

    if (s.len > TYPE_NAME_MAX)
        return false;
    for (size_t i = 0; i <= s.len; ++i) {
        if (i == s.len || s.base[i] == '.') {
            if (!plain_name(wh_str(s.base + start, i - start)))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/*
 * Splits "<objectType>.<action>" at its last dot. *object_type is the static unified name, or NULL when the
 * name is well formed but not unified (*raw_type then holds it). False when it is not of that shape.
 */
static bool split_type(wh_str_t type, const char **object_type, wh_str_t *raw_type, const char **action)
{
    const char *dot = NULL;
    const wh_object_type_t *t;

    if (type.len == 0 || type.len > TYPE_NAME_MAX)
        return false;
    for (size_t i = 0; i != type.len; ++i)
        if (type.base[i] == '.')
            dot = type.base + i;
    if (dot == NULL)
        return false;
    *raw_type = wh_str(type.base, (size_t)(dot - type.base));
    *action = wh_action_find(wh_str(dot + 1, type.len - raw_type->len - 1));
    if (*action == NULL || !plain_name(*raw_type))
        return false;
    t = wh_object_type_find(*raw_type);
    *object_type = t != NULL ? t->name : NULL;
    return true;
}

/* The decoded secret into key (SECRET_MAX_BYTES + 3 bytes); -1 when it is not whsec_ + base64 of 24..64 bytes. */
static long decode_secret(wh_str_t secret, uint8_t *key)
{
    long n;

    if (secret.len < sizeof(SECRET_PREFIX) - 1 ||
        !wh_str_eq(wh_str(secret.base, sizeof(SECRET_PREFIX) - 1), WH_STRLIT(SECRET_PREFIX)))
        return -1;
    secret = wh_str(secret.base + sizeof(SECRET_PREFIX) - 1, secret.len - (sizeof(SECRET_PREFIX) - 1));
    if (secret.len > 4 * ((SECRET_MAX_BYTES + 2) / 3))
        return -1;
    n = wh_base64_decode(secret, key, SECRET_MAX_BYTES + 3);
    if (n < SECRET_MIN_BYTES || n > SECRET_MAX_BYTES)
        return -1;
    return n;
}

/* Credentials. */

static wh_err_t check_type_map(const json_t *map, char *errbuf)
{
    const char *key;
    const json_t *v;

    if (!json_is_object(map))
        return wh_errf(errbuf, WH_EINVAL, "credentials.typeMap: must be an object of \"<their type>\": \"<objectType>.<action>\"");
    if (json_object_size(map) > TYPE_MAP_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.typeMap: more than %d entries", TYPE_MAP_MAX);
    json_object_foreach((json_t *)map, key, v)
    {
        const char *object_type, *action;
        wh_str_t raw;
        if (key[0] == '\0' || strlen(key) > TYPE_NAME_MAX)
            return wh_errf(errbuf, WH_EINVAL, "credentials.typeMap: keys must be 1..%d bytes", TYPE_NAME_MAX);
        if (!json_is_string(v) || !split_type(wh_pjson_str(v), &object_type, &raw, &action))
            return wh_errf(errbuf, WH_EINVAL,
                           "credentials.typeMap: values must be \"<objectType>.<action>\" with a unified action (created, "
                           "updated, deleted, merged, restored, associated)");
    }
    return WH_OK;
}

/* Unknown keys are refused: credentials are write-only, so a misspelt key would otherwise go unnoticed. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *secret, *map;
    uint8_t key[SECRET_MAX_BYTES + 3];
    size_t known = 1;
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    secret = json_object_get(credentials, "secret");
    if (secret == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.secret: required");
    if (!json_is_string(secret) || decode_secret(wh_pjson_str(secret), key) < 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.secret: must be \"whsec_\" followed by the base64 of %d to %d bytes",
                       SECRET_MIN_BYTES, SECRET_MAX_BYTES);
    map = json_object_get(credentials, "typeMap");
    if (map != NULL) {
        ++known;
        err = check_type_map(map, errbuf);
        if (err != WH_OK)
            return err;
    }
    if (json_object_size(credentials) != known)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only secret and typeMap are allowed)");
    return WH_OK;
}

/* Verification. */

/*
 * The timestamp window is checked only once a signature verifies (like HubSpot v3): only authentic requests
 * learn that they are stale.
 */
static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t secret = wh_sig_get_credential(credentials, "secret");
    wh_str_t id, timestamp, signatures, parts[5];
    uint8_t key[SECRET_MAX_BYTES + 3], mac[WH_SHA256_LEN];
    long keylen;
    int64_t ts;
    bool matched = false;
    wh_err_t err;

    if (secret.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.secret missing");
    keylen = decode_secret(secret, key);
    if (keylen < 0)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.secret is not a whsec_ secret");
    if (!wh_sig_get_header(in, WH_STRLIT("webhook-id"), &id) ||
        !wh_sig_get_header(in, WH_STRLIT("webhook-timestamp"), &timestamp) ||
        !wh_sig_get_header(in, WH_STRLIT("webhook-signature"), &signatures))
        return wh_errf(errbuf, WH_ESIGNATURE, "webhook header longer than %d bytes", WH_MAX_HEADER_VALUE);
    if (id.base == NULL || id.len == 0 || id.len > WH_MAX_ID_LEN)
        return wh_errf(errbuf, WH_ESIGNATURE, "webhook-id missing or longer than %d bytes", WH_MAX_ID_LEN);
    if (timestamp.base == NULL || !wh_sig_parse_timestamp(timestamp, &ts))
        return wh_errf(errbuf, WH_ESIGNATURE, "webhook-timestamp missing or not a decimal number of seconds");
    if (signatures.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "webhook-signature missing");

    parts[0] = id;
    parts[1] = WH_STRLIT(".");
    parts[2] = timestamp; /* the header's bytes as sent */
    parts[3] = WH_STRLIT(".");
    parts[4] = in->body;
    wh_hmac_sha256(wh_str((const char *)key, (size_t)keylen), parts, 5, mac);
    memset(key, 0, sizeof(key)); /* not secret-critical: the key stays in credentials anyway */

    /* Every v1 entry is compared (no early exit), so timing does not tell which one matched. */
    for (size_t i = 0; i < signatures.len;) {
        size_t j = i;
        wh_str_t entry;
        while (j < signatures.len && signatures.base[j] != ' ')
            ++j;
        entry = wh_str(signatures.base + i, j - i);
        if (entry.len > 3 && memcmp(entry.base, "v1,", 3) == 0 &&
            wh_sig_match_base64(wh_str(entry.base + 3, entry.len - 3), mac, sizeof(mac)))
            matched = true;
        i = j + 1;
    }
    if (!matched)
        return wh_errf(errbuf, WH_ESIGNATURE, "no v1 entry of webhook-signature matches");
    err = wh_sig_check_window(ts, in->now_ms / 1000, WH_TIMESTAMP_TOLERANCE_MS / 1000);
    if (err != WH_OK)
        wh_errf(errbuf, err, "webhook-timestamp more than %d s from now", WH_TIMESTAMP_TOLERANCE_MS / 1000);
    return err;
}

/* Parsing. */

/* data.id: a non-empty string of at most WH_MAX_ID_LEN bytes without NUL, or an integer. */
static bool read_id(const json_t *v, char *out)
{
    wh_str_t s;

    if (json_is_integer(v)) {
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

/* The sender's type through credentials.typeMap (when it has an entry) into object type and action. */
static wh_err_t resolve_type(const json_t *type, const json_t *credentials, const char **object_type, wh_str_t *raw_type,
                             const char **action, char *errbuf)
{
    const json_t *map = json_object_get(credentials, "typeMap"), *mapped = NULL;
    wh_str_t name;

    if (!json_is_string(type) || json_string_length(type) == 0 || json_string_length(type) > TYPE_NAME_MAX ||
        memchr(json_string_value(type), '\0', json_string_length(type)) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "type must be a string of 1..%d bytes", TYPE_NAME_MAX);
    if (json_is_object(map))
        mapped = json_object_get(map, json_string_value(type));
    name = json_is_string(mapped) ? wh_pjson_str(mapped) : wh_pjson_str(type);
    if (!split_type(name, object_type, raw_type, action)) {
        if (echoable(wh_pjson_str(type)))
            return wh_errf(errbuf, WH_EMALFORMED,
                           "type \"%s\" is not \"<objectType>.<action>\" with a unified action and has no typeMap entry",
                           json_string_value(type));
        return wh_errf(errbuf, WH_EMALFORMED,
                       "type is not \"<objectType>.<action>\" with a unified action and has no typeMap entry");
    }
    return WH_OK;
}

/*
 * One message is one change. Parsed with JSON_ALLOW_NUL (a field value holding U+0000 is the sender's data);
 * duplicate keys are tolerated, the last one wins.
 */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root, *data, *v;
    const char *object_type = NULL, *action = NULL, *key;
    wh_str_t raw_type = WH_STR_NULL, id = WH_STR_NULL;
    char object_id[WH_MAX_ID_LEN + 1];
    int64_t occurred;
    wh_change_t *c;
    wh_err_t err = WH_OK;

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
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a JSON object {\"type\", \"timestamp\", \"data\"}");
        goto Exit;
    }
    if ((v = json_object_get(root, "type")) == NULL) {
        err = wh_errf(errbuf, WH_EMALFORMED, "type missing");
        goto Exit;
    }
    if ((err = resolve_type(v, credentials, &object_type, &raw_type, &action, errbuf)) != WH_OK)
        goto Exit;
    v = json_object_get(root, "timestamp");
    if (!json_is_string(v) || !wh_parse_iso8601(wh_pjson_str(v), &occurred)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "timestamp must be an ISO 8601 date-time");
        goto Exit;
    }
    data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "data must be an object");
        goto Exit;
    }
    if (!read_id(json_object_get(data, "id"), object_id)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "data.id must be an integer or a string of 1..%d bytes", WH_MAX_ID_LEN);
        goto Exit;
    }
    /* verify() has checked webhook-id on this request; parse still refuses rather than trusting that. */
    if (!wh_sig_get_header(in, WH_STRLIT("webhook-id"), &id) || id.base == NULL || id.len == 0 || id.len > WH_MAX_ID_LEN ||
        memchr(id.base, '\0', id.len) != NULL) {
        err = wh_errf(errbuf, WH_EMALFORMED, "webhook-id missing or longer than %d bytes", WH_MAX_ID_LEN);
        goto Exit;
    }
    v = json_object_get(data, "additional");
    if (v != NULL && !json_is_object(v)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "data.additional must be an object");
        goto Exit;
    }

    c = wh_changes_push(out);
    if (c == NULL) {
        err = wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
        goto Exit;
    }
    c->object_type = object_type != NULL ? object_type : GENERIC_OBJECT_TYPE;
    c->action = action;
    memcpy(c->object_id, object_id, sizeof(object_id));
    c->occurred_at_ms = occurred;
    memcpy(c->provider_event_id, id.base, id.len);
    c->provider_event_id[id.len] = '\0';
    {
        /* The spec makes webhook-id the idempotency key: it is the same on every redelivery of one message. */
        wh_str_t parts[2] = {WH_STRLIT("standard/v1"), id};
        wh_sig_dedupe_key(parts, 2, c->dedupe_key);
    }
    c->fields = wh_pjson_must(json_object());
    json_object_foreach(data, key, v)
    {
        if (strcmp(key, "id") != 0)
            json_object_set_new(c->fields, key, wh_pjson_must(json_deep_copy(v)));
    }
    /* A message with nothing but the id (a delete, or a sender that wants the receiver to fetch) is thin. */
    c->thin = json_object_size(c->fields) == 0 && strcmp(action, WH_ACTION_DELETED) != 0;
    if (object_type == NULL) {
        c->extra = wh_pjson_must(json_object());
        json_object_set_new(c->extra, "objectType", wh_pjson_must(json_stringn(raw_type.base, raw_type.len)));
    }
Exit:
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_standard = {
    .name = "standard",
    .flags = 0, /* per-connection route only: the secret is the connection's, and the body names no account */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Standard Webhooks defines no handshake */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* senders only look for a 2xx: the default 202 {"accepted":N} */
    .refusal = NULL, /* the JSON error body is fine: the spec defines no error format */
};
