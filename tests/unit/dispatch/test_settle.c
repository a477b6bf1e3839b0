/*
 * dispatch/settle.c (the entry model and settle.lua's argument vector) and queue/scripts/settle.lua itself,
 * against a real redis-server on a free port: what one call writes per outcome, that an entry is acknowledged
 * only with its last part, that a second settle of the same entry changes nothing, and poison entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../dispatch/settle.h"
#include "../../../common/time.h"
#include "../../../queue/evrec.h"
#include "../../../queue/keys.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"

static redisContext *rc;
/* events are received "now": a bucket whose retention is over would expire at once */
static int64_t T0;
#define RETENTION_MS (7 * 86400 * 1000LL)
/* events kept per partition (WHARF_EVENT_MAX_PER_PARTITION) in the next run() */
static unsigned max_events = 1000000;
/* the next run() leaves out the records' HSETs (as if they had failed) and expects the script to refuse */
static bool drop_records;

static int setup(void **state)
{
    (void)state;
    T0 = wh_now_ms();
    return (rc = wh_test_redis_start("test_settle")) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_redis_stop(rc);
    return 0;
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis: %s", rc->errstr);
    return r;
}

static long long cmd_int(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v;

    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis: %s", rc->errstr);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* HGET as a C string ("" when absent); the caller frees. */
/* HGET as a NUL-terminated copy ("" when absent); *len its length (records hold binary: a compressed body). */
static char *hget_len(const char *key, const char *field, size_t *len)
{
    redisReply *r = cmd("HGET %s %s", key, field);
    size_t n = r->type == REDIS_REPLY_STRING ? r->len : 0;
    char *v = malloc(n + 1);
    assert_non_null(v);
    if (n != 0)
        memcpy(v, r->str, n);
    v[n] = '\0';
    freeReplyObject(r);
    *len = n;
    return v;
}

static char *hget(const char *key, const char *field)
{
    size_t len;
    return hget_len(key, field, &len);
}

static void assert_hget(const char *key, const char *field, const char *want)
{
    char *v = hget(key, field);
    if (strcmp(v, want) != 0)
        fail_msg("HGET %s %s = '%s', want '%s'", key, field, v, want);
    free(v);
}

/* Sends one of the plain commands that go before the script, after checking its name and that its key is `want`
   (a key of the partition's slot, as keys.h builds it); returns the first argument (the key). */
static const char *send_plain(wh_argv_t *a, const char *name, const char *want)
{
    const char **ptrs = wh_argv_ptrs(a);
    redisReply *r;

    assert_int_equal(a->lens[0], strlen(name));
    assert_memory_equal(ptrs[0], name, strlen(name));
    assert_int_equal(a->lens[1], strlen(want));
    assert_memory_equal(ptrs[1], want, a->lens[1]);
    r = redisCommandArgv(rc, (int)a->n, ptrs, a->lens);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    return ptrs[1];
}

/* Completes the call and runs settle.lua with its arguments (EVAL of the embedded source); returns the reply and
   leaves the call reset for reuse. */
static redisReply *run(wh_settle_call_t *c)
{
    const char **argv, **ptrs;
    size_t *len, n, checked_len;
    char nkeys[8], *checked = wh_test_slot_checked(wh_script_settle.source, wh_script_settle.len, &checked_len);
    redisReply *r;

    snprintf(nkeys, sizeof(nkeys), "%d", wh_settle_call_finish(c, T0, 1700000099000LL, RETENTION_MS, max_events));
    /* the records first, as the worker sends them: one HSET and one EXPIREAT per bucket, keys of the partition's slot */
    for (size_t i = 0; i != c->nbuckets; ++i) {
        char want[WH_KEY_MAX];
        const char *key;
        wh_key_event_bucket(want, c->part, c->buckets[i].bucket * WH_EVENT_BUCKET_MS);
        if (drop_records)
            continue;
        key = send_plain(&c->buckets[i].hset, "HSET", want);
        r = redisCommand(rc, "EXPIREAT %b %lld", key, strlen(want),
                         (long long)wh_settle_bucket_expire_at(c->buckets[i].bucket, RETENTION_MS));
        assert_non_null(r);
        freeReplyObject(r);
    }
    for (size_t i = 0; i != c->nindexes; ++i) { /* then the index entries: one ZADD per environment */
        char want[WH_KEY_MAX];
        wh_key_event_index(want, c->part, c->indexes[i].env);
        send_plain(&c->indexes[i].zadd, "ZADD", want);
    }
    ptrs = wh_argv_ptrs(&c->args);
    n = c->args.n + 3;
    argv = calloc(n, sizeof(*argv));
    len = calloc(n, sizeof(*len));
    argv[0] = "EVAL";
    argv[1] = checked; /* every key it touches must be in the partition's slot */
    argv[2] = nkeys;
    for (int i = 0; i != 3; ++i)
        len[i] = strlen(argv[i]);
    len[1] = checked_len;
    for (size_t i = 0; i != c->args.n; ++i) {
        argv[i + 3] = ptrs[i];
        len[i + 3] = c->args.lens[i];
    }
    r = redisCommandArgv(rc, (int)n, argv, len);
    free(argv);
    free(len);
    free(checked);
    wh_settle_call_reset(c);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR && !drop_records)
        fail_msg("settle.lua: %s", r->str);
    return r;
}

