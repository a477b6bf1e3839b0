#include <string.h>
#include "../common/limits.h"
#include "envelope.h"
#include <msgpack/unpack_define.h>

_Static_assert(MSGPACK_EMBED_STACK_SIZE >= WH_MAX_ENVELOPE_DEPTH, "msgpack-c cannot unpack envelopes this deep");

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    pack_cstr(pk, k);
    pack_cstr(pk, v);
}

void wh_msgpack_pack_json(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach((json_t *)v, key, val)
        {
            pack_cstr(pk, key);
            wh_msgpack_pack_json(pk, val);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, val) wh_msgpack_pack_json(pk, val);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        break;
    }
}

json_t *wh_msgpack_to_json(const msgpack_object *o, int depth)
{
    json_t *out = NULL;

    /* `depth` containers enclose this object: one more container is allowed only below the bound */
    if ((o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP) && depth >= WH_MAX_ENVELOPE_DEPTH)
        return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        out = json_array();
        for (uint32_t i = 0; i != o->via.array.size; ++i) {
            json_t *v = wh_msgpack_to_json(&o->via.array.ptr[i], depth + 1);
            if (v == NULL || json_array_append_new(out, v) != 0)
                goto Fail;
        }
        return out;
    case MSGPACK_OBJECT_MAP:
        out = json_object();
        for (uint32_t i = 0; i != o->via.map.size; ++i) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            json_t *v;
            if (kv->key.type != MSGPACK_OBJECT_STR)
                goto Fail;
            v = wh_msgpack_to_json(&kv->val, depth + 1);
            if (v == NULL || json_object_setn_new(out, kv->key.via.str.ptr, kv->key.via.str.size, v) != 0)
                goto Fail;
        }
        return out;
    default: /* BIN, EXT: never written by wharf */
        return NULL;
    }
Fail:
    json_decref(out);
    return NULL;
}

void wh_envelope_pack(msgpack_packer *pk, const wh_envelope_ctx_t *ctx, const wh_change_t *c, const char *event_id)
{
    size_t n = 15 + (c->changed_fields != NULL) + (c->previous != NULL) + (c->extra != NULL);

    msgpack_pack_map(pk, n);
    pack_cstr(pk, "v");
    msgpack_pack_int(pk, WH_ENVELOPE_VERSION);
    pack_kv_str(pk, "eventId", event_id);
    pack_kv_str(pk, "connectionId", ctx->connection_id);
    pack_kv_str(pk, "environmentId", ctx->environment_id);
    pack_kv_str(pk, "integrationId", ctx->integration_id);
    pack_kv_str(pk, "objectType", c->object_type);
    pack_kv_str(pk, "action", c->action);
    pack_kv_str(pk, "objectId", c->object_id);
    pack_cstr(pk, "occurredAt");
    msgpack_pack_int64(pk, c->occurred_at_ms);
    pack_cstr(pk, "receivedAt");
    msgpack_pack_int64(pk, ctx->received_at_ms);
    pack_kv_str(pk, "source", ctx->source);
    pack_kv_str(pk, "providerEventId", c->provider_event_id);
    pack_kv_str(pk, "account", c->account);
    pack_cstr(pk, "fields");
    if (c->fields != NULL)
        wh_msgpack_pack_json(pk, c->fields);
    else
        msgpack_pack_map(pk, 0);
    pack_cstr(pk, "thin");
    if (c->thin)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    if (c->changed_fields != NULL) {
        pack_cstr(pk, "changedFields");
        wh_msgpack_pack_json(pk, c->changed_fields);
    }
    if (c->previous != NULL) {
        pack_cstr(pk, "previous");
        wh_msgpack_pack_json(pk, c->previous);
    }
    if (c->extra != NULL) {
        pack_cstr(pk, "extra");
        wh_msgpack_pack_json(pk, c->extra);
    }
}

static const char *const required_strings[] = {"eventId",    "connectionId", "environmentId", "integrationId",
                                               "objectType", "action",       "objectId",      "source"};

wh_err_t wh_envelope_unpack(const char *buf, size_t len, json_t **out, char *errbuf)
{
    msgpack_unpacked u;
    size_t off = 0;
    json_t *arr = NULL, *ev;
    wh_err_t err = WH_EMALFORMED;
    size_t i;

    *out = NULL;
    if (len > WH_MAX_ENTRY_BYTES)
        return wh_errf(errbuf, WH_ETOO_LARGE, "entry of %zu bytes", len);
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len || u.data.type != MSGPACK_OBJECT_ARRAY) {
        wh_errf(errbuf, WH_EMALFORMED, "entry is not one msgpack array");
        goto Exit;
    }
    if ((arr = wh_msgpack_to_json(&u.data, 0)) == NULL) {
        wh_errf(errbuf, WH_EMALFORMED, "entry does not convert (depth or types)");
        goto Exit;
    }
    json_array_foreach(arr, i, ev)
    {
        json_t *v = json_object_get(ev, "v");
        if (!json_is_object(ev) || !json_is_integer(v)) {
            wh_errf(errbuf, WH_EMALFORMED, "event %zu: not a versioned envelope", i);
            goto Exit;
        }
        if (json_integer_value(v) > WH_ENVELOPE_VERSION) {
            err = wh_errf(errbuf, WH_EUNSUPPORTED, "event %zu: envelope version %lld is newer than this build", i,
                          (long long)json_integer_value(v));
            goto Exit;
        }
        for (size_t k = 0; k != sizeof(required_strings) / sizeof(required_strings[0]); ++k) {
            if (!json_is_string(json_object_get(ev, required_strings[k]))) {
                wh_errf(errbuf, WH_EMALFORMED, "event %zu: %s missing", i, required_strings[k]);
                goto Exit;
            }
        }
        if (!json_is_integer(json_object_get(ev, "occurredAt")) || !json_is_object(json_object_get(ev, "fields"))) {
            wh_errf(errbuf, WH_EMALFORMED, "event %zu: occurredAt or fields missing", i);
            goto Exit;
        }
    }
    *out = arr;
    arr = NULL;
    err = WH_OK;
Exit:
    json_decref(arr);
    msgpack_unpacked_destroy(&u);
    return err;
}
