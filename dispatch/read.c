/*
 * Reading: XREADGROUP (sized by events) and XAUTOCLAIM (from its cursor) into batches of decoded entries; a batch's first round
 * (subscription and sync-config lookups, cache applies) is started here.
 */
#include "worker_int.h"

static void batch_free(wk_batch_t *b);
static void batch_start(wk_batch_t *b);
static wh_err_t system_event_unpack(const char *buf, size_t len, json_t **out, char *errbuf);
static void add_entries(wk_batch_t *b, unsigned part, const redisReply *entries);
static wk_batch_t *batch_new(wh_worker_t *w, size_t max_entries, wk_reader_t *reader);
static int partition_of_key(const wk_reader_t *rd, const redisReply *k);
static void on_read(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static void learn_batch(wh_worker_t *w, const wk_batch_t *b);
static void read_now(wk_reader_t *rd);
static void schedule_read(wk_reader_t *rd, uint64_t delay_ms);
static void on_read_timer(uv_timer_t *t);
static void on_group(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static void on_reclaim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/* ---- batches -------------------------------------------------------------------------------------------- */

static void batch_free(wk_batch_t *b)
{
    for (size_t i = 0; i != b->n; ++i)
        json_decref(b->entries[i].events);
    for (size_t i = 0; i != b->nenvs; ++i) {
        wk_env_subs_dispose(b->envs[i]);
        free(b->envs[i]);
    }
    for (size_t i = 0; i != b->nconns; ++i)
        free(b->conns[i]);
    free(b->entries);
    free(b->envs);
    free(b->conns);
    free(b);
}

void wk_batch_done(wk_batch_t *b)
{
    wh_worker_t *w = b->w;
    wk_reader_t *rd = b->reader;

    batch_free(b);
    --w->batches;
    if (rd != NULL)
        --rd->batches;
    wk_pump(w);
}

/* Round 1: decode, then look up subscriptions and sync configs, and apply to the cache, all pipelined. */
static void batch_start(wk_batch_t *b)
{
    wh_worker_t *w = b->w;

    ++w->batches;
    b->outstanding = 1; /* held while sending */
    for (size_t i = 0; i != b->n && !b->abandon; ++i) {
        wk_entry_t *e = &b->entries[i];
        size_t k;
        json_t *ev;
        if (e->poison)
            continue;
        json_array_foreach(e->events, k, ev)
        {
            const char *env = json_string_value(json_object_get(ev, "environmentId"));
            if (wk_env_of(b, env) == NULL && strlen(env) <= WH_MAX_ID_LEN) {
                char key[WH_KEY_MAX];
                wk_env_subs_t *es = wk_env_add(b, env);
                wk_subs_lookup_t *l = malloc(sizeof(*l));
                if (l == NULL)
                    abort();
                l->b = b;
                l->es = es;
                wh_key_subs(key, env);
                const char *argv[] = {"HGETALL", key};
                if (wh_redis_command(w->cmd, wk_on_subs, l, 2, argv, NULL) != WH_OK) {
                    free(l);
                    b->abandon = true;
                    break;
                }
                ++b->outstanding;
            }
            if (wk_cacheable(ev) && !wk_lookup_sync(b, json_string_value(json_object_get(ev, "connectionId")))) {
                b->abandon = true;
                break;
            }
        }
    }
    if (--b->outstanding == 0)
        wk_batch_fan_out(b);
}

/*
 * A system event entry (field "s": JSON {v, eventId, environmentId, type, receivedAt, data}, written by a Lua
 * script such as sub_fail.lua) as a one-event array. It is fanned out like a change event, never applied.
 */
static wh_err_t system_event_unpack(const char *buf, size_t len, json_t **out, char *errbuf)
{
    json_t *ev = json_loadb(buf, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));

    if (ev == NULL || !json_is_object(json_object_get(ev, "data")) || type == NULL || strncmp(type, "system.", 7) != 0 ||
        !json_is_string(json_object_get(ev, "eventId")) || !json_is_string(json_object_get(ev, "environmentId")) ||
        !json_is_integer(json_object_get(ev, "receivedAt"))) {
        json_decref(ev);
        return wh_errf(errbuf, WH_EMALFORMED, "system event: not the expected JSON object");
    }
    if (json_integer_value(json_object_get(ev, "v")) > 1) {
        json_decref(ev);
        return wh_errf(errbuf, WH_EUNSUPPORTED, "system event version %lld",
                       (long long)json_integer_value(json_object_get(ev, "v")));
    }
    if (!json_is_string(json_object_get(ev, "connectionId")))
        json_object_set_new(ev, "connectionId", json_string(""));
    json_object_set_new(ev, "_system", json_true());
    *out = json_array();
    json_array_append_new(*out, ev);
    return WH_OK;
}

/* Builds a batch from stream entries ([id, [field, value, …]] …) of partition `part`. */
static void add_entries(wk_batch_t *b, unsigned part, const redisReply *entries)
{
    for (size_t i = 0; i != entries->elements; ++i) {
        const redisReply *en = entries->element[i];
        wk_entry_t *e = &b->entries[b->n];
        char errbuf[WH_ERRBUF_SIZE] = "";
        const redisReply *fv;
        wh_err_t err = WH_EMALFORMED;

        if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || en->element[0]->type != REDIS_REPLY_STRING ||
            en->element[0]->len >= sizeof(e->id))
            continue; /* a deleted entry still in the PEL comes back as nil: nothing to do */
        memset(e, 0, sizeof(*e));
        e->part = part;
        memcpy(e->id, en->element[0]->str, en->element[0]->len + 1);
        fv = en->element[1];
        for (size_t k = 0; fv->type == REDIS_REPLY_ARRAY && k + 1 < fv->elements; k += 2) {
            if (fv->element[k]->len == 1 && fv->element[k]->str[0] == 'b') {
                err = wh_envelope_unpack(fv->element[k + 1]->str, fv->element[k + 1]->len, &e->events, errbuf);
                break;
            }
            if (fv->element[k]->len == 1 && fv->element[k]->str[0] == 's') {
                err = system_event_unpack(fv->element[k + 1]->str, fv->element[k + 1]->len, &e->events, errbuf);
                break;
            }
        }
        if (err == WH_EUNSUPPORTED) {
            /* written by a newer wharf: leave it pending for a worker that understands it */
            wh_log_error("entry_unsupported", "{s:s, s:s}", "entry", e->id, "error", errbuf);
            continue;
        }
        if (err != WH_OK) {
            /* cannot ever be processed: settle.lua keeps its raw fields aside (wh:poison:{pN}), then acknowledges it */
            wh_log_error("entry_malformed", "{s:s, s:s}", "entry", e->id, "error", errbuf);
            e->events = json_array();
            e->poison = true;
        }
        ++b->n;
    }
}

