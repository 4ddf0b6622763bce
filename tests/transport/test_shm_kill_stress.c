/* kill -9 at random moments: two process ranks make a communicator, run
 * calls whose buffers grow (2, 4 and 6 MiB), and destroy it; one of them
 * is killed at a random moment of that life (init, the first call, a
 * growth, a steady call, destroy), hundreds of times. Each time the
 * survivor must return within seconds and nothing of the id may be left in
 * /dev/shm once it has. Usage: transport_shm_kill_stress [trials] [seed]. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../shm_files.h"
#include "../test.h"
#include "tpfuse.h"

enum { K = 4, N = 1024, MAX_M = 1536 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float a_data[MAX_M * K], b_data[K * N], out_data[MAX_M / 2 * N];

static void rank_life(tpf_unique_id_t id, int rank) {
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 3000;
  cfg.algo = TPF_ALGO_UNFUSED; /* a buffer of the whole m x n product: it grows with m */
  tpf_comm_t *comm;
  if (tpf_comm_init_rank(&comm, 2, id, rank, &cfg) != TPF_OK) _exit(1);
  tpf_status_t s = TPF_OK;
  for (int m = 512; m <= MAX_M && s == TPF_OK; m += 512)
    for (int again = 0; again < 2 && s == TPF_OK; again++) {
      tpf_matrix_t a = {a_data, TPF_FLOAT32, m, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0};
      tpf_matrix_t out = {out_data, TPF_FLOAT32, m / 2, N, 0, 0};
      s = tpf_mm_reduce_scatter(comm, &a, &b, &out, NULL);
    }
  tpf_comm_destroy(comm);
  _exit(s == TPF_OK ? 0 : 2);
}

static uint64_t rng;
static uint64_t next_random(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  int trials = argc > 1 ? atoi(argv[1]) : 300;
  rng = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
  printf("seed %llu\n", (unsigned long long)rng);
  rng = rng * 2654435761u + 1;
  double start = now(), longest = 0, lifetime = 0.05;
  int left_behind = 0, hung = 0, done = 0, survived_ok = 0;
  for (int t = 0; t < trials && now() - start < 45; t++, done++) {
    tpf_unique_id_t id;
    tpf_get_unique_id(&id);
    pid_t pids[2];
    double born = now();
    for (int r = 0; r < 2; r++)
      if ((pids[r] = fork()) == 0) rank_life(id, r);
    /* a moment within the ranks' usual life, which the trials measure */
    int victim = (int)(next_random() % 2);
    long ns = (long)((double)(next_random() % 1000) / 1000.0 * lifetime * 1e9);
    nanosleep(&(struct timespec){ns / 1000000000, ns % 1000000000}, NULL);
    kill(pids[victim], SIGKILL);
    waitpid(pids[victim], NULL, 0);
    int status = 0;
    pid_t got = 0;
    double killed = now();
    while ((got = waitpid(pids[1 - victim], &status, WNOHANG)) == 0 && now() - killed < 10)
      nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (got == 0) {
      hung++;
      kill(pids[1 - victim], SIGKILL);
      waitpid(pids[1 - victim], NULL, 0);
    }
    survived_ok += got != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (now() - killed > longest) longest = now() - killed;
    if (got != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) lifetime = 0.8 * lifetime + 0.2 * (now() - born);
    int left = leftovers("/dev/shm", &id);
    if (left) {
      left_behind++;
      fprintf(stderr, "trial %d: %d segments left after killing rank %d %.1f ms in\n", t, left, victim, ns / 1e6);
    }
  }
  printf("%d trials in %.1f s: the survivor finished unharmed %d times, the longest wait after a kill %.2f s\n",
         done, now() - start, survived_ok, longest);
  CHECK(hung == 0, "%d survivors did not return within 10 s", hung);
  CHECK(longest < 5.0, "a survivor took %.2f s after the kill", longest);
  CHECK(left_behind == 0, "%d of %d trials left segments in /dev/shm", left_behind, done);
  CHECK(done >= 100, "only %d trials ran", done);
  return test_summary();
}
