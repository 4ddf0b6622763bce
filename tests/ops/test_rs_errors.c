/* Every rejection of SPEC section 3 on tpf_mm_reduce_scatter and the
 * communicator calls: the exact status, a message that names the argument
 * and the value, and the output left untouched. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "../test.h"
#include "tpfuse.h"

enum { M = 16, K = 512, N = 64 };
static uint16_t a_data[M * K], b_data[K * N], bias_data[N];
static unsigned char out_data[M * N * 4 + 64];
static const unsigned char SENTINEL = 0xab;

typedef struct call {
  tpf_matrix_t a, b, out;
  tpf_mm_options_t opt;
} call_t;

static call_t valid_call(void) {
  call_t c;
  c.a = (tpf_matrix_t){a_data, TPF_FLOAT16, M, K, 0, 0};
  c.b = (tpf_matrix_t){b_data, TPF_FLOAT16, K, N, 0, 0};
  c.out = (tpf_matrix_t){out_data, TPF_FLOAT16, M, N, 0, 0};
  c.opt = (tpf_mm_options_t)TPF_MM_OPTIONS_INIT;
  return c;
}

static int out_untouched(void) {
  for (size_t i = 0; i < sizeof out_data; i++)
    if (out_data[i] != SENTINEL) return 0;
  return 1;
}

static void expect(int line, tpf_comm_t *comm, call_t *c, const tpf_mm_options_t *opt,
                   tpf_status_t status, const char *words) {
  memset(out_data, SENTINEL, sizeof out_data);
  tpf_status_t got = tpf_mm_reduce_scatter(comm, &c->a, &c->b, &c->out, opt);
  CHECK(got == status, "line %d: got %s, expected %s (%s)", line, tpf_status_string(got),
        tpf_status_string(status), tpf_last_error());
  CHECK(strstr(tpf_last_error(), words) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
        tpf_last_error(), words);
  CHECK(out_untouched(), "line %d: out was written by a rejected call", line);
}
#define EXPECT(comm, c, opt, status, words) expect(__LINE__, comm, c, opt, status, words)

static void check_matrix_rules(tpf_comm_t *comm) {
  call_t c;
  EXPECT(NULL, (c = valid_call(), &c), NULL, TPF_ERR_INVALID, "comm is NULL");
  c = valid_call();
  memset(out_data, SENTINEL, sizeof out_data);
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, NULL, &c.b, &c.out, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "a is NULL"), "%s", tpf_last_error());
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, NULL, &c.out, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "b is NULL"), "%s", tpf_last_error());
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, NULL, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out is NULL"), "%s", tpf_last_error());
  CHECK(out_untouched(), "out written");

  c = valid_call(), c.a.data = NULL;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.data is NULL");
  c = valid_call(), c.out.data = NULL;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out.data is NULL");
  c = valid_call(), c.b.dtype = c.a.dtype = c.out.dtype = TPF_FLOAT32, c.b.data = (char *)b_data + 2;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "is not aligned to its 4-byte elements");
  c = valid_call(), c.a.rows = 0;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.rows=0 must be >= 1");
  c = valid_call(), c.a.cols = -5;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.cols=-5 must be >= 1");
  c = valid_call(), c.b.cols = 0;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "b.cols=0 must be >= 1");
  c = valid_call(), c.a.dtype = (tpf_dtype_t)9;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.dtype=9");
  c = valid_call(), c.a.transposed = 2;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.transposed=2 must be 0 or 1");
  c = valid_call(), c.a.ld = 100;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.ld=100 is less than its 512 stored columns");
  c = valid_call(), c.b.transposed = 1, c.b.ld = 500;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "b.ld=500 is less than its 512 stored columns (it is transposed");
  c = valid_call(), c.a.ld = -3;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a.ld=-3");
  c = valid_call(), c.a.rows = INT64_MAX / 2, c.a.ld = INT64_MAX / 4;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "a (");
  CHECK(strstr(tpf_last_error(), "more memory than can be addressed") != NULL, "%s", tpf_last_error());
  c = valid_call(), c.b.dtype = TPF_BFLOAT16;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "b is bf16 but a is fp16");
  c = valid_call(), c.out.dtype = TPF_FLOAT32;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out is fp32 but a is fp16");
  c = valid_call(), c.b.rows = 256;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "b has 256 rows but a has 512 columns");
  c = valid_call(), c.out.cols = 63;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out has 63 columns but b has 64");
  c = valid_call(), c.out.rows = 15;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out has 15 rows but rank 0 owns 16 of m=16");
  c = valid_call(), c.out.transposed = 1;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out.transposed=1");
  c = valid_call(), c.out.ld = 10;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "out.ld=10 is less than its 64 stored columns");
}

static void check_overlaps(tpf_comm_t *comm) {
  /* out placed inside a, inside b, over the bias */
  call_t c = valid_call();
  c.out.data = a_data + 100;
  uint16_t a_copy[M * K];
  memcpy(a_copy, a_data, sizeof a_copy);
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, &c.out, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out overlaps a") != NULL, "%s", tpf_last_error());
  CHECK(memcmp(a_copy, a_data, sizeof a_copy) == 0, "a was written");
  c = valid_call(), c.out.data = b_data + 10;
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, &c.out, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out overlaps b") != NULL, "%s", tpf_last_error());
  c = valid_call();
  c.opt.bias = out_data + 64;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "out overlaps the bias");
  /* adjacent is fine: out right after a's last byte */
  static uint16_t joined[M * K + M * N];
  c = valid_call(), c.a.data = joined, c.out.data = joined + M * K;
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, &c.out, NULL), TPF_OK);
}

