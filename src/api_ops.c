/* Public entry points for the collective calls (the operators and the
 * memory ranks share): check every argument, agree with the peers on the
 * call (fingerprints), then run it. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"
#include "ops/agree.h"
#include "ops/fingerprint.h"
#include "ops/mm_reduce_scatter.h"
#include "ops/reduce_scatter.h"
#include "ops/split.h"
#include "registry.h"

/* The fields of tpf_mm_options_t that a caller of each size knows about. */
#define OPTIONS_HAS(opt, field) ((opt)->size >= offsetof(tpf_mm_options_t, field) + sizeof((opt)->field))

static tpf_status_t read_options(const tpf_mm_options_t *opt, tpf_mm_options_t *o) {
  *o = (tpf_mm_options_t)TPF_MM_OPTIONS_INIT;
  if (!opt) return TPF_OK;
  if (!OPTIONS_HAS(opt, row_counts))
    return tpf_fail(TPF_ERR_INVALID, "opt->size=%zu is too small for a tpf_mm_options_t (use TPF_MM_OPTIONS_INIT)",
                    opt->size);
  if (opt->size > sizeof(tpf_mm_options_t))
    return tpf_fail(TPF_ERR_UNSUPPORTED, "opt->size=%zu is larger than this library's tpf_mm_options_t (%zu): built against a newer tpfuse.h?",
                    opt->size, sizeof(tpf_mm_options_t));
  memcpy(o, opt, opt->size);
  o->size = sizeof *o;
  if (o->reduce_op != TPF_SUM && o->reduce_op != TPF_AVG)
    return tpf_fail(TPF_ERR_INVALID, "opt->reduce_op=%d must be TPF_SUM or TPF_AVG", (int)o->reduce_op);
  if (o->comm_turn < 0)
    return tpf_fail(TPF_ERR_INVALID, "opt->comm_turn=%d must be >= 0 (0 = automatic)", o->comm_turn);
  if (o->algo < TPF_ALGO_AUTO || o->algo > TPF_ALGO_DIRECT)
    return tpf_fail(TPF_ERR_INVALID, "opt->algo=%d is not a tpf_algo_t", (int)o->algo);
  if (o->bias_len < 0)
    return tpf_fail(TPF_ERR_INVALID, "opt->bias_len=%lld must be >= 0", (long long)o->bias_len);
  if (o->trace && (o->trace->capacity < 0 || (o->trace->capacity > 0 && !o->trace->events)))
    return tpf_fail(TPF_ERR_INVALID, "opt->trace has capacity %d and events %p: give >= 0 events and memory for them",
                    o->trace->capacity, (void *)o->trace->events);
  return TPF_OK;
}

/* Fills offsets[0..W] from row_counts (or the even split of m). */
static tpf_status_t split_rows(const int64_t *counts, int64_t m, int W, int64_t *offsets) {
  offsets[0] = 0;
  if (!counts) {
    if (m % W != 0)
      return tpf_fail(TPF_ERR_INVALID, "m=%lld does not divide by world_size %d; pass opt->row_counts for an uneven split",
                      (long long)m, W);
    for (int q = 0; q < W; q++) offsets[q + 1] = offsets[q] + m / W;
    return TPF_OK;
  }
  for (int q = 0; q < W; q++) {
    if (counts[q] < 0 || counts[q] > m)
      return tpf_fail(TPF_ERR_INVALID, "opt->row_counts[%d]=%lld must be in [0, m=%lld]", q,
                      (long long)counts[q], (long long)m);
    if (counts[q] > m - offsets[q]) /* (so that the sum cannot overflow) */
      return tpf_fail(TPF_ERR_INVALID, "opt->row_counts add up to more than m=%lld (by rank %d)",
                      (long long)m, q);
    offsets[q + 1] = offsets[q] + counts[q];
  }
  if (offsets[W] != m)
    return tpf_fail(TPF_ERR_INVALID, "opt->row_counts add up to %lld, not m=%lld",
                    (long long)offsets[W], (long long)m);
  return TPF_OK;
}

/* The bias of n elements of dtype t (its length, if given); its span. */
static tpf_status_t check_bias(const tpf_mm_options_t *o, int64_t n, tpf_dtype_t t, tpf_span_t *span) {
  *span = (tpf_span_t){0, 0};
  if (!o->bias)
    return o->bias_len == 0 ? TPF_OK
                            : tpf_fail(TPF_ERR_INVALID, "opt->bias_len=%lld but opt->bias is NULL", (long long)o->bias_len);
  if ((uintptr_t)o->bias % tpf_dtype_size(t))
    return tpf_fail(TPF_ERR_INVALID, "opt->bias=%p is not aligned to its %zu-byte elements", o->bias,
                    tpf_dtype_size(t));
  if (o->bias_len != 0 && o->bias_len != n)
    return tpf_fail(TPF_ERR_INVALID, "opt->bias_len=%lld but the bias must hold n=%lld elements",
                    (long long)o->bias_len, (long long)n);
  span->begin = (uintptr_t)o->bias;
  span->end = span->begin + (size_t)n * tpf_dtype_size(t);
  return TPF_OK;
}

