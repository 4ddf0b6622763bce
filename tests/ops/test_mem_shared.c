/* tpf_mem_alloc / tpf_mem_free, and tpf_reduce_scatter on inputs in that
 * memory, on thread ranks and on process ranks (shared memory):
 *  - inputs in shared memory (not at its start, padded rows) give the same
 *    bits as inputs in private memory and the exact integer sums, for
 *    every dtype, W = 2 and 3; process ranks then read them in place (the
 *    trace shows no copy); when one rank's input is private, that rank
 *    alone stages its rows and the others' are still read in place;
 *  - rejected calls: bytes 0, ptr NULL, freeing a pointer tpf_mem_alloc did
 *    not give (nothing is released then), a mismatch with another call;
 *  - a tmpfs too small: TPF_ERR_NOMEM / TPF_ERR_PEER, nothing left, and the
 *    communicator still works; a rank that dies: TPF_ERR_PEER in bounded
 *    time; nothing left in /dev/shm, live memory released by destroy. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../shm_files.h"
#include "../test.h"
#include "ranks.h"
#include "tpfuse.h"

enum { MAX_W = 3, PAD = 5, EVENTS = 4096 };

typedef enum scenario {
  SUM_SHARED,      /* every input in shared memory */
  SUM_ONE_PRIVATE, /* rank 0's input in private memory */
  REJECTIONS,
  MISMATCH,
  SMALL_TMPFS,
  DIES
} scenario_t;

typedef struct job {
  scenario_t what;
  int W, processes;
  tpf_dtype_t dtype;
  int64_t m, n;
  int turn;
  const char *shm_dir;
} job_t;

/* What each rank reports, in memory shared with forked ranks. */
typedef struct report {
  int status[6];
  char error[6][300];
  int copies;      /* COPY events of the shared-input call */
  int wrong;       /* elements that differ from the expected sums */
  int differ;      /* elements that differ between shared and private inputs */
  double returned; /* seconds the failing call took */
  int done;
} report_t;

static report_t *reports;

