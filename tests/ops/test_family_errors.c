/* The operator family's rejections and faults: every rule of
 * tpf_all_gather, tpf_all_reduce, tpf_all_gather_mm and tpf_mm_all_reduce
 * with its status and words, the outputs untouched; then on thread ranks:
 * a rank whose arguments fail (its peers: TPF_ERR_PEER), mismatched calls
 * (one operator against another, gathered a or not, per-rank terms or
 * not) with the communicator working afterwards, cross-rank aliasing, a
 * rank that never calls (TPF_ERR_TIMEOUT) and tpf_comm_abort, each in
 * bounded time; and the five operators interleaved on one communicator. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../test.h"
#include "tpfuse.h"

enum { OP_AG, OP_AR, OP_AGMM, OP_MMAR, OP_MMRS };
enum { W = 3, M = 12, K = 8, N = 4 };
static const unsigned char SENTINEL = 0xab;

typedef struct fcall {
  int op;
  tpf_comm_t *comm;
  tpf_matrix_t a, b, out, gathered;
  int with_gathered;
  tpf_mm_options_t opt;
  tpf_matrix_t x3;
  int skip; /* this rank never calls */
  tpf_status_t status;
  char error[512];
  double seconds;
} fcall_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Every rank's memory: inputs of small integers, outputs to be checked. */
static float a_data[W][M * K], b_data[W][K * N], bias_data[N], x3_data[W][M * N];
static float out_data[W][M * N + 16], gathered_data[W][M * K + 16];

static tpf_status_t call_op(fcall_t *c) {
  switch (c->op) {
  case OP_AG: return tpf_all_gather(c->comm, &c->a, &c->out, &c->opt);
  case OP_AR: return tpf_all_reduce(c->comm, &c->a, &c->out, &c->opt);
  case OP_AGMM: return tpf_all_gather_mm(c->comm, &c->a, &c->b, &c->out, c->with_gathered ? &c->gathered : NULL, &c->opt);
  case OP_MMAR: return tpf_mm_all_reduce(c->comm, &c->a, &c->b, &c->out, &c->opt);
  default: return tpf_mm_reduce_scatter(c->comm, &c->a, &c->b, &c->out, &c->opt);
  }
}

/* A valid call of `op` for rank r of `size` ranks. */
static fcall_t valid(int op, tpf_comm_t *comm, int r, int size) {
  fcall_t c = {0};
  c.op = op, c.comm = comm;
  c.opt = (tpf_mm_options_t)TPF_MM_OPTIONS_INIT;
  const int64_t block = M / size;
  switch (op) {
  case OP_AG:
    c.a = (tpf_matrix_t){a_data[r], TPF_FLOAT32, block, N, 0, 0};
    c.out = (tpf_matrix_t){out_data[r], TPF_FLOAT32, M, N, 0, 0};
    break;
  case OP_AR:
    c.a = (tpf_matrix_t){a_data[r], TPF_FLOAT32, M, N, 0, 0};
    c.out = (tpf_matrix_t){out_data[r], TPF_FLOAT32, M, N, 0, 0};
    break;
  case OP_AGMM:
    c.a = (tpf_matrix_t){a_data[r], TPF_FLOAT32, block, K, 0, 0};
    c.b = (tpf_matrix_t){b_data[r], TPF_FLOAT32, K, N, 0, 0};
    c.out = (tpf_matrix_t){out_data[r], TPF_FLOAT32, M, N, 0, 0};
    c.gathered = (tpf_matrix_t){gathered_data[r], TPF_FLOAT32, M, K, 0, 0};
    c.with_gathered = 1;
    break;
  default:
    c.a = (tpf_matrix_t){a_data[r], TPF_FLOAT32, M, K, 0, 0};
    c.b = (tpf_matrix_t){b_data[r], TPF_FLOAT32, K, N, 0, 0};
    c.out = (tpf_matrix_t){out_data[r], TPF_FLOAT32, op == OP_MMRS ? block : M, N, 0, 0};
    c.x3 = (tpf_matrix_t){x3_data[r], TPF_FLOAT32, M, N, 0, 0};
  }
  return c;
}

static int untouched(int r) {
  const unsigned char *o = (const unsigned char *)out_data[r], *g = (const unsigned char *)gathered_data[r];
  for (size_t i = 0; i < sizeof out_data[r]; i++)
    if (o[i] != SENTINEL) return 0;
  for (size_t i = 0; i < sizeof gathered_data[r]; i++)
    if (g[i] != SENTINEL) return 0;
  return 1;
}

