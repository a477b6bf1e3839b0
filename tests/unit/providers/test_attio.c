/*
 * providers/attio.c, driven by data: every case of the JSON files in tests/fixtures/providers/close/ (raw request,
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/attio"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/attio"
#define DEFAULT_URL "https://wharf.example/webhooks/attio/conn_attio1"
#define SECRET "attio-test-secret"
#define SECRET_NAME "signingSecret"

static const wh_provider_t *provider(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("attio"));
    assert_non_null(p);
    return p;
}

#define MIN_CASES 80

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

    assert_string_equal(p->name, "attio");
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
        /* vectors.json names it secret; wharf's credentials call it signingSecret. */
        json_t *credentials = json_pack("{s:O}", "signingSecret", json_object_get(v, "secret"));
        static const char *const names[][2] = {{"Attio-Signature", "attio-signature"}, {"X-Attio-Signature", "x-attio-signature"}};
        char errbuf[WH_ERRBUF_SIZE] = "";
        wh_changes_t out;

        assert_non_null(credentials);
        print_message("  vector %s\n", json_string_value(json_object_get(v, "id")));
        /* Each header name alone verifies. */
        for (size_t k = 0; k != 2; ++k) {
            wh_header_t header = {wh_str_c(names[k][1]), wh_str_c(json_string_value(json_object_get(hdrs, names[k][0])))};
            wh_inbound_t in = {
                .method = WH_STRLIT("POST"),
                .url = WH_STRLIT(DEFAULT_URL),
                .headers = &header,
                .nheaders = 1,
                .body = wh_str(json_string_value(body), json_string_length(body)),
                .now_ms = 1732356000000,
            };
            assert_non_null(header.value.base);
            wh_err_t got = provider()->verify(&in, credentials, errbuf);
            if (got != WH_OK)
                fail_msg("vector %s: verify answered %s (\"%s\")", json_string_value(json_object_get(v, "id")), wh_err_name(got),
                         errbuf);
            wh_changes_init(&out);
            assert_int_equal(provider()->parse(&in, credentials, &out, errbuf), WH_OK);
            assert_int_equal(out.size, 1);
            wh_changes_dispose(&out);
        }
        /* The vector's hex-decoded-key alternative verifies too (UNCONFIRMED reading, see providers/attio.c). */
        if (json_object_get(v, "alt_if_hex_decoded_key") != NULL) {
            wh_header_t header = {WH_STRLIT("attio-signature"),
                                  wh_str_c(json_string_value(json_object_get(v, "alt_if_hex_decoded_key")))};
            wh_inbound_t in = {
                .method = WH_STRLIT("POST"),
                .url = WH_STRLIT(DEFAULT_URL),
                .headers = &header,
                .nheaders = 1,
                .body = wh_str(json_string_value(body), json_string_length(body)),
                .now_ms = 1732356000000,
            };
            assert_non_null(header.value.base);
            wh_err_t got = provider()->verify(&in, credentials, errbuf);
            if (got != WH_OK)
                fail_msg("vector %s (hex-decoded key): verify answered %s (\"%s\")", json_string_value(json_object_get(v, "id")),
                         wh_err_name(got), errbuf);
        }
        json_decref(credentials);
        ++n;
    }
    json_decref(doc);
    assert_true(n >= 1);
}

static void test_shared_samples(void **state)
{
    static const char *const files[][2] = {
        {SHARED_SAMPLES "/record-updated.json", "updated"},
        {SHARED_SAMPLES "/record-merged.json", "merged"},
        {SHARED_SAMPLES "/record-deleted.json", "deleted"},
    };

    for (size_t i = 0; i != 3; ++i) {
        char errbuf[WH_ERRBUF_SIZE] = "";
        size_t len = 0;
        char *body = fx_read_file(files[i][0], &len);
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .now_ms = 5};
        wh_changes_t out;

        if (body == NULL) {
            print_message("  %s absent: skipped\n", files[i][0]);
            skip();
        }
        in.body = wh_str(body, len);
        wh_changes_init(&out);
        if (provider()->parse(&in, NULL, &out, errbuf) != WH_OK)
            fail_msg("%s: %s", files[i][0], errbuf);
        assert_int_equal(out.size, 1);
        assert_string_equal(out.items[0].action, files[i][1]);
        assert_true(out.items[0].thin);
        assert_int_equal(out.items[0].occurred_at_ms, 5);
        wh_changes_dispose(&out);
        free(body);
    }
}

