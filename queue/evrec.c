#include "evrec.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "../common/time.h"

/*
 * The version-1 preset dictionary: what unified event bodies (dispatch/body.c, design §7) repeat, the most common
 * last (deflate reaches the end of a dictionary with the shortest distances). Never edit it: records written with
 * it must stay readable. A better one is a new marker byte and a second dictionary.
 */
static const char dict_v1[] =
    "\"previous\":{\"details\":{\"object\":{\"id\":\"\"name\":\"title\":\"description\":\"status\":\"stage\":\"amount\":"
    "\"currency\":\"USD\",\"closeDate\":\"ownerId\":\"companyId\":\"contactId\":\"dealId\":\"accountId\":\"domain\":"
    "\"website\":\"industry\":\"jobTitle\":\"company\":\"leadStatus\":\"lifecycleStage\":\"phone\":\"+1\"mobile\":"
    "\"address\":\"city\":\"country\":\"createdAt\":\"updatedAt\":\"firstName\":\"lastName\":\"email\":\"@example.com\""
    "{\"type\":\"system.connection.\"integrationId\":\"salesforce\",\"pipedrive\",\"dynamics365\",\"zoho\",\"close\","
    "\"attio\",\"hubspot\",\"objectType\":\"company\",\"deal\",\"task\",\"note\",\"account\",\"lead\",\"contact\","
    "\"action\":\"deleted\",\"created\",\"updated\",\"changedFields\":[\"fields\":{\"thin\":false}}"
    "{\"type\":\"crm.contact.updated\",\"timestamp\":\"2026-12-07T12:00:00.000Z\",\"data\":{\"eventId\":\"evt_\","
    "\"connectionId\":\"conn_\",\"integrationId\":\"hubspot\",\"objectType\":\"contact\",\"objectId\":\""
    "\",\"action\":\"updated\",\"occurredAt\":\"2026-12-07T12:00:00.000Z\",\"changedFields\":[\"";

/* One deflate stream per thread, reset for every body (setting a stream up allocates ~256 KiB); freed when the
   thread exits. */
static pthread_key_t deflate_key;
static pthread_once_t deflate_once = PTHREAD_ONCE_INIT;

static void deflate_free(void *p)
{
    deflateEnd(p);
    free(p);
}

static void deflate_key_init(void)
{
    if (pthread_key_create(&deflate_key, deflate_free) != 0)
        abort();
}

static z_stream *thread_deflate(void)
{
    z_stream *z;

    pthread_once(&deflate_once, deflate_key_init);
    if ((z = pthread_getspecific(deflate_key)) != NULL)
        return z;
    /* level 6, raw deflate (no zlib header: the marker byte says what follows), the default 32 KiB window */
    if ((z = calloc(1, sizeof(*z))) == NULL || deflateInit2(z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
        pthread_setspecific(deflate_key, z) != 0)
        abort();
    return z;
}

void wh_evrec_put_body(wh_argv_t *a, const char *body, size_t len)
{
    z_stream *z = thread_deflate();
    size_t start = a->len, room;
    unsigned char marker = WH_EVREC_DEFLATE_V1;

    if (len > UINT32_MAX / 2 || deflateReset(z) != Z_OK ||
        deflateSetDictionary(z, (const Bytef *)dict_v1, (uInt)(sizeof(dict_v1) - 1)) != Z_OK) {
        wh_argv_put(a, body, len);
        return;
    }
    room = deflateBound(z, (uLong)len);
    wh_argv_put(a, &marker, 1);
    wh_argv_reserve(a, room);
    z->next_in = (Bytef *)(uintptr_t)body;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)a->buf + a->len;
    z->avail_out = (uInt)room;
    if (deflate(z, Z_FINISH) != Z_STREAM_END || 1 + room - z->avail_out >= len) {
        /* it did not shrink (or could not be compressed): stored as it is */
        a->len = start;
        wh_argv_put(a, body, len);
        return;
    }
    a->len += room - z->avail_out;
    a->buf[a->len] = '\0';
}

bool wh_evrec_body(const char *stored, size_t len, char **out, size_t *out_len)
{
    z_stream z;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc;

    if (len == 0 || (unsigned char)stored[0] != WH_EVREC_DEFLATE_V1) {
        if (len > WH_EVREC_MAX_BODY || (buf = malloc(len + 1)) == NULL)
            return false;
        memcpy(buf, stored, len);
        buf[len] = '\0';
        *out = buf;
        *out_len = len;
        return true;
    }
    if (len - 1 > UINT32_MAX)
        return false;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -15) != Z_OK)
        return false;
    if (inflateSetDictionary(&z, (const Bytef *)dict_v1, (uInt)(sizeof(dict_v1) - 1)) != Z_OK)
        goto Fail;
    z.next_in = (Bytef *)(uintptr_t)(stored + 1);
    z.avail_in = (uInt)(len - 1);
    do {
        if (n + 1 >= cap) { /* room for more, and for the NUL */
            char *grown;
            cap = cap == 0 ? 4 * len + 256 : 2 * cap;
            if (cap > WH_EVREC_MAX_BODY + 1)
                cap = WH_EVREC_MAX_BODY + 1;
            if (n + 1 >= cap || (grown = realloc(buf, cap)) == NULL)
                goto Fail; /* past the bound: corrupt (or a bomb) */
            buf = grown;
        }
        z.next_out = (Bytef *)buf + n;
        z.avail_out = (uInt)(cap - 1 - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - 1 - z.avail_out;
        /* anything but progress (Z_OK), a full buffer (Z_BUF_ERROR with input left) or the end is a failure */
        if ((rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) || (rc == Z_BUF_ERROR && z.avail_in == 0))
            goto Fail;
    } while (rc != Z_STREAM_END);
    if (z.avail_in != 0) /* bytes after the end of the stream */
        goto Fail;
    inflateEnd(&z);
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
Fail:
    inflateEnd(&z);
    free(buf);
    return false;
}

bool wh_evrec_split(const char *rec, size_t len, json_t **header, char **body, size_t *body_len)
{
    const char *nl = rec != NULL ? memchr(rec, '\n', len) : NULL;
    json_t *h, *v;

    if (nl == NULL || (h = json_loadb(rec, (size_t)(nl - rec), 0, NULL)) == NULL)
        return false;
    if (!json_is_object(h) || !wh_evrec_body(nl + 1, len - (size_t)(nl - rec) - 1, body, body_len)) {
        json_decref(h);
        return false;
    }
    if (!json_is_object(json_object_get(h, "s")))
        json_object_set_new(h, "s", json_object());
    /* Lua's cjson encodes an empty array as {} */
    if (!json_is_array(v = json_object_get(h, "a")))
        json_object_set_new(h, "a", json_array());
    *header = h;
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
