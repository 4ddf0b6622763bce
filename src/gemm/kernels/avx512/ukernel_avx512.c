/* The AVX-512 fp32 micro-kernels: a 14 x 32 tile of C in 28 zmm registers;
 * per k step two loads of B (32 columns) and fourteen broadcasts of A, each
 * feeding two FMAs; and an 8 x 32 one for the rows that 14-row tiles would
 * pad; each also in a variant that packs the panel of B (fp32, or fp16
 * or bf16 converted) as it reads it. Plus packing of A and B with vector
 * loads and conversions, the epilogue and the row sums of the
 * reduce-scatter. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "gemm/gemm.h"
#include "gemm/kernels/avx512/tile.h"
#include "gemm/pack.h"
#include "kernels_avx512.h"

enum { MR = 14, NR = 32, NARROW_MR = 8 };

#define STEP(i)                                   \
  {                                               \
    __m512 ai = _mm512_set1_ps(a[i]);             \
    c##i##a = _mm512_fmadd_ps(ai, b0, c##i##a);   \
    c##i##b = _mm512_fmadd_ps(ai, b1, c##i##b);   \
  }
/* One k step: B's 32 columns, and row i's broadcast into its two sums. */
#define K_STEP(mr, ROWS)                                                      \
  {                                                                           \
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);             \
    _mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);                   \
    ROWS(STEP)                                                                \
    a += mr;                                                                  \
    b += ldb;                                                                 \
  }
/* One kernel per tile height; every element's sum is the same FMA chain. */
#define DEFINE_UKERNEL(name, mr, ROWS)                                                          \
  static void name(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc, \
                   int accumulate, tpf_prefetch_t next) {                                       \
    const float *a = pa, *b = pb;                                                               \
    TPF_TILE_RUN(ROWS, mr, kb, K_STEP(mr, ROWS))                                                    \
  }

DEFINE_UKERNEL(ukernel, MR, TPF_ROWS14)
DEFINE_UKERNEL(ukernel_narrow, NARROW_MR, TPF_ROWS8)

/* Lanes `mask` of 16 elements of a row as fp32, the rest zero (fp16 as
 * the instruction converts it: signaling NaNs quietened). */
static inline __attribute__((always_inline)) __m512 load16_lanes(const void *src, tpf_dtype_t t, __mmask16 mask) {
  if (t == TPF_FLOAT32) return _mm512_maskz_loadu_ps(mask, src);
  const __m256i h = _mm256_maskz_loadu_epi16(mask, src);
  if (t == TPF_FLOAT16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 16 elements of a row as fp32, `live` of them real, the rest zero. */
static inline __attribute__((always_inline)) __m512 load16(const void *src, tpf_dtype_t t, int live) {
  return load16_lanes(src, t, live >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << live) - 1));
}

/* One k step that reads B's row where it is (in dtype t, `row` bytes
 * apart) and leaves its 32 columns, as fp32, in the packed panel for the
 * tiles after this one. */
#define K_STEP_PACKING(mr, ROWS)                                              \
  {                                                                           \
    __m512 b0 = load16(b, t, 16), b1 = load16(b + 16 * es, t, 16);            \
    _mm512_storeu_ps(packed, b0);                                             \
    _mm512_storeu_ps(packed + 16, b1);                                        \
    _mm_prefetch(b + 4 * row, _MM_HINT_T0);                                   \
    _mm_prefetch(b + 4 * row + 32 * es - 1, _MM_HINT_T0);                     \
    ROWS(STEP)                                                                \
    a += mr;                                                                  \
    b += row;                                                                 \
    packed += NR;                                                             \
  }
