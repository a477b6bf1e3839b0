/*
 * /v1/subscriptions: create, list, get, delete (design §6, §7).
 *
 * A subscription is one JSON object in the hash wh:subs:{e:<env>} (queue/keys.h), keyed by its id, with
 * exactly the members the worker reads: subscriptionId, url, eventTypes, connectionIds (only when given),
 * secret (sealed), description, status, maxConcurrency, rateLimitPerSecond, ordered, createdAt.
 * The plain signing secret is shown once, in the 201 answer; reads never show it.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/secret.h"
#include "../common/time.h"
#include "../queue/keys.h"
#include "api.h"

/* Longest eventTypes entry: the longest real type (system.connection.status.updated) is 32. */
#define EVENT_TYPE_MAX 128
/* connectionIds per subscription: a filter for a few connections; more is an environment-wide one. */
#define CONNECTION_IDS_MAX 100
/* Characters of a description. */
#define DESCRIPTION_MAX 512
/* Highest maxConcurrency: beyond it one endpoint would take a worker's whole in-flight budget. */
#define CONCURRENCY_MAX 256
/* Signing secrets: Standard Webhooks keys are 24 to 64 bytes; wharf generates 24 (as Svix does). */
#define SECRET_MIN 24
#define SECRET_MAX 64
#define SECRET_GENERATED 24
#define SECRET_PREFIX "whsec_"
#define SECRET_TEXT_MAX (sizeof(SECRET_PREFIX) - 1 + 4 * ((SECRET_MAX + 2) / 3) + 1)

/* ---- validation ---- */

static bool url_valid(const char *url, size_t len, bool allow_http, char *errbuf)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL; /* owned by libcurl: curl_free */
    bool ok = false;

    if (len > WH_MAX_URL_LEN) {
        wh_errf(errbuf, WH_EINVAL, "url: longer than %d bytes", WH_MAX_URL_LEN);
        goto Exit;
    }
    u = curl_url();
    if (u == NULL)
        abort();
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        wh_errf(errbuf, WH_EINVAL, "url: must be an absolute URL with a host");
        goto Exit;
    }
    for (const char *c = host; *c != '\0'; ++c) {
        if ((unsigned char)*c >= 0x80) {
            /* curl here has no IDN support: such a host could never be reached */
            wh_errf(errbuf, WH_EINVAL, "url: an international host name must be given in its ASCII (punycode) form");
            goto Exit;
        }
    }
    /* Plain http only where private destinations are allowed too (tests, development). */
    if (strcasecmp(scheme, "https") != 0 && !(allow_http && strcasecmp(scheme, "http") == 0)) {
        wh_errf(errbuf, WH_EINVAL, allow_http ? "url: must use http or https" : "url: must use https");
        goto Exit;
    }
    ok = true;
Exit:
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ok;
}

/* Segment bytes: a provider's own object type reads "<provider>:<native>" with [a-z0-9_-] (common/unified.h). */
static bool segment_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '-';
}

/* "*"; an exact type of >= 2 dot-separated [a-z0-9_:-]+ segments; or a prefix of >= 1 segments followed by ".*". */
static bool event_type_valid(const char *s, size_t len)
{
    size_t segments = 0, seg_len = 0;
    bool prefix;

    if (len == 1 && s[0] == '*')
        return true;
    if (len > EVENT_TYPE_MAX)
        return false;
    prefix = len >= 2 && s[len - 2] == '.' && s[len - 1] == '*';
    if (prefix)
        len -= 2;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '.') {
            if (seg_len == 0)
                return false;
            ++segments;
            seg_len = 0;
        } else if (segment_char(s[i])) {
            ++seg_len;
        } else {
            return false;
        }
    }
    if (seg_len == 0)
        return false;
    ++segments;
    return segments >= (prefix ? 1u : 2u);
}

