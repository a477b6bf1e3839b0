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

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
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

/* A request built from a fixture's "request" object; owns every byte the inbound view points at. */
typedef struct {
    wh_inbound_t in;
    wh_header_t headers[32];
    char *names[32];
    char *body;
} request_t;

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static void request_init(request_t *r, const json_t *req, bool keep_case, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    r->in.method = WH_STRLIT("POST");
    r->in.url = WH_STRLIT(DEFAULT_URL);
    v = json_object_get(req, "nowMs");
    r->in.now_ms = v != NULL ? json_integer_value(v) : 0;

    assert_true(json_array_size(headers) <= 32);
    json_array_foreach(headers, i, h)
    {
        r->names[i] = strdup(json_string_value(json_array_get(h, 0)));
        assert_non_null(r->names[i]);
        /* h2o hands header names over lower-cased; keepHeaderCase cases check the lookup does not depend on it. */
        for (char *p = r->names[i]; !keep_case && *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
        r->headers[i].name = wh_str_c(r->names[i]);
        v = json_array_get(h, 1);
        r->headers[i].value = wh_str(json_string_value(v), json_string_length(v));
    }
    r->in.headers = r->headers;
    r->in.nheaders = json_array_size(headers);

    if ((v = json_object_get(req, "body")) != NULL) {
        r->body = malloc(json_string_length(v) + 1);
        assert_non_null(r->body);
        memcpy(r->body, json_string_value(v), json_string_length(v));
        r->in.body = wh_str(r->body, json_string_length(v));
    } else if ((v = json_object_get(req, "bodyJson")) != NULL) {
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
    } else if ((v = json_object_get(req, "bodyHex")) != NULL) {
        size_t n = json_string_length(v) / 2;
        const char *hex = json_string_value(v);
        r->body = malloc(n + 1);
        assert_non_null(r->body);
        for (size_t k = 0; k != n; ++k)
            r->body[k] = (char)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
        r->in.body = wh_str(r->body, n);
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

/* JSON text of v (NULL -> "null"), keys sorted: comparing texts prints both sides on failure. */
static char *dump(const json_t *v)
{
    char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
    assert_non_null(s);
    return s;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
    char *g = dump(got), *w = dump(json_is_null(want) ? NULL : want);
    assert_string_equal(g, w);
    free(g);
    free(w);
}

static void assert_change(const wh_change_t *c, const json_t *want)
{
    const json_t *key = json_object_get(want, "dedupeKey");

    assert_string_equal(c->object_type, json_string_value(json_object_get(want, "objectType")));
    assert_string_equal(c->action, json_string_value(json_object_get(want, "action")));
    assert_string_equal(c->object_id, json_string_value(json_object_get(want, "objectId")));
    assert_int_equal(c->occurred_at_ms, json_integer_value(json_object_get(want, "occurredAt")));
    assert_string_equal(c->account, json_string_value(json_object_get(want, "account")));
    assert_string_equal(c->provider_event_id, json_string_value(json_object_get(want, "providerEventId")));
    assert_int_equal(c->thin, json_is_true(json_object_get(want, "thin")));
    assert_non_null(c->fields);
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

static void assert_contains(const char *errbuf, const char *needle, const char *what)
{
    if (strstr(errbuf, needle) == NULL)
        fail_msg("%s: errbuf \"%s\" does not contain \"%s\"", what, errbuf, needle);
}

/* Verification messages must never echo the password or the received Authorization value. */
static void assert_no_secret(const char *errbuf, const json_t *credentials, const request_t *r, const char *what)
{
    const json_t *password = json_object_get(credentials, "password");

    if (json_is_string(password) && json_string_length(password) > 0 && strstr(errbuf, json_string_value(password)) != NULL)
        fail_msg("%s: errbuf \"%s\" holds the password", what, errbuf);
    for (size_t i = 0; i != r->in.nheaders; ++i) {
        wh_str_t v = r->headers[i].value;
        char copy[256];
        if (v.len < 8 || v.len >= sizeof(copy) || !wh_str_ieq(r->headers[i].name, WH_STRLIT("authorization")))
            continue;
        memcpy(copy, v.base, v.len);
        copy[v.len] = '\0';
        if (strstr(errbuf, copy + 6) != NULL)
            fail_msg("%s: errbuf \"%s\" echoes the received Authorization", what, errbuf);
    }
}

static void run_case(const char *file, size_t index, const json_t *tc)
{
    const json_t *credentials = json_object_get(tc, "credentials"), *verdict = json_object_get(tc, "verify"),
                 *parsed = json_object_get(tc, "parse"), *contains = json_object_get(tc, "errorContains");
    char what[512], errbuf[WH_ERRBUF_SIZE];
    request_t r;

    snprintf(what, sizeof(what), "%.64s #%zu \"%.200s\"", file, index, json_string_value(json_object_get(tc, "name")));
    print_message("  case %s\n", what);
    request_init(&r, json_object_get(tc, "request"), json_is_true(json_object_get(tc, "keepHeaderCase")), what);

    if (verdict != NULL) {
        wh_err_t want = err_by_name(json_string_value(verdict));
        errbuf[0] = '\0';
        wh_err_t got = pipedrive()->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL && parsed == NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        }
        assert_no_secret(errbuf, credentials, &r, what);
    }

    if (parsed != NULL) {
        wh_err_t want = err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out, again;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = pipedrive()->parse(&r.in, credentials, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i)
                assert_change(&out.items[i], json_array_get(changes, i));
            /* Keys are a pure function of the body: a second parse gives the same ones. */
            wh_changes_init(&again);
            assert_int_equal(pipedrive()->parse(&r.in, NULL, &again, errbuf), WH_OK);
            for (size_t i = 0; i != out.size; ++i)
                assert_memory_equal(out.items[i].dedupe_key, again.items[i].dedupe_key, WH_DEDUPE_KEY_LEN);
            wh_changes_dispose(&again);
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

    assert_true(n >= 3); /* verify, normalize, malformed */
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
    assert_true(total >= 60);
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
        body = read_file(path, &len);
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

    doc = load_json(SHARED_SAMPLES "/vectors.json");
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
        assert_contains(errbuf, cases[i].contains, cases[i].json);
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
    assert_contains(errbuf, "credentials.password: longer than 256 bytes", "257-byte password");
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
    assert_contains(errbuf, "longer than 4096", "4097-byte header");
    /* At the bound the header is read: 4090 base64 bytes are not valid base64 (not a multiple of 4)… */
    h.value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "invalid_signature");
    assert_contains(errbuf, "not base64", "4090 base64 bytes");
    /* …and 4088 are, decoding to 3066 bytes without ':'. */
    h.value.len = 6 + 4088;
    assert_string_equal(wh_err_name(pipedrive()->verify(&in, c, errbuf)), "invalid_signature");
    assert_contains(errbuf, "no ':'", "4088 base64 bytes");
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
