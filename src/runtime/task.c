/*
 * task.c: the stream task: operator chain execution, the task loop, and
 * the task side of checkpoints (mailbox, barriers, alignment, snapshots,
 * end of input and the final checkpoint, stop-with-savepoint, restore).
 *
 * A chain is called directly: cf_emit() of an operator hands the record
 * (a pointer, no copy) to each chained successor's function, and
 * serializes it into the record writer of each non-chained output. No
 * allocation happens per record.
 *
 * The loop (Flink's mailbox loop): process input only while every output
 * has a free buffer, so that a backpressured task waits between records,
 * where it can still be cancelled; inside one input buffer, a write that
 * finds no free buffer blocks until a consumer recycles one (or the task
 * is cancelled). Partially filled output buffers ship when
 * execution.buffer-timeout expires. Between input buffers / source next()
 * calls, and while waiting, the task drains its mailbox (checkpoint
 * triggers, notifications, snapshot completions); the record path pays
 * one relaxed atomic load per buffer for it.
 *
 * Checkpoints (docs/internals/runtime.md, "Checkpoints at tasks"): a
 * triggered source, or a task whose barriers are aligned, runs the
 * synchronous snapshot of every operator (cf_op_snapshot_sync), sends the
 * barrier downstream, and hands the files to a snapshot writer thread
 * (snap_writer.c), which acknowledges. Barrier event payload (net.h,
 * CF_NET_EV_BARRIER), little-endian: u8 version 1, i64 checkpoint id,
 * i64 timestamp, u8 kind, u8 drain, u32 n, n bytes of location.
 *
 * End of input (every channel END_OF_DATA or END_OF_PARTITION, or the
 * source's END): finish() of each operator, head first (skipped after a
 * stop without drain), END_OF_DATA downstream; with checkpointing, the
 * task then waits, still serving barriers and mails, until a checkpoint
 * taken after its end of input completed (FLIP-147), and until its
 * inputs sent END_OF_PARTITION; then END_OF_PARTITION downstream.
 *
 * Event time (eventtime.c, docs/internals/eventtime.md): watermark and
 * watermark status events go to cf_et_on_event; a drained end of input
 * sends CF_WATERMARK_MAX through the chain before finish(); between
 * buffers / next() calls the loop runs periodic watermark generation and
 * processing-time timers (cf_et_poll) and its waits end at their next
 * deadline. Side outputs: ctx->chained / ctx->writers are the main
 * outputs only, tagged ones are in ctx->side (cf_task_emit_side).
 *
 * Busy, back-pressured and idle time (Flink's TaskIOMetricGroup timers,
 * docs/internals/metrics.md): only the blocking waits are timed, never a
 * record. The loop's waits for a free output buffer and the record
 * writers' waits inside a write (net_record.c) are back-pressured time;
 * its waits with nothing to read (an empty gate, a source that said
 * CF_SOURCE_IDLE, an ended task waiting for its final checkpoint) are
 * idle time; busy time is the rest of the RUNNING wall time. The waits
 * land on the task's cf_net_wait_meter_t, which any thread reads without
 * a lock (cf_task_times); cf_task_rates_feed turns successive readings
 * into Flink's *PerSecond figures.
 */
#include <errno.h>
#include <string.h>

#include "eventtime.h"
#include "netmgr.h"
#include "op_ckpt.h"
#include "snap_writer.h"
#include "task.h"
#include "timers.h"
#include "window.h"

/* ------------------------------------------------------------------ */
/* Record writers                                                      */
/* ------------------------------------------------------------------ */

static int
cf_rw_write(cf_rw_t *w, const cf_record_t *r)
{
    int ch;

    switch (w->partitioner) {
    case CF_PARTITION_HASH: {
        int rc = w->key_fn(w->key_ctx, r, &w->key);
        if (rc < 0)
            return rc;
        ch = cf_keygroup_router_route(
            &w->router, cf_murmur3_32_key(w->key.data, w->key.len));
        break;
    }
    case CF_PARTITION_REBALANCE:
    case CF_PARTITION_RESCALE:
        ch = w->rr;
        if (++w->rr == w->part.n)
            w->rr = 0;
        break;
    case CF_PARTITION_SHUFFLE:
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        ch = (int)(w->rng % (uint64_t)w->part.n);
        break;
    case CF_PARTITION_BROADCAST:
        for (int i = 0; i < w->part.n; i++) {
            int rc = cf_net_partition_write(&w->part, i, r->data, r->len,
                                            r->ts);
            if (rc < 0)
                return rc;
        }
        if (__builtin_expect(w->flush_always, 0))
            cf_net_partition_flush_all(&w->part);
        return 0;
    default: /* FORWARD, GLOBAL: one subpartition */
        ch = 0;
        break;
    }
    if (__builtin_expect(w->flush_always, 0)) {
        int rc = cf_net_partition_write(&w->part, ch, r->data, r->len, r->ts);
        if (rc == 0)
            cf_net_partition_flush(&w->part, ch);
        return rc;
    }
    return cf_net_partition_write(&w->part, ch, r->data, r->len, r->ts);
}

static int
cf_task_outputs_available(cf_task_t *t)
{
    for (int i = 0; i < t->nwriters; i++)
        if (!cf_net_partition_available(&t->writers[i].part))
            return 0;
    return 1;
}

static void
cf_task_flush(cf_task_t *t)
{
    for (int i = 0; i < t->nwriters; i++)
        cf_net_partition_flush_all(&t->writers[i].part);
}

/* ------------------------------------------------------------------ */
/* Operator chain                                                      */
/* ------------------------------------------------------------------ */

/* Name the failing operator when the user function gave no message. */
static int
cf_op_failed(cf_ctx_t *ctx, int rc, const char *what)
{
    cf_task_t *t = ctx->task;
    if (rc == CF_ECANCELED)
        return rc;
    if (!atomic_load(&t->user_failed) && t->failure == NULL)
        t->failure = cf_asprintf("%s of operator '%s' failed (code %d)",
                                 what, ctx->node->name, rc);
    atomic_store(&t->user_failed, 1);
    return rc < 0 ? rc : CF_EUSER;
}

/* Deliver ctx's output record to its successors. Inlined into each
 * operator function, so that every call site predicts its own target. */
static inline int
cf_ctx_push(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    if (ctx->nchained == 1 && ctx->nwriters == 0)
        return ctx->chained[0]->invoke(ctx->chained[0], r);
    if (ctx->nchained == 0 && ctx->nwriters == 1)
        return cf_rw_write(ctx->writers[0], r);
    for (int i = 0; i < ctx->nchained; i++)
        if ((rc = ctx->chained[i]->invoke(ctx->chained[i], r)) < 0)
            return rc;
    for (int i = 0; i < ctx->nwriters; i++)
        if ((rc = cf_rw_write(ctx->writers[i], r)) < 0)
            return rc;
    return 0;
}

int
cf_task_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    cf_record_t r = {data, len, ts};
    return cf_ctx_push(ctx, &r);
}

/* Flink's ctx.output(tag, value): only the outputs made from
 * getSideOutput(tag) of this operator; nobody reads it: dropped. Tags
 * are interned, so the pointer test usually decides. */
int
cf_task_emit_side(cf_ctx_t *ctx, const char *tag, const void *data,
                  uint32_t len, int64_t ts)
{
    cf_record_t r = {data, len, ts};
    int rc;

    if (tag == NULL)
        return cf_fail(ctx, "cf_emit_side() needs a tag (operator '%s')",
                       ctx->node->name);
    for (int i = 0; i < ctx->nside; i++) {
        cf_side_out_t *o = &ctx->side[i];
        if (o->tag != tag && strcmp(o->tag, tag) != 0)
            continue;
        rc = o->chained ? o->chained->invoke(o->chained, &r)
                        : cf_rw_write(o->writer, &r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
cf_op_map(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_record_t out = *r;
    int rc;
    ctx->cur_ts = r->ts;
    rc = ctx->node->fn.map(ctx, r, &out);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "map function");
    return cf_ctx_push(ctx, &out);
}

static int
cf_op_filter(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = ctx->node->fn.filter(ctx, r);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "filter function");
    return rc ? cf_ctx_push(ctx, r) : 0;
}

static int
cf_op_flat_map(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = ctx->node->fn.flat_map(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "flatMap function") : 0;
}

static int
cf_op_process_fn(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = ctx->node->process.process(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "process function") : 0;
}

static int
cf_op_reduce(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_slice_t v;
    int rc;
    ctx->cur_ts = r->ts;
    rc = cf_kstate_reducing_add(ctx->reduce_state, r->data, r->len, r->ts);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "reduce function");
    cf_kstate_reducing_get(ctx->reduce_state, &v);
    cf_record_t out = {v.data, v.len, r->ts};
    return cf_ctx_push(ctx, &out);
}

static int
cf_op_sink(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = ctx->node->sink.invoke(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "sink") : 0;
}

static int
cf_op_sink_2pc(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = cf_op_sink_2pc_invoke(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "sink") : 0;
}

