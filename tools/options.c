#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

const char *option_value(int argc, char **argv, int *i, const char *name) {
  const char *arg = argv[*i];
  size_t len = strlen(name);
  if (strncmp(arg, name, len) != 0) return NULL;
  if (arg[len] == '=') return arg + len + 1;
  if (arg[len] != '\0') return NULL;
  if (*i + 1 >= argc) {
    fprintf(stderr, "tpfuse: %s needs a value\n", name);
    return "";
  }
  return argv[++*i];
}

int parse_dtype(const char *text) {
  if (strcmp(text, "fp16") == 0) return TPF_FLOAT16;
  if (strcmp(text, "bf16") == 0) return TPF_BFLOAT16;
  if (strcmp(text, "fp32") == 0) return TPF_FLOAT32;
  return -1;
}

int parse_transport(const char *text) {
  if (strcmp(text, "threads") == 0) return RS_THREADS;
  if (strcmp(text, "shm") == 0) return RS_SHM;
#ifdef TPF_WITH_MPI
  if (strcmp(text, "mpi") == 0) return RS_MPI;
  fprintf(stderr, "tpfuse: --transport %s: choose threads, shm or mpi\n", text);
#else
  fprintf(stderr, "tpfuse: --transport %s: choose threads or shm (this tpfuse was built without MPI)\n", text);
#endif
  return -1;
}

const char *transport_text(int transport) {
  return transport == RS_MPI ? "mpi" : transport == RS_SHM ? "shm" : "threads";
}

int wants_mpi(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if ((strcmp(argv[i], "--transport") == 0 && i + 1 < argc && strcmp(argv[i + 1], "mpi") == 0) ||
        strcmp(argv[i], "--transport=mpi") == 0)
      return 1;
  return 0;
}

int wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  return 0;
}

const char *dtype_text(tpf_dtype_t t) {
  return t == TPF_FLOAT16 ? "fp16" : t == TPF_BFLOAT16 ? "bf16" : "fp32";
}

int parse_dtype_list(const char *command, const char *text, tpf_dtype_t *types, int most) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", text);
  int count = 0;
  for (char *t = strtok(copy, ","); t && count < most; t = strtok(NULL, ",")) {
    int d = parse_dtype(t);
    if (d < 0) {
      fprintf(stderr, "tpfuse %s: --dtype %s: choose fp16, bf16 or fp32\n", command, t);
      return -1;
    }
    types[count++] = (tpf_dtype_t)d;
  }
  return count;
}

int parse_int_list(const char *text, int *values, int most) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", text);
  int count = 0;
  for (char *t = strtok(copy, ","); t && count < most; t = strtok(NULL, ",")) values[count++] = atoi(t);
  return count;
}

/* "64K", "16M", "4096": bytes; -1 if not a size. */
static int64_t parse_size(const char *text) {
  char *end;
  long long v = strtoll(text, &end, 10);
  if (end == text || v <= 0) return -1;
  if (*end == 'K' || *end == 'k') v <<= 10, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  else if (*end == 'G' || *end == 'g') v <<= 30, end++;
  return *end ? -1 : v;
}

int parse_size_list(const char *command, const char *text, int64_t *sizes, int most) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", text);
  int count = 0;
  for (char *t = strtok(copy, ","); t && count < most; t = strtok(NULL, ","))
    if ((sizes[count++] = parse_size(t)) < 0) {
      fprintf(stderr, "tpfuse %s: --bytes %s: expected sizes such as 4096, 64K, 16M\n", command, t);
      return -1;
    }
  return count;
}

int print_result(const rs_case_t *c, const rs_result_t *r) {
  printf("MatmulReduceScatter: world_size %d (%s), %s, a %lldx%lld%s @ b %lldx%lld%s, %s%s, comm_turn %d\n",
         c->world_size, c->processes == RS_MPI ? "MPI processes" : c->processes ? "processes, shm" : "threads", dtype_text(c->dtype), (long long)c->m, (long long)c->k,
         c->a_transposed ? " (transposed)" : "", (long long)c->k, (long long)c->n,
         c->b_transposed ? " (transposed)" : "", c->reduce_op == TPF_AVG ? "avg" : "sum",
         c->bias ? " + bias" : "", c->comm_turn);
  for (int q = 0; q < r->world_size; q++) {
    const rank_report_t *rep = &r->ranks[q];
    if (rep->status != TPF_OK) {
      printf("  rank %d: %s: %s  FAIL\n", q, tpf_status_string(rep->status), rep->error);
      continue;
    }
    printf("  rank %d: out %lldx%lld  max |err| %.3g  (%s)  %8.1f us  %s\n", q, (long long)rep->rows,
           (long long)c->n, rep->max_abs_error,
           c->integers ? "bit-exact check" : "within bound",
           rep->median_us, rep->wrong ? "FAIL" : "PASS");
    if (rep->wrong) printf("          %lld elements wrong\n", (long long)rep->wrong);
  }
  printf("%s\n", r->passed ? "PASS" : "FAIL");
  return r->passed ? 0 : 1;
}