/* `reader`: the reader whose read the entries come from; NULL for reclaimed entries. */
static wk_batch_t *batch_new(wh_worker_t *w, size_t max_entries, wk_reader_t *reader)
{
    wk_batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        abort();
    b->w = w;
    b->reader = reader;
    b->entries = calloc(max_entries + 1, sizeof(*b->entries));
    if (b->entries == NULL)
        abort();
    return b;
}

static int partition_of_key(const wk_reader_t *rd, const redisReply *k)
{
    for (unsigned p = rd->first; p != rd->first + rd->count; ++p)
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, rd->w->stream_keys[p]) == 0)
            return (int)p;
    return -1;
}

/* ---- reading -------------------------------------------------------------------------------------------- */

static void on_read(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_reader_t *rd = data;
    wh_worker_t *w = rd->w;
    size_t total = 0;
    wk_batch_t *b;

    if (err != WH_OK) {
        if (err == WH_EINTERNAL && strncmp(reply->str, "NOGROUP", 7) == 0)
            w->groups_ready = false; /* Redis lost its data: create the groups again */
        else if (err == WH_EINTERNAL)
            wh_log_warn("read_failed", "{s:s}", "error", reply->str);
        rd->reading = false;
        schedule_read(rd, 200);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY) { /* nil: BLOCK timed out */
        rd->reading = false;
        schedule_read(rd, 0);
        return;
    }
    for (size_t i = 0; i != reply->elements; ++i)
        if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements == 2 &&
            reply->element[i]->element[1]->type == REDIS_REPLY_ARRAY)
            total += reply->element[i]->element[1]->elements;
    b = batch_new(w, total, rd);
    for (size_t i = 0; i != reply->elements; ++i) {
        const redisReply *s = reply->element[i];
        int part;
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || (part = partition_of_key(rd, s->element[0])) < 0 ||
            s->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        add_entries(b, (unsigned)part, s->element[1]);
    }
    learn_batch(w, b);
    rd->reading = false;
    ++rd->batches;
    batch_start(b);
    /* read ahead (WK_READ_AHEAD) while the local backlog is under its bound, as wk_pump() does */
    if (!w->stopping && w->ready_len < w->cfg->max_inflight)
        schedule_read(rd, 0);
}

/*
 * How many entries to read per partition: a batch's applies are pipelined on one connection, so it is bounded by
 * events, not entries (an entry holds 1 to 100 events: a HubSpot batch, 100 sync records). Learnt from what came.
 */
