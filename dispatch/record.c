/*
 * Recording outcomes: an open entry's first-round outcomes wait in memory and settle (settle.h) in one settle.lua call per
 * partition per loop turn; a task's outcomes go to finish.lua the same way.
 */
#include "worker_int.h"

static void on_finished(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static void on_settled(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static void flush_settles(wh_worker_t *w, unsigned part);
static void entry_spill(wh_worker_t *w, wh_settle_entry_t *e);

static void on_finished(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;
    --w->recording;
    if (err != WH_OK)
        /* the lease will expire and the delivery will be attempted again: at least once */
        wh_log_warn("delivery_record_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
}

/*
 * Records an outcome: "ok", "retry" (at next_due), "dead", "drop", "defer". `attempt` is the attempt's record for
 * the event's log (design §6: GET /v1/events/{id}/attempts), or NULL when no attempt was made.
 *
 * Outcomes are batched: those of one loop turn go to Redis as one finish.lua call per partition (flushed from
 * a uv_check handle, or at RECORD_BATCH), as the gateway batches its writes. Until the call is answered the
 * delivery stays leased in Redis, so a crash in between repeats an attempt at worst (at least once).
 */
void wk_record(wh_worker_t *w, unsigned part, const char *id, const char *outcome, int64_t next_due, unsigned attempts, long status,
               const char *error, const char *attempt)
{
    wh_cache_args_t *a = &w->outcomes[part];
    char num[24];

    if (strcmp(outcome, "dead") == 0)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEAD);
    else if (strcmp(outcome, "defer") == 0)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEFERRED);

    if (w->noutcomes[part] == 0) {
        /* the fixed arguments: keys, then the prefixes and bounds */
        char key[WH_KEY_MAX];
        wh_cache_args_add_copy(a, key, (size_t)wh_key_due(key, part));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_dead(key, part));
        snprintf(num, sizeof(num), "%lld", (long long)wh_now_ms());
        wh_cache_args_add_copy(a, num, strlen(num));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_delivery_prefix(key, part));
        wh_cache_args_add_copy(a, key, (size_t)wh_key_event_bucket_prefix(key, part));
        snprintf(num, sizeof(num), "%lld", (long long)WH_EVENT_BUCKET_MS);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_DEAD_LETTER_RETENTION_S);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_MAX_DEAD_LETTERS);
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%lld", (long long)(w->cfg->event_retention_ms / 1000));
        wh_cache_args_add_copy(a, num, strlen(num));
        snprintf(num, sizeof(num), "%d", WH_MAX_ATTEMPTS_KEPT);
        wh_cache_args_add_copy(a, num, strlen(num));
    }
    wh_cache_args_add_copy(a, id, strlen(id));
    wh_cache_args_add_copy(a, outcome, strlen(outcome));
    snprintf(num, sizeof(num), "%lld", (long long)next_due);
    wh_cache_args_add_copy(a, num, strlen(num));
    snprintf(num, sizeof(num), "%u", attempts);
    wh_cache_args_add_copy(a, num, strlen(num));
    snprintf(num, sizeof(num), "%ld", status);
    wh_cache_args_add_copy(a, num, strlen(num));
    wh_cache_args_add_copy(a, error != NULL ? error : "", error != NULL ? strlen(error) : 0);
    wh_cache_args_add_copy(a, attempt != NULL ? attempt : "", attempt != NULL ? strlen(attempt) : 0);
    if (++w->noutcomes[part] >= RECORD_BATCH)
        wk_flush_outcomes(w, part);
}

/* Sends partition `part`'s batched outcomes as one finish.lua call (after its settles: a spilled entry's task
   must exist before its delivery's outcome is recorded). */
void wk_flush_outcomes(wh_worker_t *w, unsigned part)
{
    wh_cache_args_t *a = &w->outcomes[part];

    flush_settles(w, part);
    if (w->noutcomes[part] == 0)
        return;
    if (wh_redis_script(w->cmd, &wh_script_finish, on_finished, w, 2, (int)a->n, a->argv, a->len) == WH_OK)
        ++w->recording;
    else
        /* the leases end and the deliveries come due again: at least once */
        wh_log_warn("delivery_record_failed", "{s:i, s:s}", "count", (int)w->noutcomes[part], "error", "redis unavailable");
    wh_cache_args_dispose(a);
    wh_cache_args_init(a);
    w->noutcomes[part] = 0;
}

void wk_on_flush_check(uv_check_t *c)
{
    wh_worker_t *w = c->data;
    for (unsigned p = 0; p != wh_partitions(); ++p)
        wk_flush_outcomes(w, p);
}

/* ---- settling entries (settle.h) --------------------------------------------------------------------------- */

