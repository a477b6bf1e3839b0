#include "evrec.h"
#include <string.h>
#include "../common/time.h"

bool wh_evrec_split(const char *rec, size_t len, json_t **header, const char **body, size_t *body_len)
{
    const char *nl = rec != NULL ? memchr(rec, '\n', len) : NULL;
    json_t *h, *v;

    if (nl == NULL || (h = json_loadb(rec, (size_t)(nl - rec), 0, NULL)) == NULL)
        return false;
    if (!json_is_object(h)) {
        json_decref(h);
        return false;
    }
    if (!json_is_object(json_object_get(h, "s")))
        json_object_set_new(h, "s", json_object());
    /* Lua's cjson encodes an empty array as {} */
    if (!json_is_array(v = json_object_get(h, "a")))
        json_object_set_new(h, "a", json_array());
    *header = h;
    *body = nl + 1;
    *body_len = len - (size_t)(nl - rec) - 1;
    return true;
}

json_t *wh_evrec_attempt(const json_t *compact, const char *webhook_id)
{
    const char *sub = json_string_value(json_array_get(compact, 0));
    json_t *out, *v;
    char at[WH_ISO8601_LEN];

    if (!json_is_array(compact) || sub == NULL || !json_is_integer(json_array_get(compact, 2)))
        return NULL;
    wh_iso8601((int64_t)json_integer_value(json_array_get(compact, 2)), at);
    out = json_pack("{s:s, s:s, s:I, s:s, s:I}", "subscriptionId", sub, "webhookId", webhook_id, "attempt",
                    json_integer_value(json_array_get(compact, 1)), "attemptedAt", at, "latencyMs",
                    json_integer_value(json_array_get(compact, 3)));
    if (out == NULL)
        return NULL;
    if (json_integer_value(json_array_get(compact, 4)) != 0)
        json_object_set(out, "statusCode", json_array_get(compact, 4));
    if (json_is_string(v = json_array_get(compact, 5)))
        json_object_set(out, "error", v);
    if (json_is_string(v = json_array_get(compact, 6)))
        json_object_set(out, "errorMessage", v);
    if (json_is_string(v = json_array_get(compact, 7)))
        json_object_set(out, "responseBody", v);
    if (json_is_true(json_array_get(compact, 8)))
        json_object_set_new(out, "responseBodyTruncated", json_true());
    return out;
}
