/*
 * dispatch/slots.c and queue/scripts/slots.lua against a real redis-server, through the real client on a real
 * libuv loop: two brokers (two workers, holders "a" and "b") share one subscription's maxConcurrency. A worker busy
 * with more work than the cap keeps every slot only while nobody else wants one; once another worker asks, each
 * holds its fair share (the cap over the workers contending), the busy one giving slots back as its attempts end.
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
#include "../../../common/config.h"
#include "../../../dispatch/slots.h"
#include "../queue/async.h"
#include "../redis_server.h"

#define SUB "sub_fair"
#define LEASE_MS 60000

static redisContext *admin;
static uv_loop_t loop;
static wh_config_t cfg;
static wh_redis_t *client;

/* What one broker did with its items. */
typedef struct {
    unsigned started, deferred;
} tally_t;

static void on_go(void *item, void *data)
{
    (void)item;
    ++((tally_t *)data)->started;
}

static void on_defer(void *item, int64_t wait_ms, void *data)
{
    (void)item;
    (void)wait_ms;
    ++((tally_t *)data)->deferred;
}

static int setup(void **state)
{
    (void)state;
    if ((admin = wh_test_redis_start("test_slots")) == NULL)
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

/* Slots `holder` holds in Redis (HGET of the holders hash). */
static long long held_in_redis(const char *holder)
{
    redisReply *r = redisCommand(admin, "HGET wh:slots:{u:" SUB "} %s", holder);
    long long n = r != NULL && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return n;
}

/* Runs the loop until `t` started `n` items, at most `ms`. */
static bool run_until_started(const tally_t *t, unsigned n, uint64_t ms)
{
    uint64_t end;

    uv_update_time(&loop);
    end = uv_now(&loop) + ms;
    while (t->started < n && uv_now(&loop) < end)
        wh_test_run_until(&loop, NULL, 10);
    return t->started >= n;
}

static void close_broker(wh_slots_t *s)
{
    bool closed = false;
    wh_slots_close(s, wh_test_set_flag, &closed);
    assert_true(wh_test_run_until(&loop, &closed, 2000));
}

static void test_fair_share_between_two_workers(void **state)
{
    tally_t ta = {0}, tb = {0};
    wh_slots_t *a = wh_slots_new(&loop, client, "a", LEASE_MS, LEASE_MS / 2, on_go, on_defer, &ta);
    wh_slots_t *b = wh_slots_new(&loop, client, "b", LEASE_MS, LEASE_MS / 2, on_go, on_defer, &tb);
    int items[16];

    (void)state;
    /* a alone, with twice the cap's work: every slot is its, the rest waits */
    for (int i = 0; i != 8; ++i)
        wh_slots_request(a, SUB, 4, 0, &items[i]);
    assert_true(run_until_started(&ta, 4, 2000));
    wh_test_run_until(&loop, NULL, 50);
    assert_int_equal(ta.started, 4);
    assert_int_equal(held_in_redis("a"), 4);
    /* b wants some: nothing is free while a's attempts run */
    for (int i = 8; i != 12; ++i)
        wh_slots_request(b, SUB, 4, 0, &items[i]);
    wh_test_run_until(&loop, NULL, 100);
    assert_int_equal(tb.started, 0);
    /* two of a's attempts end: their slots go to b, not to a's own waiters (fair share: 4 over 2 workers) */
    wh_slots_done(a, SUB);
    wh_slots_done(a, SUB);
    assert_true(run_until_started(&tb, 2, 2000));
    wh_test_run_until(&loop, NULL, 100);
    assert_int_equal(ta.started, 4);
    assert_int_equal(tb.started, 2);
    assert_int_equal(held_in_redis("a"), 2);
    assert_int_equal(held_in_redis("b"), 2);
    /* from now on each runs on its share: a's next attempts start on a's slots, b's on b's */
    wh_slots_done(a, SUB);
    wh_slots_done(b, SUB);
    assert_true(run_until_started(&ta, 5, 2000));
    assert_true(run_until_started(&tb, 3, 2000));
    wh_test_run_until(&loop, NULL, 100);
    assert_int_equal(ta.started, 5);
    assert_int_equal(tb.started, 3);
    assert_true(held_in_redis("a") + held_in_redis("b") <= 4);
    assert_int_equal(ta.deferred + tb.deferred, 0);
    /* b's work ends and it goes idle, giving its slots back: a, with new work, takes the whole cap again */
    wh_slots_done(b, SUB);
    assert_true(run_until_started(&tb, 4, 2000));
    wh_slots_done(b, SUB);
    wh_slots_done(b, SUB);
    for (int i = 0; i != 3; ++i) /* a's last 3 waiters start as its attempts end: 2 in flight, none waiting */
        wh_slots_done(a, SUB);
    assert_true(run_until_started(&ta, 8, 2000));
    wh_test_run_until(&loop, NULL, 500);
    assert_int_equal(held_in_redis("b"), 0);
    for (int i = 12; i != 16; ++i)
        wh_slots_request(a, SUB, 4, 0, &items[i]);
    assert_true(run_until_started(&ta, 10, 2000)); /* 4 in flight: the whole cap */
    wh_test_run_until(&loop, NULL, 50);
    assert_int_equal(ta.started, 10);
    assert_int_equal(held_in_redis("a"), 4);
    assert_int_equal(ta.deferred + tb.deferred, 0);
    for (int i = 0; i != 4; ++i)
        wh_slots_done(a, SUB);
    close_broker(a);
    close_broker(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fair_share_between_two_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
