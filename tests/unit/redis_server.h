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
 * queue/scripts.h): the key argument of each command (every argument of DEL, UNLINK, EXISTS; the one after the
 * subcommand of XINFO, XGROUP) must carry the same {tag}, else the script fails with "cross-slot: …". Run it with
 * EVAL. NUL-terminated; caller frees.
 */
char *wh_test_slot_checked(const char *source, size_t len, size_t *out_len);
/* Disconnects and stops the server. */
void wh_test_redis_stop(redisContext *c);

/* The most masters wh_test_cluster_start makes. */
#define WH_TEST_CLUSTER_MAX 8
/*
 * A real Redis Cluster of `n` masters (no replicas) on free loopback ports, each with its node file in a fresh
 * temporary directory, joined with `redis-cli --cluster create` (REDIS_CLI names the binary) and waited for until
 * every node reports cluster_state:ok. Their ports go into ports[0..n). Returns a connection to the first master,
 * or NULL (with a message on stderr). One cluster per process at a time.
 */
redisContext *wh_test_cluster_start(const char *who, int n, int *ports);
/* Disconnects, stops every node and removes the directory. */
void wh_test_cluster_stop(redisContext *c);

#endif
