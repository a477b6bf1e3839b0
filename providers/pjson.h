/*
 * Small JSON helpers every JSON provider uses (one copy, not one per provider file).
 */
#ifndef WH_PJSON_H
#define WH_PJSON_H

#include <jansson.h>
#include <stdbool.h>
#include "../common/str.h"

/* Longest value a provider echoes into an error message (echoable()). */
#define WH_ECHO_MAX 64

/* `v`, or a fatal exit when jansson could not allocate it (style.md: exhaustion is fatal). */
json_t *wh_pjson_must(json_t *v);
/* A JSON string's bytes (base NULL when `v` is not a string). */
wh_str_t wh_pjson_str(const json_t *v);
/* Short plain ASCII ([A-Za-z0-9._-], 1..WH_ECHO_MAX): safe to put in an errbuf that may end up in a response. */
bool wh_pjson_echoable(wh_str_t s);
/* obj[key], with a member that is JSON null counting as absent (NULL). */
const json_t *wh_pjson_member(const json_t *obj, const char *key);

/* False when `v` nests containers deeper than `remaining` levels (`v` itself is level 1). */
bool wh_pjson_within_depth(const json_t *v, int remaining);

#endif
