"""AllGatherMatmul, MatmulAllReduce, AllGather and AllReduce from Python on
thread ranks: torch_npu's forms (3-D x1, x3, a per-rank bias, gather_output,
gather_index), the Pythonic forms (every algorithm, uneven splits, numpy,
out=), against float64; and their refusals."""
import numpy as np
import pytest
import torch

import tpfuse
from helpers import on_threads, raise_any

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
TOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float32: 2e-6}


@pytest.fixture(scope="module", params=[1, 2, 3, 4])
def comms(request):
    with tpfuse.Comm.threads(request.param, timeout_ms=20000) as comms:
        yield comms


def exact(shape, dtype, gen):
    """Values exact in every dtype: 7 significant bits."""
    v = torch.randint(64, 128, shape, generator=gen).double() / 128 * (2.0 ** -torch.randint(0, 4, shape, generator=gen))
    return (v * (torch.randint(0, 2, shape, generator=gen) * 2 - 1)).to(dtype)


def close(got, ref, mag, dtype):
    err = (got.double() - ref).abs()
    bound = TOL[dtype] * ref.abs() + 1e-5 * mag + 1e-30
    assert bool((err <= bound).all()), f"worst error {float((err / bound).max()):.3g} of the bound"


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_npu_all_gather_base_mm(comms, dtype):
    W, t, gen = len(comms), DTYPES[dtype], torch.Generator().manual_seed(3)
    xs = [exact((5, 24), t, gen) for _ in range(W)]
    ws = [exact((24, 7), t, gen) for _ in range(W)]
    bs = [exact((7,), t, gen) for _ in range(W)]
    outs = raise_any(on_threads(comms, lambda r, c: tpfuse.torch_npu.npu_all_gather_base_mm(
        xs[r], ws[r].t().contiguous().t(), c.name, W, bias=bs[r])))
    full = torch.cat(xs).double()
    for r, (out, gathered) in enumerate(outs):
        assert out.shape == (5 * W, 7) and out.dtype == t and torch.equal(gathered, torch.cat(xs))
        close(out, full @ ws[r].double() + bs[r].double(), full.abs() @ ws[r].double().abs(), t)
    outs = raise_any(on_threads(comms, lambda r, c: tpfuse.torch_npu.npu_all_gather_base_mm(
        xs[r], ws[r], c.name, W, gather_output=False)))
    assert all(g.numel() == 0 and g.dtype == t for _, g in outs)


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_npu_mm_all_reduce_base(comms, dtype):
    W, t, gen = len(comms), DTYPES[dtype], torch.Generator().manual_seed(4)
    x1 = [exact((2, 3, 16), t, gen) for _ in range(W)]
    x2 = [exact((16, 9), t, gen) for _ in range(W)]
    x3 = [exact((2, 3, 9), t, gen) for _ in range(W)]
    bias = [exact((9,), t, gen) for _ in range(W)]
    outs = raise_any(on_threads(comms, lambda r, c: tpfuse.torch_npu.npu_mm_all_reduce_base(
        x1[r], x2[r], c.name, bias=bias[r], x3=x3[r])))
    ref = sum(x1[q].double() @ x2[q].double() + bias[q].double() + x3[q].double() for q in range(W))
    mag = sum(x1[q].double().abs() @ x2[q].double().abs() + 2 for q in range(W))
    for out in outs:
        assert out.shape == (2, 3, 9) and out.dtype == t
        assert torch.equal(out, outs[0]), "ranks hold different bits"
        close(out, ref, mag, t)


