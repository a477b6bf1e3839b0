/*
 * queue/hiuv.c (hiredis on libuv) against a real redis-server on a free port: a loop turn's commands leave in one
 * write with no epoll_ctl call per command (the process's epoll_ctl calls are counted by interposition), every reply
 * comes back in order, a write the kernel cannot take whole (16 MiB) still completes, a connection the server
 * closes is reported, and so is a refused connect.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <cmocka.h>
#include <hiredis/async.h>
#include <uv.h>
#include "../../../queue/hiuv.h"
#include "../redis_server.h"
#include "async.h"

static atomic_uint epoll_ctl_calls;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    int (*real)(int, int, int, struct epoll_event *);

    atomic_fetch_add(&epoll_ctl_calls, 1);
    *(void **)&real = dlsym(RTLD_NEXT, "epoll_ctl");
    return real(epfd, op, fd, event);
}

static redisContext *admin;
static uv_loop_t loop;

typedef struct {
    int connected; /* 1 ok, -1 failed, 0 not yet */
    bool disconnected;
    int disconnect_status;
    unsigned replies, in_order;
    long long last;
} state_t;

/* Runs the loop until *flag, at most ms. */
static bool run_until(const bool *flag, uint64_t ms)
{
    return wh_test_run_until(&loop, flag, ms);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    ((state_t *)ac->data)->connected = status == REDIS_OK ? 1 : -1;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    state_t *s = ac->data;
    s->disconnected = true;
    s->disconnect_status = status;
}

static redisAsyncContext *connect_to(int port, state_t *s)
{
    redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", port);

    assert_non_null(ac);
    assert_int_equal(ac->err, 0);
    ac->data = s;
    assert_int_equal(wh_hiuv_attach(ac, &loop), REDIS_OK);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void on_incr(redisAsyncContext *ac, void *r, void *priv)
{
    state_t *s = ac->data;
    redisReply *reply = r;

    (void)priv;
    if (reply == NULL)
        return;
    ++s->replies;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == s->last + 1)
        ++s->in_order;
    s->last = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
}

static int setup(void **state)
{
    (void)state;
    if ((admin = wh_test_redis_start("test_hiuv")) == NULL)
        return -1;
    uv_loop_init(&loop);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_loop_close(&loop);
    wh_test_redis_stop(admin);
    return 0;
}

static bool all_replies;

static void on_last(redisAsyncContext *ac, void *r, void *priv)
{
    on_incr(ac, r, priv);
    all_replies = true;
}

static void test_commands_without_epoll_calls(void **state)
{
    state_t s = {0};
    redisAsyncContext *ac = connect_to(admin->tcp.port, &s);
    unsigned before;
    const unsigned n = 2000;

    (void)state;
    /* a first command carries the connect through (writability says it ended) */
    all_replies = false;
    redisAsyncCommand(ac, on_last, NULL, "DEL hiuv:n");
    assert_true(run_until(&all_replies, 5000));
    assert_int_equal(s.connected, 1);
    /* then 10 loop turns of 200 commands each: none of them touches epoll */
    s.replies = s.in_order = 0;
    s.last = 0;
    before = atomic_load(&epoll_ctl_calls);
    for (unsigned turn = 0; turn != 10; ++turn) {
        all_replies = false;
        for (unsigned i = 0; i != n / 10; ++i)
            redisAsyncCommand(ac, i + 1 == n / 10 ? on_last : on_incr, NULL, "INCR hiuv:n");
        assert_true(run_until(&all_replies, 5000));
    }
    print_message("%u INCRs in 10 loop turns: %u epoll_ctl calls\n", n, atomic_load(&epoll_ctl_calls) - before);
    assert_int_equal(s.replies, n);
    assert_int_equal(s.in_order, n);
    assert_true(atomic_load(&epoll_ctl_calls) - before <= 2);
    redisAsyncDisconnect(ac);
    assert_true(run_until(&s.disconnected, 2000));
    assert_int_equal(s.disconnect_status, REDIS_OK);
}

static void test_large_write(void **state)
{
    state_t s = {0};
    redisAsyncContext *ac = connect_to(admin->tcp.port, &s);
    size_t len = 16u << 20;
    char *big = malloc(len);
    redisReply *r;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', len);
    all_replies = false;
    /* 16 MiB cannot leave in one write(): the rest waits for room, then the INCR behind it is answered */
    redisAsyncCommand(ac, NULL, NULL, "SET hiuv:big %b", big, len);
    redisAsyncCommand(ac, on_last, NULL, "INCR hiuv:after");
    assert_true(run_until(&all_replies, 10000));
    assert_int_equal(s.replies, 1);
    r = redisCommand(admin, "STRLEN hiuv:big");
    assert_int_equal(r->integer, (long long)len);
    freeReplyObject(r);
    free(big);
    redisAsyncDisconnect(ac);
    assert_true(run_until(&s.disconnected, 2000));
}

static void test_server_closes(void **state)
{
    state_t s = {0};
    redisAsyncContext *ac = connect_to(admin->tcp.port, &s);

    (void)state;
    all_replies = false;
    redisAsyncCommand(ac, on_last, NULL, "CLIENT SETNAME hiuv-victim");
    assert_true(run_until(&all_replies, 5000));
    freeReplyObject(redisCommand(admin, "CLIENT KILL USER default SKIPME yes"));
    assert_true(run_until(&s.disconnected, 5000));
    assert_int_equal(s.disconnect_status, REDIS_ERR);
}

static void test_refused_connect(void **state)
{
    state_t s = {0};
    redisAsyncContext *ac;
    int port;

    (void)state;
    {
        /* a port nobody listens on: a listener's, closed */
        uv_tcp_t tcp;
        struct sockaddr_in addr;
        struct sockaddr_storage name;
        int namelen = sizeof(name);
        uv_tcp_init(&loop, &tcp);
        uv_ip4_addr("127.0.0.1", 0, &addr);
        assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&addr, 0), 0);
        uv_tcp_getsockname(&tcp, (struct sockaddr *)&name, &namelen);
        port = ntohs(((struct sockaddr_in *)&name)->sin_port);
        uv_close((uv_handle_t *)&tcp, NULL);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    ac = connect_to(port, &s);
    redisAsyncCommand(ac, NULL, NULL, "PING");
    {
        bool done = false;
        uv_update_time(&loop);
        for (uint64_t end = uv_now(&loop) + 5000; s.connected == 0 && uv_now(&loop) < end;)
            run_until(&done, 10);
    }
    assert_int_equal(s.connected, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_without_epoll_calls),
        cmocka_unit_test(test_large_write),
        cmocka_unit_test(test_server_closes),
        cmocka_unit_test(test_refused_connect),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
