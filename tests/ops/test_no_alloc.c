/* Hot paths allocate nothing: after warm-up, repeated tpf_mm_reduce_scatter
 * calls (both algorithms, two thread ranks with two compute threads each)
 * and tpf_gemm calls make no malloc, calloc, realloc or aligned allocation.
 * This program counts them by standing in for glibc's allocator entry
 * points (so it is not built under the sanitizers, which do the same). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "../test.h"
#include "tpfuse.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic int counting;
static _Atomic long allocations;

static void count(void) {
  if (atomic_load(&counting)) atomic_fetch_add(&allocations, 1);
}
void *malloc(size_t n) { return count(), __libc_malloc(n); }
void *calloc(size_t n, size_t s) { return count(), __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { return count(), __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { return count(), __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
  count();
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }

enum { W = 2, M = 256, K = 300, N = 200, WARM = 3, CALLS = 20 };
static uint16_t a_data[W][M * K], b_data[W][K * N], out_data[W][M / W * N], bias[N];
static pthread_barrier_t barrier;

typedef struct rank {
  tpf_comm_t *comm;
  int r;
  tpf_algo_t algo;
  int failures;
} rank_t;

static void *run_rank(void *arg) {
  rank_t *x = arg;
  tpf_matrix_t a = {a_data[x->r], TPF_BFLOAT16, M, K, 0, 0}, b = {b_data[x->r], TPF_BFLOAT16, K, N, 0, 1},
               out = {out_data[x->r], TPF_BFLOAT16, M / W, N, 0, 0};
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  opt.bias = bias;
  opt.comm_turn = 3;
  opt.algo = x->algo;
  for (int i = 0; i < WARM; i++) x->failures += tpf_mm_reduce_scatter(x->comm, &a, &b, &out, &opt) != TPF_OK;
  pthread_barrier_wait(&barrier);
  if (x->r == 0) atomic_store(&counting, 1);
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < CALLS; i++) x->failures += tpf_mm_reduce_scatter(x->comm, &a, &b, &out, &opt) != TPF_OK;
  pthread_barrier_wait(&barrier);
  atomic_store(&counting, 0);
  return NULL;
}

static void check_operator(tpf_algo_t algo) {
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.threads_per_rank = 2;
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, &cfg), TPF_OK);
  pthread_barrier_init(&barrier, NULL, W);
  rank_t ranks[W];
  pthread_t th[W];
  atomic_store(&allocations, 0);
  for (int r = 0; r < W; r++) {
    ranks[r] = (rank_t){comms[r], r, algo, 0};
    pthread_create(&th[r], NULL, run_rank, &ranks[r]);
  }
  for (int r = 0; r < W; r++) pthread_join(th[r], NULL);
  for (int r = 0; r < W; r++) CHECK(ranks[r].failures == 0, "rank %d: %s", r, tpf_last_error());
  CHECK(atomic_load(&allocations) == 0, "algo %d: %ld allocations in %d calls per rank", (int)algo,
        atomic_load(&allocations), CALLS);
  pthread_barrier_destroy(&barrier);
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
}

static void check_gemm(void) {
  static float a[64 * 500], b[500 * 300], c[64 * 300];
  tpf_matrix_t ma = {a, TPF_FLOAT32, 64, 500, 0, 0}, mb = {b, TPF_FLOAT32, 500, 300, 0, 0},
               mc = {c, TPF_FLOAT32, 64, 300, 0, 0};
  for (int i = 0; i < WARM; i++) CHECK_STATUS(tpf_gemm(NULL, &ma, &mb, &mc, NULL), TPF_OK);
  atomic_store(&allocations, 0);
  atomic_store(&counting, 1);
  for (int i = 0; i < CALLS; i++) tpf_gemm(NULL, &ma, &mb, &mc, NULL);
  atomic_store(&counting, 0);
  CHECK(atomic_load(&allocations) == 0, "tpf_gemm: %ld allocations in %d calls", atomic_load(&allocations), CALLS);
}

int main(void) {
  /* the counter itself must see allocations, or the test proves nothing */
  atomic_store(&counting, 1);
  void *probe = malloc(10);
  atomic_store(&counting, 0);
  free(probe);
  CHECK(atomic_load(&allocations) == 1, "the allocation counter does not count (%ld)", atomic_load(&allocations));
  check_operator(TPF_ALGO_RING);
  check_operator(TPF_ALGO_UNFUSED);
  check_operator(TPF_ALGO_DIRECT);
  check_gemm();
  return test_summary();
}
