/* A table of memory regions that ranks shared with tpf_mem_alloc: where
 * each lives in its owner's address space and where it is mapped in this
 * process. Transports use it to answer peer_memory() and to find their
 * own regions again at release. */
#ifndef TPF_TRANSPORT_REGIONS_H
#define TPF_TRANSPORT_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

typedef struct tpf_region {
  int rank;       /* the owner */
  uintptr_t addr; /* its start in the owner's address space */
  size_t bytes;
  void *map;      /* the same memory here (== addr for the owner) */
} tpf_region_t;

/* What each rank tells the others when it has tried to make its region. */
typedef struct tpf_region_record {
  int32_t status; /* TPF_OK, or why this rank could not */
  uint32_t unused;
  uint64_t addr, bytes;
  char why[400];
} tpf_region_record_t;

typedef struct tpf_regions {
  tpf_region_t *items;
  int count, capacity;
  tpf_region_record_t *records; /* one per rank, for tpf_regions_agree */
} tpf_regions_t;

/* An empty table for a communicator of `size` ranks. TPF_OK or
 * TPF_ERR_NOMEM, recorded. */
tpf_status_t tpf_regions_init(tpf_regions_t *t, int size);

/* Room for `more` further regions. TPF_OK or TPF_ERR_NOMEM, recorded. */
tpf_status_t tpf_regions_reserve(tpf_regions_t *t, int more);

/* Adds a region (room reserved before). */
void tpf_regions_add(tpf_regions_t *t, tpf_region_t region);

/* The index of rank q's region that starts at addr, or -1. */
int tpf_regions_find(const tpf_regions_t *t, int q, uintptr_t addr);

/* Removes entry i (the order of the others may change). */
void tpf_regions_remove(tpf_regions_t *t, int i);

/* Where [addr, addr + bytes) of rank q's memory is mapped here, if it lies
 * inside one region of q; else NULL. */
const void *tpf_regions_translate(const tpf_regions_t *t, int q, uintptr_t addr, size_t bytes);

/* Forgets every region (unmapping them is the transport's job). */
void tpf_regions_free(tpf_regions_t *t);

/* Collective: exchanges every rank's outcome (`made`: this rank's status,
 * its error recorded; the region at addr of `bytes`) into t->records.
 * TPF_OK, or the failure on every rank: this rank's own, or TPF_ERR_PEER
 * naming the rank that failed. */
tpf_status_t tpf_regions_agree(tpf_endpoint_t *ep, tpf_regions_t *t, tpf_status_t made, uintptr_t addr,
                               size_t bytes);

/* share() and unshare() where peers read nothing through share (threads
 * read everything in place; ranks on other hosts nothing): this rank's
 * own memory, tracked in `own`, with the same collective outcome. */
tpf_status_t tpf_regions_share_private(tpf_endpoint_t *ep, tpf_regions_t *own, size_t bytes, void **mine);
tpf_status_t tpf_regions_unshare_private(tpf_endpoint_t *ep, tpf_regions_t *own, void *mine);
size_t tpf_regions_own_bytes(const tpf_regions_t *t, int rank, const void *mine);
/* At destroy: releases the memory share_private made, and the table. */
void tpf_regions_free_private(tpf_regions_t *own);

#endif
