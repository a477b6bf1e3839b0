/*
 * Deliveries: an entry's deliveries queued at once, slots (maxConcurrency, rate) across workers, the attempt (sign, POST) and its
 * outcome.
 */
#include "worker_int.h"

static double rand01(wh_worker_t *w);
static void slot_release(wh_worker_t *w, wk_delivery_t *d);
static char *attempt_record(const wk_delivery_t *d, const wh_http_result_t *res, unsigned attempt, const char *error_class);
static void on_attempt_done(const wh_http_result_t *res, void *data);
static void start_attempt(wh_worker_t *w, wk_delivery_t *d);
static void entry_deliver(wk_batch_t *b, wk_entry_t *en);

/* ---- small helpers ------------------------------------------------------------------------------------- */

static double rand01(wh_worker_t *w)
{
    /* xorshift64*: jitter only needs spread, not secrecy */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

void wk_delivery_free(wk_delivery_t *d)
{
    wh_body_release(d->body);
    free(d->url);
    OPENSSL_cleanse(d->key, sizeof(d->key));
    OPENSSL_cleanse(d->old_key, sizeof(d->old_key));
    free(d);
}

void wk_enqueue(wh_worker_t *w, wk_delivery_t *d)
{
    d->next = NULL;
    if (w->ready_tail != NULL)
        w->ready_tail->next = d;
    else
        w->ready_head = d;
    w->ready_tail = d;
    ++w->ready_len;
}

wk_delivery_t *wk_dequeue(wh_worker_t *w)
{
    wk_delivery_t *d = w->ready_head;
    if (d != NULL) {
        w->ready_head = d->next;
        if (w->ready_head == NULL)
            w->ready_tail = NULL;
        --w->ready_len;
    }
    return d;
}

/* ---- per-subscription slots: concurrency and rate across every worker (slots.h) ------------------------------ */

static void slot_release(wh_worker_t *w, wk_delivery_t *d)
{
    if (!d->slotted)
        return;
    d->slotted = false;
    wh_slots_done(w->slots, d->sub);
}

/* slots.h: a slot is held for this delivery. */
void wk_on_slot_go(void *item, void *data)
{
    wk_delivery_t *d = item;
    wh_worker_t *w = data;

    d->slotted = true;
    if (w->stopping) {
        slot_release(w, d);
        wk_outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms(), d->attempt, 0, NULL, NULL);
        wk_delivery_free(d);
        return;
    }
    start_attempt(w, d);
}

/* slots.h: it waited too long for a slot (or the worker stops): back to Redis, no attempt counted. */
void wk_on_slot_defer(void *item, int64_t wait_ms, void *data)
{
    wk_delivery_t *d = item;
    wh_worker_t *w = data;

    wk_outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms() + wait_ms, d->attempt, 0, NULL, NULL);
    wk_delivery_free(d);
}

/* The attempt's record for the event's log. */
/* The attempt's record for the event's log, compact (queue/evrec.h): [subscriptionId, attempt, attemptedAt ms,
   latencyMs, statusCode or 0, error class, errorMessage, responseBody, truncated], trailing empty members left out.
   A plain success (no error, no answer body: the common case) is printed directly. Caller frees. */
static char *attempt_record(const wk_delivery_t *d, const wh_http_result_t *res, unsigned attempt, const char *error_class)
{
    json_t *a, *body = NULL;
    char *text;

    if (error_class == NULL && res->body_len == 0 && strpbrk(d->sub, "\"\\") == NULL) {
        size_t n = strlen(d->sub) + 100;
        if ((text = malloc(n)) == NULL)
            abort();
        snprintf(text, n, "[\"%s\",%u,%lld,%lld,%ld]", d->sub, attempt, (long long)(wh_now_ms() - res->latency_ms),
                 (long long)res->latency_ms, (long)res->status);
        return text;
    }
    if ((a = json_pack("[s, I, I, I, I]", d->sub, (json_int_t)attempt, (json_int_t)(wh_now_ms() - res->latency_ms),
                       (json_int_t)res->latency_ms, (json_int_t)res->status)) == NULL)
        abort();
    /* the first WH_MAX_RESPONSE_KEEP bytes, as text when they are UTF-8 */
    if (res->body_len != 0)
        body = json_stringn(res->body, res->body_len);
    if (error_class != NULL || body != NULL) {
        json_array_append_new(a, error_class != NULL ? json_string(error_class) : json_null());
        json_array_append_new(a, error_class != NULL && res->error[0] != '\0'
                                     ? json_stringn_nocheck(res->error, strnlen(res->error, sizeof(res->error)))
                                     : json_null());
        if (body != NULL) {
            json_array_append_new(a, body);
            if (res->body_truncated)
                json_array_append_new(a, json_true());
        }
    }
    if ((text = json_dumps(a, JSON_COMPACT)) == NULL)
        abort();
    json_decref(a);
    return text;
}

