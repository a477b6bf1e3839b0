/*
 * Process-wide counters for GET /metrics (Prometheus text format 0.0.4). Every thread adds with relaxed
 * atomics; nothing here allocates or locks. A counter is one X line below: adding one is data, not code.
 */
#ifndef WH_METRICS_H
#define WH_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* X(symbol, family, labels, help): families with several label sets share one HELP line (the first). */
#define WH_METRICS_COUNTERS(X)                                                                                                     \
    X(INGEST_ACCEPTED, "wharf_ingest_requests_total", "result=\"accepted\"", "Webhook requests by answer")                         \
    X(INGEST_REFUSED, "wharf_ingest_requests_total", "result=\"refused\"", "")                                                     \
    X(INGEST_UNAVAILABLE, "wharf_ingest_requests_total", "result=\"unavailable\"", "")                                             \
    X(EVENTS_QUEUED, "wharf_ingest_events_total", "result=\"queued\"", "Change events of accepted requests")                       \
    X(EVENTS_DUPLICATE, "wharf_ingest_events_total", "result=\"duplicate\"", "")                                                   \
    X(ATTEMPT_DELIVERED, "wharf_delivery_attempts_total", "result=\"delivered\"", "Delivery attempts by outcome")                  \
    X(ATTEMPT_HTTP_ERROR, "wharf_delivery_attempts_total", "result=\"http_status\"", "")                                           \
    X(ATTEMPT_TIMEOUT, "wharf_delivery_attempts_total", "result=\"timeout\"", "")                                                  \
    X(ATTEMPT_UNREACHABLE, "wharf_delivery_attempts_total", "result=\"connection_failed\"", "")                                    \
    X(ATTEMPT_REFUSED, "wharf_delivery_attempts_total", "result=\"destination_refused\"", "")                                      \
    X(DELIVERIES_DEAD, "wharf_deliveries_dead_total", "", "Deliveries moved to dead letters")                                      \
    X(DELIVERIES_DEFERRED, "wharf_deliveries_deferred_total", "", "Deliveries handed back to Redis without an attempt (caps)")     \
    X(SUBSCRIPTIONS_DISABLED, "wharf_subscriptions_disabled_total", "", "Subscriptions this process disabled")                     \
    X(EVENTS_APPLIED, "wharf_cache_applies_total", "", "Change events applied to the synced cache")

typedef enum {
#define WH__METRIC_ENUM(sym, family, labels, help) WH_METRIC_##sym,
    WH_METRICS_COUNTERS(WH__METRIC_ENUM)
#undef WH__METRIC_ENUM
        WH__METRIC_COUNT
} wh_metric_t;

void wh_metric_add(wh_metric_t m, uint64_t n);
static inline void wh_metric_inc(wh_metric_t m)
{
    wh_metric_add(m, 1);
}
uint64_t wh_metric_get(wh_metric_t m);

/* The exposition text, counters then gauges given by the caller ("name value\n" lines); malloc'd. */
char *wh_metrics_render(const char *gauges, size_t *len);

#endif
