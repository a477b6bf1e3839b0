/*
 * Outgoing HTTP: libcurl's multi interface driven by the worker's libuv loop.
 *
 * The only module that knows libcurl. One wh_http_t per loop (thread): one
 * curl multi, one uv_timer, one uv_poll per socket. Connections are kept
 * alive and shared by all transfers of the loop (HTTP/1.1 keep-alive, HTTP/2
 * multiplexing over TLS when the endpoint offers it). Nothing here blocks:
 * name resolution runs on libcurl's resolver thread.
 *
 * The async contract: if wh_http_post() returns an error its callback never
 * fires; otherwise the callback fires exactly once, from the loop (never from
 * inside wh_http_post), or with WH_ECANCELED from wh_http_close().
 *
 * Redirects are never followed (a 3xx is reported as it is), proxies from the
 * environment are ignored, only http:// and https:// URLs are accepted.
 * curl_global_init() is the caller's job (main), before the first wh_http_new().
 */
#ifndef WH_HTTP_H
#define WH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include "../common/config.h"
#include "../common/err.h"
#include "../common/limits.h"

typedef struct wh_http wh_http_t;

typedef struct {
    /*
     * WH_OK: a complete HTTP response arrived (any status, 3xx included).
     * WH_ETIMEDOUT: the deadline passed (connect, queueing for a connection, or response).
     * WH_EUNAVAILABLE: DNS, connect, reset, TLS or protocol failure, or an address the policy refused.
     * WH_EINVAL: the URL is malformed or not http/https.
     * WH_ECANCELED: wh_http_close() ran first.
     * WH_EINTERNAL: libcurl failed in a way that is not the endpoint's doing.
     */
    wh_err_t err;
    /* HTTP status of the last response received, 0 without one. May be set when err != WH_OK (headers
     * arrived, then the body timed out or the connection broke): callers decide on err first. */
    long status;
    /* Human text when err != WH_OK (libcurl's errbuf or ours), "" otherwise. */
    char error[WH_ERRBUF_SIZE];
    /* From wh_http_post() to completion, queueing for a connection included. */
    int64_t latency_ms;
    /* The first WH_MAX_RESPONSE_KEEP bytes of the response body (not NUL-terminated); the rest was read and
     * dropped, in which case body_truncated is true. Valid during the callback only. */
    const char *body;
    size_t body_len;
    bool body_truncated;
    /* Retry-After value of the final response, trimmed and NUL-terminated, or NULL when absent or longer than
     * WH_HTTP_MAX_RETRY_AFTER. Valid during the callback only. */
    const char *retry_after;
} wh_http_result_t;

/* Longest Retry-After value kept: an HTTP-date is 29 characters, delta-seconds fewer. */
#define WH_HTTP_MAX_RETRY_AFTER 64
/* Connections per host (CURLMOPT_MAX_HOST_CONNECTIONS): one customer endpoint cannot take every socket;
 * further transfers to it queue inside curl until a connection is free (their deadline keeps running). */
#define WH_HTTP_MAX_HOST_CONNECTIONS 64
/* Idle connections kept for reuse across all hosts (CURLMOPT_MAXCONNECTS). */
#define WH_HTTP_MAX_IDLE_CONNECTIONS 256
/* Connect deadline when the transfer's own deadline is longer. */
#define WH_HTTP_CONNECT_TIMEOUT_MS 10000
/* Finished transfers (easy handle + buffers) kept for reuse; beyond this they are freed. */
#define WH_HTTP_MAX_FREE_TRANSFERS 64

/* `res` and everything it points to are valid only during the callback. The callback may call wh_http_post()
 * and wh_http_close(). */
typedef void (*wh_http_cb)(const wh_http_result_t *res, void *data);

/*
 * Decides whether a connection to `addr` (the resolved address, before connect) may be made. `addr` is valid
 * only during the call. Returning false makes curl try the next address, if any; when none is left the
 * transfer fails with WH_EUNAVAILABLE "destination address refused". Called on the loop thread.
 */
typedef bool (*wh_http_address_policy_cb)(const struct sockaddr *addr, void *data);

/* Longest refusal reason kept (NUL included): an IPv6 address (45) and a class name in parentheses fit. */
#define WH_HTTP_MAX_REFUSAL_REASON 80

