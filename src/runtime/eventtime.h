/*
 * eventtime.h: the run-time pieces of event time inside a task, split
 * over two files:
 *
 *  - eventtime.c: the timestamps/watermarks operator (CF_OP_TIMESTAMPS),
 *    watermark events on the wire, the input watermark of a task (min
 *    over its active channels, idleness), watermark propagation through
 *    the chain and to downstream tasks, side outputs; task.c calls it.
 *  - timer_rt.c: timers of operator instances (user timers of process
 *    functions, the window operator's), the host functions around them,
 *    and the restore of timer queues; eventtime.c/task.c call it.
 *
 * Thread: the task's, except where noted.
 */
#ifndef CF_EVENTTIME_H
#define CF_EVENTTIME_H

#include "runtime_int.h"

/* ---- timer_rt.c ---------------------------------------------------- */

/* Host table entries. */
int cf_rt_timer_register(cf_ctx_t *ctx, int time_domain, int64_t ts);
int cf_rt_timer_delete(cf_ctx_t *ctx, int time_domain, int64_t ts);
int64_t cf_rt_current_watermark(cf_ctx_t *ctx);
int64_t cf_rt_timestamp(cf_ctx_t *ctx);
int64_t cf_rt_processing_time(cf_ctx_t *ctx);

/* Create ctx->timers for a keyed operator that needs them (the window
 * operator always; a process function on its first registration, or at
 * open when its restored backend holds timers), and rebuild the queues
 * of a restored backend. 0 or a negative code (ctx failed with a
 * message). */
int cf_rt_timers_open(cf_ctx_t *ctx);

/* Fire the event-time timers of ctx with ts <= watermark, in timestamp
 * order (on_timer of a process function with the timer's key current and
 * cf_ctx_timestamp() = ts; cf_winop_on_timer for a window operator).
 * Timers registered while firing that are also due fire in the same
 * call. */
int cf_rt_fire_event_timers(cf_ctx_t *ctx, int64_t watermark);

/* Fire the processing-time timers of ctx with ts <= now. */
int cf_rt_fire_processing_timers(cf_ctx_t *ctx, int64_t now);

/* The earliest processing-time timer of ctx, INT64_MAX when none: the
 * task wakes up for it. */
int64_t cf_rt_next_processing_timer(cf_ctx_t *ctx);

/* A test hook: make the processing-time clock of every task of this
 * process the given function (NULL: the wall clock, epoch ms). Tests
 * drive processing-time timers and windows with it. */
void cf_rt_set_clock(int64_t (*now_ms)(void));

/* ---- eventtime.c --------------------------------------------------- */

/* Host table entries. */
cf_stream_t *cf_b_assign_watermarks(cf_stream_t *s,
                                    const cf_wm_strategy_t *st, void *udata);
int cf_et_emit_watermark(cf_ctx_t *ctx, int64_t watermark);
cf_stream_t *cf_b_side_output(cf_stream_t *s, const char *tag);

/* ---- join.c (connect + co-process, window join) and interval_join.c -- */

cf_stream_t *cf_b_connect_process(cf_stream_t *a, cf_stream_t *b,
                                  const char *name,
                                  const cf_co_process_ops_t *ops,
                                  void *udata);
cf_stream_t *cf_b_window_join(cf_stream_t *a, cf_stream_t *b,
                              const cf_window_assigner_t *w,
                              const char *name, cf_join_fn fn, void *udata);
cf_stream_t *cf_b_interval_join(cf_stream_t *a, cf_stream_t *b,
                                int64_t lower_ms, int64_t upper_ms,
                                const char *name, cf_join_fn fn,
                                void *udata);

#endif /* CF_EVENTTIME_H */
