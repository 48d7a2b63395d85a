/*
 * tasks.c: the TaskManager's tasks (Flink's Task, TaskSlotTable's task
 * side and the per-job class loader cache): SubmitTask, CancelTask, state
 * reports to the JobManager and the teardown of ended tasks.
 *
 * Jobs: one cached entry per job id holds the loaded plugin and one
 * cf_job_t, built by running the plugin's entry with the job's arguments
 * and parallelism and bound to the JobGraph the JobManager shipped. All
 * subtasks of the job (of every attempt: a restarted job keeps its graph)
 * are deployed from it. The entry lives while the TaskManager has tasks
 * or slots of the job. Preparing an entry (fetching the plugin, writing it
 * to the cache, dlopen, running the entry) happens off the loop: the
 * fetch is asynchronous RPC, the rest runs on the loop's worker pool.
 * Submissions that arrive meanwhile wait in the entry (copied), and are
 * answered when it is ready or has failed.
 *
 * Tasks: a task thread reports each ExecutionState change through its
 * state callback, which posts an event to the loop; the loop sends
 * UpdateTaskExecutionState. Each report (state update or heartbeat)
 * carries the task's counters, event-time figures and busy /
 * back-pressured / idle times (cf_task_times). After a terminal state
 * the loop joins the
 * thread and releases the task's partitions and gate in the network
 * manager; once every release is done (callbacks on the net thread, posted
 * to the loop) the task is freed and its slot and job references dropped.
 * A task record counts its events in flight, so it is never freed while
 * one is queued.
 *
 * Checkpoints: TriggerCheckpoint and NotifyCheckpoint (one-way, from the
 * JobMaster) go to the task of their attempt id (cf_task_trigger_checkpoint,
 * cf_task_notify_checkpoint); a trigger for a task that is unknown or has
 * ended is declined here. A task acknowledges or declines from its own
 * thread or a snapshot writer thread: the callbacks post an event (counted
 * like state events) and the loop sends AcknowledgeCheckpoint or
 * DeclineCheckpoint on the connection the task was deployed on (dropped
 * when that connection is gone: its JobMaster cancelled the task anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "taskmanager_int.h"

/* Input channels per task at most (a sanity bound on untrusted input). */
#define CF_TM_MAX_CHANNELS (1 << 20)

typedef enum cf_tm_job_state_e {
    CF_TM_JOB_PREPARING = 0,
    CF_TM_JOB_READY,
} cf_tm_job_state_t;

typedef struct cf_tm_pending_s {
    struct cf_tm_pending_s *next;
    uint64_t req_id;
    uint32_t epoch;
    Cflink__SubmitTask *st; /* an unpacked copy */
} cf_tm_pending_t;

struct cf_tm_job_s {
    cf_tm_job_t *next;
    cf_tm_t *tm;
    cf_id_t job_id;
    char job_hex[CF_ID_HEX_LEN + 1];
    char key_hex[65];
    cf_tm_job_state_t state;
    /* What the build needs, copied from the first submission. */
    uint8_t *key;
    size_t keylen;
    char *plugin_name;
    char *path;
    cf_config_t *cfg;
    int argc;
    char **argv;
    int parallelism;
    uint8_t *graph;
    size_t graph_len;
    /* Preparation (the worker reads and writes these while it runs). */
    cf_tm_blob_data_t blob;
    int need_fetch;
    int fetched;
    cf_error_t *err;
    int64_t prep_start_ms;
    /* Ready. */
    cf_plugin_lib_t *lib;
    cf_job_t *job;
    cf_tm_pending_t *pending;
    cf_tm_pending_t **pending_tail;
    int ntasks;
};

struct cf_tm_task_s {
    cf_tm_task_t *next;
    cf_tm_t *tm;
    cf_tm_job_t *job; /* NULL for an orphan (deployment failed) */
    int slot;
    cf_id_t job_id;
    cf_id_t attempt_id;
    cf_id_t allocation_id;
    char attempt_hex[CF_ID_HEX_LEN + 1];
    uint32_t epoch; /* connection epoch of the deployment */
    cf_task_t *t;
    char *name;
    atomic_int posted; /* state and checkpoint events queued to the loop */
    cf_exec_state_t state;
    int terminal;      /* a terminal state was seen on the loop */
    int cancelled;     /* cf_task_cancel was called */
    int releasing;     /* partitions and gate handed to the netmgr */
    int releases_left; /* done callbacks still to come */
};

typedef struct cf_tm_state_ev_s {
    cf_tm_task_t *rec;
    cf_exec_state_t state;
    char *failure;
} cf_tm_state_ev_t;

/* An acknowledgement (ack != NULL) or a decline, posted by a task. */
typedef struct cf_tm_ckpt_ev_s {
    cf_tm_task_t *rec;
    cf_task_ack_t *ack;
    int64_t checkpoint_id;
    char *reason;
} cf_tm_ckpt_ev_t;

static void cf_tm_task_maybe_free(cf_tm_task_t *rec);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static cf_tm_job_t *
cf_tm_job_find(cf_tm_t *tm, const cf_id_t *job_id)
{
    for (cf_tm_job_t *j = tm->jobs; j != NULL; j = j->next)
        if (cf_id_equal(&j->job_id, job_id))
            return j;
    return NULL;
}

static cf_tm_task_t *
cf_tm_task_find(cf_tm_t *tm, const cf_id_t *attempt)
{
    for (cf_tm_task_t *r = tm->tasks; r != NULL; r = r->next)
        if (cf_id_equal(&r->attempt_id, attempt))
            return r;
    return NULL;
}

/* The name of the task of an attempt ("Map (1/2)#0"), or NULL. */
const char *
cf_tm_task_name(cf_tm_t *tm, const cf_id_t *attempt_id)
{
    cf_tm_task_t *r = cf_tm_task_find(tm, attempt_id);
    return r != NULL ? r->name : NULL;
}

static void
cf_tm_reply_error(cf_tm_t *tm, uint32_t epoch, uint64_t req_id, const char *msg)
{
    if (req_id != 0 && cf_tm_conn_current(tm, epoch))
        cf_rpc_reply_error(tm->conn, req_id, "%s", msg);
}

static void
cf_tm_reply_ack(cf_tm_t *tm, uint32_t epoch, uint64_t req_id)
{
    if (req_id != 0 && cf_tm_conn_current(tm, epoch))
        cf_rpc_reply_ack(tm->conn, req_id);
}

