/* tpf_gemm: the GEMM engine on its own, for users and benchmarks. */
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "api_comm.h"
#include "ops/check.h"
#include "common/alloc.h"
#include "common/cpu.h"
#include "common/env.h"
#include "common/half.h"
#include "common/status.h"
#include "registry.h"

#define OPTIONS_HAS(opt, field) ((opt)->size >= offsetof(tpf_gemm_options_t, field) + sizeof((opt)->field))

/* The process's context for comm = NULL calls, made on first use, and
 * made again in a forked child (whose copy has no compute threads; it is
 * left as it is). */
typedef struct process_context {
  pthread_mutex_t lock;
  int ready;
  unsigned fork_generation; /* of the process that made it */
  tpf_gemm_engine_t engine;
  float *bias;
  size_t bias_capacity;
} process_context_t;
static process_context_t process = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, NULL, 0};

/* In a forked child the lock may have been held by a thread that is gone. */
static void after_fork_in_child(void) { pthread_mutex_init(&process.lock, NULL); }
static void watch_forks(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static tpf_status_t process_engine(void) {
  if (process.ready && process.fork_generation == tpf_fork_generation()) return TPF_OK;
  if (process.ready) process = (process_context_t){process.lock, 0, 0, {0}, NULL, 0};
  process.fork_generation = tpf_fork_generation();
  const tpf_gemm_isa_t *isa;
  int threads;
  tpf_status_t s = tpf_gemm_isa_select(&isa);
  if (s == TPF_OK) s = tpf_env_setting_int(TPF_ENV_THREADS_PER_RANK, 0, 1024, &threads);
  if (s != TPF_OK) return s;
  if (threads == 0) threads = tpf_cpu_count();
  if ((s = tpf_gemm_engine_init(&process.engine, isa, threads)) == TPF_OK) process.ready = 1;
  return s;
}

static tpf_status_t check_gemm(const tpf_matrix_t *a, const tpf_matrix_t *b, const tpf_matrix_t *out,
                               const tpf_gemm_options_t *o) {
  tpf_span_t sa, sb, so, sbias = {0, 0};
  tpf_status_t s;
  if ((s = tpf_check_matrix("a", a, 1, &sa)) != TPF_OK) return s;
  if ((s = tpf_check_matrix("b", b, 1, &sb)) != TPF_OK) return s;
  if ((s = tpf_check_matrix("out", out, 1, &so)) != TPF_OK) return s;
  if (b->dtype != a->dtype)
    return tpf_fail(TPF_ERR_INVALID, "b is %s but a is %s: they must have one dtype",
                    tpf_dtype_name(b->dtype), tpf_dtype_name(a->dtype));
  if (out->dtype != a->dtype && out->dtype != TPF_FLOAT32)
    return tpf_fail(TPF_ERR_INVALID, "out is %s but a is %s: the result is a's dtype or fp32",
                    tpf_dtype_name(out->dtype), tpf_dtype_name(a->dtype));
  if (o->accumulate && out->dtype != TPF_FLOAT32)
    return tpf_fail(TPF_ERR_INVALID, "opt->accumulate=1 needs an fp32 out, not %s", tpf_dtype_name(out->dtype));
  if (b->rows != a->cols)
    return tpf_fail(TPF_ERR_INVALID, "b has %lld rows but a has %lld columns", (long long)b->rows,
                    (long long)a->cols);
  if ((s = tpf_check_product("b", b->rows, b->cols)) != TPF_OK) return s;
  if (out->transposed)
    return tpf_fail(TPF_ERR_INVALID, "out.transposed=1: the output must be a row-major view");
  if (out->rows != a->rows || out->cols != b->cols)
    return tpf_fail(TPF_ERR_INVALID, "out is %lld x %lld but a @ b is %lld x %lld", (long long)out->rows,
                    (long long)out->cols, (long long)a->rows, (long long)b->cols);
  if (o->bias_len < 0 || (o->bias_len != 0 && (!o->bias || o->bias_len != b->cols)))
    return tpf_fail(TPF_ERR_INVALID, "opt->bias_len=%lld but the bias must hold n=%lld elements%s",
                    (long long)o->bias_len, (long long)b->cols, o->bias ? "" : " (and opt->bias is NULL)");
  if (o->bias && (uintptr_t)o->bias % tpf_dtype_size(a->dtype))
    return tpf_fail(TPF_ERR_INVALID, "opt->bias=%p is not aligned to its %zu-byte elements", o->bias,
                    tpf_dtype_size(a->dtype));
  if (o->bias) {
    sbias.begin = (uintptr_t)o->bias;
    sbias.end = sbias.begin + (size_t)b->cols * tpf_dtype_size(a->dtype);
  }
  if (tpf_spans_overlap(so, sa)) return tpf_fail(TPF_ERR_INVALID, "out overlaps a in memory");
  if (tpf_spans_overlap(so, sb)) return tpf_fail(TPF_ERR_INVALID, "out overlaps b in memory");
  if (tpf_spans_overlap(so, sbias)) return tpf_fail(TPF_ERR_INVALID, "out overlaps the bias in memory");
  return TPF_OK;
}

static tpf_status_t run(tpf_gemm_engine_t *engine, float **bias32, size_t *bias_capacity,
                        const tpf_matrix_t *a, const tpf_matrix_t *b, tpf_matrix_t *out,
                        const tpf_gemm_options_t *o) {
  int64_t n = b->cols;
  tpf_status_t s;
  if (o->bias) {
    void *buf = *bias32;
    s = tpf_buffer_reserve(&buf, bias_capacity, sizeof(float) * (size_t)n, "the bias");
    *bias32 = buf;
    if (s != TPF_OK) return s;
    tpf_convert_to_f32(*bias32, o->bias, a->dtype, (size_t)n);
  }
  tpf_gemm_operand_t oa = {a->data, a->dtype, tpf_matrix_ld(a), a->transposed};
  tpf_gemm_operand_t ob = {b->data, b->dtype, tpf_matrix_ld(b), b->transposed};
  int keep = tpf_gemm_reuses_b(engine, a->dtype, a->rows);
  if ((s = tpf_gemm_set_b(engine, a->cols, n, &ob, keep)) != TPF_OK) return s;
  int64_t ldo = tpf_matrix_ld(out);
  tpf_gemm_epilogue_t epi = {o->accumulate ? out->data : NULL, ldo, 1.0f, o->bias ? *bias32 : NULL,
                             out->data, out->dtype, ldo, 0};
  tpf_gemm_multiply(engine, a->rows, &oa, &epi);
  return TPF_OK;
}

tpf_status_t tpf_gemm(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                      tpf_matrix_t *out, const tpf_gemm_options_t *opt) {
  tpf_gemm_options_t o = TPF_GEMM_OPTIONS_INIT;
  if (opt) {
    if (!OPTIONS_HAS(opt, accumulate))
      return tpf_fail(TPF_ERR_INVALID, "opt->size=%zu is too small for a tpf_gemm_options_t (use TPF_GEMM_OPTIONS_INIT)",
                      opt->size);
    if (opt->size > sizeof o)
      return tpf_fail(TPF_ERR_UNSUPPORTED, "opt->size=%zu is larger than this library's tpf_gemm_options_t (%zu)",
                      opt->size, sizeof o);
    memcpy(&o, opt, opt->size);
    if (o.accumulate != 0 && o.accumulate != 1)
      return tpf_fail(TPF_ERR_INVALID, "opt->accumulate=%d must be 0 or 1", o.accumulate);
  }
  tpf_status_t s;
  if (comm) {
    if ((s = tpf_registry_enter(comm)) != TPF_OK) return s;
    s = check_gemm(a, b, out, &o);
    if (s == TPF_OK) s = run(&comm->gemm, &comm->bias, &comm->bias_capacity, a, b, out, &o);
    tpf_registry_leave(comm);
    return s;
  }
  if ((s = check_gemm(a, b, out, &o)) != TPF_OK) return s;
  pthread_once(&atfork_once, watch_forks);
  pthread_mutex_lock(&process.lock);
  s = process_engine();
  if (s == TPF_OK) s = run(&process.engine, &process.bias, &process.bias_capacity, a, b, out, &o);
  pthread_mutex_unlock(&process.lock);
  return s;
}
