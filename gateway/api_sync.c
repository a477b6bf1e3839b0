/*
 * POST /v1/connections/{id}/sync/records (design §6): records pulled by the sync engine or written through
 * the unified API enter the same queue as webhooks. Each record becomes one change envelope (queue/envelope.h)
 * — action "updated", occurredAt = the record's updatedAt, source "sync" or "api", fields = the record minus
 * its id — on the connection's partition stream (queue/scripts/conn_sync.lua), so a connection's records and
 * webhooks are applied in one order and the cache's per-field last-writer-wins sorts out the rest.
 *
 * Flow: validate the whole body (nothing is queued when one record is wrong) ▸ HMGET the connection (its
 * environment, for the 404, and its integration, which every envelope names) ▸ pack ▸ conn_sync.lua, which
 * checks the connection again and XADDs every entry or none ▸ 202 {"accepted": N}.
 * POST /v1/connections/{id}/sync/status lives with the connection's other state in api_connections.c.
 */
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/limits.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "../queue/envelope.h"
#include "../queue/keys.h"
#include "api.h"

/* Records one request carries at most (design §6). */
#define RECORDS_MAX 1000
/* Longest field name of a record: unified names are short camelCase words. */
#define FIELD_NAME_MAX 64

typedef struct {
    wh_api_call_t call;
    const wh_object_type_t *type; /* static */
    const char *source;           /* static: "sync" | "api" */
    int64_t *occurred_at;         /* owned: per record, its updatedAt in ms */
    size_t n;                     /* records */
} sync_records_t;

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* A unified field name: camelCase ASCII, [a-z][A-Za-z0-9]*. */
static bool field_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > FIELD_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i != len; ++i)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}

/* One record: {"id": "…", "updatedAt": "<ISO 8601>", <unified field>: value, "additional": {…}}. */
static bool record_valid(const json_t *rec, size_t i, int64_t *at, char *errbuf)
{
    const json_t *id = json_object_get(rec, "id"), *updated = json_object_get(rec, "updatedAt"), *v;
    const char *name, *text;
    size_t len;

    if (!json_is_object(rec))
        return wh_errf(errbuf, WH_EINVAL, "records[%zu]: must be an object", i), false;
    if (id == NULL || json_is_null(id))
        return wh_errf(errbuf, WH_EINVAL, "records[%zu].id: required", i), false;
    text = json_string_value(id);
    len = json_string_length(id);
    if (text == NULL || len == 0 || len > WH_MAX_ID_LEN)
        return wh_errf(errbuf, WH_EINVAL, "records[%zu].id: must be a string of 1 to %d bytes", i, WH_MAX_ID_LEN), false;
    /* It becomes part of Redis keys and of GET /v1/cache/{conn}/{type}/{id}: printable ASCII, no '/' (a path
       segment), no '{' '}' (a hash tag in a key) — what the read API can address. */
    for (size_t k = 0; k != len; ++k)
        if ((unsigned char)text[k] <= 0x20 || (unsigned char)text[k] >= 0x7f || strchr("/{}", text[k]) != NULL)
            return wh_errf(errbuf, WH_EINVAL, "records[%zu].id: printable ASCII without spaces, '/', '{' or '}'", i), false;
    if (updated == NULL || json_is_null(updated))
        return wh_errf(errbuf, WH_EINVAL, "records[%zu].updatedAt: required", i), false;
    if (!json_is_string(updated) || !wh_parse_iso8601(wh_str(json_string_value(updated), json_string_length(updated)), at) ||
        *at < 0)
        return wh_errf(errbuf, WH_EINVAL, "records[%zu].updatedAt: must be an ISO 8601 date-time", i), false;
    json_object_foreach((json_t *)rec, name, v)
    {
        if (strcmp(name, "additional") == 0) {
            if (!json_is_object(v) && !json_is_null(v))
                return wh_errf(errbuf, WH_EINVAL, "records[%zu].additional: must be an object", i), false;
            continue;
        }
        if (!field_name_valid(name))
            return wh_errf(errbuf, WH_EINVAL,
                           "records[%zu].%.64s: not a unified field name (camelCase; provider properties go under "
                           "\"additional\")",
                           i, name),
                   false;
        /* Unified fields are values or lists of values; anything nested belongs under "additional". */
        if (json_is_object(v))
            return wh_errf(errbuf, WH_EINVAL, "records[%zu].%s: objects are only allowed under \"additional\"", i, name), false;
        if (json_is_array(v)) {
            size_t k;
            const json_t *item;
            json_array_foreach(v, k, item)
            {
                if (!is_scalar(item))
                    return wh_errf(errbuf, WH_EINVAL, "records[%zu].%s[%zu]: nested values are only allowed under \"additional\"",
                                   i, name, k),
                           false;
            }
        }
    }
    return true;
}

