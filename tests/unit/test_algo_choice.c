/* The automatic choice of MatmulReduceScatter's (and AllGatherMatmul's)
 * algorithm (ops/cost.h): a
 * request other than AUTO is kept; one rank is unfused; otherwise the
 * cheaper of the ring and the unfused path by the cost model, which must
 * agree with what `tpfuse bench` measured on the sweep behind its
 * parameters (docs/performance.md, "Choosing"): the ring where the
 * reduce-scatter it hides outweighs its hand-overs and its extra passes
 * over B, unfused where it does not. */
#include "../test.h"
#include "ops/cost.h"
#include "ops/mm_reduce_scatter.h"
#include "ops/split.h"

static const char *name(tpf_algo_t a) {
  return a == TPF_ALGO_RING ? "ring" : a == TPF_ALGO_UNFUSED ? "unfused" : a == TPF_ALGO_DIRECT ? "direct" : "auto";
}

/* The shape as a call of W ranks with an even split makes it. */
static tpf_mm_rs_shape_t shape(int64_t m, int64_t n, int64_t k, int W, tpf_dtype_t t, tpf_reach_t reach) {
  const int64_t block = m / W;
  return (tpf_mm_rs_shape_t){.m = m, .n = n, .k = k, .world = W, .dtype = t, .reach = reach,
                             .chunks = tpf_mm_rs_chunks(0, block, n, k), .largest_block = block,
                             .gemm_rows = t == TPF_BFLOAT16 ? 480 : 448};
}

static void expect(tpf_algo_t want, tpf_algo_t requested, int64_t m, int64_t n, int64_t k, int W, tpf_dtype_t t,
                   tpf_reach_t reach) {
  const tpf_mm_rs_shape_t s = shape(m, n, k, W, t, reach);
  tpf_algo_t got = tpf_mm_rs_choose(&tpf_costs, requested, &s);
  CHECK(got == want, "%lldx%lldx%lld W=%d dtype %d reach %d: %s, expected %s (ring %.1f us, unfused %.1f us)",
        (long long)m, (long long)k, (long long)n, W, (int)t, (int)reach, name(got), name(want),
        1e6 * tpf_mm_rs_cost(&tpf_costs, &s, TPF_ALGO_RING), 1e6 * tpf_mm_rs_cost(&tpf_costs, &s, TPF_ALGO_UNFUSED));
}

/* The ring costs what the unfused path does, less what it hides, plus its
 * hand-overs and B streams: a change of one parameter moves it the right
 * way. */
static void check_model(void) {
  const tpf_mm_rs_shape_t s = shape(2048, 2048, 1024, 2, TPF_FLOAT32, TPF_REACH_SHARED);
  tpf_costs_t c = tpf_costs;
  const double ring = tpf_mm_rs_cost(&c, &s, TPF_ALGO_RING), unfused = tpf_mm_rs_cost(&c, &s, TPF_ALGO_UNFUSED);
  CHECK(ring > 0 && unfused > 0, "costs %g %g", ring, unfused);
  const double gemm = 2.0 * 2048 * 2048 * 1024 / c.gemm[0].flops_per_s;
  const double reduce = 4.0 * 2048 * 2048 / c.reach[TPF_REACH_SHARED].reduce_bytes_per_s + c.reach[TPF_REACH_SHARED].call_s;
  CHECK(unfused > gemm + reduce * 0.999 && unfused < gemm + reduce * 1.001, "unfused %g, not G + R = %g", unfused,
        gemm + reduce);
  c.reach[TPF_REACH_SHARED].step_s *= 2;
  CHECK(tpf_mm_rs_cost(&c, &s, TPF_ALGO_RING) > ring, "dearer hand-overs do not make the ring dearer");
  c = tpf_costs;
  c.gemm[0].b_bytes_per_s /= 2;
  CHECK(tpf_mm_rs_cost(&c, &s, TPF_ALGO_RING) > ring, "slower B streams do not make the ring dearer");
  c = tpf_costs;
  c.reach[TPF_REACH_SHARED].hidden = 0;
  CHECK(tpf_mm_rs_cost(&c, &s, TPF_ALGO_RING) > unfused, "a ring that hides nothing beats unfused");
  /* one block per GEMM block and one chunk: no extra pass over B */
  const tpf_mm_rs_shape_t one = shape(512, 512, 512, 2, TPF_FLOAT32, TPF_REACH_SHARED);
  c = tpf_costs;
  c.cached_b_bytes = 0;
  const double before = tpf_mm_rs_cost(&c, &one, TPF_ALGO_RING);
  c.gemm[0].b_bytes_per_s /= 4;
  CHECK(tpf_mm_rs_cost(&c, &one, TPF_ALGO_RING) == before, "512 rows in two chunks of 256 pass over B once more?");
  /* the ring's extra passes over a B that stays in cache cost nothing */
  const tpf_mm_rs_shape_t small = shape(128, 64, 512, 2, TPF_FLOAT32, TPF_REACH_SHARED);
  const double cached = tpf_mm_rs_cost(&tpf_costs, &small, TPF_ALGO_RING);
  c = tpf_costs;
  c.gemm[0].b_bytes_per_s /= 4;
  CHECK(tpf_mm_rs_cost(&c, &small, TPF_ALGO_RING) == cached, "a B of 128 KiB in cache streamed from memory");
  c.cached_b_bytes = 64 * 1024;
  CHECK(tpf_mm_rs_cost(&c, &small, TPF_ALGO_RING) > cached, "a B of 128 KiB out of a 64 KiB cache streamed free");
}

