/* Runs one MatmulReduceScatter call on thread ranks with generated inputs
 * and checks every output element against a float64 reference. Used by the
 * `tpfuse` command and by the operator tests; public header only. */
#ifndef TPF_TOOLS_HARNESS_H
#define TPF_TOOLS_HARNESS_H

#include <stdint.h>

#include "tpfuse.h"

/* Where the ranks run (rs_case_t.processes). */
enum { RS_THREADS = 0, RS_SHM = 1, RS_MPI = 2 };

typedef struct rs_case {
  int world_size;
  int64_t m, n, k;
  tpf_dtype_t dtype;
  int a_transposed, b_transposed;
  int64_t ld_pad;            /* extra elements per stored row of a, b and out */
  int bias;                  /* 1: a random bias */
  tpf_reduce_op_t reduce_op;
  int comm_turn;
  const int64_t *row_counts; /* NULL: even split */
  tpf_algo_t algo;
  uint64_t seed;
  int integers;              /* small integers: the result must be exact */
  int reps;                  /* timed calls (>= 1); the last output is verified */
  int timeout_ms;            /* 0: default */
  int threads_per_rank;      /* 0: default */
  int processes;             /* RS_THREADS, RS_SHM (forked processes,
                                tpf_comm_init_rank) or RS_MPI (this process
                                is one rank of MPI_COMM_WORLD) */
  const char *isa;           /* NULL: default */
} rs_case_t;

typedef struct rank_report {
  tpf_status_t status;
  char error[512];
  int64_t rows;           /* rows this rank owns */
  double max_abs_error;   /* largest |out - reference| */
  double worst_ratio;     /* largest error / allowed bound (<= 1 passes) */
  int64_t wrong;          /* elements outside the bound (or not bit-exact) */
  double median_us;       /* median time of one call on this rank */
} rank_report_t;

typedef struct rs_result {
  int world_size;
  rank_report_t *ranks;   /* world_size entries */
  void **outputs;         /* each rank's output as computed (dense, rows x n);
                             under MPI only this process's rank's is kept */
  int local_rank;         /* under MPI, this process's rank; else -1 */
  int passed;             /* every rank TPF_OK and no wrong element */
} rs_result_t;

/* Runs the case; fills *result (free it with rs_result_free). Returns TPF_OK
 * if it could run at all (init succeeded), whatever the ranks returned.
 * Under MPI every process of MPI_COMM_WORLD calls it (MPI initialised),
 * runs and checks its own rank, and gets every rank's report. */
tpf_status_t rs_case_run(const rs_case_t *c, rs_result_t *result);
void rs_result_free(rs_result_t *result);

/* 1 if two results' outputs are identical bit for bit (under MPI, this
 * process's rank's). */
int rs_result_same_bits(const rs_case_t *c, const rs_result_t *x, const rs_result_t *y);

/* Rows owned by rank r. */
int64_t rs_case_rows(const rs_case_t *c, int r);

#endif
