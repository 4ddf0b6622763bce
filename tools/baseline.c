/* The user's baseline over MPI (see baseline.h). */
#define _GNU_SOURCE
#include "baseline.h"

#include <stdlib.h>
#include <unistd.h>

#ifdef TPF_WITH_BASELINE
#include <cblas.h>
#include <mpi.h>

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);

int baseline_available(void) { return 1; }

void baseline_prepare(char **argv) {
  if (getenv("OPENBLAS_CORETYPE") || getenv("OPENBLAS_L2_SIZE")) {
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
    execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
  }
}

const char *baseline_blas_core(void) { return openblas_get_corename(); }

struct baseline {
  int64_t m, k, n;
  int world;
  float *a, *b, *partial, *rows;
};

baseline_t *baseline_new(int64_t m, int64_t k, int64_t n, int world, int threads) {
  baseline_t *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  *b = (baseline_t){m, k, n, world, malloc(sizeof(float) * (size_t)(m * k)), malloc(sizeof(float) * (size_t)(k * n)),
                    malloc(sizeof(float) * (size_t)(m * n)), malloc(sizeof(float) * (size_t)(m / world * n))};
  if (!b->a || !b->b || !b->partial || !b->rows) {
    baseline_free(b);
    return NULL;
  }
  openblas_set_num_threads(threads > 0 ? threads : 1);
  return b;
}

void baseline_free(baseline_t *b) {
  if (!b) return;
  free(b->a), free(b->b), free(b->partial), free(b->rows), free(b);
}

void baseline_call(baseline_t *b, const void *a, const void *bm, tpf_dtype_t dtype, void *out) {
  const int64_t rows = b->m / b->world;
  tpf_convert(a, dtype, b->a, TPF_FLOAT32, (size_t)(b->m * b->k));
  tpf_convert(bm, dtype, b->b, TPF_FLOAT32, (size_t)(b->k * b->n));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b->m, (int)b->n, (int)b->k, 1.0f, b->a, (int)b->k, b->b,
              (int)b->n, 0.0f, b->partial, (int)b->n);
  MPI_Reduce_scatter_block(b->partial, b->rows, (int)(rows * b->n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  tpf_convert(b->rows, TPF_FLOAT32, out, dtype, (size_t)(rows * b->n));
}
#else
int baseline_available(void) { return 0; }
void baseline_prepare(char **argv) { (void)argv; }
const char *baseline_blas_core(void) { return "none"; }
baseline_t *baseline_new(int64_t m, int64_t k, int64_t n, int world, int threads) {
  (void)m, (void)k, (void)n, (void)world, (void)threads;
  return NULL;
}
void baseline_free(baseline_t *b) { (void)b; }
void baseline_call(baseline_t *b, const void *a, const void *bm, tpf_dtype_t dtype, void *out) {
  (void)b, (void)a, (void)bm, (void)dtype, (void)out;
}
#endif
