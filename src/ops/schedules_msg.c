/* The schedules over a message transport (MPI): the same ring, direct and
 * unfused algorithms as over shared memory, and the same arithmetic in the
 * same order, so that both give the same bits for the same world size and
 * chunking. Only the data movement differs: where a shared-memory peer reads
 * a chunk from its neighbour's buffer, here the chunk is sent into a
 * receive that was posted early, into a reused region of the rank's own
 * buffer. Peers that share this rank's host (tr->shares) are still reached
 * through memory: their buffers are read directly and their progress
 * counters waited for, exactly as in mm_reduce_scatter.c and
 * reduce_scatter.c, with the same counter values. The GEMM drives the
 * transfers between its output blocks. The call's fingerprints travel
 * alongside the first chunks (agree.h): each schedule takes the verdict
 * before it uses anything it received.
 *
 * Buffer layouts (fp32 unless said):
 *  - ring: send slots [2][chunks][place] (read by a next rank on this host
 *    in place), then receive slots [2][chunks][place];
 *  - direct / unfused: the m x n partial (read by peers on this host), then
 *    [W][own rows][n] received;
 *  - reduce-scatter (input dtype): an m x n copy of the rows handed to
 *    owners on this host, [W][own rows][n] received, then a staging copy of
 *    the input when its rows are not contiguous. */
#include "agree.h"
#include "mm_reduce_scatter.h"
#include "reduce_scatter.h"
#include "schedules_msg.h"

#include <string.h>

#include "common/half.h"
#include "common/status.h"
#include "split.h"
#include "trace.h"


static int tag_of(int64_t sequence) { return (int)(sequence % TPF_MESSAGE_TAG_LIMIT); }

/* Whether peer q is reached through memory rather than messages. */
static int shares(tpf_endpoint_t *ep, int q) {
  return q != ep->rank && ep->transport->shares && ep->transport->shares(ep, q);
}

size_t tpf_mm_rs_msg_buffer_bytes(const tpf_rs_problem_t *p, int W) {
  if (p->algo == TPF_ALGO_RING) return 2 * tpf_mm_rs_buffer_bytes(p, W); /* the send slots, then as many receive slots */
  return sizeof(float) * (size_t)((p->m + W * tpf_largest_block(p->row_offsets, W)) * p->n);
}

int tpf_mm_rs_msg_requests(const tpf_rs_problem_t *p, int W) {
  return p->algo == TPF_ALGO_RING ? 4 * p->chunks : 2 * W * p->chunks;
}

static void drive(void *ep) { ((tpf_endpoint_t *)ep)->transport->progress(ep); }

/* The GEMM polls the transport while it runs. */
static void multiply(tpf_comm_t *comm, int64_t rows, const tpf_gemm_operand_t *a, const tpf_gemm_epilogue_t *epi,
                     tpf_trace_t *trace, int step, int chunk) {
  comm->gemm.progress = drive;
  comm->gemm.progress_arg = comm->ep;
  int64_t t = tpf_trace_begin(trace);
  tpf_gemm_multiply(&comm->gemm, rows, a, epi);
  tpf_trace_end(trace, t, TPF_EVENT_COMPUTE, step, chunk, -1);
  comm->gemm.progress = NULL;
}

static tpf_status_t complete(tpf_endpoint_t *ep, int slot, tpf_trace_t *trace, int step, int chunk, int peer) {
  int64_t t = tpf_trace_begin(trace);
  tpf_status_t s = ep->transport->complete(ep, slot);
  tpf_trace_end(trace, t, TPF_EVENT_WAIT, step, chunk, peer);
  return s;
}

static tpf_status_t wait_counter(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value, tpf_trace_t *trace,
                                 int step, int chunk) {
  int64_t t = tpf_trace_begin(trace);
  tpf_status_t s = ep->transport->wait(ep, q, counter, value);
  tpf_trace_end(trace, t, TPF_EVENT_WAIT, step, chunk, q);
  return s;
}

/* Every slot of the call done (sends may still be in flight at the end). */
static tpf_status_t complete_all(tpf_endpoint_t *ep, int slots, tpf_status_t st) {
  for (int i = 0; i < slots && st == TPF_OK; i++) st = ep->transport->complete(ep, i);
  return st;
}

/* Returns once every peer of this host has posted `value` as consumed:
 * then this rank's buffer is free for the next call. */
