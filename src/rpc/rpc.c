/*
 * rpc.c: framed protobuf RPC over TCP on a control loop: connections
 * (client and accepted), framing, the Hello handshake, requests with ids
 * and timeouts, client retry and reconnect, and the server.
 *
 * Design (docs/internals/rpc.md has the long version). A connection object
 * (cf_rpc_conn_t) outlives its sockets: a client connection opens a new
 * socket at every (re)connect. Each socket is a heap `sock_t` holding the
 * uv_tcp_t, freed in its close callback; the connection detaches from a
 * socket by clearing sock->c, after which libuv callbacks still in flight
 * (reads, writes, connect) see NULL and do nothing. Resolution requests
 * are detached the same way. So closing a connection never waits for libuv.
 *
 * Re-entrancy: every path that calls user code holds a reference on the
 * connection (conn_keep/conn_release), so a callback may close the
 * connection or destroy the server; the object is freed when the last
 * reference goes, and callers check c->sock / c->closed after each call.
 *
 * Frames: [u32 big-endian length][Envelope]. Writes: one malloc'd buffer
 * per frame (the uv_write_t, the prefix and the packed message together).
 * Reads: libuv reads straight into the connection's growable buffer; the
 * complete frames in it are dispatched, the rest is kept for the next read.
 */
#include "rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>

#define RPC_HANDSHAKE_TIMEOUT_MS 10000
#define RPC_READ_CHUNK 65536
#define RPC_LOG_EVERY 10 /* connect failures logged at INFO once per N */
/* Largest frame accepted before the handshake: a Hello is a few hundred
 * bytes, so a peer that has not said who it is cannot make us buffer
 * max_frame bytes per connection. */
#define RPC_HELLO_MAX_FRAME 65536
/* Replies are dropped while this many bytes (beyond max_frame) wait to
 * be written to the peer: a peer that sends requests (BlobGet: 1 MiB per
 * answer) without reading the answers cannot grow our memory. */
#define RPC_REPLY_BACKLOG (16u * 1024 * 1024)

typedef enum conn_state_e {
    ST_IDLE,       /* client: waiting to (re)connect, or dead */
    ST_RESOLVING,  /* client: uv_getaddrinfo in flight */
    ST_CONNECTING, /* client: uv_tcp_connect in flight */
    ST_HANDSHAKE,  /* connected, Hello not yet exchanged */
    ST_OPEN,
    ST_CLOSED, /* closed for good */
} conn_state_t;

typedef struct sock_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    cf_rpc_conn_t *c; /* NULL once detached */
} sock_t;

typedef struct gai_s {
    uv_getaddrinfo_t req;
    cf_rpc_conn_t *c; /* NULL once detached */
} gai_t;

typedef struct wreq_s {
    uv_write_t req;
    sock_t *sock;
    size_t len;
    uint8_t data[];
} wreq_t;

typedef struct pending_s {
    struct pending_s *prev, *next;
    cf_rpc_conn_t *c;
    uint64_t id;
    int body_case;
    int64_t timeout_ms;
    cf_timer_t *timer;
    cf_rpc_reply_cb cb;
    void *arg;
} pending_t;

typedef struct ident_s {
    char *role, *id, *version;
} ident_t;

struct cf_rpc_conn_s {
    cf_loop_t *loop;
    cf_rpc_server_t *server; /* accepted connections, until closed */
    struct cf_rpc_conn_s *srv_prev, *srv_next;
    int is_client;
    int refs;
    int closed; /* cf_rpc_conn_close() or a server connection lost */
    conn_state_t state;
    char *host; /* client: the target */
    int port;
    char *peer; /* "host:port" */
    ident_t ident;
    cf_rpc_handler_t h;
    void *arg;
    void *udata;
    int64_t retry_ms;
    int reconnect;
    int failures; /* consecutive connect failures */
    int backlog_warned; /* a reply was dropped (logged once) */
    uint32_t max_frame;

    sock_t *sock;
    gai_t *gai;
    cf_timer_t *retry_timer;
    cf_timer_t *hs_timer;
    uint64_t hello_req_id; /* client: the id of our Hello request */

    uint8_t *rbuf;
    size_t rlen, rcap;

    Cflink__Envelope *hello_env; /* the peer's Hello (unpacked) */
    uint64_t next_req_id;
    pending_t pending; /* list head */
};

struct cf_rpc_server_s {
    cf_loop_t *loop;
    uv_tcp_t *listener; /* data: the server, NULL after destroy */
    ident_t ident;
    cf_rpc_handler_t h;
    void *arg;
    int port;
    int destroying;
    cf_rpc_conn_t *conns; /* accepted connections */
};

