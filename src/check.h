/* Argument checks shared by the public entry points. Each returns TPF_OK or
 * records an error that names the argument, the value and the rule. */
#ifndef TPF_CHECK_H
#define TPF_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "tpfuse.h"

/* The bytes a view spans, [begin, end). */
typedef struct tpf_span {
  uintptr_t begin, end;
} tpf_span_t;

/* A matrix view: not NULL, a known dtype, rows >= min_rows (0 or 1),
 * cols >= 1, transposed 0 or 1, ld 0 or at least the stored width, data
 * aligned to its elements, the span within size_t. Fills *span. */
tpf_status_t tpf_check_matrix(const char *name, const tpf_matrix_t *x, int64_t min_rows,
                              tpf_span_t *span);

/* Two spans share a byte. */
int tpf_spans_overlap(tpf_span_t x, tpf_span_t y);

/* The stored leading dimension of a view (ld, or the stored width for 0). */
int64_t tpf_matrix_ld(const tpf_matrix_t *x);

#endif
