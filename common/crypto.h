/*
 * Thin wrappers over OpenSSL: digests, HMAC, encodings, constant-time
 * comparison, random bytes and AES-256-GCM for secrets at rest.
 * Every function is pure (no global state besides OpenSSL's own).
 */
#ifndef WH_CRYPTO_H
#define WH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "str.h"

#define WH_SHA256_LEN 32

/* HMAC-SHA256 over the concatenation of `n` parts. */
void wh_hmac_sha256(wh_str_t key, const wh_str_t *parts, size_t n, uint8_t out[WH_SHA256_LEN]);
/* Plain SHA-256 over the concatenation of `n` parts. */
void wh_sha256(const wh_str_t *parts, size_t n, uint8_t out[WH_SHA256_LEN]);

/* Constant-time equality; lengths are compared first (their inequality is not secret). */
bool wh_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Lower-case hex. `out` holds 2*len+1 bytes; NUL-terminated. */
void wh_hex_encode(const uint8_t *in, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int wh_hex_digit(unsigned char c);
/* Hex (either case) into out (cap bytes); returns decoded length or -1 on bad input/overflow. */
long wh_hex_decode(wh_str_t in, uint8_t *out, size_t cap);

/* Standard base64 with padding. `out` holds 4*((len+2)/3)+1 bytes; returns length written (NUL-terminated). */
size_t wh_base64_encode(const uint8_t *in, size_t len, char *out);
/* Standard base64 (padding required, no whitespace); returns decoded length or -1. `cap` >= 3*(in.len/4). */
long wh_base64_decode(wh_str_t in, uint8_t *out, size_t cap);
/* URL-safe base64 without padding (tokens). Same size rules as wh_base64_encode. */
size_t wh_base64url_encode(const uint8_t *in, size_t len, char *out);

/* Cryptographically secure random bytes; aborts if the RNG fails (nothing sensible to do then). */
void wh_random_bytes(void *out, size_t len);
/* "<prefix><hex of `bytes` random bytes>", NUL-terminated into out (cap bytes). */
void wh_random_id(const char *prefix, size_t bytes, char *out, size_t cap);

#define WH_AEAD_KEY_LEN 32
#define WH_AEAD_OVERHEAD (12 + 16) /* nonce + tag */

/*
 * AES-256-GCM: out = nonce(12) || ciphertext || tag(16). `out` holds len + WH_AEAD_OVERHEAD.
 * `aad` binds the ciphertext to its owner (e.g. the connection id) so blobs cannot be swapped.
 */
wh_err_t wh_aead_seal(const uint8_t key[WH_AEAD_KEY_LEN], wh_str_t aad, wh_str_t plain, uint8_t *out);
/* Inverse of wh_aead_seal; `out` holds in.len - WH_AEAD_OVERHEAD. Returns WH_ECRYPTO on any mismatch. */
wh_err_t wh_aead_open(const uint8_t key[WH_AEAD_KEY_LEN], wh_str_t aad, wh_str_t in, uint8_t *out, size_t *outlen);

#endif
