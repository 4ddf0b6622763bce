/* Starting the ranks of a benchmark: threads of this process, forked
 * processes over shared memory, or (under mpirun) this process as one rank
 * of MPI_COMM_WORLD. */
#ifndef TPF_TOOLS_RANKS_H
#define TPF_TOOLS_RANKS_H

#include "harness.h" /* RS_THREADS, RS_SHM, RS_MPI */
#include "tpfuse.h"

/* The work of rank `rank` on its communicator. */
typedef void (*rank_body_fn)(tpf_comm_t *comm, int rank, void *arg);

/* Makes a communicator of `world_size` ranks where `processes` says
 * (RS_THREADS, RS_SHM or RS_MPI: then the world is MPI_COMM_WORLD and
 * world_size is ignored) and runs body on every rank this process holds;
 * returns when they are done. With RS_SHM the ranks are forked: what body
 * writes for the caller must be in memory shared with them (mmap
 * MAP_SHARED), as must status and error. Each rank (its thread, or its
 * forked process) is bound to its share of this process's cores when there
 * is at least one core per rank (under MPI, binding is mpirun's job). A rank whose communicator could
 * not be made gets its status and message in status[rank] and error[rank]
 * (TPF_OK and "" otherwise) and does not run body. Returns TPF_OK, or why
 * the ranks could not be started at all (recorded). */
tpf_status_t ranks_run(int processes, int world_size, const tpf_config_t *cfg, rank_body_fn body, void *arg,
                       tpf_status_t *status, char (*error)[256]);

#endif
