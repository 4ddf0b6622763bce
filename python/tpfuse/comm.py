"""Communicators: tpfuse.Comm, unique ids, and lookup by name (the "hcom").

A communicator is one rank's handle on a group of ranks. Every operator call
is collective: each rank of the group calls it with its own Comm (threads:
each from its own thread). Settings, all optional, as keywords wherever a
communicator is made:

    timeout_ms        longest wait for a peer (TPF_TIMEOUT_MS, default 30000)
    threads_per_rank  compute threads of the rank (TPF_THREADS_PER_RANK;
                      default: the host's cores divided among its ranks)
    algo              default algorithm: 'auto', 'ring', 'direct', 'unfused'
    spin_us           spin before sleeping in a wait (TPF_SPIN_US, default 50)
    isa               GEMM kernels: 'avx512_bf16', 'avx512', 'avx2', 'portable'
    shm_dir           tmpfs for shared memory (TPF_SHM_DIR, default /dev/shm)
"""
import atexit
import ctypes
import threading

from . import _build_info, _lib
from .errors import InvalidArgumentError, UnsupportedError

_live = {}  # name -> Comm, for the operators' hcom argument
_live_lock = threading.Lock()


def unique_id():
    """A fresh unique id, as text ("tpf1-...:host"): make it in one process and
    hand it to every rank of a new communicator (Comm.from_unique_id)."""
    lib = _lib.core()
    uid = _lib.UniqueId()
    lib.check(lib.tpf_get_unique_id(ctypes.byref(uid)))
    text = ctypes.create_string_buffer(128)
    lib.check(lib.tpf_unique_id_to_string(ctypes.byref(uid), text, len(text)))
    return text.value.decode()


def find_comm(name):
    """The live Comm of this process with that name (the hcom string), or None."""
    return _live.get(name)


