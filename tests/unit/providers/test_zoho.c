/*
 * providers/zoho.c, driven by data: every case of the JSON files in tests/fixtures/providers/zoho/ (raw
 * request, credentials -> expected verdict, expected normalized change) runs through one loop; Zoho's own
 * samples from ../shared run too when that folder exists. Cases too generated to write as data (101 ids,
 * nesting depth) and the dedupe-key properties are plain tests below.
 */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../common/crypto.h"
#include "../../../common/unified.h"
#include "../../../providers/provider.h"

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/zoho"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/zoho"
#define DEFAULT_URL "https://wharf.example/webhooks/zoho/conn_1"
#define TOKEN "TOKEN_FOR_VERIFICATION_OF_1000000068001"
#define CHANNEL "1000000068001"

static const wh_provider_t *zoho(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("zoho"));
    assert_non_null(p);
    return p;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return v;
}

static wh_err_t err_by_name(const char *name)
{
    for (int e = 0; e != WH__ERR_COUNT; ++e)
        if (strcmp(wh_err_name((wh_err_t)e), name) == 0)
            return (wh_err_t)e;
    fail_msg("unknown verdict name \"%s\" in a fixture", name);
    return WH_EINTERNAL;
}

/* A request built from a fixture's "request" object; owns every byte the inbound view points at. */
typedef struct {
    wh_inbound_t in;
    wh_header_t headers[32];
    char *names[32];
    char *body;
} request_t;

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static void request_init(request_t *r, const json_t *req, bool keep_case, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    r->in.method = WH_STRLIT("POST");
    r->in.url = WH_STRLIT(DEFAULT_URL);
    v = json_object_get(req, "nowMs");
    r->in.now_ms = v != NULL ? json_integer_value(v) : 0;

    assert_true(json_array_size(headers) <= 32);
    json_array_foreach(headers, i, h)
    {
        r->names[i] = strdup(json_string_value(json_array_get(h, 0)));
        assert_non_null(r->names[i]);
        /* h2o hands header names over lower-cased; keepHeaderCase cases check the lookup does not depend on it. */
        for (char *p = r->names[i]; !keep_case && *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
        r->headers[i].name = wh_str_c(r->names[i]);
        v = json_array_get(h, 1);
        r->headers[i].value = wh_str(json_string_value(v), json_string_length(v));
    }
    r->in.headers = r->headers;
    r->in.nheaders = json_array_size(headers);

    if ((v = json_object_get(req, "body")) != NULL) {
        r->body = malloc(json_string_length(v) + 1);
        assert_non_null(r->body);
        memcpy(r->body, json_string_value(v), json_string_length(v));
        r->in.body = wh_str(r->body, json_string_length(v));
    } else if ((v = json_object_get(req, "bodyJson")) != NULL) {
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
    } else if ((v = json_object_get(req, "bodyHex")) != NULL) {
        size_t n = json_string_length(v) / 2;
        const char *hex = json_string_value(v);
        r->body = malloc(n + 1);
        assert_non_null(r->body);
        for (size_t k = 0; k != n; ++k)
            r->body[k] = (char)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
        r->in.body = wh_str(r->body, n);
    } else {
        fail_msg("%s: request has no body", what);
    }
}

static void request_dispose(request_t *r)
{
    for (size_t i = 0; i != r->in.nheaders; ++i)
        free(r->names[i]);
    free(r->body);
}

/* JSON text of v (NULL -> "null"), keys sorted: comparing texts prints both sides on failure. */
static char *dump(const json_t *v)
{
    char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
    assert_non_null(s);
    return s;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
    char *g = dump(got), *w = dump(json_is_null(want) ? NULL : want);
    assert_string_equal(g, w);
    free(g);
    free(w);
}

static void assert_change(const wh_change_t *c, const json_t *want)
{
    const json_t *key = json_object_get(want, "dedupeKey");

    assert_string_equal(c->object_type, json_string_value(json_object_get(want, "objectType")));
    assert_string_equal(c->action, json_string_value(json_object_get(want, "action")));
    assert_string_equal(c->object_id, json_string_value(json_object_get(want, "objectId")));
    assert_int_equal(c->occurred_at_ms, json_integer_value(json_object_get(want, "occurredAt")));
    assert_string_equal(c->account, json_string_value(json_object_get(want, "account")));
    assert_string_equal(c->provider_event_id, json_string_value(json_object_get(want, "providerEventId")));
    assert_int_equal(c->thin, json_is_true(json_object_get(want, "thin")));
    assert_non_null(c->fields);
    assert_true(json_is_object(c->fields));
    assert_json_equal(c->fields, json_object_get(want, "fields"));
    assert_json_equal(c->changed_fields, json_object_get(want, "changedFields"));
    assert_json_equal(c->previous, json_object_get(want, "previous"));
    assert_json_equal(c->extra, json_object_get(want, "extra"));
    if (key != NULL) {
        char hex[2 * WH_DEDUPE_KEY_LEN + 1];
        wh_hex_encode(c->dedupe_key, WH_DEDUPE_KEY_LEN, hex);
        assert_string_equal(hex, json_string_value(key));
    }
}

static void assert_contains(const char *errbuf, const char *needle, const char *what)
{
    if (strstr(errbuf, needle) == NULL)
        fail_msg("%s: errbuf \"%s\" does not contain \"%s\"", what, errbuf, needle);
}

/* Verification messages must never echo the stored token (nor, so, a received one that matches it). */
static void assert_no_secret(const char *errbuf, const json_t *credentials, const request_t *r, const char *what)
{
    const json_t *token = json_object_get(credentials, "token");

    (void)r;
    if (json_is_string(token) && json_string_length(token) > 0 && strstr(errbuf, json_string_value(token)) != NULL)
        fail_msg("%s: errbuf \"%s\" holds the token", what, errbuf);
    if (strstr(errbuf, "TOKEN_FOR") != NULL)
        fail_msg("%s: errbuf \"%s\" echoes a token", what, errbuf);
}

static void run_case(const char *file, size_t index, const json_t *tc)
{
    const json_t *credentials = json_object_get(tc, "credentials"), *verdict = json_object_get(tc, "verify"),
                 *parsed = json_object_get(tc, "parse"), *contains = json_object_get(tc, "errorContains");
    char what[512], errbuf[WH_ERRBUF_SIZE];
    request_t r;

    snprintf(what, sizeof(what), "%.64s #%zu \"%.200s\"", file, index, json_string_value(json_object_get(tc, "name")));
    print_message("  case %s\n", what);
    request_init(&r, json_object_get(tc, "request"), json_is_true(json_object_get(tc, "keepHeaderCase")), what);

    if (verdict != NULL) {
        wh_err_t want = err_by_name(json_string_value(verdict));
        errbuf[0] = '\0';
        wh_err_t got = zoho()->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL && parsed == NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        }
        assert_no_secret(errbuf, credentials, &r, what);
    }

    if (parsed != NULL) {
        wh_err_t want = err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out, again;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = zoho()->parse(&r.in, credentials, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i) {
                print_message("    change %zu\n", i);
                assert_change(&out.items[i], json_array_get(changes, i));
                for (size_t j = 0; j != i; ++j)
                    assert_memory_not_equal(out.items[i].dedupe_key, out.items[j].dedupe_key, WH_DEDUPE_KEY_LEN);
            }
            /* Keys are a pure function of the body: a second parse gives the same ones. */
            wh_changes_init(&again);
            assert_int_equal(zoho()->parse(&r.in, NULL, &again, errbuf), WH_OK);
            for (size_t i = 0; i != out.size; ++i)
                assert_memory_equal(out.items[i].dedupe_key, again.items[i].dedupe_key, WH_DEDUPE_KEY_LEN);
            wh_changes_dispose(&again);
        }
        wh_changes_dispose(&out);
    }
    request_dispose(&r);
}

