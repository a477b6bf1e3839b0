/*
 * queue/redis.c against a real 3-master Redis Cluster on loopback (tests/unit/redis_server.c), driven by a real
 * libuv loop. Given one master's address, the client finds out it is a cluster, learns the slot map and connects
 * to every master; then:
 *   - each keyed command goes straight to its slot's master (no node answered MOVED or ASK, and each node ran
 *     exactly the SETs of the keys it holds);
 *   - every script is loaded on every master;
 *   - a command whose keys span slots is refused at once (WH_EINVAL, no callback);
 *   - a slot moved to another master behind the client's back: the command is answered MOVED, sent again to the
 *     new owner, and the next one goes there directly;
 *   - a slot being migrated: a key no longer on the source is answered ASK, and the client sends ASKING and the
 *     command to the target;
 *   - SCAN sent "at" a key goes to the master of that key's slot;
 *   - a first address that does not answer: the next seed is tried, and the cluster found through it.
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
#include "../../../queue/cluster.h"
#include "../../../queue/redis.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"
#include "async.h"

typedef wh_test_result_t result_t;
#define on_result wh_test_on_result
#define abandoned wh_test_abandoned

#define MASTERS 3

static redisContext *first;
static redisContext *node[MASTERS]; /* admin connections, one per master */
static int ports[MASTERS];
static uv_loop_t loop;

static int setup(void **state)
{
    (void)state;
    if ((first = wh_test_cluster_start("test_redis_cluster", MASTERS, ports)) == NULL)
        return -1;
    for (int i = 0; i != MASTERS; ++i)
        if ((node[i] = redisConnect("127.0.0.1", ports[i])) == NULL || node[i]->err != 0)
            return -1;
    uv_loop_init(&loop);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_loop_close(&loop);
    for (int i = 0; i != MASTERS; ++i)
        redisFree(node[i]);
    wh_test_cluster_stop(first);
    return 0;
}

/* ---- admin helpers ---------------------------------------------------------------------------------------- */

/* A command on master i's admin connection; fails the test on an error reply. */
static redisReply *admin_v(int i, const char *fmt, va_list ap)
{
    redisReply *r = redisvCommand(node[i], fmt, ap);

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        print_error("node %d: %s\n", i, r->str);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    return r;
}

/* Caller frees. */
static redisReply *admin(int i, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = admin_v(i, fmt, ap);
    va_end(ap);
    return r;
}

static void admin_do(int i, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    freeReplyObject(admin_v(i, fmt, ap));
    va_end(ap);
}

/* A number from an INFO section's `field:` line (0 when absent). */
static long long info_number(int i, const char *section, const char *field)
{
    redisReply *r = admin(i, "INFO %s", section);
    const char *p = strstr(r->str, field);
    long long v = p != NULL ? atoll(p + strlen(field)) : 0;

    freeReplyObject(r);
    return v;
}

static long long redirects_answered(int i)
{
    return info_number(i, "errorstats", "errorstat_MOVED:count=") + info_number(i, "errorstats", "errorstat_ASK:count=");
}

static long long set_calls(int i)
{
    return info_number(i, "commandstats", "cmdstat_set:calls=");
}

static void node_id(int i, char *out, size_t size)
{
    redisReply *r = admin(i, "CLUSTER MYID");
    snprintf(out, size, "%s", r->str);
    freeReplyObject(r);
}

/* The master (index into node[]) serving `key`. */
static int owner_of(const char *key)
{
    for (int i = 0; i != MASTERS; ++i) {
        redisReply *r = redisCommand(node[i], "EXISTS %s", key);
        bool mine = r != NULL && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        if (mine)
            return i;
    }
    fail_msg("no master serves %s", key);
    return -1;
}

/* ---- the client under test -------------------------------------------------------------------------------- */

typedef struct {
    wh_config_t cfg;
    wh_redis_t *r;
    int readies;
    bool closed;
} client_t;

static client_t *client; /* freed by teardown_client when a test failed */

static void run_ms(uint64_t ms)
{
    wh_test_run_until(&loop, NULL, ms);
}

static bool run_until(const bool *flag, uint64_t ms)
{
    return wh_test_run_until(&loop, flag, ms);
}

static void on_ready(wh_redis_t *r, void *data)
{
    (void)r;
    ++((client_t *)data)->readies;
}

/* A started client whose first address is 127.0.0.1:`port` (and, `seed_port` != 0, a second seed), once ready:
   it found the cluster. */
