/* tpfuse: run, verify and inspect the fused operators. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static void usage(FILE *to) {
  fprintf(to,
          "usage: tpfuse <command> [options]\n"
          "\n"
          "commands:\n"
          "  demo   the reference example of torch_npu.npu_mm_reduce_scatter_base:\n"
          "         8 ranks (threads, or processes with --transport shm), fp16,\n"
          "         a 128x512 @ b 512x64, verified on every rank\n"
          "  run    one verified MatmulReduceScatter call with the shape and options you give\n"
          "  bench  fused against unfused over a sweep, with GEMM and communication alone\n"
          "  info   version, CPU features, GEMM kernels, environment variables\n"
          "  id     a fresh unique id, for TPF_UNIQUE_ID (ranks started separately)\n"
          "\n"
          "`tpfuse <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
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
  fprintf(stderr, "tpfuse: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
