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

/* The row sums with 8-lane vectors, summed and finished in one pass: the
 * same bits as tpf_sum_row_portable. */
void tpf_sum_row_avx2(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                      int64_t i, int64_t j0, int64_t cols);

/* tpf_hand_over_fn: memcpy, with dst's lines claimed for writing
 * (prefetchw; a no-op on the few AVX2 CPUs without it) 4 KiB ahead of
 * the stores when the copy is small (at most 64 KiB); streamed, whole
 * lines of dst with streaming stores and an sfence. Every AVX-512 ISA
 * uses it too. */
void tpf_hand_over_avx2(void *dst, const void *src, size_t bytes, int stream);

#endif
