#include <stdio.h>
#include "../common/netaddr.h"
#include "egress.h"

bool wh_egress_allow(const struct sockaddr *addr, void *data)
{
    wh_ip_t ip;

    (void)data;
    return wh_ip_from_sockaddr(addr, &ip) && wh_ip_classify(&ip) == WH_IP_PUBLIC;
}

void wh_egress_explain(const struct sockaddr *addr, char *out, size_t outlen, void *data)
{
    wh_ip_t ip;
    char text[WH_IP_STRLEN];

    (void)data;
    if (outlen == 0)
        return;
    if (!wh_ip_from_sockaddr(addr, &ip)) {
        snprintf(out, outlen, "address family %d", (int)addr->sa_family);
        return;
    }
    wh_ip_format(&ip, text);
    snprintf(out, outlen, "%s (%s)", text, wh_ip_class_name(wh_ip_classify(&ip)));
}

void wh_egress_install(wh_http_t *h, const wh_config_t *cfg)
{
    if (!cfg->allow_private_destinations)
        wh_http_set_address_policy_explained(h, wh_egress_allow, wh_egress_explain, NULL);
}
