# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The common call, fast: softmax(x) or log_softmax(x) of a float32 or
float64 ndarray along its last axis, with no other argument (but an `out=`
the kernel can write directly), strategy automatic.

Such a call goes from softmax() to the C kernel in one function here, with
no Plan, Problem, kernel views or strategy module on the way (the general
path costs ~6 us of Python per call; this one a fraction of a microsecond):
a few tests say whether the call is the common one, and the decision for
its (rows, n, dtype, op, threads) is looked up in a dict, made once by
_select.select like any call's.  The decision is "vectorized on t threads",
run here by the very driver function the strategy's rows() runs
(_vectorized.pxd), or "not fast" (the table picks another strategy): then,
as for every call that is not the common one, common_call returns None and
the general path (_api) computes it.

The decisions live in _select's own memo of choices, under keys of their own
(tuples of 5 ints, where _select keys on 3-tuples), so that they are
forgotten together: when a table is loaded, in a forked child, when the memo
is full.  The calling context is read at every call: a strategy set for the
context (set_strategy, strategy(...)) takes the general path, and the thread
count (num_threads(...), OpenMP's default, one thread in a forked child:
_context.effective_threads' rules) is part of the key.

Bit-identical to the general path: the same kernel, arguments and chunking
of rows over threads.  The inputs it takes: an exact ndarray (subclasses
keep their own behaviour on the general path), native byte order, aligned,
at least one element, C-contiguous or 2-D with contiguous rows.  The result
is a new C-contiguous array, from the result pool when large (_pool), or
`out`: C-contiguous, x's shape and dtype, x itself or apart from it.

Imports: _pool, _problem, strategies._vectorized, strategies, _openmp,
_context, _select.
"""
cimport numpy as cnp
from cpython.contextvars cimport get_value

from pysoftmax._pool cimport new_result
from pysoftmax.strategies._vectorized cimport forward_rows_f32, forward_rows_f64

from pysoftmax import _context, _openmp, _select
from pysoftmax._problem import Problem
from pysoftmax.strategies import vectorized

cnp.import_array()

# Below this many elements the kernel runs with the GIL held, as NumPy's
# ufuncs do for small arrays: releasing it costs more than the kernel.
cdef enum: NOGIL_MIN_ELEMENTS = 4096

cdef bint _enabled = True
cdef object _minus_one = -1
cdef object _strategy_var = _context._strategy
cdef object _threads_var = _context._threads
cdef object _default_threads = _openmp.default_threads
cdef object _in_forked_child = _openmp.in_forked_child
cdef dict _memo = _select._choices
cdef object _select_choice = _select.select
cdef object _vectorized_module = vectorized


def set_enabled(enabled):
    """Use the fast path (True) or send every call the general way (False);
    returns the previous setting.  For tests and benchmarks."""
    global _enabled
    previous = _enabled
    _enabled = bool(enabled)
    return previous


cdef inline bint _is_minus_one(axis):
    return axis is _minus_one or (type(axis) is int and axis == -1)


cdef int _decide(tuple key, Py_ssize_t rows, Py_ssize_t n, int type_num, bint log,
                 int threads) except -1:
    """The thread count of vectorized for this call, 0 when another strategy
    computes it; remembered under `key`."""
    problem = Problem("log_softmax" if log else "softmax", cnp.PyArray_DescrFromType(type_num),
                      "last", (rows, n))
    choice = _select_choice(problem, None, threads)
    cdef int use = choice.threads if choice.strategy is _vectorized_module else 0
    if len(_memo) >= _select._CHOICES_MAX:
        _memo.clear()
    _memo[key] = use
    return use


cdef struct Rows:                   # an array as the rows kernel sees it
    Py_ssize_t rows, n, ldx
    int threads                     # the decision: vectorized on this many, 0: not fast


cdef bint _plan_rows(cnp.ndarray a, bint log, Rows *r) except -1:
    """True, with *r, if x's layout, dtype and the context let the fast path
    take it (r.threads 0 when the table picks another strategy)."""
    cdef int nd = cnp.PyArray_NDIM(a), type_num = cnp.PyArray_TYPE(a), threads
    cdef Py_ssize_t size, itemsize
    cdef cnp.npy_intp *strides
    if (nd == 0 or (type_num != cnp.NPY_FLOAT and type_num != cnp.NPY_DOUBLE)
            or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISALIGNED(a)):
        return False
    size = cnp.PyArray_SIZE(a)
    if size == 0:
        return False
    r.n = cnp.PyArray_DIMS(a)[nd - 1]
    r.rows = size // r.n
    itemsize = cnp.PyArray_ITEMSIZE(a)
    if cnp.PyArray_IS_C_CONTIGUOUS(a):
        r.ldx = r.n
    else:
        strides = cnp.PyArray_STRIDES(a)
        if nd != 2 or (r.n > 1 and strides[1] != itemsize) or strides[0] % itemsize != 0:
            return False
        r.ldx = strides[0] // itemsize

    if get_value(_strategy_var) is not None:
        return False
    requested_threads = get_value(_threads_var)
    if requested_threads is None or _in_forked_child():
        threads = _default_threads()
    else:
        threads = requested_threads
    key = (r.rows, r.n, type_num, log, threads)
    known = _memo.get(key)
    r.threads = _decide(key, r.rows, r.n, type_num, log, threads) if known is None else known
    return True


cdef bint _writes_into(cnp.ndarray a, out, const Rows *r):
    """True if the kernel can write the result of x (`a`) straight into `out`:
    an exact ndarray of x's shape and dtype, C-contiguous, aligned, writeable,
    in native byte order, that is x itself (in place) or shares no byte with
    x.  Anything else (a bad `out` too) is left to the general path."""
    if type(out) is not cnp.ndarray:
        return False
    cdef cnp.ndarray o = <cnp.ndarray>out
    cdef int i, nd = cnp.PyArray_NDIM(a)
    if (cnp.PyArray_NDIM(o) != nd or cnp.PyArray_TYPE(o) != cnp.PyArray_TYPE(a)
            or not cnp.PyArray_IS_C_CONTIGUOUS(o) or not cnp.PyArray_ISALIGNED(o)
            or not cnp.PyArray_ISWRITEABLE(o) or not cnp.PyArray_ISNOTSWAPPED(o)):
        return False
    for i in range(nd):
        if cnp.PyArray_DIMS(o)[i] != cnp.PyArray_DIMS(a)[i]:
            return False
    cdef Py_ssize_t itemsize = cnp.PyArray_ITEMSIZE(a)
    cdef char *x_lo = <char *>cnp.PyArray_DATA(a)
    cdef char *x_hi = x_lo + r.n * itemsize
    cdef char *o_lo = <char *>cnp.PyArray_DATA(o)
    cdef char *o_hi = o_lo + r.rows * r.n * itemsize
    if o_lo == x_lo and r.ldx == r.n:           # x itself: in place, as the kernel allows
        return True
    if r.ldx >= 0:
        x_hi += (r.rows - 1) * r.ldx * itemsize
    else:
        x_lo += (r.rows - 1) * r.ldx * itemsize
    return o_hi <= x_lo or x_hi <= o_lo


def common_call(x, axis, out, dtype, where, scale, approx, strategy, bint log):
    """softmax(x) (log_softmax if log) if the call of these arguments is the
    common one and the vectorized strategy is what it gets, else None (let
    the general path compute it).  The common call: x a float32 or float64
    ndarray, the last axis, `out` None or an array the kernel can write
    directly (_writes_into), no other argument."""
    cdef Rows r
    if not (_enabled and type(x) is cnp.ndarray and dtype is None and where is None
            and scale is None and approx is False and strategy is None
            and _is_minus_one(axis)):
        return None
    a = <cnp.ndarray>x
    if not _plan_rows(a, log, &r) or r.threads == 0:
        return None
    type_num = cnp.PyArray_TYPE(a)
    if out is None:
        result = new_result(cnp.PyArray_NDIM(a), cnp.PyArray_DIMS(a), type_num)
    elif _writes_into(a, out, &r):
        result = out
    else:
        return None
    cdef void *xp = cnp.PyArray_DATA(a)
    cdef void *yp = cnp.PyArray_DATA(<cnp.ndarray>result)
    if r.rows * r.n < NOGIL_MIN_ELEMENTS and r.threads == 1:
        _run(xp, yp, &r, type_num, log)
    else:
        with nogil:
            _run(xp, yp, &r, type_num, log)
    return result


def planned_threads(x, bint log=False):
    """The thread count the fast path would run softmax(x) (log_softmax if
    log) on now, or None if it would leave the call to the general path.
    For the tests: explain must name what runs."""
    cdef Rows r
    if type(x) is not cnp.ndarray or not _plan_rows(<cnp.ndarray>x, log, &r) or r.threads == 0:
        return None
    return r.threads


cdef inline void _run(const void *x, void *y, const Rows *r, int type_num,
                      bint log) noexcept nogil:
    """The kernel: y (C-contiguous, rows of r.n) from x (row stride r.ldx)."""
    if type_num == cnp.NPY_FLOAT:
        forward_rows_f32(<const float *>x, r.ldx, <float *>y, r.n, r.rows, r.n, log, r.threads)
    else:
        forward_rows_f64(<const double *>x, r.ldx, <double *>y, r.n, r.rows, r.n, log,
                         r.threads)
