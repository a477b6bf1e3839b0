/* Every provider wharf knows, by route segment / integrationId. Adding one is one line here. */
#include "provider.h"

/* One provider per line, so adding one is one line in a diff. */
/* clang-format off */
static const wh_provider_t *const providers[] = {
    &wh_provider_hubspot,
    &wh_provider_salesforce,
    &wh_provider_zoho,
    &wh_provider_copper,
    &wh_provider_dynamics,
    &wh_provider_monday,
    &wh_provider_attio,
    &wh_provider_close,
    &wh_provider_pipedrive,
    &wh_provider_standard,
};
/* clang-format on */

const wh_provider_t *wh_provider_find(wh_str_t name)
{
    for (size_t i = 0; i != sizeof(providers) / sizeof(providers[0]); ++i)
        if (wh_str_eq(name, wh_str_c(providers[i]->name)))
            return providers[i];
    return NULL;
}
