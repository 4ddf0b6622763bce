/* The MPI transport's constructor: the only transport header that needs
 * mpi.h, so that the rest of tpfuse builds without MPI. */
#ifndef TPF_TRANSPORT_TRANSPORT_MPI_H
#define TPF_TRANSPORT_TRANSPORT_MPI_H

#include <mpi.h>

#include "transport.h"

/* This process's endpoint among the ranks of `comm` (collective over comm:
 * it duplicates it). Ranks that share a host talk through shared memory
 * (in cfg->shm_dir) when `hosts` is 0, as if rank r were on host
 * r mod hosts when it is > 0 (for tests: hosts that hold ranks that are not
 * consecutive), and only through MPI messages when it is -1. */
tpf_status_t tpf_transport_mpi_create(MPI_Comm comm, const tpf_transport_config_t *cfg, int hosts,
                                      tpf_endpoint_t **ep);

#endif
