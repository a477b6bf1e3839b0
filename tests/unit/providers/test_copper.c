/*
 * providers/copper.c, driven by data: every case of the JSON files in tests/fixtures/providers/copper/ (raw request,
 * credentials -> expected verdict, expected normalized changes) runs through one loop; any *.json sample in
 * ../shared/providers/samples/copper/ is parsed too (today the folder holds a template only, so that test skips).
 * Cases too generated to write as data (batch and nesting limits, dedupe-key properties) are plain tests below.
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/copper"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/copper"
#define DEFAULT_URL "https://wharf.example/webhooks/copper/conn_1"
#define SECRET_VALUE "copper-secret-0123456789"

static const wh_provider_t *copper(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("copper"));
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

static void request_init(request_t *r, const json_t *req, bool keep_case, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    v = json_object_get(req, "method");
    r->in.method = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT("POST");
    v = json_object_get(req, "url");
    r->in.url = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT(DEFAULT_URL);
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
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
    } else if ((v = json_object_get(req, "bodyFile")) != NULL) {
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", FIXTURES, json_string_value(v));
        r->body = read_file(path, &len);
        if (r->body == NULL)
            fail_msg("%s: cannot read %s", what, path);
        r->in.body = wh_str(r->body, len);
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

/* Verification messages never echo a secret value. */
static void assert_no_secret(const char *errbuf, const json_t *credentials, const char *what)
{
    const json_t *secret = json_object_get(credentials, "secret"), *v;
    const char *k;

    if (!json_is_object(secret))
        return;
    json_object_foreach((json_t *)secret, k, v)
    {
        if (json_is_string(v) && json_string_length(v) > 2 && strstr(errbuf, json_string_value(v)) != NULL)
            fail_msg("%s: errbuf \"%s\" holds a secret value", what, errbuf);
    }
}

static void assert_distinct_keys(const wh_changes_t *out, const char *what)
{
    for (size_t i = 0; i != out->size; ++i)
        for (size_t j = i + 1; j != out->size; ++j)
            if (memcmp(out->items[i].dedupe_key, out->items[j].dedupe_key, WH_DEDUPE_KEY_LEN) == 0)
                fail_msg("%s: changes %zu and %zu share a dedupe key", what, i, j);
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
        wh_err_t got = copper()->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL && parsed == NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        }
        assert_no_secret(errbuf, credentials, what);
    }

    if (parsed != NULL) {
        wh_err_t want = err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out, again;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = copper()->parse(&r.in, credentials, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i)
                assert_change(&out.items[i], json_array_get(changes, i));
            assert_distinct_keys(&out, what);
            /* Keys are a pure function of the body: a second parse gives the same ones. */
            wh_changes_init(&again);
            assert_int_equal(copper()->parse(&r.in, NULL, &again, errbuf), WH_OK);
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

/* Every *.json in ../shared's Copper folder must parse (none is verbatim today: the folder holds a template). */
static void test_shared_samples(void **state)
{
    struct dirent **files;
    int n = scandir(SHARED_SAMPLES, &files, is_fixture, alphasort);

    if (n <= 0) {
        print_message("  no *.json in %s: skipped\n", SHARED_SAMPLES);
        if (n == 0)
            free(files);
        skip();
    }
    for (int f = 0; f != n; ++f) {
        char path[512], errbuf[WH_ERRBUF_SIZE] = "";
        size_t len = 0;
        char *body;
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL)};
        wh_changes_t out;

        snprintf(path, sizeof(path), "%s/%s", SHARED_SAMPLES, files[f]->d_name);
        body = read_file(path, &len);
        assert_non_null(body);
        in.body = wh_str(body, len);
        wh_changes_init(&out);
        wh_err_t got = copper()->parse(&in, NULL, &out, errbuf);
        if (got != WH_OK)
            fail_msg("%s: parse answered %s (\"%s\")", path, wh_err_name(got), errbuf);
        assert_true(out.size >= 1);
        wh_changes_dispose(&out);
        free(body);
        free(files[f]);
    }
    free(files);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = copper();

    assert_string_equal(p->name, "copper");
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
        {"{\"secret\":{\"k\":\"" SECRET_VALUE "\"}}", WH_OK, ""},
        {"{\"secret\":{\"a\":\"1\",\"b\":\"2\"}}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.secret: required"},
        {"{\"secret\":\"" SECRET_VALUE "\"}", WH_EINVAL, "credentials.secret: must be an object"},
        {"{\"secret\":{}}", WH_EINVAL, "credentials.secret: must hold 1 to 16"},
        {"{\"secret\":{\"k\":\"\"}}", WH_EINVAL, "credentials.secret: value 0 must be a non-empty string"},
        {"{\"secret\":{\"a\":\"1\",\"k\":7}}", WH_EINVAL, "credentials.secret: value 1 must be a non-empty string"},
        {"{\"secret\":{\"k\":null}}", WH_EINVAL, "credentials.secret: value 0 must be"},
        {"{\"secret\":{\"\":\"v\"}}", WH_EINVAL, "credentials.secret: key 0 must be 1 to 128 bytes"},
        {"{\"secret\":{\"k\":\"v\"},\"headers\":{}}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" SECRET_VALUE "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(copper()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, SECRET_VALUE));
        json_decref(c);
    }
}

