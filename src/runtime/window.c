/*
 * window.c: the window operator (Flink's WindowOperator and
 * EvictingWindowOperator) and the builder calls that configure it
 * (window.h is the contract; docs/internals/windows.md the design note).
 *
 * Everything that a checkpoint must capture lives in keyed state of the
 * operator's backend, under the current key, so that the keyed snapshot
 * takes it (and rescaling moves it with its key group):
 *  - "_cflink_window_contents" (map): the contents of a window, or of a
 *    pane of sliding windows, or of a session's state window. The user
 *    key is the namespace (16 bytes: int64 start, int64 end, native
 *    byte order). Accumulating windows (reduce, aggregate) keep one entry
 *    namespace -> accumulator. Windows that keep elements (process, or
 *    an evictor, or aggregate over sessions) keep namespace -> u32 count
 *    and namespace + u32 big-endian sequence number -> [int64 ts][bytes]
 *    per element, so that adding an element costs O(its size) and a
 *    firing reads the elements back in arrival order.
 *  - "_cflink_window_trigger" (map): the trigger's state of a window
 *    (namespace -> count, next fire timestamp, or last fired element).
 *  - "_cflink_window_sessions" (map, merging assigners only): Flink's
 *    MergingWindowSet: session window -> its state window (the
 *    namespace under which its contents are kept, stable across merges
 *    so that extending a session does not move its contents).
 * Timers go to the timer service (timers.h) with the window as namespace.
 * The operator struct (cf_winop_t) only holds reused buffers.
 *
 * Sliding windows with a time trigger (the default) and no evictor keep
 * their contents per pane (a slice of gcd(size, slide)): an element is
 * added to one pane, the timers of the size/slide windows over a pane are
 * registered once when the pane is created, and a firing combines the
 * panes of its window (reduce folds the pane results, process
 * concatenates the pane elements). A window's cleanup removes the panes
 * that no later window covers. Aggregate functions have no merge in
 * cf_agg_ops_t, so sliding aggregates keep one accumulator per window (the
 * cost per element is size/slide, as in Flink); for the same reason
 * aggregates over sessions keep elements and aggregate at firing.
 *
 * Thread: the task's (run time); the submitting thread (builder).
 */
#include <stdarg.h>
#include <string.h>

#include "window.h"

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

/* windowAll: every record gets this one-byte key (Flink's
 * NullByteKeySelector), the operator runs at parallelism 1. */
static int
cf_window_all_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    static const uint8_t zero = 0;
    (void)ctx;
    (void)in;
    key->data = &zero;
    key->len = 1;
    return 0;
}

static const char *
cf_window_assigner_name(const cf_window_assigner_t *a)
{
    int ev = a->time == CF_TIME_EVENT;
    switch (a->kind) {
    case CF_WINDOW_TUMBLING:
        return ev ? "TumblingEventTimeWindows"
                  : "TumblingProcessingTimeWindows";
    case CF_WINDOW_SLIDING:
        return ev ? "SlidingEventTimeWindows" : "SlidingProcessingTimeWindows";
    case CF_WINDOW_SESSION:
        return ev ? "EventTimeSessionWindows" : "ProcessingTimeSessionWindows";
    case CF_WINDOW_GLOBAL: return "GlobalWindows";
    }
    return "UnknownWindows";
}

/* Validate an assigner as Flink's constructors do; 0 or CF_ERR (the env
 * holds the message). */
static int
cf_window_check_assigner(cf_env_t *env, const cf_window_assigner_t *a)
{
    const char *n = cf_window_assigner_name(a);
    if (a->kind == CF_WINDOW_GLOBAL)
        return 0;
    if (a->kind < CF_WINDOW_TUMBLING || a->kind > CF_WINDOW_GLOBAL)
        return cf_env_error(env, "window(): unknown window assigner kind %d",
                            a->kind);
    if (a->time != CF_TIME_EVENT && a->time != CF_TIME_PROCESSING)
        return cf_env_error(env, "%s: unknown time domain %d", n, a->time);
    switch (a->kind) {
    case CF_WINDOW_TUMBLING:
        if (a->size_ms <= 0 ||
            (a->offset_ms < 0 ? -a->offset_ms : a->offset_ms) >= a->size_ms)
            return cf_env_error(env,
                                "%s parameters must satisfy abs(offset) < "
                                "size and size > 0 (size %lld, offset "
                                "%lld)",
                                n, (long long)a->size_ms,
                                (long long)a->offset_ms);
        break;
    case CF_WINDOW_SLIDING:
        if (a->size_ms <= 0 || a->slide_ms <= 0 ||
            (a->offset_ms < 0 ? -a->offset_ms : a->offset_ms) >= a->slide_ms)
            return cf_env_error(env,
                                "%s parameters must satisfy abs(offset) < "
                                "slide and size > 0 (size %lld, slide %lld, "
                                "offset %lld)",
                                n, (long long)a->size_ms,
                                (long long)a->slide_ms,
                                (long long)a->offset_ms);
        break;
    case CF_WINDOW_SESSION:
        if (a->gap_ms <= 0)
            return cf_env_error(env,
                                "%s parameters must satisfy 0 < gap (gap "
                                "%lld)",
                                n, (long long)a->gap_ms);
        break;
    }
    return 0;
}

cf_stream_t *
cf_b_window(cf_stream_t *s, const cf_window_assigner_t *a)
{
    cf_stream_t *w;
    cf_window_conf_t *c;

    cf_check_input(s, s->keyed ? "window" : "windowAll");
    if (s->win != NULL) {
        cf_env_error(s->env, "window() cannot be applied to a windowed "
                             "stream: end it with reduce, aggregate or "
                             "process first");
        return s;
    }
    if (a == NULL) {
        cf_env_error(s->env, "window() needs a window assigner");
        return s;
    }
    w = cf_stream_new(s->env, s->nrefs);
    for (int i = 0; i < s->nrefs; i++) {
        w->refs[i] = s->refs[i];
        if (!s->keyed) {
            w->refs[i].partitioner = CF_PARTITION_HASH;
            w->refs[i].key_fn = cf_window_all_key;
            w->refs[i].key_udata = NULL;
        }
    }
    w->keyed = 1;
    c = CF_NEW(cf_window_conf_t);
    cf_copy_ops(&c->assigner, sizeof c->assigner, a);
    c->trigger.size = sizeof c->trigger;
    c->evictor.size = sizeof c->evictor;
    c->all = !s->keyed;
    w->win = c;
    cf_window_check_assigner(s->env, &c->assigner);
    return w;
}

/* The windowed stream's configuration, or NULL after an error naming
 * the call. */
static cf_window_conf_t *
cf_window_conf_of(cf_stream_t *w, const char *what)
{
    if (w->win == NULL) {
        cf_env_error(w->env,
                     "%s() can only be applied to a windowed stream: call "
                     "window() first",
                     what);
        return NULL;
    }
    return w->win;
}

cf_stream_t *
cf_b_window_trigger(cf_stream_t *w, const cf_trigger_t *t)
{
    cf_window_conf_t *c = cf_window_conf_of(w, "window_trigger");
    const char *an;
    if (c == NULL)
        return w;
    an = cf_window_assigner_name(&c->assigner);
    if (t == NULL) {
        cf_env_error(w->env, "window_trigger() on %s needs a trigger", an);
        return w;
    }
    cf_copy_ops(&c->trigger, sizeof c->trigger, t);
    t = &c->trigger;
    switch (t->kind) {
    case CF_TRIGGER_DEFAULT:
    case CF_TRIGGER_EVENT_TIME:
    case CF_TRIGGER_PROCESSING_TIME: break;
    case CF_TRIGGER_COUNT:
        if (t->count <= 0)
            cf_env_error(w->env,
                         "CountTrigger on %s: count must be > 0 (got %lld)", an,
                         (long long)t->count);
        break;
    case CF_TRIGGER_CONTINUOUS_EVENT:
    case CF_TRIGGER_CONTINUOUS_PROCESSING:
        if (t->interval_ms <= 0)
            cf_env_error(w->env, "%s on %s: interval must be > 0 (got %lld)",
                         t->kind == CF_TRIGGER_CONTINUOUS_EVENT
                             ? "ContinuousEventTimeTrigger"
                             : "ContinuousProcessingTimeTrigger",
                         an, (long long)t->interval_ms);
        break;
    case CF_TRIGGER_DELTA:
        if (t->delta == NULL)
            cf_env_error(w->env, "DeltaTrigger on %s has no delta function",
                         an);
        break;
    default:
        cf_env_error(w->env,
                     "window_trigger() on %s: unknown trigger kind "
                     "%d",
                     an, t->kind);
    }
    return w;
}

