/*
 * /v1/connections: create, list, get, delete, and POST /v1/connections/{id}/sync/status (design §5, §5a, §6).
 *
 * A connection's record is the hash wh:conn:{c:<id>} (queue/keys.h); its environment's set and, for accounts,
 * the app-level routing index live in other slots, so creating and deleting are ordered one-slot steps
 * (ARCHITECTURE.md "Steps across slots"): a reservation in the environment first and the hash last; the hash
 * replaced by a tombstone first and the other slots after. What a process dying in between leaves, the workers'
 * repair sweep finishes (dispatch/repair.c). Credentials are sealed before they leave this file, never shown again.
 *
 * Deleting is two-phase: conn_delete.lua removes the record, leaves the tombstone and queues
 * system.connection.deleted in the connection's outbox (moved to the partition stream before the answer); the
 * workers' dispatch/purge.c then removes the connection's other keys a few hundred at a time, so Redis never blocks
 * on a big cache, and last its tombstone. Until then creating a connection with the same id answers 409
 * connection_being_deleted.
 *
 * The sync status (NEW_CONNECTION -> INITIAL_SYNCED -> READY) is a state machine whose only writer is
 * conn_status.lua: the check and the move are one atomic script, so "exactly once" holds across processes.
 */
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/log.h"
#include "../common/secret.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "../providers/provider.h"
#include "../queue/envelope.h"
#include "../queue/keys.h"
#include "../queue/outbox.h"
#include "api.h"

/* Connections one GET /v1/connections lists, until the route grows a cursor. */
#define LIST_MAX 1000

/* One connection as the API shows it (never its credentials). Every string is borrowed. */
typedef struct {
    wh_str_t id, integration, account, sync, status, sync_state, created_at;
} conn_view_t;

static json_t *str_or_null(wh_str_t s)
{
    return s.len != 0 ? json_stringn(s.base, s.len) : json_null();
}

/* A field the record lacks is shown empty rather than failing the whole answer. */
static wh_str_t or_empty(wh_str_t s)
{
    return s.base != NULL ? s : wh_str("", 0);
}

/* NULL only if memory ran out. */
static json_t *conn_json(const wh_config_t *cfg, const conn_view_t *view)
{
    const conn_view_t fixed = {or_empty(view->id),     or_empty(view->integration), or_empty(view->account),   or_empty(view->sync),
                               or_empty(view->status), or_empty(view->sync_state),  or_empty(view->created_at)};
    const conn_view_t *v = &fixed;
    const wh_provider_t *provider = wh_provider_find(v->integration);
    json_t *sync = json_loadb(v->sync.base, v->sync.len, 0, NULL), *url;

    /* The sync config was written by conn_create as JSON; anything else in Redis is shown as the default. */
    if (sync == NULL || !json_is_object(sync)) {
        json_decref(sync);
        sync = json_pack("{s:{}}", "objects");
    }
    /* App-level providers post every account to one URL; the account in the payload selects the connection. */
    if (provider != NULL && (provider->flags & WH_PROVIDER_APP_LEVEL) != 0)
        url = json_sprintf("%s/webhooks/%.*s", cfg->public_url, (int)v->integration.len, v->integration.base);
    else
        url = json_sprintf("%s/webhooks/%.*s/%.*s", cfg->public_url, (int)v->integration.len, v->integration.base, (int)v->id.len,
                           v->id.base);
    return json_pack("{s:s%, s:s%, s:o, s:s%, s:s%, s:o, s:o, s:s%}", "connectionId", v->id.base, v->id.len, "integrationId",
                     v->integration.base, v->integration.len, "externalAccountId", str_or_null(v->account), "status",
                     v->status.base, v->status.len, "syncState", v->sync_state.base, v->sync_state.len, "webhookUrl", url, "sync",
                     sync, "createdAt", v->created_at.base, v->created_at.len);
}

static wh_str_t reply_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? wh_str(r->str, (size_t)r->len) : wh_str("", 0);
}

/* ---- POST /v1/connections ---- */

typedef struct {
    wh_api_call_t call;
    const wh_provider_t *provider; /* static */
    char conn_id[WH_API_ID_MAX + 1];
    char account[WH_MAX_ID_LEN + 1]; /* "" when the connection has no externalAccountId */
    char created_at[WH_ISO8601_LEN];
    json_t *sync; /* owned: the normalized sync config */
    /* owned, for the steps after the first: the sealed credentials, the sync config and the index entry as sent */
    char *sealed, *sync_text, *acct_text;
    char acct_key[WH_KEY_MAX];        /* "" without an account */
    bool env_reserved, acct_reserved; /* this call took the place / the index entry (a refusal undoes them) */
} conn_create_t;

