"""The operators on process ranks of a torch.distributed (gloo) group, with
the communicator from tpfuse.get_comm_name: world sizes 1, 2, 3, 4 and 8;
bad input on one rank, a mismatch and a missing rank, on every rank; a
group spread over hosts outside mpirun. Nothing is left in /dev/shm."""
import os

import pytest

import workers
from helpers import on_processes


def tpfuse_files():
    return sorted(f for f in os.listdir("/dev/shm") if f.startswith("tpf-"))


@pytest.fixture(autouse=True)
def nothing_left_in_dev_shm():
    before = tpfuse_files()
    yield
    assert tpfuse_files() == before, "tpfuse left files in /dev/shm"


@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 8])
def test_operator_matrix(world_size):
    for rank, failures in enumerate(on_processes(world_size, workers.matrix)):
        assert not failures, f"rank {rank}: " + "; ".join(failures)


@pytest.mark.parametrize("world_size", [2, 3])
def test_errors_reach_every_rank(world_size):
    for rank, failures in enumerate(on_processes(world_size, workers.errors)):
        assert not failures, f"rank {rank}: " + "; ".join(failures)


def test_several_hosts_without_mpirun():
    for rank, failures in enumerate(on_processes(2, workers.several_hosts)):
        assert not failures, f"rank {rank}: " + "; ".join(failures)


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_family_interleaved(world_size):
    for rank, failures in enumerate(on_processes(world_size, workers.family)):
        assert not failures, f"rank {rank}: " + "; ".join(failures)
