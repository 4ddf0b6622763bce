/* The MPI transport: ranks are the processes of an MPI communicator, on any
 * number of hosts. A message transport (see transport.h): the schedules
 * send and receive chunks with non-blocking point-to-point calls on a
 * private duplicate of the user's communicator, whose error handler returns
 * (MPI errors become tpfuse status codes; the job is never aborted).
 *
 * MPI progresses transfers only inside MPI calls, so every wait here polls,
 * and the GEMM calls progress() between its output blocks. Every wait ends
 * at the timeout. A rank that fails (timeout, abort, an MPI error) sends a
 * small notice to every peer; each rank keeps a receive for it posted, and
 * every wait looks at it, so one failure stops the whole group promptly.
 *
 * An MPI library may give a later communicator the context of one freed
 * before, and messages left unreceived on the old one (a failure notice,
 * the call description of a call a failed peer never made) would then match
 * receives on the new one. So notices and exchange records carry a random
 * identity of the communicator and the exchange's number; a receive that
 * gets a stale one is posted again. Data messages cannot be stale: they
 * flow only inside a call every rank has entered, and a call completes all
 * its receives before it returns. */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "regions.h"
#include "transport.h"
#include "transport_mpi.h"
#include "addon.h" /* last: the MPI transport is part of the add-on */

/* Schedules use tags below TPF_MESSAGE_TAG_LIMIT; MPI allows up to 32767. */
enum { TAG_EXCHANGE = TPF_MESSAGE_TAG_LIMIT, TAG_NOTICE = TPF_MESSAGE_TAG_LIMIT + 1 };

typedef struct notice {
  uint64_t identity; /* the communicator's */
  int32_t status;
  char why[500];
} notice_t;

/* What exchange() sends: the communicator, the exchange's number, the record. */
typedef struct record {
  uint64_t identity;
  uint64_t round;
  unsigned char bytes[TPF_EXCHANGE_MAX_BYTES];
} record_t;

typedef struct mpi_endpoint {
  tpf_endpoint_t base;
  MPI_Comm comm; /* our duplicate, errors returned */
  int64_t timeout_ns, spin_ns;
  void *buffer;
  size_t capacity;
  MPI_Request *slots;
  int *slot_peers; /* whom each slot talks to, for errors */
  int slot_capacity;
  uint64_t identity;              /* random, the same on every rank */
  uint64_t exchanges;             /* exchanges completed */
  void *pending_all;              /* the records of a started exchange go here */
  size_t pending_bytes;
  record_t record_out, *records_in; /* size received records */
  MPI_Request *exchange_requests; /* 2 x size: receives, then sends */
  MPI_Request notice_recv;        /* a peer's failure notice, always posted */
  notice_t notice_in, notice_out;
  MPI_Request *notice_sends; /* size */
  tpf_status_t failed;       /* TPF_OK while healthy */
  char fail_why[600];
  /* tpf_comm_abort (maybe in a signal handler) writes abort_why, then sets
   * the flag; the next wait or call fails the group with them. */
  _Atomic int abort_claimed, abort_requested;
  char abort_why[200];
  /* The ranks of this host, over shared memory (NULL: all through MPI). */
  tpf_endpoint_t *local;
  int *local_rank;             /* size entries: q's rank in `local`, or -1 */
  unsigned char *local_records; /* local size x TPF_EXCHANGE_MAX_BYTES */
  tpf_regions_t own;            /* memory share() made, where not on one host */
} mpi_endpoint_t;

static mpi_endpoint_t *self(tpf_endpoint_t *ep) { return (mpi_endpoint_t *)ep; }

static void m_progress(tpf_endpoint_t *ep);

static tpf_status_t failure(mpi_endpoint_t *me) { return tpf_record(me->failed, "%s", me->fail_why); }

/* Marks this rank failed; `tell` sends the notice to every peer. */
static void mark_failed(mpi_endpoint_t *me, tpf_status_t status, const char *why, int tell) {
  if (me->failed != TPF_OK) return;
  me->failed = status;
  snprintf(me->fail_why, sizeof me->fail_why, "%s", why);
  tpf_log(TPF_LOG_WARN, "%s: %s", tpf_status_string(status), why);
  if (me->local) me->local->transport->fail(me->local, status, why); /* wakes this host's ranks */
  if (!tell) return;
  me->notice_out.identity = me->identity;
  me->notice_out.status = (int32_t)status;
  snprintf(me->notice_out.why, sizeof me->notice_out.why, "%s", why);
  for (int q = 0; q < me->base.size; q++)
    if (q != me->base.rank)
      MPI_Isend(&me->notice_out, (int)sizeof me->notice_out, MPI_BYTE, q, TAG_NOTICE, me->comm,
                &me->notice_sends[q]);
}