/* externalAccountId: a string, or an integer (HubSpot portal ids are numbers in their payloads). */
static int get_account(const json_t *body, char out[WH_MAX_ID_LEN + 1], char *errbuf)
{
    json_t *v = json_object_get(body, "externalAccountId");
    const char *s;
    size_t len;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, WH_MAX_ID_LEN + 1, "%lld", (long long)json_integer_value(v));
        return 1;
    }
    if (!json_is_string(v))
        goto Invalid;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > WH_MAX_ID_LEN)
        goto Invalid;
    /* It becomes part of a Redis key and of logs: no control characters. */
    for (size_t i = 0; i != len; ++i)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            goto Invalid;
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
Invalid:
    wh_errf(errbuf, WH_EINVAL,
            "externalAccountId: must be a non-negative integer or a string of 1 to %d bytes without control characters",
            WH_MAX_ID_LEN);
    return -1;
}

/* sync: {"objects": {"<plural type>": bool, …}}; *out is a normalized copy (owned by the caller). */
static bool get_sync(const json_t *body, json_t **out, char *errbuf)
{
    static const char *const fields[] = {"objects", NULL};
    json_t *sync = json_object_get(body, "sync"), *objects, *copy = json_object(), *value;
    const char *name;

    *out = NULL;
    if (sync != NULL && !json_is_null(sync)) {
        if (!json_is_object(sync)) {
            wh_errf(errbuf, WH_EINVAL, "sync: must be an object");
            goto Fail;
        }
        if (!wh_api__only_fields(sync, fields, "sync.", errbuf))
            goto Fail;
        objects = json_object_get(sync, "objects");
        if (objects != NULL && !json_is_null(objects) && !json_is_object(objects)) {
            wh_errf(errbuf, WH_EINVAL, "sync.objects: must be an object");
            goto Fail;
        }
        json_object_foreach(objects, name, value)
        {
            if (wh_object_type_find_plural(wh_str_c(name)) == NULL) {
                wh_errf(errbuf, WH_EINVAL,
                        "sync.objects.%.64s: not an object type (contacts, accounts, deals, leads, tasks, notes, users, events, "
                        "calls, emails)",
                        name);
                goto Fail;
            }
            if (!json_is_boolean(value)) {
                wh_errf(errbuf, WH_EINVAL, "sync.objects.%s: must be true or false", name);
                goto Fail;
            }
            json_object_set_new(copy, name, json_boolean(json_is_true(value)));
        }
    }
    *out = json_pack("{s:o}", "objects", copy);
    return true;
Fail:
    json_decref(copy);
    return false;
}

/*
 * Creating is three steps, each one slot (a Redis Cluster runs no script across two): a place in the environment
 * (env_reserve.lua: within connectionLimit, recorded as a reservation), the app-level index entry when there is
 * an account (acct_reserve.lua: within the per-account cap), then the connection's hash (conn_create.lua: the id
 * free), after which the reservation record is dropped. A refusal at a later step undoes what this call reserved;
 * a process that dies in between leaves a reservation, which the worker's repair sweep (dispatch/repair.c) undoes
 * after a minute when no hash came of it. Until then the place counts against connectionLimit and listings skip it.
 */
static void undo_reservations(conn_create_t *s)
{
    char key[WH_KEY_MAX];

    if (s->acct_reserved) {
        const char *argv[] = {"HDEL", s->acct_key, s->conn_id};
        (void)wh_redis_command(s->call.redis, NULL, NULL, 3, argv, NULL);
    }
    if (s->env_reserved) {
        const char *srem[] = {"SREM", key, s->conn_id};
        const char *hdel[] = {"HDEL", key, s->conn_id};
        wh_key_env_conns(key, s->call.env);
        (void)wh_redis_command(s->call.redis, NULL, NULL, 3, srem, NULL);
        wh_key_env_resv(key, s->call.env);
        (void)wh_redis_command(s->call.redis, NULL, NULL, 3, hdel, NULL);
    }
}