/* Whether each rank got its communicator (ranks_run). */
typedef struct starts {
  tpf_status_t status[MAX_W];
  char error[MAX_W][256];
} starts_t;
static starts_t *starts;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t es(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

/* Small integers: exact in every dtype, and so are their sums. */
static float value(int q, int64_t i, int64_t j) { return (float)((q * 7 + i * 3 + j) % 11 - 5); }

static void store(void *base, tpf_dtype_t t, size_t at, float v) {
  if (t == TPF_FLOAT32) {
    ((float *)base)[at] = v;
  } else {
    uint16_t h;
    tpf_convert(&v, TPF_FLOAT32, &h, t, 1);
    ((uint16_t *)base)[at] = h;
  }
}

static float load(const void *base, tpf_dtype_t t, size_t at) {
  if (t == TPF_FLOAT32) return ((const float *)base)[at];
  float v;
  tpf_convert((const uint16_t *)base + at, t, &v, TPF_FLOAT32, 1);
  return v;
}

static void note(report_t *rep, int i, tpf_status_t s) {
  rep->status[i] = s;
  snprintf(rep->error[i], sizeof rep->error[i], "%s", s == TPF_OK ? "" : tpf_last_error());
}

/* Reduce-scatters the rank's input once from shared and once from private
 * memory; checks both against the exact sums and each other. */
static void sum_job(const job_t *c, tpf_comm_t *comm, int r, report_t *rep) {
  const int64_t ld = c->n + PAD, rows = c->m / c->W;
  const size_t offset = 64 * (size_t)(r + 1); /* the input is not at the start */
  const size_t bytes = offset + (size_t)(c->m * ld) * es(c->dtype);
  void *region = NULL;
  note(rep, 0, tpf_mem_alloc(comm, bytes, &region));
  if (rep->status[0] != TPF_OK) return;
  void *plain = calloc(1, bytes);
  void *in_shared = (char *)region + offset;
  for (int64_t i = 0; i < c->m; i++)
    for (int64_t j = 0; j < c->n; j++) {
      store(in_shared, c->dtype, (size_t)(i * ld + j), value(r, i, j));
      store(plain, c->dtype, (size_t)(i * ld + j), value(r, i, j));
    }
  void *out[2] = {calloc(1, (size_t)(rows * c->n) * 4), calloc(1, (size_t)(rows * c->n) * 4)};
  tpf_event_t *events = malloc(sizeof *events * EVENTS);
  for (int pass = 0; pass < 2; pass++) {
    int from_shared = pass == 0 && !(c->what == SUM_ONE_PRIVATE && r == 0);
    tpf_matrix_t in = {from_shared ? in_shared : plain, c->dtype, c->m, c->n, ld, 0};
    tpf_matrix_t o = {out[pass], c->dtype, rows, c->n, 0, 0};
    tpf_trace_t trace = {events, EVENTS, 0, 0};
    tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
    opt.comm_turn = c->turn;
    opt.trace = &trace;
    note(rep, 1 + pass, tpf_reduce_scatter(comm, &in, &o, &opt));
    if (pass == 0)
      for (int e = 0; e < trace.count; e++) rep->copies += events[e].kind == TPF_EVENT_COPY;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < c->n; j++) {
      float want = 0;
      for (int q = 0; q < c->W; q++) want += value(q, r * rows + i, j);
      rep->wrong += load(out[0], c->dtype, (size_t)(i * c->n + j)) != want;
    }
  rep->differ = memcmp(out[0], out[1], (size_t)(rows * c->n) * es(c->dtype)) != 0;
  note(rep, 3, tpf_mem_free(comm, region));
  free(plain), free(out[0]), free(out[1]), free(events);
}

static void rejections_job(tpf_comm_t *comm, int r, report_t *rep) {
  void *p = NULL, *mine = NULL;
  note(rep, 0, tpf_mem_alloc(comm, r == 1 ? 0 : 4096, &p));
  note(rep, 1, r == 0 ? tpf_mem_alloc(comm, 4096, NULL) : tpf_mem_alloc(comm, 4096, &p));
  if (rep->status[1] == TPF_OK) tpf_mem_free(comm, p); /* (it failed on every rank) */
  note(rep, 2, tpf_mem_alloc(comm, 10000, &mine));
  char stack_memory[64];
  note(rep, 3, tpf_mem_free(comm, r == 0 ? (void *)stack_memory : mine));
  /* nothing was released: the memory is still there, and still shared */
  memset(mine, r + 1, 10000);
  note(rep, 4, tpf_mem_free(comm, mine));
  note(rep, 5, tpf_mem_free(comm, mine)); /* twice */
}

static void mismatch_job(tpf_comm_t *comm, int r, report_t *rep) {
  float in_data[4 * 8] = {0}, out_data[2 * 8];
  tpf_matrix_t in = {in_data, TPF_FLOAT32, 4, 8, 0, 0}, out = {out_data, TPF_FLOAT32, 2, 8, 0, 0};
  void *p = NULL;
  note(rep, 0, r == 1 ? tpf_reduce_scatter(comm, &in, &out, NULL) : tpf_mem_alloc(comm, 4096, &p));
  /* the communicator still works, and destroy releases what is left */
  note(rep, 1, tpf_mem_alloc(comm, 4096, &p));
}

static void small_tmpfs_job(tpf_comm_t *comm, int r, report_t *rep) {
  void *p = NULL;
  note(rep, 0, tpf_mem_alloc(comm, r == 1 ? (size_t)1 << 20 : 4096, &p));
  note(rep, 1, tpf_mem_alloc(comm, 4096, &p));
  if (rep->status[1] == TPF_OK) note(rep, 2, tpf_mem_free(comm, p));
}

static void dies_job(tpf_comm_t *comm, int r, report_t *rep) {
  if (r == 1) _exit(0);
  void *p = NULL;
  double t0 = now();
  note(rep, 0, tpf_mem_alloc(comm, 4096, &p));
  rep->returned = now() - t0;
}

static void rank_job(const job_t *c, tpf_comm_t *comm, int r) {
  report_t *rep = &reports[r];
  switch (c->what) {
  case SUM_SHARED:
  case SUM_ONE_PRIVATE: sum_job(c, comm, r, rep); break;
  case REJECTIONS: rejections_job(comm, r, rep); break;
  case MISMATCH: mismatch_job(comm, r, rep); break;
  case SMALL_TMPFS: small_tmpfs_job(comm, r, rep); break;
  case DIES: dies_job(comm, r, rep); break;
  }
  rep->done = 1;
}

static void rank_body(tpf_comm_t *comm, int r, void *arg) { rank_job(arg, comm, r); }

/* Runs the job on W ranks; the number of files their shared memory left
 * (in a directory of its own, or the job's small tmpfs). */
static int run(const job_t *c) {
  memset(reports, 0, sizeof *reports * MAX_W);
  char own_dir[] = "/dev/shm/tpf-test-XXXXXX";
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.shm_dir = c->shm_dir ? c->shm_dir : mkdtemp(own_dir);
  cfg.timeout_ms = 10000;
  ranks_run(c->processes ? RS_SHM : RS_THREADS, c->W, &cfg, rank_body, (void *)c, starts->status, starts->error);
  for (int r = 0; r < c->W; r++)
    CHECK(starts->status[r] == TPF_OK, "rank %d: no communicator: %s", r, starts->error[r]);
  int left = cfg.shm_dir ? count_entries(cfg.shm_dir) : 0;
  if (!c->shm_dir && cfg.shm_dir) rmdir(own_dir);
  return left;
}

static const char *transport(const job_t *c) { return c->processes ? "shm" : "threads"; }

static void check_sums(void) {
  const tpf_dtype_t dtypes[] = {TPF_FLOAT32, TPF_BFLOAT16, TPF_FLOAT16};
  for (int processes = 0; processes < 2; processes++)
    for (int W = 2; W <= 3; W++)
      for (int d = 0; d < 3; d++)
        for (int what = SUM_SHARED; what <= SUM_ONE_PRIVATE; what++) {
          job_t c = {(scenario_t)what, W, processes, dtypes[d], 6 * 40, 300 + 17 * d, d == 1 ? 3 : 0, NULL};
          int left = run(&c);
          CHECK(left == 0, "%d segments left", left);
          for (int r = 0; r < W; r++) {
            report_t *rep = &reports[r];
            for (int i = 0; i < 4; i++)
              CHECK(rep->status[i] == TPF_OK, "%s W=%d dtype %d case %d rank %d call %d: %s", transport(&c), W, d,
                    what, r, i, rep->error[i]);
            CHECK(rep->wrong == 0 && !rep->differ, "%s W=%d dtype %d case %d rank %d: %d wrong, differ %d",
                  transport(&c), W, d, what, r, rep->wrong, rep->differ);
            /* a process rank copies only when its own input is private */
            int copies_expected = processes && what == SUM_ONE_PRIVATE && r == 0;
            CHECK((rep->copies > 0) == copies_expected, "%s W=%d case %d rank %d: %d copies", transport(&c), W,
                  what, r, rep->copies);
          }
        }
}

static void check_rejections(void) {
  for (int processes = 0; processes < 2; processes++) {
    job_t c = {REJECTIONS, 2, processes, TPF_FLOAT32, 0, 0, 0, NULL};
    CHECK(run(&c) == 0, "%s: segments left", transport(&c));
    report_t *a = &reports[0], *b = &reports[1];
    CHECK(a->done && b->done, "%s: a rank did not finish", transport(&c));
    CHECK(b->status[0] == TPF_ERR_INVALID && strcmp(b->error[0], "bytes=0: allocate at least one byte") == 0,
          "%s: %s", transport(&c), b->error[0]);
    CHECK(a->status[0] == TPF_ERR_PEER && strstr(a->error[0], "rank 1 rejected its arguments") &&
              strstr(a->error[0], "bytes=0"),
          "%s: %s", transport(&c), a->error[0]);
    CHECK(a->status[1] == TPF_ERR_INVALID && strstr(a->error[1], "ptr is NULL"), "%s: %s", transport(&c),
          a->error[1]);
    CHECK(b->status[1] == TPF_ERR_PEER, "%s: %s", transport(&c), b->error[1]);
    CHECK(a->status[2] == TPF_OK && b->status[2] == TPF_OK, "%s: %s %s", transport(&c), a->error[2], b->error[2]);
    CHECK(a->status[3] == TPF_ERR_INVALID &&
              strstr(a->error[3], "is not memory that tpf_mem_alloc gave rank 0 of this communicator"),
          "%s: %s", transport(&c), a->error[3]);
    CHECK(b->status[3] == TPF_ERR_PEER, "%s: %s", transport(&c), b->error[3]);
    CHECK(a->status[4] == TPF_OK && b->status[4] == TPF_OK, "%s: %s %s", transport(&c), a->error[4], b->error[4]);
    CHECK(a->status[5] == TPF_ERR_INVALID && b->status[5] == TPF_ERR_INVALID, "%s: freed twice: %s / %s",
          transport(&c), a->error[5], b->error[5]);
  }
}

static void check_mismatch(void) {
  for (int processes = 0; processes < 2; processes++) {
    job_t c = {MISMATCH, 2, processes, TPF_FLOAT32, 0, 0, 0, NULL};
    CHECK(run(&c) == 0, "%s: segments left", transport(&c));
    for (int r = 0; r < 2; r++) {
      CHECK(reports[r].status[0] == TPF_ERR_MISMATCH &&
                strstr(reports[r].error[0], "rank 1 passed tpf_reduce_scatter but rank 0 passed tpf_mem_alloc"),
            "%s rank %d: %s", transport(&c), r, reports[r].error[0]);
      CHECK(reports[r].status[1] == TPF_OK, "%s rank %d: %s", transport(&c), r, reports[r].error[1]);
    }
  }
}

/* A tmpfs of 256 KiB: room for the control segment and small parts. */
static void check_small_tmpfs(void) {
  char dir[32];
  if (mount_small_tmpfs("256k", dir) != 0) return;
  job_t c = {SMALL_TMPFS, 2, 1, TPF_FLOAT32, 0, 0, 0, dir};
  CHECK(run(&c) == 0, "segments left in the small tmpfs");
  report_t *a = &reports[0], *b = &reports[1];
  CHECK(a->done && b->done, "a rank died (SIGBUS?)");
  CHECK(b->status[0] == TPF_ERR_NOMEM && strstr(b->error[0], "could not reserve") && strstr(b->error[0], "too small"),
        "rank 1: %s", b->error[0]);
  CHECK(a->status[0] == TPF_ERR_PEER && strstr(a->error[0], "rank 1 could not make its shared memory"), "rank 0: %s",
        a->error[0]);
  for (int r = 0; r < 2; r++)
    for (int i = 1; i < 3; i++)
      CHECK(reports[r].status[i] == TPF_OK, "rank %d call %d after the failure: %s", r, i, reports[r].error[i]);
  CHECK(count_entries(dir) == 0, "%d files left in the small tmpfs", count_entries(dir));
  unmount_small_tmpfs(dir);
}

static void check_death(void) {
  job_t c = {DIES, 2, 1, TPF_FLOAT32, 0, 0, 0, NULL};
  CHECK(run(&c) == 0, "segments left after a death");
  CHECK(reports[0].status[0] == TPF_ERR_PEER && strstr(reports[0].error[0], "died"), "rank 0: %s",
        reports[0].error[0]);
  CHECK(reports[0].returned < 2.0, "rank 0 noticed after %.3f s", reports[0].returned);
}

int main(void) {
  reports = mmap(NULL, sizeof *reports * MAX_W, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  starts = mmap(NULL, sizeof *starts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  check_sums();
  check_rejections();
  check_mismatch();
  check_small_tmpfs();
  check_death();
  return test_summary();
}
