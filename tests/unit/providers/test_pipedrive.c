/*
 * providers/pipedrive.c, driven by data: every case of the JSON files in tests/fixtures/providers/pipedrive/ (raw
 * request, credentials -> expected verdict, expected normalized change) runs through one loop; Pipedrive's own
 * samples from ../shared run too when that folder exists. Cases too generated to write as data (nesting depth,
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/pipedrive"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/pipedrive"
#define DEFAULT_URL "https://wharf.example/webhooks/pipedrive/conn_1"
#define PASSWORD "s3cr3t-pass"

static const wh_provider_t *pipedrive(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("pipedrive"));
    assert_non_null(p);
    return p;
}

/* Verification messages must never echo the password or the received Authorization value. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    fx_assert_no_credential(errbuf, credentials, "password", 1, what, "password");
    /* skip "Basic ": the encoded credentials are what must not come back */
    fx_assert_no_header_echo(errbuf, in, "authorization", 6, what);
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = pipedrive(),
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

/* Pipedrive's own v2 examples and the Basic-auth vector, as shipped in ../shared (a bare checkout skips). */
static void test_shared_samples(void **state)
{
    static const struct {
        const char *file, *object_type, *action, *event_id;
    } samples[] = {
        {"v2-deal-create.json", "deal", "created", "71825ee0-0054-4267-b5fd-d28b7a414212"},
        {"v2-deal-update.json", "deal", "updated", "df47d877-b58c-4886-91cd-1aa83e1d7366"},
        {"v2-deal-delete.json", "deal", "deleted", "a66e9392-fe41-4425-9bef-a1d32bf2df8c"},
        {"v2-person-create.json", "contact", "created", "5359a602-6d1b-4562-a385-ccaa762bd722"},
        {"v2-person-update.json", "contact", "updated", "7c812ffd-8f50-45ea-a597-b8fcba2da9c0"},
        {"v2-person-delete.json", "contact", "deleted", "0c73badd-ba9e-43dd-ab86-687b9797f46b"},
        {"v2-user-deactivated-as-change.json", "user", "updated", "15702024"},
    };
    DIR *dir = opendir(SHARED_SAMPLES);
    json_t *doc, *v;
    size_t i;

    if (dir == NULL) {
        print_message("  %s absent: skipped\n", SHARED_SAMPLES);
        skip();
    }
    closedir(dir);
    for (i = 0; i != sizeof(samples) / sizeof(samples[0]); ++i) {
        char path[512], errbuf[WH_ERRBUF_SIZE] = "";
        size_t len = 0;
        char *body;
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL)};
        wh_changes_t out;

        snprintf(path, sizeof(path), "%s/%s", SHARED_SAMPLES, samples[i].file);
        body = fx_read_file(path, &len);
        if (body == NULL)
            fail_msg("%s: cannot read", path);
        print_message("  sample %s\n", samples[i].file);
        in.body = wh_str(body, len);
        wh_changes_init(&out);
        wh_err_t got = pipedrive()->parse(&in, NULL, &out, errbuf);
        if (got != WH_OK)
            fail_msg("%s: parse answered %s (\"%s\")", path, wh_err_name(got), errbuf);
        assert_int_equal(out.size, 1);
        assert_string_equal(out.items[0].object_type, samples[i].object_type);
        assert_string_equal(out.items[0].action, samples[i].action);
        assert_string_equal(out.items[0].provider_event_id, samples[i].event_id);
        assert_string_equal(out.items[0].account, "8087566");
        wh_changes_dispose(&out);
        free(body);
    }

    doc = fx_load_json(SHARED_SAMPLES "/vectors.json");
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        const json_t *auth = json_object_get(json_object_get(v, "expected_header"), "Authorization");
        json_t *credentials = json_pack("{s:O, s:O}", "username", json_object_get(v, "http_auth_user"), "password",
                                        json_object_get(v, "http_auth_password"));
        wh_header_t header = {WH_STRLIT("authorization"), wh_str(json_string_value(auth), json_string_length(auth))};
        wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .headers = &header, .nheaders = 1};
        char errbuf[WH_ERRBUF_SIZE] = "";

        print_message("  vector %s\n", json_string_value(json_object_get(v, "id")));
        assert_string_equal(wh_err_name(pipedrive()->check_credentials(credentials, errbuf)), "ok");
        assert_string_equal(wh_err_name(pipedrive()->verify(&in, credentials, errbuf)), "ok");
        json_decref(credentials);
    }
    assert_int_equal(i, 1);
    json_decref(doc);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = pipedrive();

    assert_string_equal(p->name, "pipedrive");
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
        {"{\"username\":\"wharf-user\",\"password\":\"" PASSWORD "\"}", WH_OK, ""},
        {"{\"username\":\"u\",\"password\":\"p:a:ss\"}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.username: required"},
        {"{\"password\":\"" PASSWORD "\"}", WH_EINVAL, "credentials.username: required"},
        {"{\"username\":\"u\"}", WH_EINVAL, "credentials.password: required"},
        {"{\"username\":\"\",\"password\":\"p\"}", WH_EINVAL, "credentials.username: must be a non-empty string"},
        {"{\"username\":\"u\",\"password\":\"\"}", WH_EINVAL, "credentials.password: must be a non-empty string"},
        {"{\"username\":7,\"password\":\"p\"}", WH_EINVAL, "credentials.username: must be a non-empty string"},
        {"{\"username\":\"u\",\"password\":null}", WH_EINVAL, "credentials.password: must be a non-empty string"},
        {"{\"username\":\"a:b\",\"password\":\"p\"}", WH_EINVAL, "credentials.username: must not contain ':'"},
        {"{\"username\":\"u\\u0000v\",\"password\":\"p\"}", WH_EINVAL, "credentials.username: must not contain NUL"},
        {"{\"username\":\"u\",\"password\":\"p\",\"user\":\"x\"}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" PASSWORD "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(pipedrive()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        fx_assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, PASSWORD));
        json_decref(c);
    }
}