static tpf_status_t await_local_readers(tpf_endpoint_t *ep, uint32_t value, tpf_trace_t *trace, tpf_status_t st) {
  for (int q = 0; q < ep->size && st == TPF_OK; q++)
    if (shares(ep, q)) st = wait_counter(ep, q, TPF_COUNTER_CONSUMED, value, trace, -1, -1);
  return st;
}

/* Ring: as in mm_reduce_scatter.c. The chunk made at step t goes to the
 * next rank: over memory, it reads it from this rank's send slot t % 2
 * (counters as over shared memory); over messages, into its receive slot
 * t % 2, posted two steps ahead. */
static tpf_status_t run_ring(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const int prev = (r + W - 1) % W, next = (r + 1) % W;
  const int prev_shares = shares(ep, prev), next_shares = shares(ep, next);
  const int64_t place = tpf_mm_rs_place_rows(p, W) * p->n, slot_floats = N * place;
  float *sends = tr->buffer(ep, r), *recvs = sends + 2 * slot_floats;
  const float *prev_sends = prev_shares ? tr->buffer(ep, prev) : NULL;
  const size_t place_bytes = sizeof(float) * (size_t)place;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  tpf_status_t st = TPF_OK;

  for (int t = 0; t < 2 && t < W - 1 && !prev_shares && st == TPF_OK; t++)
    for (int c = 0; c < N && st == TPF_OK; c++)
      st = tr->recv(ep, 2 * N + t * N + c, prev, recvs + t * slot_floats + c * place, place_bytes, tag_of(t * N + c));
  for (int s = 0; s < W && st == TPF_OK; s++) {
    int j = ((r - s - 1) % W + W) % W, final = s == W - 1;
    int64_t rows = tpf_block_rows(p->row_offsets, j);
    for (int c = 0; c < N && st == TPF_OK; c++) {
      int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1);
      tpf_gemm_epilogue_t epi = {NULL, p->n, 1.0f, NULL, NULL, TPF_FLOAT32, p->n, 0};
      const int64_t at = ((s - 1) % 2) * slot_floats + c * place; /* step s - 1's chunk c */
      if (s > 0) st = tpf_agree_finish(comm); /* before anything received is used */
      if (st != TPF_OK) break;
      if (s > 0 && prev_shares) {
        st = wait_counter(ep, prev, TPF_COUNTER_PRODUCED, produced + (uint32_t)((s - 1) * N + c + 1), p->trace, s, c);
        epi.addend = prev_sends + at;
      } else if (s > 0) {
        st = complete(ep, 2 * N + ((s - 1) % 2) * N + c, p->trace, s, c, prev);
        epi.addend = recvs + at;
      }
      if (st != TPF_OK) break;
      float *slot = sends + (s % 2) * slot_floats + c * place;
      if (final) {
        tpf_mm_rs_final_epilogue(p, r0, &epi);
      } else {
        /* the slot's chunk of step s - 2 must be gone before it is refilled */
        if (s >= 2 && next_shares)
          st = wait_counter(ep, next, TPF_COUNTER_CONSUMED, consumed + (uint32_t)((s - 2) * N + c + 1), p->trace, s, c);
        else if (s >= 2)
          st = complete(ep, (s % 2) * N + c, p->trace, s, c, next);
        if (st != TPF_OK) break;
        epi.out = slot;
      }
      tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, p->row_offsets[j] + r0);
      multiply(comm, r1 - r0, &a_rows, &epi, p->trace, s, c);
      if (s > 0 && prev_shares)
        tr->post(ep, TPF_COUNTER_CONSUMED, consumed + (uint32_t)((s - 1) * N + c + 1));
      else if (s > 0 && s + 1 < W - 1) /* the receive slot is free again: for step s + 1 */
        st = tr->recv(ep, 2 * N + ((s + 1) % 2) * N + c, prev, recvs + ((s + 1) % 2) * slot_floats + c * place,
                      place_bytes, tag_of((s + 1) * N + c));
      if (!final && next_shares)
        tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
      else if (!final && st == TPF_OK)
        st = tr->send(ep, (s % 2) * N + c, next, slot, sizeof(float) * (size_t)((r1 - r0) * p->n), tag_of(s * N + c));
    }
  }
  const uint32_t steps = (uint32_t)((W - 1) * N);
  if (next_shares && st == TPF_OK) /* next has read every chunk: the buffer is free */
    st = wait_counter(ep, next, TPF_COUNTER_CONSUMED, consumed + steps, p->trace, W, -1);
  comm->produced_base += steps;
  comm->consumed_base += steps;
  return complete_all(ep, 4 * N, st);
}

