/*
 * test_jobmanager_checkpoint.c: the CheckpointCoordinator
 * (src/jobmanager/checkpoint.c) without daemons: a real JobMaster built
 * from a two-vertex job graph (no JobManager loop: no timers, worker jobs
 * run inline, nothing is sent), driven by hand-made acknowledgements.
 *
 * Covered: restore assignment (key groups for parallelism 2 -> 3 and
 * 4 -> 2, operator-state handles of every old subtask, ids continuing
 * after the restored one), restore refusals (missing path, unknown
 * operator with and without allowNonRestoredState, changed max
 * parallelism), the _metadata of completed checkpoints, statistics
 * (counts, latest, history trimmed to web.checkpoints.history),
 * retention with files still referenced by carried-forward handles,
 * self-contained savepoints, failures (declines, tolerable failures,
 * aborts that do not count), trigger errors, retention at the end of the
 * job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/state/ckpt.h"
#include "jobmanager_int.h"

#define MAXP 128

static char g_root[256];

/* Operator ids: A is the source, B -> C the keyed chain. */
static uint8_t OP_A[16] = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
static uint8_t OP_B[16] = {0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
static uint8_t OP_C[16] = {0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
static uint8_t OP_X[16] = {0xee, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};

static int
exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0;
}

static void
write_file(const char *path, size_t size)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    for (size_t i = 0; i < size; i++)
        fputc((int)(i & 0xff), f);
    fclose(f);
}

/* ------------------------------------------------------------------ */
/* A job: "Source" (op A, parallelism p0) -HASH-> "Keyed -> Sink"
 * (ops B, C, parallelism p1). withx: the source chain also has op X. */
/* ------------------------------------------------------------------ */

static cf_jobmaster_t *
job_new(int p0, int p1, int withx, const char *const *kv, const char *restore,
        int allow, cf_error_t **errp)
{
    Cflink__JobGraph g = CFLINK__JOB_GRAPH__INIT;
    Cflink__JobVertex v0 = CFLINK__JOB_VERTEX__INIT;
    Cflink__JobVertex v1 = CFLINK__JOB_VERTEX__INIT;
    Cflink__JobVertex *vs[2] = {&v0, &v1};
    Cflink__JobOperator a = CFLINK__JOB_OPERATOR__INIT;
    Cflink__JobOperator x = CFLINK__JOB_OPERATOR__INIT;
    Cflink__JobOperator b = CFLINK__JOB_OPERATOR__INIT;
    Cflink__JobOperator c = CFLINK__JOB_OPERATOR__INIT;
    Cflink__JobOperator *ops0[2] = {&a, &x}, *ops1[2] = {&b, &c};
    Cflink__JobOutput out = CFLINK__JOB_OUTPUT__INIT;
    Cflink__JobOutput *outs[1] = {&out};
    Cflink__JobInput in = CFLINK__JOB_INPUT__INIT;
    Cflink__JobInput *ins[1] = {&in};
    uint8_t id0[16] = {1}, id1[16] = {2};
    cf_jobmaster_spec_t spec;
    cf_config_t *cfg = cf_config_new();
    cf_jobmaster_t *jmr;
    cf_id_t job;
    uint8_t *buf;
    size_t len;

    a.operator_id.data = OP_A;
    a.operator_id.len = 16;
    a.uid = "src-uid";
    a.name = "Source";
    x.operator_id.data = OP_X;
    x.operator_id.len = 16;
    x.name = "Extra";
    b.operator_id.data = OP_B;
    b.operator_id.len = 16;
    b.uid = "keyed-uid";
    b.name = "Keyed";
    c.operator_id.data = OP_C;
    c.operator_id.len = 16;
    c.name = "Sink";
    v0.id.data = id0;
    v0.id.len = 16;
    v0.name = "Source";
    v0.parallelism = p0;
    v0.max_parallelism = MAXP;
    v0.operators = ops0;
    v0.n_operators = withx ? 2 : 1;
    out.operator_ = 0;
    out.target_vertex = 1;
    out.target_input = 0;
    out.partitioner = 7; /* HASH */
    out.ship_strategy = "HASH";
    v0.outputs = outs;
    v0.n_outputs = 1;
    v1.id.data = id1;
    v1.id.len = 16;
    v1.name = "Keyed -> Sink";
    v1.parallelism = p1;
    v1.max_parallelism = MAXP;
    v1.operators = ops1;
    v1.n_operators = 2;
    in.source_vertex = 0;
    in.source_output = 0;
    v1.inputs = ins;
    v1.n_inputs = 1;
    g.version = 1;
    g.name = "ckpt test";
    g.vertices = vs;
    g.n_vertices = 2;
    len = cflink__job_graph__get_packed_size(&g);
    buf = malloc(len);
    cflink__job_graph__pack(&g, buf);

    for (int i = 0; kv != NULL && kv[i] != NULL; i += 2)
        assert_int_equal(cf_config_set(cfg, kv[i], kv[i + 1], "-D", NULL), 0);
    cf_id_random(&job);
    memset(&spec, 0, sizeof spec);
    spec.job_id = &job;
    spec.name = "ckpt test";
    spec.graph_pb = buf;
    spec.graph_len = len;
    spec.parallelism = p1;
    spec.job_cfg = cfg;
    spec.savepoint_path = restore;
    spec.allow_non_restored = allow;
    jmr = cf_jobmaster_new(NULL, &spec, errp);
    free(buf);
    cf_config_destroy(cfg);
    return jmr;
}

