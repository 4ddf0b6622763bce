/* Large outputs, on thread and process ranks: blocks of more than 4 MiB
 * per rank, whose sums stream past the caches where the schedule allows,
 * and whose staged hand-over cycles its slots many times; rows padded so
 * that output rows start at every alignment. Small-integer inputs: the
 * results are exact, compared bit for bit with the sums computed here, for
 * the standalone reduce-scatter (fp32, bf16, fp16; sum, avg, bias), for
 * MatmulReduceScatter unfused and direct (the same bits), and for the
 * all-gather and all-reduce into outputs of more than 16 MiB per rank,
 * whose copies stream. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../test.h"
#include "ranks.h"
#include "tpfuse.h"

enum { W = 2, ROWS = 1030, PAD = 3, K = 5 };

typedef enum { REDUCE_SCATTER, MATMUL, GATHER, ALL_REDUCE } large_kind_t;

typedef struct large_case {
  int processes;
  large_kind_t kind;
  tpf_algo_t algo; /* (MATMUL's) */
  tpf_dtype_t dtype;
  int64_t n;
  tpf_reduce_op_t op;
  int bias;
} large_case_t;

/* Inputs and outputs, in memory shared with forked ranks (mmap). */
static unsigned char *in[W], *b_in[W], *out[W], *bias_in;
static int *status; /* per rank */
static tpf_status_t *started; /* per rank: its communicator made (ranks_run) */
static char (*start_error)[256];

static size_t es(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }
static const char *dtype_text(tpf_dtype_t t) { return t == TPF_FLOAT32 ? "fp32" : t == TPF_BFLOAT16 ? "bf16" : "fp16"; }

static void *shared_bytes(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Small integers, in the dtype (exact in every dtype). */
static float value_at(int r, int64_t i) { return (float)((int)((i * 7 + (uint64_t)r * 13) % 9) - 4); }

static void fill(unsigned char *dst, tpf_dtype_t t, int64_t rows, int64_t cols, int64_t ld, int r) {
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      float v = value_at(r, i * cols + j);
      tpf_convert(&v, TPF_FLOAT32, dst + (size_t)(i * ld + j) * es(t), t, 1);
    }
}

/* Rows of each rank's output: its block, or every block. */
static int64_t out_rows(const large_case_t *c) { return c->kind == GATHER || c->kind == ALL_REDUCE ? W * ROWS : ROWS; }

static void call_rank(const large_case_t *c, tpf_comm_t *comm, int r) {
  const int64_t n = c->n, ld = n + PAD;
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  opt.reduce_op = c->op;
  opt.bias = c->bias ? bias_in : NULL;
  opt.algo = c->algo;
  tpf_matrix_t o = {out[r], c->dtype, out_rows(c), n, ld, 0};
  tpf_matrix_t i = {in[r], c->dtype, c->kind == GATHER ? ROWS : W * ROWS, n, ld, 0};
  if (c->kind == MATMUL) {
    tpf_matrix_t a = {in[r], c->dtype, W * ROWS, K, K, 0}, b = {b_in[r], c->dtype, K, n, n, 0};
    status[r] = tpf_mm_reduce_scatter(comm, &a, &b, &o, &opt);
  } else if (c->kind == GATHER) {
    status[r] = tpf_all_gather(comm, &i, &o, &opt);
  } else if (c->kind == ALL_REDUCE) {
    status[r] = tpf_all_reduce(comm, &i, &o, &opt);
  } else {
    status[r] = tpf_reduce_scatter(comm, &i, &o, &opt);
  }
  if (status[r] != TPF_OK) fprintf(stderr, "rank %d: %s\n", r, tpf_last_error());
}

static void rank_body(tpf_comm_t *comm, int r, void *arg) { call_rank(arg, comm, r); }

static void run(const large_case_t *c) {
  ranks_run(c->processes ? RS_SHM : RS_THREADS, W, NULL, rank_body, (void *)c, started, start_error);
  for (int r = 0; r < W; r++) /* a rank without a communicator reports why */
    if (started[r] != TPF_OK) status[r] = started[r], fprintf(stderr, "rank %d: %s\n", r, start_error[r]);
}

/* Rank q's contribution to element (row, j) of the whole m x n sum. */
static double contribution(const large_case_t *c, int q, int64_t row, int64_t j) {
  if (c->kind != MATMUL) return value_at(q, row * c->n + j);
  double s = 0;
  for (int p = 0; p < K; p++) s += (double)value_at(q, row * K + p) * value_at(q, p * c->n + j);
  return s;
}

