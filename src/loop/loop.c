/*
 * loop.c: the control loop of a daemon: one libuv loop, the MPSC post
 * queue that other threads use to reach it, timers, signal handlers and
 * the worker pool.
 *
 * Posting: a mutex-protected intrusive FIFO list plus one uv_async_t.
 * cf_loop_post() appends and calls uv_async_send(); the async callback
 * takes the whole list under the lock and runs it in posting order, so a
 * burst of posts costs one wake-up. Posts made while the list runs are
 * seen by the next async callback (uv_async_send() re-arms it). The same
 * async carries cf_loop_stop_async(): an atomic flag read by the callback.
 *
 * Handles: timers and signal handlers are heap-allocated and linked into
 * the loop's list of owned handles; each is freed in its close callback,
 * never before (libuv's rule). cf_loop_destroy() closes the owned handles
 * and any handle another module forgot (uv_walk), then runs the loop until
 * every close callback and pending work completion has run.
 */
#include "loop.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

typedef struct post_s {
    struct post_s *next;
    cf_loop_fn fn;
    void *arg;
} post_t;

/* An owned handle: timers and signal handlers. */
typedef struct owned_s {
    struct owned_s *prev, *next;
    uv_handle_t *h;
} owned_t;

struct cf_loop_s {
    uv_loop_t uv;
    char *name;
    uv_async_t async;
    pthread_mutex_t mu;
    post_t *head, *tail; /* under mu */
    atomic_int stop_req;
    int destroying;
    owned_t owned; /* list head of timers and signals */
    cf_loop_fn shutdown_fn; /* cf_loop_on_shutdown_signals() */
    void *shutdown_arg;
    int shutdown_signals; /* how many arrived */
};

/* Owned handles: node first (owned_close_cb()), h->data the struct. */
struct cf_timer_s {
    owned_t node;
    uv_timer_t h;
    cf_loop_t *loop;
    cf_loop_fn fn;
    void *arg;
    int repeat;
    int closing;
};

typedef struct sig_s {
    owned_t node;
    uv_signal_t h;
    cf_loop_fn fn;
    void *arg;
} sig_t_;

typedef struct work_s {
    uv_work_t req;
    cf_loop_fn work;
    cf_loop_fn done;
    void *arg;
} work_t;

static void
owned_link(cf_loop_t *loop, owned_t *n)
{
    n->next = loop->owned.next;
    n->prev = &loop->owned;
    loop->owned.next->prev = n;
    loop->owned.next = n;
}

static void
owned_unlink(owned_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Close callback of a timer or signal handler: h->data is the struct
 * holding h, whose first member is its owned_t node. */
static void
owned_close_cb(uv_handle_t *h)
{
    owned_unlink(h->data);
    cf_free(h->data);
}

/* ------------------------------------------------------------------ */
/* Posting and stopping                                                */
/* ------------------------------------------------------------------ */

/* Take the whole post queue (posting order). */
static post_t *
posts_take(cf_loop_t *loop)
{
    pthread_mutex_lock(&loop->mu);
    post_t *p = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->mu);
    return p;
}

static void
async_cb(uv_async_t *a)
{
    cf_loop_t *loop = a->data;
    if (atomic_exchange(&loop->stop_req, 0))
        uv_stop(&loop->uv);
    post_t *p = posts_take(loop);
    while (p) {
        post_t *next = p->next;
        p->fn(p->arg);
        cf_free(p);
        p = next;
    }
}

cf_loop_t *
cf_loop_new(const char *name)
{
    cf_loop_t *loop = CF_NEW(cf_loop_t);
    int rc = uv_loop_init(&loop->uv);
    if (rc < 0) {
        cf_log_error("Could not create the event loop %s: %s",
                     name ? name : "loop", uv_strerror(rc));
        cf_free(loop);
        return NULL;
    }
    loop->name = cf_strdup(name ? name : "loop");
    loop->uv.data = loop;
    pthread_mutex_init(&loop->mu, NULL);
    atomic_init(&loop->stop_req, 0);
    loop->owned.next = loop->owned.prev = &loop->owned;
    rc = uv_async_init(&loop->uv, &loop->async, async_cb);
    CF_ASSERT(rc == 0);
    loop->async.data = loop;
    return loop;
}

uv_loop_t *
cf_loop_uv(cf_loop_t *loop)
{
    return &loop->uv;
}

int
cf_loop_run(cf_loop_t *loop)
{
    cf_log_set_thread_name(loop->name);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    return 0;
}

void
cf_loop_stop(cf_loop_t *loop)
{
    uv_stop(&loop->uv);
}

void
cf_loop_stop_async(cf_loop_t *loop)
{
    atomic_store(&loop->stop_req, 1);
    uv_async_send(&loop->async);
}

void
cf_loop_post(cf_loop_t *loop, cf_loop_fn fn, void *arg)
{
    post_t *p = cf_malloc(sizeof(*p));
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&loop->mu);
    if (loop->tail)
        loop->tail->next = p;
    else
        loop->head = p;
    loop->tail = p;
    pthread_mutex_unlock(&loop->mu);
    uv_async_send(&loop->async);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

static void
timer_close(cf_timer_t *t)
{
    if (t->closing)
        return;
    t->closing = 1;
    uv_timer_stop(&t->h);
    uv_close((uv_handle_t *)&t->h, owned_close_cb);
}

static void
timer_cb(uv_timer_t *h)
{
    cf_timer_t *t = h->data;
    if (t->closing)
        return;
    /* t stays allocated until its close callback, whatever fn does. */
    t->fn(t->arg);
    if (!t->repeat)
        timer_close(t);
}

