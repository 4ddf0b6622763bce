/* The shared-memory transport: ranks are processes on one host.
 *
 * Segments are files in a tmpfs directory (TPF_SHM_DIR, default /dev/shm),
 * mode 0600, named after the id's 128 random bits (unguessable), their space
 * reserved with posix_fallocate so that a full tmpfs is a clear error here
 * instead of SIGBUS later, and unlinked as soon as every rank has mapped
 * them, so that nothing is left behind even after kill -9.
 *
 *  - The control segment "tpf-<hex>": a header (failure status and words,
 *    sleepers) and per rank: pid, the exchange counter and records, progress
 *    counters, and the name of its buffer. Rank 0 makes it; every rank
 *    claims its slot by its pid (a slot claimed twice, or a second rank 0,
 *    means two communicators were started with one id: the group fails
 *    with words); the name goes once all have attached and a short settling
 *    time since rank 0 made it has passed, so that the ranks of a second
 *    job started at once with the same id find it and fail.
 *  - Per rank, a data buffer "tpf-<hex>-<rank>-<generation>-<random>", made
 *    by its owner when a call needs more room; the random part (published in
 *    the header, and announced before the file is made, so that the others
 *    can remove it if its owner dies) keeps other users from guessing the
 *    name ahead. Peers map it at the next exchange, which then has a second
 *    round so that every rank can unlink the name.
 *  - Per rank and tpf_mem_alloc call, the memory it shares
 *    "tpf-<hex>-m<rank>-<serial>-<random>": every rank makes its part, all map
 *    all (peers read-only), and the names go once everyone has.
 *
 * A segment is mapped only if it is a regular file of this user, mode 0600
 * and as large as announced (no link is followed): another user's file in a
 * shared directory, or a short one, is refused with words rather than
 * crashing the rank with SIGBUS.
 *
 * Waits sleep on process-shared futexes; between sleeps they look at the
 * peer they wait for through a pidfd, so a dead peer is noticed within
 * milliseconds, not at the timeout. (Reading peers' own memory with
 * process_vm_readv instead was slower than the copy: docs/performance.md.) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bootstrap.h"
#include "regions.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "transport.h"
#include "wait.h"

enum { SEGMENT_ALIGN = 2 << 20 }; /* buffers grow in steps of 2 MiB */
enum { DIR_BYTES = 256, STEM_BYTES = 48, PATH_BYTES = DIR_BYTES + STEM_BYTES + 64 };
/* Ranks return from init no sooner than this after rank 0 made the control
 * segment, whose name stays until then: the ranks of a second job started
 * at the same moment with the same id find it and fail the group. */
enum { SETTLE_NS = 20 * 1000 * 1000 };
static const uint64_t CONTROL_MAGIC = 0x74706673686d3031ull;

typedef struct shm_rank {
  _Alignas(64) _Atomic uint32_t arrived;
  _Alignas(64) _Atomic uint32_t counters[TPF_COUNTER_COUNT];
  _Alignas(64) _Atomic int32_t pid; /* claimed once, by the rank's process */
  _Atomic uint32_t buffer_generation;
  uint64_t buffer_nonce; /* the random part of its name */
  _Atomic uint64_t buffer_bytes;
  /* The segments it is about to make, announced before the file exists:
   * if the rank dies, a survivor removes them. */
  uint32_t pending_generation, pending_region_serial;
  uint64_t pending_nonce, pending_region_nonce;
  unsigned char records[2][TPF_EXCHANGE_MAX_BYTES];
  /* The buffer as it was when the rank entered the exchange of each record
   * slot: a rank that has left an exchange may already grow its buffer for
   * the next call while a slower peer still reads this exchange. */
  uint32_t record_generation[2];
  uint64_t record_nonce[2];
  uint64_t record_bytes[2];
} shm_rank_t;

typedef struct shm_header {
  _Atomic uint64_t magic;
  int32_t world_size;
  _Atomic int failed;
  _Atomic int fail_claimed;
  _Atomic uint32_t attached;
  _Atomic uint32_t sleepers;
  int64_t created_ns; /* CLOCK_MONOTONIC: shared by the processes of a host */
  char fail_why[600];
  _Alignas(64) shm_rank_t ranks[];
} shm_header_t;

typedef struct peer_view {
  void *buffer;
  size_t bytes;
  uint32_t generation; /* of the buffer mapped here */
  uint64_t nonce;
  int pidfd;           /* -1: none (kill(pid, 0) is used) */
  pid_t pid;
} peer_view_t;

