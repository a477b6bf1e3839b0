/*
 * wharf error codes: one table, one enum.
 *
 * Codes are appended, never renumbered. WH_OK is 0. Callers branch on the
 * code; humans read the errbuf that most functions take alongside.
 */
#ifndef WH_ERR_H
#define WH_ERR_H

#define WH_ERRBUF_SIZE 256

/* X(name, symbol, message) */
#define WH_ERR_MAP(X)                                                                                                              \
    X(OK, "ok", "success")                                                                                                         \
    X(EINVAL, "invalid", "invalid argument")                                                                                       \
    X(ETOO_LARGE, "too_large", "a limit was exceeded")                                                                             \
    X(EMALFORMED, "malformed", "malformed input")                                                                                  \
    X(ESIGNATURE, "invalid_signature", "signature does not verify")                                                                \
    X(ESTALE, "stale_timestamp", "timestamp outside the tolerance window")                                                         \
    X(ENOTFOUND, "not_found", "no such object")                                                                                    \
    X(EUNAVAILABLE, "unavailable", "backend unavailable")                                                                          \
    X(ECONFLICT, "conflict", "conflicting state")                                                                                  \
    X(ECANCELED, "canceled", "operation canceled")                                                                                 \
    X(ETIMEDOUT, "timed_out", "operation timed out")                                                                               \
    X(ECRYPTO, "crypto", "cryptographic failure")                                                                                  \
    X(ENOCRED, "no_credentials", "connection lacks the credential its provider needs")                                             \
    X(EUNSUPPORTED, "unsupported", "unsupported")                                                                                  \
    X(EINTERNAL, "internal", "internal error")                                                                                     \
    X(EFORBIDDEN, "forbidden", "not allowed from this address")

typedef enum {
#define WH__ERR_ENUM(name, sym, msg) WH_##name,
    WH_ERR_MAP(WH__ERR_ENUM)
#undef WH__ERR_ENUM
        WH__ERR_COUNT
} wh_err_t;

/* Stable short name ("invalid_signature"), never NULL. */
const char *wh_err_name(wh_err_t err);
/* Human-readable description, never NULL. */
const char *wh_strerror(wh_err_t err);

/* Writes a formatted message into errbuf (WH_ERRBUF_SIZE bytes, may be NULL) and returns err. */
wh_err_t wh_errf(char *errbuf, wh_err_t err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
