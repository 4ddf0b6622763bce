/* Reduce-scatter over the shared-memory model of the transport table.
 *
 * Ranks that share an address space (threads), and processes whose inputs
 * all lie in memory they shared (tpf_mem_alloc), read each other's inputs
 * in place (run_in_place). Other processes (over shm, or MPI ranks that
 * all share one host) stage the rows they hold for each owner through a
 * few small slots (run_staged): chunk by chunk, each rank copies
 * its rows of every other owner's block into the slot kept for that owner
 * (in the input dtype: half the bytes for fp16/bf16), and between copies it
 * sums its own block's chunk from its input and the peers' slots. The slots
 * are reused round-robin, so the copies and the sums stay in cache and
 * memory sees each input byte once, as in place. Either way an owner sums
 * its W inputs in fp32 in the fixed order 0, 1, ..., W-1, divides (avg),
 * adds the bias and rounds once: the result does not depend on timing. */
#include "agree.h"
#include "reduce_scatter.h"
#include "schedules_msg.h"

#include "common/alloc.h"
#include "common/clock.h"
#include "common/half.h"
#include "common/status.h"
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

int tpf_rsc_staged(const tpf_comm_t *comm) { return comm->reach == TPF_REACH_SHARED; }

/* Rows of the largest chunk of any block: the size of a slot. */
static int64_t slot_rows(const tpf_rsc_problem_t *p, int W) {
  return (tpf_largest_block(p->row_offsets, W) + p->chunks - 1) / p->chunks;
}

static size_t slot_bytes(const tpf_rsc_problem_t *p, int W) {
  return (size_t)(slot_rows(p, W) * p->n) * tpf_dtype_size(p->dtype);
}

size_t tpf_rsc_buffer_bytes(const tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  if (!tpf_rsc_staged(comm)) return 0; /* inputs are read where they are */
  return (size_t)(comm->size - 1) * STAGE_SLOTS * slot_bytes(p, comm->size);
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

tpf_status_t tpf_rsc_reserve(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  if (comm->reach != TPF_REACH_MESSAGES) return ep->transport->reserve(ep, tpf_rsc_buffer_bytes(comm, p));
  tpf_status_t s = ep->transport->reserve(ep, tpf_rsc_msg_buffer_bytes(p, comm->size));
  return s == TPF_OK ? ep->transport->reserve_requests(ep, tpf_rsc_msg_requests(p, comm->size)) : s;
}

const void *tpf_rsc_peer_input(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_fingerprint_t *f = &comm->fingerprints[q];
  return ep->transport->peer_memory(ep, q, (uintptr_t)f->in_addr,
                                    tpf_span_bytes(p->m, p->n, f->in_ld, tpf_dtype_size(p->dtype)));
}

void tpf_rsc_source(tpf_comm_t *comm, const tpf_rsc_problem_t *p, int q, const void *input, int64_t ld) {
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
    const void *input = tpf_rsc_peer_input(comm, p, q);
    if (!input && comm->reach == TPF_REACH_SHARED) return 0;
    tpf_rsc_source(comm, p, q, input, comm->fingerprints[q].in_ld);
  }
  return 1;
}

/* In place (ranks that share an address space, or processes whose inputs
 * lie in shared memory; sources_in_place has pointed at them): the owner
 * reads its rows of every peer's input where it is, chunk by chunk, and
 * sums them in rank order with the same arithmetic as below; nothing is
 * copied. Each rank returns once every peer is done reading its input. */
static tpf_status_t run_in_place(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank;
  const size_t es = tpf_dtype_size(p->dtype);
  const int64_t rows = block_rows(p, r);
  const tpf_gemm_epilogue_t block =
      tpf_sum_epilogue(p->divisor, p->bias, p->out, p->dtype, p->out_ld, tpf_sum_streams(rows * p->n * (int64_t)es));
  for (int c = 0; c < p->chunks; c++) {
    int64_t r0 = tpf_chunk_start(rows, p->chunks, c), r1 = tpf_chunk_start(rows, p->chunks, c + 1);
    int64_t t = tpf_trace_begin(p->trace);
    tpf_gemm_epilogue_t final = tpf_gemm_epilogue_from_row(block, r0);
    tpf_sum_rows(comm, (const void *const *)comm->peer_scratch, comm->ld_scratch, p->dtype, r0, r1 - r0, p->n,
                 &final);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, c, -1);
  }
  const uint32_t consumed = comm->consumed_base + 1;
  tr->post(ep, TPF_COUNTER_CONSUMED, consumed);
  int64_t t = tpf_trace_begin(p->trace);
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < W && st == TPF_OK; q++) st = tr->wait(ep, q, TPF_COUNTER_CONSUMED, consumed);
  tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  comm->consumed_base += 1;
  return st;
}

