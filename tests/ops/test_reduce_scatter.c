/* tpf_reduce_scatter on thread ranks and on process ranks (shared memory):
 * every dtype, world sizes 1-5, even and uneven splits (zeros included),
 * sum and avg, bias, comm_turn 0/1/5, padded leading dimensions; random
 * inputs against a float64 reference, small integers bit for bit; the same
 * bits on both transports; rejected calls and mismatches. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../test.h"
#include "ranks.h"
#include "tpfuse.h"

enum { MAX_W = 5, MAX_M = 40, MAX_N = 70, PAD = 3 };

typedef struct rsc_case {
  int W;
  int64_t m, n;
  tpf_dtype_t dtype;
  const int64_t *counts;
  tpf_reduce_op_t op;
  int bias, turn, integers, processes;
  uint64_t seed;
} rsc_case_t;

/* Inputs and outputs, in memory shared with forked ranks. */
typedef struct shared {
  float in32[MAX_W][MAX_M * MAX_N]; /* the dtype-rounded inputs */
  unsigned char in[MAX_W][MAX_M * (MAX_N + PAD) * 4];
  unsigned char out[MAX_W][MAX_M * (MAX_N + PAD) * 4];
  float bias32[MAX_N];
  unsigned char bias[MAX_N * 4];
  int status[MAX_W];
  char error[MAX_W][300];
  tpf_status_t started[MAX_W]; /* communicators made (ranks_run) */
  char start_error[MAX_W][256];
} shared_t;

static shared_t *sh;
static size_t es(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

static int64_t rows_of(const rsc_case_t *c, int r) { return c->counts ? c->counts[r] : c->m / c->W; }
static int64_t first_of(const rsc_case_t *c, int r) {
  int64_t f = 0;
  for (int q = 0; q < r; q++) f += rows_of(c, q);
  return f;
}

static void call_rank(const rsc_case_t *c, tpf_comm_t *comm, int r) {
  tpf_matrix_t in = {sh->in[r], c->dtype, c->m, c->n, c->n + PAD, 0};
  tpf_matrix_t out = {sh->out[r], c->dtype, rows_of(c, r), c->n, c->n + PAD, 0};
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  opt.reduce_op = c->op;
  opt.row_counts = c->counts;
  opt.comm_turn = c->turn;
  opt.bias = c->bias ? sh->bias : NULL;
  sh->status[r] = tpf_reduce_scatter(comm, &in, &out, &opt);
  snprintf(sh->error[r], sizeof sh->error[r], "%s", tpf_last_error());
}

static void rank_body(tpf_comm_t *comm, int r, void *arg) { call_rank(arg, comm, r); }

static void run(const rsc_case_t *c) {
  ranks_run(c->processes ? RS_SHM : RS_THREADS, c->W, NULL, rank_body, (void *)c, sh->started, sh->start_error);
  for (int r = 0; r < c->W; r++) /* a rank without a communicator reports why */
    if (sh->started[r] != TPF_OK)
      sh->status[r] = sh->started[r], memcpy(sh->error[r], sh->start_error[r], sizeof sh->start_error[r]);
}

static uint64_t rng;
static float value(int integers) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  if (integers) return (float)((int)((rng >> 33) % 9) - 4);
  return (float)((double)(rng >> 11) * 0x1p-53 * 2 - 1);
}

