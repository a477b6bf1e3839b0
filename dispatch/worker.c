/*
 * The worker: read ▸ apply ▸ deliver ▸ settle. See worker.h for the durability argument.
 *
 * A batch (entries from XREADGROUP or XAUTOCLAIM) goes through one pipelined round: the subscriptions of every
 * environment in the batch and the sync config of every connection, each connection's cache applies (one
 * apply.lua call per event of a synced object type) sent as soon as its sync config is back. Then each entry's
 * deliveries start at once from a local ready queue (bounded by WHARF_MAX_INFLIGHT) while the entry stays pending
 * in the consumer group; when their first attempts are over, the entry is settled (dispatch/settle.h: one
 * settle.lua call per partition per loop turn records the events, writes tasks only for what still has to
 * happen, and acknowledges). Retries and expired leases come back through the claim script.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../cache/cache.h"
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/secret.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "../queue/envelope.h"
#include "../queue/keys.h"
#include "../queue/redis.h"
#include "backoff.h"
#include "egress.h"
#include "http.h"
#include "match.h"
#include "purge.h"
#include "settle.h"
#include "sign.h"
#include "slots.h"
#include "worker.h"

#define READ_BLOCK_MS 1000
#define CLAIM_PERIOD_MS 100
#define RECLAIM_COUNT 64
/* Outcomes sent in one finish.lua call at most (more in one loop turn: several calls). */
#define RECORD_BATCH 128
/* An ordered delivery waiting behind an earlier event of its object is looked at again this much later. */
#define ORDER_RECHECK_MS_TEXT "250"

typedef struct delivery {
    struct delivery *next;
    struct wh_worker *w;
    unsigned part;
    unsigned attempt; /* attempts already made */
    char id[WH_WEBHOOK_ID_LEN + 1];
    char sub[WH_MAX_ID_LEN + 1];
    char env[WH_MAX_ID_LEN + 1];
    char *url;
    uint8_t key[WH_SIGN_KEY_MAX], old_key[WH_SIGN_KEY_MAX]; /* old_key: the rotated-out secret, while it overlaps */
    size_t keylen, old_keylen;
    unsigned max_concurrency; /* the subscription's slots across all workers */
    unsigned rate;            /* attempts started per second across all workers; 0: no limit */
    bool slotted;             /* holds a slot: release it when the attempt ends */
    int64_t start_by;         /* later than this its Redis lease could end before the attempt does: hand it back */
    wh_body_t *body;
    /* While its entry is open (settle.h): the entry and this delivery's record there; both NULL once its task is in
       Redis (a retry, or spilled), when outcomes go through finish.lua instead. */
    wh_settle_entry_t *entry;
    wh_settle_delivery_t *rec;
} delivery_t;

typedef struct {
    char id[WH_MAX_ID_LEN + 1];
    char env[WH_MAX_ID_LEN + 1];
    char *url;
    json_t *types;    /* borrowed from the environment's subscription JSON */
    json_t *conn_ids; /* idem, or NULL for every connection */
    uint8_t key[WH_SIGN_KEY_MAX], old_key[WH_SIGN_KEY_MAX];
    size_t keylen, old_keylen; /* old_keylen 0: no rotation overlap */
    unsigned max_concurrency, rate;
    bool ordered; /* one in flight per object, in occurredAt order (queue/scripts/claim.lua) */
} sub_t;

/* Opened subscription secrets, by their sealed text: a batch's subscriptions are not decrypted again. */
#define KEY_CACHE_SLOTS 256

typedef struct {
    uint64_t hash;
    char *sealed; /* the sealed secret, owned; NULL: empty slot */
    char id[WH_MAX_ID_LEN + 1];
    uint8_t key[WH_SIGN_KEY_MAX];
    size_t keylen;
} key_cache_t;

/* Subscriptions this worker saw succeed lately: their failure streak in Redis was cleared at `at`. */
#define HEALTHY_SLOTS 256
#define HEALTHY_RECHECK_MS 10000

typedef struct {
    char env[WH_MAX_ID_LEN + 1];
    json_t *raw; /* owns the JSON the subs borrow from */
    sub_t *subs;
    size_t n;
} env_subs_t;

typedef struct {
    unsigned part;
    char id[64];
    json_t *events; /* envelope objects; each gets "_object" (cached record) after apply */
    bool poison;
} entry_t;

/* A connection's sync config, looked up once per batch (wh:conn:{c:…} field "sync"). */
typedef struct {
    char conn[WH_MAX_ID_LEN + 1];
    wh_cache_synced_t synced;
} conn_sync_t;

typedef struct batch {
    struct wh_worker *w;
    entry_t *entries;
    size_t n;
    env_subs_t **envs; /* one per environment in the batch; pointers stay put while lookups are in flight */
    size_t nenvs, cap_envs;
    conn_sync_t **conns; /* one per connection whose events the cache may take */
    size_t nconns, cap_conns;
    unsigned outstanding;
    bool from_read;
    bool abandon; /* a lookup failed: fan nothing out; the entries stay pending and are reclaimed */
} batch_t;

struct wh_worker {
    const wh_config_t *cfg;
    pthread_t tid;
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t read_timer, claim_timer, reclaim_timer, stop_timer, purge_timer;
    wh_purge_t purge;  /* deleted connections' keys, a few hundred per step (purge.h) */
    wh_slots_t *slots; /* per-subscription slots and rate tokens (slots.h) */
    wh_redis_t *rd;    /* blocking XREADGROUP only */
    wh_redis_t *cmd;   /* everything else */
    wh_http_t *http;
    char stream_keys[WH_PARTITIONS][WH_KEY_MAX];
    bool groups_ready, reading, stopping;
    unsigned creating_groups;
    unsigned batches;                        /* batches in progress */
    unsigned claiming;                       /* claim / reclaim calls awaiting replies */
    unsigned recording;                      /* finish.lua and settle.lua calls awaiting Redis: shutdown waits */
    wh_cache_args_t outcomes[WH_PARTITIONS]; /* this loop turn's outcomes, per partition (record) */
    unsigned noutcomes[WH_PARTITIONS];
    wh_settle_call_t settles[WH_PARTITIONS];  /* this loop turn's settled entries, per partition */
    wh_settle_entry_t *open_head, *open_tail; /* entries whose first attempts are running, oldest first */
    size_t nopen;
    uv_timer_t spill_timer;
    char reclaim_cursor[WH_PARTITIONS][48]; /* where XAUTOCLAIM goes on from, per partition */
    key_cache_t keys[KEY_CACHE_SLOTS];
    uv_check_t flush_check;
    delivery_t *ready_head, *ready_tail;
    size_t ready_len;
    int64_t stop_deadline;
    unsigned closing;
    uint64_t rng;
    double events_per_entry; /* running estimate, sizes reads (read_count) */
    struct {
        uint64_t hash;
        int64_t at;
    } healthy[HEALTHY_SLOTS];
};

static void schedule_read(wh_worker_t *w, uint64_t delay_ms);
static void pump(wh_worker_t *w);
static void start_attempt(wh_worker_t *w, delivery_t *d);
static void record(wh_worker_t *w, unsigned part, const char *id, const char *outcome, int64_t next_due, unsigned attempts,
                   long status, const char *error, const char *attempt);
static void flush_outcomes(wh_worker_t *w, unsigned part);
static void flush_settles(wh_worker_t *w, unsigned part);
static void outcome(wh_worker_t *w, delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts, long status, const char *error,
                    const char *attempt);
struct batch;
static void learn_batch(wh_worker_t *w, const struct batch *b);

/* ---- small helpers ------------------------------------------------------------------------------------- */