typedef struct shm_endpoint {
  tpf_endpoint_t base;
  shm_header_t *hdr;
  size_t hdr_bytes;
  tpf_waiter_t waiter;
  char dir[DIR_BYTES], stem[STEM_BYTES];
  uint32_t exchanges;
  peer_view_t *peers;           /* size entries; peers[rank] is this rank's own */
  uint32_t unlinked_generation; /* own buffer generations up to this are unlinked */
  tpf_regions_t regions;        /* every rank's shared memory, as mapped here */
  uint32_t region_serial;       /* share() calls so far, the same on every rank */
} shm_endpoint_t;

static shm_endpoint_t *self(tpf_endpoint_t *ep) { return (shm_endpoint_t *)ep; }

static size_t control_bytes(int size) {
  size_t bytes = sizeof(shm_header_t) + (size_t)size * sizeof(shm_rank_t);
  return (bytes + 4095) / 4096 * 4096;
}

static void control_path(const shm_endpoint_t *me, char *path, size_t size) {
  snprintf(path, size, "%s/%s", me->dir, me->stem);
}

static void segment_path(const shm_endpoint_t *me, char *path, size_t size, int rank, uint32_t gen, uint64_t nonce) {
  snprintf(path, size, "%s/%s-%d-%u-%016llx", me->dir, me->stem, rank, gen, (unsigned long long)nonce);
}

static void region_path(const shm_endpoint_t *me, char *path, size_t size, int rank, uint32_t serial,
                        uint64_t nonce) {
  snprintf(path, size, "%s/%s-m%d-%u-%016llx", me->dir, me->stem, rank, serial, (unsigned long long)nonce);
}

static uint64_t random_nonce(void) {
  uint64_t x = 0;
  if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x) x ^= (uint64_t)tpf_now_ns() * 0x9e3779b97f4a7c15ull;
  return x;
}

/* ------------------------------------------------------------- failures */

/* The group's failure, with the words a peer wrote (checked: the header
 * is shared with other processes). */
static tpf_status_t failure(shm_endpoint_t *me) {
  /* a failure another rank has claimed gets its status right after its
   * words: wait for it a moment (up to 100 ms: its claimer may have died) */
  int status = atomic_load(&me->hdr->failed);
  for (int64_t until = tpf_now_ns() + 100000000; status == TPF_OK && atomic_load(&me->hdr->fail_claimed) &&
                                                 tpf_now_ns() < until;
       status = atomic_load(&me->hdr->failed))
    sched_yield();
  return tpf_record(status == TPF_OK ? TPF_ERR_PEER : tpf_status_checked(status), "%.*s",
                    (int)sizeof me->hdr->fail_why - 1, me->hdr->fail_why);
}

static void wake_everyone(shm_endpoint_t *me) {
  for (int q = 0; q < me->base.size; q++) {
    tpf_wake_all(&me->waiter, &me->hdr->ranks[q].arrived);
    for (int c = 0; c < TPF_COUNTER_COUNT; c++) tpf_wake_all(&me->waiter, &me->hdr->ranks[q].counters[c]);
  }
}

/* Async-signal-safe: the first failure writes its words, then its status,
 * and every waiter is woken. 1 if this one was the first. */
static int claim_failure(shm_endpoint_t *me, tpf_status_t status, const char *why) {
  int unclaimed = 0, first = atomic_compare_exchange_strong(&me->hdr->fail_claimed, &unclaimed, 1);
  if (first) {
    tpf_text_copy(me->hdr->fail_why, sizeof me->hdr->fail_why, why);
    atomic_store(&me->hdr->failed, (int)status);
  }
  wake_everyone(me);
  return first;
}

static void group_fail(shm_endpoint_t *me, tpf_status_t status, const char *why) {
  if (claim_failure(me, status, why)) tpf_log(TPF_LOG_WARN, "%s: %s", tpf_status_string(status), why);
}

/* Removes the names of every segment rank q has made or was about to make
 * and that may still have one (q died; nobody maps them any more). */
static void remove_segments_of(shm_endpoint_t *me, int q) {
  const shm_rank_t *r = &me->hdr->ranks[q];
  char path[PATH_BYTES];
  segment_path(me, path, sizeof path, q, r->pending_generation, r->pending_nonce);
  unlink(path);
  segment_path(me, path, sizeof path, q, atomic_load(&r->buffer_generation), r->buffer_nonce);
  unlink(path);
  region_path(me, path, sizeof path, q, r->pending_region_serial, r->pending_region_nonce);
  unlink(path);
}

