/* The thread transport: ranks are threads of one process, so a peer's
 * buffer is simply its pointer and counters are atomics in one shared
 * group. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "regions.h"
#include "transport.h"
#include "wait.h"

/* What one rank publishes; counters on their own cache lines so that a
 * poster does not slow down the spinners of another word. */
typedef struct rank_state {
  _Alignas(64) _Atomic uint32_t arrived; /* exchanges entered */
  _Alignas(64) _Atomic uint32_t counters[TPF_COUNTER_COUNT];
  _Alignas(64) void *_Atomic buffer;
  size_t capacity;
  /* Two record slots, by exchange parity: a rank can be at most one
   * exchange ahead of a peer that still reads the previous records. */
  unsigned char records[2][TPF_EXCHANGE_MAX_BYTES];
} rank_state_t;

typedef struct group {
  int size;
  _Atomic int live_endpoints;
  _Atomic int failed;       /* TPF_OK while healthy; set once fail_why is written */
  _Atomic int fail_claimed; /* the first failure claims the words */
  char fail_why[600];
  _Atomic uint32_t sleepers;
  tpf_waiter_t waiter;
  rank_state_t *ranks;
} group_t;

typedef struct thread_endpoint {
  tpf_endpoint_t base;
  group_t *group;
  uint32_t exchanges; /* exchanges this rank has completed */
  tpf_regions_t own;  /* memory made by share() */
} thread_endpoint_t;

static thread_endpoint_t *self(tpf_endpoint_t *ep) { return (thread_endpoint_t *)ep; }

/* The group's failure. A failure another rank has claimed gets its status
 * right after its words: wait for it a moment (as shm.c does), or two
 * ranks that time out together could see the loser's claim fail, read
 * TPF_OK, and go on as if the peer had arrived. */
static tpf_status_t failure(group_t *g) {
  int status = atomic_load(&g->failed);
  for (int64_t until = tpf_now_ns() + 100000000; status == TPF_OK && atomic_load(&g->fail_claimed) &&
                                                 tpf_now_ns() < until;
       status = atomic_load(&g->failed))
    sched_yield();
  return tpf_record(status == TPF_OK ? TPF_ERR_PEER : (tpf_status_t)status, "%s", g->fail_why);
}

/* Async-signal-safe: the first failure writes its words, then its status
 * (so a rank that sees the status reads the words), and every waiter is
 * woken. 1 if this one was the first. */
static int claim_failure(group_t *g, tpf_status_t status, const char *why) {
  int unclaimed = 0, first = atomic_compare_exchange_strong(&g->fail_claimed, &unclaimed, 1);
  if (first) {
    tpf_text_copy(g->fail_why, sizeof g->fail_why, why);
    atomic_store(&g->failed, (int)status);
  }
  for (int q = 0; q < g->size; q++) {
    tpf_wake_all(&g->waiter, &g->ranks[q].arrived);
    for (int c = 0; c < TPF_COUNTER_COUNT; c++)
      tpf_wake_all(&g->waiter, &g->ranks[q].counters[c]);
  }
  return first;
}

static void group_fail(group_t *g, tpf_status_t status, const char *why) {
  if (claim_failure(g, status, why)) tpf_log(TPF_LOG_WARN, "%s: %s", tpf_status_string(status), why);
}

static const char *const counter_names[TPF_COUNTER_COUNT] = {"a chunk", "a consumed chunk"};

/* Waits on a peer's word; a timeout fails the whole group, so that every
 * rank stops instead of waiting out its own timeout in turn. */
static tpf_status_t wait_word(thread_endpoint_t *me, int q, _Atomic uint32_t *word,
                              uint32_t target, const char *what) {
  group_t *g = me->group;
  tpf_status_t s = tpf_wait_until(&g->waiter, word, target, NULL, NULL, q);
  if (s == TPF_OK) return TPF_OK;
  if (s == TPF_ERR_TIMEOUT) {
    char why[400];
    snprintf(why, sizeof why, "rank %d waited %lld ms for rank %d (%s) and gave up", me->base.rank,
             (long long)(g->waiter.timeout_ns / 1000000), q, what);
    group_fail(g, TPF_ERR_TIMEOUT, why);
  }
  return failure(g);
}

static tpf_status_t t_exchange(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes) {
  thread_endpoint_t *me = self(ep);
  group_t *g = me->group;
  if (bytes > TPF_EXCHANGE_MAX_BYTES)
    return tpf_fail(TPF_ERR_INTERNAL, "exchange of %zu bytes exceeds %d", bytes,
                    TPF_EXCHANGE_MAX_BYTES);
  if (atomic_load(&g->failed) != TPF_OK) return failure(g);
  uint32_t round = me->exchanges + 1;
  int parity = (int)(round & 1u);
  memcpy(g->ranks[ep->rank].records[parity], mine, bytes);
  tpf_post(&g->waiter, &g->ranks[ep->rank].arrived, round);
  for (int q = 0; q < g->size; q++) {
    tpf_status_t s = wait_word(me, q, &g->ranks[q].arrived, round, "to enter the same call");
    if (s != TPF_OK) return s;
    memcpy((char *)all + (size_t)q * bytes, g->ranks[q].records[parity], bytes);
  }
  me->exchanges = round;
  return TPF_OK;
}

