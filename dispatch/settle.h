/*
 * Settling: a stream entry's first round of deliveries, held in memory until it is over, then written to Redis in
 * one queue/scripts/settle.lua call per partition per loop turn.
 *
 * "The queue is the log": an entry read from a partition stays pending in the consumer group while its events'
 * first attempts run straight from memory, with no Redis write per delivery. When every first attempt is over
 * (or the entry has waited long enough: its unfinished deliveries are then written as leased tasks, "spilled"),
 * one call records each event (body, delivery states, first attempt records), writes a durable task only for
 * what still has to happen (retry, dead letter, ordered, not yet attempted), and acknowledges the entry. A worker
 * that dies before that call loses nothing: the entry is reclaimed and processed again (at least once, the same
 * webhook-id).
 *
 * This file holds the data (typed, no JSON) and the argument builder; dispatch/worker.c drives it.
 */
#ifndef WH_SETTLE_H
#define WH_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../common/limits.h"
#include "../queue/argv.h"
#include "sign.h"

/* A delivery body shared by every subscription's delivery of one event (refcounted, built once). */
typedef struct wh_body {
    unsigned refs;
    size_t len;
    char data[];
} wh_body_t;

wh_body_t *wh_body_new(const char *data, size_t len);
wh_body_t *wh_body_retain(wh_body_t *b);
void wh_body_release(wh_body_t *b);

/* X(name, text as settle.lua and finish.lua read it) */
#define WH_OUTCOME_MAP(X)                                                                                                          \
    X(OPEN, "open")       /* first attempt not over yet (never sent) */                                                            \
    X(OK, "ok")           /* delivered */                                                                                          \
    X(DROP, "drop")       /* nothing to do any more (subscription gone) */                                                         \
    X(DEAD, "dead")       /* a dead letter */                                                                                      \
    X(RETRY, "retry")     /* attempted, failed: due again at `due` */                                                              \
    X(DEFER, "defer")     /* not attempted (cap, rate, shutdown): due at `due` */                                                  \
    X(LEASE, "lease")     /* still being attempted when its entry settled: a leased task */                                        \
    X(ORDERED, "ordered") /* an ordered subscription's: joins its object's queue */

typedef enum {
#define X(name, text) WH_OUTCOME_##name,
    WH_OUTCOME_MAP(X)
#undef X
} wh_outcome_t;

const char *wh_outcome_name(wh_outcome_t o);

typedef struct {
    char sub[WH_MAX_ID_LEN + 1];
    char wid[WH_WEBHOOK_ID_LEN + 1];
    wh_outcome_t outcome;
    int64_t due;       /* RETRY, DEFER */
    unsigned attempts; /* attempts made */
    long status;       /* last HTTP status, 0 if none */
    char *error;       /* owned; last error, or NULL */
    char *record;      /* owned; the first attempt's record (JSON text), or NULL */
    char *order_key;   /* owned; ORDERED: the object's queue key */
    void *live;        /* the worker's delivery while OPEN; NULL once its outcome is here */
} wh_settle_delivery_t;

typedef struct {
    char *event_id, *env, *conn, *type; /* owned */
    int64_t received_ms, occurred_ms;
    wh_body_t *body; /* a reference */
    wh_settle_delivery_t *d;
    size_t nd;
} wh_settle_event_t;

typedef struct wh_settle_entry {
    struct wh_settle_entry *prev, *next; /* the worker's list of open entries, oldest first */
    unsigned part;
    char id[64];
    bool poison; /* malformed: its raw fields are kept aside, then it is acknowledged */
    wh_settle_event_t *ev;
    size_t nev;
    size_t open;      /* deliveries still OPEN */
    size_t added;     /* events already added to a settle call (an entry may span calls) */
    int64_t spill_at; /* past this (wh_mono_ms), OPEN deliveries become LEASE and the entry settles */
} wh_settle_entry_t;

/* An entry of `nev` events, each with room for its deliveries (wh_settle_event_init). */
wh_settle_entry_t *wh_settle_entry_new(unsigned part, const char *id, size_t nev);
/* Copies the event's identity, takes a reference to `body`, and makes room for `nd` deliveries. */
void wh_settle_event_init(wh_settle_event_t *ev, const char *event_id, const char *env, const char *conn, const char *type,
                          int64_t received_ms, int64_t occurred_ms, wh_body_t *body, size_t nd);
