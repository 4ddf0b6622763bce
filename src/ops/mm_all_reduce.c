/* MatmulAllReduce: MatmulReduceScatter's schedules (mm_reduce_scatter.h)
 * into every rank's own rows of out, and an all-gather of those rows from
 * every rank's out (all_gather.h), pipelined chunk by chunk where every
 * peer is reached through memory. Each row is summed by one rank,
 * so every rank holds the same bits, and they are the bits of
 * tpf_mm_reduce_scatter with the same split and algorithm.
 *
 * torch_npu's form adds each rank's addend (x3) and bias to its own
 * partial before the reduction: the exchange schedules (direct, unfused)
 * fold them into the partial's epilogue, so a call with them runs direct
 * where the ring was asked for. The buffer: the reduce-scatter's part,
 * then (pipelined) the gather's. */
#include <string.h>

#include "agree.h"
#include "all_gather.h"
#include "common/half.h"
#include "common/status.h"
#include "cost.h"
#include "gemm/gemm.h"
#include "mm_reduce_scatter.h"
#include "operator.h"
#include "split.h"

typedef struct tpf_mar_problem {
  tpf_rs_problem_t reduce;
  tpf_gather_t gather;
  tpf_comm_t *comm;
  uint32_t reduce_puts; /* the reduce-scatter's puts: the gather's count follows them */
} tpf_mar_problem_t;

/* A chunk of this rank's rows is final: its peers may gather it now. */
static tpf_status_t hand_out_chunk(void *arg, int c) {
  tpf_mar_problem_t *p = arg;
  return tpf_gather_put(p->comm, &p->gather, c, p->reduce_puts);
}

/* The gather of the rows every rank reduced: chunk by chunk during the
 * reduce-scatter where every peer is reached through memory (a rank
 * posts each chunk as soon as it is final, and its peers copy it while it
 * makes the next), else once the reduce-scatter is done. */
static tpf_status_t run_schedule(tpf_comm_t *comm, tpf_mar_problem_t *p) {
  tpf_rs_problem_t *reduce = &p->reduce;
  if (comm->links.messages) {
    tpf_status_t st = tpf_mm_rs_schedule(comm, reduce);
    return st == TPF_OK ? tpf_gather_run(comm, &p->gather) : st;
  }
  const int W = comm->size, N = reduce->chunks;
  p->comm = comm;
  p->reduce_puts = (uint32_t)(reduce->algo == TPF_ALGO_RING ? (W - 1) * N : W * N);
  reduce->chunk_done = hand_out_chunk, reduce->chunk_arg = p;
  tpf_status_t st = tpf_mm_rs_schedule(comm, reduce);
  tpf_links_begin(&comm->links, p->gather.trace);
  for (int s = 1; s < W && st == TPF_OK; s++) {
    const int q = (comm->rank - s + W) % W;
    for (int c = 0; c < N && st == TPF_OK; c++)
      if ((st = tpf_gather_get(comm, &p->gather, q, c, s)) == TPF_OK) tpf_gather_copy_out(comm, &p->gather, q, c);
  }
  return tpf_gather_finish(comm, &p->gather, st);
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  tpf_mar_problem_t *p = problem;
  tpf_status_t st = run_schedule(comm, p);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence();
  return st != TPF_OK ? st : agreed;
}

/* The addend (x3): m x n in a's dtype, row-major. */
static tpf_status_t check_addend(const tpf_matrix_t *x3, const tpf_matrix_t *out, tpf_span_t *span) {
  *span = (tpf_span_t){0, 0};
  if (!x3) return TPF_OK;
  tpf_status_t s = tpf_check_matrix("opt->addend", x3, 0, span);
  if (s != TPF_OK) return s;
  if (x3->transposed) return tpf_fail(TPF_ERR_INVALID, "opt->addend.transposed=1: the addend must be a row-major view");
  if (x3->dtype != out->dtype)
    return tpf_fail(TPF_ERR_INVALID, "opt->addend is %s but a is %s", tpf_dtype_name(x3->dtype),
                    tpf_dtype_name(out->dtype));
  if (x3->rows != out->rows || x3->cols != out->cols)
    return tpf_fail(TPF_ERR_INVALID, "opt->addend is %lld x %lld but out is %lld x %lld", (long long)x3->rows,
                    (long long)x3->cols, (long long)out->rows, (long long)out->cols);
  return TPF_OK;
}

static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_fingerprint_t *mine) {
  tpf_span_t sa, sb, so, sbias, sx3;
  tpf_status_t s;
  if ((s = tpf_check_matrix("a", a, 0, &sa)) != TPF_OK) return s;
  if ((s = tpf_check_matrix("b", b, 1, &sb)) != TPF_OK) return s;
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if ((s = tpf_check_matrix("out", out, 0, &so)) != TPF_OK) return s;
  if (b->dtype != a->dtype || out->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "%s is %s but a is %s: they must have one dtype", b->dtype != a->dtype ? "b" : "out",
                    tpf_dtype_name(b->dtype != a->dtype ? b->dtype : out->dtype), tpf_dtype_name(a->dtype));
  if (b->rows != a->cols)
    return tpf_fail(TPF_ERR_INVALID, "b has %lld rows but a has %lld columns", (long long)b->rows, (long long)a->cols);
  if ((s = tpf_check_product("the product a @ b", a->rows, b->cols)) != TPF_OK) return s;
  if ((s = tpf_check_product("b", b->rows, b->cols)) != TPF_OK) return s;
  if (out->transposed) return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (out->rows != a->rows || out->cols != b->cols)
    return tpf_fail(TPF_ERR_INVALID, "out is %lld x %lld but a @ b is %lld x %lld", (long long)out->rows,
                    (long long)out->cols, (long long)a->rows, (long long)b->cols);
  if ((s = tpf_split_rows(comm, o->row_counts, a->rows, 1)) != TPF_OK) return s;
  if ((s = tpf_check_bias(o, b->cols, a->dtype, &sbias)) != TPF_OK) return s;
  if ((s = check_addend(o->addend, out, &sx3)) != TPF_OK) return s;
  if ((s = tpf_check_apart("out", so, 4, (tpf_span_t[]){sa, sb, sbias, sx3},
                           (const char *[]){"a", "b", "the bias", "opt->addend"})) != TPF_OK)
    return s;
  tpf_record_spans(mine, (tpf_span_t[]){so, {0, 0}}, (tpf_span_t[]){sa, sb, sbias, sx3});
  return TPF_OK;
}