/* The slot of allocation_id, allocated to job_id; NULL with *msg set. */
static cf_tm_slot_t *
cf_tm_check_slot(cf_tm_t *tm, const cf_id_t *job_id, const cf_id_t *alloc,
                 char **msg)
{
    char jh[CF_ID_HEX_LEN + 1], ah[CF_ID_HEX_LEN + 1], oh[CF_ID_HEX_LEN + 1];
    cf_tm_slot_t *s = cf_tm_slot_by_allocation(tm, alloc);

    cf_id_to_hex(job_id, jh);
    cf_id_to_hex(alloc, ah);
    if (s == NULL) {
        *msg = cf_asprintf("No task slot allocated for job ID %s and "
                           "allocation ID %s.",
                           jh, ah);
        return NULL;
    }
    if (!cf_id_equal(&s->job_id, job_id)) {
        cf_id_to_hex(&s->job_id, oh);
        *msg = cf_asprintf("Slot %d with allocation ID %s is allocated to "
                           "job %s, not to job %s.",
                           s->index, ah, oh, jh);
        return NULL;
    }
    if (s->state != CF_TM_SLOT_ALLOCATED) {
        *msg = cf_asprintf("Slot %d with allocation ID %s is being "
                           "released.",
                           s->index, ah);
        return NULL;
    }
    return s;
}

static void
cf_tm_pending_free(cf_tm_pending_t *p)
{
    cflink__submit_task__free_unpacked(p->st, NULL);
    cf_free(p);
}

/* ------------------------------------------------------------------ */
/* Task state events                                                   */
/* ------------------------------------------------------------------ */

/* The task's event-time figures into et, attached to u: sent with every
 * counter report (state update and heartbeat), so the JobMaster's REST
 * API shows the watermarks move while tasks run. */
static void
cf_tm_event_time(const cf_task_t *t, Cflink__UpdateTaskExecutionState *u,
                 Cflink__TaskEventTime *et)
{
    cflink__task_event_time__init(et);
    et->input_watermark = cf_task_input_watermark(t);
    et->late_records_dropped = cf_task_late_records_dropped(t);
    u->event_time = et;
}

/* The task's busy / back-pressured / idle time since it started RUNNING
 * into tt, attached to u (field 10, cumulative ms): left out while the
 * task is not measured (not RUNNING yet, or the measurement is off), as
 * Flink's gauges have no value then. The JobMaster derives the
 * *TimeMsPerSecond rates from successive reports. */
static void
cf_tm_times(const cf_task_t *t, Cflink__UpdateTaskExecutionState *u,
            Cflink__TaskTimes *tt)
{
    cf_task_times_t x;

    cflink__task_times__init(tt);
    if (!cf_task_times(t, &x))
        return;
    tt->busy_ms = x.busy_ms;
    tt->back_pressured_ms = x.back_pressured_ms;
    tt->idle_ms = x.idle_ms;
    u->times = tt;
}

static void
cf_tm_send_update(cf_tm_task_t *rec, cf_exec_state_t state, const char *failure)
{
    cf_tm_t *tm = rec->tm;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__UpdateTaskExecutionState u =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
    Cflink__TaskEventTime et;
    Cflink__TaskTimes tt;

    if (!tm->registered || tm->conn == NULL || !cf_rpc_conn_is_open(tm->conn))
        return;
    u.job_id = cf_rpc_id_bytes(&rec->job_id);
    u.attempt_id = cf_rpc_id_bytes(&rec->attempt_id);
    u.state = (int32_t)state;
    u.failure = (char *)(failure ? failure : "");
    cf_task_counters(rec->t, &u.records_in, &u.records_out, &u.bytes_in,
                     &u.bytes_out);
    cf_tm_event_time(rec->t, &u, &et);
    cf_tm_times(rec->t, &u, &tt);
    env.body_case = CFLINK__ENVELOPE__BODY_UPDATE_TASK_EXECUTION_STATE;
    env.update_task_execution_state = &u;
    cf_rpc_send(tm->conn, &env);
}

/* The counters and event-time figures of every task deployed and not
 * yet ended (a terminal task sent its final counters with its state). */
size_t
cf_tm_task_reports(cf_tm_t *tm, Cflink__UpdateTaskExecutionState ***out)
{
    Cflink__UpdateTaskExecutionState *u, **p;
    Cflink__TaskEventTime *et;
    Cflink__TaskTimes *tt;
    size_t n = 0, i = 0;

    *out = NULL;
    for (cf_tm_task_t *r = tm->tasks; r != NULL; r = r->next)
        n += r->job != NULL && r->t != NULL && !r->terminal;
    if (n == 0)
        return 0;
    /* One block: the pointers, then the reports, then their event-time
     * figures and times (every member 8-byte aligned). */
    p = cf_malloc(n * (sizeof *p + sizeof *u + sizeof *et + sizeof *tt));
    u = (Cflink__UpdateTaskExecutionState *)(p + n);
    et = (Cflink__TaskEventTime *)(u + n);
    tt = (Cflink__TaskTimes *)(et + n);
    for (cf_tm_task_t *r = tm->tasks; r != NULL && i < n; r = r->next) {
        if (r->job == NULL || r->t == NULL || r->terminal)
            continue;
        cflink__update_task_execution_state__init(&u[i]);
        u[i].job_id = cf_rpc_id_bytes(&r->job_id);
        u[i].attempt_id = cf_rpc_id_bytes(&r->attempt_id);
        u[i].state = (int32_t)r->state;
        u[i].failure = (char *)"";
        cf_task_counters(r->t, &u[i].records_in, &u[i].records_out,
                         &u[i].bytes_in, &u[i].bytes_out);
        cf_tm_event_time(r->t, &u[i], &et[i]);
        cf_tm_times(r->t, &u[i], &tt[i]);
        p[i] = &u[i];
        i++;
    }
    *out = p;
    return i;
}

/* Net thread: one release of the task is done. */
static void
cf_tm_release_done_loop(void *arg)
{
    cf_tm_task_t *rec = arg;
    rec->releases_left--;
    cf_tm_task_maybe_free(rec);
}

static void
cf_tm_release_done(void *arg)
{
    cf_tm_task_t *rec = arg;
    cf_loop_post(rec->tm->loop, cf_tm_release_done_loop, rec);
}

/* The task has ended (or never started): join its thread and hand its
 * partitions and gate back to the network manager. */
static void
cf_tm_task_release(cf_tm_task_t *rec)
{
    cf_tm_t *tm = rec->tm;
    int nout = cf_task_noutputs(rec->t);
    cf_net_gate_t *gate = cf_task_gate(rec->t);
    int discard = rec->state != CF_EXEC_FINISHED;

    if (rec->releasing)
        return;
    cf_task_join(rec->t);
    rec->releasing = 1;
    rec->releases_left = nout + (gate != NULL);
    for (int o = 0; o < nout; o++) {
        cf_net_pid_t pid;
        pid.attempt = rec->attempt_id;
        pid.output = o;
        cf_netmgr_release_partition(tm->net, &pid, discard, cf_tm_release_done,
                                    rec);
    }
    if (gate != NULL)
        cf_netmgr_release_gate(tm->net, gate, cf_tm_release_done, rec);
    cf_tm_task_maybe_free(rec);
}

