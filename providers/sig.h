/*
 * Verification helpers shared by providers: bounded header reads, credential
 * lookup, signed-timestamp windows, "decode then compare in constant time",
 * and the dedupe key for providers without a unique event id.
 *
 * All pure; nothing here logs, so no secret or received signature can leak
 * through it.
 */
#ifndef WH_PROVIDERS_SIG_H
#define WH_PROVIDERS_SIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "provider.h"

/*
 * Reads header `lname` (lower-case) into *value: WH_STR_NULL when absent, the borrowed bytes otherwise.
 * Returns false when the value is longer than WH_MAX_HEADER_VALUE (verification then fails: a signature
 * or timestamp that long is not one).
 */
bool wh_sig_get_header(const wh_inbound_t *in, wh_str_t lname, wh_str_t *value);

/*
 * The string member `key` of a credentials object, borrowed from it (length-aware, may hold any byte).
 * WH_STR_NULL when credentials is not an object, the member is absent, not a string, or empty.
 */
wh_str_t wh_sig_get_credential(const json_t *credentials, const char *key);

/*
 * Parses a timestamp made only of decimal digits (no sign, no spaces, at most 19 digits) into *out.
 * The unit is the caller's (HubSpot: ms, Close/Standard Webhooks: s).
 */
bool wh_sig_parse_timestamp(wh_str_t s, int64_t *out);

/*
 * WH_OK when |now - ts| <= tolerance (both in the same unit), WH_ESTALE otherwise. Symmetric on purpose:
 * a timestamp from the future is as replayable as one from the past. Overflow-safe for any int64 inputs.
 */
wh_err_t wh_sig_check_window(int64_t ts, int64_t now, int64_t tolerance);

/*
 * True when `received` is the hex encoding (either case) of exactly the `len` bytes of `expected`.
 * The length is checked first (it is not secret), the bytes are compared in constant time.
 */
bool wh_sig_match_hex(wh_str_t received, const uint8_t *expected, size_t len);

/*
 * True when `received` is the standard, padded base64 encoding of exactly the `len` bytes of `expected`
 * (len <= WH_SIG_MAX_DIGEST). Same length-then-constant-time rule as wh_sig_match_hex.
 */
bool wh_sig_match_base64(wh_str_t received, const uint8_t *expected, size_t len);

/* Largest digest the match helpers take (SHA-512). */
#define WH_SIG_MAX_DIGEST 64

/* Components hashed into one dedupe key. */
#define WH_SIG_MAX_KEY_PARTS 16

/*
 * dedupe key = first WH_DEDUPE_KEY_LEN bytes of SHA-256 over each component encoded as its length
 * (8 bytes, big-endian) followed by its bytes, so no two different component lists collide by
 * concatenation ("ab","c" vs "a","bc"). Callers start with a tag naming the provider and the key's
 * version ("hubspot/v1") so keys of different providers or layouts never meet.
 * The encoding is persistent (keys outlive deploys by WH_DEDUPE_WINDOW_S): never change it.
 * n <= WH_SIG_MAX_KEY_PARTS (aborts otherwise: a programming error).
 */
void wh_sig_dedupe_key(const wh_str_t *components, size_t n, uint8_t out[WH_DEDUPE_KEY_LEN]);

#endif
