/*
 * libFuzzer target for providers/copper.c: verify and parse on arbitrary bodies.
 *
 * Input layout (seeds in tests/fuzz/corpus/copper/): the whole input is the body (Copper reads no header,
 * and the URL plays no part). Credentials are {"secret": {"secret_field": "fuzz-secret"}} and a two-pair
 * variant, so the fuzzer reaches both a match (seeds carry the value) and every mismatch path.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names; a successful
 * parse yields 1..WH_MAX_BATCH complete changes; check_credentials on any JSON never crashes, and what it
 * accepts verify can use without WH_ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define SECRET "fuzz-secret"
#define NOW_MS 1732356000000LL

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_copper.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    fuzz_check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_copper.parse(in, NULL, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        fuzz_check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
            fuzz_check(c->occurred_at_ms == NOW_MS);
            fuzz_check(json_is_object(c->fields));
            fuzz_check(c->thin == (json_object_size(c->fields) == 0));
            fuzz_check((c->changed_fields == NULL) == (c->previous == NULL));
            fuzz_check(c->changed_fields == NULL || json_array_size(c->changed_fields) == json_object_size(c->previous) ||
                       json_object_get(c->previous, "additional") != NULL);
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT("https://wharf.example/webhooks/copper/c"),
                       .body = wh_str((const char *)data, size),
                       .now_ms = NOW_MS};
    json_t *one = json_pack("{s:{s:s}}", "secret", "secret_field", SECRET);
    json_t *two = json_pack("{s:{s:s, s:s}}", "secret", "secret_field", SECRET, "other", SECRET "-2");

    run_verify(&in, one);
    run_verify(&in, two);
    run_parse(&in);

    fuzz_check_body_as_credentials(&wh_provider_copper, &in);
    json_decref(one);
    json_decref(two);
    return 0;
}
