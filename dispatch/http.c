/*
 * libcurl multi on a libuv loop (curl_multi_socket_action, one timer, one uv_poll per socket).
 *
 * Socket lifetime. A connection socket is opened by on_open_socket() and closed by on_close_socket()
 * (CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION); its uv_poll lives exactly as long. curl sends
 * CURL_POLL_REMOVE at the end of every transfer, kept-alive connections included, so REMOVE does not end the
 * poll, and the next transfer on that connection uses it again instead of creating a handle per transfer
 * (stack-notes P10). Nor does REMOVE stop it: every uv_poll_start() is two epoll_ctl calls (libuv drops the fd from
 * epoll first) and every uv_poll_stop() one, ~8 % of the worker's CPU when each transfer cost three. An idle
 * kept-alive connection stays watched for reading, and the next transfer's CURL_POLL_IN costs nothing; should it
 * become readable while idle (the server closed it), the poll is stopped then, and curl finds the connection dead
 * when it next picks it. Sockets curl opens itself (the threaded resolver's wake-up pipe) are polled from their
 * first CURL_POLL_IN to their CURL_POLL_REMOVE, which curl sends before closing them.
 *
 * Sockets are found by fd in a table we own rather than through curl_multi_assign(): curl forgets the
 * assignment on every REMOVE, and a table keyed by fd lets a stale entry (an fd closed behind our back and
 * reused) be detected and retired instead of leaving libuv watching a number that now means something else.
 *
 * Ordering rule for closing: uv_close() on the poll first (libuv stops watching the fd synchronously), then
 * close(fd); the struct holding the uv_poll_t is freed only in the close callback.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../common/log.h"
#include "../common/str.h"
#include "../common/time.h"
#include "http.h"

#define REFUSED_TEXT "destination address refused"

/* One POST: its easy handle and the buffers the result points into. Recycled through h->free_list. */
struct transfer {
    wh_http_t *h;
    CURL *easy;
    struct curl_slist *headers;
    /* h->inflight list while running; h->free_list (next only) while idle */
    struct transfer *prev, *next;
    wh_http_cb cb;
    void *data;
    int64_t started_ms;
    /* the address policy refused at least one address of this transfer */
    bool refused;
    bool has_retry_after;
    bool body_truncated;
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
    /* the policy's explanation of the last refused address, "" without one */
    char refused_why[WH_HTTP_MAX_REFUSAL_REASON];
    char retry_after[WH_HTTP_MAX_RETRY_AFTER + 1];
    char body[WH_MAX_RESPONSE_KEEP];
};

struct sock {
    uv_poll_t poll;
    wh_http_t *h;
    curl_socket_t fd;
    /* opened by on_open_socket(): outlives transfers, closed by on_close_socket() */
    bool owned;
    /* the UV_* events the poll is started with (0: stopped); idle: curl has no transfer on it (REMOVE) */
    int events;
    bool idle;
};

struct wh_http {
    uv_loop_t *loop;
    const wh_config_t *cfg;
    CURLM *multi;
    uv_timer_t timer;
    /* indexed by fd */
    struct sock **socks;
    size_t socks_cap;
    struct transfer *inflight;
    struct transfer *free_list;
    size_t nfree;
    wh_http_address_policy_cb allow;
    wh_http_address_explain_cb explain;
    void *allow_data;
    wh_http_stats_t stats;
    /* > 0 while user callbacks run from process_done() or teardown(): teardown is deferred until 0 */
    unsigned dispatching;
    bool closing;
    bool torn_down;
    /* uv_close() calls whose callback has not run yet */
    size_t handles_closing;
    void (*close_cb)(void *data);
    void *close_data;
};

static void oom(void)
{
    fputs("wharf: out of memory (dispatch/http)\n", stderr);
    abort();
}

static void process_done(wh_http_t *h);
static void teardown(wh_http_t *h);

/* ---- sockets ---- */

static struct sock *sock_get(const wh_http_t *h, curl_socket_t fd)
{
    if (fd < 0 || (size_t)fd >= h->socks_cap)
        return NULL;
    return h->socks[fd];
}

