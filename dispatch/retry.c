/*
 * Retries: due tasks (retries, ordered deliveries, expired leases) leased back from Redis by claim.lua.
 */
#include "worker_int.h"
#include "../queue/evrec.h"

static void on_claimed_sub(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);
static void on_claim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data);

/* ---- retries and reclaims --------------------------------------------------------------------------------- */

typedef struct {
    wh_worker_t *w;
    unsigned part;
    unsigned attempt;
    char id[WH_WEBHOOK_ID_LEN + 1];
    char sub[WH_MAX_ID_LEN + 1];
    char env[WH_MAX_ID_LEN + 1];
    wh_body_t *body;
} wk_claimed_t;

static void on_claimed_sub(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_claimed_t *c = data;
    wh_worker_t *w = c->w;
    json_t *j = NULL;
    wk_sub_t s;

    if (err != WH_OK) {
        /* the lease expires and the delivery comes back */
    } else if (reply->type == REDIS_REPLY_STRING && (j = json_loadb(reply->str, reply->len, 0, NULL)) != NULL &&
               !wk_sub_active(j)) {
        /* disabled: no further attempts; kept as a dead letter, so enable + replay can send it again */
        wh_log_info("delivery_dead", "{s:s, s:s, s:s}", "deliveryId", c->id, "subscriptionId", c->sub, "reason",
                    "subscription disabled");
        wk_record(w, c->part, c->id, "dead", 0, c->attempt, 0, "subscription disabled", NULL);
    } else if (j == NULL || !wk_sub_parse(w, j, c->env, &s)) {
        wh_log_info("delivery_dropped", "{s:s, s:s, s:s}", "deliveryId", c->id, "subscriptionId", c->sub, "reason",
                    "subscription deleted or unusable");
        wk_record(w, c->part, c->id, "drop", 0, c->attempt, 0, "subscription gone", NULL);
    } else {
        wk_enqueue(w, wk_delivery_new(w, c->part, c->id, c->attempt, &s, c->body));
        free(s.url);
        OPENSSL_cleanse(s.key, sizeof(s.key));
        OPENSSL_cleanse(s.old_key, sizeof(s.old_key));
    }
    json_decref(j);
    wh_body_release(c->body);
    free(c);
    wk_pump(w);
}

wk_part_call_t *wk_part_call(wh_worker_t *w, unsigned part)
{
    wk_part_call_t *c = malloc(sizeof(*c));
    if (c == NULL)
        abort();
    c->w = w;
    c->part = part;
    return c;
}

static void on_claim(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    wk_part_call_t *pc = data;
    wh_worker_t *w = pc->w;
    unsigned part = pc->part;

    free(pc);
    --w->claiming;
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY)
        return;
    /* rows of 8: id, attempt, sub, env, conn, type, event, body */
    for (size_t i = 0; i + 7 < reply->elements; i += 8) {
        redisReply **row = &reply->element[i];
        wk_claimed_t *c;
        char key[WH_KEY_MAX], *body;
        size_t body_len;
        long long attempt = 0;
        if (row[0]->type != REDIS_REPLY_STRING || row[2]->type != REDIS_REPLY_STRING || row[3]->type != REDIS_REPLY_STRING ||
            row[0]->len > WH_WEBHOOK_ID_LEN || row[2]->len > WH_MAX_ID_LEN || row[3]->len > WH_MAX_ID_LEN)
            continue;
        if (row[1]->type == REDIS_REPLY_STRING)
            wh_str_to_i64(wh_str(row[1]->str, row[1]->len), &attempt);
        if (row[7]->type != REDIS_REPLY_STRING) {
            wk_record(w, part, row[0]->str, "drop", 0, (unsigned)attempt, 0, "event body expired", NULL);
            continue;
        }
        /* the body as stored in the event's record (queue/evrec.h): compressed, usually */
        if (!wh_evrec_body(row[7]->str, row[7]->len, &body, &body_len)) {
            wk_record(w, part, row[0]->str, "drop", 0, (unsigned)attempt, 0, "event body unreadable", NULL);
            continue;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL)
            abort();
        c->w = w;
        c->part = part;
        c->attempt = (unsigned)attempt;
        memcpy(c->id, row[0]->str, row[0]->len + 1);
        memcpy(c->sub, row[2]->str, row[2]->len + 1);
        snprintf(c->env, sizeof(c->env), "%.*s", (int)row[3]->len, row[3]->str);
        c->body = wh_body_new(body, body_len);
        free(body);
        wh_key_subs(key, row[3]->str);
        const char *argv[] = {"HGET", key, c->sub};
        if (wh_redis_command(w->cmd, on_claimed_sub, c, 3, argv, NULL) != WH_OK) {
            wh_body_release(c->body);
            free(c);
        }
    }
}

void wk_on_claim_timer(uv_timer_t *t)
{
    wh_worker_t *w = t->data;
    size_t busy;
    char lease[24], now[24], count[24], due[WH_KEY_MAX], dprefix[WH_KEY_MAX], eprefix[WH_KEY_MAX], span[24];

    wk_pump(w); /* a backlog freed by deferrals (slots.h) resumes here at the latest */
    busy = wh_http_inflight(w->http) + w->ready_len;
    atomic_store(&w->heartbeat_ms, wh_mono_ms());
    atomic_store(&w->ready_flag, !w->stopping && wh_redis_ready(w->cmd) && wk_readers_ready(w));

    if (w->stopping || w->claiming != 0 || busy >= w->cfg->max_inflight || !wh_redis_ready(w->cmd))
        return;
    snprintf(lease, sizeof(lease), "%lld", (long long)wk_lease_until(w));
    snprintf(now, sizeof(now), "%lld", (long long)wh_now_ms());
    snprintf(count, sizeof(count), "%zu", (w->cfg->max_inflight - busy) / wh_partitions() + 1);
    snprintf(span, sizeof(span), "%lld", (long long)WH_EVENT_BUCKET_MS);
    for (unsigned p = 0; p != wh_partitions(); ++p) {
        wh_key_due(due, p);
        wh_key_delivery_prefix(dprefix, p);
        wh_key_event_bucket_prefix(eprefix, p);
        const char *argv[] = {due, now, lease, count, dprefix, eprefix, ORDER_RECHECK_MS_TEXT, span};
        wk_part_call_t *pc = wk_part_call(w, p);
        if (wh_redis_script(w->cmd, &wh_script_claim, on_claim, pc, 1, 8, argv, NULL) == WH_OK)
            ++w->claiming;
        else
            free(pc);
    }
    wk_ensure_groups(w);
}