static void on_created(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_create_t *s = data;
    conn_view_t view;
    json_t *answer;
    char key[WH_KEY_MAX];

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_STRING) {
        wh_api__reply_internal(&s->call, "conn_create: unexpected reply");
        return;
    }
    if (strcmp(reply->str, "exists") == 0 || strcmp(reply->str, "purging") == 0) {
        undo_reservations(s);
        if (reply->str[0] == 'e')
            wh_api__reply_error(&s->call, 409, "connection_exists", "connection %s already exists", s->conn_id);
        else
            wh_api__reply_error(&s->call, 409, "connection_being_deleted",
                                "connection %s was deleted and its data is still being purged: retry in a few seconds", s->conn_id);
        return;
    }
    if (strcmp(reply->str, "ok") != 0) {
        wh_api__reply_internal(&s->call, "conn_create: unexpected reply");
        return;
    }
    {
        /* the reservation is a connection now (a failed HDEL leaves a record the sweep drops: the hash exists);
           the place and the index entry are asserted again, with this call's values: an earlier attempt's entry
           ("member") may hold stale credentials, and a removal of a deletion before may have landed late */
        const char *hdel[] = {"HDEL", key, s->conn_id}, *sadd[] = {"SADD", key, s->conn_id};
        wh_key_env_resv(key, s->call.env);
        (void)wh_redis_command(s->call.redis, NULL, NULL, 3, hdel, NULL);
        wh_key_env_conns(key, s->call.env);
        (void)wh_redis_command(s->call.redis, NULL, NULL, 3, sadd, NULL);
        if (s->account[0] != '\0') {
            const char *hset[] = {"HSET", s->acct_key, s->conn_id, s->acct_text};
            (void)wh_redis_command(s->call.redis, NULL, NULL, 4, hset, NULL);
        }
    }
    view = (conn_view_t){wh_str_c(s->conn_id),   wh_str_c(s->provider->name), wh_str_c(s->account),
                         wh_str_c(s->sync_text), WH_STRLIT("NEW_CONNECTION"), WH_STRLIT("initial-sync-in-progress"),
                         wh_str_c(s->created_at)};
    answer = conn_json(s->call.cfg, &view);
    if (answer == NULL) {
        wh_api__reply_internal(&s->call, "building the answer failed");
        return;
    }
    wh_api__reply_json(&s->call, 201, answer);
}

static void create_hash(conn_create_t *s)
{
    char conn_key[WH_KEY_MAX], gone_key[WH_KEY_MAX];
    const char *argv[8] = {conn_key, gone_key, s->call.env, s->provider->name, s->account, s->sealed, s->sync_text, s->created_at};
    size_t argvlen[8];

    argvlen[0] = (size_t)wh_key_conn(conn_key, s->conn_id);
    argvlen[1] = (size_t)wh_key_gone(gone_key, s->conn_id);
    for (int i = 2; i != 8; ++i)
        argvlen[i] = strlen(argv[i]);
    wh_api__script(&s->call, &wh_script_conn_create, on_created, 2, 8, argv, argvlen);
}

static void on_acct_reserved(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_create_t *s = data;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "account_limit") == 0) {
        undo_reservations(s);
        wh_api__reply_error(&s->call, 409, "account_limit_reached", "externalAccountId %s of %s already has %d connections",
                            s->account, s->provider->name, WH_MAX_CONNECTIONS_PER_ACCOUNT);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || (strcmp(reply->str, "reserved") != 0 && strcmp(reply->str, "member") != 0)) {
        wh_api__reply_internal(&s->call, "acct_reserve: unexpected reply");
        return;
    }
    s->acct_reserved = strcmp(reply->str, "reserved") == 0;
    create_hash(s);
}

static void on_env_reserved(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_create_t *s = data;
    char per_account[16];

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "limit") == 0) {
        wh_api__reply_error(&s->call, 403, "connection_limit_reached", "this environment has reached its connectionLimit");
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || (strcmp(reply->str, "reserved") != 0 && strcmp(reply->str, "member") != 0)) {
        wh_api__reply_internal(&s->call, "env_reserve: unexpected reply");
        return;
    }
    /* "member": this id holds a place already (a connection, or an earlier attempt's reservation): not ours to undo */
    s->env_reserved = strcmp(reply->str, "reserved") == 0;
    if (s->account[0] == '\0') {
        create_hash(s);
        return;
    }
    snprintf(per_account, sizeof(per_account), "%d", WH_MAX_CONNECTIONS_PER_ACCOUNT);
    {
        const char *argv[4] = {s->acct_key, s->conn_id, s->acct_text, per_account};
        wh_api__script(&s->call, &wh_script_acct_reserve, on_acct_reserved, 1, 4, argv, NULL);
    }
}

