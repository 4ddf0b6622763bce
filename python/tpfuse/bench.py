"""`python -m tpfuse bench`: npu_mm_reduce_scatter_base against what a
PyTorch user does without it, in one run, on the same inputs:
torch.matmul, then dist.all_reduce over gloo and this rank's rows (gloo in
torch 1.13 has no reduce_scatter and no bf16: bf16 partials are summed in
fp32 and rounded back). world_size processes in a gloo group; each rank
gives torch and its BLAS (cores / world_size) threads, as tpfuse does itself.

Every configuration is timed in alternating rounds (tpfuse, the torch way,
the matmul alone, the all_reduce alone; the order reversed every other
round). In a round each is a burst of back-to-back calls (about 20 ms, the
same count on every rank) after a barrier, as a training loop calls them;
a round's time per call is the slowest rank's.
Printed: medians with the [min-max] spread, the speedup of tpfuse over the
torch way, and the count of tpfuse's output elements outside the float64
bound (the exit status is 1 if any). First, the Python layer's own cost
per call (W = 1, 16 x 16 x 16): the operator as called against the bare C
call through ctypes with its arguments made once.
"""
import json
import os
import statistics
import time

DEFAULT_SHAPES = ["128,512,64", "512,512,512", "1024,1024,1024", "2048,256,2048", "256,4096,1024"]


def _median_spread(values, scale=1e6):
    v = sorted(x * scale for x in values)
    return statistics.median(v), v[0], v[-1]


def _fmt(stats):
    med, lo, hi = stats
    return f"{med:10.1f} [{lo:.0f}-{hi:.0f}]"


# --------------------------------------------------------------- overhead

def overhead(calls=2000, rounds=15):
    """(operator, operator with out=, bare C call) medians in us per call."""
    import ctypes

    import torch

    import tpfuse
    from tpfuse import _lib

    with tpfuse.Comm.threads(1) as (comm,):
        a, b, out = torch.randn(16, 16), torch.randn(16, 16), torch.empty(16, 16)
        ma, mb, mo = (_lib.Matrix(x.data_ptr(), _lib.FLOAT32, 16, 16, 16, 0) for x in (a, b, out))
        opt = _lib.MmOptions(ctypes.sizeof(_lib.MmOptions), 0, None, 0, None, 0, 0, None)
        lib, handle, ref = comm._lib, comm.handle, ctypes.byref

        def bare():
            lib.tpf_mm_reduce_scatter(handle, ref(ma), ref(mb), ref(mo), ref(opt))

        variants = {
            "npu_mm_reduce_scatter_base": lambda: tpfuse.npu_mm_reduce_scatter_base(a, b, comm.name, 1),
            "mm_reduce_scatter(out=)": lambda: tpfuse.mm_reduce_scatter(a, b, comm, out=out),
            "bare C call (ctypes)": bare,
        }
        times = {name: [] for name in variants}
        for r in range(rounds):
            for name, fn in (variants.items() if r % 2 == 0 else reversed(list(variants.items()))):
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                times[name].append((time.perf_counter() - t0) / calls)
    return {name: _median_spread(t) for name, t in times.items()}


# ------------------------------------------------------------------ sweep

def _rank(rank, world_size, shapes, dtypes, reps, results_path):
    import torch
    import torch.distributed as dist

    import tpfuse

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    hcom = tpfuse.get_comm_name()
    rows_of = lambda m: slice(rank * m // world_size, (rank + 1) * m // world_size)  # noqa: E731
    lines = []
    for shape in shapes:
        m, k, n = shape
        for dtype_name in dtypes:
            dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
            g = torch.Generator().manual_seed(rank)
            a = torch.randn(m, k, generator=g).to(dtype)
            b = torch.randn(k, n, generator=g).to(dtype)
            rows = rows_of(m)
            partial32 = torch.zeros(m, n)

            def fused():
                return tpfuse.npu_mm_reduce_scatter_base(a, b, hcom, world_size)

            def torch_way():
                c = torch.matmul(a, b)
                if c.dtype != torch.float32:
                    c = c.float()
                dist.all_reduce(c)
                return c[rows].to(dtype)

            variants = {"tpfuse": fused, "torch+gloo": torch_way, "matmul": lambda: torch.matmul(a, b),
                        "all_reduce": lambda: dist.all_reduce(partial32)}
            slowest = _time_rounds(torch, dist, variants, reps, world_size)
            wrong = _count_wrong(torch, dist, fused(), a, b, rows, world_size, dtype)
            stats = {name: _median_spread(v) for name, v in slowest.items()}
            lines.append({"m": m, "k": k, "n": n, "dtype": dtype_name, "world_size": world_size,
                          "us": {name: s[0] for name, s in stats.items()},
                          "spread_us": {name: [s[1], s[2]] for name, s in stats.items()},
                          "speedup": stats["torch+gloo"][0] / stats["tpfuse"][0], "wrong": wrong})
            if rank == 0:
                print(f"{m:5d} {k:5d} {n:5d} {dtype_name:5s} {world_size:2d} |{_fmt(stats['torch+gloo'])} |"
                      f"{_fmt(stats['tpfuse'])} | {lines[-1]['speedup']:6.2f}x |{_fmt(stats['matmul'])} |"
                      f"{_fmt(stats['all_reduce'])} | {wrong}", flush=True)
    if rank == 0 and results_path:
        with open(results_path, "w") as f:
            json.dump(lines, f)


def _time_rounds(torch, dist, variants, reps, world_size, seconds=0.02):
    """{name: [the slowest rank's seconds per call, one per round]}: reps
    rounds of a burst of each variant after a barrier, the order reversed
    every other round."""
    calls = _burst(torch, dist, variants.values(), seconds)
    times = {name: [] for name in variants}
    for r in range(reps):
        for name, fn in (variants.items() if r % 2 == 0 else reversed(list(variants.items()))):
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t0) / calls)
    everyone = [None] * world_size
    dist.all_gather_object(everyone, times)
    return {name: [max(t[name][i] for t in everyone) for i in range(reps)] for name in variants}


