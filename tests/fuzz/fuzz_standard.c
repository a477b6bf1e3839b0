/*
 * libFuzzer target for providers/standard.c: verify, parse and check_credentials on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/standard/), as fuzz_hubspot.c:
 *   METHOD SP URL LF            first line, optional
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness prepend a correct webhook-signature over the input's webhook-id
 * and webhook-timestamp, so the fuzzer also reaches the timestamp window and parse of verified requests.
 *
 * Invariants (abort on violation): verify answers only OK/ESIGNATURE/ESTALE (ENOCRED without a secret), never
 * echoes the secret; a successful parse yields exactly one complete change whose dedupe key depends only on
 * webhook-id; check_credentials on any JSON answers OK or EINVAL, and what it accepts never gives ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_KEY "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW_MS 1732356000000LL

static void add_signature(wh_inbound_t *in, fuzz_headers_t *h)
{
    uint8_t key[48], mac[WH_SHA256_LEN];
    wh_header_t added;
    long keylen = wh_base64_decode(WH_STRLIT(SECRET_KEY), key, sizeof(key));
    wh_str_t parts[5] = {wh_inbound_header(in, WH_STRLIT("webhook-id")), WH_STRLIT("."),
                         wh_inbound_header(in, WH_STRLIT("webhook-timestamp")), WH_STRLIT("."), in->body};

    fuzz_check(keylen == 24);
    wh_hmac_sha256(wh_str((const char *)key, (size_t)keylen), parts, 5, mac);
    memcpy(h->added[0], "v1,", 3);
    wh_base64_encode(mac, sizeof(mac), h->added[0] + 3);
    added = (wh_header_t){WH_STRLIT("webhook-signature"), wh_str_c(h->added[0])};
    fuzz_prepend_headers(in, h, &added, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {
        .method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/standard/c1"), .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *creds = json_pack("{s:s, s:{s:s}}", "secret", SECRET, "typeMap", "person.changed", "contact.updated");
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    if (fuzz_split_input(data, size, 1, &in, &h))
        add_signature(&in, &h);

    err = wh_provider_standard.verify(&in, creds, errbuf);
    fuzz_check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    fuzz_check(err == WH_OK || strstr(errbuf, SECRET_KEY) == NULL);
    fuzz_check(wh_provider_standard.verify(&in, NULL, errbuf) == WH_ENOCRED);

    wh_changes_init(&out);
    err = wh_provider_standard.parse(&in, creds, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        fuzz_check(out.size == 1);
        fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0' && c->provider_event_id[0] != '\0');
        fuzz_check(json_is_object(c->fields) && json_object_get(c->fields, "id") == NULL);
    }
    wh_changes_dispose(&out);

    fuzz_check_body_as_credentials(&wh_provider_standard, &in);
    json_decref(creds);
    return 0;
}
