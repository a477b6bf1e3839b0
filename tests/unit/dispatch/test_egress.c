/*
 * dispatch/egress.c: the policy on socket addresses of every class, then end to end through dispatch/http.c
 * against a real loopback listener that must never see a connection while the guard is on.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <uv.h>
#include "common/time.h"
#include "dispatch/egress.h"
#include "dispatch/http.h"

/* ---- the policy on addresses ---- */

static bool allow_text(const char *text, char *why, size_t whylen)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(443);
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(443);
        assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    wh_egress_explain((const struct sockaddr *)&ss, why, whylen, NULL);
    return wh_egress_allow((const struct sockaddr *)&ss, NULL);
}

static void expect(const char *text, bool allowed, const char *reason)
{
    char why[WH_HTTP_MAX_REFUSAL_REASON];
    bool got = allow_text(text, why, sizeof(why));

    if (got != allowed)
        fail_msg("%s: expected %s, got %s (%s)", text, allowed ? "allowed" : "refused", got ? "allowed" : "refused", why);
    if (reason != NULL && strcmp(why, reason) != 0)
        fail_msg("%s: expected reason \"%s\", got \"%s\"", text, reason, why);
}

static void test_policy_public_allowed(void **state)
{
    (void)state;
    expect("93.184.216.34", true, "93.184.216.34 (public)");
    expect("8.8.8.8", true, NULL);
    expect("172.32.0.1", true, NULL); /* just past 172.16/12 */
    expect("2606:4700:4700::1111", true, "2606:4700:4700::1111 (public)");
}

static void test_policy_ipv4_refused(void **state)
{
    (void)state;
    expect("127.0.0.1", false, "127.0.0.1 (loopback)");
    expect("127.255.0.9", false, "127.255.0.9 (loopback)");
    expect("10.0.0.1", false, "10.0.0.1 (private)");
    expect("172.16.5.4", false, "172.16.5.4 (private)");
    expect("172.31.255.255", false, "172.31.255.255 (private)");
    expect("192.168.1.1", false, "192.168.1.1 (private)");
    expect("169.254.169.254", false, "169.254.169.254 (metadata)");
    expect("169.254.1.1", false, "169.254.1.1 (link_local)");
    expect("100.64.0.1", false, "100.64.0.1 (cgnat)");
    expect("100.100.100.200", false, "100.100.100.200 (metadata)");
    expect("0.0.0.0", false, "0.0.0.0 (unspecified)");
    expect("224.0.0.1", false, "224.0.0.1 (multicast)");
    expect("255.255.255.255", false, NULL);
    expect("192.0.2.1", false, "192.0.2.1 (reserved)");
}

static void test_policy_ipv6_refused(void **state)
{
    (void)state;
    expect("::1", false, "::1 (loopback)");
    expect("::", false, ":: (unspecified)");
    expect("fe80::1", false, "fe80::1 (link_local)");
    expect("fc00::1", false, "fc00::1 (private)");
    expect("fd12:3456::1", false, "fd12:3456::1 (private)");
    expect("ff02::1", false, "ff02::1 (multicast)");
    expect("fd00:ec2::254", false, "fd00:ec2::254 (metadata)");
    expect("2001:db8::1", false, "2001:db8::1 (reserved)");
    /* IPv4 carried in IPv6 is judged as the IPv4 address it carries. */
    expect("::ffff:127.0.0.1", false, "127.0.0.1 (loopback)");
    expect("::ffff:169.254.169.254", false, "169.254.169.254 (metadata)");
    expect("::ffff:10.1.2.3", false, "10.1.2.3 (private)");
    expect("64:ff9b::7f00:1", false, "64:ff9b::7f00:1 (loopback)");
    expect("64:ff9b::a9fe:a9fe", false, "64:ff9b::a9fe:a9fe (metadata)");
    expect("2002:7f00:1::", false, "2002:7f00:1:: (loopback)");
}

static void test_policy_non_ip_refused(void **state)
{
    struct sockaddr_un un;
    struct sockaddr sa;
    char why[WH_HTTP_MAX_REFUSAL_REASON];

    (void)state;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", "/var/run/docker.sock");
    assert_false(wh_egress_allow((const struct sockaddr *)&un, NULL));
    wh_egress_explain((const struct sockaddr *)&un, why, sizeof(why), NULL);
    assert_string_equal(why, "address family 1");

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    assert_false(wh_egress_allow(&sa, NULL));
}

static void test_explain_bounded(void **state)
{
    char why[12];
    struct sockaddr_in6 in6;

    (void)state;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "fd12:3456:789a:bcde:f012:3456:789a:bcde", &in6.sin6_addr), 1);
    memset(why, 'x', sizeof(why));
    wh_egress_explain((const struct sockaddr *)&in6, why, sizeof(why), NULL);
    assert_int_equal(strlen(why), sizeof(why) - 1);
    wh_egress_explain((const struct sockaddr *)&in6, why, 0, NULL); /* writes nothing */
}

