/*
 * Ingest's dedupe (queue/append.h wh_dedupe_member, queue/scripts/ingest.lua) against a real redis-server: an event
 * is queued once per connection however often the provider sends it, the same provider key on another connection
 * is another event, and a set member is 12 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../queue/append.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"

static redisContext *rc;

static int setup(void **state)
{
    (void)state;
    return (rc = wh_test_redis_start("test_dedupe")) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_redis_stop(rc);
    return 0;
}

static void test_member(void **state)
{
    uint8_t k1[WH_DEDUPE_KEY_LEN] = {1}, k2[WH_DEDUPE_KEY_LEN] = {2}, a[WH_DEDUPE_MEMBER_LEN], b[WH_DEDUPE_MEMBER_LEN];

    (void)state;
    wh_dedupe_member("conn_a", k1, a);
    wh_dedupe_member("conn_a", k1, b);
    assert_memory_equal(a, b, WH_DEDUPE_MEMBER_LEN); /* stable */
    wh_dedupe_member("conn_b", k1, b);
    assert_memory_not_equal(a, b, WH_DEDUPE_MEMBER_LEN); /* scoped to the connection */
    wh_dedupe_member("conn_a", k2, b);
    assert_memory_not_equal(a, b, WH_DEDUPE_MEMBER_LEN);
    /* the NUL between the two parts: ("conn_a1", key) and ("conn_a", "1" + key) cannot meet */
    wh_dedupe_member("conn_a\x01", k1, b);
    assert_memory_not_equal(a, b, WH_DEDUPE_MEMBER_LEN);
}

/* One ingest.lua call of one request of one event (connection `conn`, provider key `key`); returns queued. */
static long long ingest(const char *conn, const uint8_t key[WH_DEDUPE_KEY_LEN])
{
    uint8_t m[WH_DEDUPE_MEMBER_LEN];
    /* a one-element msgpack array holding the string "e" */
    static const char entry[] = "\x91\xa1"
                                "e";
    size_t checked_len;
    char *checked = wh_test_slot_checked(wh_script_ingest.source, wh_script_ingest.len, &checked_len);
    const char *argv[] = {"EVAL", checked, "3", "wh:q:{p0}",     "wh:dd:{p0}:2", "wh:dd:{p0}:1", "172800",
                          "1",    conn,    "1", (const char *)m, entry,          "1,3"};
    size_t lens[13];
    redisReply *r;
    long long queued;

    wh_dedupe_member(conn, key, m);
    for (size_t i = 0; i != 13; ++i) /* the member and the entry are binary: their lengths are given */
        lens[i] = i == 1 ? checked_len : i == 10 ? WH_DEDUPE_MEMBER_LEN : i == 11 ? 3 : strlen(argv[i]);
    r = redisCommandArgv(rc, 13, argv, lens);
    free(checked);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("ingest.lua: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    queued = r->element[0]->element[0]->integer;
    freeReplyObject(r);
    return queued;
}

static void test_queued_once_per_connection(void **state)
{
    uint8_t key[WH_DEDUPE_KEY_LEN] = {7, 7, 7};
    redisReply *r;

    (void)state;
    assert_int_equal(ingest("conn_a", key), 1);
    assert_int_equal(ingest("conn_a", key), 0); /* the provider's redelivery */
    assert_int_equal(ingest("conn_b", key), 1); /* another connection's event */
    r = redisCommand(rc, "XLEN wh:q:{p0}");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    r = redisCommand(rc, "SRANDMEMBER wh:dd:{p0}:2");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, WH_DEDUPE_MEMBER_LEN);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member),
        cmocka_unit_test(test_queued_once_per_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
