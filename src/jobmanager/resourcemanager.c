/*
 * resourcemanager.c: the JobManager's ResourceManager (Flink's
 * ResourceManager + SlotManager + the TaskManager heartbeat target):
 * TaskManager registration, the slot table of every TaskManager, slot
 * requests of JobMasters, heartbeats and TaskManager loss.
 *
 * Slots: FREE -> PENDING (RequestSlot sent to the TaskManager, which
 * offers the slot to the job's JobMaster) -> ALLOCATED (the JobMaster
 * accepted the offer) -> FREE (released by the JobMaster, or reported
 * free by the TaskManager). A request that fails (error reply, timeout,
 * TaskManager lost before the offer was accepted, offer declined behind
 * our back) goes back to the job's pending requests, so every slot a
 * JobMaster asked for ends in an offer it accepts or declines, until it
 * drops its requests (cf_rm_cancel_requests). Pending requests are served
 * in arrival order, on TaskManagers in registration order, lowest free
 * slot index first.
 *
 * Heartbeats: every heartbeat.interval a HeartbeatRequest goes to each
 * TaskManager; its HeartbeatResponse carries the slot report, reconciled
 * with the table, and the IO counters of the running tasks, handed to
 * their JobMasters. A TaskManager silent for heartbeat.timeout, or whose
 * connection closed, is removed at once and the Dispatcher told (which
 * tells the JobMasters).
 *
 * Threads: everything runs on the JobManager's loop.
 */
#include <inttypes.h>
#include <string.h>

#include "dispatcher_int.h"
#include "jobmanager_int.h"

/* Delay before pending requests are served again after a failed
 * RequestSlot (the TaskManager may still be releasing the slot), and how
 * long that slot is passed over (other free slots are used first). */
#define RM_RETRY_MS 200
#define RM_COOL_MS 1000
/* Most slots one TaskManager may offer. */
#define RM_MAX_SLOTS 1024

/* A registered TaskManager with the RM's private per-slot state. The
 * public part comes first, so a cf_rm_tm_t * is also an rm_tm_t *. */
typedef struct rm_tm_s {
    cf_rm_tm_t pub;
    uint8_t *acked; /* PENDING slot: the TaskManager acked RequestSlot */
    int64_t *cool_until; /* FREE slot refused lately: skip until (mono) */
} rm_tm_t;

/* Slots a job still waits for. */
typedef struct rm_req_s {
    cf_id_t job_id;
    int n;
    struct rm_req_s *next;
} rm_req_t;

/* A call in flight: the reply callback finds the RM through it, and
 * nothing once the RM is gone (rm == NULL). */
typedef enum rm_call_kind_e {
    RM_CALL_HEARTBEAT,
    RM_CALL_REQUEST_SLOT,
    RM_CALL_FREE_SLOT,
} rm_call_kind_t;

typedef struct rm_call_s {
    cf_rm_t *rm;
    rm_call_kind_t kind;
    char *resource_id;
    cf_id_t instance_id;
    cf_id_t allocation_id;
    cf_id_t job_id;
    int slot_index;
    struct rm_call_s *prev, *next;
} rm_call_t;

struct cf_rm_s {
    cf_jm_t *jm;
    cf_rm_tm_t *tms; /* registration order */
    rm_req_t *reqs;  /* arrival order */
    rm_call_t calls; /* list head */
    cf_timer_t *tick_timer;
    cf_timer_t *retry_timer;
    int64_t hb_interval_ms;
    int64_t hb_timeout_ms;
    int64_t ask_timeout_ms;
    int64_t last_hb_sent_ms;
    int serving; /* serve_pending() running: no nested runs */
};

static void serve_pending(cf_rm_t *rm);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *
id_hex(const cf_id_t *id, char buf[CF_ID_HEX_LEN + 1])
{
    cf_id_to_hex(id, buf);
    return buf;
}

static rm_call_t *
call_new(cf_rm_t *rm, rm_call_kind_t kind, const cf_rm_tm_t *tm)
{
    rm_call_t *cl = CF_NEW(rm_call_t);

    cl->rm = rm;
    cl->kind = kind;
    cl->resource_id = cf_strdup(tm->resource_id);
    cl->instance_id = tm->instance_id;
    cl->next = rm->calls.next;
    cl->prev = &rm->calls;
    rm->calls.next->prev = cl;
    rm->calls.next = cl;
    return cl;
}

static void
call_free(rm_call_t *cl)
{
    if (cl->rm != NULL) {
        cl->prev->next = cl->next;
        cl->next->prev = cl->prev;
    }
    cf_free(cl->resource_id);
    cf_free(cl);
}

/* The TaskManager of a call, if it is still the same registration. */
static cf_rm_tm_t *
call_tm(rm_call_t *cl)
{
    cf_rm_tm_t *tm = cf_rm_find_tm(cl->rm, cl->resource_id);

    if (tm == NULL || !cf_id_equal(&tm->instance_id, &cl->instance_id))
        return NULL;
    return tm;
}