cf_stream_t *
cf_b_window_evictor(cf_stream_t *w, const cf_evictor_t *e)
{
    cf_window_conf_t *c = cf_window_conf_of(w, "window_evictor");
    const char *an;
    if (c == NULL)
        return w;
    an = cf_window_assigner_name(&c->assigner);
    if (e == NULL) {
        cf_env_error(w->env, "window_evictor() on %s needs an evictor", an);
        return w;
    }
    cf_copy_ops(&c->evictor, sizeof c->evictor, e);
    e = &c->evictor;
    switch (e->kind) {
    case CF_EVICTOR_COUNT:
        if (e->count <= 0)
            cf_env_error(w->env,
                         "CountEvictor on %s: count must be > 0 (got %lld)", an,
                         (long long)e->count);
        break;
    case CF_EVICTOR_TIME:
        if (e->window_ms < 0)
            cf_env_error(w->env,
                         "TimeEvictor on %s: window size must be >= 0 (got "
                         "%lld)",
                         an, (long long)e->window_ms);
        break;
    case CF_EVICTOR_DELTA:
        if (e->delta == NULL)
            cf_env_error(w->env, "DeltaEvictor on %s has no delta function",
                         an);
        break;
    default:
        cf_env_error(w->env,
                     "window_evictor() on %s: unknown evictor kind "
                     "%d",
                     an, e->kind);
    }
    return w;
}

cf_stream_t *
cf_b_window_allowed_lateness(cf_stream_t *w, int64_t ms)
{
    cf_window_conf_t *c = cf_window_conf_of(w, "window_allowed_lateness");
    if (c == NULL)
        return w;
    if (ms < 0) {
        cf_env_error(w->env,
                     "The allowed lateness cannot be negative (%lld ms on "
                     "%s).",
                     (long long)ms, cf_window_assigner_name(&c->assigner));
        return w;
    }
    if (c->assigner.kind == CF_WINDOW_GLOBAL && ms > 0) {
        /* Flink ignores it for windows that are not in event time; so do
         * we (cleanup never happens for global windows). */
    }
    c->lateness_ms = ms;
    return w;
}

cf_stream_t *
cf_b_window_side_output_late_data(cf_stream_t *w, const char *tag)
{
    cf_window_conf_t *c = cf_window_conf_of(w, "window_side_output_late_data");
    if (c == NULL)
        return w;
    if (tag == NULL || *tag == '\0') {
        cf_env_error(w->env,
                     "window_side_output_late_data() on %s needs a "
                     "non-empty tag",
                     cf_window_assigner_name(&c->assigner));
        return w;
    }
    cf_free((char *)c->late_tag);
    c->late_tag = cf_strdup(tag);
    return w;
}

static const char *
cf_window_trigger_name(const cf_window_conf_t *c, char *buf, size_t n)
{
    const char *k;
    switch (c->trigger.kind) {
    case CF_TRIGGER_EVENT_TIME: k = "EventTimeTrigger"; break;
    case CF_TRIGGER_PROCESSING_TIME: k = "ProcessingTimeTrigger"; break;
    case CF_TRIGGER_COUNT: k = "CountTrigger"; break;
    case CF_TRIGGER_CONTINUOUS_EVENT: k = "ContinuousEventTimeTrigger"; break;
    case CF_TRIGGER_CONTINUOUS_PROCESSING:
        k = "ContinuousProcessingTimeTrigger";
        break;
    case CF_TRIGGER_DELTA: k = "DeltaTrigger"; break;
    default:
        k = c->assigner.kind == CF_WINDOW_GLOBAL ? "NeverTrigger"
            : c->assigner.time == CF_TIME_EVENT  ? "EventTimeTrigger"
                                                 : "ProcessingTimeTrigger";
    }
    if (c->trigger.purging)
        snprintf(buf, n, "PurgingTrigger(%s)", k);
    else
        snprintf(buf, n, "%s", k);
    return buf;
}

/* Flink-like default name: "Window(TumblingEventTimeWindows(5000),
 * EventTimeTrigger, ReduceFunction)". */
static char *
cf_window_default_name(const cf_window_conf_t *c, const char *fn)
{
    char asg[96], trig[96], ev[64] = "";
    const cf_window_assigner_t *a = &c->assigner;
    const char *an = cf_window_assigner_name(a);

    switch (a->kind) {
    case CF_WINDOW_TUMBLING:
        snprintf(asg, sizeof asg, "%s(%lld)", an, (long long)a->size_ms);
        break;
    case CF_WINDOW_SLIDING:
        snprintf(asg, sizeof asg, "%s(%lld, %lld)", an, (long long)a->size_ms,
                 (long long)a->slide_ms);
        break;
    case CF_WINDOW_SESSION:
        snprintf(asg, sizeof asg, "%s(%lld)", an, (long long)a->gap_ms);
        break;
    default: snprintf(asg, sizeof asg, "%s()", an); break;
    }
    if (c->evictor.kind == CF_EVICTOR_COUNT)
        snprintf(ev, sizeof ev, ", CountEvictor(%lld)",
                 (long long)c->evictor.count);
    else if (c->evictor.kind == CF_EVICTOR_TIME)
        snprintf(ev, sizeof ev, ", TimeEvictor(%lld)",
                 (long long)c->evictor.window_ms);
    else if (c->evictor.kind == CF_EVICTOR_DELTA)
        snprintf(ev, sizeof ev, ", DeltaEvictor(%g)", c->evictor.threshold);
    return cf_asprintf("%s(%s, %s%s, %s)", c->all ? "AllWindow" : "Window", asg,
                       cf_window_trigger_name(c, trig, sizeof trig), ev, fn);
}

/* The common end of reduce / aggregate / process: a CF_OP_WINDOW node
 * that takes over the windowed stream's configuration. */
static cf_stream_t *
cf_window_finish_node(cf_stream_t *w, const char *what, const char *name,
                      const char *fn_name, void *udata, cf_snode_t **out)
{
    cf_window_conf_t *c = cf_window_conf_of(w, what);
    char *def;
    cf_stream_t *r;
    cf_snode_t *n;

    *out = NULL;
    if (c == NULL)
        return w;
    def = cf_window_default_name(c, fn_name);
    r = cf_transform(w, CF_OP_WINDOW, what, name && *name ? name : def, udata,
                     &n);
    cf_free(def);
    n->win = c;
    w->win = NULL;
    if (c->all)
        n->parallelism = 1;
    if (c->assigner.kind == CF_WINDOW_SESSION &&
        c->trigger.kind == CF_TRIGGER_DELTA)
        cf_env_error(w->env,
                     "Window operator '%s': DeltaTrigger cannot be used with "
                     "a merging window assigner (%s)",
                     n->name, cf_window_assigner_name(&c->assigner));
    if (c->assigner.kind == CF_WINDOW_GLOBAL && c->lateness_ms > 0)
        c->lateness_ms = 0; /* not event time: Flink ignores it */
    *out = n;
    return r;
}

cf_stream_t *
cf_b_window_reduce(cf_stream_t *w, const char *name, cf_reduce_fn fn,
                   void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r =
        cf_window_finish_node(w, "reduce", name, "ReduceFunction", udata, &n);
    if (n == NULL)
        return r;
    n->win->fn_kind = CF_WFN_REDUCE;
    n->win->reduce = fn;
    if (fn == NULL)
        cf_env_error(w->env, "Window operator '%s' has no reduce function",
                     n->name);
    return r;
}

cf_stream_t *
cf_b_window_aggregate(cf_stream_t *w, const char *name, const cf_agg_ops_t *ops,
                      void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_window_finish_node(w, "aggregate", name,
                                           "AggregateFunction", udata, &n);
    if (n == NULL)
        return r;
    n->win->fn_kind = CF_WFN_AGGREGATE;
    cf_copy_ops(&n->win->agg, sizeof n->win->agg, ops);
    if (ops == NULL || n->win->agg.add == NULL || n->win->agg.result == NULL)
        cf_env_error(w->env,
                     "Window operator '%s': the aggregate function needs "
                     "add() and result()",
                     n->name);
    return r;
}

cf_stream_t *
cf_b_window_process(cf_stream_t *w, const char *name,
                    const cf_window_process_ops_t *ops, void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_window_finish_node(w, "process", name,
                                           "ProcessWindowFunction", udata, &n);
    if (n == NULL)
        return r;
    n->win->fn_kind = CF_WFN_PROCESS;
    cf_copy_ops(&n->win->process, sizeof n->win->process, ops);
    if (ops == NULL || n->win->process.process == NULL)
        cf_env_error(w->env, "Window operator '%s' has no process() function",
                     n->name);
    return r;
}

void
cf_window_conf_free(cf_window_conf_t *c)
{
    if (c == NULL)
        return;
    cf_free((char *)c->late_tag);
    cf_free(c);
}

/* ------------------------------------------------------------------ */
/* Run time: the operator                                              */
/* ------------------------------------------------------------------ */

#define CF_WIN_NS 16      /* namespace: int64 start, int64 end */
#define CF_WIN_EKEY 20    /* element key: namespace + u32 seq */
#define CF_WIN_NEVER (-1) /* effective trigger of global windows */
#define CF_WIN_FIRE 1     /* TriggerResult bits */
#define CF_WIN_PURGE 2

#define CF_WIN_STATE_CONTENTS "_cflink_window_contents"
#define CF_WIN_STATE_TRIGGER "_cflink_window_trigger"
#define CF_WIN_STATE_SESSIONS "_cflink_window_sessions"

/* How a window's contents are kept. */
enum {
    CF_WIN_ACC = 1,
    CF_WIN_ELEMS = 2
};

