/*
 * test_taskmanager_executor.c: the TaskExecutor (src/taskmanager) against
 * a fake JobManager (an RPC server on 127.0.0.1 in the same loop):
 * registration and re-registration, heartbeats and slot reports, slot
 * requests, offers and frees, bad requests, plugin download by BlobGet
 * with hash check, task deployment of a two-vertex job with a local
 * exchange, state reports, task counters in heartbeats, cancellation
 * (also of a task waiting for its plugin), heartbeat timeout and
 * connection loss.
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

typedef struct reply_s {
    int done;
    int status;
    char error[512];
    int body_case;
    int nslots;
    int slot_alloc[8]; /* 1 when allocated */
    int nreports;      /* task reports of a HeartbeatResponse */
    cf_id_t rep_att[8];
    int rep_state[8];
    int64_t rep_in[8], rep_out[8];
} reply_t;

typedef struct fx_s {
    cf_loop_t *loop;
    cf_rpc_server_t *srv;
    cf_rpc_conn_t *conn; /* the TaskManager's connection */
    cf_config_t *cfg;
    cf_tm_t *tm;
    char dir[256];
    /* What the fake saw. */
    int registrations;
    int refuse_next;
    int closes;
    int reg_port;
    int offers;
    int decline;
    int blob_gets;
    int corrupt;
    int hold_blob;
    uint64_t held_req;
    size_t held_off, held_len;
    uint8_t *blob;
    size_t blob_len;
    cf_id_t att[MAX_ATT];
    int att_state[MAX_ATT];
    char att_failure[MAX_ATT][256];
    int updates;
} fx_t;

static void
fake_on_open(cf_rpc_conn_t *c, const Cflink__Hello *hello, void *arg)
{
    fx_t *fx = arg;
    assert_string_equal(hello->role, "taskmanager");
    fx->conn = c;
}

static void
fake_on_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    fx_t *fx = arg;
    (void)reason;
    if (c == fx->conn)
        fx->conn = NULL;
    fx->closes++;
}