static client_t *client_start(int port, int seed_port)
{
    client_t *c = calloc(1, sizeof(*c));
    bool ready = false;

    assert_non_null(c);
    snprintf(c->cfg.redis_host, sizeof(c->cfg.redis_host), "127.0.0.1");
    c->cfg.redis_port = (uint16_t)port;
    if (seed_port != 0) {
        snprintf(c->cfg.redis_seeds[0].host, sizeof(c->cfg.redis_seeds[0].host), "127.0.0.1");
        c->cfg.redis_seeds[0].port = (uint16_t)seed_port;
        c->cfg.redis_nseeds = 1;
    }
    c->r = wh_redis_new(&loop, &c->cfg, "test");
    wh_redis_on_ready(c->r, on_ready, c);
    client = c;
    wh_redis_start(c->r);
    for (int i = 0; i != 500 && !ready; ++i) {
        run_ms(10);
        ready = wh_redis_ready(c->r);
    }
    if (!ready)
        print_error("the client never became ready\n");
    assert_true(ready);
    assert_true(wh_redis_is_cluster(c->r));
    return c;
}

static client_t *client_ready(void)
{
    client_t *c = client_start(ports[1], 0); /* any master is a seed */

    assert_int_equal(c->readies, 1);
    return c;
}

static void on_closed(void *data)
{
    ((client_t *)data)->closed = true;
}

static void client_free(client_t *c)
{
    client = NULL;
    wh_redis_close(c->r, on_closed, c);
    run_until(&c->closed, 2000);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true(c->closed);
    free(c);
}

static int teardown_client(void **state)
{
    (void)state;
    if (client != NULL) {
        abandoned = true;
        client_free(client);
        abandoned = false;
    }
    return 0;
}

/* Sends argv and waits for its one callback. */
static result_t command(client_t *c, int argc, const char **argv)
{
    result_t res = {0};
    wh_err_t err = wh_redis_command(c->r, on_result, &res, argc, argv, NULL);

    if (err != WH_OK)
        print_error("%s: not sent (%s)\n", argv[0], wh_err_name(err));
    assert_int_equal(err, WH_OK);
    if (!run_until(&res.done, 3000))
        print_error("%s %s: no callback within 3 s\n", argv[0], argc > 1 ? argv[1] : "");
    assert_true(res.done);
    run_ms(20); /* a second callback would show here */
    assert_int_equal(res.calls, 1);
    return res;
}

/* ---- tests ------------------------------------------------------------------------------------------------ */

/* 300 keys over every slot's neighbourhood, pipelined: each went to its owner, none was redirected. */
static void routes_each_key_to_its_master(void **state)
{
    client_t *c;
    result_t res[300] = {0};
    long long before[MASTERS], redirects[MASTERS], keys[MASTERS] = {0};

    (void)state;
    c = client_ready();
    for (int i = 0; i != MASTERS; ++i) {
        admin_do(i, "FLUSHALL");
        admin_do(i, "CONFIG RESETSTAT");
        before[i] = set_calls(i);
        redirects[i] = redirects_answered(i);
    }
    for (int k = 0; k != 300; ++k) {
        char key[32];
        const char *argv[] = {"SET", key, "v"};
        snprintf(key, sizeof(key), "route:{%d}", k);
        assert_int_equal(wh_redis_command(c->r, on_result, &res[k], 3, argv, NULL), WH_OK);
    }
    for (int k = 0; k != 300; ++k) {
        assert_true(run_until(&res[k].done, 3000));
        assert_int_equal(res[k].err, WH_OK);
        assert_string_equal(res[k].str, "OK");
    }
    for (int i = 0; i != MASTERS; ++i) {
        redisReply *r = admin(i, "DBSIZE");
        keys[i] = r->integer;
        freeReplyObject(r);
        assert_true(keys[i] > 50); /* CRC16 spreads 300 tags over three masters */
        assert_int_equal(set_calls(i) - before[i], keys[i]);
        assert_int_equal(redirects_answered(i), redirects[i]);
    }
    assert_int_equal(keys[0] + keys[1] + keys[2], 300);
    client_free(c);
}

static void scripts_on_every_master(void **state)
{
    client_t *c;

    (void)state;
    c = client_ready();
    for (int i = 0; i != MASTERS; ++i)
        for (size_t s = 0; s != wh_scripts_count; ++s) {
            redisReply *r = admin(i, "SCRIPT EXISTS %s", wh_scripts_all[s]->sha1);
            assert_int_equal(r->type, REDIS_REPLY_ARRAY);
            if (r->element[0]->integer != 1)
                print_error("node %d lacks %s\n", i, wh_scripts_all[s]->name);
            assert_int_equal(r->element[0]->integer, 1);
            freeReplyObject(r);
        }
    client_free(c);
}

static void cross_slot_refused(void **state)
{
    client_t *c;
    result_t res = {0};
    const char *mget[] = {"MGET", "{a}x", "{b}y"};
    const char *del[] = {"DEL", "{a}x", "{a}y"};

    (void)state;
    c = client_ready();
    assert_int_equal(wh_redis_command(c->r, on_result, &res, 3, mget, NULL), WH_EINVAL);
    run_ms(50);
    assert_false(res.done);
    assert_int_equal(command(c, 3, del).err, WH_OK); /* one tag, two keys: one slot */
    client_free(c);
}

