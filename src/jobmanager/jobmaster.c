/*
 * jobmaster.c: one JobMaster per job (Flink's JobMaster + DefaultScheduler
 * + ExecutionGraph + slot pool): builds the ExecutionGraph from the
 * JobGraph, asks the ResourceManager for slots, accepts the offers of
 * TaskManagers, deploys every subtask, follows their ExecutionStates,
 * fails over by the restart strategy (restart.c), cancels, and frees its
 * slots when the job ends.
 *
 * Design: slot sharing as Flink's default group. The job needs S = the
 * largest vertex parallelism slots; slot s hosts subtask s of every
 * vertex with parallelism > s. A set of subtasks is deployed at once when
 * the slots it needs are held (all of them at the start).
 *
 * Failover (jobmanager.execution.failover-strategy): `region` restarts
 * the pipelined regions (regions.c) of the failed subtasks, `full` every
 * subtask; a global failure (no slots in time) restarts everything. As
 * Flink's DefaultScheduler, a failover is a group of regions: it asks the
 * restart strategy once, moves the job to RESTARTING, cancels the
 * group's subtasks, and when they are terminal and the backoff delay has
 * passed resets them as new attempts (the job is RUNNING again once no
 * group is left to reset) and deploys them when their slots are held.
 * Other regions keep running. Restarted subtasks restore the latest
 * completed checkpoint (checkpoint.c; SubmitTask.restore), or the
 * snapshot the job was submitted with; slots that survived are kept,
 * those lost with their TaskManager are asked for again. The
 * CheckpointCoordinator is told when every subtask runs, when a subtask
 * finishes, at every failover (pending checkpoints are aborted) and when
 * the job ends.
 *
 *   JobStatus:  INITIALIZING -> CREATED -> RUNNING -> FINISHED
 *               RUNNING -> RESTARTING -> RUNNING (restart strategy allows)
 *               RUNNING -> FAILING -> FAILED     (it does not)
 *               any -> CANCELLING -> CANCELED
 *   Subtask:    CREATED -> SCHEDULED -> DEPLOYING -> (INITIALIZING) ->
 *               RUNNING -> FINISHED | CANCELING -> CANCELED | FAILED
 *
 * Every status change goes through set_status(), every subtask change
 * through exec_move(); both check legality and log like Flink.
 *
 * Threads: everything runs on the JobManager's loop.
 */
#include <inttypes.h>
#include <string.h>

#include "jobmanager_int.h"

#define NO_RESOURCE_MSG                                                      \
    "org.apache.flink.runtime.jobmanager.scheduler."                         \
    "NoResourceAvailableException: Could not acquire the minimum required "  \
    "resources."

/* A slot the JobMaster holds (accepted from an offer). */
typedef struct jm_slot_s {
    int used;
    char *resource_id;
    cf_id_t allocation_id;
    int tm_slot_index;
    char *host;
    int data_port;
} jm_slot_t;

typedef enum jm_call_kind_e {
    JM_CALL_SUBMIT,
    JM_CALL_CANCEL,
} jm_call_kind_t;

/* A call in flight; jmr is NULL once the JobMaster is gone. */
typedef struct jm_call_s {
    cf_jobmaster_t *jmr;
    jm_call_kind_t kind;
    int v, k;
    cf_id_t attempt_id;
    struct jm_call_s *prev, *next;
} jm_call_t;

/* Regions being (re)started: a failover whose subtasks are being
 * canceled and wait out the backoff delay (Flink's vertices waiting for
 * restart), then subtasks waiting for their slots to be deployed. The
 * groups are disjoint. */
typedef enum jm_group_phase_e {
    JM_GROUP_CANCELING = 0,
    JM_GROUP_WAITING, /* reset, SCHEDULED, deployed when slots are held */
} jm_group_phase_t;

typedef struct jm_group_s {
    unsigned char *marks; /* per region: 1 when in the group */
    jm_group_phase_t phase;
    int64_t restart_at_ms; /* CANCELING: reset not before */
    struct jm_group_s *next;
} jm_group_t;

typedef struct jm_priv_s {
    cf_restart_t *restart;
    int region_failover; /* failover-strategy region (else full) */
    cf_regions_t regions;
    jm_group_t *groups;
    int nslots;       /* S */
    jm_slot_t *slots; /* S entries; slot s hosts subtasks s */
    int held;         /* used entries */
    int outstanding;  /* asked of the RM, not yet offered */
    int ended;        /* globally terminal, slots released */
    int checking;
    int64_t restart_timer_at; /* when restart_timer fires */
    int64_t ask_timeout_ms;
    int64_t slot_timeout_ms;
    cf_timer_t *restart_timer;
    cf_timer_t *slot_timer;
    cf_timer_t *cancel_timer;
    jm_call_t calls; /* list head */
} jm_priv_t;

#define PRIV(jmr) ((jm_priv_t *)(jmr)->priv)

static void check_progress(cf_jobmaster_t *jmr);
static void restart_fn(void *arg);
static void failover(cf_jobmaster_t *jmr, const char *failure,
                     unsigned char *marks, int v, int k);
static void failover_global(cf_jobmaster_t *jmr, const char *failure);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *
hex(const cf_id_t *id, char buf[CF_ID_HEX_LEN + 1])
{
    cf_id_to_hex(id, buf);
    return buf;
}

static cf_rm_t *
jm_rm(cf_jobmaster_t *jmr)
{
    return jmr->jm != NULL ? jmr->jm->rm : NULL;
}

/* The connection of a registered TaskManager, or NULL. */
static cf_rpc_conn_t *
tm_conn(cf_jobmaster_t *jmr, const char *resource_id)
{
    cf_rm_tm_t *tm;

    if (resource_id == NULL)
        return NULL;
    tm = cf_rm_find_tm(jm_rm(jmr), resource_id);
    if (tm == NULL || !cf_rpc_conn_is_open(tm->conn))
        return NULL;
    return tm->conn;
}

static jm_call_t *
call_new(cf_jobmaster_t *jmr, jm_call_kind_t kind, int v, int k)
{
    jm_priv_t *p = PRIV(jmr);
    jm_call_t *cl = CF_NEW(jm_call_t);

    cl->jmr = jmr;
    cl->kind = kind;
    cl->v = v;
    cl->k = k;
    cl->attempt_id = jmr->vertices[v].subtasks[k].attempt_id;
    cl->next = p->calls.next;
    cl->prev = &p->calls;
    p->calls.next->prev = cl;
    p->calls.next = cl;
    return cl;
}

static void
call_free(jm_call_t *cl)
{
    if (cl->jmr != NULL) {
        cl->prev->next = cl->next;
        cl->next->prev = cl->prev;
    }
    cf_free(cl);
}

/* The subtask of a call if it is still the same attempt. */
static cf_exec_vertex_t *
call_exec(jm_call_t *cl)
{
    cf_exec_vertex_t *ev;

    if (cl->jmr == NULL)
        return NULL;
    ev = &cl->jmr->vertices[cl->v].subtasks[cl->k];
    return cf_id_equal(&ev->attempt_id, &cl->attempt_id) ? ev : NULL;
}

static void
noop_cb(cf_rpc_conn_t *c, int status, const char *error,
        const Cflink__Envelope *reply, void *arg)
{
    (void)c;
    (void)status;
    (void)error;
    (void)reply;
    (void)arg;
}

static void
timer_stop(cf_timer_t **t)
{
    if (*t != NULL) {
        cf_timer_cancel(*t);
        *t = NULL;
    }
}

static int
all_terminal(const cf_jobmaster_t *jmr)
{
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (!cf_exec_state_is_terminal(
                    jmr->vertices[v].subtasks[k].state))
                return 0;
    return 1;
}

static int
all_finished(const cf_jobmaster_t *jmr)
{
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (jmr->vertices[v].subtasks[k].state != CF_EXEC_FINISHED)
                return 0;
    return 1;
}

/* Whether failures are handled (failover) in the job's status. */
static int
job_active(const cf_jobmaster_t *jmr)
{
    return jmr->status == CF_JOB_RUNNING ||
           jmr->status == CF_JOB_RESTARTING;
}

/* ------------------------------------------------------------------ */
/* Regions and groups                                                  */
/* ------------------------------------------------------------------ */

static int
sub_region(const cf_jobmaster_t *jmr, int v, int k)
{
    const cf_regions_t *r = &PRIV(jmr)->regions;

    return r->region_of[r->base[v] + k];
}

/* A region set: no region (all 0) or every region. */
static unsigned char *
marks_new(const cf_jobmaster_t *jmr, int all)
{
    int n = PRIV(jmr)->regions.nregions;
    unsigned char *m = cf_calloc((size_t)(n > 0 ? n : 1), 1);

    if (all)
        memset(m, 1, (size_t)n);
    return m;
}

/* Whether subtask k of vertex v is in the region set (NULL: all). */
static int
marked(const cf_jobmaster_t *jmr, const unsigned char *marks, int v, int k)
{
    return marks == NULL || marks[sub_region(jmr, v, k)];
}

static int
marks_count_regions(const cf_jobmaster_t *jmr, const unsigned char *marks)
{
    int n = 0;

    for (int r = 0; r < PRIV(jmr)->regions.nregions; r++)
        n += marks[r] != 0;
    return n;
}

/* Subtasks in the region set. */
static int
marks_count_tasks(const cf_jobmaster_t *jmr, const unsigned char *marks)
{
    const cf_regions_t *rg = &PRIV(jmr)->regions;
    int n = 0;

    for (int r = 0; r < rg->nregions; r++)
        if (marks[r])
            n += rg->region_size[r];
    return n;
}