static void on_settled(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;

    (void)r;
    --w->recording;
    if (err != WH_OK)
        /* the entries stay pending: they are reclaimed and processed again (at least once) */
        wh_log_warn("settle_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
}

static void on_stored(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;

    (void)r;
    --w->recording;
    if (err != WH_OK) /* the settle call after it acknowledges anyway: the event's record is what is missing */
        wh_log_warn("event_store_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
}

/* Sends partition `part`'s settled entries: the records per bucket, the index entries per environment, then one
   settle.lua call (settle.h). */
static void flush_settles(wh_worker_t *w, unsigned part)
{
    wh_settle_call_t *c = &w->settles[part];
    int nkeys;

    if (c->nacks == 0 && c->nevents == 0)
        return;
    nkeys = wh_settle_call_finish(c, wh_now_ms(), wk_lease_until(w), w->cfg->event_retention_ms, w->cfg->event_max_per_partition);
    for (size_t i = 0; i != c->nbuckets; ++i) {
        wh_argv_t *h = &c->buckets[i].hset;
        const char **p = wh_argv_ptrs(h);
        if (wh_redis_command(w->cmd, on_stored, w, (int)h->n, p, h->lens) == WH_OK)
            ++w->recording;
        {
            char at[24];
            const char *argv[] = {"EXPIREAT", p[1], at};
            size_t argvlen[] = {
                8, h->lens[1],
                (size_t)snprintf(at, sizeof(at), "%lld",
                                 (long long)wh_settle_bucket_expire_at(c->buckets[i].bucket, w->cfg->event_retention_ms))};
            if (wh_redis_command(w->cmd, on_stored, w, 3, argv, argvlen) == WH_OK)
                ++w->recording;
        }
    }
    for (size_t i = 0; i != c->nindexes; ++i) {
        wh_argv_t *z = &c->indexes[i].zadd;
        if (wh_redis_command(w->cmd, on_stored, w, (int)z->n, wh_argv_ptrs(z), z->lens) == WH_OK)
            ++w->recording;
    }
    if (wh_redis_script(w->cmd, &wh_script_settle, on_settled, w, nkeys, (int)c->args.n, wh_argv_ptrs(&c->args), c->args.lens) ==
        WH_OK)
        ++w->recording;
    else
        wh_log_warn("settle_failed", "{s:i, s:s}", "entries", (int)c->nacks, "error", "redis unavailable");
    wh_settle_call_reset(c);
}

void wk_open_unlink(wh_worker_t *w, wh_settle_entry_t *e)
{
    if (e->prev == NULL && e->next == NULL && w->open_head != e)
        return; /* not linked */
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        w->open_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        w->open_tail = e->prev;
    e->prev = e->next = NULL;
    --w->nopen;
}

/* Every first attempt of `e` is over: it goes into this loop turn's settle call of its partition. */
void wk_entry_settle(wh_worker_t *w, wh_settle_entry_t *e)
{
    wk_open_unlink(w, e);
    while (!wh_settle_call_add(&w->settles[e->part], e))
        flush_settles(w, e->part);
    if (w->settles[e->part].items >= WH_SETTLE_MAX_ITEMS)
        flush_settles(w, e->part);
    wh_settle_entry_free(e);
}

/* How long an entry waits for its first attempts before the unfinished ones are written as leased tasks: well
   inside WHARF_RECLAIM_IDLE, after which another consumer would take the pending entry over. */
int64_t wk_spill_after_ms(const wh_worker_t *w)
{
    int64_t ms = w->cfg->reclaim_idle_ms / 4;
    return ms > 1000 ? 1000 : ms < 20 ? 20 : ms;
}

void wk_open_link(wh_worker_t *w, wh_settle_entry_t *e)
{
    e->spill_at = wh_mono_ms() + wk_spill_after_ms(w);
    e->prev = w->open_tail;
    e->next = NULL;
    if (w->open_tail != NULL)
        w->open_tail->next = e;
    else
        w->open_head = e;
    w->open_tail = e;
    ++w->nopen;
}

/* The entry waited long enough: what still runs becomes a leased task (its outcome then goes to finish.lua). */
static void entry_spill(wh_worker_t *w, wh_settle_entry_t *e)
{
    for (size_t i = 0; i != e->nev; ++i)
        for (size_t k = 0; k != e->ev[i].nd; ++k) {
            wh_settle_delivery_t *r = &e->ev[i].d[k];
            wk_delivery_t *d = r->live;
            if (r->outcome != WH_OUTCOME_OPEN || d == NULL)
                continue;
            d->entry = NULL;
            d->rec = NULL;
            wh_settle_delivery_done(e, r, WH_OUTCOME_LEASE, 0, d->attempt, 0, NULL, NULL);
        }
    e->open = 0;
    wk_entry_settle(w, e);
}

void wk_on_spill_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    int64_t now = wh_mono_ms();

    while (w->open_head != NULL && w->open_head->spill_at <= now)
        entry_spill(w, w->open_head);
}

/*
 * The end of an attempt of `d` (or of its wait for one: DEFER). While d's entry is open the outcome waits there
 * and is written when the entry settles; a delivery whose task is in Redis records it through finish.lua.
 * `attempt` is the attempt's record for the event's log, or NULL when no attempt was made.
 */
void wk_outcome(wh_worker_t *w, wk_delivery_t *d, wh_outcome_t o, int64_t due, unsigned attempts, long status, const char *error,
                const char *attempt)
{
    wh_settle_entry_t *e = d->entry;

    if (e == NULL) {
        wk_record(w, d->part, d->id, wh_outcome_name(o), due, attempts, status, error, attempt);
        return;
    }
    if (o == WH_OUTCOME_DEAD)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEAD);
    else if (o == WH_OUTCOME_DEFER)
        wh_metric_inc(WH_METRIC_DELIVERIES_DEFERRED);
    d->entry = NULL;
    if (wh_settle_delivery_done(e, d->rec, o, due, attempts, status, error, attempt))
        wk_entry_settle(w, e);
    d->rec = NULL;
}
