"""The operators on thread ranks: every dtype, world sizes 1-8, transposed
x2, bias, avg, comm_turn, uneven splits, numpy inputs, out=; against
float64, and every algorithm bit for bit against the unfused path on
integer and random inputs."""
import numpy as np
import pytest
import torch

import tpfuse
from cases import DTYPES, operands, reference, within
from helpers import on_threads, raise_any

WORLD_SIZES = [1, 2, 3, 4, 8]


@pytest.fixture(scope="module", params=WORLD_SIZES)
def comms(request):
    with tpfuse.Comm.threads(request.param, timeout_ms=20000) as comms:
        yield comms


def run_case(comms, *, m, k, n, dtype, seed=1, transpose_b=False, bias=False, reduce_op="sum", comm_turn=0,
             row_counts=None, algo="auto", integers=False, form="npu"):
    W = len(comms)
    all_ops = [operands(seed, r, m, k, n, DTYPES[dtype], integers=integers, transpose_b=transpose_b, bias=bias)
               for r in range(W)]

    def call(rank, comm):
        a, b, c = all_ops[rank]
        if form == "npu":
            return tpfuse.npu_mm_reduce_scatter_base(a, b, comm.name, W, reduce_op=reduce_op, bias=c,
                                                     comm_turn=comm_turn)
        return tpfuse.mm_reduce_scatter(a, b, comm, reduce_op=reduce_op, bias=c, comm_turn=comm_turn, algo=algo,
                                        row_counts=row_counts)

    outs = raise_any(on_threads(comms, call))
    for rank, out in enumerate(outs):
        assert out.dtype == DTYPES[dtype]
        ref, bound = reference(all_ops, rank, W, avg=reduce_op == "avg", row_counts=row_counts)
        problem = within(out, ref, bound)
        assert problem is None, f"rank {rank}: {problem}"
    return outs


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_seed_shape_every_dtype(comms, dtype):
    run_case(comms, m=16 * len(comms), k=512, n=64, dtype=dtype)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_transposed_bias_avg_comm_turn(comms, dtype):
    run_case(comms, m=6 * len(comms), k=37, n=20, dtype=dtype, transpose_b=True, bias=True, reduce_op="avg",
             comm_turn=3)


@pytest.mark.parametrize("k", [1, 300])
def test_any_k(comms, k):
    run_case(comms, m=2 * len(comms), k=k, n=9, dtype="bf16", bias=True)


def test_uneven_row_counts(comms):
    W = len(comms)
    counts = [(3 * q + 1) % 5 for q in range(W)]  # zeros among them for W >= 4
    counts[0] += 2
    run_case(comms, m=sum(counts), k=33, n=7, dtype="fp16", row_counts=counts, form="pythonic", bias=True)


@pytest.mark.parametrize("integers", [True, False], ids=["integers", "random"])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_every_algorithm_bit_for_bit_against_unfused(comms, dtype, integers):
    """Every algorithm sums in one order: the same bits on any input."""
    shape = dict(m=12 * len(comms), k=96, n=40, dtype=dtype, integers=integers, bias=True, form="pythonic",
                 comm_turn=2)
    unfused = run_case(comms, algo="unfused", **shape)
    for algo in ("ring", "direct", "auto"):
        outs = run_case(comms, algo=algo, **shape)
        for rank, (x, y) in enumerate(zip(outs, unfused)):
            assert torch.equal(x, y), f"{algo} differs from unfused on rank {rank}"


