/* The loops of the blocked GEMM.
 *
 * Each compute thread owns a contiguous range of B's column panels (nr
 * columns), for packing and for multiplying, so no thread waits for another.
 * Within its range a thread loops: ic (mc rows of A) -> groups of column
 * chunks -> k panels P (pack mc x kc of A) -> column chunks of nc -> jr (one
 * micro-panel of B) -> ir (mr rows) -> micro-kernel into the fp32
 * accumulator. A group is one chunk for a tall block of rows, several for a
 * short one (as many as keep the accumulator in L2). After the last k panel
 * of a group the epilogue runs on it: every output element is rounded once.
 * Where a thread has several groups, its fp32 slices of A are packed in the
 * first and kept for the others (a_slices_bytes), so that A is read and
 * transposed once per block rather than once per group.
 *
 * B is packed where it is first used: a chunk of nc columns at a time,
 * read along B's rows, where the kernel has such a packer and packs_strips
 * says so (pack_b_rows: long runs, which the hardware prefetchers follow);
 * else a kc x nr panel at a time by the first tile that multiplies it (a
 * kernel that packs as it computes, or the packer just before), the tiles
 * prefetching the next panel's lines while they compute, so that reading B
 * from memory overlaps the arithmetic. When B will be multiplied by more
 * rows later (more row blocks, or the next chunk of a fused schedule), the
 * packed copy is kept, k panel by k panel: packed[P][panel][p][j];
 * otherwise each panel goes through a per-thread buffer (it stays in L1 or
 * L2) and B is read from memory exactly once. */
#include "gemm.h"

#include <stdlib.h>

#include "common/alloc.h"
#include "common/half.h"
#include "common/status.h"

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }
static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

tpf_gemm_operand_t tpf_gemm_operand_from_row(tpf_gemm_operand_t x, int64_t row) {
  size_t offset = (size_t)(x.transposed ? row : row * x.ld) * tpf_dtype_size(x.dtype);
  x.data = (const char *)x.data + offset;
  return x;
}

tpf_gemm_epilogue_t tpf_gemm_epilogue_from_row(tpf_gemm_epilogue_t e, int64_t row) {
  e.out = (char *)e.out + (size_t)(row * e.out_ld) * tpf_dtype_size(e.out_dtype);
  if (e.addend) e.addend += row * e.addend_ld;
  return e;
}

static size_t a_pack_bytes(const tpf_gemm_kernel_t *k) {
  return (size_t)(round_up(k->mc, k->mr) * tpf_pack_k(k->format, k->kc) * tpf_pack_bytes(k->format));
}

static size_t b_panel_bytes(const tpf_gemm_kernel_t *k);
static size_t b_strip_bytes(const tpf_gemm_kernel_t *k);

/* Floats between rows of the accumulator beyond its width: rows a multiple
 * of 4 KiB apart would all fall into the same sets of the L1 cache. */
enum { ACC_ROW_PAD = 16 };

/* The most fp32 sums a group of column chunks keeps (see multiply_job):
 * more groups pack A more often (the fp32 kernels keep their slices across
 * groups: a_slices_bytes), larger ones push the sums out of L2
 * (docs/performance.md, "GEMM"). */
enum { GROUP_ACC_BYTES = 512 * 1024 };

/* Floats of the accumulator: a tall block's chunk, or a short block's
 * group, with its padded rows. */
static int64_t acc_floats(const tpf_gemm_kernel_t *k) {
  const int64_t rows = round_up(k->mc, k->mr), tall = rows * (k->nc + ACC_ROW_PAD);
  const int64_t group = GROUP_ACC_BYTES / (int64_t)sizeof(float) + rows * ACC_ROW_PAD;
  return tall > group ? tall : group;
}

static size_t c_acc_bytes(const tpf_gemm_kernel_t *k) { return sizeof(float) * (size_t)acc_floats(k); }

