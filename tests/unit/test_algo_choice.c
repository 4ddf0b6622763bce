/* The automatic choice of MatmulReduceScatter's algorithm: a request other
 * than AUTO is kept; one rank, or a step too small to outweigh a hand-over,
 * is unfused; over shared memory the ring runs up to the k measured as its
 * crossover (larger for thread ranks and for bf16), over messages from
 * 32 MFLOP per step up to k = 1024 whatever the dtype. */
#include "../test.h"
#include "ops/mm_reduce_scatter.h"

static const char *name(tpf_algo_t a) {
  return a == TPF_ALGO_RING ? "ring" : a == TPF_ALGO_UNFUSED ? "unfused" : a == TPF_ALGO_DIRECT ? "direct" : "auto";
}

static void expect(tpf_algo_t want, tpf_algo_t requested, int64_t m, int64_t n, int64_t k, int W, tpf_dtype_t t,
                   tpf_reach_t reach) {
  tpf_algo_t got = tpf_mm_rs_choose_algo(requested, m, n, k, W, t, reach);
  CHECK(got == want, "%lldx%lldx%lld W=%d dtype %d reach %d: %s, expected %s", (long long)m, (long long)k,
        (long long)n, W, (int)t, (int)reach, name(got), name(want));
}

int main(void) {
  const tpf_algo_t R = TPF_ALGO_RING, U = TPF_ALGO_UNFUSED, A = TPF_ALGO_AUTO;
  const tpf_reach_t P = TPF_REACH_IN_PLACE, S = TPF_REACH_SHARED, M = TPF_REACH_MESSAGES;
  /* requests are kept, even where AUTO would differ */
  expect(TPF_ALGO_DIRECT, TPF_ALGO_DIRECT, 8, 8, 8, 2, TPF_FLOAT32, S);
  expect(R, R, 8, 8, 1 << 20, 2, TPF_FLOAT32, S);
  expect(U, U, 8192, 8192, 128, 2, TPF_BFLOAT16, M);
  /* one rank; a step below a hand-over's worth (2 MFLOP over shared memory) */
  expect(U, A, 2048, 2048, 128, 1, TPF_BFLOAT16, S);
  expect(U, A, 32, 64, 512, 2, TPF_BFLOAT16, P);       /* 1.0 MFLOP per step */
  expect(U, A, 61, 64, 512, 2, TPF_BFLOAT16, P);       /* 1.999 MFLOP */
  expect(R, A, 62, 64, 512, 2, TPF_BFLOAT16, P);       /* 2.03 MFLOP */
  expect(U, A, 122, 64, 256, 2, TPF_BFLOAT16, S);      /* 1.999 MFLOP */
  expect(R, A, 123, 64, 256, 2, TPF_BFLOAT16, S);      /* 2.02 MFLOP */
  expect(R, A, 128, 64, 512, 2, TPF_BFLOAT16, P);      /* 4.2 MFLOP */
  /* the measured crossovers in k, over shared memory */
  expect(R, A, 2048, 2048, 1024, 2, TPF_BFLOAT16, S);
  expect(U, A, 2048, 2048, 1025, 2, TPF_BFLOAT16, S);
  expect(R, A, 2048, 2048, 512, 2, TPF_FLOAT32, S);
  expect(U, A, 2048, 2048, 513, 2, TPF_FLOAT32, S);
  expect(U, A, 2048, 2048, 513, 2, TPF_FLOAT16, S);
  expect(R, A, 2048, 2048, 2048, 2, TPF_BFLOAT16, P);
  expect(U, A, 2048, 2048, 4096, 2, TPF_BFLOAT16, P);
  expect(R, A, 2048, 2048, 256, 4, TPF_FLOAT32, P);
  expect(U, A, 2048, 2048, 512, 4, TPF_FLOAT32, P);
  /* messages: 32 MFLOP per step, k up to 1024 */
  expect(U, A, 1024, 1024, 30, 2, TPF_BFLOAT16, M);    /* 31.5 MFLOP per step */
  expect(R, A, 1024, 1024, 31, 2, TPF_BFLOAT16, M);    /* 32.5 MFLOP */
  expect(R, A, 2048, 2048, 1024, 2, TPF_FLOAT32, M);
  expect(U, A, 2048, 2048, 1025, 2, TPF_BFLOAT16, M);
  return test_summary();
}