/* A peer that has exited (a zombie counts as exited). */
static int peer_is_dead(const peer_view_t *p) {
  if (p->pidfd >= 0) {
    struct pollfd pfd = {p->pidfd, POLLIN, 0};
    return poll(&pfd, 1, 0) > 0;
  }
  return p->pid > 0 && kill(p->pid, 0) != 0 && errno == ESRCH;
}

static tpf_status_t check_peer(void *arg, int q) {
  shm_endpoint_t *me = arg;
  if (q == me->base.rank || !peer_is_dead(&me->peers[q])) return TPF_OK;
  char why[200];
  snprintf(why, sizeof why, "rank %d (pid %d) died; rank %d noticed while waiting for it", q,
           (int)me->peers[q].pid, me->base.rank);
  remove_segments_of(me, q);
  group_fail(me, TPF_ERR_PEER, why);
  return TPF_ERR_PEER;
}

/* Whether q has exited (no side effects: the wait looks again first). */
static tpf_status_t peer_gone(void *arg, int q) {
  shm_endpoint_t *me = arg;
  return q != me->base.rank && peer_is_dead(&me->peers[q]) ? TPF_ERR_PEER : TPF_OK;
}

static tpf_status_t wait_word(shm_endpoint_t *me, int q, _Atomic uint32_t *word, uint32_t target,
                              const char *what) {
  tpf_status_t s = tpf_wait_until(&me->waiter, word, target, peer_gone, me, q);
  if (s == TPF_OK) return TPF_OK;
  if (s == TPF_ERR_PEER) check_peer(me, q); /* remove what it left; fail the group in words */
  if (s == TPF_ERR_TIMEOUT) {
    char why[400];
    snprintf(why, sizeof why, "rank %d waited %lld ms for rank %d (%s) and gave up", me->base.rank,
             (long long)(me->waiter.timeout_ns / 1000000), q, what);
    group_fail(me, TPF_ERR_TIMEOUT, why);
  }
  return failure(me);
}

/* ------------------------------------------------------------- segments */

/* Creates and maps a new segment of `bytes`, its space reserved. A name
 * that exists already is TPF_ERR_SYSTEM with errno EEXIST left set. */
static tpf_status_t make_segment(const char *path, size_t bytes, void **map) {
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    tpf_status_t s = tpf_fail(TPF_ERR_SYSTEM, "could not create shared memory %s: %s", path, strerror(err));
    errno = err;
    return s;
  }
  int err = posix_fallocate(fd, 0, (off_t)bytes);
  if (err) {
    close(fd);
    unlink(path);
    return tpf_fail(err == ENOSPC ? TPF_ERR_NOMEM : TPF_ERR_SYSTEM,
                    "could not reserve %zu KiB of shared memory in %s: %s%s", bytes / 1024, path, strerror(err),
                    err == ENOSPC ? " (the tmpfs is full or too small: make it larger, or set TPF_SHM_DIR)" : "");
  }
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    unlink(path);
    return tpf_fail(TPF_ERR_SYSTEM, "could not map %s: %s", path, strerror(errno));
  }
  *map = p;
  return TPF_OK;
}

/* Maps an existing segment of `bytes` (read-only unless `writable`): only
 * a regular file of this user, mode 0600, at least that large; no link is
 * followed (a short file would kill the rank with SIGBUS when touched). */
static tpf_status_t map_segment(const char *path, size_t bytes, int writable, void **map) {
  int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ELOOP) return tpf_fail(TPF_ERR_SYSTEM, "refused to map %s: it is a symbolic link", path);
  if (fd < 0) return tpf_fail(TPF_ERR_SYSTEM, "could not open shared memory %s: %s", path, strerror(errno));
  struct stat st = {0};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0600 ||
      (uint64_t)st.st_size < (uint64_t)bytes) {
    close(fd);
    return tpf_fail(TPF_ERR_SYSTEM, "refused to map %s: not a regular file of this user with mode 0600 and %zu "
                    "bytes (found mode %o, owner %d, %lld bytes)", path, bytes, (unsigned)(st.st_mode & 07777),
                    (int)st.st_uid, (long long)st.st_size);
  }
  void *p = mmap(NULL, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return tpf_fail(TPF_ERR_SYSTEM, "could not map %s: %s", path, strerror(errno));
  *map = p;
  return TPF_OK;
}

/* Touches every page once, so that the first use on a hot path does not
 * fault (writing for our own buffer, reading for a peer's). */
static void touch_pages(void *p, size_t bytes, int write) {
  volatile char *c = p;
  for (size_t at = 0; at < bytes; at += 4096) {
    if (write) c[at] = 0;
    else (void)c[at];
  }
}

