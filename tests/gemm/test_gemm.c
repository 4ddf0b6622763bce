/* The GEMM engine, for every instruction set built and runnable here (a
 * set the CPU lacks is skipped, and the test says so): against a float64
 * reference and against the portable kernels' results; the portable fp32
 * kernel bit for bit against the plain sequential fp32 loop it specifies;
 * over shapes on and around every blocking edge, transposed operands, padded
 * leading dimensions, every epilogue, NaN/Inf and subnormal inputs; and the
 * same bits for any row ranges and any number of threads.
 * Usage: test_gemm [quick|full] */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../test.h"
#include "common/half.h"
#include "gemm/gemm.h"
#include "gemm/kernels/portable/ukernel_portable.h"

static uint64_t rng = 42;
static double uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-53 * 2 - 1;
}

typedef struct operand_store {
  tpf_gemm_operand_t op;
  void *data;
  float *dense; /* logical rows x cols, the dtype-rounded values */
  int64_t rows, cols;
} operand_store_t;

static void make_operand(operand_store_t *s, int64_t rows, int64_t cols, tpf_dtype_t t,
                         int transposed, int64_t pad, double scale) {
  int64_t stored_cols = transposed ? rows : cols, stored_rows = transposed ? cols : rows;
  int64_t ld = stored_cols + pad;
  s->rows = rows, s->cols = cols;
  s->data = calloc((size_t)(stored_rows * ld), tpf_dtype_size(t));
  s->dense = malloc(sizeof(float) * (size_t)(rows * cols));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      size_t at = (size_t)(transposed ? j * ld + i : i * ld + j);
      tpf_store_f32(s->data, t, at, (float)(uniform() * scale));
      s->dense[i * cols + j] = tpf_load_f32(s->data, t, at);
    }
  s->op = (tpf_gemm_operand_t){s->data, t, ld, transposed};
}

static void free_operand(operand_store_t *s) {
  free(s->data);
  free(s->dense);
}

typedef struct shape_case {
  int64_t m, n, k;
  tpf_dtype_t in, out;
  int a_t, b_t, pad;
  int with_addend, in_place, with_bias;
  float divisor;
} shape_case_t;

/* What one run produced and how it compares. */
typedef struct outcome {
  int64_t wrong;  /* outside the float64 bound */
  int64_t differ; /* not equal to the sequential fp32 loop */
  float *got;     /* m x n as fp32 (caller frees) */
} outcome_t;

/* keep_b: 1 keeps a packed B (as for more than one multiply), 0 streams it. */
static int keep_b;