/* The kernels that pack as they go, one body per dtype of B. */
#define DEFINE_UKERNEL_PACKING(name, mr, ROWS)                                                       \
  static inline __attribute__((always_inline)) void name##_from(                                     \
      tpf_dtype_t t, int64_t kb, const void *pa, const void *src, int64_t ld, void *dst, float *c,    \
      int64_t ldc, int accumulate, tpf_prefetch_t next) {                                            \
    const size_t es = t == TPF_FLOAT32 ? 4 : 2, row = (size_t)ld * es;                               \
    const float *a = pa;                                                                             \
    const char *b = src;                                                                             \
    float *packed = dst;                                                                             \
    TPF_TILE_RUN(ROWS, mr, kb, K_STEP_PACKING(mr, ROWS))                                                 \
  }                                                                                                  \
  static void name(int64_t kb, const void *pa, const void *src, int64_t ld, tpf_dtype_t t, void *dst, \
                   float *c, int64_t ldc, int accumulate, tpf_prefetch_t next) {                     \
    if (t == TPF_FLOAT32) name##_from(TPF_FLOAT32, kb, pa, src, ld, dst, c, ldc, accumulate, next);   \
    else if (t == TPF_FLOAT16) name##_from(TPF_FLOAT16, kb, pa, src, ld, dst, c, ldc, accumulate, next); \
    else name##_from(TPF_BFLOAT16, kb, pa, src, ld, dst, c, ldc, accumulate, next);                  \
  }

DEFINE_UKERNEL_PACKING(ukernel_packing, MR, TPF_ROWS14)
DEFINE_UKERNEL_PACKING(ukernel_narrow_packing, NARROW_MR, TPF_ROWS8)

/* A plain B's rows are the panel's rows: vector loads and conversions,
 * with the row two ahead prefetched (the engine's kernels have brought the
 * panel's rows toward L2 already: see tpf_prefetch_t). Whole panels are
 * packed by the packing kernels; this packs the last, narrower one.
 * Inlined once per dtype, as pack_a_rows below. */
static inline __attribute__((always_inline)) void pack_b_rows(float *out, const tpf_gemm_operand_t *b,
                                                              tpf_dtype_t t, int64_t p0, int64_t kb,
                                                              int64_t j0, int64_t cols) {
  const size_t esize = t == TPF_FLOAT32 ? 4 : 2, ld_bytes = (size_t)b->ld * esize;
  const char *row = (const char *)b->data + ((size_t)(p0 * b->ld) + (size_t)j0) * esize;
  const int lo = cols < 16 ? (int)cols : 16, hi = cols > 16 ? (int)cols - 16 : 0;
  for (int64_t p = 0; p < kb; p++, row += ld_bytes, out += NR) {
    _mm_prefetch(row + 2 * ld_bytes, _MM_HINT_T0);
    _mm_prefetch(row + 2 * ld_bytes + 64, _MM_HINT_T0);
    _mm512_store_ps(out, load16(row, t, lo));
    _mm512_store_ps(out + 16, hi ? load16(row + 16 * esize, t, hi) : _mm512_setzero_ps());
  }
}

/* One panel (cols <= NR); a transposed B goes through the portable packer. */
static void pack_b(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                   int64_t cols, int nr) {
  if (b->transposed) tpf_pack_b_f32(dst, b, p0, kb, j0, cols, nr);
  else if (b->dtype == TPF_FLOAT32) pack_b_rows(dst, b, TPF_FLOAT32, p0, kb, j0, cols);
  else if (b->dtype == TPF_FLOAT16) pack_b_rows(dst, b, TPF_FLOAT16, p0, kb, j0, cols);
  else pack_b_rows(dst, b, TPF_BFLOAT16, p0, kb, j0, cols);
}

/* tpf_pack_b_rows_fn: each row of an fp32 B read along its run of panels *
 * 32 elements, the run FETCH_ROWS rows on fetched toward L2. The engine
 * packs strips only of an fp32 B (gemm.c, packs_strips); a 16-bit one
 * would go a panel at a time. */
static void pack_strip(void *dst, int64_t panel_elems, const tpf_gemm_operand_t *b, int64_t p0, int64_t rows,
                       int64_t j0, int64_t panels) {
  enum { FETCH_ROWS = 2 };
  float *out = dst;
  if (b->dtype != TPF_FLOAT32) {
    for (int64_t q = 0; q < panels; q++) pack_b(out + q * panel_elems, b, p0, rows, j0 + q * NR, NR, NR);
    return;
  }
  const size_t ldb = (size_t)b->ld, floats = (size_t)(panels * NR);
  const float *row = (const float *)b->data + (size_t)p0 * ldb + (size_t)j0;
  for (int64_t p = 0; p < rows; p++, row += ldb, out += NR) {
    if (p + FETCH_ROWS < rows)
      for (size_t q = 0; q < floats; q += 16) _mm_prefetch((const char *)(row + FETCH_ROWS * ldb + q), _MM_HINT_T1);
    float *o = out;
    for (int64_t q = 0; q < panels; q++, o += panel_elems) {
      _mm512_storeu_ps(o, _mm512_loadu_ps(row + q * NR));
      _mm512_storeu_ps(o + 16, _mm512_loadu_ps(row + q * NR + 16));
    }
  }
}

