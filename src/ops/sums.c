/* Summing rows of W sources in fp32 and finishing them: the reduction
 * every schedule shares. */
#include "sums.h"

#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"

tpf_status_t tpf_reserve_row_scratch(tpf_comm_t *comm, int64_t n) {
  void *buf = comm->row_scratch;
  tpf_status_t s = tpf_buffer_reserve(&buf, &comm->row_scratch_capacity, sizeof(float) * (size_t)n, "a row of sums");
  comm->row_scratch = buf;
  return s;
}

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
  const size_t es = tpf_dtype_size(src_dtype), out_es = tpf_dtype_size(final->out_dtype);
  const tpf_gemm_kernel_t *kernel = comm->gemm.isa->for_dtype[TPF_FLOAT32];
  /* fp32 sources: the epilogue adds the last one to the sum of the others
   * (source 0 itself when W <= 2): the same additions in the same order,
   * one pass less. */
  const int last_by_epilogue = src_dtype == TPF_FLOAT32 && W >= 2, direct = src_dtype == TPF_FLOAT32 && W <= 2;
  tpf_gemm_epilogue_t epi = *final;
  if (direct) { /* all rows in one go, read where they are */
    epi.addend = W == 2 ? (const float *)src[1] + first * src_ld[1] : NULL;
    epi.addend_ld = W == 2 ? src_ld[1] : 0;
    kernel->finish(&epi, (const float *)src[0] + first * src_ld[0], src_ld[0], 0, rows, 0, n);
    return;
  }
  /* Row by row, streamed stores measured far slower: each row's short
   * burst of them between the sums into the cached scratch row. */
  epi.stream = 0;
  for (int64_t i = 0; i < rows; i++) {
    for (int q = 0; q < W - last_by_epilogue; q++)
      kernel->accumulate(comm->row_scratch, (const char *)src[q] + (size_t)((first + i) * src_ld[q]) * es, src_dtype,
                         n, q == 0);
    epi.addend = last_by_epilogue ? (const float *)((const char *)src[W - 1] + (size_t)((first + i) * src_ld[W - 1]) * es)
                                  : NULL;
    epi.out = (char *)final->out + (size_t)(i * final->out_ld) * out_es;
    kernel->finish(&epi, comm->row_scratch, n, 0, 1, 0, n);
  }
}

size_t tpf_span_bytes(int64_t rows, int64_t n, int64_t ld, size_t es) {
  return rows < 1 ? 0 : (size_t)((rows - 1) * ld + n) * es;
}
