/*
 * libFuzzer target for providers/hubspot.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/hubspot/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent)
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add correct v1 and v3 signatures (computed over the raw URL),
 * so the fuzzer also reaches what comes after a signature verifies: the timestamp window, the escape
 * decoding of URLs without escapes, and the v3-beats-v1 policy.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names; a successful
 * parse yields 1..WH_MAX_BATCH complete changes; check_credentials on any JSON never crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define SECRET "fuzz-secret"
#define NOW_MS 1732356000000LL

static void add_signatures(wh_inbound_t *in, fuzz_headers_t *h)
{
    uint8_t mac[WH_SHA256_LEN];
    wh_str_t ts = wh_inbound_header(in, WH_STRLIT("x-hubspot-request-timestamp"));
    wh_str_t v3[4] = {in->method, in->url, in->body, ts};
    wh_str_t v1[2] = {WH_STRLIT(SECRET), in->body};
    wh_header_t added[2];

    wh_hmac_sha256(WH_STRLIT(SECRET), v3, 4, mac);
    wh_base64_encode(mac, sizeof(mac), h->added[0]);
    wh_sha256(v1, 2, mac);
    wh_hex_encode(mac, sizeof(mac), h->added[1]);
    added[0] = (wh_header_t){WH_STRLIT("x-hubspot-signature-v3"), wh_str_c(h->added[0])};
    added[1] = (wh_header_t){WH_STRLIT("x-hubspot-signature"), wh_str_c(h->added[1])};
    fuzz_prepend_headers(in, h, added, 2);
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_hubspot.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    /* The message never carries the secret. */
    fuzz_check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_hubspot.parse(in, NULL, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        fuzz_check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            fuzz_check(c->object_type != NULL && c->action != NULL);
            fuzz_check(c->object_id[0] != '\0' && c->account[0] != '\0' && c->provider_event_id[0] != '\0');
            fuzz_check(json_is_object(c->fields));
            fuzz_check(c->thin == (json_object_size(c->fields) == 0));
            fuzz_check(c->changed_fields == NULL || json_array_size(c->changed_fields) == 1);
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/hubspot"), .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *all = json_pack("{s:s, s:[s,s,s]}", "clientSecret", SECRET, "signatureVersions", "v1", "v2", "v3");
    json_t *v3only = json_pack("{s:s}", "clientSecret", SECRET);
    int sign = 0;

    sign = fuzz_split_input(data, size, 1, &in, &h);
    if (sign)
        add_signatures(&in, &h);

    run_verify(&in, all);
    run_verify(&in, v3only);
    run_parse(&in);

    fuzz_check_body_as_credentials(&wh_provider_hubspot, &in);
    json_decref(all);
    json_decref(v3only);
    return 0;
}
