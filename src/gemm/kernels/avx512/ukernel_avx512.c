/* The AVX-512 fp32 micro-kernel: a 12 x 32 tile of C in 24 zmm registers;
 * per k step two loads of B (32 columns) and twelve broadcasts of A, each
 * feeding two FMAs. Plus packing of B with vector loads and conversions. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"
#include "gemm/pack.h"
#include "kernels_avx512.h"

enum { MR = 12, NR = 32 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECLARE(i) __m512 c##i##a, c##i##b;
#define LOAD(i)                                                    \
  c##i##a = accumulate ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps(); \
  c##i##b = accumulate ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
#define STEP(i)                                   \
  {                                               \
    __m512 ai = _mm512_set1_ps(a[i]);             \
    c##i##a = _mm512_fmadd_ps(ai, b0, c##i##a);   \
    c##i##b = _mm512_fmadd_ps(ai, b1, c##i##b);   \
  }
#define STORE(i)                          \
  _mm512_storeu_ps(c + i * ldc, c##i##a); \
  _mm512_storeu_ps(c + i * ldc + 16, c##i##b);

static void ukernel(int64_t kb, const void *pa, const void *pb, float *c, int64_t ldc, int accumulate) {
  const float *a = pa, *b = pb;
  ROWS(DECLARE)
  ROWS(LOAD)
  for (int64_t p = 0; p < kb; p++) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
    ROWS(STEP)
    a += MR;
    b += NR;
  }
  ROWS(STORE)
}

/* 16 elements of a row as fp32, `live` of them real, the rest zero. */
static __m512 load16(const void *src, tpf_dtype_t t, int live) {
  __mmask16 mask = live >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1);
  switch (t) {
  case TPF_FLOAT16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, src));
  case TPF_BFLOAT16:
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, src)), 16));
  default: return _mm512_maskz_loadu_ps(mask, src);
  }
}

/* Rows of a plain B are rows of the panels: vector loads and conversions.
 * A transposed B goes through the portable packer. */
static void pack_b(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                   int64_t cols, int nr) {
  if (b->transposed) {
    tpf_pack_b_f32(dst, b, p0, kb, j0, cols, nr);
    return;
  }
  float *out = dst;
  const size_t esize = b->dtype == TPF_FLOAT32 ? 4 : 2;
  for (int64_t panel = 0; panel < cols; panel += NR, out += kb * NR) {
    int64_t live = cols - panel < NR ? cols - panel : NR;
    int lo = live < 16 ? (int)live : 16, hi = live > 16 ? (int)live - 16 : 0;
    const char *row = (const char *)b->data + ((size_t)(p0 * b->ld) + (size_t)(j0 + panel)) * esize;
    for (int64_t p = 0; p < kb; p++, row += (size_t)b->ld * esize) {
      _mm512_store_ps(out + p * NR, load16(row, b->dtype, lo));
      _mm512_store_ps(out + p * NR + 16, hi ? load16(row + 16 * esize, b->dtype, hi) : _mm512_setzero_ps());
    }
  }
}

const tpf_gemm_kernel_t tpf_kernel_avx512_f32 = {
    "avx512", TPF_PACK_F32, MR, NR, 256, 240, 512, 0, ukernel, tpf_pack_a_f32, pack_b};
