#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/time.h"
#include "append.h"
#include "keys.h"

#define DEDUPE_TTL_S (2 * 86400 + 3600) /* two day-buckets are read, so keep each ~49 h */
#define MAX_ITEMS_PER_CALL 64           /* one script call blocks Redis: keep each short */
#define MAX_EVENTS_PER_CALL 1000        /* the script unpacks every dedupe key at once: Lua's stack bounds it */
#define MAX_BYTES_PER_CALL (4 << 20)

typedef struct item {
    struct item *next;
    wh_append_cb cb;
    void *data;
    char conn_id[WH_MAX_ID_LEN + 1];
    size_t n;
    char (*keys)[2 * WH_DEDUPE_KEY_LEN + 1];
    size_t *offs;
    char *packed;
} item_t;

typedef struct {
    item_t *head, **tail;
    size_t count, bytes;
} queue_t;

struct wh_appender {
    uv_loop_t *loop;
    wh_redis_t *redis;
    uv_check_t flush;
    queue_t parts[WH_PARTITIONS];
};

typedef struct {
    item_t *items;
    size_t count;
} call_t;

static void item_free(item_t *it)
{
    free(it);
}

static void fail_items(item_t *it, wh_err_t err)
{
    while (it != NULL) {
        item_t *next = it->next;
        it->cb(0, 0, err, it->data);
        item_free(it);
        it = next;
    }
}

static void on_reply(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    call_t *call = data;
    item_t *it = call->items;
    bool ok = err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == call->count;

    for (size_t i = 0; it != NULL; ++i) {
        item_t *next = it->next;
        redisReply *res = ok ? reply->element[i] : NULL;
        if (res != NULL && res->type == REDIS_REPLY_ARRAY && res->elements == 3 && res->element[0]->type == REDIS_REPLY_INTEGER)
            it->cb((size_t)res->element[0]->integer, (size_t)res->element[1]->integer, WH_OK, it->data);
        else
            it->cb(0, 0, WH_EUNAVAILABLE, it->data);
        item_free(it);
        it = next;
    }
    free(call);
}

/* One script call for `count` items taken from the front of `items`. */
static void send_call(wh_appender_t *a, unsigned part, item_t *items, size_t count)
{
    char stream[WH_KEY_MAX], today[WH_KEY_MAX], before[WH_KEY_MAX], ttl[16], nreq[16];
    char(*nbufs)[16];
    char(*offbufs)[(WH_MAX_BATCH + 1) * 9];
    size_t argc = 0, cap = 5;
    const char **argv;
    size_t *argvlen;
    long long day = wh_now_ms() / 86400000;
    call_t *call;
    item_t *it;
    size_t k;

    for (it = items; it != NULL; it = it->next)
        cap += 4 + it->n;
    argv = malloc(cap * sizeof(*argv));
    argvlen = malloc(cap * sizeof(*argvlen));
    nbufs = malloc(count * sizeof(*nbufs));
    offbufs = malloc(count * sizeof(*offbufs));
    call = malloc(sizeof(*call));
    if (argv == NULL || argvlen == NULL || nbufs == NULL || offbufs == NULL || call == NULL)
        abort();
    wh_key_stream(stream, part);
    wh_key_dedupe(today, part, day);
    wh_key_dedupe(before, part, day - 1);
    snprintf(ttl, sizeof(ttl), "%d", DEDUPE_TTL_S);
    snprintf(nreq, sizeof(nreq), "%zu", count);
#define ARG(s, l) (argv[argc] = (s), argvlen[argc++] = (l))
    ARG(stream, strlen(stream));
    ARG(today, strlen(today));
    ARG(before, strlen(before));
    ARG(ttl, strlen(ttl));
    ARG(nreq, strlen(nreq));
    for (it = items, k = 0; it != NULL; it = it->next, ++k) {
        snprintf(nbufs[k], sizeof(nbufs[k]), "%zu", it->n);
        ARG(it->conn_id, strlen(it->conn_id));
        ARG(nbufs[k], strlen(nbufs[k]));
        size_t olen = 0;
        for (size_t i = 0; i != it->n; ++i)
            ARG(it->keys[i], 2 * WH_DEDUPE_KEY_LEN);
        /* the entry as stored: the array header, then the envelopes back to back */
        ARG(it->packed, it->offs[it->n]);
        for (size_t i = 0; i <= it->n; ++i)
            olen += (size_t)snprintf(offbufs[k] + olen, sizeof(offbufs[k]) - olen, i == 0 ? "%zu" : ",%zu", it->offs[i]);
        ARG(offbufs[k], olen);
    }
#undef ARG
    call->items = items;
    call->count = count;
    /* hiredis copies the arguments into its output buffer before returning */
    if (wh_redis_script(a->redis, &wh_script_ingest, on_reply, call, 3, (int)argc, argv, argvlen) != WH_OK) {
        fail_items(items, WH_EUNAVAILABLE);
        free(call);
    }
    free(argv);
    free(argvlen);
    free(nbufs);
    free(offbufs);
}

