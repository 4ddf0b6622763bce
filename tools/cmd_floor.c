/* tpfuse floor: what this machine allows, measured now (floor.h): the
 * arithmetic peak per instruction set, memory bandwidth on one core and on
 * all, a cache line's round trip between two ranks, and the simplest
 * two-rank collectives per size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "floor.h"

static void help(void) {
  printf("usage: tpfuse floor [options]\n"
         "\n"
         "Measures what this machine allows, with no library in the way: the figures\n"
         "`tpfuse bench`, `bench-rs` and bench_gemm print their own against.\n"
         "  peak        fp32 FMA with AVX2 and with AVX-512, the bf16 dot product\n"
         "              (AVX512_BF16), on one thread and on every core (GFLOP/s)\n"
         "  memory      c = a + b in fp32 over arrays of --memory-bytes each, stores\n"
         "              streamed, on one thread and on every core (GB/s of the three\n"
         "              arrays)\n"
         "  round trip  a cache line sent to another rank and back (threads; two\n"
         "              processes over shared memory)\n"
         "  rs, ag, ar  the two-rank collectives written as plainly as they can be, a\n"
         "              barrier before and after each call: rs, each rank sums its\n"
         "              block of both ranks' inputs; ag, each copies both inputs;\n"
         "              ar, each sums its half, then copies the other's (the faster\n"
         "              of cached and streamed stores; bytes and algbw as bench-rs\n"
         "              counts them)\n"
         "  rs-staged, ag-staged, ar-staged\n"
         "              the same for inputs and outputs the other rank cannot\n"
         "              read where they are (a process's own memory): through\n"
         "              shared memory, 256 KiB at a time (rs: each rank copies the\n"
         "              other's block of its input in, then sums its own block and\n"
         "              the other's copy)\n"
         "\n"
         "  --bytes LIST         the collectives' sizes (default 64K,2M,16M)\n"
         "  --dtype LIST         their dtypes (default fp32)\n"
         "  --memory-bytes SIZE  each array of the bandwidth test (default 256M)\n"
         "  --reps N             rounds per figure (default 20)\n"
         "  --json FILE          also write one JSON object per line\n");
}

/* One line per peak: each thread count's GFLOP/s, or why there is none. */
static void print_peaks(const int *threads, int counts, FILE *json) {
  printf("peak (GFLOP/s)          ");
  for (int c = 0; c < counts; c++) printf(" %6d thread%s", threads[c], threads[c] > 1 ? "s" : " ");
  printf("\n");
  for (int p = 0; p < FLOOR_PEAKS; p++) {
    printf("  %-22s", floor_peak_name(p));
    for (int c = 0; c < counts; c++) {
      double g = floor_peak_gflops(p, threads[c]);
      if (g <= 0) {
        printf("   (this CPU lacks it)");
        break;
      }
      printf(" %14.1f", g);
      if (json)
        fprintf(json, "{\"floor\":\"peak\",\"what\":\"%s\",\"threads\":%d,\"gflops\":%.2f}\n", floor_peak_name(p),
                threads[c], g);
    }
    printf("\n");
  }
}

