/*
 * Microsoft Dynamics 365 / Dataverse webhooks (shared/providers/README.md §9).
 *
 * A Dataverse "service endpoint" of contract Webhook posts one JSON-serialized RemoteExecutionContext per
 * plug-in step execution to POST /webhooks/dynamics/{connectionId}. Dataverse signs nothing: it sends a
 * shared secret the admin chose, either as an HTTP header (authentication "HttpHeader") or as the query
 * parameter `code` (authentication "WebhookKey"). Credentials say which: {"key": "…", "headerName"?: "…"};
 * without headerName the key is read from `code`. The comparison is constant-time (README §2.5).
 *
 * Normalization (README §9.4): MessageName -> action, PrimaryEntityName -> object type, PrimaryEntityId ->
 * object id, InputParameters[Target].Attributes -> fields (and changedFields for Update), the first
 * PreEntityImages image -> previous, OperationCreatedOn -> occurredAt. Dataverse retries only 502/503/504,
 * once; the dedupe key is (OperationId, PrimaryEntityId, MessageName), UNCONFIRMED stable across that retry.
 */
#include <curl/curl.h>
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

extern const wh_fieldmap_t wh_fieldmap_dynamics;

/* Dataverse keys are admin-chosen strings; the bound only stops absurd values at creation. */
#define KEY_MAX 1024
/* Longest header name accepted in credentials.headerName (HTTP has no limit; 256 is far beyond real use). */
#define HEADER_NAME_MAX 256
/* Longest MessageName / PrimaryEntityName we read (Dataverse logical names are at most 64 characters). */
#define NAME_MAX_LEN 128
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */
/* The query parameter of the "WebhookKey" authentication (the Azure Functions convention). */
#define CODE_PARAM "code"

/*
 * MessageName -> action. Assign and SetState change fields of the record (owner, state), so they are
 * updates. Restore (recycle bin) is UNCONFIRMED as a webhook message name but harmless to know.
 * Any other message (Retrieve, Associate, custom actions, …) is refused as malformed: steps are registered
 * per message, so an unknown one is a misregistered step, and a 400 makes Dataverse record the failed
 * System Job with our message, where the admin sees it; mapping it to "updated" would deliver a
 * misleading event instead.
 */
typedef enum { MSG_CREATE, MSG_UPDATE, MSG_DELETE, MSG_MERGE, MSG_OTHER_UPDATE, MSG_RESTORE } msg_t;

static const struct {
    const char *name;
    msg_t msg;
    const char *action;
} messages[] = {
    {"Create", MSG_CREATE, WH_ACTION_CREATED},
    {"Update", MSG_UPDATE, WH_ACTION_UPDATED},
    {"Delete", MSG_DELETE, WH_ACTION_DELETED},
    {"Merge", MSG_MERGE, WH_ACTION_MERGED},
    {"Assign", MSG_OTHER_UPDATE, WH_ACTION_UPDATED},
    {"SetState", MSG_OTHER_UPDATE, WH_ACTION_UPDATED},
    {"SetStateDynamicEntity", MSG_OTHER_UPDATE, WH_ACTION_UPDATED},
    {"Restore", MSG_RESTORE, WH_ACTION_RESTORED},
};

/*
 * PrimaryEntityName -> unified object type (README §9.4), and the entity's primary key attribute, which
 * Target repeats among its Attributes and which is skipped there (it is the object id, not a field).
 * Activities (task, appointment, phonecall, email) share activitypointer's key, activityid.
 */
static const struct {
    const char *entity;
    const char *object_type;
    const char *primary_key;
} entities[] = {
    {"contact", "contact", "contactid"},      {"account", "account", "accountid"},
    {"opportunity", "deal", "opportunityid"}, {"lead", "lead", "leadid"},
    {"task", "task", "activityid"},           {"annotation", "note", "annotationid"},
    {"systemuser", "user", "systemuserid"},   {"appointment", "event", "activityid"},
    {"phonecall", "call", "activityid"},      {"email", "email", "activityid"},
};
/*
 * Any other entity (incident, custom "new_project", …) still flows, as object type "entity" with
 * extra.entityName: dropping it would lose events, and its logical name is not a static string we could use
 * as the object type.
 */
