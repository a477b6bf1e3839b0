/*
 * providers/zoho.c, driven by data: every case of the JSON files in tests/fixtures/providers/zoho/ (raw
 * request, credentials -> expected verdict, expected normalized change) runs through one loop; Zoho's own
 * samples from ../shared run too when that folder exists. Cases too generated to write as data (101 ids,
 * nesting depth) and the dedupe-key properties are plain tests below.
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

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/zoho"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/zoho"
#define DEFAULT_URL "https://wharf.example/webhooks/zoho/conn_1"
#define TOKEN "TOKEN_FOR_VERIFICATION_OF_1000000068001"
#define CHANNEL "1000000068001"

static const wh_provider_t *zoho(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("zoho"));
    assert_non_null(p);
    return p;
}

/* Verification messages must never echo the stored token (nor, so, a received one that matches it). */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    (void)in;
    fx_assert_no_credential(errbuf, credentials, "token", 1, what, "token");
    if (strstr(errbuf, "TOKEN_FOR") != NULL)
        fail_msg("%s: errbuf \"%s\" echoes a token", what, errbuf);
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = zoho(),
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

/* Zoho's own sample notifications, as shipped in ../shared (a bare checkout skips). */
static void test_shared_samples(void **state)
{
    static const struct {
        const char *file, *object_type, *action, *object_id;
        size_t changed;
    } samples[] = {
        {"leads-insert.json", "lead", "created", "5725767000003000064", 0},
        {"leads-update-affected-values.json", "lead", "updated", "5725767000003000010", 1},
    };
    DIR *dir = opendir(SHARED_SAMPLES);
    json_t *credentials = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", TOKEN);

    if (dir == NULL) {
        json_decref(credentials);
        print_message("  %s absent: skipped\n", SHARED_SAMPLES);
        skip();
    }
    closedir(dir);
    for (size_t i = 0; i != sizeof(samples) / sizeof(samples[0]); ++i) {
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
        assert_string_equal(wh_err_name(zoho()->verify(&in, credentials, errbuf)), "ok");
        wh_changes_init(&out);
        wh_err_t got = zoho()->parse(&in, credentials, &out, errbuf);
        if (got != WH_OK)
            fail_msg("%s: parse answered %s (\"%s\")", path, wh_err_name(got), errbuf);
        assert_int_equal(out.size, 1);
        assert_string_equal(out.items[0].object_type, samples[i].object_type);
        assert_string_equal(out.items[0].action, samples[i].action);
        assert_string_equal(out.items[0].object_id, samples[i].object_id);
        assert_true(out.items[0].thin);
        assert_int_equal(json_object_size(out.items[0].fields), 0);
        assert_int_equal(json_array_size(out.items[0].changed_fields), samples[i].changed);
        wh_changes_dispose(&out);
        free(body);
    }
    json_decref(credentials);
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = zoho();

    assert_string_equal(p->name, "zoho");
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
        {"{\"channelId\":\"" CHANNEL "\",\"token\":\"" TOKEN "\"}", WH_OK, ""},
        {"{}", WH_EINVAL, "credentials.channelId: required"},
        {"{\"token\":\"" TOKEN "\"}", WH_EINVAL, "credentials.channelId: required"},
        {"{\"channelId\":\"1\"}", WH_EINVAL, "credentials.token: required"},
        {"{\"channelId\":1,\"token\":\"" TOKEN "\"}", WH_EINVAL, "credentials.channelId: must be a non-empty string"},
        {"{\"channelId\":\"\",\"token\":\"t\"}", WH_EINVAL, "credentials.channelId: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":\"\"}", WH_EINVAL, "credentials.token: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":null}", WH_EINVAL, "credentials.token: must be a non-empty string"},
        {"{\"channelId\":\"1\",\"token\":\"a\\u0000b\"}", WH_EINVAL, "credentials.token: must not contain NUL"},
        {"{\"channelId\":\"1\",\"token\":\"t\",\"channel_id\":\"1\"}", WH_EINVAL, "credentials: unknown key"},
        {"[]", WH_EINVAL, "credentials: must be an object"},
        {"\"" TOKEN "\"", WH_EINVAL, "credentials: must be an object"},
    };
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        json_t *c = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(c);
        errbuf[0] = '\0';
        print_message("  credentials %s\n", cases[i].json);
        assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), wh_err_name(cases[i].want));
        fx_assert_contains(errbuf, cases[i].contains, cases[i].json);
        assert_null(strstr(errbuf, TOKEN));
        json_decref(c);
    }
}

static void test_check_credentials_length(void **state)
{
    char value[258], errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c;

    memset(value, 'k', sizeof(value) - 1);
    value[256] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", value);
    assert_int_equal(zoho()->check_credentials(c, errbuf), WH_OK);
    json_decref(c);
    value[256] = 'k';
    value[257] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", value);
    assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.token: longer than 256 bytes", "257-byte token");
    json_decref(c);
    value[129] = '\0';
    c = json_pack("{s:s, s:s}", "channelId", value, "token", TOKEN);
    assert_string_equal(wh_err_name(zoho()->check_credentials(c, errbuf)), "invalid");
    fx_assert_contains(errbuf, "credentials.channelId: longer than 128 bytes", "129-byte channel id");
    json_decref(c);
}

static wh_err_t parse_body(const char *body, size_t len, size_t *count, char *errbuf)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len)};
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    errbuf[0] = '\0';
    err = zoho()->parse(&in, NULL, &out, errbuf);
    if (count != NULL)
        *count = out.size;
    wh_changes_dispose(&out);
    return err;
}

