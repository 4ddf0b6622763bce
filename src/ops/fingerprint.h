/* The fingerprint of a collective call: what every rank must agree on.
 * Ranks exchange fingerprints (before any data moves, or alongside the
 * first data between ranks that talk by messages: agree.h), so that
 * mismatched calls fail on every rank with the same words instead of
 * hanging or computing garbage. A rank that rejected its own arguments says so in its
 * fingerprint, and its peers fail too. */
#ifndef TPF_OPS_FINGERPRINT_H
#define TPF_OPS_FINGERPRINT_H

#include <stdint.h>

#include "tpfuse.h"

typedef enum tpf_op_kind {
  TPF_OP_MM_REDUCE_SCATTER = 1,
  TPF_OP_REDUCE_SCATTER = 2,
  TPF_OP_MEM_ALLOC = 3,
  TPF_OP_MEM_FREE = 4,
  TPF_OP_REJECT = 5, /* tpf_comm_reject: a call its rank refused before tpfuse saw it */
  TPF_OP_ALL_GATHER = 6,
  TPF_OP_ALL_REDUCE = 7,
  TPF_OP_ALL_GATHER_MM = 8,
  TPF_OP_MM_ALL_REDUCE = 9,
  TPF_OP_KINDS
} tpf_op_kind_t;

enum { TPF_FINGERPRINT_READS = 4, TPF_FINGERPRINT_WRITES = 2 };

typedef struct tpf_fingerprint {
  int32_t status;     /* TPF_OK, or this rank's own rejection */
  int32_t op;         /* tpf_op_kind_t */
  int64_t m, n, k;
  int32_t dtype;
  int32_t reduce_op;
  int32_t has_bias;
  int32_t comm_turn;  /* as passed (0 = automatic) */
  int32_t algo;       /* as resolved on this rank */
  int32_t even_split; /* row_counts == NULL */
  int32_t has_addend; /* MatmulAllReduce's per-rank addend (x3) */
  int32_t bias_per_rank;
  int32_t gathers;    /* AllGatherMatmul: whether gathered_a is given */
  uint64_t row_counts_hash;
  /* Not compared: where this rank's input is, for peers that read it in
   * place (the reduce-scatter over transports that can). */
  uint64_t in_addr, out_addr;
  int64_t in_ld, out_ld;
  /* Not compared: the bytes this rank's call writes (out, gathered a) and
   * reads (its inputs: a, b, bias, addend; or in, bias), [begin, end), for
   * ranks of one address space, which must not write what another rank
   * touches. */
  uint64_t writes[TPF_FINGERPRINT_WRITES][2], reads[TPF_FINGERPRINT_READS][2];
  char rejection[256]; /* the rank's own error, when status != TPF_OK */
} tpf_fingerprint_t;

/* A hash of n counts (FNV-1a over their bytes). */
uint64_t tpf_hash_counts(const int64_t *counts, int n);

/* Compares the fingerprints of all ranks (all[q] is rank q's). TPF_OK if
 * they agree; else TPF_ERR_PEER (a rank rejected its arguments) or
 * TPF_ERR_MISMATCH, recorded with a message that names the ranks and both
 * values. Every rank reaches the same verdict and words. `me` is the caller,
 * whose own rejection is reported as its own. */
tpf_status_t tpf_fingerprint_agree(const tpf_fingerprint_t *all, int size, int me);

/* For ranks of one address space, after they agree: TPF_ERR_INVALID (the
 * same words on every rank) if a rank's output overlaps what another rank
 * of the call reads or writes; TPF_OK otherwise. `read_names` names the
 * TPF_FINGERPRINT_READS inputs ("a", "b", "the bias", ...), `write_names`
 * the TPF_FINGERPRINT_WRITES outputs. */
tpf_status_t tpf_fingerprint_no_aliasing(const tpf_fingerprint_t *all, int size, const char *const *read_names,
                                         const char *const *write_names);

#endif
