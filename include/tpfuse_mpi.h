/* tpfuse over MPI: ranks are the processes of an MPI communicator, on one
 * host or many. Link with tpfuse_mpi and tpfuse (pkg-config tpfuse-mpi, or
 * the CMake target tpfuse::tpfuse_mpi): the add-on holds the MPI transport
 * and these entry points, built against one MPI (Open MPI or MPICH), and
 * the communicators it makes are tpfuse's like any other. */
#ifndef TPFUSE_MPI_H
#define TPFUSE_MPI_H

#include <mpi.h>

#include "tpfuse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes this process's rank of a tpfuse communicator over every process of
 * mpi_comm (its rank and size are mpi_comm's). Collective over mpi_comm:
 * every process calls it, between MPI_Init and MPI_Finalize; if any rank's
 * settings (cfg, environment) are rejected, every rank fails (its own
 * message, or "another rank rejected its settings"). tpfuse works
 * on a private duplicate of mpi_comm whose errors return: an MPI failure is
 * a tpfuse status (TPF_ERR_PEER with MPI's message), never an abort of the
 * job. MPI moves data only inside MPI calls, so operators poll it while
 * they multiply; any MPI thread level is enough, as long as one thread at a
 * time calls tpfuse and MPI. Every wait ends at cfg's timeout; a rank that
 * fails (timeout, tpf_comm_abort, an MPI error) tells the others, which
 * return its status. Ranks that share a host talk through shared memory
 * (in cfg->shm_dir, as tpf_comm_init_rank does) and through MPI only with
 * other hosts; TPF_MPI_LOCAL=mpi sends everything through MPI. The results
 * are the same bits either way, and the same as thread ranks'.
 * Between ranks that talk by messages, a call's fingerprint travels with
 * its first data rather than a round trip ahead: a mismatched call, or one
 * a rank rejects, then fails the communicator on every rank (the later
 * calls return the same error), as data may already be in flight.
 * threads_per_rank 0 divides the cores of each host among the ranks on
 * it. Destroy the communicator before MPI_Finalize. Writes *comm only on
 * success.
 * A rank that never calls makes the others return TPF_ERR_TIMEOUT at the
 * timeout, from the first reduction over mpi_comm (non-blocking, polled);
 * MPI cannot cancel it, so after such a timeout mpi_comm must be used for
 * nothing more, not even MPI_Comm_free. Once every rank has come, the rest
 * of init uses MPI's blocking collectives (MPI_Comm_dup, MPI_Comm_split):
 * a rank that dies during them is the MPI library's to report. */
TPF_API tpf_status_t tpf_comm_init_mpi(tpf_comm_t **comm, MPI_Comm mpi_comm, const tpf_config_t *cfg);

/* tpf_comm_init_mpi for a communicator given by its Fortran handle
 * (MPI_Comm_c2f; in Python, mpi4py's comm.py2f()), for bindings that cannot
 * name the C type MPI_Comm, whose form differs between MPIs. The library
 * must be built against the MPI of the caller's process. */
TPF_API tpf_status_t tpf_comm_init_mpi_f(tpf_comm_t **comm, MPI_Fint mpi_comm, const tpf_config_t *cfg);

#ifdef __cplusplus
}
#endif

#endif