static void conn_create_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"integrationId", "externalAccountId", "credentials", "sync", "connectionId", NULL};
    conn_create_t *s = (conn_create_t *)call;
    char errbuf[WH_ERRBUF_SIZE];
    const char *integration = NULL, *conn_id = NULL;
    json_t *credentials, *acct_value = NULL;
    char *creds_text = NULL, *sealed = NULL, *sync_text = NULL, *acct_text = NULL; /* owned, freed at Exit */
    int got;
    wh_err_t err;

    if (!wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "integrationId", 1, 64, &integration, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "integrationId: required");
        goto Invalid;
    }
    s->provider = wh_provider_find(wh_str_c(integration));
    if (s->provider == NULL) {
        wh_errf(errbuf, WH_EINVAL, "integrationId: unknown integration \"%.64s\"", integration);
        goto Invalid;
    }
    got = get_account(call->body, s->account, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0 && (s->provider->flags & WH_PROVIDER_APP_LEVEL) != 0) {
        wh_errf(errbuf, WH_EINVAL, "externalAccountId: required for %s (it routes the provider's app-level webhooks)",
                s->provider->name);
        goto Invalid;
    }
    credentials = json_object_get(call->body, "credentials");
    if (credentials == NULL || json_is_null(credentials)) {
        wh_errf(errbuf, WH_EINVAL, "credentials: required");
        goto Invalid;
    }
    if (!json_is_object(credentials)) {
        wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
        goto Invalid;
    }
    if (s->provider->check_credentials != NULL && s->provider->check_credentials(credentials, errbuf) != WH_OK)
        goto Invalid;
    if (!get_sync(call->body, &s->sync, errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "connectionId", 1, WH_API_ID_MAX, &conn_id, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 1 && !wh_api__id_valid(wh_str_c(conn_id))) {
        wh_errf(errbuf, WH_EINVAL, "connectionId: must be 1 to %d characters of A-Z a-z 0-9 _ -", WH_API_ID_MAX);
        goto Invalid;
    }
    if (got == 1)
        memcpy(s->conn_id, conn_id, strlen(conn_id) + 1); /* at most WH_API_ID_MAX: checked by wh_api__id_valid */
    else
        wh_random_id("conn_", 12, s->conn_id, sizeof(s->conn_id));
    wh_iso8601(wh_now_ms(), s->created_at);

    /* Sealed for this connection id: a blob copied onto another connection does not open. */
    creds_text = json_dumps(credentials, JSON_COMPACT);
    if (creds_text == NULL) {
        wh_api__reply_internal(call, "json_dumps failed");
        goto Exit;
    }
    err = wh_secret_seal(call->cfg, wh_str_c(s->conn_id), wh_str_c(creds_text), &sealed);
    if (err == WH_EUNSUPPORTED) {
        wh_api__reply_error(call, 500, "secrets_unavailable",
                            "WHARF_MASTER_KEY is not set (or set WHARF_INSECURE_DEV=1 for development)");
        goto Exit;
    }
    if (err != WH_OK) {
        wh_api__reply_internal(call, "sealing credentials failed");
        goto Exit;
    }
    sync_text = json_dumps(s->sync, JSON_COMPACT);
    /* The app-level index carries the sealed credentials so ingest routes and verifies with one HGETALL. */
    acct_value = json_pack("{s:s, s:s}", "env", call->env, "creds", sealed);
    acct_text = acct_value != NULL ? json_dumps(acct_value, JSON_COMPACT) : NULL;
    if (sync_text == NULL || acct_text == NULL) {
        wh_api__reply_internal(call, "json_dumps failed");
        goto Exit;
    }
    /* the call keeps what the later steps send */
    if ((s->sealed = strdup(sealed)) == NULL || (s->sync_text = strdup(sync_text)) == NULL ||
        (s->acct_text = strdup(acct_text)) == NULL)
        abort();
    if (s->account[0] != '\0')
        wh_key_acct(s->acct_key, s->provider->name, s->account);
    {
        char conns_key[WH_KEY_MAX], env_key[WH_KEY_MAX], resv_key[WH_KEY_MAX], now[24];
        const char *argv[6] = {conns_key, env_key, resv_key, s->conn_id, now, s->acct_key};
        wh_key_env_conns(conns_key, call->env);
        wh_key_env(env_key, call->env);
        wh_key_env_resv(resv_key, call->env);
        snprintf(now, sizeof(now), "%lld", (long long)wh_now_ms());
        wh_api__script(call, &wh_script_env_reserve, on_env_reserved, 3, 6, argv, NULL);
    }
    goto Exit;

Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
Exit:
    free(acct_text);
    json_decref(acct_value);
    free(sync_text);
    free(sealed);
    free(creds_text);
}