static jm_group_t *
group_add(cf_jobmaster_t *jmr, unsigned char *marks, jm_group_phase_t phase,
          int64_t restart_at_ms)
{
    jm_priv_t *p = PRIV(jmr);
    jm_group_t *g = CF_NEW(jm_group_t);

    g->marks = marks;
    g->phase = phase;
    g->restart_at_ms = restart_at_ms;
    g->next = p->groups;
    p->groups = g;
    return g;
}

/* Unlink and free group g. */
static void
group_remove(cf_jobmaster_t *jmr, jm_group_t *g)
{
    jm_group_t **pp = &PRIV(jmr)->groups;

    while (*pp != NULL && *pp != g)
        pp = &(*pp)->next;
    if (*pp == g)
        *pp = g->next;
    cf_free(g->marks);
    cf_free(g);
}

static void
groups_clear(cf_jobmaster_t *jmr)
{
    while (PRIV(jmr)->groups != NULL)
        group_remove(jmr, PRIV(jmr)->groups);
}

static int
group_count(const cf_jobmaster_t *jmr, jm_group_phase_t phase)
{
    int n = 0;

    for (jm_group_t *g = PRIV(jmr)->groups; g != NULL; g = g->next)
        n += g->phase == phase;
    return n;
}

static int
set_all_terminal(const cf_jobmaster_t *jmr, const unsigned char *marks)
{
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (marked(jmr, marks, v, k) &&
                !cf_exec_state_is_terminal(
                    jmr->vertices[v].subtasks[k].state))
                return 0;
    return 1;
}

/* The slots the waiting groups need and the JobMaster does not hold:
 * need[s] set (when need is not NULL); returns how many. */
static int
slots_needed(const cf_jobmaster_t *jmr, unsigned char *need)
{
    const jm_priv_t *p = PRIV(jmr);
    int n = 0;

    for (const jm_group_t *g = p->groups; g != NULL; g = g->next) {
        if (g->phase != JM_GROUP_WAITING)
            continue;
        for (int v = 0; v < jmr->nvertices; v++) {
            for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
                if (k >= p->nslots || p->slots[k].used ||
                    !marked(jmr, g->marks, v, k))
                    continue;
                if (need == NULL) {
                    n++; /* a slot may count more than once: only > 0
                          * matters to callers without need */
                } else if (!need[k]) {
                    need[k] = 1;
                    n++;
                }
            }
        }
    }
    return n;
}

static int
group_slots_ready(const cf_jobmaster_t *jmr, const jm_group_t *g)
{
    const jm_priv_t *p = PRIV(jmr);

    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (marked(jmr, g->marks, v, k) &&
                (k >= p->nslots || !p->slots[k].used))
                return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* State machines                                                      */
/* ------------------------------------------------------------------ */

static int
set_status(cf_jobmaster_t *jmr, cf_job_status_t to)
{
    cf_job_status_t from = jmr->status;
    int64_t now = cf_now_ms();

    if (from == to)
        return 0;
    if (!cf_job_status_can_move(from, to)) {
        cf_log_error("Job %s (%s): illegal transition from state %s to %s "
                     "ignored.",
                     jmr->name, jmr->job_id_hex, cf_job_status_name(from),
                     cf_job_status_name(to));
        return CF_ESTATE;
    }
    jmr->status = to;
    jmr->status_ts[to] = now;
    if (cf_job_status_is_globally_terminal(to))
        jmr->end_ms = now;
    cf_log_info("Job %s (%s) switched from state %s to %s.", jmr->name,
                jmr->job_id_hex, cf_job_status_name(from),
                cf_job_status_name(to));
    return 0;
}

static int
exec_move(cf_jobmaster_t *jmr, int v, int k, cf_exec_state_t to,
          const char *failure)
{
    cf_ejv_t *ejv = &jmr->vertices[v];
    cf_exec_vertex_t *ev = &ejv->subtasks[k];
    cf_exec_state_t from = ev->state;
    char a[CF_ID_HEX_LEN + 1];

    if (from == to)
        return 0;
    if (!cf_exec_state_can_move(from, to)) {
        cf_log_warn("%s (%d/%d) (%s): illegal transition from %s to %s "
                    "ignored.",
                    ejv->name, k + 1, ejv->parallelism,
                    hex(&ev->attempt_id, a), cf_exec_state_name(from),
                    cf_exec_state_name(to));
        return CF_ESTATE;
    }
    ev->state = to;
    ev->state_ts[to] = cf_now_ms();
    if (to == CF_EXEC_FAILED) {
        cf_free(ev->failure);
        ev->failure = cf_strdup(failure ? failure : "unknown failure");
        cf_log_info("%s (%d/%d) (%s) switched from %s to %s on %s @ %s "
                    "(dataPort=%d): %s",
                    ejv->name, k + 1, ejv->parallelism,
                    hex(&ev->attempt_id, a), cf_exec_state_name(from),
                    cf_exec_state_name(to),
                    ev->tm_resource_id ? ev->tm_resource_id : "(none)",
                    ev->tm_host ? ev->tm_host : "(none)", ev->tm_data_port,
                    ev->failure);
    } else {
        cf_log_info("%s (%d/%d) (%s) switched from %s to %s.", ejv->name,
                    k + 1, ejv->parallelism, hex(&ev->attempt_id, a),
                    cf_exec_state_name(from), cf_exec_state_name(to));
    }
    return 0;
}

/* A new Execution of a subtask (restart): the next attempt, CREATED. */
static void
exec_reset(cf_exec_vertex_t *ev)
{
    ev->attempt++;
    memset(&ev->attempt_id, 0, sizeof ev->attempt_id);
    memset(&ev->allocation_id, 0, sizeof ev->allocation_id);
    ev->state = CF_EXEC_CREATED;
    memset(ev->state_ts, 0, sizeof ev->state_ts);
    ev->state_ts[CF_EXEC_CREATED] = cf_now_ms();
    cf_free(ev->tm_resource_id);
    cf_free(ev->tm_host);
    cf_free(ev->failure);
    ev->tm_resource_id = ev->tm_host = ev->failure = NULL;
    ev->tm_data_port = 0;
    ev->records_in = ev->records_out = ev->bytes_in = ev->bytes_out = 0;
    /* The new attempt's watermark is unknown until it reports. */
    ev->has_event_time = 0;
    ev->input_watermark = INT64_MIN;
    ev->late_records_dropped = 0;
    /* The new attempt's times and rates start over. */
    ev->reported = 0;
    ev->has_times = 0;
    memset(&ev->times, 0, sizeof ev->times);
    cf_task_rates_reset(&ev->rates);
}

/* Keep the newest web.exception-history-size entries (Flink's bound of
 * the exception history), so a job restarting forever stays bounded. */
static void
exceptions_trim(cf_jobmaster_t *jmr)
{
    int max = cf_config_get_int(jmr->job_cfg, "web.exception-history-size",
                                16);
    cf_job_exception_t **pp = &jmr->exceptions;

    if (max < 1)
        max = 1;
    for (int n = 0; *pp != NULL && n < max; n++)
        pp = &(*pp)->next;
    while (*pp != NULL) {
        cf_job_exception_t *e = *pp;

        *pp = e->next;
        cf_free(e->exception);
        cf_free(e->task_name);
        cf_free(e->location);
        cf_free(e->tm_id);
        cf_free(e);
    }
}

static void
add_exception(cf_jobmaster_t *jmr, const char *exception, int v, int k)
{
    cf_job_exception_t *e = CF_NEW(cf_job_exception_t);

    e->timestamp = cf_now_ms();
    e->exception = cf_strdup(exception ? exception : "unknown failure");
    if (v >= 0) {
        cf_ejv_t *ejv = &jmr->vertices[v];
        cf_exec_vertex_t *ev = &ejv->subtasks[k];

        e->task_name =
            cf_asprintf("%s (%d/%d)", ejv->name, k + 1, ejv->parallelism);
        if (ev->tm_host != NULL)
            e->location = cf_asprintf("%s:%d", ev->tm_host, ev->tm_data_port);
        if (ev->tm_resource_id != NULL)
            e->tm_id = cf_strdup(ev->tm_resource_id);
    }
    e->next = jmr->exceptions;
    jmr->exceptions = e;
    exceptions_trim(jmr);
}

/* ------------------------------------------------------------------ */
/* Slots                                                               */
/* ------------------------------------------------------------------ */

static void
slot_clear(jm_slot_t *s)
{
    cf_free(s->resource_id);
    cf_free(s->host);
    memset(s, 0, sizeof *s);
}

static void
slot_timeout_fn(void *arg)
{
    cf_jobmaster_t *jmr = arg;
    jm_priv_t *p = PRIV(jmr);

    p->slot_timer = NULL;
    if (!job_active(jmr) || slots_needed(jmr, NULL) == 0)
        return;
    cf_log_warn("Job %s (%s): %d of %d slot(s) after %" PRId64 " ms "
                "(slot.request.timeout).",
                jmr->name, jmr->job_id_hex, p->held, p->nslots,
                p->slot_timeout_ms);
    add_exception(jmr, NO_RESOURCE_MSG, -1, 0);
    failover_global(jmr, NO_RESOURCE_MSG);
    check_progress(jmr);
}

/* Ask the ResourceManager for the slots that subtasks waiting to be
 * deployed still miss, and watch the time it takes. */
static void
request_missing(cf_jobmaster_t *jmr)
{
    jm_priv_t *p = PRIV(jmr);
    unsigned char *need = cf_calloc((size_t)p->nslots, 1);
    int missing = slots_needed(jmr, need);
    int ask = missing - p->outstanding;

    cf_free(need);
    if (ask > 0) {
        p->outstanding += ask;
        cf_log_info("Job %s (%s): requesting %d slot(s) (%d of %d "
                    "held).",
                    jmr->name, jmr->job_id_hex, ask, p->held, p->nslots);
        cf_rm_request_slots(jm_rm(jmr), &jmr->job_id, ask);
    }
    if (missing > 0 && p->slot_timer == NULL && jmr->jm != NULL &&
        jmr->jm->loop != NULL)
        p->slot_timer = cf_loop_timer(jmr->jm->loop, p->slot_timeout_ms, 0,
                                      slot_timeout_fn, jmr);
    else if (missing == 0)
        timer_stop(&p->slot_timer);
}

/* Release every held slot: FreeSlot to its TaskManager (still
 * registered), and the ResourceManager told. */
static void
release_slots(cf_jobmaster_t *jmr, const char *cause)
{
    jm_priv_t *p = PRIV(jmr);

    for (int s = 0; s < p->nslots; s++) {
        jm_slot_t *sl = &p->slots[s];
        cf_rpc_conn_t *c;

        if (!sl->used)
            continue;
        c = tm_conn(jmr, sl->resource_id);
        if (c != NULL) {
            Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
            Cflink__FreeSlot fs = CFLINK__FREE_SLOT__INIT;

            fs.allocation_id = cf_rpc_id_bytes(&sl->allocation_id);
            fs.cause = (char *)cause;
            env.body_case = CFLINK__ENVELOPE__BODY_FREE_SLOT;
            env.free_slot = &fs;
            cf_rpc_call(c, &env, p->ask_timeout_ms, noop_cb, NULL);
        }
        cf_rm_slot_released(jm_rm(jmr), sl->resource_id, &sl->allocation_id);
        slot_clear(sl);
    }
    p->held = 0;
}

/* Whether the ResourceManager has slot allocation_id of TaskManager
 * resource_id PENDING for this job (an offer we asked for). */
static int
offer_expected(cf_jobmaster_t *jmr, const char *resource_id,
               const cf_id_t *allocation_id, int *tm_slot)
{
    cf_rm_tm_t *tm = cf_rm_find_tm(jm_rm(jmr), resource_id);

    if (tm == NULL)
        return 0;
    for (int i = 0; i < tm->num_slots; i++) {
        cf_rm_slot_t *s = &tm->slots[i];

        if (s->state == CF_SLOT_PENDING &&
            cf_id_equal(&s->allocation_id, allocation_id) &&
            cf_id_equal(&s->job_id, &jmr->job_id)) {
            *tm_slot = i;
            return 1;
        }
    }
    return 0;
}

/* Subtask k of vertex v failed (already FAILED or CANCELED): an entry
 * in the exception history and a failover of its region, while the job
 * handles failures. */
static void
task_failed(cf_jobmaster_t *jmr, const char *failure, int v, int k)
{
    unsigned char *marks;

    if (!job_active(jmr))
        return;
    add_exception(jmr, failure, v, k);
    marks = marks_new(jmr, 0);
    marks[sub_region(jmr, v, k)] = 1;
    failover(jmr, failure, marks, v, k);
}

/* ------------------------------------------------------------------ */
/* Deployment                                                          */
/* ------------------------------------------------------------------ */

typedef struct cfg_list_s {
    Cflink__ConfigEntry *entries;
    Cflink__ConfigEntry **ptrs;
    char **strs;
    size_t n, cap;
} cfg_list_t;

static void
cfg_collect_cb(const char *key, const char *value, int is_set, void *ud)
{
    cfg_list_t *l = ud;

    if (!is_set || value == NULL)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->entries = cf_realloc(l->entries, l->cap * sizeof *l->entries);
        l->strs = cf_realloc(l->strs, 2 * l->cap * sizeof *l->strs);
    }
    l->strs[2 * l->n] = cf_strdup(key);
    l->strs[2 * l->n + 1] = cf_strdup(value);
    l->n++;
}