/* A pending entry in partition `part`: XADD + XREADGROUP, returns its id in `id`. */
static void pending_entry(unsigned part, char id[64])
{
    char stream[WH_KEY_MAX];
    redisReply *r;

    wh_key_stream(stream, part);
    freeReplyObject(cmd("XGROUP CREATE %s %s $ MKSTREAM", stream, WH_CONSUMER_GROUP));
    r = cmd("XADD %s * b x", stream);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(id, 64, "%s", r->str);
    freeReplyObject(r);
    freeReplyObject(cmd("XREADGROUP GROUP %s c1 COUNT 100 STREAMS %s >", WH_CONSUMER_GROUP, stream));
}

static long long pending_count(unsigned part)
{
    char stream[WH_KEY_MAX];
    redisReply *r;
    long long n;

    wh_key_stream(stream, part);
    r = cmd("XPENDING %s %s", stream, WH_CONSUMER_GROUP);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    n = r->element[0]->integer;
    freeReplyObject(r);
    return n;
}

static void set_delivery(wh_settle_event_t *ev, size_t k, const char *sub, wh_outcome_t o, int64_t due, const char *record)
{
    wh_settle_delivery_t *d = &ev->d[k];
    snprintf(d->sub, sizeof(d->sub), "%s", sub);
    wh_webhook_id(ev->event_id, sub, d->wid);
    d->outcome = o;
    d->due = due;
    d->attempts = record != NULL ? 1 : 0;
    d->status = record != NULL ? 500 : 0;
    d->record = record != NULL ? strdup(record) : NULL;
    if (o == WH_OUTCOME_ORDERED) {
        char key[WH_KEY_MAX];
        wh_key_order(key, 1u, sub, "contact", "7");
        d->order_key = strdup(key);
    }
}

