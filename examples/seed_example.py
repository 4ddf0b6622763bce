"""The example of Ascend's torch_npu.npu_mm_reduce_scatter_base page, on
the CPU with tpfuse. What changed from the original:

- `import torch_npu` -> `from tpfuse import torch_npu` (and `import tpfuse`);
- no torch_npu.npu.set_device and no .npu(): tensors stay on the CPU;
- backend "gloo" instead of "hccl", and a free port instead of 50001;
- hcom from tpfuse.get_comm_name() instead of the HCCL backend's
  get_hccl_comm_name(rank);
- each rank checks its output against float64 (fp32 accumulation plus one
  rounding to fp16), and the program prints PASS.

Run: python3 examples/seed_example.py   (torch 1.13 cannot multiply fp16
on the CPU at all; tpfuse can.)
"""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import tpfuse
from tpfuse import torch_npu


def inputs(rank, x1_shape, x2_shape, dtype):
    g = torch.Generator().manual_seed(rank)
    return torch.randn(x1_shape, generator=g).to(dtype), torch.randn(x2_shape, generator=g).to(dtype)


def run_mm_reduce_scatter_base(rank, world_size, master_ip, master_port, x1_shape, x2_shape, dtype):
    init_method = 'tcp://' + master_ip + ':' + master_port
    dist.init_process_group(backend="gloo", rank=rank, world_size=world_size, init_method=init_method)
    hcomm_info = tpfuse.get_comm_name()

    input_, weight = inputs(rank, x1_shape, x2_shape, dtype)
    output = torch_npu.npu_mm_reduce_scatter_base(input_, weight, hcomm_info, world_size)

    # check: this rank's rows of the float64 sum over ranks of input @ weight
    total = magnitude = 0
    for q in range(world_size):
        a, b = (x.double() for x in inputs(q, x1_shape, x2_shape, dtype))
        total, magnitude = total + a @ b, magnitude + a.abs() @ b.abs()
    rows = x1_shape[0] // world_size
    expected = total[rank * rows:(rank + 1) * rows]
    bound = (x1_shape[1] + world_size) * 2.0**-24 * magnitude[rank * rows:(rank + 1) * rows] \
        + 2.0**-11 * expected.abs()
    error = (output.double() - expected).abs()
    assert output.shape == (rows, x2_shape[1]) and output.dtype == dtype
    assert bool((error <= bound).all()), f"rank {rank}: max error {float(error.max())}"
    print(f"rank {rank}: output {tuple(output.shape)} {output.dtype}, max |error| {float(error.max()):.4f}",
          flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


if __name__ == "__main__":
    worksize = 8
    master_ip = '127.0.0.1'
    master_port = free_port()
    x1_shape = [128, 512]
    x2_shape = [512, 64]
    dtype = torch.float16

    mp.spawn(run_mm_reduce_scatter_base, args=(worksize, master_ip, master_port, x1_shape, x2_shape, dtype),
             nprocs=worksize)
    print("PASS")
