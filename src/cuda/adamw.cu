/* AdamW on CUDA: one launch over every tensor of a plan (see include/metalcore/adamw.h), then a
 * tiny launch that advances the step counts. Mirrors src/cpu/adamw.c; element math in fp32, bias
 * corrections in double (as torch's fused kernel), 16-byte loads where the buffers allow. */
#include "common.cuh"

#include "../core/adamw.h"

namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4; /* elements per vector access: 16 bytes of f32 moments, 8 or 16 of params */

struct Scalars {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, step_size, bc2_sqrt, decay, grad_scale;
    bool maximize, have_scale;
};

__device__ __forceinline__ void update(float gr, float &p, float &m, float &v, float *vmax,
                                       const Scalars &s) {
    if (s.have_scale) gr = gr / s.grad_scale; /* divide by the scale, as torch does */
    if (s.maximize) gr = -gr;
    p *= s.decay;
    m = s.beta1 * m + s.one_minus_beta1 * gr;
    v = s.beta2 * v + s.one_minus_beta2 * gr * gr;
    float vh = v;
    if (vmax) {
        vh = fmaxf(*vmax, v);
        *vmax = vh;
    }
    p -= s.step_size * m / (sqrtf(vh) / s.bc2_sqrt + s.eps);
}

/* One block per chunk of MC_ADAMW_CHUNK elements of one tensor (block -> (tensor, chunk) map in
 * the plan): purely memory bound, so blocks are uniform and the grid covers every tensor at once. */
template <typename T>
__global__ void __launch_bounds__(kThreads)
    adamw_step_kernel(const mc_adamw_tensor *__restrict__ tensors, const mc_adamw_chunk *__restrict__ map,
                      const void *const *__restrict__ grads, const mc_adamw_group *__restrict__ groups,
                      const float *__restrict__ grad_scale, const float *__restrict__ found_inf) {
    if (found_inf && *found_inf != 0.0f) return;
    const mc_adamw_chunk ck = map[blockIdx.x];
    const mc_adamw_tensor t = tensors[ck.tensor];
    const mc_adamw_group g = groups[t.group];
    const double step = (double)*t.step + 1.0;
    const double lr = g.lr_tensor ? (double)*g.lr_tensor : g.lr;
    Scalars s;
    s.beta1 = (float)g.beta1;
    s.beta2 = (float)g.beta2;
    s.one_minus_beta1 = (float)(1.0 - g.beta1);
    s.one_minus_beta2 = (float)(1.0 - g.beta2);
    s.eps = (float)g.eps;
    s.step_size = (float)(lr / (1.0 - pow(g.beta1, step)));
    s.bc2_sqrt = (float)sqrt(1.0 - pow(g.beta2, step));
    s.decay = (float)(1.0 - lr * g.weight_decay);
    s.have_scale = grad_scale != nullptr;
    s.grad_scale = grad_scale ? *grad_scale : 1.0f;
    s.maximize = g.maximize != 0;

    T *__restrict__ p = static_cast<T *>(t.param);
    const T *__restrict__ gr = static_cast<const T *>(grads[ck.tensor]);
    float *__restrict__ m = t.exp_avg;
    float *__restrict__ v = t.exp_avg_sq;
    float *__restrict__ vm = t.max_exp_avg_sq;
    float *__restrict__ ms = t.master;
    const int64_t begin = (int64_t)ck.chunk * MC_ADAMW_CHUNK;
    const int64_t end = min(begin + (int64_t)MC_ADAMW_CHUNK, t.numel);

    const uintptr_t mis = (reinterpret_cast<uintptr_t>(p) | reinterpret_cast<uintptr_t>(gr)) & (sizeof(T) * kVec - 1);
    const uintptr_t misf = (reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(v) |
                            reinterpret_cast<uintptr_t>(vm) | reinterpret_cast<uintptr_t>(ms)) & 15u;
    int64_t scalar_from = begin;
    if (mis == 0 && misf == 0) {
        const int64_t vend = begin + ((end - begin) / kVec) * kVec;
        for (int64_t i = begin + (int64_t)threadIdx.x * kVec; i < vend; i += (int64_t)kThreads * kVec) {
            const mc::Pack<T, kVec> gp = mc::load_pack<T, kVec>(gr + i);
            float4 mv = *reinterpret_cast<const float4 *>(m + i);
            float4 vv = *reinterpret_cast<const float4 *>(v + i);
            float pf[kVec], mf[kVec] = {mv.x, mv.y, mv.z, mv.w}, vf[kVec] = {vv.x, vv.y, vv.z, vv.w};
            float xf[kVec];
            if (ms) {
                float4 q = *reinterpret_cast<const float4 *>(ms + i);
                pf[0] = q.x; pf[1] = q.y; pf[2] = q.z; pf[3] = q.w;
            } else {
                const mc::Pack<T, kVec> pp = mc::load_pack<T, kVec>(p + i);
#pragma unroll
                for (int j = 0; j < kVec; ++j) pf[j] = mc::to_float(pp.v[j]);
            }
            if (vm) {
                float4 q = *reinterpret_cast<const float4 *>(vm + i);
                xf[0] = q.x; xf[1] = q.y; xf[2] = q.z; xf[3] = q.w;
            }
#pragma unroll
            for (int j = 0; j < kVec; ++j) update(mc::to_float(gp.v[j]), pf[j], mf[j], vf[j], vm ? &xf[j] : nullptr, s);
            *reinterpret_cast<float4 *>(m + i) = make_float4(mf[0], mf[1], mf[2], mf[3]);
            *reinterpret_cast<float4 *>(v + i) = make_float4(vf[0], vf[1], vf[2], vf[3]);
            if (vm) *reinterpret_cast<float4 *>(vm + i) = make_float4(xf[0], xf[1], xf[2], xf[3]);
            if (ms) *reinterpret_cast<float4 *>(ms + i) = make_float4(pf[0], pf[1], pf[2], pf[3]);
            mc::Pack<T, kVec> po;
#pragma unroll
            for (int j = 0; j < kVec; ++j) po.v[j] = mc::from_float<T>(pf[j]);
            mc::store_pack<T, kVec>(p + i, po);
        }
        scalar_from = vend;
    }
    for (int64_t i = scalar_from + threadIdx.x; i < end; i += kThreads) {
        float pf = ms ? ms[i] : mc::to_float(p[i]);
        float mf = m[i], vf = v[i], xf = vm ? vm[i] : 0.0f;
        update(mc::to_float(gr[i]), pf, mf, vf, vm ? &xf : nullptr, s);
        m[i] = mf;
        v[i] = vf;
        if (vm) vm[i] = xf;
        if (ms) ms[i] = pf;
        p[i] = mc::from_float<T>(pf);
    }
}

