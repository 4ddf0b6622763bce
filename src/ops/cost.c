/* The cost model of the fused operators' algorithms (cost.h) and its
 * parameter table (tpf_cost_get). */
#include "cost.h"

#include <stddef.h>
#include <string.h>

/* Measured with `tpfuse bench` (GEMM alone, communication alone, ring and
 * unfused on a sweep of shapes; docs/performance.md, "Choosing"). */
const tpf_costs_t tpf_costs = {
    .gemm = {{.flops_per_s = 150e9, .b_bytes_per_s = 20e9}, {.flops_per_s = 750e9, .b_bytes_per_s = 40e9}},
    .cached_b_bytes = 1 << 20, /* half the 2 MiB L2 of a core */
    .reach =
        {
            [TPF_REACH_IN_PLACE] = {.reduce_bytes_per_s = 8e9, .call_s = 5e-6, .step_s = 3e-6, .hidden = 0.9},
            [TPF_REACH_SHARED] = {.reduce_bytes_per_s = 7e9, .call_s = 5e-6, .step_s = 3.5e-6, .hidden = 0.9},
            [TPF_REACH_MESSAGES] = {.reduce_bytes_per_s = 2.5e9, .call_s = 150e-6, .step_s = 50e-6, .hidden = 0.8},
        },
};

static double min2(double a, double b) { return a < b ? a : b; }
static int64_t ceil_div(int64_t a, int64_t b) { return b > 0 ? (a + b - 1) / b : a; }

/* The fused schedule's cost beyond G + C: C's hidden share, B streamed
 * once per kernel block of each chunk (against one per kernel block of
 * all m rows), and a hand-over per chunk. */
static double fused_extra(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s, double gemm, double collective) {
  const tpf_gemm_costs_t *g = &c->gemm[s->dtype == TPF_BFLOAT16];
  const tpf_reach_costs_t *l = &c->reach[s->reach];
  const int64_t chunk_rows = ceil_div(s->largest_block, s->chunks);
  const int64_t streams = (int64_t)s->world * s->chunks * ceil_div(chunk_rows, s->gemm_rows);
  int64_t extra = streams - ceil_div(s->m, s->gemm_rows);
  if (extra < 0) extra = 0;
  const double b_bytes = (double)s->k * (double)s->n * (s->dtype == TPF_BFLOAT16 ? 2.0 : 4.0); /* packed: fp16 as fp32 */
  if (b_bytes <= c->cached_b_bytes) extra = 0;
  return -l->hidden * min2(gemm, collective) + (double)extra * b_bytes / g->b_bytes_per_s +
         (double)s->world * s->chunks * l->step_s;
}

static double gemm_seconds(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s) {
  return 2.0 * (double)s->m * (double)s->n * (double)s->k / c->gemm[s->dtype == TPF_BFLOAT16].flops_per_s;
}

double tpf_mm_rs_cost(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s, tpf_algo_t algo) {
  const tpf_reach_costs_t *l = &c->reach[s->reach];
  const double gemm = gemm_seconds(c, s);
  const double reduce = s->world > 1 ? 4.0 * (double)s->m * (double)s->n / l->reduce_bytes_per_s + l->call_s : 0.0;
  return gemm + reduce + (algo == TPF_ALGO_RING ? fused_extra(c, s, gemm, reduce) : 0.0);
}

double tpf_ag_mm_cost(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s, tpf_algo_t algo) {
  const tpf_reach_costs_t *l = &c->reach[s->reach];
  const double gemm = gemm_seconds(c, s);
  const double es = s->dtype == TPF_FLOAT32 ? 4.0 : 2.0;
  const double gather = s->world > 1 ? (double)s->m * (double)s->k * es / l->reduce_bytes_per_s + l->call_s : 0.0;
  return gemm + gather + (algo == TPF_ALGO_UNFUSED ? 0.0 : fused_extra(c, s, gemm, gather));
}

