#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../common/log.h"
#include "../common/time.h"
#include "gateway.h"
#include "server.h"

typedef struct {
    wh_gw_thread_t t; /* first: handlers reach it through the h2o context */
    wh_server_t *server;
    pthread_t tid;
    int fd;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    uv_timer_t drain;
    uv_timer_t ready; /* keeps t.ready and the server's not_ready count up to date */
    h2o_accept_ctx_t accept_ctx;
    int64_t stop_deadline;
} thread_t;

struct wh_server {
    const wh_config_t *cfg;
    h2o_globalconf_t globalconf;
    thread_t *threads;
    unsigned nthreads;
    _Atomic unsigned not_ready;     /* threads whose Redis connection is not ready (/readyz: the whole process) */
    _Atomic(wh_workers_t *) worker; /* role worker: the workers /healthz and /readyz answer for */
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    h2o_iovec_t p = req->path_normalized;
    const wh_gw_thread_t *t = wh_gw_thread_of(req);

    if (t->cfg->role == WH_ROLE_WORKER) { /* a worker's health listener (WHARF_HEALTH_LISTEN): nothing else */
        if (wh_health_handle(req) != 0)
            wh_respond_error(req, 404, "not_found", "a worker answers /healthz, /readyz and /metrics only");
        return 0;
    }
    if (p.len >= 10 && memcmp(p.base, "/webhooks/", 10) == 0) {
        /* the raw path keeps the query string and the provider's exact bytes */
        h2o_iovec_t raw = req->path;
        size_t off = raw.len >= 10 && memcmp(raw.base, "/webhooks/", 10) == 0 ? 10 : 0;
        if (off == 0) {
            wh_respond_error(req, 404, "not_found", "no such route");
            return 0;
        }
        return wh_ingest_handle(req, h2o_iovec_init(raw.base + off, raw.len - off));
    }
    if (p.len >= 4 && memcmp(p.base, "/v1/", 4) == 0) {
        h2o_iovec_t raw = req->path;
        if (raw.len < 4 || memcmp(raw.base, "/v1/", 4) != 0) {
            wh_respond_error(req, 404, "not_found", "no such route");
            return 0;
        }
        return wh_api_handle(req, h2o_iovec_init(raw.base + 4, raw.len - 4));
    }
    if (wh_health_handle(req) == 0)
        return 0;
    wh_respond_error(req, 404, "not_found", "no such route");
    return 0;
}

/*
 * h2o refuses a body over max_request_entity_size itself, before any handler runs, with a plain-text 413.
 * This output filter turns that answer into the contract's JSON error; answers of our own pass untouched.
 */
typedef struct {
    h2o_filter_t super;
    h2o_iovec_t body; /* {"error":{"code":"payload_too_large",…}}, built once with jansson */
} json413_filter_t;

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
    bool sent;
} json413_ostream_t;

static void json413_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    json413_ostream_t *o = (json413_ostream_t *)self;
    if (!o->sent) {
        o->sent = true;
        h2o_ostream_send_next(self, req, &o->body, 1, state);
    } else {
        h2o_ostream_send_next(self, req, NULL, 0, state);
    }
}

static void json413_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    json413_filter_t *f = (json413_filter_t *)self;
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);

    if (req->res.status == 413 && ct >= 0 && h2o_memis(req->res.headers.entries[ct].value.base, 10, H2O_STRLIT("text/plain"))) {
        json413_ostream_t *o = (json413_ostream_t *)h2o_add_ostream(req, sizeof(*o), slot);
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        req->res.content_length = f->body.len;
        o->super.do_send = json413_send;
        o->body = f->body;
        o->sent = false;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

static void add_json413_filter(h2o_pathconf_t *path, h2o_iovec_t body)
{
    json413_filter_t *f = (json413_filter_t *)h2o_create_filter(path, sizeof(*f));
    f->super.on_setup_ostream = json413_setup;
    f->body = body;
}

static void on_accept(uv_stream_t *listener, int status)
{
    thread_t *th = listener->data;
    uv_tcp_t *conn;
    h2o_socket_t *sock;

    if (status != 0)
        return;
    conn = malloc(sizeof(*conn));
    if (conn == NULL)
        abort();
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&th->accept_ctx, sock);
}

/* A thread's readiness as the process counts it: /readyz answers 200 only when every thread can queue. */
static void on_ready_tick(uv_timer_t *timer)
{
    thread_t *th = timer->data;
    bool ready = wh_appender_ready(th->t.appender);

    if (ready == th->t.ready)
        return;
    th->t.ready = ready;
    if (ready)
        atomic_fetch_sub(th->t.not_ready, 1);
    else
        atomic_fetch_add(th->t.not_ready, 1);
}

static void on_drain_tick(uv_timer_t *timer)
{
    thread_t *th = timer->data;
    /* in-flight requests hold their Redis replies: wait for them (bounded), then leave the loop */
    if (th->t.inflight == 0 || wh_mono_ms() >= th->stop_deadline)
        uv_stop(&th->loop);
}

static void on_stop(uv_async_t *async)
{
    thread_t *th = async->data;

    th->t.shutting_down = true;
    uv_close((uv_handle_t *)&th->listener, NULL);
    /* HTTP/1: no more keep-alive on later responses (stack-notes P6) */
    h2o_context_request_shutdown(&th->t.h2o);
    th->stop_deadline = wh_mono_ms() + th->server->cfg->shutdown_grace_ms;
    uv_timer_start(&th->drain, on_drain_tick, 0, 20);
}

