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
#include "fixture.h"

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

/* Verification messages never echo a secret value. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    const json_t *secret = json_object_get(credentials, "secret"), *v;
    const char *k;

    (void)in;
    if (!json_is_object(secret))
        return;
    json_object_foreach((json_t *)secret, k, v)
    {
        if (json_is_string(v) && json_string_length(v) > 2 && strstr(errbuf, json_string_value(v)) != NULL)
            fail_msg("%s: errbuf \"%s\" holds a secret value", what, errbuf);
    }
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = copper(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 3, /* verify, normalize, malformed */
        .min_cases = 50,
        .parse_credentials = true,
        .reparse_credentials = false,
        .distinct_keys = true,
        .no_previous = false,
        .no_secret = no_secret,
    };

    fx_run_fixtures(&cfg);
}

/* Every *.json in ../shared's Copper folder must parse (none is verbatim today: the folder holds a template). */
static void test_shared_samples(void **state)
{
    struct dirent **files;
    int n = scandir(SHARED_SAMPLES, &files, fx_is_json, alphasort);

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
        body = fx_read_file(path, &len);
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
        fx_assert_contains(errbuf, cases[i].contains, cases[i].json);
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
    fx_assert_contains(errbuf, "1 to 16", "17 pairs");
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
    fx_assert_contains(errbuf, "longer than 1024 bytes", "1025-byte value");
    json_decref(c);
    big[129] = '\0';
    c = json_pack("{s:{s:s}}", "secret", big, "v");
    assert_string_equal(wh_err_name(copper()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "key 0 must be 1 to 128 bytes", "129-byte key");
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
    fx_assert_contains(errbuf, "batch of 101 ids", "101 ids");
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
    fx_assert_contains(errbuf, "nested deeper than", "one level too deep");
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
    fx_assert_contains(errbuf, "ids[2]", "bad third id");
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
