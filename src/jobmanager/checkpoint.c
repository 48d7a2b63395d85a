/*
 * checkpoint.c: the JobMaster's CheckpointCoordinator (Flink's
 * CheckpointCoordinator + PendingCheckpoint + CompletedCheckpointStore +
 * CheckpointStatsTracker + StateAssignmentOperation): periodic checkpoints,
 * savepoints, stop-with-savepoint and manual checkpoints, acknowledgements,
 * _metadata on completion, retention, failure handling, and what each
 * (re)deployed subtask restores.
 *
 * Design. A checkpoint is a pend_t from its trigger until its _metadata is
 * written (or it fails). At the trigger every subtask is RUNNING or
 * FINISHED: FINISHED ones count as acknowledged at once with the handles
 * they had in the latest completed checkpoint (carried forward); the
 * others must acknowledge. TriggerCheckpoint goes to every RUNNING subtask
 * none of whose upstream subtasks is still running (sources, or tasks
 * whose inputs all finished); when a subtask finishes later, the subtasks
 * downstream of it that now qualify are triggered too (tasks ignore a
 * duplicate trigger). When all acknowledgements are in, the metadata
 * (every operator of every chain, with its handles) is built on the loop
 * and written by a worker (cf_loop_work); its completion marks the
 * checkpoint completed, notifies the running tasks and applies retention.
 *
 * Savepoints (as Flink 1.15+): not used for recovery, no
 * notifyCheckpointComplete, never retained nor discarded by the
 * coordinator; their directory is self-contained (foreign files are copied
 * in, paths relative). A stop-with-savepoint (SYNC_SAVEPOINT) is notified
 * (the tasks end on it) and is a restore point while the job ends.
 *
 * Failures: a decline, a timeout, an I/O error count as consecutive
 * failures of checkpoints (not of savepoints); more than
 * tolerable-failed-checkpoints of them fail the job globally (through the
 * JobMaster's failover). A failover or the end of the job aborts pending
 * checkpoints without counting (Flink's JOB_FAILOVER_REGION /
 * CHECKPOINT_COORDINATOR_SHUTDOWN). A failed checkpoint only removes its
 * own directory. Ids only grow.
 *
 * Without a loop (jmr->jm NULL, unit tests) there are no timers and the
 * worker jobs run inline.
 *
 * Threads: everything runs on the JobManager's loop, except fin_work()
 * and discard_work() (a worker thread, touching only their work item).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "jobmanager_int.h"

#define CK_SAMPLES 1024
#define CK_ABORTED 16

#define MSG_EXPIRED "Checkpoint expired before completing."
#define MSG_DECLINED "Checkpoint was declined."
#define MSG_IO                                                               \
    "An Exception occurred while triggering the checkpoint. IO-problem "     \
    "detected."
#define MSG_FINALIZE "Failure to finalize checkpoint."
#define MSG_NOT_RUNNING "Not all required tasks are currently running."
#define MSG_TOLERABLE "Exceeded checkpoint tolerable failure threshold."

enum { SUB_NONE = 0, SUB_WAIT, SUB_ACKED };

/* One subtask's part of a checkpoint: per operator of its chain that has
 * state, one handle (absolute path). */
typedef struct snap_s {
    int nops;
    cf_id_t *ids;
    cf_state_handle_t *h;
} snap_t;

typedef struct pend_s {
    struct cf_ckpt_coord_s *cc;
    int64_t id;
    int kind;
    int drain;
    int64_t trigger_ts;
    char *dir;
    cf_ckpt_stats_t *st;
    unsigned char *sub;  /* per subtask: SUB_* */
    unsigned char *trig; /* TriggerCheckpoint sent */
    unsigned char *fin;  /* finished (at trigger, later, or acked so) */
    snap_t *snap;        /* per subtask */
    int nwait;
    int sent;            /* some trigger went out */
    int finalizing;      /* _metadata being written */
    char *aborted;       /* aborted while finalizing: the reason */
    cf_timer_t *timer;
    cf_ckpt_done_cb done;
    void *done_arg;
    struct pend_s *next;
} pend_t;

/* A completed checkpoint kept for recovery / retention, or the snapshot
 * restored at submission. meta holds absolute paths. */
typedef struct kept_s {
    int64_t id;
    char *dir;
    Cflink__CheckpointMetadata *meta;
    struct kept_s *next; /* older */
} kept_t;

enum { W_FINALIZE, W_DISCARD };

typedef struct work_s {
    struct cf_ckpt_coord_s *cc; /* NULL once the coordinator is gone */
    struct work_s *prev, *next;
    int type;
    /* W_FINALIZE */
    int64_t id;
    int kind;
    char *dir;
    Cflink__CheckpointMetadata *meta;
    int rc;
    char *err;
    /* W_DISCARD */
    char **dirs;
    size_t ndirs;
    char **keep;
    size_t nkeep;
    char **files;
    size_t nfiles;
    char **rmdirs;
    size_t nrmdirs;
} work_t;

typedef struct strv_s {
    char **v;
    size_t n, cap;
} strv_t;

struct cf_ckpt_coord_s {
    cf_jobmaster_t *jmr;
    cf_loop_t *loop;
    int nsub;
    int *base; /* nvertices + 1 */
    /* configuration */
    int64_t interval_ms, timeout_ms, min_pause_ms;
    int max_concurrent, tolerable, num_retained;
    int exactly_once, compress, after_finish;
    int retention; /* 0 DELETE_ON_CANCELLATION, 1 RETAIN_ON_CANCELLATION,
                    * 2 NO_EXTERNALIZED_CHECKPOINTS */
    char *base_dir;
    int dir_default;
    char *savepoint_dir;
    int job_dirs_made;
    /* state */
    int64_t next_id;
    int running;
    int ended;
    int sync_pending;
    int waiting;
    int64_t last_end_ms;
    cf_timer_t *timer;
    int consecutive;
    pend_t *pending;
    kept_t *kept; /* checkpoints, newest first */
    int nkept;
    kept_t *sync; /* latest completed stop-with-savepoint */
    kept_t *src;  /* restored at submission */
    snap_t *done; /* per subtask: its part of the latest restore point */
    int restore_logged;
    /* statistics */
    cf_ckpt_view_t view;
    int history_max;
    cf_ckpt_stats_t *orphans;
    int64_t durations[CK_SAMPLES];
    uint64_t sizes[CK_SAMPLES];
    uint64_t processed[CK_SAMPLES];
    int sample_head;
    char *restored_path;
    struct {
        int64_t id;
        char *dir;
    } aborted[CK_ABORTED];
    int aborted_head;
    work_t works; /* list head of finalize jobs in flight */
};

static void pend_fail(cf_ckpt_coord_t *cc, pend_t *p, const char *reason,
                      int counts);
static void maybe_complete(cf_ckpt_coord_t *cc, pend_t *p);
static void sched(cf_ckpt_coord_t *cc, int64_t delay_ms);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void
strv_add(strv_t *s, const char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = cf_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = cf_strdup(str);
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_free(v[i]);
    cf_free(v);
}

static int
strv_has(const strv_t *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return 1;
    return 0;
}

