/*
 * libFuzzer target for providers/monday.c: handshake, verify, parse and check_credentials on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/monday/), as fuzz_hubspot.c:
 *   METHOD SP URL LF            first line, optional
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign: <header>.<payload>" makes the harness prepend "authorization: <header>.<payload>.<sig>"
 * with a correct HS256 signature, so the fuzzer also reaches alg pinning, claims (exp, aud) of signed tokens.
 *
 * Invariants (abort on violation): a handshake reply is 200 JSON {"challenge": …}; verify answers only
 * OK/ESIGNATURE/ESTALE (ENOCRED without a secret) and never echoes the secret; a successful parse yields exactly
 * one complete change; check_credentials on any JSON answers OK or EINVAL, and what it accepts never gives ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define SECRET "fuzz-signing-secret"
#define NOW_MS 1732356000000LL

static void add_token(wh_inbound_t *in, fuzz_headers_t *h)
{
    uint8_t mac[WH_SHA256_LEN];
    char sig[48];
    wh_str_t hp = wh_inbound_header(in, WH_STRLIT("x-fuzz-sign"));
    size_t n;
    wh_header_t added;

    if (hp.len > WH_MAX_HEADER_VALUE)
        return;
    wh_hmac_sha256(WH_STRLIT(SECRET), &hp, 1, mac);
    n = wh_base64url_encode(mac, sizeof(mac), sig);
    memcpy(h->added[0], hp.base, hp.len);
    h->added[0][hp.len] = '.';
    memcpy(h->added[0] + hp.len + 1, sig, n + 1);
    added = (wh_header_t){WH_STRLIT("authorization"), wh_str(h->added[0], hp.len + 1 + n)};
    fuzz_prepend_headers(in, h, &added, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/monday/c1"), .now_ms = NOW_MS};
    fuzz_headers_t h = {.n = 0};
    json_t *creds = json_pack("{s:s, s:{s:s}}", "signingSecret", SECRET, "boardMap", "5098231467", "deal");
    char errbuf[WH_ERRBUF_SIZE];
    wh_reply_t reply = {0};
    wh_changes_t out;
    wh_err_t err;

    if (fuzz_split_input(data, size, 1, &in, &h))
        add_token(&in, &h);

    if (wh_provider_monday.handshake(&in, &reply)) {
        json_t *echo = json_loadb(reply.body, reply.body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        fuzz_check(reply.status == 200 && echo != NULL && json_object_size(echo) == 1 &&
                   json_object_get(echo, "challenge") != NULL);
        json_decref(echo);
        free(reply.body);
    }

    err = wh_provider_monday.verify(&in, creds, errbuf);
    fuzz_check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    fuzz_check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
    fuzz_check(wh_provider_monday.verify(&in, NULL, errbuf) == WH_ENOCRED);

    wh_changes_init(&out);
    err = wh_provider_monday.parse(&in, creds, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        fuzz_check(out.size == 1);
        fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0' && c->provider_event_id[0] != '\0');
        fuzz_check(json_is_object(c->fields) && json_is_object(c->extra));
        fuzz_check((c->changed_fields == NULL) == (c->previous == NULL));
    }
    wh_changes_dispose(&out);

    fuzz_check_body_as_credentials(&wh_provider_monday, &in);
    json_decref(creds);
    return 0;
}