/* r[i] becomes column i of the 16 x 16 block whose row i r[i] was. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) { /* pairs of rows interleaved */
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) { /* then pairs of pairs */
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; i++) { /* then 128-bit lanes */
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

/* Rows of a plain A of dtype t, converted 16 k at a time, and laid into
 * the panel by transposing 16 x 16 blocks in registers (mr <= 16): panel
 * element (p, i) is A[i][p]. Inlined once per dtype, so that the loads
 * carry no dtype switch and the transpose stays in registers. */
static inline __attribute__((always_inline)) void pack_a_rows(float *out, const tpf_gemm_operand_t *a,
                                                              tpf_dtype_t t, int64_t i0, int64_t rows,
                                                              int64_t p0, int64_t kb, int mr) {
  const size_t esize = t == TPF_FLOAT32 ? 4 : 2;
  const __mmask16 lanes = (__mmask16)((1u << mr) - 1);
  for (int64_t panel = 0; panel < rows; panel += mr, out += kb * mr) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    const char *first = (const char *)a->data + ((size_t)((i0 + panel) * a->ld) + (size_t)p0) * esize;
    for (int64_t p = 0; p < kb; p += 16) {
      int n = kb - p < 16 ? (int)(kb - p) : 16;
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        r[i] = i < live ? load16(first + ((size_t)i * (size_t)a->ld + (size_t)p) * esize, t, n) : _mm512_setzero_ps();
      transpose16(r);
#pragma GCC unroll 16
      for (int q = 0; q < 16; q++)
        if (q < n) _mm512_mask_storeu_ps(out + (p + q) * mr, lanes, r[q]);
    }
  }
}

static void pack_a(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                   int64_t kb, int mr) {
  if (a->transposed) tpf_pack_a_f32(dst, a, i0, rows, p0, kb, mr);
  else if (a->dtype == TPF_FLOAT32) pack_a_rows(dst, a, TPF_FLOAT32, i0, rows, p0, kb, mr);
  else if (a->dtype == TPF_FLOAT16) pack_a_rows(dst, a, TPF_FLOAT16, i0, rows, p0, kb, mr);
  else pack_a_rows(dst, a, TPF_BFLOAT16, i0, rows, p0, kb, mr);
}

void tpf_pack_a_bf16_avx512(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows,
                            int64_t p0, int64_t kb, int mr) {
  if (a->transposed || a->dtype != TPF_BFLOAT16) {
    tpf_pack_a_bf16(dst, a, i0, rows, p0, kb, mr);
    return;
  }
  /* Pairs of k as 32-bit units: the same transpose as pack_a, 16 pairs
   * (32 values of k) at a time; an odd k's last pair gets a zero high half
   * from the masked load. */
  uint32_t *out = dst;
  const int64_t pairs = (kb + 1) / 2;
  const __mmask16 lanes = (__mmask16)((1u << mr) - 1);
  for (int64_t panel = 0; panel < rows; panel += mr, out += pairs * mr) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    const uint16_t *first = (const uint16_t *)a->data + (i0 + panel) * a->ld + p0;
    for (int64_t p = 0; p < kb; p += 32) {
      int values = kb - p < 32 ? (int)(kb - p) : 32, n = (values + 1) / 2;
      __mmask32 mask = values == 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << values) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        r[i] = i < live ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(mask, first + i * a->ld + p))
                        : _mm512_setzero_ps();
      transpose16(r);
#pragma GCC unroll 16
      for (int t = 0; t < 16; t++)
        if (t < n) _mm512_mask_storeu_ps((float *)(out + (p / 2 + t) * mr), lanes, r[t]);
    }
  }
}

/* fp32 -> bf16 bits, rounding to nearest even; NaN made quiet. */
static __m256i to_bf16(__m512 v) {
  __m512i bits = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000));
  rounded = _mm512_mask_mov_epi32(rounded, nan, quiet);
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded, 16));
}

/* Elements to store before dst is aligned for streaming stores of es-byte
 * elements (a whole vector of 16), or 16 when it never will be. */