/* One thread per tensor: step += 1 unless the step was skipped (runs after the update kernel on
 * the same stream, so every block of it read the old count). */
__global__ void adamw_advance_steps(const mc_adamw_tensor *__restrict__ tensors, int64_t n,
                                    const float *__restrict__ found_inf) {
    if (found_inf && *found_inf != 0.0f) return;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        *tensors[i].step += 1.0f;
}

template <typename T> mc_status launch(const mc_adamw_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const mc_adamw_tensor *ts = mc_adamw_plan_tensors(a->plan);
    const mc_adamw_chunk *map = mc_adamw_plan_chunks(a->plan, a->n_tensors);
    if (a->n_chunks > 0)
        adamw_step_kernel<T><<<(unsigned)a->n_chunks, kThreads, 0, s>>>(ts, map, a->grads, a->groups,
                                                                        a->grad_scale, a->found_inf);
    mc_status st = mc::check_launch("adamw step");
    if (st) return st;
    const int64_t blocks = (a->n_tensors + 255) / 256 < 1024 ? (a->n_tensors + 255) / 256 : 1024;
    adamw_advance_steps<<<(unsigned)blocks, 256, 0, s>>>(ts, a->n_tensors, a->found_inf);
    return mc::check_launch("adamw advance steps");
}

} // namespace

extern "C" mc_status mc_cuda_adamw_step(const mc_adamw_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return launch<float>(a);
    case MC_DTYPE_F16: return launch<__half>(a);
    case MC_DTYPE_BF16: return launch<__nv_bfloat16>(a);
    default: return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "adamw: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}