static double rand01(wh_worker_t *w)
{
    /* xorshift64*: jitter only needs spread, not secrecy */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void delivery_free(delivery_t *d)
{
    wh_body_release(d->body);
    free(d->url);
    OPENSSL_cleanse(d->key, sizeof(d->key));
    OPENSSL_cleanse(d->old_key, sizeof(d->old_key));
    free(d);
}

static void enqueue(wh_worker_t *w, delivery_t *d)
{
    d->next = NULL;
    if (w->ready_tail != NULL)
        w->ready_tail->next = d;
    else
        w->ready_head = d;
    w->ready_tail = d;
    ++w->ready_len;
}

static delivery_t *dequeue(wh_worker_t *w)
{
    delivery_t *d = w->ready_head;
    if (d != NULL) {
        w->ready_head = d->next;
        if (w->ready_head == NULL)
            w->ready_tail = NULL;
        --w->ready_len;
    }
    return d;
}

/*
 * A delivery being attempted is leased: if its worker dies, it comes due again when the lease ends. One knob,
 * WHARF_RECLAIM_IDLE, says how long a silent worker's work waits before another takes it over; the lease adds
 * the attempt's own timeout to it.
 */
static int64_t lease_until(const wh_worker_t *w)
{
    return wh_now_ms() + w->cfg->delivery_timeout_ms + w->cfg->reclaim_idle_ms;
}

/*
 * Opens a sealed subscription secret into a signing key. A sealed value names one secret for good (a new secret
 * is sealed anew, with a fresh nonce), so what was opened once is kept by its sealed text and owner id.
 */
static bool open_key(wh_worker_t *w, const char *id, const json_t *sealed, uint8_t *key, size_t *keylen)
{
    const char *text = json_string_value(sealed);
    size_t tlen = json_string_length(sealed);
    uint64_t h = 1469598103934665603ULL;
    key_cache_t *slot;
    char *secret = NULL;
    size_t slen;
    bool ok;

    for (size_t i = 0; i != tlen; ++i)
        h = (h ^ (uint8_t)text[i]) * 1099511628211ULL;
    for (const char *p = id; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    slot = &w->keys[h % KEY_CACHE_SLOTS];
    if (slot->sealed != NULL && slot->hash == h && strcmp(slot->sealed, text) == 0 && strcmp(slot->id, id) == 0) {
        memcpy(key, slot->key, slot->keylen);
        *keylen = slot->keylen;
        return true;
    }
    if (wh_secret_open(w->cfg, wh_str_c(id), wh_str(text, tlen), &secret, &slen) != WH_OK) {
        wh_log_error("subscription_secret_unreadable", "{s:s}", "subscriptionId", id);
        return false;
    }
    ok = wh_sign_key_from_secret(wh_str(secret, slen), key, keylen) == WH_OK;
    OPENSSL_cleanse(secret, slen);
    free(secret);
    if (ok && strlen(id) <= WH_MAX_ID_LEN) {
        free(slot->sealed);
        OPENSSL_cleanse(slot->key, sizeof(slot->key));
        if ((slot->sealed = strdup(text)) == NULL)
            abort();
        slot->hash = h;
        snprintf(slot->id, sizeof(slot->id), "%s", id);
        memcpy(slot->key, key, *keylen);
        slot->keylen = *keylen;
    }
    return ok;
}

static bool sub_active(const json_t *j)
{
    const char *status = json_string_value(json_object_get(j, "status"));
    return status == NULL || strcmp(status, "active") == 0;
}

/*
 * Parses one stored subscription (see gateway/api_subscriptions.c for its shape) of environment `env`. False if
 * unusable or not active. While a rotated-out secret still overlaps (previousSecretUntil), it signs too.
 */
static bool sub_parse(wh_worker_t *w, json_t *j, const char *env, sub_t *s)
{
    const char *id = json_string_value(json_object_get(j, "subscriptionId"));
    const char *url = json_string_value(json_object_get(j, "url"));
    const char *status = json_string_value(json_object_get(j, "status"));
    json_t *sealed = json_object_get(j, "secret"), *old = json_object_get(j, "previousSecret");
    long long until = 0;

    (void)status;
    memset(s, 0, sizeof(*s));
    if (id == NULL || url == NULL || strlen(id) > WH_MAX_ID_LEN || strlen(env) > WH_MAX_ID_LEN ||
        !json_is_array(json_object_get(j, "eventTypes")) || !json_is_string(sealed) || !sub_active(j))
        return false;
    if (!open_key(w, id, sealed, s->key, &s->keylen))
        return false;
    if (json_is_string(old) && json_is_string(json_object_get(j, "previousSecretUntil")) &&
        wh_str_to_i64(wh_str_c(json_string_value(json_object_get(j, "previousSecretUntil"))), &until) && until > wh_now_ms() &&
        !open_key(w, id, old, s->old_key, &s->old_keylen))
        s->old_keylen = 0;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->env, sizeof(s->env), "%s", env);
    {
        json_int_t c = json_integer_value(json_object_get(j, "maxConcurrency")),
                   r = json_integer_value(json_object_get(j, "rateLimitPerSecond"));
        s->max_concurrency = c >= 1 && c <= 100000 ? (unsigned)c : WH_DEFAULT_SUB_CONCURRENCY;
        s->rate = r >= 1 && r <= INT32_MAX ? (unsigned)r : 0;
    }
    s->ordered = json_is_true(json_object_get(j, "ordered"));
    s->types = json_object_get(j, "eventTypes");
    s->conn_ids = json_object_get(j, "connectionIds");
    if (!json_is_array(s->conn_ids))
        s->conn_ids = NULL;
    if ((s->url = strdup(url)) == NULL)
        abort();
    return true;
}

static bool sub_wants(const sub_t *s, const char *type, const char *conn)
{
    size_t i;
    json_t *v;
    bool any = false;

    if (s->conn_ids != NULL) {
        json_array_foreach(s->conn_ids, i, v) if (json_is_string(v) && strcmp(json_string_value(v), conn) == 0) any = true;
        if (!any)
            return false;
    }
    json_array_foreach(s->types, i, v)
    {
        if (json_is_string(v) && wh_event_type_matches(wh_str(json_string_value(v), json_string_length(v)), wh_str_c(type)))
            return true;
    }
    return false;
}

static void env_subs_dispose(env_subs_t *e)
{
    for (size_t i = 0; i != e->n; ++i) {
        free(e->subs[i].url);
        OPENSSL_cleanse(e->subs[i].key, sizeof(e->subs[i].key));
        OPENSSL_cleanse(e->subs[i].old_key, sizeof(e->subs[i].old_key));
    }
    free(e->subs);
    json_decref(e->raw);
}

/* ---- deliveries ------------------------------------------------------------------------------------------ */

static void on_finished(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;
    --w->recording;
    if (err != WH_OK)
        /* the lease will expire and the delivery will be attempted again: at least once */
        wh_log_warn("delivery_record_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
}

/*
 * Records an outcome: "ok", "retry" (at next_due), "dead", "drop", "defer". `attempt` is the attempt's record for
 * the event's log (design §6: GET /v1/events/{id}/attempts), or NULL when no attempt was made.
 *
 * Outcomes are batched: those of one loop turn go to Redis as one finish.lua call per partition (flushed from
 * a uv_check handle, or at RECORD_BATCH), as the gateway batches its writes. Until the call is answered the
 * delivery stays leased in Redis, so a crash in between repeats an attempt at worst (at least once).
 */
static void record(wh_worker_t *w, unsigned part, const char *id, const char *outcome, int64_t next_due, unsigned attempts,
                   long status, const char *error, const char *attempt)
{
    wh_cache_args_t *a = &w->outcomes[part];
    char num[24];

    if (strcmp(outcome, "dead") == 0)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEAD);
    else if (strcmp(outcome, "defer") == 0)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEFERRED);

    if (w->noutcomes[part] == 0) {
        /* the fixed arguments: keys, then the prefixes and bounds */
        char key[WH_KEY_MAX];
        wh_cache_args_add_copy(a, key, (size_t)wh_key_due(key, part));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_dead(key, part));
        snprintf(num, sizeof(num), "%lld", (long long)wh_now_ms());
        wh_cache_args_add_copy(a, num, strlen(num));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_delivery_prefix(key, part));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_event_bucket_prefix(key, part));
        snprintf(num, sizeof(num), "%lld", (long long)WH_EVENT_BUCKET_MS);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_DEAD_LETTER_RETENTION_S);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_MAX_DEAD_LETTERS);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%lld", (long long)(w->cfg->event_retention_ms / 1000));
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_MAX_ATTEMPTS_KEPT);
        wh_cache_args_add_copy(a, num, strlen(num));
    }
    wh_cache_args_add_copy(a, id, strlen(id));
    wh_cache_args_add_copy(a, outcome, strlen(outcome));
    snprintf(num, sizeof(num), "%lld", (long long)next_due);
    wh_cache_args_add_copy(a, num, strlen(num));
    snprintf(num, sizeof(num), "%u", attempts);
    wh_cache_args_add_copy(a, num, strlen(num));
    snprintf(num, sizeof(num), "%ld", status);
    wh_cache_args_add_copy(a, num, strlen(num));
    wh_cache_args_add_copy(a, error != NULL ? error : "", error != NULL ? strlen(error) : 0);
    wh_cache_args_add_copy(a, attempt != NULL ? attempt : "", attempt != NULL ? strlen(attempt) : 0);
    if (++w->noutcomes[part] >= RECORD_BATCH)
        flush_outcomes(w, part);
}

/* Sends partition `part`'s batched outcomes as one finish.lua call (after its settles: a spilled entry's task
   must exist before its delivery's outcome is recorded). */
static void flush_outcomes(wh_worker_t *w, unsigned part)
{
    wh_cache_args_t *a = &w->outcomes[part];

    flush_settles(w, part);
    if (w->noutcomes[part] == 0)
        return;
    if (wh_redis_script(w->cmd, &wh_script_finish, on_finished, w, 2, (int)a->n, a->argv, a->len) == WH_OK)
        ++w->recording;
    else
        /* the leases end and the deliveries come due again: at least once */
        wh_log_warn("delivery_record_failed", "{s:i, s:s}", "count", (int)w->noutcomes[part], "error", "redis unavailable");
    wh_cache_args_dispose(a);
    wh_cache_args_init(a);
    w->noutcomes[part] = 0;
}

static void on_flush_check(uv_check_t *c)
{
    wh_worker_t *w = c->data;
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        flush_outcomes(w, p);
}

/* ---- settling entries (settle.h) --------------------------------------------------------------------------- */

