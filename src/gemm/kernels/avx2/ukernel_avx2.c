/* The AVX2 fp32 micro-kernels: a 6 x 16 tile of C in 12 ymm registers; per
 * k step two loads of B and six broadcasts of A, each feeding two FMAs;
 * and a 4 x 16 one for the rows that 6-row tiles would pad.
 * Plus packing with vector loads (B a chunk of panels at a time, along its
 * rows: fp32, or fp16 or bf16 converted), the epilogue, the row sums of
 * the reduce-scatter and its hand-over copy, 8 lanes at a time. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "gemm/gemm.h"
#include "gemm/pack.h"
#include "kernels_avx2.h"

enum { MR = 6, NR = 16, NARROW_MR = 4 };

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ROWS4(X) X(0) X(1) X(2) X(3)
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
/* Row i of the tile below (the engine's next tile, if any), toward L1. */
#define PREFETCH_BELOW(i) _mm_prefetch((const char *)(c + (i + tile_rows) * ldc), _MM_HINT_T0);
#define STORE(i)                          \
  _mm256_storeu_ps(c + i * ldc, c##i##a); \
  _mm256_storeu_ps(c + i * ldc + 8, c##i##b);

/* 8 elements of a row as fp32 (all 8 must be readable). */
static inline __attribute__((always_inline)) __m256 load8(const void *src, tpf_dtype_t t) {
  switch (t) {
  case TPF_FLOAT16: return _mm256_cvtph_ps(_mm_loadu_si128(src));
  case TPF_BFLOAT16:
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(src)), 16));
  default: return _mm256_loadu_ps(src);
  }
}

/* The engine's lines for one k step (see tpf_prefetch_t), toward L2. */
#define PREFETCH_NEXT                                    \
  if (p < next.steps) {                                  \
    _mm_prefetch(at, _MM_HINT_T1);                       \
    _mm_prefetch(at + 64, _MM_HINT_T1);                  \
    _mm_prefetch(at + next.second, _MM_HINT_T1);         \
    _mm_prefetch(at + next.second + 64, _MM_HINT_T1);    \
    at += next.stride;                                   \
  }

/* One kernel per tile height (6 rows, and 4 for the rows that 6-row tiles
 * would pad); every element's sum is the same FMA chain. */
#define DEFINE_UKERNEL(name, mr, ROWS_)                                                           \
  static void name(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc, \
                   int accumulate, tpf_prefetch_t next) {                                         \
    const float *a = pa, *b = pb;                                                                 \
    const int64_t tile_rows = (mr);                                                               \
    ROWS_(DECLARE) /* the tile's sums in registers, from C or zero; the tile below fetched */     \
    ROWS_(LOAD)                                                                                   \
    if (accumulate) { ROWS_(PREFETCH_BELOW) }                                                     \
    const char *at = next.at;                                                                     \
    for (int64_t p = 0; p < kb; p++) {                                                            \
      PREFETCH_NEXT                                                                               \
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);                                \
      ROWS_(STEP)                                                                                 \
      a += (mr);                                                                                  \
      b += ldb;                                                                                   \
    }                                                                                             \
    ROWS_(STORE)                                                                                  \
  }

DEFINE_UKERNEL(ukernel, MR, ROWS)
DEFINE_UKERNEL(ukernel_narrow, NARROW_MR, ROWS4)

/* tpf_pack_b_rows_fn for dtype t: each row of B read along its run of
 * panels * 16 elements, the run FETCH_ROWS rows on fetched toward L2 as it
 * goes: 64-byte pieces a page apart kept the prefetchers from B's rows. */
static inline __attribute__((always_inline)) void pack_b_rows_from(tpf_dtype_t t, float *dst, int64_t panel_elems,
                                                                   const tpf_gemm_operand_t *b, int64_t p0,
                                                                   int64_t rows, int64_t j0, int64_t panels) {
  enum { FETCH_ROWS = 2 };
  const size_t es = t == TPF_FLOAT32 ? 4 : 2, ldb = (size_t)b->ld * es, bytes = (size_t)(panels * NR) * es;
  const char *row = (const char *)b->data + ((size_t)(p0 * b->ld) + (size_t)j0) * es;
  for (int64_t p = 0; p < rows; p++, row += ldb, dst += NR) {
    if (p + FETCH_ROWS < rows)
      for (size_t q = 0; q < bytes; q += 64) _mm_prefetch(row + FETCH_ROWS * ldb + q, _MM_HINT_T1);
    float *o = dst;
    for (int64_t q = 0; q < panels; q++, o += panel_elems) {
      _mm256_storeu_ps(o, load8(row + (size_t)(q * NR) * es, t));
      _mm256_storeu_ps(o + 8, load8(row + (size_t)(q * NR + 8) * es, t));
    }
  }
}

