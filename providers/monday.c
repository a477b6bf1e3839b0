/*
 * monday.com board webhooks (shared/providers/README.md §12), per-connection route POST /webhooks/monday/{connectionId}.
 *
 * Handshake: when a webhook URL is saved monday POSTs {"challenge": "…"} and needs 200 with the identical JSON.
 * The handshake slot answers it before any connection lookup, with or without an Authorization header: the
 * slot sees no credentials, whether monday signs the challenge is not documented, and echoing a value the
 * caller sent reveals nothing and touches no queue. Refusing it would make the URL impossible to save.
 *
 * Events carry `Authorization: <JWT>` (raw, no "Bearer "; a "Bearer " prefix is tolerated) signed with the
 * app's Signing Secret. The algorithm is UNCONFIRMED (inferred HS256: a shared secret and jsonwebtoken's default),
 * so the header's alg is pinned to HS256 and anything else ("none", RS256, …) is refused. `exp`, when present,
 * must not be past (WH_ESTALE, checked after the signature). `aud`, when present, must equal the URL monday
 * called (in->url: WHARF_PUBLIC_URL + path), as monday's integration-authorization doc says to check.
 *
 * Body {"event": {type, pulseId, boardId, columnId, value, previousValue, triggerTime, triggerUuid, …}}.
 * objectType = credentials.boardMap[boardId] (a unified type), else "monday:item". Column ids are not unified
 * names, so (design §4) a column's value goes under fields.additional.<columnId>, except the item name
 * (columnId "name", pulseName) which is the unified `name`.
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

/* monday signing secrets are short random strings; the bound only stops absurd values at creation. */
#define SIGNING_SECRET_MAX 256
/* boardMap: at most this many boards per connection; board ids are decimal, at most 20 digits. */
#define BOARD_MAP_MAX 256
#define BOARD_ID_MAX 20
/* Longest event.type read; every known one is far shorter. */
#define TYPE_NAME_MAX 64
/* A JWT part decoded: the header and the claims are small JSON objects. */
#define JWT_PART_MAX 2048
#define DEFAULT_OBJECT_TYPE "monday:item"
/* Largest body tried as a challenge (monday's is ~70 bytes). */
#define CHALLENGE_BODY_MAX 1024

/*
 * event.type -> unified action. create_pulse and update_column_value are in monday's samples; the others are
 * UNCONFIRMED body names (README §12: no verbatim delete/archive/restore/rename body was retrieved).
 */
static const struct {
    const char *type;
    const char *action;
    bool column; /* carries columnId/value/previousValue */
} actions[] = {
    {"create_pulse", WH_ACTION_CREATED, false},  {"update_column_value", WH_ACTION_UPDATED, true},
    {"update_name", WH_ACTION_UPDATED, true},    {"delete_pulse", WH_ACTION_DELETED, false},
    {"archive_pulse", WH_ACTION_DELETED, false}, {"restore_pulse", WH_ACTION_RESTORED, false},
};

/* No monday column maps through a table: wh_fieldmap_put then files every column under additional. */
static const wh_fieldmap_t no_columns = {NULL, 0};

static bool all_digits(wh_str_t s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i != s.len; ++i)
        if (s.base[i] < '0' || s.base[i] > '9')
            return false;
    return true;
}

/* Credentials. */

static wh_err_t check_board_map(const json_t *map, char *errbuf)
{
    const char *key;
    const json_t *v;

    if (!json_is_object(map))
        return wh_errf(errbuf, WH_EINVAL, "credentials.boardMap: must be an object of \"<boardId>\": \"<objectType>\"");
    if (json_object_size(map) > BOARD_MAP_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.boardMap: more than %d boards", BOARD_MAP_MAX);
    json_object_foreach((json_t *)map, key, v)
    {
        if (!all_digits(wh_str_c(key), BOARD_ID_MAX))
            return wh_errf(errbuf, WH_EINVAL, "credentials.boardMap: keys must be board ids (1..%d digits)", BOARD_ID_MAX);
        if (!json_is_string(v) || wh_object_type_find(wh_pjson_str(v)) == NULL)
            return wh_errf(errbuf, WH_EINVAL, "credentials.boardMap[\"%s\"]: must be a unified object type (contact, deal, …)",
                           key);
    }
    return WH_OK;
}

/* Unknown keys are refused: credentials are write-only, so a misspelt key would otherwise go unnoticed. */
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
    map = json_object_get(credentials, "boardMap");
    if (map != NULL) {
        ++known;
        err = check_board_map(map, errbuf);
        if (err != WH_OK)
            return err;
    }
    if (json_object_size(credentials) != known)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only signingSecret and boardMap are allowed)");
    return WH_OK;
}