static void *thread_main(void *arg)
{
    thread_t *th = arg;
    char name[32];

    snprintf(name, sizeof(name), "gateway-%u", th->t.index);
    uv_loop_init(&th->loop);
    th->t.loop = &th->loop;
    h2o_context_init(&th->t.h2o, &th->loop, &th->server->globalconf);
    th->accept_ctx.ctx = &th->t.h2o;
    th->accept_ctx.hosts = th->server->globalconf.hosts;
    th->t.routes = wh_route_cache_new();
    th->t.redis = wh_redis_new(&th->loop, th->server->cfg, name);
    if (th->server->cfg->redis_wait_replicas > 0) {
        /* WAITs block their connection: they get one of their own, so ingest writes never queue behind them */
        char wname[40];
        snprintf(wname, sizeof(wname), "%s-wait", name);
        th->t.wait_redis = wh_redis_new(&th->loop, th->server->cfg, wname);
    }
    th->t.appender = wh_appender_new(&th->loop, th->t.redis, th->t.wait_redis, th->server->cfg->redis_wait_replicas);
    wh_redis_start(th->t.redis);
    if (th->t.wait_redis != NULL)
        wh_redis_start(th->t.wait_redis);
    uv_tcp_init(&th->loop, &th->listener);
    th->listener.data = th;
    uv_async_init(&th->loop, &th->stop, on_stop);
    th->stop.data = th;
    uv_timer_init(&th->loop, &th->drain);
    th->drain.data = th;
    uv_timer_init(&th->loop, &th->ready);
    th->ready.data = th;
    uv_timer_start(&th->ready, on_ready_tick, 0, 25);
    if (uv_tcp_open(&th->listener, th->fd) != 0 || uv_listen((uv_stream_t *)&th->listener, 4096, on_accept) != 0) {
        wh_log_error("listen_failed", "{s:s}", "thread", name);
        abort();
    }
    uv_run(&th->loop, UV_RUN_DEFAULT);
    /* Connections may still be open (idle keep-alive): the process exits next, so the loop is not torn down. */
    return NULL;
}

static int bind_listener(const wh_config_t *cfg, char *errbuf)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    int fd = -1, on = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", cfg->listen_port);
    if ((rc = getaddrinfo(cfg->listen_host, port, &hints, &res)) != 0) {
        wh_errf(errbuf, WH_EINVAL, "WHARF_LISTEN: cannot resolve %s: %s", cfg->listen_host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        wh_errf(errbuf, WH_EINVAL, "WHARF_LISTEN: cannot bind %s:%u: %s", cfg->listen_host, cfg->listen_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

wh_err_t wh_server_start(const wh_config_t *cfg, wh_server_t **out, char *errbuf)
{
    wh_server_t *s = calloc(1, sizeof(*s));
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;

    if (s == NULL)
        abort();
    s->cfg = cfg;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("wharf"));
    /*
     * A Content-Length body over this never reaches a handler (h2o answers 413 and closes); the handler checks
     * WHARF_MAX_BODY exactly. One byte of slack because h2o refuses a chunked body of exactly the limit.
     */
    s->globalconf.max_request_entity_size = cfg->max_body + 1;
    s->globalconf.http1.upgrade_to_http2 = 0;
    host = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;
    {
        json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", "payload_too_large", "message", "the body exceeds WHARF_MAX_BODY");
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (text == NULL)
            abort();
        /* an oversized body is refused before routing: h2o answers through the host's fallback path */
        add_json413_filter(&host->fallback_path, h2o_iovec_init(text, strlen(text)));
        add_json413_filter(path, h2o_iovec_init(text, strlen(text)));
    }

    s->nthreads = cfg->threads;
    s->threads = calloc(s->nthreads, sizeof(*s->threads));
    if (s->threads == NULL)
        abort();
    for (unsigned i = 0; i != s->nthreads; ++i) {
        /* one SO_REUSEPORT socket per thread: the kernel spreads connections across them */
        if ((s->threads[i].fd = bind_listener(cfg, errbuf)) < 0) {
            for (unsigned j = 0; j != i; ++j)
                close(s->threads[j].fd);
            free(s->threads);
            free(s);
            return WH_EINVAL;
        }
    }
    atomic_init(&s->not_ready, s->nthreads);
    atomic_init(&s->worker, NULL);
    for (unsigned i = 0; i != s->nthreads; ++i) {
        thread_t *th = &s->threads[i];
        th->server = s;
        th->t.not_ready = &s->not_ready;
        th->t.worker = &s->worker;
        th->t.cfg = cfg;
        th->t.index = i;
        if (pthread_create(&th->tid, NULL, thread_main, th) != 0)
            abort();
    }
    wh_log_info("gateway_listening", "{s:s, s:i, s:i}", "host", cfg->listen_host, "port", cfg->listen_port, "threads",
                (int)s->nthreads);
    *out = s;
    return WH_OK;
}

void wh_server_stop(wh_server_t *s)
{
    for (unsigned i = 0; i != s->nthreads; ++i)
        uv_async_send(&s->threads[i].stop);
    for (unsigned i = 0; i != s->nthreads; ++i)
        pthread_join(s->threads[i].tid, NULL);
    wh_log_info("gateway_stopped", NULL);
}

void wh_server_watch_worker(wh_server_t *s, wh_workers_t *w)
{
    atomic_store(&s->worker, w);
}
