/* Summing rows of W sources in fp32 in the ring's order, and finishing them
 * (the GEMM's epilogue: divide, add the bias, round once): the reduction
 * that every schedule shares. A leaf of ops/: it needs only the
 * communicator's GEMM engine (for the ISA's row sums and epilogue) and its
 * row_sources. */
#ifndef TPF_OPS_SUMS_H
#define TPF_OPS_SUMS_H

#include "comm.h"

/* Sums rows [first, first + rows) of this rank's block from W sources
 * (src[q] from rank q, leading dimension src_ld[q], in src_dtype) in fp32
 * in the ring's order: q = r + 1, r + 2, ..., W - 1, 0, ..., r (r =
 * comm->rank, the owner, last), the order in which the ring schedule of
 * MatmulReduceScatter adds the block on its way round, so that every
 * algorithm gives the same bits on any input. It finishes them with
 * `final` (divide, add the bias, round once into final->out, of `rows`
 * rows; its addend is not used), in one pass over each row: the ISA's
 * sum_row (tpf_sum_row_fn), or for fp32 and W <= 2 its finish with the
 * owner's source as the addend (the same bits). */
void tpf_sum_rows(tpf_comm_t *comm, const void *const *src, const int64_t *src_ld, tpf_dtype_t src_dtype,
                  int64_t first, int64_t rows, int64_t n, const tpf_gemm_epilogue_t *final);

/* The epilogue that finishes summed rows into out (rows of out_ld in
 * out_dtype); `stream`: its stores bypass the caches (see
 * tpf_sum_streams). */
tpf_gemm_epilogue_t tpf_sum_epilogue(float divisor, const float *bias, void *out, tpf_dtype_t out_dtype,
                                     int64_t out_ld, int stream);

/* Whether sums into an output block of `block_bytes` should stream past
 * the caches: in place and on the staged path. (The message schedules do
 * not stream: their sums measured slower streamed, before the epilogue
 * stopped testing each vector's alignment; not measured since.) */
int tpf_sum_streams(int64_t block_bytes);

/* The bytes that `rows` rows of n elements (leading dimension ld) span. */
size_t tpf_span_bytes(int64_t rows, int64_t n, int64_t ld, size_t es);

#endif