/* ---- end to end: a loopback listener that answers 204 and counts connections ---- */

#define CONN_BUF 8192

typedef struct server server_t;

typedef struct conn {
    uv_tcp_t tcp;
    server_t *srv;
    struct conn *next;
    size_t len;
    char buf[CONN_BUF];
} conn_t;

struct server {
    uv_tcp_t listener;
    int port;
    conn_t *conns;
    unsigned accepted;
    unsigned requests;
};

static void on_conn_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = handle->data;

    (void)suggested;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(CONN_BUF - 1 - c->len));
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Answers every complete request (headers + Content-Length body) with 204, keeping the connection alive. */
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    static const char reply[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    conn_t *c = stream->data;

    (void)buf;
    if (nread < 0) {
        uv_read_stop(stream);
        return;
    }
    c->len += (size_t)nread;
    c->buf[c->len] = '\0';
    for (;;) {
        const char *end = strstr(c->buf, "\r\n\r\n"), *cl;
        size_t want = 0, used;
        uv_write_t *w;
        uv_buf_t out = uv_buf_init((char *)reply, sizeof(reply) - 1);

        if (end == NULL)
            return;
        cl = strcasestr(c->buf, "\r\ncontent-length:");
        if (cl != NULL && cl < end)
            want = strtoul(cl + strlen("\r\ncontent-length:"), NULL, 10);
        used = (size_t)(end + 4 - c->buf) + want;
        if (c->len < used)
            return;
        w = malloc(sizeof(*w));
        assert_non_null(w);
        ++c->srv->requests;
        assert_int_equal(uv_write(w, stream, &out, 1, on_written), 0);
        memmove(c->buf, c->buf + used, c->len - used + 1);
        c->len -= used;
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    server_t *srv = listener->data;
    conn_t *c = calloc(1, sizeof(*c));

    assert_int_equal(status, 0);
    assert_non_null(c);
    c->srv = srv;
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    c->next = srv->conns;
    srv->conns = c;
    ++srv->accepted;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read), 0);
}

typedef struct {
    uv_loop_t loop;
    uv_timer_t watchdog;
    server_t srv;
    wh_config_t cfg;
    wh_http_t *http;
    unsigned completed;
    unsigned closed;
} fx_t;

typedef struct {
    fx_t *fx;
    int fired;
    wh_err_t err;
    long status;
    int64_t latency_ms;
    char error[WH_ERRBUF_SIZE];
} rec_t;

static void on_result(const wh_http_result_t *res, void *data)
{
    rec_t *r = data;

    ++r->fired;
    r->err = res->err;
    r->status = res->status;
    r->latency_ms = res->latency_ms;
    snprintf(r->error, sizeof(r->error), "%s", res->error);
    ++r->fx->completed;
}

static void on_closed(void *data)
{
    ++((fx_t *)data)->closed;
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until `n` transfers completed; fails after 10 s. */
static void run_until_completed(fx_t *fx, unsigned n)
{
    int64_t deadline = wh_mono_ms() + 10000;

    uv_timer_start(&fx->watchdog, on_watchdog, 20, 20);
    while (fx->completed < n) {
        if (wh_mono_ms() > deadline)
            fail_msg("%u transfers not completed in 10 s (completed %u)", n, fx->completed);
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&fx->watchdog);
}

static fx_t *fx_new(bool allow_private)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->watchdog);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    uv_tcp_init(&fx->loop, &fx->srv.listener);
    fx->srv.listener.data = &fx->srv;
    assert_int_equal(uv_tcp_bind(&fx->srv.listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&fx->srv.listener, 64, on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&fx->srv.listener, (struct sockaddr *)&bound, &len), 0);
    fx->srv.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    fx->cfg.delivery_timeout_ms = 5000;
    fx->cfg.allow_private_destinations = allow_private;
    fx->http = wh_http_new(&fx->loop, &fx->cfg);
    wh_egress_install(fx->http, &fx->cfg);
    return fx;
}

