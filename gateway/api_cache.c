/*
 * GET /v1/cache/{connectionId}/{objectType}/{objectId} and GET /v1/cache/{connectionId}/{objectType} (design §5,
 * §6; docs/api.md "Cache"): the synced cache's read side, over the key model of queue/keys.h.
 *
 * Every call first reads the connection (wh:conn): its environment must be the caller's, its sync config must
 * hold the type, and its syncState goes into every answer. A record is its wh:obj hash (JSON values,
 * "additional.<x>" nested back under "additional"), plus the children lists of wh_associations whose child type
 * is synced too, plus "stale": true while wh:ver has "_stale".
 *
 * A listing walks one ordered range (the "driver"): wh:ids without filter, else the index of one filter (with
 * several filters, the one with the fewest entries, counted once on the first page). Each round reads a batch of
 * candidates after the position, checks them (live: no "_deleted"/"_merged"; the other filters, on the record's
 * values), and stops when the page is full, the range is exhausted or the call has examined its budget of
 * candidates, which bounds the work of one request; then only the page's records are read in full. The cursor is
 * the driver's position (an index member, or score and id), so writes elsewhere in the range do not move it: a
 * record is seen at most once unless its indexed value changes between pages.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "../queue/keys.h"
#include "api.h"

/* Page size: default, and maximum (one page reads at most this many records in full). */
#define CACHE_LIMIT_DEFAULT 100
#define CACHE_LIMIT_MAX 1000
/* `filter` parameters one listing ANDs at most. */
#define CACHE_FILTERS_MAX 4
/* Candidates one listing examines at most: SCAN_FACTOR x limit, and never fewer than SCAN_MIN (a check is two HMGETs). */
#define CACHE_SCAN_FACTOR 5
#define CACHE_SCAN_MIN 1000
/* A round of an ANDed listing reads at least this many candidates (most of them may fail the other filters). */
#define CACHE_AND_BATCH 250
/* Ids one association list shows at most (the first ones in order); more sets "<list>Truncated": true. */
#define CACHE_ASSOC_MAX 1000
/* Entries sharing one number a cursor steps through when its own record left that number meanwhile. */
#define CACHE_TIES_MAX 10000
/* Longest cursor payload (bytes before base64url): its text fits one query parameter value. */
#define CURSOR_PAYLOAD_MAX (WH_API_QUERY_VALUE_MAX / 4 * 3 - 8)
/* Associations one type is the parent of, at most (the table in common/unified.c has 4 for account). */
#define CACHE_ASSOCS_MAX 8

typedef enum { OP_EQ, OP_STARTS_WITH, OP_GT, OP_LT } op_t;

typedef struct {
    const wh_index_field_t *field;
    op_t op;
    char text[WH_API_QUERY_VALUE_MAX + 1]; /* text fields: the value, ASCII lower-cased */
    size_t text_len;
    double number; /* number fields: the value (dates: epoch ms) */
} filter_t;

/* A position in the driver's range: an index member (text, ids) or a score and an id (numbers). */
typedef struct {
    char *member; /* owned */
    size_t member_len;
    double score;
    char id[WH_MAX_ID_LEN + 1];
} pos_t;

typedef struct {
    pos_t pos;
    bool live; /* the check round found it alive and matching */
    bool stale;
} cand_t;

typedef struct {
    char id[WH_MAX_ID_LEN + 1];
    bool stale;
    json_t *rec; /* owned once read; NULL: absent (gone between the check and the read) */
} entry_t;

typedef struct cache_call cache_call_t;

typedef struct {
    cache_call_t *s;
    size_t index;
    int what; /* WHAT_* or, >= 0, the association */
} slot_t;

enum {
    WHAT_OBJ = -1,
    WHAT_VER = -2,
    WHAT_CHECK = -3,
    WHAT_CHECK_VER = -4,
    WHAT_RANGE = -5,
    WHAT_TIES = -6,
    WHAT_ZSCORE = -7,
    WHAT_ZRANK = -8
};

struct cache_call {
    wh_api_call_t call;
    unsigned outstanding;
    wh_err_t failure;
    void (*next)(cache_call_t *s);
    slot_t *slots; /* owned: this step's callback contexts */
    /* the request */
    const wh_object_type_t *type;
    char object_id[WH_MAX_ID_LEN + 1];
    filter_t filters[CACHE_FILTERS_MAX];
    size_t nfilters;
    int driver; /* index of the driving filter; -1: wh:ids */
    size_t limit, budget;
    /* the connection */
    json_t *sync_state; /* owned string */
    const wh_association_t *assocs[CACHE_ASSOCS_MAX];
    size_t nassocs;
    long long counts[CACHE_FILTERS_MAX];
    /* the walk */
    bool pos_set;
    pos_t pos; /* after the last candidate examined */
    size_t scanned, batch;
    bool exhausted;
    cand_t *cands; /* owned: this round's */
    size_t ncands, capc;
    double zscore; /* number driver: the cursor record's score now (NAN: gone), and its rank */
    long long zrank;
    bool ties_cut;
    /* the page */
    entry_t *page; /* owned */
    size_t npage;
    bool has_next;
    pos_t next_pos;
    /* get: the version hash's markers */
    bool deleted, stale;
    json_t *merged_into; /* owned string or NULL */
};

static void range_round(cache_call_t *s);
static void fetch_round(cache_call_t *s);

/* ---- small helpers ---- */

static void pos_clear(pos_t *p)
{
    free(p->member);
    p->member = NULL;
    p->member_len = 0;
}

static void pos_set(pos_t *p, const char *member, size_t len, double score, const char *id, size_t id_len)
{
    pos_clear(p);
    if (member != NULL) {
        p->member = malloc(len + 1);
        if (p->member == NULL)
            abort();
        memcpy(p->member, member, len);
        p->member[len] = '\0';
        p->member_len = len;
    }
    p->score = score;
    memcpy(p->id, id, id_len);
    p->id[id_len] = '\0';
}

