/*
 * wharf: webhook ingestion and event dispatch.
 *
 *   wharf serve [--role all|gateway|worker]
 *
 * main() alone starts the roles: the gateway (HTTP threads) and the worker
 * (queue consumer + deliveries), in one process or split across processes.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "../common/config.h"
#include "../common/log.h"
#include "../dispatch/worker.h"
#include "../queue/keys.h"
#include "server.h"

static const char usage[] = "usage: wharf serve [--role all|gateway|worker]\n"
                            "       wharf --version | --help\n"
                            "\n"
                            "Configuration comes from the environment (WHARF_LISTEN, WHARF_REDIS_URL, WHARF_ADMIN_TOKEN,\n"
                            "WHARF_MASTER_KEY, WHARF_PUBLIC_URL, WHARF_RETRY_SCHEDULE, WHARF_DELIVERY_TIMEOUT, ...);\n"
                            "see docs/configuration.md.\n";

static int parse_args(int argc, char **argv, wh_role_t *role)
{
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("wharf %s\n", WHARF_VERSION);
        return 1;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
        fputs(usage, stdout);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "serve") != 0) {
        fputs(usage, stderr);
        return -1;
    }
    *role = WH_ROLE_ALL;
    for (int i = 2; i < argc; ++i) {
        const char *v = NULL;
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "--role=", 7) == 0)
            v = argv[i] + 7;
        if (v == NULL) {
            fprintf(stderr, "wharf: unknown argument \"%s\"\n%s", argv[i], usage);
            return -1;
        }
        if (strcmp(v, "all") == 0) {
            *role = WH_ROLE_ALL;
        } else if (strcmp(v, "gateway") == 0) {
            *role = WH_ROLE_GATEWAY;
        } else if (strcmp(v, "worker") == 0) {
            *role = WH_ROLE_WORKER;
        } else {
            fprintf(stderr, "wharf: --role must be all, gateway or worker\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static wh_config_t cfg; /* lives for the whole process; handed to every thread read-only */
    char errbuf[WH_ERRBUF_SIZE];
    wh_role_t role;
    static wh_server_t *server; /* process lifetime: gateway threads may hold connections open until exit */
    wh_workers_t *worker = NULL;
    sigset_t sigs;
    int sig = 0, rc;

    if ((rc = parse_args(argc, argv, &role)) != 0)
        return rc > 0 ? 0 : 2;
    if (wh_config_load(&cfg, errbuf) != WH_OK) {
        fprintf(stderr, "wharf: %s\n", errbuf);
        return 2;
    }
    cfg.role = role;
    wh_partitions_init(cfg.partitions); /* before any thread: read-only from here on */
    wh_log_set_level(cfg.log_level);
    if (!cfg.has_master_key)
        wh_log_warn("no_master_key", "{s:s}", "message",
                    cfg.insecure_dev ? "WHARF_INSECURE_DEV=1: secrets are stored unencrypted (development only)"
                                     : "WHARF_MASTER_KEY is not set: connections and subscriptions cannot be created");

    /* h2o and hiredis write without MSG_NOSIGNAL (stack-notes P5) */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "wharf: libcurl failed to initialize\n");
        return 1;
    }
    /* Threads inherit the mask: only this thread receives SIGTERM/SIGINT, through sigwait(). */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (role == WH_ROLE_WORKER && cfg.has_health_listen) {
        /* a worker pod's own /healthz, /readyz and /metrics (Kubernetes' probes, Prometheus): one HTTP thread on
           WHARF_HEALTH_LISTEN that answers nothing else (gateway/server.c) */
        memcpy(cfg.listen_host, cfg.health_host, sizeof(cfg.listen_host));
        cfg.listen_port = cfg.health_port;
        cfg.threads = 1;
        cfg.redis_wait_replicas = 0; /* it queues nothing: no WAIT connection (the worker never reads this) */
    }
    if ((role != WH_ROLE_WORKER || cfg.has_health_listen) && wh_server_start(&cfg, &server, errbuf) != WH_OK) {
        fprintf(stderr, "wharf: %s\n", errbuf);
        return 2;
    }
    if (role != WH_ROLE_GATEWAY && wh_workers_start(&cfg, &worker, errbuf) != WH_OK) {
        fprintf(stderr, "wharf: %s\n", errbuf);
        return 2;
    }
    if (role == WH_ROLE_WORKER && server != NULL)
        wh_server_watch_worker(server, worker);
    wh_log_info("started", "{s:s, s:s}", "version", WHARF_VERSION, "role",
                role == WH_ROLE_ALL       ? "all"
                : role == WH_ROLE_GATEWAY ? "gateway"
                                          : "worker");
    sigwait(&sigs, &sig);
    wh_log_info("stopping", "{s:i}", "signal", sig);
    if (server != NULL)
        wh_server_stop(server);
    if (worker != NULL) {
        if (server != NULL)
            wh_server_watch_worker(server, NULL); /* before it is freed */
        wh_workers_stop(worker);
    }
    curl_global_cleanup();
    wh_log_info("stopped", NULL);
    return 0;
}
