/*
 * eventtime.c: event time inside a task (docs/internals/eventtime.md):
 *
 *  - the builder calls assignTimestampsAndWatermarks (a chained
 *    CF_OP_TIMESTAMPS node), getSideOutput (a stream whose edges carry a
 *    tag), and the two-input calls, refused for now;
 *  - the CF_OP_TIMESTAMPS operator (Flink's TimestampsAndWatermarksOperator):
 *    assigns timestamps, runs the watermark generator (periodic every
 *    pipeline.auto-watermark-interval, or punctuated through
 *    cf_emit_watermark), detects idleness (withIdleness);
 *  - watermark propagation through a chain (cf_ctx_on_watermark: fire the
 *    operator's event-time timers, then its outputs), and to downstream
 *    tasks as CF_NET_EV_WATERMARK / CF_NET_EV_WATERMARK_STATUS events;
 *  - the input watermark of a task (Flink's StatusWatermarkValve): the
 *    minimum over its active, aligned input channels that have not ended;
 *    idleness when every live channel is idle;
 *  - the clocked work of the task loop: periodic emission and
 *    processing-time timers (cf_et_poll), CF_WATERMARK_MAX at the end of
 *    a drained input.
 *
 * Watermarks are rare next to records (one per interval per channel), so
 * their events are allocated per event and the valve scans its channels;
 * the record path only pays the timestamps operator where there is one.
 */
#include <string.h>

#include "eventtime.h"
#include "task.h"
#include "timers.h"
#include "window.h"

/* The state of a CF_OP_TIMESTAMPS instance (ctx->wmgen). */
typedef struct cf_wmgen_s {
    int64_t max_ts;  /* the largest timestamp seen (MIN: none) */
    int64_t out_wm;  /* the watermark emitted last */
    int idle;        /* the output is marked idle */
    uint64_t records;      /* records seen (the idleness timer's counter) */
    uint64_t seen;         /* records at the last idleness check */
    int64_t last_active_ms; /* monotonic ms of the last change of records */
} cf_wmgen_t;

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

cf_stream_t *
cf_b_assign_watermarks(cf_stream_t *s, const cf_wm_strategy_t *st,
                       void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_transform(s, CF_OP_TIMESTAMPS,
                                  "assignTimestampsAndWatermarks", NULL,
                                  udata, &n);
    if (st == NULL) {
        cf_env_error(s->env, "assignTimestampsAndWatermarks '%s' has no "
                             "watermark strategy",
                     n->name);
        return r;
    }
    /* Copies: the plugin's structs may be on its stack. */
    cf_copy_ops(&n->wm, sizeof n->wm, st);
    if (n->wm.gen != NULL) {
        cf_copy_ops(&n->wm_gen, sizeof n->wm_gen, n->wm.gen);
        n->wm.gen = &n->wm_gen;
    }
    if (n->wm.kind < CF_WM_NONE || n->wm.kind > CF_WM_CUSTOM)
        cf_env_error(s->env,
                     "assignTimestampsAndWatermarks '%s': unknown watermark "
                     "strategy kind %d",
                     n->name, n->wm.kind);
    else if (n->wm.max_out_of_orderness_ms < 0)
        cf_env_error(s->env,
                     "assignTimestampsAndWatermarks '%s': the maximum "
                     "out-of-orderness must not be negative (%lld ms)",
                     n->name, (long long)n->wm.max_out_of_orderness_ms);
    else if (n->wm.idle_timeout_ms < 0)
        cf_env_error(s->env,
                     "assignTimestampsAndWatermarks '%s': the idleness "
                     "timeout must not be negative (%lld ms)",
                     n->name, (long long)n->wm.idle_timeout_ms);
    else if (n->wm.kind == CF_WM_CUSTOM &&
             (n->wm.gen == NULL ||
              (n->wm_gen.on_event == NULL && n->wm_gen.on_periodic == NULL)))
        cf_env_error(s->env,
                     "assignTimestampsAndWatermarks '%s': a custom watermark "
                     "strategy needs a generator with on_event or "
                     "on_periodic",
                     n->name);
    return r;
}

