/*
 * An event's record in its minute bucket (wh:evb:{pN}:<minute>, queue/keys.h): a JSON header line, then the delivery
 * body exactly as sent:
 *
 *     {"s":{"<subscriptionId>":"<state>:<webhookId>",…},"a":[<attempt record>,…]}\n<body>
 *
 * An attempt record is compact: [subscriptionId, attempt, attemptedAt ms, latencyMs, statusCode or 0, error class,
 * errorMessage, responseBody, true when truncated], trailing empty members left out (~40 bytes for a delivery).
 *
 * Written whole by settle.lua (built by dispatch/settle.c), updated by finish.lua and requeue.lua (Lua cjson, which
 * writes an empty "a" as {}), read by the events API.
 */
#ifndef WH_EVREC_H
#define WH_EVREC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Splits a record: *header (a new JSON object with "s" an object and "a" an array, whatever was stored) and the
   body (pointing into `rec`). False when `rec` is no record. */
bool wh_evrec_split(const char *rec, size_t len, json_t **header, const char **body, size_t *body_len);

/* An attempt record as the API shows it: {subscriptionId, webhookId, attempt, attemptedAt, latencyMs, statusCode?,
   error?, errorMessage?, responseBody?, responseBodyTruncated?}; `webhook_id` is the delivery's (dispatch/sign.h).
   NULL when `compact` is not a record. */
json_t *wh_evrec_attempt(const json_t *compact, const char *webhook_id);

#endif
