# Our declarations of the parts of the oneDNN 3.2 C API that pysoftmax calls,
# and nothing else (oneapi/dnnl/dnnl.h, dnnl_common.h, dnnl_types.h).  The
# engine lives as long as the process, so nothing destroys it.

from libc.stdint cimport int64_t

cdef extern from "oneapi/dnnl/dnnl.h" nogil:
    ctypedef int dnnl_status_t
    enum:
        dnnl_success
    ctypedef int64_t dnnl_dim_t
    ctypedef dnnl_dim_t dnnl_dims_t[12]   # DNNL_MAX_NDIMS

    ctypedef int dnnl_data_type_t
    enum:
        dnnl_f32
    ctypedef int dnnl_engine_kind_t
    enum:
        dnnl_cpu
    ctypedef int dnnl_prop_kind_t
    enum:
        dnnl_forward_inference
    ctypedef int dnnl_alg_kind_t
    enum:
        dnnl_softmax_accurate
        dnnl_softmax_log
    ctypedef int dnnl_query_t
    enum:
        dnnl_query_impl_info_str
    enum:
        dnnl_stream_default_flags
        DNNL_ARG_SRC
        DNNL_ARG_DST

    ctypedef struct dnnl_engine:
        pass
    ctypedef dnnl_engine *dnnl_engine_t
    ctypedef struct dnnl_stream:
        pass
    ctypedef dnnl_stream *dnnl_stream_t
    ctypedef struct dnnl_memory_desc:
        pass
    ctypedef dnnl_memory_desc *dnnl_memory_desc_t
    ctypedef const dnnl_memory_desc *const_dnnl_memory_desc_t
    ctypedef struct dnnl_memory:
        pass
    ctypedef dnnl_memory *dnnl_memory_t
    ctypedef struct dnnl_primitive_desc:
        pass
    ctypedef dnnl_primitive_desc *dnnl_primitive_desc_t
    ctypedef const dnnl_primitive_desc *const_dnnl_primitive_desc_t
    ctypedef struct dnnl_primitive:
        pass
    ctypedef dnnl_primitive *dnnl_primitive_t
    ctypedef const dnnl_primitive *const_dnnl_primitive_t
    ctypedef struct dnnl_primitive_attr:
        pass
    ctypedef const dnnl_primitive_attr *const_dnnl_primitive_attr_t

    ctypedef struct dnnl_exec_arg_t:
        int arg
        dnnl_memory_t memory

    ctypedef struct dnnl_version_t:   # the fields we read
        int major
        int minor
        int patch

    const dnnl_version_t *dnnl_version()

    dnnl_status_t dnnl_engine_create(dnnl_engine_t *engine, dnnl_engine_kind_t kind, size_t index)
    dnnl_status_t dnnl_stream_create(dnnl_stream_t *stream, dnnl_engine_t engine, unsigned flags)
    dnnl_status_t dnnl_stream_wait(dnnl_stream_t stream)
    dnnl_status_t dnnl_stream_destroy(dnnl_stream_t stream)

    dnnl_status_t dnnl_memory_desc_create_with_strides(
        dnnl_memory_desc_t *memory_desc, int ndims, const dnnl_dims_t dims,
        dnnl_data_type_t data_type, const dnnl_dims_t strides)
    dnnl_status_t dnnl_memory_desc_destroy(dnnl_memory_desc_t memory_desc)
    dnnl_status_t dnnl_memory_create(dnnl_memory_t *memory, const_dnnl_memory_desc_t memory_desc,
                                     dnnl_engine_t engine, void *handle)
    dnnl_status_t dnnl_memory_destroy(dnnl_memory_t memory)

    dnnl_status_t dnnl_softmax_forward_primitive_desc_create(
        dnnl_primitive_desc_t *primitive_desc, dnnl_engine_t engine,
        dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind,
        const_dnnl_memory_desc_t src_desc, const_dnnl_memory_desc_t dst_desc,
        int softmax_axis, const_dnnl_primitive_attr_t attr)
    dnnl_status_t dnnl_primitive_desc_query(const_dnnl_primitive_desc_t primitive_desc,
                                            dnnl_query_t what, int index, void *result)
    dnnl_status_t dnnl_primitive_desc_destroy(dnnl_primitive_desc_t primitive_desc)
    dnnl_status_t dnnl_primitive_create(dnnl_primitive_t *primitive,
                                        const_dnnl_primitive_desc_t primitive_desc)
    dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t primitive, dnnl_stream_t stream,
                                         int nargs, const dnnl_exec_arg_t *args)
    dnnl_status_t dnnl_primitive_destroy(dnnl_primitive_t primitive)