static outcome_t run_case(const tpf_gemm_isa_t *isa, int threads, const shape_case_t *c, double scale) {
  outcome_t res = {0, 0, NULL};
  tpf_gemm_engine_t e;
  if (tpf_gemm_engine_init(&e, isa, threads) != TPF_OK) {
    res.wrong = -1;
    return res;
  }
  uint64_t saved = rng;
  operand_store_t a, b;
  make_operand(&a, c->m, c->k, c->in, c->a_t, c->pad, scale);
  make_operand(&b, c->k, c->n, c->in, c->b_t, c->pad, scale);
  int64_t out_ld = c->n + c->pad;
  tpf_dtype_t out_t = c->in_place ? TPF_FLOAT32 : c->out;
  void *out = calloc((size_t)(c->m * out_ld), tpf_dtype_size(out_t));
  float *addend = NULL, *bias = NULL, *addend_copy = NULL;
  if (c->with_addend || c->in_place) {
    addend = c->in_place ? out : malloc(sizeof(float) * (size_t)(c->m * out_ld));
    for (int64_t i = 0; i < c->m * out_ld; i++) addend[i] = (float)uniform();
    addend_copy = malloc(sizeof(float) * (size_t)(c->m * out_ld));
    memcpy(addend_copy, addend, sizeof(float) * (size_t)(c->m * out_ld));
  }
  if (c->with_bias) {
    bias = malloc(sizeof(float) * (size_t)c->n);
    for (int64_t j = 0; j < c->n; j++) bias[j] = (float)uniform();
  }
  rng = saved; /* the same inputs for every ISA and thread count */
  tpf_gemm_epilogue_t epi = {addend, out_ld, c->divisor, bias, out, out_t, out_ld, 0};
  tpf_gemm_set_b(&e, c->k, c->n, &b.op, keep_b);
  tpf_gemm_multiply(&e, c->m, &a.op, &epi);

  const double u_out = out_t == TPF_FLOAT16 ? 0x1p-11 : out_t == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-24;
  /* below the normal range the rounding error is absolute: the subnormal step */
  const double step = out_t == TPF_FLOAT16 ? 0x1p-24 : out_t == TPF_BFLOAT16 ? 0x1p-133 : 0x1p-149;
  res.got = malloc(sizeof(float) * (size_t)(c->m * c->n));
  const tpf_gemm_kernel_t *kern = isa->for_dtype[c->in];
  for (int64_t i = 0; i < c->m; i++)
    for (int64_t j = 0; j < c->n; j++) {
      double sum = 0, mag = 0;
      float seq = 0; /* the portable kernel's contract: fp32, p in order */
      for (int64_t p = 0; p < c->k; p++) {
        double prod = (double)a.dense[i * c->k + p] * b.dense[p * c->n + j];
        sum += prod, mag += fabs(prod);
        seq += a.dense[i * c->k + p] * b.dense[p * c->n + j];
      }
      double add = addend_copy ? addend_copy[i * out_ld + j] : 0;
      double ref = (add + sum) / c->divisor + (bias ? bias[j] : 0);
      float v = addend_copy ? addend_copy[i * out_ld + j] + seq : seq;
      if (c->divisor != 1.0f) v = v / c->divisor;
      if (bias) v = v + bias[j];
      float got = tpf_load_f32(out, out_t, (size_t)(i * out_ld + j));
      res.got[i * c->n + j] = got;
      uint32_t raw = 0;
      tpf_store_f32(&raw, out_t, 0, v);
      float spec = tpf_load_f32(&raw, out_t, 0);
      if (memcmp(&got, &spec, 4) != 0 && !(isnan(got) && isnan(spec))) res.differ++;
      double bound = (c->k + 4) * 0x1p-24 * (mag + fabs(add)) / c->divisor +
                     0x1p-24 * (bias ? fabs(bias[j]) : 0) + u_out * fabs(ref) + step +
                     (kern->flushes_subnormals ? (c->k + 1) * 0x1p-126 / c->divisor : 0);
      if (!(fabs(got - ref) <= bound)) res.wrong++;
    }
  free_operand(&a), free_operand(&b);
  if (addend && !c->in_place) free(addend);
  free(addend_copy), free(bias), free(out);
  tpf_gemm_engine_free(&e);
  return res;
}


static void describe(char *buf, size_t size, const tpf_gemm_isa_t *isa, const shape_case_t *c) {
  snprintf(buf, size, "%s: m=%lld n=%lld k=%lld in=%s out=%s a_t=%d b_t=%d pad=%d add=%d inplace=%d bias=%d div=%g",
           isa->name, (long long)c->m, (long long)c->n, (long long)c->k, tpf_dtype_name(c->in),
           tpf_dtype_name(c->out), c->a_t, c->b_t, c->pad, c->with_addend, c->in_place,
           c->with_bias, c->divisor);
}

/* Shapes on and around the blocking edges of the kernels the ISA uses
 * (those of its fp32 kernel, then of its bf16 kernel where that differs). */
static void check_shapes_of(const tpf_gemm_isa_t *isa, const tpf_gemm_kernel_t *kern,
                            const tpf_gemm_isa_t *portable, int full);

static void check_shapes(const tpf_gemm_isa_t *isa, const tpf_gemm_isa_t *portable, int full) {
  check_shapes_of(isa, isa->for_dtype[TPF_FLOAT32], portable, full);
  if (isa->for_dtype[TPF_BFLOAT16] != isa->for_dtype[TPF_FLOAT32])
    check_shapes_of(isa, isa->for_dtype[TPF_BFLOAT16], portable, full);
}

