/* ReduceScatter, the communication half of MatmulReduceScatter on its
 * own: the operator (its table for the pipeline, its rules and plan) and
 * its schedules, over the links (links.h).
 *
 * Ranks that share an address space (threads), and processes whose inputs
 * all lie in memory they shared (tpf_mem_alloc), read each other's inputs
 * in place (run_in_place). Otherwise each rank hands out the rows it holds
 * for every other owner chunk by chunk (run_staged): to an owner reached
 * through memory by a copy into one of a few small slots kept for that
 * owner (in the input dtype: half the bytes for fp16/bf16), or nothing at
 * all when the owner reads this rank's input in place; to an owner reached
 * by messages by a send, straight from the input when its rows are
 * contiguous. Between hand-outs it sums its own block's previous chunk from
 * its input and what came from its peers. The slots are reused
 * round-robin, so the copies and the sums stay in cache and memory sees
 * each input byte once, as in place. Either way an owner sums its W inputs
 * in fp32 in the fixed order of sums.h (its own last), divides (avg), adds
 * the bias and rounds once: the result does not depend on timing.
 *
 * The buffer (input dtype): the slots [W - 1][STAGE_SLOTS][slot] when any
 * peer is reached through memory; when any is reached by messages,
 * [W][own rows][n] received, then a contiguous copy of the input when its
 * rows are not contiguous. */
#include "reduce_scatter.h"

#include <string.h>

#include "agree.h"
#include "common/clock.h"
#include "common/half.h"
#include "common/status.h"
#include "copy_choice.h"
#include "operator.h"
#include "split.h"
#include "sums.h"
#include "trace.h"


static int64_t block_rows(const tpf_rsc_problem_t *p, int q) { return tpf_block_rows(p->row_offsets, q); }

/* Slots per (producer, owner) pair on the staged path: a producer may run
 * this many chunks ahead of an owner's sums. */
enum { STAGE_SLOTS = 4 };

int tpf_rsc_chunks(int comm_turn, int64_t max_block_rows, int64_t n, tpf_dtype_t dtype, int staged) {
  if (comm_turn > 0) return tpf_turn_chunks(comm_turn, max_block_rows);
  int64_t row_bytes = n * (int64_t)tpf_dtype_size(dtype);
  if (row_bytes < 1) row_bytes = 1;
  /* Staged: chunks of about 256 KiB, so that a rank's slots for one owner
   * (STAGE_SLOTS chunks, 1 MiB) stay in its L2 cache between the copy and
   * the peer's sum, and the hand-overs (a cache line each) stay rare
   * (smaller and larger chunks measured slower: docs/performance.md). */
  if (staged) {
    int64_t rows = (256 * 1024 + row_bytes - 1) / row_bytes;
    int64_t chunks = (max_block_rows + rows - 1) / rows;
    return chunks < 1 ? 1 : chunks > 4096 ? 4096 : (int)chunks;
  }
  /* Otherwise chunks of about 256 KiB, at most 16 per block (messages:
   * each chunk is a message; in place: chunks only pace the trace). */
  int64_t rows = (256 * 1024) / row_bytes;
  if (rows < 1) rows = 1;
  int64_t chunks = max_block_rows / rows;
  return chunks < 1 ? 1 : chunks > 16 ? 16 : (int)chunks;
}


/* Rows of the largest chunk of any block: the size of a slot. */
static int64_t slot_rows(const tpf_rsc_problem_t *p, int W) {
  return (tpf_largest_block(p->row_offsets, W) + p->chunks - 1) / p->chunks;
}

static size_t slot_bytes(const tpf_rsc_problem_t *p, int W) {
  return (size_t)(slot_rows(p, W) * p->n) * tpf_dtype_size(p->dtype);
}

/* Bytes of the slots at the start of the buffer: for peers reached
 * through memory. */
