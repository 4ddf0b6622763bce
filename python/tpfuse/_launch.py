"""Processes with a gloo group, for `python -m tpfuse demo` and `bench`."""
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, world_size, port, fn, args):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def spawn(world_size, fn, *args):
    """fn(rank, world_size, *args) in world_size new processes of one gloo
    group (torch.multiprocessing.spawn); raises if any rank raised."""
    import torch.multiprocessing as mp

    mp.spawn(_entry, args=(world_size, free_port(), fn, args), nprocs=world_size)
