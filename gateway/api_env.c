/*
 * POST /v1/environments (admin token): creates an environment and its API token.
 * The token is shown once, in the 201 answer; Redis keeps only its SHA-256 (wh:tok:<hex> -> environmentId).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "../common/crypto.h"
#include "../common/log.h"
#include "../common/time.h"
#include "../queue/keys.h"
#include "api.h"

/* The platform's docs promise development environments 5 connections; production is unlimited (0). */
#define DEVELOPMENT_CONNECTION_LIMIT 5
/* Random bytes of an API token (256 bits: not guessable, not worth salting). */
#define TOKEN_BYTES 32

typedef struct {
    wh_api_call_t call;
    unsigned outstanding; /* pipelined writes whose callback has not fired yet */
    wh_err_t failure;     /* the first write's error, WH_OK while none failed */
    json_t *answer;       /* owned: the 201 body, sent once both writes are acknowledged */
} env_create_t;

/* One write settled (err: its outcome); the last one to settle answers and finishes the call. */
static void settle(env_create_t *s, wh_err_t err)
{
    json_t *answer;

    if (err != WH_OK && s->failure == WH_OK)
        s->failure = err;
    if (--s->outstanding != 0)
        return;
    if (s->failure != WH_OK) {
        wh_api__reply_redis_error(&s->call, s->failure, NULL);
        return;
    }
    answer = s->answer;
    s->answer = NULL;
    wh_api__reply_json(&s->call, 201, answer);
}

static void on_written(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    if (err == WH_OK && reply != NULL && reply->type == REDIS_REPLY_NIL) {
        /* SET NX refused: 256 random bits collided with a stored token. Never rebind a token silently. */
        wh_log_error("api_token_collision", NULL);
        err = WH_ECONFLICT;
    } else if (err == WH_EINTERNAL && reply != NULL) {
        wh_log_error("api_redis_error", "{s:s, s:s}", "route", "environments", "reply", reply->str);
    }
    settle(data, err);
}

static void env_create_start(wh_api_call_t *call)
{
    static const char *const fields[] = {"name", "kind", "connectionLimit", NULL};
    env_create_t *s = (env_create_t *)call;
    char errbuf[WH_ERRBUF_SIZE];
    const char *name = NULL, *kind = "production";
    long long limit = 0;
    int got;
    char env[WH_API_ID_MAX + 1], created_at[WH_ISO8601_LEN], limit_text[24];
    uint8_t raw[TOKEN_BYTES], digest[WH_SHA256_LEN];
    char token[4 + 4 * ((TOKEN_BYTES + 2) / 3) + 1], hex[2 * WH_SHA256_LEN + 1];
    char env_key[WH_KEY_MAX], tok_key[WH_KEY_MAX];
    const char *argv[10];
    size_t argvlen[10];
    wh_str_t token_str;
    wh_err_t err;

    if (!wh_api__only_fields(call->body, fields, "", errbuf))
        goto Invalid;
    got = wh_api__get_string(call->body, "name", 1, 128, &name, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0) {
        wh_errf(errbuf, WH_EINVAL, "name: required");
        goto Invalid;
    }
    if (wh_api__get_string(call->body, "kind", 1, 32, &kind, errbuf) < 0)
        goto Invalid;
    if (strcmp(kind, "production") != 0 && strcmp(kind, "development") != 0) {
        wh_errf(errbuf, WH_EINVAL, "kind: must be \"production\" or \"development\"");
        goto Invalid;
    }
    got = wh_api__get_int(call->body, "connectionLimit", 0, INT32_MAX, &limit, errbuf);
    if (got < 0)
        goto Invalid;
    if (got == 0)
        limit = strcmp(kind, "development") == 0 ? DEVELOPMENT_CONNECTION_LIMIT : 0;

    wh_random_id("env_", 12, env, sizeof(env));
    memcpy(token, "wht_", 4);
    wh_random_bytes(raw, sizeof(raw));
    wh_base64url_encode(raw, sizeof(raw), token + 4);
    token_str = wh_str_c(token);
    wh_sha256(&token_str, 1, digest);
    wh_hex_encode(digest, sizeof(digest), hex);
    wh_iso8601(wh_now_ms(), created_at);
    snprintf(limit_text, sizeof(limit_text), "%lld", limit);

    s->answer = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "environmentId", env, "apiToken", token, "name", name, "kind", kind,
                          "connectionLimit", limit > 0 ? json_integer(limit) : json_null(), "createdAt", created_at);
    if (s->answer == NULL) {
        wh_api__reply_internal(call, "json_pack failed");
        return;
    }

    /* Two independent writes, pipelined. The environment goes first: if only it lands, no token names it. */
    argv[0] = "HSET";
    argv[1] = env_key;
    argvlen[1] = (size_t)wh_key_env(env_key, env);
    argv[2] = "name";
    argv[3] = name;
    argv[4] = "kind";
    argv[5] = kind;
    argv[6] = "connectionLimit";
    argv[7] = limit_text;
    argv[8] = "createdAt";
    argv[9] = created_at;
    for (int i = 0; i != 10; ++i)
        if (i != 1)
            argvlen[i] = strlen(argv[i]);
    /* Counted before sending, so a callback never sees a count that excludes a write still to come. */
    s->outstanding = 2;
    err = wh_redis_command(call->redis, on_written, s, 10, argv, argvlen);
    if (err != WH_OK) {
        /* Nothing was sent: answer now rather than pipeline the token behind a write that never happened. */
        wh_api__reply_redis_error(call, err, NULL);
        return;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = tok_key;
    argvlen[1] = (size_t)wh_key_token(tok_key, hex);
    argv[2] = env;
    argvlen[2] = strlen(env);
    argv[3] = "NX";
    argvlen[3] = 2;
    err = wh_redis_command(call->redis, on_written, s, 4, argv, argvlen);
    if (err != WH_OK)
        settle(s, err); /* no callback will come for it; the HSET's callback answers 503 */
    return;

Invalid:
    wh_api__reply_error(call, 400, "invalid_request", "%s", errbuf);
}

static void env_create_dispose(wh_api_call_t *call)
{
    json_decref(((env_create_t *)call)->answer);
}

const wh_api_op_t wh_api__env_create = {env_create_start, env_create_dispose, sizeof(env_create_t), true};
