/* The repair sweep: see repair.h. */
#include "repair.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "../common/log.h"
#include "../common/time.h"
#include "../queue/keys.h"
#include "../queue/outbox.h"

static const char *const patterns[] = {"wh:ob:*", "wh:gone:*", "wh:env:*:resv"};
#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static void step(wh_repair_t *p);

/* Longest environment or connection id a key names (the API's are at most 64 characters). */
#define ID_MAX 128

/* ---- stale reservations ---------------------------------------------------------------------------------- */

typedef struct {
    wh_redis_t *redis;
    char env[ID_MAX + 1];
    char id[ID_MAX + 1];
    char acct[WH_KEY_MAX]; /* the app-level index key the reservation named, "" for none */
} resv_t;

/* HGET of the app-level index entry a released reservation named: removed only if it is that environment's. */
static void on_acct_entry(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    resv_t *v = data;

    if (err == WH_OK && reply->type == REDIS_REPLY_STRING) {
        json_t *j = json_loadb(reply->str, (size_t)reply->len, 0, NULL);
        const char *env = json_string_value(json_object_get(j, "env"));
        if (env != NULL && strcmp(env, v->env) == 0) {
            const char *adel[] = {"HDEL", v->acct, v->id};
            (void)wh_redis_command(r, NULL, NULL, 3, adel, NULL);
        }
        json_decref(j);
    }
    free(v);
}

static void on_conn_env(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    resv_t *v = data;
    char key[WH_KEY_MAX];
    const char *hdel[] = {"HDEL", key, v->id};
    bool ours;

    if (err != WH_OK) {
        free(v);
        return;
    }
    ours = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, v->env) == 0;
    if (!ours) {
        /* the place first, its record after: a record outliving a lost SREM is found again by the next round */
        const char *srem[] = {"SREM", key, v->id};
        wh_key_env_conns(key, v->env);
        (void)wh_redis_command(r, NULL, NULL, 3, srem, NULL);
        wh_log_warn("reservation_released", "{s:s, s:s}", "environmentId", v->env, "connectionId", v->id);
    }
    wh_key_env_resv(key, v->env);
    (void)wh_redis_command(r, NULL, NULL, 3, hdel, NULL);
    if (!ours && v->acct[0] != '\0') {
        /* the index entry only if it is this environment's (another one's connection may hold the id):
           on_acct_entry decides, and frees v */
        const char *aget[] = {"HGET", v->acct, v->id};
        if (wh_redis_command(r, on_acct_entry, v, 3, aget, NULL) == WH_OK)
            return;
    }
    free(v);
}

/* HGETALL wh:env:{e:<env>}:resv: id -> "<ms> <index key>" */
static void on_reservations(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    char *env = data;
    int64_t now = wh_now_ms();

    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *id = reply->element[i], *val = reply->element[i + 1];
            char *end = NULL;
            long long at;
            resv_t *v;
            char key[WH_KEY_MAX];
            if (id->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || (size_t)id->len >= sizeof(v->id))
                continue;
            at = strtoll(val->str, &end, 10);
            if (end == val->str || now - at < WH_RESERVATION_STALE_MS)
                continue;
            if ((v = calloc(1, sizeof(*v))) == NULL)
                abort();
            v->redis = r;
            snprintf(v->env, sizeof(v->env), "%s", env);
            memcpy(v->id, id->str, (size_t)id->len + 1);
            if (*end == ' ' && strlen(end + 1) < sizeof(v->acct))
                snprintf(v->acct, sizeof(v->acct), "%s", end + 1);
            {
                const char *argv[] = {"HGET", key, "env"};
                wh_key_conn(key, v->id);
                if (wh_redis_command(r, on_conn_env, v, 3, argv, NULL) != WH_OK)
                    free(v);
            }
        }
    free(env);
}

/* ---- outboxes ---------------------------------------------------------------------------------------------- */

/* The receivedAt (ms) of an outbox entry's event (field "s"), or -1 when it has none. */
static int64_t entry_received_at(const char *entry, size_t len)
{
    json_t *j = json_loadb(entry, len, 0, NULL), *ev;
    int64_t at = -1;

    for (size_t i = 1; i + 1 < json_array_size(j); i += 2)
        if (json_is_string(json_array_get(j, i)) && strcmp(json_string_value(json_array_get(j, i)), "s") == 0 &&
            (ev = json_loads(json_string_value(json_array_get(j, i + 1)), 0, NULL)) != NULL) {
            if (json_is_integer(json_object_get(ev, "receivedAt")))
                at = (int64_t)json_integer_value(json_object_get(ev, "receivedAt"));
            json_decref(ev);
        }
    json_decref(j);
    return at;
}

/*
 * An outbox's head: moved when its event is older than WH_OUTBOX_ORPHAN_MS. A younger one is being moved by the
 * process that wrote it (it moves its outbox right after its script): draining it too would interleave two drains
 * of one outbox, which can put an event's second copy behind a later event.
 */
