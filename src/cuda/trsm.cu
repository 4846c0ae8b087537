/* Triangular solve on CUDA: the kernels live in dense_common.cuh (shared with LU); a warp per
 * right-hand side for few of them, a thread per right-hand side for many. */
#include "dense_common.cuh"

namespace {
template <typename C> mc_status launch(const mc_dense_args *a) {
    const int64_t n = a->n, k = a->k;
    return mc::dense::launch_trsm<C>(static_cast<const C *>(a->a), n * n, static_cast<const C *>(a->b),
                                     static_cast<C *>(a->out), n * k, a->batch, (int)n, (int)k, a->lower,
                                     a->transpose, a->unit_diagonal, mc::as_stream(a->stream));
}
} // namespace

extern "C" mc_status mc_cuda_trsm(const mc_dense_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    if (a->dtype == MC_DTYPE_F64) return launch<double>(a);
    if (a->dtype == MC_DTYPE_F32) return launch<float>(a);
    return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "trsm: %s not supported on CUDA", mc_dtype_name(a->dtype));
}