static int
cf_op_window(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc;
    ctx->cur_ts = r->ts;
    rc = cf_winop_invoke(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "window function") : 0;
}

static int
cf_op_timestamps(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = cf_et_timestamps_invoke(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "timestamp assigner") : 0;
}

/* The head of a keyed vertex: select the record's key first. */
static int
cf_op_keyed(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->key_fn(ctx, r, &ctx->key);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "key selector");
    cf_kstate_set_key(ctx->kstate, ctx->key.data, ctx->key.len,
                      cf_murmur3_32_key(ctx->key.data, ctx->key.len));
    return ctx->body(ctx, r);
}

static void
cf_op_bind(cf_ctx_t *ctx)
{
    switch (ctx->node->kind) {
    case CF_OP_MAP: ctx->body = cf_op_map; break;
    case CF_OP_FILTER: ctx->body = cf_op_filter; break;
    case CF_OP_FLAT_MAP: ctx->body = cf_op_flat_map; break;
    case CF_OP_PROCESS: ctx->body = cf_op_process_fn; break;
    case CF_OP_REDUCE: ctx->body = cf_op_reduce; break;
    case CF_OP_SINK: ctx->body = cf_op_sink; break;
    case CF_OP_SINK_2PC: ctx->body = cf_op_sink_2pc; break;
    case CF_OP_SOURCE: ctx->body = NULL; break;
    /* ABI 1.2 (eventtime.c, window.c) */
    case CF_OP_TIMESTAMPS: ctx->body = cf_op_timestamps; break;
    case CF_OP_WINDOW: ctx->body = cf_op_window; break;
    }
    ctx->invoke = ctx->kstate ? cf_op_keyed : ctx->body;
}

static int
cf_op_open(cf_ctx_t *ctx)
{
    cf_snode_t *n = ctx->node;
    cf_open_fn open = n->hooks.open;
    int rc = 0;

    if (n->kind == CF_OP_SOURCE && n->source.open)
        open = n->source.open;
    else if (n->kind == CF_OP_SINK && n->sink.open)
        open = n->sink.open;
    else if (n->kind == CF_OP_SINK_2PC && n->sink2pc.open)
        open = n->sink2pc.open;
    else if (n->kind == CF_OP_PROCESS && n->process.open)
        open = n->process.open;
    if (n->kind == CF_OP_TIMESTAMPS)
        cf_et_timestamps_open(ctx);
    if (n->kind == CF_OP_WINDOW) {
        /* The window operator's open registers its state and calls the
         * user's open; its timers exist first. */
        ctx->opened = 1;
        if ((rc = cf_rt_timers_open(ctx)) < 0 ||
            (rc = cf_winop_open(ctx)) < 0)
            return cf_op_failed(ctx, rc, "open");
        return atomic_load(&ctx->task->user_failed) ? CF_EUSER : 0;
    }
    if (n->kind == CF_OP_PROCESS && n->process.on_timer != NULL &&
        ctx->kstate != NULL) {
        /* Restored timers are rebuilt before the user's open. */
        ctx->opened = 1;
        if ((rc = cf_rt_timers_open(ctx)) < 0)
            return cf_op_failed(ctx, rc, "open");
    }
    if (n->kind == CF_OP_REDUCE) {
        cf_error_t *err = NULL;
        ctx->reduce_state = cf_kstate_register(
            ctx->kstate, "_op_state", CF_STATE_REDUCING, n->fn.reduce, ctx,
            &err);
        if (ctx->reduce_state == NULL) {
            rc = cf_fail(ctx, "%s", cf_error_msg(err));
            cf_error_free(err);
            return rc;
        }
    }
    ctx->opened = 1;
    if (open && (rc = open(ctx)) < 0)
        return cf_op_failed(ctx, rc, "open");
    if (atomic_load(&ctx->task->user_failed))
        return CF_EUSER;
    return 0;
}

static int
cf_op_finish(cf_ctx_t *ctx)
{
    cf_snode_t *n = ctx->node;
    cf_finish_fn fin = n->hooks.finish;
    int rc;

    if (n->kind == CF_OP_SINK && n->sink.finish)
        fin = n->sink.finish;
    else if (n->kind == CF_OP_SINK_2PC && n->sink2pc.finish)
        fin = n->sink2pc.finish;
    else if (n->kind == CF_OP_PROCESS && n->process.finish)
        fin = n->process.finish;
    else if (n->kind == CF_OP_WINDOW)
        fin = cf_winop_finish;
    if (fin && (rc = fin(ctx)) < 0)
        return cf_op_failed(ctx, rc, "finish");
    return 0;
}

static void
cf_op_close(cf_ctx_t *ctx)
{
    cf_snode_t *n = ctx->node;
    cf_close_fn close = n->hooks.close;

    if (!ctx->opened)
        return;
    if (n->kind == CF_OP_SOURCE && n->source.close)
        close = n->source.close;
    else if (n->kind == CF_OP_SINK && n->sink.close)
        close = n->sink.close;
    else if (n->kind == CF_OP_SINK_2PC && n->sink2pc.close)
        close = n->sink2pc.close;
    else if (n->kind == CF_OP_PROCESS && n->process.close)
        close = n->process.close;
    if (n->kind == CF_OP_WINDOW)
        cf_winop_close(ctx);
    else if (close)
        close(ctx);
    if (n->kind == CF_OP_TIMESTAMPS)
        cf_et_timestamps_close(ctx);
    /* The timer service lives on the keyed backend (freed later, with
     * the task). */
    if (ctx->timers != NULL) {
        cf_timers_free(ctx->timers);
        ctx->timers = NULL;
    }
    ctx->opened = 0;
}

/* ------------------------------------------------------------------ */
/* Context functions of the host table                                 */
/* ------------------------------------------------------------------ */

int
cf_task_fail(cf_ctx_t *ctx, const char *fmt, va_list ap)
{
    cf_task_t *t = ctx->task;
    if (t->failure == NULL) {
        char *m = cf_vasprintf(fmt, ap);
        t->failure = m;
    }
    atomic_store(&t->user_failed, 1);
    return CF_ERR;
}

void
cf_task_log(cf_ctx_t *ctx, int level, const char *fmt, va_list ap)
{
    if (level > cf_log_get_level())
        return;
    char *m = cf_vasprintf(fmt, ap);
    cf_log_write(level, "plugin", 0, "%s: %s", ctx->node->name, m);
    cf_free(m);
}

void *
cf_task_udata(cf_ctx_t *ctx)
{
    return ctx->node->udata;
}

void *
cf_task_local(cf_ctx_t *ctx)
{
    return ctx->local;
}

void
cf_task_set_local(cf_ctx_t *ctx, void *local)
{
    ctx->local = local;
}

int
cf_task_subtask_index(cf_ctx_t *ctx)
{
    return ctx->task->subtask;
}

int
cf_task_parallelism(cf_ctx_t *ctx)
{
    return ctx->task->vertex->parallelism;
}

int
cf_task_max_parallelism(cf_ctx_t *ctx)
{
    return ctx->task->vertex->max_parallelism;
}

const char *
cf_task_name(cf_ctx_t *ctx)
{
    return ctx->task->name;
}

void *
cf_task_scratch(cf_ctx_t *ctx, uint32_t size)
{
    if (size > ctx->scratch_cap) {
        ctx->scratch = cf_realloc(ctx->scratch, size);
        ctx->scratch_cap = size;
    }
    return ctx->scratch;
}

int
cf_task_current_key(cf_ctx_t *ctx, cf_slice_t *key)
{
    if (ctx->kstate == NULL) {
        key->data = NULL;
        key->len = 0;
        return 0;
    }
    return cf_kstate_current_key(ctx->kstate, key);
}

const char *
cf_task_config(cf_ctx_t *ctx, const char *key)
{
    return ctx->task->job->cfg ? cf_config_get(ctx->task->job->cfg, key)
                               : NULL;
}

int
cf_task_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap)
{
    return cf_kstate_buf_reserve(buf, cap);
}

static cf_state_t *
cf_task_kstate(cf_ctx_t *ctx, const char *name, cf_state_kind_t kind,
              cf_reduce_fn fn)
{
    cf_error_t *err = NULL;
    cf_state_t *st;

    if (ctx->kstate == NULL) {
        cf_fail(ctx,
                "Keyed state can only be used on a 'keyed stream', i.e., "
                "after a 'keyBy()' operation (state '%s' in operator '%s').",
                name, ctx->node->name);
        return NULL;
    }
    /* The host keeps its own keyed state under these names (timers, window
     * contents): a user state of the same name would corrupt it. */
    if (name != NULL && strncmp(name, "_cflink", 7) == 0) {
        cf_fail(ctx,
                "keyed state name '%s' of operator '%s' is reserved (names "
                "starting with '_cflink')",
                name, ctx->node->name);
        return NULL;
    }
    st = cf_kstate_register(ctx->kstate, name, kind, fn, ctx, &err);
    if (st == NULL) {
        cf_fail(ctx, "%s", cf_error_msg(err));
        cf_error_free(err);
    }
    return st;
}

