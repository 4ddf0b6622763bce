/* AllGather: the operator (its table, rules and plan) and the gather's
 * schedule in steps (all_gather.h), written once over the links.
 *
 * Every rank hands its block out chunk by chunk: peers that read its
 * memory in place (threads; processes whose block lies in memory the rank
 * shared with tpf_mem_alloc) read it where it is; other memory peers read
 * a copy in its buffer; message peers get a send of each chunk. Each chunk
 * is posted (PRODUCED) as soon as it is ready, so a reader copies chunk c
 * while later ones are still being handed out. Staged through a ring of a
 * few places of about 256 KiB, a chunk is still in the caches when the
 * peers copy it, and memory sees each byte about once (a whole block
 * staged at once would pass through memory twice). The bits are copied,
 * never converted.
 *
 * The buffer (from g->base on): this rank's staged chunks (the ring of
 * places, or the whole block, dense) when memory peers cannot read it in
 * place or sends need its rows contiguous; then, when a peer is reached by
 * messages and out cannot receive in place, m x cols received (by global
 * row). */
#include "all_gather.h"

#include <string.h>

#include "agree.h"
#include "common/half.h"
#include "common/status.h"
#include "gemm/gemm.h"
#include "operator.h"
#include "split.h"
#include "sums.h"
#include "trace.h"

enum { ALIGN = 64 };

static size_t elem(const tpf_gather_t *g) { return tpf_dtype_size(g->dtype); }
static size_t row_bytes(const tpf_gather_t *g) { return (size_t)g->cols * elem(g); }
static int64_t rows_of(const tpf_gather_t *g, int q) { return tpf_block_rows(g->offsets, q); }
static int64_t chunk_first(const tpf_gather_t *g, int q, int c) { return tpf_chunk_start(rows_of(g, q), g->chunks, c); }

int tpf_gather_chunks(int comm_turn, int64_t largest_block, int64_t cols, tpf_dtype_t dtype, int staged) {
  if (comm_turn > 0) return tpf_turn_chunks(comm_turn, largest_block);
  const int64_t row_bytes = cols * (int64_t)tpf_dtype_size(dtype);
  if (staged) { /* places of about 256 KiB: a ring of them stays in the L2 caches */
    const int64_t rows = (256 * 1024 + row_bytes - 1) / row_bytes, chunks = (largest_block + rows - 1) / rows;
    return chunks < 1 ? 1 : chunks > 4096 ? 4096 : (int)chunks;
  }
  int64_t rows = (256 * 1024) / row_bytes;
  if (rows < 1) rows = 1;
  int64_t chunks = largest_block / rows;
  return chunks < 1 ? 1 : chunks > 16 ? 16 : (int)chunks;
}

/* Where a memory peer reads this rank's block in place, or NULL. The same
 * answer on every rank that reaches it through memory. */
static const void *readable_in_place(const tpf_comm_t *comm, const tpf_gather_t *g, int q, uintptr_t addr,
                                     int64_t ld) {
  if (comm->reach != TPF_REACH_IN_PLACE && comm->reach != TPF_REACH_SHARED) return NULL;
  tpf_endpoint_t *ep = comm->ep;
  return ep->transport->peer_memory(ep, q, addr, tpf_span_bytes(rows_of(g, q), g->cols, ld, elem(g)));
}

static int any_memory_peer(const tpf_links_t *l) {
  for (int q = 0; q < l->ep->size; q++)
    if (q != l->ep->rank && tpf_link_memory(l, q)) return 1;
  return 0;
}

/* Whether this rank copies its block into its buffer: memory peers cannot
 * read it in place, or message peers need its rows contiguous. */
static int own_copied(const tpf_comm_t *comm, const tpf_gather_t *g) {
  const tpf_links_t *l = &comm->links;
  if (rows_of(g, comm->rank) == 0) return 0;
  if (any_memory_peer(l) && !readable_in_place(comm, g, comm->rank, (uintptr_t)g->in, g->in_ld)) return 1;
  return l->messages && g->in_ld != g->cols;
}

/* A staging place of rank q: its largest chunk. */
static size_t place_bytes(const tpf_gather_t *g, int q) {
  return (size_t)((rows_of(g, q) + g->chunks - 1) / g->chunks) * row_bytes(g);
}

/* Where rank q stages its chunk c, from g->base in its buffer. */
static size_t staged_at(const tpf_gather_t *g, int q, int c) {
  if (g->slots) return (size_t)(c % g->slots) * place_bytes(g, q);
  return (size_t)chunk_first(g, q, c) * row_bytes(g);
}