static void test_outcomes_written_once(void **state)
{
    const unsigned part = 1;
    char id[64], ekey[WH_KEY_MAX], wid_ok[WH_WEBHOOK_ID_LEN + 1], dkey[WH_KEY_MAX], order[WH_KEY_MAX];
    const char *subs[] = {"sub_ok", "sub_retry", "sub_dead", "sub_defer", "sub_lease", "sub_ord"};
    wh_body_t *body = wh_body_new("{\"type\":\"crm.contact.updated\"}", 30);
    wh_settle_entry_t *e;
    wh_settle_call_t c;
    redisReply *r;

    (void)state;
    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, 1);
    wh_settle_event_init(&e->ev[0], "evt_1", "env_a", "conn_a", "crm.contact.updated", T0, 1690000000000LL, body, 6);
    wh_body_release(body);
    set_delivery(&e->ev[0], 0, subs[0], WH_OUTCOME_OK, 0, "{\"attempt\":1,\"statusCode\":200}");
    set_delivery(&e->ev[0], 1, subs[1], WH_OUTCOME_RETRY, 1700000005000LL, "{\"attempt\":1,\"statusCode\":500}");
    set_delivery(&e->ev[0], 2, subs[2], WH_OUTCOME_DEAD, 0, "{\"attempt\":1,\"statusCode\":500}");
    set_delivery(&e->ev[0], 3, subs[3], WH_OUTCOME_DEFER, 1700000007000LL, NULL);
    set_delivery(&e->ev[0], 4, subs[4], WH_OUTCOME_LEASE, 0, NULL);
    set_delivery(&e->ev[0], 5, subs[5], WH_OUTCOME_ORDERED, 0, NULL);
    wh_settle_call_init(&c, part);
    assert_true(wh_settle_call_add(&c, e));
    assert_int_equal(c.nacks, 1);
    assert_int_equal(c.items, 1 + 6 + 1);
    r = run(&c);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);

    /* the entry: acknowledged and deleted */
    assert_int_equal(pending_count(part), 0);
    assert_int_equal(cmd_int("XLEN wh:q:{p1}"), 0);
    /* the event's record in its hour bucket: one state per subscription, the attempt records, the body */
    wh_key_event_bucket(ekey, part, T0);
    wh_webhook_id("evt_1", "sub_ok", wid_ok);
    {
        size_t rec_len, len;
        char *rec = hget_len(ekey, "evt_1", &rec_len), want[80];
        json_t *header;
        char *sent;
        assert_true(wh_evrec_split(rec, rec_len, &header, &sent, &len));
        assert_int_equal(len, 30);
        assert_memory_equal(sent, "{\"type\":\"crm.contact.updated\"}", 30);
        free(sent);
        snprintf(want, sizeof(want), "delivered:%s", wid_ok);
        assert_string_equal(json_string_value(json_object_get(json_object_get(header, "s"), "sub_ok")), want);
        assert_int_equal(json_object_size(json_object_get(header, "s")), 6);
        assert_int_equal(json_array_size(json_object_get(header, "a")), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(header, "a"), 0), "statusCode")), 200);
        json_decref(header);
        free(rec);
    }
    /* the bucket expires a retention after its hour ends */
    r = cmd("EXPIRETIME %s", ekey);
    assert_int_equal(r->integer, (T0 / WH_EVENT_BUCKET_MS + 1) * WH_EVENT_BUCKET_MS / 1000 + RETENTION_MS / 1000);
    freeReplyObject(r);
    r = cmd("ZSCORE wh:evi:{p1}:env_a evt_1");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(strtoll(r->str, NULL, 10), T0);
    freeReplyObject(r);
    /* delivered: no task; the others: a task each, due as their outcome says */
    snprintf(dkey, sizeof(dkey), "wh:d:{p1}:%s", wid_ok);
    assert_int_equal(cmd_int("EXISTS %s", dkey), 0);
    assert_int_equal(cmd_int("ZCARD wh:dq:{p1}"), 4); /* retry, defer, lease, ordered */
    for (size_t k = 1; k != 6; ++k) {
        const wh_settle_delivery_t *d = &e->ev[0].d[k];
        snprintf(dkey, sizeof(dkey), "wh:d:{p1}:%s", d->wid);
        assert_hget(dkey, "sub", d->sub);
        assert_hget(dkey, "event", "evt_1");
        assert_hget(dkey, "state", k == 2 ? "dead" : "pending");
        r = cmd("ZSCORE wh:dq:{p1} %s", d->wid);
        if (k == 2) {
            assert_int_equal(r->type, REDIS_REPLY_NIL);
        } else {
            long long want = k == 1 ? 1700000005000LL : k == 3 ? 1700000007000LL : k == 4 ? 1700000099000LL : T0;
            assert_int_equal(r->type, REDIS_REPLY_STRING);
            assert_int_equal(strtoll(r->str, NULL, 10), want);
        }
        freeReplyObject(r);
    }
    assert_int_equal(cmd_int("ZCARD wh:dlq:{p1}"), 1);
    snprintf(order, sizeof(order), "%s", e->ev[0].d[5].order_key);
    assert_int_equal(cmd_int("ZCARD %s", order), 1);

    /* the same entry settled again (a reclaim raced): nothing more is acknowledged, no task is rewritten */
    freeReplyObject(cmd("HSET wh:d:{p1}:%s attempt 9", e->ev[0].d[1].wid));
    e->added = 0;
    assert_true(wh_settle_call_add(&c, e));
    r = run(&c);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    snprintf(dkey, sizeof(dkey), "wh:d:{p1}:%s", e->ev[0].d[1].wid);
    assert_hget(dkey, "attempt", "9");
    assert_int_equal(cmd_int("ZCARD wh:dq:{p1}"), 4);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* A large entry spans calls: only the call with its last event acknowledges it. */