static void pack_b_rows(void *dst, int64_t panel_elems, const tpf_gemm_operand_t *b, int64_t p0, int64_t rows,
                        int64_t j0, int64_t panels) {
  if (b->dtype == TPF_FLOAT32) pack_b_rows_from(TPF_FLOAT32, dst, panel_elems, b, p0, rows, j0, panels);
  else if (b->dtype == TPF_FLOAT16) pack_b_rows_from(TPF_FLOAT16, dst, panel_elems, b, p0, rows, j0, panels);
  else pack_b_rows_from(TPF_BFLOAT16, dst, panel_elems, b, p0, rows, j0, panels);
}

/* r[q] becomes column q of the 8 x 8 block whose row i r[i] was. */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 2) { /* rows interleaved in pairs */
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 4) { /* columns q and q + 4 of four rows */
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
#pragma GCC unroll 8
  for (int q = 0; q < 4; q++) { /* then the 128-bit halves */
    r[q] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x20);
    r[q + 4] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x31);
  }
}

/* The whole 8s of k of the panels (mr rows) of rows [i0, i0 + rows) of a
 * plain A of dtype t; inlined once per dtype and tile height (as the
 * AVX-512 packer), so that the loads carry no dtype switch and the 8 x 8
 * blocks stay in registers. */
static inline __attribute__((always_inline)) void pack_a_rows(float *out, const tpf_gemm_operand_t *a,
                                                              tpf_dtype_t t, int mr, int64_t i0, int64_t rows,
                                                              int64_t p0, int64_t kb, int64_t full) {
  const size_t esize = t == TPF_FLOAT32 ? 4 : 2, row_bytes = (size_t)a->ld * esize;
  for (int64_t panel = 0; panel < rows; panel += mr, out += kb * mr) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    const char *first = (const char *)a->data + ((size_t)((i0 + panel) * a->ld) + (size_t)p0) * esize;
    for (int64_t p = 0; p < full; p += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++)
        r[i] = i < live ? load8(first + (size_t)i * row_bytes + (size_t)p * esize, t) : _mm256_setzero_ps();
      transpose8(r);
      /* 6-row panels: each column is stored 8 wide, its last 2 lanes
       * overwritten by the next column (masked stores are slow on AMD);
       * the panel's last column is stored 6 wide, so nothing is written
       * past the panel. 4-row panels: 4 wide. */
#pragma GCC unroll 8
      for (int q = 0; q < 8; q++) {
        float *to = out + (p + q) * mr;
        if (mr == MR && p + q + 1 < kb) {
          _mm256_storeu_ps(to, r[q]);
        } else {
          _mm_storeu_ps(to, _mm256_castps256_ps128(r[q]));
          if (mr == MR) _mm_storel_pi((__m64 *)(to + 4), _mm256_extractf128_ps(r[q], 1));
        }
      }
    }
  }
}

static inline __attribute__((always_inline)) void pack_a_of(float *dst, const tpf_gemm_operand_t *a, int mr,
                                                            int64_t i0, int64_t rows, int64_t p0, int64_t kb,
                                                            int64_t full) {
  if (a->dtype == TPF_FLOAT32) pack_a_rows(dst, a, TPF_FLOAT32, mr, i0, rows, p0, kb, full);
  else if (a->dtype == TPF_FLOAT16) pack_a_rows(dst, a, TPF_FLOAT16, mr, i0, rows, p0, kb, full);
  else pack_a_rows(dst, a, TPF_BFLOAT16, mr, i0, rows, p0, kb, full);
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
  if (full == 0 || (mr != MR && mr != NARROW_MR)) {
    tpf_pack_a_f32(dst, a, i0, rows, p0, kb, mr);
    return;
  }
  if (mr == MR) pack_a_of(dst, a, MR, i0, rows, p0, kb, full);
  else pack_a_of(dst, a, NARROW_MR, i0, rows, p0, kb, full);
  if (full < kb) { /* the k tail, panel by panel into the same layout */
    float tail[MR * 8], *out = dst;
    for (int64_t panel = 0; panel < rows; panel += mr, out += kb * mr) {
      int64_t live = rows - panel < mr ? rows - panel : mr;
      tpf_pack_a_f32(tail, a, i0 + panel, live, p0 + full, kb - full, mr);
      memcpy(out + full * mr, tail, sizeof(float) * (size_t)((kb - full) * mr));
    }
  }
}