static void pos_copy(pos_t *to, const pos_t *from)
{
    pos_set(to, from->member, from->member_len, from->score, from->id, strlen(from->id));
}

static const char *op_name(op_t op)
{
    return op == OP_EQ ? "eq" : op == OP_STARTS_WITH ? "startsWith" : op == OP_GT ? "gt" : "lt";
}

static void ascii_lower(char *p, size_t len)
{
    for (size_t i = 0; i != len; ++i)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] - 'A' + 'a');
}

/* A number, an ISO 8601 date-time or a date ("2024-12-01": midnight UTC) as a double (dates: epoch ms). */
static bool parse_number(const char *text, double *out)
{
    int64_t ms;
    char *end;
    size_t len = strlen(text);

    if (wh_parse_iso8601(wh_str(text, len), &ms) || wh_parse_iso8601_date(wh_str(text, len), &ms)) {
        *out = (double)ms;
        return true;
    }
    if (len == 0 || strspn(text, "0123456789+-.eE") != len)
        return false;
    *out = strtod(text, &end);
    return *end == '\0' && isfinite(*out);
}

/* ZRANGEBYSCORE / ZCOUNT bounds of a number filter into lo and hi (40 bytes each). */
static void number_bounds(const filter_t *f, char *lo, char *hi)
{
    if (f->op == OP_LT)
        snprintf(lo, 40, "-inf");
    else
        snprintf(lo, 40, "%s%.17g", f->op == OP_GT ? "(" : "", f->number);
    if (f->op == OP_GT)
        snprintf(hi, 40, "+inf");
    else
        snprintf(hi, 40, "%s%.17g", f->op == OP_LT ? "(" : "", f->number);
}

/*
 * ZRANGEBYLEX / ZLEXCOUNT bounds of a text filter into lo and hi (text_len + 3 bytes each), binary: startsWith p
 * is [p .. [p\xff (UTF-8 has no 0xff byte); eq v is [v\0 .. [v\0\xff (members are lower(value) "\0" id).
 */
static void text_bounds(const filter_t *f, char *lo, size_t *lolen, char *hi, size_t *hilen)
{
    size_t n = f->text_len;

    lo[0] = '[';
    memcpy(lo + 1, f->text, n);
    memcpy(hi, lo, n + 1);
    if (f->op == OP_EQ) {
        lo[n + 1] = '\0';
        hi[n + 1] = '\0';
        hi[n + 2] = '\xff';
        *lolen = n + 2;
        *hilen = n + 3;
    } else {
        hi[n + 1] = '\xff';
        *lolen = n + 1;
        *hilen = n + 2;
    }
}

static bool number_matches(const filter_t *f, double v)
{
    return f->op == OP_EQ ? v == f->number : f->op == OP_GT ? v > f->number : v < f->number;
}

