/* Timing for the benchmarks: a monotonic clock, and the figure they report,
 * the median over repetitions of the slowest rank's time. */
#ifndef TPF_TOOLS_TIMING_H
#define TPF_TOOLS_TIMING_H

/* Seconds on CLOCK_MONOTONIC. */
double timing_now(void);

/* seconds[rep * stride + r] is rank r's time in repetition rep (r < W):
 * the median over the reps of each repetition's largest. */
double timing_median_slowest(const double *seconds, int reps, int W, int stride);

#endif
