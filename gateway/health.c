#include <string.h>
#include "gateway.h"

int wh_health_handle(h2o_req_t *req)
{
    wh_gw_thread_t *t = wh_gw_thread_of(req);
    h2o_iovec_t p = req->path_normalized;

    if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz"))) {
        wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
        return 0;
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/readyz"))) {
        if (t->shutting_down)
            wh_respond_error(req, 503, "shutting_down", "the gateway is stopping");
        else if (!wh_redis_ready(t->redis))
            wh_respond_error(req, 503, "queue_unavailable", "Redis is not reachable");
        else
            wh_respond_raw(req, 200, "application/json", H2O_STRLIT("{\"status\":\"ready\"}"));
        return 0;
    }
    return -1;
}
