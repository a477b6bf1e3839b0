#include "settle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../queue/evrec.h"
#include "../queue/keys.h"

wh_body_t *wh_body_new(const char *data, size_t len)
{
    wh_body_t *b = malloc(sizeof(*b) + len + 1);
    if (b == NULL)
        abort();
    b->refs = 1;
    b->len = len;
    memcpy(b->data, data, len);
    b->data[len] = '\0';
    return b;
}

wh_body_t *wh_body_retain(wh_body_t *b)
{
    ++b->refs;
    return b;
}

void wh_body_release(wh_body_t *b)
{
    if (b != NULL && --b->refs == 0)
        free(b);
}

const char *wh_outcome_name(wh_outcome_t o)
{
    switch (o) {
#define X(name, text)                                                                                                              \
    case WH_OUTCOME_##name:                                                                                                        \
        return text;
        WH_OUTCOME_MAP(X)
#undef X
    }
    return "open";
}

static char *dup_or_null(const char *s)
{
    char *d;
    if (s == NULL)
        return NULL;
    if ((d = strdup(s)) == NULL)
        abort();
    return d;
}

wh_settle_entry_t *wh_settle_entry_new(unsigned part, const char *id, size_t nev)
{
    wh_settle_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (nev != 0 && (e->ev = calloc(nev, sizeof(*e->ev))) == NULL))
        abort();
    e->part = part;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->nev = nev;
    return e;
}

void wh_settle_event_init(wh_settle_event_t *ev, const char *event_id, const char *env, const char *conn, const char *type,
                          int64_t received_ms, int64_t occurred_ms, wh_body_t *body, size_t nd)
{
    ev->event_id = dup_or_null(event_id);
    ev->env = dup_or_null(env);
    ev->conn = dup_or_null(conn != NULL ? conn : "");
    ev->type = dup_or_null(type);
    ev->received_ms = received_ms;
    ev->occurred_ms = occurred_ms;
    ev->body = wh_body_retain(body);
    ev->nd = nd;
    if (nd != 0 && (ev->d = calloc(nd, sizeof(*ev->d))) == NULL)
        abort();
}

void wh_settle_entry_free(wh_settle_entry_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i != e->nev; ++i) {
        wh_settle_event_t *ev = &e->ev[i];
        for (size_t k = 0; k != ev->nd; ++k) {
            free(ev->d[k].error);
            free(ev->d[k].record);
            free(ev->d[k].order_key);
        }
        free(ev->d);
        free(ev->event_id);
        free(ev->env);
        free(ev->conn);
        free(ev->type);
        wh_body_release(ev->body);
    }
    free(e->ev);
    free(e);
}

bool wh_settle_delivery_done(wh_settle_entry_t *e, wh_settle_delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts,
                             long status, const char *error, const char *record)
{
    bool was_open = d->outcome == WH_OUTCOME_OPEN;

    d->outcome = o;
    d->due = due;
    d->attempts = attempts;
    d->status = status;
    free(d->error);
    d->error = dup_or_null(error);
    if (record != NULL) {
        free(d->record);
        d->record = dup_or_null(record);
    }
    d->live = NULL;
    return was_open && o != WH_OUTCOME_OPEN && --e->open == 0;
}

#define add_s wh_argv_adds
#define add_i wh_argv_addi

