/*
 * An event's record in its minute bucket (wh:evb:{pN}:<minute>, queue/keys.h): a JSON header line, then the delivery
 * body as sent, stored compressed:
 *
 *     {"s":{"<subscriptionId>":"<state>:<webhookId>",…},"a":[<attempt record>,…]}\n<stored body>
 *
 * An attempt record is compact: [subscriptionId, attempt, attemptedAt ms, latencyMs, statusCode or 0, error class,
 * errorMessage, responseBody, true when truncated], trailing empty members left out (~40 bytes for a delivery).
 *
 * The stored body is either the JSON text itself (it starts with '{'; records written before compression, and
 * bodies that do not shrink), or the byte WH_EVREC_DEFLATE_V1 followed by the body as raw deflate (RFC 1951) with
 * the preset dictionary of evrec.c: the keys and values every unified event body repeats. A typical contact
 * change of ~400 bytes is stored in ~150. A dictionary, once used, never changes: a new one gets a new marker
 * byte, and the old one stays to read what was written with it.
 *
 * The header stays plain JSON so that the Lua scripts can update the states and append attempts (finish.lua,
 * requeue.lua); they pass the stored body through untouched. Written whole by the worker (dispatch/settle.c), read
 * by the events API and by the worker's retries (claim.lua hands the stored body back).
 */
#ifndef WH_EVREC_H
#define WH_EVREC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "argv.h"

/* The first byte of a stored body compressed with the version-1 dictionary. */
#define WH_EVREC_DEFLATE_V1 0x01

/* Splits a record: *header (a new JSON object with "s" an object and "a" an array, whatever was stored) and the
   body as sent (*body: malloc'd, NUL-terminated, the caller frees it). False when `rec` is no record or its body
   cannot be read. */
bool wh_evrec_split(const char *rec, size_t len, json_t **header, char **body, size_t *body_len);

/* Puts `body` in its stored form into the argument being built in `a` (between wh_argv_begin and wh_argv_end). */
void wh_evrec_put_body(wh_argv_t *a, const char *body, size_t len);

/* The body as sent from its stored form (*out malloc'd, NUL-terminated). False when `stored` is corrupt or would
   expand past WH_EVREC_MAX_BODY. */
bool wh_evrec_body(const char *stored, size_t len, char **out, size_t *out_len);

/* Bodies are built by wharf from bounded events (a provider request is at most WHARF_MAX_BODY, 1 MiB by default,
   and a cached record is bounded too); a stored body that would expand beyond this is corrupt. */
#define WH_EVREC_MAX_BODY (16u << 20)

/* An attempt record as the API shows it: {subscriptionId, webhookId, attempt, attemptedAt, latencyMs, statusCode?,
   error?, errorMessage?, responseBody?, responseBodyTruncated?}; `webhook_id` is the delivery's (dispatch/sign.h).
   NULL when `compact` is not a record. */
json_t *wh_evrec_attempt(const json_t *compact, const char *webhook_id);

#endif