static void
cf_tm_task_unlink(cf_tm_t *tm, cf_tm_task_t *rec)
{
    for (cf_tm_task_t **pp = &tm->tasks; *pp != NULL; pp = &(*pp)->next)
        if (*pp == rec) {
            *pp = rec->next;
            return;
        }
}

static void
cf_tm_task_maybe_free(cf_tm_task_t *rec)
{
    cf_tm_t *tm = rec->tm;
    cf_id_t job_id;
    int slot;

    if (atomic_load(&rec->posted) > 0)
        return;
    if (rec->job == NULL) { /* orphan: its deployment failed */
        cf_free(rec->name);
        cf_free(rec);
        return;
    }
    if (!rec->releasing || rec->releases_left > 0)
        return;
    cf_log_debug("Freeing task %s (%s).", rec->name, rec->attempt_hex);
    cf_task_free(rec->t);
    cf_tm_task_unlink(tm, rec);
    tm->ntasks--;
    rec->job->ntasks--;
    job_id = rec->job_id;
    slot = rec->slot;
    cf_free(rec->name);
    cf_free(rec);
    cf_tm_task_gone(tm, slot);
    cf_tm_job_gc(tm, &job_id);
    cf_tm_check_shutdown(tm);
}

static void
cf_tm_on_state(void *arg)
{
    cf_tm_state_ev_t *ev = arg;
    cf_tm_task_t *rec = ev->rec;

    if (rec->job != NULL && !rec->terminal) {
        rec->state = ev->state;
        /* SCHEDULED is the JobMaster's own state: not reported. */
        if (ev->state != CF_EXEC_SCHEDULED) {
            if (cf_exec_state_is_terminal(ev->state))
                cf_log_info("Un-registering task and sending final "
                            "execution state %s to JobManager for task "
                            "%s %s.",
                            cf_exec_state_name(ev->state), rec->name,
                            rec->attempt_hex);
            cf_tm_send_update(rec, ev->state, ev->failure);
        }
        if (cf_exec_state_is_terminal(ev->state)) {
            rec->terminal = 1;
            cf_tm_task_release(rec);
        }
    }
    cf_free(ev->failure);
    cf_free(ev);
    atomic_fetch_sub(&rec->posted, 1);
    cf_tm_task_maybe_free(rec);
}

/* Task thread (or the loop, for transitions made by the caller). */
static void
cf_tm_state_cb(cf_task_t *t, cf_exec_state_t state, const char *failure,
               void *arg)
{
    cf_tm_task_t *rec = arg;
    cf_tm_state_ev_t *ev = CF_NEW(cf_tm_state_ev_t);
    (void)t;
    ev->rec = rec;
    ev->state = state;
    ev->failure = failure ? cf_strdup(failure) : NULL;
    atomic_fetch_add(&rec->posted, 1);
    cf_loop_post(rec->tm->loop, cf_tm_on_state, ev);
}

/* ------------------------------------------------------------------ */
/* Checkpoints                                                         */
/* ------------------------------------------------------------------ */

/* Loop: whether a checkpoint message about a task deployed on connection
 * epoch may be sent now. */
static int
cf_tm_ckpt_can_send(cf_tm_t *tm, uint32_t epoch)
{
    return tm->registered && cf_tm_conn_current(tm, epoch);
}

static void
cf_tm_send_decline(cf_tm_t *tm, const cf_id_t *job_id, const cf_id_t *attempt,
                   int64_t checkpoint_id, const char *reason)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__DeclineCheckpoint d = CFLINK__DECLINE_CHECKPOINT__INIT;

    d.job_id = cf_rpc_id_bytes(job_id);
    d.attempt_id = cf_rpc_id_bytes(attempt);
    d.checkpoint_id = checkpoint_id;
    d.reason = (char *)(reason ? reason : "");
    env.body_case = CFLINK__ENVELOPE__BODY_DECLINE_CHECKPOINT;
    env.decline_checkpoint = &d;
    cf_rpc_send(tm->conn, &env);
}

/* Loop: send a task's acknowledgement. The message borrows ack. */
static void
cf_tm_send_ack(cf_tm_task_t *rec, const cf_task_ack_t *ack)
{
    cf_tm_t *tm = rec->tm;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__AcknowledgeCheckpoint a = CFLINK__ACKNOWLEDGE_CHECKPOINT__INIT;
    Cflink__OperatorSubtaskState *ops = NULL, **opp = NULL;
    Cflink__StateHandle *hs = NULL;
    size_t n = ack->nops > 0 ? (size_t)ack->nops : 0;

    if (n > 0) {
        ops = cf_calloc(n, sizeof *ops);
        opp = cf_calloc(n, sizeof *opp);
        hs = cf_calloc(n, sizeof *hs);
    }
    for (size_t i = 0; i < n; i++) {
        const cf_state_handle_t *h = &ack->handles[i];
        cflink__operator_subtask_state__init(&ops[i]);
        ops[i].operator_id = cf_rpc_id_bytes(&ack->op_ids[i]);
        if (h->path != NULL) {
            cflink__state_handle__init(&hs[i]);
            hs[i].path = h->path;
            hs[i].size = h->size;
            hs[i].subtask = h->subtask;
            hs[i].has_keyed = h->has_keyed != 0;
            hs[i].kg_start = h->kg_start;
            hs[i].kg_end = h->kg_end;
            hs[i].has_operator = h->has_operator != 0;
            ops[i].handle = &hs[i];
        }
        opp[i] = &ops[i];
    }
    a.job_id = cf_rpc_id_bytes(&rec->job_id);
    a.attempt_id = cf_rpc_id_bytes(&rec->attempt_id);
    a.checkpoint_id = ack->checkpoint_id;
    a.n_operators = n;
    a.operators = opp;
    a.state_size = ack->state_size;
    a.sync_duration_ms = ack->sync_ms;
    a.async_duration_ms = ack->async_ms;
    a.alignment_duration_ms = ack->alignment_ms;
    a.processed_data = ack->processed_data;
    a.finished = ack->finished != 0;
    env.body_case = CFLINK__ENVELOPE__BODY_ACKNOWLEDGE_CHECKPOINT;
    env.acknowledge_checkpoint = &a;
    cf_rpc_send(tm->conn, &env);
    cf_free(ops);
    cf_free(opp);
    cf_free(hs);
}