static size_t slots_bytes(const tpf_links_t *l, const tpf_rsc_problem_t *p, int W) {
  for (int q = 0; q < W; q++)
    if (q != l->ep->rank && tpf_link_memory(l, q)) return (size_t)(W - 1) * STAGE_SLOTS * slot_bytes(p, W);
  return 0;
}

/* Bytes received from peers reached by messages. */
static size_t received_bytes(const tpf_links_t *l, const tpf_rsc_problem_t *p, int W) {
  if (!l->messages) return 0;
  return (size_t)(W * tpf_block_rows(p->row_offsets, l->ep->rank) * p->n) * tpf_dtype_size(p->dtype);
}

/* Bytes of the input's contiguous copy, for sends. */
static size_t contiguous_bytes(const tpf_links_t *l, const tpf_rsc_problem_t *p) {
  if (!l->messages || p->in_ld == p->n) return 0;
  return (size_t)(p->m * p->n) * tpf_dtype_size(p->dtype);
}

/* Copies rows [first, first + rows) of the input to the (dense, ld n)
 * slot, which the owner reads next (in one piece when the rows are),
 * streamed or not (copy_choice.h). */
static void copy_rows(tpf_comm_t *comm, const tpf_rsc_problem_t *p, void *slot, int64_t first, int64_t rows,
                      int stream) {
  const tpf_hand_over_fn hand_over = comm->gemm.isa->hand_over;
  const size_t es = tpf_dtype_size(p->dtype), row_bytes = (size_t)p->n * es;
  const char *from = (const char *)p->in + (size_t)(first * p->in_ld) * es;
  if (p->in_ld == p->n) {
    hand_over(slot, from, (size_t)rows * row_bytes, stream);
    return;
  }
  for (int64_t i = 0; i < rows; i++)
    hand_over((char *)slot + (size_t)i * row_bytes, from + (size_t)(i * p->in_ld) * es, row_bytes, stream);
}

size_t tpf_rsc_bytes(const tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  const tpf_links_t *l = &comm->links;
  const int W = comm->size;
  if (comm->reach == TPF_REACH_IN_PLACE) return 0; /* inputs are read where they are */
  return slots_bytes(l, p, W) + received_bytes(l, p, W) + contiguous_bytes(l, p);
}

int tpf_rsc_requests(const tpf_comm_t *comm, const tpf_rsc_problem_t *p) { return 2 * comm->size * p->chunks; }

/* Where this rank reads rank q's input (which q published in its
 * fingerprint) in place, or NULL: q's input does not lie in memory q
 * shared with this rank (tpf_mem_alloc). */
static const void *peer_input(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_fingerprint_t *f = &comm->fingerprints[q];
  return ep->transport->peer_memory(ep, q, (uintptr_t)f->in_addr,
                                    tpf_span_bytes(p->m, p->n, f->in_ld, tpf_dtype_size(p->dtype)));
}

/* Points the sums' source q at this rank's block of `input`, rank q's
 * input as this rank reads it (leading dimension ld). */
static void point_source(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q, const void *input, int64_t ld) {
  comm->ld_scratch[q] = ld;
  ((const void **)comm->peer_scratch)[q] =
      (const char *)input + (size_t)(p->row_offsets[comm->rank] * ld) * tpf_dtype_size(p->dtype);
}

/* Whether every rank can read every other rank's input where it is: always
 * for ranks that share an address space; for processes, when each input
 * lies in memory its rank shared (tpf_mem_alloc). The same answer on every
 * rank: each knows all inputs (fingerprints) and all shared memory. If so,
 * the sums' sources point at this rank's block of every input. */
static int sources_in_place(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  if (comm->reach != TPF_REACH_IN_PLACE && comm->reach != TPF_REACH_SHARED) return 0;
  for (int q = 0; q < comm->size; q++) { /* (this rank's own too: the answer must not depend on the rank) */
    const void *input = peer_input(comm, p, q);
    if (!input && comm->reach == TPF_REACH_SHARED) return 0;
    point_source(comm, p, q, input, comm->fingerprints[q].in_ld);
  }
  return 1;
}

