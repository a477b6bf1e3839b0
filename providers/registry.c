/* Every provider wharf knows, by route segment / integrationId. Adding one is one line here. */
#include "provider.h"

static const wh_provider_t *const providers[] = {
    &wh_provider_hubspot,
};

const wh_provider_t *wh_provider_find(wh_str_t name)
{
    for (size_t i = 0; i != sizeof(providers) / sizeof(providers[0]); ++i)
        if (wh_str_eq(name, wh_str_c(providers[i]->name)))
            return providers[i];
    return NULL;
}
