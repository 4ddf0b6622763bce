/* Waits on a progress word (transport/wait.h): the word decides when a
 * peer check fails after the peer has posted it (a peer that posts its
 * last value and exits while this rank still looks: the wait succeeds); a
 * failing check on a word not reached ends the wait with its status; a
 * wait without progress ends at its deadline; a failed group ends it. */
#include <time.h>

#include "../test.h"
#include "transport/wait.h"

static _Atomic uint32_t word;
static _Atomic uint32_t sleepers;
static _Atomic int group_status;
static int checks;

/* The peer posts the word, then exits: the check sees it gone. */
static tpf_status_t posted_then_gone(void *arg, int peer) {
  (void)arg, (void)peer;
  checks++;
  atomic_store(&word, 7);
  return TPF_ERR_PEER;
}

static tpf_status_t gone(void *arg, int peer) {
  (void)arg, (void)peer;
  checks++;
  return TPF_ERR_PEER;
}

static tpf_status_t alive(void *arg, int peer) {
  (void)arg, (void)peer;
  checks++;
  return TPF_OK;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
  const tpf_waiter_t w = {.spin_ns = 0, .timeout_ns = 50 * 1000 * 1000, .failed = &group_status, .sleepers = &sleepers};
  atomic_store(&word, 5);
  CHECK_STATUS(tpf_wait_until(&w, &word, 7, posted_then_gone, NULL, 1), TPF_OK);
  CHECK(checks == 1, "%d checks", checks);
  atomic_store(&word, 5), checks = 0;
  CHECK_STATUS(tpf_wait_until(&w, &word, 7, gone, NULL, 1), TPF_ERR_PEER);
  CHECK(checks == 1, "%d checks", checks);
  double t0 = now();
  CHECK_STATUS(tpf_wait_until(&w, &word, 7, alive, NULL, 1), TPF_ERR_TIMEOUT);
  CHECK(now() - t0 >= 0.049 && now() - t0 < 1.0, "the wait took %.3f s", now() - t0);
  CHECK_STATUS(tpf_wait_until(&w, &word, 5, gone, NULL, 1), TPF_OK); /* reached already: no check */
  atomic_store(&group_status, TPF_ERR_ABORTED);
  CHECK_STATUS(tpf_wait_until(&w, &word, 7, alive, NULL, 1), TPF_ERR_ABORTED);
  return test_summary();
}