static void check_options(tpf_comm_t *comm) {
  call_t c = valid_call();
  c.opt.reduce_op = (tpf_reduce_op_t)5;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->reduce_op=5 must be TPF_SUM or TPF_AVG");
  c = valid_call(), c.opt.comm_turn = -1;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->comm_turn=-1 must be >= 0");
  c = valid_call(), c.opt.algo = (tpf_algo_t)9;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->algo=9");
  int64_t short_counts[1] = {15}, negative[1] = {-1};
  c = valid_call(), c.opt.row_counts = short_counts;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "row_counts add up to 15, not m=16");
  c = valid_call(), c.opt.row_counts = negative;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->row_counts[0]=-1 must be in [0, m=16]");
  c = valid_call(), c.opt.bias = bias_data, c.opt.bias_len = 63;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->bias_len=63 but the bias must hold n=64");
  c = valid_call(), c.opt.bias_len = 64;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->bias_len=64 but opt->bias is NULL");
  c = valid_call(), c.opt.size = 8;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->size=8 is too small");
  c = valid_call(), c.opt.size = sizeof c.opt + 8;
  EXPECT(comm, &c, &c.opt, TPF_ERR_UNSUPPORTED, "larger than this library's tpf_mm_options_t");
  /* a comm_turn far beyond the rows is as many chunks as rows, not as
   * much space: INT_MAX chunks of 64 floats would be 1 TiB */
  for (int algo = TPF_ALGO_UNFUSED; algo <= TPF_ALGO_DIRECT; algo++) {
    c = valid_call(), c.opt.comm_turn = 2147483647, c.opt.algo = (tpf_algo_t)algo;
    memset(out_data, SENTINEL, sizeof out_data);
    CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, &c.out, &c.opt), TPF_OK);
    tpf_matrix_t in = {a_data, TPF_FLOAT16, M, K, 0, 0}, out = {out_data, TPF_FLOAT16, M, K, 0, 0};
    CHECK_STATUS(tpf_reduce_scatter(comm, &in, &out, &c.opt), TPF_OK);
  }
  /* sizes whose buffers would not fit 64 bits: refused, not wrapped */
  int64_t halves[1] = {(int64_t)1 << 42};
  c = valid_call(), c.a.rows = (int64_t)1 << 42, c.a.cols = c.b.rows = 1, c.b.cols = c.out.cols = (int64_t)1 << 20;
  c.out.rows = (int64_t)1 << 42, c.opt.row_counts = halves;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "the product a @ b is 4398046511104 x 1048576: more than 2^45 elements");
  c = valid_call(), c.b.rows = c.a.cols = (int64_t)1 << 30, c.b.cols = c.out.cols = (int64_t)1 << 20, c.b.ld = 0;
  EXPECT(comm, &c, NULL, TPF_ERR_INVALID, "b is 1073741824 x 1048576: more than 2^45 elements");
  int64_t huge[1] = {INT64_MAX};
  c = valid_call(), c.opt.row_counts = huge;
  EXPECT(comm, &c, &c.opt, TPF_ERR_INVALID, "opt->row_counts[0]=9223372036854775807 must be in [0, m=16]");
  tpf_matrix_t wide_in = {a_data, TPF_BFLOAT16, (int64_t)1 << 40, (int64_t)1 << 20, 0, 0};
  tpf_matrix_t wide_out = {out_data, TPF_BFLOAT16, (int64_t)1 << 40, (int64_t)1 << 20, 0, 0};
  CHECK_STATUS(tpf_reduce_scatter(comm, &wide_in, &wide_out, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "in is 1099511627776 x 1048576: more than 2^45 elements"), "%s", tpf_last_error());
  /* a caller built against contract v0 (no algo, no bias_len) still works */
  c = valid_call(), c.opt.size = offsetof(tpf_mm_options_t, algo);
  c.opt.algo = (tpf_algo_t)77; /* beyond its size: must be ignored */
  memset(out_data, SENTINEL, sizeof out_data);
  CHECK_STATUS(tpf_mm_reduce_scatter(comm, &c.a, &c.b, &c.out, &c.opt), TPF_OK);
}

