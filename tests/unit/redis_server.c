#include "redis_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
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

static const char prelude[] =
    "local function __tag(k) return type(k) == 'string' and string.match(k, '{([^}]+)}') or nil end\n"
    "local __want = KEYS[1] and __tag(KEYS[1])\n"
    "local __multi = {DEL = true, UNLINK = true, EXISTS = true}\n"
    "local function __call(cmd, ...)\n"
    "  local a = {...}\n"
    "  local n = __multi[string.upper(cmd)] and #a or 1\n"
    "  for i = 1, n do\n"
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
