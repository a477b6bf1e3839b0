/* Outboxes moved to their partition streams: see outbox.h. One entry at a time: system events are few. */
#include "outbox.h"
#include <stdlib.h>
#include <string.h>
#include "../common/log.h"
#include "keys.h"
#include "scripts.h"

#define ENTRY_ARGS_MAX 16

typedef struct {
    wh_redis_t *r;
    wh_outbox_done_cb done;
    void *data;
    unsigned moved;
    char *entry; /* the head being moved, as LRANGE returned it */
    size_t entry_len;
    size_t key_len;
    char key[]; /* the outbox */
} drain_t;

static void next(drain_t *d);

static void finish(drain_t *d, bool drained)
{
    if (d->done != NULL)
        d->done(d->data, drained);
    free(d->entry);
    free(d);
}

int wh_outbox_entry_argv(const json_t *j, const char **argv, size_t *argvlen, int max)
{
    size_t n = json_array_size(j);

    /* XADD <stream> * f v [f v …] */
    if (!json_is_array(j) || n < 3 || n % 2 != 1 || (int)n + 2 > max)
        return -1;
    argv[0] = "XADD";
    argvlen[0] = 4;
    for (size_t i = 0; i != n; ++i) {
        const json_t *s = json_array_get(j, i);
        size_t at = i == 0 ? 1 : i + 2;
        if (!json_is_string(s))
            return -1;
        argv[at] = json_string_value(s);
        argvlen[at] = json_string_length(s);
    }
    if (strncmp(argv[1], "wh:q:{p", 7) != 0) /* only ever a partition stream */
        return -1;
    argv[2] = "*";
    argvlen[2] = 1;
    return (int)n + 2;
}

static void on_popped(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    drain_t *d = data;

    (void)r;
    if (err != WH_OK) {
        finish(d, false);
        return;
    }
    (void)reply; /* 0: another process moved it (and maybe we did too): either way the head moved on */
    ++d->moved;
    next(d);
}

static void on_added(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    drain_t *d = data;
    const char *argv[] = {d->key, d->entry};
    size_t argvlen[] = {d->key_len, d->entry_len};

    (void)reply;
    if (err != WH_OK) {
        wh_log_warn("outbox_move_failed", "{s:s, s:s}", "outbox", d->key, "error",
                    err == WH_EINTERNAL ? reply->str : wh_err_name(err));
        finish(d, false);
        return;
    }
    if (wh_redis_script(r, &wh_script_outbox_pop, on_popped, d, 1, 2, argv, argvlen) != WH_OK)
        finish(d, false);
}

static void on_head(wh_redis_t *r, redisReply *reply, wh_err_t err, void *data)
{
    drain_t *d = data;
    const char *argv[ENTRY_ARGS_MAX];
    size_t argvlen[ENTRY_ARGS_MAX];
    json_t *j;
    int argc;

    if (err != WH_OK || reply->type != REDIS_REPLY_ARRAY) {
        finish(d, false);
        return;
    }
    if (reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_STRING) {
        finish(d, true);
        return;
    }
    free(d->entry);
    if ((d->entry = malloc(reply->element[0]->len + 1)) == NULL)
        abort();
    memcpy(d->entry, reply->element[0]->str, reply->element[0]->len + 1);
    d->entry_len = reply->element[0]->len;
    j = json_loadb(d->entry, d->entry_len, 0, NULL);
    argc = j != NULL ? wh_outbox_entry_argv(j, argv, argvlen, ENTRY_ARGS_MAX) : -1;
    if (argc < 0) {
        /* written by our own scripts, so never; if it were, it must not block the outbox for good */
        const char *pop[] = {d->key, d->entry};
        size_t poplen[] = {d->key_len, d->entry_len};
        wh_log_error("outbox_entry_malformed", "{s:s}", "outbox", d->key);
        json_decref(j);
        if (wh_redis_script(r, &wh_script_outbox_pop, on_popped, d, 1, 2, pop, poplen) != WH_OK)
            finish(d, false);
        return;
    }
    err = wh_redis_command(r, on_added, d, argc, argv, argvlen);
    json_decref(j);
    if (err != WH_OK)
        finish(d, false);
}

static void next(drain_t *d)
{
    const char *argv[] = {"LRANGE", d->key, "0", "0"};
    size_t argvlen[] = {6, d->key_len, 1, 1};

    if (d->moved >= WH_OUTBOX_DRAIN_MAX) {
        finish(d, false);
        return;
    }
    if (wh_redis_command(d->r, on_head, d, 4, argv, argvlen) != WH_OK)
        finish(d, false);
}

void wh_outbox_drain(wh_redis_t *r, const char *key, wh_outbox_done_cb done, void *data)
{
    size_t len = strlen(key);
    drain_t *d = calloc(1, sizeof(*d) + len + 1);

    if (d == NULL)
        abort();
    d->r = r;
    d->done = done;
    d->data = data;
    d->key_len = len;
    memcpy(d->key, key, len + 1);
    next(d);
}