static void check_shapes_of(const tpf_gemm_isa_t *isa, const tpf_gemm_kernel_t *kern,
                            const tpf_gemm_isa_t *portable, int full) {
  const int mr = kern->mr, nr = kern->nr;
  const int64_t ms[] = {1, mr - 1, mr, mr + 1, 2 * mr + 3, kern->mc - 1, kern->mc + 1, 2 * kern->mc + 5};
  const int64_t ns[] = {1, nr - 1, nr, nr + 1, 3 * nr + 5, kern->nc + 3};
  const int64_t ks[] = {1, 2, 3, 7, kern->kc - 1, kern->kc, kern->kc + 1, 2 * kern->kc + 3};
  const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  const int64_t budget = full ? 40000000 : 4000000;
  int cases = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        if (ms[mi] < 1 || ns[ni] < 1 || ms[mi] * ns[ni] * ks[ki] > budget) continue;
        int variant = cases++;
        for (int ti = 0; ti < 3; ti++) { /* every input dtype: each may use its own kernel */
          shape_case_t c = {ms[mi], ns[ni], ks[ki], types[(variant + ti) % 3], types[(variant / 3 + ti) % 3],
                            variant & 1, (variant >> 1) & 1, variant % 5,
                            variant % 4 == 1, variant % 4 == 2, variant % 3 == 0,
                            variant % 7 == 0 ? 3.0f : 1.0f};
          char what[256];
          describe(what, sizeof what, isa, &c);
          keep_b = (variant + ti) % 2;
          outcome_t r = run_case(isa, 1 + variant % 2, &c, 1.0);
          CHECK(r.wrong == 0, "%s: %lld elements outside the float64 bound", what, (long long)r.wrong);
          if (isa == portable) {
            CHECK(r.differ == 0, "%s: %lld elements differ from the sequential fp32 loop", what, (long long)r.differ);
          } else {
            outcome_t p = run_case(portable, 1, &c, 1.0);
            /* both are within the bound of float64, so within two of each other */
            int64_t apart = 0;
            for (int64_t i = 0; i < c.m * c.n; i++) {
              double d = fabs((double)r.got[i] - p.got[i]);
              double scale = fabs((double)p.got[i]) + 1;
              if (!(d <= 2 * (c.k + 4) * 0x1p-24 * scale * c.k + 2 * 0x1p-8 * scale)) apart++;
            }
            CHECK(apart == 0, "%s: %lld elements far from the portable kernel's", what, (long long)apart);
            free(p.got);
          }
          free(r.got);
        }
      }
  printf("%s: %d shapes x 3 dtypes around the edges of %s\n", isa->name, cases, kern->name);
}

/* Tiny inputs whose results are fp16 subnormals; tiny bf16 inputs. */
static void check_ranges(const tpf_gemm_isa_t *isa) {
  shape_case_t c = {9, 17, 33, TPF_FLOAT16, TPF_FLOAT16, 0, 1, 0, 0, 0, 0, 1.0f};
  outcome_t r = run_case(isa, 1, &c, 0x1p-10);
  CHECK(r.wrong == 0, "%s: subnormal fp16 results: %lld wrong", isa->name, (long long)r.wrong);
  free(r.got);
  c.in = c.out = TPF_BFLOAT16;
  r = run_case(isa, 1, &c, 0x1p-60);
  CHECK(r.wrong == 0, "%s: tiny bf16 inputs: %lld wrong", isa->name, (long long)r.wrong);
  free(r.got);
}

/* NaN in a row of A makes that row NaN; +Inf in B with positive A makes
 * that column +Inf; nothing else is touched. Every input dtype. */
static void check_nan_inf(const tpf_gemm_isa_t *isa) {
  enum { M = 7, N = 37, K = 300 };
  static float a32[M * K], b32[K * N], out[M * N];
  static uint16_t a16[M * K], b16[K * N];
  for (int i = 0; i < M * K; i++) a32[i] = 0.5f + (float)(i % 3);
  for (int i = 0; i < K * N; i++) b32[i] = 0.25f * (float)(i % 5);
  a32[2 * K + 111] = NAN;
  b32[200 * N + 5] = INFINITY;
  const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  for (int ti = 0; ti < 3; ti++) {
    tpf_dtype_t t = types[ti];
    const void *a = a32, *b = b32;
    if (t != TPF_FLOAT32) {
      tpf_convert(a32, TPF_FLOAT32, a16, t, M * K);
      tpf_convert(b32, TPF_FLOAT32, b16, t, K * N);
      a = a16, b = b16;
    }
    tpf_gemm_engine_t e;
    tpf_gemm_engine_init(&e, isa, 1);
    tpf_gemm_operand_t oa = {a, t, K, 0}, ob = {b, t, N, 0};
    tpf_gemm_epilogue_t epi = {NULL, N, 1.0f, NULL, out, TPF_FLOAT32, N, 0};
    tpf_gemm_set_b(&e, K, N, &ob, ti % 2);
    tpf_gemm_multiply(&e, M, &oa, &epi);
    int bad = 0;
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        float v = out[i * N + j];
        if (i == 2) bad += !isnan(v);
        else if (j == 5) bad += !(isinf(v) && v > 0);
        else bad += !isfinite(v);
      }
    CHECK(bad == 0, "%s %s: %d elements propagate NaN/Inf wrongly", isa->name, tpf_dtype_name(t), bad);
    tpf_gemm_engine_free(&e);
  }
}

