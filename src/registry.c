#include "registry.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "common/status.h"

enum { IDLE = 0, IN_CALL = 1 };

/* Writers (add, remove, enter) hold the lock; tpf_registry_hold reads the
 * list without it, counted in `holders`, and remove frees nothing until
 * they are gone. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static tpf_comm_t *_Atomic live;
static _Atomic int holders;
static _Atomic unsigned forks;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In the child of a fork only the forking thread exists: a lock another
 * thread held stays held. Start afresh. */
static void after_fork_in_child(void) {
  pthread_mutex_init(&lock, NULL);
  atomic_store(&holders, 0);
  atomic_fetch_add(&forks, 1);
}

static void watch_forks(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

unsigned tpf_fork_generation(void) {
  pthread_once(&atfork_once, watch_forks);
  return atomic_load(&forks);
}

void tpf_registry_add(tpf_comm_t *comm) {
  comm->fork_generation = tpf_fork_generation();
  atomic_init(&comm->state, IDLE);
  pthread_mutex_lock(&lock);
  atomic_store_explicit(&comm->next_live, atomic_load(&live), memory_order_relaxed);
  atomic_store_explicit(&live, comm, memory_order_release);
  pthread_mutex_unlock(&lock);
}

/* (Sequentially consistent loads: a lookup that starts after remove's
 * unlink, as `holders` orders them, cannot reach the unlinked one.) */
static int member(const tpf_comm_t *comm) {
  for (tpf_comm_t *c = atomic_load(&live); c; c = atomic_load(&c->next_live))
    if (c == comm) return 1;
  return 0;
}

static tpf_status_t refuse_inherited(const tpf_comm_t *comm, const char *doing) {
  return tpf_fail(TPF_ERR_INVALID, "communicator %s was made before this process (pid %d) was forked from its "
                  "maker: a forked child cannot %s it; make new communicators in the child",
                  comm->name, (int)getpid(), doing);
}

tpf_status_t tpf_registry_enter(tpf_comm_t *comm) {
  if (!comm) return tpf_fail(TPF_ERR_INVALID, "comm is NULL");
  tpf_status_t s = TPF_OK;
  pthread_mutex_lock(&lock);
  int idle = IDLE;
  if (!member(comm))
    s = tpf_fail(TPF_ERR_INVALID, "comm %p is not a live communicator (destroyed, or never made)",
                 (const void *)comm);
  else if (comm->fork_generation != tpf_fork_generation())
    s = refuse_inherited(comm, "use");
  else if (!atomic_compare_exchange_strong(&comm->state, &idle, IN_CALL))
    s = tpf_fail(TPF_ERR_INVALID, "communicator %s (rank %d) is already in a call on another thread: one call "
                 "at a time per rank", comm->name, comm->rank);
  pthread_mutex_unlock(&lock);
  return s;
}

void tpf_registry_leave(tpf_comm_t *comm) { atomic_store(&comm->state, IDLE); }

tpf_status_t tpf_registry_remove(tpf_comm_t *comm, int *inherited) {
  tpf_status_t s = TPF_OK;
  pthread_mutex_lock(&lock);
  tpf_comm_t *_Atomic *at = &live;
  for (tpf_comm_t *c; (c = atomic_load(at)) && c != comm;) at = &c->next_live;
  if (!atomic_load(at)) {
    s = tpf_fail(TPF_ERR_INVALID, "comm %p is not a live communicator (destroyed twice?)", (void *)comm);
  } else if (atomic_load(&comm->state) != IDLE && comm->fork_generation == tpf_fork_generation()) {
    s = tpf_fail(TPF_ERR_INVALID, "communicator %s (rank %d) is in a call: destroy it after the call returns",
                 comm->name, comm->rank);
  } else {
    atomic_store(at, atomic_load(&comm->next_live));
    *inherited = comm->fork_generation != tpf_fork_generation();
  }
  pthread_mutex_unlock(&lock);
  while (s == TPF_OK && atomic_load(&holders) != 0) sched_yield();
  return s;
}

int tpf_registry_contains(const tpf_comm_t *comm) {
  pthread_mutex_lock(&lock);
  int found = member(comm);
  pthread_mutex_unlock(&lock);
  return found;
}

tpf_comm_t *tpf_registry_find(const char *name) {
  tpf_comm_t *hit = NULL;
  pthread_mutex_lock(&lock);
  for (tpf_comm_t *c = atomic_load(&live); c && !hit; c = atomic_load(&c->next_live))
    if (strcmp(c->name, name) == 0) hit = c;
  pthread_mutex_unlock(&lock);
  return hit;
}

int tpf_registry_hold(const tpf_comm_t *comm) {
  atomic_fetch_add(&holders, 1);
  if (comm && member(comm) && comm->fork_generation == atomic_load(&forks)) return 1;
  atomic_fetch_sub(&holders, 1);
  return 0;
}

void tpf_registry_release(void) { atomic_fetch_sub(&holders, 1); }
