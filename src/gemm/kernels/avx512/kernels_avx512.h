/* AVX-512 (F, BW, VL) with FMA and F16C: an fp32 FMA kernel (fp16 and
 * bf16 inputs are converted while packing). */
#ifndef TPF_GEMM_KERNELS_AVX512_H
#define TPF_GEMM_KERNELS_AVX512_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx512_f32;

#endif
