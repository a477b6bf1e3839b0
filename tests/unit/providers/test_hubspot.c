/*
 * providers/hubspot.c, driven by data: every case of the JSON files in tests/fixtures/providers/hubspot/ (raw request,
 * credentials -> expected verdict, expected normalized changes) runs through one loop; HubSpot's own vectors
 * from ../shared run too when that folder exists. The few cases too large or too generated to write as data
 * (101 events, deep nesting, 4 KiB headers) and the dedupe-key properties are plain tests below.
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/hubspot"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/hubspot"
#define DEFAULT_URL "https://wharf.example/webhooks/hubspot"
#define SECRET "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
#define SDK_BODY                                                                                                                   \
    "[{\"eventId\":1,\"subscriptionId\":12345,\"portalId\":62515,\"occurredAt\":1564113600000,\"subscriptionType\":"               \
    "\"contact.creation\",\"attemptNumber\":0,\"objectId\":123,\"changeSource\":\"CRM\",\"changeFlag\":\"NEW\",\"appId\":"         \
    "54321}]"

static const wh_provider_t *hubspot(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("hubspot"));
    assert_non_null(p);
    return p;
}

/* Verification messages must never echo the secret or what was received as a signature. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    fx_assert_no_credential(errbuf, credentials, "clientSecret", 1, what, "client secret");
    fx_assert_no_header_echo(errbuf, in, "x-hubspot-sig", 0, what);
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = hubspot(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 4, /* vectors, verify, normalize, malformed */
        .min_cases = 100,
        .parse_credentials = false,
        .reparse_credentials = false,
        .distinct_keys = true,
        .no_previous = true,
        .no_secret = no_secret,
    };

    fx_run_fixtures(&cfg);
}

/* HubSpot's published vectors as shipped in ../shared (CI has the folder; a bare checkout skips). */
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
        const json_t *hdrs = json_object_get(v, "expected_header"), *uri = json_object_get(v, "uri_as_received");
        const json_t *ts = json_object_get(v, "timestamp_header"), *hv;
        /* vectors.json names the secret client_secret; wharf's credentials call it clientSecret. */
        json_t *credentials = json_pack("{s:O, s:[O]}", "clientSecret", json_object_get(v, "client_secret"), "signatureVersions",
                                        json_object_get(v, "signature_version"));
        wh_header_t headers[4];
        size_t nh = 0;
        const char *name;
        char lower[4][64], errbuf[WH_ERRBUF_SIZE] = "";
        long long now = 0;
        wh_inbound_t in;

        if (uri == NULL)
            uri = json_object_get(v, "uri");
        json_object_foreach((json_t *)hdrs, name, hv)
        {
            size_t k = 0;
            assert_true(nh < 4 && strlen(name) < sizeof(lower[0]));
            for (; name[k] != '\0'; ++k)
                lower[nh][k] = (char)tolower((unsigned char)name[k]);
            lower[nh][k] = '\0';
            headers[nh].name = wh_str_c(lower[nh]);
            headers[nh].value = wh_str(json_string_value(hv), json_string_length(hv));
            ++nh;
        }
        /* The SDK tests switch the 5-minute check off; wharf cannot, so its clock is set at the vector's time. */
        if (ts != NULL)
            assert_true(wh_str_to_i64(wh_str_c(json_string_value(ts)), &now));
        in = (wh_inbound_t){
            .method = wh_str_c(json_string_value(json_object_get(v, "method"))),
            .url = wh_str_c(json_string_value(uri)),
            .headers = headers,
            .nheaders = nh,
            .body = wh_str(json_string_value(json_object_get(v, "body")), json_string_length(json_object_get(v, "body"))),
            .now_ms = now + 1000,
        };
        print_message("  vector %s\n", json_string_value(json_object_get(v, "id")));
        wh_err_t got = hubspot()->verify(&in, credentials, errbuf);
        if (got != WH_OK)
            fail_msg("vector %s: verify answered %s (\"%s\")", json_string_value(json_object_get(v, "id")), wh_err_name(got),
                     errbuf);
        json_decref(credentials);
        ++n;
    }
    json_decref(doc);
    assert_int_equal(n, 7);
}

