/*
 * HubSpot app webhooks (shared/providers/README.md §3).
 *
 * One app-level URL (POST /webhooks/hubspot) receives batches for every portal that installed the app:
 * a JSON array of at most 100 flat events, each naming its portal (portalId), which selects the
 * connection and so the client secret that signed the request.
 *
 * Signatures (validating-requests doc; SDK vectors in tests/fixtures/providers/hubspot/vectors.json):
 *   v3  X-HubSpot-Signature-v3 = base64(HMAC-SHA256(secret, METHOD ‖ URI ‖ body ‖ X-HubSpot-Request-Timestamp))
 *   v2  X-HubSpot-Signature    = hex(SHA-256(secret ‖ METHOD ‖ URI ‖ body))   with X-HubSpot-Signature-Version: v2
 *   v1  X-HubSpot-Signature    = hex(SHA-256(secret ‖ body))                  with Version v1 or no Version header
 * A present and allowed v3 signature decides alone: when it fails, v1/v2 are not tried (no downgrade).
 * v1 and v2 carry no timestamp (replayable), so they are accepted only when the connection lists them in
 * credentials.signatureVersions (default ["v3"]).
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

/* HubSpot client secrets are UUIDs (36 bytes); the bound only stops absurd values at creation. */
#define CLIENT_SECRET_MAX 256
/* Longest subscriptionType / objectTypeId we read; every known one is far shorter. */
#define TYPE_NAME_MAX 64
/* Error messages echo provider-chosen names only when they are this short and plain (see wh_pjson_echoable()). */

enum { SIG_V1 = 1u << 0, SIG_V2 = 1u << 1, SIG_V3 = 1u << 2 };

static const struct {
    const char *name;
    unsigned bit;
} sig_versions[] = {{"v1", SIG_V1}, {"v2", SIG_V2}, {"v3", SIG_V3}};

typedef enum {
    KIND_CREATION,
    KIND_PROPERTY_CHANGE,
    KIND_DELETION,
    KIND_PRIVACY_DELETION,
    KIND_MERGE,
    KIND_RESTORE,
    KIND_ASSOCIATION,
} kind_t;

/*
 * subscriptionType suffix -> unified action. `thin` is true when the event carries ids only and a consumer
 * must fetch the record for its fields (creation, deletion, merge, restore, association). A propertyChange
 * is not thin: it carries the one changed property's new value, which is exactly its `fields`.
 */
static const struct {
    const char *suffix;
    kind_t kind;
    const char *action;
    bool thin;
} actions[] = {
    {"creation", KIND_CREATION, WH_ACTION_CREATED, true},
    {"propertyChange", KIND_PROPERTY_CHANGE, WH_ACTION_UPDATED, false},
    {"deletion", KIND_DELETION, WH_ACTION_DELETED, true},
    {"privacyDeletion", KIND_PRIVACY_DELETION, WH_ACTION_DELETED, true}, /* contact.privacyDeletion only */
    {"merge", KIND_MERGE, WH_ACTION_MERGED, true},
    {"restore", KIND_RESTORE, WH_ACTION_RESTORED, true},
    {"associationChange", KIND_ASSOCIATION, WH_ACTION_ASSOCIATED, true},
};

/*
 * Legacy subscriptionType prefixes. ticket, product and line_item are not unified object types: they keep
 * HubSpot's own name (provider.h allows a provider's type kept as-is) and flow as events without being cached.
 * "object" (generic subscriptions) names its type in objectTypeId instead.
 */
static const struct {
    const char *prefix;
    const char *object_type;
} prefixes[] = {
    {"contact", "contact"}, {"company", "account"}, {"deal", "deal"},
    {"ticket", "ticket"},   {"product", "product"}, {"line_item", "line_item"},
};

/*
 * Generic subscriptions' objectTypeId (HubSpot "Object type IDs" table). 0-1..0-3 are confirmed by the
 * changelog; the others come from the same table and were not re-read (README §3.1). Any other well-formed
 * id (custom objects "2-…", commerce objects) becomes object type "object" with extra.objectTypeId, so the
 * event still flows and a consumer can tell what it was.
 */
static const struct {
    const char *id;
    const char *object_type;
} object_type_ids[] = {
    {"0-1", "contact"},   {"0-2", "account"}, {"0-3", "deal"},   {"0-5", "ticket"}, {"0-7", "product"},
    {"0-8", "line_item"}, {"0-27", "task"},   {"0-46", "note"},  {"0-47", "event"}, {"0-48", "call"},
    {"0-49", "email"},    {"0-115", "user"},  {"0-136", "lead"},
};
#define GENERIC_OBJECT_TYPE "object"