static void
blob_reply(fx_t *fx, cf_rpc_conn_t *c, uint64_t req_id, size_t off, size_t n)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__BlobData d = CFLINK__BLOB_DATA__INIT;
    uint8_t *tmp;
    if (off > fx->blob_len)
        off = fx->blob_len;
    if (n > fx->blob_len - off)
        n = fx->blob_len - off;
    tmp = cf_malloc(n + 1);
    memcpy(tmp, fx->blob + off, n);
    if (fx->corrupt && n > 0)
        tmp[n / 2] ^= 0x5a;
    d.total_size = (int64_t)fx->blob_len;
    d.data.data = tmp;
    d.data.len = n;
    env.body_case = CFLINK__ENVELOPE__BODY_BLOB_DATA;
    env.blob_data = &d;
    cf_rpc_reply(c, req_id, &env);
    cf_free(tmp);
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
        const Cflink__RegisterTaskExecutor *reg = msg->register_task_executor;
        assert_string_equal(reg->resource_id, "tm-test");
        assert_int_equal(reg->num_slots, 2);
        assert_true(reg->data_port > 0);
        assert_true(reg->network_memory > 0);
        assert_non_null(reg->slot_report);
        assert_int_equal(reg->slot_report->n_slots, 2);
        fx->reg_port = reg->data_port;
        fx->registrations++;
        cf_id_random(&id);
        if (fx->refuse_next) {
            fx->refuse_next = 0;
            r.success = 0;
            r.reason = "not now";
        } else {
            r.success = 1;
            r.registration_id = cf_rpc_id_bytes(&id);
            r.jobmanager_id = "jm-test";
        }
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
        assert_string_equal(os->resource_id, "tm-test");
        for (size_t i = 0; i < os->n_offers && i < 4 && !fx->decline; i++)
            acc[n++] = os->offers[i]->allocation_id;
        r.n_accepted = n;
        r.accepted = acc;
        env.body_case = CFLINK__ENVELOPE__BODY_OFFER_SLOTS_RESPONSE;
        env.offer_slots_response = &r;
        cf_rpc_reply(c, req_id, &env);
        return;
    }
    case CFLINK__ENVELOPE__BODY_BLOB_GET:
        fx->blob_gets++;
        assert_true(msg->blob_get->length > 0 &&
                    msg->blob_get->length <= 1024 * 1024);
        if (fx->hold_blob) { /* answered by blob_release() */
            fx->held_req = req_id;
            fx->held_off = (size_t)msg->blob_get->offset;
            fx->held_len = (size_t)msg->blob_get->length;
            return;
        }
        blob_reply(fx, c, req_id, (size_t)msg->blob_get->offset,
                   (size_t)msg->blob_get->length);
        return;
    case CFLINK__ENVELOPE__BODY_UPDATE_TASK_EXECUTION_STATE: {
        const Cflink__UpdateTaskExecutionState *u =
            msg->update_task_execution_state;
        cf_id_t id;
        fx->updates++;
        assert_int_equal(cf_rpc_id_get(&u->attempt_id, &id), 0);
        for (int i = 0; i < MAX_ATT; i++)
            if (cf_id_equal(&fx->att[i], &id)) {
                fx->att_state[i] = u->state;
                snprintf(fx->att_failure[i], sizeof fx->att_failure[i], "%s",
                         u->failure ? u->failure : "");
            }
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
    if (reply == NULL)
        return;
    r->body_case = (int)reply->body_case;
    if (reply->body_case == CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE) {
        const Cflink__SlotReport *sr = reply->heartbeat_response->slot_report;
        assert_string_equal(reply->heartbeat_response->resource_id, "tm-test");
        assert_int_equal(reply->heartbeat_response->timestamp, 4242);
        r->nslots = (int)sr->n_slots;
        for (size_t i = 0; i < sr->n_slots && i < 8; i++)
            r->slot_alloc[i] = sr->slots[i]->allocation_id.len == 16;
        r->nreports = (int)reply->heartbeat_response->n_task_reports;
        for (int i = 0; i < r->nreports && i < 8; i++) {
            const Cflink__UpdateTaskExecutionState *u =
                reply->heartbeat_response->task_reports[i];
            assert_int_equal(cf_rpc_id_get(&u->attempt_id, &r->rep_att[i]),
                             0);
            assert_int_equal(u->job_id.len, 16);
            r->rep_state[i] = u->state;
            r->rep_in[i] = u->records_in;
            r->rep_out[i] = u->records_out;
        }
    }
}

/* Send env as a request to the TaskManager and wait for the reply. */
static void
call(fx_t *fx, Cflink__Envelope *env, reply_t *r)
{
    memset(r, 0, sizeof *r);
    assert_non_null(fx->conn);
    assert_int_equal(cf_rpc_call(fx->conn, env, 5000, reply_cb, r), 0);
    assert_true(RUN_UNTIL(fx->loop, r->done, 6000));
}

static void
heartbeat(fx_t *fx, reply_t *r)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__HeartbeatRequest hb = CFLINK__HEARTBEAT_REQUEST__INIT;
    hb.timestamp = 4242;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST;
    env.heartbeat_request = &hb;
    call(fx, &env, r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->nslots, 2);
}

static void
request_slot(fx_t *fx, const cf_id_t *job, const cf_id_t *alloc, int slot,
             reply_t *r)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__RequestSlot rs = CFLINK__REQUEST_SLOT__INIT;
    rs.job_id = cf_rpc_id_bytes(job);
    rs.allocation_id = cf_rpc_id_bytes(alloc);
    rs.slot_index = slot;
    env.body_case = CFLINK__ENVELOPE__BODY_REQUEST_SLOT;
    env.request_slot = &rs;
    call(fx, &env, r);
}

