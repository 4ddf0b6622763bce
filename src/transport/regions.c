#include "regions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/status.h"

tpf_status_t tpf_regions_reserve(tpf_regions_t *t, int more) {
  if (t->count + more <= t->capacity) return TPF_OK;
  int capacity = t->capacity * 2 > t->count + more ? t->capacity * 2 : t->count + more;
  tpf_region_t *grown = realloc(t->items, sizeof *grown * (size_t)capacity);
  if (!grown) return tpf_fail(TPF_ERR_NOMEM, "could not grow the table of shared memory to %d regions", capacity);
  t->items = grown;
  t->capacity = capacity;
  return TPF_OK;
}

void tpf_regions_add(tpf_regions_t *t, tpf_region_t region) { t->items[t->count++] = region; }

int tpf_regions_find(const tpf_regions_t *t, int q, uintptr_t addr) {
  for (int i = 0; i < t->count; i++)
    if (t->items[i].rank == q && t->items[i].addr == addr) return i;
  return -1;
}

void tpf_regions_remove(tpf_regions_t *t, int i) { t->items[i] = t->items[--t->count]; }

const void *tpf_regions_translate(const tpf_regions_t *t, int q, uintptr_t addr, size_t bytes) {
  for (int i = 0; i < t->count; i++) {
    const tpf_region_t *g = &t->items[i];
    if (g->rank != q || addr < g->addr || addr - g->addr > g->bytes || bytes > g->bytes - (addr - g->addr))
      continue;
    return (const char *)g->map + (addr - g->addr);
  }
  return NULL;
}

tpf_status_t tpf_regions_init(tpf_regions_t *t, int size) {
  *t = (tpf_regions_t){NULL, 0, 0, calloc((size_t)size, sizeof(tpf_region_record_t))};
  return t->records ? TPF_OK : tpf_fail(TPF_ERR_NOMEM, "could not allocate a table of shared memory");
}

void tpf_regions_free(tpf_regions_t *t) {
  free(t->items);
  free(t->records);
  *t = (tpf_regions_t){NULL, 0, 0, NULL};
}

tpf_status_t tpf_regions_agree(tpf_endpoint_t *ep, tpf_regions_t *t, tpf_status_t made, uintptr_t addr,
                               size_t bytes) {
  tpf_region_record_t mine;
  memset(&mine, 0, sizeof mine);
  mine.status = (int32_t)made;
  mine.addr = addr;
  mine.bytes = bytes;
  if (made != TPF_OK) snprintf(mine.why, sizeof mine.why, "%s", tpf_last_error());
  tpf_status_t s = ep->transport->exchange(ep, &mine, t->records, sizeof mine);
  if (made != TPF_OK) return tpf_record(made, "%s", mine.why);
  if (s != TPF_OK) return s;
  for (int q = 0; q < ep->size; q++) /* (a peer's words: their end is forced) */
    if (t->records[q].status != TPF_OK)
      return tpf_record(TPF_ERR_PEER, "rank %d could not make its shared memory (%s: %.*s)", q,
                        tpf_status_string(tpf_status_checked(t->records[q].status)),
                        (int)sizeof t->records[q].why - 1, t->records[q].why);
  return TPF_OK;
}

tpf_status_t tpf_regions_share_private(tpf_endpoint_t *ep, tpf_regions_t *own, size_t bytes, void **mine) {
  void *p = NULL;
  tpf_status_t s = tpf_regions_reserve(own, 1);
  if (s == TPF_OK && !(p = tpf_alloc(bytes)))
    s = tpf_fail(TPF_ERR_NOMEM, "could not allocate %zu bytes of memory to share", bytes);
  if ((s = tpf_regions_agree(ep, own, s, (uintptr_t)p, bytes)) != TPF_OK) {
    tpf_free(p);
    return s;
  }
  tpf_regions_add(own, (tpf_region_t){ep->rank, (uintptr_t)p, bytes, p});
  *mine = p;
  return TPF_OK;
}

tpf_status_t tpf_regions_unshare_private(tpf_endpoint_t *ep, tpf_regions_t *own, void *mine) {
  int i = tpf_regions_find(own, ep->rank, (uintptr_t)mine);
  if (i >= 0) {
    tpf_free(own->items[i].map);
    tpf_regions_remove(own, i);
  }
  return TPF_OK;
}

void tpf_regions_free_private(tpf_regions_t *own) {
  for (int i = 0; i < own->count; i++) tpf_free(own->items[i].map);
  tpf_regions_free(own);
}

size_t tpf_regions_own_bytes(const tpf_regions_t *t, int rank, const void *mine) {
  int i = tpf_regions_find(t, rank, (uintptr_t)mine);
  return i < 0 ? 0 : t->items[i].bytes;
}
