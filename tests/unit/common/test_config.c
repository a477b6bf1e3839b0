/* common/config.c: the environment → wh_config_t, defaults, every variable's parse and refusal (design §2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "../../../common/config.h"

extern char **environ;

/* Removes every WHARF_* variable, so each test starts from the defaults. */
static int clear_wharf_env(void **state)
{
    for (;;) {
        char name[256];
        const char *eq;
        char **e = environ;

        while (*e != NULL && strncmp(*e, "WHARF_", 6) != 0)
            ++e;
        if (*e == NULL)
            return 0;
        eq = strchr(*e, '=');
        if (eq == NULL || (size_t)(eq - *e) >= sizeof(name))
            return -1;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (unsetenv(name) != 0)
            return -1;
    }
}

static void set(const char *name, const char *value)
{
    assert_int_equal(setenv(name, value, 1), 0);
}

static void assert_contains(const char *hay, const char *needle, const char *what)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("%s: errbuf \"%s\" does not contain \"%s\"", what, hay, needle);
}

/* "1s,1s,…" with n delays into buf. */
static void steps_of(char *buf, size_t cap, int n)
{
    size_t len = 0;

    for (int i = 0; i != n; ++i) {
        int w = snprintf(buf + len, cap - len, i == 0 ? "1s" : ",1s");
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
}

/* `prefix` + `n` times `c` + `suffix`, NUL-terminated, into buf (cap bytes). */
static const char *long_value(char *buf, size_t cap, const char *prefix, size_t n, char c, const char *suffix)
{
    size_t plen = strlen(prefix), slen = strlen(suffix);

    assert_true(plen + n + slen < cap);
    memcpy(buf, prefix, plen);
    memset(buf + plen, c, n);
    memcpy(buf + plen + n, suffix, slen + 1);
    return buf;
}

static wh_config_t cfg;
static char errbuf[WH_ERRBUF_SIZE];

static wh_err_t load(void)
{
    memset(errbuf, 0, sizeof(errbuf));
    return wh_config_load(&cfg, errbuf);
}

static void load_ok(const char *what)
{
    wh_err_t err = load();
    if (err != WH_OK)
        fail_msg("%s: wh_config_load = %s (\"%s\"), expected ok", what, wh_err_name(err), errbuf);
}

static void test_defaults(void **state)
{
    static const int64_t schedule[] = {5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    load_ok("empty environment");
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.redis_host, "127.0.0.1");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);
    assert_string_equal(cfg.redis_unix_path, "");
    assert_string_equal(cfg.redis_password, "");
    assert_string_equal(cfg.admin_token, "");
    assert_false(cfg.has_master_key);
    assert_false(cfg.insecure_dev);
    assert_string_equal(cfg.public_url, "http://localhost:8080");
    assert_int_equal(cfg.retry_steps, 7);
    for (size_t i = 0; i != 7; ++i) {
        print_message("  schedule step %zu\n", i);
        assert_int_equal(cfg.retry_schedule_ms[i], schedule[i]);
    }
    assert_int_equal(cfg.delivery_timeout_ms, 15000);
    assert_false(cfg.allow_private_destinations);
    assert_int_equal(cfg.max_body, 1024 * 1024);
    assert_true(cfg.threads >= 1);
    if (cores >= 1 && cores <= 64)
        assert_int_equal(cfg.threads, cores); /* "number of cores" */
    assert_int_equal(cfg.redis_wait_replicas, 0);
    assert_string_equal(cfg.log_level, "info");
    assert_int_equal(cfg.role, WH_ROLE_ALL);
    assert_int_equal(cfg.reclaim_idle_ms, 60000);
    assert_int_equal(cfg.max_inflight, 512);
    assert_int_equal(cfg.shutdown_grace_ms, 20000);
    assert_true(cfg.consumer[0] != '\0');
    assert_int_equal(cfg.event_retention_ms, 7 * 86400 * 1000LL);
    assert_int_equal(cfg.event_max_per_partition, 1000000);
}

