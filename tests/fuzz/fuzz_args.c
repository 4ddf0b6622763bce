/* Argument checking under random input: every byte string is turned into a
 * call of tpf_mm_reduce_scatter, tpf_reduce_scatter or tpf_gemm (or of
 * tpf_mem_alloc and tpf_mem_free, with odd sizes and pointers) with
 * arbitrary shapes, dtypes, leading dimensions, flags, options and
 * overlapping views. Every view is either honest (at most 40 x 40 inside
 * one arena) or breaks a rule (a size <= 0 or too large to address, a NULL
 * pointer, an unknown dtype or flag, a short leading dimension), so a call
 * the checks accept touches only the arena. The library must never crash,
 * must answer TPF_OK, TPF_ERR_INVALID or TPF_ERR_UNSUPPORTED, must say why
 * when it rejects, and must then leave every byte of the arena untouched.
 *
 * Built two ways: as a libFuzzer target (clang, -fsanitize=fuzzer) and as a
 * test that feeds it a fixed number of pseudo-random inputs (it prints its
 * seed). Usage of the test: fuzz_args_test [count] [seed] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpfuse.h"

enum { ARENA_FLOATS = 1 << 16 };
static float arena[ARENA_FLOATS], snapshot[ARENA_FLOATS];
static tpf_comm_t *comm;
static long accepted, rejected;

typedef struct reader {
  const uint8_t *data;
  size_t size, at;
} reader_t;

static uint32_t take(reader_t *r, uint32_t below) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = v << 8 | (r->at < r->size ? r->data[r->at++] : 0);
  return below ? v % below : v;
}

/* A size in 1..40, or now and then zero, negative or too large to address. */
static int64_t take_size(reader_t *r) {
  switch (take(r, 16)) {
  case 0: return 0;
  case 1: return -(int64_t)take(r, 5);
  case 2: return INT64_MAX;
  default: return 1 + take(r, 40);
  }
}

