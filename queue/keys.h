/*
 * Every Redis key wharf uses, in one place. Keys of one connection carry the
 * hash tag {c:<connectionId>}, queue partitions {p<N>}, environments
 * {e:<environmentId>}, so multi-key operations can stay within one slot.
 *
 *   wh:tok:<sha256 hex of token>      STRING  environmentId              (API token, stored hashed)
 *   wh:env:{e:<env>}                  HASH    name kind connectionLimit createdAt
 *   wh:env:{e:<env>}:conns            SET     connection ids
 *   wh:subs:{e:<env>}                 HASH    subscriptionId -> subscription JSON (secret sealed)
 *   wh:conn:{c:<conn>}                HASH    env integration account creds sync status syncState createdAt
 *   wh:acct:<integration>:<account>   HASH    connectionId -> {"env":…,"creds":…} (app-level routing)
 *   wh:env:{e:<env>}:resv             HASH    connection id -> "<reserved at ms> <app-level index key>": places taken
 *                                             in the set above by creations not finished yet (queue/scripts/env_reserve.lua)
 *   wh:gone:{c:<conn>}                HASH    env integration account at: a deleted connection whose keys are being purged
 *   wh:ob:{c:<conn>}, wh:ob:{e:<env>} LIST    outbox: system events written with a state change in that slot, waiting to
 *                                             be moved to their partition stream (queue/outbox.h)
 *   wh:purge                          SET     deleted connection ids whose {c:<id>} keys are still being purged
 *   wh:waitmark                       STRING  a counter the gateway's wait connection increments before each WAIT, so
 *                                             the WAIT covers the ingest connection's writes before it (queue/append.h)
 *   wh:obj:{c:<conn>}:<type>:<id>     HASH    cached record fields (JSON values)
 *   wh:ver:{c:<conn>}:<type>:<id>     HASH    field -> occurredAt ms that wrote it, "_at" that of every field
 *                                             without an entry (cache/README.md); "_deleted" tombstone ms,
 *                                             "_merged" winner id, "_stale" ms of a thin event not yet fetched,
 *                                             "_ix.<field>" number-index score kept while deleted (for a restore)
 *   wh:ids:{c:<conn>}:<type>          ZSET    live record ids (all scores 0: lexicographic), for listing
 *   wh:ixt:{c:<conn>}:<type>:<field>  ZSET    text index: score 0, member lower(value) "\0" id (eq, startsWith)
 *   wh:ixn:{c:<conn>}:<type>:<field>  ZSET    number/date index: score value (dates: epoch ms), member id (eq, gt, lt)
 *   wh:as:{c:<conn>}:<type>:<id>:<list> SET   children ids of a parent record (common/unified.c wh_associations)
 *   wh:q:{p<N>}                       STREAM  change-event batches (field "b": msgpack), group "wharf"
 *   wh:dd:{p<N>}:<day>                SET     dedupe keys seen that day (connection id + provider key)
 *   wh:dq:{p<N>}                      ZSET    delivery id -> due ms (or lease expiry while in flight)
 *   wh:d:{p<N>}:<deliveryId>          HASH    one delivery: sub env conn event type webhookId attempt body …
 *   wh:dlq:{p<N>}                     ZSET    dead delivery id -> time of death
 *   wh:evb:{p<N>}:<minute>            HASH    the events received in that minute (receivedAt / 60 000), written once
 *                                             when their entry settles (settle.lua): eventId -> record, a JSON header
 *                                             {"s": {subscriptionId: "<state>:<webhookId>"}, "a": [attempt records]},
 *                                             "\n", then the delivery body as sent; state pending|delivered|dead|dropped.
 *                                             One key (and one expiry) per minute and partition, not per event.
 *   wh:evbk:{p<N>}                    ZSET    the partition's event buckets (minute -> minute), oldest first
 *   wh:evbn:{p<N>}                    HASH    events per bucket, "total", "floor" (ms below which the cap dropped all)
 *   wh:evi:{p<N>}:<env>               ZSET    eventId -> receivedAt ms: the environment's events (GET /v1/events)
 *   wh:poison:{p<N>}                  STREAM  raw fields of malformed entries, kept aside (at most WH_MAX_POISON_KEPT)
 *   wh:subfail:{e:<env>}              HASH    subscriptionId -> ms of the first failure since its last success
 *   wh:ord:{p<N>}:<sub>:<type>:<id>  ZSET    deliveryId -> occurredAt: an ordered subscription's queue for one object
 *   wh:slots:{u:<sub>}                HASH    worker (consumer name) -> slots of the subscription it holds
 *   wh:slotl:{u:<sub>}                ZSET    worker -> lease end ms of its slots (a dead worker's end with it)
 *   wh:rate:{u:<sub>}:<second>        STRING  attempts started in that second (rateLimitPerSecond)
 *
 * Event buckets and indexes share one retention (WHARF_EVENT_RETENTION): a bucket expires that long after its minute
 * ends; an index entry older than the retention is trimmed on the next settle of its partition and environment. Past
 * WHARF_EVENT_MAX_PER_PARTITION events the oldest buckets are dropped whole (settle.lua, wh:evbk and wh:evbn).
 */
