/*
 * The egress guard (design §7): deliveries go to public addresses only.
 *
 * A wh_http address policy, consulted by dispatch/http.c on the address curl is about to connect to, after
 * DNS: a host name resolving to (or rebinding to) a forbidden address, or an odd spelling of one
 * ("0x7f.1", "2130706433"), is refused like the address itself, before any packet leaves. Everything
 * common/netaddr.h does not classify WH_IP_PUBLIC is refused: unspecified, loopback, private, link-local,
 * CGNAT, multicast, cloud metadata, reserved, and IPv4 carried inside IPv6 (mapped, NAT64, 6to4) as the
 * address it carries. Non-IP families are refused. Kept-alive connections are not re-checked (they were
 * checked when opened).
 */
#ifndef WH_EGRESS_H
#define WH_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "../common/config.h"
#include "http.h"

/* wh_http_address_policy_cb: true only for an AF_INET/AF_INET6 public address. `data` is unused (NULL). No logging. */
bool wh_egress_allow(const struct sockaddr *addr, void *data);

/* wh_http_address_explain_cb: "127.0.0.1 (loopback)", "fe80::1 (link_local)", "address family 1" (AF_UNIX). */
void wh_egress_explain(const struct sockaddr *addr, char *out, size_t outlen, void *data);

/* Installs the guard on `h` (borrowed for the call) unless cfg->allow_private_destinations. Call before the
 * first wh_http_post(). */
void wh_egress_install(wh_http_t *h, const wh_config_t *cfg);

#endif
