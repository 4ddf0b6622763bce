/* tpfuse over MPI, run under mpirun with 2, 3 or 4 processes.
 *
 *   test_mpi matrix   the correctness matrix: every dtype, odd shapes, uneven
 *                     splits (zeros included), transposed b, padded leading
 *                     dimensions, bias, avg, chunking, every algorithm.
 *                     Each case is checked against the float64 reference
 *                     and, bit for bit, against the same case on thread
 *                     ranks (the schedules shared with the shared-memory
 *                     transport); direct and unfused agree bit for bit,
 *                     and so do ring and unfused on small-integer inputs.
 *                     The standalone reduce-scatter agrees with thread
 *                     ranks bit for bit.
 *   test_mpi faults   mismatched calls (TPF_ERR_MISMATCH on every rank), a
 *                     rank that rejects its arguments (TPF_ERR_PEER on the
 *                     others), a rank that never calls (TPF_ERR_TIMEOUT at
 *                     the timeout), tpf_comm_abort (TPF_ERR_ABORTED
 *                     promptly), bad arguments to tpf_comm_init_mpi (one
 *                     rank's settings rejected: every rank fails), one
 *                     rank failing to make memory to share (every rank
 *                     fails, on its host and on the others; nothing stays).
 *   test_mpi exit     the last rank exits in the middle of the job; the
 *                     others must not hang (the caller bounds the time).
 * Every process prints its failures; the exit status is non-zero on any. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../shm_files.h"
#include "../test.h"
#include "harness.h"
#include "tpfuse_mpi.h"

static int me, world;

/* The faults test asks for more memory than any machine has and expects an
 * error: under AddressSanitizer the allocation must return NULL, as it does
 * otherwise, instead of ending the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static const char *dtype_text(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? "fp16" : t == TPF_BFLOAT16 ? "bf16" : "fp32";
}

static void describe(const rs_case_t *c, char *buf, size_t size) {
  snprintf(buf, size, "W=%d m=%lld k=%lld n=%lld %s b_t=%d pad=%lld bias=%d %s turn=%d algo=%d %s int=%d",
           c->world_size, (long long)c->m, (long long)c->k, (long long)c->n, dtype_text(c->dtype), c->b_transposed,
           (long long)c->ld_pad, c->bias, c->reduce_op == TPF_AVG ? "avg" : "sum", c->comm_turn, (int)c->algo,
           c->row_counts ? "uneven" : "even", c->integers);
}

/* Runs the case on MPI ranks and on thread ranks; both must pass and give
 * this rank the same bits. Keeps the MPI result in *kept. */
static int run_both(rs_case_t c, rs_result_t *kept) {
  char what[300];
  describe(&c, what, sizeof what);
  rs_result_t on_mpi, on_threads;
  c.processes = RS_MPI;
  tpf_status_t s = rs_case_run(&c, &on_mpi);
  CHECK(s == TPF_OK, "%s: could not run over MPI", what);
  if (s != TPF_OK) return 0;
  for (int q = 0; q < world; q++)
    CHECK(on_mpi.ranks[q].status == TPF_OK && on_mpi.ranks[q].wrong == 0, "%s: MPI rank %d %s, %lld wrong: %s", what,
          q, tpf_status_string(on_mpi.ranks[q].status), (long long)on_mpi.ranks[q].wrong, on_mpi.ranks[q].error);
  c.processes = RS_THREADS;
  s = rs_case_run(&c, &on_threads);
  CHECK(s == TPF_OK && on_threads.passed, "%s: thread ranks failed", what);
  int ok = on_mpi.passed && s == TPF_OK && on_threads.passed;
  if (ok) CHECK(rs_result_same_bits(&c, &on_mpi, &on_threads), "%s: rank %d differs from thread ranks", what, me);
  if (s == TPF_OK) rs_result_free(&on_threads);
  *kept = on_mpi;
  return ok;
}