static void
free_slot(fx_t *fx, const cf_id_t *alloc, reply_t *r)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__FreeSlot fs = CFLINK__FREE_SLOT__INIT;
    fs.allocation_id = cf_rpc_id_bytes(alloc);
    fs.cause = "test";
    env.body_case = CFLINK__ENVELOPE__BODY_FREE_SLOT;
    env.free_slot = &fs;
    call(fx, &env, r);
    assert_int_equal(r->status, 0);
}

static void
fx_setup(fx_t *fx, const char *hb_timeout)
{
    cf_error_t *err = NULL;
    char port[16], kv[512];

    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s/cf-tm-test.XXXXXX",
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
    assert_int_equal(cf_config_set(fx->cfg, "taskmanager.numberOfTaskSlots",
                                   "2", "test", &err),
                     0);
    assert_int_equal(cf_config_set(fx->cfg, "taskmanager.resource-id",
                                   "tm-test", "test", &err),
                     0);
    assert_int_equal(
        cf_config_set(fx->cfg, "taskmanager.host", "127.0.0.1", "test", &err),
        0);
    assert_int_equal(cf_config_set(fx->cfg, "taskmanager.memory.network.min",
                                   "8 mb", "test", &err),
                     0);
    assert_int_equal(cf_config_set(fx->cfg, "taskmanager.memory.network.max",
                                   "8 mb", "test", &err),
                     0);
    assert_int_equal(
        cf_config_set(fx->cfg, "blob.storage.directory", fx->dir, "test", &err),
        0);
    snprintf(kv, sizeof kv, "heartbeat.timeout=%s", hb_timeout);
    assert_int_equal(cf_config_set_kv(fx->cfg, kv, &err), 0);
    fx->tm = cf_tm_new(fx->loop, fx->cfg, &err);
    if (fx->tm == NULL)
        fail_msg("cf_tm_new: %s", cf_error_msg(err));
    assert_int_equal(cf_tm_start(fx->tm), 0);
    assert_true(RUN_UNTIL(fx->loop, fx->tm->registered, 5000));
    assert_int_equal(fx->registrations, 1);
    assert_int_equal(fx->reg_port, fx->tm->data_port);
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
    snprintf(cmd, sizeof cmd, "%s", fx->tm->blob_dir);
    assert_int_equal(access(cmd, F_OK), 0);
    cf_tm_destroy(fx->tm);
    /* The blob cache directory is gone, blob.storage.directory stays. */
    assert_int_equal(access(cmd, F_OK), -1);
    assert_int_equal(access(fx->dir, F_OK), 0);
    cf_rpc_server_destroy(fx->srv);
    cf_loop_destroy(fx->loop);
    cf_config_destroy(fx->cfg);
    cf_free(fx->blob);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* Slots                                                               */
/* ------------------------------------------------------------------ */

static void
test_slots(void **state)
{
    fx_t fx;
    reply_t r;
    cf_id_t job, alloc, alloc2;
    (void)state;

    fx_setup(&fx, "50 s");
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&alloc2);

    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0] + r.slot_alloc[1], 0);

    request_slot(&fx, &job, &alloc, 1, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_case, CFLINK__ENVELOPE__BODY_ACK);
    assert_true(RUN_UNTIL(fx.loop, fx.offers == 1, 2000));
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0], 0);
    assert_int_equal(r.slot_alloc[1], 1);

    /* Busy slot, bad index, reused allocation. */
    request_slot(&fx, &job, &alloc2, 1, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "Slot 1 is already allocated to job"));
    request_slot(&fx, &job, &alloc2, 5, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "out of range"));
    request_slot(&fx, &job, &alloc, 0, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "already used by slot 1"));

    /* Free it; freeing an unknown allocation is fine too. */
    free_slot(&fx, &alloc, &r);
    free_slot(&fx, &alloc2, &r);
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[1], 0);

    /* A declined offer frees the slot. */
    fx.decline = 1;
    request_slot(&fx, &job, &alloc2, 0, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.offers == 2, 2000));
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0], 0);
    fx_teardown(&fx);
}