/* The product of rows [0, m) equals the products of any row ranges of it,
 * and the same for 1, 2 and 3 threads, bit for bit: what the chunked
 * schedules and threads_per_rank rely on for reproducibility. */
static void check_bits_stable(const tpf_gemm_isa_t *isa) {
  enum { M = 1001, N = 1100, K = 777 }; /* several blocks of rows, for every kernel */
  const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  static float whole[M * N], pieces[M * N];
  for (int ti = 0; ti < 3; ti++) {
    operand_store_t a, b;
    make_operand(&a, M, K, types[ti], 0, 0, 1.0);
    make_operand(&b, K, N, types[ti], ti == 1, 0, 1.0);
    for (int threads = 1; threads <= 3; threads++) {
      tpf_gemm_engine_t e;
      tpf_gemm_engine_init(&e, isa, threads);
      tpf_gemm_set_b(&e, K, N, &b.op, threads != 2); /* kept, and streamed */
      float *dst = threads == 1 ? whole : pieces;
      const int64_t cuts[] = {0, 1, 5, 64, 65, 200, 700, 1001};
      for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++) {
        tpf_gemm_operand_t rows = tpf_gemm_operand_from_row(a.op, threads == 1 ? 0 : cuts[c]);
        tpf_gemm_epilogue_t part = {NULL, N, 1.0f, NULL, dst + (threads == 1 ? 0 : cuts[c] * N), TPF_FLOAT32, N, 0};
        tpf_gemm_multiply(&e, threads == 1 ? M : cuts[c + 1] - cuts[c], &rows, &part);
        if (threads == 1) break;
      }
      if (threads > 1)
        CHECK(memcmp(whole, pieces, sizeof whole) == 0,
              "%s %s: %d threads and row ranges change the bits", isa->name, tpf_dtype_name(types[ti]), threads);
      tpf_gemm_engine_free(&e);
    }
    free_operand(&a), free_operand(&b);
  }
}

/* Every kernel's epilogue against the portable one, bit for bit, on
 * special values: NaN payloads, infinities, subnormals, ties of both output
 * dtypes, overflow; with and without addend, divisor and bias; and with
 * streaming stores asked for, into outputs that start at every alignment
 * (a short first vector, whole aligned ones, a tail). */
static void check_epilogue(const tpf_gemm_isa_t *isa) {
  enum { ROWS = 3, COLS = 45, LD = 48, SHIFTS = 16 };
  static float acc[ROWS * LD], addend[ROWS * LD], bias[COLS];
  static const uint32_t specials[] = {0x7fc00000, 0xffc00001, 0x7f800001, 0x7fa00000, 0x7f800000, 0xff800000,
                                      0x00000001, 0x80000010, 0x007fffff, 0x33800000, 0x33000000, 0x387fc000,
                                      0x477ff000, 0x477fefff, 0x3f808000, 0x3f818000, 0x7f7fffff, 0x00000000,
                                      0x80000000, 0x3f800001, 0xc7000000, 0x38800000, 0x3f7fffff};
  const int n_special = (int)(sizeof specials / sizeof *specials);
  for (int i = 0; i < ROWS * LD; i++) {
    uint32_t bits = i % 3 == 0 ? specials[(i / 3) % n_special] : (uint32_t)(rng = rng * 6364136223846793005ull + 1);
    memcpy(&acc[i], &bits, 4);
    addend[i] = (float)uniform() * (i % 7 == 0 ? 1e-38f : 1.0f);
  }
  for (int j = 0; j < COLS; j++) bias[j] = (float)uniform();
  const tpf_dtype_t outs[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  for (int variant = 0; variant < 48; variant++) {
    tpf_dtype_t t = outs[variant % 3];
    const int stream = (variant & 32) != 0;
    for (int shift = 0; shift < (stream ? SHIFTS : 1); shift++) { /* elements before the output */
      _Alignas(64) static uint32_t got[ROWS * LD + SHIFTS], want[ROWS * LD + SHIFTS];
      memset(got, 0, sizeof got), memset(want, 0, sizeof want);
      const size_t at = (size_t)shift * (t == TPF_FLOAT32 ? 4 : 2);
      tpf_gemm_epilogue_t epi = {variant & 4 ? addend : NULL, LD, variant & 8 ? 3.0f : 1.0f,
                                 variant & 16 ? bias : NULL, NULL, t, LD, stream};
      for (int k = 0; k < 3; k++) {
        const tpf_gemm_kernel_t *kern = isa->for_dtype[k];
        epi.out = (char *)got + at;
        kern->finish(&epi, acc, LD, 0, ROWS, 1, COLS - 1); /* columns 1.., an odd width */
        tpf_gemm_stream_fence();
        epi.out = (char *)want + at;
        tpf_gemm_finish_portable(&epi, acc, LD, 0, ROWS, 1, COLS - 1);
        CHECK(memcmp(got, want, sizeof got) == 0,
              "%s (%s kernel): epilogue variant %d to %s (stream %d, shift %d) differs from the portable one",
              isa->name, kern->name, variant, tpf_dtype_name(t), stream, shift);
      }
    }
  }
}

/* Whether value bits b of dtype t are a NaN. */
static int is_nan_bits(uint32_t b, tpf_dtype_t t) {
  if (t == TPF_FLOAT32) return (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu);
  if (t == TPF_FLOAT16) return (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu);
  return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu);
}

/* got and want (bytes) are the same, but where a column's output is a NaN
 * in both and two NaNs met in that column's sources (nans[j] >= 2): which
 * payload survives an addition of two NaNs is the compiler's choice of
 * operand order, in C and in intrinsics alike. */
static int same_sums(const unsigned char *got, const unsigned char *want, size_t bytes, size_t row_at,
                     tpf_dtype_t t, int64_t j0, int64_t cols, const int *nans) {
  if (memcmp(got, want, bytes) == 0) return 1;
  const size_t es = tpf_dtype_size(t);
  for (size_t o = 0; o < bytes; o++) {
    if (got[o] == want[o]) continue;
    const int64_t j = o >= row_at ? (int64_t)((o - row_at) / es) : -1;
    if (j < j0 || j >= j0 + cols || nans[j] < 2) return 0;
    const size_t at = row_at + (size_t)j * es;
    uint32_t g = 0, w = 0;
    memcpy(&g, got + at, es), memcpy(&w, want + at, es);
    if (!is_nan_bits(g, t) || !is_nan_bits(w, t)) return 0;
  }
  return 1;
}

/* Every kernel's row sums, and the portable one, against their
 * specification, bit for bit: the sources summed into an fp32 row in
 * order (tpf_accumulate_portable; of two or more fp32 sources the last as
 * the epilogue's addend) and finished (tpf_gemm_finish_portable). Each
 * source dtype into each output dtype, 1-5 sources, with and without
 * divisor and bias, stretches of columns starting at 0 and 3 of every
 * length up to a few vectors (tails, the portable one's stretches), into
 * row 1 of the output; streamed into outputs that start at every
 * alignment; on special values (NaN payloads, signaling NaNs, infinities,
 * subnormals, -0), different in each source; nothing outside written. */