/*
 * Legacy associationType -> the unified types of its "from" and "to" sides. Only pairs with a unified association
 * (common/unified.c, wh_associations: contact.accountId, deal.accountId) are listed: any other type (DEAL_TO_CONTACT,
 * TICKET_TO_…, PARENT_COMPANY_TO_CHILD_COMPANY, …) gets no extra.association and leaves the cache alone. Generic
 * events name their sides by fromObjectTypeId/toObjectTypeId instead (object_type_ids above), which also reaches
 * tasks, notes, meetings, calls and emails.
 */
static const struct {
    const char *name;
    const char *from, *to;
} association_types[] = {
    {"CONTACT_TO_COMPANY", "contact", "account"},
    {"COMPANY_TO_CONTACT", "account", "contact"},
    {"DEAL_TO_COMPANY", "deal", "account"},
    {"COMPANY_TO_DEAL", "account", "deal"},
};

/* Everything one event contributes, gathered before the change is written. */
typedef struct {
    size_t index;
    wh_str_t type; /* subscriptionType as sent */
    kind_t kind;
    const char *action;
    bool thin;
    const char *object_type;
    wh_str_t object_type_id; /* generic events whose objectTypeId is not in the table; else base == NULL */
    char object_id[WH_MAX_ID_LEN + 1];
    char account[WH_MAX_ID_LEN + 1];
    char event_id[WH_MAX_ID_LEN + 1];
    char subscription_id[WH_MAX_ID_LEN + 1];
    char from_object_id[WH_MAX_ID_LEN + 1];   /* associations */
    char to_object_id[WH_MAX_ID_LEN + 1];     /* associations */
    char association_type[WH_MAX_ID_LEN + 1]; /* associations: associationType, or associationTypeId, for the dedupe key */
    bool association_removed, association_primary;
    char new_object_id[WH_MAX_ID_LEN + 1]; /* merges; "" when absent */
    int64_t occurred_at;
    wh_str_t property;
} event_t;

/* Credentials. */

static unsigned version_bit(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    for (size_t i = 0; i != sizeof(sig_versions) / sizeof(sig_versions[0]); ++i)
        if (wh_str_eq(wh_pjson_str(v), wh_str_c(sig_versions[i].name)))
            return sig_versions[i].bit;
    return 0;
}

/* credentials.signatureVersions as a bit mask; absent means ["v3"]. */
static wh_err_t read_versions(const json_t *credentials, unsigned *mask, char *errbuf)
{
    const json_t *list = json_object_get(credentials, "signatureVersions");
    const json_t *v;
    size_t i;

    *mask = 0;
    if (list == NULL) {
        *mask = SIG_V3;
        return WH_OK;
    }
    if (!json_is_array(list) || json_array_size(list) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.signatureVersions: must be a non-empty array of \"v1\", \"v2\", \"v3\"");
    json_array_foreach(list, i, v)
    {
        unsigned bit = version_bit(v);
        if (bit == 0)
            return wh_errf(errbuf, WH_EINVAL, "credentials.signatureVersions[%zu]: must be \"v1\", \"v2\" or \"v3\"", i);
        *mask |= bit;
    }
    return WH_OK;
}

/*
 * Unknown keys are refused: credentials are write-only, so a misspelt "signatureVersion" would otherwise
 * silently leave the default in force with no way for the operator to see it.
 */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *secret;
    size_t known = 0;
    unsigned mask;
    wh_err_t err;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    secret = json_object_get(credentials, "clientSecret");
    if (secret == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.clientSecret: required");
    if (!json_is_string(secret) || json_string_length(secret) == 0)
        return wh_errf(errbuf, WH_EINVAL, "credentials.clientSecret: must be a non-empty string");
    if (json_string_length(secret) > CLIENT_SECRET_MAX)
        return wh_errf(errbuf, WH_EINVAL, "credentials.clientSecret: longer than %d bytes", CLIENT_SECRET_MAX);
    ++known;
    if (json_object_get(credentials, "signatureVersions") != NULL)
        ++known;
    err = read_versions(credentials, &mask, errbuf);
    if (err != WH_OK)
        return err;
    if (json_object_size(credentials) != known)
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only clientSecret and signatureVersions are allowed)");
    return WH_OK;
}

/* Verification. */

