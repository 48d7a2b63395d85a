/*
 * test_loop_basics.c: the control loop (src/loop): posting from other
 * threads in order, timers (one-shot, repeating, cancelled from their own
 * callback or before firing), the worker pool, stop from another thread,
 * signals, and destroy with handles still open.
 */
#include "loop.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

/* ------------------------------------------------------------------ */
/* Posting                                                             */
/* ------------------------------------------------------------------ */

#define POST_THREADS 4
#define POST_PER_THREAD 20000

typedef struct post_test_s {
    cf_loop_t *loop;
    pthread_t loop_thread;
    /* touched on the loop thread only */
    int64_t last[POST_THREADS];
    int64_t count;
    int out_of_order;
    int wrong_thread;
} post_test_t;

typedef struct post_arg_s {
    post_test_t *t;
    int thread;
    int64_t seq;
} post_arg_t;

static void
post_fn(void *arg)
{
    post_arg_t *a = arg;
    post_test_t *t = a->t;
    if (!pthread_equal(pthread_self(), t->loop_thread))
        t->wrong_thread++;
    if (a->seq != t->last[a->thread] + 1)
        t->out_of_order++;
    t->last[a->thread] = a->seq;
    if (++t->count == (int64_t)POST_THREADS * POST_PER_THREAD)
        cf_loop_stop(t->loop);
    free(a);
}

static void
stop_fn(void *arg)
{
    cf_loop_stop(arg);
}

typedef struct poster_s {
    post_test_t *t;
    int idx;
} poster_t;

static void *
poster_main(void *arg)
{
    poster_t *p = arg;
    for (int64_t i = 1; i <= POST_PER_THREAD; i++) {
        post_arg_t *a = malloc(sizeof(*a));
        a->t = p->t;
        a->thread = p->idx;
        a->seq = i;
        cf_loop_post(p->t->loop, post_fn, a);
    }
    return NULL;
}

