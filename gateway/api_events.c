/*
 * /v1/events: list, get, attempts, redeliver; and POST /v1/subscriptions/{id}/replay (design §6, §7).
 *
 * The worker keeps, per partition N (queue/keys.h): each event's record (queue/evrec.h: delivery states, attempt
 * records, the body as sent) in its minute bucket wh:evb:{pN}:<minute>, and the environment's index wh:evi:{pN}:<env>
 * (eventId -> receivedAt ms, which also names the bucket). An event's partition is its connection's, which a route given only an
 * event id does not know: it asks the environment's eight indexes at once, and the one that answers gives both the partition and
 * the proof that the event belongs to the caller's environment.
 *
 * Re-sending goes through queue/scripts/requeue.lua, which writes the delivery task exactly as settle does,
 * with the event's original webhook-id for that subscription (dispatch/sign.h), so receivers deduplicate.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/time.h"
#include "../dispatch/match.h"
#include "../dispatch/sign.h"
#include "../queue/evrec.h"
#include "../queue/keys.h"
#include "api.h"

/* GET /v1/events page size: default, and maximum (an answer carries at most this many bodies' summaries). */
#define LIST_DEFAULT 50
#define LIST_MAX 200
/* Index entries one filtered listing examines before answering a short page with a cursor to go on from. */
#define LIST_SCAN_MAX 2000
/* Index entries read per partition and round when filtering (type or connectionId). */
#define LIST_FILTER_BATCH 200
/* Events of one partition sharing one receivedAt millisecond that a cursor can step through. */
#define LIST_TIES_MAX 10000
/* Longest `type` filter: as subscriptions' eventTypes entries. */
#define TYPE_FILTER_MAX 128
/* Events one replay queues at most; more answers "truncated": true (replay the rest with a later `since`). */
#define REPLAY_MAX 10000
/* Index entries one replay examines at most (bounds the work of a wide range with few matching events). */
#define REPLAY_EXAMINE_MAX 200000
/* Index entries one requeue.lua call examines: bounds the time Redis spends in one script. */
#define REPLAY_CHUNK 1000

/* Past WHARF_EVENT_RETENTION: its record is gone or about to be (an index entry may outlive it until trimmed). */
static bool expired(const wh_api_call_t *call, int64_t received_ms)
{
    return received_ms + call->cfg->event_retention_ms < wh_now_ms();
}

/* A redis integer or string reply as an int64 (scores come as strings). */
static bool reply_i64(const redisReply *r, long long *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return true;
    }
    return r->type == REDIS_REPLY_STRING && wh_str_to_i64(wh_str(r->str, (size_t)r->len), out);
}

