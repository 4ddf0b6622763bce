/* The AVX2 fp32 micro-kernel: a 6 x 16 tile of C in 12 ymm registers; per
 * k step two loads of B and six broadcasts of A, each feeding two FMAs. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"
#include "gemm/pack.h"
#include "kernels_avx2.h"

enum { MR = 6, NR = 16 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DECLARE(i) __m256 c##i##a, c##i##b;
#define LOAD(i)                                                    \
  c##i##a = accumulate ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps(); \
  c##i##b = accumulate ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
#define STEP(i)                                 \
  {                                             \
    __m256 ai = _mm256_broadcast_ss(a + i);     \
    c##i##a = _mm256_fmadd_ps(ai, b0, c##i##a); \
    c##i##b = _mm256_fmadd_ps(ai, b1, c##i##b); \
  }
#define STORE(i)                          \
  _mm256_storeu_ps(c + i * ldc, c##i##a); \
  _mm256_storeu_ps(c + i * ldc + 8, c##i##b);

static void ukernel(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc,
                    int accumulate, tpf_prefetch_t next) {
  const float *a = pa, *b = pb;
  ROWS(DECLARE)
  ROWS(LOAD)
  const char *at = next.at;
  for (int64_t p = 0; p < kb; p++) {
    if (p < next.steps) {
      _mm_prefetch(at, _MM_HINT_T1);
      _mm_prefetch(at + 64, _MM_HINT_T1);
      _mm_prefetch(at + next.second, _MM_HINT_T1);
      _mm_prefetch(at + next.second + 64, _MM_HINT_T1);
      at += next.stride;
    }
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    ROWS(STEP)
    a += MR;
    b += ldb;
  }
  ROWS(STORE)
}

/* 8 elements of a row as fp32 (all 8 must be readable). */
static __m256 load8(const void *src, tpf_dtype_t t) {
  switch (t) {
  case TPF_FLOAT16: return _mm256_cvtph_ps(_mm_loadu_si128(src));
  case TPF_BFLOAT16:
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(src)), 16));
  default: return _mm256_loadu_ps(src);
  }
}

/* One panel (cols <= NR): a full one of a plain B with vector loads; an
 * edge panel and a transposed B go through the portable packer. */
static void pack_b(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                   int64_t cols, int nr) {
  if (b->transposed || cols < NR) {
    tpf_pack_b_f32(dst, b, p0, kb, j0, cols, nr);
    return;
  }
  float *out = dst;
  const size_t esize = b->dtype == TPF_FLOAT32 ? 4 : 2;
  const char *row = (const char *)b->data + ((size_t)(p0 * b->ld) + (size_t)j0) * esize;
  for (int64_t p = 0; p < kb; p++, row += (size_t)b->ld * esize, out += NR) {
    _mm256_store_ps(out, load8(row, b->dtype));
    _mm256_store_ps(out + 8, load8(row + 8 * esize, b->dtype));
  }
}

/* r[q] becomes column q of the 8 x 8 block whose row i r[i] was. */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) { /* rows interleaved in pairs */
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) { /* columns q and q + 4 of four rows */
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int q = 0; q < 4; q++) { /* then the 128-bit halves */
    r[q] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x20);
    r[q + 4] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x31);
  }
}

/* A plain A's rows, 8 k at a time, laid into the panel by transposing
 * 8 x 8 blocks in registers (panel element (p, i) is A[i][p]); the last
 * k that do not fill 8 and a transposed A go through the portable packer.
 * (The portable packer's strided stores ran at a speed that depended on
 * where the buffers fell: a quarter to a third of the reference example's
 * time.) */
static void pack_a(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                   int64_t kb, int mr) {
  const int64_t full = a->transposed ? 0 : kb / 8 * 8;
  if (full == 0 || mr != MR) {
    tpf_pack_a_f32(dst, a, i0, rows, p0, kb, mr);
    return;
  }
  const size_t esize = a->dtype == TPF_FLOAT32 ? 4 : 2;
  float *out = dst;
  for (int64_t panel = 0; panel < rows; panel += MR, out += kb * MR) {
    int64_t live = rows - panel < MR ? rows - panel : MR;
    const char *first = (const char *)a->data + ((size_t)((i0 + panel) * a->ld) + (size_t)p0) * esize;
    for (int64_t p = 0; p < full; p += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++)
        r[i] = i < live ? load8(first + ((size_t)i * (size_t)a->ld + (size_t)p) * esize, a->dtype) : _mm256_setzero_ps();
      transpose8(r);
      /* Each column is stored 8 wide, its last 2 lanes overwritten by the
       * next column (masked stores are slow on AMD); the panel's last
       * column is stored 6 wide, so nothing is written past the panel. */
      for (int q = 0; q < 8; q++) {
        float *to = out + (p + q) * MR;
        if (p + q + 1 < kb) {
          _mm256_storeu_ps(to, r[q]);
        } else {
          _mm_storeu_ps(to, _mm256_castps256_ps128(r[q]));
          _mm_storel_pi((__m64 *)(to + 4), _mm256_extractf128_ps(r[q], 1));
        }
      }
    }
  }
  if (full < kb) { /* the k tail, panel by panel into the same layout */
    float tail[MR * 8];
    out = dst;
    for (int64_t panel = 0; panel < rows; panel += MR, out += kb * MR) {
      int64_t live = rows - panel < MR ? rows - panel : MR;
      tpf_pack_a_f32(tail, a, i0 + panel, live, p0 + full, kb - full, MR);
      memcpy(out + full * MR, tail, sizeof(float) * (size_t)((kb - full) * MR));
    }
  }
}

const tpf_gemm_kernel_t tpf_kernel_avx2_f32 = {
    .name = "avx2", .format = TPF_PACK_F32, .mr = MR, .nr = NR, .kc = 256, .mc = 120, .nc = 512,
    .ukernel = ukernel, .pack_a = pack_a, .pack_b = pack_b, .finish = tpf_gemm_finish_portable,
    .accumulate = tpf_accumulate_portable};