static void m_fail(tpf_endpoint_t *ep, tpf_status_t status, const char *why) { mark_failed(self(ep), status, why, 1); }

/* Async-signal-safe: MPI may not be called here, so the notices go from
 * this rank's next wait or call; this host's ranks learn at once. */
static void m_abort(tpf_endpoint_t *ep, const char *why) {
  mpi_endpoint_t *me = self(ep);
  int unclaimed = 0;
  if (!atomic_compare_exchange_strong(&me->abort_claimed, &unclaimed, 1)) return;
  tpf_text_copy(me->abort_why, sizeof me->abort_why, why);
  atomic_store(&me->abort_requested, 1);
  if (me->local) me->local->transport->abort(me->local, why);
}

/* An MPI call that returned `rc`: TPF_OK, or the group fails with its text. */
static tpf_status_t check_rc(mpi_endpoint_t *me, int rc, const char *what, int peer) {
  if (rc == MPI_SUCCESS) return TPF_OK;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  char why[600];
  snprintf(why, sizeof why, "rank %d: MPI failed %s rank %d: %.*s", me->base.rank, what, peer, len, text);
  mark_failed(me, TPF_ERR_PEER, why, 1);
  return failure(me);
}

/* Whether this rank has failed: aborted, a rank of its host failed, or a
 * peer's failure notice has come. */
