/* common/netaddr.c: address parsing, CIDR matching and the egress guard's classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>
#include "../../../common/netaddr.h"

static wh_ip_t ip(const char *s)
{
    wh_ip_t out;
    if (!wh_ip_parse(wh_str_c(s), &out))
        fail_msg("cannot parse %s", s);
    return out;
}

static void test_parse_strict(void **state)
{
    static const char *good[] = {
        "0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "::1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1:2:3:4"};
    static const char *bad[] = {"",           "1.2.3",      "1.2.3.4.5", "256.1.1.1", "01.2.3.4",
                                "0x7f.0.0.1", "2130706433", "1.2.3.4 ",  " 1.2.3.4",  "fe80::1%lo",
                                "::g",        "1.2.3.4/32", "localhost", "1.2.3.4\n", "[::1]"};
    wh_ip_t out;
    char text[WH_IP_STRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        print_message("  good %s\n", good[i]);
        assert_true(wh_ip_parse(wh_str_c(good[i]), &out));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("  bad %s\n", bad[i]);
        assert_false(wh_ip_parse(wh_str_c(bad[i]), &out));
    }
    /* a NUL inside the bytes is not a terminator */
    assert_false(wh_ip_parse(wh_str("1.2.3.4\0x", 9), &out));
    assert_false(wh_ip_parse(WH_STR_NULL, &out));

    /* one representation: IPv4 and its mapped IPv6 spelling are the same address */
    out = ip("10.0.0.1");
    assert_true(wh_ip_is_v4(&out));
    wh_ip_t mapped = ip("::ffff:10.0.0.1");
    assert_memory_equal(out.b, mapped.b, 16);
    wh_ip_format(&mapped, text);
    assert_string_equal(text, "10.0.0.1");
    out = ip("2001:DB8:0:0::1");
    assert_false(wh_ip_is_v4(&out));
    wh_ip_format(&out, text);
    assert_string_equal(text, "2001:db8::1");
}

static void test_parse_lenient(void **state)
{
    /* what inet_aton, and so a URL host in curl, takes as 127.0.0.1 */
    static const char *loopbacks[] = {"127.0.0.1", "0x7f.1", "2130706433", "0177.0.0.1", "0x7f000001", "127.1"};
    wh_ip_t out;

    (void)state;
    for (size_t i = 0; i < sizeof(loopbacks) / sizeof(loopbacks[0]); i++) {
        print_message("  %s\n", loopbacks[i]);
        assert_true(wh_ip_parse_lenient(wh_str_c(loopbacks[i]), &out));
        assert_int_equal(wh_ip_classify(&out), WH_IP_LOOPBACK);
    }
    assert_true(wh_ip_parse_lenient(wh_str_c("0xa9.0xfe.0xa9.0xfe"), &out));
    assert_int_equal(wh_ip_classify(&out), WH_IP_METADATA);
    assert_true(wh_ip_parse_lenient(wh_str_c("::1"), &out));
    assert_false(wh_ip_parse_lenient(wh_str_c("127.0.0.1 trailing"), &out));
    assert_false(wh_ip_parse_lenient(wh_str_c("example.com"), &out));
}

static void test_sockaddr(void **state)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr un = {.sa_family = AF_UNIX};
    wh_ip_t out, want;

    (void)state;
    inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
    assert_true(wh_ip_from_sockaddr((struct sockaddr *)&a4, &out));
    want = ip("192.0.2.7");
    assert_memory_equal(out.b, want.b, 16);
    inet_pton(AF_INET6, "2001:db8::7", &a6.sin6_addr);
    assert_true(wh_ip_from_sockaddr((struct sockaddr *)&a6, &out));
    want = ip("2001:db8::7");
    assert_memory_equal(out.b, want.b, 16);
    assert_false(wh_ip_from_sockaddr(&un, &out));
}

static void test_cidr(void **state)
{
    static const struct {
        const char *cidr, *addr;
        bool in;
    } cases[] = {
        {"10.0.0.0/8", "10.255.255.255", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"10.0.0.0/8", "::ffff:10.1.2.3", true}, /* a dual-stack socket's spelling */
        {"13.108.0.0/14", "13.111.255.255", true},
        {"13.108.0.0/14", "13.112.0.0", false},
        {"13.108.0.0/14", "13.107.255.255", false},
        {"192.0.2.7", "192.0.2.7", true},
        {"192.0.2.7", "192.0.2.8", false},
        {"192.0.2.7/32", "192.0.2.7", true},
        {"0.0.0.0/0", "203.0.113.9", true},
        {"0.0.0.0/0", "2001:db8::1", false}, /* an IPv4 range never holds a native IPv6 address */
        {"2001:db8::/32", "2001:db8:ffff::1", true},
        {"2001:db8::/32", "2001:db9::1", false},
        {"::/0", "2001:db8::1", true},
        {"::/0", "10.0.0.1", true}, /* every address, mapped IPv4 included */
        {"2001:db8::1/128", "2001:db8::1", true},
        {"172.16.0.0/12", "172.31.255.255", true},
        {"172.16.0.0/12", "172.32.0.0", false},
    };
    static const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33",  "10.0.0.0/-1",    "10.0.0.0/", "/8",          "10.0.0.0/8/8",
                                "::/129",     "10.0.0.0/08x", "2001:db8::1/32", "x",         "10.0.0.0/ 8", "10.0.0.0/1000"};
    wh_cidr_t c;
    char errbuf[WH_ERRBUF_SIZE];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wh_ip_t a = ip(cases[i].addr);
        print_message("  %s in %s\n", cases[i].addr, cases[i].cidr);
        assert_int_equal(wh_cidr_parse(wh_str_c(cases[i].cidr), &c, errbuf), WH_OK);
        assert_int_equal(wh_cidr_contains(&c, &a), cases[i].in);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("  bad %s\n", bad[i]);
        errbuf[0] = '\0';
        assert_int_equal(wh_cidr_parse(wh_str_c(bad[i]), &c, errbuf), WH_EINVAL);
        assert_true(errbuf[0] != '\0');
    }
}