/* Two ranks: the uneven split rule, and a rank that rejects its own call
 * while its peer's is fine: both return, neither waits for the other. */
typedef struct two_rank {
  tpf_comm_t *comm;
  call_t call;
  tpf_status_t status;
  char error[512];
} two_rank_t;

static void *call_rank(void *arg) {
  two_rank_t *t = arg;
  t->status = tpf_mm_reduce_scatter(t->comm, &t->call.a, &t->call.b, &t->call.out, &t->call.opt);
  snprintf(t->error, sizeof t->error, "%s", tpf_last_error());
  return NULL;
}

static void run_two(tpf_comm_t **comms, two_rank_t *t) {
  pthread_t th[2];
  for (int r = 0; r < 2; r++) {
    t[r].comm = comms[r];
    pthread_create(&th[r], NULL, call_rank, &t[r]);
  }
  for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
}

static void *reject_rank(void *arg) {
  two_rank_t *t = arg;
  t->status = tpf_comm_reject(t->comm, (tpf_status_t)t->call.opt.comm_turn, "x2 is float64");
  snprintf(t->error, sizeof t->error, "%s", tpf_last_error());
  return NULL;
}

/* Rank 1 refuses the call before tpfuse sees it (tpf_comm_reject, with the
 * status in t[1].call.opt.comm_turn) while rank 0 calls the operator:
 * rank 0 returns TPF_ERR_PEER with rank 1's words and writes nothing; the
 * communicator still works. A status that is not an error is
 * TPF_ERR_INVALID, and still takes part. */