static void
cf_tm_on_ckpt_ev(void *arg)
{
    cf_tm_ckpt_ev_t *ev = arg;
    cf_tm_task_t *rec = ev->rec;
    cf_tm_t *tm = rec->tm;
    int64_t id = ev->ack ? ev->ack->checkpoint_id : ev->checkpoint_id;

    if (rec->job == NULL || !cf_tm_ckpt_can_send(tm, rec->epoch)) {
        cf_log_debug("Dropping the %s of checkpoint %lld by task %s (%s): "
                     "the JobManager connection it was deployed on is "
                     "gone.",
                     ev->ack ? "acknowledgement" : "decline", (long long)id,
                     rec->name ? rec->name : "?", rec->attempt_hex);
    } else if (ev->ack != NULL) {
        cf_log_debug("Acknowledging checkpoint %lld of task %s (%s): %d "
                     "operator states, %llu bytes.",
                     (long long)id, rec->name, rec->attempt_hex, ev->ack->nops,
                     (unsigned long long)ev->ack->state_size);
        cf_tm_send_ack(rec, ev->ack);
    } else {
        cf_log_info("Declining checkpoint %lld of task %s (%s): %s",
                    (long long)id, rec->name, rec->attempt_hex,
                    ev->reason ? ev->reason : "");
        cf_tm_send_decline(tm, &rec->job_id, &rec->attempt_id, id, ev->reason);
    }
    if (ev->ack != NULL)
        cf_task_ack_free(ev->ack);
    cf_free(ev->reason);
    cf_free(ev);
    atomic_fetch_sub(&rec->posted, 1);
    cf_tm_task_maybe_free(rec);
}

/* Task thread or snapshot writer thread: post to the loop. */
static void
cf_tm_ckpt_post(cf_tm_task_t *rec, cf_task_ack_t *ack, int64_t id,
                const char *reason)
{
    cf_tm_ckpt_ev_t *ev = CF_NEW(cf_tm_ckpt_ev_t);
    ev->rec = rec;
    ev->ack = ack;
    ev->checkpoint_id = id;
    ev->reason = reason ? cf_strdup(reason) : NULL;
    atomic_fetch_add(&rec->posted, 1);
    cf_loop_post(rec->tm->loop, cf_tm_on_ckpt_ev, ev);
}

static void
cf_tm_ckpt_ack_cb(cf_task_t *t, cf_task_ack_t *ack, void *arg)
{
    (void)t;
    if (ack == NULL)
        return;
    cf_tm_ckpt_post(arg, ack, ack->checkpoint_id, NULL);
}

static void
cf_tm_ckpt_decline_cb(cf_task_t *t, int64_t checkpoint_id, const char *reason,
                      void *arg)
{
    (void)t;
    cf_tm_ckpt_post(arg, NULL, checkpoint_id,
                    reason ? reason : "The task declined the checkpoint.");
}

static const cf_task_ckpt_cbs_t cf_tm_ckpt_cbs = {
    .ack = cf_tm_ckpt_ack_cb,
    .decline = cf_tm_ckpt_decline_cb,
};

/* A live task record of attempt whose job is job_id (when given). */
static cf_tm_task_t *
cf_tm_ckpt_task(cf_tm_t *tm, const ProtobufCBinaryData *job_b,
                const cf_id_t *attempt)
{
    cf_tm_task_t *rec = cf_tm_task_find(tm, attempt);
    cf_id_t job_id;
    if (rec == NULL || rec->job == NULL || rec->t == NULL)
        return NULL;
    if (job_b->len > 0 && (cf_rpc_id_get(job_b, &job_id) < 0 ||
                           !cf_id_equal(&job_id, &rec->job_id)))
        return NULL;
    return rec;
}

void
cf_tm_on_trigger_checkpoint(cf_tm_t *tm, const Cflink__TriggerCheckpoint *tc)
{
    cf_id_t attempt, job_id;
    cf_tm_task_t *rec;
    cf_barrier_t b;
    char ah[CF_ID_HEX_LEN + 1], *msg = NULL;

    if (cf_rpc_id_get(&tc->attempt_id, &attempt) < 0) {
        cf_log_warn("TriggerCheckpoint %lld: attempt_id must be 16 bytes "
                    "(got %zu); ignored.",
                    (long long)tc->checkpoint_id, tc->attempt_id.len);
        return;
    }
    if (cf_rpc_id_get(&tc->job_id, &job_id) < 0)
        memset(&job_id, 0, sizeof job_id);
    cf_id_to_hex(&attempt, ah);
    rec = cf_tm_ckpt_task(tm, &tc->job_id, &attempt);
    if (rec == NULL) {
        msg = cf_asprintf("Task %s is not running", ah);
    } else if (rec->terminal || rec->cancelled) {
        msg = cf_asprintf("Task %s is not running", rec->name);
    } else if (tc->checkpoint_id <= 0 || tc->kind < CF_CKPT_KIND_CHECKPOINT ||
               tc->kind > CF_CKPT_KIND_SYNC_SAVEPOINT) {
        msg =
            cf_asprintf("TriggerCheckpoint: invalid checkpoint id %lld or "
                        "kind %d for task %s",
                        (long long)tc->checkpoint_id, (int)tc->kind, rec->name);
    } else if (tc->location == NULL || tc->location[0] != '/') {
        msg = cf_asprintf("TriggerCheckpoint %lld: the checkpoint location "
                          "'%s' is not an absolute path",
                          (long long)tc->checkpoint_id,
                          tc->location ? tc->location : "");
    }
    if (msg != NULL) {
        cf_log_info("Declining checkpoint %lld of task %s: %s",
                    (long long)tc->checkpoint_id, rec ? rec->name : ah, msg);
        if (tm->registered && tm->conn != NULL && cf_rpc_conn_is_open(tm->conn))
            cf_tm_send_decline(tm, rec ? &rec->job_id : &job_id, &attempt,
                               tc->checkpoint_id, msg);
        cf_free(msg);
        return;
    }
    memset(&b, 0, sizeof b);
    b.id = tc->checkpoint_id;
    b.timestamp = tc->timestamp;
    b.kind = tc->kind;
    b.drain = tc->drain != 0;
    b.location = tc->location; /* copied by the task */
    cf_log_debug("Trigger checkpoint %lld@%lld (kind %d%s) for task %s (%s).",
                 (long long)b.id, (long long)b.timestamp, b.kind,
                 b.drain ? ", drain" : "", rec->name, rec->attempt_hex);
    cf_task_trigger_checkpoint(rec->t, &b);
}

void
cf_tm_on_notify_checkpoint(cf_tm_t *tm, const Cflink__NotifyCheckpoint *nc)
{
    cf_id_t attempt;
    cf_tm_task_t *rec;
    char ah[CF_ID_HEX_LEN + 1];

    if (cf_rpc_id_get(&nc->attempt_id, &attempt) < 0) {
        cf_log_warn("NotifyCheckpoint %lld: attempt_id must be 16 bytes "
                    "(got %zu); ignored.",
                    (long long)nc->checkpoint_id, nc->attempt_id.len);
        return;
    }
    rec = cf_tm_ckpt_task(tm, &nc->job_id, &attempt);
    if (rec == NULL || rec->terminal) {
        cf_id_to_hex(&attempt, ah);
        cf_log_debug("Ignoring the %s notification of checkpoint %lld for "
                     "task %s: it is not running.",
                     nc->aborted ? "abort" : "completion",
                     (long long)nc->checkpoint_id, rec ? rec->name : ah);
        return;
    }
    cf_task_notify_checkpoint(rec->t, nc->checkpoint_id, nc->aborted != 0);
}

