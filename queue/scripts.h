/*
 * Lua scripts run by Redis, embedded at build time from the .lua files in
 * queue/scripts/ and cache/scripts/ (see embed_scripts.cmake). Each is loaded with SCRIPT
 * LOAD when a connection becomes ready and called with EVALSHA.
 *
 * The one-slot rule: a script touches keys of one hash slot only — its KEYS[1]'s hash tag, a partition {pN}, a
 * connection {c:<id>}, an environment {e:<id>} or a subscription {u:<id>} — including the keys it builds from
 * prefixes, so every call can run on one Redis Cluster node. The hot path keeps it (ingest, settle, claim, finish,
 * requeue, slots, apply; settle, claim and finish are run slot-checked in tests/unit/dispatch/test_settle.c, which
 * fails any command outside the tag), and so does every management script: where one logical change touches two
 * slots it is ordered, idempotent steps (ARCHITECTURE.md "Steps across slots"), system events going through an
 * outbox in the changed state's slot (outbox.h).
 */
#ifndef WH_SCRIPTS_H
#define WH_SCRIPTS_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *sha1; /* hex, what EVALSHA takes */
    const char *source;
    size_t len;
} wh_script_t;

extern const wh_script_t wh_script_ingest;       /* queue/scripts/ingest.lua: dedupe + XADD of one request's events */
extern const wh_script_t wh_script_settle;       /* queue/scripts/settle.lua: events, delivery tasks + XACK, atomically */
extern const wh_script_t wh_script_claim;        /* queue/scripts/claim.lua: lease due deliveries */
extern const wh_script_t wh_script_finish;       /* queue/scripts/finish.lua: record an attempt's outcome */
extern const wh_script_t wh_script_conn_create;  /* queue/scripts/conn_create.lua: the hash, last step of a creation */
extern const wh_script_t wh_script_env_reserve;  /* queue/scripts/env_reserve.lua: a place within connectionLimit */
extern const wh_script_t wh_script_acct_reserve; /* queue/scripts/acct_reserve.lua: an app-level index entry */
extern const wh_script_t wh_script_outbox_pop;   /* queue/scripts/outbox_pop.lua: an outbox entry moved (outbox.h) */
extern const wh_script_t wh_script_conn_delete;  /* queue/scripts/conn_delete.lua */
extern const wh_script_t wh_script_conn_status;  /* queue/scripts/conn_status.lua: sync status step + system events */
extern const wh_script_t wh_script_conn_sync;    /* queue/scripts/conn_sync.lua: sync records as change envelopes */
extern const wh_script_t wh_script_conn_purge;   /* queue/scripts/conn_purge.lua: one UNLINK step of a purge */
extern const wh_script_t wh_script_gone_drop;    /* queue/scripts/gone_drop.lua: a purge's last step, the tombstone */
extern const wh_script_t wh_script_sub_fail;     /* queue/scripts/sub_fail.lua: failure streak, disabling */
extern const wh_script_t wh_script_sub_status;   /* queue/scripts/sub_status.lua: re-enable a subscription */
extern const wh_script_t wh_script_sub_create;   /* queue/scripts/sub_create.lua: store one within the bound */
extern const wh_script_t wh_script_slots;        /* queue/scripts/slots.lua: a worker's slots of a subscription, in bulk */
extern const wh_script_t wh_script_sub_patch;    /* queue/scripts/sub_patch.lua: change some members */
extern const wh_script_t wh_script_sub_rotate;   /* queue/scripts/sub_rotate.lua: new secret, old one overlapping */
extern const wh_script_t wh_script_requeue;      /* queue/scripts/requeue.lua: replay / redeliver to one subscription */
extern const wh_script_t wh_script_apply;        /* cache/scripts/apply.lua: last-writer-wins per field */
extern const wh_script_t wh_script_consumers;    /* queue/scripts/consumers.lua: forget long-silent empty consumers */

/* Every script, for SCRIPT LOAD on connect. */
extern const wh_script_t *const wh_scripts_all[];
extern const size_t wh_scripts_count;

#endif
