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

#define SECRET "fuzz-secret"
#define NOW_MS 1732356000000LL

static void check(int ok)
{
    if (!ok)
        abort();
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_copper.verify(in, credentials, errbuf);

    check(err == WH_OK || err == WH_ESIGNATURE);
    check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_copper.parse(in, NULL, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
            check(c->occurred_at_ms == NOW_MS);
            check(json_is_object(c->fields));
            check(c->thin == (json_object_size(c->fields) == 0));
            check((c->changed_fields == NULL) == (c->previous == NULL));
            check(c->changed_fields == NULL || json_array_size(c->changed_fields) == json_object_size(c->previous) ||
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
    json_t *as_credentials;
    char errbuf[WH_ERRBUF_SIZE];

    run_verify(&in, one);
    run_verify(&in, two);
    run_parse(&in);

    /* The body doubles as a credentials object for check_credentials. */
    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        wh_err_t err = wh_provider_copper.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            check(wh_provider_copper.verify(&in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
    json_decref(one);
    json_decref(two);
    return 0;
}
