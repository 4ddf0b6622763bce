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

/* The most elements of a product (m x n) or of B (k x n) a call takes: its
 * fp32 copy, 2^47 bytes, fills the address space of x86-64 and AArch64.
 * Every buffer size derived from a call (a small multiple of these, over
 * at most 4096 ranks) then fits in 64 bits. */
#define TPF_MAX_PRODUCT_ELEMENTS (INT64_C(1) << 45)

/* rows x cols of `what` within TPF_MAX_PRODUCT_ELEMENTS, else TPF_ERR_INVALID. */
tpf_status_t tpf_check_product(const char *what, int64_t rows, int64_t cols);

/* Two spans share a byte. */
int tpf_spans_overlap(tpf_span_t x, tpf_span_t y);

/* The stored leading dimension of a view (ld, or the stored width for 0). */
int64_t tpf_matrix_ld(const tpf_matrix_t *x);

#endif