static void
job_run(cf_jobmaster_t *jmr)
{
    jmr->status = CF_JOB_RUNNING;
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++) {
            jmr->vertices[v].subtasks[k].state = CF_EXEC_RUNNING;
            cf_id_random(&jmr->vertices[v].subtasks[k].attempt_id);
        }
    cf_ckpt_coord_job_running(jmr->ckpt);
}

static void
job_free(cf_jobmaster_t *jmr)
{
    jmr->status = CF_JOB_CANCELED; /* terminal: nothing to cancel */
    cf_jobmaster_destroy(jmr);
}

/* Acknowledge checkpoint id for subtask k of vertex v with one file per
 * operator of its chain (written into dir). keyed: the keyed section
 * covers the subtask's key groups. */
static void
ack(cf_jobmaster_t *jmr, int v, int k, int64_t id, const char *dir,
    int finished)
{
    Cflink__AcknowledgeCheckpoint a = CFLINK__ACKNOWLEDGE_CHECKPOINT__INIT;
    Cflink__OperatorSubtaskState os[2], *osp[2];
    Cflink__StateHandle hs[2];
    char *paths[2] = {NULL, NULL};
    const Cflink__JobVertex *jv = jmr->graph->vertices[v];
    int P = jmr->vertices[v].parallelism, s, e;

    cf_keygroup_range(MAXP, P, k, &s, &e);
    a.job_id = cf_rpc_id_bytes(&jmr->job_id);
    a.attempt_id = cf_rpc_id_bytes(&jmr->vertices[v].subtasks[k].attempt_id);
    a.checkpoint_id = id;
    a.finished = finished;
    for (size_t o = 0; o < jv->n_operators; o++) {
        Cflink__OperatorSubtaskState oi = CFLINK__OPERATOR_SUBTASK_STATE__INIT;
        Cflink__StateHandle hi = CFLINK__STATE_HANDLE__INIT;
        char hex[33];
        cf_id_t opid;

        memcpy(opid.b, jv->operators[o]->operator_id.data, 16);
        cf_id_to_hex(&opid, hex);
        paths[o] = cf_asprintf("%s/%s-%d-0", dir, hex, k);
        write_file(paths[o], 100 + (size_t)k);
        hi.path = paths[o];
        hi.size = 100 + (uint64_t)k;
        hi.subtask = k;
        if (v == 0) {
            hi.has_operator = 1;
        } else {
            hi.has_keyed = 1;
            hi.kg_start = s;
            hi.kg_end = e;
        }
        hs[o] = hi;
        oi.operator_id = jv->operators[o]->operator_id;
        oi.handle = &hs[o];
        os[o] = oi;
        osp[o] = &os[o];
    }
    a.operators = osp;
    a.n_operators = jv->n_operators;
    a.state_size = (100 + (uint64_t)k) * jv->n_operators;
    a.sync_duration_ms = 1;
    a.async_duration_ms = 2;
    a.alignment_duration_ms = 3 + k;
    cf_ckpt_coord_on_ack(jmr->ckpt, &a);
    free(paths[0]);
    free(paths[1]);
}

static void
ack_all(cf_jobmaster_t *jmr, int64_t id, const char *dir)
{
    for (int v = 0; v < jmr->nvertices; v++)
        for (int k = 0; k < jmr->vertices[v].parallelism; k++)
            if (jmr->vertices[v].subtasks[k].state == CF_EXEC_RUNNING)
                ack(jmr, v, k, id, dir, 0);
}

typedef struct done_s {
    int calls, status;
    int64_t id;
    char path[512];
    char error[1024];
} done_t;

static void
done_cb(void *arg, int status, int64_t id, const char *path,
        const char *error)
{
    done_t *d = arg;

    d->calls++;
    d->status = status;
    d->id = id;
    snprintf(d->path, sizeof d->path, "%s", path ? path : "");
    snprintf(d->error, sizeof d->error, "%s", error ? error : "");
}

/* ------------------------------------------------------------------ */
/* Snapshots written by hand for the restore tests                     */
/* ------------------------------------------------------------------ */

/* A savepoint dir with op A (operator state, p0 subtasks), op B (keyed,
 * p1 subtasks) and, when xstate, op X with state. */