/* -------------------------------------------------------------- the table */

/* Removes the names of the buffers an exchange brought (every rank does,
 * whoever comes first): once all have mapped them, or the group failed.
 * The names are those this rank read, not the record slots again: a
 * faster rank may already write its next exchange's record there. */
static void unlink_new_buffers(shm_endpoint_t *me) {
  for (int q = 0; q < me->base.size; q++) {
    char path[PATH_BYTES];
    segment_path(me, path, sizeof path, q, me->peers[q].generation, me->peers[q].nonce);
    unlink(path);
  }
}

static tpf_status_t s_exchange(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes) {
  shm_endpoint_t *me = self(ep);
  shm_header_t *h = me->hdr;
  if (bytes > TPF_EXCHANGE_MAX_BYTES)
    return tpf_fail(TPF_ERR_INTERNAL, "exchange of %zu bytes exceeds %d", bytes, TPF_EXCHANGE_MAX_BYTES);
  if (atomic_load(&h->failed) != TPF_OK) return failure(me);
  uint32_t round = me->exchanges + 1;
  shm_rank_t *own = &h->ranks[ep->rank];
  memcpy(own->records[round & 1u], mine, bytes);
  own->record_generation[round & 1u] = atomic_load(&own->buffer_generation);
  own->record_nonce[round & 1u] = own->buffer_nonce;
  own->record_bytes[round & 1u] = atomic_load(&own->buffer_bytes);
  tpf_post(&me->waiter, &own->arrived, round); /* (a release: the slot is written) */
  int remapped = 0;
  tpf_status_t s = TPF_OK;
  for (int q = 0; q < ep->size && s == TPF_OK; q++) {
    if ((s = wait_word(me, q, &h->ranks[q].arrived, round, "to enter the same call")) != TPF_OK) break;
    const shm_rank_t *r = &h->ranks[q];
    memcpy((char *)all + (size_t)q * bytes, r->records[round & 1u], bytes);
    uint32_t gen = r->record_generation[round & 1u];
    uint64_t nonce = r->record_nonce[round & 1u];
    if (gen == me->peers[q].generation && nonce == me->peers[q].nonce) continue;
    remapped = 1;
    if (q != ep->rank) { /* map the peer's new buffer */
      char path[PATH_BYTES];
      size_t size = (size_t)r->record_bytes[round & 1u];
      void *map;
      segment_path(me, path, sizeof path, q, gen, nonce);
      if ((s = map_segment(path, size, 1, &map)) != TPF_OK) {
        group_fail(me, s, tpf_last_error());
        break;
      }
      touch_pages(map, size, 0);
      if (me->peers[q].buffer) munmap(me->peers[q].buffer, me->peers[q].bytes);
      me->peers[q].buffer = map;
      me->peers[q].bytes = size;
    }
    me->peers[q].generation = gen;
    me->peers[q].nonce = nonce;
  }
  if (s == TPF_OK && remapped) {
    /* A second round: once everyone has mapped the new buffers, the names
     * go (and after a failure at once: nobody will map them). */
    tpf_post(&me->waiter, &h->ranks[ep->rank].arrived, round + 1);
    for (int q = 0; q < ep->size && s == TPF_OK; q++)
      s = wait_word(me, q, &h->ranks[q].arrived, round + 1, "to map the new buffers");
  }
  if (remapped || s != TPF_OK) unlink_new_buffers(me);
  if (s != TPF_OK) return s;
  if (remapped) me->unlinked_generation = me->peers[ep->rank].generation;
  me->exchanges = round + (uint32_t)remapped;
  return TPF_OK;
}

/* Makes a segment whose name ends in a fresh random part, announced in
 * *pending_nonce before the file exists (so that a survivor can remove it
 * if this rank dies); a name another process made first gets another. */
static tpf_status_t make_named(shm_endpoint_t *me, int region, uint32_t serial, uint64_t *pending_nonce,
                               size_t bytes, uint64_t *nonce, void **map) {
  for (int attempt = 0;; attempt++) {
    char path[PATH_BYTES];
    *pending_nonce = *nonce = random_nonce();
    if (region) region_path(me, path, sizeof path, me->base.rank, serial, *nonce);
    else segment_path(me, path, sizeof path, me->base.rank, serial, *nonce);
    tpf_status_t s = make_segment(path, bytes, map);
    if (s == TPF_OK || errno != EEXIST || attempt == 7) return s;
  }
}

