/*
 * test_taskmanager_ckpt.c: the TaskManager's checkpoint relay
 * (src/taskmanager/tasks.c) against a fake JobManager (an RPC server on
 * 127.0.0.1 in the same loop): TriggerCheckpoint and NotifyCheckpoint
 * dispatch, the DeclineCheckpoint for an unknown, ended or invalid
 * trigger, acknowledgements of a deployed two-task job with checkpoint
 * settings, and SubmitTask.restore validation.
 *
 * The test drives the loop itself (uv_run on the test thread). The test
 * plugin is tests/plugins/tp_fail.so next to this program's directory;
 * tests needing it are skipped when it is missing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "taskmanager_int.h"

static void
noop_fn(void *arg)
{
    (void)arg;
}

#define RUN_UNTIL(loop, cond, ms)                                              \
    ({                                                                         \
        cf_timer_t *tick_ = cf_loop_timer((loop), 5, 5, noop_fn, NULL);        \
        int64_t end_ = cf_mono_ms() + (ms);                                    \
        while (!(cond) && cf_mono_ms() < end_)                                 \
            uv_run(cf_loop_uv(loop), UV_RUN_ONCE);                             \
        cf_timer_cancel(tick_);                                                \
        (cond) ? 1 : 0;                                                        \
    })

/* ------------------------------------------------------------------ */
/* Fake JobManager                                                     */
/* ------------------------------------------------------------------ */

#define MAX_ATT 8
#define MAX_MSG 64

typedef struct ckmsg_s {
    int kind; /* 1 ack, 2 decline */
    cf_id_t job, att;
    int64_t id;
    char reason[512];
    int nops;
    int nhandles;
    int finished;
    /* The first handle. */
    cf_id_t op;
    char path[512];
    uint64_t size;
    int subtask, has_keyed, kg_start, kg_end, has_operator;
} ckmsg_t;

typedef struct reply_s {
    int done;
    int status;
    char error[512];
    int body_case;
} reply_t;

typedef struct fx_s {
    cf_loop_t *loop;
    cf_rpc_server_t *srv;
    cf_rpc_conn_t *conn;
    cf_config_t *cfg;
    cf_tm_t *tm;
    char dir[256];
    int offers;
    uint8_t *blob;
    size_t blob_len;
    cf_id_t att[MAX_ATT];
    int att_state[MAX_ATT];
    ckmsg_t msgs[MAX_MSG];
    int nmsgs;
} fx_t;

static void
fake_on_open(cf_rpc_conn_t *c, const Cflink__Hello *hello, void *arg)
{
    fx_t *fx = arg;
    (void)hello;
    fx->conn = c;
}

static void
fake_on_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    fx_t *fx = arg;
    (void)reason;
    if (c == fx->conn)
        fx->conn = NULL;
}

