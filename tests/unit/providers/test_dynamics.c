/*
 * providers/dynamics.c, driven by data: every case of the JSON files in tests/fixtures/providers/dynamics/ (raw request,
 * credentials -> expected verdict, expected normalized change) runs through one loop; the Dataverse docs sample from
 * ../shared runs too when that folder exists. Cases too generated to write as data (nesting depth, 4 KiB headers,
 * dedupe-key properties) are plain tests below.
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/dynamics"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/dynamics365"
#define DEFAULT_URL "https://wharf.example/webhooks/dynamics/conn_1"
#define KEY "dyn-key-0123456789"

static const wh_provider_t *dynamics(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("dynamics"));
    assert_non_null(p);
    return p;
}

/* Verification messages never echo the key. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    (void)in;
    fx_assert_no_credential(errbuf, credentials, "key", 3, what, "key");
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = dynamics(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 3, /* verify, normalize, malformed */
        .min_cases = 60,
        .parse_credentials = true,
        .reparse_credentials = false,
        .distinct_keys = false,
        .no_previous = false,
        .no_secret = no_secret,
    };

    fx_run_fixtures(&cfg);
}

/* The docs' RemoteExecutionContext as shipped in ../shared (CI has the folder; a bare checkout skips). */
static void test_shared_samples(void **state)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    size_t len = 0;
    char *body = fx_read_file(SHARED_SAMPLES "/contact-update-remoteexecutioncontext.json", &len);
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL)};
    wh_changes_t out;

    if (body == NULL) {
        print_message("  %s absent: skipped\n", SHARED_SAMPLES);
        skip();
    }
    in.body = wh_str(body, len);
    wh_changes_init(&out);
    wh_err_t got = dynamics()->parse(&in, NULL, &out, errbuf);
    if (got != WH_OK)
        fail_msg("shared sample: parse answered %s (\"%s\")", wh_err_name(got), errbuf);
    assert_int_equal(out.size, 1);
    assert_string_equal(out.items[0].object_type, "contact");
    assert_string_equal(out.items[0].action, "updated");
    assert_string_equal(out.items[0].object_id, "6d81597f-0f9f-e711-8122-000d3aa2331c");
    assert_int_equal(out.items[0].occurred_at_ms, 1506409448000LL);
    assert_string_equal(json_string_value(json_object_get(out.items[0].fields, "firstName")), "James");
    wh_changes_dispose(&out);
    free(body);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = dynamics();

    assert_string_equal(p->name, "dynamics");
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
        {"{\"key\":\"" KEY "\"}", WH_OK, ""},
        {"{\"key\":\"" KEY "\",\"headerName\":\"X-Wharf-Key\"}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.key: required"},
        {"{\"headerName\":\"X-Wharf-Key\"}", WH_EINVAL, "credentials.key: required"},
        {"{\"key\":\"\"}", WH_EINVAL, "credentials.key: must be a non-empty string"},
        {"{\"key\":42}", WH_EINVAL, "credentials.key: must be a non-empty string"},
        {"{\"key\":null}", WH_EINVAL, "credentials.key: must be a non-empty string"},
        {"{\"key\":\"k\",\"headerName\":\"\"}", WH_EINVAL, "credentials.headerName: must be an HTTP header name"},
        {"{\"key\":\"k\",\"headerName\":\"X Key\"}", WH_EINVAL, "credentials.headerName: must be an HTTP header name"},
        {"{\"key\":\"k\",\"headerName\":\"X-Key:\"}", WH_EINVAL, "credentials.headerName: must be an HTTP header name"},
        {"{\"key\":\"k\",\"headerName\":7}", WH_EINVAL, "credentials.headerName: must be an HTTP header name"},
        {"{\"key\":\"k\",\"headername\":\"X-Key\"}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" KEY "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(dynamics()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        fx_assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, KEY));
        json_decref(c);
    }
}

