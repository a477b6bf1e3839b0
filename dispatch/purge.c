/* The incremental purge of deleted connections: see purge.h. */
#include "purge.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/log.h"
#include "../queue/scripts.h"

static void scan_step(wh_purge_t *p);

static void chain_end(wh_purge_t *p)
{
    p->busy = false;
}

/* The connection's id is done: no key of its tag was left in a whole SCAN cycle, its tombstone is gone. */
static void on_removed(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;

    (void)r;
    (void)reply;
    if (err == WH_OK)
        wh_log_info("connection_purged", "{s:s}", "connectionId", p->conn);
    p->conn[0] = '\0';
    chain_end(p);
}

/* gone_drop.lua answered: the id leaves the purge set either way (0: another worker finished it first). */
static void on_dropped(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;
    char key[WH_KEY_MAX];
    const char *argv[3] = {"SREM", key, p->conn};

    (void)reply;
    if (err != WH_OK || p->disposed) {
        chain_end(p);
        return;
    }
    wh_key_purge(key);
    if (wh_redis_command(r, on_removed, p, 3, argv, NULL) != WH_OK)
        chain_end(p);
}

/* The tombstone's removals answered: now the tombstone itself (only the one this purge read). */
static void drop_tombstone(wh_purge_t *p)
{
    char key[WH_KEY_MAX];
    const char *argv[2] = {key, p->at};

    wh_key_gone(key, p->conn);
    if (wh_redis_script(p->redis, &wh_script_gone_drop, on_dropped, p, 1, 2, argv, NULL) != WH_OK)
        chain_end(p);
}

static void on_removal(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;

    (void)r;
    (void)reply;
    if (err != WH_OK)
        p->removal_failed = true;
    if (--p->removals != 0)
        return;
    if (p->removal_failed || p->disposed)
        chain_end(p); /* the next clean cycle tries again: the tombstone is still there */
    else
        drop_tombstone(p);
}

/*
 * The tombstone read at the end of a clean cycle: what the deletion's later steps did, done again (they are
 * idempotent, and a gateway that died after conn_delete.lua did not do them): out of the environment's set and
 * its reservations, out of the app-level index. Their replies are awaited: the tombstone goes only after them,
 * so that none lands after the id is free again (on a connection created anew under it).
 */
static void on_tombstone(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;
    char key[WH_KEY_MAX];
    const redisReply *const *f;

    if (err != WH_OK || p->disposed || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        chain_end(p);
        return;
    }
    f = (const redisReply *const *)reply->element;
    if (f[3]->type != REDIS_REPLY_STRING || f[3]->len >= (int)sizeof(p->at)) {
        /* no tombstone: the purge of a deletion never finished by its gateway, or finished by another worker */
        on_dropped(r, NULL, WH_OK, p);
        return;
    }
    memcpy(p->at, f[3]->str, (size_t)f[3]->len + 1);
    p->removals = 1; /* held while sending */
    p->removal_failed = false;
    if (f[0]->type == REDIS_REPLY_STRING && f[0]->len != 0) {
        const char *srem[] = {"SREM", key, p->conn}, *hdel[] = {"HDEL", key, p->conn};
        wh_key_env_conns(key, f[0]->str);
        if (wh_redis_command(r, on_removal, p, 3, srem, NULL) == WH_OK)
            ++p->removals;
        else
            p->removal_failed = true;
        wh_key_env_resv(key, f[0]->str);
        if (wh_redis_command(r, on_removal, p, 3, hdel, NULL) == WH_OK)
            ++p->removals;
        else
            p->removal_failed = true;
    }
    if (f[1]->type == REDIS_REPLY_STRING && f[2]->type == REDIS_REPLY_STRING && f[2]->len != 0) {
        const char *hdel[] = {"HDEL", key, p->conn};
        wh_key_acct(key, f[1]->str, f[2]->str);
        if (wh_redis_command(r, on_removal, p, 3, hdel, NULL) == WH_OK)
            ++p->removals;
        else
            p->removal_failed = true;
    }
    on_removal(r, NULL, WH_OK, p);
}

static void on_unlinked(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;

    if (err != WH_OK || p->disposed) {
        chain_end(p);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer < 0) {
        /* another worker finished this id: its name may already belong to a new connection */
        p->conn[0] = '\0';
        chain_end(p);
        return;
    }
    scan_step(p);
}

static void finish_cycle(wh_purge_t *p)
{
    char key[WH_KEY_MAX];
    const char *argv[] = {"HMGET", key, "env", "integration", "account", "at"};

    if (p->found_in_cycle) {
        /* keys were removed during this cycle: the next one proves nothing is left (SCAN may miss none, but
         * a key written while we scanned may sit behind the cursor) */
        p->found_in_cycle = false;
        memcpy(p->cursor, "0", 2);
        chain_end(p);
        return;
    }
    wh_key_gone(key, p->conn);
    if (wh_redis_command(p->redis, on_tombstone, p, 6, argv, NULL) != WH_OK)
        chain_end(p);
}

/*
 * A key SCAN found that the purge removes: its hash tag (the first {...}) is this connection's, exactly as
 * conn_purge.lua checks (the MATCH pattern also finds another connection's key whose object id contains
 * "{c:<id>}": sent along, it would make the UNLINK span two slots, which a cluster refuses, for ever). The
 * tombstone and the outbox are not the connection's data: the end of the purge and the outbox's drain remove them.
 */