static void
fake_on_message(cf_rpc_conn_t *c, uint64_t req_id, const Cflink__Envelope *msg,
                void *arg)
{
    fx_t *fx = arg;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;

    switch (msg->body_case) {
    case CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR: {
        Cflink__RegistrationResponse r = CFLINK__REGISTRATION_RESPONSE__INIT;
        cf_id_t id;
        cf_id_random(&id);
        r.success = 1;
        r.registration_id = cf_rpc_id_bytes(&id);
        r.jobmanager_id = "jm-test";
        env.body_case = CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE;
        env.registration_response = &r;
        cf_rpc_reply(c, req_id, &env);
        return;
    }
    case CFLINK__ENVELOPE__BODY_OFFER_SLOTS: {
        Cflink__OfferSlotsResponse r = CFLINK__OFFER_SLOTS_RESPONSE__INIT;
        ProtobufCBinaryData acc[4];
        const Cflink__OfferSlots *os = msg->offer_slots;
        size_t n = 0;
        fx->offers++;
        for (size_t i = 0; i < os->n_offers && i < 4; i++)
            acc[n++] = os->offers[i]->allocation_id;
        r.n_accepted = n;
        r.accepted = acc;
        env.body_case = CFLINK__ENVELOPE__BODY_OFFER_SLOTS_RESPONSE;
        env.offer_slots_response = &r;
        cf_rpc_reply(c, req_id, &env);
        return;
    }
    case CFLINK__ENVELOPE__BODY_BLOB_GET: {
        Cflink__BlobData d = CFLINK__BLOB_DATA__INIT;
        size_t off = (size_t)msg->blob_get->offset;
        size_t n = (size_t)msg->blob_get->length;
        if (off > fx->blob_len)
            off = fx->blob_len;
        if (n > fx->blob_len - off)
            n = fx->blob_len - off;
        d.total_size = (int64_t)fx->blob_len;
        d.data.data = fx->blob + off;
        d.data.len = n;
        env.body_case = CFLINK__ENVELOPE__BODY_BLOB_DATA;
        env.blob_data = &d;
        cf_rpc_reply(c, req_id, &env);
        return;
    }
    case CFLINK__ENVELOPE__BODY_UPDATE_TASK_EXECUTION_STATE: {
        const Cflink__UpdateTaskExecutionState *u =
            msg->update_task_execution_state;
        cf_id_t id;
        assert_int_equal(cf_rpc_id_get(&u->attempt_id, &id), 0);
        for (int i = 0; i < MAX_ATT; i++)
            if (cf_id_equal(&fx->att[i], &id))
                fx->att_state[i] = u->state;
        return;
    }
    case CFLINK__ENVELOPE__BODY_ACKNOWLEDGE_CHECKPOINT: {
        const Cflink__AcknowledgeCheckpoint *a = msg->acknowledge_checkpoint;
        ckmsg_t *m;
        assert_int_equal(req_id, 0); /* one-way */
        assert_true(fx->nmsgs < MAX_MSG);
        m = &fx->msgs[fx->nmsgs++];
        m->kind = 1;
        assert_int_equal(cf_rpc_id_get(&a->job_id, &m->job), 0);
        assert_int_equal(cf_rpc_id_get(&a->attempt_id, &m->att), 0);
        m->id = a->checkpoint_id;
        m->nops = (int)a->n_operators;
        m->finished = a->finished;
        for (size_t i = 0; i < a->n_operators; i++) {
            assert_int_equal(a->operators[i]->operator_id.len, 16);
            if (a->operators[i]->handle != NULL) {
                const Cflink__StateHandle *h = a->operators[i]->handle;
                if (m->nhandles++ == 0) {
                    cf_rpc_id_get(&a->operators[i]->operator_id, &m->op);
                    snprintf(m->path, sizeof m->path, "%s", h->path);
                    m->size = h->size;
                    m->subtask = h->subtask;
                    m->has_keyed = h->has_keyed;
                    m->kg_start = h->kg_start;
                    m->kg_end = h->kg_end;
                    m->has_operator = h->has_operator;
                }
                /* Handles carry absolute paths of existing files. */
                assert_int_equal(a->operators[i]->handle->path[0], '/');
                assert_int_equal(access(a->operators[i]->handle->path, R_OK),
                                 0);
            }
        }
        return;
    }
    case CFLINK__ENVELOPE__BODY_DECLINE_CHECKPOINT: {
        const Cflink__DeclineCheckpoint *d = msg->decline_checkpoint;
        ckmsg_t *m;
        assert_int_equal(req_id, 0);
        assert_true(fx->nmsgs < MAX_MSG);
        m = &fx->msgs[fx->nmsgs++];
        m->kind = 2;
        cf_rpc_id_get(&d->job_id, &m->job);
        assert_int_equal(cf_rpc_id_get(&d->attempt_id, &m->att), 0);
        m->id = d->checkpoint_id;
        snprintf(m->reason, sizeof m->reason, "%s", d->reason ? d->reason : "");
        return;
    }
    default:
        if (req_id)
            cf_rpc_reply_error(c, req_id, "fake: unexpected");
    }
}

static const cf_rpc_handler_t fake_handler = {fake_on_open, fake_on_message,
                                              fake_on_close};

static void
reply_cb(cf_rpc_conn_t *c, int status, const char *error,
         const Cflink__Envelope *reply, void *arg)
{
    reply_t *r = arg;
    (void)c;
    r->done = 1;
    r->status = status;
    if (error)
        snprintf(r->error, sizeof r->error, "%s", error);
    if (reply != NULL)
        r->body_case = (int)reply->body_case;
}

static void
call(fx_t *fx, Cflink__Envelope *env, reply_t *r)
{
    memset(r, 0, sizeof *r);
    assert_non_null(fx->conn);
    assert_int_equal(cf_rpc_call(fx->conn, env, 5000, reply_cb, r), 0);
    assert_true(RUN_UNTIL(fx->loop, r->done, 6000));
}

