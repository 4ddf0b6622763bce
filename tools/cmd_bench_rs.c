/* tpfuse bench-rs: the standalone collectives (tpf_reduce_scatter, and with
 * --op tpf_all_gather or tpf_all_reduce), the communication halves of the
 * operators on their own, in the manner of nccl-tests: every rank calls
 * the collective back to back, each call timed; a call's time is the
 * slowest rank's. The repetitions are split into rounds through every
 * configuration, forward then backward, and the figures are the median,
 * min and max over all of them. Under MPI the same run also times what a
 * user writes without tpfuse, MPI_Reduce_scatter_block, MPI_Allgather or
 * MPI_Allreduce (16-bit inputs converted to fp32 and back for the sums, as
 * MPI has no such types), over the same inputs; with two ranks on one host,
 * the floor (floor.h) on the same bytes, in the same rounds.
 *
 * Inputs are small integers, so every output of every repetition is
 * compared bit for bit with the exact sums (#wrong), the output cleared
 * before each call; or (--check last) the output is cleared once per round
 * and checked after its last call, and nothing touches it between the
 * calls, as in nccl-tests' timed loop. The inputs live in the
 * rank's private memory or (--memory shared) in memory from tpf_mem_alloc,
 * which process ranks read from each other in place.
 *
 * Columns: the output bytes per rank, the elements per rank (count), time,
 * algbw = bytes of one rank's input (count x W elements) / time and
 * busbw = algbw * (W-1)/W, as nccl-tests defines them for reduce-scatter. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "commands.h"
#include "floor.h"
#include "ranks.h"
#include "timing.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>
#endif

enum { MAX_REPS = 200, MAX_RANKS = 64, SIZES = 16 };
enum { K_TPFUSE, K_MPI, KINDS };

/* The collective timed (--op), in floor_op_t's order. */
enum { OP_RS = FLOOR_RS, OP_AG = FLOOR_AG, OP_AR = FLOOR_AR };
static const char *const OP_NAMES[] = {"rs", "ag", "ar"};
static const char *const OP_TITLES[] = {"reduce-scatter (sum)", "all-gather", "all-reduce (sum)"};

typedef struct rs_setup {
  int op;
  int world_size, processes, reps;
  int shared;     /* inputs in memory from tpf_mem_alloc */
  int check_last; /* clear and check the output around the whole loop only */
  tpf_dtype_t dtype;
  int64_t rows, n; /* the block of `bytes`: each rank's output (rs), input (ag), or both (ar) */
} rs_setup_t;

/* Shared with forked ranks. */
typedef struct rs_results {
  double seconds[KINDS][MAX_REPS][MAX_RANKS];
  long wrong[KINDS][MAX_RANKS];
  tpf_status_t status[MAX_RANKS];
  char error[MAX_RANKS][256];
} rs_results_t;

static size_t esize(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

/* Rank q's input element at index i: a small integer (exact in every
 * dtype, and so are sums of up to 64 of them). */
static float input_value(int q, int64_t i) {
  uint64_t h = ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)q + 1) * 0xc2b2ae3d27d4eb4full;
  return (float)((int)((h >> 41) % 5) - 2);
}

/* What a user writes without tpfuse (MPI only): fp32 MPI_Reduce_scatter_block
 * or MPI_Allreduce (16-bit dtypes converted to fp32 and back), MPI_Allgather
 * of the bytes. in_count and out_count are elements. */