static size_t own_bytes(const tpf_comm_t *comm, const tpf_gather_t *g) {
  if (!own_copied(comm, g)) return 0;
  const int r = comm->rank;
  size_t bytes = g->slots ? (size_t)g->slots * place_bytes(g, r) : (size_t)rows_of(g, r) * row_bytes(g);
  return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* Whether message chunks land in out itself (else in the buffer). */
static int received_in_out(const tpf_gather_t *g) { return g->out && g->out_ld == g->cols; }

size_t tpf_gather_bytes(const tpf_comm_t *comm, const tpf_gather_t *g) {
  const size_t received = comm->links.messages && !received_in_out(g)
                              ? (size_t)g->offsets[comm->size] * row_bytes(g) : 0;
  return own_bytes(comm, g) + received;
}

int tpf_gather_requests(const tpf_comm_t *comm, const tpf_gather_t *g) {
  return g->first_slot + 2 * comm->size * g->chunks;
}

/* Where q's chunk c is received over messages. */
static char *received_at(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c) {
  const size_t at = (size_t)(g->offsets[q] + chunk_first(g, q, c)) * row_bytes(g);
  if (received_in_out(g)) return (char *)g->out + at;
  return (char *)tpf_links_mine(&comm->links) + g->base + own_bytes(comm, g) + at;
}

int tpf_gather_streams(int64_t out_bytes) {
  /* Streamed copies skip reading each line of out before writing it; below
   * this size the cached copies measured faster (docs/performance.md,
   * "The all-gather's copies"). */
  return out_bytes >= (int64_t)16 << 20;
}

/* Copies rows of `cols` from src (ld src_ld) to dst (ld dst_ld), in one
 * piece when both are dense: by hand-over where a peer reads dst next,
 * else into out, streamed where g says so. */
static void copy_rows(tpf_comm_t *comm, const tpf_gather_t *g, void *dst, int64_t dst_ld, const void *src,
                      int64_t src_ld, int64_t rows, int hand_over) {
  const size_t es = elem(g), rb = row_bytes(g);
  const tpf_hand_over_fn copy = comm->gemm.isa->hand_over;
  if (rows == 0) return; /* (an empty block may have no memory at all) */
  if (dst_ld == g->cols && src_ld == g->cols) {
    if (hand_over || g->stream_out) copy(dst, src, (size_t)rows * rb, !hand_over);
    else memcpy(dst, src, (size_t)rows * rb);
    return;
  }
  for (int64_t i = 0; i < rows; i++) {
    char *d = (char *)dst + (size_t)(i * dst_ld) * es;
    const char *s = (const char *)src + (size_t)(i * src_ld) * es;
    if (hand_over || g->stream_out) copy(d, s, rb, !hand_over);
    else memcpy(d, s, rb);
  }
}

static int tag_of(int c) { return c % TPF_MESSAGE_TAG_LIMIT; }

tpf_status_t tpf_gather_expect(tpf_comm_t *comm, const tpf_gather_t *g) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, N = g->chunks;
  tpf_status_t st = TPF_OK;
  for (int q = 0; q < W && st == TPF_OK; q++)
    for (int c = 0; c < N && st == TPF_OK && !tpf_link_memory(l, q); c++) {
      const int64_t rows = chunk_first(g, q, c + 1) - chunk_first(g, q, c);
      st = tpf_link_expect(l, q, g->first_slot + W * N + q * N + c, received_at(comm, g, q, c), (size_t)rows * row_bytes(g),
                           tag_of(c));
    }
  return st;
}

tpf_status_t tpf_gather_put(tpf_comm_t *comm, const tpf_gather_t *g, int c, uint32_t ahead) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank, N = g->chunks;
  const size_t es = elem(g), rb = row_bytes(g);
  const int64_t r0 = chunk_first(g, r, c), rows = chunk_first(g, r, c + 1) - r0;
  const char *src = (const char *)g->in + (size_t)(r0 * g->in_ld) * es, *send = src;
  tpf_gemm_stream_fence(); /* rows the caller's reduction streamed are seen before they are posted */
  tpf_status_t st = TPF_OK;
  const int copied = own_copied(comm, g), reuse = copied && g->slots && c >= g->slots; /* the place held c - slots */
  for (int q = 0; q < W && reuse && st == TPF_OK; q++)
    if (q != r) st = tpf_link_reclaim(l, q, (uint32_t)(c - g->slots + 1), g->first_slot + q * N + c - g->slots, 0, c);
  if (st != TPF_OK) return st;
  if (copied) {
    char *to = (char *)tpf_links_mine(l) + g->base + staged_at(g, r, c);
    int64_t t = tpf_trace_begin(g->trace);
    copy_rows(comm, g, to, g->cols, src, g->in_ld, rows, 1);
    tpf_trace_end(g->trace, t, TPF_EVENT_COPY, 0, c, -1);
    send = to;
  }
  if (any_memory_peer(l)) st = tpf_link_put(l, r, ahead + (uint32_t)(c + 1), -1, NULL, 0, 0);
  for (int q = 0; q < W && st == TPF_OK; q++) /* (one post serves every memory peer) */
    if (!tpf_link_memory(l, q))
      st = tpf_link_put(l, q, ahead + (uint32_t)(c + 1), g->first_slot + q * N + c, send, (size_t)rows * rb, tag_of(c));
  char *own_out = g->out ? (char *)g->out + (size_t)((g->offsets[r] + r0) * g->out_ld) * es : NULL;
  if (own_out && own_out != src) copy_rows(comm, g, own_out, g->out_ld, src, g->in_ld, rows, 0);
  return st;
}

tpf_status_t tpf_gather_publish(tpf_comm_t *comm, const tpf_gather_t *g) {
  tpf_links_begin(&comm->links, g->trace);
  tpf_status_t st = tpf_gather_expect(comm, g);
  for (int c = 0; c < g->chunks && st == TPF_OK; c++) st = tpf_gather_put(comm, g, c, 0);
  return st;
}

tpf_status_t tpf_gather_get(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c, int step) {
  tpf_status_t st = tpf_agree_finish(comm); /* before anything received is used */
  if (st != TPF_OK) return st;
  return tpf_link_get(&comm->links, q, (uint32_t)(c + 1), g->first_slot + comm->size * g->chunks + q * g->chunks + c,
                      step, c);
}

const void *tpf_gather_source(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c, int64_t *ld) {
  tpf_links_t *l = &comm->links;
  const size_t es = elem(g);
  const int64_t r0 = chunk_first(g, q, c);
  *ld = g->cols;
  if (q == comm->rank) {
    *ld = g->in_ld;
    return (const char *)g->in + (size_t)(r0 * g->in_ld) * es;
  }
  if (!tpf_link_memory(l, q)) return received_at(comm, g, q, c);
  const tpf_fingerprint_t *f = &comm->fingerprints[q];
  const int64_t published_ld = g->from_out ? f->out_ld : f->in_ld;
  const uintptr_t published = g->from_out ? (uintptr_t)f->out_addr + (size_t)(g->offsets[q] * f->out_ld) * es
                                          : (uintptr_t)f->in_addr;
  const char *block = readable_in_place(comm, g, q, published, published_ld);
  if (block) {
    *ld = published_ld;
    return block + (size_t)(r0 * published_ld) * es;
  }
  return tpf_link_at(l, q, g->base + staged_at(g, q, c), NULL); /* q's copy */
}

void tpf_gather_copy_out(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c) {
  if (!g->out || q == comm->rank || (!tpf_link_memory(&comm->links, q) && received_in_out(g))) return;
  const int64_t r0 = chunk_first(g, q, c), rows = chunk_first(g, q, c + 1) - r0;
  int64_t ld;
  const void *src = tpf_gather_source(comm, g, q, c, &ld);
  int64_t t = tpf_trace_begin(g->trace);
  copy_rows(comm, g, (char *)g->out + (size_t)((g->offsets[q] + r0) * g->out_ld) * elem(g), g->out_ld, src, ld,
            rows, 0);
  tpf_trace_end(g->trace, t, TPF_EVENT_COPY, -1, c, q);
}

tpf_status_t tpf_gather_finish(tpf_comm_t *comm, const tpf_gather_t *g, tpf_status_t st) {
  tpf_links_t *l = &comm->links;
  const uint32_t N = (uint32_t)g->chunks;
  if (st == TPF_OK) tpf_link_release(l, N);
  st = tpf_links_await_readers(l, N, st); /* then this rank's block and buffer are free */
  return tpf_links_end(l, tpf_gather_requests(comm, g), N, N, st);
}

tpf_status_t tpf_gather_run(tpf_comm_t *comm, const tpf_gather_t *g) {
  tpf_links_t *l = &comm->links;
  const int W = comm->size, r = comm->rank, N = g->chunks;
  tpf_links_begin(l, g->trace);
  tpf_status_t st = tpf_gather_expect(comm, g);
  for (int c = 0; c <= N && st == TPF_OK; c++) {
    if (c < N) st = tpf_gather_put(comm, g, c, 0);
    if (c == 0) continue;
    for (int s = 1; s < W && st == TPF_OK; s++) {
      const int q = (r - s + W) % W;
      if ((st = tpf_gather_get(comm, g, q, c - 1, s)) == TPF_OK) tpf_gather_copy_out(comm, g, q, c - 1);
    }
    if (st == TPF_OK) tpf_link_release(l, (uint32_t)c); /* every peer's chunk c - 1 is copied */
  }
  return tpf_gather_finish(comm, g, st);
}

/* ------------------------------------------------------------ the operator */

