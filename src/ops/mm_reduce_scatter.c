/* The schedules of MatmulReduceScatter.
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
 * Each rank's buffer holds two slots (even and odd steps) in fp32; slot
 * place c holds chunk c of whichever block the step works on (blocks may
 * differ in size, so places are sized for the largest chunk). A rank may
 * refill place c only after the next rank has consumed the chunk it held two
 * steps ago; that is the only back-pressure.
 *
 * Unfused (the baseline): every rank computes its whole m x n partial in
 * fp32, then each owner sums its rows over ranks 0..W-1 in that order. */
#include "agree.h"
#include "mm_reduce_scatter.h"
#include "schedules_msg.h"
#include "sums.h"

#include "common/half.h"
#include "common/status.h"
#include "split.h"
#include "trace.h"

static int64_t owner_rows(const tpf_rs_problem_t *p, int q) { return tpf_block_rows(p->row_offsets, q); }

/* The largest k at which the ring beats the unfused path, measured with
 * `tpfuse bench --shape 2048,K,2048` (W=2, K from 128 to 4096, bf16 and
 * fp32; the README has the tables). The ring hides the unfused path's
 * reduction, whose share of the time falls as 1/k, but pays a share that
 * does not fall: B streamed through the cache once per chunk, the peer's
 * partial read inside the GEMM epilogue, and over messages the polling
 * between GEMM blocks. Thread ranks read the partial in place, processes
 * from a peer's cache; the bf16 kernel (pairs of products per instruction)
 * runs about twice as fast as the fp32 one, which doubles the share the
 * ring can hide. Over messages (TCP) the reduction is slow enough that the
 * dtype made no difference. */
static int64_t ring_max_k(tpf_dtype_t dtype, tpf_reach_t reach) {
  const int fast_kernel = dtype == TPF_BFLOAT16;
  switch (reach) {
  case TPF_REACH_IN_PLACE: return fast_kernel ? 2048 : 256;
  case TPF_REACH_SHARED: return fast_kernel ? 1024 : 512;
  default: return 1024;
  }
}

tpf_algo_t tpf_mm_rs_choose_algo(tpf_algo_t requested, int64_t m, int64_t n, int64_t k, int size,
                                 tpf_dtype_t dtype, tpf_reach_t reach) {
  if (requested != TPF_ALGO_AUTO) return requested;
  if (size < 2) return TPF_ALGO_UNFUSED;
  /* The ring hands work over W times per call; each step's GEMM must
   * outweigh a hand-over (microseconds between ranks of a host, tens of
   * microseconds for an MPI message, which moves only when polled), else
   * one GEMM and one reduction are faster. The thresholds were measured
   * (docs/performance.md, "The operator"). */
  double step_flops = 2.0 * (double)m * (double)n * (double)k / size;
  double min_step = reach == TPF_REACH_MESSAGES ? 32e6 : 2e6;
  return step_flops >= min_step && k <= ring_max_k(dtype, reach) ? TPF_ALGO_RING : TPF_ALGO_UNFUSED;
}

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

/* Rows of the largest chunk of any block: the size of a slot place. */
int64_t tpf_mm_rs_place_rows(const tpf_rs_problem_t *p, int size) {
  return (tpf_largest_block(p->row_offsets, size) + p->chunks - 1) / p->chunks;
}

int tpf_mm_rs_keeps_b(const tpf_gemm_engine_t *gemm, const tpf_rs_problem_t *p, int size) {
  if (p->algo != TPF_ALGO_UNFUSED && size * p->chunks > 1) return 1;
  return tpf_gemm_reuses_b(gemm, p->b.dtype, p->m);
}

size_t tpf_mm_rs_buffer_bytes(const tpf_rs_problem_t *p, int size) {
  if (p->algo != TPF_ALGO_RING) return sizeof(float) * (size_t)(p->m * p->n);
  return sizeof(float) * 2 * (size_t)(p->chunks * tpf_mm_rs_place_rows(p, size) * p->n);
}

void tpf_mm_rs_final_epilogue(const tpf_rs_problem_t *p, int64_t r0, tpf_gemm_epilogue_t *epi) {
  epi->divisor = p->divisor;
  epi->bias = p->bias;
  epi->out = (char *)p->out + (size_t)(r0 * p->out_ld) * tpf_dtype_size(p->out_dtype);
  epi->out_dtype = p->out_dtype;
  epi->out_ld = p->out_ld;
}

/* First row of chunk c of a block of `rows` rows cut into `chunks`. */

