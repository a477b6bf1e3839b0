/*
 * queue/redis.c: the client's state machine against a real redis-server started here on a free port (the
 * CI installs it; if it is missing the test fails, it never skips), driven by a real libuv loop.
 *
 * What is pinned down: a caller's NULL callback means fire and forget, so an error reply to such a command
 * (or its loss with the connection) neither drops the connection nor touches readiness, and commands sent
 * after it still get their callbacks; readiness is gated by the client's own setup commands only (the
 * scripts are loaded before the first ready, a failing setup command keeps the client unready).
 *
 * "The connection was not dropped" is observed three ways: the ready callback ran exactly once, the client
 * was never seen unready (sampled every few ms), and CLIENT ID answers the same id before and after.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <cmocka.h>
#include "../../../queue/redis.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"
#include "async.h"

typedef wh_test_result_t result_t;
#define on_result wh_test_on_result
#define abandoned wh_test_abandoned

/* Longer than the client's watchdog period (100 ms) plus its first reconnect backoff (100 ms) and a setup. */
#define SETTLE_MS 500

static redisContext *admin; /* a plain blocking connection for arranging and inspecting the server */
static int port;
static uv_loop_t loop;
static uv_timer_t tick;

/* ---- the server ---------------------------------------------------------------------------------------- */

static int setup_server(void **state)
{
    (void)state;
    if ((admin = wh_test_redis_start("test_redis")) == NULL)
        return -1;
    port = admin->tcp.port;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    return 0;
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown_server(void **state)
{
    (void)state;
    uv_walk(&loop, close_handle, NULL); /* the tick, and anything a failed test left behind */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "test_redis: a libuv handle is still open at the end\n");
    wh_test_redis_stop(admin);
    admin = NULL;
    return 0;
}

/* Runs `cmd` on the admin connection; fails the test on an error reply. Caller frees. */
static redisReply *admin_command(const char *cmd)
{
    redisReply *r = redisCommand(admin, cmd);

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        print_error("%s: %s\n", cmd, r->str);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    return r;
}

static void admin_do(const char *cmd)
{
    freeReplyObject(admin_command(cmd));
}

/* ---- the client under test ------------------------------------------------------------------------------ */

typedef struct {
    wh_config_t cfg; /* borrowed by the client for its lifetime */
    wh_redis_t *r;
    int readies;       /* ready callbacks so far */
    bool ever_unready; /* sampled every tick once ready */
    bool closed;
} client_t;

static client_t *watched; /* the test's client, sampled by the tick; freed by teardown_client if the test failed */

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (watched != NULL && watched->readies > 0 && !wh_redis_ready(watched->r))
        watched->ever_unready = true;
}

/* Runs the loop until *flag (NULL: never) or `ms` have passed; returns whether the flag was set. */
static bool run_until(const bool *flag, uint64_t ms)
{
    uint64_t end;

    uv_update_time(&loop);
    end = uv_now(&loop) + ms;
    uv_timer_start(&tick, on_tick, 5, 5); /* so that UV_RUN_ONCE returns at least every 5 ms */
    while (!(flag != NULL && *flag) && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&tick);
    return flag != NULL && *flag;
}

static void on_ready(wh_redis_t *r, void *data)
{
    client_t *c = data;
    (void)r;
    ++c->readies;
}

/* A client with the server's address and `password` ("" = none); not started. */
static client_t *client_new(const char *password)
{
    client_t *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->cfg.redis_host, sizeof(c->cfg.redis_host), "127.0.0.1");
    c->cfg.redis_port = (uint16_t)port;
    snprintf(c->cfg.redis_password, sizeof(c->cfg.redis_password), "%s", password);
    c->r = wh_redis_new(&loop, &c->cfg, "test");
    wh_redis_on_ready(c->r, on_ready, c);
    watched = c;
    return c;
}

/* A started client that became ready once. */
static client_t *client_ready(void)
{
    client_t *c = client_new("");
    bool ready = false;

    wh_redis_start(c->r);
    for (int i = 0; i != 200 && !ready; ++i) {
        run_until(NULL, 10);
        ready = wh_redis_ready(c->r);
    }
    if (!ready)
        print_error("the client never became ready\n");
    assert_true(ready);
    assert_int_equal(c->readies, 1);
    return c;
}

static void on_closed(void *data)
{
    ((client_t *)data)->closed = true;
}

static void client_free(client_t *c)
{
    watched = NULL;
    wh_redis_close(c->r, on_closed, c);
    run_until(&c->closed, 2000);
    uv_run(&loop, UV_RUN_NOWAIT); /* the hiredis adapter's poll handle closes one turn later */
    if (!c->closed)
        print_error("wh_redis_close: no close callback within 2 s\n");
    assert_true(c->closed);
    free(c);
}

/* After each test: a client left by a failed assertion is closed, so its timer cannot keep the loop alive. */
static int teardown_client(void **state)
{
    (void)state;
    if (watched != NULL) {
        abandoned = true;
        client_free(watched);
        abandoned = false;
    }
    return 0;
}