tpf_status_t tpf_gemm_engine_init(tpf_gemm_engine_t *e, const tpf_gemm_isa_t *isa, int threads) {
  *e = (tpf_gemm_engine_t){0};
  e->isa = isa;
  size_t a_bytes = 0, b_bytes = 0, c_bytes = 0;
  for (int t = 0; t < 3; t++) {
    const tpf_gemm_kernel_t *k = isa->for_dtype[t];
    if (a_pack_bytes(k) > a_bytes) a_bytes = a_pack_bytes(k);
    if (b_panel_bytes(k) > b_bytes) b_bytes = b_panel_bytes(k);
    if (b_strip_bytes(k) > b_bytes) b_bytes = b_strip_bytes(k);
    if (c_acc_bytes(k) > c_bytes) c_bytes = c_acc_bytes(k);
  }
  e->spaces = calloc((size_t)threads, sizeof *e->spaces);
  if (!e->spaces) return tpf_fail(TPF_ERR_NOMEM, "could not allocate GEMM workspaces");
  tpf_status_t s = tpf_pool_create(threads, &e->pool);
  for (int t = 0; s == TPF_OK && t < threads; t++) {
    e->spaces[t].a_pack = tpf_alloc(a_bytes);
    e->spaces[t].b_pack = tpf_alloc(b_bytes);
    e->spaces[t].c_acc = tpf_alloc(c_bytes);
    if (!e->spaces[t].a_pack || !e->spaces[t].b_pack || !e->spaces[t].c_acc)
      s = tpf_fail(TPF_ERR_NOMEM, "could not allocate GEMM workspaces (%zu bytes per thread)",
                   a_bytes + b_bytes + c_bytes);
  }
  if (s != TPF_OK) {
    if (!e->pool) { /* spaces were never filled */
      free(e->spaces);
      e->spaces = NULL;
    }
    tpf_gemm_engine_free(e);
  }
  return s;
}

void tpf_gemm_engine_free(tpf_gemm_engine_t *e) {
  int threads = e->pool ? tpf_pool_threads(e->pool) : 0;
  for (int t = 0; e->spaces && t < threads; t++) {
    tpf_free(e->spaces[t].a_pack);
    tpf_free(e->spaces[t].b_pack);
    tpf_free(e->spaces[t].c_acc);
    tpf_free(e->spaces[t].a_slices);
  }
  free(e->spaces);
  tpf_pool_destroy(e->pool);
  tpf_free(e->packed);
  *e = (tpf_gemm_engine_t){0};
}

int tpf_gemm_engine_threads(const tpf_gemm_engine_t *e) { return tpf_pool_threads(e->pool); }

/* Layout of the packed B for one kernel and shape. */
typedef struct packed_layout {
  int64_t panels;      /* column panels of nr */
  int64_t k_panels;    /* k panels of kc */
  size_t panel_stride; /* bytes between k panels of the whole B */
} packed_layout_t;

static packed_layout_t layout_of(const tpf_gemm_kernel_t *kern, int64_t k, int64_t n) {
  packed_layout_t l;
  l.panels = (n + kern->nr - 1) / kern->nr;
  l.k_panels = (k + kern->kc - 1) / kern->kc;
  l.panel_stride = (size_t)(l.panels * kern->nr * tpf_pack_k(kern->format, kern->kc) *
                            tpf_pack_bytes(kern->format));
  return l;
}

/* Where panel `panel` of k panel P starts (its k extent is kb). */
static void *panel_at(const tpf_gemm_engine_t *e, const packed_layout_t *l, int64_t P, int64_t panel,
                      int64_t kb) {
  const tpf_gemm_kernel_t *kern = e->kernel;
  return (char *)e->packed + (size_t)P * l->panel_stride +
         (size_t)(panel * kern->nr * tpf_pack_k(kern->format, kb) * tpf_pack_bytes(kern->format));
}

/* Bytes of one packed panel of B (kc x nr): a thread's buffer when B is
 * not kept. */
static size_t b_panel_bytes(const tpf_gemm_kernel_t *k) {
  return (size_t)(tpf_pack_k(k->format, k->kc) * k->nr * tpf_pack_bytes(k->format));
}

/* Bytes of one strip (kc x nc), for the kernels that pack B in strips. */
static size_t b_strip_bytes(const tpf_gemm_kernel_t *k) {
  return k->pack_b_rows ? (size_t)(k->kc * k->nc) * sizeof(float) : 0;
}

/* Bytes of a block's slices of A for every k panel, where a thread packs
 * them once for all its groups of column chunks rather than once per
 * group: fp32 panels (twice the bytes of bf16 ones, and packed by
 * transposing: the AMX kernels lost more reading their slices back than
 * they saved), columns for more than one chunk, at most A_SLICES_MAX
 * bytes; else 0. */