cf_timer_t *
cf_loop_timer(cf_loop_t *loop, int64_t delay_ms, int64_t repeat_ms,
              cf_loop_fn fn, void *arg)
{
    cf_timer_t *t = CF_NEW(cf_timer_t);
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->repeat = repeat_ms > 0;
    int rc = uv_timer_init(&loop->uv, &t->h);
    CF_ASSERT(rc == 0);
    t->h.data = t;
    t->node.h = (uv_handle_t *)&t->h;
    owned_link(loop, &t->node);
    rc =
        uv_timer_start(&t->h, timer_cb, (uint64_t)(delay_ms > 0 ? delay_ms : 0),
                       (uint64_t)(repeat_ms > 0 ? repeat_ms : 0));
    CF_ASSERT(rc == 0);
    return t;
}

void
cf_timer_cancel(cf_timer_t *t)
{
    if (t)
        timer_close(t);
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static void
sig_cb(uv_signal_t *h, int signum)
{
    (void)signum;
    sig_t_ *s = h->data;
    s->fn(s->arg);
}

int
cf_loop_on_signal(cf_loop_t *loop, int signum, cf_loop_fn fn, void *arg)
{
    sig_t_ *s = CF_NEW(sig_t_);
    s->fn = fn;
    s->arg = arg;
    int rc = uv_signal_init(&loop->uv, &s->h);
    if (rc < 0) {
        cf_free(s);
        return rc;
    }
    s->h.data = s;
    s->node.h = (uv_handle_t *)&s->h;
    owned_link(loop, &s->node);
    rc = uv_signal_start(&s->h, sig_cb, signum);
    if (rc < 0) {
        cf_log_error("Could not handle signal %d on loop %s: %s", signum,
                     loop->name, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->h, owned_close_cb);
        return rc;
    }
    return 0;
}

static void
shutdown_signal(cf_loop_t *loop, const char *name, int signum)
{
    if (loop->shutdown_signals++ > 0) {
        cf_log_warn("RECEIVED SIGNAL %d: %s again. Exiting immediately.",
                    signum, name);
        _exit(1);
    }
    cf_log_info("RECEIVED SIGNAL %d: %s. Shutting down as requested.",
                signum, name);
    loop->shutdown_fn(loop->shutdown_arg);
}

static void
shutdown_sigterm(void *arg)
{
    shutdown_signal(arg, "SIGTERM", SIGTERM);
}

static void
shutdown_sigint(void *arg)
{
    shutdown_signal(arg, "SIGINT", SIGINT);
}

int
cf_loop_on_shutdown_signals(cf_loop_t *loop, cf_loop_fn fn, void *arg)
{
    int rc;

    loop->shutdown_fn = fn;
    loop->shutdown_arg = arg;
    if ((rc = cf_loop_on_signal(loop, SIGTERM, shutdown_sigterm, loop)) < 0)
        return rc;
    return cf_loop_on_signal(loop, SIGINT, shutdown_sigint, loop);
}

/* ------------------------------------------------------------------ */
/* Worker pool                                                         */
/* ------------------------------------------------------------------ */

static void
work_cb(uv_work_t *req)
{
    work_t *w = req->data;
    if (w->work)
        w->work(w->arg);
}

static void
after_work_cb(uv_work_t *req, int status)
{
    (void)status; /* never cancelled: done always runs */
    work_t *w = req->data;
    if (w->done)
        w->done(w->arg);
    cf_free(w);
}

int
cf_loop_work(cf_loop_t *loop, cf_loop_fn work, cf_loop_fn done, void *arg)
{
    work_t *w = CF_NEW(work_t);
    w->work = work;
    w->done = done;
    w->arg = arg;
    w->req.data = w;
    int rc = uv_queue_work(&loop->uv, &w->req, work_cb, after_work_cb);
    if (rc < 0) {
        cf_free(w);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Destroy                                                             */
/* ------------------------------------------------------------------ */

static void
walk_close_cb(uv_handle_t *h, void *arg)
{
    cf_loop_t *loop = arg;
    if (uv_is_closing(h))
        return;
    /* Not ours (a forgotten RPC socket, ...): close it without a
     * callback; its memory belongs to whoever leaked it. */
    cf_log_warn("Loop %s: closing a %s handle left open at shutdown",
                loop->name, uv_handle_type_name(uv_handle_get_type(h)));
    uv_close(h, NULL);
}

/* Close owned handles (their close callbacks unlink and free them). */
static void
close_owned(cf_loop_t *loop)
{
    for (owned_t *n = loop->owned.next; n != &loop->owned; n = n->next) {
        if (uv_is_closing(n->h))
            continue;
        if (uv_handle_get_type(n->h) == UV_TIMER)
            timer_close(n->h->data);
        else
            uv_close(n->h, owned_close_cb);
    }
}

void
cf_loop_destroy(cf_loop_t *loop)
{
    if (!loop)
        return;
    loop->destroying = 1;
    /* Drop posts that never ran. */
    post_t *p = posts_take(loop);
    while (p) {
        post_t *next = p->next;
        cf_free(p);
        p = next;
    }
    uv_close((uv_handle_t *)&loop->async, NULL);
    /* Close everything, run the close callbacks and pending work
     * completions; repeat while a completion creates new handles. */
    while (uv_loop_close(&loop->uv) == UV_EBUSY) {
        close_owned(loop);
        uv_walk(&loop->uv, walk_close_cb, loop);
        uv_run(&loop->uv, UV_RUN_ONCE);
    }
    pthread_mutex_destroy(&loop->mu);
    cf_free(loop->name);
    cf_free(loop);
}
