/*
 * timer_rt.c: the timers of operator instances at run time (Flink's
 * InternalTimeServiceManager and the TimerService of a process function):
 * the host functions around them (register / delete, current watermark,
 * timestamp, processing time), the creation of an instance's timer
 * service and the rebuild of its queues after a restore, and the firing
 * of timers when the watermark or the clock passes them.
 *
 * The timer service itself (state/timers.c) keeps each time domain as a
 * map state of the keyed backend, "_cflink_timers_event" and
 * "_cflink_timers_processing", so timers are checkpointed, restored and
 * rescaled with the keyed state; op_ckpt.c restores them like any other
 * keyed state and cf_rt_timers_open rebuilds the heaps from them.
 *
 * Timers exist only on keyed operators (ctx->kstate), as in Flink: a
 * registration elsewhere fails the task with Flink's message. A process
 * function gets its service at its first registration (or at open when a
 * restore brought timers back); the window operator always has one.
 *
 * Firing: a popped timer's key and namespace live in the service's memory
 * only until its next call, but on_timer may register or delete timers
 * (a call) while keyed state still reads the current key. So the key and
 * namespace are first copied into memory of the instance (ctx->key's
 * scratch, or a reused buffer for large keys, cf_op_timer_buf), which
 * the backend then borrows as current key. No allocation per timer.
 *
 * Thread: the task's, except cf_rt_set_clock (any).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "eventtime.h"
#include "op_ckpt.h"
#include "task.h"
#include "timers.h"
#include "window.h"

/* Firing checks the cancel flag every so many timers: a watermark can
 * make millions of timers due at once (CF_WATERMARK_MAX at end of input). */
#define CF_RT_CANCEL_CHECK 1024

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

typedef int64_t (*cf_rt_clock_fn)(void);

/* The test hook's clock; NULL: the wall clock. */
static _Atomic(cf_rt_clock_fn) cf_rt_clock;

void
cf_rt_set_clock(int64_t (*now_ms)(void))
{
    atomic_store(&cf_rt_clock, now_ms);
}

int64_t
cf_rt_processing_time(cf_ctx_t *ctx)
{
    cf_rt_clock_fn fn = atomic_load_explicit(&cf_rt_clock,
                                             memory_order_relaxed);
    (void)ctx;
    return fn != NULL ? fn() : cf_now_ms();
}

/* ------------------------------------------------------------------ */
/* Watermark and timestamp                                             */
/* ------------------------------------------------------------------ */

int64_t
cf_rt_current_watermark(cf_ctx_t *ctx)
{
    /* task.c starts every ctx at CF_WATERMARK_MIN (Flink's
     * Long.MIN_VALUE before the first watermark). */
    return ctx->watermark;
}