static void test_split_across_calls(void **state)
{
    const unsigned part = 2;
    const size_t nev = 5, nd = 300;
    char id[64];
    wh_body_t *body = wh_body_new("{}", 2);
    wh_settle_entry_t *e;
    wh_settle_call_t c;
    size_t calls = 0;

    (void)state;
    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, nev);
    for (size_t i = 0; i != nev; ++i) {
        char eid[32];
        snprintf(eid, sizeof(eid), "evt_s%zu", i);
        wh_settle_event_init(&e->ev[i], eid, "env_b", "conn_b", "crm.deal.created", T0 + (int64_t)i, 0, body, nd);
        for (size_t k = 0; k != nd; ++k) {
            char sub[32];
            snprintf(sub, sizeof(sub), "sub_%zu", k);
            set_delivery(&e->ev[i], k, sub, WH_OUTCOME_OK, 0, NULL);
        }
    }
    wh_body_release(body);
    wh_settle_call_init(&c, part);
    while (!wh_settle_call_add(&c, e)) {
        redisReply *r;
        assert_true(c.items <= WH_SETTLE_MAX_ITEMS);
        assert_int_equal(c.nacks, 0);
        r = run(&c);
        assert_int_equal(r->integer, 0);
        freeReplyObject(r);
        /* written, but not yet acknowledged */
        assert_int_equal(pending_count(part), 1);
        ++calls;
    }
    assert_int_equal(calls, 1); /* 3 events of 301 items fill a call (1024); the other 2 and the ack are the second */
    assert_int_equal(c.nacks, 1);
    {
        redisReply *r = run(&c);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
    }
    assert_int_equal(pending_count(part), 0);
    for (size_t i = 0; i != nev; ++i) {
        char key[WH_KEY_MAX], field[32];
        wh_key_event_bucket(key, part, T0 + (int64_t)i);
        snprintf(field, sizeof(field), "evt_s%zu", i);
        assert_int_equal(cmd_int("HEXISTS %s %s", key, field), 1);
    }
    assert_int_equal(cmd_int("ZCARD wh:evi:{p2}:env_b"), (long long)nev);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* Adds all of `e` to `c` (it fits) and runs the call: it must acknowledge the entry, leaving nothing pending. */
static void assert_settles(wh_settle_call_t *c, wh_settle_entry_t *e, unsigned part)
{
    redisReply *r;

    assert_true(wh_settle_call_add(c, e));
    r = run(c);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_int_equal(pending_count(part), 0);
}

/* A pending entry of `nev` events in partition `part`, event i ("evt_<tag><i>") in environment "env_<tag><i>",
   received `minutes_ago(i, nev)` minutes before T0, each delivered at once to one subscription. */
static wh_settle_entry_t *entry_per_env(unsigned part, const char *tag, size_t nev, int64_t (*minutes_ago)(size_t i, size_t n))
{
    char id[64];
    wh_body_t *body = wh_body_new("{}", 2);
    wh_settle_entry_t *e;

    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, nev);
    for (size_t i = 0; i != nev; ++i) {
        char eid[32], env[32];
        snprintf(eid, sizeof(eid), "evt_%s%zu", tag, i);
        snprintf(env, sizeof(env), "env_%s%zu", tag, i);
        wh_settle_event_init(&e->ev[i], eid, env, "conn_b", "crm.deal.created", T0 - minutes_ago(i, nev) * WH_EVENT_BUCKET_MS, 0,
                             body, 1);
        set_delivery(&e->ev[i], 0, "sub_b", WH_OUTCOME_OK, 0, NULL);
    }
    wh_body_release(body);
    return e;
}

static int64_t six_minutes_in_turn(size_t i, size_t n)
{
    (void)n;
    return (int64_t)(i % 6);
}

static int64_t last_one_minute_earlier(size_t i, size_t n)
{
    return i + 1 == n ? 1 : 0;
}

/* A call writes at most WH_SETTLE_MAX_BUCKETS buckets and WH_SETTLE_MAX_INDEXES environments: an event needing one
   more goes into the next call, and every event still ends up recorded, indexed and counted once. */
