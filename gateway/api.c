/*
 * Management API front door: routing, bearer-token authentication, JSON bodies, and the helpers the
 * route ops share (api.h). The ops themselves live in api_env.c, api_connections.c, api_subscriptions.c,
 * api_events.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../queue/keys.h"
#include "api.h"

typedef enum { ACCESS_ENVIRONMENT, ACCESS_ADMIN } access_t;

typedef struct {
    const char *method;
    /* Segments separated by '/': a literal, "{id}" (captured, validated as an id) or "*" (any one segment). */
    const char *pattern;
    access_t access;
    /* NULL: reserved for a later issue; answers 404 exactly like an unknown route until implemented. */
    const wh_api_op_t *op;
} route_t;

/*
 * Adding a route is one row here and one op. Rows are matched in order; the first whose pattern and method
 * both match wins. A path some implemented row matches under another method answers 405 (with Allow).
 */
static const route_t routes[] = {
    {"POST", "environments", ACCESS_ADMIN, &wh_api__env_create},
    {"GET", "poison", ACCESS_ADMIN, &wh_api__poison_list},
    {"POST", "connections", ACCESS_ENVIRONMENT, &wh_api__conn_create},
    {"GET", "connections", ACCESS_ENVIRONMENT, &wh_api__conn_list},
    {"GET", "connections/{id}", ACCESS_ENVIRONMENT, &wh_api__conn_get},
    {"DELETE", "connections/{id}", ACCESS_ENVIRONMENT, &wh_api__conn_delete},
    {"POST", "connections/{id}/sync/records", ACCESS_ENVIRONMENT, &wh_api__sync_records},
    {"POST", "connections/{id}/sync/status", ACCESS_ENVIRONMENT, &wh_api__sync_status},
    {"POST", "subscriptions", ACCESS_ENVIRONMENT, &wh_api__sub_create},
    {"GET", "subscriptions", ACCESS_ENVIRONMENT, &wh_api__sub_list},
    {"GET", "subscriptions/{id}", ACCESS_ENVIRONMENT, &wh_api__sub_get},
    {"DELETE", "subscriptions/{id}", ACCESS_ENVIRONMENT, &wh_api__sub_delete},
    {"PATCH", "subscriptions/{id}", ACCESS_ENVIRONMENT, &wh_api__sub_patch},
    {"POST", "subscriptions/{id}/rotate-secret", ACCESS_ENVIRONMENT, &wh_api__sub_rotate},
    {"POST", "subscriptions/{id}/enable", ACCESS_ENVIRONMENT, &wh_api__sub_enable},
    {"POST", "subscriptions/{id}/replay", ACCESS_ENVIRONMENT, &wh_api__sub_replay},
    {"GET", "events", ACCESS_ENVIRONMENT, &wh_api__event_list},
    {"GET", "events/{id}", ACCESS_ENVIRONMENT, &wh_api__event_get},
    {"GET", "events/{id}/attempts", ACCESS_ENVIRONMENT, &wh_api__event_attempts},
    {"POST", "events/{id}/redeliver", ACCESS_ENVIRONMENT, &wh_api__event_redeliver},
    {"GET", "cache/{id}/*", ACCESS_ENVIRONMENT, &wh_api__cache_list},
    {"GET", "cache/{id}/*/*", ACCESS_ENVIRONMENT, &wh_api__cache_get},
};

#define ROUTES_COUNT (sizeof(routes) / sizeof(routes[0]))

/* Messages shown to clients are short; longer ones (a long field name) are cut, never overflowed. */
#define MESSAGE_MAX 512

/* ---- routing ---- */

/* Matches `path` against `pattern` segment by segment; *id is the "{id}" segment ({NULL,0} if none). */
static bool match(const char *pattern, wh_str_t path, wh_str_t *id)
{
    const char *pat = pattern;
    size_t at = 0;

    *id = WH_STR_NULL;
    for (;;) {
        const char *pat_end = strchr(pat, '/');
        size_t pat_len = pat_end != NULL ? (size_t)(pat_end - pat) : strlen(pat);
        size_t end = at;
        while (end < path.len && path.base[end] != '/')
            ++end;
        wh_str_t seg = wh_str(path.base + at, end - at);

        if (seg.len == 0)
            return false;
        if (wh_str_eq(wh_str(pat, pat_len), WH_STRLIT("{id}")))
            *id = seg;
        else if (!wh_str_eq(wh_str(pat, pat_len), WH_STRLIT("*")) && !wh_str_eq(seg, wh_str(pat, pat_len)))
            return false;
        if ((pat_end != NULL) != (end < path.len))
            return false;
        if (pat_end == NULL)
            return true;
        pat = pat_end + 1;
        at = end + 1;
    }
}

