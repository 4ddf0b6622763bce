/* The loops of the blocked GEMM (BLIS order: rows of C in accumulator
 * blocks, then jc over nc columns, pc over kc, ic over mc, jr, ir).
 * Partial sums over k live in an fp32 accumulator block; the epilogue runs
 * once per block after the last k panel, so each output element is rounded
 * exactly once. */
#include "gemm.h"

#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"
#include "pack.h"

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }
static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

tpf_gemm_operand_t tpf_gemm_operand_from_row(tpf_gemm_operand_t x, int64_t row) {
  size_t offset = (size_t)(x.transposed ? row : row * x.ld) * tpf_dtype_size(x.dtype);
  x.data = (const char *)x.data + offset;
  return x;
}

tpf_status_t tpf_gemm_workspace_init(tpf_gemm_workspace_t *ws, const tpf_gemm_kernel_t *kernel) {
  ws->kernel = kernel;
  ws->a_pack = tpf_alloc(sizeof(float) * (size_t)(round_up(kernel->mc, kernel->mr) * kernel->kc));
  ws->b_pack = tpf_alloc(sizeof(float) * (size_t)(kernel->kc * kernel->nc));
  ws->c_acc = tpf_alloc(sizeof(float) * (size_t)(kernel->mb * kernel->nc));
  if (ws->a_pack && ws->b_pack && ws->c_acc) return TPF_OK;
  tpf_gemm_workspace_free(ws);
  return tpf_fail(TPF_ERR_NOMEM, "could not allocate the GEMM packing buffers");
}

void tpf_gemm_workspace_free(tpf_gemm_workspace_t *ws) {
  tpf_free(ws->a_pack);
  tpf_free(ws->b_pack);
  tpf_free(ws->c_acc);
  ws->a_pack = ws->b_pack = ws->c_acc = NULL;
}

/* Applies the epilogue to rows x cols of the accumulator (leading dimension
 * ldc), which hold C[i0.., j0..]. */
static void finish_block(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc,
                         int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
  for (int64_t i = 0; i < rows; i++) {
    const float *src = acc + i * ldc;
    const float *add = epi->addend ? epi->addend + (i0 + i) * epi->addend_ld + j0 : NULL;
    size_t out_row = (size_t)((i0 + i) * epi->out_ld + j0);
    for (int64_t j = 0; j < cols; j++) {
      float v = src[j];
      if (add) v = add[j] + v;
      if (epi->divisor != 1.0f) v = v / epi->divisor;
      if (epi->bias) v = v + epi->bias[j0 + j];
      tpf_store_f32(epi->out, epi->out_dtype, out_row + (size_t)j, v);
    }
  }
}

void tpf_gemm_run(tpf_gemm_workspace_t *ws, int64_t m, int64_t n, int64_t k,
                  const tpf_gemm_operand_t *a, const tpf_gemm_operand_t *b,
                  const tpf_gemm_epilogue_t *epi) {
  const tpf_gemm_kernel_t *kern = ws->kernel;
  const int mr = kern->mr, nr = kern->nr;
  const int64_t ldc = kern->nc;
  for (int64_t i0 = 0; i0 < m; i0 += kern->mb) {
    int64_t mb = min64(kern->mb, m - i0);
    for (int64_t j0 = 0; j0 < n; j0 += kern->nc) {
      int64_t nb = min64(kern->nc, n - j0);
      if (k == 0) { /* an empty sum: the accumulator is zero */
        for (int64_t i = 0; i < mb; i++)
          for (int64_t j = 0; j < nb; j++) ws->c_acc[i * ldc + j] = 0.0f;
        finish_block(epi, ws->c_acc, ldc, i0, mb, j0, nb);
        continue;
      }
      for (int64_t p0 = 0; p0 < k; p0 += kern->kc) {
        int64_t kb = min64(kern->kc, k - p0);
        int accumulate = p0 > 0;
        tpf_pack_b(ws->b_pack, b, p0, kb, j0, nb, nr);
        for (int64_t ii = 0; ii < mb; ii += kern->mc) {
          int64_t mcb = min64(kern->mc, mb - ii);
          tpf_pack_a(ws->a_pack, a, i0 + ii, mcb, p0, kb, mr);
          for (int64_t jr = 0; jr < nb; jr += nr)
            for (int64_t ir = 0; ir < mcb; ir += mr)
              kern->ukernel(kb, ws->a_pack + ir * kb, ws->b_pack + jr * kb,
                            ws->c_acc + (ii + ir) * ldc + jr, ldc, accumulate);
          if (p0 + kb == k)
            finish_block(epi, ws->c_acc + ii * ldc, ldc, i0 + ii, mcb, j0, nb);
        }
      }
    }
  }
}