int cmd_floor(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    help();
    return 0;
  }
  int64_t sizes[16] = {64 << 10, 2 << 20, 16 << 20}, memory[1] = {256 << 20};
  int nsizes = 3, ntypes = 1, reps = 20;
  tpf_dtype_t types[3] = {TPF_FLOAT32};
  const char *json_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = option_value(argc, argv, &i, "--bytes"))) {
      if ((nsizes = parse_size_list("floor", v, sizes, 16)) < 0) return 2;
    } else if ((v = option_value(argc, argv, &i, "--memory-bytes"))) {
      if (parse_size_list("floor", v, memory, 1) != 1) return 2;
    } else if ((v = option_value(argc, argv, &i, "--dtype"))) {
      if ((ntypes = parse_dtype_list("floor", v, types, 3)) < 0) return 2;
    } else if ((v = option_value(argc, argv, &i, "--reps"))) {
      reps = atoi(v);
      if (reps < 1 || reps > 256) {
        fprintf(stderr, "tpfuse floor: --reps %s: choose 1 to 256\n", v);
        return 2;
      }
    } else if ((v = option_value(argc, argv, &i, "--json"))) {
      json_path = v;
    } else {
      fprintf(stderr, "tpfuse floor: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  FILE *json = json_path ? fopen(json_path, "w") : NULL;
  char cpu[320];
  floor_cpu_text(cpu, sizeof cpu);
  const int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  printf("# tpfuse %s floor: %s, %d cores; tpfuse's kernels here: %s\n", tpf_version(), cpu, cores, tpf_gemm_kernel());
  int threads[2] = {1, cores}, counts = cores > 1 ? 2 : 1;
  print_peaks(threads, counts, json);

  printf("memory, c = a + b, arrays of %lld MiB (GB/s)", (long long)(memory[0] >> 20));
  for (int c = 0; c < counts; c++) {
    double g = floor_sum_gbps((size_t)memory[0], threads[c], reps < 5 ? reps : 5);
    printf("  %d thread%s %.1f", threads[c], threads[c] > 1 ? "s" : "", g);
    if (json) fprintf(json, "{\"floor\":\"memory\",\"bytes\":%lld,\"threads\":%d,\"gbps\":%.2f}\n", (long long)memory[0], threads[c], g);
  }
  printf("\n");

  if (cores < 2) printf("# one core: the two ranks below share it\n");
  double trip[2];
  for (int p = 0; p < 2; p++) trip[p] = floor_round_trip(p, 20000, reps < 9 ? reps : 9);
  printf("cache-line round trip (ns)  threads %.0f  processes %.0f\n", trip[0] * 1e9, trip[1] * 1e9);
  if (json) fprintf(json, "{\"floor\":\"round_trip\",\"threads_ns\":%.1f,\"processes_ns\":%.1f}\n", trip[0] * 1e9, trip[1] * 1e9);

  printf("two ranks, plainly: %11s %10s %5s | %10s %7s %6s | %10s %7s %6s\n", "op", "bytes", "dtype", "threads(us)",
         "algbw", "stores", "procs(us)", "algbw", "stores");
  int failed = 0;
  static const char *const OPS[] = {"rs", "ag", "ar", "rs-staged", "ag-staged", "ar-staged"};
  for (int op = FLOOR_RS; op <= FLOOR_AR_STAGED; op++)
    for (int ti = 0; ti < ntypes; ti++)
      for (int si = 0; si < nsizes; si++) {
        printf("%10s %11s %10lld %5s |", "", OPS[op], (long long)sizes[si], dtype_text(types[ti]));
        for (int p = 0; p < 2; p++) {
          int streamed = 0;
          double t = floor_seconds(op, (size_t)sizes[si], types[ti], p, reps, &streamed);
          failed |= t <= 0;
          /* algbw as bench-rs counts it: the whole buffer (rs: a rank's
           * input, ag: its output, ar: either) over the time */
          const double whole = (op == FLOOR_AR || op == FLOOR_AR_STAGED ? 1.0 : 2.0) * (double)sizes[si];
          printf(" %10.1f %7.2f %6s |", t * 1e6, whole / t / 1e9, streamed ? "stream" : "cached");
          if (json)
            fprintf(json, "{\"floor\":\"%s\",\"bytes\":%lld,\"dtype\":\"%s\",\"transport\":\"%s\",\"time_us\":%.2f,\"streamed\":%d}\n",
                    OPS[op], (long long)sizes[si], dtype_text(types[ti]), p ? "shm" : "threads", t * 1e6, streamed);
        }
        printf("\n");
        fflush(stdout);
      }
  if (json) fclose(json);
  if (failed) printf("FAILED: a two-rank measurement could not run or summed wrongly\n");
  return failed ? 1 : 0;
}