static void
cfg_list_build(cfg_list_t *l, const cf_config_t *cfg)
{
    memset(l, 0, sizeof *l);
    if (cfg != NULL)
        cf_config_foreach(cfg, cfg_collect_cb, l);
    l->ptrs = cf_calloc(l->n ? l->n : 1, sizeof *l->ptrs);
    for (size_t i = 0; i < l->n; i++) {
        Cflink__ConfigEntry init = CFLINK__CONFIG_ENTRY__INIT;

        l->entries[i] = init;
        l->entries[i].key = l->strs[2 * i];
        l->entries[i].value = l->strs[2 * i + 1];
        l->ptrs[i] = &l->entries[i];
    }
}

static void
cfg_list_free(cfg_list_t *l)
{
    for (size_t i = 0; i < 2 * l->n; i++)
        cf_free(l->strs[i]);
    cf_free(l->strs);
    cf_free(l->entries);
    cf_free(l->ptrs);
}

/* The plugin key as 32 raw bytes when it is 64 hex characters, else the
 * text as is (the TaskManager accepts both). */
static ProtobufCBinaryData
plugin_key_bytes(const char *key, uint8_t raw[32])
{
    ProtobufCBinaryData b = {0, NULL};

    if (key == NULL)
        return b;
    if (cf_hex_decode(key, 32, raw) == 0) {
        b.len = 32;
        b.data = raw;
        return b;
    }
    b.len = strlen(key);
    b.data = (uint8_t *)key;
    return b;
}

/* The input gates of subtask k of vertex v; free with gates_free(). */
static Cflink__InputGateDescriptor **
gates_build(cf_jobmaster_t *jmr, int v, int k, size_t *ngates)
{
    const Cflink__JobVertex *jv = jmr->graph->vertices[v];
    Cflink__InputGateDescriptor **gates;

    *ngates = jv->n_inputs;
    if (jv->n_inputs == 0)
        return NULL;
    gates = cf_calloc(jv->n_inputs, sizeof *gates);
    for (size_t in = 0; in < jv->n_inputs; in++) {
        const Cflink__JobInput *ji = jv->inputs[in];
        int src = ji->source_vertex;
        const Cflink__JobOutput *jo =
            jmr->graph->vertices[src]->outputs[ji->source_output];
        int P = jmr->vertices[src].parallelism;
        int C = jmr->vertices[v].parallelism;
        Cflink__InputGateDescriptor *g = CF_NEW(Cflink__InputGateDescriptor);
        Cflink__InputGateDescriptor ginit =
            CFLINK__INPUT_GATE_DESCRIPTOR__INIT;

        *g = ginit;
        g->channels = cf_calloc((size_t)P, sizeof *g->channels);
        for (int i = 0; i < P; i++) {
            cf_exec_vertex_t *pe = &jmr->vertices[src].subtasks[i];
            Cflink__InputChannelDescriptor cinit =
                CFLINK__INPUT_CHANNEL_DESCRIPTOR__INIT;
            Cflink__InputChannelDescriptor *ch;
            int lo = 0, n = 0;

            cf_job_edge_consumers(jo->partitioner, P, C, i, &lo, &n);
            if (k < lo || k >= lo + n)
                continue;
            ch = CF_NEW(Cflink__InputChannelDescriptor);
            *ch = cinit;
            ch->producer_attempt_id = cf_rpc_id_bytes(&pe->attempt_id);
            ch->output = ji->source_output;
            ch->subpartition = k - lo;
            ch->host = pe->tm_host ? pe->tm_host : (char *)"";
            ch->data_port = pe->tm_data_port;
            g->channels[g->n_channels++] = ch;
        }
        gates[in] = g;
    }
    return gates;
}

static void
gates_free(Cflink__InputGateDescriptor **gates, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < gates[i]->n_channels; c++)
            cf_free(gates[i]->channels[c]);
        cf_free(gates[i]->channels);
        cf_free(gates[i]);
    }
    cf_free(gates);
}

static void
submit_cb(cf_rpc_conn_t *c, int status, const char *error,
          const Cflink__Envelope *reply, void *arg)
{
    jm_call_t *cl = arg;
    cf_jobmaster_t *jmr = cl->jmr;
    cf_exec_vertex_t *ev = call_exec(cl);

    (void)c;
    (void)reply;
    if (ev != NULL && status < 0 && !cf_exec_state_is_terminal(ev->state)) {
        char *why = cf_asprintf("Could not deploy the task to TaskManager "
                                "%s: %s",
                                ev->tm_resource_id ? ev->tm_resource_id : "?",
                                error ? error : cf_strerror(status));
        int v = cl->v, k = cl->k;

        call_free(cl);
        if (ev->state == CF_EXEC_CANCELING) {
            exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
        } else {
            exec_move(jmr, v, k, CF_EXEC_FAILED, why);
            task_failed(jmr, why, v, k);
        }
        cf_free(why);
        check_progress(jmr);
        return;
    }
    call_free(cl);
}

/* Send SubmitTask for subtask k of vertex v. 0 or < 0 (not sent). */
static int
submit_one(cf_jobmaster_t *jmr, int v, int k, const cfg_list_t *cfgl)
{
    jm_priv_t *p = PRIV(jmr);
    cf_ejv_t *ejv = &jmr->vertices[v];
    cf_exec_vertex_t *ev = &ejv->subtasks[k];
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
    Cflink__CheckpointSettings cs;
    cf_rpc_conn_t *c = tm_conn(jmr, ev->tm_resource_id);
    uint8_t raw[32];
    size_t ngates = 0;
    jm_call_t *cl;
    int rc;

    if (c == NULL)
        return CF_EIO;
    st.job_id = cf_rpc_id_bytes(&jmr->job_id);
    st.job_name = jmr->name;
    st.attempt_id = cf_rpc_id_bytes(&ev->attempt_id);
    st.vertex_index = v;
    st.subtask_index = k;
    st.attempt_number = ev->attempt;
    st.allocation_id = cf_rpc_id_bytes(&ev->allocation_id);
    st.plugin_key = plugin_key_bytes(jmr->plugin_key, raw);
    st.plugin_name = jmr->plugin_name ? jmr->plugin_name : (char *)"";
    st.n_args = (size_t)jmr->nargs;
    st.args = jmr->args;
    st.parallelism = jmr->parallelism;
    st.job_graph.data = jmr->graph_pb;
    st.job_graph.len = jmr->graph_len;
    st.n_config = cfgl->n;
    st.config = cfgl->ptrs;
    st.gates = gates_build(jmr, v, k, &ngates);
    st.n_gates = ngates;
    /* What it restores (the latest completed checkpoint, or the snapshot
     * the job was submitted with) and how it checkpoints. */
    st.restore = cf_ckpt_coord_task_restore(jmr->ckpt, v, k);
    cf_ckpt_coord_settings(jmr->ckpt, &cs);
    st.checkpointing = &cs;
    env.body_case = CFLINK__ENVELOPE__BODY_SUBMIT_TASK;
    env.submit_task = &st;
    cl = call_new(jmr, JM_CALL_SUBMIT, v, k);
    rc = cf_rpc_call(c, &env, p->ask_timeout_ms, submit_cb, cl);
    if (rc < 0)
        call_free(cl);
    gates_free(st.gates, ngates);
    if (st.restore != NULL)
        cflink__task_restore__free_unpacked(st.restore, NULL);
    return rc;
}