static void on_attempt_done(const wh_http_result_t *res, void *data)
{
    wk_delivery_t *d = data;
    wh_worker_t *w = d->w;
    unsigned attempts = d->attempt + 1;
    int64_t now = wh_now_ms(), delay = 0;
    wh_attempt_outcome_t o;
    const char *error_class = NULL;
    char *rec;
    wh_next_t next;

    slot_release(w, d);
    if (res->err == WH_ECANCELED) {
        /* shutting down: hand it back, due now, attempt not counted */
        wk_outcome(w, d, d->entry != NULL ? WH_OUTCOME_DEFER : WH_OUTCOME_RETRY, now, d->attempt, 0, "canceled at shutdown", NULL);
        wk_delivery_free(d);
        wk_pump(w);
        return;
    }
    o.kind = res->err == WH_OK          ? WH_ATTEMPT_RESPONSE
             : res->err == WH_ETIMEDOUT ? WH_ATTEMPT_TIMEOUT
             : res->err == WH_EINVAL    ? WH_ATTEMPT_BAD_URL
                                        : WH_ATTEMPT_UNREACHABLE;
    o.status = res->status;
    o.attempts_made = attempts;
    o.retry_after_ms = wh_retry_after_ms(res->retry_after, now);
    o.throttle_floor_ms = w->cfg->throttle_floor_ms;
    o.rand01 = rand01(w);
    next = wh_backoff_decide(w->cfg->retry_schedule_ms, w->cfg->retry_steps, &o, &delay);
    if (o.kind == WH_ATTEMPT_TIMEOUT)
        error_class = "timeout";
    else if (o.kind == WH_ATTEMPT_BAD_URL)
        error_class = "invalid_url";
    else if (o.kind == WH_ATTEMPT_UNREACHABLE)
        error_class = strstr(res->error, "refused") != NULL && strstr(res->error, "address") != NULL ? "destination_refused"
                                                                                                     : "connection_failed";
    else if (next != WH_NEXT_DELIVERED)
        error_class = "http_status";
    wh_metric_inc(error_class == NULL                               ? WH_METRIC_ATTEMPT_DELIVERED
                  : strcmp(error_class, "timeout") == 0             ? WH_METRIC_ATTEMPT_TIMEOUT
                  : strcmp(error_class, "destination_refused") == 0 ? WH_METRIC_ATTEMPT_REFUSED
                  : strcmp(error_class, "http_status") == 0         ? WH_METRIC_ATTEMPT_HTTP_ERROR
                                                                    : WH_METRIC_ATTEMPT_UNREACHABLE);
    rec = attempt_record(d, res, attempts, error_class);
    switch (next) {
    case WH_NEXT_DELIVERED:
        wh_log_debug("delivered", "{s:s, s:i, s:I}", "deliveryId", d->id, "status", (int)res->status, "latencyMs",
                     (json_int_t)res->latency_ms);
        wk_outcome(w, d, WH_OUTCOME_OK, 0, attempts, res->status, NULL, rec);
        wk_sub_succeeded(w, d);
        break;
    case WH_NEXT_RETRY:
    case WH_NEXT_DEAD:
    case WH_NEXT_DISABLE: {
        const char *why = res->err != WH_OK ? res->error : "non-2xx response";
        wh_log_info("delivery_failed", "{s:s, s:i, s:i, s:s, s:s}", "deliveryId", d->id, "attempt", (int)attempts, "status",
                    (int)res->status, "error", why, "next", next == WH_NEXT_RETRY ? "retry" : "dead");
        wk_outcome(w, d, next == WH_NEXT_RETRY ? WH_OUTCOME_RETRY : WH_OUTCOME_DEAD, now + delay, attempts, res->status, why, rec);
        wk_sub_failed(w, d, next == WH_NEXT_DISABLE, next == WH_NEXT_DISABLE ? "endpoint answered 410 Gone" : "deliveries failing");
        break;
    }
    }
    free(rec);
    wk_delivery_free(d);
    wk_pump(w);
}