/* eventTypes: 1..WH_MAX_EVENT_TYPES valid entries. */
static bool event_types_valid(const json_t *types, char *errbuf)
{
    size_t i;
    json_t *v;

    if (types == NULL || json_is_null(types)) {
        wh_errf(errbuf, WH_EINVAL, "eventTypes: required");
        return false;
    }
    if (!json_is_array(types) || json_array_size(types) == 0 || json_array_size(types) > WH_MAX_EVENT_TYPES) {
        wh_errf(errbuf, WH_EINVAL, "eventTypes: must be an array of 1 to %d event types", WH_MAX_EVENT_TYPES);
        return false;
    }
    json_array_foreach(types, i, v)
    {
        if (!json_is_string(v) || !event_type_valid(json_string_value(v), json_string_length(v))) {
            wh_errf(errbuf, WH_EINVAL, "eventTypes[%zu]: must be an event type or a prefix ending in .*", i);
            return false;
        }
    }
    return true;
}

/* connectionIds: absent, or 1..CONNECTION_IDS_MAX ids. Their existence is not checked (they may come later). */
static bool connection_ids_valid(const json_t *ids, char *errbuf)
{
    size_t i;
    json_t *v;

    if (ids == NULL || json_is_null(ids))
        return true;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > CONNECTION_IDS_MAX) {
        wh_errf(errbuf, WH_EINVAL, "connectionIds: must be an array of 1 to %d connection ids (omit it for all connections)",
                CONNECTION_IDS_MAX);
        return false;
    }
    json_array_foreach(ids, i, v)
    {
        if (!json_is_string(v) || !wh_api__id_valid(wh_str(json_string_value(v), json_string_length(v)))) {
            wh_errf(errbuf, WH_EINVAL, "connectionIds[%zu]: must be a connection id", i);
            return false;
        }
    }
    return true;
}

/* secret: "whsec_" + standard base64 of SECRET_MIN..SECRET_MAX bytes; generated when absent. */
static bool get_secret(const json_t *body, char out[SECRET_TEXT_MAX], char *errbuf)
{
    const size_t plen = sizeof(SECRET_PREFIX) - 1;
    uint8_t raw[SECRET_MAX + 2]; /* wh_base64_decode wants 3 * (len / 4) bytes */
    const char *given = NULL;
    int got = wh_api__get_string(body, "secret", 1, SIZE_MAX, &given, errbuf);
    long n = -1;

    if (got < 0)
        return false;
    if (got == 0) {
        wh_random_bytes(raw, SECRET_GENERATED);
        memcpy(out, SECRET_PREFIX, plen);
        wh_base64_encode(raw, SECRET_GENERATED, out + plen);
        return true;
    }
    if (strlen(given) < SECRET_TEXT_MAX && strncmp(given, SECRET_PREFIX, plen) == 0)
        n = wh_base64_decode(wh_str_c(given + plen), raw, sizeof(raw));
    if (n < SECRET_MIN || n > SECRET_MAX) {
        wh_errf(errbuf, WH_EINVAL, "secret: must be \"whsec_\" followed by the base64 of %d to %d bytes", SECRET_MIN, SECRET_MAX);
        return false;
    }
    memcpy(out, given, strlen(given) + 1); /* fits: shorter than SECRET_TEXT_MAX, checked above */
    return true;
}