static tpf_status_t t_reserve(tpf_endpoint_t *ep, size_t bytes) {
  rank_state_t *r = &self(ep)->group->ranks[ep->rank];
  if (bytes <= r->capacity) return TPF_OK;
  void *old = atomic_load(&r->buffer);
  void *grown = old;
  size_t capacity = r->capacity;
  tpf_status_t s = tpf_buffer_reserve(&grown, &capacity, bytes, "the rank's shared buffer");
  if (s != TPF_OK) return s;
  atomic_store(&r->buffer, grown);
  r->capacity = capacity;
  return TPF_OK;
}

static void *t_buffer(tpf_endpoint_t *ep, int q) {
  return atomic_load(&self(ep)->group->ranks[q].buffer);
}

static void t_post(tpf_endpoint_t *ep, tpf_counter_t counter, uint32_t value) {
  group_t *g = self(ep)->group;
  tpf_post(&g->waiter, &g->ranks[ep->rank].counters[counter], value);
}

static int t_test(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  return tpf_reached(atomic_load_explicit(&self(ep)->group->ranks[q].counters[counter], memory_order_acquire), value);
}

static tpf_status_t t_wait(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  thread_endpoint_t *me = self(ep);
  return wait_word(me, q, &me->group->ranks[q].counters[counter], value, counter_names[counter]);
}

static void t_fail(tpf_endpoint_t *ep, tpf_status_t status, const char *why) {
  group_fail(self(ep)->group, status, why);
}

static void t_abort(tpf_endpoint_t *ep, const char *why) { claim_failure(self(ep)->group, TPF_ERR_ABORTED, why); }

static tpf_status_t t_health(tpf_endpoint_t *ep) {
  group_t *g = self(ep)->group;
  return atomic_load(&g->failed) == TPF_OK ? TPF_OK : failure(g);
}

static void group_free(group_t *g) {
  for (int q = 0; q < g->size; q++) tpf_free(atomic_load(&g->ranks[q].buffer));
  tpf_free(g->ranks);
  free(g);
}

static void free_endpoint(thread_endpoint_t *me) {
  tpf_regions_free_private(&me->own);
  free(me);
}

static void t_destroy(tpf_endpoint_t *ep) {
  thread_endpoint_t *me = self(ep);
  group_t *g = me->group;
  free_endpoint(me);
  if (atomic_fetch_sub(&g->live_endpoints, 1) == 1) group_free(g);
}

/* Ranks share one address space: a peer's memory is simply there, and
 * memory to share is any memory. */
static const void *t_peer_memory(tpf_endpoint_t *ep, int q, uintptr_t addr, size_t bytes) {
  (void)ep, (void)q, (void)bytes;
  return (const void *)addr;
}

static tpf_status_t t_share(tpf_endpoint_t *ep, size_t bytes, void **mine) {
  return tpf_regions_share_private(ep, &self(ep)->own, bytes, mine);
}

static size_t t_shared_bytes(tpf_endpoint_t *ep, const void *mine) {
  return tpf_regions_own_bytes(&self(ep)->own, ep->rank, mine);
}

static tpf_status_t t_unshare(tpf_endpoint_t *ep, void *mine) {
  return tpf_regions_unshare_private(ep, &self(ep)->own, mine);
}

static const tpf_transport_t threads_transport = {
    .name = "threads",
    .exchange = t_exchange,
    .reserve = t_reserve,
    .buffer = t_buffer,
    .post = t_post,
    .test = t_test,
    .wait = t_wait,
    .fail = t_fail,
    .abort = t_abort,
    .health = t_health,
    .destroy = t_destroy,
    .peer_memory = t_peer_memory,
    .share = t_share,
    .shared_bytes = t_shared_bytes,
    .unshare = t_unshare,
};

tpf_status_t tpf_transport_threads_create(int size, const tpf_transport_config_t *cfg,
                                          tpf_endpoint_t **eps) {
  group_t *g = calloc(1, sizeof *g);
  rank_state_t *ranks = tpf_alloc(sizeof(rank_state_t) * (size_t)size);
  thread_endpoint_t **made = calloc((size_t)size, sizeof *made);
  int ok = g && ranks && made;
  for (int q = 0; ok && q < size; q++)
    ok = (made[q] = calloc(1, sizeof *made[q])) != NULL && tpf_regions_init(&made[q]->own, size) == TPF_OK;
  if (!ok) {
    for (int q = 0; made && q < size; q++)
      if (made[q]) free_endpoint(made[q]);
    free(made);
    tpf_free(ranks);
    free(g);
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate a thread group of %d ranks", size);
  }
  g->size = size;
  g->ranks = ranks;
  atomic_init(&g->live_endpoints, size);
  atomic_init(&g->failed, TPF_OK);
  g->waiter = (tpf_waiter_t){cfg->spin_ns, cfg->timeout_ns, &g->failed, &g->sleepers, 0};
  for (int q = 0; q < size; q++) {
    made[q]->base = (tpf_endpoint_t){&threads_transport, q, size, TPF_PEER_READS_IN_PLACE};
    made[q]->group = g;
    eps[q] = &made[q]->base;
  }
  free(made);
  return TPF_OK;
}
