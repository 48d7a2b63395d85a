/*
 * task.c: the stream task: operator chain execution and the task loop.
 *
 * A chain is called directly: cf_emit() of an operator hands the record
 * (a pointer, no copy) to each chained successor's function, and
 * serializes it into the record writer of each non-chained output. No
 * allocation happens per record.
 *
 * The loop (Flink's mailbox loop, with cancellation as the only mail for
 * now): process input only while every output has a free buffer, so that
 * a backpressured task waits between records, where it can still be
 * cancelled; inside one input buffer, a write that finds no free buffer
 * blocks until a consumer recycles one (or the task is cancelled).
 * Partially filled output buffers ship when execution.buffer-timeout
 * expires. End of input runs each operator's finish (head first, so its
 * output still reaches open successors), then sends end-of-partition
 * downstream.
 */
#include <errno.h>
#include <string.h>

#include "netmgr.h"
#include "task.h"

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

static int
cf_op_map(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_record_t out = *r;
    int rc = ctx->node->fn.map(ctx, r, &out);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "map function");
    return cf_ctx_push(ctx, &out);
}

static int
cf_op_filter(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->fn.filter(ctx, r);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "filter function");
    return rc ? cf_ctx_push(ctx, r) : 0;
}

static int
cf_op_flat_map(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->fn.flat_map(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "flatMap function") : 0;
}

static int
cf_op_process_fn(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->process.process(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "process function") : 0;
}

static int
cf_op_reduce(cf_ctx_t *ctx, const cf_record_t *r)
{
    cf_slice_t v;
    int rc = cf_kstate_reducing_add(ctx->reduce_state, r->data, r->len,
                                    r->ts);
    if (rc < 0)
        return cf_op_failed(ctx, rc, "reduce function");
    cf_kstate_reducing_get(ctx->reduce_state, &v);
    cf_record_t out = {v.data, v.len, r->ts};
    return cf_ctx_push(ctx, &out);
}