static void on_flush(uv_check_t *check)
{
    wh_appender_t *a = check->data;

    uv_check_stop(check);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        queue_t *q = &a->parts[p];
        while (q->head != NULL) {
            item_t *first = q->head, *last = first;
            size_t count = 1, bytes = last->offs[last->n];
            while (last->next != NULL && count < MAX_ITEMS_PER_CALL &&
                   bytes + last->next->offs[last->next->n] <= MAX_BYTES_PER_CALL) {
                last = last->next;
                bytes += last->offs[last->n];
                ++count;
            }
            q->head = last->next;
            last->next = NULL;
            send_call(a, p, first, count);
        }
        q->tail = &q->head;
        q->count = q->bytes = 0;
    }
}

wh_appender_t *wh_appender_new(uv_loop_t *loop, wh_redis_t *redis)
{
    wh_appender_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    a->loop = loop;
    a->redis = redis;
    uv_check_init(loop, &a->flush);
    a->flush.data = a;
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        a->parts[p].tail = &a->parts[p].head;
    return a;
}

wh_err_t wh_append(wh_appender_t *a, const char *conn_id, size_t n, const uint8_t (*dedupe_keys)[WH_DEDUPE_KEY_LEN],
                   const char *packed, const size_t *offs, wh_append_cb cb, void *data)
{
    size_t idlen = strlen(conn_id), bytes = offs[n];
    unsigned part;
    item_t *it;

    if (n == 0 || n > WH_MAX_BATCH || idlen > WH_MAX_ID_LEN || bytes > WH_MAX_ENTRY_BYTES)
        return WH_EINVAL;
    if (!wh_redis_ready(a->redis))
        return WH_EUNAVAILABLE;
    /* one allocation: the item, then its offsets (size_t-aligned right after the struct), keys and bytes */
    it = malloc(sizeof(*it) + (n + 1) * sizeof(*it->offs) + n * sizeof(*it->keys) + bytes);
    if (it == NULL)
        abort();
    it->next = NULL;
    it->cb = cb;
    it->data = data;
    memcpy(it->conn_id, conn_id, idlen + 1);
    it->n = n;
    it->offs = (size_t *)(it + 1);
    it->keys = (void *)(it->offs + n + 1);
    it->packed = (char *)(it->keys + n);
    for (size_t i = 0; i != n; ++i)
        wh_hex_encode(dedupe_keys[i], WH_DEDUPE_KEY_LEN, it->keys[i]);
    memcpy(it->offs, offs, (n + 1) * sizeof(*offs));
    memcpy(it->packed, packed, bytes);
    part = wh_partition_of(conn_id);
    *a->parts[part].tail = it;
    a->parts[part].tail = &it->next;
    ++a->parts[part].count;
    a->parts[part].bytes += bytes;
    if (!uv_is_active((uv_handle_t *)&a->flush))
        uv_check_start(&a->flush, on_flush);
    return WH_OK;
}
