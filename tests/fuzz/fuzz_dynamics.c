/*
 * libFuzzer target for providers/dynamics.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/dynamics/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent); the URL's query
 *                               feeds the `code` parameter parser
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add the correct key header, so the fuzzer also reaches what
 * comes after a header key matches.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names, and a key
 * header added by the harness always verifies; a successful parse yields exactly one complete change;
 * check_credentials on any JSON never crashes, and what it accepts verify can use without WH_ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define KEY "fuzz-key+/="
#define HEADER_NAME "X-Fuzz-Key"
#define NOW_MS 1732356000000LL

static void add_key(wh_inbound_t *in, fuzz_headers_t *h)
{
    wh_header_t added = {WH_STRLIT("x-fuzz-key"), WH_STRLIT(KEY)};

    fuzz_prepend_headers(in, h, &added, 1);
}

static wh_err_t run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_dynamics.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    /* The message never carries the key. */
    fuzz_check(err == WH_OK || strstr(errbuf, KEY) == NULL);
    return err;
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_dynamics.parse(in, NULL, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        fuzz_check(out.size == 1);
        fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
        fuzz_check(json_is_object(c->fields));
        fuzz_check(c->thin == (json_object_size(c->fields) == 0));
        fuzz_check(c->changed_fields == NULL || json_is_array(c->changed_fields));
        fuzz_check(c->previous == NULL || json_is_object(c->previous));
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT("https://wharf.example/webhooks/dynamics/c?code=fuzz-key%2B%2F%3D"),
                       .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *by_header = json_pack("{s:s, s:s}", "key", KEY, "headerName", HEADER_NAME);
    json_t *by_code = json_pack("{s:s}", "key", KEY);
    int sign = 0;

    sign = fuzz_split_input(data, size, 1, &in, &h);
    if (sign)
        add_key(&in, &h);

    fuzz_check(run_verify(&in, by_header) == WH_OK || !sign);
    run_verify(&in, by_code);
    run_parse(&in);

    fuzz_check_body_as_credentials(&wh_provider_dynamics, &in);
    json_decref(by_header);
    json_decref(by_code);
    return 0;
}
