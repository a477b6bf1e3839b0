/*
 * libFuzzer target for providers/zoho.c: verify and parse on arbitrary bodies.
 *
 * The whole input is the body (Zoho's proof of origin is in the body: the echoed channel_id and token).
 * Seeds in tests/fuzz/corpus/zoho/ carry the fixed credentials below, so the fuzzer starts from
 * notifications that verify and mutates from there.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names and accepts
 * only bodies that echo exactly the credentials; a successful parse yields 1..WH_MAX_BATCH thin changes with
 * empty fields and distinct ids and dedupe keys; check_credentials on any JSON never crashes, and what it
 * accepts verify can use without WH_ENOCRED.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../providers/provider.h"
#include "fuzz_input.h"

#define CHANNEL "1000000068001"
#define TOKEN "fuzz-token"

static void run_verify(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_zoho.verify(in, credentials, errbuf);

    fuzz_check(err == WH_OK || err == WH_ESIGNATURE);
    fuzz_check(err == WH_OK || strstr(errbuf, TOKEN) == NULL);
    if (err == WH_OK) {
        /* Only a JSON object echoing the exact token gets through. */
        json_t *root = json_loadb(in->body.base, in->body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        const json_t *token = json_object_get(root, "token");
        fuzz_check(json_is_object(root) && json_is_string(token) && json_string_length(token) == strlen(TOKEN) &&
                   memcmp(json_string_value(token), TOKEN, strlen(TOKEN)) == 0);
        json_decref(root);
    }
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_zoho.parse(in, credentials, &out, errbuf);
    fuzz_check_parse_err(err);
    if (err == WH_OK) {
        fuzz_check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            fuzz_check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
            fuzz_check(c->thin && json_is_object(c->fields) && json_object_size(c->fields) == 0 && c->previous == NULL);
            for (size_t j = 0; j != i; ++j) {
                fuzz_check(strcmp(c->object_id, out.items[j].object_id) != 0);
                fuzz_check(memcmp(c->dedupe_key, out.items[j].dedupe_key, WH_DEDUPE_KEY_LEN) != 0);
            }
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT("https://wharf.example/webhooks/zoho/c1"),
                       .body = wh_str((const char *)data, size)};
    json_t *credentials = json_pack("{s:s, s:s}", "channelId", CHANNEL, "token", TOKEN);

    run_verify(&in, credentials);
    run_parse(&in, credentials);

    fuzz_check_body_as_credentials(&wh_provider_zoho, &in);
    json_decref(credentials);
    return 0;
}
