/* bench_gemm: tpfuse's GEMM against OpenBLAS sgemm and this machine's
 * measured peak, on the shapes of tensor-parallel layers.
 *
 * In one run, per shape and thread count: tpfuse in fp32, fp16 and bf16
 * (the best kernels this CPU runs), tpfuse's portable C kernel on the
 * smaller shapes, and OpenBLAS sgemm on the same fp32 inputs. Every result is
 * checked against sgemm on the same (dtype-rounded) inputs, within the fp32
 * accumulation bound plus one rounding to the output dtype; a wrong result
 * makes the exit status 1. Times are medians over repetitions, taken in
 * rounds (sgemm, then tpfuse in each dtype) so that a slow spell of the
 * machine falls on all of them alike; each repetition of a short product
 * is a burst of back-to-back calls.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when it loads; if
 * either is set, this program removes both and runs itself again, so that
 * OpenBLAS picks its kernel for this CPU (it prints which), unless
 * --openblas-core names another (Haswell, to compare with TPF_ISA=avx2).
 *
 * %peak is against the arithmetic peak of the kernels' instructions,
 * measured at the start (floor.h; none for AMX tiles or portable C).
 *
 * Usage: bench_gemm [--quick] [--shape M,K,N]... [--threads 1,2] [--reps N] [--json FILE]
 *                   [--openblas-core NAME] */
#define _GNU_SOURCE
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "floor.h"
#include "timing.h"
#include "tpfuse.h"

extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);


/* ----------------------------------------------------------------- shapes */

typedef struct shape {
  int64_t m, k, n;
  const char *why;
} shape_t;

static const shape_t shapes[] = {
    {4096, 4096, 4096, "square"},   {2048, 8192, 2048, "square-ish"}, {8192, 4096, 1024, "tall"},
    {1024, 1024, 1024, "square"},   {128, 512, 64, "reference example"},
    {16, 4096, 4096, "TP shard"},   {64, 4096, 4096, "TP shard"},     {128, 4096, 4096, "TP shard"},
    {256, 4096, 4096, "TP shard"},  {512, 4096, 4096, "TP shard"},    {16, 4096, 11008, "TP shard"},
    {64, 4096, 11008, "TP shard"},  {128, 4096, 11008, "TP shard"},   {256, 4096, 11008, "TP shard"},
    {512, 4096, 11008, "TP shard"},
};

static uint64_t rng = 7;
static float uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng >> 11) * 0x1p-53 * 2 - 1);
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* Operands start on a cache line, as a framework's tensors do (PyTorch
 * aligns to 64 bytes); malloc's 16 bytes would time the packers' line
 * splitting rather than the product. */
static void *alloc64(size_t bytes) {
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "bench_gemm: out of memory\n");
    exit(2);
  }
  return p;
}

/* The median of t[0 .. count) (reordered). */
static double median(double *t, int count) {
  qsort(t, (size_t)count, sizeof(double), by_value);
  return t[count / 2];
}

typedef void (*run_fn)(void *ctx);

/* Seconds per call of `count` calls of fn back to back. */
static double time_burst(run_fn fn, void *ctx, int count) {
  double t0 = timing_now();
  for (int i = 0; i < count; i++) fn(ctx);
  return (timing_now() - t0) / count;
}

/* Calls in a burst of about 20 ms, for a call of `seconds`. */
static int burst_for(double seconds) {
  double calls = 0.02 / seconds;
  return calls < 1 ? 1 : calls > 1000 ? 1000 : (int)calls;
}

/* Median seconds of `reps` runs of fn (after one warm-up run). */
static double median_time(run_fn fn, void *ctx, int reps) {
  double t[64];
  fn(ctx);
  for (int r = 0; r < reps; r++) {
    double t0 = timing_now();
    fn(ctx);
    t[r] = timing_now() - t0;
  }
  return median(t, reps);
}

typedef struct blas_ctx {
  const shape_t *s;
  const float *a, *b;
  float *c;
} blas_ctx_t;

static void run_blas(void *p) {
  blas_ctx_t *x = p;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)x->s->m, (int)x->s->n, (int)x->s->k, 1.0f,
              x->a, (int)x->s->k, x->b, (int)x->s->n, 0.0f, x->c, (int)x->s->n);
}

typedef struct ours_ctx {
  tpf_comm_t *comm;
  tpf_matrix_t a, b, c;
  tpf_status_t status;
} ours_ctx_t;

