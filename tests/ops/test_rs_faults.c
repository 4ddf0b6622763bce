/* Faults on thread ranks, each finishing in bounded time: mismatched calls
 * (TPF_ERR_MISMATCH on every rank, naming both values, the communicator
 * still usable afterwards), a rank that never calls (TPF_ERR_TIMEOUT at the
 * configured timeout), and tpf_comm_abort while the others wait. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../test.h"
#include "tpfuse.h"

enum { W = 3, M = 12, K = 64, N = 8 };

typedef struct rank_call {
  tpf_comm_t *comm;
  tpf_matrix_t a, b, out;
  tpf_mm_options_t opt;
  int skip; /* this rank never calls */
  tpf_status_t status;
  char error[512];
  double seconds;
} rank_call_t;

static float a_data[W][2 * M * K], b_data[W][K * N], out_data[W][2 * M * N], bias_data[N];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *call_rank(void *arg) {
  rank_call_t *c = arg;
  if (c->skip) return NULL;
  double t0 = now();
  c->status = tpf_mm_reduce_scatter(c->comm, &c->a, &c->b, &c->out, &c->opt);
  c->seconds = now() - t0;
  snprintf(c->error, sizeof c->error, "%s", tpf_last_error());
  return NULL;
}

static void setup(tpf_comm_t **comms, rank_call_t *calls) {
  for (int r = 0; r < W; r++) {
    calls[r] = (rank_call_t){0};
    calls[r].comm = comms[r];
    calls[r].a = (tpf_matrix_t){a_data[r], TPF_FLOAT32, M, K, 0, 0};
    calls[r].b = (tpf_matrix_t){b_data[r], TPF_FLOAT32, K, N, 0, 0};
    calls[r].out = (tpf_matrix_t){out_data[r], TPF_FLOAT32, M / W, N, 0, 0};
    calls[r].opt = (tpf_mm_options_t)TPF_MM_OPTIONS_INIT;
  }
}

static void run_all(rank_call_t *calls) {
  pthread_t th[W];
  for (int r = 0; r < W; r++) pthread_create(&th[r], NULL, call_rank, &calls[r]);
  for (int r = 0; r < W; r++) pthread_join(th[r], NULL);
}

/* One mismatch: `change` alters rank 2's call; every rank must report
 * TPF_ERR_MISMATCH with both values in words. */
static void check_mismatch(tpf_comm_t **comms, const char *label,
                           void (*change)(rank_call_t *), const char *theirs, const char *first) {
  rank_call_t calls[W];
  setup(comms, calls);
  change(&calls[2]);
  run_all(calls);
  for (int r = 0; r < W; r++) {
    CHECK(calls[r].status == TPF_ERR_MISMATCH, "%s: rank %d returned %s: %s", label, r,
          tpf_status_string(calls[r].status), calls[r].error);
    CHECK(strstr(calls[r].error, theirs) && strstr(calls[r].error, first),
          "%s: rank %d: \"%s\" should name \"%s\" and \"%s\"", label, r, calls[r].error, theirs, first);
  }
  /* the communicator still works */
  setup(comms, calls);
  run_all(calls);
  for (int r = 0; r < W; r++)
    CHECK(calls[r].status == TPF_OK, "%s: a good call afterwards failed on rank %d: %s", label, r, calls[r].error);
}

static void change_m(rank_call_t *c) { c->a.rows = 2 * M, c->out.rows = 2 * M / W; }
static void change_k(rank_call_t *c) { c->a.cols = K / 2, c->b.rows = K / 2; }
static void change_n(rank_call_t *c) { c->b.cols = N - 1, c->out.cols = N - 1; }
static void change_dtype(rank_call_t *c) {
  c->a.dtype = c->b.dtype = c->out.dtype = TPF_BFLOAT16;
}
static void change_op(rank_call_t *c) { c->opt.reduce_op = TPF_AVG; }
static void change_bias(rank_call_t *c) { c->opt.bias = bias_data; }
static void change_turn(rank_call_t *c) { c->opt.comm_turn = 3; }
static void change_algo(rank_call_t *c) { c->opt.algo = TPF_ALGO_RING; } /* auto: unfused, so small */
static void change_split(rank_call_t *c) {
  static const int64_t counts[W] = {4, 4, 4}; /* the even split, but given explicitly */
  c->opt.row_counts = counts;
}