static bool is_escape(unsigned char c)
{
    return memchr(":/?@!$'()*,;", c, 12) != NULL;
}

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
 * HubSpot signs v3 over the URI with exactly these escapes decoded (either hex case):
 * %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B. One left-to-right pass, so "%253A" stays as it is
 * (nothing is decoded twice), and every other escape, "%25" included, is kept as received.
 * `out` holds url.len bytes; returns the decoded length.
 */
static size_t decode_uri(wh_str_t url, char *out)
{
    size_t n = 0;

    for (size_t i = 0; i != url.len; ++i) {
        if (url.base[i] == '%' && url.len - i > 2) {
            int hi = hex_digit((unsigned char)url.base[i + 1]), lo = hex_digit((unsigned char)url.base[i + 2]);
            if (hi >= 0 && lo >= 0 && is_escape((unsigned char)(hi << 4 | lo))) {
                out[n++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
        }
        out[n++] = url.base[i];
    }
    return n;
}

/*
 * The window is checked only once the signature verifies: a correctly signed but old (or future) request is
 * WH_ESTALE (401 stale_timestamp, a replay or a skewed clock), anything else WH_ESIGNATURE. Answering
 * ESTALE only to authentic requests tells a forger nothing.
 */
static wh_err_t verify_v3(const wh_inbound_t *in, wh_str_t secret, wh_str_t signature, wh_str_t timestamp, char *errbuf)
{
    uint8_t mac[WH_SHA256_LEN];
    char *uri = NULL;
    wh_str_t parts[4];
    int64_t ts;
    wh_err_t err;

    if (timestamp.base == NULL) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "X-HubSpot-Request-Timestamp missing");
        goto Exit;
    }
    if (!wh_sig_parse_timestamp(timestamp, &ts)) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "X-HubSpot-Request-Timestamp is not a decimal number of milliseconds");
        goto Exit;
    }
    uri = malloc(in->url.len + 1);
    if (uri == NULL) {
        fprintf(stderr, "fatal: out of memory decoding a HubSpot URI\n");
        abort();
    }
    parts[0] = in->method;
    parts[1] = wh_str(uri, decode_uri(in->url, uri));
    parts[2] = in->body;
    parts[3] = timestamp; /* the header's bytes as sent, not a re-formatted number */
    wh_hmac_sha256(secret, parts, 4, mac);
    if (!wh_sig_match_base64(signature, mac, sizeof(mac))) {
        err = wh_errf(errbuf, WH_ESIGNATURE, "X-HubSpot-Signature-v3 does not match");
        goto Exit;
    }
    err = wh_sig_check_window(ts, in->now_ms, WH_TIMESTAMP_TOLERANCE_MS);
    if (err != WH_OK)
        wh_errf(errbuf, err, "X-HubSpot-Request-Timestamp more than %d s from now", WH_TIMESTAMP_TOLERANCE_MS / 1000);
Exit:
    free(uri);
    return err;
}

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t secret = wh_sig_get_credential(credentials, "clientSecret");
    wh_str_t sig_v3, timestamp, sig, version, parts[4];
    uint8_t digest[WH_SHA256_LEN];
    size_t nparts = 0;
    unsigned allowed, which;

    if (secret.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.clientSecret missing");
    if (read_versions(credentials, &allowed, NULL) != WH_OK)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.signatureVersions invalid");
    if (!wh_sig_get_header(in, WH_STRLIT("x-hubspot-signature-v3"), &sig_v3) ||
        !wh_sig_get_header(in, WH_STRLIT("x-hubspot-request-timestamp"), &timestamp) ||
        !wh_sig_get_header(in, WH_STRLIT("x-hubspot-signature"), &sig) ||
        !wh_sig_get_header(in, WH_STRLIT("x-hubspot-signature-version"), &version))
        return wh_errf(errbuf, WH_ESIGNATURE, "signature header longer than %d bytes", WH_MAX_HEADER_VALUE);

    if (sig_v3.base != NULL && (allowed & SIG_V3) != 0)
        return verify_v3(in, secret, sig_v3, timestamp, errbuf);

    if (sig.base == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "%s",
                       sig_v3.base != NULL ? "v3 not in credentials.signatureVersions and no X-HubSpot-Signature"
                                           : "no X-HubSpot-Signature-v3 or X-HubSpot-Signature header");
    if (version.base == NULL || wh_str_ieq(version, WH_STRLIT("v1")))
        which = SIG_V1;
    else if (wh_str_ieq(version, WH_STRLIT("v2")))
        which = SIG_V2;
    else
        return wh_errf(errbuf, WH_ESIGNATURE, "X-HubSpot-Signature-Version not v1 or v2");
    if ((allowed & which) == 0)
        return wh_errf(errbuf, WH_ESIGNATURE, "signature version %s not in credentials.signatureVersions",
                       which == SIG_V1 ? "v1" : "v2");

    /* v2 signs the URI as received: the escape decoding above is a v3 rule (HubSpot SDKs agree). */
    parts[nparts++] = secret;
    if (which == SIG_V2) {
        parts[nparts++] = in->method;
        parts[nparts++] = in->url;
    }
    parts[nparts++] = in->body;
    wh_sha256(parts, nparts, digest);
    if (!wh_sig_match_hex(sig, digest, sizeof(digest)))
        return wh_errf(errbuf, WH_ESIGNATURE, "X-HubSpot-Signature (%s) does not match", which == SIG_V1 ? "v1" : "v2");
    return WH_OK;
}