static void on_queued(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sync_records_t *s = data;

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "notfound") == 0) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such connection");
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, "ok") != 0) {
        wh_api__reply_internal(&s->call, "conn_sync: unexpected reply");
        return;
    }
    wh_api__reply_json(&s->call, 202, json_pack("{s:I}", "accepted", (json_int_t)s->n));
}

/*
 * Packs the records as entries of at most WH_MAX_BATCH envelopes (what one ingest entry holds, so the worker
 * reads them like webhook entries) and queues them all with one script call.
 */
static void queue_records(sync_records_t *s, const char *integration)
{
    const wh_envelope_ctx_t ectx = {s->call.id, s->call.env, integration, s->source, wh_now_ms()};
    const json_t *records = json_object_get(s->call.body, "records");
    size_t nentries = (s->n + WH_MAX_BATCH - 1) / WH_MAX_BATCH, argc = 2 + nentries;
    msgpack_sbuffer *bufs = calloc(nentries, sizeof(*bufs));
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *argvlen = calloc(argc, sizeof(*argvlen));
    char stream_key[WH_KEY_MAX];

    if (bufs == NULL || argv == NULL || argvlen == NULL)
        abort();
    for (size_t e = 0; e != nentries; ++e) {
        size_t first = e * WH_MAX_BATCH, count = s->n - first < WH_MAX_BATCH ? s->n - first : WH_MAX_BATCH;
        msgpack_packer pk;
        msgpack_sbuffer_init(&bufs[e]);
        msgpack_packer_init(&pk, &bufs[e], msgpack_sbuffer_write);
        msgpack_pack_array(&pk, count);
        for (size_t i = first; i != first + count; ++i) {
            const json_t *rec = json_array_get(records, i);
            const char *id = json_string_value(json_object_get(rec, "id"));
            char event_id[WH_EVENT_ID_LEN + 1];
            wh_change_t c = {.object_type = s->type->name, .action = WH_ACTION_UPDATED, .occurred_at_ms = s->occurred_at[i]};
            size_t idlen = json_string_length(json_object_get(rec, "id"));
            memcpy(c.object_id, id, idlen); /* at most WH_MAX_ID_LEN: checked by record_valid */
            c.object_id[idlen] = '\0';
            /* updatedAt stays a field: the cache indexes it for every type. */
            c.fields = json_copy((json_t *)rec);
            if (c.fields == NULL)
                abort();
            json_object_del(c.fields, "id");
            if (json_is_null(json_object_get(c.fields, "additional")))
                json_object_del(c.fields, "additional");
            wh_random_id("evt_", 16, event_id, sizeof(event_id));
            wh_envelope_pack(&pk, &ectx, &c, event_id);
            json_decref(c.fields);
        }
        argv[2 + e] = bufs[e].data;
        argvlen[2 + e] = bufs[e].size;
    }
    argv[0] = stream_key;
    argvlen[0] = (size_t)wh_key_stream(stream_key, wh_partition_of(s->call.id));
    argv[1] = s->call.id;
    argvlen[1] = strlen(s->call.id);
    wh_api__script(&s->call, &wh_script_conn_sync, on_queued, 1, (int)argc, argv, argvlen);
    for (size_t e = 0; e != nentries; ++e)
        msgpack_sbuffer_destroy(&bufs[e]);
    free(argvlen);
    free(argv);
    free(bufs);
}

