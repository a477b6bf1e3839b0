/*
 * dispatch/http.c against a real HTTP/1.1 responder on loopback, on the same uv loop.
 *
 * The responder parses just enough (request line, headers up to the blank line, Content-Length body),
 * answers by path from a fixed table, keeps connections alive and counts what it accepted and saw.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "common/time.h"
#include "dispatch/http.h"

/* ---- a slow DNS server, in process ---- */

#define SLOW_HOST "wharf-slow-dns.test"
#define SLOW_DNS_MS 1000

static atomic_int slow_lookups_done;

/*
 * Interposes libc's getaddrinfo() for the whole process (libcurl's resolver thread included): SLOW_HOST takes
 * SLOW_DNS_MS and then does not exist; every other name goes to libc.
 */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

    if (node != NULL && strcmp(node, SLOW_HOST) == 0) {
        struct timespec ts = {SLOW_DNS_MS / 1000, (SLOW_DNS_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        atomic_fetch_add(&slow_lookups_done, 1);
        return EAI_NONAME;
    }
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

/* Counts the process's epoll_ctl() calls (libuv's, in this test: one loop, one thread at a time). */
static atomic_uint epoll_ctl_calls;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    int (*real)(int, int, int, struct epoll_event *);

    atomic_fetch_add(&epoll_ctl_calls, 1);
    *(void **)&real = dlsym(RTLD_NEXT, "epoll_ctl");
    return real(epfd, op, fd, event);
}

/* ---- responder ---- */

#define CONN_BUF (64 * 1024)
#define OK_BODY_LEN 10000
#define MAX_RECS 256

typedef struct server server_t;

typedef struct conn {
    uv_tcp_t tcp;
    server_t *srv;
    struct conn *prev, *next;
    bool closing;
    bool hanging; /* saw /hang: never answers, reads nothing more */
    size_t len;
    char buf[CONN_BUF];
} conn_t;

typedef struct {
    char method[16];
    char path[256];
    char headers[8192]; /* header lines after the request line, NUL-terminated */
    char body[8192];
    size_t body_len;
} seen_t;

struct server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    conn_t *conns;
    unsigned accepted;
    unsigned requests;
    seen_t last;
    char ok_body[OK_BODY_LEN];
};

typedef struct {
    uv_write_t req;
    char data[];
} write_t;

static void on_conn_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    free(req->data);
}

static void respond(conn_t *c, int status, const char *reason, const char *extra, const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s\r\n", status, reason, len, extra);
    write_t *w = malloc(sizeof(*w) + (size_t)n + len);
    uv_buf_t buf;

    assert_non_null(w);
    memcpy(w->data, head, (size_t)n);
    memcpy(w->data + n, body, len);
    w->req.data = w;
    buf = uv_buf_init(w->data, (unsigned)((size_t)n + len));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
        free(w);
        conn_close(c);
    }
}

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; ++i) {
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    }
    return NULL;
}

/* Value of header `name` in a block of "Name: value\r\n" lines (case-insensitive name); false if absent. */
static bool header_value(const char *block, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *line = block;

    while (*line != '\0') {
        const char *eol = strstr(line, "\r\n");
        size_t llen = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            size_t vlen;
            while (*v == ' ')
                ++v;
            vlen = (size_t)(line + llen - v);
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        if (eol == NULL)
            break;
        line = eol + 2;
    }
    return false;
}

static unsigned header_count(const char *block, const char *name)
{
    size_t nlen = strlen(name);
    unsigned count = 0;
    const char *line = block;

    while (*line != '\0') {
        const char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':')
            ++count;
        if (eol == NULL)
            break;
        line = eol + 2;
    }
    return count;
}

