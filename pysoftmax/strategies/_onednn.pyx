# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Driver of the `onednn` strategy: oneDNN's softmax primitive.

Design: a `Primitive` holds one oneDNN softmax primitive (forward inference,
softmax_accurate or softmax_log) for one problem: float32 rows of n elements
with given row strides, the softmax along axis 1.  Building it (oneDNN
compiles a kernel) is the expensive part, so onednn.py keeps them in a bounded
cache; each call only wraps our arrays in oneDNN memory objects and executes.
oneDNN runs on GNU OpenMP, as our kernels do: the thread count is set for the
call (omp_set_num_threads on the calling thread) and restored after it.

Non-finite input: oneDNN 3.2 leaves a NaN only at a NaN or +inf and 0 in
the rest of its row, where the contract (SciPy's) is the whole row NaN.  So
`run` first looks for NaN and +inf in x (our vectorized pass,
psm_nonfinite_rows, stopping at the first; measured x1.18 on 64x1000 and
x1.08 on 12288x128 against the call without it), and only if there are any
flags their rows before the call (y may be x) and fills them with NaN after
it.  A row of only -inf oneDNN already makes NaN.
"""
import numpy as np

from cpython.pycapsule cimport PyCapsule_GetPointer

from dnnl_api cimport *
from kernels cimport PSM_API_CAPSULE, psm_import, psm_isa, psm_nonfinite_rows_f32

from . import _kernels   # the owner of our kernels (and of their ISA): we call its entry points

psm_import(PyCapsule_GetPointer(_kernels.api, PSM_API_CAPSULE))

cdef extern from "omp.h" nogil:
    int omp_get_max_threads()
    void omp_set_num_threads(int n)

cdef dnnl_engine_t _engine = NULL


cdef int _check(dnnl_status_t status, str what) except -1:
    if status != dnnl_success:
        raise RuntimeError(f"oneDNN {what} failed (dnnl_status_t {status})")
    return 0


def isa():
    """The instruction set of our kernels this module calls (the owner's)."""
    return psm_isa().decode()


def version():
    """oneDNN's version as 'major.minor.patch'."""
    cdef const dnnl_version_t *v = dnnl_version()
    return f"{v.major}.{v.minor}.{v.patch}"


def any_nonfinite(const float[:, :] x):
    """True if x (rows contiguous) holds a NaN or +inf: the check that runs
    before each call (exposed to time it)."""
    cdef Py_ssize_t bad = 0
    if x.shape[0] > 0:
        with nogil:
            bad = psm_nonfinite_rows_f32(&x[0, 0], x.strides[0] // sizeof(float), x.shape[0],
                                         x.shape[1], NULL)
    return bad > 0


def _init():
    global _engine
    if _engine == NULL:
        _check(dnnl_engine_create(&_engine, dnnl_cpu, 0), "engine creation")


cdef class Primitive:
    """The softmax of float32 (rows, n) arrays with row strides ldx (src) and
    ldy (dst), in elements."""
    cdef dnnl_primitive_t primitive
    cdef dnnl_memory_desc_t src_md, dst_md
    cdef readonly str implementation

    def __cinit__(self, Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ldx, Py_ssize_t ldy, bint log):
        cdef dnnl_dims_t dims, src_strides, dst_strides
        cdef dnnl_primitive_desc_t pd = NULL
        cdef const char *impl = NULL
        _init()
        dims[0], dims[1] = rows, n
        src_strides[0], src_strides[1] = ldx, 1
        dst_strides[0], dst_strides[1] = ldy, 1
        _check(dnnl_memory_desc_create_with_strides(&self.src_md, 2, dims, dnnl_f32, src_strides),
               "memory descriptor")
        _check(dnnl_memory_desc_create_with_strides(&self.dst_md, 2, dims, dnnl_f32, dst_strides),
               "memory descriptor")
        _check(dnnl_softmax_forward_primitive_desc_create(
            &pd, _engine, dnnl_forward_inference,
            dnnl_softmax_log if log else dnnl_softmax_accurate,
            self.src_md, self.dst_md, 1, NULL), "softmax primitive descriptor")
        try:
            _check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl),
                   "implementation query")
            self.implementation = impl.decode()
            _check(dnnl_primitive_create(&self.primitive, pd), "primitive creation")
        finally:
            dnnl_primitive_desc_destroy(pd)

    def __dealloc__(self):
        if self.primitive != NULL:
            dnnl_primitive_destroy(self.primitive)
        if self.src_md != NULL:
            dnnl_memory_desc_destroy(self.src_md)
        if self.dst_md != NULL:
            dnnl_memory_desc_destroy(self.dst_md)

    def run(self, const float[:, :] x,   # IN  (rows, n), rows contiguous
            float[:, :] y,               # OUT (rows, n), rows contiguous; may be x
            int n_threads):
        cdef dnnl_memory_t src = NULL, dst = NULL
        cdef dnnl_stream_t stream = NULL
        cdef dnnl_exec_arg_t args[2]
        cdef dnnl_status_t status
        cdef int saved_threads
        cdef Py_ssize_t i, j, bad, rows = x.shape[0], n = x.shape[1]
        cdef unsigned char[::1] flags = None
        with nogil:
            bad = psm_nonfinite_rows_f32(&x[0, 0], x.strides[0] // sizeof(float), rows, n, NULL)
        if bad:        # rare: which rows, before the call overwrites x
            flags = np.empty(rows, np.uint8)
            psm_nonfinite_rows_f32(&x[0, 0], x.strides[0] // sizeof(float), rows, n, &flags[0])
        try:
            _check(dnnl_memory_create(&src, self.src_md, _engine, <void *>&x[0, 0]), "memory")
            _check(dnnl_memory_create(&dst, self.dst_md, _engine, <void *>&y[0, 0]), "memory")
            _check(dnnl_stream_create(&stream, _engine, dnnl_stream_default_flags), "stream")
            args[0].arg, args[0].memory = DNNL_ARG_SRC, src
            args[1].arg, args[1].memory = DNNL_ARG_DST, dst
            with nogil:
                saved_threads = omp_get_max_threads()
                omp_set_num_threads(n_threads)
                status = dnnl_primitive_execute(self.primitive, stream, 2, args)
                if status == dnnl_success:
                    status = dnnl_stream_wait(stream)
                omp_set_num_threads(saved_threads)
            _check(status, "softmax execution")
        finally:
            if stream != NULL:
                dnnl_stream_destroy(stream)
            if src != NULL:
                dnnl_memory_destroy(src)
            if dst != NULL:
                dnnl_memory_destroy(dst)
        if bad:
            for i in range(rows):
                if flags[i]:
                    for j in range(n):
                        y[i, j] = float("nan")
