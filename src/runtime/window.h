/*
 * window.h: the window operator (Flink's WindowOperator and
 * EvictingWindowOperator) and its builder calls (window.c).
 *
 * Build time: cf_stream_window on a keyed stream makes a WindowedStream
 * (s->win), windowAll on a non-keyed one keys it by a constant key at
 * parallelism 1 (as Flink's NullByteKeySelector); the window_* calls
 * configure it; reduce, aggregate or process adds a CF_OP_WINDOW node
 * that owns the configuration (node->win). Invalid parameters fail the
 * submission with a message naming the operator.
 *
 * Run time (task thread), driven by task.c:
 *  - cf_winop_open after the task gave the context its keyed backend
 *    (ctx->kstate) and timer service (ctx->timers); it registers the
 *    window state and calls the user's open;
 *  - cf_winop_invoke per record with the current key set, ctx->cur_ts the
 *    record's timestamp and ctx->watermark the operator's watermark;
 *  - cf_winop_on_timer for each timer of the operator that fires (event
 *    time when the watermark passes it, processing time when the clock
 *    does), with the backend's current key set to the timer's key; the
 *    timer's namespace is the window (16 bytes: start, end as int64
 *    native-endian);
 *  - cf_winop_close at the end (also after failure).
 * Results go out with cf_task_emit (timestamp: the window's max
 * timestamp), late data with cf_task_emit_side.
 *
 * Sliding windows share work between overlapping windows: elements are
 * kept per slice (pane) of gcd(size, slide) and a firing combines the
 * panes of its window, so the cost per element does not grow with
 * size / slide.
 */
#ifndef CF_WINDOW_H
#define CF_WINDOW_H

#include "runtime_int.h"
#include "timers.h"

typedef struct cf_winop_s cf_winop_t;

/* Builder: host table entries. */
cf_stream_t *cf_b_window(cf_stream_t *s, const cf_window_assigner_t *a);
cf_stream_t *cf_b_window_trigger(cf_stream_t *w, const cf_trigger_t *t);
cf_stream_t *cf_b_window_evictor(cf_stream_t *w, const cf_evictor_t *e);
cf_stream_t *cf_b_window_allowed_lateness(cf_stream_t *w, int64_t ms);
cf_stream_t *cf_b_window_side_output_late_data(cf_stream_t *w,
                                               const char *tag);
cf_stream_t *cf_b_window_reduce(cf_stream_t *w, const char *name,
                                cf_reduce_fn fn, void *udata);
cf_stream_t *cf_b_window_aggregate(cf_stream_t *w, const char *name,
                                   const cf_agg_ops_t *ops, void *udata);
cf_stream_t *cf_b_window_process(cf_stream_t *w, const char *name,
                                 const cf_window_process_ops_t *ops,
                                 void *udata);
/* Free a configuration (node->win, or a windowed stream's). */
void cf_window_conf_free(cf_window_conf_t *c);

/* Run time. */
int cf_winop_open(cf_ctx_t *ctx);
int cf_winop_invoke(cf_ctx_t *ctx, const cf_record_t *r);
int cf_winop_on_timer(cf_ctx_t *ctx, int domain, const cf_timer_view_t *t);
/* End of input: a bounded input's final watermark (CF_WATERMARK_MAX)
 * already fired every event-time window; processing-time windows that
 * are still open fire here (Flink fires them at end of input too). */
int cf_winop_finish(cf_ctx_t *ctx);
void cf_winop_close(cf_ctx_t *ctx);
/* numLateRecordsDropped of this instance. */
uint64_t cf_winop_late_dropped(const cf_ctx_t *ctx);

#endif /* CF_WINDOW_H */
