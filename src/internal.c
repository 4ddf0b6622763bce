#include "internal.h"

#include "common/alloc.h"
#include "common/status.h"

static const tpf_internal_v1_t table = {
    .size = sizeof(tpf_internal_v1_t),
    .fail = tpf_fail,
    .record = tpf_record,
    .log = tpf_log,
    .status_checked = tpf_status_checked,
    .text_copy = tpf_text_copy,
    .free = tpf_free,
    .buffer_reserve = tpf_buffer_reserve,
    .env_string = tpf_env_string,
    .config_check = tpf_config_check,
    .config_timeout_ms = tpf_config_timeout_ms,
    .comm_init_endpoint = tpf_comm_init_endpoint,
    .transport_shm_create = tpf_transport_shm_create,
    .regions_init = tpf_regions_init,
    .regions_free = tpf_regions_free,
    .regions_translate = tpf_regions_translate,
    .regions_agree = tpf_regions_agree,
    .regions_share_private = tpf_regions_share_private,
    .regions_unshare_private = tpf_regions_unshare_private,
    .regions_own_bytes = tpf_regions_own_bytes,
    .regions_free_private = tpf_regions_free_private,
};

const tpf_internal_v1_t *tpf_internal_v1(void) { return &table; }
