#define _GNU_SOURCE
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef TPF_WITH_MPI
#include "tpfuse_mpi.h"
#endif

static size_t esize(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

int64_t rs_case_rows(const rs_case_t *c, int r) {
  return c->row_counts ? c->row_counts[r] : c->m / c->world_size;
}

static int64_t first_row(const rs_case_t *c, int r) {
  int64_t first = 0;
  for (int q = 0; q < r; q++) first += rs_case_rows(c, q);
  return first;
}

/* splitmix64: a small, seedable generator, identical on every platform. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A value in dtype: uniform in [-1, 1), or a small integer in [-3, 3]. */
static float random_value(uint64_t *state, int integers) {
  uint64_t bits = next_random(state);
  if (integers) return (float)((int)(bits % 7) - 3);
  return (float)((double)(bits >> 11) * 0x1p-53 * 2.0 - 1.0);
}

/* A rank's inputs as the operator sees them, plus fp32 copies for the
 * reference (the dtype-rounded values). */
typedef struct rank_data {
  tpf_matrix_t a, b, out;
  void *bias;
  float *a32, *b32; /* dense logical m x k and k x n */
} rank_data_t;

/* Fills a view of a logical rows x cols matrix with random dtype values and
 * returns the same values, dense, in fp32. */
static float *fill_matrix(tpf_matrix_t *x, const rs_case_t *c, int64_t rows, int64_t cols,
                          int transposed, uint64_t *state) {
  int64_t stored_rows = transposed ? cols : rows, stored_cols = transposed ? rows : cols;
  x->dtype = c->dtype;
  x->rows = rows;
  x->cols = cols;
  x->transposed = transposed;
  x->ld = stored_cols + c->ld_pad;
  size_t elements = (size_t)(stored_rows * x->ld);
  x->data = calloc(elements ? elements : 1, esize(c->dtype));
  float *dense = malloc(sizeof(float) * (size_t)(rows * cols));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      float v = random_value(state, c->integers);
      size_t at = (size_t)(transposed ? j * x->ld + i : i * x->ld + j);
      tpf_convert(&v, TPF_FLOAT32, (char *)x->data + at * esize(c->dtype), c->dtype, 1);
      tpf_convert((char *)x->data + at * esize(c->dtype), c->dtype, &dense[i * cols + j], TPF_FLOAT32, 1);
    }
  return dense;
}

typedef struct worker {
  tpf_comm_t *comm;
  const rs_case_t *c;
  rank_data_t *d;
  rank_report_t *report;
  double *times_us;
} worker_t;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static void *work(void *arg) {
  worker_t *w = arg;
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  opt.reduce_op = w->c->reduce_op;
  opt.bias = w->d->bias;
  opt.comm_turn = w->c->comm_turn;
  opt.row_counts = w->c->row_counts;
  opt.algo = w->c->algo;
  int reps = w->c->reps > 0 ? w->c->reps : 1;
  w->report->status = TPF_OK;
  for (int i = 0; i < reps && w->report->status == TPF_OK; i++) {
    double t0 = now_us();
    w->report->status = tpf_mm_reduce_scatter(w->comm, &w->d->a, &w->d->b, &w->d->out, &opt);
    w->times_us[i] = now_us() - t0;
  }
  if (w->report->status != TPF_OK)
    snprintf(w->report->error, sizeof w->report->error, "%s", tpf_last_error());
  qsort(w->times_us, (size_t)reps, sizeof(double), by_value);
  w->report->median_us = w->times_us[reps / 2];
  return NULL;
}

/* Unit roundoff of a dtype. */
static double unit_roundoff(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? 0x1p-11 : t == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-24;
}

/* The smallest positive subnormal of a dtype: the absolute error floor. */
static double tiniest(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? 0x1p-24 : t == TPF_BFLOAT16 ? 0x1p-133 : 0x1p-149;
}

/* Checks rank r's output element by element. */
static void verify_rank(const rs_case_t *c, rank_data_t *data, int r, rank_report_t *rep,
                        const float *bias32) {
  const int W = c->world_size;
  const double u32 = 0x1p-24, u_out = unit_roundoff(c->dtype);
  int64_t first = first_row(c, r);
  const tpf_matrix_t *out = &data[r].out;
  for (int64_t i = 0; i < rep->rows; i++)
    for (int64_t j = 0; j < c->n; j++) {
      double sum = 0, magnitude = 0;
      for (int q = 0; q < W; q++)
        for (int64_t p = 0; p < c->k; p++) {
          double prod = (double)data[q].a32[(first + i) * c->k + p] * data[q].b32[p * c->n + j];
          sum += prod;
          magnitude += fabs(prod);
        }
      float got;
      tpf_convert((char *)out->data + (size_t)(i * out->ld + j) * esize(c->dtype), c->dtype, &got,
                  TPF_FLOAT32, 1);
      double error, bound;
      if (c->integers) {
        /* The sum is exact in fp32; the epilogue is fp32 math, one rounding. */
        float e = (float)sum;
        if (c->reduce_op == TPF_AVG) e = e / (float)W;
        if (bias32) e = e + bias32[j];
        uint32_t rounded = 0;
        float expected;
        tpf_convert(&e, TPF_FLOAT32, &rounded, c->dtype, 1);
        tpf_convert(&rounded, c->dtype, &expected, TPF_FLOAT32, 1);
        error = fabs((double)got - expected);
        bound = 0;
        if (memcmp(&got, &expected, sizeof got) != 0 && !(isnan(got) && isnan(expected))) rep->wrong++;
      } else {
        double ref = sum, scale = 1;
        if (c->reduce_op == TPF_AVG) ref /= W, scale = 1.0 / W;
        if (bias32) ref += bias32[j];
        /* fp32 accumulation of W*k products, the average and the bias, then
         * one rounding to the output dtype. */
        bound = (double)(c->k + W + 3) * u32 * (magnitude * scale + (bias32 ? fabs(bias32[j]) : 0)) +
                u_out * fabs(ref) + tiniest(c->dtype);
        error = fabs((double)got - ref);
        if (!(error <= bound)) rep->wrong++;
        if (error / bound > rep->worst_ratio) rep->worst_ratio = error / bound;
      }
      if (error > rep->max_abs_error) rep->max_abs_error = error;
    }
}

