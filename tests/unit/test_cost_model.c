/* The cost model measured on the machine it runs on (ops/calibrate.h):
 * the shipped table scaled by what the probes measure against what they
 * measured where it was fit; kept per process; the same on every rank of a
 * communicator (rank 0's, also when its ranks are processes that measured
 * different figures); the shipped table where TPF_COST_MODEL=table; a
 * wrong TPF_COST_MODEL refused with its name. */
#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "ops/calibrate.h"
#include "tpfuse.h"

static int same_costs(const tpf_costs_t *a, const tpf_costs_t *b) { return memcmp(a, b, sizeof *a) == 0; }

/* Scaling: the reference probes give the table bit for bit; each probe
 * moves only the rates it stands for, in proportion; a failed probe (0)
 * keeps the table's rate. */
static void check_scaling(void) {
  const tpf_probes_t ref = tpf_probes_reference;
  tpf_costs_t c = tpf_costs_scaled(&ref);
  CHECK(same_costs(&c, &tpf_costs), "the reference probes must give the shipped table");

  tpf_probes_t p = ref;
  p.gemm_gflops[0] = ref.gemm_gflops[0] / 2;
  p.sum_gbps = ref.sum_gbps * 3;
  c = tpf_costs_scaled(&p);
  const tpf_costs_t *t = &tpf_costs;
  CHECK(c.gemm[0].flops_per_s == t->gemm[0].flops_per_s / 2, "fp32 rate %g, table %g", c.gemm[0].flops_per_s,
        t->gemm[0].flops_per_s);
  CHECK(c.gemm[1].flops_per_s == t->gemm[1].flops_per_s, "bf16 rate %g moved", c.gemm[1].flops_per_s);
  for (int f = 0; f < 2; f++)
    CHECK(fabs(c.gemm[f].b_bytes_per_s / t->gemm[f].b_bytes_per_s - 3) < 1e-12, "family %d: B bandwidth %g", f,
          c.gemm[f].b_bytes_per_s);
  for (int r = 0; r < TPF_REACH_KINDS; r++) {
    const double want = r == TPF_REACH_MESSAGES ? 1 : 3;
    CHECK(fabs(c.reach[r].reduce_bytes_per_s / t->reach[r].reduce_bytes_per_s - want) < 1e-12,
          "reach %d: reduce bandwidth %g, table %g", r, c.reach[r].reduce_bytes_per_s, t->reach[r].reduce_bytes_per_s);
    CHECK(c.reach[r].call_s == t->reach[r].call_s && c.reach[r].step_s == t->reach[r].step_s &&
              c.reach[r].hidden == t->reach[r].hidden,
          "reach %d: latencies and hidden share must be the table's", r);
  }

  p = ref;
  p.l2_bytes = 512 * 1024;
  c = tpf_costs_scaled(&p);
  CHECK(c.cached_b_bytes == 256 * 1024, "a 512 KiB L2 keeps %g bytes of B, not half", c.cached_b_bytes);

  const tpf_probes_t failed = {{0, 0}, 0, 0};
  c = tpf_costs_scaled(&failed);
  CHECK(same_costs(&c, &tpf_costs), "failed probes must keep the table");
}

/* All of a communicator's parameters, as tpf_comm_cost_get reports them. */
enum { MAX_ENTRIES = 64 };
typedef struct values {
  int count;
  double v[MAX_ENTRIES];
} values_t;

static values_t comm_values(const tpf_comm_t *comm) {
  values_t out = {0};
  tpf_cost_t c;
  while (out.count < MAX_ENTRIES && tpf_comm_cost_get(comm, out.count, &c)) out.v[out.count++] = c.value;
  return out;
}

static values_t table_values(void) {
  values_t out = {0};
  tpf_cost_t c;
  while (out.count < MAX_ENTRIES && tpf_cost_get(out.count, &c)) out.v[out.count++] = c.value;
  return out;
}

static int same_values(const values_t *a, const values_t *b) {
  return a->count == b->count && memcmp(a->v, b->v, sizeof(double) * (size_t)a->count) == 0;
}

/* Thread ranks: every rank has the same measured model, positive and
 * finite, kept for the next communicator; TPF_COST_MODEL=table gives the
 * shipped table; a wrong value is refused. */
