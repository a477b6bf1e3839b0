/*
 * queue/scripts/consumers.lua against a real redis-server: of a partition's group, consumers with nothing pending
 * and silent past the bound are forgotten; one holding entries, one recently active, and the caller itself stay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "../../../queue/scripts.h"
#include "../redis_server.h"

static redisContext *rc;

static int setup(void **state)
{
    (void)state;
    return (rc = wh_test_redis_start("test_consumers")) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_redis_stop(rc);
    return 0;
}

static void cmd_ok(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(rc, fmt, a, b);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* The consumers' names, as XINFO CONSUMERS lists them, joined by ','. */
static void names(char *out, size_t cap)
{
    redisReply *r = redisCommand(rc, "XINFO CONSUMERS wh:q:{p2} wharf");
    size_t n = 0;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    out[0] = '\0';
    for (size_t i = 0; i != r->elements; ++i)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n != 0 ? "," : "", r->element[i]->element[1]->str);
    freeReplyObject(r);
}

static long long sweep(const char *idle_ms, const char *self)
{
    size_t len;
    char *checked = wh_test_slot_checked(wh_script_consumers.source, wh_script_consumers.len, &len);
    const char *argv[] = {"EVAL", checked, "1", "wh:q:{p2}", "wharf", idle_ms, self};
    size_t lens[] = {4, len, 1, 9, 5, strlen(idle_ms), strlen(self)};
    redisReply *r = redisCommandArgv(rc, 7, argv, lens);
    long long n;

    free(checked);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("consumers.lua: %s", r->str);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

static void test_forgets_only_silent_empty_consumers(void **state)
{
    char list[256];

    (void)state;
    cmd_ok("XGROUP CREATE %s %s $ MKSTREAM", "wh:q:{p2}", "wharf");
    /* "gone": read one entry and acknowledged it; "holding": read one and still holds it; "me": the caller */
    cmd_ok("XADD %s * %s x", "wh:q:{p2}", "b");
    cmd_ok("XREADGROUP GROUP wharf gone COUNT 1 STREAMS %s %s", "wh:q:{p2}", ">");
    {
        redisReply *r = redisCommand(rc, "XRANGE wh:q:{p2} - +");
        assert_int_equal(r->elements, 1);
        cmd_ok("XACK %s wharf %s", "wh:q:{p2}", r->element[0]->element[0]->str);
        freeReplyObject(r);
    }
    cmd_ok("XADD %s * %s x", "wh:q:{p2}", "b");
    cmd_ok("XREADGROUP GROUP wharf holding COUNT 1 STREAMS %s %s", "wh:q:{p2}", ">");
    cmd_ok("XGROUP CREATECONSUMER %s wharf %s", "wh:q:{p2}", "me");
    nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL);
    /* nobody silent for an hour yet */
    assert_int_equal(sweep("3600000", "me"), 0);
    names(list, sizeof(list));
    assert_string_equal(list, "gone,holding,me");
    /* past 20 ms: "gone" goes; "holding" has an entry; "me" is the caller */
    assert_int_equal(sweep("20", "me"), 1);
    names(list, sizeof(list));
    assert_string_equal(list, "holding,me");
    /* a fresh consumer that has just read (and holds nothing) is not silent long enough */
    cmd_ok("XGROUP CREATECONSUMER %s wharf %s", "wh:q:{p2}", "fresh");
    assert_int_equal(sweep("20", "me"), 0);
    names(list, sizeof(list));
    assert_string_equal(list, "fresh,holding,me");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forgets_only_silent_empty_consumers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