static void check_sum_row(const tpf_gemm_isa_t *isa) {
  enum { N = 150, SOURCES = 5, LD = 160, SHIFTS = 16 };
  static const uint16_t specials16[] = {0x7e01, 0xfc00, 0x7c00, 0x0001, 0x8001, 0x03ff, 0x8000, 0x7fc1,
                                        0xff80, 0x7f80, 0x0080, 0x807f, 0x3c00, 0xbc01, 0x7bff, 0x0000,
                                        0x7c01, 0xfd00, 0x7dff, 0x7f81}; /* signaling NaNs last */
  const int NS = (int)(sizeof specials16 / sizeof *specials16);
  static uint16_t half[SOURCES][N];
  static float single[SOURCES][N], bias[N];
  for (int q = 0; q < SOURCES; q++)
    for (int j = 0; j < N; j++) {
      half[q][j] = (j + q) % 2 ? specials16[(j / 2 + 3 * q) % NS] : (uint16_t)(rng = rng * 6364136223846793005ull + 1);
      uint32_t bits = (j + q) % 3 ? (uint32_t)(rng = rng * 6364136223846793005ull + 1) >> (q % 2 ? 0 : 8)
                                  : (uint32_t)specials16[(j + 5 * q) % NS] << 16;
      memcpy(&single[q][j], &bits, 4);
    }
  for (int j = 0; j < N; j++) bias[j] = (float)uniform() - 0.5f;
  const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  static const int64_t lengths[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 147};
  const int n_lengths = (int)(sizeof lengths / sizeof *lengths);
  for (int k = -1; k < 3; k++) { /* -1: tpf_sum_row_portable */
    const tpf_sum_row_fn sum_row = k < 0 ? tpf_sum_row_portable : isa->for_dtype[k]->sum_row;
    for (int ti = 0; ti < 3; ti++)
      for (int oi = 0; oi < 3; oi++)
        for (int sources = 1; sources <= SOURCES; sources += sources < 3 ? 1 : 2)
          for (int variant = 0; variant < 8; variant++) {
            const tpf_dtype_t t = types[ti], out_t = types[oi];
            const int stream = (variant & 4) != 0;
            const void *src[SOURCES];
            int nans[N] = {0}; /* NaN sources per column */
            for (int q = 0; q < sources; q++) {
              src[q] = t == TPF_FLOAT32 ? (const void *)single[q] : (const void *)half[q];
              for (int j = 0; j < N; j++) {
                uint32_t b = 0;
                memcpy(&b, (const char *)src[q] + (size_t)j * tpf_dtype_size(t), tpf_dtype_size(t));
                nans[j] += is_nan_bits(b, t);
              }
            }
            for (int j0 = 0; j0 <= 3; j0 += 3)
              for (int li = 0; li < n_lengths; li++)
                for (int shift = 0; shift < (stream ? SHIFTS : 1); shift++) {
                  const int64_t cols = lengths[li];
                  _Alignas(64) static unsigned char got[(2 * LD + SHIFTS) * 4], want[(2 * LD + SHIFTS) * 4];
                  memset(got, 0xa5, sizeof got), memset(want, 0xa5, sizeof want);
                  const size_t at = (size_t)shift * tpf_dtype_size(out_t);
                  tpf_gemm_epilogue_t epi = {NULL, 0, variant & 1 ? 3.0f : 1.0f, variant & 2 ? bias : NULL, got + at,
                                             out_t, LD, stream};
                  sum_row(&epi, src, sources, t, 1, j0, cols);
                  tpf_gemm_stream_fence();
                  /* the specification */
                  const int by_addend = t == TPF_FLOAT32 && sources >= 2;
                  float acc[N];
                  for (int q = 0; q < sources - by_addend; q++)
                    tpf_accumulate_portable(acc, (const char *)src[q] + (size_t)j0 * tpf_dtype_size(t), t, cols, q == 0);
                  epi.out = want + at;
                  epi.addend = by_addend ? (const float *)src[sources - 1] - LD : NULL; /* (row 1 of ld LD) */
                  epi.addend_ld = LD;
                  epi.stream = 0;
                  tpf_gemm_finish_portable(&epi, acc, N, 1, 1, j0, cols);
                  CHECK(same_sums(got, want, sizeof got, at + LD * tpf_dtype_size(out_t), out_t, j0, cols, nans),
                        "%s (%s): sum of %d %s rows into %s, columns %d + %lld (divisor %d, bias %d, stream %d, "
                        "shift %d) differs from its specification",
                        isa->name, k < 0 ? "tpf_sum_row_portable" : isa->for_dtype[k]->name, sources,
                        tpf_dtype_name(t), tpf_dtype_name(out_t), j0, (long long)cols, (variant & 1) != 0,
                        (variant & 2) != 0, stream, shift);
                }
          }
  }
}