/* Deploy the subtasks of a region set into the held slots (their
 * producers are in the set: regions are closed under channels). */
static void
deploy_set(cf_jobmaster_t *jmr, const unsigned char *marks)
{
    jm_priv_t *p = PRIV(jmr);
    cfg_list_t cfgl;
    unsigned char *failed = NULL;
    int first_v = -1, first_k = 0;
    char a[CF_ID_HEX_LEN + 1], al[CF_ID_HEX_LEN + 1];

    /* Every attempt id and location first: gates name the producers. */
    for (int v = 0; v < jmr->nvertices; v++) {
        cf_ejv_t *ejv = &jmr->vertices[v];

        for (int k = 0; k < ejv->parallelism; k++) {
            cf_exec_vertex_t *ev = &ejv->subtasks[k];
            jm_slot_t *sl = &p->slots[k];

            if (!marked(jmr, marks, v, k) || ev->state != CF_EXEC_SCHEDULED)
                continue;
            cf_id_random(&ev->attempt_id);
            ev->allocation_id = sl->allocation_id;
            cf_free(ev->tm_resource_id);
            cf_free(ev->tm_host);
            ev->tm_resource_id = cf_strdup(sl->resource_id);
            ev->tm_host = cf_strdup(sl->host);
            ev->tm_data_port = sl->data_port;
            exec_move(jmr, v, k, CF_EXEC_DEPLOYING, NULL);
        }
    }

    cfg_list_build(&cfgl, jmr->job_cfg);
    for (int v = 0; v < jmr->nvertices; v++) {
        cf_ejv_t *ejv = &jmr->vertices[v];

        for (int k = 0; k < ejv->parallelism; k++) {
            cf_exec_vertex_t *ev = &ejv->subtasks[k];

            if (!marked(jmr, marks, v, k) || ev->state != CF_EXEC_DEPLOYING)
                continue;
            cf_log_info("Deploying %s (%d/%d) (attempt #%d) with attempt id "
                        "%s and vertex id %s_%d to %s @ %s (dataPort=%d) "
                        "with allocation id %s",
                        ejv->name, k + 1, ejv->parallelism, ev->attempt,
                        hex(&ev->attempt_id, a), ejv->id_hex, k,
                        ev->tm_resource_id, ev->tm_host, ev->tm_data_port,
                        hex(&ev->allocation_id, al));
            if (submit_one(jmr, v, k, &cfgl) < 0) {
                exec_move(jmr, v, k, CF_EXEC_FAILED,
                          "Could not deploy the task: the TaskManager is "
                          "not connected");
                if (failed == NULL)
                    failed = marks_new(jmr, 0);
                failed[sub_region(jmr, v, k)] = 1;
                if (first_v < 0) {
                    first_v = v;
                    first_k = k;
                }
            }
        }
    }
    cfg_list_free(&cfgl);
    if (first_v >= 0 && job_active(jmr)) {
        const char *f = jmr->vertices[first_v].subtasks[first_k].failure;

        add_exception(jmr, f, first_v, first_k);
        failover(jmr, f, failed, first_v, first_k);
    } else {
        cf_free(failed);
    }
}

/* Deploy every waiting group whose slots are all held. */
static void
try_deploy(cf_jobmaster_t *jmr)
{
    jm_priv_t *p = PRIV(jmr);

    while (job_active(jmr) && !p->ended) {
        jm_group_t *g;

        for (g = p->groups; g != NULL; g = g->next)
            if (g->phase == JM_GROUP_WAITING && group_slots_ready(jmr, g))
                break;
        if (g == NULL)
            break;
        /* Unlinked before deploying: a failed deployment starts a
         * failover that must not find it. */
        {
            unsigned char *marks = g->marks;

            g->marks = NULL;
            group_remove(jmr, g);
            deploy_set(jmr, marks);
            cf_free(marks);
        }
    }
    if (slots_needed(jmr, NULL) == 0)
        timer_stop(&p->slot_timer);
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

static void
cancel_cb(cf_rpc_conn_t *c, int status, const char *error,
          const Cflink__Envelope *reply, void *arg)
{
    jm_call_t *cl = arg;
    cf_jobmaster_t *jmr = cl->jmr;
    cf_exec_vertex_t *ev = call_exec(cl);
    int v = cl->v, k = cl->k;

    (void)c;
    (void)reply;
    call_free(cl);
    if (ev == NULL || status >= 0 || ev->state != CF_EXEC_CANCELING)
        return;
    cf_log_warn("CancelTask of %s (%d/%d) failed (%s): the task is "
                "considered canceled.",
                jmr->vertices[v].name, k + 1, jmr->vertices[v].parallelism,
                error ? error : cf_strerror(status));
    exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
    check_progress(jmr);
}

/* Cancel one subtask: not deployed -> CANCELED; deployed -> CANCELING and
 * CancelTask (CANCELED at once when its TaskManager is gone). */
static void
cancel_one(cf_jobmaster_t *jmr, int v, int k)
{
    jm_priv_t *p = PRIV(jmr);
    cf_exec_vertex_t *ev = &jmr->vertices[v].subtasks[k];
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    cf_rpc_conn_t *c;
    jm_call_t *cl;

    if (cf_exec_state_is_terminal(ev->state) ||
        ev->state == CF_EXEC_CANCELING)
        return;
    if (ev->state == CF_EXEC_CREATED || ev->state == CF_EXEC_SCHEDULED) {
        exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
        return;
    }
    exec_move(jmr, v, k, CF_EXEC_CANCELING, NULL);
    c = tm_conn(jmr, ev->tm_resource_id);
    if (c != NULL) {
        ct.attempt_id = cf_rpc_id_bytes(&ev->attempt_id);
        env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
        env.cancel_task = &ct;
        cl = call_new(jmr, JM_CALL_CANCEL, v, k);
        if (cf_rpc_call(c, &env, p->ask_timeout_ms, cancel_cb, cl) == 0)
            return;
        call_free(cl);
    }
    exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
}

/* The TaskManagers did not confirm in time: stop waiting. */
static void
cancel_timeout_fn(void *arg)
{
    cf_jobmaster_t *jmr = arg;
    jm_priv_t *p = PRIV(jmr);

    p->cancel_timer = NULL;
    for (int v = 0; v < jmr->nvertices; v++) {
        cf_ejv_t *ejv = &jmr->vertices[v];

        for (int k = 0; k < ejv->parallelism; k++) {
            if (ejv->subtasks[k].state != CF_EXEC_CANCELING)
                continue;
            cf_log_warn("%s (%d/%d) was not confirmed canceled within "
                        "%" PRId64 " ms: considered canceled.",
                        ejv->name, k + 1, ejv->parallelism,
                        p->ask_timeout_ms);
            exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
        }
    }
    check_progress(jmr);
}

/* Cancel the subtasks of a region set (NULL: all). */
static void
cancel_set(cf_jobmaster_t *jmr, const unsigned char *marks)
{
    jm_priv_t *p = PRIV(jmr);
    int waiting = 0;

    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (marked(jmr, marks, v, k))
                cancel_one(jmr, v, k);
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            waiting |= jmr->vertices[v].subtasks[k].state ==
                       CF_EXEC_CANCELING;
    if (waiting && jmr->jm != NULL && jmr->jm->loop != NULL) {
        timer_stop(&p->cancel_timer);
        p->cancel_timer = cf_loop_timer(jmr->jm->loop, p->ask_timeout_ms, 0,
                                        cancel_timeout_fn, jmr);
    }
}

/* ------------------------------------------------------------------ */
/* Failover and the end of a job                                       */
/* ------------------------------------------------------------------ */

static void
cancel_all(cf_jobmaster_t *jmr)
{
    cancel_set(jmr, NULL);
}

/* Arm the restart timer for the earliest failover whose subtasks are all
 * terminal. */
static void
restart_arm(cf_jobmaster_t *jmr)
{
    jm_priv_t *p = PRIV(jmr);
    int64_t at = INT64_MAX, now;

    for (jm_group_t *g = p->groups; g != NULL; g = g->next)
        if (g->phase == JM_GROUP_CANCELING && g->restart_at_ms < at &&
            set_all_terminal(jmr, g->marks))
            at = g->restart_at_ms;
    if (at == INT64_MAX || jmr->jm == NULL || jmr->jm->loop == NULL)
        return;
    if (p->restart_timer != NULL && p->restart_timer_at <= at)
        return;
    timer_stop(&p->restart_timer);
    now = cf_now_ms();
    p->restart_timer_at = at;
    p->restart_timer = cf_loop_timer(jmr->jm->loop, at > now ? at - now : 0,
                                     0, restart_fn, jmr);
}

/* Reset the subtasks of a failover as new attempts (SCHEDULED). */
static void
restart_group(cf_jobmaster_t *jmr, jm_group_t *g)
{
    for (int v = 0; v < jmr->nvertices; v++) {
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            if (!marked(jmr, g->marks, v, k))
                continue;
            exec_reset(&jmr->vertices[v].subtasks[k]);
            exec_move(jmr, v, k, CF_EXEC_SCHEDULED, NULL);
        }
    }
}

