/*
 * libFuzzer target for providers/attio.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/attio/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent)
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add a correct Attio-Signature (secret as-is), so the fuzzer also
 * reaches what follows a verified signature. An "idempotency-key" header reaches the header-keyed dedupe path.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names and never echoes
 * the key; a successful parse yields 1..WH_MAX_BATCH complete, thin changes; check_credentials on any JSON never crashes,
 * and whatever it accepts verify can use.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define SECRET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0" /* hex: both key readings reachable */
#define NOW_MS 1732356000000LL

typedef struct {
    wh_header_t headers[MAX_HEADERS + 2];
    char names[MAX_HEADERS][64];
    size_t n;
    char sig[2 * WH_SHA256_LEN + 1];
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
    uint8_t mac[WH_SHA256_LEN];

    memmove(h->headers + 1, h->headers, h->n * sizeof(h->headers[0]));
    wh_hmac_sha256(WH_STRLIT(SECRET), &in->body, 1, mac);
    wh_hex_encode(mac, sizeof(mac), h->sig);
    /* Prepended, so it wins over any header the input carries (lookup takes the first). */
    h->headers[0] = (wh_header_t){WH_STRLIT("attio-signature"), wh_str_c(h->sig)};
    h->n += 1;
    in->headers = h->headers;
    in->nheaders = h->n;
}

static void run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_attio.verify(in, credentials, errbuf);

    check(err == WH_OK || err == WH_ESIGNATURE); /* no timestamp: never stale */
    check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_attio.parse(in, credentials, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    check(err == WH_OK || errbuf[0] != '\0');
    if (err == WH_OK) {
        check(out.size >= 1 && out.size <= WH_MAX_BATCH);
        for (size_t i = 0; i != out.size; ++i) {
            const wh_change_t *c = &out.items[i];
            check(c->object_type != NULL && c->object_type[0] != '\0' && c->action != NULL);
            check(c->object_id[0] != '\0' && c->account[0] != '\0');
            check(c->thin && json_is_object(c->fields) && json_object_size(c->fields) == 0);
            check(c->previous == NULL && c->changed_fields == NULL);
            check(c->occurred_at_ms == NOW_MS);
            for (size_t j = 0; j != i; ++j)
                check(memcmp(c->dedupe_key, out.items[j].dedupe_key, WH_DEDUPE_KEY_LEN) != 0);
        }
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/attio/c"), .now_ms = NOW_MS};
    headers_t h = {.n = 0};
    json_t *credentials = json_pack("{s:s, s:{s:s}}", "signingSecret", SECRET, "objectMap", "obj-people", "contact");
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
        add_signature(&in, &h);

    run_verify(&in, credentials);
    run_parse(&in, credentials);

    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        wh_err_t err = wh_provider_attio.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            check(wh_provider_attio.verify(&in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
    json_decref(credentials);
    return 0;
}
