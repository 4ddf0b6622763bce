/* The blocked GEMM, for every kernel built and runnable here: against a
 * float64 reference (all kernels) and bit for bit against the plain
 * sequential fp32 loop that the portable kernel specifies; over shapes on
 * and around every blocking edge, transposed operands, padded leading
 * dimensions, every epilogue, NaN/Inf and subnormal inputs; and the same
 * bits whatever row ranges the product is computed in. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../test.h"
#include "common/half.h"
#include "gemm/gemm.h"

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

/* Runs one case on one kernel; returns elements outside the float64 bound,
 * and counts elements that differ from the sequential fp32 loop in *differ. */
static int64_t run_case(const tpf_gemm_kernel_t *kernel, const shape_case_t *c, int64_t *differ,
                        double scale) {
  tpf_gemm_workspace_t ws;
  *differ = 0;
  if (tpf_gemm_workspace_init(&ws, kernel) != TPF_OK) return -1;
  operand_store_t a, b;
  make_operand(&a, c->m, c->k, c->in, c->a_t, c->pad, scale);
  make_operand(&b, c->k, c->n, c->in, c->b_t, c->pad, scale);
  int64_t out_ld = c->n + c->pad;
  tpf_dtype_t out_t = c->in_place ? TPF_FLOAT32 : c->out;
  void *out = calloc((size_t)(c->m * out_ld), tpf_dtype_size(out_t));
  float *addend = NULL, *bias = NULL;
  if (c->with_addend || c->in_place) {
    addend = c->in_place ? out : malloc(sizeof(float) * (size_t)(c->m * out_ld));
    for (int64_t i = 0; i < c->m * out_ld; i++) addend[i] = (float)uniform();
  }
  float *addend_copy = NULL;
  if (addend) {
    addend_copy = malloc(sizeof(float) * (size_t)(c->m * out_ld));
    memcpy(addend_copy, addend, sizeof(float) * (size_t)(c->m * out_ld));
  }
  if (c->with_bias) {
    bias = malloc(sizeof(float) * (size_t)c->n);
    for (int64_t j = 0; j < c->n; j++) bias[j] = (float)uniform();
  }
  tpf_gemm_epilogue_t epi = {addend, out_ld, c->divisor, bias, out, out_t, out_ld};
  tpf_gemm_run(&ws, c->m, c->n, c->k, &a.op, &b.op, &epi);

  int64_t wrong = 0;
  *differ = 0;
  const double u_out = out_t == TPF_FLOAT16 ? 0x1p-11 : out_t == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-24;
  /* below the normal range the rounding error is absolute: the subnormal step */
  const double step = out_t == TPF_FLOAT16 ? 0x1p-24 : out_t == TPF_BFLOAT16 ? 0x1p-133 : 0x1p-149;
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
      uint32_t raw = 0;
      tpf_store_f32(&raw, out_t, 0, v);
      float spec = tpf_load_f32(&raw, out_t, 0);
      if (memcmp(&got, &spec, 4) != 0 && !(isnan(got) && isnan(spec))) (*differ)++;
      double bound = (c->k + 4) * 0x1p-24 * (mag + fabs(add)) / c->divisor +
                     0x1p-24 * (bias ? fabs(bias[j]) : 0) + u_out * fabs(ref) + step;
      if (!(fabs(got - ref) <= bound)) wrong++;
    }
  free_operand(&a), free_operand(&b);
  if (addend && !c->in_place) free(addend);
  free(addend_copy), free(bias), free(out);
  tpf_gemm_workspace_free(&ws);
  return wrong;
}

static void check_shapes(const tpf_gemm_kernel_t *kernel) {
  const int mr = kernel->mr, nr = kernel->nr;
  const int64_t ms[] = {1, mr - 1, mr, mr + 1, 2 * mr + 3, kernel->mc - 1, kernel->mc + 1, kernel->mb + 5};
  const int64_t ns[] = {1, nr - 1, nr, nr + 1, 3 * nr + 5, kernel->nc + 3};
  const int64_t ks[] = {1, 2, 7, kernel->kc - 1, kernel->kc, kernel->kc + 1, 2 * kernel->kc + 3};
  const tpf_dtype_t types[] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
  int cases = 0;
  for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        if (ms[mi] < 1 || ns[ni] < 1) continue;
        if (ms[mi] * ns[ni] * ks[ki] > 4000000) continue; /* keep the test short */
        int variant = cases++;
        shape_case_t c = {ms[mi], ns[ni], ks[ki], types[variant % 3], types[(variant / 3) % 3],
                          variant & 1, (variant >> 1) & 1, variant % 5,
                          variant % 4 == 1, variant % 4 == 2, variant % 3 == 0,
                          variant % 7 == 0 ? 3.0f : 1.0f};
        int64_t differ, wrong = run_case(kernel, &c, &differ, 1.0);
        CHECK(wrong == 0, "%s: m=%lld n=%lld k=%lld in=%s out=%s a_t=%d b_t=%d pad=%d: %lld elements outside the bound",
              kernel->name, (long long)c.m, (long long)c.n, (long long)c.k, tpf_dtype_name(c.in),
              tpf_dtype_name(c.out), c.a_t, c.b_t, c.pad, (long long)wrong);
        if (strcmp(kernel->name, "portable") == 0)
          CHECK(differ == 0, "portable: m=%lld n=%lld k=%lld: %lld elements differ from the sequential fp32 loop",
                (long long)c.m, (long long)c.n, (long long)c.k, (long long)differ);
      }
  printf("%s: %d shapes\n", kernel->name, cases);
}

