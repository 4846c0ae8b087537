/* Thread fan-out shared by the CPU eigh and svd kernels (see jacobi_lanes.h). POSIX threads
 * where available; plain serial loop otherwise. */
#include "jacobi_lanes.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#define MC_HAVE_PTHREADS 1
#endif

#define MC_MAX_THREADS 64

#ifdef MC_HAVE_PTHREADS
#include <stdatomic.h>
/* Online CPUs, read once: glibc's sysconf(_SC_NPROCESSORS_ONLN) reads /sys on every call (~5 us,
 * twice per eigh/svd call: workspace query and launch). Racing first calls store the same value. */
static long online_cpus(void) {
    static atomic_long cached = 0;
    long cpus = atomic_load_explicit(&cached, memory_order_relaxed);
    if (cpus == 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1) cpus = 1;
        if (cpus > MC_MAX_THREADS) cpus = MC_MAX_THREADS;
        atomic_store_explicit(&cached, cpus, memory_order_relaxed);
    }
    return cpus;
}
#endif

int mc_cpu_jacobi_threads(int64_t groups) {
#ifdef MC_HAVE_PTHREADS
    const long cpus = online_cpus();
    /* A thread start costs tens of microseconds: give each thread at least 16 groups. */
    int64_t t = groups / 16;
    if (t < 1) t = 1;
    return (int)(t < cpus ? t : cpus);
#else
    (void)groups;
    return 1;
#endif
}

typedef struct {
    mc_group_fn fn;
    void *ctx;
    int64_t groups;
    int threads, tid;
} job;

static void *run_slice(void *p) {
    job *j = (job *)p;
    for (int64_t g = j->tid; g < j->groups; g += j->threads) j->fn(j->ctx, g, j->tid);
    return NULL;
}

void mc_cpu_parallel_groups(mc_group_fn fn, void *ctx, int64_t groups, int threads) {
    if (threads > MC_MAX_THREADS) threads = MC_MAX_THREADS;
    if (threads < 1) threads = 1;
    job jobs[MC_MAX_THREADS];
    for (int t = 0; t < threads; ++t) jobs[t] = (job){fn, ctx, groups, threads, t};
#ifdef MC_HAVE_PTHREADS
    pthread_t ids[MC_MAX_THREADS];
    int started[MC_MAX_THREADS] = {0};
    for (int t = 1; t < threads; ++t) started[t] = pthread_create(&ids[t], NULL, run_slice, &jobs[t]) == 0;
    run_slice(&jobs[0]);
    for (int t = 1; t < threads; ++t) {
        if (started[t]) pthread_join(ids[t], NULL);
        else run_slice(&jobs[t]); /* could not start: do its slice here */
    }
#else
    for (int t = 0; t < threads; ++t) run_slice(&jobs[t]);
#endif
}
