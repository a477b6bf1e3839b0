#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "limits.h"
#include "str.h"
#include "time.h"

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : dflt;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* host:port or [v6]:port of variable `name` into host (256 bytes) and *port. */
static wh_err_t parse_listen(const char *name, const char *v, char host[256], uint16_t *port_out, char *errbuf)
{
    const char *colon = strrchr(v, ':');
    long long port;
    size_t hlen;

    if (colon == NULL || !wh_str_to_i64(wh_str_c(colon + 1), &port) || port < 0 || port > 65535)
        return wh_errf(errbuf, WH_EINVAL, "%s: expected host:port, got \"%s\"", name, v);
    hlen = (size_t)(colon - v);
    if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') { /* [::1]:8080 */
        ++v;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= 256)
        return wh_errf(errbuf, WH_EINVAL, "%s: expected host:port, got \"%s\"", name, v);
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    *port_out = (uint16_t)port;
    return WH_OK;
}

static wh_err_t parse_redis_url_one(wh_config_t *c, const char *v, char *errbuf);

/*
 * redis://[:password@]host:port[,host:port…][/db]: the first address and the URL's other parts as usual; the
 * others are more seeds (a Redis Cluster's client tries them when the first does not answer).
 */
static wh_err_t parse_redis_url(wh_config_t *c, const char *v, char *errbuf)
{
    const char *auth = strncmp(v, "redis://", 8) == 0 ? v + 8 : NULL, *end, *comma;
    char first[1024], seed[300];
    wh_err_t err;

    c->redis_nseeds = 0;
    if (auth == NULL || (comma = strchr(auth, ',')) == NULL || ((end = strchr(auth, '/')) != NULL && end < comma))
        return parse_redis_url_one(c, v, errbuf);
    if (end == NULL)
        end = auth + strlen(auth);
    if ((size_t)(comma - v) + strlen(end) >= sizeof(first))
        return wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: too long");
    snprintf(first, sizeof(first), "%.*s%s", (int)(comma - v), v, end);
    if ((err = parse_redis_url_one(c, first, errbuf)) != WH_OK)
        return err;
    while (comma < end) {
        const char *next = memchr(comma + 1, ',', (size_t)(end - comma - 1));
        size_t len;
        if (next == NULL)
            next = end;
        len = (size_t)(next - comma - 1);
        if (c->redis_nseeds == WH_MAX_REDIS_SEEDS)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: at most %d more seed addresses", WH_MAX_REDIS_SEEDS);
        if (len == 0 || len >= sizeof(seed))
            return wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: expected host:port after ','");
        memcpy(seed, comma + 1, len);
        seed[len] = '\0';
        if ((err = parse_listen("WHARF_REDIS_URL (a seed)", seed, c->redis_seeds[c->redis_nseeds].host,
                                &c->redis_seeds[c->redis_nseeds].port, errbuf)) != WH_OK)
            return err;
        if (c->redis_seeds[c->redis_nseeds].port == 0)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: a seed's port must be 1 to 65535");
        ++c->redis_nseeds;
        comma = next;
    }
    return WH_OK;
}

static wh_err_t parse_redis_url_one(wh_config_t *c, const char *v, char *errbuf)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *pass = NULL, *path = NULL;
    wh_err_t err = WH_EINVAL;
    long long n;

    if (strncmp(v, "unix://", 7) == 0) {
        if (v[7] != '/' || !copy_str(c->redis_unix_path, sizeof(c->redis_unix_path), v + 7))
            return wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: expected unix:///absolute/path");
        return WH_OK;
    }
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || strcmp(scheme, "redis") != 0 ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: expected redis://[:password@]host:port[/db] or unix:///path");
        goto Exit;
    }
    /* curl keeps brackets around IPv6 literals; hiredis wants the bare address */
    {
        size_t hl = strlen(host);
        const char *h = host;
        if (hl >= 2 && host[0] == '[') {
            host[hl - 1] = '\0';
            h = host + 1;
        }
        if (!copy_str(c->redis_host, sizeof(c->redis_host), h)) {
            wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: host too long");
            goto Exit;
        }
    }
    c->redis_port = 6379;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
        if (!wh_str_to_i64(wh_str_c(port), &n) || n <= 0 || n > 65535) {
            wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: bad port");
            goto Exit;
        }
        c->redis_port = (uint16_t)n;
    }
    if (curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE) == CURLUE_OK &&
        !copy_str(c->redis_password, sizeof(c->redis_password), pass)) {
        wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: password too long");
        goto Exit;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0 && path[0] != '\0') {
        if (!wh_str_to_i64(wh_str_c(path + 1), &n) || n < 0 || n > 1000) {
            wh_errf(errbuf, WH_EINVAL, "WHARF_REDIS_URL: the path must be a database number");
            goto Exit;
        }
        c->redis_db = (int)n;
    }
    err = WH_OK;
Exit:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(pass);
    curl_free(path);
    curl_url_cleanup(u);
    return err;
}

