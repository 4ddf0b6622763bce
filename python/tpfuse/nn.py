"""Tensor-parallel linear layers built from the fused operators.

A pair splits a transformer's MLP (or attention projection) across the
ranks of a communicator:

    ColumnParallelLinear   rank r holds rows r of the weight (out_features / W
                           of them) and of the bias; its output is rank r's
                           columns of x @ W^T + b.
    RowParallelLinear      rank r holds columns r of the weight (in_features / W
                           of them) and the whole bias; its input is rank r's
                           columns (a column-parallel output), its output the
                           whole x @ W^T + b.

Plain (sequence_parallel=False): the input of the column-parallel layer and
the output of the row-parallel layer are the same on every rank;
forward runs a local product, then MatmulAllReduce; backward runs
MatmulAllReduce for the input's gradient. Sequence-parallel
(sequence_parallel=True, Megatron's): each rank holds a block of the rows
(tokens) of both; forward runs AllGatherMatmul, then MatmulReduceScatter,
backward the reverse. Inputs are (rows, features) or (s, b, features) with
the sequence first (Megatron's layout), so that rows gather in order.

Every forward and backward is collective over the communicator: every rank
runs the same steps. `from_linear` takes a rank's shard of an nn.Linear, so
that a model split this way computes what the whole one does.
"""
import math

import torch

from . import autograd, ops


def _comm(comm):
    """A tpfuse.Comm from a Comm, an hcom name, or None (the default process group)."""
    if comm is None:
        from .distributed import get_comm_name

        comm = get_comm_name()
    return ops._comm_of(comm)


def _rows(x):
    """x as (rows, features), and how to give the result x's leading dimensions."""
    if x.dim() == 2:
        return x, lambda y: y
    inner = tuple(x.shape[1:-1])  # (b,) of (s, b, features): the rows that gather are the first dimension's
    return x.reshape(-1, x.shape[-1]), lambda y: y.reshape(-1, *inner, y.shape[-1])


class _ColumnLinear(torch.autograd.Function):
    """y = x @ w^T + b on every rank's shard; the input's gradient summed over ranks (MatmulAllReduce)."""

    @staticmethod
    def forward(ctx, x, weight, bias, comm):
        ctx.comm = comm
        ctx.save_for_backward(x, weight, bias)
        return ops.gemm(x, weight.t(), bias=bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = ops.mm_all_reduce(grad, weight, ctx.comm) if ctx.needs_input_grad[0] else None
        grad_w = ops.gemm(grad.t(), x) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if bias is not None and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


def _shard_size(features, size, what):
    if features % size:
        raise ValueError(f"{what}={features} does not divide by the communicator's {size} ranks")
    return features // size


class _ParallelLinear(torch.nn.Module):
    def __init__(self, weight_shape, bias_features, in_features, comm, bias, sequence_parallel, dtype):
        super().__init__()
        self.comm = _comm(comm)
        self.sequence_parallel = bool(sequence_parallel)
        self.weight = torch.nn.Parameter(torch.empty(weight_shape, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.empty(bias_features, dtype=dtype)) if bias else None
        self._fan_in = in_features
        self.reset_parameters()

    def reset_parameters(self):
        """nn.Linear's initialisation, each rank drawing its own shard."""
        bound = 1 / math.sqrt(self._fan_in) if self._fan_in > 0 else 0
        torch.nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            torch.nn.init.uniform_(self.bias, -bound, bound)


class ColumnParallelLinear(_ParallelLinear):
    """The first layer of a tensor-parallel pair: rank r holds rows
    [r * out/W, (r+1) * out/W) of the (out_features, in_features) weight and
    of the bias, and returns those columns of x @ W^T + b.

    comm: a tpfuse.Comm, its name, or None for the default process group
    (tpfuse.get_comm_name()). sequence_parallel=False: x is the same on
    every rank (rows, in_features); True: x is this rank's block of rows,
    and the output has every rank's rows (AllGatherMatmul)."""

    def __init__(self, in_features, out_features, comm=None, *, bias=True, sequence_parallel=False,
                 dtype=torch.float32):
        c = _comm(comm)
        self.in_features, self.out_features = in_features, out_features
        part = _shard_size(out_features, c.size, "out_features")
        super().__init__((part, in_features), part, in_features, c, bias, sequence_parallel, dtype)

    @classmethod
    def from_linear(cls, linear, comm=None, *, sequence_parallel=False):
        """This rank's shard of a torch.nn.Linear (its weight rows and bias entries)."""
        layer = cls(linear.in_features, linear.out_features, comm, bias=linear.bias is not None,
                    sequence_parallel=sequence_parallel, dtype=linear.weight.dtype)
        rows = slice(layer.comm.rank * layer.weight.shape[0], (layer.comm.rank + 1) * layer.weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(linear.weight[rows])
            if linear.bias is not None:
                layer.bias.copy_(linear.bias[rows])
        return layer

    def forward(self, x):
        x2, shape_back = _rows(x)
        if self.sequence_parallel:
            y = autograd.all_gather_mm(x2.contiguous(), self.weight.t(), self.comm, bias=self.bias)
        else:
            y = _ColumnLinear.apply(x2, self.weight, self.bias, self.comm)
        return shape_back(y)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features} (this rank: {self.weight.shape[0]}), "
                f"ranks={self.comm.size}, sequence_parallel={self.sequence_parallel}")


class RowParallelLinear(_ParallelLinear):
    """The second layer of a tensor-parallel pair: rank r holds columns
    [r * in/W, (r+1) * in/W) of the (out_features, in_features) weight and
    the whole bias; x is rank r's columns of the input (a column-parallel
    output). Returns x @ W^T + b summed over ranks: the whole of it on every
    rank (MatmulAllReduce), or with sequence_parallel=True this rank's block
    of rows (MatmulReduceScatter; the rows must divide by the ranks)."""

    def __init__(self, in_features, out_features, comm=None, *, bias=True, sequence_parallel=False,
                 dtype=torch.float32):
        c = _comm(comm)
        self.in_features, self.out_features = in_features, out_features
        part = _shard_size(in_features, c.size, "in_features")
        super().__init__((out_features, part), out_features, in_features, c, bias, sequence_parallel, dtype)

    @classmethod
    def from_linear(cls, linear, comm=None, *, sequence_parallel=False):
        """This rank's shard of a torch.nn.Linear (its weight columns, the whole bias)."""
        layer = cls(linear.in_features, linear.out_features, comm, bias=linear.bias is not None,
                    sequence_parallel=sequence_parallel, dtype=linear.weight.dtype)
        part = layer.weight.shape[1]
        with torch.no_grad():
            layer.weight.copy_(linear.weight[:, layer.comm.rank * part:(layer.comm.rank + 1) * part])
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def forward(self, x):
        x2, shape_back = _rows(x)
        x2 = x2.contiguous()
        if self.sequence_parallel:
            y = autograd.mm_reduce_scatter(x2, self.weight.t(), self.comm, bias=self.bias)
        else:
            y = autograd.mm_all_reduce(x2, self.weight.t(), self.comm, bias=self.bias)
        return shape_back(y)

    def extra_repr(self):
        return (f"in_features={self.in_features} (this rank: {self.weight.shape[1]}), out_features={self.out_features}, "
                f"ranks={self.comm.size}, sequence_parallel={self.sequence_parallel}")


__all__ = ["ColumnParallelLinear", "RowParallelLinear"]