static void parse_file(const char *path, size_t want, const char *first_action)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    size_t len = 0;
    char *body = fx_read_file(path, &len);
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL)};
    wh_changes_t out;

    if (body == NULL) {
        print_message("  %s absent: skipped\n", path);
        skip();
    }
    in.body = wh_str(body, len);
    wh_changes_init(&out);
    wh_err_t got = hubspot()->parse(&in, NULL, &out, errbuf);
    if (got != WH_OK)
        fail_msg("%s: parse answered %s (\"%s\")", path, wh_err_name(got), errbuf);
    assert_int_equal(out.size, want);
    assert_string_equal(out.items[0].action, first_action);
    wh_changes_dispose(&out);
    free(body);
}

static void test_shared_samples(void **state)
{
    parse_file(SHARED_SAMPLES "/contact-creation-sdk-test-vector.json", 1, "created");
    parse_file(SHARED_SAMPLES "/webhook-batch-docs-example.json", 2, "updated");
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = hubspot();

    assert_string_equal(p->name, "hubspot");
    assert_int_equal(p->flags, WH_PROVIDER_APP_LEVEL);
    assert_string_equal(p->content_type, "application/json");
    assert_non_null(p->check_credentials);
    assert_non_null(p->verify);
    assert_non_null(p->parse);
    assert_null(p->handshake);
    assert_null(p->success);
}

static void test_check_credentials(void **state)
{
    static const struct {
        const char *json;
        wh_err_t want;
        const char *contains;
    } cases[] = {
        {"{\"clientSecret\":\"" SECRET "\"}", WH_OK, ""},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":[\"v1\",\"v2\",\"v3\"]}", WH_OK, ""},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":[\"v1\"]}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.clientSecret: required"},
        {"{\"signatureVersions\":[\"v3\"]}", WH_EINVAL, "credentials.clientSecret: required"},
        {"{\"clientSecret\":\"\"}", WH_EINVAL, "credentials.clientSecret: must be a non-empty string"},
        {"{\"clientSecret\":42}", WH_EINVAL, "credentials.clientSecret: must be a non-empty string"},
        {"{\"clientSecret\":null}", WH_EINVAL, "credentials.clientSecret: must be a non-empty string"},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":[]}", WH_EINVAL,
         "credentials.signatureVersions: must be a non-empty array"},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":\"v3\"}", WH_EINVAL, "credentials.signatureVersions: must be"},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":[\"v3\",\"V1\"]}", WH_EINVAL, "credentials.signatureVersions[1]: must be"},
        {"{\"clientSecret\":\"s\",\"signatureVersions\":[3]}", WH_EINVAL, "credentials.signatureVersions[0]: must be"},
        {"{\"clientSecret\":\"s\",\"signatureVersion\":[\"v1\"]}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" SECRET "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(hubspot()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        fx_assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, SECRET));
        json_decref(c);
    }
}

static void test_check_credentials_secret_length(void **state)
{
    char secret[258], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c;

    memset(secret, 'k', sizeof(secret) - 1);
    secret[256] = '\0';
    c = json_pack("{s:s}", "clientSecret", secret);
    assert_int_equal(hubspot()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    secret[256] = 'k';
    secret[257] = '\0';
    c = json_pack("{s:s}", "clientSecret", secret);
    assert_string_equal(wh_err_name(hubspot()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.clientSecret: longer than 256 bytes", "257-byte secret");
    json_decref(c);
}

/* Parses `body`; returns the verdict and leaves errbuf filled. */
static wh_err_t parse_body(const char *body, size_t len, size_t *count, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    errbuf[0] = '\0';
    err = hubspot()->parse(&in, NULL, &out, errbuf);
    if (count != NULL)
        *count = out.size;
    wh_changes_dispose(&out);
    return err;
}

static char *batch_of(size_t n)
{
    static const char ev[] = "{\"eventId\":%zu,\"subscriptionId\":1,\"portalId\":62515,\"occurredAt\":1732356000000,"
                             "\"subscriptionType\":\"contact.creation\",\"objectId\":%zu}";
    size_t cap = 2 + n * (sizeof(ev) + 48);
    char *body = malloc(cap);
    size_t len = 0;

    assert_non_null(body);
    body[len++] = '[';
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            body[len++] = ',';
        len += (size_t)snprintf(body + len, cap - len, ev, i + 1, i + 1000);
    }
    body[len++] = ']';
    body[len] = '\0';
    return body;
}

static void test_batch_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t count = 0;
    char *body = batch_of(WH_MAX_BATCH);

    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "ok");
    assert_int_equal(count, WH_MAX_BATCH);
    free(body);

    body = batch_of(WH_MAX_BATCH + 1);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "too_large");
    fx_assert_contains(errbuf, "batch of 101 events", "101 events");
    assert_int_equal(count, 0);
    free(body);
}