/* SubmitTask.restore to a cf_task_restore_t whose strings borrow tr
 * (cf_task_deploy copies it). Free with cf_tm_restore_free. 0, or -1
 * with *msg set (an invalid handle). */
static int
cf_tm_restore_get(const Cflink__TaskRestore *tr, cf_task_restore_t *out,
                  char **msg)
{
    memset(out, 0, sizeof *out);
    out->checkpoint_id = tr->checkpoint_id;
    if (tr->n_operators == 0)
        return 0;
    if (tr->n_operators > 1u << 16) {
        *msg = cf_asprintf("SubmitTask: too many restored operators (%zu)",
                           tr->n_operators);
        return -1;
    }
    out->ops = cf_calloc(tr->n_operators, sizeof *out->ops);
    for (size_t i = 0; i < tr->n_operators; i++) {
        const Cflink__OperatorRestore *o = tr->operators[i];
        cf_op_restore_t *r = &out->ops[out->nops];
        char oh[CF_ID_HEX_LEN + 1];
        if (o == NULL)
            continue;
        if (cf_rpc_id_get(&o->operator_id, &r->op_id) < 0) {
            *msg = cf_asprintf("SubmitTask: restore of checkpoint %lld: "
                               "operator id %zu is not 16 bytes",
                               (long long)tr->checkpoint_id, i);
            return -1;
        }
        cf_id_to_hex(&r->op_id, oh);
        out->nops++;
        r->old_parallelism = o->old_parallelism;
        r->finished = o->finished != 0;
        if (o->old_parallelism <= 0 || o->n_handles > 1u << 20) {
            *msg = cf_asprintf("SubmitTask: restore of checkpoint %lld: "
                               "operator %s has an invalid old parallelism "
                               "(%d) or handle count (%zu)",
                               (long long)tr->checkpoint_id, oh,
                               (int)o->old_parallelism, o->n_handles);
            return -1;
        }
        if (o->n_handles == 0)
            continue;
        r->handles = cf_calloc(o->n_handles, sizeof *r->handles);
        for (size_t k = 0; k < o->n_handles; k++) {
            const Cflink__StateHandle *h = o->handles[k];
            cf_state_handle_t *d = &r->handles[r->nhandles];
            if (h == NULL)
                continue;
            if (h->path == NULL || h->path[0] != '/' || h->subtask < 0 ||
                (h->has_keyed &&
                 (h->kg_start < 0 || h->kg_end < h->kg_start))) {
                *msg = cf_asprintf("SubmitTask: restore of checkpoint %lld: "
                                   "invalid state handle '%s' of operator "
                                   "%s (absolute path, subtask >= 0 and a "
                                   "key-group range expected)",
                                   (long long)tr->checkpoint_id,
                                   h->path ? h->path : "", oh);
                return -1;
            }
            d->path = h->path;
            d->size = h->size;
            d->subtask = h->subtask;
            d->has_keyed = h->has_keyed != 0;
            d->kg_start = h->kg_start;
            d->kg_end = h->kg_end;
            d->has_operator = h->has_operator != 0;
            r->nhandles++;
        }
    }
    return 0;
}