enum { A_SLICES_MAX = 32 << 20 };
static size_t a_slices_bytes(const tpf_gemm_engine_t *e, const tpf_gemm_kernel_t *kern, int64_t k, int64_t n) {
  const packed_layout_t l = layout_of(kern, k, n);
  const int64_t per_thread = (l.panels + tpf_gemm_engine_threads(e) - 1) / tpf_gemm_engine_threads(e);
  const size_t bytes = (size_t)l.k_panels * a_pack_bytes(kern);
  return kern->format == TPF_PACK_F32 && per_thread * kern->nr > kern->nc && bytes <= A_SLICES_MAX
             ? bytes
             : 0;
}

tpf_status_t tpf_gemm_set_b(tpf_gemm_engine_t *e, int64_t k, int64_t n, const tpf_gemm_operand_t *b,
                            int keep) {
  const tpf_gemm_kernel_t *kern = e->isa->for_dtype[b->dtype];
  if (keep) {
    packed_layout_t l = layout_of(kern, k, n);
    tpf_status_t s = tpf_buffer_reserve(&e->packed, &e->packed_capacity,
                                        (size_t)l.k_panels * l.panel_stride, "the packed B");
    if (s != TPF_OK) return s;
  }
  const size_t slices = a_slices_bytes(e, kern, k, n);
  for (int t = 0; slices && t < tpf_gemm_engine_threads(e); t++) {
    tpf_gemm_thread_space_t *ws = &e->spaces[t];
    tpf_status_t s = tpf_buffer_reserve(&ws->a_slices, &ws->a_slices_capacity, slices, "the packed slices of A");
    if (s != TPF_OK) return s;
  }
  e->kernel = kern;
  e->k = k;
  e->n = n;
  e->b = *b;
  e->keep = keep;
  e->packed_ready = 0;
  return TPF_OK;
}

/* Thread t's column panels: [*first, *last). */
static void my_panels(int64_t panels, int t, int threads, int64_t *first, int64_t *last) {
  *first = panels * t / threads;
  *last = panels * (t + 1) / threads;
}

void tpf_accumulate_portable(float *acc, const void *src, tpf_dtype_t t, int64_t n, int first) {
  switch (t) { /* the dtype switch outside the loops, so that each vectorises */
  case TPF_FLOAT32: {
    const float *s = src;
    if (first) memcpy(acc, s, sizeof(float) * (size_t)n);
    else for (int64_t j = 0; j < n; j++) acc[j] += s[j];
    break;
  }
  case TPF_BFLOAT16: {
    const uint16_t *s = src;
    for (int64_t j = 0; j < n; j++) {
      uint32_t bits = (uint32_t)s[j] << 16;
      float v;
      memcpy(&v, &bits, sizeof v);
      acc[j] = first ? v : acc[j] + v;
    }
    break;
  }
  case TPF_FLOAT16: {
    const uint16_t *s = src;
    for (int64_t j = 0; j < n; j++) acc[j] = first ? tpf_f16_to_f32(s[j]) : acc[j] + tpf_f16_to_f32(s[j]);
    break;
  }
  }
}

void tpf_gemm_finish_portable(const tpf_gemm_epilogue_t *epi, const float *acc, int64_t ldc, int64_t i0,
                         int64_t rows, int64_t j0, int64_t cols) {
  for (int64_t i = 0; i < rows; i++) {
    const float *src = acc + i * ldc;
    const float *add = epi->addend ? epi->addend + (i0 + i) * epi->addend_ld + j0 : NULL;
    size_t out_row = (size_t)((i0 + i) * epi->out_ld + j0);
    if (!add && epi->divisor == 1.0f && !epi->bias && epi->out_dtype == TPF_FLOAT32) {
      float *dst = (float *)epi->out + out_row;
      for (int64_t j = 0; j < cols; j++) dst[j] = src[j];
      continue;
    }
    for (int64_t j = 0; j < cols; j++) {
      float v = src[j];
      if (add) v = add[j] + v;
      if (epi->divisor != 1.0f) v = v / epi->divisor;
      if (epi->bias) v = v + epi->bias[j0 + j];
      tpf_store_f32(epi->out, epi->out_dtype, out_row + (size_t)j, v);
    }
  }
}

