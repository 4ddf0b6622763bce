#include <stdio.h>

#include "commands.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>
#endif

int cmd_id(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    printf("usage: tpfuse id\n\n"
           "Prints a fresh unique id. Processes started separately on this host join\n"
           "one communicator when each calls tpf_comm_init_rank with an all-zero id\n"
           "and this text in TPF_UNIQUE_ID, e.g.\n"
           "  export TPF_UNIQUE_ID=$(tpfuse id)\n"
           "An id is for one communicator: make a fresh one for each job (two jobs\n"
           "started with one id fail, in words, rather than mix their ranks).\n");
    return 0;
  }
  tpf_unique_id_t id;
  char text[TPF_UNIQUE_ID_STRING_BYTES];
  if (tpf_get_unique_id(&id) != TPF_OK || tpf_unique_id_to_string(&id, text, sizeof text) != TPF_OK) {
    fprintf(stderr, "tpfuse id: %s\n", tpf_last_error());
    return 1;
  }
  printf("%s\n", text);
  return 0;
}

int cmd_info(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    printf("usage: tpfuse info\n\n"
           "Prints the library version, the CPU features found, the GEMM kernel that\n"
           "calls would use, the transports this build has (with the MPI library it\n"
           "was built against), and every environment variable tpfuse reads, with its\n"
           "value here and its default.\n");
    return 0;
  }
  printf("tpfuse %s\n", tpf_version());
  printf("cpu features:   %s\n", tpf_cpu_features());
  printf("gemm kernels:   %s (built)\n", tpf_gemm_kernels_built());
  const char *kernel = tpf_gemm_kernel();
  if (kernel) printf("gemm kernel:    %s\n", kernel);
  else printf("gemm kernel:    none: %s\n", tpf_last_error());
#ifdef TPF_WITH_MPI
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len); /* allowed before MPI_Init */
  for (int i = 0; i < len; i++) {
    if (mpi[i] == '\n' || mpi[i] == ',') len = i; /* its first words */
    else if (mpi[i] == '\t') mpi[i] = ' ';
  }
  printf("transports:     threads, shm, mpi (%.*s)\n", len, mpi);
#else
  printf("transports:     threads, shm (built without MPI)\n");
#endif
  printf("environment:\n");
  for (int i = 0; i < tpf_setting_count(); i++) {
    const tpf_setting_t *s = tpf_setting_get(i);
    printf("  %-22s %-10s (default %s)  %s\n", s->name, s->value ? s->value : "-", s->default_value,
           s->meaning);
  }
  /* the table as shipped, and as two thread ranks made here scale it */
  tpf_comm_t *pair[2] = {NULL, NULL};
  const int measured = kernel && tpf_comm_init_all(pair, 2, NULL) == TPF_OK;
  printf("cost model of TPF_ALGO_AUTO (ring or unfused, whichever it predicts faster):\n");
  printf("  %-28s %-14s %-14s %s\n", "parameter", "shipped", measured ? "here" : "", "meaning");
  tpf_cost_t c, here;
  for (int i = 0; tpf_cost_get(i, &c); i++) {
    char value[32], local[32] = "";
    snprintf(value, sizeof value, "%g %s", c.value, c.unit);
    if (measured && tpf_comm_cost_get(pair[0], i, &here)) snprintf(local, sizeof local, "%.4g %s", here.value, here.unit);
    printf("  %-28s %-14s %-14s %s\n", c.name, value, local, c.meaning);
  }
  if (measured) tpf_comm_destroy(pair[0]), tpf_comm_destroy(pair[1]);
  return kernel ? 0 : 1;
}