/* The own block's sources: rank r's own rows at `own` (leading dimension
 * own_ld); a peer q of this host's at shared[q]'s row_offset (leading
 * dimension n); every other peer's at received + q * own_rows * n. */
static void own_sources(tpf_comm_t *comm, const void *own, int64_t own_ld, const char *received, size_t es,
                        int64_t own_rows, int64_t row_offset, int64_t n) {
  tpf_endpoint_t *ep = comm->ep;
  const void **from = (const void **)comm->peer_scratch;
  for (int q = 0; q < comm->size; q++) {
    if (q == comm->rank) from[q] = own;
    else if (shares(ep, q)) from[q] = (const char *)ep->transport->buffer(ep, q) + (size_t)(row_offset * n) * es;
    else from[q] = received + (size_t)(q * own_rows * n) * es;
    comm->ld_scratch[q] = q == comm->rank ? own_ld : n;
  }
}

/* Posts the receives of the own block's chunks from every peer reached by
 * messages: slot base + q * N + c, message tag c. */
static tpf_status_t post_receives(tpf_endpoint_t *ep, int base, int N, char *received, size_t es, int64_t own_rows,
                                  int64_t n) {
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < ep->size && st == TPF_OK; q++) {
    if (q == ep->rank || shares(ep, q)) continue;
    for (int c = 0; c < N && st == TPF_OK; c++) {
      int64_t r0 = tpf_chunk_start(own_rows, N, c), r1 = tpf_chunk_start(own_rows, N, c + 1);
      st = ep->transport->recv(ep, base + q * N + c, q, received + (size_t)((q * own_rows + r0) * n) * es,
                               (size_t)((r1 - r0) * n) * es, c);
    }
  }
  return st;
}

/* Where each peer's copy of the own block's chunk c stands: a peer of this
 * host has posted `ready(q, c)`, a peer elsewhere's message has come. */
typedef struct arrivals {
  int recv_base, N;
  uint32_t produced; /* the counter base of the call */
  int steps_from;    /* the peer q's copy of chunk c is its count (step(q) - steps_from) * N + c + 1 */
} arrivals_t;

static uint32_t ready_value(const arrivals_t *a, int W, int r, int q, int c) {
  int step = ((r - q) % W + W) % W - a->steps_from;
  return a->produced + (uint32_t)(step * a->N + c + 1);
}

/* Whether chunk c of the own block has come from every peer (never waits). */
static int chunk_arrived(tpf_endpoint_t *ep, const arrivals_t *a, int c) {
  for (int q = 0; q < ep->size; q++) {
    if (q == ep->rank) continue;
    int in = shares(ep, q) ? ep->transport->test(ep, q, TPF_COUNTER_PRODUCED, ready_value(a, ep->size, ep->rank, q, c))
                           : ep->transport->done(ep, a->recv_base + q * a->N + c);
    if (!in) return 0;
  }
  return 1;
}

static tpf_status_t await_chunk(tpf_endpoint_t *ep, const arrivals_t *a, int c, tpf_trace_t *trace) {
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < ep->size && st == TPF_OK; q++) {
    if (q == ep->rank) continue;
    st = shares(ep, q)
             ? wait_counter(ep, q, TPF_COUNTER_PRODUCED, ready_value(a, ep->size, ep->rank, q, c), trace, -1, c)
             : complete(ep, a->recv_base + q * a->N + c, trace, -1, c, q);
  }
  return st;
}

/* Sums chunk c of the own block from the sources own_sources() set and
 * finishes it with `block` (whose out is the block's first row). */
static void reduce_chunk(tpf_comm_t *comm, tpf_dtype_t dtype, int64_t own_rows, int N, int c, int64_t n,
                         const tpf_gemm_epilogue_t *block, tpf_trace_t *trace) {
  int64_t r0 = tpf_chunk_start(own_rows, N, c);
  tpf_gemm_epilogue_t epi = tpf_gemm_epilogue_from_row(*block, r0);
  int64_t t = tpf_trace_begin(trace);
  tpf_sum_rows(comm, (const void *const *)comm->peer_scratch, comm->ld_scratch, dtype, r0,
               tpf_chunk_start(own_rows, N, c + 1) - r0, n, &epi);
  tpf_trace_end(trace, t, TPF_EVENT_REDUCE, -1, c, -1);
}