/* What a forked rank hands back to the parent, in shared memory. */
typedef struct process_slot {
  rank_report_t report;
  int finished;
} process_slot_t;

/* Runs every rank as a forked process; fills the reports and the outputs
 * (which live in `shared`, mapped before the fork). */
static tpf_status_t run_processes(const rs_case_t *c, const tpf_config_t *cfg, worker_t *workers,
                                  rank_data_t *data, const float *bias32, process_slot_t *slots) {
  const int W = c->world_size;
  tpf_unique_id_t id;
  tpf_status_t s = tpf_get_unique_id(&id);
  if (s != TPF_OK) return s;
  pid_t *pids = calloc((size_t)W, sizeof *pids);
  for (int r = 0; r < W; r++) {
    pids[r] = fork();
    if (pids[r] < 0) {
      for (int q = 0; q < r; q++) kill(pids[q], SIGKILL), waitpid(pids[q], NULL, 0);
      free(pids);
      return TPF_ERR_SYSTEM;
    }
    if (pids[r] == 0) { /* the rank */
      rank_report_t *rep = &slots[r].report;
      rep->rows = rs_case_rows(c, r);
      tpf_status_t st = tpf_comm_init_rank(&workers[r].comm, W, id, r, cfg);
      if (st != TPF_OK) {
        rep->status = st;
        snprintf(rep->error, sizeof rep->error, "%s", tpf_last_error());
      } else {
        workers[r].report = rep;
        work(&workers[r]);
        if (rep->status == TPF_OK) verify_rank(c, data, r, rep, bias32);
        tpf_comm_destroy(workers[r].comm);
      }
      slots[r].finished = 1;
      _exit(0);
    }
  }
  for (int r = 0; r < W; r++) waitpid(pids[r], NULL, 0);
  for (int r = 0; r < W; r++)
    if (!slots[r].finished) {
      slots[r].report.status = TPF_ERR_INTERNAL;
      snprintf(slots[r].report.error, sizeof slots[r].report.error, "rank %d's process died", r);
    }
  free(pids);
  return TPF_OK;
}

#ifdef TPF_WITH_MPI
/* This process runs and checks its own rank of MPI_COMM_WORLD; every
 * process gets every rank's report. */
static tpf_status_t run_mpi(const rs_case_t *c, const tpf_config_t *cfg, worker_t *workers, rank_data_t *data,
                            const float *bias32, rank_report_t *reports, int *local_rank) {
  int me = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != c->world_size) {
    if (me == 0)
      fprintf(stderr, "world size %d, but MPI_COMM_WORLD has %d processes (start it with mpirun -n %d)\n",
              c->world_size, size, c->world_size);
    return TPF_ERR_INVALID;
  }
  *local_rank = me;
  rank_report_t mine = {0};
  mine.rows = rs_case_rows(c, me);
  mine.status = tpf_comm_init_mpi(&workers[me].comm, MPI_COMM_WORLD, cfg);
  if (mine.status != TPF_OK) {
    snprintf(mine.error, sizeof mine.error, "%s", tpf_last_error());
  } else {
    workers[me].report = &mine;
    work(&workers[me]);
    if (mine.status == TPF_OK) verify_rank(c, data, me, &mine, bias32);
    tpf_comm_destroy(workers[me].comm);
  }
  MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, reports, (int)sizeof mine, MPI_BYTE, MPI_COMM_WORLD);
  return TPF_OK;
}
#endif

