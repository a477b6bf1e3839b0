#include "redis_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t server_pid;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        fprintf(stderr, "free_port: %s\n", strerror(errno));
        exit(1);
    }
    p = ntohs(a.sin_port);
    close(fd);
    return p;
}

redisContext *wh_test_redis_start(const char *who)
{
    char portbuf[16];
    int status, port = free_port();
    redisContext *rc = NULL;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    if ((server_pid = fork()) == 0) {
        /* a test that aborts (a sanitizer report) must not leave its server holding ctest's output pipe */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execlp(getenv("REDIS_SERVER") != NULL ? getenv("REDIS_SERVER") : "redis-server", "redis-server", "--port", portbuf,
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        fprintf(stderr, "%s: cannot run redis-server (%s): install it (deploy/deps.sh test)\n", who, strerror(errno));
        _exit(127);
    }
    for (int i = 0; i != 500; ++i) { /* up to 10 s */
        redisReply *r;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            fprintf(stderr, "%s: redis-server exited (status %d) before answering PING\n", who, status);
            return NULL;
        }
        if ((rc = redisConnect("127.0.0.1", port)) != NULL && rc->err == 0 && (r = redisCommand(rc, "PING")) != NULL) {
            freeReplyObject(r);
            return rc;
        }
        if (rc != NULL)
            redisFree(rc);
        rc = NULL;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "%s: redis-server on port %d never answered PING\n", who, port);
    kill(server_pid, SIGKILL);
    return NULL;
}