static void conn_create_dispose(wh_api_call_t *call)
{
    conn_create_t *s = (conn_create_t *)call;

    json_decref(s->sync);
    free(s->sealed);
    free(s->sync_text);
    free(s->acct_text);
}

const wh_api_op_t wh_api__conn_create = {conn_create_start, conn_create_dispose, sizeof(conn_create_t), true};

/* ---- GET /v1/connections ---- */

static int by_created_then_id(const void *a, const void *b)
{
    const conn_view_t *x = a, *y = b;
    size_t n = x->created_at.len < y->created_at.len ? x->created_at.len : y->created_at.len;
    int c = memcmp(x->created_at.base, y->created_at.base, n);

    if (c != 0 || x->created_at.len != y->created_at.len)
        return c != 0 ? c : (x->created_at.len < y->created_at.len ? -1 : 1);
    n = x->id.len < y->id.len ? x->id.len : y->id.len;
    c = memcmp(x->id.base, y->id.base, n);
    return c != 0 ? c : (x->id.len > y->id.len) - (x->id.len < y->id.len);
}

/*
 * Listing: the environment's set, then one HMGET per member, pipelined (each hash is in its own connection's slot).
 * Members without a hash of this environment (a reservation of a creation in progress or dead half way, a
 * deletion not finished) are skipped.
 */
typedef struct conn_list conn_list_t;

typedef struct {
    conn_list_t *l;
    char *id;        /* owned */
    char *fields[6]; /* owned: integration account sync status syncState createdAt; NULL when absent */
    bool ok;         /* the hash exists and is this environment's */
} conn_row_t;

struct conn_list {
    wh_api_call_t call;
    conn_row_t *rows;
    size_t n, pending;
    wh_err_t err; /* the first failure among the HMGETs */
};

static wh_str_t owned_str(const char *s)
{
    return s != NULL ? wh_str_c(s) : wh_str("", 0);
}

static void list_reply(conn_list_t *l)
{
    conn_view_t *views;
    size_t n = 0;
    json_t *list;

    if (l->call.pending.req == NULL) {
        wh_api__finish(&l->call);
        return;
    }
    if (l->err != WH_OK) {
        wh_api__reply_redis_error(&l->call, l->err, NULL);
        return;
    }
    views = calloc(l->n + 1, sizeof(*views));
    if (views == NULL)
        abort();
    for (size_t i = 0; i != l->n; ++i) {
        conn_row_t *row = &l->rows[i];
        if (row->ok)
            views[n++] = (conn_view_t){wh_str_c(row->id),         owned_str(row->fields[0]), owned_str(row->fields[1]),
                                       owned_str(row->fields[2]), owned_str(row->fields[3]), owned_str(row->fields[4]),
                                       owned_str(row->fields[5])};
    }
    /* Sets have no order; creation order (then id, for equal milliseconds) makes the listing stable. */
    qsort(views, n, sizeof(*views), by_created_then_id);
    list = json_array();
    for (size_t i = 0; i != n && i != LIST_MAX; ++i)
        json_array_append_new(list, conn_json(l->call.cfg, &views[i]));
    free(views);
    wh_api__reply_json(&l->call, 200, json_pack("{s:o}", "connections", list));
}

static void on_row(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_row_t *row = data;
    conn_list_t *l = row->l;

    (void)r;
    if (err != WH_OK && l->err == WH_OK)
        l->err = err;
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 7 && reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, l->call.env) == 0) {
        row->ok = true;
        for (size_t f = 0; f != 6; ++f)
            if (reply->element[f + 1]->type == REDIS_REPLY_STRING &&
                (row->fields[f] = strndup(reply->element[f + 1]->str, (size_t)reply->element[f + 1]->len)) == NULL)
                abort();
    }
    if (--l->pending == 0)
        list_reply(l);
}

