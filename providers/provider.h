/*
 * A provider turns one inbound HTTP request into verified, normalized change
 * events. Providers are pure: bytes in, verdict and events out; no I/O, no
 * Redis, no h2o. That is what lets them be unit-tested and fuzzed on bytes.
 *
 * Adding a provider: one providers/<name>.c defining `const wh_provider_t
 * wh_provider_<name>` with every slot written out, one line in registry.c,
 * one tests/fixtures/providers/<name>/ folder.
 */
#ifndef WH_PROVIDER_H
#define WH_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "../common/err.h"
#include "../common/limits.h"
#include "../common/netaddr.h"
#include "../common/str.h"

typedef struct {
    wh_str_t name; /* lower-case */
    wh_str_t value;
} wh_header_t;

/* The request as received. Everything is borrowed for the duration of the call. */
typedef struct {
    wh_str_t method;            /* "POST" */
    wh_str_t url;               /* the URL the provider called: WHARF_PUBLIC_URL + path + query, as received (not decoded) */
    const wh_header_t *headers; /* names lower-case */
    size_t nheaders;
    wh_str_t body;  /* raw bytes; signatures are verified over exactly these */
    int64_t now_ms; /* wharf's wall clock when the request arrived */
    /*
     * The client's address (behind WHARF_TRUSTED_PROXIES, the X-Forwarded-For hop they vouch for); NULL when it
     * cannot be told. Filled only for providers flagged WH_PROVIDER_CLIENT_ADDR.
     */
    const wh_ip_t *client_ip;
} wh_inbound_t;

/* First header named `lname` (ASCII case-insensitive), or WH_STR_NULL (base == NULL) when absent;
 * a present but empty header has a non-NULL base. */
wh_str_t wh_inbound_header(const wh_inbound_t *in, wh_str_t lname);

#define WH_DEDUPE_KEY_LEN 16

/* One normalized change event, before the gateway stamps ids and times on it (design §4). */
typedef struct {
    const char *object_type; /* static, from wh_object_types ("contact"), or a provider's own type kept as-is */
    const char *action;      /* static, WH_ACTION_* */
    char object_id[WH_MAX_ID_LEN + 1];
    int64_t occurred_at_ms;
    char account[WH_MAX_ID_LEN + 1];           /* external account id from the payload (HubSpot portalId); "" if none */
    char provider_event_id[WH_MAX_ID_LEN + 1]; /* as the provider names it (may be ""); for humans and the envelope */
    uint8_t dedupe_key[WH_DEDUPE_KEY_LEN];     /* stable across the provider's redeliveries of this event */
    json_t *fields;                            /* owned object: unified name -> value; unknown properties under "additional" */
    json_t *changed_fields;                    /* owned array of names, or NULL */
    json_t *previous;                          /* owned object, or NULL */
    json_t *extra;    /* owned object, or NULL: action details (merge: {"mergedIds":[…]}; associated: {…}) */
    bool thin;        /* the provider sent ids only: fields is empty */
    json_t *own_type; /* owned string backing object_type when it is the provider's own (wh_change_own_type), or NULL */
} wh_change_t;

typedef struct {
    wh_change_t *items;
    size_t size, capacity;
} wh_changes_t;

void wh_changes_init(wh_changes_t *c);
void wh_changes_dispose(wh_changes_t *c);
/* Appends a zeroed change; NULL once WH_MAX_BATCH changes are held (the caller answers WH_ETOO_LARGE).
 * The array may move: a returned pointer is valid only until the next push. */
wh_change_t *wh_changes_push(wh_changes_t *c);

/*
 * Names the change's object type after the provider's own `native` type (common/unified.h: "<provider>:<native>")
 * and keeps the native name, as sent, in extra[details_key] (outgoing events show it under data.details).
 * False when `native` is not UTF-8 (nothing set: the caller refuses the request).
 */
bool wh_change_own_type(wh_change_t *c, const char *provider, const char *details_key, wh_str_t native);

/* What the gateway answers on success when the provider wants something other than 202 {"accepted":N}. */
typedef struct {
    int status;
    const char *content_type; /* static */
    char *body;               /* malloc'd, taken by the caller */
    size_t body_len;
} wh_reply_t;

#define WH_PROVIDER_APP_LEVEL 0x1   /* also serves POST /webhooks/{name}; events name their account */
#define WH_PROVIDER_CLIENT_ADDR 0x2 /* verify reads in->client_ip (an allow list) */

typedef struct wh_provider {
    const char *name;         /* integrationId and URL segment */
    unsigned flags;           /* WH_PROVIDER_* */
    const char *content_type; /* required media type ("application/json"); NULL accepts any */
    /*
     * Checks a connection's `credentials` object when it is created. On error, errbuf names the field
     * ("credentials.clientSecret: required").
     */
    wh_err_t (*check_credentials)(const json_t *credentials, char *errbuf);
    /*
     * Answers a provider handshake (challenge echo, validation token) without touching the queue.
     * Returns true and fills `reply` when the request was one; false otherwise. NULL: the provider has none.
     */
    bool (*handshake)(const wh_inbound_t *in, wh_reply_t *reply);
    /*
     * Verifies the request against one connection's decrypted credentials, in constant time.
     * WH_OK, WH_ESIGNATURE, WH_ESTALE, WH_EFORBIDDEN (client address not allowed), or WH_ENOCRED when the credentials lack what the
     * scheme needs (verification fails closed: it never skips the check).
     */
    wh_err_t (*verify)(const wh_inbound_t *in, const json_t *credentials, char *errbuf);
    /*
     * Parses and normalizes the body into `out` (all or nothing: on error `out` may hold partial items the
     * caller disposes). `credentials` are the connection's (decrypted) on a per-connection route, where they
     * may also carry per-connection mapping; NULL on the app-level route, which parses before it knows the
     * connection. WH_EMALFORMED (not the provider's format), WH_ETOO_LARGE (batch over WH_MAX_BATCH or
     * nesting over WH_MAX_JSON_DEPTH).
     */
    wh_err_t (*parse)(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf);
    /* Fills the success answer for `accepted` events. NULL: 202 {"accepted":N}. */
    void (*success)(const wh_inbound_t *in, size_t accepted, wh_reply_t *reply);
    /*
     * Fills the answer to a refused request when the provider expects its own format (Salesforce: a SOAP
     * Fault). `status` and `code` are the contract's (401 invalid_signature, …). NULL: the JSON error body.
     */
    void (*refusal)(const wh_inbound_t *in, int status, const char *code, const char *message, wh_reply_t *reply);
} wh_provider_t;

/* Providers (one per providers/<name>.c), listed in registry.c. */
extern const wh_provider_t wh_provider_hubspot;
extern const wh_provider_t wh_provider_salesforce;
extern const wh_provider_t wh_provider_zoho;
extern const wh_provider_t wh_provider_copper;
extern const wh_provider_t wh_provider_dynamics;
extern const wh_provider_t wh_provider_monday;
extern const wh_provider_t wh_provider_attio;
extern const wh_provider_t wh_provider_close;
extern const wh_provider_t wh_provider_pipedrive;
extern const wh_provider_t wh_provider_standard;

/* The provider named `name` (route segment / integrationId), or NULL. */
const wh_provider_t *wh_provider_find(wh_str_t name);

#endif
