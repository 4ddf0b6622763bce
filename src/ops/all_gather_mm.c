/* AllGatherMatmul: the operator (its table, rules and plan) and its
 * schedules, over the gather's steps (all_gather.h).
 *
 * Fused (TPF_ALGO_RING, or DIRECT: one schedule): every rank hands its
 * block of a out chunk by chunk, multiplies its own block first, then at
 * step s the block of rank r - s, each chunk as soon as it has come, where
 * it lies (in the peer's memory, its buffer, or where it was received),
 * while later chunks still travel; B is packed once and kept for all of
 * them. The gathered a, when asked for, gets each chunk as it is used.
 *
 * Unfused (the baseline): the whole gather of a into gathered_a (or, when
 * not asked for, into this rank's buffer), then one product.
 *
 * A row of the product depends only on its row of a, b, k and the kernel,
 * never on which rows are multiplied together: every schedule gives the
 * same bits. TPF_ALGO_AUTO takes the cheaper by the cost model (cost.h):
 * the fused schedule multiplies each chunk on its own, streaming B once
 * more per chunk, which small blocks of a long k cannot repay. The buffer: the gathered a (m x k, unfused without
 * gathered_a), then the gather's part. */
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

typedef struct tpf_agmm_problem {
  tpf_gather_t gather;       /* of a's blocks (cols = k) */
  tpf_gemm_operand_t b;
  int64_t m, n, k;
  const float *bias;         /* n fp32 values, or NULL */
  void *out;                 /* m x n */
  tpf_dtype_t out_dtype;
  int64_t out_ld;
  tpf_algo_t algo;           /* TPF_ALGO_RING or TPF_ALGO_UNFUSED */
  int internal;              /* unfused, gathering into the buffer */
} tpf_agmm_problem_t;

/* Rows [row, row + rows) of the product, from a's rows at `a` (ld). */
static void multiply(tpf_comm_t *comm, const tpf_agmm_problem_t *p, const void *a, int64_t ld, int64_t row,
                     int64_t rows, int step, int chunk) {
  if (rows == 0) return;
  const tpf_gemm_operand_t operand = {a, p->gather.dtype, ld, 0};
  const tpf_gemm_epilogue_t epi = {.divisor = 1.0f, .bias = p->bias,
                                   .out = (char *)p->out + (size_t)(row * p->out_ld) * tpf_dtype_size(p->out_dtype),
                                   .out_dtype = p->out_dtype, .out_ld = p->out_ld};
  tpf_link_multiply(&comm->links, &comm->gemm, rows, &operand, &epi, step, chunk);
}

static tpf_status_t run_fused(tpf_comm_t *comm, const tpf_agmm_problem_t *p) {
  const tpf_gather_t *g = &p->gather;
  const int W = comm->size, r = comm->rank;
  tpf_status_t st = tpf_gather_publish(comm, g);
  if (st == TPF_OK)
    multiply(comm, p, g->in, g->in_ld, g->offsets[r], tpf_block_rows(g->offsets, r), 0, -1);
  for (int s = 1; s < W && st == TPF_OK; s++) {
    const int q = (r - s + W) % W;
    const int64_t rows = tpf_block_rows(g->offsets, q);
    for (int c = 0; c < g->chunks && st == TPF_OK; c++) {
      if ((st = tpf_gather_get(comm, g, q, c, s)) != TPF_OK) break;
      const int64_t r0 = tpf_chunk_start(rows, g->chunks, c), r1 = tpf_chunk_start(rows, g->chunks, c + 1);
      int64_t ld;
      const void *rows_of_a = tpf_gather_source(comm, g, q, c, &ld);
      multiply(comm, p, rows_of_a, ld, g->offsets[q] + r0, r1 - r0, s, c);
      tpf_gather_copy_out(comm, g, q, c);
    }
  }
  return tpf_gather_finish(comm, g, st);
}

static tpf_status_t run_unfused(tpf_comm_t *comm, const tpf_agmm_problem_t *p) {
  tpf_gather_t g = p->gather;
  if (p->internal) g.out = tpf_links_mine(&comm->links);
  tpf_status_t st = tpf_gather_run(comm, &g);
  if (st == TPF_OK) multiply(comm, p, g.out, g.out_ld, 0, p->m, -1, -1);
  return st;
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  const tpf_agmm_problem_t *p = problem;
  tpf_status_t st = p->algo == TPF_ALGO_UNFUSED ? run_unfused(comm, p) : run_fused(comm, p);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  return st != TPF_OK ? st : agreed;
}

