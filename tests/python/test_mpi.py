"""tpfuse.Comm.from_mpi and get_comm_name(transport='mpi') under mpirun
(Open MPI, the MPI of Debian's mpi4py): 2 and 3 processes, with the ranks
of this host talking by MPI messages, by shared memory, and as two pretend
hosts (TPF_MPI_LOCAL). Each rank checks its results bit for bit against
thread ranks and against float64 (mpi_ranks.py)."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers import rendezvous_file

HERE = os.path.dirname(os.path.abspath(__file__))
MPIRUN = shutil.which("mpirun.openmpi")


def mpi4py_runs_open_mpi():
    try:
        import mpi4py

        mpi4py.rc.initialize = False
        from mpi4py import MPI
    except ImportError:
        return False
    return MPI.get_vendor()[0] == "Open MPI"


pytestmark = pytest.mark.skipif(not (MPIRUN and mpi4py_runs_open_mpi()),
                                reason="needs Open MPI's mpirun and mpi4py built with it "
                                       "(scripts/test.sh installs both)")


@pytest.mark.parametrize("ranks,local", [(2, "mpi"), (2, "shm"), (3, "shm:2")])
def test_under_mpirun(ranks, local):
    env = dict(os.environ, TPF_MPI_LOCAL=local, TPF_TEST_STORE=rendezvous_file(),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", PYTHONPATH=HERE)
    cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe", "--mca", "pml", "ob1", "--mca", "btl", "self,vader,tcp",
           sys.executable, os.path.join(HERE, "mpi_ranks.py")]
    try:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"mpirun hung; its output:\n{e.stdout}\n{e.stderr}") from None
    lines = [line for line in run.stdout.splitlines() if line.startswith("rank ")]
    assert run.returncode == 0 and len(lines) == ranks and all(line.endswith(": OK") for line in lines), \
        f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-3000:]}"