/* Whether path lies under dir ("dir/..."). */
static int
path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* A directory from configuration or a request: "file://" / "file:"
 * stripped (Flink's URIs), trailing slashes dropped. */
static char *
dir_norm(const char *s)
{
    char *d;
    size_t n;

    if (s == NULL || *s == '\0')
        return NULL;
    if (strncmp(s, "file://", 7) == 0)
        s += 7;
    else if (strncmp(s, "file:", 5) == 0)
        s += 5;
    d = cf_strdup(s);
    n = strlen(d);
    while (n > 1 && d[n - 1] == '/')
        d[--n] = '\0';
    return d;
}

static cf_exec_state_t
sub_state(const cf_ckpt_coord_t *cc, int v, int k)
{
    return cc->jmr->vertices[v].subtasks[k].state;
}

static int
vertex_maxp(const cf_ckpt_coord_t *cc, int v)
{
    int m = cc->jmr->vertices[v].max_parallelism;

    return m > 0 ? m : cf_default_max_parallelism(
                           cc->jmr->vertices[v].parallelism);
}

static const char *
kind_type(int kind, int drain)
{
    switch (kind) {
    case CF_CKPT_KIND_SAVEPOINT:
        return "SavepointType{name='Savepoint', postCheckpointAction=NONE, "
               "formatType=CANONICAL}";
    case CF_CKPT_KIND_SYNC_SAVEPOINT:
        return drain ? "SavepointType{name='Terminate Savepoint', "
                       "postCheckpointAction=TERMINATE, "
                       "formatType=CANONICAL}"
                     : "SavepointType{name='Suspend Savepoint', "
                       "postCheckpointAction=SUSPEND, formatType=CANONICAL}";
    default:
        return "CheckpointType{name='Checkpoint', "
               "sharingFilesStrategy=FORWARD_BACKWARD}";
    }
}

/* The connection of the TaskManager a subtask runs on, or NULL. */
static cf_rpc_conn_t *
sub_conn(cf_ckpt_coord_t *cc, const cf_exec_vertex_t *ev)
{
    cf_jm_t *jm = cc->jmr->jm;
    cf_rm_tm_t *tm;

    if (jm == NULL || jm->rm == NULL || ev->tm_resource_id == NULL)
        return NULL;
    tm = cf_rm_find_tm(jm->rm, ev->tm_resource_id);
    if (tm == NULL || !cf_rpc_conn_is_open(tm->conn))
        return NULL;
    return tm->conn;
}

/* ------------------------------------------------------------------ */
/* Snapshots of subtasks                                               */
/* ------------------------------------------------------------------ */

static void
snap_clear(snap_t *s)
{
    for (int i = 0; i < s->nops; i++)
        cf_free(s->h[i].path);
    cf_free(s->ids);
    cf_free(s->h);
    memset(s, 0, sizeof *s);
}

static void
snap_copy(snap_t *dst, const snap_t *src)
{
    snap_clear(dst);
    if (src->nops == 0)
        return;
    dst->nops = src->nops;
    dst->ids = cf_calloc((size_t)src->nops, sizeof *dst->ids);
    dst->h = cf_calloc((size_t)src->nops, sizeof *dst->h);
    memcpy(dst->ids, src->ids, (size_t)src->nops * sizeof *dst->ids);
    for (int i = 0; i < src->nops; i++) {
        dst->h[i] = src->h[i];
        dst->h[i].path = src->h[i].path ? cf_strdup(src->h[i].path) : NULL;
    }
}

static uint64_t
snap_size(const snap_t *s)
{
    uint64_t n = 0;

    for (int i = 0; i < s->nops; i++)
        if (s->h[i].path != NULL)
            n += s->h[i].size;
    return n;
}

static void
snap_paths(const snap_t *s, strv_t *out)
{
    for (int i = 0; i < s->nops; i++)
        if (s->h[i].path != NULL)
            strv_add(out, s->h[i].path);
}

/* The acknowledged handles; < 0 when the message is malformed. */
static int
snap_from_ack(snap_t *s, const Cflink__AcknowledgeCheckpoint *a)
{
    memset(s, 0, sizeof *s);
    if (a->n_operators == 0)
        return 0;
    s->ids = cf_calloc(a->n_operators, sizeof *s->ids);
    s->h = cf_calloc(a->n_operators, sizeof *s->h);
    for (size_t i = 0; i < a->n_operators; i++) {
        const Cflink__OperatorSubtaskState *o = a->operators[i];
        const Cflink__StateHandle *h;

        if (o == NULL || cf_rpc_id_get(&o->operator_id, &s->ids[i]) < 0) {
            snap_clear(s);
            return CF_EPROTO;
        }
        s->nops++;
        h = o->handle;
        if (h == NULL)
            continue;
        if (h->path == NULL || h->path[0] != '/' ||
            (h->has_keyed && (h->kg_start < 0 || h->kg_end < h->kg_start))) {
            snap_clear(s);
            return CF_EPROTO;
        }
        s->h[i].path = cf_strdup(h->path);
        s->h[i].size = h->size;
        s->h[i].subtask = h->subtask;
        s->h[i].has_keyed = h->has_keyed;
        s->h[i].kg_start = h->kg_start;
        s->h[i].kg_end = h->kg_end;
        s->h[i].has_operator = h->has_operator;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

/* A deep copy of m (owned by protobuf-c's default allocator). */
static Cflink__CheckpointMetadata *
meta_dup(const Cflink__CheckpointMetadata *m)
{
    size_t n = cflink__checkpoint_metadata__get_packed_size(m);
    uint8_t *buf = cf_malloc(n ? n : 1);
    Cflink__CheckpointMetadata *c;

    cflink__checkpoint_metadata__pack(m, buf);
    c = cflink__checkpoint_metadata__unpack(NULL, n, buf);
    cf_free(buf);
    CF_ASSERT(c != NULL);
    return c;
}

static void
meta_free(Cflink__CheckpointMetadata *m)
{
    if (m != NULL)
        cflink__checkpoint_metadata__free_unpacked(m, NULL);
}

static void
meta_paths(const Cflink__CheckpointMetadata *m, strv_t *out)
{
    if (m == NULL)
        return;
    for (size_t o = 0; o < m->n_operators; o++)
        for (size_t h = 0; h < m->operators[o]->n_handles; h++)
            if (m->operators[o]->handles[h]->path != NULL &&
                m->operators[o]->handles[h]->path[0] != '\0')
                strv_add(out, m->operators[o]->handles[h]->path);
}

static const Cflink__OperatorStateMeta *
meta_find_op(const Cflink__CheckpointMetadata *m, const uint8_t id[16])
{
    for (size_t o = 0; o < m->n_operators; o++)
        if (m->operators[o]->operator_id.len == 16 &&
            memcmp(m->operators[o]->operator_id.data, id, 16) == 0)
            return m->operators[o];
    return NULL;
}

/* The _metadata of pending checkpoint p (absolute paths): every operator
 * of every chain, with the handles of its subtasks. */
static Cflink__CheckpointMetadata *
meta_build(cf_ckpt_coord_t *cc, const pend_t *p, int64_t now)
{
    cf_jobmaster_t *jmr = cc->jmr;
    Cflink__CheckpointMetadata m = CFLINK__CHECKPOINT_METADATA__INIT;
    Cflink__OperatorStateMeta *ops, **opp;
    Cflink__StateHandle *hs, **hsp;
    size_t nops = 0, nh = 0, oi = 0, hi = 0;
    Cflink__CheckpointMetadata *out;

    for (int v = 0; v < jmr->nvertices; v++) {
        nops += jmr->graph->vertices[v]->n_operators;
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            nh += (size_t)p->snap[cc->base[v] + k].nops;
    }
    ops = cf_calloc(nops ? nops : 1, sizeof *ops);
    opp = cf_calloc(nops ? nops : 1, sizeof *opp);
    hs = cf_calloc(nh ? nh : 1, sizeof *hs);
    hsp = cf_calloc(nh ? nh : 1, sizeof *hsp);
    m.version = CF_CKPT_META_VERSION;
    m.job_id = cf_rpc_id_bytes(&jmr->job_id);
    m.job_name = jmr->name ? jmr->name : (char *)"";
    m.checkpoint_id = p->id;
    m.trigger_timestamp = p->trigger_ts;
    m.completion_timestamp = now;
    m.kind = p->kind;
    m.format = (char *)"CANONICAL";
    for (int v = 0; v < jmr->nvertices; v++) {
        const Cflink__JobVertex *jv = jmr->graph->vertices[v];
        int P = jmr->vertices[v].parallelism, all_fin = 1;

        for (int k = 0; k < P; k++)
            all_fin &= p->fin[cc->base[v] + k] != 0;
        for (size_t o = 0; o < jv->n_operators; o++) {
            const Cflink__JobOperator *jo = jv->operators[o];
            Cflink__OperatorStateMeta init = CFLINK__OPERATOR_STATE_META__INIT;
            Cflink__OperatorStateMeta *om = &ops[oi];
            cf_id_t id;

            if (jo == NULL || jo->operator_id.len != 16)
                continue;
            memcpy(id.b, jo->operator_id.data, 16);
            *om = init;
            om->operator_id = jo->operator_id;
            om->uid = jo->uid ? jo->uid : (char *)"";
            om->name = jo->name ? jo->name : (char *)"";
            om->parallelism = P;
            om->max_parallelism = vertex_maxp(cc, v);
            om->fully_finished = all_fin;
            om->handles = &hsp[hi];
            for (int k = 0; k < P; k++) {
                const snap_t *s = &p->snap[cc->base[v] + k];

                for (int i = 0; i < s->nops; i++) {
                    Cflink__StateHandle hinit = CFLINK__STATE_HANDLE__INIT;
                    Cflink__StateHandle *h = &hs[hi];

                    if (s->h[i].path == NULL || !cf_id_equal(&s->ids[i], &id))
                        continue;
                    *h = hinit;
                    h->path = s->h[i].path;
                    h->size = s->h[i].size;
                    h->subtask = s->h[i].subtask;
                    h->has_keyed = s->h[i].has_keyed;
                    h->kg_start = s->h[i].kg_start;
                    h->kg_end = s->h[i].kg_end;
                    h->has_operator = s->h[i].has_operator;
                    hsp[hi++] = h;
                    om->n_handles++;
                    break; /* at most one per subtask */
                }
            }
            opp[oi++] = om;
        }
    }
    m.n_operators = oi;
    m.operators = opp;
    out = meta_dup(&m);
    cf_free(ops);
    cf_free(opp);
    cf_free(hs);
    cf_free(hsp);
    return out;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

static void
stats_free(cf_ckpt_stats_t *st, int nvertices)
{
    if (st == NULL)
        return;
    for (int v = 0; v < nvertices && st->vertices != NULL; v++) {
        cf_ckpt_vertex_stats_t *vs = &st->vertices[v];

        cf_free(vs->ack_ts);
        cf_free(vs->sub_state_size);
        cf_free(vs->sub_sync_ms);
        cf_free(vs->sub_async_ms);
        cf_free(vs->sub_alignment_ms);
    }
    cf_free(st->vertices);
    cf_free(st->external_path);
    cf_free(st->failure);
    cf_free(st);
}

static int
stats_is_latest(const cf_ckpt_coord_t *cc, const cf_ckpt_stats_t *st)
{
    return st == cc->view.latest_completed ||
           st == cc->view.latest_savepoint || st == cc->view.latest_failed;
}

/* Free the trimmed entries no latest_* pointer holds any more. */
static void
orphans_sweep(cf_ckpt_coord_t *cc)
{
    cf_ckpt_stats_t **pp = &cc->orphans;

    while (*pp != NULL) {
        cf_ckpt_stats_t *st = *pp;

        if (stats_is_latest(cc, st)) {
            pp = &st->next;
            continue;
        }
        *pp = st->next;
        stats_free(st, cc->jmr->nvertices);
    }
}

/* Keep at most web.checkpoints.history entries (in-progress ones stay). */
static void
history_trim(cf_ckpt_coord_t *cc)
{
    cf_ckpt_stats_t **pp = &cc->view.history;
    int n = 0;

    while (*pp != NULL) {
        cf_ckpt_stats_t *st = *pp;

        if (n < cc->history_max || st->status == CF_CKPT_IN_PROGRESS) {
            n++;
            pp = &st->next;
            continue;
        }
        *pp = st->next;
        if (stats_is_latest(cc, st)) {
            st->next = cc->orphans;
            cc->orphans = st;
        } else {
            stats_free(st, cc->jmr->nvertices);
        }
    }
}

static cf_ckpt_stats_t *
stats_new(cf_ckpt_coord_t *cc, int64_t id, int kind, int64_t ts)
{
    cf_jobmaster_t *jmr = cc->jmr;
    cf_ckpt_stats_t *st = CF_NEW(cf_ckpt_stats_t);

    st->id = id;
    st->status = CF_CKPT_IN_PROGRESS;
    st->kind = kind;
    st->trigger_ts = ts;
    st->num_subtasks = cc->nsub;
    st->vertices = cf_calloc((size_t)(jmr->nvertices ? jmr->nvertices : 1),
                             sizeof *st->vertices);
    for (int v = 0; v < jmr->nvertices; v++) {
        cf_ckpt_vertex_stats_t *vs = &st->vertices[v];
        size_t P = (size_t)jmr->vertices[v].parallelism;

        vs->num_subtasks = (int)P;
        vs->ack_ts = cf_calloc(P, sizeof *vs->ack_ts);
        vs->sub_state_size = cf_calloc(P, sizeof *vs->sub_state_size);
        vs->sub_sync_ms = cf_calloc(P, sizeof *vs->sub_sync_ms);
        vs->sub_async_ms = cf_calloc(P, sizeof *vs->sub_async_ms);
        vs->sub_alignment_ms = cf_calloc(P, sizeof *vs->sub_alignment_ms);
    }
    st->next = cc->view.history;
    cc->view.history = st;
    cc->view.total++;
    cc->view.in_progress++;
    history_trim(cc);
    return st;
}

static void
stats_ack(cf_ckpt_stats_t *st, int v, int k, uint64_t size, int64_t sync_ms,
          int64_t async_ms, int64_t align_ms, uint64_t processed, int64_t ts)
{
    cf_ckpt_vertex_stats_t *vs = &st->vertices[v];

    if (vs->ack_ts[k] != 0)
        return;
    vs->ack_ts[k] = ts;
    vs->sub_state_size[k] = size;
    vs->sub_sync_ms[k] = sync_ms;
    vs->sub_async_ms[k] = async_ms;
    vs->sub_alignment_ms[k] = align_ms;
    vs->num_acked++;
    vs->state_size += size;
    if (ts > vs->latest_ack_ts)
        vs->latest_ack_ts = ts;
    st->num_acked++;
    st->state_size += size;
    st->processed_data += processed;
    if (align_ms > st->alignment_ms)
        st->alignment_ms = align_ms;
    if (ts > st->latest_ack_ts)
        st->latest_ack_ts = ts;
}

static cf_ckpt_stats_t *
stats_find(const cf_ckpt_coord_t *cc, int64_t id)
{
    for (cf_ckpt_stats_t *st = cc->view.history; st != NULL; st = st->next)
        if (st->id == id)
            return st;
    for (cf_ckpt_stats_t *st = cc->orphans; st != NULL; st = st->next)
        if (st->id == id)
            return st;
    return NULL;
}

static void
sample_add(cf_ckpt_coord_t *cc, int64_t duration, uint64_t size,
           uint64_t processed)
{
    cc->durations[cc->sample_head] = duration;
    cc->sizes[cc->sample_head] = size;
    cc->processed[cc->sample_head] = processed;
    cc->sample_head = (cc->sample_head + 1) % CK_SAMPLES;
    if (cc->view.nsamples < CK_SAMPLES)
        cc->view.nsamples++;
}

/* ------------------------------------------------------------------ */
/* Worker jobs                                                         */
/* ------------------------------------------------------------------ */

static void
work_free(work_t *w)
{
    cf_free(w->dir);
    meta_free(w->meta);
    cf_free(w->err);
    strv_free(w->dirs, w->ndirs);
    strv_free(w->keep, w->nkeep);
    strv_free(w->files, w->nfiles);
    strv_free(w->rmdirs, w->nrmdirs);
    cf_free(w);
}

static void
work_unlink(work_t *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
        w->next->prev = w->prev;
        w->prev = w->next = NULL;
    }
}

/* Delete directories (except kept files), stray files, then empty
 * directories. Best effort: failures are logged. */
static void
discard_work(void *arg)
{
    work_t *w = arg;

    for (size_t i = 0; i < w->ndirs; i++) {
        cf_error_t *err = NULL;

        if (cf_ckpt_discard(w->dirs[i], (const char *const *)w->keep,
                            w->nkeep, &err) < 0) {
            cf_log_warn("Could not discard checkpoint directory %s: %s",
                        w->dirs[i], err ? cf_error_msg(err) : "?");
            cf_error_free(err);
        }
    }
    for (size_t i = 0; i < w->nfiles; i++)
        if (unlink(w->files[i]) < 0 && errno != ENOENT)
            cf_log_warn("Could not delete checkpoint file %s: %s",
                        w->files[i], strerror(errno));
    for (size_t i = 0; i < w->nrmdirs; i++)
        (void)rmdir(w->rmdirs[i]); /* only when empty */
}

static void
discard_done(void *arg)
{
    work_free(arg);
}

static void
work_run(cf_ckpt_coord_t *cc, work_t *w, cf_loop_fn fn, cf_loop_fn done)
{
    if (cc->loop == NULL || cf_loop_work(cc->loop, fn, done, w) < 0) {
        fn(w);
        done(w);
    }
}

/* Discard directories (keep: files still referenced), stray files and
 * then empty directories, on a worker. Takes the vectors. */
static void
discard_submit(cf_ckpt_coord_t *cc, strv_t *dirs, strv_t *keep,
               strv_t *files, strv_t *rmdirs)
{
    work_t *w = CF_NEW(work_t);

    w->type = W_DISCARD;
    if (dirs != NULL) {
        w->dirs = dirs->v;
        w->ndirs = dirs->n;
    }
    if (keep != NULL) {
        w->keep = keep->v;
        w->nkeep = keep->n;
    }
    if (files != NULL) {
        w->files = files->v;
        w->nfiles = files->n;
    }
    if (rmdirs != NULL) {
        w->rmdirs = rmdirs->v;
        w->nrmdirs = rmdirs->n;
    }
    work_run(cc, w, discard_work, discard_done);
}

static void
discard_dir(cf_ckpt_coord_t *cc, const char *dir)
{
    strv_t d = {0};

    strv_add(&d, dir);
    discard_submit(cc, &d, NULL, NULL, NULL);
}

static char *
parent_dir(const char *path)
{
    char *d = cf_strdup(path);
    char *s = strrchr(d, '/');

    if (s != NULL && s != d)
        *s = '\0';
    return d;
}

/* Write the _metadata of a completed checkpoint (worker). Savepoints are
 * made self-contained first: files outside the directory are copied in,
 * then paths are written relative to it. */
static void
fin_work(void *arg)
{
    work_t *w = arg;
    cf_error_t *err = NULL;
    Cflink__CheckpointMetadata *rel;

    if (w->kind == CF_CKPT_KIND_CHECKPOINT) {
        w->rc = cf_ckpt_meta_write(w->dir, w->meta, &err);
        goto out;
    }
    for (size_t o = 0; o < w->meta->n_operators; o++) {
        Cflink__OperatorStateMeta *om = w->meta->operators[o];

        for (size_t i = 0; i < om->n_handles; i++) {
            Cflink__StateHandle *h = om->handles[i];
            const char *bn;
            char *to;
            struct stat sb;

            if (h->path == NULL || h->path[0] == '\0' ||
                path_under(h->path, w->dir))
                continue;
            bn = strrchr(h->path, '/');
            bn = bn ? bn + 1 : h->path;
            to = cf_asprintf("%s/%s", w->dir, bn);
            for (int n = 1; stat(to, &sb) == 0; n++) {
                cf_free(to);
                to = cf_asprintf("%s/%d-%s", w->dir, n, bn);
            }
            w->rc = cf_ckpt_copy_file(h->path, to, &err);
            if (w->rc < 0) {
                cf_free(to);
                goto out;
            }
            free(h->path);
            h->path = to;
        }
    }
    rel = meta_dup(w->meta);
    cf_ckpt_relativize(rel, w->dir);
    w->rc = cf_ckpt_meta_write(w->dir, rel, &err);
    meta_free(rel);
out:
    if (w->rc < 0)
        w->err = cf_strdup(err ? cf_error_msg(err) : cf_strerror(w->rc));
    cf_error_free(err);
}

/* ------------------------------------------------------------------ */
/* Messages to tasks                                                   */
/* ------------------------------------------------------------------ */

static void
send_trigger(cf_ckpt_coord_t *cc, pend_t *p, int v, int k)
{
    cf_exec_vertex_t *ev = &cc->jmr->vertices[v].subtasks[k];
    cf_rpc_conn_t *c = sub_conn(cc, ev);
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__TriggerCheckpoint tc = CFLINK__TRIGGER_CHECKPOINT__INIT;

    p->trig[cc->base[v] + k] = 1;
    p->sent = 1;
    if (c == NULL) {
        cf_log_debug("Checkpoint %" PRId64 ": %s (%d/%d) has no TaskManager "
                     "connection, not triggered.",
                     p->id, cc->jmr->vertices[v].name, k + 1,
                     cc->jmr->vertices[v].parallelism);
        return;
    }
    tc.job_id = cf_rpc_id_bytes(&cc->jmr->job_id);
    tc.attempt_id = cf_rpc_id_bytes(&ev->attempt_id);
    tc.checkpoint_id = p->id;
    tc.timestamp = p->trigger_ts;
    tc.kind = p->kind;
    tc.drain = p->drain != 0;
    tc.location = p->dir;
    env.body_case = CFLINK__ENVELOPE__BODY_TRIGGER_CHECKPOINT;
    env.trigger_checkpoint = &tc;
    (void)cf_rpc_send(c, &env);
}

static void
send_notify(cf_ckpt_coord_t *cc, int v, int k, int64_t id, int aborted)
{
    cf_exec_vertex_t *ev = &cc->jmr->vertices[v].subtasks[k];
    cf_rpc_conn_t *c = sub_conn(cc, ev);
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__NotifyCheckpoint nc = CFLINK__NOTIFY_CHECKPOINT__INIT;

    if (c == NULL)
        return;
    nc.job_id = cf_rpc_id_bytes(&cc->jmr->job_id);
    nc.attempt_id = cf_rpc_id_bytes(&ev->attempt_id);
    nc.checkpoint_id = id;
    nc.aborted = aborted != 0;
    env.body_case = CFLINK__ENVELOPE__BODY_NOTIFY_CHECKPOINT;
    env.notify_checkpoint = &nc;
    (void)cf_rpc_send(c, &env);
}

/* Whether every upstream subtask of subtask k of vertex v is FINISHED
 * (true for a source). */
static int
upstream_finished(const cf_ckpt_coord_t *cc, int v, int k)
{
    const cf_jobmaster_t *jmr = cc->jmr;
    const Cflink__JobVertex *jv = jmr->graph->vertices[v];

    for (size_t in = 0; in < jv->n_inputs; in++) {
        const Cflink__JobInput *ji = jv->inputs[in];
        int src = ji->source_vertex;
        const Cflink__JobOutput *jo =
            jmr->graph->vertices[src]->outputs[ji->source_output];
        int P = jmr->vertices[src].parallelism;
        int C = jmr->vertices[v].parallelism;

        for (int i = 0; i < P; i++) {
            int lo = 0, n = 0;

            cf_job_edge_consumers(jo->partitioner, P, C, i, &lo, &n);
            if (k >= lo && k < lo + n &&
                sub_state(cc, src, i) != CF_EXEC_FINISHED)
                return 0;
        }
    }
    return 1;
}

/* Trigger every waiting RUNNING subtask of p that has no running
 * upstream subtask and was not triggered yet. */
static void
trigger_round(cf_ckpt_coord_t *cc, pend_t *p)
{
    for (int v = 0; v < cc->jmr->nvertices; v++) {
        for (int k = 0; k < cc->jmr->vertices[v].parallelism; k++) {
            int idx = cc->base[v] + k;

            if (p->sub[idx] != SUB_WAIT || p->trig[idx] ||
                sub_state(cc, v, k) != CF_EXEC_RUNNING ||
                !upstream_finished(cc, v, k))
                continue;
            send_trigger(cc, p, v, k);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Pending checkpoints                                                 */
/* ------------------------------------------------------------------ */

static pend_t *
pend_find(cf_ckpt_coord_t *cc, int64_t id)
{
    for (pend_t *p = cc->pending; p != NULL; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void
pend_unlink(cf_ckpt_coord_t *cc, pend_t *p)
{
    pend_t **pp = &cc->pending;

    while (*pp != NULL && *pp != p)
        pp = &(*pp)->next;
    if (*pp == p)
        *pp = p->next;
    p->next = NULL;
}

static void
pend_free(cf_ckpt_coord_t *cc, pend_t *p)
{
    if (p->timer != NULL)
        cf_timer_cancel(p->timer);
    for (int i = 0; i < cc->nsub; i++)
        snap_clear(&p->snap[i]);
    cf_free(p->snap);
    cf_free(p->sub);
    cf_free(p->trig);
    cf_free(p->fin);
    cf_free(p->dir);
    cf_free(p->aborted);
    cf_free(p);
}

static int
pending_count(const cf_ckpt_coord_t *cc, int checkpoints_only)
{
    int n = 0;

    for (const pend_t *p = cc->pending; p != NULL; p = p->next)
        n += !checkpoints_only || p->kind == CF_CKPT_KIND_CHECKPOINT;
    return n;
}

/* Paths that must survive a discard: every retained checkpoint, the
 * restore points, pending checkpoints and carried-forward handles. */
static void
keep_list(cf_ckpt_coord_t *cc, strv_t *keep)
{
    for (kept_t *k = cc->kept; k != NULL; k = k->next)
        meta_paths(k->meta, keep);
    if (cc->src != NULL)
        meta_paths(cc->src->meta, keep);
    if (cc->sync != NULL)
        meta_paths(cc->sync->meta, keep);
    for (pend_t *p = cc->pending; p != NULL; p = p->next)
        for (int i = 0; i < cc->nsub; i++)
            snap_paths(&p->snap[i], keep);
    for (int i = 0; i < cc->nsub; i++)
        snap_paths(&cc->done[i], keep);
}

static void
remember_aborted(cf_ckpt_coord_t *cc, int64_t id, const char *dir)
{
    int i = cc->aborted_head;

    cf_free(cc->aborted[i].dir);
    cc->aborted[i].id = id;
    cc->aborted[i].dir = cf_strdup(dir);
    cc->aborted_head = (i + 1) % CK_ABORTED;
}

/* After any checkpoint ended: the periodic trigger may go on. */
static void
pend_ended(cf_ckpt_coord_t *cc)
{
    cc->last_end_ms = cf_now_ms();
    if (cc->waiting && cc->running && !cc->ended) {
        cc->waiting = 0;
        sched(cc, cc->min_pause_ms);
    }
}

static void
fail_job(cf_ckpt_coord_t *cc, const char *reason)
{
    char *msg = cf_asprintf(
        "org.apache.flink.util.FlinkRuntimeException: " MSG_TOLERABLE
        " The latest checkpoint failed due to %s, view the Checkpoint "
        "History tab or the Job Manager log to find out why continuous "
        "checkpoints failed.",
        reason);

    cc->consecutive = 0;
    cf_log_warn("Job %s (%s): %s", cc->jmr->name, cc->jmr->job_id_hex, msg);
    cf_jobmaster_fail_global(cc->jmr, msg);
    cf_free(msg);
}

/* p failed: stats, abort notifications, its directory removed, the
 * callback told; counts: a failure for tolerable-failed-checkpoints. */
static void
pend_fail(cf_ckpt_coord_t *cc, pend_t *p, const char *reason, int counts)
{
    cf_ckpt_stats_t *st = p->st;
    int64_t now = cf_now_ms();
    int job_fails = 0;
    char *why = cf_strdup(reason);

    pend_unlink(cc, p);
    if (p->timer != NULL) {
        cf_timer_cancel(p->timer);
        p->timer = NULL;
    }
    st->status = CF_CKPT_FAILED;
    st->end_ts = now;
    cf_free(st->failure);
    st->failure = cf_strdup(reason);
    cc->view.in_progress--;
    cc->view.failed++;
    cc->view.latest_failed = st;
    orphans_sweep(cc);
    if (counts && p->kind != CF_CKPT_KIND_SAVEPOINT &&
        p->kind != CF_CKPT_KIND_SYNC_SAVEPOINT) {
        cc->consecutive++;
        job_fails = cc->consecutive > cc->tolerable;
    }
    cf_log_info("Failed to trigger or complete checkpoint %" PRId64
                " for job %s. (%d consecutive failed attempts so far): %s",
                p->id, cc->jmr->job_id_hex, cc->consecutive, reason);
    if (p->sent)
        for (int v = 0; v < cc->jmr->nvertices; v++)
            for (int k = 0; k < cc->jmr->vertices[v].parallelism; k++)
                if (p->sub[cc->base[v] + k] != SUB_NONE &&
                    sub_state(cc, v, k) == CF_EXEC_RUNNING)
                    send_notify(cc, v, k, p->id, 1);
    if (p->dir != NULL) {
        remember_aborted(cc, p->id, p->dir);
        discard_dir(cc, p->dir);
    }
    if (p->kind == CF_CKPT_KIND_SYNC_SAVEPOINT) {
        cc->sync_pending = 0;
        if (cc->running && !cc->ended)
            sched(cc, cc->interval_ms);
    }
    if (p->done != NULL)
        p->done(p->done_arg, CF_EIO, p->id, NULL, reason);
    pend_free(cc, p);
    pend_ended(cc);
    if (job_fails)
        fail_job(cc, why);
    cf_free(why);
}

static void
expire_fn(void *arg)
{
    pend_t *p = arg;
    cf_ckpt_coord_t *cc = p->cc;

    p->timer = NULL;
    if (p->finalizing)
        return; /* all acks are in: the write decides */
    cf_log_info("Checkpoint %" PRId64 " of job %s expired before "
                "completing.",
                p->id, cc->jmr->job_id_hex);
    pend_fail(cc, p, MSG_EXPIRED, 1);
}

/* Retention: drop the oldest checkpoints beyond num-retained, keeping
 * files other checkpoints still reference. */
static void
retention_apply(cf_ckpt_coord_t *cc)
{
    int max = cc->num_retained > 0 ? cc->num_retained : 1;
    char *jobdir = cf_ckpt_job_dir(cc->base_dir, cc->jmr->job_id_hex);

    while (cc->nkept > max) {
        kept_t **pp = &cc->kept, *old;
        strv_t dirs = {0}, keep = {0}, files = {0}, rmdirs = {0}, mine = {0};
        cf_ckpt_stats_t *st;

        while ((*pp)->next != NULL)
            pp = &(*pp)->next;
        old = *pp;
        *pp = NULL;
        cc->nkept--;
        keep_list(cc, &keep);
        /* Files of old outside its directory (carried forward from an
         * older checkpoint of this job) go too when nothing holds them. */
        meta_paths(old->meta, &mine);
        for (size_t i = 0; i < mine.n; i++) {
            if (path_under(mine.v[i], old->dir) ||
                !path_under(mine.v[i], jobdir) || strv_has(&keep, mine.v[i]))
                continue;
            strv_add(&files, mine.v[i]);
            {
                char *pd = parent_dir(mine.v[i]);

                if (!strv_has(&rmdirs, pd))
                    strv_add(&rmdirs, pd);
                cf_free(pd);
            }
        }
        strv_free(mine.v, mine.n);
        strv_add(&dirs, old->dir);
        cf_log_debug("Discarding checkpoint %" PRId64 " of job %s (%s).",
                     old->id, cc->jmr->job_id_hex, old->dir);
        st = stats_find(cc, old->id);
        if (st != NULL)
            st->discarded = 1;
        discard_submit(cc, &dirs, &keep, &files, &rmdirs);
        cf_free(old->dir);
        meta_free(old->meta);
        cf_free(old);
    }
    cf_free(jobdir);
}

/* The _metadata of p is written: p is completed. */
static void
pend_complete(cf_ckpt_coord_t *cc, pend_t *p, Cflink__CheckpointMetadata *m)
{
    cf_ckpt_stats_t *st = p->st;
    int64_t now = cf_now_ms(), fin_ms = now - st->latest_ack_ts;
    kept_t *k;

    pend_unlink(cc, p);
    st->status = CF_CKPT_COMPLETED;
    st->end_ts = now;
    st->external_path = cf_strdup(p->dir);
    cc->view.in_progress--;
    cc->view.completed++;
    sample_add(cc, now - p->trigger_ts, st->state_size, st->processed_data);
    if (p->kind == CF_CKPT_KIND_CHECKPOINT)
        cc->view.latest_completed = st;
    else
        cc->view.latest_savepoint = st;
    orphans_sweep(cc);
    cc->consecutive = 0;
    cf_log_info("Completed checkpoint %" PRId64 " for job %s (%" PRIu64
                " bytes, checkpointDuration=%" PRId64
                " ms, finalizationTime=%" PRId64 " ms).",
                p->id, cc->jmr->job_id_hex, st->state_size,
                now - p->trigger_ts, fin_ms < 0 ? 0 : fin_ms);
    if (p->kind != CF_CKPT_KIND_SAVEPOINT) {
        /* A restore point: the subtasks' handles are the new base. */
        for (int i = 0; i < cc->nsub; i++) {
            snap_clear(&cc->done[i]);
            cc->done[i] = p->snap[i];
            memset(&p->snap[i], 0, sizeof p->snap[i]);
        }
        for (int v = 0; v < cc->jmr->nvertices; v++)
            for (int kk = 0; kk < cc->jmr->vertices[v].parallelism; kk++)
                if (sub_state(cc, v, kk) == CF_EXEC_RUNNING)
                    send_notify(cc, v, kk, p->id, 0);
        k = CF_NEW(kept_t);
        k->id = p->id;
        k->dir = cf_strdup(p->dir);
        k->meta = m;
        m = NULL;
        if (p->kind == CF_CKPT_KIND_CHECKPOINT) {
            k->next = cc->kept;
            cc->kept = k;
            cc->nkept++;
            retention_apply(cc);
        } else {
            if (cc->sync != NULL) {
                cf_free(cc->sync->dir);
                meta_free(cc->sync->meta);
                cf_free(cc->sync);
            }
            cc->sync = k;
        }
    }
    meta_free(m);
    if (p->done != NULL)
        p->done(p->done_arg, 0, p->id, p->dir, NULL);
    pend_free(cc, p);
    pend_ended(cc);
}

static void
fin_done(void *arg)
{
    work_t *w = arg;
    cf_ckpt_coord_t *cc = w->cc;
    pend_t *p;

    work_unlink(w);
    if (cc == NULL || (p = pend_find(cc, w->id)) == NULL) {
        work_free(w);
        return;
    }
    if (w->rc < 0) {
        char *why = cf_asprintf(MSG_FINALIZE " %s", w->err ? w->err : "");

        pend_fail(cc, p, p->aborted ? p->aborted : why, p->aborted == NULL);
        cf_free(why);
    } else if (p->aborted != NULL) {
        pend_fail(cc, p, p->aborted, 0);
    } else {
        Cflink__CheckpointMetadata *m = w->meta;

        w->meta = NULL;
        pend_complete(cc, p, m);
    }
    work_free(w);
}

/* All acknowledgements in: write the _metadata on a worker. */
static void
maybe_complete(cf_ckpt_coord_t *cc, pend_t *p)
{
    work_t *w;

    if (p->nwait > 0 || p->finalizing)
        return;
    p->finalizing = 1;
    if (p->timer != NULL) {
        cf_timer_cancel(p->timer);
        p->timer = NULL;
    }
    w = CF_NEW(work_t);
    w->cc = cc;
    w->type = W_FINALIZE;
    w->id = p->id;
    w->kind = p->kind;
    w->dir = cf_strdup(p->dir);
    w->meta = meta_build(cc, p, cf_now_ms());
    w->next = cc->works.next;
    w->prev = &cc->works;
    cc->works.next->prev = w;
    cc->works.next = w;
    work_run(cc, w, fin_work, fin_done);
}

/* Whether the job runs so that a checkpoint can start; else an error
 * naming the first subtask that does not run. */
static int
check_running(cf_ckpt_coord_t *cc, cf_error_t **errp)
{
    cf_jobmaster_t *jmr = cc->jmr;
    int fv = -1, fk = 0, finished = 0, total = 0;

    for (int v = 0; v < jmr->nvertices && fv < 0; v++) {
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            cf_exec_state_t s = sub_state(cc, v, k);

            total++;
            if (s == CF_EXEC_FINISHED) {
                finished++;
                if (!cc->after_finish) {
                    fv = v;
                    fk = k;
                    break;
                }
            } else if (s != CF_EXEC_RUNNING) {
                fv = v;
                fk = k;
                break;
            }
        }
    }
    if (fv < 0 && (cc->ended || jmr->status != CF_JOB_RUNNING ||
                   (total > 0 && finished == cc->nsub))) {
        fv = 0;
        fk = 0;
    }
    if (fv < 0 && jmr->nvertices > 0)
        return 0;
    if (jmr->nvertices == 0)
        return cf_error_set(errp, CF_ESTATE,
                            "Checkpoint triggering of job %s: the job has "
                            "no task. Aborting checkpoint. Failure reason: "
                            MSG_NOT_RUNNING,
                            jmr->job_id_hex);
    return cf_error_set(errp, CF_ESTATE,
                        "Checkpoint triggering task %s (%d/%d) of job %s is "
                        "not being executed at the moment. Aborting "
                        "checkpoint. Failure reason: " MSG_NOT_RUNNING,
                        jmr->vertices[fv].name, fk + 1,
                        jmr->vertices[fv].parallelism, jmr->job_id_hex);
}

/* Start checkpoint kind at dir (savepoints: the savepoint directory to
 * create; checkpoints: NULL, chk-<id>). */
static int
trigger(cf_ckpt_coord_t *cc, int kind, const char *sp_dir, int drain,
        cf_ckpt_done_cb done, void *arg, cf_error_t **errp)
{
    cf_jobmaster_t *jmr = cc->jmr;
    int64_t now = cf_now_ms();
    cf_error_t *err = NULL;
    pend_t *p;
    int rc;

    if ((rc = check_running(cc, errp)) < 0)
        return rc;
    p = CF_NEW(pend_t);
    p->cc = cc;
    p->id = cc->next_id++;
    p->kind = kind;
    p->drain = drain;
    p->trigger_ts = now;
    p->sub = cf_calloc((size_t)cc->nsub, 1);
    p->trig = cf_calloc((size_t)cc->nsub, 1);
    p->fin = cf_calloc((size_t)cc->nsub, 1);
    p->snap = cf_calloc((size_t)cc->nsub, sizeof *p->snap);
    p->st = stats_new(cc, p->id, kind, now);
    p->next = cc->pending;
    cc->pending = p;
    /* Its directory. */
    if (kind == CF_CKPT_KIND_CHECKPOINT) {
        rc = 0;
        if (!cc->job_dirs_made) {
            if (cc->dir_default)
                cf_log_warn("execution.checkpointing.dir is not set: "
                            "checkpoints of job %s go to %s on the "
                            "JobManager's host; TaskManagers on other hosts "
                            "cannot write there.",
                            jmr->job_id_hex, cc->base_dir);
            rc = cf_ckpt_job_dirs_create(cc->base_dir, jmr->job_id_hex, &err);
            cc->job_dirs_made = rc == 0;
        }
        if (rc == 0) {
            p->dir = cf_ckpt_chk_dir(cc->base_dir, jmr->job_id_hex, p->id);
            rc = cf_ckpt_dir_create(p->dir, &err);
        }
    } else {
        p->dir = cf_strdup(sp_dir);
        rc = cf_ckpt_dir_create(p->dir, &err);
    }
    if (rc < 0) {
        char *why = cf_asprintf(MSG_IO " %s",
                                err ? cf_error_msg(err) : cf_strerror(rc));

        cf_error_set(errp, rc, "%s", why);
        cf_error_free(err);
        cf_free(p->dir);
        p->dir = NULL; /* nothing of ours to remove */
        pend_fail(cc, p, why, 1);
        cf_free(why);
        return rc;
    }
    p->done = done;
    p->done_arg = arg;
    if (kind == CF_CKPT_KIND_SYNC_SAVEPOINT) {
        cc->sync_pending = 1;
        if (cc->timer != NULL) {
            cf_timer_cancel(cc->timer);
            cc->timer = NULL;
        }
    }
    for (int v = 0; v < jmr->nvertices; v++) {
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            int idx = cc->base[v] + k;

            if (sub_state(cc, v, k) == CF_EXEC_FINISHED) {
                /* Carried forward with its last handles. */
                p->sub[idx] = SUB_ACKED;
                p->fin[idx] = 1;
                snap_copy(&p->snap[idx], &cc->done[idx]);
                stats_ack(p->st, v, k, snap_size(&p->snap[idx]), 0, 0, 0, 0,
                          now);
            } else {
                p->sub[idx] = SUB_WAIT;
                p->nwait++;
            }
        }
    }
    cf_log_info("Triggering checkpoint %" PRId64 " (type=%s) @ %" PRId64
                " for job %s.",
                p->id, kind_type(kind, drain), now, jmr->job_id_hex);
    if (cc->loop != NULL && cc->timeout_ms > 0)
        p->timer = cf_loop_timer(cc->loop, cc->timeout_ms, 0, expire_fn, p);
    trigger_round(cc, p);
    maybe_complete(cc, p);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Periodic trigger                                                    */
/* ------------------------------------------------------------------ */

static void
periodic_fn(void *arg)
{
    cf_ckpt_coord_t *cc = arg;
    cf_error_t *err = NULL;
    int64_t now = cf_now_ms();

    cc->timer = NULL;
    if (!cc->running || cc->ended || cc->sync_pending)
        return;
    if (pending_count(cc, 1) >= cc->max_concurrent) {
        cc->waiting = 1;
        return;
    }
    if (cc->min_pause_ms > 0 && cc->last_end_ms > 0 &&
        now - cc->last_end_ms < cc->min_pause_ms) {
        sched(cc, cc->min_pause_ms - (now - cc->last_end_ms));
        return;
    }
    if (check_running(cc, &err) < 0) {
        cf_log_debug("Skipping checkpoint of job %s: %s",
                     cc->jmr->job_id_hex, cf_error_msg(err));
        cf_error_free(err);
        sched(cc, cc->interval_ms);
        return;
    }
    /* Failures are recorded (and may fail the job) inside. */
    if (trigger(cc, CF_CKPT_KIND_CHECKPOINT, NULL, 0, NULL, NULL, &err) < 0)
        cf_error_free(err);
    sched(cc, cc->interval_ms);
}

static void
sched(cf_ckpt_coord_t *cc, int64_t delay_ms)
{
    if (cc->loop == NULL || cc->interval_ms <= 0 || cc->ended ||
        !cc->running || cc->sync_pending)
        return;
    if (cc->timer != NULL)
        cf_timer_cancel(cc->timer);
    cc->timer = cf_loop_timer(cc->loop, delay_ms > 0 ? delay_ms : 0, 0,
                              periodic_fn, cc);
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */
/* ------------------------------------------------------------------ */

/* The newest restore point: a retained checkpoint, a completed
 * stop-with-savepoint, or what the job was submitted with. */
static const kept_t *
restore_point(const cf_ckpt_coord_t *cc)
{
    const kept_t *best = cc->src;

    if (cc->kept != NULL && (best == NULL || cc->kept->id > best->id))
        best = cc->kept;
    if (cc->sync != NULL && (best == NULL || cc->sync->id > best->id))
        best = cc->sync;
    return best;
}

static int
find_graph_op(const cf_jobmaster_t *jmr, const uint8_t id[16])
{
    for (int v = 0; v < jmr->nvertices; v++) {
        const Cflink__JobVertex *jv = jmr->graph->vertices[v];

        for (size_t o = 0; o < jv->n_operators; o++)
            if (jv->operators[o] != NULL &&
                jv->operators[o]->operator_id.len == 16 &&
                memcmp(jv->operators[o]->operator_id.data, id, 16) == 0)
                return v;
    }
    return -1;
}

/* Check that snapshot m (at path) maps onto the job (Flink's
 * StateAssignmentOperation checks). */
static int
restore_check(cf_ckpt_coord_t *cc, const Cflink__CheckpointMetadata *m,
              const char *path, int allow_non_restored, cf_error_t **errp)
{
    for (size_t o = 0; o < m->n_operators; o++) {
        const Cflink__OperatorStateMeta *om = m->operators[o];
        char hex[CF_ID_HEX_LEN + 1];
        cf_id_t id;
        int v, maxp;

        if (om == NULL || om->operator_id.len != 16)
            return cf_error_set(errp, CF_EIO,
                                "Failed to rollback to checkpoint/savepoint "
                                "%s: operator %zu has no valid operator id",
                                path, o);
        memcpy(id.b, om->operator_id.data, 16);
        cf_id_to_hex(&id, hex);
        v = find_graph_op(cc->jmr, om->operator_id.data);
        if (v < 0) {
            if (om->n_handles == 0) {
                cf_log_info("Skipping empty savepoint state for operator "
                            "%s.",
                            hex);
                continue;
            }
            if (!allow_non_restored)
                return cf_error_set(
                    errp, CF_ESTATE,
                    "Failed to rollback to checkpoint/savepoint %s. Cannot "
                    "map checkpoint/savepoint state for operator %s to the "
                    "new program, because the operator is not available in "
                    "the new program. If you want to allow to skip this, "
                    "you can set the --allowNonRestoredState option on the "
                    "CLI.",
                    path, hex);
            cf_log_info("Skipping savepoint state for operator %s.", hex);
            continue;
        }
        maxp = vertex_maxp(cc, v);
        if (om->parallelism < 1)
            return cf_error_set(errp, CF_EIO,
                                "Failed to rollback to checkpoint/savepoint "
                                "%s: operator %s has parallelism %d",
                                path, hex, om->parallelism);
        if (om->max_parallelism != maxp)
            return cf_error_set(
                errp, CF_ESTATE,
                "Failed to rollback to checkpoint/savepoint %s. The maximum "
                "parallelism (%d) with which the latest checkpoint of the "
                "execution job vertex %s has been taken and the current "
                "maximum parallelism (%d) changed. This is currently not "
                "supported.",
                path, om->max_parallelism, cc->jmr->vertices[v].name, maxp);
        for (size_t h = 0; h < om->n_handles; h++) {
            const Cflink__StateHandle *sh = om->handles[h];

            if (sh->has_keyed &&
                (sh->kg_start < 0 || sh->kg_end < sh->kg_start ||
                 sh->kg_end >= maxp))
                return cf_error_set(errp, CF_EIO,
                                    "Failed to rollback to "
                                    "checkpoint/savepoint %s: state file %s "
                                    "of operator %s has key groups %d-%d "
                                    "outside 0-%d",
                                    path, sh->path ? sh->path : "?", hex,
                                    sh->kg_start, sh->kg_end, maxp - 1);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

cf_ckpt_coord_t *
cf_ckpt_coord_new(cf_jobmaster_t *jmr, const char *restore_path,
                  int allow_non_restored, cf_error_t **errp)
{
    const cf_config_t *cfg = jmr->job_cfg;
    cf_ckpt_coord_t *cc = CF_NEW(cf_ckpt_coord_t);
    const char *s;

    cc->jmr = jmr;
    cc->loop = jmr->jm != NULL ? jmr->jm->loop : NULL;
    cc->works.next = cc->works.prev = &cc->works;
    cc->base = cf_calloc((size_t)jmr->nvertices + 1, sizeof *cc->base);
    for (int v = 0; v < jmr->nvertices; v++)
        cc->base[v + 1] = cc->base[v] + jmr->vertices[v].parallelism;
    cc->nsub = cc->base[jmr->nvertices];
    cc->done = cf_calloc((size_t)(cc->nsub ? cc->nsub : 1), sizeof *cc->done);
    cc->next_id = 1;

    cc->interval_ms =
        cf_config_get_duration_ms(cfg, "execution.checkpointing.interval", 0);
    cc->timeout_ms = cf_config_get_duration_ms(
        cfg, "execution.checkpointing.timeout", 600000);
    if (cc->timeout_ms <= 0)
        cc->timeout_ms = 600000;
    cc->min_pause_ms = cf_config_get_duration_ms(
        cfg, "execution.checkpointing.min-pause", 0);
    cc->max_concurrent = cf_config_get_int(
        cfg, "execution.checkpointing.max-concurrent-checkpoints", 1);
    if (cc->max_concurrent < 1)
        cc->max_concurrent = 1;
    cc->tolerable = cf_config_get_int(
        cfg, "execution.checkpointing.tolerable-failed-checkpoints", 0);
    if (cc->tolerable < 0)
        cc->tolerable = 0;
    cc->num_retained =
        cf_config_get_int(cfg, "execution.checkpointing.num-retained", 1);
    if (cc->num_retained < 1)
        cc->num_retained = 1;
    cc->exactly_once =
        cf_config_get_enum(cfg, "execution.checkpointing.mode") != 1;
    cc->compress = cf_config_get_bool(
        cfg, "execution.checkpointing.snapshot-compression", 0);
    cc->after_finish = cf_config_get_bool(
        cfg, "execution.checkpointing.checkpoints-after-tasks-finish", 1);
    if (cc->interval_ms > 0 &&
        !cf_config_get_bool(cfg, "execution.checkpointing.create-subdir", 1))
        cf_log_warn("execution.checkpointing.create-subdir: false is not "
                    "supported; checkpoints of job %s go to "
                    "<execution.checkpointing.dir>/%s/ as with true.",
                    jmr->job_id_hex, jmr->job_id_hex);
    cc->retention = cf_config_get_enum(
        cfg, "execution.checkpointing.externalized-checkpoint-retention");
    if (cc->retention < 0)
        cc->retention = 2;
    cc->base_dir = dir_norm(cf_config_get(cfg, "execution.checkpointing.dir"));
    if (cc->base_dir == NULL) {
        char *tmp = dir_norm(cf_config_get(cfg, "web.tmpdir"));

        cc->base_dir = cf_asprintf("%s/cflink-checkpoints",
                                   tmp ? tmp : "/tmp");
        cc->dir_default = 1;
        cf_free(tmp);
    }
    cc->savepoint_dir =
        dir_norm(cf_config_get(cfg, "execution.checkpointing.savepoint-dir"));
    cc->history_max = cf_config_get_int(cfg, "web.checkpoints.history", 10);
    if (cc->history_max < 1)
        cc->history_max = 1;

    cc->view.enabled = cc->interval_ms > 0;
    cc->view.exactly_once = cc->exactly_once;
    cc->view.interval_ms = cc->interval_ms;
    cc->view.timeout_ms = cc->timeout_ms;
    cc->view.min_pause_ms = cc->min_pause_ms;
    cc->view.max_concurrent = cc->max_concurrent;
    cc->view.tolerable_failed = cc->tolerable;
    cc->view.num_retained = cc->num_retained;
    cc->view.externalized = cc->retention != 2;
    /* As Flink's ExternalizedCheckpointInfo: anything but
     * RETAIN_ON_CANCELLATION deletes on cancellation. */
    cc->view.delete_on_cancellation = cc->retention != 1;
    cc->view.dir = cc->base_dir;
    cc->view.savepoint_dir = cc->savepoint_dir;
    cc->view.restored_id = -1;
    cc->view.durations = cc->durations;
    cc->view.sizes = cc->sizes;
    cc->view.processed = cc->processed;

    s = restore_path;
    if (s != NULL && *s != '\0') {
        char *path = dir_norm(s), *dir = NULL;
        Cflink__CheckpointMetadata *m = NULL;

        if (cf_ckpt_meta_read(path, &m, &dir, errp) < 0 ||
            restore_check(cc, m, path, allow_non_restored, errp) < 0) {
            cf_free(path);
            cf_free(dir);
            meta_free(m);
            cf_ckpt_coord_destroy(cc);
            return NULL;
        }
        cc->src = CF_NEW(kept_t);
        cc->src->id = m->checkpoint_id;
        cc->src->dir = dir ? dir : cf_strdup(path);
        cc->src->meta = m;
        if (m->checkpoint_id >= cc->next_id)
            cc->next_id = m->checkpoint_id + 1;
        cf_log_info("Starting job %s from savepoint %s (%s).",
                    jmr->job_id_hex, path,
                    allow_non_restored ? "allowing non restored state" : "");
        cf_log_info("Reset the checkpoint ID of job %s to %" PRId64 ".",
                    jmr->job_id_hex, cc->next_id);
        cf_free(path);
    }
    if (cc->interval_ms > 0)
        cf_log_info("Job %s (%s): checkpoints every %" PRId64
                    " ms (%s, timeout %" PRId64 " ms, min pause %" PRId64
                    " ms, max concurrent %d, tolerable failures %d, "
                    "retained %d) in %s.",
                    jmr->name, jmr->job_id_hex, cc->interval_ms,
                    cc->exactly_once ? "EXACTLY_ONCE" : "AT_LEAST_ONCE",
                    cc->timeout_ms, cc->min_pause_ms, cc->max_concurrent,
                    cc->tolerable, cc->num_retained, cc->base_dir);
    return cc;
}

void
cf_ckpt_coord_destroy(cf_ckpt_coord_t *cc)
{
    if (cc == NULL)
        return;
    if (cc->timer != NULL)
        cf_timer_cancel(cc->timer);
    while (cc->pending != NULL) {
        pend_t *p = cc->pending;

        cc->pending = p->next;
        pend_free(cc, p);
    }
    for (work_t *w = cc->works.next; w != &cc->works;) {
        work_t *next = w->next;

        w->cc = NULL;
        w->prev = w->next = NULL;
        w = next;
    }
    while (cc->kept != NULL) {
        kept_t *k = cc->kept;

        cc->kept = k->next;
        cf_free(k->dir);
        meta_free(k->meta);
        cf_free(k);
    }
    if (cc->sync != NULL) {
        cf_free(cc->sync->dir);
        meta_free(cc->sync->meta);
        cf_free(cc->sync);
    }
    if (cc->src != NULL) {
        cf_free(cc->src->dir);
        meta_free(cc->src->meta);
        cf_free(cc->src);
    }
    for (int i = 0; i < cc->nsub; i++)
        snap_clear(&cc->done[i]);
    cf_free(cc->done);
    while (cc->view.history != NULL) {
        cf_ckpt_stats_t *st = cc->view.history;

        cc->view.history = st->next;
        stats_free(st, cc->jmr->nvertices);
    }
    while (cc->orphans != NULL) {
        cf_ckpt_stats_t *st = cc->orphans;

        cc->orphans = st->next;
        stats_free(st, cc->jmr->nvertices);
    }
    for (int i = 0; i < CK_ABORTED; i++)
        cf_free(cc->aborted[i].dir);
    cf_free(cc->restored_path);
    cf_free(cc->base_dir);
    cf_free(cc->savepoint_dir);
    cf_free(cc->base);
    cf_free(cc);
}

const cf_ckpt_view_t *
cf_ckpt_coord_view(const cf_ckpt_coord_t *cc)
{
    return cc != NULL ? &cc->view : NULL;
}

const cf_ckpt_stats_t *
cf_ckpt_coord_find(const cf_ckpt_coord_t *cc, int64_t id)
{
    return cc != NULL ? stats_find(cc, id) : NULL;
}

void
cf_ckpt_coord_job_running(cf_ckpt_coord_t *cc)
{
    if (cc == NULL || cc->ended || cc->running)
        return;
    cc->running = 1;
    cc->waiting = 0;
    if (cc->interval_ms > 0 && cc->timer == NULL)
        sched(cc, cc->interval_ms);
}

void
cf_ckpt_coord_abort_pending(cf_ckpt_coord_t *cc, const char *reason)
{
    int64_t ids[64];
    int n;

    if (cc == NULL)
        return;
    cc->running = 0;
    cc->waiting = 0;
    cc->restore_logged = 0; /* a restore follows */
    if (cc->timer != NULL) {
        cf_timer_cancel(cc->timer);
        cc->timer = NULL;
    }
    do {
        n = 0;
        for (pend_t *p = cc->pending; p != NULL && n < 64; p = p->next)
            if (p->aborted == NULL)
                ids[n++] = p->id;
        for (int i = 0; i < n; i++) {
            pend_t *p = pend_find(cc, ids[i]);

            if (p == NULL)
                continue;
            if (p->finalizing) {
                /* The write ends it. */
                p->aborted = cf_strdup(reason ? reason : "aborted");
                continue;
            }
            pend_fail(cc, p, reason ? reason : "aborted", 0);
        }
    } while (n == 64);
    /* A failover after a stop-with-savepoint: the job runs on. */
    cc->sync_pending = 0;
}

void
cf_ckpt_coord_job_ended(cf_ckpt_coord_t *cc, cf_job_status_t status)
{
    int del;

    if (cc == NULL || cc->ended)
        return;
    cf_ckpt_coord_abort_pending(cc, "CheckpointCoordinator shutdown.");
    cc->ended = 1;
    /* externalized-checkpoint-retention, as Flink's CheckpointProperties:
     * NO_EXTERNALIZED_CHECKPOINTS and DELETE_ON_CANCELLATION discard on
     * FINISHED and CANCELED; RETAIN_ON_CANCELLATION keeps; a FAILED (or
     * suspended) job keeps its checkpoints. */
    del = (status == CF_JOB_FINISHED || status == CF_JOB_CANCELED) &&
          cc->retention != 1;
    if (!del || cc->kept == NULL)
        return;
    {
        strv_t dirs = {0}, files = {0}, rmdirs = {0}, paths = {0};
        char *jobdir = cf_ckpt_job_dir(cc->base_dir, cc->jmr->job_id_hex);

        while (cc->kept != NULL) {
            kept_t *k = cc->kept;
            cf_ckpt_stats_t *st = stats_find(cc, k->id);

            cc->kept = k->next;
            strv_add(&dirs, k->dir);
            meta_paths(k->meta, &paths);
            if (st != NULL)
                st->discarded = 1;
            cf_free(k->dir);
            meta_free(k->meta);
            cf_free(k);
        }
        cc->nkept = 0;
        for (size_t i = 0; i < paths.n; i++) {
            char *pd;

            if (!path_under(paths.v[i], jobdir) ||
                strv_has(&files, paths.v[i]))
                continue;
            strv_add(&files, paths.v[i]);
            pd = parent_dir(paths.v[i]);
            if (!strv_has(&rmdirs, pd))
                strv_add(&rmdirs, pd);
            cf_free(pd);
        }
        strv_free(paths.v, paths.n);
        {
            char *sh = cf_asprintf("%s/shared", jobdir);
            char *to = cf_asprintf("%s/taskowned", jobdir);

            strv_add(&rmdirs, sh);
            strv_add(&rmdirs, to);
            strv_add(&rmdirs, jobdir);
            cf_free(sh);
            cf_free(to);
        }
        for (int i = 0; i < cc->nsub; i++)
            snap_clear(&cc->done[i]);
        cf_log_info("Job %s (%s) is %s: discarding its checkpoints in %s "
                    "(%s).",
                    cc->jmr->name, cc->jmr->job_id_hex,
                    cf_job_status_name(status), jobdir,
                    cc->retention == 0 ? "DELETE_ON_CANCELLATION"
                                       : "NO_EXTERNALIZED_CHECKPOINTS");
        cf_free(jobdir);
        discard_submit(cc, &dirs, NULL, &files, &rmdirs);
    }
}

void
cf_ckpt_coord_on_ack(cf_ckpt_coord_t *cc,
                     const Cflink__AcknowledgeCheckpoint *ack)
{
    cf_jobmaster_t *jmr;
    cf_id_t attempt;
    pend_t *p;
    snap_t s;
    int v = -1, k = 0, idx;
    int64_t now = cf_now_ms();

    if (cc == NULL || ack == NULL ||
        cf_rpc_id_get(&ack->attempt_id, &attempt) < 0 ||
        cf_id_is_zero(&attempt))
        return;
    jmr = cc->jmr;
    for (int vv = 0; vv < jmr->nvertices && v < 0; vv++)
        for (int kk = 0; kk < jmr->vertices[vv].parallelism; kk++)
            if (cf_id_equal(&jmr->vertices[vv].subtasks[kk].attempt_id,
                            &attempt)) {
                v = vv;
                k = kk;
                break;
            }
    if (v < 0)
        return; /* a stale attempt */
    idx = cc->base[v] + k;
    p = pend_find(cc, ack->checkpoint_id);
    if (p == NULL) {
        /* Late: a checkpoint aborted since; its files go. */
        for (int i = 0; i < CK_ABORTED; i++)
            if (cc->aborted[i].dir != NULL &&
                cc->aborted[i].id == ack->checkpoint_id)
                discard_dir(cc, cc->aborted[i].dir);
        cf_log_debug("Received late acknowledgement of checkpoint %" PRId64
                     " of job %s.",
                     ack->checkpoint_id, jmr->job_id_hex);
        return;
    }
    if (p->finalizing || p->sub[idx] != SUB_WAIT)
        return;
    if (snap_from_ack(&s, ack) < 0) {
        char *why = cf_asprintf(MSG_DECLINED " %s (%d/%d) sent a malformed "
                                "acknowledgement.",
                                jmr->vertices[v].name, k + 1,
                                jmr->vertices[v].parallelism);

        cf_log_warn("Checkpoint %" PRId64 " of job %s: %s", p->id,
                    jmr->job_id_hex, why);
        pend_fail(cc, p, why, 1);
        cf_free(why);
        return;
    }
    snap_clear(&p->snap[idx]);
    p->snap[idx] = s;
    p->sub[idx] = SUB_ACKED;
    p->fin[idx] = ack->finished != 0;
    p->nwait--;
    stats_ack(p->st, v, k, ack->state_size ? ack->state_size : snap_size(&s),
              ack->sync_duration_ms, ack->async_duration_ms,
              ack->alignment_duration_ms, ack->processed_data, now);
    maybe_complete(cc, p);
}

void
cf_ckpt_coord_on_decline(cf_ckpt_coord_t *cc,
                         const Cflink__DeclineCheckpoint *d)
{
    cf_jobmaster_t *jmr;
    cf_id_t attempt;
    pend_t *p;
    const char *reason;
    char *why;
    int v = -1, k = 0, idx;

    if (cc == NULL || d == NULL ||
        cf_rpc_id_get(&d->attempt_id, &attempt) < 0 ||
        cf_id_is_zero(&attempt))
        return;
    jmr = cc->jmr;
    for (int vv = 0; vv < jmr->nvertices && v < 0; vv++)
        for (int kk = 0; kk < jmr->vertices[vv].parallelism; kk++)
            if (cf_id_equal(&jmr->vertices[vv].subtasks[kk].attempt_id,
                            &attempt)) {
                v = vv;
                k = kk;
                break;
            }
    if (v < 0 || (p = pend_find(cc, d->checkpoint_id)) == NULL)
        return;
    idx = cc->base[v] + k;
    if (p->finalizing || p->sub[idx] != SUB_WAIT)
        return;
    reason = d->reason && d->reason[0] ? d->reason : "no reason given";
    cf_log_info("Decline checkpoint %" PRId64 " by task %s (%d/%d) of job "
                "%s: %s",
                p->id, jmr->vertices[v].name, k + 1,
                jmr->vertices[v].parallelism, jmr->job_id_hex, reason);
    /* A task that ended before it saw the trigger: its FINISHED report
     * counts it (cf_ckpt_coord_task_finished); a failure fails over. */
    if (sub_state(cc, v, k) == CF_EXEC_FINISHED ||
        strstr(reason, "not running") != NULL ||
        strstr(reason, "finished") != NULL)
        return;
    why = cf_asprintf(MSG_DECLINED " Task %s (%d/%d): %s",
                      jmr->vertices[v].name, k + 1,
                      jmr->vertices[v].parallelism, reason);
    pend_fail(cc, p, why, 1);
    cf_free(why);
}

void
cf_ckpt_coord_task_finished(cf_ckpt_coord_t *cc, int v, int k)
{
    int64_t ids[64];
    int n = 0, idx;

    if (cc == NULL || v < 0 || v >= cc->jmr->nvertices || k < 0 ||
        k >= cc->jmr->vertices[v].parallelism)
        return;
    idx = cc->base[v] + k;
    for (pend_t *p = cc->pending; p != NULL && n < 64; p = p->next)
        ids[n++] = p->id;
    for (int i = 0; i < n; i++) {
        pend_t *p = pend_find(cc, ids[i]);

        if (p == NULL || p->finalizing)
            continue;
        if (p->sub[idx] == SUB_WAIT) {
            /* Finished without acknowledging: its state is that of its
             * final checkpoint. */
            snap_copy(&p->snap[idx], &cc->done[idx]);
            p->sub[idx] = SUB_ACKED;
            p->fin[idx] = 1;
            p->nwait--;
            stats_ack(p->st, v, k, snap_size(&p->snap[idx]), 0, 0, 0, 0,
                      cf_now_ms());
        }
        trigger_round(cc, p);
        maybe_complete(cc, p);
    }
}

Cflink__TaskRestore *
cf_ckpt_coord_task_restore(cf_ckpt_coord_t *cc, int v, int k)
{
    const kept_t *rp;
    const Cflink__CheckpointMetadata *m;
    const Cflink__JobVertex *jv;
    Cflink__TaskRestore tr = CFLINK__TASK_RESTORE__INIT;
    Cflink__OperatorRestore *ors, **orp;
    Cflink__StateHandle **hs;
    Cflink__TaskRestore *out;
    size_t nh = 0, hi = 0, len;
    uint8_t *buf;
    int P, maxp, s, e;

    if (cc == NULL || v < 0 || v >= cc->jmr->nvertices || k < 0 ||
        k >= cc->jmr->vertices[v].parallelism ||
        (rp = restore_point(cc)) == NULL)
        return NULL;
    m = rp->meta;
    if (!cc->restore_logged) {
        int sp = m->kind != CF_CKPT_KIND_CHECKPOINT;

        cc->restore_logged = 1;
        cc->view.restored++;
        cc->view.restored_id = m->checkpoint_id;
        cc->view.restore_ts = cf_now_ms();
        cc->view.restored_is_savepoint = sp;
        cf_free(cc->restored_path);
        cc->restored_path = cf_strdup(rp->dir);
        cc->view.restored_path = cc->restored_path;
        cf_log_info("Restoring job %s from %s %" PRId64 " @ %" PRId64
                    " for %s located at %s.",
                    cc->jmr->job_id_hex, sp ? "Savepoint" : "Checkpoint",
                    m->checkpoint_id, m->trigger_timestamp,
                    cc->jmr->job_id_hex, rp->dir);
    }
    jv = cc->jmr->graph->vertices[v];
    P = cc->jmr->vertices[v].parallelism;
    maxp = vertex_maxp(cc, v);
    cf_keygroup_range(maxp, P, k, &s, &e);
    for (size_t o = 0; o < m->n_operators; o++)
        nh += m->operators[o]->n_handles;
    ors = cf_calloc(jv->n_operators ? jv->n_operators : 1, sizeof *ors);
    orp = cf_calloc(jv->n_operators ? jv->n_operators : 1, sizeof *orp);
    hs = cf_calloc(nh ? nh : 1, sizeof *hs);
    tr.checkpoint_id = m->checkpoint_id;
    tr.operators = orp;
    for (size_t o = 0; o < jv->n_operators; o++) {
        const Cflink__JobOperator *jo = jv->operators[o];
        const Cflink__OperatorStateMeta *om;
        Cflink__OperatorRestore init = CFLINK__OPERATOR_RESTORE__INIT;
        Cflink__OperatorRestore *r = &ors[tr.n_operators];

        if (jo == NULL || jo->operator_id.len != 16 ||
            (om = meta_find_op(m, jo->operator_id.data)) == NULL)
            continue; /* a new operator: starts empty */
        *r = init;
        r->operator_id = jo->operator_id;
        r->old_parallelism = om->parallelism;
        r->finished = om->fully_finished;
        r->handles = &hs[hi];
        for (size_t h = 0; h < om->n_handles; h++) {
            Cflink__StateHandle *sh = om->handles[h];

            if (sh->has_operator ||
                (sh->has_keyed && sh->kg_start <= e && sh->kg_end >= s)) {
                hs[hi++] = sh;
                r->n_handles++;
            }
        }
        orp[tr.n_operators++] = r;
    }
    len = cflink__task_restore__get_packed_size(&tr);
    buf = cf_malloc(len ? len : 1);
    cflink__task_restore__pack(&tr, buf);
    out = cflink__task_restore__unpack(NULL, len, buf);
    CF_ASSERT(out != NULL);
    cf_free(buf);
    cf_free(ors);
    cf_free(orp);
    cf_free(hs);
    return out;
}

void
cf_ckpt_coord_settings(cf_ckpt_coord_t *cc, Cflink__CheckpointSettings *out)
{
    Cflink__CheckpointSettings init = CFLINK__CHECKPOINT_SETTINGS__INIT;

    *out = init;
    if (cc == NULL)
        return;
    out->enabled = cc->interval_ms > 0;
    out->exactly_once = cc->exactly_once != 0;
    out->compress = cc->compress != 0;
}

int
cf_ckpt_coord_trigger(cf_ckpt_coord_t *cc, int kind, const char *target_dir,
                      int drain, cf_ckpt_done_cb done, void *arg,
                      cf_error_t **errp)
{
    char *target, *dir;
    int rc;

    if (cc == NULL)
        return cf_error_set(errp, CF_EINVAL, "no checkpoint coordinator");
    if (kind == CF_CKPT_KIND_CHECKPOINT)
        return trigger(cc, kind, NULL, 0, done, arg, errp);
    if (kind != CF_CKPT_KIND_SAVEPOINT && kind != CF_CKPT_KIND_SYNC_SAVEPOINT)
        return cf_error_set(errp, CF_EINVAL, "unknown checkpoint kind %d",
                            kind);
    target = target_dir && *target_dir ? dir_norm(target_dir)
                                       : (cc->savepoint_dir
                                              ? cf_strdup(cc->savepoint_dir)
                                              : NULL);
    if (target == NULL)
        return cf_error_set(
            errp, CF_ECONFIG,
            "No savepoint directory configured. You can either specify a "
            "directory while cancelling via -s :targetDirectory or "
            "configure a cluster-wide default via key "
            "'execution.checkpointing.savepoint-dir'.");
    if ((rc = check_running(cc, errp)) < 0) {
        cf_free(target);
        return rc;
    }
    if (cc->sync_pending) {
        cf_free(target);
        return cf_error_set(errp, CF_ESTATE,
                            "Job %s is being stopped with a savepoint.",
                            cc->jmr->job_id_hex);
    }
    (void)cf_mkdirs(target, 0755); /* as Flink's mkdirs; errors below */
    dir = cf_ckpt_savepoint_dir_new(target, cc->jmr->job_id_hex);
    rc = trigger(cc, kind, dir, drain, done, arg, errp);
    cf_free(dir);
    cf_free(target);
    return rc;
}

void
cf_ckpt_coord_forget_cb(cf_ckpt_coord_t *cc, void *arg)
{
    if (cc == NULL)
        return;
    for (pend_t *p = cc->pending; p != NULL; p = p->next)
        if (p->done_arg == arg)
            p->done = NULL;
}