#define GENERIC_OBJECT_TYPE "entity"

/* RFC 9110 token characters: what an HTTP header name may hold. */
static bool is_token(wh_str_t s)
{
    for (size_t i = 0; i != s.len; ++i) {
        unsigned char c = (unsigned char)s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              memchr("!#$%&'*+-.^_`|~", c, 15) != NULL))
            return false;
    }
    return s.len != 0;
}

/* Credentials. */

/* Unknown keys are refused: credentials are write-only, and a misspelt "headername" would silently switch to `code`. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *key, *header;
    size_t known = 0;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    key = json_object_get(credentials, "key");
    if (key == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.key: required");
    if (!json_is_string(key) || json_string_length(key) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.key: must be a non-empty string");
    if (json_string_length(key) > KEY_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.key: longer than %d bytes", KEY_MAX);
    ++known;
    header = json_object_get(credentials, "headerName");
    if (header != NULL) {
        if (!json_is_string(header) || !is_token(wh_pjson_str(header)))
            return wh_errf(errbuf, WH_EINVAL, "credentials.headerName: must be an HTTP header name");
        if (json_string_length(header) > HEADER_NAME_MAX)
            return wh_errf(errbuf, WH_EINVAL, "credentials.headerName: longer than %d bytes", HEADER_NAME_MAX);
        ++known;
    }
    if (json_object_size(credentials) != known)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only key and headerName are allowed)");
    return WH_OK;
}

/* Verification. */

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Percent-decodes `in` into `out` (in.len bytes). With `plus_is_space`, '+' becomes ' ' (form encoding).
 * False on a broken escape.
 */
static bool url_decode(wh_str_t in, bool plus_is_space, char *out, size_t *outlen)
{
    size_t n = 0;

    for (size_t i = 0; i != in.len; ++i) {
        unsigned char c = (unsigned char)in.base[i];
        if (c == '%') {
            int hi, lo;
            if (in.len - i < 3)
                return false;
            hi = hex_digit((unsigned char)in.base[i + 1]);
            lo = hex_digit((unsigned char)in.base[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = plus_is_space && c == '+' ? ' ' : (char)c;
        }
    }
    *outlen = n;
    return true;
}

/*
 * The raw (still encoded) value of the one `code` parameter of the query. The URL is parsed with curl_url
 * (style.md: URLs through curl_url); the query is then split by hand because CURLU_URLDECODE would decode
 * it whole, '&' and '=' included. Returns WH_OK with *value set, or WH_ESIGNATURE naming the problem.
 * *query is curl's allocation (curl_free), borrowed by *value.
 */
static wh_err_t find_code(const wh_inbound_t *in, char **query, wh_str_t *value, char *errbuf)
{
    CURLU *u = curl_url();
    char *url = NULL;
    wh_err_t err = WH_OK;
    bool found = false;

    *query = NULL;
    *value = WH_STR_NULL;
    if (u == NULL) {
        fprintf(stderr, "fatal: out of memory parsing a Dynamics URL\n");
        abort();
    }
    if (in->url.len > WH_MAX_URL_LEN || memchr(in->url.base, '\0', in->url.len) != NULL) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "request URL unusable: no code parameter");
        goto Exit;
    }
    url = malloc(in->url.len + 1);
    if (url == NULL) {
        fprintf(stderr, "fatal: out of memory parsing a Dynamics URL\n");
        abort();
    }
    memcpy(url, in->url.base, in->url.len);
    url[in->url.len] = '\0';
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, query, 0) != CURLUE_OK || *query == NULL) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "no code query parameter");
        goto Exit;
    }
    for (const char *p = *query, *end = p + strlen(p); p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        wh_str_t name = wh_str(p, (size_t)((eq != NULL ? eq : stop) - p));
        if (wh_str_eq(name, WH_STRLIT(CODE_PARAM))) {
            /* Two codes would make "which one counts" a question; an honest Dataverse sends one. */
            if (found) {
                err = wh_errf(errbuf, WH_ESIGNATURE, "code query parameter given more than once");
                goto Exit;
            }
            found = true;
            *value = eq != NULL ? wh_str(eq + 1, (size_t)(stop - eq - 1)) : wh_str(stop, 0);
        }
        p = stop + 1;
    }
    if (!found)
        err = wh_errf(errbuf, WH_ESIGNATURE, "no code query parameter");