static int
cf_op_sink(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->sink.invoke(ctx, r);
    return rc < 0 ? cf_op_failed(ctx, rc, "sink") : 0;
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
    case CF_OP_SOURCE: ctx->body = NULL; break;
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
    else if (n->kind == CF_OP_PROCESS && n->process.open)
        open = n->process.open;
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
    else if (n->kind == CF_OP_PROCESS && n->process.finish)
        fin = n->process.finish;
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
    else if (n->kind == CF_OP_PROCESS && n->process.close)
        close = n->process.close;
    if (close)
        close(ctx);
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
/* Task lifecycle                                                      */
/* ------------------------------------------------------------------ */

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
    t->flush_interval_ns = flush_ns;

    t->nctxs = v->nops;
    t->ctxs = cf_calloc((size_t)v->nops, sizeof(cf_ctx_t));
    for (int i = 0; i < v->nops; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        c->api = &cf_host_api;
        c->task = t;
        c->node = cf_env_node(job->env, v->ops[i].node);
        c->nchained = v->ops[i].nchained;
        c->chained = cf_calloc((size_t)c->nchained + 1, sizeof(cf_ctx_t *));
        for (int k = 0; k < c->nchained; k++)
            c->chained[k] = &t->ctxs[v->ops[i].chained[k]];
        c->nwriters = v->ops[i].noutputs;
        c->writers = cf_calloc((size_t)c->nwriters + 1, sizeof(cf_rw_t *));
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
    for (int i = 0; i < v->nops; i++)
        for (int k = 0; k < v->ops[i].noutputs; k++)
            t->ctxs[i].writers[k] = &t->writers[v->ops[i].outputs[k]];
    if (nchannels > 0) {
        t->nchannels = nchannels;
        t->live_channels = nchannels;
        t->gate = cf_net_gate_new(nchannels, &t->sig);
        t->readers = cf_calloc((size_t)nchannels, sizeof(cf_net_reader_t));
        for (int i = 0; i < nchannels; i++)
            cf_net_reader_init(&t->readers[i]);
    }
    return t;
}

/* Release what consumers and producers share first (gates, writers),
 * then pools: exec.c calls this in two phases through the flags. */
void
cf_task_destroy(cf_task_t *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < t->nctxs; i++) {
        cf_ctx_t *c = &t->ctxs[i];
        cf_free(c->chained);
        cf_free(c->writers);
        cf_free(c->scratch);
        cf_kstate_backend_destroy(c->kstate);
    }
    cf_free(t->ctxs);
    for (int i = 0; i < t->nwriters; i++)
        cf_net_pool_destroy(t->pools[i]);
    cf_free(t->pools);
    cf_free(t->writers);
    cf_free(t->readers);
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
cf_task_maybe_flush(cf_task_t *t)
{
    int64_t now;
    if (t->flush_interval_ns < 0)
        return;
    now = cf_mono_ns();
    if (now >= t->next_flush_ns) {
        cf_task_flush(t);
        t->next_flush_ns = now + t->flush_interval_ns;
    }
}

/* Wait for anything (input, buffers, cancellation) or the flush deadline;
 * at most max_ns. */
static void
cf_task_wait(cf_task_t *t, uint64_t *seen, int64_t max_ns)
{
    int64_t deadline = cf_mono_ns() + max_ns;
    if (t->flush_interval_ns >= 0 && t->next_flush_ns < deadline)
        deadline = t->next_flush_ns;
    cf_signal_wait(&t->sig, seen, deadline);
    cf_task_maybe_flush(t);
}

/* Returns 1 at end of input, 0 when cancelled, negative on failure. */
static int
cf_task_run_source(cf_task_t *t)
{
    cf_ctx_t *head = &t->ctxs[0];
    uint64_t seen = 0;
    int rc;

    for (;;) {
        if (atomic_load(&t->cancel))
            return 0;
        if (!cf_task_outputs_available(t)) {
            seen = cf_signal_count(&t->sig);
            if (!cf_task_outputs_available(t) && !atomic_load(&t->cancel))
                cf_task_wait(t, &seen, 100 * 1000000LL);
            continue;
        }
        rc = head->node->source.next(head);
        if (rc < 0)
            return atomic_load(&t->cancel) && rc == CF_ECANCELED
                       ? 0
                       : cf_op_failed(head, rc, "source");
        if (atomic_load(&t->user_failed))
            return CF_EUSER;
        if (rc == CF_SOURCE_END)
            return 1;
        if (rc == CF_SOURCE_IDLE) {
            seen = cf_signal_count(&t->sig);
            cf_task_wait(t, &seen, 2 * 1000000LL);
            continue;
        }
        cf_task_maybe_flush(t);
    }
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
        if (!cf_task_outputs_available(t)) {
            seen = cf_signal_count(&t->sig);
            if (!cf_task_outputs_available(t) && !atomic_load(&t->cancel))
                cf_task_wait(t, &seen, 100 * 1000000LL);
            continue;
        }
        buf = cf_net_gate_poll(t->gate, &ch);
        if (buf == NULL) {
            seen = cf_signal_count(&t->sig);
            buf = cf_net_gate_poll(t->gate, &ch);
            if (buf == NULL) {
                if (!atomic_load(&t->cancel))
                    cf_task_wait(t, &seen, 1000 * 1000000LL);
                continue;
            }
        }
        if (buf->kind == CF_NET_EVENT) {
            uint16_t ev = buf->event;
            if (ev == CF_NET_EV_ERROR) {
                /* The network manager lost the channel's producer. */
                if (t->failure == NULL)
                    t->failure = cf_strndup((const char *)buf->data,
                                            buf->len);
                cf_net_buf_recycle(buf);
                return CF_EIO;
            }
            cf_net_buf_recycle(buf);
            if (ev == CF_NET_EV_END_OF_PARTITION && --t->live_channels == 0)
                return 1;
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
        cf_task_maybe_flush(t);
    }
}

static int
cf_task_end_input(cf_task_t *t)
{
    int rc;
    for (int i = 0; i < t->nctxs; i++)
        if ((rc = cf_op_finish(&t->ctxs[i])) < 0)
            return rc;
    if (atomic_load(&t->user_failed))
        return CF_EUSER;
    for (int i = 0; i < t->nwriters; i++)
        if ((rc = cf_net_partition_broadcast_event(
                 &t->writers[i].part, CF_NET_EV_END_OF_PARTITION, NULL, 0)) <
            0)
            return rc;
    return 0;
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
    /* Open the chain tail first, as Flink does. */
    for (int i = t->nctxs - 1; i >= 0 && rc == 0; i--)
        rc = cf_op_open(&t->ctxs[i]);
    opened = rc == 0;
    if (opened && !atomic_load(&t->cancel)) {
        cf_task_transition(t, CF_EXEC_RUNNING);
        t->next_flush_ns = cf_mono_ns() + t->flush_interval_ns;
        rc = t->gate ? cf_task_run_input(t) : cf_task_run_source(t);
        if (rc == 1)
            rc = cf_task_end_input(t);
        else if (rc == 0)
            rc = CF_ECANCELED;
    } else if (rc == 0) {
        rc = CF_ECANCELED;
    }
    if (rc == CF_ECANCELED && !atomic_load(&t->cancel))
        rc = CF_EUSER;
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
