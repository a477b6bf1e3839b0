#include "netaddr.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Copies s into buf as a C string; false when it does not fit or holds a NUL or whitespace. */
static bool to_cstr(wh_str_t s, char *buf, size_t size)
{
    if (s.base == NULL || s.len == 0 || s.len >= size)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.base[i] == '\0' || s.base[i] == ' ' || s.base[i] == '\t' || s.base[i] == '\n' || s.base[i] == '\r')
            return false;
    memcpy(buf, s.base, s.len);
    buf[s.len] = '\0';
    return true;
}

static void set_v4(wh_ip_t *out, const void *v4)
{
    memset(out->b, 0, 10);
    out->b[10] = out->b[11] = 0xff;
    memcpy(out->b + 12, v4, 4);
}

bool wh_ip_is_v4(const wh_ip_t *ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(ip->b, mapped, 12) == 0;
}

bool wh_ip_parse(wh_str_t s, wh_ip_t *out)
{
    char buf[WH_IP_STRLEN];
    struct in_addr a4;

    if (!to_cstr(s, buf, sizeof(buf)))
        return false;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        set_v4(out, &a4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

bool wh_ip_parse_lenient(wh_str_t s, wh_ip_t *out)
{
    char buf[WH_IP_STRLEN];
    struct in_addr a4;

    if (!to_cstr(s, buf, sizeof(buf)))
        return false;
    if (inet_aton(buf, &a4) != 0) {
        set_v4(out, &a4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

bool wh_ip_from_sockaddr(const struct sockaddr *sa, wh_ip_t *out)
{
    if (sa->sa_family == AF_INET) {
        set_v4(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out->b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

void wh_ip_format(const wh_ip_t *ip, char out[WH_IP_STRLEN])
{
    if (wh_ip_is_v4(ip))
        inet_ntop(AF_INET, ip->b + 12, out, WH_IP_STRLEN);
    else
        inet_ntop(AF_INET6, ip->b, out, WH_IP_STRLEN);
}

/* Zeroes every bit after the first `bits`. */
static void mask(wh_ip_t *ip, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        ip->b[i] &= (uint8_t)(0xff00u >> keep);
    }
}

wh_err_t wh_cidr_parse(wh_str_t s, wh_cidr_t *out, char *errbuf)
{
    const char *slash = s.base != NULL ? memchr(s.base, '/', s.len) : NULL;
    wh_str_t addr = slash != NULL ? wh_str(s.base, (size_t)(slash - s.base)) : s;
    long long bits;
    unsigned max;
    wh_ip_t masked;

    if (!wh_ip_parse(addr, &out->net))
        return wh_errf(errbuf, WH_EINVAL, "not an IP address or CIDR range");
    max = wh_ip_is_v4(&out->net) ? 32 : 128;
    bits = max;
    if (slash != NULL) {
        wh_str_t len = wh_str(slash + 1, s.len - addr.len - 1);
        if (len.len == 0 || len.len > 3 || len.base[0] == '-' || !wh_str_to_i64(len, &bits) || bits < 0 || bits > max)
            return wh_errf(errbuf, WH_EINVAL, "prefix length must be 0 to %u", max);
    }
    out->bits = (unsigned)bits + (128 - max);
    masked = out->net;
    mask(&masked, out->bits);
    if (memcmp(masked.b, out->net.b, 16) != 0)
        return wh_errf(errbuf, WH_EINVAL, "host bits set after the prefix (did you mean a different range?)");
    return WH_OK;
}

bool wh_cidr_contains(const wh_cidr_t *c, const wh_ip_t *ip)
{
    wh_ip_t m = *ip;
    mask(&m, c->bits);
    return memcmp(m.b, c->net.b, 16) == 0;
}

wh_err_t wh_cidr_list_parse(wh_str_t s, wh_cidr_t *out, size_t *n, char *errbuf)
{
    size_t i = 0;

    *n = 0;
    while (i < s.len) {
        size_t start, end;
        char item[WH_ERRBUF_SIZE];

        while (i < s.len && s.base[i] == ' ')
            i++;
        start = i;
        while (i < s.len && s.base[i] != ',')
            i++;
        end = i;
        while (end > start && s.base[end - 1] == ' ')
            end--;
        if (i < s.len)
            i++; /* the comma */
        if (end == start)
            return wh_errf(errbuf, WH_EINVAL, "empty entry in the list");
        if (*n == WH_MAX_CIDRS)
            return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d entries", WH_MAX_CIDRS);
        if (wh_cidr_parse(wh_str(s.base + start, end - start), &out[*n], item) != WH_OK)
            return wh_errf(errbuf, WH_EINVAL, "\"%.*s\": %s", (int)(end - start > 64 ? 64 : end - start), s.base + start, item);
        (*n)++;
    }
    if (s.len > 0 && s.base[s.len - 1] == ',')
        return wh_errf(errbuf, WH_EINVAL, "empty entry in the list");
    return WH_OK;
}

bool wh_cidr_list_contains(const wh_cidr_t *list, size_t n, const wh_ip_t *ip)
{
    for (size_t i = 0; i < n; i++)
        if (wh_cidr_contains(&list[i], ip))
            return true;
    return false;
}

static wh_str_t trim(wh_str_t s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t'))
        s.base++, s.len--;
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool wh_ip_forwarded_client(const wh_ip_t *peer, const wh_cidr_t *trusted, size_t ntrusted, const wh_str_t *xff, size_t nxff,
                            wh_ip_t *out)
{
    *out = *peer;
    if (!wh_cidr_list_contains(trusted, ntrusted, peer))
        return true;
    for (size_t h = nxff; h-- > 0;) {
        size_t end = xff[h].len;
        while (end > 0) {
            size_t start = end;
            while (start > 0 && xff[h].base[start - 1] != ',')
                start--;
            wh_str_t hop = trim(wh_str(xff[h].base + start, end - start));
            end = start > 0 ? start - 1 : 0;
            if (hop.len == 0)
                continue; /* "a, , b": an empty element says nothing */
            if (!wh_ip_parse(hop, out))
                return false;
            if (!wh_cidr_list_contains(trusted, ntrusted, out))
                return true;
        }
    }
    return true;
}

/* Classification. */

typedef struct {
    uint8_t net[4];
    unsigned bits;
    wh_ip_class_t cls;
} v4_range_t;

typedef struct {
    uint8_t net[16];
    unsigned bits;
    wh_ip_class_t cls;
} v6_range_t;

/* Most specific first: the first match wins. */
static const v4_range_t v4_ranges[] = {
    {{169, 254, 169, 254}, 32, WH_IP_METADATA}, /* AWS, GCP, Azure, OpenStack, DigitalOcean, … */
    {{100, 100, 100, 200}, 32, WH_IP_METADATA}, /* Alibaba Cloud */
    {{192, 0, 0, 192}, 32, WH_IP_METADATA},     /* Oracle Cloud */
    {{0, 0, 0, 0}, 8, WH_IP_UNSPECIFIED},       /* "this network"; 0.0.0.0 reaches the local host */
    {{127, 0, 0, 0}, 8, WH_IP_LOOPBACK},        /* */
    {{10, 0, 0, 0}, 8, WH_IP_PRIVATE},          /* RFC 1918 */
    {{172, 16, 0, 0}, 12, WH_IP_PRIVATE},       /* */
    {{192, 168, 0, 0}, 16, WH_IP_PRIVATE},      /* */
    {{169, 254, 0, 0}, 16, WH_IP_LINK_LOCAL},   /* */
    {{100, 64, 0, 0}, 10, WH_IP_CGNAT},         /* RFC 6598 */
    {{224, 0, 0, 0}, 4, WH_IP_MULTICAST},       /* */
    {{192, 0, 0, 0}, 24, WH_IP_RESERVED},       /* IETF protocol assignments */
    {{192, 0, 2, 0}, 24, WH_IP_RESERVED},       /* TEST-NET-1 */
    {{198, 51, 100, 0}, 24, WH_IP_RESERVED},    /* TEST-NET-2 */
    {{203, 0, 113, 0}, 24, WH_IP_RESERVED},     /* TEST-NET-3 */
    {{198, 18, 0, 0}, 15, WH_IP_RESERVED},      /* benchmarking */
    {{192, 88, 99, 0}, 24, WH_IP_RESERVED},     /* deprecated 6to4 relay anycast */
    {{240, 0, 0, 0}, 4, WH_IP_RESERVED},        /* class E and 255.255.255.255 */
};

static const v6_range_t v6_ranges[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, 0x54}, 128, WH_IP_METADATA}, /* AWS fd00:ec2::254 */
    {{0}, 128, WH_IP_UNSPECIFIED},                                      /* :: */
    {{[15] = 1}, 128, WH_IP_LOOPBACK},                                  /* ::1 */
    {{0xfe, 0x80}, 10, WH_IP_LINK_LOCAL},                               /* */
    {{0xfe, 0xc0}, 10, WH_IP_PRIVATE},                                  /* deprecated site-local */
    {{0xfc}, 7, WH_IP_PRIVATE},                                         /* unique local */
    {{0xff}, 8, WH_IP_MULTICAST},                                       /* */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, WH_IP_RESERVED},                     /* documentation */
    {{0x20, 0x01, 0x00, 0x00}, 32, WH_IP_RESERVED},                     /* Teredo: the client address is obfuscated */
    {{0x20, 0x01, 0x00, 0x10}, 28, WH_IP_RESERVED},                     /* ORCHID */
    {{0x01, 0x00}, 64, WH_IP_RESERVED},                                 /* discard-only */
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, WH_IP_RESERVED},         /* local-use NAT64 */
};

static bool prefix_eq(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ net[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static wh_ip_class_t classify_v4(const uint8_t a[4])
{
    for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++)
        if (prefix_eq(a, v4_ranges[i].net, v4_ranges[i].bits))
            return v4_ranges[i].cls;
    return WH_IP_PUBLIC;
}

wh_ip_class_t wh_ip_classify(const wh_ip_t *ip)
{
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t zero12[12] = {0};
    const uint8_t *b = ip->b;

    if (wh_ip_is_v4(ip) || memcmp(b, nat64, 12) == 0)
        return classify_v4(b + 12);
    /* IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); :: and ::1 are matched below */
    if (memcmp(b, zero12, 12) == 0 && !(b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1))
        return classify_v4(b + 12);
    /* SIIT ::ffff:0:a.b.c.d */
    if (memcmp(b, zero12, 8) == 0 && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0)
        return classify_v4(b + 12);
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 2002:a.b.c.d::/48 */
        return classify_v4(b + 2);
    for (size_t i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++)
        if (prefix_eq(b, v6_ranges[i].net, v6_ranges[i].bits))
            return v6_ranges[i].cls;
    return WH_IP_PUBLIC;
}

const char *wh_ip_class_name(wh_ip_class_t c)
{
    switch (c) {
    case WH_IP_PUBLIC:
        return "public";
    case WH_IP_UNSPECIFIED:
        return "unspecified";
    case WH_IP_LOOPBACK:
        return "loopback";
    case WH_IP_PRIVATE:
        return "private";
    case WH_IP_LINK_LOCAL:
        return "link_local";
    case WH_IP_CGNAT:
        return "cgnat";
    case WH_IP_MULTICAST:
        return "multicast";
    case WH_IP_METADATA:
        return "metadata";
    case WH_IP_RESERVED:
        return "reserved";
    }
    return "unknown";
}
