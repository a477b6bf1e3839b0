/*
 * libFuzzer target for providers/hubspot.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/hubspot/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent)
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add correct v1 and v3 signatures (computed over the raw URL),
 * so the fuzzer also reaches what comes after a signature verifies: the timestamp window, the escape
 * decoding of URLs without escapes, and the v3-beats-v1 policy.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names; a successful
 * parse yields 1..WH_MAX_BATCH complete changes; check_credentials on any JSON never crashes.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define SECRET "fuzz-secret"
#define NOW_MS 1732356000000LL

typedef struct {
    wh_header_t headers[MAX_HEADERS + 2];
    char names[MAX_HEADERS][64];
    size_t n;
    char v3[48], v1[2 * WH_SHA256_LEN + 1];
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

static void add_signatures(wh_inbound_t *in, headers_t *h)
{
    uint8_t mac[WH_SHA256_LEN];
    wh_str_t ts = wh_inbound_header(in, WH_STRLIT("x-hubspot-request-timestamp"));
    wh_str_t v3[4] = {in->method, in->url, in->body, ts};
    wh_str_t v1[2] = {WH_STRLIT(SECRET), in->body};

    /* Prepended, so they win over any signature header the input carries (lookup takes the first). */
    memmove(h->headers + 2, h->headers, h->n * sizeof(h->headers[0]));
    wh_hmac_sha256(WH_STRLIT(SECRET), v3, 4, mac);
    wh_base64_encode(mac, sizeof(mac), h->v3);
    wh_sha256(v1, 2, mac);
    wh_hex_encode(mac, sizeof(mac), h->v1);
    h->headers[0] = (wh_header_t){WH_STRLIT("x-hubspot-signature-v3"), wh_str_c(h->v3)};
    h->headers[1] = (wh_header_t){WH_STRLIT("x-hubspot-signature"), wh_str_c(h->v1)};
    h->n += 2;
    in->headers = h->headers;
    in->nheaders = h->n;
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_hubspot.verify(in, credentials, errbuf);

    check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    /* The message never carries the secret. */
    check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_hubspot.parse(in, NULL, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            check(c->object_type != NULL && c->action != NULL);
            check(c->object_id[0] != '\0' && c->account[0] != '\0' && c->provider_event_id[0] != '\0');
            check(json_is_object(c->fields));
            check(c->thin == (json_object_size(c->fields) == 0));
            check(c->changed_fields == NULL || json_array_size(c->changed_fields) == 1);
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/hubspot"), .now_ms = NOW_MS};
    headers_t h = {.n = 0};
    json_t *all = json_pack("{s:s, s:[s,s,s]}", "clientSecret", SECRET, "signatureVersions", "v1", "v2", "v3");
    json_t *v3only = json_pack("{s:s}", "clientSecret", SECRET);
    json_t *as_credentials;
    char errbuf[WH_ERRBUF_SIZE];
    int sign = 0;

    for (const char *q = p; q + 1 < end && split == NULL; ++q)
        if (q[0] == '\n' && q[1] == '\n')
            split = q;
    if (split != NULL) {
        sign = read_head(p, split + 1, &in, &h);
        in.body = wh_str(split + 2, (size_t)(end - split - 2));
    } else {
        in.body = wh_str(p, size);
    }
    in.headers = h.headers;
    in.nheaders = h.n;
    if (sign)
        add_signatures(&in, &h);

    run_verify(&in, all);
    run_verify(&in, v3only);
    run_parse(&in);

    /* The body doubles as a credentials object for check_credentials. */
    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        wh_err_t err = wh_provider_hubspot.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        /* Whatever check_credentials accepts, verify can use without WH_ENOCRED. */
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            check(wh_provider_hubspot.verify(&in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
    json_decref(all);
    json_decref(v3only);
    return 0;
}