static void check_case(rs_case_t c) {
  char what[300];
  rs_result_t unfused, other;
  c.integers = 0;
  c.algo = TPF_ALGO_UNFUSED;
  int ok = run_both(c, &unfused);
  c.algo = TPF_ALGO_DIRECT;
  if (run_both(c, &other) && ok) {
    describe(&c, what, sizeof what);
    CHECK(rs_result_same_bits(&c, &unfused, &other), "%s: direct and unfused differ on rank %d", what, me);
  }
  rs_result_free(&unfused), rs_result_free(&other);
  c.integers = 1;
  c.algo = TPF_ALGO_UNFUSED;
  ok = run_both(c, &unfused);
  c.algo = TPF_ALGO_RING;
  if (run_both(c, &other) && ok) {
    describe(&c, what, sizeof what);
    CHECK(rs_result_same_bits(&c, &unfused, &other), "%s: ring and unfused differ on rank %d", what, me);
  }
  rs_result_free(&unfused), rs_result_free(&other);
}

/* splitmix64, for the reduce-scatter inputs */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

typedef struct rsc_job {
  tpf_comm_t *comm;
  tpf_matrix_t in, out;
  tpf_mm_options_t opt;
  tpf_status_t status;
} rsc_job_t;

static void *run_rsc(void *arg) {
  rsc_job_t *j = arg;
  j->status = tpf_reduce_scatter(j->comm, &j->in, &j->out, &j->opt);
  return NULL;
}

/* The pretend host of rank q under TPF_MPI_LOCAL (shm: one host; shm:N:
 * q mod N; mpi: a host each). */
static int host_of(int q) {
  const char *local = getenv("TPF_MPI_LOCAL");
  if (!local || strcmp(local, "shm") == 0) return 0;
  if (strncmp(local, "shm:", 4) == 0) return q % atoi(local + 4);
  return q;
}

/* Rows this rank copied for owners on its host (the trace's COPY events). */
static int copies_for_host_peers(const tpf_trace_t *t) {
  int n = 0;
  for (int e = 0; e < t->count; e++) {
    int q = t->events[e].peer;
    n += t->events[e].kind == TPF_EVENT_COPY && q >= 0 && q != me && host_of(q) == host_of(me);
  }
  return n;
}

