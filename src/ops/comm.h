/* What a communicator holds: its transport endpoint, this rank's GEMM
 * workspace, resolved settings, and the progress bases of the schedules. */
#ifndef TPF_OPS_COMM_H
#define TPF_OPS_COMM_H

#include <stdatomic.h>
#include <stdint.h>

#include "cost.h"
#include "fingerprint.h"
#include "gemm/gemm.h"
#include "links.h"
#include "transport/transport.h"
#include "tpfuse.h"

struct tpf_comm {
  uint64_t magic; /* TPF_COMM_MAGIC while live */
  char name[64];
  int rank, size;
  tpf_endpoint_t *ep;
  tpf_links_t links;        /* how this rank reaches each peer (links.h) */
  tpf_gemm_engine_t gemm;   /* ISA, compute threads, buffers, the packed B */
  tpf_algo_t algo;          /* default for TPF_ALGO_AUTO calls (may be AUTO) */
  tpf_reach_t reach;        /* fixed at creation, the same on every rank: it
                               picks the schedules and AUTO's thresholds */
  tpf_costs_t costs;        /* AUTO's cost model (calibrate.h), the same on
                               every rank: rank 0's */
  int64_t *row_offsets;     /* size + 1 entries, the call's row split */
  const void **peer_scratch;  /* size entries, for schedules */
  int64_t *ld_scratch;        /* size entries, for schedules */
  tpf_fingerprint_t *fingerprints; /* size entries, for the exchange */
  int agreement_pending;    /* peers' fingerprints still travel (agree.h) */
  const void **row_sources;   /* size entries, for the sums (sums.h) */
  float *bias;              /* the call's bias in fp32 */
  size_t bias_capacity;
  void *op_state[TPF_OP_KINDS]; /* what an operator keeps between calls */
  /* The registry's (registry.h): the next live communicator, whether a
   * call runs on this rank, and the process generation that made it. */
  struct tpf_comm *_Atomic next_live;
  _Atomic int state;
  unsigned fork_generation;
};

#define TPF_COMM_MAGIC 0x7470667573656331ull

#endif
