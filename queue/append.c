#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/time.h"
#include "append.h"
#include "keys.h"

#define DEDUPE_TTL_S (2 * 86400 + 3600) /* two day-buckets are read, so keep each ~49 h */
#define MAX_ITEMS_PER_CALL 64           /* one script call blocks Redis: keep each short */
#define MAX_EVENTS_PER_CALL 1000        /* the script unpacks every dedupe key at once: Lua's stack bounds it */
#define MAX_BYTES_PER_CALL (4 << 20)
#define WAIT_TIMEOUT_MS 1000 /* WAIT n 1000: longer and the provider's own timeout comes first */
#define RUN_ID_LEN 40

typedef struct item {
    struct item *next;
    wh_append_cb cb;
    void *data;
    uint64_t epoch;            /* the appender's epoch when appended: a later WAIT confirms it only in the same epoch */
    size_t queued, duplicates; /* the script's result, held until a WAIT confirms it */
    char conn_id[WH_MAX_ID_LEN + 1];
    size_t n;
    uint8_t (*keys)[WH_DEDUPE_MEMBER_LEN]; /* wh_dedupe_member */
    size_t *offs;
    char *packed;
} item_t;

typedef struct {
    item_t *head, **tail;
    size_t count, bytes;
} queue_t;

/* A list of items in order. */
typedef struct {
    item_t *head, **tail;
} list_t;

struct wh_appender {
    uv_loop_t *loop;
    wh_redis_t *redis;  /* ingest writes */
    wh_redis_t *waiter; /* marker + WAIT only; NULL without replicas to wait for */
    unsigned replicas;
    uv_check_t flush;
    queue_t parts[WH_MAX_PARTITIONS];
    char run_id[2][RUN_ID_LEN + 1]; /* the server of redis [0] and waiter [1]; "" until INFO answered */
    uint64_t epoch;                 /* bumped whenever either connection becomes ready (a new connection) */
    list_t written;                 /* items of finished flushes the primary took, for the next WAIT */
    bool waiting;                   /* a WAIT is in flight */
};

/* One loop turn's flush while its script calls are out (only with replicas to wait for). */
typedef struct {
    unsigned calls; /* script calls not yet answered */
    list_t written; /* items the primary took */
} flush_t;

typedef struct {
    wh_appender_t *a;
    flush_t *flush; /* NULL without replicas to wait for */
    item_t *items;
    size_t count;
} call_t;

/* One WAIT and the marker write before it, for the items of one or more finished flushes. */
typedef struct {
    wh_appender_t *a;
    item_t *items;
    size_t count;
    bool marked;   /* the marker write succeeded: the WAIT's offset is past every item's writes */
    unsigned refs; /* replies still awaited: marker, WAIT */
} wait_t;