class Comm:
    """One rank of a tpfuse communicator.

    Make one with Comm.threads (ranks are threads of this process),
    Comm.from_unique_id (processes on one host, over shared memory),
    Comm.from_mpi (the processes of an mpi4py communicator, on any hosts), or
    tpfuse.get_comm_name (from a torch.distributed group). `.name` is the hcom
    string the torch_npu-style operators take; `.rank` and `.size` say where
    this rank stands. close() (or leaving a `with` block) releases it after
    the rank's last call; abort() makes every rank's waiting or later calls
    fail with AbortedError, from any thread.
    """

    __slots__ = ("_lib", "_handle", "name", "rank", "size", "__weakref__")

    def __init__(self, lib, handle):
        self._lib, self._handle = lib, handle
        self.rank = lib.tpf_comm_rank(handle)
        self.size = lib.tpf_comm_size(handle)
        self.name = lib.tpf_comm_name(handle).decode()
        with _live_lock:
            _live[self.name] = self

    # ------------------------------------------------------------ makers

    @classmethod
    def threads(cls, world_size, **settings):
        """world_size communicators whose ranks are threads of this process:
        comms[r] is used by the thread acting as rank r. Returns a list that
        also closes them all as a context manager (`with Comm.threads(4) as comms:`)."""
        lib = _lib.core()
        world_size = _lib.c_int_arg("world_size", world_size, 1)
        cfg = _lib.make_config(**settings)
        handles = (ctypes.c_void_p * world_size)()
        lib.check(lib.tpf_comm_init_all(handles, world_size, ctypes.byref(cfg)))
        return CommList(cls(lib, h) for h in handles)

    @classmethod
    def from_unique_id(cls, unique_id, rank, world_size, **settings):
        """This process as `rank` of world_size processes on this host, over
        shared memory; every rank passes the same id (from tpfuse.unique_id(),
        or None to read TPF_UNIQUE_ID). Waits up to the timeout for every rank."""
        lib = _lib.core()
        uid = _lib.UniqueId()
        if unique_id is not None:
            if not isinstance(unique_id, str):
                raise InvalidArgumentError(f"unique_id={unique_id!r} must be the text from tpfuse.unique_id()")
            lib.check(lib.tpf_unique_id_from_string(unique_id.encode(), ctypes.byref(uid)))
        cfg = _lib.make_config(**settings)
        handle = ctypes.c_void_p()
        lib.check(lib.tpf_comm_init_rank(ctypes.byref(handle), _lib.c_int_arg("world_size", world_size, 1), uid,
                                         _lib.c_int_arg("rank", rank), ctypes.byref(cfg)))
        return cls(lib, handle.value)

    @classmethod
    def from_mpi(cls, mpi_comm, **settings):
        """This process's rank of a communicator over every process of an
        mpi4py communicator (collective over it; ranks are its ranks). Ranks
        of one host talk through shared memory, others by MPI messages. The
        package's libtpfuse_mpi must be built with the MPI that mpi4py loads."""
        mpi, lib = _lib.mpi(), _lib.core()
        vendor = _mpi4py_vendor(mpi_comm)
        if vendor != _build_info.MPI_VENDOR:
            raise UnsupportedError(f"mpi4py runs {vendor} but this tpfuse was built with {_build_info.MPI_VENDOR}: "
                                   "reinstall tpfuse where mpi4py is installed (it builds with mpi4py's MPI)")
        cfg = _lib.make_config(**settings)
        handle = ctypes.c_void_p()
        lib.check(mpi.tpf_comm_init_mpi_f(ctypes.byref(handle), mpi_comm.py2f(), ctypes.byref(cfg)))
        _close_before_mpi_finalize()
        return cls(lib, handle.value)

    # ------------------------------------------------------------ use

    @property
    def closed(self):
        return self._handle is None

    @property
    def handle(self):
        """The tpf_comm_t pointer, for the library's calls."""
        if self._handle is None:
            raise InvalidArgumentError(f"communicator {self.name} is closed")
        return self._handle

    def abort(self):
        """Marks the whole communicator (every rank) aborted: calls waiting in
        it, and every later call, fail with AbortedError. Any thread, any time
        before close()."""
        if self._handle is not None:
            self._lib.check(self._lib.tpf_comm_abort(self._handle))

    def close(self):
        """Releases this rank (after its last call has returned). Closing twice is a no-op."""
        with _live_lock:
            handle, self._handle = self._handle, None
            if _live.get(self.name) is self:
                del _live[self.name]
        if handle is not None:
            self._lib.check(self._lib.tpf_comm_destroy(handle))

    def reject(self, error):
        """Takes this rank's part in a collective call it refused with
        `error` (a tpfuse.Error) before calling the library, so that the
        peers fail at once with its words (PeerError) instead of waiting."""
        from .errors import CODE_OF

        code = CODE_OF.get(getattr(error, "status", None), -1)
        self._lib.tpf_comm_reject(self.handle, code, str(error).encode(errors="replace"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else f"rank {self.rank} of {self.size}"
        return f"<tpfuse.Comm {self.name}: {state}>"


class CommList(list):
    """The communicators of Comm.threads, one per rank; closes them all on `with` exit."""

    def close(self):
        for comm in self:
            comm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _mpi4py_vendor(mpi_comm):
    try:
        from mpi4py import MPI
    except ImportError:
        raise UnsupportedError("Comm.from_mpi takes an mpi4py communicator, and mpi4py is not installed "
                               "(apt-get install python3-mpi4py)") from None
    if not isinstance(mpi_comm, MPI.Comm):
        raise InvalidArgumentError(f"mpi_comm is a {type(mpi_comm).__name__}: pass an mpi4py communicator "
                                   "(e.g. MPI.COMM_WORLD)")
    return MPI.get_vendor()[0]


def close_all():
    """Closes every communicator this process still holds (at exit)."""
    for comm in reversed(list(_live.values())):
        try:
            comm.close()
        except Exception:  # exit goes on: the communicator may have failed
            pass


_atexit_after_mpi = []


def _close_before_mpi_finalize():
    # mpi4py finalizes MPI at exit; handlers registered after its import run
    # first, so the MPI communicators go before MPI does.
    if not _atexit_after_mpi:
        _atexit_after_mpi.append(True)
        atexit.register(close_all)


atexit.register(close_all)
