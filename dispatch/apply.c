/*
 * The cache stage: each change of a synced object type applied (cache/scripts/apply.lua), in stream order per connection; the
 * record after the change joins the event.
 */
#include "worker_int.h"

static json_t *record_object(const redisReply *flat);
static json_t *string_list(const redisReply *r);
static bool pushed_record(const json_t *ev);
static void on_applied(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static bool send_apply(wk_batch_t *b, json_t *ev, wh_cache_synced_t synced);
static wk_conn_sync_t *conn_of(wk_batch_t *b, const char *conn);
static void on_sync_config(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/* The cached record as an object: values were stored as JSON text; "additional.x" fields nest again. */
static json_t *record_object(const redisReply *flat)
{
    json_t *obj = json_object(), *additional = NULL;

    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        json_t *val;
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if ((val = json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL)) == NULL)
            continue;
        if (k->len > 11 && memcmp(k->str, "additional.", 11) == 0) {
            if (additional == NULL)
                additional = json_object();
            json_object_setn_new(additional, k->str + 11, k->len - 11, val);
        } else {
            json_object_setn_new(obj, k->str, k->len, val);
        }
    }
    if (additional != NULL)
        json_object_set_new(obj, "additional", additional);
    return obj;
}

typedef struct {
    wk_batch_t *b;
    json_t *ev;
    bool association; /* the apply wrote an association's child, not the event's own object: `ev` is left as is */
} wk_apply_t;

static json_t *string_list(const redisReply *r)
{
    json_t *a = json_array();
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i != r->elements; ++i)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(a, json_stringn_nocheck(r->element[i]->str, r->element[i]->len));
    return a;
}

/* Whether the event came from the sync engine or the unified API (records pushed, not changes reported). */
static bool pushed_record(const json_t *ev)
{
    const char *source = json_string_value(json_object_get(ev, "source"));
    return source != NULL && (strcmp(source, "sync") == 0 || strcmp(source, "api") == 0);
}

/*
 * apply.lua answered {state, changed, record, previous, existed}. The event gets the record after the change
 * ("_object"); changedFields and previous come from the cache when the provider did not say. A pushed record
 * (source sync or api) that changed nothing is skipped ("_skip": acknowledged, not dispatched), and one the
 * cache did not hold is announced as created.
 */
static void on_applied(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_apply_t *a = data;
    wk_batch_t *b = a->b;
    json_t *ev = a->ev;

    (void)r;
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5 && reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "gone") == 0) {
        /* the connection is gone: its events are dispatched as they are, as when its sync config was not found */
    } else if (a->association && err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
        /* the child's record is not the event's object (a thin event carries none): nothing to add to it */
    } else if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 5 &&
               reply->element[0]->type == REDIS_REPLY_STRING) {
        const char *state = reply->element[0]->str;
        bool applied = strcmp(state, "applied") == 0;
        if (applied)
            wh_metric_inc(WH_METRIC_EVENTS_APPLIED);
        bool existed = reply->element[4]->type == REDIS_REPLY_INTEGER && reply->element[4]->integer == 1;
        const json_t *cf = json_object_get(ev, "changedFields");
        json_t *changed = string_list(reply->element[1]), *previous = record_object(reply->element[3]);
        if (applied)
            json_object_set_new(ev, "_object", record_object(reply->element[2]));
        if (pushed_record(ev)) {
            /*
             * Unchanged: nothing to announce — but only on an entry's first reading. A reclaimed entry may have
             * been applied already by a worker that died before settling it; apply then reports no change, and
             * skipping would acknowledge the record with its event never sent. It goes out again (at least once).
             */
            if (!applied || (json_array_size(changed) == 0 && a->b->reader != NULL))
                json_object_set_new(ev, "_skip", json_true());
            else if (!existed)
                json_object_set_new(ev, "action", json_string(WH_ACTION_CREATED));
            json_object_set(ev, "changedFields", changed);
            if (existed && json_object_size(previous) != 0)
                json_object_set(ev, "previous", previous);
        } else if (applied) {
            if (json_array_size(cf) == 0 && json_array_size(changed) != 0 && existed)
                json_object_set(ev, "changedFields", changed);
            if (!json_is_object(json_object_get(ev, "previous")) && json_object_size(previous) != 0)
                json_object_set(ev, "previous", previous);
        }
        json_decref(changed);
        json_decref(previous);
    } else {
        /* the cache is a derived view: an apply that failed is logged and the event still goes out */
        wh_log_warn("cache_apply_failed", "{s:s}", "error",
                    err == WH_EINTERNAL ? reply->str
                    : err == WH_OK      ? "unexpected reply"
                                        : wh_err_name(err));
    }
    free(a);
    if (--b->outstanding == 0)
        wk_batch_fan_out(b);
}