static void start_attempt(wh_worker_t *w, wk_delivery_t *d)
{
    char h_id[16 + WH_WEBHOOK_ID_LEN], h_ts[48], h_sig[32 + WH_SIGNATURE_HEADER_MAX], sig[WH_SIGNATURE_HEADER_MAX];
    int64_t ts = wh_now_ms() / 1000;
    const char *headers[3] = {h_id, h_ts, h_sig};
    wh_err_t err;

    /* during a secret rotation both signatures, the new one first */
    wh_sign_header(d->key, d->keylen, d->old_key, d->old_keylen, wh_str_c(d->id), ts, wh_str(d->body->data, d->body->len), sig);
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", d->id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    err = wh_http_post(w->http, d->url, headers, 3, d->body->data, d->body->len, w->cfg->delivery_timeout_ms, on_attempt_done, d);
    if (err != WH_OK) {
        /* a URL curl refuses will never work: dead-letter it now rather than retrying for a day */
        wh_log_warn("delivery_refused", "{s:s, s:s}", "deliveryId", d->id, "error", wh_err_name(err));
        slot_release(w, d);
        wk_outcome(w, d,
                   err != WH_ECANCELED ? WH_OUTCOME_DEAD
                   : d->entry != NULL  ? WH_OUTCOME_DEFER
                                       : WH_OUTCOME_RETRY,
                   wh_now_ms(), d->attempt + (err != WH_ECANCELED), 0, wh_strerror(err), NULL);
        wk_delivery_free(d);
    }
}

void wk_pump(wh_worker_t *w)
{
    while (w->ready_head != NULL && wh_http_inflight(w->http) + wh_slots_waiting(w->slots) < w->cfg->max_inflight && !w->stopping) {
        wk_delivery_t *d = wk_dequeue(w);
        if (wh_now_ms() > d->start_by) {
            /* waited here too long: another worker may take it once its lease ends; give it back now instead */
            wk_outcome(w, d, WH_OUTCOME_DEFER, wh_now_ms(), d->attempt, 0, NULL, NULL);
            wk_delivery_free(d);
            continue;
        }
        wh_slots_request(w->slots, d->sub, d->max_concurrency, d->rate, d);
    }
    /* reading resumes once the local backlog is back under the bound */
    if (!w->stopping && w->groups_ready && w->ready_len < w->cfg->max_inflight)
        wk_schedule_reads(w, 0);
}

wk_delivery_t *wk_delivery_new(wh_worker_t *w, unsigned part, const char *id, unsigned attempt, const wk_sub_t *s, wh_body_t *body)
{
    wk_delivery_t *d = calloc(1, sizeof(*d));
    if (d == NULL || (d->url = strdup(s->url)) == NULL)
        abort();
    d->w = w;
    d->part = part;
    d->attempt = attempt;
    snprintf(d->id, sizeof(d->id), "%s", id);
    memcpy(d->key, s->key, s->keylen);
    d->keylen = s->keylen;
    memcpy(d->old_key, s->old_key, s->old_keylen);
    d->old_keylen = s->old_keylen;
    snprintf(d->sub, sizeof(d->sub), "%s", s->id);
    snprintf(d->env, sizeof(d->env), "%s", s->env);
    d->max_concurrency = s->max_concurrency;
    d->rate = s->rate;
    d->start_by = wh_now_ms() + w->cfg->reclaim_idle_ms / 2; /* the lease is timeout + reclaim_idle from now */
    d->body = wh_body_retain(body);
    return d;
}