static void
cf_tm_restore_free(cf_task_restore_t *r)
{
    for (int i = 0; i < r->nops; i++)
        cf_free(r->ops[i].handles);
    cf_free(r->ops);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */
/* Deployment                                                          */
/* ------------------------------------------------------------------ */

/* Check the gates of a submission; returns the number of channels or -1
 * with *msg set. */
static int
cf_tm_check_gates(const Cflink__SubmitTask *st, char **msg)
{
    int64_t n = 0;
    for (size_t g = 0; g < st->n_gates; g++) {
        const Cflink__InputGateDescriptor *gd = st->gates[g];
        if (gd == NULL)
            continue;
        for (size_t c = 0; c < gd->n_channels; c++) {
            const Cflink__InputChannelDescriptor *cd = gd->channels[c];
            cf_id_t id;
            if (cd == NULL ||
                cf_rpc_id_get(&cd->producer_attempt_id, &id) < 0 ||
                cd->output < 0 || cd->subpartition < 0 || cd->host == NULL ||
                !*cd->host || cd->data_port <= 0 || cd->data_port > 65535) {
                *msg = cf_asprintf("SubmitTask: invalid input channel %zu "
                                   "of input gate %zu",
                                   c, g);
                return -1;
            }
            n++;
        }
    }
    if (n > CF_TM_MAX_CHANNELS) {
        *msg = cf_asprintf("SubmitTask: too many input channels (%lld)",
                           (long long)n);
        return -1;
    }
    return (int)n;
}

/* Deploy one subtask of a ready job; 0 or -1 with *msg set. */
static int
cf_tm_deploy(cf_tm_t *tm, cf_tm_job_t *job, const Cflink__SubmitTask *st,
             char **msg)
{
    cf_id_t attempt, alloc;
    cf_tm_slot_t *slot;
    cf_tm_task_t *rec;
    cf_task_spec_t spec;
    cf_task_restore_t restore;
    cf_error_t *err = NULL;
    char ah[CF_ID_HEX_LEN + 1];
    int nch, ch, ngates, has_restore = 0;

    cf_rpc_id_get(&st->attempt_id, &attempt);
    cf_rpc_id_get(&st->allocation_id, &alloc);
    if (tm->shutting_down) {
        *msg = cf_strdup("The TaskExecutor is shutting down.");
        return -1;
    }
    if ((slot = cf_tm_check_slot(tm, &job->job_id, &alloc, msg)) == NULL)
        return -1;
    if (cf_tm_task_find(tm, &attempt) != NULL) {
        cf_id_to_hex(&attempt, ah);
        *msg = cf_asprintf("Task %s is already deployed.", ah);
        return -1;
    }
    if ((nch = cf_tm_check_gates(st, msg)) < 0)
        return -1;
    memset(&restore, 0, sizeof restore);
    if (st->restore != NULL) {
        if (cf_tm_restore_get(st->restore, &restore, msg) < 0) {
            cf_tm_restore_free(&restore);
            return -1;
        }
        has_restore = 1;
    }

    rec = CF_NEW(cf_tm_task_t);
    rec->epoch = tm->epoch;
    rec->tm = tm;
    rec->slot = slot->index;
    rec->job_id = job->job_id;
    rec->attempt_id = attempt;
    rec->allocation_id = alloc;
    cf_id_to_hex(&attempt, rec->attempt_hex);
    atomic_init(&rec->posted, 0);
    rec->state = CF_EXEC_CREATED;

    memset(&spec, 0, sizeof spec);
    spec.vertex = st->vertex_index;
    spec.subtask = st->subtask_index;
    spec.attempt = st->attempt_number;
    spec.nchannels = nch;
    spec.net = tm->env;
    spec.state_cb = cf_tm_state_cb;
    spec.cb_arg = rec;
    if (st->checkpointing != NULL) {
        spec.checkpointing = st->checkpointing->enabled != 0;
        spec.exactly_once = st->checkpointing->exactly_once != 0;
        spec.compress = st->checkpointing->compress != 0;
    }
    spec.ckpt_cbs = &cf_tm_ckpt_cbs;
    if (has_restore) {
        spec.restore = &restore;
        cf_log_info("Restoring task %d of vertex %d from checkpoint %lld "
                    "(%d operator states).",
                    st->subtask_index, st->vertex_index,
                    (long long)restore.checkpoint_id, restore.nops);
    }
    rec->t = cf_task_deploy(job->job, &spec, &err);
    cf_tm_restore_free(&restore);
    if (rec->t == NULL) {
        *msg = cf_asprintf("Cannot deploy subtask %d of vertex %d of job "
                           "%s: %s",
                           st->subtask_index, st->vertex_index, job->job_hex,
                           cf_error_msg(err));
        cf_error_free(err);
        cf_tm_task_maybe_free(rec); /* orphan: freed once events ran */
        return -1;
    }
    rec->job = job;
    rec->name = cf_strdup(cf_task_name_get(rec->t));
    rec->next = tm->tasks;
    tm->tasks = rec;
    tm->ntasks++;
    job->ntasks++;
    slot->ntasks++;
    cf_log_info("Received task %s (%s), deploy into slot with allocation "
                "id %s.",
                rec->name, rec->attempt_hex, (cf_id_to_hex(&alloc, ah), ah));

    for (int o = 0; o < cf_task_noutputs(rec->t); o++) {
        cf_net_pid_t pid;
        pid.attempt = attempt;
        pid.output = o;
        cf_netmgr_publish(tm->net, &pid, cf_task_output(rec->t, o),
                          cf_task_connected(rec->t), cf_task_signal(rec->t));
    }
    ch = 0;
    ngates = 0;
    for (size_t g = 0; g < st->n_gates; g++) {
        const Cflink__InputGateDescriptor *gd = st->gates[g];
        if (gd == NULL)
            continue;
        ngates += gd->n_channels > 0;
        for (size_t c = 0; c < gd->n_channels; c++, ch++) {
            const Cflink__InputChannelDescriptor *cd = gd->channels[c];
            cf_net_pid_t pid;
            cf_rpc_id_get(&cd->producer_attempt_id, &pid.attempt);
            pid.output = cd->output;
            cf_netmgr_subscribe(tm->net, &pid, cd->subpartition, cd->host,
                                cd->data_port, cf_task_gate(rec->t), ch,
                                tm->buffers_per_channel);
        }
    }
    /* Flink's floating buffers per input gate: the task's inputs share
     * one gate here, so it gets the allowance of each logical gate. Only
     * a gate with remote channels reserves them. */
    if (ngates > 0 && tm->floating_per_gate > 0)
        cf_netmgr_gate_floating(tm->net, cf_task_gate(rec->t),
                                tm->floating_per_gate * ngates);
    if (cf_task_start(rec->t, &err) < 0) {
        *msg = cf_asprintf("Cannot start task %s: %s", rec->name,
                           cf_error_msg(err));
        cf_error_free(err);
        rec->terminal = 1;
        rec->state = CF_EXEC_FAILED;
        cf_tm_task_release(rec);
        return -1;
    }
    return 0;
}

static void
cf_tm_deploy_reply(cf_tm_t *tm, cf_tm_job_t *job, uint32_t epoch,
                   uint64_t req_id, const Cflink__SubmitTask *st)
{
    char *msg = NULL;
    if (!cf_tm_conn_current(tm, epoch))
        return; /* the JobMaster that asked is gone */
    if (cf_tm_deploy(tm, job, st, &msg) < 0) {
        cf_log_warn("%s", msg);
        cf_tm_reply_error(tm, epoch, req_id, msg);
        cf_free(msg);
        return;
    }
    cf_tm_reply_ack(tm, epoch, req_id);
}

/* ------------------------------------------------------------------ */
/* Jobs: plugin cache                                                  */
/* ------------------------------------------------------------------ */

static void
cf_tm_job_free(cf_tm_job_t *job)
{
    cf_tm_pending_t *p;
    while ((p = job->pending) != NULL) {
        job->pending = p->next;
        cf_tm_pending_free(p);
    }
    cf_job_destroy(job->job);
    cf_plugin_close(job->lib);
    cf_config_destroy(job->cfg);
    for (int i = 0; i < job->argc; i++)
        cf_free(job->argv[i]);
    cf_free(job->argv);
    cf_free(job->key);
    cf_free(job->plugin_name);
    cf_free(job->path);
    cf_free(job->graph);
    cf_free(job->blob.data);
    cf_error_free(job->err);
    cf_free(job);
}

static void
cf_tm_job_unlink(cf_tm_t *tm, cf_tm_job_t *job)
{
    for (cf_tm_job_t **pp = &tm->jobs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            return;
        }
}

void
cf_tm_job_gc(cf_tm_t *tm, const cf_id_t *job_id)
{
    cf_tm_job_t *job = cf_tm_job_find(tm, job_id);
    if (job == NULL || job->state != CF_TM_JOB_READY || job->ntasks > 0 ||
        job->pending != NULL || cf_tm_job_has_slots(tm, job_id))
        return;
    cf_log_info("Releasing the plugin %s of job %s.", job->plugin_name,
                job->job_hex);
    cf_tm_job_unlink(tm, job);
    cf_tm_job_free(job);
}

void
cf_tm_jobs_destroy(cf_tm_t *tm)
{
    cf_tm_job_t *job;
    while ((job = tm->jobs) != NULL) {
        tm->jobs = job->next;
        cf_tm_job_free(job);
    }
}

void
cf_tm_drop_pending(cf_tm_t *tm)
{
    for (cf_tm_job_t *j = tm->jobs; j != NULL; j = j->next) {
        cf_tm_pending_t *p;
        while ((p = j->pending) != NULL) {
            j->pending = p->next;
            cf_tm_pending_free(p);
        }
        j->pending_tail = &j->pending;
    }
}

/* The preparation failed: answer the waiting submissions, drop the job. */
static void
cf_tm_job_fail(cf_tm_job_t *job, const char *why)
{
    cf_tm_t *tm = job->tm;
    cf_tm_pending_t *p;
    char *msg = cf_asprintf("Cannot load the plugin %s (blob %s) of job %s: "
                            "%s",
                            job->plugin_name, job->key_hex, job->job_hex, why);
    cf_log_error("%s", msg);
    while ((p = job->pending) != NULL) {
        job->pending = p->next;
        cf_tm_reply_error(tm, p->epoch, p->req_id, msg);
        cf_tm_pending_free(p);
    }
    cf_free(msg);
    tm->npreparing--;
    cf_tm_job_unlink(tm, job);
    cf_tm_job_free(job);
    cf_tm_check_shutdown(tm);
}

static void
cf_tm_job_ready(cf_tm_job_t *job)
{
    cf_tm_t *tm = job->tm;
    cf_tm_pending_t *p;

    job->state = CF_TM_JOB_READY;
    tm->npreparing--;
    cf_log_info("Loaded plugin %s (%s) for job %s in %lld ms.",
                job->plugin_name, cf_plugin_name(job->lib), job->job_hex,
                (long long)(cf_mono_ms() - job->prep_start_ms));
    while ((p = job->pending) != NULL) {
        job->pending = p->next;
        cf_tm_deploy_reply(tm, job, p->epoch, p->req_id, p->st);
        cf_tm_pending_free(p);
    }
    job->pending_tail = &job->pending;
    cf_tm_job_gc(tm, &job->job_id);
    cf_tm_check_shutdown(tm);
}

/* Copy the file src to dst (created, mode 0600). */
static int
cf_tm_file_copy(const char *src, const char *dst, cf_error_t **errp)
{
    char buf[65536];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    ssize_t n;

    if (in < 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot open %s: %s", src, strerror(errno));
        return rc;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot create %s: %s", dst, strerror(errno));
        close(in);
        return rc;
    }
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            cf_error_set(errp, rc, "cannot read %s: %s", src,
                         strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = w < 0 ? -errno : CF_EIO;
                cf_error_set(errp, rc, "cannot write %s: %s", dst,
                             w < 0 ? strerror(errno) : "short write");
                break;
            }
            off += w;
        }
    }
    close(in);
    if (close(out) < 0 && rc == 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot write %s: %s", dst, strerror(errno));
    }
    if (rc < 0)
        unlink(dst);
    return rc;
}

