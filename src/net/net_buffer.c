/*
 * net_buffer.c: the network memory budget, local buffer pools, event
 * buffers and recycling (see net.h).
 *
 * The budget (cf_net_env_t) only counts segments; it hands no memory out.
 * A pool reserves its n segments from the budget under the budget's mutex
 * and allocates them at once as one aligned block, so a running task never
 * allocates on the data path and the sum of all pools never exceeds
 * taskmanager.memory.network.*. Destroying the pool frees the block and
 * gives the segments back.
 *
 * The free list of a pool is a LIFO stack under a small mutex: the owner
 * pops (cf_net_pool_try_request), any thread pushes (cf_net_buf_recycle).
 * The recycler notifies the owner's signal while it still holds the pool
 * mutex, and cf_net_pool_destroy takes that mutex, so the owner can never
 * tear the pool (and, after it, its signal) down under a recycler that is
 * still notifying. The number of free buffers is mirrored in an atomic so
 * that cf_net_pool_has_free needs no lock.
 *
 * A pool whose owner is done with it while some of its buffers are still
 * elsewhere (in a local consumer's gate, say) is released rather than
 * destroyed: it forgets its owner at once and the recycle that brings its
 * last buffer back destroys it.
 */
#include "net.h"

#include <pthread.h>
#include <stdlib.h>

#define CF_NET_SEGMENT_ALIGN 64 /* one cache line */

struct cf_net_env_s {
    pthread_mutex_t mu;
    uint32_t segment_size;
    int64_t total;     /* segments */
    int64_t available; /* guarded by mu */
};

/* A buffer header alone on its cache line: the writer updates the len of
 * the buffer it fills with every record while other threads read and
 * recycle the neighbouring buffers (no false sharing). */
typedef union cf_net_buf_slot_u {
    cf_net_buf_t b;
    uint8_t line[CF_NET_SEGMENT_ALIGN];
} cf_net_buf_slot_t;

_Static_assert(sizeof(cf_net_buf_t) <= CF_NET_SEGMENT_ALIGN,
               "a buffer header fits a cache line");

struct cf_net_pool_s {
    cf_net_env_t *env;
    cf_signal_t *owner;
    uint32_t n;
    uint8_t *mem;       /* n * segment_size bytes */
    union cf_net_buf_slot_u *bufs; /* n buffer headers */
    pthread_mutex_t mu;
    cf_net_buf_t *free; /* guarded by mu */
    atomic_uint nfree;  /* written under mu, read anywhere */
    int released;       /* guarded by mu: the last recycle destroys */
};

/* ------------------------------------------------------------------ */
/* Budget                                                              */
/* ------------------------------------------------------------------ */

cf_net_env_t *
cf_net_env_new(int64_t total_bytes, uint32_t segment_size)
{
    cf_net_env_t *env;

    CF_ASSERT(segment_size > CF_NET_REC_HDR);
    CF_ASSERT(total_bytes >= 0);
    env = CF_NEW(cf_net_env_t);
    pthread_mutex_init(&env->mu, NULL);
    env->segment_size = segment_size;
    env->total = total_bytes / segment_size;
    env->available = env->total;
    return env;
}

void
cf_net_env_destroy(cf_net_env_t *env)
{
    if (env == NULL)
        return;
    /* Every pool must have been destroyed first. */
    CF_ASSERT(env->available == env->total);
    pthread_mutex_destroy(&env->mu);
    cf_free(env);
}

uint32_t
cf_net_env_segment_size(const cf_net_env_t *env)
{
    return env->segment_size;
}

int64_t
cf_net_env_total_segments(const cf_net_env_t *env)
{
    return env->total;
}

