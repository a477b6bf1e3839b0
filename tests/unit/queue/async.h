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

static inline void wh_test_close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes every handle still open on `loop` (a failed test's included), runs their close callbacks, closes it. */
static inline void wh_test_loop_close(uv_loop_t *loop)
{
    uv_walk(loop, wh_test_close_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

static inline void wh_test_set_flag(void *data)
{
    *(bool *)data = true;
}

static inline void wh_test_on_ready(wh_redis_t *r, void *data)
{
    (void)r;
    wh_test_set_flag(data);
}

/* A queue/redis.c client of the redis-server on 127.0.0.1:`port`, on a fresh `loop`, ready; NULL if it is not
   within 5 s. `cfg` must outlive the client. */
static inline wh_redis_t *wh_test_client_open(uv_loop_t *loop, wh_config_t *cfg, int port)
{
    bool ready = false;
    wh_redis_t *client;

    uv_loop_init(loop);
    snprintf(cfg->redis_host, sizeof(cfg->redis_host), "127.0.0.1");
    cfg->redis_port = (uint16_t)port;
    client = wh_redis_new(loop, cfg, "test");
    wh_redis_on_ready(client, wh_test_on_ready, &ready);
    wh_redis_start(client);
    if (!wh_test_run_until(loop, &ready, 5000))
        return NULL;
    wh_redis_on_ready(client, NULL, NULL);
    return client;
}

/* Closes what wh_test_client_open() opened. */
static inline void wh_test_client_close(uv_loop_t *loop, wh_redis_t *client)
{
    bool closed = false;

    wh_redis_close(client, wh_test_set_flag, &closed);
    wh_test_run_until(loop, &closed, 2000);
    wh_test_loop_close(loop);
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
