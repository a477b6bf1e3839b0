#include "cluster.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, no reflection; "123456789" -> 0x31c3. Keys are short (the
   longest wharf builds is under 200 bytes), so the bitwise form is enough. */
static uint16_t crc16(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;

    while (len-- != 0) {
        crc ^= (uint16_t)(*p++ << 8);
        for (int b = 0; b != 8; ++b)
            crc = (uint16_t)((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned wh_cluster_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open != NULL && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) != NULL && close != open + 1)
        return crc16((const unsigned char *)open + 1, (size_t)(close - open - 1)) & (WH_CLUSTER_SLOTS - 1);
    return crc16((const unsigned char *)key, len) & (WH_CLUSTER_SLOTS - 1);
}

static size_t arglen(const char **argv, const size_t *lens, int i)
{
    return lens != NULL ? lens[i] : strlen(argv[i]);
}

static bool named(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}

static bool named_any(const char *arg, size_t len, const char *const *names)
{
    for (; *names != NULL; ++names)
        if (named(arg, len, *names))
            return true;
    return false;
}

/* The common slot of argv[first..last] (inclusive, every `step`-th), or WH_CLUSTER_CROSS_SLOT. */
static int slot_of_keys(const char **argv, const size_t *lens, int first, int last, int step)
{
    int slot = WH_CLUSTER_NO_KEY;

    for (int i = first; i <= last; i += step) {
        int s = (int)wh_cluster_keyslot(argv[i], arglen(argv, lens, i));
        if (slot != WH_CLUSTER_NO_KEY && s != slot)
            return WH_CLUSTER_CROSS_SLOT;
        slot = s;
    }
    return slot;
}

/* A decimal in [0, max] spanning exactly `len` bytes, or -1. */
static long parse_uint(const char *s, size_t len, long max)
{
    long v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

int wh_cluster_command_slot(int argc, const char **argv, const size_t *lens)
{
    static const char *const keyless[] = {"PING",     "INFO",    "CLUSTER", "CONFIG", "CLIENT",  "ASKING", "HELLO",
                                          "READONLY", "COMMAND", "MULTI",   "EXEC",   "DISCARD", "SELECT", "AUTH",
                                          "QUIT",     "ECHO",    "TIME",    "ROLE",   NULL};
    static const char *const per_node[] = {"SCAN", "SCRIPT", "FLUSHALL", "FLUSHDB", "DBSIZE", "KEYS", NULL};
    static const char *const sub_key[] = {"XGROUP", "XINFO", "OBJECT", "MEMORY", NULL};
    static const char *const every[] = {"DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "WATCH", NULL};
    static const char *const scripts[] = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", NULL};
    const char *name;
    size_t nlen;

    if (argc < 1)
        return WH_CLUSTER_CROSS_SLOT;
    name = argv[0];
    nlen = arglen(argv, lens, 0);
    if (named_any(name, nlen, keyless))
        return WH_CLUSTER_NO_KEY;
    if (named_any(name, nlen, per_node))
        return WH_CLUSTER_EVERY_NODE;
    if (named(name, nlen, "WAIT"))
        return WH_CLUSTER_LAST_NODE;
    if (named_any(name, nlen, sub_key)) /* XGROUP CREATE <key> …, XINFO STREAM <key>, MEMORY USAGE <key> */
        return argc < 3 ? WH_CLUSTER_CROSS_SLOT : (int)wh_cluster_keyslot(argv[2], arglen(argv, lens, 2));
    if (named_any(name, nlen, scripts)) {
        long n = argc >= 3 ? parse_uint(argv[2], arglen(argv, lens, 2), argc - 3) : -1;
        if (n < 0)
            return WH_CLUSTER_CROSS_SLOT;
        return n == 0 ? WH_CLUSTER_NO_KEY : slot_of_keys(argv, lens, 3, 2 + (int)n, 1);
    }
    if (named(name, nlen, "XREAD") || named(name, nlen, "XREADGROUP")) {
        /* ... STREAMS key1 … keyN id1 … idN; XREADGROUP's group and consumer (GROUP g c) may be named "STREAMS" */
        for (int i = named(name, nlen, "XREADGROUP") ? 4 : 1; i < argc; ++i) {
            if (named(argv[i], arglen(argv, lens, i), "STREAMS")) {
                int rest = argc - i - 1;
                if (rest == 0 || rest % 2 != 0)
                    return WH_CLUSTER_CROSS_SLOT;
                return slot_of_keys(argv, lens, i + 1, i + rest / 2, 1);
            }
        }
        return WH_CLUSTER_CROSS_SLOT;
    }
    if (named_any(name, nlen, every))
        return argc < 2 ? WH_CLUSTER_CROSS_SLOT : slot_of_keys(argv, lens, 1, argc - 1, 1);
    return argc < 2 ? WH_CLUSTER_NO_KEY : (int)wh_cluster_keyslot(argv[1], arglen(argv, lens, 1));
}

void wh_slotmap_init(wh_slotmap_t *m)
{
    m->nnodes = 0;
    memset(m->slot_node, WH_CLUSTER_UNASSIGNED, sizeof(m->slot_node));
}

/* The index of host:port, added if new; -1 when the map is full or the host too long. */
static int node_index(wh_slotmap_t *m, const char *host, size_t hlen, int port)
{
    for (size_t i = 0; i != m->nnodes; ++i)
        if (m->nodes[i].port == port && strlen(m->nodes[i].host) == hlen && memcmp(m->nodes[i].host, host, hlen) == 0)
            return (int)i;
    if (m->nnodes == WH_CLUSTER_MAX_NODES || hlen >= WH_CLUSTER_HOST_MAX)
        return -1;
    memcpy(m->nodes[m->nnodes].host, host, hlen);
    m->nodes[m->nnodes].host[hlen] = '\0';
    m->nodes[m->nnodes].port = port;
    return (int)m->nnodes++;
}

wh_err_t wh_slotmap_from_slots(wh_slotmap_t *m, const redisReply *r, const char *seed_host, char *errbuf)
{
    wh_slotmap_init(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return wh_errf(errbuf, WH_EMALFORMED, "CLUSTER SLOTS: not an array");
    for (size_t i = 0; i != r->elements; ++i) {
        const redisReply *range = r->element[i], *master;
        const char *host;
        size_t hlen;
        int node;
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 || range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER || (master = range->element[2])->type != REDIS_REPLY_ARRAY ||
            master->elements < 2 ||
            (master->element[0]->type != REDIS_REPLY_STRING && master->element[0]->type != REDIS_REPLY_NIL) ||
            master->element[1]->type != REDIS_REPLY_INTEGER)
            return wh_errf(errbuf, WH_EMALFORMED, "CLUSTER SLOTS: range %zu is not [first, last, [host, port, …], …]", i);
        if (range->element[0]->integer < 0 || range->element[1]->integer >= WH_CLUSTER_SLOTS ||
            range->element[0]->integer > range->element[1]->integer || master->element[1]->integer <= 0 ||
            master->element[1]->integer > 65535)
            return wh_errf(errbuf, WH_EMALFORMED, "CLUSTER SLOTS: range %zu: slots %lld-%lld or port %lld out of range", i,
                           range->element[0]->integer, range->element[1]->integer, master->element[1]->integer);
        host = master->element[0]->type == REDIS_REPLY_STRING ? master->element[0]->str : "";
        hlen = master->element[0]->type == REDIS_REPLY_STRING ? master->element[0]->len : 0;
        if (hlen == 0 || (hlen == 1 && host[0] == '?')) {
            host = seed_host;
            hlen = strlen(seed_host);
        }
        if ((node = node_index(m, host, hlen, (int)master->element[1]->integer)) < 0)
            return wh_errf(errbuf, WH_ETOO_LARGE, "CLUSTER SLOTS: more than %d masters, or a host name over %d bytes",
                           WH_CLUSTER_MAX_NODES, WH_CLUSTER_HOST_MAX - 1);
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer; ++s)
            m->slot_node[s] = (uint8_t)node;
    }
    return WH_OK;
}

const wh_cluster_node_t *wh_slotmap_node(const wh_slotmap_t *m, unsigned slot)
{
    if (slot >= WH_CLUSTER_SLOTS || m->slot_node[slot] == WH_CLUSTER_UNASSIGNED)
        return NULL;
    return &m->nodes[m->slot_node[slot]];
}

bool wh_slotmap_move(wh_slotmap_t *m, unsigned slot, const char *host, int port)
{
    int node;

    if (slot >= WH_CLUSTER_SLOTS || host[0] == '\0' || (node = node_index(m, host, strlen(host), port)) < 0)
        return false;
    m->slot_node[slot] = (uint8_t)node;
    return true;
}

bool wh_slotmap_complete(const wh_slotmap_t *m)
{
    for (unsigned s = 0; s != WH_CLUSTER_SLOTS; ++s)
        if (m->slot_node[s] == WH_CLUSTER_UNASSIGNED)
            return false;
    return true;
}

bool wh_cluster_redirect(const char *err, size_t len, wh_redirect_t *out)
{
    const char *p, *end = err + len, *sp, *colon;
    long slot, port;

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        out->kind = WH_REDIRECT_MOVED;
        p = err + 6;
    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        out->kind = WH_REDIRECT_ASK;
        p = err + 4;
    } else {
        return false;
    }
    if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL || (slot = parse_uint(p, (size_t)(sp - p), WH_CLUSTER_SLOTS - 1)) < 0)
        return false;
    p = sp + 1;
    /* host:port, the port after the last ':' (an IPv6 host has colons of its own) */
    colon = NULL;
    for (const char *q = p; q != end; ++q)
        if (*q == ':')
            colon = q;
    if (colon == NULL || (size_t)(colon - p) >= WH_CLUSTER_HOST_MAX ||
        (port = parse_uint(colon + 1, (size_t)(end - colon - 1), 65535)) <= 0 || memchr(p, ' ', (size_t)(end - p)) != NULL)
        return false;
    out->slot = (unsigned)slot;
    memcpy(out->host, p, (size_t)(colon - p));
    out->host[colon - p] = '\0';
    out->port = (int)port;
    return true;
}