/* fp32 -> bf16 bits, rounding to nearest even; NaN made quiet (as
 * tpf_f32_to_bf16). */
static __m128i to_bf16(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  const __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
  rounded = _mm256_srli_epi32(_mm256_blendv_epi8(rounded, quiet, nan), 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(rounded), _mm256_extracti128_si256(rounded, 1));
}

/* The output goes out in blocks of 32 bytes: 8 fp32 values, or 16 fp16
 * or bf16 values (two vectors of sums) in one store, so that streamed
 * stores fill whole lines (16-byte ones, between the loads of the sums,
 * measured slower: docs/performance.md, "Sums in one pass"). */
static int64_t block_elements(size_t es) { return (int64_t)(32 / es); }

/* Elements before dst is aligned for streaming stores of blocks, or -1
 * when it never will be. */
static int64_t to_alignment(const void *dst, size_t es) {
  const uintptr_t addr = (uintptr_t)dst;
  if (addr % es != 0) return -1;
  return (int64_t)(((32 - addr % 32) % 32) / es);
}

/* Divides by the divisor and adds the bias (8 values at bias). */
static inline __attribute__((always_inline)) __m256 divide_add_bias(__m256 v, const float *bias, float divisor) {
  if (divisor != 1.0f) v = _mm256_div_ps(v, _mm256_set1_ps(divisor));
  if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  return v;
}

static inline __attribute__((always_inline)) __m128i round_half(__m256 v, tpf_dtype_t out_dtype) {
  return out_dtype == TPF_FLOAT16 ? _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) : to_bf16(v);
}

/* Stores a block: v (fp32), or lo and hi rounded (fp16, bf16);
 * `streamed`: out is aligned for streaming stores. */
static inline __attribute__((always_inline)) void store_block(char *out, __m256 lo, __m256 hi, tpf_dtype_t out_dtype,
                                                              int streamed) {
  if (out_dtype == TPF_FLOAT32) {
    if (streamed) _mm256_stream_ps((float *)out, lo);
    else _mm256_storeu_ps((float *)out, lo);
    return;
  }
  const __m256i h = _mm256_set_m128i(round_half(hi, out_dtype), round_half(lo, out_dtype));
  if (streamed) _mm256_stream_si256((__m256i *)out, h);
  else _mm256_storeu_si256((__m256i *)out, h);
}

/* 8 values of the epilogue before rounding, at src, add and bias. */
static inline __attribute__((always_inline)) __m256 finish_value(const float *src, const float *add,
                                                                 const float *bias, float divisor) {
  __m256 v = _mm256_loadu_ps(src);
  if (add) v = _mm256_add_ps(_mm256_loadu_ps(add), v);
  return divide_add_bias(v, bias, divisor);
}

/* One row's whole blocks (cols a multiple of block_elements). The fields
 * as in tpf_finish_avx2. Inlined with the flags known where it can be, so
 * that the loop is a few instructions per vector: an owner's sum reads
 * lines its peer wrote, each a trip to the other core, and a longer loop
 * keeps fewer of those trips in flight. */
static inline __attribute__((always_inline)) void finish_vectors(const float *src, const float *add,
                                                                 const float *bias, float divisor, char *out_row,
                                                                 tpf_dtype_t out_dtype, int64_t cols, int streamed) {
  const size_t es = tpf_dtype_size(out_dtype);
  const int64_t step = block_elements(es); /* (out of the loop: a division) */
  for (int64_t j = 0; j < cols; j += step) {
    const __m256 lo = finish_value(src + j, add ? add + j : NULL, bias ? bias + j : NULL, divisor);
    const __m256 hi = es == 4 ? lo : finish_value(src + j + 8, add ? add + j + 8 : NULL, bias ? bias + j + 8 : NULL,
                                                  divisor);
    store_block(out_row + (size_t)j * es, lo, hi, out_dtype, streamed);
  }
}

