/*
 * The provider fixture driver (style.md "Tests": provider tests are data, driven by one loop). Every *.json file of a
 * provider's folder under tests/fixtures/providers/ holds {"cases": [...]}; each case is a raw request, credentials,
 * the expected verify and/or parse verdict and the expected normalized changes. fx_run_fixtures() runs them all
 * against one provider and fails on the first mismatch, printing both sides. Include after <cmocka.h>.
 */
#ifndef WH_TESTS_UNIT_PROVIDERS_FIXTURE_H
#define WH_TESTS_UNIT_PROVIDERS_FIXTURE_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "../../../providers/provider.h"

/* Verification messages must never echo a secret: a provider's own check of errbuf after each verify. The header
 * names of `in` are NUL-terminated copies (lower-cased unless the case sets keepHeaderCase). */
typedef void (*fx_no_secret_fn)(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what);

typedef struct {
    const wh_provider_t *provider;
    const char *dir;          /* the fixture folder; bodyFile paths are relative to it */
    const char *default_url;  /* a request without "url" is POSTed here */
    int min_files;            /* the folder holds at least this many *.json files */
    size_t min_cases;         /* and at least this many cases in all */
    bool parse_credentials;   /* parse receives the case's credentials (the per-connection route), else NULL */
    bool reparse_credentials; /* the same for the second parse that checks keys are a pure function of the body */
    bool distinct_keys;       /* the changes of one request have pairwise distinct dedupe keys */
    bool no_previous;         /* the provider never sends previous values: every change's previous is NULL */
    fx_no_secret_fn no_secret;
} fx_config_t;

/* A request built from a fixture's "request" object (method, url, headers, nowMs and one of body, bodyJson,
 * bodyFile, bodyHex); owns every byte the inbound view points at. */
typedef struct {
    wh_inbound_t in;
    wh_header_t headers[32];
    char *names[32];
    char *body;
    wh_ip_t client_ip;
} fx_request_t;

/* The whole file (NUL-terminated, length in *len), or NULL when it cannot be opened. */
char *fx_read_file(const char *path, size_t *len);
/* A JSON file; fails the test when it does not parse. */
json_t *fx_load_json(const char *path);
/* scandir filter: names ending in .json. */
int fx_is_json(const struct dirent *d);
wh_err_t fx_err_by_name(const char *name);
void fx_assert_contains(const char *errbuf, const char *needle, const char *what);
/* Compares JSON texts (keys sorted; NULL and JSON null are "null"), so a failure prints both sides. */
void fx_assert_json_equal(const json_t *got, const json_t *want);
/* One normalized change against its expected JSON object. */
void fx_assert_change(const wh_change_t *c, const json_t *want, bool no_previous);
void fx_request_init(fx_request_t *r, const json_t *req, bool keep_case, const fx_config_t *cfg, const char *what);
void fx_request_dispose(fx_request_t *r);
/* One case: verify and/or parse as the case asks. */
void fx_run_case(const fx_config_t *cfg, const char *file, size_t index, const json_t *tc);
/* Every case of every *.json file in cfg->dir, in name order; returns how many ran. */
size_t fx_run_fixtures(const fx_config_t *cfg);

/* The cases.json format (monday, standard): a case is {name, credentials, request{headers, body|bodyJson, url,
 * nowMs}} with any of "checkCredentials" (expected verdict name of check_credentials), "handshake" (true/false,
 * "reply"), "verify" and "parse" (verdict names), "changes" (expected normalized changes; a missing "account" means
 * ""), "errorContains". Header names are lower-cased; parse receives the case's credentials. */
typedef struct {
    const wh_provider_t *provider;
    const char *dir;         /* the fixture folder */
    const char *default_url; /* a request without "url" is POSTed here */
    int min_files;           /* the folder holds at least this many *.json files */
    size_t min_cases;        /* and at least this many cases in all */
} fx_cases_config_t;

/* One case of the cases.json format. */
void fx_run_cases_case(const fx_cases_config_t *cfg, const char *file, size_t index, const json_t *tc);
/* Every case of every *.json file in cfg->dir, in name order; returns how many ran. */
size_t fx_run_cases(const fx_cases_config_t *cfg);

/*
 * Refusal messages never echo secrets. Fails (naming `label`) when errbuf contains credentials[`field`]
 * (a string of at least `min_len` bytes; other values are not checked).
 */
void fx_assert_no_credential(const char *errbuf, const json_t *credentials, const char *field, size_t min_len, const char *what,
                             const char *label);
/*
 * Fails when errbuf contains the value (from byte `skip` on, 8..255 bytes) of a request header whose name
 * contains `name_part` (ASCII case-insensitive): what was received as a signature is never echoed.
 */
void fx_assert_no_header_echo(const char *errbuf, const wh_inbound_t *in, const char *name_part, size_t skip, const char *what);

#endif
