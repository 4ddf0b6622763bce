"""The operators: MatmulReduceScatter, AllGatherMatmul and MatmulAllReduce
under torch_npu's names and in a Pythonic form, the collectives alone
(reduce_scatter, all_gather, all_reduce), and the GEMM engine alone.

Inputs are CPU torch tensors (float16, bfloat16, float32) or numpy arrays
(float16, float32), read where they are (see tpfuse._views for which
strides go in without a copy); results are new tensors (arrays) of the
input's dtype, or `out=`. Every operator call is collective over its
communicator; the library runs with the GIL released. An argument this
layer refuses (a dtype, a shape, world_size) is refused on every rank: the
caller's rank raises, and its peers raise PeerError with its words.
"""
import ctypes
import operator

from . import _lib, _views
from .comm import Comm, find_comm
from .errors import DtypeError, Error, InvalidArgumentError, UnsupportedError

_REDUCE_OPS = {"sum": _lib.SUM, "avg": _lib.AVG}
_MM_OPTIONS_SIZE = ctypes.sizeof(_lib.MmOptions)
_GEMM_OPTIONS_SIZE = ctypes.sizeof(_lib.GemmOptions)
_byref = ctypes.byref
_DTYPE_CODES = {"float16": _lib.FLOAT16, "fp16": _lib.FLOAT16, "bfloat16": _lib.BFLOAT16, "bf16": _lib.BFLOAT16,
                "float32": _lib.FLOAT32, "fp32": _lib.FLOAT32}


def _dtype_code(dtype):
    """The library's dtype for a torch dtype, a numpy dtype or a name ('float32')."""
    name = getattr(dtype, "__name__", None) or str(dtype).rsplit(".", 1)[-1]
    if name not in _DTYPE_CODES:
        raise DtypeError(f"dtype {dtype} is not float16, bfloat16 or float32")
    return _DTYPE_CODES[name]


def _comm_of(comm):
    """A live Comm from a Comm or its name (hcom)."""
    if isinstance(comm, Comm):
        return comm
    if isinstance(comm, str):
        found = find_comm(comm)
        if found is None:
            raise InvalidArgumentError(f"hcom {comm!r} names no communicator of this process: get one from "
                                       "tpfuse.get_comm_name(group) or tpfuse.Comm")
        return found
    raise DtypeError(f"the communicator is a {type(comm).__name__}: pass a tpfuse.Comm or its name (hcom)")


def _collective(comm, prepare):
    """prepare()'s result; if it raises, this rank takes part in the call as
    a rejection (so the peers fail at once with its words), then re-raises."""
    try:
        return prepare()
    except Exception as e:
        if not isinstance(e, Error):
            e = InvalidArgumentError(f"{type(e).__name__}: {e}")
        comm.reject(e)
        raise


def _row_counts(comm, m, row_counts):
    """(rows this rank owns, the C array of counts or None)."""
    if row_counts is None:
        return m // comm.size, None
    counts = []
    for q, count in enumerate(row_counts):
        try:
            count = operator.index(count)
        except TypeError:
            raise InvalidArgumentError(f"row_counts[{q}]={count!r} must be an integer") from None
        if not -2**63 <= count < 2**63:
            raise InvalidArgumentError(f"row_counts[{q}]={count} does not fit in 64 bits")
        counts.append(count)
    if len(counts) != comm.size:
        raise InvalidArgumentError(f"row_counts has {len(counts)} entries but the communicator has {comm.size} ranks")
    # the library checks the counts; a bad one still needs an output to describe
    return min(max(counts[comm.rank], 0), m), (ctypes.c_int64 * comm.size)(*counts)


def _bias(bias, code, like_name, like):
    """(pointer, length, owner) of the bias, in the operands' dtype."""
    if bias is None:
        return None, 0, None
    ptr, length, bias_code, op = _views.vector(bias, "bias")
    if bias_code != code:
        raise DtypeError(f"bias is {op.dtype_name()} but {like_name} is {like.dtype_name()}: they must have one dtype")
    return ptr, length, op


