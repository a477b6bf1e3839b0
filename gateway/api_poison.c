/*
 * GET /v1/poison (admin token): the stream entries no worker could ever read (malformed or unreadable envelopes),
 * which the worker kept aside, raw, in wh:poison:{pN} (queue/scripts/settle.lua, at most WH_MAX_POISON_KEPT per
 * partition) before acknowledging them. Newest first, `limit` (1-100, default 20) over all partitions:
 * {"entries": [{"partition", "id", "entryId", "keptAt", "fields": {name: base64 of the raw value}}]}.
 * They belong to no environment an API token could prove, so only the admin sees them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/time.h"
#include "../queue/keys.h"
#include "api.h"

#define POISON_DEFAULT 20
#define POISON_MAX 100

typedef struct {
    wh_api_call_t call;
    unsigned outstanding;
    wh_err_t failure;
    long limit;
    json_t *entries; /* owned: every partition's newest entries, merged and cut at the end */
} poison_call_t;

typedef struct {
    poison_call_t *s;
    unsigned part;
} poison_slot_t;

/* Stream ids "<ms>-<seq>" compared as numbers: newest first. */
static int newest_first(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    char *end;
    unsigned long long xm = strtoull(x, &end, 10), xs = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    unsigned long long ym = strtoull(y, &end, 10), ys = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;

    return xm != ym ? (xm < ym ? 1 : -1) : xs != ys ? (xs < ys ? 1 : -1) : 0;
}

static void answer(poison_call_t *s)
{
    size_t n = json_array_size(s->entries);
    json_t **items = calloc(n + 1, sizeof(*items)), *out = json_array();

    if (items == NULL)
        abort();
    for (size_t i = 0; i != n; ++i)
        items[i] = json_array_get(s->entries, i);
    qsort(items, n, sizeof(*items), newest_first);
    for (size_t i = 0; i != n && (long)i < s->limit; ++i)
        json_array_append(out, items[i]);
    free(items);
    wh_api__reply_json(&s->call, 200, json_pack("{s:o}", "entries", out));
}

/* One partition's XREVRANGE: [[id, [field, value, …]], …]; the kept fields are "entry", "at", then the raw ones. */
static void on_range(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    poison_slot_t *slot = data;
    poison_call_t *s = slot->s;

    (void)r;
    if (err != WH_OK && s->failure == WH_OK)
        s->failure = err;
    for (size_t i = 0; err == WH_OK && reply->type == REDIS_REPLY_ARRAY && i != reply->elements; ++i) {
        const redisReply *e = reply->element[i], *fv;
        json_t *item, *fields;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            (fv = e->element[1])->type != REDIS_REPLY_ARRAY)
            continue;
        item = json_pack("{s:i, s:s%}", "partition", (int)slot->part, "id", e->element[0]->str, (size_t)e->element[0]->len);
        fields = json_object();
        for (size_t k = 0; k + 1 < fv->elements; k += 2) {
            const redisReply *f = fv->element[k], *v = fv->element[k + 1];
            char name[64];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (f->len == 5 && memcmp(f->str, "entry", 5) == 0) {
                json_object_set_new(item, "entryId", json_stringn_nocheck(v->str, (size_t)v->len));
            } else if (f->len == 2 && memcmp(f->str, "at", 2) == 0) {
                long long at = 0;
                char iso[WH_ISO8601_LEN];
                if (wh_str_to_i64(wh_str(v->str, (size_t)v->len), &at)) {
                    wh_iso8601(at, iso);
                    json_object_set_new(item, "keptAt", json_string(iso));
                }
            } else if ((size_t)f->len < sizeof(name) && (size_t)v->len <= WH_MAX_ENTRY_BYTES) {
                char *b64 = malloc(4 * (((size_t)v->len + 2) / 3) + 1);
                if (b64 == NULL)
                    abort();
                wh_base64_encode((const uint8_t *)v->str, (size_t)v->len, b64);
                memcpy(name, f->str, (size_t)f->len);
                name[f->len] = '\0';
                json_object_set_new(fields, name, json_string(b64)); /* NULL (not UTF-8) names are left out */
                free(b64);
            }
        }
        json_object_set_new(item, "fields", fields);
        json_array_append_new(s->entries, item);
    }
    free(slot);
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
    answer(s);
}

static void poison_start(wh_api_call_t *call)
{
    static const char *const names[] = {"limit", NULL};
    poison_call_t *s = (poison_call_t *)call;
    wh_api_query_value_t q[1];
    char errbuf[WH_ERRBUF_SIZE], count[16], key[WH_KEY_MAX];
    long long limit = POISON_DEFAULT;

    if (!wh_api__query(call, names, q, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    if (q[0].present && (!wh_str_to_i64(wh_str_c(q[0].value), &limit) || limit < 1 || limit > POISON_MAX)) {
        wh_api__reply_error(call, 400, "invalid_request", "limit: must be an integer from 1 to %d", POISON_MAX);
        return;
    }
    s->limit = (long)limit;
    s->entries = json_array();
    snprintf(count, sizeof(count), "%lld", limit);
    s->outstanding = wh_partitions();
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        poison_slot_t *slot = malloc(sizeof(*slot));
        const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", count};
        if (slot == NULL)
            abort();
        slot->s = s;
        slot->part = p;
        wh_key_poison(key, p);
        if (wh_redis_command(call->redis, on_range, slot, 6, argv, NULL) != WH_OK) {
            /* no callback for this one nor the ones after it: settle them here */
            free(slot);
            s->failure = WH_EUNAVAILABLE;
            s->outstanding -= wh_partitions() - p;
            if (s->outstanding == 0)
                wh_api__reply_redis_error(call, WH_EUNAVAILABLE, NULL);
            return;
        }
    }
}

static void poison_dispose(wh_api_call_t *call)
{
    json_decref(((poison_call_t *)call)->entries);
}

const wh_api_op_t wh_api__poison_list = {poison_start, poison_dispose, sizeof(poison_call_t), false};
