/* The cost model's parameters for the machine it runs on (cost.h).
 *
 * The table in cost.c was fit on one machine. On another, its rates are
 * scaled by what a few short probes measure here against what they
 * measured there: a GEMM per kernel family on the rank's own engine (its
 * ISA and threads) and a row sum through memory (the reduce-scatter's
 * sums, and B streamed again). Latencies, the hidden share and the
 * message rates are kept. The probes take a few milliseconds, once per
 * process for each ISA and thread count; a communicator runs them on rank
 * 0 only (api_comm.c). */
#ifndef TPF_OPS_CALIBRATE_H
#define TPF_OPS_CALIBRATE_H

#include "cost.h"
#include "gemm/gemm.h"

/* What the probes measure: GFLOP/s of the GEMM probe per kernel family
 * (fp32, bf16), GB/s of the row sum's source, and the bytes of a core's
 * L2 cache as the C library reports it (0: unknown). */
typedef struct tpf_probes {
  double gemm_gflops[2];
  double sum_gbps;
  double l2_bytes;
} tpf_probes_t;

/* What the probes measured on the machine the table was fit on. */
extern const tpf_probes_t tpf_probes_reference;

/* The probes, run on engine e (whose B they change: set it again before
 * the next multiply). */
tpf_probes_t tpf_probes_run(tpf_gemm_engine_t *e);

/* The table scaled to these probes; half the L2, where known, is the
 * packed B that stays in cache. */
tpf_costs_t tpf_costs_scaled(const tpf_probes_t *here);

/* The parameters for engine e's ISA and thread count: the probes' table,
 * measured on the first request in this process and kept. */
tpf_costs_t tpf_costs_for(tpf_gemm_engine_t *e);

#endif
