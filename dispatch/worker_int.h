/*
 * What the worker's stage files share: its types and their functions. Not an interface: dispatch/worker.h is.
 *
 *   worker.c   lifecycle: thread, timers, start, graceful stop
 *   read.c     XREADGROUP / XAUTOCLAIM ▸ batches of decoded entries ▸ lookups
 *   subs.c     subscriptions: parsed, matched, their health
 *   apply.c    the synced cache (apply.lua) in stream order per connection
 *   body.c     the outgoing body, once per event
 *   deliver.c  deliveries: queue, slots, attempt, outcome
 *   record.c   outcomes: settle.lua (open entries) and finish.lua (tasks), one call per partition per turn
 *   retry.c    due tasks leased back by claim.lua
 */
#ifndef WH_WORKER_INT_H
#define WH_WORKER_INT_H

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "../cache/cache.h"
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../queue/outbox.h"
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
#include "repair.h"
#include "settle.h"
#include "sign.h"
#include "slots.h"
#include "worker.h"

#define READ_BLOCK_MS 1000
/* Batches one reader may have in progress at once: the next batch is read and decoded, and its lookups and cache
   applies queued behind the current one's on the same connection (so a connection's changes still apply in stream
   order), while Redis works through the current one. With one at a time, the worker and Redis took turns. */
#define WK_READ_AHEAD 2
#define CLAIM_PERIOD_MS 100
#define RECLAIM_COUNT 64
/* Outcomes sent in one finish.lua call at most (more in one loop turn: several calls). */
#define RECORD_BATCH 128
/* An ordered delivery waiting behind an earlier event of its object is looked at again this much later. */
#define ORDER_RECHECK_MS_TEXT "250"

typedef struct wk_delivery {
    struct wk_delivery *next;
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
} wk_delivery_t;

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
} wk_sub_t;

/* Opened subscription secrets, by their sealed text: a batch's subscriptions are not decrypted again. */
#define KEY_CACHE_SLOTS 256

typedef struct {
    uint64_t hash;
    char *sealed; /* the sealed secret, owned; NULL: empty slot */
    char id[WH_MAX_ID_LEN + 1];
    uint8_t key[WH_SIGN_KEY_MAX];
    size_t keylen;
} wk_key_cache_t;

/* Subscriptions this worker saw succeed lately: their failure streak in Redis was cleared at `at`. */
#define HEALTHY_SLOTS 256
#define HEALTHY_RECHECK_MS 10000

typedef struct {
    char env[WH_MAX_ID_LEN + 1];
    json_t *raw; /* owns the JSON the subs borrow from */
    wk_sub_t *subs;
    size_t n;
} wk_env_subs_t;

typedef struct {
    unsigned part;
    char id[64];
    json_t *events; /* envelope objects; each gets "_object" (cached record) after apply */
    bool poison;
} wk_entry_t;

/* A connection's sync config, looked up once per batch (wh:conn:{c:…} field "sync"). */
typedef struct {
    char conn[WH_MAX_ID_LEN + 1];
    wh_cache_synced_t synced;
} wk_conn_sync_t;

/*
 * Sync configs read lately, direct-mapped by connection id (a collision replaces the older one): a batch whose
 * connections were looked up less than SYNC_CACHE_MS ago sends its applies at once, queued behind the previous
 * batch's on the same connection, instead of after one more HGET round trip that left Redis idle. A change of a
 * connection's sync config takes effect within SYNC_CACHE_MS. An entry is not used while a lookup of its
 * connection is in flight (`pending`): applies sent at once then could overtake those waiting for that lookup.
 */
#define SYNC_CACHE_SLOTS 1024
#define SYNC_CACHE_MS 1000

typedef struct {
    char conn[WH_MAX_ID_LEN + 1]; /* "": empty */
    wh_cache_synced_t synced;
    int64_t at;       /* wh_mono_ms() of the lookup's answer; 0: none yet */
    unsigned pending; /* lookups of this connection in flight */
} wk_sync_cached_t;