static int is_fixture(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static void test_fixtures(void **state)
{
    struct dirent **files;
    int n = scandir(FIXTURES, &files, is_fixture, alphasort);
    size_t total = 0;

    assert_true(n >= 3); /* verify, normalize, malformed */
    for (int f = 0; f != n; ++f) {
        char path[512];
        json_t *doc, *tc;
        size_t i;

        snprintf(path, sizeof(path), "%s/%s", FIXTURES, files[f]->d_name);
        doc = load_json(path);
        json_array_foreach(json_object_get(doc, "cases"), i, tc)
        {
            run_case(files[f]->d_name, i, tc);
            ++total;
        }
        json_decref(doc);
        free(files[f]);
    }
    free(files);
    print_message("  %zu fixture cases\n", total);
    assert_true(total >= 50);
}

/* Zoho's own sample notifications, as shipped in ../shared (a bare checkout skips). */
static void test_shared_samples(void **state)
{
    static const struct {
        const char *file, *object_type, *action, *object_id;
        size_t changed;
    } samples[] = {
        {"leads-insert.json", "lead", "created", "5725767000003000064", 0},
        {"leads-update-affected-values.json", "lead", "updated", "5725767000003000010", 1},
    };
    DIR *dir = opendir(SHARED_SAMPLES);
    json_t *credentials = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", TOKEN);

    if (dir == NULL) {
        json_decref(credentials);
        print_message("  %s absent: skipped\n", SHARED_SAMPLES);
        skip();
    }
    closedir(dir);
    for (size_t i = 0; i != sizeof(samples) / sizeof(samples[0]); ++i) {
        char path[512], errbuf[WH_ERRBUF_SIZE] = "";
        size_t len = 0;
        char *body;
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL)};
        wh_changes_t out;

        snprintf(path, sizeof(path), "%s/%s", SHARED_SAMPLES, samples[i].file);
        body = read_file(path, &len);
        if (body == NULL)
            fail_msg("%s: cannot read", path);
        print_message("  sample %s\n", samples[i].file);
        in.body = wh_str(body, len);
        assert_string_equal(wh_err_name(zoho()->verify(&in, credentials, errbuf)), "ok");
        wh_changes_init(&out);
        wh_err_t got = zoho()->parse(&in, credentials, &out, errbuf);
        if (got != WH_OK)
            fail_msg("%s: parse answered %s (\"%s\")", path, wh_err_name(got), errbuf);
        assert_int_equal(out.size, 1);
        assert_string_equal(out.items[0].object_type, samples[i].object_type);
        assert_string_equal(out.items[0].action, samples[i].action);
        assert_string_equal(out.items[0].object_id, samples[i].object_id);
        assert_true(out.items[0].thin);
        assert_int_equal(json_object_size(out.items[0].fields), 0);
        assert_int_equal(json_array_size(out.items[0].changed_fields), samples[i].changed);
        wh_changes_dispose(&out);
        free(body);
    }
    json_decref(credentials);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = zoho();

    assert_string_equal(p->name, "zoho");
    assert_int_equal(p->flags, 0);
    assert_string_equal(p->content_type, "application/json");
    assert_non_null(p->check_credentials);
    assert_non_null(p->verify);
    assert_non_null(p->parse);
    assert_null(p->handshake);
    assert_null(p->success);
    assert_null(p->refusal);
}