def _mm_options(reduce_op, comm_turn, algo, counts, bias_ptr, bias_len):
    op = _REDUCE_OPS.get(reduce_op)
    if op is None:
        raise InvalidArgumentError(f"reduce_op={reduce_op!r} must be 'sum' or 'avg'")
    code = _lib.ALGOS.get(algo)
    if code is None:
        raise InvalidArgumentError(f"algo={algo!r} must be one of {', '.join(_lib.ALGOS)}")
    return _lib.MmOptions(_MM_OPTIONS_SIZE, op, bias_ptr, _lib.c_int_arg("comm_turn", comm_turn), counts, code,
                          bias_len, None)


def _mm_reduce_scatter(comm, a, b, names, reduce_op, bias, comm_turn, algo, row_counts, out, world_size=None):
    c = _comm_of(comm)

    def prepare():
        if world_size is not None and world_size != c.size:
            raise InvalidArgumentError(f"world_size={world_size} but hcom {c.name!r} has {c.size} ranks")
        ma, oa = _views.matrix(a, names[0])
        mb, ob = _views.matrix(b, names[1])
        rows, counts = _row_counts(c, ma.rows, row_counts)
        bias_ptr, bias_len, obias = _bias(bias, oa.code, names[0], oa)
        opt = _mm_options(reduce_op, comm_turn, algo, counts, bias_ptr, bias_len)
        mo, result = _views.output(out, "out", oa, oa.code, rows, mb.cols)
        return ma, mb, mo, opt, result, (oa, ob, obias, counts)

    ma, mb, mo, opt, result, _keep = _collective(c, prepare)
    lib = c._lib
    status = lib.tpf_mm_reduce_scatter(c.handle, _byref(ma), _byref(mb), _byref(mo), _byref(opt))
    if status:
        raise lib.error(status)
    return result


def npu_mm_reduce_scatter_base(input, x2, hcom, world_size, *, reduce_op="sum", bias=None, comm_turn=0):
    """MatmulReduceScatter with torch_npu's signature: rank r of the
    communicator named `hcom` (world_size ranks) returns its rows of
    sum over ranks of input @ x2 (divided by world_size for reduce_op='avg')
    plus bias, added once; shape (m / world_size, n), input's dtype.

    input: (m, k), x2: (k, n) or a transposed view (`weight.t()`), bias: (n,)
    or None; float16, bfloat16 or float32 (numpy: float16, float32), one
    dtype. Any k and world_size; m must divide by world_size (for uneven
    splits use tpfuse.mm_reduce_scatter(row_counts=...)). comm_turn: 0 =
    automatic chunking, N = N chunks per rank's block. Sums run in fp32 with
    one rounding at the end, in an order fixed by the schedule: the same
    inputs give the same bits on every run. Collective: every rank calls it.
    """
    return _mm_reduce_scatter(hcom, input, x2, ("input", "x2"), reduce_op, bias, comm_turn, "auto", None, None,
                              world_size)


def mm_reduce_scatter(a, b, comm, *, reduce_op="sum", bias=None, comm_turn=0, algo="auto", row_counts=None,
                      out=None):
    """MatmulReduceScatter: this rank's rows of sum over ranks of a @ b
    (/ size for 'avg'), plus bias once.

    a: (m, k), b: (k, n), either may be a transposed view; bias: (n,) or
    None; one dtype (float16, bfloat16, float32). comm: a tpfuse.Comm or its
    name. row_counts: None (m divides by the size; rank r owns rows
    [r*m/size, (r+1)*m/size)) or one count per rank summing to m (zeros
    allowed). algo: 'auto' (tpfuse chooses), 'ring', 'direct' (fused) or
    'unfused' (GEMM, then reduce-scatter); every choice gives the same bits
    (rank j's rows summed over ranks j+1, ..., size-1, 0, ..., j in fp32),
    so results are bitwise reproducible whatever 'auto' picks.
    out: a row-major (rows owned x n) tensor/array of a's dtype to write,
    else a new one is returned. Collective over comm.
    """
    return _mm_reduce_scatter(comm, a, b, ("a", "b"), reduce_op, bias, comm_turn, algo, row_counts, out)