void wh_test_redis_stop(redisContext *c)
{
    if (c != NULL)
        redisFree(c);
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static pid_t cluster_pids[WH_TEST_CLUSTER_MAX];
static int cluster_n;
static char cluster_dir[64];

/* Whether 127.0.0.1:port can be bound now. */
static bool port_free(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free port for a cluster node: its cluster bus listens on port + 10000, which must be a port too, and free. */
static int cluster_port(void)
{
    for (;;) {
        int p = free_port();
        if (p + 10000 <= 65535 && port_free(p + 10000))
            return p;
    }
}

static pid_t spawn_node(const char *who, int port)
{
    char portbuf[16], conf[128];
    pid_t pid;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(conf, sizeof(conf), "nodes-%d.conf", port);
    if ((pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execlp(getenv("REDIS_SERVER") != NULL ? getenv("REDIS_SERVER") : "redis-server", "redis-server", "--port", portbuf,
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--dir", cluster_dir,
               "--cluster-enabled", "yes", "--cluster-config-file", conf, "--cluster-node-timeout", "2000", (char *)NULL);
        fprintf(stderr, "%s: cannot run redis-server (%s): install it (deploy/deps.sh test)\n", who, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* A connection to 127.0.0.1:port once it answers PING (up to 10 s), or NULL. */
static redisContext *connect_when_up(int port)
{
    for (int i = 0; i != 500; ++i) {
        redisContext *rc = redisConnect("127.0.0.1", port);
        redisReply *r;
        if (rc != NULL && rc->err == 0 && (r = redisCommand(rc, "PING")) != NULL) {
            freeReplyObject(r);
            return rc;
        }
        if (rc != NULL)
            redisFree(rc);
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return NULL;
}

static bool cluster_ok(int port)
{
    redisContext *rc = redisConnect("127.0.0.1", port);
    redisReply *r = rc != NULL && rc->err == 0 ? redisCommand(rc, "CLUSTER INFO") : NULL;
    bool ok = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL;

    if (r != NULL)
        freeReplyObject(r);
    if (rc != NULL)
        redisFree(rc);
    return ok;
}

redisContext *wh_test_cluster_start(const char *who, int n, int *ports)
{
    char cmd[1024];
    size_t off;
    redisContext *first = NULL;

    if (n < 1 || n > WH_TEST_CLUSTER_MAX) {
        fprintf(stderr, "%s: a cluster of %d masters\n", who, n);
        return NULL;
    }
    snprintf(cluster_dir, sizeof(cluster_dir), "/tmp/wharf-cluster.XXXXXX");
    if (mkdtemp(cluster_dir) == NULL) {
        fprintf(stderr, "%s: mkdtemp: %s\n", who, strerror(errno));
        return NULL;
    }
    cluster_n = n;
    for (int i = 0; i != n; ++i) {
        ports[i] = cluster_port();
        cluster_pids[i] = spawn_node(who, ports[i]);
    }
    for (int i = 0; i != n; ++i) {
        redisContext *rc = connect_when_up(ports[i]);
        if (rc == NULL) {
            fprintf(stderr, "%s: cluster node on port %d never answered PING\n", who, ports[i]);
            goto Fail;
        }
        if (i == 0)
            first = rc;
        else
            redisFree(rc);
    }
    off =
        (size_t)snprintf(cmd, sizeof(cmd), "%s --cluster create", getenv("REDIS_CLI") != NULL ? getenv("REDIS_CLI") : "redis-cli");
    for (int i = 0; i != n; ++i)
        off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " 127.0.0.1:%d", ports[i]);
    snprintf(cmd + off, sizeof(cmd) - off, " --cluster-replicas 0 --cluster-yes >%s/create.log 2>&1", cluster_dir);
    if (n > 1 && system(cmd) != 0) {
        fprintf(stderr, "%s: %s failed; its output:\n", who, cmd);
        snprintf(cmd, sizeof(cmd), "cat %s/create.log >&2", cluster_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "(none)\n");
        goto Fail;
    }
    if (n == 1) { /* --cluster create wants 3 masters: one node takes every slot itself */
        redisReply *r = redisCommand(first, "CLUSTER ADDSLOTSRANGE 0 16383");
        if (r != NULL)
            freeReplyObject(r);
    }
    for (int t = 0; t != 1500; ++t) { /* up to 30 s for every node to agree (gossip on a loaded box) */
        int ok = 0;
        for (int i = 0; i != n; ++i)
            ok += cluster_ok(ports[i]);
        if (ok == n)
            return first;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "%s: the cluster never reported cluster_state:ok on all %d nodes\n", who, n);
Fail:
    wh_test_cluster_stop(first);
    return NULL;
}

void wh_test_cluster_stop(redisContext *c)
{
    char cmd[128];

    if (c != NULL)
        redisFree(c);
    for (int i = 0; i != cluster_n; ++i) {
        kill(cluster_pids[i], SIGKILL);
        waitpid(cluster_pids[i], NULL, 0);
    }
    cluster_n = 0;
    if (cluster_dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cluster_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", cluster_dir);
        cluster_dir[0] = '\0';
    }
}

static const char prelude[] =
    "local function __tag(k) return type(k) == 'string' and string.match(k, '{([^}]+)}') or nil end\n"
    "local __want = KEYS[1] and __tag(KEYS[1])\n"
    "local __multi = {DEL = true, UNLINK = true, EXISTS = true}\n"
    "local __sub = {XINFO = true, XGROUP = true}\n"
    "local function __call(cmd, ...)\n"
    "  local a = {...}\n"
    "  local n = __multi[string.upper(cmd)] and #a or 1\n"
    "  local first = __sub[string.upper(cmd)] and 2 or 1\n"
    "  if first == 2 then n = 2 end\n"
    "  for i = first, n do\n"
    "    if __tag(a[i]) ~= __want then\n"
    "      error('cross-slot: ' .. cmd .. ' ' .. tostring(a[i]) .. ' outside {' .. tostring(__want) .. '}')\n"
    "    end\n"
    "  end\n"
    "  return redis.call(cmd, ...)\n"
    "end\n";

char *wh_test_slot_checked(const char *source, size_t len, size_t *out_len)
{
    static const char from[] = "redis.call(", to[] = "__call(";
    size_t cap = sizeof(prelude) + len * 2 + 1, n = 0;
    char *out = malloc(cap);

    if (out == NULL)
        abort();
    memcpy(out, prelude, sizeof(prelude) - 1);
    n = sizeof(prelude) - 1;
    for (size_t i = 0; i < len;) {
        if (len - i >= sizeof(from) - 1 && memcmp(source + i, from, sizeof(from) - 1) == 0) {
            memcpy(out + n, to, sizeof(to) - 1);
            n += sizeof(to) - 1;
            i += sizeof(from) - 1;
        } else {
            out[n++] = source[i++];
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}