static tpf_status_t run_ring(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const int prev = (r + W - 1) % W, next = (r + 1) % W;
  const int64_t place_floats = tpf_mm_rs_place_rows(p, W) * p->n, slot_floats = N * place_floats;
  float *mine = tr->buffer(ep, r);
  const float *from_prev = tr->buffer(ep, prev);
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;

  for (int s = 0; s < W; s++) {
    int j = ((r - s - 1) % W + W) % W;
    int64_t rows = owner_rows(p, j);
    int final = s == W - 1;
    for (int c = 0; c < N; c++) {
      int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1);
      tpf_status_t st;
      tpf_gemm_epilogue_t epi = {NULL, p->n, 1.0f, NULL, NULL, TPF_FLOAT32, p->n, 0};
      if (s > 0) {
        int64_t t = tpf_trace_begin(p->trace);
        st = tr->wait(ep, prev, TPF_COUNTER_PRODUCED, produced + (uint32_t)((s - 1) * N + c + 1));
        tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, s, c, prev);
        if (st != TPF_OK) return st;
        epi.addend = from_prev + (size_t)((s - 1) % 2) * slot_floats + c * place_floats;
      }
      if (final) {
        tpf_mm_rs_final_epilogue(p, r0, &epi);
      } else {
        if (s >= 2) { /* the slot still holds step s-2: has next read it? */
          int64_t t = tpf_trace_begin(p->trace);
          st = tr->wait(ep, next, TPF_COUNTER_CONSUMED, consumed + (uint32_t)((s - 2) * N + c + 1));
          tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, s, c, next);
          if (st != TPF_OK) return st;
        }
        epi.out = mine + (size_t)(s % 2) * slot_floats + c * place_floats;
      }
      tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, p->row_offsets[j] + r0);
      int64_t t = tpf_trace_begin(p->trace);
      tpf_gemm_multiply(&comm->gemm, r1 - r0, &a_rows, &epi);
      tpf_trace_end(p->trace, t, TPF_EVENT_COMPUTE, s, c, -1);
      if (s > 0) tr->post(ep, TPF_COUNTER_CONSUMED, consumed + (uint32_t)((s - 1) * N + c + 1));
      if (!final) tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
    }
  }
  uint32_t steps = (uint32_t)((W - 1) * N);
  /* Return only when next has read everything: then the buffer is free for
   * the next call (or for destroy) whatever the other ranks do. */
  int64_t t = tpf_trace_begin(p->trace);
  tpf_status_t st = W > 1 ? tr->wait(ep, next, TPF_COUNTER_CONSUMED, consumed + steps) : TPF_OK;
  if (W > 1) tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, W, -1, next);
  comm->produced_base += steps;
  comm->consumed_base += steps;
  return st;
}

static tpf_status_t run_unfused(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank;
  const uint32_t ready = comm->produced_base + 1, done = comm->consumed_base + 1;
  float *partial = tr->buffer(ep, r);

  tpf_gemm_epilogue_t epi = {NULL, p->n, 1.0f, NULL, partial, TPF_FLOAT32, p->n, 0};
  int64_t t = tpf_trace_begin(p->trace);
  tpf_gemm_multiply(&comm->gemm, p->m, &p->a, &epi);
  tpf_trace_end(p->trace, t, TPF_EVENT_COMPUTE, -1, -1, -1);
  tr->post(ep, TPF_COUNTER_PRODUCED, ready);

  tpf_status_t st = TPF_OK;
  for (int q = 0; q < W && st == TPF_OK; q++) {
    t = tpf_trace_begin(p->trace);
    st = tr->wait(ep, q, TPF_COUNTER_PRODUCED, ready);
    if (q != r) tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, q);
  }
  if (st == TPF_OK) {
    t = tpf_trace_begin(p->trace);
    const void **partials = (const void **)comm->peer_scratch;
    for (int q = 0; q < W; q++) partials[q] = tr->buffer(ep, q), comm->ld_scratch[q] = p->n;
    tpf_gemm_epilogue_t final =
        tpf_sum_epilogue(p->divisor, p->bias, p->out, p->out_dtype, p->out_ld,
                         tpf_sum_streams(owner_rows(p, r) * p->n * (int64_t)tpf_dtype_size(p->out_dtype)));
    tpf_sum_rows(comm, partials, comm->ld_scratch, TPF_FLOAT32, p->row_offsets[r], owner_rows(p, r), p->n, &final);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, -1, -1);
    t = tpf_trace_begin(p->trace);
    tr->post(ep, TPF_COUNTER_CONSUMED, done);
    for (int q = 0; q < W && st == TPF_OK; q++) st = tr->wait(ep, q, TPF_COUNTER_CONSUMED, done);
    tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  }
  comm->produced_base += 1;
  comm->consumed_base += 1;
  return st;
}