static void on_settled(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;

    (void)r;
    --w->recording;
    if (err != WH_OK)
        /* the entries stay pending: they are reclaimed and processed again (at least once) */
        wh_log_warn("settle_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
}

/* Sends partition `part`'s settled entries as one settle.lua call. */
static void flush_settles(wh_worker_t *w, unsigned part)
{
    wh_settle_call_t *c = &w->settles[part];
    int nkeys;

    if (c->nacks == 0 && c->nevents == 0)
        return;
    nkeys = wh_settle_call_finish(c, wh_now_ms(), lease_until(w), w->cfg->event_retention_ms, w->cfg->event_max_per_partition);
    if (wh_redis_script(w->cmd, &wh_script_settle, on_settled, w, nkeys, (int)c->args.n, wh_argv_ptrs(&c->args), c->args.lens) ==
        WH_OK)
        ++w->recording;
    else
        wh_log_warn("settle_failed", "{s:i, s:s}", "entries", (int)c->nacks, "error", "redis unavailable");
    wh_settle_call_reset(c);
}

static void open_unlink(wh_worker_t *w, wh_settle_entry_t *e)
{
    if (e->prev == NULL && e->next == NULL && w->open_head != e)
        return; /* not linked */
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        w->open_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        w->open_tail = e->prev;
    e->prev = e->next = NULL;
    --w->nopen;
}

/* Every first attempt of `e` is over: it goes into this loop turn's settle call of its partition. */
static void entry_settle(wh_worker_t *w, wh_settle_entry_t *e)
{
    open_unlink(w, e);
    while (!wh_settle_call_add(&w->settles[e->part], e))
        flush_settles(w, e->part);
    if (w->settles[e->part].items >= WH_SETTLE_MAX_ITEMS)
        flush_settles(w, e->part);
    wh_settle_entry_free(e);
}

/* How long an entry waits for its first attempts before the unfinished ones are written as leased tasks: well
   inside WHARF_RECLAIM_IDLE, after which another consumer would take the pending entry over. */
static int64_t spill_after_ms(const wh_worker_t *w)
{
    int64_t ms = w->cfg->reclaim_idle_ms / 4;
    return ms > 1000 ? 1000 : ms < 20 ? 20 : ms;
}

static void open_link(wh_worker_t *w, wh_settle_entry_t *e)
{
    e->spill_at = wh_mono_ms() + spill_after_ms(w);
    e->prev = w->open_tail;
    e->next = NULL;
    if (w->open_tail != NULL)
        w->open_tail->next = e;
    else
        w->open_head = e;
    w->open_tail = e;
    ++w->nopen;
}

/* The entry waited long enough: what still runs becomes a leased task (its outcome then goes to finish.lua). */
static void entry_spill(wh_worker_t *w, wh_settle_entry_t *e)
{
    for (size_t i = 0; i != e->nev; ++i)
        for (size_t k = 0; k != e->ev[i].nd; ++k) {
            wh_settle_delivery_t *r = &e->ev[i].d[k];
            delivery_t *d = r->live;
            if (r->outcome != WH_OUTCOME_OPEN || d == NULL)
                continue;
            d->entry = NULL;
            d->rec = NULL;
            wh_settle_delivery_done(e, r, WH_OUTCOME_LEASE, 0, d->attempt, 0, NULL, NULL);
        }
    e->open = 0;
    entry_settle(w, e);
}

static void on_spill_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    int64_t now = wh_mono_ms();

    while (w->open_head != NULL && w->open_head->spill_at <= now)
        entry_spill(w, w->open_head);
}

/*
 * The end of an attempt of `d` (or of its wait for one: DEFER). While d's entry is open the outcome waits there
 * and is written when the entry settles; a delivery whose task is in Redis records it through finish.lua.
 * `attempt` is the attempt's record for the event's log, or NULL when no attempt was made.
 */
static void outcome(wh_worker_t *w, delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts, long status, const char *error,
                    const char *attempt)
{
    wh_settle_entry_t *e = d->entry;

    if (e == NULL) {
        record(w, d->part, d->id, wh_outcome_name(o), due, attempts, status, error, attempt);
        return;
    }
    if (o == WH_OUTCOME_DEAD)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEAD);
    else if (o == WH_OUTCOME_DEFER)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEFERRED);
    d->entry = NULL;
    if (wh_settle_delivery_done(e, d->rec, o, due, attempts, status, error, attempt))
        entry_settle(w, e);
    d->rec = NULL;
}

/* ---- subscription health: failure streaks and disabling (design §7) ----------------------------------------- */

static uint64_t sub_hash(const char *env, const char *sub)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = env; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = sub; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h | 1; /* never 0: 0 marks an empty slot */
}

/* A success ends the subscription's failure streak; said to Redis at most every HEALTHY_RECHECK_MS per worker. */
static void sub_succeeded(wh_worker_t *w, const delivery_t *d)
{
    uint64_t h = sub_hash(d->env, d->sub);
    int64_t now = wh_now_ms();
    char key[WH_KEY_MAX];

    if (w->healthy[h % HEALTHY_SLOTS].hash == h && now - w->healthy[h % HEALTHY_SLOTS].at < HEALTHY_RECHECK_MS)
        return;
    w->healthy[h % HEALTHY_SLOTS].hash = h;
    w->healthy[h % HEALTHY_SLOTS].at = now;
    wh_key_subfail(key, d->env);
    const char *argv[] = {"HDEL", key, d->sub};
    wh_redis_command(w->cmd, NULL, NULL, 3, argv, NULL);
}

static void on_sub_fail(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    char *sub = data;
    (void)r;
    if (err == WH_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        wh_metric_inc(WH_METRIC_SUBSCRIPTIONS_DISABLED);
        wh_log_warn("subscription_disabled", "{s:s}", "subscriptionId", sub);
    } else if (err != WH_OK)
        wh_log_warn("subscription_health_failed", "{s:s, s:s}", "subscriptionId", sub, "error",
                    err == WH_EINTERNAL ? reply->str : wh_err_name(err));
    free(sub);
}

/*
 * A delivery failed: extends the subscription's failure streak, and disables it (once, with a
 * system.subscription.disabled event) when the streak passes WHARF_DISABLE_AFTER, or at once when `gone`.
 */
static void sub_failed(wh_worker_t *w, const delivery_t *d, bool gone, const char *reason)
{
    uint64_t h = sub_hash(d->env, d->sub);
    char subs[WH_KEY_MAX], fail[WH_KEY_MAX], stream[WH_KEY_MAX], now[24], after[24], iso[WH_ISO8601_LEN],
        event_id[WH_EVENT_ID_LEN + 1];
    int64_t t = wh_now_ms();
    char *tag;

    if (w->healthy[h % HEALTHY_SLOTS].hash == h)
        w->healthy[h % HEALTHY_SLOTS].at = 0;
    wh_key_subs(subs, d->env);
    wh_key_subfail(fail, d->env);
    wh_key_stream(stream, wh_partition_of(d->sub));
    snprintf(now, sizeof(now), "%lld", (long long)t);
    snprintf(after, sizeof(after), "%lld", (long long)w->cfg->disable_after_ms);
    wh_iso8601(t, iso);
    {
        uint8_t random[16];
        wh_random_bytes(random, sizeof(random));
        memcpy(event_id, "evt_", 4);
        wh_hex_encode(random, sizeof(random), event_id + 4);
    }
    const char *argv[] = {subs, fail, stream, d->sub, now, after, gone ? "1" : "0", reason, iso, event_id, d->env};
    if ((tag = strdup(d->sub)) == NULL)
        abort();
    if (wh_redis_script(w->cmd, &wh_script_sub_fail, on_sub_fail, tag, 3, 11, argv, NULL) != WH_OK)
        free(tag);
}

/* ---- per-subscription slots: concurrency and rate across every worker (slots.h) ------------------------------ */

static void slot_release(wh_worker_t *w, delivery_t *d)
{
    if (!d->slotted)
        return;
    d->slotted = false;
    wh_slots_done(w->slots, d->sub);
}

/* slots.h: a slot is held for this delivery. */
static void on_slot_go(void *item, void *data)
{
    delivery_t *d = item;
    wh_worker_t *w = data;

    d->slotted = true;
    if (w->stopping) {
        slot_release(w, d);
        outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms(), d->attempt, 0, NULL, NULL);
        delivery_free(d);
        return;
    }
    start_attempt(w, d);
}

/* slots.h: it waited too long for a slot (or the worker stops): back to Redis, no attempt counted. */
static void on_slot_defer(void *item, int64_t wait_ms, void *data)
{
    delivery_t *d = item;
    wh_worker_t *w = data;

    outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms() + wait_ms, d->attempt, 0, NULL, NULL);
    delivery_free(d);
}

/* The attempt's record for the event's log. */
/* The attempt's record for the event's log, compact (queue/evrec.h): [subscriptionId, attempt, attemptedAt ms,
   latencyMs, statusCode or 0, error class, errorMessage, responseBody, truncated], trailing empty members left out.
   A plain success (no error, no answer body: the common case) is printed directly. Caller frees. */
static char *attempt_record(const delivery_t *d, const wh_http_result_t *res, unsigned attempt, const char *error_class)
{
    json_t *a, *body = NULL;
    char *text;

    if (error_class == NULL && res->body_len == 0 && strpbrk(d->sub, "\"\\") == NULL) {
        size_t n = strlen(d->sub) + 100;
        if ((text = malloc(n)) == NULL)
            abort();
        snprintf(text, n, "[\"%s\",%u,%lld,%lld,%ld]", d->sub, attempt, (long long)(wh_now_ms() - res->latency_ms),
                 (long long)res->latency_ms, (long)res->status);
        return text;
    }
    if ((a = json_pack("[s, I, I, I, I]", d->sub, (json_int_t)attempt, (json_int_t)(wh_now_ms() - res->latency_ms),
                       (json_int_t)res->latency_ms, (json_int_t)res->status)) == NULL)
        abort();
    /* the first WH_MAX_RESPONSE_KEEP bytes, as text when they are UTF-8 */
    if (res->body_len != 0)
        body = json_stringn(res->body, res->body_len);
    if (error_class != NULL || body != NULL) {
        json_array_append_new(a, error_class != NULL ? json_string(error_class) : json_null());
        json_array_append_new(a, error_class != NULL && res->error[0] != '\0'
                                     ? json_stringn_nocheck(res->error, strnlen(res->error, sizeof(res->error)))
                                     : json_null());
        if (body != NULL) {
            json_array_append_new(a, body);
            if (res->body_truncated)
                json_array_append_new(a, json_true());
        }
    }
    if ((text = json_dumps(a, JSON_COMPACT)) == NULL)
        abort();
    json_decref(a);
    return text;
}

