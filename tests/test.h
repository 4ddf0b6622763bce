/* A few macros for the test programs: count checks, report failures with
 * their place, and close with "N passed, N failed". */
#ifndef TPF_TESTS_TEST_H
#define TPF_TESTS_TEST_H

#include <stdio.h>
#include <string.h>

static int checks_passed, checks_failed;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (cond) {                                                            \
      checks_passed++;                                                     \
    } else {                                                               \
      checks_failed++;                                                     \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                        \
      fprintf(stderr, "\n");                                               \
    }                                                                      \
  } while (0)

/* A status check that shows the library's last error when it fails. */
#define CHECK_STATUS(call, expected)                                            \
  do {                                                                          \
    tpf_status_t got_ = (call);                                                 \
    CHECK(got_ == (expected), "%s returned %s, expected %s (last error: %s)", #call, \
          tpf_status_string(got_), tpf_status_string(expected), tpf_last_error()); \
  } while (0)

static inline int test_summary(void) {
  printf("%d passed, %d failed\n", checks_passed, checks_failed);
  return checks_failed != 0;
}

#endif
