/*
 * jsmn 1.1 (JSMN_STRICT, JSMN_PARENT_LINKS) two ways:
 *   jsmn-raw  jsmn_parse alone: what jsmn itself says about a body (the number usually quoted for jsmn).
 *   jsmn      jsmn_parse + the glue wharf would have to write to get jansson's guarantees: jsmn does not check
 *             commas, colons, number or literal grammar, control characters or UTF-8; it stops at a NUL byte,
 *             accepts several top-level values and has no depth bound. So validate() below is a complete strict
 *             JSON validator (grammar, depth <= WH_MAX_JSON_DEPTH, UTF-8, escapes and surrogates, int64 and
 *             finite reals, as jansson accepts them), and the walk unescapes strings and converts numbers itself.
 * Tokens: jsmn needs an array sized in advance; one per input byte is the only safe bound (20 bytes per token).
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

typedef struct {
    const char *js;
    size_t len;
    jsmntok_t *tok;
    int ntok;
    char *scratch; /* unescaped strings */
} st_t;

static void *create(void)
{
    st_t *st = calloc(1, sizeof(st_t));
    st->tok = malloc(sizeof(jsmntok_t) * (BJ_MAX_BODY + 1));
    st->scratch = malloc(BJ_MAX_BODY);
    return st;
}

static void destroy(void *p)
{
    st_t *st = p;
    free(st->tok);
    free(st->scratch);
    free(st);
}

static int tokenize(st_t *st, const char *buf, size_t len)
{
    jsmn_parser parser;

    jsmn_init(&parser);
    st->js = buf;
    st->len = len;
    st->ntok = jsmn_parse(&parser, buf, len, st->tok, BJ_MAX_BODY + 1);
    return st->ntok;
}

static bj_verdict_t parse_raw(void *p, const char *buf, size_t len)
{
    return tokenize(p, buf, len) > 0 ? BJ_OK : BJ_INVALID;
}