Exit:
    if (err != WH_OK) {
        curl_free(*query);
        *query = NULL;
        *value = WH_STR_NULL;
    }
    free(url);
    curl_url_cleanup(u);
    return err;
}

/*
 * `code` is compared once with '+' kept and once with '+' read as a space, both in constant time and both
 * always: how Dataverse encodes a key holding '+' or ' ' in the query is UNCONFIRMED, and either reading
 * still requires knowing the key.
 */
static wh_err_t verify_code(const wh_inbound_t *in, wh_str_t key, char *errbuf)
{
    char *query = NULL, *buf = NULL;
    wh_str_t raw;
    size_t n = 0;
    bool ok = false;
    wh_err_t err = find_code(in, &query, &raw, errbuf);

    if (err != WH_OK)
        return err;
    buf = malloc(raw.len + 1);
    if (buf == NULL) {
        fprintf(stderr, "fatal: out of memory decoding a Dynamics key\n");
        abort();
    }
    if (!url_decode(raw, false, buf, &n)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "code query parameter is not valid percent-encoding");
        goto Exit;
    }
    ok = wh_ct_equal(buf, n, key.base, key.len);
    if (url_decode(raw, true, buf, &n))
        ok = wh_ct_equal(buf, n, key.base, key.len) || ok;
    if (!ok)
        err = wh_errf(errbuf, WH_ESIGNATURE, "code query parameter does not match");
Exit:
    free(buf);
    curl_free(query);
    return err;
}

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t key = wh_sig_get_credential(credentials, "key");
    const json_t *header = json_is_object(credentials) ? json_object_get(credentials, "headerName") : NULL;
    wh_str_t value;

    if (key.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.key missing");
    if (header == NULL)
        return verify_code(in, key, errbuf);
    if (!json_is_string(header) || !is_token(wh_pjson_str(header)) || json_string_length(header) > HEADER_NAME_MAX)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.headerName invalid");
    /* wh_inbound_header matches names ASCII case-insensitively, so the configured case does not matter. */
    if (!wh_sig_get_header(in, wh_pjson_str(header), &value))
        return wh_errf(errbuf, WH_ESIGNATURE, "key header longer than %d bytes", WH_MAX_HEADER_VALUE);
    if (value.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "key header missing");
    if (!wh_ct_equal(value.base, value.len, key.base, key.len))
        return wh_errf(errbuf, WH_ESIGNATURE, "key header does not match");
    return WH_OK;
}

/* Parsing. */

/* A string member of 1..WH_MAX_ID_LEN bytes without NUL into `out`; absent -> "" (WH_OK unless required). */
static wh_err_t read_id(const json_t *obj, const char *key, bool required, char *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(obj, key);
    wh_str_t s;

    out[0] = '\0';
    if (v == NULL)
        return required ? wh_errf(errbuf, WH_EMALFORMED, "%s missing", key) : WH_OK;
    s = wh_pjson_str(v);
    if (!json_is_string(v) || s.len == 0 || s.len > WH_MAX_ID_LEN || memchr(s.base, '\0', s.len) != NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "%s must be a non-empty string of at most %d bytes", key, WH_MAX_ID_LEN);
    memcpy(out, s.base, s.len);
    out[s.len] = '\0';
    return WH_OK;
}

/*
 * WCF JSON dates: "/Date(<ms since epoch>[±hhmm])/" (the "\/" of the wire form is "/" once decoded). The
 * offset is a display hint and does not move the instant (samples/dynamics365/README.md).
 */
