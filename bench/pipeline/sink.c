/* bench/pipeline/sink.c: the customer endpoint of bench/pipeline.sh. A single-threaded epoll HTTP/1.1 server
 * (keep-alive, Content-Length bodies) that answers 200 to every POST and, per delivery, appends one line
 *     <arrival, CLOCK_REALTIME µs> <data.objectId as an integer, or -1>
 * to OUT_FILE. The arrival is taken when the whole request (headers and body) has been read. The objectId is
 * the first `"objectId":"<digits>"` of the body: wharf's delivery body is {"type","timestamp","data":{"eventId",
 * "connectionId","integrationId","objectType","objectId",…}}, and bench/pipeline/gen.js encodes the event's
 * sequence number in the HubSpot objectId, so bench/pipeline/lat.js can map every delivery back to the time
 * its ingest request was scheduled. Written in C (not node) so that the sink's CPU per delivery (~5-10 µs)
 * takes as little as possible from the two cores wharf shares with it.
 *
 * Control (GET): /count -> "<deliveries>\n" (the output file is flushed first)
 *                /wait?n=N&ms=T -> answers "<deliveries>\n" once deliveries >= N, or after T ms, whichever
 *                is first (the bench waits for a drain without polling)
 * The first delivery (headers and body) is also written to OUT_FILE.first.
 * SIGTERM/SIGINT: flush, print {"deliveries":…,"unparsed":…,"bad_requests":…} on stdout, exit 0.
 * usage: sink PORT OUT_FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (8u << 20)

typedef struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    int waiting; /* parked on /wait */
    long long wait_n;
    int64_t wait_deadline_ms;
} conn_t;

static volatile sig_atomic_t g_stop;
static FILE *g_out;
static const char *g_first_path; /* OUT_FILE.first: the first delivery, headers and body */
static long long g_count, g_unparsed, g_bad;
static conn_t **g_conns;   /* indexed by fd */
static int g_cap, g_maxfd; /* fds are small: scans stop at g_maxfd */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static void on_sig(int s)
{
    (void)s;
    g_stop = 1;
}

static void conn_close(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    g_conns[c->fd] = NULL;
    free(c->buf);
    free(c);
}

