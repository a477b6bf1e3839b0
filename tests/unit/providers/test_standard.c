/*
 * providers/standard.c, driven by data: every case of the JSON files in tests/fixtures/providers/standard/ runs
 * through one loop. A case is {name, credentials, request{headers, body|bodyJson, url, nowMs}} with any of
 * "checkCredentials" (expected verdict name of check_credentials), "handshake" (true/false, "reply"),
 * "verify" and "parse" (verdict names), "changes" (expected normalized changes), "errorContains".
 * gen.py in the fixtures folder computes the signatures (Python's hmac, an implementation independent of wharf's).
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

#define PROVIDER "standard"
#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/" PROVIDER
#define DEFAULT_URL "https://wharf.example/webhooks/" PROVIDER "/conn_1"
#define MIN_CASES 40

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