/* The bytes a call writes and reads, in its fingerprint (for ranks of one
 * address space: tpf_fingerprint_no_aliasing). */
static void record_spans(tpf_fingerprint_t *f, tpf_span_t out, tpf_span_t r0, tpf_span_t r1, tpf_span_t r2) {
  const tpf_span_t reads[TPF_FINGERPRINT_READS] = {r0, r1, r2};
  f->writes[0] = out.begin, f->writes[1] = out.end;
  for (int i = 0; i < TPF_FINGERPRINT_READS; i++) f->reads[i][0] = reads[i].begin, f->reads[i][1] = reads[i].end;
}

static const char *const rs_reads[TPF_FINGERPRINT_READS] = {"a", "b", "bias"};
static const char *const rsc_reads[TPF_FINGERPRINT_READS] = {"in", "bias", "(nothing)"};

/* Every local rule of tpf_mm_reduce_scatter; on success fills the problem
 * (except algo and chunks) and the spans of the fingerprint. */
static tpf_status_t check_rs(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                             const tpf_matrix_t *out, const tpf_mm_options_t *o,
                             tpf_rs_problem_t *p, tpf_fingerprint_t *mine) {
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
  if ((s = split_rows(o->row_counts, a->rows, comm->size, comm->row_offsets)) != TPF_OK) return s;
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
  if ((s = check_bias(o, b->cols, a->dtype, &sbias)) != TPF_OK) return s;
  if (tpf_spans_overlap(so, sa)) return tpf_fail(TPF_ERR_INVALID, "out overlaps a in memory");
  if (tpf_spans_overlap(so, sb)) return tpf_fail(TPF_ERR_INVALID, "out overlaps b in memory");
  if (tpf_spans_overlap(so, sbias)) return tpf_fail(TPF_ERR_INVALID, "out overlaps the bias in memory");
  record_spans(mine, so, sa, sb, sbias);

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

/* Converts the bias to fp32 once per call, into the rank's own buffer. */
static tpf_status_t stage_bias(tpf_comm_t *comm, const void *bias, tpf_dtype_t t, int64_t n) {
  void *buf = comm->bias;
  tpf_status_t s = tpf_buffer_reserve(&buf, &comm->bias_capacity, sizeof(float) * (size_t)n, "the bias");
  comm->bias = buf;
  if (s == TPF_OK) tpf_convert_to_f32(comm->bias, bias, t, (size_t)n);
  return s;
}

/* Fills the fields every operator's fingerprint has. */
static void describe_call(tpf_fingerprint_t *f, const tpf_comm_t *comm, const tpf_mm_options_t *o,
                          tpf_dtype_t dtype) {
  f->dtype = (int32_t)dtype;
  f->reduce_op = (int32_t)o->reduce_op;
  f->has_bias = o->bias != NULL;
  f->comm_turn = o->comm_turn;
  f->even_split = o->row_counts == NULL;
  f->row_counts_hash = o->row_counts ? tpf_hash_counts(o->row_counts, comm->size) : 0;
}

static int64_t largest_block(const tpf_comm_t *comm) { return tpf_largest_block(comm->row_offsets, comm->size); }

/* What every operator does first (within its call on the rank): a healthy
 * communicator (failing here involves no peer), a blank fingerprint of
 * `op`, the options. */
static tpf_status_t begin_call(tpf_comm_t *comm, tpf_op_kind_t op, tpf_fingerprint_t *mine,
                               const tpf_mm_options_t *opt, tpf_mm_options_t *o, tpf_status_t *local) {
  tpf_status_t s = comm->ep->transport->health(comm->ep);
  if (s != TPF_OK) return s;
  memset(mine, 0, sizeof *mine);
  mine->op = op;
  *local = read_options(opt, o);
  return TPF_OK;
}

static tpf_status_t mm_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                      tpf_matrix_t *out, const tpf_mm_options_t *opt) {
  tpf_mm_options_t o;
  tpf_rs_problem_t p;
  memset(&p, 0, sizeof p);
  tpf_fingerprint_t mine;
  tpf_status_t s, early = begin_call(comm, TPF_OP_MM_REDUCE_SCATTER, &mine, opt, &o, &s);
  if (early != TPF_OK) return early;
  if (s == TPF_OK) s = check_rs(comm, a, b, out, &o, &p, &mine);
  if (s == TPF_OK) {
    p.algo = tpf_mm_rs_choose_algo(o.algo != TPF_ALGO_AUTO ? o.algo : comm->algo, p.m, p.n, p.k, comm->size,
                                   a->dtype, comm->reach);
    p.chunks = tpf_mm_rs_chunks(o.comm_turn, largest_block(comm), p.n, p.k);
    p.trace = o.trace;
    s = tpf_mm_rs_reserve(comm, &p);
  }
  if (s == TPF_OK) s = tpf_reserve_row_scratch(comm, p.n);
  if (s == TPF_OK && o.bias) {
    s = stage_bias(comm, o.bias, a->dtype, p.n);
    p.bias = comm->bias;
  }
  /* B is packed during the first chunk and kept for the others. */
  if (s == TPF_OK)
    s = tpf_gemm_set_b(&comm->gemm, p.k, p.n, &p.b, tpf_mm_rs_keeps_b(&comm->gemm, &p, comm->size));
  if (s == TPF_OK) {
    mine.m = p.m, mine.n = p.n, mine.k = p.k;
    mine.algo = (int32_t)p.algo;
    describe_call(&mine, comm, &o, a->dtype);
  }
  if ((s = tpf_agree_start(comm, &mine, s, 1)) != TPF_OK) return s;
  if (comm->reach == TPF_REACH_IN_PLACE &&
      (s = tpf_fingerprint_no_aliasing(comm->fingerprints, comm->size, rs_reads)) != TPF_OK)
    return s;
  return tpf_mm_rs_run(comm, &p);
}