static bool parse_wcf_date(wh_str_t s, int64_t *ms)
{
    static const char head[] = "/Date(", tail[] = ")/";
    size_t i = sizeof(head) - 1, start, end;
    long long v;

    if (s.len < sizeof(head) - 1 + 1 + sizeof(tail) - 1 || memcmp(s.base, head, sizeof(head) - 1) != 0 ||
        memcmp(s.base + s.len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) != 0)
        return false;
    end = s.len - (sizeof(tail) - 1);
    start = i;
    if (i < end && s.base[i] == '-')
        ++i;
    while (i < end && s.base[i] >= '0' && s.base[i] <= '9')
        ++i;
    if (i == start || (i == start + 1 && s.base[start] == '-') || i - start > 19)
        return false;
    if (!wh_str_to_i64(wh_str(s.base + start, i - start), &v))
        return false;
    if (i != end) {
        /* an offset: exactly [+-]hhmm */
        if (end - i != 5 || (s.base[i] != '+' && s.base[i] != '-'))
            return false;
        for (size_t k = i + 1; k != end; ++k)
            if (s.base[k] < '0' || s.base[k] > '9')
                return false;
    }
    *ms = v;
    return true;
}

/* OperationCreatedOn in either form: the WCF date Dataverse sends, or ISO 8601 (tolerated: UNCONFIRMED). */
static wh_err_t read_time(const json_t *root, int64_t *ms, char *errbuf)
{
    const json_t *v = wh_pjson_member(root, "OperationCreatedOn");

    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "OperationCreatedOn missing");
    if (json_is_string(v) && (parse_wcf_date(wh_pjson_str(v), ms) || wh_parse_iso8601(wh_pjson_str(v), ms)))
        return WH_OK;
    return wh_errf(errbuf, WH_EMALFORMED, "OperationCreatedOn must be \"/Date(ms)/\" or an ISO 8601 date-time");
}

/* The value of the first {key, value} pair named `name` in a Dataverse parameter collection, or NULL. */
static const json_t *param(const json_t *list, const char *name)
{
    const json_t *p;
    size_t i;

    json_array_foreach(list, i, p)
    {
        const json_t *k = json_object_get(p, "key");
        if (json_is_string(k) && wh_str_eq(wh_pjson_str(k), wh_str_c(name)))
            return json_object_get(p, "value");
    }
    return NULL;
}

/*
 * An attribute value in unified form: an EntityReference becomes its Id, OptionSetValue and Money their
 * Value, a WCF date an ISO 8601 string; anything else is kept as sent. Returns a new reference.
 */
static json_t *attribute_value(const json_t *v)
{
    const json_t *type = json_object_get(v, "__type");
    int64_t ms;

    if (json_is_object(v) && json_is_string(type)) {
        wh_str_t t = wh_pjson_str(type);
        if (t.len > 16 && memcmp(t.base, "EntityReference:", 16) == 0 && json_is_string(json_object_get(v, "Id")))
            return wh_pjson_must(json_deep_copy(json_object_get(v, "Id")));
        if (((t.len > 15 && memcmp(t.base, "OptionSetValue:", 15) == 0) || (t.len > 6 && memcmp(t.base, "Money:", 6) == 0)) &&
            json_object_get(v, "Value") != NULL)
            return wh_pjson_must(json_deep_copy(json_object_get(v, "Value")));
    }
    if (json_is_string(v) && parse_wcf_date(wh_pjson_str(v), &ms)) {
        char iso[WH_ISO8601_LEN];
        wh_iso8601(ms, iso);
        return wh_pjson_must(json_string(iso));
    }
    return v != NULL ? wh_pjson_must(json_deep_copy(v)) : json_null();
}

/*
 * Files an entity's Attributes into `into` through the field table; appends each name to `names` when it is
 * not NULL. The record's own primary key (<entity>id) is skipped: it is the object id, not a field.
 */
static wh_err_t put_attributes(const json_t *entity, const char *object_type, wh_str_t primary_key, json_t *into, json_t *names,
                               const char *what, char *errbuf)
{
    const json_t *attrs = wh_pjson_member(entity, "Attributes"), *a;
    size_t i;

    if (attrs == NULL)
        return WH_OK;
    if (!json_is_array(attrs))
        return wh_errf(errbuf, WH_EMALFORMED, "%s.Attributes must be an array", what);
    json_array_foreach(attrs, i, a)
    {
        const json_t *k = json_object_get(a, "key");
        char name[WH_FIELDMAP_NAME_CAP];

        if (!json_is_object(a) || !json_is_string(k))
            return wh_errf(errbuf, WH_EMALFORMED, "%s.Attributes[%zu] must be {\"key\": \"…\", \"value\": …}", what, i);
        if (wh_str_eq(wh_pjson_str(k), primary_key))
            continue;
        if (wh_fieldmap_put(&wh_fieldmap_dynamics, object_type, wh_pjson_str(k), attribute_value(json_object_get(a, "value")), into,
                            name) != WH_OK)
            return wh_errf(errbuf, WH_EMALFORMED, "%s.Attributes[%zu].key is not usable as a field name", what, i);
        if (names != NULL)
            json_array_append_new(names, wh_pjson_must(json_string(name)));
    }
    return WH_OK;
}

