/* A program outside the tree, built against an installed tpfuse. */
#include <stdio.h>
#include <tpfuse.h>

int main(void) {
  tpf_comm_t *comm;
  if (tpf_comm_init_all(&comm, 1, NULL) != TPF_OK) return 1;
  float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {1, 1, 1}, out[2];
  tpf_matrix_t ma = {a, TPF_FLOAT32, 2, 3, 0, 0}, mb = {b, TPF_FLOAT32, 3, 1, 0, 0},
               mo = {out, TPF_FLOAT32, 2, 1, 0, 0};
  tpf_status_t s = tpf_mm_reduce_scatter(comm, &ma, &mb, &mo, NULL);
  tpf_comm_destroy(comm);
  printf("%s %g %g\n", tpf_status_string(s), out[0], out[1]);
  return s == TPF_OK && out[0] == 6 && out[1] == 15 ? 0 : 1;
}
