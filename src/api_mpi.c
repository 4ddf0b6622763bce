/* tpf_comm_init_mpi: a communicator over the MPI transport. */
#include <stdio.h>
#include <unistd.h>

#include "api_comm.h"
#include "common/status.h"
#include "transport/transport_mpi.h"
#include "tpfuse_mpi.h"

static tpf_status_t make_endpoint(void *arg, const tpf_transport_config_t *tcfg, tpf_endpoint_t **ep) {
  return tpf_transport_mpi_create(*(MPI_Comm *)arg, tcfg, ep);
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

tpf_status_t tpf_comm_init_mpi(tpf_comm_t **comm, MPI_Comm mpi_comm, const tpf_config_t *cfg) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    return tpf_fail(TPF_ERR_INVALID, "MPI is %s: call tpf_comm_init_mpi between MPI_Init and MPI_Finalize",
                    finalized ? "finalized" : "not initialized");
  if (mpi_comm == MPI_COMM_NULL) return tpf_fail(TPF_ERR_INVALID, "mpi_comm is MPI_COMM_NULL");
  int inter = 0;
  if (MPI_Comm_test_inter(mpi_comm, &inter) != MPI_SUCCESS || inter)
    return tpf_fail(TPF_ERR_INVALID, "mpi_comm must be an intra-communicator");
  /* One name per communicator and process: the pid and a process counter. */
  static int made;
  char prefix[48];
  snprintf(prefix, sizeof prefix, "tpf-mpi-%d-%d", (int)getpid(), ++made);
  return tpf_comm_init_endpoint(comm, cfg, ranks_on_this_host(mpi_comm), make_endpoint, &mpi_comm, prefix);
}