/* Handshake. */

/* A body that is a JSON object whose only member is "challenge" (any JSON value) is the URL verification. */
static bool handshake(const wh_inbound_t *in, wh_reply_t *reply)
{
    json_t *root, *echo;
    const json_t *challenge;
    char *body;

    /* A challenge is tiny: larger bodies are events and skip the extra parse. */
    if (in->body.len == 0 || in->body.len > CHALLENGE_BODY_MAX)
        return false;
    root = json_loadb(in->body.base, in->body.len, JSON_ALLOW_NUL, NULL);
    if (root == NULL)
        return false;
    challenge = json_object_get(root, "challenge");
    if (challenge == NULL || json_object_size(root) != 1) {
        json_decref(root);
        return false;
    }
    echo = wh_pjson_must(json_pack("{s:O}", "challenge", challenge));
    body = json_dumps(echo, JSON_COMPACT | JSON_ENCODE_ANY);
    if (body == NULL) {
        fprintf(stderr, "fatal: out of memory answering a monday challenge\n");
        abort();
    }
    json_decref(echo);
    json_decref(root);
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = body;
    reply->body_len = strlen(body);
    return true;
}

/* Verification. */

/* base64url without padding -> bytes (out: cap bytes); -1 on anything else. Strict: '+', '/', '=' are refused. */
static long base64url_decode(wh_str_t in, uint8_t *out, size_t cap)
{
    char buf[4 * ((JWT_PART_MAX + 2) / 3) + 4];
    size_t n = 0;

    if (in.len == 0 || in.len % 4 == 1 || in.len > sizeof(buf) - 4)
        return -1;
    for (size_t i = 0; i != in.len; ++i) {
        char c = in.base[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return -1;
        buf[n++] = c;
    }
    while (n % 4 != 0)
        buf[n++] = '=';
    if (cap < 3 * (n / 4))
        return -1;
    return wh_base64_decode(wh_str(buf, n), out, cap);
}

/* A JWT part as a JSON object (owned), or NULL. */
static json_t *decode_part(wh_str_t part)
{
    uint8_t raw[JWT_PART_MAX + 3];
    long n = base64url_decode(part, raw, sizeof(raw));
    json_t *v;

    if (n < 0)
        return NULL;
    v = json_loadb((const char *)raw, (size_t)n, 0, NULL);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static bool aud_matches(const json_t *aud, wh_str_t url)
{
    const json_t *v;
    size_t i;

    if (json_is_string(aud))
        return wh_str_eq(wh_pjson_str(aud), url);
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && wh_str_eq(wh_pjson_str(v), url))
            return true;
    }
    return false;
}

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t secret = wh_sig_get_credential(credentials, "signingSecret");
    wh_str_t token, header, payload, signature, signed_part;
    uint8_t mac[WH_SHA256_LEN], got[WH_SHA256_LEN + 3];
    const char *dot1, *dot2;
    const json_t *alg, *exp, *aud;
    json_t *head = NULL, *claims = NULL;
    long n;
    wh_err_t err = WH_OK;

    if (secret.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.signingSecret missing");
    if (!wh_sig_get_header(in, WH_STRLIT("authorization"), &token))
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization longer than %d bytes", WH_MAX_HEADER_VALUE);
    if (token.base == NULL || token.len == 0)
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization (monday JWT) missing");
    if (token.len > 7 && wh_str_ieq(wh_str(token.base, 7), WH_STRLIT("Bearer ")))
        token = wh_str(token.base + 7, token.len - 7);

    dot1 = memchr(token.base, '.', token.len);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', token.len - (size_t)(dot1 + 1 - token.base)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', token.len - (size_t)(dot2 + 1 - token.base)) != NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "Authorization is not a JWT (header.payload.signature)");
    header = wh_str(token.base, (size_t)(dot1 - token.base));
    payload = wh_str(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    signature = wh_str(dot2 + 1, token.len - (size_t)(dot2 + 1 - token.base));
    signed_part = wh_str(token.base, (size_t)(dot2 - token.base));

    /* The alg is pinned before any MAC is computed: a token naming another algorithm is never tried. */
    head = decode_part(header);
    alg = json_object_get(head, "alg");
    if (head == NULL || !json_is_string(alg) || !wh_str_eq(wh_pjson_str(alg), WH_STRLIT("HS256"))) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "JWT header is not {\"alg\": \"HS256\", …}");
        goto Exit;
    }
    wh_hmac_sha256(secret, &signed_part, 1, mac);
    n = base64url_decode(signature, got, sizeof(got));
    if (n < 0 || !wh_ct_equal(got, (size_t)n, mac, sizeof(mac))) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "JWT signature does not match");
        goto Exit;
    }
    claims = decode_part(payload);
    if (claims == NULL) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "JWT payload is not a JSON object");
        goto Exit;
    }
    aud = wh_pjson_member(claims, "aud");
    if (aud != NULL && !aud_matches(aud, in->url)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "JWT aud is not this webhook's URL");
        goto Exit;
    }
    /* exp is NumericDate seconds (RFC 7519: may be fractional); no leeway, as jsonwebtoken's default. */
    exp = wh_pjson_member(claims, "exp");
    if (exp != NULL) {
        if (!json_is_number(exp)) {
            err = wh_errf(errbuf, WH_ESIGNATURE, "JWT exp is not a number");
            goto Exit;
        }
        if (json_number_value(exp) * 1000.0 <= (double)in->now_ms) {
            err = wh_errf(errbuf, WH_ESTALE, "JWT expired (exp)");
            goto Exit;
        }
    }
