/*
 * bench/json: jansson against yajl, jsmn and simdjson on the providers' real bodies (issue 9). See README.md.
 *
 * usage: bench_json FIXTURES_DIR SHARED_BODY_JSON
 *   env: REPS=5 (repetitions per cell; the median is reported)  REP_MS=100 (minimum duration of one repetition)
 *        ONLY_CHECK=1 (correctness only)
 * Prints markdown (correctness, then timings) on stdout and one TSV line per repetition on fd 3 when it is open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

static const bj_parser_t *const parsers[] = {&bj_jansson, &bj_yajl, &bj_simdjson, &bj_jsmn, &bj_jsmn_raw};
#define NPARSERS (sizeof(parsers) / sizeof(parsers[0]))

/* Providers that send JSON (salesforce sends SOAP XML). */
static const char *const providers[] = {"hubspot",  "pipedrive", "close",    "attio", "zoho",
                                        "dynamics", "monday",    "standard", "copper"};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

typedef struct {
    char *base;
    size_t len;
    const char *provider;
    char origin[160];
    int timed; /* a real request (not a malformed.json case): part of the timing classes when valid */
} body_t;

static body_t *bodies;
static size_t nbodies, capbodies;

static void *must(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "bench_json: out of memory\n");
        abort();
    }
    return p;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = must(malloc((size_t)n + 1));
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Takes `buf`; drops it when the same provider already has these bytes. */
static void add_body(char *buf, size_t len, const char *provider, const char *origin, int timed)
{
    for (size_t i = 0; i != nbodies; ++i) {
        if (bodies[i].provider == provider && bodies[i].len == len && memcmp(bodies[i].base, buf, len) == 0) {
            bodies[i].timed |= timed;
            free(buf);
            return;
        }
    }
    if (nbodies == capbodies) {
        capbodies = capbodies ? capbodies * 2 : 256;
        bodies = must(realloc(bodies, capbodies * sizeof(*bodies)));
    }
    bodies[nbodies].base = buf;
    bodies[nbodies].len = len;
    bodies[nbodies].provider = provider;
    snprintf(bodies[nbodies].origin, sizeof(bodies[nbodies].origin), "%s", origin);
    bodies[nbodies].timed = timed;
    ++nbodies;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A case's request body, the way tests/unit/providers/fixture.c reads it (body | bodyJson | bodyFile | bodyHex). */
static char *case_body(const json_t *req, const char *dir, size_t *len)
{
    const json_t *v;
    char path[2048], *buf;

    if ((v = json_object_get(req, "body")) != NULL && json_is_string(v)) {
        *len = json_string_length(v);
        buf = must(malloc(*len + 1));
        memcpy(buf, json_string_value(v), *len);
        buf[*len] = '\0';
        return buf;
    }
    if ((v = json_object_get(req, "bodyJson")) != NULL) {
        buf = must(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER));
        *len = strlen(buf);
        return buf;
    }
    if ((v = json_object_get(req, "bodyFile")) != NULL && json_is_string(v)) {
        snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(v));
        return read_file(path, len);
    }
    if ((v = json_object_get(req, "bodyHex")) != NULL && json_is_string(v)) {
        const char *h = json_string_value(v);
        size_t n = json_string_length(v) / 2;
        buf = must(malloc(n + 1));
        for (size_t i = 0; i != n; ++i)
            buf[i] = (char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
        buf[n] = '\0';
        *len = n;
        return buf;
    }
    return NULL;
}

static void load_provider(const char *fixtures, const char *provider)
{
    char dir[1024], path[1200], origin[160];
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/%s", fixtures, provider);
    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "bench_json: %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        json_t *root, *cases, *c;
        size_t i;
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        root = json_load_file(path, JSON_ALLOW_NUL, NULL);
        if (root == NULL) {
            fprintf(stderr, "bench_json: %s is not JSON\n", path);
            exit(2);
        }
        cases = json_is_array(root) ? root : json_object_get(root, "cases");
        json_array_foreach(cases, i, c)
        {
            size_t len;
            char *buf = case_body(json_object_get(c, "request"), dir, &len);
            if (buf == NULL)
                continue;
            snprintf(origin, sizeof(origin), "%s/%s#%zu", provider, de->d_name, i);
            add_body(buf, len, provider, origin, strcmp(de->d_name, "malformed.json") != 0);
        }
        json_decref(root);
    }
    closedir(d);
    /* bodies/ files are requests too (most are referenced by bodyFile already; duplicates are dropped). */
    snprintf(dir, sizeof(dir), "%s/%s/bodies", fixtures, provider);
    d = opendir(dir);
    while (d != NULL && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), len;
        char *buf;
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        buf = read_file(path, &len);
        snprintf(origin, sizeof(origin), "%s/bodies/%s", provider, de->d_name);
        if (buf != NULL)
            add_body(buf, len, provider, origin, 1);
    }
    if (d != NULL)
        closedir(d);
}

