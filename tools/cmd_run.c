#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static void help(void) {
  printf("usage: tpfuse run [options]\n"
         "\n"
         "Runs one MatmulReduceScatter call on thread ranks with random inputs and\n"
         "checks every rank's output against a float64 reference (exit 0 on PASS).\n"
         "\n"
         "  --m N              rows of a (default 128)\n"
         "  --k N              columns of a, rows of b (default 512)\n"
         "  --n N              columns of b (default 64)\n"
         "  --dtype T          fp16 | bf16 | fp32 (default fp16)\n"
         "  --world-size W     number of ranks (default 8)\n"
         "  --transpose-b      pass b as a transposed view (stored n x k)\n"
         "  --transpose-a      pass a as a transposed view (stored k x m)\n"
         "  --ld-pad N         extra elements per stored row of a, b and out (default 0)\n"
         "  --bias             add a random bias (n elements)\n"
         "  --reduce-op OP     sum | avg (default sum)\n"
         "  --comm-turn N      chunks per owner block, 0 = automatic (default 0)\n"
         "  --row-counts LIST  uneven split, e.g. 3,5,0,8 (W counts summing to m)\n"
         "  --algo A           auto | ring | direct | unfused (default auto)\n"
         "  --integers         small integer inputs: the output must be bit-exact\n"
         "  --reps N           timed calls (default 5)\n"
         "  --timeout-ms N     longest wait for a peer (default: TPF_TIMEOUT_MS)\n"
         "  --threads-per-rank N  compute threads per rank (default: TPF_THREADS_PER_RANK)\n"
         "  --isa NAME         GEMM kernels: auto or a name from `tpfuse info` (default: TPF_ISA)\n"
         "  --seed N           random seed (default 1)\n"
         "  --transport T      threads (ranks are threads, default) | shm (forked processes)\n"
         "                     | mpi (under mpirun: each process is a rank; the world\n"
         "                     size defaults to mpirun's)\n");
}

static int parse_counts(const char *text, int64_t **counts, int *count) {
  *count = 0;
  *counts = NULL;
  for (const char *p = text; *p;) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p) return -1;
    *counts = realloc(*counts, sizeof **counts * (size_t)(*count + 1));
    (*counts)[(*count)++] = v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return 0;
}

int cmd_run(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    help();
    return 0;
  }
  rs_case_t c = {0};
  c.world_size = 8;
  c.m = 128, c.k = 512, c.n = 64;
  c.dtype = TPF_FLOAT16;
  c.seed = 1;
  c.reps = 5;
  int world_given = 0;
  int64_t *counts = NULL;
  int ncounts = 0;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = option_value(argc, argv, &i, "--m"))) c.m = strtoll(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--k"))) c.k = strtoll(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--n"))) c.n = strtoll(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--world-size"))) c.world_size = atoi(v), world_given = 1;
    else if ((v = option_value(argc, argv, &i, "--ld-pad"))) c.ld_pad = strtoll(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--comm-turn"))) c.comm_turn = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--reps"))) c.reps = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--timeout-ms"))) c.timeout_ms = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--threads-per-rank"))) c.threads_per_rank = atoi(v);
    else if ((v = option_value(argc, argv, &i, "--isa"))) c.isa = v;
    else if ((v = option_value(argc, argv, &i, "--transport"))) {
      if ((c.processes = parse_transport(v)) < 0) return 2;
    }
    else if ((v = option_value(argc, argv, &i, "--seed"))) c.seed = strtoull(v, NULL, 0);
    else if ((v = option_value(argc, argv, &i, "--dtype"))) {
      int t = parse_dtype(v);
      if (t < 0) {
        fprintf(stderr, "tpfuse run: --dtype %s: choose fp16, bf16 or fp32\n", v);
        return 2;
      }
      c.dtype = (tpf_dtype_t)t;
    } else if ((v = option_value(argc, argv, &i, "--reduce-op"))) {
      if (strcmp(v, "sum") == 0) c.reduce_op = TPF_SUM;
      else if (strcmp(v, "avg") == 0) c.reduce_op = TPF_AVG;
      else {
        fprintf(stderr, "tpfuse run: --reduce-op %s: choose sum or avg\n", v);
        return 2;
      }
    } else if ((v = option_value(argc, argv, &i, "--algo"))) {
      if (strcmp(v, "auto") == 0) c.algo = TPF_ALGO_AUTO;
      else if (strcmp(v, "ring") == 0) c.algo = TPF_ALGO_RING;
      else if (strcmp(v, "direct") == 0) c.algo = TPF_ALGO_DIRECT;
      else if (strcmp(v, "unfused") == 0) c.algo = TPF_ALGO_UNFUSED;
      else {
        fprintf(stderr, "tpfuse run: --algo %s: choose auto, ring, direct or unfused\n", v);
        return 2;
      }
    } else if ((v = option_value(argc, argv, &i, "--row-counts"))) {
      if (parse_counts(v, &counts, &ncounts) != 0) {
        fprintf(stderr, "tpfuse run: --row-counts %s: expected integers separated by commas\n", v);
        return 2;
      }
    } else if (strcmp(argv[i], "--transpose-b") == 0) c.b_transposed = 1;
    else if (strcmp(argv[i], "--transpose-a") == 0) c.a_transposed = 1;
    else if (strcmp(argv[i], "--bias") == 0) c.bias = 1;
    else if (strcmp(argv[i], "--integers") == 0) c.integers = 1;
    else {
      fprintf(stderr, "tpfuse run: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (c.processes == RS_MPI && !world_given) c.world_size = mpi_size();
  if (c.world_size < 1 || c.m < 1 || c.k < 1 || c.n < 1 || c.ld_pad < 0 || c.reps < 1) {
    fprintf(stderr, "tpfuse run: world size, m, k, n and reps must be >= 1, ld-pad >= 0\n");
    return 2;
  }
  if (counts && ncounts != c.world_size) {
    fprintf(stderr, "tpfuse run: --row-counts has %d entries for world size %d\n", ncounts, c.world_size);
    return 2;
  }
  if (!counts && c.m % c.world_size != 0) {
    fprintf(stderr, "tpfuse run: m=%lld does not divide by world size %d; give --row-counts\n",
            (long long)c.m, c.world_size);
    return 2;
  }
  for (int q = 0; counts && q < ncounts; q++)
    if (counts[q] < 0) {
      fprintf(stderr, "tpfuse run: --row-counts entries must be >= 0\n");
      return 2;
    }
  c.row_counts = counts;
  rs_result_t result;
  tpf_status_t s = rs_case_run(&c, &result);
  free(counts);
  if (s != TPF_OK) {
    fprintf(stderr, "tpfuse run: %s: %s\n", tpf_status_string(s), tpf_last_error());
    return 1;
  }
  int rc = print_result(&c, &result);
  rs_result_free(&result);
  return rc;
}
