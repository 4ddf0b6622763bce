/* Summing rows of W sources in fp32 and finishing them: the reduction
 * every schedule shares. */
#include "sums.h"

#include "common/half.h"
#include "common/status.h"

int tpf_sum_streams(int64_t block_bytes) {
  /* A block larger than this leaves the caches before anyone reads it (the
   * call reads at least twice as many input bytes): writing it past the
   * caches saves reading every line before it is written (figures in
   * docs/performance.md, "Summing"). */
  return block_bytes >= (int64_t)4 << 20;
}

tpf_gemm_epilogue_t tpf_sum_epilogue(float divisor, const float *bias, void *out, tpf_dtype_t out_dtype,
                                     int64_t out_ld, int stream) {
  return (tpf_gemm_epilogue_t){.divisor = divisor, .bias = bias, .out = out, .out_dtype = out_dtype,
                               .out_ld = out_ld, .stream = stream};
}

void tpf_sum_rows(tpf_comm_t *comm, const void *const *src, const int64_t *src_ld, tpf_dtype_t src_dtype,
                  int64_t first, int64_t rows, int64_t n, const tpf_gemm_epilogue_t *final) {
  const int W = comm->size;
  const size_t es = tpf_dtype_size(src_dtype);
  const tpf_gemm_kernel_t *kernel = comm->gemm.isa->for_dtype[TPF_FLOAT32];
  const int after = (comm->rank + 1) % W; /* the first rank summed; the owner, comm->rank, is the last */
  if (src_dtype == TPF_FLOAT32 && W <= 2) { /* all rows in one go, read where they are (the same bits) */
    tpf_gemm_epilogue_t epi = *final;
    epi.addend = W == 2 ? (const float *)src[comm->rank] + first * src_ld[comm->rank] : NULL;
    epi.addend_ld = W == 2 ? src_ld[comm->rank] : 0;
    kernel->finish(&epi, (const float *)src[after] + first * src_ld[after], src_ld[after], 0, rows, 0, n);
    return;
  }
  for (int64_t i = 0; i < rows; i++) {
    for (int t = 0, q = after; t < W; t++, q = q + 1 < W ? q + 1 : 0)
      comm->row_sources[t] = (const char *)src[q] + (size_t)((first + i) * src_ld[q]) * es;
    kernel->sum_row(final, comm->row_sources, W, src_dtype, i, 0, n);
  }
}

size_t tpf_span_bytes(int64_t rows, int64_t n, int64_t ld, size_t es) {
  return rows < 1 ? 0 : (size_t)((rows - 1) * ld + n) * es;
}
