/* A soak: 10,000 collective calls per rank, cycling through shapes, dtypes,
 * operators (MatmulReduceScatter ring, unfused and automatic, and the
 * standalone reduce-scatter) and options (bias, avg, comm_turn, uneven
 * rows), on two thread ranks and then on two process ranks. Every output is
 * compared bit for bit with the exact result (integer inputs); resident
 * memory must stay flat after warm-up.
 * Usage: test_soak [calls] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "tpfuse.h"

enum { W = 2, CONFIGS = 12, MAXM = 128, MAXK = 96, MAXN = 96 };

typedef struct config {
  int64_t m, k, n;
  tpf_dtype_t dtype;
  int op; /* 0..2: mm_rs with algo auto/ring/unfused (direct for odd configs with op 0); 3: reduce-scatter */
  int bias, avg, turn, uneven;
} config_t;

static config_t configs[CONFIGS];
/* inputs and the exact expected outputs, made before any rank starts */
static uint16_t a16[CONFIGS][W][MAXM * MAXK], b16[CONFIGS][W][MAXK * MAXN], bias16[CONFIGS][MAXN];
static float a32[CONFIGS][W][MAXM * MAXK], b32[CONFIGS][W][MAXK * MAXN], bias32[CONFIGS][MAXN];
static unsigned char expect[CONFIGS][W][MAXM * MAXN * 4];

typedef struct outcome {
  long calls, wrong, failures;
  long rss_after_warmup_kb, rss_end_kb;
  char error[300];
} outcome_t;

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  if (f) fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int64_t rows_of(const config_t *c, int r, int64_t *counts) {
  counts[0] = c->uneven ? c->m / 4 : c->m / 2;
  counts[1] = c->m - counts[0];
  return counts[r];
}

static void make_configs(void) {
  const int64_t shapes[][3] = {{8, 16, 8}, {24, 40, 16}, {64, 64, 64}, {96, 17, 33}, {128, 96, 64}, {40, 1, 96}};
  uint32_t seed = 5;
  for (int i = 0; i < CONFIGS; i++) {
    config_t *c = &configs[i];
    *c = (config_t){shapes[i % 6][0], shapes[i % 6][1], shapes[i % 6][2], (tpf_dtype_t)(i % 3), i % 4,
                    i % 2, (i / 4) % 2, i % 3, i % 5 == 0};
    size_t es = c->dtype == TPF_FLOAT32 ? 4 : 2;
    for (int r = 0; r < W; r++) {
      for (int64_t x = 0; x < c->m * c->k; x++) {
        seed = seed * 1103515245u + 12345u;
        a32[i][r][x] = (float)((int)((seed >> 16) % 5) - 2);
      }
      for (int64_t x = 0; x < c->k * c->n; x++) {
        seed = seed * 1103515245u + 12345u;
        b32[i][r][x] = (float)((int)((seed >> 16) % 5) - 2);
      }
    }
    for (int64_t j = 0; j < c->n; j++) bias32[i][j] = (float)(j % 7) - 3;
    /* inputs of the reduce-scatter are the m x k "a" */
    int64_t cols = c->op == 3 ? c->k : c->n, counts[2];
    for (int r = 0; r < W; r++) {
      int64_t first = r ? rows_of(c, 0, counts) : 0;
      for (int64_t i2 = 0; i2 < rows_of(c, r, counts); i2++)
        for (int64_t j = 0; j < cols; j++) {
          float sum = 0;
          for (int q = 0; q < W; q++) {
            if (c->op == 3) sum += a32[i][q][(first + i2) * c->k + j];
            else
              for (int64_t p = 0; p < c->k; p++) sum += a32[i][q][(first + i2) * c->k + p] * b32[i][q][p * c->n + j];
          }
          float v = c->avg ? sum / (float)W : sum;
          if (c->bias) v = v + bias32[i][j];
          tpf_convert(&v, TPF_FLOAT32, expect[i][r] + (size_t)(i2 * cols + j) * es, c->dtype, 1);
        }
    }
    if (c->dtype != TPF_FLOAT32) {
      for (int r = 0; r < W; r++) {
        tpf_convert(a32[i][r], TPF_FLOAT32, a16[i][r], c->dtype, (size_t)(c->m * c->k));
        tpf_convert(b32[i][r], TPF_FLOAT32, b16[i][r], c->dtype, (size_t)(c->k * c->n));
      }
      tpf_convert(bias32[i], TPF_FLOAT32, bias16[i], c->dtype, (size_t)c->n);
    }
  }
}

