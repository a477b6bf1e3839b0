#include <stdio.h>
#include <string.h>
#include "../common/crypto.h"
#include "sign.h"

wh_err_t wh_sign_key_from_secret(wh_str_t secret, uint8_t key[WH_SIGN_KEY_MAX], size_t *keylen)
{
    uint8_t buf[WH_SIGN_KEY_MAX + 3];
    long n;

    if (secret.len > 6 && memcmp(secret.base, "whsec_", 6) == 0)
        secret = wh_str(secret.base + 6, secret.len - 6);
    if (secret.len == 0 || secret.len > 4 * ((WH_SIGN_KEY_MAX + 2) / 3))
        return WH_EINVAL;
    n = wh_base64_decode(secret, buf, sizeof(buf));
    if (n <= 0 || n > WH_SIGN_KEY_MAX)
        return WH_EINVAL;
    memcpy(key, buf, (size_t)n);
    *keylen = (size_t)n;
    return WH_OK;
}

void wh_sign_new_secret(char *out, size_t cap)
{
    uint8_t raw[24];
    if (cap < 6 + 32 + 1)
        return;
    wh_random_bytes(raw, sizeof(raw));
    memcpy(out, "whsec_", 6);
    wh_base64_encode(raw, sizeof(raw), out + 6);
}

size_t wh_sign_v1(const uint8_t *key, size_t keylen, wh_str_t msg_id, int64_t ts, wh_str_t body, char out[WH_SIGNATURE_MAX])
{
    char tsbuf[24];
    uint8_t mac[WH_SHA256_LEN];
    int tslen = snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    const wh_str_t parts[] = {msg_id, WH_STRLIT("."), wh_str(tsbuf, (size_t)tslen), WH_STRLIT("."), body};

    wh_hmac_sha256(wh_str((const char *)key, keylen), parts, 5, mac);
    memcpy(out, "v1,", 3);
    return 3 + wh_base64_encode(mac, sizeof(mac), out + 3);
}

size_t wh_sign_header(const uint8_t *key, size_t keylen, const uint8_t *old_key, size_t old_keylen, wh_str_t msg_id, int64_t ts,
                      wh_str_t body, char out[WH_SIGNATURE_HEADER_MAX])
{
    size_t n = wh_sign_v1(key, keylen, msg_id, ts, body, out);

    if (old_keylen == 0)
        return n;
    out[n++] = ' ';
    return n + wh_sign_v1(old_key, old_keylen, msg_id, ts, body, out + n);
}

void wh_webhook_id(const char *event_id, const char *subscription_id, char out[WH_WEBHOOK_ID_LEN + 1])
{
    uint8_t h[WH_SHA256_LEN];
    const wh_str_t parts[] = {wh_str_c(event_id), WH_STRLIT(":"), wh_str_c(subscription_id)};

    wh_sha256(parts, 3, h);
    memcpy(out, "msg_", 4);
    wh_hex_encode(h, 16, out + 4);
}