/* An empty value counts as unset (docker/compose "VAR=" lines): the default applies. */
static void test_empty_values_are_defaults(void **state)
{
    set("WHARF_LISTEN", "");
    set("WHARF_REDIS_URL", "");
    set("WHARF_ADMIN_TOKEN", "");
    set("WHARF_MASTER_KEY", "");
    set("WHARF_RETRY_SCHEDULE", "");
    load_ok("empty values");
    assert_string_equal(cfg.listen_host, "0.0.0.0");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.redis_host, "127.0.0.1");
    assert_string_equal(cfg.admin_token, "");
    assert_false(cfg.has_master_key);
    assert_int_equal(cfg.retry_steps, 7);
}

static void test_listen(void **state)
{
    set("WHARF_LISTEN", "[::1]:9000");
    load_ok("[::1]:9000");
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9000);

    set("WHARF_LISTEN", "127.0.0.1:1");
    load_ok("127.0.0.1:1");
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 1);

    set("WHARF_LISTEN", "localhost:65535");
    load_ok("localhost:65535");
    assert_string_equal(cfg.listen_host, "localhost");
    assert_int_equal(cfg.listen_port, 65535);
}

static void test_redis_url(void **state)
{
    set("WHARF_REDIS_URL", "redis://:s3cret@redis.internal:6380/3");
    load_ok("password, host, port, db");
    assert_string_equal(cfg.redis_host, "redis.internal");
    assert_int_equal(cfg.redis_port, 6380);
    assert_string_equal(cfg.redis_password, "s3cret");
    assert_int_equal(cfg.redis_db, 3);
    assert_string_equal(cfg.redis_unix_path, "");

    set("WHARF_REDIS_URL", "redis://:p%40ss%3Aw0rd@h:1/0");
    load_ok("percent-encoded password");
    assert_string_equal(cfg.redis_password, "p@ss:w0rd");
    assert_int_equal(cfg.redis_port, 1);

    set("WHARF_REDIS_URL", "redis://[::1]:6390/2");
    load_ok("IPv6 host");
    assert_string_equal(cfg.redis_host, "::1");
    assert_int_equal(cfg.redis_port, 6390);
    assert_int_equal(cfg.redis_db, 2);
    assert_string_equal(cfg.redis_password, "");

    set("WHARF_REDIS_URL", "redis://cache.example");
    load_ok("host only");
    assert_string_equal(cfg.redis_host, "cache.example");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);

    set("WHARF_REDIS_URL", "redis://cache.example:7000/");
    load_ok("trailing slash, no db");
    assert_int_equal(cfg.redis_port, 7000);
    assert_int_equal(cfg.redis_db, 0);

    set("WHARF_REDIS_URL", "unix:///var/run/redis/redis.sock");
    load_ok("unix socket");
    assert_string_equal(cfg.redis_unix_path, "/var/run/redis/redis.sock");
    assert_int_equal(cfg.redis_nseeds, 0);

    set("WHARF_REDIS_URL", "redis://:pw@node-a:7000,node-b:7001,[::1]:7002/0");
    load_ok("seeds");
    assert_string_equal(cfg.redis_host, "node-a");
    assert_int_equal(cfg.redis_port, 7000);
    assert_string_equal(cfg.redis_password, "pw");
    assert_int_equal(cfg.redis_db, 0);
    assert_int_equal(cfg.redis_nseeds, 2);
    assert_string_equal(cfg.redis_seeds[0].host, "node-b");
    assert_int_equal(cfg.redis_seeds[0].port, 7001);
    assert_string_equal(cfg.redis_seeds[1].host, "::1");
    assert_int_equal(cfg.redis_seeds[1].port, 7002);

    set("WHARF_REDIS_URL", "redis://node-a:7000,node-b:7001");
    load_ok("seeds without a database");
    assert_int_equal(cfg.redis_nseeds, 1);
    assert_int_equal(cfg.redis_db, 0);
}