/* A filter on the record's stored value (JSON text): the same comparison the index answers. */
static bool value_matches(const filter_t *f, const redisReply *r)
{
    json_t *v;
    bool ok = false;

    if (r->type != REDIS_REPLY_STRING)
        return false;
    v = json_loadb(r->str, (size_t)r->len, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        return false;
    if (f->field->kind == WH_INDEX_NUMBER) {
        double d;
        if (json_is_number(v))
            ok = number_matches(f, json_number_value(v));
        else if (json_is_string(v) && parse_number(json_string_value(v), &d))
            ok = number_matches(f, d);
    } else if (json_is_string(v) && json_string_length(v) >= f->text_len) {
        size_t n = json_string_length(v);
        char *low = malloc(n + 1);
        if (low == NULL)
            abort();
        memcpy(low, json_string_value(v), n);
        ascii_lower(low, n);
        ok = memcmp(low, f->text, f->text_len) == 0 && (f->op == OP_STARTS_WITH || n == f->text_len);
        free(low);
    }
    json_decref(v);
    return ok;
}

static bool reply_double(const redisReply *r, double *out)
{
    char buf[64], *end;

    if (r->type == REDIS_REPLY_INTEGER) {
        *out = (double)r->integer;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len <= 0 || (size_t)r->len >= sizeof(buf))
        return false;
    memcpy(buf, r->str, (size_t)r->len);
    buf[r->len] = '\0';
    *out = strtod(buf, &end);
    return *end == '\0';
}

/* Percent-decodes one path segment; false on a bad escape or a byte outside printable ASCII. */
static bool segment_decode(wh_str_t in, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i != in.len; ++i) {
        int c = (unsigned char)in.base[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= in.len)
                return false;
            hi = wh_hex_digit((unsigned char)in.base[i + 1]);
            lo = wh_hex_digit((unsigned char)in.base[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c <= 0x20 || c >= 0x7f || c == '/' || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return n != 0;
}

/* ---- answers ---- */

/* {"error": {code, message[, mergedInto]}, "syncState": …}: errors about the cache still say how complete it is. */
static void reply_cache_error(cache_call_t *s, int status, const char *code, const char *message, json_t *merged_into)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);

    if (merged_into != NULL)
        json_object_set(err, "mergedInto", merged_into);
    wh_api__reply_json(&s->call, status, json_pack("{s:o, s:O}", "error", err, "syncState", s->sync_state));
}

/* The cursor: base64url of "<driver>" "<member>" or "<driver>" "<score>\n<id>"; driver is 'a' (ids) or '0'+i. */
static json_t *cursor_json(const cache_call_t *s, const pos_t *p)
{
    char payload[CURSOR_PAYLOAD_MAX + 64], text[WH_API_QUERY_VALUE_MAX + 8];
    size_t n;

    payload[0] = s->driver < 0 ? 'a' : (char)('0' + s->driver);
    if (s->driver >= 0 && s->filters[s->driver].field->kind == WH_INDEX_NUMBER) {
        n = 1 + (size_t)snprintf(payload + 1, sizeof(payload) - 1, "%.17g\n%s", p->score, p->id);
    } else {
        /* A member too long for a cursor is cut: the next page starts at or before it (a record may repeat). */
        n = p->member_len < CURSOR_PAYLOAD_MAX ? p->member_len : CURSOR_PAYLOAD_MAX;
        memcpy(payload + 1, p->member, n);
        ++n;
    }
    wh_base64url_encode((const uint8_t *)payload, n, text);
    return json_string(text);
}

static bool cursor_parse(cache_call_t *s, const char *text)
{
    size_t len = strlen(text), n;
    char b64[WH_API_QUERY_VALUE_MAX + 8];
    uint8_t raw[WH_API_QUERY_VALUE_MAX];
    long got;
    int d;

    if (len == 0 || len > WH_API_QUERY_VALUE_MAX)
        return false;
    for (n = 0; n != len; ++n) {
        char c = text[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        b64[n] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (n % 4 != 0)
        b64[n++] = '=';
    got = wh_base64_decode(wh_str(b64, n), raw, sizeof(raw));
    if (got < 1)
        return false;
    d = raw[0] == 'a' ? -1 : raw[0] - '0';
    if (s->nfilters > 1 ? d < 0 || (size_t)d >= s->nfilters : d != s->driver)
        return false;
    s->driver = d;
    if (d >= 0 && s->filters[d].field->kind == WH_INDEX_NUMBER) {
        char buf[WH_API_QUERY_VALUE_MAX + 1], *nl, *end;
        memcpy(buf, raw + 1, (size_t)got - 1);
        buf[got - 1] = '\0';
        nl = strchr(buf, '\n');
        if (nl == NULL || nl == buf || strlen(nl + 1) == 0 || strlen(nl + 1) > WH_MAX_ID_LEN)
            return false;
        *nl = '\0';
        s->pos.score = strtod(buf, &end);
        if (*end != '\0' || !isfinite(s->pos.score))
            return false;
        pos_set(&s->pos, NULL, 0, s->pos.score, nl + 1, strlen(nl + 1));
    } else {
        if (got < 2)
            return false;
        pos_set(&s->pos, (const char *)raw + 1, (size_t)got - 1, 0, "", 0);
    }
    s->pos_set = true;
    return true;
}

/* ---- the fan-in of a step's pipelined commands ---- */

static void settle(cache_call_t *s, wh_err_t err, const redisReply *reply)
{
    if (err == WH_OK && reply == NULL)
        err = WH_EUNAVAILABLE;
    if (err != WH_OK && s->failure == WH_OK) {
        s->failure = err;
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            wh_log_error("api_redis_error", "{s:s, s:s}", "route", s->call.route, "reply", reply->str);
    }
    if (--s->outstanding != 0)
        return;
    if (s->call.pending.req == NULL) {
        wh_api__finish(&s->call);
        return;
    }
    if (s->failure != WH_OK) {
        wh_api__reply_redis_error(&s->call, s->failure, NULL);
        return;
    }
    s->next(s);
}

/* Starts a step of up to `n` commands; send() each, then sent() once. */
static void step_begin(cache_call_t *s, size_t n, void (*next)(cache_call_t *s))
{
    free(s->slots);
    s->slots = calloc(n != 0 ? n : 1, sizeof(*s->slots));
    if (s->slots == NULL)
        abort();
    s->outstanding = 1; /* held until step_end: a reply cannot complete the step while commands are being sent */
    s->next = next;
}

static void on_reply(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

static void step_send(cache_call_t *s, size_t *k, size_t index, int what, int argc, const char **argv, const size_t *argvlen)
{
    slot_t *slot = &s->slots[(*k)++];

    *slot = (slot_t){s, index, what};
    ++s->outstanding;
    if (wh_redis_command(s->call.redis, on_reply, slot, argc, argv, argvlen) != WH_OK) {
        --s->outstanding;
        if (s->failure == WH_OK)
            s->failure = WH_EUNAVAILABLE;
    }
}

static void step_end(cache_call_t *s)
{
    settle(s, WH_OK, (const redisReply *)1); /* releases the hold; a non-NULL marker reply */
}

/* ---- records ---- */

/* The record of an HGETALL reply; NULL when the hash is empty (absent). */
static json_t *record_of(const redisReply *reply, const char *id)
{
    json_t *rec;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return NULL;
    rec = json_object();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        json_t *value, *additional;
        char name[WH_KEY_MAX];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || (size_t)f->len >= sizeof(name) ||
            memchr(f->str, '\0', (size_t)f->len) != NULL)
            continue;
        memcpy(name, f->str, (size_t)f->len);
        name[f->len] = '\0';
        value = json_loadb(v->str, (size_t)v->len, JSON_DECODE_ANY, NULL);
        if (value == NULL) {
            wh_log_warn("cache_value_unreadable", "{s:s, s:s}", "id", id, "field", name);
            continue;
        }
        if (strncmp(name, "additional.", 11) == 0 && name[11] != '\0') {
            additional = json_object_get(rec, "additional");
            if (!json_is_object(additional)) {
                additional = json_object();
                json_object_set_new(rec, "additional", additional);
            }
            json_object_set_new(additional, name + 11, value);
        } else if (strcmp(name, "additional") == 0 && json_is_object(json_object_get(rec, "additional"))) {
            json_object_update_missing(json_object_get(rec, "additional"), value);
            json_decref(value);
        } else {
            json_object_set_new(rec, name, value);
        }
    }
    if (json_object_size(rec) == 0) {
        json_decref(rec);
        return NULL;
    }
    if (!json_is_string(json_object_get(rec, "id")))
        json_object_set_new(rec, "id", json_string(id));
    return rec;
}

/* A SORT reply (ids in order, one more than shown when the list is longer) into rec[list]. */
static void add_list(json_t *rec, const wh_association_t *a, const redisReply *reply)
{
    json_t *ids = json_array();
    char flag[128];

    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i != reply->elements && i != CACHE_ASSOC_MAX; ++i)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(ids, json_stringn(reply->element[i]->str, (size_t)reply->element[i]->len));
    json_object_set_new(rec, a->list_field, ids);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > CACHE_ASSOC_MAX) {
        snprintf(flag, sizeof(flag), "%sTruncated", a->list_field);
        json_object_set_new(rec, flag, json_true());
    }
}