static void expect(int line, fcall_t c, tpf_status_t status, const char *words) {
  memset(out_data[0], SENTINEL, sizeof out_data[0]);
  memset(gathered_data[0], SENTINEL, sizeof gathered_data[0]);
  tpf_status_t got = call_op(&c);
  CHECK(got == status, "line %d: got %s, expected %s (%s)", line, tpf_status_string(got), tpf_status_string(status),
        tpf_last_error());
  CHECK(strstr(tpf_last_error(), words) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, tpf_last_error(), words);
  CHECK(untouched(0), "line %d: an output was written by a rejected call", line);
}
#define EXPECT(c, status, words) expect(__LINE__, c, status, words)

static void check_rules(tpf_comm_t *comm) {
  fcall_t c;
  /* AllGather */
  c = valid(OP_AG, comm, 0, 1), c.a.rows = 5;
  EXPECT(c, TPF_ERR_INVALID, "in is 5 x 4 but rank 0's block of out is 12 x 4");
  c = valid(OP_AG, comm, 0, 1), c.a.transposed = 1, c.a.rows = N, c.a.cols = M;
  EXPECT(c, TPF_ERR_INVALID, "in.transposed=1");
  c = valid(OP_AG, comm, 0, 1), c.out.transposed = 1, c.out.rows = N, c.out.cols = M;
  EXPECT(c, TPF_ERR_INVALID, "out.transposed=1");
  c = valid(OP_AG, comm, 0, 1), c.a.dtype = TPF_BFLOAT16;
  EXPECT(c, TPF_ERR_INVALID, "out is fp32 but in is bf16");
  c = valid(OP_AG, comm, 0, 1), c.opt.reduce_op = TPF_AVG;
  EXPECT(c, TPF_ERR_INVALID, "tpf_all_gather reduces nothing");
  c = valid(OP_AG, comm, 0, 1), c.opt.bias = bias_data;
  EXPECT(c, TPF_ERR_INVALID, "opt->bias: tpf_all_gather reduces nothing");
  c = valid(OP_AG, comm, 0, 1), c.a.data = out_data[0] + 2;
  EXPECT(c, TPF_ERR_INVALID, "out overlaps in in memory (in may only be out's own rows");
  c = valid(OP_AG, comm, 0, 1), c.out.data = NULL;
  EXPECT(c, TPF_ERR_INVALID, "out.data is NULL");
  int64_t counts[1] = {11};
  c = valid(OP_AG, comm, 0, 1), c.opt.row_counts = counts;
  EXPECT(c, TPF_ERR_INVALID, "row_counts add up to 11, not m=12");
  c = valid(OP_AG, comm, 0, 1), c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "opt->addend is for tpf_mm_all_reduce only, not tpf_all_gather");
  /* AllReduce */
  c = valid(OP_AR, comm, 0, 1), c.out.rows = M - 1;
  EXPECT(c, TPF_ERR_INVALID, "out is 11 x 4 but in is 12 x 4");
  c = valid(OP_AR, comm, 0, 1), c.out.data = a_data[0] + 4;
  EXPECT(c, TPF_ERR_INVALID, "out overlaps in in memory");
  c = valid(OP_AR, comm, 0, 1), c.opt.bias = out_data[0] + 1;
  EXPECT(c, TPF_ERR_INVALID, "out overlaps the bias in memory");
  c = valid(OP_AR, comm, 0, 1), c.opt.bias_per_rank = 1;
  EXPECT(c, TPF_ERR_INVALID, "opt->bias_per_rank is for tpf_mm_all_reduce only, not tpf_all_reduce");
  c = valid(OP_AR, comm, 0, 1), c.a.dtype = c.out.dtype = (tpf_dtype_t)7;
  EXPECT(c, TPF_ERR_INVALID, "in.dtype=7");
  /* AllGatherMatmul */
  c = valid(OP_AGMM, comm, 0, 1), c.a.transposed = 1, c.a.rows = M, c.a.cols = K, c.a.ld = M;
  EXPECT(c, TPF_ERR_INVALID, "a.transposed=1: a travels by rows");
  c = valid(OP_AGMM, comm, 0, 1), c.a.rows = 6;
  EXPECT(c, TPF_ERR_INVALID, "a has 6 rows but rank 0's block of the gathered a has 12");
  c = valid(OP_AGMM, comm, 0, 1), c.b.rows = K - 1;
  EXPECT(c, TPF_ERR_INVALID, "b has 7 rows but a has 8 columns");
  c = valid(OP_AGMM, comm, 0, 1), c.out.cols = N + 1;
  EXPECT(c, TPF_ERR_INVALID, "out has 5 columns but b has 4");
  c = valid(OP_AGMM, comm, 0, 1), c.gathered.rows = M - 2;
  EXPECT(c, TPF_ERR_INVALID, "gathered_a is 10 x 8 but the gathered a is 12 x 8");
  c = valid(OP_AGMM, comm, 0, 1), c.gathered.dtype = TPF_FLOAT16;
  EXPECT(c, TPF_ERR_INVALID, "gathered_a is fp16 but a is fp32");
  c = valid(OP_AGMM, comm, 0, 1), c.gathered.transposed = 1, c.gathered.rows = K, c.gathered.cols = M;
  EXPECT(c, TPF_ERR_INVALID, "gathered_a.transposed=1: it must be a row-major view");
  c = valid(OP_AGMM, comm, 0, 1), c.out.data = gathered_data[0] + 8;
  EXPECT(c, TPF_ERR_INVALID, "gathered_a overlaps out in memory");
  c = valid(OP_AGMM, comm, 0, 1), c.a.data = gathered_data[0] + 3;
  EXPECT(c, TPF_ERR_INVALID, "gathered_a overlaps a in memory (a may only be gathered_a's own rows");
  c = valid(OP_AGMM, comm, 0, 1), c.out.data = b_data[0];
  EXPECT(c, TPF_ERR_INVALID, "out overlaps b in memory");
  c = valid(OP_AGMM, comm, 0, 1), c.opt.reduce_op = TPF_AVG;
  EXPECT(c, TPF_ERR_INVALID, "tpf_all_gather_mm reduces nothing");
  c = valid(OP_AGMM, comm, 0, 1), c.opt.bias = bias_data, c.opt.bias_len = N + 1;
  EXPECT(c, TPF_ERR_INVALID, "opt->bias_len=5 but the bias must hold n=4");
  /* MatmulAllReduce */
  c = valid(OP_MMAR, comm, 0, 1), c.out.rows = M / 2;
  EXPECT(c, TPF_ERR_INVALID, "out is 6 x 4 but a @ b is 12 x 4");
  c = valid(OP_MMAR, comm, 0, 1), c.x3.rows = M - 1, c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "opt->addend is 11 x 4 but out is 12 x 4");
  c = valid(OP_MMAR, comm, 0, 1), c.x3.dtype = TPF_BFLOAT16, c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "opt->addend is bf16 but a is fp32");
  c = valid(OP_MMAR, comm, 0, 1), c.x3.transposed = 1, c.x3.rows = M, c.x3.cols = N, c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "opt->addend.transposed=1");
  c = valid(OP_MMAR, comm, 0, 1), c.x3.data = out_data[0] + 5, c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "out overlaps opt->addend in memory");
  c = valid(OP_MMAR, comm, 0, 1), c.opt.bias_per_rank = 2;
  EXPECT(c, TPF_ERR_INVALID, "opt->bias_per_rank=2 must be 0 or 1");
  c = valid(OP_MMAR, comm, 0, 1), c.out.data = a_data[0];
  EXPECT(c, TPF_ERR_INVALID, "out overlaps a in memory");
  /* MatmulReduceScatter refuses the new options */
  c = valid(OP_MMRS, comm, 0, 1), c.opt.addend = &c.x3;
  EXPECT(c, TPF_ERR_INVALID, "opt->addend is for tpf_mm_all_reduce only, not tpf_mm_reduce_scatter");
}

