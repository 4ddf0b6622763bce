"""What each process rank runs in test_processes.py (spawned processes
import it by name). Each returns a list of failures in words (empty: all
good), so that the parent shows every rank's problems."""
import time

import numpy as np
import torch
import torch.distributed as dist

import tpfuse
from cases import DTYPES, operands, reference, within


def _check(failures, what, out, all_ops, rank, world_size, **kw):
    ref, bound = reference(all_ops, rank, world_size, **kw)
    problem = within(out, ref, bound)
    if problem:
        failures.append(f"{what}: {problem}")


def matrix(rank, world_size):
    """Every dtype, transposed x2, bias, avg, comm_turn, uneven splits,
    numpy, out=; float64 and bit for bit against unfused on integers;
    the default group's name cached; a sub-group."""
    failures = []
    hcom = tpfuse.get_comm_name()
    if tpfuse.get_comm_name() != hcom or tpfuse.get_comm_name(dist.group.WORLD) != hcom:
        failures.append("get_comm_name did not return the cached name")
    W = world_size
    for dtype in DTYPES:
        ops = [operands(11, r, 16 * W, 512, 64, DTYPES[dtype]) for r in range(W)]
        _check(failures, f"seed shape {dtype}",
               tpfuse.npu_mm_reduce_scatter_base(ops[rank][0], ops[rank][1], hcom, W), ops, rank, W)
        ops = [operands(12, r, 5 * W, 33, 19, DTYPES[dtype], transpose_b=True, bias=True) for r in range(W)]
        a, b, c = ops[rank]
        _check(failures, f"transposed, bias, avg, comm_turn {dtype}",
               tpfuse.npu_mm_reduce_scatter_base(a, b, hcom, W, reduce_op="avg", bias=c, comm_turn=2),
               ops, rank, W, avg=True)
        ops = [operands(13, r, 8 * W, 64, 24, DTYPES[dtype], integers=True, bias=True) for r in range(W)]
        a, b, c = ops[rank]
        unfused = tpfuse.mm_reduce_scatter(a, b, hcom, bias=c, algo="unfused", comm_turn=2)
        _check(failures, f"integers {dtype}", unfused, ops, rank, W)
        for algo in ("ring", "direct", "auto"):
            if not torch.equal(tpfuse.mm_reduce_scatter(a, b, hcom, bias=c, algo=algo, comm_turn=2), unfused):
                failures.append(f"{algo} differs from unfused bit for bit ({dtype})")
    counts = [(2 * q + 3) % 4 for q in range(W)]
    ops = [operands(14, r, sum(counts), 40, 12, torch.float32, bias=True) for r in range(W)]
    a, b, c = ops[rank]
    out = torch.full((counts[rank], 12), 5.0)
    if tpfuse.mm_reduce_scatter(a, b, hcom, bias=c, row_counts=counts, out=out) is not out:
        failures.append("out= was not returned")
    _check(failures, "uneven row counts", out, ops, rank, W, row_counts=counts)
    ops = [operands(15, r, 2 * W, 48, 8, torch.float16) for r in range(W)]
    got = tpfuse.mm_reduce_scatter(ops[rank][0].numpy(), ops[rank][1].numpy(), hcom)
    if not isinstance(got, np.ndarray) or got.dtype != np.float16:
        failures.append(f"numpy float16 inputs gave {type(got).__name__}")
    _check(failures, "numpy float16", torch.from_numpy(got), ops, rank, W)
    failures += _sub_group(rank, W)
    return failures


def _sub_group(rank, W):
    """A group of the even ranks (made by every rank, as dist.new_group asks)."""
    members = list(range(0, W, 2))
    group = dist.new_group(ranks=members)
    if rank not in members:
        return []
    name = tpfuse.get_comm_name(group)
    if name == tpfuse.get_comm_name():
        return ["the sub-group got the default group's communicator"]
    comm = tpfuse.find_comm(name)
    me, size = members.index(rank), len(members)
    if (comm.rank, comm.size) != (me, size):
        return [f"sub-group communicator is rank {comm.rank} of {comm.size}, expected {me} of {size}"]
    ops = [operands(16, r, 3 * size, 20, 6, torch.bfloat16) for r in range(size)]
    failures = []
    _check(failures, "sub-group", tpfuse.npu_mm_reduce_scatter_base(ops[me][0], ops[me][1], name, size),
           ops, me, size)
    return failures