/* The subscription as stored and answered, its `secret` member still to be set; NULL with errbuf if invalid. */
static json_t *parse_subscription(const json_t *body, const wh_config_t *cfg, const char *id, const char *created_at, char *errbuf)
{
    static const char *const fields[] = {
        "url", "eventTypes", "connectionIds", "secret", "description", "maxConcurrency", "rateLimitPerSecond", "ordered", NULL};
    const char *url = NULL, *description = "";
    json_t *types = json_object_get(body, "eventTypes"), *ids = json_object_get(body, "connectionIds"), *sub;
    long long concurrency = WH_DEFAULT_SUB_CONCURRENCY, rate = 0;
    bool ordered = false;
    int got;

    if (!wh_api__only_fields(body, fields, "", errbuf))
        return NULL;
    got = wh_api__get_string(body, "url", 1, WH_MAX_URL_LEN, &url, errbuf);
    if (got < 0)
        return NULL;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "url: required");
        return NULL;
    }
    if (!url_valid(url, strlen(url), cfg->allow_private_destinations, errbuf) || !event_types_valid(types, errbuf) ||
        !connection_ids_valid(ids, errbuf) ||
        wh_api__get_string(body, "description", 0, DESCRIPTION_MAX, &description, errbuf) < 0 ||
        wh_api__get_int(body, "maxConcurrency", 1, CONCURRENCY_MAX, &concurrency, errbuf) < 0 ||
        wh_api__get_int(body, "rateLimitPerSecond", 1, INT32_MAX, &rate, errbuf) < 0 ||
        wh_api__get_bool(body, "ordered", &ordered, errbuf) < 0)
        return NULL;

    /* Member order is the documented one; jansson keeps insertion order. */
    sub = json_pack("{s:s, s:s, s:O}", "subscriptionId", id, "url", url, "eventTypes", types);
    if (sub == NULL)
        return NULL;
    if (ids != NULL && !json_is_null(ids))
        json_object_set(sub, "connectionIds", ids);
    json_object_set_new(sub, "secret", json_null());
    json_object_set_new(sub, "description", json_string(description));
    json_object_set_new(sub, "status", json_string("active"));
    json_object_set_new(sub, "maxConcurrency", json_integer(concurrency));
    json_object_set_new(sub, "rateLimitPerSecond", rate > 0 ? json_integer(rate) : json_null());
    json_object_set_new(sub, "ordered", json_boolean(ordered));
    json_object_set_new(sub, "createdAt", json_string(created_at));
    return sub;
}

/* ---- POST /v1/subscriptions ---- */

typedef struct {
    wh_api_call_t call;
    char sub_id[WH_API_ID_MAX + 1];
    json_t *answer; /* owned: the subscription with its plain secret */
    char *stored;   /* owned: the JSON text stored, secret sealed */
} sub_create_t;

/* sub_create.lua's answer: 1 stored, 0 id taken, -1 the environment is full. */
static void on_stored(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sub_create_t *s = data;
    json_t *answer;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_INTEGER) {
        wh_api__reply_internal(&s->call, "sub_create: unexpected reply");
        return;
    }
    if (reply->integer < 0) {
        /* The worker matches an environment's subscriptions in memory, so their number is bounded. */
        wh_api__reply_error(&s->call, 403, "subscription_limit_reached", "an environment has at most %d subscriptions",
                            WH_MAX_SUBSCRIPTIONS_PER_ENV);
        return;
    }
    if (reply->integer != 1) {
        /* 96 random bits collided with an existing id. Never overwrite a subscription. */
        wh_api__reply_internal(&s->call, "subscription id collision");
        return;
    }
    answer = s->answer;
    s->answer = NULL;
    wh_api__reply_json(&s->call, 201, answer);
}

