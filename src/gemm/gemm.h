/* The blocked GEMM engine: out = round(((addend + A @ B) / divisor) + bias),
 * fp16/bf16/fp32 operands converted while packing, fp32 accumulation.
 *
 * B is given once (tpf_gemm_set_b) and then multiplied by any number of
 * A row blocks (tpf_gemm_multiply): the fused schedules multiply many chunks
 * by one B, which is packed during the first multiply and kept. The order of every sum depends only on k and the kernel's kc,
 * never on m, on which rows are computed, on the number of threads or on
 * timing, so results are reproducible bit for bit. */
#ifndef TPF_GEMM_GEMM_H
#define TPF_GEMM_GEMM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pool.h"
#include "kernel.h"
#include "tpfuse.h"

/* A read-only operand: logical element (i, p) is at
 * data[i * ld + p] (transposed == 0) or data[p * ld + i] (transposed == 1). */
struct tpf_gemm_operand {
  const void *data;
  tpf_dtype_t dtype;
  int64_t ld;
  int transposed;
};

/* The view of the same operand starting at logical row `row`. */
tpf_gemm_operand_t tpf_gemm_operand_from_row(tpf_gemm_operand_t x, int64_t row);

struct tpf_gemm_epilogue {
  const float *addend;  /* NULL, or an m x n fp32 matrix added to A @ B; it may
                           be the same memory as out (accumulate in place) */
  int64_t addend_ld;
  float divisor;        /* the sum is divided by this (1 = left alone) */
  const float *bias;    /* NULL, or n fp32 values added last */
  void *out;            /* m x n, row-major, rounded once to out_dtype */
  tpf_dtype_t out_dtype;
  int64_t out_ld;
  int stream;           /* a hint, no effect on the values: out will not be
                           read soon, so its stores may bypass the caches
                           (no read for ownership; big reduce-scatter
                           outputs). Such stores are weakly ordered: the
                           caller runs tpf_gemm_stream_fence() before it
                           returns out to anyone. */
};

/* The same epilogue for the rows from `row` on: its out (and its addend,
 * if any) start at that row. */
tpf_gemm_epilogue_t tpf_gemm_epilogue_from_row(tpf_gemm_epilogue_t e, int64_t row);

/* Orders the streamed stores of earlier epilogues before later stores. */
static inline void tpf_gemm_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_sfence(); /* what streaming stores need (and no sanitizer objects to) */
#else
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* acc[j] = src[j] (first) or acc[j] + src[j], for j < n, with src in dtype
 * t converted exactly to fp32: the specification of the row sums. */
void tpf_accumulate_portable(float *acc, const void *src, tpf_dtype_t t, int64_t n, int first);

/* The portable tpf_sum_row_fn, its specification: the sources summed
 * (tpf_accumulate_portable) and finished (tpf_gemm_finish_portable) a
 * stretch of columns at a time. */
void tpf_sum_row_portable(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                          int64_t i, int64_t j0, int64_t cols);

/* The portable epilogue, the specification of tpf_finish_fn. */
void tpf_gemm_finish_portable(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc,
                              int64_t i0, int64_t rows, int64_t j0, int64_t cols);

/* One thread's packing buffers and fp32 accumulator. */
typedef struct tpf_gemm_thread_space {
  void *a_pack; /* mc x kc of A */
  void *b_pack; /* one panel (kc x nr) or chunk (kc x nc) of B, when B is not kept */
  float *c_acc; /* fp32 sums: mc x (nc + pad), or a short block's group */
  void *a_slices; /* a block's mc x kc slices of A for every k panel, packed
                     once for all its groups (see tpf_gemm_set_b) */
  size_t a_slices_capacity;
} tpf_gemm_thread_space_t;

/* What one caller (a rank, or the process for tpf_gemm) keeps: the ISA, a
 * pool of compute threads, their buffers, and the packed B. Buffers are
 * sized by the kernels' blocking at init; the packed B and the slices of A
 * grow to the largest k x n seen (tpf_gemm_set_b) and are then reused. */
typedef struct tpf_gemm_engine {
  const tpf_gemm_isa_t *isa;
  tpf_pool_t *pool;
  tpf_gemm_thread_space_t *spaces; /* one per thread */
  /* the B of the following multiplies */
  const tpf_gemm_kernel_t *kernel; /* for B's dtype */
  int64_t k, n;
  tpf_gemm_operand_t b;
  int keep;         /* keep a packed copy for later multiplies */
  int packed_ready; /* the kept copy is complete */
  void *packed;
  size_t packed_capacity;
  /* NULL, or called by the calling thread after each block of the output it
   * finishes: a message transport drives its transfers there while the
   * product runs. */
  void (*progress)(void *arg);
  void *progress_arg;
} tpf_gemm_engine_t;

tpf_status_t tpf_gemm_engine_init(tpf_gemm_engine_t *e, const tpf_gemm_isa_t *isa, int threads);
void tpf_gemm_engine_free(tpf_gemm_engine_t *e);
int tpf_gemm_engine_threads(const tpf_gemm_engine_t *e);

/* Sets the (k x n) B of the following multiplies (k, n >= 1; its memory
 * must stay unchanged until the last of them). keep = 1 when B will be
 * multiplied by more than one block of mc rows in all: a packed copy is then
 * kept (the buffer grows to the largest B seen; TPF_ERR_NOMEM if it cannot);
 * keep = 0 streams B through a small buffer, reading it exactly once per
 * multiply. */
tpf_status_t tpf_gemm_set_b(tpf_gemm_engine_t *e, int64_t k, int64_t n, const tpf_gemm_operand_t *b,
                            int keep);

/* Whether multiplying m rows by B in one call would use B more than once. */
int tpf_gemm_reuses_b(const tpf_gemm_engine_t *e, tpf_dtype_t dtype, int64_t m);

/* The most rows of A the kernel for `dtype` packs in one block: a product
 * streams B once per block of rows. */
int64_t tpf_gemm_block_rows(const tpf_gemm_engine_t *e, tpf_dtype_t dtype);

/* The m x n result of (m x k) A, in B's dtype, times the packed B. m >= 0.
 * Allocates nothing. */
void tpf_gemm_multiply(tpf_gemm_engine_t *e, int64_t m, const tpf_gemm_operand_t *a,
                       const tpf_gemm_epilogue_t *epi);

#endif