static void check_reject(tpf_comm_t **comms, two_rank_t *t) {
  static const tpf_status_t given[] = {TPF_ERR_INVALID, TPF_ERR_UNSUPPORTED, TPF_OK, (tpf_status_t)-42};
  for (size_t i = 0; i < sizeof given / sizeof given[0]; i++) {
    pthread_t th[2];
    memset(t[0].call.out.data, 0xab, sizeof(uint16_t) * 8 * N);
    t[1].call.opt.comm_turn = (int)given[i];
    for (int r = 0; r < 2; r++) t[r].comm = comms[r];
    pthread_create(&th[0], NULL, call_rank, &t[0]);
    pthread_create(&th[1], NULL, reject_rank, &t[1]);
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    t[1].call.opt.comm_turn = 0;
    const int is_error = given[i] < TPF_OK && given[i] >= TPF_ERR_INTERNAL;
    const char *words = is_error ? "x2 is float64" : "must be an error status";
    tpf_status_t expected = is_error ? given[i] : TPF_ERR_INVALID;
    CHECK(t[1].status == expected && strstr(t[1].error, words), "reject %d: rank 1 got %s: %s", (int)given[i],
          tpf_status_string(t[1].status), t[1].error);
    CHECK(t[0].status == TPF_ERR_PEER && strstr(t[0].error, "rank 1 rejected its arguments") &&
              strstr(t[0].error, tpf_status_string(expected)) && strstr(t[0].error, words),
          "reject %d: rank 0 got %s: %s", (int)given[i], tpf_status_string(t[0].status), t[0].error);
    const uint16_t *out0 = t[0].call.out.data;
    int untouched = 1;
    for (size_t e = 0; e < 8 * N; e++) untouched &= out0[e] == 0xabab;
    CHECK(untouched, "reject %d: rank 0 wrote its output", (int)given[i]);
  }
  run_two(comms, t);
  CHECK(t[0].status == TPF_OK && t[1].status == TPF_OK, "after tpf_comm_reject: %s / %s", t[0].error, t[1].error);
  CHECK_STATUS(tpf_comm_reject(NULL, TPF_ERR_INVALID, "why"), TPF_ERR_INVALID);
}

static void check_two_ranks(void) {
  tpf_comm_t *comms[2];
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_OK);
  static uint16_t out0[8 * N], out1[8 * N];
  two_rank_t t[2];
  for (int r = 0; r < 2; r++) {
    t[r].call = valid_call();
    t[r].call.out.rows = 8;
    t[r].call.out.data = r ? out1 : out0;
  }
  t[0].call.a.rows = t[1].call.a.rows = 15;
  run_two(comms, t);
  for (int r = 0; r < 2; r++) {
    CHECK(t[r].status == TPF_ERR_INVALID, "rank %d: %s", r, tpf_status_string(t[r].status));
    CHECK(strstr(t[r].error, "m=15 does not divide by world_size 2") != NULL, "rank %d: %s", r, t[r].error);
  }
  for (int r = 0; r < 2; r++) t[r].call = valid_call(), t[r].call.out.rows = 8;
  t[0].call.out.data = out0, t[1].call.out.data = out1;
  t[1].call.b.rows = 300; /* rank 1 alone is wrong */
  memset(out0, 0xab, sizeof out0);
  run_two(comms, t);
  CHECK(t[1].status == TPF_ERR_INVALID && strstr(t[1].error, "b has 300 rows but a has 512 columns"),
        "rank 1: %s: %s", tpf_status_string(t[1].status), t[1].error);
  CHECK(t[0].status == TPF_ERR_PEER && strstr(t[0].error, "rank 1 rejected its arguments") &&
            strstr(t[0].error, "b has 300 rows"),
        "rank 0: %s: %s", tpf_status_string(t[0].status), t[0].error);
  int untouched = 1;
  for (size_t i = 0; i < sizeof out0 / 2; i++) untouched &= out0[i] == 0xabab;
  CHECK(untouched, "rank 0's out was written although rank 1 rejected the call");
  /* and the communicator still works afterwards */
  t[1].call.b.rows = K;
  run_two(comms, t);
  CHECK(t[0].status == TPF_OK && t[1].status == TPF_OK, "after a rejection: %s / %s", t[0].error, t[1].error);
  check_reject(comms, t);
  for (int r = 0; r < 2; r++) tpf_comm_destroy(comms[r]);
}

/* Ranks of one process writing what another rank reads (rank 0's out
 * inside rank 1's input) or writes: refused on every rank with the same
 * words, before anything is read or written; the communicator works on. */