/* The query string of `rest` (after '?'), or {NULL,0}. */
static wh_str_t route_query(h2o_iovec_t rest)
{
    const char *q = rest.len != 0 ? memchr(rest.base, '?', rest.len) : NULL;

    if (q == NULL)
        return WH_STR_NULL;
    return wh_str(q + 1, rest.len - (size_t)(q + 1 - rest.base));
}

/* The path proper: without the query string and one trailing slash. */
static wh_str_t route_path(h2o_iovec_t rest)
{
    wh_str_t path = wh_str(rest.base, rest.len);
    const char *q = path.len != 0 ? memchr(path.base, '?', path.len) : NULL;

    if (q != NULL)
        path.len = (size_t)(q - path.base);
    if (path.len != 0 && path.base[path.len - 1] == '/')
        --path.len;
    return path;
}

/* ---- authentication ---- */

/* The token of "Authorization: Bearer <token>", or {NULL,0}. */
static wh_str_t bearer_token(h2o_req_t *req)
{
    h2o_iovec_t v = wh_req_header(req, "authorization", sizeof("authorization") - 1);
    size_t at = 6, end;

    if (v.base == NULL || v.len <= 7 || !wh_str_ieq(wh_str(v.base, 6), WH_STRLIT("Bearer")) || v.base[6] != ' ')
        return WH_STR_NULL;
    while (at < v.len && v.base[at] == ' ')
        ++at;
    end = v.len;
    while (end > at && (v.base[end - 1] == ' ' || v.base[end - 1] == '\t'))
        --end;
    if (end == at || end - at > WH_MAX_HEADER_VALUE)
        return WH_STR_NULL;
    return wh_str(v.base + at, end - at);
}

/* 401 with the challenge RFC 6750 asks for. Works with or without a call (call == NULL: no async yet). */
static void unauthorized(h2o_req_t *req, wh_api_call_t *call, const char *message)
{
    if (req != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer realm=\"wharf\""));
        wh_respond_error(req, 401, "unauthorized", message);
    }
    if (call != NULL)
        wh_api__finish(call);
}

/* Deepest nesting of `s` (brackets outside strings); jansson has no runtime depth limit of its own. */
static bool json_depth_ok(const char *s, size_t len, unsigned max)
{
    unsigned depth = 0;
    bool in_string = false, escaped = false;

    for (size_t i = 0; i != len; ++i) {
        char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if ((c == '}' || c == ']') && depth != 0) {
            --depth;
        }
    }
    return true;
}

