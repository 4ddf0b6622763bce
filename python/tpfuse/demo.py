"""`python -m tpfuse demo`: the reference example of Ascend's
torch_npu.npu_mm_reduce_scatter_base on the CPU. world_size processes in a
gloo group, the hcom from tpfuse.get_comm_name(), input (128, 512) @ x2
(512, 64) in fp16 on every rank, each rank's output checked against the
float64 sum over ranks (bound: fp32 accumulation plus one rounding)."""
import time

DTYPES = ("fp16", "bf16", "fp32")


def _inputs(torch, q, m, k, n, dtype):
    g = torch.Generator().manual_seed(1000 + q)
    return torch.randn(m, k, generator=g).to(dtype), torch.randn(k, n, generator=g).to(dtype)


def _rank(rank, world_size, dtype_name, m, k, n):
    import torch
    import torch.distributed as dist

    import tpfuse
    from tpfuse import torch_npu

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    hcom = tpfuse.get_comm_name()
    a, b = _inputs(torch, rank, m, k, n, dtype)
    torch_npu.npu_mm_reduce_scatter_base(a, b, hcom, world_size)  # warm-up: buffers, threads
    dist.barrier()
    t0 = time.perf_counter()
    out = torch_npu.npu_mm_reduce_scatter_base(a, b, hcom, world_size)
    took = time.perf_counter() - t0
    total = magnitude = 0
    for q in range(world_size):
        aq, bq = (x.double() for x in _inputs(torch, q, m, k, n, dtype))
        total, magnitude = total + aq @ bq, magnitude + aq.abs() @ bq.abs()
    rows = slice(rank * m // world_size, (rank + 1) * m // world_size)
    unit = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8, torch.float32: 2.0**-24}[dtype]
    bound = (k + world_size + 4) * 2.0**-24 * magnitude[rows] + unit * total[rows].abs()
    err = (out.double() - total[rows]).abs()
    line = (f"  rank {rank}: out {out.shape[0]}x{out.shape[1]} {dtype_name}  max |err| {float(err.max()):.4f}"
            f" ({'within' if bool((err <= bound).all()) else 'OUTSIDE'} bound)  {took * 1e6:8.1f} us  "
            f"{'PASS' if bool((err <= bound).all()) else 'FAIL'}")
    lines = [None] * world_size
    dist.all_gather_object(lines, line)
    if rank == 0:
        print("\n".join(lines), flush=True)
    if "FAIL" in line:
        raise SystemExit(f"rank {rank}: output outside the bound")


def main(argv):
    import argparse

    p = argparse.ArgumentParser(prog="python -m tpfuse demo", description=__doc__)
    p.add_argument("--world-size", type=int, default=8, help="processes (default 8, as the reference)")
    p.add_argument("--dtype", choices=DTYPES, default="fp16")
    p.add_argument("--shape", default="128,512,64", help="M,K,N of input (M x K) and x2 (K x N)")
    args = p.parse_args(argv)
    m, k, n = (int(x) for x in args.shape.split(","))
    from . import _launch

    print(f"npu_mm_reduce_scatter_base on {args.world_size} processes (gloo group, tpfuse shared memory): "
          f"input {m}x{k} @ x2 {k}x{n} {args.dtype}", flush=True)
    try:
        _launch.spawn(args.world_size, _rank, args.dtype, m, k, n)
    except Exception as e:  # a rank failed: its own message says why
        print(f"FAIL: {e}")
        return 1
    print("PASS")
    return 0
