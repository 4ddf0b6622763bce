"""tpfuse: tensor-parallel fused matmul + collective operators for CPUs.

For PyTorch code written for Ascend's torch_npu, change the import:

    from tpfuse import torch_npu
    hcom = tpfuse.get_comm_name()            # for the default process group
    out = torch_npu.npu_mm_reduce_scatter_base(input, weight, hcom, world_size)

The operators (collective: every rank of the communicator calls them):

    npu_mm_reduce_scatter_base(input, x2, hcom, world_size, *, reduce_op='sum', bias=None, comm_turn=0)
    npu_all_gather_base_mm(input, x2, hcom, world_size, *, bias=None, gather_index=0, gather_output=True,
                           comm_turn=0) -> (out, gathered)
    npu_mm_all_reduce_base(x1, x2, hcom, *, reduce_op='sum', bias=None, x3=None, comm_turn=0)
    mm_reduce_scatter(a, b, comm, *, reduce_op, bias, comm_turn, algo, row_counts, out)
    all_gather_mm(a, b, comm, *, bias, comm_turn, algo, row_counts, gather_output, out, gathered_out)
    mm_all_reduce(a, b, comm, *, reduce_op, bias, addend, bias_per_rank, comm_turn, algo, row_counts, out)
    reduce_scatter(x, comm, ...), all_gather(x, comm, ...), all_reduce(x, comm, ...)
and, not collective, gemm(a, b, *, bias, out, out_dtype, accumulate, comm).

Communicators: get_comm_name(group) for a torch.distributed group; Comm
(threads, from_unique_id, from_mpi) without it; find_comm(name). Errors:
tpfuse.Error and one subclass per status (see tpfuse.errors).

Inputs are CPU torch tensors (float16, bfloat16, float32) or numpy arrays
(float16, float32), read in place; `python -m tpfuse demo` runs Ascend's
reference example, `python -m tpfuse bench` times the operator against
torch.matmul with gloo.
"""
from ._build_info import VERSION as __version__
from .comm import Comm, CommList, find_comm, unique_id
from .distributed import close_comm, get_comm_name
from .errors import (AbortedError, DtypeError, Error, InternalError, InvalidArgumentError, MismatchError,
                     OutOfMemoryError, PeerError, SystemCallError, TimeoutError, UnsupportedError)
from .ops import (all_gather, all_gather_mm, all_reduce, gemm, mm_all_reduce, mm_reduce_scatter,
                  npu_all_gather_base_mm, npu_mm_all_reduce_base, npu_mm_reduce_scatter_base, reduce_scatter)
from . import torch_npu  # noqa: E402 (the drop-in module)

__all__ = [
    "Comm", "CommList", "find_comm", "unique_id", "get_comm_name", "close_comm",
    "npu_mm_reduce_scatter_base", "npu_all_gather_base_mm", "npu_mm_all_reduce_base", "mm_reduce_scatter",
    "all_gather_mm", "mm_all_reduce", "reduce_scatter", "all_gather", "all_reduce", "gemm", "torch_npu",
    "Error", "InvalidArgumentError", "DtypeError", "UnsupportedError", "OutOfMemoryError", "SystemCallError",
    "TimeoutError", "PeerError", "MismatchError", "AbortedError", "InternalError",
]
