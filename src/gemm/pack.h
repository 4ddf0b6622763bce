/* Packing: copies a block of an operand into the micro-kernel's panel
 * layout, converting fp16/bf16 to fp32 and zero-padding partial panels. */
#ifndef TPF_GEMM_PACK_H
#define TPF_GEMM_PACK_H

#include "gemm.h"

/* Rows [i0, i0+rows) x k-range [p0, p0+kb) of A into panels of mr rows:
 * dst[panel][p][i], each panel kb * mr floats. */
void tpf_pack_a(float *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows,
                int64_t p0, int64_t kb, int mr);

/* k-range [p0, p0+kb) x columns [j0, j0+cols) of B into panels of nr
 * columns: dst[panel][p][j], each panel kb * nr floats. */
void tpf_pack_b(float *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb,
                int64_t j0, int64_t cols, int nr);

#endif
