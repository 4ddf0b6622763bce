/* What MatmulReduceScatter's and AllGatherMatmul's algorithms should cost,
 * from a few measured parameters, and TPF_ALGO_AUTO's choice as the cheaper
 * of the fused schedule and the unfused path. A leaf of ops/.
 *
 * Per rank, with G the GEMM's time and R the reduce-scatter of the fp32
 * partials alone (R = 4 m n / reduce bandwidth + call latency):
 *   unfused = G + R
 *   ring    = G + R - hidden * min(G, R)             (overlap)
 *           + (B streams beyond the unfused GEMM's) * k n es / B bandwidth
 *                                  (none where the packed B stays in cache)
 *           + W * chunks * step latency              (hand-overs)
 * The ring hides the shorter of the two; it pays for streaming B through
 * the cache once per chunk, where one GEMM over all m rows streams it once
 * per block of the kernel's mc rows, and for a hand-over per chunk. Every
 * input is the call's shape and fixed parameters: every rank makes the
 * same choice (the algorithm is also in the call's fingerprint). */
#ifndef TPF_OPS_COST_H
#define TPF_OPS_COST_H

#include <stdint.h>

#include "links.h"
#include "tpfuse.h"

/* The GEMM, per kernel family: [0] for fp32 and fp16 inputs (fp32 FMA),
 * [1] for bf16 (dot-product or tile instructions). */
typedef struct tpf_gemm_costs {
  double flops_per_s;   /* one rank's GEMM rate */
  double b_bytes_per_s; /* a GEMM streaming B's packed panels again */
} tpf_gemm_costs_t;

/* How ranks reach each other (tpf_reach_t). */
typedef struct tpf_reach_costs {
  double reduce_bytes_per_s; /* fp32 partial bytes a rank reduce-scatters per second */
  double call_s;             /* the reduce-scatter's fixed cost (its barriers) */
  double step_s;             /* a ring chunk's hand-over (post, wait, wake; a message) */
  double hidden;             /* the share of min(G, R) the ring hides */
} tpf_reach_costs_t;

typedef struct tpf_costs {
  tpf_gemm_costs_t gemm[2];
  double cached_b_bytes; /* a packed B up to this size is read again from
                            cache: its extra streams cost nothing */
  tpf_reach_costs_t reach[TPF_REACH_KINDS];
} tpf_costs_t;

/* The table as shipped, fit on one machine (docs/performance.md,
 * "Choosing the algorithm"); a communicator scales it to the machine it
 * runs on (calibrate.h). */
extern const tpf_costs_t tpf_costs;

/* Parameter i of table c as tpf_cost_get reports it; 0 outside the range. */
int tpf_cost_entry(const tpf_costs_t *c, int i, tpf_cost_t *out);

/* A call as the model sees it. */
typedef struct tpf_mm_rs_shape {
  int64_t m, n, k;       /* k: this rank's */
  int world;
  tpf_dtype_t dtype;
  tpf_reach_t reach;
  int chunks;            /* per owner block */
  int64_t largest_block; /* rows of the largest owner block */
  int64_t gemm_rows;     /* the GEMM kernel's rows per packed block (mc) */
} tpf_mm_rs_shape_t;

/* Predicted seconds of TPF_ALGO_RING or TPF_ALGO_UNFUSED. */
double tpf_mm_rs_cost(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s, tpf_algo_t algo);

/* `requested` unless it is AUTO; then the cheaper of the ring and the
 * unfused path (unfused on a tie, and for one rank). */
tpf_algo_t tpf_mm_rs_choose(const tpf_costs_t *c, tpf_algo_t requested, const tpf_mm_rs_shape_t *s);

/* AllGatherMatmul, in the same terms (m: the gathered rows, largest_block
 * and chunks: of the blocks that travel): with A the gather of the m x k
 * a alone (its bytes at the reach's bandwidth, plus the call),
 *   unfused = G + A
 *   fused   = G + A - hidden * min(G, A) + (extra B streams) + W * chunks * step
 * where the fused schedule multiplies every chunk on its own. */
double tpf_ag_mm_cost(const tpf_costs_t *c, const tpf_mm_rs_shape_t *s, tpf_algo_t algo);
tpf_algo_t tpf_ag_mm_choose(const tpf_costs_t *c, tpf_algo_t requested, const tpf_mm_rs_shape_t *s);

#endif
