/* A persistent pool of worker threads: runs one job on T threads (the
 * caller is thread 0) and returns when all are done. Nothing is allocated
 * per job. */
#ifndef TPF_COMMON_POOL_H
#define TPF_COMMON_POOL_H

#include "tpfuse.h"

typedef void (*tpf_pool_job_fn)(void *arg, int thread, int threads);
typedef struct tpf_pool tpf_pool_t;

/* A pool of `threads` (>= 1); threads - 1 workers are started. */
tpf_status_t tpf_pool_create(int threads, tpf_pool_t **pool);
void tpf_pool_destroy(tpf_pool_t *pool); /* NULL is a no-op */
int tpf_pool_threads(const tpf_pool_t *pool);

/* Runs job(arg, t, T) for t = 0 .. T-1, t = 0 on the calling thread. One
 * job at a time per pool. */
void tpf_pool_run(tpf_pool_t *pool, tpf_pool_job_fn job, void *arg);

#endif
