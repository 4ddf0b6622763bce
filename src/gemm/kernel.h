/* The micro-kernel contract and the registry that picks kernels at run time.
 *
 * A micro-kernel computes one mr x nr tile of C over a k panel of kb steps:
 *   c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum_p A[i][p] * B[p][j]
 * from packed panels, always a full tile of the fp32 accumulator (edge
 * panels are zero-padded, and the epilogue clips). The panel format depends
 * on the kernel:
 *   TPF_PACK_F32:        A panel a[p * mr + i], B panel b[p * ldb + j], fp32;
 *   TPF_PACK_BF16_PAIRS: k in pairs (padded to even with zeros):
 *                        A panel a[(q * mr + i) * 2 + h] = A[i][2q + h],
 *                        B panel b[q * ldb + j * 2 + h] = B[2q + h][j], bf16;
 *   TPF_PACK_BF16_TILES: k padded to a multiple of 32 with zeros (pk):
 *                        A panel a[i * pk + p] = A[i][p] (rows, as tiles load them),
 *                        B panel as for pairs, bf16.
 * ldb is nr (2 * nr for pairs): the engine always packs B, by the packer
 * or by the first tile (tpf_ukernel_packing_fn; the kernels take ldb so
 * that they need not assume it). b need not be aligned.
 * A kernel sums over p in increasing order (pairs, for the bf16 format), so
 * its results depend only on k and kc, never on m, n or the rows computed.
 *
 * While it computes, a kernel may bring toward the cache the bytes the
 * engine reads next (the source of the next panel of B, or its packed
 * copy): a hint, which a kernel may ignore. */
#ifndef TPF_GEMM_KERNEL_H
#define TPF_GEMM_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "tpfuse.h"

typedef enum tpf_pack_format { TPF_PACK_F32, TPF_PACK_BF16_PAIRS, TPF_PACK_BF16_TILES } tpf_pack_format_t;

typedef struct tpf_gemm_operand tpf_gemm_operand_t;

/* Lines to prefetch in the kernel's k loop (a step is one k, or one pair
 * of k for the pairs format): at step s < steps, the two lines from
 * at + s * stride and the two from at + s * stride + second. */
typedef struct tpf_prefetch {
  const char *at;
  int64_t stride, second, steps;
} tpf_prefetch_t;

typedef void (*tpf_ukernel_fn)(int64_t kb, const void *a, const void *b, int64_t ldb, float *c,
                               int64_t ldc, int accumulate, tpf_prefetch_t next);

/* The same tile and sums, but B's kb rows (pairs of rows, for the pairs
 * format) are read where they are, at src, ld elements of dtype t apart,
 * and the kernel also writes them to the packed panel at dst (nr columns,
 * ldb as above, converted as the packer would) for the tiles that follow:
 * the first tile of a panel packs it while it computes, instead of a pass
 * of its own before. */
typedef void (*tpf_ukernel_packing_fn)(int64_t kb, const void *a, const void *src, int64_t ld, tpf_dtype_t t,
                                       void *dst, float *c, int64_t ldc, int accumulate, tpf_prefetch_t next);

typedef struct tpf_gemm_epilogue tpf_gemm_epilogue_t;

/* The epilogue on rows x cols of the fp32 accumulator acc (leading dimension
 * ldc), which hold C[i0 .., j0 ..]: the same IEEE operations in the same
 * order whatever the ISA, so every ISA's epilogue gives the same bits. */
typedef void (*tpf_finish_fn)(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc,
                              int64_t i0, int64_t rows, int64_t j0, int64_t cols);

/* The sums of the reduce-scatter, one row: columns [j0, j0 + cols) of row
 * i of the epilogue's output are the fp32 sum of `sources` rows in dtype t
 * (src[q] is source q's column 0; values converted exactly), added in the
 * order q = 0, 1, ..., then finished as `finish` does (epi->addend is not
 * used): of two or more fp32 sources, the last is added as the addend is,
 * after the others. Every ISA's gives the same bits: those of summing the
 * sources into an fp32 row (tpf_accumulate_portable) and finishing it. */
typedef void (*tpf_sum_row_fn)(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                               int64_t i, int64_t j0, int64_t cols);

/* Packs rows [i0, i0+rows) x k [p0, p0+kb) of A into panels of mr rows. */
typedef void (*tpf_pack_a_fn)(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows,
                              int64_t p0, int64_t kb, int mr);
/* Packs k [p0, p0+kb) x columns [j0, j0+cols) of B, cols <= nr, into one
 * panel of nr columns (zero-padded): the engine packs a panel at a time. */
typedef void (*tpf_pack_b_fn)(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb,
                              int64_t j0, int64_t cols, int nr);

