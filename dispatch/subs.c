/*
 * Subscriptions: an environment's subscriptions parsed per batch (secrets opened once per sealed value), matching, and their health
 * (failure streaks, disabling).
 */
#include "worker_int.h"

static bool open_key(wh_worker_t *w, const char *id, const json_t *sealed, uint8_t *key, size_t *keylen);
static uint64_t sub_hash(const char *env, const char *sub);
static void on_sub_fail(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/*
 * Opens a sealed subscription secret into a signing key. A sealed value names one secret for good (a new secret
 * is sealed anew, with a fresh nonce), so what was opened once is kept by its sealed text and owner id.
 */
static bool open_key(wh_worker_t *w, const char *id, const json_t *sealed, uint8_t *key, size_t *keylen)
{
    const char *text = json_string_value(sealed);
    size_t tlen = json_string_length(sealed);
    uint64_t h = 1469598103934665603ULL;
    wk_key_cache_t *slot;
    char *secret = NULL;
    size_t slen;
    bool ok;

    for (size_t i = 0; i != tlen; ++i)
        h = (h ^ (uint8_t)text[i]) * 1099511628211ULL;
    for (const char *p = id; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    slot = &w->keys[h % KEY_CACHE_SLOTS];
    if (slot->sealed != NULL && slot->hash == h && strcmp(slot->sealed, text) == 0 && strcmp(slot->id, id) == 0) {
        memcpy(key, slot->key, slot->keylen);
        *keylen = slot->keylen;
        return true;
    }
    if (wh_secret_open(w->cfg, wh_str_c(id), wh_str(text, tlen), &secret, &slen) != WH_OK) {
        wh_log_error("subscription_secret_unreadable", "{s:s}", "subscriptionId", id);
        return false;
    }
    ok = wh_sign_key_from_secret(wh_str(secret, slen), key, keylen) == WH_OK;
    OPENSSL_cleanse(secret, slen);
    free(secret);
    if (ok && strlen(id) <= WH_MAX_ID_LEN) {
        free(slot->sealed);
        OPENSSL_cleanse(slot->key, sizeof(slot->key));
        if ((slot->sealed = strdup(text)) == NULL)
            abort();
        slot->hash = h;
        snprintf(slot->id, sizeof(slot->id), "%s", id);
        memcpy(slot->key, key, *keylen);
        slot->keylen = *keylen;
    }
    return ok;
}

bool wk_sub_active(const json_t *j)
{
    const char *status = json_string_value(json_object_get(j, "status"));
    return status == NULL || strcmp(status, "active") == 0;
}

/*
 * Parses one stored subscription (see gateway/api_subscriptions.c for its shape) of environment `env`. False if
 * unusable or not active. While a rotated-out secret still overlaps (previousSecretUntil), it signs too.
 */
bool wk_sub_parse(wh_worker_t *w, json_t *j, const char *env, wk_sub_t *s)
{
    const char *id = json_string_value(json_object_get(j, "subscriptionId"));
    const char *url = json_string_value(json_object_get(j, "url"));
    const char *status = json_string_value(json_object_get(j, "status"));
    json_t *sealed = json_object_get(j, "secret"), *old = json_object_get(j, "previousSecret");
    long long until = 0;

    (void)status;
    memset(s, 0, sizeof(*s));
    if (id == NULL || url == NULL || strlen(id) > WH_MAX_ID_LEN || strlen(env) > WH_MAX_ID_LEN ||
        !json_is_array(json_object_get(j, "eventTypes")) || !json_is_string(sealed) || !wk_sub_active(j))
        return false;
    if (!open_key(w, id, sealed, s->key, &s->keylen))
        return false;
    if (json_is_string(old) && json_is_string(json_object_get(j, "previousSecretUntil")) &&
        wh_str_to_i64(wh_str_c(json_string_value(json_object_get(j, "previousSecretUntil"))), &until) && until > wh_now_ms() &&
        !open_key(w, id, old, s->old_key, &s->old_keylen))
        s->old_keylen = 0;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->env, sizeof(s->env), "%s", env);
    {
        json_int_t c = json_integer_value(json_object_get(j, "maxConcurrency")),
                   r = json_integer_value(json_object_get(j, "rateLimitPerSecond"));
        s->max_concurrency = c >= 1 && c <= 100000 ? (unsigned)c : WH_DEFAULT_SUB_CONCURRENCY;
        s->rate = r >= 1 && r <= INT32_MAX ? (unsigned)r : 0;
    }
    s->ordered = json_is_true(json_object_get(j, "ordered"));
    s->types = json_object_get(j, "eventTypes");
    s->conn_ids = json_object_get(j, "connectionIds");
    if (!json_is_array(s->conn_ids))
        s->conn_ids = NULL;
    if ((s->url = strdup(url)) == NULL)
        abort();
    return true;
}

bool wk_sub_wants(const wk_sub_t *s, const char *type, const char *conn)
{
    size_t i;
    json_t *v;
    bool any = false;

    if (s->conn_ids != NULL) {
        json_array_foreach(s->conn_ids, i, v) if (json_is_string(v) && strcmp(json_string_value(v), conn) == 0) any = true;
        if (!any)
            return false;
    }
    json_array_foreach(s->types, i, v)
    {
        if (json_is_string(v) && wh_event_type_matches(wh_str(json_string_value(v), json_string_length(v)), wh_str_c(type)))
            return true;
    }
    return false;
}

void wk_env_subs_dispose(wk_env_subs_t *e)
{
    for (size_t i = 0; i != e->n; ++i) {
        free(e->subs[i].url);
        OPENSSL_cleanse(e->subs[i].key, sizeof(e->subs[i].key));
        OPENSSL_cleanse(e->subs[i].old_key, sizeof(e->subs[i].old_key));
    }
    free(e->subs);
    json_decref(e->raw);
}

/* ---- subscription health: failure streaks and disabling (design §7) ----------------------------------------- */

static uint64_t sub_hash(const char *env, const char *sub)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = env; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = sub; *p != '\0'; ++p)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h | 1; /* never 0: 0 marks an empty slot */
}