static rm_req_t *
req_find(cf_rm_t *rm, const cf_id_t *job_id)
{
    for (rm_req_t *q = rm->reqs; q != NULL; q = q->next)
        if (cf_id_equal(&q->job_id, job_id))
            return q;
    return NULL;
}

/* Add n slots to the job's pending requests (appended when new). */
static void
req_add(cf_rm_t *rm, const cf_id_t *job_id, int n)
{
    rm_req_t *q = req_find(rm, job_id), **pp;

    if (q != NULL) {
        q->n += n;
        return;
    }
    q = CF_NEW(rm_req_t);
    q->job_id = *job_id;
    q->n = n;
    for (pp = &rm->reqs; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = q;
}

static void
req_drop_empty(cf_rm_t *rm)
{
    rm_req_t **pp = &rm->reqs;

    while (*pp != NULL) {
        if ((*pp)->n <= 0) {
            rm_req_t *q = *pp;

            *pp = q->next;
            cf_free(q);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void
retry_fn(void *arg)
{
    cf_rm_t *rm = arg;

    rm->retry_timer = NULL;
    serve_pending(rm);
}

static void
schedule_retry(cf_rm_t *rm)
{
    if (rm->retry_timer == NULL && rm->reqs != NULL)
        rm->retry_timer =
            cf_loop_timer(rm->jm->loop, RM_RETRY_MS, 0, retry_fn, rm);
}

/* A PENDING slot whose request failed: free it and ask again for the
 * job. */
static void
slot_request_failed(cf_rm_t *rm, cf_rm_tm_t *tm, int idx)
{
    cf_rm_slot_t *s = &tm->slots[idx];

    s->state = CF_SLOT_FREE;
    ((rm_tm_t *)tm)->acked[idx] = 0;
    ((rm_tm_t *)tm)->cool_until[idx] = cf_mono_ms() + RM_COOL_MS;
    req_add(rm, &s->job_id, 1);
    memset(&s->allocation_id, 0, sizeof s->allocation_id);
    memset(&s->job_id, 0, sizeof s->job_id);
}

static void
slot_free(cf_rm_tm_t *tm, int idx)
{
    cf_rm_slot_t *s = &tm->slots[idx];

    s->state = CF_SLOT_FREE;
    ((rm_tm_t *)tm)->acked[idx] = 0;
    memset(&s->allocation_id, 0, sizeof s->allocation_id);
    memset(&s->job_id, 0, sizeof s->job_id);
}

static int
slot_find(const cf_rm_tm_t *tm, const cf_id_t *allocation_id)
{
    for (int i = 0; i < tm->num_slots; i++)
        if (tm->slots[i].state != CF_SLOT_FREE &&
            cf_id_equal(&tm->slots[i].allocation_id, allocation_id))
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* TaskManager removal                                                 */
/* ------------------------------------------------------------------ */

static void
tm_free(cf_rm_tm_t *tm)
{
    if (tm == NULL)
        return;
    cf_free(tm->resource_id);
    cf_free(tm->host);
    cf_free(tm->rpc_peer);
    cf_free(tm->version);
    cf_free(tm->slots);
    cf_free(((rm_tm_t *)tm)->acked);
    cf_free(((rm_tm_t *)tm)->cool_until);
    cf_free(tm);
}

static void
tm_unlink(cf_rm_t *rm, cf_rm_tm_t *tm)
{
    for (cf_rm_tm_t **pp = &rm->tms; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == tm) {
            *pp = tm->next;
            tm->next = NULL;
            return;
        }
    }
}

/* Remove a TaskManager: its requests in flight go back to their jobs,
 * the JobMasters hear of the loss, its connection is closed (unless the
 * caller keeps it) and the entry freed. */
static void
tm_remove(cf_rm_t *rm, cf_rm_tm_t *tm, const char *reason, int close_conn)
{
    cf_rpc_conn_t *conn = tm->conn;

    tm_unlink(rm, tm);
    for (int i = 0; i < tm->num_slots; i++)
        if (tm->slots[i].state == CF_SLOT_PENDING)
            slot_request_failed(rm, tm, i);
    cf_log_info("Closing TaskManager connection %s: %s", tm->resource_id,
                reason);
    if (rm->jm->dispatcher != NULL)
        cf_dispatcher_tm_lost(rm->jm->dispatcher, tm->resource_id, reason);
    if (close_conn && conn != NULL)
        cf_rpc_conn_close(conn, reason);
    tm_free(tm);
    serve_pending(rm);
}

/* ------------------------------------------------------------------ */
/* Slot requests                                                       */
/* ------------------------------------------------------------------ */

static void
free_slot_cb(cf_rpc_conn_t *c, int status, const char *error,
             const Cflink__Envelope *reply, void *arg)
{
    rm_call_t *cl = arg;

    (void)c;
    (void)reply;
    if (cl->rm != NULL && status < 0)
        cf_log_debug("FreeSlot to TaskManager %s failed: %s",
                     cl->resource_id, error ? error : cf_strerror(status));
    call_free(cl);
}

/* Ask a TaskManager to free a slot it reports allocated that no
 * JobMaster holds. */
static void
send_free_slot(cf_rm_t *rm, cf_rm_tm_t *tm, const cf_id_t *allocation_id,
               const char *cause)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__FreeSlot fs = CFLINK__FREE_SLOT__INIT;
    rm_call_t *cl;

    fs.allocation_id = cf_rpc_id_bytes(allocation_id);
    fs.cause = (char *)cause;
    env.body_case = CFLINK__ENVELOPE__BODY_FREE_SLOT;
    env.free_slot = &fs;
    cl = call_new(rm, RM_CALL_FREE_SLOT, tm);
    if (cf_rpc_call(tm->conn, &env, rm->ask_timeout_ms, free_slot_cb, cl) <
        0)
        call_free(cl);
}

static void
request_slot_cb(cf_rpc_conn_t *c, int status, const char *error,
                const Cflink__Envelope *reply, void *arg)
{
    rm_call_t *cl = arg;
    cf_rm_t *rm = cl->rm;
    cf_rm_tm_t *tm;
    char a[CF_ID_HEX_LEN + 1];
    int idx;

    (void)c;
    if (rm == NULL)
        goto out;
    tm = call_tm(cl);
    if (tm == NULL)
        goto out;
    idx = cl->slot_index;
    if (idx < 0 || idx >= tm->num_slots ||
        tm->slots[idx].state != CF_SLOT_PENDING ||
        !cf_id_equal(&tm->slots[idx].allocation_id, &cl->allocation_id))
        goto out; /* accepted, released or re-requested meanwhile */
    if (status == 0 && reply != NULL && reply->error != NULL &&
        reply->error[0] != '\0') {
        status = CF_EIO;
        error = reply->error;
    }
    if (status < 0) {
        cf_log_warn("Slot request %s for slot %d of TaskManager %s failed "
                    "(%s): asking again",
                    id_hex(&cl->allocation_id, a), idx, tm->resource_id,
                    error ? error : cf_strerror(status));
        slot_request_failed(rm, tm, idx);
        schedule_retry(rm);
        goto out;
    }
    ((rm_tm_t *)tm)->acked[idx] = 1;
    cf_log_debug("TaskManager %s acknowledged slot request %s (slot %d)",
                 tm->resource_id, id_hex(&cl->allocation_id, a), idx);
out:
    call_free(cl);
}

/* Send RequestSlot for slot idx of tm (already PENDING). 0, or < 0 when
 * the call could not be sent. */
static int
send_request_slot(cf_rm_t *rm, cf_rm_tm_t *tm, int idx)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__RequestSlot rs = CFLINK__REQUEST_SLOT__INIT;
    cf_rm_slot_t *s = &tm->slots[idx];
    rm_call_t *cl;
    char a[CF_ID_HEX_LEN + 1], j[CF_ID_HEX_LEN + 1];
    int rc;

    rs.job_id = cf_rpc_id_bytes(&s->job_id);
    rs.allocation_id = cf_rpc_id_bytes(&s->allocation_id);
    rs.slot_index = idx;
    env.body_case = CFLINK__ENVELOPE__BODY_REQUEST_SLOT;
    env.request_slot = &rs;
    cl = call_new(rm, RM_CALL_REQUEST_SLOT, tm);
    cl->allocation_id = s->allocation_id;
    cl->job_id = s->job_id;
    cl->slot_index = idx;
    rc = cf_rpc_call(tm->conn, &env, rm->ask_timeout_ms, request_slot_cb, cl);
    if (rc < 0) {
        call_free(cl);
        return rc;
    }
    cf_log_info("Requesting slot %d of TaskManager %s (allocation %s) for "
                "job %s.",
                idx, tm->resource_id, id_hex(&s->allocation_id, a),
                id_hex(&s->job_id, j));
    return 0;
}

/* The first free slot on a TaskManager with an open connection, in
 * registration order, lowest index first; skip is a TaskManager to
 * pass over (its connection just failed). */
static cf_rm_tm_t *
find_free(cf_rm_t *rm, int *idx, const cf_rm_tm_t *skip, int *cooling)
{
    int64_t now = cf_mono_ms();

    for (cf_rm_tm_t *tm = rm->tms; tm != NULL; tm = tm->next) {
        if (tm == skip || !cf_rpc_conn_is_open(tm->conn))
            continue;
        for (int i = 0; i < tm->num_slots; i++) {
            if (tm->slots[i].state != CF_SLOT_FREE)
                continue;
            if (((rm_tm_t *)tm)->cool_until[i] > now) {
                *cooling = 1;
                continue;
            }
            *idx = i;
            return tm;
        }
    }
    return NULL;
}

static void
serve_pending(cf_rm_t *rm)
{
    const cf_rm_tm_t *skip = NULL;
    int cooling = 0;

    if (rm->serving)
        return;
    rm->serving = 1;
    for (rm_req_t *q = rm->reqs; q != NULL; q = q->next) {
        while (q->n > 0) {
            cf_rm_tm_t *tm;
            cf_rm_slot_t *s;
            int idx;

            tm = find_free(rm, &idx, skip, &cooling);
            if (tm == NULL)
                goto done;
            s = &tm->slots[idx];
            s->state = CF_SLOT_PENDING;
            cf_id_random(&s->allocation_id);
            s->job_id = q->job_id;
            ((rm_tm_t *)tm)->acked[idx] = 0;
            if (send_request_slot(rm, tm, idx) < 0) {
                slot_free(tm, idx);
                skip = tm;
                continue;
            }
            q->n--;
        }
    }
done:
    req_drop_empty(rm);
    rm->serving = 0;
    if (cooling)
        schedule_retry(rm);
}

void
cf_rm_request_slots(cf_rm_t *rm, const cf_id_t *job_id, int n)
{
    char j[CF_ID_HEX_LEN + 1];

    if (rm == NULL || n <= 0)
        return;
    cf_log_info("Received resource requirements from job %s: %d slot(s).",
                id_hex(job_id, j), n);
    req_add(rm, job_id, n);
    serve_pending(rm);
}

void
cf_rm_cancel_requests(cf_rm_t *rm, const cf_id_t *job_id)
{
    rm_req_t *q;

    if (rm == NULL)
        return;
    q = req_find(rm, job_id);
    if (q != NULL)
        q->n = 0;
    req_drop_empty(rm);
    /* Requests in flight: the offer, if it comes, will be declined. */
    for (cf_rm_tm_t *tm = rm->tms; tm != NULL; tm = tm->next)
        for (int i = 0; i < tm->num_slots; i++)
            if (tm->slots[i].state == CF_SLOT_PENDING &&
                cf_id_equal(&tm->slots[i].job_id, job_id))
                slot_free(tm, i);
    serve_pending(rm);
}

/* The slot of allocation_id on TaskManager resource_id: its index, with
 * *tmp its TaskManager; -1 when either is unknown. */
static int
slot_lookup(cf_rm_t *rm, const char *resource_id,
            const cf_id_t *allocation_id, cf_rm_tm_t **tmp)
{
    if (rm == NULL || (*tmp = cf_rm_find_tm(rm, resource_id)) == NULL)
        return -1;
    return slot_find(*tmp, allocation_id);
}

void
cf_rm_slot_accepted(cf_rm_t *rm, const char *resource_id,
                    const cf_id_t *allocation_id)
{
    cf_rm_tm_t *tm;
    int idx = slot_lookup(rm, resource_id, allocation_id, &tm);

    if (idx < 0)
        return;
    tm->slots[idx].state = CF_SLOT_ALLOCATED;
    ((rm_tm_t *)tm)->acked[idx] = 0;
}

void
cf_rm_slot_released(cf_rm_t *rm, const char *resource_id,
                    const cf_id_t *allocation_id)
{
    cf_rm_tm_t *tm;
    int idx = slot_lookup(rm, resource_id, allocation_id, &tm);

    if (idx < 0)
        return;
    slot_free(tm, idx);
    serve_pending(rm);
}

/* ------------------------------------------------------------------ */
/* Slot reports                                                        */
/* ------------------------------------------------------------------ */

/* Reconcile the table with a TaskManager's report: a slot we hold
 * ALLOCATED (or PENDING and acked: the offer went astray) that the
 * TaskManager reports free is free. */
static void
reconcile(cf_rm_t *rm, cf_rm_tm_t *tm, const Cflink__SlotReport *rep)
{
    int changed = 0;

    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->n_slots; i++) {
        const Cflink__SlotStatus *st = rep->slots[i];
        int idx;

        if (st == NULL || st->slot_index < 0 ||
            st->slot_index >= tm->num_slots || st->allocation_id.len != 0)
            continue;
        idx = st->slot_index;
        /* A slot that refused a request while it was still releasing is
         * free now: serve what waits for it. */
        if (((rm_tm_t *)tm)->cool_until[idx] != 0 &&
            tm->slots[idx].state == CF_SLOT_FREE)
            changed = 1;
        ((rm_tm_t *)tm)->cool_until[idx] = 0;
        if (tm->slots[idx].state == CF_SLOT_ALLOCATED) {
            cf_log_info("TaskManager %s reports slot %d free: releasing "
                        "it.",
                        tm->resource_id, idx);
            slot_free(tm, idx);
            changed = 1;
        } else if (tm->slots[idx].state == CF_SLOT_PENDING &&
                   ((rm_tm_t *)tm)->acked[idx]) {
            cf_log_info("TaskManager %s reports slot %d free although it "
                        "was offered: asking again.",
                        tm->resource_id, idx);
            slot_request_failed(rm, tm, idx);
            changed = 1;
        }
    }
    if (changed)
        serve_pending(rm);
}

/* ------------------------------------------------------------------ */
/* Heartbeats                                                          */
/* ------------------------------------------------------------------ */

static void
heartbeat_received(cf_rm_t *rm, cf_rm_tm_t *tm,
                   const Cflink__HeartbeatResponse *hr)
{
    tm->last_heartbeat_ms = cf_now_ms();
    cf_log_debug("Received heartbeat from TaskManager %s.",
                 tm->resource_id);
    reconcile(rm, tm, hr->slot_report);
    /* The running tasks' counters, for their JobMasters. */
    for (size_t i = 0; i < hr->n_task_reports; i++) {
        const Cflink__UpdateTaskExecutionState *u = hr->task_reports[i];
        cf_jobmaster_t *jmr;
        cf_id_t job_id;

        if (u == NULL || cf_rpc_id_get(&u->job_id, &job_id) < 0 ||
            rm->jm->dispatcher == NULL)
            continue;
        jmr = cf_dispatcher_find_job(rm->jm->dispatcher, &job_id);
        if (jmr != NULL)
            cf_jobmaster_update_counters(jmr, u);
    }
}

static void
heartbeat_cb(cf_rpc_conn_t *c, int status, const char *error,
             const Cflink__Envelope *reply, void *arg)
{
    rm_call_t *cl = arg;
    cf_rm_tm_t *tm;

    (void)c;
    if (cl->rm == NULL || (tm = call_tm(cl)) == NULL)
        goto out;
    if (status < 0) {
        cf_log_debug("Heartbeat request to TaskManager %s failed: %s",
                     cl->resource_id, error ? error : cf_strerror(status));
        goto out;
    }
    if (reply != NULL &&
        reply->body_case == CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE &&
        reply->heartbeat_response != NULL)
        heartbeat_received(cl->rm, tm, reply->heartbeat_response);
out:
    call_free(cl);
}

static void
send_heartbeat(cf_rm_t *rm, cf_rm_tm_t *tm, int64_t now)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__HeartbeatRequest hb = CFLINK__HEARTBEAT_REQUEST__INIT;
    rm_call_t *cl;

    hb.timestamp = now;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST;
    env.heartbeat_request = &hb;
    cl = call_new(rm, RM_CALL_HEARTBEAT, tm);
    if (cf_rpc_call(tm->conn, &env, rm->hb_timeout_ms, heartbeat_cb, cl) < 0)
        call_free(cl);
}

