/* Shared by the standalone harnesses of bench/harness: CK() stops the harness with the file, line
 * and CUDA error of a failed runtime call. */
#ifndef MC_BENCH_HARNESS_H
#define MC_BENCH_HARNESS_H

#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif
