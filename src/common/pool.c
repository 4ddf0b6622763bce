#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "status.h"

struct tpf_pool {
  int threads;
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t start, done;
  unsigned generation; /* one more per job */
  int pending;         /* workers still running the current job */
  int stopping;
  tpf_pool_job_fn job;
  void *arg;
};

typedef struct worker_arg {
  tpf_pool_t *pool;
  int index;
} worker_arg_t;

static void *worker_main(void *p) {
  worker_arg_t self = *(worker_arg_t *)p;
  free(p);
  tpf_pool_t *pool = self.pool;
  unsigned seen = 0;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (pool->generation == seen && !pool->stopping) pthread_cond_wait(&pool->start, &pool->lock);
    if (pool->stopping) break;
    seen = pool->generation;
    tpf_pool_job_fn job = pool->job;
    void *arg = pool->arg;
    pthread_mutex_unlock(&pool->lock);
    job(arg, self.index, pool->threads);
    pthread_mutex_lock(&pool->lock);
    if (--pool->pending == 0) pthread_cond_signal(&pool->done);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

tpf_status_t tpf_pool_create(int threads, tpf_pool_t **out) {
  tpf_pool_t *pool = calloc(1, sizeof *pool);
  if (!pool) return tpf_fail(TPF_ERR_NOMEM, "could not allocate a thread pool");
  pool->threads = threads;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->start, NULL);
  pthread_cond_init(&pool->done, NULL);
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
  pool->stopping = 1;
  pthread_cond_broadcast(&pool->start);
  pthread_mutex_unlock(&pool->lock);
  for (int t = 1; t < pool->threads && pool->workers; t++) pthread_join(pool->workers[t], NULL);
  pthread_cond_destroy(&pool->start);
  pthread_cond_destroy(&pool->done);
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
  pthread_mutex_lock(&pool->lock);
  pool->job = job;
  pool->arg = arg;
  pool->pending = pool->threads - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->start);
  pthread_mutex_unlock(&pool->lock);
  job(arg, 0, pool->threads);
  pthread_mutex_lock(&pool->lock);
  while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
}
