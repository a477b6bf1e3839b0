/*
 * The provider fixture driver: see fixture.h. Linked into every tests/unit/providers/test_*.c executable.
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
#include "fixture.h"

char *fx_read_file(const char *path, size_t *len)
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

json_t *fx_load_json(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return v;
}

int fx_is_json(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

wh_err_t fx_err_by_name(const char *name)
{
    for (int e = 0; e != WH__ERR_COUNT; ++e)
        if (strcmp(wh_err_name((wh_err_t)e), name) == 0)
            return (wh_err_t)e;
    fail_msg("unknown verdict name \"%s\" in a fixture", name);
    return WH_EINTERNAL;
}

void fx_assert_contains(const char *errbuf, const char *needle, const char *what)
{
    if (strstr(errbuf, needle) == NULL)
        fail_msg("%s: errbuf \"%s\" does not contain \"%s\"", what, errbuf, needle);
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

void fx_request_init(fx_request_t *r, const json_t *req, bool keep_case, const fx_config_t *cfg, const char *what)
{
    const json_t *headers = json_object_get(req, "headers"), *h, *v;
    size_t i;

    memset(r, 0, sizeof(*r));
    v = json_object_get(req, "method");
    r->in.method = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : WH_STRLIT("POST");
    v = json_object_get(req, "url");
    r->in.url = v != NULL ? wh_str(json_string_value(v), json_string_length(v)) : wh_str_c(cfg->default_url);
    v = json_object_get(req, "nowMs");
    r->in.now_ms = v != NULL ? json_integer_value(v) : 0;
    /* the client address the gateway would pass (WH_PROVIDER_CLIENT_ADDR); absent: unknown */
    if ((v = json_object_get(req, "clientIp")) != NULL) {
        if (!wh_ip_parse(wh_str(json_string_value(v), json_string_length(v)), &r->client_ip))
            fail_msg("%s: clientIp is not an address", what);
        r->in.client_ip = &r->client_ip;
    }

    assert_true(json_array_size(headers) <= 32);
    json_array_foreach(headers, i, h)
    {
        const json_t *name = json_array_get(h, 0), *value = json_array_get(h, 1);
        r->names[i] = strdup(json_string_value(name));
        assert_non_null(r->names[i]);
        /* h2o hands header names over lower-cased; keepHeaderCase cases check the lookup does not depend on it. */
        for (char *p = r->names[i]; !keep_case && *p != '\0'; ++p)
            *p = (char)tolower((unsigned char)*p);
        r->headers[i].name = wh_str_c(r->names[i]);
        r->headers[i].value = wh_str(json_string_value(value), json_string_length(value));
    }
    r->in.headers = r->headers;
    r->in.nheaders = json_array_size(headers);

    if ((v = json_object_get(req, "body")) != NULL) {
        r->body = malloc(json_string_length(v) + 1);
        assert_non_null(r->body);
        memcpy(r->body, json_string_value(v), json_string_length(v) + 1);
        r->in.body = wh_str(r->body, json_string_length(v));
    } else if ((v = json_object_get(req, "bodyJson")) != NULL) {
        r->body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        assert_non_null(r->body);
        r->in.body = wh_str_c(r->body);
    } else if ((v = json_object_get(req, "bodyFile")) != NULL) {
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", cfg->dir, json_string_value(v));
        r->body = fx_read_file(path, &len);
        if (r->body == NULL)
            fail_msg("%s: cannot read %s", what, path);
        r->in.body = wh_str(r->body, len);
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

void fx_request_dispose(fx_request_t *r)
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

void fx_assert_json_equal(const json_t *got, const json_t *want)
{
    char *g = dump(got), *w = dump(json_is_null(want) ? NULL : want);
    assert_string_equal(g, w);
    free(g);
    free(w);
}

/* missing_account: what an expected change without "account" stands for (NULL: the key is required). */
static void assert_change(const wh_change_t *c, const json_t *want, bool no_previous, const char *missing_account)
{
    const json_t *key = json_object_get(want, "dedupeKey"), *account = json_object_get(want, "account");

    assert_string_equal(c->object_type, json_string_value(json_object_get(want, "objectType")));
    assert_string_equal(c->action, json_string_value(json_object_get(want, "action")));
    assert_string_equal(c->object_id, json_string_value(json_object_get(want, "objectId")));
    assert_int_equal(c->occurred_at_ms, json_integer_value(json_object_get(want, "occurredAt")));
    assert_string_equal(c->account, account != NULL ? json_string_value(account) : missing_account);
    assert_string_equal(c->provider_event_id, json_string_value(json_object_get(want, "providerEventId")));
    assert_int_equal(c->thin, json_is_true(json_object_get(want, "thin")));
    assert_non_null(c->fields);
    assert_true(json_is_object(c->fields));
    fx_assert_json_equal(c->fields, json_object_get(want, "fields"));
    fx_assert_json_equal(c->changed_fields, json_object_get(want, "changedFields"));
    if (no_previous)
        assert_null(c->previous);
    else
        fx_assert_json_equal(c->previous, json_object_get(want, "previous"));
    fx_assert_json_equal(c->extra, json_object_get(want, "extra"));
    if (key != NULL) {
        char hex[2 * WH_DEDUPE_KEY_LEN + 1];
        wh_hex_encode(c->dedupe_key, WH_DEDUPE_KEY_LEN, hex);
        assert_string_equal(hex, json_string_value(key));
    }
}

void fx_assert_change(const wh_change_t *c, const json_t *want, bool no_previous)
{
    assert_change(c, want, no_previous, NULL);
}

static void assert_distinct_keys(const wh_changes_t *out, const char *what)
{
    for (size_t i = 0; i != out->size; ++i)
        for (size_t j = i + 1; j != out->size; ++j)
            if (memcmp(out->items[i].dedupe_key, out->items[j].dedupe_key, WH_DEDUPE_KEY_LEN) == 0)
                fail_msg("%s: changes %zu and %zu share a dedupe key", what, i, j);
}

void fx_run_case(const fx_config_t *cfg, const char *file, size_t index, const json_t *tc)
{
    const json_t *credentials = json_object_get(tc, "credentials"), *verdict = json_object_get(tc, "verify"),
                 *parsed = json_object_get(tc, "parse"), *contains = json_object_get(tc, "errorContains");
    const wh_provider_t *p = cfg->provider;
    char what[512], errbuf[WH_ERRBUF_SIZE];
    fx_request_t r;

    snprintf(what, sizeof(what), "%.64s #%zu \"%.200s\"", file, index, json_string_value(json_object_get(tc, "name")));
    print_message("  case %s\n", what);
    fx_request_init(&r, json_object_get(tc, "request"), json_is_true(json_object_get(tc, "keepHeaderCase")), cfg, what);

    if (verdict != NULL) {
        wh_err_t want = fx_err_by_name(json_string_value(verdict));
        errbuf[0] = '\0';
        wh_err_t got = p->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL && parsed == NULL)
                fx_assert_contains(errbuf, json_string_value(contains), what);
        }
        cfg->no_secret(errbuf, credentials, &r.in, what);
    }

    if (parsed != NULL) {
        wh_err_t want = fx_err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out, again;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = p->parse(&r.in, cfg->parse_credentials ? credentials : NULL, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (contains != NULL)
                fx_assert_contains(errbuf, json_string_value(contains), what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i) {
                print_message("    change %zu\n", i);
                fx_assert_change(&out.items[i], json_array_get(changes, i), cfg->no_previous);
            }
            if (cfg->distinct_keys)
                assert_distinct_keys(&out, what);
            /* Keys are a pure function of the body: a second parse gives the same ones. */
            wh_changes_init(&again);
            assert_int_equal(p->parse(&r.in, cfg->reparse_credentials ? credentials : NULL, &again, errbuf), WH_OK);
            for (size_t i = 0; i != out.size; ++i)
                assert_memory_equal(out.items[i].dedupe_key, again.items[i].dedupe_key, WH_DEDUPE_KEY_LEN);
            wh_changes_dispose(&again);
        }
        wh_changes_dispose(&out);
    }
    fx_request_dispose(&r);
}