/* Load the job's own copy of the plugin. dlopen returns the library
 * already loaded for the same file, so two jobs of one plugin on this
 * TaskManager would share its global variables (Flink gives every job
 * its own class loader): each job maps a private copy, unlinked as soon
 * as it is loaded (the mapping stays). */
static int
cf_tm_job_open_plugin(cf_tm_job_t *job)
{
    char *copy = cf_asprintf("%s.job-%s", job->path, job->job_hex);
    int rc = cf_tm_file_copy(job->path, copy, &job->err);

    if (rc == 0) {
        rc = cf_plugin_open(copy, &job->lib, &job->err);
        unlink(copy);
    }
    cf_free(copy);
    return rc;
}

/* Worker thread: store the fetched plugin, load it, build and bind. */
static void
cf_tm_job_load_work(void *arg)
{
    cf_tm_job_t *job = arg;
    cf_job_opts_t opts;

    if (job->blob.data != NULL) {
        int rc = cf_tm_blob_store(job->path, &job->blob, &job->err);
        cf_free(job->blob.data);
        job->blob.data = NULL;
        if (rc < 0)
            return;
    }
    if (access(job->path, R_OK) != 0) {
        if (job->fetched)
            cf_error_set(&job->err, CF_EIO, "%s is missing", job->path);
        else
            job->need_fetch = 1;
        return;
    }
    if (cf_tm_job_open_plugin(job) < 0)
        return;
    memset(&opts, 0, sizeof opts);
    opts.parallelism = job->parallelism;
    opts.argc = job->argc;
    opts.argv = job->argv;
    opts.job_id_hex = job->job_hex;
    if (cf_job_build(job->lib, job->cfg, &opts, &job->job, &job->err) < 0)
        return;
    cf_job_bind(job->job, job->graph, job->graph_len, &job->err);
}

static void cf_tm_job_load_done(void *arg);

static void
cf_tm_job_fetched(cf_tm_t *tm, int status, const char *error,
                  cf_tm_blob_data_t *data, void *arg)
{
    cf_tm_job_t *job = arg;
    (void)tm;
    if (status < 0) {
        cf_tm_job_fail(job, error ? error : cf_strerror(status));
        return;
    }
    job->blob = *data;
    if (cf_loop_work(job->tm->loop, cf_tm_job_load_work, cf_tm_job_load_done,
                     job) < 0)
        cf_tm_job_fail(job, "cannot queue the plugin load");
}

static void
cf_tm_job_load_done(void *arg)
{
    cf_tm_job_t *job = arg;
    cf_tm_t *tm = job->tm;

    if (job->err != NULL) {
        cf_tm_job_fail(job, cf_error_msg(job->err));
        return;
    }
    if (job->need_fetch) {
        job->need_fetch = 0;
        job->fetched = 1;
        if (tm->conn == NULL || !cf_rpc_conn_is_open(tm->conn)) {
            cf_tm_job_fail(job, "the JobManager connection was lost");
            return;
        }
        ProtobufCBinaryData key = {job->keylen, job->key};
        cf_tm_blob_fetch(tm, &key, job->key_hex, cf_tm_job_fetched, job);
        return;
    }
    cf_tm_job_ready(job);
}

