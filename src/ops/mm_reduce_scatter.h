/* MatmulReduceScatter's schedules: the fused ring, direct, and the unfused
 * baseline, over the links. */
#ifndef TPF_OPS_MM_REDUCE_SCATTER_H
#define TPF_OPS_MM_REDUCE_SCATTER_H

#include "comm.h"

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
} tpf_rs_problem_t;

/* Chunks per owner block for comm_turn (0 = automatic). */
int tpf_mm_rs_chunks(int comm_turn, int64_t max_block_rows, int64_t n, int64_t k);

/* Whether the schedule multiplies B more than once (more than one chunk,
 * or more rows than one GEMM block), so that a packed B should be kept. */
int tpf_mm_rs_keeps_b(const tpf_gemm_engine_t *gemm, const tpf_rs_problem_t *p, int size);

/* Reserves this rank's buffer (and requests, over messages) for the
 * problem, with its algo and chunks set. Local. */
tpf_status_t tpf_mm_rs_reserve(tpf_comm_t *comm, const tpf_rs_problem_t *p);

/* Runs the collective part: every rank calls it after a successful
 * exchange, with the same problem up to its own pointers, and with B
 * already packed in comm->gemm. */
tpf_status_t tpf_mm_rs_run(tpf_comm_t *comm, const tpf_rs_problem_t *p);

#endif
