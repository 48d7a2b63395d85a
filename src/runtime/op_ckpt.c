/*
 * op_ckpt.c: checkpointing of one operator instance: restore before
 * open, the synchronous and asynchronous parts of a snapshot, checkpoint
 * notifications, the plugin-facing operator state, aggregating state and
 * TTL calls, and the two-phase-commit sink.
 *
 * A 2PC sink keeps its pre-committed transactions (checkpoint id and the
 * bytes its pre_commit returned) in a list, in checkpoint order. At every
 * snapshot the list is written into a host-owned operator list state,
 * "_cflink_2pc_pending" (SPLIT: one item per transaction, [i64 id, little
 * endian][txn bytes]), so a checkpoint holds every transaction that it or
 * an earlier checkpoint pre-committed and that was not yet known to be
 * committed. On notify_complete(n) the transactions up to n are
 * committed in order and dropped. A restored sink commits every
 * transaction of its restored list at open (commits are idempotent), then
 * clears it: the checkpoint it restored is complete, so all of them are
 * due.
 *
 * Threads: the task thread, except cf_op_snapshot_write and
 * cf_op_snapshot_free (a snapshot writer thread), which see only the
 * cf_op_snap_t and never the ctx.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "op_ckpt.h"
#include "task.h"

#define CF_2PC_STATE "_cflink_2pc_pending"
#define CF_RESERVED_PREFIX "_cflink"

typedef struct cf_txn_s {
    int64_t id;
    uint8_t *data;
    uint32_t len;
} cf_txn_t;

/* Per-instance bookkeeping, created on first use. */
struct cf_op_ckpt_s {
    /* 2PC sink */
    cf_txn_t *pending; /* pre-committed, ascending checkpoint ids */
    int npending, pending_cap;
    cf_buf_t txn;     /* pre_commit's output buffer, reused */
    cf_buf_t item;    /* encoding buffer of a state item, reused */
    cf_state_t *pending_state;
    int aborted_open; /* the open transaction was aborted */
    /* restore */
    int finished_on_restore;
    /* timers (timer_rt.c): the firing timer's key and namespace */
    cf_buf_t timer_key;
};

