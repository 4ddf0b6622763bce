/* The live communicators of this process: lets entry points tell a live
 * communicator from a destroyed one, and tpf_comm_find look one up. */
#ifndef TPF_REGISTRY_H
#define TPF_REGISTRY_H

#include "ops/comm.h"

void tpf_registry_add(tpf_comm_t *comm);
/* 1 if it was live (and is now removed). */
int tpf_registry_remove(tpf_comm_t *comm);
int tpf_registry_contains(const tpf_comm_t *comm);
tpf_comm_t *tpf_registry_find(const char *name);

/* TPF_OK for a live communicator; TPF_ERR_INVALID naming `what` otherwise. */
tpf_status_t tpf_check_comm(const tpf_comm_t *comm);

#endif
