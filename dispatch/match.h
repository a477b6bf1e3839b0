/* Which subscriptions want an event (design §6: exact types, "prefix.*" at any depth, "*"). Pure. */
#ifndef WH_MATCH_H
#define WH_MATCH_H

#include <stdbool.h>
#include "../common/str.h"

/* True when eventTypes entry `pattern` selects event type `type`. */
bool wh_event_type_matches(wh_str_t pattern, wh_str_t type);

#endif