def reduce_scatter(x, comm, *, reduce_op="sum", bias=None, row_counts=None, comm_turn=0, out=None):
    """ReduceScatter, the communication half of mm_reduce_scatter: this
    rank's rows of the sum over ranks of x (m, n) (/ size for 'avg') plus
    bias, summed in fp32 in a fixed order (a block's owner last, as in
    mm_reduce_scatter) and rounded once to x's dtype. x must
    be row-major (a transposed view is copied). Rows split as in
    mm_reduce_scatter. Collective over comm.
    """
    c = _comm_of(comm)

    def prepare():
        mx, ox = _views.matrix(x, "x")
        if mx.transposed:
            mx, ox = _views.matrix(ox.contiguous(), "x")
        rows, counts = _row_counts(c, mx.rows, row_counts)
        bias_ptr, bias_len, obias = _bias(bias, ox.code, "x", ox)
        opt = _mm_options(reduce_op, comm_turn, "auto", counts, bias_ptr, bias_len)
        mo, result = _views.output(out, "out", ox, ox.code, rows, mx.cols)
        return mx, mo, opt, result, (ox, obias, counts)

    mx, mo, opt, result, _keep = _collective(c, prepare)
    lib = c._lib
    status = lib.tpf_reduce_scatter(c.handle, _byref(mx), _byref(mo), _byref(opt))
    if status:
        raise lib.error(status)
    return result


def gemm(a, b, *, bias=None, out=None, out_dtype=None, accumulate=False, comm=None):
    """a @ b (+ bias) with tpfuse's GEMM engine, on this process's threads
    (TPF_THREADS_PER_RANK, default all cores), or on comm's rank's threads.

    a: (m, k), b: (k, n), either may be a transposed view, one dtype; bias:
    (n,) or None. Accumulates in fp32 and rounds once to the result's dtype:
    a's, or float32 with out_dtype=float32 (torch or numpy dtype, or
    'float32'). accumulate=True adds the product to `out` (float32). Not
    collective; results do not depend on the number of threads.
    """
    ma, oa = _views.matrix(a, "a")
    mb, ob = _views.matrix(b, "b")
    code = oa.code if out_dtype is None else _dtype_code(out_dtype)
    if code not in (oa.code, _lib.FLOAT32):
        raise DtypeError(f"out_dtype={out_dtype} must be a's dtype ({oa.dtype_name()}) or float32")
    if accumulate and out is None:
        raise InvalidArgumentError("accumulate=True adds to out: pass out= (float32)")
    bias_ptr, bias_len, _obias = _bias(bias, oa.code, "a", oa)
    mo, result = _views.output(out, "out", oa, code, ma.rows, mb.cols)
    opt = _lib.GemmOptions(_GEMM_OPTIONS_SIZE, bias_ptr, bias_len, 1 if accumulate else 0)
    if comm is None:
        lib, handle = _lib.core(), None
    else:
        c = _comm_of(comm)
        lib, handle = c._lib, c.handle
    status = lib.tpf_gemm(handle, _byref(ma), _byref(mb), _byref(mo), _byref(opt))
    if status:
        raise lib.error(status)
    return result


def _gathered_rows(comm, rows, row_counts):
    """(m, the C array of counts or None) of a gather whose rank holds `rows`."""
    if row_counts is None:
        return rows * comm.size, None
    _own, counts = _row_counts(comm, 0, row_counts)
    return max(sum(counts), 0), counts


def _row_major(x, what):
    """(Matrix, Operand) of x as rows (a transposed view is copied once)."""
    mx, ox = _views.matrix(x, what)
    if mx.transposed:
        mx, ox = _views.matrix(ox.contiguous(), what)
    return mx, ox


def _call(comm, fn, *args):
    lib = comm._lib
    status = getattr(lib, fn)(comm.handle, *args)
    if status:
        raise lib.error(status)


def _all_gather_mm(comm, a, b, names, bias, comm_turn, algo, row_counts, gather_output, out, gathered_out,
                   world_size=None):
    c = _comm_of(comm)

    def prepare():
        if world_size is not None and world_size != c.size:
            raise InvalidArgumentError(f"world_size={world_size} but hcom {c.name!r} has {c.size} ranks")
        ma, oa = _row_major(a, names[0])
        mb, ob = _views.matrix(b, names[1])
        m, counts = _gathered_rows(c, ma.rows, row_counts)
        bias_ptr, bias_len, obias = _bias(bias, oa.code, names[0], oa)
        opt = _mm_options("sum", comm_turn, algo, counts, bias_ptr, bias_len)
        mo, result = _views.output(out, "out", oa, oa.code, m, mb.cols)
        mg, gathered = None, None
        if gather_output or gathered_out is not None:
            mg, gathered = _views.output(gathered_out, "gathered_out", oa, oa.code, m, ma.cols)
        return ma, mb, mo, mg, opt, result, gathered, (oa, ob, obias, counts)

    ma, mb, mo, mg, opt, result, gathered, _keep = _collective(c, prepare)
    _call(c, "tpf_all_gather_mm", _byref(ma), _byref(mb), _byref(mo), _byref(mg) if mg is not None else None,
          _byref(opt))
    return result, gathered


