/*
 * providers/close.c, driven by data: every case of the JSON files in tests/fixtures/providers/close/ (raw request,
 * credentials -> expected verdict, expected normalized changes) runs through one loop; the shared self-computed
 * vector from ../shared runs too when that folder exists. Cases too generated to write as data (deep nesting,
 * 4 KiB headers) and the dedupe-key properties are plain tests below.
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
#include "fixture.h"

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/close"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/close"
#define DEFAULT_URL "https://wharf.example/webhooks/close/conn_close1"
#define KEY_HEX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SECRET_NAME "signatureKey"

static const wh_provider_t *provider(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("close"));
    assert_non_null(p);
    return p;
}

#define MIN_CASES 90

/* Verification messages must never echo the secret or what was received as a signature. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    fx_assert_no_credential(errbuf, credentials, SECRET_NAME, 8, what, "secret");
    fx_assert_no_header_echo(errbuf, in, "ignature", 0, what);
    fx_assert_no_header_echo(errbuf, in, "sig-hash", 0, what);
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = provider(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 4, /* vectors, verify, normalize, malformed */
        .min_cases = MIN_CASES,
        .parse_credentials = true,
        .reparse_credentials = true,
        .distinct_keys = true,
        .no_previous = false,
        .no_secret = no_secret,
    };

    fx_run_fixtures(&cfg);
}

/* Parses `body` with `credentials`; returns the verdict and leaves errbuf filled. */
static wh_err_t parse_body(const char *body, size_t len, const json_t *credentials, size_t *count, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len), .now_ms = 1};
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    errbuf[0] = '\0';
    err = provider()->parse(&in, credentials, &out, errbuf);
    if (count != NULL)
        *count = out.size;
    wh_changes_dispose(&out);
    return err;
}

static char *nested_arrays(int levels)
{
    char *body = malloc(2 * (size_t)levels + 1);

    assert_non_null(body);
    for (int i = 0; i != levels; ++i) {
        body[i] = '[';
        body[2 * levels - 1 - i] = ']';
    }
    body[2 * levels] = '\0';
    return body;
}

static void run_check_credentials(const char *json, wh_err_t want, const char *contains)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c = json_loads(json, JSON_DECODE_ANY, NULL);

    assert_non_null(c);
    print_message("  credentials %s\n", json);
    assert_string_equal(wh_err_name(provider()->check_credentials(c, errbuf)), wh_err_name(want));
    fx_assert_contains(errbuf, contains, json);
    json_decref(c);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = provider();

    assert_string_equal(p->name, "close");
    assert_int_equal(p->flags, 0);
    assert_string_equal(p->content_type, "application/json");
    assert_non_null(p->check_credentials);
    assert_non_null(p->verify);
    assert_non_null(p->parse);
    assert_null(p->handshake);
    assert_null(p->success);
    assert_null(p->refusal);
}