int64_t
cf_net_env_free_segments(cf_net_env_t *env)
{
    int64_t n;

    pthread_mutex_lock(&env->mu);
    n = env->available;
    pthread_mutex_unlock(&env->mu);
    return n;
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

cf_net_pool_t *
cf_net_pool_new(cf_net_env_t *env, uint32_t n, cf_signal_t *owner,
                cf_error_t **errp)
{
    cf_net_pool_t *pool;
    int64_t avail;
    size_t bytes;
    void *mem = NULL, *hdrs = NULL;
    uint32_t i;

    pthread_mutex_lock(&env->mu);
    avail = env->available;
    if ((int64_t)n > avail) {
        pthread_mutex_unlock(&env->mu);
        cf_error_set(errp, CF_ENOBUFS,
                     "Insufficient number of network buffers: required %u, "
                     "but only %lld available. The total number of network "
                     "buffers is currently set to %lld of %u bytes each. "
                     "You can increase this number by setting the "
                     "configuration keys "
                     "'taskmanager.memory.network.fraction', "
                     "'taskmanager.memory.network.min', and "
                     "'taskmanager.memory.network.max'.",
                     n, (long long)avail, (long long)env->total,
                     env->segment_size);
        return NULL;
    }
    env->available -= n;
    pthread_mutex_unlock(&env->mu);

    bytes = (size_t)n * env->segment_size;
    if (posix_memalign(&mem, CF_NET_SEGMENT_ALIGN, bytes ? bytes : 1) != 0) {
        cf_log_error("out of memory (%zu bytes of network buffers)", bytes);
        abort();
    }

    pool = CF_NEW(cf_net_pool_t);
    pool->env = env;
    pool->owner = owner;
    pool->n = n;
    pool->mem = mem;
    if (posix_memalign(&hdrs, CF_NET_SEGMENT_ALIGN,
                       (n ? n : 1) * sizeof(cf_net_buf_slot_t)) != 0) {
        cf_log_error("out of memory (%u network buffer headers)", n);
        abort();
    }
    memset(hdrs, 0, (n ? n : 1) * sizeof(cf_net_buf_slot_t));
    pool->bufs = hdrs;
    pthread_mutex_init(&pool->mu, NULL);
    /* Push in reverse so that the first request gets segment 0. */
    for (i = n; i > 0; i--) {
        cf_net_buf_t *b = &pool->bufs[i - 1].b;
        b->pool = pool;
        b->data = pool->mem + (size_t)(i - 1) * env->segment_size;
        b->size = env->segment_size;
        b->kind = CF_NET_DATA;
        b->next = pool->free;
        pool->free = b;
    }
    atomic_init(&pool->nfree, n);
    return pool;
}

void
cf_net_pool_destroy(cf_net_pool_t *pool)
{
    cf_net_env_t *env;

    if (pool == NULL)
        return;
    /* Taking the mutex waits out a recycler that is still notifying. */
    pthread_mutex_lock(&pool->mu);
    CF_ASSERT(atomic_load(&pool->nfree) == pool->n);
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_destroy(&pool->mu);

    env = pool->env;
    pthread_mutex_lock(&env->mu);
    env->available += pool->n;
    pthread_mutex_unlock(&env->mu);

    free(pool->mem);
    free(pool->bufs);
    cf_free(pool);
}

void
cf_net_pool_release(cf_net_pool_t *pool)
{
    int now;

    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->owner = NULL;
    now = atomic_load(&pool->nfree) == pool->n;
    if (!now)
        pool->released = 1;
    pthread_mutex_unlock(&pool->mu);
    if (now)
        cf_net_pool_destroy(pool);
}

cf_net_buf_t *
cf_net_pool_try_request(cf_net_pool_t *pool)
{
    cf_net_buf_t *b;

    if (atomic_load_explicit(&pool->nfree, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&pool->mu);
    b = pool->free;
    if (b != NULL) {
        pool->free = b->next;
        atomic_fetch_sub_explicit(&pool->nfree, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&pool->mu);
    if (b != NULL) {
        b->next = NULL;
        b->len = 0;
        b->kind = CF_NET_DATA;
        b->event = 0;
    }
    return b;
}

int
cf_net_pool_has_free(cf_net_pool_t *pool)
{
    return atomic_load_explicit(&pool->nfree, memory_order_relaxed) > 0;
}

uint32_t
cf_net_pool_free_count(cf_net_pool_t *pool)
{
    return atomic_load_explicit(&pool->nfree, memory_order_relaxed);
}

uint32_t
cf_net_pool_size(const cf_net_pool_t *pool)
{
    return pool->n;
}

/* ------------------------------------------------------------------ */
/* Event buffers and recycling                                         */
/* ------------------------------------------------------------------ */

cf_net_buf_t *
cf_net_event_new(uint16_t event, const void *payload, uint32_t len)
{
    /* Header and payload in one allocation. */
    cf_net_buf_t *b = cf_malloc(sizeof(cf_net_buf_t) + len);

    b->next = NULL;
    b->pool = NULL;
    b->data = (uint8_t *)(b + 1);
    b->len = len;
    b->size = len;
    b->kind = CF_NET_EVENT;
    b->event = event;
    if (len > 0)
        memcpy(b->data, payload, len);
    return b;
}

void
cf_net_buf_recycle(cf_net_buf_t *buf)
{
    cf_net_pool_t *pool;
    int last;

    if (buf == NULL)
        return;
    pool = buf->pool;
    if (pool == NULL) {
        cf_free(buf);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    CF_ASSERT(atomic_load_explicit(&pool->nfree, memory_order_relaxed) <
              pool->n); /* recycled twice */
    buf->next = pool->free;
    pool->free = buf;
    atomic_fetch_add_explicit(&pool->nfree, 1, memory_order_relaxed);
    if (pool->owner != NULL)
        cf_signal_notify(pool->owner);
    /* Nobody else holds a buffer of a released pool once all are back. */
    last = pool->released &&
           atomic_load_explicit(&pool->nfree, memory_order_relaxed) == pool->n;
    pthread_mutex_unlock(&pool->mu);
    if (last)
        cf_net_pool_destroy(pool);
}