static void on_attempt_done(const wh_http_result_t *res, void *data)
{
    delivery_t *d = data;
    wh_worker_t *w = d->w;
    unsigned attempts = d->attempt + 1;
    int64_t now = wh_now_ms(), delay = 0;
    wh_attempt_outcome_t o;
    const char *error_class = NULL;
    char *rec;
    wh_next_t next;

    slot_release(w, d);
    if (res->err == WH_ECANCELED) {
        /* shutting down: hand it back, due now, attempt not counted */
        outcome(w, d, d->entry != NULL ? WH_OUTCOME_DEFER : WH_OUTCOME_RETRY, now, d->attempt, 0, "canceled at shutdown", NULL);
        delivery_free(d);
        pump(w);
        return;
    }
    o.kind = res->err == WH_OK          ? WH_ATTEMPT_RESPONSE
             : res->err == WH_ETIMEDOUT ? WH_ATTEMPT_TIMEOUT
             : res->err == WH_EINVAL    ? WH_ATTEMPT_BAD_URL
                                        : WH_ATTEMPT_UNREACHABLE;
    o.status = res->status;
    o.attempts_made = attempts;
    o.retry_after_ms = wh_retry_after_ms(res->retry_after, now);
    o.throttle_floor_ms = w->cfg->throttle_floor_ms;
    o.rand01 = rand01(w);
    next = wh_backoff_decide(w->cfg->retry_schedule_ms, w->cfg->retry_steps, &o, &delay);
    if (o.kind == WH_ATTEMPT_TIMEOUT)
        error_class = "timeout";
    else if (o.kind == WH_ATTEMPT_BAD_URL)
        error_class = "invalid_url";
    else if (o.kind == WH_ATTEMPT_UNREACHABLE)
        error_class = strstr(res->error, "refused") != NULL && strstr(res->error, "address") != NULL ? "destination_refused"
                                                                                                     : "connection_failed";
    else if (next != WH_NEXT_DELIVERED)
        error_class = "http_status";
    wh_metric_inc(error_class == NULL                               ? WH_METRIC_ATTEMPT_DELIVERED
                  : strcmp(error_class, "timeout") == 0             ? WH_METRIC_ATTEMPT_TIMEOUT
                  : strcmp(error_class, "destination_refused") == 0 ? WH_METRIC_ATTEMPT_REFUSED
                  : strcmp(error_class, "http_status") == 0         ? WH_METRIC_ATTEMPT_HTTP_ERROR
                                                                    : WH_METRIC_ATTEMPT_UNREACHABLE);
    rec = attempt_record(d, res, attempts, error_class);
    switch (next) {
    case WH_NEXT_DELIVERED:
        wh_log_debug("delivered", "{s:s, s:i, s:I}", "deliveryId", d->id, "status", (int)res->status, "latencyMs",
                     (json_int_t)res->latency_ms);
        outcome(w, d, WH_OUTCOME_OK, 0, attempts, res->status, NULL, rec);
        sub_succeeded(w, d);
        break;
    case WH_NEXT_RETRY:
    case WH_NEXT_DEAD:
    case WH_NEXT_DISABLE: {
        const char *why = res->err != WH_OK ? res->error : "non-2xx response";
        wh_log_info("delivery_failed", "{s:s, s:i, s:i, s:s, s:s}", "deliveryId", d->id, "attempt", (int)attempts, "status",
                    (int)res->status, "error", why, "next", next == WH_NEXT_RETRY ? "retry" : "dead");
        outcome(w, d, next == WH_NEXT_RETRY ? WH_OUTCOME_RETRY : WH_OUTCOME_DEAD, now + delay, attempts, res->status, why, rec);
        sub_failed(w, d, next == WH_NEXT_DISABLE, next == WH_NEXT_DISABLE ? "endpoint answered 410 Gone" : "deliveries failing");
        break;
    }
    }
    free(rec);
    delivery_free(d);
    pump(w);
}

static void start_attempt(wh_worker_t *w, delivery_t *d)
{
    char h_id[16 + WH_WEBHOOK_ID_LEN], h_ts[48], h_sig[32 + WH_SIGNATURE_HEADER_MAX], sig[WH_SIGNATURE_HEADER_MAX];
    int64_t ts = wh_now_ms() / 1000;
    const char *headers[3] = {h_id, h_ts, h_sig};
    wh_err_t err;

    /* during a secret rotation both signatures, the new one first */
    wh_sign_header(d->key, d->keylen, d->old_key, d->old_keylen, wh_str_c(d->id), ts, wh_str(d->body->data, d->body->len), sig);
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", d->id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    err = wh_http_post(w->http, d->url, headers, 3, d->body->data, d->body->len, w->cfg->delivery_timeout_ms, on_attempt_done, d);
    if (err != WH_OK) {
        /* a URL curl refuses will never work: dead-letter it now rather than retrying for a day */
        wh_log_warn("delivery_refused", "{s:s, s:s}", "deliveryId", d->id, "error", wh_err_name(err));
        slot_release(w, d);
        outcome(w, d,
                err != WH_ECANCELED ? WH_OUTCOME_DEAD
                : d->entry != NULL  ? WH_OUTCOME_DEFER
                                    : WH_OUTCOME_RETRY,
                wh_now_ms(), d->attempt + (err != WH_ECANCELED), 0, wh_strerror(err), NULL);
        delivery_free(d);
    }
}

static void pump(wh_worker_t *w)
{
    while (w->ready_head != NULL && wh_http_inflight(w->http) + wh_slots_waiting(w->slots) < w->cfg->max_inflight && !w->stopping) {
        delivery_t *d = dequeue(w);
        if (wh_now_ms() > d->start_by) {
            /* waited here too long: another worker may take it once its lease ends; give it back now instead */
            outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms(), d->attempt, 0, NULL, NULL);
            delivery_free(d);
            continue;
        }
        wh_slots_request(w->slots, d->sub, d->max_concurrency, d->rate, d);
    }
    /* reading resumes once the local backlog is back under the bound */
    if (!w->reading && !w->stopping && w->groups_ready && w->batches == 0 && w->ready_len < w->cfg->max_inflight)
        schedule_read(w, 0);
}

static delivery_t *delivery_new(wh_worker_t *w, unsigned part, const char *id, unsigned attempt, const sub_t *s, wh_body_t *body)
{
    delivery_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->url = strdup(s->url)) == NULL)
        abort();
    d->w = w;
    d->part = part;
    d->attempt = attempt;
    snprintf(d->id, sizeof(d->id), "%s", id);
    memcpy(d->key, s->key, s->keylen);
    d->keylen = s->keylen;
    memcpy(d->old_key, s->old_key, s->old_keylen);
    d->old_keylen = s->old_keylen;
    snprintf(d->sub, sizeof(d->sub), "%s", s->id);
    snprintf(d->env, sizeof(d->env), "%s", s->env);
    d->max_concurrency = s->max_concurrency;
    d->rate = s->rate;
    d->start_by = wh_now_ms() + w->cfg->reclaim_idle_ms / 2; /* the lease is timeout + reclaim_idle from now */
    d->body = wh_body_retain(body);
    return d;
}

/* ---- outgoing events ---------------------------------------------------------------------------------- */

/* The cached record as an object: values were stored as JSON text; "additional.x" fields nest again. */
static json_t *record_object(const redisReply *flat)
{
    json_t *obj = json_object(), *additional = NULL;

    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        json_t *val;
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if ((val = json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL)) == NULL)
            continue;
        if (k->len > 11 && memcmp(k->str, "additional.", 11) == 0) {
            if (additional == NULL)
                additional = json_object();
            json_object_setn_new(additional, k->str + 11, k->len - 11, val);
        } else {
            json_object_setn_new(obj, k->str, k->len, val);
        }
    }
    if (additional != NULL)
        json_object_set_new(obj, "additional", additional);
    return obj;
}

/* Design §7 body. `ev` is an envelope object; `_object` (the cached record) is used when present. */
static char *build_body(const json_t *ev, const char *type, size_t *len)
{
    char occurred[WH_ISO8601_LEN], now[WH_ISO8601_LEN];
    json_t *data, *root, *v;
    char *text;

    wh_iso8601(wh_now_ms(), now);
    if (json_is_true(json_object_get(ev, "_system"))) {
        /* system events: their data as written, stamped with their event id */
        data = json_deep_copy(json_object_get(ev, "data"));
        json_object_set(data, "eventId", json_object_get(ev, "eventId"));
        goto Wrap;
    }
    wh_iso8601(json_integer_value(json_object_get(ev, "occurredAt")), occurred);
    data = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:s}", "eventId", json_object_get(ev, "eventId"), "connectionId",
                     json_object_get(ev, "connectionId"), "integrationId", json_object_get(ev, "integrationId"), "objectType",
                     json_object_get(ev, "objectType"), "objectId", json_object_get(ev, "objectId"), "action",
                     json_object_get(ev, "action"), "occurredAt", occurred);
    v = json_object_get(ev, "changedFields");
    json_object_set_new(data, "changedFields", json_is_array(v) ? json_incref(v) : json_array());
    if ((v = json_object_get(ev, "previous")) != NULL)
        json_object_set(data, "previous", v);
    /* a thin event carries ids only: its cached record is stale, and it has no fields of its own */
    if (!json_is_true(json_object_get(ev, "thin"))) {
        if ((v = json_object_get(ev, "_object")) != NULL)
            json_object_set(data, "object", v);
        else
            json_object_set(data, "fields", json_object_get(ev, "fields"));
    }
    if ((v = json_object_get(ev, "extra")) != NULL)
        json_object_set(data, "details", v);
    json_object_set_new(data, "thin", json_boolean(json_is_true(json_object_get(ev, "thin"))));
Wrap:
    root = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", now, "data", data);
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        abort();
    *len = strlen(text);
    return text;
}

/* ---- batches -------------------------------------------------------------------------------------------- */

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i != b->n; ++i)
        json_decref(b->entries[i].events);
    for (size_t i = 0; i != b->nenvs; ++i) {
        env_subs_dispose(b->envs[i]);
        free(b->envs[i]);
    }
    for (size_t i = 0; i != b->nconns; ++i)
        free(b->conns[i]);
    free(b->entries);
    free(b->envs);
    free(b->conns);
    free(b);
}

static void batch_done(batch_t *b)
{
    wh_worker_t *w = b->w;
    bool from_read = b->from_read;

    batch_free(b);
    --w->batches;
    if (from_read)
        w->reading = false;
    pump(w);
}