static tpf_status_t s_reserve(tpf_endpoint_t *ep, size_t bytes) {
  shm_endpoint_t *me = self(ep);
  peer_view_t *own = &me->peers[ep->rank];
  shm_rank_t *slot = &me->hdr->ranks[ep->rank];
  if (bytes <= own->bytes) return TPF_OK;
  if (bytes > SIZE_MAX - SEGMENT_ALIGN)
    return tpf_fail(TPF_ERR_NOMEM, "a buffer of %zu bytes cannot be made", bytes);
  size_t size = (bytes + SEGMENT_ALIGN - 1) / SEGMENT_ALIGN * SEGMENT_ALIGN;
  uint32_t gen = atomic_load(&slot->buffer_generation) + 1;
  slot->pending_generation = gen;
  uint64_t nonce;
  void *map;
  tpf_status_t s = make_named(me, 0, gen, &slot->pending_nonce, size, &nonce, &map);
  if (s != TPF_OK) return s;
  touch_pages(map, size, 1);
  /* A buffer made for a call that then failed before its exchange. */
  if (me->unlinked_generation + 1 < gen) {
    char old[PATH_BYTES];
    segment_path(me, old, sizeof old, ep->rank, gen - 1, slot->buffer_nonce);
    unlink(old);
  }
  if (own->buffer) munmap(own->buffer, own->bytes);
  own->buffer = map;
  own->bytes = size;
  slot->buffer_nonce = nonce;
  atomic_store(&slot->buffer_bytes, (uint64_t)size);
  atomic_store(&slot->buffer_generation, gen);
  return TPF_OK;
}

static void *s_buffer(tpf_endpoint_t *ep, int q) { return self(ep)->peers[q].buffer; }

static void s_post(tpf_endpoint_t *ep, tpf_counter_t counter, uint32_t value) {
  shm_endpoint_t *me = self(ep);
  tpf_post(&me->waiter, &me->hdr->ranks[ep->rank].counters[counter], value);
}

static const char *const counter_names[TPF_COUNTER_COUNT] = {"a chunk", "a consumed chunk"};

static int s_test(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  return tpf_reached(atomic_load_explicit(&self(ep)->hdr->ranks[q].counters[counter], memory_order_acquire), value);
}

static tpf_status_t s_wait(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  shm_endpoint_t *me = self(ep);
  return wait_word(me, q, &me->hdr->ranks[q].counters[counter], value, counter_names[counter]);
}

static void s_fail(tpf_endpoint_t *ep, tpf_status_t status, const char *why) {
  group_fail(self(ep), status, why);
}

static void s_abort(tpf_endpoint_t *ep, const char *why) { claim_failure(self(ep), TPF_ERR_ABORTED, why); }

static tpf_status_t s_health(tpf_endpoint_t *ep) {
  shm_endpoint_t *me = self(ep);
  return atomic_load(&me->hdr->failed) == TPF_OK ? TPF_OK : failure(me);
}

static tpf_status_t s_check(tpf_endpoint_t *ep, int q) {
  shm_endpoint_t *me = self(ep);
  tpf_status_t s = s_health(ep);
  if (s == TPF_OK && check_peer(me, q) != TPF_OK) s = failure(me);
  return s;
}

/* Removes the names of every rank's memory of share() call `serial`
 * (after a failure: whoever made theirs, nothing stays behind). */
static void unlink_regions(shm_endpoint_t *me, uint32_t serial) {
  for (int q = 0; q < me->base.size; q++) {
    char path[PATH_BYTES];
    region_path(me, path, sizeof path, q, serial, me->hdr->ranks[q].pending_region_nonce);
    unlink(path);
  }
}

static tpf_status_t s_share(tpf_endpoint_t *ep, size_t bytes, void **mine) {
  shm_endpoint_t *me = self(ep);
  shm_rank_t *slot = &me->hdr->ranks[ep->rank];
  const uint32_t serial = ++me->region_serial;
  const size_t size = (bytes + 4095) / 4096 * 4096;
  char path[PATH_BYTES];
  void *own = NULL;
  uint64_t nonce = 0;
  slot->pending_region_serial = serial;
  tpf_status_t s = tpf_regions_reserve(&me->regions, ep->size);
  if (s == TPF_OK && (s = make_named(me, 1, serial, &slot->pending_region_nonce, size, &nonce, &own)) == TPF_OK)
    touch_pages(own, size, 1);
  if ((s = tpf_regions_agree(ep, &me->regions, s, (uintptr_t)own, size)) != TPF_OK) {
    if (own) munmap(own, size);
    unlink_regions(me, serial);
    return s;
  }
  const tpf_region_record_t *all = me->regions.records;
  int mapped = 0;
  for (int q = 0; q < ep->size && s == TPF_OK; q++) {
    void *map = own;
    if (q != ep->rank) {
      region_path(me, path, sizeof path, q, serial, me->hdr->ranks[q].pending_region_nonce);
      if ((s = map_segment(path, (size_t)all[q].bytes, 0, &map)) != TPF_OK) break;
      touch_pages(map, (size_t)all[q].bytes, 0);
    }
    tpf_regions_add(&me->regions, (tpf_region_t){q, (uintptr_t)all[q].addr, (size_t)all[q].bytes, map});
    mapped++;
  }
  /* A second round: once every rank has mapped every part, the names go. */
  unsigned char none = 0;
  if (s != TPF_OK) group_fail(me, s, tpf_last_error());
  else s = s_exchange(ep, &none, me->regions.records, sizeof none);
  unlink_regions(me, serial);
  if (s != TPF_OK) { /* the group has failed: keep the mappings for destroy */
    if (mapped <= ep->rank) munmap(own, size);
    return s;
  }
  *mine = own;
  return TPF_OK;
}

