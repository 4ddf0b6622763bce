/* The portable micro-kernel: plain C, the specification of the contract in
 * kernel.h and the fallback on every CPU. */
#include "ukernel_portable.h"

enum { MR = TPF_PORTABLE_MR, NR = TPF_PORTABLE_NR };

void tpf_ukernel_portable(int64_t kc, const float *a, const float *b, float *c,
                          int64_t ldc, int accumulate) {
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t p = 0; p < kc; p++) {
    const float *ap = a + p * MR, *bp = b + p * NR;
    for (int i = 0; i < MR; i++) {
      float ai = ap[i];
      for (int j = 0; j < NR; j++) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];
}