/* A new cache entry for the job of st; NULL with *msg set. */
static cf_tm_job_t *
cf_tm_job_new(cf_tm_t *tm, const cf_id_t *job_id, const char *key_hex,
              const Cflink__SubmitTask *st, char **msg)
{
    cf_tm_job_t *job = CF_NEW(cf_tm_job_t);
    cf_error_t *err = NULL;

    job->tm = tm;
    job->job_id = *job_id;
    cf_id_to_hex(job_id, job->job_hex);
    memcpy(job->key_hex, key_hex, 65);
    job->keylen = st->plugin_key.len;
    job->key = cf_malloc(job->keylen);
    memcpy(job->key, st->plugin_key.data, job->keylen);
    job->plugin_name = cf_strdup(
        st->plugin_name && *st->plugin_name ? st->plugin_name : key_hex);
    job->path = cf_tm_blob_path(tm->blob_dir, key_hex);
    job->cfg = cf_config_copy(tm->cfg);
    for (size_t i = 0; i < st->n_config; i++) {
        const Cflink__ConfigEntry *e = st->config[i];
        if (e == NULL || e->key == NULL || !*e->key)
            continue;
        if (cf_config_set(job->cfg, e->key, e->value, "job configuration",
                          &err) < 0) {
            *msg = cf_asprintf("Invalid configuration of job %s: %s",
                               job->job_hex, cf_error_msg(err));
            cf_error_free(err);
            cf_tm_job_free(job);
            return NULL;
        }
    }
    job->argc = 1 + (int)st->n_args;
    job->argv = cf_calloc((size_t)job->argc + 1, sizeof(char *));
    job->argv[0] = cf_strdup(job->path);
    for (size_t i = 0; i < st->n_args; i++)
        job->argv[1 + i] = cf_strdup(st->args[i] ? st->args[i] : "");
    job->parallelism = st->parallelism;
    job->graph_len = st->job_graph.len;
    job->graph = cf_malloc(job->graph_len ? job->graph_len : 1);
    if (job->graph_len)
        memcpy(job->graph, st->job_graph.data, job->graph_len);
    job->pending_tail = &job->pending;
    job->state = CF_TM_JOB_PREPARING;
    job->prep_start_ms = cf_mono_ms();
    return job;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

void
cf_tm_on_submit(cf_tm_t *tm, uint64_t req_id, const Cflink__SubmitTask *st)
{
    cf_id_t job_id, attempt, alloc;
    char key_hex[65];
    char *msg = NULL;
    cf_tm_job_t *job;
    cf_tm_pending_t *p;
    size_t n;
    uint8_t *buf;

    if (cf_rpc_id_get(&st->job_id, &job_id) < 0 ||
        cf_rpc_id_get(&st->attempt_id, &attempt) < 0 ||
        cf_rpc_id_get(&st->allocation_id, &alloc) < 0) {
        msg = cf_strdup("SubmitTask: job_id, attempt_id and allocation_id "
                        "must be 16 bytes");
        goto fail;
    }
    if (cf_tm_blob_key_hex(&st->plugin_key, key_hex) < 0) {
        msg = cf_asprintf("SubmitTask: invalid plugin key (%zu bytes)",
                          st->plugin_key.len);
        goto fail;
    }
    if (st->vertex_index < 0 || st->subtask_index < 0 ||
        st->attempt_number < 0) {
        msg = cf_asprintf("SubmitTask: invalid vertex %d, subtask %d or "
                          "attempt %d",
                          st->vertex_index, st->subtask_index,
                          st->attempt_number);
        goto fail;
    }
    if (tm->shutting_down) {
        msg = cf_strdup("The TaskExecutor is shutting down.");
        goto fail;
    }
    if (cf_tm_check_slot(tm, &job_id, &alloc, &msg) == NULL)
        goto fail;
    if (cf_tm_check_gates(st, &msg) < 0)
        goto fail;

    job = cf_tm_job_find(tm, &job_id);
    if (job != NULL && strcmp(job->key_hex, key_hex) != 0) {
        msg = cf_asprintf("Job %s is loaded from plugin blob %s, not %s.",
                          job->job_hex, job->key_hex, key_hex);
        goto fail;
    }
    if (job != NULL && job->state == CF_TM_JOB_READY) {
        cf_tm_deploy_reply(tm, job, tm->epoch, req_id, st);
        return;
    }
    if (job == NULL) {
        if ((job = cf_tm_job_new(tm, &job_id, key_hex, st, &msg)) == NULL)
            goto fail;
        job->next = tm->jobs;
        tm->jobs = job;
        tm->npreparing++;
        if (cf_loop_work(tm->loop, cf_tm_job_load_work, cf_tm_job_load_done,
                         job) < 0) {
            tm->npreparing--;
            cf_tm_job_unlink(tm, job);
            cf_tm_job_free(job);
            msg = cf_strdup("cannot queue the plugin load");
            goto fail;
        }
    }
    /* Wait for the plugin: keep a copy of the request. */
    n = cflink__submit_task__get_packed_size(st);
    buf = cf_malloc(n ? n : 1);
    cflink__submit_task__pack(st, buf);
    p = CF_NEW(cf_tm_pending_t);
    p->st = cflink__submit_task__unpack(NULL, n, buf);
    cf_free(buf);
    CF_ASSERT(p->st != NULL);
    p->req_id = req_id;
    p->epoch = tm->epoch;
    *job->pending_tail = p;
    job->pending_tail = &p->next;
    return;

fail:
    cf_log_warn("%s", msg);
    cf_tm_reply_error(tm, tm->epoch, req_id, msg);
    cf_free(msg);
}

/* Drop a submission of attempt waiting for its job's plugin, answering
 * it with an error. Returns whether there was one. */
static int
cf_tm_pending_cancel(cf_tm_t *tm, const cf_id_t *attempt)
{
    for (cf_tm_job_t *j = tm->jobs; j != NULL; j = j->next) {
        for (cf_tm_pending_t **pp = &j->pending; *pp != NULL;
             pp = &(*pp)->next) {
            cf_tm_pending_t *p = *pp;
            cf_id_t id;
            char ah[CF_ID_HEX_LEN + 1], *msg;
            if (cf_rpc_id_get(&p->st->attempt_id, &id) < 0 ||
                !cf_id_equal(&id, attempt))
                continue;
            *pp = p->next;
            if (j->pending_tail == &p->next)
                j->pending_tail = pp;
            cf_id_to_hex(attempt, ah);
            msg = cf_asprintf("Task %s was cancelled before it was "
                              "deployed.",
                              ah);
            cf_log_info("%s", msg);
            cf_tm_reply_error(tm, p->epoch, p->req_id, msg);
            cf_free(msg);
            cf_tm_pending_free(p);
            return 1;
        }
    }
    return 0;
}

static void
cf_tm_task_cancel(cf_tm_task_t *rec)
{
    if (rec->terminal || rec->cancelled)
        return;
    rec->cancelled = 1;
    cf_log_info("Attempting to cancel task %s (%s).", rec->name,
                rec->attempt_hex);
    cf_task_cancel(rec->t);
}

void
cf_tm_on_cancel(cf_tm_t *tm, uint64_t req_id, const Cflink__CancelTask *ct)
{
    cf_id_t attempt;
    cf_tm_task_t *rec;
    char ah[CF_ID_HEX_LEN + 1];

    if (cf_rpc_id_get(&ct->attempt_id, &attempt) < 0) {
        cf_tm_reply_error(tm, tm->epoch, req_id,
                          "CancelTask: attempt_id must be 16 bytes");
        return;
    }
    rec = cf_tm_task_find(tm, &attempt);
    if (rec != NULL) {
        cf_tm_task_cancel(rec);
    } else if (!cf_tm_pending_cancel(tm, &attempt)) {
        cf_id_to_hex(&attempt, ah);
        cf_log_debug("Cannot find task to cancel with execution %s.", ah);
    }
    cf_tm_reply_ack(tm, tm->epoch, req_id);
}

int
cf_tm_cancel_tasks(cf_tm_t *tm, int slot)
{
    int n = 0;
    for (cf_tm_task_t *r = tm->tasks; r != NULL; r = r->next) {
        if (slot >= 0 && r->slot != slot)
            continue;
        n++;
        cf_tm_task_cancel(r);
    }
    return n;
}