/* Each row in up to three parts: the elements before the output is aligned
 * for streaming (if streaming) and those after the last whole block go
 * through the portable epilogue (the same operations, one element at a
 * time), the whole blocks between them through finish_vectors. */
void tpf_finish_avx2(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc, int64_t i0, int64_t rows,
                     int64_t j0, int64_t cols) {
  /* The fields in locals: stores to out could alias *epi (see tpf_finish_avx512). */
  const float *const addend = epi->addend, *const bias = epi->bias ? epi->bias + j0 : NULL;
  const int64_t addend_ld = epi->addend_ld, out_ld = epi->out_ld;
  const tpf_dtype_t out_dtype = epi->out_dtype;
  const size_t es = tpf_dtype_size(out_dtype);
  const float divisor = epi->divisor;
  const int stream = epi->stream;
  const int plain = out_dtype == TPF_FLOAT32 && divisor == 1.0f && !bias; /* (a sum, or a product's copy) */
  char *const out = epi->out;
  for (int64_t i = 0; i < rows; i++) {
    const float *src = acc + i * ldc;
    char *out_row = out + (size_t)((i0 + i) * out_ld + j0) * es;
    int64_t head = stream ? to_alignment(out_row, es) : 0;
    const int streamed = stream && head >= 0;
    if (head < 0) head = 0;
    if (head > cols) head = cols;
    const int64_t body = (cols - head) / block_elements(es) * block_elements(es);
    if (head > 0) tpf_gemm_finish_portable(epi, src, ldc, i0 + i, 1, j0, head);
    const float *add = addend ? addend + (i0 + i) * addend_ld + j0 + head : NULL;
    char *o = out_row + (size_t)head * es;
    if (plain && !streamed && add) finish_vectors(src + head, add, NULL, 1.0f, o, TPF_FLOAT32, body, 0);
    else if (plain && !streamed) finish_vectors(src + head, NULL, NULL, 1.0f, o, TPF_FLOAT32, body, 0);
    else finish_vectors(src + head, add, bias ? bias + head : NULL, divisor, o, out_dtype, body, streamed);
    if (head + body < cols) tpf_gemm_finish_portable(epi, src + head + body, ldc, i0 + i, 1, j0 + head + body,
                                                     cols - head - body);
  }
}

/* The signaling NaNs widened as they are (the instruction quietens them),
 * as tpf_f16_to_f32 does: lanes `signaling` (all ones) of v from h. */
static __attribute__((noinline)) __m256 keep_signaling(__m256 v, __m128i h, __m256i signaling) {
  const __m256i wide = _mm256_cvtepu16_epi32(h);
  const __m256i kept = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x8000)), 16),
                                       _mm256_or_si256(_mm256_set1_epi32(0x7f800000),
                                                       _mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x3ff)), 13)));
  return _mm256_blendv_ps(v, _mm256_castsi256_ps(kept), _mm256_castsi256_ps(signaling));
}

/* fp16 -> fp32, exactly, 16 values: lo from the first 8, hi from the
 * last. A signaling NaN (exponent all ones, quiet bit clear, payload not
 * zero: 0x7c01-0x7dff without the sign) is rare, so it is found by two
 * comparisons per 16 and mended out of line. */
static inline __attribute__((always_inline)) void halves_to_float(__m256i h, __m256 *lo, __m256 *hi) {
  const __m128i h_lo = _mm256_castsi256_si128(h), h_hi = _mm256_extracti128_si256(h, 1);
  *lo = _mm256_cvtph_ps(h_lo), *hi = _mm256_cvtph_ps(h_hi);
  const __m256i magnitude = _mm256_and_si256(h, _mm256_set1_epi16(0x7fff));
  const __m256i signaling = _mm256_and_si256(_mm256_cmpgt_epi16(magnitude, _mm256_set1_epi16(0x7c00)),
                                             _mm256_cmpgt_epi16(_mm256_set1_epi16(0x7e00), magnitude));
  if (__builtin_expect(_mm256_testz_si256(signaling, signaling), 1)) return;
  *lo = keep_signaling(*lo, h_lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(signaling)));
  *hi = keep_signaling(*hi, h_hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(signaling, 1)));
}

/* 16 values of a source at p, exactly in fp32: lo the first 8, hi the
 * last. */
