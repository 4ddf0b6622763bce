/* The pool (see pool.h). Handing a job over costs a condition-variable
 * wake-up only when a worker has gone to sleep: after each job a worker
 * polls for the next one for a while (WORKER_SPIN_NS), since the fused
 * schedules run many short GEMMs back to back and waking a sleeping thread
 * takes tens of microseconds on a virtual machine. The caller waits for the
 * workers' shares by polling too, yielding the core now and then, so that
 * more threads than cores still progress. */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "clock.h"
#include "status.h"

enum { WORKER_SPIN_NS = 100 * 1000 };

struct tpf_pool {
  int threads;
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t start;
  _Atomic unsigned generation; /* one more per job; the job is published first */
  _Atomic int pending;         /* workers still running the current job */
  _Atomic int sleepers;        /* workers waiting on `start` */
  _Atomic int stopping;
  _Atomic int caller_cpu;      /* where the caller published the current job */
  tpf_pool_job_fn job;
  void *arg;
};

typedef struct worker_arg {
  tpf_pool_t *pool;
  int index;
} worker_arg_t;

/* A worker woken on the core its caller runs on would share that core with
 * it for the whole job: both poll, so both look busy and recently run, and
 * the scheduler does not move either (seen here on a 2-core machine: a
 * 2-thread product taking twice its time for many calls in a row). Setting
 * the worker's affinity to the other allowed cores moves it at once;
 * restoring it leaves it where it went. */
static void leave_callers_core(tpf_pool_t *pool) {
  int here = sched_getcpu(), caller = atomic_load(&pool->caller_cpu);
  if (here < 0 || here != caller) return;
  cpu_set_t allowed, others;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  others = allowed;
  CPU_CLR(caller, &others);
  if (CPU_COUNT(&others) == 0 || sched_setaffinity(0, sizeof others, &others) != 0) return;
  sched_setaffinity(0, sizeof allowed, &allowed);
}

/* Waits until the generation moves past `seen` (or the pool stops): polls
 * for a while, then sleeps. The sleeper count and the generation are both
 * sequentially consistent, so a job published while a worker goes to sleep
 * is either seen by it or finds it counted and wakes it. */
static unsigned next_generation(tpf_pool_t *pool, unsigned seen) {
  const int64_t start = tpf_now_ns();
  for (unsigned spins = 1;; spins++) {
    unsigned g = atomic_load(&pool->generation);
    if (g != seen || atomic_load(&pool->stopping)) return g;
    if (spins % 64 == 0) {
      if (tpf_now_ns() - start > WORKER_SPIN_NS) break;
      sched_yield();
    }
  }
  pthread_mutex_lock(&pool->lock);
  atomic_fetch_add(&pool->sleepers, 1);
  unsigned g;
  while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stopping))
    pthread_cond_wait(&pool->start, &pool->lock);
  atomic_fetch_sub(&pool->sleepers, 1);
  pthread_mutex_unlock(&pool->lock);
  leave_callers_core(pool);
  return g;
}

static void *worker_main(void *p) {
  worker_arg_t self = *(worker_arg_t *)p;
  free(p);
  tpf_pool_t *pool = self.pool;
  unsigned seen = 0;
  for (;;) {
    seen = next_generation(pool, seen);
    if (atomic_load(&pool->stopping)) break;
    pool->job(pool->arg, self.index, pool->threads);
    atomic_fetch_sub(&pool->pending, 1); /* (release: the job's writes first) */
  }
  return NULL;
}

tpf_status_t tpf_pool_create(int threads, tpf_pool_t **out) {
  tpf_pool_t *pool = calloc(1, sizeof *pool);
  if (!pool) return tpf_fail(TPF_ERR_NOMEM, "could not allocate a thread pool");
  pool->threads = threads;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->start, NULL);
  pool->workers = calloc((size_t)threads, sizeof *pool->workers);
  if (!pool->workers) {
    tpf_pool_destroy(pool);
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate a thread pool");
  }
  for (int t = 1; t < threads; t++) {
    worker_arg_t *arg = malloc(sizeof *arg);
    int err = arg ? 0 : -1;
    if (arg) {
      *arg = (worker_arg_t){pool, t};
      err = pthread_create(&pool->workers[t], NULL, worker_main, arg);
      if (err) free(arg);
    }
    if (err) {
      pool->threads = t; /* the ones started so far are joined by destroy */
      tpf_pool_destroy(pool);
      return tpf_fail(TPF_ERR_SYSTEM, "could not start compute thread %d of %d", t, threads);
    }
  }
  *out = pool;
  return TPF_OK;
}

void tpf_pool_destroy(tpf_pool_t *pool) {
  if (!pool) return;
  pthread_mutex_lock(&pool->lock);
  atomic_store(&pool->stopping, 1);
  pthread_cond_broadcast(&pool->start);
  pthread_mutex_unlock(&pool->lock);
  for (int t = 1; t < pool->threads && pool->workers; t++) pthread_join(pool->workers[t], NULL);
  pthread_cond_destroy(&pool->start);
  pthread_mutex_destroy(&pool->lock);
  free(pool->workers);
  free(pool);
}

int tpf_pool_threads(const tpf_pool_t *pool) { return pool->threads; }

void tpf_pool_run(tpf_pool_t *pool, tpf_pool_job_fn job, void *arg) {
  if (pool->threads == 1) {
    job(arg, 0, 1);
    return;
  }
  pool->job = job;
  pool->arg = arg;
  atomic_store(&pool->caller_cpu, sched_getcpu());
  atomic_store(&pool->pending, pool->threads - 1);
  atomic_fetch_add(&pool->generation, 1); /* publishes job, arg and pending */
  if (atomic_load(&pool->sleepers) > 0) {
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
  }
  job(arg, 0, pool->threads);
  for (unsigned spins = 1; atomic_load(&pool->pending) > 0; spins++)
    if (spins % 64 == 0) sched_yield();
}
