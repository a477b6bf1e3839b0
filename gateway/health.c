#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../common/metrics.h"
#include "../dispatch/worker.h"
#include "gateway.h"

/* GET /metrics: the process's counters (common/metrics.h) and a few gauges, Prometheus text 0.0.4. */
static void metrics(h2o_req_t *req, wh_gw_thread_t *t)
{
    static const char *const roles[] = {"all", "gateway", "worker"};
    char gauges[512];
    size_t len;
    char *text;

    snprintf(gauges, sizeof(gauges),
             "# HELP wharf_build_info Version and role of this process\n# TYPE wharf_build_info gauge\n"
             "wharf_build_info{version=\"%s\",role=\"%s\"} 1\n"
             "# HELP wharf_redis_ready Whether this gateway thread's Redis connection is ready\n"
             "# TYPE wharf_redis_ready gauge\nwharf_redis_ready %d\n",
             WHARF_VERSION, roles[t->cfg->role], wh_redis_ready(t->redis) ? 1 : 0);
    text = wh_metrics_render(gauges, &len);
    wh_respond_raw(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* A worker's health listener: liveness is its loop ticking, readiness its own Redis connections (worker.h). */
static int worker_health(h2o_req_t *req, wh_gw_thread_t *t, h2o_iovec_t p)
{
    wh_workers_t *w = t->worker != NULL ? atomic_load(t->worker) : NULL;

    if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz"))) {
        if (w != NULL && !wh_workers_live(w))
            wh_respond_error(req, 503, "worker_stalled", "a worker loop has not ticked for 10 s");
        else
            wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
        return 0;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/readyz"))) {
        if (t->shutting_down || w == NULL || !wh_workers_ready(w))
            wh_respond_error(req, 503, "worker_not_ready", "the worker is starting, stopping or cannot reach Redis");
        else
            wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ready\"}"));
        return 0;
    }
    return -1;
}

int wh_health_handle(h2o_req_t *req)
{
    wh_gw_thread_t *t = wh_gw_thread_of(req);
    h2o_iovec_t p = req->path_normalized;

    if (t->cfg->role == WH_ROLE_WORKER && worker_health(req, t, p) == 0)
        return 0;

    if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz"))) {
        wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
        return 0;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/readyz"))) {
        if (t->shutting_down)
            wh_respond_error(req, 503, "shutting_down", "the gateway is stopping");
        else if (!wh_appender_ready(t->appender) || atomic_load(t->not_ready) != 0)
            wh_respond_error(req, 503, "queue_unavailable", "Redis is not reachable");
        else
            wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ready\"}"));
        return 0;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/metrics"))) {
        metrics(req, t);
        return 0;
    }
    return -1;
}
