/*
 * psm_pool.c -- psm_parallel_for (psm_pool.h): a caller and a few workers
 * claim chunks of one job from a shared counter; the caller waits only for
 * the chunks that workers claimed.
 *
 * The job's state is one 64-bit atomic, its generation (high 32 bits) and the
 * next chunk to claim (low 32 bits): a worker claims a chunk by a
 * compare-and-swap that fails if a new job has started meanwhile, so a worker
 * that wakes late never runs a chunk of a finished job with the parameters of
 * the next one.  The caller publishes a job's parameters before its
 * generation (release) and reuses them only after all of its chunks are
 * done, so a claimed chunk always sees its own job's parameters.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include "psm_pool.h"

#define PSM_POOL_MAX 63     /* workers at most (threads - 1) */
#define PSM_POOL_SPIN 4000  /* pauses a worker spins for a new job before it sleeps */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_once_t once;
    atomic_flag busy;                 /* a call is using the workers */
    int workers;                      /* started (only the caller changes it, while busy) */
    _Atomic uint64_t state;           /* generation << 32 | next chunk */
    _Atomic(psm_task) task;
    _Atomic(void *) ctx;
    _Atomic ptrdiff_t chunks;
    _Atomic int helpers;              /* workers 0 .. helpers-1 take part in this job */
    _Atomic ptrdiff_t done;           /* chunks the workers have finished */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_ONCE_INIT,
          ATOMIC_FLAG_INIT, 0, 0, NULL, NULL, 0, 0, 0};

static inline void psm_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claim and run chunks of job generation gen until none is left; returns the
   count run. */
static ptrdiff_t psm_run_chunks(uint64_t gen)
{
    ptrdiff_t ran = 0;
    for (;;) {
        uint64_t s = atomic_load_explicit(&pool.state, memory_order_acquire);
        if (s >> 32 != gen)
            return ran;
        const psm_task task = atomic_load_explicit(&pool.task, memory_order_relaxed);
        void *const ctx = atomic_load_explicit(&pool.ctx, memory_order_relaxed);
        const ptrdiff_t chunks = atomic_load_explicit(&pool.chunks, memory_order_relaxed);
        const ptrdiff_t c = (ptrdiff_t)(s & 0xffffffffu);
        if (c >= chunks)
            return ran;
        if (atomic_compare_exchange_weak_explicit(&pool.state, &s, s + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            task(ctx, c);
            ran++;
        }
    }
}

static void *psm_worker(void *arg)
{
    const int self = (int)(intptr_t)arg;
    uint64_t seen = atomic_load_explicit(&pool.state, memory_order_acquire) >> 32;
    for (;;) {
        uint64_t gen = seen;
        for (int i = 0; i < PSM_POOL_SPIN && gen == seen; i++) {
            psm_pause();
            gen = atomic_load_explicit(&pool.state, memory_order_acquire) >> 32;
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((gen = atomic_load_explicit(&pool.state, memory_order_acquire) >> 32) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = gen;
        if (self >= atomic_load_explicit(&pool.helpers, memory_order_relaxed))
            continue;
        const ptrdiff_t ran = psm_run_chunks(gen);
        if (ran)
            atomic_fetch_add_explicit(&pool.done, ran, memory_order_release);
    }
    return NULL;
}

/* In a child after fork(): no workers exist; start from an idle pool. */
static void psm_pool_after_fork(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_flag_clear(&pool.busy);
    pool.workers = 0;
}

static void psm_pool_once(void)
{
    pthread_atfork(NULL, NULL, psm_pool_after_fork);
}

void psm_parallel_for(psm_task task, void *ctx, ptrdiff_t chunks, int threads)
{
    int helpers = threads - 1;
    if (helpers > PSM_POOL_MAX)
        helpers = PSM_POOL_MAX;
    if (helpers > chunks - 1)
        helpers = (int)(chunks - 1);
    if (helpers <= 0 || chunks > 0xffffffff
        || atomic_flag_test_and_set_explicit(&pool.busy, memory_order_acquire)) {
        for (ptrdiff_t c = 0; c < chunks; c++)
            task(ctx, c);
        return;
    }
    pthread_once(&pool.once, psm_pool_once);
    while (pool.workers < helpers) {   /* fewer if a thread cannot be made */
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attr, psm_worker,
                                          (void *)(intptr_t)pool.workers);
        pthread_attr_destroy(&attr);
        if (failed)
            break;
        pool.workers++;
    }
    atomic_store_explicit(&pool.task, task, memory_order_relaxed);
    atomic_store_explicit(&pool.ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool.chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&pool.helpers, helpers, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    const uint64_t gen = ((atomic_load_explicit(&pool.state, memory_order_relaxed) >> 32) + 1)
                         & 0xffffffffu;
    atomic_store_explicit(&pool.state, gen << 32, memory_order_release);
    pthread_mutex_lock(&pool.lock);      /* wake the sleeping workers */
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    const ptrdiff_t own = psm_run_chunks(gen);
    while (own + atomic_load_explicit(&pool.done, memory_order_acquire) < chunks)
        psm_pause();
    atomic_flag_clear_explicit(&pool.busy, memory_order_release);
}