/* A success ends the subscription's failure streak; said to Redis at most every HEALTHY_RECHECK_MS per worker. */
void wk_sub_succeeded(wh_worker_t *w, const wk_delivery_t *d)
{
    uint64_t h = sub_hash(d->env, d->sub);
    int64_t now = wh_now_ms();
    char key[WH_KEY_MAX];

    if (w->healthy[h % HEALTHY_SLOTS].hash == h && now - w->healthy[h % HEALTHY_SLOTS].at < HEALTHY_RECHECK_MS)
        return;
    w->healthy[h % HEALTHY_SLOTS].hash = h;
    w->healthy[h % HEALTHY_SLOTS].at = now;
    wh_key_subfail(key, d->env);
    const char *argv[] = {"HDEL", key, d->sub};
    wh_redis_command(w->cmd, NULL, NULL, 3, argv, NULL);
}

static void on_sub_fail(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    char *sub = data, *env = sub + strlen(sub) + 1; /* "<sub>\0<env>\0" */
    if (err == WH_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        char outbox[WH_KEY_MAX];
        wh_metric_inc(WH_METRIC_SUBSCRIPTIONS_DISABLED);
        wh_log_warn("subscription_disabled", "{s:s}", "subscriptionId", sub);
        /* system.subscription.disabled waits in the environment's outbox: to its stream now */
        wh_key_outbox_env(outbox, env);
        wh_outbox_drain(r, outbox, NULL, NULL);
    } else if (err != WH_OK)
        wh_log_warn("subscription_health_failed", "{s:s, s:s}", "subscriptionId", sub, "error",
                    err == WH_EINTERNAL ? reply->str : wh_err_name(err));
    free(sub);
}