static char *
make_snapshot(const char *name, int p0, int p1, int xstate, int maxp_b,
              int64_t id)
{
    char *dir = cf_asprintf("%s/%s", g_root, name);
    Cflink__CheckpointMetadata m = CFLINK__CHECKPOINT_METADATA__INIT;
    Cflink__OperatorStateMeta om[3], *omp[3];
    Cflink__StateHandle hs[3][8], *hsp[3][8];
    char *paths[3][8] = {{0}};
    uint8_t *ids[3] = {OP_A, OP_B, OP_X};
    int par[3] = {p0, p1, 1};
    int nops = xstate ? 3 : 2;
    cf_id_t job;
    cf_error_t *err = NULL;

    assert_int_equal(cf_mkdirs(dir, 0755), 0);
    cf_id_random(&job);
    m.version = CF_CKPT_META_VERSION;
    m.job_id = cf_rpc_id_bytes(&job);
    m.job_name = "old";
    m.checkpoint_id = id;
    m.trigger_timestamp = 1000;
    m.completion_timestamp = 2000;
    m.kind = CF_CKPT_KIND_SAVEPOINT;
    m.format = "CANONICAL";
    for (int o = 0; o < nops; o++) {
        Cflink__OperatorStateMeta init = CFLINK__OPERATOR_STATE_META__INIT;

        om[o] = init;
        om[o].operator_id.data = ids[o];
        om[o].operator_id.len = 16;
        om[o].parallelism = par[o];
        om[o].max_parallelism = o == 1 ? maxp_b : MAXP;
        om[o].handles = hsp[o];
        for (int k = 0; k < par[o]; k++) {
            Cflink__StateHandle hi = CFLINK__STATE_HANDLE__INIT;
            int s, e;

            paths[o][k] = cf_asprintf("%s/op%d-%d", dir, o, k);
            write_file(paths[o][k], 10 + (size_t)k);
            hi.path = paths[o][k];
            hi.size = 10 + (uint64_t)k;
            hi.subtask = k;
            if (o == 1) {
                cf_keygroup_range(MAXP, par[o], k, &s, &e);
                hi.has_keyed = 1;
                hi.kg_start = s;
                hi.kg_end = e;
            } else {
                hi.has_operator = 1;
            }
            hs[o][k] = hi;
            hsp[o][k] = &hs[o][k];
        }
        om[o].n_handles = (size_t)par[o];
        omp[o] = &om[o];
    }
    m.operators = omp;
    m.n_operators = (size_t)nops;
    cf_ckpt_relativize(&m, dir);
    assert_int_equal(cf_ckpt_meta_write(dir, &m, &err), 0);
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < 8; k++)
            free(paths[o][k]);
    return dir;
}

/* Whether a TaskRestore operator has the handle named op<o>-<k>. */
static int
has_handle(const Cflink__OperatorRestore *r, int o, int k)
{
    char suffix[32];

    snprintf(suffix, sizeof suffix, "/op%d-%d", o, k);
    for (size_t h = 0; h < r->n_handles; h++) {
        size_t n = strlen(r->handles[h]->path), m = strlen(suffix);

        if (n >= m && strcmp(r->handles[h]->path + n - m, suffix) == 0)
            return 1;
    }
    return 0;
}

static const Cflink__OperatorRestore *
restore_op(const Cflink__TaskRestore *tr, const uint8_t *id)
{
    for (size_t o = 0; o < tr->n_operators; o++)
        if (memcmp(tr->operators[o]->operator_id.data, id, 16) == 0)
            return tr->operators[o];
    return NULL;
}

static void
test_restore_rescale_up(void **state)
{
    char *dir = make_snapshot("sp-2to3", 2, 2, 0, MAXP, 41);
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr = job_new(2, 3, 0, NULL, dir, 0, &err);
    const cf_ckpt_view_t *vw;
    /* old key groups: 0-63, 64-127; new: 0-42, 43-85, 86-127 */
    int want[3][2] = {{1, 0}, {1, 1}, {0, 1}};
    (void)state;

    assert_non_null(jmr);
    assert_null(err);
    for (int k = 0; k < 3; k++) {
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 1, k);
        const Cflink__OperatorRestore *rb;

        assert_non_null(tr);
        assert_int_equal(tr->checkpoint_id, 41);
        rb = restore_op(tr, OP_B);
        assert_non_null(rb);
        assert_int_equal(rb->old_parallelism, 2);
        assert_int_equal(rb->n_handles, want[k][0] + want[k][1]);
        assert_int_equal(has_handle(rb, 1, 0), want[k][0]);
        assert_int_equal(has_handle(rb, 1, 1), want[k][1]);
        assert_true(rb->handles[0]->path[0] == '/');
        /* C had no state in the snapshot: not listed. */
        assert_null(restore_op(tr, OP_C));
        cflink__task_restore__free_unpacked(tr, NULL);
    }
    /* Operator state: every old subtask's handle, for every subtask. */
    for (int k = 0; k < 2; k++) {
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 0, k);
        const Cflink__OperatorRestore *ra = restore_op(tr, OP_A);

        assert_non_null(ra);
        assert_int_equal(ra->n_handles, 2);
        assert_true(has_handle(ra, 0, 0) && has_handle(ra, 0, 1));
        cflink__task_restore__free_unpacked(tr, NULL);
    }
    vw = cf_ckpt_coord_view(jmr->ckpt);
    assert_int_equal(vw->restored, 1);
    assert_int_equal(vw->restored_id, 41);
    assert_true(vw->restored_is_savepoint);
    assert_string_equal(vw->restored_path, dir);
    /* Ids continue after the restored one. */
    job_run(jmr);
    {
        done_t d = {0};
        char *sp = cf_asprintf("%s/sps", g_root);

        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_SAVEPOINT, sp, 0,
                                               done_cb, &d, &err),
                         0);
        assert_non_null(vw->history);
        assert_int_equal(vw->history->id, 42);
        assert_int_equal(vw->in_progress, 1);
        free(sp);
    }
    job_free(jmr);
    free(dir);
}