static void conn_lost(cf_rpc_conn_t *c, const char *reason);
static void client_start(cf_rpc_conn_t *c);
static void drop_sock(cf_rpc_conn_t *c, int graceful);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

const char *
cf_rpc_body_name(int body_case)
{
    if (body_case == CFLINK__ENVELOPE__BODY__NOT_SET)
        return "(empty)";
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &cflink__envelope__descriptor, (unsigned)body_case);
    if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || !f->descriptor)
        return "(unknown)";
    return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
}

ProtobufCBinaryData
cf_rpc_id_bytes(const cf_id_t *id)
{
    ProtobufCBinaryData b = {.len = sizeof(id->b), .data = (uint8_t *)id->b};
    return b;
}

int
cf_rpc_id_get(const ProtobufCBinaryData *b, cf_id_t *id)
{
    if (!b || b->len != sizeof(id->b) || !b->data)
        return CF_EPROTO;
    memcpy(id->b, b->data, sizeof(id->b));
    return 0;
}

static void
ident_copy(ident_t *d, const cf_rpc_ident_t *s)
{
    d->role = cf_strdup(s && s->role ? s->role : "");
    d->id = cf_strdup(s && s->id ? s->id : "");
    d->version = cf_strdup(s && s->version ? s->version : "");
}

static void
ident_free(ident_t *d)
{
    cf_free(d->role);
    cf_free(d->id);
    cf_free(d->version);
}

static char *
addr_str(const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, host, sizeof(host));
        port = ntohs(a->sin_port);
        return cf_asprintf("%s:%d", host, port);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, host, sizeof(host));
        port = ntohs(a->sin6_port);
        return cf_asprintf("[%s]:%d", host, port);
    }
    return cf_strdup("unknown");
}

/* ------------------------------------------------------------------ */
/* Connection object lifetime                                          */
/* ------------------------------------------------------------------ */

static cf_rpc_conn_t *
conn_alloc(cf_loop_t *loop, const cf_rpc_ident_t *ident,
           const cf_rpc_handler_t *handler, void *arg)
{
    cf_rpc_conn_t *c = CF_NEW(cf_rpc_conn_t);
    c->loop = loop;
    c->refs = 1; /* the owner's: dropped at close */
    ident_copy(&c->ident, ident);
    if (handler)
        c->h = *handler;
    c->arg = arg;
    c->max_frame = CF_RPC_MAX_FRAME_DEFAULT;
    c->pending.next = c->pending.prev = &c->pending;
    return c;
}

static void
conn_free_hello(cf_rpc_conn_t *c)
{
    if (c->hello_env) {
        cflink__envelope__free_unpacked(c->hello_env, NULL);
        c->hello_env = NULL;
    }
}

static void
conn_keep(cf_rpc_conn_t *c)
{
    c->refs++;
}

static void
conn_release(cf_rpc_conn_t *c)
{
    CF_ASSERT(c->refs > 0);
    if (--c->refs > 0)
        return;
    CF_ASSERT(!c->sock && !c->gai && !c->retry_timer && !c->hs_timer);
    CF_ASSERT(c->pending.next == &c->pending);
    conn_free_hello(c);
    cf_free(c->rbuf);
    cf_free(c->host);
    cf_free(c->peer);
    ident_free(&c->ident);
    cf_free(c);
}

static void
server_unlink(cf_rpc_conn_t *c)
{
    cf_rpc_server_t *s = c->server;
    if (!s)
        return;
    if (c->srv_prev)
        c->srv_prev->srv_next = c->srv_next;
    else
        s->conns = c->srv_next;
    if (c->srv_next)
        c->srv_next->srv_prev = c->srv_prev;
    c->srv_prev = c->srv_next = NULL;
    c->server = NULL;
}

/* Fail every pending call with CF_EIO. The list is taken first: a
 * callback may call again (and get CF_EIO) or close the connection. */
static void
fail_pending(cf_rpc_conn_t *c, const char *reason)
{
    if (c->pending.next == &c->pending)
        return;
    pending_t *first = c->pending.next;
    c->pending.prev->next = NULL;
    c->pending.next = c->pending.prev = &c->pending;
    char *msg = cf_asprintf("connection to %s closed: %s", c->peer, reason);
    for (pending_t *p = first; p;) {
        pending_t *next = p->next;
        cf_timer_cancel(p->timer);
        p->cb(c, CF_EIO, msg, NULL, p->arg);
        cf_free(p);
        p = next;
    }
    cf_free(msg);
}

