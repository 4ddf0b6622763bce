/* tpf_mm_reduce_scatter over the correctness matrix: every dtype, world
 * sizes 1, 2, 3, 4, 5, 8, shapes down to k = 1 and n = 1 and m = world
 * size, odd sizes, transposed operands, padded leading dimensions, bias,
 * avg, comm_turn 0/1/3/7, uneven row counts (zeros included), and both
 * algorithms. Random inputs are checked against the float64 reference;
 * small-integer inputs must be exact, so the fused ring and the unfused
 * "GEMM then reduce-scatter" must agree bit for bit; repeated runs must give
 * the same bits, and thread ranks and process ranks (shared memory) give
 * the same bits. Ranks use one or two compute threads.
 * Usage: test_rs_matrix [quick|full] [seed] [isa|auto] [threads|shm];
 * exits 77 (skipped) when this CPU lacks the instruction set asked for. */
#include <stdlib.h>

#include "../test.h"
#include "harness.h"

static const char *dtype_text(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? "fp16" : t == TPF_BFLOAT16 ? "bf16" : "fp32";
}

static void describe(const rs_case_t *c, char *buf, size_t size) {
  snprintf(buf, size, "W=%d m=%lld k=%lld n=%lld %s a_t=%d b_t=%d pad=%lld bias=%d %s turn=%d algo=%d %s seed=%llu",
           c->world_size, (long long)c->m, (long long)c->k, (long long)c->n, dtype_text(c->dtype),
           c->a_transposed, c->b_transposed, (long long)c->ld_pad, c->bias,
           c->reduce_op == TPF_AVG ? "avg" : "sum", c->comm_turn, (int)c->algo,
           c->row_counts ? "uneven" : "even", (unsigned long long)c->seed);
}

static const char *isa; /* the kernels every case uses (NULL: default) */
static int processes;   /* every case runs its ranks as processes (shm) */

/* Runs c; checks that it passed; returns the result for comparisons. */
static int run_and_check(const rs_case_t *c_in, rs_result_t *r) {
  rs_case_t copy = *c_in, *c = &copy;
  copy.isa = isa;
  copy.processes = copy.processes || processes;
  copy.threads_per_rank = 1 + (int)(copy.seed % 2);
  char what[300];
  describe(c, what, sizeof what);
  tpf_status_t s = rs_case_run(c, r);
  CHECK(s == TPF_OK, "%s: could not run: %s", what, tpf_last_error());
  if (s != TPF_OK) return 0;
  for (int q = 0; q < c->world_size; q++)
    CHECK(r->ranks[q].status == TPF_OK && r->ranks[q].wrong == 0,
          "%s integers=%d: rank %d %s, %lld wrong, worst error/bound %.3g: %s", what, c->integers, q,
          tpf_status_string(r->ranks[q].status), (long long)r->ranks[q].wrong, r->ranks[q].worst_ratio,
          r->ranks[q].error);
  return r->passed;
}

/* The case with random inputs against float64 on every schedule (unfused,
 * direct, ring), which all sum a block's partials in the ring's order and
 * so must agree bit for bit; then the ring with integers, exactly. */
static void check_case(rs_case_t c) {
  static const tpf_algo_t others[] = {TPF_ALGO_DIRECT, TPF_ALGO_RING};
  static const char *const names[] = {"direct", "ring"};
  rs_result_t unfused, other;
  c.integers = 0;
  c.algo = TPF_ALGO_UNFUSED;
  const int ok = run_and_check(&c, &unfused);
  for (int i = 0; i < 2; i++) {
    c.algo = others[i];
    if (run_and_check(&c, &other) && ok) {
      char what[300];
      describe(&c, what, sizeof what);
      CHECK(rs_result_same_bits(&c, &unfused, &other), "%s: %s and unfused differ", what, names[i]);
    }
    if (other.ranks) rs_result_free(&other);
  }
  if (unfused.ranks) rs_result_free(&unfused);
  c.integers = 1;
  c.algo = TPF_ALGO_RING;
  run_and_check(&c, &other);
  if (other.ranks) rs_result_free(&other);
}

/* Two runs of a random case, and a run with process ranks: the same bits. */
static void check_reproducible(rs_case_t c) {
  rs_result_t x, y, z;
  c.integers = 0;
  if (!run_and_check(&c, &x)) return;
  char what[300];
  describe(&c, what, sizeof what);
  if (run_and_check(&c, &y)) {
    CHECK(rs_result_same_bits(&c, &x, &y), "%s: two runs differ", what);
    rs_result_free(&y);
  }
  c.processes = 1;
  if (run_and_check(&c, &z)) {
    CHECK(rs_result_same_bits(&c, &x, &z), "%s: process ranks and thread ranks differ", what);
    rs_result_free(&z);
  }
  rs_result_free(&x);
}

