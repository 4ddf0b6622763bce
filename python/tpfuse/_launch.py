"""Processes with a gloo group, for `python -m tpfuse demo` and `bench`."""
import os
import shutil
import tempfile


def _entry(rank, world_size, store, fn, args):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def spawn(world_size, fn, *args):
    """fn(rank, world_size, *args) in world_size new processes of one gloo
    group (torch.multiprocessing.spawn); raises if any rank raised."""
    import torch.multiprocessing as mp

    folder = tempfile.mkdtemp(prefix="tpfuse-")  # a file rendezvous: no port to race for
    try:
        mp.spawn(_entry, args=(world_size, os.path.join(folder, "store"), fn, args), nprocs=world_size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