void tpf_sum_row_portable(const tpf_gemm_epilogue_t *epi, const void *const *src, int sources, tpf_dtype_t t,
                          int64_t i, int64_t j0, int64_t cols) {
  enum { STRETCH = 64 };
  const size_t es = tpf_dtype_size(t);
  const int by_addend = t == TPF_FLOAT32 && sources >= 2; /* the last fp32 source, as finish's addend */
  float acc[STRETCH];
  tpf_gemm_epilogue_t last = *epi;
  last.addend_ld = 0;
  for (int64_t j = j0; j < j0 + cols; j += STRETCH) {
    const int64_t n = j0 + cols - j < STRETCH ? j0 + cols - j : STRETCH;
    for (int q = 0; q < sources - by_addend; q++)
      tpf_accumulate_portable(acc, (const char *)src[q] + (size_t)j * es, t, n, q == 0);
    last.addend = by_addend ? (const float *)src[sources - 1] : NULL;
    tpf_gemm_finish_portable(&last, acc, STRETCH, i, 1, j, n);
  }
}

typedef struct multiply_job {
  tpf_gemm_engine_t *e;
  int64_t m;
  const tpf_gemm_operand_t *a;
  const tpf_gemm_epilogue_t *epi;
  packed_layout_t layout;
} multiply_job_t;

/* How a block of rows is cut into tiles: `tall` tiles of the kernel's mr
 * rows, then `low` tiles of its narrow sibling's, with the fewest padded
 * rows (ties: the fewest narrow tiles). 64 rows are 4 x 14 + 1 x 8 rather
 * than 5 x 14, which would compute 9% of padding: both kernels run about
 * as fast per row, and give the same bits. */
typedef struct row_tiles {
  int64_t tall, low;
} row_tiles_t;

static row_tiles_t cut_rows(const tpf_gemm_kernel_t *k, int64_t rows) {
  row_tiles_t best = {(rows + k->mr - 1) / k->mr, 0};
  if (!k->narrow) return best;
  const int64_t low_mr = k->narrow->mr;
  int64_t best_rows = best.tall * k->mr;
  for (int64_t low = 1; (low - 1) * low_mr < rows; low++) {
    int64_t rest = rows - low * low_mr, tall = rest > 0 ? (rest + k->mr - 1) / k->mr : 0;
    if (tall * k->mr + low * low_mr < best_rows) {
      best = (row_tiles_t){tall, low};
      best_rows = tall * k->mr + low * low_mr;
    }
  }
  return best;
}

/* Whether this thread packs the panels it multiplies (else it reads them
 * from the kept copy, packed by the first block of rows). */
static int packs_b(const tpf_gemm_engine_t *e, int first_rows) {
  return !e->keep || (first_rows && !e->packed_ready);
}

/* Whether the first tile of a panel (kern: the tile's kernel) packs it as
 * it multiplies it: a whole panel of a plain B (and whole pairs of k for
 * the pairs format), when the kernel can. */
static int packs_in_kernel(const tpf_gemm_engine_t *e, const tpf_gemm_kernel_t *kern, int64_t kb, int64_t j0) {
  return kern->ukernel_packing && !e->b.transposed && j0 + kern->nr <= e->n &&
         (kern->format == TPF_PACK_F32 || kb % 2 == 0);
}

/* Panel `panel` of k panel P (its k extent kb), packed where it is first
 * used: into the kept copy when B is multiplied again later, else into the
 * thread's buffer, which stays in cache for the tiles that use it. Packed
 * here, or, when *src is set on return, by the first tile (kern) from
 * there. */
static char *b_panel(const multiply_job_t *job, tpf_gemm_thread_space_t *ws, int first_rows,
                     const tpf_gemm_kernel_t *first_kern, int64_t P, int64_t panel, int64_t kb, const char **src) {
  tpf_gemm_engine_t *e = job->e;
  const tpf_gemm_kernel_t *kern = e->kernel;
  char *at = e->keep ? panel_at(e, &job->layout, P, panel, kb) : ws->b_pack;
  int64_t j0 = panel * kern->nr;
  *src = NULL;
  if (!packs_b(e, first_rows)) return at;
  if (packs_in_kernel(e, first_kern, kb, j0))
    *src = (const char *)e->b.data + (size_t)(P * kern->kc * e->b.ld + j0) * tpf_dtype_size(e->b.dtype);
  else
    kern->pack_b(at, &e->b, P * kern->kc, kb, j0, min64(kern->nr, e->n - j0), kern->nr);
  return at;
}

