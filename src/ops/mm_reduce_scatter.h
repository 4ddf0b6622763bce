/* MatmulReduceScatter (mm_reduce_scatter.c): what its tests need besides
 * the operator's table (operator.h). */
#ifndef TPF_OPS_MM_REDUCE_SCATTER_H
#define TPF_OPS_MM_REDUCE_SCATTER_H

#include <stdint.h>

/* Chunks per owner block for comm_turn (0 = automatic). */
int tpf_mm_rs_chunks(int comm_turn, int64_t max_block_rows, int64_t n, int64_t k);

#endif
