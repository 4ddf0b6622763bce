/* AVX-512 BF16: a bf16 dot-product kernel (vdpbf16ps) for bf16 inputs. */
#ifndef TPF_GEMM_KERNELS_AVX512_BF16_H
#define TPF_GEMM_KERNELS_AVX512_BF16_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx512_bf16;

#endif