static void check_threads(void) {
  enum { W = 3 };
  tpf_comm_t *comms[W], *again[W];
  unsetenv("TPF_COST_MODEL");
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
  CHECK_STATUS(tpf_comm_init_all(again, W, NULL), TPF_OK);
  const values_t table = table_values(), first = comm_values(comms[0]);
  CHECK(first.count == table.count && table.count == tpf_cost_count(), "%d parameters, %d in the table", first.count,
        table.count);
  for (int i = 0; i < first.count; i++)
    CHECK(first.v[i] > 0 && isfinite(first.v[i]), "parameter %d measured %g", i, first.v[i]);
  CHECK(!same_values(&first, &table), "the measured model must be this machine's, not the table");
  for (int r = 0; r < W; r++) {
    values_t mine = comm_values(comms[r]), kept = comm_values(again[r]);
    CHECK(same_values(&mine, &first), "rank %d's model differs from rank 0's", r);
    CHECK(same_values(&kept, &first), "rank %d: a second communicator measured again", r);
  }
  tpf_cost_t c;
  CHECK(!tpf_comm_cost_get(comms[0], -1, &c) && !tpf_comm_cost_get(comms[0], first.count, &c),
        "out of range must report 0");
  CHECK(!tpf_comm_cost_get(NULL, 0, &c), "no communicator must report 0");
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]), tpf_comm_destroy(again[r]);
  CHECK(!tpf_comm_cost_get(comms[0], 0, &c), "a destroyed communicator must report 0");

  setenv("TPF_COST_MODEL", "table", 1);
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_OK);
  values_t shipped = comm_values(comms[1]);
  CHECK(same_values(&shipped, &table), "TPF_COST_MODEL=table must give the shipped table");
  for (int r = 0; r < W; r++) tpf_comm_destroy(comms[r]);

  setenv("TPF_COST_MODEL", "measure", 1);
  CHECK_STATUS(tpf_comm_init_all(comms, W, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_COST_MODEL='measure'") != NULL, "message: %s", tpf_last_error());
  unsetenv("TPF_COST_MODEL");
}

/* Two processes over shared memory, one measuring and one with the
 * table: each must end with rank 0's model. `table_rank` is the one
 * started with TPF_COST_MODEL=table; returns what rank 1 reports. */
static values_t rank1_model(int table_rank, values_t *rank0) {
  tpf_unique_id_t id;
  values_t got[2] = {{.count = -1}, {.count = -1}};
  CHECK_STATUS(tpf_get_unique_id(&id), TPF_OK);
  int fds[2][2];
  pid_t pids[2];
  for (int r = 0; r < 2; r++) {
    if (pipe(fds[r]) != 0) return got[1];
    if ((pids[r] = fork()) == 0) {
      if (r == table_rank) setenv("TPF_COST_MODEL", "table", 1);
      tpf_comm_t *comm = NULL;
      values_t mine = {.count = -1};
      if (tpf_comm_init_rank(&comm, 2, id, r, NULL) == TPF_OK) mine = comm_values(comm);
      tpf_comm_destroy(comm);
      ssize_t wrote = write(fds[r][1], &mine, sizeof mine);
      _exit(wrote == (ssize_t)sizeof mine ? 0 : 1);
    }
    close(fds[r][1]);
  }
  for (int r = 0; r < 2; r++) {
    ssize_t n = read(fds[r][0], &got[r], sizeof got[r]);
    CHECK(n == (ssize_t)sizeof got[r] && got[r].count > 0, "rank %d reported nothing", r);
    close(fds[r][0]);
    waitpid(pids[r], NULL, 0);
  }
  *rank0 = got[0];
  return got[1];
}

static void check_processes(void) {
  const values_t table = table_values();
  values_t rank0, rank1 = rank1_model(0, &rank0);
  CHECK(same_values(&rank0, &table), "rank 0 with TPF_COST_MODEL=table must keep the table");
  CHECK(same_values(&rank1, &table), "rank 1 must take rank 0's table, not its own measurement");
  rank1 = rank1_model(1, &rank0);
  CHECK(!same_values(&rank0, &table), "rank 0 must have measured");
  CHECK(same_values(&rank1, &rank0), "rank 1 must take rank 0's measured model, not its table");
}

int main(void) {
  check_scaling();
  check_threads();
  check_processes();
  return test_summary();
}
