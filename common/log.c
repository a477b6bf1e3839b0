#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "time.h"

/* Written once by wh_log_set_level() before any thread starts; read-only afterwards. */
static wh_log_level_t threshold = WH_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int wh_log_set_level(const char *name)
{
    for (int i = 0; i != 4; ++i) {
        if (strcmp(name, level_names[i]) == 0) {
            threshold = (wh_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int wh_log_enabled(wh_log_level_t level)
{
    return level >= threshold;
}

void wh_log(wh_log_level_t level, const char *event, const char *fields, ...)
{
    char ts[WH_ISO8601_LEN];
    json_t *line, *extra = NULL;
    char *text;

    if (level < threshold)
        return;
    wh_iso8601(wh_now_ms(), ts);
    line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "event", event);
    if (line == NULL)
        return;
    if (fields != NULL) {
        va_list ap;
        json_error_t jerr;
        va_start(ap, fields);
        extra = json_vpack_ex(&jerr, 0, fields, ap);
        va_end(ap);
        if (extra != NULL)
            json_object_update(line, extra);
        json_decref(extra);
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps leaves the NUL: overwrite it, the length is known */
        ssize_t r = write(STDERR_FILENO, text, n + 1);
        (void)r;
        free(text);
    }
    json_decref(line);
}