#ifndef WH_KEYS_H
#define WH_KEYS_H

#include <stdint.h>
#include <stdio.h>
#include "../common/limits.h"

#define WH_CONSUMER_GROUP "wharf"
#define WH_KEY_MAX 512

/* The deployment's partition count (WHARF_PARTITIONS, 1..WH_MAX_PARTITIONS): set once by main() before any thread
   starts; WH_DEFAULT_PARTITIONS until then. */
void wh_partitions_init(unsigned n);
unsigned wh_partitions(void);
/* The key holding the count in Redis, in partition 0's slot (checked by every connection before it is ready:
   queue/redis.c). */
#define WH_KEY_PARTITIONS "wh:partitions:{p0}"

/* The queue partition of a connection: FNV-1a of its id, avalanched, modulo wh_partitions(). Stable across
   versions for a given count. */
unsigned wh_partition_of(const char *connection_id);

#define wh_key_token(buf, hex) snprintf((buf), WH_KEY_MAX, "wh:tok:%s", (hex))
#define wh_key_env(buf, env) snprintf((buf), WH_KEY_MAX, "wh:env:{e:%s}", (env))
#define wh_key_env_conns(buf, env) snprintf((buf), WH_KEY_MAX, "wh:env:{e:%s}:conns", (env))
#define wh_key_subs(buf, env) snprintf((buf), WH_KEY_MAX, "wh:subs:{e:%s}", (env))
#define wh_key_conn(buf, conn) snprintf((buf), WH_KEY_MAX, "wh:conn:{c:%s}", (conn))
#define wh_key_env_resv(buf, env) snprintf((buf), WH_KEY_MAX, "wh:env:{e:%s}:resv", (env))
#define wh_key_gone(buf, conn) snprintf((buf), WH_KEY_MAX, "wh:gone:{c:%s}", (conn))
#define wh_key_outbox_conn(buf, conn) snprintf((buf), WH_KEY_MAX, "wh:ob:{c:%s}", (conn))
#define wh_key_outbox_env(buf, env) snprintf((buf), WH_KEY_MAX, "wh:ob:{e:%s}", (env))
#define wh_key_purge(buf) snprintf((buf), WH_KEY_MAX, "wh:purge")
#define wh_key_wait_mark(buf) snprintf((buf), WH_KEY_MAX, "wh:waitmark")
#define wh_key_acct(buf, integ, acct) snprintf((buf), WH_KEY_MAX, "wh:acct:%s:%s", (integ), (acct))
#define wh_key_obj(buf, conn, type, id) snprintf((buf), WH_KEY_MAX, "wh:obj:{c:%s}:%s:%s", (conn), (type), (id))
#define wh_key_ver(buf, conn, type, id) snprintf((buf), WH_KEY_MAX, "wh:ver:{c:%s}:%s:%s", (conn), (type), (id))
#define wh_key_ids(buf, conn, type) snprintf((buf), WH_KEY_MAX, "wh:ids:{c:%s}:%s", (conn), (type))
#define wh_key_index_text(buf, conn, type, field) snprintf((buf), WH_KEY_MAX, "wh:ixt:{c:%s}:%s:%s", (conn), (type), (field))
#define wh_key_index_number(buf, conn, type, field) snprintf((buf), WH_KEY_MAX, "wh:ixn:{c:%s}:%s:%s", (conn), (type), (field))
#define wh_key_assoc(buf, conn, type, id, list) snprintf((buf), WH_KEY_MAX, "wh:as:{c:%s}:%s:%s:%s", (conn), (type), (id), (list))
#define wh_key_stream(buf, p) snprintf((buf), WH_KEY_MAX, "wh:q:{p%u}", (p))
#define wh_key_dedupe(buf, p, day) snprintf((buf), WH_KEY_MAX, "wh:dd:{p%u}:%lld", (p), (long long)(day))
#define wh_key_due(buf, p) snprintf((buf), WH_KEY_MAX, "wh:dq:{p%u}", (p))
#define wh_key_delivery_prefix(buf, p) snprintf((buf), WH_KEY_MAX, "wh:d:{p%u}:", (p))
#define wh_key_dead(buf, p) snprintf((buf), WH_KEY_MAX, "wh:dlq:{p%u}", (p))
#define wh_key_event_bucket_prefix(buf, p) snprintf((buf), WH_KEY_MAX, "wh:evb:{p%u}:", (p))
#define wh_key_event_bucket(buf, p, received_ms)                                                                                   \
    snprintf((buf), WH_KEY_MAX, "wh:evb:{p%u}:%lld", (p), (long long)((received_ms) / WH_EVENT_BUCKET_MS))