/* Staged (processes): in round c a rank copies chunk c of every other
 * owner's block into that owner's slot c mod STAGE_SLOTS, posting each, then
 * sums chunk c - 1 of its own block, so a peer's copy of a chunk overlaps
 * the sum of the previous one. PRODUCED counts the chunks a rank has copied
 * (round c, owner r + 1 + s: value c * (W - 1) + s + 1); CONSUMED counts the
 * own chunks summed, and a producer refills a slot only when its owner has
 * summed the chunk it held. Round c needs only rounds before c of the other
 * ranks (STAGE_SLOTS >= 2), so the schedule cannot deadlock. The copies go
 * through the caches or past them as this rank has learnt from earlier
 * calls of the size (copy_choice.h); the call's time teaches it. */
static tpf_status_t run_staged(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  const size_t es = tpf_dtype_size(p->dtype), slot = slot_bytes(p, W);
  const int64_t first = p->row_offsets[r], rows = block_rows(p, r);
  const void **from = (const void **)comm->peer_scratch;
  int64_t *lds = comm->ld_scratch;
  char *mine = (char *)tr->buffer(ep, r);
  const int size_class = tpf_copy_class((size_t)(p->m * p->n) * es);
  const int stream = tpf_copy_pick(&comm->copy_choice, size_class);
  const int64_t start = tpf_now_ns();
  const tpf_gemm_epilogue_t block =
      tpf_sum_epilogue(p->divisor, p->bias, p->out, p->dtype, p->out_ld, tpf_sum_streams(rows * p->n * (int64_t)es));
  tpf_status_t st = TPF_OK;
  for (int c = 0; c <= N && st == TPF_OK; c++) {
    for (int s = 0; s < W - 1 && c < N && st == TPF_OK; s++) { /* hand out chunk c */
      int j = (r + 1 + s) % W;
      int64_t t = tpf_trace_begin(p->trace);
      if (c >= STAGE_SLOTS) { /* the slot held chunk c - STAGE_SLOTS: has j summed it? */
        st = tr->wait(ep, j, TPF_COUNTER_CONSUMED, consumed + (uint32_t)(c - STAGE_SLOTS + 1));
        tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, s, c, j);
        if (st != TPF_OK) break;
        t = tpf_trace_begin(p->trace);
      }
      int64_t r0 = tpf_chunk_start(block_rows(p, j), N, c), r1 = tpf_chunk_start(block_rows(p, j), N, c + 1);
      copy_rows(comm, p, mine + (size_t)(s * STAGE_SLOTS + c % STAGE_SLOTS) * slot, p->row_offsets[j] + r0, r1 - r0,
                stream);
      tpf_trace_end(p->trace, t, TPF_EVENT_COPY, s, c, j);
      tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(c * (W - 1) + s + 1));
    }
    if (c == 0 || st != TPF_OK) continue;
    const int d = c - 1; /* sum own chunk d */
    int64_t r0 = tpf_chunk_start(rows, N, d), r1 = tpf_chunk_start(rows, N, d + 1);
    for (int q = 0; q < W && st == TPF_OK; q++) {
      if (q == r) {
        from[q] = (const char *)p->in + (size_t)((first + r0) * p->in_ld) * es, lds[q] = p->in_ld;
        continue;
      }
      int s = ((r - q - 1) % W + W) % W; /* q hands r's block out at s */
      int64_t t = tpf_trace_begin(p->trace);
      st = tr->wait(ep, q, TPF_COUNTER_PRODUCED, produced + (uint32_t)(d * (W - 1) + s + 1));
      tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, s, d, q);
      from[q] = (const char *)tr->buffer(ep, q) + (size_t)(s * STAGE_SLOTS + d % STAGE_SLOTS) * slot, lds[q] = p->n;
    }
    if (st != TPF_OK) break;
    int64_t t = tpf_trace_begin(p->trace);
    tpf_gemm_epilogue_t final = tpf_gemm_epilogue_from_row(block, r0);
    tpf_sum_rows(comm, from, lds, p->dtype, 0, r1 - r0, p->n, &final);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, d, -1);
    tr->post(ep, TPF_COUNTER_CONSUMED, consumed + (uint32_t)(d + 1));
  }
  /* Return only when every owner has summed what this rank handed out:
   * then the slots are free for the next call (or for destroy). */
  if (st == TPF_OK) {
    int64_t t = tpf_trace_begin(p->trace);
    for (int q = 0; q < W && st == TPF_OK; q++)
      if (q != r) st = tr->wait(ep, q, TPF_COUNTER_CONSUMED, consumed + (uint32_t)N);
    tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  }
  if (st == TPF_OK) tpf_copy_learn(&comm->copy_choice, size_class, stream, tpf_now_ns() - start);
  comm->produced_base += (uint32_t)((W - 1) * N);
  comm->consumed_base += (uint32_t)N;
  return st;
}

tpf_status_t tpf_rsc_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_status_t st = sources_in_place(comm, p)          ? run_in_place(comm, p)
                    : comm->reach == TPF_REACH_SHARED ? run_staged(comm, p)
                                                      : tpf_rsc_msg_run(comm, p);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence(); /* the sums may have streamed into out */
  return st != TPF_OK ? st : agreed;
}
