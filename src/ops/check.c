#include "check.h"

#include "common/half.h"
#include "common/status.h"

int64_t tpf_matrix_ld(const tpf_matrix_t *x) {
  int64_t width = x->transposed ? x->rows : x->cols;
  return x->ld ? x->ld : width;
}

tpf_status_t tpf_check_matrix(const char *name, const tpf_matrix_t *x, int64_t min_rows,
                              tpf_span_t *span) {
  if (!x) return tpf_fail(TPF_ERR_INVALID, "%s is NULL", name);
  if (x->dtype != TPF_FLOAT16 && x->dtype != TPF_BFLOAT16 && x->dtype != TPF_FLOAT32)
    return tpf_fail(TPF_ERR_INVALID, "%s.dtype=%d is not a tpf_dtype_t (fp16, bf16 or fp32)", name,
                    (int)x->dtype);
  if (x->rows < min_rows)
    return tpf_fail(TPF_ERR_INVALID, "%s.rows=%lld must be >= %lld", name, (long long)x->rows,
                    (long long)min_rows);
  if (x->cols < 1)
    return tpf_fail(TPF_ERR_INVALID, "%s.cols=%lld must be >= 1", name, (long long)x->cols);
  if (x->transposed != 0 && x->transposed != 1)
    return tpf_fail(TPF_ERR_INVALID, "%s.transposed=%d must be 0 or 1", name, x->transposed);
  int64_t stored_rows = x->transposed ? x->cols : x->rows;
  int64_t stored_cols = x->transposed ? x->rows : x->cols;
  if (x->ld < 0 || (x->ld != 0 && x->ld < stored_cols))
    return tpf_fail(TPF_ERR_INVALID, "%s.ld=%lld is less than its %lld stored columns%s", name,
                    (long long)x->ld, (long long)stored_cols,
                    x->transposed ? " (it is transposed: storage is cols x rows)" : "");
  if (stored_rows == 0) { /* an empty view: nothing is read or written */
    span->begin = span->end = 0;
    return TPF_OK;
  }
  if (!x->data) return tpf_fail(TPF_ERR_INVALID, "%s.data is NULL", name);
  if ((uintptr_t)x->data % tpf_dtype_size(x->dtype))
    return tpf_fail(TPF_ERR_INVALID, "%s.data=%p is not aligned to its %zu-byte elements", name, x->data,
                    tpf_dtype_size(x->dtype));
  int64_t ld = tpf_matrix_ld(x);
  /* elements spanned = (stored_rows - 1) * ld + stored_cols, then bytes */
  int64_t elements;
  if (__builtin_mul_overflow(stored_rows - 1, ld, &elements) ||
      __builtin_add_overflow(elements, stored_cols, &elements) ||
      (uint64_t)elements > SIZE_MAX / tpf_dtype_size(x->dtype))
    return tpf_fail(TPF_ERR_INVALID, "%s (%lld x %lld, ld %lld) spans more memory than can be addressed",
                    name, (long long)x->rows, (long long)x->cols, (long long)ld);
  size_t bytes = (size_t)elements * tpf_dtype_size(x->dtype);
  span->begin = (uintptr_t)x->data;
  if (span->begin > UINTPTR_MAX - bytes)
    return tpf_fail(TPF_ERR_INVALID, "%s.data + its %zu bytes wraps around the address space", name, bytes);
  span->end = span->begin + bytes;
  return TPF_OK;
}

tpf_status_t tpf_check_product(const char *what, int64_t rows, int64_t cols) {
  int64_t elements;
  if (!__builtin_mul_overflow(rows, cols, &elements) && elements <= TPF_MAX_PRODUCT_ELEMENTS) return TPF_OK;
  return tpf_fail(TPF_ERR_INVALID, "%s is %lld x %lld: more than 2^45 elements, whose fp32 copy would not fit "
                  "in the address space", what, (long long)rows, (long long)cols);
}

int tpf_spans_overlap(tpf_span_t x, tpf_span_t y) {
  if (x.begin == x.end || y.begin == y.end) return 0;
  return x.begin < y.end && y.begin < x.end;
}