#define wh_key_event_index(buf, p, env) snprintf((buf), WH_KEY_MAX, "wh:evi:{p%u}:%s", (p), (env))
#define wh_key_event_buckets(buf, p) snprintf((buf), WH_KEY_MAX, "wh:evbk:{p%u}", (p))
#define wh_key_event_counts(buf, p) snprintf((buf), WH_KEY_MAX, "wh:evbn:{p%u}", (p))
#define wh_key_poison(buf, p) snprintf((buf), WH_KEY_MAX, "wh:poison:{p%u}", (p))
#define wh_key_order(buf, p, sub, type, id) snprintf((buf), WH_KEY_MAX, "wh:ord:{p%u}:%s:%s:%s", (p), (sub), (type), (id))
#define wh_key_slots(buf, sub) snprintf((buf), WH_KEY_MAX, "wh:slots:{u:%s}", (sub))
#define wh_key_slot_leases(buf, sub) snprintf((buf), WH_KEY_MAX, "wh:slotl:{u:%s}", (sub))
#define wh_key_slot_wants(buf, sub) snprintf((buf), WH_KEY_MAX, "wh:slotw:{u:%s}", (sub))
#define wh_key_rate_prefix(buf, sub) snprintf((buf), WH_KEY_MAX, "wh:rate:{u:%s}:", (sub))
#define wh_key_subfail(buf, env) snprintf((buf), WH_KEY_MAX, "wh:subfail:{e:%s}", (env))

/* Events are stored in one hash per partition and minute of receipt (wh:evb): one expiry per bucket, and the unit in
   which the per-partition cap drops the oldest events. */
#define WH_EVENT_BUCKET_MS 60000LL
/* Retention of a dead letter's delivery task (replayable until then). */
#define WH_DEAD_LETTER_RETENTION_S (30 * 86400)
/* Attempt records kept per event (all subscriptions together); older ones are trimmed first. */
#define WH_MAX_ATTEMPTS_KEPT 200
/* Malformed stream entries kept aside per partition for inspection (approximate trim). */
#define WH_MAX_POISON_KEPT 1000

#endif