/* The backoff delay of a failover passed (and its subtasks are
 * terminal): reset its subtasks; RESTARTING -> RUNNING when no failover
 * waits any more (Flink's DefaultScheduler.restartTasks); ask for the
 * slots they miss and deploy. */
static void
restart_fn(void *arg)
{
    cf_jobmaster_t *jmr = arg;
    jm_priv_t *p = PRIV(jmr);
    int64_t now = cf_now_ms();
    int any = 0;

    p->restart_timer = NULL;
    if (!job_active(jmr) || p->ended)
        return;
    for (jm_group_t *g = p->groups; g != NULL; g = g->next) {
        if (g->phase != JM_GROUP_CANCELING || g->restart_at_ms > now ||
            !set_all_terminal(jmr, g->marks))
            continue;
        g->phase = JM_GROUP_WAITING;
        g->restart_at_ms = -1; /* reset below */
        jmr->num_restarts++;
        any = 1;
        cf_log_info("Restarting job %s (%s): attempt %d (%d task(s)).",
                    jmr->name, jmr->job_id_hex, jmr->num_restarts,
                    marks_count_tasks(jmr, g->marks));
    }
    if (!any) {
        check_progress(jmr);
        return;
    }
    if (jmr->status == CF_JOB_RESTARTING &&
        group_count(jmr, JM_GROUP_CANCELING) == 0)
        set_status(jmr, CF_JOB_RUNNING);
    /* Slots of TaskManagers that left are gone. */
    for (int s = 0; s < p->nslots; s++) {
        if (p->slots[s].used &&
            cf_rm_find_tm(jm_rm(jmr), p->slots[s].resource_id) == NULL) {
            slot_clear(&p->slots[s]);
            p->held--;
        }
    }
    for (jm_group_t *g = p->groups; g != NULL; g = g->next) {
        if (g->phase == JM_GROUP_WAITING && g->restart_at_ms == -1) {
            g->restart_at_ms = 0;
            restart_group(jmr, g);
        }
    }
    request_missing(jmr);
    try_deploy(jmr);
    check_progress(jmr);
}

/* The restart strategy does not allow a restart: FAILING, every subtask
 * canceled; FAILED when all are terminal. */
static void
fail_job(cf_jobmaster_t *jmr, const char *failure)
{
    jm_priv_t *p = PRIV(jmr);

    cf_log_info("Job %s (%s) failed (%s): recovery is suppressed by %s.",
                jmr->name, jmr->job_id_hex, failure,
                cf_restart_describe(p->restart));
    set_status(jmr, CF_JOB_FAILING); /* from RUNNING or RESTARTING */
    cf_free(jmr->failure);
    jmr->failure = cf_strdup(failure ? failure : "unknown failure");
    groups_clear(jmr);
    timer_stop(&p->restart_timer);
    timer_stop(&p->slot_timer);
    cancel_all(jmr);
}

/* A failure while the job runs (Flink's DefaultScheduler
 * handleTaskFailure / handleGlobalFailure): the regions to restart are
 * marks (owned; NULL: every region), all of them with the `full`
 * strategy; v, k name the failed subtask (v < 0: a global failure).
 * Groups the failover overlaps join it. The restart strategy counts the
 * failover as one failure: restart allowed -> RESTARTING, cancel the
 * regions' subtasks, reset them after the delay; else fail the job. */
static void
failover(cf_jobmaster_t *jmr, const char *failure, unsigned char *marks,
         int v, int k)
{
    jm_priv_t *p = PRIV(jmr);
    int64_t now = cf_now_ms(), delay = 0;
    int global = v < 0 || marks == NULL || !p->region_failover;
    int ntasks, nregions = p->regions.nregions;
    char a[CF_ID_HEX_LEN + 1];

    if (!job_active(jmr) || p->ended) {
        cf_free(marks);
        return;
    }
    /* Pending checkpoints cannot complete any more (Flink's
     * JOB_FAILOVER_REGION; not counted as checkpoint failures). */
    cf_ckpt_coord_abort_pending(jmr->ckpt, "FailoverRegion is restarting.");
    if (!global)
        cf_log_info("Calculating tasks to restart to recover the failed "
                    "task %s_%d.",
                    jmr->vertices[v].id_hex, k);
    if (marks == NULL || !p->region_failover) {
        cf_free(marks);
        marks = marks_new(jmr, 1);
    }
    /* Failovers and waiting subtasks in these regions join this one. */
    for (jm_group_t *g = p->groups, *next; g != NULL; g = next) {
        int overlap = 0;

        next = g->next;
        for (int r = 0; r < nregions && !overlap; r++)
            overlap = g->marks[r] && marks[r];
        if (!overlap)
            continue;
        for (int r = 0; r < nregions; r++)
            marks[r] |= g->marks[r];
        group_remove(jmr, g);
    }
    ntasks = marks_count_tasks(jmr, marks);
    if (!cf_restart_can_restart(p->restart, now, &delay)) {
        cf_free(marks);
        fail_job(jmr, failure);
        return;
    }
    if (v < 0)
        cf_log_info("%d tasks will be restarted to recover from a global "
                    "failure.",
                    ntasks);
    else
        cf_log_info("%d tasks will be restarted to recover the failed task "
                    "%s.",
                    ntasks, hex(&jmr->vertices[v].subtasks[k].attempt_id, a));
    cf_log_info("Job %s (%s) failed (%s): restarting %d of %d region(s) in "
                "%" PRId64 " ms (%s).",
                jmr->name, jmr->job_id_hex, failure,
                marks_count_regions(jmr, marks), nregions, delay,
                cf_restart_describe(p->restart));
    set_status(jmr, CF_JOB_RESTARTING);
    group_add(jmr, marks, JM_GROUP_CANCELING, now + delay);
    cancel_set(jmr, marks);
    if (slots_needed(jmr, NULL) == 0)
        timer_stop(&p->slot_timer);
}

static void
failover_global(cf_jobmaster_t *jmr, const char *failure)
{
    failover(jmr, failure, NULL, -1, 0);
}

/* The job is globally terminal: give everything back. */
static void
job_ended(cf_jobmaster_t *jmr)
{
    jm_priv_t *p = PRIV(jmr);

    if (p->ended)
        return;
    p->ended = 1;
    timer_stop(&p->restart_timer);
    timer_stop(&p->slot_timer);
    timer_stop(&p->cancel_timer);
    /* Drop the pending requests first: a released slot would otherwise
     * be requested again for this very job at once. */
    cf_rm_cancel_requests(jm_rm(jmr), &jmr->job_id);
    p->outstanding = 0;
    release_slots(jmr, "The job ended.");
    cf_ckpt_coord_job_ended(jmr->ckpt, jmr->status);
    if (jmr->jm != NULL && jmr->jm->dispatcher != NULL)
        cf_dispatcher_job_terminated(jmr->jm->dispatcher, jmr);
}

/* After any change: finish, fail, cancel or schedule the restart when
 * the subtasks allow it. */
static void
check_progress(cf_jobmaster_t *jmr)
{
    jm_priv_t *p = PRIV(jmr);

    if (p->checking || p->ended)
        return;
    p->checking = 1;
    switch (jmr->status) {
    case CF_JOB_RUNNING:
        if (p->groups == NULL && all_finished(jmr)) {
            set_status(jmr, CF_JOB_FINISHED);
            job_ended(jmr);
            break;
        }
        restart_arm(jmr);
        break;
    case CF_JOB_RESTARTING:
        restart_arm(jmr);
        break;
    case CF_JOB_FAILING:
        if (all_terminal(jmr)) {
            set_status(jmr, CF_JOB_FAILED);
            job_ended(jmr);
        }
        break;
    case CF_JOB_CANCELLING:
        if (all_terminal(jmr)) {
            set_status(jmr, CF_JOB_CANCELED);
            job_ended(jmr);
        }
        break;
    default:
        break;
    }
    p->checking = 0;
}

/* ------------------------------------------------------------------ */
/* Messages from TaskManagers                                          */
/* ------------------------------------------------------------------ */