Exit:
    json_decref(head);
    json_decref(claims);
    return err;
}

/* Parsing. */

/* A numeric id (pulseId, boardId): a non-negative integer or a string of digits, as text into out. */
static bool numeric_id(const json_t *v, char *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, WH_MAX_ID_LEN + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    if (!json_is_string(v) || !all_digits(wh_pjson_str(v), WH_MAX_ID_LEN))
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* occurredAt: triggerTime (ISO 8601), else changedAt (unix seconds, fractional). */
static bool occurred_at(const json_t *ev, int64_t *ms)
{
    const json_t *v = wh_pjson_member(ev, "triggerTime");

    if (v != NULL)
        return json_is_string(v) && wh_parse_iso8601(wh_pjson_str(v), ms);
    v = wh_pjson_member(ev, "changedAt");
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e11)
        return false;
    *ms = (int64_t)(json_number_value(v) * 1000.0);
    return true;
}

/* The boardMap entry for this board (static unified name), else the generic monday item. */
static const char *object_type_for(const json_t *credentials, const char *board_id)
{
    const json_t *v = json_object_get(json_object_get(credentials, "boardMap"), board_id);
    const wh_object_type_t *t = json_is_string(v) ? wh_object_type_find(wh_pjson_str(v)) : NULL;

    return t != NULL ? t->name : DEFAULT_OBJECT_TYPE;
}