static void
test_restore_rescale_down(void **state)
{
    char *dir = make_snapshot("sp-4to2", 3, 4, 0, MAXP, 7);
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr = job_new(1, 2, 0, NULL, dir, 0, &err);
    /* old: 0-31, 32-63, 64-95, 96-127; new: 0-63, 64-127 */
    (void)state;

    assert_non_null(jmr);
    for (int k = 0; k < 2; k++) {
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 1, k);
        const Cflink__OperatorRestore *rb = restore_op(tr, OP_B);

        assert_non_null(rb);
        assert_int_equal(rb->old_parallelism, 4);
        assert_int_equal(rb->n_handles, 2);
        for (int old = 0; old < 4; old++)
            assert_int_equal(has_handle(rb, 1, old), old / 2 == k);
        cflink__task_restore__free_unpacked(tr, NULL);
    }
    {
        /* The source went 3 -> 1: its one subtask gets all three. */
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 0, 0);
        const Cflink__OperatorRestore *ra = restore_op(tr, OP_A);

        assert_int_equal(ra->old_parallelism, 3);
        assert_int_equal(ra->n_handles, 3);
        cflink__task_restore__free_unpacked(tr, NULL);
    }
    assert_null(cf_ckpt_coord_task_restore(jmr->ckpt, 1, 2));
    assert_null(cf_ckpt_coord_task_restore(jmr->ckpt, 2, 0));
    job_free(jmr);
    free(dir);
}

static void
test_restore_refused(void **state)
{
    char *missing = cf_asprintf("%s/no-such-savepoint", g_root);
    char *dir = make_snapshot("sp-x", 1, 2, 1, MAXP, 3);
    char *dir2 = make_snapshot("sp-maxp", 1, 2, 0, 256, 3);
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr;
    char *want;
    cf_id_t x;
    char xhex[33];
    (void)state;

    /* A path that does not exist: named in the error. */
    jmr = job_new(1, 2, 0, NULL, missing, 0, &err);
    assert_null(jmr);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), missing));
    cf_error_free(err);
    err = NULL;

    /* State of an operator the job lacks. */
    memcpy(x.b, OP_X, 16);
    cf_id_to_hex(&x, xhex);
    jmr = job_new(1, 2, 0, NULL, dir, 0, &err);
    assert_null(jmr);
    want = cf_asprintf("Failed to rollback to checkpoint/savepoint %s. Cannot "
                       "map checkpoint/savepoint state for operator %s to "
                       "the new program, because the operator is not "
                       "available in the new program. If you want to allow "
                       "to skip this, you can set the "
                       "--allowNonRestoredState option on the CLI.",
                       dir, xhex);
    assert_string_equal(cf_error_msg(err), want);
    free(want);
    cf_error_free(err);
    err = NULL;
    /* ... allowed with allowNonRestoredState, or when the job has it. */
    jmr = job_new(1, 2, 0, NULL, dir, 1, &err);
    assert_non_null(jmr);
    job_free(jmr);
    jmr = job_new(1, 2, 1, NULL, dir, 0, &err);
    assert_non_null(jmr);
    {
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 0, 0);

        assert_non_null(restore_op(tr, OP_X));
        cflink__task_restore__free_unpacked(tr, NULL);
    }
    job_free(jmr);

    /* A changed max parallelism. */
    jmr = job_new(1, 2, 0, NULL, dir2, 0, &err);
    assert_null(jmr);
    assert_non_null(strstr(cf_error_msg(err), "maximum parallelism (256)"));
    assert_non_null(strstr(cf_error_msg(err), "(128) changed"));
    cf_error_free(err);
    free(missing);
    free(dir);
    free(dir2);
}