/* Fills the inputs; runs; checks every output element. */
static void check_case(const rsc_case_t *c, unsigned char (*keep)[MAX_M * (MAX_N + PAD) * 4]) {
  rng = c->seed;
  for (int r = 0; r < c->W; r++)
    for (int64_t i = 0; i < c->m; i++)
      for (int64_t j = 0; j < c->n; j++) {
        float v = value(c->integers);
        size_t at = (size_t)(i * (c->n + PAD) + j) * es(c->dtype);
        tpf_convert(&v, TPF_FLOAT32, sh->in[r] + at, c->dtype, 1);
        tpf_convert(sh->in[r] + at, c->dtype, &sh->in32[r][i * c->n + j], TPF_FLOAT32, 1);
      }
  for (int64_t j = 0; j < c->n; j++) {
    float v = value(c->integers);
    tpf_convert(&v, TPF_FLOAT32, sh->bias + j * es(c->dtype), c->dtype, 1);
    tpf_convert(sh->bias + j * es(c->dtype), c->dtype, &sh->bias32[j], TPF_FLOAT32, 1);
  }
  memset(sh->out, 0, sizeof sh->out);
  run(c);
  const double u_out = c->dtype == TPF_FLOAT16 ? 0x1p-11 : c->dtype == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-24;
  char what[200];
  snprintf(what, sizeof what, "W=%d m=%lld n=%lld dtype=%d %s %s bias=%d turn=%d int=%d %s", c->W, (long long)c->m,
           (long long)c->n, (int)c->dtype, c->counts ? "uneven" : "even", c->op == TPF_AVG ? "avg" : "sum",
           c->bias, c->turn, c->integers, c->processes ? "shm" : "threads");
  for (int r = 0; r < c->W; r++) {
    CHECK(sh->status[r] == TPF_OK, "%s: rank %d: %s: %s", what, r, tpf_status_string(sh->status[r]), sh->error[r]);
    int64_t wrong = 0, first = first_of(c, r);
    for (int64_t i = 0; i < rows_of(c, r); i++)
      for (int64_t j = 0; j < c->n; j++) {
        double sum = 0, mag = 0;
        float seq = 0;
        for (int q = 0; q < c->W; q++) {
          float x = sh->in32[q][(first + i) * c->n + j];
          sum += x, mag += fabs(x), seq += x;
        }
        float got;
        tpf_convert(sh->out[r] + (size_t)(i * (c->n + PAD) + j) * es(c->dtype), c->dtype, &got, TPF_FLOAT32, 1);
        if (c->integers) { /* exact sums; the same fp32 epilogue; one rounding */
          float e = c->op == TPF_AVG ? seq / (float)c->W : seq;
          if (c->bias) e = e + sh->bias32[j];
          uint32_t raw = 0;
          float expect;
          tpf_convert(&e, TPF_FLOAT32, &raw, c->dtype, 1);
          tpf_convert(&raw, c->dtype, &expect, TPF_FLOAT32, 1);
          wrong += memcmp(&got, &expect, 4) != 0;
        } else {
          double ref = (c->op == TPF_AVG ? sum / c->W : sum) + (c->bias ? sh->bias32[j] : 0);
          double bound = (c->W + 3) * 0x1p-24 * (mag + (c->bias ? fabs(sh->bias32[j]) : 0)) + u_out * fabs(ref) + 0x1p-24;
          wrong += !(fabs(got - ref) <= bound);
        }
      }
    CHECK(wrong == 0, "%s: rank %d: %lld elements wrong", what, r, (long long)wrong);
  }
  if (keep) memcpy(keep, sh->out, sizeof sh->out);
}

static void check_matrix(void) {
  static const int64_t c3[] = {0, 5, 2}, c4[] = {1, 0, 0, 6}, c5[] = {2, 1, 1, 2, 1};
  const tpf_dtype_t types[] = {TPF_FLOAT16, TPF_BFLOAT16, TPF_FLOAT32};
  const int turns[] = {0, 1, 5};
  static unsigned char threads_out[MAX_W][MAX_M * (MAX_N + PAD) * 4];
  int variant = 0;
  for (int W = 1; W <= MAX_W; W++)
    for (int ti = 0; ti < 3; ti++)
      for (int uneven = 0; uneven < 2; uneven++) {
        variant++;
        rsc_case_t c = {W, W * 7, 1 + (variant * 13) % MAX_N, types[ti], NULL, variant % 2 ? TPF_AVG : TPF_SUM,
                        variant % 3 != 0, turns[variant % 3], variant % 2, 0, 1000 + (uint64_t)variant};
        if (uneven) {
          if (W == 3) c.counts = c3, c.m = 7;
          else if (W == 4) c.counts = c4, c.m = 7;
          else if (W == 5) c.counts = c5, c.m = 7;
          else continue;
        }
        check_case(&c, threads_out);
        c.processes = 1;
        check_case(&c, NULL);
        CHECK(memcmp(threads_out, sh->out, sizeof sh->out) == 0, "W=%d variant %d: thread and process ranks differ",
              W, variant);
      }
}