/* ------------------------------------------------------------------ */
/* Sockets and writes                                                  */
/* ------------------------------------------------------------------ */

static void
sock_close_cb(uv_handle_t *h)
{
    cf_free(h->data);
}

static void
sock_close(sock_t *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->tcp))
        uv_close((uv_handle_t *)&s->tcp, sock_close_cb);
}

static sock_t *
sock_new(cf_rpc_conn_t *c)
{
    sock_t *s = CF_NEW(sock_t);
    int rc = uv_tcp_init(cf_loop_uv(c->loop), &s->tcp);
    CF_ASSERT(rc == 0);
    s->tcp.data = s;
    s->creq.data = s;
    s->c = c;
    return s;
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    sock_close(req->data);
    cf_free(req);
}

/* Detach the current socket; close it now, or after the queued writes
 * (graceful: an error reply or a Disconnect must reach the peer). */
static void
drop_sock(cf_rpc_conn_t *c, int graceful)
{
    cf_timer_cancel(c->hs_timer);
    c->hs_timer = NULL;
    sock_t *s = c->sock;
    c->rlen = 0;
    if (!s)
        return;
    c->sock = NULL;
    s->c = NULL;
    uv_read_stop((uv_stream_t *)&s->tcp);
    if (graceful && (c->state == ST_HANDSHAKE || c->state == ST_OPEN)) {
        uv_shutdown_t *req = cf_malloc(sizeof(*req));
        req->data = s;
        if (uv_shutdown(req, (uv_stream_t *)&s->tcp, shutdown_cb) == 0)
            return;
        cf_free(req);
    }
    sock_close(s);
}

static void
write_cb(uv_write_t *req, int status)
{
    wreq_t *w = req->data;
    sock_t *s = w->sock;
    cf_free(w);
    if (status < 0 && status != UV_ECANCELED && s->c) {
        char *why = cf_asprintf("write failed: %s", uv_strerror(status));
        conn_lost(s->c, why);
        cf_free(why);
    }
}

