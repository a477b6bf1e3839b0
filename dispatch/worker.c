/*
 * The worker: read ▸ apply ▸ deliver ▸ settle, one file per stage (worker_int.h lists them); this file is its
 * lifecycle: its thread, loop, timers and Redis connections; start, graceful stop. See worker.h for the durability
 * argument.
 *
 * A batch (entries from XREADGROUP or XAUTOCLAIM) goes through one pipelined round: the subscriptions of every
 * environment in the batch and the sync config of every connection, each connection's cache applies (one
 * apply.lua call per event of a synced object type) sent as soon as its sync config is back. Then each entry's
 * deliveries start at once from a local ready queue (bounded by WHARF_MAX_INFLIGHT) while the entry stays pending
 * in the consumer group; when their first attempts are over, the entry is settled (settle.h: one settle.lua call
 * per partition per loop turn records the events, writes tasks only for what still has to happen, and
 * acknowledges). Retries and expired leases come back through the claim script.
 */
#include "worker_int.h"

static void on_purge_timer(uv_timer_t *t);
static void on_cmd_ready(wh_redis_t *r, void *data);
static void on_closed(void *data);
static void on_handle_closed(uv_handle_t *h);
static void close_all(wh_worker_t *w);
static void on_stop_tick(uv_timer_t *t);
static void on_stop(uv_async_t *a);
static void *thread_main(void *arg);
static wh_err_t worker_start(const wh_config_t *cfg, unsigned index, wh_worker_t **out, char *errbuf);
static void worker_join(wh_worker_t *w);
static bool worker_live(const wh_worker_t *w);
static bool worker_ready(const wh_worker_t *w);

/*
 * A delivery being attempted is leased: if its worker dies, it comes due again when the lease ends. One knob,
 * WHARF_RECLAIM_IDLE, says how long a silent worker's work waits before another takes it over; the lease adds
 * the attempt's own timeout to it.
 */
int64_t wk_lease_until(const wh_worker_t *w)
{
    return wh_now_ms() + w->cfg->delivery_timeout_ms + w->cfg->reclaim_idle_ms;
}

/* ---- lifecycle ------------------------------------------------------------------------------------------- */

static void on_purge_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    wh_purge_tick(&w->purge);
    wh_repair_tick(&w->repair);
}

static void on_cmd_ready(wh_redis_t *r, void *data)
{
    wh_worker_t *w = data;
    w->groups_ready = false;
    wk_ensure_groups(w);
    wk_schedule_reads(w, 50);
}

static void on_closed(void *data)
{
    wh_worker_t *w = data;
    if (--w->closing == 0)
        uv_stop(&w->loop);
}

static void on_handle_closed(uv_handle_t *h)
{
    on_closed(h->data);
}

static void close_all(wh_worker_t *w)
{
    w->closing = 3 + 7 + 2 * w->nreaders;
    wh_purge_dispose(&w->purge);
    wh_repair_dispose(&w->repair);
    /* waiters go back to Redis (their "defer" outcomes are recorded), then attempts still running are canceled
       ("retry", due now), then those outcomes are sent before the connection closes: a clean stop leaves no
       delivery waiting for its lease to end (best effort: what Redis does not take comes back with the lease) */
    wh_slots_close(w->slots, on_closed, w);
    wh_http_close(w->http, on_closed, w);
    for (unsigned p = 0; p != wh_partitions(); ++p)
        wk_flush_outcomes(w, p);
    wk_readers_close(w, on_closed, on_handle_closed);
    wh_redis_close(w->cmd, on_closed, w);
    uv_close((uv_handle_t *)&w->claim_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->reclaim_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->purge_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->spill_timer, on_handle_closed);
    uv_close((uv_handle_t *)&w->stop, on_handle_closed);
    uv_close((uv_handle_t *)&w->flush_check, on_handle_closed);
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        wh_cache_args_dispose(&w->outcomes[p]); /* anything recorded after the flush comes back with its lease */
        wh_cache_args_init(&w->outcomes[p]);
        w->noutcomes[p] = 0;
        wh_settle_call_reset(&w->settles[p]); /* entries not settled stay pending and are reclaimed */
    }
}

