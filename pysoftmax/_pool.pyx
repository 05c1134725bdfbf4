# cython: language_level=3
"""The result pool: large results reuse memory instead of asking the kernel.

A fresh 64 MB result from the C allocator costs page faults and the kernel's
zeroing of every page on the first write (4096x4096 float32: ~3.5 ms, a
third of the softmax itself), and glibc gives such blocks back to the kernel
when they are freed.  So results of at least MIN_BYTES come from here, as
ONNX Runtime's arena and PyTorch's caching allocator do: the array's `base`
is a PoolBuffer that owns one block, and when the last array or view that
points into it dies the block goes back to the pool's idle list (never
before), to be handed to the next result of about its size, its pages
already mapped.  The blocks are 2 MiB-aligned multiples of 2 MiB with the
transparent-huge-page advice (madvise(MADV_HUGEPAGE), as NumPy gives its own
large arrays), so the first touch of a fresh block costs 1/512 of the faults.

Bounds: the idle blocks hold at most `limit` bytes (the oldest are freed
first); a block idle for IDLE_SECONDS is freed at the next allocation or
release; limit 0 turns the pool off (and frees every idle block).  The
limit comes from PYSOFTMAX_RESULT_POOL (bytes) at import, DEFAULT_LIMIT
otherwise, and set_limit() (pysoftmax.set_result_pool).  Results below
MIN_BYTES are plain np.empty arrays: glibc already reuses blocks that small.

Thread safety: the idle list is guarded by a lock, held only by C code that
neither runs Python code nor releases the GIL (so no PoolBuffer can die
while it is held, and a thread that holds the GIL, as one calling fork()
does, never finds it held).  fork(): the child starts with an empty idle
list (its copies of the parent's idle blocks are freed) and a new lock;
blocks in use by arrays the child inherited go back to the child's own pool.
(Holding the lock across fork() would deadlock a fork handler or garbage
collection that frees a result meanwhile.)  At interpreter exit the idle
blocks are freed, and blocks released after that are freed at once.

Imports nothing of pysoftmax.
"""
import atexit
import os

import numpy as np

cimport numpy as cnp
from cpython.ref cimport Py_INCREF
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock, PyThread_type_lock,
                               PyThread_release_lock, WAIT_LOCK)

cnp.import_array()

cdef extern from *:
    """
    #include <stdlib.h>
    #include <time.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    #define PSM_BLOCK_ALIGN ((size_t)2 << 20)   /* a huge page on x86-64 */

    /* nbytes (a multiple of PSM_BLOCK_ALIGN), 2 MiB-aligned, huge-page advised;
       NULL if out of memory. */
    static void *psm_block_alloc(size_t nbytes) {
        void *p = NULL;
    #if defined(_WIN32)
        p = _aligned_malloc(nbytes, PSM_BLOCK_ALIGN);
    #else
        if (posix_memalign(&p, PSM_BLOCK_ALIGN, nbytes) != 0)
            p = NULL;
    #endif
    #if defined(MADV_HUGEPAGE)
        if (p != NULL)
            madvise(p, nbytes, MADV_HUGEPAGE);   /* advice: failure is harmless */
    #endif
        return p;
    }

    static void psm_block_free(void *p) {
    #if defined(_WIN32)
        _aligned_free(p);
    #else
        free(p);
    #endif
    }

    /* A C-contiguous, aligned, writeable array on data (which it does not own);
       steals a reference to descr, as PyArray_NewFromDescr does. */
    #define psm_array_on(descr, nd, dims, data) \
        PyArray_NewFromDescr(&PyArray_Type, (PyArray_Descr *)(descr), (nd), (dims), NULL, \
                             (data), NPY_ARRAY_CARRAY, NULL)

    static double psm_monotonic_seconds(void) {
    #if defined(CLOCK_MONOTONIC)
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    #else
        return (double)time(NULL);
    #endif
    }
    """
    size_t PSM_BLOCK_ALIGN
    void *psm_block_alloc(size_t nbytes) nogil
    void psm_block_free(void *p) nogil
    double psm_monotonic_seconds() nogil
    object psm_array_on(object descr, int nd, cnp.npy_intp *dims, void *data)


MIN_BYTES = 4 << 20              # smaller results: np.empty (NumPy's own huge-page threshold)
DEFAULT_LIMIT = 256 << 20        # idle bytes kept by default
IDLE_SECONDS = 1.0               # an idle block older than this is freed
cdef enum: MAX_IDLE = 32         # idle blocks kept at most (each >= MIN_BYTES)


cdef struct Block:
    void *ptr
    size_t nbytes
    double released              # when it went idle (psm_monotonic_seconds)


