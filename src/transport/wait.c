#define _GNU_SOURCE
#include "wait.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

/* A sleeping waiter wakes at least this often to look at the deadline and
 * at the group's failure status, whatever wake-ups it may miss. */
enum { SLEEP_SLICE_NS = 10 * 1000 * 1000 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void futex_wait(const tpf_waiter_t *w, _Atomic uint32_t *word, uint32_t seen,
                       int64_t ns) {
  struct timespec ts = {ns / 1000000000, ns % 1000000000};
  int op = w->process_shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
  syscall(SYS_futex, (uint32_t *)word, op, seen, &ts, NULL, 0);
}

static void futex_wake(const tpf_waiter_t *w, _Atomic uint32_t *word) {
  int op = w->process_shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE;
  syscall(SYS_futex, (uint32_t *)word, op, INT_MAX, NULL, NULL, 0);
}

tpf_status_t tpf_wait_until(const tpf_waiter_t *w, _Atomic uint32_t *word, uint32_t target,
                            tpf_peer_check_fn check, void *arg, int peer) {
  if (tpf_reached(atomic_load_explicit(word, memory_order_acquire), target)) return TPF_OK;
  int64_t start = tpf_now_ns();
  int64_t deadline = start + w->timeout_ns;
  unsigned spins = 0;
  for (;;) {
    uint32_t seen = atomic_load_explicit(word, memory_order_acquire);
    if (tpf_reached(seen, target)) return TPF_OK;
    int failed = atomic_load_explicit(w->failed, memory_order_acquire);
    if (failed != TPF_OK) return (tpf_status_t)failed;
    int64_t now = tpf_now_ns();
    if (now >= deadline) return TPF_ERR_TIMEOUT;
    if (now - start < w->spin_ns) {
      /* Yield now and then so that more ranks than cores still progress;
       * between looks, pause: a spinner on the poster's sibling hardware
       * thread leaves it the core. */
      if (++spins % 64 == 0) sched_yield();
      else cpu_relax();
      continue;
    }
    if (check) {
      tpf_status_t s = check(arg, peer);
      /* the peer may have posted the word and then exited (its last call
       * done) since the look above: the word decides */
      if (s != TPF_OK) return tpf_reached(atomic_load_explicit(word, memory_order_acquire), target) ? TPF_OK : s;
    }
    /* Announce the sleep, then look once more: a poster that stored before
     * our look is seen here, one that stores after it sees us sleeping (or
     * changes the word, so the futex does not sleep at all). */
    atomic_fetch_add(w->sleepers, 1);
    seen = atomic_load(word);
    if (!tpf_reached(seen, target)) {
      int64_t slice = deadline - now < SLEEP_SLICE_NS ? deadline - now : SLEEP_SLICE_NS;
      futex_wait(w, word, seen, slice);
    }
    atomic_fetch_sub(w->sleepers, 1);
  }
}

void tpf_post(const tpf_waiter_t *w, _Atomic uint32_t *word, uint32_t value) {
  atomic_store(word, value);
  if (atomic_load(w->sleepers) != 0) futex_wake(w, word);
}

void tpf_wake_all(const tpf_waiter_t *w, _Atomic uint32_t *word) { futex_wake(w, word); }