static tpf_matrix_t take_matrix(reader_t *r) {
  tpf_matrix_t m;
  size_t offset = take(r, ARENA_FLOATS / 2);
  m.data = take(r, 20) == 0 ? NULL : (void *)(arena + offset);
  m.dtype = (tpf_dtype_t)take(r, 4); /* 3: not a dtype */
  m.rows = take_size(r);
  m.cols = take_size(r);
  m.ld = take(r, 4) == 0 ? take_size(r) : 0;
  m.transposed = (int)take(r, 3) == 2 ? 5 : (int)take(r, 2);
  return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!comm && tpf_comm_init_all(&comm, 1, NULL) != TPF_OK) abort();
  reader_t r = {data, size, 0};
  int which = (int)take(&r, 4);
  tpf_matrix_t a = take_matrix(&r), b = take_matrix(&r), out = take_matrix(&r);
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  int64_t counts[1];
  if (take(&r, 2)) {
    /* A consistent call, then a few fields broken (or none). */
    tpf_dtype_t t = (tpf_dtype_t)take(&r, 3);
    int64_t m = 1 + take(&r, 40), k = 1 + take(&r, 40), n = 1 + take(&r, 40);
    a = (tpf_matrix_t){arena + take(&r, ARENA_FLOATS / 2), t, m, k, 0, (int)take(&r, 2)};
    b = (tpf_matrix_t){arena + take(&r, ARENA_FLOATS / 2), t, k, n, 0, (int)take(&r, 2)};
    out = (tpf_matrix_t){arena + take(&r, ARENA_FLOATS / 2), t, m, which == 1 ? k : n, 0, 0};
    if (which == 1) a.transposed = 0;
    if (which == 2 && take(&r, 2)) out.dtype = TPF_FLOAT32;
    for (uint32_t breaks = take(&r, 3); breaks > 0; breaks--) {
      tpf_matrix_t *victim = take(&r, 3) == 0 ? &a : take(&r, 2) ? &b : &out;
      switch (take(&r, 6)) {
      case 0: victim->rows = take_size(&r); break;
      case 1: victim->cols = take_size(&r); break;
      case 2: victim->ld = take_size(&r); break;
      case 3: victim->dtype = (tpf_dtype_t)take(&r, 4); break;
      case 4: victim->transposed = (int)take(&r, 3); break;
      default: victim->data = take(&r, 2) ? NULL : (char *)arena + 2 * take(&r, 256); break;
      }
    }
  } else {
    opt.reduce_op = (tpf_reduce_op_t)take(&r, 3);
    opt.comm_turn = (int)take(&r, 5) - 1;
    opt.algo = (tpf_algo_t)take(&r, 4);
    opt.bias_len = take(&r, 4) == 0 ? take_size(&r) : 0;
    counts[0] = take_size(&r);
    opt.row_counts = take(&r, 4) == 0 ? counts : NULL;
    opt.size = take(&r, 8) == 0 ? take(&r, 64) : sizeof opt;
  }
  opt.bias = take(&r, 3) == 0 ? arena + take(&r, ARENA_FLOATS / 2) : NULL;
  memcpy(snapshot, arena, sizeof arena);
  tpf_status_t s;
  if (which == 0) s = tpf_mm_reduce_scatter(comm, &a, &b, &out, &opt);
  else if (which == 1) s = tpf_reduce_scatter(comm, &a, &out, &opt);
  else if (which == 3) { /* memory to share: a size, where to put it, and a release */
    void *p = NULL;
    size_t bytes = take(&r, 2) ? (size_t)take_size(&r) : take(&r, 1 << 20);
    s = tpf_mem_alloc(comm, bytes, take(&r, 4) ? &p : NULL);
    if (s == TPF_OK && !p) abort();
    if (s == TPF_OK || take(&r, 2)) {
      void *wrong = take(&r, 2) ? NULL : (char *)arena + take(&r, 1024);
      tpf_status_t f = tpf_mem_free(comm, s == TPF_OK && take(&r, 2) ? p : wrong);
      if (f == TPF_OK && !(s == TPF_OK && p)) abort(); /* freed what it never gave */
      if (s == TPF_OK && f != TPF_OK && tpf_mem_free(comm, p) != TPF_OK) abort();
      if (s == TPF_OK) s = f;
    }
  } else {
    tpf_gemm_options_t g = TPF_GEMM_OPTIONS_INIT;
    g.bias = opt.bias;
    g.accumulate = (int)take(&r, 3) == 0;
    s = tpf_gemm(comm, &a, &b, &out, &g);
  }
  if (s != TPF_OK && s != TPF_ERR_INVALID && s != TPF_ERR_UNSUPPORTED) {
    fprintf(stderr, "unexpected status %s: %s\n", tpf_status_string(s), tpf_last_error());
    abort();
  }
  if (s == TPF_OK) accepted++;
  else rejected++;
  if (s != TPF_OK) {
    if (!*tpf_last_error()) abort(); /* a rejection says why */
    if (memcmp(snapshot, arena, sizeof arena) != 0) {
      fprintf(stderr, "a rejected call (%s) wrote memory\n", tpf_last_error());
      abort();
    }
  }
  return 0;
}

#ifndef TPF_LIBFUZZER
int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 20000;
  uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 20261129, state = seed;
  printf("fuzz_args: %ld inputs, seed %llu\n", count, (unsigned long long)seed);
  uint8_t input[160];
  for (long i = 0; i < count; i++) {
    for (size_t j = 0; j < sizeof input; j++) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      input[j] = (uint8_t)(state >> 56);
    }
    LLVMFuzzerTestOneInput(input, sizeof input);
  }
  tpf_comm_destroy(comm);
  printf("%ld calls accepted, %ld rejected\n", accepted, rejected);
  if (accepted < count / 100 || rejected < count / 2) {
    printf("the inputs no longer reach both sides of the checks\n0 passed, 1 failed\n");
    return 1;
  }
  printf("%ld passed, 0 failed\n", count);
  return 0;
}
#endif