/* ZSCORE replies are decimal strings of integral scores ("1700000000000"), possibly with an exponent for big ones. */
static bool reply_score(const redisReply *r, int64_t *out)
{
    long long v;
    char buf[64], *end;
    double d;

    if (reply_i64(r, &v)) {
        *out = v;
        return true;
    }
    if (r->type != REDIS_REPLY_STRING || r->len <= 0 || (size_t)r->len >= sizeof(buf))
        return false;
    memcpy(buf, r->str, (size_t)r->len);
    buf[r->len] = '\0';
    d = strtod(buf, &end);
    if (*end != '\0' || d < 0 || d > 9.0e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static json_t *iso_time(int64_t ms)
{
    char iso[WH_ISO8601_LEN];

    wh_iso8601(ms, iso);
    return json_string(iso);
}

/* ==== one event: get, attempts, redeliver ==================================================================== */

typedef struct event_call event_call_t;

/* One pipelined command's context: which call, which partition. */
typedef struct {
    event_call_t *s;
    unsigned part;
} slot_t;

struct event_call {
    wh_api_call_t call;
    unsigned outstanding;                /* pipelined replies still to come */
    wh_err_t failure;                    /* the first failed command's error; WH_OK while none failed */
    void (*next)(event_call_t *s);       /* runs once every reply of the current step has settled */
    slot_t slots[WH_MAX_PARTITIONS + 1]; /* the lookup: one ZSCORE per partition (+ the subscription for redeliver) */
    int part;                            /* the event's partition, -1 while not found */
    int64_t received_ms;
    char sub_id[WH_API_ID_MAX + 1]; /* redeliver: body.subscriptionId; attempts: the ?subscriptionId filter or "" */
    json_t *sub;                    /* owned: redeliver: the stored subscription, NULL when absent */
    json_t *payload;                /* owned: get: the stored body */
    json_t *deliveries;             /* owned: get: [{subscriptionId, webhookId, status}] */
    json_t *attempts;               /* owned: attempts: the records */
};

/*
 * The fan-in of a step's pipelined commands: records the first failure, and once the last reply is in, answers
 * that failure or finishes a call whose client left. True when the step is complete and the flow goes on.
 */
static bool step_settled(wh_api_call_t *call, wh_err_t *failure, unsigned *outstanding, wh_err_t err, const redisReply *reply)
{
    if (err != WH_OK && *failure == WH_OK) {
        *failure = err;
        if (err == WH_EINTERNAL && reply != NULL && reply->type == REDIS_REPLY_ERROR)
            wh_log_error("api_redis_error", "{s:s, s:s}", "route", call->route, "reply", reply->str);
    }
    if (--*outstanding != 0)
        return false;
    if (call->pending.req == NULL) {
        wh_api__finish(call);
        return false;
    }
    if (*failure != WH_OK) {
        wh_api__reply_redis_error(call, *failure, NULL);
        return false;
    }
    return true;
}

/* One reply settled; the last one of a step runs s->next (or answers the failure, or finishes if the client left). */
static void settle(event_call_t *s, wh_err_t err, const redisReply *reply)
{
    if (step_settled(&s->call, &s->failure, &s->outstanding, err, reply))
        s->next(s);
}

/* Accounts for commands of a step that could not be sent (their callbacks will never fire). */
static void settle_unsent(event_call_t *s, unsigned unsent, wh_err_t err)
{
    while (unsent-- != 0)
        settle(s, err, NULL);
}

static void on_score(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    slot_t *slot = data;
    event_call_t *s = slot->s;
    int64_t score;

    if (err == WH_OK && reply != NULL && reply->type != REDIS_REPLY_NIL && reply_score(reply, &score) && s->part < 0) {
        s->part = (int)slot->part;
        s->received_ms = score;
    }
    settle(s, err == WH_OK && reply == NULL ? WH_EUNAVAILABLE : err, reply);
}

static void on_sub(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    slot_t *slot = data;
    event_call_t *s = slot->s;

    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_STRING) {
        s->sub = json_loadb(reply->str, (size_t)reply->len, 0, NULL);
        if (s->sub != NULL && !json_is_object(s->sub)) {
            json_decref(s->sub);
            s->sub = NULL;
        }
        if (s->sub == NULL)
            wh_log_warn("api_subscription_unreadable", "{s:s}", "env", s->call.env);
    }
    settle(s, err == WH_OK && reply == NULL ? WH_EUNAVAILABLE : err, reply);
}

/*
 * Step 1 of every one-event route: ZSCORE of the event in each partition index of the caller's environment,
 * pipelined; with_sub also fetches subscription s->sub_id. Then `next`.
 */
static void lookup(event_call_t *s, bool with_sub, void (*next)(event_call_t *s))
{
    char key[WH_KEY_MAX];
    const char *argv[3];
    size_t argvlen[3];
    unsigned nparts = wh_partitions(), n = nparts + (with_sub ? 1 : 0);

    s->part = -1;
    s->next = next;
    s->outstanding = n;
    for (unsigned i = 0; i != n; ++i) {
        s->slots[i] = (slot_t){s, i};
        if (i < nparts) {
            argv[0] = "ZSCORE";
            argvlen[1] = (size_t)wh_key_event_index(key, i, s->call.env);
        } else {
            argv[0] = "HGET";
            argvlen[1] = (size_t)wh_key_subs(key, s->call.env);
        }
        argvlen[0] = strlen(argv[0]);
        argv[1] = key;
        argv[2] = i < nparts ? s->call.id : s->sub_id;
        argvlen[2] = strlen(argv[2]);
        if (wh_redis_command(s->call.redis, i < nparts ? on_score : on_sub, &s->slots[i], 3, argv, argvlen) != WH_OK) {
            settle_unsent(s, n - i, WH_EUNAVAILABLE);
            return;
        }
    }
}

/* The event was found in the caller's environment and is within retention; else answers 404 (and finishes). */
static bool event_found(event_call_t *s)
{
    if (s->part < 0 || expired(&s->call, s->received_ms)) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such event");
        return false;
    }
    return true;
}

static void event_dispose(wh_api_call_t *call)
{
    event_call_t *s = (event_call_t *)call;

    json_decref(s->sub);
    json_decref(s->payload);
    json_decref(s->deliveries);
    json_decref(s->attempts);
}

/* ---- GET /v1/events/{eventId} ---- */

static int by_subscription(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

    return strcmp(json_string_value(json_object_get(x, "subscriptionId")), json_string_value(json_object_get(y, "subscriptionId")));
}

/* The record's delivery states as [{subscriptionId, webhookId, status}], by subscription id (stable answers). */
static json_t *deliveries_of(const json_t *states)
{
    size_t n = 0;
    json_t **items = calloc(json_object_size(states) + 1, sizeof(*items)), *v, *out = json_array();
    const char *sub;

    if (items == NULL)
        abort();
    json_object_foreach((json_t *)states, sub, v)
    {
        const char *text = json_string_value(v), *colon = text != NULL ? strchr(text, ':') : NULL;
        if (colon == NULL)
            continue;
        items[n] =
            json_pack("{s:s, s:s, s:s%}", "subscriptionId", sub, "webhookId", colon + 1, "status", text, (size_t)(colon - text));
        if (items[n] != NULL)
            ++n;
    }
    qsort(items, n, sizeof(*items), by_subscription);
    for (size_t i = 0; i != n; ++i)
        json_array_append_new(out, items[i]);
    free(items);
    return out;
}

/* The event's record (queue/evrec.h): the body as `payload`, the states as `deliveries`, the attempt records as
   `attempts` (filtered by ?subscriptionId when given). */
