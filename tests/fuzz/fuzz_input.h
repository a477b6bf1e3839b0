/*
 * Shared harness for the provider libFuzzer targets (tests/fuzz/fuzz_<name>.c). Header-only: each target is
 * built as its own executable from one source, so everything here is static.
 *
 * Input layout of the targets that read a head (seeds in tests/fuzz/corpus/<name>/):
 *   METHOD SP URL LF            first line, optional (the target's default method and URL when absent)
 *   Name: value LF              header lines, at most FUZZ_MAX_HEADERS, names under 64 bytes, lowercased
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" asks the target to add correct credentials headers (fuzz_prepend_headers).
 */
#ifndef WHARF_TESTS_FUZZ_INPUT_H
#define WHARF_TESTS_FUZZ_INPUT_H

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../common/limits.h"
#include "../../providers/provider.h"

#define FUZZ_MAX_HEADERS 16
#define FUZZ_ADDED_HEADERS 2

typedef struct {
    wh_header_t headers[FUZZ_MAX_HEADERS + FUZZ_ADDED_HEADERS];
    char names[FUZZ_MAX_HEADERS][64];
    size_t n;
    /* Storage for the values of headers the target prepends (signatures, tokens). */
    char added[FUZZ_ADDED_HEADERS][WH_MAX_HEADER_VALUE + 64];
} fuzz_headers_t;

static inline void fuzz_check(int ok)
{
    if (!ok)
        abort();
}

static inline const char *fuzz_find(const char *p, const char *end, char c)
{
    return p < end ? memchr(p, c, (size_t)(end - p)) : NULL;
}

/*
 * Splits the head into an optional request line (only when in is not NULL) and header lines; returns whether
 * x-fuzz-sign was present.
 */
static inline int fuzz_read_head(const char *p, const char *end, wh_inbound_t *in, fuzz_headers_t *h)
{
    int sign = 0;

    if (in != NULL) {
        const char *eol = fuzz_find(p, end, '\n');
        const char *sp = fuzz_find(p, eol != NULL ? eol : end, ' ');

        if (eol != NULL && sp != NULL && fuzz_find(p, sp, ':') == NULL) {
            in->method = wh_str(p, (size_t)(sp - p));
            in->url = wh_str(sp + 1, (size_t)(eol - sp - 1));
            p = eol + 1;
        }
    }
    while (p < end && h->n < FUZZ_MAX_HEADERS) {
        const char *line_end = fuzz_find(p, end, '\n'), *colon;
        if (line_end == NULL)
            line_end = end;
        colon = fuzz_find(p, line_end, ':');
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

/*
 * Fills in's body and headers from the fuzz input: head and body split at the first blank line, or all body
 * when there is none. With request_line, a first line "METHOD URL" overrides in's method and URL. Returns
 * whether the head carried x-fuzz-sign.
 */
static inline int fuzz_split_input(const uint8_t *data, size_t size, int request_line, wh_inbound_t *in, fuzz_headers_t *h)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    int sign = 0;

    for (const char *q = p; q + 1 < end && split == NULL; ++q)
        if (q[0] == '\n' && q[1] == '\n')
            split = q;
    if (split != NULL) {
        sign = fuzz_read_head(p, split + 1, request_line ? in : NULL, h);
        in->body = wh_str(split + 2, (size_t)(end - split - 2));
    } else {
        in->body = wh_str(p, size);
    }
    in->headers = h->headers;
    in->nheaders = h->n;
    return sign;
}

/*
 * Prepends k (at most FUZZ_ADDED_HEADERS) headers, so they win over any of the same name the input carries
 * (lookup takes the first).
 */
static inline void fuzz_prepend_headers(wh_inbound_t *in, fuzz_headers_t *h, const wh_header_t *added, size_t k)
{
    fuzz_check(k <= FUZZ_ADDED_HEADERS);
    memmove(h->headers + k, h->headers, h->n * sizeof(h->headers[0]));
    memcpy(h->headers, added, k * sizeof(h->headers[0]));
    h->n += k;
    in->headers = h->headers;
    in->nheaders = h->n;
}

/* parse answers only the codes its contract names. */
static inline void fuzz_check_parse_err(wh_err_t err)
{
    fuzz_check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
}

/*
 * The body doubles as a credentials object: check_credentials on any JSON answers WH_OK or WH_EINVAL, and
 * whatever it accepts, verify can use without WH_ENOCRED.
 */
static inline void fuzz_check_body_as_credentials(const wh_provider_t *provider, const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    json_t *as_credentials = json_loadb(in->body.base, in->body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (as_credentials != NULL) {
        wh_err_t err = provider->check_credentials(as_credentials, errbuf);
        fuzz_check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            fuzz_check(provider->verify(in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
}

#endif
