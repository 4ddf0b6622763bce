/* The micro-kernel contract and the registry that picks one at run time.
 *
 * A micro-kernel computes one mr x nr tile of C over kc steps:
 *   c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum_p a[p*mr + i] * b[p*nr + j]
 * summing p in increasing order, from packed fp32 panels (A: kc rows of mr,
 * B: kc rows of nr, zero-padded at the edges). c is always a full tile of the
 * fp32 accumulator; edges are clipped by the epilogue. */
#ifndef TPF_GEMM_KERNEL_H
#define TPF_GEMM_KERNEL_H

#include <stdint.h>

#include "tpfuse.h"

typedef void (*tpf_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c,
                               int64_t ldc, int accumulate);

typedef struct tpf_gemm_kernel {
  const char *name;
  unsigned cpu_needs; /* tpf_cpu_feature_t bits the kernel requires */
  int mr, nr;         /* register tile */
  int64_t kc;         /* k per packed panel: fixes the order of the sums */
  int64_t mc;         /* rows of A packed at once */
  int64_t nc;         /* columns of B packed at once; a multiple of nr */
  int64_t mb;         /* rows per accumulator block; a multiple of mc and mr */
  tpf_ukernel_fn ukernel;
} tpf_gemm_kernel_t;

/* The kernel chosen once for this process (TPF_ISA, else the best the CPU
 * runs); an error, recorded, if TPF_ISA cannot be honoured. */
tpf_status_t tpf_gemm_kernel_select(const tpf_gemm_kernel_t **kernel);

/* A kernel by name, if built and runnable here; NULL with the error recorded. */
const tpf_gemm_kernel_t *tpf_gemm_kernel_by_name(const char *name);

#endif