/* OpenBLAS's threads keep spinning for a while after a call (2^28 cycles
 * unless OPENBLAS_THREAD_TIMEOUT says otherwise), taking the cores from
 * whatever runs next: give them that time before timing tpfuse. */
static void let_blas_threads_sleep(int threads) {
  if (threads < 2) return;
  struct timespec pause = {0, 150 * 1000 * 1000};
  nanosleep(&pause, NULL);
}

static void run_ours(void *p) {
  ours_ctx_t *x = p;
  tpf_status_t s = tpf_gemm(x->comm, &x->a, &x->b, &x->c, NULL);
  if (s != TPF_OK) x->status = s;
}

static const char *dtype_text(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? "fp16" : t == TPF_BFLOAT16 ? "bf16" : "fp32";
}

/* Elements of ours (dtype t) farther from ref than the bound allows. */
static int64_t count_wrong(const void *ours, tpf_dtype_t t, const float *ref, const float *absprod,
                           int64_t count, int64_t k) {
  const double u_out = t == TPF_FLOAT16 ? 0x1p-11 : t == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-24;
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; i++) {
    float got;
    tpf_convert((const char *)ours + (size_t)i * (t == TPF_FLOAT32 ? 4 : 2), t, &got, TPF_FLOAT32, 1);
    /* both sums carry fp32 accumulation error; then one rounding to t */
    double bound = 2.0 * (double)(k + 2) * 0x1p-24 * absprod[i] + u_out * fabs(ref[i]) + 1e-30;
    if (!(fabs((double)got - ref[i]) <= bound)) wrong++;
  }
  return wrong;
}