/* The standalone reduce-scatter over MPI and over thread ranks: same bits. */
static void check_reduce_scatter(tpf_dtype_t t, int64_t n, int64_t pad, const int64_t *counts, int avg, int turn) {
  const size_t es = t == TPF_FLOAT32 ? 4 : 2;
  int64_t m = 0;
  for (int q = 0; q < world; q++) m += counts[q];
  const int64_t ld = n + pad;
  rsc_job_t *jobs = calloc((size_t)world, sizeof *jobs);
  void *bias = malloc((size_t)n * es);
  uint64_t state = 77 + (uint64_t)n;
  for (int64_t j = 0; j < n; j++) {
    float v = (float)((double)(next_random(&state) >> 11) * 0x1p-53 - 0.5);
    tpf_convert(&v, TPF_FLOAT32, (char *)bias + (size_t)j * es, t, 1);
  }
  for (int q = 0; q < world; q++) {
    jobs[q].in = (tpf_matrix_t){calloc((size_t)(m * ld + 1), es), t, m, n, ld, 0};
    for (int64_t i = 0; i < m * ld; i++) {
      float v = (float)((double)(next_random(&state) >> 11) * 0x1p-53 * 2 - 1);
      tpf_convert(&v, TPF_FLOAT32, (char *)jobs[q].in.data + (size_t)i * es, t, 1);
    }
    jobs[q].out = (tpf_matrix_t){calloc((size_t)(counts[q] * n + 1), es), t, counts[q], n, n, 0};
    jobs[q].opt = (tpf_mm_options_t)TPF_MM_OPTIONS_INIT;
    jobs[q].opt.row_counts = counts;
    jobs[q].opt.reduce_op = avg ? TPF_AVG : TPF_SUM;
    jobs[q].opt.bias = bias;
    jobs[q].opt.comm_turn = turn;
  }
  /* over MPI: this process is rank `me` */
  void *mine = calloc((size_t)(counts[me] * n + 1), es);
  tpf_matrix_t out = {mine, t, counts[me], n, n, 0};
  tpf_comm_t *comm = NULL;
  CHECK_STATUS(tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, NULL), TPF_OK);
  tpf_event_t events[512];
  tpf_trace_t trace = {events, 512, 0, 0};
  tpf_mm_options_t traced = jobs[me].opt;
  traced.trace = &trace;
  CHECK_STATUS(tpf_reduce_scatter(comm, &jobs[me].in, &out, &traced), TPF_OK);
  int host_peers = 0;
  for (int q = 0; q < world; q++) host_peers += q != me && host_of(q) == host_of(me);
  CHECK((copies_for_host_peers(&trace) > 0) == (host_peers > 0), "rank %d with %d peers on its host copied %d times",
        me, host_peers, copies_for_host_peers(&trace));
  /* the same input in memory the ranks share: the same bits, and the
   * ranks of a host read each other's where it is (no copy) */
  void *shared = NULL, *again = calloc((size_t)(counts[me] * n + 1), es);
  CHECK_STATUS(tpf_mem_alloc(comm, (size_t)(m * ld) * es, &shared), TPF_OK);
  if (shared) {
    memcpy(shared, jobs[me].in.data, (size_t)(m * ld) * es);
    tpf_matrix_t in = jobs[me].in, out_again = {again, t, counts[me], n, n, 0};
    in.data = shared;
    trace.count = trace.dropped = 0;
    CHECK_STATUS(tpf_reduce_scatter(comm, &in, &out_again, &traced), TPF_OK);
    CHECK(copies_for_host_peers(&trace) == 0, "rank %d copied its shared input %d times for peers on its host", me,
          copies_for_host_peers(&trace));
    CHECK(memcmp(mine, again, (size_t)(counts[me] * n) * es) == 0, "reduce-scatter %s n=%lld: rank %d differs "
          "with its input in shared memory", dtype_text(t), (long long)n, me);
    CHECK_STATUS(tpf_mem_free(comm, shared), TPF_OK);
  }
  free(again);
  tpf_comm_destroy(comm);
  /* on thread ranks */
  tpf_comm_t **comms = calloc((size_t)world, sizeof *comms);
  pthread_t *threads = calloc((size_t)world, sizeof *threads);
  CHECK_STATUS(tpf_comm_init_all(comms, world, NULL), TPF_OK);
  for (int q = 0; q < world; q++) jobs[q].comm = comms[q], pthread_create(&threads[q], NULL, run_rsc, &jobs[q]);
  for (int q = 0; q < world; q++) pthread_join(threads[q], NULL);
  for (int q = 0; q < world; q++) {
    CHECK_STATUS(jobs[q].status, TPF_OK);
    tpf_comm_destroy(comms[q]);
  }
  CHECK(memcmp(mine, jobs[me].out.data, (size_t)(counts[me] * n) * es) == 0,
        "reduce-scatter %s n=%lld pad=%lld avg=%d turn=%d: rank %d differs from thread ranks", dtype_text(t),
        (long long)n, (long long)pad, avg, turn, me);
  for (int q = 0; q < world; q++) free(jobs[q].in.data), free(jobs[q].out.data);
  free(jobs), free(bias), free(mine), free(comms), free(threads);
}

