/* Cholesky on CUDA: one thread block per matrix, blocked by 32 columns with a lookahead on the
 * next diagonal block (see chol_kernel). Mirrors src/cpu/dense_kernels.h (chol_inplace) in what it
 * computes and reports: L (or U = L^T), and info = the order of the first leading minor that is
 * not positive-definite (NaN counts as not positive). */
#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* Blocked right-looking Cholesky with lookahead, one thread block per matrix, 32 columns per
 * step. The matrix S lives in shared memory when two blocks still fit on a multiprocessor, else
 * in place in the output L (global memory, L2 resident while the block works on it). Step k:
 *  1. every thread takes rows below the diagonal block and solves x Ld^T = a for its row's 32
 *     values in registers (Ld: the factored diagonal block with its diagonal inverted, 16-byte
 *     rows read as broadcasts), writing L and the panel transposed, PT[q][row] (16-byte rows:
 *     a 4x4 tile reads its 4 + 4 values per q as two conflict-free 16-byte loads);
 *  2. lookahead: warp 0 alone applies the panel to the next 32x32 diagonal block (in registers,
 *     a lane per row), factors it (column t reaches the lanes below by shuffles) and writes L and
 *     the next Ld, while warps 1.. update the rest of the trailing triangle, T -= P P^T, in 4x4
 *     register tiles (the 16 old values loaded before the product loop).
 * Two barriers per 32 columns, and the serial factorisation of the diagonal block overlaps the
 * trailing update instead of idling the block. In global memory there is no copy pass A -> L:
 * step 0 reads A and writes L, and only the zeros above the diagonal are stored up front.
 * Ideas: LAPACK's blocked potrf, MAGMA/LAPACK-style lookahead Cholesky and MAGMA's batched "small
 * size" potrf (register panel); the code is our own. Offsets within a matrix are int: n is
 * bounded by the shared-memory panel (32 pt_ld(n) elements), so n * n < 2^31. */
constexpr int NB = 32;  /* columns per step */
constexpr int LDD = 36; /* row stride of the inverted diagonal block Ld: 16-byte rows */

__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return rsqrt(x); }

/* four consecutive elements as 16-byte accesses (p 16-byte aligned) */
__device__ __forceinline__ void ld4(const float *p, float (&o)[4]) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
}
__device__ __forceinline__ void ld4(const double *p, double (&o)[4]) {
    const double2 v = reinterpret_cast<const double2 *>(p)[0], w = reinterpret_cast<const double2 *>(p)[1];
    o[0] = v.x, o[1] = v.y, o[2] = w.x, o[3] = w.y;
}
__device__ __forceinline__ void st4(float *p, const float (&o)[4]) {
    *reinterpret_cast<float4 *>(p) = make_float4(o[0], o[1], o[2], o[3]);
}
__device__ __forceinline__ void st4(double *p, const double (&o)[4]) {
    reinterpret_cast<double2 *>(p)[0] = make_double2(o[0], o[1]);
    reinterpret_cast<double2 *>(p)[1] = make_double2(o[2], o[3]);
}

/* shared-memory square copy: rows of a multiple of 4 elements whose 16-byte count is odd, so 8
 * consecutive rows read at the same column hit 8 different 16-byte bank groups */
__host__ __device__ inline int sq_ld(int n) {
    int l = (n + 3) / 4 * 4;
    if ((l / 4) % 2 == 0) l += 4;
    return l;
}
/* row stride of the transposed panel PT[q][row]: rows of a multiple of 4, at least 32 (warp 0
 * reads PT[q][0..31]) */
__host__ __device__ inline int pt_ld(int n) {
    const int l = (n + 3) / 4 * 4;
    return l < 32 ? 32 : l;
}
template <typename C> inline size_t chol_smem_bytes(int n, bool square) {
    return ((square ? (size_t)n * sq_ld(n) : 0) + (size_t)NB * LDD + (size_t)NB * pt_ld(n)) * sizeof(C);
}

/* Warp 0: the diagonal block of rows/columns r0 .. r0+w1-1 (lane = row). UPD: first subtract the
 * last panel's contribution, sum_q PT[q][lane] PT[q][t] (the block's share of the trailing
 * update). Then factor it in registers (column t reaches the lanes below by shuffles), write the
 * rows of L (zeros above the diagonal inside the block) and Ld (rows of 16 bytes, inverted
 * diagonal, zeros above). */
