/* Reduce-scatter over the shared-memory model of the transport table.
 *
 * Ranks that share an address space (threads) read each other's inputs in
 * place (run_in_place). Otherwise each rank copies, chunk by chunk, the rows it holds for the other owners
 * into its buffer (in the input dtype: half the bytes for fp16/bf16), in a
 * staggered order (first the block of rank r+1, then r+2, ...) so that no
 * two ranks feed the same owner at once, posting each chunk as it lands.
 * Then it reduces its own block, chunk by chunk, as the peers' chunks
 * arrive: it sums the W inputs in fp32 in the fixed order 0, 1, ..., W-1
 * (its own rows straight from its input), divides (avg), adds the bias and
 * rounds once. The result does not depend on timing. */
#include "reduce_scatter.h"
#include "schedules_msg.h"

#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"
#include "trace.h"

static int64_t block_rows(const tpf_rsc_problem_t *p, int q) {
  return p->row_offsets[q + 1] - p->row_offsets[q];
}

tpf_status_t tpf_reserve_row_scratch(tpf_comm_t *comm, int64_t n) {
  void *buf = comm->row_scratch;
  tpf_status_t s = tpf_buffer_reserve(&buf, &comm->row_scratch_capacity, sizeof(float) * (size_t)n, "a row of sums");
  comm->row_scratch = buf;
  return s;
}

int tpf_rsc_chunks(int comm_turn, int64_t max_block_rows, int64_t n, tpf_dtype_t dtype) {
  if (comm_turn > 0) return comm_turn;
  /* Automatic: chunks of about 256 KiB (they stay in cache between the
   * copy and the sum), at most 16 per block. */
  int64_t row_bytes = n * (int64_t)tpf_dtype_size(dtype);
  int64_t rows = (256 * 1024) / (row_bytes > 0 ? row_bytes : 1);
  if (rows < 1) rows = 1;
  int64_t chunks = max_block_rows / rows;
  return chunks < 1 ? 1 : chunks > 16 ? 16 : (int)chunks;
}

size_t tpf_rsc_buffer_bytes(const tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  if (comm->ep->peer_reads == TPF_PEER_READS_IN_PLACE) return 0; /* inputs are read where they are */
  return (size_t)(p->m * p->n) * tpf_dtype_size(p->dtype);
}

static int64_t chunk_start(int64_t rows, int chunks, int c) { return rows * c / chunks; }

/* acc[j] (+)= src[j] as fp32, j < n; the dtype switch outside the loops so
 * that each loop vectorises. */
static void add_row(float *acc, const void *src, tpf_dtype_t t, int64_t n, int first) {
  switch (t) {
  case TPF_FLOAT32: {
    const float *s = src;
    if (first) memcpy(acc, s, sizeof(float) * (size_t)n);
    else for (int64_t j = 0; j < n; j++) acc[j] += s[j];
    break;
  }
  case TPF_BFLOAT16: {
    const uint16_t *s = src;
    for (int64_t j = 0; j < n; j++) {
      uint32_t bits = (uint32_t)s[j] << 16;
      float v;
      memcpy(&v, &bits, sizeof v);
      acc[j] = first ? v : acc[j] + v;
    }
    break;
  }
  case TPF_FLOAT16: {
    const uint16_t *s = src;
    for (int64_t j = 0; j < n; j++) acc[j] = first ? tpf_f16_to_f32(s[j]) : acc[j] + tpf_f16_to_f32(s[j]);
    break;
  }
  }
}

/* Copies rows [first, first + rows) of the input to the same rows of the
 * (dense, ld n) buffer. */
static void copy_rows(const tpf_rsc_problem_t *p, void *buffer, int64_t first, int64_t rows) {
  size_t es = tpf_dtype_size(p->dtype), row_bytes = (size_t)p->n * es;
  for (int64_t i = first; i < first + rows; i++)
    memcpy((char *)buffer + (size_t)(i * p->n) * es, (const char *)p->in + (size_t)(i * p->in_ld) * es, row_bytes);
}

void tpf_sum_rows(tpf_comm_t *comm, const void *const *src, const int64_t *src_ld, tpf_dtype_t src_dtype,
                  int64_t first, int64_t rows, int64_t n, float divisor, const float *bias, void *out,
                  tpf_dtype_t out_dtype, int64_t out_ld) {
  const size_t es = tpf_dtype_size(src_dtype), out_es = tpf_dtype_size(out_dtype);
  float *acc = comm->row_scratch;
  tpf_finish_fn finish = comm->gemm.isa->for_dtype[TPF_FLOAT32]->finish;
  for (int64_t i = 0; i < rows; i++) {
    for (int q = 0; q < comm->size; q++)
      add_row(acc, (const char *)src[q] + (size_t)((first + i) * src_ld[q]) * es, src_dtype, n, q == 0);
    /* the GEMM's epilogue: divide, add the bias, round once (vectorised) */
    tpf_gemm_epilogue_t epi = {NULL, n, divisor, bias, (char *)out + (size_t)(i * out_ld) * out_es, out_dtype, n};
    finish(&epi, acc, n, 0, 1, 0, n);
  }
}