static void on_record(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    event_call_t *s = data;
    json_t *header = NULL, *rec;
    char *body = NULL;
    size_t body_len, i;

    (void)r;
    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_STRING) {
        if (!wh_evrec_split(reply->str, (size_t)reply->len, &header, &body, &body_len) ||
            (s->payload = json_loadb(body, body_len, 0, NULL)) == NULL) {
            wh_log_warn("api_event_unreadable", "{s:s}", "eventId", s->call.id);
        } else {
            s->deliveries = deliveries_of(json_object_get(header, "s"));
            s->attempts = json_array();
            json_array_foreach(json_object_get(header, "a"), i, rec)
            {
                const char *sub = json_string_value(json_array_get(rec, 0));
                char wid[WH_WEBHOOK_ID_LEN + 1];
                json_t *full;
                if (sub == NULL || (s->sub_id[0] != '\0' && strcmp(sub, s->sub_id) != 0))
                    continue;
                wh_webhook_id(s->call.id, sub, wid);
                if ((full = wh_evrec_attempt(rec, wid)) != NULL)
                    json_array_append_new(s->attempts, full);
            }
        }
        json_decref(header);
        free(body);
    }
    settle(s, err == WH_OK && reply == NULL ? WH_EUNAVAILABLE : err, reply);
}

/* Reads the found event's record (one HGET of its bucket), then runs `next`. */
static void read_record(event_call_t *s, void (*next)(event_call_t *s))
{
    char key[WH_KEY_MAX];
    const char *argv[3] = {"HGET", key, s->call.id};

    wh_key_event_bucket(key, (unsigned)s->part, s->received_ms);
    s->next = next;
    s->outstanding = 1;
    if (wh_redis_command(s->call.redis, on_record, s, 3, argv, NULL) != WH_OK)
        settle_unsent(s, 1, WH_EUNAVAILABLE);
}

static void event_get_answer(event_call_t *s)
{
    json_t *answer;

    if (s->payload == NULL) {
        /* expired between the index and the body, or unreadable */
        wh_api__reply_error(&s->call, 404, "not_found", "no such event");
        return;
    }
    answer = json_pack("{s:s, s:O, s:o, s:O, s:o}", "eventId", s->call.id, "type",
                       json_is_string(json_object_get(s->payload, "type")) ? json_object_get(s->payload, "type") : json_null(),
                       "receivedAt", iso_time(s->received_ms), "payload", s->payload, "deliveries",
                       s->deliveries != NULL ? json_incref(s->deliveries) : json_array());
    if (answer == NULL) {
        wh_api__reply_internal(&s->call, "building the event failed");
        return;
    }
    wh_api__reply_json(&s->call, 200, answer);
}

static void event_get_found(event_call_t *s)
{
    if (event_found(s))
        read_record(s, event_get_answer);
}