/* Timing classes: a set of bodies parsed once per iteration. */
typedef struct {
    char name[64];
    const body_t **b;
    size_t n, bytes;
} class_t;

static class_t classes[32];
static size_t nclasses;

static class_t *new_class(const char *name)
{
    class_t *c = &classes[nclasses++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->b = must(calloc(nbodies + 1, sizeof(*c->b)));
    return c;
}

static void class_add(class_t *c, const body_t *b)
{
    c->b[c->n++] = b;
    c->bytes += b->len;
}

static body_t shared_body, hubspot_100;

/* 100 HubSpot events (WH_MAX_BATCH, the largest batch HubSpot sends), drawn in turn from the fixtures' events. */
static void build_hubspot_100(void)
{
    json_t *all = json_array(), *out = json_array(), *ev;
    size_t i;

    for (size_t k = 0; k != nbodies; ++k) {
        json_t *root;
        if (bodies[k].provider != providers[0] || !bodies[k].timed)
            continue;
        root = json_loadb(bodies[k].base, bodies[k].len, JSON_ALLOW_NUL, NULL);
        if (json_is_array(root))
            json_array_foreach(root, i, ev) if (json_is_object(ev)) json_array_append(all, ev);
        json_decref(root);
    }
    for (i = 0; i != 100 && json_array_size(all) != 0; ++i)
        json_array_append(out, json_array_get(all, i % json_array_size(all)));
    hubspot_100.base = must(json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER));
    hubspot_100.len = strlen(hubspot_100.base);
    hubspot_100.provider = providers[0];
    snprintf(hubspot_100.origin, sizeof(hubspot_100.origin), "hubspot fixtures' %zu distinct events, cycled to 100",
             json_array_size(all));
    json_decref(all);
    json_decref(out);
}

static bj_verdict_t verdict_of(const bj_parser_t *p, void *st, const char *buf, size_t len, uint64_t *sum)
{
    bj_verdict_t v = p->parse(st, buf, len);
    if (v == BJ_OK) {
        if (sum != NULL && p->walk != NULL)
            *sum = p->walk(st);
        p->release(st);
    }
    return v;
}

static const char *vname(bj_verdict_t v)
{
    return v == BJ_OK ? "ok" : v == BJ_DEEP ? "deep" : "invalid";
}

static void *states[NPARSERS];

/* Timed only when every parser accepts the body, so each iteration does the same work everywhere. */
static int all_ok(const body_t *b)
{
    uint64_t s;
    for (size_t p = 0; p != NPARSERS; ++p)
        if (verdict_of(parsers[p], states[p], b->base, b->len, &s) != BJ_OK)
            return 0;
    return 1;
}

/* Fixture bodies: every parser's verdict against jansson's, and (valid ones) the walk's checksum. */
static void check_fixtures(size_t *valid_out)
{
    size_t valid = 0, invalid = 0, deep = 0, disagree[NPARSERS] = {0}, sums[NPARSERS] = {0};

    printf("## Correctness on the fixture bodies\n\n");
    for (size_t k = 0; k != nbodies; ++k) {
        uint64_t ref = 0;
        bj_verdict_t vref = verdict_of(parsers[0], states[0], bodies[k].base, bodies[k].len, &ref);
        valid += vref == BJ_OK;
        invalid += vref == BJ_INVALID;
        deep += vref == BJ_DEEP;
        for (size_t p = 1; p != NPARSERS; ++p) {
            uint64_t sum = 0;
            bj_verdict_t v = verdict_of(parsers[p], states[p], bodies[k].base, bodies[k].len, &sum);
            if (v != vref) {
                ++disagree[p];
                printf("- %s: %s says %s, jansson %s (%zu bytes)\n", bodies[k].origin, parsers[p]->name, vname(v), vname(vref),
                       bodies[k].len);
            } else if (v == BJ_OK && vref == BJ_OK && parsers[p]->walk != NULL && sum != ref) {
                ++sums[p];
                printf("- %s: %s's walk read different values than jansson's\n", bodies[k].origin, parsers[p]->name);
            }
        }
    }
    printf("\n%zu distinct bodies from %zu providers (jansson: %zu ok, %zu invalid, %zu too deep).\n\n", nbodies,
           (size_t)NPROVIDERS, valid, invalid, deep);
    printf("| parser | verdicts differing from jansson | walks reading different values |\n|---|---|---|\n");
    for (size_t p = 1; p != NPARSERS; ++p)
        if (parsers[p]->walk != NULL)
            printf("| %s | %zu | %zu |\n", parsers[p]->name, disagree[p], sums[p]);
        else
            printf("| %s | %zu | n/a (no walk) |\n", parsers[p]->name, disagree[p]);
    *valid_out = valid;
}

