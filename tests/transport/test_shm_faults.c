/* Faults with ranks as processes over shared memory, each in bounded time:
 * kill -9 of a rank during calls of each operator (the others return TPF_ERR_PEER within
 * 2 s, and leave no segment, thread or fd behind), a rank that never calls
 * (TPF_ERR_TIMEOUT at the timeout), mismatched calls (TPF_ERR_MISMATCH on
 * every rank), tpf_comm_abort on one rank (the others return promptly), a
 * tmpfs too small (a clear TPF_ERR_NOMEM, never SIGBUS), and the argument
 * rules of tpf_comm_init_rank and of unique ids. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../shm_files.h"
#include "../test.h"
#include "tpfuse.h"

enum { W = 3, M = 384, K = 256, N = 256 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What each forked rank reports back. */
typedef struct report {
  int status;       /* of the call that ended the loop */
  char error[400];
  double returned;  /* when that call returned */
  int leaked_fds, leaked_threads;
  int done;
} report_t;

static report_t *reports; /* W entries, shared with the children */

typedef enum behaviour { CALL_LOOP, NEVER_CALL, CALL_WRONG_K, ABORT_LATER, CALL_ONCE } behaviour_t;

static float a_data[M * K], b_data[K * N], out_data[M / W * N], out_big[M * K];

/* The operator CALL_LOOP calls: 0 MatmulReduceScatter, 1 AllGather, 2
 * AllReduce, 3 AllGatherMatmul, 4 MatmulAllReduce. */
static int loop_op;
static const char *const OP_NAMES[] = {"tpf_mm_reduce_scatter", "tpf_all_gather", "tpf_all_reduce",
                                       "tpf_all_gather_mm", "tpf_mm_all_reduce"};

static tpf_status_t call_op(tpf_comm_t *comm, int op, tpf_matrix_t *a, tpf_matrix_t *b, tpf_matrix_t *out) {
  tpf_matrix_t block = {a_data, TPF_FLOAT32, M / W, K, 0, 0}, gathered = {out_big, TPF_FLOAT32, M, K, 0, 0};
  tpf_matrix_t product = {out_big, TPF_FLOAT32, M, N, 0, 0};
  switch (op) {
  case 1: return tpf_all_gather(comm, &block, &gathered, NULL);
  case 2: return tpf_all_reduce(comm, a, &gathered, NULL);
  case 3: return tpf_all_gather_mm(comm, &block, b, &product, NULL, NULL);
  case 4: return tpf_mm_all_reduce(comm, a, b, &product, NULL);
  default: return tpf_mm_reduce_scatter(comm, a, b, out, NULL);
  }
}

/* One rank: init, then behave, then destroy; report and exit. */
static void rank_main(int rank, tpf_unique_id_t id, behaviour_t how, const tpf_config_t *cfg) {
  report_t *rep = &reports[rank];
  int fds_before = count_entries("/proc/self/fd"), threads_before = count_entries("/proc/self/task");
  tpf_comm_t *comm;
  tpf_status_t s = tpf_comm_init_rank(&comm, W, id, rank, cfg);
  if (s == TPF_OK) {
    tpf_matrix_t a = {a_data, TPF_FLOAT32, M, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0},
                 out = {out_data, TPF_FLOAT32, M / W, N, 0, 0};
    if (how == CALL_WRONG_K) a.cols = b.rows = K / 2;
    switch (how) {
    case NEVER_CALL: {
      struct timespec nap = {1, 0};
      nanosleep(&nap, NULL);
      break;
    }
    case ABORT_LATER: {
      struct timespec nap = {0, 200 * 1000 * 1000};
      nanosleep(&nap, NULL);
      s = tpf_comm_abort(comm);
      break;
    }
    case CALL_ONCE: s = tpf_mm_reduce_scatter(comm, &a, &b, &out, NULL); break;
    default:
      for (int i = 0; i < 100000 && s == TPF_OK; i++) s = call_op(comm, loop_op, &a, &b, &out);
    }
    rep->returned = now();
    snprintf(rep->error, sizeof rep->error, "%s", tpf_last_error());
    tpf_comm_destroy(comm);
  } else {
    rep->returned = now();
    snprintf(rep->error, sizeof rep->error, "%s", tpf_last_error());
  }
  rep->status = s;
  rep->leaked_fds = count_entries("/proc/self/fd") - fds_before;
  rep->leaked_threads = count_entries("/proc/self/task") - threads_before;
  rep->done = 1;
  _exit(0);
}