static void check_rejections(void) {
  tpf_comm_t *comm;
  CHECK_STATUS(tpf_comm_init_all(&comm, 1, NULL), TPF_OK);
  float in[6 * 4], out[6 * 4];
  tpf_matrix_t mi = {in, TPF_FLOAT32, 6, 4, 0, 0}, mo = {out, TPF_FLOAT32, 6, 4, 0, 0};
  tpf_matrix_t bad = mi;
  bad.transposed = 1;
  CHECK_STATUS(tpf_reduce_scatter(comm, &bad, &mo, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "in.transposed=1") != NULL, "%s", tpf_last_error());
  bad = mo, bad.rows = 5;
  CHECK_STATUS(tpf_reduce_scatter(comm, &mi, &bad, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out is 5 x 4 but rank 0 owns 6 rows of 4 columns") != NULL, "%s", tpf_last_error());
  bad = mo, bad.dtype = TPF_BFLOAT16;
  CHECK_STATUS(tpf_reduce_scatter(comm, &mi, &bad, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out is bf16 but in is fp32") != NULL, "%s", tpf_last_error());
  bad = mo, bad.data = in + 2;
  CHECK_STATUS(tpf_reduce_scatter(comm, &mi, &bad, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "out overlaps in") != NULL, "%s", tpf_last_error());
  CHECK_STATUS(tpf_reduce_scatter(comm, NULL, &mo, NULL), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_reduce_scatter(comm, &mi, NULL, NULL), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_reduce_scatter(NULL, &mi, &mo, NULL), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_reduce_scatter(comm, &mi, &mo, NULL), TPF_OK);
  tpf_comm_destroy(comm);
}

/* rank 1 calls with another m: both ranks get TPF_ERR_MISMATCH; and a
 * tpf_mm_reduce_scatter on one rank against tpf_reduce_scatter on another. */
typedef struct mixed {
  tpf_comm_t *comm;
  int r, which;
  tpf_status_t status;
  char error[300];
} mixed_t;

static void *mixed_main(void *p) {
  mixed_t *x = p;
  static float in[2][8 * 4], out[2][4 * 4], b[2][4 * 4];
  tpf_matrix_t mi = {in[x->r], TPF_FLOAT32, x->which == 1 && x->r == 1 ? 4 : 8, 4, 0, 0};
  tpf_matrix_t mo = {out[x->r], TPF_FLOAT32, mi.rows / 2, 4, 0, 0};
  tpf_matrix_t mb = {b[x->r], TPF_FLOAT32, 4, 4, 0, 0};
  if (x->which == 2 && x->r == 1) x->status = tpf_mm_reduce_scatter(x->comm, &mi, &mb, &mo, NULL);
  else x->status = tpf_reduce_scatter(x->comm, &mi, &mo, NULL);
  snprintf(x->error, sizeof x->error, "%s", tpf_last_error());
  return NULL;
}

static void check_mismatches(void) {
  for (int which = 1; which <= 2; which++) {
    tpf_comm_t *comms[2];
    tpf_comm_init_all(comms, 2, NULL);
    mixed_t x[2] = {{comms[0], 0, which, TPF_OK, ""}, {comms[1], 1, which, TPF_OK, ""}};
    pthread_t th[2];
    for (int r = 0; r < 2; r++) pthread_create(&th[r], NULL, mixed_main, &x[r]);
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
    const char *words = which == 1 ? "rank 1 passed m=4 but rank 0 passed m=8"
                                   : "rank 1 passed tpf_mm_reduce_scatter but rank 0 passed tpf_reduce_scatter";
    for (int r = 0; r < 2; r++)
      CHECK(x[r].status == TPF_ERR_MISMATCH && strstr(x[r].error, words), "case %d rank %d: %s: %s", which, r,
            tpf_status_string(x[r].status), x[r].error);
    for (int r = 0; r < 2; r++) tpf_comm_destroy(comms[r]);
  }
}

int main(void) {
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  check_matrix();
  check_rejections();
  check_mismatches();
  return test_summary();
}