/* Bodies written here: each parser's verdict. `want` is what wharf requires. */
static const struct {
    const char *name;
    const char *body;
    size_t len; /* 0: strlen */
    const char *want;
} invalid_cases[] = {
    {"truncated object", "[{\"objectId\":1,\"portalId\":62515", 0, "invalid"},
    {"truncated in a string", "[{\"propertyValue\":\"abc", 0, "invalid"},
    {"trailing garbage", "[1] x", 0, "invalid"},
    {"two top-level values", "[1] [2]", 0, "invalid"},
    {"NUL byte then garbage", "[1]\0garbage", 11, "invalid"},
    {"trailing comma", "[1,2,]", 0, "invalid"},
    {"missing comma", "[1 2]", 0, "invalid"},
    {"missing colon", "{\"a\" 1}", 0, "invalid"},
    {"empty body", "", 0, "invalid"},
    {"bad UTF-8 (0xFF)", "[\"\xff\"]", 0, "invalid"},
    {"overlong UTF-8 (C0 AF)", "[\"\xc0\xaf\"]", 0, "invalid"},
    {"UTF-8-encoded surrogate (ED A0 80)", "[\"\xed\xa0\x80\"]", 0, "invalid"},
    {"truncated UTF-8 (E2 82)", "[\"\xe2\x82\"]", 0, "invalid"},
    {"lone surrogate escape \\ud800", "[\"\\ud800\"]", 0, "invalid"},
    {"raw control character", "[\"a\x01 b\"]", 0, "invalid"},
    {"invalid escape \\x", "[\"\\x41\"]", 0, "invalid"},
    {"\\u0000 inside a string", "[\"a\\u0000b\"]", 0, "ok"},
    {"UTF-8 BOM", "\xef\xbb\xbf[1]", 0, "invalid"},
    {"comment", "[1 /* c */]", 0, "invalid"},
    {"single quotes", "['a']", 0, "invalid"},
    {"NaN", "[NaN]", 0, "invalid"},
    {"leading zero", "[01]", 0, "invalid"},
    {"bare minus", "[-]", 0, "invalid"},
    {"1.", "[1.]", 0, "invalid"},
    {"tru", "[tru]", 0, "invalid"},
    {"top-level scalar", "1", 0, "ok"},
    {"int64 max", "[9223372036854775807]", 0, "ok"},
    {"int64 max + 1", "[9223372036854775808]", 0, "(jansson: invalid)"},
    {"30-digit integer", "[123456789012345678901234567890]", 0, "(jansson: invalid)"},
    {"1e400", "[1e400]", 0, "(jansson: invalid)"},
    {"duplicate keys", "[{\"objectId\":1,\"objectId\":2}]", 0, "ok; see lookups"},
};
#define NINVALID (sizeof(invalid_cases) / sizeof(invalid_cases[0]))

static char *nested(int levels, size_t *len)
{
    char *s = must(malloc((size_t)levels * 2 + 1));
    memset(s, '[', (size_t)levels);
    memset(s + levels, ']', (size_t)levels);
    *len = (size_t)levels * 2;
    s[*len] = '\0';
    return s;
}