struct cf_winop_s {
    cf_window_conf_t *c;
    int trig; /* effective CF_TRIGGER_* (CF_WIN_NEVER) */
    int purging;
    int event_time;  /* Flink's isEventTime (global windows: not) */
    int time_domain; /* of the cleanup timers */
    int global;
    int merging; /* session windows */
    int existed; /* the last contents_add found contents already there */
    int panes;   /* sliding windows kept per pane */
    int store;   /* CF_WIN_ACC or CF_WIN_ELEMS */
    int finishing;
    int cleanup_is_fire; /* the trigger's timer is the cleanup timer */
    int user_opened;
    int64_t pane; /* pane length, gcd(size, slide) */
    int overlap;  /* the last pane firing saw contents in the next window */
    uint64_t late_dropped;
    cf_state_t *contents;
    cf_state_t *tstate;
    cf_state_t *sessions;
    /* Reused buffers: no allocation per record once warm. */
    cf_buf_t acc;  /* accumulator being folded */
    cf_buf_t out;  /* aggregate result */
    cf_buf_t tmp;  /* an element's [ts][bytes] value */
    cf_buf_t ebuf; /* copies of a firing window's elements */
    cf_buf_t key;  /* a timer's key while finish fires it */
    cf_record_t *recs;
    uint32_t nrecs, recs_cap;
    cf_window_t *wins; /* assigned windows / sessions of a key */
    size_t nwins, wins_cap;
    cf_window_t *swins; /* state windows of the sessions in wins */
    size_t swins_cap;
};

/* Test seam (test_runtime_window.c): side output and clock without a
 * task. NULL: cf_task_emit_side / cf_task_processing_time. */
typedef int (*cf_winop_side_fn)(cf_ctx_t *ctx, const char *tag,
                                const void *data, uint32_t len, int64_t ts);
typedef int64_t (*cf_winop_clock_fn)(cf_ctx_t *ctx);
void cf_winop_set_test_hooks(cf_winop_side_fn side, cf_winop_clock_fn clock);

static cf_winop_side_fn cf_winop_side_hook;
static cf_winop_clock_fn cf_winop_clock_hook;

void
cf_winop_set_test_hooks(cf_winop_side_fn side, cf_winop_clock_fn clock)
{
    cf_winop_side_hook = side;
    cf_winop_clock_hook = clock;
}

static int64_t
cf_winop_now(cf_ctx_t *ctx)
{
    return cf_winop_clock_hook ? cf_winop_clock_hook(ctx)
                               : cf_task_processing_time(ctx);
}

static int
cf_winop_side(cf_ctx_t *ctx, const char *tag, const cf_record_t *r)
{
    if (cf_winop_side_hook)
        return cf_winop_side_hook(ctx, tag, r->data, r->len, r->ts);
    return cf_task_emit_side(ctx, tag, r->data, r->len, r->ts);
}

/* Fail the task with a message naming the operator (when there is a
 * task: the unit tests drive the operator without one). */
static int __attribute__((format(printf, 3, 4)))
cf_winop_fail(cf_ctx_t *ctx, int rc, const char *fmt, ...)
{
    va_list ap;
    if (rc == CF_ECANCELED)
        return rc;
    va_start(ap, fmt);
    if (ctx->task != NULL) {
        cf_task_fail(ctx, fmt, ap);
    } else {
        char *m = cf_vasprintf(fmt, ap);
        cf_log_write(CF_LOG_ERROR, "window", 0, "%s", m);
        cf_free(m);
    }
    va_end(ap);
    return rc < 0 ? rc : CF_EUSER;
}

static int
cf_winop_user_failed(cf_ctx_t *ctx, int rc, const char *what)
{
    return cf_winop_fail(ctx, rc,
                         "%s of window operator '%s' failed (code "
                         "%d)",
                         what, ctx->node->name, rc);
}

/* ---- windows and namespaces -------------------------------------- */

static inline void
cf_win_ns(uint8_t *ns, cf_window_t w)
{
    memcpy(ns, &w.start, 8);
    memcpy(ns + 8, &w.end, 8);
}

static inline cf_window_t
cf_win_of_ns(const void *ns)
{
    cf_window_t w;
    memcpy(&w.start, ns, 8);
    memcpy(&w.end, (const uint8_t *)ns + 8, 8);
    return w;
}

static inline int
cf_win_eq(cf_window_t a, cf_window_t b)
{
    return a.start == b.start && a.end == b.end;
}

/* TimeWindow.getWindowStartWithOffset, floor semantics for negative
 * timestamps. */
static inline int64_t
cf_win_start(int64_t ts, int64_t offset, int64_t size)
{
    int64_t r = (ts - offset) % size;
    if (r < 0)
        r += size;
    return ts - r;
}

static inline int64_t
cf_win_max_ts(const cf_winop_t *o, cf_window_t w)
{
    return o->global ? INT64_MAX : w.end - 1;
}

/* WindowOperator.cleanupTime: max timestamp + allowed lateness in event
 * time (saturating), the max timestamp in processing time. */
static int64_t
cf_win_cleanup_time(const cf_winop_t *o, cf_window_t w)
{
    int64_t m = cf_win_max_ts(o, w);
    if (o->event_time) {
        int64_t l = o->c->lateness_ms;
        return m > INT64_MAX - l ? INT64_MAX : m + l;
    }
    return m;
}

static inline int
cf_win_is_late(const cf_winop_t *o, const cf_ctx_t *ctx, cf_window_t w)
{
    return o->event_time && cf_win_cleanup_time(o, w) <= ctx->watermark;
}

static int64_t
cf_gcd64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void
cf_winop_push_win(cf_winop_t *o, cf_window_t w)
{
    CF_GROW(&o->wins, &o->wins_cap, o->nwins + 1);
    o->wins[o->nwins++] = w;
}

/* ---- timers -------------------------------------------------------- */

static int
cf_win_timer_set(cf_ctx_t *ctx, int domain, int64_t ts, cf_window_t w)
{
    uint8_t ns[CF_WIN_NS];
    int rc;
    if (domain == CF_TIMERS_PROCESSING && ctx->winop->finishing)
        return 0; /* finish fires what is left; nothing new */
    cf_win_ns(ns, w);
    rc = cf_timers_register(ctx->timers, domain, ts, ns, CF_WIN_NS);
    return rc < 0 ? rc : 0;
}

static int
cf_win_timer_del(cf_ctx_t *ctx, int domain, int64_t ts, cf_window_t w)
{
    uint8_t ns[CF_WIN_NS];
    int rc;
    cf_win_ns(ns, w);
    rc = cf_timers_delete(ctx->timers, domain, ts, ns, CF_WIN_NS);
    return rc < 0 ? rc : 0;
}

static int
cf_win_register_cleanup(cf_ctx_t *ctx, cf_window_t w)
{
    cf_winop_t *o = ctx->winop;
    int64_t t = cf_win_cleanup_time(o, w);
    if (t == INT64_MAX)
        return 0; /* never: Flink sets no GC timer at Long.MAX_VALUE */
    return cf_win_timer_set(ctx, o->time_domain, t, w);
}

static int
cf_win_delete_cleanup(cf_ctx_t *ctx, cf_window_t w)
{
    cf_winop_t *o = ctx->winop;
    int64_t t = cf_win_cleanup_time(o, w);
    if (t == INT64_MAX)
        return 0;
    return cf_win_timer_del(ctx, o->time_domain, t, w);
}

/* ---- contents ------------------------------------------------------ */

static inline void
cf_win_ekey(uint8_t *k, const uint8_t *ns, uint32_t seq)
{
    memcpy(k, ns, CF_WIN_NS);
    k[16] = (uint8_t)(seq >> 24);
    k[17] = (uint8_t)(seq >> 16);
    k[18] = (uint8_t)(seq >> 8);
    k[19] = (uint8_t)seq;
}

/* Number of elements kept under ns (element store). */
static uint32_t
cf_win_elem_count(cf_winop_t *o, const uint8_t *ns)
{
    cf_slice_t v;
    uint32_t n = 0;
    if (cf_kstate_map_get(o->contents, ns, CF_WIN_NS, &v) == 1 &&
        v.len == sizeof n)
        memcpy(&n, v.data, sizeof n);
    return n;
}

static int
cf_win_elem_append(cf_winop_t *o, const uint8_t *ns, uint32_t *n,
                   const void *data, uint32_t len, int64_t ts)
{
    uint8_t k[CF_WIN_EKEY];
    int rc;
    cf_kstate_buf_reserve(&o->tmp, len + 8);
    memcpy(o->tmp.data, &ts, 8);
    if (len > 0)
        memcpy(o->tmp.data + 8, data, len);
    cf_win_ekey(k, ns, *n);
    rc = cf_kstate_map_put(o->contents, k, CF_WIN_EKEY, o->tmp.data, len + 8);
    if (rc < 0)
        return rc;
    (*n)++;
    return 0;
}

static int
cf_win_elem_set_count(cf_winop_t *o, const uint8_t *ns, uint32_t n)
{
    return cf_kstate_map_put(o->contents, ns, CF_WIN_NS, &n, sizeof n);
}