static void test_admin_token(void **state)
{
    set("WHARF_ADMIN_TOKEN", "0123456789abcdef");
    load_ok("16-character admin token");
    assert_string_equal(cfg.admin_token, "0123456789abcdef");
}

static void test_master_key(void **state)
{
    uint8_t want[32];

    for (size_t i = 0; i != sizeof(want); ++i)
        want[i] = (uint8_t)i;
    /* base64 of the bytes 0..31 (Python: base64.b64encode(bytes(range(32)))) */
    set("WHARF_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    load_ok("32-byte master key");
    assert_true(cfg.has_master_key);
    assert_memory_equal(cfg.master_key, want, sizeof(want));
}

static void test_public_url(void **state)
{
    set("WHARF_PUBLIC_URL", "https://hooks.example.com/");
    load_ok("trailing slash");
    assert_string_equal(cfg.public_url, "https://hooks.example.com");

    set("WHARF_PUBLIC_URL", "https://hooks.example.com/base//");
    load_ok("several trailing slashes");
    assert_string_equal(cfg.public_url, "https://hooks.example.com/base");

    set("WHARF_PUBLIC_URL", "http://127.0.0.1:18080");
    load_ok("no trailing slash");
    assert_string_equal(cfg.public_url, "http://127.0.0.1:18080");
}

static void test_retry_schedule(void **state)
{
    char many[WH_MAX_RETRY_STEPS * 3 + 1];

    set("WHARF_RETRY_SCHEDULE", " 1s , 2m,3h ,500ms,1d ");
    load_ok("schedule with spaces");
    assert_int_equal(cfg.retry_steps, 5);
    assert_int_equal(cfg.retry_schedule_ms[0], 1000);
    assert_int_equal(cfg.retry_schedule_ms[1], 120000);
    assert_int_equal(cfg.retry_schedule_ms[2], 3 * 3600000);
    assert_int_equal(cfg.retry_schedule_ms[3], 500);
    assert_int_equal(cfg.retry_schedule_ms[4], 86400000);

    set("WHARF_RETRY_SCHEDULE", "10");
    load_ok("one bare step");
    assert_int_equal(cfg.retry_steps, 1);
    assert_int_equal(cfg.retry_schedule_ms[0], 10000);

    /* exactly WH_MAX_RETRY_STEPS delays */
    steps_of(many, sizeof(many), WH_MAX_RETRY_STEPS);
    set("WHARF_RETRY_SCHEDULE", many);
    load_ok("WH_MAX_RETRY_STEPS delays");
    assert_int_equal(cfg.retry_steps, WH_MAX_RETRY_STEPS);
}

static void test_other_values(void **state)
{
    set("WHARF_DELIVERY_TIMEOUT", "30s");
    set("WHARF_MAX_BODY", "2MiB");
    set("WHARF_THREADS", "4");
    set("WHARF_REDIS_WAIT_REPLICAS", "1");
    set("WHARF_LOG", "debug");
    set("WHARF_ALLOW_PRIVATE_DESTINATIONS", "1");
    set("WHARF_INSECURE_DEV", "1");
    set("WHARF_RECLAIM_IDLE", "2m");
    set("WHARF_MAX_INFLIGHT", "64");
    set("WHARF_CONSUMER", "worker-7");
    set("WHARF_SHUTDOWN_GRACE", "5s");
    set("WHARF_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8");
    set("WHARF_EVENT_RETENTION", "36h");
    set("WHARF_EVENT_MAX_PER_PARTITION", "250000");
    load_ok("every knob set");
    assert_int_equal(cfg.event_retention_ms, 36 * 3600 * 1000LL);
    assert_int_equal(cfg.event_max_per_partition, 250000);
    assert_int_equal(cfg.delivery_timeout_ms, 30000);
    assert_int_equal(cfg.max_body, 2 * 1024 * 1024);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.redis_wait_replicas, 1);
    assert_string_equal(cfg.log_level, "debug");
    assert_true(cfg.allow_private_destinations);
    assert_true(cfg.insecure_dev);
    assert_int_equal(cfg.reclaim_idle_ms, 120000);
    assert_int_equal(cfg.max_inflight, 64);
    assert_string_equal(cfg.consumer, "worker-7");
    assert_int_equal(cfg.shutdown_grace_ms, 5000);
    assert_int_equal(cfg.ntrusted_proxies, 2);
    {
        wh_ip_t in, out;
        assert_true(wh_ip_parse(WH_STRLIT("10.9.8.7"), &in));
        assert_true(wh_ip_parse(WH_STRLIT("11.0.0.1"), &out));
        assert_true(wh_cidr_list_contains(cfg.trusted_proxies, cfg.ntrusted_proxies, &in));
        assert_false(wh_cidr_list_contains(cfg.trusted_proxies, cfg.ntrusted_proxies, &out));
    }

    /* the bounds themselves are accepted */
    set("WHARF_MAX_BODY", "1KiB");
    set("WHARF_THREADS", "1");
    set("WHARF_DELIVERY_TIMEOUT", "100ms");
    set("WHARF_ALLOW_PRIVATE_DESTINATIONS", "0");
    load_ok("lower bounds");
    assert_int_equal(cfg.max_body, 1024);
    assert_int_equal(cfg.threads, 1);
    assert_int_equal(cfg.delivery_timeout_ms, 100);
    assert_false(cfg.allow_private_destinations);
    set("WHARF_MAX_BODY", "64MiB");
    load_ok("64MiB body");
    assert_int_equal(cfg.max_body, 64 * 1024 * 1024);
}