/* AllGatherMatmul: requests kept (direct is its fused schedule, the
 * ring's); one rank unfused; unfused costs G + the gather; the fused
 * schedule where the gather it hides outweighs its extra passes over B. */
static void check_all_gather_mm(void) {
  const tpf_mm_rs_shape_t s = shape(2048, 2048, 256, 2, TPF_BFLOAT16, TPF_REACH_SHARED);
  CHECK(tpf_ag_mm_choose(&tpf_costs, TPF_ALGO_DIRECT, &s) == TPF_ALGO_RING, "direct is the fused schedule");
  CHECK(tpf_ag_mm_choose(&tpf_costs, TPF_ALGO_UNFUSED, &s) == TPF_ALGO_UNFUSED, "unfused kept");
  CHECK(tpf_ag_mm_choose(&tpf_costs, TPF_ALGO_AUTO, &s) == TPF_ALGO_RING, "2048 x 256 x 2048 bf16: fused");
  const tpf_mm_rs_shape_t one = shape(2048, 2048, 256, 1, TPF_BFLOAT16, TPF_REACH_SHARED);
  CHECK(tpf_ag_mm_choose(&tpf_costs, TPF_ALGO_AUTO, &one) == TPF_ALGO_UNFUSED, "one rank: unfused");
  const double gemm = 2.0 * 2048 * 2048 * 256 / tpf_costs.gemm[1].flops_per_s;
  const double gather = 2048.0 * 256 * 2 / tpf_costs.reach[TPF_REACH_SHARED].reduce_bytes_per_s +
                        tpf_costs.reach[TPF_REACH_SHARED].call_s;
  const double unfused = tpf_ag_mm_cost(&tpf_costs, &s, TPF_ALGO_UNFUSED);
  CHECK(unfused > (gemm + gather) * 0.999 && unfused < (gemm + gather) * 1.001, "unfused %g, not G + A = %g", unfused,
        gemm + gather);
  /* 8 ranks' blocks of 32 rows of a long k: each block streams B again */
  const tpf_mm_rs_shape_t thin = shape(256, 1024, 8192, 8, TPF_FLOAT32, TPF_REACH_SHARED);
  CHECK(tpf_ag_mm_choose(&tpf_costs, TPF_ALGO_AUTO, &thin) == TPF_ALGO_UNFUSED, "256 x 8192 x 1024 on 8 ranks: "
        "unfused (fused %.1f us, unfused %.1f us)", 1e6 * tpf_ag_mm_cost(&tpf_costs, &thin, TPF_ALGO_RING),
        1e6 * tpf_ag_mm_cost(&tpf_costs, &thin, TPF_ALGO_UNFUSED));
}

int main(void) {
  const tpf_algo_t R = TPF_ALGO_RING, U = TPF_ALGO_UNFUSED, A = TPF_ALGO_AUTO;
  check_all_gather_mm();
  const tpf_reach_t P = TPF_REACH_IN_PLACE, S = TPF_REACH_SHARED, M = TPF_REACH_MESSAGES;
  check_model();
  /* requests are kept, even where AUTO would differ */
  expect(TPF_ALGO_DIRECT, TPF_ALGO_DIRECT, 8, 8, 8, 2, TPF_FLOAT32, S);
  expect(R, R, 8, 8, 1 << 20, 2, TPF_FLOAT32, S);
  expect(U, U, 8192, 8192, 128, 2, TPF_BFLOAT16, M);
  /* one rank */
  expect(U, A, 2048, 2048, 128, 1, TPF_BFLOAT16, S);
  /* steps too small to outweigh their hand-overs */
  expect(U, A, 32, 64, 64, 2, TPF_BFLOAT16, P);
  expect(U, A, 64, 64, 64, 2, TPF_FLOAT32, S);
  /* the sweep: 2048 x k x 2048, bf16 ring up to k = 4096; fp32 up to 1024 */
  for (int k = 256; k <= 4096; k *= 2) {
    expect(R, A, 2048, 2048, k, 2, TPF_BFLOAT16, S);
    expect(R, A, 2048, 2048, k, 2, TPF_BFLOAT16, P);
    expect(k <= 1024 ? R : U, A, 2048, 2048, k, 2, TPF_FLOAT32, S);
    expect(k <= 1024 ? R : U, A, 2048, 2048, k, 2, TPF_FLOAT16, P);
  }
  expect(R, A, 512, 512, 512, 2, TPF_BFLOAT16, S);
  expect(R, A, 1024, 1024, 1024, 2, TPF_FLOAT32, S);
  /* the reference example: its B (128 KiB) is read again from cache */
  expect(R, A, 128, 64, 512, 2, TPF_FLOAT32, S);
  expect(R, A, 128, 64, 512, 2, TPF_FLOAT32, P);
  /* 256 rows and a large B: the ring would stream B twice */
  expect(U, A, 256, 1024, 4096, 2, TPF_BFLOAT16, S);
  expect(U, A, 256, 1024, 4096, 2, TPF_FLOAT32, P);
  /* messages: 17 MFLOP steps lose to the rendezvous, large products win */
  expect(U, A, 512, 128, 256, 2, TPF_BFLOAT16, M);
  expect(R, A, 2048, 2048, 1024, 2, TPF_FLOAT32, M);
  expect(R, A, 4096, 4096, 256, 2, TPF_BFLOAT16, M);
  return test_summary();
}