static void on_connection(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    sync_records_t *s = data;
    char integration[WH_API_ID_MAX + 1];

    if (!wh_api__reply_usable(&s->call, reply, err))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        wh_api__reply_internal(&s->call, "HMGET: unexpected reply");
        return;
    }
    /* Another environment's connection is answered exactly like a missing one. */
    if (reply->element[0]->type != REDIS_REPLY_STRING ||
        !wh_str_eq(wh_str(reply->element[0]->str, (size_t)reply->element[0]->len), wh_str_c(s->call.env))) {
        wh_api__reply_error(&s->call, 404, "not_found", "no such connection");
        return;
    }
    if (reply->element[1]->type != REDIS_REPLY_STRING || reply->element[1]->len > WH_API_ID_MAX) {
        wh_api__reply_internal(&s->call, "connection record without an integration");
        return;
    }
    /* Copied: `reply` is freed when this callback returns, and queue_records may finish the call. */
    memcpy(integration, reply->element[1]->str, (size_t)reply->element[1]->len);
    integration[reply->element[1]->len] = '\0';
    queue_records(s, integration);
}

static void sync_records_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"objectType", "records", "source", NULL};
    sync_records_t *s = (sync_records_t *)call;
    char errbuf[WH_ERRBUF_SIZE], key[WH_KEY_MAX];
    const char *type = NULL, *source = NULL;
    const char *argv[4] = {"HMGET", key, "env", "integration"};
    size_t argvlen[4] = {5, 0, 3, 11};
    const json_t *records;
    int got;

    if (!wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "objectType", 1, 64, &type, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "objectType: required");
        goto Invalid;
    }
    s->type = wh_object_type_find(wh_str_c(type));
    if (s->type == NULL) {
        wh_errf(errbuf, WH_EINVAL,
                "objectType: \"%.64s\" is not a unified object type (contact, account, deal, lead, task, note, user, event, "
                "call, email)",
                type);
        goto Invalid;
    }
    got = wh_api__get_string(call->body, "source", 1, 16, &source, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0 || strcmp(source, "sync") == 0) {
        s->source = "sync";
    } else if (strcmp(source, "api") == 0) {
        s->source = "api";
    } else {
        wh_errf(errbuf, WH_EINVAL, "source: must be \"sync\" or \"api\"");
        goto Invalid;
    }
    records = json_object_get(call->body, "records");
    if (records == NULL || json_is_null(records)) {
        wh_errf(errbuf, WH_EINVAL, "records: required");
        goto Invalid;
    }
    if (!json_is_array(records) || json_array_size(records) == 0 || json_array_size(records) > RECORDS_MAX) {
        wh_errf(errbuf, WH_EINVAL, "records: must be an array of 1 to %d records", RECORDS_MAX);
        goto Invalid;
    }
    s->n = json_array_size(records);
    s->occurred_at = calloc(s->n, sizeof(*s->occurred_at));
    if (s->occurred_at == NULL)
        abort();
    for (size_t i = 0; i != s->n; ++i)
        if (!record_valid(json_array_get(records, i), i, &s->occurred_at[i], errbuf))
            goto Invalid;
    argvlen[1] = (size_t)wh_key_conn(key, call->id);
    wh_api__command(call, on_connection, 4, argv, argvlen);
    return;
Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
}

static void sync_records_dispose(wh_api_call_t *call)
{
    free(((sync_records_t *)call)->occurred_at);
}

const wh_api_op_t wh_api__sync_records = {sync_records_start, sync_records_dispose, sizeof(sync_records_t), true};