static int
cf_win_contents_clear(cf_winop_t *o, const uint8_t *ns)
{
    int rc;
    if (o->store == CF_WIN_ELEMS) {
        uint8_t k[CF_WIN_EKEY];
        uint32_t n = cf_win_elem_count(o, ns);
        for (uint32_t i = 0; i < n; i++) {
            cf_win_ekey(k, ns, i);
            if ((rc = cf_kstate_map_remove(o->contents, k, CF_WIN_EKEY)) < 0)
                return rc;
        }
    }
    rc = cf_kstate_map_remove(o->contents, ns, CF_WIN_NS);
    return rc < 0 ? rc : 0;
}

/* Fold one element (or a pane's / session's accumulator) into the
 * accumulator under ns. */
static int
cf_win_acc_add(cf_ctx_t *ctx, const uint8_t *ns, const cf_record_t *r)
{
    cf_winop_t *o = ctx->winop;
    cf_slice_t v;
    int have = cf_kstate_map_get(o->contents, ns, CF_WIN_NS, &v);
    int rc;

    if (have < 0)
        return have;
    o->existed = have;
    if (o->c->fn_kind == CF_WFN_REDUCE) {
        if (!have)
            return cf_kstate_map_put(o->contents, ns, CF_WIN_NS, r->data,
                                     r->len);
        cf_kstate_buf_reserve(&o->acc, v.len ? v.len : 1);
        if (v.len)
            memcpy(o->acc.data, v.data, v.len);
        o->acc.len = v.len;
        rc = o->c->reduce(ctx, &o->acc, r);
        if (rc < 0)
            return cf_winop_user_failed(ctx, rc, "reduce function");
    } else {
        cf_kstate_buf_reserve(&o->acc, have && v.len ? v.len : 1);
        o->acc.len = 0;
        if (have && v.len) {
            memcpy(o->acc.data, v.data, v.len);
            o->acc.len = v.len;
        }
        rc = o->c->agg.add(ctx, &o->acc, r);
        if (rc < 0)
            return cf_winop_user_failed(ctx, rc, "aggregate function");
    }
    return cf_kstate_map_put(o->contents, ns, CF_WIN_NS, o->acc.data,
                             o->acc.len);
}

static int
cf_win_contents_add(cf_ctx_t *ctx, const uint8_t *ns, const cf_record_t *r)
{
    cf_winop_t *o = ctx->winop;
    if (o->store == CF_WIN_ACC)
        return cf_win_acc_add(ctx, ns, r);
    uint32_t n = cf_win_elem_count(o, ns);
    int rc;
    o->existed = n > 0;
    rc = cf_win_elem_append(o, ns, &n, r->data, r->len, r->ts);
    return rc < 0 ? rc : cf_win_elem_set_count(o, ns, n);
}

/* Whether ns holds contents. */
static int
cf_win_contents_has(cf_winop_t *o, const uint8_t *ns)
{
    cf_slice_t v;
    return cf_kstate_map_get(o->contents, ns, CF_WIN_NS, &v) == 1;
}

/* Append the elements under ns to o->ebuf / o->recs (data offsets into
 * ebuf until cf_win_gather_done makes them pointers: ebuf may move). */
static void
cf_win_gather(cf_winop_t *o, const uint8_t *ns)
{
    uint8_t k[CF_WIN_EKEY];
    uint32_t n = cf_win_elem_count(o, ns);
    cf_slice_t v;

    for (uint32_t i = 0; i < n; i++) {
        cf_win_ekey(k, ns, i);
        if (cf_kstate_map_get(o->contents, k, CF_WIN_EKEY, &v) != 1 ||
            v.len < 8)
            continue;
        cf_kstate_buf_reserve(&o->ebuf, o->ebuf.len + v.len);
        memcpy(o->ebuf.data + o->ebuf.len, v.data, v.len);
        CF_GROW(&o->recs, &o->recs_cap, o->nrecs + 1);
        cf_record_t *r = &o->recs[o->nrecs++];
        memcpy(&r->ts, v.data, 8);
        r->data = (const void *)(uintptr_t)(o->ebuf.len + 8);
        r->len = v.len - 8;
        o->ebuf.len += v.len;
    }
}

static void
cf_win_gather_done(cf_winop_t *o)
{
    for (uint32_t i = 0; i < o->nrecs; i++)
        o->recs[i].data = o->ebuf.data + (uintptr_t)o->recs[i].data;
}

/* Move the contents of src into dst (MergingWindowSet's
 * mergeNamespaces), then drop src. */
static int
cf_win_contents_merge(cf_ctx_t *ctx, const uint8_t *dst, const uint8_t *src)
{
    cf_winop_t *o = ctx->winop;
    int rc;
    if (o->store == CF_WIN_ACC) {
        cf_slice_t v;
        if (cf_kstate_map_get(o->contents, src, CF_WIN_NS, &v) != 1)
            return 0;
        /* A copy: dst's update may retire the entry v points into. */
        cf_kstate_buf_reserve(&o->tmp, v.len ? v.len : 1);
        if (v.len)
            memcpy(o->tmp.data, v.data, v.len);
        cf_record_t r = {o->tmp.data, v.len, ctx->cur_ts};
        if (!cf_win_contents_has(o, dst))
            rc = cf_kstate_map_put(o->contents, dst, CF_WIN_NS, r.data, r.len);
        else
            rc = cf_win_acc_add(ctx, dst, &r); /* reduce only (see open) */
        if (rc < 0)
            return rc;
        return cf_win_contents_clear(o, src);
    }
    o->nrecs = 0;
    o->ebuf.len = 0;
    cf_win_gather(o, src);
    cf_win_gather_done(o);
    uint32_t n = cf_win_elem_count(o, dst);
    for (uint32_t i = 0; i < o->nrecs; i++)
        if ((rc = cf_win_elem_append(o, dst, &n, o->recs[i].data,
                                     o->recs[i].len, o->recs[i].ts)) < 0)
            return rc;
    if ((rc = cf_win_elem_set_count(o, dst, n)) < 0)
        return rc;
    return cf_win_contents_clear(o, src);
}

/* ---- triggers ------------------------------------------------------ */

static int
cf_trig_get_i64(cf_winop_t *o, cf_window_t w, int64_t *out)
{
    uint8_t ns[CF_WIN_NS];
    cf_slice_t v;
    cf_win_ns(ns, w);
    if (cf_kstate_map_get(o->tstate, ns, CF_WIN_NS, &v) != 1 ||
        v.len != sizeof *out)
        return 0;
    memcpy(out, v.data, sizeof *out);
    return 1;
}

static int
cf_trig_put(cf_winop_t *o, cf_window_t w, const void *v, uint32_t len)
{
    uint8_t ns[CF_WIN_NS];
    cf_win_ns(ns, w);
    return cf_kstate_map_put(o->tstate, ns, CF_WIN_NS, v, len);
}

static int
cf_trig_remove(cf_winop_t *o, cf_window_t w)
{
    uint8_t ns[CF_WIN_NS];
    int rc;
    cf_win_ns(ns, w);
    rc = cf_kstate_map_remove(o->tstate, ns, CF_WIN_NS);
    return rc < 0 ? rc : 0;
}

/* ContinuousEventTimeTrigger / ContinuousProcessingTimeTrigger's
 * registerNextFireTimestamp. */
static int
cf_trig_next_fire(cf_ctx_t *ctx, cf_window_t w, int64_t time)
{
    cf_winop_t *o = ctx->winop;
    int64_t iv = o->c->trigger.interval_ms, m = cf_win_max_ts(o, w);
    int64_t next = time > INT64_MAX - iv ? INT64_MAX : time + iv;
    int rc;
    if (next > m)
        next = m;
    if ((rc = cf_trig_put(o, w, &next, sizeof next)) < 0)
        return rc;
    return cf_win_timer_set(ctx,
                            o->trig == CF_TRIGGER_CONTINUOUS_EVENT
                                ? CF_TIMERS_EVENT
                                : CF_TIMERS_PROCESSING,
                            next, w);
}

static inline int
cf_trig_result(const cf_winop_t *o, int r)
{
    return (r & CF_WIN_FIRE) && o->purging ? r | CF_WIN_PURGE : r;
}