def errors(rank, world_size):
    """A bad argument on the last rank, a mismatch, then a rank that never
    calls (timeout), each on every rank; the words each rank gets."""
    failures = []
    last = world_size - 1
    hcom = tpfuse.get_comm_name(timeout_ms=20000)
    a, b, _ = operands(20, rank, 4 * world_size, 16, 8, torch.float16)
    out = torch.full((4, 8), 3.0, dtype=torch.float16)
    try:
        tpfuse.npu_mm_reduce_scatter_base(a.double() if rank == last else a, b, hcom, world_size)
        failures.append("a float64 input on the last rank raised nothing")
    except tpfuse.DtypeError as e:
        if rank != last or "input is torch.float64" not in str(e):
            failures.append(f"float64 input: {e!r}")
    except tpfuse.PeerError as e:
        if rank == last or f"rank {last} rejected its arguments" not in str(e) or "torch.float64" not in str(e):
            failures.append(f"float64 input: {e!r}")
    try:
        tpfuse.mm_reduce_scatter(a, b, hcom, out=out, comm_turn=rank % 2 + 1)
        failures.append("a mismatch raised nothing")
    except tpfuse.MismatchError as e:
        if "rank 1 passed comm_turn=2 but rank 0 passed comm_turn=1" not in str(e):
            failures.append(f"mismatch words: {e}")
    if not (out == 3).all():
        failures.append("a failed call wrote its output")
    try:
        tpfuse.mm_reduce_scatter(a, b, hcom, out=out)
    except tpfuse.Error as e:
        failures.append(f"after a rejection and a mismatch: {e!r}")
    group = dist.new_group(ranks=list(range(world_size)))
    name = tpfuse.get_comm_name(group, timeout_ms=500)
    if rank != last:
        t0 = time.monotonic()
        try:
            tpfuse.mm_reduce_scatter(a, b, name)
            failures.append("a missing rank raised nothing")
        except (tpfuse.TimeoutError, tpfuse.PeerError) as e:
            if not 0.4 < time.monotonic() - t0 < 10:
                failures.append(f"timeout after {time.monotonic() - t0:.2f} s: {e}")
    dist.barrier()
    if rank == last:
        try:
            tpfuse.mm_reduce_scatter(a, b, name)
            failures.append("the missing rank's later call raised nothing")
        except tpfuse.TimeoutError:
            pass
    return failures


def several_hosts(rank, world_size):
    """Ranks that look like two hosts, outside mpirun: every rank raises
    UnsupportedError, in words that say what to do."""
    from tpfuse import distributed

    distributed._host_key = lambda: f"node{rank % 2}/boot"
    failures = []
    for transport, words in (("auto", "start the processes with mpirun"), ("shm", "shared memory reaches one host")):
        try:
            tpfuse.get_comm_name(transport=transport)
            failures.append(f"transport {transport}: no error")
        except tpfuse.UnsupportedError as e:
            if words not in str(e) or "2 hosts" not in str(e):
                failures.append(f"transport {transport}: {e}")
    return failures


def family(rank, world_size, hcom=None):
    """The three fused operators interleaved on one communicator (the
    default group's, or hcom) with torch_npu's signatures, each against
    float64; the reductions with the same bits on every rank (compared over
    gloo)."""
    failures = []
    hcom, W = hcom or tpfuse.get_comm_name(), world_size
    g = torch.Generator().manual_seed(21)
    xs = [torch.randn(4, 32, generator=g) for _ in range(W)]
    ws = [torch.randn(32, 8, generator=g) for _ in range(W)]
    x3s = [torch.randn(4 * W, 8, generator=g) for _ in range(W)]
    for round in range(2):
        out, gathered = tpfuse.torch_npu.npu_all_gather_base_mm(xs[rank], ws[rank], hcom, W)
        full = torch.cat(xs).double()
        if not torch.equal(gathered, torch.cat(xs)) or (out.double() - full @ ws[rank].double()).abs().max() > 1e-4:
            failures.append(f"round {round}: npu_all_gather_base_mm")
        out = tpfuse.torch_npu.npu_mm_reduce_scatter_base(torch.cat(xs), ws[rank], hcom, W)
        total = sum(full @ ws[q].double() for q in range(W))
        if (out.double() - total.chunk(W)[rank]).abs().max() > 1e-4:
            failures.append(f"round {round}: npu_mm_reduce_scatter_base")
        out = tpfuse.torch_npu.npu_mm_all_reduce_base(torch.cat(xs), ws[rank], hcom, x3=x3s[rank])
        total = sum(full @ ws[q].double() + x3s[q].double() for q in range(W))
        if (out.double() - total).abs().max() > 1e-4:
            failures.append(f"round {round}: npu_mm_all_reduce_base")
        everyone = [torch.empty_like(out) for _ in range(W)]
        dist.all_gather(everyone, out)
        if not all(torch.equal(e, out) for e in everyone):
            failures.append(f"round {round}: npu_mm_all_reduce_base gave ranks different bits")
    return failures