static void on_members(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    conn_list_t *l = data;
    char key[WH_KEY_MAX];

    (void)r;
    if (!wh_api__reply_usable(&l->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        wh_api__reply_internal(&l->call, "SMEMBERS: unexpected reply");
        return;
    }
    /* a set past the bound (reservations included) is listed in part: the first LIST_MAX members SMEMBERS gave */
    l->n = reply->elements < LIST_MAX ? reply->elements : LIST_MAX;
    if (l->n == 0) {
        wh_api__reply_json(&l->call, 200, json_pack("{s:[]}", "connections"));
        return;
    }
    if ((l->rows = calloc(l->n, sizeof(*l->rows))) == NULL)
        abort();
    l->pending = 1; /* held while sending */
    for (size_t i = 0; i != l->n; ++i) {
        const redisReply *m = reply->element[i];
        conn_row_t *row = &l->rows[i];
        row->l = l;
        if (m->type != REDIS_REPLY_STRING || (row->id = strndup(m->str, (size_t)m->len)) == NULL || strlen(row->id) > WH_API_ID_MAX)
            continue;
        {
            const char *argv[] = {"HMGET", key, "env", "integration", "account", "sync", "status", "syncState", "createdAt"};
            wh_key_conn(key, row->id);
            if (wh_redis_command(l->call.redis, on_row, row, 9, argv, NULL) != WH_OK) {
                l->err = WH_EUNAVAILABLE;
                break;
            }
            ++l->pending;
        }
    }
    if (--l->pending == 0)
        list_reply(l);
}

static void conn_list_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX];
    const char *argv[2] = {"SMEMBERS", key};
    size_t argvlen[2] = {8, (size_t)wh_key_env_conns(key, call->env)};

    wh_api__command(call, on_members, 2, argv, argvlen);
}

static void conn_list_dispose(wh_api_call_t *call)
{
    conn_list_t *l = (conn_list_t *)call;

    for (size_t i = 0; i != l->n; ++i) {
        free(l->rows[i].id);
        for (size_t f = 0; f != 6; ++f)
            free(l->rows[i].fields[f]);
    }
    free(l->rows);
}

const wh_api_op_t wh_api__conn_list = {conn_list_start, conn_list_dispose, sizeof(conn_list_t), false};

/* ---- GET /v1/connections/{id} ---- */

static void on_got(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_api_call_t *call = data;
    conn_view_t view = {.id = wh_str_c(call->id)}; /* borrows from `reply` */
    wh_str_t env = WH_STR_NULL;
    json_t *answer;

    if (!wh_api__reply_usable(call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        wh_api__reply_internal(call, "HGETALL: unexpected reply");
        return;
    }
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        wh_str_t name = reply_str(reply->element[i]), value = reply_str(reply->element[i + 1]);
        if (wh_str_eq(name, WH_STRLIT("env")))
            env = value;
        else if (wh_str_eq(name, WH_STRLIT("integration")))
            view.integration = value;
        else if (wh_str_eq(name, WH_STRLIT("account")))
            view.account = value;
        else if (wh_str_eq(name, WH_STRLIT("sync")))
            view.sync = value;
        else if (wh_str_eq(name, WH_STRLIT("status")))
            view.status = value;
        else if (wh_str_eq(name, WH_STRLIT("syncState")))
            view.sync_state = value;
        else if (wh_str_eq(name, WH_STRLIT("createdAt")))
            view.created_at = value;
    }
    /* Another environment's connection is answered exactly like a missing one. */
    if (!wh_str_eq(env, wh_str_c(call->env))) {
        wh_api__reply_error(call, 404, "not_found", "no such connection");
        return;
    }
    answer = conn_json(call->cfg, &view);
    if (answer == NULL) {
        wh_api__reply_internal(call, "building the answer failed");
        return;
    }
    wh_api__reply_json(call, 200, answer);
}

static void conn_get_start(wh_api_call_t *call)
{
    char key[WH_KEY_MAX];
    const char *argv[2] = {"HGETALL", key};
    size_t argvlen[2] = {7, (size_t)wh_key_conn(key, call->id)};

    wh_api__command(call, on_got, 2, argv, argvlen);
}

const wh_api_op_t wh_api__conn_get = {conn_get_start, NULL, sizeof(wh_api_call_t), false};

/* ---- DELETE /v1/connections/{id} ---- */

/* The call waits for its outbox before it answers, so that what the caller does next comes after the event. */
static void on_deleted_drained(void *data, bool drained)
{
    wh_api_call_t *call = data;

    (void)drained;                  /* an entry left behind is moved by the next drain or the worker's sweep: the deletion stands */
    wh_api__reply_no_content(call); /* finishes the call, answered or not (the caller may have left) */
}