/* Sums the own block's chunk c from every rank's partial (order 0..W-1). */
static void reduce_own_chunk(tpf_comm_t *comm, const tpf_rs_problem_t *p, int c) {
  const int W = comm->size, r = comm->rank;
  const void **partials = (const void **)comm->peer_scratch;
  for (int q = 0; q < W; q++) partials[q] = comm->ep->transport->buffer(comm->ep, q), comm->ld_scratch[q] = p->n;
  int64_t rows = owner_rows(p, r), r0 = tpf_chunk_start(rows, p->chunks, c), r1 = tpf_chunk_start(rows, p->chunks, c + 1);
  int64_t t = tpf_trace_begin(p->trace);
  tpf_gemm_epilogue_t final = /* posts follow: no streaming */
      tpf_gemm_epilogue_from_row(tpf_sum_epilogue(p->divisor, p->bias, p->out, p->out_dtype, p->out_ld, 0), r0);
  tpf_sum_rows(comm, partials, comm->ld_scratch, TPF_FLOAT32, p->row_offsets[r] + r0, r1 - r0, p->n, &final);
  tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, c, -1);
}

/* Direct: at step s rank r multiplies block (r + s) mod W, its own first,
 * chunk by chunk, into its fp32 partial, posting each chunk. Rank q makes
 * r's block at step (r - q) mod W, so r knows which count means "chunk c of
 * my block is ready on q". Between its GEMM chunks r sums each own chunk
 * that every rank has made (never waiting), and waits only for what is left
 * at the end. The sum runs over ranks 0..W-1, as in the unfused path, so the
 * two give the same bits. */
static tpf_status_t run_direct(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  float *partial = tr->buffer(ep, r);
  int reduced = 0; /* own chunks summed so far */
  tpf_status_t st = TPF_OK;
  for (int s = 0; s < W; s++) {
    int j = (r + s) % W;
    int64_t rows = owner_rows(p, j);
    for (int c = 0; c < N; c++) {
      int64_t r0 = tpf_chunk_start(rows, N, c), r1 = tpf_chunk_start(rows, N, c + 1), first = p->row_offsets[j] + r0;
      tpf_gemm_epilogue_t epi = {NULL, p->n, 1.0f, NULL, partial + first * p->n, TPF_FLOAT32, p->n, 0};
      tpf_gemm_operand_t a_rows = tpf_gemm_operand_from_row(p->a, first);
      int64_t t = tpf_trace_begin(p->trace);
      tpf_gemm_multiply(&comm->gemm, r1 - r0, &a_rows, &epi);
      tpf_trace_end(p->trace, t, TPF_EVENT_COMPUTE, s, c, -1);
      tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
      for (int ready = 1; ready && reduced < N;) {
        for (int q = 0; q < W && ready; q++)
          ready = tr->test(ep, q, TPF_COUNTER_PRODUCED, produced + (uint32_t)(((r - q + W) % W) * N + reduced + 1));
        if (ready) reduce_own_chunk(comm, p, reduced++);
      }
    }
  }
  for (; reduced < N && st == TPF_OK; reduced++) {
    for (int q = 0; q < W && st == TPF_OK; q++) {
      int64_t t = tpf_trace_begin(p->trace);
      st = tr->wait(ep, q, TPF_COUNTER_PRODUCED, produced + (uint32_t)(((r - q + W) % W) * N + reduced + 1));
      if (q != r) tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, reduced, q);
    }
    if (st == TPF_OK) reduce_own_chunk(comm, p, reduced);
  }
  if (st == TPF_OK) { /* return once every peer is done reading this partial */
    tr->post(ep, TPF_COUNTER_CONSUMED, consumed + 1);
    int64_t t = tpf_trace_begin(p->trace);
    for (int q = 0; q < W && st == TPF_OK; q++) st = tr->wait(ep, q, TPF_COUNTER_CONSUMED, consumed + 1);
    tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  }
  comm->produced_base += (uint32_t)(W * N);
  comm->consumed_base += 1;
  return st;
}

tpf_status_t tpf_mm_rs_reserve(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  if (comm->reach != TPF_REACH_MESSAGES) return ep->transport->reserve(ep, tpf_mm_rs_buffer_bytes(p, comm->size));
  tpf_status_t s = ep->transport->reserve(ep, tpf_mm_rs_msg_buffer_bytes(p, comm->size));
  return s == TPF_OK ? ep->transport->reserve_requests(ep, tpf_mm_rs_msg_requests(p, comm->size)) : s;
}

static tpf_status_t run_schedule(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  if (comm->reach == TPF_REACH_MESSAGES) return tpf_mm_rs_msg_run(comm, p);
  switch (p->algo) {
  case TPF_ALGO_RING: return run_ring(comm, p);
  case TPF_ALGO_DIRECT: return run_direct(comm, p);
  case TPF_ALGO_UNFUSED: return run_unfused(comm, p);
  default: return tpf_fail(TPF_ERR_INTERNAL, "algorithm %d reached the schedule", (int)p->algo);
  }
}

tpf_status_t tpf_mm_rs_run(tpf_comm_t *comm, const tpf_rs_problem_t *p) {
  tpf_status_t st = run_schedule(comm, p);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  tpf_gemm_stream_fence(); /* the sums may have streamed into out */
  return st != TPF_OK ? st : agreed;
}
