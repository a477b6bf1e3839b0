/*
 * libFuzzer target for providers/attio.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/attio/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent)
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add a correct Attio-Signature (secret as-is), so the fuzzer also
 * reaches what follows a verified signature. An "idempotency-key" header reaches the header-keyed dedupe path.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names and never echoes
 * the key; a successful parse yields 1..WH_MAX_BATCH complete, thin changes; check_credentials on any JSON never crashes,
 * and whatever it accepts verify can use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define SECRET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0" /* hex: both key readings reachable */
#define NOW_MS 1732356000000LL

static void add_signature(wh_inbound_t *in, fuzz_headers_t *h)
{
    uint8_t mac[WH_SHA256_LEN];
    wh_header_t added;

    wh_hmac_sha256(WH_STRLIT(SECRET), &in->body, 1, mac);
    wh_hex_encode(mac, sizeof(mac), h->added[0]);
    added = (wh_header_t){WH_STRLIT("attio-signature"), wh_str_c(h->added[0])};
    fuzz_prepend_headers(in, h, &added, 1);
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_attio.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE); /* no timestamp: never stale */
    fuzz_check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_attio.parse(in, credentials, &out, errbuf);
    fuzz_check_parse_err(err);
    fuzz_check(err == WH_OK || errbuf[0] != '\0');
    if (err == WH_OK) {
        fuzz_check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            fuzz_check(c->object_type != NULL && c->object_type[0] != '\0' && c->action != NULL);
            fuzz_check(c->object_id[0] != '\0' && c->account[0] != '\0');
            fuzz_check(c->thin && json_is_object(c->fields) && json_object_size(c->fields) == 0);
            fuzz_check(c->previous == NULL && c->changed_fields == NULL);
            fuzz_check(c->occurred_at_ms == NOW_MS);
            for (size_t j = 0; j != i; ++j)
                fuzz_check(memcmp(c->dedupe_key, out.items[j].dedupe_key, WH_DEDUPE_KEY_LEN) != 0);
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/attio/c"), .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *credentials = json_pack("{s:s, s:{s:s}}", "signingSecret", SECRET, "objectMap", "obj-people", "contact");
    int sign = 0;

    sign = fuzz_split_input(data, size, 1, &in, &h);
    if (sign)
        add_signature(&in, &h);

    run_verify(&in, credentials);
    run_parse(&in, credentials);

    fuzz_check_body_as_credentials(&wh_provider_attio, &in);
    json_decref(credentials);
    return 0;
}