/* The hand-over copy against memcpy, cached and streamed: sizes around the
 * claim distance, the small-copy limit and a cache line, misaligned ends,
 * and nothing written outside. */
static void check_hand_over(const tpf_gemm_isa_t *isa) {
  enum { MOST = 70 * 1024, GUARD = 64 };
  static const size_t sizes[] = {0, 1, 63, 64, 65, 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536, 65537, MOST};
  static unsigned char src[MOST + 16];
  _Alignas(64) static unsigned char got[MOST + 16 + 2 * GUARD], want[MOST + 16 + 2 * GUARD];
  for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)(rng = rng * 6364136223846793005ull + 1);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (int from = 0; from < 16; from += 7)
      for (int to = 0; to < 16; to += 5)
        for (int stream = 0; stream < 2; stream++) {
          memset(got, 0xa5, sizeof got), memset(want, 0xa5, sizeof want);
          isa->hand_over(got + GUARD + to, src + from, sizes[si], stream);
          memcpy(want + GUARD + to, src + from, sizes[si]);
          CHECK(memcmp(got, want, sizeof got) == 0,
                "%s: hand-over of %zu bytes (source +%d, destination +%d, stream %d) differs from memcpy", isa->name,
                sizes[si], from, to, stream);
        }
}

/* A kernel's strip packer (pack_b_rows) lays out the same panels as its
 * panel packer, for every dtype of a plain B: panels one after another,
 * kb x nr each. */
static void check_pack_strips(const tpf_gemm_isa_t *isa) {
  enum { KB = 37, PANELS = 3, PAD = 5 };
  for (int ti = 0; ti < 3; ti++) {
    const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
    const tpf_gemm_kernel_t *kern = isa->for_dtype[types[ti]];
    if (!kern->pack_b_rows) continue;
    const int64_t nr = kern->nr, panel = KB * nr;
    operand_store_t b;
    make_operand(&b, KB + 2, (PANELS + 1) * nr, types[ti], 0, PAD, 1.0);
    const size_t bytes = sizeof(float) * (size_t)(PANELS * panel); /* a multiple of 64 (nr is) */
    float *got = aligned_alloc(64, bytes), *want = aligned_alloc(64, bytes); /* packers store whole lines */
    kern->pack_b_rows(got, panel, &b.op, 1, KB, nr / 2, PANELS);
    for (int64_t q = 0; q < PANELS; q++) kern->pack_b(want + q * panel, &b.op, 1, KB, nr / 2 + q * nr, nr, (int)nr);
    CHECK(memcmp(got, want, bytes) == 0,
          "%s %s: strips of B differ from its panels", isa->name, tpf_dtype_name(types[ti]));
    free(got), free(want);
    free_operand(&b);
  }
}

int main(int argc, char **argv) {
  int full = argc > 1 && strcmp(argv[1], "full") == 0;
  const tpf_gemm_isa_t *portable = NULL;
  CHECK_STATUS(tpf_gemm_isa_find("portable", "test", &portable), TPF_OK);
  char names[256];
  snprintf(names, sizeof names, "%s", tpf_gemm_kernels_built());
  for (char *name = strtok(names, " "); name; name = strtok(NULL, " ")) {
    const tpf_gemm_isa_t *isa = NULL;
    if (tpf_gemm_isa_find(name, "test", &isa) != TPF_OK) {
      printf("SKIP %s: %s\n", name, tpf_last_error());
      continue;
    }
    check_epilogue(isa);
    check_sum_row(isa);
    check_hand_over(isa);
    check_pack_strips(isa);
    check_shapes(isa, portable, full);
    check_ranges(isa);
    check_nan_inf(isa);
    check_bits_stable(isa);
  }
  /* The portable kernel of the pairs format (the contract the bf16 dot and
   * AMX kernels' B follows), as an ISA of its own. */
  const tpf_gemm_isa_t pairs = {"portable-pairs", 0,
                                {&tpf_kernel_portable_f32, &tpf_kernel_portable_bf16, &tpf_kernel_portable_f32},
                                tpf_hand_over_portable};
  check_shapes(&pairs, portable, full);
  check_ranges(&pairs);
  check_nan_inf(&pairs);
  check_bits_stable(&pairs);
  return test_summary();
}
