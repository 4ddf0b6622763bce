/* AVX2 with FMA and F16C, for CPUs without AVX-512: an fp32 FMA kernel
 * (fp16 and bf16 inputs are converted while packing). */
#ifndef TPF_GEMM_KERNELS_AVX2_H
#define TPF_GEMM_KERNELS_AVX2_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx2_f32;

#endif