unsigned wk_read_size(double events_per_entry)
{
    double per_entry = events_per_entry < 1.0 ? 1.0 : events_per_entry;
    double n = (double)WH_MAX_BATCH_EVENTS / (per_entry * wh_partitions());
    return n < 1.0 ? 1u : n > WH_READ_COUNT ? (unsigned)WH_READ_COUNT : (unsigned)n;
}

static unsigned read_count(const wh_worker_t *w)
{
    return wk_read_size(w->events_per_entry);
}

double wk_read_learn(double estimate, size_t biggest)
{
    /* a decaying maximum of the largest entry, not an average: one big entry after many small ones must not find
       the read sized for small ones (the bound matters, not the typical batch) */
    return (double)biggest > 0.8 * estimate ? (double)biggest : 0.8 * estimate;
}

/* Folds one batch's largest entry into the estimate read_count() uses. */
static void learn_batch(wh_worker_t *w, const wk_batch_t *b)
{
    size_t biggest = 0;

    for (size_t i = 0; i != b->n; ++i)
        if (json_array_size(b->entries[i].events) > biggest)
            biggest = json_array_size(b->entries[i].events);
    w->events_per_entry = wk_read_learn(w->events_per_entry, biggest);
}

static void read_now(wk_reader_t *rd)
{
    wh_worker_t *w = rd->w;
    const char *argv[9 + 2 * WH_MAX_PARTITIONS];
    char count[16], block[16];
    int argc = 0;

    if (w->stopping || rd->reading || rd->batches >= WK_READ_AHEAD)
        return;
    if (!wh_redis_ready(rd->rd)) {
        schedule_read(rd, 100);
        return;
    }
    if (!w->groups_ready) {
        schedule_read(rd, 200);
        return;
    }
    snprintf(count, sizeof(count), "%u", read_count(w));
    snprintf(block, sizeof(block), "%d", READ_BLOCK_MS);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = WH_CONSUMER_GROUP;
    argv[argc++] = w->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    argv[argc++] = "BLOCK";
    argv[argc++] = block;
    argv[argc++] = "STREAMS";
    for (unsigned p = rd->first; p != rd->first + rd->count; ++p)
        argv[argc++] = w->stream_keys[p];
    for (unsigned p = 0; p != rd->count; ++p)
        argv[argc++] = ">";
    if (wh_redis_command_blocking(rd->rd, READ_BLOCK_MS, on_read, rd, argc, argv, NULL) != WH_OK) {
        schedule_read(rd, 200);
        return;
    }
    rd->reading = true;
}

static void on_read_timer(uv_timer_t *t)
{
    read_now(t->data);
}

static void schedule_read(wk_reader_t *rd, uint64_t delay_ms)
{
    if (!rd->w->stopping)
        uv_timer_start(&rd->timer, on_read_timer, delay_ms, 0);
}

void wk_schedule_reads(wh_worker_t *w, uint64_t delay_ms)
{
    for (unsigned i = 0; i != w->nreaders; ++i)
        if (!w->readers[i].reading)
            schedule_read(&w->readers[i], delay_ms);
}

bool wk_reading(const wh_worker_t *w)
{
    for (unsigned i = 0; i != w->nreaders; ++i)
        if (w->readers[i].reading)
            return true;
    return false;
}

bool wk_readers_ready(const wh_worker_t *w)
{
    for (unsigned i = 0; i != w->nreaders; ++i)
        if (!wh_redis_ready(w->readers[i].rd))
            return false;
    return true;
}

static void reader_init(wh_worker_t *w, unsigned i, unsigned first, unsigned count)
{
    wk_reader_t *rd = &w->readers[i];
    char name[32];

    if (i == 0)
        snprintf(name, sizeof(name), "worker-read");
    else
        snprintf(name, sizeof(name), "worker-read-%u", i);
    rd->w = w;
    rd->first = first;
    rd->count = count;
    rd->rd = wh_redis_new(&w->loop, w->cfg, name);
    uv_timer_init(&w->loop, &rd->timer);
    rd->timer.data = rd;
}

/* The first reader's client knows what Redis is: on a cluster, one reader per partition from now on. */
static void on_reader_ready(wh_redis_t *r, void *data)
{
    wh_worker_t *w = data;

    if (wh_redis_is_cluster(r) && w->nreaders == 1 && wh_partitions() > 1 && !w->stopping) {
        w->readers[0].count = 1;
        for (unsigned p = 1; p != wh_partitions(); ++p) {
            reader_init(w, p, p, 1);
            wh_redis_start(w->readers[p].rd);
        }
        w->nreaders = wh_partitions();
        wh_log_info("worker_readers", "{s:i}", "readers", (int)w->nreaders);
    }
    wk_schedule_reads(w, 0);
}