static void event_get_start(wh_api_call_t *call)
{
    char errbuf[WH_ERRBUF_SIZE];
    static const char *const none[] = {NULL};

    if (!wh_api__query(call, none, NULL, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    lookup((event_call_t *)call, false, event_get_found);
}

const wh_api_op_t wh_api__event_get = {event_get_start, event_dispose, sizeof(event_call_t), false};

/* ---- GET /v1/events/{eventId}/attempts ---- */

static void event_attempts_answer(event_call_t *s)
{
    json_t *list = s->attempts != NULL ? s->attempts : json_array();

    s->attempts = NULL;
    wh_api__reply_json(&s->call, 200, json_pack("{s:o}", "attempts", list));
}

static void event_attempts_found(event_call_t *s)
{
    if (event_found(s))
        read_record(s, event_attempts_answer);
}

static void event_attempts_start(wh_api_call_t *call)
{
    static const char *const names[] = {"subscriptionId", NULL};
    event_call_t *s = (event_call_t *)call;
    wh_api_query_value_t q[1];
    char errbuf[WH_ERRBUF_SIZE];

    if (!wh_api__query(call, names, q, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    if (q[0].present) {
        if (!wh_api__id_valid(wh_str_c(q[0].value))) {
            wh_api__reply_error(call, 400, "invalid_request", "subscriptionId: must be a subscription id");
            return;
        }
        memcpy(s->sub_id, q[0].value, strlen(q[0].value) + 1);
    }
    lookup(s, false, event_attempts_found);
}

const wh_api_op_t wh_api__event_attempts = {event_attempts_start, event_dispose, sizeof(event_call_t), false};

/* ---- POST /v1/events/{eventId}/redeliver ---- */

static bool subscription_disabled(const json_t *sub)
{
    const char *status = json_string_value(json_object_get(sub, "status"));

    return status != NULL && strcmp(status, "disabled") == 0;
}

static void on_redelivered(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    event_call_t *s = data;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_INTEGER) {
        wh_api__reply_internal(&s->call, "requeue: unexpected reply");
        return;
    }
    if (reply->integer == 0) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such event");
        return;
    }
    wh_api__reply_json(&s->call, 202, json_pack("{s:i}", "redelivered", 1));
}

/* KEYS and the common ARGV of requeue.lua for partition `part`, into bufs; returns the argument count (10). */
typedef struct {
    char due[WH_KEY_MAX], dead[WH_KEY_MAX], index[WH_KEY_MAX], dprefix[WH_KEY_MAX], bprefix[WH_KEY_MAX], span[24];
    char now[24];
} requeue_args_t;

static int requeue_args(requeue_args_t *a, unsigned part, const char *mode, const char *env, const char *sub, const char **argv,
                        size_t *argvlen)
{
    wh_key_due(a->due, part);
    wh_key_dead(a->dead, part);
    wh_key_event_index(a->index, part, env);
    wh_key_delivery_prefix(a->dprefix, part);
    wh_key_event_bucket_prefix(a->bprefix, part);
    snprintf(a->span, sizeof(a->span), "%lld", (long long)WH_EVENT_BUCKET_MS);
    snprintf(a->now, sizeof(a->now), "%lld", (long long)wh_now_ms());
    argv[0] = a->due;
    argv[1] = a->dead;
    argv[2] = a->index;
    argv[3] = mode;
    argv[4] = a->dprefix;
    argv[5] = a->bprefix;
    argv[6] = a->span;
    argv[7] = env;
    argv[8] = sub;
    argv[9] = a->now;
    for (int i = 0; i != 10; ++i)
        argvlen[i] = strlen(argv[i]);
    return 10;
}

static void event_redeliver_found(event_call_t *s)
{
    requeue_args_t a;
    char wid[WH_WEBHOOK_ID_LEN + 1];
    const char *argv[12];
    size_t argvlen[12];
    int argc;

    if (s->sub == NULL) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such subscription");
        return;
    }
    if (!event_found(s))
        return;
    if (subscription_disabled(s->sub)) {
        wh_api__reply_error(&s->call, 409, "subscription_disabled",
                            "subscription %s is disabled (POST /v1/subscriptions/%s/enable)", s->sub_id, s->sub_id);
        return;
    }
    wh_webhook_id(s->call.id, s->sub_id, wid);
    argc = requeue_args(&a, (unsigned)s->part, "one", s->call.env, s->sub_id, argv, argvlen);
    argv[argc] = s->call.id;
    argvlen[argc++] = strlen(s->call.id);
    argv[argc] = wid;
    argvlen[argc++] = strlen(wid);
    wh_api__script(&s->call, &wh_script_requeue, on_redelivered, 3, argc, argv, argvlen);
}

static void event_redeliver_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"subscriptionId", NULL};
    static const char *const none[] = {NULL};
    event_call_t *s = (event_call_t *)call;
    char errbuf[WH_ERRBUF_SIZE];
    const char *sub = NULL;
    int got;

    if (!wh_api__query(call, none, NULL, errbuf) || !wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "subscriptionId", 1, WH_API_ID_MAX, &sub, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0 || !wh_api__id_valid(wh_str_c(sub))) {
        wh_errf(errbuf, WH_EINVAL, got == 0 ? "subscriptionId: required" : "subscriptionId: must be a subscription id");
        goto Invalid;
    }
    memcpy(s->sub_id, sub, strlen(sub) + 1);
    lookup(s, true, event_redeliver_found);
    return;
Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
}

const wh_api_op_t wh_api__event_redeliver = {event_redeliver_start, event_dispose, sizeof(event_call_t), true};

/* ==== GET /v1/events ======================================================================================== */

typedef struct list_call list_call_t;

typedef struct {
    unsigned part;
    int64_t score;
    char id[WH_MAX_ID_LEN + 1];
    json_t *body; /* owned once fetched; NULL: expired or not fetched */
} cand_t;

typedef struct {
    list_call_t *s;
    unsigned part;
    bool ties; /* the reply is the members sharing the position's score (no scores) */
} list_slot_t;

struct list_call {
    wh_api_call_t call;
    unsigned outstanding;
    wh_err_t failure;
    /* the query */
    size_t limit;
    char type_filter[TYPE_FILTER_MAX + 1]; /* "" = any */
    char conn_filter[WH_API_ID_MAX + 1];   /* "" = any */
    unsigned parts[WH_MAX_PARTITIONS], nparts;
    /* the scan position: the next events come strictly after it in (receivedAt desc, eventId desc) */
    bool pos_set;
    int64_t pos_score;
    char pos_id[WH_MAX_ID_LEN + 1];
    size_t scanned; /* index entries examined so far */
    /* this round */
    size_t batch;                     /* entries asked of each partition */
    bool more[WH_MAX_PARTITIONS];     /* the partition may hold entries beyond its candidates */
    bool ties_cut[WH_MAX_PARTITIONS]; /* its same-millisecond entries did not all fit: ignore its older ones */
    list_slot_t slots[2 * WH_MAX_PARTITIONS];
    cand_t *cands; /* owned */
    size_t ncands, capc, ntaken;
    /* the answer */
    json_t *events; /* owned */
    bool page_full;
    int64_t last_score; /* position of the last event put on the page */
    char last_id[WH_MAX_ID_LEN + 1];
};

static void list_round(list_call_t *s);
static void list_bodies(list_call_t *s);
static void list_filter(list_call_t *s);

