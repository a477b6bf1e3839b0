/* bench/pipeline/send.c: the provider side of bench/pipeline.sh. Replays pre-signed, distinct HTTP/1.1
 * requests (bench/pipeline/gen.js: records "<byte length>\n<raw request>") at a fixed rate, open loop:
 * request k is due at t0 + k / RATE and goes out on any idle keep-alive connection (one request in flight
 * per connection, CONNS connections; a request finding none waits, and its lateness counts). Nothing waits
 * for an answer before the next request is due, so a slow server does not slow the schedule down
 * (no coordinated omission). t0 is printed as CLOCK_REALTIME µs, so that a sink on the same machine can
 * compute each event's latency from the time its request was *scheduled* (bench/pipeline/lat.js).
 *
 * usage: send -a 127.0.0.1:PORT -f REQUESTS_FILE -r REQ_PER_S [-c CONNS] [-s EXPECTED_STATUS]
 * Prints one JSON line: requests, ok (status == EXPECTED_STATUS, 202 by default), bad, errors, t0_us,
 * rate (as given, 6 decimals: lat.js recomputes the schedule from it), achieved (requests / (last write -
 * t0)), ack_{p50,p99,max}_ms (answer read - scheduled time: what the provider sees), lag_{p99,max}_ms
 * (actual write - scheduled time: the generator's own lateness), cpu_s (its own CPU), first_bad (the first
 * unexpected answer). Exit 0 when every request got the expected status.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd, busy, connecting;
    long req;    /* request in flight, -1 none */
    size_t woff; /* bytes of it written */
    char rbuf[8192];
    size_t rlen;
} conn_t;

static struct sockaddr_in g_addr;
static const char **g_req; /* request k: bytes, length */
static size_t *g_reqlen;
static long g_n;
static int64_t *g_ack, *g_lag; /* ns per request */
static int g_ep, g_expect = 202;
static long g_ok, g_bad, g_err, g_done;
static char g_first_bad[200];

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static void die(const char *m)
{
    perror(m);
    exit(1);
}

static void conn_open(conn_t *c)
{
    int one = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS)
        die("connect");
    c->connecting = 1;
    c->busy = 0;
    c->req = -1;
    c->rlen = 0;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_reset(conn_t *c)
{
    if (c->req >= 0) { /* the request in flight is lost */
        g_err++;
        g_done++;
    }
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_open(c);
}