static int matrix(void) {
  const tpf_dtype_t types[] = {TPF_FLOAT16, TPF_BFLOAT16, TPF_FLOAT32};
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {17, 300, 33}, {70, 129, 130}, {300, 64, 520}};
  const int turns[] = {0, 1, 3, 2};
  int variant = 0;
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (size_t ti = 0; ti < 3; ti++) {
      variant++;
      rs_case_t c = {0};
      c.world_size = world;
      c.dtype = types[ti];
      c.m = world * shapes[si][0];
      c.k = shapes[si][1];
      c.n = shapes[si][2];
      c.b_transposed = variant % 2;
      c.ld_pad = variant % 3 == 0 ? 3 : 0;
      c.bias = variant % 4 != 1;
      c.reduce_op = variant % 3 == 1 ? TPF_AVG : TPF_SUM;
      c.comm_turn = turns[variant % 4];
      c.seed = 20261129 + (uint64_t)variant;
      c.reps = 2;
      c.threads_per_rank = 1;
      check_case(c);
    }
  /* uneven splits with empty ranks */
  int64_t counts[4] = {0, 5, 2, 9};
  if (world == 2) counts[0] = 3, counts[1] = 0;
  for (size_t ti = 0; ti < 3; ti++) {
    rs_case_t c = {0};
    c.world_size = world;
    c.row_counts = counts;
    for (int q = 0; q < world; q++) c.m += counts[q];
    c.k = 45, c.n = 19, c.dtype = types[ti], c.bias = 1, c.reduce_op = ti == 1 ? TPF_AVG : TPF_SUM;
    c.comm_turn = (int)ti, c.seed = 99 + ti, c.reps = 1, c.threads_per_rank = 1;
    check_case(c);
  }
  for (size_t ti = 0; ti < 3; ti++) {
    int64_t even[4] = {40, 40, 40, 40};
    check_reduce_scatter(types[ti], 257, ti == 1 ? 5 : 0, even, (int)ti % 2, (int)ti);
    check_reduce_scatter(types[ti], 3, 0, counts, 1 - (int)ti % 2, 0);
  }
  /* more chunks than a staging ring has slots: slots are reclaimed */
  const int64_t rows[4] = {40, 37, 40, 33};
  check_reduce_scatter(TPF_BFLOAT16, 65, 3, rows, 0, 9);
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static float small_out[4 * 8];

/* One small call of this rank with inputs of k columns; returns its status. */
static tpf_status_t small_call(tpf_comm_t *comm, int64_t k, int null_out) {
  static float a[64 * 16], b[16 * 8];
  tpf_matrix_t ma = {a, TPF_FLOAT32, 4 * world, k, k, 0}, mb = {b, TPF_FLOAT32, k, 8, 8, 0};
  tpf_matrix_t mo = {small_out, TPF_FLOAT32, 4, 8, 8, 0};
  return tpf_mm_reduce_scatter(comm, &ma, &mb, null_out ? NULL : &mo, NULL);
}

/* Whether every rank reaches every other through shared memory here (one
 * host, TPF_MPI_LOCAL=shm, its default): calls agree before data moves.
 * Otherwise some peer is reached by messages, and a call's fingerprint
 * travels alongside its first data, so a disagreement fails the
 * communicator. */
static int all_shared(void) {
  const char *local = getenv("TPF_MPI_LOCAL");
  return !local || strcmp(local, "shm") == 0;
}

static int untouched_output(void) {
  for (int i = 0; i < 4 * 8; i++)
    if (small_out[i] != -7.0f) return 0;
  return 1;
}

static tpf_comm_t *fresh(int timeout_ms) {
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = timeout_ms;
  tpf_comm_t *comm = NULL;
  CHECK_STATUS(tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, &cfg), TPF_OK);
  return comm;
}