static void sub_create_start(wh_api_call_t *call)
{
    sub_create_t *s = (sub_create_t *)call;
    char errbuf[WH_ERRBUF_SIZE], created_at[WH_ISO8601_LEN], secret[SECRET_TEXT_MAX], key[WH_KEY_MAX];
    char *sealed = NULL; /* owned */
    char bound[16];
    const char *argv[4] = {key, s->sub_id, NULL, bound};
    wh_err_t err;

    wh_random_id("sub_", 12, s->sub_id, sizeof(s->sub_id));
    wh_iso8601(wh_now_ms(), created_at);
    s->answer = parse_subscription(call->body, call->cfg, s->sub_id, created_at, errbuf);
    if (s->answer == NULL) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    if (!get_secret(call->body, secret, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    /* Sealed for this subscription id: a blob copied onto another subscription does not open. */
    err = wh_secret_seal(call->cfg, wh_str_c(s->sub_id), wh_str_c(secret), &sealed);
    if (err == WH_EUNSUPPORTED) {
        wh_api__reply_error(call, 500, "secrets_unavailable",
                            "WHARF_MASTER_KEY is not set (or set WHARF_INSECURE_DEV=1 for development)");
        return;
    }
    if (err != WH_OK) {
        wh_api__reply_internal(call, "sealing the secret failed");
        return;
    }
    json_object_set_new(s->answer, "secret", json_string(sealed));
    s->stored = json_dumps(s->answer, JSON_COMPACT);
    free(sealed);
    json_object_set_new(s->answer, "secret", json_string(secret));
    if (s->stored == NULL) {
        wh_api__reply_internal(call, "json_dumps failed");
        return;
    }
    wh_key_subs(key, call->env);
    snprintf(bound, sizeof(bound), "%d", WH_MAX_SUBSCRIPTIONS_PER_ENV);
    argv[2] = s->stored;
    wh_api__script(call, &wh_script_sub_create, on_stored, 1, 4, argv, NULL);
}

static void sub_create_dispose(wh_api_call_t *call)
{
    sub_create_t *s = (sub_create_t *)call;

    free(s->stored);
    json_decref(s->answer);
}

const wh_api_op_t wh_api__sub_create = {sub_create_start, sub_create_dispose, sizeof(sub_create_t), true};

/* ---- reading ---- */

/* A stored subscription as reads show it (no secret), or NULL if the stored text is not one. */
static json_t *readable(const char *text, size_t len)
{
    json_t *sub = json_loadb(text, len, 0, NULL);

    if (sub == NULL || !json_is_object(sub)) {
        json_decref(sub);
        return NULL;
    }
    json_object_del(sub, "secret");
    json_object_del(sub, "previousSecret");
    {
        /* stored as ms text (Lua's cjson would print a large number in exponent form); shown as ISO 8601 */
        long long until = 0;
        json_t *v = json_object_get(sub, "previousSecretUntil");
        if (json_is_string(v) && wh_str_to_i64(wh_str_c(json_string_value(v)), &until) && until > wh_now_ms()) {
            char iso[WH_ISO8601_LEN];
            wh_iso8601(until, iso);
            json_object_set_new(sub, "previousSecretValidUntil", json_string(iso));
        }
        json_object_del(sub, "previousSecretUntil");
    }
    return sub;
}

static const char *member_str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s != NULL ? s : "";
}

static int by_created_then_id(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(member_str(x, "createdAt"), member_str(y, "createdAt"));

    return c != 0 ? c : strcmp(member_str(x, "subscriptionId"), member_str(y, "subscriptionId"));
}

static void on_listed(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_api_call_t *call = data;
    json_t **subs = NULL, *list; /* subs: owned array of owned objects until appended */
    size_t n = 0;

    if (!wh_api__reply_usable(call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        wh_api__reply_internal(call, "HGETALL: unexpected reply");
        return;
    }
    subs = calloc(reply->elements / 2 + 1, sizeof(*subs));
    if (subs == NULL)
        abort();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *v = reply->element[i + 1];
        json_t *sub = v->type == REDIS_REPLY_STRING ? readable(v->str, (size_t)v->len) : NULL;
        if (sub == NULL) {
            wh_log_warn("api_subscription_unreadable", "{s:s}", "env", call->env);
            continue;
        }
        subs[n++] = sub;
    }
    /* A hash has no order; creation order (then id) makes the listing stable. */
    qsort(subs, n, sizeof(*subs), by_created_then_id);
    list = json_array();
    for (size_t i = 0; i != n; ++i)
        json_array_append_new(list, subs[i]);
    free(subs);
    wh_api__reply_json(call, 200, json_pack("{s:o}", "subscriptions", list));
}

static void sub_list_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};
    size_t argvlen[2] = {7, (size_t)wh_key_subs(key, call->env)};

    wh_api__command(call, on_listed, 2, argv, argvlen);
}

const wh_api_op_t wh_api__sub_list = {sub_list_start, NULL, sizeof(wh_api_call_t), false};

/*
 * Answers a reply that holds one stored subscription (HGET, or a script returning it): 200 with it as clients
 * see it (plus `secret` when given: shown once), 404 when there was none. Finishes the call.
 */
static void reply_subscription(wh_api_call_t *call, const redisReply *reply, wh_err_t err, const char *secret)
{
    json_t *sub;

    if (!wh_api__reply_usable(call, reply, err))
        return;
    if (reply->type == REDIS_REPLY_NIL) {
        wh_api__reply_error(call, 404, "not_found", "no such subscription");
        return;
    }
    sub = reply->type == REDIS_REPLY_STRING ? readable(reply->str, (size_t)reply->len) : NULL;
    if (sub == NULL) {
        wh_api__reply_internal(call, "stored subscription is not a JSON object");
        return;
    }
    if (secret != NULL)
        json_object_set_new(sub, "secret", json_string(secret));
    wh_api__reply_json(call, 200, sub);
}

