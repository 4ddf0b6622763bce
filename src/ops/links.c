/* The links to peers and the schedules' vocabulary over them (links.h). */
#include "links.h"

#include <stdlib.h>

#include "common/status.h"
#include "split.h"
#include "trace.h"

tpf_status_t tpf_links_init(tpf_links_t *l, tpf_endpoint_t *ep) {
  const tpf_transport_t *t = ep->transport;
  *l = (tpf_links_t){.ep = ep};
  l->memory = calloc((size_t)ep->size, 1);
  if (!l->memory) return tpf_fail(TPF_ERR_NOMEM, "could not allocate the links to %d peers", ep->size);
  for (int q = 0; q < ep->size; q++) {
    l->memory[q] = q == ep->rank || !tpf_transport_is_message(t) || (t->shares && t->shares(ep, q));
    if (!l->memory[q]) l->messages = 1;
  }
  return TPF_OK;
}

void tpf_links_free(tpf_links_t *l) {
  free(l->memory);
  l->memory = NULL;
}

tpf_status_t tpf_links_reserve(tpf_links_t *l, size_t bytes, int requests) {
  tpf_endpoint_t *ep = l->ep;
  tpf_status_t s = ep->transport->reserve(ep, bytes);
  if (s != TPF_OK || !tpf_transport_is_message(ep->transport)) return s;
  return ep->transport->reserve_requests(ep, requests);
}

void *tpf_links_mine(const tpf_links_t *l) { return l->ep->transport->buffer(l->ep, l->ep->rank); }

void tpf_links_begin(tpf_links_t *l, tpf_trace_t *trace) { l->trace = trace; }

tpf_status_t tpf_links_end(tpf_links_t *l, int slots, uint32_t produced, uint32_t consumed, tpf_status_t st) {
  tpf_endpoint_t *ep = l->ep;
  if (tpf_transport_is_message(ep->transport))
    for (int i = 0; i < slots && st == TPF_OK; i++) st = ep->transport->complete(ep, i);
  l->produced += produced;
  l->consumed += consumed;
  l->trace = NULL;
  return st;
}

tpf_status_t tpf_link_put(tpf_links_t *l, int q, uint32_t seq, int slot, const void *data, size_t bytes, int tag) {
  tpf_endpoint_t *ep = l->ep;
  if (!l->memory[q]) return ep->transport->send(ep, slot, q, data, bytes, tag);
  ep->transport->post(ep, TPF_COUNTER_PRODUCED, l->produced + seq);
  return TPF_OK;
}

tpf_status_t tpf_link_expect(tpf_links_t *l, int q, int slot, void *into, size_t bytes, int tag) {
  if (l->memory[q]) return TPF_OK;
  return l->ep->transport->recv(l->ep, slot, q, into, bytes, tag);
}

tpf_status_t tpf_link_get(tpf_links_t *l, int q, uint32_t seq, int slot, int step, int chunk) {
  tpf_endpoint_t *ep = l->ep;
  int64_t t = tpf_trace_begin(l->trace);
  tpf_status_t s = l->memory[q] ? ep->transport->wait(ep, q, TPF_COUNTER_PRODUCED, l->produced + seq)
                                : ep->transport->complete(ep, slot);
  if (q != ep->rank) tpf_trace_end(l->trace, t, TPF_EVENT_WAIT, step, chunk, q);
  return s;
}

int tpf_link_arrived(tpf_links_t *l, int q, uint32_t seq, int slot) {
  tpf_endpoint_t *ep = l->ep;
  return l->memory[q] ? ep->transport->test(ep, q, TPF_COUNTER_PRODUCED, l->produced + seq)
                      : ep->transport->done(ep, slot);
}

const void *tpf_link_at(const tpf_links_t *l, int q, size_t peer_offset, const void *received) {
  if (!l->memory[q]) return received;
  return (const char *)l->ep->transport->buffer(l->ep, q) + peer_offset;
}

void tpf_link_release(tpf_links_t *l, uint32_t seq) {
  l->ep->transport->post(l->ep, TPF_COUNTER_CONSUMED, l->consumed + seq);
}