/* Every case of every *.json file in dir, in name order, through run; returns how many ran. */
static size_t run_dir(const char *dir, int min_files, size_t min_cases, const void *cfg,
                      void (*run)(const void *cfg, const char *file, size_t index, const json_t *tc))
{
    struct dirent **files;
    int n = scandir(dir, &files, fx_is_json, alphasort);
    size_t total = 0;

    assert_true(n >= min_files);
    for (int f = 0; f != n; ++f) {
        char path[512];
        json_t *doc, *tc;
        size_t i;

        snprintf(path, sizeof(path), "%s/%s", dir, files[f]->d_name);
        doc = fx_load_json(path);
        json_array_foreach(json_object_get(doc, "cases"), i, tc)
        {
            run(cfg, files[f]->d_name, i, tc);
            ++total;
        }
        json_decref(doc);
        free(files[f]);
    }
    free(files);
    print_message("  %zu fixture cases\n", total);
    assert_true(total >= min_cases);
    return total;
}

static void run_fixture_case(const void *cfg, const char *file, size_t index, const json_t *tc)
{
    fx_run_case(cfg, file, index, tc);
}

size_t fx_run_fixtures(const fx_config_t *cfg)
{
    assert_non_null(cfg->provider);
    return run_dir(cfg->dir, cfg->min_files, cfg->min_cases, cfg, run_fixture_case);
}

/* errorContains is optional in the cases.json format. */
static void assert_contains_opt(const char *errbuf, const json_t *needle, const char *what)
{
    if (needle != NULL)
        fx_assert_contains(errbuf, json_string_value(needle), what);
}

