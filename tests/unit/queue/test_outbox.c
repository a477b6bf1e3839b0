/*
 * queue/outbox.c against a real redis-server, through the real client on a real libuv loop: a drain moves an
 * outbox's entries to the streams they name, oldest first, and empties it; two drains of one outbox at once lose
 * nothing and keep the order of first arrival (an entry may arrive twice); an entry of another shape is dropped
 * rather than blocking the outbox; outbox_pop.lua removes the head only when it is the entry named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <cmocka.h>
#include "../../../queue/outbox.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"
#include "async.h"

#define OUTBOX "wh:ob:{c:test}"
#define STREAM "wh:q:{p1}"

static redisContext *admin;
static uv_loop_t loop;
static wh_config_t cfg;
static wh_redis_t *client;

static bool run_until(const bool *flag, uint64_t ms)
{
    return wh_test_run_until(&loop, flag, ms);
}

static int setup(void **state)
{
    (void)state;
    if ((admin = wh_test_redis_start("test_outbox")) == NULL)
        return -1;
    return (client = wh_test_client_open(&loop, &cfg, admin->tcp.port)) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_client_close(&loop, client);
    wh_test_redis_stop(admin);
    return 0;
}

static void reset(void)
{
    freeReplyObject(redisCommand(admin, "DEL %s %s", OUTBOX, STREAM));
}

/* An entry as conn_status.lua writes it: the stream, then field c (connection) and s (the event). */
static void push_event(int n)
{
    char entry[256];

    snprintf(entry, sizeof(entry), "[\"%s\",\"c\",\"test\",\"s\",\"{\\\"eventId\\\":\\\"evt_%d\\\"}\"]", STREAM, n);
    freeReplyObject(redisCommand(admin, "RPUSH %s %s", OUTBOX, entry));
}

static void push_raw(const char *entry)
{
    freeReplyObject(redisCommand(admin, "RPUSH %s %s", OUTBOX, entry));
}

/* The event numbers in the stream, in stream order. Returns the count. */
static size_t stream_events(int *out, size_t cap)
{
    redisReply *r = redisCommand(admin, "XRANGE %s - +", STREAM);
    size_t n = 0;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i != r->elements && n != cap; ++i) {
        const redisReply *f = r->element[i]->element[1];
        assert_int_equal(f->elements, 4);
        assert_string_equal(f->element[0]->str, "c");
        assert_string_equal(f->element[1]->str, "test");
        assert_string_equal(f->element[2]->str, "s");
        out[n++] = atoi(strstr(f->element[3]->str, "evt_") + 4);
    }
    freeReplyObject(r);
    return n;
}

static long long outbox_len(void)
{
    redisReply *r = redisCommand(admin, "LLEN %s", OUTBOX);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

typedef struct {
    bool done, drained;
    int calls;
} drain_result_t;

static void on_drained(void *data, bool drained)
{
    drain_result_t *d = data;
    d->done = true;
    d->drained = drained;
    ++d->calls;
}

static void drain_moves_in_order(void **state)
{
    drain_result_t d = {0};
    int got[8];

    (void)state;
    reset();
    for (int i = 1; i <= 3; ++i)
        push_event(i);
    wh_outbox_drain(client, OUTBOX, on_drained, &d);
    assert_true(run_until(&d.done, 3000));
    assert_true(d.drained);
    assert_int_equal(d.calls, 1);
    assert_int_equal(stream_events(got, 8), 3);
    for (int i = 0; i != 3; ++i)
        assert_int_equal(got[i], i + 1);
    assert_int_equal(outbox_len(), 0);
}

static void two_drains_lose_nothing(void **state)
{
    drain_result_t a = {0}, b = {0};
    int got[256];
    bool seen[51] = {false};
    int last_first = 0;
    size_t n;

    (void)state;
    reset();
    for (int i = 1; i <= 50; ++i)
        push_event(i);
    wh_outbox_drain(client, OUTBOX, on_drained, &a);
    wh_outbox_drain(client, OUTBOX, on_drained, &b);
    assert_true(run_until(&a.done, 5000));
    assert_true(run_until(&b.done, 5000));
    assert_true(a.drained && b.drained);
    assert_int_equal(outbox_len(), 0);
    n = stream_events(got, 256);
    assert_true(n >= 50);
    for (size_t i = 0; i != n; ++i) {
        assert_true(got[i] >= 1 && got[i] <= 50);
        if (!seen[got[i]]) {
            /* first arrivals in outbox order */
            assert_int_equal(got[i], last_first + 1);
            last_first = got[i];
            seen[got[i]] = true;
        }
    }
    assert_int_equal(last_first, 50);
}

static void malformed_entries_dropped(void **state)
{
    drain_result_t d = {0};
    int got[8];

    (void)state;
    reset();
    push_event(1);
    push_raw("not json");
    push_raw("[\"wh:conn:{c:test}\",\"s\",\"x\"]"); /* not a partition stream */
    push_raw("[\"" STREAM "\",\"s\"]");             /* a field without its value */
    push_raw("[\"" STREAM "\",\"s\",7]");           /* a value that is not a string */
    push_event(2);
    wh_outbox_drain(client, OUTBOX, on_drained, &d);
    assert_true(run_until(&d.done, 3000));
    assert_true(d.drained);
    assert_int_equal(stream_events(got, 8), 2);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    assert_int_equal(outbox_len(), 0);
}

static void empty_outbox_is_drained(void **state)
{
    drain_result_t d = {0};

    (void)state;
    reset();
    wh_outbox_drain(client, OUTBOX, on_drained, &d);
    assert_true(run_until(&d.done, 3000));
    assert_true(d.drained);
    assert_int_equal(d.calls, 1);
}

static long long pop(const char *entry)
{
    redisReply *r = redisCommand(admin, "EVAL %b 1 %s %s", wh_script_outbox_pop.source, wh_script_outbox_pop.len, OUTBOX, entry);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static void pop_only_the_named_head(void **state)
{
    (void)state;
    reset();
    push_raw("a");
    push_raw("b");
    assert_int_equal(pop("b"), 0);
    assert_int_equal(outbox_len(), 2);
    assert_int_equal(pop("a"), 1);
    assert_int_equal(pop("a"), 0);
    assert_int_equal(pop("b"), 1);
    assert_int_equal(outbox_len(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drain_moves_in_order),      cmocka_unit_test(two_drains_lose_nothing),
        cmocka_unit_test(malformed_entries_dropped), cmocka_unit_test(empty_outbox_is_drained),
        cmocka_unit_test(pop_only_the_named_head),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
