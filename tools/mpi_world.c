/* The command's place in an MPI job (rank 0 of 1 without MPI). */
#include "commands.h"

#ifdef TPF_WITH_MPI
#include <mpi.h>

int mpi_rank(void) {
  int initialized = 0, rank = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int mpi_size(void) {
  int initialized = 0, size = 1;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}
#else
int mpi_rank(void) { return 0; }
int mpi_size(void) { return 1; }
#endif