/* The glue: a strict validator. */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static long hex4(const unsigned char *s)
{
    long v = 0;
    for (int i = 0; i != 4; ++i) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* One UTF-8 sequence at s[0] (a byte >= 0x80); its length, or 0 (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* A string starting at s[*p] == '"'; *p ends after the closing quote. */
static int v_string(const unsigned char *s, size_t len, size_t *p)
{
    size_t i = *p + 1;
    while (i < len) {
        unsigned c = s[i];
        if (c == '"') {
            *p = i + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (i + 1 >= len)
                return 0;
            c = s[i + 1];
            if (c == 'u') {
                long u = i + 6 <= len ? hex4(s + i + 2) : -1;
                if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
                    return 0;
                i += 6;
                if (u >= 0xd800 && u <= 0xdbff) { /* a high surrogate needs its low half */
                    long lo = i + 6 <= len && s[i] == '\\' && s[i + 1] == 'u' ? hex4(s + i + 2) : -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return 0;
                    i += 6;
                }
                continue;
            }
            if (!memchr("\"\\/bfnrt", (int)c, 8) || c == 0)
                return 0;
            i += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0)
                return 0;
            i += n;
            continue;
        }
        ++i;
    }
    return 0;
}

/* A number at s[*p]: RFC 8259 grammar; integers must fit int64 and reals be finite (jansson's rules). */
static int v_number(const unsigned char *s, size_t len, size_t *p)
{
    size_t i = *p, start = *p;
    int real = 0;
    char tmp[1024];

    if (i < len && s[i] == '-')
        ++i;
    if (i >= len)
        return 0;
    if (s[i] == '0')
        ++i;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
    else
        return 0;
    if (i < len && s[i] == '.') {
        real = 1;
        if (++i >= len || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        real = 1;
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            ++i;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            ++i;
    }
    *p = i;
    if (i - start >= sizeof(tmp))
        return 0;
    if (!real && i - start <= 18) /* fits int64 without asking strtoll */
        return 1;
    memcpy(tmp, s + start, i - start);
    tmp[i - start] = '\0';
    errno = 0;
    if (!real) {
        (void)strtoll(tmp, NULL, 10);
        return errno == 0;
    }
    return isfinite(strtod(tmp, NULL));
}

static int skip_ws(const unsigned char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        ++i;
    return (int)i;
}

static bj_verdict_t validate(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    char stack[BJ_MAX_DEPTH];
    int depth = 0;
    size_t i = (size_t)skip_ws(s, len, 0);

Value:
    if (i >= len)
        return BJ_INVALID;
    switch (s[i]) {
    case '{':
    case '[':
        if (depth == BJ_MAX_DEPTH)
            return BJ_DEEP;
        stack[depth++] = (char)s[i];
        i = (size_t)skip_ws(s, len, i + 1);
        if (i < len && s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
            --depth;
            ++i;
            goto After;
        }
        if (stack[depth - 1] == '{')
            goto Key;
        goto Value;
    case '"':
        if (!v_string(s, len, &i))
            return BJ_INVALID;
        goto After;
    case 't':
        if (len - i < 4 || memcmp(s + i, "true", 4) != 0)
            return BJ_INVALID;
        i += 4;
        goto After;
    case 'f':
        if (len - i < 5 || memcmp(s + i, "false", 5) != 0)
            return BJ_INVALID;
        i += 5;
        goto After;
    case 'n':
        if (len - i < 4 || memcmp(s + i, "null", 4) != 0)
            return BJ_INVALID;
        i += 4;
        goto After;
    default:
        if (!v_number(s, len, &i))
            return BJ_INVALID;
        goto After;
    }
Key:
    if (i >= len || s[i] != '"' || !v_string(s, len, &i))
        return BJ_INVALID;
    i = (size_t)skip_ws(s, len, i);
    if (i >= len || s[i] != ':')
        return BJ_INVALID;
    i = (size_t)skip_ws(s, len, i + 1);
    goto Value;
After:
    i = (size_t)skip_ws(s, len, i);
    if (depth == 0)
        return i == len ? BJ_OK : BJ_INVALID;
    if (i >= len)
        return BJ_INVALID;
    if (s[i] == ',') {
        i = (size_t)skip_ws(s, len, i + 1);
        if (stack[depth - 1] == '{')
            goto Key;
        goto Value;
    }
    if (s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
        --depth;
        ++i;
        goto After;
    }
    return BJ_INVALID;
}

static bj_verdict_t parse_glued(void *p, const char *buf, size_t len)
{
    bj_verdict_t v = validate(buf, len);

    if (v != BJ_OK)
        return v;
    /* Valid JSON holds no raw NUL byte, so jsmn sees it all; the validator guarantees one root value. */
    return tokenize(p, buf, len) > 0 ? BJ_OK : BJ_INVALID;
}

/* The walk over tokens: the accessors a jsmn seam would need (unescape, numbers, lookup, skip). */

/* The index after token i's subtree (tokens are in document order). */
static int skip(const st_t *st, int i)
{
    int end = st->tok[i].end, j = i + 1;
    while (j < st->ntok && st->tok[j].start < end)
        ++j;
    return j;
}

/* A string token's bytes, unescaped into the scratch buffer at *used when it holds escapes. */
static const char *string_of(st_t *st, int i, size_t *len, size_t *used)
{
    const char *s = st->js + st->tok[i].start;
    size_t n = (size_t)(st->tok[i].end - st->tok[i].start), o = 0;
    char *out = st->scratch + *used;

    if (memchr(s, '\\', n) == NULL) {
        *len = n;
        return s;
    }
    for (size_t k = 0; k < n; ++k) {
        unsigned long u;
        if (s[k] != '\\') {
            out[o++] = s[k];
            continue;
        }
        switch (s[++k]) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            u = (unsigned long)hex4((const unsigned char *)s + k + 1);
            k += 4;
            if (u >= 0xd800 && u <= 0xdbff) {
                u = 0x10000 + ((u - 0xd800) << 10) + ((unsigned long)hex4((const unsigned char *)s + k + 3) - 0xdc00);
                k += 6;
            }
            if (u < 0x80) {
                out[o++] = (char)u;
            } else if (u < 0x800) {
                out[o++] = (char)(0xc0 | u >> 6);
                out[o++] = (char)(0x80 | (u & 0x3f));
            } else if (u < 0x10000) {
                out[o++] = (char)(0xe0 | u >> 12);
                out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (u & 0x3f));
            } else {
                out[o++] = (char)(0xf0 | u >> 18);
                out[o++] = (char)(0x80 | (u >> 12 & 0x3f));
                out[o++] = (char)(0x80 | (u >> 6 & 0x3f));
                out[o++] = (char)(0x80 | (u & 0x3f));
            }
            break;
        default: /* " \ / */
            out[o++] = s[k];
        }
    }
    *used += o;
    *len = o;
    return out;
}

