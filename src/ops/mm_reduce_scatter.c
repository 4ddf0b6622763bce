/* MatmulReduceScatter: the operator (its table for the pipeline, its rules
 * and plan) and its schedules, written once over the links (links.h): the
 * same algorithms, order of sums and bits whether a peer is reached
 * through memory or by messages.
 *
 * Ring-accumulate (fused): rows are split into W owner blocks and each block
 * into `chunks` chunks. At step s rank r multiplies its rows of block
 * j = (r - s - 1) mod W, chunk by chunk, and adds the partial sum of the
 * same chunk received from rank r - 1 in the GEMM epilogue; the result goes
 * to rank r + 1. At the last step (s = W - 1) the block is r's own: the sum
 * is complete, so the epilogue divides (avg), adds the bias and rounds into
 * `out`. Block j is therefore summed in the fixed order j+1, j+2, ..., j:
 * the result does not depend on timing. A chunk travels as soon as it is
 * made, so the next rank adds it while this rank multiplies the next chunk.
 *
 * Direct (fused): at step s rank r multiplies block (r + s) mod W, its own
 * first, chunk by chunk, and puts each chunk to its owner; between its GEMM
 * chunks it sums each own chunk that has come from every rank (never
 * waiting), and waits only for what is left at the end.
 *
 * Unfused (the baseline): every rank computes its whole m x n partial in
 * fp32 and puts every chunk; then each owner sums its rows. Direct and
 * unfused sum in the ring's order (sums.h): every algorithm, the same bits.
 *
 * Buffer layouts (fp32):
 *  - ring: send slots [2][chunks][place] (step s in slot s % 2; a place
 *    holds the largest chunk of any block), then, when the previous rank is
 *    reached by messages, as many receive slots;
 *  - direct / unfused: the m x n partial, then, when any peer is reached by
 *    messages, [W][own rows][n] received. */
#include "mm_reduce_scatter.h"

#include <string.h>

#include "agree.h"
#include "common/half.h"
#include "common/status.h"
#include "cost.h"
#include "operator.h"
#include "split.h"
#include "sums.h"
#include "trace.h"


static int64_t owner_rows(const tpf_rs_problem_t *p, int q) { return tpf_block_rows(p->row_offsets, q); }

int tpf_mm_rs_chunks(int comm_turn, int64_t max_block_rows, int64_t n, int64_t k) {
  if (comm_turn > 0) return tpf_turn_chunks(comm_turn, max_block_rows);
  /* Automatic: chunks of at least 256 rows and ~2 MFLOP, at most 8 per
   * block: each chunk streams all of B through the cache once, so a chunk
   * needs as many rows as a GEMM block to keep B's cost shared, and its
   * GEMM must outweigh the cost of handing it over. */
  int64_t flops_per_row = 2 * n * k > 0 ? 2 * n * k : 1;
  int64_t min_rows = 2000000 / flops_per_row;
  if (min_rows < 256) min_rows = 256;
  int64_t chunks = max_block_rows / min_rows;
  return chunks < 1 ? 1 : chunks > 8 ? 8 : (int)chunks;
}

/* Rows of the largest chunk of any block: a ring place's. */
static int64_t place_rows(const tpf_rs_problem_t *p, int size) {
  return (tpf_largest_block(p->row_offsets, size) + p->chunks - 1) / p->chunks;
}

int tpf_mm_rs_keeps_b(const tpf_gemm_engine_t *gemm, const tpf_rs_problem_t *p, int size) {
  if (p->algo != TPF_ALGO_UNFUSED && size * p->chunks > 1) return 1;
  return tpf_gemm_reuses_b(gemm, p->b.dtype, p->m);
}

/* The ring's last step: chunk rows from r0 of this rank's own block are
 * complete, so the epilogue divides, adds the bias and rounds into out. */
static void final_epilogue(const tpf_rs_problem_t *p, int64_t r0, tpf_gemm_epilogue_t *epi) {
  epi->divisor = p->divisor;
  epi->bias = p->bias;
  epi->out = (char *)p->out + (size_t)(r0 * p->out_ld) * tpf_dtype_size(p->out_dtype);
  epi->out_dtype = p->out_dtype;
  epi->out_ld = p->out_ld;
}