static void list_init(list_t *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void list_push(list_t *l, item_t *it)
{
    it->next = NULL;
    *l->tail = it;
    l->tail = &it->next;
}

static void list_concat(list_t *to, list_t *from)
{
    if (from->head == NULL)
        return;
    *to->tail = from->head;
    to->tail = from->tail;
    list_init(from);
}

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

static void start_wait(wh_appender_t *a);

static void on_marked(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wait_t *w = data;

    (void)r;
    (void)reply;
    w->marked = err == WH_OK;
    if (--w->refs == 0)
        free(w); /* the WAIT was never sent: its items are answered already */
}

static void on_waited(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wait_t *w = data;
    wh_appender_t *a = w->a;
    long long got = err == WH_OK && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    bool ok = w->marked && got >= (long long)a->replicas;

    (void)r;
    if (!ok)
        wh_log_warn("ingest_wait_replicas_failed", "{s:I, s:I, s:b}", "got", (json_int_t)got, "requests", (json_int_t)w->count,
                    "marked", w->marked);
    for (item_t *it = w->items, *next; it != NULL; it = next) {
        next = it->next;
        it->cb(ok ? it->queued : 0, ok ? it->duplicates : 0, ok ? WH_OK : WH_EUNAVAILABLE, it->data);
        item_free(it);
    }
    if (--w->refs == 0)
        free(w);
    a->waiting = false;
    start_wait(a);
}

/* True when both connections are ready and talk to the same server. */
static bool same_server(const wh_appender_t *a)
{
    return wh_redis_ready(a->redis) && wh_redis_ready(a->waiter) && a->run_id[0][0] != '\0' &&
           strcmp(a->run_id[0], a->run_id[1]) == 0;
}

/*
 * Sends one marker write and one WAIT on the wait connection for every item of the finished flushes, unless a
 * WAIT is in flight (its reply starts the next). The marker is what makes the WAIT cover the items: Redis
 * remembers, per connection, the replication offset after its last write, and WAIT waits for that offset. The
 * items' scripts have replied, so their writes precede the marker in the one replication stream.
 */
static void start_wait(wh_appender_t *a)
{
    const char *incr[] = {"INCR", NULL};
    char key[WH_KEY_MAX], n[16], timeout[16];
    const char *argv[] = {"WAIT", n, timeout};
    list_t go, stale;
    wait_t *w;

    if (a->waiting || a->written.head == NULL)
        return;
    list_init(&go);
    list_init(&stale);
    for (item_t *it = a->written.head, *next; it != NULL; it = next) {
        next = it->next;
        /* written before a reconnect: perhaps to a server the wait connection does not reach */
        list_push(it->epoch == a->epoch && same_server(a) ? &go : &stale, it);
    }
    list_init(&a->written);
    fail_items(stale.head, WH_EUNAVAILABLE);
    if (go.head == NULL)
        return;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->a = a;
    w->items = go.head;
    for (item_t *it = go.head; it != NULL; it = it->next)
        ++w->count;
    wh_key_wait_mark(key);
    incr[1] = key;
    snprintf(n, sizeof(n), "%u", a->replicas);
    snprintf(timeout, sizeof(timeout), "%d", WAIT_TIMEOUT_MS);
    if (wh_redis_command(a->waiter, on_marked, w, 2, incr, NULL) != WH_OK) {
        fail_items(go.head, WH_EUNAVAILABLE);
        free(w);
        return;
    }
    w->refs = 1;
    if (wh_redis_command_blocking(a->waiter, WAIT_TIMEOUT_MS, on_waited, w, 3, argv, NULL) != WH_OK) {
        fail_items(go.head, WH_EUNAVAILABLE);
        w->items = NULL; /* on_marked frees w */
        return;
    }
    w->refs = 2;
    a->waiting = true;
}

static void on_reply(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    call_t *call = data;
    flush_t *flush = call->flush;
    item_t *it = call->items;
    bool ok = err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == call->count;

    (void)r;
    for (size_t i = 0; it != NULL; ++i) {
        item_t *next = it->next;
        redisReply *res = ok ? reply->element[i] : NULL;
        if (res != NULL && res->type == REDIS_REPLY_ARRAY && res->elements == 3 && res->element[0]->type == REDIS_REPLY_INTEGER) {
            if (flush != NULL) {
                /* in the primary: answered once the flush's WAIT confirms it */
                it->queued = (size_t)res->element[0]->integer;
                it->duplicates = (size_t)res->element[1]->integer;
                list_push(&flush->written, it);
                it = next;
                continue;
            }
            it->cb((size_t)res->element[0]->integer, (size_t)res->element[1]->integer, WH_OK, it->data);
        } else {
            it->cb(0, 0, WH_EUNAVAILABLE, it->data);
        }
        item_free(it);
        it = next;
    }
    if (flush != NULL && --flush->calls == 0) {
        wh_appender_t *a = call->a;
        list_concat(&a->written, &flush->written);
        free(flush);
        start_wait(a);
    }
    free(call);
}

/* One script call for `count` items taken from the front of `items`. False when it was not sent (items answered). */
static bool send_call(wh_appender_t *a, flush_t *flush, unsigned part, item_t *items, size_t count)
{
    char stream[WH_KEY_MAX], today[WH_KEY_MAX], before[WH_KEY_MAX], ttl[16], nreq[16];
    char(*nbufs)[16];
    char(*offbufs)[(WH_MAX_BATCH + 1) * 9];
    bool sent = true;
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
            ARG((const char *)it->keys[i], WH_DEDUPE_MEMBER_LEN);
        /* the entry as stored: the array header, then the envelopes back to back */
        ARG(it->packed, it->offs[it->n]);
        for (size_t i = 0; i <= it->n; ++i)
            olen += (size_t)snprintf(offbufs[k] + olen, sizeof(offbufs[k]) - olen, i == 0 ? "%zu" : ",%zu", it->offs[i]);
        ARG(offbufs[k], olen);
    }
#undef ARG
    call->a = a;
    call->flush = flush;
    call->items = items;
    call->count = count;
    /* hiredis copies the arguments into its output buffer before returning */
    if (wh_redis_script(a->redis, &wh_script_ingest, on_reply, call, 3, (int)argc, argv, argvlen) != WH_OK) {
        fail_items(items, WH_EUNAVAILABLE);
        free(call);
        sent = false;
    }
    free(argv);
    free(argvlen);
    free(nbufs);
    free(offbufs);
    return sent;
}