static void
on_offer_slots(cf_jobmaster_t *jmr, cf_rpc_conn_t *c, uint64_t req_id,
               const Cflink__OfferSlots *os)
{
    jm_priv_t *p = PRIV(jmr);
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__OfferSlotsResponse resp = CFLINK__OFFER_SLOTS_RESPONSE__INIT;
    ProtobufCBinaryData *acc = NULL;
    unsigned char *need = NULL;
    cf_rm_tm_t *tm;
    int want;

    tm = os->resource_id ? cf_rm_find_tm(jm_rm(jmr), os->resource_id)
                         : NULL;
    want = !p->ended && (jmr->status == CF_JOB_RUNNING ||
                         jmr->status == CF_JOB_RESTARTING);
    if (os->n_offers > 0)
        acc = cf_calloc(os->n_offers, sizeof *acc);
    for (size_t i = 0; i < os->n_offers; i++) {
        const Cflink__SlotOffer *o = os->offers[i];
        char a[CF_ID_HEX_LEN + 1];
        cf_id_t alloc;
        int tm_slot = -1, s;

        if (o == NULL || cf_rpc_id_get(&o->allocation_id, &alloc) < 0)
            continue;
        if (tm == NULL ||
            !offer_expected(jmr, os->resource_id, &alloc, &tm_slot)) {
            cf_log_info("Job %s (%s): declining unexpected slot offer %s "
                        "of TaskManager %s.",
                        jmr->name, jmr->job_id_hex, hex(&alloc, a),
                        os->resource_id ? os->resource_id : "?");
            continue;
        }
        if (p->outstanding > 0)
            p->outstanding--;
        if (!want || p->held >= p->nslots) {
            cf_log_info("Job %s (%s): declining slot offer %s of "
                        "TaskManager %s (not needed).",
                        jmr->name, jmr->job_id_hex, hex(&alloc, a),
                        os->resource_id);
            cf_rm_slot_released(jm_rm(jmr), os->resource_id, &alloc);
            continue;
        }
        /* The first free slot index that waiting subtasks need, else
         * the first free one. */
        if (need == NULL) {
            need = cf_calloc((size_t)p->nslots, 1);
            slots_needed(jmr, need);
        }
        for (s = 0; s < p->nslots && (p->slots[s].used || !need[s]); s++)
            ;
        if (s == p->nslots)
            for (s = 0; s < p->nslots && p->slots[s].used; s++)
                ;
        need[s] = 0;
        p->slots[s].used = 1;
        p->slots[s].resource_id = cf_strdup(os->resource_id);
        p->slots[s].allocation_id = alloc;
        p->slots[s].tm_slot_index = tm_slot;
        p->slots[s].host = cf_strdup(tm->host);
        p->slots[s].data_port = tm->data_port;
        p->held++;
        cf_rm_slot_accepted(jm_rm(jmr), os->resource_id, &alloc);
        acc[resp.n_accepted++] = o->allocation_id;
        cf_log_info("Job %s (%s): accepted slot %s (slot %d of TaskManager "
                    "%s), %d of %d held.",
                    jmr->name, jmr->job_id_hex, hex(&alloc, a), tm_slot,
                    os->resource_id, p->held, p->nslots);
    }
    resp.accepted = acc;
    env.body_case = CFLINK__ENVELOPE__BODY_OFFER_SLOTS_RESPONSE;
    env.offer_slots_response = &resp;
    if (req_id != 0)
        cf_rpc_reply(c, req_id, &env);
    cf_free(acc);
    cf_free(need);
    try_deploy(jmr);
    check_progress(jmr);
}

static int
find_attempt(cf_jobmaster_t *jmr, const cf_id_t *attempt_id, int *pv,
             int *pk)
{
    for (int v = 0; v < jmr->nvertices; v++) {
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            if (cf_id_equal(&jmr->vertices[v].subtasks[k].attempt_id,
                            attempt_id)) {
                *pv = v;
                *pk = k;
                return 1;
            }
        }
    }
    return 0;
}

/* A counter reported by a TaskManager (state update or heartbeat): it
 * only goes up within an attempt (a report may be older than one already
 * applied); negative values are ignored. */
static void
counter_raise(int64_t *c, int64_t v)
{
    if (v > *c)
        *c = v;
}

/* The event-time figures of a report (state update or heartbeat), absent
 * from a TaskManager that predates them. Within an attempt the input
 * watermark only advances (the task's valve emits no smaller one) and the
 * late-records counter only grows, so an older report than one already
 * applied lowers neither. */
static void
event_time_raise(cf_exec_vertex_t *ev, const Cflink__TaskEventTime *et)
{
    if (et == NULL)
        return;
    if (!ev->has_event_time) {
        ev->has_event_time = 1;
        ev->input_watermark = et->input_watermark;
        ev->late_records_dropped = et->late_records_dropped;
        return;
    }
    if (et->input_watermark > ev->input_watermark)
        ev->input_watermark = et->input_watermark;
    if (et->late_records_dropped > ev->late_records_dropped)
        ev->late_records_dropped = et->late_records_dropped;
}

/* The times of a report (absent from a TaskManager that predates them,
 * or for a task not measured), then the rates from the raised figures:
 * within an attempt each time only grows, so an older report (a
 * heartbeat overtaken by a state update) lowers nothing and gives no
 * negative rate. */
static void
times_raise(cf_exec_vertex_t *ev, const Cflink__UpdateTaskExecutionState *u)
{
    cf_task_sample_t s;

    ev->reported = 1;
    if (u->times != NULL) {
        ev->has_times = 1;
        if (u->times->busy_ms > ev->times.busy_ms)
            ev->times.busy_ms = u->times->busy_ms;
        if (u->times->back_pressured_ms > ev->times.back_pressured_ms)
            ev->times.back_pressured_ms = u->times->back_pressured_ms;
        if (u->times->idle_ms > ev->times.idle_ms)
            ev->times.idle_ms = u->times->idle_ms;
    }
    memset(&s, 0, sizeof s);
    s.t_ms = cf_mono_ns() / 1000000;
    s.counts[0] = ev->records_in;
    s.counts[1] = ev->records_out;
    s.counts[2] = ev->bytes_in;
    s.counts[3] = ev->bytes_out;
    s.has_times = ev->has_times;
    s.times = ev->times;
    cf_task_rates_feed(&ev->rates, &s, CF_TASK_RATE_WINDOW_MS);
}

double
cf_jobmaster_rate(const cf_exec_vertex_t *ev, int k)
{
    if (k < 0 || k >= CF_RATE_COUNT || cf_exec_state_is_terminal(ev->state))
        return 0.0;
    return ev->rates.rate[k];
}

void
cf_jobmaster_update_counters(cf_jobmaster_t *jmr,
                             const Cflink__UpdateTaskExecutionState *u)
{
    cf_id_t job, attempt;
    cf_exec_vertex_t *ev;
    int v, k;

    if (jmr == NULL || u == NULL ||
        cf_rpc_id_get(&u->job_id, &job) < 0 ||
        !cf_id_equal(&job, &jmr->job_id) ||
        cf_rpc_id_get(&u->attempt_id, &attempt) < 0 ||
        cf_id_is_zero(&attempt) || !find_attempt(jmr, &attempt, &v, &k))
        return; /* another job's, or a stale attempt's */
    ev = &jmr->vertices[v].subtasks[k];
    counter_raise(&ev->records_in, u->records_in);
    counter_raise(&ev->records_out, u->records_out);
    counter_raise(&ev->bytes_in, u->bytes_in);
    counter_raise(&ev->bytes_out, u->bytes_out);
    event_time_raise(ev, u->event_time);
    times_raise(ev, u);
}

/* Whether checkpoints can be taken: the job RUNNING with no failover in
 * progress, every subtask RUNNING or FINISHED. */
static int
ckpt_ready(const cf_jobmaster_t *jmr)
{
    if (jmr->status != CF_JOB_RUNNING || PRIV(jmr)->groups != NULL)
        return 0;
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (jmr->vertices[v].subtasks[k].state != CF_EXEC_RUNNING &&
                jmr->vertices[v].subtasks[k].state != CF_EXEC_FINISHED)
                return 0;
    return 1;
}

/* An AcknowledgeCheckpoint / DeclineCheckpoint: for the coordinator when
 * it names this job and a current attempt (stale ones are dropped). */
static int
ckpt_msg_current(cf_jobmaster_t *jmr, const ProtobufCBinaryData *job_id,
                 const ProtobufCBinaryData *attempt_id)
{
    cf_id_t job, attempt;
    int v, k;

    return cf_rpc_id_get(job_id, &job) == 0 &&
           cf_id_equal(&job, &jmr->job_id) &&
           cf_rpc_id_get(attempt_id, &attempt) == 0 &&
           !cf_id_is_zero(&attempt) && find_attempt(jmr, &attempt, &v, &k);
}

static void
on_update_state(cf_jobmaster_t *jmr,
                const Cflink__UpdateTaskExecutionState *u)
{
    cf_id_t attempt;
    cf_exec_vertex_t *ev;
    cf_exec_state_t to;
    int v, k;

    if (cf_rpc_id_get(&u->attempt_id, &attempt) < 0 ||
        cf_id_is_zero(&attempt) || !find_attempt(jmr, &attempt, &v, &k)) {
        cf_log_debug("Job %s (%s): state update of an unknown attempt "
                     "ignored.",
                     jmr->name, jmr->job_id_hex);
        return;
    }
    ev = &jmr->vertices[v].subtasks[k];
    if (u->state < 0 || u->state >= CF_EXEC_STATE_COUNT) {
        cf_log_warn("Job %s (%s): state update with unknown state %d "
                    "ignored.",
                    jmr->name, jmr->job_id_hex, u->state);
        return;
    }
    to = (cf_exec_state_t)u->state;
    counter_raise(&ev->records_in, u->records_in);
    counter_raise(&ev->records_out, u->records_out);
    counter_raise(&ev->bytes_in, u->bytes_in);
    counter_raise(&ev->bytes_out, u->bytes_out);
    event_time_raise(ev, u->event_time);
    times_raise(ev, u);
    if (to == ev->state || cf_exec_state_is_terminal(ev->state))
        return;
    /* Being canceled, any end completes the cancellation (as Flink's
     * Execution.completeCancelling). */
    if (ev->state == CF_EXEC_CANCELING && cf_exec_state_is_terminal(to)) {
        exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
        check_progress(jmr);
        return;
    }
    /* A task that ended before its RUNNING report arrived. */
    if (to == CF_EXEC_FINISHED &&
        (ev->state == CF_EXEC_DEPLOYING || ev->state == CF_EXEC_INITIALIZING))
        exec_move(jmr, v, k, CF_EXEC_RUNNING, NULL);
    if (to == CF_EXEC_FAILED) {
        const char *f =
            u->failure && u->failure[0] ? u->failure : "unknown failure";

        exec_move(jmr, v, k, CF_EXEC_FAILED, f);
        task_failed(jmr, f, v, k);
    } else if (to == CF_EXEC_CANCELED && ev->state != CF_EXEC_CANCELING &&
               job_active(jmr)) {
        /* Canceled without our asking: a failure of the task. */
        char *f = cf_asprintf("%s (%d/%d) was canceled by TaskManager %s "
                              "without a request of the JobManager.",
                              jmr->vertices[v].name, k + 1,
                              jmr->vertices[v].parallelism,
                              ev->tm_resource_id ? ev->tm_resource_id : "?");

        exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
        task_failed(jmr, f, v, k);
        cf_free(f);
    } else {
        exec_move(jmr, v, k, to, NULL);
        if (ev->state == CF_EXEC_FINISHED)
            cf_ckpt_coord_task_finished(jmr->ckpt, v, k);
        if ((ev->state == CF_EXEC_RUNNING ||
             ev->state == CF_EXEC_FINISHED) &&
            ckpt_ready(jmr))
            cf_ckpt_coord_job_running(jmr->ckpt);
    }
    check_progress(jmr);
}