cf_state_t *
cf_task_state_value(cf_ctx_t *ctx, const char *name)
{
    return cf_task_kstate(ctx, name, CF_STATE_VALUE, NULL);
}

cf_state_t *
cf_task_state_list(cf_ctx_t *ctx, const char *name)
{
    return cf_task_kstate(ctx, name, CF_STATE_LIST, NULL);
}

cf_state_t *
cf_task_state_map(cf_ctx_t *ctx, const char *name)
{
    return cf_task_kstate(ctx, name, CF_STATE_MAP, NULL);
}

cf_state_t *
cf_task_state_reducing(cf_ctx_t *ctx, const char *name, cf_reduce_fn fn)
{
    if (fn == NULL) {
        cf_fail(ctx, "reducing state '%s' needs a reduce function", name);
        return NULL;
    }
    return cf_task_kstate(ctx, name, CF_STATE_REDUCING, fn);
}

/* ------------------------------------------------------------------ */
/* Mailbox                                                             */
/* ------------------------------------------------------------------ */

enum cf_mail_kind_e {
    CF_MAIL_TRIGGER = 1, /* start a checkpoint (source, or inputs ended) */
    CF_MAIL_NOTIFY,      /* checkpoint completed or aborted */
    CF_MAIL_SNAP_DONE,   /* a snapshot's async part ended */
};

typedef struct cf_mail_s {
    int kind;
    int64_t id;
    /* TRIGGER: the barrier (loc owned by the mail) */
    int64_t ts;
    int ckind;
    int drain;
    char *loc;
    /* NOTIFY */
    int aborted;
} cf_mail_t;

/* Append m. Lock held. */
static void
cf_mail_push_locked(cf_task_t *t, const cf_mail_t *m)
{
    if (t->mail_len == t->mail_cap) {
        int ncap = t->mail_cap ? t->mail_cap * 2 : 8;
        cf_mail_t *n = cf_calloc((size_t)ncap, sizeof *n);
        for (int i = 0; i < t->mail_len; i++)
            n[i] = t->mails[(t->mail_head + i) % t->mail_cap];
        cf_free(t->mails);
        t->mails = n;
        t->mail_cap = ncap;
        t->mail_head = 0;
    }
    t->mails[(t->mail_head + t->mail_len) % t->mail_cap] = *m;
    t->mail_len++;
    atomic_store_explicit(&t->nmail, t->mail_len, memory_order_release);
    cf_signal_notify(&t->sig);
}

/* Post m (ownership of m->loc passes on success). Returns -1 when the
 * task thread has ended. Thread: any. */
static int
cf_mail_post(cf_task_t *t, const cf_mail_t *m)
{
    pthread_mutex_lock(&t->mail_mu);
    if (t->mail_closed) {
        pthread_mutex_unlock(&t->mail_mu);
        return -1;
    }
    cf_mail_push_locked(t, m);
    pthread_mutex_unlock(&t->mail_mu);
    return 0;
}

static int
cf_mail_take(cf_task_t *t, cf_mail_t *m)
{
    int got = 0;
    pthread_mutex_lock(&t->mail_mu);
    if (t->mail_len > 0) {
        *m = t->mails[t->mail_head];
        t->mail_head = (t->mail_head + 1) % t->mail_cap;
        t->mail_len--;
        atomic_store_explicit(&t->nmail, t->mail_len, memory_order_release);
        got = 1;
    }
    pthread_mutex_unlock(&t->mail_mu);
    return got;
}