static int noticed(mpi_endpoint_t *me) {
  if (me->failed != TPF_OK) return 1;
  if (atomic_load(&me->abort_requested)) {
    mark_failed(me, TPF_ERR_ABORTED, me->abort_why, 1);
    return 1;
  }
  tpf_status_t local = me->local ? me->local->transport->health(me->local) : TPF_OK;
  if (local != TPF_OK) { /* a rank of this host failed: tell the other hosts */
    char why[600];
    snprintf(why, sizeof why, "%s", tpf_last_error());
    mark_failed(me, local, why, 1);
    return 1;
  }
  int flag = 0;
  if (MPI_Test(&me->notice_recv, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS || !flag) return 0;
  if (me->notice_in.identity != me->identity) { /* a stale one: listen again */
    MPI_Irecv(&me->notice_in, (int)sizeof me->notice_in, MPI_BYTE, MPI_ANY_SOURCE, TAG_NOTICE, me->comm,
              &me->notice_recv);
    return 0;
  }
  me->notice_in.why[sizeof me->notice_in.why - 1] = '\0';
  mark_failed(me, tpf_status_checked(me->notice_in.status), me->notice_in.why, 0);
  return 1;
}

static tpf_status_t post_record_recv(mpi_endpoint_t *me, int q) {
  return check_rc(me,
                  MPI_Irecv(&me->records_in[q], (int)sizeof(record_t), MPI_BYTE, q, TAG_EXCHANGE, me->comm,
                            &me->exchange_requests[q]),
                  "exchanging call descriptions with", q);
}

/* Re-posts the receive of every exchange record that came from an older
 * communicator; whether all of this round's records are in. */
static int records_complete(mpi_endpoint_t *me) {
  int all = 1;
  for (int q = 0; q < me->base.size; q++) {
    if (q == me->base.rank) continue;
    if (me->exchange_requests[q] != MPI_REQUEST_NULL) {
      all = 0;
    } else if (me->records_in[q].identity != me->identity) {
      post_record_recv(me, q);
      all = 0;
    }
  }
  return all;
}

/* Polls until every request in reqs[0..count) is complete (and, for an
 * exchange, every record is this round's), the timeout passes or the group
 * fails. `what` and `peer` name the wait in errors. */
static tpf_status_t wait_requests(mpi_endpoint_t *me, MPI_Request *reqs, int count, int exchange, const char *what,
                                  int peer) {
  const int64_t start = tpf_now_ns();
  for (;;) {
    int all = 1;
    for (int i = 0; i < count; i++) { /* (MPI_Testall: without MPICH's MPI_STATUSES_IGNORE, which gcc misreads) */
      int flag = 1, rc = reqs[i] == MPI_REQUEST_NULL ? MPI_SUCCESS : MPI_Test(&reqs[i], &flag, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return check_rc(me, rc, what, peer);
      all &= flag;
    }
    if (all && (!exchange || records_complete(me))) return TPF_OK;
    if (noticed(me)) return failure(me);
    int64_t waited = tpf_now_ns() - start;
    if (waited > me->timeout_ns) {
      char why[400];
      if (peer >= 0)
        snprintf(why, sizeof why, "rank %d waited %lld ms for rank %d (%s) and gave up", me->base.rank,
                 (long long)(me->timeout_ns / 1000000), peer, what);
      else
        snprintf(why, sizeof why, "rank %d waited %lld ms for its peers (%s) and gave up", me->base.rank,
                 (long long)(me->timeout_ns / 1000000), what);
      mark_failed(me, TPF_ERR_TIMEOUT, why, 1);
      return failure(me);
    }
    if (waited > me->spin_ns) { /* let a rank that shares this core run */
      struct timespec nap = {0, 20000};
      nanosleep(&nap, NULL);
    }
  }
}

/* exchange() in two halves: start exchanges with the ranks of this host
 * (mapping their grown buffers; a barrier among them) and posts this
 * rank's record to, and the receives from, every peer; finish waits for
 * those records. Between the halves data may move. */
static tpf_status_t m_exchange_start(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes) {
  mpi_endpoint_t *me = self(ep);
  if (bytes > TPF_EXCHANGE_MAX_BYTES)
    return tpf_fail(TPF_ERR_INTERNAL, "exchange of %zu bytes exceeds %d", bytes, TPF_EXCHANGE_MAX_BYTES);
  if (noticed(me)) return failure(me);
  if (me->pending_all) return tpf_fail(TPF_ERR_INTERNAL, "an exchange started before the last one finished");
  const int W = ep->size, r = ep->rank;
  const size_t header = offsetof(record_t, bytes);
  if (me->local) { /* maps the host's grown buffers, and is the host's barrier */
    tpf_status_t ls = me->local->transport->exchange(me->local, mine, me->local_records, bytes);
    if (ls != TPF_OK) {
      char why[600];
      snprintf(why, sizeof why, "%s", tpf_last_error());
      mark_failed(me, ls, why, 1);
      return failure(me);
    }
    if (me->local->size == W) { /* one host: that was everyone (host ranks follow comm ranks) */
      memcpy(all, me->local_records, (size_t)W * bytes);
      return TPF_OK;
    }
  }
  me->record_out.identity = me->identity;
  me->record_out.round = me->exchanges + 1;
  memcpy(me->record_out.bytes, mine, bytes);
  tpf_status_t s = TPF_OK;
  for (int q = 0; q < W && s == TPF_OK; q++) {
    if (q == r) continue;
    s = post_record_recv(me, q);
    if (s == TPF_OK)
      s = check_rc(me,
                   MPI_Isend(&me->record_out, (int)(header + bytes), MPI_BYTE, q, TAG_EXCHANGE, me->comm,
                             &me->exchange_requests[W + q]),
                   "exchanging call descriptions with", q);
  }
  if (s != TPF_OK) return s;
  me->pending_all = all;
  me->pending_bytes = bytes;
  return TPF_OK;
}

static tpf_status_t m_exchange_finish(tpf_endpoint_t *ep) {
  mpi_endpoint_t *me = self(ep);
  const int W = ep->size, r = ep->rank;
  void *all = me->pending_all;
  const size_t bytes = me->pending_bytes;
  if (!all) return TPF_OK; /* nothing travelling */
  me->pending_all = NULL;
  tpf_status_t s = wait_requests(me, me->exchange_requests, 2 * W, 1, "to enter the same call", W == 2 ? 1 - r : -1);
  if (s != TPF_OK) return s;
  for (int q = 0; q < W; q++) {
    const record_t *got = q == r ? &me->record_out : &me->records_in[q];
    if (got->round != me->exchanges + 1)
      return tpf_fail(TPF_ERR_INTERNAL, "rank %d got exchange %llu from rank %d during its exchange %llu", r,
                      (unsigned long long)got->round, q, (unsigned long long)(me->exchanges + 1));
    memcpy((char *)all + (size_t)q * bytes, got->bytes, bytes);
  }
  me->exchanges++;
  return TPF_OK;
}

static tpf_status_t m_exchange(tpf_endpoint_t *ep, const void *mine, void *all, size_t bytes) {
  tpf_status_t s = m_exchange_start(ep, mine, all, bytes);
  return s == TPF_OK ? m_exchange_finish(ep) : s;
}

static tpf_status_t m_reserve(tpf_endpoint_t *ep, size_t bytes) {
  mpi_endpoint_t *me = self(ep);
  if (me->local) return me->local->transport->reserve(me->local, bytes); /* shared with the host */
  void *buf = me->buffer;
  tpf_status_t s = tpf_buffer_reserve(&buf, &me->capacity, bytes, "the rank's message buffer");
  me->buffer = buf;
  return s;
}

static void *m_buffer(tpf_endpoint_t *ep, int q) {
  mpi_endpoint_t *me = self(ep);
  if (me->local) return me->local_rank[q] < 0 ? NULL : me->local->transport->buffer(me->local, me->local_rank[q]);
  return q == ep->rank ? me->buffer : NULL;
}

/* Memory to share: over the shared memory of this host's ranks where it
 * has others (they make it together, as over shm; with several hosts every
 * rank then learns whether all hosts succeeded), so that they read it in
 * place; a rank alone on its host gets its own memory. Either way each
 * rank takes part in one exchange of all ranks (none with one host). */
static tpf_status_t m_share(tpf_endpoint_t *ep, size_t bytes, void **mine) {
  mpi_endpoint_t *me = self(ep);
  tpf_endpoint_t *host = me->local;
  if (!host) return tpf_regions_share_private(ep, &me->own, bytes, mine);
  void *made = NULL;
  tpf_status_t s = host->transport->share(host, bytes, &made);
  if (host->size < ep->size) {
    tpf_status_t everyone = tpf_regions_agree(ep, &me->own, s, (uintptr_t)made, bytes);
    if (everyone != TPF_OK && s == TPF_OK) host->transport->unshare(host, made); /* (all of this host do) */
    s = everyone;
  }
  if (s == TPF_OK) *mine = made;
  return s;
}

static size_t m_shared_bytes(tpf_endpoint_t *ep, const void *mine) {
  mpi_endpoint_t *me = self(ep);
  return me->local ? me->local->transport->shared_bytes(me->local, mine)
                   : tpf_regions_own_bytes(&me->own, ep->rank, mine);
}

static tpf_status_t m_unshare(tpf_endpoint_t *ep, void *mine) {
  mpi_endpoint_t *me = self(ep);
  return me->local ? me->local->transport->unshare(me->local, mine)
                   : tpf_regions_unshare_private(ep, &me->own, mine);
}

/* This host's ranks (this one included) read each other's shared memory. */
static const void *m_peer_memory(tpf_endpoint_t *ep, int q, uintptr_t addr, size_t bytes) {
  mpi_endpoint_t *me = self(ep);
  if (me->local)
    return me->local_rank[q] < 0 ? NULL : me->local->transport->peer_memory(me->local, me->local_rank[q], addr, bytes);
  return q == ep->rank ? tpf_regions_translate(&me->own, q, addr, bytes) : NULL;
}

static int m_shares(tpf_endpoint_t *ep, int q) {
  mpi_endpoint_t *me = self(ep);
  return me->local && q != ep->rank && me->local_rank[q] >= 0;
}

/* Progress counters, for the peers that share this host (none without). */
static void m_post(tpf_endpoint_t *ep, tpf_counter_t counter, uint32_t value) {
  mpi_endpoint_t *me = self(ep);
  if (me->local) me->local->transport->post(me->local, counter, value);
}

static int m_test(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  mpi_endpoint_t *me = self(ep);
  return me->local->transport->test(me->local, me->local_rank[q], counter, value);
}

/* Waits for a counter of a rank of this host. It polls rather than sleeps:
 * MPI transfers to other hosts progress only while this rank calls MPI, and
 * a peer there may be waiting for one of them. */
static tpf_status_t m_wait(tpf_endpoint_t *ep, int q, tpf_counter_t counter, uint32_t value) {
  mpi_endpoint_t *me = self(ep);
  tpf_endpoint_t *local = me->local;
  const int lq = me->local_rank[q];
  const int64_t start = tpf_now_ns();
  int64_t checked = start;
  for (;;) {
    if (local->transport->test(local, lq, counter, value)) return TPF_OK;
    m_progress(ep);
    if (noticed(me)) return failure(me);
    int64_t now = tpf_now_ns();
    if (now - checked > 10000000) { /* has q died? every 10 ms */
      checked = now;
      tpf_status_t s = local->transport->check(local, lq);
      if (s != TPF_OK) {
        char why[600];
        snprintf(why, sizeof why, "%s", tpf_last_error());
        mark_failed(me, s, why, 1);
        return failure(me);
      }
    }
    if (now - start > me->timeout_ns) {
      char why[400];
      snprintf(why, sizeof why, "rank %d waited %lld ms for rank %d (%s) and gave up", ep->rank,
               (long long)(me->timeout_ns / 1000000), q, counter == TPF_COUNTER_PRODUCED ? "a chunk" : "a consumed chunk");
      mark_failed(me, TPF_ERR_TIMEOUT, why, 1);
      return failure(me);
    }
    if (now - start > me->spin_ns) nanosleep(&(struct timespec){0, 20000}, NULL);
  }
}

static tpf_status_t m_health(tpf_endpoint_t *ep) {
  mpi_endpoint_t *me = self(ep);
  return noticed(me) ? failure(me) : TPF_OK;
}

static tpf_status_t m_reserve_requests(tpf_endpoint_t *ep, int count) {
  mpi_endpoint_t *me = self(ep);
  if (count <= me->slot_capacity) return TPF_OK;
  MPI_Request *grown = realloc(me->slots, sizeof *grown * (size_t)count);
  if (grown) me->slots = grown;
  int *peers = grown ? realloc(me->slot_peers, sizeof *peers * (size_t)count) : NULL;
  if (!peers) return tpf_fail(TPF_ERR_NOMEM, "could not allocate %d MPI requests", count);
  me->slot_peers = peers;
  for (int i = me->slot_capacity; i < count; i++) grown[i] = MPI_REQUEST_NULL, peers[i] = -1;
  me->slot_capacity = count;
  return TPF_OK;
}

static tpf_status_t m_send(tpf_endpoint_t *ep, int slot, int q, const void *data, size_t bytes, int tag) {
  mpi_endpoint_t *me = self(ep);
  if (bytes > (size_t)0x7fffffff)
    return tpf_fail(TPF_ERR_UNSUPPORTED, "a message of %zu bytes exceeds MPI's int count", bytes);
  me->slot_peers[slot] = q;
  return check_rc(me, MPI_Isend(data, (int)bytes, MPI_BYTE, q, tag, me->comm, &me->slots[slot]), "sending to", q);
}

static tpf_status_t m_recv(tpf_endpoint_t *ep, int slot, int q, void *data, size_t bytes, int tag) {
  mpi_endpoint_t *me = self(ep);
  if (bytes > (size_t)0x7fffffff)
    return tpf_fail(TPF_ERR_UNSUPPORTED, "a message of %zu bytes exceeds MPI's int count", bytes);
  me->slot_peers[slot] = q;
  return check_rc(me, MPI_Irecv(data, (int)bytes, MPI_BYTE, q, tag, me->comm, &me->slots[slot]), "receiving from",
                  q);
}

static int m_done(tpf_endpoint_t *ep, int slot) {
  mpi_endpoint_t *me = self(ep);
  int flag = 0;
  if (MPI_Test(&me->slots[slot], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 0;
  return flag;
}

static tpf_status_t m_complete(tpf_endpoint_t *ep, int slot) {
  mpi_endpoint_t *me = self(ep);
  return wait_requests(me, &me->slots[slot], 1, 0, "a chunk", me->slot_peers[slot]);
}

static void m_progress(tpf_endpoint_t *ep) {
  int flag;
  /* Any test enters the progress engine; the notice's receive is always there. */
  MPI_Test(&self(ep)->notice_recv, &flag, MPI_STATUS_IGNORE);
  if (flag) noticed(self(ep));
}

/* Cancels (receives) or lets go of (sends) every request still pending. */
/* Completes every pending request of reqs (cancelling each first where
 * `cancel`: receives, and sends MPI can still take back), waiting at most
 * until the deadline; 1 if all did. A request still pending then is left
 * to MPI (freed: MPI completes it on its own), and so must be the memory it
 * reads or writes: the caller keeps it. */
static int settle(MPI_Request *reqs, int count, int cancel, int64_t deadline) {
  for (int i = 0; i < count; i++)
    if (cancel && reqs[i] != MPI_REQUEST_NULL) MPI_Cancel(&reqs[i]);
  int settled = 1;
  for (int i = 0; i < count; i++) {
    int done = reqs[i] == MPI_REQUEST_NULL;
    while (!done && MPI_Test(&reqs[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done && tpf_now_ns() < deadline)
      nanosleep(&(struct timespec){0, 20000}, NULL);
    if (!done) {
      MPI_Request_free(&reqs[i]);
      settled = 0;
    }
  }
  return settled;
}

/* How long destroy waits for the requests a failure left pending. */
enum { SETTLE_NS = 1000 * 1000 * 1000 };

static void m_destroy(tpf_endpoint_t *ep) {
  mpi_endpoint_t *me = self(ep);
  int finalized = 0, settled = 1;
  MPI_Finalized(&finalized);
  if (!finalized) {
    /* after a failure, slots, exchanges and notices may still be pending */
    const int64_t deadline = tpf_now_ns() + SETTLE_NS;
    settled &= settle(me->slots, me->slot_capacity, 1, deadline);
    settled &= settle(me->exchange_requests, 2 * ep->size, 1, deadline);
    settled &= settle(&me->notice_recv, 1, 1, deadline);
    settled &= settle(me->notice_sends, ep->size, 0, deadline);
    MPI_Comm_free(&me->comm);
  }
  if (me->local) me->local->transport->destroy(me->local);
  tpf_regions_free_private(&me->own);
  free(me->local_rank);
  free(me->local_records);
  free(me->slots);
  free(me->slot_peers);
  free(me->exchange_requests);
  free(me->notice_sends);
  if (!settled) { /* requests MPI still completes read or write these */
    tpf_log(TPF_LOG_WARN, "rank %d: MPI requests to failed peers were still pending after 1 s; their buffers "
            "are left to them", ep->rank);
    return;
  }
  tpf_free(me->buffer);
  free(me->records_in);
  free(me);
}

static const tpf_transport_t mpi_transport = {
    .name = "mpi",
    .exchange = m_exchange,
    .exchange_start = m_exchange_start,
    .exchange_finish = m_exchange_finish,
    .reserve = m_reserve,
    .buffer = m_buffer,
    .post = m_post,
    .test = m_test,
    .wait = m_wait,
    .fail = m_fail,
    .abort = m_abort,
    .health = m_health,
    .destroy = m_destroy,
    .reserve_requests = m_reserve_requests,
    .send = m_send,
    .recv = m_recv,
    .done = m_done,
    .complete = m_complete,
    .progress = m_progress,
    .shares = m_shares,
    .peer_memory = m_peer_memory,
    .share = m_share,
    .shared_bytes = m_shared_bytes,
    .unshare = m_unshare,
};

/* Makes the shared-memory group of the ranks of this host (or, with
 * hosts > 0, as if rank r were on host r mod hosts). Collective over
 * me->comm; on any rank's failure every rank fails. */
static tpf_status_t join_host(mpi_endpoint_t *me, int hosts, const char *shm_dir,
                              const tpf_transport_config_t *cfg) {
  const int W = me->base.size, r = me->base.rank;
  MPI_Comm host;
  int rc = hosts > 0 ? MPI_Comm_split(me->comm, r % hosts, r, &host)
                        : MPI_Comm_split_type(me->comm, MPI_COMM_TYPE_SHARED, r, MPI_INFO_NULL, &host);
  if (rc != MPI_SUCCESS) return tpf_fail(TPF_ERR_SYSTEM, "MPI could not group the ranks by host");
  int L = 1, lr = 0;
  MPI_Comm_size(host, &L);
  MPI_Comm_rank(host, &lr);
  me->local_rank = malloc(sizeof(int) * (size_t)W);
  me->local_records = malloc((size_t)L * TPF_EXCHANGE_MAX_BYTES);
  int *host_ranks = malloc(sizeof(int) * 2 * (size_t)L);
  int ok = me->local_rank && me->local_records && host_ranks;
  if (ok) { /* the rank in comm of each rank of this host (hosts need not hold consecutive ranks) */
    MPI_Group of_host, of_comm;
    MPI_Comm_group(host, &of_host);
    MPI_Comm_group(me->comm, &of_comm);
    for (int i = 0; i < L; i++) host_ranks[i] = i;
    MPI_Group_translate_ranks(of_host, L, host_ranks, of_comm, host_ranks + L);
    MPI_Group_free(&of_host);
    MPI_Group_free(&of_comm);
    for (int q = 0; q < W; q++) me->local_rank[q] = -1;
    for (int i = 0; L > 1 && i < L; i++) me->local_rank[host_ranks[L + i]] = i;
  }
  free(host_ranks);
  struct {
    int32_t status;
    tpf_unique_id_t id;
  } start = {TPF_OK, {{0}}};
  if (L > 1 && lr == 0) start.status = ok ? tpf_get_unique_id(&start.id) : TPF_ERR_NOMEM;
  if (L > 1) MPI_Bcast(&start, (int)sizeof start, MPI_BYTE, 0, host);
  if (!ok) start.status = TPF_ERR_NOMEM;
  else if (L > 1 && start.status == TPF_OK)
    start.status = tpf_transport_shm_create(L, lr, &start.id, shm_dir, cfg, &me->local);
  char why[400];
  snprintf(why, sizeof why, "%s", start.status == TPF_OK ? "could not allocate" : tpf_last_error());
  int worst = start.status;
  MPI_Allreduce(&start.status, &worst, 1, MPI_INT, MPI_MIN, me->comm); /* everyone, or no one */
  MPI_Comm_free(&host);
  if (worst == TPF_OK) {
    return TPF_OK;
  }
  if (start.status != TPF_OK) return tpf_fail((tpf_status_t)start.status, "%s", why);
  return tpf_fail((tpf_status_t)worst, "another rank could not join its host's shared memory");
}

tpf_status_t tpf_transport_mpi_create(MPI_Comm comm, const tpf_transport_config_t *cfg, int hosts,
                                      tpf_endpoint_t **ep) {
  const char *shm_dir = cfg->shm_dir;
  int size = 0, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  mpi_endpoint_t *me = calloc(1, sizeof *me);
  if (me) {
    me->exchange_requests = malloc(sizeof(MPI_Request) * 2 * (size_t)size);
    me->notice_sends = malloc(sizeof(MPI_Request) * (size_t)size);
    me->records_in = calloc((size_t)size, sizeof(record_t));
  }
  if (!me || !me->exchange_requests || !me->notice_sends || !me->records_in ||
      tpf_regions_init(&me->own, size) != TPF_OK) {
    if (me) free(me->exchange_requests), free(me->notice_sends), free(me->records_in), tpf_regions_free(&me->own);
    free(me);
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate an MPI endpoint of %d ranks", size);
  }
  for (int i = 0; i < 2 * size; i++) me->exchange_requests[i] = MPI_REQUEST_NULL;
  for (int i = 0; i < size; i++) me->notice_sends[i] = MPI_REQUEST_NULL;
  me->base = (tpf_endpoint_t){&mpi_transport, rank, size, TPF_PEER_READS_NONE};
  me->timeout_ns = cfg->timeout_ns;
  me->spin_ns = cfg->spin_ns;
  me->notice_recv = MPI_REQUEST_NULL;
  /* MPI_Comm_dup is collective: every rank of comm must be here. */
  int rc = MPI_Comm_dup(comm, &me->comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(me->comm, MPI_ERRORS_RETURN);
  /* The identity: rank 0's random bits, the same on every rank. */
  if (rc == MPI_SUCCESS && rank == 0 && getrandom(&me->identity, sizeof me->identity, 0) != sizeof me->identity)
    me->identity = (uint64_t)tpf_now_ns() ^ ((uint64_t)getpid() << 32);
  if (rc == MPI_SUCCESS) rc = MPI_Bcast(&me->identity, 1, MPI_UINT64_T, 0, me->comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Irecv(&me->notice_in, (int)sizeof me->notice_in, MPI_BYTE, MPI_ANY_SOURCE, TAG_NOTICE, me->comm,
                   &me->notice_recv);
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    free(me->exchange_requests);
    free(me->notice_sends);
    free(me->records_in);
    tpf_regions_free(&me->own);
    free(me);
    return tpf_fail(TPF_ERR_SYSTEM, "MPI could not set up the communicator: %.*s", len, text);
  }
  if (hosts >= 0) {
    tpf_status_t s = join_host(me, hosts, shm_dir, cfg);
    if (s != TPF_OK) {
      m_destroy(&me->base);
      return s;
    }
  }
  *ep = &me->base;
  return TPF_OK;
}