static void
test_post_order(void **state)
{
    (void)state;
    post_test_t t;
    memset(&t, 0, sizeof(t));
    t.loop = cf_loop_new("test-loop");
    assert_non_null(t.loop);
    t.loop_thread = pthread_self();
    pthread_t th[POST_THREADS];
    poster_t ps[POST_THREADS];
    for (int i = 0; i < POST_THREADS; i++) {
        ps[i].t = &t;
        ps[i].idx = i;
        assert_int_equal(pthread_create(&th[i], NULL, poster_main, &ps[i]), 0);
    }
    /* A watchdog: the test fails instead of hanging. */
    cf_timer_t *wd = cf_loop_timer(t.loop, 8000, 0, stop_fn, t.loop);
    cf_loop_run(t.loop);
    cf_timer_cancel(wd);
    for (int i = 0; i < POST_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(t.count, (int64_t)POST_THREADS * POST_PER_THREAD);
    assert_int_equal(t.out_of_order, 0);
    assert_int_equal(t.wrong_thread, 0);
    for (int i = 0; i < POST_THREADS; i++)
        assert_int_equal(t.last[i], POST_PER_THREAD);
    cf_loop_destroy(t.loop);
}

/* Posts from the loop thread itself, in a burst, keep their order. */
static int g_seq[5];
static int g_nseq;

static void
seq_fn(void *arg)
{
    if (g_nseq < 5)
        g_seq[g_nseq] = (int)(intptr_t)arg;
    g_nseq++;
}

static void
noop_fn(void *arg)
{
    (void)arg;
}

static void
test_post_same_thread_and_drop(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("loop2");
    g_nseq = 0;
    for (int i = 0; i < 4; i++)
        cf_loop_post(loop, seq_fn, (void *)(intptr_t)i);
    cf_loop_post(loop, stop_fn, loop);
    cf_loop_run(loop);
    assert_int_equal(g_nseq, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(g_seq[i], i);
    /* Posts never run are dropped at destroy (seq_fn not called). */
    cf_loop_post(loop, seq_fn, (void *)(intptr_t)99);
    cf_loop_destroy(loop);
    assert_int_equal(g_nseq, 4);
}

/* ------------------------------------------------------------------ */
/* Stop from another thread                                            */
/* ------------------------------------------------------------------ */

static void *
stopper_main(void *arg)
{
    cf_sleep_ms(50);
    cf_loop_stop_async(arg);
    return NULL;
}

static void
test_stop_async(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("loop3");
    /* A repeating timer keeps the loop busy; stop must still work. */
    cf_timer_t *t = cf_loop_timer(loop, 10, 10, noop_fn, NULL);
    (void)t;
    pthread_t th;
    int64_t t0 = cf_mono_ms();
    pthread_create(&th, NULL, stopper_main, loop);
    cf_loop_run(loop);
    pthread_join(th, NULL);
    assert_true(cf_mono_ms() - t0 < 3000);
    /* Stop requested before run: run returns at once. */
    cf_loop_stop_async(loop);
    t0 = cf_mono_ms();
    cf_loop_run(loop);
    assert_true(cf_mono_ms() - t0 < 1000);
    /* The repeating timer is still open: destroy closes and frees it. */
    cf_loop_destroy(loop);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

typedef struct timer_test_s {
    cf_loop_t *loop;
    int oneshot;
    int64_t oneshot_at;
    int repeats;
    cf_timer_t *rep;
    int self_cancel;
    cf_timer_t *self;
    int never;
    int64_t t0;
} timer_test_t;

static void
oneshot_fn(void *arg)
{
    timer_test_t *t = arg;
    t->oneshot++;
    t->oneshot_at = cf_mono_ms() - t->t0;
}

static void
repeat_fn(void *arg)
{
    timer_test_t *t = arg;
    if (++t->repeats == 5) {
        cf_timer_cancel(t->rep);
        t->rep = NULL;
        cf_loop_stop(t->loop);
    }
}

static void
self_cancel_fn(void *arg)
{
    timer_test_t *t = arg;
    t->self_cancel++;
    /* Cancel a one-shot from its own callback: allowed. */
    cf_timer_cancel(t->self);
}

static void
never_fn(void *arg)
{
    timer_test_t *t = arg;
    t->never++;
}

static void
test_timers(void **state)
{
    (void)state;
    timer_test_t t;
    memset(&t, 0, sizeof(t));
    t.loop = cf_loop_new("timers");
    t.t0 = cf_mono_ms();
    cf_loop_timer(t.loop, 30, 0, oneshot_fn, &t);
    t.rep = cf_loop_timer(t.loop, 5, 20, repeat_fn, &t);
    t.self = cf_loop_timer(t.loop, 1, 0, self_cancel_fn, &t);
    cf_timer_t *never = cf_loop_timer(t.loop, 20, 0, never_fn, &t);
    cf_timer_cancel(never); /* cancelled before firing */
    cf_timer_t *wd = cf_loop_timer(t.loop, 5000, 0, stop_fn, t.loop);
    cf_loop_run(t.loop);
    cf_timer_cancel(wd);
    int64_t elapsed = cf_mono_ms() - t.t0;
    assert_int_equal(t.repeats, 5);
    assert_true(elapsed >= 5 + 4 * 20 - 2);
    assert_true(elapsed < 4000);
    assert_int_equal(t.oneshot, 1);
    assert_true(t.oneshot_at >= 29);
    assert_int_equal(t.self_cancel, 1);
    assert_int_equal(t.never, 0);
    cf_loop_destroy(t.loop);
}

/* A repeating timer cancelled from its own callback fires no more. */
typedef struct rep_cancel_s {
    cf_timer_t *t;
    int n;
} rep_cancel_t;

static void
rep_cancel_fn(void *arg)
{
    rep_cancel_t *r = arg;
    r->n++;
    cf_timer_cancel(r->t);
}

static void
test_repeat_cancel_inside(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("timers2");
    rep_cancel_t r = {0};
    r.t = cf_loop_timer(loop, 1, 1, rep_cancel_fn, &r);
    cf_loop_timer(loop, 100, 0, stop_fn, loop);
    cf_loop_run(loop);
    assert_int_equal(r.n, 1);
    cf_loop_destroy(loop);
}

/* ------------------------------------------------------------------ */
/* Worker pool                                                         */
/* ------------------------------------------------------------------ */

#define NWORK 16

typedef struct work_test_s {
    cf_loop_t *loop;
    pthread_t loop_thread;
    atomic_int worked;
    int done;
    int work_on_loop;
    int done_off_loop;
} work_test_t;

static work_test_t g_wt;

static void
work_fn(void *arg)
{
    (void)arg;
    if (pthread_equal(pthread_self(), g_wt.loop_thread))
        g_wt.work_on_loop++;
    cf_sleep_ms(5);
    atomic_fetch_add(&g_wt.worked, 1);
}

static void
done_fn(void *arg)
{
    int *slot = arg;
    *slot = 1;
    if (!pthread_equal(pthread_self(), g_wt.loop_thread))
        g_wt.done_off_loop++;
    if (++g_wt.done == NWORK)
        cf_loop_stop(g_wt.loop);
}

static void
test_work(void **state)
{
    (void)state;
    memset(&g_wt, 0, sizeof(g_wt));
    g_wt.loop = cf_loop_new("work");
    g_wt.loop_thread = pthread_self();
    int slots[NWORK] = {0};
    for (int i = 0; i < NWORK; i++)
        assert_int_equal(cf_loop_work(g_wt.loop, work_fn, done_fn, &slots[i]),
                         0);
    cf_timer_t *wd = cf_loop_timer(g_wt.loop, 5000, 0, stop_fn, g_wt.loop);
    cf_loop_run(g_wt.loop);
    cf_timer_cancel(wd);
    assert_int_equal(atomic_load(&g_wt.worked), NWORK);
    assert_int_equal(g_wt.done, NWORK);
    assert_int_equal(g_wt.work_on_loop, 0);
    assert_int_equal(g_wt.done_off_loop, 0);
    for (int i = 0; i < NWORK; i++)
        assert_int_equal(slots[i], 1);
    /* Work still running at destroy completes (done runs) first. */
    int late = 0;
    cf_loop_work(g_wt.loop, work_fn, done_fn, &late);
    cf_loop_destroy(g_wt.loop);
    assert_int_equal(late, 1);
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

static int g_sighup;

static void
sighup_fn(void *arg)
{
    g_sighup++;
    cf_loop_stop(arg);
}

static void
test_signal(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("signals");
    g_sighup = 0;
    assert_int_equal(cf_loop_on_signal(loop, SIGHUP, sighup_fn, loop), 0);
    cf_timer_t *wd = cf_loop_timer(loop, 5000, 0, stop_fn, loop);
    kill(getpid(), SIGHUP);
    cf_loop_run(loop);
    cf_timer_cancel(wd);
    assert_int_equal(g_sighup, 1);
    cf_loop_destroy(loop); /* closes and frees the signal handle */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_order),
        cmocka_unit_test(test_post_same_thread_and_drop),
        cmocka_unit_test(test_stop_async),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_repeat_cancel_inside),
        cmocka_unit_test(test_work),
        cmocka_unit_test(test_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