static void test_check_credentials(void **state)
{
    static const struct {
        const char *json;
        wh_err_t want;
        const char *contains;
    } cases[] = {
        {"{\"channelId\":\"" CHANNEL "\",\"token\":\"" TOKEN "\"}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.channelId: required"},
        {"{\"token\":\"" TOKEN "\"}", WH_EINVAL, "credentials.channelId: required"},
        {"{\"channelId\":\"1\"}", WH_EINVAL, "credentials.token: required"},
        {"{\"channelId\":1,\"token\":\"" TOKEN "\"}", WH_EINVAL, "credentials.channelId: must be a non-empty string"},
        {"{\"channelId\":\"\",\"token\":\"t\"}", WH_EINVAL, "credentials.channelId: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":\"\"}", WH_EINVAL, "credentials.token: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":null}", WH_EINVAL, "credentials.token: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":\"a\\u0000b\"}", WH_EINVAL, "credentials.token: must not contain NUL"},
        {"{\"channelId\":\"1\",\"token\":\"t\",\"channel_id\":\"1\"}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" TOKEN "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, TOKEN));
        json_decref(c);
    }
}

static void test_check_credentials_length(void **state)
{
    char value[258], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c;

    memset(value, 'k', sizeof(value) - 1);
    value[256] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", value);
    assert_int_equal(zoho()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    value[256] = 'k';
    value[257] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", value);
    assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "credentials.token: longer than 256 bytes", "257-byte token");
    json_decref(c);
    value[129] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", value, "token", TOKEN);
    assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "credentials.channelId: longer than 128 bytes", "129-byte channel id");
    json_decref(c);
}

static wh_err_t parse_body(const char *body, size_t len, size_t *count, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    errbuf[0] = '\0';
    err = zoho()->parse(&in, NULL, &out, errbuf);
    if (count != NULL)
        *count = out.size;
    wh_changes_dispose(&out);
    return err;
}

