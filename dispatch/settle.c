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

static void grow_to(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    while (*cap < need)
        *cap = *cap == 0 ? 256 : *cap * 2;
    if ((*buf = realloc(*buf, *cap)) == NULL)
        abort();
}

static void put(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    grow_to(buf, cap, *len + n + 1);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Appends `str` as a JSON string's contents (ids are plain, but nothing here relies on it). */
static void json_escape(char **buf, size_t *len, size_t *cap, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; *p != '\0'; ++p) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(buf, len, cap, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put(buf, len, cap, esc, 6);
        } else {
            put(buf, len, cap, (const char *)p, 1);
        }
    }
}

static const char *state_of(wh_outcome_t o)
{
    return o == WH_OUTCOME_OK ? "delivered" : o == WH_OUTCOME_DROP ? "dropped" : o == WH_OUTCOME_DEAD ? "dead" : "pending";
}

char *wh_settle_record(const wh_settle_event_t *ev, size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool first = true;

    put(&buf, &len, &cap, "{\"s\":{", 6);
    for (size_t k = 0; k != ev->nd; ++k) {
        const wh_settle_delivery_t *d = &ev->d[k];
        const char *state = state_of(d->outcome);
        if (k != 0)
            put(&buf, &len, &cap, ",", 1);
        put(&buf, &len, &cap, "\"", 1);
        json_escape(&buf, &len, &cap, d->sub);
        put(&buf, &len, &cap, "\":\"", 3);
        put(&buf, &len, &cap, state, strlen(state));
        put(&buf, &len, &cap, ":", 1);
        json_escape(&buf, &len, &cap, d->wid);
        put(&buf, &len, &cap, "\"", 1);
    }
    put(&buf, &len, &cap, "},\"a\":[", 7);
    for (size_t k = 0; k != ev->nd; ++k) {
        if (ev->d[k].record == NULL)
            continue;
        if (!first)
            put(&buf, &len, &cap, ",", 1);
        first = false;
        put(&buf, &len, &cap, ev->d[k].record, strlen(ev->d[k].record));
    }
    put(&buf, &len, &cap, "]}\n", 3);
    put(&buf, &len, &cap, ev->body->data, ev->body->len);
    *out_len = len;
    return buf;
}

bool wh_settle_call_add(wh_settle_call_t *c, wh_settle_entry_t *e)
{
    while (e->added != e->nev) {
        const wh_settle_event_t *ev = &e->ev[e->added];
        size_t ntasks = 0, rlen;
        char *rec;
        for (size_t k = 0; k != ev->nd; ++k)
            if (ev->d[k].outcome != WH_OUTCOME_OK && ev->d[k].outcome != WH_OUTCOME_DROP)
                ++ntasks;
        /* an event is never split: a call takes it whole (one event has at most WH_MAX_SUBSCRIPTIONS_PER_ENV
           deliveries), unless the call is still empty */
        if (c->items != 0 && c->items + 1 + ev->nd > WH_SETTLE_MAX_ITEMS)
            return false;
        add_s(&c->events, ev->event_id);
        add_s(&c->events, ev->env);
        add_i(&c->events, ev->received_ms);
        rec = wh_settle_record(ev, &rlen);
        wh_cache_args_add_owned(&c->events, rec); /* JSON text: no NUL inside */
        add_i(&c->events, (long long)ntasks);
        for (size_t k = 0; k != ev->nd; ++k) {
            const wh_settle_delivery_t *d = &ev->d[k];
            if (d->outcome == WH_OUTCOME_OK || d->outcome == WH_OUTCOME_DROP)
                continue;
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

int wh_settle_call_args(const wh_settle_call_t *c, unsigned part, int64_t now_ms, int64_t lease_until_ms, int64_t retention_ms,
                        unsigned max_events, wh_cache_args_t *out)
{
    char key[WH_KEY_MAX];

    wh_cache_args_add_copy(out, key, (size_t)wh_key_stream(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_due(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_dead(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_poison(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_buckets(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_counts(key, part));
    add_s(out, WH_CONSUMER_GROUP);
    add_i(out, now_ms);
    add_i(out, lease_until_ms);
    wh_cache_args_add_copy(out, key, (size_t)wh_key_delivery_prefix(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_bucket_prefix(key, part));
    wh_cache_args_add_copy(out, key, (size_t)wh_key_event_index(key, part, ""));
    add_i(out, retention_ms / 1000);
    add_i(out, WH_DEAD_LETTER_RETENTION_S);
    add_i(out, WH_MAX_DEAD_LETTERS);
    add_i(out, WH_MAX_POISON_KEPT);
    add_i(out, WH_EVENT_BUCKET_MS);
    add_i(out, max_events);
    add_i(out, (long long)c->nacks);
    for (size_t i = 0; i != c->acks.n; ++i)
        wh_cache_args_add(out, c->acks.argv[i], c->acks.len[i]);
    add_i(out, (long long)c->nevents);
    for (size_t i = 0; i != c->events.n; ++i)
        wh_cache_args_add(out, c->events.argv[i], c->events.len[i]);
    return 6;
}