/* Every invalid value stops loading with WH_EINVAL and one line naming its variable. */
static void test_invalid_values_name_the_variable(void **state)
{
    static const struct {
        const char *name, *value;
    } cases[] = {
        {"WHARF_LISTEN", "nohostport"},
        {"WHARF_LISTEN", "host:"},
        {"WHARF_LISTEN", ":8080"},
        {"WHARF_LISTEN", "host:65536"},
        {"WHARF_LISTEN", "host:-1"},
        {"WHARF_LISTEN", "host:http"},
        {"WHARF_LISTEN", "[::1]"},
        {"WHARF_LISTEN", "[]:80"},
        {"WHARF_REDIS_URL", "127.0.0.1:6379"},
        {"WHARF_REDIS_URL", "http://127.0.0.1:6379/0"},
        {"WHARF_REDIS_URL", "redis://host:99999"},
        {"WHARF_REDIS_URL", "redis://host:6379/abc"},
        {"WHARF_REDIS_URL", "redis://host:6379/-1"},
        {"WHARF_REDIS_URL", "redis://host:6379/1/2"},
        {"WHARF_REDIS_URL", "unix://relative/path"},
        {"WHARF_REDIS_URL", "unix://"},
        {"WHARF_REDIS_URL", "not a url"},
        {"WHARF_REDIS_URL", "redis://a:1,/0"},
        {"WHARF_REDIS_URL", "redis://a:1,b/0"},
        {"WHARF_REDIS_URL", "redis://a:1,b:0/0"},
        {"WHARF_REDIS_URL", "redis://a:1,b:70000"},
        {"WHARF_REDIS_URL", "redis://a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1,j:1"},
        {"WHARF_ADMIN_TOKEN", "short"},
        {"WHARF_ADMIN_TOKEN", "0123456789abcde"}, /* 15 characters */
        {"WHARF_INSECURE_DEV", "maybe"},
        {"WHARF_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODw=="},                     /* 16 bytes */
        {"WHARF_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="}, /* 31 bytes */
        {"WHARF_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"}, /* 33 bytes */
        {"WHARF_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"},  /* 32 bytes, unpadded */
        {"WHARF_MASTER_KEY", "not base64 at all, not even close to it, no!!"},
        {"WHARF_MASTER_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}, /* hex, not base64 */
        {"WHARF_PUBLIC_URL", "ftp://hooks.example.com"},
        {"WHARF_PUBLIC_URL", "hooks.example.com"},
        {"WHARF_EVENT_RETENTION", "30s"}, /* under a minute: the store's unit */
        {"WHARF_EVENT_RETENTION", "91d"},
        {"WHARF_EVENT_RETENTION", "forever"},
        {"WHARF_EVENT_MAX_PER_PARTITION", "999"},
        {"WHARF_EVENT_MAX_PER_PARTITION", "100000001"},
        {"WHARF_EVENT_MAX_PER_PARTITION", "-1"},
        {"WHARF_RETRY_SCHEDULE", "5s,,5m"},
        {"WHARF_RETRY_SCHEDULE", "5s,"},
        {"WHARF_RETRY_SCHEDULE", ",5s"},
        {"WHARF_RETRY_SCHEDULE", "5s,5x"},
        {"WHARF_RETRY_SCHEDULE", "-5s"},
        {"WHARF_RETRY_SCHEDULE", "5s;5m"},
        {"WHARF_DELIVERY_TIMEOUT", "abc"},
        {"WHARF_DELIVERY_TIMEOUT", "50ms"},
        {"WHARF_DELIVERY_TIMEOUT", "-1s"},
        {"WHARF_ALLOW_PRIVATE_DESTINATIONS", "2"},
        {"WHARF_ALLOW_PRIVATE_DESTINATIONS", "on?"},
        {"WHARF_MAX_BODY", "1TB"},
        {"WHARF_MAX_BODY", "512"},
        {"WHARF_MAX_BODY", "65MiB"},
        {"WHARF_MAX_BODY", "lots"},
        {"WHARF_THREADS", "0"},
        {"WHARF_THREADS", "65"},
        {"WHARF_THREADS", "-1"},
        {"WHARF_THREADS", "four"},
        {"WHARF_REDIS_WAIT_REPLICAS", "-1"},
        {"WHARF_REDIS_WAIT_REPLICAS", "17"},
        {"WHARF_REDIS_WAIT_REPLICAS", "x"},
        {"WHARF_LOG", "verbose"},
        {"WHARF_LOG", "trace"},
        {"WHARF_RECLAIM_IDLE", "soon"},
        {"WHARF_RECLAIM_IDLE", "10ms"},
        {"WHARF_MAX_INFLIGHT", "0"},
        {"WHARF_MAX_INFLIGHT", "100001"},
        {"WHARF_SHUTDOWN_GRACE", "forever"},
        {"WHARF_TRUSTED_PROXIES", "10.0.0.1/8"},
        {"WHARF_TRUSTED_PROXIES", "ingress"},
        {"WHARF_TRUSTED_PROXIES", "10.0.0.0/8,"},
    };

    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char what[128];
        wh_err_t err;

        assert_int_equal(clear_wharf_env(NULL), 0);
        set(cases[i].name, cases[i].value);
        snprintf(what, sizeof(what), "%s=\"%s\"", cases[i].name, cases[i].value);
        err = load();
        if (err != WH_EINVAL)
            fail_msg("%s: wh_config_load = %s, expected invalid", what, wh_err_name(err));
        assert_contains(errbuf, cases[i].name, what);
    }

    /* values longer than their field */
    {
        char buf[2048];
        const struct {
            const char *name, *value;
        } longs[] = {
            {"WHARF_ADMIN_TOKEN", long_value(buf, sizeof(buf), "", 256, 'a', "")},
            {"WHARF_PUBLIC_URL", long_value(buf + 300, sizeof(buf) - 300, "http://", 1100, 'a', "")},
            {"WHARF_CONSUMER", long_value(buf + 1500, sizeof(buf) - 1500, "", 128, 'c', "")},
        };
        for (size_t i = 0; i != sizeof(longs) / sizeof(longs[0]); ++i) {
            wh_err_t err;
            assert_int_equal(clear_wharf_env(NULL), 0);
            set(longs[i].name, longs[i].value);
            err = load();
            if (err != WH_EINVAL)
                fail_msg("%s of %zu bytes: wh_config_load = %s, expected invalid", longs[i].name, strlen(longs[i].value),
                         wh_err_name(err));
            assert_contains(errbuf, longs[i].name, longs[i].name);
        }
        /* one at a time: the buffer is reused */
        assert_int_equal(clear_wharf_env(NULL), 0);
        set("WHARF_LISTEN", long_value(buf, sizeof(buf), "", 256, 'h', ":80"));
        assert_int_equal(load(), WH_EINVAL);
        assert_contains(errbuf, "WHARF_LISTEN", "256-byte host");
        assert_int_equal(clear_wharf_env(NULL), 0);
        set("WHARF_REDIS_URL", long_value(buf, sizeof(buf), "redis://", 256, 'h', ":6379/0"));
        assert_int_equal(load(), WH_EINVAL);
        assert_contains(errbuf, "WHARF_REDIS_URL", "256-byte host");
        assert_int_equal(clear_wharf_env(NULL), 0);
        set("WHARF_REDIS_URL", long_value(buf, sizeof(buf), "redis://:", 256, 'p', "@h:6379/0"));
        assert_int_equal(load(), WH_EINVAL);
        assert_contains(errbuf, "WHARF_REDIS_URL", "256-byte password");
        assert_int_equal(clear_wharf_env(NULL), 0);
        set("WHARF_REDIS_URL", long_value(buf, sizeof(buf), "unix:///", 255, 's', ""));
        assert_int_equal(load(), WH_EINVAL);
        assert_contains(errbuf, "WHARF_REDIS_URL", "256-byte socket path");
    }

    /* one delay more than WH_MAX_RETRY_STEPS */
    {
        char many[(WH_MAX_RETRY_STEPS + 1) * 3 + 1];
        steps_of(many, sizeof(many), WH_MAX_RETRY_STEPS + 1);
        assert_int_equal(clear_wharf_env(NULL), 0);
        set("WHARF_RETRY_SCHEDULE", many);
        assert_int_equal(load(), WH_EINVAL);
        assert_contains(errbuf, "WHARF_RETRY_SCHEDULE", "33 delays");
    }
}

