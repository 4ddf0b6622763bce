/* AVX2 with FMA and F16C, for CPUs without AVX-512: an fp32 FMA kernel
 * (fp16 and bf16 inputs are converted while packing). */
#ifndef TPF_GEMM_KERNELS_AVX2_H
#define TPF_GEMM_KERNELS_AVX2_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx2_f32;

/* The epilogue with 8-lane vectors (F16C for fp16): the same operations
 * and bits as tpf_gemm_finish_portable. */
void tpf_finish_avx2(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc, int64_t i0,
                     int64_t rows, int64_t j0, int64_t cols);

/* The row sum with 8-lane vectors: the same bits as
 * tpf_accumulate_portable. */
void tpf_accumulate_avx2(float *acc, const void *src, tpf_dtype_t t, int64_t n, int first);

/* tpf_hand_over_fn: memcpy, with dst's lines claimed for writing
 * (prefetchw; a no-op on the few AVX2 CPUs without it) 4 KiB ahead of
 * the stores when the copy is small (at most 64 KiB); streamed, whole
 * lines of dst with streaming stores and an sfence. Every AVX-512 ISA
 * uses it too. */
void tpf_hand_over_avx2(void *dst, const void *src, size_t bytes, int stream);

#endif
