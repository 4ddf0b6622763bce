/* Making a communicator around a transport endpoint: for entry points that
 * live outside api_comm.c (tpf_comm_init_mpi). */
#ifndef TPF_API_COMM_H
#define TPF_API_COMM_H

#include "common/env.h"
#include "transport/transport.h"
#include "tpfuse.h"

/* Makes this rank's endpoint with the resolved transport settings. */
typedef tpf_status_t (*tpf_endpoint_maker_fn)(void *arg, const tpf_transport_config_t *tcfg, tpf_endpoint_t **ep);

/* TPF_OK if cfg (and the environment) would be accepted; else the error,
 * recorded. */
tpf_status_t tpf_config_check(const tpf_config_t *cfg);

/* An integer setting from the environment within [lo, hi] into *value; a
 * malformed or out-of-range one is TPF_ERR_INVALID naming the variable. */
tpf_status_t tpf_env_setting_int(tpf_env_id_t id, int lo, int hi, int *value);

/* The timeout cfg (and the environment) set, in ms; the default where they
 * are rejected. */
int tpf_config_timeout_ms(const tpf_config_t *cfg);

/* Resolves cfg (threads_per_rank 0 = this host's cores over ranks_on_host),
 * makes the endpoint and the communicator, named "<name_prefix>-r<rank>".
 * Writes *comm only on success. */
tpf_status_t tpf_comm_init_endpoint(tpf_comm_t **comm, const tpf_config_t *cfg, int ranks_on_host,
                                    tpf_endpoint_maker_fn make, void *arg, const char *name_prefix);

#endif