/* The Entity passed as Target (Create/Update), or NULL when Target is absent or an EntityReference (Delete, Merge). */
static wh_err_t target_entity(const json_t *root, const json_t **entity, char *errbuf)
{
    const json_t *params = wh_pjson_member(root, "InputParameters"), *target;

    *entity = NULL;
    /* Absent when the context exceeded 256 KB (x-ms-dynamics-msg-size-exceeded): the event is then thin. */
    if (params == NULL)
        return WH_OK;
    if (!json_is_array(params))
        return wh_errf(errbuf, WH_EMALFORMED, "InputParameters must be an array");
    target = param(params, "Target");
    if (target != NULL && !json_is_null(target) && !json_is_object(target))
        return wh_errf(errbuf, WH_EMALFORMED, "InputParameters[Target] must be an object");
    if (json_is_object(target) && json_object_get(target, "Attributes") != NULL)
        *entity = target;
    return WH_OK;
}

/* Merge: InputParameters[SubordinateId] names the record merged into the primary one. */
static void merge_extra(const json_t *root, json_t *extra)
{
    const json_t *sub = param(wh_pjson_member(root, "InputParameters"), "SubordinateId");
    json_t *ids = wh_pjson_must(json_array());

    if (json_is_string(sub) && json_string_length(sub) != 0 && json_string_length(sub) <= WH_MAX_ID_LEN)
        json_array_append_new(ids, wh_pjson_must(json_deep_copy(sub)));
    json_object_set_new(extra, "mergedIds", ids);
}

/*
 * Without OperationId (UNCONFIRMED that every context has one) the key falls back on the body's SHA-256, so
 * that at least the byte-identical 5xx retry is absorbed.
 */
static void dedupe_key(const wh_inbound_t *in, const char *operation, const char *entity_id, wh_str_t message,
                       uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[4];
    uint8_t digest[WH_SHA256_LEN];

    parts[0] = WH_STRLIT("dynamics/v1");
    if (operation[0] != '\0') {
        parts[1] = wh_str_c(operation);
    } else {
        wh_sha256(&in->body, 1, digest);
        parts[1] = wh_str((const char *)digest, sizeof(digest));
    }
    parts[2] = wh_str_c(entity_id);
    parts[3] = message;
    wh_sig_dedupe_key(parts, 4, out);
}