/* Forks W ranks with their behaviours; returns their pids. */
static void start(pid_t *pids, tpf_unique_id_t id, const behaviour_t *how, const tpf_config_t *cfg) {
  memset(reports, 0, sizeof *reports * W);
  for (int r = 0; r < W; r++)
    if ((pids[r] = fork()) == 0) rank_main(r, id, how[r], cfg);
}

static void wait_all(pid_t *pids) {
  for (int r = 0; r < W; r++)
    if (pids[r] > 0) waitpid(pids[r], NULL, 0);
}

/* A rank killed while the ranks loop over calls of `op`. */
static void check_kill(int op) {
  loop_op = op;
  tpf_unique_id_t id;
  CHECK_STATUS(tpf_get_unique_id(&id), TPF_OK);
  const behaviour_t how[W] = {CALL_LOOP, CALL_LOOP, CALL_LOOP};
  pid_t pids[W];
  start(pids, id, how, NULL);
  struct timespec nap = {0, 400 * 1000 * 1000};
  nanosleep(&nap, NULL);
  double killed = now();
  kill(pids[1], SIGKILL);
  waitpid(pids[1], NULL, 0);
  pids[1] = -1;
  wait_all(pids);
  for (int r = 0; r < W; r += 2) {
    report_t *rep = &reports[r];
    CHECK(rep->done, "rank %d did not finish", r);
    CHECK(rep->status == TPF_ERR_PEER, "%s: rank %d returned %s: %s", OP_NAMES[op], r,
          tpf_status_string(rep->status), rep->error);
    CHECK(strstr(rep->error, "rank 1") && strstr(rep->error, "died"), "%s: rank %d: %s", OP_NAMES[op], r, rep->error);
    CHECK(rep->returned - killed < 2.0, "%s: rank %d returned %.3f s after the kill", OP_NAMES[op], r,
          rep->returned - killed);
    CHECK(rep->leaked_fds == 0 && rep->leaked_threads == 0, "rank %d left %d fds and %d threads", r,
          rep->leaked_fds, rep->leaked_threads);
  }
  CHECK(leftovers("/dev/shm", &id) == 0, "%d segments left in /dev/shm", leftovers("/dev/shm", &id));
}

static void check_timeout(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 300;
  const behaviour_t how[W] = {CALL_ONCE, CALL_ONCE, NEVER_CALL};
  pid_t pids[W];
  double t0 = now();
  start(pids, id, how, &cfg);
  wait_all(pids);
  for (int r = 0; r < 2; r++) {
    CHECK(reports[r].status == TPF_ERR_TIMEOUT && strstr(reports[r].error, "waited 300 ms for rank 2"),
          "rank %d returned %s: %s", r, tpf_status_string(reports[r].status), reports[r].error);
    CHECK(reports[r].returned - t0 < 2.0, "rank %d took %.3f s", r, reports[r].returned - t0);
  }
  CHECK(leftovers("/dev/shm", &id) == 0, "segments left in /dev/shm");
}

static void check_mismatch(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  const behaviour_t how[W] = {CALL_ONCE, CALL_ONCE, CALL_WRONG_K};
  pid_t pids[W];
  start(pids, id, how, NULL);
  wait_all(pids);
  for (int r = 0; r < W; r++)
    CHECK(reports[r].status == TPF_ERR_MISMATCH && strstr(reports[r].error, "rank 2 passed k=128 but rank 0 passed k=256"),
          "rank %d returned %s: %s", r, tpf_status_string(reports[r].status), reports[r].error);
  CHECK(leftovers("/dev/shm", &id) == 0, "segments left in /dev/shm");
}

static void check_abort(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  const behaviour_t how[W] = {ABORT_LATER, CALL_ONCE, CALL_ONCE};
  pid_t pids[W];
  start(pids, id, how, NULL); /* default timeout: 30 s */
  wait_all(pids);
  for (int r = 1; r < W; r++) {
    CHECK(reports[r].status == TPF_ERR_ABORTED && strstr(reports[r].error, "tpf_comm_abort on rank 0"),
          "rank %d returned %s: %s", r, tpf_status_string(reports[r].status), reports[r].error);
    CHECK(reports[r].returned - reports[0].returned < 0.5, "rank %d returned %.3f s after the abort", r,
          reports[r].returned - reports[0].returned);
  }
  CHECK(leftovers("/dev/shm", &id) == 0, "segments left in /dev/shm");
}