/* The error line never echoes a secret. */
static void test_errors_do_not_echo_secrets(void **state)
{
    set("WHARF_MASTER_KEY", "c2VjcmV0LWtleS10aGF0LWlzLXRvby1zaG9ydA==");
    assert_int_equal(load(), WH_EINVAL);
    assert_contains(errbuf, "WHARF_MASTER_KEY", "short master key");
    if (strstr(errbuf, "c2VjcmV0") != NULL)
        fail_msg("errbuf \"%s\" echoes the master key", errbuf);

    assert_int_equal(clear_wharf_env(NULL), 0);
    set("WHARF_ADMIN_TOKEN", "tooshort-secret");
    assert_int_equal(load(), WH_EINVAL);
    assert_contains(errbuf, "WHARF_ADMIN_TOKEN", "short admin token");
    if (strstr(errbuf, "tooshort-secret") != NULL)
        fail_msg("errbuf \"%s\" echoes the admin token", errbuf);

    assert_int_equal(clear_wharf_env(NULL), 0);
    set("WHARF_REDIS_URL", "redis://:hunter2-password@host:6379/xyz");
    assert_int_equal(load(), WH_EINVAL);
    assert_contains(errbuf, "WHARF_REDIS_URL", "bad db");
    if (strstr(errbuf, "hunter2") != NULL)
        fail_msg("errbuf \"%s\" echoes the Redis password", errbuf);
}

#define T(f) cmocka_unit_test_setup(f, clear_wharf_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_empty_values_are_defaults),
        T(test_listen),
        T(test_redis_url),
        T(test_admin_token),
        T(test_master_key),
        T(test_public_url),
        T(test_retry_schedule),
        T(test_other_values),
        T(test_invalid_values_name_the_variable),
        T(test_errors_do_not_echo_secrets),
    };
    return cmocka_run_group_tests_name("common/config", tests, NULL, NULL);
}
