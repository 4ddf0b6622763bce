"""The differentiable operators and the tensor-parallel layers on thread
ranks (2 and 4, every dtype) against torch.autograd on the whole
computation in one process: outputs and the gradients of every input."""
import pytest
import torch

import tpfuse
from tpfuse import autograd as tag
from tpfuse.nn import ColumnParallelLinear, RowParallelLinear
from helpers import on_threads, raise_any

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
RTOL = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-5}


@pytest.fixture(scope="module", params=[2, 4])
def comms(request):
    with tpfuse.Comm.threads(request.param, timeout_ms=20000) as comms:
        yield comms


def leaf(shape, dtype, gen):
    return (torch.randn(shape, generator=gen) / 4).to(dtype).requires_grad_()


def near(got, want, dtype, what):
    scale = float(want.double().abs().max()) + 1e-6
    err = float((got.double() - want.double()).abs().max())
    assert err <= RTOL[dtype] * scale * 4, f"{what}: error {err:.3g} at scale {scale:.3g}"


def reference_grads(tensors, loss):
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    return [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, tensors)]


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("op", ["mm_reduce_scatter", "all_gather_mm", "mm_all_reduce"])
def test_operator_gradients(comms, dtype, op):
    W, t, gen = len(comms), DTYPES[dtype], torch.Generator().manual_seed(11)
    m, k, n = 4 * W, 24, 8
    a_rows = m // W if op == "all_gather_mm" else m
    a = [leaf((a_rows, k), t, gen) for _ in range(W)]
    b = [leaf((k, n), t, gen) for _ in range(W)]
    bias = [leaf((n,), t, gen) for _ in range(W)]
    if op != "all_gather_mm":  # a bias added once: the same on every rank, as a replicated parameter is
        bias = [bias[0].detach().clone().requires_grad_() for _ in range(W)]
    out_rows = m // W if op == "mm_reduce_scatter" else m
    upstream = [torch.randn((out_rows, n), generator=gen).to(t) for _ in range(W)]
    if op == "mm_all_reduce":  # a replicated output: every rank's loss is the same
        upstream = [upstream[0]] * W

    def rank(r, comm):
        y = getattr(tag, op)(a[r], b[r], comm, bias=bias[r])
        (y.float() * upstream[r].float()).sum().backward()
        return y.detach()

    outs = raise_any(on_threads(comms, rank))
    # the same computation in one process, in float64
    A = [x.detach().double().requires_grad_() for x in a]
    B = [x.detach().double().requires_grad_() for x in b]
    C = [x.detach().double().requires_grad_() for x in bias]
    U = [u.double() for u in upstream]
    if op == "all_gather_mm":
        full = torch.cat(A)
        ys = [full @ B[r] + C[r] for r in range(W)]
        loss = sum((ys[r] * U[r]).sum() for r in range(W))
    else:
        total = sum(A[q] @ B[q] for q in range(W)) + C[0]
        if op == "mm_reduce_scatter":
            ys = list(total.split(m // W))
            loss = sum((ys[r] * U[r]).sum() for r in range(W))
        else:
            ys = [total] * W
            loss = (total * U[0]).sum()
    grads = reference_grads(A + B + C, loss)
    for r in range(W):
        near(outs[r], ys[r].detach(), t, f"rank {r} output")
        near(a[r].grad, grads[r], t, f"rank {r} grad a")
        near(b[r].grad, grads[W + r], t, f"rank {r} grad b")
        want_bias = grads[2 * W] if op != "all_gather_mm" else grads[2 * W + r]
        near(bias[r].grad, want_bias, t, f"rank {r} grad bias")


@pytest.mark.parametrize("sequence_parallel", [False, True])
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_parallel_mlp_matches_whole_model(comms, sequence_parallel, dtype):
    W, t = len(comms), DTYPES[dtype]
    torch.manual_seed(5)
    hidden, ffn, s, batch = 16, 32, 4 * W, 3
    fc1, fc2 = torch.nn.Linear(hidden, ffn).to(t), torch.nn.Linear(ffn, hidden).to(t)
    x = torch.randn(s, batch, hidden).to(t)
    y = fc2(torch.nn.functional.gelu(fc1(x)))
    y.float().square().sum().backward()

    def rank(r, comm):
        col = ColumnParallelLinear.from_linear(fc1, comm, sequence_parallel=sequence_parallel)
        row = RowParallelLinear.from_linear(fc2, comm, sequence_parallel=sequence_parallel)
        mine = x.chunk(W)[r] if sequence_parallel else x
        out = row(torch.nn.functional.gelu(col(mine)))
        out.float().square().sum().backward()
        return out.detach(), col, row

    results = raise_any(on_threads(comms, rank))
    for r, (out, col, row) in enumerate(results):
        want = y.detach().chunk(W)[r] if sequence_parallel else y.detach()
        assert out.shape == want.shape
        near(out, want, t, f"rank {r} output")
        part, cols = ffn // W, slice(r * ffn // W, (r + 1) * ffn // W)
        near(col.weight.grad, fc1.weight.grad[r * part:(r + 1) * part], t, f"rank {r} fc1 weight grad")
        near(col.bias.grad, fc1.bias.grad[r * part:(r + 1) * part], t, f"rank {r} fc1 bias grad")
        near(row.weight.grad, fc2.weight.grad[:, cols], t, f"rank {r} fc2 weight grad")
        near(row.bias.grad, fc2.bias.grad, t, f"rank {r} fc2 bias grad")


def test_layer_shapes_refused(comms):
    with pytest.raises(ValueError, match="does not divide"):
        ColumnParallelLinear(8, 2 * len(comms) + 1, comms[0])