static char *notification_of(size_t n)
{
    static const char head[] = "{\"server_time\":1718117126473,\"module\":\"Contacts\",\"operation\":\"update\","
                               "\"channel_id\":\"" CHANNEL "\",\"token\":\"" TOKEN "\",\"ids\":[";
    size_t cap = sizeof(head) + n * 24 + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (size_t i = 0; i != n; ++i)
        len += (size_t)snprintf(body + len, cap - len, "%s\"%zu\"", i != 0 ? "," : "", i + 1000);
    memcpy(body + len, "]}", 3);
    return body;
}

static void test_batch_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t count = 0;
    char *body = notification_of(WH_MAX_BATCH);

    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "ok");
    assert_int_equal(count, WH_MAX_BATCH);
    free(body);
    body = notification_of(WH_MAX_BATCH + 1);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &count, errbuf)), "too_large");
    fx_assert_contains(errbuf, "101 ids, more than 100", "101 ids");
    assert_int_equal(count, 0);
    free(body);
}

static char *nested_value(int levels)
{
    static const char head[] = "{\"server_time\":1,\"module\":\"Leads\",\"operation\":\"insert\",\"channel_id\":\"1\","
                               "\"ids\":[\"1\"],\"query_params\":";
    size_t cap = sizeof(head) + 2 * (size_t)levels + 4;
    char *body = malloc(cap);
    size_t len = sizeof(head) - 1;

    assert_non_null(body);
    memcpy(body, head, len);
    for (int i = 0; i != levels; ++i)
        body[len++] = '[';
    for (int i = 0; i != levels; ++i)
        body[len++] = ']';
    memcpy(body + len, "}", 2);
    return body;
}

static void test_depth_limits(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    char *body;

    body = nested_value(WH_MAX_JSON_DEPTH - 1); /* exactly WH_MAX_JSON_DEPTH */
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "ok");
    free(body);
    body = nested_value(WH_MAX_JSON_DEPTH);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
    body = nested_value(100000);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), NULL, errbuf)), "too_large");
    free(body);
}

/* All or nothing: a bad id after good ones fails the notification; what was pushed is released by dispose. */
static void test_all_or_nothing(void **state)
{
    static const char body[] = "{\"server_time\":1,\"module\":\"Leads\",\"operation\":\"update\",\"channel_id\":\"1\","
                               "\"ids\":[\"1\",\"2\",true],\"affected_fields\":[{\"1\":[\"Email\"]}]}";
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_string_equal(wh_err_name(zoho()->parse(&in, NULL, &out, errbuf)), "malformed");
    fx_assert_contains(errbuf, "ids[2] must be", "a boolean id");
    wh_changes_dispose(&out);
    assert_int_equal(out.size, 0);
}

static void key_of(const char *body, uint8_t key[WH_DEDUPE_KEY_LEN])
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str_c(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    if (zoho()->parse(&in, NULL, &out, errbuf) != WH_OK)
        fail_msg("%s: %s", body, errbuf);
    memcpy(key, out.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
}

#define NOTE(channel, time, module, op, id, extra)                                                                                 \
    "{\"server_time\":" time ",\"module\":\"" module "\",\"operation\":\"" op "\",\"channel_id\":" channel ",\"ids\":[" id         \
    "]" extra "}"

static void test_dedupe_key(void **state)
{
    static const char *const variants[] = {
        NOTE("\"2\"", "5", "Leads", "update", "\"7\"", ""),    /* channel */
        NOTE("\"1\"", "6", "Leads", "update", "\"7\"", ""),    /* server_time */
        NOTE("\"1\"", "5", "Contacts", "update", "\"7\"", ""), /* module */
        NOTE("\"1\"", "5", "Leads", "insert", "\"7\"", ""),    /* operation */
        NOTE("\"1\"", "5", "Leads", "update", "\"8\"", ""),    /* id */
    };
    uint8_t base[WH_DEDUPE_KEY_LEN], other[WH_DEDUPE_KEY_LEN];

    key_of(NOTE("\"1\"", "5", "Leads", "update", "\"7\"", ""), base);
    /* A redelivery with other affected fields, token, key order or id/channel spelling: same key. */
    key_of(NOTE("\"1\"", "5", "Leads", "update", "\"7\"", ",\"affected_fields\":[{\"7\":[\"Email\"]}],\"token\":\"t\""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of(NOTE("1", "5", "Leads", "update", "7", ""), other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    key_of("{\"ids\":[\"7\"],\"channel_id\":\"1\",\"operation\":\"update\",\"module\":\"Leads\",\"server_time\":5}", other);
    assert_memory_equal(base, other, WH_DEDUPE_KEY_LEN);
    for (size_t i = 0; i != sizeof(variants) / sizeof(variants[0]); ++i) {
        print_message("  variant %zu\n", i);
        key_of(variants[i], other);
        assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
    }
    /* Separator safety: channel "1"+time "55" is not channel "15"+time "5". */
    key_of(NOTE("\"1\"", "55", "Leads", "update", "\"7\"", ""), base);
    key_of(NOTE("\"15\"", "5", "Leads", "update", "\"7\"", ""), other);
    assert_memory_not_equal(base, other, WH_DEDUPE_KEY_LEN);
}

static void test_object_type_pointers(void **state)
{
    static const char body[] = NOTE("\"1\"", "5", "Contacts", "insert", "\"7\"", "");
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = WH_STRLIT(body)};
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    wh_changes_init(&out);
    assert_int_equal(zoho()->parse(&in, NULL, &out, errbuf), WH_OK);
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
        cmocka_unit_test(test_batch_limits),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_object_type_pointers),
    };
    return cmocka_run_group_tests_name("providers/zoho", tests, NULL, NULL);
}
