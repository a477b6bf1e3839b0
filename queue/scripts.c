#include "scripts.h"

/* Loaded on every (re)connect; a script missing here fails with NOSCRIPT until the next reconnect. */
const wh_script_t *const wh_scripts_all[] = {
    &wh_script_ingest,      &wh_script_settle,      &wh_script_claim,        &wh_script_finish,     &wh_script_conn_create,
    &wh_script_conn_delete, &wh_script_env_reserve, &wh_script_acct_reserve, &wh_script_outbox_pop, &wh_script_apply,
    &wh_script_requeue,     &wh_script_sub_fail,    &wh_script_sub_status,   &wh_script_sub_rotate, &wh_script_sub_patch,
    &wh_script_sub_create,  &wh_script_slots,       &wh_script_conn_status,  &wh_script_conn_sync,  &wh_script_conn_purge,
    &wh_script_consumers,   &wh_script_gone_drop,
};
const size_t wh_scripts_count = sizeof(wh_scripts_all) / sizeof(wh_scripts_all[0]);