/*
 * Optional companion of a policy: called with the policy's `data` right after it refused `addr` (`addr` valid only
 * during the call), writes a short reason into `out` (NUL-terminated, at most `outlen` bytes), e.g.
 * "127.0.0.1 (loopback)". The transfer's error then reads "destination address refused: <reason>" (the last
 * refused address's reason). Called on the loop thread, only on refusals.
 */
typedef void (*wh_http_address_explain_cb)(const struct sockaddr *addr, char *out, size_t outlen, void *data);

typedef struct {
    size_t inflight;              /* transfers started and not yet completed */
    uint64_t transfers_started;   /* wh_http_post() calls that returned WH_OK */
    uint64_t connections_opened;  /* sockets opened for connections (address policy allowed) */
    uint64_t connections_refused; /* connects the address policy refused */
    size_t sockets_open;          /* connection sockets currently open (in use or kept alive) */
    uint64_t polls_created;       /* uv_poll handles created: one per socket, not one per transfer */
    uint64_t polls_started;       /* uv_poll_start() calls: when the events curl wants change, not per transfer */
    uint64_t idle_polls_stopped;  /* kept-alive connections that became readable while idle (closed by the server) */
} wh_http_stats_t;

/* `loop` and `cfg` are borrowed and must outlive the client. Aborts if libcurl cannot allocate. Needs libcurl
 * >= 7.87 (CURLOPT_QUICK_EXIT, CURLOPT_PROTOCOLS_STR): with an older one every wh_http_post() fails. */
wh_http_t *wh_http_new(uv_loop_t *loop, const wh_config_t *cfg);

/*
 * Starts a POST of `body` (`len` bytes, binary-safe) to `url` (NUL-terminated, at most WH_MAX_URL_LEN).
 * `url` and `headers` (nheaders NUL-terminated "Name: value" lines, no CR/LF) are borrowed for the call only:
 * libcurl copies them. `body` is borrowed until the callback has fired: it is sent from where it is, not copied
 * (one delivery body is shared by every subscription's attempts). "Content-Type: application/json" is added unless the caller
 * passes a Content-Type; "User-Agent: wharf/<version>" unless the caller passes a User-Agent; "Expect: 100-continue" never.
 * `timeout_ms` bounds the whole attempt (queueing, connect, request, response); <= 0 means the configured
 * WHARF_DELIVERY_TIMEOUT (cfg->delivery_timeout_ms). `data` is passed through untouched.
 * Returns WH_OK (cb fires exactly once, later), WH_EINVAL (NULL arguments, CR/LF in a header, no timeout),
 * WH_ETOO_LARGE (URL too long), WH_ECANCELED (wh_http_close() was called) or WH_EINTERNAL (curl refused
 * the transfer); on an error cb never fires.
 */
wh_err_t wh_http_post(wh_http_t *h, const char *url, const char *const *headers, size_t nheaders, const char *body, size_t len,
                      int64_t timeout_ms, wh_http_cb cb, void *data);

/* Transfers started and not yet completed. */
size_t wh_http_inflight(const wh_http_t *h);

/* Counters for /metrics and tests (a copy). */
void wh_http_stats(const wh_http_t *h, wh_http_stats_t *out);

/*
 * Installs the egress policy consulted before every connect (NULL `allow` restores the default: allow all).
 * `data` is borrowed until the policy is replaced or the client is closed. Affects connects made from now
 * on; connections already open (kept alive) are not re-checked.
 */
void wh_http_set_address_policy(wh_http_t *h, wh_http_address_policy_cb allow, void *data);
/* The same, with refusals explained in the transfer's error by `explain` (NULL: the bare refusal text). */
void wh_http_set_address_policy_explained(wh_http_t *h, wh_http_address_policy_cb allow, wh_http_address_explain_cb explain,
                                          void *data);

/*
 * Cancels every transfer in flight (their callbacks fire with WH_ECANCELED before wh_http_close returns, or,
 * when called from inside a wh_http callback, once the transfers that already finished have had theirs), closes all connections,
 * then calls `cb(data)` from the loop once libuv has released every handle; the client is freed before `cb`
 * runs. Call once; `h` must not be used afterwards except by callbacks still firing with WH_ECANCELED
 * (wh_http_post() then returns WH_ECANCELED).
 */
void wh_http_close(wh_http_t *h, void (*cb)(void *data), void *data);

#endif