static void test_check_credentials(void **state)
{
    run_check_credentials("{\"signingSecret\":\"" SECRET "\"}", WH_OK, "");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{}}", WH_OK, "");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{\"5d8f0c3a\":\"contact\",\"companies\":\"account\"}}", WH_OK,
                          "");
    run_check_credentials("{}", WH_EINVAL, "credentials.signingSecret: required");
    run_check_credentials("{\"objectMap\":{}}", WH_EINVAL, "credentials.signingSecret: required");
    run_check_credentials("{\"signingSecret\":\"\"}", WH_EINVAL, "credentials.signingSecret: must be a non-empty string");
    run_check_credentials("{\"signingSecret\":7}", WH_EINVAL, "credentials.signingSecret: must be a non-empty string");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":[]}", WH_EINVAL, "credentials.objectMap: must be an object");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{\"people\":\"person\"}}", WH_EINVAL,
                          "credentials.objectMap.people: must be a unified object type");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{\"people\":1}}", WH_EINVAL,
                          "credentials.objectMap.people: must be a unified object type");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{\"a b\":\"x\"}}", WH_EINVAL,
                          "credentials.objectMap: values must be unified object types");
    run_check_credentials("{\"signingSecret\":\"s\",\"objectMap\":{\"\":\"contact\"}}", WH_EINVAL,
                          "credentials.objectMap: keys must be");
    run_check_credentials("{\"signingSecret\":\"s\",\"secret\":\"x\"}", WH_EINVAL, "credentials: unknown key");
    run_check_credentials("[]", WH_EINVAL, "credentials: must be an object");
    {
        char big[258], errbuf[WH_ERRBUF_SIZE] = "";
        json_t *c;
        memset(big, 'k', 256);
        big[256] = '\0';
        c = json_pack("{s:s}", "signingSecret", big);
        assert_int_equal(provider()->check_credentials(c, errbuf), WH_OK);
        json_decref(c);
        big[256] = 'k';
        big[257] = '\0';
        c = json_pack("{s:s}", "signingSecret", big);
        assert_int_equal(provider()->check_credentials(c, errbuf), WH_EINVAL);
        fx_assert_contains(errbuf, "credentials.signingSecret: longer than 256 bytes", "257-byte secret");
        json_decref(c);
    }
    {
        json_t *map = json_object(), *c;
        char k[16], errbuf[WH_ERRBUF_SIZE] = "";
        for (int i = 0; i != 257; ++i) {
            snprintf(k, sizeof(k), "o%d", i);
            json_object_set_new(map, k, json_string("deal"));
        }
        c = json_pack("{s:s, s:o}", "signingSecret", "s", "objectMap", map);
        assert_int_equal(provider()->check_credentials(c, errbuf), WH_EINVAL);
        fx_assert_contains(errbuf, "credentials.objectMap: more than 256 entries", "257 entries");
        json_decref(c);
    }
}

static char *batch_of(size_t n)
{
    static const char ev[] =
        "{\"event_type\":\"record.created\",\"id\":{\"workspace_id\":\"w\",\"object_id\":\"o\",\"record_id\":\"r%zu\"}}";
    size_t cap = 64 + n * (sizeof(ev) + 24), len = 0;
    char *body = malloc(cap);

    assert_non_null(body);
    len += (size_t)snprintf(body, cap, "{\"webhook_id\":\"w\",\"events\":[");
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            body[len++] = ',';
        len += (size_t)snprintf(body + len, cap - len, ev, i);
    }
    memcpy(body + len, "]}", 3);
    return body;
}