static void test_bucket_and_index_bounds(void **state)
{
    const unsigned part = 6;
    const size_t nev = WH_SETTLE_MAX_INDEXES + 8;
    wh_settle_entry_t *e = entry_per_env(part, "b", nev, six_minutes_in_turn); /* its own environment each */
    wh_settle_call_t c;
    size_t calls = 0;
    redisReply *r;

    (void)state;
    wh_settle_call_init(&c, part);
    while (!wh_settle_call_add(&c, e)) {
        assert_true(c.nbuckets <= WH_SETTLE_MAX_BUCKETS);
        assert_true(c.nindexes <= WH_SETTLE_MAX_INDEXES);
        assert_int_equal(c.nacks, 0);
        freeReplyObject(run(&c));
        assert_int_equal(pending_count(part), 1);
        ++calls;
    }
    assert_true(calls >= 2); /* 6 minutes do not fit one call */
    r = run(&c);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_int_equal(pending_count(part), 0);
    for (size_t i = 0; i != nev; ++i) {
        char key[WH_KEY_MAX], field[32];
        wh_key_event_bucket(key, part, T0 - (int64_t)(i % 6) * WH_EVENT_BUCKET_MS);
        snprintf(field, sizeof(field), "evt_b%zu", i);
        assert_int_equal(cmd_int("HEXISTS %s %s", key, field), 1);
        assert_true(cmd_int("TTL %s", key) > 0);
        snprintf(field, sizeof(field), "env_b%zu", i);
        wh_key_event_index(key, part, field);
        assert_int_equal(cmd_int("ZCARD %s", key), 1);
    }
    {
        char want[16];
        snprintf(want, sizeof(want), "%zu", nev);
        assert_hget("wh:evbn:{p6}", "total", want);
    }
    assert_int_equal(cmd_int("ZCARD wh:evbk:{p6}"), 6);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* A call whose environments are all taken, reached by an event of a new minute: the event goes into the next call,
   and the full call carries no bucket without records (an HSET without fields is an error reply). */
static void test_full_indexes_leave_no_empty_bucket(void **state)
{
    const unsigned part = 7;
    const size_t nev = WH_SETTLE_MAX_INDEXES + 1;
    /* the last event: a new environment and a new minute */
    wh_settle_entry_t *e = entry_per_env(part, "f", nev, last_one_minute_earlier);
    wh_settle_call_t c;

    (void)state;
    wh_settle_call_init(&c, part);
    assert_false(wh_settle_call_add(&c, e));
    assert_int_equal(c.nindexes, WH_SETTLE_MAX_INDEXES);
    assert_int_equal(c.nbuckets, 1);
    freeReplyObject(run(&c)); /* send_plain fails on an HSET of no fields */
    assert_settles(&c, e, part);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* A pending entry in `part` of one event `eid` (received at `received`), whose one delivery, to "sub_<eid>", failed
   at its first attempt and is due again at `due`. */
static wh_settle_entry_t *retry_entry(unsigned part, const char *eid, int64_t received, int64_t occurred, int64_t due)
{
    char id[64], sub[48], record[96];
    wh_body_t *body = wh_body_new("{\"type\":\"crm.deal.updated\"}", 27);
    wh_settle_entry_t *e;

    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, 1);
    snprintf(sub, sizeof(sub), "sub_%s", eid);
    snprintf(record, sizeof(record), "[\"%s\",1,1765000000000,3,503]", sub);
    wh_settle_event_init(&e->ev[0], eid, "env_r", "conn_r", "crm.deal.updated", received, occurred, body, 1);
    wh_body_release(body);
    set_delivery(&e->ev[0], 0, sub, WH_OUTCOME_RETRY, due, record);
    return e;
}

/* A retry whose record did not make it (its HSET failed): the script writes nothing and acknowledges nothing, so
   the entry is processed again rather than leaving a task whose body is gone. */
static void test_missing_record_acknowledges_nothing(void **state)
{
    const unsigned part = 0;
    wh_settle_entry_t *e = retry_entry(part, "evt_gone", T0, 0, T0 + 5000);
    wh_settle_call_t c;
    redisReply *r;

    (void)state;
    wh_settle_call_init(&c, part);
    assert_true(wh_settle_call_add(&c, e));
    drop_records = true;
    r = run(&c);
    drop_records = false;
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "evt_gone"));
    freeReplyObject(r);
    assert_int_equal(pending_count(part), 1);
    assert_int_equal(cmd_int("ZCARD wh:dq:{p0}"), 0);
    /* processed again, records and all: settled */
    e->added = 0;
    assert_settles(&c, e, part);
    assert_int_equal(cmd_int("ZCARD wh:dq:{p0}"), 1);
    wh_settle_entry_free(e);

    /* an event older than the retention has no record to keep (its bucket expires as it is written): its
       entry still settles, or it would be processed forever */
    e = retry_entry(part, "evt_ancient", T0 - RETENTION_MS - 180000, 0, T0 + 5000);
    assert_settles(&c, e, part);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* A malformed entry: its raw fields are kept aside in the partition's poison stream, then it is acknowledged. */
static void test_poison(void **state)
{
    const unsigned part = 3;
    char id[64];
    wh_settle_entry_t *e;
    wh_settle_call_t c;
    redisReply *r;

    (void)state;
    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, 0);
    e->poison = true;
    wh_settle_call_init(&c, part);
    assert_settles(&c, e, part);
    r = cmd("XRANGE wh:poison:{p3} - +");
    assert_int_equal(r->elements, 1);
    /* entry <id> at <ms> b x */
    assert_int_equal(r->element[0]->element[1]->elements, 6);
    assert_string_equal(r->element[0]->element[1]->element[1]->str, id);
    assert_string_equal(r->element[0]->element[1]->element[4]->str, "b");
    assert_string_equal(r->element[0]->element[1]->element[5]->str, "x");
    freeReplyObject(r);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/* The group's lag on stream `stream` (XINFO GROUPS); -1 when Redis reports it as nil (it cannot tell). */