tpf_status_t tpf_rsc_reserve(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  if (!tpf_transport_is_message(ep->transport)) return ep->transport->reserve(ep, tpf_rsc_buffer_bytes(comm, p));
  tpf_status_t s = ep->transport->reserve(ep, tpf_rsc_msg_buffer_bytes(p, comm->size));
  return s == TPF_OK ? ep->transport->reserve_requests(ep, tpf_rsc_msg_requests(p, comm->size)) : s;
}

/* In place (ranks that share an address space): the owner reads its rows
 * of every peer's input where it is, chunk by chunk, and sums them in rank
 * order with the same arithmetic as below; nothing is copied. Each rank
 * returns once every peer is done reading its input. */
static tpf_status_t run_in_place(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank;
  const size_t es = tpf_dtype_size(p->dtype);
  const int64_t first = p->row_offsets[r], rows = block_rows(p, r);
  const tpf_fingerprint_t *fp = comm->fingerprints; /* every rank's input address */
  const void **from = (const void **)comm->peer_scratch;
  int64_t *lds = comm->ld_scratch;
  for (int c = 0; c < p->chunks; c++) {
    int64_t r0 = chunk_start(rows, p->chunks, c), r1 = chunk_start(rows, p->chunks, c + 1);
    for (int q = 0; q < W; q++) {
      from[q] = q == r ? (const char *)p->in + (size_t)((first + r0) * p->in_ld) * es
                       : tr->peer_memory(ep, q, (uintptr_t)fp[q].in_addr + (size_t)((first + r0) * fp[q].in_ld) * es);
      lds[q] = q == r ? p->in_ld : fp[q].in_ld;
    }
    int64_t t = tpf_trace_begin(p->trace);
    tpf_sum_rows(comm, from, lds, p->dtype, 0, r1 - r0, p->n, p->divisor, p->bias,
                 (char *)p->out + (size_t)(r0 * p->out_ld) * es, p->dtype, p->out_ld);
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

tpf_status_t tpf_rsc_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p) {
  if (tpf_transport_is_message(comm->ep->transport)) return tpf_rsc_msg_run(comm, p);
  if (comm->ep->peer_reads == TPF_PEER_READS_IN_PLACE) return run_in_place(comm, p);
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  const int W = comm->size, r = comm->rank, N = p->chunks;
  const uint32_t produced = comm->produced_base, consumed = comm->consumed_base;
  const size_t es = tpf_dtype_size(p->dtype);
  tpf_status_t st = TPF_OK;

  /* 1. Hand out: the blocks of r+1, r+2, ..., chunk by chunk. */
  char *mine = (char *)tr->buffer(ep, r);
  for (int s = 0; s < W - 1; s++) {
    int j = (r + 1 + s) % W;
    int64_t rows = block_rows(p, j);
    for (int c = 0; c < N; c++) {
      int64_t r0 = chunk_start(rows, N, c), r1 = chunk_start(rows, N, c + 1);
      int64_t t = tpf_trace_begin(p->trace);
      copy_rows(p, mine, p->row_offsets[j] + r0, r1 - r0);
      tpf_trace_end(p->trace, t, TPF_EVENT_COPY, s, c, j);
      tr->post(ep, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
    }
  }

  /* 2. Reduce the own block as the chunks arrive. */
  const void **from = (const void **)comm->peer_scratch;
  int64_t *lds = comm->ld_scratch;
  const int64_t first = p->row_offsets[r], rows = block_rows(p, r);
  for (int q = 0; q < W; q++) {
    from[q] = q == r ? (const char *)p->in + (size_t)(first * p->in_ld) * es
                     : (const char *)tr->buffer(ep, q) + (size_t)(first * p->n) * es;
    lds[q] = q == r ? p->in_ld : p->n;
  }
  for (int c = 0; c < N && st == TPF_OK; c++) {
    int64_t r0 = chunk_start(rows, N, c), r1 = chunk_start(rows, N, c + 1);
    for (int q = 0; q < W && st == TPF_OK; q++) {
      if (q == r) continue;
      int s = ((r - q - 1) % W + W) % W; /* the step at which q copies r's block */
      int64_t t = tpf_trace_begin(p->trace);
      st = tr->wait(ep, q, TPF_COUNTER_PRODUCED, produced + (uint32_t)(s * N + c + 1));
      tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, s, c, q);
    }
    int64_t t = tpf_trace_begin(p->trace);
    if (st == TPF_OK)
      tpf_sum_rows(comm, from, lds, p->dtype, r0, r1 - r0, p->n, p->divisor, p->bias,
                   (char *)p->out + (size_t)(r0 * p->out_ld) * es, p->dtype, p->out_ld);
    tpf_trace_end(p->trace, t, TPF_EVENT_REDUCE, -1, c, -1);
  }

  /* 3. Return only when every peer has read what this rank handed out. */
  if (st == TPF_OK) {
    tr->post(ep, TPF_COUNTER_CONSUMED, consumed + 1);
    int64_t t = tpf_trace_begin(p->trace);
    for (int q = 0; q < W && st == TPF_OK; q++) st = tr->wait(ep, q, TPF_COUNTER_CONSUMED, consumed + 1);
    tpf_trace_end(p->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  }
  comm->produced_base += (uint32_t)((W - 1) * N);
  comm->consumed_base += 1;
  return st;
}