/* Handles every complete request in c->buf. */
static void serve(conn_t *c)
{
    server_t *srv = c->srv;

    while (!c->hanging && !c->closing) {
        const char *end = find(c->buf, c->len, "\r\n\r\n");
        const char *eol;
        size_t head_len, body_len = 0, line_len;
        char line[512], hdrs[8192], value[64];
        seen_t *seen = &srv->last;

        if (end == NULL)
            return;
        head_len = (size_t)(end - c->buf) + 4;
        eol = find(c->buf, head_len, "\r\n");
        line_len = (size_t)(eol - c->buf);
        assert_true(line_len < sizeof(line));
        memcpy(line, c->buf, line_len);
        line[line_len] = '\0';
        assert_true(head_len - line_len - 2 < sizeof(hdrs));
        memcpy(hdrs, eol + 2, head_len - line_len - 2);
        hdrs[head_len - line_len - 2] = '\0';
        if (header_value(hdrs, "content-length", value, sizeof(value)))
            body_len = strtoul(value, NULL, 10);
        if (c->len < head_len + body_len)
            return;

        ++srv->requests;
        memset(seen, 0, sizeof(*seen));
        assert_int_equal(sscanf(line, "%15s %255s", seen->method, seen->path), 2);
        memcpy(seen->headers, hdrs, sizeof(hdrs));
        seen->body_len = body_len < sizeof(seen->body) ? body_len : sizeof(seen->body);
        memcpy(seen->body, c->buf + head_len, seen->body_len);
        memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
        c->len -= head_len + body_len;

        if (strcmp(seen->path, "/ok") == 0)
            respond(c, 200, "OK", "", srv->ok_body, sizeof(srv->ok_body));
        else if (strcmp(seen->path, "/small") == 0)
            respond(c, 200, "OK", "", "ok", 2);
        else if (strcmp(seen->path, "/err") == 0)
            respond(c, 500, "Internal Server Error", "", "boom", 4);
        else if (strcmp(seen->path, "/retry") == 0)
            respond(c, 503, "Service Unavailable", "Retry-After:  120 \r\n", "", 0);
        else if (strcmp(seen->path, "/redirect") == 0)
            respond(c, 302, "Found", "Location: /ok\r\n", "", 0);
        else if (strcmp(seen->path, "/hang") == 0)
            c->hanging = true;
        else
            respond(c, 404, "Not Found", "", "", 0);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = handle->data;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(CONN_BUF - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = stream->data;

    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    serve(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    server_t *srv = listener->data;
    conn_t *c;

    assert_int_equal(status, 0);
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    ++srv->accepted;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read), 0);
}

static void server_start(server_t *srv, uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    for (size_t i = 0; i != sizeof(srv->ok_body); ++i)
        srv->ok_body[i] = (char)('a' + i % 26);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    assert_int_equal(uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv->listener, 511, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len), 0);
    srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void server_stop(server_t *srv)
{
    while (srv->conns != NULL)
        conn_close(srv->conns);
    if (!uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, NULL);
}

/* ---- fixture ---- */

typedef struct fx fx_t;

typedef struct {
    fx_t *fx;
    int fired;
    unsigned seq;
    wh_err_t err;
    long status;
    char error[WH_ERRBUF_SIZE];
    int64_t latency_ms;
    char body[WH_MAX_RESPONSE_KEEP];
    size_t body_len;
    bool truncated;
    bool has_retry_after;
    char retry_after[WH_HTTP_MAX_RETRY_AFTER + 1];
    /* what a wh_http_post() from inside the callback returned (close tests) */
    wh_err_t post_in_cb;
} rec_t;

struct fx {
    uv_loop_t loop;
    uv_timer_t watchdog;
    server_t srv;
    wh_config_t cfg;
    wh_http_t *http;
    unsigned completed;
    unsigned seq;
    unsigned closed;
    unsigned closed_seq;
    rec_t recs[MAX_RECS];
    /* chained and close-from-callback tests */
    unsigned chain_left;
    char url[512];
};

static void on_closed(void *data)
{
    fx_t *fx = data;
    ++fx->closed;
    fx->closed_seq = ++fx->seq;
}

static void record(const wh_http_result_t *res, rec_t *r)
{
    fx_t *fx = r->fx;

    ++r->fired;
    r->seq = ++fx->seq;
    r->err = res->err;
    r->status = res->status;
    snprintf(r->error, sizeof(r->error), "%s", res->error);
    r->latency_ms = res->latency_ms;
    assert_true(res->body_len <= sizeof(r->body));
    memcpy(r->body, res->body, res->body_len);
    r->body_len = res->body_len;
    r->truncated = res->body_truncated;
    r->has_retry_after = res->retry_after != NULL;
    if (res->retry_after != NULL)
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", res->retry_after);
    ++fx->completed;
}

static void on_result(const wh_http_result_t *res, void *data)
{
    record(res, data);
}

static void make_url(fx_t *fx, const char *path, char *out, size_t outlen)
{
    snprintf(out, outlen, "http://127.0.0.1:%d%s", fx->srv.port, path);
}

static wh_err_t post(fx_t *fx, const char *path, int64_t timeout_ms, rec_t *r)
{
    char url[256];

    make_url(fx, path, url, sizeof(url));
    r->fx = fx;
    return wh_http_post(fx->http, url, NULL, 0, "{}", 2, timeout_ms, on_result, r);
}

static void on_watchdog(uv_timer_t *t)
{
}

typedef bool (*pred_fn)(fx_t *fx, unsigned n);

static bool completed_at_least(fx_t *fx, unsigned n)
{
    return fx->completed >= n;
}

static bool requests_at_least(fx_t *fx, unsigned n)
{
    return fx->srv.requests >= n;
}

static bool slow_lookups_at_least(fx_t *fx, unsigned n)
{
    return (unsigned)atomic_load(&slow_lookups_done) >= n;
}

static bool closed_at_least(fx_t *fx, unsigned n)
{
    return fx->closed >= n;
}

/* Runs the loop until pred(fx, n) holds; fails after 10 s. The watchdog wakes UV_RUN_ONCE regularly. */
static void run_until(fx_t *fx, pred_fn pred, unsigned n)
{
    int64_t deadline = wh_mono_ms() + 10000;

    uv_timer_start(&fx->watchdog, on_watchdog, 20, 20);
    while (!pred(fx, n)) {
        if (wh_mono_ms() > deadline)
            fail_msg("condition not reached in 10 s (completed %u, requests %u)", fx->completed, fx->srv.requests);
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&fx->watchdog);
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    if (fx == NULL || uv_loop_init(&fx->loop) != 0)
        return -1;
    uv_timer_init(&fx->loop, &fx->watchdog);
    server_start(&fx->srv, &fx->loop);
    fx->cfg.delivery_timeout_ms = 5000;
    fx->http = wh_http_new(&fx->loop, &fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    int rc;

    if (fx->http != NULL) {
        wh_http_close(fx->http, on_closed, fx);
        fx->http = NULL;
    }
    server_stop(&fx->srv);
    uv_close((uv_handle_t *)&fx->watchdog, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    /* UV_EBUSY here means a handle was never closed. */
    rc = uv_loop_close(&fx->loop);
    if (rc != 0 || fx->closed != 1) {
        fprintf(stderr, "teardown: uv_loop_close %s, close callbacks %u\n", rc != 0 ? uv_strerror(rc) : "ok", fx->closed);
        free(fx);
        return -1;
    }
    free(fx);
    return 0;
}

/* ---- tests ---- */

static void test_ok_body_truncated_and_request(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];
    const char *headers[] = {"webhook-id: msg_1", "X-Custom: yes"};
    char body[2000], url[256], value[256];
    const seen_t *seen = &fx->srv.last;

    /* Over 1 KiB (curl would add "Expect: 100-continue") and with a NUL inside (binary-safe). */
    for (size_t i = 0; i != sizeof(body); ++i)
        body[i] = (char)('A' + i % 23);
    body[100] = '\0';
    make_url(fx, "/ok", url, sizeof(url));
    r->fx = fx;
    assert_int_equal(wh_http_post(fx->http, url, headers, 2, body, sizeof(body), 5000, on_result, r), WH_OK);
    assert_int_equal(wh_http_inflight(fx->http), 1);
    run_until(fx, completed_at_least, 1);

    assert_int_equal(r->fired, 1);
    assert_int_equal(r->err, WH_OK);
    assert_string_equal(r->error, "");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, WH_MAX_RESPONSE_KEEP);
    assert_true(r->truncated);
    assert_memory_equal(r->body, fx->srv.ok_body, WH_MAX_RESPONSE_KEEP);
    assert_false(r->has_retry_after);
    assert_true(r->latency_ms >= 0);
    assert_int_equal(wh_http_inflight(fx->http), 0);

    assert_string_equal(seen->method, "POST");
    assert_string_equal(seen->path, "/ok");
    assert_true(header_value(seen->headers, "content-type", value, sizeof(value)));
    assert_string_equal(value, "application/json");
    assert_true(header_value(seen->headers, "user-agent", value, sizeof(value)));
    assert_string_equal(value, "wharf/" WHARF_VERSION);
    assert_true(header_value(seen->headers, "webhook-id", value, sizeof(value)));
    assert_string_equal(value, "msg_1");
    assert_true(header_value(seen->headers, "x-custom", value, sizeof(value)));
    assert_string_equal(value, "yes");
    assert_false(header_value(seen->headers, "expect", value, sizeof(value)));
    assert_int_equal(seen->body_len, sizeof(body));
    assert_memory_equal(seen->body, body, sizeof(body));
}

static void test_caller_content_type_replaces_default(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];
    const char *headers[] = {"content-type: application/x-test"};
    char url[256], value[64];

    make_url(fx, "/small", url, sizeof(url));
    r->fx = fx;
    assert_int_equal(wh_http_post(fx->http, url, headers, 1, "x", 1, 5000, on_result, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->status, 200);
    assert_int_equal(header_count(fx->srv.last.headers, "content-type"), 1);
    assert_true(header_value(fx->srv.last.headers, "content-type", value, sizeof(value)));
    assert_string_equal(value, "application/x-test");
}

static void test_status_500_passed_through(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];

    assert_int_equal(post(fx, "/err", 5000, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->err, WH_OK);
    assert_int_equal(r->status, 500);
    assert_int_equal(r->body_len, 4);
    assert_memory_equal(r->body, "boom", 4);
    assert_false(r->truncated);
}

static void test_retry_after_captured(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];

    assert_int_equal(post(fx, "/retry", 5000, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->err, WH_OK);
    assert_int_equal(r->status, 503);
    assert_true(r->has_retry_after);
    assert_string_equal(r->retry_after, "120");
    assert_int_equal(r->body_len, 0);
}

static void test_redirect_not_followed(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];

    assert_int_equal(post(fx, "/redirect", 5000, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->err, WH_OK);
    assert_int_equal(r->status, 302);
    assert_int_equal(fx->srv.requests, 1);
    assert_string_equal(fx->srv.last.path, "/redirect");
}

static void test_hang_times_out(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];

    assert_int_equal(post(fx, "/hang", 300, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->err, WH_ETIMEDOUT);
    assert_int_equal(r->status, 0);
    assert_true(r->error[0] != '\0');
    print_message("timeout after %lld ms: %s\n", (long long)r->latency_ms, r->error);
    assert_true(r->latency_ms >= 290);
    assert_true(r->latency_ms < 3000);
}

static void test_connection_refused(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    char url[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was just free and is closed again: nothing listens there. */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", ntohs(addr.sin_port));
    r->fx = fx;
    assert_int_equal(wh_http_post(fx->http, url, NULL, 0, "{}", 2, 5000, on_result, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(r->err, WH_EUNAVAILABLE);
    assert_int_equal(r->status, 0);
    assert_true(r->error[0] != '\0');
    print_message("refused: %s\n", r->error);
}

static void test_invalid_arguments(void **state)
{
    fx_t *fx = *state;
    const char *bad_header[] = {"X-Evil: a\r\nX-Injected: b"};
    char url[256], *long_url;

    make_url(fx, "/ok", url, sizeof(url));
    assert_int_equal(wh_http_post(fx->http, url, bad_header, 1, "{}", 2, 1000, on_result, &fx->recs[0]), WH_EINVAL);
    assert_int_equal(wh_http_post(fx->http, NULL, NULL, 0, "{}", 2, 1000, on_result, &fx->recs[0]), WH_EINVAL);
    assert_int_equal(wh_http_post(fx->http, url, NULL, 0, NULL, 2, 1000, on_result, &fx->recs[0]), WH_EINVAL);
    long_url = malloc(WH_MAX_URL_LEN + 2);
    assert_non_null(long_url);
    memset(long_url, 'a', WH_MAX_URL_LEN + 1);
    memcpy(long_url, "http://", 7);
    long_url[WH_MAX_URL_LEN + 1] = '\0';
    assert_int_equal(wh_http_post(fx->http, long_url, NULL, 0, "{}", 2, 1000, on_result, &fx->recs[0]), WH_ETOO_LARGE);
    free(long_url);
    assert_int_equal(wh_http_inflight(fx->http), 0);

    /* Bad URLs are reported through the callback, like every other per-attempt failure. */
    fx->recs[0].fx = fx;
    fx->recs[1].fx = fx;
    assert_int_equal(wh_http_post(fx->http, "http://exa mple/", NULL, 0, "", 0, 1000, on_result, &fx->recs[0]), WH_OK);
    snprintf(url, sizeof(url), "ftp://127.0.0.1:%d/", fx->srv.port);
    assert_int_equal(wh_http_post(fx->http, url, NULL, 0, "", 0, 1000, on_result, &fx->recs[1]), WH_OK);
    run_until(fx, completed_at_least, 2);
    assert_int_equal(fx->completed, 2);
    assert_int_equal(fx->recs[0].err, WH_EINVAL);
    assert_int_equal(fx->recs[1].err, WH_EINVAL);
    assert_int_equal(fx->srv.accepted, 0);
}

static void test_concurrent_keepalive(void **state)
{
    fx_t *fx = *state;
    wh_http_stats_t st;
    unsigned first_round;

    for (unsigned round = 0; round != 2; ++round) {
        fx->completed = 0;
        memset(fx->recs, 0, sizeof(fx->recs));
        for (unsigned i = 0; i != 200; ++i)
            assert_int_equal(post(fx, "/small", 5000, &fx->recs[i]), WH_OK);
        assert_int_equal(wh_http_inflight(fx->http), 200);
        run_until(fx, completed_at_least, 200);
        for (unsigned i = 0; i != 200; ++i) {
            assert_int_equal(fx->recs[i].fired, 1);
            assert_int_equal(fx->recs[i].err, WH_OK);
            assert_int_equal(fx->recs[i].status, 200);
            assert_memory_equal(fx->recs[i].body, "ok", 2);
        }
        if (round == 0)
            first_round = fx->srv.accepted;
    }
    wh_http_stats(fx->http, &st);
    print_message("400 POSTs: %u connections accepted (%u after the first 200), %llu polls created\n", fx->srv.accepted,
                  first_round, (unsigned long long)st.polls_created);
    assert_int_equal(fx->srv.requests, 400);
    assert_int_equal(wh_http_inflight(fx->http), 0);
    assert_true(first_round >= 1);
    assert_true(first_round <= WH_HTTP_MAX_HOST_CONNECTIONS);
    /* The second round reuses the first round's connections. */
    assert_int_equal(fx->srv.accepted, first_round);
    assert_int_equal(st.connections_opened, fx->srv.accepted);
    assert_int_equal(st.polls_created, st.connections_opened);
    assert_int_equal(st.transfers_started, 400);
    assert_int_equal(st.sockets_open, fx->srv.accepted);
}

static void on_chained(const wh_http_result_t *res, void *data)
{
    rec_t *r = data;
    fx_t *fx = r->fx;

    record(res, r);
    if (fx->chain_left == 0)
        return;
    --fx->chain_left;
    r[1].fx = fx;
    assert_int_equal(wh_http_post(fx->http, fx->url, NULL, 0, "{}", 2, 5000, on_chained, &r[1]), WH_OK);
}

static void test_sequential_reuse_one_poll(void **state)
{
    fx_t *fx = *state;
    wh_http_stats_t st;
    unsigned epoll_calls = atomic_load(&epoll_ctl_calls);

    /* Each POST starts from the previous one's callback: one kept-alive connection, one uv_poll (P10). */
    make_url(fx, "/small", fx->url, sizeof(fx->url));
    fx->chain_left = 9;
    fx->recs[0].fx = fx;
    assert_int_equal(wh_http_post(fx->http, fx->url, NULL, 0, "{}", 2, 5000, on_chained, &fx->recs[0]), WH_OK);
    run_until(fx, completed_at_least, 10);
    for (unsigned i = 0; i != 10; ++i)
        assert_int_equal(fx->recs[i].status, 200);
    wh_http_stats(fx->http, &st);
    assert_int_equal(fx->srv.accepted, 1);
    assert_int_equal(st.connections_opened, 1);
    assert_int_equal(st.polls_created, 1);
    assert_int_equal(st.sockets_open, 1);
    /* and the poll is started when the events curl wants change (connect, then read), not once per transfer:
       each start costs two epoll_ctl calls */
    epoll_calls = atomic_load(&epoll_ctl_calls) - epoll_calls;
    print_message("10 sequential POSTs: %llu poll starts, %u epoll_ctl calls\n", (unsigned long long)st.polls_started, epoll_calls);
    assert_true(st.polls_started <= 3);
    /* the responder on the same loop makes ~2 per POST; the client's polls added 3 per POST (48 in all) when each
       transfer started and stopped its poll */
    assert_true(epoll_calls <= 25);
}

static bool idle_polls_stopped_at_least(fx_t *fx, unsigned n)
{
    wh_http_stats_t st;
    wh_http_stats(fx->http, &st);
    return st.idle_polls_stopped >= n;
}

static void count_turns(uv_timer_t *t)
{
    (void)t;
}

/*
 * A kept-alive connection the server closes while idle: still watched for reading between transfers, it wakes the
 * loop once, its poll stops (no busy loop on a readable socket nobody reads), and the next POST goes out on a new
 * connection.
 */
static void test_idle_connection_closed_by_server(void **state)
{
    fx_t *fx = *state;
    wh_http_stats_t st;
    uv_timer_t tick;
    unsigned turns = 0;
    int64_t until;

    assert_int_equal(post(fx, "/small", 5000, &fx->recs[0]), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(fx->recs[0].status, 200);
    while (fx->srv.conns != NULL)
        conn_close(fx->srv.conns);
    run_until(fx, idle_polls_stopped_at_least, 1);
    /* 100 ms of the loop with a 20 ms timer: a handful of turns, not the thousands a readable fd would cause */
    uv_timer_init(&fx->loop, &tick);
    uv_timer_start(&tick, count_turns, 20, 20);
    for (until = wh_mono_ms() + 100; wh_mono_ms() < until; ++turns)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    print_message("idle closed connection: %u loop turns in 100 ms\n", turns);
    assert_true(turns < 50);
    assert_int_equal(post(fx, "/small", 5000, &fx->recs[1]), WH_OK);
    run_until(fx, completed_at_least, 2);
    assert_int_equal(fx->recs[1].err, WH_OK);
    assert_int_equal(fx->recs[1].status, 200);
    wh_http_stats(fx->http, &st);
    assert_int_equal(fx->srv.accepted, 2);
    assert_int_equal(st.idle_polls_stopped, 1);
}

typedef struct {
    unsigned calls;
    bool verdict;
    int family;
    int port;
    char ip[INET6_ADDRSTRLEN];
} policy_t;

static bool policy(const struct sockaddr *addr, void *data)
{
    policy_t *p = data;

    ++p->calls;
    p->family = addr->sa_family;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, p->ip, sizeof(p->ip));
        p->port = ntohs(in->sin_port);
    }
    return p->verdict;
}

static void test_address_policy(void **state)
{
    fx_t *fx = *state;
    policy_t p = {.verdict = false};
    wh_http_stats_t st;

    wh_http_set_address_policy(fx->http, policy, &p);
    assert_int_equal(post(fx, "/small", 5000, &fx->recs[0]), WH_OK);
    run_until(fx, completed_at_least, 1);
    assert_int_equal(fx->recs[0].err, WH_EUNAVAILABLE);
    assert_string_equal(fx->recs[0].error, "destination address refused");
    assert_int_equal(fx->recs[0].status, 0);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.family, AF_INET);
    assert_string_equal(p.ip, "127.0.0.1");
    assert_int_equal(p.port, fx->srv.port);
    assert_int_equal(fx->srv.accepted, 0);
    wh_http_stats(fx->http, &st);
    assert_int_equal(st.connections_refused, 1);
    assert_int_equal(st.connections_opened, 0);

    p.verdict = true;
    assert_int_equal(post(fx, "/small", 5000, &fx->recs[1]), WH_OK);
    run_until(fx, completed_at_least, 2);
    assert_int_equal(fx->recs[1].err, WH_OK);
    assert_int_equal(fx->recs[1].status, 200);
    assert_int_equal(p.calls, 2);
    assert_int_equal(fx->srv.accepted, 1);
    wh_http_set_address_policy(fx->http, NULL, NULL);
}

static void on_canceled(const wh_http_result_t *res, void *data)
{
    rec_t *r = data;
    char url[256];

    record(res, r);
    make_url(r->fx, "/small", url, sizeof(url));
    r->post_in_cb = wh_http_post(r->fx->http, url, NULL, 0, "{}", 2, 1000, on_result, r);
}

static void test_close_cancels_inflight(void **state)
{
    fx_t *fx = *state;
    char url[256];

    make_url(fx, "/hang", url, sizeof(url));
    for (unsigned i = 0; i != 5; ++i) {
        fx->recs[i].fx = fx;
        assert_int_equal(wh_http_post(fx->http, url, NULL, 0, "{}", 2, 5000, on_canceled, &fx->recs[i]), WH_OK);
    }
    run_until(fx, requests_at_least, 5);
    assert_int_equal(fx->completed, 0);

    wh_http_close(fx->http, on_closed, fx);
    /* Cancellations fire before wh_http_close() returns; the close callback only from the loop. */
    assert_int_equal(fx->completed, 5);
    assert_int_equal(fx->closed, 0);
    for (unsigned i = 0; i != 5; ++i) {
        assert_int_equal(fx->recs[i].fired, 1);
        assert_int_equal(fx->recs[i].err, WH_ECANCELED);
        assert_int_equal(fx->recs[i].post_in_cb, WH_ECANCELED);
    }
    run_until(fx, closed_at_least, 1);
    fx->http = NULL;
    for (unsigned i = 0; i != 5; ++i)
        assert_true(fx->recs[i].seq < fx->closed_seq);
}

static void on_close_from_callback(const wh_http_result_t *res, void *data)
{
    rec_t *r = data;
    fx_t *fx = r->fx;

    record(res, r);
    /* The hanging transfers are still in flight here. */
    for (unsigned i = 1; i != 4; ++i)
        assert_int_equal(fx->recs[i].fired, 0);
    wh_http_close(fx->http, on_closed, fx);
    assert_int_equal(wh_http_post(fx->http, fx->url, NULL, 0, "{}", 2, 1000, on_result, &fx->recs[10]), WH_ECANCELED);
    for (unsigned i = 1; i != 4; ++i)
        assert_int_equal(fx->recs[i].fired, 0);
}

static void test_close_from_inside_callback(void **state)
{
    fx_t *fx = *state;

    for (unsigned i = 1; i != 4; ++i)
        assert_int_equal(post(fx, "/hang", 5000, &fx->recs[i]), WH_OK);
    run_until(fx, requests_at_least, 3);
    make_url(fx, "/small", fx->url, sizeof(fx->url));
    fx->recs[0].fx = fx;
    assert_int_equal(wh_http_post(fx->http, fx->url, NULL, 0, "{}", 2, 5000, on_close_from_callback, &fx->recs[0]), WH_OK);
    run_until(fx, closed_at_least, 1);
    fx->http = NULL;
    assert_int_equal(fx->recs[0].err, WH_OK);
    for (unsigned i = 1; i != 4; ++i) {
        assert_int_equal(fx->recs[i].fired, 1);
        assert_int_equal(fx->recs[i].err, WH_ECANCELED);
        assert_true(fx->recs[i].seq > fx->recs[0].seq);
        assert_true(fx->recs[i].seq < fx->closed_seq);
    }
    assert_int_equal(fx->recs[10].fired, 0);
}

/* A host name goes through curl's threaded resolver, whose wake-up socket is polled too. */
static void test_hostname_through_resolver(void **state)
{
    fx_t *fx = *state;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char host[256];
    bool loopback = false;
    wh_http_stats_t st;

    if (gethostname(host, sizeof(host)) != 0 || getaddrinfo(host, NULL, &hints, &ai) != 0) {
        skip();
        return;
    }
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next)
        loopback = loopback || ((struct sockaddr_in *)p->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    freeaddrinfo(ai);
    if (!loopback || strcmp(host, "localhost") == 0) {
        print_message("skipped: host name %s does not resolve to 127.0.0.1\n", host);
        skip();
        return;
    }
    snprintf(fx->url, sizeof(fx->url), "http://%s:%d/small", host, fx->srv.port);
    fx->chain_left = 2;
    fx->recs[0].fx = fx;
    assert_int_equal(wh_http_post(fx->http, fx->url, NULL, 0, "{}", 2, 5000, on_chained, &fx->recs[0]), WH_OK);
    run_until(fx, completed_at_least, 3);
    for (unsigned i = 0; i != 3; ++i) {
        assert_int_equal(fx->recs[i].err, WH_OK);
        assert_int_equal(fx->recs[i].status, 200);
    }
    wh_http_stats(fx->http, &st);
    print_message("resolved %s: %llu polls for %llu connections\n", host, (unsigned long long)st.polls_created,
                  (unsigned long long)st.connections_opened);
    assert_int_equal(fx->srv.accepted, 1);
    assert_int_equal(st.connections_opened, 1);
}

/* A deadline that passes while the name is still resolving must not wait for the resolver thread. */
static void test_slow_dns_does_not_block_loop(void **state)
{
    fx_t *fx = *state;
    rec_t *r = &fx->recs[0];

    r->fx = fx;
    assert_int_equal(wh_http_post(fx->http, "http://" SLOW_HOST ":1/", NULL, 0, "{}", 2, 200, on_result, r), WH_OK);
    run_until(fx, completed_at_least, 1);
    print_message("resolving deadline after %lld ms: %s\n", (long long)r->latency_ms, r->error);
    assert_int_equal(r->err, WH_ETIMEDOUT);
    /* Joining the resolver thread would have delivered this after SLOW_DNS_MS, the loop frozen meanwhile. */
    assert_true(r->latency_ms < SLOW_DNS_MS - 300);
    /* The detached lookup ends on its own; wait for it so no thread outlives the test. */
    run_until(fx, slow_lookups_at_least, 1);
}

static int group_setup(void **state)
{
    /* The process ignores SIGPIPE itself (CURLOPT_NOSIGNAL); the responder writes to sockets curl may close. */
    signal(SIGPIPE, SIG_IGN);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ok_body_truncated_and_request),
        T(test_caller_content_type_replaces_default),
        T(test_status_500_passed_through),
        T(test_retry_after_captured),
        T(test_redirect_not_followed),
        T(test_hang_times_out),
        T(test_connection_refused),
        T(test_invalid_arguments),
        T(test_concurrent_keepalive),
        T(test_sequential_reuse_one_poll),
        T(test_idle_connection_closed_by_server),
        T(test_address_policy),
        T(test_close_cancels_inflight),
        T(test_close_from_inside_callback),
        T(test_hostname_through_resolver),
        T(test_slow_dns_does_not_block_loop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
