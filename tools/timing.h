/* Timing for the benchmarks: a monotonic clock, the figure they report
 * (the median over repetitions of the slowest rank's time), and their
 * buffers. */
#ifndef TPF_TOOLS_TIMING_H
#define TPF_TOOLS_TIMING_H

#include <stddef.h>

/* Seconds on CLOCK_MONOTONIC. */
double timing_now(void);

/* seconds[rep * stride + r] is rank r's time in repetition rep (r < W):
 * the median over the reps of each repetition's largest. */
double timing_median_slowest(const double *seconds, int reps, int W, int stride);

/* The smallest, median and largest of n samples (zeros when n < 1). */
typedef struct timing_spread {
  double min, median, max;
} timing_spread_t;
timing_spread_t timing_spread(const double *samples, int n);

/* `bytes` of zeroed memory starting on a cache line, as a framework's
 * tensors do (PyTorch aligns to 64 bytes): the benchmarks time the
 * operators on such buffers, not on malloc's 16-byte alignment (an output
 * 16 bytes off a line made the in-place sum of 16 MiB a quarter slower).
 * NULL if out of memory; free() releases it. */
void *bench_alloc(size_t bytes);

#endif
