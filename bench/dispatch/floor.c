/*
 * bench/dispatch/floor.c: the curl-multi dispatch floor. A bare keep-alive POST loop with libcurl's multi
 * interface, the HTTP client wharf's worker uses: INFLIGHT (100) transfers in flight at all times over at
 * most CONNECTIONS (64) connections to the sink (CURLMOPT_MAX_HOST_CONNECTIONS, as in wharf and in the
 * shared undici floor), the same ~0.4 KiB JSON payload as ../shared/bench/node-dispatch/floor.js, no Redis,
 * no signing, no event loop library (curl_multi_poll). Each finished transfer is re-added at once
 * (curl keeps the connection alive and reuses it).
 *
 * Like floor.js it runs WARMUP_S + DURATION_S seconds and prints one JSON line with the completions inside
 * the last DURATION_S seconds, its own CPU (getrusage) and peak RSS.
 *
 * build: gcc -O2 -o floor floor.c -lcurl
 * environment: SINK_URL (http://127.0.0.1:18091), SINK_PATH (/deliver), INFLIGHT (100), CONNECTIONS (64),
 *              WARMUP_S (1), DURATION_S (10)
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char payload[] =
    "{\"source\":\"hubspot\",\"type\":\"contact.propertyChange\",\"eventId\":\"3816279340\",\"subscriptionId\":2504732,"
    "\"portalId\":62515,\"appId\":1160452,\"objectId\":1246965,\"occurredAt\":1732334400123,\"attemptNumber\":0,"
    "\"changeSource\":\"CRM_UI\",\"propertyName\":\"lifecyclestage\",\"propertyValue\":\"marketingqualifiedlead\","
    "\"receivedAt\":1732334400200}";

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : dflt;
}

int main(void)
{
    const char *base = getenv("SINK_URL") ? getenv("SINK_URL") : "http://127.0.0.1:18091";
    const char *path = getenv("SINK_PATH") ? getenv("SINK_PATH") : "/deliver";
    long inflight = env_long("INFLIGHT", 100), conns = env_long("CONNECTIONS", 64);
    double warm = (double)env_long("WARMUP_S", 1), dur = (double)env_long("DURATION_S", 10);
    char url[2048];
    struct curl_slist *hdrs = NULL;
    CURLM *multi;
    long done = 0, done_total = 0, failed = 0, running = 1;
    double t0, t_measure, t_end, t;
    struct rusage ru;

    snprintf(url, sizeof url, "%s%s", base, path);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);
    for (long i = 0; i < inflight; i++) {
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof payload - 1));
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_multi_add_handle(multi, e);
    }
    t0 = now_s();
    t_measure = t0 + warm;
    t_end = t_measure + dur;
    int still = 0;
    while (running) {
        CURLMsg *m;
        int q;
        curl_multi_perform(multi, &still);
        while ((m = curl_multi_info_read(multi, &q)) != NULL) {
            long code = 0;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            t = now_s();
            if (m->data.result == CURLE_OK && code >= 200 && code < 300) {
                done_total++;
                if (t >= t_measure && t <= t_end)
                    done++;
            } else
                failed++;
            curl_multi_remove_handle(multi, m->easy_handle);
            if (t < t_end)
                curl_multi_add_handle(multi, m->easy_handle); /* the next POST, same connection pool */
            else
                curl_easy_cleanup(m->easy_handle);
        }
        if (now_s() >= t_end && still == 0)
            running = 0;
        else
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"delivered\":%ld,\"per_s\":%.1f,\"delivered_total\":%ld,\"failed\":%ld,\"cpu_s\":%.3f,\"rss_kb\":%ld}\n", done,
           (double)done / dur, done_total, failed,
           (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    return 0;
}