static tpf_status_t reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                   const tpf_mm_options_t *opt) {
  tpf_mm_options_t o;
  tpf_rsc_problem_t p;
  memset(&p, 0, sizeof p);
  tpf_fingerprint_t mine;
  tpf_status_t s, early = begin_call(comm, TPF_OP_REDUCE_SCATTER, &mine, opt, &o, &s);
  if (early != TPF_OK) return early;
  tpf_span_t si, so, sbias = {0, 0};
  if (s == TPF_OK) s = tpf_check_matrix("in", in, 1, &si);
  if (s == TPF_OK && in->transposed)
    s = tpf_fail(TPF_ERR_INVALID, "in.transposed=1: the input must be a row-major view");
  if (s == TPF_OK) s = tpf_check_product("in", in->rows, in->cols);
  if (s == TPF_OK) s = split_rows(o.row_counts, in->rows, comm->size, comm->row_offsets);
  int64_t owned = s == TPF_OK ? comm->row_offsets[comm->rank + 1] - comm->row_offsets[comm->rank] : 0;
  if (s == TPF_OK && !out) s = tpf_fail(TPF_ERR_INVALID, "out is NULL");
  if (s == TPF_OK) s = tpf_check_matrix("out", out, owned == 0 ? 0 : 1, &so);
  if (s == TPF_OK && out->dtype != in->dtype)
    s = tpf_fail(TPF_ERR_INVALID, "out is %s but in is %s: the result has in's dtype", tpf_dtype_name(out->dtype),
                 tpf_dtype_name(in->dtype));
  if (s == TPF_OK && out->transposed)
    s = tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (s == TPF_OK && (out->rows != owned || out->cols != in->cols))
    s = tpf_fail(TPF_ERR_INVALID, "out is %lld x %lld but rank %d owns %lld rows of %lld columns",
                 (long long)out->rows, (long long)out->cols, comm->rank, (long long)owned, (long long)in->cols);
  if (s == TPF_OK) s = check_bias(&o, in->cols, in->dtype, &sbias);
  if (s == TPF_OK && tpf_spans_overlap(so, si)) s = tpf_fail(TPF_ERR_INVALID, "out overlaps in in memory");
  if (s == TPF_OK && tpf_spans_overlap(so, sbias)) s = tpf_fail(TPF_ERR_INVALID, "out overlaps the bias in memory");
  if (s == TPF_OK) record_spans(&mine, so, si, sbias, (tpf_span_t){0, 0});
  if (s == TPF_OK) {
    int chunks = tpf_rsc_chunks(o.comm_turn, largest_block(comm), in->cols, in->dtype, tpf_rsc_staged(comm));
    p = (tpf_rsc_problem_t){in->rows, in->cols, in->data, in->dtype, tpf_matrix_ld(in), comm->row_offsets,
                            o.reduce_op == TPF_AVG ? (float)comm->size : 1.0f, NULL, out->data,
                            tpf_matrix_ld(out), chunks, o.trace};
    s = tpf_rsc_reserve(comm, &p);
  }
  if (s == TPF_OK) {
    s = tpf_reserve_row_scratch(comm, p.n);
  }
  if (s == TPF_OK && o.bias) {
    s = stage_bias(comm, o.bias, in->dtype, p.n);
    p.bias = comm->bias;
  }
  if (s == TPF_OK) {
    mine.m = p.m, mine.n = p.n;
    describe_call(&mine, comm, &o, in->dtype);
    mine.in_addr = (uint64_t)(uintptr_t)in->data; /* for peers that read it in place */
    mine.in_ld = p.in_ld;
  }
  if ((s = tpf_agree_start(comm, &mine, s, 1)) != TPF_OK) return s;
  if (comm->reach == TPF_REACH_IN_PLACE &&
      (s = tpf_fingerprint_no_aliasing(comm->fingerprints, comm->size, rsc_reads)) != TPF_OK)
    return s;
  return tpf_rsc_run(comm, &p);
}

