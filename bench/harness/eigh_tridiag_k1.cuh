/* Harness-only experimental K1 for src/cuda/eigh_tridiag.cuh (the library is untouched):
 * k_tridiag_fused, the same unblocked Householder reduction (LAPACK sytd2) as k_tridiag, same
 * outputs (d, e, tau, the reflectors in the rows of ws.A, scal, flag), so K2..K4 run unchanged.
 *
 * What it changes:
 *  (b) one pass over the trailing matrix per column instead of two. The rank-2 update of step
 *      k-1 (A22 -= v w^T + w v^T) is deferred and fused with the symv of step k: per column k,
 *        1. row k (columns k..n-1) gets step k-1's update; the reflector v_k comes from it
 *           (the sum of squares, alpha = A[k][k+1] and d_k from the updated row);
 *        2. ONE pass over rows/columns k+1..n-1: x = A[r][c] - (v_r w_c + w_r v_c) (step k-1,
 *           same expression and rounding as k_tridiag, so A stays exactly symmetric), store x,
 *           acc_c += x v_k[r] (p = tau A22 v for step k, column-oriented, coalesced);
 *        3. p -> w_k = p - tau/2 (p.v) v; (v_k, w_k) become the pending update.
 *      After the last column the pending update is applied to the trailing 2x2. Column k of rows
 *      > k is never updated (never read again). Global traffic per column: one read + one write
 *      of the m x m trailing block instead of read + read + write; ~6 block barriers instead of ~9.
 *  (a) the trailing block moves to shared memory once it fits: at the first k with
 *      (n - k)^2 T <= what is left of the opt-in shared memory (msw, host-computed: fp32 ~236,
 *      fp64 ~166 on H100), rows/columns k..n-1 are copied into a dense (n-k) x (n-k) tile and the
 *      rest of the reduction runs there (the reflectors are still written to ws.A for K4; d, e come
 *      from the tile). fp32 n <= 236 runs entirely in shared memory after the load.
 *  Vectors are indexed by absolute row (v[r], r in k+1..n-1), double-buffered (v, w of step k and
 *  of step k-1), so the fused inner loop reads v_{k-1}[r], w_{k-1}[r], v_k[r] at the same index.
 *
 * Expected (H100, estimates, not measured): fp32 100x256 K1 2.47 -> ~0.9-1.2 ms (79 % of the
 * flops in shared memory), 10x512 22.4 -> ~13-15 ms (global phase dominates: only the 1.5x from
 * the single pass), 100x384 19.0 -> ~11-13 ms, fp64 100x256 6.26 -> ~3-4 ms, 1000x256 (beyond
 * L2 with the current K1) should gain the most. Still one block per matrix: 10x512 keeps 10 SMs. */
#ifndef MC_BENCH_EIGH_TRIDIAG_K1_CUH
#define MC_BENCH_EIGH_TRIDIAG_K1_CUH

#include "../../src/cuda/eigh_tridiag.cuh"