static int tag_of(int64_t sequence) { return (int)(sequence % TPF_MESSAGE_TAG_LIMIT); }

static tpf_status_t run_ring(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const int prev = (r + W - 1) % W, next = (r + 1) % W;
  const size_t place = sizeof(float) * (size_t)(place_rows(p, W) * p->n), slot = (size_t)N * place;
  char *sends = tpf_links_mine(l), *recvs = sends + 2 * slot;
  tpf_status_t st = TPF_OK;
  tpf_links_begin(l, p->trace);
  for (int t = 0; t < 2 && t < W - 1 && st == TPF_OK; t++) /* steps 0 and 1's chunks from prev */
    for (int c = 0; c < N && st == TPF_OK; c++)
      st = tpf_link_expect(l, prev, 2 * N + t * N + c, recvs + t * slot + c * place, place, tag_of(t * N + c));
  for (int s = 0; s < W && st == TPF_OK; s++) {
    const int j = ((r - s - 1) % W + W) % W, final = s == W - 1;
    const int64_t rows = tpf_block_rows(p->row_offsets, j);
    for (int c = 0; c < N && st == TPF_OK; c++) {
      const int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1);
      const uint32_t made = (uint32_t)(s * N + c + 1), got = made - (uint32_t)N; /* step s - 1's chunk c */
      tpf_gemm_epilogue_t epi = {.addend_ld = p->n, .divisor = 1.0f, .out_dtype = TPF_FLOAT32, .out_ld = p->n};
      if (s > 0) {
        const size_t at = (size_t)((s - 1) % 2) * slot + (size_t)c * place;
        if ((st = tpf_agree_finish(comm)) != TPF_OK) break; /* before anything received is used */
        if ((st = tpf_link_get(l, prev, got, 2 * N + ((s - 1) % 2) * N + c, s, c)) != TPF_OK) break;
        epi.addend = tpf_link_at(l, prev, at, recvs + at);
      }
      char *out = sends + (size_t)(s % 2) * slot + (size_t)c * place;
      if (final) {
        final_epilogue(p, r0, &epi);
      } else { /* the place's chunk of step s - 2 must be gone before it is refilled */
        if (s >= 2 && (st = tpf_link_reclaim(l, next, got - (uint32_t)N, (s % 2) * N + c, s, c)) != TPF_OK) break;
        epi.out = out;
      }
      tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, p->row_offsets[j] + r0);
      tpf_link_multiply(l, &comm->gemm, r1 - r0, &a_rows, &epi, s, c);
      if (final && p->chunk_done) st = p->chunk_done(p->chunk_arg, c);
      if (s > 0) {
        tpf_link_release(l, got);
        if (s + 1 < W - 1) /* the receive place is free again: for step s + 1 */
          st = tpf_link_expect(l, prev, 2 * N + ((s + 1) % 2) * N + c, recvs + (size_t)((s + 1) % 2) * slot + c * place,
                               place, tag_of((s + 1) * N + c));
      }
      if (!final && st == TPF_OK)
        st = tpf_link_put(l, next, made, (s % 2) * N + c, out, sizeof(float) * (size_t)((r1 - r0) * p->n),
                          tag_of(s * N + c));
    }
  }
  const uint32_t steps = (uint32_t)((W - 1) * N);
  /* Return only when next has every chunk: the buffer is free for the next
   * call (or for destroy) whatever the other ranks do. */
  if (W > 1 && st == TPF_OK) st = tpf_link_reclaim(l, next, steps, -1, W, -1);
  return tpf_links_end(l, 4 * N, steps, steps, st);
}

/* Sums chunk c of the own block from comm->peer_scratch and finishes it
 * with `block` (whose out is the block's first row). */