static void check_inline(void)
{
    printf("\n## Correctness on bodies written for the check\n\n| body | wharf wants |");
    for (size_t p = 0; p != NPARSERS; ++p)
        printf(" %s |", parsers[p]->name);
    printf("\n|---|---|");
    for (size_t p = 0; p != NPARSERS; ++p)
        printf("---|");
    printf("\n");
    for (size_t k = 0; k != NINVALID + 4; ++k) {
        const char *name, *want, *body;
        char *owned = NULL, label[64];
        size_t len;
        if (k < NINVALID) {
            name = invalid_cases[k].name;
            want = invalid_cases[k].want;
            body = invalid_cases[k].body;
            len = invalid_cases[k].len ? invalid_cases[k].len : strlen(body);
        } else {
            static const int levels[] = {BJ_MAX_DEPTH, BJ_MAX_DEPTH + 1, 1000, 100000};
            snprintf(label, sizeof(label), "%d nested arrays", levels[k - NINVALID]);
            name = label;
            want = levels[k - NINVALID] <= BJ_MAX_DEPTH ? "ok" : "deep";
            body = owned = nested(levels[k - NINVALID], &len);
        }
        printf("| %s | %s |", name, want);
        uint64_t ref = 0;
        bj_verdict_t vref = verdict_of(parsers[0], states[0], body, len, &ref);
        for (size_t p = 0; p != NPARSERS; ++p) {
            uint64_t sum = 0;
            bj_verdict_t v = verdict_of(parsers[p], states[p], body, len, &sum);
            if (v == BJ_OK && strcmp(name, "duplicate keys") == 0 && parsers[p]->walk != NULL) {
                /* lookup hit + the looked-up value + every member iterated */
                uint64_t i1 = bj_sum_int(1), i2 = bj_sum_int(2), hit = bj_sum_hit(2);
                const char *seen = sum == hit + i2 + i2        ? "last (one member kept)"
                                   : sum == hit + i1 + i1 + i2 ? "first (both kept)"
                                   : sum == hit + i2 + i1 + i2 ? "last (both kept)"
                                                               : "?";
                printf(" ok, lookup sees %s |", seen);
            } else if (v == BJ_OK && vref == BJ_OK && parsers[p]->walk != NULL && sum != ref) {
                printf(" ok, reads differ from jansson |");
            } else {
                printf(" %s |", vname(v));
            }
        }
        printf("\n");
        free(owned);
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

/* Runs `iters` iterations over the class; returns ns. */
static double run(const bj_parser_t *p, void *st, const class_t *c, int walk, long iters)
{
    uint64_t acc = 0;
    double t0 = now_ns();
    for (long it = 0; it != iters; ++it) {
        for (size_t k = 0; k != c->n; ++k) {
            if (p->parse(st, c->b[k]->base, c->b[k]->len) != BJ_OK)
                abort();
            if (walk)
                acc += p->walk(st);
            p->release(st);
        }
    }
    sink += acc;
    return now_ns() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double med, lo, hi; /* ns per iteration over the class */
} cell_t;

static void time_classes(int reps, double rep_ms)
{
    FILE *tsv = fcntl(3, F_GETFD) != -1 ? fdopen(3, "w") : NULL;
    static cell_t cells[32][NPARSERS][2];

    for (size_t ci = 0; ci != nclasses; ++ci) {
        const class_t *c = &classes[ci];
        long iters[NPARSERS][2];
        double samples[NPARSERS][2][64];
        /* Calibrate: iterations so that one repetition lasts at least rep_ms. */
        for (size_t p = 0; p != NPARSERS; ++p)
            for (int w = 0; w != 2; ++w) {
                long n = 1;
                double t;
                if (w && parsers[p]->walk == NULL)
                    continue;
                while ((t = run(parsers[p], states[p], c, w, n)) < 20e6)
                    n *= 2;
                iters[p][w] = (long)(n * (rep_ms * 1e6 / t)) + 1;
            }
        /* Interleaved: every repetition runs every parser, so the box's drift hits them alike. */
        for (int r = 0; r != reps; ++r)
            for (size_t p = 0; p != NPARSERS; ++p)
                for (int w = 0; w != 2; ++w) {
                    if (w && parsers[p]->walk == NULL)
                        continue;
                    samples[p][w][r] = run(parsers[p], states[p], c, w, iters[p][w]) / (double)iters[p][w];
                    if (tsv != NULL)
                        fprintf(tsv, "%s\t%s\t%s\t%d\t%zu\t%zu\t%.3f\n", c->name, parsers[p]->name, w ? "walk" : "parse", r, c->n,
                                c->bytes, samples[p][w][r]);
                }
        for (size_t p = 0; p != NPARSERS; ++p)
            for (int w = 0; w != 2; ++w) {
                if (w && parsers[p]->walk == NULL)
                    continue;
                qsort(samples[p][w], (size_t)reps, sizeof(double), cmp_double);
                cells[ci][p][w] = (cell_t){samples[p][w][reps / 2], samples[p][w][0], samples[p][w][reps - 1]};
            }
        fprintf(stderr, "bench_json: %s done\n", c->name);
    }
    if (tsv != NULL)
        fflush(tsv);

    for (int w = 0; w != 2; ++w) {
        printf("\n## %s: ns per byte (median of %d; in brackets: x jansson)\n\n| class | bodies | bytes/body |",
               w ? "Parse + walk" : "Parse only", reps);
        for (size_t p = 0; p != NPARSERS; ++p)
            if (!w || parsers[p]->walk != NULL)
                printf(" %s |", parsers[p]->name);
        printf("\n|---|---|---|");
        for (size_t p = 0; p != NPARSERS; ++p)
            if (!w || parsers[p]->walk != NULL)
                printf("---|");
        printf("\n");
        for (size_t ci = 0; ci != nclasses; ++ci) {
            double ref = cells[ci][0][w].med;
            printf("| %s | %zu | %zu |", classes[ci].name, classes[ci].n, classes[ci].bytes / classes[ci].n);
            for (size_t p = 0; p != NPARSERS; ++p)
                if (!w || parsers[p]->walk != NULL)
                    printf(" %.2f (%.2f) |", cells[ci][p][w].med / (double)classes[ci].bytes, cells[ci][p][w].med / ref);
            printf("\n");
        }
        printf("\n### %s: ns per body (median) and spread (max-min)/median\n\n| class |", w ? "Parse + walk" : "Parse only");
        for (size_t p = 0; p != NPARSERS; ++p)
            if (!w || parsers[p]->walk != NULL)
                printf(" %s |", parsers[p]->name);
        printf("\n|---|");
        for (size_t p = 0; p != NPARSERS; ++p)
            if (!w || parsers[p]->walk != NULL)
                printf("---|");
        printf("\n");
        for (size_t ci = 0; ci != nclasses; ++ci) {
            printf("| %s |", classes[ci].name);
            for (size_t p = 0; p != NPARSERS; ++p)
                if (!w || parsers[p]->walk != NULL) {
                    const cell_t *x = &cells[ci][p][w];
                    printf(" %.0f ±%.0f%% |", x->med / (double)classes[ci].n, 100.0 * (x->hi - x->lo) / x->med);
                }
            printf("\n");
        }
    }
}

int main(int argc, char **argv)
{
    const char *reps_env = getenv("REPS"), *ms_env = getenv("REP_MS"), *only = getenv("ONLY_CHECK");
    int reps = reps_env ? (int)strtol(reps_env, NULL, 10) : 5;
    double rep_ms = ms_env ? strtod(ms_env, NULL) : 100;
    size_t valid;

    if (argc != 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR SHARED_BODY_JSON\n", argv[0]);
        return 2;
    }
    if (reps < 1 || reps > 64)
        reps = 5;
    for (size_t i = 0; i != NPROVIDERS; ++i)
        load_provider(argv[1], providers[i]);
    shared_body.base = read_file(argv[2], &shared_body.len);
    if (shared_body.base == NULL) {
        fprintf(stderr, "bench_json: %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    shared_body.provider = providers[0];
    snprintf(shared_body.origin, sizeof(shared_body.origin), "%s", argv[2]);
    for (size_t p = 0; p != NPARSERS; ++p)
        states[p] = parsers[p]->create();

    check_fixtures(&valid);
    check_inline();
    if (only != NULL && strcmp(only, "1") == 0)
        return 0;

    build_hubspot_100();
    {
        class_t *h1 = new_class("hubspot, 1 event"), *hn = new_class("hubspot, 2-17 events"),
                *h3 = new_class("hubspot, body.json (3 events)"), *h100 = new_class("hubspot, 100 events");
        class_add(h3, &shared_body);
        class_add(h100, &hubspot_100);
        for (size_t k = 0; k != nbodies; ++k) {
            json_t *root;
            if (bodies[k].provider != providers[0] || !bodies[k].timed || !all_ok(&bodies[k]))
                continue;
            root = json_loadb(bodies[k].base, bodies[k].len, JSON_ALLOW_NUL, NULL);
            if (json_is_array(root) && json_array_size(root) >= 1)
                class_add(json_array_size(root) == 1 ? h1 : hn, &bodies[k]);
            json_decref(root);
        }
    }
    for (size_t i = 1; i != NPROVIDERS; ++i) {
        class_t *c = new_class(providers[i]);
        for (size_t k = 0; k != nbodies; ++k)
            if (bodies[k].provider == providers[i] && bodies[k].timed && all_ok(&bodies[k]))
                class_add(c, &bodies[k]);
        if (c->n == 0)
            --nclasses;
    }
    printf("\n## Timing classes\n\n");
    for (size_t ci = 0; ci != nclasses; ++ci)
        printf("- %s: %zu bodies, %zu bytes\n", classes[ci].name, classes[ci].n, classes[ci].bytes);
    printf("- (hubspot, 100 events: %s, %zu bytes)\n", hubspot_100.origin, hubspot_100.len);
    time_classes(reps, rep_ms);
    (void)valid;
    return 0;
}
