/* The one table of environment variables that tpfuse reads. Each has a
 * default and a tpf_config_t field or public function that overrides it. */
#ifndef TPF_COMMON_ENV_H
#define TPF_COMMON_ENV_H

#include "tpfuse.h"

typedef enum tpf_env_id {
  TPF_ENV_LOG,
  TPF_ENV_TIMEOUT_MS,
  TPF_ENV_ALGO,
  TPF_ENV_SPIN_US,
  TPF_ENV_THREADS_PER_RANK,
  TPF_ENV_ISA,
  TPF_ENV_SHM_DIR,
  TPF_ENV_UNIQUE_ID,
  TPF_ENV_MPI_LOCAL,
  TPF_ENV_COUNT
} tpf_env_id_t;

/* The variable's value if set and not empty, else its default. */
const char *tpf_env_string(tpf_env_id_t id);
const char *tpf_env_name(tpf_env_id_t id);

/* Parses an integer setting within [lo, hi] into *value; a malformed or
 * out-of-range value is TPF_ERR_INVALID naming the variable. */
tpf_status_t tpf_env_int(tpf_env_id_t id, int lo, int hi, int *value);

#endif