void wk_readers_init(wh_worker_t *w)
{
    reader_init(w, 0, 0, wh_partitions());
    w->nreaders = 1;
    wh_redis_on_ready(w->readers[0].rd, on_reader_ready, w);
    wh_redis_start(w->readers[0].rd);
}

void wk_readers_close(wh_worker_t *w, void (*client_closed)(void *), uv_close_cb timer_closed)
{
    for (unsigned i = 0; i != w->nreaders; ++i) {
        wh_redis_close(w->readers[i].rd, client_closed, w);
        w->readers[i].timer.data = w; /* what timer_closed is given */
        uv_close((uv_handle_t *)&w->readers[i].timer, timer_closed);
    }
}

static void on_group(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_worker_t *w = data;

    if (err == WH_EINTERNAL && strncmp(reply->str, "BUSYGROUP", 9) == 0)
        err = WH_OK;
    if (err != WH_OK)
        wh_log_warn("group_create_failed", "{s:s}", "error", err == WH_EINTERNAL ? reply->str : wh_err_name(err));
    if (--w->creating_groups == 0)
        w->groups_ready = err == WH_OK;
}

void wk_ensure_groups(wh_worker_t *w)
{
    if (w->groups_ready || w->creating_groups != 0 || !wh_redis_ready(w->cmd))
        return;
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        /* from 0, not $: entries queued before any worker existed are still to be processed */
        const char *argv[] = {"XGROUP", "CREATE", w->stream_keys[p], WH_CONSUMER_GROUP, "0", "MKSTREAM"};
        if (wh_redis_command(w->cmd, on_group, w, 6, argv, NULL) == WH_OK)
            ++w->creating_groups;
    }
}

static void on_reclaim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_part_call_t *pc = data;
    wh_worker_t *w = pc->w;
    unsigned part = pc->part;
    wk_batch_t *b;

    free(pc);
    --w->claiming;
    /* XAUTOCLAIM: [next cursor, [entries…], [deleted ids…]]; the next call goes on from the cursor ("0-0": the
       scan is through, start over), so entries left pending on purpose are not claimed again at every tick */
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(w->reclaim_cursor[part]))
        memcpy(w->reclaim_cursor[part], reply->element[0]->str, reply->element[0]->len + 1);
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[1]->elements == 0 || w->stopping)
        return;
    wh_log_info("entries_reclaimed", "{s:i, s:i}", "partition", (int)part, "count", (int)reply->element[1]->elements);
    b = batch_new(w, reply->element[1]->elements, NULL);
    add_entries(b, part, reply->element[1]);
    learn_batch(w, b);
    batch_start(b);
}

static void on_consumers_swept(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    (void)r;
    (void)data;
    if (err == WH_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        wh_log_info("consumers_forgotten", "{s:I}", "count", (json_int_t)reply->integer);
    else if (err == WH_EINTERNAL)
        wh_log_warn("consumers_sweep_failed", "{s:s}", "error", reply->str);
}

/* Every WH_CONSUMER_SWEEP_MS: forget the group's consumers that hold nothing and went silent long ago
   (queue/scripts/consumers.lua), one call per partition. */
static void sweep_consumers(wh_worker_t *w)
{
    int64_t now = wh_mono_ms();
    char idle[24];

    if (now < w->consumers_swept_at + WH_CONSUMER_SWEEP_MS && w->consumers_swept_at != 0)
        return;
    w->consumers_swept_at = now;
    snprintf(idle, sizeof(idle), "%lld", (long long)WH_CONSUMER_FORGET_MS);
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        const char *argv[] = {w->stream_keys[p], WH_CONSUMER_GROUP, idle, w->consumer};
        (void)wh_redis_script(w->cmd, &wh_script_consumers, on_consumers_swept, NULL, 1, 4, argv, NULL);
    }
}

void wk_on_reclaim_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    char idle[24], count[16];

    if (w->stopping || !w->groups_ready || w->ready_len >= w->cfg->max_inflight)
        return;
    sweep_consumers(w);
    snprintf(idle, sizeof(idle), "%lld", (long long)w->cfg->reclaim_idle_ms);
    snprintf(count, sizeof(count), "%u", read_count(w) < RECLAIM_COUNT ? read_count(w) : RECLAIM_COUNT);
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        const char *argv[] = {"XAUTOCLAIM", w->stream_keys[p],    WH_CONSUMER_GROUP, w->consumer,
                              idle,         w->reclaim_cursor[p], "COUNT",           count};
        wk_part_call_t *pc = wk_part_call(w, p);
        if (wh_redis_command(w->cmd, on_reclaim, pc, 8, argv, NULL) == WH_OK)
            ++w->claiming;
        else
            free(pc);
    }
}
