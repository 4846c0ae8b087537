/* What the CPU eigh and svd kernels share: SIMD lane batching and the thread fan-out.
 *
 * The CPU kernels run Jacobi on MC_LANES matrices at once, interleaved element by element
 * (element (i, j) of the MC_LANES matrices is contiguous), so every rotation is one short loop
 * over lanes that the compiler turns into vector instructions; a lane that needs no rotation
 * gets the identity (c = 1, s = 0, exact). Groups of lanes are spread over threads. */
#ifndef MC_CPU_JACOBI_LANES_H
#define MC_CPU_JACOBI_LANES_H

#include "../core/internal.h"
#include "vecmath.h" /* MC_SIMD_CLONES */

#include <stdint.h>

#define MC_LANES 8


/* Threads to use for `groups` lane groups (1 for small batches; at most the online CPUs). */
int mc_cpu_jacobi_threads(int64_t groups);

/* Runs fn(ctx, g, tid) for every group g in [0, groups) on `threads` threads (thread tid owns
 * slice tid of the workspace); a thread that cannot be started has its share run by the caller. */
typedef void (*mc_group_fn)(void *ctx, int64_t g, int tid);
void mc_cpu_parallel_groups(mc_group_fn fn, void *ctx, int64_t groups, int threads);

#endif