namespace mc {
namespace eigh_tridiag {
namespace k1x {

/* Loads in flight per thread in the fused pass (the loads of a group are issued before its
 * stores: k_tridiag's update loop has one load in flight per thread, its symv four). */
constexpr int kU = 8;

/* Rows j = g, g + G, .. < m of one column (col: element (k1, c), pitch ld): UPD: x -= v_r wqc +
 * w_r vqc (step k-1, vq/wq by absolute row r = k1 + j), stored; SYM: returns sum x vc[r] (in
 * increasing j, as k_tridiag). */
template <typename T, int U, bool UPD, bool SYM>
__device__ __forceinline__ T fused_col(T *col, int ld, int g, int G, int m, int k1, const T *vq, const T *wq,
                                       const T *vc, T vqc, T wqc) {
    T acc = 0;
    for (int j0 = g; j0 < m; j0 += U * G) {
        T x[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int j = j0 + u * G;
            x[u] = j < m ? col[j * ld] : (T)0; /* j ld < n^2 <= 2^20 */
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int j = j0 + u * G;
            if (j < m) {
                const int r = k1 + j;
                if (UPD) {
                    x[u] -= (mul_rn(vq[r], wqc) + mul_rn(wq[r], vqc));
                    col[j * ld] = x[u];
                }
                if (SYM) acc += x[u] * vc[r];
            }
        }
    }
    return acc;
}

/* dynamic shared memory: (4 n + blockDim + msw^2) T; msw = 0: never switch to shared memory. */
template <typename T>
__global__ void __launch_bounds__(kThreadsTri)
    k_tridiag_fused(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, Ws<T> ws, int n, int msw) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, nt = blockDim.x;
    T *buf = reinterpret_cast<T *>(smem);
    T *vc = buf, *wc = buf + n, *vq = buf + 2 * n, *wq = buf + 3 * n, *part = buf + 4 * n, *tile = part + nt;
    __shared__ T red[32];
    __shared__ T sh_alpha[2], sh_dk[2]; /* by parity of k (a fast thread may write k + 1's early) */
    const int64_t b = blockIdx.x;
    T *A = ws.A + b * (int64_t)n * n;
    const T *ab = a + b * sb;
    const mc::jacobi::Loaded<T> ld0 = mc::jacobi::load_check_scale(
        A, n * n, /* < 2^31 */
        [=](int idx) {
            const int i = idx / n, j = idx - i * n;
            return j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
        },
        red);
    T *d = ws.d + b * n, *e = ws.e + b * n, *tau = ws.tau + b * n;
    if (tid == 0) {
        ws.scal[2 * b] = ld0.scale;
        ws.flag[2 * b] = ld0.bad ? 1 : 0;
        ws.flag[2 * b + 1] = 0;
    }
    __syncthreads();
    const T eps = Lim<T>::eps;
    const T thr = Lim<T>::tiny / (eps * eps); /* as k_tridiag */
    /* working storage: element (r, c), r, c >= base, at W[(r - base) ld + c - base] */
    T *W = A;
    int ld = n, base = 0;
    bool pend = false; /* (vq, wq): step k-1's update, not yet applied to rows/columns >= k */
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1, m = n - k1;
        if (msw > 0 && base == 0 && n - k <= msw) { /* uniform: move rows/columns k..n-1 to shared memory */
            const int s = n - k;
            /* plain loop: tile is known to be shared, A global, so the loads may be batched */
#pragma unroll 4
            for (int idx = tid; idx < s * s; idx += nt) {
                const int r = idx / s, c = idx - r * s;
                tile[idx] = A[(int64_t)(k + r) * n + k + c];
            }
            W = tile;
            ld = s;
            base = k;
            __syncthreads();
        }
        T *rowk = W + (int64_t)(k - base) * ld; /* element (k, c) at rowk[c - base] */
        const int par = k & 1;
        /* 1. row k gets step k-1's update; sum of squares of columns k+2.. */
        T sq = 0;
        for (int c = k + tid; c < n; c += nt) {
            T x = rowk[c - base];
            if (pend) {
                x -= (mul_rn(vq[k], wq[c]) + mul_rn(wq[k], vq[c]));
                rowk[c - base] = x;
            }
            if (c == k) sh_dk[par] = x;
            else if (c == k1) sh_alpha[par] = x;
            else sq += x * x;
        }
        sq = mc::jacobi::block_sum(sq, red); /* barriers: row k and sh_* visible */
        const T alpha = sh_alpha[par], dk = sh_dk[par];
        const bool act = sq > thr; /* uniform */
        T tk = 0;
        if (act) {
            const T nr = sq_root(alpha * alpha + sq);
            const T beta = alpha >= 0 ? -nr : nr;
            tk = (beta - alpha) / beta;
            const T scl = (T)1 / (alpha - beta);
            if (tid == 0) {
                d[k] = dk;
                e[k] = beta;
                tau[k] = tk;
            }
            T *grow = A + (int64_t)k * n; /* the reflector, for K4 (global even in the shared phase) */
            for (int i = tid; i < m; i += nt) {
                const T vi = i == 0 ? (T)1 : rowk[k1 + i - base] * scl;
                vc[k1 + i] = vi;
                grow[k1 + i] = vi; /* in the global phase the same element this thread just read */
            }
        } else if (tid == 0) {
            d[k] = dk;
            e[k] = alpha;
            tau[k] = 0;
        }
        if (!act && !pend) continue; /* uniform; nothing to apply, nothing to reduce */
        __syncthreads(); /* vc visible */
        /* 2. fused pass: column c = k1 + i by row lanes (coalesced), rows r = k1 + j split over G groups */
        const int RL = m < nt ? ((m + 31) & ~31) : nt;
        const int G = nt / RL;
        {
            const int g = tid / RL, i0 = tid - g * RL;
            if (g < G) {
                for (int i = i0; i < m; i += RL) {
                    const int c = k1 + i;
                    T *col = W + (int64_t)(k1 - base) * ld + (c - base);
                    T acc = 0;
                    if (pend) {
                        const T vqc = vq[c], wqc = wq[c];
                        if (act) acc = fused_col<T, kU, true, true>(col, ld, g, G, m, k1, vq, wq, vc, vqc, wqc);
                        else fused_col<T, kU, true, false>(col, ld, g, G, m, k1, vq, wq, vc, vqc, wqc);
                    } else {
                        acc = fused_col<T, kU, false, true>(col, ld, g, G, m, k1, vq, wq, vc, (T)0, (T)0);
                    }
                    if (act) part[g * RL + i] = acc;
                }
            }
        }
        __syncthreads(); /* the pass's stores and part visible */
        if (act) {
            /* 3. p = tau A22 v, w = p - tau/2 (p.v) v (own entries) */
            T pv = 0;
            for (int i = tid; i < m; i += nt) {
                T s = 0;
                for (int g = 0; g < G; ++g) s += part[g * RL + i];
                const T pi = tk * s;
                wc[k1 + i] = pi;
                pv += pi * vc[k1 + i];
            }
            pv = mc::jacobi::block_sum(pv, red);
            const T K = (T)0.5 * tk * pv;
            for (int i = tid; i < m; i += nt) wc[k1 + i] -= K * vc[k1 + i];
            T *t = vc;
            vc = vq;
            vq = t;
            t = wc;
            wc = wq;
            wq = t;
            __syncthreads(); /* w visible before the next step reads it; part free */
        }
        pend = act;
    }
    if (n >= 3 && pend) { /* step n-3's update of the trailing 2x2 */
        if (tid < 4) {
            const int r = n - 2 + (tid >> 1), c = n - 2 + (tid & 1);
            T *pa = W + (int64_t)(r - base) * ld + (c - base);
            *pa -= (mul_rn(vq[r], wq[c]) + mul_rn(wq[r], vq[c]));
        }
    }
    __syncthreads();
    if (tid == 0) {
        auto at = [&](int r, int c) { return W[(int64_t)(r - base) * ld + (c - base)]; };
        if (n == 1) {
            d[0] = at(0, 0);
        } else {
            d[n - 2] = at(n - 2, n - 2);
            d[n - 1] = at(n - 1, n - 1);
            e[n - 2] = at(n - 1, n - 2);
            tau[n - 2] = 0;
        }
        e[n - 1] = 0;
        tau[n - 1] = 0;
    }
}

/* Largest tile side s (<= n) for k_tridiag_fused's shared phase within limit bytes; 0 if < 32. */
template <typename T> inline int fused_msw(int n, size_t limit) {
    const size_t fixed = (4 * (size_t)n + kThreadsTri) * sizeof(T) + 2048; /* + static red/sh_*, reserve */
    if (limit <= fixed) return 0;
    size_t s = 0;
    while ((s + 1) * (s + 1) * sizeof(T) <= limit - fixed && (int)s < n) ++s;
    return s < 32 ? 0 : (int)s;
}

/* launch_ex with the K1 chosen by k1_variant: 0 = the library's k_tridiag, 1 = k_tridiag_fused
 * with the shared-memory phase, 2 = k_tridiag_fused in global memory only (the single pass alone).
 * K2..K4 as launch_ex (copied from it; keep in step). */
template <typename T>
cudaError_t launch_v(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                     void *workspace, cudaStream_t stream, cudaEvent_t *marks, int k1_variant) {
    if (k1_variant == 0) return launch_ex<T>(a, sb, sr, sc, w, q, info, batch, n, workspace, stream, marks);
    if (n < 1 || n > kMaxN || batch < 0 || batch > 0x7fffffffLL) return cudaErrorInvalidValue;
    if (batch == 0) return cudaSuccess;
    if (!workspace || (reinterpret_cast<uintptr_t>(workspace) & 15)) return cudaErrorInvalidValue;
    Ws<T> ws;
    carve<T>(workspace, n, batch, &ws);
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess) return err;
    const size_t limit = mc::jacobi::smem_limit(dev);
    auto mark = [&](int i) {
        if (marks) cudaEventRecord(marks[i], stream);
    };

