"""Every bad argument, with its exception and words, on every rank; a
mismatch across ranks; a timeout; abort; the communicator's life."""
import builtins
import time

import numpy as np
import pytest
import torch

import tpfuse
from helpers import on_threads

M, K, N = 8, 16, 4


def good(dtype=torch.float16):
    g = torch.Generator().manual_seed(5)
    return torch.randn(M, K, generator=g).to(dtype), torch.randn(K, N, generator=g).to(dtype)


@pytest.fixture(scope="module")
def pair():
    with tpfuse.Comm.threads(2, timeout_ms=20000) as comms:
        yield comms


def _meta():
    return torch.empty(M, K, device="meta", dtype=torch.float16)


# (what rank 0 passes instead of a good call, the exception rank 0 raises, words in it)
BAD_CALLS = {
    "float64 input": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a.double(), b, name, 2),
                      tpfuse.DtypeError, "input is torch.float64: tpfuse takes"),
    "int input": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a.int(), b, name, 2),
                  tpfuse.DtypeError, "input is torch.int32"),
    "a list": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a.tolist(), b, name, 2),
               tpfuse.DtypeError, "input is a list: pass a torch.Tensor or a numpy.ndarray"),
    "3-D input": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a.reshape(2, 4, K), b, name, 2),
                  tpfuse.InvalidArgumentError, "input must be 2-D (rows, columns); it has shape (2, 4, 16)"),
    "a meta tensor": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(_meta(), b, name, 2),
                      tpfuse.InvalidArgumentError, "input is on meta: tpfuse computes on the CPU"),
    "numpy float64": (lambda a, b, name: tpfuse.mm_reduce_scatter(a.double().numpy(), b.float().numpy(), name),
                      tpfuse.DtypeError, "a is a numpy float64 array"),
    "two dtypes": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b.float(), name, 2),
                   tpfuse.InvalidArgumentError, "b is fp32 but a is fp16: they must have one dtype"),
    "k differs": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b[:10], name, 2),
                  tpfuse.InvalidArgumentError, "b has 10 rows but a has 16 columns"),
    "world_size": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b, name, 4),
                   tpfuse.InvalidArgumentError, "world_size=4 but hcom"),
    "reduce_op": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b, name, 2, reduce_op="max"),
                  tpfuse.InvalidArgumentError, "reduce_op='max' must be 'sum' or 'avg'"),
    "negative comm_turn": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b, name, 2, comm_turn=-1),
                           tpfuse.InvalidArgumentError, "comm_turn=-1 must be in [0, 2147483647]"),
    "huge comm_turn": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b, name, 2, comm_turn=2**40),
                       tpfuse.InvalidArgumentError, "comm_turn=1099511627776 must be in"),
    "bias dtype": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a, b, name, 2, bias=torch.zeros(N)),
                   tpfuse.DtypeError, "bias is torch.float32 but input is torch.float16"),
    "bias length": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(
        a, b, name, 2, bias=torch.zeros(3, dtype=torch.float16)),
        tpfuse.InvalidArgumentError, "bias_len=3 but the bias must hold n=4 elements"),
    "2-D bias": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(
        a, b, name, 2, bias=torch.zeros(1, N, dtype=torch.float16)),
        tpfuse.InvalidArgumentError, "bias must be 1-D; it has shape (1, 4)"),
    "m odd": (lambda a, b, name: tpfuse.npu_mm_reduce_scatter_base(a[:7], b, name, 2),
              tpfuse.InvalidArgumentError, "m=7 does not divide by world_size 2"),
    "algo": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, algo="fastest"),
             tpfuse.InvalidArgumentError, "algo='fastest' must be one of auto, unfused, ring, direct"),
    "row_counts length": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, row_counts=[8]),
                          tpfuse.InvalidArgumentError, "row_counts has 1 entries but the communicator has 2"),
    "row_counts sum": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, row_counts=[3, 3]),
                       tpfuse.InvalidArgumentError, "row_counts add up to 6, not m=8"),
    "row_counts values": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, row_counts=[4.5, 3.5]),
                          tpfuse.InvalidArgumentError, "row_counts[0]=4.5 must be an integer"),
    "out shape": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, out=torch.empty(3, N, dtype=a.dtype)),
                  tpfuse.InvalidArgumentError, "out has 3 rows but rank 0 owns 4 of m=8"),
    "out dtype": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, out=torch.empty(4, N)),
                  tpfuse.InvalidArgumentError, "out is fp32 but a is fp16"),
    "out transposed": (lambda a, b, name: tpfuse.mm_reduce_scatter(
        a, b, name, out=torch.empty(N, 4, dtype=a.dtype).t()),
        tpfuse.InvalidArgumentError, "an output must be rows of adjacent elements"),
    "out overlaps a": (lambda a, b, name: tpfuse.mm_reduce_scatter(a, b, name, out=a[:4, :N]),
                       tpfuse.InvalidArgumentError, "out overlaps a in memory"),
    "read-only out": (lambda a, b, name: tpfuse.mm_reduce_scatter(
        a.float().numpy(), b.float().numpy(), name, out=np.broadcast_to(np.float32(0), (4, N))),
        tpfuse.InvalidArgumentError, "out is a read-only numpy array"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_argument_fails_on_every_rank(pair, case):
    call, exc, words = BAD_CALLS[case]
    a, b = good()
    outs = [torch.full((M // 2, N), 7.0, dtype=torch.float16) for _ in range(2)]

    def rank_body(rank, comm):
        if rank == 0:
            return call(a, b, comm.name)
        return tpfuse.mm_reduce_scatter(a, b, comm, out=outs[1])

    t0 = time.monotonic()
    got = on_threads(pair, rank_body)
    assert time.monotonic() - t0 < 5, "the peer waited instead of learning of the rejection"
    assert isinstance(got[0], exc), f"rank 0: {got[0]!r}"
    assert words in str(got[0]), f"rank 0: {got[0]}"
    assert got[0].status == "TPF_ERR_INVALID"
    assert isinstance(got[1], tpfuse.PeerError), f"rank 1: {got[1]!r}"
    assert "rank 0 rejected its arguments (TPF_ERR_INVALID" in str(got[1]) and words in str(got[1]), str(got[1])
    assert (outs[1] == 7).all(), "rank 1 wrote its output on a rejected call"
    # the communicator works on after a rejection
    good_outs = on_threads(pair, lambda r, c: tpfuse.mm_reduce_scatter(a, b, c))
    assert all(isinstance(o, torch.Tensor) for o in good_outs), good_outs


def test_exception_classes():
    assert issubclass(tpfuse.InvalidArgumentError, ValueError)
    assert issubclass(tpfuse.DtypeError, TypeError) and issubclass(tpfuse.DtypeError, ValueError)
    assert issubclass(tpfuse.TimeoutError, builtins.TimeoutError)
    assert issubclass(tpfuse.OutOfMemoryError, MemoryError)
    assert issubclass(tpfuse.SystemCallError, OSError)
    for cls in (tpfuse.PeerError, tpfuse.MismatchError, tpfuse.AbortedError, tpfuse.UnsupportedError):
        assert issubclass(cls, tpfuse.Error)


def test_unknown_hcom_and_comm_types():
    a, b = good()
    with pytest.raises(tpfuse.InvalidArgumentError, match="hcom 'nope' names no communicator of this process"):
        tpfuse.npu_mm_reduce_scatter_base(a, b, "nope", 1)
    with pytest.raises(TypeError, match="the communicator is a int"):
        tpfuse.mm_reduce_scatter(a, b, 3)


def test_mismatch_fails_every_rank_and_the_comm_works_on(pair):
    a, b = good()
    got = on_threads(pair, lambda r, c: tpfuse.mm_reduce_scatter(a if r == 0 else torch.cat([a, a]), b, c))
    for rank in range(2):
        assert isinstance(got[rank], tpfuse.MismatchError), got[rank]
        assert got[rank].status == "TPF_ERR_MISMATCH"
        assert "rank 1 passed m=16 but rank 0 passed m=8" in str(got[rank])
    again = on_threads(pair, lambda r, c: tpfuse.mm_reduce_scatter(a, b, c))
    assert all(isinstance(o, torch.Tensor) for o in again)


def test_timeout_then_every_call_fails():
    a, b = good()
    with tpfuse.Comm.threads(2, timeout_ms=300) as comms:
        t0 = time.monotonic()
        with pytest.raises(tpfuse.TimeoutError, match="waited 300 ms for rank 1") as info:
            tpfuse.mm_reduce_scatter(a, b, comms[0])  # rank 1 never calls
        took = time.monotonic() - t0
        assert 0.25 < took < 5, took
        assert isinstance(info.value, builtins.TimeoutError) and info.value.status == "TPF_ERR_TIMEOUT"
        with pytest.raises(tpfuse.TimeoutError):
            tpfuse.mm_reduce_scatter(a, b, comms[1])


def test_abort_wakes_a_waiting_rank():
    a, b = good()
    with tpfuse.Comm.threads(2, timeout_ms=30000) as comms:
        def body(rank, comm):
            if rank == 1:
                time.sleep(0.2)
                comm.abort()
                return None
            t0 = time.monotonic()
            try:
                tpfuse.mm_reduce_scatter(a, b, comm)
            except tpfuse.AbortedError as e:
                return time.monotonic() - t0, e
            return "returned"

        took, err = on_threads(comms, body)[0]
        assert took < 5 and "tpf_comm_abort" in str(err)


def test_comm_life():
    comms = tpfuse.Comm.threads(3)
    assert [c.rank for c in comms] == [0, 1, 2] and all(c.size == 3 for c in comms)
    assert len({c.name for c in comms}) == 3
    assert tpfuse.find_comm(comms[1].name) is comms[1]
    name = comms[1].name
    comms[1].close()
    comms[1].close()  # twice is a no-op
    assert comms[1].closed and tpfuse.find_comm(name) is None
    a, b = good()
    with pytest.raises(tpfuse.InvalidArgumentError, match="names no communicator"):
        tpfuse.mm_reduce_scatter(a, b, name)
    with pytest.raises(tpfuse.InvalidArgumentError, match="is closed"):
        tpfuse.mm_reduce_scatter(a, b, comms[1])
    comms.close()
    with pytest.raises(tpfuse.InvalidArgumentError, match="world_size=0 must be in"):
        tpfuse.Comm.threads(0)
    with pytest.raises(tpfuse.InvalidArgumentError, match="algo='best' must be one of"):
        tpfuse.Comm.threads(2, algo="best")
    with pytest.raises(tpfuse.InvalidArgumentError, match="threads_per_rank=5000 must be in"):
        tpfuse.Comm.threads(2, threads_per_rank=5000)
    with pytest.raises(TypeError):
        tpfuse.Comm.threads(2, timeout=5)  # not a setting
    with pytest.raises(tpfuse.InvalidArgumentError, match="is not the text of a tpfuse id"):
        tpfuse.Comm.from_unique_id("nonsense", 0, 1)
    assert tpfuse.unique_id().startswith("tpf1-")
