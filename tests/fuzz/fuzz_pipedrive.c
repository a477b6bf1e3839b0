/*
 * libFuzzer target for providers/pipedrive.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/pipedrive/):
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness prepend the correct Authorization for the fixed credentials, so
 * the fuzzer also reaches parse-after-verify paths with the header the way Pipedrive sends it.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names, and never
 * accepts a request without the right header; a successful parse yields exactly one complete change;
 * check_credentials on any JSON never crashes, and what it accepts verify can use without WH_ENOCRED.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/crypto.h"
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define USER "fuzz-user"
#define PASSWORD "fuzz-pass"
#define AUTH "Basic ZnV6ei11c2VyOmZ1enotcGFzcw==" /* base64("fuzz-user:fuzz-pass") */

typedef struct {
    wh_header_t headers[MAX_HEADERS + 1];
    char names[MAX_HEADERS][64];
    size_t n;
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

/* Reads header lines; returns whether x-fuzz-sign was present. */
static int read_head(const char *p, const char *end, headers_t *h)
{
    int sign = 0;

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

static void run_verify(const wh_inbound_t *in, json_t *credentials, int signed_by_harness)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_str_t auth = wh_inbound_header(in, WH_STRLIT("authorization"));
    wh_err_t err = wh_provider_pipedrive.verify(in, credentials, errbuf);

    check(err == WH_OK || err == WH_ESIGNATURE);
    check(err == WH_OK || strstr(errbuf, PASSWORD) == NULL);
    if (signed_by_harness)
        check(err == WH_OK);
    /* Accepted only with an Authorization header that decodes to exactly these credentials. */
    if (err == WH_OK)
        check(auth.base != NULL && auth.len >= 6);
}

static void run_parse(const wh_inbound_t *in, const json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_pipedrive.parse(in, credentials, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        check(out.size == 1);
        check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
        check(json_is_object(c->fields) && !c->thin);
        check(c->previous == NULL || json_is_object(c->previous));
        check(c->changed_fields == NULL || json_is_array(c->changed_fields));
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {.method = WH_STRLIT("POST"), .url = WH_STRLIT("https://wharf.example/webhooks/pipedrive/c1")};
    headers_t h = {.n = 0};
    json_t *credentials = json_pack("{s:s, s:s}", "username", USER, "password", PASSWORD);
    json_t *as_credentials;
    char errbuf[WH_ERRBUF_SIZE];
    int sign = 0;

    for (const char *q = p; q + 1 < end && split == NULL; ++q)
        if (q[0] == '\n' && q[1] == '\n')
            split = q;
    if (split != NULL) {
        sign = read_head(p, split + 1, &h);
        in.body = wh_str(split + 2, (size_t)(end - split - 2));
    } else {
        in.body = wh_str(p, size);
    }
    if (sign) {
        /* Prepended, so it wins over any Authorization the input carries (lookup takes the first). */
        memmove(h.headers + 1, h.headers, h.n * sizeof(h.headers[0]));
        h.headers[0] = (wh_header_t){WH_STRLIT("authorization"), WH_STRLIT(AUTH)};
        ++h.n;
    }
    in.headers = h.headers;
    in.nheaders = h.n;

    run_verify(&in, credentials, sign);
    run_parse(&in, credentials);
    run_parse(&in, NULL);

    /* The body doubles as a credentials object for check_credentials. */
    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        wh_err_t err = wh_provider_pipedrive.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            check(wh_provider_pipedrive.verify(&in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
    json_decref(credentials);
    return 0;
}
