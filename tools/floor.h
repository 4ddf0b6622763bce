/* What this machine allows, measured: the floors the benchmarks print their
 * figures against (`tpfuse floor` prints them all).
 *
 * Each is the simplest program that does the work in question, with no
 * library in it: an FMA loop per instruction set, a streamed sum of two
 * arrays for memory bandwidth, a cache line passed back and forth between
 * two ranks, and the collectives of two ranks written as plainly as they
 * can be (the reduce-scatter: each rank sums its block of the two inputs,
 * a barrier before and after). */
#ifndef TPF_TOOLS_FLOOR_H
#define TPF_TOOLS_FLOOR_H

#include <stddef.h>

#include "tpfuse.h"

/* The arithmetic peaks: fp32 FMA on 256-bit (AVX2 + FMA) and 512-bit
 * (AVX-512) vectors, and the bf16 dot product (AVX512_BF16) counted as
 * 4 flops per fp32 lane. */
typedef enum floor_peak { FLOOR_FMA_AVX2, FLOOR_FMA_AVX512, FLOOR_DOT_BF16, FLOOR_PEAKS } floor_peak_t;

/* "fp32 FMA (AVX2)" and so on. */
const char *floor_peak_name(floor_peak_t which);

/* GFLOP/s of `which` on `threads` threads at once (best of several runs:
 * a virtual core away for part of one run would understate it); 0 when
 * this CPU lacks the instructions. */
double floor_peak_gflops(floor_peak_t which, int threads);

/* The peak that bounds tpfuse's GEMM in dtype t under instruction set
 * `isa` (tpf_gemm_kernel()'s name), on `threads` threads: the fp32 FMA
 * peak of its vectors (fp16, and bf16 below avx512_bf16, are converted to
 * fp32), or the bf16 dot's; 0 where no loop here measures it (portable C,
 * AMX tiles). *which is set to the peak used, when there is one. */
double floor_gemm_peak(const char *isa, tpf_dtype_t t, int threads, floor_peak_t *which);

/* GB/s of c = a + b in fp32 over arrays of `bytes` each, on `threads`
 * threads at once (each its own arrays; stores streamed), counting the
 * three arrays' bytes: what memory gives a sum. The median of `reps`
 * passes after one that touches the pages. -1 when out of memory. */
double floor_sum_gbps(size_t bytes, int threads, int reps);

/* Seconds per round trip of a cache line between two ranks (threads, or
 * with `processes` two processes over shared memory): the median of
 * `reps` runs of `count` trips. -1 if a rank could not be started. */
double floor_round_trip(int processes, int count, int reps);

/* The two-rank collectives, written as plainly as they can be. For
 * `bytes` as bench-rs counts them (rs: a rank's output block, ag: its
 * input block, ar: the whole buffer), rank r
 *   FLOOR_RS  writes in0[block r] + in1[block r] (fp32 sums, rounded to t);
 *   FLOOR_AG  copies both ranks' inputs into its output;
 *   FLOOR_AR  sums its half of the buffer into its output, then (after a
 *             barrier) copies the other half from the other rank's output;
 * and the same three for inputs and outputs that the other rank cannot
 * read where they are (a process's own memory), which pass through a
 * buffer both ranks share, in pieces of 256 KiB, a barrier between a
 * piece's copy in and its use:
 *   FLOOR_RS_STAGED  copies the other rank's block of its input in, then
 *             writes its own block plus the other rank's copy;
 *   FLOOR_AG_STAGED  copies its input in (and to its output), then copies
 *             the other rank's copy to its output;
 *   FLOOR_AR_STAGED  the all-reduce's halves the same ways: the reduce-
 *             scatter's, then the gather of the summed halves.
 */
typedef enum floor_op {
  FLOOR_RS,
  FLOOR_AG,
  FLOOR_AR,
  FLOOR_RS_STAGED,
  FLOOR_AG_STAGED,
  FLOOR_AR_STAGED
} floor_op_t;

/* The staged variant of FLOOR_RS, FLOOR_AG or FLOOR_AR. */
floor_op_t floor_staged(floor_op_t op);

/* Runs op on two ranks, threads or (`processes`) two processes over
 * shared memory, bound to a core each where there are two, with a barrier
 * before and after each call; with `stream`, stores bypass the caches.
 * seconds[i] is call i's time (rank 0's, from the first barrier to the
 * second), for `reps` calls after one untimed; the outputs are checked.
 * Returns 0, or -1 (out of memory, no fork, a wrong result). */
int floor_rounds(floor_op_t op, size_t bytes, tpf_dtype_t t, int processes, int stream, int reps, double *seconds);

/* The floor of op: the faster (by medians of `reps` calls) of cached and
 * streamed stores; *streamed says which. -1 on failure. */
double floor_seconds(floor_op_t op, size_t bytes, tpf_dtype_t t, int processes, int reps, int *streamed);

/* The CPU as lscpu names it: "model name (family F, model M)". */
void floor_cpu_text(char *buf, size_t size);

#endif
