#include "operator.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"
#include "split.h"
#include "sums.h"

/* The fields of tpf_mm_options_t that a caller of each size knows about. */
#define OPTIONS_HAS(opt, field) ((opt)->size >= offsetof(tpf_mm_options_t, field) + sizeof((opt)->field))

tpf_status_t tpf_read_options(const tpf_mm_options_t *opt, tpf_mm_options_t *o) {
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
  if (o->bias_per_rank != 0 && o->bias_per_rank != 1)
    return tpf_fail(TPF_ERR_INVALID, "opt->bias_per_rank=%d must be 0 or 1", o->bias_per_rank);
  if (o->trace && (o->trace->capacity < 0 || (o->trace->capacity > 0 && !o->trace->events)))
    return tpf_fail(TPF_ERR_INVALID, "opt->trace has capacity %d and events %p: give >= 0 events and memory for them",
                    o->trace->capacity, (void *)o->trace->events);
  return TPF_OK;
}

tpf_status_t tpf_split_rows(tpf_comm_t *comm, const int64_t *counts, int64_t m, int any_m) {
  const int W = comm->size;
  int64_t *offsets = comm->row_offsets;
  offsets[0] = 0;
  if (!counts) { /* blocks as even as m allows: m / W each when it divides */
    if (!any_m && m % W != 0)
      return tpf_fail(TPF_ERR_INVALID, "m=%lld does not divide by world_size %d; pass opt->row_counts for an uneven split",
                      (long long)m, W);
    for (int q = 0; q <= W; q++) offsets[q] = tpf_chunk_start(m, W, q);
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

tpf_status_t tpf_check_bias(const tpf_mm_options_t *o, int64_t n, tpf_dtype_t t, tpf_span_t *span) {
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

tpf_status_t tpf_check_apart(const char *what, tpf_span_t span, int count, const tpf_span_t *others,
                             const char *const *names) {
  for (int i = 0; i < count; i++)
    if (tpf_spans_overlap(span, others[i])) return tpf_fail(TPF_ERR_INVALID, "%s overlaps %s in memory", what, names[i]);
  return TPF_OK;
}

void tpf_record_spans(tpf_fingerprint_t *f, const tpf_span_t writes[TPF_FINGERPRINT_WRITES],
                      const tpf_span_t reads[TPF_FINGERPRINT_READS]) {
  for (int i = 0; i < TPF_FINGERPRINT_WRITES; i++) f->writes[i][0] = writes[i].begin, f->writes[i][1] = writes[i].end;
  for (int i = 0; i < TPF_FINGERPRINT_READS; i++) f->reads[i][0] = reads[i].begin, f->reads[i][1] = reads[i].end;
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
  f->has_addend = o->addend != NULL;
  f->bias_per_rank = o->bias_per_rank;
  f->row_counts_hash = o->row_counts ? tpf_hash_counts(o->row_counts, comm->size) : 0;
}

tpf_status_t tpf_pipeline(tpf_comm_t *comm, const tpf_operator_t *op, const tpf_call_t *call) {
  _Alignas(64) unsigned char problem[TPF_PROBLEM_BYTES];
  tpf_status_t s = comm->ep->transport->health(comm->ep); /* (failing here involves no peer) */
  if (s != TPF_OK) return s;
  tpf_fingerprint_t mine;
  memset(&mine, 0, sizeof mine);
  mine.op = op->kind;
  tpf_mm_options_t o;
  tpf_plan_t plan = {0};
  s = tpf_read_options(call->opt, &o);
  if (s == TPF_OK && op->state_bytes && !comm->op_state[op->kind] &&
      !(comm->op_state[op->kind] = calloc(1, op->state_bytes)))
    s = tpf_fail(TPF_ERR_NOMEM, "could not allocate %zu bytes of operator state", op->state_bytes);
  if (s == TPF_OK && !op->per_rank_terms && (o.addend || o.bias_per_rank))
    s = tpf_fail(TPF_ERR_INVALID, "opt->%s is for tpf_mm_all_reduce only, not %s",
                 o.addend ? "addend" : "bias_per_rank", op->name);
  if (s == TPF_OK) s = op->prepare(comm, call, &o, comm->op_state[op->kind], problem, &plan, &mine);
  if (s == TPF_OK && o.bias) {
    s = stage_bias(comm, o.bias, plan.dtype, plan.n);
    *plan.bias = comm->bias;
  }
  /* B is packed during the first chunk (and kept, for schedules that
   * multiply it again). */
  if (s == TPF_OK && plan.b) s = tpf_gemm_set_b(&comm->gemm, plan.k, plan.n, plan.b, plan.keep_b);
  if (s == TPF_OK) describe_call(&mine, comm, &o, plan.dtype);
  if ((s = tpf_agree_start(comm, &mine, s, 1)) != TPF_OK) return s;
  if (comm->reach == TPF_REACH_IN_PLACE &&
      (s = tpf_fingerprint_no_aliasing(comm->fingerprints, comm->size, op->reads, op->writes)) != TPF_OK)
    return s;
  return op->run(comm, problem);
}
