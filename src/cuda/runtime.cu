/* CUDA runtime helpers: device count, device guard, launch errors. */
#include "common.cuh"

extern "C" int mc_cuda_runtime_device_count(void) {
    static int count = -1; /* the device count cannot change while the process runs */
    if (count < 0) {
        int c = 0;
        if (cudaGetDeviceCount(&c) != cudaSuccess) {
            cudaGetLastError(); /* no driver / no device: clear the sticky-free error */
            c = 0;
        }
        count = c;
    }
    return count;
}

extern "C" mc_status mc_cuda_set_device(int device) {
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess)
        return mc_fail(MC_STATUS_CUDA_ERROR, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
    return MC_STATUS_SUCCESS;
}

namespace mc {

DeviceGuard::DeviceGuard(int device) {
    (void)cudaGetLastError(); /* so check_launch reports this launch, not an older failure */
    int cur = -1;
    cudaError_t e = cudaGetDevice(&cur);
    if (e == cudaSuccess && cur == device) return;
    e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        status_ = mc_fail(MC_STATUS_CUDA_ERROR, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
        return;
    }
    previous_ = cur;
}

DeviceGuard::~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
}

mc_status launch_status(cudaError_t e, const char *what) {
    if (e != cudaSuccess)
        return mc_fail(MC_STATUS_CUDA_ERROR, "%s: %s", what, cudaGetErrorString(e));
    return MC_STATUS_SUCCESS;
}

mc_status check_launch(const char *what) { return launch_status(cudaGetLastError(), what); }

} // namespace mc
