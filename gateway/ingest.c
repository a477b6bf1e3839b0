/*
 * POST /webhooks/{provider}[/{connectionId}]
 *
 * verify ▸ dedupe ▸ normalize ▸ one EVALSHA per connection (dedupe + XADD) ▸ 2xx only after Redis replied (and,
 * with WHARF_REDIS_WAIT_REPLICAS, after the WAIT of the loop turn's flush: queue/append.h).
 * Per connection the route looks the connection up first and verifies before parsing; on the app-level
 * route the body names the accounts, so it is parsed first and each account's connections are tried.
 */
#include <msgpack.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/secret.h"
#include "../common/time.h"
#include "../providers/provider.h"
#include "../queue/append.h"
#include "../queue/envelope.h"
#include "../queue/keys.h"
#include "gateway.h"

typedef struct {
    char account[WH_MAX_ID_LEN + 1];
    char conn_id[WH_MAX_ID_LEN + 1];
    char env_id[WH_MAX_ID_LEN + 1];
} route_t;

typedef struct {
    wh_pending_t pending; /* first: wh_pending_new() allocates the whole struct */
    wh_gw_thread_t *t;
    const wh_provider_t *prov;
    wh_inbound_t in;
    wh_ip_t client_ip; /* in.client_ip points here when known */
    wh_changes_t changes;
    route_t routes[WH_MAX_ACCOUNTS_PER_BATCH];
    size_t nroutes;
    unsigned outstanding; /* Redis replies still awaited */
    bool failed;          /* a write failed: answer 503, the provider retries, dedupe absorbs the rest */
    wh_err_t refusal;     /* app-level lookups: first refusal seen (no connection / signature) */
    size_t accepted, duplicates;
} ingest_t;

static void finish(ingest_t *g);

/* 503 queue_unavailable + Retry-After: nothing was acknowledged, the provider retries. */
static void unavailable(h2o_req_t *req, const char *msg)
{
    wh_metric_inc(WH_METRIC_INGEST_UNAVAILABLE);
    wh_respond_unavailable(req, msg);
}

/* The client's address for an allow list: the peer, or behind WHARF_TRUSTED_PROXIES the hop they vouch for. */
static const wh_ip_t *client_ip(ingest_t *g, h2o_req_t *req)
{
    struct sockaddr_storage ss;
    wh_str_t xff[8];
    size_t nxff = 0;
    wh_ip_t peer;

    if (req->conn->callbacks->get_peername == NULL || req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0 ||
        !wh_ip_from_sockaddr((struct sockaddr *)&ss, &peer))
        return NULL;
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("x-forwarded-for"))) {
            if (nxff == sizeof(xff) / sizeof(xff[0]))
                return NULL; /* more headers than any proxy chain adds: not a client we can name */
            xff[nxff++] = wh_str(h->value.base, h->value.len);
        }
    }
    if (!wh_ip_forwarded_client(&peer, g->t->cfg->trusted_proxies, g->t->cfg->ntrusted_proxies, xff, nxff, &g->client_ip))
        return NULL;
    return &g->client_ip;
}

/* Answers a refused request: the contract's status and code, in the provider's format when it has one. */
static void refuse(ingest_t *g, h2o_req_t *req, wh_err_t err, const char *msg)
{
    int status;
    const char *code;

    switch (err) {
    case WH_ESIGNATURE:
    case WH_ENOCRED:
        status = 401, code = "invalid_signature";
        break;
    case WH_ESTALE:
        status = 401, code = "stale_timestamp";
        break;
    case WH_EFORBIDDEN:
        status = 403, code = "address_not_allowed";
        break;
    case WH_ENOTFOUND:
        status = 404, code = "unknown_connection";
        break;
    case WH_ETOO_LARGE:
        status = 413, code = "payload_too_large";
        break;
    case WH_EUNAVAILABLE:
        unavailable(req, msg);
        return;
    default:
        status = 400, code = "malformed_payload";
        break;
    }
    wh_metric_inc(WH_METRIC_INGEST_REFUSED);
    if (g->prov->refusal != NULL) {
        wh_reply_t reply = {0};
        g->prov->refusal(&g->in, status, code, msg, &reply);
        wh_respond_raw(req, reply.status, reply.content_type, reply.body, reply.body_len);
        free(reply.body);
        return;
    }
    wh_respond_error(req, status, code, msg);
}

