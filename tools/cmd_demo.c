#include <stdio.h>
#include <stdlib.h>

#include "commands.h"

int cmd_demo(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    printf("usage: tpfuse demo [--seed N] [--transport threads|shm|mpi]\n"
           "\n"
           "Runs the example of the Ascend documentation of npu_mm_reduce_scatter_base:\n"
           "world size 8 (ranks are threads, or with --transport shm forked processes\n"
           "over shared memory, like the example's eight spawned processes, or with\n"
           "--transport mpi the 8 processes of `mpirun -n 8`), fp16,\n"
           "every rank holds a random a (128x512)\n"
           "and b (512x64); rank r receives rows [16r, 16r+16) of the sum of a_i @ b_i.\n"
           "Every rank's output is checked against a float64 reference; the exit status\n"
           "is 0 only if all ranks pass.\n");
    return 0;
  }
  rs_case_t c = {0};
  c.world_size = 8;
  c.m = 128, c.k = 512, c.n = 64;
  c.dtype = TPF_FLOAT16;
  c.reduce_op = TPF_SUM;
  c.seed = 2024;
  c.reps = 5;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = option_value(argc, argv, &i, "--seed"))) c.seed = strtoull(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--transport"))) {
      if ((c.processes = parse_transport(v)) < 0) return 2;
    }
    else {
      fprintf(stderr, "tpfuse demo: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  rs_result_t result;
  tpf_status_t s = rs_case_run(&c, &result);
  if (s != TPF_OK) {
    fprintf(stderr, "tpfuse demo: %s: %s\n", tpf_status_string(s), tpf_last_error());
    return 1;
  }
  int rc = print_result(&c, &result);
  rs_result_free(&result);
  return rc;
}
