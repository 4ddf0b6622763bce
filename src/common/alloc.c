#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

void *tpf_alloc(size_t bytes) {
  if (bytes == 0 || bytes > SIZE_MAX - TPF_ALIGN) return NULL;
  size_t rounded = (bytes + TPF_ALIGN - 1) / TPF_ALIGN * TPF_ALIGN;
  void *p = aligned_alloc(TPF_ALIGN, rounded);
  if (p) memset(p, 0, rounded);
  return p;
}

void tpf_free(void *p) { free(p); }

int tpf_buffer_reserve(void **buf, size_t *capacity, size_t bytes, const char *what) {
  if (bytes <= *capacity) return TPF_OK;
  void *fresh = tpf_alloc(bytes);
  if (!fresh)
    return tpf_fail(TPF_ERR_NOMEM, "could not allocate %zu bytes for %s", bytes, what);
  tpf_free(*buf);
  *buf = fresh;
  *capacity = bytes;
  return TPF_OK;
}