/* Encode env into one frame and queue it on the current socket. */
static int
write_env(cf_rpc_conn_t *c, const Cflink__Envelope *env)
{
    if (!c->sock)
        return CF_EIO;
    size_t n = cflink__envelope__get_packed_size(env);
    if (n > c->max_frame) {
        cf_log_error("RPC %s to %s not sent: its %zu bytes exceed the "
                     "maximum frame size of %u bytes",
                     cf_rpc_body_name(env->body_case), c->peer, n,
                     c->max_frame);
        return CF_EINVAL;
    }
    wreq_t *w = cf_malloc(sizeof(*w) + 4 + n);
    w->sock = c->sock;
    w->req.data = w;
    w->len = 4 + n;
    uint32_t be = htonl((uint32_t)n);
    memcpy(w->data, &be, 4);
    size_t packed = cflink__envelope__pack(env, w->data + 4);
    CF_ASSERT(packed == n);
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->sock->tcp, &buf, 1, write_cb);
    if (rc < 0) {
        cf_free(w);
        cf_log_debug("RPC write to %s failed: %s", c->peer, uv_strerror(rc));
        return CF_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Losing and closing connections                                      */
/* ------------------------------------------------------------------ */

static void
retry_fn(void *arg)
{
    cf_rpc_conn_t *c = arg;
    c->retry_timer = NULL;
    client_start(c);
}

static void
schedule_retry(cf_rpc_conn_t *c)
{
    c->state = ST_IDLE;
    if (c->closed || c->retry_timer)
        return;
    c->retry_timer = cf_loop_timer(c->loop, c->retry_ms > 0 ? c->retry_ms : 0,
                                   0, retry_fn, c);
}

/* The socket is gone (peer closed, protocol error, failed handshake):
 * fail the calls, tell the user, and retry or free. */
static void
conn_lost_ex(cf_rpc_conn_t *c, const char *reason, int graceful)
{
    if (c->closed || (c->state != ST_HANDSHAKE && c->state != ST_OPEN))
        return;
    conn_keep(c);
    conn_state_t was = c->state;
    drop_sock(c, graceful);
    c->state = c->is_client ? ST_IDLE : ST_CLOSED;
    if (was == ST_OPEN)
        cf_log_info("RPC connection %s %s closed: %s",
                    c->is_client ? "to" : "from", c->peer, reason);
    fail_pending(c, reason);
    if (!c->is_client) {
        c->closed = 1;
        server_unlink(c);
        if (was == ST_OPEN && c->h.on_close)
            c->h.on_close(c, reason, c->arg);
        conn_release(c); /* the owner's reference */
    } else {
        if (c->h.on_close)
            c->h.on_close(c, reason, c->arg);
        if (!c->closed && c->reconnect)
            schedule_retry(c);
    }
    conn_release(c);
}

static void
conn_lost(cf_rpc_conn_t *c, const char *reason)
{
    conn_lost_ex(c, reason, 0);
}

void
cf_rpc_conn_close(cf_rpc_conn_t *c, const char *reason)
{
    if (!c || c->closed)
        return;
    if (!reason)
        reason = "closed";
    conn_keep(c);
    c->closed = 1;
    conn_state_t was = c->state;
    cf_timer_cancel(c->retry_timer);
    c->retry_timer = NULL;
    if (c->gai) {
        c->gai->c = NULL;
        uv_cancel((uv_req_t *)&c->gai->req);
        c->gai = NULL;
    }
    drop_sock(c, 1);
    c->state = ST_CLOSED;
    if (was == ST_OPEN)
        cf_log_debug("Closing RPC connection %s %s: %s",
                     c->is_client ? "to" : "from", c->peer, reason);
    fail_pending(c, reason);
    if (!c->is_client) {
        server_unlink(c);
        if (was == ST_OPEN && c->h.on_close)
            c->h.on_close(c, reason, c->arg);
    }
    conn_release(c); /* the owner's reference */
    conn_release(c);
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */
/* ------------------------------------------------------------------ */

static void
hs_timeout_fn(void *arg)
{
    cf_rpc_conn_t *c = arg;
    c->hs_timer = NULL;
    char *why =
        cf_asprintf("no handshake within %d ms", RPC_HANDSHAKE_TIMEOUT_MS);
    cf_log_warn("RPC connection %s %s: %s; closing",
                c->is_client ? "to" : "from", c->peer, why);
    conn_lost(c, why);
    cf_free(why);
}

static void
fill_hello(cf_rpc_conn_t *c, Cflink__Hello *h)
{
    cflink__hello__init(h);
    h->magic = (char *)CF_RPC_MAGIC;
    h->protocol_version = CF_RPC_PROTOCOL_VERSION;
    h->version = c->ident.version;
    h->role = c->ident.role;
    h->id = c->ident.id;
}

/* NULL when the peer's hello is acceptable, else why not (malloc'd). */
static char *
check_hello(cf_rpc_conn_t *c, const Cflink__Hello *h)
{
    const char *dir = c->is_client ? "to" : "from";
    if (!h->magic || strcmp(h->magic, CF_RPC_MAGIC) != 0)
        return cf_asprintf("Refusing connection %s %s: not a cflink RPC "
                           "peer (bad magic)",
                           dir, c->peer);
    if (h->protocol_version != CF_RPC_PROTOCOL_VERSION)
        return cf_asprintf("Refusing connection %s %s: protocol version %u "
                           "of %s %s does not match protocol version %d of "
                           "this %s",
                           dir, c->peer, h->protocol_version,
                           h->role && *h->role ? h->role : "peer",
                           h->id ? h->id : "", CF_RPC_PROTOCOL_VERSION,
                           *c->ident.role ? c->ident.role : "process");
    return NULL;
}

static void
client_send_hello(cf_rpc_conn_t *c)
{
    Cflink__Hello h;
    fill_hello(c, &h);
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.request_id = c->hello_req_id = ++c->next_req_id;
    env.body_case = CFLINK__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    if (write_env(c, &env) < 0)
        conn_lost(c, "could not send the handshake");
}

static void
conn_opened(cf_rpc_conn_t *c, Cflink__Envelope *hello_env)
{
    cf_timer_cancel(c->hs_timer);
    c->hs_timer = NULL;
    conn_free_hello(c);
    c->hello_env = hello_env;
    c->state = ST_OPEN;
    c->failures = 0;
    const Cflink__Hello *h = hello_env->hello;
    cf_log_info("RPC connection %s %s established (%s %s, version %s)",
                c->is_client ? "to" : "from", c->peer, h->role, h->id,
                h->version);
    if (c->h.on_open)
        c->h.on_open(c, h, c->arg);
}

/* The first frame on a server connection. Takes env. */
static void
server_handshake(cf_rpc_conn_t *c, Cflink__Envelope *env)
{
    if (env->body_case != CFLINK__ENVELOPE__BODY_HELLO || !env->hello ||
        env->is_response || env->request_id == 0) {
        cf_log_warn("RPC connection from %s: received %s before the "
                    "handshake; closing",
                    c->peer, cf_rpc_body_name(env->body_case));
        cflink__envelope__free_unpacked(env, NULL);
        conn_lost(c, "message before the handshake");
        return;
    }
    char *why = check_hello(c, env->hello);
    if (why) {
        cf_log_error("%s", why);
        Cflink__Envelope rep = CFLINK__ENVELOPE__INIT;
        rep.request_id = env->request_id;
        rep.is_response = 1;
        rep.error = why;
        write_env(c, &rep);
        cflink__envelope__free_unpacked(env, NULL);
        conn_lost_ex(c, why, 1);
        cf_free(why);
        return;
    }
    Cflink__Hello h;
    fill_hello(c, &h);
    Cflink__Envelope rep = CFLINK__ENVELOPE__INIT;
    rep.request_id = env->request_id;
    rep.is_response = 1;
    rep.body_case = CFLINK__ENVELOPE__BODY_HELLO;
    rep.hello = &h;
    if (write_env(c, &rep) < 0) {
        cflink__envelope__free_unpacked(env, NULL);
        conn_lost(c, "could not answer the handshake");
        return;
    }
    conn_opened(c, env);
}

/* The answer to our Hello on a client connection. Takes env. */
static void
client_handshake(cf_rpc_conn_t *c, Cflink__Envelope *env)
{
    if (!env->is_response || env->request_id != c->hello_req_id) {
        cf_log_warn("RPC connection to %s: received %s before the "
                    "handshake; closing",
                    c->peer, cf_rpc_body_name(env->body_case));
        cflink__envelope__free_unpacked(env, NULL);
        conn_lost(c, "message before the handshake");
        return;
    }
    if (env->error && *env->error) {
        char *why = cf_strdup(env->error);
        cflink__envelope__free_unpacked(env, NULL);
        cf_log_error("%s", why);
        conn_lost(c, why);
        cf_free(why);
        return;
    }
    char *why = env->body_case == CFLINK__ENVELOPE__BODY_HELLO && env->hello
                    ? check_hello(c, env->hello)
                    : cf_asprintf("RPC connection to %s: the handshake was "
                                  "answered with %s",
                                  c->peer, cf_rpc_body_name(env->body_case));
    if (why) {
        cflink__envelope__free_unpacked(env, NULL);
        cf_log_error("%s", why);
        conn_lost(c, why);
        cf_free(why);
        return;
    }
    conn_opened(c, env);
}

/* ------------------------------------------------------------------ */
/* Reading and dispatching                                             */
/* ------------------------------------------------------------------ */

static void
pending_timeout_fn(void *arg)
{
    pending_t *p = arg;
    cf_rpc_conn_t *c = p->c;
    p->timer = NULL;
    p->prev->next = p->next;
    p->next->prev = p->prev;
    char *msg = cf_asprintf("RPC %s to %s timed out after %lld ms",
                            cf_rpc_body_name(p->body_case), c->peer,
                            (long long)p->timeout_ms);
    cf_log_debug("%s", msg);
    p->cb(c, -ETIMEDOUT, msg, NULL, p->arg);
    cf_free(msg);
    cf_free(p);
}

static void
handle_response(cf_rpc_conn_t *c, const Cflink__Envelope *env)
{
    pending_t *p = c->pending.next;
    while (p != &c->pending && p->id != env->request_id)
        p = p->next;
    if (p == &c->pending) {
        cf_log_debug("RPC reply %llu (%s) from %s matches no pending call; "
                     "dropped",
                     (unsigned long long)env->request_id,
                     cf_rpc_body_name(env->body_case), c->peer);
        return;
    }
    p->prev->next = p->next;
    p->next->prev = p->prev;
    cf_timer_cancel(p->timer);
    if (env->error && *env->error)
        p->cb(c, CF_EPROTO, env->error, NULL, p->arg);
    else
        p->cb(c, 0, NULL, env, p->arg);
    cf_free(p);
}

/* One decoded frame. Takes env. */
static void
dispatch(cf_rpc_conn_t *c, Cflink__Envelope *env)
{
    if (c->state == ST_HANDSHAKE) {
        if (c->is_client)
            client_handshake(c, env);
        else
            server_handshake(c, env);
        return;
    }
    if (env->is_response)
        handle_response(c, env);
    else if (c->h.on_message)
        c->h.on_message(c, env->request_id, env, c->arg);
    cflink__envelope__free_unpacked(env, NULL);
}

static void
protocol_error(cf_rpc_conn_t *c, const char *why)
{
    cf_log_warn("RPC connection %s %s: %s; closing",
                c->is_client ? "to" : "from", c->peer, why);
    conn_lost(c, why);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sock_t *s = h->data;
    cf_rpc_conn_t *c = s->c;
    if (!c) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    CF_GROW(&c->rbuf, &c->rcap, c->rlen + RPC_READ_CHUNK);
    *buf =
        uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void
read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sock_t *s = st->data;
    cf_rpc_conn_t *c = s->c;
    if (!c || nread == 0)
        return;
    if (nread < 0) {
        char *why = nread == UV_EOF ? cf_strdup("closed by the peer")
                                    : cf_asprintf("read failed: %s",
                                                  uv_strerror((int)nread));
        conn_lost(c, why);
        cf_free(why);
        return;
    }
    c->rlen += (size_t)nread;
    conn_keep(c);
    size_t pos = 0;
    while (c->sock == s && c->rlen - pos >= 4) {
        uint32_t be;
        memcpy(&be, c->rbuf + pos, 4);
        uint32_t len = ntohl(be);
        uint32_t max = c->state == ST_HANDSHAKE && RPC_HELLO_MAX_FRAME <
                                                       c->max_frame
                           ? RPC_HELLO_MAX_FRAME
                           : c->max_frame;
        if (len > max) {
            char *why = cf_asprintf("frame of %u bytes exceeds the maximum "
                                    "frame size of %u bytes%s",
                                    len, max,
                                    c->state == ST_HANDSHAKE
                                        ? " before the handshake"
                                        : "");
            protocol_error(c, why);
            cf_free(why);
            break;
        }
        if (c->rlen - pos - 4 < len)
            break;
        Cflink__Envelope *env =
            cflink__envelope__unpack(NULL, len, c->rbuf + pos + 4);
        pos += 4 + (size_t)len;
        if (!env) {
            protocol_error(c, "undecodable message");
            break;
        }
        dispatch(c, env);
    }
    if (c->sock == s) {
        /* Keep the incomplete frame for the next read. */
        if (pos > 0) {
            memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
            c->rlen -= pos;
        }
        if (c->rlen == 0 && c->rcap > 4 * RPC_READ_CHUNK) {
            cf_free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = 0;
        }
    }
    conn_release(c);
}

/* A connected socket (either side): read, and time the handshake. */
static int
sock_start(cf_rpc_conn_t *c)
{
    uv_tcp_nodelay(&c->sock->tcp, 1);
    uv_tcp_keepalive(&c->sock->tcp, 1, 60);
    c->state = ST_HANDSHAKE;
    c->rlen = 0;
    c->hs_timer =
        cf_loop_timer(c->loop, RPC_HANDSHAKE_TIMEOUT_MS, 0, hs_timeout_fn, c);
    return uv_read_start((uv_stream_t *)&c->sock->tcp, alloc_cb, read_cb);
}

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

static void
connect_failed(cf_rpc_conn_t *c, const char *why)
{
    c->failures++;
    int info = c->failures % RPC_LOG_EVERY == 1;
    if (info || cf_log_get_level() >= CF_LOGL_DEBUG)
        cf_log_write(info ? CF_LOGL_INFO : CF_LOGL_DEBUG, __FILE__, __LINE__,
                     "Could not connect to %s: %s. Retrying in %lld ms.",
                     c->peer, why, (long long)c->retry_ms);
    schedule_retry(c);
}

static void
connect_cb(uv_connect_t *req, int status)
{
    sock_t *s = req->data;
    cf_rpc_conn_t *c = s->c;
    if (!c)
        return; /* detached: the socket is closing */
    if (status < 0) {
        drop_sock(c, 0);
        connect_failed(c, uv_strerror(status));
        return;
    }
    int rc = sock_start(c);
    if (rc < 0) {
        drop_sock(c, 0);
        connect_failed(c, uv_strerror(rc));
        return;
    }
    client_send_hello(c);
}

static void
gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    gai_t *g = req->data;
    cf_rpc_conn_t *c = g->c;
    cf_free(g);
    if (!c) {
        uv_freeaddrinfo(res);
        return;
    }
    c->gai = NULL;
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        connect_failed(c, status < 0 ? uv_strerror(status)
                                     : "no address for host");
        return;
    }
    /* Prefer IPv4: servers listen on 0.0.0.0 or 127.0.0.1 by default. */
    const struct addrinfo *ai = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            ai = a;
            break;
        }
    }
    c->sock = sock_new(c);
    c->state = ST_CONNECTING;
    int rc =
        uv_tcp_connect(&c->sock->creq, &c->sock->tcp, ai->ai_addr, connect_cb);
    uv_freeaddrinfo(res);
    if (rc < 0) {
        drop_sock(c, 0);
        connect_failed(c, uv_strerror(rc));
    }
}