static void on_stop_tick(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    wk_delivery_t *d;

    /* deliveries not started yet go back to Redis, due now, for whichever worker is alive */
    while ((d = wk_dequeue(w)) != NULL) {
        wk_outcome(w, d, d->entry != NULL ? WH_OUTCOME_DEFER : WH_OUTCOME_RETRY, wh_now_ms(), d->attempt, 0, "released at shutdown",
                   NULL);
        wk_delivery_free(d);
    }
    for (unsigned p = 0; p != wh_partitions(); ++p)
        wk_flush_outcomes(w, p);
    if ((wh_http_inflight(w->http) == 0 && w->batches == 0 && !wk_reading(w) && w->claiming == 0 && w->recording == 0 &&
         w->nopen == 0) ||
        wh_mono_ms() >= w->stop_deadline) {
        uv_timer_stop(t);
        close_all(w);
    }
}

static void on_stop(uv_async_t *a)
{
    wh_worker_t *w = a->data;

    w->stopping = true;
    w->stop_deadline = wh_mono_ms() + w->cfg->shutdown_grace_ms;
    for (unsigned i = 0; i != w->nreaders; ++i)
        uv_timer_stop(&w->readers[i].timer);
    uv_timer_stop(&w->claim_timer);
    uv_timer_stop(&w->reclaim_timer);
    uv_timer_stop(&w->purge_timer);
    /* the spill timer keeps going: an entry whose deliveries wait for slots still settles */
    uv_timer_start(&w->stop_timer, on_stop_tick, 0, 20);
}

static void *thread_main(void *arg)
{
    wh_worker_t *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    return NULL;
}

static wh_err_t worker_start(const wh_config_t *cfg, unsigned index, wh_worker_t **out, char *errbuf)
{
    wh_worker_t *w = calloc(1, sizeof(*w));
    uint64_t reclaim_every;

    if (w == NULL)
        abort();
    w->cfg = cfg;
    if (index == 0)
        snprintf(w->consumer, sizeof(w->consumer), "%s", cfg->consumer);
    else
        snprintf(w->consumer, sizeof(w->consumer), "%.127s.%u", cfg->consumer, index % WH_MAX_WORKER_THREADS);
    atomic_init(&w->heartbeat_ms, wh_mono_ms());
    atomic_init(&w->ready_flag, false);
    wh_random_bytes(&w->rng, sizeof(w->rng));
    w->rng |= 1;
    for (unsigned p = 0; p != wh_partitions(); ++p)
        wh_key_stream(w->stream_keys[p], p);
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    uv_timer_init(&w->loop, &w->claim_timer);
    uv_timer_init(&w->loop, &w->reclaim_timer);
    uv_timer_init(&w->loop, &w->stop_timer);
    uv_timer_init(&w->loop, &w->purge_timer);
    uv_timer_init(&w->loop, &w->spill_timer);
    w->spill_timer.data = w;
    w->events_per_entry = WH_MAX_BATCH; /* until batches say otherwise, assume full entries */
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, wk_on_flush_check);
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        wh_cache_args_init(&w->outcomes[p]);
        wh_settle_call_init(&w->settles[p], p);
        snprintf(w->reclaim_cursor[p], sizeof(w->reclaim_cursor[p]), "0-0");
    }
    w->claim_timer.data = w->reclaim_timer.data = w->stop_timer.data = w->purge_timer.data = w;
    wk_readers_init(w);
    w->cmd = wh_redis_new(&w->loop, cfg, "worker");
    wh_purge_init(&w->purge, w->cmd);
    wh_repair_init(&w->repair, w->cmd);
    w->http = wh_http_new(&w->loop, cfg);
    wh_egress_install(w->http, cfg);
    /* slots outlive a dead worker by its deliveries' lease; a waiter may wait half the reclaim time */
    w->slots = wh_slots_new(&w->loop, w->cmd, w->consumer, cfg->delivery_timeout_ms + cfg->reclaim_idle_ms,
                            cfg->reclaim_idle_ms / 2, wk_on_slot_go, wk_on_slot_defer, w);
    wh_redis_on_ready(w->cmd, on_cmd_ready, w);
    wh_redis_start(w->cmd);
    uv_timer_start(&w->claim_timer, wk_on_claim_timer, CLAIM_PERIOD_MS, CLAIM_PERIOD_MS);
    reclaim_every = (uint64_t)(cfg->reclaim_idle_ms / 2 > 200 ? cfg->reclaim_idle_ms / 2 : 200);
    uv_timer_start(&w->reclaim_timer, wk_on_reclaim_timer, reclaim_every, reclaim_every);
    uv_timer_start(&w->purge_timer, on_purge_timer, WH_PURGE_PERIOD_MS, WH_PURGE_PERIOD_MS);
    uv_timer_start(&w->spill_timer, wk_on_spill_timer, (uint64_t)wk_spill_after_ms(w) / 4 + 1,
                   (uint64_t)wk_spill_after_ms(w) / 4 + 1);
    if (pthread_create(&w->tid, NULL, thread_main, w) != 0) {
        free(w);
        return wh_errf(errbuf, WH_EINTERNAL, "cannot start the worker thread");
    }
    wh_log_info("worker_started", "{s:s, s:i}", "consumer", w->consumer, "maxInflight", (int)cfg->max_inflight);
    *out = w;
    return WH_OK;
}

