/* The one table of environment variables that tpfuse reads. Each has a
 * default and a tpf_config_t field or public function that overrides it.
 * A leaf: it reports nothing (callers say what is wrong, in words). */
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
  TPF_ENV_COST_MODEL,
  TPF_ENV_COUNT
} tpf_env_id_t;

/* The variable's value if set and not empty, else its default. */
const char *tpf_env_string(tpf_env_id_t id);
const char *tpf_env_name(tpf_env_id_t id);

/* 1, with the value in *value, if the variable (or its default) is an
 * integer within [lo, hi]; else 0. */
int tpf_env_int(tpf_env_id_t id, int lo, int hi, int *value);

#endif