/* The reduce-scatter half: as tpf_mm_reduce_scatter would run it. */
static void plan_reduce(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, tpf_rs_problem_t *p) {
  const tpf_matrix_t *a = call->a, *b = call->b, *out = call->out;
  const int W = comm->size;
  const int64_t largest = tpf_largest_block(comm->row_offsets, W), out_ld = tpf_matrix_ld(out);
  *p = (tpf_rs_problem_t){
      .m = a->rows, .n = b->cols, .k = a->cols,
      .a = {a->data, a->dtype, tpf_matrix_ld(a), a->transposed}, .b = {b->data, b->dtype, tpf_matrix_ld(b), b->transposed},
      .row_offsets = comm->row_offsets, .divisor = o->reduce_op == TPF_AVG ? (float)W : 1.0f,
      .out = (char *)out->data + (size_t)(comm->row_offsets[comm->rank] * out_ld) * tpf_dtype_size(out->dtype),
      .out_dtype = out->dtype, .out_ld = out_ld, .trace = o->trace,
      .addend = o->addend ? o->addend->data : NULL, .addend_ld = o->addend ? tpf_matrix_ld(o->addend) : 0};
  p->chunks = tpf_mm_rs_chunks(o->comm_turn, largest, p->n, p->k);
  const tpf_mm_rs_shape_t shape = {.m = p->m, .n = p->n, .k = p->k, .world = W, .dtype = p->a.dtype,
                                   .reach = comm->reach, .chunks = p->chunks, .largest_block = largest,
                                   .gemm_rows = tpf_gemm_block_rows(&comm->gemm, p->a.dtype)};
  p->algo = tpf_mm_rs_choose(&comm->costs, o->algo != TPF_ALGO_AUTO ? o->algo : comm->algo, &shape);
  if (p->algo == TPF_ALGO_RING && (o->addend || (o->bias && o->bias_per_rank))) p->algo = TPF_ALGO_DIRECT;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  (void)state;
  tpf_mar_problem_t *p = problem;
  memset(p, 0, sizeof *p);
  tpf_status_t s = check(comm, call->a, call->b, call->out, o, mine);
  if (s != TPF_OK) return s;
  const tpf_matrix_t *out = call->out;
  tpf_rs_problem_t *reduce = &p->reduce;
  plan_reduce(comm, call, o, reduce);
  /* Pipelined (no message peers): the gather's chunks are the reduce-scatter's,
   * in a part of the buffer of their own */
  const int pipelined = !comm->links.messages;
  const size_t reduce_bytes = (tpf_mm_rs_bytes(comm, reduce) + 63) / 64 * 64;
  p->gather = (tpf_gather_t){.in = reduce->out, .in_ld = reduce->out_ld, .out = out->data, .out_ld = reduce->out_ld,
                             .cols = out->cols, .dtype = out->dtype, .offsets = comm->row_offsets,
                             .chunks = pipelined ? reduce->chunks
                                                 : tpf_gather_chunks(o->comm_turn, tpf_largest_block(comm->row_offsets,
                                                                                                     comm->size),
                                                                     out->cols, out->dtype, 0),
                             .from_out = 1, .slots = pipelined ? 0 : TPF_GATHER_SLOTS,
                             .base = pipelined ? reduce_bytes : 0, .trace = o->trace};
  *plan = (tpf_plan_t){.n = reduce->n, .dtype = reduce->a.dtype,
                       .bias = o->bias_per_rank ? &reduce->rank_bias : &reduce->bias, .b = &reduce->b,
                       .k = reduce->k, .keep_b = tpf_mm_rs_keeps_b(&comm->gemm, reduce, comm->size)};
  mine->m = reduce->m, mine->n = reduce->n, mine->k = reduce->k;
  mine->algo = (int32_t)reduce->algo;
  mine->out_addr = (uint64_t)(uintptr_t)out->data, mine->out_ld = reduce->out_ld;
  const size_t gather_end = p->gather.base + tpf_gather_bytes(comm, &p->gather);
  const int reduce_requests = tpf_mm_rs_requests(comm, reduce), gather_requests = tpf_gather_requests(comm, &p->gather);
  return tpf_links_reserve(&comm->links, reduce_bytes > gather_end ? reduce_bytes : gather_end,
                           reduce_requests > gather_requests ? reduce_requests : gather_requests);
}

_Static_assert(sizeof(tpf_mar_problem_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_mm_all_reduce = {.kind = TPF_OP_MM_ALL_REDUCE,
                                             .name = "tpf_mm_all_reduce",
                                             .per_rank_terms = 1,
                                             .reads = {"a", "b", "bias", "addend"},
                                             .writes = {"out", "(nothing)"},
                                             .prepare = prepare,
                                             .run = run};
