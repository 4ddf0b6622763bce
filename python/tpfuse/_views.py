"""Tensors and arrays as tpf_matrix_t views of their own memory.

A CPU torch.Tensor (float16, bfloat16, float32) or a numpy.ndarray
(float16, float32) goes in without a copy when the library can describe it:
rows of unit-stride elements a fixed distance apart (a slice of a larger
matrix included), or the transpose of such a view (`weight.t()`). Any other
strides (a stride 0 from expand, negative or overlapping steps, elements not
adjacent in either direction) are copied once into a contiguous matrix. An
output (`out=`) is never copied: it must be rows of unit-stride elements.
"""
import sys

from ._lib import BFLOAT16, FLOAT16, FLOAT32, Matrix
from .errors import DtypeError, InvalidArgumentError

DTYPE_NAMES = {FLOAT16: "float16", BFLOAT16: "bfloat16", FLOAT32: "float32"}
_torch_codes = None


def _torch_dtype_codes():
    global _torch_codes
    if _torch_codes is None:
        import torch

        _torch_codes = {torch.float16: FLOAT16, torch.bfloat16: BFLOAT16, torch.float32: FLOAT32}
    return _torch_codes


class Operand:
    """What the library needs of one tensor or array, and the object that owns its memory."""

    __slots__ = ("obj", "kind", "code", "shape", "strides", "ptr")

    def __init__(self, obj, what):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            self._from_torch(obj, what)
            return
        numpy = sys.modules.get("numpy")
        if numpy is not None and isinstance(obj, numpy.ndarray):
            self._from_numpy(obj, what)
            return
        raise DtypeError(f"{what} is a {type(obj).__name__}: pass a torch.Tensor or a numpy.ndarray")

    def _from_torch(self, t, what):
        if t.device.type != "cpu":
            raise InvalidArgumentError(f"{what} is on {t.device}: tpfuse computes on the CPU; pass a CPU tensor")
        if t.layout is not _torch_strided():
            raise InvalidArgumentError(f"{what} has layout {t.layout}: pass a dense (strided) tensor")
        code = _torch_dtype_codes().get(t.dtype)
        if code is None:
            raise DtypeError(f"{what} is {t.dtype}: tpfuse takes torch.float16, torch.bfloat16 and torch.float32")
        self.obj, self.kind, self.code = t, "torch", code
        self.shape, self.strides, self.ptr = tuple(t.shape), t.stride(), t.data_ptr()

    def _from_numpy(self, a, what):
        import numpy

        if a.dtype == numpy.float16:
            code = FLOAT16
        elif a.dtype == numpy.float32:
            code = FLOAT32
        else:
            raise DtypeError(f"{what} is a numpy {a.dtype} array: tpfuse takes float16 and float32 arrays "
                             "(bfloat16 as torch tensors)")
        if not a.dtype.isnative:
            raise DtypeError(f"{what} is a numpy array of non-native byte order ({a.dtype.str}): convert it first")
        size = a.itemsize
        self.obj, self.kind, self.code, self.shape = a, "numpy", code, a.shape
        # a stride that is not a whole number of elements: never a view we can describe
        self.strides = tuple(s // size if s % size == 0 else -1 for s in a.strides)
        self.ptr = a.__array_interface__["data"][0]

    def dtype_name(self):
        return f"{'torch.' if self.kind == 'torch' else 'numpy '}{DTYPE_NAMES[self.code]}"

    def contiguous(self):
        """The same values in a new dense row-major copy."""
        if self.kind == "torch":
            copy = self.obj.contiguous(memory_format=_torch_contiguous())
        else:
            import numpy

            copy = numpy.ascontiguousarray(self.obj)
        return Operand(copy, "")


_torch_strided_value = None


def _torch_strided():
    global _torch_strided_value
    if _torch_strided_value is None:
        import torch

        _torch_strided_value = torch.strided
    return _torch_strided_value


def _torch_contiguous():
    import torch

    return torch.contiguous_format


def _layout(rows, cols, s0, s1):
    """(ld, transposed) of a rows x cols view with element strides (s0, s1), or None."""
    if (s1 == 1 or cols == 1) and (rows == 1 or s0 >= cols):
        return (s0 if rows > 1 else cols), 0
    if (s0 == 1 or rows == 1) and (cols == 1 or s1 >= rows):
        return (s1 if cols > 1 else rows), 1
    return None


def matrix(obj, what):
    """(Matrix, Operand) for an input: a view of its memory, or of a contiguous copy."""
    op = obj if isinstance(obj, Operand) else Operand(obj, what)
    if len(op.shape) != 2:
        raise InvalidArgumentError(f"{what} must be 2-D (rows, columns); it has shape {tuple(op.shape)}")
    rows, cols = op.shape
    layout = _layout(rows, cols, *op.strides)
    if layout is None:
        op = op.contiguous()
        layout = (cols, 0)
    return Matrix(op.ptr, op.code, rows, cols, layout[0], layout[1]), op


def output(out, what, like, code, rows, cols):
    """(Matrix, result) for an output of rows x cols in dtype `code`: `out`
    itself (checked to be writable rows of unit-stride elements; the library
    checks its shape and dtype), or a new tensor (array) of like's kind."""
    if out is None:
        if like.kind == "torch":
            import torch

            dtype = {v: k for k, v in _torch_dtype_codes().items()}[code]
            result = torch.empty((max(rows, 0), max(cols, 0)), dtype=dtype)
        else:
            import numpy

            if code == BFLOAT16:
                raise DtypeError("numpy has no bfloat16 for the result: pass torch tensors")
            result = numpy.empty((max(rows, 0), max(cols, 0)), dtype=numpy.float16 if code == FLOAT16 else numpy.float32)
        op = Operand(result, what)
    else:
        op = Operand(out, what)
        result = out
        if op.kind == "numpy" and not out.flags.writeable:
            raise InvalidArgumentError(f"{what} is a read-only numpy array")
    if len(op.shape) != 2:
        raise InvalidArgumentError(f"{what} must be 2-D ({rows}, {cols}); it has shape {tuple(op.shape)}")
    r, c = op.shape
    s0, s1 = op.strides
    if not ((s1 == 1 or c <= 1) and (r <= 1 or s0 >= c)):
        raise InvalidArgumentError(f"{what} has strides {tuple(op.strides)}: an output must be rows of "
                                   "adjacent elements (row-major, e.g. contiguous), which tpfuse writes in place")
    return Matrix(op.ptr, op.code, r, c, s0 if r > 1 else max(c, 1), 0), result


def vector(obj, what):
    """(pointer, length, dtype code, Operand) of a 1-D tensor or array (copied if not contiguous)."""
    op = Operand(obj, what)
    if len(op.shape) != 1:
        raise InvalidArgumentError(f"{what} must be 1-D; it has shape {tuple(op.shape)}")
    if op.shape[0] > 1 and op.strides[0] != 1:
        op = op.contiguous()
    return op.ptr, op.shape[0], op.code, op