static void check(const large_case_t *c) {
  const int64_t n = c->n, ld = n + PAD;
  const int matmul = c->kind == MATMUL;
  for (int r = 0; r < W; r++) {
    fill(in[r], c->dtype, W * ROWS, matmul ? K : n, matmul ? K : ld, r);
    if (matmul) fill(b_in[r], c->dtype, K, n, n, r);
    memset(out[r], 0xee, (size_t)(out_rows(c) * ld) * es(c->dtype));
    status[r] = -1;
  }
  for (int64_t j = 0; j < n; j++) {
    float v = (float)(j % 5) - 2;
    tpf_convert(&v, TPF_FLOAT32, bias_in + (size_t)j * es(c->dtype), c->dtype, 1);
  }
  run(c);
  long wrong = 0;
  for (int r = 0; r < W; r++) {
    CHECK(status[r] == TPF_OK, "rank %d returned %d", r, status[r]);
    for (int64_t i = 0; i < out_rows(c); i++)
      for (int64_t j = 0; j < n; j++) {
        const int64_t row = out_rows(c) == ROWS ? r * ROWS + i : i; /* of the whole m x n */
        double s = 0;
        if (c->kind == GATHER) s = value_at((int)(i / ROWS), (i % ROWS) * n + j); /* its rank's block */
        for (int q = 0; q < W && c->kind != GATHER; q++) s += contribution(c, q, row, j);
        if (c->op == TPF_AVG) s /= W;
        if (c->bias) s += (double)(j % 5) - 2;
        float want = (float)s, got;
        unsigned char rounded[4];
        tpf_convert(&want, TPF_FLOAT32, rounded, c->dtype, 1); /* exact values: rounding is the identity */
        tpf_convert(rounded, c->dtype, &want, TPF_FLOAT32, 1);
        tpf_convert(out[r] + (size_t)(i * ld + j) * es(c->dtype), c->dtype, &got, TPF_FLOAT32, 1);
        wrong += got != want;
      }
    /* the padding after each row is left alone */
    for (int64_t i = 0; i + 1 < out_rows(c); i++) wrong += out[r][(size_t)(i * ld + n) * es(c->dtype)] != 0xee;
  }
  static const char *const kinds[] = {"reduce-scatter", "matmul", "all-gather", "all-reduce"};
  CHECK(wrong == 0, "%s, %s, %s, n=%lld, %s%s: %ld wrong elements", c->processes ? "processes" : "threads",
        matmul ? (c->algo == TPF_ALGO_DIRECT ? "matmul direct" : "matmul unfused") : kinds[c->kind],
        dtype_text(c->dtype), (long long)c->n, c->op == TPF_AVG ? "avg" : "sum", c->bias ? ", bias" : "", wrong);
}

int main(void) {
  const int64_t max_n = 2 * 1031;
  for (int r = 0; r < W; r++) {
    in[r] = shared_bytes((size_t)(W * ROWS * (max_n + PAD)) * 4);
    b_in[r] = shared_bytes((size_t)(K * max_n) * 4);
    out[r] = shared_bytes((size_t)(W * ROWS * (max_n + PAD)) * 4);
  }
  bias_in = shared_bytes((size_t)max_n * 4);
  status = shared_bytes(sizeof(int) * W);
  started = shared_bytes(sizeof(tpf_status_t) * W);
  start_error = shared_bytes(256 * W);
  /* fp32 rows of 1031 (4.1 MiB per rank) and 16-bit rows of 2062 (4.1
   * MiB); the gathers' outputs of fp32 rows of 2062, 16.3 MiB per rank */
  for (int processes = 0; processes < 2; processes++) {
    large_case_t cases[] = {
        {processes, REDUCE_SCATTER, TPF_ALGO_AUTO, TPF_FLOAT32, 1031, TPF_SUM, 0},
        {processes, REDUCE_SCATTER, TPF_ALGO_AUTO, TPF_FLOAT32, 1031, TPF_AVG, 1},
        {processes, REDUCE_SCATTER, TPF_ALGO_AUTO, TPF_BFLOAT16, 2062, TPF_SUM, 1},
        {processes, REDUCE_SCATTER, TPF_ALGO_AUTO, TPF_FLOAT16, 2062, TPF_AVG, 0},
        {processes, MATMUL, TPF_ALGO_UNFUSED, TPF_FLOAT32, 1031, TPF_SUM, 1},
        {processes, MATMUL, TPF_ALGO_DIRECT, TPF_FLOAT32, 1031, TPF_AVG, 0},
        {processes, MATMUL, TPF_ALGO_UNFUSED, TPF_BFLOAT16, 2062, TPF_AVG, 1},
        {processes, GATHER, TPF_ALGO_AUTO, TPF_FLOAT32, 2062, TPF_SUM, 0},
        {processes, ALL_REDUCE, TPF_ALGO_AUTO, TPF_FLOAT32, 2062, TPF_AVG, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check(&cases[i]);
  }
  return test_summary();
}
