/* The standalone reduce-scatter: the communication half of
 * MatmulReduceScatter on its own (and the baseline of the unfused path). */
#ifndef TPF_OPS_REDUCE_SCATTER_H
#define TPF_OPS_REDUCE_SCATTER_H

#include "comm.h"
#include "copy_choice.h"
#include "sums.h"

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
  tpf_copy_choice_t *copy_choice; /* the staged path's, learnt over calls */
} tpf_rsc_problem_t;

/* Chunks per owner block for comm_turn (0 = automatic); `staged`: as
 * tpf_rsc_staged says. */
int tpf_rsc_chunks(int comm_turn, int64_t max_block_rows, int64_t n, tpf_dtype_t dtype, int staged);

/* Whether the ranks stage their inputs through small shared slots
 * (processes over shared memory, MPI ranks all on one host) rather than
 * reading them in place (threads) or sending messages. The same on every
 * rank. */
int tpf_rsc_staged(const tpf_comm_t *comm);

/* Reserves this rank's buffer (and requests, over messages). Local. */
tpf_status_t tpf_rsc_reserve(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

/* Runs the collective; every rank calls it after a successful exchange. */
tpf_status_t tpf_rsc_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

#endif