static void on_flush(uv_check_t *check)
{
    wh_appender_t *a = check->data;
    flush_t *flush = NULL;

    uv_check_stop(check);
    if (a->waiter != NULL) {
        /* replies never come back during this function: the count only grows until it returns */
        flush = calloc(1, sizeof(*flush));
        if (flush == NULL)
            abort();
        list_init(&flush->written);
    }
    for (unsigned p = 0; p != wh_partitions(); ++p) {
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
            if (send_call(a, flush, p, first, count) && flush != NULL)
                ++flush->calls;
        }
        q->tail = &q->head;
        q->count = q->bytes = 0;
    }
    if (flush != NULL && flush->calls == 0)
        free(flush); /* nothing went out */
}

/* `INFO server`'s run_id of the connection that just became ready. */
static void on_info(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_appender_t *a = data;
    char *id = a->run_id[r == a->redis ? 0 : 1];
    const char *p = err == WH_OK && reply->type == REDIS_REPLY_STRING ? strstr(reply->str, "run_id:") : NULL;

    if (p == NULL || strspn(p + 7, "0123456789abcdef") != RUN_ID_LEN) {
        /* without it the two connections cannot be known to share a server: writes are refused */
        wh_log_error("redis_run_id_unknown", "{s:s}", "error", err == WH_OK ? "no run_id in INFO server" : wh_err_name(err));
        return;
    }
    memcpy(id, p + 7, RUN_ID_LEN);
    id[RUN_ID_LEN] = '\0';
}

/* A connection (re)connected: until its server is known, writes that would need its WAIT are refused. */
static void on_ready(wh_redis_t *r, void *data)
{
    wh_appender_t *a = data;
    const char *argv[] = {"INFO", "server"};

    a->run_id[r == a->redis ? 0 : 1][0] = '\0';
    ++a->epoch;
    if (wh_redis_command(r, on_info, a, 2, argv, NULL) != WH_OK)
        wh_log_error("redis_run_id_unknown", "{s:s}", "error", "INFO server not sent");
}

wh_appender_t *wh_appender_new(uv_loop_t *loop, wh_redis_t *redis, wh_redis_t *waiter, unsigned replicas)
{
    wh_appender_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    a->loop = loop;
    a->redis = redis;
    a->waiter = replicas > 0 ? waiter : NULL;
    a->replicas = replicas;
    list_init(&a->written);
    if (a->waiter != NULL) {
        wh_redis_on_ready(redis, on_ready, a);
        wh_redis_on_ready(waiter, on_ready, a);
    }
    uv_check_init(loop, &a->flush);
    a->flush.data = a;
    for (unsigned p = 0; p != wh_partitions(); ++p)
        a->parts[p].tail = &a->parts[p].head;
    return a;
}

bool wh_appender_ready(const wh_appender_t *a)
{
    return a->waiter != NULL ? same_server(a) : wh_redis_ready(a->redis);
}

void wh_dedupe_member(const char *conn_id, const uint8_t key[WH_DEDUPE_KEY_LEN], uint8_t out[WH_DEDUPE_MEMBER_LEN])
{
    const wh_str_t parts[] = {wh_str_c(conn_id), wh_str("", 1), wh_str((const char *)key, WH_DEDUPE_KEY_LEN)};
    uint8_t digest[WH_SHA256_LEN];

    wh_sha256(parts, 3, digest);
    memcpy(out, digest, WH_DEDUPE_MEMBER_LEN);
}

wh_err_t wh_append(wh_appender_t *a, const char *conn_id, size_t n, const uint8_t (*dedupe_keys)[WH_DEDUPE_KEY_LEN],
                   const char *packed, const size_t *offs, wh_append_cb cb, void *data)
{
    size_t idlen = strlen(conn_id), bytes = offs[n];
    unsigned part;
    item_t *it;

    if (n == 0 || n > WH_MAX_BATCH || idlen > WH_MAX_ID_LEN || bytes > WH_MAX_ENTRY_BYTES)
        return WH_EINVAL;
    if (!wh_appender_ready(a))
        return WH_EUNAVAILABLE;
    /* one allocation: the item, then its offsets (size_t-aligned right after the struct), keys and bytes */
    it = malloc(sizeof(*it) + (n + 1) * sizeof(*it->offs) + n * sizeof(*it->keys) + bytes);
    if (it == NULL)
        abort();
    it->next = NULL;
    it->cb = cb;
    it->data = data;
    it->epoch = a->epoch;
    memcpy(it->conn_id, conn_id, idlen + 1);
    it->n = n;
    it->offs = (size_t *)(it + 1);
    it->keys = (void *)(it->offs + n + 1);
    it->packed = (char *)(it->keys + n);
    for (size_t i = 0; i != n; ++i)
        wh_dedupe_member(conn_id, dedupe_keys[i], it->keys[i]);
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