int64_t
cf_rt_timestamp(cf_ctx_t *ctx)
{
    return ctx->cur_ts;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static int
cf_rt_fail(cf_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = cf_task_fail(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

/* The user's timer callback of an operator, NULL when it has none (the
 * window operator's timers go to cf_winop_on_timer instead). Two-input
 * operators (co-process, joins), once they run, must give theirs here. */
static cf_on_timer_fn
cf_rt_on_timer_fn(const cf_snode_t *n)
{
    if (n->kind == CF_OP_PROCESS)
        return n->process.on_timer;
    return NULL;
}

static int
cf_rt_domain_ok(int domain)
{
    return domain == CF_TIMERS_EVENT || domain == CF_TIMERS_PROCESSING;
}

/* Create ctx->timers (idempotent). 0, or the task failed naming the
 * operator. */
static int
cf_rt_timers_create(cf_ctx_t *ctx)
{
    cf_error_t *err = NULL;

    if (ctx->timers != NULL)
        return 0;
    ctx->timers = cf_timers_new(ctx->kstate, &err);
    if (ctx->timers == NULL) {
        cf_rt_fail(ctx, "timer service of operator '%s': %s",
                   ctx->node->name,
                   err ? cf_error_msg(err) : "cannot be created");
        cf_error_free(err);
        return CF_ESTATE;
    }
    return 0;
}

/* Checks shared by register and delete: a keyed operator, a valid
 * domain, a current key. */
static int
cf_rt_timer_check(cf_ctx_t *ctx, int domain, const char *verb_msg,
                  const char *verb)
{
    cf_slice_t key;

    if (ctx->kstate == NULL)
        return cf_rt_fail(ctx, "%s (operator '%s')", verb_msg,
                          ctx->node->name);
    if (!cf_rt_domain_ok(domain))
        return cf_rt_fail(ctx,
                          "unknown time domain %d when %s a timer in "
                          "operator '%s' (CF_TIME_EVENT or "
                          "CF_TIME_PROCESSING)",
                          domain, verb, ctx->node->name);
    if (cf_kstate_current_key(ctx->kstate, &key) < 0)
        return cf_rt_fail(ctx,
                          "cannot %s a timer in operator '%s' without a "
                          "current key: timers belong to the key of the "
                          "record or timer being processed (not in open or "
                          "finish)",
                          verb, ctx->node->name);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Host functions                                                      */
/* ------------------------------------------------------------------ */

int
cf_rt_timer_register(cf_ctx_t *ctx, int time_domain, int64_t ts)
{
    int rc;

    rc = cf_rt_timer_check(
        ctx, time_domain,
        "Setting timers is only supported on a keyed streams.", "set");
    if (rc < 0)
        return rc;
    /* A registered timer must have somewhere to fire: without on_timer
     * it would fire into nothing, which is a mistake of the program. The
     * window operator's own timers go to the service directly, so a
     * registration from its window function lands here too. */
    if (cf_rt_on_timer_fn(ctx->node) == NULL)
        return cf_rt_fail(
            ctx,
            ctx->node->kind == CF_OP_WINDOW
                ? "operator '%s' set a timer from its window function; "
                  "timers can only be set by a process function "
                  "(cf_process_ops_t.on_timer receives them)"
                : "operator '%s' set a timer but has no on_timer function "
                  "to receive it (set cf_process_ops_t.on_timer of its "
                  "process function)",
            ctx->node->name);
    if ((rc = cf_rt_timers_create(ctx)) < 0)
        return rc;
    /* An empty namespace: user timers are unique per key and time. */
    rc = cf_timers_register(ctx->timers, time_domain, ts, NULL, 0);
    if (rc < 0)
        return cf_rt_fail(ctx, "cannot set a timer at %lld in operator "
                               "'%s' (code %d)",
                          (long long)ts, ctx->node->name, rc);
    return CF_OK;
}

int
cf_rt_timer_delete(cf_ctx_t *ctx, int time_domain, int64_t ts)
{
    int rc;

    rc = cf_rt_timer_check(
        ctx, time_domain,
        "Deleting timers is only supported on a keyed streams.", "delete");
    if (rc < 0)
        return rc;
    /* No service yet: nothing was registered, nothing to delete (Flink
     * ignores deleting a timer that does not exist). */
    if (ctx->timers == NULL)
        return CF_OK;
    rc = cf_timers_delete(ctx->timers, time_domain, ts, NULL, 0);
    if (rc < 0)
        return cf_rt_fail(ctx, "cannot delete the timer at %lld in "
                               "operator '%s' (code %d)",
                          (long long)ts, ctx->node->name, rc);
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* Open and restore                                                    */
/* ------------------------------------------------------------------ */

static int
cf_rt_find_timer_state_cb(void *ud, cf_state_t *st)
{
    const char *name = cf_kstate_name(st);
    if (strcmp(name, CF_TIMERS_STATE_EVENT) == 0 ||
        strcmp(name, CF_TIMERS_STATE_PROCESSING) == 0)
        *(int *)ud = 1;
    return 0;
}

/* Whether the backend holds timer states (a restore created them). A
 * walk over the registered states: there are few, and it runs once. */
static int
cf_rt_backend_has_timers(cf_kstate_backend_t *b)
{
    int found = 0;
    cf_kstate_backend_foreach_state(b, cf_rt_find_timer_state_cb, &found);
    return found;
}

int
cf_rt_timers_open(cf_ctx_t *ctx)
{
    cf_error_t *err = NULL;
    int rc;

    if (ctx->kstate == NULL)
        return 0;
    /* A process function that never set a timer gets its service lazily
     * (most keyed operators never use timers: no heaps, no states). A
     * restored backend that holds timer states needs it now, so that the
     * restored timers fire without a new registration. */
    if (ctx->node->kind != CF_OP_WINDOW && ctx->timers == NULL &&
        !cf_rt_backend_has_timers(ctx->kstate))
        return 0;
    if (ctx->timers == NULL && (rc = cf_rt_timers_create(ctx)) < 0)
        return rc;
    /* The heaps are rebuilt from the restored map states (a no-op for a
     * service whose states are empty). */
    if (ctx->restored && cf_timers_restore(ctx->timers, &err) < 0) {
        cf_rt_fail(ctx, "restore of the timers of operator '%s': %s",
                   ctx->node->name, err ? cf_error_msg(err) : "failed");
        cf_error_free(err);
        return CF_ESTATE;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Firing                                                              */
/* ------------------------------------------------------------------ */

/* Fire one popped timer v of domain: its key becomes the current key
 * (of the backend and ctx->key), from a stable copy. */
static int
cf_rt_fire_one(cf_ctx_t *ctx, int domain, const cf_timer_view_t *v)
{
    cf_timer_view_t view = *v;
    cf_on_timer_fn fn;
    uint8_t *copy;
    uint64_t need = (uint64_t)v->klen + v->nslen;
    int rc;

    if (need > UINT32_MAX)
        return cf_rt_fail(ctx, "timer of operator '%s': key and namespace "
                               "too large",
                          ctx->node->name);
    /* Usually in ctx->key's scratch (free between records, and alive as
     * long as the ctx, so the backend's borrow outlives the firing);
     * larger keys in a reused buffer of the instance. */
    copy = need <= sizeof ctx->key.scratch
               ? ctx->key.scratch
               : cf_op_timer_buf(ctx, (uint32_t)need);
    if (v->klen)
        memcpy(copy, v->key, v->klen);
    if (v->nslen)
        memcpy(copy + v->klen, v->ns, v->nslen);
    view.key = copy;
    view.ns = copy + v->klen;
    ctx->key.data = copy;
    ctx->key.len = v->klen;
    cf_kstate_set_key(ctx->kstate, copy, v->klen, v->khash);
    /* Flink: the timestamp of an event-time timer's context (and the
     * default of what on_timer emits) is the timer's; processing-time
     * timers carry none. */
    ctx->cur_ts = domain == CF_TIMERS_EVENT ? v->ts : CF_NO_TIMESTAMP;

    if (ctx->node->kind == CF_OP_WINDOW)
        return cf_winop_on_timer(ctx, domain, &view);
    fn = cf_rt_on_timer_fn(ctx->node);
    if (fn == NULL) /* registration prevents it; a restored timer may */
        return cf_rt_fail(ctx,
                          "operator '%s' has a timer (at %lld) but no "
                          "on_timer function to receive it",
                          ctx->node->name, (long long)v->ts);
    rc = fn(ctx, v->ts, domain);
    if (rc < 0)
        return cf_op_ckpt_failed(ctx, rc, "timer function");
    /* cf_fail() followed by CF_OK still fails the task. */
    if (atomic_load(&ctx->task->user_failed))
        return CF_EUSER;
    return 0;
}

/* Fire the timers of domain with ts <= upto, including those registered
 * while firing that are due too. */
static int
cf_rt_fire(cf_ctx_t *ctx, int domain, int64_t upto)
{
    cf_timer_view_t v;
    int64_t saved_ts = ctx->cur_ts;
    uint32_t n = 0;
    int rc = 0;

    while (cf_timers_pop(ctx->timers, domain, upto, &v) == 1) {
        if ((rc = cf_rt_fire_one(ctx, domain, &v)) < 0)
            break;
        if (++n % CF_RT_CANCEL_CHECK == 0 &&
            atomic_load_explicit(&ctx->task->cancel, memory_order_relaxed)) {
            rc = CF_ECANCELED;
            break;
        }
    }
    ctx->cur_ts = saved_ts;
    return rc;
}

int
cf_rt_fire_event_timers(cf_ctx_t *ctx, int64_t watermark)
{
    /* Flink advances the timer service's watermark before firing, so
     * on_timer sees the new one as its current watermark. */
    if (watermark > ctx->watermark)
        ctx->watermark = watermark;
    if (ctx->timers == NULL)
        return 0;
    return cf_rt_fire(ctx, CF_TIMERS_EVENT, watermark);
}

int
cf_rt_fire_processing_timers(cf_ctx_t *ctx, int64_t now)
{
    if (ctx->timers == NULL)
        return 0;
    return cf_rt_fire(ctx, CF_TIMERS_PROCESSING, now);
}

int64_t
cf_rt_next_processing_timer(cf_ctx_t *ctx)
{
    if (ctx->timers == NULL)
        return INT64_MAX;
    return cf_timers_next(ctx->timers, CF_TIMERS_PROCESSING);
}