static int64_t to_alignment(const void *dst, size_t es) {
  size_t bytes = 16 * es;
  uintptr_t addr = (uintptr_t)dst;
  if (addr % es != 0) return 16;
  return (int64_t)(((bytes - addr % bytes) % bytes) / es);
}

/* The epilogue of one vector of sums v: divide, add the bias, round into
 * out (lanes m). */
static inline __attribute__((always_inline)) void finish_value(__m512 v, const float *bias, int divide,
                                                               __m512 divisor, char *out, tpf_dtype_t out_dtype,
                                                               __mmask16 m, int streamed) {
  if (divide) v = _mm512_div_ps(v, divisor);
  if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
  if (out_dtype == TPF_FLOAT32) {
    if (streamed) _mm512_stream_ps((float *)out, v);
    else _mm512_mask_storeu_ps((float *)out, m, v);
    return;
  }
  __m256i h = out_dtype == TPF_FLOAT16 ? _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) : to_bf16(v);
  if (streamed) _mm256_stream_si256((__m256i *)out, h);
  else _mm256_mask_storeu_epi16(out, m, h);
}

/* One vector of the epilogue: out[0, len) (mask m) from src, add and bias
 * at the same offsets. */
static inline __attribute__((always_inline)) void finish_vector(const float *src, const float *add,
                                                                const float *bias, int divide, __m512 divisor,
                                                                char *out, tpf_dtype_t out_dtype, __mmask16 m,
                                                                int streamed) {
  __m512 v = _mm512_maskz_loadu_ps(m, src);
  if (add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, add), v);
  finish_value(v, bias, divide, divisor, out, out_dtype, m, streamed);
}

/* Whole vectors of 16 (cols a multiple of 16); inlined with the flags
 * known where it can be, so that the loop is a few instructions per
 * vector: an owner's sum reads lines its peer wrote, each a trip to the
 * other core, and a longer loop keeps fewer of those trips in flight. */
static inline __attribute__((always_inline)) void finish_vectors(const float *src, const float *add,
                                                                 const float *bias, int divide, __m512 divisor,
                                                                 char *out_row, tpf_dtype_t out_dtype, size_t es,
                                                                 int64_t cols, int streamed) {
  for (int64_t j = 0; j < cols; j += 16)
    finish_vector(src + j, add ? add + j : NULL, bias ? bias + j : NULL, divide, divisor, out_row + (size_t)j * es,
                  out_dtype, (__mmask16)0xffff, streamed);
}

void tpf_finish_avx512(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc, int64_t i0,
                       int64_t rows, int64_t j0, int64_t cols) {
  /* The fields in locals: the stores to out could alias *epi, and the
   * compiler would load every field again for every vector (with the
   * stream test's divisions per vector as well, the sum of two 16 MiB
   * blocks took twice as long). */
  const float *const addend = epi->addend, *const bias = epi->bias ? epi->bias + j0 : NULL;
  const int64_t addend_ld = epi->addend_ld, out_ld = epi->out_ld;
  const tpf_dtype_t out_dtype = epi->out_dtype;
  const size_t es = tpf_dtype_size(out_dtype);
  const int divide = epi->divisor != 1.0f, stream = epi->stream;
  const int plain = out_dtype == TPF_FLOAT32 && !divide && !bias; /* (a sum, or a product's copy) */
  const __m512 divisor = _mm512_set1_ps(epi->divisor);
  char *const out = epi->out;
  for (int64_t i = 0; i < rows; i++) {
    const float *src = acc + i * ldc;
    const float *add = addend ? addend + (i0 + i) * addend_ld + j0 : NULL;
    char *out_row = out + (size_t)((i0 + i) * out_ld + j0) * es;
    /* Streaming: a short first vector brings the stores to alignment,
     * and every whole vector after it is aligned. */
    int64_t head = stream ? to_alignment(out_row, es) : 0;
    const int streamed = stream && head < 16; /* (16: never aligned) */
    if (!streamed || head >= cols) head = 0;
    if (head > 0)
      finish_vector(src, add, bias, divide, divisor, out_row, out_dtype, (__mmask16)((1u << head) - 1), 0);
    const int64_t body = (cols - head) / 16 * 16, j = head;
    const float *s = src + j, *a = add ? add + j : NULL, *b = bias ? bias + j : NULL;
    char *o = out_row + (size_t)j * es;
    if (plain && !streamed && a) finish_vectors(s, a, NULL, 0, divisor, o, TPF_FLOAT32, 4, body, 0);
    else if (plain && !streamed) finish_vectors(s, NULL, NULL, 0, divisor, o, TPF_FLOAT32, 4, body, 0);
    else finish_vectors(s, a, b, divide, divisor, o, out_dtype, es, body, streamed);
    const int64_t done = head + body;
    if (done < cols)
      finish_vector(src + done, add ? add + done : NULL, bias ? bias + done : NULL, divide, divisor,
                    out_row + (size_t)done * es, out_dtype, (__mmask16)((1u << (cols - done)) - 1), 0);
  }
}