static char *notification_of(size_t n)
{
    static const char head[] = "{\"server_time\":1718117126473,\"module\":\"Contacts\",\"operation\":\"update\","
                               "\"channel_id\":\"" CHANNEL "\",\"token\":\"" TOKEN "\",\"ids\":[";
    size_t cap = sizeof(head) + n * 24 + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (size_t i = 0; i != n; ++i)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%zu\"", i != 0 ? "," : "", i + 1000);
    memcpy(body + len, "]}", 3);
    return body;
}

static void test_batch_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t count = 0;
    char *body = notification_of(WH_MAX_BATCH);

    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "ok");
    assert_int_equal(count, WH_MAX_BATCH);
    free(body);
    body = notification_of(WH_MAX_BATCH + 1);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "too_large");
    assert_contains(errbuf, "101 ids, more than 100", "101 ids");
    assert_int_equal(count, 0);
    free(body);
}

static char *nested_value(int levels)
{
    static const char head[] = "{\"server_time\":1,\"module\":\"Leads\",\"operation\":\"insert\",\"channel_id\":\"1\","
                               "\"ids\":[\"1\"],\"query_params\":";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "}", 2);
    return body;
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    char *body;

    body = nested_value(WH_MAX_JSON_DEPTH - 1); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "ok");
    free(body);
    body = nested_value(WH_MAX_JSON_DEPTH);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
    body = nested_value(100000);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
}

/* All or nothing: a bad id after good ones fails the notification; what was pushed is released by dispose. */
static void test_all_or_nothing(void **state)
{
    static const char body[] = "{\"server_time\":1,\"module\":\"Leads\",\"operation\":\"update\",\"channel_id\":\"1\","
                               "\"ids\":[\"1\",\"2\",true],\"affected_fields\":[{\"1\":[\"Email\"]}]}";
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(zoho()->parse(&in, NULL, &out, errbuf)), "malformed");
    assert_contains(errbuf, "ids[2] must be", "a boolean id");
    wh_changes_dispose(&out);
    assert_int_equal(out.size, 0);
}

static void key_of(const char *body, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str_c(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    if (zoho()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define NOTE(channel, time, module, op, id, extra)                                                                                 \
    "{\"server_time\":" time ",\"module\":\"" module "\",\"operation\":\"" op "\",\"channel_id\":" channel ",\"ids\":[" id         \
    "]" extra "}"

static void test_dedupe_key(void **state)
{
    static const char *const variants[] = {
        NOTE("\"2\"", "5", "Leads", "update", "\"7\"", ""),    /* channel */
        NOTE("\"1\"", "6", "Leads", "update", "\"7\"", ""),    /* server_time */
        NOTE("\"1\"", "5", "Contacts", "update", "\"7\"", ""), /* module */
        NOTE("\"1\"", "5", "Leads", "insert", "\"7\"", ""),    /* operation */
        NOTE("\"1\"", "5", "Leads", "update", "\"8\"", ""),    /* id */
    };
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of(NOTE("\"1\"", "5", "Leads", "update", "\"7\"", ""), base);
    /* A redelivery with other affected fields, token, key order or id/channel spelling: same key. */
    key_of(NOTE("\"1\"", "5", "Leads", "update", "\"7\"", ",\"affected_fields\":[{\"7\":[\"Email\"]}],\"token\":\"t\""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(NOTE("1", "5", "Leads", "update", "7", ""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"ids\":[\"7\"],\"channel_id\":\"1\",\"operation\":\"update\",\"module\":\"Leads\",\"server_time\":5}", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    for (size_t i = 0; i != sizeof(variants) / sizeof(variants[0]); ++i) {
        print_message("  variant %zu\n", i);
        key_of(variants[i], other);
        assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    }
    /* Separator safety: channel "1"+time "55" is not channel "15"+time "5". */
    key_of(NOTE("\"1\"", "55", "Leads", "update", "\"7\"", ""), base);
    key_of(NOTE("\"15\"", "5", "Leads", "update", "\"7\"", ""), other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

static void test_object_type_pointers(void **state)
{
    static const char body[] = NOTE("\"1\"", "5", "Contacts", "insert", "\"7\"", "");
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(zoho()->parse(&in, NULL, &out, errbuf), WH_OK);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("contact"))->name);
    wh_changes_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),
        cmocka_unit_test(test_check_credentials_length),
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/zoho", tests, NULL, NULL);
}
