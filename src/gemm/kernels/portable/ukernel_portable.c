#include "ukernel_portable.h"

#include <string.h>

#include "common/half.h"
#include "gemm/pack.h"

enum { MR = 4, NR = 16 };

/* The specification: these ignore the prefetch hint. */
static void ukernel_f32(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c,
                        int64_t ldc, int accumulate, tpf_prefetch_t next) {
  (void)next;
  const float *a = pa, *b = pb;
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t p = 0; p < kb; p++) {
    const float *ap = a + p * MR, *bp = b + p * ldb;
    for (int i = 0; i < MR; i++) {
      float ai = ap[i];
      for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];
}

/* The bf16-pairs contract in plain C: per pair, the even k first. */
static void ukernel_bf16(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c,
                         int64_t ldc, int accumulate, tpf_prefetch_t next) {
  (void)next;
  const uint16_t *a = pa, *b = pb;
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t q = 0; q < (kb + 1) / 2; q++)
    for (int h = 0; h < 2; h++)
      for (int i = 0; i < MR; i++) {
        float ai = tpf_bf16_to_f32(a[(q * MR + i) * 2 + h]);
        for (int j = 0; j < NR; j++) acc[i][j] += ai * tpf_bf16_to_f32(b[q * ldb + j * 2 + h]);
      }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];
}

const tpf_gemm_kernel_t tpf_kernel_portable_f32 = {
    .name = "portable", .format = TPF_PACK_F32, .mr = MR, .nr = NR, .kc = 256, .mc = 64, .nc = 512,
    .ukernel = ukernel_f32, .pack_a = tpf_pack_a_f32, .pack_b = tpf_pack_b_f32,
    .finish = tpf_gemm_finish_portable, .sum_row = tpf_sum_row_portable};
const tpf_gemm_kernel_t tpf_kernel_portable_bf16 = {
    .name = "portable-bf16", .format = TPF_PACK_BF16_PAIRS, .mr = MR, .nr = NR, .kc = 512, .mc = 64, .nc = 512,
    .ukernel = ukernel_bf16, .pack_a = tpf_pack_a_bf16, .pack_b = tpf_pack_b_bf16,
    .finish = tpf_gemm_finish_portable, .sum_row = tpf_sum_row_portable};

void tpf_hand_over_portable(void *dst, const void *src, size_t bytes, int stream) {
  (void)stream;
  memcpy(dst, src, bytes);
}