/* In place (ranks that share an address space, or processes whose inputs
 * lie in shared memory; sources_in_place has pointed at them): the owner
 * reads its rows of every peer's input where it is, chunk by chunk, and
 * sums them in the same order and arithmetic as below; nothing is
 * copied. Each rank returns once every peer is done reading its input. */
static tpf_status_t run_in_place(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_links_t *l = &comm->links;
  const int64_t rows = block_rows(p, comm->rank);
  const tpf_gemm_epilogue_t block = tpf_sum_epilogue(
      p->divisor, p->bias, p->out, p->dtype, p->out_ld, tpf_sum_streams(rows * p->n * (int64_t)tpf_dtype_size(p->dtype)));
  tpf_links_begin(l, p->trace);
  for (int c = 0; c < p->chunks; c++) {
    int64_t r0 = tpf_chunk_start(rows, p->chunks, c), r1 = tpf_chunk_start(rows, p->chunks, c + 1);
    int64_t t = tpf_trace_begin(p->trace);
    tpf_gemm_epilogue_t final = tpf_gemm_epilogue_from_row(block, r0);
    tpf_sum_rows(comm, comm->peer_scratch, comm->ld_scratch, p->dtype, r0, r1 - r0, p->n, &final);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, c, -1);
  }
  tpf_link_release(l, 1);
  return tpf_links_end(l, 0, 0, 1, tpf_links_await_readers(l, 1, TPF_OK));
}

/* Hands chunk c of owner j's block (the s-th owner after this rank) out:
 * the `seq`-th put of the call. */
static tpf_status_t hand_out(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int s, int c, uint32_t seq,
                             int in_place, int stream) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, j = (comm->rank + 1 + s) % W, N = p->chunks;
  const size_t row_bytes = (size_t)p->n * tpf_dtype_size(p->dtype);
  const int64_t r0 = tpf_chunk_start(block_rows(p, j), N, c), r1 = tpf_chunk_start(block_rows(p, j), N, c + 1);
  const int64_t first = p->row_offsets[j] + r0;
  char *mine = tpf_links_mine(l);
  if (tpf_link_memory(l, j)) {
    if (!in_place) { /* into j's slot, once j has summed the chunk it held */
      tpf_status_t st = c >= STAGE_SLOTS ? tpf_link_reclaim(l, j, (uint32_t)(c - STAGE_SLOTS + 1), -1, s, c) : TPF_OK;
      if (st != TPF_OK) return st;
      int64_t t = tpf_trace_begin(p->trace);
      copy_rows(comm, p, mine + (size_t)(s * STAGE_SLOTS + c % STAGE_SLOTS) * slot_bytes(p, W), first, r1 - r0, stream);
      tpf_trace_end(p->trace, t, TPF_EVENT_COPY, s, c, j);
    }
    return tpf_link_put(l, j, seq, -1, NULL, 0, 0);
  }
  const char *from = (const char *)p->in + (size_t)(first * p->in_ld) * tpf_dtype_size(p->dtype);
  if (contiguous_bytes(l, p) > 0) { /* rows made contiguous for the message */
    char *to = mine + slots_bytes(l, p, W) + received_bytes(l, p, W) + (size_t)first * row_bytes;
    int64_t t = tpf_trace_begin(p->trace);
    copy_rows(comm, p, to, first, r1 - r0, 0);
    tpf_trace_end(p->trace, t, TPF_EVENT_COPY, s, c, j);
    from = to;
  }
  return tpf_link_put(l, j, seq, s * N + c, from, (size_t)(r1 - r0) * row_bytes, c);
}

/* Points the sums' sources at chunk d of this rank's block: its own input,
 * a memory peer's input read in place or its slot, or what came by
 * message. */