def npu_all_gather_base_mm(input, x2, hcom, world_size, *, bias=None, gather_index=0, gather_output=True,
                           comm_turn=0):
    """AllGatherMatmul with torch_npu's signature: every rank of the
    communicator named `hcom` (world_size ranks) gathers the ranks' inputs
    along rows and returns (gathered @ x2 + bias, gathered): shapes
    (m * world_size, n) and (m * world_size, k), input's dtype; the second is
    an empty tensor when gather_output is False.

    input: (m, k), this rank's rows; x2: (k, n) or a transposed view; bias:
    (n,) or None, added once. gather_index must be 0 (the gathered operand is
    input, as on Ascend). comm_turn: 0 = automatic chunking, N = N chunks per
    rank's block. Fused: each rank multiplies its own rows first and every
    other rank's as they arrive. Collective: every rank calls it.
    """
    c = _comm_of(hcom)
    if gather_index != 0:
        _collective(c, lambda: _refuse(UnsupportedError(f"gather_index={gather_index!r}: only 0 (gather input) is "
                                                        "supported")))
    out, gathered = _all_gather_mm(c, input, x2, ("input", "x2"), bias, comm_turn, "auto", None, gather_output,
                                   None, None, world_size)
    if gathered is None:
        gathered = _empty_like(input)
    return out, gathered


def _refuse(error):
    raise error


def _empty_like(x):
    """An empty result of x's kind and dtype (torch_npu's 'no output')."""
    if hasattr(x, "new_empty"):
        return x.new_empty((0,))
    import numpy

    return numpy.empty((0,), dtype=x.dtype)


def all_gather_mm(a, b, comm, *, bias=None, comm_turn=0, algo="auto", row_counts=None, gather_output=False,
                  out=None, gathered_out=None):
    """AllGatherMatmul: [a_0; a_1; ...] @ b (+ bias once) on every rank,
    where a_r is rank r's block of rows.

    a: (rows, k) (row-major; a transposed view is copied), b: (k, n) or a
    transposed view, one dtype; bias (n,) or None. row_counts: None (every
    rank holds as many rows) or one count per rank (zeros allowed). algo:
    'auto', 'ring' or 'direct' (fused: one schedule) or 'unfused' (gather,
    then multiply); every choice gives the same bits. Returns out, or
    (out, gathered a) with gather_output=True (or gathered_out=, written in
    place). Collective over comm.
    """
    result, gathered = _all_gather_mm(comm, a, b, ("a", "b"), bias, comm_turn, algo, row_counts, gather_output, out,
                                      gathered_out)
    return (result, gathered) if gathered is not None else result


def _mm_all_reduce(comm, a, b, names, reduce_op, bias, addend, bias_per_rank, comm_turn, algo, row_counts, out):
    c = _comm_of(comm)

    def prepare():
        ma, oa = _views.matrix(a, names[0])
        mb, ob = _views.matrix(b, names[1])
        _own, counts = _row_counts(c, ma.rows, row_counts) if row_counts is not None else (0, None)
        bias_ptr, bias_len, obias = _bias(bias, oa.code, names[0], oa)
        opt = _mm_options(reduce_op, comm_turn, algo, counts, bias_ptr, bias_len)
        opt.bias_per_rank = 1 if bias_per_rank else 0
        mx3 = ox3 = None
        if addend is not None:
            mx3, ox3 = _row_major(addend, names[2])
            if ox3.code != oa.code:
                raise DtypeError(f"{names[2]} is {ox3.dtype_name()} but {names[0]} is {oa.dtype_name()}: they must "
                                 "have one dtype")
            opt.addend = ctypes.pointer(mx3)
        mo, result = _views.output(out, "out", oa, oa.code, ma.rows, mb.cols)
        return ma, mb, mo, opt, result, (oa, ob, obias, counts, mx3, ox3)

    ma, mb, mo, opt, result, _keep = _collective(c, prepare)
    _call(c, "tpf_mm_all_reduce", _byref(ma), _byref(mb), _byref(mo), _byref(opt))
    return result


