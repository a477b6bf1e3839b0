/*
 * A hiredis async context on a libuv loop, like hiredis's adapters/libuv.h but without touching epoll per command.
 *
 * hiredis asks its adapter to watch for writability after every command it buffers, and to stop once the buffer is
 * written. The stock adapter answers each with uv_poll_start(), and libuv's uv_poll_start() removes the fd from
 * epoll and adds it back: two epoll_ctl calls per command, plus two per flush (~3.4 per event end to end, measured
 * with strace on `bench/pipeline.sh`). Here the socket is watched for reading for its whole life; once connected, a
 * buffered command schedules one write for the loop turn (a uv_prepare handle: before the loop next waits), so the
 * commands of one turn leave in one write() and no epoll call; only a write the kernel cannot take whole (EAGAIN)
 * watches for writability until hiredis's buffer is empty.
 */
#ifndef WH_HIUV_H
#define WH_HIUV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches `ac` (fresh from redisAsyncConnect*) to `loop`; REDIS_OK or REDIS_ERR (nothing attached). The handles
   are closed and freed when hiredis frees the context. */
int wh_hiuv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
