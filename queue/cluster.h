/*
 * Redis Cluster slot routing, pure (no I/O): Debian 12 packages no Cluster client for hiredis 0.14, so wharf routes
 * its own commands. This unit answers four questions, each the way the Cluster specification does:
 *
 *   - which slot a key is in: CRC16 (XMODEM) of the key, or of its hash tag (the bytes between the first '{' and
 *     the first '}' after it, when there is at least one), modulo 16384;
 *   - which slot a command is for: the slot of all its keys, or "none" (keyless) or "several" (refused: a command
 *     spanning slots fails on a cluster, so wharf must never send one);
 *   - which master serves a slot: a slot map learnt from CLUSTER SLOTS, updated by MOVED;
 *   - what a MOVED or ASK error says: the kind, the slot, the address.
 *
 * The connection layer (queue/redis.c) drives it: it connects one client per master, sends each command to its
 * slot's master, and on MOVED updates the map and retries, on ASK sends ASKING then retries once.
 */
#ifndef WH_CLUSTER_H
#define WH_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../common/err.h"

#define WH_CLUSTER_SLOTS 16384
/* Masters one slot map holds at most (a node index is one byte; 0xff is "no node"). */
#define WH_CLUSTER_MAX_NODES 128
/* A node's host as CLUSTER SLOTS or a redirection names it: an IPv4/IPv6 address or a host name. */
#define WH_CLUSTER_HOST_MAX 256

/* The slot of a key (0..16383). */
unsigned wh_cluster_keyslot(const char *key, size_t len);

#define WH_CLUSTER_NO_KEY (-1)     /* the command names no key: any node answers it */
#define WH_CLUSTER_CROSS_SLOT (-2) /* its keys are in several slots, or its key arguments are malformed */
#define WH_CLUSTER_EVERY_NODE (-3) /* per node: SCAN, SCRIPT LOAD/FLUSH, … must go to every master */
#define WH_CLUSTER_LAST_NODE (-4)  /* WAIT: to the master that took the writes it waits for */

/*
 * The slot of a command's keys, from its name: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO/FCALL (numkeys keys after it),
 * XREAD (the keys after STREAMS) and XREADGROUP (after GROUP g c, the keys after STREAMS), XGROUP/XINFO/OBJECT/
 * MEMORY <subcommand> <key>, DEL/UNLINK/EXISTS/MGET/TOUCH/WATCH (every argument), per-node commands (SCAN,
 * SCRIPT, FLUSHALL, DBSIZE, KEYS), WAIT, keyless ones (PING, INFO, CLUSTER, CONFIG, CLIENT, …) and otherwise the
 * first argument. Names compare case-insensitively; `lens` NULL means NUL-terminated arguments.
 */
int wh_cluster_command_slot(int argc, const char **argv, const size_t *lens);

typedef struct {
    char host[WH_CLUSTER_HOST_MAX];
    int port;
} wh_cluster_node_t;

typedef struct {
    wh_cluster_node_t nodes[WH_CLUSTER_MAX_NODES];
    size_t nnodes;
    uint8_t slot_node[WH_CLUSTER_SLOTS]; /* index into nodes, or WH_CLUSTER_UNASSIGNED */
} wh_slotmap_t;

#define WH_CLUSTER_UNASSIGNED 0xff

void wh_slotmap_init(wh_slotmap_t *m);
/*
 * Fills `m` from a CLUSTER SLOTS reply: [[first, last, [host, port, id, …], replicas…], …]. A master announced
 * with a NULL, empty or "?" host (an unknown endpoint) is `seed_host`, the address the reply came from. Slots no
 * range names stay unassigned. WH_EMALFORMED (with errbuf) for a reply of another shape.
 */
wh_err_t wh_slotmap_from_slots(wh_slotmap_t *m, const redisReply *r, const char *seed_host, char *errbuf);
/* The master serving `slot`, or NULL when none is known. */
const wh_cluster_node_t *wh_slotmap_node(const wh_slotmap_t *m, unsigned slot);
/* Points `slot` at host:port (a MOVED), adding the node if new. `host` must be named: a redirection without one
   (":port") means the node that answered, which the caller substitutes. False for an empty host, and when the map
   already holds WH_CLUSTER_MAX_NODES other nodes (refresh the whole map then). */
bool wh_slotmap_move(wh_slotmap_t *m, unsigned slot, const char *host, int port);
/* True when every slot has a master. */
bool wh_slotmap_complete(const wh_slotmap_t *m);

typedef enum { WH_REDIRECT_MOVED = 1, WH_REDIRECT_ASK } wh_redirect_kind_t;

typedef struct {
    wh_redirect_kind_t kind;
    unsigned slot;
    char host[WH_CLUSTER_HOST_MAX]; /* "" when the error named none (":port"): the node that answered */
    int port;
} wh_redirect_t;

/* Parses an error reply's text "MOVED <slot> <host>:<port>" or "ASK …" (IPv6 hosts: the port follows the last
   ':'). False for any other error, and for a slot or port out of range. */
bool wh_cluster_redirect(const char *err, size_t len, wh_redirect_t *out);

#endif
