/* A communicator's life against careless and hostile use: destroy (or a
 * second call) while a call runs, abort racing destroy, abort from a signal
 * handler, and fork (a child gets a working GEMM and clear errors for its
 * parent's communicators). Each ends in bounded time. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "tpfuse.h"

enum { M = 8, K = 16, N = 4 };
static float a_data[M * K], b_data[K * N];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

static tpf_status_t one_call(tpf_comm_t *comm, float *out, int world) {
  tpf_matrix_t a = {a_data, TPF_FLOAT32, M, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0};
  tpf_matrix_t o = {out, TPF_FLOAT32, M / world, N, 0, 0};
  return tpf_mm_reduce_scatter(comm, &a, &b, &o, NULL);
}

typedef struct rank_call {
  tpf_comm_t *comm;
  float out[M * N];
  int world;
  tpf_status_t status;
  double took;
} rank_call_t;

static void *call_thread(void *arg) {
  rank_call_t *r = arg;
  double t0 = now_s();
  r->status = one_call(r->comm, r->out, r->world);
  r->took = now_s() - t0;
  return NULL;
}

/* Rank 0 waits inside a call for rank 1: destroying rank 0, or a second
 * call on it (tpf_gemm with the communicator, or the operator), is refused;
 * once rank 1 calls, both finish and destroy works. */
static void check_busy(void) {
  tpf_comm_t *comms[2];
  CHECK_STATUS(tpf_comm_init_all(comms, 2, NULL), TPF_OK);
  rank_call_t r0 = {.comm = comms[0], .world = 2}, r1 = {.comm = comms[1], .world = 2};
  pthread_t t0, t1;
  pthread_create(&t0, NULL, call_thread, &r0);
  sleep_ms(50);
  CHECK_STATUS(tpf_comm_destroy(comms[0]), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "is in a call: destroy it after the call returns") != NULL, "%s",
        tpf_last_error());
  float out[M * N];
  tpf_matrix_t a = {a_data, TPF_FLOAT32, M, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0};
  tpf_matrix_t o = {out, TPF_FLOAT32, M, N, 0, 0};
  CHECK_STATUS(tpf_gemm(comms[0], &a, &b, &o, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "is already in a call on another thread") != NULL, "%s", tpf_last_error());
  CHECK_STATUS(one_call(comms[0], out, 2), TPF_ERR_INVALID);
  CHECK_STATUS(tpf_gemm(comms[1], &a, &b, &o, NULL), TPF_OK); /* the idle rank may multiply */
  pthread_create(&t1, NULL, call_thread, &r1);
  pthread_join(t0, NULL);
  pthread_join(t1, NULL);
  CHECK(r0.status == TPF_OK && r1.status == TPF_OK, "the call itself: %s / %s", tpf_status_string(r0.status),
        tpf_status_string(r1.status));
  CHECK_STATUS(tpf_comm_destroy(comms[0]), TPF_OK);
  CHECK_STATUS(tpf_comm_destroy(comms[1]), TPF_OK);
}

/* tpf_comm_abort on one thread while another destroys: never a use of
 * freed memory (the sanitizer tier sees one), always OK or INVALID. */
typedef struct abort_race {
  tpf_comm_t *_Atomic target;
  _Atomic int stop, bad;
} abort_race_t;

static void *abort_loop(void *arg) {
  abort_race_t *r = arg;
  while (!atomic_load(&r->stop)) {
    tpf_status_t s = tpf_comm_abort(atomic_load(&r->target));
    if (s != TPF_OK && s != TPF_ERR_INVALID) atomic_store(&r->bad, 1);
  }
  return NULL;
}

static void check_abort_races_destroy(void) {
  abort_race_t race = {NULL, 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, abort_loop, &race);
  double t0 = now_s();
  int rounds = 0;
  for (; rounds < 3000 && now_s() - t0 < 10; rounds++) {
    tpf_comm_t *comms[2];
    if (tpf_comm_init_all(comms, 2, NULL) != TPF_OK) break;
    atomic_store(&race.target, comms[rounds % 2]);
    tpf_comm_destroy(comms[0]);
    tpf_comm_destroy(comms[1]);
  }
  atomic_store(&race.stop, 1);
  pthread_join(t, NULL);
  CHECK(rounds >= 100 && !atomic_load(&race.bad), "%d rounds of abort racing destroy", rounds);
}

/* tpf_comm_abort from a signal handler: while the signalled thread itself
 * makes and destroys communicators (and so holds the library's locks at
 * random moments), and to wake a rank that waits inside a call. */
static tpf_comm_t *_Atomic signal_target;
static _Atomic int handled;

static void on_signal(int sig) {
  (void)sig;
  tpf_comm_abort(atomic_load(&signal_target));
  atomic_fetch_add(&handled, 1);
}

typedef struct churn {
  _Atomic int stop, rounds;
} churn_t;

static void *churn_loop(void *arg) {
  churn_t *c = arg;
  while (!atomic_load(&c->stop)) {
    tpf_comm_t *comms[2];
    if (tpf_comm_init_all(comms, 2, NULL) == TPF_OK) {
      tpf_comm_destroy(comms[0]);
      tpf_comm_destroy(comms[1]);
    }
    atomic_fetch_add(&c->rounds, 1);
  }
  return NULL;
}