static size_t s_shared_bytes(tpf_endpoint_t *ep, const void *mine) {
  return tpf_regions_own_bytes(&self(ep)->regions, ep->rank, mine);
}

static tpf_status_t s_unshare(tpf_endpoint_t *ep, void *mine) {
  shm_endpoint_t *me = self(ep);
  uint64_t addr = (uintptr_t)mine;
  tpf_status_t s = s_exchange(ep, &addr, me->regions.records, sizeof addr);
  const uint64_t *all = (const uint64_t *)(void *)me->regions.records;
  for (int q = 0; q < ep->size; q++) { /* after a failure, only this rank's own */
    if (s != TPF_OK && q != ep->rank) continue;
    int i = tpf_regions_find(&me->regions, q, q == ep->rank ? addr : all[q]);
    if (i < 0) continue;
    munmap(me->regions.items[i].map, me->regions.items[i].bytes);
    tpf_regions_remove(&me->regions, i);
  }
  return s;
}

static const void *s_peer_memory(tpf_endpoint_t *ep, int q, uintptr_t addr, size_t bytes) {
  return tpf_regions_translate(&self(ep)->regions, q, addr, bytes);
}

static void s_destroy(tpf_endpoint_t *ep) {
  shm_endpoint_t *me = self(ep);
  for (int i = 0; i < me->regions.count; i++) munmap(me->regions.items[i].map, me->regions.items[i].bytes);
  tpf_regions_free(&me->regions);
  for (int q = 0; me->peers && q < ep->size; q++) {
    if (me->peers[q].buffer) munmap(me->peers[q].buffer, me->peers[q].bytes);
    if (me->peers[q].pidfd >= 0) close(me->peers[q].pidfd);
  }
  /* An own buffer whose name no exchange has removed yet. */
  const shm_rank_t *slot = me->hdr ? &me->hdr->ranks[ep->rank] : NULL;
  if (slot && atomic_load(&slot->buffer_generation) > me->unlinked_generation) {
    char path[PATH_BYTES];
    segment_path(me, path, sizeof path, ep->rank, atomic_load(&slot->buffer_generation), slot->buffer_nonce);
    unlink(path);
  }
  if (me->hdr) munmap(me->hdr, me->hdr_bytes);
  free(me->peers);
  free(me);
}

static const tpf_transport_t shm_transport = {
    .name = "shm",
    .exchange = s_exchange,
    .reserve = s_reserve,
    .buffer = s_buffer,
    .post = s_post,
    .test = s_test,
    .wait = s_wait,
    .fail = s_fail,
    .abort = s_abort,
    .health = s_health,
    .check = s_check,
    .peer_memory = s_peer_memory,
    .share = s_share,
    .shared_bytes = s_shared_bytes,
    .unshare = s_unshare,
    .destroy = s_destroy,
};

/* ----------------------------------------------------------------- set-up */

/* A rank that has claimed its slot and exited since: the group fails at
 * once, instead of its peers waiting out the timeout for it. */
static tpf_status_t joined_rank_died(shm_endpoint_t *me) {
  for (int q = 0; q < me->base.size; q++) {
    int32_t pid = atomic_load(&me->hdr->ranks[q].pid);
    if (q == me->base.rank || pid <= 0) continue;
    peer_view_t *p = &me->peers[q];
    if (p->pid != pid) {
      if (p->pidfd >= 0) close(p->pidfd);
      p->pid = pid;
      p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    }
    if (check_peer(me, q) != TPF_OK) return failure(me);
  }
  return TPF_OK;
}

