/* Portable packing into the two panel formats of kernel.h, converting
 * fp16/bf16/fp32 as it goes and zero-padding partial panels. ISA folders
 * may provide faster ones with the same results. */
#ifndef TPF_GEMM_PACK_H
#define TPF_GEMM_PACK_H

#include "common/half.h"
#include "gemm.h"

/* Rows of a slice of A the ISA packers fetch ahead of their loads (the
 * rows of the next panel or two) when the slice spans more than
 * TPF_PACK_A_FETCH_BYTES of memory: a larger A is not in cache from its
 * last packing (A's rows are repacked once per group of column chunks);
 * a smaller one usually is, and the prefetches would only cost. */
enum { TPF_PACK_A_FETCH_BYTES = 1 << 20 };
static inline int64_t tpf_pack_a_fetch_rows(const tpf_gemm_operand_t *a, int64_t rows, int64_t ahead) {
  return (size_t)rows * (size_t)a->ld * tpf_dtype_size(a->dtype) > TPF_PACK_A_FETCH_BYTES ? ahead : 0;
}

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
