/*
 * test_rpc_conn.c: RPC connections on 127.0.0.1 (src/rpc): handshake,
 * calls and replies with real messages, one-way messages, error replies,
 * timeouts, pending calls failed by a close, protocol version refusal on
 * both sides, bad input closing only its own connection, split and
 * coalesced frames, client retry and reconnect, and callbacks that close
 * their own connection or destroy the server.
 *
 * The test drives the loop itself (uv_run on the test thread); raw peers
 * are plain non-blocking sockets polled between loop iterations.
 */
#include "rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"

/* ------------------------------------------------------------------ */
/* Loop driving                                                        */
/* ------------------------------------------------------------------ */

static void
noop_fn(void *arg)
{
    (void)arg;
}

/* Run the loop until cond holds or ms pass; the value of cond. */
#define RUN_UNTIL(loop, cond, ms)                                              \
    ({                                                                         \
        cf_timer_t *tick_ = cf_loop_timer((loop), 5, 5, noop_fn, NULL);        \
        int64_t end_ = cf_mono_ms() + (ms);                                    \
        while (!(cond) && cf_mono_ms() < end_)                                 \
            uv_run(cf_loop_uv(loop), UV_RUN_ONCE);                             \
        cf_timer_cancel(tick_);                                                \
        (cond) ? 1 : 0;                                                        \
    })

static void
run_for(cf_loop_t *loop, int64_t ms)
{
    RUN_UNTIL(loop, 0, ms);
}

/* ------------------------------------------------------------------ */
/* The server side: a tiny ResourceManager                             */
/* ------------------------------------------------------------------ */

typedef struct srv_s {
    cf_rpc_server_t *s;
    cf_loop_t *loop;
    int opens, closes, msgs, oneways;
    char hello_role[32], hello_id[32], hello_version[32];
    char close_reason[256];
    cf_rpc_conn_t *last; /* the connection of the last message */
    cf_rpc_conn_t *tm;   /* the connection of "tm-1" */
    uint64_t submit_req;
    int64_t heartbeat_ts;
    char tm_resource_id[64], tm_host[64];
    int tm_data_port, tm_slots, tm_slot_reports;
    int destroy_on_disconnect;
} srv_t;

static cf_id_t g_reg_id;

static void
srv_on_open(cf_rpc_conn_t *c, const Cflink__Hello *h, void *arg)
{
    srv_t *s = arg;
    s->opens++;
    snprintf(s->hello_role, sizeof(s->hello_role), "%s", h->role);
    snprintf(s->hello_id, sizeof(s->hello_id), "%s", h->id);
    snprintf(s->hello_version, sizeof(s->hello_version), "%s", h->version);
    assert_ptr_equal(cf_rpc_conn_hello(c), h);
    if (strcmp(h->id, "tm-1") == 0)
        s->tm = c;
    assert_true(cf_rpc_conn_is_open(c));
}

static void
srv_on_message(cf_rpc_conn_t *c, uint64_t req_id, const Cflink__Envelope *m,
               void *arg)
{
    srv_t *s = arg;
    s->msgs++;
    s->last = c;
    switch (m->body_case) {
    case CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR: {
        const Cflink__RegisterTaskExecutor *r = m->register_task_executor;
        snprintf(s->tm_resource_id, sizeof(s->tm_resource_id), "%s",
                 r->resource_id);
        snprintf(s->tm_host, sizeof(s->tm_host), "%s", r->host);
        s->tm_data_port = r->data_port;
        s->tm_slots = r->num_slots;
        s->tm_slot_reports = r->slot_report ? (int)r->slot_report->n_slots : -1;
        Cflink__RegistrationResponse rr = CFLINK__REGISTRATION_RESPONSE__INIT;
        rr.success = 1;
        rr.registration_id = cf_rpc_id_bytes(&g_reg_id);
        rr.jobmanager_id = "jm-1";
        Cflink__Envelope rep = CFLINK__ENVELOPE__INIT;
        rep.body_case = CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE;
        rep.registration_response = &rr;
        assert_true(req_id != 0);
        assert_int_equal(cf_rpc_reply(c, req_id, &rep), 0);
        break;
    }
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST:
        assert_int_equal(req_id, 0);
        s->oneways++;
        s->heartbeat_ts = m->heartbeat_request->timestamp;
        break;
    case CFLINK__ENVELOPE__BODY_FREE_SLOT:
        cf_rpc_reply_error(c, req_id, "slot %d is unknown", 3);
        break;
    case CFLINK__ENVELOPE__BODY_CANCEL_TASK: cf_rpc_reply_ack(c, req_id); break;
    case CFLINK__ENVELOPE__BODY_SUBMIT_TASK:
        s->submit_req = req_id; /* never answered in time */
        break;
    case CFLINK__ENVELOPE__BODY_DISCONNECT:
        /* Re-entrancy: close or destroy from inside the callback. */
        if (s->destroy_on_disconnect) {
            cf_rpc_server_destroy(s->s);
            s->s = NULL;
        } else {
            cf_rpc_conn_close(c, m->disconnect->reason);
        }
        break;
    default:
        if (req_id)
            cf_rpc_reply_error(c, req_id, "unexpected %s",
                               cf_rpc_body_name(m->body_case));
    }
}

