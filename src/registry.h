/* The live communicators of this process: lets entry points tell a live
 * communicator from a destroyed one, refuse a second call on a rank whose
 * call is still running, refuse a parent's communicator in a forked child,
 * and lets tpf_comm_find look one up. tpf_comm_abort looks communicators up
 * without a lock (it may run in a signal handler); destroy waits for such
 * lookups to end before it frees. */
#ifndef TPF_REGISTRY_H
#define TPF_REGISTRY_H

#include "ops/comm.h"

void tpf_registry_add(tpf_comm_t *comm);

/* Starts a call on comm: TPF_OK if it is live, made in this process (not
 * inherited across fork) and in no other call; else TPF_ERR_INVALID with
 * words. tpf_registry_leave ends it. */
tpf_status_t tpf_registry_enter(tpf_comm_t *comm);
void tpf_registry_leave(tpf_comm_t *comm);

/* Removes comm for destroy: TPF_OK if it was live and in no call (*inherited
 * says whether it was made before a fork of this process); else
 * TPF_ERR_INVALID with words, and comm stays. Returns once no lock-free
 * lookup can still see it. */
tpf_status_t tpf_registry_remove(tpf_comm_t *comm, int *inherited);

int tpf_registry_contains(const tpf_comm_t *comm);
tpf_comm_t *tpf_registry_find(const char *name);

/* Async-signal-safe: whether comm is live and made in this process; if so
 * it stays allocated until tpf_registry_release. No lock, no words. */
int tpf_registry_hold(const tpf_comm_t *comm);
void tpf_registry_release(void);

/* How many forks this process descends from (its communicators remember
 * theirs); bumped in the child of every fork. */
unsigned tpf_fork_generation(void);

#endif