static void test_check_credentials_limits(void **state)
{
    char big[1026], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c, *secret;

    /* 16 pairs pass, 17 do not */
    secret = json_object();
    for (int i = 0; i != 16; ++i) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(secret, k, json_string("v"));
    }
    c = json_pack("{s:O}", "secret", secret);
    assert_int_equal(copper()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    json_object_set_new(secret, "k16", json_string("v"));
    c = json_pack("{s:O}", "secret", secret);
    assert_string_equal(wh_err_name(copper()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "1 to 16", "17 pairs");
    json_decref(c);
    json_decref(secret);

    memset(big, 'v', sizeof(big) - 1);
    big[1024] = '\0';
    c = json_pack("{s:{s:s}}", "secret", "k", big);
    assert_int_equal(copper()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    big[1024] = 'v';
    big[1025] = '\0';
    c = json_pack("{s:{s:s}}", "secret", "k", big);
    assert_string_equal(wh_err_name(copper()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "longer than 1024 bytes", "1025-byte value");
    json_decref(c);
    big[129] = '\0';
    c = json_pack("{s:{s:s}}", "secret", big, "v");
    assert_string_equal(wh_err_name(copper()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "key 0 must be 1 to 128 bytes", "129-byte key");
    json_decref(c);
}

static wh_err_t parse_body(const char *body, size_t len, wh_changes_t *out, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len), .now_ms = 42};

    errbuf[0] = '\0';
    return copper()->parse(&in, NULL, out, errbuf);
}

static char *batch_of(size_t n)
{
    size_t cap = 128 + n * 24, len;
    char *body = malloc(cap);

    assert_non_null(body);
    len = (size_t)snprintf(body, cap, "{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":1,\"ids\":[");
    for (size_t i = 0; i != n; ++i)
        len += (size_t)snprintf(body + len, cap - len, "%s%zu", i != 0 ? "," : "", i + 1000);
    snprintf(body + len, cap - len, "]}");
    return body;
}

static void test_batch_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    char *body = batch_of(WH_MAX_BATCH);

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "ok");
    assert_int_equal(out.size, WH_MAX_BATCH);
    wh_changes_dispose(&out);
    free(body);

    body = batch_of(WH_MAX_BATCH + 1);
    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "too_large");
    assert_contains(errbuf, "batch of 101 ids", "101 ids");
    assert_int_equal(out.size, 0);
    wh_changes_dispose(&out);
    free(body);
}

/* An update whose one new value nests `levels` arrays: depth = 3 (object, updated_attributes, pair) + levels. */
static char *nested_value(int levels)
{
    static const char head[] = "{\"type\":\"person\",\"event\":\"update\",\"ids\":[1],\"updated_attributes\":{\"x\":[null,";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 8;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "]}}", 4);
    return body;
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    char *body;

    wh_changes_init(&out);
    body = nested_value(WH_MAX_JSON_DEPTH - 3); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "ok");
    free(body);
    wh_changes_dispose(&out);
    wh_changes_init(&out);
    body = nested_value(WH_MAX_JSON_DEPTH - 2);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "too_large");
    assert_contains(errbuf, "nested deeper than", "one level too deep");
    free(body);
    body = nested_value(100000); /* past jansson's own parser limit */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "too_large");
    free(body);
    wh_changes_dispose(&out);
}

/* All or nothing: a bad id after good ones fails the notification; what was pushed is released by dispose. */
static void test_all_or_nothing(void **state)
{
    static const char body[] =
        "{\"type\":\"person\",\"event\":\"update\",\"ids\":[1,2,\"\"],\"updated_attributes\":{\"title\":[\"a\",\"b\"]}}";
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, sizeof(body) - 1, &out, errbuf)), "malformed");
    assert_contains(errbuf, "ids[2]", "bad third id");
    wh_changes_dispose(&out); /* ASan: the partial items' JSON is released */
    assert_int_equal(out.size, 0);
}

static void key_of(const char *body, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    if (parse_body(body, strlen(body), &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

static void test_dedupe_key(void **state)
{
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of("{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":1,\"ids\":[5]}", base);
    /* A byte-identical re-post (the only duplicate Copper can cause) shares the key; receive time is not part of it. */
    key_of("{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":1,\"ids\":[5]}", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    /* Any other body is another notification (Copper never retries, so it cannot be a redelivery). */
    key_of("{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":\"1\",\"ids\":[5]}", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":2,\"ids\":[5]}", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":1,\"ids\":[6]}", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"type\":\"person\",\"event\":\"delete\",\"subscription_id\":1,\"ids\":[5]}", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

/* Separator safety: subscription 1 + id 23 is not subscription 12 + id 3 (same body hash input aside). */
static void test_dedupe_key_separators(void **state)
{
    uint8_t a[WH_DEDUPE_KEY_LEN], b[WH_DEDUPE_KEY_LEN];
    static const char body[] = "{\"type\":\"person\",\"event\":\"new\",\"subscription_id\":1,\"ids\":[23,3]}";
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(parse_body(body, sizeof(body) - 1, &out, errbuf), WH_OK);
    memcpy(a, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    memcpy(b, out.items[1].dedupe_key, WH_DEDUPE_KEY_LEN);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

/* occurredAt is the receive time: Copper sends none. */
static void test_occurred_at_is_receive_time(void **state)
{
    static const char body[] = "{\"type\":\"company\",\"event\":\"new\",\"ids\":[1]}";
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(parse_body(body, sizeof(body) - 1, &out, errbuf), WH_OK);
    assert_int_equal(out.items[0].occurred_at_ms, 42);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("account"))->name);
    wh_changes_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),
        cmocka_unit_test(test_check_credentials_limits),
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_dedupe_key_separators),
        cmocka_unit_test(test_occurred_at_is_receive_time),
    };
    return cmocka_run_group_tests_name("providers/copper", tests, NULL, NULL);
}
