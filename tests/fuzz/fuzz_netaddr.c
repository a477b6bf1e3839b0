/*
 * libFuzzer target for common/netaddr.c: the address and CIDR parsers, and the X-Forwarded-For walk (a header any
 * client can send when a trusted proxy is in front).
 *
 * Input: the whole input is tried as one address (strict and lenient), as a CIDR range, as a CIDR list and as
 * the X-Forwarded-For value behind a trusted peer.
 *
 * Invariants checked (abort on violation): a parsed address formats and parses back to itself; whatever the
 * strict parser takes the lenient one takes as the same address; a parsed range contains its own network and
 * a list answers within its bound; the X-Forwarded-For walk is a pure function, a single-address header names
 * that client, and an untrusted peer's header is never read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "../../common/netaddr.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const wh_str_t in = wh_str((const char *)data, size);
    char errbuf[WH_ERRBUF_SIZE], text[WH_IP_STRLEN];
    wh_ip_t ip, again, peer, client;
    wh_cidr_t cidr, list[WH_MAX_CIDRS], trusted;
    size_t n;

    if (wh_ip_parse(in, &ip)) {
        wh_ip_format(&ip, text);
        fuzz_check(wh_ip_parse(wh_str_c(text), &again) && memcmp(ip.b, again.b, 16) == 0);
        fuzz_check(wh_ip_parse_lenient(in, &again) && memcmp(ip.b, again.b, 16) == 0);
        (void)wh_ip_class_name(wh_ip_classify(&ip));
    }
    if (wh_ip_parse_lenient(in, &ip))
        (void)wh_ip_classify(&ip);
    if (wh_cidr_parse(in, &cidr, errbuf) == WH_OK) {
        fuzz_check(cidr.bits <= 128 && wh_cidr_contains(&cidr, &cidr.net));
    }
    if (wh_cidr_list_parse(in, list, &n, errbuf) == WH_OK)
        fuzz_check(n <= WH_MAX_CIDRS);

    fuzz_check(wh_cidr_parse(WH_STRLIT("10.0.0.0/8"), &trusted, errbuf) == WH_OK);
    fuzz_check(wh_ip_parse(WH_STRLIT("10.0.0.1"), &peer));
    {
        bool ok = wh_ip_forwarded_client(&peer, &trusted, 1, &in, 1, &client);
        wh_ip_t twice;
        fuzz_check(ok == wh_ip_forwarded_client(&peer, &trusted, 1, &in, 1, &twice));
        fuzz_check(!ok || memcmp(client.b, twice.b, 16) == 0);
        /* one hop that is an address: that address is the client, trusted or not (it is the leftmost) */
        if (memchr(data, ',', size) == NULL && wh_ip_parse(in, &ip))
            fuzz_check(ok && memcmp(client.b, ip.b, 16) == 0);
        /* an untrusted peer's header is never read */
        fuzz_check(wh_ip_parse(WH_STRLIT("198.51.100.1"), &peer));
        fuzz_check(wh_ip_forwarded_client(&peer, &trusted, 1, &in, 1, &client) && memcmp(client.b, peer.b, 16) == 0);
    }
    return 0;
}