void wh_settle_entry_free(wh_settle_entry_t *e);
/* Sets delivery d's outcome (copying error and record); returns true when that ended the entry's last OPEN one. */
bool wh_settle_delivery_done(wh_settle_entry_t *e, wh_settle_delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts,
                             long status, const char *error, const char *record);

/* Appends the event's record (queue/evrec.h) to `a` as one argument: its states and first attempt records, a
   newline, its body. */
void wh_settle_record(wh_argv_t *a, const wh_settle_event_t *ev);

/* The records of one minute bucket of the event store, in one plain HSET sent just before the settle.lua call:
   records (about a kilobyte each) never pass through Lua, whose copying of arguments into strings was most of the
   script's time. */
typedef struct {
    int64_t bucket; /* received ms / WH_EVENT_BUCKET_MS */
    size_t n;       /* events */
    wh_argv_t hset; /* "HSET", the bucket's key, then eventId, record, … */
} wh_settle_bucket_t;

/* One environment's entries in its event index (newest first listing of GET /v1/events), in one plain ZADD. */
typedef struct {
    char env[WH_MAX_ID_LEN + 1];
    wh_argv_t zadd; /* "ZADD", the index key, then receivedAt ms, eventId, … */
} wh_settle_index_t;

/* Distinct minute buckets and environments one call writes at most; an event that needs one more goes into the
   next call (more buckets only when draining an old backlog; more environments on a busy shared partition). */
#define WH_SETTLE_MAX_BUCKETS 4
#define WH_SETTLE_MAX_INDEXES 32

/*
 * One partition's settling for one loop turn, sent as, in order on one connection:
 *   HSET <bucket> eventId record … and EXPIREAT <bucket> (retention after the bucket's minute), per bucket;
 *   ZADD <environment's index> receivedAt eventId …, per environment;
 *   EVALSHA settle.lua: the store's bookkeeping, the durable tasks, then XACK of the entries and a trim of the
 *   stream below the oldest entry still pending.
 * The records and index entries are written before the script acknowledges anything, so an acknowledged entry's
 * events are always recorded; if the script does not run (the worker dies in between), the entry stays pending, is
 * processed again, and its records are overwritten whole. An event delivered at its first attempt costs the
 * script nothing: it sees per-bucket counts, the environments touched, the tasks, and the entries' ids.
 */
typedef struct {
    unsigned part;
    wh_argv_t args; /* settle.lua's keys and arguments: the fixed ones and the tasks; the rest appended at finish */
    wh_argv_t acks; /* entry id, poison flag, … */
    wh_settle_bucket_t buckets[WH_SETTLE_MAX_BUCKETS];
    wh_settle_index_t indexes[WH_SETTLE_MAX_INDEXES];
    size_t nbuckets, nindexes;           /* in use */
    size_t nbuckets_init, nindexes_init; /* initialised (their memory is kept for the next call) */
    size_t nevents, ntasks, nacks;
    size_t items; /* events + deliveries + entries added: bounds the work of one call */
} wh_settle_call_t;

/* Events + deliveries one settle.lua call carries at most: it runs atomically, so it must stay short. */
#define WH_SETTLE_MAX_ITEMS 1024

void wh_settle_call_init(wh_settle_call_t *c, unsigned part);
/* Empties a call (sent or not) for the next one, keeping its memory. */
void wh_settle_call_reset(wh_settle_call_t *c);
void wh_settle_call_dispose(wh_settle_call_t *c);
/*
 * Adds what is left of `e` (from e->added on) until the call is full. True when all of `e` is in (its id is then
 * acknowledged by this call); false when the call is full: send it, then add `e` again to a fresh one.
 */
bool wh_settle_call_add(wh_settle_call_t *c, wh_settle_entry_t *e);
/* Completes c->args (send the buckets' HSET and EXPIREAT first, then the script with c->args as keys + arguments;
 * reset before adding again): events kept `retention_ms` (WHARF_EVENT_RETENTION), at most `max_events` per
 * partition. Returns the number of keys. */
int wh_settle_call_finish(wh_settle_call_t *c, int64_t now_ms, int64_t lease_until_ms, int64_t retention_ms, unsigned max_events);
/* When a bucket's key expires (unix seconds): `retention_ms` after the end of its minute. */
int64_t wh_settle_bucket_expire_at(int64_t bucket, int64_t retention_ms);

#endif