/* The shared self-computed vector as shipped in ../shared (CI has the folder; a bare checkout skips). */
static void test_shared_vectors(void **state)
{
    json_t *doc, *v;
    size_t i, n = 0;
    FILE *probe = fopen(SHARED_SAMPLES "/vectors.json", "r");

    if (probe == NULL) {
        print_message("  %s absent: skipped\n", SHARED_SAMPLES "/vectors.json");
        skip();
    }
    fclose(probe);
    doc = fx_load_json(SHARED_SAMPLES "/vectors.json");
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        const json_t *hdrs = json_object_get(v, "expected_header"), *body = json_object_get(v, "body");
        const char *ts = json_string_value(json_object_get(hdrs, "close-sig-timestamp"));
        /* vectors.json names the key signature_key_hex; wharf's credentials call it signatureKey. */
        json_t *credentials = json_pack("{s:O}", "signatureKey", json_object_get(v, "signature_key_hex"));
        wh_header_t headers[2] = {
            {WH_STRLIT("close-sig-hash"), wh_str_c(json_string_value(json_object_get(hdrs, "close-sig-hash")))},
            {WH_STRLIT("close-sig-timestamp"), wh_str_c(ts)},
        };
        char errbuf[WH_ERRBUF_SIZE] = "";
        long long now = 0;
        wh_changes_t out;

        assert_non_null(credentials);
        assert_true(wh_str_to_i64(wh_str_c(ts), &now));
        wh_inbound_t in = {
            .method = WH_STRLIT("POST"),
            .url = WH_STRLIT(DEFAULT_URL),
            .headers = headers,
            .nheaders = 2,
            .body = wh_str(json_string_value(body), json_string_length(body)),
            .now_ms = now * 1000 + 1000,
        };
        print_message("  vector %s\n", json_string_value(json_object_get(v, "id")));
        wh_err_t got = provider()->verify(&in, credentials, errbuf);
        if (got != WH_OK)
            fail_msg("vector %s: verify answered %s (\"%s\")", json_string_value(json_object_get(v, "id")), wh_err_name(got),
                     errbuf);
        wh_changes_init(&out);
        assert_int_equal(provider()->parse(&in, credentials, &out, errbuf), WH_OK);
        assert_int_equal(out.size, 1);
        wh_changes_dispose(&out);
        json_decref(credentials);
        ++n;
    }
    json_decref(doc);
    assert_true(n >= 1);
}

static void test_shared_samples(void **state)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    size_t len = 0, count = 0;
    char *body = fx_read_file(SHARED_SAMPLES "/opportunity-updated-won.json", &len);

    if (body == NULL) {
        print_message("  shared sample absent: skipped\n");
        skip();
    }
    assert_string_equal(wh_err_name(parse_body(body, len, NULL, &count, errbuf)), "ok");
    assert_int_equal(count, 1);
    free(body);
}

static void test_check_credentials(void **state)
{
    run_check_credentials("{\"signatureKey\":\"" KEY_HEX "\"}", WH_OK, "");
    run_check_credentials("{\"signatureKey\":\"ABCDEF0123456789\"}", WH_OK, "");
    run_check_credentials("{}", WH_EINVAL, "credentials.signatureKey: required");
    run_check_credentials("{\"signatureKey\":\"\"}", WH_EINVAL, "credentials.signatureKey: must be a non-empty string");
    run_check_credentials("{\"signatureKey\":42}", WH_EINVAL, "credentials.signatureKey: must be a non-empty string");
    run_check_credentials("{\"signatureKey\":null}", WH_EINVAL, "credentials.signatureKey: must be a non-empty string");
    run_check_credentials("{\"signatureKey\":\"xyz0\"}", WH_EINVAL, "credentials.signatureKey: must be hex");
    run_check_credentials("{\"signatureKey\":\"abc\"}", WH_EINVAL, "credentials.signatureKey: must be hex");
    run_check_credentials("{\"signatureKey\":\"" KEY_HEX "\",\"signingSecret\":\"x\"}", WH_EINVAL, "credentials: unknown key");
    run_check_credentials("[]", WH_EINVAL, "credentials: must be an object");
    run_check_credentials("\"" KEY_HEX "\"", WH_EINVAL, "credentials: must be an object");
    {
        char big[2 * 129 + 32], errbuf[WH_ERRBUF_SIZE] = "";
        json_t *c;
        memset(big, 'a', 256);
        big[256] = '\0';
        c = json_pack("{s:s}", "signatureKey", big);
        assert_int_equal(provider()->check_credentials(c, errbuf), WH_OK);
        json_decref(c);
        memset(big, 'a', 258);
        big[258] = '\0';
        c = json_pack("{s:s}", "signatureKey", big);
        assert_int_equal(provider()->check_credentials(c, errbuf), WH_EINVAL);
        fx_assert_contains(errbuf, "credentials.signatureKey: longer than 256", "258 hex chars");
        json_decref(c);
    }
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE], *body;
    char head[] = "{\"event\":{\"id\":\"ev_1\",\"object_type\":\"contact\",\"object_id\":\"c\",\"action\":\"created\","
                  "\"date_created\":\"2024-11-23T10:00:00Z\",\"data\":{\"x\":";
    size_t levels = WH_MAX_JSON_DEPTH - 3; /* root, event, data: the value's arrays make exactly the limit */

    for (int extra = 0; extra != 2; ++extra) {
        size_t n = levels + (size_t)extra, len = 0;
        body = malloc(sizeof(head) + 2 * n + 8);
        assert_non_null(body);
        memcpy(body, head, sizeof(head) - 1);
        len = sizeof(head) - 1;
        for (size_t i = 0; i != n; ++i)
            body[len++] = '[';
        for (size_t i = 0; i != n; ++i)
            body[len++] = ']';
        memcpy(body + len, "}}}", 4);
        assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, NULL, errbuf)), extra == 0 ? "ok" : "too_large");
        free(body);
    }
    body = nested_arrays(100000); /* past jansson's own parser limit */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, NULL, errbuf)), "too_large");
    free(body);
}

