/* Process ranks against careless and hostile surroundings: two jobs
 * started at once with one id (never a silent mix of their ranks), a rank
 * that dies while the ranks join (the others fail at once, not at the
 * timeout), files in the tmpfs that are not what they claim (short, another
 * mode, a link: refused with words, never SIGBUS), names a bystander
 * created ahead, and shared-memory directories that cannot be used. */
#define _GNU_SOURCE
#include <fcntl.h>
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

enum { M = 4, K = 8, N = 4 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What a forked rank reports. */
typedef struct outcome {
  int init_status, call_status;
  float out[M / 2 * N];
  double took;
  char error[300];
} outcome_t;

static outcome_t *shared; /* shared with the children */

/* One rank of a 2-rank job whose inputs are all `value`: init, wait
 * `delay_ms`, one call, destroy; reports and exits. */
static void job_rank(outcome_t *o, tpf_unique_id_t id, int rank, float value, const tpf_config_t *cfg,
                     int delay_ms) {
  float a[M * K], b[K * N];
  for (int i = 0; i < M * K; i++) a[i] = value;
  for (int i = 0; i < K * N; i++) b[i] = 1;
  double t0 = now();
  tpf_comm_t *comm = NULL;
  o->init_status = tpf_comm_init_rank(&comm, 2, id, rank, cfg);
  o->call_status = TPF_ERR_INTERNAL;
  if (o->init_status == TPF_OK) {
    nanosleep(&(struct timespec){0, delay_ms * 1000000L}, NULL);
    tpf_matrix_t ma = {a, TPF_FLOAT32, M, K, 0, 0}, mb = {b, TPF_FLOAT32, K, N, 0, 0};
    tpf_matrix_t mo = {o->out, TPF_FLOAT32, M / 2, N, 0, 0};
    o->call_status = tpf_mm_reduce_scatter(comm, &ma, &mb, &mo, NULL);
  }
  o->took = now() - t0;
  snprintf(o->error, sizeof o->error, "%s", tpf_last_error());
  tpf_comm_destroy(comm);
  _exit(0);
}

/* Two 2-rank jobs started within a millisecond with one id, their inputs
 * 1 and 100: a call may succeed only with its own job's sum (2 x 8 x 1 or
 * 2 x 8 x 100 per element); a mix (808) must never be returned as OK. */
static void check_two_jobs_one_id(void) {
  int trials = 20, mixed = 0, refused = 0;
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 300;
  for (int t = 0; t < trials; t++) {
    tpf_unique_id_t id;
    tpf_get_unique_id(&id);
    memset(shared, 0, sizeof *shared * 4);
    pid_t pids[4];
    for (int p = 0; p < 4; p++)
      if ((pids[p] = fork()) == 0) job_rank(&shared[p], id, p % 2, p < 2 ? 1.0f : 100.0f, &cfg, 0);
    for (int p = 0; p < 4; p++) waitpid(pids[p], NULL, 0);
    for (int p = 0; p < 4; p++) {
      const outcome_t *o = &shared[p];
      if (o->call_status != TPF_OK) {
        refused += strstr(o->error, "an id is for one communicator") != NULL;
        continue;
      }
      for (int i = 0; i < M / 2 * N; i++)
        if (o->out[i] != 16.0f && o->out[i] != 1600.0f) {
          mixed++;
          break;
        }
    }
    CHECK(leftovers("/dev/shm", &id) == 0, "trial %d: %d segments left", t, leftovers("/dev/shm", &id));
  }
  CHECK(mixed == 0, "%d ranks returned TPF_OK with a sum of both jobs' inputs", mixed);
  CHECK(refused > 0, "no rank said that the id was used twice in %d trials", trials);
  printf("two jobs, one id: %d trials, %d refusals in words, %d mixed results\n", trials, refused, mixed);
}

/* Rank 1 of 3 joins, then dies before rank 2 comes: ranks 0 and 2 fail
 * within milliseconds, not at the 20 s timeout, and nothing is left. */
static void check_death_while_joining(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 20000;
  memset(shared, 0, sizeof *shared * 4);
  pid_t first = fork();
  if (first == 0) {
    tpf_comm_t *comm;
    shared[0].init_status = tpf_comm_init_rank(&comm, 3, id, 0, &cfg);
    snprintf(shared[0].error, sizeof shared[0].error, "%s", tpf_last_error());
    _exit(0);
  }
  pid_t doomed = fork();
  if (doomed == 0) {
    tpf_comm_t *comm;
    tpf_comm_init_rank(&comm, 3, id, 1, &cfg); /* waits for rank 2 */
    _exit(0);
  }
  nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  double killed = now();
  kill(doomed, SIGKILL);
  waitpid(doomed, NULL, 0);
  waitpid(first, NULL, 0);
  double took = now() - killed;
  CHECK(shared[0].init_status == TPF_ERR_PEER && strstr(shared[0].error, "rank 1"),
        "rank 0 got %s: %s", tpf_status_string(shared[0].init_status), shared[0].error);
  CHECK(took < 3.0, "rank 0 returned %.2f s after rank 1 died", took);
  /* rank 2, coming after the others gave up, finds nothing and waits out
   * its own timeout; nothing is left either way */
  CHECK(leftovers("/dev/shm", &id) == 0, "%d segments left", leftovers("/dev/shm", &id));
  tpf_comm_t *comm;
  cfg.timeout_ms = 200;
  CHECK_STATUS(tpf_comm_init_rank(&comm, 3, id, 2, &cfg), TPF_ERR_TIMEOUT);
  CHECK(leftovers("/dev/shm", &id) == 0, "%d segments left after the late rank", leftovers("/dev/shm", &id));
}

/* The control segment's path of an id, as the library names it. */
static void control_of(const tpf_unique_id_t *id, const char *dir, char *path, size_t size) {
  char text[TPF_UNIQUE_ID_STRING_BYTES];
  tpf_unique_id_to_string(id, text, sizeof text);
  snprintf(path, size, "%s/tpf-%.32s", dir, text + 5);
}

/* The first buffer file of rank 0 of an id, as the library names it
 * (its name begins with the control's, then "-0-1"). */
static int find_first_buffer(const tpf_unique_id_t *id, char *path, size_t size) {
  char control[512];
  control_of(id, "/dev/shm", control, sizeof control);
  const char *stem = strrchr(control, '/') + 1;
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s-0-1", stem);
  DIR *d = opendir("/dev/shm");
  int found = 0;
  for (struct dirent *e; d && !found && (e = readdir(d));)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
      snprintf(path, size, "/dev/shm/%s", e->d_name);
      found = 1;
    }
  if (d) closedir(d);
  return found;
}