cf_stream_t *
cf_b_side_output(cf_stream_t *s, const char *tag)
{
    cf_stream_t *r;
    if (tag == NULL || *tag == '\0') {
        cf_env_error(s->env, "getSideOutput() needs a non-empty tag");
        tag = "?";
    } else if (s->nrefs != 1 || s->refs[0].partitioner != 0 || s->keyed ||
               s->win != NULL || s->sink || s->refs[0].tag != NULL) {
        cf_env_error(s->env,
                     "getSideOutput('%s') applies to an operator's output, "
                     "not to a union, partitioned, keyed, windowed, sink or "
                     "side output stream",
                     tag);
    }
    r = cf_stream_new(s->env, 1);
    r->refs[0].node = s->refs[0].node;
    r->refs[0].tag = cf_env_intern(s->env, tag);
    return r;
}

/* ------------------------------------------------------------------ */
/* Propagation                                                         */
/* ------------------------------------------------------------------ */

static void
cf_et_put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
cf_et_get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* An event to every channel of one writer. */
static int
cf_et_send(cf_rw_t *w, uint16_t ev, const uint8_t *pl, uint32_t len)
{
    return cf_net_partition_broadcast_event(&w->part, ev, pl, len);
}

/* wm to every output of ctx (main and side: Flink forwards watermarks to
 * side outputs too). */
static int
cf_ctx_forward_watermark(cf_ctx_t *ctx, int64_t wm)
{
    uint8_t pl[CF_NET_WATERMARK_LEN];
    int rc;

    for (int i = 0; i < ctx->nchained; i++)
        if ((rc = cf_ctx_on_watermark(ctx->chained[i], wm)) < 0)
            return rc;
    for (int i = 0; i < ctx->nside; i++)
        if (ctx->side[i].chained != NULL &&
            (rc = cf_ctx_on_watermark(ctx->side[i].chained, wm)) < 0)
            return rc;
    if (ctx->task->gate == NULL &&
        wm > atomic_load_explicit(&ctx->task->wm_metric,
                                  memory_order_relaxed))
        atomic_store_explicit(&ctx->task->wm_metric, wm,
                              memory_order_relaxed);
    if (ctx->nwriters == 0 && ctx->nside == 0)
        return 0;
    pl[0] = CF_NET_WATERMARK_VERSION;
    cf_et_put64le(pl + 1, (uint64_t)wm);
    for (int i = 0; i < ctx->nwriters; i++)
        if ((rc = cf_et_send(ctx->writers[i], CF_NET_EV_WATERMARK, pl,
                             sizeof pl)) < 0)
            return rc;
    for (int i = 0; i < ctx->nside; i++)
        if (ctx->side[i].writer != NULL &&
            (rc = cf_et_send(ctx->side[i].writer, CF_NET_EV_WATERMARK, pl,
                             sizeof pl)) < 0)
            return rc;
    return 0;
}

static int cf_ctx_on_status(cf_ctx_t *ctx, int idle);

static int
cf_ctx_forward_status(cf_ctx_t *ctx, int idle)
{
    uint8_t pl[CF_NET_WATERMARK_STATUS_LEN] = {CF_NET_WATERMARK_VERSION,
                                               (uint8_t)(idle != 0)};
    int rc;

    for (int i = 0; i < ctx->nchained; i++)
        if ((rc = cf_ctx_on_status(ctx->chained[i], idle)) < 0)
            return rc;
    for (int i = 0; i < ctx->nside; i++)
        if (ctx->side[i].chained != NULL &&
            (rc = cf_ctx_on_status(ctx->side[i].chained, idle)) < 0)
            return rc;
    for (int i = 0; i < ctx->nwriters; i++)
        if ((rc = cf_et_send(ctx->writers[i], CF_NET_EV_WATERMARK_STATUS,
                             pl, sizeof pl)) < 0)
            return rc;
    for (int i = 0; i < ctx->nside; i++)
        if (ctx->side[i].writer != NULL &&
            (rc = cf_et_send(ctx->side[i].writer,
                             CF_NET_EV_WATERMARK_STATUS, pl, sizeof pl)) <
                0)
            return rc;
    return 0;
}

/* ctx's input became idle / active. A timestamps operator decides its
 * output's status itself (from its own records), as Flink's. */
static int
cf_ctx_on_status(cf_ctx_t *ctx, int idle)
{
    if (ctx->node->kind == CF_OP_TIMESTAMPS)
        return 0;
    return cf_ctx_forward_status(ctx, idle);
}

