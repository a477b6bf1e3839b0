/*
 * Logs are JSON lines on stderr: {"ts":…,"level":…,"event":…, …fields}.
 * Never log secrets or whole bodies.
 */
#ifndef WH_LOG_H
#define WH_LOG_H

typedef enum { WH_LOG_DEBUG, WH_LOG_INFO, WH_LOG_WARN, WH_LOG_ERROR } wh_log_level_t;

/* Sets the threshold; call once at startup before threads start. Returns -1 for an unknown name. */
int wh_log_set_level(const char *name);
int wh_log_enabled(wh_log_level_t level);

/*
 * `fields` is a jansson json_pack() format for an object ("{s:s, s:i}") or NULL, followed by its arguments.
 * One write(2) per line, so lines from several threads do not interleave.
 */
void wh_log(wh_log_level_t level, const char *event, const char *fields, ...);

#define wh_log_debug(...) (wh_log_enabled(WH_LOG_DEBUG) ? wh_log(WH_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define wh_log_info(...) wh_log(WH_LOG_INFO, __VA_ARGS__)
#define wh_log_warn(...) wh_log(WH_LOG_WARN, __VA_ARGS__)
#define wh_log_error(...) wh_log(WH_LOG_ERROR, __VA_ARGS__)

#endif