static void on_reply(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    slot_t *slot = data;
    cache_call_t *s = slot->s;

    if (err == WH_OK && reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        if (slot->what == WHAT_OBJ) {
            entry_t *e = &s->page[slot->index];
            e->rec = record_of(reply, e->id);
        } else if (slot->what >= 0) {
            entry_t *e = &s->page[slot->index];
            if (e->rec != NULL)
                add_list(e->rec, s->assocs[slot->what], reply);
        } else if (slot->what == WHAT_VER) {
            /* get: HMGET _deleted _merged _stale */
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
                s->deleted = reply->element[0]->type == REDIS_REPLY_STRING;
                if (reply->element[1]->type == REDIS_REPLY_STRING)
                    s->merged_into = json_stringn(reply->element[1]->str, (size_t)reply->element[1]->len);
                s->stale = reply->element[2]->type == REDIS_REPLY_STRING;
            }
        } else if (slot->what == WHAT_CHECK) {
            /* list: HMGET obj id <filter fields…> */
            cand_t *c = &s->cands[slot->index];
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 + s->nfilters) {
                c->live = reply->element[0]->type == REDIS_REPLY_STRING;
                for (size_t i = 0; i != s->nfilters && c->live; ++i)
                    if ((int)i != s->driver && !value_matches(&s->filters[i], reply->element[1 + i]))
                        c->live = false;
            }
        } else if (slot->what == WHAT_CHECK_VER) {
            /* sent after the record's HMGET, so it replies after it too */
            cand_t *c = &s->cands[slot->index];
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
                if (reply->element[0]->type == REDIS_REPLY_STRING || reply->element[1]->type == REDIS_REPLY_STRING)
                    c->live = false;
                c->stale = reply->element[2]->type == REDIS_REPLY_STRING;
            }
        } else if (slot->what == WHAT_ZSCORE) {
            if (!reply_double(reply, &s->zscore))
                s->zscore = NAN;
        } else if (slot->what == WHAT_ZRANK) {
            s->zrank = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
        } else if (slot->what == WHAT_RANGE || slot->what == WHAT_TIES) {
            bool scores = s->driver >= 0 && s->filters[s->driver].field->kind == WH_INDEX_NUMBER;
            size_t step = scores ? 2 : 1, got = 0;
            const filter_t *f = s->driver >= 0 ? &s->filters[s->driver] : NULL;
            for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + step <= reply->elements; i += step) {
                const redisReply *m = reply->element[i];
                double score = 0;
                const char *id = m->str;
                size_t id_len = (size_t)m->len;
                cand_t *c;
                ++got;
                if (m->type != REDIS_REPLY_STRING || (scores && !reply_double(reply->element[i + 1], &score)))
                    continue;
                if (scores && !number_matches(f, score)) {
                    s->exhausted = true; /* the rank walk went past the filter's range */
                    break;
                }
                if (slot->what == WHAT_TIES && (score != s->pos.score || strcmp(m->str, s->pos.id) <= 0))
                    continue;
                if (f != NULL && f->field->kind == WH_INDEX_TEXT) {
                    const char *nul = memchr(m->str, '\0', id_len);
                    const char *last = nul;
                    while (nul != NULL) {
                        last = nul;
                        nul = memchr(nul + 1, '\0', (size_t)(m->str + m->len - nul - 1));
                    }
                    if (last == NULL)
                        continue;
                    id = last + 1;
                    id_len = (size_t)(m->str + m->len - id);
                }
                if (id_len == 0 || id_len > WH_MAX_ID_LEN || memchr(id, '\0', id_len) != NULL)
                    continue;
                if (s->ncands == s->capc) {
                    s->capc = s->capc != 0 ? 2 * s->capc : 64;
                    s->cands = realloc(s->cands, s->capc * sizeof(*s->cands));
                    if (s->cands == NULL)
                        abort();
                }
                c = &s->cands[s->ncands++];
                memset(c, 0, sizeof(*c));
                pos_set(&c->pos, scores ? NULL : m->str, scores ? 0 : (size_t)m->len, score, id, id_len);
            }
            if (slot->what == WHAT_TIES) {
                if (got >= CACHE_TIES_MAX)
                    s->ties_cut = true;
            } else if (got < s->batch) {
                s->exhausted = true;
            }
        }
    }
    settle(s, err, reply);
}

/* ---- the page: records in full ---- */

static void answer_get(cache_call_t *s)
{
    entry_t *e = &s->page[0];
    char message[WH_MAX_ID_LEN * 2 + 128];

    if (s->merged_into != NULL) {
        snprintf(message, sizeof(message), "%s %s was merged into %s", s->type->name, s->object_id,
                 json_string_value(s->merged_into) != NULL ? json_string_value(s->merged_into) : "?");
        reply_cache_error(s, 404, "merged", message, s->merged_into);
        return;
    }
    if (s->deleted || e->rec == NULL) {
        snprintf(message, sizeof(message), "no %s %s in the cache", s->type->name, s->object_id);
        reply_cache_error(s, 404, "not_found", message, NULL);
        return;
    }
    if (s->stale)
        json_object_set_new(e->rec, "stale", json_true());
    wh_api__reply_json(&s->call, 200, json_pack("{s:O, s:O}", "object", e->rec, "syncState", s->sync_state));
}

static void answer_list(cache_call_t *s)
{
    json_t *objects = json_array();

    for (size_t i = 0; i != s->npage; ++i) {
        entry_t *e = &s->page[i];
        if (e->rec == NULL)
            continue; /* deleted between the check and the read */
        if (e->stale)
            json_object_set_new(e->rec, "stale", json_true());
        json_array_append(objects, e->rec);
    }
    wh_api__reply_json(&s->call, 200,
                       json_pack("{s:o, s:o, s:O}", "objects", objects, "nextCursor",
                                 s->has_next ? cursor_json(s, &s->next_pos) : json_null(), "syncState", s->sync_state));
}

