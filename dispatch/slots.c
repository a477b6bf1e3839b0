#include "slots.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/str.h"
#include "../common/time.h"
#include "../queue/keys.h"

#define BUCKETS 256
#define TICK_MS 20
/* A subscription idle this long gives back the slots it holds beyond those in use. */
#define IDLE_RELEASE_MS 200
/* Asked again this soon when Redis granted nothing (other workers hold every slot). */
#define RETRY_MS 20
/* A subscription whose oldest waiter has waited this long is stalled: its waiters stop counting as work about to
   start (wh_slots_waiting), so a slow endpoint's backlog never holds back other endpoints' deliveries. */
#define STALL_MS 500
/* An entry with nothing held, nothing waiting and nothing in flight for this long is forgotten. */
#define FORGET_MS 60000

typedef struct waiter {
    struct waiter *next;
    void *item;
    int64_t since;
} waiter_t;

typedef struct sub {
    struct sub *next;
    struct wh_slots *owner;
    char id[WH_MAX_ID_LEN + 1];
    unsigned max, rate;
    unsigned held;       /* slots Redis says this worker holds, less those it has decided to give back */
    unsigned inflight;   /* of which in use */
    unsigned share;      /* the fair share slots.lua last answered (0: not asked yet) */
    unsigned to_release; /* slots over the share that attempts freed, given back with the next call */
    unsigned releasing;  /* given back by the call in flight: back to to_release if it fails */
    unsigned tokens;     /* rate tokens left for token_second */
    int64_t token_second;
    waiter_t *head, *tail;
    size_t nwait;
    bool asking;
    bool stalled; /* its nwait is counted in the broker's `stalled` */
    int64_t retry_at, idle_since, asked_at;
} sub_t;

struct wh_slots {
    uv_loop_t *loop;
    wh_redis_t *redis;
    uv_timer_t timer;
    char holder[128];
    int64_t lease_ms, max_wait_ms;
    wh_slots_go_cb go;
    wh_slots_defer_cb defer;
    void *data;
    sub_t *buckets[BUCKETS];
    size_t waiting;  /* every waiter */
    size_t stalled;  /* waiters of stalled subscriptions */
    unsigned asking; /* Redis calls awaiting replies: close waits for them */
    bool closing;
    void (*closed_cb)(void *data);
    void *closed_data;
};

static unsigned bucket_of(const char *id)
{
    return wh_fnv1a(id) % BUCKETS;
}

static sub_t *find(wh_slots_t *s, const char *id, bool create)
{
    unsigned b = bucket_of(id);
    sub_t *e;

    for (e = s->buckets[b]; e != NULL; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    if (!create)
        return NULL;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        abort();
    e->owner = s;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    return e;
}

static bool can_start(const sub_t *e, int64_t now)
{
    if (e->inflight >= e->held || e->inflight >= e->max)
        return false;
    return e->rate == 0 || (e->tokens > 0 && e->token_second == now / 1000);
}

static void ask(sub_t *e, int64_t now);
static void send_ask(sub_t *e, int64_t now, unsigned extra);

/* One waiter less for `e` (started, deferred or handed back). */
static waiter_t *pop_waiter(sub_t *e)
{
    waiter_t *w = e->head;
    if ((e->head = w->next) == NULL)
        e->tail = NULL;
    --e->nwait;
    --e->owner->waiting;
    if (e->stalled)
        --e->owner->stalled;
    return w;
}

/* Whether `e` counts as stalled (see STALL_MS), keeping the broker's count in step. */
static void set_stalled(sub_t *e, int64_t now)
{
    bool stalled = e->head != NULL && now - e->head->since > STALL_MS;
    if (stalled == e->stalled)
        return;
    if (stalled)
        e->owner->stalled += e->nwait;
    else
        e->owner->stalled -= e->nwait;
    e->stalled = stalled;
}
static void on_tick(uv_timer_t *t);
static void on_timer_closed(uv_handle_t *h);

/* Starts waiters while slots (and tokens) allow; asks Redis for more when some are left waiting. */
static void drain(sub_t *e)
{
    wh_slots_t *s = e->owner;
    int64_t now = wh_now_ms();

    while (e->head != NULL && can_start(e, now)) {
        waiter_t *w = pop_waiter(e);
        ++e->inflight;
        if (e->rate != 0)
            --e->tokens;
        s->go(w->item, s->data);
        free(w);
    }
    if (!e->asking && (e->to_release != 0 || (e->head != NULL && now >= e->retry_at)))
        ask(e, now);
    if (e->head == NULL && e->inflight == 0)
        e->idle_since = now;
    set_stalled(e, now);
    if ((s->waiting != 0 || e->held > e->inflight || e->to_release != 0) && !uv_is_active((uv_handle_t *)&s->timer))
        uv_timer_start(&s->timer, on_tick, TICK_MS, TICK_MS);
}

static void on_asked(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sub_t *e = data;
    wh_slots_t *s = e->owner;
    int64_t now = wh_now_ms();

    (void)r;
    e->asking = false;
    --s->asking;
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        long long granted = reply->element[0]->integer, mine = reply->element[1]->integer, tokens = reply->element[2]->integer;
        int64_t second = reply->elements > 3 ? reply->element[3]->integer : now / 1000;
        /* what was decided since this call was sent is still to give back */
        e->held = mine > (long long)e->to_release ? (unsigned)(mine - e->to_release) : 0;
        if (reply->elements > 4 && reply->element[4]->type == REDIS_REPLY_INTEGER && reply->element[4]->integer > 0)
            e->share = (unsigned)reply->element[4]->integer;
        /* tokens count for the second Redis counted them in, not the one the answer arrived in */
        if (e->rate != 0 && tokens > 0 && second == now / 1000) {
            if (e->token_second != second)
                e->tokens = 0;
            e->token_second = second;
            e->tokens += (unsigned)tokens;
        }
        if (granted == 0 && tokens == 0)
            e->retry_at = now + RETRY_MS;
    } else {
        e->retry_at = now + 10 * RETRY_MS; /* Redis trouble: waiters age out to defer if it lasts */
        e->to_release += e->releasing;     /* still this worker's in Redis: given back with the next call */
    }
    e->releasing = 0;
    if (s->closing) {
        if (s->asking == 0)
            uv_close((uv_handle_t *)&s->timer, on_timer_closed);
        return;
    }
    drain(e);
}

