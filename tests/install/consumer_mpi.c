/* A program outside the tree, built against an installed tpfuse and its MPI
 * add-on tpfuse_mpi: one MPI process (a singleton) is a world of one rank.
 * The add-on's communicator lives in libtpfuse (one registry, one last
 * error): libtpfuse's lookup finds it by name, and its calls are
 * libtpfuse's, beside a thread communicator of the same process. */
#include <stdio.h>
#include <tpfuse_mpi.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tpf_comm_t *comm, *threads;
  tpf_status_t s = tpf_comm_init_mpi(&comm, MPI_COMM_WORLD, NULL);
  float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 1, 1}, out[2] = {0, 0};
  tpf_matrix_t ma = {a, TPF_FLOAT32, 2, 3, 0, 0}, mb = {b, TPF_FLOAT32, 3, 1, 0, 0},
               mo = {out, TPF_FLOAT32, 2, 1, 0, 0};
  int found = s == TPF_OK && tpf_comm_find(tpf_comm_name(comm)) == comm;
  if (s == TPF_OK) s = tpf_comm_init_all(&threads, 1, NULL);
  if (s == TPF_OK) s = tpf_mm_reduce_scatter(threads, &ma, &mb, &mo, NULL), tpf_comm_destroy(threads);
  if (s == TPF_OK) s = tpf_mm_reduce_scatter(comm, &ma, &mb, &mo, NULL), tpf_comm_destroy(comm);
  /* an error the add-on records is the one libtpfuse reports */
  tpf_status_t bad = tpf_comm_init_mpi(&comm, MPI_COMM_NULL, NULL);
  int words = bad == TPF_ERR_INVALID && tpf_last_error()[0] != '\0';
  printf("mpi %s %g %g%s\n", tpf_status_string(s), out[0], out[1],
         found && words ? "" : " (not one library: lookup or last error)");
  MPI_Finalize();
  return s == TPF_OK && out[0] == 6 && out[1] == 15 && found && words ? 0 : 1;
}