/* Trigger.onElement: CF_WIN_FIRE / CF_WIN_PURGE bits, or < 0. */
static int
cf_trig_on_element(cf_ctx_t *ctx, const cf_record_t *r, cf_window_t w)
{
    cf_winop_t *o = ctx->winop;
    int64_t m = cf_win_max_ts(o, w), v;
    int rc;

    switch (o->trig) {
    case CF_TRIGGER_EVENT_TIME:
        if (m <= ctx->watermark)
            return cf_trig_result(o, CF_WIN_FIRE); /* late firing */
        rc = cf_win_timer_set(ctx, CF_TIMERS_EVENT, m, w);
        return rc < 0 ? rc : 0;
    case CF_TRIGGER_PROCESSING_TIME:
        rc = cf_win_timer_set(ctx, CF_TIMERS_PROCESSING, m, w);
        return rc < 0 ? rc : 0;
    case CF_TRIGGER_COUNT:
        v = 0;
        cf_trig_get_i64(o, w, &v);
        if (++v >= o->c->trigger.count) {
            if ((rc = cf_trig_remove(o, w)) < 0)
                return rc;
            return cf_trig_result(o, CF_WIN_FIRE);
        }
        rc = cf_trig_put(o, w, &v, sizeof v);
        return rc < 0 ? rc : 0;
    case CF_TRIGGER_CONTINUOUS_EVENT: {
        int64_t ts = r->ts, iv = o->c->trigger.interval_ms;
        if (m <= ctx->watermark)
            return cf_trig_result(o, CF_WIN_FIRE);
        if ((rc = cf_win_timer_set(ctx, CF_TIMERS_EVENT, m, w)) < 0)
            return rc;
        if (!cf_trig_get_i64(o, w, &v) &&
            (rc = cf_trig_next_fire(ctx, w, ts - ts % iv)) < 0)
            return rc;
        return 0;
    }
    case CF_TRIGGER_CONTINUOUS_PROCESSING: {
        int64_t now = cf_winop_now(ctx), iv = o->c->trigger.interval_ms;
        if (!cf_trig_get_i64(o, w, &v) &&
            (rc = cf_trig_next_fire(ctx, w, now - now % iv)) < 0)
            return rc;
        return 0;
    }
    case CF_TRIGGER_DELTA: {
        uint8_t ns[CF_WIN_NS];
        cf_slice_t last;
        cf_win_ns(ns, w);
        cf_kstate_buf_reserve(&o->tmp, r->len + 8);
        memcpy(o->tmp.data, &r->ts, 8);
        if (r->len)
            memcpy(o->tmp.data + 8, r->data, r->len);
        if (cf_kstate_map_get(o->tstate, ns, CF_WIN_NS, &last) != 1) {
            rc = cf_kstate_map_put(o->tstate, ns, CF_WIN_NS, o->tmp.data,
                                   r->len + 8);
            return rc < 0 ? rc : 0;
        }
        cf_record_t lr = {(const uint8_t *)last.data + 8, last.len - 8, 0};
        memcpy(&lr.ts, last.data, 8);
        if (o->c->trigger.delta(ctx, &lr, r) > o->c->trigger.threshold) {
            rc = cf_kstate_map_put(o->tstate, ns, CF_WIN_NS, o->tmp.data,
                                   r->len + 8);
            return rc < 0 ? rc : cf_trig_result(o, CF_WIN_FIRE);
        }
        return 0;
    }
    }
    return 0; /* never */
}

/* Trigger.onEventTime / onProcessingTime. */
static int
cf_trig_on_time(cf_ctx_t *ctx, int domain, int64_t time, cf_window_t w)
{
    cf_winop_t *o = ctx->winop;
    int64_t m = cf_win_max_ts(o, w), v;
    int rc;

    switch (o->trig) {
    case CF_TRIGGER_EVENT_TIME:
        return domain == CF_TIMERS_EVENT && time == m
                   ? cf_trig_result(o, CF_WIN_FIRE)
                   : 0;
    case CF_TRIGGER_PROCESSING_TIME:
        return domain == CF_TIMERS_PROCESSING ? cf_trig_result(o, CF_WIN_FIRE)
                                              : 0;
    case CF_TRIGGER_CONTINUOUS_EVENT:
    case CF_TRIGGER_CONTINUOUS_PROCESSING:
        if (domain != (o->trig == CF_TRIGGER_CONTINUOUS_EVENT
                           ? CF_TIMERS_EVENT
                           : CF_TIMERS_PROCESSING))
            return 0;
        if (domain == CF_TIMERS_EVENT && time == m)
            return cf_trig_result(o, CF_WIN_FIRE);
        if (cf_trig_get_i64(o, w, &v) && v == time) {
            if ((rc = cf_trig_next_fire(ctx, w, time)) < 0)
                return rc;
            return cf_trig_result(o, CF_WIN_FIRE);
        }
        return 0;
    }
    return 0;
}

/* Trigger.clear: its timers and state of w. */
static int
cf_trig_clear(cf_ctx_t *ctx, cf_window_t w)
{
    cf_winop_t *o = ctx->winop;
    int64_t v;
    int rc;
    switch (o->trig) {
    case CF_TRIGGER_EVENT_TIME:
        return cf_win_timer_del(ctx, CF_TIMERS_EVENT, cf_win_max_ts(o, w), w);
    case CF_TRIGGER_PROCESSING_TIME:
        return cf_win_timer_del(ctx, CF_TIMERS_PROCESSING, cf_win_max_ts(o, w),
                                w);
    case CF_TRIGGER_CONTINUOUS_EVENT:
    case CF_TRIGGER_CONTINUOUS_PROCESSING:
        if (cf_trig_get_i64(o, w, &v) &&
            (rc = cf_win_timer_del(ctx,
                                   o->trig == CF_TRIGGER_CONTINUOUS_EVENT
                                       ? CF_TIMERS_EVENT
                                       : CF_TIMERS_PROCESSING,
                                   v, w)) < 0)
            return rc;
        return cf_trig_remove(o, w);
    case CF_TRIGGER_COUNT:
    case CF_TRIGGER_DELTA: return cf_trig_remove(o, w);
    }
    return 0;
}

/* Trigger.onMerge: merged is the result, o->wins[0..n) the windows
 * merged into it (their state still there). */
static int
cf_trig_on_merge(cf_ctx_t *ctx, cf_window_t merged, const cf_window_t *from,
                 size_t n)
{
    cf_winop_t *o = ctx->winop;
    int64_t m = cf_win_max_ts(o, merged), v, acc;
    int have = 0;

    switch (o->trig) {
    case CF_TRIGGER_EVENT_TIME:
        return m > ctx->watermark
                   ? cf_win_timer_set(ctx, CF_TIMERS_EVENT, m, merged)
                   : 0;
    case CF_TRIGGER_PROCESSING_TIME:
        return m > cf_winop_now(ctx)
                   ? cf_win_timer_set(ctx, CF_TIMERS_PROCESSING, m, merged)
                   : 0;
    case CF_TRIGGER_COUNT:
        acc = 0;
        for (size_t i = 0; i < n; i++)
            if (cf_trig_get_i64(o, from[i], &v)) {
                acc += v;
                have = 1;
            }
        return have ? cf_trig_put(o, merged, &acc, sizeof acc) : 0;
    case CF_TRIGGER_CONTINUOUS_EVENT:
    case CF_TRIGGER_CONTINUOUS_PROCESSING:
        /* The fire-time state is a min-reducing state in Flink. */
        acc = INT64_MAX;
        for (size_t i = 0; i < n; i++)
            if (cf_trig_get_i64(o, from[i], &v) && v < acc) {
                acc = v;
                have = 1;
            }
        if (!have)
            return 0;
        {
            int rc = cf_trig_put(o, merged, &acc, sizeof acc);
            if (rc < 0)
                return rc;
        }
        return cf_win_timer_set(ctx,
                                o->trig == CF_TRIGGER_CONTINUOUS_EVENT
                                    ? CF_TIMERS_EVENT
                                    : CF_TIMERS_PROCESSING,
                                acc, merged);
    }
    return 0;
}

/* ---- evictors ------------------------------------------------------ */

static void
cf_win_evict(cf_ctx_t *ctx)
{
    cf_winop_t *o = ctx->winop;
    const cf_evictor_t *e = &o->c->evictor;
    uint32_t k = 0;

    switch (e->kind) {
    case CF_EVICTOR_COUNT:
        if (o->nrecs > (uint64_t)e->count) {
            uint32_t drop = o->nrecs - (uint32_t)e->count;
            memmove(o->recs, o->recs + drop,
                    (size_t)(o->nrecs - drop) * sizeof *o->recs);
            o->nrecs -= drop;
        }
        return;
    case CF_EVICTOR_TIME: {
        /* TimeEvictor: cutoff = max timestamp - window size; elements
         * with ts <= cutoff go (Flink keeps ts > cutoff). Elements
         * without a timestamp make it a no-op, as in Flink. */
        int64_t max = INT64_MIN, cut;
        if (o->nrecs == 0 || o->recs[0].ts == CF_NO_TIMESTAMP)
            return;
        for (uint32_t i = 0; i < o->nrecs; i++)
            if (o->recs[i].ts > max)
                max = o->recs[i].ts;
        cut = max - e->window_ms;
        for (uint32_t i = 0; i < o->nrecs; i++)
            if (o->recs[i].ts > cut)
                o->recs[k++] = o->recs[i];
        o->nrecs = k;
        return;
    }
    case CF_EVICTOR_DELTA: {
        cf_record_t last;
        if (o->nrecs == 0)
            return;
        last = o->recs[o->nrecs - 1];
        for (uint32_t i = 0; i < o->nrecs; i++)
            if (e->delta(ctx, &o->recs[i], &last) < e->threshold)
                o->recs[k++] = o->recs[i];
        o->nrecs = k;
        return;
    }
    }
}

/* ---- firing -------------------------------------------------------- */

