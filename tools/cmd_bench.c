/* tpfuse bench: MatmulReduceScatter fused against unfused, in one run.
 *
 * For each configuration every rank (a thread, a forked process with
 * --transport shm, or an MPI process with --transport mpi) times, over the
 * same inputs: the unfused path (GEMM, then the reduce-scatter), the fused
 * ring and direct schedules, the automatic choice, the rank's GEMM alone
 * (tpf_gemm) and the communication alone (tpf_reduce_scatter of the m x n
 * fp32 partials), and under MPI the user's baseline (baseline.h).
 * A call's time is the slowest rank's; figures are medians over the
 * repetitions. Inputs are small integers, so every output of every
 * repetition is checked bit for bit against the exact result (#wrong).
 *
 * Columns follow nccl-tests and OSU: time, TFLOP/s, algbw = bytes of one
 * rank's m x n fp32 partials / time, busbw = algbw * (W-1)/W; gemm and comm
 * alone, exposed = time - gemm, overlap = share of comm hidden. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "baseline.h"
#include "commands.h"
#include "floor.h"
#include "ranks.h"
#include "timing.h"
#include "timeline.h"

#ifdef TPF_WITH_MPI
#include "tpfuse_mpi.h"
#endif

enum { MAX_REPS = 50, KINDS = 7, EVENTS = 512 };
enum { T_UNFUSED, T_FUSED, T_GEMM, T_COMM, T_DIRECT, T_BASELINE, T_AUTO };
/* The calls of one repetition (the baseline last: MPI only). */
enum { U_UNFUSED, U_RING, U_ALONE, U_DIRECT, U_AUTO, U_BASELINE, UNITS };

typedef struct bench_shape {
  int64_t m, k, n;
} bench_shape_t;

/* The operator benchmarked (--op). */
enum { BENCH_MM_RS, BENCH_AG_MM, BENCH_MM_AR };
static const char *const OP_NAMES[] = {"mm_rs", "ag_mm", "mm_ar"};

typedef struct bench_setup {
  int op;
  int world_size, processes, reps, threads_per_rank;
  tpf_dtype_t dtype;
  bench_shape_t shape;
} bench_setup_t;

/* Shared with forked ranks: per rank and repetition, each kind's seconds. */
typedef struct bench_results {
  double seconds[KINDS][MAX_REPS][64];
  long wrong[64];
  long baseline_wrong[64];
  tpf_status_t status[64];
  char error[64][256];
  /* the last repetition's events: unfused [0], ring [1], direct [2], auto
   * [3] (whose GEMMs tell which algorithm it picked) */
  tpf_event_t events[4][64][EVENTS];
  tpf_trace_t traces[4][64];
} bench_results_t;

