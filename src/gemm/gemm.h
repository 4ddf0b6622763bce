/* The blocked GEMM: out = round(((addend + A @ B) / divisor) + bias), with
 * fp16/bf16/fp32 operands converted while packing and fp32 accumulation.
 * The order of every sum depends only on k and the kernel's kc, never on
 * m, n, the row range asked for, or timing: results are reproducible. */
#ifndef TPF_GEMM_GEMM_H
#define TPF_GEMM_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "tpfuse.h"
#include "kernel.h"

/* A read-only operand: logical element (i, p) is at
 * data[i * ld + p] (transposed == 0) or data[p * ld + i] (transposed == 1). */
typedef struct tpf_gemm_operand {
  const void *data;
  tpf_dtype_t dtype;
  int64_t ld;
  int transposed;
} tpf_gemm_operand_t;

/* The view of the same operand starting at logical row `row`. */
tpf_gemm_operand_t tpf_gemm_operand_from_row(tpf_gemm_operand_t x, int64_t row);

typedef struct tpf_gemm_epilogue {
  const float *addend;  /* NULL, or an m x n fp32 matrix added to A @ B; it may
                           be the same memory as out (accumulate in place) */
  int64_t addend_ld;
  float divisor;        /* the sum is divided by this (1 = left alone) */
  const float *bias;    /* NULL, or n fp32 values added last */
  void *out;            /* m x n, row-major, rounded once to out_dtype */
  tpf_dtype_t out_dtype;
  int64_t out_ld;
} tpf_gemm_epilogue_t;

/* Packing buffers and the fp32 accumulator of one caller (one rank). Sized
 * by the kernel's blocking, not by the problem: reserved once, then reused. */
typedef struct tpf_gemm_workspace {
  const tpf_gemm_kernel_t *kernel;
  float *a_pack, *b_pack, *c_acc;
} tpf_gemm_workspace_t;

tpf_status_t tpf_gemm_workspace_init(tpf_gemm_workspace_t *ws, const tpf_gemm_kernel_t *kernel);
void tpf_gemm_workspace_free(tpf_gemm_workspace_t *ws);

/* m x n result of (m x k) A times (k x n) B; m, n, k >= 0 (k = 0 gives the
 * epilogue of a zero product). Allocates nothing. */
void tpf_gemm_run(tpf_gemm_workspace_t *ws, int64_t m, int64_t n, int64_t k,
                  const tpf_gemm_operand_t *a, const tpf_gemm_operand_t *b,
                  const tpf_gemm_epilogue_t *epi);

#endif
