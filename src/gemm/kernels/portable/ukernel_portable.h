#ifndef TPF_GEMM_UKERNEL_PORTABLE_H
#define TPF_GEMM_UKERNEL_PORTABLE_H

#include <stdint.h>

#define TPF_PORTABLE_MR 4
#define TPF_PORTABLE_NR 16

void tpf_ukernel_portable(int64_t kc, const float *a, const float *b, float *c,
                          int64_t ldc, int accumulate);

#endif
