"""The ctypes binding over libtpfuse: its structs, its functions' signatures,
and statuses turned into exceptions.

ctypes releases the GIL for the length of every call into the library, so
thread ranks of one process run their calls at once. The package ships
libtpfuse.so.0 (and its MPI add-on libtpfuse_mpi.so.0, which holds only
the MPI entry points and uses libtpfuse, where built with MPI) beside this
file.
"""
import ctypes
import os
import threading

from . import _build_info
from .errors import BY_CODE, InternalError, InvalidArgumentError, UnsupportedError

c_int, c_int64, c_size_t, c_void_p, c_char_p = ctypes.c_int, ctypes.c_int64, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p

FLOAT16, BFLOAT16, FLOAT32 = 0, 1, 2
SUM, AVG = 0, 1
ALGOS = {"auto": 0, "unfused": 1, "ring": 2, "direct": 3}


class Matrix(ctypes.Structure):
    """tpf_matrix_t: a row-major view (or its transpose) of caller memory."""

    _fields_ = [("data", c_void_p), ("dtype", c_int), ("rows", c_int64), ("cols", c_int64),
                ("ld", c_int64), ("transposed", c_int)]


class Config(ctypes.Structure):
    """tpf_config_t."""

    _fields_ = [("size", c_size_t), ("threads_per_rank", c_int), ("timeout_ms", c_int), ("algo", c_int),
                ("spin_us", c_int), ("isa", c_char_p), ("shm_dir", c_char_p)]


class MmOptions(ctypes.Structure):
    """tpf_mm_options_t."""

    _fields_ = [("size", c_size_t), ("reduce_op", c_int), ("bias", c_void_p), ("comm_turn", c_int),
                ("row_counts", ctypes.POINTER(c_int64)), ("algo", c_int), ("bias_len", c_int64), ("trace", c_void_p),
                ("addend", ctypes.POINTER(Matrix)), ("bias_per_rank", c_int)]


class GemmOptions(ctypes.Structure):
    """tpf_gemm_options_t."""

    _fields_ = [("size", c_size_t), ("bias", c_void_p), ("bias_len", c_int64), ("accumulate", c_int)]


class UniqueId(ctypes.Structure):
    """tpf_unique_id_t."""

    _fields_ = [("bytes", ctypes.c_ubyte * 128)]


_P = ctypes.POINTER
_SIGNATURES = {
    "tpf_version": (c_char_p, []),
    "tpf_status_string": (c_char_p, [c_int]),
    "tpf_last_error": (c_char_p, []),
    "tpf_cpu_features": (c_char_p, []),
    "tpf_gemm_kernel": (c_char_p, []),
    "tpf_get_unique_id": (c_int, [_P(UniqueId)]),
    "tpf_unique_id_to_string": (c_int, [_P(UniqueId), c_char_p, c_size_t]),
    "tpf_unique_id_from_string": (c_int, [c_char_p, _P(UniqueId)]),
    "tpf_comm_init_all": (c_int, [_P(c_void_p), c_int, _P(Config)]),
    "tpf_comm_init_rank": (c_int, [_P(c_void_p), c_int, UniqueId, c_int, _P(Config)]),
    "tpf_comm_abort": (c_int, [c_void_p]),
    "tpf_comm_destroy": (c_int, [c_void_p]),
    "tpf_comm_rank": (c_int, [c_void_p]),
    "tpf_comm_size": (c_int, [c_void_p]),
    "tpf_comm_name": (c_char_p, [c_void_p]),
    "tpf_comm_reject": (c_int, [c_void_p, c_int, c_char_p]),
    "tpf_mm_reduce_scatter": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_reduce_scatter": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_all_gather_mm": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_mm_all_reduce": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_all_gather": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_all_reduce": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(MmOptions)]),
    "tpf_gemm": (c_int, [c_void_p, _P(Matrix), _P(Matrix), _P(Matrix), _P(GemmOptions)]),
}
_MPI_SIGNATURES = {"tpf_comm_init_mpi_f": (c_int, [_P(c_void_p), c_int, _P(Config)])}
_CORE, _MPI = "libtpfuse.so.0", "libtpfuse_mpi.so.0"


class Library:
    """One loaded libtpfuse (or libtpfuse_mpi): its functions as attributes."""

    def __init__(self, filename, signatures):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)
        if not os.path.exists(path):
            raise UnsupportedError(f"{filename} is not in the tpfuse package ({os.path.dirname(path)}); "
                                   "install the package with `pip install --no-build-isolation .` from tpfuse's "
                                   "source tree", "TPF_ERR_UNSUPPORTED")
        self.path = path
        self.cdll = ctypes.CDLL(path)
        for name, (restype, argtypes) in signatures.items():
            fn = getattr(self.cdll, name)
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)

    def error(self, status):
        """The exception for a failed call's status, in the library's words (this thread's last error)."""
        cls = BY_CODE.get(status, InternalError)
        name = (self.tpf_status_string(status) or b"TPF_UNKNOWN_STATUS").decode()
        return cls((self.tpf_last_error() or b"").decode(errors="replace"), name)

    def check(self, status):
        if status != 0:
            raise self.error(status)


_lock = threading.Lock()
_core = None
_mpi = None


def core():
    """libtpfuse, loaded on first use."""
    global _core
    if _core is None:
        with _lock:
            if _core is None:
                _core = Library(_CORE, _SIGNATURES)
    return _core


def mpi():
    """libtpfuse_mpi (the MPI entry points; errors and communicators are
    libtpfuse's, which it loads first), on first use."""
    global _mpi
    if _mpi is None:
        if not _build_info.MPI_VENDOR:
            raise UnsupportedError("this tpfuse was built without MPI (CMake found none): install libopenmpi-dev "
                                   "and reinstall the package", "TPF_ERR_UNSUPPORTED")
        core()
        with _lock:
            if _mpi is None:
                _mpi = Library(_MPI, _MPI_SIGNATURES)
    return _mpi


INT_MAX = 2**31 - 1


def c_int_arg(name, value, low=0):
    """value as a C int in [low, INT_MAX], or InvalidArgumentError that says so."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = value.__index__()
        except (AttributeError, TypeError):
            raise InvalidArgumentError(f"{name}={value!r} must be an integer") from None
    if not low <= value <= INT_MAX:
        raise InvalidArgumentError(f"{name}={value} must be in [{low}, {INT_MAX}]")
    return value


def make_config(timeout_ms=0, threads_per_rank=0, algo="auto", spin_us=0, isa=None, shm_dir=None):
    """A tpf_config_t from keyword settings; 0 / None take the TPF_* variable or the default."""
    if algo not in ALGOS:
        raise InvalidArgumentError(f"algo={algo!r} must be one of {', '.join(ALGOS)}")
    return Config(ctypes.sizeof(Config), c_int_arg("threads_per_rank", threads_per_rank),
                  c_int_arg("timeout_ms", timeout_ms), ALGOS[algo], c_int_arg("spin_us", spin_us),
                  isa.encode() if isa else None, shm_dir.encode() if shm_dir is not None else None)