/* Rank 0 makes its buffer and waits for rank 1 to map it; a bystander of
 * the same user tampers with the file first: cuts it short (mapping it
 * whole would kill rank 1 with SIGBUS at the first touch), opens its mode,
 * or puts a link to another file of the right size in its place. Rank 1
 * refuses to map it, in words, and both ranks return an error. */
static void check_tampered_buffer(void) {
  const char *kinds[] = {"cut short", "mode 0644", "replaced by a link"};
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 3000;
  char other[] = "/dev/shm/tpf-test-other-XXXXXX";
  int ofd = mkstemp(other);
  CHECK(ofd >= 0 && ftruncate(ofd, 4 << 20) == 0, "a file to link to");
  close(ofd);
  for (int k = 0; k < 3; k++) {
    tpf_unique_id_t id;
    tpf_get_unique_id(&id);
    memset(shared, 0, sizeof *shared * 2);
    pid_t pids[2];
    for (int p = 0; p < 2; p++)
      if ((pids[p] = fork()) == 0) job_rank(&shared[p], id, p, 1.0f, &cfg, p == 1 ? 700 : 0);
    char path[600];
    int found = 0;
    for (double t0 = now(); !found && now() - t0 < 2; nanosleep(&(struct timespec){0, 1000000}, NULL))
      found = find_first_buffer(&id, path, sizeof path);
    CHECK(found, "%s: rank 0's buffer never appeared", kinds[k]);
    /* (once rank 0 has made it: cut short under its owner's own first
     * touch, it would kill the owner, as any mapped file would) */
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    if (found && k == 0) CHECK(truncate(path, 4096) == 0, "truncate %s", path);
    if (found && k == 1) CHECK(chmod(path, 0644) == 0, "chmod %s", path);
    if (found && k == 2) CHECK(unlink(path) == 0 && symlink(other, path) == 0, "link %s", path);
    int status[2];
    for (int p = 0; p < 2; p++) waitpid(pids[p], &status[p], 0);
    CHECK(WIFEXITED(status[1]), "%s: rank 1 died of signal %d", kinds[k], WIFSIGNALED(status[1]) ? WTERMSIG(status[1]) : 0);
    CHECK(shared[1].call_status != TPF_OK && strstr(shared[1].error, "refused to map"), "%s: rank 1 got %s: %s",
          kinds[k], tpf_status_string(shared[1].call_status), shared[1].error);
    CHECK(shared[0].call_status != TPF_OK, "%s: rank 0 got %s", kinds[k], tpf_status_string(shared[0].call_status));
    if (found) unlink(path);
    CHECK(leftovers("/dev/shm", &id) == 0, "%s: %d segments left", kinds[k], leftovers("/dev/shm", &id));
  }
  unlink(other);
}