static void
client_start(cf_rpc_conn_t *c)
{
    if (c->closed)
        return;
    c->state = ST_RESOLVING;
    gai_t *g = CF_NEW(gai_t);
    g->req.data = g;
    g->c = c;
    c->gai = g;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->port);
    int rc = uv_getaddrinfo(cf_loop_uv(c->loop), &g->req, gai_cb, c->host, port,
                            &hints);
    if (rc < 0) {
        c->gai = NULL;
        cf_free(g);
        connect_failed(c, uv_strerror(rc));
    }
}

cf_rpc_conn_t *
cf_rpc_connect(cf_loop_t *loop, const char *host, int port,
               const cf_rpc_ident_t *ident, const cf_rpc_handler_t *handler,
               void *arg, int64_t retry_ms, int reconnect)
{
    cf_rpc_conn_t *c = conn_alloc(loop, ident, handler, arg);
    c->is_client = 1;
    c->host = cf_strdup(host && *host ? host : "localhost");
    c->port = port;
    c->peer = strchr(c->host, ':') ? cf_asprintf("[%s]:%d", c->host, port)
                                   : cf_asprintf("%s:%d", c->host, port);
    c->retry_ms = retry_ms;
    c->reconnect = reconnect;
    client_start(c);
    return c;
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

static void
listener_close_cb(uv_handle_t *h)
{
    cf_free(h);
}

static void
connection_cb(uv_stream_t *ls, int status)
{
    cf_rpc_server_t *srv = ls->data;
    if (!srv)
        return;
    if (status < 0) {
        cf_log_warn("RPC server on port %d: accept failed: %s", srv->port,
                    uv_strerror(status));
        return;
    }
    cf_rpc_ident_t id = {srv->ident.role, srv->ident.id, srv->ident.version};
    cf_rpc_conn_t *c = conn_alloc(srv->loop, &id, &srv->h, srv->arg);
    c->sock = sock_new(c);
    int rc = uv_accept(ls, (uv_stream_t *)&c->sock->tcp);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->sock->tcp, (struct sockaddr *)&ss, &sl);
    if (rc < 0) {
        cf_log_warn("RPC server on port %d: accept failed: %s", srv->port,
                    uv_strerror(rc));
        drop_sock(c, 0);
        c->closed = 1;
        conn_release(c);
        return;
    }
    c->peer = addr_str((struct sockaddr *)&ss);
    c->server = srv;
    c->srv_next = srv->conns;
    if (srv->conns)
        srv->conns->srv_prev = c;
    srv->conns = c;
    cf_log_debug("RPC connection from %s accepted", c->peer);
    rc = sock_start(c);
    if (rc < 0) {
        cf_log_warn("RPC connection from %s: %s", c->peer, uv_strerror(rc));
        conn_lost(c, uv_strerror(rc));
    }
}

