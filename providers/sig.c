#include <stdio.h>
#include <stdlib.h>
#include "../common/crypto.h"
#include "sig.h"

bool wh_sig_get_header(const wh_inbound_t *in, wh_str_t lname, wh_str_t *value)
{
    *value = wh_inbound_header(in, lname);
    return value->len <= WH_MAX_HEADER_VALUE;
}

wh_str_t wh_sig_get_credential(const json_t *credentials, const char *key)
{
    const json_t *v = json_is_object(credentials) ? json_object_get(credentials, key) : NULL;

    if (!json_is_string(v) || json_string_length(v) == 0)
        return WH_STR_NULL;
    return wh_str(json_string_value(v), json_string_length(v));
}

bool wh_sig_parse_timestamp(wh_str_t s, int64_t *out)
{
    long long v;

    /* 19 digits always fit wh_str_to_i64's overflow check; reject signs and anything else up front. */
    if (s.len == 0 || s.len > 19)
        return false;
    for (size_t i = 0; i != s.len; ++i)
        if (s.base[i] < '0' || s.base[i] > '9')
            return false;
    if (!wh_str_to_i64(s, &v))
        return false;
    *out = v;
    return true;
}

wh_err_t wh_sig_check_window(int64_t ts, int64_t now, int64_t tolerance)
{
    /* The distance between two int64 values always fits in uint64; the subtraction is done there. */
    uint64_t distance = ts >= now ? (uint64_t)ts - (uint64_t)now : (uint64_t)now - (uint64_t)ts;

    if (tolerance < 0 || distance > (uint64_t)tolerance)
        return WH_ESTALE;
    return WH_OK;
}

bool wh_sig_match_hex(wh_str_t received, const uint8_t *expected, size_t len)
{
    uint8_t got[WH_SIG_MAX_DIGEST];

    if (len > sizeof(got) || received.len != 2 * len)
        return false;
    if (wh_hex_decode(received, got, sizeof(got)) != (long)len)
        return false;
    return wh_ct_equal(got, len, expected, len);
}

bool wh_sig_match_base64(wh_str_t received, const uint8_t *expected, size_t len)
{
    uint8_t got[WH_SIG_MAX_DIGEST + 3]; /* wh_base64_decode wants 3 * (in.len / 4) bytes */

    if (len > WH_SIG_MAX_DIGEST || received.len != 4 * ((len + 2) / 3))
        return false;
    if (wh_base64_decode(received, got, sizeof(got)) != (long)len)
        return false;
    return wh_ct_equal(got, len, expected, len);
}

void wh_sig_dedupe_key(const wh_str_t *components, size_t n, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    uint8_t lens[WH_SIG_MAX_KEY_PARTS][8];
    wh_str_t parts[2 * WH_SIG_MAX_KEY_PARTS];
    uint8_t digest[WH_SHA256_LEN];

    if (n > WH_SIG_MAX_KEY_PARTS) {
        fprintf(stderr, "fatal: wh_sig_dedupe_key called with %zu components\n", n);
        abort();
    }
    for (size_t i = 0; i != n; ++i) {
        uint64_t len = components[i].len;
        for (int b = 7; b >= 0; --b) {
            lens[i][b] = (uint8_t)(len & 0xff);
            len >>= 8;
        }
        parts[2 * i] = wh_str((const char *)lens[i], sizeof(lens[i]));
        parts[2 * i + 1] = components[i];
    }
    wh_sha256(parts, 2 * n, digest);
    memcpy(out, digest, WH_DEDUPE_KEY_LEN);
}
