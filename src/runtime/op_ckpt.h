/*
 * op_ckpt.h: checkpointing of one operator instance (op_ckpt.c): restore
 * before open, the synchronous and asynchronous parts of its snapshot,
 * checkpoint notifications, operator state and the two-phase-commit sink.
 * The task loop (task.c) drives these at barriers; the host table
 * (api.c) exposes the plugin-facing calls.
 *
 * Threads: everything runs on the task thread except
 * cf_op_snapshot_write and cf_op_snapshot_free (a snapshot writer
 * thread).
 */
#ifndef CF_OP_CKPT_H
#define CF_OP_CKPT_H

#include "runtime_int.h"

/* Restore ctx's keyed state (ctx->kstate, when the operator is keyed)
 * and operator state from r (NULL: nothing to restore, ctx->restored
 * stays 0) for subtask index of parallelism. Sets ctx->restored. For a
 * 2PC sink, the transactions found in the restored state are committed
 * (idempotently) in cf_op_ckpt_open. Errors name the file at fault. */
int cf_op_restore(cf_ctx_t *ctx, const cf_op_restore_t *r, int index,
                  int parallelism, cf_error_t **errp);

/* After the operator's open: a restored 2PC sink commits the
 * transactions of its restored state. Returns 0 or a negative code (the
 * task fails, t->failure set). */
int cf_op_ckpt_open(cf_ctx_t *ctx);

/* The synchronous part at a barrier: the user's snapshot hook, a 2PC
 * sink's pre_commit (its transaction goes into its operator state), the
 * copy of operator state and the copy-on-write begin of keyed state.
 * *out is NULL when the operator has no state at all. */
typedef struct cf_op_snap_s cf_op_snap_t;
int cf_op_snapshot_sync(cf_ctx_t *ctx, int64_t checkpoint_id,
                        cf_op_snap_t **out);
/* The asynchronous part: write the state file into dir (name
 * "<operator id hex>-<subtask>-<attempt>") and fill h (h->path
 * allocated). Thread: writer. */
int cf_op_snapshot_write(cf_op_snap_t *s, const char *dir, int compress,
                         cf_state_handle_t *h, cf_error_t **errp);
void cf_op_snapshot_free(cf_op_snap_t *s); /* thread: any */

/* Checkpoint id completed: 2PC commits of every transaction
 * pre-committed up to id, then the user's notify_complete hook. Returns
 * 0 or a negative code (a failed commit fails the task). */
int cf_op_notify_complete(cf_ctx_t *ctx, int64_t id);
void cf_op_notify_aborted(cf_ctx_t *ctx, int64_t id);

/* End of input without checkpointing: a 2PC sink pre-commits and
 * commits its last transaction. 0 or negative. */
int cf_op_ckpt_end_input(cf_ctx_t *ctx);
/* At close after a failure or cancellation: abort the open transaction
 * of a 2PC sink. Frees ctx->opstate and ctx->ck. */
void cf_op_ckpt_close(cf_ctx_t *ctx, int failed);

/* The record function of a 2PC sink (cf_op_bind in task.c). */
int cf_op_sink_2pc_invoke(cf_ctx_t *ctx, const cf_record_t *r);

/* Whether r said the operator had fully finished (cf_op_restore): the
 * task may end at once (Flink's FINISHED_ON_RESTORE). */
int cf_op_restored_finished(const cf_ctx_t *ctx);

/* Fail the task naming the operator when the user function gave no
 * message: "<what> of operator '<name>' failed (code <rc>)". Returns rc
 * (CF_ECANCELED untouched). Thread: task. */
int cf_op_ckpt_failed(cf_ctx_t *ctx, int rc, const char *what);

/* A buffer of ctx with room for cap bytes, reused (grown, never shrunk)
 * and freed by cf_op_ckpt_close: timer_rt.c copies a firing timer's key
 * and namespace into it, and the keyed backend borrows the key from it
 * while on_timer runs. Thread: task. */
uint8_t *cf_op_timer_buf(cf_ctx_t *ctx, uint32_t cap);

/* Builder function of the host table (graph.c). */
cf_stream_t *cf_b_sink_2pc(cf_stream_t *s, const char *name,
                           const cf_2pc_sink_ops_t *ops, void *udata);

/* Host table functions (api.c) */
int cf_task_is_restored(cf_ctx_t *ctx);
cf_state_t *cf_task_op_state_list(cf_ctx_t *ctx, const char *name, int mode);
cf_state_t *cf_task_op_state_broadcast(cf_ctx_t *ctx, const char *name);
cf_state_t *cf_task_state_aggregating(cf_ctx_t *ctx, const char *name,
                                      const cf_agg_ops_t *ops);
int cf_task_state_ttl(cf_state_t *st, int64_t ttl_ms, int update_type);

#endif /* CF_OP_CKPT_H */
