/* The reduce-scatter's schedules, for the operators built on them
 * (AllReduce: a reduce-scatter, then an all-gather). */
#ifndef TPF_OPS_REDUCE_SCATTER_H
#define TPF_OPS_REDUCE_SCATTER_H

#include "comm.h"
#include "copy_choice.h"

/* One reduce-scatter: this rank's input, its block of the output, how. */
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

/* Chunks per owner block for comm_turn (0 = automatic); `staged`: the
 * ranks stage their rows through slots (not read in place). */
int tpf_rsc_chunks(int comm_turn, int64_t max_block_rows, int64_t n, tpf_dtype_t dtype, int staged);

/* The bytes of this rank's buffer and the message requests it uses. Local. */
size_t tpf_rsc_bytes(const tpf_comm_t *comm, const tpf_rsc_problem_t *p);
int tpf_rsc_requests(const tpf_comm_t *comm, const tpf_rsc_problem_t *p);

/* The schedule, once every rank has agreed (the peers' inputs are found
 * through their fingerprints' in_addr and in_ld). Sums may stream into
 * out: fence before out is handed to anyone. */
tpf_status_t tpf_rsc_schedule(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

#endif
