/*
 * Outgoing event bodies (design §7), built once per event and shared by its deliveries.
 */
#include "worker_int.h"

/* Design §7 body. `ev` is an envelope object; `_object` (the cached record) is used when present. */
char *wk_build_body(const json_t *ev, const char *type, size_t *len)
{
    char occurred[WH_ISO8601_LEN], now[WH_ISO8601_LEN];
    json_t *data, *root, *v;
    char *text;

    wh_iso8601(wh_now_ms(), now);
    if (json_is_true(json_object_get(ev, "_system"))) {
        /* system events: their data as written, stamped with their event id */
        data = json_deep_copy(json_object_get(ev, "data"));
        json_object_set(data, "eventId", json_object_get(ev, "eventId"));
        goto Wrap;
    }
    wh_iso8601(json_integer_value(json_object_get(ev, "occurredAt")), occurred);
    data = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:s}", "eventId", json_object_get(ev, "eventId"), "connectionId",
                     json_object_get(ev, "connectionId"), "integrationId", json_object_get(ev, "integrationId"), "objectType",
                     json_object_get(ev, "objectType"), "objectId", json_object_get(ev, "objectId"), "action",
                     json_object_get(ev, "action"), "occurredAt", occurred);
    v = json_object_get(ev, "changedFields");
    json_object_set_new(data, "changedFields", json_is_array(v) ? json_incref(v) : json_array());
    if ((v = json_object_get(ev, "previous")) != NULL)
        json_object_set(data, "previous", v);
    /* a thin event carries ids only: its cached record is stale, and it has no fields of its own */
    if (!json_is_true(json_object_get(ev, "thin"))) {
        if ((v = json_object_get(ev, "_object")) != NULL)
            json_object_set(data, "object", v);
        else
            json_object_set(data, "fields", json_object_get(ev, "fields"));
    }
    if ((v = json_object_get(ev, "extra")) != NULL)
        json_object_set(data, "details", v);
    json_object_set_new(data, "thin", json_boolean(json_is_true(json_object_get(ev, "thin"))));
Wrap:
    root = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", now, "data", data);
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        abort();
    *len = strlen(text);
    return text;
}

/* The outgoing type of an envelope object: "crm.<objectType>.<action>", or a system event's own. */
void wk_event_type(const json_t *ev, char *buf, size_t size)
{
    if (json_is_true(json_object_get(ev, "_system")))
        snprintf(buf, size, "%s", json_string_value(json_object_get(ev, "type")));
    else
        snprintf(buf, size, "crm.%s.%s", json_string_value(json_object_get(ev, "objectType")),
                 json_string_value(json_object_get(ev, "action")));
}