static bool purgeable(const wh_purge_t *p, const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    size_t tag = strlen(p->conn) + 4; /* "{c:" id "}" */

    if (open == NULL || (size_t)(key + len - open) < tag || memcmp(open, "{c:", 3) != 0 ||
        memcmp(open + 3, p->conn, tag - 4) != 0 || open[tag - 1] != '}')
        return false;
    return !(len >= 8 && memcmp(key, "wh:gone:", 8) == 0) && !(len >= 6 && memcmp(key, "wh:ob:", 6) == 0);
}

static void on_scanned(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;
    const redisReply *keys;
    const char **argv = NULL;
    size_t *argvlen = NULL, n = 0;
    char gone_key[WH_KEY_MAX];

    if (err != WH_OK || p->disposed || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || (size_t)reply->element[0]->len >= sizeof(p->cursor) ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        chain_end(p);
        return;
    }
    memcpy(p->cursor, reply->element[0]->str, (size_t)reply->element[0]->len + 1);
    keys = reply->element[1];
    if (keys->elements != 0) {
        /* conn_purge.lua: KEYS = the tombstone, then the keys found; ARGV = the id */
        argv = malloc((keys->elements + 2) * sizeof(*argv));
        argvlen = malloc((keys->elements + 2) * sizeof(*argvlen));
        if (argv == NULL || argvlen == NULL)
            abort();
        argv[n] = gone_key;
        argvlen[n++] = (size_t)wh_key_gone(gone_key, p->conn);
        for (size_t i = 0; i != keys->elements; ++i)
            if (keys->element[i]->type == REDIS_REPLY_STRING &&
                purgeable(p, keys->element[i]->str, (size_t)keys->element[i]->len)) {
                argv[n] = keys->element[i]->str;
                argvlen[n++] = (size_t)keys->element[i]->len;
            }
    }
    if (n > 1) {
        p->found_in_cycle = true;
        argv[n] = p->conn;
        argvlen[n] = strlen(p->conn);
        if (wh_redis_script(p->redis, &wh_script_conn_purge, on_unlinked, p, (int)n, (int)n + 1, argv, argvlen) != WH_OK)
            chain_end(p);
    } else if (strcmp(p->cursor, "0") == 0) {
        finish_cycle(p);
    } else {
        scan_step(p);
    }
    free(argvlen);
    free(argv);
}

/* One SCAN step of the current cycle; an UNLINK step, when it found keys, comes back here. */
static void scan_step(wh_purge_t *p)
{
    char count[16];
    const char *argv[6] = {"SCAN", p->cursor, "MATCH", p->pattern, "COUNT", count};
    size_t argvlen[6] = {4, strlen(p->cursor), 5, strlen(p->pattern), 5, 0};

    /* the cycle ended with the SCAN that returned cursor 0 and its UNLINK */
    if (strcmp(p->cursor, "0") == 0 && p->steps != 0) {
        finish_cycle(p);
        return;
    }
    if (p->steps == WH_PURGE_STEPS_PER_TICK) {
        chain_end(p);
        return;
    }
    ++p->steps;
    argvlen[5] = (size_t)snprintf(count, sizeof(count), "%d", WH_PURGE_SCAN_COUNT);
    /* every key of the connection carries its tag {c:<id>}: on a cluster, the one node serving that slot holds them */
    {
        char tag[WH_PURGE_ID_MAX + 8];
        int n = snprintf(tag, sizeof(tag), "{c:%s}", p->conn);
        if (wh_redis_command_at(p->redis, tag, (size_t)n, on_scanned, p, 6, argv, argvlen) != WH_OK)
            chain_end(p);
    }
}

static void on_picked(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_purge_t *p = data;

    /* nil: nothing to purge. Ids were written by conn_delete.lua from a validated id; check anyway, since
     * the id goes into a MATCH pattern ([A-Za-z0-9_-] has no glob meaning). */
    if (err != WH_OK || p->disposed || reply->type != REDIS_REPLY_STRING || reply->len == 0 || reply->len > WH_PURGE_ID_MAX ||
        strspn(reply->str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != (size_t)reply->len) {
        chain_end(p);
        return;
    }
    memcpy(p->conn, reply->str, (size_t)reply->len + 1);
    snprintf(p->pattern, sizeof(p->pattern), "wh:*{c:%s}*", p->conn);
    memcpy(p->cursor, "0", 2);
    p->found_in_cycle = false;
    scan_step(p);
}

void wh_purge_init(wh_purge_t *p, wh_redis_t *redis)
{
    memset(p, 0, sizeof(*p));
    p->redis = redis;
    memcpy(p->cursor, "0", 2);
}

void wh_purge_tick(wh_purge_t *p)
{
    char key[WH_KEY_MAX];
    const char *argv[2] = {"SRANDMEMBER", key};
    size_t argvlen[2] = {11, 0};

    if (p->busy || p->disposed || !wh_redis_ready(p->redis))
        return;
    p->busy = true;
    p->steps = 0;
    if (p->conn[0] != '\0') {
        /* go on with the cycle a previous tick left unfinished */
        scan_step(p);
        return;
    }
    argvlen[1] = (size_t)wh_key_purge(key);
    /* SRANDMEMBER rather than SPOP: the id must stay in the set until its keys are gone (a worker may die
     * half way), and several workers then spread over several deleted connections */
    if (wh_redis_command(p->redis, on_picked, p, 2, argv, argvlen) != WH_OK)
        chain_end(p);
}

void wh_purge_dispose(wh_purge_t *p)
{
    p->disposed = true;
}
