"""Communicators for torch.distributed process groups: get_comm_name.

The first call for a group is collective over it: the ranks tell each other
their host over the group, rank 0 of the group makes a unique id that
travels over the group, and every rank makes its tpfuse communicator:

- all ranks on one host: shared memory (Comm.from_unique_id);
- ranks on several hosts: the MPI transport, when the processes run under
  mpirun with mpi4py (Comm.from_mpi over the group's MPI ranks); else every
  rank raises UnsupportedError saying so.

Later calls return the cached name at once. The communicator lives until
close_comm(group), or the end of the process.
"""
import os
import socket

from .comm import Comm, find_comm, unique_id
from .errors import InvalidArgumentError, UnsupportedError

_by_group = {}  # process group -> Comm

# Launchers that start every process of an MPI job set these.
_MPI_LAUNCH_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def _host_key():
    """What tells this host from others: its boot id and its name."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _mpi_world_rank():
    """This process's rank in MPI_COMM_WORLD when started by an MPI launcher with mpi4py, else None."""
    if not any(v in os.environ for v in _MPI_LAUNCH_VARIABLES):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD.Get_rank()


def _group(group):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise InvalidArgumentError("torch.distributed is not initialized: call dist.init_process_group first")
    if group is None:
        group = dist.distributed_c10d._get_default_group()
    if dist.get_rank(group) < 0:
        raise InvalidArgumentError("this process is not a member of the group")
    return dist, group


def get_comm_name(group=None, *, transport="auto", **settings):
    """The name (hcom) of tpfuse's communicator for a torch.distributed
    group (the default group when None; dist.new_group groups too), for the
    torch_npu-style operators.

    The first call for a group is collective over the group and makes the
    communicator (see the module's words); later calls return the cached
    name. transport: 'auto' (shared memory on one host, MPI across hosts),
    'shm' or 'mpi' (under mpirun; ranks of one host still share memory,
    unless TPF_MPI_LOCAL=mpi). Settings (timeout_ms, threads_per_rank, algo,
    spin_us, isa, shm_dir; see tpfuse.Comm) apply when it is made.
    """
    dist, group = _group(group)
    comm = _by_group.get(group)
    if comm is not None and not comm.closed:
        return comm.name
    if transport not in ("auto", "shm", "mpi"):
        raise InvalidArgumentError(f"transport={transport!r} must be 'auto', 'shm' or 'mpi'")
    rank, size = dist.get_rank(group), dist.get_world_size(group)
    mine = (_host_key(), _mpi_world_rank())
    everyone = [None] * size
    dist.all_gather_object(everyone, mine, group=group)
    hosts = sorted({host for host, _ in everyone})
    if transport == "auto":
        transport = "shm" if len(hosts) == 1 else "mpi"
    if transport == "shm":
        comm = _shared_memory_comm(dist, group, rank, size, hosts, settings)
    else:
        comm = _mpi_comm([mpi_rank for _, mpi_rank in everyone], hosts, settings)
    _by_group[group] = comm
    return comm.name


def _shared_memory_comm(dist, group, rank, size, hosts, settings):
    if len(hosts) > 1:
        raise UnsupportedError(f"the group's {size} ranks are on {len(hosts)} hosts "
                               f"({', '.join(h.split('/')[0] for h in hosts)}): shared memory reaches one host")
    uid = [unique_id() if rank == 0 else None]
    c10d = dist.distributed_c10d
    global_rank = getattr(c10d, "get_global_rank", None) or c10d._get_global_rank
    src = 0 if group is c10d._get_default_group() else global_rank(group, 0)
    dist.broadcast_object_list(uid, src=src, group=group)
    return Comm.from_unique_id(uid[0], rank, size, **settings)


def _mpi_comm(mpi_ranks, hosts, settings):
    if any(r is None for r in mpi_ranks):
        raise UnsupportedError(f"the group's ranks are on {len(hosts)} hosts and tpfuse needs MPI between hosts: "
                               "start the processes with mpirun (one rank per process) and install mpi4py "
                               "(apt-get install python3-mpi4py)")
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    members = world.Get_group().Incl(mpi_ranks)
    sub = world.Create_group(members)  # ranks in the group's order
    members.Free()
    try:
        return Comm.from_mpi(sub, **settings)
    finally:
        sub.Free()


def close_comm(group=None):
    """Closes tpfuse's communicator for the group, if one was made (not
    collective; the next get_comm_name for the group makes a new one)."""
    dist, group = _group(group)
    comm = _by_group.pop(group, None)
    if comm is not None:
        comm.close()


__all__ = ["get_comm_name", "close_comm", "find_comm"]