static void test_check_credentials_lengths(void **state)
{
    char big[1026], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c;

    memset(big, 'k', sizeof(big) - 1);
    big[1024] = '\0';
    c = json_pack("{s:s}", "key", big);
    assert_int_equal(dynamics()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    big[1024] = 'k';
    big[1025] = '\0';
    c = json_pack("{s:s}", "key", big);
    assert_string_equal(wh_err_name(dynamics()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.key: longer than 1024 bytes", "1025-byte key");
    json_decref(c);
    big[257] = '\0';
    c = json_pack("{s:s, s:s}", "key", "k", "headerName", big);
    assert_string_equal(wh_err_name(dynamics()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.headerName: longer than 256 bytes", "257-byte header name");
    json_decref(c);
}

static wh_err_t parse_body(const char *body, size_t len, wh_changes_t *out, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};

    errbuf[0] = '\0';
    return dynamics()->parse(&in, NULL, out, errbuf);
}

/* A valid context whose one attribute value nests `levels` arrays: total depth = 6 + levels. */
static char *nested_value(int levels)
{
    static const char head[] = "{\"MessageName\":\"Update\",\"PrimaryEntityName\":\"contact\",\"PrimaryEntityId\":\"c\","
                               "\"OperationCreatedOn\":\"/Date(1)/\",\"InputParameters\":[{\"key\":\"Target\",\"value\":"
                               "{\"Attributes\":[{\"key\":\"x\",\"value\":";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 16;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "}]}}]}", 7);
    return body;
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    char *body;

    wh_changes_init(&out);
    body = nested_value(WH_MAX_JSON_DEPTH - 6); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "ok");
    free(body);
    wh_changes_dispose(&out);
    wh_changes_init(&out);
    body = nested_value(WH_MAX_JSON_DEPTH - 5);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "too_large");
    fx_assert_contains(errbuf, "nested deeper than", "one level too deep");
    free(body);
    body = nested_value(100000); /* past jansson's own parser limit */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "too_large");
    free(body);
    wh_changes_dispose(&out);
}

static void test_header_too_long(void **state)
{
    char value[WH_MAX_HEADER_VALUE + 1], errbuf[WH_ERRBUF_SIZE] = "";
    wh_header_t headers[1] = {{WH_STRLIT("x-wharf-key"), {value, sizeof(value)}}};
    wh_inbound_t in = {
        .method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .headers = headers, .nheaders = 1, .body = WH_STRLIT("{}")};
    json_t *credentials = json_pack("{s:s, s:s}", "key", KEY, "headerName", "X-Wharf-Key");

    memset(value, 'A', sizeof(value));
    assert_string_equal(wh_err_name(dynamics()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte header");
    headers[0].value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(dynamics()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "does not match", "4096-byte header");
    json_decref(credentials);
}

/* A change's dedupe key from a context built of the given parts. */
static void key_of(const char *message, const char *entity_id, const char *operation, const char *extra,
                   uint8_t key[WH_DEDUPE_KEY_LEN])
{
    char body[1024], errbuf[WH_ERRBUF_SIZE];
    int n = snprintf(body, sizeof(body),
                     "{%s\"MessageName\":\"%s\",\"PrimaryEntityName\":\"contact\",\"PrimaryEntityId\":\"%s\","
                     "\"OperationCreatedOn\":\"/Date(1)/\"%s%s%s}",
                     extra, message, entity_id, operation != NULL ? ",\"OperationId\":\"" : "", operation != NULL ? operation : "",
                     operation != NULL ? "\"" : "");
    wh_changes_t out;

    wh_changes_init(&out);
    if (parse_body(body, (size_t)n, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

static void test_dedupe_key(void **state)
{
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of("Update", "c-1", "op-1", "", base);
    /* The retry differs in what is not part of the identity (Depth, key order): same key. */
    key_of("Update", "c-1", "op-1", "\"Depth\":2,", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("Create", "c-1", "op-1", "", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("Update", "c-2", "op-1", "", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("Update", "c-1", "op-2", "", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    /* Without OperationId the body decides: identical bodies share a key, different ones do not. */
    key_of("Update", "c-1", NULL, "", base);
    key_of("Update", "c-1", NULL, "", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("Update", "c-1", NULL, "\"Depth\":2,", other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

/* Unified object types come from wh_object_types itself, so consumers may compare by pointer. */
static void test_object_type_pointers(void **state)
{
    static const char body[] = "{\"MessageName\":\"Delete\",\"PrimaryEntityName\":\"opportunity\",\"PrimaryEntityId\":\"o\","
                               "\"OperationCreatedOn\":\"/Date(1)/\"}";
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(parse_body(body, sizeof(body) - 1, &out, errbuf), WH_OK);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("deal"))->name);
    wh_changes_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),
        cmocka_unit_test(test_check_credentials_lengths),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_header_too_long),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/dynamics", tests, NULL, NULL);
}