/* ------------------------------------------------------------------ */
/* Checkpoints                                                         */
/* ------------------------------------------------------------------ */

static char *
chk(const cf_jobmaster_t *jmr, const char *base, int64_t id)
{
    return cf_ckpt_chk_dir(base, jmr->job_id_hex, id);
}

static void
test_checkpoints(void **state)
{
    char *base = cf_asprintf("%s/chk", g_root);
    const char *kv[] = {"execution.checkpointing.dir",
                        base,
                        "execution.checkpointing.num-retained",
                        "2",
                        "execution.checkpointing.tolerable-failed-checkpoints",
                        "1",
                        "web.checkpoints.history",
                        "3",
                        NULL};
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr = job_new(2, 2, 0, kv, NULL, 0, &err);
    const cf_ckpt_view_t *vw;
    const cf_ckpt_stats_t *st1;
    Cflink__CheckpointMetadata *m = NULL;
    done_t d = {0};
    char *c1, *c3, *carried, *file;
    (void)state;

    assert_non_null(jmr);
    vw = cf_ckpt_coord_view(jmr->ckpt);
    assert_null(cf_ckpt_coord_task_restore(jmr->ckpt, 0, 0));
    assert_int_equal(vw->restored_id, -1);
    assert_int_equal(vw->num_retained, 2);
    assert_string_equal(vw->dir, base);
    /* NO_EXTERNALIZED_CHECKPOINTS, as Flink's ExternalizedCheckpointInfo */
    assert_false(vw->externalized);
    assert_true(vw->delete_on_cancellation);
    assert_false(vw->enabled);
    assert_true(vw->exactly_once);
    assert_int_equal(vw->timeout_ms, 600000);
    assert_int_equal(vw->tolerable_failed, 1);

    /* Not running: Flink's message, nothing recorded. */
    assert_true(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT,
                                      NULL, 0, done_cb, &d, &err) < 0);
    assert_non_null(strstr(cf_error_msg(err),
                           "Checkpoint triggering task Source (1/2) of job"));
    assert_non_null(strstr(cf_error_msg(err),
                           "is not being executed at the moment. Aborting "
                           "checkpoint. Failure reason: Not all required "
                           "tasks are currently running."));
    cf_error_free(err);
    err = NULL;
    assert_int_equal(vw->total, 0);

    job_run(jmr);
    /* Checkpoint 1: metadata, stats. */
    assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT,
                                           NULL, 0, done_cb, &d, &err),
                     0);
    c1 = chk(jmr, base, 1);
    assert_true(exists(c1));
    assert_int_equal(vw->in_progress, 1);
    assert_int_equal(vw->history->status, CF_CKPT_IN_PROGRESS);
    ack(jmr, 0, 0, 1, c1, 0);
    ack(jmr, 0, 0, 1, c1, 0); /* a duplicate: ignored */
    ack(jmr, 0, 1, 1, c1, 0);
    ack(jmr, 1, 0, 1, c1, 0);
    assert_int_equal(vw->history->num_acked, 3);
    assert_int_equal(vw->history->vertices[1].num_acked, 1);
    assert_int_equal(d.calls, 0);
    ack(jmr, 1, 1, 1, c1, 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.id, 1);
    assert_string_equal(d.path, c1);
    assert_int_equal(vw->completed, 1);
    assert_int_equal(vw->in_progress, 0);
    assert_int_equal(vw->total, 1);
    assert_int_equal(vw->nsamples, 1);
    st1 = vw->latest_completed;
    assert_non_null(st1);
    assert_int_equal(st1->id, 1);
    assert_int_equal(st1->status, CF_CKPT_COMPLETED);
    assert_string_equal(st1->external_path, c1);
    /* sizes: source 100 + 101, keyed 2 x (100 + 101) */
    assert_int_equal(st1->state_size, 603);
    assert_int_equal(st1->num_acked, 4);
    assert_int_equal(st1->alignment_ms, 4);
    assert_int_equal(st1->vertices[1].state_size, 402);
    assert_int_equal(st1->vertices[1].sub_alignment_ms[1], 4);
    assert_ptr_equal(cf_ckpt_coord_find(jmr->ckpt, 1), st1);
    /* The _metadata: every operator of every chain. */
    assert_int_equal(cf_ckpt_meta_read(c1, &m, NULL, &err), 0);
    assert_int_equal(m->checkpoint_id, 1);
    assert_int_equal(m->kind, CF_CKPT_KIND_CHECKPOINT);
    assert_int_equal(m->n_operators, 3);
    for (size_t o = 0; o < m->n_operators; o++) {
        const Cflink__OperatorStateMeta *om = m->operators[o];

        assert_int_equal(om->parallelism, 2);
        assert_int_equal(om->max_parallelism, MAXP);
        assert_int_equal(om->n_handles, 2);
        assert_false(om->fully_finished);
        assert_true(om->handles[0]->path[0] == '/');
    }
    assert_string_equal(m->operators[0]->uid, "src-uid");
    assert_string_equal(m->operators[2]->name, "Sink");
    cflink__checkpoint_metadata__free_unpacked(m, NULL);
    m = NULL;
    {
        /* A failover restores checkpoint 1. */
        Cflink__TaskRestore *tr = cf_ckpt_coord_task_restore(jmr->ckpt, 1, 1);

        assert_int_equal(tr->checkpoint_id, 1);
        assert_int_equal(tr->n_operators, 2);
        assert_int_equal(tr->operators[0]->n_handles, 1);
        cflink__task_restore__free_unpacked(tr, NULL);
        assert_int_equal(vw->restored_id, 1);
        assert_false(vw->restored_is_savepoint);
    }

    /* 2 and 3: retention keeps 2; chk-1 is discarded. */
    for (int64_t id = 2; id <= 3; id++) {
        char *c = chk(jmr, base, id);

        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_CHECKPOINT, NULL,
                                               0, NULL, NULL, &err),
                         0);
        ack_all(jmr, id, c);
        free(c);
    }
    assert_false(exists(c1));
    assert_true(st1->discarded == 1 ||
                cf_ckpt_coord_find(jmr->ckpt, 1) == NULL);
    c3 = chk(jmr, base, 3);
    assert_true(exists(c3));

    /* Source subtask 0 finishes: carried forward from chk-3. */
    jmr->vertices[0].subtasks[0].state = CF_EXEC_FINISHED;
    cf_ckpt_coord_task_finished(jmr->ckpt, 0, 0);
    {
        cf_id_t a;
        char hex[33];

        memcpy(a.b, OP_A, 16);
        cf_id_to_hex(&a, hex);
        carried = cf_asprintf("%s/%s-0-0", c3, hex);
        file = cf_asprintf("%s/%s-1-0", c3, hex);
    }
    for (int64_t id = 4; id <= 6; id++) {
        char *c = chk(jmr, base, id);

        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_CHECKPOINT, NULL,
                                               0, NULL, NULL, &err),
                         0);
        /* already counted: only 3 subtasks to go */
        assert_int_equal(vw->history->num_acked, 1);
        ack_all(jmr, id, c);
        assert_int_equal(vw->latest_completed->id, id);
        free(c);
    }
    /* chk-3 is discarded except the carried file. */
    assert_true(exists(carried));
    assert_false(exists(file));
    {
        char *c6 = chk(jmr, base, 6);

        assert_int_equal(cf_ckpt_meta_read(c6, &m, NULL, &err), 0);
        /* op A: subtask 0's handle is the carried file */
        assert_int_equal(m->operators[0]->n_handles, 2);
        assert_true(strcmp(m->operators[0]->handles[0]->path, carried) == 0 ||
                    strcmp(m->operators[0]->handles[1]->path, carried) == 0);
        assert_false(m->operators[0]->fully_finished);
        cflink__checkpoint_metadata__free_unpacked(m, NULL);
        m = NULL;
        free(c6);
    }
    /* History: 3 entries; the latest completed stays reachable. */
    {
        int n = 0;

        for (const cf_ckpt_stats_t *s = vw->history; s; s = s->next)
            n++;
        assert_int_equal(n, 3);
        assert_null(cf_ckpt_coord_find(jmr->ckpt, 1));
        assert_int_equal(vw->completed, 6);
        assert_int_equal(vw->total, 6);
        assert_int_equal(vw->nsamples, 6);
    }

    /* A decline fails checkpoint 7 (1 tolerated), its dir removed. */
    {
        Cflink__DeclineCheckpoint dc = CFLINK__DECLINE_CHECKPOINT__INIT;
        char *c7 = chk(jmr, base, 7);
        done_t d7 = {0};

        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_CHECKPOINT, NULL,
                                               0, done_cb, &d7, &err),
                         0);
        ack(jmr, 1, 0, 7, c7, 0);
        dc.job_id = cf_rpc_id_bytes(&jmr->job_id);
        dc.attempt_id =
            cf_rpc_id_bytes(&jmr->vertices[1].subtasks[1].attempt_id);
        dc.checkpoint_id = 7;
        dc.reason = "disk full";
        cf_ckpt_coord_on_decline(jmr->ckpt, &dc);
        assert_int_equal(d7.calls, 1);
        assert_true(d7.status < 0);
        assert_non_null(strstr(d7.error, "Checkpoint was declined."));
        assert_non_null(strstr(d7.error, "disk full"));
        assert_int_equal(vw->failed, 1);
        assert_int_equal(vw->latest_failed->id, 7);
        assert_false(exists(c7));
        assert_int_equal(jmr->status, CF_JOB_RUNNING);
        /* A late acknowledgement is harmless. */
        ack(jmr, 0, 1, 7, base, 0);
        free(c7);
    }
    /* An abort (failover) does not count. */
    assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT,
                                           NULL, 0, NULL, NULL, &err),
                     0);
    cf_ckpt_coord_abort_pending(jmr->ckpt, "FailoverRegion is restarting.");
    assert_int_equal(vw->failed, 2);
    assert_string_equal(vw->latest_failed->failure,
                        "FailoverRegion is restarting.");
    assert_int_equal(jmr->status, CF_JOB_RUNNING);
    /* A second counted failure in a row fails the job. */
    job_run(jmr);
    jmr->vertices[0].subtasks[0].state = CF_EXEC_FINISHED;
    assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT,
                                           NULL, 0, NULL, NULL, &err),
                     0);
    assert_int_equal(vw->history->id, 9);
    {
        Cflink__DeclineCheckpoint dc = CFLINK__DECLINE_CHECKPOINT__INIT;

        dc.attempt_id =
            cf_rpc_id_bytes(&jmr->vertices[0].subtasks[1].attempt_id);
        dc.checkpoint_id = 9;
        /* "not running": the task ended; not a failure */
        dc.reason = "Task Source (2/2)#0 is not running";
        cf_ckpt_coord_on_decline(jmr->ckpt, &dc);
        assert_int_equal(vw->failed, 2);
        dc.reason = "snapshot failed";
        cf_ckpt_coord_on_decline(jmr->ckpt, &dc);
    }
    assert_int_equal(vw->failed, 3);
    /* FAILED at once: without TaskManagers the cancellation is
     * immediate (and the JobMaster ended the coordinator). */
    assert_true(jmr->status == CF_JOB_FAILING ||
                jmr->status == CF_JOB_FAILED);
    assert_non_null(jmr->exceptions);
    assert_non_null(strstr(jmr->exceptions->exception,
                           "Exceeded checkpoint tolerable failure "
                           "threshold."));
    assert_non_null(strstr(jmr->exceptions->exception, "snapshot failed"));

    /* The job ends FAILED: checkpoints are kept. */
    cf_ckpt_coord_job_ended(jmr->ckpt, CF_JOB_FAILED);
    {
        char *c6 = chk(jmr, base, 6);

        assert_true(exists(c6));
        free(c6);
    }
    job_free(jmr);
    free(c1);
    free(c3);
    free(carried);
    free(file);
    free(base);
}