/* Direct (fused = 1): rank r multiplies block (r + s) mod W at step s, its
 * own first, and hands each chunk to its owner as it is made (a post, or a
 * message); between its chunks it sums every own chunk that has arrived
 * from all peers. Unfused (fused = 0): the whole partial first, then the
 * same hand-over and sums. Both sum over ranks 0..W-1, like the
 * shared-memory paths, and post the same counters as run_direct there. */
static tpf_status_t run_exchange(tpf_comm_t *comm, const tpf_rs_problem_t *p, int fused) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const int64_t own_rows = tpf_block_rows(p->row_offsets, r), n = p->n;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  const arrivals_t arrivals = {W * N, N, produced, 0};
  float *partial = tr->buffer(ep, r);
  char *received = (char *)(partial + p->m * n);
  tpf_status_t st = post_receives(ep, arrivals.recv_base, N, received, sizeof(float), own_rows, n);
  own_sources(comm, partial + p->row_offsets[r] * n, n, received, sizeof(float), own_rows, p->row_offsets[r], n);
  /* (not streamed, see tpf_sum_streams) */
  const tpf_gemm_epilogue_t block = tpf_sum_epilogue(p->divisor, p->bias, p->out, p->out_dtype, p->out_ld, 0);
  int reduced = 0;
  if (!fused && st == TPF_OK) {
    tpf_gemm_epilogue_t epi = {NULL, n, 1.0f, NULL, partial, TPF_FLOAT32, n, 0};
    multiply(comm, p->m, &p->a, &epi, p->trace, -1, -1);
    tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(W * N));
  }
  for (int s = 0; s < W && st == TPF_OK; s++) {
    int j = (r + s) % W;
    int64_t rows = tpf_block_rows(p->row_offsets, j);
    for (int c = 0; c < N && st == TPF_OK; c++) {
      int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1), first = p->row_offsets[j] + r0;
      if (fused) {
        tpf_gemm_epilogue_t epi = {NULL, n, 1.0f, NULL, partial + first * n, TPF_FLOAT32, n, 0};
        tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, first);
        multiply(comm, r1 - r0, &a_rows, &epi, p->trace, s, c);
        tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
      }
      if (j != r && !shares(ep, j))
        st = tr->send(ep, s * N + c, j, partial + first * n, sizeof(float) * (size_t)((r1 - r0) * n), c);
      int made = s == 0 ? c + 1 : N; /* own chunks multiplied so far */
      if (st == TPF_OK && fused) st = tpf_agree_finish(comm); /* before anything received is used */
      for (; fused && st == TPF_OK && reduced < made && chunk_arrived(ep, &arrivals, reduced); reduced++)
        reduce_chunk(comm, TPF_FLOAT32, own_rows, N, reduced, n, &block, p->trace);
    }
  }
  if (st == TPF_OK) st = tpf_agree_finish(comm);
  for (; reduced < N && st == TPF_OK; reduced++)
    if ((st = await_chunk(ep, &arrivals, reduced, p->trace)) == TPF_OK)
      reduce_chunk(comm, TPF_FLOAT32, own_rows, N, reduced, n, &block, p->trace);
  if (st == TPF_OK) tr->post(ep, TPF_COUNTER_CONSUMED, consumed + 1);
  st = await_local_readers(ep, consumed + 1, p->trace, st);
  comm->produced_base += (uint32_t)(W * N);
  comm->consumed_base += 1;
  return complete_all(ep, 2 * W * N, st);
}

tpf_status_t tpf_mm_rs_msg_run(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  switch (p->algo) {
  case TPF_ALGO_RING: return run_ring(comm, p);
  case TPF_ALGO_DIRECT: return run_exchange(comm, p, 1);
  case TPF_ALGO_UNFUSED: return run_exchange(comm, p, 0);
  default: return tpf_fail(TPF_ERR_INTERNAL, "algorithm %d reached the schedule", (int)p->algo);
  }
}