template <typename C, bool UPD>
__device__ __forceinline__ void diag_block(const C *src, C *S, int ld, int r0, int w1, bool vec, const C *PT, int ptld,
                                           C *Ld, int *fail, int lane) {
    C r[NB];
    const bool mine = lane < w1;
    const C *row = src + (r0 + lane) * ld + r0;
    if (vec && w1 == NB) { /* whole 16-byte groups; the elements above the diagonal are dropped */
#pragma unroll
        for (int g = 0; g < NB / 4; ++g) {
            C t4[4];
            ld4(row + 4 * g, t4);
#pragma unroll
            for (int h = 0; h < 4; ++h) r[4 * g + h] = 4 * g + h <= lane ? t4[h] : C(0);
        }
    } else {
#pragma unroll
        for (int t = 0; t < NB; ++t) r[t] = (mine && t <= lane) ? row[t] : C(0);
    }
    if (UPD) {
        if (sizeof(C) == 4) { /* separate sums: the loads above stay in flight during the products */
            C acc[NB];
#pragma unroll
            for (int t = 0; t < NB; ++t) acc[t] = C(0);
#pragma unroll 4
            for (int q = 0; q < NB; ++q) {
                const C *pq = PT + q * ptld;
                const C p = pq[lane];
#pragma unroll
                for (int g = 0; g < NB / 4; ++g) {
                    C v4[4];
                    ld4(pq + 4 * g, v4);
#pragma unroll
                    for (int h = 0; h < 4; ++h) acc[4 * g + h] += p * v4[h];
                }
            }
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = t <= lane ? r[t] - acc[t] : C(0);
        } else { /* fp64: 64 more registers would not fit; subtract in place */
#pragma unroll 2
            for (int q = 0; q < NB; ++q) {
                const C *pq = PT + q * ptld;
                const C p = pq[lane];
#pragma unroll
                for (int g = 0; g < NB / 4; ++g) {
                    C v4[4];
                    ld4(pq + 4 * g, v4);
#pragma unroll
                    for (int h = 0; h < 4; ++h) r[4 * g + h] -= p * v4[h];
                }
            }
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = t <= lane ? r[t] : C(0);
        }
    }
    int bad = 0;
#pragma unroll
    for (int t = 0; t < NB; ++t) {
        if (t >= w1) break;
        const C d = __shfl_sync(0xffffffffu, r[t], t); /* pivot after all earlier updates */
        if (!(d > C(0)) && !bad) bad = r0 + t + 1;       /* uniform: d is the same in every lane */
        const C ri = rsqrt_(d);                          /* NaN for d <= 0: reported above */
        r[t] = lane == t ? d * ri : r[t] * ri;
#pragma unroll
        for (int q = t + 1; q < NB; ++q) {
            const C lqt = __shfl_sync(0xffffffffu, r[t], q);
            if (lane >= q) r[q] -= r[t] * lqt;
        }
    }
    C dg = C(1);
#pragma unroll
    for (int t = 0; t < NB; ++t)
        if (t == lane) dg = r[t];
    const C dinv = C(1) / dg;
    C *orow = S + (r0 + lane) * ld + r0;
    C *lrow = Ld + lane * LDD;
#pragma unroll
    for (int g = 0; g < NB / 4; ++g) { /* Ld rows of lanes >= w1 are never read (no panel follows) */
        C o[4];
#pragma unroll
        for (int h = 0; h < 4; ++h) {
            const int t = 4 * g + h;
            o[h] = t < lane ? r[t] : (t == lane ? dinv : C(0));
        }
        st4(lrow + 4 * g, o);
    }
    if (vec && w1 == NB) {
#pragma unroll
        for (int g = 0; g < NB / 4; ++g) {
            C o[4];
#pragma unroll
            for (int h = 0; h < 4; ++h) o[h] = 4 * g + h <= lane ? r[4 * g + h] : C(0);
            st4(orow + 4 * g, o);
        }
    } else if (mine) {
#pragma unroll
        for (int t = 0; t < NB; ++t)
            if (t < w1) orow[t] = t <= lane ? r[t] : C(0);
    }
    if (lane == 0 && bad) *fail = bad;
}

/* All threads: the panel rows r0 .. n-1 of columns c0 .. c0+31 (c0 + 32 = r0), x Ld^T = a row
 * per thread; the result goes to S (final L) and to PT[q][s - r0]. */
