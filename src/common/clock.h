/* Monotonic time for deadlines and measurements. */
#ifndef TPF_COMMON_CLOCK_H
#define TPF_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t tpf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