static long long group_lag(const char *stream)
{
    redisReply *r = cmd("XINFO GROUPS %s", stream), *g;
    long long lag = -2;

    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    g = r->element[0];
    for (size_t k = 0; k + 1 < g->elements; k += 2)
        if (strcmp(g->element[k]->str, "lag") == 0)
            lag = g->element[k + 1]->type == REDIS_REPLY_INTEGER ? g->element[k + 1]->integer : -1;
    freeReplyObject(r);
    assert_true(lag != -2);
    return lag;
}

/* Settles the pending entry `id` of `part` (no events) on its own. */
static void settle_bare(unsigned part, const char *id)
{
    wh_settle_entry_t *e = wh_settle_entry_new(part, id, 0);
    wh_settle_call_t c;
    redisReply *r;

    wh_settle_call_init(&c, part);
    assert_true(wh_settle_call_add(&c, e));
    r = run(&c);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    wh_settle_call_dispose(&c);
    wh_settle_entry_free(e);
}

/*
 * Settled entries leave the stream from the front only, never one by one: while an older entry is pending, the
 * later settled ones stay (nothing deleted after the group's read position, so its lag stays a number), and once
 * nothing is pending the stream holds exactly the unread entries.
 */
static void test_stream_trimmed_from_the_front(void **state)
{
    const unsigned part = 5;
    enum { READ = 250, UNREAD = 30 };
    char stream[WH_KEY_MAX], ids[READ][64];
    redisReply *r;

    (void)state;
    wh_key_stream(stream, part);
    freeReplyObject(cmd("XGROUP CREATE %s %s $ MKSTREAM", stream, WH_CONSUMER_GROUP));
    for (int i = 0; i != READ; ++i) {
        r = cmd("XADD %s * b x", stream);
        snprintf(ids[i], sizeof(ids[i]), "%s", r->str);
        freeReplyObject(r);
    }
    freeReplyObject(cmd("XREADGROUP GROUP %s c1 COUNT %d STREAMS %s >", WH_CONSUMER_GROUP, READ, stream));
    for (int i = 0; i != UNREAD; ++i)
        freeReplyObject(cmd("XADD %s * b unread", stream));
    /* every entry but the first settled: the first holds the stream's front */
    for (int i = READ - 1; i >= 1; --i)
        settle_bare(part, ids[i]);
    assert_int_equal(pending_count(part), 1);
    assert_int_equal(cmd_int("XLEN %s", stream), READ + UNREAD);
    assert_int_equal(group_lag(stream), UNREAD);
    /* the first settles: only the unread remain, and the lag still counts them */
    settle_bare(part, ids[0]);
    assert_int_equal(pending_count(part), 0);
    assert_int_equal(cmd_int("XLEN %s", stream), UNREAD);
    assert_int_equal(group_lag(stream), UNREAD);
    r = cmd("XRANGE %s - + COUNT 1", stream);
    assert_string_equal(r->element[0]->element[1]->element[1]->str, "unread");
    freeReplyObject(r);
}

/* The store's bounds: past the per-partition cap the oldest minutes are dropped whole, never the newest; an event
   older than the retention is not kept; the environment's index is trimmed below what was dropped. */
