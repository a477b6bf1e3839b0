#include "hiuv.h"
#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis let go of it (cleanup) */
    uv_poll_t poll;
    uv_prepare_t flush;
    bool read;       /* hiredis wants reads */
    bool poll_write; /* watching for writability: connecting, or a write the kernel did not take whole */
    bool flushing;   /* inside redisAsyncHandleWrite() from the flush */
    int started;     /* the UV_* events the poll is started with */
    int open;        /* handles not closed yet */
} hiuv_t;

static void arm(hiuv_t *p);

static void on_poll(uv_poll_t *h, int status, int events)
{
    hiuv_t *p = h->data;

    if (status < 0) {
        /* libuv stopped the poll on a socket error: let hiredis read it and disconnect */
        p->started = 0;
        if (p->ac != NULL)
            redisAsyncHandleRead(p->ac);
        if (p->ac != NULL)
            arm(p);
        return;
    }
    if (p->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

/* Starts or stops the poll for what is wanted now, only when that changed (each start is two epoll_ctl calls). */
static void arm(hiuv_t *p)
{
    int events = (p->read ? UV_READABLE : 0) | (p->poll_write ? UV_WRITABLE : 0);

    if (events == p->started)
        return;
    if (events == 0)
        uv_poll_stop(&p->poll);
    else if (uv_poll_start(&p->poll, events, on_poll) != 0)
        return; /* the fd is gone: hiredis finds out on its next read or write */
    p->started = events;
}

static void on_flush(uv_prepare_t *h)
{
    hiuv_t *p = h->data;

    uv_prepare_stop(h);
    if (p->ac == NULL)
        return;
    p->flushing = true;
    redisAsyncHandleWrite(p->ac); /* may free the context: cleanup() then clears p->ac */
    p->flushing = false;
}

static void add_read(void *data)
{
    hiuv_t *p = data;
    p->read = true;
    arm(p);
}

static void del_read(void *data)
{
    hiuv_t *p = data;
    p->read = false;
    arm(p);
}

static void add_write(void *data)
{
    hiuv_t *p = data;

    if (p->poll_write)
        return;
    if (!(p->ac->c.flags & REDIS_CONNECTED) || p->flushing) {
        /* connecting (writability says the connect ended), or the flush's write was short: wait for room */
        p->poll_write = true;
        arm(p);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&p->flush))
        uv_prepare_start(&p->flush, on_flush);
}

static void del_write(void *data)
{
    hiuv_t *p = data;

    uv_prepare_stop(&p->flush);
    if (p->poll_write) {
        p->poll_write = false;
        arm(p);
    }
}

static void on_closed(uv_handle_t *h)
{
    hiuv_t *p = h->data;
    if (--p->open == 0)
        free(p);
}

static void cleanup(void *data)
{
    hiuv_t *p = data;

    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, on_closed);
    uv_close((uv_handle_t *)&p->flush, on_closed);
}

int wh_hiuv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    hiuv_t *p;

    if (ac->ev.data != NULL || (p = calloc(1, sizeof(*p))) == NULL)
        return REDIS_ERR;
    if (uv_poll_init_socket(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    uv_prepare_init(loop, &p->flush);
    p->ac = ac;
    p->poll.data = p->flush.data = p;
    p->open = 2;
    ac->ev.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return REDIS_OK;
}
