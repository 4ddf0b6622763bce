"""The drop-in for Ascend's torch_npu operators: `from tpfuse import torch_npu`
and code that calls torch_npu.npu_mm_reduce_scatter_base,
npu_all_gather_base_mm or npu_mm_all_reduce_base runs on the CPU, with the
hcom from tpfuse.get_comm_name(group) instead of HCCL's."""
from .ops import npu_all_gather_base_mm, npu_mm_all_reduce_base, npu_mm_reduce_scatter_base

__all__ = ["npu_mm_reduce_scatter_base", "npu_all_gather_base_mm", "npu_mm_all_reduce_base"]
