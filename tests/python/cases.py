"""Inputs, float64 references and error bounds for the Python tests.

Every rank's operands are a function of (seed, rank), so any rank (or the
test process) can make every rank's and compute the float64 reference of
the whole operator. The bound is the fp32-accumulation error plus one
rounding to the output dtype, as the C tests use.
"""
import torch

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 2.0**-24}


def operands(seed, rank, m, k, n, dtype, *, integers=False, transpose_b=False, bias=False):
    """(a, b, bias) of one rank: a (m, k), b (k, n) (a transposed view when
    transpose_b), bias (n,) shared by all ranks or None. Integer inputs are
    small (|x| <= 3), so that every product and sum is exact in fp32."""
    g = torch.Generator().manual_seed(seed * 1009 + rank)
    if integers:
        a = torch.randint(-3, 4, (m, k), generator=g).to(dtype)
        b = torch.randint(-3, 4, (k, n), generator=g).to(dtype)
    else:
        a = torch.randn(m, k, generator=g).to(dtype)
        b = torch.randn(k, n, generator=g).to(dtype)
    if transpose_b:
        b = b.t().contiguous().t()  # same values; storage holds b^T
    c = None
    if bias:
        gb = torch.Generator().manual_seed(seed * 7919)
        c = (torch.randint(-3, 4, (n,), generator=gb) if integers else torch.randn(n, generator=gb)).to(dtype)
    return a, b, c


def offsets(m, world_size, row_counts=None):
    counts = row_counts or [m // world_size] * world_size
    starts = [0]
    for c in counts:
        starts.append(starts[-1] + c)
    return starts


def reference(all_operands, rank, world_size, *, avg=False, row_counts=None):
    """(float64 rows of `rank`, the error bound per element)."""
    total = None
    magnitude = None
    for a, b, _ in all_operands:
        p = a.double() @ b.double()
        q = a.double().abs() @ b.double().abs()
        total = p if total is None else total + p
        magnitude = q if magnitude is None else magnitude + q
    bias = all_operands[rank][2]
    if avg:
        total, magnitude = total / world_size, magnitude / world_size
    if bias is not None:
        total = total + bias.double()
        magnitude = magnitude + bias.double().abs()
    lo, hi = offsets(total.shape[0], world_size, row_counts)[rank:rank + 2]
    a = all_operands[0][0]
    k = a.shape[1]
    accumulation = (k + world_size + 4) * 2.0**-24 * magnitude[lo:hi]
    rounding = UNIT_ROUNDOFF[a.dtype] * total[lo:hi].abs() + 2.0**-24
    return total[lo:hi], accumulation + rounding


def within(out, ref, bound):
    """None if every element of out is within bound of ref, else words."""
    got = torch.as_tensor(out).double() if not isinstance(out, torch.Tensor) else out.double()
    if got.shape != ref.shape:
        return f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
    err = (got - ref).abs()
    bad = err > bound
    if bad.any():
        i = int(bad.flatten().nonzero()[0])
        return f"{int(bad.sum())} elements off, e.g. [{i}] {float(got.flatten()[i])} vs {float(ref.flatten()[i])}"
    return None