static wh_err_t read_context(const wh_inbound_t *in, const json_t *root, wh_changes_t *out, char *errbuf)
{
    const json_t *v, *entity, *images;
    const char *action = NULL, *object_type = NULL;
    bool generic = false;
    char entity_id[WH_MAX_ID_LEN + 1], operation[WH_MAX_ID_LEN + 1], primary_key[NAME_MAX_LEN + 3];
    wh_str_t message, entity_name;
    msg_t msg = MSG_CREATE;
    int64_t occurred;
    wh_change_t *c;
    wh_err_t err;

    v = wh_pjson_member(root, "MessageName");
    if (!json_is_string(v))
        return wh_errf(errbuf, WH_EMALFORMED, "MessageName missing or not a string");
    message = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(messages) / sizeof(messages[0]) && action == NULL; ++k) {
        if (wh_str_eq(message, wh_str_c(messages[k].name))) {
            action = messages[k].action;
            msg = messages[k].msg;
        }
    }
    if (action == NULL) {
        if (wh_pjson_echoable(message))
            return wh_errf(errbuf, WH_EMALFORMED,
                           "unsupported MessageName \"%.*s\" (Create, Update, Delete, Merge, Assign, SetState)", (int)message.len,
                           message.base);
        return wh_errf(errbuf, WH_EMALFORMED, "unsupported MessageName");
    }

    v = wh_pjson_member(root, "PrimaryEntityName");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > NAME_MAX_LEN ||
        !wh_pjson_echoable(wh_pjson_str(v)))
        return wh_errf(errbuf, WH_EMALFORMED, "PrimaryEntityName must be a Dataverse logical name");
    entity_name = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(entities) / sizeof(entities[0]) && object_type == NULL; ++k) {
        if (wh_str_eq(entity_name, wh_str_c(entities[k].entity))) {
            object_type = wh_object_type_find(wh_str_c(entities[k].object_type))->name;
            snprintf(primary_key, sizeof(primary_key), "%s", entities[k].primary_key);
        }
    }
    if (object_type == NULL) {
        /* Custom and other tables: Dataverse names the key <logical name>id. */
        object_type = GENERIC_OBJECT_TYPE;
        generic = true;
        memcpy(primary_key, entity_name.base, entity_name.len);
        memcpy(primary_key + entity_name.len, "id", 3);
    }

    if ((err = read_id(root, "PrimaryEntityId", true, entity_id, errbuf)) != WH_OK ||
        (err = read_id(root, "OperationId", false, operation, errbuf)) != WH_OK ||
        (err = read_time(root, &occurred, errbuf)) != WH_OK || (err = target_entity(root, &entity, errbuf)) != WH_OK)
        return err;
    images = wh_pjson_member(root, "PreEntityImages");
    if (images != NULL && !json_is_array(images))
        return wh_errf(errbuf, WH_EMALFORMED, "PreEntityImages must be an array");

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->object_type = object_type;
    c->action = action;
    c->occurred_at_ms = occurred;
    memcpy(c->object_id, entity_id, sizeof(c->object_id));
    memcpy(c->provider_event_id, operation, sizeof(c->provider_event_id));
    dedupe_key(in, operation, entity_id, message, c->dedupe_key);
    c->fields = wh_pjson_must(json_object());

    /* Delete and Merge carry an EntityReference: no attributes. Create lists the new record's values. */
    if (entity != NULL && (msg == MSG_CREATE || msg == MSG_UPDATE || msg == MSG_OTHER_UPDATE)) {
        json_t *names = msg == MSG_UPDATE ? wh_pjson_must(json_array()) : NULL;
        err = put_attributes(entity, object_type, wh_str_c(primary_key), c->fields, names, "InputParameters[Target]", errbuf);
        c->changed_fields = names;
        if (err != WH_OK)
            return err;
    }
    /* The first registered pre-image, whatever its alias ("PreImage" by convention). */
    if (json_array_size(images) != 0) {
        const json_t *image = json_object_get(json_array_get(images, 0), "value");
        if (!json_is_object(image))
            return wh_errf(errbuf, WH_EMALFORMED, "PreEntityImages[0].value must be an entity");
        c->previous = wh_pjson_must(json_object());
        err = put_attributes(image, object_type, wh_str_c(primary_key), c->previous, NULL, "PreEntityImages[0].value", errbuf);
        if (err != WH_OK)
            return err;
    }
    c->thin = json_object_size(c->fields) == 0;

    if (msg == MSG_MERGE || generic)
        c->extra = wh_pjson_must(json_object());
    if (msg == MSG_MERGE)
        merge_extra(root, c->extra);
    if (generic)
        json_object_set_new(c->extra, "entityName", wh_pjson_must(json_stringn(entity_name.base, entity_name.len)));
    return WH_OK;
}

/*
 * One RemoteExecutionContext, one change. Parsed with JSON_ALLOW_NUL: an attribute value holding U+0000 is
 * the CRM's data; ids and names holding NUL are refused where they are read.
 */
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
    else if (!json_is_object(root))
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a RemoteExecutionContext object");
    else
        err = read_context(in, root, out, errbuf);
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_dynamics = {
    .name = "dynamics",
    .flags = 0, /* per-connection only: each service endpoint is registered with its own connection's URL */
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Dataverse sends no validation request: the first request is already an event (README §9.1) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* Dataverse reads only the status code (README §9.3): the default 202 {"accepted":1} */
    .refusal = NULL, /* the status is all Dataverse records on the System Job: the JSON error body is fine */
};