/* Whether `ev` is a change the cache may take: a unified object type with an id (not a system event). */
bool wk_cacheable(const json_t *ev)
{
    const char *oid = json_string_value(json_object_get(ev, "objectId"));
    const char *conn = json_string_value(json_object_get(ev, "connectionId"));
    return !json_is_true(json_object_get(ev, "_system")) &&
           wh_object_type_find(wh_str_c(json_string_value(json_object_get(ev, "objectType")))) != NULL && oid != NULL &&
           oid[0] != '\0' && conn != NULL && strlen(conn) <= WH_MAX_ID_LEN && json_is_string(json_object_get(ev, "action"));
}

/*
 * Sends one cache apply for `ev` when its connection syncs its object type; others are dispatched, not cached.
 * An "associated" event whose extra.association names a unified association is applied instead as a write of
 * the child's reference field (wh_cache_association, cache/README.md), when the child's type is synced.
 */
static bool send_apply(wk_batch_t *b, json_t *ev, wh_cache_synced_t synced)
{
    const char *type = json_string_value(json_object_get(ev, "objectType"));
    const char *action = json_string_value(json_object_get(ev, "action"));
    const json_t *extra = json_object_get(ev, "extra");
    wh_cache_change_t c = {0};
    wh_cache_args_t args;
    json_t *assoc_fields = NULL;
    wk_apply_t *a;
    bool sent;
    int nkeys;

    c.connection_id = json_string_value(json_object_get(ev, "connectionId"));
    c.type = type;
    c.object_id = json_string_value(json_object_get(ev, "objectId"));
    c.action = action;
    c.occurred_at = json_integer_value(json_object_get(ev, "occurredAt"));
    c.thin = json_is_true(json_object_get(ev, "thin"));
    c.fields = json_object_get(ev, "fields");
    c.merged_ids = json_object_get(extra, "mergedIds");
    c.synced = synced;
    if (strcmp(action, WH_ACTION_ASSOCIATED) == 0)
        assoc_fields = wh_cache_association(json_object_get(extra, "association"), &c);
    if (!wh_cache_is_synced(synced, c.type)) {
        json_decref(assoc_fields);
        return true;
    }
    wh_cache_args_init(&args);
    nkeys = wh_cache_args_apply(&args, &c);
    if ((a = malloc(sizeof(*a))) == NULL)
        abort();
    a->b = b;
    a->ev = ev;
    a->association = assoc_fields != NULL;
    json_decref(assoc_fields);
    sent = wh_redis_script(b->w->cmd, &wh_script_apply, on_applied, a, nkeys, (int)args.n, args.argv, args.len) == WH_OK;
    if (sent)
        ++b->outstanding;
    else
        free(a);
    wh_cache_args_dispose(&args);
    return sent;
}

static wk_conn_sync_t *conn_of(wk_batch_t *b, const char *conn)
{
    for (size_t i = 0; i != b->nconns; ++i)
        if (strcmp(b->conns[i]->conn, conn) == 0)
            return b->conns[i];
    return NULL;
}

typedef struct {
    wk_batch_t *b;
    wk_conn_sync_t *cs;
    bool counted; /* in the cache slot's `pending` */
} wk_sync_lookup_t;

/* The sync cache's slot for `conn` (worker_int.h), whoever holds it. */
static wk_sync_cached_t *sync_cached(wh_worker_t *w, const char *conn)
{
    return &w->sync_cache[wh_fnv1a(conn) % SYNC_CACHE_SLOTS];
}