static env_subs_t *env_of(batch_t *b, const char *env)
{
    for (size_t i = 0; i != b->nenvs; ++i)
        if (strcmp(b->envs[i]->env, env) == 0)
            return b->envs[i];
    return NULL;
}

static env_subs_t *env_add(batch_t *b, const char *env)
{
    env_subs_t *es = calloc(1, sizeof(*es));
    if (es == NULL)
        abort();
    if (b->nenvs == b->cap_envs) {
        b->cap_envs = b->cap_envs == 0 ? 4 : b->cap_envs * 2;
        if ((b->envs = realloc(b->envs, b->cap_envs * sizeof(*b->envs))) == NULL)
            abort();
    }
    snprintf(es->env, sizeof(es->env), "%s", env);
    b->envs[b->nenvs++] = es;
    return es;
}

/* The outgoing type of an envelope object: "crm.<objectType>.<action>", or a system event's own. */
static void event_type(const json_t *ev, char *buf, size_t size)
{
    if (json_is_true(json_object_get(ev, "_system")))
        snprintf(buf, size, "%s", json_string_value(json_object_get(ev, "type")));
    else
        snprintf(buf, size, "crm.%s.%s", json_string_value(json_object_get(ev, "objectType")),
                 json_string_value(json_object_get(ev, "action")));
}

/*
 * One entry's deliveries: the entry is held open (settle.h) and every delivery that may start at once is queued
 * here, with no Redis write; an ordered subscription's deliveries wait their turn in Redis (claim.lua), so they
 * are written when the entry settles. An entry with nothing to attempt settles at once.
 */
static void entry_deliver(batch_t *b, entry_t *en)
{
    wh_worker_t *w = b->w;
    size_t n = en->poison ? 0 : json_array_size(en->events);
    wh_settle_entry_t *e = wh_settle_entry_new(en->part, en->id, n);
    char type[160];

    e->poison = en->poison;
    for (size_t i = 0; i != n; ++i) {
        json_t *ev = json_array_get(en->events, i);
        const char *event_id = json_string_value(json_object_get(ev, "eventId"));
        const char *env = json_string_value(json_object_get(ev, "environmentId"));
        const char *conn = json_string_value(json_object_get(ev, "connectionId"));
        const char *otype = json_string_value(json_object_get(ev, "objectType"));
        const char *oid = json_string_value(json_object_get(ev, "objectId"));
        env_subs_t *es = env_of(b, env);
        size_t nd = 0, k = 0, len;
        char *text;
        wh_body_t *body;
        wh_settle_event_t *sev = &e->ev[i];

        event_type(ev, type, sizeof(type));
        for (size_t s = 0; es != NULL && s != es->n; ++s)
            if (sub_wants(&es->subs[s], type, conn))
                ++nd;
        text = build_body(ev, type, &len);
        body = wh_body_new(text, len);
        free(text);
        wh_settle_event_init(sev, event_id, env, conn, type, json_integer_value(json_object_get(ev, "receivedAt")),
                             json_integer_value(json_object_get(ev, "occurredAt")), body, nd);
        for (size_t s = 0; es != NULL && s != es->n; ++s) {
            const sub_t *sub = &es->subs[s];
            wh_settle_delivery_t *r = &sev->d[k];
            if (!sub_wants(sub, type, conn))
                continue;
            ++k;
            snprintf(r->sub, sizeof(r->sub), "%s", sub->id);
            wh_webhook_id(event_id, sub->id, r->wid);
            if (sub->ordered && otype != NULL && oid != NULL && oid[0] != '\0') {
                char key[WH_KEY_MAX];
                wh_key_order(key, en->part, sub->id, otype, oid);
                if ((r->order_key = strdup(key)) == NULL)
                    abort();
                r->outcome = WH_OUTCOME_ORDERED;
                continue;
            }
            delivery_t *d = delivery_new(w, en->part, r->wid, 0, sub, body);
            d->entry = e;
            d->rec = r;
            r->live = d;
            r->outcome = WH_OUTCOME_OPEN;
            ++e->open;
        }
        wh_body_release(body);
    }
    if (e->open == 0) {
        entry_settle(w, e);
        return;
    }
    open_link(w, e);
    /* queued only now: a delivery must not end (and settle the entry) before the entry is complete */
    for (size_t i = 0; i != e->nev; ++i)
        for (size_t k = 0; k != e->ev[i].nd; ++k)
            if (e->ev[i].d[k].live != NULL)
                enqueue(w, e->ev[i].d[k].live);
}

/* Every apply and subscription lookup is back: the entries' deliveries start. */
static void batch_fan_out(batch_t *b)
{
    if (b->abandon) {
        /* the entries stay pending and are reclaimed */
        batch_done(b);
        return;
    }
    for (size_t i = 0; i != b->n; ++i) {
        entry_t *e = &b->entries[i];
        /* sync and api records that changed nothing emit nothing; their entry is still acknowledged */
        for (size_t k = json_array_size(e->events); k-- > 0;)
            if (json_is_true(json_object_get(json_array_get(e->events, k), "_skip")))
                json_array_remove(e->events, k);
        entry_deliver(b, e);
    }
    batch_done(b);
}

typedef struct {
    batch_t *b;
    json_t *ev;
    bool association; /* the apply wrote an association's child, not the event's own object: `ev` is left as is */
} apply_t;

static json_t *string_list(const redisReply *r)
{
    json_t *a = json_array();
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i != r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(a, json_stringn_nocheck(r->element[i]->str, r->element[i]->len));
    return a;
}

/* Whether the event came from the sync engine or the unified API (records pushed, not changes reported). */
static bool pushed_record(const json_t *ev)
{
    const char *source = json_string_value(json_object_get(ev, "source"));
    return source != NULL && (strcmp(source, "sync") == 0 || strcmp(source, "api") == 0);
}

/*
 * apply.lua answered {state, changed, record, previous, existed}. The event gets the record after the change
 * ("_object"); changedFields and previous come from the cache when the provider did not say. A pushed record
 * (source sync or api) that changed nothing is skipped ("_skip": acknowledged, not dispatched), and one the
 * cache did not hold is announced as created.
 */
static void on_applied(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    apply_t *a = data;
    batch_t *b = a->b;
    json_t *ev = a->ev;

    (void)r;
    if (a->association && err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
        /* the child's record is not the event's object (a thin event carries none): nothing to add to it */
    } else if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5 &&
               reply->element[0]->type == REDIS_REPLY_STRING) {
        const char *state = reply->element[0]->str;
        bool applied = strcmp(state, "applied") == 0;
        if (applied)
            wh_metric_inc(WH_METRIC_EVENTS_APPLIED);
        bool existed = reply->element[4]->type == REDIS_REPLY_INTEGER && reply->element[4]->integer == 1;
        const json_t *cf = json_object_get(ev, "changedFields");
        json_t *changed = string_list(reply->element[1]), *previous = record_object(reply->element[3]);
        if (applied)
            json_object_set_new(ev, "_object", record_object(reply->element[2]));
        if (pushed_record(ev)) {
            /*
             * Unchanged: nothing to announce — but only on an entry's first reading. A reclaimed entry may have
             * been applied already by a worker that died before settling it; apply then reports no change, and
             * skipping would acknowledge the record with its event never sent. It goes out again (at least once).
             */
            if (!applied || (json_array_size(changed) == 0 && a->b->from_read))
                json_object_set_new(ev, "_skip", json_true());
            else if (!existed)
                json_object_set_new(ev, "action", json_string(WH_ACTION_CREATED));
            json_object_set(ev, "changedFields", changed);
            if (existed && json_object_size(previous) != 0)
                json_object_set(ev, "previous", previous);
        } else if (applied) {
            if (json_array_size(cf) == 0 && json_array_size(changed) != 0 && existed)
                json_object_set(ev, "changedFields", changed);
            if (!json_is_object(json_object_get(ev, "previous")) && json_object_size(previous) != 0)
                json_object_set(ev, "previous", previous);
        }
        json_decref(changed);
        json_decref(previous);
    } else {
        /* the cache is a derived view: an apply that failed is logged and the event still goes out */
        wh_log_warn("cache_apply_failed", "{s:s}", "error",
                    err == WH_EINTERNAL ? reply->str
                    : err == WH_OK      ? "unexpected reply"
                                        : wh_err_name(err));
    }
    free(a);
    if (--b->outstanding == 0)
        batch_fan_out(b);
}

typedef struct {
    batch_t *b;
    env_subs_t *es;
} subs_lookup_t;

static void on_subs(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    subs_lookup_t *l = data;
    batch_t *b = l->b;
    env_subs_t *es = l->es;

    free(l);
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY) {
        es->raw = json_array();
        es->subs = reply->elements != 0 ? calloc(reply->elements / 2, sizeof(*es->subs)) : NULL;
        for (size_t i = 0; i + 1 < reply->elements && es->n < WH_MAX_SUBSCRIPTIONS_PER_ENV; i += 2) {
            json_t *j = json_loadb(reply->element[i + 1]->str, reply->element[i + 1]->len, 0, NULL);
            if (j == NULL)
                continue;
            json_array_append_new(es->raw, j);
            if (sub_parse(b->w, j, es->env, &es->subs[es->n]))
                ++es->n;
        }
    } else {
        wh_log_warn("subscriptions_unavailable", "{s:s}", "environmentId", es->env);
        b->abandon = true;
    }
    if (--b->outstanding == 0)
        batch_fan_out(b);
}