/* Whether a thread packs B a chunk at a time, along its rows (see
 * tpf_pack_b_rows_fn), rather than a panel at a time as its first tile
 * multiplies it: where this block of rows packs B, and B is plain. Where
 * the kernel can also pack as it multiplies, only an fp32 B that is read
 * once (not kept): a 16-bit B converted on the way, and a kept B, packed
 * once for many blocks, measured faster packed in the kernel
 * (docs/performance.md, "AVX-512: strips for B read once"). */
static int packs_strips(const tpf_gemm_engine_t *e, int first_rows) {
  if (!e->kernel->pack_b_rows || !packs_b(e, first_rows) || e->b.transposed) return 0;
  return !e->kernel->ukernel_packing || (!e->keep && e->b.dtype == TPF_FLOAT32);
}

/* Panels [s0, s1) of k panel P, packed into the kept copy or the thread's
 * strip (the same layout: panels of kb x nr, one after the other): the
 * whole panels along B's rows, an edge panel by the packer. Returns where
 * panel s0 starts. */
static char *pack_strip(const multiply_job_t *job, tpf_gemm_thread_space_t *ws, int64_t P, int64_t s0, int64_t s1) {
  const tpf_gemm_engine_t *e = job->e;
  const tpf_gemm_kernel_t *kern = e->kernel;
  const int64_t nr = kern->nr, p0 = P * kern->kc, kb = min64(kern->kc, e->k - p0);
  char *strip = e->keep ? panel_at(e, &job->layout, P, s0, kb) : ws->b_pack;
  const int64_t whole = min64(s1, e->n / nr) - s0;
  if (whole > 0) kern->pack_b_rows(strip, kb * nr, &e->b, p0, kb, s0 * nr, whole);
  const int64_t edge = s0 + (whole > 0 ? whole : 0);
  if (edge < s1)
    kern->pack_b(strip + (size_t)((edge - s0) * kb * nr) * sizeof(float), &e->b, p0, kb, edge * nr,
                 e->n - edge * nr, nr);
  return strip;
}

/* The lines the thread reads for panel (P, panel): its rows in B when it
 * will be packed from there (a transposed B is left to the hardware
 * prefetchers), else its packed copy. Fetched while the previous panel is
 * multiplied, B's rows come from L2 when they are packed, and reading B
 * from memory no longer stalls the kernels. */
static tpf_prefetch_t panel_lines(const multiply_job_t *job, int first_rows, int64_t P, int64_t panel) {
  const tpf_gemm_engine_t *e = job->e;
  const tpf_gemm_kernel_t *kern = e->kernel;
  const int64_t p0 = P * kern->kc, kb = min64(kern->kc, e->k - p0), j0 = panel * kern->nr;
  if (!packs_b(e, first_rows)) { /* contiguous: 128 bytes a step */
    int64_t bytes = tpf_pack_k(kern->format, kb) * kern->nr * tpf_pack_bytes(kern->format);
    return (tpf_prefetch_t){panel_at(e, &job->layout, P, panel, kb), 128, 0, bytes / 128};
  }
  if (e->b.transposed) return (tpf_prefetch_t){0};
  /* From the line that holds a row's first column, 3 lines: the nr
   * columns (64 or 128 bytes) and what follows, so that narrow panels are
   * fetched further ahead. A step reads one row, or two for the pairs
   * format, whose steps are pairs of k. */
  const size_t es = tpf_dtype_size(e->b.dtype), row = (size_t)e->b.ld * es;
  const uintptr_t first = (uintptr_t)e->b.data + ((size_t)(p0 * e->b.ld) + (size_t)j0) * es;
  const char *at = (const char *)(first & ~(uintptr_t)63);
  if (kern->format != TPF_PACK_F32) return (tpf_prefetch_t){at, (int64_t)(2 * row), (int64_t)row, kb / 2};
  return (tpf_prefetch_t){at, (int64_t)row, 64, kb};
}

/* Tile u's share of a panel's lines, when `tiles` tiles multiply the
 * panel before it: every tiles-th step from step u. */
static tpf_prefetch_t tile_share(tpf_prefetch_t lines, int64_t u, int64_t tiles) {
  if (!lines.at || u >= lines.steps) return (tpf_prefetch_t){0};
  lines.at += u * lines.stride;
  lines.steps = (lines.steps - u + tiles - 1) / tiles;
  lines.stride *= tiles;
  return lines;
}

/* Chunks of nc columns per group for a block computed as `padded` rows: a
 * short block fills the accumulator with several, so that A is packed once
 * per group and B is read along its rows from one chunk to the next; a
 * tall block takes one. */