/* Rank 0 was killed between making the control file and writing it (the
 * file is empty, or as large as a header and blank): rank 1 waits out its
 * timeout and removes the name, which nobody else ever would. */
static void check_unfinished_control(void) {
  for (int blank = 0; blank < 2; blank++) {
    tpf_unique_id_t id;
    tpf_get_unique_id(&id);
    char control[512];
    control_of(&id, "/dev/shm", control, sizeof control);
    int fd = open(control, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0 && (!blank || ftruncate(fd, 1 << 20) == 0), "made %s", control);
    close(fd);
    tpf_config_t cfg = TPF_CONFIG_INIT;
    cfg.timeout_ms = 200;
    tpf_comm_t *comm;
    CHECK_STATUS(tpf_comm_init_rank(&comm, 2, id, 1, &cfg), TPF_ERR_TIMEOUT);
    CHECK(leftovers("/dev/shm", &id) == 0, "%s control file: %d segments left", blank ? "a blank" : "an empty",
          leftovers("/dev/shm", &id));
    unlink(control);
  }
}

/* Names a bystander made ahead (the names the buffers of an id would have
 * had before they got a random part): two ranks still grow their buffers
 * and compute. */
static void check_names_made_ahead(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  char control[512], path[600];
  control_of(&id, "/dev/shm", control, sizeof control);
  for (int rank = 0; rank < 2; rank++)
    for (int gen = 1; gen <= 3; gen++) {
      snprintf(path, sizeof path, "%s-%d-%d", control, rank, gen);
      close(open(path, O_CREAT | O_EXCL | O_RDWR, 0600));
    }
  memset(shared, 0, sizeof *shared * 2);
  pid_t pids[2];
  for (int p = 0; p < 2; p++)
    if ((pids[p] = fork()) == 0) job_rank(&shared[p], id, p, 1.0f, NULL, 0);
  for (int p = 0; p < 2; p++) waitpid(pids[p], NULL, 0);
  for (int p = 0; p < 2; p++)
    CHECK(shared[p].call_status == TPF_OK && shared[p].out[0] == 16.0f, "rank %d: %s: %s", p,
          tpf_status_string(shared[p].call_status), shared[p].error);
  CHECK(leftovers("/dev/shm", &id) == 6, "%d files of the id (the bystander's 6 expected)",
        leftovers("/dev/shm", &id));
  for (int rank = 0; rank < 2; rank++)
    for (int gen = 1; gen <= 3; gen++) {
      snprintf(path, sizeof path, "%s-%d-%d", control, rank, gen);
      unlink(path);
    }
}

/* Four ranks (more than cores, and a busy process beside them) whose
 * buffers grow at every other call, after calls that fail at the exchange:
 * a fast rank starts its next exchange, with a new buffer, while a slower
 * one still finishes the last.
 * Every call must succeed with the right sums, and nothing may be left. */
enum { GW = 4, GN = 512, GROW = 1024, CALLS = 16 };