/* Waits (polling) until cond(me) holds, the deadline passes, the group
 * fails, or (once the header is mapped) a rank that has joined dies. */
static tpf_status_t poll_until(shm_endpoint_t *me, int (*cond)(shm_endpoint_t *), int64_t deadline,
                               const char *what) {
  while (!cond(me)) {
    if (me->hdr && atomic_load(&me->hdr->failed) != TPF_OK) return failure(me);
    tpf_status_t s = me->hdr ? joined_rank_died(me) : TPF_OK;
    if (s != TPF_OK) return s;
    if (tpf_now_ns() > deadline) /* logged once, by group_fail or the caller */
      return tpf_record(TPF_ERR_TIMEOUT, "rank %d of %d: %s within %lld ms", me->base.rank, me->base.size, what,
                        (long long)(me->waiter.timeout_ns / 1000000));
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
  }
  return TPF_OK;
}

static int all_attached_and_settled(shm_endpoint_t *me) {
  return (int)atomic_load(&me->hdr->attached) >= me->base.size && tpf_now_ns() >= me->hdr->created_ns + SETTLE_NS;
}

static int control_exists(shm_endpoint_t *me) {
  char path[PATH_BYTES];
  control_path(me, path, sizeof path);
  struct stat st;
  if (stat(path, &st) != 0 || (size_t)st.st_size < me->hdr_bytes) return 0;
  void *map;
  if (map_segment(path, me->hdr_bytes, 1, &map) != TPF_OK) return 0;
  shm_header_t *h = map;
  if (atomic_load(&h->magic) != CONTROL_MAGIC) {
    munmap(map, me->hdr_bytes);
    return 0;
  }
  me->hdr = h;
  return 1;
}

/* Fails the group of the control segment this rank mapped (another job's,
 * or its own with a rank given twice) with words, and lets the header go:
 * none of it is this rank's to clean up. */
static tpf_status_t fail_shared_id(shm_endpoint_t *me, const char *why) {
  if (me->hdr) {
    group_fail(me, TPF_ERR_INVALID, why);
    munmap(me->hdr, me->hdr_bytes);
    me->hdr = NULL;
  }
  return tpf_record(TPF_ERR_INVALID, "%s", why);
}

/* A second process came as rank 0 of an id whose control segment exists:
 * two communicators were started with one id. The first one fails too
 * (its other ranks may be the second job's). */
static tpf_status_t refuse_second_rank0(shm_endpoint_t *me, int64_t deadline) {
  char why[300];
  snprintf(why, sizeof why, "a second process (pid %d) came as rank 0 of this id: an id is for one communicator "
           "(were two jobs started with one id? make a fresh id for each; `tpfuse clean` removes what a job "
           "killed whole left)", (int)getpid());
  tpf_log(TPF_LOG_WARN, "%s: %s", tpf_status_string(TPF_ERR_INVALID), why);
  int64_t until = tpf_now_ns() + 1000000000;
  poll_until(me, control_exists, until < deadline ? until : deadline, "");
  return fail_shared_id(me, why);
}

/* Rank 0 died between making the control file and writing its magic: the
 * file stays short or blank, nobody will ever map it, and a rank that gave
 * up waiting for it removes the name (a live rank 0 finishes within
 * microseconds of making it, long before any timeout). */
static void remove_unfinished_control(shm_endpoint_t *me, const char *path) {
  if (me->hdr) return;
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) return;
  if (control_exists(me)) { /* finished after all: its ranks remove it */
    munmap(me->hdr, me->hdr_bytes);
    me->hdr = NULL;
    return;
  }
  unlink(path);
}