static wh_err_t parse_schedule(wh_config_t *c, const char *v, char *errbuf)
{
    const char *p = v;
    c->retry_steps = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int64_t ms;
        while (len > 0 && *p == ' ') {
            ++p;
            --len;
        }
        while (len > 0 && p[len - 1] == ' ')
            --len;
        if (c->retry_steps == WH_MAX_RETRY_STEPS)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_RETRY_SCHEDULE: at most %d delays", WH_MAX_RETRY_STEPS);
        if (!wh_parse_duration_ms(wh_str(p, len), &ms))
            return wh_errf(errbuf, WH_EINVAL, "WHARF_RETRY_SCHEDULE: \"%.*s\" is not a duration like 5s, 5m, 2h", (int)len, p);
        c->retry_schedule_ms[c->retry_steps++] = ms;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return WH_OK;
}

static wh_err_t parse_bool(const char *name, const char *v, bool *out, char *errbuf)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
        *out = true;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
        *out = false;
    else
        return wh_errf(errbuf, WH_EINVAL, "%s: expected 0 or 1, got \"%s\"", name, v);
    return WH_OK;
}

static wh_err_t parse_duration(const char *name, const char *v, int64_t min, int64_t *out, char *errbuf)
{
    if (!wh_parse_duration_ms(wh_str_c(v), out) || *out < min)
        return wh_errf(errbuf, WH_EINVAL, "%s: expected a duration like 15s (at least %lldms), got \"%s\"", name, (long long)min,
                       v);
    return WH_OK;
}

static wh_err_t parse_uint(const char *name, const char *v, long long min, long long max, unsigned *out, char *errbuf)
{
    long long n;
    if (!wh_str_to_i64(wh_str_c(v), &n) || n < min || n > max)
        return wh_errf(errbuf, WH_EINVAL, "%s: expected a whole number from %lld to %lld, got \"%s\"", name, min, max, v);
    *out = (unsigned)n;
    return WH_OK;
}