static int faults(void) {
  /* bad arguments to the constructor */
  tpf_comm_t *comm = NULL;
  CHECK_STATUS(tpf_comm_init_mpi(NULL, MPI_COMM_WORLD, NULL), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_comm_init_mpi(&comm, MPI_COMM_NULL, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "MPI_COMM_NULL") != NULL, "message: %s", tpf_last_error());
  /* one rank's settings rejected: every rank fails, none waits in a collective */
  tpf_config_t bad = TPF_CONFIG_INIT;
  bad.timeout_ms = me == 1 ? -5 : 1000;
  tpf_status_t got = tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, &bad);
  CHECK(got == TPF_ERR_INVALID && strstr(tpf_last_error(), me == 1 ? "timeout_ms" : "another rank") != NULL,
        "bad settings on rank 1: rank %d got %s: %s", me, tpf_status_string(got), tpf_last_error());

  /* the last rank never calls tpf_comm_init_mpi: the others return
   * TPF_ERR_TIMEOUT at their timeout, not never (on a communicator of their
   * own, where the first reduction stays pending; the last rank then
   * completes it, so that nothing is left in flight) */
  MPI_Comm spare;
  MPI_Comm_dup(MPI_COMM_WORLD, &spare);
  if (me != world - 1) {
    tpf_config_t soon = TPF_CONFIG_INIT;
    soon.timeout_ms = 300;
    double t0 = now_s();
    got = tpf_comm_init_mpi(&comm, spare, &soon);
    CHECK(got == TPF_ERR_TIMEOUT && strstr(tpf_last_error(), "to call tpf_comm_init_mpi") && now_s() - t0 < 3.0,
          "init without the last rank: rank %d got %s after %.2f s: %s", me, tpf_status_string(got), now_s() - t0,
          tpf_last_error());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == world - 1) {
    int low = TPF_OK, lowest = TPF_OK;
    MPI_Request late;
    MPI_Iallreduce(&low, &lowest, 1, MPI_INT, MPI_MIN, spare, &late);
    MPI_Wait(&late, MPI_STATUS_IGNORE);
  }
  /* (spare is not freed: the other ranks' reductions on it may still be
   * completing, and nothing can wait for them) */

  /* a healthy call first, then mismatched k (the same m and n: the data
   * would fit): every rank TPF_ERR_MISMATCH in the same words, and no
   * output written. Where the fingerprints travel with the data, the
   * communicator has failed: the next call says so; else it works. */
  comm = fresh(5000);
  CHECK_STATUS(small_call(comm, 8, 0), TPF_OK);
  for (int i = 0; i < 4 * 8; i++) small_out[i] = -7.0f;
  tpf_status_t s = small_call(comm, me == world - 1 ? 9 : 8, 0);
  char words[200];
  snprintf(words, sizeof words, "rank %d passed k=9 but rank 0 passed k=8", world - 1);
  CHECK(s == TPF_ERR_MISMATCH && strstr(tpf_last_error(), words) != NULL, "mismatch: rank %d: %s: %s", me,
        tpf_status_string(s), tpf_last_error());
  CHECK(untouched_output(), "mismatch: rank %d wrote its output", me);
  s = small_call(comm, 8, 0);
  if (all_shared())
    CHECK(s == TPF_OK, "after a mismatch on one host: rank %d got %s: %s", me, tpf_status_string(s), tpf_last_error());
  else
    CHECK(s == TPF_ERR_MISMATCH && strstr(tpf_last_error(), words) != NULL,
          "after a mismatch over messages: rank %d got %s: %s", me, tpf_status_string(s), tpf_last_error());
  tpf_comm_destroy(comm);

  /* one rank rejects its own arguments: it gets TPF_ERR_INVALID, the others TPF_ERR_PEER */
  comm = fresh(5000);
  for (int i = 0; i < 4 * 8; i++) small_out[i] = -7.0f;
  s = small_call(comm, 8, me == 1);
  CHECK(s == (me == 1 ? TPF_ERR_INVALID : TPF_ERR_PEER), "rejection: rank %d got %s: %s", me, tpf_status_string(s),
        tpf_last_error());
  CHECK(me == 1 || strstr(tpf_last_error(), "rank 1 rejected its arguments (TPF_ERR_INVALID: out is NULL)"),
        "rejection: rank %d: %s", me, tpf_last_error());
  CHECK(untouched_output(), "rejection: rank %d wrote its output", me);
  s = small_call(comm, 8, 0);
  CHECK(all_shared() ? s == TPF_OK : s == TPF_ERR_PEER && strstr(tpf_last_error(), "rank 1 rejected its arguments"),
        "after a rejection: rank %d got %s: %s", me, tpf_status_string(s), tpf_last_error());
  tpf_comm_destroy(comm);

  /* the same through tpf_comm_reject (a binding's own checks), on a
   * communicator made from the Fortran handle */
  tpf_config_t by_handle = TPF_CONFIG_INIT;
  by_handle.timeout_ms = 5000;
  comm = NULL;
  CHECK_STATUS(tpf_comm_init_mpi_f(&comm, MPI_Comm_c2f(MPI_COMM_WORLD), &by_handle), TPF_OK);
  CHECK(tpf_comm_size(comm) == world && tpf_comm_rank(comm) == me, "rank %d of %d from the Fortran handle",
        tpf_comm_rank(comm), tpf_comm_size(comm));
  for (int i = 0; i < 4 * 8; i++) small_out[i] = -7.0f;
  s = me == 1 ? tpf_comm_reject(comm, TPF_ERR_INVALID, "x2 is float64") : small_call(comm, 8, 0);
  CHECK(s == (me == 1 ? TPF_ERR_INVALID : TPF_ERR_PEER), "tpf_comm_reject: rank %d got %s: %s", me,
        tpf_status_string(s), tpf_last_error());
  CHECK(strstr(tpf_last_error(), me == 1 ? "x2 is float64" : "rank 1 rejected its arguments (TPF_ERR_INVALID: x2 is float64)"),
        "tpf_comm_reject: rank %d: %s", me, tpf_last_error());
  CHECK(untouched_output(), "tpf_comm_reject: rank %d wrote its output", me);
  tpf_comm_destroy(comm);

  /* the last rank never calls: the others time out at the timeout */
  comm = fresh(400);
  if (me != world - 1) {
    double t0 = now_s();
    s = small_call(comm, 8, 0);
    double took = now_s() - t0;
    CHECK(s == TPF_ERR_TIMEOUT || s == TPF_ERR_PEER, "missing rank: rank %d got %s: %s", me, tpf_status_string(s),
          tpf_last_error());
    CHECK(took >= 0.35 && took < 3.0, "missing rank: rank %d returned after %.2f s (timeout 0.4 s)", me, took);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == world - 1) { /* it has been told: its next call fails at once */
    double t0 = now_s();
    s = small_call(comm, 8, 0);
    /* Where fingerprints travel with the data, the others sent everything
     * this call needs before they gave up: it may still complete, if the
     * notice comes after; the call after it fails. */
    if (s == TPF_OK && !all_shared()) s = small_call(comm, 8, 0);
    CHECK(s == TPF_ERR_TIMEOUT && now_s() - t0 < 0.3, "the missing rank then got %s after %.2f s: %s",
          tpf_status_string(s), now_s() - t0, tpf_last_error());
  }
  tpf_comm_destroy(comm);

  /* rank 0 aborts: the others, waiting inside a call, return promptly */
  comm = fresh(20000);
  if (me == 0) {
    nanosleep(&(struct timespec){0, 200000000}, NULL);
    CHECK_STATUS(tpf_comm_abort(comm), TPF_OK);
  } else {
    double t0 = now_s();
    s = small_call(comm, 8, 0);
    CHECK(s == TPF_ERR_ABORTED && now_s() - t0 < 5.0, "abort: rank %d got %s after %.2f s: %s", me,
          tpf_status_string(s), now_s() - t0, tpf_last_error());
  }
  CHECK_STATUS(small_call(comm, 8, 0), TPF_ERR_ABORTED);
  MPI_Barrier(MPI_COMM_WORLD);
  tpf_comm_destroy(comm);

  /* the last rank asks for more memory to share than any host has (64
   * TiB, the most tpf_mem_alloc accepts; under Linux's default overcommit
   * rule the allocation fails at once): TPF_ERR_NOMEM there, TPF_ERR_PEER
   * on every other rank (its host's ranks fail with it; other hosts made
   * theirs, learn the verdict of all hosts and release it); nothing stays
   * in the directory, and the communicator still gives memory and runs
   * calls */
  char dir[64] = "/dev/shm/tpf-mpi-test-XXXXXX";
  if (me == 0 && !mkdtemp(dir)) dir[0] = '\0';
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  CHECK(dir[0] != '\0', "could not make a directory for shared memory");
  tpf_config_t in_dir = TPF_CONFIG_INIT;
  in_dir.shm_dir = dir;
  comm = NULL;
  CHECK_STATUS(tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, &in_dir), TPF_OK);
  void *got_memory = NULL;
  s = tpf_mem_alloc(comm, me == world - 1 ? (size_t)64 << 40 : 4096, &got_memory);
  CHECK(s == (me == world - 1 ? TPF_ERR_NOMEM : TPF_ERR_PEER) && !got_memory,
        "64 TiB on the last rank: rank %d got %s: %s", me, tpf_status_string(s), tpf_last_error());
  CHECK(me == world - 1 || strstr(tpf_last_error(), "could not make its shared memory"),
        "64 TiB on the last rank: rank %d: %s", me, tpf_last_error());
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK(count_entries(dir) == 0, "rank %d: %d files left in %s after a failed tpf_mem_alloc", me,
        count_entries(dir), dir);
  CHECK_STATUS(tpf_mem_alloc(comm, 4096, &got_memory), TPF_OK);
  CHECK_STATUS(small_call(comm, 8, 0), TPF_OK);
  if (got_memory) CHECK_STATUS(tpf_mem_free(comm, got_memory), TPF_OK);
  tpf_comm_destroy(comm);
  MPI_Barrier(MPI_COMM_WORLD);
  CHECK(count_entries(dir) == 0, "rank %d: %d files left in %s", me, count_entries(dir), dir);
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == 0) rmdir(dir);

  /* and a healthy communicator still works afterwards */
  comm = fresh(5000);
  CHECK_STATUS(small_call(comm, 8, 0), TPF_OK);
  tpf_comm_destroy(comm);
  return 0;
}

