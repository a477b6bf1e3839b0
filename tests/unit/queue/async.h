/*
 * What the tests of queue/redis.c's async client share (header only: each test is its own executable): running
 * a libuv loop until a flag is set or a time has passed, and one command's outcome as its callback saw it.
 */
#ifndef WH_TEST_ASYNC_H
#define WH_TEST_ASYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>
#include "../../../queue/redis.h"

static inline void wh_test_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs `loop` until *flag (flag NULL: never) or `ms` have passed; a 5 ms timer keeps UV_RUN_ONCE returning. */
static inline bool wh_test_run_until(uv_loop_t *loop, const bool *flag, uint64_t ms)
{
    uv_timer_t t;
    uint64_t end;

    uv_update_time(loop);
    end = uv_now(loop) + ms;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, wh_test_tick, 5, 5);
    while (!(flag != NULL && *flag) && uv_now(loop) < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return flag != NULL && *flag;
}

/* One command's outcome, as its callback saw it. */
typedef struct {
    bool done;
    int calls;
    wh_err_t err;
    int type;
    long long integer;
    char str[128];
    size_t scanned; /* a SCAN reply's keys */
} wh_test_result_t;

/* Set by a test's teardown while it closes a client a failed test left: the failed test's results are gone
   with its stack, and callbacks must not write them. */
static bool wh_test_abandoned;

static inline void wh_test_on_result(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_test_result_t *res = data;

    (void)r;
    if (wh_test_abandoned)
        return;
    res->done = true;
    ++res->calls;
    res->err = err;
    if (reply != NULL) {
        res->type = reply->type;
        res->integer = reply->integer;
        if (reply->str != NULL)
            snprintf(res->str, sizeof(res->str), "%.*s", (int)reply->len, reply->str);
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_ARRAY)
            res->scanned = reply->element[1]->elements;
    }
}

#endif
