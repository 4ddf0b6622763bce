/* Starting the ranks of a benchmark (see ranks.h). */
#define _GNU_SOURCE
#include "ranks.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>

#include "tpfuse_mpi.h"
#endif

enum { MAX_RANKS = 64 };

/* Binds the calling thread (and the threads it starts later) to rank r's
 * share of the cores this process may use, when there is at least one
 * core per rank: a rank that the scheduler moves, or starts on a core
 * another rank uses, turns the timings of both into noise. */
static void bind_rank(int r, int W) {
  cpu_set_t allowed, share;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  const int cores = CPU_COUNT(&allowed);
  if (cores < W) return;
  CPU_ZERO(&share);
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &allowed)) {
      if (seen * W / cores == r) CPU_SET(cpu, &share); /* cores [r * cores / W, (r + 1) * cores / W) */
      seen++;
    }
  sched_setaffinity(0, sizeof share, &share);
}

/* Runs body on rank r once its communicator is made (or records why not). */
static void start_rank(tpf_status_t made, tpf_comm_t *comm, int r, rank_body_fn body, void *arg,
                       tpf_status_t *status, char (*error)[256]) {
  status[r] = made;
  snprintf(error[r], sizeof error[r], "%s", made == TPF_OK ? "" : tpf_last_error());
  if (made != TPF_OK) return;
  body(comm, r, arg);
  tpf_comm_destroy(comm);
}

typedef struct thread_job {
  tpf_comm_t *comm;
  int r, W;
  rank_body_fn body;
  void *arg;
} thread_job_t;

static void *thread_main(void *p) {
  thread_job_t *j = p;
  bind_rank(j->r, j->W);
  j->body(j->comm, j->r, j->arg);
  return NULL;
}

tpf_status_t ranks_run(int processes, int world_size, const tpf_config_t *cfg, rank_body_fn body, void *arg,
                       tpf_status_t *status, char (*error)[256]) {
  const int W = world_size;
#ifdef TPF_WITH_MPI
  if (processes == RS_MPI) {
    int me = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    tpf_comm_t *comm = NULL;
    tpf_status_t made = tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, cfg);
    start_rank(made, comm, me, body, arg, status, error);
    return TPF_OK;
  }
#endif
  if (W < 1 || W > MAX_RANKS) {
    snprintf(error[0], sizeof error[0], "world size %d: choose 1 to %d", W, MAX_RANKS);
    return status[0] = TPF_ERR_INVALID;
  }
  if (processes == RS_THREADS) {
    tpf_comm_t *comms[MAX_RANKS];
    tpf_status_t s = tpf_comm_init_all(comms, W, cfg);
    for (int r = 0; r < W; r++) status[r] = s, snprintf(error[r], sizeof error[r], "%s", s ? tpf_last_error() : "");
    if (s != TPF_OK) return TPF_OK;
    pthread_t th[MAX_RANKS];
    thread_job_t jobs[MAX_RANKS];
    for (int r = 0; r < W; r++) jobs[r] = (thread_job_t){comms[r], r, W, body, arg}, pthread_create(&th[r], NULL, thread_main, &jobs[r]);
    for (int r = 0; r < W; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
    return TPF_OK;
  }
  tpf_unique_id_t id;
  tpf_status_t s = tpf_get_unique_id(&id);
  if (s != TPF_OK) return s;
  pid_t pids[MAX_RANKS];
  fflush(NULL); /* else every child would print what this process has buffered */
  for (int r = 0; r < W; r++)
    if ((pids[r] = fork()) < 0) {
      status[r] = TPF_ERR_SYSTEM;
      snprintf(error[r], sizeof error[r], "fork of rank %d failed", r);
    } else if (pids[r] == 0) {
      bind_rank(r, W);
      tpf_comm_t *comm = NULL;
      tpf_status_t made = tpf_comm_init_rank(&comm, W, id, r, cfg);
      start_rank(made, comm, r, body, arg, status, error);
      fflush(NULL);
      _exit(0);
    }
  for (int r = 0; r < W; r++)
    if (pids[r] > 0) waitpid(pids[r], NULL, 0);
  return TPF_OK;
}
