/*
 * providers/monday.c, driven by data: every case of the JSON files in tests/fixtures/providers/monday/ runs
 * through the shared driver's cases.json loop (fixture.h, fx_run_cases).
 * gen.py in the fixtures folder computes the JWTs (Python's hmac, an implementation independent of wharf's).
 * The shared reference vector and samples from ../shared run too when that folder exists (read in place).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "fixture.h"

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

static void test_fixtures(void **state)
{
    const fx_cases_config_t cfg = {
        .provider = provider(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 1,
        .min_cases = MIN_CASES,
    };

    (void)state;
    fx_run_cases(&cfg);
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
    char *body = fx_read_file(SHARED_SAMPLES "/create_item.json", &len);
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
    doc = fx_load_json(SHARED_SAMPLES "/vectors.json");
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

        body = fx_read_file(files[i][0], &len);
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

    body = fx_read_file(SHARED_SAMPLES "/challenge-request.json", &len);
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
        fx_assert_json_equal(got, want);
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