static void
tick_fn(void *arg)
{
    cf_rm_t *rm = arg;
    int64_t now = cf_now_ms();
    int send = now - rm->last_hb_sent_ms >= rm->hb_interval_ms;
    cf_rm_tm_t *tm, *next;

    for (tm = rm->tms; tm != NULL; tm = next) {
        next = tm->next;
        if (now - tm->last_heartbeat_ms > rm->hb_timeout_ms) {
            char *reason = cf_asprintf(
                "The heartbeat of TaskManager with id %s timed out.",
                tm->resource_id);

            cf_log_info("%s", reason);
            tm_remove(rm, tm, reason, 1);
            cf_free(reason);
            /* The list may have changed under us: start over. */
            next = rm->tms;
            continue;
        }
    }
    if (send) {
        rm->last_hb_sent_ms = now;
        for (tm = rm->tms; tm != NULL; tm = tm->next)
            send_heartbeat(rm, tm, now);
    }
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

static void
reply_registration(cf_rpc_conn_t *c, uint64_t req_id, int success,
                   const char *reason, const cf_id_t *instance_id,
                   const char *jm_id)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__RegistrationResponse rr = CFLINK__REGISTRATION_RESPONSE__INIT;

    rr.success = success;
    rr.reason = (char *)(reason ? reason : "");
    if (instance_id != NULL)
        rr.registration_id = cf_rpc_id_bytes(instance_id);
    rr.jobmanager_id = (char *)jm_id;
    env.body_case = CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE;
    env.registration_response = &rr;
    if (req_id != 0)
        cf_rpc_reply(c, req_id, &env);
    else
        cf_rpc_send(c, &env);
}