static int64_t chunks_per_group(const tpf_gemm_kernel_t *k, int64_t padded) {
  int64_t group = min64((acc_floats(k) / padded - ACC_ROW_PAD) / k->nc,
                        GROUP_ACC_BYTES / (padded * k->nc * (int64_t)sizeof(float)));
  return group < 1 ? 1 : group;
}

/* A block's slices of A: packed per group into the thread's buffer, or,
 * kept, packed in the first group into a_slices (one per k panel) and read
 * back by the later ones, each fetched toward L2 a few lines per tile
 * while the one before it is multiplied. */
typedef struct a_slices {
  int kept;
  const char *fetch;                   /* the next line to fetch */
  int64_t fetch_lines, fetch_per_tile; /* lines left, and per tile */
} a_slices_t;

static char *a_slice(const tpf_gemm_kernel_t *kern, const tpf_gemm_thread_space_t *ws, const a_slices_t *sl,
                     int64_t P) {
  return sl->kept ? (char *)ws->a_slices + (size_t)P * a_pack_bytes(kern) : (char *)ws->a_pack;
}

/* What to fetch during k panel P of a group: the slice the next k panel of
 * a later group reads, or the first one of the next group. */
static void a_slices_next(a_slices_t *sl, const multiply_job_t *job, const tpf_gemm_thread_space_t *ws, int64_t P,
                          int later_group, int more_groups, int64_t rows, int64_t tiles) {
  const tpf_gemm_kernel_t *kern = job->e->kernel;
  const int64_t panels = job->layout.k_panels;
  const int64_t next = P + 1 < panels ? (later_group ? P + 1 : -1) : more_groups ? 0 : -1;
  sl->fetch_lines = 0;
  if (!sl->kept || next < 0) return;
  const int64_t kb = min64(kern->kc, job->e->k - next * kern->kc);
  sl->fetch = a_slice(kern, ws, sl, next);
  sl->fetch_lines = rows * tpf_pack_k(kern->format, kb) * tpf_pack_bytes(kern->format) / 64;
  sl->fetch_per_tile = (sl->fetch_lines + tiles - 1) / tiles;
}

static void a_slices_fetch(a_slices_t *sl) {
  for (int64_t q = 0; q < sl->fetch_per_tile && sl->fetch_lines > 0; q++, sl->fetch_lines--, sl->fetch += 64)
    __builtin_prefetch(sl->fetch, 0, 2);
}

/* Where block b of `blocks` starts among m rows: blocks of about equal
 * height, at most mc (512 rows under an mc of 480 are two of 256 rather
 * than 480 + 32, whose second block would read all of B for a few rows),
 * each a whole number of the smallest tiles, so that only the last one
 * pads (256 rows of 6-row tiles are 84 + 84 + 88 rather than three of 85
 * or 86, each padded to 90).
 * Every kernel's mc is a whole number of its smallest tiles, so no block
 * is taller than mc. */
static int64_t block_start(const tpf_gemm_kernel_t *k, int64_t m, int64_t blocks, int64_t b) {
  const int64_t unit = k->narrow ? k->narrow->mr : k->mr, units = (m + unit - 1) / unit;
  return min64(m, units * b / blocks * unit);
}