/* Moves `key`'s slot from its owner to another master, with its keys, the way redis-cli --cluster reshard does. */
static int move_slot(const char *key, int from, bool finish)
{
    int to = (from + 1) % MASTERS;
    char from_id[64], to_id[64];
    unsigned slot = wh_cluster_keyslot(key, strlen(key));

    node_id(from, from_id, sizeof(from_id));
    node_id(to, to_id, sizeof(to_id));
    admin_do(to, "CLUSTER SETSLOT %u IMPORTING %s", slot, from_id);
    admin_do(from, "CLUSTER SETSLOT %u MIGRATING %s", slot, to_id);
    {
        redisReply *r = redisCommand(node[from], "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS %s", ports[to], "", key);
        assert_non_null(r);
        assert_int_not_equal(r->type, REDIS_REPLY_ERROR); /* "NOKEY" (a status) when the key was never written */
        freeReplyObject(r);
    }
    if (finish)
        for (int i = 0; i != MASTERS; ++i)
            admin_do((to + i) % MASTERS, "CLUSTER SETSLOT %u NODE %s", slot, to_id);
    return to;
}

static void moved_is_followed_and_learnt(void **state)
{
    client_t *c;
    const char *key = "moved:{m}";
    const char *set[] = {"SET", key, "before"}, *get[] = {"GET", key};
    int from, to;
    long long moved;
    result_t res;

    (void)state;
    c = client_ready();
    assert_int_equal(command(c, 3, set).err, WH_OK);
    from = owner_of(key);
    to = move_slot(key, from, true);
    moved = redirects_answered(from);
    res = command(c, 2, get);
    assert_int_equal(res.err, WH_OK);
    assert_string_equal(res.str, "before");
    assert_int_equal(redirects_answered(from), moved + 1); /* asked the old owner once… */
    res = command(c, 2, get);
    assert_string_equal(res.str, "before");
    assert_int_equal(redirects_answered(from), moved + 1); /* …and then went to the new one directly */
    assert_int_equal(owner_of(key), to);
    client_free(c);
}

static void ask_is_followed(void **state)
{
    client_t *c;
    const char *key = "ask:{q}";
    const char *set[] = {"SET", key, "during"};
    char to_id[64];
    unsigned slot = wh_cluster_keyslot(key, strlen(key));
    int from, to;
    long long asks;
    redisReply *r;

    (void)state;
    c = client_ready();
    from = owner_of(key);
    to = move_slot(key, from, false); /* migrating, the key not on the source: the source answers ASK */
    asks = info_number(from, "errorstats", "errorstat_ASK:count=");
    assert_int_equal(command(c, 3, set).err, WH_OK);
    assert_int_equal(info_number(from, "errorstats", "errorstat_ASK:count="), asks + 1);
    admin_do(to, "ASKING");
    r = admin(to, "GET %s", key);
    assert_string_equal(r->str, "during");
    freeReplyObject(r);
    node_id(to, to_id, sizeof(to_id));
    for (int i = 0; i != MASTERS; ++i)
        admin_do((to + i) % MASTERS, "CLUSTER SETSLOT %u NODE %s", slot, to_id);
    client_free(c);
}

static void scan_goes_to_the_tag_master(void **state)
{
    client_t *c;
    result_t res = {0};
    const char *set[] = {"SET", "wh:x{c:scan}", "1"};
    const char *scan[] = {"SCAN", "0", "MATCH", "wh:*{c:scan}*", "COUNT", "1000"};

    (void)state;
    c = client_ready();
    assert_int_equal(command(c, 3, set).err, WH_OK);
    assert_int_equal(wh_redis_command_at(c->r, "{c:scan}", 8, on_result, &res, 6, scan, NULL), WH_OK);
    assert_true(run_until(&res.done, 3000));
    assert_int_equal(res.err, WH_OK);
    assert_int_equal(res.type, REDIS_REPLY_ARRAY);
    assert_int_equal(res.scanned, 1); /* on any other master the walk finds nothing */
    client_free(c);
}

/* WHARF_REDIS_URL's first address does not answer: the client goes on to the next seed, and finds the cluster. */
static void next_seed_when_the_first_is_down(void **state)
{
    (void)state;
    client_free(client_start(1 /* nothing listens there */, ports[2]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(routes_each_key_to_its_master, teardown_client),
        cmocka_unit_test_teardown(scripts_on_every_master, teardown_client),
        cmocka_unit_test_teardown(cross_slot_refused, teardown_client),
        cmocka_unit_test_teardown(moved_is_followed_and_learnt, teardown_client),
        cmocka_unit_test_teardown(ask_is_followed, teardown_client),
        cmocka_unit_test_teardown(scan_goes_to_the_tag_master, teardown_client),
        cmocka_unit_test_teardown(next_seed_when_the_first_is_down, teardown_client),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