static void
srv_on_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    srv_t *s = arg;
    (void)c;
    s->closes++;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    if (s->last == c)
        s->last = NULL;
    if (s->tm == c)
        s->tm = NULL;
}

static const cf_rpc_handler_t SRV_HANDLER = {srv_on_open, srv_on_message,
                                             srv_on_close};
static const cf_rpc_ident_t JM_IDENT = {"jobmanager", "jm-1", "0.1.0"};
static const cf_rpc_ident_t TM_IDENT = {"taskmanager", "tm-1", "0.1.0"};

static void
srv_start(srv_t *s, cf_loop_t *loop, int port)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    cf_error_t *err = NULL;
    s->s = cf_rpc_server_new(loop, "127.0.0.1", port, &JM_IDENT, &SRV_HANDLER,
                             s, &err);
    if (!s->s)
        fprintf(stderr, "%s\n", cf_error_msg(err));
    assert_non_null(s->s);
    assert_true(cf_rpc_server_port(s->s) > 0);
    if (port)
        assert_int_equal(cf_rpc_server_port(s->s), port);
}

/* ------------------------------------------------------------------ */
/* The client side                                                     */
/* ------------------------------------------------------------------ */

typedef struct cli_s {
    int opens, closes;
    char hello_role[32], hello_id[32];
    char close_reason[512];
    int close_self_on_close;
    cf_rpc_conn_t *c;
} cli_t;

static void
cli_on_open(cf_rpc_conn_t *c, const Cflink__Hello *h, void *arg)
{
    cli_t *k = arg;
    (void)c;
    k->opens++;
    snprintf(k->hello_role, sizeof(k->hello_role), "%s", h->role);
    snprintf(k->hello_id, sizeof(k->hello_id), "%s", h->id);
}

static void
cli_on_message(cf_rpc_conn_t *c, uint64_t req_id, const Cflink__Envelope *m,
               void *arg)
{
    (void)c;
    (void)req_id;
    (void)m;
    (void)arg;
}

static void
cli_on_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    cli_t *k = arg;
    k->closes++;
    snprintf(k->close_reason, sizeof(k->close_reason), "%s", reason);
    assert_false(cf_rpc_conn_is_open(c));
    if (k->close_self_on_close) {
        cf_rpc_conn_close(c, "done");
        k->c = NULL;
    }
}

static const cf_rpc_handler_t CLI_HANDLER = {cli_on_open, cli_on_message,
                                             cli_on_close};

/* A reply callback's record. */
typedef struct reply_s {
    int calls;
    int status;
    char error[512];
    int body_case;
    /* RegistrationResponse */
    int success;
    cf_id_t reg_id;
    int reg_id_rc;
    char jm_id[32];
} reply_t;

static void
reply_cb(cf_rpc_conn_t *c, int status, const char *error,
         const Cflink__Envelope *rep, void *arg)
{
    reply_t *r = arg;
    (void)c;
    r->calls++;
    r->status = status;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
    if (status < 0) {
        assert_null(rep);
        assert_non_null(error);
        return;
    }
    assert_non_null(rep);
    r->body_case = rep->body_case;
    if (rep->body_case == CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE) {
        r->success = rep->registration_response->success;
        r->reg_id_rc = cf_rpc_id_get(
            &rep->registration_response->registration_id, &r->reg_id);
        snprintf(r->jm_id, sizeof(r->jm_id), "%s",
                 rep->registration_response->jobmanager_id);
    }
}