static void multiply_job(void *arg, int t, int threads) {
  multiply_job_t *job = arg;
  tpf_gemm_engine_t *e = job->e;
  const tpf_gemm_kernel_t *kern = e->kernel, *low_kern = kern->narrow ? kern->narrow : kern;
  const int nr = kern->nr;
  const int64_t elem = tpf_pack_bytes(kern->format);
  const int64_t ldb = kern->format == TPF_PACK_F32 ? nr : 2 * nr;
  tpf_gemm_thread_space_t *ws = &e->spaces[t];
  int64_t first, last;
  my_panels(job->layout.panels, t, threads, &first, &last);
  if (first == last) return;
  if (kern->enter) kern->enter();
  const int64_t blocks = (job->m + kern->mc - 1) / kern->mc;
  for (int64_t block = 0; block < blocks; block++) {
    int64_t i0 = block_start(kern, job->m, blocks, block), mb = block_start(kern, job->m, blocks, block + 1) - i0;
    row_tiles_t tiles = cut_rows(kern, mb);
    const int64_t tall_rows = min64(tiles.tall * kern->mr, mb);
    const int64_t step = kern->nc / nr;
    const int64_t padded = tiles.tall * kern->mr + tiles.low * low_kern->mr, group = chunks_per_group(kern, padded);
    const int64_t ldc = group * kern->nc + ACC_ROW_PAD, all_tiles = tiles.tall + tiles.low;
    const int strips = packs_strips(e, i0 == 0);
    a_slices_t slices = {.kept = first + group * step < last && ws->a_slices &&
                                 ws->a_slices_capacity >= (size_t)job->layout.k_panels * a_pack_bytes(kern)};
    for (int64_t g0 = first; g0 < last; g0 += group * step) {
      int64_t g1 = min64(last, g0 + group * step);
      int64_t j0 = g0 * nr, cols = min64(g1 * nr, e->n) - j0;
      for (int64_t P = 0; P < job->layout.k_panels; P++) {
        int64_t p0 = P * kern->kc, kb = min64(kern->kc, e->k - p0);
        int64_t pk = tpf_pack_k(kern->format, kb);
        char *a_pack = a_slice(kern, ws, &slices, P), *low_a = a_pack + tall_rows * pk * elem;
        if (!slices.kept || g0 == first) {
          if (tall_rows > 0) kern->pack_a(a_pack, job->a, i0, tall_rows, p0, kb, kern->mr);
          if (tiles.low > 0) low_kern->pack_a(low_a, job->a, i0 + tall_rows, mb - tall_rows, p0, kb, low_kern->mr);
        }
        a_slices_next(&slices, job, ws, P, g0 > first, g1 < last, padded, (g1 - g0) * all_tiles);
        for (int64_t s0 = g0; s0 < g1; s0 += step) { /* chunks of nc columns */
          const int64_t s1 = min64(g1, s0 + step);
          char *strip = strips ? pack_strip(job, ws, P, s0, s1) : NULL;
          for (int64_t panel = s0; panel < s1; panel++) {
            const char *src = NULL;
            tpf_prefetch_t next = {0}; /* the panel after this one */
            char *bp;
            if (strips) {
              bp = strip + (size_t)((panel - s0) * kb * nr) * sizeof(float);
            } else {
              bp = b_panel(job, ws, i0 == 0, tiles.tall ? kern : low_kern, P, panel, kb, &src);
              if (panel + 1 < g1) next = panel_lines(job, i0 == 0, P, panel + 1);
              else if (P + 1 < job->layout.k_panels) next = panel_lines(job, i0 == 0, P + 1, g0);
            }
            float *c = ws->c_acc + (panel - g0) * nr;
            for (int64_t u = 0; u < all_tiles; u++) {
              a_slices_fetch(&slices);
              const int tall = u < tiles.tall;
              const tpf_gemm_kernel_t *k = tall ? kern : low_kern;
              const char *a = tall ? a_pack + u * kern->mr * pk * elem
                                   : low_a + (u - tiles.tall) * low_kern->mr * pk * elem;
              float *tile = c + (tall ? u * kern->mr : tall_rows + (u - tiles.tall) * low_kern->mr) * ldc;
              if (u == 0 && src)
                k->ukernel_packing(kb, a, src, e->b.ld, e->b.dtype, bp, tile, ldc, P > 0,
                                  tile_share(next, u, all_tiles));
              else
                k->ukernel(kb, a, bp, ldb, tile, ldc, P > 0, tile_share(next, u, all_tiles));
            }
          }
          if (t == 0 && e->progress) e->progress(e->progress_arg);
        }
      }
      kern->finish(job->epi, ws->c_acc, ldc, i0, mb, j0, cols);
    }
  }
  if (kern->leave) kern->leave();
}

void tpf_gemm_multiply(tpf_gemm_engine_t *e, int64_t m, const tpf_gemm_operand_t *a,
                       const tpf_gemm_epilogue_t *epi) {
  if (m <= 0) return;
  multiply_job_t job = {e, m, a, epi, layout_of(e->kernel, e->k, e->n)};
  tpf_pool_run(e->pool, multiply_job, &job);
  e->packed_ready = e->keep;
}

int tpf_gemm_reuses_b(const tpf_gemm_engine_t *e, tpf_dtype_t dtype, int64_t m) {
  return m > tpf_gemm_block_rows(e, dtype);
}

int64_t tpf_gemm_block_rows(const tpf_gemm_engine_t *e, tpf_dtype_t dtype) { return e->isa->for_dtype[dtype]->mc; }
