/* tpf_comm_init_mpi: a communicator over the MPI transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_comm.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "transport/transport_mpi.h"
#include "tpfuse_mpi.h"
#include "addon.h" /* last */

typedef struct mpi_setup {
  MPI_Comm comm;
  int hosts; /* see tpf_transport_mpi_create */
} mpi_setup_t;

static tpf_status_t make_endpoint(void *arg, const tpf_transport_config_t *tcfg, tpf_endpoint_t **ep) {
  const mpi_setup_t *setup = arg;
  return tpf_transport_mpi_create(setup->comm, tcfg, setup->hosts, ep);
}

/* TPF_MPI_LOCAL: shm -> 0, mpi -> -1, shm:N -> N. */
static tpf_status_t parse_local(int *hosts) {
  const char *text = tpf_env_string(TPF_ENV_MPI_LOCAL);
  char *end = NULL;
  if (strcmp(text, "shm") == 0) *hosts = 0;
  else if (strcmp(text, "mpi") == 0) *hosts = -1;
  else if (strncmp(text, "shm:", 4) == 0 && (*hosts = (int)strtol(text + 4, &end, 10)) > 0 && *end == '\0') return TPF_OK;
  else return tpf_fail(TPF_ERR_INVALID, "TPF_MPI_LOCAL='%s' must be shm, mpi or shm:N (N >= 1)", text);
  return TPF_OK;
}

/* How many ranks of comm share this host (for the default threads). */
static int ranks_on_this_host(MPI_Comm comm) {
  MPI_Comm local;
  int n = 1;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) != MPI_SUCCESS) return 1;
  MPI_Comm_size(local, &n);
  MPI_Comm_free(&local);
  return n;
}

/* MPI is usable: between MPI_Init and MPI_Finalize. */
static tpf_status_t check_mpi_running(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    return tpf_fail(TPF_ERR_INVALID, "MPI is %s: call tpf_comm_init_mpi between MPI_Init and MPI_Finalize",
                    finalized ? "finalized" : "not initialized");
  return TPF_OK;
}

/* The first collective of init, bounded by the timeout: the lowest status
 * of all ranks into *worst once every rank has come. A rank that never
 * comes leaves the reduction pending (MPI cannot cancel it, and its
 * buffers stay allocated for it): TPF_ERR_TIMEOUT. */
static tpf_status_t every_rank_arrives(MPI_Comm mpi_comm, tpf_status_t mine, int timeout_ms, int *worst) {
  int *buffers = malloc(2 * sizeof *buffers);
  if (!buffers) return tpf_fail(TPF_ERR_NOMEM, "could not allocate 8 bytes");
  buffers[0] = (int)mine;
  MPI_Request request;
  if (MPI_Iallreduce(&buffers[0], &buffers[1], 1, MPI_INT, MPI_MIN, mpi_comm, &request) != MPI_SUCCESS) {
    free(buffers);
    return tpf_fail(TPF_ERR_SYSTEM, "MPI could not agree on the settings");
  }
  const int64_t deadline = tpf_now_ns() + (int64_t)timeout_ms * 1000000;
  for (int done = 0;;) {
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      free(buffers);
      return tpf_fail(TPF_ERR_SYSTEM, "MPI could not agree on the settings");
    }
    if (done) break;
    if (tpf_now_ns() > deadline) {
      int rank = 0;
      MPI_Comm_rank(mpi_comm, &rank);
      return tpf_fail(TPF_ERR_TIMEOUT, "rank %d waited %d ms for every rank of mpi_comm to call tpf_comm_init_mpi "
                      "and gave up (a reduction stays pending on mpi_comm: use it for nothing more, and do not free it)",
                      rank, timeout_ms);
    }
    nanosleep(&(struct timespec){0, 50000}, NULL);
  }
  *worst = buffers[1];
  free(buffers);
  return TPF_OK;
}

tpf_status_t tpf_comm_init_mpi(tpf_comm_t **comm, MPI_Comm mpi_comm, const tpf_config_t *cfg) {
  tpf_status_t s = tpf_addon_attach();
  if (s == TPF_OK) s = check_mpi_running();
  if (s != TPF_OK) return s;
  if (mpi_comm == MPI_COMM_NULL) return tpf_fail(TPF_ERR_INVALID, "mpi_comm is MPI_COMM_NULL");
  int inter = 0;
  if (MPI_Comm_test_inter(mpi_comm, &inter) != MPI_SUCCESS || inter)
    return tpf_fail(TPF_ERR_INVALID, "mpi_comm must be an intra-communicator");
  /* Every rank learns whether any rank rejects its settings before the
   * collective calls below, so that a rejection cannot leave the others
   * waiting in them. */
  mpi_setup_t setup = {mpi_comm, 0};
  s = parse_local(&setup.hosts);
  if (s == TPF_OK) s = tpf_config_check(cfg);
  int worst = s;
  tpf_status_t met = every_rank_arrives(mpi_comm, s, tpf_config_timeout_ms(cfg), &worst);
  if (met != TPF_OK) return met;
  if (s != TPF_OK) return s;
  if (worst != TPF_OK)
    return tpf_fail(tpf_status_checked(worst), "another rank rejected its settings (%s)",
                    tpf_status_string(tpf_status_checked(worst)));
  /* One name per communicator and process: the pid and a process counter. */
  static int made;
  char prefix[48];
  snprintf(prefix, sizeof prefix, "tpf-mpi-%d-%d", (int)getpid(), ++made);
  return tpf_comm_init_endpoint(comm, cfg, ranks_on_this_host(mpi_comm), make_endpoint, &setup, prefix);
}

tpf_status_t tpf_comm_init_mpi_f(tpf_comm_t **comm, MPI_Fint mpi_comm, const tpf_config_t *cfg) {
  tpf_status_t s = tpf_addon_attach();
  if (s == TPF_OK) s = check_mpi_running();
  return s != TPF_OK ? s : tpf_comm_init_mpi(comm, MPI_Comm_f2c(mpi_comm), cfg);
}
