/*
 * snap_writer.c: the snapshot writer pool (see snap_writer.h): a bounded
 * FIFO of jobs and CF_SNAP_WRITERS detached threads, started lazily and
 * alive for the process's life.
 */
#include <pthread.h>
#include <string.h>

#include "core.h"
#include "snap_writer.h"

typedef struct cf_snap_job_s {
    void (*fn)(void *);
    void *arg;
} cf_snap_job_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    pthread_cond_t nonfull;
    cf_snap_job_t q[CF_SNAP_QUEUE];
    int head, len;
    int nthreads;
} cf_snapw = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .nonempty = PTHREAD_COND_INITIALIZER,
    .nonfull = PTHREAD_COND_INITIALIZER,
};

static void *
cf_snap_writer_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "snap-writer");
    cf_log_set_thread_name("snapshot-writer");
    for (;;) {
        cf_snap_job_t j;
        pthread_mutex_lock(&cf_snapw.mu);
        while (cf_snapw.len == 0)
            pthread_cond_wait(&cf_snapw.nonempty, &cf_snapw.mu);
        j = cf_snapw.q[cf_snapw.head];
        cf_snapw.head = (cf_snapw.head + 1) % CF_SNAP_QUEUE;
        cf_snapw.len--;
        pthread_cond_signal(&cf_snapw.nonfull);
        pthread_mutex_unlock(&cf_snapw.mu);
        j.fn(j.arg);
    }
    return NULL;
}

int
cf_snap_writer_submit(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&cf_snapw.mu);
    while (cf_snapw.nthreads < CF_SNAP_WRITERS) {
        pthread_t th;
        pthread_attr_t at;
        int rc;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &at, cf_snap_writer_main, NULL);
        pthread_attr_destroy(&at);
        if (rc != 0)
            break;
        cf_snapw.nthreads++;
    }
    if (cf_snapw.nthreads == 0) {
        pthread_mutex_unlock(&cf_snapw.mu);
        return CF_EIO;
    }
    while (cf_snapw.len == CF_SNAP_QUEUE)
        pthread_cond_wait(&cf_snapw.nonfull, &cf_snapw.mu);
    cf_snapw.q[(cf_snapw.head + cf_snapw.len) % CF_SNAP_QUEUE] =
        (cf_snap_job_t){fn, arg};
    cf_snapw.len++;
    pthread_cond_signal(&cf_snapw.nonempty);
    pthread_mutex_unlock(&cf_snapw.mu);
    return 0;
}