/* HGETALL of each page record and SORT of its lists (and, for get, HMGET of its version markers), pipelined. */
static void fetch_round(cache_call_t *s)
{
    char key[WH_KEY_MAX], limit[16];
    const char *argv[8];
    size_t argvlen[8], k = 0;
    bool get = s->object_id[0] != '\0';

    snprintf(limit, sizeof(limit), "%d", CACHE_ASSOC_MAX + 1);
    step_begin(s, s->npage * (1 + s->nassocs) + 1, get ? answer_get : answer_list);
    for (size_t i = 0; i != s->npage && s->failure == WH_OK; ++i) {
        const char *id = s->page[i].id;
        if (get) {
            argv[0] = "HMGET";
            argv[1] = key;
            argvlen[1] = (size_t)wh_key_ver(key, s->call.id, s->type->name, id);
            argv[2] = "_deleted";
            argv[3] = "_merged";
            argv[4] = "_stale";
            for (int a = 0; a != 5; ++a)
                if (a != 1)
                    argvlen[a] = strlen(argv[a]);
            step_send(s, &k, i, WHAT_VER, 5, argv, argvlen);
        }
        argv[0] = "HGETALL";
        argvlen[0] = 7;
        argv[1] = key;
        argvlen[1] = (size_t)wh_key_obj(key, s->call.id, s->type->name, id);
        step_send(s, &k, i, WHAT_OBJ, 2, argv, argvlen);
        for (size_t a = 0; a != s->nassocs; ++a) {
            argv[0] = "SORT";
            argv[1] = key;
            argvlen[1] = (size_t)wh_key_assoc(key, s->call.id, s->type->name, id, s->assocs[a]->list_field);
            argv[2] = "ALPHA";
            argv[3] = "LIMIT";
            argv[4] = "0";
            argv[5] = limit;
            for (int x = 0; x != 6; ++x)
                if (x != 1)
                    argvlen[x] = strlen(argv[x]);
            step_send(s, &k, i, (int)a, 6, argv, argvlen);
        }
    }
    step_end(s);
}

/* ---- the walk ---- */

static void after_check(cache_call_t *s)
{
    long last_accepted = -1;

    for (size_t i = 0; i != s->ncands; ++i) {
        cand_t *c = &s->cands[i];
        ++s->scanned;
        if (!c->live)
            continue;
        if (s->npage == s->limit) {
            /* one more than the page: more exist, and the page ends at its last record */
            s->has_next = true;
            if (last_accepted >= 0)
                pos_copy(&s->next_pos, &s->cands[last_accepted].pos);
            else
                pos_copy(&s->next_pos, &s->pos);
            fetch_round(s);
            return;
        }
        memcpy(s->page[s->npage].id, c->pos.id, strlen(c->pos.id) + 1);
        s->page[s->npage].stale = c->stale;
        ++s->npage;
        last_accepted = (long)i;
    }
    if (s->ncands != 0) {
        pos_copy(&s->pos, &s->cands[s->ncands - 1].pos);
        s->pos_set = true;
    }
    if (s->exhausted && !s->ties_cut) {
        fetch_round(s);
        return;
    }
    if (s->npage == s->limit || s->scanned >= s->budget) {
        /* a bounded answer: the page (possibly short, even empty) and a cursor after what was examined */
        s->has_next = true;
        pos_copy(&s->next_pos, &s->pos);
        fetch_round(s);
        return;
    }
    range_round(s);
}

/* For each candidate: HMGET of its record's id and filter fields, HMGET of its version markers. */
static void check_round(cache_call_t *s)
{
    char key[WH_KEY_MAX];
    const char *argv[3 + CACHE_FILTERS_MAX];
    size_t argvlen[3 + CACHE_FILTERS_MAX], k = 0;

    if (s->ncands > s->batch) {
        /* the fallback walk of a number driver read ties and more: keep the batch, go on after it next time */
        for (size_t i = s->batch; i != s->ncands; ++i)
            pos_clear(&s->cands[i].pos);
        s->ncands = s->batch;
        s->exhausted = false;
    }
    step_begin(s, 2 * s->ncands, after_check);
    for (size_t i = 0; i != s->ncands && s->failure == WH_OK; ++i) {
        const char *id = s->cands[i].pos.id;
        argv[0] = "HMGET";
        argvlen[0] = 5;
        argv[1] = key;
        argvlen[1] = (size_t)wh_key_obj(key, s->call.id, s->type->name, id);
        argv[2] = "id";
        argvlen[2] = 2;
        for (size_t f = 0; f != s->nfilters; ++f) {
            argv[3 + f] = s->filters[f].field->field;
            argvlen[3 + f] = strlen(argv[3 + f]);
        }
        step_send(s, &k, i, WHAT_CHECK, 3 + (int)s->nfilters, argv, argvlen);
        argvlen[1] = (size_t)wh_key_ver(key, s->call.id, s->type->name, id);
        argv[2] = "_deleted";
        argv[3] = "_merged";
        argv[4] = "_stale";
        argvlen[2] = 8;
        argvlen[3] = 7;
        argvlen[4] = 6;
        step_send(s, &k, i, WHAT_CHECK_VER, 5, argv, argvlen);
    }
    step_end(s);
}

