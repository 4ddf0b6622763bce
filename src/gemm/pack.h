/* Portable packing into the two panel formats of kernel.h, converting
 * fp16/bf16/fp32 as it goes and zero-padding partial panels. ISA folders
 * may provide faster ones with the same results. */
#ifndef TPF_GEMM_PACK_H
#define TPF_GEMM_PACK_H

#include "gemm.h"

void tpf_pack_a_f32(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                    int64_t kb, int mr);
void tpf_pack_b_f32(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                    int64_t cols, int nr);
/* bf16 pairs: the operand must be bf16 (other dtypes use the fp32 format). */
void tpf_pack_a_bf16(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0,
                     int64_t kb, int mr);
void tpf_pack_b_bf16(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0,
                     int64_t cols, int nr);

#endif