static void chunk_sources(tpf_comm_t *comm, const tpf_rsc_problem_t *p, const tpf_arrivals_t *arrivals, int d) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank;
  const size_t es = tpf_dtype_size(p->dtype);
  const int64_t r0 = tpf_chunk_start(block_rows(p, r), p->chunks, d);
  for (int q = 0; q < W; q++) {
    const void *input = tpf_link_memory(l, q) ? peer_input(comm, p, q) : NULL;
    if (q == r) input = p->in;
    if (input) { /* (its block's rows from r0) */
      point_source(comm, p, q, input, q == r ? p->in_ld : comm->fingerprints[q].in_ld);
      comm->peer_scratch[q] = (const char *)comm->peer_scratch[q] + (size_t)(r0 * comm->ld_scratch[q]) * es;
      continue;
    }
    const int s = ((r - q - 1) % W + W) % W; /* q hands r's block out as its s-th owner */
    comm->peer_scratch[q] = tpf_link_at(l, q, (size_t)(s * STAGE_SLOTS + d % STAGE_SLOTS) * slot_bytes(p, W),
                                        (const char *)tpf_arrivals_from(arrivals, q) + (size_t)(r0 * p->n) * es);
    comm->ld_scratch[q] = p->n;
  }
}

/* Staged: in round c a rank hands out chunk c of every other owner's block
 * (the puts c * (W - 1) + s + 1), then sums chunk c - 1 of its own block,
 * so a peer's copy of a chunk overlaps the sum of the previous one, and
 * releases it (CONSUMED counts the own chunks summed). A slot is refilled
 * only when its owner has summed the chunk it held. Round c needs only
 * rounds before c of the other ranks (STAGE_SLOTS >= 2), so the schedule
 * cannot deadlock. Copies into slots go through the caches or past them as
 * this rank has learnt from earlier calls of the size (copy_choice.h); the
 * call's time teaches it (where no peer is reached by messages). */
static tpf_status_t run_staged(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const size_t es = tpf_dtype_size(p->dtype);
  const int64_t rows = block_rows(p, r);
  const tpf_arrivals_t arrivals = {.first_slot = W * N, .chunks = N, .shift = 1, .step_puts = 1,
                                   .chunk_puts = (uint32_t)(W - 1),
                                   .received = (char *)tpf_links_mine(l) + slots_bytes(l, p, W), .rows = rows,
                                   .row_bytes = (size_t)p->n * es};
  /* An input in memory this rank shared (tpf_mem_alloc) is read in place
   * by the owners that reach it through memory; every rank can tell. */
  const int in_place = comm->ep->transport->peer_memory(comm->ep, r, (uintptr_t)p->in,
                                                         tpf_span_bytes(p->m, p->n, p->in_ld, es)) != NULL;
  const int size_class = tpf_copy_class((size_t)(p->m * p->n) * es);
  const int stream = !l->messages && tpf_copy_pick(p->copy_choice, size_class);
  const int64_t start = tpf_now_ns();
  const tpf_gemm_epilogue_t block = tpf_sum_epilogue(p->divisor, p->bias, p->out, p->dtype, p->out_ld,
                                                     !l->messages && tpf_sum_streams(rows * p->n * (int64_t)es));
  tpf_links_begin(l, p->trace);
  tpf_status_t st = tpf_arrivals_expect(l, &arrivals);
  for (int c = 0; c <= N && st == TPF_OK; c++) {
    for (int s = 0; s < W - 1 && c < N && st == TPF_OK; s++)
      st = hand_out(comm, p, s, c, (uint32_t)(c * (W - 1) + s + 1), in_place, stream);
    if (c == 0 || st != TPF_OK) continue;
    const int d = c - 1; /* sum own chunk d */
    if ((st = tpf_agree_finish(comm)) != TPF_OK) break; /* before anything received is used */
    if ((st = tpf_arrivals_await(l, &arrivals, d)) != TPF_OK) break;
    chunk_sources(comm, p, &arrivals, d);
    const int64_t r0 = tpf_chunk_start(rows, N, d), r1 = tpf_chunk_start(rows, N, d + 1);
    int64_t t = tpf_trace_begin(p->trace);
    tpf_gemm_epilogue_t final = tpf_gemm_epilogue_from_row(block, r0);
    tpf_sum_rows(comm, comm->peer_scratch, comm->ld_scratch, p->dtype, 0, r1 - r0, p->n, &final);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, d, -1);
    tpf_link_release(l, (uint32_t)(d + 1));
  }
  /* Return only when every owner has summed what this rank handed out:
   * then the slots and the input are free for the next call (or destroy). */
  st = tpf_links_await_readers(l, (uint32_t)N, st);
  if (st == TPF_OK && !l->messages) tpf_copy_learn(p->copy_choice, size_class, stream, tpf_now_ns() - start);
  return tpf_links_end(l, 2 * W * N, (uint32_t)((W - 1) * N), (uint32_t)N, st);
}

