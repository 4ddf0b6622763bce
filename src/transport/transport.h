/* The transport table: how the ranks of a communicator reach each other.
 * One file per backend implements it. The operators in ops/ see ranks only
 * through these functions.
 *
 * The model is shared memory: every rank owns one buffer (bytes) that its
 * peers can read, and a few 32-bit progress counters that its peers can
 * wait on.
 * Counters only grow (modulo 2^32); what a value means is up to the
 * schedule that posts it.
 *
 * A message transport (MPI) reaches most peers by the non-blocking
 * send/recv below; only the peers that shares() names (those of this host)
 * are reached as over shared memory: buffer() of any other peer is NULL,
 * and post/test/wait concern only the sharing peers (post is harmless when
 * there are none). Requests live in numbered slots that the schedule picks;
 * every slot a call uses is completed before the call returns. */
#ifndef TPF_TRANSPORT_TRANSPORT_H
#define TPF_TRANSPORT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tpfuse.h"

typedef enum tpf_counter {
  TPF_COUNTER_PRODUCED, /* chunks this rank has made readable in its buffer */
  TPF_COUNTER_CONSUMED, /* chunks this rank has finished reading from a peer */
  TPF_COUNTER_COUNT
} tpf_counter_t;

/* The largest record that exchange() carries per rank. */
enum { TPF_EXCHANGE_MAX_BYTES = 512 };

/* Message tags that schedules may use: [0, TPF_MESSAGE_TAG_LIMIT). */
enum { TPF_MESSAGE_TAG_LIMIT = 32000 };

typedef struct tpf_endpoint tpf_endpoint_t;

typedef struct tpf_transport {
  const char *name;
  /* Collective: every rank contributes `bytes` (the same on all ranks) of
   * `mine`; returns when all have, with rank q's record at all + q * bytes.
   * Also a barrier: no rank is still inside the previous call. */
  tpf_status_t (*exchange)(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes);
  /* Makes this rank's buffer at least `bytes` long. Local; call it before
   * the exchange that precedes the buffer's use by peers. */
  tpf_status_t (*reserve)(tpf_endpoint_t *ep, size_t bytes);
  /* Rank q's buffer (this rank's own included); valid until the next reserve. */
  void *(*buffer)(tpf_endpoint_t *ep, int q);
  /* Publishes this rank's counter. */
  void (*post)(tpf_endpoint_t *ep, tpf_counter_t counter, uint32_t value);
  /* Whether rank q's counter has reached `value` now (never waits). */
  int (*test)(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value);
  /* Waits until rank q's counter has reached `value`; records the error. */
  tpf_status_t (*wait)(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value);
  /* Marks the whole group failed with `status` and `why`, waking every rank
   * that waits. The first failure wins; later ones are ignored. */
  void (*fail)(tpf_endpoint_t *ep, tpf_status_t status, const char *why);
  /* fail(TPF_ERR_ABORTED, why), async-signal-safe: no lock, no allocation,
   * no log, no error recorded. A transport that cannot reach its peers
   * from a signal handler (MPI) marks this rank and tells them from its next
   * wait or call. */
  void (*abort)(tpf_endpoint_t *ep, const char *why);
  /* TPF_OK, or the group's failure, recorded as this thread's error. */
  tpf_status_t (*health)(tpf_endpoint_t *ep);
  /* NULL, or TPF_OK while rank q can still make progress, else the group's
   * failure (e.g. q died), recorded. For waits that poll with test(). */
  tpf_status_t (*check)(tpf_endpoint_t *ep, int q);
  /* Where this rank reads [addr, addr + bytes) of peer q's memory (an
   * address q published), or NULL where it cannot: ranks that share an
   * address space read all of it (ep->peer_reads is
   * TPF_PEER_READS_IN_PLACE); processes read what q shared with share(). */
  const void *(*peer_memory)(tpf_endpoint_t *ep, int q, uintptr_t addr, size_t bytes);
  /* Collective: makes `bytes` (> 0, may differ between ranks) of zeroed
   * memory of this rank, its pages touched, that its peers may read
   * through peer_memory until unshare(); *mine on success. Fails on every
   * rank if any rank could not make its part; then nothing stays made. */
  tpf_status_t (*share)(tpf_endpoint_t *ep, size_t bytes, void **mine);
  /* The size of this rank's shared memory that starts at `mine`, or 0 if
   * share() did not return it. Local. */
  size_t (*shared_bytes)(tpf_endpoint_t *ep, const void *mine);
  /* Collective: every rank releases one region share() gave it. */
  tpf_status_t (*unshare)(tpf_endpoint_t *ep, void *mine);
  /* Releases this rank's endpoint; shared state goes with the last one. */
  void (*destroy)(tpf_endpoint_t *ep);

  /* Message transports only (NULL elsewhere). */
  /* Makes request slots [0, count) available. Local; before the exchange. */
  tpf_status_t (*reserve_requests)(tpf_endpoint_t *ep, int count);
  /* Starts sending `bytes` at `data` to rank q (slot `slot`, message `tag`):
   * the memory must stay unchanged until the slot completes. */
  tpf_status_t (*send)(tpf_endpoint_t *ep, int slot, int q, const void *data, size_t bytes, int tag);
  /* Starts receiving rank q's message `tag` of `bytes` into `data`. */
  tpf_status_t (*recv)(tpf_endpoint_t *ep, int slot, int q, void *data, size_t bytes, int tag);
  /* Drives progress; whether the slot has completed (never waits). */
  int (*done)(tpf_endpoint_t *ep, int slot);
  /* Waits until the slot completes, bounded by the timeout; records the error. */
  tpf_status_t (*complete)(tpf_endpoint_t *ep, int slot);
  /* exchange() in two halves, so that data can move while the records
   * travel: start exchanges with the peers this rank shares memory with
   * at once (a barrier among them) and sends this rank's record to those
   * reached by messages; finish waits for theirs. `mine` and `all` must
   * stay valid in between; after finish, `all` holds every record (with
   * no peer reached by messages, already after start). finish without a
   * started exchange returns TPF_OK. */
  tpf_status_t (*exchange_start)(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes);
  tpf_status_t (*exchange_finish)(tpf_endpoint_t *ep);
  /* Drives the progress of every pending slot (between GEMM blocks). */
  void (*progress)(tpf_endpoint_t *ep);
  /* NULL, or whether peer q shares this rank's memory (a message transport
   * whose ranks on one host use shared memory): then q's buffer is
   * readable, and post/test/wait work with q, as on a shared-memory
   * transport. Symmetric: q shares with this rank too. */
  int (*shares)(tpf_endpoint_t *ep, int q);
} tpf_transport_t;

