/* tpfuse: run, verify and inspect the fused operators. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>
#include <unistd.h>

#include "baseline.h"

int mpi_rank(void) {
  int initialized = 0, rank = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int mpi_size(void) {
  int initialized = 0, size = 1;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}
#else
int mpi_rank(void) { return 0; }
int mpi_size(void) { return 1; }
#endif

static int run_command(int argc, char **argv);

static void usage(FILE *to) {
  fprintf(to,
          "usage: tpfuse <command> [options]\n"
          "\n"
          "commands:\n"
          "  demo   the reference example of torch_npu.npu_mm_reduce_scatter_base:\n"
          "         8 ranks (threads, or processes with --transport shm, or under\n"
          "         mpirun -n 8 with --transport mpi), fp16,\n"
          "         a 128x512 @ b 512x64, verified on every rank\n"
          "  run    one verified MatmulReduceScatter call with the shape and options you give\n"
          "  bench  fused against unfused over a sweep, with GEMM and communication alone\n"
          "  bench-rs  the standalone reduce-scatter over a sweep of sizes (under MPI,\n"
          "         against MPI_Reduce_scatter_block)\n"
          "  info   version, CPU features, GEMM kernels, environment variables\n"
          "  id     a fresh unique id, for TPF_UNIQUE_ID (ranks started separately)\n"
          "  clean  removes the shared-memory files of communicators whose ranks were all\n"
          "         killed at once (nothing of a live communicator is touched)\n"
          "\n"
          "`tpfuse <command> --help` describes a command's options. With --transport mpi\n"
          "(where built with MPI) start it under mpirun: every process is one rank.\n");
}

int main(int argc, char **argv) {
#ifdef TPF_WITH_MPI
  /* Under mpirun every process is one rank; rank 0 prints. */
  if (argc >= 2 && wants_mpi(argc - 1, argv + 1)) {
    baseline_prepare(argv); /* may re-execute this program first */
    MPI_Init(&argc, &argv);
    if (mpi_rank() != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    int rc = run_command(argc, argv), worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst;
  }
#endif
  return run_command(argc, argv);
}

static int run_command(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("tpfuse %s\n", tpf_version());
    return 0;
  }
  if (strcmp(cmd, "demo") == 0) return cmd_demo(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
  if (strcmp(cmd, "id") == 0) return cmd_id(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "bench-rs") == 0) return cmd_bench_rs(argc - 1, argv + 1);
  if (strcmp(cmd, "clean") == 0) return cmd_clean(argc - 1, argv + 1);
  fprintf(stderr, "tpfuse: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