typedef struct wk_batch {
    struct wh_worker *w;
    wk_entry_t *entries;
    size_t n;
    wk_env_subs_t **envs; /* one per environment in the batch; pointers stay put while lookups are in flight */
    size_t nenvs, cap_envs;
    wk_conn_sync_t **conns; /* one per connection whose events the cache may take */
    size_t nconns, cap_conns;
    unsigned outstanding;
    struct wk_reader *reader; /* the reader whose read made it; NULL for reclaimed entries */
    bool abandon;             /* a lookup failed: fan nothing out; the entries stay pending and are reclaimed */
} wk_batch_t;

/*
 * One XREADGROUP loop over partitions [first, first + count). On one Redis a single reader reads every partition
 * with one multi-key read; on a Redis Cluster a read names one slot, so there is a reader per partition, each on
 * its own client (a blocked read holds its connection until it returns).
 */
typedef struct wk_reader {
    struct wh_worker *w;
    wh_redis_t *rd;
    unsigned first, count;
    bool reading;     /* its XREADGROUP is in progress */
    unsigned batches; /* batches its reads made that are not done yet: at most WK_READ_AHEAD */
    uv_timer_t timer;
} wk_reader_t;

struct wh_worker {
    const wh_config_t *cfg;
    char consumer[sizeof(((wh_config_t *)0)->consumer) + 8]; /* its name in the consumer group (worker.h) */
    _Atomic int64_t heartbeat_ms;                            /* wh_mono_ms() of the loop's last claim tick (wh_worker_live) */
    _Atomic bool ready_flag;                                 /* as of that tick (wh_worker_ready) */
    pthread_t tid;
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t claim_timer, reclaim_timer, stop_timer, purge_timer;
    wh_purge_t purge;                       /* deleted connections' keys, a few hundred per step (purge.h) */
    wh_repair_t repair;                     /* what died half way between two slots, finished (repair.h) */
    wh_slots_t *slots;                      /* per-subscription slots and rate tokens (slots.h) */
    wk_reader_t readers[WH_MAX_PARTITIONS]; /* blocking XREADGROUP only */
    unsigned nreaders;
    wh_redis_t *cmd; /* everything else */
    wh_http_t *http;
    char stream_keys[WH_MAX_PARTITIONS][WH_KEY_MAX];
    bool groups_ready, stopping;
    unsigned creating_groups;
    unsigned batches;                            /* batches in progress */
    unsigned claiming;                           /* claim / reclaim calls awaiting replies */
    unsigned recording;                          /* finish.lua and settle.lua calls awaiting Redis: shutdown waits */
    wh_cache_args_t outcomes[WH_MAX_PARTITIONS]; /* this loop turn's outcomes, per partition (record) */
    unsigned noutcomes[WH_MAX_PARTITIONS];
    wh_settle_call_t settles[WH_MAX_PARTITIONS]; /* this loop turn's settled entries, per partition */
    wh_settle_entry_t *open_head, *open_tail;    /* entries whose first attempts are running, oldest first */
    size_t nopen;
    uv_timer_t spill_timer;
    char reclaim_cursor[WH_MAX_PARTITIONS][48]; /* where XAUTOCLAIM goes on from, per partition */
    int64_t consumers_swept_at;                 /* wh_mono_ms() of the last sweep of idle consumers (read.c) */
    wk_key_cache_t keys[KEY_CACHE_SLOTS];
    wk_sync_cached_t sync_cache[SYNC_CACHE_SLOTS];
    uv_check_t flush_check;
    wk_delivery_t *ready_head, *ready_tail;
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

/* A per-partition Redis call's context (claim, reclaim). */
typedef struct {
    wh_worker_t *w;
    unsigned part;
} wk_part_call_t;

/* An environment's subscriptions being looked up for a batch (read.c sends, subs.c answers). */
typedef struct {
    wk_batch_t *b;
    wk_env_subs_t *es;
} wk_subs_lookup_t;

/* worker.c */
int64_t wk_lease_until(const wh_worker_t *w);

/* read.c */
/* Entries to read per partition when entries hold `events_per_entry` events: a batch holds at most
   WH_MAX_BATCH_EVENTS events (its applies are pipelined on one connection), and at most WH_READ_COUNT entries. */
unsigned wk_read_size(double events_per_entry);
/* The estimate after a batch whose largest entry held `biggest` events: a decaying maximum. */
double wk_read_learn(double estimate, size_t biggest);
void wk_batch_done(wk_batch_t *b);
/* Starts a read soon on every reader not reading. */
void wk_schedule_reads(wh_worker_t *w, uint64_t delay_ms);
/* Whether a reader reads, or processes what it read. */
bool wk_reading(const wh_worker_t *w);
/* Whether every reader's client is ready. */
bool wk_readers_ready(const wh_worker_t *w);
/* The first reader covers every partition; on a Redis Cluster, once its client knows, it is split (read.c). */
void wk_readers_init(wh_worker_t *w);
/* Closes every reader's client and timer: 2 close callbacks each. */
void wk_readers_close(wh_worker_t *w, void (*client_closed)(void *), uv_close_cb timer_closed);
void wk_ensure_groups(wh_worker_t *w);
void wk_on_reclaim_timer(uv_timer_t *t);

/* subs.c */
bool wk_sub_active(const json_t *j);
bool wk_sub_parse(wh_worker_t *w, json_t *j, const char *env, wk_sub_t *s);
bool wk_sub_wants(const wk_sub_t *s, const char *type, const char *conn);
void wk_env_subs_dispose(wk_env_subs_t *e);
void wk_sub_succeeded(wh_worker_t *w, const wk_delivery_t *d);
void wk_sub_failed(wh_worker_t *w, const wk_delivery_t *d, bool gone, const char *reason);
wk_env_subs_t *wk_env_of(wk_batch_t *b, const char *env);
wk_env_subs_t *wk_env_add(wk_batch_t *b, const char *env);
void wk_on_subs(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/* apply.c */
bool wk_cacheable(const json_t *ev);
bool wk_lookup_sync(wk_batch_t *b, const char *conn);

/* body.c */
char *wk_build_body(const json_t *ev, const char *type, size_t *len);
void wk_event_type(const json_t *ev, char *buf, size_t size);

/* deliver.c */
void wk_delivery_free(wk_delivery_t *d);
void wk_enqueue(wh_worker_t *w, wk_delivery_t *d);
wk_delivery_t *wk_dequeue(wh_worker_t *w);
void wk_on_slot_go(void *item, void *data);
void wk_on_slot_defer(void *item, int64_t wait_ms, void *data);
void wk_pump(wh_worker_t *w);
wk_delivery_t *wk_delivery_new(wh_worker_t *w, unsigned part, const char *id, unsigned attempt, const wk_sub_t *s, wh_body_t *body);
void wk_batch_fan_out(wk_batch_t *b);

/* record.c */
void wk_record(wh_worker_t *w, unsigned part, const char *id, const char *outcome, int64_t next_due, unsigned attempts, long status,
               const char *error, const char *attempt);
void wk_flush_outcomes(wh_worker_t *w, unsigned part);
void wk_on_flush_check(uv_check_t *c);
void wk_open_unlink(wh_worker_t *w, wh_settle_entry_t *e);
void wk_entry_settle(wh_worker_t *w, wh_settle_entry_t *e);
int64_t wk_spill_after_ms(const wh_worker_t *w);
void wk_open_link(wh_worker_t *w, wh_settle_entry_t *e);
void wk_on_spill_timer(uv_timer_t *t);
void wk_outcome(wh_worker_t *w, wk_delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts, long status, const char *error,
                const char *attempt);

/* retry.c */
wk_part_call_t *wk_part_call(wh_worker_t *w, unsigned part);
void wk_on_claim_timer(uv_timer_t *t);

#endif