/*
 * conn_delete.lua deleted the hash, wrote the tombstone and queued the event in the connection's outbox. The
 * steps in other slots follow, each idempotent, whether or not the caller is still there: the id into wh:purge
 * (the workers' purge then removes the connection's keys, and last its tombstone), out of the environment's set,
 * out of the app-level index; then the outbox to the partition stream. A process that dies before them leaves the
 * tombstone, from which the worker's repair sweep takes them up again (dispatch/repair.c).
 */
static void on_deleted(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wh_api_call_t *call = data;
    char key[WH_KEY_MAX];

    /* not wh_api__reply_usable: once the script has deleted, the steps below run whether or not the caller is still
       there (every wh_api__reply_* finishes the call either way) */
    if (err != WH_OK || reply == NULL) {
        wh_api__reply_redis_error(call, err != WH_OK ? err : WH_EUNAVAILABLE, reply);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "notfound") == 0) {
        wh_api__reply_error(call, 404, "not_found", "no such connection");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_STRING) {
        wh_api__reply_internal(call, "conn_delete: unexpected reply");
        return;
    }
    wh_log_info("connection_deleted", "{s:s, s:s}", "connectionId", call->id, "environmentId", call->env);
    {
        const char *sadd[] = {"SADD", key, call->id};
        wh_key_purge(key);
        (void)wh_redis_command(r, NULL, NULL, 3, sadd, NULL);
    }
    {
        const char *srem[] = {"SREM", key, call->id};
        wh_key_env_conns(key, call->env);
        (void)wh_redis_command(r, NULL, NULL, 3, srem, NULL);
    }
    if (reply->element[2]->len != 0) {
        const char *hdel[] = {"HDEL", key, call->id};
        wh_key_acct(key, reply->element[1]->str, reply->element[2]->str);
        (void)wh_redis_command(r, NULL, NULL, 3, hdel, NULL);
    }
    wh_key_outbox_conn(key, call->id);
    wh_outbox_drain(r, key, on_deleted_drained, call);
}

/* A new system event id: "evt_" + 32 hex, as ingest names change events. */
static void system_event_id(char out[WH_EVENT_ID_LEN + 1])
{
    wh_random_id("evt_", 16, out, WH_EVENT_ID_LEN + 1);
}

static void conn_delete_start(wh_api_call_t *call)
{
    char conn_key[WH_KEY_MAX], gone_key[WH_KEY_MAX], outbox_key[WH_KEY_MAX], stream_key[WH_KEY_MAX], now[24],
        event_id[WH_EVENT_ID_LEN + 1];
    const char *argv[8] = {conn_key, gone_key, outbox_key, call->id, call->env, now, event_id, stream_key};

    system_event_id(event_id);
    wh_key_conn(conn_key, call->id);
    wh_key_gone(gone_key, call->id);
    wh_key_outbox_conn(outbox_key, call->id);
    wh_key_stream(stream_key, wh_partition_of(call->id));
    snprintf(now, sizeof(now), "%lld", (long long)wh_now_ms());
    wh_api__script(call, &wh_script_conn_delete, on_deleted, 3, 8, argv, NULL);
}

const wh_api_op_t wh_api__conn_delete = {conn_delete_start, NULL, sizeof(wh_api_call_t), false};

/* ---- POST /v1/connections/{id}/sync/status ---- */

/* The sync status state machine (design §5, §6). conn_status.lua alone moves it, one step forward at a time. */
typedef enum { CONN_NEW, CONN_INITIAL_SYNCED, CONN_READY, CONN_STATUS_COUNT } conn_status_t;

static const char *const conn_status_names[CONN_STATUS_COUNT] = {"NEW_CONNECTION", "INITIAL_SYNCED", "READY"};

typedef struct {
    wh_api_call_t call;
    conn_status_t to;
    json_t *answer; /* owned: built from the script's reply, sent once the outbox is moved */
} sync_status_t;

static void on_status_drained(void *data, bool drained)
{
    sync_status_t *s = data;
    json_t *answer = s->answer;

    (void)drained; /* an entry left behind is moved by the next drain or the worker's sweep: the move stands */
    s->answer = NULL;
    wh_api__reply_json(&s->call, 200, answer); /* finishes the call, answered or not (the caller may have left) */
}