/* A timestamps operator emits wm (if it advances). */
static int
cf_et_gen_emit(cf_ctx_t *ctx, int64_t wm)
{
    cf_wmgen_t *g = ctx->wmgen;
    int rc;
    if (g == NULL || wm <= g->out_wm)
        return 0;
    if (g->idle) {
        /* Emitting a watermark makes the output active again. */
        g->idle = 0;
        if ((rc = cf_ctx_forward_status(ctx, 0)) < 0)
            return rc;
    }
    g->out_wm = wm;
    return cf_ctx_forward_watermark(ctx, wm);
}

int
cf_ctx_on_watermark(cf_ctx_t *ctx, int64_t wm)
{
    int rc;

    if (ctx->node->kind == CF_OP_TIMESTAMPS) {
        /* The operator generates its own watermarks; from upstream only
         * the end of event time passes (TimestampsAndWatermarksOperator). */
        if (wm > ctx->watermark)
            ctx->watermark = wm;
        return wm == CF_WATERMARK_MAX ? cf_et_gen_emit(ctx, wm) : 0;
    }
    if (wm <= ctx->watermark)
        return 0;
    ctx->watermark = wm;
    /* Timers first: what they emit is not late for the watermark that
     * follows it downstream. */
    if (ctx->timers != NULL && (rc = cf_rt_fire_event_timers(ctx, wm)) < 0)
        return rc;
    if (atomic_load(&ctx->task->user_failed))
        return CF_EUSER;
    return cf_ctx_forward_watermark(ctx, wm);
}

/* ------------------------------------------------------------------ */
/* The timestamps / watermarks operator                                */
/* ------------------------------------------------------------------ */

int
cf_et_emit_watermark(cf_ctx_t *ctx, int64_t watermark)
{
    if (ctx->node->kind != CF_OP_TIMESTAMPS || ctx->wmgen == NULL)
        return cf_fail(ctx,
                       "cf_emit_watermark() can only be called by the "
                       "watermark generator of an "
                       "assignTimestampsAndWatermarks operator, not by "
                       "operator '%s'",
                       ctx->node->name);
    return cf_et_gen_emit(ctx, watermark);
}

int
cf_et_timestamps_open(cf_ctx_t *ctx)
{
    cf_wmgen_t *g = CF_NEW(cf_wmgen_t);
    g->max_ts = CF_WATERMARK_MIN;
    g->out_wm = CF_WATERMARK_MIN;
    g->last_active_ms = cf_mono_ns() / 1000000;
    ctx->wmgen = g;
    return 0;
}

void
cf_et_timestamps_close(cf_ctx_t *ctx)
{
    cf_free(ctx->wmgen);
    ctx->wmgen = NULL;
}

int
cf_et_timestamps_invoke(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_snode_t *n = ctx->node;
    cf_wmgen_t *g = ctx->wmgen;
    int64_t ts = r->ts;
    int rc;

    ctx->cur_ts = r->ts;
    if (n->wm.timestamp != NULL) {
        ts = n->wm.timestamp(ctx, r);
        if (atomic_load_explicit(&ctx->task->user_failed,
                                 memory_order_relaxed))
            return CF_EUSER;
    }
    g->records++;
    if (__builtin_expect(g->idle, 0)) {
        g->idle = 0;
        if ((rc = cf_ctx_forward_status(ctx, 0)) < 0)
            return rc;
    }
    if (ts > g->max_ts && ts != CF_NO_TIMESTAMP)
        g->max_ts = ts;
    ctx->cur_ts = ts;
    /* The record first, then the generator: a punctuated watermark
     * follows the record that carried it (as Flink's processElement). */
    if ((rc = cf_task_emit(ctx, r->data, r->len, ts)) < 0)
        return rc;
    if (n->wm.kind == CF_WM_CUSTOM && n->wm_gen.on_event != NULL) {
        cf_record_t in = {r->data, r->len, ts};
        ctx->cur_ts = ts;
        if ((rc = n->wm_gen.on_event(ctx, &in, ts)) < 0) {
            if (!atomic_load(&ctx->task->user_failed))
                cf_fail(ctx, "the watermark generator of operator '%s' "
                             "failed (code %d)",
                        n->name, rc);
            return CF_EUSER;
        }
        if (atomic_load_explicit(&ctx->task->user_failed,
                                 memory_order_relaxed))
            return CF_EUSER;
    }
    return 0;
}