static void list_settle(list_call_t *s, wh_err_t err, const redisReply *reply, void (*next)(list_call_t *s))
{
    if (step_settled(&s->call, &s->failure, &s->outstanding, err, reply))
        next(s);
}

static void add_cand(list_call_t *s, unsigned part, int64_t score, const char *id, size_t len)
{
    cand_t *c;

    if (len == 0 || len > WH_MAX_ID_LEN)
        return;
    if (s->ncands == s->capc) {
        s->capc = s->capc != 0 ? 2 * s->capc : 64;
        s->cands = realloc(s->cands, s->capc * sizeof(*s->cands));
        if (s->cands == NULL)
            abort();
    }
    c = &s->cands[s->ncands++];
    c->part = part;
    c->score = score;
    memcpy(c->id, id, len);
    c->id[len] = '\0';
    c->body = NULL;
}

/* Newest first; equal times by eventId descending, the order ZREVRANGEBYSCORE gives within one score. */
static int cand_cmp(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return -strcmp(x->id, y->id);
}

static void on_range(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    list_slot_t *slot = data;
    list_call_t *s = slot->s;
    unsigned p = slot->part;

    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        if (slot->ties) {
            /* members with the position's score, eventId descending: keep those after the position */
            for (size_t i = 0; i != reply->elements; ++i) {
                const redisReply *m = reply->element[i];
                if (m->type == REDIS_REPLY_STRING && strlen(m->str) == (size_t)m->len && strcmp(m->str, s->pos_id) < 0)
                    add_cand(s, p, s->pos_score, m->str, (size_t)m->len);
            }
            if (reply->elements >= LIST_TIES_MAX) {
                s->ties_cut[p] = true;
                s->more[p] = true;
            }
        } else {
            for (size_t i = 0; i + 1 < reply->elements; i += 2) {
                const redisReply *m = reply->element[i];
                int64_t score;
                if (m->type == REDIS_REPLY_STRING && strlen(m->str) == (size_t)m->len && reply_score(reply->element[i + 1], &score))
                    add_cand(s, p, score, m->str, (size_t)m->len);
            }
            if (reply->elements / 2 >= s->batch)
                s->more[p] = true;
        }
    }
    list_settle(s, err == WH_OK && reply == NULL ? WH_EUNAVAILABLE : err, reply, list_bodies);
}

/* One round: from each partition, the entries right after the position. */
static void list_round(list_call_t *s)
{
    char key[WH_KEY_MAX], max[32], ties_max[16], batch[16];
    const char *argv[8];
    size_t argvlen[8];
    unsigned n = s->nparts * (s->pos_set ? 2 : 1), sent = 0;

    for (size_t i = 0; i != s->ncands; ++i)
        json_decref(s->cands[i].body);
    s->ncands = 0;
    memset(s->more, 0, sizeof(s->more));
    memset(s->ties_cut, 0, sizeof(s->ties_cut));
    snprintf(batch, sizeof(batch), "%zu", s->batch);
    snprintf(ties_max, sizeof(ties_max), "%d", LIST_TIES_MAX);
    if (s->pos_set)
        snprintf(max, sizeof(max), "(%lld", (long long)s->pos_score);
    else
        snprintf(max, sizeof(max), "+inf");
    s->outstanding = n;
    for (unsigned i = 0; i != s->nparts; ++i) {
        unsigned p = s->parts[i];
        argvlen[1] = (size_t)wh_key_event_index(key, p, s->call.env);
        argv[0] = "ZREVRANGEBYSCORE";
        argv[1] = key;
        if (s->pos_set) {
            char score[24];
            snprintf(score, sizeof(score), "%lld", (long long)s->pos_score);
            argv[2] = score;
            argv[3] = score;
            argv[4] = "LIMIT";
            argv[5] = "0";
            argv[6] = ties_max;
            for (int k = 0; k != 7; ++k)
                if (k != 1)
                    argvlen[k] = strlen(argv[k]);
            s->slots[sent] = (list_slot_t){s, p, true};
            if (wh_redis_command(s->call.redis, on_range, &s->slots[sent], 7, argv, argvlen) != WH_OK)
                goto Unsent;
            ++sent;
        }
        argv[2] = max;
        argv[3] = "-inf";
        argv[4] = "WITHSCORES";
        argv[5] = "LIMIT";
        argv[6] = "0";
        argv[7] = batch;
        for (int k = 0; k != 8; ++k)
            if (k != 1)
                argvlen[k] = strlen(argv[k]);
        s->slots[sent] = (list_slot_t){s, p, false};
        if (wh_redis_command(s->call.redis, on_range, &s->slots[sent], 8, argv, argvlen) != WH_OK)
            goto Unsent;
        ++sent;
    }
    return;
Unsent:
    while (sent++ != n)
        list_settle(s, WH_EUNAVAILABLE, NULL, list_bodies);
}

/* Keeps the body of a candidate from its record (NULL: expired or unreadable; the listing skips it). */
static void store_body(cand_t *c, const redisReply *reply, wh_err_t err)
{
    json_t *header;
    char *body;
    size_t len;

    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_STRING &&
        wh_evrec_split(reply->str, (size_t)reply->len, &header, &body, &len)) {
        json_decref(header);
        c->body = json_loadb(body, len, 0, NULL);
        free(body);
        if (c->body != NULL && !json_is_object(c->body)) {
            json_decref(c->body);
            c->body = NULL;
        }
    }
}