/*
 * One entry's deliveries: the entry is held open (settle.h) and every delivery that may start at once is queued
 * here, with no Redis write; an ordered subscription's deliveries wait their turn in Redis (claim.lua), so they
 * are written when the entry settles. An entry with nothing to attempt settles at once.
 */
static void entry_deliver(wk_batch_t *b, wk_entry_t *en)
{
    wh_worker_t *w = b->w;
    size_t n = en->poison ? 0 : json_array_size(en->events);
    wh_settle_entry_t *e = wh_settle_entry_new(en->part, en->id, n);
    char type[160];

    e->poison = en->poison;
    for (size_t i = 0; i != n; ++i) {
        json_t *ev = json_array_get(en->events, i);
        const char *event_id = json_string_value(json_object_get(ev, "eventId"));
        const char *env = json_string_value(json_object_get(ev, "environmentId"));
        const char *conn = json_string_value(json_object_get(ev, "connectionId"));
        const char *otype = json_string_value(json_object_get(ev, "objectType"));
        const char *oid = json_string_value(json_object_get(ev, "objectId"));
        wk_env_subs_t *es = wk_env_of(b, env);
        size_t nd = 0, len;
        char *text;
        wh_body_t *body;
        wh_settle_event_t *sev = &e->ev[i];
        /* the matching subscriptions, matched once (on the stack for the usual few) */
        const wk_sub_t *few[64], **wants = few;

        wk_event_type(ev, type, sizeof(type));
        if (es != NULL && es->n > sizeof(few) / sizeof(few[0]) && (wants = malloc(es->n * sizeof(*wants))) == NULL)
            abort();
        for (size_t s = 0; es != NULL && s != es->n; ++s)
            if (wk_sub_wants(&es->subs[s], type, conn))
                wants[nd++] = &es->subs[s];
        text = wk_build_body(ev, type, &len);
        body = wh_body_new(text, len);
        free(text);
        wh_settle_event_init(sev, event_id, env, conn, type, json_integer_value(json_object_get(ev, "receivedAt")),
                             json_integer_value(json_object_get(ev, "occurredAt")), body, nd);
        for (size_t k = 0; k != nd; ++k) {
            const wk_sub_t *sub = wants[k];
            wh_settle_delivery_t *r = &sev->d[k];
            snprintf(r->sub, sizeof(r->sub), "%s", sub->id);
            wh_webhook_id(event_id, sub->id, r->wid);
            if (sub->ordered && otype != NULL && oid != NULL && oid[0] != '\0') {
                char key[WH_KEY_MAX];
                wh_key_order(key, en->part, sub->id, otype, oid);
                if ((r->order_key = strdup(key)) == NULL)
                    abort();
                r->outcome = WH_OUTCOME_ORDERED;
                continue;
            }
            wk_delivery_t *d = wk_delivery_new(w, en->part, r->wid, 0, sub, body);
            d->entry = e;
            d->rec = r;
            r->live = d;
            r->outcome = WH_OUTCOME_OPEN;
            ++e->open;
        }
        if (wants != few)
            free(wants);
        wh_body_release(body);
    }
    if (e->open == 0) {
        wk_entry_settle(w, e);
        return;
    }
    wk_open_link(w, e);
    /* queued only now: a delivery must not end (and settle the entry) before the entry is complete */
    for (size_t i = 0; i != e->nev; ++i)
        for (size_t k = 0; k != e->ev[i].nd; ++k)
            if (e->ev[i].d[k].live != NULL)
                wk_enqueue(w, e->ev[i].d[k].live);
}

/* Every apply and subscription lookup is back: the entries' deliveries start. */
void wk_batch_fan_out(wk_batch_t *b)
{
    if (b->abandon) {
        /* the entries stay pending and are reclaimed */
        wk_batch_done(b);
        return;
    }
    for (size_t i = 0; i != b->n; ++i) {
        wk_entry_t *e = &b->entries[i];
        /* sync and api records that changed nothing emit nothing; their entry is still acknowledged */
        for (size_t k = json_array_size(e->events); k-- > 0;)
            if (json_is_true(json_object_get(json_array_get(e->events, k), "_skip")))
                json_array_remove(e->events, k);
        entry_deliver(b, e);
    }
    wk_batch_done(b);
}