static void worker_join(wh_worker_t *w)
{
    pthread_join(w->tid, NULL);
    /* entries still open at the deadline stay pending in Redis (reclaimed by another worker); their deliveries
       were canceled with the HTTP client */
    while (w->open_head != NULL) {
        wh_settle_entry_t *e = w->open_head;
        wk_open_unlink(w, e);
        wh_settle_entry_free(e);
    }
    for (unsigned p = 0; p != wh_partitions(); ++p)
        wh_settle_call_dispose(&w->settles[p]);
    for (unsigned i = 0; i != KEY_CACHE_SLOTS; ++i) {
        free(w->keys[i].sealed);
        OPENSSL_cleanse(w->keys[i].key, sizeof(w->keys[i].key));
    }
    wh_log_info("worker_stopped", NULL);
    free(w);
}

static bool worker_live(const wh_worker_t *w)
{
    return wh_mono_ms() - atomic_load(&((wh_worker_t *)w)->heartbeat_ms) < WH_WORKER_STALL_MS;
}

static bool worker_ready(const wh_worker_t *w)
{
    return worker_live(w) && atomic_load(&((wh_worker_t *)w)->ready_flag);
}

struct wh_workers {
    unsigned n;
    wh_worker_t *w[WH_MAX_WORKER_THREADS];
};

wh_err_t wh_workers_start(const wh_config_t *cfg, wh_workers_t **out, char *errbuf)
{
    wh_workers_t *ws = calloc(1, sizeof(*ws));
    unsigned n = cfg->worker_threads; /* 1..WH_MAX_WORKER_THREADS: wh_config_load() checked it */

    if (ws == NULL)
        abort();
    for (; ws->n != n; ++ws->n)
        if (worker_start(cfg, ws->n, &ws->w[ws->n], errbuf) != WH_OK) {
            wh_workers_stop(ws);
            return WH_EINTERNAL;
        }
    *out = ws;
    return WH_OK;
}

void wh_workers_stop(wh_workers_t *ws)
{
    /* all of them stop at once: each one's grace period runs alongside the others' */
    for (unsigned i = 0; i != ws->n; ++i)
        uv_async_send(&ws->w[i]->stop);
    for (unsigned i = 0; i != ws->n; ++i)
        worker_join(ws->w[i]);
    free(ws);
}

bool wh_workers_live(const wh_workers_t *ws)
{
    for (unsigned i = 0; i != ws->n; ++i)
        if (!worker_live(ws->w[i]))
            return false;
    return true;
}

bool wh_workers_ready(const wh_workers_t *ws)
{
    for (unsigned i = 0; i != ws->n; ++i)
        if (!worker_ready(ws->w[i]))
            return false;
    return true;
}