typedef struct alias_rank {
  tpf_comm_t *comm;
  tpf_matrix_t in, out;
  int reduce_scatter; /* else tpf_mm_reduce_scatter with in as a and a small b */
  tpf_status_t status;
  char error[512];
} alias_rank_t;

static float alias_b[4 * 4];

static void *alias_call(void *arg) {
  alias_rank_t *r = arg;
  if (r->reduce_scatter) {
    r->status = tpf_reduce_scatter(r->comm, &r->in, &r->out, NULL);
  } else {
    tpf_matrix_t b = {alias_b, TPF_FLOAT32, 4, 4, 0, 0};
    r->status = tpf_mm_reduce_scatter(r->comm, &r->in, &b, &r->out, NULL);
  }
  snprintf(r->error, sizeof r->error, "%s", tpf_last_error());
  return NULL;
}

static void check_cross_rank_aliasing(void) {
  tpf_comm_t *comms[2];
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_OK);
  static float in0[8 * 4], in1[8 * 4], out0[4 * 4], out1[4 * 4];
  for (int i = 0; i < 32; i++) in0[i] = 1, in1[i] = 2;
  const char *words[] = {"rank 0's out overlaps rank 1's in in memory", "rank 0's out overlaps rank 1's a in memory",
                         "rank 0's out overlaps rank 1's out in memory", NULL};
  for (int t = 0; words[t]; t++) {
    alias_rank_t r[2];
    for (int q = 0; q < 2; q++) {
      r[q].comm = comms[q];
      r[q].in = (tpf_matrix_t){q ? in1 : in0, TPF_FLOAT32, 8, 4, 0, 0};
      r[q].out = (tpf_matrix_t){q ? out1 : out0, TPF_FLOAT32, 4, 4, 0, 0};
      r[q].reduce_scatter = t == 0;
    }
    if (t < 2) r[0].out.data = in1 + 8; /* inside rank 1's input */
    else r[0].out.data = out1;          /* on rank 1's output */
    pthread_t th[2];
    for (int q = 0; q < 2; q++) pthread_create(&th[q], NULL, alias_call, &r[q]);
    for (int q = 0; q < 2; q++) pthread_join(th[q], NULL);
    for (int q = 0; q < 2; q++)
      CHECK(r[q].status == TPF_ERR_INVALID && strstr(r[q].error, words[t]), "case %d, rank %d: %s: %s", t, q,
            tpf_status_string(r[q].status), r[q].error);
    int untouched = 1;
    for (int i = 0; i < 32; i++) untouched &= in1[i] == 2;
    CHECK(untouched, "case %d: rank 1's input was written", t);
  }
  alias_rank_t ok[2];
  for (int q = 0; q < 2; q++)
    ok[q] = (alias_rank_t){comms[q], {q ? in1 : in0, TPF_FLOAT32, 8, 4, 0, 0}, {q ? out1 : out0, TPF_FLOAT32, 4, 4, 0, 0},
                           1, TPF_ERR_INTERNAL, ""};
  pthread_t th[2];
  for (int q = 0; q < 2; q++) pthread_create(&th[q], NULL, alias_call, &ok[q]);
  for (int q = 0; q < 2; q++) pthread_join(th[q], NULL);
  CHECK(ok[0].status == TPF_OK && ok[1].status == TPF_OK && out0[0] == 3 && out1[0] == 3,
        "after the refusals: %s / %s, sums %g %g", ok[0].error, ok[1].error, out0[0], out1[0]);
  for (int q = 0; q < 2; q++) tpf_comm_destroy(comms[q]);
}

