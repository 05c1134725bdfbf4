# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Driver of the `mkl` strategy, after Intel's softmax study.

Design: per row, the max is our OpenMP SIMD reduction and the shift x - max
our SIMD loop (src/kernels.h, called through their owner _kernels.pyx, so
they run the instruction set it chose); MKL does the rest: exp (v?Exp), the sum
(cblas_?asum over blocks, added in double: every term is positive, so the
sum of absolute values is the sum), and the scaling by 1/sum (cblas_?scal).
log_softmax subtracts the log of the sum, taken by our psm_log_row_sum
(src/kernels.h) rather than asum and v?Ln: a sum in float rounds 1 + tiny to
1, and the result at the max to 0; psm_log_row_sum counts the terms equal to
1 apart and returns log1p of the rest.  A non-last axis works on each (n,
ncols) slab: column max, v?Sub of it from each row, one v?Exp over the slab,
column sums by cblas_?gemv with a vector of ones over blocks of rows, added
in double, then v?Mul by the reciprocals (or, for log_softmax, v?Sub of the
logs of the column sums by psm_log_col_sums).  MKL's sequential layer; rows
or slabs in parallel with prange, and on one thread in a plain loop (no
OpenMP parallel region: in a forked child libgomp's would hang).

VML mode: VML_HA (high accuracy, about 1 ulp), errors ignored (no errno or
callbacks), denormals kept (FTZ/DAZ off).  On our AMD machines HA, LA and EP
run at the same speed, so nothing is gained by giving up accuracy.
"""
import numpy as np

from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport fabs

from kernels cimport (PSM_API_CAPSULE, psm_colmax, psm_import, psm_isa, psm_log_col_sums,
                      psm_log_row_sum, psm_max, psm_shift)
from mkl_api cimport *

from . import _kernels   # the owner of our kernels (and of their ISA): we call its entry points

psm_import(PyCapsule_GetPointer(_kernels.api, PSM_API_CAPSULE))

# Sums of long slices (issue 12): one cblas_sasum over a row of 10^6 floats
# lost 3.5e-3 of it (MKL adds in 16 float lanes here; the lane holding the 1
# of the max drops every term below half its ulp), one dasum 2.8e-11.  So
# rows are summed by asum over blocks of SUM_BLOCK terms and columns by gemv
# over blocks of COL_BLOCK rows, and the partial sums are added in double
# with Neumaier compensation, as our own kernels do (src/softmax_body.h).
# The error is then that of one block: SUM_BLOCK / lanes - 1 ulp for asum (7
# with the 16 lanes measured here, 15 = 9e-7 with 8) and at most COL_BLOCK - 1
# ulp for gemv, however it orders a column.  Cost, measured on one thread:
# +4% on 64x1000 rows, 0-4% on columns (n=21, 64, 512).
cdef enum:
    SUM_BLOCK = 128
    COL_BLOCK = 16

cdef MKL_INT64 MODE = VML_HA | VML_ERRMODE_IGNORE | VML_FTZDAZ_OFF
VML_MODE = "VML_HA | VML_ERRMODE_IGNORE | VML_FTZDAZ_OFF"


def isa():
    """The instruction set of our kernels this module calls (the owner's)."""
    return psm_isa().decode()


def version():
    """(version string, processor path MKL chose) as MKL reports them."""
    cdef MKLVersion v
    mkl_get_version(&v)
    return (f"{v.MajorVersion}.{v.MinorVersion}.{v.UpdateVersion}",
            v.Processor.decode(errors="replace").strip())


# One-line wrappers: pick MKL's s/d routine for the fused type.

cdef inline void _exp(MKL_INT n, const floating *a, floating *r) noexcept nogil:
    if floating is float:
        vmsExp(n, a, r, MODE)
    else:
        vmdExp(n, a, r, MODE)

cdef inline void _sub(MKL_INT n, const floating *a, const floating *b, floating *r) noexcept nogil:
    if floating is float:
        vmsSub(n, a, b, r, MODE)
    else:
        vmdSub(n, a, b, r, MODE)

cdef inline void _mul(MKL_INT n, const floating *a, const floating *b, floating *r) noexcept nogil:
    if floating is float:
        vmsMul(n, a, b, r, MODE)
    else:
        vmdMul(n, a, b, r, MODE)

cdef inline floating _asum(MKL_INT n, const floating *x) noexcept nogil:
    if floating is float:
        return cblas_sasum(n, x, 1)
    else:
        return cblas_dasum(n, x, 1)

cdef inline void _scal(MKL_INT n, floating alpha, floating *x) noexcept nogil:
    if floating is float:
        cblas_sscal(n, alpha, x, 1)
    else:
        cblas_dscal(n, alpha, x, 1)

cdef inline void _colsum(MKL_INT n, MKL_INT ncols, const floating *a, const floating *ones,
                         floating *out) noexcept nogil:
    """out[k] = sum over i of a[i*ncols + k]: a^T . ones."""
    if floating is float:
        cblas_sgemv(CblasRowMajor, CblasTrans, n, ncols, 1, a, ncols, ones, 1, 0, out, 1)
    else:
        cblas_dgemv(CblasRowMajor, CblasTrans, n, ncols, 1, a, ncols, ones, 1, 0, out, 1)


cdef inline void _neumaier_add(double *sum, double *comp, double v) noexcept nogil:
    """*sum + *comp += v, the rounding error of *sum kept in *comp."""
    cdef double t = sum[0] + v
    if fabs(sum[0]) >= fabs(v):
        comp[0] += (sum[0] - t) + v
    else:
        comp[0] += (v - t) + sum[0]
    sum[0] = t


cdef double _sum(MKL_INT n, const floating *x) noexcept nogil:
    """The sum of x[n] >= 0: asum over blocks of SUM_BLOCK, added in double."""
    cdef double sum = 0, comp = 0
    cdef MKL_INT j = 0
    while j < n:
        _neumaier_add(&sum, &comp, _asum(min(<MKL_INT>SUM_BLOCK, n - j), x + j))
        j += SUM_BLOCK
    return sum + comp


cdef void _colsums(MKL_INT n, MKL_INT ncols, const floating *a, const floating *ones,
                   floating *part,   # scratch[ncols]
                   double *sum,      # OUT sum[ncols]
                   double *comp      # scratch[ncols]
                   ) noexcept nogil:
    """sum[k] = the sum of column k of a[n][ncols] >= 0: gemv over blocks of
    COL_BLOCK rows, added in double."""
    cdef MKL_INT i = 0, k
    for k in range(ncols):
        sum[k] = 0
        comp[k] = 0
    while i < n:
        _colsum(min(<MKL_INT>COL_BLOCK, n - i), ncols, a + i * ncols, ones, part)
        for k in range(ncols):
            _neumaier_add(&sum[k], &comp[k], part[k])
        i += COL_BLOCK
    for k in range(ncols):
        sum[k] += comp[k]


cdef void _row(const floating *x,  # IN  x[n]
               floating *y,        # OUT y[n]; may be x
               floating *tmp,      # scratch[n] (log_softmax)
               MKL_INT n, bint log) noexcept nogil:
    psm_shift(x, y, n, psm_max(x, n))      # y = x - max
    if not log:
        _exp(n, y, y)
        _scal(n, <floating>(1 / _sum(n, y)), y)
    else:
        _exp(n, y, tmp)
        psm_shift(y, y, n, <floating>psm_log_row_sum(tmp, n))


def rows(const floating[:, :] x,   # IN  (rows, n), each row contiguous
         floating[:, :] y,         # OUT (rows, n), each row contiguous; may be x
         bint log, int n_threads):
    """y[i] = softmax(x[i]) (log_softmax if log) for every row i."""
    cdef Py_ssize_t i, n_rows = x.shape[0]
    cdef MKL_INT n = <MKL_INT>x.shape[1]
    # per-thread scratch, allocated here so that no kernel allocates
    cdef floating[:, ::1] tmp = np.empty((n_threads, n if log else 1),
                                         np.float32 if floating is float else np.float64)
    if n_rows == 0:
        return
    if n_threads == 1:       # no parallel region (none may run in a forked child)
        with nogil:
            for i in range(n_rows):
                _row(&x[i, 0], &y[i, 0], &tmp[0, 0], n, log)
        return
    for i in prange(n_rows, nogil=True, num_threads=n_threads, schedule='static'):
        _row(&x[i, 0], &y[i, 0], &tmp[threadid(), 0], n, log)


cdef void _slab(const floating *x,  # IN  x[n][ncols]
                floating *y,        # OUT y[n][ncols]; may be x
                floating *tmp,      # scratch[n*ncols + 3*ncols + n]
                double *dtmp,       # scratch[2*ncols]
                MKL_INT n, MKL_INT ncols, bint log) noexcept nogil:
    cdef MKL_INT i, k
    cdef floating *e = tmp                 # n*ncols: exp (log_softmax)
    cdef floating *m = tmp + n * ncols     # ncols: column max
    cdef floating *part = m + ncols        # ncols: partial column sums
    cdef floating *c = part + ncols        # ncols: 1/sum or log(sum)
    cdef floating *ones = c + ncols        # n
    for i in range(min(n, <MKL_INT>COL_BLOCK)):
        ones[i] = 1
    psm_colmax(x, n, ncols, ncols, m)
    for i in range(n):
        _sub(ncols, x + i * ncols, m, y + i * ncols)
    if not log:
        _exp(n * ncols, y, y)
        _colsums(n, ncols, y, ones, part, dtmp, dtmp + ncols)
        for k in range(ncols):
            c[k] = <floating>(1 / dtmp[k])
        for i in range(n):
            _mul(ncols, y + i * ncols, c, y + i * ncols)
    else:
        _exp(n * ncols, y, e)
        psm_log_col_sums(e, n, ncols, ncols, c)
        for i in range(n):
            _sub(ncols, y + i * ncols, c, y + i * ncols)


def cols(const floating[:, :, ::1] x,   # IN  (outer, n, inner), C-contiguous
         floating[:, :, ::1] y,         # OUT (outer, n, inner), C-contiguous; may be x
         bint log, int n_threads):
    """y[o, :, k] = softmax(x[o, :, k]) (log_softmax if log) for all o, k."""
    cdef Py_ssize_t o, outer = x.shape[0]
    cdef MKL_INT n = <MKL_INT>x.shape[1], ncols = <MKL_INT>x.shape[2]
    cdef floating[:, ::1] tmp = np.empty((n_threads, n * ncols + 3 * ncols + n),
                                         np.float32 if floating is float else np.float64)
    cdef double[:, ::1] dtmp = np.empty((n_threads, 2 * ncols))
    if outer == 0:
        return
    if n_threads == 1:       # no parallel region (none may run in a forked child)
        with nogil:
            for o in range(outer):
                _slab(&x[o, 0, 0], &y[o, 0, 0], &tmp[0, 0], &dtmp[0, 0], n, ncols, log)
        return
    for o in prange(outer, nogil=True, num_threads=n_threads, schedule='static'):
        _slab(&x[o, 0, 0], &y[o, 0, 0], &tmp[threadid(), 0], &dtmp[threadid(), 0], n, ncols, log)
