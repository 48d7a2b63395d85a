/*
 * loop.h: the control loop of a daemon (one libuv loop on one thread).
 *
 * All control state of a daemon (Dispatcher, ResourceManager, JobMasters
 * in the JobManager; TaskExecutor and slot table in a TaskManager) is
 * touched only on its loop thread, so it needs no locks. Other threads
 * reach the loop only through cf_loop_post(): an MPSC queue plus one
 * uv_async_t whose callback drains the whole queue, in posting order.
 *
 * Blocking work (file writes, fsync, dlopen) goes to libuv's worker pool
 * through cf_loop_work(); its completion runs on the loop.
 *
 * Threads: every function is loop-thread only, except cf_loop_post() and
 * cf_loop_stop_async() (any thread).
 */
#ifndef CF_LOOP_H
#define CF_LOOP_H

#include <stdint.h>

#include <uv.h>

typedef struct cf_loop_s cf_loop_t;
typedef struct cf_timer_s cf_timer_t;

typedef void (*cf_loop_fn)(void *arg);

/* name is used in logs (and as the loop thread's log name). */
cf_loop_t *cf_loop_new(const char *name);
/* Closes every handle the loop still owns (timers, signals, async) and
 * frees it. Must not be running. */
void cf_loop_destroy(cf_loop_t *loop);
uv_loop_t *cf_loop_uv(cf_loop_t *loop);

/* Run on the calling thread until cf_loop_stop(). Returns 0. */
int cf_loop_run(cf_loop_t *loop);
void cf_loop_stop(cf_loop_t *loop);
/* Thread: any (also async-signal-unsafe contexts excluded). */
void cf_loop_stop_async(cf_loop_t *loop);

/* Run fn(arg) on the loop thread, soon. Thread: any. Posts made before
 * cf_loop_destroy() that never ran are dropped (fn is not called). */
void cf_loop_post(cf_loop_t *loop, cf_loop_fn fn, void *arg);

/* A timer calling fn(arg) after delay_ms, then every repeat_ms when
 * repeat_ms > 0. A one-shot timer frees itself after fn returns; a
 * repeating one lives until cf_timer_cancel(). cf_timer_cancel() may be
 * called from fn itself, and on a one-shot timer that has not fired. */
cf_timer_t *cf_loop_timer(cf_loop_t *loop, int64_t delay_ms,
                          int64_t repeat_ms, cf_loop_fn fn, void *arg);
void cf_timer_cancel(cf_timer_t *t);

/* Call fn(arg) on the loop whenever signum arrives (SIGTERM, SIGINT,
 * SIGHUP). */
int cf_loop_on_signal(cf_loop_t *loop, int signum, cf_loop_fn fn,
                      void *arg);

/* A daemon's shutdown: on the first SIGTERM or SIGINT, log "RECEIVED
 * SIGNAL <n>: <name>. Shutting down as requested." and call fn(arg); on
 * any later one, log "... again. Exiting immediately." and _exit(1). */
int cf_loop_on_shutdown_signals(cf_loop_t *loop, cf_loop_fn fn, void *arg);

/* Run work(arg) on a worker thread, then done(arg) on the loop. */
int cf_loop_work(cf_loop_t *loop, cf_loop_fn work, cf_loop_fn done,
                 void *arg);

#endif /* CF_LOOP_H */