tpf_algo_t tpf_ag_mm_choose(const tpf_costs_t *c, tpf_algo_t requested, const tpf_mm_rs_shape_t *s) {
  if (requested != TPF_ALGO_AUTO) return requested == TPF_ALGO_UNFUSED ? TPF_ALGO_UNFUSED : TPF_ALGO_RING;
  if (s->world < 2) return TPF_ALGO_UNFUSED;
  return tpf_ag_mm_cost(c, s, TPF_ALGO_RING) < tpf_ag_mm_cost(c, s, TPF_ALGO_UNFUSED) ? TPF_ALGO_RING
                                                                                      : TPF_ALGO_UNFUSED;
}

tpf_algo_t tpf_mm_rs_choose(const tpf_costs_t *c, tpf_algo_t requested, const tpf_mm_rs_shape_t *s) {
  if (requested != TPF_ALGO_AUTO) return requested;
  if (s->world < 2) return TPF_ALGO_UNFUSED;
  return tpf_mm_rs_cost(c, s, TPF_ALGO_RING) < tpf_mm_rs_cost(c, s, TPF_ALGO_UNFUSED) ? TPF_ALGO_RING
                                                                                      : TPF_ALGO_UNFUSED;
}

/* The parameters as `tpfuse info` prints them: each field of a table, in
 * the unit people read. */
typedef struct entry {
  const char *name, *unit, *meaning;
  size_t at;    /* offsetof(tpf_costs_t, the field) */
  double scale; /* shown = value * scale */
} entry_t;

#define GEMM_ENTRIES(i, family)                                                                                    \
  {"gemm." family ".rate", "GFLOP/s", "one rank's GEMM rate", offsetof(tpf_costs_t, gemm[i].flops_per_s), 1e-9},   \
      {"gemm." family ".b_bandwidth", "GB/s", "a chunk's GEMM streaming B's packed panels again",                 \
       offsetof(tpf_costs_t, gemm[i].b_bytes_per_s), 1e-9}
#define REACH_ENTRIES(r, place)                                                                                    \
  {place ".reduce_bandwidth", "GB/s", "fp32 partial bytes a rank reduce-scatters per second",                     \
   offsetof(tpf_costs_t, reach[r].reduce_bytes_per_s), 1e-9},                                                      \
      {place ".call_latency", "us", "the reduce-scatter's fixed cost", offsetof(tpf_costs_t, reach[r].call_s), 1e6}, \
      {place ".step_latency", "us", "a ring chunk's hand-over", offsetof(tpf_costs_t, reach[r].step_s), 1e6},      \
      {place ".hidden", "", "share of the shorter of GEMM and reduce-scatter the ring hides",                      \
       offsetof(tpf_costs_t, reach[r].hidden), 1.0}

static const entry_t entries[] = {
    GEMM_ENTRIES(0, "fp32"),
    GEMM_ENTRIES(1, "bf16"),
    {"gemm.cached_b", "KiB", "a packed B up to this size is streamed again from cache", offsetof(tpf_costs_t, cached_b_bytes),
     1.0 / 1024},
    REACH_ENTRIES(TPF_REACH_IN_PLACE, "threads"),
    REACH_ENTRIES(TPF_REACH_SHARED, "host"),
    REACH_ENTRIES(TPF_REACH_MESSAGES, "messages"),
};

int tpf_cost_count(void) { return (int)(sizeof entries / sizeof *entries); }

int tpf_cost_entry(const tpf_costs_t *c, int i, tpf_cost_t *out) {
  if (i < 0 || i >= tpf_cost_count() || !out) return 0;
  const entry_t *e = &entries[i];
  double value;
  memcpy(&value, (const char *)c + e->at, sizeof value);
  *out = (tpf_cost_t){.name = e->name, .value = value * e->scale, .unit = e->unit, .meaning = e->meaning};
  return 1;
}

int tpf_cost_get(int i, tpf_cost_t *out) { return tpf_cost_entry(&tpf_costs, i, out); }