/* The signaling NaNs widened as they are (the instruction quietens them),
 * as tpf_f16_to_f32 does: lanes `signaling` of v from h. */
static __attribute__((noinline)) __m512 keep_signaling(__m512 v, __m256i h, __mmask16 signaling) {
  const __m512i wide = _mm512_cvtepu16_epi32(h);
  __m512i kept = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(wide, _mm512_set1_epi32(0x8000)), 16),
                                 _mm512_or_si512(_mm512_set1_epi32(0x7f800000),
                                                 _mm512_slli_epi32(_mm512_and_si512(wide, _mm512_set1_epi32(0x3ff)), 13)));
  return _mm512_mask_mov_ps(v, signaling, _mm512_castsi512_ps(kept));
}

/* fp16 -> fp32, exactly. A signaling NaN (exponent all ones, quiet bit
 * clear, payload not zero: 0x7c01-0x7dff without the sign) is rare, so it
 * is found by one comparison and mended out of line. */
static inline __attribute__((always_inline)) __m512 half_to_float(__m256i h) {
  const __m512 v = _mm512_cvtph_ps(h);
  const __m256i magnitude = _mm256_and_si256(h, _mm256_set1_epi16(0x7fff));
  const __mmask16 signaling =
      _mm256_cmplt_epu16_mask(_mm256_sub_epi16(magnitude, _mm256_set1_epi16(0x7c01)), _mm256_set1_epi16(0x1ff));
  return __builtin_expect(signaling == 0, 1) ? v : keep_signaling(v, h, signaling);
}

/* Lanes m of a source's values at p, exactly in fp32. */
static inline __attribute__((always_inline)) __m512 load_source(const void *p, tpf_dtype_t t, __mmask16 m) {
  return t == TPF_FLOAT16 ? half_to_float(_mm256_maskz_loadu_epi16(m, p)) : load16_lanes(p, t, m);
}

/* The sum of the sources' columns [j, j + 16) (lanes m), in
 * tpf_sum_row_fn's order. */
static inline __attribute__((always_inline)) __m512 sum_vector(const void *const *src, int sources, tpf_dtype_t t,
                                                               int64_t j, __mmask16 m) {
  const size_t es = tpf_dtype_size(t);
  const int by_addend = t == TPF_FLOAT32 && sources >= 2;
  __m512 v = load_source((const char *)src[0] + (size_t)j * es, t, m);
  for (int q = 1; q < sources - by_addend; q++)
    v = _mm512_add_ps(v, load_source((const char *)src[q] + (size_t)j * es, t, m));
  if (by_addend) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, (const float *)src[sources - 1] + j), v);
  return v;
}

/* Fetches the sources' bytes 2 KiB past `offset`: the sums read whole rows
 * from memory or from another core's cache, and a loop of several
 * instructions per vector keeps too few of those reads in flight on its
 * own. (Addresses past a row's end are only prefetched, never read.) */
static inline __attribute__((always_inline)) void prefetch_sources(const void *const *src, int sources,
                                                                   size_t offset) {
  for (int q = 0; q < sources; q++) _mm_prefetch((const char *)((uintptr_t)src[q] + offset + 2048), _MM_HINT_T0);
}

/* Whole vectors of columns [j, end): summed and finished in one pass
 * (inlined with the dtypes, and two sources, known where they can be). */
