/*
 * libFuzzer target for providers/standard.c: verify, parse and check_credentials on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/standard/), as fuzz_hubspot.c:
 *   METHOD SP URL LF            first line, optional
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness prepend a correct webhook-signature over the input's webhook-id
 * and webhook-timestamp, so the fuzzer also reaches the timestamp window and parse of verified requests.
 *
 * Invariants (abort on violation): verify answers only OK/ESIGNATURE/ESTALE (ENOCRED without a secret), never
 * echoes the secret; a successful parse yields exactly one complete change whose dedupe key depends only on
 * webhook-id; check_credentials on any JSON answers OK or EINVAL, and what it accepts never gives ENOCRED.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_KEY "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW_MS 1732356000000LL

typedef struct {
    wh_header_t headers[MAX_HEADERS + 2];
    char names[MAX_HEADERS][64];
    size_t n;
    char sig[64];
} headers_t;

static void check(int ok)
{
    if (!ok)
        abort();
}

static const char *find(const char *p, const char *end, char c)
{
    return p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
}

/* Splits the head into request line and headers; returns whether x-fuzz-sign was present. */
static int read_head(const char *p, const char *end, wh_inbound_t *in, headers_t *h)
{
    int sign = 0;
    const char *eol = find(p, end, '\n');
    const char *sp = find(p, eol != NULL ? eol : end, ' ');

    if (eol != NULL && sp != NULL && find(p, sp, ':') == NULL) {
        in->method = wh_str(p, (size_t)(sp - p));
        in->url = wh_str(sp + 1, (size_t)(eol - sp - 1));
        p = eol + 1;
    }
    while (p < end && h->n < MAX_HEADERS) {
        const char *line_end = find(p, end, '\n'), *colon;
        if (line_end == NULL)
            line_end = end;
        colon = find(p, line_end, ':');
        if (colon != NULL && (size_t)(colon - p) < sizeof(h->names[0])) {
            const char *v = colon + 1;
            size_t nlen = (size_t)(colon - p);
            for (size_t i = 0; i != nlen; ++i)
                h->names[h->n][i] = (char)tolower((unsigned char)p[i]);
            while (v < line_end && *v == ' ')
                ++v;
            h->headers[h->n].name = wh_str(h->names[h->n], nlen);
            h->headers[h->n].value = wh_str(v, (size_t)(line_end - v));
            if (wh_str_eq(h->headers[h->n].name, WH_STRLIT("x-fuzz-sign")))
                sign = 1;
            ++h->n;
        }
        p = line_end + 1;
    }
    return sign;
}

static void add_signature(wh_inbound_t *in, headers_t *h)
{
    uint8_t key[48], mac[WH_SHA256_LEN];
    long keylen = wh_base64_decode(WH_STRLIT(SECRET_KEY), key, sizeof(key));
    wh_str_t parts[5] = {wh_inbound_header(in, WH_STRLIT("webhook-id")), WH_STRLIT("."),
                         wh_inbound_header(in, WH_STRLIT("webhook-timestamp")), WH_STRLIT("."), in->body};

    check(keylen == 24);
    memmove(h->headers + 1, h->headers, h->n * sizeof(h->headers[0]));
    wh_hmac_sha256(wh_str((const char *)key, (size_t)keylen), parts, 5, mac);
    memcpy(h->sig, "v1,", 3);
    wh_base64_encode(mac, sizeof(mac), h->sig + 3);
    h->headers[0] = (wh_header_t){WH_STRLIT("webhook-signature"), wh_str_c(h->sig)};
    h->n += 1;
    in->headers = h->headers;
    in->nheaders = h->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {
        .method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/standard/c1"), .now_ms = NOW_MS};
    headers_t h = {.n = 0};
    json_t *creds = json_pack("{s:s, s:{s:s}}", "secret", SECRET, "typeMap", "person.changed", "contact.updated");
    json_t *as_credentials;
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    for (const char *q = p; q + 1 < end && split == NULL; ++q)
        if (q[0] == '\n' && q[1] == '\n')
            split = q;
    if (split != NULL) {
        int sign = read_head(p, split + 1, &in, &h);
        in.body = wh_str(split + 2, (size_t)(end - split - 2));
        in.headers = h.headers;
        in.nheaders = h.n;
        if (sign)
            add_signature(&in, &h);
    } else {
        in.body = wh_str(p, size);
    }

    err = wh_provider_standard.verify(&in, creds, errbuf);
    check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    check(err == WH_OK || strstr(errbuf, SECRET_KEY) == NULL);
    check(wh_provider_standard.verify(&in, NULL, errbuf) == WH_ENOCRED);

    wh_changes_init(&out);
    err = wh_provider_standard.parse(&in, creds, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        check(out.size == 1);
        check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0' && c->provider_event_id[0] != '\0');
        check(json_is_object(c->fields) && json_object_get(c->fields, "id") == NULL);
    }
    wh_changes_dispose(&out);

    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        err = wh_provider_standard.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK)
            check(wh_provider_standard.verify(&in, as_credentials, errbuf) != WH_ENOCRED);
        json_decref(as_credentials);
    }
    json_decref(creds);
    return 0;
}