/* gathered_a: m x k in a's dtype, row-major; a may be its own rows. */
static tpf_status_t check_gathered(const tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *g,
                                   tpf_span_t sa, tpf_span_t *span) {
  *span = (tpf_span_t){0, 0};
  if (!g) return TPF_OK;
  tpf_status_t s = tpf_check_matrix("gathered_a", g, 0, span);
  if (s != TPF_OK) return s;
  if (g->transposed) return tpf_fail(TPF_ERR_INVALID, "gathered_a.transposed=1: it must be a row-major view");
  if (g->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "gathered_a is %s but a is %s", tpf_dtype_name(g->dtype), tpf_dtype_name(a->dtype));
  const int64_t m = comm->row_offsets[comm->size];
  if (g->rows != m || g->cols != a->cols)
    return tpf_fail(TPF_ERR_INVALID, "gathered_a is %lld x %lld but the gathered a is %lld x %lld", (long long)g->rows,
                    (long long)g->cols, (long long)m, (long long)a->cols);
  const int64_t ld = tpf_matrix_ld(g);
  const int own_rows = a->data == (const char *)g->data + (size_t)(comm->row_offsets[comm->rank] * ld) *
                                                            tpf_dtype_size(g->dtype) &&
                       tpf_matrix_ld(a) == ld;
  if (tpf_spans_overlap(*span, sa) && !own_rows)
    return tpf_fail(TPF_ERR_INVALID, "gathered_a overlaps a in memory (a may only be gathered_a's own rows, with its "
                    "leading dimension)");
  return TPF_OK;
}