cdef Block _idle[MAX_IDLE]       # the idle blocks, oldest first
cdef int _n_idle = 0
cdef size_t _idle_bytes = 0
cdef size_t _limit = 0
cdef size_t _min_bytes = MIN_BYTES
cdef double _idle_seconds = IDLE_SECONDS
cdef bint _closed = False        # the interpreter is exiting: free at once
cdef size_t _in_use_bytes = 0    # held by live PoolBuffers (statistics)
cdef Py_ssize_t _in_use_blocks = 0
cdef PyThread_type_lock _lock = PyThread_allocate_lock()


cdef inline void _take(int i, Block *out) noexcept nogil:
    """Remove idle block i (the lock held) into *out."""
    global _n_idle, _idle_bytes
    cdef int j
    out[0] = _idle[i]
    _idle_bytes -= out.nbytes
    for j in range(i, _n_idle - 1):
        _idle[j] = _idle[j + 1]
    _n_idle -= 1


cdef int _evict(double now, size_t keep, Block *freed) noexcept nogil:
    """Remove (the lock held) the idle blocks older than the idle time, then the
    oldest until at most `keep` bytes and MAX_IDLE - 1 blocks stay; they go to
    freed[], to be freed once the lock is released.  Returns how many."""
    cdef int k = 0
    while _n_idle > 0 and (now - _idle[0].released > _idle_seconds or _idle_bytes > keep
                           or _n_idle >= MAX_IDLE):
        _take(0, &freed[k])
        k += 1
    return k


cdef inline void _free_all(Block *blocks, int k) noexcept nogil:
    cdef int i
    for i in range(k):
        psm_block_free(blocks[i].ptr)


cdef void *_acquire(size_t nbytes, size_t *size) noexcept:
    """A block of nbytes (a multiple of PSM_BLOCK_ALIGN): an idle one of at least
    that size and at most a quarter more, else a new one; NULL if out of memory.
    Its size goes to *size."""
    global _in_use_bytes, _in_use_blocks
    cdef Block freed[MAX_IDLE]
    cdef Block got
    cdef int i, best = -1, k
    got.ptr = NULL
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    k = _evict(psm_monotonic_seconds(), _limit, freed)
    for i in range(_n_idle):
        if nbytes <= _idle[i].nbytes <= nbytes + nbytes // 4 and (
                best < 0 or _idle[i].nbytes < _idle[best].nbytes):
            best = i
    if best >= 0:
        _take(best, &got)
    PyThread_release_lock(_lock)
    _free_all(freed, k)
    if got.ptr == NULL:
        got.ptr = psm_block_alloc(nbytes)
        got.nbytes = nbytes
    if got.ptr != NULL:
        _in_use_bytes += got.nbytes
        _in_use_blocks += 1
    size[0] = got.nbytes
    return got.ptr


cdef void _release(void *ptr, size_t nbytes) noexcept:
    """Give a block back: idle, or freed when the pool is off, closed or full."""
    global _n_idle, _idle_bytes, _in_use_bytes, _in_use_blocks
    cdef Block freed[MAX_IDLE + 1]
    cdef int k = 0
    cdef double now
    _in_use_bytes -= nbytes
    _in_use_blocks -= 1
    if _closed or nbytes > _limit:
        psm_block_free(ptr)
        return
    now = psm_monotonic_seconds()
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    k = _evict(now, _limit - nbytes, freed)
    _idle[_n_idle].ptr = ptr
    _idle[_n_idle].nbytes = nbytes
    _idle[_n_idle].released = now
    _n_idle += 1
    _idle_bytes += nbytes
    PyThread_release_lock(_lock)
    _free_all(freed, k)


cdef class PoolBuffer:
    """The owner of one block of the result pool: the `base` of a pooled
    result.  The block goes back to the pool when this object dies, that is
    when no array or view points into it any more."""
    cdef void *ptr
    cdef size_t _nbytes

    @property
    def nbytes(self):
        """The size of the block, in bytes."""
        return self._nbytes

    def __dealloc__(self):
        if self.ptr != NULL:
            _release(self.ptr, self._nbytes)
            self.ptr = NULL


cdef object _pooled(int nd, cnp.npy_intp *dims, cnp.dtype descr, size_t nbytes):
    """A C-contiguous, writeable array on a pooled block, or None if out of memory."""
    cdef size_t block = (nbytes + PSM_BLOCK_ALIGN - 1) // PSM_BLOCK_ALIGN * PSM_BLOCK_ALIGN
    cdef PoolBuffer owner = PoolBuffer.__new__(PoolBuffer)   # first: it gives the block back
    owner.ptr = _acquire(block, &owner._nbytes)
    if owner.ptr == NULL:
        return None
    Py_INCREF(descr)                 # psm_array_on steals it
    arr = psm_array_on(descr, nd, dims, owner.ptr)
    cnp.set_array_base(arr, owner)   # owner lives as long as arr and its views
    return arr