/* Parsing. */

/*
 * An id as text into `out` (WH_MAX_ID_LEN + 1 bytes): an integer, or a string of 1..WH_MAX_ID_LEN bytes
 * without NUL. With `numeric` (object ids) the integer must be non-negative and the string all decimal digits.
 */
static bool id_text(const json_t *v, bool numeric, char *out)
{
    wh_str_t s;

    if (json_is_integer(v)) {
        if (numeric && json_integer_value(v) < 0)
            return false;
        snprintf(out, WH_MAX_ID_LEN + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    if (!json_is_string(v))
        return false;
    s = wh_pjson_str(v);
    if (s.len == 0 || s.len > WH_MAX_ID_LEN || memchr(s.base, '\0', s.len) != NULL)
        return false;
    if (numeric)
        for (size_t i = 0; i != s.len; ++i)
            if (s.base[i] < '0' || s.base[i] > '9')
                return false;
    memcpy(out, s.base, s.len);
    out[s.len] = '\0';
    return true;
}

/* An id member (see id_text) into `out`. Absent: out = "" and WH_OK unless `required`. */
static wh_err_t read_id(const json_t *ev, size_t index, const char *key, bool numeric, bool required, char *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(ev, key);

    out[0] = '\0';
    if (v == NULL)
        return required ? wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s missing", index, key) : WH_OK;
    if (!id_text(v, numeric, out))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s must be %s", index, key,
                       numeric ? "a non-negative integer or a numeric string" : "an integer or a non-empty string");
    return WH_OK;
}

/* A required non-negative integer member (portalId, occurredAt). */
static wh_err_t read_count(const json_t *ev, size_t index, const char *key, int64_t *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(ev, key);

    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s missing", index, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s must be a non-negative integer", index, key);
    *out = json_integer_value(v);
    return WH_OK;
}

/* An optional boolean member; absent is false. */
static wh_err_t read_flag(const json_t *ev, size_t index, const char *key, bool *out, char *errbuf)
{
    const json_t *v = wh_pjson_member(ev, key);

    *out = false;
    if (v == NULL)
        return WH_OK;
    if (!json_is_boolean(v))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s must be a boolean", index, key);
    *out = json_is_true(v);
    return WH_OK;
}

/* The canonical static name: the wh_object_types row for unified types, the literal otherwise. */
static const char *canonical_type(const char *name)
{
    const wh_object_type_t *t = wh_object_type_find(wh_str_c(name));
    return t != NULL ? t->name : name;
}

/* "<digits>-<digits>", as HubSpot writes object type ids ("0-1", "2-3456789"). */
static bool is_type_id(wh_str_t s)
{
    const char *dash;

    if (s.len < 3 || s.len > TYPE_NAME_MAX)
        return false;
    dash = memchr(s.base, '-', s.len);
    if (dash == NULL || dash == s.base || dash == s.base + s.len - 1)
        return false;
    for (size_t i = 0; i != s.len; ++i)
        if (s.base + i != dash && (s.base[i] < '0' || s.base[i] > '9'))
            return false;
    return true;
}

