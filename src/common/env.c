#include "env.h"

#include <errno.h>
#include <stdlib.h>

/* name, default, meaning: printed by `tpfuse info` through tpf_setting_get. */
static const tpf_setting_t table[TPF_ENV_COUNT] = {
    [TPF_ENV_LOG] = {"TPF_LOG", NULL, "warn",
                     "log level on stderr: off|warn|info|debug|trace"},
    [TPF_ENV_TIMEOUT_MS] = {"TPF_TIMEOUT_MS", NULL, "30000",
                            "longest wait for a peer, in ms (tpf_config_t.timeout_ms)"},
    [TPF_ENV_ALGO] = {"TPF_ALGO", NULL, "auto",
                      "algorithm of fused calls: auto|unfused|ring|direct (tpf_config_t.algo)"},
    [TPF_ENV_SPIN_US] = {"TPF_SPIN_US", NULL, "50",
                         "spin this long before sleeping in a wait, in us (tpf_config_t.spin_us)"},
    [TPF_ENV_THREADS_PER_RANK] = {"TPF_THREADS_PER_RANK", NULL, "0",
                                  "compute threads per rank, 0 = cores / ranks on this host (tpf_config_t.threads_per_rank)"},
    [TPF_ENV_ISA] = {"TPF_ISA", NULL, "auto",
                     "GEMM kernels: auto or an instruction set from `tpfuse info` (tpf_config_t.isa)"},
    [TPF_ENV_SHM_DIR] = {"TPF_SHM_DIR", NULL, "/dev/shm",
                         "tmpfs for shared memory between processes (tpf_config_t.shm_dir)"},
    [TPF_ENV_UNIQUE_ID] = {"TPF_UNIQUE_ID", NULL, "",
                           "the id tpf_comm_init_rank uses when given an all-zero one (`tpfuse id`)"},
    [TPF_ENV_MPI_LOCAL] = {"TPF_MPI_LOCAL", NULL, "shm",
                           "over MPI, how ranks on one host talk: shm (shared memory) | mpi (MPI messages) | "
                           "shm:N (as if the ranks were dealt round-robin to N hosts: for tests)"},
    [TPF_ENV_COST_MODEL] = {"TPF_COST_MODEL", NULL, "measured",
                            "TPF_ALGO_AUTO's cost model: measured (the table scaled by probes of this machine, "
                            "rank 0's for all) | table (as shipped)"},
};

const char *tpf_env_name(tpf_env_id_t id) { return table[id].name; }

const char *tpf_env_string(tpf_env_id_t id) {
  const char *v = getenv(table[id].name);
  return (v && *v) ? v : table[id].default_value;
}

int tpf_env_int(tpf_env_id_t id, int lo, int hi, int *value) {
  const char *text = tpf_env_string(id);
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < lo || v > hi) return 0;
  *value = (int)v;
  return 1;
}

int tpf_setting_count(void) { return TPF_ENV_COUNT; }

const tpf_setting_t *tpf_setting_get(int i) {
  static _Thread_local tpf_setting_t current;
  if (i < 0 || i >= TPF_ENV_COUNT) return NULL;
  current = table[i];
  const char *v = getenv(current.name);
  current.value = (v && *v) ? v : NULL;
  return &current;
}