static void dispose(ingest_t *g)
{
    wh_changes_dispose(&g->changes);
    wh_pending_free(g);
}

/* Decrypts and parses a connection's sealed credentials; NULL (logged) when they cannot be read. */
static json_t *open_creds(ingest_t *g, const char *conn_id, const char *sealed, size_t sealed_len)
{
    char *plain = NULL;
    size_t plain_len;
    json_t *creds;

    if (wh_secret_open(g->t->cfg, wh_str_c(conn_id), wh_str(sealed, sealed_len), &plain, &plain_len) != WH_OK) {
        wh_log_error("credentials_unreadable", "{s:s}", "connectionId", conn_id);
        return NULL;
    }
    creds = json_loadb(plain, plain_len, 0, NULL);
    OPENSSL_cleanse(plain, plain_len);
    free(plain);
    return creds;
}

/* Verifies with sealed credentials; on success *out holds the parsed credentials (caller owns). */
static wh_err_t verify_sealed(ingest_t *g, const char *conn_id, const char *sealed, size_t sealed_len, json_t **out, char *errbuf)
{
    json_t *creds = open_creds(g, conn_id, sealed, sealed_len);
    wh_err_t err;

    *out = NULL;
    if (creds == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "connection credentials cannot be read");
    if ((err = g->prov->verify(&g->in, creds, errbuf)) == WH_OK)
        *out = creds;
    else
        json_decref(creds);
    return err;
}

/* Route-cache ids: accounts and connection ids live in one table, so they are told apart by a prefix. */
static void cache_id(char *out, size_t cap, const char *kind, const char *id)
{
    snprintf(out, cap, "%s:%s", kind, id);
}

static void on_appended(size_t queued, size_t duplicates, wh_err_t err, void *data)
{
    ingest_t *g = data;

    if (err != WH_OK) {
        wh_log_warn("ingest_append_failed", "{s:s}", "error", wh_err_name(err));
        g->failed = true;
    } else {
        g->accepted += queued;
        g->duplicates += duplicates;
    }
    /* with WHARF_REDIS_WAIT_REPLICAS, the appender answers once its flush's WAIT confirmed the writes */
    if (--g->outstanding != 0)
        return;
    finish(g);
}

/* `{"accepted":N}`, built once per thread and N by jansson: the common answer costs no serialization. */
static const h2o_iovec_t *accepted_body(wh_gw_thread_t *t, size_t n)
{
    h2o_iovec_t *b = &t->accepted_bodies[n];
    if (b->base == NULL) {
        json_t *j = json_pack("{s:I}", "accepted", (json_int_t)n);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (text == NULL)
            abort();
        *b = h2o_iovec_init(text, strlen(text));
    }
    return b;
}

static void count_accepted(const ingest_t *g)
{
    wh_metric_inc(WH_METRIC_INGEST_ACCEPTED);
    wh_metric_add(WH_METRIC_EVENTS_QUEUED, g->accepted);
    wh_metric_add(WH_METRIC_EVENTS_DUPLICATE, g->duplicates);
}

static void finish(ingest_t *g)
{
    h2o_req_t *req = g->pending.req;

    if (req != NULL && g->failed) {
        unavailable(req, "the queue did not take the events; retry later");
    } else if (req != NULL) {
        count_accepted(g);
        if (g->prov->success != NULL) {
            wh_reply_t reply = {0};
            g->prov->success(&g->in, g->accepted + g->duplicates, &reply);
            wh_respond_raw(req, reply.status, reply.content_type, reply.body, reply.body_len);
            free(reply.body);
        } else if (g->duplicates == 0 && g->accepted <= WH_MAX_BATCH) {
            const h2o_iovec_t *body = accepted_body(g->t, g->accepted);
            wh_respond_raw(req, 202, "application/json", body->base, body->len);
        } else {
            json_t *body = json_pack("{s:I}", "accepted", (json_int_t)(g->accepted + g->duplicates));
            if (g->duplicates != 0)
                json_object_set_new(body, "duplicates", json_integer((json_int_t)g->duplicates));
            wh_respond_json(req, 202, body);
        }
    }
    dispose(g);
}