static wh_err_t resolve_object_type_id(const json_t *ev, event_t *e, char *errbuf)
{
    const json_t *v = wh_pjson_member(ev, "objectTypeId");
    wh_str_t id;

    /* UNCONFIRMED: generic association events may name the type per side only; the "from" side is this event's. */
    if (v == NULL && e->kind == KIND_ASSOCIATION)
        v = wh_pjson_member(ev, "fromObjectTypeId");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: objectTypeId missing", e->index);
    if (!json_is_string(v) || !is_type_id(wh_pjson_str(v)))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: objectTypeId must be a string like \"0-1\"", e->index);
    id = wh_pjson_str(v);
    for (size_t k = 0; k != sizeof(object_type_ids) / sizeof(object_type_ids[0]); ++k) {
        if (wh_str_eq(id, wh_str_c(object_type_ids[k].id))) {
            e->object_type = canonical_type(object_type_ids[k].object_type);
            return WH_OK;
        }
    }
    e->object_type = GENERIC_OBJECT_TYPE;
    e->object_type_id = id;
    return WH_OK;
}

/* subscriptionType ("contact.creation", "object.merge") -> object type and action. */
static wh_err_t resolve_type(const json_t *ev, event_t *e, char *errbuf)
{
    const char *dot = e->type.len <= TYPE_NAME_MAX ? memchr(e->type.base, '.', e->type.len) : NULL;
    wh_str_t prefix, suffix;
    bool found = false;

    if (dot == NULL)
        goto Unknown;
    prefix = wh_str(e->type.base, (size_t)(dot - e->type.base));
    suffix = wh_str(dot + 1, e->type.len - prefix.len - 1);
    for (size_t k = 0; k != sizeof(actions) / sizeof(actions[0]) && !found; ++k) {
        if (wh_str_eq(suffix, wh_str_c(actions[k].suffix))) {
            e->kind = actions[k].kind;
            e->action = actions[k].action;
            e->thin = actions[k].thin;
            found = true;
        }
    }
    if (!found)
        goto Unknown;
    /* HubSpot sends privacy deletions for contacts only, and never as a generic subscription. */
    if (e->kind == KIND_PRIVACY_DELETION && !wh_str_eq(prefix, WH_STRLIT("contact")))
        goto Unknown;
    if (wh_str_eq(prefix, WH_STRLIT("object")))
        return resolve_object_type_id(ev, e, errbuf);
    for (size_t k = 0; k != sizeof(prefixes) / sizeof(prefixes[0]); ++k) {
        if (wh_str_eq(prefix, wh_str_c(prefixes[k].prefix))) {
            e->object_type = canonical_type(prefixes[k].object_type);
            return WH_OK;
        }
    }
Unknown:
    if (wh_pjson_echoable(e->type))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: unknown subscriptionType \"%.*s\"", e->index, (int)e->type.len,
                       e->type.base);
    return wh_errf(errbuf, WH_EMALFORMED, "event %zu: unknown subscriptionType", e->index);
}