struct cf_op_snap_s {
    char op_hex[CF_ID_HEX_LEN + 1];
    int subtask;
    int attempt;
    cf_kstate_snapshot_t *keyed;
    cf_opstate_snapshot_t *ops;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static struct cf_op_ckpt_s *
cf_op_ck(cf_ctx_t *ctx)
{
    if (ctx->ck == NULL)
        ctx->ck = CF_NEW(struct cf_op_ckpt_s);
    return ctx->ck;
}

static cf_opstate_backend_t *
cf_op_opstate(cf_ctx_t *ctx)
{
    if (ctx->opstate == NULL)
        ctx->opstate = cf_opstate_backend_new(&cf_host_api);
    return ctx->opstate;
}

int
cf_op_ckpt_failed(cf_ctx_t *ctx, int rc, const char *what)
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

/* Fail the task with err's message (which names the file or state). */
static int
cf_op_fail_err(cf_ctx_t *ctx, cf_error_t *err, int rc)
{
    cf_task_t *t = ctx->task;
    if (t->failure == NULL)
        t->failure = cf_strdup(err ? cf_error_msg(err) : cf_strerror(rc));
    atomic_store(&t->user_failed, 1);
    cf_error_free(err);
    return rc < 0 ? rc : CF_EUSER;
}

uint8_t *
cf_op_timer_buf(cf_ctx_t *ctx, uint32_t cap)
{
    struct cf_op_ckpt_s *ck = cf_op_ck(ctx);
    /* At least one byte, so that data is never NULL. */
    cf_kstate_buf_reserve(&ck->timer_key, cap ? cap : 1);
    return ck->timer_key.data;
}

int
cf_op_restored_finished(const cf_ctx_t *ctx)
{
    return ctx->ck != NULL && ctx->ck->finished_on_restore;
}

static int
cf_op_is_2pc(const cf_ctx_t *ctx)
{
    return ctx->node->kind == CF_OP_SINK_2PC;
}

static void
cf_put_le64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

/* The host-owned list of pre-committed transactions (created in ctx's
 * operator state on first use). NULL and the task failed on error. */
static cf_state_t *
cf_op_pending_state(cf_ctx_t *ctx)
{
    struct cf_op_ckpt_s *ck = cf_op_ck(ctx);
    cf_error_t *err = NULL;
    if (ck->pending_state != NULL)
        return ck->pending_state;
    ck->pending_state = cf_opstate_register(cf_op_opstate(ctx), CF_2PC_STATE,
                                            CF_OPSTATE_MODE_SPLIT, &err);
    if (ck->pending_state == NULL)
        cf_op_fail_err(ctx, err, CF_ESTATE);
    return ck->pending_state;
}

/* Write the in-memory pending list into the operator state. */
static int
cf_op_pending_store(cf_ctx_t *ctx)
{
    struct cf_op_ckpt_s *ck = ctx->ck;
    cf_state_t *st = cf_op_pending_state(ctx);
    int rc;

    if (st == NULL)
        return CF_ESTATE;
    if ((rc = cf_kstate_clear(st)) < 0)
        return rc;
    for (int i = 0; i < ck->npending; i++) {
        cf_txn_t *x = &ck->pending[i];
        uint32_t n = 8 + x->len;
        if (n < x->len)
            return CF_EINVAL;
        cf_kstate_buf_reserve(&ck->item, n);
        cf_put_le64(ck->item.data, x->id);
        if (x->len)
            memcpy(ck->item.data + 8, x->data, x->len);
        if ((rc = cf_kstate_list_add(st, ck->item.data, n)) < 0)
            return rc;
    }
    return 0;
}

static void
cf_txn_free_all(struct cf_op_ckpt_s *ck)
{
    for (int i = 0; i < ck->npending; i++)
        cf_free(ck->pending[i].data);
    cf_free(ck->pending);
    ck->pending = NULL;
    ck->npending = ck->pending_cap = 0;
}

/* Commit the first n pending transactions in order; the committed ones
 * are dropped (also when a later one fails). */
static int
cf_op_commit_pending(cf_ctx_t *ctx, int n)
{
    struct cf_op_ckpt_s *ck = ctx->ck;
    const cf_2pc_sink_ops_t *ops = &ctx->node->sink2pc;
    int done = 0, rc = 0;

    for (; done < n; done++) {
        cf_txn_t *x = &ck->pending[done];
        if ((rc = ops->commit(ctx, x->data, x->len)) < 0) {
            rc = cf_op_ckpt_failed(ctx, rc, "commit");
            break;
        }
        cf_free(x->data);
    }
    if (done > 0) {
        memmove(ck->pending, ck->pending + done,
                sizeof *ck->pending * (size_t)(ck->npending - done));
        ck->npending -= done;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */
/* ------------------------------------------------------------------ */

int
cf_op_restore(cf_ctx_t *ctx, const cf_op_restore_t *r, int index,
              int parallelism, cf_error_t **errp)
{
    const char **paths = NULL;
    int lo = 0, hi = -1, nops = 0, rc = 0;

    if (r == NULL)
        return 0;
    ctx->restored = 1;
    if (r->finished)
        cf_op_ck(ctx)->finished_on_restore = 1;
    if (ctx->kstate != NULL)
        cf_keygroup_range(cf_kstate_backend_max_parallelism(ctx->kstate),
                          parallelism, index, &lo, &hi);

    /* Keyed state: every file whose key groups overlap ours. An
     * operator that is no longer keyed ignores keyed state, as Flink's
     * (it has no keyed backend to restore into). */
    for (int i = 0; i < r->nhandles && ctx->kstate != NULL; i++) {
        const cf_state_handle_t *h = &r->handles[i];
        if (!h->has_keyed || h->kg_end < lo || h->kg_start > hi)
            continue;
        if (h->path == NULL)
            return cf_error_set(errp, CF_EPROTO,
                                "state handle without a path (operator "
                                "'%s')",
                                ctx->node->name);
        if ((rc = cf_state_file_restore_keyed(h->path, ctx->kstate, errp)) <
            0)
            return rc;
    }

    /* Operator state: the files of every old subtask. */
    if (r->old_parallelism > 0)
        paths = cf_calloc((size_t)r->old_parallelism, sizeof *paths);
    for (int i = 0; i < r->nhandles; i++) {
        const cf_state_handle_t *h = &r->handles[i];
        if (!h->has_operator)
            continue;
        if (h->path == NULL || h->subtask < 0 ||
            h->subtask >= r->old_parallelism) {
            rc = cf_error_set(errp, CF_EPROTO,
                              "%s: operator state of subtask %d of operator "
                              "'%s', whose old parallelism is %d",
                              h->path ? h->path : "(no path)", h->subtask,
                              ctx->node->name, r->old_parallelism);
            goto out;
        }
        paths[h->subtask] = h->path;
        nops++;
    }
    if (nops > 0)
        rc = cf_state_file_restore_operator(cf_op_opstate(ctx), paths,
                                            r->old_parallelism, index,
                                            parallelism, errp);
out:
    cf_free(paths);
    return rc;
}

int
cf_op_ckpt_open(cf_ctx_t *ctx)
{
    cf_state_t *st;
    cf_list_iter_t it;
    cf_slice_t item;
    int rc;

    if (!cf_op_is_2pc(ctx) || !ctx->restored || ctx->opstate == NULL)
        return 0;
    if ((st = cf_op_pending_state(ctx)) == NULL)
        return CF_ESTATE;
    /* Every transaction of the restored (complete) checkpoint is due. */
    if ((rc = cf_kstate_list_iter(st, &it)) < 0)
        return cf_op_ckpt_failed(ctx, rc, "restore of sink");
    while (cf_kstate_list_next(&it, &item)) {
        if (item.len < 8) {
            if (ctx->task->failure == NULL)
                ctx->task->failure = cf_asprintf(
                    "corrupt transaction list of two-phase-commit sink "
                    "'%s' in the restored state",
                    ctx->node->name);
            atomic_store(&ctx->task->user_failed, 1);
            return CF_ESTATE;
        }
        rc = ctx->node->sink2pc.commit(
            ctx, (const uint8_t *)item.data + 8, item.len - 8);
        if (rc < 0)
            return cf_op_ckpt_failed(ctx, rc, "commit");
    }
    return cf_kstate_clear(st) < 0 ? CF_ESTATE : 0;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static int
cf_count_state_cb(void *ud, cf_state_t *st)
{
    (void)st;
    (*(int *)ud)++;
    return 0;
}

static int
cf_op_pre_commit(cf_ctx_t *ctx, int64_t id, int *have)
{
    struct cf_op_ckpt_s *ck = cf_op_ck(ctx);
    int rc;

    *have = 0;
    ck->txn.len = 0;
    rc = ctx->node->sink2pc.pre_commit(ctx, id, &ck->txn);
    if (rc < 0)
        return cf_op_ckpt_failed(ctx, rc, "pre-commit");
    if (atomic_load(&ctx->task->user_failed))
        return CF_EUSER;
    if (ck->txn.len > ck->txn.cap)
        return cf_op_ckpt_failed(ctx, CF_EINVAL, "pre-commit");
    /* An empty description: no transaction (nothing was written). */
    if (ck->txn.len == 0)
        return 0;
    CF_GROW(&ck->pending, &ck->pending_cap, ck->npending + 1);
    ck->pending[ck->npending].id = id;
    ck->pending[ck->npending].len = ck->txn.len;
    ck->pending[ck->npending].data = cf_malloc(ck->txn.len);
    memcpy(ck->pending[ck->npending].data, ck->txn.data, ck->txn.len);
    ck->npending++;
    *have = 1;
    return 0;
}

int
cf_op_snapshot_sync(cf_ctx_t *ctx, int64_t checkpoint_id, cf_op_snap_t **out)
{
    cf_snode_t *n = ctx->node;
    cf_snapshot_fn hook = NULL;
    cf_kstate_snapshot_t *keyed = NULL;
    cf_opstate_snapshot_t *ops = NULL;
    cf_op_snap_t *s;
    int rc, nstates = 0, have;

    *out = NULL;
    if (n->hooks.size >= offsetof(cf_hooks_t, snapshot) + sizeof hook)
        hook = n->hooks.snapshot;
    if (hook && (rc = hook(ctx, checkpoint_id)) < 0)
        return cf_op_ckpt_failed(ctx, rc, "snapshot");
    if (atomic_load(&ctx->task->user_failed))
        return CF_EUSER;
    if (cf_op_is_2pc(ctx)) {
        if ((rc = cf_op_pre_commit(ctx, checkpoint_id, &have)) < 0)
            return rc;
        /* The list is stored once it has been non-empty (so that a
         * checkpoint after the last commit holds an empty list). */
        if ((have || ctx->ck->pending_state != NULL) &&
            (rc = cf_op_pending_store(ctx)) < 0)
            return cf_op_ckpt_failed(ctx, rc, "snapshot");
    }
    if (ctx->opstate != NULL && cf_opstate_count(ctx->opstate) > 0)
        ops = cf_opstate_snapshot(ctx->opstate);
    if (ctx->kstate != NULL) {
        cf_kstate_backend_foreach_state(ctx->kstate, cf_count_state_cb,
                                        &nstates);
        if (nstates > 0)
            keyed = cf_kstate_snapshot_begin(ctx->kstate);
    }
    if (keyed == NULL && ops == NULL)
        return 0;
    s = CF_NEW(cf_op_snap_t);
    cf_id_to_hex(&n->op_id, s->op_hex);
    s->subtask = ctx->task->subtask;
    s->attempt = ctx->task->attempt;
    s->keyed = keyed;
    s->ops = ops;
    *out = s;
    return 0;
}

int
cf_op_snapshot_write(cf_op_snap_t *s, const char *dir, int compress,
                     cf_state_handle_t *h, cf_error_t **errp)
{
    char *path, *cwd = NULL;
    uint64_t size = 0;
    int rc;

    memset(h, 0, sizeof *h);
    if (dir == NULL || *dir == '\0')
        return cf_error_set(errp, CF_EINVAL,
                            "no checkpoint directory for the state of "
                            "operator %s",
                            s->op_hex);
    if (dir[0] != '/' && (cwd = getcwd(NULL, 0)) == NULL)
        return cf_error_set(errp, -errno, "%s: %s", dir, strerror(errno));
    path = cf_asprintf("%s%s%s/%s-%d-%d", cwd ? cwd : "", cwd ? "/" : "",
                       dir, s->op_hex, s->subtask, s->attempt);
    free(cwd);
    rc = cf_state_file_write(path, s->keyed, s->ops, compress, &size, errp);
    if (rc < 0) {
        cf_free(path);
        return rc;
    }
    h->path = path;
    h->size = size;
    h->subtask = s->subtask;
    h->has_keyed = s->keyed != NULL;
    h->kg_start = s->keyed ? cf_kstate_snapshot_kg_start(s->keyed) : 0;
    h->kg_end = s->keyed ? cf_kstate_snapshot_kg_end(s->keyed) : -1;
    h->has_operator = s->ops != NULL;
    return 0;
}

void
cf_op_snapshot_free(cf_op_snap_t *s)
{
    if (s == NULL)
        return;
    if (s->keyed)
        cf_kstate_snapshot_release(s->keyed);
    if (s->ops)
        cf_opstate_snapshot_free(s->ops);
    cf_free(s);
}

/* ------------------------------------------------------------------ */
/* Notifications, end of input, close                                  */
/* ------------------------------------------------------------------ */

static cf_checkpoint_fn
cf_op_hook_at(const cf_snode_t *n, size_t off)
{
    cf_checkpoint_fn fn;
    if (n->hooks.size < off + sizeof fn)
        return NULL;
    memcpy(&fn, (const char *)&n->hooks + off, sizeof fn);
    return fn;
}

int
cf_op_notify_complete(cf_ctx_t *ctx, int64_t id)
{
    cf_checkpoint_fn hook =
        cf_op_hook_at(ctx->node, offsetof(cf_hooks_t, notify_complete));
    int rc, n = 0;

    if (cf_op_is_2pc(ctx) && ctx->ck != NULL && ctx->ck->npending > 0) {
        while (n < ctx->ck->npending && ctx->ck->pending[n].id <= id)
            n++;
        rc = cf_op_commit_pending(ctx, n);
        if (n > 0 && cf_op_pending_store(ctx) < 0 && rc == 0)
            rc = cf_op_ckpt_failed(ctx, CF_ESTATE, "commit");
        if (rc < 0)
            return rc;
    }
    if (hook)
        hook(ctx, id);
    return atomic_load(&ctx->task->user_failed) ? CF_EUSER : 0;
}

void
cf_op_notify_aborted(cf_ctx_t *ctx, int64_t id)
{
    /* A 2PC sink keeps the transactions of an aborted checkpoint: a
     * later complete checkpoint commits them (they are <= its id). */
    cf_checkpoint_fn hook =
        cf_op_hook_at(ctx->node, offsetof(cf_hooks_t, notify_aborted));
    if (hook)
        hook(ctx, id);
}

int
cf_op_ckpt_end_input(cf_ctx_t *ctx)
{
    int rc, have;

    if (!cf_op_is_2pc(ctx))
        return 0;
    if ((rc = cf_op_pre_commit(ctx, INT64_MAX, &have)) < 0)
        return rc;
    rc = cf_op_commit_pending(ctx, ctx->ck->npending);
    if (rc == 0 && ctx->ck->pending_state != NULL &&
        cf_op_pending_store(ctx) < 0)
        rc = cf_op_ckpt_failed(ctx, CF_ESTATE, "commit");
    return rc;
}

void
cf_op_ckpt_close(cf_ctx_t *ctx, int failed)
{
    struct cf_op_ckpt_s *ck = ctx->ck;

    /* The open transaction (never pre-committed, so described by no
     * bytes) is dropped; pre-committed ones are not: a checkpoint may
     * hold them, and its restore commits them. */
    if (failed && ctx->opened && cf_op_is_2pc(ctx) &&
        ctx->node->sink2pc.abort && (ck == NULL || !ck->aborted_open)) {
        ctx->node->sink2pc.abort(ctx, NULL, 0);
        if (ck)
            ck->aborted_open = 1;
    }
    if (ck != NULL) {
        cf_txn_free_all(ck);
        cf_free(ck->txn.data);
        cf_free(ck->item.data);
        cf_free(ck->timer_key.data);
        cf_free(ck);
        ctx->ck = NULL;
    }
    cf_opstate_backend_destroy(ctx->opstate);
    ctx->opstate = NULL;
}

int
cf_op_sink_2pc_invoke(cf_ctx_t *ctx, const cf_record_t *r)
{
    int rc = ctx->node->sink2pc.invoke(ctx, r);
    return rc < 0 ? cf_op_ckpt_failed(ctx, rc, "sink") : 0;
}

/* ------------------------------------------------------------------ */
/* Host table functions                                                */
/* ------------------------------------------------------------------ */

int
cf_task_is_restored(cf_ctx_t *ctx)
{
    return ctx->restored;
}

static cf_state_t *
cf_task_opstate(cf_ctx_t *ctx, const char *name, cf_opstate_mode_t mode)
{
    cf_error_t *err = NULL;
    cf_state_t *st;

    if (name == NULL || *name == '\0') {
        cf_fail(ctx, "operator state of operator '%s' needs a name",
                ctx->node->name);
        return NULL;
    }
    if (strncmp(name, CF_RESERVED_PREFIX, strlen(CF_RESERVED_PREFIX)) == 0) {
        cf_fail(ctx,
                "operator state name '%s' of operator '%s' is reserved "
                "(names starting with '%s')",
                name, ctx->node->name, CF_RESERVED_PREFIX);
        return NULL;
    }
    st = cf_opstate_register(cf_op_opstate(ctx), name, mode, &err);
    if (st == NULL) {
        cf_fail(ctx, "%s", err ? cf_error_msg(err) : "operator state error");
        cf_error_free(err);
    }
    return st;
}

cf_state_t *
cf_task_op_state_list(cf_ctx_t *ctx, const char *name, int mode)
{
    if (mode != CF_OPSTATE_SPLIT && mode != CF_OPSTATE_UNION) {
        cf_fail(ctx,
                "unknown operator state mode %d for state '%s' of "
                "operator '%s'",
                mode, name ? name : "", ctx->node->name);
        return NULL;
    }
    return cf_task_opstate(ctx, name,
                           mode == CF_OPSTATE_UNION ? CF_OPSTATE_MODE_UNION
                                                    : CF_OPSTATE_MODE_SPLIT);
}

cf_state_t *
cf_task_op_state_broadcast(cf_ctx_t *ctx, const char *name)
{
    return cf_task_opstate(ctx, name, CF_OPSTATE_MODE_BROADCAST);
}

/* The keyed backend borrows a state's cf_agg_ops_t for its whole life
 * (which ends after the operator's close), and the plugin's struct may be
 * on its stack: the host keeps one interned copy per distinct struct, for
 * the life of the process (there are as many as the plugins have
 * aggregate functions). Thread: any. */
static pthread_mutex_t cf_agg_mu = PTHREAD_MUTEX_INITIALIZER;
static cf_agg_ops_t **cf_agg_interned;
static int cf_agg_n, cf_agg_cap;

static const cf_agg_ops_t *
cf_agg_intern(const cf_agg_ops_t *ops)
{
    cf_agg_ops_t *copy = NULL;
    pthread_mutex_lock(&cf_agg_mu);
    for (int i = 0; i < cf_agg_n && copy == NULL; i++)
        if (cf_agg_interned[i]->add == ops->add &&
            cf_agg_interned[i]->result == ops->result)
            copy = cf_agg_interned[i];
    if (copy == NULL) {
        copy = CF_NEW(cf_agg_ops_t);
        copy->size = sizeof *copy;
        copy->add = ops->add;
        copy->result = ops->result;
        CF_GROW(&cf_agg_interned, &cf_agg_cap, cf_agg_n + 1);
        cf_agg_interned[cf_agg_n++] = copy;
    }
    pthread_mutex_unlock(&cf_agg_mu);
    return copy;
}

cf_state_t *
cf_task_state_aggregating(cf_ctx_t *ctx, const char *name,
                          const cf_agg_ops_t *ops)
{
    cf_agg_ops_t copy;
    cf_error_t *err = NULL;
    cf_state_t *st;
    uint32_t n;

    if (ctx->kstate == NULL) {
        cf_fail(ctx,
                "Keyed state can only be used on a 'keyed stream', i.e., "
                "after a 'keyBy()' operation (state '%s' in operator '%s').",
                name ? name : "", ctx->node->name);
        return NULL;
    }
    /* Host-owned keyed states (the timers' "_cflink_timers_*") use the
     * reserved prefix; a user state by such a name would collide. */
    if (name != NULL &&
        strncmp(name, CF_RESERVED_PREFIX, strlen(CF_RESERVED_PREFIX)) == 0) {
        cf_fail(ctx,
                "keyed state name '%s' of operator '%s' is reserved (names "
                "starting with '%s')",
                name, ctx->node->name, CF_RESERVED_PREFIX);
        return NULL;
    }
    /* Copied by size: a shorter (older) struct leaves fields NULL. */
    memset(&copy, 0, sizeof copy);
    if (ops != NULL) {
        n = ops->size < sizeof copy ? ops->size : (uint32_t)sizeof copy;
        memcpy(&copy, ops, n);
    }
    copy.size = sizeof copy;
    if (copy.add == NULL || copy.result == NULL) {
        cf_fail(ctx,
                "aggregating state '%s' of operator '%s' needs add() and "
                "result() functions",
                name ? name : "", ctx->node->name);
        return NULL;
    }
    st = cf_kstate_register_agg(ctx->kstate, name, cf_agg_intern(&copy),
                                ctx, &err);
    if (st == NULL) {
        cf_fail(ctx, "%s", err ? cf_error_msg(err) : "state error");
        cf_error_free(err);
    }
    return st;
}

int
cf_task_state_ttl(cf_state_t *st, int64_t ttl_ms, int update_type)
{
    if (st == NULL)
        return CF_EINVAL;
    return cf_kstate_set_ttl(st, ttl_ms, update_type);
}