/* Queues the changes routed to `rt` as one stream entry (sent with this loop turn's batch). */
static bool append_route(ingest_t *g, const route_t *rt, bool all_changes)
{
    const wh_envelope_ctx_t ectx = {rt->conn_id, rt->env_id, g->prov->name, "webhook", g->in.now_ms};
    uint8_t random[WH_MAX_BATCH][16], keys[WH_MAX_BATCH][WH_DEDUPE_KEY_LEN];
    size_t n = 0, offs[WH_MAX_BATCH + 1];
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    wh_err_t err;

    size_t count = 0;

    for (size_t i = 0; i != g->changes.size; ++i)
        if (all_changes || strcmp(g->changes.items[i].account, rt->account) == 0)
            ++count;
    /* one draw for the whole request: the RNG's per-call overhead dominates 16-byte reads */
    wh_random_bytes(random, 16 * g->changes.size);
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    /* the entry exactly as stored: an array header, then each envelope */
    msgpack_pack_array(&pk, count);
    for (size_t i = 0; i != g->changes.size; ++i) {
        const wh_change_t *c = &g->changes.items[i];
        char event_id[WH_EVENT_ID_LEN + 1];
        if (!all_changes && strcmp(c->account, rt->account) != 0)
            continue;
        memcpy(event_id, "evt_", 4);
        wh_hex_encode(random[i], 16, event_id + 4);
        offs[n] = sbuf.size;
        wh_envelope_pack(&pk, &ectx, c, event_id);
        memcpy(keys[n], c->dedupe_key, WH_DEDUPE_KEY_LEN);
        ++n;
    }
    offs[n] = sbuf.size;
    err = n == 0 ? WH_EINVAL
                 : wh_append(g->t->appender, rt->conn_id, n, (const uint8_t(*)[WH_DEDUPE_KEY_LEN])keys, sbuf.data, offs,
                             on_appended, g);
    msgpack_sbuffer_destroy(&sbuf);
    return err == WH_OK;
}

/* All routes are known and verified: write every group. */
static void append_all(ingest_t *g, bool single)
{
    h2o_req_t *req = g->pending.req;

    g->outstanding = 0;
    for (size_t i = 0; i != g->nroutes; ++i) {
        if (!append_route(g, &g->routes[i], single)) {
            g->failed = true;
            break;
        }
        ++g->outstanding;
    }
    if (g->outstanding == 0) {
        /* nothing was sent: no callback will come */
        if (req != NULL)
            unavailable(req, "the queue is unavailable; retry later");
        dispose(g);
    }
}

/* `creds`: the connection's on a per-connection route (providers may map per connection), else NULL. */
static wh_err_t parse_body(ingest_t *g, const json_t *creds, char *errbuf)
{
    return g->prov->parse(&g->in, creds, &g->changes, errbuf);
}

/* ---- per-connection route ------------------------------------------------------------------------------ */