tpf_status_t tpf_link_reclaim(tpf_links_t *l, int q, uint32_t seq, int slot, int step, int chunk) {
  tpf_endpoint_t *ep = l->ep;
  if (!l->memory[q] && slot < 0) return TPF_OK; /* (tpf_links_end completes it) */
  int64_t t = tpf_trace_begin(l->trace);
  tpf_status_t s = l->memory[q] ? ep->transport->wait(ep, q, TPF_COUNTER_CONSUMED, l->consumed + seq)
                                : ep->transport->complete(ep, slot);
  tpf_trace_end(l->trace, t, TPF_EVENT_WAIT, step, chunk, q);
  return s;
}

tpf_status_t tpf_links_await_readers(tpf_links_t *l, uint32_t seq, tpf_status_t st) {
  tpf_endpoint_t *ep = l->ep;
  int64_t t = tpf_trace_begin(l->trace);
  for (int q = 0; q < ep->size && st == TPF_OK; q++)
    if (l->memory[q] && q != ep->rank) st = ep->transport->wait(ep, q, TPF_COUNTER_CONSUMED, l->consumed + seq);
  tpf_trace_end(l->trace, t, TPF_EVENT_WAIT, -1, -1, -1);
  return st;
}

static uint32_t arrival_seq(const tpf_links_t *l, const tpf_arrivals_t *a, int q, int c) {
  const int W = l->ep->size, step = ((l->ep->rank - q - a->shift) % W + W) % W;
  return (uint32_t)step * a->step_puts + (uint32_t)c * a->chunk_puts + 1;
}

static int arrival_slot(const tpf_arrivals_t *a, int q, int c) { return a->first_slot + q * a->chunks + c; }

tpf_status_t tpf_arrivals_expect(tpf_links_t *l, const tpf_arrivals_t *a) {
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < l->ep->size && st == TPF_OK; q++) {
    if (l->memory[q]) continue;
    for (int c = 0; c < a->chunks && st == TPF_OK; c++) {
      int64_t r0 = tpf_chunk_start(a->rows, a->chunks, c), r1 = tpf_chunk_start(a->rows, a->chunks, c + 1);
      st = tpf_link_expect(l, q, arrival_slot(a, q, c), a->received + (size_t)(q * a->rows + r0) * a->row_bytes,
                           (size_t)(r1 - r0) * a->row_bytes, c);
    }
  }
  return st;
}

int tpf_arrivals_ready(tpf_links_t *l, const tpf_arrivals_t *a, int c) {
  for (int q = 0; q < l->ep->size; q++)
    if (q != l->ep->rank && !tpf_link_arrived(l, q, arrival_seq(l, a, q, c), arrival_slot(a, q, c))) return 0;
  return 1;
}

tpf_status_t tpf_arrivals_await(tpf_links_t *l, const tpf_arrivals_t *a, int c) {
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < l->ep->size && st == TPF_OK; q++)
    if (q != l->ep->rank) st = tpf_link_get(l, q, arrival_seq(l, a, q, c), arrival_slot(a, q, c), -1, c);
  return st;
}

const void *tpf_arrivals_from(const tpf_arrivals_t *a, int q) {
  return a->received + (size_t)(q * a->rows) * a->row_bytes;
}

static void drive(void *ep) { ((tpf_endpoint_t *)ep)->transport->progress(ep); }

void tpf_link_multiply(tpf_links_t *l, tpf_gemm_engine_t *gemm, int64_t rows, const tpf_gemm_operand_t *a,
                       const tpf_gemm_epilogue_t *epi, int step, int chunk) {
  gemm->progress = l->messages ? drive : NULL;
  gemm->progress_arg = l->ep;
  int64_t t = tpf_trace_begin(l->trace);
  tpf_gemm_multiply(gemm, rows, a, epi);
  tpf_trace_end(l->trace, t, TPF_EVENT_COMPUTE, step, chunk, -1);
  gemm->progress = NULL;
}
