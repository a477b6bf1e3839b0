#include "match.h"

bool wh_event_type_matches(wh_str_t pattern, wh_str_t type)
{
    if (pattern.len == 0)
        return false;
    if (pattern.len == 1 && pattern.base[0] == '*')
        return true;
    if (pattern.len >= 2 && pattern.base[pattern.len - 1] == '*' && pattern.base[pattern.len - 2] == '.') {
        /* "crm.*" selects "crm.contact.updated": the prefix including its dot, then at least one character */
        size_t plen = pattern.len - 1;
        return type.len > plen && memcmp(type.base, pattern.base, plen) == 0;
    }
    return wh_str_eq(pattern, type);
}