tpf_status_t tpf_rsc_schedule(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  return sources_in_place(comm, p) ? run_in_place(comm, p) : run_staged(comm, p);
}

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  tpf_status_t st = tpf_rsc_schedule(comm, problem);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence(); /* the sums may have streamed into out */
  return st != TPF_OK ? st : agreed;
}

/* Every local rule of tpf_reduce_scatter; fills the spans of the
 * fingerprint. */
static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *in, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_fingerprint_t *mine) {
  tpf_span_t si, so, sbias = {0, 0};
  tpf_status_t s;
  if ((s = tpf_check_matrix("in", in, 1, &si)) != TPF_OK) return s;
  if (in->transposed) return tpf_fail(TPF_ERR_INVALID, "in.transposed=1: the input must be a row-major view");
  if ((s = tpf_check_product("in", in->rows, in->cols)) != TPF_OK) return s;
  if ((s = tpf_split_rows(comm, o->row_counts, in->rows, 0)) != TPF_OK) return s;
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
  if ((s = tpf_check_apart("out", so, 2, (tpf_span_t[]){si, sbias}, (const char *[]){"in", "the bias"})) != TPF_OK)
    return s;
  tpf_record_spans(mine, (tpf_span_t[]){so, {0, 0}}, (tpf_span_t[]){si, sbias, {0, 0}, {0, 0}});
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
                                    in->dtype, comm->reach == TPF_REACH_SHARED);
  *p = (tpf_rsc_problem_t){.m = in->rows, .n = in->cols, .in = in->data, .dtype = in->dtype,
                           .in_ld = tpf_matrix_ld(in), .row_offsets = comm->row_offsets,
                           .divisor = o->reduce_op == TPF_AVG ? (float)comm->size : 1.0f, .out = out->data,
                           .out_ld = tpf_matrix_ld(out), .chunks = chunks, .trace = o->trace,
                           .copy_choice = state};
  *plan = (tpf_plan_t){.n = p->n, .dtype = p->dtype, .bias = &p->bias};
  mine->m = p->m, mine->n = p->n;
  mine->in_addr = (uint64_t)(uintptr_t)in->data; /* for peers that read it in place */
  mine->in_ld = p->in_ld;
  return tpf_links_reserve(&comm->links, tpf_rsc_bytes(comm, p), tpf_rsc_requests(comm, p));
}

_Static_assert(sizeof(tpf_rsc_problem_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_reduce_scatter = {
    .kind = TPF_OP_REDUCE_SCATTER,
    .name = "tpf_reduce_scatter",
    .state_bytes = sizeof(tpf_copy_choice_t), /* (the staged path's copies) */
    .reads = {"in", "bias", "(nothing)", "(nothing)"},
    .writes = {"out", "(nothing)"},
    .prepare = prepare,
    .run = run};