/* ------------------------------------------------------------ many ranks */

static void *call_rank(void *arg) {
  fcall_t *c = arg;
  if (c->skip) return NULL;
  double t0 = now();
  c->status = call_op(c);
  c->seconds = now() - t0;
  snprintf(c->error, sizeof c->error, "%s", c->status ? tpf_last_error() : "");
  return NULL;
}

static void run_all(fcall_t *calls, int size) {
  pthread_t th[W];
  for (int r = 0; r < size; r++) pthread_create(&th[r], NULL, call_rank, &calls[r]);
  for (int r = 0; r < size; r++) pthread_join(th[r], NULL);
}

static void set_all(fcall_t *calls, tpf_comm_t **comms, int op) {
  for (int r = 0; r < W; r++) calls[r] = valid(op, comms[r], r, W);
}

/* The exact outputs of a valid call (small integers: exact in fp32). */
static int correct(const fcall_t *calls, int r) {
  const fcall_t *c = &calls[r];
  const int64_t block = M / W, rows = c->out.rows;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < N; j++) {
      double want = 0;
      const int64_t row = c->op == OP_MMRS ? r * block + i : i;
      for (int q = 0; q < W; q++) {
        if (c->op == OP_AG) want = a_data[row / block][(row % block) * N + j];
        else if (c->op == OP_AR) want += a_data[q][row * N + j];
        else if (c->op == OP_AGMM) {
          if (q == 0)
            for (int64_t p = 0; p < K; p++) want += (double)a_data[row / block][(row % block) * K + p] * b_data[r][p * N + j];
        } else {
          for (int64_t p = 0; p < K; p++) want += (double)a_data[q][row * K + p] * b_data[q][p * N + j];
        }
      }
      if (out_data[r][i * N + j] != (float)want) return 0;
    }
  return 1;
}

