/*
 * A private redis-server for unit tests that run Lua scripts against the real thing: started on a free loopback
 * port (REDIS_SERVER names the binary, default redis-server from PATH), stopped by pid. A missing server fails
 * the test; it never skips.
 */
#ifndef WH_TEST_REDIS_SERVER_H
#define WH_TEST_REDIS_SERVER_H

#include <hiredis/hiredis.h>

/* Starts the server and connects; returns the connection, or NULL (with a message on stderr). */
redisContext *wh_test_redis_start(const char *who);
/*
 * A script's source with every redis.call checked to stay in the hash tag of KEYS[1] (the one-slot rule of
 * queue/scripts.h): the key argument of each command (every argument of DEL, UNLINK, EXISTS) must carry the
 * same {tag}, else the script fails with "cross-slot: …". Run it with EVAL. NUL-terminated; caller frees.
 */
char *wh_test_slot_checked(const char *source, size_t len, size_t *out_len);
/* Disconnects and stops the server. */
void wh_test_redis_stop(redisContext *c);

#endif