static void test_check_credentials_length(void **state)
{
    char value[258], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c;

    memset(value, 'k', sizeof(value) - 1);
    value[256] = '\0';
    c = json_pack("{s:s, s:s}", "username", "u", "password", value);
    assert_int_equal(pipedrive()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    value[256] = 'k';
    value[257] = '\0';
    c = json_pack("{s:s, s:s}", "username", "u", "password", value);
    assert_string_equal(wh_err_name(pipedrive()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.password: longer than 256 bytes", "257-byte password");
    json_decref(c);
}

/* Whatever check_credentials accepts, verify can use: the header built from it verifies. */
static void test_credentials_roundtrip(void **state)
{
    static const char header[] = "Basic dTpwOmE6c3M="; /* base64("u:p:a:ss") */
    wh_header_t h = {WH_STRLIT("authorization"), WH_STRLIT(header)};
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .headers = &h, .nheaders = 1};
    json_t *c = json_pack("{s:s, s:s}", "username", "u", "password", "p:a:ss");
    char errbuf[WH_ERRBUF_SIZE] = "";

    assert_int_equal(pipedrive()->check_credentials(c, errbuf), WH_OK);
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "ok");
    json_decref(c);
}

static wh_err_t parse_body(const char *body, size_t len, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    errbuf[0] = '\0';
    err = pipedrive()->parse(&in, NULL, &out, errbuf);
    wh_changes_dispose(&out);
    return err;
}

/* A v2 create whose data.x nests `levels` arrays: total depth = 2 (body, data) + levels. */
static char *nested_value(int levels)
{
    static const char head[] = "{\"meta\":{\"action\":\"create\",\"entity\":\"deal\",\"entity_id\":\"1\",\"id\":\"e\","
                               "\"timestamp\":\"2024-01-02T03:04:05Z\"},\"data\":{\"x\":";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "}}", 3);
    return body;
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    char *body;

    body = nested_value(WH_MAX_JSON_DEPTH - 2); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), errbuf)), "ok");
    free(body);
    body = nested_value(WH_MAX_JSON_DEPTH - 1);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), errbuf)), "too_large");
    free(body);
    body = nested_value(100000); /* past jansson's own parser limit */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), errbuf)), "too_large");
    free(body);
}

