/* For the sources of the MPI add-on only, included after every other
 * header: the library internals they call are reached through libtpfuse's
 * internal entry (internal.h), fetched once by the add-on's entry points. */
#ifndef TPF_ADDON_H
#define TPF_ADDON_H

#include "internal.h"

/* Set by tpf_addon_attach; NULL before. */
extern const tpf_internal_v1_t *tpf_addon;

/* Fetches libtpfuse's internal entry: TPF_OK, or TPF_ERR_UNSUPPORTED when
 * the libtpfuse found is older than this add-on (its table smaller). */
tpf_status_t tpf_addon_attach(void);

#define tpf_fail(...) (tpf_addon->fail(__VA_ARGS__))
#define tpf_record(...) (tpf_addon->record(__VA_ARGS__))
#define tpf_log(...) (tpf_addon->log(__VA_ARGS__))
#define tpf_status_checked(s) (tpf_addon->status_checked(s))
#define tpf_text_copy(d, z, s) (tpf_addon->text_copy((d), (z), (s)))
#define tpf_free(p) (tpf_addon->free(p))
#define tpf_buffer_reserve(b, c, z, w) (tpf_addon->buffer_reserve((b), (c), (z), (w)))
#define tpf_env_string(id) (tpf_addon->env_string(id))
#define tpf_config_check(cfg) (tpf_addon->config_check(cfg))
#define tpf_config_timeout_ms(cfg) (tpf_addon->config_timeout_ms(cfg))
#define tpf_comm_init_endpoint(...) (tpf_addon->comm_init_endpoint(__VA_ARGS__))
#define tpf_transport_shm_create(...) (tpf_addon->transport_shm_create(__VA_ARGS__))
#define tpf_regions_init(t, z) (tpf_addon->regions_init((t), (z)))
#define tpf_regions_free(t) (tpf_addon->regions_free(t))
#define tpf_regions_translate(...) (tpf_addon->regions_translate(__VA_ARGS__))
#define tpf_regions_agree(...) (tpf_addon->regions_agree(__VA_ARGS__))
#define tpf_regions_share_private(...) (tpf_addon->regions_share_private(__VA_ARGS__))
#define tpf_regions_unshare_private(...) (tpf_addon->regions_unshare_private(__VA_ARGS__))
#define tpf_regions_own_bytes(...) (tpf_addon->regions_own_bytes(__VA_ARGS__))
#define tpf_regions_free_private(t) (tpf_addon->regions_free_private(t))

#endif
