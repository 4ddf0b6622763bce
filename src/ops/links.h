/* How this rank reaches each peer, and the words every schedule is written
 * in. Each peer gets a link when the communicator is made, chosen once:
 *
 *  - a memory link (the peers of an address space or of a host, and this
 *    rank itself): the sender leaves a chunk in its own buffer and posts
 *    its PRODUCED counter; the receiver waits for that count and reads the
 *    chunk in the sender's buffer; it posts CONSUMED when done, and the
 *    sender waits for that count before it writes the place again;
 *  - a message link (MPI to another host): the sender sends the chunk from
 *    wherever it lies; the receiver has posted a receive into its own
 *    buffer; the sender's place is free again once its send completes.
 *
 * A schedule says the same thing to both: put a chunk (numbered `seq`,
 * 1, 2, ... within the call in the order this rank puts them, to any
 * peer), expect one (a receive to post; nothing over memory), get it,
 * release it, reclaim a place. `slot` names the message request and `tag`
 * the message; a memory link ignores them. Where the chunk lies when got
 * is the schedule's to say: at `peer_offset` in the sender's buffer over
 * memory, where it expected it over messages. */
#ifndef TPF_OPS_LINKS_H
#define TPF_OPS_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"
#include "transport/transport.h"
#include "tpfuse.h"

/* How the ranks of a communicator reach each other, all links together:
 * reading each other's memory in place (threads), through shared buffers
 * and counters only (processes of one host, over shm or MPI), or by
 * messages to some peer. */
typedef enum tpf_reach { TPF_REACH_IN_PLACE, TPF_REACH_SHARED, TPF_REACH_MESSAGES, TPF_REACH_KINDS } tpf_reach_t;

typedef struct tpf_links {
  tpf_endpoint_t *ep;
  unsigned char *memory; /* per peer (this rank included): 1 = a memory link */
  int messages;          /* whether any peer is reached by messages */
  /* Every rank's counters advance by the same amount in every successful
   * call, so these bases agree across ranks. */
  uint32_t produced, consumed;
  tpf_trace_t *trace;    /* the call's, or NULL */
} tpf_links_t;

/* Chooses every peer's link. Local; the same answer on every rank of a
 * host. */
tpf_status_t tpf_links_init(tpf_links_t *l, tpf_endpoint_t *ep);
void tpf_links_free(tpf_links_t *l);

/* Whether peer q is reached through memory. */
static inline int tpf_link_memory(const tpf_links_t *l, int q) { return l->memory[q]; }

/* Reserves this rank's buffer (bytes) and, if any peer is reached by
 * messages, `requests` request slots. Local; before the exchange. */
tpf_status_t tpf_links_reserve(tpf_links_t *l, size_t bytes, int requests);

/* This rank's buffer. */
void *tpf_links_mine(const tpf_links_t *l);

/* Starts a call: events go to `trace`. */
void tpf_links_begin(tpf_links_t *l, tpf_trace_t *trace);

/* Ends a call: completes every request slot in [0, slots) (sends may still
 * be in flight) and moves the counter bases on by what the schedule used,
 * whatever `st` says. Returns `st`, or the first failure to complete. */
tpf_status_t tpf_links_end(tpf_links_t *l, int slots, uint32_t produced, uint32_t consumed, tpf_status_t st);

/* The chunk `seq` is ready for peer q: a post, or a send of `bytes` at
 * `data`, which stays unchanged until the place is reclaimed. */
tpf_status_t tpf_link_put(tpf_links_t *l, int q, uint32_t seq, int slot, const void *data, size_t bytes, int tag);

/* A message link: posts the receive of q's message `tag` into `into`.
 * Nothing over memory. */
tpf_status_t tpf_link_expect(tpf_links_t *l, int q, int slot, void *into, size_t bytes, int tag);

/* Waits until q's chunk `seq` (received into `slot`) is here; traced as
 * (step, chunk). */
tpf_status_t tpf_link_get(tpf_links_t *l, int q, uint32_t seq, int slot, int step, int chunk);

/* Whether q's chunk `seq` (or `slot`) is here now (never waits). */
int tpf_link_arrived(tpf_links_t *l, int q, uint32_t seq, int slot);

/* Where q's chunk lies once got: `peer_offset` bytes into q's buffer over
 * memory, `received` over messages. */
const void *tpf_link_at(const tpf_links_t *l, int q, size_t peer_offset, const void *received);

/* This rank is done reading its `seq`-th chunk from memory peers (posts
 * CONSUMED; nothing goes to message peers). */
void tpf_link_release(tpf_links_t *l, uint32_t seq);

/* Waits until the place that held this rank's chunk for q is free again:
 * q has released `seq` chunks (memory), or the send in `slot` completed. */
tpf_status_t tpf_link_reclaim(tpf_links_t *l, int q, uint32_t seq, int slot, int step, int chunk);

/* Waits until every memory peer has released `seq` chunks: then this
 * rank's buffer (and what they read in place) is free for the next call. */
tpf_status_t tpf_links_await_readers(tpf_links_t *l, uint32_t seq, tpf_status_t st);

/* A block that comes in chunks from every peer, as an owner's block of a
 * reduce-scatter does: peer q's chunk c is its put number
 * ((rank - q - shift) mod W) * step_puts + c * chunk_puts + 1, and over
 * messages it lands in request slot first_slot + q * chunks + c, at
 * received + (q * rows + the chunk's first row) * row_bytes. */
typedef struct tpf_arrivals {
  int first_slot, chunks, shift;
  uint32_t step_puts, chunk_puts;
  char *received;
  int64_t rows;
  size_t row_bytes;
} tpf_arrivals_t;

/* Posts the receives of every chunk from every message peer. */
tpf_status_t tpf_arrivals_expect(tpf_links_t *l, const tpf_arrivals_t *a);
/* Whether chunk c has come from every peer (never waits). */
int tpf_arrivals_ready(tpf_links_t *l, const tpf_arrivals_t *a, int c);
/* Waits until chunk c has come from every peer. */
tpf_status_t tpf_arrivals_await(tpf_links_t *l, const tpf_arrivals_t *a, int c);
/* Where peer q's rows of the block start over messages. */
const void *tpf_arrivals_from(const tpf_arrivals_t *a, int q);

/* The GEMM of rows of a into epi, driving message progress between its
 * blocks where any peer is reached by messages; traced as (step, chunk). */
void tpf_link_multiply(tpf_links_t *l, tpf_gemm_engine_t *gemm, int64_t rows, const tpf_gemm_operand_t *a,
                       const tpf_gemm_epilogue_t *epi, int step, int chunk);

#endif
