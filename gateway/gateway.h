/*
 * What every gateway handler shares: its thread (loop, h2o context, Redis
 * connection, configuration), JSON responses, and the guard that ties async
 * work to a request.
 */
#ifndef WH_GATEWAY_H
#define WH_GATEWAY_H

#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>
#include "../common/config.h"
#include "../common/limits.h"
#include <stdatomic.h>
#include "../queue/append.h"
#include "../queue/redis.h"
#include "routecache.h"

/* One HTTP event-loop thread. h2o's context is first so h2o_context_t* converts back to it. */
typedef struct wh_gw_thread {
    h2o_context_t h2o;
    uv_loop_t *loop;
    const wh_config_t *cfg;
    wh_redis_t *redis;
    wh_redis_t *wait_redis;  /* WHARF_REDIS_WAIT_REPLICAS > 0: the appender's WAITs, on a connection of their own */
    wh_appender_t *appender; /* batches this thread's ingest writes per loop turn */
    unsigned index;
    bool shutting_down;
    bool ready;                                    /* this thread's appender, as last counted in *not_ready */
    _Atomic unsigned *not_ready;                   /* the process's threads whose Redis is not ready: /readyz needs 0 */
    _Atomic(struct wh_workers *) *worker;          /* role worker: the workers its health routes answer for */
    unsigned inflight;                             /* requests waiting on async work (wh_pending_t): shutdown waits for them */
    wh_route_cache_t *routes;                      /* verified webhook routes (gateway/routecache.h) */
    h2o_iovec_t accepted_bodies[WH_MAX_BATCH + 1]; /* {"accepted":N}, built on first use */
} wh_gw_thread_t;

static inline wh_gw_thread_t *wh_gw_thread_of(h2o_req_t *req)
{
    return (wh_gw_thread_t *)req->conn->ctx;
}

/* Responses. All set Content-Length (h2o 2.2 closes non-200 keep-alive connections without it). */
void wh_respond_raw(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/* Serializes `body` (taken) compactly. */
void wh_respond_json(h2o_req_t *req, int status, json_t *body);
/* {"error":{"code":code,"message":message}} */
void wh_respond_error(h2o_req_t *req, int status, const char *code, const char *message);
/* 503 queue_unavailable with Retry-After. */
void wh_respond_unavailable(h2o_req_t *req, const char *message);

/*
 * A request waiting on async work (Redis). wh_pending_new() allocates `size` zeroed bytes (a struct whose
 * first member is wh_pending_t) tied to the request; `p->req` becomes NULL if the request is freed first.
 * The owner calls wh_pending_free() exactly once, after its last callback, whether or not it responded.
 */
typedef struct wh_pending {
    h2o_req_t *req;
    wh_gw_thread_t *thread;
    struct wh_pending_link *link;
} wh_pending_t;

void *wh_pending_new(h2o_req_t *req, size_t size);
void wh_pending_free(void *pending);

/* Value of request header `lname` (lower-case), or {NULL,0}. */
h2o_iovec_t wh_req_header(h2o_req_t *req, const char *lname, size_t len);

/* Media type of the request (Content-Type up to ';', trimmed) equals `type`, ignoring case. */
bool wh_req_content_type_is(h2o_req_t *req, const char *type);

/* Route handlers (gateway/ingest.c, gateway/api.c, gateway/health.c). Return 0 when they took the request. */
int wh_ingest_handle(h2o_req_t *req, h2o_iovec_t rest); /* rest: path after "/webhooks/" */
int wh_api_handle(h2o_req_t *req, h2o_iovec_t rest);    /* rest: path after "/v1/" */
int wh_health_handle(h2o_req_t *req);

#endif