/* Parses the body into call->body; false when it answered (and finished) instead. */
static bool parse_body(wh_api_call_t *call, h2o_req_t *req)
{
    const char *base = req->entity.base != NULL ? req->entity.base : "";
    json_error_t jerr;

    if (!wh_req_content_type_is(req, "application/json")) {
        wh_api__reply_error(call, 415, "unsupported_media_type", "Content-Type must be application/json");
        return false;
    }
    if (req->entity.len > WH_MAX_API_BODY) {
        wh_api__reply_error(call, 413, "payload_too_large", "request bodies are limited to %d bytes", WH_MAX_API_BODY);
        return false;
    }
    if (!json_depth_ok(base, req->entity.len, WH_MAX_JSON_DEPTH)) {
        wh_api__reply_error(call, 400, "invalid_request", "body: nested deeper than %d levels", WH_MAX_JSON_DEPTH);
        return false;
    }
    call->body = json_loadb(base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (call->body == NULL) {
        wh_api__reply_error(call, 400, "invalid_request", "body: invalid JSON (%s, line %d column %d)", jerr.text, jerr.line,
                            jerr.column);
        return false;
    }
    if (!json_is_object(call->body)) {
        wh_api__reply_error(call, 400, "invalid_request", "body: must be a JSON object");
        return false;
    }
    return true;
}

/* The caller is who the route needs: check the path id and the body, then hand over to the op. */
static void authorized(wh_api_call_t *call)
{
    if (call->id_invalid) {
        wh_api__reply_error(call, 404, "not_found", "no such resource");
        return;
    }
    if (call->op->json_body && !parse_body(call, call->pending.req))
        return;
    call->op->start(call);
}

static void on_token(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_api_call_t *call = data;

    if (!wh_api__reply_usable(call, reply, err))
        return;
    if (reply->type == REDIS_REPLY_NIL) {
        unauthorized(call->pending.req, call, "unknown API token");
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || !wh_api__id_valid(wh_str(reply->str, (size_t)reply->len))) {
        wh_api__reply_internal(call, "token record is not an environment id");
        return;
    }
    if (call->admin_route) {
        wh_api__reply_error(call, 403, "forbidden", "this route needs the admin token");
        return;
    }
    memcpy(call->env, reply->str, (size_t)reply->len);
    call->env[reply->len] = '\0';
    authorized(call);
}

int wh_api_handle(h2o_req_t *req, h2o_iovec_t rest)
{
    wh_gw_thread_t *thread = wh_gw_thread_of(req);
    wh_str_t path = route_path(rest), method = wh_str(req->method.base, req->method.len), id = WH_STR_NULL, token;
    const route_t *route = NULL;
    char allow[64] = ""; /* methods of the implemented rows matching the path, for 405's Allow */
    size_t allow_len = 0;
    wh_api_call_t *call; /* owned by the flow from here on: wh_api__finish releases it */
    uint8_t digest[WH_SHA256_LEN];
    char hex[2 * WH_SHA256_LEN + 1], key[WH_KEY_MAX];
    const char *argv[2];
    size_t argvlen[2];

    for (size_t i = 0; i != ROUTES_COUNT && route == NULL; ++i) {
        wh_str_t row_id;
        if (!match(routes[i].pattern, path, &row_id))
            continue;
        if (wh_str_eq(method, wh_str_c(routes[i].method))) {
            route = &routes[i];
            id = row_id;
        } else if (routes[i].op != NULL) {
            int n = snprintf(allow + allow_len, sizeof(allow) - allow_len, "%s%s", allow_len != 0 ? ", " : "", routes[i].method);
            if (n > 0 && (size_t)n < sizeof(allow) - allow_len)
                allow_len += (size_t)n;
        }
    }
    if (route == NULL || route->op == NULL) {
        /* A reserved row (op NULL) is a route of a later issue: not found until it exists, whatever the method. */
        if (route != NULL || allow_len == 0) {
            wh_respond_error(req, 404, "not_found", "no such route");
        } else {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, h2o_strdup(&req->pool, allow, allow_len).base,
                           allow_len);
            wh_respond_error(req, 405, "method_not_allowed", "method not allowed on this route");
        }
        return 0;
    }

    token = bearer_token(req);
    if (token.base == NULL) {
        unauthorized(req, NULL, "missing bearer token (Authorization: Bearer <token>)");
        return 0;
    }

    call = wh_pending_new(req, route->op->size);
    call->op = route->op;
    call->route = route->pattern;
    call->cfg = thread->cfg;
    call->redis = thread->redis;
    call->admin_route = route->access == ACCESS_ADMIN;
    call->query = route_query(rest);
    /* The path lives in the request's pool; keep a validated copy, since the request may go first. */
    if (id.base != NULL) {
        if (wh_api__id_valid(id)) {
            memcpy(call->id, id.base, id.len);
            call->id[id.len] = '\0';
        } else {
            call->id_invalid = true;
        }
    }

    /* The admin token lives in the configuration only, so it is checked here, without Redis. */
    if (call->cfg->admin_token[0] != '\0' &&
        wh_ct_equal(token.base, token.len, call->cfg->admin_token, strlen(call->cfg->admin_token))) {
        if (call->admin_route)
            authorized(call);
        else
            wh_api__reply_error(call, 403, "forbidden",
                                "this route needs an environment token (the admin token only manages environments)");
        return 0;
    }

    /* Environment tokens are stored as their SHA-256 only: a Redis dump does not reveal them. */
    wh_sha256(&token, 1, digest);
    wh_hex_encode(digest, sizeof(digest), hex);
    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = key;
    argvlen[1] = (size_t)wh_key_token(key, hex);
    wh_api__command(call, on_token, 2, argv, argvlen);
    return 0;
}