static void on_outbox_head(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    char *key = data;

    if (err == WH_OK && reply->type == REDIS_REPLY_STRING) {
        int64_t at = entry_received_at(reply->str, (size_t)reply->len);
        if (at < 0 || wh_now_ms() - at >= WH_OUTBOX_ORPHAN_MS) {
            wh_log_info("outbox_orphan_moved", "{s:s}", "outbox", key);
            wh_outbox_drain(r, key, NULL, NULL);
        }
    }
    free(key);
}

/* ---- the walk ---------------------------------------------------------------------------------------------- */

/* "wh:gone:{c:<id>}" -> id; "wh:env:{e:<env>}:resv" -> env. False for another shape. */
static bool tag_value(const char *key, size_t len, const char *open, char *out, size_t size)
{
    const char *a = strstr(key, open), *b;
    size_t n;

    if (a == NULL || (b = memchr(a, '}', len - (size_t)(a - key))) == NULL)
        return false;
    a += strlen(open);
    n = (size_t)(b - a);
    if (n == 0 || n >= size)
        return false;
    memcpy(out, a, n);
    out[n] = '\0';
    return true;
}

static void act(wh_repair_t *p, const char *key, size_t len)
{
    char v[ID_MAX + 1], k[WH_KEY_MAX];

    switch (p->what) {
    case 0: /* an outbox: only one its gateway (or worker) did not move itself (see on_outbox_head) */
    {
        const char *argv[] = {"LINDEX", key, "0"};
        char *copy = strndup(key, len);
        if (copy == NULL)
            abort();
        if (wh_redis_command(p->redis, on_outbox_head, copy, 3, argv, NULL) != WH_OK)
            free(copy);
        break;
    }
    case 1: /* a tombstone */
        if (tag_value(key, len, "{c:", v, sizeof(v))) {
            const char *argv[] = {"SADD", k, v};
            wh_key_purge(k);
            (void)wh_redis_command(p->redis, NULL, NULL, 3, argv, NULL);
        }
        break;
    default: /* an environment's reservations */
        if (tag_value(key, len, "{e:", v, sizeof(v))) {
            const char *argv[] = {"HGETALL", key};
            char *env = strdup(v);
            if (env == NULL)
                abort();
            if (wh_redis_command(p->redis, on_reservations, env, 2, argv, NULL) != WH_OK)
                free(env);
        }
    }
}

static void chain_end(wh_repair_t *p)
{
    p->busy = false;
}

/* The walk of one node and pattern is through: the next pattern, the next node, or the end of the round. */
static void walk_done(wh_repair_t *p)
{
    memcpy(p->cursor, "0", 2);
    if (++p->what == NPATTERNS) {
        p->what = 0;
        if (++p->node >= wh_redis_node_count(p->redis)) {
            p->node = 0;
            p->next_round = wh_now_ms() + WH_REPAIR_PERIOD_MS;
            chain_end(p); /* the round is through */
            return;
        }
    }
    step(p);
}

static void on_scanned(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_repair_t *p = data;
    const redisReply *keys;

    (void)r;
    if (err != WH_OK || p->disposed || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || (size_t)reply->element[0]->len >= sizeof(p->cursor) ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        chain_end(p);
        return;
    }
    memcpy(p->cursor, reply->element[0]->str, (size_t)reply->element[0]->len + 1);
    keys = reply->element[1];
    for (size_t i = 0; i != keys->elements; ++i)
        if (keys->element[i]->type == REDIS_REPLY_STRING && (size_t)keys->element[i]->len < WH_KEY_MAX)
            act(p, keys->element[i]->str, (size_t)keys->element[i]->len);
    if (strcmp(p->cursor, "0") == 0)
        walk_done(p);
    else
        step(p);
}

static void step(wh_repair_t *p)
{
    char count[16];
    const char *argv[6] = {"SCAN", p->cursor, "MATCH", patterns[p->what], "COUNT", count};

    if (p->steps++ == WH_REPAIR_STEPS_PER_TICK || p->disposed) {
        chain_end(p);
        return;
    }
    if (p->node >= wh_redis_node_count(p->redis)) { /* the cluster shrank */
        p->node = 0;
        p->what = 0;
        memcpy(p->cursor, "0", 2);
    }
    snprintf(count, sizeof(count), "%d", WH_REPAIR_SCAN_COUNT);
    if (wh_redis_command_node(p->redis, p->node, on_scanned, p, 6, argv, NULL) != WH_OK)
        chain_end(p);
}

void wh_repair_init(wh_repair_t *p, wh_redis_t *redis)
{
    memset(p, 0, sizeof(*p));
    p->redis = redis;
    memcpy(p->cursor, "0", 2);
}

void wh_repair_tick(wh_repair_t *p)
{
    if (p->busy || p->disposed || !wh_redis_ready(p->redis) || wh_redis_node_count(p->redis) == 0)
        return;
    /* at the start of a round (first node, first pattern, no cursor yet), not before its time */
    if (p->node == 0 && p->what == 0 && strcmp(p->cursor, "0") == 0 && wh_now_ms() < p->next_round)
        return;
    p->busy = true;
    p->steps = 0;
    step(p);
}

void wh_repair_dispose(wh_repair_t *p)
{
    p->disposed = true;
}