/* Call the window function over o->recs[0..nrecs) and emit. */
static int
cf_win_apply_elems(cf_ctx_t *ctx, cf_window_t w, int64_t m)
{
    cf_winop_t *o = ctx->winop;
    cf_window_conf_t *c = o->c;
    int rc;

    switch (c->fn_kind) {
    case CF_WFN_PROCESS:
        rc = c->process.process(ctx, &w, o->recs, o->nrecs);
        return rc < 0 ? cf_winop_user_failed(ctx, rc, "window function") : 0;
    case CF_WFN_REDUCE:
        if (o->nrecs == 0)
            return 0;
        cf_kstate_buf_reserve(&o->acc, o->recs[0].len ? o->recs[0].len : 1);
        if (o->recs[0].len)
            memcpy(o->acc.data, o->recs[0].data, o->recs[0].len);
        o->acc.len = o->recs[0].len;
        for (uint32_t i = 1; i < o->nrecs; i++)
            if ((rc = c->reduce(ctx, &o->acc, &o->recs[i])) < 0)
                return cf_winop_user_failed(ctx, rc, "reduce function");
        return cf_task_emit(ctx, o->acc.data, o->acc.len, m);
    case CF_WFN_AGGREGATE: {
        cf_slice_t a;
        o->acc.len = 0;
        cf_kstate_buf_reserve(&o->acc, 1);
        for (uint32_t i = 0; i < o->nrecs; i++)
            if ((rc = c->agg.add(ctx, &o->acc, &o->recs[i])) < 0)
                return cf_winop_user_failed(ctx, rc, "aggregate function");
        a.data = o->acc.data;
        a.len = o->acc.len;
        o->out.len = 0;
        if ((rc = c->agg.result(ctx, &a, &o->out)) < 0)
            return cf_winop_user_failed(ctx, rc, "aggregate function");
        return cf_task_emit(ctx, o->out.data, o->out.len, m);
    }
    }
    return 0;
}

/* emitWindowContents: fire window w whose contents are under ns (the
 * window itself, or a session's state window), or under its panes. */
static int
cf_win_fire(cf_ctx_t *ctx, cf_window_t w, const uint8_t *ns)
{
    cf_winop_t *o = ctx->winop;
    int64_t m = cf_win_max_ts(o, w), saved = ctx->cur_ts;
    int rc = 0;

    ctx->cur_ts = m;
    if (o->store == CF_WIN_ACC && !o->panes) {
        cf_slice_t v;
        if (cf_kstate_map_get(o->contents, ns, CF_WIN_NS, &v) != 1)
            goto out;
        if (o->c->fn_kind == CF_WFN_REDUCE) {
            /* Copy: the downstream chain may touch keyed state. */
            cf_kstate_buf_reserve(&o->acc, v.len ? v.len : 1);
            if (v.len)
                memcpy(o->acc.data, v.data, v.len);
            rc = cf_task_emit(ctx, o->acc.data, v.len, m);
        } else {
            o->out.len = 0;
            rc = o->c->agg.result(ctx, &v, &o->out);
            if (rc < 0)
                rc = cf_winop_user_failed(ctx, rc, "aggregate function");
            else
                rc = cf_task_emit(ctx, o->out.data, o->out.len, m);
        }
        goto out;
    }
    if (o->store == CF_WIN_ACC) {
        /* Reduce over panes: fold the pane results in time order. */
        uint8_t pns[CF_WIN_NS];
        int first = 1;
        for (int64_t p = w.start; p < w.end; p += o->pane) {
            cf_slice_t v;
            cf_win_ns(pns, (cf_window_t){p, p + o->pane});
            if (cf_kstate_map_get(o->contents, pns, CF_WIN_NS, &v) != 1)
                continue;
            if (p >= w.start + o->c->assigner.slide_ms)
                o->overlap = 1;
            if (first) {
                cf_kstate_buf_reserve(&o->acc, v.len ? v.len : 1);
                if (v.len)
                    memcpy(o->acc.data, v.data, v.len);
                o->acc.len = v.len;
                first = 0;
            } else {
                cf_record_t r = {v.data, v.len, m};
                if ((rc = o->c->reduce(ctx, &o->acc, &r)) < 0) {
                    rc = cf_winop_user_failed(ctx, rc, "reduce function");
                    goto out;
                }
            }
        }
        if (!first)
            rc = cf_task_emit(ctx, o->acc.data, o->acc.len, m);
        goto out;
    }
    /* Element store. */
    o->nrecs = 0;
    o->ebuf.len = 0;
    if (o->panes) {
        uint8_t pns[CF_WIN_NS];
        for (int64_t p = w.start; p < w.end; p += o->pane) {
            uint32_t before = o->nrecs;
            cf_win_ns(pns, (cf_window_t){p, p + o->pane});
            cf_win_gather(o, pns);
            if (o->nrecs > before && p >= w.start + o->c->assigner.slide_ms)
                o->overlap = 1;
        }
    } else {
        if (!cf_win_contents_has(o, ns))
            goto out;
        cf_win_gather(o, ns);
    }
    cf_win_gather_done(o);
    if (o->nrecs == 0 && o->panes)
        goto out;
    if (o->c->evictor.kind && !o->c->evictor.after)
        cf_win_evict(ctx);
    if ((rc = cf_win_apply_elems(ctx, w, m)) < 0)
        goto out;
    if (o->c->evictor.kind) {
        uint32_t n = 0;
        if (o->c->evictor.after)
            cf_win_evict(ctx);
        /* Keep what the evictor left (EvictingWindowOperator rewrites
         * the window's state). The records point into ebuf, not into
         * the state, so the rewrite is safe. */
        if ((rc = cf_win_contents_clear(o, ns)) < 0)
            goto out;
        for (uint32_t i = 0; i < o->nrecs; i++)
            if ((rc = cf_win_elem_append(o, ns, &n, o->recs[i].data,
                                         o->recs[i].len, o->recs[i].ts)) < 0)
                goto out;
        /* Nothing left: no count either, so the window is empty (no
         * firing) as Flink's cleared list state. */
        if (n > 0)
            rc = cf_win_elem_set_count(o, ns, n);
    }
out:
    ctx->cur_ts = saved;
    return rc < 0 ? rc : 0;
}

/* ---- sessions (MergingWindowSet) ----------------------------------- */

/* Load the key's sessions into o->wins / o->swins. */
static void
cf_sess_load(cf_winop_t *o)
{
    cf_map_iter_t it;
    cf_slice_t k, v;
    o->nwins = 0;
    if (cf_kstate_map_iter(o->sessions, &it) < 0)
        return;
    while (cf_kstate_map_next(&it, &k, &v) == 1) {
        if (k.len != CF_WIN_NS || v.len != CF_WIN_NS)
            continue;
        cf_winop_push_win(o, cf_win_of_ns(k.data));
        CF_GROW(&o->swins, &o->swins_cap, o->nwins);
        o->swins[o->nwins - 1] = cf_win_of_ns(v.data);
    }
}

static int
cf_sess_state_window(cf_winop_t *o, cf_window_t w, uint8_t *sns)
{
    uint8_t ns[CF_WIN_NS];
    cf_slice_t v;
    cf_win_ns(ns, w);
    if (cf_kstate_map_get(o->sessions, ns, CF_WIN_NS, &v) != 1 ||
        v.len != CF_WIN_NS)
        return 0;
    memcpy(sns, v.data, CF_WIN_NS);
    return 1;
}

static int
cf_sess_put(cf_winop_t *o, cf_window_t w, cf_window_t sw)
{
    uint8_t k[CF_WIN_NS], v[CF_WIN_NS];
    cf_win_ns(k, w);
    cf_win_ns(v, sw);
    return cf_kstate_map_put(o->sessions, k, CF_WIN_NS, v, CF_WIN_NS);
}

static int
cf_sess_remove(cf_winop_t *o, cf_window_t w)
{
    uint8_t k[CF_WIN_NS];
    int rc;
    cf_win_ns(k, w);
    rc = cf_kstate_map_remove(o->sessions, k, CF_WIN_NS);
    return rc < 0 ? rc : 0;
}

/* MergingWindowSet.addWindow with the WindowOperator's merge function:
 * *actual gets the session the new window ended up in. */
