/* MatmulReduceScatter as an operator (operator.h): its rules, its plan
 * (the algorithm, the chunks, the buffers, B kept or not); its schedules
 * are in mm_reduce_scatter.c. */
#include "cost.h"
#include "mm_reduce_scatter.h"
#include "operator.h"
#include "split.h"

#include <string.h>

#include "common/half.h"
#include "common/status.h"

/* Every local rule of tpf_mm_reduce_scatter; on success fills the problem
 * (except algo and chunks) and the spans of the fingerprint. */
static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_rs_problem_t *p, tpf_fingerprint_t *mine) {
  tpf_span_t sa, sb, so, sbias = {0, 0};
  tpf_status_t s;
  if ((s = tpf_check_matrix("a", a, 1, &sa)) != TPF_OK) return s;
  if ((s = tpf_check_matrix("b", b, 1, &sb)) != TPF_OK) return s;
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if (b->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "b is %s but a is %s: they must have one dtype",
                    tpf_dtype_name(b->dtype), tpf_dtype_name(a->dtype));
  if (b->rows != a->cols)
    return tpf_fail(TPF_ERR_INVALID, "b has %lld rows but a has %lld columns", (long long)b->rows,
                    (long long)a->cols);
  if ((s = tpf_check_product("the product a @ b", a->rows, b->cols)) != TPF_OK) return s;
  if ((s = tpf_check_product("b", b->rows, b->cols)) != TPF_OK) return s;
  if ((s = tpf_split_rows(comm, o->row_counts, a->rows)) != TPF_OK) return s;
  int64_t owned = comm->row_offsets[comm->rank + 1] - comm->row_offsets[comm->rank];
  if ((s = tpf_check_matrix("out", out, owned == 0 ? 0 : 1, &so)) != TPF_OK) return s;
  if (out->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "out is %s but a is %s: the result has a's dtype",
                    tpf_dtype_name(out->dtype), tpf_dtype_name(a->dtype));
  if (out->transposed)
    return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (out->rows != owned)
    return tpf_fail(TPF_ERR_INVALID, "out has %lld rows but rank %d owns %lld of m=%lld",
                    (long long)out->rows, comm->rank, (long long)owned, (long long)a->rows);
  if (out->cols != b->cols)
    return tpf_fail(TPF_ERR_INVALID, "out has %lld columns but b has %lld", (long long)out->cols,
                    (long long)b->cols);
  if ((s = tpf_check_bias(o, b->cols, a->dtype, &sbias)) != TPF_OK) return s;
  if (tpf_spans_overlap(so, sa)) return tpf_fail(TPF_ERR_INVALID, "out overlaps a in memory");
  if (tpf_spans_overlap(so, sb)) return tpf_fail(TPF_ERR_INVALID, "out overlaps b in memory");
  if (tpf_spans_overlap(so, sbias)) return tpf_fail(TPF_ERR_INVALID, "out overlaps the bias in memory");
  tpf_record_spans(mine, so, sa, sb, sbias);

  p->m = a->rows;
  p->n = b->cols;
  p->k = a->cols;
  p->a = (tpf_gemm_operand_t){a->data, a->dtype, tpf_matrix_ld(a), a->transposed};
  p->b = (tpf_gemm_operand_t){b->data, b->dtype, tpf_matrix_ld(b), b->transposed};
  p->row_offsets = comm->row_offsets;
  p->divisor = o->reduce_op == TPF_AVG ? (float)comm->size : 1.0f;
  p->out = out->data;
  p->out_dtype = out->dtype;
  p->out_ld = tpf_matrix_ld(out);
  return TPF_OK;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  (void)state;
  tpf_rs_problem_t *p = problem;
  memset(p, 0, sizeof *p);
  tpf_status_t s = check(comm, call->a, call->b, call->out, o, p, mine);
  if (s != TPF_OK) return s;
  const int64_t largest = tpf_largest_block(comm->row_offsets, comm->size);
  p->chunks = tpf_mm_rs_chunks(o->comm_turn, largest, p->n, p->k);
  const tpf_mm_rs_shape_t shape = {.m = p->m, .n = p->n, .k = p->k, .world = comm->size, .dtype = p->a.dtype,
                                   .reach = comm->reach, .chunks = p->chunks, .largest_block = largest,
                                   .gemm_rows = tpf_gemm_block_rows(&comm->gemm, p->a.dtype)};
  p->algo = tpf_mm_rs_choose(&tpf_costs, o->algo != TPF_ALGO_AUTO ? o->algo : comm->algo, &shape);
  p->trace = o->trace;
  *plan = (tpf_plan_t){.n = p->n, .dtype = p->a.dtype, .bias = &p->bias, .b = &p->b, .k = p->k,
                       .keep_b = tpf_mm_rs_keeps_b(&comm->gemm, p, comm->size)};
  mine->m = p->m, mine->n = p->n, mine->k = p->k;
  mine->algo = (int32_t)p->algo;
  return tpf_mm_rs_reserve(comm, p);
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) { return tpf_mm_rs_run(comm, problem); }

const tpf_operator_t tpf_op_mm_reduce_scatter = {
    .kind = TPF_OP_MM_REDUCE_SCATTER, .reads = {"a", "b", "bias"}, .prepare = prepare, .run = run};