static void
on_register(cf_rm_t *rm, cf_rpc_conn_t *c, uint64_t req_id,
            const Cflink__RegisterTaskExecutor *reg)
{
    const char *peer = cf_rpc_conn_peer(c);
    const char *jm_id = rm->jm->resource_id;
    cf_rm_tm_t *old, *tm, **pp;
    rm_tm_t *ext;
    char inst[CF_ID_HEX_LEN + 1];
    char *reason = NULL;

    if (reg == NULL || reg->resource_id == NULL ||
        reg->resource_id[0] == '\0')
        reason = cf_strdup("RegisterTaskExecutor: empty resource id");
    else if (strlen(reg->resource_id) > 256)
        reason = cf_strdup("RegisterTaskExecutor: resource id longer than "
                           "256 characters");
    else if (reg->num_slots <= 0 || reg->num_slots > RM_MAX_SLOTS)
        reason = cf_asprintf("RegisterTaskExecutor from %s: number of "
                             "slots %d out of range [1, %d]",
                             reg->resource_id, reg->num_slots, RM_MAX_SLOTS);
    else if (reg->host == NULL || reg->host[0] == '\0')
        reason = cf_asprintf("RegisterTaskExecutor from %s: empty host",
                             reg->resource_id);
    else if (reg->data_port <= 0 || reg->data_port > 65535)
        reason = cf_asprintf("RegisterTaskExecutor from %s: data port %d "
                             "out of range",
                             reg->resource_id, reg->data_port);
    if (reason != NULL) {
        cf_log_warn("Refusing the registration of a TaskManager at %s: %s",
                    peer ? peer : "?", reason);
        reply_registration(c, req_id, 0, reason, NULL, jm_id);
        cf_free(reason);
        return;
    }

    old = cf_rm_find_tm(rm, reg->resource_id);
    if (old == NULL) {
        /* Another resource id on the same connection: the old one is
         * gone too. */
        for (cf_rm_tm_t *t = rm->tms; t != NULL; t = t->next)
            if (t->conn == c) {
                old = t;
                break;
            }
    }
    if (old != NULL) {
        char *why = cf_asprintf("TaskManager with id %s re-registered.",
                                old->resource_id);

        cf_log_info("%s", why);
        tm_remove(rm, old, why, old->conn != c);
        cf_free(why);
    }

    ext = CF_NEW(rm_tm_t);
    tm = &ext->pub;
    tm->resource_id = cf_strdup(reg->resource_id);
    cf_id_random(&tm->instance_id);
    tm->host = cf_strdup(reg->host);
    tm->data_port = reg->data_port;
    tm->rpc_peer = cf_strdup(peer ? peer : "");
    tm->conn = c;
    tm->num_slots = reg->num_slots;
    tm->slots = cf_calloc((size_t)tm->num_slots, sizeof *tm->slots);
    ext->acked = cf_calloc((size_t)tm->num_slots, 1);
    ext->cool_until =
        cf_calloc((size_t)tm->num_slots, sizeof *ext->cool_until);
    tm->cpu_cores = reg->cpu_cores;
    tm->physical_memory = reg->physical_memory;
    tm->network_memory = reg->network_memory;
    tm->managed_memory = reg->managed_memory;
    tm->registered_ms = cf_now_ms();
    tm->last_heartbeat_ms = tm->registered_ms;
    tm->version = cf_strdup(reg->version ? reg->version : "");
    for (pp = &rm->tms; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = tm;

    cf_log_info("Registering TaskManager with ResourceID %s (%s) at "
                "ResourceManager",
                tm->resource_id, tm->rpc_peer);
    cf_log_info("TaskManager %s: %d slot(s), data port %s:%d, instance %s",
                tm->resource_id, tm->num_slots, tm->host, tm->data_port,
                id_hex(&tm->instance_id, inst));
    reply_registration(c, req_id, 1, NULL, &tm->instance_id, jm_id);

    /* Slots still allocated from before (a JobManager restart, or a
     * registration after a loss): no JobMaster holds them any more. They
     * stay taken until the TaskManager reports them free. */
    if (reg->slot_report != NULL) {
        for (size_t i = 0; i < reg->slot_report->n_slots; i++) {
            const Cflink__SlotStatus *st = reg->slot_report->slots[i];
            cf_id_t alloc, job;

            if (st == NULL || st->slot_index < 0 ||
                st->slot_index >= tm->num_slots ||
                cf_rpc_id_get(&st->allocation_id, &alloc) < 0)
                continue;
            if (cf_rpc_id_get(&st->job_id, &job) < 0)
                memset(&job, 0, sizeof job);
            tm->slots[st->slot_index].state = CF_SLOT_ALLOCATED;
            tm->slots[st->slot_index].allocation_id = alloc;
            tm->slots[st->slot_index].job_id = job;
            cf_log_info("TaskManager %s registered with slot %d still "
                        "allocated: freeing it.",
                        tm->resource_id, st->slot_index);
            send_free_slot(rm, tm, &alloc,
                           "The slot is not known to the JobManager.");
        }
    }
    serve_pending(rm);
}

void
cf_rm_on_message(cf_rm_t *rm, cf_rpc_conn_t *c, uint64_t req_id,
                 const Cflink__Envelope *msg)
{
    cf_rm_tm_t *tm;

    if (rm == NULL || msg == NULL)
        return;
    switch (msg->body_case) {
    case CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR:
        on_register(rm, c, req_id, msg->register_task_executor);
        return;
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE:
        if (msg->heartbeat_response == NULL)
            break;
        tm = NULL;
        for (cf_rm_tm_t *t = rm->tms; t != NULL; t = t->next)
            if (t->conn == c)
                tm = t;
        if (tm != NULL)
            heartbeat_received(rm, tm, msg->heartbeat_response);
        if (req_id != 0)
            cf_rpc_reply_ack(c, req_id);
        return;
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST:
        /* A TaskManager checking on us: answer with our id. */
        if (req_id != 0) {
            Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
            Cflink__HeartbeatResponse hr = CFLINK__HEARTBEAT_RESPONSE__INIT;

            hr.resource_id = rm->jm->resource_id;
            hr.timestamp = msg->heartbeat_request
                               ? msg->heartbeat_request->timestamp
                               : 0;
            env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE;
            env.heartbeat_response = &hr;
            cf_rpc_reply(c, req_id, &env);
        }
        return;
    case CFLINK__ENVELOPE__BODY_DISCONNECT:
        for (tm = rm->tms; tm != NULL; tm = tm->next) {
            if (tm->conn == c) {
                char *why = cf_asprintf(
                    "TaskManager with id %s disconnected: %s",
                    tm->resource_id,
                    msg->disconnect && msg->disconnect->reason
                        ? msg->disconnect->reason
                        : "");

                cf_log_info("%s", why);
                tm_remove(rm, tm, why, 0);
                cf_free(why);
                break;
            }
        }
        if (req_id != 0)
            cf_rpc_reply_ack(c, req_id);
        return;
    default:
        break;
    }
    if (req_id != 0)
        cf_rpc_reply_error(c, req_id, "ResourceManager: unexpected %s",
                           cf_rpc_body_name(msg->body_case));
}

void
cf_rm_on_close(cf_rm_t *rm, cf_rpc_conn_t *c, const char *reason)
{
    if (rm == NULL)
        return;
    for (cf_rm_tm_t *tm = rm->tms; tm != NULL; tm = tm->next) {
        if (tm->conn == c) {
            char *why = cf_asprintf(
                "TaskManager with id %s is no longer reachable.",
                tm->resource_id);

            cf_log_info("%s (%s)", why, reason ? reason : "closed");
            tm->conn = NULL;
            tm_remove(rm, tm, why, 0);
            cf_free(why);
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Life cycle and queries                                              */
/* ------------------------------------------------------------------ */

static const cf_rest_ops_backend_t rm_rest_backend = {
    .find_tm = cf_rm_find_tm,
    .tms = cf_rm_tms,
    .tm_count = cf_rm_tm_count,
    .slots_total = cf_rm_slots_total,
    .slots_free = cf_rm_slots_free,
    .tm_info = cf_rm_tm_info,
    .ask_timeout_ms = cf_rm_ask_timeout_ms,
    .jobs = cf_dispatcher_jobs,
    .ckpt_view = cf_ckpt_coord_view,
};

cf_rm_t *
cf_rm_new(cf_jm_t *jm)
{
    cf_rm_t *rm = CF_NEW(cf_rm_t);
    int64_t tick;

    rm->jm = jm;
    rm->calls.next = rm->calls.prev = &rm->calls;
    cf_rest_ops_backend = &rm_rest_backend;
    rm->hb_interval_ms =
        cf_config_get_duration_ms(jm->cfg, "heartbeat.interval", 10000);
    rm->hb_timeout_ms =
        cf_config_get_duration_ms(jm->cfg, "heartbeat.timeout", 50000);
    rm->ask_timeout_ms =
        cf_config_get_duration_ms(jm->cfg, "pekko.ask.timeout", 10000);
    if (rm->hb_interval_ms <= 0)
        rm->hb_interval_ms = 10000;
    if (rm->hb_timeout_ms <= 0)
        rm->hb_timeout_ms = 50000;
    if (rm->ask_timeout_ms <= 0)
        rm->ask_timeout_ms = 10000;
    /* Tick often enough to notice a timeout soon after it passes. */
    tick = rm->hb_interval_ms;
    if (tick > rm->hb_timeout_ms / 5)
        tick = rm->hb_timeout_ms / 5;
    if (tick > 1000)
        tick = 1000;
    if (tick < 10)
        tick = 10;
    rm->last_hb_sent_ms = cf_now_ms();
    if (jm->loop != NULL)
        rm->tick_timer = cf_loop_timer(jm->loop, tick, tick, tick_fn, rm);
    cf_log_info("Starting the resource manager (heartbeat interval %" PRId64
                " ms, timeout %" PRId64 " ms).",
                rm->hb_interval_ms, rm->hb_timeout_ms);
    return rm;
}

void
cf_rm_destroy(cf_rm_t *rm)
{
    if (rm == NULL)
        return;
    cf_timer_cancel(rm->tick_timer);
    cf_timer_cancel(rm->retry_timer);
    /* Calls in flight answer into nothing. */
    for (rm_call_t *cl = rm->calls.next; cl != &rm->calls;) {
        rm_call_t *next = cl->next;

        cl->rm = NULL;
        cl = next;
    }
    while (rm->tms != NULL) {
        cf_rm_tm_t *tm = rm->tms;

        rm->tms = tm->next;
        tm_free(tm);
    }
    while (rm->reqs != NULL) {
        rm_req_t *q = rm->reqs;

        rm->reqs = q->next;
        cf_free(q);
    }
    cf_free(rm);
}

cf_rm_tm_t *
cf_rm_find_tm(cf_rm_t *rm, const char *resource_id)
{
    if (rm == NULL || resource_id == NULL)
        return NULL;
    for (cf_rm_tm_t *tm = rm->tms; tm != NULL; tm = tm->next)
        if (strcmp(tm->resource_id, resource_id) == 0)
            return tm;
    return NULL;
}

cf_rm_tm_t *
cf_rm_tms(cf_rm_t *rm)
{
    return rm != NULL ? rm->tms : NULL;
}

int
cf_rm_tm_count(cf_rm_t *rm)
{
    int n = 0;

    for (cf_rm_tm_t *tm = cf_rm_tms(rm); tm != NULL; tm = tm->next)
        n++;
    return n;
}

int
cf_rm_slots_total(cf_rm_t *rm)
{
    int n = 0;

    for (cf_rm_tm_t *tm = cf_rm_tms(rm); tm != NULL; tm = tm->next)
        n += tm->num_slots;
    return n;
}

int
cf_rm_slots_free(cf_rm_t *rm)
{
    int n = 0;

    for (cf_rm_tm_t *tm = cf_rm_tms(rm); tm != NULL; tm = tm->next)
        for (int i = 0; i < tm->num_slots; i++)
            n += tm->slots[i].state == CF_SLOT_FREE;
    return n;
}

/* ------------------------------------------------------------------ */
/* TaskManager information requests (REST: logs, thread dump, metrics) */
/* ------------------------------------------------------------------ */

/* A TaskManagerInfoRequest in flight: it needs nothing of the RM, so it
 * may outlive it (the connection's close at shutdown still calls cb). */
typedef struct rm_info_call_s {
    cf_rm_tm_info_cb cb;
    void *arg;
} rm_info_call_t;

static void
tm_info_cb(cf_rpc_conn_t *c, int status, const char *error,
           const Cflink__Envelope *reply, void *arg)
{
    rm_info_call_t *ic = arg;

    (void)c;
    if (status == 0 &&
        (reply == NULL ||
         reply->body_case != CFLINK__ENVELOPE__BODY_TM_INFO_RESPONSE ||
         reply->tm_info_response == NULL)) {
        status = CF_EPROTO;
        error = "unexpected reply to a TaskManagerInfoRequest";
    }
    ic->cb(status, status < 0 ? (error ? error : cf_strerror(status)) : NULL,
           status == 0 ? reply->tm_info_response : NULL, ic->arg);
    cf_free(ic);
}

int
cf_rm_tm_info(cf_rm_t *rm, const char *resource_id,
              const Cflink__TaskManagerInfoRequest *rq, int64_t timeout_ms,
              cf_rm_tm_info_cb cb, void *arg)
{
    cf_rm_tm_t *tm = cf_rm_find_tm(rm, resource_id);
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    rm_info_call_t *ic;

    if (tm == NULL || tm->conn == NULL || !cf_rpc_conn_is_open(tm->conn))
        return CF_ENOTFOUND;
    env.body_case = CFLINK__ENVELOPE__BODY_TM_INFO_REQUEST;
    env.tm_info_request = (Cflink__TaskManagerInfoRequest *)rq;
    ic = CF_NEW(rm_info_call_t);
    ic->cb = cb;
    ic->arg = arg;
    int rc = cf_rpc_call(tm->conn, &env,
                         timeout_ms > 0 ? timeout_ms : rm->ask_timeout_ms,
                         tm_info_cb, ic);
    if (rc < 0) {
        /* Known and connected, but the request could not be sent: the
         * caller answers with the reason, not "not found". */
        cf_free(ic);
        return rc;
    }
    return 0;
}

int64_t
cf_rm_ask_timeout_ms(const cf_rm_t *rm)
{
    return rm != NULL ? rm->ask_timeout_ms : 10000;
}