/* The standalone reduce-scatter: every rank hands out the blocks of r+1,
 * r+2, ... chunk by chunk (to an owner of this host as a copy in its buffer
 * and a post, as in reduce_scatter.c, or only the post when the owner
 * reads the input in place, from tpf_mem_alloc memory; to another by a
 * message, straight from the input when its rows are contiguous), and sums its own block,
 * chunk by chunk as it arrives, over ranks 0..W-1 in the input dtype's
 * values, like the shared-memory path. */
static int64_t staged_elems(const tpf_rsc_problem_t *p) { return p->in_ld == p->n ? 0 : p->m * p->n; }

size_t tpf_rsc_msg_buffer_bytes(const tpf_rsc_problem_t *p, int W) {
  return (size_t)(p->m * p->n + W * tpf_largest_block(p->row_offsets, W) * p->n + staged_elems(p)) * tpf_dtype_size(p->dtype);
}

int tpf_rsc_msg_requests(const tpf_rsc_problem_t *p, int W) { return 2 * W * p->chunks; }

tpf_status_t tpf_rsc_msg_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const size_t es = tpf_dtype_size(p->dtype);
  const int64_t own_rows = tpf_block_rows(p->row_offsets, r), n = p->n;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  const arrivals_t arrivals = {W * N, N, produced, 1};
  char *copies = (char *)tr->buffer(ep, r);
  char *received = copies + (size_t)(p->m * n) * es;
  char *staged = received + (size_t)(W * tpf_largest_block(p->row_offsets, W) * n) * es;
  /* An input in memory this rank shared (tpf_mem_alloc) is read in place
   * by the owners of this host; every rank can tell (tpf_rsc_peer_input). */
  const int read_in_place = tr->peer_memory(ep, r, (uintptr_t)p->in, tpf_span_bytes(p->m, n, p->in_ld, es)) != NULL;
  tpf_status_t st = post_receives(ep, arrivals.recv_base, N, received, es, own_rows, n);
  for (int s = 1; s < W && st == TPF_OK; s++) {
    int j = (r + s) % W;
    int64_t rows = tpf_block_rows(p->row_offsets, j);
    for (int c = 0; c < N && st == TPF_OK; c++) {
      int64_t r0 = tpf_chunk_start(rows, N, c), count = tpf_chunk_start(rows, N, c + 1) - r0, first = p->row_offsets[j] + r0;
      const char *from = (const char *)p->in + (size_t)(first * p->in_ld) * es;
      int local = shares(ep, j);
      if (local ? !read_in_place : staged_elems(p) > 0) { /* a copy the owner reads, or rows made contiguous */
        char *to = (local ? copies : staged) + (size_t)(first * n) * es;
        int64_t t = tpf_trace_begin(p->trace);
        for (int64_t i = 0; i < count; i++)
          memcpy(to + (size_t)(i * n) * es, from + (size_t)(i * p->in_ld) * es, (size_t)n * es);
        tpf_trace_end(p->trace, t, TPF_EVENT_COPY, s, c, j);
        from = to;
      }
      if (local) tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)((s - 1) * N + c + 1));
      else st = tr->send(ep, s * N + c, j, from, (size_t)(count * n) * es, c);
    }
  }
  if (st == TPF_OK) st = tpf_agree_finish(comm); /* before anything received is used */
  own_sources(comm, (const char *)p->in + (size_t)(p->row_offsets[r] * p->in_ld) * es, p->in_ld, received, es,
              own_rows, p->row_offsets[r], n);
  for (int q = 0; q < W; q++) { /* peers of this host whose inputs are read in place */
    const void *input = shares(ep, q) ? tpf_rsc_peer_input(comm, p, q) : NULL;
    if (input) tpf_rsc_source(comm, p, q, input, comm->fingerprints[q].in_ld);
  }
  const tpf_gemm_epilogue_t block = tpf_sum_epilogue(p->divisor, p->bias, p->out, p->dtype, p->out_ld, 0);
  for (int c = 0; c < N && st == TPF_OK; c++)
    if ((st = await_chunk(ep, &arrivals, c, p->trace)) == TPF_OK)
      reduce_chunk(comm, p->dtype, own_rows, N, c, n, &block, p->trace);
  if (st == TPF_OK) tr->post(ep, TPF_COUNTER_CONSUMED, consumed + 1);
  st = await_local_readers(ep, consumed + 1, p->trace, st);
  comm->produced_base += (uint32_t)((W - 1) * N);
  comm->consumed_base += 1;
  return complete_all(ep, 2 * W * N, st);
}