static void reduce_chunk(tpf_comm_t *comm, const tpf_rs_problem_t *p, int64_t own_rows, int c,
                         const tpf_gemm_epilogue_t *block) {
  const int64_t r0 = tpf_chunk_start(own_rows, p->chunks, c), r1 = tpf_chunk_start(own_rows, p->chunks, c + 1);
  tpf_gemm_epilogue_t epi = tpf_gemm_epilogue_from_row(*block, r0);
  int64_t t = tpf_trace_begin(p->trace);
  tpf_sum_rows(comm, comm->peer_scratch, comm->ld_scratch, TPF_FLOAT32, r0, r1 - r0, p->n, &epi);
  tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, c, -1);
}

/* The epilogue of this rank's partial of rows [first, first + rows), at
 * `partial`: with the per-rank terms, the addend's rows (converted to fp32
 * in place first) and the rank's bias. */
static tpf_gemm_epilogue_t own_terms(const tpf_rs_problem_t *p, char *partial, int64_t first, int64_t rows) {
  tpf_gemm_epilogue_t epi = {.divisor = 1.0f, .out = partial, .out_dtype = TPF_FLOAT32, .out_ld = p->n,
                             .bias = p->rank_bias};
  if (!p->addend) return epi;
  const size_t es = tpf_dtype_size(p->a.dtype);
  for (int64_t i = 0; i < rows; i++)
    tpf_convert_to_f32((float *)partial + i * p->n, (const char *)p->addend + (size_t)((first + i) * p->addend_ld) * es,
                       p->a.dtype, (size_t)p->n);
  epi.addend = (const float *)partial;
  epi.addend_ld = p->n;
  return epi;
}

/* Direct (fused = 1) and unfused (fused = 0). */
static tpf_status_t run_exchange(tpf_comm_t *comm, const tpf_rs_problem_t *p, int fused) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const int64_t own_rows = owner_rows(p, r), n = p->n;
  const size_t row_bytes = sizeof(float) * (size_t)n;
  char *partial = tpf_links_mine(l);
  const tpf_arrivals_t arrivals = {.first_slot = W * N, .chunks = N, .step_puts = (uint32_t)N, .chunk_puts = 1,
                                   .received = partial + (size_t)p->m * row_bytes, .rows = own_rows,
                                   .row_bytes = row_bytes};
  tpf_links_begin(l, p->trace);
  tpf_status_t st = tpf_arrivals_expect(l, &arrivals);
  for (int q = 0; q < W; q++) {
    comm->peer_scratch[q] =
        tpf_link_at(l, q, (size_t)p->row_offsets[r] * row_bytes, tpf_arrivals_from(&arrivals, q));
    comm->ld_scratch[q] = n;
  }
  /* Sums after the whole GEMM (unfused) stream their stores where the
   * block is large; not over messages (sums.h). */
  const int stream = !fused && !l->messages && tpf_sum_streams(own_rows * n * (int64_t)tpf_dtype_size(p->out_dtype));
  const tpf_gemm_epilogue_t block = tpf_sum_epilogue(p->divisor, p->bias, p->out, p->out_dtype, p->out_ld, stream);
  int reduced = 0;
  if (!fused && st == TPF_OK) {
    tpf_gemm_epilogue_t epi = own_terms(p, partial, 0, p->m);
    tpf_link_multiply(l, &comm->gemm, p->m, &p->a, &epi, -1, -1);
  }
  for (int s = 0; s < W && st == TPF_OK; s++) {
    const int j = (r + s) % W;
    const int64_t rows = owner_rows(p, j);
    for (int c = 0; c < N && st == TPF_OK; c++) {
      const int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1);
      char *chunk = partial + (size_t)(p->row_offsets[j] + r0) * row_bytes;
      if (fused) {
        tpf_gemm_epilogue_t epi = own_terms(p, chunk, p->row_offsets[j] + r0, r1 - r0);
        tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, p->row_offsets[j] + r0);
        tpf_link_multiply(l, &comm->gemm, r1 - r0, &a_rows, &epi, s, c);
      }
      st = tpf_link_put(l, j, (uint32_t)(s * N + c + 1), s * N + c, chunk, (size_t)(r1 - r0) * row_bytes, c);
      const int made = s == 0 ? c + 1 : N; /* own chunks multiplied so far */
      if (st == TPF_OK && fused) st = tpf_agree_finish(comm); /* before anything received is used */
      for (; fused && st == TPF_OK && reduced < made && tpf_arrivals_ready(l, &arrivals, reduced); reduced++)
        reduce_chunk(comm, p, own_rows, reduced, &block);
    }
  }
  if (st == TPF_OK) st = tpf_agree_finish(comm);
  int told = 0; /* chunks told done: none before the last put */
  for (; p->chunk_done && told < reduced && st == TPF_OK; told++) st = p->chunk_done(p->chunk_arg, told);
  for (; reduced < N && st == TPF_OK; reduced++) {
    if ((st = tpf_arrivals_await(l, &arrivals, reduced)) != TPF_OK) break;
    reduce_chunk(comm, p, own_rows, reduced, &block);
    if (p->chunk_done) st = p->chunk_done(p->chunk_arg, reduced);
  }
  if (st == TPF_OK) tpf_link_release(l, 1);
  st = tpf_links_await_readers(l, 1, st); /* then this rank's partial is free */
  return tpf_links_end(l, 2 * W * N, (uint32_t)(W * N), 1, st);
}

