/*
 * IP addresses and CIDR ranges: parsing, matching, classification.
 *
 * One representation for both families: an IPv4 address is held as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so "10.0.0.0/8" matches a peer that a
 * dual-stack socket reports as ::ffff:10.1.2.3, and a classifier cannot be
 * fooled by the mapped spelling of a private address. Used by the ingest side
 * (Salesforce allow lists, trusted proxies) and the egress guard (deliveries).
 */
#ifndef WH_NETADDR_H
#define WH_NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "err.h"
#include "str.h"

typedef struct {
    uint8_t b[16];
} wh_ip_t;

typedef struct {
    wh_ip_t net;   /* host bits zero */
    unsigned bits; /* prefix length over the 128-bit form: an IPv4 /8 is 104 */
} wh_cidr_t;

#define WH_IP_STRLEN 46 /* INET6_ADDRSTRLEN */
#define WH_MAX_CIDRS 64 /* entries in one list (an allow list, WHARF_TRUSTED_PROXIES) */

/* Strict: dotted-quad IPv4 (four decimal parts) or any inet_pton IPv6 form. */
bool wh_ip_parse(wh_str_t s, wh_ip_t *out);
/*
 * Every spelling a URL host or resolver may accept for IPv4 (inet_aton: "0x7f.1", "2130706433", "017.0.0.1"),
 * then IPv6. For classifying what a host name *could* mean; never for allow lists.
 */
bool wh_ip_parse_lenient(wh_str_t s, wh_ip_t *out);
/* AF_INET / AF_INET6 socket address; false for other families. */
bool wh_ip_from_sockaddr(const struct sockaddr *sa, wh_ip_t *out);
bool wh_ip_is_v4(const wh_ip_t *ip);
/* "10.1.2.3" for IPv4 (mapped) addresses, RFC 5952 text otherwise. */
void wh_ip_format(const wh_ip_t *ip, char out[WH_IP_STRLEN]);

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (one host). Host bits set is WH_EINVAL: "10.0.0.1/8" is a typo. */
wh_err_t wh_cidr_parse(wh_str_t s, wh_cidr_t *out, char *errbuf);
bool wh_cidr_contains(const wh_cidr_t *c, const wh_ip_t *ip);
/*
 * A comma-separated list ("10.0.0.0/8, 192.168.1.7"), spaces around items ignored, at most WH_MAX_CIDRS entries.
 * An empty string is an empty list.
 */
wh_err_t wh_cidr_list_parse(wh_str_t s, wh_cidr_t *out, size_t *n, char *errbuf);
bool wh_cidr_list_contains(const wh_cidr_t *list, size_t n, const wh_ip_t *ip);

/*
 * The client behind trusted proxies. `peer` is the socket's peer; when it is in `trusted`, the X-Forwarded-For
 * hops (`xff`: each header's value, in arrival order) are walked right to left past trusted entries and the first
 * untrusted hop is the client (all trusted: the leftmost). False when that hop is not an address (a proxy that
 * appends ports or garbage): the caller then knows no client address and must fail closed.
 */
bool wh_ip_forwarded_client(const wh_ip_t *peer, const wh_cidr_t *trusted, size_t ntrusted, const wh_str_t *xff, size_t nxff,
                            wh_ip_t *out);

/* What an address is, for the egress guard. Everything but WH_IP_PUBLIC is refused by default. */
typedef enum {
    WH_IP_PUBLIC,
    WH_IP_UNSPECIFIED, /* 0.0.0.0/8, :: */
    WH_IP_LOOPBACK,    /* 127.0.0.0/8, ::1 */
    WH_IP_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
    WH_IP_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    WH_IP_CGNAT,       /* 100.64/10 (shared address space) */
    WH_IP_MULTICAST,   /* 224/4, ff00::/8 */
    WH_IP_METADATA,    /* cloud instance metadata: 169.254.169.254, fd00:ec2::254, 100.100.100.200, 192.0.0.192 */
    WH_IP_RESERVED,    /* benchmarking, documentation, IETF protocol, 240/4, broadcast, 2001:db8::/32, … */
} wh_ip_class_t;

/*
 * Classifies an address; IPv4 carried inside IPv6 (mapped ::ffff:0:0/96, compatible ::/96, NAT64 64:ff9b::/96,
 * 6to4 2002::/16) is classified as the IPv4 address it carries.
 */
wh_ip_class_t wh_ip_classify(const wh_ip_t *ip);
/* "public", "loopback", … (stable: attempt records use it). */
const char *wh_ip_class_name(wh_ip_class_t c);

#endif