static void expect_all_ok(fcall_t *calls, const char *label) {
  for (int r = 0; r < W; r++)
    CHECK(calls[r].status == TPF_OK && correct(calls, r), "%s: rank %d: %s: %s", label, r,
          tpf_status_string(calls[r].status), calls[r].error);
}

/* Rank 2 calls another operator, or the same with other options: every
 * rank fails with words that name both; then a good call works. */
static void check_mismatches(tpf_comm_t **comms) {
  static const struct {
    int op, other;
    int change; /* 0: another op; 1: no gathered a; 2: an addend; 3: per-rank bias */
    const char *theirs, *first;
  } cases[] = {
      {OP_AG, OP_AR, 0, "tpf_all_reduce", "tpf_all_gather"},
      {OP_AGMM, OP_MMAR, 0, "tpf_mm_all_reduce", "tpf_all_gather_mm"},
      {OP_MMRS, OP_AGMM, 0, "tpf_all_gather_mm", "tpf_mm_reduce_scatter"},
      {OP_AGMM, OP_AGMM, 1, "no gathered_a", "a gathered_a"},
      {OP_MMAR, OP_MMAR, 2, "an addend", "no addend"},
      {OP_MMAR, OP_MMAR, 3, "bias_per_rank=1", "bias_per_rank=0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fcall_t calls[W];
    set_all(calls, comms, cases[i].op);
    calls[2] = valid(cases[i].other, comms[2], 2, W);
    if (cases[i].change == 1) calls[2].with_gathered = 0;
    if (cases[i].change == 2) calls[2].opt.addend = &calls[2].x3;
    if (cases[i].change == 3) calls[2].opt.bias_per_rank = 1;
    run_all(calls, W);
    for (int r = 0; r < W; r++)
      CHECK(calls[r].status == TPF_ERR_MISMATCH && strstr(calls[r].error, cases[i].theirs) &&
                strstr(calls[r].error, cases[i].first),
            "mismatch %zu: rank %d: %s: %s", i, r, tpf_status_string(calls[r].status), calls[r].error);
    set_all(calls, comms, cases[i].op);
    run_all(calls, W);
    expect_all_ok(calls, "a good call after a mismatch");
  }
}

/* Rank 1's own arguments fail: it returns its error, its peers
 * TPF_ERR_PEER with its words, nothing is written; then a good call. */
static void check_peer_rejects(tpf_comm_t **comms) {
  for (int op = OP_AG; op <= OP_MMAR; op++) {
    fcall_t calls[W];
    set_all(calls, comms, op);
    calls[1].out.cols = N + 3;
    for (int r = 0; r < W; r++) memset(out_data[r], SENTINEL, sizeof out_data[r]);
    memset(gathered_data[0], SENTINEL, sizeof gathered_data[0]);
    run_all(calls, W);
    CHECK(calls[1].status == TPF_ERR_INVALID, "op %d: rank 1: %s", op, calls[1].error);
    CHECK(calls[0].status == TPF_ERR_PEER && strstr(calls[0].error, "rank 1 rejected its arguments"),
          "op %d: rank 0: %s: %s", op, tpf_status_string(calls[0].status), calls[0].error);
    CHECK(untouched(0), "op %d: rank 0 wrote its outputs", op);
    set_all(calls, comms, op);
    run_all(calls, W);
    expect_all_ok(calls, "a good call after a rejection");
  }
}

/* Every operator in turn, several rounds, on one communicator. */
static void check_interleaved(tpf_comm_t **comms) {
  for (int round = 0; round < 3; round++)
    for (int op = OP_AG; op <= OP_MMRS; op++) {
      fcall_t calls[W];
      set_all(calls, comms, (op + round) % 5);
      if (round == 1)
        for (int r = 0; r < W; r++) calls[r].opt.algo = TPF_ALGO_UNFUSED;
      if (round == 2)
        for (int r = 0; r < W; r++) calls[r].opt.algo = TPF_ALGO_RING, calls[r].opt.comm_turn = 2;
      run_all(calls, W);
      char label[64];
      snprintf(label, sizeof label, "interleaved round %d, op %d", round, (op + round) % 5);
      expect_all_ok(calls, label);
    }
}

/* Rank 0's gathered a over rank 1's out: refused on every rank. */
static void check_cross_rank_aliasing(tpf_comm_t **comms) {
  fcall_t calls[W];
  set_all(calls, comms, OP_AGMM);
  calls[0].gathered.data = out_data[1];
  run_all(calls, W);
  for (int r = 0; r < W; r++)
    CHECK(calls[r].status == TPF_ERR_INVALID && strstr(calls[r].error, "rank 0's gathered_a overlaps rank 1's out"),
          "rank %d: %s: %s", r, tpf_status_string(calls[r].status), calls[r].error);
  set_all(calls, comms, OP_AGMM);
  run_all(calls, W);
  expect_all_ok(calls, "after the aliasing refusal");
}

static void check_timeout_and_abort(void) {
  for (int op = OP_AG; op <= OP_MMAR; op++) {
    tpf_config_t cfg = TPF_CONFIG_INIT;
    cfg.timeout_ms = 300;
    tpf_comm_t *comms[W];
    CHECK_STATUS(tpf_comm_init_all(comms, W, &cfg), TPF_OK);
    fcall_t calls[W];
    set_all(calls, comms, op);
    calls[2].skip = 1;
    run_all(calls, W);
    for (int r = 0; r < 2; r++)
      CHECK(calls[r].status == TPF_ERR_TIMEOUT && calls[r].seconds >= 0.29 && calls[r].seconds < 2.0,
            "op %d: rank %d returned %s after %.3f s: %s", op, r, tpf_status_string(calls[r].status), calls[r].seconds,
            calls[r].error);
    for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);

    CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
    set_all(calls, comms, op);
    calls[2].skip = 1;
    pthread_t th[2];
    double t0 = now();
    for (int r = 0; r < 2; r++) pthread_create(&th[r], NULL, call_rank, &calls[r]);
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    tpf_comm_abort(comms[2]);
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < 2; r++)
      CHECK(calls[r].status == TPF_ERR_ABORTED && strstr(calls[r].error, "tpf_comm_abort on rank 2"),
            "op %d: rank %d after the abort: %s: %s", op, r, tpf_status_string(calls[r].status), calls[r].error);
    CHECK(now() - t0 < 2.0, "op %d: the aborted call took %.3f s", op, now() - t0);
    for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
  }
}

int main(void) {
  for (int r = 0; r < W; r++) {
    for (int i = 0; i < M * K; i++) a_data[r][i] = (float)((i * 7 + r * 3) % 5) - 2;
    for (int i = 0; i < K * N; i++) b_data[r][i] = (float)((i * 5 + r) % 4) - 1;
    for (int i = 0; i < M * N; i++) x3_data[r][i] = (float)(i % 3);
  }
  for (int j = 0; j < N; j++) bias_data[j] = (float)j;
  tpf_comm_t *one;
  CHECK_STATUS(tpf_comm_init_all(&one, 1, NULL), TPF_OK);
  check_rules(one);
  tpf_comm_destroy(one);
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
  check_mismatches(comms);
  check_peer_rejects(comms);
  check_interleaved(comms);
  check_cross_rank_aliasing(comms);
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
  check_timeout_and_abort();
  return test_summary();
}