static tpf_status_t run(tpf_comm_t *comm, void *problem) {
  tpf_status_t st = tpf_gather_run(comm, problem);
  tpf_status_t agreed = tpf_agree_finish(comm); /* (taken already unless the schedule failed first) */
  return st != TPF_OK ? st : agreed;
}

/* in: this rank's block; out: every block. in may be out's own rows (the
 * same leading dimension); no other overlap. */
static tpf_status_t check(tpf_comm_t *comm, const tpf_matrix_t *in, const tpf_matrix_t *out,
                          const tpf_mm_options_t *o, tpf_fingerprint_t *mine) {
  tpf_span_t si, so;
  tpf_status_t s;
  if (!out) return tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if ((s = tpf_check_matrix("out", out, 0, &so)) != TPF_OK) return s;
  if (out->transposed) return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if ((s = tpf_check_product("out", out->rows, out->cols)) != TPF_OK) return s;
  if ((s = tpf_split_rows(comm, o->row_counts, out->rows, 0)) != TPF_OK) return s;
  const int64_t owned = tpf_block_rows(comm->row_offsets, comm->rank);
  if ((s = tpf_check_matrix("in", in, owned == 0 ? 0 : 1, &si)) != TPF_OK) return s;
  if (in->transposed) return tpf_fail(TPF_ERR_INVALID, "in.transposed=1: the input must be a row-major view");
  if (in->dtype != out->dtype)
    return tpf_fail(TPF_ERR_INVALID, "out is %s but in is %s: the result has in's dtype", tpf_dtype_name(out->dtype),
                    tpf_dtype_name(in->dtype));
  if (in->rows != owned || in->cols != out->cols)
    return tpf_fail(TPF_ERR_INVALID, "in is %lld x %lld but rank %d's block of out is %lld x %lld",
                    (long long)in->rows, (long long)in->cols, comm->rank, (long long)owned, (long long)out->cols);
  if (o->reduce_op != TPF_SUM || o->bias)
    return tpf_fail(TPF_ERR_INVALID, "opt->%s: tpf_all_gather reduces nothing", o->bias ? "bias" : "reduce_op");
  const size_t es = tpf_dtype_size(in->dtype);
  const int in_own_rows = in->data == (const char *)out->data + (size_t)(comm->row_offsets[comm->rank] *
                                                                           tpf_matrix_ld(out)) * es &&
                          tpf_matrix_ld(in) == tpf_matrix_ld(out);
  if (tpf_spans_overlap(so, si) && !in_own_rows)
    return tpf_fail(TPF_ERR_INVALID, "out overlaps in in memory (in may only be out's own rows, with out's leading "
                    "dimension)");
  tpf_record_spans(mine, (tpf_span_t[]){so, {0, 0}},
                   (tpf_span_t[]){si, {0, 0}, {0, 0}, {0, 0}});
  return TPF_OK;
}

static tpf_status_t prepare(tpf_comm_t *comm, const tpf_call_t *call, const tpf_mm_options_t *o, void *state,
                            void *problem, tpf_plan_t *plan, tpf_fingerprint_t *mine) {
  (void)state;
  const tpf_matrix_t *in = call->a, *out = call->out;
  tpf_gather_t *g = problem;
  memset(g, 0, sizeof *g);
  tpf_status_t s = check(comm, in, out, o, mine);
  if (s != TPF_OK) return s;
  *g = (tpf_gather_t){.in = in->data, .in_ld = tpf_matrix_ld(in), .out = out->data, .out_ld = tpf_matrix_ld(out),
                      .cols = out->cols, .dtype = out->dtype, .offsets = comm->row_offsets,
                      .chunks = tpf_gather_chunks(o->comm_turn, tpf_largest_block(comm->row_offsets, comm->size),
                                                  out->cols, out->dtype, comm->reach == TPF_REACH_SHARED),
                      .stream_out = tpf_gather_streams(out->rows * out->cols * (int64_t)tpf_dtype_size(out->dtype)),
                      .slots = TPF_GATHER_SLOTS, .trace = o->trace};
  *plan = (tpf_plan_t){.n = g->cols, .dtype = g->dtype};
  mine->m = out->rows, mine->n = out->cols;
  mine->in_addr = (uint64_t)(uintptr_t)in->data, mine->in_ld = g->in_ld;
  return tpf_links_reserve(&comm->links, tpf_gather_bytes(comm, g), tpf_gather_requests(comm, g));
}

_Static_assert(sizeof(tpf_gather_t) <= TPF_PROBLEM_BYTES, "the pipeline's room for a problem");

const tpf_operator_t tpf_op_all_gather = {.kind = TPF_OP_ALL_GATHER,
                                          .name = "tpf_all_gather",
                                          .reads = {"in", "(nothing)", "(nothing)", "(nothing)"},
                                          .writes = {"out", "(nothing)"},
                                          .prepare = prepare,
                                          .run = run};