static inline __attribute__((always_inline)) void load_source(const void *p, tpf_dtype_t t, __m256 *lo, __m256 *hi) {
  if (t == TPF_FLOAT16) {
    halves_to_float(_mm256_loadu_si256(p), lo, hi);
    return;
  }
  *lo = load8(p, t), *hi = load8((const char *)p + 8 * tpf_dtype_size(t), t);
}

/* 16 sums of columns [j, j + 16), in tpf_sum_row_fn's order: lo the first
 * 8, hi the last. */
static inline __attribute__((always_inline)) void sum_values(const void *const *src, int sources, tpf_dtype_t t,
                                                             int64_t j, __m256 *lo, __m256 *hi) {
  const size_t es = tpf_dtype_size(t);
  const int by_addend = t == TPF_FLOAT32 && sources >= 2;
  load_source((const char *)src[0] + (size_t)j * es, t, lo, hi);
  for (int q = 1; q < sources - by_addend; q++) {
    __m256 l, h;
    load_source((const char *)src[q] + (size_t)j * es, t, &l, &h);
    *lo = _mm256_add_ps(*lo, l), *hi = _mm256_add_ps(*hi, h);
  }
  if (!by_addend) return;
  const float *last = (const float *)src[sources - 1] + j;
  *lo = _mm256_add_ps(_mm256_loadu_ps(last), *lo), *hi = _mm256_add_ps(_mm256_loadu_ps(last + 8), *hi);
}

/* Fetches the sources' bytes 2 KiB past `offset`: the sums read whole rows
 * from memory or from another core's cache, and a loop of several
 * instructions per vector keeps too few of those reads in flight on its
 * own. (Addresses past a row's end are only prefetched, never read.) */
static inline __attribute__((always_inline)) void prefetch_sources(const void *const *src, int sources,
                                                                   size_t offset) {
  for (int q = 0; q < sources; q++) _mm_prefetch((const char *)((uintptr_t)src[q] + offset + 2048), _MM_HINT_T0);
}

/* Columns [j, end), 16 at a time, summed and finished in one pass
 * (inlined with the dtypes, and two sources, known where they can be). */
static inline __attribute__((always_inline)) void sum_vectors(const void *const *src, int sources, tpf_dtype_t t,
                                                              int64_t j, int64_t end, const float *bias,
                                                              float divisor, char *out_row, tpf_dtype_t out_dtype,
                                                              int streamed) {
  const size_t es = tpf_dtype_size(t), out_es = tpf_dtype_size(out_dtype);
  for (; j < end; j += 16) { /* (two blocks of fp32 output, one of fp16 or bf16) */
    prefetch_sources(src, sources, (size_t)j * es);
    __m256 lo, hi;
    sum_values(src, sources, t, j, &lo, &hi);
    lo = divide_add_bias(lo, bias ? bias + j : NULL, divisor);
    hi = divide_add_bias(hi, bias ? bias + j + 8 : NULL, divisor);
    if (out_es == 2) {
      store_block(out_row + (size_t)j * out_es, lo, hi, out_dtype, streamed);
      continue;
    }
    store_block(out_row + (size_t)j * out_es, lo, lo, out_dtype, streamed);
    store_block(out_row + (size_t)(j + 8) * out_es, hi, hi, out_dtype, streamed);
  }
}

/* As tpf_finish_avx2: the elements before the output is aligned for
 * streaming and those after the last whole block through the portable
 * sum, the whole blocks between them through sum_vectors. */