static void
test_savepoint_and_end(void **state)
{
    char *base = cf_asprintf("%s/chk2", g_root);
    char *spdir = cf_asprintf("%s/savepoints", g_root);
    const char *kv[] = {"execution.checkpointing.dir", base, NULL};
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr = job_new(2, 1, 0, kv, NULL, 0, &err);
    const cf_ckpt_view_t *vw = cf_ckpt_coord_view(jmr->ckpt);
    Cflink__CheckpointMetadata *m = NULL;
    done_t d = {0};
    char *c1, *jobdir;
    (void)state;

    job_run(jmr);
    /* No directory configured. */
    assert_true(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_SAVEPOINT, NULL,
                                      0, done_cb, &d, &err) < 0);
    assert_string_equal(cf_error_msg(err),
                        "No savepoint directory configured. You can either "
                        "specify a directory while cancelling via -s "
                        ":targetDirectory or configure a cluster-wide "
                        "default via key "
                        "'execution.checkpointing.savepoint-dir'.");
    cf_error_free(err);
    err = NULL;
    /* Checkpoint 1, then source 0 finishes. */
    assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT,
                                           NULL, 0, NULL, NULL, &err),
                     0);
    c1 = chk(jmr, base, 1);
    ack_all(jmr, 1, c1);
    assert_int_equal(vw->completed, 1);
    jmr->vertices[0].subtasks[0].state = CF_EXEC_FINISHED;
    cf_ckpt_coord_task_finished(jmr->ckpt, 0, 0);

    /* Savepoint 2: self-contained, relative paths, not a restore point. */
    assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_SAVEPOINT,
                                           spdir, 0, done_cb, &d, &err),
                     0);
    assert_non_null(vw->history);
    assert_int_equal(vw->history->id, 2);
    {
        char *loc;
        char prefix[64];

        snprintf(prefix, sizeof prefix, "/savepoint-%.6s-",
                 jmr->job_id_hex);
        /* A file outside the savepoint directory: copied in. */
        ack(jmr, 0, 1, 2, c1, 0);
        assert_int_equal(d.calls, 0);
        {
            /* The savepoint directory: spdir/savepoint-<6>-<12>. */
            char *cmd = cf_asprintf("ls -d %s/savepoint-* > %s/sp.txt", spdir,
                                    g_root);
            char *lst = cf_asprintf("%s/sp.txt", g_root);
            char line[512] = {0};
            FILE *f;

            assert_int_equal(system(cmd), 0);
            f = fopen(lst, "r");
            assert_non_null(fgets(line, sizeof line, f));
            fclose(f);
            line[strcspn(line, "\n")] = '\0';
            loc = cf_strdup(line);
            assert_non_null(strstr(loc, prefix));
            free(cmd);
            free(lst);
        }
        ack(jmr, 1, 0, 2, loc, 0);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.status, 0);
        assert_int_equal(d.id, 2);
        assert_string_equal(d.path, loc);
        assert_int_equal(vw->latest_savepoint->id, 2);
        assert_int_equal(vw->latest_completed->id, 1);
        assert_int_equal(cf_ckpt_meta_read(loc, &m, NULL, &err), 0);
        assert_int_equal(m->kind, CF_CKPT_KIND_SAVEPOINT);
        for (size_t o = 0; o < m->n_operators; o++)
            for (size_t h = 0; h < m->operators[o]->n_handles; h++)
                assert_memory_equal(m->operators[o]->handles[h]->path, loc,
                                    strlen(loc));
        cflink__checkpoint_metadata__free_unpacked(m, NULL);
        m = NULL;
        {
            /* The restore point is still checkpoint 1. */
            Cflink__TaskRestore *tr =
                cf_ckpt_coord_task_restore(jmr->ckpt, 1, 0);

            assert_int_equal(tr->checkpoint_id, 1);
            cflink__task_restore__free_unpacked(tr, NULL);
        }
        free(loc);
    }
    /* A stop-with-savepoint that fails leaves the job running. */
    {
        done_t d3 = {0};

        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_SYNC_SAVEPOINT,
                                               spdir, 1, done_cb, &d3, &err),
                         0);
        cf_ckpt_coord_abort_pending(jmr->ckpt, "expired");
        assert_int_equal(d3.calls, 1);
        assert_true(d3.status < 0);
        assert_string_equal(d3.error, "expired");
        /* forget_cb: no callback after the REST side left */
        job_run(jmr);
        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_SAVEPOINT, spdir,
                                               0, done_cb, &d3, &err),
                         0);
        cf_ckpt_coord_forget_cb(jmr->ckpt, &d3);
        cf_ckpt_coord_abort_pending(jmr->ckpt, "gone");
        assert_int_equal(d3.calls, 1);
    }
    /* Canceled with NO_EXTERNALIZED_CHECKPOINTS: checkpoints go, the
     * savepoint stays. */
    jobdir = cf_ckpt_job_dir(base, jmr->job_id_hex);
    assert_true(exists(c1));
    cf_ckpt_coord_job_ended(jmr->ckpt, CF_JOB_CANCELED);
    assert_false(exists(c1));
    assert_false(exists(jobdir));
    assert_true(exists(spdir));
    assert_true(cf_ckpt_coord_trigger(jmr->ckpt, CF_CKPT_KIND_CHECKPOINT, NULL,
                                      0, NULL, NULL, &err) < 0);
    cf_error_free(err);
    job_free(jmr);

    /* RETAIN_ON_CANCELLATION keeps them. */
    {
        const char *kv2[] = {
            "execution.checkpointing.dir", base,
            "execution.checkpointing.externalized-checkpoint-retention",
            "RETAIN_ON_CANCELLATION", NULL};
        char *c;

        err = NULL;
        jmr = job_new(1, 1, 0, kv2, NULL, 0, &err);
        assert_true(cf_ckpt_coord_view(jmr->ckpt)->externalized);
        assert_false(cf_ckpt_coord_view(jmr->ckpt)->delete_on_cancellation);
        job_run(jmr);
        assert_int_equal(cf_ckpt_coord_trigger(jmr->ckpt,
                                               CF_CKPT_KIND_CHECKPOINT, NULL,
                                               0, NULL, NULL, &err),
                         0);
        c = chk(jmr, base, 1);
        ack_all(jmr, 1, c);
        cf_ckpt_coord_job_ended(jmr->ckpt, CF_JOB_CANCELED);
        assert_true(exists(c));
        free(c);
        job_free(jmr);
    }
    free(jobdir);
    free(c1);
    free(base);
    free(spdir);
}

static int
setup(void **state)
{
    char tmpl[] = "/tmp/cf-test-ckcoord-XXXXXX";
    (void)state;

    assert_non_null(mkdtemp(tmpl));
    snprintf(g_root, sizeof g_root, "%s", tmpl);
    cf_log_set_level(getenv("CK_DEBUG") ? CF_LOGL_DEBUG : CF_LOGL_WARN);
    return 0;
}

static int
teardown(void **state)
{
    char *cmd = cf_asprintf("rm -rf '%s'", g_root);
    (void)state;

    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_root);
    free(cmd);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_rescale_up),
        cmocka_unit_test(test_restore_rescale_down),
        cmocka_unit_test(test_restore_refused),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_savepoint_and_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