static void on_status_moved(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sync_status_t *s = data;
    const redisReply *const *e;
    conn_view_t view;
    json_t *answer;

    /* not wh_api__reply_usable: a move that happened has its outbox moved whether or not the caller is still there
       (every wh_api__reply_* finishes the call either way) */
    if (err != WH_OK || reply == NULL) {
        wh_api__reply_redis_error(&s->call, err != WH_OK ? err : WH_EUNAVAILABLE, reply);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_STRING) {
        wh_api__reply_internal(&s->call, "conn_status: unexpected reply");
        return;
    }
    e = (const redisReply *const *)reply->element;
    if (strcmp(e[0]->str, "notfound") == 0) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such connection");
        return;
    }
    if (strcmp(e[0]->str, "invalid") == 0 && reply->elements == 2) {
        wh_str_t cur = reply_str(e[1]);
        wh_api__reply_error(&s->call, 409, "invalid_transition",
                            "status: %.*s cannot move to %s (only NEW_CONNECTION -> INITIAL_SYNCED -> READY, one step at a time)",
                            (int)cur.len, cur.base, conn_status_names[s->to]);
        return;
    }
    if (strcmp(e[0]->str, "ok") != 0 || reply->elements != 8) {
        wh_api__reply_internal(&s->call, "conn_status: unexpected reply");
        return;
    }
    wh_log_info("connection_status", "{s:s, s:s%, s:s}", "connectionId", s->call.id, "from", e[1]->str, (size_t)e[1]->len, "to",
                conn_status_names[s->to]);
    view = (conn_view_t){wh_str_c(s->call.id), reply_str(e[2]), reply_str(e[3]), reply_str(e[4]),
                         reply_str(e[5]),      reply_str(e[6]), reply_str(e[7])};
    answer = conn_json(s->call.cfg, &view);
    if (answer == NULL)
        answer = json_pack("{s:s}", "connectionId", s->call.id);
    s->answer = answer;
    {
        /* the status moved and its events wait in the connection's outbox: to the stream, whether or not the
           caller is still there (the answer waits for them, so that what the caller does next comes after) */
        char key[WH_KEY_MAX];
        wh_key_outbox_conn(key, s->call.id);
        wh_outbox_drain(r, key, on_status_drained, s);
    }
}

static void sync_status_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"status", NULL};
    sync_status_t *s = (sync_status_t *)call;
    char errbuf[WH_ERRBUF_SIZE], conn_key[WH_KEY_MAX], outbox_key[WH_KEY_MAX], stream_key[WH_KEY_MAX], now[24],
        updated_id[WH_EVENT_ID_LEN + 1], complete_id[WH_EVENT_ID_LEN + 1];
    const char *status = NULL;
    const char *argv[9] = {conn_key, outbox_key, call->id, call->env, NULL, now, updated_id, complete_id, stream_key};
    size_t argvlen[9];
    int got;

    if (!wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "status", 1, 32, &status, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "status: required (INITIAL_SYNCED or READY)");
        goto Invalid;
    }
    for (s->to = CONN_NEW; s->to != CONN_STATUS_COUNT && strcmp(conn_status_names[s->to], status) != 0; ++s->to)
        ;
    if (s->to == CONN_STATUS_COUNT) {
        wh_errf(errbuf, WH_EINVAL, "status: must be NEW_CONNECTION, INITIAL_SYNCED or READY");
        goto Invalid;
    }
    system_event_id(updated_id);
    system_event_id(complete_id);
    argvlen[0] = (size_t)wh_key_conn(conn_key, call->id);
    argvlen[1] = (size_t)wh_key_outbox_conn(outbox_key, call->id);
    argvlen[2] = strlen(call->id);
    argvlen[3] = strlen(call->env);
    argv[4] = conn_status_names[s->to];
    argvlen[4] = strlen(argv[4]);
    argvlen[5] = (size_t)snprintf(now, sizeof(now), "%lld", (long long)wh_now_ms());
    argvlen[6] = strlen(updated_id);
    argvlen[7] = strlen(complete_id);
    argvlen[8] = (size_t)wh_key_stream(stream_key, wh_partition_of(call->id));
    wh_api__script(call, &wh_script_conn_status, on_status_moved, 2, 9, argv, argvlen);
    return;
Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
}

static void sync_status_dispose(wh_api_call_t *call)
{
    json_decref(((sync_status_t *)call)->answer);
}

const wh_api_op_t wh_api__sync_status = {sync_status_start, sync_status_dispose, sizeof(sync_status_t), true};
