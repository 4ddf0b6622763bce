/* The all-gather's schedule in steps, for the operators built on it:
 * AllGather itself, the second half of AllReduce and MatmulAllReduce
 * (their reduced rows, gathered from every rank's out), and
 * AllGatherMatmul (a's blocks, multiplied as they come). */
#ifndef TPF_OPS_ALL_GATHER_H
#define TPF_OPS_ALL_GATHER_H

#include "comm.h"

/* One gather: rank q's block is rows [offsets[q], offsets[q + 1]) of `cols`
 * elements of dtype, cut into `chunks` chunks. This rank's block is at
 * `in` (row-major, in_ld); a peer's lies where the peer published it in
 * its fingerprint (in_addr and in_ld, or its out's rows with `from_out`).
 * `out` (NULL, or m x cols, out_ld) receives every block. The gather's
 * part of every rank's buffer starts `base` bytes in (the same on every
 * rank, a multiple of 64). */
typedef struct tpf_gather {
  const void *in;
  int64_t in_ld;
  void *out;
  int64_t out_ld;
  int64_t cols;
  tpf_dtype_t dtype;
  const int64_t *offsets;
  int chunks;
  int from_out;
  int stream_out; /* copies into out bypass the caches (tpf_gather_streams) */
  int slots;  /* 0: this rank's block is staged whole; S: in a ring of S chunk
                 places, reused once every peer has read the chunk before
                 (tpf_gather_run only) */
  size_t base;
  int first_slot; /* its message requests: [first_slot, first_slot + requests) */
  tpf_trace_t *trace;
} tpf_gather_t;

/* Chunks per block for comm_turn (0 = automatic: about 256 KiB each, at
 * most 16; `staged`, through a ring of places: as many as that takes). */
int tpf_gather_chunks(int comm_turn, int64_t largest_block, int64_t cols, tpf_dtype_t dtype, int staged);

/* Whether copies into an out of `out_bytes` per rank should bypass the
 * caches: an out that leaves them before anyone reads it. */
int tpf_gather_streams(int64_t out_bytes);

/* The places of a staging ring (tpf_gather_t.slots). */
enum { TPF_GATHER_SLOTS = 4 };

/* The bytes of this rank's buffer the gather uses, from g->base on, and
 * the message requests (slots) to reserve, from 0 to its last. Local. */
size_t tpf_gather_bytes(const tpf_comm_t *comm, const tpf_gather_t *g);
int tpf_gather_requests(const tpf_comm_t *comm, const tpf_gather_t *g);

/* The whole gather into g->out, in rounds: round c hands chunk c out and
 * copies every peer's chunk c - 1, so that a ring of slots places (reused
 * once every peer has copied what they held) keeps the staged chunks in
 * the caches; then finish. A round needs only earlier rounds of the
 * others: no deadlock. */
tpf_status_t tpf_gather_run(tpf_comm_t *comm, const tpf_gather_t *g);

/* In steps, for schedules that use the blocks as they come:
 *  1. publish: posts the receives, hands this rank's chunks out (staged
 *     through the buffer where a memory peer cannot read them in place),
 *     and copies its own block to out (unless it is there already); or
 *     the same in pieces, expect then put, chunk by chunk as each is ready
 *     (a schedule still running on the links puts `ahead` = the puts it
 *     makes in all, so that the gather's count follows its own);
 *  2. per peer q and chunk c: get, then source (where the chunk's first
 *     row lies, and its leading dimension), then copy_out (to out, unless
 *     it was received there);
 *  3. finish: releases what was read, waits until every peer has read
 *     this rank's block, ends the call's use of the links. */
tpf_status_t tpf_gather_publish(tpf_comm_t *comm, const tpf_gather_t *g);
tpf_status_t tpf_gather_expect(tpf_comm_t *comm, const tpf_gather_t *g);
tpf_status_t tpf_gather_put(tpf_comm_t *comm, const tpf_gather_t *g, int c, uint32_t ahead);
tpf_status_t tpf_gather_get(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c, int step);
const void *tpf_gather_source(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c, int64_t *ld);
void tpf_gather_copy_out(tpf_comm_t *comm, const tpf_gather_t *g, int q, int c);
tpf_status_t tpf_gather_finish(tpf_comm_t *comm, const tpf_gather_t *g, tpf_status_t st);

#endif