typedef struct {
    list_call_t *s;
    cand_t *c;
} body_slot_t;

static void on_list_body_slot(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    body_slot_t *b = data;
    list_call_t *s = b->s;

    store_body(b->c, reply, err);
    free(b);
    list_settle(s, err == WH_OK && reply == NULL ? WH_EUNAVAILABLE : err, reply, list_filter);
}

/*
 * The candidates are merged newest first; they can be taken in that order until one partition that may hold
 * more has given its last one (its next entry, unseen, could come right after). Then their bodies are read.
 */
static void list_bodies(list_call_t *s)
{
    size_t left[WH_MAX_PARTITIONS] = {0}, n = 0, kept = 0;
    char key[WH_KEY_MAX];
    const char *argv[3];
    size_t argvlen[3];

    /* A partition whose same-millisecond entries were cut short must not contribute its older ones yet. */
    for (size_t i = 0; i != s->ncands; ++i)
        if (s->ties_cut[s->cands[i].part] && s->cands[i].score != s->pos_score)
            s->cands[i].part = WH_MAX_PARTITIONS; /* dropped below */
    for (size_t i = 0; i != s->ncands; ++i)
        if (s->cands[i].part != WH_MAX_PARTITIONS)
            s->cands[kept++] = s->cands[i];
    s->ncands = kept;
    if (s->ncands > 1)
        qsort(s->cands, s->ncands, sizeof(*s->cands), cand_cmp);
    for (size_t i = 0; i != s->ncands; ++i)
        ++left[s->cands[i].part];
    for (unsigned i = 0; i != s->nparts; ++i)
        if (s->more[s->parts[i]] && left[s->parts[i]] == 0) {
            /* only a partition whose thousands of same-millisecond entries all precede the position gets here */
            wh_api__reply_internal(&s->call, "too many events in one millisecond to page through");
            return;
        }
    while (n != s->ncands && n != s->batch) {
        unsigned p = s->cands[n].part;
        ++n;
        if (--left[p] == 0 && s->more[p])
            break;
    }
    s->ntaken = n;
    if (n == 0) {
        list_filter(s);
        return;
    }
    s->outstanding = (unsigned)n;
    for (size_t i = 0; i != n; ++i) {
        body_slot_t *b = malloc(sizeof(*b));
        int k;
        if (b == NULL)
            abort();
        *b = (body_slot_t){s, &s->cands[i]};
        k = wh_key_event_bucket(key, s->cands[i].part, s->cands[i].score);
        argv[0] = "HGET";
        argvlen[0] = 4;
        argv[1] = key;
        argvlen[1] = (size_t)k;
        argv[2] = s->cands[i].id;
        argvlen[2] = strlen(s->cands[i].id);
        if (wh_redis_command(s->call.redis, on_list_body_slot, b, 3, argv, argvlen) != WH_OK) {
            free(b);
            for (size_t u = i; u != n; ++u)
                list_settle(s, WH_EUNAVAILABLE, NULL, list_filter);
            return;
        }
    }
}

/* The page's entry for one event: ids, type, times, then the scalar members of its data (no record, no lists). */
static json_t *summary(const cand_t *c)
{
    json_t *data = json_object_get(c->body, "data"), *type = json_object_get(c->body, "type"), *v;
    json_t *out =
        json_pack("{s:s, s:O, s:o, s:O}", "eventId", c->id, "type", json_is_string(type) ? type : json_null(), "receivedAt",
                  iso_time(c->score), "connectionId",
                  json_is_string(json_object_get(data, "connectionId")) ? json_object_get(data, "connectionId") : json_null());
    const char *name;

    if (out == NULL)
        return NULL;
    json_object_foreach(data, name, v)
    {
        if (json_is_object(v) || json_is_array(v) || strcmp(name, "eventId") == 0 || strcmp(name, "connectionId") == 0)
            continue;
        json_object_set(out, name, v);
    }
    return out;
}

static bool wanted(const list_call_t *s, const cand_t *c)
{
    const char *type = json_string_value(json_object_get(c->body, "type"));
    const char *conn = json_string_value(json_object_get(json_object_get(c->body, "data"), "connectionId"));

    if (s->type_filter[0] != '\0' && (type == NULL || !wh_event_type_matches(wh_str_c(s->type_filter), wh_str_c(type))))
        return false;
    if (s->conn_filter[0] != '\0' && (conn == NULL || strcmp(conn, s->conn_filter) != 0))
        return false;
    return true;
}

static void list_answer(list_call_t *s, bool has_cursor, int64_t score, const char *id)
{
    json_t *events = s->events, *cursor = json_null();

    s->events = NULL;
    if (has_cursor)
        cursor = json_sprintf("%lld-%s", (long long)score, id);
    wh_api__reply_json(&s->call, 200, json_pack("{s:o, s:o}", "events", events, "nextCursor", cursor));
}

