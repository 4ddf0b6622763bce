/* How rows are split: owners' blocks (from the row offsets of a call) and
 * the chunks of a block. Defined once, for every schedule. */
#ifndef TPF_OPS_SPLIT_H
#define TPF_OPS_SPLIT_H

#include <stdint.h>

/* Rows of rank q's block: [offsets[q], offsets[q + 1]). */
static inline int64_t tpf_block_rows(const int64_t *offsets, int q) { return offsets[q + 1] - offsets[q]; }

static inline int64_t tpf_largest_block(const int64_t *offsets, int W) {
  int64_t most = 0;
  for (int q = 0; q < W; q++)
    if (tpf_block_rows(offsets, q) > most) most = tpf_block_rows(offsets, q);
  return most;
}

/* The first row of chunk c of a block of `rows` cut into `chunks`:
 * floor(rows * c / chunks), computed without overflow. */
static inline int64_t tpf_chunk_start(int64_t rows, int chunks, int c) {
  return rows / chunks * c + rows % chunks * c / chunks;
}

/* The chunks per block a comm_turn > 0 asks for, at most the rows of the
 * largest block (more would only be empty chunks, and space for them). */
static inline int tpf_turn_chunks(int comm_turn, int64_t largest_block) {
  return largest_block >= 1 && comm_turn > largest_block ? (int)largest_block : comm_turn;
}

#endif