static size_t esize(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

/* Rank r's inputs: small integers in the dtype, the same in every process. */
static void *make_input(int64_t count, tpf_dtype_t t, unsigned seed) {
  void *data = bench_alloc((size_t)count * esize(t));
  for (int64_t i = 0; i < count; i++) {
    seed = seed * 1103515245u + 12345u;
    float v = (float)((int)((seed >> 16) % 5) - 2);
    tpf_convert(&v, TPF_FLOAT32, (char *)data + (size_t)i * esize(t), t, 1);
  }
  return data;
}

/* The baseline's BLAS threads: tpfuse's threads per rank (given, or this
 * host's cores divided among the ranks, all on this host here). */
static int blas_threads(int threads_per_rank, int W) {
  if (threads_per_rank > 0) return threads_per_rank;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores / W > 1 ? (int)(cores / W) : 1;
}

/* One rank's operands of the benchmarked operator: a (rows of a) x k,
 * b k x n, out (rows of out) x n; for the GEMM alone and the communication
 * alone, the product's input rows (`alone_a`), where it goes (`product`)
 * and what the collective writes (`collected`). */
typedef struct bench_io {
  tpf_matrix_t a, b, out;
  tpf_matrix_t alone_a, product, collected;
} bench_io_t;

static int64_t a_rows(const bench_setup_t *b) { return b->op == BENCH_AG_MM ? b->shape.m / b->world_size : b->shape.m; }
static int64_t out_rows(const bench_setup_t *b) {
  return b->op == BENCH_MM_RS ? b->shape.m / b->world_size : b->shape.m;
}

static bench_io_t make_io(const bench_setup_t *b, int r) {
  const int64_t m = b->shape.m, k = b->shape.k, n = b->shape.n, ar = a_rows(b), orows = out_rows(b);
  bench_io_t io;
  io.a = (tpf_matrix_t){make_input(ar * k, b->dtype, 17u + (unsigned)r), b->dtype, ar, k, 0, 0};
  io.b = (tpf_matrix_t){make_input(k * n, b->dtype, 91u + (unsigned)r), b->dtype, k, n, 0, 0};
  io.out = (tpf_matrix_t){bench_alloc((size_t)(orows * n) * esize(b->dtype)), b->dtype, orows, n, 0, 0};
  if (b->op == BENCH_AG_MM) { /* gather a (m x k), then the product in the dtype */
    io.alone_a = (tpf_matrix_t){bench_alloc((size_t)(m * k) * esize(b->dtype)), b->dtype, m, k, 0, 0};
    io.product = (tpf_matrix_t){bench_alloc((size_t)(m * n) * esize(b->dtype)), b->dtype, m, n, 0, 0};
    io.collected = io.alone_a;
    return io;
  }
  /* the product in fp32, then its reduce-scatter (or all-reduce) */
  io.alone_a = io.a;
  io.product = (tpf_matrix_t){bench_alloc(sizeof(float) * (size_t)(m * n)), TPF_FLOAT32, m, n, 0, 0};
  io.collected = (tpf_matrix_t){bench_alloc(sizeof(float) * (size_t)(orows * n)), TPF_FLOAT32, orows, n, 0, 0};
  return io;
}

static void free_io(const bench_setup_t *b, bench_io_t *io) {
  free(io->a.data), free(io->b.data), free(io->out.data), free(io->product.data);
  if (b->op == BENCH_AG_MM) free(io->alone_a.data);
  else free(io->collected.data);
}

static tpf_status_t call_op(const bench_setup_t *b, tpf_comm_t *comm, bench_io_t *io, const tpf_mm_options_t *opt) {
  switch (b->op) {
  case BENCH_AG_MM: return tpf_all_gather_mm(comm, &io->a, &io->b, &io->out, NULL, opt);
  case BENCH_MM_AR: return tpf_mm_all_reduce(comm, &io->a, &io->b, &io->out, opt);
  default: return tpf_mm_reduce_scatter(comm, &io->a, &io->b, &io->out, opt);
  }
}

/* The communication alone, then the GEMM alone (in the operator's order);
 * their seconds in t. */
static tpf_status_t call_alone(const bench_setup_t *b, tpf_comm_t *comm, bench_io_t *io, double *t) {
  tpf_status_t s;
  double t0 = timing_now();
  if (b->op == BENCH_AG_MM) {
    s = tpf_all_gather(comm, &io->a, &io->collected, NULL);
    t[T_COMM] = timing_now() - t0;
    t0 = timing_now();
    if (s == TPF_OK) s = tpf_gemm(comm, &io->alone_a, &io->b, &io->product, NULL);
    t[T_GEMM] = timing_now() - t0;
    return s;
  }
  s = tpf_gemm(comm, &io->alone_a, &io->b, &io->product, NULL);
  t[T_GEMM] = timing_now() - t0;
  t0 = timing_now();
  if (s == TPF_OK)
    s = b->op == BENCH_MM_AR ? tpf_all_reduce(comm, &io->product, &io->collected, NULL)
                             : tpf_reduce_scatter(comm, &io->product, &io->collected, NULL);
  t[T_COMM] = timing_now() - t0;
  return s;
}

/* The units of repetition `rep` in an order of their own: a shuffle by a
 * generator seeded with rep, the same on every rank (rep -1, the warm-up,
 * runs them in order). */
static void shuffled_units(int *order, int units, int rep) {
  for (int i = 0; i < units; i++) order[i] = i;
  uint32_t state = 2654435761u * (uint32_t)(rep + 2);
  for (int i = units - 1; rep >= 0 && i > 0; i--) {
    state = state * 1103515245u + 12345u;
    int j = (int)((state >> 16) % (uint32_t)(i + 1)), keep = order[i];
    order[i] = order[j], order[j] = keep;
  }
}

static void run_rank(const bench_setup_t *b, tpf_comm_t *comm, int r, bench_results_t *res) {
  const int W = b->world_size;
  const int64_t m = b->shape.m, k = b->shape.k, n = b->shape.n;
  bench_io_t io = make_io(b, r);
  const size_t out_bytes = (size_t)(io.out.rows * n) * esize(b->dtype);
  void *expect = calloc(out_bytes, 1);
  tpf_mm_options_t unfused = TPF_MM_OPTIONS_INIT, fused = TPF_MM_OPTIONS_INIT, direct = TPF_MM_OPTIONS_INIT;
  unfused.algo = TPF_ALGO_UNFUSED;
  fused.algo = TPF_ALGO_RING;
  direct.algo = TPF_ALGO_DIRECT;
  tpf_mm_options_t automatic = TPF_MM_OPTIONS_INIT; /* what the library picks */
  tpf_status_t s = call_op(b, comm, &io, &unfused); /* warm-up, and the exact result */
  memcpy(expect, io.out.data, out_bytes);
  baseline_t *user = b->op == BENCH_MM_RS && b->processes == RS_MPI && baseline_available()
                         ? baseline_new(m, k, n, W, blas_threads(b->threads_per_rank, W))
                         : NULL;
  for (int rep = -1; rep < b->reps && s == TPF_OK; rep++) { /* rep -1 warms up */
    if (rep == b->reps - 1) /* trace the last repetition */
      for (int algo = 0; algo < 4; algo++) {
        res->traces[algo][r] = (tpf_trace_t){res->events[algo][r], EVENTS, 0, 0};
        (algo == 0 ? &unfused : algo == 1 ? &fused : algo == 2 ? &direct : &automatic)->trace = &res->traces[algo][r];
      }
    /* One call of each kind, each timed on this rank, every output checked.
     * Each repetition runs the kinds in another order: a call also times
     * the skew with which the ranks left the previous one (and the caches
     * it left), which would otherwise always fall on the same kind. Every
     * rank runs the same order. */
    double t[KINDS] = {0};
    const int units = user ? UNITS : UNITS - 1;
    int order[UNITS];
    shuffled_units(order, units, rep);
    for (int j = 0; j < units && s == TPF_OK; j++) {
      const int unit = order[j];
      memset(io.out.data, 0, out_bytes);
      double t0 = timing_now();
      switch (unit) {
      case U_UNFUSED: s = call_op(b, comm, &io, &unfused), t[T_UNFUSED] = timing_now() - t0; break;
      case U_RING: s = call_op(b, comm, &io, &fused), t[T_FUSED] = timing_now() - t0; break;
      case U_DIRECT: s = call_op(b, comm, &io, &direct), t[T_DIRECT] = timing_now() - t0; break;
      case U_AUTO: s = call_op(b, comm, &io, &automatic), t[T_AUTO] = timing_now() - t0; break;
      case U_ALONE: s = call_alone(b, comm, &io, t); continue;
      default: /* what a user writes without tpfuse (MPI only) */
        baseline_call(user, io.a.data, io.b.data, b->dtype, io.out.data);
        t[T_BASELINE] = timing_now() - t0;
        res->baseline_wrong[r] += memcmp(io.out.data, expect, out_bytes) != 0;
        continue;
      }
      res->wrong[r] += memcmp(io.out.data, expect, out_bytes) != 0;
    }
    for (int kind = 0; kind < KINDS && rep >= 0; kind++) res->seconds[kind][rep][r] = t[kind];
  }
  res->status[r] = s;
  if (s != TPF_OK) snprintf(res->error[r], sizeof res->error[r], "%s", tpf_last_error());
  baseline_free(user);
  free_io(b, &io);
  free(expect);
}

typedef struct rank_job {
  const bench_setup_t *b;
  bench_results_t *res;
} rank_job_t;

static void rank_main(tpf_comm_t *comm, int r, void *arg) {
  rank_job_t *job = arg;
  run_rank(job->b, comm, r, job->res);
}

static tpf_status_t run_setup(const bench_setup_t *b, bench_results_t *res) {
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.threads_per_rank = b->threads_per_rank;
  memset(res, 0, sizeof *res);
  rank_job_t job = {b, res};
  tpf_status_t s = ranks_run(b->processes, b->world_size, &cfg, rank_main, &job, res->status, res->error);
#ifdef TPF_WITH_MPI
  if (b->processes == RS_MPI) { /* every process learns every rank's figures */
    int me = mpi_rank();
    if (res->status[me] != TPF_OK) fprintf(stderr, "tpfuse bench: rank %d: %s\n", me, res->error[me]);
    MPI_Allreduce(MPI_IN_PLACE, res->seconds, KINDS * MAX_REPS * 64, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, res->wrong, 64, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, res->baseline_wrong, 64, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, res->status, 64, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    for (int algo = 0; algo < 3; algo++) { /* the events, for --trace */
      int count = res->traces[algo][me].count;
      MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, res->events[algo], (int)sizeof res->events[algo][0], MPI_BYTE,
                    MPI_COMM_WORLD);
      int counts[64];
      MPI_Allgather(&count, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
      for (int r = 0; r < b->world_size; r++) res->traces[algo][r].count = counts[r];
    }
  }
#endif
  return s;
}

/* Median over repetitions of the slowest rank's time. */
static double median_of(const bench_results_t *res, int kind, int reps, int W) {
  return timing_median_slowest(&res->seconds[kind][0][0], reps, W, 64);
}

/* What the automatic choice ran in the last repetition, from this
 * process's first rank's trace: the unfused path multiplies once, the
 * fused schedules chunk by chunk. */
static const char *auto_picked(const bench_results_t *res, int W) {
  const int me = mpi_rank() < W ? mpi_rank() : 0;
  const tpf_trace_t *t = &res->traces[3][me];
  int computes = 0;
  for (int i = 0; i < t->count; i++) computes += res->events[3][me][i].kind == TPF_EVENT_COMPUTE;
  return computes > 1 ? "ring" : "unfused";
}

/* The slowest rank's times of a kind: median, min and max over the reps. */
static timing_spread_t spread_of(const bench_results_t *res, int kind, int reps, int W) {
  double slowest[MAX_REPS];
  for (int rep = 0; rep < reps; rep++) {
    slowest[rep] = 0;
    for (int r = 0; r < W; r++)
      if (res->seconds[kind][rep][r] > slowest[rep]) slowest[rep] = res->seconds[kind][rep][r];
  }
  return timing_spread(slowest, reps);
}

static void help(void) {
  printf("usage: tpfuse bench [options]\n"
         "\n"
         "Times a fused operator (--op) against its unfused path and the automatic\n"
         "choice (auto) in one run, with the GEMM alone and the communication alone:\n"
         "  mm_rs  MatmulReduceScatter: ring and direct against GEMM, then reduce-scatter\n"
         "  ag_mm  AllGatherMatmul: the fused schedule (ring = direct) against all-gather,\n"
         "         then GEMM; m is the gathered rows (every rank holds m/W)\n"
         "  mm_ar  MatmulAllReduce: ring and direct reduce-scatter halves, then the\n"
         "         gather, against GEMM, then all-reduce\n"
         "on a sweep of shapes; verifies every output (integer inputs, bit for bit);\n"
         "exits 1 on a wrong result. Inputs and outputs start on 64-byte boundaries,\n"
         "as a framework's tensors do. Each repetition calls every kind once, in an\n"
         "order of its own (the same on every rank), so that a slow spell of a shared\n"
         "machine falls on all of them alike and no kind always follows another.\n"
         "One line per configuration and algorithm:\n"
         "  m k n dtype ranks algo | time(us) min(us) max(us) TFLOP/s %%peak algbw\n"
         "  busbw #wrong | gemm(us) comm(us) exposed(us) overlap(%%) | fused/unfused\n"
         "time is the median of the slowest rank's, min and max its spread; auto's\n"
         "line ends with the algorithm it picked (ring, or unfused); %%peak is\n"
         "the share of this host's arithmetic peak for the dtype's kernels on every\n"
         "core, measured at the start (see `tpfuse floor`; '-' where none is measured:\n"
         "AMX, portable C, under MPI).\n"
         "m is the rows of every rank's a for mm_rs (the output is m/W rows per rank)\n"
         "and mm_ar; algbw is the bytes of one rank's m x n fp32 partials (ag_mm: of the\n"
         "gathered a) over the time; busbw scales it as nccl-tests do.\n"
         "\n"
         "  --op OP            mm_rs (default) | ag_mm | mm_ar\n"
         "  --transport T      threads (default) | shm (forked processes) | mpi (start\n"
         "                     it under mpirun: every process is one rank; the world\n"
         "                     size is mpirun's; where built with OpenBLAS it also times\n"
         "                     the user's baseline: fp32 conversion, OpenBLAS sgemm,\n"
         "                     MPI_Reduce_scatter_block, and prints tpfuse's speedup)\n"
         "  --world-size LIST  e.g. 2,4 (default 2)\n"
         "  --dtype LIST       e.g. bf16,fp32 (default bf16)\n"
         "  --shape M,K,N      one shape instead of the sweep (repeatable)\n"
         "  --threads-per-rank N  (default: cores / ranks)\n"
         "  --reps N           repetitions (default 10)\n"
         "  --json FILE        also write one JSON object per line\n"
         "  --trace FILE.json  a Chrome trace (Perfetto) of every rank's events in the\n"
         "                     last repetition of each configuration, fused and unfused\n"
         "  --timeline FILE.svg  the same as an SVG picture\n");
}

int cmd_bench(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    help();
    return 0;
  }
  bench_shape_t shapes[16] = {{512, 512, 512}, {2048, 256, 2048}, {1024, 1024, 1024}, {256, 4096, 1024},
                              {128, 512, 64}};
  int nshapes = 5, given = 0, worlds[8] = {2}, nworlds = 1, processes = 0, reps = 10, tpr = 0, op = BENCH_MM_RS;
  tpf_dtype_t types[3] = {TPF_BFLOAT16};
  int ntypes = 1;
  const char *json_path = NULL, *trace_path = NULL, *svg_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = option_value(argc, argv, &i, "--transport"))) {
      if ((processes = parse_transport(v)) < 0) return 2;
    } else if ((v = option_value(argc, argv, &i, "--op"))) {
      for (op = 0; op < 3 && strcmp(v, OP_NAMES[op]) != 0; op++) continue;
      if (op == 3) {
        fprintf(stderr, "tpfuse bench: --op %s: expected mm_rs, ag_mm or mm_ar\n", v);
        return 2;
      }
    } else if ((v = option_value(argc, argv, &i, "--reps"))) reps = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--threads-per-rank"))) tpr = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--json"))) json_path = v;
    else if ((v = option_value(argc, argv, &i, "--trace"))) trace_path = v;
    else if ((v = option_value(argc, argv, &i, "--timeline"))) svg_path = v;
    else if ((v = option_value(argc, argv, &i, "--shape"))) {
      long long m, k, n;
      if (sscanf(v, "%lld,%lld,%lld", &m, &k, &n) != 3 || given >= 16) {
        fprintf(stderr, "tpfuse bench: --shape %s: expected M,K,N\n", v);
        return 2;
      }
      shapes[given++] = (bench_shape_t){m, k, n};
      nshapes = given;
    } else if ((v = option_value(argc, argv, &i, "--world-size"))) {
      nworlds = parse_int_list(v, worlds, 8);
    } else if ((v = option_value(argc, argv, &i, "--dtype"))) {
      if ((ntypes = parse_dtype_list("bench", v, types, 3)) < 0) return 2;
    } else {
      fprintf(stderr, "tpfuse bench: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || reps > MAX_REPS) reps = 10;
  if (processes == RS_MPI) worlds[0] = mpi_size(), nworlds = 1;
  FILE *json = json_path ? fopen(json_path, "w") : NULL;
  timeline_t *timeline = timeline_new();
  bench_results_t *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  const int with_baseline = op == BENCH_MM_RS && processes == RS_MPI && baseline_available();
  printf("# tpfuse %s, operator %s, kernels %s, transport %s, %d repetitions (each one call of every kind, in "
         "an order of its own), the slowest rank's time per call\n",
         tpf_version(), OP_NAMES[op], tpf_gemm_kernel(),
         processes == RS_MPI ? "mpi (processes)" : processes ? "shm (processes)" : "threads", reps);
  if (with_baseline)
    printf("# baseline: the user's code without tpfuse: a, b to fp32, OpenBLAS sgemm (%s), "
           "MPI_Reduce_scatter_block, rows back to the dtype\n", baseline_blas_core());
  else if (processes == RS_MPI && op == BENCH_MM_RS)
    printf("# baseline: not built (needs OpenBLAS: apt-get install libopenblas-dev)\n");
  /* the arithmetic floor: this host's measured peak for each dtype's kernels
   * on every core (under MPI the ranks may span hosts: none) */
  double peak[3] = {0};
  const int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  for (int ti = 0; ti < ntypes && processes != RS_MPI; ti++) {
    floor_peak_t which = FLOOR_FMA_AVX2;
    peak[ti] = floor_gemm_peak(tpf_gemm_kernel(), types[ti], cores, &which);
    if (peak[ti] > 0)
      printf("# %s: peak %.0f GFLOP/s on %d cores, measured now (%s)\n", dtype_text(types[ti]), peak[ti], cores,
             floor_peak_name(which));
  }
  printf("%6s %6s %6s %5s %3s %-8s | %10s %9s %9s %8s %5s %7s %7s %6s | %9s %9s %11s %8s | %s\n", "m", "k", "n",
         "dtype", "W", "algo", "time(us)", "min(us)", "max(us)", "TFLOP/s", "%peak", "algbw", "busbw", "#wrong",
         "gemm(us)", "comm(us)", "exposed(us)", "overlap", "fused/unfused");
  long total_wrong = 0;
  int failed = 0;
  for (int wi = 0; wi < nworlds; wi++)
    for (int ti = 0; ti < ntypes; ti++)
      for (int si = 0; si < nshapes; si++) {
        int W = worlds[wi];
        bench_shape_t sh = shapes[si];
        if (W < 1 || W > 64 || (op != BENCH_MM_AR && sh.m % W) || sh.m < 1 || sh.k < 1 || sh.n < 1) {
          fprintf(stderr, "tpfuse bench: skipping m=%lld for W=%d (m must divide by W)\n", (long long)sh.m, W);
          continue;
        }
        bench_setup_t b = {op, W, processes, reps, tpr, types[ti], sh};
        tpf_status_t s = run_setup(&b, res);
        for (int r = 0; r < W && s == TPF_OK; r++)
          if (res->status[r] != TPF_OK) {
            fprintf(stderr, "tpfuse bench: rank %d: %s: %s\n", r, tpf_status_string(res->status[r]), res->error[r]);
            s = res->status[r];
          }
        if (s != TPF_OK) {
          failed = 1;
          continue;
        }
        long wrong = 0, baseline_wrong = 0;
        for (int r = 0; r < W; r++) wrong += res->wrong[r], baseline_wrong += res->baseline_wrong[r];
        total_wrong += wrong;
        double t_unfused = median_of(res, T_UNFUSED, reps, W), t_gemm = median_of(res, T_GEMM, reps, W);
        double t_comm = median_of(res, T_COMM, reps, W), t_baseline = median_of(res, T_BASELINE, reps, W);
        /* the rows: tpfuse's algorithms (the first three traced), then the user's baseline */
        static const struct { int kind; const char *name; } rows[] = {
            {T_UNFUSED, "unfused"}, {T_FUSED, "ring"}, {T_DIRECT, "direct"}, {T_AUTO, "auto"}, {T_BASELINE, "baseline"}};
        double flops = 2.0 * (double)sh.m * (double)sh.k * (double)sh.n * W;
        /* algbw: the bytes one rank's collective moves in or out (the fp32
         * partials, or the gathered a); busbw as nccl-tests scales them */
        double bytes = op == BENCH_AG_MM ? (double)sh.m * (double)sh.k * (double)esize(b.dtype)
                                         : (double)sh.m * (double)sh.n * 4;
        double bus = (op == BENCH_MM_AR ? 2.0 : 1.0) * (W - 1) / W;
        char speedups[200] = "";
        for (int row = 0; row < (with_baseline ? 5 : 4); row++) {
          const char *name = rows[row].name;
          const timing_spread_t spread = spread_of(res, rows[row].kind, reps, W);
          const double t = spread.median;
          if (row < 3) {
            char title[160];
            snprintf(title, sizeof title, "%lld x %lld x %lld %s, %d ranks (%s), %s", (long long)sh.m,
                     (long long)sh.k, (long long)sh.n, dtype_text(b.dtype), W, transport_text(processes), name);
            tpf_event_t *ev[64];
            int counts[64];
            for (int r = 0; r < W; r++) ev[r] = res->events[row][r], counts[r] = res->traces[row][r].count;
            timeline_add(timeline, title, W, ev, counts);
          }
          double exposed = t - t_gemm > 0 ? t - t_gemm : 0;
          double overlap = t_comm > 0 ? 100 * (t_comm - exposed) / t_comm : 0;
          if (overlap < 0) overlap = 0;
          int user = rows[row].kind == T_BASELINE;
          long row_wrong = user ? baseline_wrong : wrong;
          char of_peak[16] = "-";
          if (peak[ti] > 0) snprintf(of_peak, sizeof of_peak, "%.0f%%", 100 * flops / t / 1e9 / peak[ti]);
          printf("%6lld %6lld %6lld %5s %3d %-8s | %10.1f %9.1f %9.1f %8.3f %5s %7.2f %7.2f %6ld | ", (long long)sh.m,
                 (long long)sh.k, (long long)sh.n, dtype_text(b.dtype), W, name, t * 1e6, spread.min * 1e6,
                 spread.max * 1e6, flops / t / 1e12, of_peak, bytes / t / 1e9, bytes / t / 1e9 * bus, row_wrong);
          if (user) /* the user's code: no GEMM-alone or overlap figures of its own */
            printf("%9s %9s %11s %8s | %.3f\n", "-", "-", "-", "-", t / t_unfused);
          else
            printf("%9.1f %9.1f %11.1f %7.0f%% | %.3f%s%s\n", t_gemm * 1e6, t_comm * 1e6, exposed * 1e6, overlap,
                   t / t_unfused, rows[row].kind == T_AUTO ? " picked " : "",
                   rows[row].kind == T_AUTO ? auto_picked(res, W) : "");
          if (with_baseline && !user)
            snprintf(speedups + strlen(speedups), sizeof speedups - strlen(speedups), "%s%s %.2fx",
                     row ? ", " : "", name, t_baseline / t);
          if (json)
            fprintf(json,
                    "{\"op\":\"%s\",\"m\":%lld,\"k\":%lld,\"n\":%lld,\"dtype\":\"%s\",\"ranks\":%d,\"transport\":\"%s\",\"algo\":\"%s\","
                    "\"time_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f,\"peak_gflops\":%.1f,\"tflops\":%.4f,\"algbw\":%.3f,\"busbw\":%.3f,\"wrong\":%ld,\"gemm_us\":%.2f,"
                    "\"comm_us\":%.2f,\"exposed_us\":%.2f,\"overlap_pct\":%.1f,\"vs_unfused\":%.4f,\"picked\":\"%s\"}\n",
                    OP_NAMES[op], (long long)sh.m, (long long)sh.k, (long long)sh.n, dtype_text(b.dtype), W,
                    transport_text(processes), name, t * 1e6, spread.min * 1e6, spread.max * 1e6, peak[ti], flops / t / 1e12, bytes / t / 1e9,
                    bytes / t / 1e9 * bus, row_wrong, t_gemm * 1e6, t_comm * 1e6, exposed * 1e6, overlap,
                    t / t_unfused, rows[row].kind == T_AUTO ? auto_picked(res, W) : "");
        }
        if (with_baseline)
          printf("# speedup over the baseline: %s%s\n", speedups, baseline_wrong ? " (the baseline was WRONG)" : "");
        fflush(stdout);
      }
  if (json) fclose(json);
  munmap(res, sizeof *res);
  if (trace_path && timeline_write_trace(timeline, trace_path) != 0) fprintf(stderr, "tpfuse bench: could not write %s\n", trace_path);
  if (svg_path && timeline_write_svg(timeline, svg_path) != 0) fprintf(stderr, "tpfuse bench: could not write %s\n", svg_path);
  timeline_free(timeline);
  printf("%s\n", total_wrong ? "WRONG RESULTS" : failed ? "FAILED" : "all results verified");
  return total_wrong || failed ? 1 : 0;
}