/* Malformed requests are answered with errors; the TaskManager lives. */
static void
test_bad_requests(void **state)
{
    fx_t fx;
    reply_t r;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    Cflink__RequestSlot rs = CFLINK__REQUEST_SLOT__INIT;
    Cflink__BlobData bd = CFLINK__BLOB_DATA__INIT;
    uint8_t junk[5] = {1, 2, 3, 4, 5}, key[32] = {0};
    cf_id_t job, att, alloc;
    (void)state;

    fx_setup(&fx, "50 s");
    cf_id_random(&job);
    cf_id_random(&att);
    cf_id_random(&alloc);

    env.body_case = CFLINK__ENVELOPE__BODY_SUBMIT_TASK;
    env.submit_task = &st;
    st.job_id.data = junk;
    st.job_id.len = sizeof junk;
    call(&fx, &env, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "16 bytes"));

    st.job_id = cf_rpc_id_bytes(&job);
    st.attempt_id = cf_rpc_id_bytes(&att);
    st.allocation_id = cf_rpc_id_bytes(&alloc);
    call(&fx, &env, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "plugin key"));

    st.plugin_key.data = key;
    st.plugin_key.len = sizeof key;
    call(&fx, &env, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "No task slot allocated for job ID"));

    st.vertex_index = -3;
    call(&fx, &env, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "invalid vertex"));

    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    ct.attempt_id = cf_rpc_id_bytes(&att); /* unknown: Ack */
    call(&fx, &env, &r);
    assert_int_equal(r.status, 0);

    env.body_case = CFLINK__ENVELOPE__BODY_REQUEST_SLOT;
    env.request_slot = &rs;
    rs.job_id.data = junk;
    rs.job_id.len = 3;
    call(&fx, &env, &r);
    assert_true(r.status < 0);

    /* A message the TaskManager never expects as a request. */
    env.body_case = CFLINK__ENVELOPE__BODY_BLOB_DATA;
    env.blob_data = &bd;
    call(&fx, &env, &r);
    assert_true(r.status < 0);

    heartbeat(&fx, &r);
    assert_int_equal(fx.registrations, 1);
    fx_teardown(&fx);
}

/* ------------------------------------------------------------------ */
/* Deployment                                                          */
/* ------------------------------------------------------------------ */

typedef struct plug_s {
    char path[1024];
    uint8_t key[32];
    uint8_t *graph;
    size_t graph_len;
    char *args[8];
    int nargs;
} plug_t;

/* Build the JobGraph of tp_fail with args, as the JobManager would.
 * Returns 0 when the plugin is missing (skip). */
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

/* SubmitTask of vertex v (subtask 0) of the job in p; gate_from: the
 * producer attempt of the single input channel, or NULL. */