/* small answers only: a blocking-enough write (the socket buffer holds them) */
static int reply(conn_t *c, const char *status, const char *body)
{
    char out[256];
    int n = snprintf(out, sizeof out, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s", status, strlen(body), body);
    ssize_t w = write(c->fd, out, (size_t)n);
    return w == n ? 0 : -1;
}

static int reply_count(conn_t *c)
{
    char b[32];
    fflush(g_out);
    snprintf(b, sizeof b, "%lld\n", g_count);
    return reply(c, "200 OK", b);
}

static long long object_id(const char *body, size_t len)
{
    static const char key[] = "\"objectId\":\"";
    const char *p = memmem(body, len, key, sizeof key - 1);
    long long v = 0;
    int digits = 0;
    if (p == NULL)
        return -1;
    for (p += sizeof key - 1; p < body + len && *p >= '0' && *p <= '9'; p++, digits++)
        v = v * 10 + (*p - '0');
    return digits > 0 && digits < 19 && p < body + len && *p == '"' ? v : -1;
}

static const char *header(const char *h, size_t hlen, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = h, *end = h + hlen;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/* handle every complete request in c->buf; -1: close the connection */
static int process(conn_t *c)
{
    for (;;) {
        char *hend = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        size_t hlen, clen = 0, vlen;
        const char *v;
        if (hend == NULL)
            return c->len > 65536 ? -1 : 0;
        hlen = (size_t)(hend - c->buf) + 4;
        if (header(c->buf, hlen, "Transfer-Encoding", &vlen) != NULL) {
            g_bad++;
            reply(c, "411 Length Required", "");
            return -1;
        }
        if ((v = header(c->buf, hlen, "Content-Length", &vlen)) != NULL)
            clen = strtoul(v, NULL, 10);
        if (clen > MAX_BODY) {
            g_bad++;
            return -1;
        }
        if (c->len < hlen + clen) {
            if ((v = header(c->buf, hlen, "Expect", &vlen)) != NULL && vlen >= 3 && strncmp(v, "100", 3) == 0 && c->len == hlen &&
                write(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 25)
                return -1;
            return 0;
        }
        if (strncmp(c->buf, "POST ", 5) == 0) {
            int64_t t = now_us();
            long long id = object_id(c->buf + hlen, clen);
            if (id < 0)
                g_unparsed++;
            if (g_count == 0) {
                FILE *f = fopen(g_first_path, "w");
                if (f != NULL) {
                    fwrite(c->buf, 1, hlen + clen, f);
                    fclose(f);
                }
            }
            fprintf(g_out, "%lld %lld\n", (long long)t, id);
            g_count++;
            if (reply(c, "200 OK", "") != 0)
                return -1;
        } else if (strncmp(c->buf, "GET /count", 10) == 0) {
            if (reply_count(c) != 0)
                return -1;
        } else if (strncmp(c->buf, "GET /wait?", 10) == 0) {
            const char *n = strstr(c->buf, "n="), *ms = strstr(c->buf, "ms=");
            c->wait_n = n != NULL && n < hend ? atoll(n + 2) : 0;
            c->wait_deadline_ms = mono_ms() + (ms != NULL && ms < hend ? atoll(ms + 3) : 60000);
            c->waiting = 1;
        } else {
            g_bad++;
            if (reply(c, "404 Not Found", "") != 0)
                return -1;
        }
        memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
        c->len -= hlen + clen;
    }
}

static void check_waiters(void)
{
    int64_t now = mono_ms();
    for (int fd = 0; fd <= g_maxfd; fd++) {
        conn_t *c = g_conns[fd];
        if (c != NULL && c->waiting && (g_count >= c->wait_n || now >= c->wait_deadline_ms)) {
            c->waiting = 0;
            reply_count(c);
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct epoll_event ev, evs[256];
    int ls, ep, one = 1, nwait = 0;
    int64_t last_check = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: sink PORT OUT_FILE\n");
        return 2;
    }
    if ((g_out = fopen(argv[2], "w")) == NULL) {
        perror(argv[2]);
        return 1;
    }
    setvbuf(g_out, NULL, _IOFBF, 1 << 20);
    if (asprintf((char **)&g_first_path, "%s.first", argv[2]) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_sig};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    g_cap = 65536;
    g_conns = calloc((size_t)g_cap, sizeof *g_conns);
    a.sin_port = htons((uint16_t)strtol(argv[1], NULL, 10));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
        perror("bind/listen");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);

    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, 50);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (fd >= g_cap) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    c->cap = 16384;
                    c->buf = malloc(c->cap);
                    g_conns[fd] = c;
                    if (fd > g_maxfd)
                        g_maxfd = fd;
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            for (;;) {
                ssize_t r;
                if (c->cap - c->len < 4096) {
                    if (c->cap >= MAX_BODY + 65536) {
                        conn_close(ep, c);
                        c = NULL;
                        break;
                    }
                    c->cap *= 2;
                    c->buf = realloc(c->buf, c->cap);
                }
                r = read(c->fd, c->buf + c->len, c->cap - c->len);
                if (r > 0) {
                    c->len += (size_t)r;
                    if ((size_t)r < c->cap - c->len + (size_t)r)
                        break; /* short read: nothing more for now (level-triggered; saves a read per request) */
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                conn_close(ep, c); /* EOF or error */
                c = NULL;
                break;
            }
            if (c != NULL && process(c) != 0)
                conn_close(ep, c);
            else if (c != NULL && c->waiting)
                nwait = 1;
        }
        if (nwait && mono_ms() - last_check >= 5) {
            check_waiters();
            last_check = mono_ms();
            nwait = 0;
            for (int fd = 0; fd <= g_maxfd && !nwait; fd++)
                nwait = g_conns[fd] != NULL && g_conns[fd]->waiting;
        }
    }
    fflush(g_out);
    fclose(g_out);
    printf("{\"deliveries\":%lld,\"unparsed\":%lld,\"bad_requests\":%lld}\n", g_count, g_unparsed, g_bad);
    return 0;
}
