/* AllReduce: a reduce-scatter of the inputs into every rank's own rows of
 * out (reduce_scatter.h: sums in fp32 in the ring's order, rounded once), then
 * an all-gather of those rows from every rank's out (all_gather.h). Each
 * row is summed by one rank only, so every rank holds the same bits. Rows
 * are split as evenly as m allows (or by opt->row_counts). The buffer
 * serves each half in turn. */
#include <string.h>

#include "agree.h"
#include "all_gather.h"
#include "common/half.h"
#include "common/status.h"
#include "gemm/gemm.h"
#include "operator.h"
#include "reduce_scatter.h"
#include "split.h"

typedef struct tpf_ar_problem {
  tpf_rsc_problem_t reduce;
  tpf_gather_t gather;
} tpf_ar_problem_t;

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  tpf_ar_problem_t *p = problem;
  tpf_status_t st = tpf_rsc_schedule(comm, &p->reduce);
  if (st == TPF_OK) st = tpf_gather_run(comm, &p->gather);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence();
  return st != TPF_OK ? st : agreed;
}

static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *in, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_fingerprint_t *mine) {
  tpf_span_t si, so, sbias;
  tpf_status_t s;
  if ((s = tpf_check_matrix("in", in, 0, &si)) != TPF_OK) return s;
  if (in->transposed) return tpf_fail(TPF_ERR_INVALID, "in.transposed=1: the input must be a row-major view");
  if ((s = tpf_check_product("in", in->rows, in->cols)) != TPF_OK) return s;
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if ((s = tpf_check_matrix("out", out, 0, &so)) != TPF_OK) return s;
  if (out->transposed) return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (out->dtype != in->dtype)
    return tpf_fail(TPF_ERR_INVALID, "out is %s but in is %s: the result has in's dtype", tpf_dtype_name(out->dtype),
                    tpf_dtype_name(in->dtype));
  if (out->rows != in->rows || out->cols != in->cols)
    return tpf_fail(TPF_ERR_INVALID, "out is %lld x %lld but in is %lld x %lld", (long long)out->rows,
                    (long long)out->cols, (long long)in->rows, (long long)in->cols);
  if ((s = tpf_split_rows(comm, o->row_counts, in->rows, 1)) != TPF_OK) return s;
  if ((s = tpf_check_bias(o, in->cols, in->dtype, &sbias)) != TPF_OK) return s;
  if ((s = tpf_check_apart("out", so, 2, (tpf_span_t[]){si, sbias}, (const char *[]){"in", "the bias"})) != TPF_OK)
    return s;
  tpf_record_spans(mine, (tpf_span_t[]){so, {0, 0}}, (tpf_span_t[]){si, sbias, {0, 0}, {0, 0}});
  return TPF_OK;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  const tpf_matrix_t *in = call->a, *out = call->out;
  tpf_ar_problem_t *p = problem;
  memset(p, 0, sizeof *p);
  tpf_status_t s = check(comm, in, out, o, mine);
  if (s != TPF_OK) return s;
  const int W = comm->size, r = comm->rank;
  const int64_t largest = tpf_largest_block(comm->row_offsets, W), out_ld = tpf_matrix_ld(out);
  const size_t es = tpf_dtype_size(in->dtype);
  void *own_rows = (char *)out->data + (size_t)(comm->row_offsets[r] * out_ld) * es;
  p->reduce = (tpf_rsc_problem_t){
      .m = in->rows, .n = in->cols, .in = in->data, .dtype = in->dtype, .in_ld = tpf_matrix_ld(in),
      .row_offsets = comm->row_offsets, .divisor = o->reduce_op == TPF_AVG ? (float)W : 1.0f, .out = own_rows,
      .out_ld = out_ld, .chunks = tpf_rsc_chunks(o->comm_turn, largest, in->cols, in->dtype, comm->reach == TPF_REACH_SHARED),
      .trace = o->trace, .copy_choice = state};
  p->gather = (tpf_gather_t){.in = own_rows, .in_ld = out_ld, .out = out->data, .out_ld = out_ld, .cols = out->cols,
                             .dtype = out->dtype, .offsets = comm->row_offsets,
                             .chunks = tpf_gather_chunks(o->comm_turn, largest, out->cols, out->dtype,
                                                         comm->reach == TPF_REACH_SHARED),
                             .from_out = 1, .stream_out = tpf_gather_streams(out->rows * out_ld * (int64_t)es),
                             .slots = TPF_GATHER_SLOTS, .trace = o->trace};
  *plan = (tpf_plan_t){.n = in->cols, .dtype = in->dtype, .bias = &p->reduce.bias};
  mine->m = in->rows, mine->n = in->cols;
  mine->in_addr = (uint64_t)(uintptr_t)in->data, mine->in_ld = p->reduce.in_ld;
  mine->out_addr = (uint64_t)(uintptr_t)out->data, mine->out_ld = out_ld;
  const size_t reduce_bytes = tpf_rsc_bytes(comm, &p->reduce), gather_bytes = tpf_gather_bytes(comm, &p->gather);
  const int reduce_requests = tpf_rsc_requests(comm, &p->reduce), gather_requests = tpf_gather_requests(comm, &p->gather);
  return tpf_links_reserve(&comm->links, reduce_bytes > gather_bytes ? reduce_bytes : gather_bytes,
                           reduce_requests > gather_requests ? reduce_requests : gather_requests);
}

_Static_assert(sizeof(tpf_ar_problem_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_all_reduce = {.kind = TPF_OP_ALL_REDUCE,
                                          .name = "tpf_all_reduce",
                                          .state_bytes = sizeof(tpf_copy_choice_t),
                                          .reads = {"in", "bias", "(nothing)", "(nothing)"},
                                          .writes = {"out", "(nothing)"},
                                          .prepare = prepare,
                                          .run = run};