static void
submit(fx_t *fx, plug_t *p, const cf_id_t *job, const cf_id_t *alloc,
       const cf_id_t *att, int v, const cf_id_t *gate_from, reply_t *r)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
    Cflink__InputGateDescriptor gd = CFLINK__INPUT_GATE_DESCRIPTOR__INIT;
    Cflink__InputGateDescriptor *gdp = &gd;
    Cflink__InputChannelDescriptor cd = CFLINK__INPUT_CHANNEL_DESCRIPTOR__INIT;
    Cflink__InputChannelDescriptor *cdp = &cd;
    Cflink__ConfigEntry ce = CFLINK__CONFIG_ENTRY__INIT;
    Cflink__ConfigEntry *cep = &ce;

    st.job_id = cf_rpc_id_bytes(job);
    st.job_name = "test job";
    st.attempt_id = cf_rpc_id_bytes(att);
    st.vertex_index = v;
    st.subtask_index = 0;
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
    ce.key = "pipeline.name";
    ce.value = "from the job";
    st.config = &cep;
    st.n_config = 1;
    if (gate_from != NULL) {
        cd.producer_attempt_id = cf_rpc_id_bytes(gate_from);
        cd.output = 0;
        cd.subpartition = 0;
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

static int
att_index(fx_t *fx, const cf_id_t *id)
{
    for (int i = 0; i < MAX_ATT; i++)
        if (cf_id_is_zero(&fx->att[i])) {
            fx->att[i] = *id;
            fx->att_state[i] = -1;
            return i;
        }
    fail_msg("too many attempts");
    return -1;
}

static void
test_deploy_finish(void **state)
{
    static const char *const args[] = {"--mode", "map", "--at",
                                       "-1",     "--n", "5000"};
    fx_t fx;
    plug_t p;
    reply_t r;
    cf_id_t job, alloc, a0, a1, other;
    int i0, i1;
    char path[600], hex[65];
    (void)state;

    if (!plug_load(&p, args, 6))
        skip();
    fx_setup(&fx, "50 s");
    fx.blob = (uint8_t *)cf_file_read(p.path, &fx.blob_len);
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&a0);
    cf_id_random(&a1);
    cf_id_random(&other);
    i0 = att_index(&fx, &a0);
    i1 = att_index(&fx, &a1);

    request_slot(&fx, &job, &alloc, 0, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.offers == 1, 2000));

    /* Another job's allocation is refused with a message naming it. */
    submit(&fx, &p, &other, &alloc, &a0, 0, NULL, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "is allocated to job"));

    /* Consumer first: it waits for its producer's partition. */
    submit(&fx, &p, &job, &alloc, &a1, 1, &a0, &r);
    if (r.status < 0)
        fail_msg("submit consumer: %s", r.error);
    assert_true(fx.blob_gets >= 1);
    submit(&fx, &p, &job, &alloc, &a0, 0, NULL, &r);
    if (r.status < 0)
        fail_msg("submit source: %s", r.error);
    assert_int_equal(fx.blob_gets, 1); /* cached per job */

    assert_true(RUN_UNTIL(fx.loop,
                          fx.att_state[i0] == CF_EXEC_FINISHED &&
                              fx.att_state[i1] == CF_EXEC_FINISHED,
                          8000));
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 3000));
    /* The slot stays allocated (and the job cached) until freed. */
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0], 1);
    assert_non_null(fx.tm->jobs);
    free_slot(&fx, &alloc, &r);
    assert_null(fx.tm->jobs);
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0], 0);

    /* The plugin is in the cache under its key. */
    cf_tm_sha256_hex(fx.blob, fx.blob_len, hex);
    snprintf(path, sizeof path, "%s/cflink-tm-blobs-tm-test/%s.so", fx.dir,
             hex);
    assert_int_equal(access(path, R_OK), 0);
    fx_teardown(&fx);
    cf_free(p.graph);
}

/* The report of attempt id in a heartbeat reply, or -1. */
static int
report_of(const reply_t *r, const cf_id_t *id)
{
    for (int i = 0; i < r->nreports && i < 8; i++)
        if (cf_id_equal(&r->rep_att[i], id))
            return i;
    return -1;
}