static void test_cidr_list(void **state)
{
    wh_cidr_t list[WH_MAX_CIDRS];
    size_t n = 99;
    char errbuf[WH_ERRBUF_SIZE], many[WH_MAX_CIDRS * 16 + 32];
    wh_ip_t a;
    size_t off = 0;

    (void)state;
    assert_int_equal(wh_cidr_list_parse(wh_str_c(""), list, &n, errbuf), WH_OK);
    assert_int_equal(n, 0);
    a = ip("10.0.0.1");
    assert_false(wh_cidr_list_contains(list, n, &a));

    assert_int_equal(wh_cidr_list_parse(wh_str_c(" 10.0.0.0/8 ,192.168.1.7,  fd00::/8"), list, &n, errbuf), WH_OK);
    assert_int_equal(n, 3);
    assert_true(wh_cidr_list_contains(list, n, &a));
    a = ip("192.168.1.7");
    assert_true(wh_cidr_list_contains(list, n, &a));
    a = ip("192.168.1.8");
    assert_false(wh_cidr_list_contains(list, n, &a));
    a = ip("fd12::1");
    assert_true(wh_cidr_list_contains(list, n, &a));

    assert_int_equal(wh_cidr_list_parse(wh_str_c("10.0.0.0/8,,1.2.3.4"), list, &n, errbuf), WH_EINVAL);
    assert_int_equal(wh_cidr_list_parse(wh_str_c("10.0.0.0/8,"), list, &n, errbuf), WH_EINVAL);
    assert_int_equal(wh_cidr_list_parse(wh_str_c("10.0.0.0/8, nope"), list, &n, errbuf), WH_EINVAL);
    assert_non_null(strstr(errbuf, "nope"));

    for (int i = 0; i <= WH_MAX_CIDRS; i++)
        off += (size_t)snprintf(many + off, sizeof(many) - off, "%s10.0.%d.0/24", i ? "," : "", i);
    assert_int_equal(wh_cidr_list_parse(wh_str(many, off), list, &n, errbuf), WH_ETOO_LARGE);
    /* exactly the bound is fine */
    off = (size_t)(strrchr(many, ',') - many);
    assert_int_equal(wh_cidr_list_parse(wh_str(many, off), list, &n, errbuf), WH_OK);
    assert_int_equal(n, WH_MAX_CIDRS);
}