/* Reads and checks every member the change needs, before anything is written to `out`. */
static wh_err_t read_event(const json_t *ev, event_t *e, char *errbuf)
{
    const json_t *v;
    int64_t portal = 0; /* set by read_count on success; initialized for the compiler's flow analysis */
    wh_err_t err;

    if (!json_is_object(ev))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: not an object", e->index);

    /* Current deliveries say subscriptionType; older ones (and HubSpot's own docs example) say eventType. */
    v = wh_pjson_member(ev, "subscriptionType");
    if (v == NULL)
        v = wh_pjson_member(ev, "eventType");
    if (v == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: subscriptionType missing", e->index);
    if (!json_is_string(v))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: subscriptionType must be a string", e->index);
    e->type = wh_pjson_str(v);
    err = resolve_type(ev, e, errbuf);
    if (err != WH_OK)
        return err;

    /*
     * The object: objectId, except that a merge names the surviving record in primaryObjectId and an
     * association event may carry only fromObjectId/toObjectId (this event's object is the "from" side).
     */
    err = read_id(ev, e->index, "objectId", true, e->kind != KIND_MERGE && e->kind != KIND_ASSOCIATION, e->object_id, errbuf);
    if (err != WH_OK)
        return err;
    if (e->kind == KIND_MERGE) {
        char primary[WH_MAX_ID_LEN + 1];
        err = read_id(ev, e->index, "primaryObjectId", true, false, primary, errbuf);
        if (err == WH_OK)
            err = read_id(ev, e->index, "newObjectId", true, false, e->new_object_id, errbuf);
        if (err != WH_OK)
            return err;
        if (primary[0] != '\0')
            memcpy(e->object_id, primary, sizeof(primary));
    } else if (e->kind == KIND_ASSOCIATION) {
        err = read_id(ev, e->index, "fromObjectId", true, true, e->from_object_id, errbuf);
        if (err == WH_OK)
            err = read_id(ev, e->index, "toObjectId", true, true, e->to_object_id, errbuf);
        if (err != WH_OK)
            return err;
        if (e->object_id[0] == '\0')
            memcpy(e->object_id, e->from_object_id, sizeof(e->from_object_id));
    }
    if (e->object_id[0] == '\0')
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: objectId missing", e->index);

    err = read_count(ev, e->index, "portalId", &portal, errbuf);
    if (err == WH_OK)
        err = read_count(ev, e->index, "occurredAt", &e->occurred_at, errbuf);
    if (err == WH_OK)
        err = read_id(ev, e->index, "eventId", false, true, e->event_id, errbuf);
    if (err == WH_OK)
        err = read_id(ev, e->index, "subscriptionId", false, false, e->subscription_id, errbuf);
    if (err != WH_OK)
        return err;
    snprintf(e->account, sizeof(e->account), "%lld", (long long)portal);

    if (e->kind == KIND_PROPERTY_CHANGE) {
        v = wh_pjson_member(ev, "propertyName");
        if (v == NULL)
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: propertyName missing", e->index);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > WH_FIELDMAP_MAX_PROPERTY ||
            memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: propertyName must be a non-empty string of at most %d bytes",
                           e->index, WH_FIELDMAP_MAX_PROPERTY);
        e->property = wh_pjson_str(v);
    }

    if (e->kind == KIND_ASSOCIATION) {
        v = wh_pjson_member(ev, "associationType");
        if (v != NULL && !json_is_string(v))
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: associationType must be a string", e->index);
        if (v == NULL)
            err = read_id(ev, e->index, "associationTypeId", false, false, e->association_type, errbuf);
        else
            err = read_id(ev, e->index, "associationType", false, false, e->association_type, errbuf);
        if (err == WH_OK)
            err = read_flag(ev, e->index, "associationRemoved", &e->association_removed, errbuf);
        if (err == WH_OK)
            err = read_flag(ev, e->index, "isPrimaryAssociation", &e->association_primary, errbuf);
        if (err != WH_OK)
            return err;
    }
    return WH_OK;
}

/*
 * HubSpot says eventId is not guaranteed unique, so the key covers everything that identifies one event
 * across redeliveries (README §14): portal, subscription, event id, object, type, property, time; for
 * association events also the other side, the association type and the added/removed flag, so that
 * several associations changed in one millisecond never collapse into one.
 */
static void dedupe_key(const event_t *e, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    char occurred[24];
    wh_str_t parts[WH_SIG_MAX_KEY_PARTS];
    size_t n = 0;

    snprintf(occurred, sizeof(occurred), "%lld", (long long)e->occurred_at);
    parts[n++] = WH_STRLIT("hubspot/v1");
    parts[n++] = wh_str_c(e->account);
    parts[n++] = wh_str_c(e->subscription_id);
    parts[n++] = wh_str_c(e->event_id);
    parts[n++] = wh_str_c(e->object_id);
    parts[n++] = e->type;
    parts[n++] = e->property;
    parts[n++] = wh_str_c(occurred);
    if (e->kind == KIND_ASSOCIATION) {
        parts[n++] = wh_str_c(e->to_object_id);
        parts[n++] = wh_str_c(e->association_type);
        parts[n++] = e->association_removed ? WH_STRLIT("1") : WH_STRLIT("0");
    }
    wh_sig_dedupe_key(parts, n, out);
}

/* extra for a merge: {"mergedIds": ["…"], "newObjectId": "…"} (ids as strings, like objectId). */
static wh_err_t merge_extra(const json_t *ev, const event_t *e, json_t *extra, char *errbuf)
{
    const json_t *list = wh_pjson_member(ev, "mergedObjectIds"), *v;
    json_t *ids = wh_pjson_must(json_array());
    char id[WH_MAX_ID_LEN + 1];
    size_t i;

    json_object_set_new(extra, "mergedIds", ids);
    if (e->new_object_id[0] != '\0')
        json_object_set_new(extra, "newObjectId", wh_pjson_must(json_string(e->new_object_id)));
    if (list != NULL && !json_is_array(list))
        return wh_errf(errbuf, WH_EMALFORMED, "event %zu: mergedObjectIds must be an array", e->index);
    json_array_foreach(list, i, v)
    {
        if (!id_text(v, true, id))
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: mergedObjectIds[%zu] must be an object id", e->index, i);
        json_array_append_new(ids, wh_pjson_must(json_string(id)));
    }
    return WH_OK;
}