static void soak_rank(tpf_comm_t *comm, int r, long calls, outcome_t *out) {
  static _Thread_local unsigned char result[MAXM * MAXN * 4];
  for (long i = 0; i < calls; i++) {
    int ci = (int)(i % CONFIGS);
    const config_t *c = &configs[ci];
    int f32 = c->dtype == TPF_FLOAT32;
    size_t es = f32 ? 4 : 2;
    int64_t counts[2], rows = rows_of(c, r, counts), cols = c->op == 3 ? c->k : c->n;
    tpf_matrix_t a = {f32 ? (void *)a32[ci][r] : (void *)a16[ci][r], c->dtype, c->m, c->k, 0, 0};
    tpf_matrix_t b = {f32 ? (void *)b32[ci][r] : (void *)b16[ci][r], c->dtype, c->k, c->n, 0, 0};
    tpf_matrix_t o = {result, c->dtype, rows, cols, 0, 0};
    tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
    opt.bias = c->bias ? (f32 ? (void *)bias32[ci] : (void *)bias16[ci]) : NULL;
    opt.reduce_op = c->avg ? TPF_AVG : TPF_SUM;
    opt.comm_turn = c->turn;
    opt.row_counts = c->uneven ? counts : NULL;
    opt.algo = c->op == 1 ? TPF_ALGO_RING : c->op == 2 ? TPF_ALGO_UNFUSED : ci % 8 == 4 ? TPF_ALGO_DIRECT : TPF_ALGO_AUTO;
    if (c->op == 3 && c->bias && cols != c->n) opt.bias = NULL; /* the bias is n long */
    memset(result, 0xee, sizeof result);
    tpf_status_t s = c->op == 3 ? tpf_reduce_scatter(comm, &a, &o, &opt) : tpf_mm_reduce_scatter(comm, &a, &b, &o, &opt);
    out->calls++;
    if (s != TPF_OK) {
      out->failures++;
      snprintf(out->error, sizeof out->error, "call %ld (config %d): %s", i, ci, tpf_last_error());
      return;
    }
    if (!(c->op == 3 && c->bias && cols != c->n)) /* the expectation assumed a bias of n */
      out->wrong += memcmp(result, expect[ci][r], (size_t)(rows * cols) * es) != 0;
    if (i == calls / 10) out->rss_after_warmup_kb = rss_kb();
  }
  out->rss_end_kb = rss_kb();
}

typedef struct job {
  tpf_comm_t *comm;
  int r;
  long calls;
  outcome_t *out;
} job_t;

static void *thread_main(void *p) {
  job_t *j = p;
  soak_rank(j->comm, j->r, j->calls, j->out);
  return NULL;
}

static void report(const char *how, outcome_t *o, long calls) {
  for (int r = 0; r < W; r++) {
    CHECK(o[r].failures == 0 && o[r].calls == calls, "%s rank %d: %ld calls, %ld failed: %s", how, r, o[r].calls,
          o[r].failures, o[r].error);
    CHECK(o[r].wrong == 0, "%s rank %d: %ld wrong results", how, r, o[r].wrong);
    long growth = o[r].rss_end_kb - o[r].rss_after_warmup_kb;
    CHECK(growth < 1024, "%s rank %d: resident memory grew by %ld KiB after warm-up", how, r, growth);
    printf("%s rank %d: %ld calls, resident %ld KiB after warm-up, %ld KiB at the end\n", how, r, o[r].calls,
           o[r].rss_after_warmup_kb, o[r].rss_end_kb);
  }
}

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 10000;
  make_configs();
  outcome_t *o = mmap(NULL, sizeof *o * W, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  /* thread ranks */
  memset(o, 0, sizeof *o * W);
  tpf_comm_t *comms[W];
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
  pthread_t th[W];
  job_t jobs[W];
  for (int r = 0; r < W; r++) jobs[r] = (job_t){comms[r], r, calls, &o[r]}, pthread_create(&th[r], NULL, thread_main, &jobs[r]);
  for (int r = 0; r < W; r++) pthread_join(th[r], NULL);
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);
  report("threads", o, calls);
  /* process ranks */
  memset(o, 0, sizeof *o * W);
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  pid_t pids[W];
  for (int r = 0; r < W; r++)
    if ((pids[r] = fork()) == 0) {
      tpf_comm_t *comm;
      if (tpf_comm_init_rank(&comm, W, id, r, NULL) == TPF_OK) soak_rank(comm, r, calls, &o[r]), tpf_comm_destroy(comm);
      _exit(0);
    }
  for (int r = 0; r < W; r++) waitpid(pids[r], NULL, 0);
  report("shm", o, calls);
  return test_summary();
}