/* A tmpfs of 64 KiB: room for the control segment, not for a buffer. */
static void check_small_tmpfs(void) {
  char dir[32];
  if (mount_small_tmpfs("64k", dir) != 0) return;
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.shm_dir = dir;
  const behaviour_t how[W] = {CALL_ONCE, CALL_ONCE, CALL_ONCE};
  pid_t pids[W];
  start(pids, id, how, &cfg);
  wait_all(pids);
  int nomem = 0;
  for (int r = 0; r < W; r++) {
    CHECK(reports[r].done, "rank %d died (SIGBUS?)", r);
    nomem += reports[r].status == TPF_ERR_NOMEM;
    CHECK(reports[r].status == TPF_ERR_NOMEM || reports[r].status == TPF_ERR_PEER, "rank %d returned %s: %s",
          r, tpf_status_string(reports[r].status), reports[r].error);
  }
  CHECK(nomem > 0 && strstr(reports[0].error, "could not reserve") && strstr(reports[0].error, "too small"),
        "rank 0: %s", reports[0].error);
  CHECK(count_entries(dir) == 0, "%d files left in the small tmpfs", count_entries(dir));
  unmount_small_tmpfs(dir);
}

static void check_init_rules(void) {
  tpf_comm_t *comm = NULL;
  tpf_unique_id_t id, zero;
  memset(&zero, 0, sizeof zero);
  tpf_get_unique_id(&id);
  CHECK_STATUS(tpf_comm_init_rank(NULL, 2, id, 0, NULL), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_comm_init_rank(&comm, 0, id, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "world_size=0") != NULL, "%s", tpf_last_error());
  CHECK_STATUS(tpf_comm_init_rank(&comm, 2, id, 2, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "rank=2 must be in [0, world_size=2)") != NULL, "%s", tpf_last_error());
  unsetenv("TPF_UNIQUE_ID");
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, zero, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_UNIQUE_ID is not set") != NULL, "%s", tpf_last_error());
  setenv("TPF_UNIQUE_ID", "tpf1-nothex", 1);
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, zero, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_UNIQUE_ID:") != NULL, "%s", tpf_last_error());
  /* a world of one, from the text in the environment */
  char text[TPF_UNIQUE_ID_STRING_BYTES];
  CHECK_STATUS(tpf_unique_id_to_string(&id, text, sizeof text), TPF_OK);
  setenv("TPF_UNIQUE_ID", text, 1);
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, zero, 0, NULL), TPF_OK);
  CHECK(comm && strncmp(tpf_comm_name(comm), "tpf-shm-", 8) == 0, "name %s", comm ? tpf_comm_name(comm) : "-");
  CHECK(tpf_comm_find(tpf_comm_name(comm)) == comm, "find by name");
  tpf_comm_destroy(comm);
  unsetenv("TPF_UNIQUE_ID");
  CHECK(leftovers("/dev/shm", &id) == 0, "segments left in /dev/shm");
  /* ids: text round trip, garbage, another host */
  tpf_unique_id_t back;
  CHECK_STATUS(tpf_unique_id_from_string(text, &back), TPF_OK);
  CHECK(memcmp(&back, &id, sizeof id) == 0, "text round trip");
  memset(&back, 7, sizeof back);
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, back, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "not a tpfuse unique id") != NULL, "%s", tpf_last_error());
  tpf_unique_id_t elsewhere = id;
  elsewhere.bytes[20] ^= 0xff; /* the host hash */
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, elsewhere, 0, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "the shared-memory transport joins processes of one host only") != NULL, "%s",
        tpf_last_error());
  CHECK_STATUS(tpf_unique_id_to_string(&id, text, 10), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_get_unique_id(NULL), TPF_ERR_INVALID);
  /* a rank that never joins: init times out, nothing left */
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 200;
  tpf_get_unique_id(&id);
  double t0 = now();
  CHECK_STATUS(tpf_comm_init_rank(&comm, 2, id, 0, &cfg), TPF_ERR_TIMEOUT);
  CHECK(strstr(tpf_last_error(), "not every rank joined") != NULL, "%s", tpf_last_error());
  CHECK(now() - t0 < 1.5, "init took %.3f s", now() - t0);
  CHECK(leftovers("/dev/shm", &id) == 0, "segments left after a failed init");
}

int main(void) {
  reports = mmap(NULL, sizeof *reports * W, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  for (int i = 0; i < M * K; i++) a_data[i] = (float)(i % 7 - 3);
  for (int i = 0; i < K * N; i++) b_data[i] = (float)(i % 5 - 2);
  check_init_rules();
  check_mismatch();
  check_timeout();
  check_abort();
  for (int op = 0; op < 5; op++) check_kill(op);
  check_small_tmpfs();
  return test_summary();
}
