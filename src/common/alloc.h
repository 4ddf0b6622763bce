/* Aligned allocation for workspaces and packing buffers. */
#ifndef TPF_COMMON_ALLOC_H
#define TPF_COMMON_ALLOC_H

#include <stddef.h>

enum { TPF_ALIGN = 64 }; /* one cache line; also a full AVX-512 register */

/* `bytes` rounded up to TPF_ALIGN, aligned to TPF_ALIGN, every page touched
 * (so the first use on a hot path does not fault); NULL on failure or for 0. */
void *tpf_alloc(size_t bytes);
void tpf_free(void *p);

/* A buffer that only grows: makes *buf at least `bytes` long, keeping nothing
 * of its old contents. TPF_OK, or TPF_ERR_NOMEM with the error recorded. */
int tpf_buffer_reserve(void **buf, size_t *capacity, size_t bytes, const char *what);

#endif