static void
test_cancel_and_loss(void **state)
{
    static const char *const args[] = {"--mode", "map",         "--at",
                                       "-1",     "--unbounded", "true"};
    fx_t fx;
    plug_t p;
    reply_t r;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    cf_id_t job, alloc, alloc1, a0, a1, b0, b1;
    int i0, i1;
    (void)state;

    if (!plug_load(&p, args, 6))
        skip();
    fx_setup(&fx, "50 s");
    fx.blob = (uint8_t *)cf_file_read(p.path, &fx.blob_len);
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&alloc1);
    cf_id_random(&a0);
    cf_id_random(&a1);
    cf_id_random(&b0);
    cf_id_random(&b1);
    i0 = att_index(&fx, &a0);
    i1 = att_index(&fx, &a1);

    request_slot(&fx, &job, &alloc, 0, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc, &a0, 0, NULL, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc, &a1, 1, &a0, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop,
                          fx.att_state[i0] == CF_EXEC_RUNNING &&
                              fx.att_state[i1] == CF_EXEC_RUNNING,
                          5000));
    /* Heartbeats carry the running tasks' counters, which grow. */
    {
        int k0, k1;
        int64_t out0, in1;
        heartbeat(&fx, &r);
        assert_int_equal(r.nreports, 2);
        k0 = report_of(&r, &a0);
        k1 = report_of(&r, &a1);
        assert_true(k0 >= 0 && k1 >= 0);
        assert_int_equal(r.rep_state[k0], CF_EXEC_RUNNING);
        assert_int_equal(r.rep_state[k1], CF_EXEC_RUNNING);
        out0 = r.rep_out[k0];
        in1 = r.rep_in[k1];
        assert_true(out0 >= 0 && in1 >= 0);
        RUN_UNTIL(fx.loop, 0, 200);
        heartbeat(&fx, &r);
        k0 = report_of(&r, &a0);
        k1 = report_of(&r, &a1);
        assert_true(k0 >= 0 && k1 >= 0);
        assert_true(r.rep_out[k0] > out0);
        assert_true(r.rep_in[k1] > in1);
    }
    /* Cancel the consumer: CANCELED; its producer then fails or is
     * cancelled by FreeSlot. */
    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    ct.attempt_id = cf_rpc_id_bytes(&a1);
    call(&fx, &env, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.att_state[i1] == CF_EXEC_CANCELED, 3000));
    free_slot(&fx, &alloc, &r);
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 3000));
    assert_true(cf_exec_state_is_terminal(fx.att_state[i0]));
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0], 0);
    assert_int_equal(r.nreports, 0); /* ended tasks are not reported */
    assert_null(fx.tm->jobs);

    /* Run again (the plugin is cached now), then drop the connection:
     * the tasks are cancelled, the slot freed, and the TaskManager
     * registers again. */
    request_slot(&fx, &job, &alloc1, 1, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc1, &b0, 0, NULL, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc1, &b1, 1, &b0, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(fx.blob_gets, 1);
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 2, 1000));
    cf_rpc_conn_close(fx.conn, "test drops the TaskManager");
    fx.conn = NULL;
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 5000));
    assert_true(RUN_UNTIL(fx.loop, fx.registrations == 2 && fx.conn, 5000));
    assert_true(RUN_UNTIL(fx.loop, fx.tm->registered, 2000));
    heartbeat(&fx, &r);
    assert_int_equal(r.slot_alloc[0] + r.slot_alloc[1], 0);
    fx_teardown(&fx);
    cf_free(p.graph);
}

static void
test_bad_blob(void **state)
{
    static const char *const args[] = {"--n", "10"};
    fx_t fx;
    plug_t p;
    reply_t r;
    cf_id_t job, alloc, a0, a1;
    (void)state;

    if (!plug_load(&p, args, 2))
        skip();
    fx_setup(&fx, "50 s");
    fx.blob = (uint8_t *)cf_file_read(p.path, &fx.blob_len);
    fx.corrupt = 1;
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&a0);
    cf_id_random(&a1);
    request_slot(&fx, &job, &alloc, 0, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc, &a0, 0, NULL, &r);
    assert_true(r.status < 0);
    assert_non_null(strstr(r.error, "SHA-256 mismatch"));
    assert_int_equal(fx.tm->ntasks, 0);
    /* Nothing was cached; a good copy then works. */
    fx.corrupt = 0;
    submit(&fx, &p, &job, &alloc, &a0, 0, NULL, &r);
    if (r.status < 0)
        fail_msg("%s", r.error);
    assert_int_equal(fx.blob_gets, 2);
    submit(&fx, &p, &job, &alloc, &a1, 1, &a0, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 5000));
    fx_teardown(&fx);
    cf_free(p.graph);
}

/* A task cancelled while its plugin downloads never runs: its
 * submission fails, the other one deploys. */
