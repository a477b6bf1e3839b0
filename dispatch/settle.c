#include "settle.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void wh_settle_call_init(wh_settle_call_t *c)
{
    memset(c, 0, sizeof(*c));
    wh_cache_args_init(&c->events);
    wh_cache_args_init(&c->acks);
}

void wh_settle_call_dispose(wh_settle_call_t *c)
{
    wh_cache_args_dispose(&c->events);
    wh_cache_args_dispose(&c->acks);
    wh_settle_call_init(c);
}

static void add_s(wh_cache_args_t *a, const char *s)
{
    wh_cache_args_add_copy(a, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void add_i(wh_cache_args_t *a, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    wh_cache_args_add_copy(a, num, (size_t)n);
}

bool wh_settle_call_add(wh_settle_call_t *c, wh_settle_entry_t *e)
{
    while (e->added != e->nev) {
        const wh_settle_event_t *ev = &e->ev[e->added];
        /* an event is never split: a call takes it whole (one event has at most WH_MAX_SUBSCRIPTIONS_PER_ENV
           deliveries), unless the call is still empty */
        if (c->items != 0 && c->items + 1 + ev->nd > WH_SETTLE_MAX_ITEMS)
            return false;
        add_s(&c->events, ev->event_id);
        add_s(&c->events, ev->env);
        add_i(&c->events, ev->received_ms);
        wh_cache_args_add_copy(&c->events, ev->body->data, ev->body->len);
        add_i(&c->events, (long long)ev->nd);
        for (size_t k = 0; k != ev->nd; ++k) {
            const wh_settle_delivery_t *d = &ev->d[k];
            add_s(&c->events, d->sub);
            add_s(&c->events, d->wid);
            /* an OPEN delivery cannot reach here (the worker settles an entry once none is); a lease is its safe reading */
            add_s(&c->events, wh_outcome_name(d->outcome == WH_OUTCOME_OPEN ? WH_OUTCOME_LEASE : d->outcome));
            add_i(&c->events, d->due);
            add_i(&c->events, d->attempts);
            add_i(&c->events, d->status);
            add_s(&c->events, d->error);
            add_s(&c->events, ev->conn);
            add_s(&c->events, ev->type);
            add_s(&c->events, d->order_key);
            add_i(&c->events, ev->occurred_ms);
            add_s(&c->events, d->record);
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

int wh_settle_call_args(const wh_settle_call_t *c, unsigned part, int64_t now_ms, int64_t lease_until_ms, wh_cache_args_t *out)
{
    char key[WH_KEY_MAX];

    wh_cache_args_add_copy(out, key, (size_t)wh_key_stream(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_due(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_dead(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_poison(key, part));
    add_s(out, WH_CONSUMER_GROUP);
    add_i(out, now_ms);
    add_i(out, lease_until_ms);
    wh_cache_args_add_copy(out, key, (size_t)wh_key_delivery_prefix(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_prefix(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_index(key, part, ""));
    add_i(out, WH_EVENT_RETENTION_S);
    add_i(out, WH_DEAD_LETTER_RETENTION_S);
    add_i(out, WH_MAX_DEAD_LETTERS);
    add_i(out, WH_MAX_POISON_KEPT);
    add_i(out, (long long)c->nacks);
    for (size_t i = 0; i != c->acks.n; ++i)
        wh_cache_args_add(out, c->acks.argv[i], c->acks.len[i]);
    add_i(out, (long long)c->nevents);
    for (size_t i = 0; i != c->events.n; ++i)
        wh_cache_args_add(out, c->events.argv[i], c->events.len[i]);
    return 4;
}