static void growth_rank(tpf_unique_id_t id, int rank, int *ok) {
  static float ga[GW * GROW * CALLS], gb[GN], gout[GROW * CALLS * GN];
  for (size_t i = 0; i < sizeof ga / sizeof *ga; i++) ga[i] = 1;
  for (size_t i = 0; i < sizeof gb / sizeof *gb; i++) gb[i] = 1;
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 10000;
  cfg.algo = TPF_ALGO_UNFUSED; /* a buffer of the whole product: 2 MiB more each call */
  tpf_comm_t *comm;
  *ok = tpf_comm_init_rank(&comm, GW, id, rank, &cfg) == TPF_OK;
  for (int c = 1; c <= CALLS && *ok; c++) {
    /* mismatched calls (each rank leaves right after the exchange, while
     * the others may still be in it) that grow the buffers, and now and
     * then a good one */
    tpf_matrix_t a = {ga, TPF_FLOAT32, GW * GROW * c, 1, 0, 0}, b = {gb, TPF_FLOAT32, 1, GN, 0, 0};
    tpf_matrix_t out = {gout, TPF_FLOAT32, GROW * c, GN, 0, 0};
    tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
    opt.comm_turn = 1 + rank;
    *ok = tpf_mm_reduce_scatter(comm, &a, &b, &out, &opt) == TPF_ERR_MISMATCH;
    if (*ok && c % 8 == 0) *ok = tpf_mm_reduce_scatter(comm, &a, &b, &out, NULL) == TPF_OK && gout[0] == (float)GW;
    if (!*ok) fprintf(stderr, "rank %d, call %d: %s\n", rank, c, tpf_last_error());
  }
  tpf_comm_destroy(comm);
}

static void check_growth_every_call(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  memset(shared, 0, sizeof *shared * GW);
  pid_t busy = fork();
  if (busy == 0)
    for (volatile unsigned spin = 0;; spin++) {}
  pid_t pids[GW];
  for (int r = 0; r < GW; r++)
    if ((pids[r] = fork()) == 0) {
      int ok = 0;
      growth_rank(id, r, &ok);
      shared[r].call_status = ok ? TPF_OK : TPF_ERR_INTERNAL;
      _exit(0);
    }
  for (int r = 0; r < GW; r++) waitpid(pids[r], NULL, 0);
  kill(busy, SIGKILL);
  waitpid(busy, NULL, 0);
  for (int r = 0; r < GW; r++) CHECK(shared[r].call_status == TPF_OK, "rank %d failed while its buffers grew", r);
  CHECK(leftovers("/dev/shm", &id) == 0, "%d segments left", leftovers("/dev/shm", &id));
}

/* Directories that cannot hold the segments safely are refused in words. */
static void check_directories(void) {
  tpf_unique_id_t id;
  tpf_get_unique_id(&id);
  tpf_comm_t *comm;
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.shm_dir = "";
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, id, 0, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "is empty") != NULL, "%s", tpf_last_error());
  char long_dir[400];
  memset(long_dir, 'x', sizeof long_dir - 1);
  long_dir[0] = '/';
  long_dir[sizeof long_dir - 1] = '\0';
  cfg.shm_dir = long_dir;
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, id, 0, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "is 399 bytes long: at most 255") != NULL, "%s", tpf_last_error());
  char open_dir[] = "/tmp/tpf-open-XXXXXX";
  CHECK(mkdtemp(open_dir) != NULL, "mkdtemp");
  chmod(open_dir, 0777);
  cfg.shm_dir = open_dir;
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, id, 0, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "writable by other users and has no sticky bit") != NULL, "%s", tpf_last_error());
  chmod(open_dir, 01777); /* as /dev/shm and /tmp: fine */
  CHECK_STATUS(tpf_comm_init_rank(&comm, 1, id, 0, &cfg), TPF_OK);
  tpf_comm_destroy(comm);
  CHECK(count_entries(open_dir) == 0, "%d files left in %s", count_entries(open_dir), open_dir);
  rmdir(open_dir);
}

int main(void) {
  shared = mmap(NULL, sizeof *shared * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  check_directories();
  check_tampered_buffer();
  check_names_made_ahead();
  check_unfinished_control();
  check_death_while_joining();
  check_growth_every_call();
  check_two_jobs_one_id();
  return test_summary();
}