static int
call_register(cf_rpc_conn_t *c, reply_t *r)
{
    Cflink__SlotStatus st0 = CFLINK__SLOT_STATUS__INIT, st1 = st0;
    st1.slot_index = 1;
    Cflink__SlotStatus *sts[2] = {&st0, &st1};
    Cflink__SlotReport rep = CFLINK__SLOT_REPORT__INIT;
    rep.n_slots = 2;
    rep.slots = sts;
    Cflink__RegisterTaskExecutor reg = CFLINK__REGISTER_TASK_EXECUTOR__INIT;
    reg.resource_id = "tm-1";
    reg.host = "127.0.0.1";
    reg.data_port = 40123;
    reg.num_slots = 2;
    reg.slot_report = &rep;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR;
    env.register_task_executor = &reg;
    memset(r, 0, sizeof(*r));
    return cf_rpc_call(c, &env, 5000, reply_cb, r);
}

static int
call_simple(cf_rpc_conn_t *c, int body_case, int64_t timeout_ms, reply_t *r)
{
    Cflink__SubmitTask st = CFLINK__SUBMIT_TASK__INIT;
    Cflink__FreeSlot fs = CFLINK__FREE_SLOT__INIT;
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = body_case;
    if (body_case == CFLINK__ENVELOPE__BODY_SUBMIT_TASK)
        env.submit_task = &st;
    else if (body_case == CFLINK__ENVELOPE__BODY_FREE_SLOT)
        env.free_slot = &fs;
    else
        env.cancel_task = &ct;
    memset(r, 0, sizeof(*r));
    return cf_rpc_call(c, &env, timeout_ms, reply_cb, r);
}

static int
send_disconnect(cf_rpc_conn_t *c, const char *reason)
{
    Cflink__Disconnect d = CFLINK__DISCONNECT__INIT;
    d.reason = (char *)reason;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = CFLINK__ENVELOPE__BODY_DISCONNECT;
    env.disconnect = &d;
    return cf_rpc_send(c, &env);
}

/* ------------------------------------------------------------------ */
/* Raw peers                                                           */
/* ------------------------------------------------------------------ */

static int
raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int
raw_local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ntohs(a.sin_port);
}

static void
raw_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static size_t
frame_pack(const Cflink__Envelope *env, uint8_t *out)
{
    size_t n = cflink__envelope__get_packed_size(env);
    uint32_t be = htonl((uint32_t)n);
    memcpy(out, &be, 4);
    cflink__envelope__pack(env, out + 4);
    return 4 + n;
}

static void
raw_send_env(int fd, const Cflink__Envelope *env)
{
    uint8_t buf[1024];
    assert_true(cflink__envelope__get_packed_size(env) + 4 <= sizeof(buf));
    raw_write(fd, buf, frame_pack(env, buf));
}

static void
raw_hello_env(Cflink__Envelope *env, Cflink__Hello *h, uint32_t version,
              uint64_t req_id, int response)
{
    cflink__hello__init(h);
    h->magic = CF_RPC_MAGIC;
    h->protocol_version = version;
    h->version = "9.9.9";
    h->role = response ? "jobmanager" : "taskmanager";
    h->id = response ? "jm-raw" : "tm-raw";
    cflink__envelope__init(env);
    env->request_id = req_id;
    env->is_response = response;
    env->body_case = CFLINK__ENVELOPE__BODY_HELLO;
    env->hello = h;
}

typedef struct rawbuf_s {
    int fd;
    uint8_t data[65536];
    size_t len;
    int eof; /* 1: EOF, -1: error (reset) */
} rawbuf_t;

/* Read what is available; 1 when the buffer holds a whole frame. */
static int
raw_poll(rawbuf_t *b)
{
    for (;;) {
        if (b->eof || b->len == sizeof(b->data))
            break;
        ssize_t n = read(b->fd, b->data + b->len, sizeof(b->data) - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            continue;
        }
        if (n == 0)
            b->eof = 1;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            b->eof = -1;
        break;
    }
    if (b->len < 4)
        return 0;
    uint32_t be;
    memcpy(&be, b->data, 4);
    return b->len >= 4 + (size_t)ntohl(be);
}

/* Take the first frame out of b. */
static Cflink__Envelope *
raw_take(rawbuf_t *b)
{
    uint32_t be;
    memcpy(&be, b->data, 4);
    size_t n = ntohl(be);
    Cflink__Envelope *env = cflink__envelope__unpack(NULL, n, b->data + 4);
    memmove(b->data, b->data + 4 + n, b->len - 4 - n);
    b->len -= 4 + n;
    return env;
}

