/* The AVX-512 BF16 micro-kernel: a 12 x 32 tile of C in 24 zmm registers;
 * per pair of k steps two loads of B (32 columns x 2 k, interleaved), twelve
 * 32-bit broadcasts of A's pairs, each feeding two vdpbf16ps (two products
 * per lane); and an 8 x 32 one for the rows that 12-row tiles would pad;
 * each also in a variant that packs the panel of B as it reads it. Plus
 * packing of B into pairs with vector permutes. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"
#include "gemm/kernels/avx512/tile.h"
#include "gemm/pack.h"
#include "kernels_avx512_bf16.h"
#include "gemm/kernels/avx512/kernels_avx512.h"

enum { MR = 12, NR = 32, NARROW_MR = 8 };

#define STEP(i)                                                        \
  {                                                                    \
    int32_t pair;                                                      \
    memcpy(&pair, a + 2 * i, sizeof pair);                             \
    __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);                   \
    c##i##a = _mm512_dpbf16_ps(c##i##a, ai, b0);                       \
    c##i##b = _mm512_dpbf16_ps(c##i##b, ai, b1);                       \
  }
/* One pair of k steps: B's 32 columns x 2, and row i's pair into its sums. */
#define PAIR_STEP(mr, ROWS)                                                                   \
  {                                                                                           \
    __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 32); \
    _mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);                                   \
    ROWS(STEP)                                                                                \
    a += 2 * mr;                                                                              \
    b += ldb;                                                                                 \
  }
/* One kernel per tile height; every element's sum is the same dot chain. */
#define DEFINE_UKERNEL(name, mr, ROWS)                                                          \
  static void name(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc, \
                   int accumulate, tpf_prefetch_t next) {                                       \
    const uint16_t *a = pa, *b = pb;                                                            \
    TPF_TILE_RUN(ROWS, mr, (kb + 1) / 2, PAIR_STEP(mr, ROWS))                                       \
  }

/* A row of B that does not start on a cache line (a B that is not 64-byte
 * aligned, or whose rows are not a multiple of 64 bytes long) made each
 * 64-byte load of it span two lines, and the packing kernel read it at a
 * third less speed (16 x 4096 x 4096, one thread, 4 bytes off: 123 -> 156
 * GFLOP/s read this way). So a row is read as its whole lines, those
 * before and after its bytes with masks (nothing outside the row is
 * read), put together with a two-source permute: the 32 16-bit values at
 * src (src 2-byte aligned). */