static void on_connection(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    ingest_t *g = data;
    h2o_req_t *req = g->pending.req;
    char errbuf[WH_ERRBUF_SIZE] = "";
    route_t *rt = &g->routes[0];

    if (req == NULL)
        goto Exit; /* the client went away; nothing was queued */
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        unavailable(req, "the queue is unavailable; retry later");
        goto Exit;
    }
    if (reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[1]->str, g->prov->name) != 0 || reply->element[0]->len > WH_MAX_ID_LEN) {
        wh_respond_error(req, 404, "unknown_connection", "no such connection for this provider");
        goto Exit;
    }
    memcpy(rt->env_id, reply->element[0]->str, reply->element[0]->len + 1);
    if (reply->element[2]->type != REDIS_REPLY_STRING) {
        refuse(g, req, WH_ENOCRED, "the connection has no credentials; every request is refused");
        goto Exit;
    }
    {
        json_t *creds;
        char cid[WH_MAX_ID_LEN + 4];
        if ((err = verify_sealed(g, rt->conn_id, reply->element[2]->str, reply->element[2]->len, &creds, errbuf)) != WH_OK) {
            refuse(g, req, err, errbuf);
            goto Exit;
        }
        cache_id(cid, sizeof(cid), "c", rt->conn_id);
        wh_route_cache_put(g->t->routes, g->prov->name, cid, rt->conn_id, rt->env_id, creds, wh_mono_ms());
        err = parse_body(g, creds, errbuf);
        json_decref(creds);
    }
    if (err != WH_OK) {
        refuse(g, req, err, errbuf);
        goto Exit;
    }
    g->nroutes = 1;
    append_all(g, true);
    return;
Exit:
    dispose(g);
}

/* ---- app-level route ----------------------------------------------------------------------------------- */

static void on_accounts(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    ingest_t *g = data;
    h2o_req_t *req;
    char errbuf[WH_ERRBUF_SIZE] = "";
    size_t idx = g->nroutes - g->outstanding; /* replies arrive in the order the lookups were sent */
    route_t *rt = &g->routes[idx];

    --g->outstanding;
    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY) {
        g->failed = true;
    } else if (g->refusal == WH_OK && g->pending.req != NULL) {
        wh_err_t best = WH_ENOTFOUND;
        /* several environments may hold the same portal: the app's signature says whose request it is */
        for (size_t i = 0; i + 1 < reply->elements && i / 2 < WH_MAX_CONNECTIONS_PER_ACCOUNT; i += 2) {
            redisReply *id = reply->element[i], *val = reply->element[i + 1];
            json_t *route = json_loadb(val->str, val->len, 0, NULL);
            const char *env = json_string_value(json_object_get(route, "env"));
            json_t *creds = json_object_get(route, "creds");
            if (env != NULL && json_is_string(creds) && id->len <= WH_MAX_ID_LEN && strlen(env) <= WH_MAX_ID_LEN) {
                json_t *opened;
                wh_err_t v = verify_sealed(g, id->str, json_string_value(creds), json_string_length(creds), &opened, errbuf);
                if (v == WH_OK) {
                    char aid[WH_MAX_ID_LEN + 4];
                    memcpy(rt->conn_id, id->str, id->len + 1);
                    snprintf(rt->env_id, sizeof(rt->env_id), "%s", env);
                    cache_id(aid, sizeof(aid), "a", rt->account);
                    wh_route_cache_put(g->t->routes, g->prov->name, aid, rt->conn_id, rt->env_id, opened, wh_mono_ms());
                    json_decref(opened);
                    best = WH_OK;
                } else if (best != WH_OK && (best == WH_ENOTFOUND || v == WH_ESTALE)) {
                    best = v;
                }
            }
            json_decref(route);
            if (best == WH_OK)
                break;
        }
        if (best != WH_OK) {
            g->refusal = best;
            if (best == WH_ENOTFOUND)
                snprintf(errbuf, sizeof(errbuf), "no connection for %s account %s", g->prov->name, rt->account);
            wh_log_info("ingest_refused", "{s:s, s:s, s:s}", "provider", g->prov->name, "account", rt->account, "reason",
                        wh_err_name(best));
            refuse(g, g->pending.req, best, errbuf);
        }
    }
    if (g->outstanding != 0)
        return;
    req = g->pending.req;
    if (g->refusal != WH_OK || req == NULL) {
        dispose(g);
        return;
    }
    if (g->failed) {
        unavailable(req, "the queue is unavailable; retry later");
        dispose(g);
        return;
    }
    append_all(g, false);
}

