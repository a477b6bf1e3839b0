/*
 * The HTTP side: WHARF_THREADS event-loop threads, each with its own h2o
 * context, SO_REUSEPORT listener and Redis connection, sharing one read-only
 * h2o configuration.
 */
#ifndef WH_SERVER_H
#define WH_SERVER_H

#include "../common/config.h"
#include "../dispatch/worker.h"
#include "../common/err.h"

typedef struct wh_server wh_server_t;

/* Binds the listeners (errors reported here, before any thread starts), then starts the threads. */
wh_err_t wh_server_start(const wh_config_t *cfg, wh_server_t **out, char *errbuf);
/*
 * Graceful stop: close the listeners, answer /readyz 503, let in-flight requests finish (their events are
 * acknowledged only once queued), then stop the loops; waits at most cfg->shutdown_grace_ms. The server is
 * not freed: idle keep-alive connections may still be open (h2o 2.2 cannot close them), and the process exits.
 */
void wh_server_stop(wh_server_t *s);
/* A worker's health listener (role worker): /healthz and /readyz answer for `w` from now on (any thread). */
void wh_server_watch_worker(wh_server_t *s, wh_workers_t *w);

#endif