static int
raw_closed(rawbuf_t *b)
{
    raw_poll(b);
    return b->eof != 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_handshake_and_calls(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    srv_t s;
    srv_start(&s, loop, 0);
    int port = cf_rpc_server_port(s.s);
    cli_t k;
    memset(&k, 0, sizeof(k));
    cf_rpc_conn_t *c = cf_rpc_connect(loop, "127.0.0.1", port, &TM_IDENT,
                                      &CLI_HANDLER, &k, 50, 0);
    assert_false(cf_rpc_conn_is_open(c));
    assert_null(cf_rpc_conn_hello(c));
    /* Not open yet: calls are refused. */
    reply_t r;
    assert_int_equal(call_register(c, &r), CF_EIO);
    assert_true(RUN_UNTIL(loop, k.opens == 1 && s.opens == 1, 5000));
    assert_true(cf_rpc_conn_is_open(c));

    /* Both sides saw the other's Hello. */
    assert_string_equal(k.hello_role, "jobmanager");
    assert_string_equal(k.hello_id, "jm-1");
    assert_string_equal(s.hello_role, "taskmanager");
    assert_string_equal(s.hello_id, "tm-1");
    assert_string_equal(s.hello_version, "0.1.0");
    assert_string_equal(cf_rpc_conn_hello(c)->id, "jm-1");
    char peer[64];
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
    assert_string_equal(cf_rpc_conn_peer(c), peer);
    int x = 7;
    cf_rpc_conn_set_udata(c, &x);
    assert_ptr_equal(cf_rpc_conn_udata(c), &x);

    /* A call with a real message, checked on both sides. */
    cf_id_random(&g_reg_id);
    assert_int_equal(call_register(c, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_case, CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE);
    assert_true(r.success);
    assert_int_equal(r.reg_id_rc, 0);
    assert_true(cf_id_equal(&r.reg_id, &g_reg_id));
    assert_string_equal(r.jm_id, "jm-1");
    assert_string_equal(s.tm_resource_id, "tm-1");
    assert_string_equal(s.tm_host, "127.0.0.1");
    assert_int_equal(s.tm_data_port, 40123);
    assert_int_equal(s.tm_slots, 2);
    assert_int_equal(s.tm_slot_reports, 2);
    /* The server connection's peer is the client's address. */
    assert_non_null(s.last);
    assert_int_equal(strncmp(cf_rpc_conn_peer(s.last), "127.0.0.1:", 10), 0);

    /* One-way message. */
    Cflink__HeartbeatRequest hb = CFLINK__HEARTBEAT_REQUEST__INIT;
    hb.timestamp = 42;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST;
    env.heartbeat_request = &hb;
    assert_int_equal(cf_rpc_send(c, &env), 0);
    assert_int_equal(env.request_id, 0);
    assert_true(RUN_UNTIL(loop, s.oneways == 1, 5000));
    assert_int_equal(s.heartbeat_ts, 42);

    /* An error reply reaches the callback with the peer's message. */
    assert_int_equal(call_simple(c, CFLINK__ENVELOPE__BODY_FREE_SLOT, 5000, &r),
                     0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, CF_EPROTO);
    assert_string_equal(r.error, "slot 3 is unknown");

    /* An Ack. */
    assert_int_equal(
        call_simple(c, CFLINK__ENVELOPE__BODY_CANCEL_TASK, 5000, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_case, CFLINK__ENVELOPE__BODY_ACK);

    /* A timeout, then the late reply is dropped (no second callback). */
    int64_t t0 = cf_mono_ms();
    assert_int_equal(
        call_simple(c, CFLINK__ENVELOPE__BODY_SUBMIT_TASK, 100, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_true(cf_mono_ms() - t0 >= 95);
    assert_int_equal(r.status, -ETIMEDOUT);
    char want[256];
    snprintf(want, sizeof(want),
             "RPC SubmitTask to 127.0.0.1:%d timed out after 100 ms", port);
    assert_string_equal(r.error, want);
    assert_true(s.submit_req != 0);
    assert_int_equal(cf_rpc_reply_ack(s.last, s.submit_req), 0);
    reply_t r2;
    assert_int_equal(
        call_simple(c, CFLINK__ENVELOPE__BODY_CANCEL_TASK, 5000, &r2), 0);
    assert_true(RUN_UNTIL(loop, r2.calls == 1, 5000));
    assert_int_equal(r.calls, 1);

    /* Pending calls fail when the server goes away. */
    reply_t p1, p2;
    assert_int_equal(call_simple(c, CFLINK__ENVELOPE__BODY_SUBMIT_TASK, 0, &p1),
                     0);
    assert_int_equal(
        call_simple(c, CFLINK__ENVELOPE__BODY_SUBMIT_TASK, 5000, &p2), 0);
    assert_true(RUN_UNTIL(loop, s.msgs >= 8, 5000));
    cf_rpc_server_destroy(s.s);
    assert_int_equal(s.closes, 1); /* the server side's on_close */
    assert_string_equal(s.close_reason, "the RPC server shut down");
    assert_true(RUN_UNTIL(loop, p1.calls == 1 && p2.calls == 1, 5000));
    assert_int_equal(p1.status, CF_EIO);
    assert_int_equal(p2.status, CF_EIO);
    snprintf(want, sizeof(want), "connection to 127.0.0.1:%d closed: ", port);
    assert_int_equal(strncmp(p1.error, want, strlen(want)), 0);
    assert_int_equal(k.closes, 1);
    assert_false(cf_rpc_conn_is_open(c));
    assert_int_equal(cf_rpc_send(c, &env), CF_EIO);
    cf_rpc_conn_close(c, "test done");
    run_for(loop, 20);
    cf_loop_destroy(loop);
}

/* Closing with calls pending fails them at once; the client gets no
 * on_close of its own making. */
static void
test_close_with_pending(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    srv_t s;
    srv_start(&s, loop, 0);
    cli_t k;
    memset(&k, 0, sizeof(k));
    cf_rpc_conn_t *c =
        cf_rpc_connect(loop, "localhost", cf_rpc_server_port(s.s), &TM_IDENT,
                       &CLI_HANDLER, &k, 50, 1);
    assert_true(RUN_UNTIL(loop, k.opens == 1 && s.opens == 1, 5000));
    reply_t r;
    assert_int_equal(
        call_simple(c, CFLINK__ENVELOPE__BODY_SUBMIT_TASK, 5000, &r), 0);
    cf_rpc_conn_close(c, "shutting down");
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, CF_EIO);
    assert_int_equal(strncmp(r.error, "connection to localhost:", 24), 0);
    assert_non_null(strstr(r.error, "closed: shutting down"));
    assert_int_equal(k.closes, 0);
    /* The server side sees the close. */
    assert_true(RUN_UNTIL(loop, s.closes == 1, 5000));
    cf_rpc_server_destroy(s.s);
    run_for(loop, 20);
    cf_loop_destroy(loop);
}

/* A raw client of another protocol version is refused with both versions. */
static void
test_version_mismatch_server(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    srv_t s;
    srv_start(&s, loop, 0);
    int port = cf_rpc_server_port(s.s);
    rawbuf_t b;
    memset(&b, 0, sizeof(b));
    b.fd = raw_connect(port);
    Cflink__Envelope env;
    Cflink__Hello h;
    raw_hello_env(&env, &h, CF_RPC_PROTOCOL_VERSION + 1, 1, 0);
    raw_send_env(b.fd, &env);
    assert_true(RUN_UNTIL(loop, raw_poll(&b), 5000));
    Cflink__Envelope *rep = raw_take(&b);
    assert_non_null(rep);
    assert_true(rep->is_response);
    assert_int_equal(rep->request_id, 1);
    char want[256];
    snprintf(want, sizeof(want),
             "Refusing connection from 127.0.0.1:%d: protocol version %d of "
             "taskmanager tm-raw does not match protocol version %d of this "
             "jobmanager",
             raw_local_port(b.fd), CF_RPC_PROTOCOL_VERSION + 1,
             CF_RPC_PROTOCOL_VERSION);
    assert_string_equal(rep->error, want);
    cflink__envelope__free_unpacked(rep, NULL);
    /* ... and the connection is closed. */
    assert_true(RUN_UNTIL(loop, raw_closed(&b), 5000));
    assert_int_equal(s.opens, 0);
    assert_int_equal(s.closes, 0);
    close(b.fd);
    cf_rpc_server_destroy(s.s);
    run_for(loop, 20);
    cf_loop_destroy(loop);
}

/* A raw server refuses our client: on_close gets the refusal. It also
 * checks the client's Hello as sent on the wire. */
static void
test_version_mismatch_client(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(ls, 8), 0);
    fcntl(ls, F_SETFL, fcntl(ls, F_GETFL) | O_NONBLOCK);
    int port = raw_local_port(ls);

    cli_t k;
    memset(&k, 0, sizeof(k));
    cf_rpc_conn_t *c = cf_rpc_connect(loop, "127.0.0.1", port, &TM_IDENT,
                                      &CLI_HANDLER, &k, 50, 0);
    rawbuf_t b;
    memset(&b, 0, sizeof(b));
    b.fd = -1;
    assert_true(RUN_UNTIL(
        loop, (b.fd = b.fd >= 0 ? b.fd : accept(ls, NULL, NULL)) >= 0, 5000));
    fcntl(b.fd, F_SETFL, fcntl(b.fd, F_GETFL) | O_NONBLOCK);
    assert_true(RUN_UNTIL(loop, raw_poll(&b), 5000));
    Cflink__Envelope *hello = raw_take(&b);
    assert_non_null(hello);
    assert_int_equal(hello->body_case, CFLINK__ENVELOPE__BODY_HELLO);
    assert_false(hello->is_response);
    assert_true(hello->request_id != 0);
    assert_string_equal(hello->hello->magic, "cflink-rpc");
    assert_int_equal(hello->hello->protocol_version, CF_RPC_PROTOCOL_VERSION);
    assert_string_equal(hello->hello->role, "taskmanager");
    assert_string_equal(hello->hello->id, "tm-1");
    assert_string_equal(hello->hello->version, "0.1.0");

    const char *refusal = "Refusing connection from 127.0.0.1:1: protocol "
                          "version 1 of taskmanager tm-1 does not match "
                          "protocol version 2 of this jobmanager";
    Cflink__Envelope rep = CFLINK__ENVELOPE__INIT;
    rep.request_id = hello->request_id;
    rep.is_response = 1;
    rep.error = (char *)refusal;
    cflink__envelope__free_unpacked(hello, NULL);
    raw_send_env(b.fd, &rep);
    assert_true(RUN_UNTIL(loop, k.closes == 1, 5000));
    assert_string_equal(k.close_reason, refusal);
    assert_int_equal(k.opens, 0);
    /* Without reconnect, no new attempt. */
    run_for(loop, 200);
    assert_true(accept(ls, NULL, NULL) < 0);
    close(b.fd);

    /* A server answering with another protocol version's Hello is
     * refused by the client. */
    cf_rpc_conn_close(c, "again");
    memset(&k, 0, sizeof(k));
    c = cf_rpc_connect(loop, "127.0.0.1", port, &TM_IDENT, &CLI_HANDLER, &k, 50,
                       0);
    memset(&b, 0, sizeof(b));
    b.fd = -1;
    assert_true(RUN_UNTIL(
        loop, (b.fd = b.fd >= 0 ? b.fd : accept(ls, NULL, NULL)) >= 0, 5000));
    fcntl(b.fd, F_SETFL, fcntl(b.fd, F_GETFL) | O_NONBLOCK);
    assert_true(RUN_UNTIL(loop, raw_poll(&b), 5000));
    hello = raw_take(&b);
    Cflink__Envelope env;
    Cflink__Hello h;
    raw_hello_env(&env, &h, CF_RPC_PROTOCOL_VERSION + 2, hello->request_id, 1);
    cflink__envelope__free_unpacked(hello, NULL);
    raw_send_env(b.fd, &env);
    assert_true(RUN_UNTIL(loop, k.closes == 1, 5000));
    char want[256];
    snprintf(want, sizeof(want),
             "Refusing connection to 127.0.0.1:%d: protocol version %d of "
             "jobmanager jm-raw does not match protocol version %d of this "
             "taskmanager",
             port, CF_RPC_PROTOCOL_VERSION + 2, CF_RPC_PROTOCOL_VERSION);
    assert_string_equal(k.close_reason, want);
    assert_true(RUN_UNTIL(loop, raw_closed(&b), 5000));
    close(b.fd);
    cf_rpc_conn_close(c, "done");
    close(ls);
    run_for(loop, 20);
    cf_loop_destroy(loop);
}

/* Bad input closes only its own connection; split and coalesced frames
 * are reassembled. */
static void
test_bad_input(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    srv_t s;
    srv_start(&s, loop, 0);
    int port = cf_rpc_server_port(s.s);
    cli_t k;
    memset(&k, 0, sizeof(k));
    cf_rpc_conn_t *c = cf_rpc_connect(loop, "127.0.0.1", port, &TM_IDENT,
                                      &CLI_HANDLER, &k, 50, 0);
    assert_true(RUN_UNTIL(loop, k.opens == 1, 5000));

    rawbuf_t bad[4];
    memset(bad, 0, sizeof(bad));
    for (int i = 0; i < 4; i++)
        bad[i].fd = raw_connect(port);
    /* 0: garbage (an HTTP request: its "length" is about 1.2 GB). */
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_write(bad[0].fd, http, strlen(http));
    /* 1: a length prefix over the maximum frame size. */
    uint32_t big = htonl(CF_RPC_MAX_FRAME_DEFAULT + 1);
    raw_write(bad[1].fd, &big, 4);
    /* 2: a frame that is not an Envelope. */
    uint8_t junk[9] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};
    raw_write(bad[2].fd, junk, sizeof(junk));
    /* 3: a valid message before the handshake. */
    Cflink__HeartbeatRequest hb = CFLINK__HEARTBEAT_REQUEST__INIT;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST;
    env.heartbeat_request = &hb;
    raw_send_env(bad[3].fd, &env);
    for (int i = 0; i < 4; i++) {
        assert_true(RUN_UNTIL(loop, raw_closed(&bad[i]), 5000));
        close(bad[i].fd);
    }
    /* A large frame (1 MiB, under the maximum) before the handshake is
     * refused at once, not buffered until the handshake times out
     * (10 s). */
    rawbuf_t pre;
    memset(&pre, 0, sizeof(pre));
    pre.fd = raw_connect(port);
    uint32_t mib = htonl(1u << 20);
    raw_write(pre.fd, &mib, 4);
    raw_write(pre.fd, junk, sizeof(junk));
    assert_true(RUN_UNTIL(loop, raw_closed(&pre), 1000));
    close(pre.fd);
    assert_int_equal(s.opens, 1);
    assert_int_equal(s.msgs, 0);

    /* The good client still works. */
    assert_true(cf_rpc_conn_is_open(c));
    reply_t r;
    assert_int_equal(call_register(c, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, 0);
    assert_true(r.success);

    /* A raw peer: handshake, then frames split and coalesced. */
    rawbuf_t g;
    memset(&g, 0, sizeof(g));
    g.fd = raw_connect(port);
    Cflink__Hello h;
    raw_hello_env(&env, &h, CF_RPC_PROTOCOL_VERSION, 5, 0);
    raw_send_env(g.fd, &env);
    assert_true(RUN_UNTIL(loop, raw_poll(&g), 5000));
    Cflink__Envelope *rep = raw_take(&g);
    assert_true(rep->is_response);
    assert_int_equal(rep->request_id, 5);
    assert_int_equal(rep->body_case, CFLINK__ENVELOPE__BODY_HELLO);
    assert_string_equal(rep->hello->role, "jobmanager");
    assert_string_equal(rep->hello->id, "jm-1");
    cflink__envelope__free_unpacked(rep, NULL);
    assert_int_equal(s.opens, 2);

    uint8_t buf[256];
    size_t n = 0;
    cflink__envelope__init(&env);
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST;
    env.heartbeat_request = &hb;
    for (int i = 1; i <= 3; i++) {
        hb.timestamp = 1000 + i;
        n += frame_pack(&env, buf + n);
    }
    /* Three frames: write them cut at odd places, a byte at a time at
     * first, then the rest coalesced. */
    raw_write(g.fd, buf, 1);
    run_for(loop, 20);
    raw_write(g.fd, buf + 1, 2);
    run_for(loop, 20);
    raw_write(g.fd, buf + 3, 4);
    run_for(loop, 20);
    assert_int_equal(s.oneways, 0);
    raw_write(g.fd, buf + 7, n - 7);
    assert_true(RUN_UNTIL(loop, s.oneways == 3, 5000));
    assert_int_equal(s.heartbeat_ts, 1003);
    /* A request from the raw peer is answered with its id. */
    Cflink__CancelTask ct = CFLINK__CANCEL_TASK__INIT;
    cflink__envelope__init(&env);
    env.request_id = 77;
    env.body_case = CFLINK__ENVELOPE__BODY_CANCEL_TASK;
    env.cancel_task = &ct;
    raw_send_env(g.fd, &env);
    assert_true(RUN_UNTIL(loop, raw_poll(&g), 5000));
    rep = raw_take(&g);
    assert_true(rep->is_response);
    assert_int_equal(rep->request_id, 77);
    assert_int_equal(rep->body_case, CFLINK__ENVELOPE__BODY_ACK);
    cflink__envelope__free_unpacked(rep, NULL);
    close(g.fd);
    assert_true(RUN_UNTIL(loop, s.closes == 1, 5000));

    /* A frame over a lowered maximum closes the connection. */
    assert_non_null(s.tm);
    cf_rpc_conn_set_max_frame(s.tm, 16);
    memset(&r, 0, sizeof(r));
    assert_int_equal(call_register(c, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1 && k.closes == 1, 5000));
    assert_int_equal(r.status, CF_EIO);
    cf_rpc_conn_close(c, "done");
    cf_rpc_server_destroy(s.s);
    run_for(loop, 20);
    cf_loop_destroy(loop);
}

/* Connect before the server exists, then reconnect after it restarts on
 * the same port. */
static void
test_retry_and_reconnect(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    srv_t s;
    srv_start(&s, loop, 0);
    int port = cf_rpc_server_port(s.s);
    cf_rpc_server_destroy(s.s);
    run_for(loop, 20);

    cli_t k;
    memset(&k, 0, sizeof(k));
    cf_rpc_conn_t *c = cf_rpc_connect(loop, "localhost", port, &TM_IDENT,
                                      &CLI_HANDLER, &k, 50, 1);
    run_for(loop, 300);
    assert_int_equal(k.opens, 0);
    assert_int_equal(k.closes, 0); /* connect failures are not closes */

    srv_start(&s, loop, port);
    assert_true(RUN_UNTIL(loop, k.opens == 1 && s.opens == 1, 5000));
    reply_t r;
    assert_int_equal(call_register(c, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, 0);

    /* The server goes away and comes back. */
    cf_rpc_server_destroy(s.s);
    assert_true(RUN_UNTIL(loop, k.closes == 1, 5000));
    run_for(loop, 200);
    assert_int_equal(k.opens, 1);
    srv_start(&s, loop, port);
    assert_true(RUN_UNTIL(loop, k.opens == 2 && s.opens == 1, 5000));
    assert_int_equal(call_register(c, &r), 0);
    assert_true(RUN_UNTIL(loop, r.calls == 1, 5000));
    assert_int_equal(r.status, 0);
    assert_true(r.success);

    /* The server closes the connection from inside on_message; the
     * client reconnects. */
    assert_int_equal(send_disconnect(c, "go away"), 0);
    assert_true(RUN_UNTIL(loop, k.closes == 2 && s.closes == 1, 5000));
    assert_string_equal(s.close_reason, "go away");
    assert_true(RUN_UNTIL(loop, k.opens == 3, 5000));

    /* The server is destroyed from inside on_message; the client closes
     * itself from inside on_close. */
    s.destroy_on_disconnect = 1;
    k.close_self_on_close = 1;
    k.c = c;
    assert_int_equal(send_disconnect(c, "die"), 0);
    assert_true(RUN_UNTIL(loop, s.s == NULL && k.c == NULL, 5000));
    assert_int_equal(s.closes, 2);
    assert_int_equal(k.closes, 3);
    run_for(loop, 100);
    assert_int_equal(k.opens, 3);
    cf_loop_destroy(loop);
}

/* Closing a client that never connected, and a server with connections
 * in the handshake, leaves nothing behind (ASan checks). */
static void
test_close_early(void **state)
{
    (void)state;
    cf_loop_t *loop = cf_loop_new("rpc-test");
    cli_t k;
    memset(&k, 0, sizeof(k));
    /* Close while resolving. */
    cf_rpc_conn_t *c = cf_rpc_connect(loop, "localhost", 1, &TM_IDENT,
                                      &CLI_HANDLER, &k, 10, 1);
    cf_rpc_conn_close(c, "early");
    /* Close while retrying. */
    c = cf_rpc_connect(loop, "127.0.0.1", 1, &TM_IDENT, &CLI_HANDLER, &k, 10,
                       1);
    run_for(loop, 100);
    cf_rpc_conn_close(c, "later");
    /* A server with a half-open raw connection. */
    srv_t s;
    srv_start(&s, loop, 0);
    int fd = raw_connect(cf_rpc_server_port(s.s));
    run_for(loop, 50);
    cf_rpc_server_destroy(s.s);
    run_for(loop, 20);
    close(fd);
    assert_int_equal(k.opens + k.closes, 0);
    cf_loop_destroy(loop);

    /* Names of bodies. */
    assert_string_equal(
        cf_rpc_body_name(CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR),
        "RegisterTaskExecutor");
    assert_string_equal(cf_rpc_body_name(CFLINK__ENVELOPE__BODY_SUBMIT_TASK),
                        "SubmitTask");
    assert_string_equal(cf_rpc_body_name(CFLINK__ENVELOPE__BODY_HELLO),
                        "Hello");
    assert_non_null(cf_rpc_body_name(999));
    /* Ids. */
    cf_id_t id, back;
    cf_id_random(&id);
    ProtobufCBinaryData bd = cf_rpc_id_bytes(&id);
    assert_int_equal(cf_rpc_id_get(&bd, &back), 0);
    assert_true(cf_id_equal(&id, &back));
    bd.len = 3;
    assert_int_equal(cf_rpc_id_get(&bd, &back), CF_EPROTO);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_calls),
        cmocka_unit_test(test_close_with_pending),
        cmocka_unit_test(test_version_mismatch_server),
        cmocka_unit_test(test_version_mismatch_client),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_retry_and_reconnect),
        cmocka_unit_test(test_close_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