static void check_mismatches(void) {
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
  double t0 = now();
  check_mismatch(comms, "m", change_m, "rank 2 passed m=24", "rank 0 passed m=12");
  check_mismatch(comms, "k", change_k, "rank 2 passed k=32", "rank 0 passed k=64");
  check_mismatch(comms, "n", change_n, "rank 2 passed n=7", "rank 0 passed n=8");
  check_mismatch(comms, "dtype", change_dtype, "rank 2 passed dtype bf16", "rank 0 passed dtype fp32");
  check_mismatch(comms, "reduce_op", change_op, "reduce_op avg", "reduce_op sum");
  check_mismatch(comms, "bias", change_bias, "rank 2 passed a bias", "rank 0 passed no bias");
  check_mismatch(comms, "comm_turn", change_turn, "comm_turn=3", "comm_turn=0");
  check_mismatch(comms, "algo", change_algo, "rank 2 passed algorithm ring", "rank 0 passed algorithm unfused");
  check_mismatch(comms, "row_counts", change_split, "row_counts with hash", "an even split");
  CHECK(now() - t0 < 10, "mismatches took %.1f s", now() - t0);
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
}

static void check_timeout(void) {
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 300;
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, &cfg), TPF_OK);
  rank_call_t calls[W];
  setup(comms, calls);
  calls[2].skip = 1;
  run_all(calls);
  for (int r = 0; r < 2; r++) {
    CHECK(calls[r].status == TPF_ERR_TIMEOUT, "rank %d returned %s: %s", r,
          tpf_status_string(calls[r].status), calls[r].error);
    CHECK(strstr(calls[r].error, "waited 300 ms for rank 2") != NULL, "rank %d: %s", r, calls[r].error);
    CHECK(calls[r].seconds >= 0.29 && calls[r].seconds < 2.0, "rank %d returned after %.3f s", r,
          calls[r].seconds);
  }
  /* the late rank, and every later call, learn of the failure at once */
  setup(comms, calls);
  double t0 = now();
  run_all(calls);
  for (int r = 0; r < W; r++)
    CHECK(calls[r].status == TPF_ERR_TIMEOUT, "after the timeout rank %d returned %s", r,
          tpf_status_string(calls[r].status));
  CHECK(now() - t0 < 0.2, "calls on a failed communicator took %.3f s", now() - t0);
  for (int r = 0; r < W; r++) CHECK_STATUS(tpf_comm_destroy(comms[r]), TPF_OK);
}

typedef struct aborter {
  tpf_comm_t *comm;
  double at;
} aborter_t;

static void *abort_later(void *arg) {
  aborter_t *a = arg;
  nanosleep(&(struct timespec){0, 150 * 1000 * 1000}, NULL);
  a->at = now();
  tpf_comm_abort(a->comm);
  return NULL;
}

static void check_abort(void) {
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK); /* default timeout: 30 s */
  rank_call_t calls[W];
  setup(comms, calls);
  calls[2].skip = 1; /* rank 2's thread aborts instead of calling */
  aborter_t ab = {comms[2], 0};
  pthread_t th;
  pthread_create(&th, NULL, abort_later, &ab);
  double t0 = now();
  run_all(calls);
  double done = now();
  pthread_join(th, NULL);
  for (int r = 0; r < 2; r++) {
    CHECK(calls[r].status == TPF_ERR_ABORTED, "rank %d returned %s: %s", r,
          tpf_status_string(calls[r].status), calls[r].error);
    CHECK(strstr(calls[r].error, "tpf_comm_abort on rank 2") != NULL, "rank %d: %s", r, calls[r].error);
  }
  CHECK(done - ab.at < 0.5, "ranks returned %.3f s after the abort", done - ab.at);
  CHECK(done - t0 < 2.0, "the aborted call took %.3f s", done - t0);
  for (int r = 0; r < W; r++) CHECK_STATUS(tpf_comm_destroy(comms[r]), TPF_OK);
}

int main(void) {
  for (int r = 0; r < W; r++)
    for (int i = 0; i < 2 * M * K; i++) a_data[r][i] = (float)((i + r) % 5);
  for (int r = 0; r < W; r++)
    for (int i = 0; i < K * N; i++) b_data[r][i] = (float)((i * 3 + r) % 4);
  check_mismatches();
  check_timeout();
  check_abort();
  return test_summary();
}