cdef size_t _size_in_bytes(int nd, const cnp.npy_intp *dims, size_t itemsize) noexcept:
    """itemsize times the product of dims; 0 if negative or beyond size_t."""
    cdef size_t nbytes = itemsize
    cdef int i
    for i in range(nd):
        if dims[i] < 0 or (dims[i] != 0 and nbytes > (<size_t>-1) // <size_t>dims[i]):
            return 0
        nbytes *= <size_t>dims[i]
    return nbytes


cdef object _pooled_if_large(int nd, cnp.npy_intp *dims, cnp.dtype descr):
    """An array on a pooled block if it has at least MIN_BYTES and the pool
    is on, else None (then np.empty makes it; also None if out of memory)."""
    if _limit == 0:
        return None
    cdef size_t nbytes = _size_in_bytes(nd, dims, descr.itemsize)
    if nbytes < _min_bytes:
        return None
    return _pooled(nd, dims, descr, nbytes)


cdef object new_result(int nd, cnp.npy_intp *dims, int type_num):
    """A new C-contiguous array of a built-in dtype: pooled when it has at least
    MIN_BYTES and the pool is on, else as np.empty makes it."""
    if _limit != 0:
        arr = _pooled_if_large(nd, dims, cnp.PyArray_DescrFromType(type_num))
        if arr is not None:
            return arr
    return cnp.PyArray_EMPTY(nd, dims, type_num, 0)


def empty(shape, dtype):
    """A new C-contiguous array like np.empty(shape, dtype): on a pooled block
    when it has at least MIN_BYTES and the pool is on, else from np.empty.

    >>> import numpy as np
    >>> a = empty((1024, 1024), np.float64)
    >>> type(a.base).__name__, a.flags.writeable, a.ctypes.data % 64
    ('PoolBuffer', True, 0)
    >>> empty((2, 3), np.float32).base is None
    True
    """
    descr = np.dtype(dtype)
    cdef cnp.npy_intp dims[64]
    cdef int nd, i
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nd = len(shape)
    if _limit != 0 and nd <= 64 and not descr.hasobject:
        for i in range(nd):
            dims[i] = shape[i]
        arr = _pooled_if_large(nd, dims, descr)
        if arr is not None:
            return arr
    return np.empty(shape, descr)


def set_limit(limit):
    """Keep at most `limit` bytes of idle blocks (0: the pool is off, and its
    idle blocks are freed); returns the previous limit."""
    global _limit
    cdef Block freed[MAX_IDLE]
    cdef int k
    cdef size_t new = _check_limit(limit)
    previous = _limit
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    _limit = new
    k = _evict(psm_monotonic_seconds(), new, freed)
    PyThread_release_lock(_lock)
    _free_all(freed, k)
    return previous


def trim():
    """Free every idle block now."""
    cdef Block freed[MAX_IDLE]
    cdef int k
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    k = _evict(psm_monotonic_seconds(), 0, freed)
    PyThread_release_lock(_lock)
    _free_all(freed, k)


def stats():
    """The pool's state: limit, min_bytes, idle_bytes, idle_blocks, in_use_bytes,
    in_use_blocks (blocks held by live results)."""
    return {"limit": _limit, "min_bytes": _min_bytes, "idle_bytes": _idle_bytes,
            "idle_blocks": _n_idle, "in_use_bytes": _in_use_bytes,
            "in_use_blocks": _in_use_blocks}


def _check_limit(limit):
    import operator
    value = operator.index(limit)
    if value < 0:
        raise ValueError(f"the result pool's limit must be at least 0 bytes, got {value}")
    return value


def _limit_from_environment():
    text = os.environ.get("PYSOFTMAX_RESULT_POOL", "").strip()
    if not text:
        return DEFAULT_LIMIT
    try:
        return _check_limit(int(text))
    except ValueError:
        import warnings
        warnings.warn(f"PYSOFTMAX_RESULT_POOL={text!r} is not a number of bytes; "
                      f"using {DEFAULT_LIMIT}", RuntimeWarning, stacklevel=2)
        return DEFAULT_LIMIT


def _set_idle_seconds(seconds):
    """For the tests: free blocks idle for `seconds`; returns the previous value."""
    global _idle_seconds
    previous = _idle_seconds
    _idle_seconds = float(seconds)
    return previous


def _after_fork_in_child():
    """A new lock, and no idle blocks: the child's copies of the parent's are
    freed."""
    global _lock
    cdef Block freed[MAX_IDLE]
    cdef int k
    _lock = PyThread_allocate_lock()
    k = _evict(psm_monotonic_seconds(), 0, freed)
    _free_all(freed, k)


def _at_exit():
    """Free the idle blocks; blocks released from now on are freed at once."""
    global _closed
    _closed = True
    trim()

_limit = _limit_from_environment()
os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