/* fields / changedFields / previous for a column event: the item name is `name`, other columns additional.<id>. */
static wh_err_t column_change(const json_t *ev, wh_change_t *c, char *errbuf)
{
    const json_t *column = wh_pjson_member(ev, "columnId"), *value = wh_pjson_member(ev, "value"),
                 *prev = wh_pjson_member(ev, "previousValue");
    wh_str_t id = json_is_string(column) ? wh_pjson_str(column) : WH_STRLIT("name");
    char name[WH_FIELDMAP_NAME_CAP];

    if (column != NULL && !json_is_string(column))
        return wh_errf(errbuf, WH_EMALFORMED, "event.columnId must be a string");
    c->changed_fields = wh_pjson_must(json_array());
    c->previous = wh_pjson_must(json_object());
    if (wh_str_eq(id, WH_STRLIT("name"))) {
        /* update_name: the new name is in value.name (or value), the old in previousValue.name. */
        const json_t *now =
            json_is_object(value) && wh_pjson_member(value, "name") != NULL ? wh_pjson_member(value, "name") : value;
        const json_t *was = json_is_object(prev) && wh_pjson_member(prev, "name") != NULL ? wh_pjson_member(prev, "name") : prev;
        json_object_set_new(c->fields, "name", now != NULL ? wh_pjson_must(json_deep_copy(now)) : json_null());
        json_object_set_new(c->previous, "name", was != NULL ? wh_pjson_must(json_deep_copy(was)) : json_null());
        json_array_append_new(c->changed_fields, wh_pjson_must(json_string("name")));
        return WH_OK;
    }
    if (wh_fieldmap_put(&no_columns, c->object_type, id, value != NULL ? wh_pjson_must(json_deep_copy(value)) : json_null(),
                        c->fields, name) != WH_OK ||
        wh_fieldmap_put(&no_columns, c->object_type, id, prev != NULL ? wh_pjson_must(json_deep_copy(prev)) : json_null(),
                        c->previous, name) != WH_OK)
        return wh_errf(errbuf, WH_EMALFORMED, "event.columnId is not usable as a field name");
    json_array_append_new(c->changed_fields, wh_pjson_must(json_string(name)));
    return WH_OK;
}