static void list_filter(list_call_t *s)
{
    bool exhausted = true;

    for (size_t i = 0; i != s->ntaken; ++i) {
        cand_t *c = &s->cands[i];
        if (c->body == NULL || expired(&s->call, c->score) || !wanted(s, c))
            continue;
        if (json_array_size(s->events) == s->limit) {
            /* one more than the page: the page ends at its last event, and more exist */
            list_answer(s, true, s->last_score, s->last_id);
            return;
        }
        json_array_append_new(s->events, summary(c));
        s->last_score = c->score;
        memcpy(s->last_id, c->id, strlen(c->id) + 1);
    }
    for (unsigned i = 0; i != s->nparts; ++i)
        if (s->more[s->parts[i]])
            exhausted = false;
    if (s->ntaken != s->ncands)
        exhausted = false;
    if (exhausted) {
        list_answer(s, false, 0, NULL);
        return;
    }
    /* go on after the last entry examined */
    s->pos_set = true;
    s->pos_score = s->cands[s->ntaken - 1].score;
    memcpy(s->pos_id, s->cands[s->ntaken - 1].id, strlen(s->cands[s->ntaken - 1].id) + 1);
    s->scanned += s->ntaken;
    if (s->scanned >= LIST_SCAN_MAX) {
        /* a bounded answer: possibly short (even empty), with a cursor to go on from */
        list_answer(s, true, s->pos_score, s->pos_id);
        return;
    }
    list_round(s);
}

/* "<receivedAt ms>-<eventId>", as nextCursor gives it. */
static bool parse_cursor(const char *text, int64_t *score, char *id)
{
    const char *dash = strchr(text, '-');
    long long v;

    if (dash == NULL || dash == text || !wh_str_to_i64(wh_str(text, (size_t)(dash - text)), &v) || v < 0 || text[0] == '-' ||
        !wh_api__id_valid(wh_str_c(dash + 1)))
        return false;
    *score = v;
    memcpy(id, dash + 1, strlen(dash + 1) + 1);
    return true;
}

