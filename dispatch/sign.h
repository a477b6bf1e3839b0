/* Standard Webhooks signing (https://www.standardwebhooks.com/, design §7). Pure functions. */
#ifndef WH_SIGN_H
#define WH_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "../common/err.h"
#include "../common/str.h"

#define WH_SIGN_KEY_MAX 64
#define WH_SIGNATURE_MAX 64  /* "v1," + 44 base64 chars + NUL */
#define WH_WEBHOOK_ID_LEN 36 /* "msg_" + 32 hex */

/* "whsec_<base64>" (the prefix is optional, as in the reference libraries) -> key bytes (1..64). */
wh_err_t wh_sign_key_from_secret(wh_str_t secret, uint8_t key[WH_SIGN_KEY_MAX], size_t *keylen);
/* A new secret: "whsec_" + base64 of 24 random bytes (out: at least 39 bytes). */
void wh_sign_new_secret(char *out, size_t cap);
/* "v1,<base64 HMAC-SHA256(key, id "." ts "." body)>" into out, NUL-terminated; returns its length. */
size_t wh_sign_v1(const uint8_t *key, size_t keylen, wh_str_t msg_id, int64_t ts, wh_str_t body, char out[WH_SIGNATURE_MAX]);
/* The webhook-signature value for two keys: a rotated-out secret signs alongside the new one. */
#define WH_SIGNATURE_HEADER_MAX (2 * WH_SIGNATURE_MAX)
/*
 * The webhook-signature header's value: the signature of `key`, then, when old_keylen != 0, a space and the
 * signature of `old_key` (secret rotation; receivers accept a header that holds any valid signature).
 */
size_t wh_sign_header(const uint8_t *key, size_t keylen, const uint8_t *old_key, size_t old_keylen, wh_str_t msg_id, int64_t ts,
                      wh_str_t body, char out[WH_SIGNATURE_HEADER_MAX]);
/*
 * The webhook-id of one event for one subscription: "msg_" + 32 hex of SHA-256(eventId ":" subscriptionId).
 * Deterministic, so every retry, replay and redelivery carries the same id and receivers can deduplicate.
 */
void wh_webhook_id(const char *event_id, const char *subscription_id, char out[WH_WEBHOOK_ID_LEN + 1]);

#endif
