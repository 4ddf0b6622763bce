/* The one internal entry of libtpfuse: what its MPI add-on (libtpfuse_mpi,
 * which links against libtpfuse) uses of the library's internals, as a
 * table, so that libtpfuse exports public names only while the add-on's
 * communicators live in the same registry, with the same last error, as
 * every other. Versioned by name; a version's table only grows at its end,
 * and the add-on checks `size`. */
#ifndef TPF_INTERNAL_H
#define TPF_INTERNAL_H

#include <stddef.h>

#include "api_comm.h"
#include "common/env.h"
#include "common/log.h"
#include "transport/regions.h"
#include "transport/transport.h"
#include "tpfuse.h"

typedef struct tpf_internal_v1 {
  size_t size; /* sizeof(tpf_internal_v1_t) of the library */
  tpf_status_t (*fail)(tpf_status_t s, const char *fmt, ...);
  tpf_status_t (*record)(tpf_status_t s, const char *fmt, ...);
  void (*log)(tpf_log_level_t level, const char *fmt, ...);
  tpf_status_t (*status_checked)(int s);
  void (*text_copy)(char *dst, size_t size, const char *src);
  void (*free)(void *p);
  int (*buffer_reserve)(void **buf, size_t *capacity, size_t bytes, const char *what);
  const char *(*env_string)(tpf_env_id_t id);
  tpf_status_t (*config_check)(const tpf_config_t *cfg);
  int (*config_timeout_ms)(const tpf_config_t *cfg);
  tpf_status_t (*comm_init_endpoint)(tpf_comm_t **comm, const tpf_config_t *cfg, int ranks_on_host,
                                     tpf_endpoint_maker_fn make, void *arg, const char *name_prefix);
  tpf_status_t (*transport_shm_create)(int size, int rank, const tpf_unique_id_t *id, const char *dir,
                                       const tpf_transport_config_t *cfg, tpf_endpoint_t **ep);
  tpf_status_t (*regions_init)(tpf_regions_t *t, int size);
  void (*regions_free)(tpf_regions_t *t);
  const void *(*regions_translate)(const tpf_regions_t *t, int q, uintptr_t addr, size_t bytes);
  tpf_status_t (*regions_agree)(tpf_endpoint_t *ep, tpf_regions_t *t, tpf_status_t made, uintptr_t addr,
                                size_t bytes);
  tpf_status_t (*regions_share_private)(tpf_endpoint_t *ep, tpf_regions_t *own, size_t bytes, void **mine);
  tpf_status_t (*regions_unshare_private)(tpf_endpoint_t *ep, tpf_regions_t *own, void *mine);
  size_t (*regions_own_bytes)(const tpf_regions_t *t, int rank, const void *mine);
  void (*regions_free_private)(tpf_regions_t *own);
} tpf_internal_v1_t;

TPF_API const tpf_internal_v1_t *tpf_internal_v1(void);

/* "0.1.0", from tpfuse.h's numbers. */
#define TPF_TEXT_OF(x) #x
#define TPF_VERSION_TEXT_OF(major, minor, patch) TPF_TEXT_OF(major) "." TPF_TEXT_OF(minor) "." TPF_TEXT_OF(patch)
#define TPF_VERSION_TEXT TPF_VERSION_TEXT_OF(TPF_VERSION_MAJOR, TPF_VERSION_MINOR, TPF_VERSION_PATCH)

#endif
