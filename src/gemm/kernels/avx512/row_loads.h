/* Loads of one row's 64 or 128 bytes of B for the AVX-512 packers, made of
 * line-aligned loads put together in registers. A row of B that does not
 * start on a cache line (a B that is not 64-byte aligned, or whose rows are
 * not a multiple of 64 bytes long) made every vector load of the packers
 * span two lines, and packing took three times as long (16 x 4096 x 4096,
 * one thread: bf16 150 -> 113 GFLOP/s, fp32 85 -> 67). The lines before and
 * after the row's bytes are read with masks, so nothing outside the row is
 * read. */
#ifndef TPF_GEMM_KERNELS_AVX512_ROW_LOADS_H
#define TPF_GEMM_KERNELS_AVX512_ROW_LOADS_H

#include <immintrin.h>
#include <stdint.h>

/* The 32 16-bit values at src (src 2-byte aligned). */
static inline __attribute__((always_inline)) __m512i tpf_load32_u16(const uint16_t *src) {
  const uintptr_t addr = (uintptr_t)src;
  const unsigned skip = (unsigned)(addr & 63) / 2; /* values of the first line before src */
  if (skip == 0) return _mm512_load_si512(src);
  const uint16_t *line = (const uint16_t *)(addr & ~(uintptr_t)63);
  const __m512i first = _mm512_maskz_loadu_epi16((__mmask32)(0xffffffffu << skip), line);
  const __m512i second = _mm512_maskz_loadu_epi16((__mmask32)((1u << skip) - 1), line + 32);
  const __m512i index = _mm512_add_epi16(
      _mm512_set1_epi16((short)skip),
      _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
                       10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  return _mm512_permutex2var_epi16(first, index, second);
}

/* The 32 floats at src (src 4-byte aligned), as two vectors of 16. */
static inline __attribute__((always_inline)) void tpf_load32_f32(const float *src, __m512 *low, __m512 *high) {
  const uintptr_t addr = (uintptr_t)src;
  const unsigned skip = (unsigned)(addr & 63) / 4;
  if (skip == 0) {
    *low = _mm512_load_ps(src);
    *high = _mm512_load_ps(src + 16);
    return;
  }
  const float *line = (const float *)(addr & ~(uintptr_t)63);
  const __m512 first = _mm512_maskz_load_ps((__mmask16)(0xffffu << skip), line);
  const __m512 middle = _mm512_load_ps(line + 16);
  const __m512 last = _mm512_maskz_load_ps((__mmask16)((1u << skip) - 1), line + 32);
  const __m512i index = _mm512_add_epi32(_mm512_set1_epi32((int)skip),
                                         _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  *low = _mm512_permutex2var_ps(first, index, middle);
  *high = _mm512_permutex2var_ps(middle, index, last);
}

#endif
