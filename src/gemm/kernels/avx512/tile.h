/* The accumulator tile both AVX-512 kernels keep in registers: row i of an
 * mr x 32 tile of C is c<i>a (columns 0-15) and c<i>b (16-31). Each kernel
 * file defines its own STEP(i); these are the parts they share. */
#ifndef TPF_GEMM_KERNELS_AVX512_TILE_H
#define TPF_GEMM_KERNELS_AVX512_TILE_H

#include <immintrin.h>

#define TPF_ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define TPF_ROWS12(X) TPF_ROWS8(X) X(8) X(9) X(10) X(11)
#define TPF_ROWS14(X) TPF_ROWS12(X) X(12) X(13)

#define TPF_TILE_DECLARE(i) __m512 c##i##a, c##i##b;
/* Start from C's tile (accumulate) or from zero. */
#define TPF_TILE_LOAD(i)                                                       \
  c##i##a = accumulate ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps(); \
  c##i##b = accumulate ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
#define TPF_TILE_STORE(i)                 \
  _mm512_storeu_ps(c + i * ldc, c##i##a); \
  _mm512_storeu_ps(c + i * ldc + 16, c##i##b);

/* The same rows of the tile below (the engine's next tile, if any: a
 * prefetch of an address past the accumulator is harmless), toward L1,
 * where it will load them too (accumulate). */
#define TPF_TILE_PREFETCH_BELOW(i)                                                     \
  _mm_prefetch((const char *)(c + (i + tile_rows_) * ldc), _MM_HINT_T0);               \
  _mm_prefetch((const char *)(c + (i + tile_rows_) * ldc + 16), _MM_HINT_T0);

/* The engine's lines for one k step (see tpf_prefetch_t), toward L2. */
#define TPF_PREFETCH_STEP(at, second)              \
  _mm_prefetch(at, _MM_HINT_T1);                   \
  _mm_prefetch(at + 64, _MM_HINT_T1);              \
  _mm_prefetch(at + (second), _MM_HINT_T1);        \
  _mm_prefetch(at + (second) + 64, _MM_HINT_T1);

/* What every kernel does with its tile: starts it from C (or zero), runs
 * `count` steps of STEP, the first next.steps of them also prefetching the
 * engine's lines (in a loop of their own), and stores it back. Uses the
 * kernel's c, ldc, accumulate and next. */
#define TPF_TILE_RUN(ROWS, mr, count, STEP)                                                        \
  ROWS(TPF_TILE_DECLARE)                                                                       \
  ROWS(TPF_TILE_LOAD)                                                                          \
  const int64_t tile_rows_ = (mr);                                                             \
  if (accumulate) { ROWS(TPF_TILE_PREFETCH_BELOW) }                                            \
  int64_t step_ = 0;                                                                           \
  for (const char *at = next.at; step_ < (count) && step_ < next.steps; step_++, at += next.stride) { \
    TPF_PREFETCH_STEP(at, next.second)                                                         \
    STEP                                                                                       \
  }                                                                                            \
  _Pragma("GCC unroll 2") for (; step_ < (count); step_++) STEP                               \
  ROWS(TPF_TILE_STORE)

#endif
