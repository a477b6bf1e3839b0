/*
 * libFuzzer target for providers/monday.c: handshake, verify, parse and check_credentials on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/monday/), as fuzz_hubspot.c:
 *   METHOD SP URL LF            first line, optional
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign: <header>.<payload>" makes the harness prepend "authorization: <header>.<payload>.<sig>"
 * with a correct HS256 signature, so the fuzzer also reaches alg pinning, claims (exp, aud) of signed tokens.
 *
 * Invariants (abort on violation): a handshake reply is 200 JSON {"challenge": …}; verify answers only
 * OK/ESIGNATURE/ESTALE (ENOCRED without a secret) and never echoes the secret; a successful parse yields exactly
 * one complete change; check_credentials on any JSON answers OK or EINVAL, and what it accepts never gives ENOCRED.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define SECRET "fuzz-signing-secret"
#define NOW_MS 1732356000000LL

typedef struct {
    wh_header_t headers[MAX_HEADERS + 2];
    char names[MAX_HEADERS][64];
    size_t n;
    char token[WH_MAX_HEADER_VALUE + 64];
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

static void add_token(wh_inbound_t *in, headers_t *h)
{
    uint8_t mac[WH_SHA256_LEN];
    char sig[48];
    wh_str_t hp = wh_inbound_header(in, WH_STRLIT("x-fuzz-sign"));
    size_t n;

    if (hp.len > WH_MAX_HEADER_VALUE)
        return;
    wh_hmac_sha256(WH_STRLIT(SECRET), &hp, 1, mac);
    n = wh_base64url_encode(mac, sizeof(mac), sig);
    memcpy(h->token, hp.base, hp.len);
    h->token[hp.len] = '.';
    memcpy(h->token + hp.len + 1, sig, n + 1);
    memmove(h->headers + 1, h->headers, h->n * sizeof(h->headers[0]));
    h->headers[0] = (wh_header_t){WH_STRLIT("authorization"), wh_str(h->token, hp.len + 1 + n)};
    h->n += 1;
    in->headers = h->headers;
    in->nheaders = h->n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/monday/c1"), .now_ms = NOW_MS};
    headers_t h = {.n = 0};
    json_t *creds = json_pack("{s:s, s:{s:s}}", "signingSecret", SECRET, "boardMap", "5098231467", "deal");
    json_t *as_credentials;
    char errbuf[WH_ERRBUF_SIZE];
    wh_reply_t reply = {0};
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
            add_token(&in, &h);
    } else {
        in.body = wh_str(p, size);
    }

    if (wh_provider_monday.handshake(&in, &reply)) {
        json_t *echo = json_loadb(reply.body, reply.body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        check(reply.status == 200 && echo != NULL && json_object_size(echo) == 1 && json_object_get(echo, "challenge") != NULL);
        json_decref(echo);
        free(reply.body);
    }

    err = wh_provider_monday.verify(&in, creds, errbuf);
    check(err == WH_OK || err == WH_ESIGNATURE || err == WH_ESTALE);
    check(err == WH_OK || strstr(errbuf, SECRET) == NULL);
    check(wh_provider_monday.verify(&in, NULL, errbuf) == WH_ENOCRED);

    wh_changes_init(&out);
    err = wh_provider_monday.parse(&in, creds, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        check(out.size == 1);
        check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0' && c->provider_event_id[0] != '\0');
        check(json_is_object(c->fields) && json_is_object(c->extra));
        check((c->changed_fields == NULL) == (c->previous == NULL));
    }
    wh_changes_dispose(&out);

    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        err = wh_provider_monday.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK)
            check(wh_provider_monday.verify(&in, as_credentials, errbuf) != WH_ENOCRED);
        json_decref(as_credentials);
    }
    json_decref(creds);
    return 0;
}