@pytest.mark.parametrize("algo", ["auto", "unfused", "ring", "direct"])
def test_all_gather_mm_algorithms_same_bits(comms, algo):
    W, gen = len(comms), torch.Generator().manual_seed(5)
    counts = [3, 0, 4, 1][:W] if W > 1 else [6]
    a = [exact((counts[r], 33), torch.bfloat16, gen) for r in range(W)]
    b = [exact((33, 10), torch.bfloat16, gen) for _ in range(W)]
    fused = raise_any(on_threads(comms, lambda r, c: tpfuse.all_gather_mm(a[r], b[r], c, algo=algo, row_counts=counts,
                                                                          gather_output=True, comm_turn=2)))
    base = raise_any(on_threads(comms, lambda r, c: tpfuse.all_gather_mm(a[r], b[r], c, algo="unfused",
                                                                         row_counts=counts)))
    for r in range(W):
        assert torch.equal(fused[r][0], base[r]) and torch.equal(fused[r][1], torch.cat(a))


def test_mm_all_reduce_forms(comms):
    W, gen = len(comms), torch.Generator().manual_seed(6)
    a = [exact((7, 12), torch.float32, gen) for _ in range(W)]
    b = [exact((12, 5), torch.float32, gen) for _ in range(W)]
    bias = exact((5,), torch.float32, gen)
    for algo in ("unfused", "direct", "ring"):
        outs = raise_any(on_threads(comms, lambda r, c: tpfuse.mm_all_reduce(a[r], b[r], c, reduce_op="avg",
                                                                             bias=bias, algo=algo)))
        ref = sum(a[q].double() @ b[q].double() for q in range(W)) / W + bias.double()
        for out in outs:
            assert torch.equal(out, outs[0])
            close(out, ref, ref.abs() + 8, torch.float32)
    # numpy in, out= written in place
    outs = [np.zeros((7, 5), np.float32) for _ in range(W)]
    raise_any(on_threads(comms, lambda r, c: tpfuse.mm_all_reduce(a[r].numpy(), b[r].numpy(), c, out=outs[r])))
    ref = sum(a[q].double() @ b[q].double() for q in range(W))
    for out in outs:
        close(torch.from_numpy(out), ref, ref.abs() + 8, torch.float32)


def test_all_gather_and_all_reduce(comms):
    W, gen = len(comms), torch.Generator().manual_seed(7)
    x = [exact((3, 11), torch.float16, gen) for _ in range(W)]
    gathered = raise_any(on_threads(comms, lambda r, c: tpfuse.all_gather(x[r], c)))
    assert all(torch.equal(g, torch.cat(x)) for g in gathered)
    reduced = raise_any(on_threads(comms, lambda r, c: tpfuse.all_reduce(x[r], c, reduce_op="avg")))
    ref = sum(v.double() for v in x) / W
    for out in reduced:
        assert torch.equal(out, reduced[0])
        close(out, ref, ref.abs() + 2, torch.float16)


def test_refusals_reach_every_rank(comms):
    W = len(comms)
    if W < 2:
        pytest.skip("needs a peer")
    x = torch.ones(4, 8)
    w = torch.ones(8, 3)

    def call(r, c):
        if r == 1:
            return tpfuse.torch_npu.npu_all_gather_base_mm(x, w, c.name, W, gather_index=1)
        return tpfuse.torch_npu.npu_all_gather_base_mm(x, w, c.name, W)

    results = on_threads(comms, call)
    assert isinstance(results[1], tpfuse.UnsupportedError) and "gather_index=1" in str(results[1])
    assert isinstance(results[0], tpfuse.PeerError) and "gather_index=1" in str(results[0])
    results = on_threads(comms, lambda r, c: tpfuse.torch_npu.npu_mm_all_reduce_base(
        x, w, c.name, x3=torch.ones(4, 3, dtype=torch.float16) if r == 0 else None))
    assert isinstance(results[0], tpfuse.DtypeError) and "x3 is torch.float16" in str(results[0])
    assert all(isinstance(e, (tpfuse.PeerError, tpfuse.MismatchError)) for e in results[1:]), results
    ok = raise_any(on_threads(comms, lambda r, c: tpfuse.all_reduce(x, c)))
    assert torch.equal(ok[0], x * W)
