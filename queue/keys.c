#include "keys.h"

unsigned wh_partition_of(const char *connection_id)
{
    /* FNV-1a, 32 bit: fixed forever, since it decides which stream orders a connection's events. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)connection_id; *p != '\0'; ++p) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % WH_PARTITIONS;
}
