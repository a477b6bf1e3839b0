/*
 * libFuzzer target for providers/close.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/close/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent)
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add a correct close-sig-hash over the input's close-sig-timestamp
 * (or a fresh one when absent), so the fuzzer also reaches what follows a verified signature: the window and
 * the seconds -> ms conversion.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names and never echoes
 * the key; a successful parse yields exactly one complete change; check_credentials on any JSON never crashes,
 * and whatever it accepts verify can use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define KEY_HEX "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define NOW_MS 1732356000000LL

static void add_signature(wh_inbound_t *in, fuzz_headers_t *h)
{
    uint8_t key[32], mac[WH_SHA256_LEN];
    wh_str_t ts = wh_inbound_header(in, WH_STRLIT("close-sig-timestamp"));
    wh_str_t parts[2];
    wh_header_t added[2];

    if (ts.base == NULL)
        ts = WH_STRLIT("1732356100");
    parts[0] = ts;
    parts[1] = in->body;
    fuzz_check(wh_hex_decode(WH_STRLIT(KEY_HEX), key, sizeof(key)) == 32);
    wh_hmac_sha256(wh_str((const char *)key, sizeof(key)), parts, 2, mac);
    wh_hex_encode(mac, sizeof(mac), h->added[0]);
    added[0] = (wh_header_t){WH_STRLIT("close-sig-hash"), wh_str_c(h->added[0])};
    added[1] = (wh_header_t){WH_STRLIT("close-sig-timestamp"), ts};
    fuzz_prepend_headers(in, h, added, 2);
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_close.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    fuzz_check(err == WH_OK || strstr(errbuf, KEY_HEX) == NULL);
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_close.parse(in, credentials, &out, errbuf);
    fuzz_check_parse_err(err);
    fuzz_check(err == WH_OK || errbuf[0] != '\0');
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        fuzz_check(out.size == 1);
        fuzz_check(c->object_type != NULL && c->object_type[0] != '\0' && c->action != NULL);
        fuzz_check(c->object_id[0] != '\0' && c->provider_event_id[0] != '\0');
        fuzz_check(json_is_object(c->fields));
        fuzz_check(c->previous == NULL || json_is_object(c->previous));
        fuzz_check(c->changed_fields == NULL || json_is_array(c->changed_fields));
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/close/c"), .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *credentials = json_pack("{s:s}", "signatureKey", KEY_HEX);
    int sign = 0;

    sign = fuzz_split_input(data, size, 1, &in, &h);
    if (sign)
        add_signature(&in, &h);

    run_verify(&in, credentials);
    run_parse(&in, credentials);

    fuzz_check_body_as_credentials(&wh_provider_close, &in);
    json_decref(credentials);
    return 0;
}
