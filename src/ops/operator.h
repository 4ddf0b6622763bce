/* An operator as data, and the one pipeline every operator call runs.
 *
 * A public entry point fills a tpf_call_t and hands it, with its operator's
 * const table, to tpf_pipeline: local checks and the plan (the operator's
 * `prepare`: its rules, the split of rows, the algorithm, the chunks, its
 * buffers), the row scratch, the bias in fp32, B to the GEMM engine, the
 * fingerprint, the agreement of the ranks, the aliasing rule of ranks that
 * share an address space, then the operator's `run`. A rank whose own
 * checks fail still takes part in the agreement, so that its peers fail at
 * once. Adding an operator: one file with its table, its prepare and its
 * schedules; its entry point; its tests. */
#ifndef TPF_OPS_OPERATOR_H
#define TPF_OPS_OPERATOR_H

#include "check.h"
#include "comm.h"
#include "fingerprint.h"

/* What the caller passed: inputs (the collectives' `in` is a), the
 * outputs (AllGatherMatmul's gathered a is out2), the options (NULL:
 * defaults). */
typedef struct tpf_call {
  const tpf_matrix_t *a, *b;
  tpf_matrix_t *out, *out2;
  const tpf_mm_options_t *opt;
} tpf_call_t;

/* What the pipeline needs of an operator's plan. */
typedef struct tpf_plan {
  int64_t n;                    /* output columns: the bias's and a row of sums' length */
  tpf_dtype_t dtype;            /* the inputs' (and the bias's) */
  const float **bias;           /* where the operator's problem takes the fp32 bias */
  const tpf_gemm_operand_t *b;  /* NULL, or B to hand to the GEMM engine, of k x n */
  int64_t k;
  int keep_b;                   /* whether the engine keeps the packed B */
} tpf_plan_t;

typedef struct tpf_operator {
  tpf_op_kind_t kind;
  const char *name; /* the public entry point's */
  /* whether it takes opt->addend and opt->bias_per_rank */
  int per_rank_terms;
  /* bytes of state the operator keeps between calls on a communicator
   * (zeroed at its first call), or 0 */
  size_t state_bytes;
  /* what each span of the fingerprint's `reads` is, for the aliasing words */
  const char *reads[TPF_FINGERPRINT_READS];
  const char *writes[TPF_FINGERPRINT_WRITES];
  /* Every local rule, the plan and the buffers: fills `problem` (the
   * operator's own type, which may point at `state`), *plan and the
   * fingerprint's operator fields (m, n, k, algo, spans, ...). TPF_OK, or
   * the rejection, recorded. */
  tpf_status_t (*prepare)(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                          void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine);
  /* The schedule, once every rank has agreed. */
  tpf_status_t (*run)(tpf_comm_t *comm, void *problem);
} tpf_operator_t;

/* Each in the file of its name, with its schedules. */
extern const tpf_operator_t tpf_op_mm_reduce_scatter, tpf_op_reduce_scatter, tpf_op_all_gather, tpf_op_all_reduce,
    tpf_op_all_gather_mm, tpf_op_mm_all_reduce;

/* The most bytes of an operator's problem (each file checks its own). */
enum { TPF_PROBLEM_BYTES = 512 };

/* Runs a call of `op` on comm. */
tpf_status_t tpf_pipeline(tpf_comm_t *comm, const tpf_operator_t *op, const tpf_call_t *call);

/* Steps the operators share. */
/* The options a caller of any size passed (defaults for what it does not
 * know), checked. */
tpf_status_t tpf_read_options(const tpf_mm_options_t *opt, tpf_mm_options_t *o);
/* comm->row_offsets from row_counts (or the even split of m, which must
 * divide by W unless `any_m`: then the blocks differ by
 * at most one row): W + 1 offsets. */
tpf_status_t tpf_split_rows(tpf_comm_t *comm, const int64_t *counts, int64_t m, int any_m);
/* The bias of n elements of dtype t (its length, if given); its span. */
tpf_status_t tpf_check_bias(const tpf_mm_options_t *o, int64_t n, tpf_dtype_t t, tpf_span_t *span);
/* TPF_ERR_INVALID ("<what> overlaps <names[i]> in memory") for the first of
 * `count` spans that `span` shares a byte with; else TPF_OK. */
tpf_status_t tpf_check_apart(const char *what, tpf_span_t span, int count, const tpf_span_t *others,
                             const char *const *names);
/* The bytes a call writes and reads, in its fingerprint (in the order of
 * the operator's `writes` and `reads` names; {0, 0}: none). */
void tpf_record_spans(tpf_fingerprint_t *f, const tpf_span_t writes[TPF_FINGERPRINT_WRITES],
                      const tpf_span_t reads[TPF_FINGERPRINT_READS]);

#endif