static int
cf_sess_add(cf_ctx_t *ctx, cf_window_t nw, cf_window_t *actual)
{
    cf_winop_t *o = ctx->winop;
    cf_window_t m = nw, sw;
    size_t k = 0;
    int rc;

    cf_sess_load(o);
    /* The sessions that overlap the new window (TimeWindow.intersects,
     * bounds included); existing sessions never overlap each other, so
     * the merge is exactly these plus the new one. Compact them to the
     * front of wins / swins, ordered by start. */
    for (size_t i = 0; i < o->nwins; i++) {
        cf_window_t w = o->wins[i];
        if (w.start <= nw.end && w.end >= nw.start) {
            cf_window_t t = o->wins[k], ts = o->swins[k];
            o->wins[k] = w;
            o->swins[k] = o->swins[i];
            o->wins[i] = t;
            o->swins[i] = ts;
            k++;
        }
    }
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && o->wins[j].start < o->wins[j - 1].start;
             j--) {
            cf_window_t t = o->wins[j], ts = o->swins[j];
            o->wins[j] = o->wins[j - 1];
            o->swins[j] = o->swins[j - 1];
            o->wins[j - 1] = t;
            o->swins[j - 1] = ts;
        }
    if (k == 0) {
        *actual = nw;
        return cf_sess_put(o, nw, nw);
    }
    for (size_t i = 0; i < k; i++) {
        if (o->wins[i].start < m.start)
            m.start = o->wins[i].start;
        if (o->wins[i].end > m.end)
            m.end = o->wins[i].end;
    }
    *actual = m;
    if (k == 1 && cf_win_eq(o->wins[0], m))
        return 0; /* inside an existing session: nothing merges */
    sw = o->swins[0];
    for (size_t i = 0; i < k; i++)
        if ((rc = cf_sess_remove(o, o->wins[i])) < 0)
            return rc;
    if ((rc = cf_sess_put(o, m, sw)) < 0)
        return rc;
    /* The merge function. */
    if (o->event_time && cf_win_cleanup_time(o, m) <= ctx->watermark)
        return cf_winop_fail(ctx, CF_EINVAL,
                             "Window operator '%s': the end timestamp of an "
                             "event-time window cannot become earlier than "
                             "the current watermark by merging",
                             ctx->node->name);
    if ((rc = cf_trig_on_merge(ctx, m, o->wins, k)) < 0)
        return rc;
    for (size_t i = 0; i < k; i++) {
        if ((rc = cf_trig_clear(ctx, o->wins[i])) < 0 ||
            (rc = cf_win_delete_cleanup(ctx, o->wins[i])) < 0)
            return rc;
    }
    for (size_t i = 1; i < k; i++) {
        uint8_t dst[CF_WIN_NS], src[CF_WIN_NS];
        if (cf_win_eq(o->swins[i], sw))
            continue;
        cf_win_ns(dst, sw);
        cf_win_ns(src, o->swins[i]);
        if ((rc = cf_win_contents_merge(ctx, dst, src)) < 0)
            return rc;
    }
    return 0;
}

/* ---- open / close -------------------------------------------------- */

int
cf_winop_open(cf_ctx_t *ctx)
{
    cf_window_conf_t *c = ctx->node->win;
    cf_winop_t *o;
    cf_error_t *err = NULL;
    int rc;

    if (c == NULL || ctx->kstate == NULL || ctx->timers == NULL)
        return cf_winop_fail(ctx, CF_EINVAL, "Window operator '%s' has no %s",
                             ctx->node->name,
                             c == NULL             ? "configuration"
                             : ctx->kstate == NULL ? "keyed state backend"
                                                   : "timer service");
    o = CF_NEW(cf_winop_t);
    ctx->winop = o;
    o->c = c;
    o->global = c->assigner.kind == CF_WINDOW_GLOBAL;
    o->event_time = !o->global && c->assigner.time == CF_TIME_EVENT;
    o->time_domain = o->event_time ? CF_TIMERS_EVENT : CF_TIMERS_PROCESSING;
    o->merging = c->assigner.kind == CF_WINDOW_SESSION;
    o->purging = c->trigger.purging;
    o->trig = c->trigger.kind;
    if (o->trig == CF_TRIGGER_DEFAULT)
        o->trig = o->global ? CF_WIN_NEVER
                  : c->assigner.time == CF_TIME_EVENT
                      ? CF_TRIGGER_EVENT_TIME
                      : CF_TRIGGER_PROCESSING_TIME;
    /* Accumulate when the function allows it: evictors need the
     * elements, and merging aggregates would need a merge function. */
    o->store = c->fn_kind == CF_WFN_PROCESS || c->evictor.kind != 0 ||
                       (o->merging && c->fn_kind == CF_WFN_AGGREGATE)
                   ? CF_WIN_ELEMS
                   : CF_WIN_ACC;
    /* Panes: sliding windows, a non-purging time trigger, no evictor,
     * and a combinable function (reduce, or elements). */
    o->panes = c->assigner.kind == CF_WINDOW_SLIDING &&
               c->assigner.slide_ms <= c->assigner.size_ms &&
               c->evictor.kind == 0 && !o->purging &&
               (o->trig == CF_TRIGGER_EVENT_TIME ||
                o->trig == CF_TRIGGER_PROCESSING_TIME) &&
               c->fn_kind != CF_WFN_AGGREGATE;
    /* Lateness 0 and the assigner's own time trigger: the trigger's
     * timer at the max timestamp is the cleanup timer (Flink registers
     * it twice; the second is a no-op we skip). */
    o->cleanup_is_fire =
        (o->trig == CF_TRIGGER_EVENT_TIME && o->event_time &&
         c->lateness_ms == 0) ||
        (o->trig == CF_TRIGGER_PROCESSING_TIME && !o->event_time && !o->global);
    if (o->panes)
        o->pane = cf_gcd64(c->assigner.size_ms, c->assigner.slide_ms);

    o->contents = cf_kstate_register(ctx->kstate, CF_WIN_STATE_CONTENTS,
                                     CF_STATE_MAP, NULL, ctx, &err);
    if (o->contents != NULL)
        o->tstate = cf_kstate_register(ctx->kstate, CF_WIN_STATE_TRIGGER,
                                       CF_STATE_MAP, NULL, ctx, &err);
    if (o->tstate != NULL && o->merging)
        o->sessions = cf_kstate_register(ctx->kstate, CF_WIN_STATE_SESSIONS,
                                         CF_STATE_MAP, NULL, ctx, &err);
    if (o->contents == NULL || o->tstate == NULL ||
        (o->merging && o->sessions == NULL)) {
        rc = cf_winop_fail(ctx, CF_ESTATE, "Window operator '%s': %s",
                           ctx->node->name, cf_error_msg(err));
        cf_error_free(err);
        return rc;
    }
    /* close() runs even when open() failed, as for other operators. */
    o->user_opened = 1;
    if (c->fn_kind == CF_WFN_PROCESS && c->process.open &&
        (rc = c->process.open(ctx)) < 0)
        return cf_winop_user_failed(ctx, rc, "open");
    return 0;
}

void
cf_winop_close(cf_ctx_t *ctx)
{
    cf_winop_t *o = ctx->winop;
    if (o == NULL)
        return;
    if (o->user_opened && o->c->fn_kind == CF_WFN_PROCESS &&
        o->c->process.close)
        o->c->process.close(ctx);
    cf_free(o->acc.data);
    cf_free(o->out.data);
    cf_free(o->tmp.data);
    cf_free(o->ebuf.data);
    cf_free(o->key.data);
    cf_free(o->recs);
    cf_free(o->wins);
    cf_free(o->swins);
    cf_free(o);
    ctx->winop = NULL;
}

uint64_t
cf_winop_late_dropped(const cf_ctx_t *ctx)
{
    return ctx->winop ? ctx->winop->late_dropped : 0;
}

/* ---- records ------------------------------------------------------- */

/* The windows of time t (non-merging assigners) into o->wins. */
static void
cf_win_assign(cf_winop_t *o, int64_t t)
{
    const cf_window_assigner_t *a = &o->c->assigner;
    o->nwins = 0;
    switch (a->kind) {
    case CF_WINDOW_TUMBLING: {
        int64_t s = cf_win_start(t, a->offset_ms, a->size_ms);
        cf_winop_push_win(o, (cf_window_t){s, s + a->size_ms});
        break;
    }
    case CF_WINDOW_SLIDING: {
        /* SlidingEventTimeWindows.assignWindows: latest start first. */
        int64_t last = cf_win_start(t, a->offset_ms, a->slide_ms);
        for (int64_t s = last; s > t - a->size_ms; s -= a->slide_ms)
            cf_winop_push_win(o, (cf_window_t){s, s + a->size_ms});
        break;
    }
    case CF_WINDOW_GLOBAL:
        cf_winop_push_win(o, (cf_window_t){INT64_MIN, INT64_MAX});
        break;
    }
}

/* Handle one element of window w stored under ns (processElement's loop
 * body). */
static int
cf_win_element(cf_ctx_t *ctx, const cf_record_t *r, cf_window_t w,
               const uint8_t *ns)
{
    cf_winop_t *o = ctx->winop;
    int rc, res;
    if ((rc = cf_win_contents_add(ctx, ns, r)) < 0)
        return rc;
    /* EventTimeTrigger.onElement registers the window's timer for every
     * element; the timer service de-duplicates, at the cost of a lookup.
     * A non-merging window that already had contents and is not late has
     * that timer already (its first element registered it; only firing
     * at cleanup or a purge remove it, and they clear the contents), so
     * the lookup is skipped: a third of the per-record work of tumbling
     * windows. */
    if (o->trig == CF_TRIGGER_EVENT_TIME && !o->merging && o->existed &&
        cf_win_max_ts(o, w) > ctx->watermark)
        res = 0;
    else if ((res = cf_trig_on_element(ctx, r, w)) < 0)
        return res;
    if ((res & CF_WIN_FIRE) && (rc = cf_win_fire(ctx, w, ns)) < 0)
        return rc;
    if ((res & CF_WIN_PURGE) &&
        (rc = cf_win_contents_clear(ctx->winop, ns)) < 0)
        return rc;
    if (ctx->winop->cleanup_is_fire)
        return 0; /* onElement registered it (the window is not late) */
    return cf_win_register_cleanup(ctx, w);
}

/* The start of the earliest sliding window of t, given the latest
 * (last): the smallest last - j * slide > t - size, in O(1). */