/* The number driver resumes by rank when its cursor record still holds the cursor's score, else by ties. */
static void number_resume(cache_call_t *s)
{
    const filter_t *f = &s->filters[s->driver];
    char key[WH_KEY_MAX], from[48], to[32], score[40], max[40], ties[16], batch[24];
    const char *argv[9];
    size_t argvlen[9], k = 0;

    wh_key_index_number(key, s->call.id, s->type->name, f->field->field);
    snprintf(batch, sizeof(batch), "%zu", s->batch);
    step_begin(s, 2, check_round);
    if (!isnan(s->zscore) && s->zscore == s->pos.score && s->zrank >= 0) {
        snprintf(from, sizeof(from), "%lld", s->zrank + 1);
        snprintf(to, sizeof(to), "%lld", s->zrank + (long long)s->batch);
        argv[0] = "ZRANGE";
        argv[1] = key;
        argv[2] = from;
        argv[3] = to;
        argv[4] = "WITHSCORES";
        for (int x = 0; x != 5; ++x)
            argvlen[x] = strlen(argv[x]);
        step_send(s, &k, 0, WHAT_RANGE, 5, argv, argvlen);
    } else {
        snprintf(score, sizeof(score), "%.17g", s->pos.score);
        snprintf(ties, sizeof(ties), "%d", CACHE_TIES_MAX);
        argv[0] = "ZRANGEBYSCORE";
        argv[1] = key;
        argv[2] = score;
        argv[3] = score;
        argv[4] = "WITHSCORES";
        argv[5] = "LIMIT";
        argv[6] = "0";
        argv[7] = ties;
        for (int x = 0; x != 8; ++x)
            argvlen[x] = strlen(argv[x]);
        step_send(s, &k, 0, WHAT_TIES, 8, argv, argvlen);
        snprintf(from, sizeof(from), "(%.17g", s->pos.score);
        number_bounds(f, score, max);
        argv[2] = from;
        argv[3] = max;
        argv[7] = batch;
        for (int x = 0; x != 8; ++x)
            argvlen[x] = strlen(argv[x]);
        step_send(s, &k, 0, WHAT_RANGE, 8, argv, argvlen);
    }
    step_end(s);
}

/* One round of candidates: the next batch of the driver's range after the position. */
static void range_round(cache_call_t *s)
{
    char key[WH_KEY_MAX], batch[24], lo[WH_API_QUERY_VALUE_MAX + 8], hi[WH_API_QUERY_VALUE_MAX + 8], *from = NULL;
    const char *argv[9];
    size_t argvlen[9], k = 0, want = s->limit - s->npage + 1, left = s->budget - s->scanned;
    const filter_t *f = s->driver >= 0 ? &s->filters[s->driver] : NULL;

    for (size_t i = 0; i != s->ncands; ++i)
        pos_clear(&s->cands[i].pos);
    s->ncands = 0;
    s->exhausted = false;
    s->ties_cut = false;
    if (s->nfilters > 1 && want < CACHE_AND_BATCH)
        want = CACHE_AND_BATCH;
    s->batch = want < left ? want : left;
    if (s->batch == 0)
        s->batch = 1;
    snprintf(batch, sizeof(batch), "%zu", s->batch);

    if (f != NULL && f->field->kind == WH_INDEX_NUMBER) {
        wh_key_index_number(key, s->call.id, s->type->name, f->field->field);
        if (s->pos_set) {
            /* where is the cursor's record now? */
            step_begin(s, 2, number_resume);
            argv[0] = "ZSCORE";
            argv[1] = key;
            argv[2] = s->pos.id;
            for (int x = 0; x != 3; ++x)
                argvlen[x] = strlen(argv[x]);
            step_send(s, &k, 0, WHAT_ZSCORE, 3, argv, argvlen);
            argv[0] = "ZRANK";
            argvlen[0] = 5;
            step_send(s, &k, 0, WHAT_ZRANK, 3, argv, argvlen);
            step_end(s);
            return;
        }
        number_bounds(f, lo, hi);
        argv[0] = "ZRANGEBYSCORE";
        argv[1] = key;
        argv[2] = lo;
        argv[3] = hi;
        argv[4] = "WITHSCORES";
        argv[5] = "LIMIT";
        argv[6] = "0";
        argv[7] = batch;
        for (int x = 0; x != 8; ++x)
            argvlen[x] = strlen(argv[x]);
        step_begin(s, 1, check_round);
        step_send(s, &k, 0, WHAT_RANGE, 8, argv, argvlen);
        step_end(s);
        return;
    }

    /* lexicographic: wh:ids (all), or the text index (members lower(value) "\0" id) */
    argv[0] = "ZRANGEBYLEX";
    argv[1] = key;
    if (f == NULL) {
        argvlen[1] = (size_t)wh_key_ids(key, s->call.id, s->type->name);
        argv[2] = "-";
        argvlen[2] = 1;
        argv[3] = "+";
        argvlen[3] = 1;
    } else {
        argvlen[1] = (size_t)wh_key_index_text(key, s->call.id, s->type->name, f->field->field);
        text_bounds(f, lo, &argvlen[2], hi, &argvlen[3]);
        argv[2] = lo;
        argv[3] = hi;
    }
    if (s->pos_set) {
        from = malloc(s->pos.member_len + 2);
        if (from == NULL)
            abort();
        /* a member cut to fit the cursor resumes inclusively (at or before it); a whole one after it */
        from[0] = s->pos.member_len >= CURSOR_PAYLOAD_MAX ? '[' : '(';
        memcpy(from + 1, s->pos.member, s->pos.member_len);
        argv[2] = from;
        argvlen[2] = s->pos.member_len + 1;
    }
    argv[4] = "LIMIT";
    argv[5] = "0";
    argv[6] = batch;
    for (int x = 4; x != 7; ++x)
        argvlen[x] = strlen(argv[x]);
    argvlen[0] = strlen(argv[0]);
    step_begin(s, 1, check_round);
    step_send(s, &k, 0, WHAT_RANGE, 7, argv, argvlen);
    free(from);
    step_end(s);
}

/* ---- several filters: the driver is the one with the fewest index entries ---- */

static void on_count(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    slot_t *slot = data;

    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        slot->s->counts[slot->index] = reply->integer;
    settle(slot->s, err, reply);
}

static void after_count(cache_call_t *s)
{
    s->driver = 0;
    for (size_t i = 1; i != s->nfilters; ++i)
        if (s->counts[i] < s->counts[s->driver])
            s->driver = (int)i;
    range_round(s);
}