void tpf_sum_row_avx2(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                      int64_t i, int64_t j0, int64_t cols) {
  const tpf_dtype_t out_dtype = epi->out_dtype;
  const size_t es = tpf_dtype_size(out_dtype);
  const float *const bias = epi->bias; /* (column 0, as out_row) */
  const float divisor = epi->divisor;
  char *const out_row = (char *)epi->out + (size_t)(i * epi->out_ld) * es;
  int64_t head = epi->stream ? to_alignment(out_row + (size_t)j0 * es, es) : 0;
  const int streamed = epi->stream && head >= 0;
  if (head < 0) head = 0;
  if (head > cols) head = cols;
  if (head > 0) tpf_sum_row_portable(epi, src, sources, t, i, j0, head);
  const int64_t j = j0 + head, end = j + (cols - head) / 16 * 16;
  if (t == TPF_BFLOAT16 && out_dtype == TPF_BFLOAT16 && sources == 2)
    sum_vectors(src, 2, TPF_BFLOAT16, j, end, bias, divisor, out_row, TPF_BFLOAT16, streamed);
  else if (t == TPF_BFLOAT16 && out_dtype == TPF_BFLOAT16)
    sum_vectors(src, sources, TPF_BFLOAT16, j, end, bias, divisor, out_row, TPF_BFLOAT16, streamed);
  else if (t == TPF_FLOAT16 && out_dtype == TPF_FLOAT16 && sources == 2)
    sum_vectors(src, 2, TPF_FLOAT16, j, end, bias, divisor, out_row, TPF_FLOAT16, streamed);
  else if (t == TPF_FLOAT16 && out_dtype == TPF_FLOAT16)
    sum_vectors(src, sources, TPF_FLOAT16, j, end, bias, divisor, out_row, TPF_FLOAT16, streamed);
  else if (t == TPF_FLOAT32)
    sum_vectors(src, sources, TPF_FLOAT32, j, end, bias, divisor, out_row, out_dtype, streamed);
  else
    sum_vectors(src, sources, t, j, end, bias, divisor, out_row, out_dtype, streamed);
  if (end < j0 + cols) tpf_sum_row_portable(epi, src, sources, t, i, end, j0 + cols - end);
}

/* A slot's lines were last read by the core that reads them next, so each
 * store would miss, one invalidation of that core's copy at a time. For a
 * small hand-over, which that latency bounds, the lines are claimed 4 KiB
 * ahead; a large one is bound by memory instead, and claims made it
 * slower (figures in docs/performance.md, "The reduce-scatter"). The claims are in
 * this function's own loops: in a function of their own, which has no
 * other effect, the compiler drops the calls. Streamed, nothing is
 * claimed: the stores go to memory, not to this core's cache. */
__attribute__((target("prfchw"))) void tpf_hand_over_avx2(void *dst, const void *src, size_t bytes, int stream) {
  enum { AHEAD = 4096, SMALL = 64 * 1024 };
  char *d = dst;
  const char *s = src;
  if (stream) { /* memcpy up to dst's first cache line, streamed lines, memcpy of the rest */
    size_t head = (64 - (uintptr_t)d % 64) % 64, o = head < bytes ? head : bytes;
    memcpy(d, s, o);
    for (; o + 64 <= bytes; o += 64) {
      _mm256_stream_si256((__m256i *)(d + o), _mm256_loadu_si256((const __m256i *)(s + o)));
      _mm256_stream_si256((__m256i *)(d + o + 32), _mm256_loadu_si256((const __m256i *)(s + o + 32)));
    }
    memcpy(d + o, s + o, bytes - o);
    _mm_sfence();
    return;
  }
  if (bytes > SMALL) {
    memcpy(dst, src, bytes);
    return;
  }
  for (size_t o = 0; o < bytes && o < AHEAD; o += 64) _m_prefetchw(d + o);
  for (size_t o = 0; o < bytes; o += AHEAD) {
    for (size_t q = o + AHEAD; q < bytes && q < o + 2 * AHEAD; q += 64) _m_prefetchw(d + q);
    memcpy(d + o, s + o, bytes - o < AHEAD ? bytes - o : AHEAD);
  }
}

static const tpf_gemm_kernel_t narrow_f32 = {
    .name = "avx2-narrow", .format = TPF_PACK_F32, .mr = NARROW_MR, .nr = NR, .kc = 256, .mc = 324, .nc = 256,
    .ukernel = ukernel_narrow, .pack_a = pack_a, .pack_b = tpf_pack_b_f32, .finish = tpf_finish_avx2,
    .sum_row = tpf_sum_row_avx2, .pack_b_rows = pack_b_rows};

const tpf_gemm_kernel_t tpf_kernel_avx2_f32 = {
    .name = "avx2", .format = TPF_PACK_F32, .mr = MR, .nr = NR, .kc = 256, .mc = 324, .nc = 256,
    .ukernel = ukernel, .pack_a = pack_a, .pack_b = tpf_pack_b_f32, .finish = tpf_finish_avx2,
    .sum_row = tpf_sum_row_avx2, .narrow = &narrow_f32, .pack_b_rows = pack_b_rows};