/* One propertyChange whose value nests `levels` arrays: total depth = 2 (batch array, event) + levels. */
static char *nested_value(int levels)
{
    static const char head[] = "[{\"eventId\":1,\"portalId\":1,\"occurredAt\":1,\"objectId\":1,"
                               "\"subscriptionType\":\"contact.propertyChange\",\"propertyName\":\"x\",\"propertyValue\":";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "}]", 3);
    return body;
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

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    char *body;

    body = nested_value(WH_MAX_JSON_DEPTH - 2); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "ok");
    free(body);
    body = nested_value(WH_MAX_JSON_DEPTH - 1); /* one more */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    {
        char want[64];
        snprintf(want, sizeof(want), "nested deeper than %d", WH_MAX_JSON_DEPTH);
        fx_assert_contains(errbuf, want, "one level too deep");
    }
    free(body);
    body = nested_arrays(40);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
    body = nested_arrays(100000); /* past jansson's own parser limit */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
}

static void test_header_too_long(void **state)
{
    char value[WH_MAX_HEADER_VALUE + 1], errbuf[WH_ERRBUF_SIZE] = "";
    wh_header_t headers[2] = {{WH_STRLIT("x-hubspot-signature-v3"), {value, sizeof(value)}},
                              {WH_STRLIT("x-hubspot-request-timestamp"), WH_STRLIT("15000000")}};
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT(DEFAULT_URL),
                       .headers = headers,
                       .nheaders = 2,
                       .body = WH_STRLIT("[]"),
                       .now_ms = 15000000};
    json_t *credentials = json_pack("{s:s}", "clientSecret", SECRET);

    memset(value, 'A', sizeof(value));
    assert_string_equal(wh_err_name(hubspot()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte header");

    headers[0].value.len = WH_MAX_HEADER_VALUE; /* at the bound: read, then it simply does not match */
    assert_string_equal(wh_err_name(hubspot()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "does not match", "4096-byte header");

    headers[0].value = WH_STRLIT("HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=");
    headers[1].value.base = value; /* an over-long timestamp is refused the same way */
    headers[1].value.len = sizeof(value);
    assert_string_equal(wh_err_name(hubspot()->verify(&in, credentials, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte timestamp");
    json_decref(credentials);
}

/* A change's dedupe key from a one-event body. */
static void key_of(const char *event, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    char body[1024], errbuf[WH_ERRBUF_SIZE];
    int n = snprintf(body, sizeof(body), "[%s]", event);
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, (size_t)n)};
    wh_changes_t out;

    wh_changes_init(&out);
    if (hubspot()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", event, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define EVENT(sub, id, portal, obj, type, prop, at, extra)                                                                         \
    "{\"subscriptionId\":" sub ",\"eventId\":" id ",\"portalId\":" portal ",\"objectId\":" obj ",\"subscriptionType\":\"" type     \
    "\",\"propertyName\":\"" prop "\",\"propertyValue\":\"v\",\"occurredAt\":" at extra "}"

static void test_dedupe_key(void **state)
{
    static const char *const variants[] = {
        EVENT("2", "3", "1", "4", "contact.propertyChange", "email", "5", ""), /* subscriptionId */
        EVENT("1", "4", "1", "4", "contact.propertyChange", "email", "5", ""), /* eventId */
        EVENT("1", "3", "2", "4", "contact.propertyChange", "email", "5", ""), /* portalId */
        EVENT("1", "3", "1", "5", "contact.propertyChange", "email", "5", ""), /* objectId */
        EVENT("1", "3", "1", "4", "company.propertyChange", "email", "5", ""), /* subscriptionType */
        EVENT("1", "3", "1", "4", "contact.propertyChange", "phone", "5", ""), /* propertyName */
        EVENT("1", "3", "1", "4", "contact.propertyChange", "email", "6", ""), /* occurredAt */
    };
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of(EVENT("1", "3", "1", "4", "contact.propertyChange", "email", "5", ""), base);

    /* A redelivery differs in attemptNumber, key order and value formatting only: same key. */
    key_of(EVENT("1", "3", "1", "4", "contact.propertyChange", "email", "5", ",\"attemptNumber\":3"), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"occurredAt\":5,\"propertyValue\":\"v\",\"propertyName\":\"email\",\"subscriptionType\":\"contact.propertyChange\","
           "\"objectId\":\"4\",\"portalId\":1,\"eventId\":\"3\",\"subscriptionId\":\"1\"}",
           other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    /* The value is not part of the identity (two values for one event id would be HubSpot's bug, not a new event). */
    key_of(EVENT("1", "3", "1", "4", "contact.propertyChange", "email", "5", ",\"propertyValue\":\"w\""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);

    for (size_t i = 0; i != sizeof(variants) / sizeof(variants[0]); ++i) {
        print_message("  variant %zu\n", i);
        key_of(variants[i], other);
        assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    }
    /* Separator safety: subscriptionId "1"+eventId "23" is not subscriptionId "12"+eventId "3". */
    key_of(EVENT("1", "23", "1", "4", "contact.creation", "", "5", ""), base);
    key_of(EVENT("12", "3", "1", "4", "contact.creation", "", "5", ""), other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

/* Associations changed in the same millisecond under one event id stay distinct. */
static void test_dedupe_key_associations(void **state)
{
#define ASSOC(to, removed)                                                                                                         \
    "{\"eventId\":1,\"portalId\":1,\"occurredAt\":1,\"subscriptionType\":\"contact.associationChange\",\"fromObjectId\":2,"        \
    "\"toObjectId\":" to ",\"associationType\":\"CONTACT_TO_COMPANY\",\"associationRemoved\":" removed "}"
    uint8_t a[WH_DEDUPE_KEY_LEN], b[WH_DEDUPE_KEY_LEN], c[WH_DEDUPE_KEY_LEN];

    key_of(ASSOC("3", "false"), a);
    key_of(ASSOC("4", "false"), b);
    key_of(ASSOC("3", "true"), c);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    assert_memory_not_equal(a, c, WH_DEDUPE_KEY_LEN);
#undef ASSOC
}

/* All or nothing: a bad event after good ones fails the batch; what was pushed is released by dispose. */
static void test_all_or_nothing(void **state)
{
    static const char body[] =
        "[{\"eventId\":1,\"portalId\":1,\"occurredAt\":1,\"objectId\":1,\"subscriptionType\":\"contact.creation\"},"
        "{\"eventId\":2,\"portalId\":1,\"occurredAt\":1,\"objectId\":2,\"subscriptionType\":\"contact.merge\","
        "\"mergedObjectIds\":[\"x\"]}]";
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(hubspot()->parse(&in, NULL, &out, errbuf)), "malformed");
    fx_assert_contains(errbuf, "event 1: mergedObjectIds[0]", "merge with a bad id");
    wh_changes_dispose(&out); /* ASan: the partial items' JSON is released */
    assert_int_equal(out.size, 0);
}

/* Unified object types come from wh_object_types itself, so consumers may compare by pointer. */
static void test_object_type_pointers(void **state)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(SDK_BODY)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(hubspot()->parse(&in, NULL, &out, errbuf), WH_OK);
    assert_ptr_equal(out.items[0].object_type, wh_object_type_find(WH_STRLIT("contact"))->name);
    wh_changes_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_shared_vectors),
        cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials),
        cmocka_unit_test(test_check_credentials_secret_length),
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_header_too_long),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_dedupe_key_associations),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/hubspot", tests, NULL, NULL);
}