static void mpi_collective(int op, const void *in, void *out, float *in32, float *out32, int64_t in_count,
                           int64_t out_count, tpf_dtype_t t) {
#ifdef TPF_WITH_MPI
  if (op == OP_AG) {
    const int bytes = (int)(in_count * (int64_t)esize(t));
    MPI_Allgather(in, bytes, MPI_BYTE, out, bytes, MPI_BYTE, MPI_COMM_WORLD);
    return;
  }
  const void *from = in;
  void *to = out;
  if (t != TPF_FLOAT32) {
    tpf_convert(in, t, in32, TPF_FLOAT32, (size_t)in_count);
    from = in32, to = out32;
  }
  if (op == OP_AR) MPI_Allreduce(from, to, (int)out_count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  else MPI_Reduce_scatter_block(from, to, (int)out_count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  if (t != TPF_FLOAT32) tpf_convert(out32, TPF_FLOAT32, out, t, (size_t)out_count);
#else
  (void)op, (void)in, (void)out, (void)in32, (void)out32, (void)in_count, (void)out_count, (void)t;
#endif
}

/* Element i of this rank's exact output. */
static float expected_value(const rs_setup_t *b, int r, int64_t i) {
  const int64_t count = b->rows * b->n;
  if (b->op == OP_AG) return input_value((int)(i / count), i % count);
  float sum = 0;
  for (int q = 0; q < b->world_size; q++) sum += input_value(q, b->op == OP_RS ? r * count + i : i);
  return sum;
}

static tpf_status_t call_collective(const rs_setup_t *b, tpf_comm_t *comm, tpf_matrix_t *in, tpf_matrix_t *out) {
  switch (b->op) {
  case OP_AG: return tpf_all_gather(comm, in, out, NULL);
  case OP_AR: return tpf_all_reduce(comm, in, out, NULL);
  default: return tpf_reduce_scatter(comm, in, out, NULL);
  }
}

typedef struct rs_job {
  const rs_setup_t *b;
  rs_results_t *res;
} rs_job_t;

static void run_rank(tpf_comm_t *comm, int r, void *arg) {
  const rs_job_t *job = arg;
  const rs_setup_t *b = job->b;
  rs_results_t *res = job->res;
  const int W = b->world_size;
  const int64_t n = b->n, block = b->rows, in_rows = b->op == OP_RS ? block * W : block;
  const int64_t out_rows = b->op == OP_AG ? block * W : block;
  const int64_t in_count = in_rows * n, out_count = out_rows * n;
  const size_t es = esize(b->dtype), out_bytes = (size_t)out_count * es;
  void *in = NULL;
  tpf_status_t s = b->shared ? tpf_mem_alloc(comm, (size_t)in_count * es, &in)
                             : (in = bench_alloc((size_t)in_count * es)) ? TPF_OK : TPF_ERR_NOMEM;
  /* the all-reduce's peers read each other's outputs (its gather half):
   * with --memory shared those lie in shared memory too */
  const int shared_out = b->shared && b->op == OP_AR;
  char *out = NULL, *expect = malloc(out_bytes);
  if (s == TPF_OK && shared_out) s = tpf_mem_alloc(comm, out_bytes, (void **)&out);
  else if (!shared_out) out = bench_alloc(out_bytes);
  const int with_mpi = b->processes == RS_MPI;
  float *in32 = with_mpi ? malloc(sizeof(float) * (size_t)in_count) : NULL;
  float *out32 = with_mpi ? malloc(sizeof(float) * (size_t)out_count) : NULL;
  if (s == TPF_OK && !(out && expect && (!with_mpi || (in32 && out32)))) s = TPF_ERR_NOMEM;
  for (int64_t i = 0; s == TPF_OK && i < in_count; i++) {
    float v = input_value(r, i);
    tpf_convert(&v, TPF_FLOAT32, (char *)in + (size_t)i * es, b->dtype, 1);
  }
  for (int64_t i = 0; s == TPF_OK && i < out_count; i++) { /* the exact result */
    float v = expected_value(b, r, i);
    tpf_convert(&v, TPF_FLOAT32, expect + (size_t)i * es, b->dtype, 1);
  }
  tpf_matrix_t mi = {in, b->dtype, in_rows, n, 0, 0}, mo = {out, b->dtype, out_rows, n, 0, 0};
  /* Each kind back to back in its own loop: a call that follows another
   * kind would also time the ranks' skew as they leave that one. */
  for (int kind = 0; kind < (with_mpi ? KINDS : 1) && s == TPF_OK; kind++)
    for (int rep = -1; rep < b->reps && s == TPF_OK; rep++) { /* rep -1 warms up */
      if (!b->check_last || rep < 0) memset(out, 0, out_bytes);
      double t0 = timing_now();
      if (kind == K_TPFUSE) s = call_collective(b, comm, &mi, &mo);
      else mpi_collective(b->op, in, out, in32, out32, in_count, out_count, b->dtype);
      double t = timing_now() - t0;
      if (rep >= 0) res->seconds[kind][rep][r] = t;
      if (rep >= 0 && (!b->check_last || rep == b->reps - 1)) res->wrong[kind][r] += memcmp(out, expect, out_bytes) != 0;
    }
  res->status[r] = s;
  if (s != TPF_OK) snprintf(res->error[r], sizeof res->error[r], "%s", tpf_last_error());
  if (b->shared && in && s == TPF_OK) tpf_mem_free(comm, in);
  else if (!b->shared) free(in);
  if (shared_out && out && s == TPF_OK) tpf_mem_free(comm, out);
  else if (!shared_out) free(out);
  free(expect), free(in32), free(out32);
}

static tpf_status_t run_setup(const rs_setup_t *b, rs_results_t *res) {
  memset(res, 0, sizeof *res);
  rs_job_t job = {b, res};
  tpf_status_t s = ranks_run(b->processes, b->world_size, NULL, run_rank, &job, res->status, res->error);
#ifdef TPF_WITH_MPI
  if (b->processes == RS_MPI) { /* every process learns every rank's figures */
    MPI_Allreduce(MPI_IN_PLACE, res->seconds, KINDS * MAX_REPS * MAX_RANKS, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, res->wrong, KINDS * MAX_RANKS, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, res->status, MAX_RANKS, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  }
#endif
  return s;
}

/* One configuration's figures over every round: per kind (tpfuse, MPI's,
 * the floor with cached and with streamed stores), each timed call's
 * slowest rank. */
enum { F_CACHED = KINDS, F_STREAMED, SERIES };
typedef struct rs_tally {
  rs_setup_t b;
  double samples[SERIES][MAX_REPS];
  int count[SERIES];
  long wrong[KINDS];
  int failed, floor_failed;
} rs_tally_t;

/* The floor applies to two ranks on one host (floor.h). */
static int has_floor(const rs_setup_t *b) { return b->world_size == 2 && b->processes != RS_MPI; }

/* The floor of b's collective: for processes' own inputs, which the other
 * rank cannot read where they are, the staged one, which copies them. */
static floor_op_t floor_op(const rs_setup_t *b) {
  if (b->processes == RS_SHM && !b->shared) return floor_staged((floor_op_t)b->op);
  return (floor_op_t)b->op;
}

/* One round of configuration y: `reps` calls of each kind (and of the
 * floor), their samples and wrong elements added to y. */
static void run_round(rs_tally_t *y, int reps, rs_results_t *res) {
  rs_setup_t b = y->b;
  b.reps = reps;
  const int W = b.world_size;
  if (has_floor(&b) && !y->floor_failed) {
    const size_t bytes = (size_t)(b.rows * b.n) * esize(b.dtype);
    for (int stream = 0; stream < 2; stream++) {
      double *into = &y->samples[F_CACHED + stream][y->count[F_CACHED + stream]];
      if (floor_rounds(floor_op(&b), bytes, b.dtype, b.processes == RS_SHM, stream, reps, into) != 0)
        y->floor_failed = 1;
      else y->count[F_CACHED + stream] += reps;
    }
  }
  tpf_status_t s = run_setup(&b, res);
  for (int r = 0; r < W && s == TPF_OK; r++)
    if (res->status[r] != TPF_OK) s = res->status[r];
  if (s != TPF_OK) {
    for (int r = 0; r < W; r++)
      if (res->status[r] != TPF_OK)
        fprintf(stderr, "tpfuse bench-rs: rank %d: %s: %s\n", r, tpf_status_string(res->status[r]), res->error[r]);
    y->failed = 1;
    return;
  }
  for (int k = 0; k < (b.processes == RS_MPI ? KINDS : 1); k++) {
    for (int r = 0; r < W; r++) y->wrong[k] += res->wrong[k][r];
    for (int rep = 0; rep < reps; rep++) {
      double slowest = 0;
      for (int r = 0; r < W; r++)
        if (res->seconds[k][rep][r] > slowest) slowest = res->seconds[k][rep][r];
      y->samples[k][y->count[k]++] = slowest;
    }
  }
}

/* Prints configuration y's line (and its JSON object). */
static void print_tally(rs_tally_t *y, FILE *json) {
  const rs_setup_t *b = &y->b;
  const int W = b->world_size, with_mpi = b->processes == RS_MPI;
  const int64_t count = b->rows * b->n;
  /* algbw and busbw as nccl-tests define them: the bytes of the whole
   * buffer (rs: one rank's input; ag: its output; ar: either) over the
   * time, scaled by (W-1)/W (ar: 2(W-1)/W) */
  const double in_bytes = (double)count * (b->op == OP_AR ? 1 : W) * (double)esize(b->dtype);
  const double bus = (b->op == OP_AR ? 2.0 : 1.0) * (W - 1) / W;
  timing_spread_t t = timing_spread(y->samples[K_TPFUSE], y->count[K_TPFUSE]);
  timing_spread_t tm = timing_spread(y->samples[K_MPI], y->count[K_MPI]);
  /* the floor: the faster of its two ways, by medians */
  timing_spread_t fc = timing_spread(y->samples[F_CACHED], y->count[F_CACHED]);
  timing_spread_t fs = timing_spread(y->samples[F_STREAMED], y->count[F_STREAMED]);
  const double floor = !has_floor(b) || y->floor_failed ? 0 : fc.median < fs.median ? fc.median : fs.median;
  const char *memory = b->shared ? "shared" : "private";
  printf("%10lld %10lld %5s %3d %7s | %10.1f %9.1f %9.1f %7.2f %7.2f %6ld |", (long long)(count * (int64_t)esize(b->dtype)),
         (long long)count, dtype_text(b->dtype), W, memory, t.median * 1e6, t.min * 1e6, t.max * 1e6,
         in_bytes / t.median / 1e9, in_bytes / t.median / 1e9 * bus, y->wrong[K_TPFUSE]);
  if (with_mpi)
    printf(" %10.1f %7.2f %7.2f %6ld | %.2fx |", tm.median * 1e6, in_bytes / tm.median / 1e9,
           in_bytes / tm.median / 1e9 * bus, y->wrong[K_MPI], tm.median / t.median);
  if (floor > 0) printf(" %9.1f %7.2f\n", floor * 1e6, t.median / floor);
  else printf(" %9s %7s\n", "-", "-");
  if (!json) return;
  fprintf(json,
          "{\"op\":\"%s\",\"bytes\":%lld,\"count\":%lld,\"dtype\":\"%s\",\"ranks\":%d,\"transport\":\"%s\",\"memory\":\"%s\","
          "\"check\":\"%s\",\"time_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f,\"algbw\":%.3f,\"busbw\":%.3f,\"wrong\":%ld",
          OP_NAMES[b->op], (long long)(count * (int64_t)esize(b->dtype)), (long long)count, dtype_text(b->dtype), W,
          transport_text(b->processes), memory, b->check_last ? "last" : "every", t.median * 1e6, t.min * 1e6,
          t.max * 1e6, in_bytes / t.median / 1e9, in_bytes / t.median / 1e9 * bus, y->wrong[K_TPFUSE]);
  if (with_mpi)
    fprintf(json, ",\"mpi_time_us\":%.2f,\"mpi_algbw\":%.3f,\"mpi_wrong\":%ld,\"speedup\":%.3f", tm.median * 1e6,
            in_bytes / tm.median / 1e9, y->wrong[K_MPI], tm.median / t.median);
  if (floor > 0) fprintf(json, ",\"floor_us\":%.2f,\"vs_floor\":%.3f", floor * 1e6, t.median / floor);
  fprintf(json, "}\n");
}

static void help(void) {
  printf("usage: tpfuse bench-rs [options]\n"
         "\n"
         "Times a standalone collective (--op: tpf_reduce_scatter, tpf_all_gather or\n"
         "tpf_all_reduce, sums) over a sweep of sizes, nccl-tests style: calls back to\n"
         "back, each timed, the slowest rank's time per call; outputs are checked bit\n"
         "for bit (integer inputs; see --check); exits 1 on a wrong result. The\n"
         "repetitions are split into rounds, each through every configuration\n"
         "(forward, then backward), so that a slow spell of a shared machine falls on\n"
         "all of them alike; figures are the median, min and max over all calls.\n"
         "Under MPI the same run times MPI's (MPI_Reduce_scatter_block, MPI_Allgather,\n"
         "MPI_Allreduce) on the same inputs (16-bit dtypes summed in fp32, converted\n"
         "and back, as a user would) and prints tpfuse's speedup. With two ranks on\n"
         "one host, each round also times the collective written as plainly as it can\n"
         "be (see `tpfuse floor`) on the same bytes and transport (for processes'\n"
         "private inputs the staged one, which copies them into shared memory first,\n"
         "as any program must): floor(us) is its median and x_floor tpfuse's time\n"
         "over it. One line per size and memory:\n"
         "  bytes count dtype W memory | time(us) min(us) max(us) algbw busbw #wrong |\n"
         "  [mpi(us) algbw busbw #wrong | speedup |] floor(us) x_floor\n"
         "bytes and count are one rank's block: its output (rs), its input (ag), the\n"
         "whole buffer (ar); algbw is the whole buffer's bytes over the time (rs: a\n"
         "rank's input, ag: its output), busbw = algbw x (W-1)/W (ar: 2(W-1)/W).\n"
         "\n"
         "  --op OP            rs (default) | ag | ar\n"
         "  --transport T      threads (default) | shm (forked processes) | mpi (start\n"
         "                     it under mpirun: every process is one rank)\n"
         "  --world-size LIST  e.g. 2,4 (default 2; under MPI, mpirun's)\n"
         "  --dtype LIST       e.g. fp32,bf16 (default fp32)\n"
         "  --memory LIST      where the inputs are: private (the rank's own memory,\n"
         "                     default) and/or shared (tpf_mem_alloc: process ranks\n"
         "                     read each other's inputs, and the all-reduce's outputs,\n"
         "                     in place instead of copying them), e.g. private,shared;\n"
         "                     inputs and outputs start\n"
         "                     on 64-byte boundaries, as a framework's tensors do\n"
         "  --bytes LIST       the block's bytes, e.g. 64K,16M (default\n"
         "                     64K,256K,1M,4M,16M), in rows of up to 1024 elements\n"
         "  --reps N           repetitions (default 20, at most %d)\n"
         "  --rounds N         rounds the repetitions are split into (default 3)\n"
         "  --check WHEN       every (default): the output is cleared before each call\n"
         "                     and checked after it (so its lines are in the caches\n"
         "                     when the call starts); last: cleared once per round,\n"
         "                     checked after its last call, untouched between the\n"
         "                     calls, as in nccl-tests' timed loop\n"
         "  --json FILE        also write one JSON object per line\n",
         MAX_REPS);
}

int cmd_bench_rs(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    help();
    return 0;
  }
  int64_t sizes[SIZES] = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20};
  int nsizes = 5, worlds[8] = {2}, nworlds = 1, processes = RS_THREADS, reps = 20, ntypes = 1;
  int memories[2] = {0}, nmemories = 1, check_last = 0, op = OP_RS, rounds = 3;
  tpf_dtype_t types[3] = {TPF_FLOAT32};
  const char *json_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    char copy[256];
    if ((v = option_value(argc, argv, &i, "--transport"))) {
      if ((processes = parse_transport(v)) < 0) return 2;
    } else if ((v = option_value(argc, argv, &i, "--op"))) {
      for (op = 0; op < 3 && strcmp(v, OP_NAMES[op]) != 0; op++) continue;
      if (op == 3) {
        fprintf(stderr, "tpfuse bench-rs: --op %s: choose rs, ag or ar\n", v);
        return 2;
      }
    } else if ((v = option_value(argc, argv, &i, "--reps"))) {
      reps = atoi(v);
    } else if ((v = option_value(argc, argv, &i, "--rounds"))) {
      rounds = atoi(v);
    } else if ((v = option_value(argc, argv, &i, "--memory"))) {
      snprintf(copy, sizeof copy, "%s", v);
      nmemories = 0;
      for (char *t = strtok(copy, ","); t && nmemories < 2; t = strtok(NULL, ",")) {
        if (strcmp(t, "private") && strcmp(t, "shared")) {
          fprintf(stderr, "tpfuse bench-rs: --memory %s: choose private or shared\n", t);
          return 2;
        }
        memories[nmemories++] = strcmp(t, "shared") == 0;
      }
    } else if ((v = option_value(argc, argv, &i, "--check"))) {
      if (strcmp(v, "every") && strcmp(v, "last")) {
        fprintf(stderr, "tpfuse bench-rs: --check %s: choose every or last\n", v);
        return 2;
      }
      check_last = strcmp(v, "last") == 0;
    } else if ((v = option_value(argc, argv, &i, "--json"))) {
      json_path = v;
    } else if ((v = option_value(argc, argv, &i, "--world-size"))) {
      nworlds = parse_int_list(v, worlds, 8);
    } else if ((v = option_value(argc, argv, &i, "--bytes"))) {
      if ((nsizes = parse_size_list("bench-rs", v, sizes, SIZES)) < 0) return 2;
    } else if ((v = option_value(argc, argv, &i, "--dtype"))) {
      if ((ntypes = parse_dtype_list("bench-rs", v, types, 3)) < 0) return 2;
    } else {
      fprintf(stderr, "tpfuse bench-rs: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1 || reps > MAX_REPS) {
    fprintf(stderr, "tpfuse bench-rs: --reps %d: choose 1 to %d\n", reps, MAX_REPS);
    return 2;
  }
  if (rounds < 1) {
    fprintf(stderr, "tpfuse bench-rs: --rounds %d: choose 1 or more\n", rounds);
    return 2;
  }
  if (processes == RS_MPI) worlds[0] = mpi_size(), nworlds = 1;
  const int with_mpi = processes == RS_MPI;
  rs_results_t *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED) {
    fprintf(stderr, "tpfuse bench-rs: out of memory\n");
    return 1;
  }
  /* the configurations, then every round through all of them */
  rs_tally_t *tallies = calloc((size_t)(nworlds * ntypes * nsizes * nmemories), sizeof *tallies);
  int ntallies = 0;
  for (int wi = 0; wi < nworlds && tallies; wi++)
    for (int ti = 0; ti < ntypes; ti++)
      for (int si = 0; si < nsizes; si++)
        for (int mi = 0; mi < nmemories; mi++) {
          const int W = worlds[wi];
          /* rows of up to 1024 elements that make up the size exactly */
          const int64_t elems = sizes[si] / (int64_t)esize(types[ti]);
          int64_t n = elems < 1024 ? elems : 1024;
          while (n > 1 && elems % n) n--;
          if (W < 1 || W > MAX_RANKS || n < 1) {
            fprintf(stderr, "tpfuse bench-rs: skipping %lld bytes for W=%d\n", (long long)sizes[si], W);
            continue;
          }
          tallies[ntallies++].b = (rs_setup_t){op, W, processes, reps, memories[mi], check_last, types[ti], elems / n, n};
        }
  if (!tallies) {
    fprintf(stderr, "tpfuse bench-rs: out of memory\n");
    return 1;
  }
  if (rounds > reps) rounds = reps;
  printf("# tpfuse %s %s, transport %s, %d repetitions in %d rounds through every configuration, the slowest "
         "rank's time per call, output checked after %s\n",
         tpf_version(), OP_TITLES[op], processes == RS_MPI ? "mpi (processes)" : processes ? "shm (processes)" : "threads",
         reps, rounds, check_last ? "the last call of each round" : "every call");
  printf("%10s %10s %5s %3s %7s | %10s %9s %9s %7s %7s %6s |", "bytes", "count", "dtype", "W", "memory", "time(us)",
         "min(us)", "max(us)", "algbw", "busbw", "#wrong");
  if (with_mpi) printf(" %10s %7s %7s %6s | %7s |", "mpi(us)", "algbw", "busbw", "#wrong", "speedup");
  printf(" %9s %7s\n", "floor(us)", "x_floor");
  fflush(stdout);
  for (int round = 0; round < rounds; round++) /* forward, then backward, ... */
    for (int j = 0; j < ntallies; j++) {
      rs_tally_t *y = &tallies[round % 2 ? ntallies - 1 - j : j];
      if (!y->failed) run_round(y, reps / rounds + (round < reps % rounds), res);
    }
  FILE *json = json_path ? fopen(json_path, "w") : NULL;
  long total_wrong = 0;
  int failed = 0;
  for (int j = 0; j < ntallies; j++) {
    total_wrong += tallies[j].wrong[K_TPFUSE] + tallies[j].wrong[K_MPI];
    failed |= tallies[j].failed;
    if (!tallies[j].failed) print_tally(&tallies[j], json);
  }
  free(tallies);
  if (json) fclose(json);
  munmap(res, sizeof *res);
  printf("%s\n", total_wrong ? "WRONG RESULTS" : failed ? "FAILED" : "all results verified");
  return total_wrong || failed ? 1 : 0;
}