cf_rpc_server_t *
cf_rpc_server_new(cf_loop_t *loop, const char *host, int port,
                  const cf_rpc_ident_t *ident, const cf_rpc_handler_t *handler,
                  void *arg, cf_error_t **errp)
{
    if (!host || !*host)
        host = "0.0.0.0";
    if (port < 0 || port > 65535) {
        cf_error_set(errp, CF_EINVAL, "Invalid RPC port %d", port);
        return NULL;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int gr = getaddrinfo(host, ps, &hints, &res);
    if (gr != 0 || !res) {
        cf_error_set(errp, CF_EINVAL,
                     "Could not resolve the RPC address %s: %s", host,
                     gai_strerror(gr));
        return NULL;
    }
    const struct addrinfo *ai = res;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            ai = a;
            break;
        }
    }
    cf_rpc_server_t *s = CF_NEW(cf_rpc_server_t);
    s->loop = loop;
    ident_copy(&s->ident, ident);
    if (handler)
        s->h = *handler;
    s->arg = arg;
    s->listener = CF_NEW(uv_tcp_t);
    uv_tcp_init(cf_loop_uv(loop), s->listener);
    s->listener->data = s;
    int rc = uv_tcp_bind(s->listener, ai->ai_addr, 0);
    freeaddrinfo(res);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)s->listener, 128, connection_cb);
    if (rc < 0) {
        cf_error_set(errp, rc, "Could not start the RPC server on %s:%d: %s",
                     host, port, uv_strerror(rc));
        s->listener->data = NULL;
        uv_close((uv_handle_t *)s->listener, listener_close_cb);
        ident_free(&s->ident);
        cf_free(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    uv_tcp_getsockname(s->listener, (struct sockaddr *)&ss, &sl);
    s->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    cf_log_info("RPC server listening on %s:%d", host, s->port);
    return s;
}

int
cf_rpc_server_port(const cf_rpc_server_t *s)
{
    return s->port;
}

void
cf_rpc_server_destroy(cf_rpc_server_t *s)
{
    if (!s || s->destroying)
        return;
    s->destroying = 1;
    s->listener->data = NULL;
    uv_close((uv_handle_t *)s->listener, listener_close_cb);
    while (s->conns)
        cf_rpc_conn_close(s->conns, "the RPC server shut down");
    cf_log_debug("RPC server on port %d stopped", s->port);
    ident_free(&s->ident);
    cf_free(s);
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

int
cf_rpc_conn_is_open(const cf_rpc_conn_t *c)
{
    return c && c->state == ST_OPEN && !c->closed;
}

const char *
cf_rpc_conn_peer(const cf_rpc_conn_t *c)
{
    return c->peer ? c->peer : "unknown";
}

const Cflink__Hello *
cf_rpc_conn_hello(const cf_rpc_conn_t *c)
{
    return c->state == ST_OPEN && c->hello_env ? c->hello_env->hello : NULL;
}

void
cf_rpc_conn_set_udata(cf_rpc_conn_t *c, void *udata)
{
    c->udata = udata;
}

void *
cf_rpc_conn_udata(const cf_rpc_conn_t *c)
{
    return c->udata;
}

void
cf_rpc_conn_set_max_frame(cf_rpc_conn_t *c, uint32_t max)
{
    c->max_frame = max > 0 ? max : CF_RPC_MAX_FRAME_DEFAULT;
}

/* Send env with the given header fields, restoring the caller's. */
static int
send_env(cf_rpc_conn_t *c, Cflink__Envelope *env, uint64_t id, int resp)
{
    if (!cf_rpc_conn_is_open(c))
        return CF_EIO;
    if (resp && c->sock && uv_stream_get_write_queue_size(
                    (uv_stream_t *)&c->sock->tcp) >
                    (size_t)c->max_frame + RPC_REPLY_BACKLOG) {
        if (!c->backlog_warned)
            cf_log_warn("RPC connection %s %s: the peer does not read its "
                        "replies (%zu bytes queued); dropping replies",
                        c->is_client ? "to" : "from", c->peer,
                        uv_stream_get_write_queue_size(
                            (uv_stream_t *)&c->sock->tcp));
        c->backlog_warned = 1;
        return CF_EIO;
    }
    uint64_t old_id = env->request_id;
    protobuf_c_boolean old_resp = env->is_response;
    env->request_id = id;
    env->is_response = resp;
    int rc = write_env(c, env);
    env->request_id = old_id;
    env->is_response = old_resp;
    return rc;
}

int
cf_rpc_send(cf_rpc_conn_t *c, Cflink__Envelope *msg)
{
    return send_env(c, msg, 0, 0);
}

int
cf_rpc_call(cf_rpc_conn_t *c, Cflink__Envelope *msg, int64_t timeout_ms,
            cf_rpc_reply_cb cb, void *arg)
{
    if (!cf_rpc_conn_is_open(c))
        return CF_EIO;
    uint64_t id = ++c->next_req_id;
    int rc = send_env(c, msg, id, 0);
    if (rc < 0)
        return rc;
    pending_t *p = CF_NEW(pending_t);
    p->c = c;
    p->id = id;
    p->body_case = msg->body_case;
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->arg = arg;
    p->next = &c->pending;
    p->prev = c->pending.prev;
    c->pending.prev->next = p;
    c->pending.prev = p;
    if (timeout_ms > 0)
        p->timer = cf_loop_timer(c->loop, timeout_ms, 0, pending_timeout_fn, p);
    return 0;
}

int
cf_rpc_reply(cf_rpc_conn_t *c, uint64_t req_id, Cflink__Envelope *msg)
{
    return send_env(c, msg, req_id, 1);
}

int
cf_rpc_reply_error(cf_rpc_conn_t *c, uint64_t req_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *err = cf_vasprintf(fmt, ap);
    va_end(ap);
    if (!*err) { /* an empty error would read as success */
        cf_free(err);
        err = cf_strdup("request failed");
    }
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.error = err;
    int rc = send_env(c, &env, req_id, 1);
    cf_free(err);
    return rc;
}

int
cf_rpc_reply_ack(cf_rpc_conn_t *c, uint64_t req_id)
{
    Cflink__Ack ack = CFLINK__ACK__INIT;
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    env.body_case = CFLINK__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    return send_env(c, &env, req_id, 1);
}