static uint64_t scalar(st_t *st, int i, size_t *used)
{
    const char *s = st->js + st->tok[i].start;
    size_t len;

    if (st->tok[i].type == JSMN_STRING) {
        size_t mark = *used;
        uint64_t sum;
        s = string_of(st, i, &len, used);
        sum = bj_sum_string(s, len);
        *used = mark; /* the walk consumes each value at once; a seam handing out strings would keep them */
        return sum;
    }
    switch (s[0]) {
    case 't':
        return bj_sum_const(2);
    case 'f':
        return bj_sum_const(1);
    case 'n':
        return bj_sum_const(0);
    }
    len = (size_t)(st->tok[i].end - st->tok[i].start);
    /* Validated grammar, and the byte after a primitive token is a delimiter: strto* stop there without a copy. */
    if (memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len))
        return bj_sum_real(strtod(s, NULL));
    return bj_sum_int(strtoll(s, NULL, 10));
}

static int key_eq(st_t *st, int k, const char *key, size_t keylen, size_t *used)
{
    size_t len, mark = *used;
    const char *s = string_of(st, k, &len, used);
    int eq = len == keylen && memcmp(s, key, len) == 0;
    *used = mark;
    return eq;
}

/* Walks token i; returns the index after its subtree. */
static int walk_tok(st_t *st, int i, uint64_t *sum, size_t *used)
{
    const jsmntok_t *t = &st->tok[i];
    int j = i + 1;

    if (t->type == JSMN_ARRAY) {
        for (int n = 0; n != t->size; ++n)
            j = walk_tok(st, j, sum, used);
        return j;
    }
    if (t->type != JSMN_OBJECT) {
        *sum += scalar(st, i, used);
        return j;
    }
    for (size_t k = 0; k != BJ_WALK_NKEYS; ++k) {
        size_t keylen = strlen(bj_walk_keys[k]);
        int m = i + 1;
        for (int n = 0; n != t->size; ++n) {
            if (key_eq(st, m, bj_walk_keys[k], keylen, used)) {
                int v = m + 1;
                *sum += bj_sum_hit(k) + (st->tok[v].type == JSMN_ARRAY || st->tok[v].type == JSMN_OBJECT ? 0 : scalar(st, v, used));
                break; /* first match, like simdjson and yajl */
            }
            m = skip(st, m + 1);
        }
    }
    for (int n = 0; n != t->size; ++n)
        j = walk_tok(st, j + 1, sum, used);
    return j;
}

static uint64_t walk(void *p)
{
    st_t *st = p;
    uint64_t sum = 0;
    size_t used = 0;

    walk_tok(st, 0, &sum, &used);
    return sum;
}

static void release(void *p)
{
    ((st_t *)p)->ntok = 0;
}

const bj_parser_t bj_jsmn_raw = {"jsmn-raw", create, destroy, parse_raw, NULL, release};
const bj_parser_t bj_jsmn = {"jsmn+glue", create, destroy, parse_glued, walk, release};
