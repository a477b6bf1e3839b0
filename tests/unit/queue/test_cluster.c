/*
 * queue/cluster.c, the slot routing wharf does itself: the key -> slot function against the specification's
 * examples and against a real 3-master cluster's CLUSTER KEYSLOT; the slot of a command; the slot map learnt from
 * that cluster's CLUSTER SLOTS (a key written through the mapped master is accepted, through any other master is
 * answered MOVED to it); MOVED/ASK parsing, malformed redirections refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../../queue/cluster.h"
#include "../redis_server.h"

#define MASTERS 3

static redisContext *rc;
static int ports[MASTERS];

static int setup(void **state)
{
    (void)state;
    return (rc = wh_test_cluster_start("test_cluster", MASTERS, ports)) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wh_test_cluster_stop(rc);
    return 0;
}

static unsigned slot_c(const char *key)
{
    return wh_cluster_keyslot(key, strlen(key));
}

/* The examples of the Cluster specification ("Keys hash tags") and known slots. */
static void test_keyslot_spec(void **state)
{
    (void)state;
    assert_int_equal(slot_c("123456789"), 0x31c3 & 16383); /* CRC16/XMODEM's check value */
    assert_int_equal(slot_c("foo"), 12182);
    assert_int_equal(slot_c("bar"), 5061);
    assert_int_equal(slot_c("{user1000}.following"), slot_c("{user1000}.followers"));
    assert_int_equal(slot_c("{user1000}.following"), slot_c("user1000"));
    assert_int_equal(slot_c("foo{}{bar}"), 8363); /* empty tag: the whole key (CLUSTER KEYSLOT's answer) */
    assert_int_equal(slot_c("foo{{bar}}zap"), 4015);
    assert_int_equal(slot_c("foo{{bar}}zap"), slot_c("{bar"));
    assert_int_equal(slot_c("foo{bar}{zap}"), slot_c("bar"));
    assert_int_equal(slot_c("wh:q:{p3}"), slot_c("wh:dq:{p3}"));
    assert_int_equal(wh_cluster_keyslot("", 0), 0);
    assert_int_equal(wh_cluster_keyslot("a\0{b}", 5), slot_c("b")); /* binary-safe */
}

/* Against the server itself: edge cases and a few thousand pseudo-random binary keys. */
static void test_keyslot_matches_cluster_keyslot(void **state)
{
    static const char *const edge[] = {
        "{",     "}",    "{}",         "}{",     "{a",  "a}",  "{a}",  "{a}{b}", "{{}}",   "x{}y{z}",
        "{}{x}", "{p0}", "wh:q:{p15}", "évé{ü}", "{ }", "a{b", "a}b{", "{{a}}",  "{a}}}}", "wh:obj:{c:conn_1}:contact:9"};
    uint32_t x = 88172645u;

    (void)state;
    for (size_t i = 0; i != sizeof(edge) / sizeof(edge[0]); ++i) {
        redisReply *r = redisCommand(rc, "CLUSTER KEYSLOT %s", edge[i]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if ((unsigned)r->integer != slot_c(edge[i]))
            fail_msg("key '%s': CLUSTER KEYSLOT %lld, wh_cluster_keyslot %u", edge[i], r->integer, slot_c(edge[i]));
        freeReplyObject(r);
    }
    for (int n = 0; n != 3000; ++n) {
        unsigned char key[24];
        size_t len = 1 + n % (sizeof(key) - 1);
        redisReply *r;
        for (size_t i = 0; i != len; ++i) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            /* braces often, so that tags of every shape come up */
            key[i] = (x & 7) == 0 ? '{' : (x & 7) == 1 ? '}' : (unsigned char)(x >> 8);
        }
        r = redisCommand(rc, "CLUSTER KEYSLOT %b", key, len);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        assert_int_equal((unsigned)r->integer, wh_cluster_keyslot((const char *)key, len));
        freeReplyObject(r);
    }
}

static int cmd_slot(int argc, const char **argv)
{
    return wh_cluster_command_slot(argc, argv, NULL);
}

