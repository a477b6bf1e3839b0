#include <stdarg.h>
#include <stdio.h>
#include "err.h"

static const char *const names[] = {
#define WH__ERR_NAME(name, sym, msg) sym,
    WH_ERR_MAP(WH__ERR_NAME)
#undef WH__ERR_NAME
};

static const char *const messages[] = {
#define WH__ERR_MSG(name, sym, msg) msg,
    WH_ERR_MAP(WH__ERR_MSG)
#undef WH__ERR_MSG
};

const char *wh_err_name(wh_err_t err)
{
    return (unsigned)err < WH__ERR_COUNT ? names[err] : "unknown";
}

const char *wh_strerror(wh_err_t err)
{
    return (unsigned)err < WH__ERR_COUNT ? messages[err] : "unknown error";
}

wh_err_t wh_errf(char *errbuf, wh_err_t err, const char *fmt, ...)
{
    if (errbuf != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, WH_ERRBUF_SIZE, fmt, ap);
        va_end(ap);
    }
    return err;
}