/* Scalars passed through from generic association events when present and of the expected type. */
static void copy_scalar(const json_t *ev, const char *key, json_t *extra)
{
    const json_t *v = wh_pjson_member(ev, key);

    if (json_is_string(v) || json_is_integer(v))
        json_object_set_new(extra, key, wh_pjson_must(json_deep_copy(v)));
}

/* The unified type of an objectTypeId member from object_type_ids, or NULL. */
static const char *type_of_type_id(const json_t *v)
{
    for (size_t k = 0; json_is_string(v) && k != sizeof(object_type_ids) / sizeof(object_type_ids[0]); ++k)
        if (wh_str_eq(wh_pjson_str(v), wh_str_c(object_type_ids[k].id)))
            return wh_object_type_find(wh_str_c(object_type_ids[k].object_type)) != NULL ? object_type_ids[k].object_type : NULL;
    return NULL;
}

/*
 * The unified association (a wh_associations row) an association event changes, and whether its child is the
 * event's "from" side; NULL when there is none. The sides' types come from fromObjectTypeId/toObjectTypeId when both
 * are given, else from associationType (association_types). Labels a user or an integrator defined
 * (associationCategory other than HUBSPOT_DEFINED) come and go alongside the CRM's own association, so they are not
 * taken as moving the reference.
 */
static const wh_association_t *unified_association(const json_t *ev, bool *child_is_from)
{
    const json_t *type = wh_pjson_member(ev, "associationType"), *category = wh_pjson_member(ev, "associationCategory");
    const json_t *from_id = wh_pjson_member(ev, "fromObjectTypeId"), *to_id = wh_pjson_member(ev, "toObjectTypeId");
    const char *from = NULL, *to = NULL;

    if (category != NULL && !(json_is_string(category) && wh_str_eq(wh_pjson_str(category), WH_STRLIT("HUBSPOT_DEFINED"))))
        return NULL;
    if (from_id != NULL && to_id != NULL) {
        from = type_of_type_id(from_id);
        to = type_of_type_id(to_id);
    } else if (json_is_string(type)) {
        for (size_t k = 0; k != sizeof(association_types) / sizeof(association_types[0]); ++k) {
            if (wh_str_eq(wh_pjson_str(type), wh_str_c(association_types[k].name))) {
                from = association_types[k].from;
                to = association_types[k].to;
            }
        }
    }
    if (from == NULL || to == NULL)
        return NULL;
    for (size_t i = 0; i != wh_associations_count; ++i) {
        const wh_association_t *as = &wh_associations[i];
        if (strcmp(as->child_type, from) == 0 && strcmp(as->parent_type, to) == 0) {
            *child_is_from = true;
            return as;
        }
        if (strcmp(as->child_type, to) == 0 && strcmp(as->parent_type, from) == 0) {
            *child_is_from = false;
            return as;
        }
    }
    return NULL;
}

/*
 * extra for an association: {associationType, fromObjectId, toObjectId, associationRemoved, isPrimaryAssociation},
 * plus, when it changes a unified association, "association": {childType, childId, field, parentType, parentId,
 * removed}, which the cache applies as a write of the child's reference field (cache/README.md).
 */
static void association_extra(const json_t *ev, const event_t *e, json_t *extra)
{
    const json_t *type = wh_pjson_member(ev, "associationType"); /* a string when present (read_event checked) */
    bool child_is_from = false;
    const wh_association_t *as = unified_association(ev, &child_is_from);

    json_object_set_new(extra, "associationType", type != NULL ? wh_pjson_must(json_deep_copy(type)) : json_null());
    json_object_set_new(extra, "fromObjectId", wh_pjson_must(json_string(e->from_object_id)));
    json_object_set_new(extra, "toObjectId", wh_pjson_must(json_string(e->to_object_id)));
    json_object_set_new(extra, "associationRemoved", json_boolean(e->association_removed));
    json_object_set_new(extra, "isPrimaryAssociation", json_boolean(e->association_primary));
    copy_scalar(ev, "associationTypeId", extra);
    copy_scalar(ev, "associationCategory", extra);
    copy_scalar(ev, "fromObjectTypeId", extra);
    copy_scalar(ev, "toObjectTypeId", extra);
    if (as != NULL)
        json_object_set_new(
            extra, "association",
            wh_pjson_must(json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "childType", as->child_type, "childId",
                                    child_is_from ? e->from_object_id : e->to_object_id, "field", as->field, "parentType",
                                    as->parent_type, "parentId", child_is_from ? e->to_object_id : e->from_object_id, "removed",
                                    e->association_removed)));
}

