/* POST /v1/connections/{id}/sync/status and /sync/records (issue #5): being written; 501 until then. */
#include "api.h"

static void not_yet(wh_api_call_t *call)
{
    wh_api__reply_error(call, 501, "not_implemented", "this route is being built");
}

const wh_api_op_t wh_api__sync_status = {not_yet, NULL, sizeof(wh_api_call_t), false};
const wh_api_op_t wh_api__sync_records = {not_yet, NULL, sizeof(wh_api_call_t), false};