static void test_cap_and_retention(void **state)
{
    const unsigned part = 4;
    wh_body_t *body = wh_body_new("{}", 2);
    char key[WH_KEY_MAX];
    redisReply *r;

    (void)state;
    max_events = 3;
    for (int m = 5; m >= 0; --m) { /* one event per minute, oldest first: T0-5min … T0 */
        char id[64], eid[32];
        int64_t at = T0 - m * WH_EVENT_BUCKET_MS;
        wh_settle_entry_t *e;
        wh_settle_call_t c;
        pending_entry(part, id);
        e = wh_settle_entry_new(part, id, 1);
        snprintf(eid, sizeof(eid), "evt_m%d", m);
        wh_settle_event_init(&e->ev[0], eid, "env_c", "conn_c", "crm.note.created", at, at, body, 0);
        wh_settle_call_init(&c, part);
        assert_true(wh_settle_call_add(&c, e));
        freeReplyObject(run(&c));
        wh_settle_call_dispose(&c);
        wh_settle_entry_free(e);
    }
    /* an event received before the retention: acknowledged, not kept */
    {
        char id[64];
        wh_settle_entry_t *e;
        wh_settle_call_t c;
        pending_entry(part, id);
        e = wh_settle_entry_new(part, id, 1);
        wh_settle_event_init(&e->ev[0], "evt_old", "env_c", "conn_c", "crm.note.created", T0 - RETENTION_MS - 120000, 0, body, 0);
        wh_settle_call_init(&c, part);
        assert_true(wh_settle_call_add(&c, e));
        freeReplyObject(run(&c));
        wh_settle_call_dispose(&c);
        wh_settle_entry_free(e);
        wh_key_event_bucket(key, part, T0 - RETENTION_MS - 120000);
        assert_int_equal(cmd_int("EXISTS %s", key), 0);
    }
    max_events = 1000000;
    wh_body_release(body);
    for (int m = 5; m >= 0; --m) {
        wh_key_event_bucket(key, part, T0 - m * WH_EVENT_BUCKET_MS);
        if (cmd_int("EXISTS %s", key) != (m <= 2))
            fail_msg("minute T0-%d: kept %lld, want %d", m, cmd_int("EXISTS %s", key), m <= 2);
    }
    wh_key_event_counts(key, part);
    assert_hget(key, "total", "3");
    wh_key_event_buckets(key, part);
    assert_int_equal(cmd_int("ZCARD %s", key), 3);
    /* the index keeps the 3 newest (the old one was trimmed by age, the dropped ones below the floor) */
    assert_int_equal(cmd_int("ZCARD wh:evi:{p4}:env_c"), 3);
    r = cmd("ZRANGE wh:evi:{p4}:env_c 0 0");
    assert_string_equal(r->element[0]->str, "evt_m2");
    freeReplyObject(r);
}

/* EVAL of `source` made slot-checked (redis_server.h), with `nkeys` keys then arguments. */
static redisReply *eval_checked(const wh_script_t *script, int nkeys, int argc, const char **args)
{
    size_t checked_len, lens[64];
    char *checked = wh_test_slot_checked(script->source, script->len, &checked_len), nk[8];
    const char *argv[64];
    redisReply *r;

    assert_true(argc + 3 <= 64);
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = checked;
    argv[2] = nk;
    for (int i = 0; i != argc; ++i)
        argv[i + 3] = args[i];
    for (int i = 0; i != argc + 3; ++i)
        lens[i] = strlen(argv[i]);
    lens[1] = checked_len;
    r = redisCommandArgv(rc, argc + 3, argv, lens);
    free(checked);
    assert_non_null(r);
    return r;
}

/* The slot check itself fails a script that strays from its tag (or the tests above would prove nothing). */
static void test_slot_check_catches_strays(void **state)
{
    static const char source[] = "redis.call('SET', KEYS[1], 1) redis.call('SET', 'x{p9}', 1) return 1";
    const wh_script_t stray = {"stray", "", source, sizeof(source) - 1};
    const char *args[] = {"wh:a:{p1}"};
    redisReply *r;

    (void)state;
    r = eval_checked(&stray, 1, 1, args);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "cross-slot: SET x{p9} outside {p1}"));
    freeReplyObject(r);
}

/* A retry written by settle comes due: claim.lua leases it and returns the body from the event's record, and
   finish.lua records the second attempt's success there (state and attempt log), all within the partition's slot. */