/* Rows [p0, p0 + rows) of `panels` whole panels (nr columns each) of a
 * plain B from column j0, into the F32 format: row p of panel q at
 * dst + q * panel_elems + (p - p0) * nr floats. Reads B along its rows, in
 * runs of panels * nr elements, which the hardware prefetchers follow
 * (a panel at a time reads one short run per row). */
typedef void (*tpf_pack_b_rows_fn)(void *dst, int64_t panel_elems, const tpf_gemm_operand_t *b, int64_t p0,
                                   int64_t rows, int64_t j0, int64_t panels);

typedef struct tpf_gemm_kernel {
  const char *name;
  tpf_pack_format_t format;
  int mr, nr;   /* register tile */
  int64_t kc;   /* k per panel (even for the bf16 format): fixes the sums' order */
  int64_t mc;   /* rows of A per packed block; a multiple of mr */
  int64_t nc;   /* columns per block; a multiple of nr */
  int flushes_subnormals; /* 1: subnormal products and sums become zero (the
                             bf16 dot instruction does so), an absolute error
                             of at most k * 2^-126 per element */
  tpf_ukernel_fn ukernel;
  tpf_pack_a_fn pack_a;
  tpf_pack_b_fn pack_b;
  tpf_finish_fn finish;
  tpf_sum_row_fn sum_row;
  /* NULL, or a kernel with fewer rows (same format, nr and kc, so the same
   * packed B, and the same sums, so the same bits) for the rows of a block
   * that tall tiles would pad: the engine cuts each block of rows into the
   * mix of both with the fewest padded rows */
  const struct tpf_gemm_kernel *narrow;
  /* NULL, or the micro-kernel that packs the panel of B as it multiplies
   * it (see tpf_ukernel_packing_fn), for a plain B's whole panels (whole
   * pairs of k, for the pairs format) */
  tpf_ukernel_packing_fn ukernel_packing;
  /* NULL, or (F32 format) the packer of several panels at once, row by
   * row (tpf_pack_b_rows_fn): the engine then packs a plain B a chunk of
   * nc columns at a time (into a strip, or the kept copy) before the
   * chunk's tiles, instead of a panel at a time */
  tpf_pack_b_rows_fn pack_b_rows;
  /* NULL, or what a compute thread runs before its first tile of a
   * product and after its last (AMX: load the tile configuration, then
   * release the tiles): the kernels of a product, narrow ones included,
   * share it */
  void (*enter)(void);
  void (*leave)(void);
} tpf_gemm_kernel_t;

/* Copies `bytes` from src to dst, a buffer that another core reads next
 * and had read before (the staged reduce-scatter's slots): as memcpy, but
 * an ISA may claim dst's lines for writing ahead of its stores, so that the
 * other core's copies are invalidated many at a time instead of one store
 * miss at a time. With `stream`, an ISA that has streaming stores writes
 * dst past the caches, fenced before it returns: the other core then reads
 * dst from memory instead of from this core's cache (the faster way where
 * the two caches are far apart); others copy as without it. */
typedef void (*tpf_hand_over_fn)(void *dst, const void *src, size_t bytes, int stream);

/* An instruction set: the kernel it uses for each input dtype, and its
 * hand-over copy. The table also serves the reductions outside the GEMM:
 * the reduce-scatter's copies (hand_over), row sums (a kernel's
 * `sum_row`) and epilogue (`finish`) come from here, so that one choice
 * per process (TPF_ISA, or the best the CPU runs) picks all per-CPU code. */
typedef struct tpf_gemm_isa {
  const char *name;
  unsigned cpu_needs; /* tpf_cpu_feature_t bits */
  const tpf_gemm_kernel_t *for_dtype[3]; /* indexed by tpf_dtype_t */
  tpf_hand_over_fn hand_over;
} tpf_gemm_isa_t;

/* The ISA chosen once for this process (TPF_ISA, else the best this CPU
 * runs); an error, recorded, if TPF_ISA cannot be honoured. */
tpf_status_t tpf_gemm_isa_select(const tpf_gemm_isa_t **isa);

/* The ISA called `name`, if built and runnable here; else TPF_ERR_INVALID
 * (no such ISA) or TPF_ERR_UNSUPPORTED (this CPU lacks it), recorded with
 * `source` (e.g. "TPF_ISA") as the setting's name. */
tpf_status_t tpf_gemm_isa_find(const char *name, const char *source, const tpf_gemm_isa_t **isa);

/* Bytes of one packed element of a format (per row and k step). */
static inline int64_t tpf_pack_bytes(tpf_pack_format_t f) { return f == TPF_PACK_F32 ? 4 : 2; }

/* kb rounded up to the format's k granularity. */
static inline int64_t tpf_pack_k(tpf_pack_format_t f, int64_t kb) {
  return f == TPF_PACK_F32 ? kb : f == TPF_PACK_BF16_PAIRS ? (kb + 1) / 2 * 2 : (kb + 31) / 32 * 32;
}

#endif