def test_numpy_inputs_and_out(comms):
    W = len(comms)
    m, k, n = 4 * W, 24, 10
    for np_dtype, dtype in ((np.float16, "fp16"), (np.float32, "fp32")):
        all_ops = [operands(3, r, m, k, n, DTYPES[dtype], bias=True) for r in range(W)]
        outs = [np.full((m // W, n), 7, dtype=np_dtype) for _ in range(W)]

        def call(rank, comm):
            a, b, c = (x.numpy() for x in all_ops[rank])
            got = tpfuse.mm_reduce_scatter(a, b, comm, bias=c, out=outs[rank])
            assert got is outs[rank]
            return tpfuse.mm_reduce_scatter(a, np.asfortranarray(b), comm, bias=c)

        fresh = raise_any(on_threads(comms, call))
        for rank in range(W):
            ref, bound = reference(all_ops, rank, W)
            assert isinstance(fresh[rank], np.ndarray) and fresh[rank].dtype == np_dtype
            assert within(torch.from_numpy(outs[rank]), ref, bound) is None
            assert np.array_equal(outs[rank], fresh[rank])


def test_out_is_written_in_place(comms):
    W = len(comms)
    m, k, n = 2 * W, 16, 8
    all_ops = [operands(4, r, m, k, n, torch.bfloat16) for r in range(W)]
    # a row-major slice of a larger tensor: written where it is
    bigs = [torch.zeros(m // W, n + 5, dtype=torch.bfloat16) for _ in range(W)]

    def call(rank, comm):
        a, b, _ = all_ops[rank]
        out = bigs[rank][:, 2:2 + n]
        assert tpfuse.mm_reduce_scatter(a, b, comm, out=out) is out
        return out

    raise_any(on_threads(comms, call))
    for rank in range(W):
        ref, bound = reference(all_ops, rank, W)
        assert within(bigs[rank][:, 2:2 + n], ref, bound) is None
        assert not bigs[rank][:, :2].any() and not bigs[rank][:, 2 + n:].any()


def test_reduce_scatter(comms):
    W = len(comms)
    m, n = 3 * W, 33
    g = torch.Generator().manual_seed(6)
    for dtype in DTYPES.values():
        xs = [torch.randint(-50, 50, (m, n), generator=g).to(dtype) for _ in range(W)]
        bias = torch.arange(n).to(dtype)
        outs = raise_any(on_threads(comms, lambda r, c: tpfuse.reduce_scatter(xs[r], c, bias=bias, reduce_op="sum")))
        # integer sums are exact in fp32: the result is the exact sum rounded once
        total = (sum(x.double() for x in xs) + bias.double()).to(dtype)
        for rank in range(W):
            assert torch.equal(outs[rank], total[3 * rank:3 * rank + 3]), f"rank {rank}, {dtype}"


def test_transposed_views_go_in_without_a_copy(comms, monkeypatch):
    from tpfuse import _views

    def no_copy(self):
        raise AssertionError("an operand was copied")

    monkeypatch.setattr(_views.Operand, "contiguous", no_copy)
    W = len(comms)
    a = torch.randn(2 * W, 64)
    weight = torch.randn(32, 64)  # as nn.Linear holds it: (out, in)
    ref_a = a[:, 8:40]  # a column slice: rows a fixed distance apart
    outs = raise_any(on_threads(comms, lambda r, c: tpfuse.mm_reduce_scatter(ref_a, weight.t()[8:40], c)))
    full = W * (ref_a.double() @ weight.t()[8:40].double())
    for rank in range(W):
        assert torch.allclose(outs[rank].double(), full[2 * rank:2 * rank + 2], atol=1e-3)


def test_other_strides_are_copied_once(comms):
    W = len(comms)
    a = torch.randn(2 * W, 1).expand(2 * W, 16)  # stride 0
    b = torch.randn(32, 8)[::2]  # every other row: still a view
    c = torch.randn(16, 32)[:, ::2]  # no unit stride either way: copied
    outs = raise_any(on_threads(comms, lambda r, comm: (tpfuse.mm_reduce_scatter(a, b, comm),
                                                        tpfuse.mm_reduce_scatter(a, c, comm))))
    for rank in range(W):
        rows = slice(2 * rank, 2 * rank + 2)
        assert torch.allclose(outs[rank][0].double(), W * (a.double() @ b.double())[rows], atol=1e-3)
        assert torch.allclose(outs[rank][1].double(), W * (a.double() @ c.double())[rows], atol=1e-3)


def test_gemm():
    g = torch.Generator().manual_seed(7)
    for dtype in DTYPES.values():
        a = torch.randint(-3, 4, (37, 50), generator=g).to(dtype)
        w = torch.randint(-3, 4, (21, 50), generator=g).to(dtype)
        bias = torch.randint(-3, 4, (21,), generator=g).to(dtype)
        ref = a.double() @ w.double().t() + bias.double()  # exact in fp32, rounded once
        assert torch.equal(tpfuse.gemm(a, w.t(), bias=bias), ref.to(dtype))
        wide = tpfuse.gemm(a, w.t(), out_dtype=torch.float32)
        assert wide.dtype == torch.float32 and torch.equal(wide.double(), ref - bias.double())
        acc = torch.ones(37, 21)
        tpfuse.gemm(a, w.t(), out=acc, accumulate=True)
        assert torch.equal(acc.double(), ref - bias.double() + 1)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(tpfuse.gemm(x, x.T), x @ x.T)


def test_torch_npu_drop_in():
    from tpfuse import torch_npu

    assert torch_npu.npu_mm_reduce_scatter_base is tpfuse.npu_mm_reduce_scatter_base
    with tpfuse.Comm.threads(1) as (comm,):
        a, b = torch.randn(4, 8, dtype=torch.float16), torch.randn(8, 2, dtype=torch.float16)
        out = torch_npu.npu_mm_reduce_scatter_base(a, b, comm.name, 1)
        ref = a.double() @ b.double()
        assert out.dtype == torch.float16 and torch.allclose(out.double(), ref, atol=1e-2, rtol=1e-2)