int main(int argc, char **argv) {
  int full = argc > 1 && strcmp(argv[1], "full") == 0;
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 20261129;
  isa = argc > 3 && strcmp(argv[3], "auto") != 0 ? argv[3] : NULL;
  processes = argc > 4 && strcmp(argv[4], "shm") == 0;
  printf("seed %llu (%s), isa %s, %s\n", (unsigned long long)seed, full ? "full" : "quick", isa ? isa : "auto",
         processes ? "process ranks over shared memory" : "thread ranks");
  if (isa) {
    tpf_config_t cfg = TPF_CONFIG_INIT;
    cfg.isa = isa;
    tpf_comm_t *probe = NULL;
    tpf_status_t s = tpf_comm_init_all(&probe, 1, &cfg);
    if (s == TPF_ERR_UNSUPPORTED) {
      printf("SKIP: %s\n", tpf_last_error());
      return 77;
    }
    tpf_comm_destroy(probe);
  }
  const int worlds[] = {1, 2, 3, 4, 5, 8};
  const tpf_dtype_t types[] = {TPF_FLOAT16, TPF_BFLOAT16, TPF_FLOAT32};
  const int64_t ks[] = {1, 7, 300, 1031};
  const int64_t ns[] = {1, 5, 33, 130};
  const int64_t rows_per_rank[] = {1, 3, 17, 70};
  const int turns[] = {0, 1, 3, 7};
  const int sizes = full ? 4 : 3;
  int variant = 0, cases = 0;
  for (size_t wi = 0; wi < sizeof worlds / sizeof *worlds; wi++)
    for (size_t ti = 0; ti < 3; ti++)
      for (int si = 0; si < sizes; si++)
        for (int sj = 0; sj < (full ? 2 : 1); sj++) {
          variant++;
          rs_case_t c = {0};
          c.world_size = worlds[wi];
          c.dtype = types[ti];
          c.m = c.world_size * rows_per_rank[(si + sj) % sizes];
          c.k = ks[(si + variant) % sizes];
          c.n = ns[(si + 2 * variant) % sizes];
          c.a_transposed = variant % 5 == 0;
          c.b_transposed = variant % 2;
          c.ld_pad = variant % 3 == 0 ? 3 : 0;
          c.bias = variant % 4 != 1;
          c.reduce_op = variant % 3 == 1 ? TPF_AVG : TPF_SUM;
          c.comm_turn = turns[variant % 4];
          c.seed = seed + (uint64_t)variant;
          c.reps = 1;
          check_case(c);
          cases++;
        }
  /* Uneven splits, zeros included, and m below the world size. */
  static const int64_t c3[] = {0, 5, 2}, c4[] = {1, 0, 0, 6}, c5[] = {2, 1, 1, 2, 1},
                       c8[] = {3, 0, 1, 4, 0, 2, 9, 1}, c2[] = {1, 0};
  const struct { int w; const int64_t *counts; int64_t m; } uneven[] = {
      {3, c3, 7}, {4, c4, 7}, {5, c5, 7}, {8, c8, 20}, {2, c2, 1}};
  for (size_t u = 0; u < sizeof uneven / sizeof *uneven; u++)
    for (size_t ti = 0; ti < 3; ti++) {
      variant++;
      rs_case_t c = {0};
      c.world_size = uneven[u].w;
      c.row_counts = uneven[u].counts;
      c.m = uneven[u].m;
      c.k = 1 + (int64_t)(variant * 37 % 200);
      c.n = 1 + (int64_t)(variant * 11 % 40);
      c.dtype = types[ti];
      c.bias = 1;
      c.reduce_op = u % 2 ? TPF_AVG : TPF_SUM;
      c.comm_turn = turns[variant % 4];
      c.b_transposed = (int)(u % 2);
      c.seed = seed + (uint64_t)variant;
      c.reps = 1;
      check_case(c);
      cases++;
    }
  /* The reference example, and reproducibility with several repetitions. */
  rs_case_t demo = {0};
  demo.world_size = 8, demo.m = 128, demo.k = 512, demo.n = 64, demo.dtype = TPF_FLOAT16;
  demo.seed = seed, demo.reps = 3;
  check_reproducible(demo);
  demo.comm_turn = 3, demo.bias = 1, demo.dtype = TPF_BFLOAT16, demo.reduce_op = TPF_AVG;
  check_reproducible(demo);
  demo.world_size = 3, demo.m = 3 * 250, demo.k = 600, demo.n = 1100, demo.dtype = TPF_FLOAT32;
  demo.comm_turn = 0, demo.reps = 2;
  check_reproducible(demo);
  printf("%d cases\n", cases);
  return test_summary();
}