static void check_abort_in_signal_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGUSR1, &sa, NULL);
  tpf_comm_t *victim[2];
  CHECK_STATUS(tpf_comm_init_all(victim, 2, NULL), TPF_OK);
  atomic_store(&signal_target, victim[0]);
  churn_t churn = {0, 0};
  pthread_t t;
  pthread_create(&t, NULL, churn_loop, &churn);
  double t0 = now_s();
  int sent = 0;
  while (now_s() - t0 < 1.0) {
    pthread_kill(t, SIGUSR1);
    sent++;
    sleep_ms(1);
  }
  atomic_store(&churn.stop, 1);
  pthread_join(t, NULL); /* a handler stuck on a lock its thread holds would hang here */
  CHECK(atomic_load(&handled) > 0 && atomic_load(&churn.rounds) > 0, "%d signals handled, %d rounds",
        atomic_load(&handled), atomic_load(&churn.rounds));
  tpf_comm_destroy(victim[0]);
  tpf_comm_destroy(victim[1]);

  /* A rank waiting in a call (its peer never comes) is woken by a SIGUSR1
   * sent to its own thread: its call returns TPF_ERR_ABORTED promptly. */
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.timeout_ms = 20000;
  tpf_comm_t *comms[2];
  CHECK_STATUS(tpf_comm_init_all(comms, 2, &cfg), TPF_OK);
  atomic_store(&signal_target, comms[0]);
  rank_call_t r0 = {.comm = comms[0], .world = 2};
  pthread_t waiter;
  pthread_create(&waiter, NULL, call_thread, &r0);
  sleep_ms(100);
  pthread_kill(waiter, SIGUSR1);
  pthread_join(waiter, NULL);
  CHECK(r0.status == TPF_ERR_ABORTED && r0.took < 5, "the waiting rank got %s after %.2f s",
        tpf_status_string(r0.status), r0.took);
  CHECK_STATUS(one_call(comms[1], r0.out, 2), TPF_ERR_ABORTED);
  tpf_comm_destroy(comms[0]);
  tpf_comm_destroy(comms[1]);
  signal(SIGUSR1, SIG_DFL);
}

/* A thread that keeps the process-wide GEMM busy, so that a fork can come
 * while it holds the context's lock. */
static _Atomic int gemm_stop;

static void *gemm_loop(void *arg) {
  (void)arg;
  float out[M * N];
  tpf_matrix_t a = {a_data, TPF_FLOAT32, M, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0};
  tpf_matrix_t o = {out, TPF_FLOAT32, M, N, 0, 0};
  while (!atomic_load(&gemm_stop)) tpf_gemm(NULL, &a, &b, &o, NULL);
  return NULL;
}

/* What a forked child finds: the process GEMM works (the right numbers),
 * its parent's communicator is refused by name, abort of it is refused
 * (it must not abort the parent's job), and destroy lets it go. Exit
 * status 0 if so. */
static int child_checks(tpf_comm_t *inherited) {
  float out[M * N];
  tpf_matrix_t a = {a_data, TPF_FLOAT32, M, K, 0, 0}, b = {b_data, TPF_FLOAT32, K, N, 0, 0};
  tpf_matrix_t o = {out, TPF_FLOAT32, M, N, 0, 0};
  if (tpf_gemm(NULL, &a, &b, &o, NULL) != TPF_OK) return 1;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float want = 0;
      for (int p = 0; p < K; p++) want += a_data[i * K + p] * b_data[p * N + j];
      if (out[i * N + j] != want) return 2;
    }
  if (one_call(inherited, out, 1) != TPF_ERR_INVALID || !strstr(tpf_last_error(), "a forked child cannot use it"))
    return 3;
  if (tpf_gemm(inherited, &a, &b, &o, NULL) != TPF_ERR_INVALID) return 4;
  if (tpf_comm_abort(inherited) != TPF_ERR_INVALID) return 5;
  if (tpf_comm_destroy(inherited) != TPF_OK) return 6;
  tpf_comm_t *fresh;
  if (tpf_comm_init_all(&fresh, 1, NULL) != TPF_OK || one_call(fresh, out, 1) != TPF_OK) return 7;
  tpf_comm_destroy(fresh);
  return 0;
}

static void check_fork(void) {
#if defined(__SANITIZE_THREAD__)
  /* TSan cannot follow a process that starts threads after a fork of a
   * threaded one; the other tiers run this. */
  printf("SKIP fork under ThreadSanitizer (the normal and ASan tiers run it)\n");
  return;
#endif
  tpf_comm_t *comm;
  CHECK_STATUS(tpf_comm_init_all(&comm, 1, NULL), TPF_OK);
  float out[M * N];
  CHECK_STATUS(one_call(comm, out, 1), TPF_OK);
  pthread_t t;
  atomic_store(&gemm_stop, 0);
  pthread_create(&t, NULL, gemm_loop, NULL);
  for (int round = 0; round < 20; round++) {
    sleep_ms(round % 3);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(20); /* a hang in the child ends as a failure, not a stuck test */
      _exit(child_checks(comm));
    }
    int status = 0;
    double t0 = now_s();
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_s() - t0 < 30) sleep_ms(5);
    CHECK(done == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "fork round %d: the child %s (status %d, signal %d)", round, done == pid ? "failed" : "hung",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (done != pid) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  }
  atomic_store(&gemm_stop, 1);
  pthread_join(t, NULL);
  CHECK_STATUS(one_call(comm, out, 1), TPF_OK); /* the parent's is untouched */
  tpf_comm_destroy(comm);
}

int main(void) {
  for (int i = 0; i < M * K; i++) a_data[i] = (float)(i % 5) - 2;
  for (int i = 0; i < K * N; i++) b_data[i] = (float)(i % 3) - 1;
  check_busy();
  check_abort_races_destroy();
  check_abort_in_signal_handler();
  check_fork();
  return test_summary();
}
