#include "pack.h"

#include "common/half.h"

/* Element (row, col) of the logical matrix x, as fp32. */
static inline float element(const tpf_gemm_operand_t *x, int64_t row, int64_t col) {
  size_t at = x->transposed ? (size_t)(col * x->ld + row) : (size_t)(row * x->ld + col);
  return tpf_load_f32(x->data, x->dtype, at);
}

void tpf_pack_a(float *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows,
                int64_t p0, int64_t kb, int mr) {
  for (int64_t panel = 0; panel < rows; panel += mr) {
    int64_t live = rows - panel < mr ? rows - panel : mr;
    for (int64_t p = 0; p < kb; p++) {
      for (int64_t i = 0; i < live; i++) dst[p * mr + i] = element(a, i0 + panel + i, p0 + p);
      for (int64_t i = live; i < mr; i++) dst[p * mr + i] = 0.0f;
    }
    dst += kb * mr;
  }
}

void tpf_pack_b(float *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb,
                int64_t j0, int64_t cols, int nr) {
  for (int64_t panel = 0; panel < cols; panel += nr) {
    int64_t live = cols - panel < nr ? cols - panel : nr;
    for (int64_t p = 0; p < kb; p++) {
      for (int64_t j = 0; j < live; j++) dst[p * nr + j] = element(b, p0 + p, j0 + panel + j);
      for (int64_t j = live; j < nr; j++) dst[p * nr + j] = 0.0f;
    }
    dst += kb * nr;
  }
}
