#include "pack.h"

#include "common/half.h"

/* Reads row `row` of a logical matrix x, columns [col, col + count), as fp32
 * into dst. The dtype switch is outside the loop so each case is a tight
 * loop; the element stride is 1 for a plain view and ld for a transposed one. */
static void read_row(float *dst, const tpf_gemm_operand_t *x, int64_t row, int64_t col,
                     int64_t count) {
  int64_t stride = x->transposed ? x->ld : 1;
  size_t start = (size_t)(x->transposed ? col * x->ld + row : row * x->ld + col);
  switch (x->dtype) {
  case TPF_FLOAT32: {
    const float *src = (const float *)x->data + start;
    for (int64_t t = 0; t < count; t++) dst[t] = src[t * stride];
    break;
  }
  case TPF_FLOAT16: {
    const uint16_t *src = (const uint16_t *)x->data + start;
    for (int64_t t = 0; t < count; t++) dst[t] = tpf_f16_to_f32(src[t * stride]);
    break;
  }
  case TPF_BFLOAT16: {
    const uint16_t *src = (const uint16_t *)x->data + start;
    for (int64_t t = 0; t < count; t++) dst[t] = tpf_bf16_to_f32(src[t * stride]);
    break;
  }
  }
}

/* The raw bf16 bits of row `row`, columns [col, col + count). */
static void read_row_bf16(uint16_t *dst, const tpf_gemm_operand_t *x, int64_t row, int64_t col,
                          int64_t count) {
  int64_t stride = x->transposed ? x->ld : 1;
  const uint16_t *src = (const uint16_t *)x->data + (x->transposed ? col * x->ld + row : row * x->ld + col);
  for (int64_t t = 0; t < count; t++) dst[t] = src[t * stride];
}

enum { CHUNK = 256 }; /* elements read per read_row call */

void tpf_pack_a_f32(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                    int64_t kb, int mr) {
  float *out = dst, line[CHUNK];
  for (int64_t panel = 0; panel < rows; panel += mr, out += kb * mr) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    for (int64_t i = 0; i < mr; i++)
      for (int64_t p = 0; p < kb; p += CHUNK) {
        int64_t n = kb - p < CHUNK ? kb - p : CHUNK;
        if (i < live) read_row(line, a, i0 + panel + i, p0 + p, n);
        for (int64_t t = 0; t < n; t++) out[(p + t) * mr + i] = i < live ? line[t] : 0.0f;
      }
  }
}

/* B's row p is a row of the panel: read it along the columns. */
void tpf_pack_b_f32(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                    int64_t cols, int nr) {
  float *out = dst;
  for (int64_t panel = 0; panel < cols; panel += nr, out += kb * nr) {
    int64_t live = cols - panel < nr ? cols - panel : nr;
    for (int64_t p = 0; p < kb; p++) {
      read_row(out + p * nr, b, p0 + p, j0 + panel, live);
      for (int64_t j = live; j < nr; j++) out[p * nr + j] = 0.0f;
    }
  }
}

void tpf_pack_a_bf16(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                     int64_t kb, int mr) {
  uint16_t *out = dst, line[CHUNK];
  int64_t pairs = (kb + 1) / 2;
  for (int64_t panel = 0; panel < rows; panel += mr, out += pairs * mr * 2) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    for (int64_t i = 0; i < mr; i++)
      for (int64_t p = 0; p < 2 * pairs; p += CHUNK) {
        int64_t n = 2 * pairs - p < CHUNK ? 2 * pairs - p : CHUNK;
        int64_t real = kb - p < n ? kb - p : n;
        if (i < live) read_row_bf16(line, a, i0 + panel + i, p0 + p, real);
        for (int64_t t = 0; t < n; t++) {
          int64_t k = p + t;
          out[((k / 2) * mr + i) * 2 + (k & 1)] = (i < live && t < real) ? line[t] : 0;
        }
      }
  }
}

void tpf_pack_b_bf16(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                     int64_t cols, int nr) {
  uint16_t *out = dst, line[CHUNK];
  int64_t pairs = (kb + 1) / 2;
  for (int64_t panel = 0; panel < cols; panel += nr, out += pairs * nr * 2) {
    int64_t live = cols - panel < nr ? cols - panel : nr;
    for (int64_t k = 0; k < 2 * pairs; k++) {
      uint16_t *row = out + (k / 2) * nr * 2 + (k & 1);
      if (k < kb) {
        for (int64_t j = 0; j < live; j += CHUNK) {
          int64_t n = live - j < CHUNK ? live - j : CHUNK;
          read_row_bf16(line, b, p0 + k, j0 + panel + j, n);
          for (int64_t t = 0; t < n; t++) row[(j + t) * 2] = line[t];
        }
      }
      for (int64_t j = k < kb ? live : 0; j < nr; j++) row[j * 2] = 0;
    }
  }
}