/* True when every account has a cached route whose credentials verify this request. */
static bool routes_from_cache(ingest_t *g)
{
    int64_t now = wh_mono_ms();
    char errbuf[WH_ERRBUF_SIZE];

    for (size_t i = 0; i != g->nroutes; ++i) {
        char aid[WH_MAX_ID_LEN + 4];
        const wh_route_t *r;
        cache_id(aid, sizeof(aid), "a", g->routes[i].account);
        if ((r = wh_route_cache_get(g->t->routes, g->prov->name, aid, now)) == NULL ||
            g->prov->verify(&g->in, r->creds, errbuf) != WH_OK)
            return false;
        memcpy(g->routes[i].conn_id, r->conn_id, sizeof(r->conn_id));
        memcpy(g->routes[i].env_id, r->env_id, sizeof(r->env_id));
    }
    return true;
}

static void start_app_level(ingest_t *g)
{
    h2o_req_t *req = g->pending.req;
    char errbuf[WH_ERRBUF_SIZE] = "";
    wh_err_t err;

    if ((err = parse_body(g, NULL, errbuf)) != WH_OK) {
        refuse(g, req, err, errbuf);
        dispose(g);
        return;
    }
    for (size_t i = 0; i != g->changes.size; ++i) {
        const char *acct = g->changes.items[i].account;
        size_t j;
        for (j = 0; j != g->nroutes && strcmp(g->routes[j].account, acct) != 0; ++j)
            ;
        if (j != g->nroutes)
            continue;
        if (acct[0] == '\0') {
            refuse(g, req, WH_EMALFORMED, "an event does not name its account");
            dispose(g);
            return;
        }
        if (g->nroutes == WH_MAX_ACCOUNTS_PER_BATCH) {
            refuse(g, req, WH_ETOO_LARGE, "too many distinct accounts in one batch");
            dispose(g);
            return;
        }
        snprintf(g->routes[g->nroutes++].account, WH_MAX_ID_LEN + 1, "%s", acct);
    }
    if (routes_from_cache(g)) {
        append_all(g, false);
        return;
    }
    for (size_t i = 0; i != g->nroutes; ++i) {
        char key[WH_KEY_MAX];
        wh_key_acct(key, g->prov->name, g->routes[i].account);
        const char *argv[] = {"HGETALL", key};
        if (wh_redis_command(g->t->redis, on_accounts, g, 2, argv, NULL) != WH_OK) {
            g->failed = true;
            break;
        }
        ++g->outstanding;
    }
    if (g->outstanding == 0) {
        unavailable(req, "the queue is unavailable; retry later");
        dispose(g);
        return;
    }
    /* fewer lookups than routes were sent if a send failed midway: on_accounts indexes replies from the end */
    g->nroutes = g->outstanding;
}

/* ---- entry --------------------------------------------------------------------------------------------- */