/* Whether `ev` is a change the cache may take: a unified object type with an id (not a system event). */
static bool cacheable(const json_t *ev)
{
    const char *oid = json_string_value(json_object_get(ev, "objectId"));
    const char *conn = json_string_value(json_object_get(ev, "connectionId"));
    return !json_is_true(json_object_get(ev, "_system")) &&
           wh_object_type_find(wh_str_c(json_string_value(json_object_get(ev, "objectType")))) != NULL && oid != NULL &&
           oid[0] != '\0' && conn != NULL && strlen(conn) <= WH_MAX_ID_LEN && json_is_string(json_object_get(ev, "action"));
}

/*
 * Sends one cache apply for `ev` when its connection syncs its object type; others are dispatched, not cached.
 * An "associated" event whose extra.association names a unified association is applied instead as a write of
 * the child's reference field (wh_cache_association, cache/README.md), when the child's type is synced.
 */
static bool send_apply(batch_t *b, json_t *ev, wh_cache_synced_t synced)
{
    const char *type = json_string_value(json_object_get(ev, "objectType"));
    const char *action = json_string_value(json_object_get(ev, "action"));
    const json_t *extra = json_object_get(ev, "extra");
    wh_cache_change_t c = {0};
    wh_cache_args_t args;
    json_t *assoc_fields = NULL;
    apply_t *a;
    bool sent;
    int nkeys;

    c.connection_id = json_string_value(json_object_get(ev, "connectionId"));
    c.type = type;
    c.object_id = json_string_value(json_object_get(ev, "objectId"));
    c.action = action;
    c.occurred_at = json_integer_value(json_object_get(ev, "occurredAt"));
    c.thin = json_is_true(json_object_get(ev, "thin"));
    c.fields = json_object_get(ev, "fields");
    c.merged_ids = json_object_get(extra, "mergedIds");
    c.synced = synced;
    if (strcmp(action, WH_ACTION_ASSOCIATED) == 0)
        assoc_fields = wh_cache_association(json_object_get(extra, "association"), &c);
    if (!wh_cache_is_synced(synced, c.type)) {
        json_decref(assoc_fields);
        return true;
    }
    wh_cache_args_init(&args);
    nkeys = wh_cache_args_apply(&args, &c);
    if ((a = malloc(sizeof(*a))) == NULL)
        abort();
    a->b = b;
    a->ev = ev;
    a->association = assoc_fields != NULL;
    json_decref(assoc_fields);
    sent = wh_redis_script(b->w->cmd, &wh_script_apply, on_applied, a, nkeys, (int)args.n, args.argv, args.len) == WH_OK;
    if (sent)
        ++b->outstanding;
    else
        free(a);
    wh_cache_args_dispose(&args);
    return sent;
}

static conn_sync_t *conn_of(batch_t *b, const char *conn)
{
    for (size_t i = 0; i != b->nconns; ++i)
        if (strcmp(b->conns[i]->conn, conn) == 0)
            return b->conns[i];
    return NULL;
}

typedef struct {
    batch_t *b;
    conn_sync_t *cs;
} sync_lookup_t;

/*
 * The connection's sync config is back: its events' applies go out now, in batch order (one Redis connection
 * keeps them in order, so a connection's changes are applied in stream order).
 */
static void on_sync_config(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sync_lookup_t *l = data;
    batch_t *b = l->b;
    conn_sync_t *cs = l->cs;

    (void)r;
    free(l);
    if (err != WH_OK || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        wh_log_warn("sync_config_unavailable", "{s:s}", "connectionId", cs->conn);
        b->abandon = true;
    } else {
        /* nil: the connection is gone (or has no config): its events are dispatched, not cached */
        cs->synced = reply->type == REDIS_REPLY_STRING ? wh_cache_synced_parse(wh_str(reply->str, reply->len)) : 0;
        for (size_t i = 0; i != b->n && !b->abandon; ++i) {
            entry_t *e = &b->entries[i];
            size_t k;
            json_t *ev;
            if (e->poison)
                continue;
            json_array_foreach(e->events, k, ev)
            {
                if (!cacheable(ev) || strcmp(json_string_value(json_object_get(ev, "connectionId")), cs->conn) != 0)
                    continue;
                if (!send_apply(b, ev, cs->synced)) {
                    b->abandon = true;
                    break;
                }
            }
        }
    }
    if (--b->outstanding == 0)
        batch_fan_out(b);
}

/* Looks up the sync config of `conn` once per batch; its applies are sent when it is back. */
static bool lookup_sync(batch_t *b, const char *conn)
{
    char key[WH_KEY_MAX];
    conn_sync_t *cs;
    sync_lookup_t *l;

    if (conn_of(b, conn) != NULL)
        return true;
    if ((cs = calloc(1, sizeof(*cs))) == NULL || (l = malloc(sizeof(*l))) == NULL)
        abort();
    if (b->nconns == b->cap_conns) {
        b->cap_conns = b->cap_conns == 0 ? 4 : b->cap_conns * 2;
        if ((b->conns = realloc(b->conns, b->cap_conns * sizeof(*b->conns))) == NULL)
            abort();
    }
    snprintf(cs->conn, sizeof(cs->conn), "%s", conn);
    b->conns[b->nconns++] = cs;
    l->b = b;
    l->cs = cs;
    wh_key_conn(key, conn);
    const char *argv[] = {"HGET", key, "sync"};
    if (wh_redis_command(b->w->cmd, on_sync_config, l, 3, argv, NULL) != WH_OK) {
        free(l);
        return false;
    }
    ++b->outstanding;
    return true;
}

/* Round 1: decode, then look up subscriptions and sync configs, and apply to the cache, all pipelined. */
static void batch_start(batch_t *b)
{
    wh_worker_t *w = b->w;

    ++w->batches;
    b->outstanding = 1; /* held while sending */
    for (size_t i = 0; i != b->n && !b->abandon; ++i) {
        entry_t *e = &b->entries[i];
        size_t k;
        json_t *ev;
        if (e->poison)
            continue;
        json_array_foreach(e->events, k, ev)
        {
            const char *env = json_string_value(json_object_get(ev, "environmentId"));
            if (env_of(b, env) == NULL && strlen(env) <= WH_MAX_ID_LEN) {
                char key[WH_KEY_MAX];
                env_subs_t *es = env_add(b, env);
                subs_lookup_t *l = malloc(sizeof(*l));
                if (l == NULL)
                    abort();
                l->b = b;
                l->es = es;
                wh_key_subs(key, env);
                const char *argv[] = {"HGETALL", key};
                if (wh_redis_command(w->cmd, on_subs, l, 2, argv, NULL) != WH_OK) {
                    free(l);
                    b->abandon = true;
                    break;
                }
                ++b->outstanding;
            }
            if (cacheable(ev) && !lookup_sync(b, json_string_value(json_object_get(ev, "connectionId")))) {
                b->abandon = true;
                break;
            }
        }
    }
    if (--b->outstanding == 0)
        batch_fan_out(b);
}

/*
 * A system event entry (field "s": JSON {v, eventId, environmentId, type, receivedAt, data}, written by a Lua
 * script such as sub_fail.lua) as a one-event array. It is fanned out like a change event, never applied.
 */
static wh_err_t system_event_unpack(const char *buf, size_t len, json_t **out, char *errbuf)
{
    json_t *ev = json_loadb(buf, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));

    if (ev == NULL || !json_is_object(json_object_get(ev, "data")) || type == NULL || strncmp(type, "system.", 7) != 0 ||
        !json_is_string(json_object_get(ev, "eventId")) || !json_is_string(json_object_get(ev, "environmentId")) ||
        !json_is_integer(json_object_get(ev, "receivedAt"))) {
        json_decref(ev);
        return wh_errf(errbuf, WH_EMALFORMED, "system event: not the expected JSON object");
    }
    if (json_integer_value(json_object_get(ev, "v")) > 1) {
        json_decref(ev);
        return wh_errf(errbuf, WH_EUNSUPPORTED, "system event version %lld",
                       (long long)json_integer_value(json_object_get(ev, "v")));
    }
    if (!json_is_string(json_object_get(ev, "connectionId")))
        json_object_set_new(ev, "connectionId", json_string(""));
    json_object_set_new(ev, "_system", json_true());
    *out = json_array();
    json_array_append_new(*out, ev);
    return WH_OK;
}

/* Builds a batch from stream entries ([id, [field, value, …]] …) of partition `part`. */
static void add_entries(batch_t *b, unsigned part, const redisReply *entries)
{
    for (size_t i = 0; i != entries->elements; ++i) {
        const redisReply *en = entries->element[i];
        entry_t *e = &b->entries[b->n];
        char errbuf[WH_ERRBUF_SIZE] = "";
        const redisReply *fv;
        wh_err_t err = WH_EMALFORMED;

        if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || en->element[0]->type != REDIS_REPLY_STRING ||
            en->element[0]->len >= sizeof(e->id))
            continue; /* a deleted entry still in the PEL comes back as nil: nothing to do */
        memset(e, 0, sizeof(*e));
        e->part = part;
        memcpy(e->id, en->element[0]->str, en->element[0]->len + 1);
        fv = en->element[1];
        for (size_t k = 0; fv->type == REDIS_REPLY_ARRAY && k + 1 < fv->elements; k += 2) {
            if (fv->element[k]->len == 1 && fv->element[k]->str[0] == 'b') {
                err = wh_envelope_unpack(fv->element[k + 1]->str, fv->element[k + 1]->len, &e->events, errbuf);
                break;
            }
            if (fv->element[k]->len == 1 && fv->element[k]->str[0] == 's') {
                err = system_event_unpack(fv->element[k + 1]->str, fv->element[k + 1]->len, &e->events, errbuf);
                break;
            }
        }
        if (err == WH_EUNSUPPORTED) {
            /* written by a newer wharf: leave it pending for a worker that understands it */
            wh_log_error("entry_unsupported", "{s:s, s:s}", "entry", e->id, "error", errbuf);
            continue;
        }
        if (err != WH_OK) {
            /* cannot ever be processed: settle.lua keeps its raw fields aside (wh:poison:{pN}), then acknowledges it */
            wh_log_error("entry_malformed", "{s:s, s:s}", "entry", e->id, "error", errbuf);
            e->events = json_array();
            e->poison = true;
        }
        ++b->n;
    }
}