int main(int argc, char **argv) {
  const char *core = NULL; /* --openblas-core: OpenBLAS's kernel for another CPU */
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--openblas-core") == 0) core = argv[i + 1];
  const char *had = getenv("OPENBLAS_CORETYPE");
  if (getenv("OPENBLAS_L2_SIZE") || (had && (!core || strcmp(had, core) != 0)) || (core && !had)) {
    unsetenv("OPENBLAS_L2_SIZE");
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    execv("/proc/self/exe", argv);
    perror("bench_gemm: could not run itself again with OpenBLAS's variables set");
    return 2;
  }
  int quick = 0, reps = 5, thread_list[4] = {1, 2}, nthreads = 2, ngiven = 0;
  shape_t given[16];
  const char *json_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
    else if (strcmp(argv[i], "--openblas-core") == 0 && i + 1 < argc) i++; /* (read above) */
    else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      long long m, k, n;
      if (ngiven == 16 || sscanf(argv[++i], "%lld,%lld,%lld", &m, &k, &n) != 3 || m < 1 || k < 1 || n < 1) {
        fprintf(stderr, "bench_gemm: --shape %s: expected M,K,N (at most 16 shapes)\n", argv[i]);
        return 2;
      }
      given[ngiven++] = (shape_t){m, k, n, "given"};
    }
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      nthreads = 0;
      for (char *t = strtok(argv[++i], ","); t && nthreads < 4; t = strtok(NULL, ",")) thread_list[nthreads++] = atoi(t);
    } else {
      printf("usage: bench_gemm [--quick] [--shape M,K,N]... [--threads 1,2] [--reps N] [--json FILE]\n"
             "                  [--openblas-core NAME]\n"
             "  --shape           a shape of your own instead of the list (repeatable)\n"
             "  --openblas-core   OpenBLAS's kernel for another CPU (e.g. Haswell, to compare\n"
             "                    with TPF_ISA=avx2 on an AVX-512 machine); default: this CPU's\n");
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  if (reps < 1 || reps > 63) reps = 5;
  FILE *json = json_path ? fopen(json_path, "w") : NULL;
  char cpu[320];
  floor_cpu_text(cpu, sizeof cpu);
  printf("# tpfuse %s, kernels: %s; OpenBLAS core: %s\n", tpf_version(), tpf_gemm_kernel(),
         openblas_get_corename());
  printf("# cpu: %s; %s\n", cpu, tpf_cpu_features());
  /* the peaks that bound the kernels: fp32 (fp16 is converted to it) and bf16 */
  double peak32[4] = {0}, peak16[4] = {0};
  for (int ti = 0; ti < nthreads; ti++) {
    int t = thread_list[ti];
    floor_peak_t which32 = FLOOR_FMA_AVX2, which16 = FLOOR_FMA_AVX2;
    peak32[ti] = floor_gemm_peak(tpf_gemm_kernel(), TPF_FLOAT32, t, &which32);
    peak16[ti] = floor_gemm_peak(tpf_gemm_kernel(), TPF_BFLOAT16, t, &which16);
    printf("# measured peak, %d thread%s: fp32 %.0f GFLOP/s (%s), bf16 ", t, t > 1 ? "s" : "", peak32[ti],
           peak32[ti] > 0 ? floor_peak_name(which32) : "none measured");
    if (peak16[ti] > 0) printf("%.0f GFLOP/s (%s)\n", peak16[ti], floor_peak_name(which16));
    else printf("none measured (AMX tiles, portable C)\n");
  }
  printf("%-6s %-6s %-6s %-2s %-5s | %9s %6s %7s | %9s | %9s\n", "m", "k", "n", "T", "dtype", "GFLOP/s",
         "%peak", "vs_blas", "blas", "portable");
  int64_t total_wrong = 0;
  const shape_t *list = ngiven ? given : shapes;
  const size_t count = ngiven ? (size_t)ngiven : sizeof shapes / sizeof *shapes;
  for (size_t si = 0; si < count; si++) {
    const shape_t *s = &list[si];
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    if (quick && !ngiven && flops > 2.0 * 1024 * 1024 * 1024) continue;
    size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n), nc = (size_t)(s->m * s->n);
    float *a = alloc64(na * 4), *b = alloc64(nb * 4), *c_blas = alloc64(nc * 4), *absprod = alloc64(nc * 4),
          *a_abs = alloc64(na * 4), *b_abs = alloc64(nb * 4), *rounded_a = alloc64(na * 4),
          *rounded_b = alloc64(nb * 4);
    for (size_t i = 0; i < na; i++) a[i] = uniform(), a_abs[i] = fabsf(a[i]);
    for (size_t i = 0; i < nb; i++) b[i] = uniform(), b_abs[i] = fabsf(b[i]);
    openblas_set_num_threads(thread_list[nthreads - 1]);
    blas_ctx_t abs_ctx = {s, a_abs, b_abs, absprod};
    run_blas(&abs_ctx); /* |a| @ |b|: the scale of each element's rounding error */
    /* Per dtype: the inputs, the output, and sgemm on the inputs as rounded
     * to the dtype (the reference). */
    const tpf_dtype_t types[3] = {TPF_FLOAT32, TPF_FLOAT16, TPF_BFLOAT16};
    void *in_a[3] = {a}, *in_b[3] = {b}, *out[3];
    float *expect[3];
    for (int di = 0; di < 3; di++) {
      size_t es = types[di] == TPF_FLOAT32 ? 4 : 2;
      out[di] = alloc64(nc * es);
      expect[di] = alloc64(nc * 4);
      blas_ctx_t r = {s, a, b, expect[di]};
      if (di > 0) {
        in_a[di] = alloc64(na * 2), in_b[di] = alloc64(nb * 2);
        tpf_convert(a, TPF_FLOAT32, in_a[di], types[di], na);
        tpf_convert(b, TPF_FLOAT32, in_b[di], types[di], nb);
        tpf_convert(in_a[di], types[di], rounded_a, TPF_FLOAT32, na);
        tpf_convert(in_b[di], types[di], rounded_b, TPF_FLOAT32, nb);
        r.a = rounded_a, r.b = rounded_b;
      }
      run_blas(&r);
    }
    for (int ti = 0; ti < nthreads; ti++) {
      int T = thread_list[ti];
      openblas_set_num_threads(T);
      tpf_config_t cfg = TPF_CONFIG_INIT;
      cfg.threads_per_rank = T;
      tpf_comm_t *fast = NULL, *portable = NULL;
      tpf_comm_init_all(&fast, 1, &cfg);
      cfg.isa = "portable";
      tpf_comm_init_all(&portable, 1, &cfg);
      ours_ctx_t ours[3];
      for (int di = 0; di < 3; di++)
        ours[di] = (ours_ctx_t){fast, {in_a[di], types[di], s->m, s->k, 0, 0}, {in_b[di], types[di], s->k, s->n, 0, 0},
                                {out[di], types[di], s->m, s->n, 0, 0}, TPF_OK};
      /* Rounds of sgemm then each dtype of ours, so that every figure sees
       * the same spells of the shared machine. Each is timed over a burst
       * of back-to-back calls lasting about 20 ms (sized in the first
       * round, which warms up, on each one's second call), so that a short
       * product does not pay for the caches and threads the one before
       * left cold. After OpenBLAS's pause one call of ours runs untimed,
       * since the first call after it runs slow (the cores idled through
       * the pause), and our dtypes take turns in going first. */
      blas_ctx_t blas = {s, a, b, c_blas};
      double t_blas[64], t_ours[3][64];
      int blas_burst = 1, burst[3] = {1, 1, 1};
      for (int r = -1; r < reps; r++) {
        if (r < 0) run_blas(&blas); /* the first call wakes threads: size the burst on the second */
        double t = time_burst(run_blas, &blas, blas_burst);
        if (r < 0) blas_burst = burst_for(t);
        else t_blas[r] = t;
        let_blas_threads_sleep(T);
        const int turn = r < 0 ? 0 : r % 3;
        run_ours(&ours[turn]);
        for (int j = 0; j < 3; j++) {
          const int di = (turn + j) % 3;
          if (r < 0 && j > 0) run_ours(&ours[di]); /* (the first call grows its buffers) */
          t = time_burst(run_ours, &ours[di], burst[di]);
          if (r < 0) burst[di] = burst_for(t);
          else t_ours[di][r] = t;
        }
      }
      double blas_time = median(t_blas, reps);
      for (int di = 0; di < 3; di++) {
        tpf_dtype_t t = types[di];
        int64_t wrong = ours[di].status != TPF_OK ? (int64_t)nc
                                                  : count_wrong(out[di], t, expect[di], absprod, (int64_t)nc, s->k);
        double t_port = 0;
        if (flops <= 2.2e9 && T == thread_list[0]) {
          ours_ctx_t slow = ours[di];
          slow.comm = portable;
          t_port = median_time(run_ours, &slow, reps < 3 ? reps : 3);
          wrong += slow.status != TPF_OK ? (int64_t)nc : count_wrong(out[di], t, expect[di], absprod, (int64_t)nc, s->k);
        }
        total_wrong += wrong;
        double t_mine = median(t_ours[di], reps);
        double gf = flops / t_mine / 1e9, pk = t == TPF_BFLOAT16 ? peak16[ti] : peak32[ti];
        char port[32] = "-", of_peak[16] = "-";
        if (pk > 0) snprintf(of_peak, sizeof of_peak, "%.0f%%", 100 * gf / pk);
        if (t_port > 0) snprintf(port, sizeof port, "%.1f", flops / t_port / 1e9);
        printf("%-6lld %-6lld %-6lld %-2d %-5s | %9.1f %6s %6.2fx | %9.1f | %9s%s\n", (long long)s->m,
               (long long)s->k, (long long)s->n, T, dtype_text(t), gf, of_peak,
               blas_time / t_mine, flops / blas_time / 1e9, port, wrong ? "  WRONG" : "");
        if (json)
          fprintf(json,
                  "{\"m\":%lld,\"k\":%lld,\"n\":%lld,\"threads\":%d,\"dtype\":\"%s\",\"gflops\":%.2f,"
                  "\"peak_pct\":%.1f,\"vs_openblas\":%.3f,\"openblas_gflops\":%.2f,\"portable_gflops\":%.2f,\"wrong\":%lld}\n",
                  (long long)s->m, (long long)s->k, (long long)s->n, T, dtype_text(t), gf,
                  pk > 0 ? 100 * gf / pk : 0, blas_time / t_mine, flops / blas_time / 1e9,
                  t_port > 0 ? flops / t_port / 1e9 : 0, (long long)wrong);
        fflush(stdout);
      }
      tpf_comm_destroy(fast);
      tpf_comm_destroy(portable);
    }
    for (int di = 0; di < 3; di++) {
      free(out[di]), free(expect[di]);
      if (di > 0) free(in_a[di]), free(in_b[di]);
    }
    free(a), free(b), free(c_blas), free(absprod), free(a_abs), free(b_abs), free(rounded_a), free(rounded_b);
  }
  if (json) fclose(json);
  printf("%s\n", total_wrong ? "WRONG RESULTS" : "all results verified");
  return total_wrong ? 1 : 0;
}