template <typename C>
__device__ __forceinline__ void panel_rows(const C *src, C *S, int ld, int c0, int r0, int n, bool vec, const C *Ld,
                                           C *PT, int ptld, int tid, int nt) {
    for (int s = r0 + tid; s < n; s += nt) {
        C x[NB];
        const C *row = src + s * ld + c0;
        if (vec) {
#pragma unroll
            for (int g = 0; g < NB / 4; ++g) {
                C t4[4];
                ld4(row + 4 * g, t4);
#pragma unroll
                for (int h = 0; h < 4; ++h) x[4 * g + h] = t4[h];
            }
        } else {
#pragma unroll
            for (int t = 0; t < NB; ++t) x[t] = row[t];
        }
#pragma unroll
        for (int t = 0; t < NB; ++t) {
            C v = x[t], dinv = C(0);
#pragma unroll
            for (int g = 0; g <= t / 4; ++g) {
                C l4[4];
                ld4(Ld + t * LDD + 4 * g, l4); /* broadcast */
#pragma unroll
                for (int h = 0; h < 4; ++h) {
                    const int q = 4 * g + h;
                    if (q < t) v -= x[q] * l4[h];
                    else if (q == t) dinv = l4[h];
                }
            }
            x[t] = v * dinv;
        }
        C *orow = S + s * ld + c0;
        if (vec) {
#pragma unroll
            for (int g = 0; g < NB / 4; ++g) {
                C o[4] = {x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]};
                st4(orow + 4 * g, o);
            }
        } else {
#pragma unroll
            for (int t = 0; t < NB; ++t) orow[t] = x[t];
        }
#pragma unroll
        for (int t = 0; t < NB; ++t) PT[t * ptld + (s - r0)] = x[t];
    }
}

/* Threads t0 = 0 .. nthr-1 (warps 1..): the trailing triangle below the next diagonal block, rows
 * r0+32 .. n-1, T -= P P^T in 4x4 tiles (tile rows ti >= 8; the 36 tiles with ti < 8 are the
 * diagonal block, warp 0's). Old values are read from src (A in step 0 of the global-memory
 * case), results written to S. */
template <typename C>
__device__ __forceinline__ void syrk_tiles(const C *src, C *S, int ld, int r0, int m, bool vec, const C *PT, int ptld,
                                           int t0, int nthr) {
    const int mt = (m + 3) / 4, ntiles = mt * (mt + 1) / 2;
    for (int tile = 36 + t0; tile < ntiles; tile += nthr) {
        int ti = (int)((sqrtf(8.f * tile + 1.f) - 1.f) * 0.5f);
        while (ti * (ti + 1) / 2 > tile) --ti;
        while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
        const int tj = tile - ti * (ti + 1) / 2;
        const int i0 = 4 * ti, j0 = 4 * tj;
        const bool full = vec && tj < ti && i0 + 3 < m;
        const int off = (r0 + i0) * ld + r0 + j0;
        C old[4][4];
        if (full) {
#pragma unroll
            for (int e = 0; e < 4; ++e) ld4(src + off + e * ld, old[e]);
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f)
                    old[e][f] = (i0 + e < m && j0 + f <= i0 + e) ? src[off + e * ld + f] : C(0);
        }
        C acc[4][4];
#pragma unroll
        for (int e = 0; e < 4; ++e)
#pragma unroll
            for (int f = 0; f < 4; ++f) acc[e][f] = C(0);
#pragma unroll 8
        for (int q = 0; q < NB; ++q) {
            C u[4], v[4];
            ld4(PT + q * ptld + i0, u);
            ld4(PT + q * ptld + j0, v);
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
        }
        if (full) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                C o[4];
#pragma unroll
                for (int f = 0; f < 4; ++f) o[f] = old[e][f] - acc[e][f];
                st4(S + off + e * ld, o);
            }
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f)
                    if (i0 + e < m && j0 + f <= i0 + e) S[off + e * ld + f] = old[e][f] - acc[e][f];
        }
    }
}

/* The shared-memory copy of A loads columns lane + 32 k, k < 8. Never the binding limit: half the
 * shared memory of today's GPUs holds the square up to n = 148 (fp32) / 100 (fp64). */
constexpr int CHOL_SQUARE_MAX_N = 256;

/* A, L: (batch, n, n) row-major, not overlapping (mc_cholesky rejects L == A); info: (batch,).
 * SQUARE: S in shared memory (ld = sq_ld(n), n <= CHOL_SQUARE_MAX_N), else S is L itself (ld = n).
 * blockDim.x: a multiple of 32, 64 .. 256 (warp 0 takes the diagonal block, warps 1.. the rest).
 * fp32: <= 128 registers, two blocks per multiprocessor; fp64: one block (up to 255 registers). */
