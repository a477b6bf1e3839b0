#include "redis_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