static void test_forwarded_client(void **state)
{
    static const struct {
        const char *peer;
        const char *xff[2]; /* header values in arrival order */
        const char *want;   /* NULL: no client address can be told */
    } cases[] = {
        {"203.0.113.9", {NULL}, "203.0.113.9"},                     /* no proxy */
        {"203.0.113.9", {"1.1.1.1"}, "203.0.113.9"},                /* untrusted peer: its XFF is a lie */
        {"10.0.0.2", {NULL}, "10.0.0.2"},                           /* trusted, no header: the peer */
        {"10.0.0.2", {"198.51.100.7"}, "198.51.100.7"},             /* the usual ingress */
        {"10.0.0.2", {"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},    /* a forged left part is ignored */
        {"10.0.0.2", {"198.51.100.7, 10.0.0.3"}, "198.51.100.7"},   /* two trusted hops */
        {"10.0.0.2", {"198.51.100.7", "10.0.0.3"}, "198.51.100.7"}, /* split over two headers */
        {"10.0.0.2", {"10.0.0.5 ,10.0.0.3"}, "10.0.0.5"},           /* all trusted: the leftmost */
        {"10.0.0.2", {"198.51.100.7,,  "}, "198.51.100.7"},         /* empty elements */
        {"10.0.0.2", {"2001:db8::9"}, "2001:db8::9"},               /* */
        {"::ffff:10.0.0.2", {"198.51.100.7"}, "198.51.100.7"},      /* mapped peer */
        {"10.0.0.2", {"198.51.100.7:5555"}, NULL},                  /* ports: unknown, fail closed */
        {"10.0.0.2", {"unknown"}, NULL},                            /* */
        {"10.0.0.2", {"garbage, 198.51.100.7"}, "198.51.100.7"},    /* never reached */
    };
    wh_cidr_t trusted[WH_MAX_CIDRS];
    size_t n;
    char errbuf[WH_ERRBUF_SIZE];

    (void)state;
    assert_int_equal(wh_cidr_list_parse(wh_str_c("10.0.0.0/8"), trusted, &n, errbuf), WH_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wh_str_t xff[2];
        size_t nx = 0;
        wh_ip_t peer = ip(cases[i].peer), got;
        for (; nx < 2 && cases[i].xff[nx] != NULL; nx++)
            xff[nx] = wh_str_c(cases[i].xff[nx]);
        print_message("  case %zu\n", i);
        if (cases[i].want == NULL) {
            assert_false(wh_ip_forwarded_client(&peer, trusted, n, xff, nx, &got));
        } else {
            wh_ip_t want = ip(cases[i].want);
            assert_true(wh_ip_forwarded_client(&peer, trusted, n, xff, nx, &got));
            assert_memory_equal(got.b, want.b, 16);
        }
    }
}

static void test_classify(void **state)
{
    static const struct {
        const char *addr;
        wh_ip_class_t cls;
    } cases[] = {
        {"93.184.216.34", WH_IP_PUBLIC},
        {"8.8.8.8", WH_IP_PUBLIC},
        {"2606:4700::1111", WH_IP_PUBLIC},
        {"0.0.0.0", WH_IP_UNSPECIFIED},
        {"0.1.2.3", WH_IP_UNSPECIFIED},
        {"::", WH_IP_UNSPECIFIED},
        {"127.0.0.1", WH_IP_LOOPBACK},
        {"127.255.255.254", WH_IP_LOOPBACK},
        {"::1", WH_IP_LOOPBACK},
        {"10.0.0.1", WH_IP_PRIVATE},
        {"172.16.0.1", WH_IP_PRIVATE},
        {"172.31.255.255", WH_IP_PRIVATE},
        {"172.32.0.1", WH_IP_PUBLIC},
        {"192.168.1.1", WH_IP_PRIVATE},
        {"fc00::1", WH_IP_PRIVATE},
        {"fd12:3456::1", WH_IP_PRIVATE},
        {"fec0::1", WH_IP_PRIVATE},
        {"169.254.1.1", WH_IP_LINK_LOCAL},
        {"fe80::1", WH_IP_LINK_LOCAL},
        {"febf::1", WH_IP_LINK_LOCAL},
        {"100.64.0.1", WH_IP_CGNAT},
        {"100.127.255.255", WH_IP_CGNAT},
        {"100.128.0.1", WH_IP_PUBLIC},
        {"224.0.0.1", WH_IP_MULTICAST},
        {"239.255.255.250", WH_IP_MULTICAST},
        {"ff02::1", WH_IP_MULTICAST},
        {"169.254.169.254", WH_IP_METADATA},
        {"fd00:ec2::254", WH_IP_METADATA},
        {"100.100.100.200", WH_IP_METADATA},
        {"192.0.0.192", WH_IP_METADATA},
        {"255.255.255.255", WH_IP_RESERVED},
        {"240.0.0.1", WH_IP_RESERVED},
        {"192.0.2.1", WH_IP_RESERVED},
        {"198.18.0.1", WH_IP_RESERVED},
        {"2001:db8::1", WH_IP_RESERVED},
        {"2001::1", WH_IP_RESERVED},
        /* IPv4 inside IPv6 is judged as the IPv4 address */
        {"::ffff:127.0.0.1", WH_IP_LOOPBACK},
        {"::ffff:169.254.169.254", WH_IP_METADATA},
        {"::ffff:8.8.8.8", WH_IP_PUBLIC},
        {"::127.0.0.1", WH_IP_LOOPBACK},
        {"::10.0.0.1", WH_IP_PRIVATE},
        {"::ffff:0:10.0.0.1", WH_IP_PRIVATE},
        {"64:ff9b::7f00:1", WH_IP_LOOPBACK},
        {"64:ff9b::a9fe:a9fe", WH_IP_METADATA},
        {"64:ff9b::808:808", WH_IP_PUBLIC},
        {"2002:7f00:1::", WH_IP_LOOPBACK},
        {"2002:0a00:0001::1", WH_IP_PRIVATE},
        {"2002:0808:0808::1", WH_IP_PUBLIC},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wh_ip_t a = ip(cases[i].addr);
        wh_ip_class_t got = wh_ip_classify(&a);
        print_message("  %s -> %s\n", cases[i].addr, wh_ip_class_name(got));
        assert_int_equal(got, cases[i].cls);
    }
    assert_string_equal(wh_ip_class_name(WH_IP_METADATA), "metadata");
    assert_string_equal(wh_ip_class_name(WH_IP_PUBLIC), "public");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_strict), cmocka_unit_test(test_parse_lenient), cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_cidr),         cmocka_unit_test(test_cidr_list),     cmocka_unit_test(test_forwarded_client),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
