/*
 * providers/monday.c, driven by data: every case of the JSON files in tests/fixtures/providers/monday/ runs
 * through one loop. A case is {name, credentials, request{headers, body|bodyJson, url, nowMs}} with any of
 * "checkCredentials" (expected verdict name of check_credentials), "handshake" (true/false, "reply"),
 * "verify" and "parse" (verdict names), "changes" (expected normalized changes), "errorContains".
 * gen.py in the fixtures folder computes the JWTs (Python's hmac, an implementation independent of wharf's).
 * The shared reference vector and samples from ../shared run too when that folder exists (read in place).
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
#include "../../../providers/provider.h"

#define PROVIDER "monday"
#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/" PROVIDER
#define DEFAULT_URL "https://wharf.example/webhooks/" PROVIDER "/conn_1"
#define MIN_CASES 40
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/" PROVIDER

static const wh_provider_t *provider(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT(PROVIDER));
    assert_non_null(p);
    return p;
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

typedef struct {
    wh_inbound_t in;
    wh_header_t headers[32];
    char *names[32];
    char *body;
} request_t;

static void request_init(request_t *r, const json_t *req, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    r->in.method = WH_STRLIT("POST");
    v = json_object_get(req, "url");
    r->in.url = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT(DEFAULT_URL);
    v = json_object_get(req, "nowMs");
    r->in.now_ms = v != NULL ? json_integer_value(v) : 0;
    assert_true(json_array_size(headers) <= 32);
    json_array_foreach(headers, i, h)
    {
        const json_t *value = json_array_get(h, 1);
        r->names[i] = strdup(json_string_value(json_array_get(h, 0)));
        assert_non_null(r->names[i]);
        for (char *p = r->names[i]; *p != '\0'; ++p) /* h2o lower-cases header names */
            *p = (char)tolower((unsigned char)*p);
        r->headers[i].name = wh_str_c(r->names[i]);
        r->headers[i].value = wh_str(json_string_value(value), json_string_length(value));
    }
    r->in.headers = r->headers;
    r->in.nheaders = json_array_size(headers);
    if ((v = json_object_get(req, "body")) != NULL) {
        r->body = malloc(json_string_length(v) + 1);
        assert_non_null(r->body);
        memcpy(r->body, json_string_value(v), json_string_length(v) + 1);
        r->in.body = wh_str(r->body, json_string_length(v));
    } else if ((v = json_object_get(req, "bodyJson")) != NULL) {
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
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

static char *dump(const json_t *v)
{
    char *s = v != NULL && !json_is_null(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
    assert_non_null(s);
    return s;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
    char *g = dump(got), *w = dump(want);
    assert_string_equal(g, w);
    free(g);
    free(w);
}

static void assert_contains(const char *errbuf, const json_t *needle, const char *what)
{
    if (needle != NULL && strstr(errbuf, json_string_value(needle)) == NULL)
        fail_msg("%s: errbuf \"%s\" does not contain \"%s\"", what, errbuf, json_string_value(needle));
}

static void assert_change(const wh_change_t *c, const json_t *want)
{
    const json_t *key = json_object_get(want, "dedupeKey"), *account = json_object_get(want, "account");

    assert_string_equal(c->object_type, json_string_value(json_object_get(want, "objectType")));
    assert_string_equal(c->action, json_string_value(json_object_get(want, "action")));
    assert_string_equal(c->object_id, json_string_value(json_object_get(want, "objectId")));
    assert_int_equal(c->occurred_at_ms, json_integer_value(json_object_get(want, "occurredAt")));
    assert_string_equal(c->account, account != NULL ? json_string_value(account) : "");
    assert_string_equal(c->provider_event_id, json_string_value(json_object_get(want, "providerEventId")));
    assert_int_equal(c->thin, json_is_true(json_object_get(want, "thin")));
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

static void run_case(const char *file, size_t index, const json_t *tc)
{
    const json_t *credentials = json_object_get(tc, "credentials"), *verdict = json_object_get(tc, "verify"),
                 *parsed = json_object_get(tc, "parse"), *contains = json_object_get(tc, "errorContains"),
                 *check = json_object_get(tc, "checkCredentials"), *hs = json_object_get(tc, "handshake");
    char what[512], errbuf[WH_ERRBUF_SIZE];
    request_t r;

    snprintf(what, sizeof(what), "%.64s #%zu \"%.200s\"", file, index, json_string_value(json_object_get(tc, "name")));
    print_message("  case %s\n", what);

    if (check != NULL) {
        wh_err_t want = err_by_name(json_string_value(check));
        errbuf[0] = '\0';
        wh_err_t got = provider()->check_credentials(credentials, errbuf);
        if (got != want)
            fail_msg("%s: check_credentials answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK)
            assert_contains(errbuf, contains, what);
    }
    if (json_object_get(tc, "request") == NULL)
        return;
    request_init(&r, json_object_get(tc, "request"), what);

    if (hs != NULL) {
        wh_reply_t reply = {0};
        bool got = provider()->handshake != NULL && provider()->handshake(&r.in, &reply);
        if (got != json_is_true(hs))
            fail_msg("%s: handshake answered %d", what, got);
        if (got) {
            json_t *body = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
            assert_int_equal(reply.status, 200);
            assert_string_equal(reply.content_type, "application/json");
            assert_json_equal(body, json_object_get(tc, "reply"));
            json_decref(body);
            free(reply.body);
        }
    }
    if (verdict != NULL) {
        wh_err_t want = err_by_name(json_string_value(verdict));
        errbuf[0] = '\0';
        wh_err_t got = provider()->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (parsed == NULL)
                assert_contains(errbuf, contains, what);
        }
    }
    if (parsed != NULL) {
        wh_err_t want = err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = provider()->parse(&r.in, credentials, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            assert_contains(errbuf, contains, what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i)
                assert_change(&out.items[i], json_array_get(changes, i));
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

    (void)state;
    assert_true(n >= 1);
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
    assert_true(total >= MIN_CASES);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static wh_err_t verify_jwt(const char *token, const char *url, int64_t now_ms, json_t *credentials, const char *body, size_t len,
                           char *errbuf)
{
    wh_header_t header = {WH_STRLIT("authorization"), wh_str_c(token)};
    wh_inbound_t in = {
        .method = WH_STRLIT("POST"),
        .url = wh_str_c(url),
        .headers = &header,
        .nheaders = 1,
        .body = wh_str(body, len),
        .now_ms = now_ms,
    };
    errbuf[0] = '\0';
    return provider()->verify(&in, credentials, errbuf);
}

/* The shared self-computed reference vector as shipped in ../shared (CI has the folder; a bare checkout skips). */
static void test_shared_vectors(void **state)
{
    json_t *doc, *v;
    size_t i, n = 0, len = 0;
    char *body = read_file(SHARED_SAMPLES "/create_item.json", &len);
    FILE *probe = fopen(SHARED_SAMPLES "/vectors.json", "r");

    (void)state;
    if (probe == NULL || body == NULL) {
        if (probe != NULL)
            fclose(probe);
        free(body);
        print_message("  %s absent: skipped\n", SHARED_SAMPLES);
        skip();
    }
    fclose(probe);
    doc = load_json(SHARED_SAMPLES "/vectors.json");
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        const json_t *claims = json_object_get(v, "decoded_claims");
        const char *token = json_string_value(json_object_get(v, "header_value"));
        const char *aud = json_string_value(json_object_get(claims, "aud"));
        int64_t at = json_integer_value(json_object_get(v, "verify_at_unix")) * 1000;
        int64_t exp = json_integer_value(json_object_get(claims, "exp")) * 1000;
        json_t *credentials = json_pack("{s:O}", "signingSecret", json_object_get(v, "signing_secret"));
        json_t *other = json_pack("{s:s}", "signingSecret", "monday-signing-secret");
        char errbuf[WH_ERRBUF_SIZE];
        wh_err_t got;

        assert_non_null(credentials);
        assert_non_null(other);
        assert_non_null(token);
        assert_non_null(aud);
        print_message("  vector %s\n", json_string_value(json_object_get(v, "id")));
        got = verify_jwt(token, aud, at, credentials, body, len, errbuf);
        if (got != WH_OK)
            fail_msg("vector: verify answered %s (\"%s\")", wh_err_name(got), errbuf);
        assert_string_equal(wh_err_name(verify_jwt(token, aud, exp, credentials, body, len, errbuf)), "stale_timestamp");
        assert_string_equal(wh_err_name(verify_jwt(token, DEFAULT_URL, at, credentials, body, len, errbuf)), "invalid_signature");
        assert_string_equal(wh_err_name(verify_jwt(token, aud, at, other, body, len, errbuf)), "invalid_signature");
        json_decref(credentials);
        json_decref(other);
        ++n;
    }
    json_decref(doc);
    free(body);
    assert_true(n >= 1);
}

/* The shared samples parse (and the challenge is answered) as shipped in ../shared; a bare checkout skips. */
static void test_shared_samples(void **state)
{
    static const char *const files[][2] = {
        {SHARED_SAMPLES "/create_item.json", "created"},
        {SHARED_SAMPLES "/change_column_value.json", "updated"},
        {SHARED_SAMPLES "/status_column_change.json", "updated"},
    };
    json_t *credentials = json_pack("{s:s}", "signingSecret", "monday-signing-secret");
    size_t len = 0;
    char *body;

    (void)state;
    assert_non_null(credentials);
    for (size_t i = 0; i != sizeof(files) / sizeof(files[0]); ++i) {
        char errbuf[WH_ERRBUF_SIZE] = "";
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .now_ms = 5};
        wh_reply_t reply = {0};
        wh_changes_t out;

        body = read_file(files[i][0], &len);
        if (body == NULL) {
            json_decref(credentials);
            print_message("  %s absent: skipped\n", files[i][0]);
            skip();
        }
        in.body = wh_str(body, len);
        assert_false(provider()->handshake(&in, &reply));
        wh_changes_init(&out);
        if (provider()->parse(&in, credentials, &out, errbuf) != WH_OK)
            fail_msg("%s: %s", files[i][0], errbuf);
        assert_int_equal(out.size, 1);
        assert_string_equal(out.items[0].action, files[i][1]);
        assert_string_equal(out.items[0].object_type, "monday:item");
        assert_false(out.items[0].thin);
        wh_changes_dispose(&out);
        free(body);
    }
    json_decref(credentials);

    body = read_file(SHARED_SAMPLES "/challenge-request.json", &len);
    if (body == NULL) {
        print_message("  %s absent: skipped\n", SHARED_SAMPLES "/challenge-request.json");
        skip();
    }
    {
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};
        wh_reply_t reply = {0};
        json_t *want = json_loadb(body, len, 0, NULL), *got;

        assert_non_null(want);
        assert_true(provider()->handshake(&in, &reply));
        assert_int_equal(reply.status, 200);
        got = json_loadb(reply.body, reply.body_len, 0, NULL);
        assert_json_equal(got, want);
        json_decref(got);
        json_decref(want);
        free(reply.body);
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_vectors),
        cmocka_unit_test(test_shared_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