/* ---- ending a call ---- */

void wh_api__finish(wh_api_call_t *call)
{
    if (call->op->dispose != NULL)
        call->op->dispose(call);
    json_decref(call->body);
    wh_pending_free(call);
}

void wh_api__reply_json(wh_api_call_t *call, int status, json_t *body)
{
    if (call->pending.req != NULL)
        wh_respond_json(call->pending.req, status, body);
    else
        json_decref(body);
    wh_api__finish(call);
}

void wh_api__reply_no_content(wh_api_call_t *call)
{
    h2o_req_t *req = call->pending.req;

    /* wh_respond_raw sets Content-Length: 0; without it h2o 2.2 would close the keep-alive connection (P1). */
    if (req != NULL)
        wh_respond_raw(req, 204, NULL, "", 0);
    wh_api__finish(call);
}

void wh_api__reply_error(wh_api_call_t *call, int status, const char *code, const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;

    if (call->pending.req != NULL) {
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        wh_respond_error(call->pending.req, status, code, message);
    }
    wh_api__finish(call);
}

void wh_api__reply_internal(wh_api_call_t *call, const char *why)
{
    wh_log_error("api_internal_error", "{s:s, s:s}", "route", call->route, "reason", why);
    wh_api__reply_error(call, 500, "internal_error", "internal error");
}

void wh_api__reply_redis_error(wh_api_call_t *call, wh_err_t err, const redisReply *reply)
{
    if (err == WH_EUNAVAILABLE) {
        if (call->pending.req != NULL)
            wh_respond_unavailable(call->pending.req, "Redis is unavailable; retry later");
        wh_api__finish(call);
        return;
    }
    wh_log_error("api_redis_error", "{s:s, s:s, s:s}", "route", call->route, "error", wh_err_name(err), "reply",
                 reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    wh_api__reply_error(call, 500, "internal_error", "internal error");
}

/* ---- Redis ---- */

bool wh_api__command(wh_api_call_t *call, wh_redis_cb cb, int argc, const char **argv, const size_t *argvlen)
{
    wh_err_t err = wh_redis_command(call->redis, cb, call, argc, argv, argvlen);

    if (err != WH_OK) {
        wh_api__reply_redis_error(call, err, NULL);
        return false;
    }
    return true;
}

bool wh_api__script(wh_api_call_t *call, const wh_script_t *script, wh_redis_cb cb, int nkeys, int argc, const char **argv,
                    const size_t *argvlen)
{
    wh_err_t err = wh_redis_script(call->redis, script, cb, call, nkeys, argc, argv, argvlen);

    if (err != WH_OK) {
        wh_api__reply_redis_error(call, err, NULL);
        return false;
    }
    return true;
}

bool wh_api__reply_usable(wh_api_call_t *call, const redisReply *reply, wh_err_t err)
{
    if (call->pending.req == NULL) {
        wh_api__finish(call);
        return false;
    }
    if (err != WH_OK || reply == NULL) {
        wh_api__reply_redis_error(call, err != WH_OK ? err : WH_EUNAVAILABLE, reply);
        return false;
    }
    return true;
}

/* ---- validation ---- */

bool wh_api__id_valid(wh_str_t s)
{
    if (s.len == 0 || s.len > WH_API_ID_MAX)
        return false;
    for (size_t i = 0; i != s.len; ++i) {
        char c = s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool wh_api__only_fields(const json_t *obj, const char *const *allowed, const char *prefix, char *errbuf)
{
    const char *name;
    json_t *value;

    json_object_foreach((json_t *)obj, name, value)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], name) != 0)
            ++i;
        if (allowed[i] == NULL) {
            wh_errf(errbuf, WH_EINVAL, "%s%.64s: unknown field", prefix, name);
            return false;
        }
    }
    return true;
}