template <typename C, bool SQUARE>
__global__ void __launch_bounds__(256, sizeof(C) == 4 ? 2 : 1)
    chol_kernel(const C *__restrict__ A, C *__restrict__ L, int32_t *__restrict__ info, int n, int upper) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int fail;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const C *a = A + b * nn;
    C *l = L + b * nn;
    const int ld = SQUARE ? sq_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *S = SQUARE ? base : l;
    C *Ld = base + (SQUARE ? n * ld : 0);
    C *PT = Ld + NB * LDD;
    const int ptld = pt_ld(n);
    bool vec;
    if (SQUARE) {
        vec = true;
        /* lower triangle into shared memory, four rows per warp in flight (loads before stores) */
        for (int i0 = warp; i0 < n; i0 += 4 * nw) {
            C v[4][8];
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int i = i0 + u * nw, j = lane + 32 * k;
                    v[u][k] = (i < n && j <= i) ? a[i * n + j] : C(0);
                }
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int i = i0 + u * nw, j = lane + 32 * k;
                    if (i < n && j <= i) S[i * ld + j] = v[u][k];
                }
        }
    } else {
        vec = n % 4 == 0 && (reinterpret_cast<uintptr_t>(a) & 15) == 0 && (reinterpret_cast<uintptr_t>(l) & 15) == 0;
        /* step 0 reads A itself; only the zeros above the diagonal are written up front */
        for (int i = warp; i < n; i += nw)
            for (int j = i + 1 + lane; j < n; j += 32) l[i * n + j] = C(0);
    }
    if (tid == 0) fail = 0;
    __syncthreads();
    if (warp == 0) diag_block<C, false>(SQUARE ? S : a, S, ld, 0, min(NB, n), vec, PT, ptld, Ld, &fail, lane);
    __syncthreads();
    if (!SQUARE && fail) { /* uniform, rare: the first block failed; the rows below keep A's lower triangle */
        for (int i = NB + warp; i < n; i += nw)
            for (int j = lane; j <= i; j += 32) l[i * n + j] = a[i * n + j];
        __syncthreads();
    }
    for (int c0 = 0; c0 + NB < n; c0 += NB) {
        if (fail) break; /* uniform; like potrf, stop at the first failing minor */
        const int r0 = c0 + NB, m = n - r0;
        const C *src = (SQUARE || c0 > 0) ? S : a;
        panel_rows<C>(src, S, ld, c0, r0, n, vec, Ld, PT, ptld, tid, nt);
        __syncthreads();
        if (warp == 0) diag_block<C, true>(src, S, ld, r0, min(NB, m), vec, PT, ptld, Ld, &fail, lane);
        else syrk_tiles<C>(src, S, ld, r0, m, vec, PT, ptld, tid - 32, nt - 32);
        __syncthreads();
    }
    if (SQUARE) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32)
                l[i * n + j] = upper ? (i <= j ? S[j * ld + i] : C(0)) : (j <= i ? S[i * ld + j] : C(0));
    } else if (upper) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < i; j += 32) { /* each pair (i, j), j < i, belongs to this thread only */
                l[j * n + i] = l[i * n + j];
                l[i * n + j] = C(0);
            }
    }
    if (tid == 0) info[b] = fail;
}

template <typename T> mc_status launch(const mc_dense_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n;
    const T *A = static_cast<const T *>(a->a);
    T *L = static_cast<T *>(a->out);
    const int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    /* S in shared memory while two blocks still fit on a multiprocessor (H100: fp32 n <= 148,
     * fp64 n <= 100); else in L, up to n = 1780 (fp32) / 872 (fp64) for the panel */
    const size_t square = chol_smem_bytes<T>(n, true);
    if (n <= CHOL_SQUARE_MAX_N && square <= (size_t)mc::max_dyn_smem(a->device) / 2) {
        if (const cudaError_t e = mc::allow_smem(chol_kernel<T, true>, square))
            return mc::launch_status(e, "cholesky: shared memory opt-in");
        chol_kernel<T, true><<<(unsigned)a->batch, threads, square, s>>>(A, L, a->info, n, a->upper);
    } else {
        const size_t bytes = chol_smem_bytes<T>(n, false);
        if (bytes > (size_t)mc::max_dyn_smem(a->device))
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "cholesky: n = %d is too large for the CUDA kernel", n);
        if (const cudaError_t e = mc::allow_smem(chol_kernel<T, false>, bytes))
            return mc::launch_status(e, "cholesky: shared memory opt-in");
        chol_kernel<T, false><<<(unsigned)a->batch, threads, bytes, s>>>(A, L, a->info, n, a->upper);
    }
    return mc::check_launch("cholesky");
}

} // namespace

extern "C" mc_status mc_cuda_cholesky(const mc_dense_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    if (a->dtype == MC_DTYPE_F64) return launch<double>(a);
    if (a->dtype == MC_DTYPE_F32) return launch<float>(a);
    return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "cholesky: %s not supported on CUDA", mc_dtype_name(a->dtype));
}
