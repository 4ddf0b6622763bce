/* The AMX micro-kernels for bf16: a 32 x 32 tile of C in four 16 x 16 fp32
 * tiles (tmm0-3), fed per 32 k by two 16-row tiles of A (tmm4-5) and two
 * 16-column tiles of B (tmm6-7), one TDPBF16PS per tile of C; and a 16 x
 * 32 one for the rows that 32-row tiles would pad. A is packed as rows,
 * which a tile loads directly; B in the pairs format of the AVX-512 BF16
 * kernel, which is the tiles' layout (a pair of k per 32-bit element). k is
 * padded with zeros to a multiple of 32 in both. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"
#include "gemm/kernels/avx512/kernels_avx512.h"
#include "gemm/kernels/avx512_bf16/kernels_avx512_bf16.h"
#include "kernels_amx.h"

enum { MR = 32, NR = 32, NARROW_MR = 16, KSTEP = 32 };

static int64_t padded_k(int64_t kb) { return (kb + KSTEP - 1) / KSTEP * KSTEP; }

/* Palette 1: every tile 16 rows of 64 bytes (16 fp32, or 32 bf16). A
 * constant in memory: GCC's ldtilecfg tells the compiler of only 8 of the
 * 64 bytes it reads, so stores into a local could be dropped. */
typedef struct tile_config {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config_t;

static const tile_config_t config = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

static void enter(void) { _tile_loadconfig(&config); }

static void leave(void) { _tile_release(); }

/* The tile instructions' asm does not tell the compiler about memory. */
#define MEMORY_BARRIER() __asm__ volatile("" ::: "memory")

static void ukernel(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc,
                    int accumulate, tpf_prefetch_t next) {
  (void)next;
  const char *a = pa, *b = pb;
  const int64_t pk = padded_k(kb), as = pk * 2, bs = ldb * 2, cs = ldc * 4;
  float *c_low = c + 16 * ldc;
  MEMORY_BARRIER();
  if (accumulate) {
    _tile_loadd(0, c, cs);
    _tile_loadd(1, c + 16, cs);
    _tile_loadd(2, c_low, cs);
    _tile_loadd(3, c_low + 16, cs);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t p = 0; p < pk; p += KSTEP) {
    _tile_loadd(4, a + p * 2, as);
    _tile_loadd(5, a + 16 * as + p * 2, as);
    _tile_loadd(6, b + p / 2 * bs, bs);
    _tile_loadd(7, b + p / 2 * bs + 64, bs);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, cs);
  _tile_stored(1, c + 16, cs);
  _tile_stored(2, c_low, cs);
  _tile_stored(3, c_low + 16, cs);
  MEMORY_BARRIER();
}

static void ukernel_narrow(int64_t kb, const void *pa, const void *pb, int64_t ldb, float *c, int64_t ldc,
                           int accumulate, tpf_prefetch_t next) {
  (void)next;
  const char *a = pa, *b = pb;
  const int64_t pk = padded_k(kb), as = pk * 2, bs = ldb * 2, cs = ldc * 4;
  MEMORY_BARRIER();
  if (accumulate) {
    _tile_loadd(0, c, cs);
    _tile_loadd(1, c + 16, cs);
  } else {
    _tile_zero(0);
    _tile_zero(1);
  }
  for (int64_t p = 0; p < pk; p += KSTEP) {
    _tile_loadd(4, a + p * 2, as);
    _tile_loadd(6, b + p / 2 * bs, bs);
    _tile_loadd(7, b + p / 2 * bs + 64, bs);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
  }
  _tile_stored(0, c, cs);
  _tile_stored(1, c + 16, cs);
  MEMORY_BARRIER();
}

/* Rows [i0, i0+rows) x k [p0, p0+kb) of bf16 A as rows of pk values, the
 * rows up to a multiple of mr and k up to pk zero. */
static void pack_a(void *dst, const tpf_gemm_operand_t *a, int64_t i0, int64_t rows, int64_t p0, int64_t kb,
                   int mr) {
  const int64_t pk = padded_k(kb), padded_rows = (rows + mr - 1) / mr * mr;
  const uint16_t *src = a->data;
  uint16_t *out = dst;
  for (int64_t i = 0; i < padded_rows; i++, out += pk) {
    int64_t filled = 0;
    if (i < rows && !a->transposed) {
      memcpy(out, src + (i0 + i) * a->ld + p0, sizeof(uint16_t) * (size_t)kb);
      filled = kb;
    } else if (i < rows) {
      for (int64_t p = 0; p < kb; p++) out[p] = src[(p0 + p) * a->ld + i0 + i];
      filled = kb;
    }
    memset(out + filled, 0, sizeof(uint16_t) * (size_t)(pk - filled));
  }
}

/* One panel in the pairs format, then zero pairs up to pk. */
static void pack_b(void *dst, const tpf_gemm_operand_t *b, int64_t p0, int64_t kb, int64_t j0, int64_t cols,
                   int nr) {
  tpf_pack_b_bf16_pairs_avx512(dst, b, p0, kb, j0, cols, nr);
  const int64_t pairs = (kb + 1) / 2, padded_pairs = padded_k(kb) / 2;
  memset((uint16_t *)dst + pairs * 2 * nr, 0, sizeof(uint16_t) * (size_t)((padded_pairs - pairs) * 2 * nr));
}

static const tpf_gemm_kernel_t narrow_amx = {
    .name = "amx_bf16-narrow", .format = TPF_PACK_BF16_TILES, .mr = NARROW_MR, .nr = NR, .kc = 512, .mc = 480,
    .nc = 512, .flushes_subnormals = 1, .ukernel = ukernel_narrow, .pack_a = pack_a, .pack_b = pack_b,
    .finish = tpf_finish_avx512, .sum_row = tpf_sum_row_avx512, .enter = enter, .leave = leave};

const tpf_gemm_kernel_t tpf_kernel_amx_bf16 = {
    .name = "amx_bf16", .format = TPF_PACK_BF16_TILES, .mr = MR, .nr = NR, .kc = 512, .mc = 480, .nc = 512,
    .flushes_subnormals = 1, .ukernel = ukernel, .pack_a = pack_a, .pack_b = pack_b, .finish = tpf_finish_avx512,
    .sum_row = tpf_sum_row_avx512, .narrow = &narrow_amx, .enter = enter, .leave = leave};