/*
 * One slots.lua call: give back what is over the share and `extra` idle slots more, ask for what the waiters need
 * (slots up to the fair share, tokens for this second), refresh the lease. The slots given back leave `held` as
 * the call is sent, so no attempt starts on them meanwhile.
 */
static void send_ask(sub_t *e, int64_t now, unsigned extra)
{
    wh_slots_t *s = e->owner;
    char holders[WH_KEY_MAX], leases[WH_KEY_MAX], rate[WH_KEY_MAX], wants[WH_KEY_MAX], t[24], until[24], max[16], want[16], per[16],
        wtok[16], rel[16];
    unsigned need = e->inflight + (unsigned)(e->nwait < e->max ? e->nwait : e->max);
    unsigned held = e->held - extra, release = e->to_release + extra;
    unsigned want_slots = need > held ? need - held : 0;
    unsigned want_tokens = 0;

    if (want_slots > e->max)
        want_slots = e->max;
    /* beyond the fair share, slots are another worker's to take (held counts those in use, which may exceed it) */
    if (e->share != 0 && want_slots > (e->share > held ? e->share - held : 0))
        want_slots = e->share > held ? e->share - held : 0;
    if (e->rate != 0) {
        unsigned have = e->token_second == now / 1000 ? e->tokens : 0;
        want_tokens = e->nwait > have ? (unsigned)(e->nwait - have) : 0;
    }
    wh_key_slots(holders, e->id);
    wh_key_slot_leases(leases, e->id);
    wh_key_rate_prefix(rate, e->id);
    wh_key_slot_wants(wants, e->id);
    snprintf(t, sizeof(t), "%lld", (long long)now);
    snprintf(until, sizeof(until), "%lld", (long long)(now + s->lease_ms));
    snprintf(max, sizeof(max), "%u", e->max);
    snprintf(want, sizeof(want), "%u", want_slots);
    snprintf(per, sizeof(per), "%u", e->rate);
    snprintf(wtok, sizeof(wtok), "%u", want_tokens);
    snprintf(rel, sizeof(rel), "%u", release);
    const char *argv[] = {holders, leases, rate, wants, s->holder, t, until, max, want, per, wtok, rel};
    if (wh_redis_script(s->redis, &wh_script_slots, on_asked, e, 4, 12, argv, NULL) == WH_OK) {
        e->asking = true;
        e->asked_at = now;
        ++s->asking;
        e->held = held;
        e->to_release = 0;
        e->releasing = release;
    } else {
        e->retry_at = now + 10 * RETRY_MS;
    }
}

static void ask(sub_t *e, int64_t now)
{
    send_ask(e, now, 0);
}

/* Waiters older than max_wait go back to Redis: their lease there must not run out while they wait here. */
static void expire_waiters(sub_t *e, int64_t now)
{
    wh_slots_t *s = e->owner;

    while (e->head != NULL && now - e->head->since > s->max_wait_ms) {
        waiter_t *w = pop_waiter(e);
        s->defer(w->item, 250, s->data);
        free(w);
    }
}