void fx_run_cases_case(const fx_cases_config_t *cfg, const char *file, size_t index, const json_t *tc)
{
    const json_t *credentials = json_object_get(tc, "credentials"), *verdict = json_object_get(tc, "verify"),
                 *parsed = json_object_get(tc, "parse"), *contains = json_object_get(tc, "errorContains"),
                 *check = json_object_get(tc, "checkCredentials"), *hs = json_object_get(tc, "handshake");
    const wh_provider_t *p = cfg->provider;
    const fx_config_t rcfg = {.provider = p, .dir = cfg->dir, .default_url = cfg->default_url};
    char what[512], errbuf[WH_ERRBUF_SIZE];
    fx_request_t r;

    snprintf(what, sizeof(what), "%.64s #%zu \"%.200s\"", file, index, json_string_value(json_object_get(tc, "name")));
    print_message("  case %s\n", what);

    if (check != NULL) {
        wh_err_t want = fx_err_by_name(json_string_value(check));
        errbuf[0] = '\0';
        wh_err_t got = p->check_credentials(credentials, errbuf);
        if (got != want)
            fail_msg("%s: check_credentials answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK)
            assert_contains_opt(errbuf, contains, what);
    }
    if (json_object_get(tc, "request") == NULL)
        return;
    fx_request_init(&r, json_object_get(tc, "request"), false, &rcfg, what);

    if (hs != NULL) {
        wh_reply_t reply = {0};
        bool got = p->handshake != NULL && p->handshake(&r.in, &reply);
        if (got != json_is_true(hs))
            fail_msg("%s: handshake answered %d", what, got);
        if (got) {
            json_t *body = json_loadb(reply.body, reply.body_len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
            assert_int_equal(reply.status, 200);
            assert_string_equal(reply.content_type, "application/json");
            fx_assert_json_equal(body, json_object_get(tc, "reply"));
            json_decref(body);
            free(reply.body);
        }
    }
    if (verdict != NULL) {
        wh_err_t want = fx_err_by_name(json_string_value(verdict));
        errbuf[0] = '\0';
        wh_err_t got = p->verify(&r.in, credentials, errbuf);
        if (got != want)
            fail_msg("%s: verify answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            if (parsed == NULL)
                assert_contains_opt(errbuf, contains, what);
        }
    }
    if (parsed != NULL) {
        wh_err_t want = fx_err_by_name(json_string_value(parsed));
        const json_t *changes = json_object_get(tc, "changes");
        wh_changes_t out;

        wh_changes_init(&out);
        errbuf[0] = '\0';
        wh_err_t got = p->parse(&r.in, credentials, &out, errbuf);
        if (got != want)
            fail_msg("%s: parse answered %s (\"%s\"), expected %s", what, wh_err_name(got), errbuf, wh_err_name(want));
        if (want != WH_OK) {
            assert_true(errbuf[0] != '\0');
            assert_contains_opt(errbuf, contains, what);
        } else {
            assert_int_equal(out.size, json_array_size(changes));
            for (size_t i = 0; i != out.size; ++i)
                assert_change(&out.items[i], json_array_get(changes, i), false, "");
        }
        wh_changes_dispose(&out);
    }
    fx_request_dispose(&r);
}

static void run_cases_case(const void *cfg, const char *file, size_t index, const json_t *tc)
{
    fx_run_cases_case(cfg, file, index, tc);
}

size_t fx_run_cases(const fx_cases_config_t *cfg)
{
    assert_non_null(cfg->provider);
    return run_dir(cfg->dir, cfg->min_files, cfg->min_cases, cfg, run_cases_case);
}

void fx_assert_no_credential(const char *errbuf, const json_t *credentials, const char *field, size_t min_len, const char *what,
                             const char *label)
{
    const json_t *v = json_object_get(credentials, field);

    if (json_is_string(v) && json_string_length(v) >= min_len && strstr(errbuf, json_string_value(v)) != NULL)
        fail_msg("%s: errbuf \"%s\" holds the %s", what, errbuf, label);
}

static bool name_contains(wh_str_t name, const char *part)
{
    size_t plen = strlen(part);

    for (size_t i = 0; i + plen <= name.len; ++i) {
        size_t k = 0;
        while (k != plen && tolower((unsigned char)name.base[i + k]) == tolower((unsigned char)part[k]))
            ++k;
        if (k == plen)
            return true;
    }
    return false;
}

void fx_assert_no_header_echo(const char *errbuf, const wh_inbound_t *in, const char *name_part, size_t skip, const char *what)
{
    for (size_t i = 0; i != in->nheaders; ++i) {
        wh_str_t v = in->headers[i].value;
        char copy[256];
        if (v.len < 8 || v.len >= sizeof(copy) || v.len <= skip || !name_contains(in->headers[i].name, name_part))
            continue;
        memcpy(copy, v.base, v.len);
        copy[v.len] = '\0';
        if (strstr(errbuf, copy + skip) != NULL)
            fail_msg("%s: errbuf \"%s\" echoes the received %.*s", what, errbuf, (int)in->headers[i].name.len,
                     in->headers[i].name.base);
    }
}
