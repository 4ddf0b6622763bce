/* AVX-512 BF16: a bf16 dot-product kernel (vdpbf16ps) for bf16 inputs. */
#ifndef TPF_GEMM_KERNELS_AVX512_BF16_H
#define TPF_GEMM_KERNELS_AVX512_BF16_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_avx512_bf16;

/* Packing of one panel of bf16 B into the pairs format (cols <= nr; k
 * padded to even), with vector permutes; a transposed B goes through the
 * portable packer. Uses AVX-512 BW only. */
void tpf_pack_b_bf16_pairs_avx512(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                                  int64_t cols, int nr);

#endif
