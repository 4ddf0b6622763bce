"""A small tensor-parallel MLP trained on several processes with tpfuse's
layers, and the same model trained whole in one process: the losses agree.

The model is Linear(h, 4h) -> GELU -> Linear(4h, h) with a mean-squared
loss and plain SGD. Split over W processes (torch.distributed with gloo,
the communicator from tpfuse.get_comm_name()), the first layer is a
ColumnParallelLinear and the second a RowParallelLinear, each rank holding
its shard of the whole model's initial weights:

- plain: every rank sees the whole batch; forward ends in MatmulAllReduce,
  the input's gradient in backward too;
- --sequence-parallel: each rank holds a block of the tokens; forward runs
  AllGatherMatmul then MatmulReduceScatter, backward the reverse.

Run: python3 examples/tp_mlp.py [--world-size 2] [--steps 8] [--sequence-parallel]
Prints the loss of every step both ways and PASS when they agree to 1e-5.
"""
import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import tpfuse
from tpfuse.nn import ColumnParallelLinear, RowParallelLinear

HIDDEN, TOKENS, LR = 32, 64, 0.3


def whole_model():
    torch.manual_seed(1234)
    return torch.nn.Linear(HIDDEN, 4 * HIDDEN), torch.nn.Linear(4 * HIDDEN, HIDDEN)


def batch(step):
    g = torch.Generator().manual_seed(step)
    x = torch.randn(TOKENS, HIDDEN, generator=g)
    return x, torch.sin(x) + 0.1 * torch.randn(TOKENS, HIDDEN, generator=g)


def train_whole(steps):
    fc1, fc2 = whole_model()
    params = list(fc1.parameters()) + list(fc2.parameters())
    losses = []
    for step in range(steps):
        x, target = batch(step)
        loss = (fc2(torch.nn.functional.gelu(fc1(x))) - target).square().mean()
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        losses.append(loss.item())
    return losses


def train_rank(rank, world_size, store, steps, sequence_parallel, results):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    comm = tpfuse.get_comm_name()
    fc1, fc2 = whole_model()
    col = ColumnParallelLinear.from_linear(fc1, comm, sequence_parallel=sequence_parallel)
    row = RowParallelLinear.from_linear(fc2, comm, sequence_parallel=sequence_parallel)
    params = list(col.parameters()) + list(row.parameters())
    losses = []
    for step in range(steps):
        x, target = batch(step)
        if sequence_parallel:  # this rank's tokens
            x, target = x.chunk(world_size)[rank], target.chunk(world_size)[rank]
        out = row(torch.nn.functional.gelu(col(x)))
        loss = (out - target).square().sum() / (TOKENS * HIDDEN)  # this rank's share of the mean
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        total = loss.detach().reshape(1, 1)
        if sequence_parallel:  # the shares of every rank
            total = tpfuse.all_reduce(total, comm)
        losses.append(total.item())
    if rank == 0:
        results.put(losses)
    tpfuse.close_comm()
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--sequence-parallel", action="store_true")
    args = parser.parse_args()
    store = os.path.join(tempfile.mkdtemp(prefix="tpf-mlp-"), "store")
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(train_rank, args=(args.world_size, store, args.steps, args.sequence_parallel, results),
             nprocs=args.world_size)
    parallel = results.get()
    whole = train_whole(args.steps)
    how = "sequence-parallel" if args.sequence_parallel else "plain"
    print(f"step  one process   {args.world_size} processes ({how})")
    for step, (a, b) in enumerate(zip(whole, parallel)):
        print(f"{step:4d}  {a:.7f}   {b:.7f}")
    worst = max(abs(a - b) / abs(a) for a, b in zip(whole, parallel))
    print("PASS" if worst < 1e-5 else f"FAIL: losses differ by {worst:.3g} (relative)")
    raise SystemExit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main()