static void on_got(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    reply_subscription(data, reply, err, NULL);
}

/* The environment's own hash is the only place looked at: another environment's id is simply not found. */
static void sub_get_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX];
    const char *argv[3] = {"HGET", key, call->id};
    size_t argvlen[3] = {4, (size_t)wh_key_subs(key, call->env), strlen(call->id)};

    wh_api__command(call, on_got, 3, argv, argvlen);
}

const wh_api_op_t wh_api__sub_get = {sub_get_start, NULL, sizeof(wh_api_call_t), false};

/* ---- DELETE /v1/subscriptions/{id} ---- */

static void on_deleted(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_api_call_t *call = data;

    if (!wh_api__reply_usable(call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_INTEGER) {
        wh_api__reply_internal(call, "HDEL: unexpected reply");
        return;
    }
    if (reply->integer == 0) {
        wh_api__reply_error(call, 404, "not_found", "no such subscription");
        return;
    }
    wh_api__reply_no_content(call);
}

static void sub_delete_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX];
    const char *argv[3] = {"HDEL", key, call->id};
    size_t argvlen[3] = {4, (size_t)wh_key_subs(key, call->env), strlen(call->id)};

    wh_api__command(call, on_deleted, 3, argv, argvlen);
}

const wh_api_op_t wh_api__sub_delete = {sub_delete_start, NULL, sizeof(wh_api_call_t), false};

/* ---- POST /v1/subscriptions/{id}/enable ---- */

static void on_enabled(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    reply_subscription(data, reply, err, NULL);
}

/* Idempotent: enabling an active subscription answers it unchanged (and forgets any failure streak). */
static void sub_enable_start(wh_api_call_t *call)
{
    char subs[WH_KEY_MAX], fail[WH_KEY_MAX];
    const char *argv[3] = {subs, fail, call->id};

    wh_key_subs(subs, call->env);
    wh_key_subfail(fail, call->env);
    wh_api__script(call, &wh_script_sub_status, on_enabled, 2, 3, argv, NULL);
}

const wh_api_op_t wh_api__sub_enable = {sub_enable_start, NULL, sizeof(wh_api_call_t), false};

/* ---- POST /v1/subscriptions/{id}/rotate-secret ---- */

typedef struct {
    wh_api_call_t call;
    char secret[SECRET_TEXT_MAX];
} sub_rotate_t;

static void on_rotated(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sub_rotate_t *s = data;
    reply_subscription(&s->call, reply, err, s->secret);
}

/*
 * A new generated secret, shown once in the answer; the previous one keeps signing (a second signature in
 * webhook-signature) for WHARF_ROTATION_OVERLAP. Takes no body.
 */
static void sub_rotate_start(wh_api_call_t *call)
{
    sub_rotate_t *s = (sub_rotate_t *)call;
    char key[WH_KEY_MAX], until[24], errbuf[WH_ERRBUF_SIZE];
    char *sealed = NULL;
    const char *argv[4];
    wh_err_t err;

    if (!get_secret(NULL, s->secret, errbuf)) {
        wh_api__reply_internal(call, "generating a secret failed");
        return;
    }
    err = wh_secret_seal(call->cfg, wh_str_c(call->id), wh_str_c(s->secret), &sealed);
    if (err == WH_EUNSUPPORTED) {
        wh_api__reply_error(call, 500, "secrets_unavailable",
                            "WHARF_MASTER_KEY is not set (or set WHARF_INSECURE_DEV=1 for development)");
        return;
    }
    if (err != WH_OK) {
        wh_api__reply_internal(call, "sealing the secret failed");
        return;
    }
    wh_key_subs(key, call->env);
    snprintf(until, sizeof(until), "%lld", (long long)(wh_now_ms() + call->cfg->rotation_overlap_ms));
    argv[0] = key, argv[1] = call->id, argv[2] = sealed, argv[3] = until;
    wh_api__script(call, &wh_script_sub_rotate, on_rotated, 1, 4, argv, NULL);
    free(sealed);
}