static inline __attribute__((always_inline)) __m512i load32_u16(const uint16_t *src) {
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

/* One pair of k steps that reads B's two rows where they are (ld apart),
 * interleaves them as pack_b does and leaves them in the packed panel for
 * the tiles after this one. */
#define PAIR_STEP_PACKING(mr, ROWS)                                                         \
  {                                                                                         \
    const __m512i even = load32_u16(b), odd = load32_u16(b + ld);                           \
    __m512bh b0 = (__m512bh)_mm512_permutex2var_epi16(even, lo_idx, odd);                   \
    __m512bh b1 = (__m512bh)_mm512_permutex2var_epi16(even, hi_idx, odd);                   \
    _mm512_storeu_si512(packed, (__m512i)b0);                                               \
    _mm512_storeu_si512(packed + 32, (__m512i)b1);                                          \
    _mm_prefetch((const char *)(b + 4 * ld), _MM_HINT_T0);                                  \
    _mm_prefetch((const char *)(b + 5 * ld), _MM_HINT_T0);                                  \
    ROWS(STEP)                                                                              \
    a += 2 * mr;                                                                            \
    b += 2 * ld;                                                                            \
    packed += 2 * NR;                                                                       \
  }
#define DEFINE_UKERNEL_PACKING(name, mr, ROWS)                                                      \
  static void name(int64_t kb, const void *pa, const void *src, int64_t ld, tpf_dtype_t t, void *dst, \
                   float *c, int64_t ldc, int accumulate, tpf_prefetch_t next) {                    \
    (void)t; /* bf16: the only dtype this kernel takes */                                           \
    const uint16_t *a = pa, *b = src;                                                               \
    uint16_t *packed = dst;                                                                         \
    const __m512i lo_idx = _mm512_loadu_si512(low_index);                                           \
    const __m512i hi_idx = _mm512_add_epi16(lo_idx, _mm512_set1_epi16(16));                         \
    TPF_TILE_RUN(ROWS, mr, kb / 2, PAIR_STEP_PACKING(mr, ROWS))                                          \
  }

/* Where pack_b's permutes take each value of a pair of rows from: column
 * j's pair is (even[j], odd[j]); this index makes the first 16 pairs, the
 * same plus 16 the next 16. */
static const uint16_t low_index[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                       8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};

DEFINE_UKERNEL(ukernel, MR, TPF_ROWS12)
DEFINE_UKERNEL(ukernel_narrow, NARROW_MR, TPF_ROWS8)
DEFINE_UKERNEL_PACKING(ukernel_packing, MR, TPF_ROWS12)
DEFINE_UKERNEL_PACKING(ukernel_narrow_packing, NARROW_MR, TPF_ROWS8)

/* One panel (cols <= NR): rows 2q and 2q+1 of a plain bf16 B, interleaved
 * column by column into the pair layout, with the next pair prefetched
 * (see the fp32 pack_b). The packing kernels pack whole panels of whole
 * pairs; this packs the rest: the last, narrower panel, and panels with
 * an odd k. A transposed B goes through the portable packer. */
void tpf_pack_b_bf16_pairs_avx512(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                                  int64_t cols, int nr) {
  if (b->transposed) {
    tpf_pack_b_bf16(dst, b, p0, kb, j0, cols, nr);
    return;
  }
  const __m512i lo_idx = _mm512_loadu_si512(low_index);
  const __m512i hi_idx = _mm512_add_epi16(lo_idx, _mm512_set1_epi16(16));
  const __mmask32 mask = cols >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << cols) - 1);
  uint16_t *out = dst;
  const int64_t pairs = (kb + 1) / 2;
  const uint16_t *row = (const uint16_t *)b->data + p0 * b->ld + j0;
  for (int64_t q = 0; q < pairs; q++, row += 2 * b->ld, out += 2 * NR) {
    __m512i even = _mm512_maskz_loadu_epi16(mask, row);
    __m512i odd = 2 * q + 1 < kb ? _mm512_maskz_loadu_epi16(mask, row + b->ld) : _mm512_setzero_si512();
    _mm_prefetch((const char *)(row + 2 * b->ld), _MM_HINT_T0); /* the next pair */
    _mm_prefetch((const char *)(row + 3 * b->ld), _MM_HINT_T0);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi16(even, lo_idx, odd));
    _mm512_storeu_si512(out + 32, _mm512_permutex2var_epi16(even, hi_idx, odd));
  }
}

static const tpf_gemm_kernel_t narrow_bf16 = {
    .name = "avx512_bf16-narrow", .format = TPF_PACK_BF16_PAIRS, .mr = NARROW_MR, .nr = NR, .kc = 256, .mc = 480,
    .nc = 512, .flushes_subnormals = 1, .ukernel = ukernel_narrow, .pack_a = tpf_pack_a_bf16_avx512,
    .pack_b = tpf_pack_b_bf16_pairs_avx512, .finish = tpf_finish_avx512, .sum_row = tpf_sum_row_avx512,
    .ukernel_packing = ukernel_narrow_packing};

const tpf_gemm_kernel_t tpf_kernel_avx512_bf16 = {
    .name = "avx512_bf16", .format = TPF_PACK_BF16_PAIRS, .mr = MR, .nr = NR, .kc = 256, .mc = 480, .nc = 512,
    .flushes_subnormals = 1, .ukernel = ukernel, .pack_a = tpf_pack_a_bf16_avx512,
    .pack_b = tpf_pack_b_bf16_pairs_avx512, .finish = tpf_finish_avx512, .sum_row = tpf_sum_row_avx512,
    .narrow = &narrow_bf16, .ukernel_packing = ukernel_packing};