static batch_t *batch_new(wh_worker_t *w, size_t max_entries, bool from_read)
{
    batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        abort();
    b->w = w;
    b->from_read = from_read;
    b->entries = calloc(max_entries + 1, sizeof(*b->entries));
    if (b->entries == NULL)
        abort();
    return b;
}

static int partition_of_key(const wh_worker_t *w, const redisReply *k)
{
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, w->stream_keys[p]) == 0)
            return (int)p;
    return -1;
}

/* ---- reading -------------------------------------------------------------------------------------------- */

static void on_read(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;
    size_t total = 0;
    batch_t *b;

    if (err != WH_OK) {
        if (err == WH_EINTERNAL && strncmp(reply->str, "NOGROUP", 7) == 0)
            w->groups_ready = false; /* Redis lost its data: create the groups again */
        else if (err == WH_EINTERNAL)
            wh_log_warn("read_failed", "{s:s}", "error", reply->str);
        w->reading = false;
        schedule_read(w, 200);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY) { /* nil: BLOCK timed out */
        w->reading = false;
        schedule_read(w, 0);
        return;
    }
    for (size_t i = 0; i != reply->elements; ++i)
        if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements == 2 &&
            reply->element[i]->element[1]->type == REDIS_REPLY_ARRAY)
            total += reply->element[i]->element[1]->elements;
    b = batch_new(w, total, true);
    for (size_t i = 0; i != reply->elements; ++i) {
        const redisReply *s = reply->element[i];
        int part;
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || (part = partition_of_key(w, s->element[0])) < 0 ||
            s->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        add_entries(b, (unsigned)part, s->element[1]);
    }
    learn_batch(w, b);
    batch_start(b);
}

/*
 * How many entries to read per partition: a batch's applies are pipelined on one connection, so it is bounded by
 * events, not entries (an entry holds 1 to 100 events: a HubSpot batch, 100 sync records). Learnt from what came.
 */
static unsigned read_count(const wh_worker_t *w)
{
    double per_entry = w->events_per_entry < 1.0 ? 1.0 : w->events_per_entry;
    double n = (double)WH_MAX_BATCH_EVENTS / (per_entry * WH_PARTITIONS);
    return n < 1.0 ? 1u : n > WH_READ_COUNT ? (unsigned)WH_READ_COUNT : (unsigned)n;
}

/* Folds one batch's largest entry into the estimate read_count() uses. */
static void learn_batch(wh_worker_t *w, const batch_t *b)
{
    size_t biggest = 0;

    /* a decaying maximum of the largest entry, not an average: one big entry after many small ones must not find
       the read sized for small ones (the bound matters, not the typical batch) */
    for (size_t i = 0; i != b->n; ++i)
        if (json_array_size(b->entries[i].events) > biggest)
            biggest = json_array_size(b->entries[i].events);
    w->events_per_entry = (double)biggest > 0.8 * w->events_per_entry ? (double)biggest : 0.8 * w->events_per_entry;
}

static void read_now(wh_worker_t *w)
{
    const char *argv[9 + 2 * WH_PARTITIONS];
    char count[16], block[16];
    int argc = 0;

    if (w->stopping || w->reading)
        return;
    if (!w->groups_ready) {
        schedule_read(w, 200);
        return;
    }
    snprintf(count, sizeof(count), "%u", read_count(w));
    snprintf(block, sizeof(block), "%d", READ_BLOCK_MS);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = WH_CONSUMER_GROUP;
    argv[argc++] = w->cfg->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    argv[argc++] = "BLOCK";
    argv[argc++] = block;
    argv[argc++] = "STREAMS";
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        argv[argc++] = w->stream_keys[p];
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        argv[argc++] = ">";
    if (wh_redis_command_blocking(w->rd, READ_BLOCK_MS, on_read, w, argc, argv, NULL) != WH_OK) {
        schedule_read(w, 200);
        return;
    }
    w->reading = true;
}

static void on_read_timer(uv_timer_t *t)
{
    read_now(t->data);
}

static void schedule_read(wh_worker_t *w, uint64_t delay_ms)
{
    if (!w->stopping)
        uv_timer_start(&w->read_timer, on_read_timer, delay_ms, 0);
}

static void on_group(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;

    if (err == WH_EINTERNAL && strncmp(reply->str, "BUSYGROUP", 9) == 0)
        err = WH_OK;
    if (err != WH_OK)
        wh_log_warn("group_create_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
    if (--w->creating_groups == 0)
        w->groups_ready = err == WH_OK;
}

static void ensure_groups(wh_worker_t *w)
{
    if (w->groups_ready || w->creating_groups != 0 || !wh_redis_ready(w->cmd))
        return;
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        /* from 0, not $: entries queued before any worker existed are still to be processed */
        const char *argv[] = {"XGROUP", "CREATE", w->stream_keys[p], WH_CONSUMER_GROUP, "0", "MKSTREAM"};
        if (wh_redis_command(w->cmd, on_group, w, 6, argv, NULL) == WH_OK)
            ++w->creating_groups;
    }
}

/* ---- retries and reclaims --------------------------------------------------------------------------------- */

typedef struct {
    wh_worker_t *w;
    unsigned part;
    unsigned attempt;
    char id[WH_WEBHOOK_ID_LEN + 1];
    char sub[WH_MAX_ID_LEN + 1];
    char env[WH_MAX_ID_LEN + 1];
    wh_body_t *body;
} claimed_t;

static void on_claimed_sub(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    claimed_t *c = data;
    wh_worker_t *w = c->w;
    json_t *j = NULL;
    sub_t s;

    if (err != WH_OK) {
        /* the lease expires and the delivery comes back */
    } else if (reply->type == REDIS_REPLY_STRING && (j = json_loadb(reply->str, reply->len, 0, NULL)) != NULL && !sub_active(j)) {
        /* disabled: no further attempts; kept as a dead letter, so enable + replay can send it again */
        wh_log_info("delivery_dead", "{s:s, s:s, s:s}", "deliveryId", c->id, "subscriptionId", c->sub, "reason",
                    "subscription disabled");
        record(w, c->part, c->id, "dead", 0, c->attempt, 0, "subscription disabled", NULL);
    } else if (j == NULL || !sub_parse(w, j, c->env, &s)) {
        wh_log_info("delivery_dropped", "{s:s, s:s, s:s}", "deliveryId", c->id, "subscriptionId", c->sub, "reason",
                    "subscription deleted or unusable");
        record(w, c->part, c->id, "drop", 0, c->attempt, 0, "subscription gone", NULL);
    } else {
        enqueue(w, delivery_new(w, c->part, c->id, c->attempt, &s, c->body));
        free(s.url);
        OPENSSL_cleanse(s.key, sizeof(s.key));
        OPENSSL_cleanse(s.old_key, sizeof(s.old_key));
    }
    json_decref(j);
    wh_body_release(c->body);
    free(c);
    pump(w);
}

typedef struct {
    wh_worker_t *w;
    unsigned part;
} part_call_t;

static part_call_t *part_call(wh_worker_t *w, unsigned part)
{
    part_call_t *c = malloc(sizeof(*c));
    if (c == NULL)
        abort();
    c->w = w;
    c->part = part;
    return c;
}

static void on_claim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    part_call_t *pc = data;
    wh_worker_t *w = pc->w;
    unsigned part = pc->part;

    free(pc);
    --w->claiming;
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY)
        return;
    /* rows of 8: id, attempt, sub, env, conn, type, event, body */
    for (size_t i = 0; i + 7 < reply->elements; i += 8) {
        redisReply **row = &reply->element[i];
        claimed_t *c;
        char key[WH_KEY_MAX];
        long long attempt = 0;
        if (row[0]->type != REDIS_REPLY_STRING || row[2]->type != REDIS_REPLY_STRING || row[3]->type != REDIS_REPLY_STRING ||
            row[0]->len > WH_WEBHOOK_ID_LEN || row[2]->len > WH_MAX_ID_LEN || row[3]->len > WH_MAX_ID_LEN)
            continue;
        if (row[1]->type == REDIS_REPLY_STRING)
            wh_str_to_i64(wh_str(row[1]->str, row[1]->len), &attempt);
        if (row[7]->type != REDIS_REPLY_STRING) {
            record(w, part, row[0]->str, "drop", 0, (unsigned)attempt, 0, "event body expired", NULL);
            continue;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL)
            abort();
        c->w = w;
        c->part = part;
        c->attempt = (unsigned)attempt;
        memcpy(c->id, row[0]->str, row[0]->len + 1);
        memcpy(c->sub, row[2]->str, row[2]->len + 1);
        snprintf(c->env, sizeof(c->env), "%.*s", (int)row[3]->len, row[3]->str);
        c->body = wh_body_new(row[7]->str, row[7]->len);
        wh_key_subs(key, row[3]->str);
        const char *argv[] = {"HGET", key, c->sub};
        if (wh_redis_command(w->cmd, on_claimed_sub, c, 3, argv, NULL) != WH_OK) {
            wh_body_release(c->body);
            free(c);
        }
    }
}