static tpf_status_t check(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o,
                          tpf_fingerprint_t *mine) {
  const tpf_matrix_t *a = call->a, *b = call->b, *out = call->out, *gathered = call->out2;
  tpf_span_t sa, sb, so, sg, sbias;
  tpf_status_t s;
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if ((s = tpf_check_matrix("out", out, 1, &so)) != TPF_OK) return s;
  if (out->transposed) return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if ((s = tpf_check_product("out", out->rows, out->cols)) != TPF_OK) return s;
  if ((s = tpf_split_rows(comm, o->row_counts, out->rows, 0)) != TPF_OK) return s;
  const int64_t owned = tpf_block_rows(comm->row_offsets, comm->rank);
  if ((s = tpf_check_matrix("a", a, owned == 0 ? 0 : 1, &sa)) != TPF_OK) return s;
  if ((s = tpf_check_matrix("b", b, 1, &sb)) != TPF_OK) return s;
  if (a->transposed)
    return tpf_fail(TPF_ERR_INVALID, "a.transposed=1: a travels by rows, so it must be a row-major view");
  if (b->dtype != a->dtype || out->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "%s is %s but a is %s: they must have one dtype", b->dtype != a->dtype ? "b" : "out",
                    tpf_dtype_name(b->dtype != a->dtype ? b->dtype : out->dtype), tpf_dtype_name(a->dtype));
  if (a->rows != owned)
    return tpf_fail(TPF_ERR_INVALID, "a has %lld rows but rank %d's block of the gathered a has %lld", (long long)a->rows,
                    comm->rank, (long long)owned);
  if (b->rows != a->cols)
    return tpf_fail(TPF_ERR_INVALID, "b has %lld rows but a has %lld columns", (long long)b->rows, (long long)a->cols);
  if ((s = tpf_check_product("b", b->rows, b->cols)) != TPF_OK) return s;
  if ((s = tpf_check_product("the gathered a", out->rows, a->cols)) != TPF_OK) return s;
  if (out->cols != b->cols)
    return tpf_fail(TPF_ERR_INVALID, "out has %lld columns but b has %lld", (long long)out->cols, (long long)b->cols);
  if (o->reduce_op != TPF_SUM)
    return tpf_fail(TPF_ERR_INVALID, "opt->reduce_op=TPF_AVG: tpf_all_gather_mm reduces nothing");
  if ((s = tpf_check_bias(o, b->cols, a->dtype, &sbias)) != TPF_OK) return s;
  if ((s = check_gathered(comm, a, gathered, sa, &sg)) != TPF_OK) return s;
  if ((s = tpf_check_apart("out", so, 3, (tpf_span_t[]){sa, sb, sbias}, (const char *[]){"a", "b", "the bias"})) ||
      (s = tpf_check_apart("gathered_a", sg, 3, (tpf_span_t[]){so, sb, sbias}, (const char *[]){"out", "b", "the bias"})))
    return s;
  tpf_record_spans(mine, (tpf_span_t[]){so, sg}, (tpf_span_t[]){sa, sb, sbias, {0, 0}});
  return TPF_OK;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  (void)state;
  tpf_agmm_problem_t *p = problem;
  memset(p, 0, sizeof *p);
  tpf_status_t s = check(comm, call, o, mine);
  if (s != TPF_OK) return s;
  const tpf_matrix_t *a = call->a, *b = call->b, *out = call->out, *gathered = call->out2;
  p->m = out->rows, p->n = out->cols, p->k = a->cols;
  /* fused: chunks a GEMM can use well (as MatmulReduceScatter's);
   * unfused: chunks of the gather alone */
  const int64_t largest = tpf_largest_block(comm->row_offsets, comm->size);
  const tpf_mm_rs_shape_t shape = {.m = p->m, .n = p->n, .k = p->k, .world = comm->size, .dtype = a->dtype,
                                   .reach = comm->reach, .chunks = tpf_mm_rs_chunks(o->comm_turn, largest, p->n, p->k),
                                   .largest_block = largest,
                                   .gemm_rows = tpf_gemm_block_rows(&comm->gemm, a->dtype)};
  p->algo = tpf_ag_mm_choose(&comm->costs, o->algo != TPF_ALGO_AUTO ? o->algo : comm->algo, &shape);
  const int chunks = p->algo == TPF_ALGO_UNFUSED
                         ? tpf_gather_chunks(o->comm_turn, largest, p->k, a->dtype, comm->reach == TPF_REACH_SHARED)
                         : shape.chunks;
  p->b = (tpf_gemm_operand_t){b->data, b->dtype, tpf_matrix_ld(b), b->transposed};
  p->out = out->data, p->out_dtype = out->dtype, p->out_ld = tpf_matrix_ld(out);
  const size_t es = tpf_dtype_size(a->dtype);
  /* unfused without gathered_a: the gathered a at the start of the buffer */
  p->internal = p->algo == TPF_ALGO_UNFUSED && !gathered;
  const size_t internal_bytes = p->internal ? ((size_t)(p->m * p->k) * es + 63) / 64 * 64 : 0;
  p->gather = (tpf_gather_t){.in = a->data, .in_ld = tpf_matrix_ld(a), .out = gathered ? gathered->data : NULL,
                             .out_ld = gathered ? tpf_matrix_ld(gathered) : p->k, .cols = p->k, .dtype = a->dtype,
                             .offsets = comm->row_offsets,
                             .chunks = chunks, .slots = p->algo == TPF_ALGO_UNFUSED ? TPF_GATHER_SLOTS : 0,
                             .base = internal_bytes, .trace = o->trace};
  const size_t bytes = internal_bytes + tpf_gather_bytes(comm, &p->gather);
  if ((s = tpf_links_reserve(&comm->links, bytes, tpf_gather_requests(comm, &p->gather))) != TPF_OK) return s;
  *plan = (tpf_plan_t){.n = p->n, .dtype = a->dtype, .bias = &p->bias, .b = &p->b, .k = p->k,
                       .keep_b = (p->algo == TPF_ALGO_RING && comm->size > 1) ||
                                 tpf_gemm_reuses_b(&comm->gemm, b->dtype, p->m)};
  mine->m = p->m, mine->n = p->n, mine->k = p->k;
  mine->algo = (int32_t)p->algo;
  mine->gathers = gathered != NULL;
  mine->in_addr = (uint64_t)(uintptr_t)a->data, mine->in_ld = p->gather.in_ld;
  return TPF_OK;
}

_Static_assert(sizeof(tpf_agmm_problem_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_all_gather_mm = {.kind = TPF_OP_ALL_GATHER_MM,
                                             .name = "tpf_all_gather_mm",
                                             .reads = {"a", "b", "bias", "(nothing)"},
                                             .writes = {"out", "gathered_a"},
                                             .prepare = prepare,
                                             .run = run};