/*
 * A delivery failed: extends the subscription's failure streak, and disables it (once, with a
 * system.subscription.disabled event) when the streak passes WHARF_DISABLE_AFTER, or at once when `gone`.
 */
void wk_sub_failed(wh_worker_t *w, const wk_delivery_t *d, bool gone, const char *reason)
{
    uint64_t h = sub_hash(d->env, d->sub);
    char subs[WH_KEY_MAX], fail[WH_KEY_MAX], outbox[WH_KEY_MAX], stream[WH_KEY_MAX], now[24], after[24], iso[WH_ISO8601_LEN],
        event_id[WH_EVENT_ID_LEN + 1];
    size_t sublen = strlen(d->sub), envlen = strlen(d->env);
    int64_t t = wh_now_ms();
    char *tag;

    if (w->healthy[h % HEALTHY_SLOTS].hash == h)
        w->healthy[h % HEALTHY_SLOTS].at = 0;
    wh_key_subs(subs, d->env);
    wh_key_subfail(fail, d->env);
    wh_key_outbox_env(outbox, d->env);
    wh_key_stream(stream, wh_partition_of(d->sub));
    snprintf(now, sizeof(now), "%lld", (long long)t);
    snprintf(after, sizeof(after), "%lld", (long long)w->cfg->disable_after_ms);
    wh_iso8601(t, iso);
    {
        uint8_t random[16];
        wh_random_bytes(random, sizeof(random));
        memcpy(event_id, "evt_", 4);
        wh_hex_encode(random, sizeof(random), event_id + 4);
    }
    const char *argv[] = {subs, fail, outbox, d->sub, now, after, gone ? "1" : "0", reason, iso, event_id, d->env, stream};
    if ((tag = malloc(sublen + envlen + 2)) == NULL)
        abort();
    memcpy(tag, d->sub, sublen + 1);
    memcpy(tag + sublen + 1, d->env, envlen + 1);
    if (wh_redis_script(w->cmd, &wh_script_sub_fail, on_sub_fail, tag, 3, 12, argv, NULL) != WH_OK)
        free(tag);
}

wk_env_subs_t *wk_env_of(wk_batch_t *b, const char *env)
{
    for (size_t i = 0; i != b->nenvs; ++i)
        if (strcmp(b->envs[i]->env, env) == 0)
            return b->envs[i];
    return NULL;
}

wk_env_subs_t *wk_env_add(wk_batch_t *b, const char *env)
{
    wk_env_subs_t *es = calloc(1, sizeof(*es));
    if (es == NULL)
        abort();
    if (b->nenvs == b->cap_envs) {
        b->cap_envs = b->cap_envs == 0 ? 4 : b->cap_envs * 2;
        if ((b->envs = realloc(b->envs, b->cap_envs * sizeof(*b->envs))) == NULL)
            abort();
    }
    snprintf(es->env, sizeof(es->env), "%s", env);
    b->envs[b->nenvs++] = es;
    return es;
}

void wk_on_subs(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_subs_lookup_t *l = data;
    wk_batch_t *b = l->b;
    wk_env_subs_t *es = l->es;

    free(l);
    if (err == WH_OK && reply->type == REDIS_REPLY_ARRAY) {
        es->raw = json_array();
        es->subs = reply->elements != 0 ? calloc(reply->elements / 2, sizeof(*es->subs)) : NULL;
        for (size_t i = 0; i + 1 < reply->elements && es->n < WH_MAX_SUBSCRIPTIONS_PER_ENV; i += 2) {
            json_t *j = json_loadb(reply->element[i + 1]->str, reply->element[i + 1]->len, 0, NULL);
            if (j == NULL)
                continue;
            json_array_append_new(es->raw, j);
            if (wk_sub_parse(b->w, j, es->env, &es->subs[es->n]))
                ++es->n;
        }
    } else {
        wh_log_warn("subscriptions_unavailable", "{s:s}", "environmentId", es->env);
        b->abandon = true;
    }
    if (--b->outstanding == 0)
        wk_batch_fan_out(b);
}
