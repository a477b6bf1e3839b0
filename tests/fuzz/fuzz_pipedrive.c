/*
 * libFuzzer target for providers/pipedrive.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/pipedrive/):
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness prepend the correct Authorization for the fixed credentials, so
 * the fuzzer also reaches parse-after-verify paths with the header the way Pipedrive sends it.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names, and never
 * accepts a request without the right header; a successful parse yields exactly one complete change;
 * check_credentials on any JSON never crashes, and what it accepts verify can use without WH_ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define USER "fuzz-user"
#define PASSWORD "fuzz-pass"
#define AUTH "Basic ZnV6ei11c2VyOmZ1enotcGFzcw==" /* base64("fuzz-user:fuzz-pass") */

static void run_verify(const wh_inbound_t *in, json_t *credentials, int signed_by_harness)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_str_t auth = wh_inbound_header(in, WH_STRLIT("authorization"));
    wh_err_t err = wh_provider_pipedrive.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    fuzz_check(err == WH_OK || strstr(errbuf, PASSWORD) == NULL);
    if (signed_by_harness)
        fuzz_check(err == WH_OK);
    /* Accepted only with an Authorization header that decodes to exactly these credentials. */
    if (err == WH_OK)
        fuzz_check(auth.base != NULL && auth.len >= 6);
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_pipedrive.parse(in, credentials, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        fuzz_check(out.size == 1);
        fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
        fuzz_check(json_is_object(c->fields) && !c->thin);
        fuzz_check(c->previous == NULL || json_is_object(c->previous));
        fuzz_check(c->changed_fields == NULL || json_is_array(c->changed_fields));
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/pipedrive/c1")};
    fuzz_headers_t h = {.n = 0};
    json_t *credentials = json_pack("{s:s, s:s}", "username", USER, "password", PASSWORD);
    int sign = fuzz_split_input(data, size, 0, &in, &h);

    if (sign) {
        wh_header_t auth = {WH_STRLIT("authorization"), WH_STRLIT(AUTH)};
        fuzz_prepend_headers(&in, &h, &auth, 1);
    }

    run_verify(&in, credentials, sign);
    run_parse(&in, credentials);
    run_parse(&in, NULL);

    fuzz_check_body_as_credentials(&wh_provider_pipedrive, &in);
    json_decref(credentials);
    return 0;
}