/* Tiny inputs whose products are fp32 subnormal-free but whose results are
 * fp16 subnormals; and huge ones near the fp16 range. */
static void check_ranges(const tpf_gemm_kernel_t *kernel) {
  shape_case_t c = {9, 17, 33, TPF_FLOAT16, TPF_FLOAT16, 0, 1, 0, 0, 0, 0, 1.0f};
  int64_t differ;
  CHECK(run_case(kernel, &c, &differ, 0x1p-10) == 0, "%s: subnormal fp16 results", kernel->name);
  c.in = c.out = TPF_BFLOAT16;
  CHECK(run_case(kernel, &c, &differ, 0x1p-60) == 0, "%s: tiny bf16 inputs", kernel->name);
}

/* NaN in a row of A makes that row NaN; +Inf in B with positive A makes
 * that column +Inf; nothing else is touched. */
static void check_nan_inf(const tpf_gemm_kernel_t *kernel) {
  tpf_gemm_workspace_t ws;
  tpf_gemm_workspace_init(&ws, kernel);
  enum { M = 7, N = 19, K = 300 };
  static float a[M * K], b[K * N], out[M * N];
  for (int i = 0; i < M * K; i++) a[i] = 0.5f + (float)(i % 3);
  for (int i = 0; i < K * N; i++) b[i] = 0.25f * (float)(i % 5);
  a[2 * K + 111] = NAN;
  b[200 * N + 5] = INFINITY;
  tpf_gemm_operand_t oa = {a, TPF_FLOAT32, K, 0}, ob = {b, TPF_FLOAT32, N, 0};
  tpf_gemm_epilogue_t epi = {NULL, N, 1.0f, NULL, out, TPF_FLOAT32, N};
  tpf_gemm_run(&ws, M, N, K, &oa, &ob, &epi);
  int bad = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float v = out[i * N + j];
      if (i == 2) bad += !isnan(v);
      else if (j == 5) bad += !(isinf(v) && v > 0);
      else bad += !isfinite(v);
    }
  CHECK(bad == 0, "%s: %d elements propagate NaN/Inf wrongly", kernel->name, bad);
  tpf_gemm_workspace_free(&ws);
}

/* The product of rows [0, m) equals the products of any row ranges of it,
 * bit for bit: what the fused schedules rely on for reproducibility. */
static void check_row_ranges(const tpf_gemm_kernel_t *kernel) {
  enum { M = 301, N = 70, K = 777 };
  operand_store_t a, b;
  make_operand(&a, M, K, TPF_BFLOAT16, 0, 0, 1.0);
  make_operand(&b, K, N, TPF_BFLOAT16, 1, 0, 1.0);
  tpf_gemm_workspace_t ws;
  tpf_gemm_workspace_init(&ws, kernel);
  static float whole[M * N], pieces[M * N];
  tpf_gemm_epilogue_t epi = {NULL, N, 1.0f, NULL, whole, TPF_FLOAT32, N};
  tpf_gemm_run(&ws, M, N, K, &a.op, &b.op, &epi);
  const int64_t cuts[] = {0, 1, 5, 64, 65, 200, 301};
  for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++) {
    tpf_gemm_operand_t rows = tpf_gemm_operand_from_row(a.op, cuts[c]);
    tpf_gemm_epilogue_t part = {NULL, N, 1.0f, NULL, pieces + cuts[c] * N, TPF_FLOAT32, N};
    tpf_gemm_run(&ws, cuts[c + 1] - cuts[c], N, K, &rows, &b.op, &part);
  }
  CHECK(memcmp(whole, pieces, sizeof whole) == 0, "%s: row ranges change the bits", kernel->name);
  free_operand(&a), free_operand(&b);
  tpf_gemm_workspace_free(&ws);
}

int main(void) {
  char names[256];
  snprintf(names, sizeof names, "%s", tpf_gemm_kernels_built());
  for (char *name = strtok(names, " "); name; name = strtok(NULL, " ")) {
    const tpf_gemm_kernel_t *kernel = tpf_gemm_kernel_by_name(name);
    if (!kernel) {
      printf("SKIP kernel %s: %s\n", name, tpf_last_error());
      continue;
    }
    check_shapes(kernel);
    check_ranges(kernel);
    check_nan_inf(kernel);
    check_row_ranges(kernel);
  }
  return test_summary();
}
