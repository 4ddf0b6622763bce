/* AVX-512 (F, BW, VL) with FMA and F16C: an fp32 FMA kernel (fp16 and
 * bf16 inputs are converted while packing). */
#ifndef TPF_GEMM_KERNELS_AVX512_H
#define TPF_GEMM_KERNELS_AVX512_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx512_f32;

/* The epilogue with 16-lane vectors: the same operations and bits as
 * tpf_gemm_finish_portable. */
void tpf_finish_avx512(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc, int64_t i0,
                       int64_t rows, int64_t j0, int64_t cols);

/* The row sums with 16-lane vectors, summed and finished in one pass: the
 * same bits as tpf_sum_row_portable. */
void tpf_sum_row_avx512(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                        int64_t i, int64_t j0, int64_t cols);

/* Packing of A into the bf16-pairs format (a plain bf16 A is copied a
 * 32-bit pair at a time; anything else goes to the portable packer). */
void tpf_pack_a_bf16_avx512(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows,
                            int64_t p0, int64_t kb, int mr);

#endif