/* The call's keys and its fixed leading arguments (settle.lua's header says which). */
static void call_prefix(wh_settle_call_t *c)
{
    char key[WH_KEY_MAX];

    wh_argv_add(&c->args, key, (size_t)wh_key_stream(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_due(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_dead(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_poison(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_event_buckets(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_event_counts(key, c->part));
    add_s(&c->args, WH_CONSUMER_GROUP);
    wh_argv_add(&c->args, key, (size_t)wh_key_delivery_prefix(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_event_bucket_prefix(key, c->part));
    wh_argv_add(&c->args, key, (size_t)wh_key_event_index(key, c->part, ""));
    add_i(&c->args, WH_EVENT_BUCKET_MS);
}

void wh_settle_call_init(wh_settle_call_t *c, unsigned part)
{
    memset(c, 0, sizeof(*c));
    c->part = part;
    wh_argv_init(&c->args);
    wh_argv_init(&c->acks);
    call_prefix(c);
}

void wh_settle_call_reset(wh_settle_call_t *c)
{
    wh_argv_reset(&c->args);
    wh_argv_reset(&c->acks);
    for (size_t i = 0; i != c->nbuckets; ++i)
        wh_argv_reset(&c->buckets[i].hset);
    for (size_t i = 0; i != c->nindexes; ++i)
        wh_argv_reset(&c->indexes[i].zadd);
    c->nbuckets = c->nindexes = 0;
    c->nevents = c->ntasks = c->nacks = c->items = 0;
    call_prefix(c);
}

void wh_settle_call_dispose(wh_settle_call_t *c)
{
    wh_argv_dispose(&c->args);
    wh_argv_dispose(&c->acks);
    for (size_t i = 0; i != c->nbuckets_init; ++i)
        wh_argv_dispose(&c->buckets[i].hset);
    for (size_t i = 0; i != c->nindexes_init; ++i)
        wh_argv_dispose(&c->indexes[i].zadd);
}

/* The call's bucket for minute `bucket`, or NULL. */
static wh_settle_bucket_t *find_bucket(wh_settle_call_t *c, int64_t bucket)
{
    for (size_t i = 0; i != c->nbuckets; ++i)
        if (c->buckets[i].bucket == bucket)
            return &c->buckets[i];
    return NULL;
}

/* The call's index of environment `env`, or NULL. */
static wh_settle_index_t *find_index(wh_settle_call_t *c, const char *env)
{
    for (size_t i = 0; i != c->nindexes; ++i)
        if (strcmp(c->indexes[i].env, env) == 0)
            return &c->indexes[i];
    return NULL;
}

/* Starts the bucket `received_ms` falls in (the caller checked there is room); a slot used by an earlier call
   keeps its memory. */
static wh_settle_bucket_t *start_bucket(wh_settle_call_t *c, int64_t received_ms)
{
    wh_settle_bucket_t *b = &c->buckets[c->nbuckets];
    char key[WH_KEY_MAX];

    if (c->nbuckets == c->nbuckets_init) {
        wh_argv_init(&b->hset);
        ++c->nbuckets_init;
    }
    ++c->nbuckets;
    b->bucket = received_ms / WH_EVENT_BUCKET_MS;
    b->n = 0;
    add_s(&b->hset, "HSET");
    wh_argv_add(&b->hset, key, (size_t)wh_key_event_bucket(key, c->part, received_ms));
    return b;
}

/* Starts the index of environment `env` (the caller checked there is room), as start_bucket. */
static wh_settle_index_t *start_index(wh_settle_call_t *c, const char *env)
{
    wh_settle_index_t *x = &c->indexes[c->nindexes];
    char key[WH_KEY_MAX];

    if (c->nindexes == c->nindexes_init) {
        wh_argv_init(&x->zadd);
        ++c->nindexes_init;
    }
    ++c->nindexes;
    snprintf(x->env, sizeof(x->env), "%s", env);
    add_s(&x->zadd, "ZADD");
    wh_argv_add(&x->zadd, key, (size_t)wh_key_event_index(key, c->part, env));
    return x;
}

int64_t wh_settle_bucket_expire_at(int64_t bucket, int64_t retention_ms)
{
    return (bucket + 1) * WH_EVENT_BUCKET_MS / 1000 + retention_ms / 1000;
}

/* Puts `str` as a JSON string's contents (ids are plain, but nothing here relies on it). */
static void put_escaped(wh_argv_t *a, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; *p != '\0'; ++p) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            wh_argv_put(a, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            wh_argv_put(a, esc, 6);
        } else {
            wh_argv_put(a, p, 1);
        }
    }
}

static void put_s(wh_argv_t *a, const char *s)
{
    wh_argv_put(a, s, strlen(s));
}

static const char *state_of(wh_outcome_t o)
{
    return o == WH_OUTCOME_OK ? "delivered" : o == WH_OUTCOME_DROP ? "dropped" : o == WH_OUTCOME_DEAD ? "dead" : "pending";
}

void wh_settle_record(wh_argv_t *a, const wh_settle_event_t *ev)
{
    bool first = true;

    wh_argv_begin(a);
    put_s(a, "{\"s\":{");
    for (size_t k = 0; k != ev->nd; ++k) {
        const wh_settle_delivery_t *d = &ev->d[k];
        put_s(a, k != 0 ? ",\"" : "\"");
        put_escaped(a, d->sub);
        put_s(a, "\":\"");
        put_s(a, state_of(d->outcome));
        put_s(a, ":");
        put_escaped(a, d->wid);
        put_s(a, "\"");
    }
    put_s(a, "},\"a\":[");
    for (size_t k = 0; k != ev->nd; ++k) {
        if (ev->d[k].record == NULL)
            continue;
        if (!first)
            put_s(a, ",");
        first = false;
        put_s(a, ev->d[k].record);
    }
    put_s(a, "]}\n");
    wh_evrec_put_body(a, ev->body->data, ev->body->len);
    wh_argv_end(a);
}

bool wh_settle_call_add(wh_settle_call_t *c, wh_settle_entry_t *e)
{
    while (e->added != e->nev) {
        const wh_settle_event_t *ev = &e->ev[e->added];
        wh_settle_bucket_t *b;
        wh_settle_index_t *x;
        /* an event is never split: a call takes it whole (one event has at most WH_MAX_SUBSCRIPTIONS_PER_ENV
           deliveries, one bucket, one environment), unless the call is still empty, which always has room */
        if (c->items != 0 && c->items + 1 + ev->nd > WH_SETTLE_MAX_ITEMS)
            return false;
        b = find_bucket(c, ev->received_ms / WH_EVENT_BUCKET_MS);
        x = find_index(c, ev->env);
        /* both checked before either is started: a full call never carries a bucket without records */
        if ((b == NULL && c->nbuckets == WH_SETTLE_MAX_BUCKETS) || (x == NULL && c->nindexes == WH_SETTLE_MAX_INDEXES))
            return false;
        if (b == NULL)
            b = start_bucket(c, ev->received_ms);
        if (x == NULL)
            x = start_index(c, ev->env);
        add_s(&b->hset, ev->event_id);
        wh_settle_record(&b->hset, ev);
        ++b->n;
        add_i(&x->zadd, ev->received_ms);
        add_s(&x->zadd, ev->event_id);
        for (size_t k = 0; k != ev->nd; ++k) {
            const wh_settle_delivery_t *d = &ev->d[k];
            if (d->outcome == WH_OUTCOME_OK || d->outcome == WH_OUTCOME_DROP)
                continue;
            add_s(&c->args, ev->event_id);
            add_s(&c->args, ev->env);
            add_i(&c->args, ev->received_ms);
            add_s(&c->args, d->sub);
            add_s(&c->args, d->wid);
            /* an OPEN delivery cannot reach here (the worker settles an entry once none is); a lease is its safe reading */
            add_s(&c->args, wh_outcome_name(d->outcome == WH_OUTCOME_OPEN ? WH_OUTCOME_LEASE : d->outcome));
            add_i(&c->args, d->due);
            add_i(&c->args, d->attempts);
            add_i(&c->args, d->status);
            add_s(&c->args, d->error);
            add_s(&c->args, ev->conn);
            add_s(&c->args, ev->type);
            add_s(&c->args, d->order_key);
            add_i(&c->args, ev->occurred_ms);
            ++c->ntasks;
        }
        c->items += 1 + ev->nd;
        ++c->nevents;
        ++e->added;
    }
    add_s(&c->acks, e->id);
    add_s(&c->acks, e->poison ? "1" : "0");
    ++c->nacks;
    ++c->items;
    return true;
}

int wh_settle_call_finish(wh_settle_call_t *c, int64_t now_ms, int64_t lease_until_ms, int64_t retention_ms, unsigned max_events)
{
    for (size_t i = 0; i != c->nbuckets; ++i) {
        add_i(&c->args, c->buckets[i].bucket);
        add_i(&c->args, (long long)c->buckets[i].n);
    }
    for (size_t i = 0; i != c->nindexes; ++i)
        add_s(&c->args, c->indexes[i].env);
    wh_argv_append(&c->args, &c->acks);
    add_i(&c->args, now_ms);
    add_i(&c->args, lease_until_ms);
    add_i(&c->args, retention_ms / 1000);
    add_i(&c->args, WH_DEAD_LETTER_RETENTION_S);
    add_i(&c->args, WH_MAX_DEAD_LETTERS);
    add_i(&c->args, WH_MAX_POISON_KEPT);
    add_i(&c->args, max_events);
    add_i(&c->args, (long long)c->nbuckets);
    add_i(&c->args, (long long)c->nindexes);
    add_i(&c->args, (long long)c->ntasks);
    add_i(&c->args, (long long)c->nacks);
    return 6;
}