static inline __attribute__((always_inline)) void sum_vectors(const void *const *src, int sources, tpf_dtype_t t,
                                                              int64_t j, int64_t end, const float *bias, int divide,
                                                              __m512 divisor, char *out_row, tpf_dtype_t out_dtype,
                                                              int streamed) {
  const size_t es = tpf_dtype_size(t), out_es = tpf_dtype_size(out_dtype);
  for (; j < end; j += 16) {
    prefetch_sources(src, sources, (size_t)j * es);
    finish_value(sum_vector(src, sources, t, j, (__mmask16)0xffff), bias ? bias + j : NULL, divide, divisor,
                 out_row + (size_t)j * out_es, out_dtype, (__mmask16)0xffff, streamed);
  }
}

void tpf_sum_row_avx512(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                        int64_t i, int64_t j0, int64_t cols) {
  const tpf_dtype_t out_dtype = epi->out_dtype;
  const size_t es = tpf_dtype_size(out_dtype);
  const float *const bias = epi->bias; /* (column 0, as out_row) */
  const int divide = epi->divisor != 1.0f;
  const __m512 divisor = _mm512_set1_ps(epi->divisor);
  char *const out_row = (char *)epi->out + (size_t)(i * epi->out_ld) * es;
  /* Streaming: a short first vector brings the stores to alignment. */
  int64_t head = epi->stream ? to_alignment(out_row + (size_t)j0 * es, es) : 0;
  const int streamed = epi->stream && head < 16; /* (16: never aligned) */
  if (!streamed || head >= cols) head = 0;
  if (head > 0) {
    const __mmask16 m = (__mmask16)((1u << head) - 1);
    finish_value(sum_vector(src, sources, t, j0, m), bias ? bias + j0 : NULL, divide, divisor,
                 out_row + (size_t)j0 * es, out_dtype, m, 0);
  }
  const int64_t j = j0 + head, end = j + (cols - head) / 16 * 16;
  if (t == TPF_BFLOAT16 && out_dtype == TPF_BFLOAT16 && sources == 2)
    sum_vectors(src, 2, TPF_BFLOAT16, j, end, bias, divide, divisor, out_row, TPF_BFLOAT16, streamed);
  else if (t == TPF_BFLOAT16 && out_dtype == TPF_BFLOAT16)
    sum_vectors(src, sources, TPF_BFLOAT16, j, end, bias, divide, divisor, out_row, TPF_BFLOAT16, streamed);
  else if (t == TPF_FLOAT16 && out_dtype == TPF_FLOAT16 && sources == 2)
    sum_vectors(src, 2, TPF_FLOAT16, j, end, bias, divide, divisor, out_row, TPF_FLOAT16, streamed);
  else if (t == TPF_FLOAT16 && out_dtype == TPF_FLOAT16)
    sum_vectors(src, sources, TPF_FLOAT16, j, end, bias, divide, divisor, out_row, TPF_FLOAT16, streamed);
  else if (t == TPF_FLOAT32)
    sum_vectors(src, sources, TPF_FLOAT32, j, end, bias, divide, divisor, out_row, out_dtype, streamed);
  else
    sum_vectors(src, sources, t, j, end, bias, divide, divisor, out_row, out_dtype, streamed);
  if (end < j0 + cols) {
    const __mmask16 m = (__mmask16)((1u << (j0 + cols - end)) - 1);
    finish_value(sum_vector(src, sources, t, end, m), bias ? bias + end : NULL, divide, divisor,
                 out_row + (size_t)end * es, out_dtype, m, 0);
  }
}

static const tpf_gemm_kernel_t narrow_f32 = {
    .name = "avx512-narrow", .format = TPF_PACK_F32, .mr = NARROW_MR, .nr = NR, .kc = 256, .mc = 336, .nc = 256,
    .ukernel = ukernel_narrow, .pack_a = pack_a, .pack_b = pack_b, .finish = tpf_finish_avx512,
    .sum_row = tpf_sum_row_avx512, .ukernel_packing = ukernel_narrow_packing, .pack_b_rows = pack_strip};

const tpf_gemm_kernel_t tpf_kernel_avx512_f32 = {
    .name = "avx512", .format = TPF_PACK_F32, .mr = MR, .nr = NR, .kc = 256, .mc = 336, .nc = 256,
    .ukernel = ukernel, .pack_a = pack_a, .pack_b = pack_b, .finish = tpf_finish_avx512,
    .sum_row = tpf_sum_row_avx512, .narrow = &narrow_f32, .ukernel_packing = ukernel_packing, .pack_b_rows = pack_strip};
