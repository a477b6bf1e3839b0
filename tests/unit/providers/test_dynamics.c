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

static void request_init(request_t *r, const json_t *req, bool keep_case, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    v = json_object_get(req, "method");
    r->in.method = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT("POST");
    v = json_object_get(req, "url");
    r->in.url = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT(DEFAULT_URL);
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
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
    } else if ((v = json_object_get(req, "bodyFile")) != NULL) {
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", FIXTURES, json_string_value(v));
        r->body = read_file(path, &len);
        if (r->body == NULL)
            fail_msg("%s: cannot read %s", what, path);
        r->in.body = wh_str(r->body, len);
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

/* Verification messages never echo the key. */
static void assert_no_secret(const char *errbuf, const json_t *credentials, const char *what)
{
    const json_t *key = json_object_get(credentials, "key");

    if (json_is_string(key) && json_string_length(key) > 2 && strstr(errbuf, json_string_value(key)) != NULL)
        fail_msg("%s: errbuf \"%s\" holds the key", what, errbuf);
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
        wh_err_t got = dynamics()->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL && parsed == NULL)
                assert_contains(errbuf, json_string_value(contains), what);
        }
        assert_no_secret(errbuf, credentials, what);
    }

    if (parsed != NULL) {
        wh_err_t want = err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out, again;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = dynamics()->parse(&r.in, credentials, &out, errbuf);
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
            assert_int_equal(dynamics()->parse(&r.in, NULL, &again, errbuf), WH_OK);
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

/* The docs' RemoteExecutionContext as shipped in ../shared (CI has the folder; a bare checkout skips). */
static void test_shared_samples(void **state)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    size_t len = 0;
    char *body = read_file(SHARED_SAMPLES "/contact-update-remoteexecutioncontext.json", &len);
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
        assert_contains(errbuf, cases[i].contains, cases[i].json);
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
    assert_contains(errbuf, "credentials.key: longer than 1024 bytes", "1025-byte key");
    json_decref(c);
    big[257] = '\0';
    c = json_pack("{s:s, s:s}", "key", "k", "headerName", big);
    assert_string_equal(wh_err_name(dynamics()->check_credentials(c, errbuf)), "invalid");
    assert_contains(errbuf, "credentials.headerName: longer than 256 bytes", "257-byte header name");
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
    assert_contains(errbuf, "nested deeper than", "one level too deep");
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
    assert_contains(errbuf, "longer than 4096", "4097-byte header");
    headers[0].value.len = WH_MAX_HEADER_VALUE;
    assert_string_equal(wh_err_name(dynamics()->verify(&in, credentials, errbuf)), "invalid_signature");
    assert_contains(errbuf, "does not match", "4096-byte header");
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