static tpf_status_t mem_alloc(tpf_comm_t *comm, size_t bytes, void **ptr) {
  tpf_mm_options_t o;
  tpf_fingerprint_t mine;
  tpf_status_t s, early = begin_call(comm, TPF_OP_MEM_ALLOC, &mine, NULL, &o, &s);
  if (early != TPF_OK) return early;
  if (!ptr) s = tpf_fail(TPF_ERR_INVALID, "ptr is NULL: pass where to store the memory's address");
  else if (bytes == 0) s = tpf_fail(TPF_ERR_INVALID, "bytes=0: allocate at least one byte");
  else if (bytes > (size_t)1 << 46)
    s = tpf_fail(TPF_ERR_INVALID, "bytes=%zu is more than 64 TiB", bytes);
  if ((s = tpf_agree_start(comm, &mine, s, 0)) != TPF_OK) return s;
  void *made = NULL;
  if ((s = comm->ep->transport->share(comm->ep, bytes, &made)) != TPF_OK) return s;
  *ptr = made;
  return TPF_OK;
}

static tpf_status_t mem_free(tpf_comm_t *comm, void *ptr) {
  tpf_mm_options_t o;
  tpf_fingerprint_t mine;
  tpf_status_t s, early = begin_call(comm, TPF_OP_MEM_FREE, &mine, NULL, &o, &s);
  if (early != TPF_OK) return early;
  tpf_endpoint_t *ep = comm->ep;
  if (!ptr || ep->transport->shared_bytes(ep, ptr) == 0)
    s = tpf_fail(TPF_ERR_INVALID, "ptr=%p is not memory that tpf_mem_alloc gave rank %d of this communicator",
                 ptr, comm->rank);
  if ((s = tpf_agree_start(comm, &mine, s, 0)) != TPF_OK) return s;
  return ep->transport->unshare(ep, ptr);
}

static tpf_status_t comm_reject(tpf_comm_t *comm, tpf_status_t status, const char *why) {
  tpf_mm_options_t o;
  tpf_fingerprint_t mine;
  tpf_status_t s, early = begin_call(comm, TPF_OP_REJECT, &mine, NULL, &o, &s);
  if (early != TPF_OK) return early;
  if (status >= TPF_OK || status < TPF_ERR_INTERNAL)
    s = tpf_fail(TPF_ERR_INVALID, "status=%d must be an error status (TPF_ERR_*)", (int)status);
  else
    s = tpf_fail(status, "%s", why && why[0] ? why : "rejected by the caller");
  return tpf_agree_start(comm, &mine, s, 1);
}

/* The public entry points: each runs its body as the rank's one call on
 * the communicator (registry.h), so that destroy, or a second call from
 * another thread, is refused while it runs. */
#define AS_CALL(comm, body)                            \
  do {                                                 \
    tpf_status_t entered = tpf_registry_enter(comm);   \
    if (entered != TPF_OK) return entered;             \
    tpf_status_t result = body;                        \
    tpf_registry_leave(comm);                          \
    return result;                                     \
  } while (0)

tpf_status_t tpf_mm_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                   tpf_matrix_t *out, const tpf_mm_options_t *opt) {
  AS_CALL(comm, mm_reduce_scatter(comm, a, b, out, opt));
}

tpf_status_t tpf_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                const tpf_mm_options_t *opt) {
  AS_CALL(comm, reduce_scatter(comm, in, out, opt));
}

tpf_status_t tpf_mem_alloc(tpf_comm_t *comm, size_t bytes, void **ptr) { AS_CALL(comm, mem_alloc(comm, bytes, ptr)); }

tpf_status_t tpf_mem_free(tpf_comm_t *comm, void *ptr) { AS_CALL(comm, mem_free(comm, ptr)); }

tpf_status_t tpf_comm_reject(tpf_comm_t *comm, tpf_status_t status, const char *why) {
  AS_CALL(comm, comm_reject(comm, status, why));
}