static void
cf_task_decline(cf_task_t *t, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cf_task_decline(cf_task_t *t, int64_t id, const char *fmt, ...)
{
    va_list ap;
    char *m;
    va_start(ap, fmt);
    m = cf_vasprintf(fmt, ap);
    va_end(ap);
    cf_log_info("%s declines checkpoint %lld: %s", t->name, (long long)id,
                m);
    if (t->ckpt_cbs != NULL && t->ckpt_cbs->decline != NULL)
        t->ckpt_cbs->decline(t, id, m, t->cb_arg);
    cf_free(m);
}

void
cf_task_trigger_checkpoint(cf_task_t *t, const cf_barrier_t *b)
{
    cf_mail_t m;
    memset(&m, 0, sizeof m);
    m.kind = CF_MAIL_TRIGGER;
    m.id = b->id;
    m.ts = b->timestamp;
    m.ckind = b->kind;
    m.drain = b->drain;
    m.loc = cf_strdup(b->location ? b->location : "");
    if (cf_mail_post(t, &m) < 0) {
        cf_free(m.loc);
        cf_task_decline(t, b->id, "Task %s is not running (%s).", t->name,
                        cf_exec_state_name(cf_task_state(t)));
    }
}

void
cf_task_notify_checkpoint(cf_task_t *t, int64_t id, int aborted)
{
    cf_mail_t m;
    memset(&m, 0, sizeof m);
    m.kind = CF_MAIL_NOTIFY;
    m.id = id;
    m.aborted = aborted != 0;
    (void)cf_mail_post(t, &m);
}

void
cf_task_ack_free(cf_task_ack_t *ack)
{
    if (ack == NULL)
        return;
    for (int i = 0; i < ack->nops; i++)
        cf_free(ack->handles ? ack->handles[i].path : NULL);
    cf_free(ack->handles);
    cf_free(ack->op_ids);
    cf_free(ack);
}

/* ------------------------------------------------------------------ */
/* Barriers on the wire                                                */
/* ------------------------------------------------------------------ */

#define CF_BARRIER_VERSION 1
#define CF_BARRIER_FIXED 23 /* version, id, ts, kind, drain, u32 len */

static void
cf_put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
cf_get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The event payload of b (see net.h); *len set. */
static uint8_t *
cf_barrier_encode(const cf_barrier_t *b, uint32_t *len)
{
    size_t n = b->location ? strlen(b->location) : 0;
    uint8_t *p = cf_malloc(CF_BARRIER_FIXED + n);
    p[0] = CF_BARRIER_VERSION;
    cf_put64le(p + 1, (uint64_t)b->id);
    cf_put64le(p + 9, (uint64_t)b->timestamp);
    p[17] = (uint8_t)b->kind;
    p[18] = (uint8_t)(b->drain != 0);
    for (int i = 0; i < 4; i++)
        p[19 + i] = (uint8_t)((uint32_t)n >> (8 * i));
    if (n > 0)
        memcpy(p + CF_BARRIER_FIXED, b->location, n);
    *len = (uint32_t)(CF_BARRIER_FIXED + n);
    return p;
}

/* Decode an untrusted payload; b->location allocated. 0 or CF_EINVAL. */
static int
cf_barrier_decode(const uint8_t *p, uint32_t len, cf_barrier_t *b)
{
    uint32_t n = 0;
    if (len < CF_BARRIER_FIXED || p[0] != CF_BARRIER_VERSION)
        return CF_EINVAL;
    for (int i = 0; i < 4; i++)
        n |= (uint32_t)p[19 + i] << (8 * i);
    if (n != len - CF_BARRIER_FIXED || p[17] > CF_CKPT_KIND_SYNC_SAVEPOINT)
        return CF_EINVAL;
    b->id = (int64_t)cf_get64le(p + 1);
    b->timestamp = (int64_t)cf_get64le(p + 9);
    b->kind = p[17];
    b->drain = p[18] != 0;
    if (b->id <= 0)
        return CF_EINVAL;
    b->location = cf_strndup((const char *)p + CF_BARRIER_FIXED, n);
    return 0;
}

static int
cf_task_broadcast(cf_task_t *t, uint16_t ev, const void *pl, uint32_t len)
{
    int rc;
    for (int i = 0; i < t->nwriters; i++)
        if ((rc = cf_net_partition_broadcast_event(&t->writers[i].part, ev,
                                                   pl, len)) < 0)
            return rc;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

/* The asynchronous part of one checkpoint at one task. */
typedef struct cf_snap_job_s {
    cf_task_t *t;
    int64_t id;
    char *loc;
    int compress;
    int n;                /* operators with state */
    cf_op_snap_t **snaps; /* n */
    cf_id_t *op_ids;      /* n */
    int64_t sync_ms, align_ms;
    uint64_t processed;
    int finished;
    int64_t start_ns;
} cf_snap_job_t;

static uint64_t
cf_task_bytes_in(const cf_task_t *t)
{
    uint64_t n = 0;
    for (int c = 0; c < t->nchannels; c++)
        n += t->readers[c].bytes_in;
    return n;
}

/* Thread: a snapshot writer (or the task's, when no writer starts). */
static void
cf_snap_job_run(void *arg)
{
    cf_snap_job_t *j = arg;
    cf_task_t *t = j->t;
    cf_task_ack_t *ack = CF_NEW(cf_task_ack_t);
    char *why = NULL;

    ack->checkpoint_id = j->id;
    ack->op_ids = cf_calloc((size_t)j->n + 1, sizeof(cf_id_t));
    ack->handles = cf_calloc((size_t)j->n + 1, sizeof(cf_state_handle_t));
    for (int i = 0; i < j->n && why == NULL; i++) {
        cf_error_t *err = NULL;
        if (atomic_load(&t->cancel)) {
            why = cf_asprintf("Task %s was canceled.", t->name);
            break;
        }
        if (cf_op_snapshot_write(j->snaps[i], j->loc, j->compress,
                                 &ack->handles[i], &err) < 0) {
            why = cf_asprintf("Could not write the state of task %s into "
                              "%s: %s",
                              t->name, j->loc,
                              err ? cf_error_msg(err) : "unknown error");
            cf_error_free(err);
            break;
        }
        ack->op_ids[i] = j->op_ids[i];
        ack->nops = i + 1;
        ack->state_size += ack->handles[i].size;
    }
    for (int i = 0; i < j->n; i++)
        cf_op_snapshot_free(j->snaps[i]);
    if (why == NULL) {
        ack->sync_ms = j->sync_ms;
        ack->alignment_ms = j->align_ms;
        ack->async_ms = (cf_mono_ns() - j->start_ns) / 1000000;
        ack->processed_data = j->processed;
        ack->finished = j->finished;
        cf_log_debug("%s: checkpoint %lld written (%d operators, %llu "
                     "bytes, sync %lld ms, async %lld ms).",
                     t->name, (long long)j->id, ack->nops,
                     (unsigned long long)ack->state_size,
                     (long long)ack->sync_ms, (long long)ack->async_ms);
        if (t->ckpt_cbs != NULL && t->ckpt_cbs->ack != NULL)
            t->ckpt_cbs->ack(t, ack, t->cb_arg);
        else
            cf_task_ack_free(ack);
    } else {
        cf_task_ack_free(ack);
        cf_task_decline(t, j->id, "%s", why);
        cf_free(why);
    }
    cf_free(j->snaps);
    cf_free(j->op_ids);
    cf_free(j->loc);
    cf_free(j);
    /* Tell the task (it maintains its keyed backends, and waits for the
     * last of these at its end); t may go right after the unlock. */
    pthread_mutex_lock(&t->mail_mu);
    if (!t->mail_closed) {
        cf_mail_t m;
        memset(&m, 0, sizeof m);
        m.kind = CF_MAIL_SNAP_DONE;
        cf_mail_push_locked(t, &m);
    }
    atomic_fetch_sub(&t->snap_inflight, 1);
    cf_signal_notify(&t->sig);
    pthread_mutex_unlock(&t->mail_mu);
}

/* Checkpoint b at this task: the synchronous part of every operator,
 * the barrier downstream, the asynchronous part to a writer. Returns 0
 * or a negative code that fails the task. */
static int
cf_task_checkpoint(cf_task_t *t, const cf_barrier_t *b, int64_t align_ms,
                   uint64_t processed)
{
    int64_t t0 = cf_mono_ns();
    cf_op_snap_t **snaps = cf_calloc((size_t)t->nctxs, sizeof *snaps);
    cf_snap_job_t *j;
    uint8_t *pl;
    uint32_t plen;
    int rc = 0, failed = -1, n = 0;

    if (b->id > t->last_barrier_id)
        t->last_barrier_id = b->id;
    for (int i = 0; i < t->nctxs; i++) {
        if ((rc = cf_op_snapshot_sync(&t->ctxs[i], b->id, &snaps[i])) < 0) {
            failed = i;
            break;
        }
        n += snaps[i] != NULL;
    }
    /* The barrier goes on even when this task declines: downstream
     * tasks stay aligned, and the coordinator aborts the checkpoint. */
    pl = cf_barrier_encode(b, &plen);
    rc = cf_task_broadcast(t, CF_NET_EV_BARRIER, pl, plen);
    cf_free(pl);
    if (t->input_ended && t->final_id == 0)
        t->final_id = b->id;
    if (b->kind == CF_CKPT_KIND_SYNC_SAVEPOINT)
        t->last_sync_sp = b->id;
    if (failed >= 0) {
        for (int i = 0; i < t->nctxs; i++)
            cf_op_snapshot_free(snaps[i]);
        cf_free(snaps);
        cf_task_decline(t, b->id,
                        "The snapshot of operator '%s' of task %s failed%s%s",
                        t->ctxs[failed].node->name, t->name,
                        t->failure ? ": " : ".",
                        t->failure ? t->failure : "");
        return atomic_load(&t->user_failed) ? CF_EUSER : rc;
    }
    if (rc < 0) { /* canceled while shipping the barrier */
        for (int i = 0; i < t->nctxs; i++)
            cf_op_snapshot_free(snaps[i]);
        cf_free(snaps);
        return rc;
    }
    j = CF_NEW(cf_snap_job_t);
    j->t = t;
    j->id = b->id;
    j->loc = cf_strdup(b->location ? b->location : "");
    j->compress = t->compress;
    j->snaps = cf_calloc((size_t)n + 1, sizeof *j->snaps);
    j->op_ids = cf_calloc((size_t)n + 1, sizeof *j->op_ids);
    for (int i = 0; i < t->nctxs; i++) {
        if (snaps[i] == NULL)
            continue;
        j->snaps[j->n] = snaps[i];
        j->op_ids[j->n] = t->ctxs[i].node->op_id;
        j->n++;
    }
    cf_free(snaps);
    j->align_ms = align_ms;
    j->processed = processed;
    j->finished = t->input_ended;
    j->start_ns = cf_mono_ns();
    j->sync_ms = (j->start_ns - t0) / 1000000;
    atomic_fetch_add(&t->snap_inflight, 1);
    if (cf_snap_writer_submit(cf_snap_job_run, j) < 0)
        cf_snap_job_run(j); /* no writer thread: write it here */
    return 0;
}

/* ------------------------------------------------------------------ */
/* End of input                                                        */
/* ------------------------------------------------------------------ */

/* The input ended (all channels END_OF_DATA / END_OF_PARTITION, the
 * source returned END, or a stop-with-savepoint): finish the operators
 * (unless stopped without drain or finished on restore), commit a 2PC
 * sink's last transaction without checkpointing, END_OF_DATA
 * downstream. The task then still serves barriers and mails until it
 * may finish (cf_task_may_finish). */
static int
cf_task_end_input(cf_task_t *t, int drain)
{
    uint8_t d = (uint8_t)(drain != 0);
    int rc;

    if (t->input_ended)
        return 0;
    t->input_ended = 1;
    if (!drain)
        t->eod_nodrain = 1;
    /* The end of event time first, as Flink's MAX_WATERMARK at the end
     * of input: every event-time timer and window fires before finish.
     * Not after a stop without drain (the job resumes from the
     * savepoint). */
    if (drain && !t->finished_on_restore &&
        (rc = cf_et_end_of_input(t)) < 0)
        return rc;
    if (atomic_load(&t->user_failed))
        return CF_EUSER;
    for (int i = 0; i < t->nctxs && drain && !t->finished_on_restore; i++)
        if ((rc = cf_op_finish(&t->ctxs[i])) < 0)
            return rc;
    if (atomic_load(&t->user_failed))
        return CF_EUSER;
    for (int i = 0; i < t->nctxs && !t->ckpt_on; i++)
        if ((rc = cf_op_ckpt_end_input(&t->ctxs[i])) < 0)
            return cf_op_failed(&t->ctxs[i], rc, "commit at end of input");
    if (atomic_load(&t->user_failed))
        return CF_EUSER;
    return cf_task_broadcast(t, CF_NET_EV_END_OF_DATA, &d, 1);
}

/* Whether the task may send END_OF_PARTITION and finish. */
static int
cf_task_may_finish(const cf_task_t *t)
{
    if (!t->input_ended)
        return 0;
    if (t->gate != NULL && t->live_channels > 0)
        return 0; /* upstream still sends barriers, then ends */
    /* A stop-with-savepoint finishes once its savepoint completed. */
    if (t->last_sync_sp > 0 && t->last_completed < t->last_sync_sp)
        return 0;
    if (t->eod_nodrain || !t->ckpt_on)
        return 1;
    /* FLIP-147: a checkpoint taken after the end of input completed. */
    return t->final_id > 0 && t->last_completed >= t->final_id;
}

/* ------------------------------------------------------------------ */
/* Barrier alignment                                                   */
/* ------------------------------------------------------------------ */

static void
cf_task_align_reset(cf_task_t *t)
{
    if (t->exactly_once && t->gate != NULL)
        cf_net_gate_unblock_all(t->gate);
    if (t->align_seen != NULL)
        memset(t->align_seen, 0, (size_t)t->nchannels);
    t->align_nseen = 0;
    t->align_id = 0;
    cf_free(t->align_loc);
    t->align_loc = NULL;
}

/* The pending alignment is complete when every channel delivered its
 * barrier or has ended (END_OF_PARTITION). */
static int
cf_task_align_check(cf_task_t *t)
{
    cf_barrier_t b;
    int64_t align_ms;
    uint64_t processed;
    int rc;

    if (t->align_id == 0)
        return 0;
    for (int c = 0; c < t->nchannels; c++)
        if (!t->align_seen[c] && t->ch_end[c] != 2)
            return 0;
    align_ms = (cf_mono_ns() - t->align_start_ns) / 1000000;
    processed = cf_task_bytes_in(t) - t->align_bytes0;
    b.id = t->align_id;
    b.timestamp = t->align_ts;
    b.kind = t->align_kind;
    b.drain = t->align_drain;
    b.location = t->align_loc;
    t->align_loc = NULL;
    cf_task_align_reset(t);
    rc = cf_task_checkpoint(t, &b, align_ms, processed);
    cf_free((char *)b.location);
    return rc;
}

static void
cf_task_align_abort(cf_task_t *t, const char *why)
{
    if (t->align_id == 0)
        return;
    if (why != NULL)
        cf_task_decline(t, t->align_id, "%s", why);
    if (t->align_id > t->last_barrier_id)
        t->last_barrier_id = t->align_id;
    cf_task_align_reset(t);
}

/* Barrier b (location owned by the caller) on channel ch. */
static int
cf_task_on_barrier(cf_task_t *t, int ch, const cf_barrier_t *b)
{
    if (b->id <= t->last_barrier_id)
        return 0; /* of a checkpoint already taken or aborted */
    if (t->align_id != 0 && b->id < t->align_id)
        return 0;
    if (t->align_id != 0 && b->id > t->align_id) {
        char *why = cf_asprintf(
            "Checkpoint %lld was subsumed at task %s by checkpoint %lld "
            "before its barriers were aligned.",
            (long long)t->align_id, t->name, (long long)b->id);
        cf_task_align_abort(t, why);
        cf_free(why);
    }
    if (t->align_id == 0) {
        t->align_id = b->id;
        t->align_ts = b->timestamp;
        t->align_kind = b->kind;
        t->align_drain = b->drain;
        t->align_loc = cf_strdup(b->location);
        t->align_start_ns = cf_mono_ns();
        t->align_bytes0 = cf_task_bytes_in(t);
    }
    if (!t->align_seen[ch]) {
        t->align_seen[ch] = 1;
        t->align_nseen++;
        if (t->exactly_once)
            cf_net_gate_block(t->gate, ch);
    }
    return cf_task_align_check(t);
}

/* ------------------------------------------------------------------ */
/* Mail handling                                                       */
/* ------------------------------------------------------------------ */

/* Act on a trigger (m->loc is consumed). */
static int
cf_task_on_trigger(cf_task_t *t, cf_mail_t *m)
{
    cf_barrier_t b;
    int rc = 0;

    if (m->id <= t->last_barrier_id ||
        (t->deferred != NULL && m->id <= t->deferred->id)) {
        cf_task_decline(t, m->id,
                        "Task %s has already handled checkpoint %lld.",
                        t->name, (long long)t->last_barrier_id);
        cf_free(m->loc);
        return 0;
    }
    if (t->gate != NULL && t->live_channels > 0) {
        /* Inputs still open: the barrier will come through them, or the
         * trigger acts when they have all ended. */
        if (t->deferred != NULL) {
            cf_task_decline(t, t->deferred->id,
                            "Checkpoint %lld was subsumed by checkpoint "
                            "%lld at task %s.",
                            (long long)t->deferred->id, (long long)m->id,
                            t->name);
            cf_free(t->deferred->loc);
        } else {
            t->deferred = CF_NEW(cf_mail_t);
        }
        *t->deferred = *m;
        return 0;
    }
    b.id = m->id;
    b.timestamp = m->ts;
    b.kind = m->ckind;
    b.drain = m->drain;
    b.location = m->loc;
    if (b.kind == CF_CKPT_KIND_SYNC_SAVEPOINT && !t->input_ended) {
        /* Stop-with-savepoint at a source. --drain: end the input
         * first, the savepoint is the final checkpoint; else snapshot
         * now, then stop emitting until the savepoint's notification. */
        if (b.drain) {
            rc = cf_task_end_input(t, 1);
            if (rc == 0)
                rc = cf_task_checkpoint(t, &b, 0, 0);
        } else {
            rc = cf_task_checkpoint(t, &b, 0, 0);
            t->stop_nodrain = rc == 0 && t->last_sync_sp == b.id;
        }
    } else {
        rc = cf_task_checkpoint(t, &b, 0, 0);
    }
    cf_free(m->loc);
    return rc;
}

/* The last input channel ended: a deferred trigger acts now. */
static int
cf_task_run_deferred(cf_task_t *t)
{
    cf_mail_t *d = t->deferred;
    int rc;
    if (d == NULL || t->live_channels > 0)
        return 0;
    t->deferred = NULL;
    if (d->id <= t->last_barrier_id) { /* its barrier came through */
        cf_free(d->loc);
        cf_free(d);
        return 0;
    }
    rc = cf_task_on_trigger(t, d);
    cf_free(d);
    return rc;
}

static int
cf_task_on_notify(cf_task_t *t, int64_t id, int aborted)
{
    int rc;
    if (aborted) {
        for (int i = 0; i < t->nctxs; i++)
            cf_op_notify_aborted(&t->ctxs[i], id);
        if (t->align_id == id)
            cf_task_align_abort(t, NULL);
        if (t->deferred != NULL && t->deferred->id == id) {
            cf_free(t->deferred->loc);
            cf_free(t->deferred);
            t->deferred = NULL;
        }
        if (t->last_sync_sp == id) {
            /* The stop failed: the job goes on. */
            t->last_sync_sp = 0;
            t->stop_nodrain = 0;
        }
        return 0;
    }
    for (int i = 0; i < t->nctxs; i++)
        if ((rc = cf_op_notify_complete(&t->ctxs[i], id)) < 0)
            return cf_op_failed(&t->ctxs[i], rc,
                                "notifyCheckpointComplete");
    if (atomic_load(&t->user_failed))
        return CF_EUSER;
    if (id > t->last_completed)
        t->last_completed = id;
    if (t->stop_nodrain && t->last_completed >= t->last_sync_sp)
        return cf_task_end_input(t, 0);
    return 0;
}

/* Drain the mailbox. Task thread. */
static int
cf_task_mail(cf_task_t *t)
{
    cf_mail_t m;
    int rc = 0;

    while (rc == 0 && cf_mail_take(t, &m)) {
        switch (m.kind) {
        case CF_MAIL_TRIGGER: rc = cf_task_on_trigger(t, &m); break;
        case CF_MAIL_NOTIFY: rc = cf_task_on_notify(t, m.id, m.aborted); break;
        case CF_MAIL_SNAP_DONE: t->kstate_dirty = 1; break;
        default: break;
        }
    }
    if (t->kstate_dirty) {
        /* Reclamation is bounded per call: stay dirty while a backend
         * has more to free. */
        t->kstate_dirty = 0;
        for (int i = 0; i < t->nctxs; i++)
            if (t->ctxs[i].kstate != NULL)
                t->kstate_dirty |=
                    cf_kstate_backend_maintain(t->ctxs[i].kstate);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Task lifecycle                                                      */
/* ------------------------------------------------------------------ */

/* The tag of the edge from src to its chained successor dst (which has
 * that one input), or NULL. */
static const char *
cf_task_edge_tag(const cf_snode_t *src, const cf_snode_t *dst)
{
    for (int i = 0; i < dst->nin; i++)
        if (dst->in[i].src == src->id)
            return dst->in[i].tag;
    return NULL;
}

cf_task_t *
cf_task_new(cf_exec_t *exec, cf_job_t *job, int vertex_idx, int subtask,
            int attempt, int nchannels, int64_t flush_ns)
{
    cf_task_t *t = CF_NEW(cf_task_t);
    cf_jvertex_t *v = &job->vertices[vertex_idx];

    t->exec = exec;
    t->job = job;
    t->vertex = v;
    t->vertex_idx = vertex_idx;
    t->subtask = subtask;
    t->attempt = attempt;
    t->name = cf_asprintf("%s (%d/%d)#%d", v->name, subtask + 1,
                          v->parallelism, attempt);
    atomic_init(&t->connected, 0);
    cf_signal_init(&t->sig);
    atomic_init(&t->cancel, 0);
    atomic_init(&t->state, CF_EXEC_CREATED);
    atomic_init(&t->user_failed, 0);
    pthread_mutex_init(&t->mail_mu, NULL);
    atomic_init(&t->nmail, 0);
    atomic_init(&t->snap_inflight, 0);
    t->flush_interval_ns = flush_ns;

    t->nctxs = v->nops;
    t->ctxs = cf_calloc((size_t)v->nops, sizeof(cf_ctx_t));
    for (int i = 0; i < v->nops; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        c->api = &cf_host_api;
        c->task = t;
        c->node = cf_env_node(job->env, v->ops[i].node);
        /* Outputs are split: main ones (chained, writers) and side ones
         * (tagged edges), filled below. */
        c->chained = cf_calloc((size_t)v->ops[i].nchained + 1,
                               sizeof(cf_ctx_t *));
        c->writers = cf_calloc((size_t)v->ops[i].noutputs + 1,
                               sizeof(cf_rw_t *));
        c->side = cf_calloc(
            (size_t)(v->ops[i].nchained + v->ops[i].noutputs) + 1,
            sizeof(cf_side_out_t));
        if (c->node->keyed && i == 0) {
            int lo, hi;
            cf_keygroup_range(v->max_parallelism, v->parallelism, subtask,
                              &lo, &hi);
            c->kstate = cf_kstate_backend_new(&cf_host_api,
                                              v->max_parallelism, lo, hi);
        }
        cf_op_bind(c);
    }
    t->nwriters = v->nouts;
    t->writers = cf_calloc((size_t)t->nwriters + 1, sizeof(cf_rw_t));
    t->pools = cf_calloc((size_t)t->nwriters + 1, sizeof(cf_net_pool_t *));
    for (int i = 0; i < v->nops; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        for (int k = 0; k < v->ops[i].nchained; k++) {
            cf_ctx_t *d = &t->ctxs[v->ops[i].chained[k]];
            const char *tag = cf_task_edge_tag(c->node, d->node);
            if (tag == NULL)
                c->chained[c->nchained++] = d;
            else
                c->side[c->nside++] = (cf_side_out_t){tag, d, NULL};
        }
        for (int k = 0; k < v->ops[i].noutputs; k++) {
            cf_jout_t *o = &v->outs[v->ops[i].outputs[k]];
            cf_rw_t *w = &t->writers[v->ops[i].outputs[k]];
            const char *tag = o->edge >= 0 && o->edge < job->env->nedges
                                  ? job->env->edges[o->edge].tag
                                  : NULL;
            if (tag == NULL)
                c->writers[c->nwriters++] = w;
            else
                c->side[c->nside++] = (cf_side_out_t){tag, NULL, w};
        }
    }
    if (nchannels > 0) {
        t->nchannels = nchannels;
        t->live_channels = nchannels;
        t->gate = cf_net_gate_new(nchannels, &t->sig);
        t->readers = cf_calloc((size_t)nchannels, sizeof(cf_net_reader_t));
        for (int i = 0; i < nchannels; i++)
            cf_net_reader_init(&t->readers[i]);
        t->ch_end = cf_calloc((size_t)nchannels, 1);
        t->align_seen = cf_calloc((size_t)nchannels, 1);
    }
    cf_et_task_init(t);
    return t;
}

static void
cf_task_restore_free(cf_task_restore_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->nops; i++) {
        for (int h = 0; h < r->ops[i].nhandles; h++)
            cf_free(r->ops[i].handles[h].path);
        cf_free(r->ops[i].handles);
    }
    cf_free(r->ops);
    cf_free(r);
}

/* A deep copy of r (cf_task_deploy). */
cf_task_restore_t *
cf_task_restore_copy(const cf_task_restore_t *r)
{
    cf_task_restore_t *c;
    if (r == NULL)
        return NULL;
    c = CF_NEW(cf_task_restore_t);
    c->checkpoint_id = r->checkpoint_id;
    c->nops = r->nops > 0 ? r->nops : 0;
    c->ops = cf_calloc((size_t)c->nops + 1, sizeof(cf_op_restore_t));
    for (int i = 0; i < c->nops; i++) {
        const cf_op_restore_t *o = &r->ops[i];
        cf_op_restore_t *d = &c->ops[i];
        *d = *o;
        d->nhandles = o->nhandles > 0 ? o->nhandles : 0;
        d->handles =
            cf_calloc((size_t)d->nhandles + 1, sizeof(cf_state_handle_t));
        for (int h = 0; h < d->nhandles; h++) {
            d->handles[h] = o->handles[h];
            d->handles[h].path = cf_strdup(o->handles[h].path
                                               ? o->handles[h].path
                                               : "");
        }
    }
    return c;
}

/* Release what consumers and producers share first (gates, writers),
 * then pools: exec.c calls this in two phases through the flags. */
void
cf_task_destroy(cf_task_t *t)
{
    cf_mail_t m;
    if (t == NULL)
        return;
    for (int i = 0; i < t->nctxs; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        cf_free(c->chained);
        cf_free(c->writers);
        cf_free(c->side);
        cf_free(c->scratch);
        cf_kstate_backend_destroy(c->kstate);
    }
    cf_et_task_free(t);
    cf_free(t->ctxs);
    for (int i = 0; i < t->nwriters; i++)
        cf_net_pool_destroy(t->pools[i]);
    cf_free(t->pools);
    cf_free(t->writers);
    cf_free(t->readers);
    /* Mails of a task that never ran. */
    while (cf_mail_take(t, &m))
        cf_free(m.loc);
    cf_free(t->mails);
    pthread_mutex_destroy(&t->mail_mu);
    if (t->deferred != NULL) {
        cf_free(t->deferred->loc);
        cf_free(t->deferred);
    }
    cf_free(t->align_loc);
    cf_free(t->align_seen);
    cf_free(t->ch_end);
    cf_task_restore_free(t->restore);
    cf_signal_deinit(&t->sig);
    cf_free(t->failure);
    cf_free(t->name);
    cf_free(t);
}

void
cf_task_cancel(cf_task_t *t)
{
    atomic_store(&t->cancel, 1);
    cf_signal_notify(&t->sig);
}

void
cf_task_transition(cf_task_t *t, cf_exec_state_t to)
{
    cf_exec_state_t from = (cf_exec_state_t)atomic_load(&t->state);
    if (from == to)
        return;
    if (!cf_exec_state_can_move(from, to)) {
        cf_log_warn("%s: illegal state transition %s -> %s ignored", t->name,
                    cf_exec_state_name(from), cf_exec_state_name(to));
        return;
    }
    atomic_store(&t->state, to);
    cf_log_info("%s switched from %s to %s.", t->name,
                cf_exec_state_name(from), cf_exec_state_name(to));
    if (t->exec != NULL)
        cf_exec_task_changed(t->exec, t);
    if (t->state_cb != NULL)
        t->state_cb(t, to, to == CF_EXEC_FAILED ? t->failure : NULL,
                    t->cb_arg);
}

static void
cf_task_maybe_flush_at(cf_task_t *t, int64_t now)
{
    if (t->flush_interval_ns < 0)
        return;
    if (now >= t->next_flush_ns) {
        cf_task_flush(t);
        t->next_flush_ns = now + t->flush_interval_ns;
    }
}

static void
cf_task_maybe_flush(cf_task_t *t)
{
    if (t->flush_interval_ns >= 0)
        cf_task_maybe_flush_at(t, cf_mono_ns());
}

/* Wait for anything (input, buffers, mail, cancellation) or the flush
 * deadline; at most max_ns. The wait is metered as kind
 * (CF_NET_WAIT_BACKPRESSURE: no free output buffer; CF_NET_WAIT_IDLE:
 * nothing to read or emit) when the task measures its times: the clock
 * read for the deadline is the wait's start, one more read ends it. */
static void
cf_task_wait(cf_task_t *t, uint64_t *seen, int64_t max_ns, int kind)
{
    int64_t now = cf_mono_ns(), deadline = now + max_ns, tok = 0;
    if (t->flush_interval_ns >= 0 && t->next_flush_ns < deadline)
        deadline = t->next_flush_ns;
    if (t->et_poll && !t->input_ended && t->et_wake_ns < deadline)
        deadline = t->et_wake_ns; /* periodic watermarks, timers */
    if (t->times_on)
        tok = cf_net_meter_begin_at(&t->meter, kind, now);
    cf_signal_wait(&t->sig, seen, deadline);
    /* One clock read after the wait, for the meter and the flush. */
    if (tok != 0 || t->flush_interval_ns >= 0) {
        now = cf_mono_ns();
        cf_net_meter_end_at(&t->meter, tok, now);
        cf_task_maybe_flush_at(t, now);
    }
}

/* ------------------------------------------------------------------ */
/* Busy, back-pressured and idle time                                  */
/* ------------------------------------------------------------------ */

/* On unless a benchmark turned it off: one relaxed load per task. */
static atomic_int cf_task_times_switch = 1;

void
cf_runtime_task_times_enable(int on)
{
    atomic_store_explicit(&cf_task_times_switch, on != 0,
                          memory_order_relaxed);
}

int
cf_runtime_task_times_enabled(void)
{
    return atomic_load_explicit(&cf_task_times_switch, memory_order_relaxed);
}

static _Atomic uint64_t cf_task_metered_waits;

uint64_t
cf_runtime_task_times_waits(void)
{
    return atomic_load_explicit(&cf_task_metered_waits, memory_order_relaxed);
}

/* The task is about to run its loop: meter its waits from now on, the
 * record writers' waits for buffers included (their partitions were set
 * up before the thread started and belong to it from here). */
static void
cf_task_times_start(cf_task_t *t)
{
    t->times_on = cf_runtime_task_times_enabled();
    for (int i = 0; i < t->nwriters; i++)
        t->writers[i].part.meter = t->times_on ? &t->meter : NULL;
    atomic_store_explicit(&t->run_start_ns, cf_mono_ns(),
                          memory_order_release);
}

int
cf_task_times(const cf_task_t *t, cf_task_times_t *out)
{
    int64_t ns[CF_NET_WAIT_NKINDS], start, end, now, wall, busy;

    memset(out, 0, sizeof *out);
    start = atomic_load_explicit(&((cf_task_t *)t)->run_start_ns,
                                 memory_order_acquire);
    if (start == 0 || !t->times_on)
        return 0;
    /* The waits first, then the end: a wait ends before run_end_ns is
     * set, and now is taken after the waits' snapshot, so no wait is
     * counted beyond the wall time it is part of. */
    cf_net_meter_read(&t->meter, ns, &now);
    end = atomic_load_explicit(&((cf_task_t *)t)->run_end_ns,
                               memory_order_acquire);
    wall = (end != 0 ? end : now) - start;
    if (wall < 0)
        wall = 0;
    for (int k = 0; k < CF_NET_WAIT_NKINDS; k++)
        if (ns[k] > wall) /* a wait that outlived the run (its end) */
            ns[k] = wall;
    busy = wall - ns[CF_NET_WAIT_BACKPRESSURE] - ns[CF_NET_WAIT_IDLE];
    if (busy < 0)
        busy = 0;
    out->busy_ms = (uint64_t)(busy / 1000000);
    out->back_pressured_ms =
        (uint64_t)(ns[CF_NET_WAIT_BACKPRESSURE] / 1000000);
    out->idle_ms = (uint64_t)(ns[CF_NET_WAIT_IDLE] / 1000000);
    return 1;
}

void
cf_task_rates_reset(cf_task_rates_t *r)
{
    memset(r, 0, sizeof *r);
}

static double
cf_task_rate_clamp(double v, double max)
{
    if (!(v > 0)) /* negative or NaN */
        return 0;
    return v > max ? max : v;
}

void
cf_task_rates_feed(cf_task_rates_t *r, const cf_task_sample_t *s,
                   int64_t window_ms)
{
    const cf_task_sample_t *o = &r->kept;
    int64_t dt;
    int times;

    if (!r->has_kept) {
        r->kept = *s;
        r->has_kept = 1;
        return;
    }
    /* The first reading with times (an earlier one, before RUNNING, had
     * none): start the window there, or the time rates would read 0 for
     * a whole window. */
    if (s->has_times && !o->has_times) {
        r->kept = *s;
        return;
    }
    times = s->has_times && o->has_times;
    if (times)
        dt = (int64_t)((s->times.busy_ms + s->times.back_pressured_ms +
                        s->times.idle_ms) -
                       (o->times.busy_ms + o->times.back_pressured_ms +
                        o->times.idle_ms));
    else
        dt = s->t_ms - o->t_ms;
    if (dt < window_ms || dt <= 0)
        return; /* keep the older sample: a window of at least window_ms */
    for (int k = 0; k < 4; k++)
        r->rate[CF_RATE_RECORDS_IN + k] = cf_task_rate_clamp(
            (double)(s->counts[k] - o->counts[k]) * 1000.0 / (double)dt,
            1e300);
    if (times) {
        r->rate[CF_RATE_BACKPRESSURED] = cf_task_rate_clamp(
            (double)(int64_t)(s->times.back_pressured_ms -
                              o->times.back_pressured_ms) *
                1000.0 / (double)dt,
            1000.0);
        r->rate[CF_RATE_IDLE] = cf_task_rate_clamp(
            (double)(int64_t)(s->times.idle_ms - o->times.idle_ms) * 1000.0 /
                (double)dt,
            1000.0);
        /* Flink's TaskIOMetricGroup: busy is what the other two leave of
         * the second, so the three add up to 1000. */
        r->rate[CF_RATE_BUSY] = cf_task_rate_clamp(
            1000.0 - r->rate[CF_RATE_BACKPRESSURED] - r->rate[CF_RATE_IDLE],
            1000.0);
    } else {
        r->rate[CF_RATE_BUSY] = r->rate[CF_RATE_BACKPRESSURED] =
            r->rate[CF_RATE_IDLE] = 0;
    }
    r->valid = 1;
    r->kept = *s;
}

/* Whether something needs the loop's attention now (read after taking
 * the signal count, before sleeping). */
static int
cf_task_idle(cf_task_t *t)
{
    return !atomic_load(&t->cancel) &&
           atomic_load_explicit(&t->nmail, memory_order_acquire) == 0;
}

/* Returns 1 when the task may finish, 0 when cancelled, negative on
 * failure. Between next() calls: mails (checkpoint triggers,
 * notifications). */
static int
cf_task_run_source(cf_task_t *t)
{
    cf_ctx_t *head = &t->ctxs[0];
    uint64_t seen = 0;
    int rc;

    for (;;) {
        if (atomic_load(&t->cancel))
            return 0;
        if ((atomic_load_explicit(&t->nmail, memory_order_relaxed) ||
             t->kstate_dirty) &&
            (rc = cf_task_mail(t)) < 0)
            return rc;
        if (t->input_ended || t->stop_nodrain) {
            /* Ended (waiting for the final checkpoint), or stopped at a
             * savepoint without drain (waiting for its notification). */
            if (cf_task_may_finish(t))
                return 1;
            seen = cf_signal_count(&t->sig);
            if (cf_task_idle(t))
                cf_task_wait(t, &seen, 100 * 1000000LL, CF_NET_WAIT_IDLE);
            continue;
        }
        if (t->finished_on_restore) {
            if ((rc = cf_task_end_input(t, 1)) < 0)
                return rc;
            continue;
        }
        if (!cf_task_outputs_available(t)) {
            seen = cf_signal_count(&t->sig);
            if (!cf_task_outputs_available(t) && cf_task_idle(t))
                cf_task_wait(t, &seen, 100 * 1000000LL,
                             CF_NET_WAIT_BACKPRESSURE);
            continue;
        }
        if (t->et_poll && (rc = cf_et_poll(t)) < 0)
            return rc;
        rc = head->node->source.next(head);
        if (rc < 0)
            return atomic_load(&t->cancel) && rc == CF_ECANCELED
                       ? 0
                       : cf_op_failed(head, rc, "source");
        if (atomic_load(&t->user_failed))
            return CF_EUSER;
        if (rc == CF_SOURCE_END) {
            if ((rc = cf_task_end_input(t, 1)) < 0)
                return rc;
            continue;
        }
        if (rc == CF_SOURCE_IDLE) {
            seen = cf_signal_count(&t->sig);
            if (cf_task_idle(t))
                cf_task_wait(t, &seen, 2 * 1000000LL, CF_NET_WAIT_IDLE);
            continue;
        }
        cf_task_maybe_flush(t);
    }
}

/* An event on channel ch (buf recycled by the caller). */
static int
cf_task_on_event(cf_task_t *t, int ch, const cf_net_buf_t *buf)
{
    int rc = 0;

    switch (buf->event) {
    case CF_NET_EV_ERROR:
        /* The network manager lost the channel's producer. */
        if (t->failure == NULL)
            t->failure = cf_strndup((const char *)buf->data, buf->len);
        return CF_EIO;
    case CF_NET_EV_BARRIER: {
        cf_barrier_t b;
        if (cf_barrier_decode(buf->data, buf->len, &b) < 0) {
            if (t->failure == NULL)
                t->failure = cf_asprintf(
                    "%s: malformed checkpoint barrier (%u bytes) on input "
                    "channel %d",
                    t->name, buf->len, ch);
            return CF_EPROTO;
        }
        if (t->ch_end[ch] == 2) {
            cf_free((char *)b.location);
            return 0;
        }
        rc = cf_task_on_barrier(t, ch, &b);
        cf_free((char *)b.location);
        return rc;
    }
    case CF_NET_EV_END_OF_DATA:
        if (t->ch_end[ch] != 0)
            return 0;
        t->ch_end[ch] = 1;
        t->eod_channels++;
        if (buf->len >= 1 && buf->data[0] == 0)
            t->eod_nodrain = 1;
        if ((rc = cf_et_channel_ended(t, ch)) < 0)
            return rc;
        break;
    case CF_NET_EV_WATERMARK:
    case CF_NET_EV_WATERMARK_STATUS:
        return cf_et_on_event(t, ch, buf);
    case CF_NET_EV_END_OF_PARTITION:
        if (t->ch_end[ch] == 2)
            return 0;
        if (t->ch_end[ch] == 0) {
            t->eod_channels++;
            t->ch_end[ch] = 2;
            if ((rc = cf_et_channel_ended(t, ch)) < 0)
                return rc;
        }
        t->ch_end[ch] = 2;
        t->live_channels--;
        /* An ended channel counts as delivered for an alignment. */
        if ((rc = cf_task_align_check(t)) < 0)
            return rc;
        break;
    default:
        return 0; /* unknown events are ignored */
    }
    if (!t->input_ended && t->eod_channels == t->nchannels &&
        (rc = cf_task_end_input(t, !t->eod_nodrain)) < 0)
        return rc;
    return cf_task_run_deferred(t);
}

static int
cf_task_run_input(cf_task_t *t)
{
    cf_ctx_t *head = &t->ctxs[0];
    uint64_t seen = 0;
    cf_net_buf_t *buf;
    cf_record_t rec;
    int ch, rc;

    for (;;) {
        if (atomic_load(&t->cancel))
            return 0;
        if ((atomic_load_explicit(&t->nmail, memory_order_relaxed) ||
             t->kstate_dirty) &&
            (rc = cf_task_mail(t)) < 0)
            return rc;
        if (t->input_ended && cf_task_may_finish(t))
            return 1;
        if (!t->input_ended && !cf_task_outputs_available(t)) {
            seen = cf_signal_count(&t->sig);
            if (!cf_task_outputs_available(t) && cf_task_idle(t))
                cf_task_wait(t, &seen, 100 * 1000000LL,
                             CF_NET_WAIT_BACKPRESSURE);
            continue;
        }
        if (t->et_poll && !t->input_ended && (rc = cf_et_poll(t)) < 0)
            return rc;
        buf = cf_net_gate_poll(t->gate, &ch);
        if (buf == NULL) {
            seen = cf_signal_count(&t->sig);
            buf = cf_net_gate_poll(t->gate, &ch);
            if (buf == NULL) {
                if (cf_task_idle(t))
                    cf_task_wait(t, &seen, 1000 * 1000000LL,
                                 CF_NET_WAIT_IDLE);
                continue;
            }
        }
        if (buf->kind == CF_NET_EVENT) {
            rc = cf_task_on_event(t, ch, buf);
            cf_net_buf_recycle(buf);
            if (rc < 0)
                return rc;
            continue;
        }
        cf_net_reader_set(&t->readers[ch], buf);
        while (cf_net_reader_next(&t->readers[ch], &rec)) {
            /* A buffer may hold thousands of records of a slow operator:
             * look for cancellation every 64 of them. */
            if ((++t->since_cancel_check & 63) == 0 &&
                atomic_load_explicit(&t->cancel, memory_order_relaxed))
                return 0;
            if ((rc = head->invoke(head, &rec)) < 0) {
                if (rc == CF_ECANCELED && atomic_load(&t->cancel))
                    return 0;
                return rc;
            }
        }
        /* cf_fail() followed by CF_OK still fails the task. */
        if (atomic_load(&t->user_failed))
            return CF_EUSER;
        if (t->net_timers > 0)
            cf_et_update_late(t);
        cf_task_maybe_flush(t);
    }
}

/* Restore every operator of the chain from t->restore (before open). */
static int
cf_task_restore_ops(cf_task_t *t)
{
    int all_finished = t->restore->nops > 0;

    for (int i = 0; i < t->nctxs; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        const cf_op_restore_t *r = NULL;
        cf_error_t *err = NULL;
        for (int k = 0; k < t->restore->nops && r == NULL; k++)
            if (cf_id_equal(&t->restore->ops[k].op_id, &c->node->op_id))
                r = &t->restore->ops[k];
        all_finished &= r != NULL && r->finished;
        if (cf_op_restore(c, r, t->subtask, t->vertex->parallelism, &err) <
            0) {
            if (t->failure == NULL)
                t->failure = cf_asprintf(
                    "Could not restore operator '%s' of %s from checkpoint "
                    "%lld: %s",
                    c->node->name, t->name,
                    (long long)t->restore->checkpoint_id,
                    err ? cf_error_msg(err) : "unknown error");
            cf_error_free(err);
            return CF_EIO;
        }
    }
    /* Every operator had finished in the checkpoint (FLIP-147): the
     * task does not run its input again. */
    t->finished_on_restore = all_finished;
    return 0;
}

/* The snapshots handed to writers hold the keyed backends: wait for them
 * before the operators close. */
static void
cf_task_wait_snapshots(cf_task_t *t)
{
    uint64_t seen;
    for (;;) {
        seen = cf_signal_count(&t->sig);
        if (atomic_load(&t->snap_inflight) == 0)
            break;
        cf_signal_wait(&t->sig, &seen, cf_mono_ns() + 100 * 1000000LL);
    }
    /* The last writer may still be inside its unlock. */
    pthread_mutex_lock(&t->mail_mu);
    pthread_mutex_unlock(&t->mail_mu);
}

/* Close the mailbox: later triggers are declined by their poster, and
 * pending ones now. */
static void
cf_task_close_mailbox(cf_task_t *t, int rc)
{
    cf_mail_t m;
    pthread_mutex_lock(&t->mail_mu);
    t->mail_closed = 1;
    pthread_mutex_unlock(&t->mail_mu);
    while (cf_mail_take(t, &m)) {
        if (m.kind == CF_MAIL_TRIGGER)
            cf_task_decline(t, m.id, "Task %s is %s.", t->name,
                            rc == 0 ? "finished" : "no longer running");
        cf_free(m.loc);
    }
    if (t->deferred != NULL) {
        cf_task_decline(t, t->deferred->id, "Task %s is %s.", t->name,
                        rc == 0 ? "finished" : "no longer running");
        cf_free(t->deferred->loc);
        cf_free(t->deferred);
        t->deferred = NULL;
    }
    if (t->align_id != 0)
        cf_task_align_abort(t, rc == 0 ? NULL : "The task ended.");
}

void *
cf_task_main(void *arg)
{
    cf_task_t *t = arg;
    int rc = 0, opened = 0;
    char tname[16];

    snprintf(tname, sizeof tname, "task-%d.%d", t->vertex_idx, t->subtask);
    pthread_setname_np(pthread_self(), tname);
    cf_log_set_thread_name(t->name);
    t->start_ms = cf_now_ms();
    /* Cluster tasks: every output subpartition must have its consumer
     * before the first record is written (nothing is buffered for a
     * consumer that has not asked yet). */
    if (t->nsubparts > 0) {
        uint64_t seen = 0;
        for (;;) {
            seen = cf_signal_count(&t->sig);
            if (atomic_load_explicit(&t->connected, memory_order_acquire) >=
                    t->nsubparts ||
                atomic_load(&t->cancel))
                break;
            cf_signal_wait(&t->sig, &seen, cf_mono_ns() + 100000000LL);
        }
    }
    cf_task_transition(t, CF_EXEC_INITIALIZING);
    /* Restore state before open, as Flink's initializeState. */
    if (t->restore != NULL)
        rc = cf_task_restore_ops(t);
    /* Open the chain tail first, as Flink does. */
    for (int i = t->nctxs - 1; i >= 0 && rc == 0; i--)
        rc = cf_op_open(&t->ctxs[i]);
    for (int i = t->nctxs - 1; i >= 0 && rc == 0; i--)
        if ((rc = cf_op_ckpt_open(&t->ctxs[i])) < 0)
            rc = cf_op_failed(&t->ctxs[i], rc, "commit of restored state");
    opened = rc == 0;
    if (opened && !atomic_load(&t->cancel)) {
        cf_task_times_start(t);
        cf_task_transition(t, CF_EXEC_RUNNING);
        t->next_flush_ns = cf_mono_ns() + t->flush_interval_ns;
        rc = t->gate ? cf_task_run_input(t) : cf_task_run_source(t);
        if (rc == 1)
            rc = cf_task_broadcast(t, CF_NET_EV_END_OF_PARTITION, NULL, 0);
        else if (rc == 0)
            rc = CF_ECANCELED;
        /* The times stop here: closing is not RUNNING time. */
        atomic_store_explicit(&t->run_end_ns, cf_mono_ns(),
                              memory_order_release);
        /* The meter's sequence moves by 4 per wait (begin and end, each
         * an odd and an even store). */
        atomic_fetch_add_explicit(
            &cf_task_metered_waits,
            atomic_load_explicit(&t->meter.seq, memory_order_relaxed) / 4,
            memory_order_relaxed);
    } else if (rc == 0) {
        rc = CF_ECANCELED;
    }
    if (rc == CF_ECANCELED && !atomic_load(&t->cancel))
        rc = CF_EUSER;
    cf_task_close_mailbox(t, rc);
    cf_task_wait_snapshots(t);
    for (int i = 0; i < t->nctxs; i++)
        cf_op_ckpt_close(&t->ctxs[i], rc != 0);
    for (int i = 0; i < t->nctxs; i++)
        cf_op_close(&t->ctxs[i]);
    t->end_ms = cf_now_ms();
    if (rc == 0) {
        cf_task_transition(t, CF_EXEC_FINISHED);
    } else if (rc == CF_ECANCELED) {
        cf_task_transition(t, CF_EXEC_CANCELED);
    } else {
        if (t->failure == NULL)
            t->failure = cf_asprintf("%s", cf_strerror(rc));
        cf_log_warn("%s switched to FAILED: %s", t->name, t->failure);
        cf_task_transition(t, CF_EXEC_FAILED);
    }
    return NULL;
}