static void check_comm_rules(void) {
  tpf_comm_t *comms[3] = {NULL, NULL, NULL};
  CHECK_STATUS(tpf_comm_init_all(NULL, 2, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "comms is NULL") != NULL, "%s", tpf_last_error());
  CHECK_STATUS(tpf_comm_init_all(comms, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "world_size=0") != NULL, "%s", tpf_last_error());
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = -1;
  CHECK_STATUS(tpf_comm_init_all(comms, 2, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->timeout_ms=-1") != NULL, "%s", tpf_last_error());
  cfg = (tpf_config_t)TPF_CONFIG_INIT, cfg.threads_per_rank = -2;
  CHECK_STATUS(tpf_comm_init_all(comms, 2, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->threads_per_rank=-2 must be in [0, 1024]") != NULL, "%s", tpf_last_error());
  setenv("TPF_THREADS_PER_RANK", "many", 1);
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_THREADS_PER_RANK='many'") != NULL, "%s", tpf_last_error());
  unsetenv("TPF_THREADS_PER_RANK");
  cfg = (tpf_config_t)TPF_CONFIG_INIT, cfg.algo = (tpf_algo_t)42;
  CHECK_STATUS(tpf_comm_init_all(comms, 2, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->algo=42") != NULL, "%s", tpf_last_error());
  cfg = (tpf_config_t)TPF_CONFIG_INIT, cfg.size = 4;
  CHECK_STATUS(tpf_comm_init_all(comms, 2, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->size=4 is too small") != NULL, "%s", tpf_last_error());
  setenv("TPF_TIMEOUT_MS", "soon", 1);
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_TIMEOUT_MS='soon'") != NULL, "%s", tpf_last_error());
  unsetenv("TPF_TIMEOUT_MS");
  setenv("TPF_ALGO", "fastest", 1);
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_ALGO='fastest'") != NULL, "%s", tpf_last_error());
  unsetenv("TPF_ALGO");
  CHECK(comms[0] == NULL && comms[1] == NULL, "comms written by a failed init");

  /* names, lookup, destroyed communicators */
  CHECK_STATUS(tpf_comm_init_all(comms, 3, NULL), TPF_OK);
  CHECK(tpf_comm_size(comms[2]) == 3 && tpf_comm_rank(comms[2]) == 2, "rank/size");
  CHECK(strcmp(tpf_comm_name(comms[0]), tpf_comm_name(comms[1])) != 0, "names are unique");
  CHECK(tpf_comm_find(tpf_comm_name(comms[1])) == comms[1], "find by name");
  CHECK(tpf_comm_find("no such communicator") == NULL, "find an unknown name");
  char name[64];
  snprintf(name, sizeof name, "%s", tpf_comm_name(comms[1]));
  tpf_comm_t *gone = comms[1];
  CHECK_STATUS(tpf_comm_destroy(gone), TPF_OK);
  CHECK(tpf_comm_find(name) == NULL, "a destroyed communicator is not found");
  CHECK(tpf_comm_rank(gone) == -1 && tpf_comm_size(gone) == -1 && tpf_comm_name(gone) == NULL,
        "queries on a destroyed communicator");
  call_t c = valid_call();
  EXPECT(gone, &c, NULL, TPF_ERR_INVALID, "is not a live communicator");
  CHECK_STATUS(tpf_comm_destroy(gone), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_comm_abort(gone), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_comm_destroy(NULL), TPF_OK);
  /* an aborted communicator refuses every later call, on every rank */
  CHECK_STATUS(tpf_comm_abort(comms[0]), TPF_OK);
  EXPECT(comms[2], &c, NULL, TPF_ERR_ABORTED, "tpf_comm_abort on rank 0");
  tpf_comm_destroy(comms[0]);
  tpf_comm_destroy(comms[2]);
}

int main(void) {
  tpf_comm_t *comm;
  CHECK_STATUS(tpf_comm_init_all(&comm, 1, NULL), TPF_OK);
  check_matrix_rules(comm);
  check_overlaps(comm);
  check_options(comm);
  tpf_comm_destroy(comm);
  check_two_ranks();
  check_cross_rank_aliasing();
  check_comm_rules();
  CHECK(strcmp(tpf_status_string(TPF_ERR_MISMATCH), "TPF_ERR_MISMATCH") == 0, "status names");
  CHECK(strcmp(tpf_status_string((tpf_status_t)5), "TPF_UNKNOWN_STATUS") == 0, "unknown status");
  return test_summary();
}