void
cf_jobmaster_on_message(cf_jobmaster_t *jmr, cf_rpc_conn_t *c,
                        uint64_t req_id, const Cflink__Envelope *msg)
{
    if (jmr == NULL || msg == NULL)
        return;
    switch (msg->body_case) {
    case CFLINK__ENVELOPE__BODY_OFFER_SLOTS:
        if (msg->offer_slots != NULL) {
            on_offer_slots(jmr, c, req_id, msg->offer_slots);
            return;
        }
        break;
    case CFLINK__ENVELOPE__BODY_UPDATE_TASK_EXECUTION_STATE:
        if (msg->update_task_execution_state != NULL) {
            on_update_state(jmr, msg->update_task_execution_state);
            if (req_id != 0)
                cf_rpc_reply_ack(c, req_id);
            return;
        }
        break;
    case CFLINK__ENVELOPE__BODY_ACKNOWLEDGE_CHECKPOINT:
        if (msg->acknowledge_checkpoint != NULL) {
            const Cflink__AcknowledgeCheckpoint *a =
                msg->acknowledge_checkpoint;

            if (ckpt_msg_current(jmr, &a->job_id, &a->attempt_id))
                cf_ckpt_coord_on_ack(jmr->ckpt, a);
            else
                cf_log_debug("Job %s (%s): acknowledgement of checkpoint "
                             "%" PRId64 " by an unknown attempt ignored.",
                             jmr->name, jmr->job_id_hex, a->checkpoint_id);
            if (req_id != 0)
                cf_rpc_reply_ack(c, req_id);
            return;
        }
        break;
    case CFLINK__ENVELOPE__BODY_DECLINE_CHECKPOINT:
        if (msg->decline_checkpoint != NULL) {
            const Cflink__DeclineCheckpoint *d = msg->decline_checkpoint;

            if (ckpt_msg_current(jmr, &d->job_id, &d->attempt_id))
                cf_ckpt_coord_on_decline(jmr->ckpt, d);
            else
                cf_log_debug("Job %s (%s): decline of checkpoint %" PRId64
                             " by an unknown attempt ignored.",
                             jmr->name, jmr->job_id_hex, d->checkpoint_id);
            if (req_id != 0)
                cf_rpc_reply_ack(c, req_id);
            return;
        }
        break;
    default:
        break;
    }
    if (req_id != 0)
        cf_rpc_reply_error(c, req_id, "JobMaster of job %s: unexpected %s",
                           jmr->job_id_hex, cf_rpc_body_name(msg->body_case));
}

void
cf_jobmaster_fail_global(cf_jobmaster_t *jmr, const char *failure)
{
    if (jmr == NULL || jmr->priv == NULL || PRIV(jmr)->ended ||
        !job_active(jmr))
        return;
    add_exception(jmr, failure, -1, 0);
    failover_global(jmr, failure ? failure : "unknown failure");
    check_progress(jmr);
}

void
cf_jobmaster_tm_lost(cf_jobmaster_t *jmr, const char *resource_id,
                     const char *reason)
{
    jm_priv_t *p;
    unsigned char *failed;
    int first_v = -1, first_k = 0, dropped = 0;

    if (jmr == NULL || resource_id == NULL || jmr->priv == NULL)
        return;
    p = PRIV(jmr);
    if (p->ended || jmr->vertices == NULL)
        return;
    failed = marks_new(jmr, 0);
    /* Its slots are gone (no FreeSlot). */
    for (int s = 0; s < p->nslots; s++) {
        if (p->slots[s].used &&
            strcmp(p->slots[s].resource_id, resource_id) == 0) {
            slot_clear(&p->slots[s]);
            p->held--;
            dropped++;
        }
    }
    for (int v = 0; v < jmr->nvertices; v++) {
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            cf_exec_vertex_t *ev = &jmr->vertices[v].subtasks[k];

            if (ev->tm_resource_id == NULL ||
                strcmp(ev->tm_resource_id, resource_id) != 0 ||
                cf_exec_state_is_terminal(ev->state))
                continue;
            if (ev->state == CF_EXEC_CANCELING) {
                exec_move(jmr, v, k, CF_EXEC_CANCELED, NULL);
                continue;
            }
            exec_move(jmr, v, k, CF_EXEC_FAILED, reason);
            failed[sub_region(jmr, v, k)] = 1;
            if (first_v < 0) {
                first_v = v;
                first_k = k;
            }
        }
    }
    if (dropped > 0)
        cf_log_info("Job %s (%s): lost %d slot(s) with TaskManager %s.",
                    jmr->name, jmr->job_id_hex, dropped, resource_id);
    /* The union of the failed subtasks' regions restarts (one failover,
     * one failure for the restart strategy). */
    if (first_v >= 0 && job_active(jmr)) {
        add_exception(jmr, reason, first_v, first_k);
        failover(jmr, reason, failed, first_v, first_k);
    } else {
        cf_free(failed);
        if (dropped > 0 && job_active(jmr))
            request_missing(jmr);
    }
    check_progress(jmr);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static int
graph_check(const Cflink__JobGraph *g, cf_error_t **errp)
{
    if (g->n_vertices == 0)
        return cf_error_set(errp, CF_EGRAPH, "the job graph has no vertex");
    for (size_t v = 0; v < g->n_vertices; v++) {
        const Cflink__JobVertex *jv = g->vertices[v];

        if (jv == NULL || jv->id.len != 16)
            return cf_error_set(errp, CF_EGRAPH,
                                "vertex %zu of the job graph has no valid "
                                "id",
                                v);
        if (jv->parallelism < 1 || jv->parallelism > CF_MAX_PARALLELISM_UPPER)
            return cf_error_set(errp, CF_EGRAPH,
                                "vertex %zu (%s) has parallelism %d", v,
                                jv->name ? jv->name : "", jv->parallelism);
        for (size_t o = 0; o < jv->n_outputs; o++)
            if (jv->outputs[o] == NULL || jv->outputs[o]->partitioner < 1 ||
                jv->outputs[o]->partitioner > 7)
                return cf_error_set(errp, CF_EGRAPH,
                                    "vertex %zu (%s): output %zu has no "
                                    "valid partitioner",
                                    v, jv->name ? jv->name : "", o);
        for (size_t i = 0; i < jv->n_inputs; i++) {
            const Cflink__JobInput *in = jv->inputs[i];

            if (in == NULL || in->source_vertex < 0 ||
                (size_t)in->source_vertex >= g->n_vertices ||
                (size_t)in->source_vertex == v || in->source_output < 0 ||
                g->vertices[in->source_vertex] == NULL ||
                (size_t)in->source_output >=
                    g->vertices[in->source_vertex]->n_outputs)
                return cf_error_set(errp, CF_EGRAPH,
                                    "vertex %zu (%s): input %zu names no "
                                    "valid producer output",
                                    v, jv->name ? jv->name : "", i);
        }
    }
    return 0;
}

