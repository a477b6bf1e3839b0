/*
 * Every bound in one place: a name, a one-line reason, and (where the
 * operator may need it) the configuration variable that overrides it.
 */
#ifndef WH_LIMITS_H
#define WH_LIMITS_H

/* Largest webhook body (WHARF_MAX_BODY). Providers send at most ~1 MiB (HubSpot: 100 events). */
#define WH_DEFAULT_MAX_BODY (1024 * 1024)
/* Largest management API request body: a subscription or connection is a few KiB. */
#define WH_MAX_API_BODY (256 * 1024)
/* Events in one provider batch: HubSpot and Salesforce send at most 100. */
#define WH_MAX_BATCH 100
/* JSON nesting accepted from the internet (webhook and API bodies); CRM payloads are 2-4 levels deep. */
#define WH_MAX_JSON_DEPTH 24
/*
 * Nesting of a stored envelope: msgpack-c 4.0 unpacks at most 32 levels (MSGPACK_EMBED_STACK_SIZE, fixed at
 * its build). An accepted body's values sit up to 4 levels deeper in the envelope (entry array, envelope map,
 * fields, additional), so the inbound bound keeps a margin below it: whatever was answered 2xx can be read.
 */
#define WH_MAX_ENVELOPE_DEPTH 32
_Static_assert(WH_MAX_JSON_DEPTH + 8 <= WH_MAX_ENVELOPE_DEPTH, "accepted JSON must fit in an envelope");
/* One header value we read (signatures, timestamps, tokens). */
#define WH_MAX_HEADER_VALUE 4096
/* Request line + headers, enforced by h2o (H2O_MAX_REQLEN); stated here for the docs. */
#define WH_MAX_HEADERS 100
/* Identifiers (connection, subscription, external account, provider object ids). */
#define WH_MAX_ID_LEN 128
/* Distinct accounts (HubSpot portals) in one app-level batch. */
#define WH_MAX_ACCOUNTS_PER_BATCH 8
/* Candidate connections for one external account (same portal in several environments). */
#define WH_MAX_CONNECTIONS_PER_ACCOUNT 16
/* Signed-timestamp tolerance: HubSpot v3, Close and Standard Webhooks use 5 minutes. */
#define WH_TIMESTAMP_TOLERANCE_MS (5 * 60 * 1000)
/* Provider redeliveries are deduplicated for at least this long. */
#define WH_DEDUPE_WINDOW_S (24 * 3600)
/* Queue partitions (streams wh:q:{p0..N-1}): WHARF_PARTITIONS, fixed for a deployment (changing it moves
 * connections to other streams, so their order across the change is lost): Redis keeps the count
 * (wh:partitions) and a process configured otherwise refuses to run (queue/redis.c). */
#define WH_DEFAULT_PARTITIONS 8
/* A consumer of the group with nothing pending and silent this long belongs to a process long gone (a replaced
 * pod, a restarted worker): a worker forgets such consumers, sweeping every WH_CONSUMER_SWEEP_MS. */
#define WH_CONSUMER_FORGET_MS (3600 * 1000LL)
#define WH_CONSUMER_SWEEP_MS (600 * 1000LL)
#define WH_MAX_PARTITIONS 64
/* Change-event batch entries read per XREADGROUP. */
#define WH_READ_COUNT 128
/* Change events one worker batch holds at most (their applies are pipelined on one Redis connection, whose
 * command deadline must not pass): reads are sized from the events per entry seen so far. */
#define WH_MAX_BATCH_EVENTS 2048
/* Encoded envelope of one request (msgpack) stored in one stream entry. */
#define WH_MAX_ENTRY_BYTES (2 * 1024 * 1024)
/* Bulk reply from Redis we accept (hiredis has no limit of its own). */
#define WH_MAX_REDIS_REPLY (8 * 1024 * 1024)
/* Redis command deadline: past it the connection is dropped and callers see WH_EUNAVAILABLE. */
#define WH_REDIS_COMMAND_TIMEOUT_MS 3000
/* Deliveries in flight per worker process (WHARF_MAX_INFLIGHT). */
#define WH_DEFAULT_MAX_INFLIGHT 512
/* WHARF_WORKER_THREADS at most: worker loops in one process */
#define WH_MAX_WORKER_THREADS 16
/* Deliveries of one subscription waiting for a slot in one worker; more wait in Redis (dispatch/slots.h). Enough
   for a whole read batch, so a fast endpoint's work never makes the round trip through Redis. */
#define WH_MAX_SUB_WAITERS 4096
/* Deliveries in flight per subscription unless it says otherwise (maxConcurrency). */
#define WH_DEFAULT_SUB_CONCURRENCY 16
/* Response body bytes kept from a delivery attempt; the rest is read and dropped. */
#define WH_MAX_RESPONSE_KEEP 4096
/* Subscriptions per environment matched in memory per event. */
#define WH_MAX_SUBSCRIPTIONS_PER_ENV 1000
/* Event types per subscription. */
#define WH_MAX_EVENT_TYPES 64
/* Subscription URL length. */
#define WH_MAX_URL_LEN 2048
/* Outgoing events kept per queue partition unless WHARF_EVENT_MAX_PER_PARTITION says otherwise: with the event store's
   ~0.6-1 KiB per event, about 0.5-1 GiB of Redis per partition at most, whatever the rate. */
#define WH_DEFAULT_EVENTS_PER_PARTITION 1000000
/* Dead letters kept per partition before the oldest are trimmed. */
#define WH_MAX_DEAD_LETTERS 100000

#endif
