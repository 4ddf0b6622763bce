/* A program outside the tree, built against an installed tpfuse_mpi: one
 * MPI process (a singleton) is a world of one rank. */
#include <stdio.h>
#include <tpfuse_mpi.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tpf_comm_t *comm;
  tpf_status_t s = tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, NULL);
  float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 1, 1}, out[2] = {0, 0};
  tpf_matrix_t ma = {a, TPF_FLOAT32, 2, 3, 0, 0}, mb = {b, TPF_FLOAT32, 3, 1, 0, 0},
               mo = {out, TPF_FLOAT32, 2, 1, 0, 0};
  if (s == TPF_OK) s = tpf_mm_reduce_scatter(comm, &ma, &mb, &mo, NULL), tpf_comm_destroy(comm);
  printf("mpi %s %g %g\n", tpf_status_string(s), out[0], out[1]);
  MPI_Finalize();
  return s == TPF_OK && out[0] == 6 && out[1] == 15 ? 0 : 1;
}