wh_err_t wh_config_load(wh_config_t *c, char *errbuf)
{
    const char *v;
    wh_err_t err;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    memset(c, 0, sizeof(*c));
    if ((err = parse_listen("WHARF_LISTEN", env_or("WHARF_LISTEN", "0.0.0.0:8080"), c->listen_host, &c->listen_port, errbuf)) !=
        WH_OK)
        return err;
    if ((v = getenv("WHARF_HEALTH_LISTEN")) != NULL && v[0] != '\0') {
        if ((err = parse_listen("WHARF_HEALTH_LISTEN", v, c->health_host, &c->health_port, errbuf)) != WH_OK)
            return err;
        c->has_health_listen = true;
    }
    if ((err = parse_redis_url(c, env_or("WHARF_REDIS_URL", "redis://127.0.0.1:6379/0"), errbuf)) != WH_OK)
        return err;
    if (!copy_str(c->admin_token, sizeof(c->admin_token), env_or("WHARF_ADMIN_TOKEN", "")))
        return wh_errf(errbuf, WH_EINVAL, "WHARF_ADMIN_TOKEN: longer than %zu bytes", sizeof(c->admin_token) - 1);
    if (c->admin_token[0] != '\0' && strlen(c->admin_token) < 16)
        return wh_errf(errbuf, WH_EINVAL, "WHARF_ADMIN_TOKEN: use at least 16 characters");
    if ((err = parse_bool("WHARF_INSECURE_DEV", env_or("WHARF_INSECURE_DEV", "0"), &c->insecure_dev, errbuf)) != WH_OK)
        return err;
    if ((v = getenv("WHARF_MASTER_KEY")) != NULL && v[0] != '\0') {
        uint8_t key[64];
        long n = wh_base64_decode(wh_str_c(v), key, sizeof(key));
        if (n != WH_AEAD_KEY_LEN)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_MASTER_KEY: expected 32 bytes in base64 (openssl rand -base64 32)");
        memcpy(c->master_key, key, WH_AEAD_KEY_LEN);
        c->has_master_key = true;
    }
    v = env_or("WHARF_PUBLIC_URL", "http://localhost:8080");
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return wh_errf(errbuf, WH_EINVAL, "WHARF_PUBLIC_URL: expected an http:// or https:// URL, got \"%s\"", v);
    if (!copy_str(c->public_url, sizeof(c->public_url), v))
        return wh_errf(errbuf, WH_EINVAL, "WHARF_PUBLIC_URL: too long");
    {
        size_t n = strlen(c->public_url);
        while (n > 0 && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
    }
    if ((err = parse_schedule(c, env_or("WHARF_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h"), errbuf)) != WH_OK)
        return err;
    if ((err = parse_duration("WHARF_DELIVERY_TIMEOUT", env_or("WHARF_DELIVERY_TIMEOUT", "15s"), 100, &c->delivery_timeout_ms,
                              errbuf)) != WH_OK)
        return err;
    if ((err = parse_bool("WHARF_ALLOW_PRIVATE_DESTINATIONS", env_or("WHARF_ALLOW_PRIVATE_DESTINATIONS", "0"),
                          &c->allow_private_destinations, errbuf)) != WH_OK)
        return err;
    {
        uint64_t n;
        v = env_or("WHARF_MAX_BODY", "1MiB");
        if (!wh_parse_size(wh_str_c(v), &n) || n < 1024 || n > 64 * 1024 * 1024)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_MAX_BODY: expected a size from 1KiB to 64MiB like 1MiB, got \"%s\"", v);
        c->max_body = (size_t)n;
    }
    {
        char dflt[24];
        snprintf(dflt, sizeof(dflt), "%ld", cores < 1 ? 1 : cores > 64 ? 64 : cores);
        if ((err = parse_uint("WHARF_THREADS", env_or("WHARF_THREADS", dflt), 1, 64, &c->threads, errbuf)) != WH_OK)
            return err;
    }
    {
        char dflt[24];
        snprintf(dflt, sizeof(dflt), "%d", WH_DEFAULT_PARTITIONS);
        if ((err = parse_uint("WHARF_PARTITIONS", env_or("WHARF_PARTITIONS", dflt), 1, WH_MAX_PARTITIONS, &c->partitions,
                              errbuf)) != WH_OK)
            return err;
    }
    if ((err = parse_uint("WHARF_REDIS_WAIT_REPLICAS", env_or("WHARF_REDIS_WAIT_REPLICAS", "0"), 0, 16, &c->redis_wait_replicas,
                          errbuf)) != WH_OK)
        return err;
    if (!copy_str(c->log_level, sizeof(c->log_level), env_or("WHARF_LOG", "info")) ||
        (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 && strcmp(c->log_level, "warn") != 0 &&
         strcmp(c->log_level, "error") != 0))
        return wh_errf(errbuf, WH_EINVAL, "WHARF_LOG: expected debug, info, warn or error");
    if ((err = parse_duration("WHARF_RECLAIM_IDLE", env_or("WHARF_RECLAIM_IDLE", "60s"), 100, &c->reclaim_idle_ms, errbuf)) !=
        WH_OK)
        return err;
    {
        char dflt[16];
        snprintf(dflt, sizeof(dflt), "%d", WH_DEFAULT_MAX_INFLIGHT);
        if ((err = parse_uint("WHARF_MAX_INFLIGHT", env_or("WHARF_MAX_INFLIGHT", dflt), 1, 100000, &c->max_inflight, errbuf)) !=
            WH_OK)
            return err;
    }
    if ((err = parse_uint("WHARF_WORKER_THREADS", env_or("WHARF_WORKER_THREADS", "1"), 1, WH_MAX_WORKER_THREADS, &c->worker_threads,
                          errbuf)) != WH_OK)
        return err;
    if ((v = getenv("WHARF_CONSUMER")) != NULL && v[0] != '\0') {
        if (!copy_str(c->consumer, sizeof(c->consumer), v))
            return wh_errf(errbuf, WH_EINVAL, "WHARF_CONSUMER: too long");
    } else {
        char host[64] = "wharf";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(c->consumer, sizeof(c->consumer), "%s-%ld", host, (long)getpid());
    }
    if ((err = parse_duration("WHARF_SHUTDOWN_GRACE", env_or("WHARF_SHUTDOWN_GRACE", "20s"), 0, &c->shutdown_grace_ms, errbuf)) !=
        WH_OK)
        return err;
    if ((err = parse_duration("WHARF_THROTTLE_FLOOR", env_or("WHARF_THROTTLE_FLOOR", "60s"), 0, &c->throttle_floor_ms, errbuf)) !=
        WH_OK)
        return err;
    if ((err = parse_duration("WHARF_DISABLE_AFTER", env_or("WHARF_DISABLE_AFTER", "5d"), 1000, &c->disable_after_ms, errbuf)) !=
        WH_OK)
        return err;
    if ((err = parse_duration("WHARF_ROTATION_OVERLAP", env_or("WHARF_ROTATION_OVERLAP", "24h"), 0, &c->rotation_overlap_ms,
                              errbuf)) != WH_OK)
        return err;
    if ((err = parse_duration("WHARF_EVENT_RETENTION", env_or("WHARF_EVENT_RETENTION", "7d"), 60000, &c->event_retention_ms,
                              errbuf)) != WH_OK)
        return err;
    if (c->event_retention_ms > 90LL * 86400 * 1000)
        return wh_errf(errbuf, WH_EINVAL, "WHARF_EVENT_RETENTION: at most 90d");
    {
        char dflt[24];
        snprintf(dflt, sizeof(dflt), "%d", WH_DEFAULT_EVENTS_PER_PARTITION);
        if ((err = parse_uint("WHARF_EVENT_MAX_PER_PARTITION", env_or("WHARF_EVENT_MAX_PER_PARTITION", dflt), 1000, 100000000,
                              &c->event_max_per_partition, errbuf)) != WH_OK)
            return err;
    }
    {
        char why[WH_ERRBUF_SIZE];
        if (wh_cidr_list_parse(wh_str_c(env_or("WHARF_TRUSTED_PROXIES", "")), c->trusted_proxies, &c->ntrusted_proxies, why) !=
            WH_OK)
            return wh_errf(errbuf, WH_EINVAL, "WHARF_TRUSTED_PROXIES: %s", why);
    }
    return WH_OK;
}