static bool valid_id(h2o_iovec_t s)
{
    if (s.len == 0 || s.len > 64)
        return false;
    for (size_t i = 0; i != s.len; ++i) {
        char c = s.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int wh_ingest_handle(h2o_req_t *req, h2o_iovec_t rest)
{
    wh_gw_thread_t *t = wh_gw_thread_of(req);
    h2o_iovec_t name = rest, conn = {NULL, 0};
    const wh_provider_t *prov;
    ingest_t *g;
    wh_header_t *headers;
    size_t nh = 0;

    for (size_t i = 0; i != rest.len; ++i) {
        if (rest.base[i] == '?') {
            name.len = i;
            break;
        }
    }
    for (size_t i = 0; i != name.len; ++i) {
        if (name.base[i] == '/') {
            conn = h2o_iovec_init(name.base + i + 1, name.len - i - 1);
            name.len = i;
            break;
        }
    }
    if ((prov = wh_provider_find(wh_str(name.base, name.len))) == NULL) {
        wh_respond_error(req, 404, "unknown_provider", "no such provider");
        return 0;
    }
    if (conn.base != NULL && !valid_id(conn)) {
        wh_respond_error(req, 404, "unknown_connection", "no such connection");
        return 0;
    }
    if (conn.base == NULL && (prov->flags & WH_PROVIDER_APP_LEVEL) == 0) {
        wh_metric_inc(WH_METRIC_INGEST_REFUSED);
        wh_respond_error(req, 404, "unknown_connection", "this provider posts to /webhooks/<provider>/<connectionId>");
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        wh_metric_inc(WH_METRIC_INGEST_REFUSED);
        wh_respond_error(req, 405, "method_not_allowed", "webhooks are POSTed");
        return 0;
    }
    if (req->entity.len > t->cfg->max_body) {
        wh_metric_inc(WH_METRIC_INGEST_REFUSED);
        wh_respond_error(req, 413, "payload_too_large", "the body exceeds WHARF_MAX_BODY");
        return 0;
    }
    if (prov->content_type != NULL && !wh_req_content_type_is(req, prov->content_type)) {
        wh_metric_inc(WH_METRIC_INGEST_REFUSED);
        wh_respond_error(req, 415, "unsupported_media_type", "unexpected Content-Type for this provider");
        return 0;
    }

    g = wh_pending_new(req, sizeof(*g));
    g->t = t;
    g->prov = prov;
    wh_changes_init(&g->changes);
    headers = h2o_mem_alloc_pool(&req->pool, sizeof(*headers) * (req->headers.size + 1));
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        headers[nh++] = (wh_header_t){wh_str(h->name->base, h->name->len), wh_str(h->value.base, h->value.len)};
    }
    {
        /* the URL the provider called: behind an ingress, the public base plus the path and query as received */
        size_t blen = strlen(t->cfg->public_url);
        char *url = h2o_mem_alloc_pool(&req->pool, blen + req->path.len + 1);
        memcpy(url, t->cfg->public_url, blen);
        memcpy(url + blen, req->path.base, req->path.len);
        g->in.url = wh_str(url, blen + req->path.len);
    }
    g->in.method = wh_str(req->method.base, req->method.len);
    g->in.headers = headers;
    g->in.nheaders = nh;
    g->in.body = wh_str(req->entity.base != NULL ? req->entity.base : "", req->entity.len);
    g->in.now_ms = wh_now_ms();
    if (prov->flags & WH_PROVIDER_CLIENT_ADDR)
        g->in.client_ip = client_ip(g, req);

    if (prov->handshake != NULL) {
        wh_reply_t reply = {0};
        if (prov->handshake(&g->in, &reply)) {
            wh_respond_raw(req, reply.status, reply.content_type, reply.body, reply.body_len);
            free(reply.body);
            dispose(g);
            return 0;
        }
    }
    if (conn.base != NULL) {
        char key[WH_KEY_MAX], cid[WH_MAX_ID_LEN + 4], errbuf[WH_ERRBUF_SIZE] = "";
        const wh_route_t *r;
        memcpy(g->routes[0].conn_id, conn.base, conn.len);
        g->routes[0].conn_id[conn.len] = '\0';
        cache_id(cid, sizeof(cid), "c", g->routes[0].conn_id);
        if ((r = wh_route_cache_get(t->routes, prov->name, cid, wh_mono_ms())) != NULL &&
            prov->verify(&g->in, r->creds, errbuf) == WH_OK) {
            wh_err_t err;
            memcpy(g->routes[0].env_id, r->env_id, sizeof(r->env_id));
            if ((err = parse_body(g, r->creds, errbuf)) != WH_OK) {
                refuse(g, req, err, errbuf);
                dispose(g);
                return 0;
            }
            g->nroutes = 1;
            append_all(g, true);
            return 0;
        }
        wh_key_conn(key, g->routes[0].conn_id);
        const char *argv[] = {"HMGET", key, "env", "integration", "creds"};
        if (wh_redis_command(t->redis, on_connection, g, 5, argv, NULL) != WH_OK) {
            unavailable(req, "the queue is unavailable; retry later");
            dispose(g);
        }
        return 0;
    }
    start_app_level(g);
    return 0;
}
