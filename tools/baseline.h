/* The user's baseline over MPI, for `tpfuse bench --transport mpi`: what a
 * user writes without tpfuse. Convert a and b to fp32, multiply with
 * OpenBLAS sgemm, MPI_Reduce_scatter_block the fp32 partials (sum), divide
 * for avg, convert the rows back. Built when OpenBLAS and MPI are found
 * (TPF_WITH_BASELINE); without OpenBLAS, baseline_available() is 0 and the
 * bench leaves the comparison out. */
#ifndef TPF_TOOLS_BASELINE_H
#define TPF_TOOLS_BASELINE_H

#include <stdint.h>

#include "tpfuse.h"

/* 1 when the baseline is built in. */
int baseline_available(void);

/* OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when it loads (they
 * force an older kernel on some machines): if either is set, re-executes
 * this program without them, for this benchmark only. Before MPI_Init. */
void baseline_prepare(char **argv);

/* The OpenBLAS core in use (e.g. "Cooperlake"). */
const char *baseline_blas_core(void);

typedef struct baseline baseline_t;

/* Buffers for m x k by k x n over `world` ranks with `threads` BLAS threads. */
baseline_t *baseline_new(int64_t m, int64_t k, int64_t n, int world, int threads);
void baseline_free(baseline_t *b);

/* One call over MPI_COMM_WORLD: this rank's m/world rows of the sum, in
 * dtype, into out (dense). */
void baseline_call(baseline_t *b, const void *a, const void *bm, tpf_dtype_t dtype, void *out);

#endif