static void count_round(cache_call_t *s)
{
    char key[WH_KEY_MAX], lo[WH_API_QUERY_VALUE_MAX + 8], hi[WH_API_QUERY_VALUE_MAX + 8];
    const char *argv[4];
    size_t argvlen[4];

    step_begin(s, s->nfilters, after_count);
    for (size_t i = 0; i != s->nfilters && s->failure == WH_OK; ++i) {
        const filter_t *f = &s->filters[i];
        slot_t *slot = &s->slots[i];
        s->counts[i] = 0;
        argv[1] = key;
        if (f->field->kind == WH_INDEX_NUMBER) {
            argv[0] = "ZCOUNT";
            argvlen[1] = (size_t)wh_key_index_number(key, s->call.id, s->type->name, f->field->field);
            number_bounds(f, lo, hi);
            argvlen[2] = strlen(lo);
            argvlen[3] = strlen(hi);
        } else {
            argv[0] = "ZLEXCOUNT";
            argvlen[1] = (size_t)wh_key_index_text(key, s->call.id, s->type->name, f->field->field);
            text_bounds(f, lo, &argvlen[2], hi, &argvlen[3]);
        }
        argv[2] = lo;
        argv[3] = hi;
        argvlen[0] = strlen(argv[0]);
        *slot = (slot_t){s, i, 0};
        ++s->outstanding;
        if (wh_redis_command(s->call.redis, on_count, slot, 4, argv, argvlen) != WH_OK) {
            --s->outstanding;
            s->failure = WH_EUNAVAILABLE;
        }
    }
    step_end(s);
}

/* ---- the connection ---- */

static bool synced(const json_t *objects, const char *plural)
{
    return json_is_true(json_object_get(objects, plural));
}

static void on_conn(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    cache_call_t *s = data;
    wh_str_t env = WH_STR_NULL, sync = WH_STR_NULL, state = WH_STR_NULL;
    json_t *config, *objects;
    char message[256];

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        wh_api__reply_internal(&s->call, "HGETALL: unexpected reply");
        return;
    }
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        wh_str_t name, value;
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        name = wh_str(f->str, (size_t)f->len);
        value = wh_str(v->str, (size_t)v->len);
        if (wh_str_eq(name, WH_STRLIT("env")))
            env = value;
        else if (wh_str_eq(name, WH_STRLIT("sync")))
            sync = value;
        else if (wh_str_eq(name, WH_STRLIT("syncState")))
            state = value;
    }
    /* Another environment's connection is answered exactly like a missing one. */
    if (env.base == NULL || !wh_str_eq(env, wh_str_c(s->call.env))) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such connection");
        return;
    }
    s->sync_state = state.base != NULL ? json_stringn(state.base, state.len) : NULL;
    if (s->sync_state == NULL)
        s->sync_state = json_null();
    config = sync.base != NULL ? json_loadb(sync.base, sync.len, 0, NULL) : NULL;
    objects = json_object_get(config, "objects");
    if (!synced(objects, s->type->plural)) {
        json_decref(config);
        snprintf(message, sizeof(message), "%s is not in this connection's sync config (sync.objects.%s)", s->type->plural,
                 s->type->plural);
        reply_cache_error(s, 400, "object_not_synced", message, NULL);
        return;
    }
    for (size_t i = 0; i != wh_associations_count && s->nassocs != CACHE_ASSOCS_MAX; ++i) {
        const wh_association_t *a = &wh_associations[i];
        const wh_object_type_t *child = wh_object_type_find(wh_str_c(a->child_type));
        if (strcmp(a->parent_type, s->type->name) == 0 && child != NULL && synced(objects, child->plural))
            s->assocs[s->nassocs++] = a;
    }
    json_decref(config);

    if (s->object_id[0] != '\0') {
        s->npage = 1;
        memcpy(s->page[0].id, s->object_id, strlen(s->object_id) + 1);
        fetch_round(s);
    } else if (s->nfilters > 1 && !s->pos_set) {
        count_round(s);
    } else {
        range_round(s);
    }
}

/* ---- start ---- */

/* The path's segments after "/v1/cache/": connection, type, and (get) object id, raw. */
static size_t path_segments(h2o_req_t *req, wh_str_t *seg, size_t max)
{
    wh_str_t p = wh_str(req->path.base, req->path.len);
    const char *q = p.len != 0 ? memchr(p.base, '?', p.len) : NULL;
    size_t n = 0, at = 0;

    if (q != NULL)
        p.len = (size_t)(q - p.base);
    if (p.len != 0 && p.base[p.len - 1] == '/')
        --p.len;
    if (p.len < 10 || memcmp(p.base, "/v1/cache/", 10) != 0)
        return 0;
    at = 10;
    while (at <= p.len && n != max) {
        const char *slash = memchr(p.base + at, '/', p.len - at);
        size_t end = slash != NULL ? (size_t)(slash - p.base) : p.len;
        seg[n++] = wh_str(p.base + at, end - at);
        at = end + 1;
    }
    return n;
}

static bool type_of(cache_call_t *s, wh_str_t raw, char *errbuf)
{
    char name[WH_MAX_OBJECT_TYPE_LEN + 1];

    if (!segment_decode(raw, name, sizeof(name)) || (s->type = wh_object_type_find(wh_str_c(name))) == NULL) {
        wh_errf(errbuf, WH_EINVAL,
                "objectType: not a cached object type (contact, account, deal, lead, task, note, user, event, call, email)");
        return false;
    }
    return true;
}