static wh_err_t parse_event(const json_t *ev, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    const json_t *type = wh_pjson_member(ev, "type"), *uuid = wh_pjson_member(ev, "triggerUuid"), *v;
    char pulse[WH_MAX_ID_LEN + 1], board[WH_MAX_ID_LEN + 1];
    const char *action = NULL;
    bool column = false;
    int64_t occurred;
    wh_change_t *c;

    if (!json_is_object(ev))
        return wh_errf(errbuf, WH_EMALFORMED, "body is not {\"event\": {…}}");
    if (!json_is_string(type))
        return wh_errf(errbuf, WH_EMALFORMED, "event.type missing or not a string");
    for (size_t k = 0; k != sizeof(actions) / sizeof(actions[0]); ++k) {
        if (wh_str_eq(wh_pjson_str(type), wh_str_c(actions[k].type))) {
            action = actions[k].action;
            column = actions[k].column;
        }
    }
    if (action == NULL) {
        wh_str_t t = wh_pjson_str(type);
        bool plain = t.len <= TYPE_NAME_MAX;
        for (size_t i = 0; i != t.len && plain; ++i)
            plain = (t.base[i] >= 'a' && t.base[i] <= 'z') || t.base[i] == '_';
        if (plain)
            return wh_errf(errbuf, WH_EMALFORMED, "unsupported event.type \"%s\"", json_string_value(type));
        return wh_errf(errbuf, WH_EMALFORMED, "unsupported event.type");
    }
    if (!numeric_id(wh_pjson_member(ev, "pulseId"), pulse))
        return wh_errf(errbuf, WH_EMALFORMED, "event.pulseId missing or not a numeric id");
    if (!numeric_id(wh_pjson_member(ev, "boardId"), board) || strlen(board) > BOARD_ID_MAX)
        return wh_errf(errbuf, WH_EMALFORMED, "event.boardId missing or not a numeric id");
    if (!json_is_string(uuid) || json_string_length(uuid) == 0 || json_string_length(uuid) > WH_MAX_ID_LEN ||
        memchr(json_string_value(uuid), '\0', json_string_length(uuid)) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event.triggerUuid missing or not a string of 1..%d bytes", WH_MAX_ID_LEN);
    if (!occurred_at(ev, &occurred))
        return wh_errf(errbuf, WH_EMALFORMED, "event.triggerTime missing or not ISO 8601");

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->object_type = object_type_for(credentials, board);
    c->action = action;
    memcpy(c->object_id, pulse, sizeof(pulse));
    c->occurred_at_ms = occurred;
    memcpy(c->provider_event_id, json_string_value(uuid), json_string_length(uuid) + 1);
    {
        /* triggerUuid is the same on monday's retries of one trigger (README §14). */
        wh_str_t parts[2] = {WH_STRLIT("monday/v1"), wh_pjson_str(uuid)};
        wh_sig_dedupe_key(parts, 2, c->dedupe_key);
    }
    c->fields = wh_pjson_must(json_object());
    c->extra = wh_pjson_must(json_pack("{s:s}", "boardId", board));
    if ((v = wh_pjson_member(ev, "groupId")) != NULL && json_is_string(v))
        json_object_set_new(c->extra, "groupId", wh_pjson_must(json_deep_copy(v)));
    if (column)
        return column_change(ev, c, errbuf);
    if (strcmp(action, WH_ACTION_CREATED) == 0) {
        const json_t *values = wh_pjson_member(ev, "columnValues");
        const char *key;
        json_t *val;
        char name[WH_FIELDMAP_NAME_CAP];
        if ((v = wh_pjson_member(ev, "pulseName")) != NULL)
            json_object_set_new(c->fields, "name", wh_pjson_must(json_deep_copy(v)));
        if (values != NULL && !json_is_object(values))
            return wh_errf(errbuf, WH_EMALFORMED, "event.columnValues must be an object");
        json_object_foreach((json_t *)values, key, val)
        {
            if (wh_fieldmap_put(&no_columns, c->object_type, wh_str_c(key), wh_pjson_must(json_deep_copy(val)), c->fields, name) !=
                WH_OK)
                return wh_errf(errbuf, WH_EMALFORMED, "event.columnValues has a key not usable as a field name");
        }
    }
    /* deletes, archives and restores name the item only: a consumer fetches it (restore) or drops it. */
    c->thin = json_object_size(c->fields) == 0 && strcmp(action, WH_ACTION_DELETED) != 0;
    return WH_OK;
}

/* One event per POST. Parsed with JSON_ALLOW_NUL: a column value holding U+0000 is the customer's data. */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root;
    wh_err_t err;

    root = json_loadb(in->body.base != NULL ? in->body.base : "", in->body.len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_stack_overflow)
            return wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return wh_errf(errbuf, WH_EMALFORMED, "body is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    if (!wh_pjson_within_depth(root, WH_MAX_JSON_DEPTH))
        err = wh_errf(errbuf, WH_ETOO_LARGE, "JSON nested deeper than %d levels", WH_MAX_JSON_DEPTH);
    else if (!json_is_object(root) || !json_is_object(json_object_get(root, "event")))
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not {\"event\": {…}}");
    else
        err = parse_event(json_object_get(root, "event"), credentials, out, errbuf);
    json_decref(root);
    return err;
}

/*
 * monday retries (once a minute for 30 min) when the answer is not 200 (README §12); whether another 2xx
 * counts is not documented, so the success answer is 200, with the usual {"accepted": N} body.
 */
static void success(const wh_inbound_t *in, size_t accepted, wh_reply_t *reply)
{
    json_t *body = wh_pjson_must(json_pack("{s:I}", "accepted", (json_int_t)accepted));

    (void)in;
    reply->status = 200;
    reply->content_type = "application/json";
    reply->body = json_dumps(body, JSON_COMPACT);
    if (reply->body == NULL) {
        fprintf(stderr, "fatal: out of memory answering monday\n");
        abort();
    }
    reply->body_len = strlen(reply->body);
    json_decref(body);
}

const wh_provider_t wh_provider_monday = {
    .name = "monday",
    .flags = 0, /* per-connection route only: the body names no account (the JWT's accountId is not needed) */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = handshake,
    .verify = verify,
    .parse = parse,
    .success = success,
    .refusal = NULL, /* monday reads only the status: the JSON error body is fine */
};