/* Whether the transport moves data by messages rather than shared memory. */
static inline int tpf_transport_is_message(const tpf_transport_t *t) { return t->send != NULL; }

/* Whether a rank can read its peers' own memory (the same on every rank). */
enum { TPF_PEER_READS_NONE, TPF_PEER_READS_IN_PLACE };

struct tpf_endpoint {
  const tpf_transport_t *transport;
  int rank, size;
  int peer_reads; /* TPF_PEER_READS_* */
};

/* Whether the ranks reach each other through shared memory only: a
 * shared-memory transport, or a message transport (of more than one rank)
 * whose ranks all share this host, where buffers and counters reach every
 * peer and the shared-memory schedules run. The same on every rank. */
static inline int tpf_transport_all_shared(tpf_endpoint_t *ep) {
  const tpf_transport_t *t = ep->transport;
  if (!tpf_transport_is_message(t)) return 1;
  if (ep->size < 2 || !t->shares) return 0;
  for (int q = 0; q < ep->size; q++)
    if (q != ep->rank && !t->shares(ep, q)) return 0;
  return 1;
}

typedef struct tpf_transport_config {
  int64_t timeout_ns;  /* longest wait for a peer */
  int64_t spin_ns;     /* busy-wait before sleeping */
  const char *shm_dir; /* tmpfs for shared memory (the MPI transport's hosts) */
} tpf_transport_config_t;

/* Ranks as processes of one host, over shared memory in the tmpfs
 * directory `dir` (e.g. /dev/shm): this process is `rank`. */
tpf_status_t tpf_transport_shm_create(int size, int rank, const tpf_unique_id_t *id, const char *dir,
                                      const tpf_transport_config_t *cfg, tpf_endpoint_t **ep);

/* Ranks as threads of this process: fills eps[0 .. size-1]. */
tpf_status_t tpf_transport_threads_create(int size, const tpf_transport_config_t *cfg,
                                          tpf_endpoint_t **eps);

#endif