static void test_header_too_long(void **state)
{
    char value[WH_MAX_HEADER_VALUE + 1], errbuf[WH_ERRBUF_SIZE] = "";
    wh_header_t headers[2] = {{WH_STRLIT("close-sig-hash"), {value, sizeof(value)}},
                              {WH_STRLIT("close-sig-timestamp"), WH_STRLIT("1732356000")}};
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT(DEFAULT_URL),
                       .headers = headers,
                       .nheaders = 2,
                       .body = WH_STRLIT("{}"),
                       .now_ms = 1732356000000};
    json_t *credentials = json_pack("{s:s}", "signatureKey", KEY_HEX);

    memset(value, 'a', sizeof(value));
    assert_string_equal(wh_err_name(provider()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte header");
    headers[0].value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(provider()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "does not match", "4096-byte header");
    headers[0].value = WH_STRLIT("00");
    headers[1].value = (wh_str_t){value, sizeof(value)};
    assert_string_equal(wh_err_name(provider()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte timestamp");
    json_decref(credentials);
}

static void key_of(const char *event, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    char body[1024], errbuf[WH_ERRBUF_SIZE];
    int n = snprintf(body, sizeof(body), "{\"event\":%s}", event);
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, (size_t)n)};
    wh_changes_t out;

    wh_changes_init(&out);
    if (provider()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", event, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define EV(id, du, extra)                                                                                                          \
    "{\"id\":\"" id "\",\"object_type\":\"contact\",\"object_id\":\"cont_1\",\"action\":\"updated\",\"date_updated\":\"" du        \
    "\",\"data\":{\"name\":\"n\"}" extra "}"

static void test_dedupe_key(void **state)
{
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of(EV("ev_1", "2024-11-23T10:00:00.000000", ""), base);
    /* A redelivery: same id and date_updated, other data or key order: same key. */
    key_of(EV("ev_1", "2024-11-23T10:00:00.000000", ",\"request_id\":\"req_2\""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    /* A consolidated event moves date_updated: a new key (the later state must flow). */
    key_of(EV("ev_1", "2024-11-23T10:00:05.000000", ""), other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(EV("ev_2", "2024-11-23T10:00:00.000000", ""), other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

static void test_object_type_pointers(void **state)
{
    static const char body[] = "{\"event\":" EV("ev_1", "2024-11-23T10:00:00Z", "") "}";
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(provider()->parse(&in, NULL, &out, errbuf), WH_OK);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("contact"))->name);
    assert_ptr_equal(out.items[0].action, wh_action_find(WH_STRLIT("updated")));
    wh_changes_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),       cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_vectors),       cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),    cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_header_too_long),      cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/close", tests, NULL, NULL);
}
