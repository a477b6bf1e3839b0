/*
 * libFuzzer target for providers/salesforce.c: verify and parse on arbitrary bodies, and the SOAP answers.
 *
 * Input layout (seeds in tests/fuzz/corpus/salesforce/): the whole input is the request body (Salesforce sends
 * no header verify reads). The first byte also picks the refusal status, so the Fault builder sees the body's
 * bytes as a message when they are valid UTF-8.
 *
 * Invariants checked (abort on violation): verify answers only OK or ESIGNATURE with a well-formed credential,
 * and never echoes a SessionId; with allowedCidrs (the client address taken from the first 16 bytes), an address
 * outside the ranges or none at all is always EFORBIDDEN; parse answers OK, EMALFORMED or ETOO_LARGE, and on OK yields 1..100
 * complete changes; the SOAP answers are always built; check_credentials on any JSON never crashes, and whatever it accepts verify
 * can use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define ORG "012345678901234"
#define NOW_MS 1732356000000LL

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_salesforce.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    fuzz_check(err == WH_OK || strstr(errbuf, "!") == NULL);
}

/* With an allow list: an address outside it is refused whatever the body says; one inside goes on to the org check. */
static void run_verify_allow_list(const wh_inbound_t *in, const uint8_t *data, size_t size)
{
    json_t *credentials = json_pack("{s:s,s:[s,s]}", "organizationId", ORG, "allowedCidrs", "0.0.0.0/1", "2001:db8::/32");
    wh_inbound_t with_ip = *in;
    char errbuf[WH_ERRBUF_SIZE];
    wh_cidr_t a, b;
    wh_ip_t ip;
    wh_err_t err;

    memset(&ip, 0, sizeof(ip));
    memcpy(ip.b, data, size < 16 ? size : 16);
    with_ip.client_ip = &ip;
    fuzz_check(wh_cidr_parse(WH_STRLIT("0.0.0.0/1"), &a, errbuf) == WH_OK);
    fuzz_check(wh_cidr_parse(WH_STRLIT("2001:db8::/32"), &b, errbuf) == WH_OK);
    err = wh_provider_salesforce.verify(&with_ip, credentials, errbuf);
    if (wh_cidr_contains(&a, &ip) || wh_cidr_contains(&b, &ip))
        fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    else
        fuzz_check(err == WH_EFORBIDDEN);
    with_ip.client_ip = NULL;
    fuzz_check(wh_provider_salesforce.verify(&with_ip, credentials, errbuf) == WH_EFORBIDDEN);
    json_decref(credentials);
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_salesforce.parse(in, NULL, &out, errbuf);
    fuzz_check_parse_err(err);
    fuzz_check(err == WH_OK || errbuf[0] != '\0');
    if (err == WH_OK) {
        fuzz_check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            fuzz_check(c->object_type != NULL && c->object_type[0] != '\0' && c->action != NULL);
            fuzz_check(c->object_id[0] != '\0' && c->provider_event_id[0] != '\0' && c->account[0] != '\0');
            fuzz_check(json_is_object(c->fields));
            fuzz_check(c->previous == NULL && c->changed_fields == NULL);
        }
    }
    wh_changes_dispose(&out);
}

static void run_answers(const wh_inbound_t *in, const uint8_t *data, size_t size)
{
    static const int statuses[] = {400, 401, 409, 413, 415, 500, 503};
    char message[256];
    size_t n = size < sizeof(message) - 1 ? size : sizeof(message) - 1;
    wh_reply_t reply = {0};

    memcpy(message, data, n);
    message[n] = '\0';
    wh_provider_salesforce.refusal(in, statuses[size != 0 ? data[0] % 7 : 0], "invalid_signature", message, &reply);
    fuzz_check(reply.body != NULL && reply.body_len != 0 && reply.status >= 400);
    free(reply.body);
    reply = (wh_reply_t){0};
    wh_provider_salesforce.success(in, 1, &reply);
    fuzz_check(reply.status == 200 && reply.body != NULL);
    free(reply.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT("https://wharf.example/webhooks/salesforce/c"),
                       .body = wh_str((const char *)data, size),
                       .now_ms = NOW_MS};
    json_t *credentials = json_pack("{s:s}", "organizationId", ORG);

    run_verify(&in, credentials);
    run_verify_allow_list(&in, data, size);
    run_parse(&in);
    run_answers(&in, data, size);

    fuzz_check_body_as_credentials(&wh_provider_salesforce, &in);
    json_decref(credentials);
    return 0;
}