static void test_command_slot(void **state)
{
    const char *get[] = {"GET", "wh:q:{p1}"};
    const char *ping[] = {"PING"};
    const char *info[] = {"info", "cluster"};
    const char *eval_one[] = {"EVALSHA", "abc", "2", "wh:q:{p1}", "wh:dq:{p1}", "arg"};
    const char *eval_two[] = {"evalsha", "abc", "2", "wh:q:{p1}", "wh:dq:{p2}"};
    const char *eval_none[] = {"EVAL", "return 1", "0", "x"};
    const char *eval_bad[] = {"EVAL", "return 1", "3", "wh:q:{p1}"};
    const char *eval_nan[] = {"EVAL", "return 1", "x1"};
    const char *xrg[] = {"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "wh:q:{p1}", ">"};
    const char *xrg_two[] = {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "wh:q:{p1}", "wh:q:{p2}", ">", ">"};
    const char *xrg_odd[] = {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "wh:q:{p1}", "wh:q:{p1}", ">"};
    const char *del_same[] = {"DEL", "a{t}", "b{t}"};
    const char *del_two[] = {"UNLINK", "a{t}", "b{u}"};
    const char *xrg_named[] = {"XREADGROUP", "GROUP", "streams", "STREAMS", "STREAMS", "wh:q:{p1}", ">"};
    const char *xgroup[] = {"XGROUP", "CREATE", "wh:q:{p3}", "wharf", "$", "MKSTREAM"};
    const char *xinfo[] = {"XINFO", "STREAM", "wh:q:{p4}"};
    const char *usage[] = {"MEMORY", "USAGE", "wh:evb:{p5}:1"};
    const char *scan[] = {"SCAN", "0", "MATCH", "wh:*"};
    const char *load[] = {"SCRIPT", "LOAD", "return 1"};
    const char *wait[] = {"WAIT", "1", "100"};

    (void)state;
    assert_int_equal(cmd_slot(2, get), (int)slot_c("p1"));
    assert_int_equal(cmd_slot(1, ping), WH_CLUSTER_NO_KEY);
    assert_int_equal(cmd_slot(2, info), WH_CLUSTER_NO_KEY);
    assert_int_equal(cmd_slot(6, eval_one), (int)slot_c("p1"));
    assert_int_equal(cmd_slot(5, eval_two), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(4, eval_none), WH_CLUSTER_NO_KEY);
    assert_int_equal(cmd_slot(4, eval_bad), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(3, eval_nan), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(9, xrg), (int)slot_c("p1"));
    assert_int_equal(cmd_slot(9, xrg_two), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(8, xrg_odd), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(3, del_same), (int)slot_c("t"));
    assert_int_equal(cmd_slot(3, del_two), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(wh_cluster_command_slot(0, NULL, NULL), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(7, xrg_named), (int)slot_c("p1")); /* a group called "streams" is no keyword */
    assert_int_equal(cmd_slot(6, xgroup), (int)slot_c("p3"));    /* the key after the subcommand */
    assert_int_equal(cmd_slot(3, xinfo), (int)slot_c("p4"));
    assert_int_equal(cmd_slot(3, usage), (int)slot_c("p5"));
    assert_int_equal(cmd_slot(2, xgroup), WH_CLUSTER_CROSS_SLOT);
    assert_int_equal(cmd_slot(4, scan), WH_CLUSTER_EVERY_NODE);
    assert_int_equal(cmd_slot(3, load), WH_CLUSTER_EVERY_NODE);
    assert_int_equal(cmd_slot(3, wait), WH_CLUSTER_LAST_NODE);
    {
        const char *bin[] = {"GET", "k{\0}"};
        const size_t lens[] = {3, 5};
        assert_int_equal(wh_cluster_command_slot(2, bin, lens), (int)wh_cluster_keyslot("\0", 1));
    }
}

static void test_redirect_parse(void **state)
{
    wh_redirect_t r;

    (void)state;
#define PARSE(s) wh_cluster_redirect((s), strlen(s), &r)
    assert_true(PARSE("MOVED 3999 127.0.0.1:6381"));
    assert_int_equal(r.kind, WH_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 6381);
    assert_true(PARSE("ASK 16383 redis-2.redis.svc:7000"));
    assert_int_equal(r.kind, WH_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.host, "redis-2.redis.svc");
    assert_true(PARSE("MOVED 0 ::1:7000"));
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
    assert_true(PARSE("MOVED 12 :7001")); /* no endpoint named: the node that answered */
    assert_string_equal(r.host, "");
    assert_false(PARSE("MOVED 16384 127.0.0.1:1"));
    assert_false(PARSE("MOVED -1 127.0.0.1:1"));
    assert_false(PARSE("MOVED 1 127.0.0.1:0"));
    assert_false(PARSE("MOVED 1 127.0.0.1:65536"));
    assert_false(PARSE("MOVED 1 127.0.0.1"));
    assert_false(PARSE("MOVED 1 127.0.0.1:1 extra"));
    assert_false(PARSE("MOVED x 127.0.0.1:1"));
    assert_false(PARSE("MOVED"));
    assert_false(PARSE("ERR unknown command"));
    assert_false(PARSE("CLUSTERDOWN The cluster is down"));
#undef PARSE
}

/* The map learnt from the live cluster covers every slot with its 3 masters, and agrees with the servers. */
static void test_slotmap_live(void **state)
{
    redisReply *r = redisCommand(rc, "CLUSTER SLOTS");
    wh_slotmap_t *m = malloc(sizeof(*m));
    redisContext *nodes[MASTERS];
    char errbuf[WH_ERRBUF_SIZE];

    (void)state;
    assert_non_null(m);
    assert_int_equal(wh_slotmap_from_slots(m, r, "127.0.0.1", errbuf), WH_OK);
    freeReplyObject(r);
    assert_int_equal(m->nnodes, MASTERS);
    assert_true(wh_slotmap_complete(m));
    for (int i = 0; i != MASTERS; ++i) {
        nodes[i] = redisConnect("127.0.0.1", ports[i]);
        assert_true(nodes[i] != NULL && nodes[i]->err == 0);
    }
    for (int k = 0; k != 64; ++k) {
        char key[32];
        const wh_cluster_node_t *owner;
        int own = -1;
        wh_redirect_t red;
        snprintf(key, sizeof(key), "wh:q:{p%d}", k);
        owner = wh_slotmap_node(m, slot_c(key));
        assert_non_null(owner);
        assert_string_equal(owner->host, "127.0.0.1");
        for (int i = 0; i != MASTERS; ++i)
            if (ports[i] == owner->port)
                own = i;
        assert_true(own >= 0);
        for (int i = 0; i != MASTERS; ++i) {
            r = redisCommand(nodes[i], "SET %s v", key);
            assert_non_null(r);
            if (i == own) {
                assert_int_equal(r->type, REDIS_REPLY_STATUS);
            } else {
                assert_int_equal(r->type, REDIS_REPLY_ERROR);
                assert_true(wh_cluster_redirect(r->str, r->len, &red));
                assert_int_equal(red.kind, WH_REDIRECT_MOVED);
                assert_int_equal(red.slot, slot_c(key));
                assert_int_equal(red.port, owner->port);
            }
            freeReplyObject(r);
        }
    }
    /* a MOVED re-points one slot; an unknown node is added */
    assert_true(wh_slotmap_move(m, 5, "10.0.0.9", 7000));
    assert_int_equal(m->nnodes, MASTERS + 1);
    assert_int_equal(wh_slotmap_node(m, 5)->port, 7000);
    assert_false(wh_slotmap_move(m, WH_CLUSTER_SLOTS, "10.0.0.9", 7000));
    assert_false(wh_slotmap_move(m, 6, "", 7000)); /* ":port": the caller names the node that answered */
    for (int i = 0; i != MASTERS; ++i)
        redisFree(nodes[i]);
    free(m);
}

/* Replies of another shape are refused with a reason; an unknown endpoint ("?") is the seed's host. */
static void test_slotmap_malformed(void **state)
{
    wh_slotmap_t *m = malloc(sizeof(*m));
    char errbuf[WH_ERRBUF_SIZE];
    redisReply port = {.type = REDIS_REPLY_INTEGER, .integer = 7000};
    redisReply host = {.type = REDIS_REPLY_STRING, .str = "?", .len = 1};
    redisReply *mparts[] = {&host, &port};
    redisReply master = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = mparts};
    redisReply first = {.type = REDIS_REPLY_INTEGER, .integer = 0}, last = {.type = REDIS_REPLY_INTEGER, .integer = 99};
    redisReply *rparts[] = {&first, &last, &master};
    redisReply range = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = rparts};
    redisReply *top[] = {&range};
    redisReply reply = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = top};
    redisReply notarray = {.type = REDIS_REPLY_STRING, .str = "x", .len = 1};

    (void)state;
    assert_non_null(m);
    assert_int_equal(wh_slotmap_from_slots(m, &reply, "seed.example", errbuf), WH_OK);
    assert_string_equal(wh_slotmap_node(m, 99)->host, "seed.example");
    assert_null(wh_slotmap_node(m, 100));
    assert_false(wh_slotmap_complete(m));
    last.integer = 16384;
    assert_int_equal(wh_slotmap_from_slots(m, &reply, "seed", errbuf), WH_EMALFORMED);
    last.integer = 99;
    port.integer = 0;
    assert_int_equal(wh_slotmap_from_slots(m, &reply, "seed", errbuf), WH_EMALFORMED);
    port.integer = 7000;
    range.elements = 2;
    assert_int_equal(wh_slotmap_from_slots(m, &reply, "seed", errbuf), WH_EMALFORMED);
    assert_int_equal(wh_slotmap_from_slots(m, &notarray, "seed", errbuf), WH_EMALFORMED);
    host = (redisReply){.type = REDIS_REPLY_NIL}; /* cluster-preferred-endpoint-type unknown-endpoint, RESP2 */
    range.elements = 3;
    assert_int_equal(wh_slotmap_from_slots(m, &reply, "seed.nil", errbuf), WH_OK);
    assert_string_equal(wh_slotmap_node(m, 0)->host, "seed.nil");
    assert_int_equal(wh_slotmap_from_slots(m, NULL, "seed", errbuf), WH_EMALFORMED);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyslot_spec), cmocka_unit_test(test_keyslot_matches_cluster_keyslot),
        cmocka_unit_test(test_command_slot), cmocka_unit_test(test_redirect_parse),
        cmocka_unit_test(test_slotmap_live), cmocka_unit_test(test_slotmap_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
