/*
 * Secrets at rest (provider credentials, subscription signing secrets).
 * Sealed with AES-256-GCM under WHARF_MASTER_KEY, bound to their owner's id:
 *   "v1:<base64(nonce || ciphertext || tag)>"
 * Without a master key they are refused, unless WHARF_INSECURE_DEV=1, which
 * stores "plain:<text>" (and says so in the logs at startup).
 */
#ifndef WH_SECRET_H
#define WH_SECRET_H

#include "config.h"
#include "err.h"
#include "str.h"

/* Seals `plain` for `owner`; *out is malloc'd and NUL-terminated. WH_EUNSUPPORTED without key or dev mode. */
wh_err_t wh_secret_seal(const wh_config_t *cfg, wh_str_t owner, wh_str_t plain, char **out);
/* Opens what wh_secret_seal produced for the same owner; *out is malloc'd, NUL-terminated. WH_ECRYPTO on mismatch. */
wh_err_t wh_secret_open(const wh_config_t *cfg, wh_str_t owner, wh_str_t sealed, char **out, size_t *outlen);

#endif
