/* Timing for the benchmarks (see timing.h). */
#include "timing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double timing_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double timing_median_slowest(const double *seconds, int reps, int W, int stride) {
  double *t = malloc(sizeof(double) * (size_t)(reps > 0 ? reps : 1));
  if (!t || reps < 1) {
    free(t);
    return 0;
  }
  for (int rep = 0; rep < reps; rep++) {
    t[rep] = 0;
    for (int r = 0; r < W; r++)
      if (seconds[rep * stride + r] > t[rep]) t[rep] = seconds[rep * stride + r];
  }
  qsort(t, (size_t)reps, sizeof(double), by_value);
  double median = t[reps / 2];
  free(t);
  return median;
}

timing_spread_t timing_spread(const double *samples, int n) {
  timing_spread_t s = {0, 0, 0};
  double *t = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
  if (!t) return s;
  memcpy(t, samples, sizeof(double) * (size_t)n);
  qsort(t, (size_t)n, sizeof(double), by_value);
  s = (timing_spread_t){t[0], t[n / 2], t[n - 1]};
  free(t);
  return s;
}

void *bench_alloc(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (p) memset(p, 0, rounded ? rounded : 64);
  return p;
}