static void want_out(conn_t *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_write(conn_t *c)
{
    while (c->woff < g_reqlen[c->req]) {
        ssize_t w = write(c->fd, g_req[c->req] + c->woff, g_reqlen[c->req] - c->woff);
        if (w < 0) {
            if (errno == EAGAIN) {
                want_out(c, 1);
                return;
            }
            conn_reset(c);
            return;
        }
        c->woff += (size_t)w;
    }
    want_out(c, 0);
}

/* a complete response in rbuf? then account for it; -1 on a protocol error */
static int conn_read_done(conn_t *c, int64_t now, int64_t t0, double period)
{
    char *hend = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    size_t hlen, clen = 0;
    int status;
    char *p;
    if (hend == NULL)
        return c->rlen >= sizeof c->rbuf ? -1 : 0;
    hlen = (size_t)(hend - c->rbuf) + 4;
    if (c->rlen < 12 || sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    for (p = c->rbuf; p < hend; p++)
        if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0)
            clen = strtoul(p + 16, NULL, 10);
    if (hlen + clen > sizeof c->rbuf)
        return -1;
    if (c->rlen < hlen + clen)
        return 0;
    g_ack[c->req] = now - (t0 + (int64_t)(c->req * period));
    if (status == g_expect)
        g_ok++;
    else {
        if (g_bad++ == 0) {
            size_t n = c->rlen < sizeof g_first_bad - 1 ? c->rlen : sizeof g_first_bad - 1;
            for (size_t i = 0; i < n; i++)
                g_first_bad[i] = (c->rbuf[i] == '"' || c->rbuf[i] == '\\' || (unsigned char)c->rbuf[i] < 32) ? ' ' : c->rbuf[i];
        }
    }
    g_done++;
    memmove(c->rbuf, c->rbuf + hlen + clen, c->rlen - hlen - clen);
    c->rlen -= hlen + clen;
    c->req = -1;
    c->busy = 0;
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}
static double pct_ms(int64_t *v, long n, double p)
{
    long i = (long)(p * n);
    if (n == 0)
        return 0;
    if (i >= n)
        i = n - 1;
    return v[i] / 1e6;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *file = NULL;
    double rate = 0;
    int nconns = 64, opt;
    while ((opt = getopt(argc, argv, "a:f:r:c:s:")) != -1) {
        switch (opt) {
        case 'a':
            addr = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'c':
            nconns = (int)strtol(optarg, NULL, 10);
            break;
        case 's':
            g_expect = (int)strtol(optarg, NULL, 10);
            break;
        default:
            goto Usage;
        }
    }
    if (addr == NULL || file == NULL || rate <= 0 || nconns < 1) {
    Usage:
        fprintf(stderr, "usage: send -a 127.0.0.1:PORT -f REQUESTS_FILE -r REQ_PER_S [-c CONNS] [-s STATUS]\n");
        return 2;
    }
    {
        char host[64];
        const char *colon = strrchr(addr, ':');
        if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
            goto Usage;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = 0;
        g_addr.sin_family = AF_INET;
        g_addr.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
        if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1)
            goto Usage;
    }
    /* the request file, mapped; index the records */
    int fd = open(file, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die(file);
    const char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED)
        die("mmap");
    long cap = 1024;
    g_req = malloc(cap * sizeof *g_req);
    g_reqlen = malloc(cap * sizeof *g_reqlen);
    for (const char *p = m, *end = m + st.st_size; p < end;) {
        char *nl;
        size_t len = strtoul(p, &nl, 10);
        if (*nl != '\n' || nl + 1 + len > end) {
            fprintf(stderr, "send: malformed record %ld in %s\n", g_n, file);
            return 1;
        }
        if (g_n == cap) {
            cap *= 2;
            g_req = realloc(g_req, cap * sizeof *g_req);
            g_reqlen = realloc(g_reqlen, cap * sizeof *g_reqlen);
        }
        g_req[g_n] = nl + 1;
        g_reqlen[g_n++] = len;
        p = nl + 1 + len;
    }
    g_ack = calloc((size_t)g_n + 1, sizeof *g_ack);
    g_lag = calloc((size_t)g_n + 1, sizeof *g_lag);
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++)
        conn_open(&conns[i]);

    /* let the connections open, then start the clock */
    struct epoll_event evs[256];
    int64_t wait_until = mono_ns() + 300000000LL;
    while (mono_ns() < wait_until) {
        int n = epoll_wait(g_ep, evs, 256, 10), open_n = 0;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            int err = 0;
            socklen_t l = sizeof err;
            if (c->connecting && (evs[i].events & (EPOLLOUT | EPOLLERR))) {
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0)
                    die("connect");
                c->connecting = 0;
                want_out(c, 0);
            }
        }
        for (int i = 0; i < nconns; i++)
            open_n += !conns[i].connecting;
        if (open_n == nconns)
            break;
    }
    const double period = 1e9 / rate;
    struct timespec rt;
    int64_t t0 = mono_ns() + 20000000LL; /* 20 ms from now */
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t t0_real_us = ((int64_t)rt.tv_sec * 1000000000LL + rt.tv_nsec + (t0 - mono_ns())) / 1000;
    long next = 0;
    int64_t last_write = t0, deadline = 0;
    int rr = 0;

    while (g_done < g_n) {
        int64_t now = mono_ns();
        int blocked = 0;
        /* hand every due request to an idle connection */
        while (next < g_n && t0 + (int64_t)(next * period) <= now) {
            conn_t *c = NULL;
            for (int k = 0; k < nconns; k++) {
                conn_t *x = &conns[(rr + k) % nconns];
                if (!x->busy && !x->connecting) {
                    c = x;
                    rr = (rr + k + 1) % nconns;
                    break;
                }
            }
            if (c == NULL && (blocked = 1))
                break; /* all busy: it waits, and its lateness counts */
            c->busy = 1;
            c->req = next;
            c->woff = 0;
            g_lag[next] = now - (t0 + (int64_t)(next * period));
            last_write = now;
            next++;
            conn_write(c);
        }
        if (next == g_n && deadline == 0)
            deadline = now + 60000000000LL; /* answers still missing 60 s after the last write: give up */
        if (deadline && now > deadline)
            break;
        int64_t due = next < g_n && !blocked ? t0 + (int64_t)(next * period) - now : 50000000LL;
        struct timespec to = {.tv_sec = 0, .tv_nsec = due < 0 ? 0 : (due > 50000000LL ? 50000000LL : due)};
        int n = epoll_pwait2(g_ep, evs, 256, &to, NULL);
        now = mono_ns();
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->connecting) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                    conn_reset(c);
                    continue;
                }
                c->connecting = 0;
                want_out(c, 0);
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && c->req >= 0)
                conn_write(c);
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ssize_t r = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    conn_reset(c);
                    continue;
                }
                c->rlen += (size_t)r;
                if (c->req < 0 || conn_read_done(c, now, t0, period) != 0)
                    conn_reset(c);
            }
        }
    }
    long answered = g_ok + g_bad;
    int64_t *ack = malloc((size_t)(answered + 1) * sizeof *ack);
    long k = 0;
    for (long i = 0; i < next; i++)
        if (g_ack[i] > 0)
            ack[k++] = g_ack[i];
    qsort(ack, (size_t)k, sizeof *ack, cmp64);
    qsort(g_lag, (size_t)next, sizeof *g_lag, cmp64);
    double span = (last_write - t0) / 1e9 + period / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"requests\":%ld,\"sent\":%ld,\"ok\":%ld,\"bad\":%ld,\"errors\":%ld,\"unanswered\":%ld,\"t0_us\":%lld,"
           "\"rate\":%.6f,\"achieved\":%.1f,\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"ack_max_ms\":%.3f,"
           "\"lag_p99_ms\":%.3f,\"lag_max_ms\":%.3f,\"cpu_s\":%.3f,\"first_bad\":\"%s\"}\n",
           g_n, next, g_ok, g_bad, g_err, g_n - g_done, (long long)t0_real_us, rate, next / span, pct_ms(ack, k, 0.5),
           pct_ms(ack, k, 0.99), k ? ack[k - 1] / 1e6 : 0, pct_ms(g_lag, next, 0.99), next ? g_lag[next - 1] / 1e6 : 0,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, g_first_bad);
    return g_ok == g_n ? 0 : 1;
}