static wh_err_t parse_event(const json_t *ev, size_t index, wh_changes_t *out, char *errbuf)
{
    event_t e;
    wh_change_t *c;
    json_t *extra = NULL;
    wh_err_t err;

    memset(&e, 0, sizeof(e));
    e.index = index;
    err = read_event(ev, &e, errbuf);
    if (err != WH_OK)
        return err;

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d events", WH_MAX_BATCH);
    c->object_type = e.object_type;
    c->action = e.action;
    c->thin = e.thin;
    c->occurred_at_ms = e.occurred_at;
    memcpy(c->object_id, e.object_id, sizeof(c->object_id));
    memcpy(c->account, e.account, sizeof(c->account));
    memcpy(c->provider_event_id, e.event_id, sizeof(c->provider_event_id));
    dedupe_key(&e, c->dedupe_key);
    c->fields = wh_pjson_must(json_object());

    if (e.kind == KIND_PROPERTY_CHANGE) {
        const json_t *value = wh_pjson_member(ev, "propertyValue");
        char name[WH_FIELDMAP_NAME_CAP];

        c->changed_fields = wh_pjson_must(json_array());
        /* HubSpot sends the new value as a string; an absent or null value (a cleared property) is JSON null. */
        err = wh_fieldmap_put(&wh_fieldmap_hubspot, e.object_type, e.property,
                              value != NULL ? json_incref((json_t *)value) : json_null(), c->fields, name);
        if (err != WH_OK)
            return wh_errf(errbuf, WH_EMALFORMED, "event %zu: propertyName is not usable as a field name", index);
        json_array_append_new(c->changed_fields, wh_pjson_must(json_string(name)));
    }

    if (e.kind == KIND_MERGE || e.kind == KIND_ASSOCIATION || e.kind == KIND_PRIVACY_DELETION || e.object_type_id.base != NULL)
        extra = c->extra = wh_pjson_must(json_object());
    if (e.kind == KIND_MERGE)
        err = merge_extra(ev, &e, extra, errbuf);
    else if (e.kind == KIND_ASSOCIATION)
        association_extra(ev, &e, extra);
    else if (e.kind == KIND_PRIVACY_DELETION)
        json_object_set_new(extra, "privacyDeletion", json_true());
    if (err == WH_OK && e.object_type_id.base != NULL)
        json_object_set_new(extra, "objectTypeId", wh_pjson_must(json_stringn(e.object_type_id.base, e.object_type_id.len)));
    return err;
}

/*
 * The body is parsed with JSON_ALLOW_NUL: a property value holding U+0000 is odd but is HubSpot's data, and
 * refusing it would fail the whole batch (HubSpot then retries it for a day and drops it). Ids and names that
 * hold NUL are refused where they are read. Duplicate keys are tolerated (the last one wins), for the same reason.
 */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    json_error_t jerr;
    json_t *root, *ev;
    wh_err_t err = WH_OK;
    size_t i;

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
    if (!json_is_array(root)) {
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a JSON array of events");
        goto Exit;
    }
    if (json_array_size(root) == 0) {
        err = wh_errf(errbuf, WH_EMALFORMED, "empty batch");
        goto Exit;
    }
    if (json_array_size(root) > WH_MAX_BATCH) {
        err = wh_errf(errbuf, WH_ETOO_LARGE, "batch of %zu events, more than %d", json_array_size(root), WH_MAX_BATCH);
        goto Exit;
    }
    json_array_foreach(root, i, ev)
    {
        err = parse_event(ev, i, out, errbuf);
        if (err != WH_OK)
            goto Exit;
    }
Exit:
    json_decref(root);
    return err;
}

const wh_provider_t wh_provider_hubspot = {
    .name = "hubspot",
    .flags = WH_PROVIDER_APP_LEVEL,
    .content_type = "application/json",
    .check_credentials = check_credentials,
    .handshake = NULL, /* HubSpot has no handshake: its first request is already an event batch (README §3.3) */
    .verify = verify,
    .parse = parse,
    .success = NULL, /* any 2xx within 5 s satisfies HubSpot and it ignores the body: the default 202 {"accepted":N} */
    .refusal = NULL, /* HubSpot reads only the status: the JSON error body is fine */
};
