/*
 * metalcore: fast linear-algebra and neural-network kernels, CPU (C11) and CUDA backends.
 *
 * The public C API. Every op takes tensor descriptors (mc_tensor), checks them at the boundary,
 * and dispatches to the backend of the tensors' device. Ops never allocate device memory and
 * never exit: outputs and workspaces come from the caller, failures come back as an mc_status
 * with the detail in mc_last_error().
 *
 * Conventions (see shared/DESIGN.md):
 *   - names read mc_<object>_<action>; enum values MC_<ENUM>_<VALUE>;
 *   - strides are in elements; an op states which layouts it accepts and rejects the others
 *     with MC_STATUS_INVALID_ARGUMENT (never reads memory it was not given);
 *   - CUDA work runs on the stream passed in (a cudaStream_t as void*; NULL is the legacy
 *     default stream) and on the tensors' device.
 */
#ifndef METALCORE_H
#define METALCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MC_API __declspec(dllexport)
#else
#define MC_API __attribute__((visibility("default")))
#endif

#define MC_VERSION_MAJOR 0
#define MC_VERSION_MINOR 1
#define MC_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------------------------ */

typedef enum mc_status {
    MC_STATUS_SUCCESS = 0,
    MC_STATUS_INVALID_ARGUMENT = 1,  /* NULL pointer, bad rank, bad layout, bad option */
    MC_STATUS_SHAPE_MISMATCH = 2,    /* shapes of the arguments do not agree */
    MC_STATUS_UNSUPPORTED_DTYPE = 3, /* dtype not handled by this op */
    MC_STATUS_DEVICE_MISMATCH = 4,   /* tensors on different devices */
    MC_STATUS_UNSUPPORTED_DEVICE = 5,/* device type not handled, or backend not compiled in */
    MC_STATUS_CUDA_ERROR = 6,        /* a CUDA runtime call or launch failed */
    MC_STATUS_NUMERICAL_ERROR = 7,   /* singular / not positive definite (info in the message) */
    MC_STATUS_NOT_CONVERGED = 8,     /* an iterative method hit its sweep limit */
    MC_STATUS_INTERNAL_ERROR = 9,
    MC_STATUS_COUNT_ = 10
} mc_status;

/* A fixed, human-readable name for a status ("invalid argument", ...). Never NULL. */
MC_API const char *mc_status_string(mc_status status);

/* Detail of the last failure on this thread (empty string if none). Valid until the next
 * mc_* call on the same thread. */
MC_API const char *mc_last_error(void);

/* ---- dtypes ------------------------------------------------------------------------------ */

typedef enum mc_dtype {
    MC_DTYPE_F32 = 0,
    MC_DTYPE_F64 = 1,
    MC_DTYPE_F16 = 2,
    MC_DTYPE_BF16 = 3,
    MC_DTYPE_I8 = 4,
    MC_DTYPE_U8 = 5,
    MC_DTYPE_I16 = 6,
    MC_DTYPE_I32 = 7,
    MC_DTYPE_I64 = 8,
    MC_DTYPE_BOOL = 9,
    MC_DTYPE_COUNT_ = 10
} mc_dtype;

/* Size in bytes of one element (0 for an invalid dtype). */
MC_API size_t mc_dtype_size(mc_dtype dtype);
/* "float32", "bfloat16", ... ("invalid" for an invalid dtype). */
MC_API const char *mc_dtype_name(mc_dtype dtype);

/* ---- devices and tensors ----------------------------------------------------------------- */

typedef enum mc_device_type {
    MC_DEVICE_CPU = 0,
    MC_DEVICE_CUDA = 1
} mc_device_type;

typedef struct mc_device {
    mc_device_type type;
    int index; /* CUDA ordinal; 0 for the CPU */
} mc_device;

#define MC_MAX_DIMS 8

/* A view of memory the caller owns. shape[i] >= 0; strides in elements (may be 0 or
 * negative only where an op says so). */
typedef struct mc_tensor {
    void *data;
    mc_dtype dtype;
    int ndim; /* 0 .. MC_MAX_DIMS */
    int64_t shape[MC_MAX_DIMS];
    int64_t strides[MC_MAX_DIMS];
    mc_device device;
} mc_tensor;

/* A cudaStream_t, passed opaquely so this header needs no CUDA headers. Ignored on the CPU. */
typedef void *mc_stream_t;

/* Fills a contiguous (row-major) descriptor. Returns MC_STATUS_INVALID_ARGUMENT for a bad
 * rank or negative extent. */
MC_API mc_status mc_tensor_init_contiguous(mc_tensor *t, void *data, mc_dtype dtype, int ndim,
                                           const int64_t *shape, mc_device device);
/* Number of elements (product of the extents; 1 for rank 0). */
MC_API int64_t mc_tensor_numel(const mc_tensor *t);
/* 1 if the tensor is row-major contiguous (extent-1 dimensions' strides ignored). */
MC_API int mc_tensor_is_contiguous(const mc_tensor *t);

/* ---- library queries --------------------------------------------------------------------- */

MC_API const char *mc_version(void); /* "0.1.0" */
/* 1 if the CUDA backend was compiled into this build. */
MC_API int mc_has_cuda(void);
/* Number of usable CUDA devices (0 when CUDA is not compiled in or no driver/device). */
MC_API int mc_cuda_device_count(void);
/* The CUDA architectures this build carries machine code for, e.g. "90" ("" without CUDA). */
MC_API const char *mc_cuda_architectures(void);

/* ---- ops, one header per family ---------------------------------------------------------- */

#include "metalcore/rmsnorm.h"
#include "metalcore/adamw.h"
#include "metalcore/rope.h"
#include "metalcore/embedding_bag.h"
#include "metalcore/activations.h"
#include "metalcore/softmax.h"
#include "metalcore/eigh.h"
#include "metalcore/svd.h"
#include "metalcore/linalg_direct.h"

#ifdef __cplusplus
}
#endif

#endif /* METALCORE_H */
