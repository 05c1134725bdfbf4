/*
 * psm_pool.h -- a parallel loop whose caller never waits for a thread that
 * has not started: psm_parallel_for(task, ctx, chunks, threads) runs
 * task(ctx, c) for every c in [0, chunks) on the calling thread and up to
 * threads - 1 workers of a small pool, each claiming the next chunk, and
 * returns when every chunk is done.
 *
 * Why not an OpenMP parallel region: its end is a barrier that every thread
 * of the team must reach, so when the machine is busy and a worker is not
 * scheduled, the call waits a time slice of the OS for it (measured: 64x1000
 * at 2 threads on a loaded 2-core machine, 10-20 ms instead of 15 us).  Here
 * a worker that arrives late finds no chunk left and goes back to sleep; the
 * caller waits only for chunks that a worker has claimed (ONNX Runtime's
 * thread pool works the same way).  Workers spin briefly between calls, then
 * sleep on a condition variable.  After fork() the child starts with no
 * workers (the parent's do not exist there) and makes its own when asked.
 * Plain C and POSIX threads; task runs without the GIL.
 */
#ifndef PSM_POOL_H
#define PSM_POOL_H

#include <stddef.h>   /* ptrdiff_t */

typedef void (*psm_task)(void *ctx, ptrdiff_t chunk);

/* Runs task(ctx, c) for c in [0, chunks) on up to `threads` threads, the
   caller one of them (threads <= 1 or chunks <= 1: all on the caller).  One
   call at a time uses the workers: a call made while another runs (from
   another thread, or from inside a task) runs on its caller alone. */
#if defined(__GNUC__)
__attribute__((visibility("hidden")))   /* an extension's own, never exported */
#endif
void psm_parallel_for(psm_task task, void *ctx, ptrdiff_t chunks, int threads);

#endif