/* Sends `cmd`, split at spaces (no argument holds one). */
static wh_err_t send_words(wh_redis_t *r, wh_redis_cb cb, void *data, const char *cmd)
{
    char copy[512], *save = NULL;
    const char *argv[32];
    int argc = 0;

    snprintf(copy, sizeof(copy), "%s", cmd);
    for (char *w = strtok_r(copy, " ", &save); w != NULL && argc != 32; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    return wh_redis_command(r, cb, data, argc, argv, NULL);
}

/* Sends `cmd` (no arguments with spaces) with a callback and waits for it; the callback must run once. */
static result_t command(client_t *c, const char *cmd)
{
    result_t res = {0};
    wh_err_t err = send_words(c->r, on_result, &res, cmd);

    if (err != WH_OK)
        print_error("%s: not sent (%s)\n", cmd, wh_err_name(err));
    assert_int_equal(err, WH_OK);
    if (!run_until(&res.done, 2000))
        print_error("%s: no callback within 2 s\n", cmd);
    assert_true(res.done);
    assert_int_equal(res.calls, 1);
    return res;
}

static long long client_id(client_t *c)
{
    result_t res = command(c, "CLIENT ID");

    assert_int_equal(res.err, WH_OK);
    assert_int_equal(res.type, REDIS_REPLY_INTEGER);
    return res.integer;
}

/* The connection of `c` is the one whose CLIENT ID was `id`, and it was never dropped meanwhile. */
static void assert_same_connection(client_t *c, long long id)
{
    long long now = client_id(c);

    if (now != id || c->readies != 1 || c->ever_unready)
        print_error("connection dropped: CLIENT ID %lld then %lld, %d ready callbacks, %s unready\n", id, now, c->readies,
                    c->ever_unready ? "seen" : "never seen");
    assert_false(c->ever_unready);
    assert_int_equal(c->readies, 1);
    assert_int_equal(now, id);
    assert_true(wh_redis_ready(c->r));
}

/* ---- fire and forget ------------------------------------------------------------------------------------ */

/* The worker's HDEL of a failure streak, answered with an error, and an unknown command: logged, nothing else. */
static void forget_error_keeps_connection(void **state)
{
    client_t *c = client_ready();
    long long id = client_id(c);
    const char *hdel[] = {"HDEL", "test:forget:string", "sub_1"};
    result_t after = {0};

    (void)state;
    admin_do("SET test:forget:string x"); /* HDEL on it: WRONGTYPE */
    assert_int_equal(wh_redis_command(c->r, NULL, NULL, 3, hdel, NULL), WH_OK);
    assert_int_equal(send_words(c->r, NULL, NULL, "NOSUCHCOMMAND x"), WH_OK);
    /* pipelined behind the two errors: still answered, and answered OK */
    assert_int_equal(send_words(c->r, on_result, &after, "PING"), WH_OK);
    assert_true(run_until(&after.done, 2000));
    assert_int_equal(after.err, WH_OK);
    assert_string_equal(after.str, "PONG");
    assert_true(wh_redis_ready(c->r));

    run_until(NULL, SETTLE_MS); /* give the watchdog every chance to act on a reset */
    assert_same_connection(c, id);
    client_free(c);
}

/* Many fire-and-forget commands, some failing: the connection stays ready and later commands get their callbacks. */
static void many_forgets_keep_callbacks(void **state)
{
    enum { N = 5000, ERROR_EVERY = 50 };
    client_t *c = client_ready();
    long long id = client_id(c);
    const char *incr[] = {"INCR", "test:many:counter"};
    const char *hdel[] = {"HDEL", "test:many:string", "f"};
    result_t got;
    int errors = 0;

    (void)state;
    admin_do("DEL test:many:counter");
    admin_do("SET test:many:string x");
    for (int i = 0; i != N; ++i) {
        assert_int_equal(wh_redis_command(c->r, NULL, NULL, 2, incr, NULL), WH_OK);
        if (i % ERROR_EVERY == 0) {
            assert_int_equal(wh_redis_command(c->r, NULL, NULL, 3, hdel, NULL), WH_OK);
            ++errors;
        }
    }
    got = command(c, "GET test:many:counter");
    assert_int_equal(got.err, WH_OK);
    assert_int_equal(atoi(got.str), N);
    assert_int_equal(errors, N / ERROR_EVERY);

    run_until(NULL, SETTLE_MS);
    assert_same_connection(c, id);
    /* and a callback command after the settle period still works, on a script too */
    {
        const char *argv[] = {"test:many:subs", "test:many:fail", "sub_1"};
        result_t res = {0};
        assert_int_equal(wh_redis_script(c->r, &wh_script_sub_status, on_result, &res, 2, 3, argv, NULL), WH_OK);
        assert_true(run_until(&res.done, 2000));
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.err, WH_OK); /* no such subscription: a nil reply, not an error */
        assert_int_equal(res.type, REDIS_REPLY_NIL);
    }
    client_free(c);
}

/*
 * A fire-and-forget command in flight when the server closes the connection: its lost reply must not leave
 * a reset request behind that would drop the next connection once it is ready.
 */
static void forget_lost_with_connection_leaves_next_alone(void **state)
{
    client_t *c = client_ready();
    long long id = client_id(c), id2;
    const char *blpop[] = {"BLPOP", "test:lost:list", "5"};
    char kill_cmd[64];
    bool ready = false;

    (void)state;
    admin_do("DEL test:lost:list");
    assert_int_equal(wh_redis_command_blocking(c->r, 5000, NULL, NULL, 3, blpop, NULL), WH_OK);
    run_until(NULL, 20); /* sent and blocking on the server */
    snprintf(kill_cmd, sizeof(kill_cmd), "CLIENT KILL ID %lld", id);
    admin_do(kill_cmd);
    for (int i = 0; i != 300 && !ready; ++i) {
        run_until(NULL, 10);
        ready = c->readies == 2 && wh_redis_ready(c->r);
    }
    assert_true(ready);
    id2 = client_id(c);
    assert_int_not_equal(id2, id);
    c->ever_unready = false;
    run_until(NULL, SETTLE_MS);
    if (c->readies != 2 || c->ever_unready)
        print_error("the new connection was dropped: %d ready callbacks\n", c->readies);
    assert_int_equal(c->readies, 2);
    assert_false(c->ever_unready);
    assert_int_equal(client_id(c), id2);
    client_free(c);
}

/* ---- setup gates readiness ------------------------------------------------------------------------------ */

typedef struct {
    client_t *c;
    result_t exists; /* SCRIPT EXISTS of every script, sent from the ready callback */
    int loaded;      /* how many of them it found */
} ready_probe_t;

static void on_exists(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    ready_probe_t *p = data;

    if (abandoned)
        return;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i != reply->elements; ++i)
            p->loaded += reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer == 1;
    on_result(r, reply, err, &p->exists);
}

static void on_ready_probe(wh_redis_t *r, void *data)
{
    ready_probe_t *p = data;
    const char *argv[2 + 64];

    ++p->c->readies;
    assert_true(wh_scripts_count <= 64);
    argv[0] = "SCRIPT";
    argv[1] = "EXISTS";
    for (size_t i = 0; i != wh_scripts_count; ++i)
        argv[2 + i] = wh_scripts_all[i]->sha1;
    assert_int_equal(wh_redis_command(r, on_exists, p, (int)(2 + wh_scripts_count), argv, NULL), WH_OK);
}

/* Not ready (commands refused, no callback) until the setup is done; by then every script is loaded. */
static void scripts_loaded_before_ready(void **state)
{
    client_t *c;
    ready_probe_t probe = {0};
    result_t refused = {0};
    const char *ping[] = {"PING"};

    (void)state;
    admin_do("SCRIPT FLUSH"); /* only this client's setup can load them again */
    c = client_new("");
    probe.c = c;
    wh_redis_on_ready(c->r, on_ready_probe, &probe);
    wh_redis_start(c->r);
    assert_false(wh_redis_ready(c->r));
    assert_int_equal(wh_redis_command(c->r, on_result, &refused, 1, ping, NULL), WH_EUNAVAILABLE);
    assert_int_equal(wh_redis_command(c->r, NULL, NULL, 1, ping, NULL), WH_EUNAVAILABLE);
    assert_int_equal(send_words(c->r, NULL, NULL, "PING"), WH_EUNAVAILABLE);
    assert_true(run_until(&probe.exists.done, 5000));
    assert_int_equal(probe.exists.err, WH_OK);
    assert_int_equal(probe.exists.type, REDIS_REPLY_ARRAY);
    assert_int_equal(probe.loaded, (int)wh_scripts_count);
    assert_false(refused.done); /* an error return means no callback, ever */
    run_until(NULL, SETTLE_MS);
    assert_int_equal(c->readies, 1);
    client_free(c);
}

/* A setup command that fails (AUTH against a server without a password) keeps the client unready. */
static void failing_setup_keeps_unready(void **state)
{
    client_t *c = client_new("not-the-password");
    const char *ping[] = {"PING"};

    (void)state;
    wh_redis_start(c->r);
    run_until(NULL, SETTLE_MS); /* several connect ▸ setup ▸ reset rounds */
    assert_int_equal(c->readies, 0);
    assert_false(wh_redis_ready(c->r));
    assert_int_equal(wh_redis_command(c->r, NULL, NULL, 1, ping, NULL), WH_EUNAVAILABLE);
    client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(forget_error_keeps_connection, teardown_client),
        cmocka_unit_test_teardown(many_forgets_keep_callbacks, teardown_client),
        cmocka_unit_test_teardown(forget_lost_with_connection_leaves_next_alone, teardown_client),
        cmocka_unit_test_teardown(scripts_loaded_before_ready, teardown_client),
        cmocka_unit_test_teardown(failing_setup_keeps_unready, teardown_client),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