static void
send_oneway(fx_t *fx, Cflink__Envelope *env)
{
    assert_non_null(fx->conn);
    assert_int_equal(cf_rpc_send(fx->conn, env), 0);
}

static void
trigger(fx_t *fx, const cf_id_t *job, const cf_id_t *att, int64_t id,
        const char *location)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__TriggerCheckpoint tc = CFLINK__TRIGGER_CHECKPOINT__INIT;
    tc.job_id = cf_rpc_id_bytes(job);
    tc.attempt_id = cf_rpc_id_bytes(att);
    tc.checkpoint_id = id;
    tc.timestamp = 1700000000000LL;
    tc.kind = 0;
    tc.location = (char *)location;
    env.body_case = CFLINK__ENVELOPE__BODY_TRIGGER_CHECKPOINT;
    env.trigger_checkpoint = &tc;
    send_oneway(fx, &env);
}

static void
notify(fx_t *fx, const cf_id_t *job, const cf_id_t *att, int64_t id,
       int aborted)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__NotifyCheckpoint nc = CFLINK__NOTIFY_CHECKPOINT__INIT;
    nc.job_id = cf_rpc_id_bytes(job);
    nc.attempt_id = cf_rpc_id_bytes(att);
    nc.checkpoint_id = id;
    nc.aborted = aborted;
    env.body_case = CFLINK__ENVELOPE__BODY_NOTIFY_CHECKPOINT;
    env.notify_checkpoint = &nc;
    send_oneway(fx, &env);
}

/* The first message of kind for attempt att and checkpoint id, or NULL. */
static const ckmsg_t *
find_msg(fx_t *fx, int kind, const cf_id_t *att, int64_t id)
{
    for (int i = 0; i < fx->nmsgs; i++)
        if (fx->msgs[i].kind == kind && fx->msgs[i].id == id &&
            cf_id_equal(&fx->msgs[i].att, att))
            return &fx->msgs[i];
    return NULL;
}

static void
fx_setup(fx_t *fx)
{
    cf_error_t *err = NULL;
    char port[16];
    static const char *const kv[] = {"taskmanager.numberOfTaskSlots=2",
                                     "taskmanager.resource-id=tm-ck",
                                     "taskmanager.host=127.0.0.1",
                                     "taskmanager.memory.network.min=8 mb",
                                     "taskmanager.memory.network.max=8 mb",
                                     "heartbeat.timeout=50 s"};

    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s/cf-tm-ck.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(fx->dir));
    fx->loop = cf_loop_new("test");
    cf_rpc_ident_t id = {"jobmanager", "jm-test", "0.1.0"};
    fx->srv = cf_rpc_server_new(fx->loop, "127.0.0.1", 0, &id, &fake_handler,
                                fx, &err);
    assert_non_null(fx->srv);
    fx->cfg = cf_config_new();
    snprintf(port, sizeof port, "%d", cf_rpc_server_port(fx->srv));
    assert_int_equal(cf_config_set(fx->cfg, "jobmanager.rpc.address",
                                   "127.0.0.1", "test", &err),
                     0);
    assert_int_equal(
        cf_config_set(fx->cfg, "jobmanager.rpc.port", port, "test", &err), 0);
    assert_int_equal(
        cf_config_set(fx->cfg, "blob.storage.directory", fx->dir, "test", &err),
        0);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(cf_config_set_kv(fx->cfg, kv[i], &err), 0);
    fx->tm = cf_tm_new(fx->loop, fx->cfg, &err);
    if (fx->tm == NULL)
        fail_msg("cf_tm_new: %s", cf_error_msg(err));
    assert_int_equal(cf_tm_start(fx->tm), 0);
    assert_true(RUN_UNTIL(fx->loop, fx->tm->registered, 5000));
}