/* The last rank leaves in the middle of the job (after a first call); the
 * others' next call must end, with an error or by the launcher stopping the
 * job, never hang. */
static int exit_mid_job(void) {
  tpf_comm_t *comm = fresh(2000);
  CHECK_STATUS(small_call(comm, 8, 0), TPF_OK);
  fflush(stdout);
  if (me == world - 1) _exit(0);
  tpf_status_t s = small_call(comm, 8, 0);
  printf("rank %d: after the peer left: %s (%s)\n", me, tpf_status_string(s), tpf_last_error());
  CHECK(s != TPF_OK, "rank %d: a call with a departed peer succeeded", me);
  fflush(stdout);
  _exit(checks_failed != 0);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const char *mode = argc > 1 ? argv[1] : "matrix";
  if (world < 2 || world > 4) {
    if (me == 0) fprintf(stderr, "run me with 2, 3 or 4 processes\n");
    MPI_Finalize();
    return 2;
  }
  if (strcmp(mode, "matrix") == 0) matrix();
  else if (strcmp(mode, "faults") == 0) faults();
  else if (strcmp(mode, "exit") == 0) exit_mid_job();
  else CHECK(0, "unknown mode %s", mode);
  int failed = checks_failed, any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  printf("rank %d of %d (%s): ", me, world, mode);
  test_summary();
  MPI_Finalize();
  return any != 0;
}