static void test_batch_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t count = 0;
    char *body = batch_of(WH_MAX_BATCH);

    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, &count, errbuf)), "ok");
    assert_int_equal(count, WH_MAX_BATCH);
    free(body);
    body = batch_of(WH_MAX_BATCH + 1);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, &count, errbuf)), "too_large");
    assert_int_equal(count, 0);
    free(body);
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE], *body;
    static const char head[] =
        "{\"webhook_id\":\"w\",\"events\":[{\"event_type\":\"record.created\",\"id\":{\"workspace_id\":\"w\","
        "\"object_id\":\"o\",\"record_id\":\"r\"},\"x\":";

    for (int extra = 0; extra != 2; ++extra) {
        size_t n = WH_MAX_JSON_DEPTH - 3 + (size_t)extra, len = sizeof(head) - 1; /* root, events, event */
        body = malloc(sizeof(head) + 2 * n + 8);
        assert_non_null(body);
        memcpy(body, head, len);
        for (size_t i = 0; i != n; ++i)
            body[len++] = '[';
        for (size_t i = 0; i != n; ++i)
            body[len++] = ']';
        memcpy(body + len, "}]}", 4);
        assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, NULL, errbuf)), extra == 0 ? "ok" : "too_large");
        free(body);
    }
    body = nested_arrays(100000);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, NULL, errbuf)), "too_large");
    free(body);
}

static void test_header_too_long(void **state)
{
    char value[WH_MAX_HEADER_VALUE + 1], errbuf[WH_ERRBUF_SIZE] = "";
    wh_header_t headers[1] = {{WH_STRLIT("attio-signature"), {value, sizeof(value)}}};
    wh_inbound_t in = {
        .method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .headers = headers, .nheaders = 1, .body = WH_STRLIT("{}")};
    json_t *credentials = json_pack("{s:s}", "signingSecret", SECRET);

    memset(value, 'a', sizeof(value));
    assert_string_equal(wh_err_name(provider()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte header");
    headers[0].value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(provider()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "does not match", "4096-byte header");
    json_decref(credentials);
}

/* Redelivery keys: same Idempotency-Key -> same key whatever the body; without it, the ids decide. */
static void key_of(const char *body, const char *idem, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_header_t h = {WH_STRLIT("idempotency-key"), wh_str_c(idem != NULL ? idem : "")};
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT(DEFAULT_URL),
                       .headers = &h,
                       .nheaders = idem != NULL,
                       .body = wh_str_c(body),
                       .now_ms = 1};
    wh_changes_t out;

    wh_changes_init(&out);
    if (provider()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define BODY(wh, type, rec)                                                                                                        \
    "{\"webhook_id\":\"" wh "\",\"events\":[{\"event_type\":\"" type "\",\"id\":{\"workspace_id\":\"w\",\"object_id\":\"o\","      \
    "\"record_id\":\"" rec "\"}}]}"

static void test_dedupe_key(void **state)
{
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of(BODY("w1", "record.created", "r1"), NULL, base);
    key_of(BODY("w1", "record.created", "r1"), NULL, other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(BODY("w2", "record.created", "r1"), NULL, other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(BODY("w1", "record.deleted", "r1"), NULL, other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(BODY("w1", "record.created", "r2"), NULL, other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    /* The header keys the delivery: the same key for the same header, whatever the body. */
    key_of(BODY("w1", "record.created", "r1"), "idem", base);
    key_of(BODY("w9", "record.deleted", "r9"), "idem", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(BODY("w1", "record.created", "r1"), "idem2", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

/* All or nothing: a bad event after good ones fails the delivery; what was pushed is released by dispose. */
static void test_all_or_nothing(void **state)
{
    static const char body[] =
        "{\"webhook_id\":\"w\",\"events\":[{\"event_type\":\"record.created\",\"id\":{\"workspace_id\":\"w\","
        "\"object_id\":\"o\",\"record_id\":\"r\"}},{\"event_type\":\"record.created\"}]}";
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(provider()->parse(&in, NULL, &out, errbuf)), "malformed");
    fx_assert_contains(errbuf, "event 1: id missing", "second event bad");
    wh_changes_dispose(&out);
    assert_int_equal(out.size, 0);
}

static void test_object_type_pointers(void **state)
{
    static const char body[] = BODY("w", "record.updated", "r");
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    json_t *credentials = json_pack("{s:s, s:{s:s}}", "signingSecret", "s", "objectMap", "o", "deal");
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(provider()->parse(&in, credentials, &out, errbuf), WH_OK);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("deal"))->name);
    assert_ptr_equal(out.items[0].action, wh_action_find(WH_STRLIT("updated")));
    wh_changes_dispose(&out);
    json_decref(credentials);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),       cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_vectors),       cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),    cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_depth_limits),         cmocka_unit_test(test_header_too_long),
        cmocka_unit_test(test_dedupe_key),           cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/attio", tests, NULL, NULL);
}