static void sub_rotate_dispose(wh_api_call_t *call)
{
    sub_rotate_t *s = (sub_rotate_t *)call;
    OPENSSL_cleanse(s->secret, sizeof(s->secret));
}

const wh_api_op_t wh_api__sub_rotate = {sub_rotate_start, sub_rotate_dispose, sizeof(sub_rotate_t), false};

/* ---- PATCH /v1/subscriptions/{id} ---- */

/*
 * The members given, validated as at creation, into a patch object; NULL with errbuf if invalid. The secret
 * changes through rotate-secret and the status through enable, never here.
 */
static json_t *parse_patch(const json_t *body, const wh_config_t *cfg, char *errbuf)
{
    static const char *const fields[] = {
        "url", "eventTypes", "connectionIds", "description", "maxConcurrency", "rateLimitPerSecond", "ordered", NULL};
    json_t *patch, *v;
    const char *str;
    long long n;
    bool b;

    if (!wh_api__only_fields(body, fields, "", errbuf))
        return NULL;
    if (json_object_size(body) == 0) {
        wh_errf(errbuf, WH_EINVAL, "body: no member to change");
        return NULL;
    }
    if ((patch = json_object()) == NULL)
        abort();
    if (wh_api__get_string(body, "url", 1, WH_MAX_URL_LEN, &str, errbuf) == 1) {
        if (!url_valid(str, strlen(str), cfg->allow_private_destinations, errbuf))
            goto Invalid;
        json_object_set_new(patch, "url", json_string(str));
    } else if (json_object_get(body, "url") != NULL) {
        if (errbuf[0] == '\0')
            wh_errf(errbuf, WH_EINVAL, "url: must be a URL");
        goto Invalid;
    }
    if ((v = json_object_get(body, "eventTypes")) != NULL) {
        if (!event_types_valid(v, errbuf))
            goto Invalid;
        json_object_set(patch, "eventTypes", v);
    }
    if ((v = json_object_get(body, "connectionIds")) != NULL) {
        if (!json_is_null(v) && !connection_ids_valid(v, errbuf))
            goto Invalid;
        json_object_set(patch, "connectionIds", v);
    }
    switch (wh_api__get_string(body, "description", 0, DESCRIPTION_MAX, &str, errbuf)) {
    case -1:
        goto Invalid;
    case 1:
        json_object_set_new(patch, "description", json_string(str));
    }
    switch (wh_api__get_int(body, "maxConcurrency", 1, CONCURRENCY_MAX, &n, errbuf)) {
    case -1:
        goto Invalid;
    case 1:
        json_object_set_new(patch, "maxConcurrency", json_integer(n));
    }
    switch (wh_api__get_int(body, "rateLimitPerSecond", 1, INT32_MAX, &n, errbuf)) {
    case -1:
        goto Invalid;
    case 1:
        json_object_set_new(patch, "rateLimitPerSecond", json_integer(n));
        break;
    default:
        if (json_is_null(json_object_get(body, "rateLimitPerSecond")))
            json_object_set_new(patch, "rateLimitPerSecond", json_null());
    }
    switch (wh_api__get_bool(body, "ordered", &b, errbuf)) {
    case -1:
        goto Invalid;
    case 1:
        json_object_set_new(patch, "ordered", json_boolean(b));
    }
    return patch;
Invalid:
    json_decref(patch);
    return NULL;
}

static void on_patched(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    reply_subscription(data, reply, err, NULL);
}

static void sub_patch_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *patch = parse_patch(call->body, call->cfg, errbuf);
    char *text;

    if (patch == NULL) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    text = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    if (text == NULL) {
        wh_api__reply_internal(call, "json_dumps failed");
        return;
    }
    wh_key_subs(key, call->env);
    const char *argv[] = {key, call->id, text};
    wh_api__script(call, &wh_script_sub_patch, on_patched, 1, 3, argv, NULL);
    free(text);
}

const wh_api_op_t wh_api__sub_patch = {sub_patch_start, NULL, sizeof(wh_api_call_t), true};