/* Sends the applies of every event of `cs`'s connection in the batch, in batch order (one Redis connection keeps
   them in order, so a connection's changes are applied in stream order). */
static void send_conn_applies(wk_batch_t *b, wk_conn_sync_t *cs)
{
    for (size_t i = 0; i != b->n && !b->abandon; ++i) {
        wk_entry_t *e = &b->entries[i];
        size_t k;
        json_t *ev;
        if (e->poison)
            continue;
        json_array_foreach(e->events, k, ev)
        {
            if (!wk_cacheable(ev) || strcmp(json_string_value(json_object_get(ev, "connectionId")), cs->conn) != 0)
                continue;
            if (!send_apply(b, ev, cs->synced)) {
                b->abandon = true;
                break;
            }
        }
    }
}

/*
 * The connection's sync config is back: its events' applies go out now, in batch order (one Redis connection
 * keeps them in order, so a connection's changes are applied in stream order).
 */
static void on_sync_config(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_sync_lookup_t *l = data;
    wk_batch_t *b = l->b;
    wk_conn_sync_t *cs = l->cs;
    /* the cache slot, if this lookup is counted in it (then the slot is still this connection's) */
    wk_sync_cached_t *c = l->counted ? sync_cached(b->w, cs->conn) : NULL;

    (void)r;
    free(l);
    if (err != WH_OK || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        wh_log_warn("sync_config_unavailable", "{s:s}", "connectionId", cs->conn);
        b->abandon = true;
    } else {
        /* nil: the connection is gone (or has no config): its events are dispatched, not cached */
        cs->synced = reply->type == REDIS_REPLY_STRING ? wh_cache_synced_parse(wh_str(reply->str, reply->len)) : 0;
        if (c != NULL) {
            c->synced = cs->synced;
            c->at = wh_mono_ms();
        }
        send_conn_applies(b, cs);
    }
    if (c != NULL)
        --c->pending;
    if (--b->outstanding == 0)
        wk_batch_fan_out(b);
}

/* Looks up the sync config of `conn` once per batch; its applies are sent when it is back. */
bool wk_lookup_sync(wk_batch_t *b, const char *conn)
{
    char key[WH_KEY_MAX];
    wk_conn_sync_t *cs;
    wk_sync_lookup_t *l;
    wk_sync_cached_t *c;

    if (conn_of(b, conn) != NULL)
        return true;
    if ((cs = calloc(1, sizeof(*cs))) == NULL || (l = malloc(sizeof(*l))) == NULL)
        abort();
    if (b->nconns == b->cap_conns) {
        b->cap_conns = b->cap_conns == 0 ? 4 : b->cap_conns * 2;
        if ((b->conns = realloc(b->conns, b->cap_conns * sizeof(*b->conns))) == NULL)
            abort();
    }
    snprintf(cs->conn, sizeof(cs->conn), "%s", conn);
    b->conns[b->nconns++] = cs;
    c = sync_cached(b->w, conn);
    if (strcmp(c->conn, conn) == 0 && c->pending == 0 && c->at != 0 && wh_mono_ms() - c->at < SYNC_CACHE_MS) {
        /* looked up a moment ago, and no lookup of it is in flight: its applies go out now */
        free(l);
        cs->synced = c->synced;
        send_conn_applies(b, cs);
        return !b->abandon;
    }
    if (strcmp(c->conn, conn) != 0 && c->pending == 0) {
        /* the slot goes to this connection (a slot with a lookup in flight stays with its connection) */
        snprintf(c->conn, sizeof(c->conn), "%s", conn);
        c->at = 0;
    }
    l->b = b;
    l->cs = cs;
    l->counted = strcmp(c->conn, conn) == 0;
    if (l->counted)
        ++c->pending;
    wh_key_conn(key, conn);
    const char *argv[] = {"HGET", key, "sync"};
    if (wh_redis_command(b->w->cmd, on_sync_config, l, 3, argv, NULL) != WH_OK) {
        if (l->counted)
            --c->pending;
        free(l);
        return false;
    }
    ++b->outstanding;
    return true;
}