static void test_header_too_long(void **state)
{
    char value[WH_MAX_HEADER_VALUE + 1], errbuf[WH_ERRBUF_SIZE] = "";
    wh_header_t h = {WH_STRLIT("authorization"), {value, sizeof(value)}};
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .headers = &h, .nheaders = 1};
    json_t *c = json_pack("{s:s, s:s}", "username", "wharf-user", "password", PASSWORD);

    memcpy(value, "Basic ", 6);
    memset(value + 6, 'A', sizeof(value) - 6);
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "longer than 4096", "4097-byte header");
    /* At the bound the header is read: 4090 base64 bytes are not valid base64 (not a multiple of 4)… */
    h.value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "not base64", "4090 base64 bytes");
    /* …and 4088 are, decoding to 3066 bytes without ':'. */
    h.value.len = 6 + 4088;
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "invalid_signature");
    fx_assert_contains(errbuf, "no ':'", "4088 base64 bytes");
    json_decref(c);
}

static void key_of(const char *body, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str_c(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    if (pipedrive()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define V2(id, entity_id, action, ts, extra)                                                                                       \
    "{\"meta\":{\"action\":\"" action "\",\"entity\":\"person\",\"entity_id\":\"" entity_id "\",\"id\":\"" id                      \
    "\",\"timestamp\":" ts ",\"webhook_id\":\"1\"" extra "},\"data\":{\"name\":\"x\"}}"
#define V1(wh, id, action, micro, extra)                                                                                           \
    "{\"meta\":{\"action\":\"" action "\",\"object\":\"person\",\"id\":" id ",\"timestamp\":1,\"timestamp_micro\":" micro          \
    ",\"webhook_id\":" wh "},\"current\":{\"name\":\"x\"}" extra "}"

static void test_dedupe_key(void **state)
{
    uint8_t a[WH_DEDUPE_KEY_LEN], b[WH_DEDUPE_KEY_LEN];

    /* v2: a retry (meta.attempt 2) keeps the key; another event id changes it. */
    key_of(V2("e1", "8", "change", "\"2024-01-02T03:04:05Z\"", ",\"attempt\":1"), a);
    key_of(V2("e1", "8", "change", "\"2024-01-02T03:04:05Z\"", ",\"attempt\":2"), b);
    assert_memory_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V2("e2", "8", "change", "\"2024-01-02T03:04:05Z\"", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    /* user events whose meta.id is the user id: two changes at different times stay distinct. */
    key_of(V2("15702024", "15702024", "change", "1669304802", ""), a);
    key_of(V2("15702024", "15702024", "change", "1669304803", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V2("15702024", "15702024", "change", "1669304802", ",\"attempt\":3"), b);
    assert_memory_equal(a, b, WH_DEDUPE_KEY_LEN);

    /* v1: a retry ("retry": 1) keeps the key; webhook, object, action and time each change it. */
    key_of(V1("91", "8", "updated", "1523440213384700", ",\"retry\":0"), a);
    key_of(V1("91", "8", "updated", "1523440213384700", ",\"retry\":1"), b);
    assert_memory_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V1("92", "8", "updated", "1523440213384700", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V1("91", "9", "updated", "1523440213384700", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V1("91", "8", "added", "1523440213384700", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    key_of(V1("91", "8", "updated", "1523440213384701", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
    /* Separator safety: webhook "9"+object "18" is not webhook "91"+object "8". */
    key_of(V1("9", "18", "updated", "1523440213384700", ""), b);
    assert_memory_not_equal(a, b, WH_DEDUPE_KEY_LEN);
}

static void test_object_type_pointers(void **state)
{
    static const char body[] = V2("e1", "8", "create", "\"2024-01-02T03:04:05Z\"", "");
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(pipedrive()->parse(&in, NULL, &out, errbuf), WH_OK);
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
        cmocka_unit_test(test_credentials_roundtrip),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_header_too_long),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/pipedrive", tests, NULL, NULL);
}