static void on_tick(uv_timer_t *t)
{
    wh_slots_t *s = t->data;
    int64_t now = wh_now_ms();
    bool active = false;

    for (unsigned b = 0; b != BUCKETS; ++b) {
        for (sub_t **pe = &s->buckets[b]; *pe != NULL;) {
            sub_t *e = *pe;
            expire_waiters(e, now);
            set_stalled(e, now);
            if (e->head != NULL || e->to_release != 0) {
                if (!e->asking && (e->to_release != 0 || now >= e->retry_at))
                    ask(e, now);
            } else if (!e->asking && e->held > e->inflight && now - e->idle_since >= IDLE_RELEASE_MS) {
                send_ask(e, now, e->held - e->inflight);
            } else if (!e->asking && e->held > 0 && now - e->asked_at >= s->lease_ms / 3) {
                ask(e, now); /* long attempts: keep the lease */
            }
            if (e->head != NULL || e->held != 0 || e->inflight != 0 || e->asking || e->to_release != 0)
                active = true;
            if (!e->asking && e->head == NULL && e->held == 0 && e->inflight == 0 && e->to_release == 0 &&
                now - e->idle_since > FORGET_MS) {
                *pe = e->next;
                free(e);
                continue;
            }
            pe = &e->next;
        }
    }
    if (!active)
        uv_timer_stop(&s->timer);
}

wh_slots_t *wh_slots_new(uv_loop_t *loop, wh_redis_t *redis, const char *holder, int64_t lease_ms, int64_t max_wait_ms,
                         wh_slots_go_cb go, wh_slots_defer_cb defer, void *data)
{
    wh_slots_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        abort();
    s->loop = loop;
    s->redis = redis;
    snprintf(s->holder, sizeof(s->holder), "%s", holder);
    s->lease_ms = lease_ms;
    s->max_wait_ms = max_wait_ms;
    s->go = go;
    s->defer = defer;
    s->data = data;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    return s;
}

void wh_slots_request(wh_slots_t *s, const char *sub, unsigned max, unsigned rate, void *item)
{
    sub_t *e = find(s, sub, true);
    waiter_t *w;

    if (s->closing) {
        s->defer(item, 0, s->data);
        return;
    }
    e->max = max != 0 ? max : 1;
    e->rate = rate;
    if (e->nwait >= WH_MAX_SUB_WAITERS) {
        /* this subscription has enough waiting here: the rest waits in Redis, out of other endpoints' way */
        s->defer(item, 250, s->data);
        return;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        abort();
    w->item = item;
    w->since = wh_now_ms();
    if (e->tail != NULL)
        e->tail->next = w;
    else
        e->head = w;
    e->tail = w;
    ++e->nwait;
    ++s->waiting;
    if (e->stalled)
        ++s->stalled;
    drain(e);
}

void wh_slots_done(wh_slots_t *s, const char *sub)
{
    sub_t *e = find(s, sub, false);

    if (e == NULL || e->inflight == 0)
        return;
    --e->inflight;
    if (e->share != 0 && e->held > e->share) {
        /* over the fair share (another worker wants slots): this one goes back instead of to the next waiter */
        --e->held;
        ++e->to_release;
    }
    if (!s->closing)
        drain(e);
}

size_t wh_slots_waiting(const wh_slots_t *s)
{
    return s->waiting - s->stalled;
}

static void on_timer_closed(uv_handle_t *h)
{
    wh_slots_t *s = h->data;
    void (*cb)(void *) = s->closed_cb;
    void *data = s->closed_data;

    for (unsigned b = 0; b != BUCKETS; ++b) {
        while (s->buckets[b] != NULL) {
            sub_t *e = s->buckets[b];
            s->buckets[b] = e->next;
            free(e);
        }
    }
    free(s);
    if (cb != NULL)
        cb(data);
}

void wh_slots_close(wh_slots_t *s, void (*cb)(void *data), void *data)
{
    int64_t now = wh_now_ms();

    s->closing = true;
    s->closed_cb = cb;
    s->closed_data = data;
    for (unsigned b = 0; b != BUCKETS; ++b) {
        for (sub_t *e = s->buckets[b]; e != NULL; e = e->next) {
            while (e->head != NULL) {
                waiter_t *w = pop_waiter(e);
                s->defer(w->item, 0, s->data);
                free(w);
            }
            /* slots in use end with their attempts (the lease covers a crash); the idle ones go back now */
            if (!e->asking && e->held > e->inflight)
                send_ask(e, now, e->held - e->inflight);
        }
    }
    uv_timer_stop(&s->timer);
    s->timer.data = s;
    if (s->asking == 0)
        uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
