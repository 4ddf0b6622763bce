"""`python -m tpfuse bench --mlp`: one training step (forward and backward)
of a tensor-parallel MLP, Linear(h, 4h) -> GELU -> Linear(4h, h) with a
mean-squared loss, built from tpfuse.nn's layers, against the same model
as a PyTorch user writes it without tpfuse: torch's linear layers with
gloo collectives in autograd Functions (all_reduce, all_gather; gloo in
torch 1.13 has no reduce_scatter and no bf16, so bf16 travels as fp32).

Plain: every rank holds the whole batch; the row-parallel output is
all-reduced. Sequence-parallel (sp): each rank holds a block of the
tokens; the column-parallel input is all-gathered and the row-parallel
output reduce-scattered (backward the reverse). Timed as `bench` times the
operator: alternating rounds of bursts after a barrier, the slowest rank's
time per step, medians with the [min-max] spread. Beside them, the torch
way's arithmetic with no communication at all: its floor, and so the most
any step multiplying as fast as torch could gain over it. The two losses
of the first step are compared (the relative difference is printed).
"""
import json
import os

DEFAULT_SHAPES = ["512,1024", "2048,512"]  # tokens, hidden


def _collectives(torch, dist):
    """The autograd Functions a user writes over gloo (fp32 on the wire)."""

    def summed(x):
        y = x.float().contiguous()
        dist.all_reduce(y)
        return y

    def gathered(x, world_size):
        parts = [torch.empty_like(x, dtype=torch.float32) for _ in range(world_size)]
        dist.all_gather(parts, x.float().contiguous())
        return torch.cat(parts)

    class AllReduce(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return summed(x).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            return grad

    class ReduceScatter(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, rank, world_size):
            ctx.world_size = world_size
            return summed(x).chunk(world_size)[rank].to(x.dtype).contiguous()

        @staticmethod
        def backward(ctx, grad):
            return gathered(grad, ctx.world_size).to(grad.dtype), None, None

    class AllGather(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, rank, world_size):
            ctx.rank, ctx.world_size = rank, world_size
            return gathered(x, world_size).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            return summed(grad).chunk(ctx.world_size)[ctx.rank].to(grad.dtype).contiguous(), None, None

    return AllReduce, ReduceScatter, AllGather


def _rank(rank, world_size, configs, reps, results_path):
    import torch
    import torch.distributed as dist

    from . import bench, get_comm_name
    from .nn import ColumnParallelLinear, RowParallelLinear

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    hcom = get_comm_name()
    AllReduce, ReduceScatter, AllGather = _collectives(torch, dist)
    gelu = torch.nn.functional.gelu
    lines = []
    for tokens, hidden, dtype_name, sp in configs:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
        torch.manual_seed(0)
        fc1, fc2 = torch.nn.Linear(hidden, 4 * hidden).to(dtype), torch.nn.Linear(4 * hidden, hidden).to(dtype)
        x = torch.randn(tokens, hidden).to(dtype)
        mine = x.chunk(world_size)[rank].contiguous() if sp else x
        col = ColumnParallelLinear.from_linear(fc1, hcom, sequence_parallel=sp)
        row = RowParallelLinear.from_linear(fc2, hcom, sequence_parallel=sp)
        # the torch way: the same shards as leaf tensors
        w1, b1 = col.weight.detach().clone().requires_grad_(), col.bias.detach().clone().requires_grad_()
        w2, b2 = row.weight.detach().clone().requires_grad_(), row.bias.detach().clone().requires_grad_()
        params = {"tpfuse": list(col.parameters()) + list(row.parameters()), "torch+gloo": [w1, b1, w2, b2],
                  "torch alone": [w1, b1, w2, b2]}

        def tpfuse_step():
            loss = row(gelu(col(mine))).float().square().mean()
            loss.backward()
            return loss

        def torch_step():
            full = AllGather.apply(mine, rank, world_size) if sp else mine
            partial = torch.nn.functional.linear(gelu(torch.nn.functional.linear(full, w1, b1)), w2)
            out = (ReduceScatter.apply(partial, rank, world_size) if sp else AllReduce.apply(partial)) + b2
            loss = out.float().square().mean()
            loss.backward()
            return loss

        def local_step():  # the torch way's arithmetic with no communication: what the step costs at least
            full = mine.repeat(world_size, 1) if sp else mine
            partial = torch.nn.functional.linear(gelu(torch.nn.functional.linear(full, w1, b1)), w2)
            out = (partial.chunk(world_size)[rank] if sp else partial) + b2
            loss = out.float().square().mean()
            loss.backward()
            return loss

        steps = {"tpfuse": tpfuse_step, "torch+gloo": torch_step, "torch alone": local_step}
        first = {name: float(step().detach()) for name, step in steps.items() if name != "torch alone"}
        difference = abs(first["tpfuse"] - first["torch+gloo"]) / max(abs(first["torch+gloo"]), 1e-30)

        def clear(name):
            for p in params[name]:
                p.grad = None

        variants = {name: (lambda n=name, s=step: (clear(n), s())) for name, step in steps.items()}
        slowest = bench._time_rounds(torch, dist, variants, reps, world_size, seconds=0.05)
        stats = {name: bench._median_spread(v, 1e3) for name, v in slowest.items()}
        speedup = stats["torch+gloo"][0] / stats["tpfuse"][0]
        bound = stats["torch+gloo"][0] / stats["torch alone"][0]  # the most a step with torch's arithmetic gains
        lines.append({"bound": bound, "tokens": tokens, "hidden": hidden, "dtype": dtype_name, "world_size": world_size,
                      "mode": "sp" if sp else "plain", "ms": {n: s[0] for n, s in stats.items()},
                      "spread_ms": {n: [s[1], s[2]] for n, s in stats.items()}, "speedup": speedup,
                      "loss_difference": difference})
        if rank == 0:
            print(f"{tokens:6d} {hidden:6d} {dtype_name:5s} {world_size:2d} {'sp' if sp else 'plain':5s} |"
                  f"{_fmt_ms(stats['torch+gloo'])} |{_fmt_ms(stats['tpfuse'])} | {speedup:6.2f}x |"
                  f"{_fmt_ms(stats['torch alone'])} | {bound:5.2f}x | {difference:.1e}",
                  flush=True)
    if rank == 0 and results_path:
        with open(results_path, "w") as f:
            json.dump(lines, f)


def _fmt_ms(stats):
    med, lo, hi = stats
    return f"{med:9.2f} [{lo:.2f}-{hi:.2f}]"


def main(args):
    """Runs the sweep for bench.main's parsed args; returns (report lines, failed)."""
    import tempfile

    from . import _launch, bench

    shapes = [tuple(int(x) for x in s.split(",")) for s in (args.shape or DEFAULT_SHAPES)]
    if any(len(s) != 2 for s in shapes):
        raise SystemExit("--mlp takes --shape TOKENS,HIDDEN")
    configs = [(t, h, d, sp) for t, h in shapes for d in args.dtype.split(",") for sp in (False, True)]
    print("one step (forward + backward) in ms: median [min-max] of the slowest rank; speedup = torch+gloo / tpfuse;\n"
          "torch alone = the torch way's arithmetic without communication (its floor), bound = torch+gloo / torch alone\n"
          "(the most any step that multiplies as torch does could gain); loss diff = |loss_tpfuse - loss_torch| /\n"
          "loss_torch at the first step")
    print("tokens hidden dtype  W mode  |      torch+gloo       |        tpfuse         | speedup |"
          "      torch alone      | bound | loss diff")
    lines = []
    for world_size in (int(w) for w in args.world_size.split(",")):
        bench._share_cores(world_size)
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            _launch.spawn(world_size, _rank, configs, args.reps, tmp.name)
            with open(tmp.name) as f:
                lines += json.load(f)
    failed = any(line["loss_difference"] > (1e-5 if line["dtype"] == "fp32" else 2e-2) for line in lines)
    return lines, failed