static tpf_status_t attach(shm_endpoint_t *me, const tpf_transport_config_t *cfg) {
  const int rank = me->base.rank, size = me->base.size;
  int64_t deadline = tpf_now_ns() + cfg->timeout_ns;
  char path[PATH_BYTES];
  control_path(me, path, sizeof path);
  tpf_status_t s;
  if (rank == 0) {
    void *map;
    if ((s = make_segment(path, me->hdr_bytes, &map)) != TPF_OK)
      return errno == EEXIST ? refuse_second_rank0(me, deadline) : s;
    me->hdr = map;
    me->hdr->world_size = size;
    me->hdr->created_ns = tpf_now_ns();
    atomic_store(&me->hdr->magic, CONTROL_MAGIC);
  } else if ((s = poll_until(me, control_exists, deadline, "rank 0 did not create the shared memory")) != TPF_OK) {
    remove_unfinished_control(me, path);
    return tpf_fail_text(s, tpf_last_error());
  }
  char why[300];
  if (me->hdr->world_size != size) {
    snprintf(why, sizeof why, "rank %d passed world_size %d but rank 0 passed %d for this id", rank, size,
             me->hdr->world_size);
    return fail_shared_id(me, why);
  }
  int32_t unclaimed = 0;
  if (!atomic_compare_exchange_strong(&me->hdr->ranks[rank].pid, &unclaimed, (int32_t)getpid())) {
    snprintf(why, sizeof why, "rank %d of this id was claimed by pid %d and again by pid %d: an id is for one "
             "communicator (were two jobs started with one id? make a fresh id for each)", rank, (int)unclaimed,
             (int)getpid());
    return fail_shared_id(me, why);
  }
  atomic_fetch_add(&me->hdr->attached, 1);
  s = poll_until(me, all_attached_and_settled, deadline, "not every rank joined");
  unlink(path); /* everyone has it mapped (or gave up): the name can go */
  if (s != TPF_OK) {
    snprintf(why, sizeof why, "%s", tpf_last_error());
    group_fail(me, s, why);
    return tpf_record(s, "%s", why);
  }
  joined_rank_died(me); /* every peer's pid and pidfd, for the waits */
  me->waiter = (tpf_waiter_t){cfg->spin_ns, cfg->timeout_ns, &me->hdr->failed, &me->hdr->sleepers, 1};
  return TPF_OK;
}

/* TPF_SHM_DIR: a directory, named in fewer than DIR_BYTES bytes, that other
 * users cannot write into unless it has the sticky bit (as /dev/shm and
 * /tmp do): there they could replace or remove tpfuse's files. */
static tpf_status_t check_dir(const char *dir) {
  if (!dir[0]) return tpf_fail(TPF_ERR_INVALID, "the shared-memory directory (TPF_SHM_DIR, cfg->shm_dir) is empty");
  if (strlen(dir) >= DIR_BYTES)
    return tpf_fail(TPF_ERR_INVALID, "the shared-memory directory (TPF_SHM_DIR, cfg->shm_dir) is %zu bytes long: "
                    "at most %d", strlen(dir), DIR_BYTES - 1);
  struct stat st;
  if (stat(dir, &st) != 0)
    return tpf_fail(TPF_ERR_SYSTEM, "the shared-memory directory %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return tpf_fail(TPF_ERR_INVALID, "the shared-memory directory %s is not a directory", dir);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
    return tpf_fail(TPF_ERR_INVALID, "the shared-memory directory %s is writable by other users and has no sticky "
                    "bit: they could replace tpfuse's files (chmod +t it, or choose another)", dir);
  return TPF_OK;
}

tpf_status_t tpf_transport_shm_create(int size, int rank, const tpf_unique_id_t *id, const char *dir,
                                      const tpf_transport_config_t *cfg, tpf_endpoint_t **ep) {
  tpf_id_fields_t f;
  tpf_status_t s = tpf_id_decode(id, &f);
  if (s != TPF_OK) return s;
  uint64_t host;
  char host_name[TPF_ID_HOST_BYTES];
  tpf_host_identity(&host, host_name);
  if (host != f.host_hash)
    return tpf_fail(TPF_ERR_INVALID, "rank %d runs on host '%s' but the id was made on host '%s': the "
                    "shared-memory transport joins processes of one host only", rank, host_name, f.host_name);
  if ((s = check_dir(dir)) != TPF_OK) return s;
  shm_endpoint_t *me = calloc(1, sizeof *me);
  peer_view_t *peers = calloc((size_t)size, sizeof *peers);
  if (!me || !peers || tpf_regions_init(&me->regions, size) != TPF_OK) {
    if (me) tpf_regions_free(&me->regions);
    free(me);
    free(peers);
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate a shared-memory endpoint");
  }
  for (int q = 0; q < size; q++) peers[q].pidfd = -1;
  me->base = (tpf_endpoint_t){&shm_transport, rank, size, TPF_PEER_READS_NONE};
  me->peers = peers;
  me->hdr_bytes = control_bytes(size);
  me->waiter.timeout_ns = cfg->timeout_ns;
  snprintf(me->dir, sizeof me->dir, "%s", dir);
  char *p = me->stem + sprintf(me->stem, "tpf-");
  for (int i = 0; i < TPF_ID_RANDOM_BYTES; i++) p += sprintf(p, "%02x", f.random[i]);
  if ((s = attach(me, cfg)) != TPF_OK) {
    s_destroy(&me->base);
    return s;
  }
  *ep = &me->base;
  return TPF_OK;
}
