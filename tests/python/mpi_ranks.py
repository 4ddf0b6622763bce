"""Run under mpirun by test_mpi.py: every process is one rank. Checks
tpfuse.Comm.from_mpi and get_comm_name(transport='mpi') for a gloo group of
the same processes: results bit for bit against thread ranks (computed by
this process for every rank) and within the float64 bound; a bad argument
on one rank; the operator family interleaved. Prints "rank R: OK" or the failures, and exits 0 only if good."""
import os
import sys

import torch
from mpi4py import MPI

import tpfuse
from cases import DTYPES, operands, reference, within


def thread_ranks(all_ops, world_size, **kw):
    """Every rank's output, computed by thread ranks of this process."""
    from helpers import on_threads, raise_any

    with tpfuse.Comm.threads(world_size) as comms:
        return raise_any(on_threads(comms, lambda r, c: tpfuse.mm_reduce_scatter(
            all_ops[r][0], all_ops[r][1], c, bias=all_ops[r][2], **kw)))


def check_comm(hcom, rank, world_size, failures, what):
    for dtype in DTYPES:
        for integers in (True, False):
            all_ops = [operands(31, r, 4 * world_size + 2, 45, 17, DTYPES[dtype], integers=integers,
                                transpose_b=True, bias=True) for r in range(world_size)]
            counts = [4] * world_size
            counts[-1] += 2
            kw = dict(reduce_op="avg", comm_turn=2, row_counts=counts, algo="ring")
            a, b, c = all_ops[rank]
            got = tpfuse.mm_reduce_scatter(a, b, hcom, bias=c, **kw)
            if not torch.equal(got, thread_ranks(all_ops, world_size, **kw)[rank]):
                failures.append(f"{what} {dtype}: not the thread ranks' bits")
            ref, bound = reference(all_ops, rank, world_size, avg=True, row_counts=counts)
            problem = within(got, ref, bound)
            if problem:
                failures.append(f"{what} {dtype}: {problem}")


def main():
    world = MPI.COMM_WORLD
    rank, size = world.Get_rank(), world.Get_size()
    failures = []
    with tpfuse.Comm.from_mpi(world, timeout_ms=20000) as comm:
        if (comm.rank, comm.size) != (rank, size):
            failures.append(f"Comm.from_mpi is rank {comm.rank} of {comm.size}")
        check_comm(comm, rank, size, failures, "Comm.from_mpi")
        a, b, _ = operands(32, rank, 2 * size, 8, 4, torch.float32)
        try:
            tpfuse.mm_reduce_scatter(a.double() if rank == 1 else a, b, comm)
            failures.append("float64 on rank 1 raised nothing")
        except tpfuse.DtypeError:
            if rank != 1:
                failures.append("DtypeError on a rank that passed float32")
        except tpfuse.PeerError as e:
            if rank == 1 or "rank 1 rejected its arguments" not in str(e):
                failures.append(f"bad argument on rank 1: {e}")

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{os.environ['TPF_TEST_STORE']}", rank=rank,
                            world_size=size)
    hcom = tpfuse.get_comm_name(transport="mpi")
    if not tpfuse.find_comm(hcom).name.startswith("tpf-mpi-"):
        failures.append(f"get_comm_name(transport='mpi') made {hcom}")
    check_comm(hcom, rank, size, failures, "get_comm_name(transport='mpi')")
    import workers

    failures += [f"over MPI: {f}" for f in workers.family(rank, size, hcom)]
    if not tpfuse.get_comm_name(dist.new_group(list(range(size)))).startswith("tpf-shm-"):
        failures.append("one host, transport 'auto': not shared memory")
    # one write per line: the ranks share mpirun's output
    os.write(1, (f"rank {rank}: " + ("OK" if not failures else "; ".join(failures)) + "\n").encode())
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    except BaseException:  # one rank's exception must not leave the others waiting
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(3)
    sys.exit(code)