def npu_mm_all_reduce_base(x1, x2, hcom, *, reduce_op="sum", bias=None, x3=None, comm_turn=0):
    """MatmulAllReduce with torch_npu's signature: every rank of the
    communicator named `hcom` returns the sum over ranks of
    x1 @ x2 + bias + x3, where each rank's bias and x3 enter its own term
    before the reduction (as on Ascend); divided by the size for
    reduce_op='avg'. Identical bits on every rank.

    x1: (m, k) or (b, s, k) (the result then has x1's leading dimensions);
    x2: (k, n) or a transposed view; bias: (n,) or None; x3: x1 @ x2's shape
    or None; one dtype (float16, bfloat16, float32). Any m. comm_turn: 0 =
    automatic chunking, N = N chunks per rank's block of rows. Collective:
    every rank calls it.
    """
    lead = None
    if len(x1.shape) == 3:
        lead = tuple(x1.shape[:2])
        x1 = x1.reshape(-1, x1.shape[2])
        if x3 is not None and len(x3.shape) == 3:
            x3 = x3.reshape(-1, x3.shape[2])
    out = _mm_all_reduce(hcom, x1, x2, ("x1", "x2", "x3"), reduce_op, bias, x3, True, comm_turn, "auto", None, None)
    return out.reshape(*lead, out.shape[1]) if lead else out


def mm_all_reduce(a, b, comm, *, reduce_op="sum", bias=None, addend=None, bias_per_rank=False, comm_turn=0,
                  algo="auto", row_counts=None, out=None):
    """MatmulAllReduce: the sum over ranks of a @ b (/ size for 'avg') plus
    bias once, with identical bits on every rank.

    a: (m, k) (any m), b: (k, n), either may be a transposed view; one dtype.
    addend: None or an (m, n) term of this rank added to its own a @ b
    before the reduction; bias_per_rank=True adds each rank's bias there too
    (torch_npu's form) instead of once after. algo and comm_turn pick the
    reduce-scatter half as in mm_reduce_scatter; row_counts how rows are
    divided among the ranks that sum them. Collective over comm.
    """
    return _mm_all_reduce(comm, a, b, ("a", "b", "addend"), reduce_op, bias, addend, bias_per_rank, comm_turn,
                          algo, row_counts, out)


def all_gather(x, comm, *, row_counts=None, comm_turn=0, out=None):
    """AllGather: every rank's block of rows x (rows, n), stacked in rank
    order, on every rank; the bits are copied. x row-major (a transposed
    view is copied). row_counts as in all_gather_mm. Collective over comm.
    """
    c = _comm_of(comm)

    def prepare():
        mx, ox = _row_major(x, "x")
        m, counts = _gathered_rows(c, mx.rows, row_counts)
        opt = _mm_options("sum", comm_turn, "auto", counts, None, 0)
        mo, result = _views.output(out, "out", ox, ox.code, m, mx.cols)
        return mx, mo, opt, result, (ox, counts)

    mx, mo, opt, result, _keep = _collective(c, prepare)
    _call(c, "tpf_all_gather", _byref(mx), _byref(mo), _byref(opt))
    return result


def all_reduce(x, comm, *, reduce_op="sum", bias=None, comm_turn=0, row_counts=None, out=None):
    """AllReduce: the sum over ranks of x (m, n) (/ size for 'avg') plus
    bias, summed in fp32 in a fixed order (a block's owner last) and
    rounded once to x's dtype:
    identical bits on every rank. Any m; x row-major (a transposed view is
    copied). Collective over comm.
    """
    c = _comm_of(comm)

    def prepare():
        mx, ox = _row_major(x, "x")
        _own, counts = _row_counts(c, mx.rows, row_counts) if row_counts is not None else (0, None)
        bias_ptr, bias_len, obias = _bias(bias, ox.code, "x", ox)
        opt = _mm_options(reduce_op, comm_turn, "auto", counts, bias_ptr, bias_len)
        mo, result = _views.output(out, "out", ox, ox.code, mx.rows, mx.cols)
        return mx, mo, opt, result, (ox, obias, counts)

    mx, mo, opt, result, _keep = _collective(c, prepare)
    _call(c, "tpf_all_reduce", _byref(mx), _byref(mo), _byref(opt))
    return result
