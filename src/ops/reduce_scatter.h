/* The standalone reduce-scatter: the communication half of
 * MatmulReduceScatter on its own (and the baseline of the unfused path). */
#ifndef TPF_OPS_REDUCE_SCATTER_H
#define TPF_OPS_REDUCE_SCATTER_H

#include "comm.h"

typedef struct tpf_rsc_problem {
  int64_t m, n;
  const void *in;            /* this rank's m x n input */
  tpf_dtype_t dtype;
  int64_t in_ld;
  const int64_t *row_offsets; /* size + 1 entries */
  float divisor;             /* 1 for sum, W for avg */
  const float *bias;         /* n fp32 values, or NULL */
  void *out;                 /* this rank's rows x n, in dtype */
  int64_t out_ld;
  int chunks;                /* per owner block, >= 1 */
  tpf_trace_t *trace;        /* NULL, or where to log events */
} tpf_rsc_problem_t;

/* Chunks per owner block for comm_turn (0 = automatic); `staged`: as
 * tpf_rsc_staged says. */
int tpf_rsc_chunks(int comm_turn, int64_t max_block_rows, int64_t n, tpf_dtype_t dtype, int staged);

/* Whether the ranks stage their inputs through small shared slots
 * (processes over shared memory, MPI ranks all on one host) rather than
 * reading them in place (threads) or sending messages. The same on every
 * rank. */
int tpf_rsc_staged(const tpf_comm_t *comm);

/* Bytes of shared buffer each rank needs (over shared memory). */
size_t tpf_rsc_buffer_bytes(const tpf_comm_t *comm, const tpf_rsc_problem_t *p);

/* Sums rows [first, first + rows) of W sources (src[q], leading dimension
 * src_ld[q], in src_dtype) in fp32 in the order q = 0 .. W-1 and finishes
 * them with `final` (divide, add the bias, round once into final->out, of
 * `rows` rows; its addend is not used). Uses comm->row_scratch (n floats,
 * reserved by the caller). */
void tpf_sum_rows(tpf_comm_t *comm, const void *const *src, const int64_t *src_ld, tpf_dtype_t src_dtype,
                  int64_t first, int64_t rows, int64_t n, const tpf_gemm_epilogue_t *final);

/* The epilogue that finishes summed rows into out (rows of out_ld in
 * out_dtype); `stream`: its stores bypass the caches (see
 * tpf_sum_streams), where tpf_sum_rows finishes all rows in one go (fp32
 * sources, W <= 2). */
tpf_gemm_epilogue_t tpf_sum_epilogue(float divisor, const float *bias, void *out, tpf_dtype_t out_dtype,
                                     int64_t out_ld, int stream);

/* Whether sums into an output block of `block_bytes` should stream past
 * the caches: in place and on the staged path. (The message schedules do
 * not stream: their sums measured slower streamed, before the epilogue
 * stopped testing each vector's alignment; not measured since.) */
int tpf_sum_streams(int64_t block_bytes);

/* The bytes that `rows` rows of n elements (leading dimension ld) span. */
size_t tpf_span_bytes(int64_t rows, int64_t n, int64_t ld, size_t es);

/* Where this rank reads rank q's input (which q published in its
 * fingerprint) in place, or NULL: q's input does not lie in memory q
 * shared with this rank (tpf_mem_alloc). */
const void *tpf_rsc_peer_input(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q);

/* Points the sums' source q (comm->peer_scratch and ld_scratch) at this
 * rank's block of `input`, rank q's input as this rank reads it (leading
 * dimension ld). */
void tpf_rsc_source(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q, const void *input, int64_t ld);

/* Reserves this rank's buffer (and requests, over messages). Local. */
tpf_status_t tpf_rsc_reserve(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

/* Reserves comm->row_scratch for rows of n. */
tpf_status_t tpf_reserve_row_scratch(tpf_comm_t *comm, int64_t n);

/* Runs the collective; every rank calls it after a successful exchange. */
tpf_status_t tpf_rsc_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

#endif
