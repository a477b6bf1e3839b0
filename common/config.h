/*
 * Configuration from the environment (12-factor), validated once at startup.
 * Every knob, its default and its reason are listed in docs/configuration.md.
 */
#ifndef WH_CONFIG_H
#define WH_CONFIG_H

#define WH_MAX_REDIS_SEEDS 8
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crypto.h"
#include "err.h"
#include "netaddr.h"

#define WH_MAX_RETRY_STEPS 32

typedef enum { WH_ROLE_ALL, WH_ROLE_GATEWAY, WH_ROLE_WORKER } wh_role_t;

typedef struct {
    wh_role_t role;
    /* WHARF_LISTEN */
    char listen_host[256];
    uint16_t listen_port;
    /* WHARF_HEALTH_LISTEN: a worker's own health and metrics listener (role worker only; none when unset) */
    bool has_health_listen;
    char health_host[256];
    uint16_t health_port;
    /* WHARF_REDIS_URL: either unix_path[0] != 0, or host/port */
    char redis_host[256];
    uint16_t redis_port;
    char redis_unix_path[256];
    char redis_password[256];
    int redis_db;
    /* more seed addresses (redis://h1:p1,h2:p2,…/db): a cluster's client tries them when the first is down */
    struct {
        char host[256];
        uint16_t port;
    } redis_seeds[WH_MAX_REDIS_SEEDS];
    size_t redis_nseeds;
    /* WHARF_ADMIN_TOKEN ("" = admin routes disabled) */
    char admin_token[256];
    /* WHARF_MASTER_KEY, WHARF_INSECURE_DEV */
    bool has_master_key;
    uint8_t master_key[WH_AEAD_KEY_LEN];
    bool insecure_dev;
    /* WHARF_PUBLIC_URL, without a trailing slash */
    char public_url[1024];
    /* WHARF_RETRY_SCHEDULE: delays between attempts; attempts = steps + 1 */
    int64_t retry_schedule_ms[WH_MAX_RETRY_STEPS];
    size_t retry_steps;
    /* WHARF_DELIVERY_TIMEOUT */
    int64_t delivery_timeout_ms;
    /* WHARF_ALLOW_PRIVATE_DESTINATIONS */
    bool allow_private_destinations;
    /* WHARF_MAX_BODY */
    size_t max_body;
    /* WHARF_THREADS */
    unsigned threads;
    /* WHARF_PARTITIONS: queue partitions of the deployment (1..WH_MAX_PARTITIONS), fixed once stored in Redis */
    unsigned partitions;
    /* WHARF_REDIS_WAIT_REPLICAS */
    unsigned redis_wait_replicas;
    /* WHARF_LOG */
    char log_level[16];
    /* WHARF_RECLAIM_IDLE: a change-event batch pending this long on a silent consumer is taken over */
    int64_t reclaim_idle_ms;
    /* WHARF_MAX_INFLIGHT: deliveries in flight per worker */
    unsigned max_inflight;
    /* WHARF_CONSUMER: this worker's consumer name (default: hostname-pid); worker thread i > 0 adds ".<i>" */
    char consumer[128];
    /* WHARF_WORKER_THREADS: worker loops in this process (1..WH_MAX_WORKER_THREADS), each a consumer of its own */
    unsigned worker_threads;
    /* WHARF_SHUTDOWN_GRACE: how long SIGTERM waits for in-flight work */
    int64_t shutdown_grace_ms;
    /* WHARF_THROTTLE_FLOOR: least wait before retrying after a timeout or a 429 (design: 60 s) */
    int64_t throttle_floor_ms;
    /* WHARF_DISABLE_AFTER: a subscription whose deliveries have only failed this long is disabled */
    int64_t disable_after_ms;
    /* WHARF_ROTATION_OVERLAP: how long the previous secret keeps signing after rotate-secret */
    int64_t rotation_overlap_ms;
    /* WHARF_EVENT_RETENTION: how long outgoing events, their states and attempts are kept (GET /v1/events, replay) */
    int64_t event_retention_ms;
    /* WHARF_EVENT_MAX_PER_PARTITION: events kept per queue partition at most (oldest minutes dropped first) */
    unsigned event_max_per_partition;
    /* WHARF_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client (allow lists judge that client) */
    wh_cidr_t trusted_proxies[WH_MAX_CIDRS];
    size_t ntrusted_proxies;
} wh_config_t;

/* Fills `c` from getenv(); on error, errbuf holds one line naming the variable. */
wh_err_t wh_config_load(wh_config_t *c, char *errbuf);

#endif