/* The periodic part of the generator (onPeriodicEmit) with idleness
 * (WatermarksWithIdleness: no record for the timeout marks the output
 * idle, and no watermark is emitted while idle). now_ms: monotonic. */
static int
cf_et_periodic(cf_ctx_t *ctx, int64_t now_ms)
{
    cf_snode_t *n = ctx->node;
    cf_wmgen_t *g = ctx->wmgen;
    int64_t wm;
    int rc;

    if (g == NULL || g->out_wm == CF_WATERMARK_MAX)
        return 0;
    if (n->wm.idle_timeout_ms > 0) {
        if (g->records != g->seen) {
            g->seen = g->records;
            g->last_active_ms = now_ms;
        } else if (now_ms - g->last_active_ms >= n->wm.idle_timeout_ms) {
            if (!g->idle) {
                g->idle = 1;
                return cf_ctx_forward_status(ctx, 1);
            }
            return 0;
        }
    }
    switch (n->wm.kind) {
    case CF_WM_MONOTONOUS:
    case CF_WM_BOUNDED:
        if (g->max_ts == CF_WATERMARK_MIN)
            return 0;
        wm = g->max_ts - 1;
        if (n->wm.kind == CF_WM_BOUNDED) {
            if (wm < CF_WATERMARK_MIN + n->wm.max_out_of_orderness_ms)
                return 0;
            wm -= n->wm.max_out_of_orderness_ms;
        }
        return cf_et_gen_emit(ctx, wm);
    case CF_WM_CUSTOM:
        if (n->wm_gen.on_periodic == NULL)
            return 0;
        if ((rc = n->wm_gen.on_periodic(ctx)) < 0) {
            if (!atomic_load(&ctx->task->user_failed))
                cf_fail(ctx, "the watermark generator of operator '%s' "
                             "failed (code %d)",
                        n->name, rc);
            return CF_EUSER;
        }
        return atomic_load(&ctx->task->user_failed) ? CF_EUSER : 0;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* The task                                                            */
/* ------------------------------------------------------------------ */

void
cf_et_task_init(cf_task_t *t)
{
    int64_t ms = t->job->cfg ? cf_config_get_duration_ms(
                                   t->job->cfg,
                                   "pipeline.auto-watermark-interval", 200)
                             : 200;
    t->wm_interval_ns = ms > 0 ? ms * 1000000 : 0;
    t->in_wm = CF_WATERMARK_MIN;
    t->et_wake_ns = INT64_MAX;
    t->pt_next = INT64_MAX;
    t->pt_wake_ns = INT64_MAX;
    atomic_init(&t->wm_metric, CF_WATERMARK_MIN);
    atomic_init(&t->late_metric, 0);
    if (t->nchannels > 0) {
        t->ch_wm = cf_calloc((size_t)t->nchannels, sizeof(int64_t));
        t->ch_wmflags = cf_calloc((size_t)t->nchannels, 1);
        for (int c = 0; c < t->nchannels; c++)
            t->ch_wm[c] = CF_WATERMARK_MIN;
    }
    t->et_gens = cf_calloc((size_t)t->nctxs + 1, sizeof(int));
    t->et_timers = cf_calloc((size_t)t->nctxs + 1, sizeof(int));
    t->et_wins = cf_calloc((size_t)t->nctxs + 1, sizeof(int));
    for (int i = 0; i < t->nctxs; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        c->watermark = CF_WATERMARK_MIN;
        c->cur_ts = CF_NO_TIMESTAMP;
        if (c->node->kind == CF_OP_TIMESTAMPS)
            t->et_gens[t->net_gens++] = i;
        if (c->node->kind == CF_OP_WINDOW)
            t->et_wins[t->net_wins++] = i;
        if (c->node->kind == CF_OP_WINDOW ||
            (c->node->kind == CF_OP_PROCESS && c->node->process.on_timer))
            t->et_timers[t->net_timers++] = i;
    }
    t->et_poll = (t->net_gens > 0 && t->wm_interval_ns > 0) ||
                 t->net_timers > 0;
    t->et_next_periodic_ns = cf_mono_ns() + t->wm_interval_ns;
}

void
cf_et_task_free(cf_task_t *t)
{
    cf_free(t->ch_wm);
    cf_free(t->ch_wmflags);
    cf_free(t->et_gens);
    cf_free(t->et_timers);
    cf_free(t->et_wins);
}

static void
cf_et_set_input_wm(cf_task_t *t, int64_t wm)
{
    t->in_wm = wm;
    atomic_store_explicit(&t->wm_metric, wm, memory_order_relaxed);
}

/* Recompute the input watermark and status after a channel changed. */
static int
cf_et_valve(cf_task_t *t)
{
    int64_t min = CF_WATERMARK_MAX;
    int nlive = 0, nactive = 0, naligned = 0, rc;
    cf_ctx_t *head = &t->ctxs[0];

    for (int c = 0; c < t->nchannels; c++) {
        if (t->ch_end[c] != 0)
            continue; /* ended: CF_WATERMARK_MAX */
        nlive++;
        if (t->ch_wmflags[c] & CF_ET_CH_IDLE)
            continue;
        nactive++;
        if (t->ch_wmflags[c] & CF_ET_CH_UNALIGNED) {
            if (t->ch_wm[c] < t->in_wm)
                continue;
            t->ch_wmflags[c] &= (uint8_t)~CF_ET_CH_UNALIGNED;
        }
        naligned++;
        if (t->ch_wm[c] < min)
            min = t->ch_wm[c];
    }
    if (nlive == 0)
        return 0; /* the end of input decides (MAX only when drained) */
    if (nactive == 0) {
        if (t->in_idle)
            return 0;
        t->in_idle = 1;
        return cf_ctx_on_status(head, 1);
    }
    if (t->in_idle) {
        t->in_idle = 0;
        if ((rc = cf_ctx_on_status(head, 0)) < 0)
            return rc;
    }
    if (naligned > 0 && min > t->in_wm) {
        cf_et_set_input_wm(t, min);
        return cf_ctx_on_watermark(head, min);
    }
    return 0;
}

/* Channel c becomes active: behind the input watermark, it must catch
 * up before it counts again (it cannot move the watermark back). */
static void
cf_et_channel_active(cf_task_t *t, int c)
{
    t->ch_wmflags[c] &= (uint8_t)~CF_ET_CH_IDLE;
    if (t->ch_wm[c] < t->in_wm)
        t->ch_wmflags[c] |= CF_ET_CH_UNALIGNED;
}

int
cf_et_on_event(cf_task_t *t, int ch, const cf_net_buf_t *buf)
{
    const uint8_t *p = buf->data;

    if (buf->event == CF_NET_EV_WATERMARK) {
        int64_t wm;
        if (buf->len != CF_NET_WATERMARK_LEN ||
            p[0] != CF_NET_WATERMARK_VERSION)
            goto bad;
        if (t->ch_end[ch] != 0)
            return 0;
        wm = (int64_t)cf_et_get64le(p + 1);
        if (t->ch_wmflags[ch] & CF_ET_CH_IDLE)
            cf_et_channel_active(t, ch);
        if (wm <= t->ch_wm[ch])
            return 0; /* a channel's watermark never goes back */
        t->ch_wm[ch] = wm;
        return cf_et_valve(t);
    }
    if (buf->len != CF_NET_WATERMARK_STATUS_LEN ||
        p[0] != CF_NET_WATERMARK_VERSION || p[1] > 1)
        goto bad;
    if (t->ch_end[ch] != 0)
        return 0;
    if (p[1] == 1) {
        if (t->ch_wmflags[ch] & CF_ET_CH_IDLE)
            return 0;
        t->ch_wmflags[ch] |= CF_ET_CH_IDLE;
        t->ch_wmflags[ch] &= (uint8_t)~CF_ET_CH_UNALIGNED;
    } else {
        if (!(t->ch_wmflags[ch] & CF_ET_CH_IDLE))
            return 0;
        cf_et_channel_active(t, ch);
    }
    return cf_et_valve(t);
bad:
    if (t->failure == NULL)
        t->failure = cf_asprintf("%s: malformed %s event (%u bytes) on "
                                 "input channel %d",
                                 t->name,
                                 buf->event == CF_NET_EV_WATERMARK
                                     ? "watermark"
                                     : "watermark status",
                                 buf->len, ch);
    return CF_EPROTO;
}

int
cf_et_channel_ended(cf_task_t *t, int ch)
{
    (void)ch;
    return cf_et_valve(t);
}

int
cf_et_end_of_input(cf_task_t *t)
{
    if (t->gate != NULL)
        cf_et_set_input_wm(t, CF_WATERMARK_MAX);
    return cf_ctx_on_watermark(&t->ctxs[0], CF_WATERMARK_MAX);
}

void
cf_et_update_late(cf_task_t *t)
{
    uint64_t n = 0;
    /* Windows and interval joins (keyed process operators with timers)
     * are the operators that drop late records. */
    for (int i = 0; i < t->net_timers; i++) {
        const cf_ctx_t *c = &t->ctxs[t->et_timers[i]];
        n += c->winop != NULL ? cf_winop_late_dropped(c) : c->late_dropped;
    }
    atomic_store_explicit(&t->late_metric, n, memory_order_relaxed);
}

/* Processing-time timers: fire what is due; note the next one. */
static int
cf_et_poll_timers(cf_task_t *t, int64_t now_ns)
{
    int64_t next = INT64_MAX, now;
    int rc;

    for (int i = 0; i < t->net_timers; i++) {
        cf_ctx_t *c = &t->ctxs[t->et_timers[i]];
        if (c->timers != NULL) {
            int64_t n = cf_rt_next_processing_timer(c);
            if (n < next)
                next = n;
        }
    }
    if (next == INT64_MAX) {
        t->pt_next = INT64_MAX;
        t->pt_wake_ns = INT64_MAX;
        return 0;
    }
    /* The same earliest timer and not yet due by the estimate: no need
     * to read the (possibly test-driven) clock. */
    if (next == t->pt_next && now_ns < t->pt_wake_ns)
        return 0;
    now = cf_task_processing_time(&t->ctxs[0]);
    if (next <= now) {
        for (int i = 0; i < t->net_timers; i++) {
            cf_ctx_t *c = &t->ctxs[t->et_timers[i]];
            if (c->timers != NULL && cf_rt_next_processing_timer(c) <= now &&
                (rc = cf_rt_fire_processing_timers(c, now)) < 0)
                return rc;
        }
        if (atomic_load(&t->user_failed))
            return CF_EUSER;
        next = INT64_MAX;
        for (int i = 0; i < t->net_timers; i++) {
            cf_ctx_t *c = &t->ctxs[t->et_timers[i]];
            if (c->timers != NULL) {
                int64_t n = cf_rt_next_processing_timer(c);
                if (n < next)
                    next = n;
            }
        }
    }
    t->pt_next = next;
    if (next == INT64_MAX) {
        t->pt_wake_ns = INT64_MAX;
    } else {
        /* Look again at least every 100 ms: the clock may be a test's,
         * or jump. */
        int64_t d = next - now;
        if (d > 100)
            d = 100;
        if (d < 0)
            d = 0;
        t->pt_wake_ns = now_ns + d * 1000000;
    }
    return 0;
}

int
cf_et_poll(cf_task_t *t)
{
    int64_t now_ns = cf_mono_ns();
    int rc;

    if (t->input_ended) {
        t->et_wake_ns = INT64_MAX;
        return 0;
    }
    if (t->net_timers > 0 && (rc = cf_et_poll_timers(t, now_ns)) < 0)
        return rc;
    if (t->net_gens > 0 && t->wm_interval_ns > 0 &&
        now_ns >= t->et_next_periodic_ns) {
        for (int i = 0; i < t->net_gens; i++)
            if ((rc = cf_et_periodic(&t->ctxs[t->et_gens[i]],
                                     now_ns / 1000000)) < 0)
                return rc;
        t->et_next_periodic_ns = now_ns + t->wm_interval_ns;
    }
    t->et_wake_ns = t->pt_wake_ns;
    if (t->net_gens > 0 && t->wm_interval_ns > 0 &&
        t->et_next_periodic_ns < t->et_wake_ns)
        t->et_wake_ns = t->et_next_periodic_ns;
    return 0;
}

int64_t
cf_task_processing_time(cf_ctx_t *ctx)
{
    return cf_rt_processing_time(ctx);
}

int64_t
cf_task_input_watermark(const cf_task_t *t)
{
    return atomic_load_explicit(&((cf_task_t *)t)->wm_metric,
                                memory_order_relaxed);
}

uint64_t
cf_task_late_records_dropped(const cf_task_t *t)
{
    return atomic_load_explicit(&((cf_task_t *)t)->late_metric,
                                memory_order_relaxed);
}