static void
test_cancel_pending(void **state)
{
    static const char *const args[] = {"--n", "10"};
    fx_t fx;
    plug_t p;
    reply_t r, sub0;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    cf_id_t job, alloc, a0, a1, a0b;
    int i0;
    (void)state;

    if (!plug_load(&p, args, 2))
        skip();
    fx_setup(&fx, "50 s");
    fx.blob = (uint8_t *)cf_file_read(p.path, &fx.blob_len);
    fx.hold_blob = 1;
    cf_id_random(&job);
    cf_id_random(&alloc);
    cf_id_random(&a0);
    cf_id_random(&a1);
    cf_id_random(&a0b);
    request_slot(&fx, &job, &alloc, 0, &r);
    assert_int_equal(r.status, 0);
    /* Submit without waiting: the reply comes after the download. */
    {
        Cflink__Envelope se = CFLINK__ENVELOPE__INIT;
        Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
        st.job_id = cf_rpc_id_bytes(&job);
        st.attempt_id = cf_rpc_id_bytes(&a0);
        st.allocation_id = cf_rpc_id_bytes(&alloc);
        st.plugin_key.data = p.key;
        st.plugin_key.len = 32;
        st.args = p.args;
        st.n_args = (size_t)p.nargs;
        st.parallelism = 1;
        st.job_graph.data = p.graph;
        st.job_graph.len = p.graph_len;
        se.body_case = CFLINK__ENVELOPE__BODY_SUBMIT_TASK;
        se.submit_task = &st;
        memset(&sub0, 0, sizeof sub0);
        assert_int_equal(cf_rpc_call(fx.conn, &se, 5000, reply_cb, &sub0), 0);
    }
    assert_true(RUN_UNTIL(fx.loop, fx.held_req != 0, 3000));
    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    ct.attempt_id = cf_rpc_id_bytes(&a0);
    call(&fx, &env, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, sub0.done, 2000));
    assert_true(sub0.status < 0);
    assert_non_null(strstr(sub0.error, "cancelled before it was deployed"));
    /* The download completes; the job is loaded and deploys normally. */
    fx.hold_blob = 0;
    blob_reply(&fx, fx.conn, fx.held_req, fx.held_off, fx.held_len);
    assert_true(RUN_UNTIL(fx.loop, fx.tm->npreparing == 0, 3000));
    i0 = att_index(&fx, &a0b);
    submit(&fx, &p, &job, &alloc, &a0b, 0, NULL, &r);
    assert_int_equal(r.status, 0);
    submit(&fx, &p, &job, &alloc, &a1, 1, &a0b, &r);
    assert_int_equal(r.status, 0);
    assert_true(RUN_UNTIL(fx.loop, fx.att_state[i0] == CF_EXEC_FINISHED, 5000));
    assert_true(RUN_UNTIL(fx.loop, fx.tm->ntasks == 0, 3000));
    fx_teardown(&fx);
    cf_free(p.graph);
}

/* No heartbeat for heartbeat.timeout: reconnect and register again; a
 * refused registration is retried. */
static void
test_heartbeat_timeout(void **state)
{
    fx_t fx;
    reply_t r;
    int64_t t0;
    (void)state;

    fx_setup(&fx, "400 ms");
    fx.refuse_next = 1;
    t0 = cf_mono_ms();
    assert_true(RUN_UNTIL(fx.loop, fx.closes >= 1, 3000));
    assert_true(cf_mono_ms() - t0 >= 300);
    /* Refused once, then accepted. */
    assert_true(
        RUN_UNTIL(fx.loop, fx.registrations >= 3 && fx.tm->registered, 6000));
    heartbeat(&fx, &r);
    fx_teardown(&fx);
}

int
main(void)
{
    /* A daemon ignores SIGPIPE (its main does); so must its test. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_deploy_finish),
        cmocka_unit_test(test_cancel_and_loss),
        cmocka_unit_test(test_bad_blob),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_heartbeat_timeout),
    };
    cf_log_set_level(getenv("CF_TEST_LOG") ? CF_LOGL_DEBUG : CF_LOGL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
