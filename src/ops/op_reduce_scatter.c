/* ReduceScatter as an operator (operator.h): its rules and its plan (the
 * chunks, the buffers); its schedules are in reduce_scatter.c. */
#include "operator.h"
#include "reduce_scatter.h"
#include "split.h"

#include <string.h>

#include "common/half.h"
#include "common/status.h"

/* Every local rule of tpf_reduce_scatter; fills the spans of the
 * fingerprint. */
static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *in, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_fingerprint_t *mine) {
  tpf_span_t si, so, sbias = {0, 0};
  tpf_status_t s;
  if ((s = tpf_check_matrix("in", in, 1, &si)) != TPF_OK) return s;
  if (in->transposed) return tpf_fail(TPF_ERR_INVALID, "in.transposed=1: the input must be a row-major view");
  if ((s = tpf_check_product("in", in->rows, in->cols)) != TPF_OK) return s;
  if ((s = tpf_split_rows(comm, o->row_counts, in->rows)) != TPF_OK) return s;
  const int64_t owned = tpf_block_rows(comm->row_offsets, comm->rank);
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if ((s = tpf_check_matrix("out", out, owned == 0 ? 0 : 1, &so)) != TPF_OK) return s;
  if (out->dtype != in->dtype)
    return tpf_fail(TPF_ERR_INVALID, "out is %s but in is %s: the result has in's dtype", tpf_dtype_name(out->dtype),
                    tpf_dtype_name(in->dtype));
  if (out->transposed) return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (out->rows != owned || out->cols != in->cols)
    return tpf_fail(TPF_ERR_INVALID, "out is %lld x %lld but rank %d owns %lld rows of %lld columns",
                    (long long)out->rows, (long long)out->cols, comm->rank, (long long)owned, (long long)in->cols);
  if ((s = tpf_check_bias(o, in->cols, in->dtype, &sbias)) != TPF_OK) return s;
  if (tpf_spans_overlap(so, si)) return tpf_fail(TPF_ERR_INVALID, "out overlaps in in memory");
  if (tpf_spans_overlap(so, sbias)) return tpf_fail(TPF_ERR_INVALID, "out overlaps the bias in memory");
  tpf_record_spans(mine, so, si, sbias, (tpf_span_t){0, 0});
  return TPF_OK;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  const tpf_matrix_t *in = call->a, *out = call->out;
  tpf_rsc_problem_t *p = problem;
  memset(p, 0, sizeof *p);
  tpf_status_t s = check(comm, in, out, o, mine);
  if (s != TPF_OK) return s;
  const int chunks = tpf_rsc_chunks(o->comm_turn, tpf_largest_block(comm->row_offsets, comm->size), in->cols,
                                    in->dtype, tpf_rsc_staged(comm));
  *p = (tpf_rsc_problem_t){.m = in->rows, .n = in->cols, .in = in->data, .dtype = in->dtype,
                           .in_ld = tpf_matrix_ld(in), .row_offsets = comm->row_offsets,
                           .divisor = o->reduce_op == TPF_AVG ? (float)comm->size : 1.0f, .out = out->data,
                           .out_ld = tpf_matrix_ld(out), .chunks = chunks, .trace = o->trace,
                           .copy_choice = state};
  *plan = (tpf_plan_t){.n = p->n, .dtype = p->dtype, .bias = &p->bias};
  mine->m = p->m, mine->n = p->n;
  mine->in_addr = (uint64_t)(uintptr_t)in->data; /* for peers that read it in place */
  mine->in_ld = p->in_ld;
  return tpf_rsc_reserve(comm, p);
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) { return tpf_rsc_run(comm, problem); }

const tpf_operator_t tpf_op_reduce_scatter = {
    .kind = TPF_OP_REDUCE_SCATTER,
    .state_bytes = sizeof(tpf_copy_choice_t), /* (the staged path's copies) */
    .reads = {"in", "bias", "(nothing)"},
    .prepare = prepare,
    .run = run};
