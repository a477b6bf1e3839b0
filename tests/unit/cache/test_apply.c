/*
 * cache/scripts/apply.lua and the arguments cache/cache.c builds for it, against a real redis-server started
 * here on a free port (the CI installs it; if it is missing the test fails, it never skips). Each test writes
 * under its own connection id, so tests share one server and never see each other's keys.
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
#include <cmocka.h>
#include "../../../cache/cache.h"
#include "../../../common/unified.h"
#include "../../../queue/scripts.h"
#include "../redis_server.h"

static redisContext *rc;

/* ---- the server ---------------------------------------------------------------------------------------- */

static int setup_server(void **state)
{
    (void)state;
    return (rc = wh_test_redis_start("test_apply")) != NULL ? 0 : -1;
}

static int teardown_server(void **state)
{
    (void)state;
    wh_test_redis_stop(rc);
    rc = NULL;
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------------------------- */

#define SYNC_ALL ((wh_cache_synced_t)0xffffffffu)

typedef struct {
    const char *conn, *type, *id, *action;
    int64_t at;
    const char *fields; /* JSON object text, or NULL */
    bool thin;
    const char *merged; /* JSON array text, or NULL */
    wh_cache_synced_t synced;
} change_t;

/*
 * EVAL of apply.lua with the arguments cache.c builds for `cc`; returns the reply (caller frees). The connection's
 * hash is created first unless `no_connection` (apply.lua writes nothing for a connection that is gone).
 */
static redisReply *eval_apply(const wh_cache_change_t *cc, bool no_connection)
{
    wh_cache_args_t a;
    const char **argv;
    size_t *lens;
    char nkeys[8];
    redisReply *r;

    if (!no_connection)
        freeReplyObject(redisCommand(rc, "HSETNX wh:conn:{c:%s} id %s", cc->connection_id, cc->connection_id));
    wh_cache_args_init(&a);
    snprintf(nkeys, sizeof(nkeys), "%d", wh_cache_args_apply(&a, cc));
    argv = calloc(a.n + 3, sizeof(*argv));
    lens = calloc(a.n + 3, sizeof(*lens));
    argv[0] = "EVAL", lens[0] = 4;
    argv[1] = wh_script_apply.source, lens[1] = wh_script_apply.len;
    argv[2] = nkeys, lens[2] = strlen(nkeys);
    for (size_t i = 0; i != a.n; ++i)
        argv[i + 3] = a.argv[i], lens[i + 3] = a.len[i];
    r = redisCommandArgv(rc, (int)a.n + 3, argv, lens);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        print_error("apply %s %s %s at %lld: %s\n", cc->type, cc->object_id, cc->action, (long long)cc->occurred_at, r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    free(argv);
    free(lens);
    wh_cache_args_dispose(&a);
    return r;
}

/* Runs apply.lua for `c`; returns the reply (caller frees). */
static redisReply *apply(change_t c)
{
    json_t *fields = c.fields != NULL ? json_loads(c.fields, 0, NULL) : NULL;
    json_t *merged = c.merged != NULL ? json_loads(c.merged, 0, NULL) : NULL;
    wh_cache_change_t cc = {.connection_id = c.conn,
                            .type = c.type,
                            .object_id = c.id,
                            .action = c.action,
                            .occurred_at = c.at,
                            .thin = c.thin,
                            .fields = fields,
                            .merged_ids = merged,
                            .synced = c.synced != 0 ? c.synced : SYNC_ALL};
    redisReply *r = eval_apply(&cc, false);

    assert_int_equal(r->elements, 5);
    json_decref(fields);
    json_decref(merged);
    return r;
}

static const char *apply_state(change_t c)
{
    static char state[16];
    redisReply *r = apply(c);
    snprintf(state, sizeof(state), "%s", r->element[0]->str);
    freeReplyObject(r);
    return state;
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    va_start(ap, fmt);
    r = redisvCommand(rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    return r;
}

/* A flat field/value reply (HGETALL, or a record) as a JSON object of strings, sorted; or a set as a sorted array. */
static char *dump_reply(const redisReply *r, bool pairs)
{
    json_t *j = pairs ? json_object() : json_array();
    char *s;
    for (size_t i = 0; i < r->elements; i += pairs ? 2 : 1) {
        if (pairs)
            json_object_setn_new(j, r->element[i]->str, r->element[i]->len,
                                 json_stringn(r->element[i + 1]->str, r->element[i + 1]->len));
        else
            json_array_append_new(j, json_stringn(r->element[i]->str, r->element[i]->len));
    }
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return s;
}

#define assert_text(got, want)                                                                                                     \
    do {                                                                                                                           \
        if (strcmp((got), (want)) != 0) {                                                                                          \
            print_error("%s:%d\n  got  %s\n  want %s\n", __FILE__, __LINE__, (got), (want));                                       \
            fail();                                                                                                                \
        }                                                                                                                          \
    } while (0)

/* The whole of `key` rendered as text: a hash as a sorted object, a zset as [member, score…] in order, a set sorted. */
static char *show(const char *key)
{
    redisReply *t = cmd("TYPE %s", key), *r;
    char *s;
    if (strcmp(t->str, "hash") == 0) {
        r = cmd("HGETALL %s", key);
        s = dump_reply(r, true);
    } else if (strcmp(t->str, "zset") == 0) {
        r = cmd("ZRANGE %s 0 -1 WITHSCORES", key);
        s = dump_reply(r, false);
    } else if (strcmp(t->str, "set") == 0) {
        r = cmd("SORT %s ALPHA", key);
        s = dump_reply(r, false);
    } else {
        r = NULL;
        s = strdup("none");
    }
    freeReplyObject(t);
    if (r != NULL)
        freeReplyObject(r);
    return s;
}

#define assert_key(key, want)                                                                                                      \
    do {                                                                                                                           \
        char *got_ = show(key);                                                                                                    \
        bool same_ = strcmp(got_, (want)) == 0;                                                                                    \
        if (!same_)                                                                                                                \
            print_error("%s:%d %s\n  got  %s\n  want %s\n", __FILE__, __LINE__, (key), got_, (want));                              \
        free(got_);                                                                                                                \
        if (!same_)                                                                                                                \
            fail();                                                                                                                \
    } while (0)

/*
 * The versions of the record whose version hash is `ver_key`, as a sorted object of strings: each field of its wh:obj
 * hash but "id" at its own entry, else at "_at" (apply.lua's header), plus the other entries ("_deleted", "_stale",
 * "_merged", "_ix.<field>"; a field entry of a field the record lacks, which would be a defect, shows too).
 */
static char *show_versions(const char *ver_key)
{
    char obj_key[256];
    redisReply *v, *o;
    json_t *j = json_object();
    const char *at = NULL;
    char *s;

    snprintf(obj_key, sizeof(obj_key), "wh:obj:%s", ver_key + strlen("wh:ver:"));
    v = cmd("HGETALL %s", ver_key);
    o = cmd("HGETALL %s", obj_key);
    for (size_t i = 0; i < v->elements; i += 2) {
        if (strcmp(v->element[i]->str, "_at") == 0)
            at = v->element[i + 1]->str;
        else
            json_object_set_new(j, v->element[i]->str, json_string(v->element[i + 1]->str));
    }
    for (size_t i = 0; i < o->elements; i += 2)
        if (strcmp(o->element[i]->str, "id") != 0 && json_object_get(j, o->element[i]->str) == NULL)
            json_object_set_new(j, o->element[i]->str, at != NULL ? json_string(at) : json_null());
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    freeReplyObject(v);
    freeReplyObject(o);
    return s;
}

#define assert_versions(key, want)                                                                                                 \
    do {                                                                                                                           \
        char *got_ = show_versions(key);                                                                                           \
        bool same_ = strcmp(got_, (want)) == 0;                                                                                    \
        if (!same_)                                                                                                                \
            print_error("%s:%d versions of %s\n  got  %s\n  want %s\n", __FILE__, __LINE__, (key), got_, (want));                  \
        free(got_);                                                                                                                \
        if (!same_)                                                                                                                \
            fail();                                                                                                                \
    } while (0)

/* ---- tests ---------------------------------------------------------------------------------------------- */

/* HubSpot sends one property per event: every arrival order of three of them ends in the same state. */
static void out_of_order_permutations(void **state)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const change_t updates[3] = {
        {.type = "contact", .id = "1", .action = "updated", .at = 100, .fields = "{\"email\": \"a@x.io\"}"},
        {.type = "contact", .id = "1", .action = "updated", .at = 200, .fields = "{\"lastName\": \"Smith\"}"},
        {.type = "contact", .id = "1", .action = "updated", .at = 300, .fields = "{\"email\": \"B@x.io\"}"},
    };
    (void)state;
    for (int p = 0; p != 6; ++p) {
        char conn[16], key[128];
        snprintf(conn, sizeof(conn), "perm%d", p);
        for (int k = 0; k != 3; ++k) {
            change_t c = updates[perms[p][k]];
            c.conn = conn;
            assert_text(apply_state(c), "applied");
        }
        snprintf(key, sizeof(key), "wh:obj:{c:%s}:contact:1", conn);
        assert_key(key, "{\"email\":\"\\\"B@x.io\\\"\",\"id\":\"\\\"1\\\"\",\"lastName\":\"\\\"Smith\\\"\"}");
        snprintf(key, sizeof(key), "wh:ver:{c:%s}:contact:1", conn);
        assert_versions(key, "{\"email\":\"300\",\"lastName\":\"200\"}");
        snprintf(key, sizeof(key), "wh:ixt:{c:%s}:contact:email", conn);
        assert_key(key, "[\"b@x.io\\u00001\",\"0\"]");
        snprintf(key, sizeof(key), "wh:ixt:{c:%s}:contact:lastName", conn);
        assert_key(key, "[\"smith\\u00001\",\"0\"]");
        snprintf(key, sizeof(key), "wh:ids:{c:%s}:contact", conn);
        assert_key(key, "[\"1\",\"0\"]");
    }
}

/* Equal timestamps are broken by the value, so two writers of one millisecond converge too. */
static void tie_broken_by_value(void **state)
{
    change_t a = {.conn = "tie1", .type = "contact", .id = "1", .action = "updated", .at = 5, .fields = "{\"email\": \"a\"}"};
    change_t b = a;
    (void)state;
    b.fields = "{\"email\": \"b\"}";
    apply_state(a);
    apply_state(b);
    a.conn = b.conn = "tie2";
    apply_state(b);
    apply_state(a);
    assert_key("wh:obj:{c:tie1}:contact:1", "{\"email\":\"\\\"b\\\"\",\"id\":\"\\\"1\\\"\"}");
    assert_key("wh:obj:{c:tie2}:contact:1", "{\"email\":\"\\\"b\\\"\",\"id\":\"\\\"1\\\"\"}");
}

/* A delete sticks against late and later updates; a later restore lifts it, with its index entries. */
static void delete_then_late_update_then_restore(void **state)
{
    (void)state;
    assert_text(apply_state((change_t){.conn = "del",
                                       .type = "deal",
                                       .id = "9",
                                       .action = "created",
                                       .at = 100,
                                       .fields = "{\"name\": \"Big\", \"amount\": \"1500\", \"closeDate\": \"2024-12-01\"}"}),
                "applied");
    assert_key("wh:ixn:{c:del}:deal:amount", "[\"9\",\"1500\"]");
    assert_key("wh:ixn:{c:del}:deal:closeDate", "[\"9\",\"1733011200000\"]");
    assert_text(apply_state((change_t){.conn = "del", .type = "deal", .id = "9", .action = "deleted", .at = 300}), "deleted");
    assert_key("wh:ids:{c:del}:deal", "none");
    assert_key("wh:ixt:{c:del}:deal:name", "none");
    assert_key("wh:ixn:{c:del}:deal:amount", "none");
    /* late (200) and later (400) updates: neither resurrects it */
    assert_text(apply_state((change_t){
                    .conn = "del", .type = "deal", .id = "9", .action = "updated", .at = 200, .fields = "{\"name\": \"Late\"}"}),
                "ignored");
    assert_text(apply_state((change_t){
                    .conn = "del", .type = "deal", .id = "9", .action = "updated", .at = 400, .fields = "{\"name\": \"Later\"}"}),
                "ignored");
    assert_text(apply_state((change_t){.conn = "del", .type = "deal", .id = "9", .action = "deleted", .at = 250}), "ignored");
    assert_key("wh:ids:{c:del}:deal", "none");
    /* a restore older than the delete does nothing; a later one brings back the record and its index entries */
    assert_text(apply_state((change_t){.conn = "del", .type = "deal", .id = "9", .action = "restored", .at = 299}), "ignored");
    assert_text(apply_state((change_t){.conn = "del", .type = "deal", .id = "9", .action = "restored", .at = 500}), "applied");
    assert_key("wh:ids:{c:del}:deal", "[\"9\",\"0\"]");
    assert_key("wh:ixt:{c:del}:deal:name", "[\"big\\u00009\",\"0\"]");
    assert_key("wh:ixn:{c:del}:deal:amount", "[\"9\",\"1500\"]");
    assert_key("wh:ixn:{c:del}:deal:closeDate", "[\"9\",\"1733011200000\"]");
    assert_versions("wh:ver:{c:del}:deal:9", "{\"amount\":\"100\",\"closeDate\":\"100\",\"name\":\"100\"}");
    /* created after a delete lifts it too */
    apply_state((change_t){.conn = "del", .type = "deal", .id = "9", .action = "deleted", .at = 600});
    assert_text(apply_state((change_t){
                    .conn = "del", .type = "deal", .id = "9", .action = "created", .at = 700, .fields = "{\"name\": \"Again\"}"}),
                "applied");
    assert_key("wh:ixt:{c:del}:deal:name", "[\"again\\u00009\",\"0\"]");
}

/* Every write keeps the indexes exact: changed values move, null removes, dates and numbers become scores. */
static void index_maintenance(void **state)
{
    (void)state;
    apply_state((change_t){.conn = "ix",
                           .type = "contact",
                           .id = "1",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"lastName\": \"SMITH\", \"updatedAt\": \"2024-12-01T10:00:00.500Z\"}"});
    apply_state((change_t){.conn = "ix",
                           .type = "contact",
                           .id = "2",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"lastName\": \"smith\", \"updatedAt\": \"2024-12-01T12:00:00+02:00\"}"});
    /* "SMITH" and "smith" index the same */
    assert_key("wh:ixt:{c:ix}:contact:lastName", "[\"smith\\u00001\",\"0\",\"smith\\u00002\",\"0\"]");
    assert_key("wh:ixn:{c:ix}:contact:updatedAt", "[\"2\",\"1733047200000\",\"1\",\"1733047200500\"]");
    /* a change moves the entry */
    apply_state((change_t){.conn = "ix",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 2,
                           .fields = "{\"lastName\": \"Smithers\", \"updatedAt\": \"2024-12-02\"}"});
    assert_key("wh:ixt:{c:ix}:contact:lastName", "[\"smith\\u00002\",\"0\",\"smithers\\u00001\",\"0\"]");
    assert_key("wh:ixn:{c:ix}:contact:updatedAt", "[\"2\",\"1733047200000\",\"1\",\"1733097600000\"]");
    /* empty string: indexed (eq "" finds it); unicode: only ASCII letters are lower-cased */
    apply_state((change_t){.conn = "ix",
                           .type = "contact",
                           .id = "3",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"lastName\": \"\", \"firstName\": \"ÉRIC Ünal\"}"});
    assert_key("wh:ixt:{c:ix}:contact:firstName", "[\"Éric Ünal\\u00003\",\"0\"]");
    assert_key("wh:ixt:{c:ix}:contact:lastName", "[\"\\u00003\",\"0\",\"smith\\u00002\",\"0\",\"smithers\\u00001\",\"0\"]");
    /* null removes; a value that is no date or number leaves the number index */
    apply_state((change_t){.conn = "ix",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 3,
                           .fields = "{\"lastName\": null, \"updatedAt\": \"soon\"}"});
    assert_key("wh:ixt:{c:ix}:contact:lastName", "[\"\\u00003\",\"0\",\"smith\\u00002\",\"0\"]");
    assert_key("wh:ixn:{c:ix}:contact:updatedAt", "[\"2\",\"1733047200000\"]");
    /* a stale write does not touch the index */
    apply_state(
        (change_t){.conn = "ix", .type = "contact", .id = "2", .action = "updated", .at = 0, .fields = "{\"lastName\": \"Old\"}"});
    assert_key("wh:ixt:{c:ix}:contact:lastName", "[\"\\u00003\",\"0\",\"smith\\u00002\",\"0\"]");
    /* numbers: JSON numbers and numeric strings */
    apply_state((change_t){.conn = "ix", .type = "deal", .id = "7", .action = "created", .at = 1, .fields = "{\"amount\": 12.5}"});
    apply_state(
        (change_t){.conn = "ix", .type = "deal", .id = "8", .action = "created", .at = 1, .fields = "{\"amount\": \"-3\"}"});
    assert_key("wh:ixn:{c:ix}:deal:amount", "[\"8\",\"-3\",\"7\",\"12.5\"]");
    /* unindexed fields and "additional" never make index keys */
    apply_state((change_t){.conn = "ix",
                           .type = "deal",
                           .id = "7",
                           .action = "updated",
                           .at = 2,
                           .fields = "{\"additional\": {\"amount\": \"1\"}, \"probability\": \"0.5\"}"});
    assert_key("wh:ixn:{c:ix}:deal:amount", "[\"8\",\"-3\",\"7\",\"12.5\"]");
    assert_key("wh:ixn:{c:ix}:deal:probability", "none");
}

/* A merge tombstones each loser with "_merged" = winner and takes it out of ids and indexes. */
static void merge(void **state)
{
    redisReply *r;
    (void)state;
    apply_state(
        (change_t){.conn = "mg", .type = "contact", .id = "1", .action = "created", .at = 1, .fields = "{\"email\": \"w@x\"}"});
    apply_state((change_t){.conn = "mg",
                           .type = "contact",
                           .id = "2",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"email\": \"l@x\", \"accountId\": \"A\"}"});
    assert_key("wh:as:{c:mg}:account:A:contactIds", "[\"2\"]");
    r = apply(
        (change_t){.conn = "mg", .type = "contact", .id = "1", .action = "merged", .at = 5, .merged = "[\"2\", \"3\", \"1\"]"});
    assert_string_equal(r->element[0]->str, "applied");
    freeReplyObject(r);
    assert_versions("wh:ver:{c:mg}:contact:2", "{\"_deleted\":\"5\",\"_merged\":\"1\",\"accountId\":\"1\",\"email\":\"1\"}");
    assert_versions("wh:ver:{c:mg}:contact:3", "{\"_deleted\":\"5\",\"_merged\":\"1\"}");
    assert_key("wh:ids:{c:mg}:contact", "[\"1\",\"0\"]");
    assert_key("wh:ixt:{c:mg}:contact:email", "[\"w@x\\u00001\",\"0\"]");
    assert_key("wh:as:{c:mg}:account:A:contactIds", "none");
    /* a late update to the loser does not bring it back */
    assert_text(apply_state((change_t){
                    .conn = "mg", .type = "contact", .id = "2", .action = "updated", .at = 4, .fields = "{\"email\": \"late@x\"}"}),
                "ignored");
}

/* Re-parenting moves the child between its parents' lists; deleting it removes it; restoring puts it back. */
static void association_moves(void **state)
{
    const wh_object_type_t *task = wh_object_type_find(wh_str_c("task")), *deal = wh_object_type_find(wh_str_c("deal"));
    wh_cache_synced_t synced = (1u << (task - wh_object_types)) | (1u << (deal - wh_object_types));
    redisReply *r;
    char *rec;
    (void)state;
    apply_state((change_t){.conn = "as",
                           .type = "task",
                           .id = "T",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"dealId\": \"D1\", \"accountId\": \"A1\"}",
                           .synced = synced});
    assert_key("wh:as:{c:as}:deal:D1:taskIds", "[\"T\"]");
    assert_key("wh:as:{c:as}:account:A1:taskIds", "none"); /* accounts are not synced: no list */
    apply_state((change_t){
        .conn = "as", .type = "task", .id = "T", .action = "updated", .at = 2, .fields = "{\"dealId\": \"D2\"}", .synced = synced});
    assert_key("wh:as:{c:as}:deal:D1:taskIds", "none");
    assert_key("wh:as:{c:as}:deal:D2:taskIds", "[\"T\"]");
    apply_state((change_t){
        .conn = "as", .type = "task", .id = "U", .action = "created", .at = 2, .fields = "{\"dealId\": \"D2\"}", .synced = synced});
    /* the parent's record lists its children, sorted */
    r = apply((change_t){
        .conn = "as", .type = "deal", .id = "D2", .action = "updated", .at = 3, .fields = "{\"name\": \"d\"}", .synced = synced});
    rec = dump_reply(r->element[2], true);
    assert_text(rec, "{\"id\":\"\\\"D2\\\"\",\"name\":\"\\\"d\\\"\",\"taskIds\":\"[\\\"T\\\",\\\"U\\\"]\"}");
    free(rec);
    freeReplyObject(r);
    /* a stale re-parenting (older than dealId's version) does not move it */
    apply_state((change_t){
        .conn = "as", .type = "task", .id = "T", .action = "updated", .at = 1, .fields = "{\"dealId\": \"D9\"}", .synced = synced});
    assert_key("wh:as:{c:as}:deal:D9:taskIds", "none");
    apply_state((change_t){.conn = "as", .type = "task", .id = "T", .action = "deleted", .at = 4, .synced = synced});
    assert_key("wh:as:{c:as}:deal:D2:taskIds", "[\"U\"]");
    apply_state((change_t){.conn = "as", .type = "task", .id = "T", .action = "restored", .at = 5, .synced = synced});
    assert_key("wh:as:{c:as}:deal:D2:taskIds", "[\"T\",\"U\"]");
    /* a parent with no children shows an empty list */
    r = apply((change_t){.conn = "as", .type = "deal", .id = "D1", .action = "updated", .at = 3, .synced = synced});
    rec = dump_reply(r->element[2], true);
    assert_text(rec, "{\"id\":\"\\\"D1\\\"\",\"taskIds\":\"[]\"}");
    free(rec);
    freeReplyObject(r);
}

/* Runs apply.lua for an "associated" event whose extra.association is `association` (JSON text); returns the state. */
static const char *apply_association(const char *conn, const char *association, int64_t at, wh_cache_synced_t synced)
{
    static char state[16];
    json_t *as = json_loads(association, 0, NULL), *fields;
    wh_cache_change_t cc = {
        .connection_id = conn, .type = "account", .object_id = "0", .action = "associated", .occurred_at = at, .thin = true};
    redisReply *r;

    cc.synced = synced != 0 ? synced : SYNC_ALL;
    fields = wh_cache_association(as, &cc);
    assert_non_null(fields);
    r = eval_apply(&cc, false);
    snprintf(state, sizeof(state), "%s", r->element[0]->str);
    freeReplyObject(r);
    json_decref(fields);
    json_decref(as);
    return state;
}

#define CONTACT_TO(parent, removed)                                                                                                \
    "{\"childType\": \"contact\", \"childId\": \"5\", \"field\": \"accountId\", \"parentType\": \"account\", \"parentId\": "       \
    "\"" parent "\", \"removed\": " removed "}"

/*
 * An association change (extra.association) is a write of the child's reference field at the event's time: it
 * creates the child when unknown, moves it between parents last-writer-wins, and a removal clears the field only
 * while it still names that parent.
 */
static void association_change(void **state)
{
    const wh_object_type_t *contact = wh_object_type_find(wh_str_c("contact")), *account = wh_object_type_find(wh_str_c("account"));
    wh_cache_synced_t synced = (1u << (contact - wh_object_types)) | (1u << (account - wh_object_types));
    wh_cache_change_t cc = {0};
    json_t *j;
    (void)state;

    /* what names no unified association is refused: the change is left as it was */
    j = json_loads("{\"childType\": \"contact\", \"childId\": \"5\", \"field\": \"dealId\", \"parentType\": \"deal\", "
                   "\"parentId\": \"9\", \"removed\": false}",
                   0, NULL);
    assert_null(wh_cache_association(j, &cc));
    assert_null(cc.type);
    json_decref(j);
    j = json_loads("{\"childType\": \"contact\", \"childId\": \"5\", \"field\": \"accountId\", \"parentType\": \"account\"}", 0,
                   NULL);
    assert_null(wh_cache_association(j, &cc));
    json_decref(j);
    assert_null(wh_cache_association(NULL, &cc));

    /* an unknown child is created with the reference (like a property change), and joins the parent's list */
    assert_string_equal(apply_association("asc", CONTACT_TO("9", "false"), 100, synced), "applied");
    assert_key("wh:obj:{c:asc}:contact:5", "{\"accountId\":\"\\\"9\\\"\",\"id\":\"\\\"5\\\"\"}");
    assert_versions("wh:ver:{c:asc}:contact:5", "{\"accountId\":\"100\"}");
    assert_key("wh:as:{c:asc}:account:9:contactIds", "[\"5\"]");
    /* an older removal loses */
    apply_association("asc", CONTACT_TO("9", "true"), 50, synced);
    assert_key("wh:as:{c:asc}:account:9:contactIds", "[\"5\"]");
    /* a later association moves it */
    apply_association("asc", CONTACT_TO("7", "false"), 200, synced);
    assert_key("wh:as:{c:asc}:account:9:contactIds", "none");
    assert_key("wh:as:{c:asc}:account:7:contactIds", "[\"5\"]");
    /* removing the old parent, even later, leaves the new one (and its version) alone */
    apply_association("asc", CONTACT_TO("9", "true"), 300, synced);
    assert_key("wh:obj:{c:asc}:contact:5", "{\"accountId\":\"\\\"7\\\"\",\"id\":\"\\\"5\\\"\"}");
    assert_versions("wh:ver:{c:asc}:contact:5", "{\"accountId\":\"200\"}");
    assert_key("wh:as:{c:asc}:account:7:contactIds", "[\"5\"]");
    /* removing the current parent clears the field */
    apply_association("asc", CONTACT_TO("7", "true"), 300, synced);
    assert_key("wh:obj:{c:asc}:contact:5", "{\"accountId\":\"null\",\"id\":\"\\\"5\\\"\"}");
    assert_key("wh:as:{c:asc}:account:7:contactIds", "none");
    /* an association older than the removal arriving late does not win */
    apply_association("asc", CONTACT_TO("7", "false"), 250, synced);
    assert_key("wh:as:{c:asc}:account:7:contactIds", "none");
    /* a removal on an unknown child still records its time, so an older association arriving later loses */
    apply_association("asc2", CONTACT_TO("9", "true"), 100, synced);
    apply_association("asc2", CONTACT_TO("9", "false"), 90, synced);
    assert_key("wh:as:{c:asc2}:account:9:contactIds", "none");
    /* an association and its removal at the same time end removed, in either order */
    apply_association("asc3", CONTACT_TO("9", "false"), 100, synced);
    apply_association("asc3", CONTACT_TO("9", "true"), 100, synced);
    assert_key("wh:obj:{c:asc3}:contact:5", "{\"accountId\":\"null\",\"id\":\"\\\"5\\\"\"}");
    apply_association("asc4", CONTACT_TO("9", "true"), 100, synced);
    apply_association("asc4", CONTACT_TO("9", "false"), 100, synced);
    assert_key("wh:obj:{c:asc4}:contact:5", "{\"accountId\":\"null\",\"id\":\"\\\"5\\\"\"}");
    assert_key("wh:as:{c:asc4}:account:9:contactIds", "none");
    /* a deleted child takes no association: the tombstone holds */
    apply_state((change_t){.conn = "asc5", .type = "contact", .id = "5", .action = "deleted", .at = 100, .synced = synced});
    assert_string_equal(apply_association("asc5", CONTACT_TO("9", "false"), 200, synced), "ignored");
    assert_key("wh:as:{c:asc5}:account:9:contactIds", "none");
    /* the parent's record lists the child */
    apply_association("asc6", CONTACT_TO("9", "false"), 100, synced);
    {
        redisReply *r = apply((change_t){.conn = "asc6",
                                         .type = "account",
                                         .id = "9",
                                         .action = "updated",
                                         .at = 3,
                                         .fields = "{\"name\": \"n\"}",
                                         .synced = synced});
        char *rec = dump_reply(r->element[2], true);
        assert_text(rec, "{\"contactIds\":\"[\\\"5\\\"]\",\"id\":\"\\\"9\\\"\",\"name\":\"\\\"n\\\"\"}");
        free(rec);
        freeReplyObject(r);
    }
}

/* A thin event marks the record stale without touching fields; a non-thin write at or after it clears it. */
static void thin_marks_stale(void **state)
{
    (void)state;
    apply_state(
        (change_t){.conn = "th", .type = "contact", .id = "1", .action = "created", .at = 100, .fields = "{\"email\": \"a@x\"}"});
    apply_state((change_t){.conn = "th",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 200,
                           .thin = true,
                           .fields = "{\"email\": \"ignored@x\"}"});
    assert_versions("wh:ver:{c:th}:contact:1", "{\"_stale\":\"200\",\"email\":\"100\"}");
    assert_key("wh:obj:{c:th}:contact:1", "{\"email\":\"\\\"a@x\\\"\",\"id\":\"\\\"1\\\"\"}");
    apply_state(
        (change_t){.conn = "th", .type = "contact", .id = "1", .action = "updated", .at = 150, .fields = "{\"email\": \"b@x\"}"});
    assert_versions("wh:ver:{c:th}:contact:1", "{\"_stale\":\"200\",\"email\":\"150\"}");
    apply_state(
        (change_t){.conn = "th", .type = "contact", .id = "1", .action = "updated", .at = 200, .fields = "{\"email\": \"c@x\"}"});
    assert_versions("wh:ver:{c:th}:contact:1", "{\"email\":\"200\"}");
    /* a thin event for an unknown record makes a stale stub that lists it */
    apply_state((change_t){.conn = "th", .type = "contact", .id = "2", .action = "created", .at = 300, .thin = true});
    assert_versions("wh:ver:{c:th}:contact:2", "{\"_stale\":\"300\"}");
    assert_key("wh:ids:{c:th}:contact", "[\"1\",\"0\",\"2\",\"0\"]");
}

/* What the worker needs for pushed records: which fields changed, their previous values, whether it existed. */
static void changed_previous_existed(void **state)
{
    redisReply *r;
    char *prev;
    (void)state;
    r = apply((change_t){.conn = "cp",
                         .type = "contact",
                         .id = "1",
                         .action = "updated",
                         .at = 1,
                         .fields = "{\"email\": \"a@x\", \"lastName\": \"L\"}"});
    assert_int_equal(r->element[1]->elements, 2);
    assert_int_equal(r->element[4]->integer, 0);
    freeReplyObject(r);
    /* the same record again, later: nothing changed */
    r = apply((change_t){.conn = "cp",
                         .type = "contact",
                         .id = "1",
                         .action = "updated",
                         .at = 2,
                         .fields = "{\"email\": \"a@x\", \"lastName\": \"L\"}"});
    assert_int_equal(r->element[1]->elements, 0);
    assert_int_equal(r->element[4]->integer, 1);
    freeReplyObject(r);
    r = apply((change_t){.conn = "cp",
                         .type = "contact",
                         .id = "1",
                         .action = "updated",
                         .at = 3,
                         .fields = "{\"email\": \"b@x\", \"lastName\": \"L\"}"});
    assert_int_equal(r->element[1]->elements, 1);
    assert_string_equal(r->element[1]->element[0]->str, "email");
    prev = dump_reply(r->element[3], true);
    assert_text(prev, "{\"email\":\"\\\"a@x\\\"\"}");
    free(prev);
    freeReplyObject(r);
}

/*
 * The version hash of a synced record stays small: a change that wins every field on "_at" moves "_at"; a one-field
 * change writes that field's own entry; versions stay exact per field (a late older push does not overwrite a newer
 * property change, and moves "_at" only for what it won).
 */
static void versions_compact(void **state)
{
    const char *rec = "{\"email\": \"a@x\", \"lastName\": \"A\", \"phone\": \"1\"}";
    (void)state;
    apply_state((change_t){.conn = "vc", .type = "contact", .id = "1", .action = "updated", .at = 100, .fields = rec});
    assert_key("wh:ver:{c:vc}:contact:1", "{\"_at\":\"100\"}");
    apply_state((change_t){.conn = "vc",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 200,
                           .fields = "{\"email\": \"b@x\", \"lastName\": \"A\", \"phone\": \"1\"}"});
    assert_key("wh:ver:{c:vc}:contact:1", "{\"_at\":\"200\"}");
    /* one property: its own entry */
    apply_state(
        (change_t){.conn = "vc", .type = "contact", .id = "1", .action = "updated", .at = 300, .fields = "{\"email\": \"c@x\"}"});
    assert_key("wh:ver:{c:vc}:contact:1", "{\"_at\":\"200\",\"email\":\"300\"}");
    /* an older whole record: email (300) keeps its value; the others win and "_at" moves */
    apply_state((change_t){.conn = "vc",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 250,
                           .fields = "{\"email\": \"old@x\", \"lastName\": \"B\", \"phone\": \"1\"}"});
    assert_key("wh:ver:{c:vc}:contact:1", "{\"_at\":\"250\",\"email\":\"300\"}");
    assert_key("wh:obj:{c:vc}:contact:1",
               "{\"email\":\"\\\"c@x\\\"\",\"id\":\"\\\"1\\\"\",\"lastName\":\"\\\"B\\\"\",\"phone\":\"\\\"1\\\"\"}");
    /* a record that misses a field on "_at" cannot move it: its winners get entries */
    apply_state((change_t){.conn = "vc",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 400,
                           .fields = "{\"lastName\": \"C\", \"email\": \"d@x\"}"});
    assert_key("wh:ver:{c:vc}:contact:1", "{\"_at\":\"250\",\"email\":\"400\",\"lastName\":\"400\"}");
    assert_versions("wh:ver:{c:vc}:contact:1", "{\"email\":\"400\",\"lastName\":\"400\",\"phone\":\"250\"}");
    /* equal times on "_at" are broken by the value, as for an entry */
    assert_int_equal(
        strcmp(apply_state((change_t){
                   .conn = "vc", .type = "contact", .id = "1", .action = "updated", .at = 250, .fields = "{\"phone\": \"2\"}"}),
               "applied"),
        0);
    assert_versions("wh:ver:{c:vc}:contact:1", "{\"email\":\"400\",\"lastName\":\"400\",\"phone\":\"250\"}");
    assert_key("wh:obj:{c:vc}:contact:1",
               "{\"email\":\"\\\"d@x\\\"\",\"id\":\"\\\"1\\\"\",\"lastName\":\"\\\"C\\\"\",\"phone\":\"\\\"2\\\"\"}");
    /* a version hash written before "_at" (one entry per field) is folded by the next whole-record push */
    redisReply *r = cmd("HSET wh:ver:{c:vc2}:contact:1 email 100 lastName 100");
    freeReplyObject(r);
    r = cmd("HSET wh:obj:{c:vc2}:contact:1 id \"1\" email \"a@x\" lastName \"A\"");
    freeReplyObject(r);
    r = cmd("ZADD wh:ids:{c:vc2}:contact 0 1");
    freeReplyObject(r);
    apply_state((change_t){.conn = "vc2",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 200,
                           .fields = "{\"email\": \"a@x\", \"lastName\": \"A\"}"});
    assert_key("wh:ver:{c:vc2}:contact:1", "{\"_at\":\"200\"}");
}

/*
 * The caller computes a new value's text member (cache.c) and the script recomputes an old one from the stored JSON
 * when it moves the entry: the two must agree for escaped strings, UTF-8 and numbers, or old entries would stay.
 */
static void text_members_agree(void **state)
{
    (void)state;
    apply_state((change_t){.conn = "tm",
                           .type = "contact",
                           .id = "1",
                           .action = "created",
                           .at = 1,
                           .fields = "{\"lastName\": \"O\\\"Br\\\\IEN\\u00e9\", \"ownerId\": 42, \"email\": \"X@Y\"}"});
    assert_key("wh:ixt:{c:tm}:contact:lastName", "[\"o\\\"br\\\\iené\\u00001\",\"0\"]");
    assert_key("wh:ixt:{c:tm}:contact:ownerId", "[\"42\\u00001\",\"0\"]");
    /* a change of case only keeps the entry; real changes move it */
    apply_state((change_t){.conn = "tm",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 2,
                           .fields = "{\"lastName\": \"Smith\", \"ownerId\": true, \"email\": \"x@y\"}"});
    assert_key("wh:ixt:{c:tm}:contact:lastName", "[\"smith\\u00001\",\"0\"]");
    assert_key("wh:ixt:{c:tm}:contact:ownerId", "[\"true\\u00001\",\"0\"]");
    assert_key("wh:ixt:{c:tm}:contact:email", "[\"x@y\\u00001\",\"0\"]");
    apply_state((change_t){.conn = "tm",
                           .type = "contact",
                           .id = "1",
                           .action = "updated",
                           .at = 3,
                           .fields = "{\"lastName\": {\"a\": 1}, \"ownerId\": \"7\"}"});
    assert_key("wh:ixt:{c:tm}:contact:lastName", "none");
    assert_key("wh:ixt:{c:tm}:contact:ownerId", "[\"7\\u00001\",\"0\"]");
}

/* A record of thousands of fields is written in slices (Lua's unpack is bounded), not refused. */
static void many_fields(void **state)
{
    json_t *fields = json_object(), *additional = json_object();
    char name[32], *text;
    redisReply *r;
    (void)state;
    for (int k = 0; k != 6000; ++k) {
        snprintf(name, sizeof(name), "p%d", k);
        json_object_set_new(additional, name, json_integer(k));
    }
    json_object_set_new(fields, "additional", additional);
    json_object_set_new(fields, "email", json_string("a@x"));
    text = json_dumps(fields, JSON_COMPACT);
    assert_text(apply_state((change_t){.conn = "mf", .type = "contact", .id = "1", .action = "updated", .at = 1, .fields = text}),
                "applied");
    r = cmd("HLEN wh:obj:{c:mf}:contact:1");
    assert_int_equal(r->integer, 6002);
    freeReplyObject(r);
    r = apply((change_t){.conn = "mf", .type = "contact", .id = "1", .action = "updated", .at = 2, .fields = text});
    assert_int_equal(r->element[1]->elements, 0);
    assert_int_equal(r->element[2]->elements, 2 * 6002 + 4); /* and taskIds, noteIds */
    freeReplyObject(r);
    free(text);
    json_decref(fields);
}

static void sync_config(void **state)
{
    const char *cfg = "{\"objects\": {\"contacts\": true, \"deals\": false, \"tasks\": true, \"bogus\": true}}";
    wh_cache_synced_t s = wh_cache_synced_parse(wh_str_c(cfg));
    (void)state;
    assert_true(wh_cache_is_synced(s, "contact"));
    assert_true(wh_cache_is_synced(s, "task"));
    assert_false(wh_cache_is_synced(s, "deal"));
    assert_false(wh_cache_is_synced(s, "account"));
    assert_false(wh_cache_is_synced(s, "salesforce:invoice__c"));
    assert_int_equal(wh_cache_synced_parse(wh_str_c("not json")), 0);
    assert_int_equal(wh_cache_synced_parse(wh_str_c("{}")), 0);
}

/* A connection whose hash is gone (deleted and purged, or never created): nothing written, state "gone". */
static void gone_connection(void **state)
{
    json_t *fields = json_loads("{\"email\": \"a@b.test\", \"lastName\": \"Gone\"}", 0, NULL);
    wh_cache_change_t cc = {.connection_id = "c_gone",
                            .type = "contact",
                            .object_id = "1",
                            .action = "created",
                            .occurred_at = 1000,
                            .fields = fields,
                            .synced = SYNC_ALL};
    redisReply *r, *keys;

    (void)state;
    r = eval_apply(&cc, true);
    assert_string_equal(r->element[0]->str, "gone");
    freeReplyObject(r);
    keys = redisCommand(rc, "KEYS *{c:c_gone}*");
    assert_int_equal(keys->elements, 0);
    freeReplyObject(keys);
    /* once the connection exists, the same change applies */
    r = eval_apply(&cc, false);
    assert_string_equal(r->element[0]->str, "applied");
    freeReplyObject(r);
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(out_of_order_permutations),
        cmocka_unit_test(tie_broken_by_value),
        cmocka_unit_test(delete_then_late_update_then_restore),
        cmocka_unit_test(index_maintenance),
        cmocka_unit_test(merge),
        cmocka_unit_test(association_moves),
        cmocka_unit_test(association_change),
        cmocka_unit_test(thin_marks_stale),
        cmocka_unit_test(changed_previous_existed),
        cmocka_unit_test(versions_compact),
        cmocka_unit_test(text_members_agree),
        cmocka_unit_test(many_fields),
        cmocka_unit_test(sync_config),
        cmocka_unit_test(gone_connection),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
