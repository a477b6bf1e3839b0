/*
 * Close webhooks (shared/providers/README.md §6).
 *
 * One subscription per connection, one event per POST, on the per-connection route only. The subscription's
 * signature_key (64 hex chars) is stored as credentials.signatureKey.
 *
 * Signature (webhooks topic page; self-computed vector in tests/fixtures/providers/close/vectors.json):
 *   close-sig-hash = hex(HMAC-SHA256(key = hex-decode(signatureKey), close-sig-timestamp ‖ raw body))
 * close-sig-timestamp is unix seconds. Close documents no window; wharf applies WH_TIMESTAMP_TOLERANCE_MS in both
 * directions, checked only once the signature verifies (the timestamp is signed, so the window is a real replay
 * defence and WH_ESTALE is answered only to authentic requests).
 *
 * Payload: {"event": {id, object_type, object_id, action, date_created, date_updated, organization_id,
 * changed_fields, previous_data, data, meta, …}, "subscription_id": "whsub_…"}. Fat: data is the full object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "fieldmap.h"
#include "pjson.h"
#include "provider.h"
#include "sig.h"

extern const wh_fieldmap_t wh_fieldmap_close;

/* Close keys are 32 bytes (64 hex chars); the bound only stops absurd values at creation. */
#define SIGNATURE_KEY_MAX_BYTES 128
/* Longest object_type / action we read; every known one is far shorter. */
#define TYPE_NAME_MAX 64
/* Longest date text we read ("2019-01-15T12:47:39.873000+00:00" is 32). */
#define DATE_MAX 64
/* Object types outside the table are kept as Close names them, held in extra under this key (see resolve_type). */
#define EXTRA_TYPE_KEY "closeObjectType"

/*
 * Close object_type -> unified object type (README §6.5). "task" also covers its kinds ("task.lead",
 * "task.incoming_email", …), matched by prefix below. Anything else is kept as Close's own name.
 */
static const struct {
    const char *close;
    const char *object_type;
} types[] = {
    {"lead", "account"},       {"contact", "contact"},    {"opportunity", "deal"},     {"task", "task"},
    {"activity.note", "note"}, {"activity.call", "call"}, {"activity.email", "email"}, {"activity.meeting", "event"},
    {"user", "user"},
};

/* Close action -> unified action. */
static const struct {
    const char *close;
    const char *action;
} actions[] = {
    {"created", WH_ACTION_CREATED},
    {"updated", WH_ACTION_UPDATED},
    {"deleted", WH_ACTION_DELETED},
    {"merged", WH_ACTION_MERGED},
};

/* Credentials. */

/* signatureKey hex-decoded into key (SIGNATURE_KEY_MAX_BYTES); -1 when it is not non-empty hex of at most that many bytes. */
static long decode_key(wh_str_t hex, uint8_t *key)
{
    if (hex.base == NULL || hex.len == 0 || hex.len % 2 != 0 || hex.len > 2 * SIGNATURE_KEY_MAX_BYTES)
        return -1;
    return wh_hex_decode(hex, key, SIGNATURE_KEY_MAX_BYTES);
}

/* Unknown keys are refused: credentials are write-only, so a misspelt key would go unnoticed. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *key;
    uint8_t raw[SIGNATURE_KEY_MAX_BYTES];

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    key = json_object_get(credentials, "signatureKey");
    if (key == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signatureKey: required");
    if (!json_is_string(key) || json_string_length(key) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signatureKey: must be a non-empty string");
    if (json_string_length(key) > 2 * SIGNATURE_KEY_MAX_BYTES)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signatureKey: longer than %d hex characters", 2 * SIGNATURE_KEY_MAX_BYTES);
    if (decode_key(wh_pjson_str(key), raw) < 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signatureKey: must be hex (an even number of 0-9a-f characters)");
    if (json_object_size(credentials) != 1)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only signatureKey is allowed)");
    return WH_OK;
}

/* Verification. */

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t hex = wh_sig_get_credential(credentials, "signatureKey");
    uint8_t key[SIGNATURE_KEY_MAX_BYTES], mac[WH_SHA256_LEN];
    wh_str_t sig, timestamp, parts[2];
    long key_len = decode_key(hex, key);
    int64_t ts;
    wh_err_t err;

    if (hex.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.signatureKey missing");
    if (key_len < 0)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.signatureKey is not hex");
    if (!wh_sig_get_header(in, WH_STRLIT("close-sig-hash"), &sig) ||
        !wh_sig_get_header(in, WH_STRLIT("close-sig-timestamp"), &timestamp))
        return wh_errf(errbuf, WH_ESIGNATURE, "signature header longer than %d bytes", WH_MAX_HEADER_VALUE);
    if (sig.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "close-sig-hash missing");
    if (timestamp.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "close-sig-timestamp missing");
    if (!wh_sig_parse_timestamp(timestamp, &ts))
        return wh_errf(errbuf, WH_ESIGNATURE, "close-sig-timestamp is not a decimal number of seconds");

    parts[0] = timestamp; /* the header's bytes as sent, not a re-formatted number */
    parts[1] = in->body;
    wh_hmac_sha256(wh_str((const char *)key, (size_t)key_len), parts, 2, mac);
    if (!wh_sig_match_hex(sig, mac, sizeof(mac)))
        return wh_errf(errbuf, WH_ESIGNATURE, "close-sig-hash does not match");

    /* Seconds -> ms; a timestamp too large to convert is far outside any window. */
    if (ts > INT64_MAX / 1000)
        err = WH_ESTALE;
    else
        err = wh_sig_check_window(ts * 1000, in->now_ms, WH_TIMESTAMP_TOLERANCE_MS);
    if (err != WH_OK)
        return wh_errf(errbuf, err, "close-sig-timestamp more than %d s from now", WH_TIMESTAMP_TOLERANCE_MS / 1000);
    return WH_OK;
}

