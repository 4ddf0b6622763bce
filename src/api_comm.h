/* Making a communicator around a transport endpoint: for entry points that
 * live outside api_comm.c (tpf_comm_init_mpi). */
#ifndef TPF_API_COMM_H
#define TPF_API_COMM_H

#include "transport/transport.h"
#include "tpfuse.h"

/* Makes this rank's endpoint with the resolved transport settings. */
typedef tpf_status_t (*tpf_endpoint_maker_fn)(void *arg, const tpf_transport_config_t *tcfg, tpf_endpoint_t **ep);

/* TPF_OK if cfg (and the environment) would be accepted; else the error,
 * recorded. */
tpf_status_t tpf_config_check(const tpf_config_t *cfg);

/* The timeout cfg (and the environment) set, in ms; the default where they
 * are rejected. */
int tpf_config_timeout_ms(const tpf_config_t *cfg);

/* Resolves cfg (threads_per_rank 0 = this host's cores over ranks_on_host),
 * makes the endpoint and the communicator, named "<name_prefix>-r<rank>".
 * Writes *comm only on success. */
tpf_status_t tpf_comm_init_endpoint(tpf_comm_t **comm, const tpf_config_t *cfg, int ranks_on_host,
                                    tpf_endpoint_maker_fn make, void *arg, const char *name_prefix);

#endif
