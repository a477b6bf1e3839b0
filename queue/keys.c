#include "keys.h"
#include "../common/str.h"

/* Set once at startup, before any thread runs (wh_partitions_init); read-only afterwards. */
static unsigned partitions = WH_DEFAULT_PARTITIONS;

void wh_partitions_init(unsigned n)
{
    partitions = n >= 1 && n <= WH_MAX_PARTITIONS ? n : WH_DEFAULT_PARTITIONS;
}

unsigned wh_partitions(void)
{
    return partitions;
}

unsigned wh_partition_of(const char *connection_id)
{
    /*
     * FNV-1a, 32 bit, then murmur3's finalizer: FNV's low bits depend only on the low bits of each byte, so
     * taken modulo a small count ids like conn_a and conn_q would always share a partition. Fixed once
     * released, since it decides which stream orders a connection's events.
     */
    uint32_t h = wh_fnv1a(connection_id);

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h % partitions;
}