/* An exact event type, "*", or a prefix ending in ".*": [a-z0-9_:.-] with '*' only as the last segment. */
static bool type_filter_valid(const char *t)
{
    size_t len = strlen(t);

    if (len == 0 || len > TYPE_FILTER_MAX)
        return false;
    for (size_t i = 0; i != len; ++i) {
        char c = t[i];
        if (c == '*') {
            if (i != len - 1 || (len > 1 && t[i - 1] != '.'))
                return false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

static void event_list_start(wh_api_call_t *call)
{
    static const char *const names[] = {"connectionId", "type", "limit", "cursor", NULL};
    list_call_t *s = (list_call_t *)call;
    wh_api_query_value_t q[4];
    char errbuf[WH_ERRBUF_SIZE];
    long long limit = LIST_DEFAULT;

    if (!wh_api__query(call, names, q, errbuf)) {
        wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
        return;
    }
    if (q[0].present) {
        if (!wh_api__id_valid(wh_str_c(q[0].value))) {
            wh_api__reply_error(call, 400, "invalid_request", "connectionId: must be a connection id");
            return;
        }
        memcpy(s->conn_filter, q[0].value, strlen(q[0].value) + 1);
    }
    if (q[1].present) {
        if (!type_filter_valid(q[1].value)) {
            wh_api__reply_error(call, 400, "invalid_request", "type: must be an event type or a prefix ending in .*");
            return;
        }
        memcpy(s->type_filter, q[1].value, strlen(q[1].value) + 1);
    }
    if (q[2].present && (!wh_str_to_i64(wh_str_c(q[2].value), &limit) || limit < 1 || limit > LIST_MAX)) {
        wh_api__reply_error(call, 400, "invalid_request", "limit: must be an integer from 1 to %d", LIST_MAX);
        return;
    }
    if (q[3].present) {
        if (!parse_cursor(q[3].value, &s->pos_score, s->pos_id)) {
            wh_api__reply_error(call, 400, "invalid_request", "cursor: not a cursor this route returned (nextCursor)");
            return;
        }
        s->pos_set = true;
    }
    s->limit = (size_t)limit;
    /* unfiltered, limit + 1 entries tell whether another page exists; filtered, read wider to skip non-matches */
    s->batch = s->limit + 1;
    if ((s->type_filter[0] != '\0' || s->conn_filter[0] != '\0') && s->batch < LIST_FILTER_BATCH)
        s->batch = LIST_FILTER_BATCH;
    if (s->conn_filter[0] != '\0') {
        s->parts[0] = wh_partition_of(s->conn_filter);
        s->nparts = 1;
    } else {
        for (unsigned p = 0; p != wh_partitions(); ++p)
            s->parts[p] = p;
        s->nparts = wh_partitions();
    }
    s->events = json_array();
    list_round(s);
}

static void event_list_dispose(wh_api_call_t *call)
{
    list_call_t *s = (list_call_t *)call;

    for (size_t i = 0; i != s->ncands; ++i)
        json_decref(s->cands[i].body);
    free(s->cands);
    json_decref(s->events);
}

const wh_api_op_t wh_api__event_list = {event_list_start, event_list_dispose, sizeof(list_call_t), false};

/* ==== POST /v1/subscriptions/{id}/replay ===================================================================== */

typedef struct {
    wh_api_call_t call;
    int64_t since, until;
    bool only_failed;
    unsigned part;    /* the partition being replayed */
    long long offset; /* index entries of the range already examined in it */
    long long queued, examined;
    bool truncated;
} replay_t;

static void replay_next(replay_t *s);

static void on_replayed(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    replay_t *s = data;
    long long q, e, more;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || !reply_i64(reply->element[0], &q) ||
        !reply_i64(reply->element[1], &e) || !reply_i64(reply->element[2], &more)) {
        wh_api__reply_internal(&s->call, "requeue: unexpected reply");
        return;
    }
    s->queued += q;
    s->examined += e;
    s->offset += e;
    if (more == 0) {
        ++s->part;
        s->offset = 0;
    }
    if (s->part != wh_partitions() && (s->queued >= REPLAY_MAX || s->examined >= REPLAY_EXAMINE_MAX))
        s->truncated = true;
    replay_next(s);
}

/* One requeue.lua call: the next chunk of the current partition's range. Partitions go one after another. */
static void replay_next(replay_t *s)
{
    requeue_args_t a;
    char since[24], until[24], offset[24], chunk[24], budget[24];
    const char *argv[16];
    size_t argvlen[16];
    int argc;

    if (s->part == wh_partitions() || s->truncated) {
        json_t *answer = json_pack("{s:I}", "replayed", (json_int_t)s->queued);
        if (s->truncated)
            json_object_set_new(answer, "truncated", json_true());
        wh_api__reply_json(&s->call, 202, answer);
        return;
    }
    argc = requeue_args(&a, s->part, "range", s->call.env, s->call.id, argv, argvlen);
    snprintf(since, sizeof(since), "%lld", (long long)s->since);
    snprintf(until, sizeof(until), "%lld", (long long)s->until);
    snprintf(offset, sizeof(offset), "%lld", s->offset);
    snprintf(chunk, sizeof(chunk), "%lld",
             REPLAY_EXAMINE_MAX - s->examined < REPLAY_CHUNK ? REPLAY_EXAMINE_MAX - s->examined : (long long)REPLAY_CHUNK);
    snprintf(budget, sizeof(budget), "%lld", REPLAY_MAX - s->queued);
    argv[argc++] = since;
    argv[argc++] = until;
    argv[argc++] = s->only_failed ? "1" : "0";
    argv[argc++] = offset;
    argv[argc++] = chunk;
    argv[argc++] = budget;
    for (int i = 10; i != argc; ++i)
        argvlen[i] = strlen(argv[i]);
    wh_api__script(&s->call, &wh_script_requeue, on_replayed, 3, argc, argv, argvlen);
}

static void on_replay_sub(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    replay_t *s = data;
    json_t *sub;
    bool disabled;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_STRING) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such subscription");
        return;
    }
    sub = json_loadb(reply->str, (size_t)reply->len, 0, NULL);
    disabled = subscription_disabled(sub);
    json_decref(sub);
    if (disabled) {
        wh_api__reply_error(&s->call, 409, "subscription_disabled",
                            "subscription %s is disabled (POST /v1/subscriptions/%s/enable)", s->call.id, s->call.id);
        return;
    }
    replay_next(s);
}

/* An ISO 8601 member; -1 with errbuf when invalid, 0 when absent. */
static int get_time(const json_t *body, const char *field, int64_t *ms, char *errbuf)
{
    const char *text = NULL;
    int got = wh_api__get_string(body, field, 1, 64, &text, errbuf);

    if (got <= 0)
        return got;
    if (!wh_parse_iso8601(wh_str_c(text), ms)) {
        wh_errf(errbuf, WH_EINVAL, "%s: must be an ISO 8601 date-time (\"2026-11-23T10:00:00.000Z\")", field);
        return -1;
    }
    return 1;
}

static void sub_replay_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"since", "until", "onlyFailed", NULL};
    static const char *const none[] = {NULL};
    replay_t *s = (replay_t *)call;
    char errbuf[WH_ERRBUF_SIZE], key[WH_KEY_MAX];
    const char *argv[3] = {"HGET", key, call->id};
    size_t argvlen[3] = {4, 0, strlen(call->id)};
    int got;

    if (!wh_api__query(call, none, NULL, errbuf) || !wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = get_time(call->body, "since", &s->since, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "since: required");
        goto Invalid;
    }
    got = get_time(call->body, "until", &s->until, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0)
        s->until = wh_now_ms();
    if (wh_api__get_bool(call->body, "onlyFailed", &s->only_failed, errbuf) < 0)
        goto Invalid;
    if (s->since < 0 || s->since > s->until) {
        wh_errf(errbuf, WH_EINVAL, "since: must not be after until");
        goto Invalid;
    }
    argvlen[1] = (size_t)wh_key_subs(key, call->env);
    wh_api__command(call, on_replay_sub, 3, argv, argvlen);
    return;
Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
}

const wh_api_op_t wh_api__sub_replay = {sub_replay_start, NULL, sizeof(replay_t), true};