static void test_retry_claim_finish(void **state)
{
    const unsigned part = 5;
    char id[64], due[WH_KEY_MAX], dprefix[WH_KEY_MAX], bprefix[WH_KEY_MAX], dead[WH_KEY_MAX], now[24], lease[24], span[24],
        bkey[WH_KEY_MAX];
    wh_body_t *body = wh_body_new("{\"type\":\"crm.deal.updated\"}", 27);
    wh_settle_entry_t *e;
    wh_settle_call_t c;
    redisReply *r;

    (void)state;
    pending_entry(part, id);
    e = wh_settle_entry_new(part, id, 1);
    wh_settle_event_init(&e->ev[0], "evt_r", "env_r", "conn_r", "crm.deal.updated", T0, T0, body, 1);
    wh_body_release(body);
    set_delivery(&e->ev[0], 0, "sub_r", WH_OUTCOME_RETRY, T0 - 1, "[\"sub_r\",1,1765000000000,3,503]");
    wh_settle_call_init(&c, part);
    assert_true(wh_settle_call_add(&c, e));
    freeReplyObject(run(&c));
    wh_settle_call_dispose(&c);

    wh_key_due(due, part);
    wh_key_dead(dead, part);
    wh_key_delivery_prefix(dprefix, part);
    wh_key_event_bucket_prefix(bprefix, part);
    snprintf(now, sizeof(now), "%lld", (long long)T0);
    snprintf(lease, sizeof(lease), "%lld", (long long)T0 + 60000);
    snprintf(span, sizeof(span), "%lld", (long long)WH_EVENT_BUCKET_MS);
    {
        const char *args[] = {due, now, lease, "10", dprefix, bprefix, "250", span};
        r = eval_checked(&wh_script_claim, 1, 8, args);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("claim.lua: %s", r->str);
        /* id, attempt, sub, env, conn, type, event, body */
        assert_int_equal(r->elements, 8);
        assert_string_equal(r->element[0]->str, e->ev[0].d[0].wid);
        assert_string_equal(r->element[1]->str, "1");
        assert_string_equal(r->element[6]->str, "evt_r");
        { /* the body as stored: the worker decodes it (queue/evrec.h) */
            char *sent;
            size_t len;
            assert_true(wh_evrec_body(r->element[7]->str, r->element[7]->len, &sent, &len));
            assert_string_equal(sent, "{\"type\":\"crm.deal.updated\"}");
            free(sent);
        }
        freeReplyObject(r);
    }
    {
        const char *args[] = {due,
                              dead,
                              now,
                              dprefix,
                              bprefix,
                              span,
                              "2592000",
                              "100000",
                              "0",
                              "200",
                              e->ev[0].d[0].wid,
                              "ok",
                              "0",
                              "2",
                              "200",
                              "",
                              "[\"sub_r\",2,1765000005000,4,200]"};
        r = eval_checked(&wh_script_finish, 2, 17, args);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("finish.lua: %s", r->str);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
    }
    /* the task is gone; the record says delivered and holds both attempts, its body untouched */
    assert_int_equal(cmd_int("EXISTS %s%s", dprefix, e->ev[0].d[0].wid), 0);
    assert_int_equal(cmd_int("ZCARD %s", due), 0);
    wh_key_event_bucket(bkey, part, T0);
    {
        size_t rec_len, len;
        char *rec = hget_len(bkey, "evt_r", &rec_len), want[80];
        json_t *header;
        char *sent;
        assert_true(wh_evrec_split(rec, rec_len, &header, &sent, &len));
        snprintf(want, sizeof(want), "delivered:%s", e->ev[0].d[0].wid);
        assert_string_equal(json_string_value(json_object_get(json_object_get(header, "s"), "sub_r")), want);
        assert_int_equal(json_array_size(json_object_get(header, "a")), 2);
        assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(header, "a"), 1), 4)), 200);
        assert_int_equal(len, 27);
        free(sent);
        json_decref(header);
        free(rec);
    }
    wh_settle_entry_free(e);
}

/* The entry model: the last OPEN delivery's outcome ends the entry, once. */
static void test_open_count(void **state)
{
    wh_body_t *body = wh_body_new("{}", 2);
    wh_settle_entry_t *e = wh_settle_entry_new(0, "1-1", 1);

    (void)state;
    wh_settle_event_init(&e->ev[0], "evt_o", "env", NULL, "t", 1, 1, body, 2);
    wh_body_release(body);
    e->ev[0].d[0].outcome = e->ev[0].d[1].outcome = WH_OUTCOME_OPEN;
    e->open = 2;
    assert_false(wh_settle_delivery_done(e, &e->ev[0].d[0], WH_OUTCOME_OK, 0, 1, 200, NULL, "{}"));
    assert_true(wh_settle_delivery_done(e, &e->ev[0].d[1], WH_OUTCOME_RETRY, 5, 1, 500, "boom", "{}"));
    assert_int_equal(e->open, 0);
    /* a second outcome for a delivery no longer open changes the record, never the count */
    assert_false(wh_settle_delivery_done(e, &e->ev[0].d[1], WH_OUTCOME_DEAD, 0, 1, 500, NULL, NULL));
    assert_int_equal(e->open, 0);
    assert_string_equal(wh_outcome_name(WH_OUTCOME_DEFER), "defer");
    assert_string_equal(wh_outcome_name(WH_OUTCOME_ORDERED), "ordered");
    wh_settle_entry_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_count),
        cmocka_unit_test(test_outcomes_written_once),
        cmocka_unit_test(test_split_across_calls),
        cmocka_unit_test(test_bucket_and_index_bounds),
        cmocka_unit_test(test_full_indexes_leave_no_empty_bucket),
        cmocka_unit_test(test_missing_record_acknowledges_nothing),
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_stream_trimmed_from_the_front),
        cmocka_unit_test(test_cap_and_retention),
        cmocka_unit_test(test_slot_check_catches_strays),
        cmocka_unit_test(test_retry_claim_finish),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
