/* The probes and the table scaled to them (calibrate.h). */
#include "calibrate.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/half.h"

/* The probes on the machine the table was fit on (docs/performance.md,
 * "Choosing the algorithm"): an Intel Xeon with AMX (kernels avx512 for
 * fp32, amx for bf16), one thread per rank, medians of twelve. */
const tpf_probes_t tpf_probes_reference = {.gemm_gflops = {170.0, 880.0}, .sum_gbps = 27.7, .l2_bytes = 2 << 20};

/* Each probe runs once to warm up, then PROBE_RUNS times, or fewer (at
 * least two) once it has taken PROBE_BUDGET_NS: slow kernels (portable C,
 * under sanitizers) stop early. */
enum { PROBE_M = 128, PROBE_K = 512, PROBE_N = 512, SUM_FLOATS = 1 << 20, PROBE_RUNS = 7 };
static const int64_t PROBE_BUDGET_NS = 4000000;

/* The shortest of the timed runs of run(arg) after one that warms up;
 * 0 if none was timed. */
static double best_seconds(void (*run)(void *), void *arg) {
  double best = 0;
  const int64_t began = tpf_now_ns();
  for (int r = -1; r < PROBE_RUNS && (r < 2 || tpf_now_ns() - began < PROBE_BUDGET_NS); r++) {
    const int64_t start = tpf_now_ns();
    run(arg);
    const double s = (double)(tpf_now_ns() - start) * 1e-9;
    if (r >= 0 && s > 0 && (best == 0 || s < best)) best = s;
  }
  return best;
}

typedef struct gemm_probe {
  tpf_gemm_engine_t *e;
  tpf_gemm_operand_t a;
  tpf_gemm_epilogue_t epi;
} gemm_probe_t;

static void run_gemm(void *arg) {
  gemm_probe_t *p = arg;
  tpf_gemm_multiply(p->e, PROBE_M, &p->a, &p->epi);
}

/* GFLOP/s of a PROBE_M x PROBE_K x PROBE_N product in dtype t (zeros: the
 * rate does not depend on the values); 0 when out of memory. */
static double probe_gemm(tpf_gemm_engine_t *e, tpf_dtype_t t) {
  const size_t es = tpf_dtype_size(t);
  void *a = calloc((size_t)PROBE_M * PROBE_K, es), *b = calloc((size_t)PROBE_K * PROBE_N, es);
  float *c = malloc(sizeof(float) * PROBE_M * PROBE_N);
  double best = 0;
  const tpf_gemm_operand_t bo = {b, t, PROBE_N, 0};
  if (a && b && c && tpf_gemm_set_b(e, PROBE_K, PROBE_N, &bo, tpf_gemm_reuses_b(e, t, PROBE_M)) == TPF_OK) {
    gemm_probe_t p = {e, {a, t, PROBE_K, 0}, {.divisor = 1.0f, .out = c, .out_dtype = TPF_FLOAT32, .out_ld = PROBE_N}};
    best = best_seconds(run_gemm, &p);
  }
  free(a), free(b), free(c);
  return best > 0 ? 2.0 * PROBE_M * PROBE_K * PROBE_N / best * 1e-9 : 0;
}

typedef struct sum_probe {
  tpf_sum_row_fn sum;
  float *acc, *src;
} sum_probe_t;

static void run_sum(void *arg) {
  sum_probe_t *p = arg;
  const void *sources[2] = {p->acc, p->src};
  const tpf_gemm_epilogue_t into_acc = {.divisor = 1.0f, .out = p->acc, .out_dtype = TPF_FLOAT32};
  p->sum(&into_acc, sources, 2, TPF_FLOAT32, 0, 0, SUM_FLOATS);
}

/* GB/s of the source of a row sum (acc += src, the sum written over its
 * first source: each vector is read before it is written) of 4 MiB each. */
static double probe_sum(const tpf_gemm_engine_t *e) {
  sum_probe_t p = {e->isa->for_dtype[TPF_FLOAT32]->sum_row, calloc(SUM_FLOATS, sizeof(float)),
                   calloc(SUM_FLOATS, sizeof(float))};
  const double best = p.acc && p.src ? best_seconds(run_sum, &p) : 0;
  free(p.acc), free(p.src);
  return best > 0 ? sizeof(float) * (double)SUM_FLOATS / best * 1e-9 : 0;
}

tpf_probes_t tpf_probes_run(tpf_gemm_engine_t *e) {
#ifdef _SC_LEVEL2_CACHE_SIZE
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#else
  const long l2 = 0;
#endif
  return (tpf_probes_t){.gemm_gflops = {probe_gemm(e, TPF_FLOAT32), probe_gemm(e, TPF_BFLOAT16)},
                        .sum_gbps = probe_sum(e), .l2_bytes = l2 > 0 ? (double)l2 : 0};
}

/* here / there, or 1 when a probe failed. */
static double ratio(double here, double there) { return here > 0 && there > 0 ? here / there : 1.0; }

tpf_costs_t tpf_costs_scaled(const tpf_probes_t *here) {
  tpf_costs_t c = tpf_costs;
  const double memory = ratio(here->sum_gbps, tpf_probes_reference.sum_gbps);
  for (int f = 0; f < 2; f++) {
    c.gemm[f].flops_per_s *= ratio(here->gemm_gflops[f], tpf_probes_reference.gemm_gflops[f]);
    c.gemm[f].b_bytes_per_s *= memory;
  }
  c.reach[TPF_REACH_IN_PLACE].reduce_bytes_per_s *= memory;
  c.reach[TPF_REACH_SHARED].reduce_bytes_per_s *= memory;
  if (here->l2_bytes > 0) c.cached_b_bytes = here->l2_bytes / 2;
  return c;
}

/* The tables measured in this process, per ISA and thread count: slots
 * claimed once and published when filled (no lock: a fork may come at
 * any time). Two threads may measure the same key at once; both tables
 * are kept, the first found is used. */
enum { KEPT = 8 };
static struct kept {
  const tpf_gemm_isa_t *isa;
  int threads;
  tpf_costs_t costs;
  atomic_int ready;
} kept[KEPT];
static atomic_int kept_claimed;

tpf_costs_t tpf_costs_for(tpf_gemm_engine_t *e) {
  const int threads = tpf_gemm_engine_threads(e);
  const int claimed = atomic_load(&kept_claimed);
  for (int i = 0; i < claimed && i < KEPT; i++)
    if (atomic_load_explicit(&kept[i].ready, memory_order_acquire) && kept[i].isa == e->isa &&
        kept[i].threads == threads)
      return kept[i].costs;
  const tpf_probes_t probes = tpf_probes_run(e);
  const tpf_costs_t c = tpf_costs_scaled(&probes);
  const int slot = atomic_fetch_add(&kept_claimed, 1);
  if (slot < KEPT) {
    kept[slot].isa = e->isa, kept[slot].threads = threads, kept[slot].costs = c;
    atomic_store_explicit(&kept[slot].ready, 1, memory_order_release);
  }
  return c;
}