static inline int64_t
cf_win_first_start(const cf_window_assigner_t *a, int64_t t, int64_t last)
{
    return last - (last - t + a->size_ms - 1) / a->slide_ms * a->slide_ms;
}

/* Sliding windows over panes: see the file comment. */
static int
cf_win_pane_element(cf_ctx_t *ctx, const cf_record_t *r, int64_t t,
                    int *skipped)
{
    cf_winop_t *o = ctx->winop;
    const cf_window_assigner_t *a = &o->c->assigner;
    int64_t last = cf_win_start(t, a->offset_ms, a->slide_ms);
    int64_t ps = cf_win_start(t, a->offset_ms, o->pane);
    uint8_t pns[CF_WIN_NS];
    int rc;

    if (cf_win_is_late(o, ctx, (cf_window_t){last, last + a->size_ms}))
        return 0; /* every window of t is late */
    *skipped = 0;
    cf_win_ns(pns, (cf_window_t){ps, ps + o->pane});
    if (!cf_win_contents_has(o, pns)) {
        /* A new pane. Its windows need their firing timers, but
         * registering size/slide timers per pane would cost as much as
         * Flink's per-window state; instead one timer per pane: the
         * earliest of its windows that has not fired yet. When a window
         * fires on its timer and the next window has contents in their
         * overlap, cf_winop_on_timer registers the next one (a chain
         * along the slides), so every window with contents fires once
         * at its end. The pane's own cleanup is the cleanup timer of
         * its last window, which removes it. */
        int64_t first = cf_win_first_start(a, t, last);
        for (int64_t s = first; s <= last; s += a->slide_ms) {
            int64_t m = s + a->size_ms - 1;
            cf_window_t w = {s, s + a->size_ms};
            if (o->trig == CF_TRIGGER_PROCESSING_TIME) {
                rc = cf_win_timer_set(ctx, CF_TIMERS_PROCESSING, m, w);
            } else if (m > ctx->watermark) {
                rc = cf_win_timer_set(ctx, CF_TIMERS_EVENT, m, w);
            } else {
                continue; /* fires below (late firing) */
            }
            if (rc < 0)
                return rc;
            break;
        }
        if ((rc = cf_win_register_cleanup(
                 ctx, (cf_window_t){last, last + a->size_ms})) < 0)
            return rc;
    }
    if ((rc = cf_win_contents_add(ctx, pns, r)) < 0)
        return rc;
    /* Late firing (EventTimeTrigger.onElement): the windows of t whose
     * end the watermark passed but that are not cleaned up yet. The
     * earliest window of t ends first: one compare in the common case. */
    if (o->trig == CF_TRIGGER_EVENT_TIME) {
        int64_t first = cf_win_first_start(a, t, last);
        if (first + a->size_ms - 1 <= ctx->watermark) {
            for (int64_t s = first; s <= last; s += a->slide_ms) {
                cf_window_t w = {s, s + a->size_ms};
                if (w.end - 1 > ctx->watermark)
                    break;
                if (cf_win_is_late(o, ctx, w))
                    continue;
                if ((rc = cf_win_fire(ctx, w, NULL)) < 0)
                    return rc;
            }
        }
    }
    return 0;
}

int
cf_winop_invoke(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_winop_t *o = ctx->winop;
    int64_t t;
    int skipped = 1, rc = 0;
    uint8_t ns[CF_WIN_NS];

    if (o->global) {
        t = r->ts;
    } else if (o->c->assigner.time == CF_TIME_PROCESSING) {
        t = cf_winop_now(ctx);
    } else {
        t = r->ts;
        if (t == CF_NO_TIMESTAMP)
            return cf_winop_fail(
                ctx, CF_EINVAL,
                "Window operator '%s': record has no timestamp "
                "(CF_NO_TIMESTAMP) in an event-time window: is "
                "cf_stream_assign_timestamps_and_watermarks() missing?",
                ctx->node->name);
    }

    if (o->panes) {
        rc = cf_win_pane_element(ctx, r, t, &skipped);
    } else if (o->merging) {
        cf_window_t actual, nw = {t, t + o->c->assigner.gap_ms};
        uint8_t sns[CF_WIN_NS];
        if ((rc = cf_sess_add(ctx, nw, &actual)) < 0)
            return rc;
        if (cf_win_is_late(o, ctx, actual)) {
            rc = cf_sess_remove(o, actual);
        } else {
            skipped = 0;
            if (!cf_sess_state_window(o, actual, sns))
                return cf_winop_fail(ctx, CF_ESTATE,
                                     "Window operator '%s': session without "
                                     "a state window",
                                     ctx->node->name);
            rc = cf_win_element(ctx, r, actual, sns);
        }
    } else {
        cf_win_assign(o, t);
        /* cf_win_element may reuse o->wins (never for these assigners,
         * but be safe): walk a stable count. */
        size_t n = o->nwins;
        for (size_t i = 0; i < n && rc >= 0; i++) {
            cf_window_t w = o->wins[i];
            if (cf_win_is_late(o, ctx, w))
                continue;
            skipped = 0;
            cf_win_ns(ns, w);
            rc = cf_win_element(ctx, r, w, ns);
        }
    }
    if (rc < 0)
        return rc;
    /* isSkippedElement && isElementLate. */
    if (skipped && o->event_time &&
        (r->ts > INT64_MAX - o->c->lateness_ms
             ? INT64_MAX
             : r->ts + o->c->lateness_ms) <= ctx->watermark) {
        if (o->c->late_tag)
            return cf_winop_side(ctx, o->c->late_tag, r);
        o->late_dropped++;
    }
    return 0;
}

int
cf_winop_on_timer(cf_ctx_t *ctx, int domain, const cf_timer_view_t *tv)
{
    cf_winop_t *o = ctx->winop;
    cf_window_t w;
    uint8_t ns[CF_WIN_NS], sns[CF_WIN_NS];
    const uint8_t *state_ns = ns;
    int res, rc = 0;

    if (tv->nslen != CF_WIN_NS)
        return 0; /* not ours */
    memcpy(ns, tv->ns, CF_WIN_NS);
    w = cf_win_of_ns(ns);
    if (o->merging) {
        if (!cf_sess_state_window(o, w, sns))
            return 0; /* a timer of a window that merged away */
        state_ns = sns;
    }
    if ((res = cf_trig_on_time(ctx, domain, tv->ts, w)) < 0)
        return res;
    o->overlap = 0;
    if (res & CF_WIN_FIRE)
        rc = cf_win_fire(ctx, w, state_ns);
    if (rc >= 0 && o->panes && o->overlap) {
        /* The chain of pane firings (cf_win_pane_element): the next
         * window shares contents with this one. A timer already due
         * fires in the same round (timer_rt.c). */
        int64_t sl = o->c->assigner.slide_ms;
        cf_window_t nx = {w.start + sl, w.end + sl};
        rc = cf_win_timer_set(ctx,
                              o->trig == CF_TRIGGER_PROCESSING_TIME
                                  ? CF_TIMERS_PROCESSING
                                  : CF_TIMERS_EVENT,
                              nx.end - 1, nx);
    }
    if (rc >= 0 && (res & CF_WIN_PURGE))
        rc = cf_win_contents_clear(o, state_ns);
    if (rc < 0)
        return rc;
    if (domain == o->time_domain && tv->ts == cf_win_cleanup_time(o, w)) {
        /* clearAllState. */
        if (o->panes) {
            /* The panes no later window covers: those of [start, start +
             * slide). */
            uint8_t pns[CF_WIN_NS];
            int64_t end = w.start + o->c->assigner.slide_ms;
            for (int64_t p = w.start; p < end; p += o->pane) {
                cf_win_ns(pns, (cf_window_t){p, p + o->pane});
                if ((rc = cf_win_contents_clear(o, pns)) < 0)
                    return rc;
            }
        } else if ((rc = cf_win_contents_clear(o, state_ns)) < 0) {
            return rc;
        }
        if ((rc = cf_trig_clear(ctx, w)) < 0)
            return rc;
        if (o->merging && (rc = cf_sess_remove(o, w)) < 0)
            return rc;
    }
    return 0;
}

int
cf_winop_finish(cf_ctx_t *ctx)
{
    cf_winop_t *o = ctx->winop;
    cf_timer_view_t tv;
    int rc;

    if (o == NULL)
        return 0;
    /* Fire every processing-time timer as if the clock ran to the end of
     * time; triggers register no new processing-time timers meanwhile
     * (a continuous trigger would otherwise re-arm forever). */
    o->finishing = 1;
    while (cf_timers_pop(ctx->timers, CF_TIMERS_PROCESSING, INT64_MAX, &tv) ==
           1) {
        /* The popped key lives in the service's memory only until its
         * next call (on_timer deletes timers): make it ours first. */
        cf_kstate_buf_reserve(&o->key, tv.klen ? tv.klen : 1);
        if (tv.klen)
            memcpy(o->key.data, tv.key, tv.klen);
        cf_kstate_set_key(ctx->kstate, o->key.data, tv.klen, tv.khash);
        tv.key = o->key.data;
        if ((rc = cf_winop_on_timer(ctx, CF_TIMERS_PROCESSING, &tv)) < 0)
            return rc;
    }
    return 0;
}
