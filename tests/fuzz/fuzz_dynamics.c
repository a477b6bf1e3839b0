/*
 * libFuzzer target for providers/dynamics.c: verify and parse on arbitrary requests.
 *
 * Input layout (seeds in tests/fuzz/corpus/dynamics/):
 *   METHOD SP URL LF            first line, optional (POST and a fixed URL when absent); the URL's query
 *                               feeds the `code` parameter parser
 *   Name: value LF              header lines, at most MAX_HEADERS
 *   LF                          blank line; without one the whole input is the body
 *   body bytes
 * A header "x-fuzz-sign" makes the harness add the correct key header, so the fuzzer also reaches what
 * comes after a header key matches.
 *
 * Invariants checked (abort on violation): verify answers only the codes its contract names, and a key
 * header added by the harness always verifies; a successful parse yields exactly one complete change;
 * check_credentials on any JSON never crashes, and what it accepts verify can use without WH_ENOCRED.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../providers/provider.h"

#define MAX_HEADERS 16
#define KEY "fuzz-key+/="
#define HEADER_NAME "X-Fuzz-Key"
#define NOW_MS 1732356000000LL

typedef struct {
    wh_header_t headers[MAX_HEADERS + 2];
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

static void add_key(wh_inbound_t *in, headers_t *h)
{
    /* Prepended, so it wins over any key header the input carries (lookup takes the first). */
    memmove(h->headers + 1, h->headers, h->n * sizeof(h->headers[0]));
    h->headers[0] = (wh_header_t){WH_STRLIT("x-fuzz-key"), WH_STRLIT(KEY)};
    h->n += 1;
    in->headers = h->headers;
    in->nheaders = h->n;
}

static wh_err_t run_verify(const wh_inbound_t *in, json_t *credentials)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_err_t err = wh_provider_dynamics.verify(in, credentials, errbuf);

    check(err == WH_OK || err == WH_ESIGNATURE);
    /* The message never carries the key. */
    check(err == WH_OK || strstr(errbuf, KEY) == NULL);
    return err;
}

static void run_parse(const wh_inbound_t *in)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;
    wh_err_t err;

    wh_changes_init(&out);
    err = wh_provider_dynamics.parse(in, NULL, &out, errbuf);
    check(err == WH_OK || err == WH_EMALFORMED || err == WH_ETOO_LARGE);
    if (err == WH_OK) {
        const wh_change_t *c = &out.items[0];
        check(out.size == 1);
        check(c->object_type != NULL && c->action != NULL && c->object_id[0] != '\0');
        check(json_is_object(c->fields));
        check(c->thin == (json_object_size(c->fields) == 0));
        check(c->changed_fields == NULL || json_is_array(c->changed_fields));
        check(c->previous == NULL || json_is_object(c->previous));
    }
    wh_changes_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *split = NULL;
    wh_inbound_t in = {.method = WH_STRLIT("POST"),
                       .url = WH_STRLIT("https://wharf.example/webhooks/dynamics/c?code=fuzz-key%2B%2F%3D"),
                       .now_ms = NOW_MS};
    headers_t h = {.n = 0};
    json_t *by_header = json_pack("{s:s, s:s}", "key", KEY, "headerName", HEADER_NAME);
    json_t *by_code = json_pack("{s:s}", "key", KEY);
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
        add_key(&in, &h);

    check(run_verify(&in, by_header) == WH_OK || !sign);
    run_verify(&in, by_code);
    run_parse(&in);

    /* The body doubles as a credentials object for check_credentials. */
    as_credentials = json_loadb(in.body.base, in.body.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (as_credentials != NULL) {
        wh_err_t err = wh_provider_dynamics.check_credentials(as_credentials, errbuf);
        check(err == WH_OK || err == WH_EINVAL);
        if (err == WH_OK) {
            char vbuf[WH_ERRBUF_SIZE];
            check(wh_provider_dynamics.verify(&in, as_credentials, vbuf) != WH_ENOCRED);
        }
        json_decref(as_credentials);
    }
    json_decref(by_header);
    json_decref(by_code);
    return 0;
}
