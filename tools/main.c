/* tpfuse: run, verify and inspect the fused operators. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>

#include "baseline.h"
#endif

/* The commands, in the order usage lists them, with what usage says. */
static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"demo", cmd_demo,
     "the reference example of torch_npu.npu_mm_reduce_scatter_base:\n"
     "8 ranks (threads, or processes with --transport shm, or under\n"
     "mpirun -n 8 with --transport mpi), fp16,\n"
     "a 128x512 @ b 512x64, verified on every rank"},
    {"run", cmd_run, "one verified MatmulReduceScatter call with the shape and options you give"},
    {"bench", cmd_bench,
     "a fused operator (--op mm_rs|ag_mm|mm_ar) against unfused over a\nsweep, with GEMM and communication alone"},
    {"bench-rs", cmd_bench_rs,
     "a standalone collective (--op rs|ag|ar) over a sweep of sizes (under\nMPI, against MPI's)"},
    {"floor", cmd_floor,
     "what this machine allows, measured: arithmetic peaks, memory bandwidth,\n"
     "a cache line's round trip, the simplest two-rank collectives"},
    {"info", cmd_info,
     "version, CPU features, GEMM kernels, environment variables,\n"
     "the cost model (as shipped, and as scaled to this machine)"},
    {"id", cmd_id, "a fresh unique id, for TPF_UNIQUE_ID (ranks started separately)"},
    {"clean", cmd_clean,
     "removes the shared-memory files of communicators whose ranks were all\n"
     "killed at once (nothing of a live communicator is touched)"},
};
enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] };

static void usage(FILE *to) {
  fprintf(to, "usage: tpfuse <command> [options]\n\ncommands:\n");
  for (int c = 0; c < COMMAND_COUNT; c++) {
    fprintf(to, "  %-9s", commands[c].name);
    for (const char *line = commands[c].summary; *line;) { /* continuation lines indented */
      const char *end = strchr(line, '\n');
      int length = end ? (int)(end - line) : (int)strlen(line);
      fprintf(to, "%s%.*s\n", line == commands[c].summary ? "" : "           ", length, line);
      line += length + (end != NULL);
    }
  }
  fprintf(to, "\n`tpfuse <command> --help` describes a command's options. With --transport mpi\n"
              "(where built with MPI) start it under mpirun: every process is one rank.\n");
}

static int run_command(int argc, char **argv);

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
  for (int c = 0; c < COMMAND_COUNT; c++)
    if (strcmp(cmd, commands[c].name) == 0) return commands[c].run(argc - 1, argv + 1);
  fprintf(stderr, "tpfuse: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
