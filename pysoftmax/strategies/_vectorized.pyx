# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Driver of the `vectorized` strategy.

Design: the C kernels (src/kernels.h, declared for Cython in
src/kernels.pxd; the bodies in src/softmax_body.h; called through their
owner, _kernels.pyx) do a run of rows, or a run of columns of a
non-last-axis problem; these functions run them over a whole canonical
array, in parallel: rows and columns with psm_parallel_for (src/psm_pool.h:
the caller never waits for a thread that has not started, which an OpenMP
region's end does, for a time slice of a busy machine), gradients with
prange.  The Python layer (strategies/vectorized.py) has already checked
dtype and layout.  Forward kernels compute the softmax of scale*x, with the
approximate exp if approx.  forward_rows_f32/_f64 (declared in
_vectorized.pxd) run the plain forward rows for callers in C: the common
call's fast path (_fast.pyx), which thus runs exactly what rows() runs.  On
one thread no OpenMP parallel region is
entered at all: in a forked child libgomp's would hang (_openmp.pyx).
"""
from cpython.pycapsule cimport PyCapsule_GetPointer
from cython cimport floating
from cython.parallel cimport prange

from kernels cimport (PSM_API_CAPSULE, PSM_STRIP, psm_col_stats, psm_cols, psm_exp,
                      psm_grad_rows, psm_import, psm_isa, psm_log_sums_f32, psm_masked_rows,
                      psm_row_normalise, psm_row_stats, psm_rows)

from . import _kernels   # the owner of the kernels (and of their ISA): we call its entry points

psm_import(PyCapsule_GetPointer(_kernels.api, PSM_API_CAPSULE))


cdef extern from "psm_pool.h":
    ctypedef void (*psm_task)(void *ctx, ptrdiff_t chunk) noexcept nogil
    void psm_parallel_for(psm_task task, void *ctx, ptrdiff_t chunks, int threads) nogil


# Chunks of rows per thread: more than one, so that a thread that starts late
# (a busy machine) leaves its share to the others (psm_pool.h); but rows per
# chunk at least CHUNK_ROWS where that still gives each thread one: the C
# kernel pipelines the rows of a chunk (8 rows of 128256 on 2 threads: 2
# chunks of 4 pipelined rows, not 8 rows in 3 passes each).
cdef enum:
    CHUNKS_PER_THREAD = 4
    CHUNK_ROWS = 4
    CHUNK_STRIPS = 4   # columns: at least this many strips a chunk (cols)


def isa():
    """The instruction set of the kernels this module calls (the owner's)."""
    return psm_isa().decode()


cdef inline void _rows(const floating *x, Py_ssize_t ldx, const unsigned char *mask,
                       Py_ssize_t ldmask, floating *y, Py_ssize_t ldy, Py_ssize_t r0,
                       Py_ssize_t r1, Py_ssize_t n, floating scale, int log,
                       int approx) noexcept nogil:
    """Rows [r0, r1): the masked kernel if mask is not NULL."""
    if mask == NULL:
        psm_rows(x + r0 * ldx, ldx, y + r0 * ldy, ldy, r1 - r0, n, scale, log, approx)
    else:
        psm_masked_rows(x + r0 * ldx, ldx, mask + r0 * ldmask, ldmask, y + r0 * ldy, ldy,
                        r1 - r0, n, scale, log, approx)


cdef struct RowsJob:       # one call of _rows_parallel, for its chunks (_rows_chunk)
    const void *x
    const unsigned char *mask
    void *y
    Py_ssize_t ldx, ldmask, ldy, n_rows, n, chunks
    double scale              # float's scale converts to double and back exactly
    int log, approx, is_double


cdef void _rows_chunk(void *ctx, ptrdiff_t c) noexcept nogil:
    """Chunk c of the job: rows [c * n_rows // chunks, (c + 1) * n_rows // chunks)."""
    cdef RowsJob *job = <RowsJob *>ctx
    cdef Py_ssize_t r0 = c * job.n_rows // job.chunks, r1 = (c + 1) * job.n_rows // job.chunks
    if job.is_double:
        _rows(<const double *>job.x, job.ldx, job.mask, job.ldmask, <double *>job.y, job.ldy,
              r0, r1, job.n, job.scale, job.log, job.approx)
    else:
        _rows(<const float *>job.x, job.ldx, job.mask, job.ldmask, <float *>job.y, job.ldy,
              r0, r1, job.n, <float>job.scale, job.log, job.approx)


cdef void _rows_parallel(const floating *x, Py_ssize_t ldx, const unsigned char *mask,
                         Py_ssize_t ldmask, floating *y, Py_ssize_t ldy, Py_ssize_t n_rows,
                         Py_ssize_t n, floating scale, int log, int approx,
                         int n_threads) noexcept nogil:
    """All n_rows >= 1 rows, in contiguous chunks (up to CHUNKS_PER_THREAD a
    thread), which the threads of psm_parallel_for claim in turn; a row's
    result does not depend on the chunking.  One thread runs them all here,
    with no other thread."""
    cdef RowsJob job
    if n_threads <= 1:
        _rows(x, ldx, mask, ldmask, y, ldy, 0, n_rows, n, scale, log, approx)
        return
    job.x, job.mask, job.y = x, mask, y
    job.ldx, job.ldmask, job.ldy = ldx, ldmask, ldy
    job.n_rows, job.n = n_rows, n
    job.chunks = min(<Py_ssize_t>n_threads * CHUNKS_PER_THREAD,
                     max(<Py_ssize_t>n_threads, n_rows // CHUNK_ROWS), n_rows)
    job.scale, job.log, job.approx = scale, log, approx
    job.is_double = floating is double
    psm_parallel_for(_rows_chunk, &job, job.chunks, n_threads)


cdef void forward_rows_f32(const float *x, Py_ssize_t ldx, float *y, Py_ssize_t ldy,
                           Py_ssize_t n_rows, Py_ssize_t n, int log,
                           int n_threads) noexcept nogil:
    _rows_parallel(x, ldx, NULL, 0, y, ldy, n_rows, n, <float>1, log, 0, n_threads)


cdef void forward_rows_f64(const double *x, Py_ssize_t ldx, double *y, Py_ssize_t ldy,
                           Py_ssize_t n_rows, Py_ssize_t n, int log,
                           int n_threads) noexcept nogil:
    _rows_parallel(x, ldx, NULL, 0, y, ldy, n_rows, n, <double>1, log, 0, n_threads)


def rows(const floating[:, :] x,      # IN  (rows, n), each row contiguous
         floating[:, :] y,            # OUT (rows, n), each row contiguous; may be x
         bint log, int n_threads,
         floating scale=1, bint approx=False,
         const unsigned char[:, :] where=None):   # IN (rows, n) mask, rows contiguous
    """y[i] = softmax(scale * x[i]) (log_softmax if log) for every row i; n >= 1.

    With `where`, only the elements where it is nonzero take part."""
    cdef Py_ssize_t n_rows = x.shape[0], n = x.shape[1]
    cdef Py_ssize_t ldx, ldy, ldmask = 0
    cdef const unsigned char *mask = NULL
    if n > 1 and (x.strides[1] != sizeof(floating) or y.strides[1] != sizeof(floating)):
        raise ValueError("rows must be contiguous")
    if x.strides[0] % sizeof(floating) or y.strides[0] % sizeof(floating):
        raise ValueError("row strides must be multiples of the item size")
    ldx = x.strides[0] // <Py_ssize_t>sizeof(floating)
    ldy = y.strides[0] // <Py_ssize_t>sizeof(floating)
    if where is not None:
        if where.shape[0] != n_rows or where.shape[1] != n:
            raise ValueError("where must have the shape of x")
        if n > 1 and where.strides[1] != 1:
            raise ValueError("the rows of where must be contiguous")
        ldmask = where.strides[0]
    if n_rows == 0:
        return
    if where is not None:
        mask = &where[0, 0]
    with nogil:
        _rows_parallel(&x[0, 0], ldx, mask, ldmask, &y[0, 0], ldy, n_rows, n, scale, log,
                       approx, n_threads)


cdef inline void _col_range(const floating *x, floating *y, Py_ssize_t f0, Py_ssize_t f1,
                            Py_ssize_t n, Py_ssize_t inner, floating scale, int log,
                            int approx) noexcept nogil:
    """Columns [f0, f1) of an (outer, n, inner) problem, numbered across slabs
    (column f is column f % inner of slab f // inner): one kernel call per slab."""
    cdef Py_ssize_t o, k0, k1, offset
    while f0 < f1:
        o = f0 // inner
        k0 = f0 - o * inner
        k1 = min(inner, f1 - o * inner)
        offset = o * n * inner + k0
        psm_cols(x + offset, y + offset, n, inner, k1 - k0, scale, log, approx)
        f0 = o * inner + k1


cdef inline Py_ssize_t _col_split(Py_ssize_t p, Py_ssize_t parts, Py_ssize_t outer,
                                  Py_ssize_t inner) noexcept nogil:
    """Where part p of `parts` equal parts of the outer * inner columns starts,
    moved down to a multiple of PSM_STRIP within its slab."""
    cdef Py_ssize_t f = p * (outer * inner // parts) + p * (outer * inner % parts) // parts
    cdef Py_ssize_t o = f // inner
    return o * inner + (f - o * inner) // PSM_STRIP * PSM_STRIP


cdef struct ColsJob:       # one call of cols() on several threads, for its chunks (_cols_chunk)
    const void *x
    void *y
    Py_ssize_t outer, n, inner, chunks
    double scale              # float's scale converts to double and back exactly
    int log, approx, is_double


cdef void _cols_chunk(void *ctx, ptrdiff_t c) noexcept nogil:
    """Chunk c of the job: columns [_col_split(c), _col_split(c + 1))."""
    cdef ColsJob *job = <ColsJob *>ctx
    cdef Py_ssize_t f0 = _col_split(c, job.chunks, job.outer, job.inner)
    cdef Py_ssize_t f1 = _col_split(c + 1, job.chunks, job.outer, job.inner)
    if job.is_double:
        _col_range(<const double *>job.x, <double *>job.y, f0, f1, job.n, job.inner,
                   job.scale, job.log, job.approx)
    else:
        _col_range(<const float *>job.x, <float *>job.y, f0, f1, job.n, job.inner,
                   <float>job.scale, job.log, job.approx)


def cols(const floating[:, :, ::1] x,   # IN  (outer, n, inner), C-contiguous
         floating[:, :, ::1] y,         # OUT (outer, n, inner), C-contiguous; may be x
         bint log, int n_threads, floating scale=1, bint approx=False):
    """y[o, :, k] = softmax(scale * x[o, :, k]) (log_softmax if log) for all o, k; n >= 1.

    The outer * inner columns go in contiguous runs (split at multiples of
    PSM_STRIP within a slab; up to CHUNKS_PER_THREAD a thread, each at least
    CHUNK_STRIPS strips), which the threads of psm_parallel_for claim in turn
    (as the rows: no thread waits for one that starts late); the kernel
    pipelines the strips of a run.  A column's result does not depend on the
    split.
    """
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef ColsJob job
    if outer == 0 or n == 0 or inner == 0:
        return
    job.x, job.y = &x[0, 0, 0], &y[0, 0, 0]
    job.outer, job.n, job.inner = outer, n, inner
    job.chunks = max(1, min(<Py_ssize_t>n_threads * CHUNKS_PER_THREAD,
                            outer * inner // (CHUNK_STRIPS * PSM_STRIP)))
    job.scale, job.log, job.approx = scale, log, approx
    job.is_double = floating is double
    with nogil:
        if n_threads <= 1 or job.chunks == 1:
            _col_range(&x[0, 0, 0], &y[0, 0, 0], 0, outer * inner, n, inner, scale, log, approx)
        else:
            psm_parallel_for(_cols_chunk, &job, job.chunks, n_threads)


def grad_rows(const floating[:, :] y,    # IN  (rows, n) forward output, rows contiguous
              const floating[:, :] dy,   # IN  (rows, n) gradient, rows contiguous
              floating[:, :] out,        # OUT (rows, n), rows contiguous; may be y or dy
              bint log, int n_threads):
    """out[i] = the backward pass of softmax (log_softmax if log) for every row i."""
    cdef Py_ssize_t n_rows = y.shape[0], n = y.shape[1], c, r0, r1
    cdef Py_ssize_t chunks = min(<Py_ssize_t>n_threads, n_rows)
    cdef Py_ssize_t ldy, lddy, ldo
    if n > 1 and (y.strides[1] != sizeof(floating) or dy.strides[1] != sizeof(floating)
                  or out.strides[1] != sizeof(floating)):
        raise ValueError("rows must be contiguous")
    if (y.strides[0] % sizeof(floating) or dy.strides[0] % sizeof(floating)
            or out.strides[0] % sizeof(floating)):
        raise ValueError("row strides must be multiples of the item size")
    ldy = y.strides[0] // <Py_ssize_t>sizeof(floating)
    lddy = dy.strides[0] // <Py_ssize_t>sizeof(floating)
    ldo = out.strides[0] // <Py_ssize_t>sizeof(floating)
    if n_rows == 0:
        return
    with nogil:
        if chunks == 1:      # no parallel region (none may run in a forked child)
            psm_grad_rows(&y[0, 0], ldy, &dy[0, 0], lddy, &out[0, 0], ldo, n_rows, n, log)
        else:
            for c in prange(chunks, num_threads=n_threads, schedule='static'):
                r0 = c * n_rows // chunks
                r1 = (c + 1) * n_rows // chunks
                psm_grad_rows(&y[r0, 0], ldy, &dy[r0, 0], lddy, &out[r0, 0], ldo, r1 - r0, n,
                              log)


def exp(const floating[::1] x, floating[::1] y, bint approx=False):
    """y = exp(x) with the kernels' own exp, or y = 2^x with the approximate
    base-2 one (approx); for the tests."""
    if x.shape[0] == 0:
        return
    psm_exp(&x[0], &y[0], x.shape[0], approx)


cdef struct SlicesJob:     # one call of row_stats or row_normalise, for its chunks (_slices_chunk)
    const void *x
    const unsigned char *mask
    void *y                   # normalise: the output; stats: unused
    double *m
    double *r
    double *ones
    double *others
    Py_ssize_t ldx, ldmask, ldy, n_rows, n, chunks
    double scale              # float's scale converts to double and back exactly
    int log, normalise, is_double


cdef inline void _slices_range(SlicesJob *job, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows [r0, r1) of the job: their statistics, or their outputs from them."""
    cdef const unsigned char *mask = NULL if job.mask == NULL else job.mask + r0 * job.ldmask
    if r1 <= r0:
        return
    if job.is_double:
        if job.normalise:
            psm_row_normalise(<const double *>job.x + r0 * job.ldx, job.ldx, mask, job.ldmask,
                              <double *>job.y + r0 * job.ldy, job.ldy, r1 - r0, job.n,
                              job.scale, job.m + r0, job.r + r0, job.ones + r0,
                              job.others + r0, job.log)
        else:
            psm_row_stats(<const double *>job.x + r0 * job.ldx, job.ldx, mask, job.ldmask,
                          r1 - r0, job.n, job.scale, job.m + r0, job.r + r0, job.ones + r0,
                          job.others + r0)
    else:
        if job.normalise:
            psm_row_normalise(<const float *>job.x + r0 * job.ldx, job.ldx, mask, job.ldmask,
                              <float *>job.y + r0 * job.ldy, job.ldy, r1 - r0, job.n,
                              <float>job.scale, job.m + r0, job.r + r0, job.ones + r0,
                              job.others + r0, job.log)
        else:
            psm_row_stats(<const float *>job.x + r0 * job.ldx, job.ldx, mask, job.ldmask,
                          r1 - r0, job.n, <float>job.scale, job.m + r0, job.r + r0,
                          job.ones + r0, job.others + r0)


cdef void _slices_chunk(void *ctx, ptrdiff_t c) noexcept nogil:
    """Chunk c of the job: rows [c * n_rows // chunks, (c + 1) * n_rows // chunks)."""
    cdef SlicesJob *job = <SlicesJob *>ctx
    _slices_range(job, c * job.n_rows // job.chunks, (c + 1) * job.n_rows // job.chunks)


cdef void _slices_run(SlicesJob *job, int n_threads) noexcept nogil:
    """The job's rows on n_threads threads, in chunks as _rows_parallel's."""
    if n_threads <= 1:
        _slices_range(job, 0, job.n_rows)
        return
    job.chunks = min(<Py_ssize_t>n_threads * CHUNKS_PER_THREAD,
                     max(<Py_ssize_t>n_threads, job.n_rows // CHUNK_ROWS), job.n_rows)
    psm_parallel_for(_slices_chunk, job, job.chunks, n_threads)


cdef Py_ssize_t _row_stride(Py_ssize_t n, Py_ssize_t stride0, Py_ssize_t stride1,
                            Py_ssize_t itemsize) except -1:
    """The row stride in elements of a (rows, n) array with contiguous rows."""
    if n > 1 and stride1 != itemsize:
        raise ValueError("rows must be contiguous")
    if stride0 % itemsize:
        raise ValueError("row strides must be multiples of the item size")
    return stride0 // itemsize


def _slices(const floating[:, :] x, floating[:, :] y, const double[:, ::1] stats, bint log,
            bint normalise, int n_threads, floating scale,
            const unsigned char[:, :] where):
    """row_stats (y None) or row_normalise: the checks and the job they share."""
    cdef SlicesJob job
    cdef Py_ssize_t n_rows = x.shape[0], n = x.shape[1]
    if stats.shape[0] != 4 or stats.shape[1] != n_rows:
        raise ValueError("stats must have the shape (4, rows)")
    job.ldx = _row_stride(n, x.strides[0], x.strides[1], sizeof(floating))
    job.ldy = 0
    if normalise:
        if y.shape[0] != n_rows or y.shape[1] != n:
            raise ValueError("y must have the shape of x")
        job.ldy = _row_stride(n, y.strides[0], y.strides[1], sizeof(floating))
    job.mask, job.ldmask = NULL, 0
    if where is not None:
        if where.shape[0] != n_rows or where.shape[1] != n:
            raise ValueError("where must have the shape of x")
        job.ldmask = _row_stride(n, where.strides[0], where.strides[1], 1)
    if n_rows == 0:
        return
    if where is not None:
        job.mask = &where[0, 0]
    job.x, job.y = &x[0, 0], &y[0, 0] if normalise else NULL
    job.m, job.r = <double *>&stats[0, 0], <double *>&stats[1, 0]
    job.ones, job.others = <double *>&stats[2, 0], <double *>&stats[3, 0]
    job.n_rows, job.n, job.chunks = n_rows, n, 1
    job.scale, job.log, job.normalise = scale, log, normalise
    job.is_double = floating is double
    with nogil:
        _slices_run(&job, n_threads)


def row_stats(const floating[:, :] x,     # IN  (rows, n), each row contiguous
              double[:, ::1] stats,       # OUT (4, rows): m, r, ones, others of each row
              int n_threads, floating scale=1,
              const unsigned char[:, :] where=None):   # IN (rows, n) mask, rows contiguous
    """The statistics of every row of scale * x, of the elements `where`
    selects (src/slices_body.h, pysoftmax/_slices.py); n >= 1."""
    _slices(x, None, stats, False, False, n_threads, scale, where)


def row_normalise(const floating[:, :] x,   # IN  (rows, n), each row contiguous
                  floating[:, :] y,         # OUT (rows, n), each row contiguous; may be x
                  const double[:, ::1] stats,   # IN (4, rows): m, r, ones, others
                  bint log, int n_threads, floating scale=1,
                  const unsigned char[:, :] where=None):
    """y[i] = softmax(scale * x[i]) (log_softmax if log) from the statistics
    of row i (of the whole slice, e.g. combined from its pieces); n >= 1."""
    _slices(x, y, stats, log, True, n_threads, scale, where)


def log_sums(const double[:, ::1] stats,   # IN (4, rows): m, r, ones, others
             double[::1] out):             # OUT (rows,)
    """out[i] = the log of the sum of row i's terms from its statistics:
    m + (r + log(ones) + log1p(others / ones)) in effect; +inf for a +inf
    max, -inf for only -inf or nothing selected, NaN for a NaN (as
    pysoftmax._slices.log_sum).  The kernel's vectorised loop (its float
    instantiation: the statistics are double whatever the input)."""
    cdef Py_ssize_t n_rows = stats.shape[1]
    if stats.shape[0] != 4 or out.shape[0] != n_rows:
        raise ValueError("stats must have the shape (4, rows) and out (rows,)")
    if n_rows == 0:
        return
    with nogil:
        psm_log_sums_f32(&stats[0, 0], &stats[1, 0], &stats[2, 0], &stats[3, 0], n_rows, &out[0])


cdef struct ColStatsJob:   # one call of col_stats on several threads (_col_stats_chunk)
    const void *x
    double *m
    double *r
    double *ones
    double *others
    Py_ssize_t outer, n, inner, chunks
    double scale
    int is_double


cdef inline void _col_stats_range(ColStatsJob *job, Py_ssize_t f0, Py_ssize_t f1) noexcept nogil:
    """The statistics of columns [f0, f1) numbered across slabs (as _col_range):
    one kernel call per slab."""
    cdef Py_ssize_t o, k0, k1, offset
    while f0 < f1:
        o = f0 // job.inner
        k0 = f0 - o * job.inner
        k1 = min(job.inner, f1 - o * job.inner)
        offset = o * job.n * job.inner + k0
        if job.is_double:
            psm_col_stats(<const double *>job.x + offset, job.n, job.inner, k1 - k0, job.scale,
                          job.m + f0, job.r + f0, job.ones + f0, job.others + f0)
        else:
            psm_col_stats(<const float *>job.x + offset, job.n, job.inner, k1 - k0,
                          <float>job.scale, job.m + f0, job.r + f0, job.ones + f0,
                          job.others + f0)
        f0 = o * job.inner + k1


cdef void _col_stats_chunk(void *ctx, ptrdiff_t c) noexcept nogil:
    """Chunk c of the job: columns [_col_split(c), _col_split(c + 1))."""
    cdef ColStatsJob *job = <ColStatsJob *>ctx
    _col_stats_range(job, _col_split(c, job.chunks, job.outer, job.inner),
                     _col_split(c + 1, job.chunks, job.outer, job.inner))


def col_stats(const floating[:, :, ::1] x,   # IN  (outer, n, inner), C-contiguous
              double[:, ::1] stats,          # OUT (4, outer * inner): m, r, ones, others
              int n_threads, floating scale=1):
    """The statistics of every column x[o, :, k] of scale * x (one slice
    each), into stats[:, o * inner + k]; split over threads as cols()."""
    cdef ColStatsJob job
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    if stats.shape[0] != 4 or stats.shape[1] != outer * inner:
        raise ValueError("stats must have the shape (4, outer * inner)")
    if outer == 0 or n == 0 or inner == 0:
        return
    job.x = &x[0, 0, 0]
    job.m, job.r, job.ones, job.others = &stats[0, 0], &stats[1, 0], &stats[2, 0], &stats[3, 0]
    job.outer, job.n, job.inner = outer, n, inner
    job.chunks = max(1, min(<Py_ssize_t>n_threads * CHUNKS_PER_THREAD,
                            outer * inner // (CHUNK_STRIPS * PSM_STRIP)))
    job.scale = scale
    job.is_double = floating is double
    with nogil:
        if n_threads <= 1 or job.chunks == 1:
            _col_stats_range(&job, 0, outer * inner)
        else:
            psm_parallel_for(_col_stats_chunk, &job, job.chunks, n_threads)