/* "field:op:value" (the value may hold ':'). */
static bool filter_parse(cache_call_t *s, const char *text, filter_t *f, char *errbuf)
{
    const char *c1 = strchr(text, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL, *value;
    wh_str_t field, op;

    if (c1 == NULL || c2 == NULL || c1 == text) {
        wh_errf(errbuf, WH_EINVAL, "filter: must be field:operator:value (lastName:startsWith:Smi)");
        return false;
    }
    field = wh_str(text, (size_t)(c1 - text));
    op = wh_str(c1 + 1, (size_t)(c2 - c1 - 1));
    value = c2 + 1;
    f->field = wh_index_field_find(s->type, field);
    if (f->field == NULL) {
        char list[256];
        size_t n = 0;
        for (size_t i = 0; i != WH_MAX_INDEXED_FIELDS && s->type->indexed[i].field != NULL; ++i) {
            int w = snprintf(list + n, sizeof(list) - n, "%s%s", i != 0 ? ", " : "", s->type->indexed[i].field);
            if (w < 0 || (size_t)w >= sizeof(list) - n)
                break;
            n += (size_t)w;
        }
        list[n] = '\0';
        wh_errf(errbuf, WH_EINVAL, "filter: %.*s is not an indexed field of %s (indexed: %s)",
                (int)(field.len > 64 ? 64 : field.len), field.base, s->type->name, list);
        return false;
    }
    if (wh_str_eq(op, WH_STRLIT("eq")))
        f->op = OP_EQ;
    else if (wh_str_eq(op, WH_STRLIT("startsWith")) && f->field->kind == WH_INDEX_TEXT)
        f->op = OP_STARTS_WITH;
    else if (wh_str_eq(op, WH_STRLIT("gt")) && f->field->kind == WH_INDEX_NUMBER)
        f->op = OP_GT;
    else if (wh_str_eq(op, WH_STRLIT("lt")) && f->field->kind == WH_INDEX_NUMBER)
        f->op = OP_LT;
    else {
        wh_errf(errbuf, WH_EINVAL, "filter: operator %.*s does not apply to %s (%s)", (int)(op.len > 32 ? 32 : op.len), op.base,
                f->field->field, f->field->kind == WH_INDEX_TEXT ? "text: eq, startsWith" : "number or date: eq, gt, lt");
        return false;
    }
    if (f->field->kind == WH_INDEX_NUMBER) {
        if (!parse_number(value, &f->number)) {
            wh_errf(errbuf, WH_EINVAL, "filter: %s %s needs a number, an ISO 8601 date (2024-12-01) or date-time", f->field->field,
                    op_name(f->op));
            return false;
        }
    } else {
        f->text_len = strlen(value);
        memcpy(f->text, value, f->text_len + 1);
        ascii_lower(f->text, f->text_len);
    }
    return true;
}

static bool cache_start(cache_call_t *s, bool get, char *errbuf)
{
    static const char *const none[] = {NULL};
    static const char *const names[] = {"limit", "cursor", NULL};
    wh_api_query_value_t q[2], filters[CACHE_FILTERS_MAX];
    wh_str_t seg[4];
    size_t nseg = path_segments(s->call.pending.req, seg, 4);
    long long limit = CACHE_LIMIT_DEFAULT;

    s->driver = -1;
    if (nseg != (get ? 3u : 2u)) {
        wh_errf(errbuf, WH_EINVAL, "path: /v1/cache/{connectionId}/{objectType}[/{objectId}]");
        return false;
    }
    if (!type_of(s, seg[1], errbuf))
        return false;
    if (get) {
        if (!segment_decode(seg[2], s->object_id, sizeof(s->object_id))) {
            wh_errf(errbuf, WH_EINVAL, "objectId: 1 to %d printable ASCII characters", WH_MAX_ID_LEN);
            return false;
        }
        return wh_api__query(&s->call, none, NULL, errbuf);
    }
    if (!wh_api__query_repeat(&s->call, names, q, "filter", filters, CACHE_FILTERS_MAX, &s->nfilters, errbuf))
        return false;
    if (q[0].present && (!wh_str_to_i64(wh_str_c(q[0].value), &limit) || limit < 1 || limit > CACHE_LIMIT_MAX)) {
        wh_errf(errbuf, WH_EINVAL, "limit: must be an integer from 1 to %d", CACHE_LIMIT_MAX);
        return false;
    }
    for (size_t i = 0; i != s->nfilters; ++i)
        if (!filter_parse(s, filters[i].value, &s->filters[i], errbuf))
            return false;
    s->limit = (size_t)limit;
    s->budget = CACHE_SCAN_FACTOR * s->limit > CACHE_SCAN_MIN ? CACHE_SCAN_FACTOR * s->limit : CACHE_SCAN_MIN;
    if (s->nfilters == 1)
        s->driver = 0;
    if (q[1].present && !cursor_parse(s, q[1].value)) {
        wh_errf(errbuf, WH_EINVAL, "cursor: not a cursor this listing returned (nextCursor, with the same filters)");
        return false;
    }
    return true;
}

static void start(wh_api_call_t *call, bool get)
{
    cache_call_t *s = (cache_call_t *)call;
    char errbuf[WH_ERRBUF_SIZE], key[WH_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};
    size_t argvlen[2] = {7, 0};

    if (!cache_start(s, get, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    s->page = calloc(get ? 1 : s->limit, sizeof(*s->page));
    if (s->page == NULL)
        abort();
    argvlen[1] = (size_t)wh_key_conn(key, call->id);
    wh_api__command(call, on_conn, 2, argv, argvlen);
}

static void get_start(wh_api_call_t *call)
{
    start(call, true);
}

static void list_start(wh_api_call_t *call)
{
    start(call, false);
}

static void cache_dispose(wh_api_call_t *call)
{
    cache_call_t *s = (cache_call_t *)call;

    for (size_t i = 0; i != s->ncands; ++i)
        pos_clear(&s->cands[i].pos);
    free(s->cands);
    for (size_t i = 0; s->page != NULL && i != s->npage; ++i)
        json_decref(s->page[i].rec);
    free(s->page);
    free(s->slots);
    pos_clear(&s->pos);
    pos_clear(&s->next_pos);
    json_decref(s->sync_state);
    json_decref(s->merged_into);
}

const wh_api_op_t wh_api__cache_get = {get_start, cache_dispose, sizeof(cache_call_t), false};
const wh_api_op_t wh_api__cache_list = {list_start, cache_dispose, sizeof(cache_call_t), false};