/* Parsing. */

/* A string id of 1..WH_MAX_ID_LEN bytes without NUL into `out`. Absent: "" and WH_OK unless `required`. */
static wh_err_t read_id(const json_t *ev, const char *key, bool required, char *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(ev, key);
    wh_str_t s;

    out[0] = '\0';
    if (v == NULL)
        return required ? wh_errf(errbuf, WH_EMALFORMED, "event.%s missing", key) : WH_OK;
    s = wh_pjson_str(v);
    if (!json_is_string(v) || s.len == 0 || s.len > WH_MAX_ID_LEN || memchr(s.base, '\0', s.len) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.%s must be a non-empty string of at most %d bytes", key, WH_MAX_ID_LEN);
    memcpy(out, s.base, s.len);
    out[s.len] = '\0';
    return WH_OK;
}

/*
 * A Close date into ms. Event dates come without an offset ("2019-01-15T12:48:23.395000"), object dates
 * with one ("…+00:00"). UNCONFIRMED: offset-less dates are UTC (Close's API serves UTC; every documented
 * example agrees), so "Z" is appended before parsing.
 */
static bool parse_date(wh_str_t s, int64_t *ms)
{
    char buf[DATE_MAX + 2];
    const char *t;

    if (s.len == 0 || s.len > DATE_MAX || memchr(s.base, '\0', s.len) != NULL)
        return false;
    if (wh_parse_iso8601(s, ms))
        return true;
    t = memchr(s.base, 'T', s.len);
    if (t == NULL || memchr(t, 'Z', s.len - (size_t)(t - s.base)) != NULL || memchr(t, '+', s.len - (size_t)(t - s.base)) != NULL ||
        memchr(t, '-', s.len - (size_t)(t - s.base)) != NULL)
        return false;
    memcpy(buf, s.base, s.len);
    buf[s.len] = 'Z';
    return wh_parse_iso8601(wh_str(buf, s.len + 1), ms);
}

/* object_type -> the static unified name, or NULL when Close's own name is kept. */
static const char *resolve_type(wh_str_t type)
{
    for (size_t k = 0; k != sizeof(types) / sizeof(types[0]); ++k) {
        wh_str_t name = wh_str_c(types[k].close);
        bool kind = wh_str_eq(name, WH_STRLIT("task")) && type.len > name.len && memcmp(type.base, "task.", 5) == 0;
        if (wh_str_eq(type, name) || kind)
            return wh_object_type_find(wh_str_c(types[k].object_type))->name;
    }
    return NULL;
}

/* A changed_fields name the way changedFields spells it: the unified name, else "additional.<name>". */
static wh_err_t changed_name(const char *object_type, const json_t *v, size_t i, json_t *out, char *errbuf)
{
    char name[WH_FIELDMAP_NAME_CAP];
    json_t *scratch = wh_pjson_must(json_object());
    wh_err_t err = WH_EINVAL;

    if (json_is_string(v) && json_string_length(v) <= WH_FIELDMAP_MAX_PROPERTY)
        err = wh_fieldmap_put(&wh_fieldmap_close, object_type, wh_pjson_str(v), json_null(), scratch, name);
    json_decref(scratch);
    if (err != WH_OK)
        return wh_errf(errbuf, WH_EMALFORMED, "event.changed_fields[%zu] must be a field name of at most %d bytes", i,
                       WH_FIELDMAP_MAX_PROPERTY);
    json_array_append_new(out, wh_pjson_must(json_string(name)));
    return WH_OK;
}

/* Every member of `src` through the field table into `dst` (unknown names under additional). */
static wh_err_t map_object(const char *object_type, const json_t *src, json_t *dst, const char *what, char *errbuf)
{
    const char *key;
    json_t *v;
    char name[WH_FIELDMAP_NAME_CAP];

    json_object_foreach((json_t *)src, key, v)
    {
        size_t len = strlen(key); /* jansson keys may not hold NUL when parsed without JSON_ALLOW_NUL in keys */
        if (wh_fieldmap_put(&wh_fieldmap_close, object_type, wh_str(key, len), json_incref(v), dst, name) != WH_OK)
            return wh_errf(errbuf, WH_EMALFORMED, "event.%s has a member name that is not usable as a field name", what);
    }
    return WH_OK;
}

/*
 * Close consolidates rapid changes into one event whose date_updated moves, so the key is event.id plus
 * date_updated as sent (README §14); a redelivery of the same consolidated event carries both unchanged.
 */
static void dedupe_key(const char *event_id, wh_str_t date_updated, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[3] = {WH_STRLIT("close/v1"), wh_str_c(event_id), date_updated};
    wh_sig_dedupe_key(parts, 3, out);
}

static wh_err_t parse_event(const json_t *ev, const json_t *subscription, wh_changes_t *out, char *errbuf)
{
    const json_t *v, *data, *previous, *changed;
    char event_id[WH_MAX_ID_LEN + 1], object_id[WH_MAX_ID_LEN + 1], account[WH_MAX_ID_LEN + 1];
    const char *object_type, *action = NULL;
    wh_str_t type, close_action, date_updated = WH_STRLIT("");
    int64_t occurred = 0;
    wh_change_t *c;
    json_t *extra = NULL;
    wh_err_t err;
    size_t i;

    if (!json_is_object(ev))
        return wh_errf(errbuf, WH_EMALFORMED, "event must be an object");
    err = read_id(ev, "id", true, event_id, errbuf);
    if (err == WH_OK)
        err = read_id(ev, "object_id", true, object_id, errbuf);
    if (err == WH_OK)
        err = read_id(ev, "organization_id", false, account, errbuf);
    if (err != WH_OK)
        return err;

    v = wh_pjson_member(ev, "object_type");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.object_type missing");
    type = wh_pjson_str(v);
    if (!json_is_string(v) || type.len == 0 || type.len > TYPE_NAME_MAX || memchr(type.base, '\0', type.len) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.object_type must be a non-empty string of at most %d bytes", TYPE_NAME_MAX);
    object_type = resolve_type(type);

    v = wh_pjson_member(ev, "action");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.action missing");
    close_action = wh_pjson_str(v);
    if (!json_is_string(v) || close_action.len == 0 || close_action.len > TYPE_NAME_MAX ||
        memchr(close_action.base, '\0', close_action.len) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.action must be a non-empty string of at most %d bytes", TYPE_NAME_MAX);
    for (size_t k = 0; k != sizeof(actions) / sizeof(actions[0]); ++k)
        if (wh_str_eq(close_action, wh_str_c(actions[k].close)))
            action = wh_action_find(wh_str_c(actions[k].action)); /* the canonical pointer (unified.c) */

    /* occurredAt: date_updated (moves on consolidation), else date_created. */
    v = wh_pjson_member(ev, "date_updated");
    if (v == NULL)
        v = wh_pjson_member(ev, "date_created");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.date_updated and event.date_created missing");
    if (!json_is_string(v) || !parse_date(wh_pjson_str(v), &occurred))
        return wh_errf(errbuf, WH_EMALFORMED, "event.date_updated/date_created must be an ISO 8601 date-time");
    if (wh_pjson_member(ev, "date_updated") != NULL)
        date_updated = wh_pjson_str(v);

    data = wh_pjson_member(ev, "data");
    previous = wh_pjson_member(ev, "previous_data");
    changed = wh_pjson_member(ev, "changed_fields");
    if (data != NULL && !json_is_object(data))
        return wh_errf(errbuf, WH_EMALFORMED, "event.data must be an object");
    if (previous != NULL && !json_is_object(previous))
        return wh_errf(errbuf, WH_EMALFORMED, "event.previous_data must be an object");
    if (changed != NULL && !json_is_array(changed))
        return wh_errf(errbuf, WH_EMALFORMED, "event.changed_fields must be an array");

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->fields = wh_pjson_must(json_object());

    /* A type outside the table keeps Close's own name: "close:<type>", the name as sent in details (unified.h). */
    if (object_type == NULL) {
        if (!wh_change_own_type(c, "close", EXTRA_TYPE_KEY, type))
            return wh_errf(errbuf, WH_EMALFORMED, "event.object_type is not UTF-8");
        extra = c->extra;
        object_type = c->object_type;
    }
    /*
     * Close also sends activity-specific actions ("completed", "sent", …; README §6.4). Refusing them would make
     * Close retry for 72 h and then pause the subscription, so they flow as "updated" with the action as sent
     * in extra.closeAction (UNCONFIRMED list: tolerant on purpose).
     */
    if (action == NULL) {
        if (extra == NULL)
            extra = c->extra = wh_pjson_must(json_object());
        json_object_set_new(extra, "closeAction", wh_pjson_must(json_stringn(close_action.base, close_action.len)));
        action = wh_action_find(WH_STRLIT(WH_ACTION_UPDATED));
    }
    c->object_type = object_type;
    c->action = action;
    c->occurred_at_ms = occurred;
    memcpy(c->object_id, object_id, sizeof(c->object_id));
    memcpy(c->account, account, sizeof(c->account));
    memcpy(c->provider_event_id, event_id, sizeof(c->provider_event_id));
    dedupe_key(event_id, date_updated, c->dedupe_key);
    /* Without data (a deletion may carry none; UNCONFIRMED) the event names the object only. */
    c->thin = data == NULL;

    if (data != NULL) {
        err = map_object(object_type, data, c->fields, "data", errbuf);
        if (err != WH_OK)
            return err;
    }
    if (previous != NULL) {
        c->previous = wh_pjson_must(json_object());
        err = map_object(object_type, previous, c->previous, "previous_data", errbuf);
        if (err != WH_OK)
            return err;
    }
    if (changed != NULL) {
        c->changed_fields = wh_pjson_must(json_array());
        json_array_foreach(changed, i, v)
        {
            err = changed_name(object_type, v, i, c->changed_fields, errbuf);
            if (err != WH_OK)
                return err;
        }
    }
    if (strcmp(action, WH_ACTION_MERGED) == 0) {
        /* Lead merges name both sides in meta (README §6.4, per our reading of the Event Log docs). */
        const json_t *meta = wh_pjson_member(ev, "meta");
        const json_t *source = json_is_object(meta) ? wh_pjson_member(meta, "merge_source_lead_id") : NULL;
        const json_t *dest = json_is_object(meta) ? wh_pjson_member(meta, "merge_destination_lead_id") : NULL;
        if (extra == NULL)
            extra = c->extra = wh_pjson_must(json_object());
        json_object_set_new(extra, "mergedIds", wh_pjson_must(json_array()));
        if (json_is_string(source))
            json_array_append_new(json_object_get(extra, "mergedIds"), wh_pjson_must(json_deep_copy(source)));
        if (json_is_string(dest))
            json_object_set_new(extra, "mergeDestinationId", wh_pjson_must(json_deep_copy(dest)));
    }
    if (json_is_string(subscription)) {
        if (extra == NULL)
            extra = c->extra = wh_pjson_must(json_object());
        json_object_set_new(extra, "subscriptionId", wh_pjson_must(json_deep_copy(subscription)));
    }
    return WH_OK;
}

/*
 * Parsed with JSON_ALLOW_NUL: a value holding U+0000 is Close's data; refusing it would fail the event for
 * 72 h of retries. Ids and names that hold NUL are refused where they are read.
 * `credentials` are not needed: Close events name their object types themselves.
 */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root;
    wh_err_t err;

    (void)credentials;
    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(root, WH_MAX_JSON_DEPTH))
        err = wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
    else if (!json_is_object(root) || wh_pjson_member(root, "event") == NULL)
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a Close webhook ({\"event\": {…}})");
    else
        err = parse_event(wh_pjson_member(root, "event"), wh_pjson_member(root, "subscription_id"), out, errbuf);
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_close = {
    .name = "close",
    .flags = 0, /* per-connection route only: each Close subscription has its own signature key and URL */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Close has no handshake: the first request is already an event (README §6) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* Close wants any 2xx: the default 202 {"accepted":N} */
    .refusal = NULL, /* Close reads only the status: the JSON error body is fine */
};