cf_jobmaster_t *
cf_jobmaster_new(cf_jm_t *jm, const cf_jobmaster_spec_t *spec,
                 cf_error_t **errp)
{
    cf_jobmaster_t *jmr;
    jm_priv_t *p;
    const cf_config_t *cfg;
    int64_t now = cf_now_ms();
    int S = 0;

    if (spec == NULL || spec->job_id == NULL || spec->graph_pb == NULL ||
        spec->graph_len == 0) {
        cf_error_set(errp, CF_EINVAL, "JobMaster: no job id or job graph");
        return NULL;
    }
    jmr = CF_NEW(cf_jobmaster_t);
    p = CF_NEW(jm_priv_t);
    jmr->priv = p;
    p->calls.next = p->calls.prev = &p->calls;
    jmr->jm = jm;
    jmr->job_id = *spec->job_id;
    cf_id_to_hex(&jmr->job_id, jmr->job_id_hex);
    jmr->name = cf_strdup(spec->name ? spec->name : "");
    jmr->status = CF_JOB_INITIALIZING;
    jmr->status_ts[CF_JOB_INITIALIZING] = now;
    jmr->start_ms = now;
    jmr->graph_pb = cf_malloc(spec->graph_len);
    memcpy(jmr->graph_pb, spec->graph_pb, spec->graph_len);
    jmr->graph_len = spec->graph_len;
    jmr->plan_json = spec->plan_json ? cf_strdup(spec->plan_json) : NULL;
    jmr->plugin_key = spec->plugin_key ? cf_strdup(spec->plugin_key) : NULL;
    jmr->plugin_name =
        spec->plugin_name ? cf_strdup(spec->plugin_name) : NULL;
    jmr->jar_id = spec->jar_id ? cf_strdup(spec->jar_id) : NULL;
    jmr->nargs = spec->nargs > 0 ? spec->nargs : 0;
    jmr->args = cf_calloc((size_t)jmr->nargs + 1, sizeof *jmr->args);
    for (int i = 0; i < jmr->nargs; i++)
        jmr->args[i] = cf_strdup(spec->args[i] ? spec->args[i] : "");
    jmr->parallelism = spec->parallelism;
    jmr->job_cfg = spec->job_cfg ? cf_config_copy(spec->job_cfg)
                                 : cf_config_new();
    cfg = jmr->job_cfg;

    jmr->graph = cflink__job_graph__unpack(NULL, spec->graph_len,
                                           spec->graph_pb);
    if (jmr->graph == NULL) {
        cf_error_set(errp, CF_EGRAPH, "job %s: cannot decode the job graph",
                     jmr->job_id_hex);
        goto fail;
    }
    if (graph_check(jmr->graph, errp) < 0) {
        cf_error_prefix(errp, "job %s", jmr->job_id_hex);
        goto fail;
    }
    p->restart = cf_restart_new(cfg, errp);
    if (p->restart == NULL) {
        cf_error_prefix(errp, "job %s", jmr->job_id_hex);
        goto fail;
    }
    if (cf_regions_compute(jmr->graph, &p->regions, errp) < 0) {
        cf_error_prefix(errp, "job %s", jmr->job_id_hex);
        goto fail;
    }
    p->region_failover = cf_config_get_enum(
                             cfg, "jobmanager.execution.failover-strategy") !=
                         0; /* full|region */
    p->ask_timeout_ms =
        cf_config_get_duration_ms(cfg, "pekko.ask.timeout", 10000);
    if (p->ask_timeout_ms <= 0)
        p->ask_timeout_ms = 10000;
    p->slot_timeout_ms =
        cf_config_get_duration_ms(cfg, "slot.request.timeout", 300000);
    if (p->slot_timeout_ms <= 0)
        p->slot_timeout_ms = 300000;

    jmr->nvertices = (int)jmr->graph->n_vertices;
    jmr->vertices = cf_calloc((size_t)jmr->nvertices, sizeof *jmr->vertices);
    for (int v = 0; v < jmr->nvertices; v++) {
        const Cflink__JobVertex *jv = jmr->graph->vertices[v];
        cf_ejv_t *ejv = &jmr->vertices[v];

        memcpy(ejv->id.b, jv->id.data, 16);
        cf_id_to_hex(&ejv->id, ejv->id_hex);
        ejv->name = cf_strdup(jv->name ? jv->name : "");
        ejv->parallelism = jv->parallelism;
        ejv->max_parallelism = jv->max_parallelism;
        ejv->subtasks =
            cf_calloc((size_t)ejv->parallelism, sizeof *ejv->subtasks);
        for (int k = 0; k < ejv->parallelism; k++) {
            ejv->subtasks[k].subtask = k;
            ejv->subtasks[k].state = CF_EXEC_CREATED;
            ejv->subtasks[k].state_ts[CF_EXEC_CREATED] = now;
        }
        if (ejv->parallelism > S)
            S = ejv->parallelism;
    }
    p->nslots = S;
    p->slots = cf_calloc((size_t)S, sizeof *p->slots);
    /* The CheckpointCoordinator; a snapshot to restore from is read and
     * matched against the job now (errors fail the submission). */
    jmr->ckpt = cf_ckpt_coord_new(jmr, spec->savepoint_path,
                                  spec->allow_non_restored, errp);
    if (jmr->ckpt == NULL)
        goto fail;
    cf_log_info("Using restart back off time strategy %s for %s (%s).",
                cf_restart_describe(p->restart), jmr->name, jmr->job_id_hex);
    cf_log_info("Created JobMaster for job %s (%s): %d vertices, %d "
                "slot(s) needed.",
                jmr->name, jmr->job_id_hex, jmr->nvertices, S);
    cf_log_info("Using failover strategy %s for %s (%s): %d pipelined "
                "region(s).",
                p->region_failover ? "region" : "full", jmr->name,
                jmr->job_id_hex, p->regions.nregions);
    set_status(jmr, CF_JOB_CREATED);
    return jmr;

fail:
    cf_jobmaster_destroy(jmr);
    return NULL;
}

void
cf_jobmaster_start(cf_jobmaster_t *jmr)
{
    if (jmr == NULL)
        return;
    if (jmr->status != CF_JOB_CREATED) {
        cf_log_warn("Job %s (%s): start in state %s ignored.", jmr->name,
                    jmr->job_id_hex, cf_job_status_name(jmr->status));
        return;
    }
    cf_log_info("Starting execution of job '%s' (%s).", jmr->name,
                jmr->job_id_hex);
    set_status(jmr, CF_JOB_RUNNING);
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            exec_move(jmr, v, k, CF_EXEC_SCHEDULED, NULL);
    /* Everything waits for its slots (deployed at once when all held). */
    group_add(jmr, marks_new(jmr, 1), JM_GROUP_WAITING, 0);
    request_missing(jmr);
    try_deploy(jmr);
    check_progress(jmr);
}

void
cf_jobmaster_cancel(cf_jobmaster_t *jmr)
{
    jm_priv_t *p;

    if (jmr == NULL || jmr->priv == NULL)
        return;
    p = PRIV(jmr);
    if (cf_job_status_is_globally_terminal(jmr->status) ||
        jmr->status == CF_JOB_CANCELLING || p->ended)
        return;
    cf_log_info("Trying to cancel job %s (%s).", jmr->name, jmr->job_id_hex);
    if (set_status(jmr, CF_JOB_CANCELLING) < 0)
        return;
    timer_stop(&p->restart_timer);
    timer_stop(&p->slot_timer);
    groups_clear(jmr);
    cf_ckpt_coord_abort_pending(jmr->ckpt,
                                "Checkpoint Coordinator is suspending.");
    cancel_all(jmr);
    check_progress(jmr);
}

void
cf_jobmaster_destroy(cf_jobmaster_t *jmr)
{
    jm_priv_t *p;

    if (jmr == NULL)
        return;
    p = PRIV(jmr);
    if (p != NULL && !p->ended && jmr->vertices != NULL &&
        !cf_job_status_is_globally_terminal(jmr->status) &&
        jmr->status != CF_JOB_INITIALIZING) {
        /* The JobManager shuts down: cancel what runs, best effort. */
        for (int v = 0; v < jmr->nvertices; v++) {
            for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
                cf_exec_vertex_t *ev = &jmr->vertices[v].subtasks[k];
                Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
                Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
                cf_rpc_conn_t *c;

                if (cf_exec_state_is_terminal(ev->state) ||
                    ev->state == CF_EXEC_CREATED ||
                    ev->state == CF_EXEC_SCHEDULED ||
                    (c = tm_conn(jmr, ev->tm_resource_id)) == NULL)
                    continue;
                ct.attempt_id = cf_rpc_id_bytes(&ev->attempt_id);
                env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
                env.cancel_task = &ct;
                cf_rpc_call(c, &env, p->ask_timeout_ms, noop_cb, NULL);
            }
        }
        cf_rm_cancel_requests(jm_rm(jmr), &jmr->job_id);
        release_slots(jmr, "The JobManager is shutting down.");
        set_status(jmr, CF_JOB_SUSPENDED);
    }
    cf_ckpt_coord_destroy(jmr->ckpt);
    jmr->ckpt = NULL;
    if (p != NULL) {
        timer_stop(&p->restart_timer);
        timer_stop(&p->slot_timer);
        timer_stop(&p->cancel_timer);
        for (jm_call_t *cl = p->calls.next; cl != &p->calls;) {
            jm_call_t *next = cl->next;

            cl->jmr = NULL;
            cl = next;
        }
        for (int s = 0; s < p->nslots; s++)
            slot_clear(&p->slots[s]);
        cf_free(p->slots);
        groups_clear(jmr);
        cf_regions_free(&p->regions);
        cf_restart_destroy(p->restart);
        cf_free(p);
    }
    for (int v = 0; v < jmr->nvertices; v++) {
        cf_ejv_t *ejv = &jmr->vertices[v];

        for (int k = 0; k < ejv->parallelism; k++) {
            cf_free(ejv->subtasks[k].tm_resource_id);
            cf_free(ejv->subtasks[k].tm_host);
            cf_free(ejv->subtasks[k].failure);
        }
        cf_free(ejv->subtasks);
        cf_free(ejv->name);
    }
    cf_free(jmr->vertices);
    while (jmr->exceptions != NULL) {
        cf_job_exception_t *e = jmr->exceptions;

        jmr->exceptions = e->next;
        cf_free(e->exception);
        cf_free(e->task_name);
        cf_free(e->location);
        cf_free(e->tm_id);
        cf_free(e);
    }
    if (jmr->graph != NULL)
        cflink__job_graph__free_unpacked(jmr->graph, NULL);
    cf_free(jmr->graph_pb);
    cf_free(jmr->plan_json);
    cf_free(jmr->plugin_key);
    cf_free(jmr->plugin_name);
    cf_free(jmr->jar_id);
    for (int i = 0; i < jmr->nargs; i++)
        cf_free(jmr->args[i]);
    cf_free(jmr->args);
    cf_config_destroy(jmr->job_cfg);
    cf_free(jmr->failure);
    cf_free(jmr->name);
    cf_free(jmr);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

cf_ejv_t *
cf_jobmaster_find_vertex(cf_jobmaster_t *jmr, const char *id_hex)
{
    if (jmr == NULL || id_hex == NULL)
        return NULL;
    for (int v = 0; v < jmr->nvertices; v++)
        if (strcasecmp(jmr->vertices[v].id_hex, id_hex) == 0)
            return &jmr->vertices[v];
    return NULL;
}

void
cf_jobmaster_task_counts(const cf_jobmaster_t *jmr,
                         int counts[CF_EXEC_STATE_COUNT])
{
    memset(counts, 0, sizeof(int) * CF_EXEC_STATE_COUNT);
    if (jmr == NULL)
        return;
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            counts[jmr->vertices[v].subtasks[k].state]++;
}