static void sock_put(wh_http_t *h, curl_socket_t fd, struct sock *s)
{
    if ((size_t)fd >= h->socks_cap) {
        size_t cap = h->socks_cap != 0 ? h->socks_cap : 64;
        struct sock **grown;
        while (cap <= (size_t)fd)
            cap *= 2;
        grown = realloc(h->socks, cap * sizeof(*grown));
        if (grown == NULL)
            oom();
        memset(grown + h->socks_cap, 0, (cap - h->socks_cap) * sizeof(*grown));
        h->socks = grown;
        h->socks_cap = cap;
    }
    h->socks[fd] = s;
}

static void handle_closed(wh_http_t *h)
{
    void (*cb)(void *data);
    void *data;

    --h->handles_closing;
    if (!h->torn_down || h->handles_closing != 0)
        return;
    cb = h->close_cb;
    data = h->close_data;
    free(h->socks);
    free(h);
    if (cb != NULL)
        cb(data);
}

static void on_sock_closed(uv_handle_t *handle)
{
    struct sock *s = handle->data;
    wh_http_t *h = s->h;

    free(s);
    handle_closed(h);
}

/* Stops watching s->fd at once (uv_close) and frees s once libuv lets go of it. Does not close the fd. */
static void sock_release(wh_http_t *h, struct sock *s)
{
    h->socks[s->fd] = NULL;
    ++h->handles_closing;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static struct sock *sock_new(wh_http_t *h, curl_socket_t fd, bool owned)
{
    struct sock *stale = sock_get(h, fd);
    struct sock *s;
    int rc;

    if (stale != NULL) {
        /* The fd was closed without the close being reported to us and the number came back. */
        wh_log_warn("http_stale_socket", "{s:i, s:b}", "fd", (int)fd, "owned", stale->owned);
        if (stale->owned)
            --h->stats.sockets_open;
        sock_release(h, stale);
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        oom();
    rc = uv_poll_init_socket(h->loop, &s->poll, fd);
    if (rc != 0) {
        wh_log_error("http_poll_init_failed", "{s:i, s:s}", "fd", (int)fd, "error", uv_strerror(rc));
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->h = h;
    s->fd = fd;
    s->owned = owned;
    sock_put(h, fd, s);
    ++h->stats.polls_created;
    return s;
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct sock *s = poll->data;
    wh_http_t *h = s->h;
    int flags = 0, running;
    CURLMcode mc;

    if (s->idle) {
        /* an idle kept-alive connection said something (most likely the server closed it): curl is not watching
           it, so stop polling it until curl wants it again (after an error libuv has stopped it already) */
        uv_poll_stop(&s->poll);
        s->events = 0;
        ++h->stats.idle_polls_stopped;
        return;
    }
    if (status < 0) {
        /* libuv reports POLLERR (a failed connect, a reset) as an error and stops the poll; let curl find out
         * what happened by reading and writing. curl then fails the transfer and closes the socket; were it to
         * keep waiting on it instead, the transfer's deadline would still end it. */
        flags = CURL_CSELECT_IN | CURL_CSELECT_OUT | CURL_CSELECT_ERR;
        s->events = 0; /* libuv stopped the poll */
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    /* curl may close the connection inside this call, releasing s: s is not read afterwards. */
    mc = curl_multi_socket_action(h->multi, s->fd, flags, &running);
    if (mc != CURLM_OK)
        wh_log_error("http_socket_action_failed", "{s:s}", "error", curl_multi_strerror(mc));
    process_done(h);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    wh_http_t *h = userp;
    struct sock *s = sock_get(h, fd);
    int events = 0, rc;

    if (what == CURL_POLL_REMOVE) {
        if (s == NULL)
            return 0;
        if (s->owned) {
            /* kept alive (still watched for reading, see the top of this file), or about to be closed through
               on_close_socket() */
            s->idle = true;
            if (s->events != UV_READABLE && s->events != 0) {
                uv_poll_stop(&s->poll);
                s->events = 0;
            }
        } else {
            sock_release(h, s); /* curl closes its own sockets right after this */
        }
        return 0;
    }
    if (s == NULL) {
        s = sock_new(h, fd, false);
        if (s == NULL)
            return -1;
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    s->idle = false;
    if (events == s->events)
        return 0; /* already watched for exactly that */
    rc = uv_poll_start(&s->poll, events, on_poll);
    if (rc != 0) {
        s->events = 0;
        wh_log_error("http_poll_start_failed", "{s:i, s:s}", "fd", (int)fd, "error", uv_strerror(rc));
        return -1;
    }
    s->events = events;
    ++h->stats.polls_started;
    return 0;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct transfer *t = clientp;
    wh_http_t *h = t->h;
    curl_socket_t fd;

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    /* The egress guard sees the address curl is about to connect to, after DNS: a name that resolves to a
     * forbidden address cannot slip through, whatever the URL said. */
    if (h->allow != NULL && !h->allow(&addr->addr, h->allow_data)) {
        t->refused = true;
        ++h->stats.connections_refused;
        if (h->explain != NULL)
            h->explain(&addr->addr, t->refused_why, sizeof(t->refused_why), h->allow_data);
        return CURL_SOCKET_BAD;
    }
    fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (sock_new(h, fd, true) == NULL) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    ++h->stats.connections_opened;
    ++h->stats.sockets_open;
    return fd;
}

/* clientp is the wh_http_t, not the transfer: a kept-alive connection outlives the transfer that opened it. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    wh_http_t *h = clientp;
    struct sock *s = sock_get(h, fd);

    if (s != NULL) {
        if (s->owned)
            --h->stats.sockets_open;
        sock_release(h, s);
    }
    return close(fd);
}

static void on_timer_closed(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void on_timer(uv_timer_t *timer)
{
    wh_http_t *h = timer->data;
    int running;
    CURLMcode mc;

    mc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    if (mc != CURLM_OK)
        wh_log_error("http_socket_action_failed", "{s:s}", "error", curl_multi_strerror(mc));
    process_done(h);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    wh_http_t *h = userp;

    /* 0 means "as soon as possible": curl must not be re-entered from here, so it goes through the loop. */
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- transfers ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(t->body) - t->body_len;
    size_t take = n < room ? n : room;

    memcpy(t->body + t->body_len, ptr, take);
    t->body_len += take;
    if (take < n)
        t->body_truncated = true;
    return n;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    static const wh_str_t name = WH_STRLIT("retry-after:");
    struct transfer *t = userdata;
    size_t n = size * nitems;
    const char *v, *end;

    /* A status line starts a new response (after a 1xx): only the final response's headers count. */
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        t->has_retry_after = false;
        return n;
    }
    if (n <= name.len || !wh_str_ieq(wh_str(buf, name.len), name))
        return n;
    v = buf + name.len;
    end = buf + n;
    while (v < end && is_space(*v))
        ++v;
    while (end > v && is_space(end[-1]))
        --end;
    /* An over-long value is not a Retry-After we could honour: it is dropped, not truncated. */
    t->has_retry_after = end > v && (size_t)(end - v) <= WH_HTTP_MAX_RETRY_AFTER;
    if (t->has_retry_after) {
        memcpy(t->retry_after, v, (size_t)(end - v));
        t->retry_after[end - v] = '\0';
    }
    return n;
}

#define SETOPT(rc, easy, opt, val)                                                                                                 \
    do {                                                                                                                           \
        if ((rc) == CURLE_OK)                                                                                                      \
            (rc) = curl_easy_setopt((easy), (opt), (val));                                                                         \
    } while (0)

/* A transfer from the free list, or a new one with the options every POST shares. NULL if curl refuses. */
static struct transfer *transfer_get(wh_http_t *h)
{
    struct transfer *t = h->free_list;
    CURLcode rc = CURLE_OK;

    if (t != NULL) {
        h->free_list = t->next;
        --h->nfree;
        t->next = NULL;
        return t;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        oom();
    t->h = h;
    t->easy = curl_easy_init();
    if (t->easy == NULL)
        oom();
    SETOPT(rc, t->easy, CURLOPT_PRIVATE, (void *)t);
    SETOPT(rc, t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
    /* The process ignores SIGPIPE itself; curl must not touch signal handlers on a loop thread. */
    SETOPT(rc, t->easy, CURLOPT_NOSIGNAL, 1L);
    /* A transfer that ends (deadline, cancel) while its name is still resolving would otherwise join the
     * resolver thread, blocking the loop until getaddrinfo() returns (measured: 1.7 s stall for a 2 s lookup
     * under a 300 ms deadline). With QUICK_EXIT curl detaches the thread, which frees its own state when
     * the lookup ends. */
    SETOPT(rc, t->easy, CURLOPT_QUICK_EXIT, 1L);
    SETOPT(rc, t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(rc, t->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* A 3xx is the endpoint's answer, reported as a failed attempt; following it would bypass the egress
     * check of the subscription URL and re-POST the signed body somewhere else. */
    SETOPT(rc, t->easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* http_proxy and friends from the environment would route deliveries (and the egress check) elsewhere. */
    SETOPT(rc, t->easy, CURLOPT_PROXY, "");
    SETOPT(rc, t->easy, CURLOPT_USERAGENT, "wharf/" WHARF_VERSION);
    SETOPT(rc, t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(rc, t->easy, CURLOPT_POST, 1L);
    SETOPT(rc, t->easy, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(rc, t->easy, CURLOPT_WRITEDATA, (void *)t);
    SETOPT(rc, t->easy, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(rc, t->easy, CURLOPT_HEADERDATA, (void *)t);
    SETOPT(rc, t->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SETOPT(rc, t->easy, CURLOPT_OPENSOCKETDATA, (void *)t);
    SETOPT(rc, t->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    SETOPT(rc, t->easy, CURLOPT_CLOSESOCKETDATA, (void *)h);
    if (rc != CURLE_OK) {
        wh_log_error("http_setopt_failed", "{s:s}", "error", curl_easy_strerror(rc));
        curl_easy_cleanup(t->easy);
        free(t);
        return NULL;
    }
    return t;
}

/* Returns a finished (or never started) transfer to the free list, or frees it. */
static void transfer_put(wh_http_t *h, struct transfer *t)
{
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    t->cb = NULL;
    t->data = NULL;
    if (h->closing || h->nfree >= WH_HTTP_MAX_FREE_TRANSFERS) {
        curl_easy_cleanup(t->easy);
        free(t);
        return;
    }
    t->prev = NULL;
    t->next = h->free_list;
    h->free_list = t;
    ++h->nfree;
}

static void inflight_link(wh_http_t *h, struct transfer *t)
{
    t->prev = NULL;
    t->next = h->inflight;
    if (h->inflight != NULL)
        h->inflight->prev = t;
    h->inflight = t;
    ++h->stats.inflight;
}

static void inflight_unlink(wh_http_t *h, struct transfer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        h->inflight = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    --h->stats.inflight;
}

static wh_err_t map_code(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return WH_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return WH_ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return WH_EINVAL;
    case CURLE_FAILED_INIT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return WH_EINTERNAL;
    default:
        /* DNS, connect, send/recv, TLS, HTTP/2 and malformed-response failures: the endpoint's side. */
        return WH_EUNAVAILABLE;
    }
}

/* Unlinks t, runs its callback with `res` (err and error already set), then recycles t. */
static void transfer_complete(wh_http_t *h, struct transfer *t, wh_http_result_t *res)
{
    wh_http_cb cb = t->cb;
    void *data = t->data;

    res->latency_ms = wh_mono_ms() - t->started_ms;
    res->body = t->body;
    res->body_len = t->body_len;
    res->body_truncated = t->body_truncated;
    res->retry_after = t->has_retry_after ? t->retry_after : NULL;
    inflight_unlink(h, t);
    cb(res, data);
    transfer_put(h, t);
}

static void transfer_done(wh_http_t *h, struct transfer *t, CURLcode code)
{
    wh_http_result_t res = {0};
    long status = 0;

    if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        res.status = status;
    res.err = map_code(code);
    if (code == CURLE_COULDNT_CONNECT && t->refused) {
        if (t->refused_why[0] != '\0')
            snprintf(res.error, sizeof(res.error), "%s: %s", REFUSED_TEXT, t->refused_why);
        else
            snprintf(res.error, sizeof(res.error), "%s", REFUSED_TEXT);
    } else if (code != CURLE_OK) {
        snprintf(res.error, sizeof(res.error), "%s", t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code));
    }
    transfer_complete(h, t, &res);
}

static void transfer_cancel(wh_http_t *h, struct transfer *t)
{
    wh_http_result_t res = {0};

    curl_multi_remove_handle(h->multi, t->easy);
    res.err = WH_ECANCELED;
    snprintf(res.error, sizeof(res.error), "%s", "http client closing");
    transfer_complete(h, t, &res);
}

/* Delivers every finished transfer. Runs after each curl_multi_socket_action(), never inside curl. */
static void process_done(wh_http_t *h)
{
    int left;

    ++h->dispatching;
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(h->multi, &left);
        char *priv = NULL;
        CURLcode code;
        CURL *easy;

        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid once the handle is removed: copy what we need first. */
        easy = msg->easy_handle;
        code = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_multi_remove_handle(h->multi, easy);
        transfer_done(h, (struct transfer *)(void *)priv, code);
    }
    --h->dispatching;
    if (h->dispatching == 0 && h->closing && !h->torn_down)
        teardown(h);
}

/* Cancels what is in flight, closes every connection and handle. h is freed by the last close callback. */
static void teardown(wh_http_t *h)
{
    h->torn_down = true;
    ++h->dispatching;
    while (h->inflight != NULL)
        transfer_cancel(h, h->inflight);
    --h->dispatching;
    /* Closes every kept-alive connection through on_close_socket(). */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    for (size_t fd = 0; fd != h->socks_cap; ++fd) {
        struct sock *s = h->socks[fd];
        if (s == NULL)
            continue;
        /* Not closing the fd: if curl closed it behind our back, the number may belong to someone else now. */
        wh_log_warn("http_socket_left_open", "{s:i, s:b}", "fd", (int)fd, "owned", s->owned);
        sock_release(h, s);
    }
    while (h->free_list != NULL) {
        struct transfer *t = h->free_list;
        h->free_list = t->next;
        curl_easy_cleanup(t->easy);
        free(t);
    }
    h->nfree = 0;
    ++h->handles_closing;
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

/* ---- public ---- */

wh_http_t *wh_http_new(uv_loop_t *loop, const wh_config_t *cfg)
{
    wh_http_t *h = calloc(1, sizeof(*h));
    CURLMcode mc = CURLM_OK;

    if (h == NULL)
        oom();
    h->loop = loop;
    h->cfg = cfg;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->multi = curl_multi_init();
    if (h->multi == NULL)
        oom();
#define MSETOPT(opt, val)                                                                                                          \
    do {                                                                                                                           \
        if (mc == CURLM_OK)                                                                                                        \
            mc = curl_multi_setopt(h->multi, (opt), (val));                                                                        \
    } while (0)
    MSETOPT(CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    MSETOPT(CURLMOPT_SOCKETDATA, (void *)h);
    MSETOPT(CURLMOPT_TIMERFUNCTION, on_curl_timer);
    MSETOPT(CURLMOPT_TIMERDATA, (void *)h);
    MSETOPT(CURLMOPT_MAX_HOST_CONNECTIONS, (long)WH_HTTP_MAX_HOST_CONNECTIONS);
    MSETOPT(CURLMOPT_MAXCONNECTS, (long)WH_HTTP_MAX_IDLE_CONNECTIONS);
    MSETOPT(CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
#undef MSETOPT
    if (mc != CURLM_OK) {
        /* Only an unusable libcurl gets here (every option exists since 7.43). */
        fprintf(stderr, "wharf: curl_multi_setopt: %s\n", curl_multi_strerror(mc));
        abort();
    }
    return h;
}

static bool starts_with_ci(const char *line, wh_str_t name)
{
    return strnlen(line, name.len) == name.len && wh_str_ieq(wh_str(line, name.len), name);
}

wh_err_t wh_http_post(wh_http_t *h, const char *url, const char *const *headers, size_t nheaders, const char *body, size_t len,
                      int64_t timeout_ms, wh_http_cb cb, void *data)
{
    struct transfer *t = NULL;
    bool has_content_type = false;
    CURLcode rc = CURLE_OK;
    CURLMcode mc;
    wh_err_t err = WH_OK;

    if (h->closing)
        return WH_ECANCELED;
    if (url == NULL || cb == NULL || (body == NULL && len != 0) || (headers == NULL && nheaders != 0))
        return WH_EINVAL;
    if (strnlen(url, WH_MAX_URL_LEN + 1) > WH_MAX_URL_LEN || nheaders > WH_MAX_HEADERS)
        return WH_ETOO_LARGE;
    for (size_t i = 0; i != nheaders; ++i) {
        /* CR or LF would let a header value start a header (or a request) of its own. */
        if (headers[i] == NULL || strpbrk(headers[i], "\r\n") != NULL)
            return WH_EINVAL;
        if (starts_with_ci(headers[i], WH_STRLIT("content-type:")))
            has_content_type = true;
    }
    if (timeout_ms <= 0)
        timeout_ms = h->cfg != NULL ? h->cfg->delivery_timeout_ms : 0;
    if (timeout_ms <= 0)
        return WH_EINVAL;

    t = transfer_get(h);
    if (t == NULL)
        return WH_EINTERNAL;
    /* Disable "Expect: 100-continue" (curl adds it above 1 KiB): a round trip per delivery for nothing. */
    t->headers = curl_slist_append(t->headers, "Expect:");
    if (t->headers == NULL)
        oom();
    if (!has_content_type && curl_slist_append(t->headers, "Content-Type: application/json") == NULL)
        oom();
    for (size_t i = 0; i != nheaders; ++i) {
        if (curl_slist_append(t->headers, headers[i]) == NULL)
            oom();
    }
    t->cb = cb;
    t->data = data;
    t->refused = false;
    t->refused_why[0] = '\0';
    t->has_retry_after = false;
    t->body_truncated = false;
    t->body_len = 0;
    t->errbuf[0] = '\0';

    SETOPT(rc, t->easy, CURLOPT_URL, url);
    SETOPT(rc, t->easy, CURLOPT_HTTPHEADER, t->headers);
    /* The size first (binary-safe: that many bytes, not up to a NUL). Not copied: the caller keeps the body until
       the callback has fired. */
    SETOPT(rc, t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(rc, t->easy, CURLOPT_POSTFIELDS, len != 0 ? body : "");
    SETOPT(rc, t->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SETOPT(rc, t->easy, CURLOPT_CONNECTTIMEOUT_MS,
           (long)(timeout_ms < WH_HTTP_CONNECT_TIMEOUT_MS ? timeout_ms : WH_HTTP_CONNECT_TIMEOUT_MS));
    /* Over TLS a second transfer waits for the first connection to say whether it multiplexes (HTTP/2)
     * rather than opening a connection of its own; plain http:// never multiplexes, so nothing to wait for. */
    SETOPT(rc, t->easy, CURLOPT_PIPEWAIT, starts_with_ci(url, WH_STRLIT("https:")) ? 1L : 0L);
    if (rc != CURLE_OK) {
        wh_log_error("http_setopt_failed", "{s:s}", "error", curl_easy_strerror(rc));
        err = rc == CURLE_OUT_OF_MEMORY ? WH_EINTERNAL : WH_EINVAL;
        goto Exit;
    }
    t->started_ms = wh_mono_ms();
    mc = curl_multi_add_handle(h->multi, t->easy);
    if (mc != CURLM_OK) {
        wh_log_error("http_add_handle_failed", "{s:s}", "error", curl_multi_strerror(mc));
        err = WH_EINTERNAL;
        goto Exit;
    }
    inflight_link(h, t);
    ++h->stats.transfers_started;
    t = NULL;

Exit:
    if (t != NULL)
        transfer_put(h, t);
    return err;
}

size_t wh_http_inflight(const wh_http_t *h)
{
    return h->stats.inflight;
}

void wh_http_stats(const wh_http_t *h, wh_http_stats_t *out)
{
    *out = h->stats;
}

void wh_http_set_address_policy(wh_http_t *h, wh_http_address_policy_cb allow, void *data)
{
    wh_http_set_address_policy_explained(h, allow, NULL, data);
}

void wh_http_set_address_policy_explained(wh_http_t *h, wh_http_address_policy_cb allow, wh_http_address_explain_cb explain,
                                          void *data)
{
    h->allow = allow;
    h->explain = allow != NULL ? explain : NULL;
    h->allow_data = allow != NULL ? data : NULL;
}

void wh_http_close(wh_http_t *h, void (*cb)(void *data), void *data)
{
    if (h->closing) {
        wh_log_error("http_close_twice", NULL);
        return;
    }
    h->closing = true;
    h->close_cb = cb;
    h->close_data = data;
    /* From inside a callback, process_done() (or teardown()) is still walking curl's state: it tears down
     * once it is back at the top. */
    if (h->dispatching == 0)
        teardown(h);
}