def _burst(torch, dist, fns, seconds=0.02):
    """Calls per timed burst, the same on every rank: enough for about
    `seconds` of the slowest variant, so that a burst is not dominated by
    how unevenly the ranks leave the barrier before it."""
    slowest = 0.0
    for fn in fns:
        fn()  # warm-up: buffers, threads, packing space
        t0 = time.perf_counter()
        fn()
        slowest = max(slowest, time.perf_counter() - t0)
    t = torch.tensor([slowest])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return max(1, min(200, int(seconds / max(float(t), 1e-9))))


def _share_cores(world_size):
    """Each rank's torch, and the BLAS under it (whose threads otherwise
    keep spinning on every core after a product), gets cores / world_size
    threads, as tpfuse gives itself; set before the ranks load them."""
    share = str(max(1, (os.cpu_count() or 1) // world_size))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = share


def _count_wrong(torch, dist, out, a, b, rows, world_size, dtype):
    """Elements of out outside the float64 bound (fp32 accumulation, one rounding), over all ranks."""
    total = a.double() @ b.double()
    magnitude = a.double().abs() @ b.double().abs()
    dist.all_reduce(total)
    dist.all_reduce(magnitude)
    unit = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8}[dtype]
    bound = (a.shape[1] + world_size + 4) * 2.0**-24 * magnitude[rows] + unit * total[rows].abs()
    wrong = torch.tensor([int(((out.double() - total[rows]).abs() > bound).sum())])
    dist.all_reduce(wrong)
    return int(wrong)


def main(argv):
    import argparse
    import tempfile

    p = argparse.ArgumentParser(prog="python -m tpfuse bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-size", default="2,4", help="comma-separated process counts (default 2,4)")
    p.add_argument("--dtype", default="fp32,bf16", help="fp32, bf16 or both (default)")
    p.add_argument("--shape", action="append", help=f"M,K,N (repeatable; default {' '.join(DEFAULT_SHAPES)})")
    p.add_argument("--reps", type=int, default=10, help="timed rounds per configuration (default 10)")
    p.add_argument("--json", help="write every configuration's figures to this file")
    p.add_argument("--no-overhead", action="store_true", help="skip the Python layer's cost")
    p.add_argument("--mlp", action="store_true",
                   help="time a tensor-parallel MLP training step instead (tpfuse.nn against torch + gloo; "
                        "--shape TOKENS,HIDDEN, default 512,1024 and 2048,512): see tpfuse.bench_mlp")
    args = p.parse_args(argv)
    if args.mlp:
        from . import bench_mlp

        lines, failed = bench_mlp.main(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mlp": lines}, f, indent=1)
        print("all losses agree" if not failed else "LOSSES DIFFER")
        return 1 if failed else 0
    shapes = [tuple(int(x) for x in s.split(",")) for s in (args.shape or DEFAULT_SHAPES)]
    dtypes = args.dtype.split(",")
    if any(d not in ("fp32", "bf16") for d in dtypes):
        p.error("--dtype takes fp32 and bf16 (torch 1.13 cannot multiply fp16 on the CPU)")
    from . import _launch

    report = {"overhead_us": {}, "sweep": []}
    if not args.no_overhead:
        print("Python layer, W = 1, 16 x 16 x 16 fp32: us per call, median [min-max] of 15 rounds")
        for name, stats in overhead().items():
            report["overhead_us"][name] = stats[0]
            print(f"  {name:28s} {stats[0]:7.2f} [{stats[1]:.2f}-{stats[2]:.2f}]")
        layer = report["overhead_us"]["npu_mm_reduce_scatter_base"] - report["overhead_us"]["bare C call (ctypes)"]
        print(f"  the layer's own cost: {layer:.2f} us per call\n")
    print("times in us: median [min-max] of the slowest rank; speedup = torch+gloo / tpfuse;"
          " #wrong = tpfuse elements outside the float64 bound")
    print("    m     k     n dtype  W |    torch+gloo     |      tpfuse       | speedup |"
          "      matmul       |    all_reduce     | #wrong")
    wrong = 0
    for world_size in (int(w) for w in args.world_size.split(",")):
        _share_cores(world_size)
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            _launch.spawn(world_size, _rank, shapes, dtypes, args.reps, tmp.name)
            with open(tmp.name) as f:
                lines = json.load(f)
        report["sweep"] += lines
        wrong += sum(line["wrong"] for line in lines)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print("all results verified" if wrong == 0 else f"{wrong} WRONG elements")
    return 0 if wrong == 0 else 1
