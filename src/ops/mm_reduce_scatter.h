/* MatmulReduceScatter's schedules (mm_reduce_scatter.c), for the
 * operators built on them (MatmulAllReduce: a reduce-scatter of the
 * products, then an all-gather) and for its tests. */
#ifndef TPF_OPS_MM_REDUCE_SCATTER_H
#define TPF_OPS_MM_REDUCE_SCATTER_H

#include <stdint.h>

#include "comm.h"

/* One MatmulReduceScatter: the product, the split, this rank's block of
 * the output, how. */
typedef struct tpf_rs_problem {
  int64_t m, n, k;
  tpf_gemm_operand_t a, b;
  const int64_t *row_offsets; /* size + 1 entries: rank q owns [off[q], off[q+1]) */
  float divisor;              /* 1 for sum, W for avg */
  const float *bias;          /* n fp32 values, or NULL */
  void *out;                  /* this rank's rows x n */
  tpf_dtype_t out_dtype;
  int64_t out_ld;
  int chunks;                 /* per owner block, >= 1 */
  tpf_algo_t algo;            /* TPF_ALGO_RING, TPF_ALGO_DIRECT or TPF_ALGO_UNFUSED */
  tpf_trace_t *trace;         /* NULL, or where to log events */
  /* MatmulAllReduce's per-rank terms, added to this rank's own partial
   * (the exchange schedules only): an m x n addend in a's dtype, an fp32
   * bias of n. */
  const void *addend;
  int64_t addend_ld;
  const float *rank_bias;
  /* NULL, or told of each chunk c of this rank's own block, in order, once
   * it is final in out and the schedule puts nothing more (ring and
   * unfused: as each is made; direct: after its last put) */
  tpf_status_t (*chunk_done)(void *arg, int c);
  void *chunk_arg;
} tpf_rs_problem_t;

/* Chunks per owner block for comm_turn (0 = automatic). */
int tpf_mm_rs_chunks(int comm_turn, int64_t max_block_rows, int64_t n, int64_t k);

/* Whether the schedule multiplies B more than once (more than one chunk,
 * or more rows than one GEMM block), so that a packed B should be kept. */
int tpf_mm_rs_keeps_b(const tpf_gemm_engine_t *gemm, const tpf_rs_problem_t *p, int size);

/* The bytes of this rank's buffer and the message requests the schedule
 * uses. Local. */
size_t tpf_mm_rs_bytes(const tpf_comm_t *comm, const tpf_rs_problem_t *p);
int tpf_mm_rs_requests(const tpf_comm_t *comm, const tpf_rs_problem_t *p);

/* The schedule of p->algo, once every rank has agreed. Sums may stream
 * into out: fence before out is handed to anyone. */
tpf_status_t tpf_mm_rs_schedule(tpf_comm_t *comm, const tpf_rs_problem_t *p);

#endif