static void fx_free(fx_t *fx)
{
    wh_http_close(fx->http, on_closed, fx);
    while (fx->srv.conns != NULL) {
        conn_t *c = fx->srv.conns;
        fx->srv.conns = c->next;
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
    uv_close((uv_handle_t *)&fx->srv.listener, NULL);
    uv_close((uv_handle_t *)&fx->watchdog, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->closed, 1);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    free(fx);
}

/* POSTs to `fmt` (with the listener's port) and waits for the result. */
static void post_and_wait(fx_t *fx, rec_t *r, const char *fmt)
{
    char url[256];

    snprintf(url, sizeof(url), fmt, fx->srv.port);
    r->fx = fx;
    assert_int_equal(wh_http_post(fx->http, url, NULL, 0, "{}", 2, 0, on_result, r), WH_OK);
    run_until_completed(fx, fx->completed + 1);
    assert_int_equal(r->fired, 1);
    print_message("%s -> %s, status %ld, %lld ms: %s\n", url, wh_err_name(r->err), r->status, (long long)r->latency_ms, r->error);
}

/* Refused before connect: no socket was opened, the listener accepted nothing, and it failed at once. */
static void assert_refused(fx_t *fx, const rec_t *r, const char *reason)
{
    wh_http_stats_t st;
    char want[WH_ERRBUF_SIZE];

    assert_int_equal(r->err, WH_EUNAVAILABLE);
    assert_int_equal(r->status, 0);
    snprintf(want, sizeof(want), "destination address refused: %s", reason);
    assert_string_equal(r->error, want);
    assert_true(r->latency_ms < 2000);
    wh_http_stats(fx->http, &st);
    assert_int_equal(st.connections_opened, 0);
    assert_true(st.connections_refused >= 1);
    assert_int_equal(fx->srv.accepted, 0);
}

static void test_guard_refuses_loopback(void **state)
{
    fx_t *fx = fx_new(false);
    rec_t r = {0};

    (void)state;
    post_and_wait(fx, &r, "http://127.0.0.1:%d/");
    assert_refused(fx, &r, "127.0.0.1 (loopback)");
    fx_free(fx);
}

/* curl reads inet_aton spellings as the address they mean; the check is on that address. */
static void test_guard_refuses_odd_ipv4_notations(void **state)
{
    static const char *const urls[] = {"http://0x7f.1:%d/", "http://2130706433:%d/", "http://0177.0.0.1:%d/", "http://127.1:%d/"};
    fx_t *fx = fx_new(false);

    (void)state;
    for (size_t i = 0; i != sizeof(urls) / sizeof(urls[0]); ++i) {
        rec_t r = {0};
        post_and_wait(fx, &r, urls[i]);
        assert_refused(fx, &r, "127.0.0.1 (loopback)");
    }
    fx_free(fx);
}

static void test_guard_refuses_ipv6_loopback_and_mapped(void **state)
{
    fx_t *fx = fx_new(false);
    rec_t r1 = {0}, r2 = {0};

    (void)state;
    post_and_wait(fx, &r1, "http://[::1]:%d/");
    assert_refused(fx, &r1, "::1 (loopback)");
    post_and_wait(fx, &r2, "http://[::ffff:127.0.0.1]:%d/");
    assert_refused(fx, &r2, "127.0.0.1 (loopback)");
    fx_free(fx);
}

/* A name goes through the resolver first; every address it yields (127.0.0.1, maybe ::1) is refused. */
static void test_guard_refuses_name_resolving_to_loopback(void **state)
{
    fx_t *fx = fx_new(false);
    rec_t r = {0};
    wh_http_stats_t st;

    (void)state;
    post_and_wait(fx, &r, "http://localhost:%d/");
    assert_int_equal(r.err, WH_EUNAVAILABLE);
    assert_non_null(strstr(r.error, "destination address refused: "));
    assert_non_null(strstr(r.error, " (loopback)"));
    wh_http_stats(fx->http, &st);
    assert_int_equal(st.connections_opened, 0);
    assert_int_equal(fx->srv.accepted, 0);
    fx_free(fx);
}

static void test_guard_off_allows_private(void **state)
{
    fx_t *fx = fx_new(true);
    rec_t r1 = {0}, r2 = {0};

    (void)state;
    post_and_wait(fx, &r1, "http://127.0.0.1:%d/");
    assert_int_equal(r1.err, WH_OK);
    assert_string_equal(r1.error, "");
    assert_int_equal(r1.status, 204);
    post_and_wait(fx, &r2, "http://0x7f.1:%d/");
    assert_int_equal(r2.err, WH_OK);
    assert_int_equal(r2.status, 204);
    assert_true(fx->srv.accepted >= 1);
    assert_int_equal(fx->srv.requests, 2);
    fx_free(fx);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_public_allowed),
        cmocka_unit_test(test_policy_ipv4_refused),
        cmocka_unit_test(test_policy_ipv6_refused),
        cmocka_unit_test(test_policy_non_ip_refused),
        cmocka_unit_test(test_explain_bounded),
        cmocka_unit_test(test_guard_refuses_loopback),
        cmocka_unit_test(test_guard_refuses_odd_ipv4_notations),
        cmocka_unit_test(test_guard_refuses_ipv6_loopback_and_mapped),
        cmocka_unit_test(test_guard_refuses_name_resolving_to_loopback),
        cmocka_unit_test(test_guard_off_allows_private),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