/* UTF-8 code points of a string jansson already validated. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            ++n;
    return n;
}

int wh_api__get_string(const json_t *obj, const char *field, size_t min_chars, size_t max_chars, const char **out, char *errbuf)
{
    json_t *v = json_object_get(obj, field);
    size_t n;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        wh_errf(errbuf, WH_EINVAL, "%s: must be a string", field);
        return -1;
    }
    n = utf8_chars(json_string_value(v), json_string_length(v));
    if (n < min_chars || n > max_chars) {
        if (min_chars == 1 && n == 0)
            wh_errf(errbuf, WH_EINVAL, "%s: must not be empty", field);
        else
            wh_errf(errbuf, WH_EINVAL, "%s: must be %zu to %zu characters long", field, min_chars, max_chars);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int wh_api__get_int(const json_t *obj, const char *field, long long min, long long max, long long *out, char *errbuf)
{
    json_t *v = json_object_get(obj, field);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        wh_errf(errbuf, WH_EINVAL, "%s: must be an integer from %lld to %lld", field, min, max);
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

int wh_api__get_bool(const json_t *obj, const char *field, bool *out, char *errbuf)
{
    json_t *v = json_object_get(obj, field);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        wh_errf(errbuf, WH_EINVAL, "%s: must be true or false", field);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

/* ---- query strings ---- */

/* Percent-decodes `in` ('+' is a space) into out (cap bytes with the NUL); false on a bad escape, a control byte or overflow. */
static bool query_decode(wh_str_t in, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i != in.len; ++i) {
        int c = (unsigned char)in.base[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < in.len ? wh_hex_digit((unsigned char)in.base[i + 1]) : -1,
                lo = i + 2 < in.len ? wh_hex_digit((unsigned char)in.base[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

bool wh_api__query_repeat(const wh_api_call_t *call, const char *const *names, wh_api_query_value_t *values,
                          const char *repeat_name, wh_api_query_value_t *repeated, size_t max_repeat, size_t *nrepeated,
                          char *errbuf)
{
    wh_str_t q = call->query;
    size_t at = 0, count = 0;

    if (nrepeated != NULL)
        *nrepeated = 0;
    while (names[count] != NULL) {
        values[count].present = false;
        values[count].value[0] = '\0';
        ++count;
    }
    while (q.base != NULL && at < q.len) {
        size_t end = at, eq;
        char name[WH_API_QUERY_VALUE_MAX + 1];
        size_t i;

        while (end < q.len && q.base[end] != '&')
            ++end;
        eq = at;
        while (eq < end && q.base[eq] != '=')
            ++eq;
        if (end == at) { /* "a=1&&b=2": an empty pair means nothing */
            at = end + 1;
            continue;
        }
        if (!query_decode(wh_str(q.base + at, eq - at), name, sizeof(name))) {
            wh_errf(errbuf, WH_EINVAL, "query: malformed parameter name");
            return false;
        }
        for (i = 0; i != count && strcmp(names[i], name) != 0; ++i)
            ;
        if (i == count && repeat_name != NULL && strcmp(repeat_name, name) == 0) {
            wh_api_query_value_t *v = &repeated[*nrepeated];
            if (*nrepeated == max_repeat) {
                wh_errf(errbuf, WH_EINVAL, "%s: given more than %zu times", repeat_name, max_repeat);
                return false;
            }
            if (!query_decode(eq < end ? wh_str(q.base + eq + 1, end - eq - 1) : wh_str("", 0), v->value, sizeof(v->value))) {
                wh_errf(errbuf, WH_EINVAL, "%s: malformed value (bad percent escape, control character, or longer than %d bytes)",
                        repeat_name, WH_API_QUERY_VALUE_MAX);
                return false;
            }
            v->present = true;
            ++*nrepeated;
            at = end + 1;
            continue;
        }
        if (i == count) {
            wh_errf(errbuf, WH_EINVAL, "%.64s: unknown query parameter", name);
            return false;
        }
        if (values[i].present) {
            wh_errf(errbuf, WH_EINVAL, "%s: given more than once", names[i]);
            return false;
        }
        if (!query_decode(eq < end ? wh_str(q.base + eq + 1, end - eq - 1) : wh_str("", 0), values[i].value,
                          sizeof(values[i].value))) {
            wh_errf(errbuf, WH_EINVAL, "%s: malformed value (bad percent escape, control character, or longer than %d bytes)",
                    names[i], WH_API_QUERY_VALUE_MAX);
            return false;
        }
        values[i].present = true;
        at = end + 1;
    }
    return true;
}

bool wh_api__query(const wh_api_call_t *call, const char *const *names, wh_api_query_value_t *values, char *errbuf)
{
    return wh_api__query_repeat(call, names, values, NULL, NULL, 0, NULL, errbuf);
}