size_t tpf_mm_rs_bytes(const tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  const tpf_links_t *l = &comm->links;
  const int W = comm->size, N = p->chunks;
  const size_t row_bytes = sizeof(float) * (size_t)p->n;
  if (p->algo == TPF_ALGO_RING) {
    const size_t slots = 2 * (size_t)N * (size_t)place_rows(p, W) * row_bytes;
    return tpf_link_memory(l, (comm->rank + W - 1) % W) ? slots : 2 * slots;
  }
  const int64_t received = l->messages ? W * tpf_largest_block(p->row_offsets, W) : 0;
  return (size_t)(p->m + received) * row_bytes;
}

int tpf_mm_rs_requests(const tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  return p->algo == TPF_ALGO_RING ? 4 * p->chunks : 2 * comm->size * p->chunks;
}

tpf_status_t tpf_mm_rs_schedule(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  switch (p->algo) {
  case TPF_ALGO_RING: return run_ring(comm, p);
  case TPF_ALGO_DIRECT: return run_exchange(comm, p, 1);
  case TPF_ALGO_UNFUSED: return run_exchange(comm, p, 0);
  default: return tpf_fail(TPF_ERR_INTERNAL, "algorithm %d reached the schedule", (int)p->algo);
  }
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  const tpf_rs_problem_t *p = problem;
  tpf_status_t st = tpf_mm_rs_schedule(comm, p);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence(); /* the sums may have streamed into out */
  return st != TPF_OK ? st : agreed;
}

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
  if ((s = tpf_split_rows(comm, o->row_counts, a->rows, 0)) != TPF_OK) return s;
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
  if ((s = tpf_check_apart("out", so, 3, (tpf_span_t[]){sa, sb, sbias}, (const char *[]){"a", "b", "the bias"})) != TPF_OK)
    return s;
  tpf_record_spans(mine, (tpf_span_t[]){so, {0, 0}}, (tpf_span_t[]){sa, sb, sbias, {0, 0}});

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
  p->algo = tpf_mm_rs_choose(&comm->costs, o->algo != TPF_ALGO_AUTO ? o->algo : comm->algo, &shape);
  p->trace = o->trace;
  *plan = (tpf_plan_t){.n = p->n, .dtype = p->a.dtype, .bias = &p->bias, .b = &p->b, .k = p->k,
                       .keep_b = tpf_mm_rs_keeps_b(&comm->gemm, p, comm->size)};
  mine->m = p->m, mine->n = p->n, mine->k = p->k;
  mine->algo = (int32_t)p->algo;
  return tpf_links_reserve(&comm->links, tpf_mm_rs_bytes(comm, p), tpf_mm_rs_requests(comm, p));
}

_Static_assert(sizeof(tpf_rs_problem_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_mm_reduce_scatter = {
    .kind = TPF_OP_MM_REDUCE_SCATTER, .name = "tpf_mm_reduce_scatter", .reads = {"a", "b", "bias", "(nothing)"},
    .writes = {"out", "(nothing)"}, .prepare = prepare, .run = run};
