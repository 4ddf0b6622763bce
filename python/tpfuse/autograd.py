"""Differentiable forms of the three fused operators, for torch.autograd.

torch_npu's operators have no backward; these do, and each backward is
another fused operator (the Megatron-style pairs):

    mm_reduce_scatter(a, b, comm)   out_r = rows r of sum_q a_q @ b_q (+ bias)
        grad a_r = all_gather(grad out) @ b_r^T     (AllGatherMatmul)
    all_gather_mm(a, b, comm)       out_r = [a_0; ...; a_{W-1}] @ b_r (+ bias_r)
        grad a_r = rows r of sum_q grad out_q @ b_q^T   (MatmulReduceScatter)
    mm_all_reduce(a, b, comm)       out = sum_q a_q @ b_q (+ bias), on every rank
        grad a_r = grad out @ b_r^T                  (local)

mm_all_reduce's output is replicated, so its backward takes the gradient
as is on every rank (as Megatron's row-parallel layer does): every rank must
compute the same loss from it. The gradients of b and of the bias are each
rank's own (its shard), or, for a bias added once after a reduction, the
whole gradient on every rank. Every call is collective over comm, in
backward too: every rank runs the same forward and backward.
"""
import torch

from . import ops


def _grad_bias(grad, bias):
    return grad.sum(0).to(bias.dtype) if bias is not None and bias.requires_grad else None


def _weight_grad(needed, x, grad):
    """x^T @ grad (tpfuse's GEMM: every dtype, fp32 sums), or None when not needed."""
    return ops.gemm(x.t(), grad) if needed else None


class _MmReduceScatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, bias, comm, row_counts, comm_turn):
        ctx.comm, ctx.row_counts, ctx.comm_turn = comm, row_counts, comm_turn
        ctx.save_for_backward(a, b, bias)
        return ops.mm_reduce_scatter(a, b, comm, bias=bias, row_counts=row_counts, comm_turn=comm_turn)

    @staticmethod
    def backward(ctx, grad):
        a, b, bias = ctx.saved_tensors
        grad_a, full = ops.all_gather_mm(grad.contiguous(), b.t(), ctx.comm, row_counts=ctx.row_counts,
                                         comm_turn=ctx.comm_turn, gather_output=True)
        return grad_a, _weight_grad(ctx.needs_input_grad[1], a, full), _grad_bias(full, bias), None, None, None


class _AllGatherMm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, bias, comm, row_counts, comm_turn):
        ctx.comm, ctx.row_counts, ctx.comm_turn = comm, row_counts, comm_turn
        out, gathered = ops.all_gather_mm(a, b, comm, bias=bias, row_counts=row_counts, comm_turn=comm_turn,
                                          gather_output=True)
        ctx.save_for_backward(gathered, b, bias)
        return out

    @staticmethod
    def backward(ctx, grad):
        gathered, b, bias = ctx.saved_tensors
        grad = grad.contiguous()
        grad_a = None
        if ctx.needs_input_grad[0]:
            grad_a = ops.mm_reduce_scatter(grad, b.t(), ctx.comm, row_counts=ctx.row_counts, comm_turn=ctx.comm_turn)
        return grad_a, _weight_grad(ctx.needs_input_grad[1], gathered, grad), _grad_bias(grad, bias), None, None, None


class _MmAllReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, bias, comm, comm_turn):
        ctx.save_for_backward(a, b, bias)
        return ops.mm_all_reduce(a, b, comm, bias=bias, comm_turn=comm_turn)

    @staticmethod
    def backward(ctx, grad):
        a, b, bias = ctx.saved_tensors
        grad_a = ops.gemm(grad, b.t()) if ctx.needs_input_grad[0] else None
        return grad_a, _weight_grad(ctx.needs_input_grad[1], a, grad), _grad_bias(grad, bias), None, None


def mm_reduce_scatter(a, b, comm, *, bias=None, row_counts=None, comm_turn=0):
    """tpfuse.mm_reduce_scatter (sum) that torch.autograd can differentiate:
    a (m, k), b (k, n), bias (n,) added once; returns this rank's rows."""
    return _MmReduceScatter.apply(a, b, bias, comm, row_counts, comm_turn)


def all_gather_mm(a, b, comm, *, bias=None, row_counts=None, comm_turn=0):
    """tpfuse.all_gather_mm that torch.autograd can differentiate: a (rows,
    k) this rank's block, b (k, n), bias (n,) this rank's; returns (m, n)."""
    return _AllGatherMm.apply(a, b, bias, comm, row_counts, comm_turn)


def mm_all_reduce(a, b, comm, *, bias=None, comm_turn=0):
    """tpfuse.mm_all_reduce (sum) that torch.autograd can differentiate:
    a (m, k), b (k, n), bias (n,) added once; returns (m, n) on every rank,
    whose gradient must be the same on every rank (see the module's words)."""
    return _MmAllReduce.apply(a, b, bias, comm, comm_turn)
