/* Clocks, ISO 8601 and the duration/size notations of the configuration. */
#ifndef WH_TIME_H
#define WH_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include "str.h"

#define WH_ISO8601_LEN 25 /* "2026-11-23T10:00:00.000Z" + NUL */

/* Wall clock, milliseconds since the Unix epoch. */
int64_t wh_now_ms(void);
/* Monotonic clock, milliseconds (deadlines, latencies). */
int64_t wh_mono_ms(void);

/* Formats ms since epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (WH_ISO8601_LEN bytes). */
void wh_iso8601(int64_t ms, char out[WH_ISO8601_LEN]);
/* Parses RFC 3339 / ISO 8601 date-times ("…T…[.fff](Z|±hh:mm)"); false if it is not one. */
bool wh_parse_iso8601(wh_str_t s, int64_t *ms);
/* Parses a calendar date "YYYY-MM-DD" as midnight UTC of that day; false if it is not one. */
bool wh_parse_iso8601_date(wh_str_t s, int64_t *ms);

/* "500ms", "5s", "5m", "2h", "1d" (a bare number is seconds) -> milliseconds; false on anything else. */
bool wh_parse_duration_ms(wh_str_t s, int64_t *ms);
/* "1048576", "512KiB", "1MiB", "1M", "64k" -> bytes; false on anything else. */
bool wh_parse_size(wh_str_t s, uint64_t *bytes);

#endif