tpf_status_t rs_case_run(const rs_case_t *c, rs_result_t *result) {
  const int W = c->world_size;
  memset(result, 0, sizeof *result);
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = c->timeout_ms;
  cfg.threads_per_rank = c->threads_per_rank;
  cfg.isa = c->isa;
  tpf_comm_t **comms = calloc((size_t)W, sizeof *comms);
  result->local_rank = -1;
#ifndef TPF_WITH_MPI
  if (c->processes == RS_MPI) {
    free(comms);
    fprintf(stderr, "this build of tpfuse has no MPI transport\n");
    return TPF_ERR_UNSUPPORTED;
  }
#endif
  tpf_status_t s = c->processes != RS_THREADS ? TPF_OK : tpf_comm_init_all(comms, W, &cfg);
  if (s != TPF_OK) {
    free(comms);
    return s;
  }
  int reps = c->reps > 0 ? c->reps : 1;
  rank_data_t *data = calloc((size_t)W, sizeof *data);
  worker_t *workers = calloc((size_t)W, sizeof *workers);
  pthread_t *threads = calloc((size_t)W, sizeof *threads);
  result->world_size = W;
  result->ranks = calloc((size_t)W, sizeof *result->ranks);
  result->outputs = calloc((size_t)W, sizeof *result->outputs);
  size_t *out_bytes = calloc((size_t)W, sizeof *out_bytes);
  uint64_t state = c->seed;
  float *bias32 = NULL;
  void *bias = NULL;
  if (c->bias) {
    tpf_matrix_t bias_view;
    bias32 = fill_matrix(&bias_view, c, 1, c->n, 0, &state);
    bias = bias_view.data;
  }
  for (int r = 0; r < W; r++) {
    data[r].a32 = fill_matrix(&data[r].a, c, c->m, c->k, c->a_transposed, &state);
    data[r].b32 = fill_matrix(&data[r].b, c, c->k, c->n, c->b_transposed, &state);
    int64_t rows = rs_case_rows(c, r);
    data[r].out = (tpf_matrix_t){NULL, c->dtype, rows, c->n, c->n + c->ld_pad, 0};
    out_bytes[r] = (size_t)((rows ? rows : 1) * data[r].out.ld) * esize(c->dtype);
    /* shared with forked ranks, so that the parent sees their outputs */
    data[r].out.data = mmap(NULL, out_bytes[r], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    data[r].bias = bias;
    result->ranks[r].rows = rows;
    workers[r] = (worker_t){comms[r], c, &data[r], &result->ranks[r],
                            calloc((size_t)reps, sizeof(double))};
  }
  process_slot_t *slots = NULL;
#ifdef TPF_WITH_MPI
  if (c->processes == RS_MPI) {
    s = run_mpi(c, &cfg, workers, data, bias32, result->ranks, &result->local_rank);
    for (int r = 0; r < W; r++) result->ranks[r].rows = rs_case_rows(c, r);
  } else
#endif
  if (c->processes == RS_SHM) {
    slots = mmap(NULL, sizeof *slots * (size_t)W, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(slots, 0, sizeof *slots * (size_t)W);
    s = run_processes(c, &cfg, workers, data, bias32, slots);
    for (int r = 0; r < W; r++) {
      int64_t rows = result->ranks[r].rows;
      result->ranks[r] = slots[r].report;
      result->ranks[r].rows = rows;
    }
    munmap(slots, sizeof *slots * (size_t)W);
  } else {
    for (int r = 0; r < W; r++) pthread_create(&threads[r], NULL, work, &workers[r]);
    for (int r = 0; r < W; r++) pthread_join(threads[r], NULL);
  }
  result->passed = 1;
  for (int r = 0; r < W; r++) {
    rank_report_t *rep = &result->ranks[r];
    if (rep->status == TPF_OK && !c->processes) verify_rank(c, data, r, rep, bias32);
    if (rep->status != TPF_OK || rep->wrong) result->passed = 0;
    /* keep the output, densely packed, for bitwise comparisons */
    size_t row_bytes = (size_t)c->n * esize(c->dtype);
    result->outputs[r] = malloc(row_bytes * (size_t)(rep->rows ? rep->rows : 1));
    for (int64_t i = 0; i < rep->rows; i++)
      memcpy((char *)result->outputs[r] + (size_t)i * row_bytes,
             (char *)data[r].out.data + (size_t)(i * data[r].out.ld) * esize(c->dtype), row_bytes);
  }
  for (int r = 0; r < W; r++) {
    tpf_comm_destroy(comms[r]);
    free(data[r].a.data), free(data[r].b.data);
    munmap(data[r].out.data, out_bytes[r]);
    free(data[r].a32), free(data[r].b32), free(workers[r].times_us);
  }
  free(bias), free(bias32), free(data), free(workers), free(threads), free(comms), free(out_bytes);
  return s;
}

void rs_result_free(rs_result_t *result) {
  for (int r = 0; result->outputs && r < result->world_size; r++) free(result->outputs[r]);
  free(result->outputs);
  free(result->ranks);
  memset(result, 0, sizeof *result);
}

int rs_result_same_bits(const rs_case_t *c, const rs_result_t *x, const rs_result_t *y) {
  int only = x->local_rank >= 0 ? x->local_rank : y->local_rank;
  for (int r = 0; r < c->world_size; r++) {
    if (only >= 0 && r != only) continue;
    size_t bytes = (size_t)(rs_case_rows(c, r) * c->n) * esize(c->dtype);
    if (memcmp(x->outputs[r], y->outputs[r], bytes) != 0) return 0;
  }
  return 1;
}
