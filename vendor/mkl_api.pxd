# Our declarations of the parts of Intel MKL that pysoftmax calls, and
# nothing else (LP64 interface: MKL_INT is int).  From mkl_vml_functions.h,
# mkl_vml_defines.h, mkl_cblas.h, mkl_service.h and mkl_types.h.

cdef extern from "mkl.h" nogil:
    ctypedef int MKL_INT
    ctypedef long long MKL_INT64

    # VML: r = f(a) elementwise; the vm* forms take the accuracy/error mode
    # per call (no global state).
    enum:
        VML_HA
        VML_ERRMODE_IGNORE
        VML_FTZDAZ_OFF
    void vmsExp(MKL_INT n, const float *a, float *r, MKL_INT64 mode)
    void vmdExp(MKL_INT n, const double *a, double *r, MKL_INT64 mode)
    void vmsSub(MKL_INT n, const float *a, const float *b, float *r, MKL_INT64 mode)
    void vmdSub(MKL_INT n, const double *a, const double *b, double *r, MKL_INT64 mode)
    void vmsMul(MKL_INT n, const float *a, const float *b, float *r, MKL_INT64 mode)
    void vmdMul(MKL_INT n, const double *a, const double *b, double *r, MKL_INT64 mode)

    # CBLAS level 1 and 2
    enum CBLAS_LAYOUT:
        CblasRowMajor
    enum CBLAS_TRANSPOSE:
        CblasTrans
    float cblas_sasum(MKL_INT n, const float *x, MKL_INT incx)
    double cblas_dasum(MKL_INT n, const double *x, MKL_INT incx)
    void cblas_sscal(MKL_INT n, float alpha, float *x, MKL_INT incx)
    void cblas_dscal(MKL_INT n, double alpha, double *x, MKL_INT incx)
    void cblas_sgemv(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE trans, MKL_INT m, MKL_INT n,
                     float alpha, const float *a, MKL_INT lda, const float *x, MKL_INT incx,
                     float beta, float *y, MKL_INT incy)
    void cblas_dgemv(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE trans, MKL_INT m, MKL_INT n,
                     double alpha, const double *a, MKL_INT lda, const double *x, MKL_INT incx,
                     double beta, double *y, MKL_INT incy)

    # Service (the fields we read)
    ctypedef struct MKLVersion:
        int MajorVersion
        int MinorVersion
        int UpdateVersion
        char *Processor
    void mkl_get_version(MKLVersion *version)