static void on_claim_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    size_t busy;
    char lease[24], now[24], count[24], due[WH_KEY_MAX], dprefix[WH_KEY_MAX], eprefix[WH_KEY_MAX], span[24];

    pump(w); /* a backlog freed by deferrals (slots.h) resumes here at the latest */
    busy = wh_http_inflight(w->http) + w->ready_len;

    if (w->stopping || w->claiming != 0 || busy >= w->cfg->max_inflight || !wh_redis_ready(w->cmd))
        return;
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_until(w));
    snprintf(now, sizeof(now), "%lld", (long long)wh_now_ms());
    snprintf(count, sizeof(count), "%zu", (w->cfg->max_inflight - busy) / WH_PARTITIONS + 1);
    snprintf(span, sizeof(span), "%lld", (long long)WH_EVENT_BUCKET_MS);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        wh_key_due(due, p);
        wh_key_delivery_prefix(dprefix, p);
        wh_key_event_bucket_prefix(eprefix, p);
        const char *argv[] = {due, now, lease, count, dprefix, eprefix, ORDER_RECHECK_MS_TEXT, span};
        part_call_t *pc = part_call(w, p);
        if (wh_redis_script(w->cmd, &wh_script_claim, on_claim, pc, 1, 8, argv, NULL) == WH_OK)
            ++w->claiming;
        else
            free(pc);
    }
    ensure_groups(w);
}

static void on_reclaim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    part_call_t *pc = data;
    wh_worker_t *w = pc->w;
    unsigned part = pc->part;
    batch_t *b;

    free(pc);
    --w->claiming;
    /* XAUTOCLAIM: [next cursor, [entries…], [deleted ids…]]; the next call goes on from the cursor ("0-0": the
       scan is through, start over), so entries left pending on purpose are not claimed again at every tick */
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(w->reclaim_cursor[part]))
        memcpy(w->reclaim_cursor[part], reply->element[0]->str, reply->element[0]->len + 1);
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[1]->elements == 0 || w->stopping)
        return;
    wh_log_info("entries_reclaimed", "{s:i, s:i}", "partition", (int)part, "count", (int)reply->element[1]->elements);
    b = batch_new(w, reply->element[1]->elements, false);
    add_entries(b, part, reply->element[1]);
    learn_batch(w, b);
    batch_start(b);
}

static void on_reclaim_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    char idle[24], count[16];

    if (w->stopping || !w->groups_ready || w->ready_len >= w->cfg->max_inflight)
        return;
    snprintf(idle, sizeof(idle), "%lld", (long long)w->cfg->reclaim_idle_ms);
    snprintf(count, sizeof(count), "%u", read_count(w) < RECLAIM_COUNT ? read_count(w) : RECLAIM_COUNT);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        const char *argv[] = {"XAUTOCLAIM", w->stream_keys[p],    WH_CONSUMER_GROUP, w->cfg->consumer,
                              idle,         w->reclaim_cursor[p], "COUNT",           count};
        part_call_t *pc = part_call(w, p);
        if (wh_redis_command(w->cmd, on_reclaim, pc, 8, argv, NULL) == WH_OK)
            ++w->claiming;
        else
            free(pc);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------------------- */

static void on_purge_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    wh_purge_tick(&w->purge);
}

static void on_cmd_ready(wh_redis_t *r, void *data)
{
    wh_worker_t *w = data;
    w->groups_ready = false;
    ensure_groups(w);
    schedule_read(w, 50);
}

static void on_closed(void *data)
{
    wh_worker_t *w = data;
    if (--w->closing == 0)
        uv_stop(&w->loop);
}

static void on_handle_closed(uv_handle_t *h)
{
    on_closed(h->data);
}

static void close_all(wh_worker_t *w)
{
    w->closing = 3 + 8 + 1;
    wh_purge_dispose(&w->purge);
    /* waiters go back to Redis (their "defer" outcomes are recorded), then attempts still running are canceled
       ("retry", due now), then those outcomes are sent before the connection closes: a clean stop leaves no
       delivery waiting for its lease to end (best effort: what Redis does not take comes back with the lease) */
    wh_slots_close(w->slots, on_closed, w);
    wh_http_close(w->http, on_closed, w);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        flush_outcomes(w, p);
    wh_redis_close(w->rd, on_closed, w);
    wh_redis_close(w->cmd, on_closed, w);
    uv_close((uv_handle_t *)&w->read_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->claim_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->reclaim_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->purge_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->spill_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop, on_handle_closed);
    uv_close((uv_handle_t *)&w->flush_check, on_handle_closed);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        wh_cache_args_dispose(&w->outcomes[p]); /* anything recorded after the flush comes back with its lease */
        wh_cache_args_init(&w->outcomes[p]);
        w->noutcomes[p] = 0;
        wh_settle_call_reset(&w->settles[p]); /* entries not settled stay pending and are reclaimed */
    }
}

static void on_stop_tick(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    delivery_t *d;

    /* deliveries not started yet go back to Redis, due now, for whichever worker is alive */
    while ((d = dequeue(w)) != NULL) {
        outcome(w, d, d->entry != NULL ? WH_OUTCOME_DEFER : WH_OUTCOME_RETRY, wh_now_ms(), d->attempt, 0, "released at shutdown",
                NULL);
        delivery_free(d);
    }
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        flush_outcomes(w, p);
    if ((wh_http_inflight(w->http) == 0 && w->batches == 0 && !w->reading && w->claiming == 0 && w->recording == 0 &&
         w->nopen == 0) ||
        wh_mono_ms() >= w->stop_deadline) {
        uv_timer_stop(t);
        close_all(w);
    }
}

static void on_stop(uv_async_t *a)
{
    wh_worker_t *w = a->data;

    w->stopping = true;
    w->stop_deadline = wh_mono_ms() + w->cfg->shutdown_grace_ms;
    uv_timer_stop(&w->read_timer);
    uv_timer_stop(&w->claim_timer);
    uv_timer_stop(&w->reclaim_timer);
    uv_timer_stop(&w->purge_timer);
    /* the spill timer keeps going: an entry whose deliveries wait for slots still settles */
    uv_timer_start(&w->stop_timer, on_stop_tick, 0, 20);
}

static void *thread_main(void *arg)
{
    wh_worker_t *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    return NULL;
}

wh_err_t wh_worker_start(const wh_config_t *cfg, wh_worker_t **out, char *errbuf)
{
    wh_worker_t *w = calloc(1, sizeof(*w));
    uint64_t reclaim_every;

    if (w == NULL)
        abort();
    w->cfg = cfg;
    wh_random_bytes(&w->rng, sizeof(w->rng));
    w->rng |= 1;
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        wh_key_stream(w->stream_keys[p], p);
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    uv_timer_init(&w->loop, &w->read_timer);
    uv_timer_init(&w->loop, &w->claim_timer);
    uv_timer_init(&w->loop, &w->reclaim_timer);
    uv_timer_init(&w->loop, &w->stop_timer);
    uv_timer_init(&w->loop, &w->purge_timer);
    uv_timer_init(&w->loop, &w->spill_timer);
    w->spill_timer.data = w;
    w->events_per_entry = WH_MAX_BATCH; /* until batches say otherwise, assume full entries */
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, on_flush_check);
    for (unsigned p = 0; p != WH_PARTITIONS; ++p) {
        wh_cache_args_init(&w->outcomes[p]);
        wh_settle_call_init(&w->settles[p], p);
        snprintf(w->reclaim_cursor[p], sizeof(w->reclaim_cursor[p]), "0-0");
    }
    w->read_timer.data = w->claim_timer.data = w->reclaim_timer.data = w->stop_timer.data = w->purge_timer.data = w;
    w->rd = wh_redis_new(&w->loop, cfg, "worker-read");
    w->cmd = wh_redis_new(&w->loop, cfg, "worker");
    wh_purge_init(&w->purge, w->cmd);
    w->http = wh_http_new(&w->loop, cfg);
    wh_egress_install(w->http, cfg);
    /* slots outlive a dead worker by its deliveries' lease; a waiter may wait half the reclaim time */
    w->slots = wh_slots_new(&w->loop, w->cmd, cfg->consumer, cfg->delivery_timeout_ms + cfg->reclaim_idle_ms,
                            cfg->reclaim_idle_ms / 2, on_slot_go, on_slot_defer, w);
    wh_redis_on_ready(w->cmd, on_cmd_ready, w);
    wh_redis_start(w->rd);
    wh_redis_start(w->cmd);
    uv_timer_start(&w->claim_timer, on_claim_timer, CLAIM_PERIOD_MS, CLAIM_PERIOD_MS);
    reclaim_every = (uint64_t)(cfg->reclaim_idle_ms / 2 > 200 ? cfg->reclaim_idle_ms / 2 : 200);
    uv_timer_start(&w->reclaim_timer, on_reclaim_timer, reclaim_every, reclaim_every);
    uv_timer_start(&w->purge_timer, on_purge_timer, WH_PURGE_PERIOD_MS, WH_PURGE_PERIOD_MS);
    uv_timer_start(&w->spill_timer, on_spill_timer, (uint64_t)spill_after_ms(w) / 4 + 1, (uint64_t)spill_after_ms(w) / 4 + 1);
    if (pthread_create(&w->tid, NULL, thread_main, w) != 0) {
        free(w);
        return wh_errf(errbuf, WH_EINTERNAL, "cannot start the worker thread");
    }
    wh_log_info("worker_started", "{s:s, s:i}", "consumer", cfg->consumer, "maxInflight", (int)cfg->max_inflight);
    *out = w;
    return WH_OK;
}

void wh_worker_stop(wh_worker_t *w)
{
    uv_async_send(&w->stop);
    pthread_join(w->tid, NULL);
    /* entries still open at the deadline stay pending in Redis (reclaimed by another worker); their deliveries
       were canceled with the HTTP client */
    while (w->open_head != NULL) {
        wh_settle_entry_t *e = w->open_head;
        open_unlink(w, e);
        wh_settle_entry_free(e);
    }
    for (unsigned p = 0; p != WH_PARTITIONS; ++p)
        wh_settle_call_dispose(&w->settles[p]);
    for (unsigned i = 0; i != KEY_CACHE_SLOTS; ++i) {
        free(w->keys[i].sealed);
        OPENSSL_cleanse(w->keys[i].key, sizeof(w->keys[i].key));
    }
    wh_log_info("worker_stopped", NULL);
    free(w);
}