    /* K1 (variant) */
    const int msw = k1_variant == 1 ? fused_msw<T>(n, limit) : 0;
    const size_t sm1 = (4 * (size_t)n + kThreadsTri + (size_t)msw * msw) * sizeof(T);
    if (sm1 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(k_tridiag_fused<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm1)) !=
            cudaSuccess)
        return err;
    k_tridiag_fused<T><<<(unsigned)batch, kThreadsTri, sm1, stream>>>(a, sb, sr, sc, ws, n, msw);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(0);

    /* K2 */
    const size_t sm2 = 3 * (size_t)n * sizeof(T);
    for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
        const unsigned nb = (unsigned)(batch - b0 < 65535 ? batch - b0 : 65535);
        k_bisect<T><<<dim3((unsigned)((n + kThreadsBis - 1) / kThreadsBis), nb), kThreadsBis, sm2, stream>>>(ws, n, b0);
    }
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(1);

    /* K3 */
    int ch = kMaxChunk;
    while (ch > 1 && solve_smem<T>(n, ch) + 1024 > limit) ch /= 2;
    const size_t sm3 = solve_smem<T>(n, ch);
    if (sm3 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(k_solve<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3)) != cudaSuccess)
        return err;
    auto solve = [&](int mode, int iters) {
        for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
            const unsigned nb = (unsigned)(batch - b0 < 65535 ? batch - b0 : 65535);
            k_solve<T><<<dim3((unsigned)((n + ch - 1) / ch), nb), ch, sm3, stream>>>(ws, n, b0, mode, iters);
        }
    };
    solve(0, kSolveIters);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(2);

    /* K3b and the cluster rounds */
    const size_t sm4 = orth_smem<T>(n);
    k_orth<T><<<(unsigned)batch, kThreadsOrth, sm4, stream>>>(ws, w, info, n, 0);
    for (int r = 1; r <= kClusterRounds; ++r) {
        solve(1, 1);
        k_orth<T><<<(unsigned)batch, kThreadsOrth, sm4, stream>>>(ws, w, info, n, r == kClusterRounds ? 2 : 1);
    }
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(3);

    /* K4 */
    if (n <= 128) err = launch_back<T, 4, back_cols<T, 4>()>(ws, q, n, batch, stream);
    else if (n <= 256) err = launch_back<T, 8, back_cols<T, 8>()>(ws, q, n, batch, stream);
    else if (n <= 512) err = launch_back<T, 16, back_cols<T, 16>()>(ws, q, n, batch, stream);
    else err = launch_back<T, 32, back_cols<T, 32>()>(ws, q, n, batch, stream);
    if (err != cudaSuccess) return err;
    mark(4);
    return cudaGetLastError();
}

} // namespace k1x
} // namespace eigh_tridiag
} // namespace mc

#endif
