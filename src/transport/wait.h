/* Waiting for a 32-bit progress word to reach a target: spin briefly, then
 * sleep on a futex in short slices. Every wait ends at its deadline
 * (TPF_ERR_TIMEOUT) or as soon as the group it belongs to has failed. */
#ifndef TPF_TRANSPORT_WAIT_H
#define TPF_TRANSPORT_WAIT_H

#include <stdatomic.h>
#include <stdint.h>

#include "tpfuse.h"

typedef struct tpf_waiter {
  int64_t spin_ns;             /* busy-wait this long before sleeping */
  int64_t timeout_ns;          /* give up after this long */
  const _Atomic int *failed;   /* the group's failure status; TPF_OK while healthy */
  _Atomic uint32_t *sleepers;  /* how many waiters of the group sleep now */
  int process_shared;          /* 1: the words live in memory shared by processes */
} tpf_waiter_t;

/* Called between sleeps of a wait on `peer` (at least every 10 ms): TPF_OK
 * while the peer can still make progress, else the failure (e.g. it died),
 * which ends the wait unless the word has reached its target meanwhile (a
 * peer that posts and then exits). It should have no side effects: the
 * caller acts on the failure the wait returns. */
typedef tpf_status_t (*tpf_peer_check_fn)(void *arg, int peer);

/* Progress words are compared modulo 2^32, so counters may wrap. */
static inline int tpf_reached(uint32_t value, uint32_t target) {
  return (int32_t)(value - target) >= 0;
}

/* TPF_OK once *word has reached target; TPF_ERR_TIMEOUT; the group's
 * failure status; or what check(arg, peer) returned (check may be NULL).
 * Records no error: the caller knows what it waited for. */
tpf_status_t tpf_wait_until(const tpf_waiter_t *w, _Atomic uint32_t *word, uint32_t target,
                            tpf_peer_check_fn check, void *arg, int peer);

/* Stores value into *word and wakes its sleepers, if any. */
void tpf_post(const tpf_waiter_t *w, _Atomic uint32_t *word, uint32_t value);

/* Wakes every sleeper of *word (after the group failed). */
void tpf_wake_all(const tpf_waiter_t *w, _Atomic uint32_t *word);

#endif
