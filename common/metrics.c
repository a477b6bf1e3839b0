#include "metrics.h"
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t counters[WH__METRIC_COUNT];

static const struct {
    const char *family, *labels, *help;
} metrics[] = {
#define WH__METRIC_ROW(sym, family, labels, help) {family, labels, help},
    WH_METRICS_COUNTERS(WH__METRIC_ROW)
#undef WH__METRIC_ROW
};

void wh_metric_add(wh_metric_t m, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

uint64_t wh_metric_get(wh_metric_t m)
{
    return atomic_load_explicit(&counters[m], memory_order_relaxed);
}

/* snprintf at out + n, never past cap: a line that does not fit is left out whole. */
__attribute__((format(printf, 4, 5))) static size_t append(char *out, size_t cap, size_t n, const char *fmt, ...)
{
    va_list ap;
    int w;

    va_start(ap, fmt);
    w = vsnprintf(out + n, cap - n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= cap - n) {
        out[n] = '\0';
        return n;
    }
    return n + (size_t)w;
}

char *wh_metrics_render(const char *gauges, size_t *len)
{
    size_t cap = 256 * WH__METRIC_COUNT + (gauges != NULL ? strlen(gauges) : 0) + 1, n = 0;
    char *out = malloc(cap);

    if (out == NULL)
        abort();
    for (size_t i = 0; i != WH__METRIC_COUNT; ++i) {
        if (metrics[i].help[0] != '\0')
            n = append(out, cap, n, "# HELP %s %s\n# TYPE %s counter\n", metrics[i].family, metrics[i].help, metrics[i].family);
        n = append(out, cap, n, "%s%s%s%s %llu\n", metrics[i].family, metrics[i].labels[0] ? "{" : "", metrics[i].labels,
                   metrics[i].labels[0] ? "}" : "", (unsigned long long)wh_metric_get((wh_metric_t)i));
    }
    if (gauges != NULL)
        n = append(out, cap, n, "%s", gauges);
    *len = n;
    return out;
}
