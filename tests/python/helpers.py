"""Running one function on every rank: thread ranks of this process, or
processes with a torch.distributed (gloo) group."""
import multiprocessing
import os
import shutil
import tempfile
import threading
import traceback


def on_threads(comms, fn, timeout=120):
    """[fn(rank, comm) for each rank], each on its own thread at once; an
    exception a rank raised is its result."""
    results = [None] * len(comms)

    def body(rank):
        try:
            results[rank] = fn(rank, comms[rank])
        except BaseException as e:  # the test looks at it
            results[rank] = e

    threads = [threading.Thread(target=body, args=(r,)) for r in range(len(comms))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a rank did not return"
    return results


def raise_any(results):
    for rank, r in enumerate(results):
        if isinstance(r, BaseException):
            raise AssertionError(f"rank {rank} raised {type(r).__name__}: {r}") from r
    return results


def rendezvous_file():
    """A file for torch.distributed's file:// rendezvous (a port picked ahead
    could be taken by another connection before rank 0 binds it)."""
    return os.path.join(tempfile.mkdtemp(prefix="tpf-rdv-"), "store")


def _process_entry(rank, world_size, store, queue, target, args):
    try:
        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
        result = target(rank, world_size, *args)
        queue.put((rank, "ok", result))
    except BaseException:
        queue.put((rank, "error", traceback.format_exc()))


def on_processes(world_size, target, *args, timeout=240):
    """[target(rank, world_size, *args) for each rank], each in its own
    process (spawned) inside a gloo process group of world_size; a rank's
    traceback fails the test."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    store = rendezvous_file()
    procs = [ctx.Process(target=_process_entry, args=(r, world_size, store, queue, target, args))
             for r in range(world_size)]
    for p in procs:
        p.start()
    results, errors = [None] * world_size, []
    try:
        for _ in range(world_size):
            rank, kind, value = queue.get(timeout=timeout)
            if kind == "ok":
                results[rank] = value
            else:
                errors.append(f"rank {rank}:\n{value}")
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    shutil.rmtree(os.path.dirname(store), ignore_errors=True)
    assert not errors, "\n".join(errors)
    return results
