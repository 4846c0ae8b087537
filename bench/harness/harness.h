/* Shared by the standalone harnesses of bench/harness: CK() stops the harness with the file, line
 * and CUDA error of a failed runtime call; time_ms() is the event timing they report;
 * time_phases() times the phases of a multi-kernel launch. */
#ifndef MC_BENCH_HARNESS_H
#define MC_BENCH_HARNESS_H

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline float median_ms(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

constexpr int kWarm = 5, kReps = 30;

/* Median ms of kReps calls of enqueue after kWarm warm-up calls, each call between its own pair of
 * events, all queued back to back on the default stream (so host launch latency is hidden, as the
 * Python benches' time_cuda does). enqueue takes the call's number k = 0, 1, ... (warm-ups
 * included; use k % sets to rotate input sets) or no argument. */
template <typename F> static float time_ms(F enqueue) {
    static cudaEvent_t ev[2 * kReps];
    static bool init = false;
    if (!init) {
        for (auto &e : ev) CK(cudaEventCreate(&e));
        init = true;
    }
    int k = 0;
    auto call = [&] {
        if constexpr (std::is_invocable_v<F &, int>) enqueue(k++);
        else enqueue();
    };
    for (int i = 0; i < kWarm; ++i) call();
    CK(cudaGetLastError());
    for (int i = 0; i < kReps; ++i) {
        CK(cudaEventRecord(ev[2 * i]));
        call();
        CK(cudaEventRecord(ev[2 * i + 1]));
    }
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> t(kReps);
    for (int i = 0; i < kReps; ++i) CK(cudaEventElapsedTime(&t[i], ev[2 * i], ev[2 * i + 1]));
    return median_ms(t);
}

/* Per-phase timing of a multi-kernel launch: launch(marks) enqueues the whole computation on the
 * default stream and records marks[p] after phase p (np marks; marks null: none). Two untimed
 * launches, then reps timed ones. Returns np + 2 values: the median of each phase, the median of
 * the total, the minimum of the total (ms). */
template <typename F> static std::vector<float> time_phases(int np, F launch, int reps = 11) {
    std::vector<cudaEvent_t> ev(np + 1);
    for (auto &e : ev) CK(cudaEventCreate(&e));
    for (int i = 0; i < 2; ++i) launch(nullptr);
    CK(cudaDeviceSynchronize());
    std::vector<std::vector<float>> ph(np + 1);
    for (int r = 0; r < reps; ++r) {
        CK(cudaEventRecord(ev[0]));
        launch(ev.data() + 1);
        CK(cudaEventSynchronize(ev[np]));
        for (int p = 0; p <= np; ++p) {
            float t;
            CK(cudaEventElapsedTime(&t, ev[p < np ? p : 0], ev[p < np ? p + 1 : np]));
            ph[p].push_back(t);
        }
    }
    for (auto e : ev) CK(cudaEventDestroy(e));
    std::vector<float> out;
    for (auto &v : ph) out.push_back(median_ms(v));
    out.push_back(*std::min_element(ph[np].begin(), ph[np].end()));
    return out;
}

#endif