static void
fx_teardown(fx_t *fx)
{
    char cmd[300];
    cf_tm_shutdown(fx->tm, 3000);
    assert_true(RUN_UNTIL(
        fx->loop, fx->tm->shutting_down == 2 && fx->tm->shutdown_timer == NULL,
        5000));
    assert_int_equal(fx->tm->ntasks, 0);
    cf_tm_destroy(fx->tm);
    cf_rpc_server_destroy(fx->srv);
    cf_loop_destroy(fx->loop);
    cf_config_destroy(fx->cfg);
    cf_free(fx->blob);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* Triggers without a task                                             */
/* ------------------------------------------------------------------ */

static void
test_trigger_unknown(void **state)
{
    fx_t fx;
    reply_t r;
    cf_id_t job, att;
    char hex[CF_ID_HEX_LEN + 1], want[128];
    const ckmsg_t *m;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__TriggerCheckpoint tc = CFLINK__TRIGGER_CHECKPOINT__INIT;
    uint8_t junk[3] = {1, 2, 3};
    (void)state;

    fx_setup(&fx);
    cf_id_random(&job);
    cf_id_random(&att);
    cf_id_to_hex(&att, hex);

    /* Unknown attempt: declined at once, naming the attempt. */
    trigger(&fx, &job, &att, 7, "/tmp/x/chk-7");
    assert_true(RUN_UNTIL(fx.loop, fx.nmsgs == 1, 3000));
    m = find_msg(&fx, 2, &att, 7);
    assert_non_null(m);
    assert_true(cf_id_equal(&m->job, &job));
    snprintf(want, sizeof want, "Task %s is not running", hex);
    assert_string_equal(m->reason, want);

    /* A notification for an unknown attempt is ignored. */
    notify(&fx, &job, &att, 7, 0);
    notify(&fx, &job, &att, 8, 1);

    /* A malformed attempt id: ignored, no answer, no crash. */
    env.body_case = CFLINK__ENVELOPE__BODY_TRIGGER_CHECKPOINT;
    env.trigger_checkpoint = &tc;
    tc.attempt_id.data = junk;
    tc.attempt_id.len = sizeof junk;
    tc.checkpoint_id = 9;
    send_oneway(&fx, &env);

    /* Sent as a call, the trigger is still answered with an Ack. */
    tc.attempt_id = cf_rpc_id_bytes(&att);
    tc.checkpoint_id = 10;
    call(&fx, &env, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_case, CFLINK__ENVELOPE__BODY_ACK);
    assert_true(RUN_UNTIL(fx.loop, fx.nmsgs == 2, 3000));
    assert_non_null(find_msg(&fx, 2, &att, 10));
    RUN_UNTIL(fx.loop, 0, 100);
    assert_int_equal(fx.nmsgs, 2);
    assert_true(fx.tm->registered);
    fx_teardown(&fx);
}

/* ------------------------------------------------------------------ */
/* A deployed job                                                      */
/* ------------------------------------------------------------------ */

typedef struct plug_s {
    char path[1024];
    uint8_t key[32];
    uint8_t *graph;
    size_t graph_len;
    char *args[8];
    int nargs;
} plug_t;

static int
plug_load(plug_t *p, const char *const *args, int nargs)
{
    char dir[900];
    cf_plugin_lib_t *lib = NULL;
    cf_config_t *cfg;
    cf_job_t *job = NULL;
    cf_error_t *err = NULL;
    cf_job_opts_t opts;
    char *argv[10];
    uint8_t *data;
    size_t len;
    char hex[65];

    memset(p, 0, sizeof *p);
    assert_int_equal(cf_exe_dir(dir, sizeof dir), 0);
    snprintf(p->path, sizeof p->path, "%s/plugins/tp_fail.so", dir);
    if (access(p->path, R_OK) != 0)
        return 0;
    data = (uint8_t *)cf_file_read(p->path, &len);
    assert_non_null(data);
    cf_tm_sha256_hex(data, len, hex);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        p->key[i] = (uint8_t)v;
    }
    cf_free(data);
    if (cf_plugin_open(p->path, &lib, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    cfg = cf_config_new();
    argv[0] = p->path;
    for (int i = 0; i < nargs; i++) {
        argv[1 + i] = (char *)args[i];
        p->args[i] = (char *)args[i];
    }
    p->nargs = nargs;
    memset(&opts, 0, sizeof opts);
    opts.parallelism = 1;
    opts.argc = 1 + nargs;
    opts.argv = argv;
    if (cf_job_build(lib, cfg, &opts, &job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    assert_int_equal(cf_job_encode(job, &p->graph, &p->graph_len), 0);
    cf_job_destroy(job);
    cf_plugin_close(lib);
    cf_config_destroy(cfg);
    return 1;
}

/* SubmitTask of vertex v (subtask 0) with checkpointing on; gate_from:
 * the producer of the single input channel, or NULL; restore: or NULL. */
static void
submit(fx_t *fx, plug_t *p, const cf_id_t *job, const cf_id_t *alloc,
       const cf_id_t *att, int v, const cf_id_t *gate_from,
       Cflink__TaskRestore *restore, reply_t *r)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
    Cflink__InputGateDescriptor gd = CFLINK__INPUT_GATE_DESCRIPTOR__INIT;
    Cflink__InputGateDescriptor *gdp = &gd;
    Cflink__InputChannelDescriptor cd = CFLINK__INPUT_CHANNEL_DESCRIPTOR__INIT;
    Cflink__InputChannelDescriptor *cdp = &cd;
    Cflink__CheckpointSettings cs = CFLINK__CHECKPOINT_SETTINGS__INIT;

    st.job_id = cf_rpc_id_bytes(job);
    st.job_name = "test job";
    st.attempt_id = cf_rpc_id_bytes(att);
    st.vertex_index = v;
    st.attempt_number = 0;
    st.allocation_id = cf_rpc_id_bytes(alloc);
    st.plugin_key.data = p->key;
    st.plugin_key.len = 32;
    st.plugin_name = "tp_fail.so";
    st.args = p->args;
    st.n_args = (size_t)p->nargs;
    st.parallelism = 1;
    st.job_graph.data = p->graph;
    st.job_graph.len = p->graph_len;
    cs.enabled = 1;
    cs.exactly_once = 1;
    cs.compress = 1;
    st.checkpointing = &cs;
    st.restore = restore;
    if (gate_from != NULL) {
        cd.producer_attempt_id = cf_rpc_id_bytes(gate_from);
        cd.host = "127.0.0.1";
        cd.data_port = fx->tm->data_port;
        gd.channels = &cdp;
        gd.n_channels = 1;
        st.gates = &gdp;
        st.n_gates = 1;
    }
    env.body_case = CFLINK__ENVELOPE__BODY_SUBMIT_TASK;
    env.submit_task = &st;
    call(fx, &env, r);
}

static void
request_slot(fx_t *fx, const cf_id_t *job, const cf_id_t *alloc, int slot)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__RequestSlot rs = CFLINK__REQUEST_SLOT__INIT;
    reply_t r;
    rs.job_id = cf_rpc_id_bytes(job);
    rs.allocation_id = cf_rpc_id_bytes(alloc);
    rs.slot_index = slot;
    env.body_case = CFLINK__ENVELOPE__BODY_REQUEST_SLOT;
    env.request_slot = &rs;
    call(fx, &env, &r);
    assert_int_equal(r.status, 0);
}

static void
test_deployed_checkpoints(void **state)
{
    static const char *const args[] = {"--mode", "map",         "--at",
                                       "-1",     "--unbounded", "true"};
    fx_t fx;
    plug_t p;
    reply_t r;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    Cflink__TaskRestore tr = CFLINK__TASK_RESTORE__INIT;
    Cflink__OperatorRestore orr = CFLINK__OPERATOR_RESTORE__INIT;
    Cflink__OperatorRestore *orp = &orr;
    Cflink__StateHandle sh = CFLINK__STATE_HANDLE__INIT;
    Cflink__StateHandle *shp = &sh;
    cf_id_t job, alloc, a0, a1, a2, opid;
    char loc[400];
    const ckmsg_t *m;
    (void)state;

    if (!plug_load(&p, args, 6))
        skip();
    fx_setup(&fx);
    fx.blob = (uint8_t *)cf_file_read(p.path, &fx.blob_len);
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&a0);
    cf_id_random(&a1);
    cf_id_random(&a2);
    cf_id_random(&opid);
    fx.att[0] = a0;
    fx.att[1] = a1;
    fx.att_state[0] = fx.att_state[1] = -1;
    request_slot(&fx, &job, &alloc, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.offers == 1, 2000));

    submit(&fx, &p, &job, &alloc, &a0, 0, NULL, NULL, &r);
    if (r.status < 0)
        fail_msg("submit source: %s", r.error);
    submit(&fx, &p, &job, &alloc, &a1, 1, &a0, NULL, &r);
    if (r.status < 0)
        fail_msg("submit map: %s", r.error);
    assert_true(RUN_UNTIL(fx.loop,
                          fx.att_state[0] == CF_EXEC_RUNNING &&
                              fx.att_state[1] == CF_EXEC_RUNNING,
                          5000));

    /* Checkpoint 1 at the source: both tasks acknowledge. */
    snprintf(loc, sizeof loc, "%s/chk-1", fx.dir);
    assert_int_equal(mkdir(loc, 0755), 0);
    trigger(&fx, &job, &a0, 1, loc);
    assert_true(RUN_UNTIL(fx.loop,
                          find_msg(&fx, 1, &a0, 1) != NULL &&
                              find_msg(&fx, 1, &a1, 1) != NULL,
                          5000));
    m = find_msg(&fx, 1, &a0, 1);
    assert_true(cf_id_equal(&m->job, &job));
    assert_int_equal(m->finished, 0);
    /* The source keeps its position in operator state: one handle. */
    assert_int_equal(m->nhandles, 1);
    assert_int_equal(m->has_operator, 1);
    assert_true(m->size > 0);
    notify(&fx, &job, &a0, 1, 0);
    notify(&fx, &job, &a1, 1, 0);

    /* An invalid trigger of a running task is declined here. */
    trigger(&fx, &job, &a0, 2, "relative/chk-2");
    assert_true(RUN_UNTIL(fx.loop, find_msg(&fx, 2, &a0, 2) != NULL, 3000));
    assert_non_null(strstr(find_msg(&fx, 2, &a0, 2)->reason, "relative/chk-2"));
    /* So is a trigger naming another job. */
    trigger(&fx, &alloc, &a0, 3, loc);
    assert_true(RUN_UNTIL(fx.loop, find_msg(&fx, 2, &a0, 3) != NULL, 3000));
    assert_non_null(strstr(find_msg(&fx, 2, &a0, 3)->reason, "not running"));

    /* A restore with a relative state path is refused at submission. */
    tr.checkpoint_id = 1;
    tr.operators = &orp;
    tr.n_operators = 1;
    orr.operator_id = cf_rpc_id_bytes(&opid);
    orr.old_parallelism = 1;
    orr.handles = &shp;
    orr.n_handles = 1;
    sh.path = "state/file-0";
    sh.has_keyed = 1;
    sh.kg_start = 0;
    sh.kg_end = 127;
    submit(&fx, &p, &job, &alloc, &a2, 1, &a0, &tr, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "state/file-0"));
    /* A reversed key-group range too. */
    sh.path = "/abs/file-0";
    sh.kg_start = 9;
    sh.kg_end = 3;
    submit(&fx, &p, &job, &alloc, &a2, 1, &a0, &tr, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "/abs/file-0"));

    /* A valid restore (the source's handle of checkpoint 1) deploys. */
    m = find_msg(&fx, 1, &a0, 1);
    orr.operator_id = cf_rpc_id_bytes(&m->op);
    sh.path = (char *)m->path;
    sh.size = m->size;
    sh.subtask = m->subtask;
    sh.has_keyed = m->has_keyed;
    sh.kg_start = m->kg_start;
    sh.kg_end = m->kg_end;
    sh.has_operator = m->has_operator;
    fx.att[2] = a2;
    fx.att_state[2] = -1;
    submit(&fx, &p, &job, &alloc, &a2, 0, NULL, &tr, &r);
    if (r.status < 0)
        fail_msg("submit restored source: %s", r.error);
    /* It waits for a consumer (none here) in DEPLOYING: not failed. */
    assert_true(RUN_UNTIL(fx.loop, fx.att_state[2] == CF_EXEC_DEPLOYING, 5000));
    RUN_UNTIL(fx.loop, 0, 200);
    assert_int_equal(fx.att_state[2], CF_EXEC_DEPLOYING);
    ct.attempt_id = cf_rpc_id_bytes(&a2);
    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    call(&fx, &env, &r);

    /* Cancel; once ended, a trigger is declined as not running. */
    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    ct.attempt_id = cf_rpc_id_bytes(&a0);
    call(&fx, &env, &r);
    ct.attempt_id = cf_rpc_id_bytes(&a1);
    call(&fx, &env, &r);
    assert_true(RUN_UNTIL(fx.loop,
                          fx.att_state[0] == CF_EXEC_CANCELED &&
                              fx.att_state[1] == CF_EXEC_CANCELED,
                          5000));
    trigger(&fx, &job, &a0, 4, loc);
    assert_true(RUN_UNTIL(fx.loop, find_msg(&fx, 2, &a0, 4) != NULL, 3000));
    assert_non_null(strstr(find_msg(&fx, 2, &a0, 4)->reason, "is not running"));
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 3000));
    fx_teardown(&fx);
    cf_free(p.graph);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger_unknown),
        cmocka_unit_test(test_deployed_checkpoints),
    };
    cf_log_set_level(getenv("CF_TEST_LOG") ? CF_LOGL_DEBUG : CF_LOGL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
