/* The MPI transport's constructor: the only transport header that needs
 * mpi.h, so that the rest of tpfuse builds without MPI. */
#ifndef TPF_TRANSPORT_TRANSPORT_MPI_H
#define TPF_TRANSPORT_TRANSPORT_MPI_H

#include <mpi.h>

#include "transport.h"

/* This process's endpoint among the ranks of `comm` (collective over comm:
 * it duplicates it). Ranks that share a host talk through shared memory
 * (in cfg->shm_dir) when hosts_of is 0, as if hosts held runs of hosts_of
 * consecutive ranks when it is > 0 (for tests), and only through MPI
 * messages when it is -1. */
tpf_status_t tpf_transport_mpi_create(MPI_Comm comm, const tpf_transport_config_t *cfg, int hosts_of,
                                      tpf_endpoint_t **ep);

#endif
