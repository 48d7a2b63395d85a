/*
 * netmgr.c: the TaskManager network manager (see netmgr.h): the net
 * thread and its libuv loop, the TCP connections between TaskManagers,
 * the data-plane wire protocol, credit-based flow control, partition
 * requests, and local (by pointer) channels.
 *
 * Design. Everything below runs on the net thread except the cf_netmgr_*
 * entry points, which post a command (a mutex-protected FIFO plus one
 * uv_async_t) and return. The same uv_async_t is the hook of the manager's
 * signal (m->sig), which two kinds of objects notify from other threads:
 * the receiving pools of remote input channels (a consumer task recycled
 * a buffer: a credit to return) and the outbound queues of remote
 * subpartitions (a producer task shipped a buffer: something to send).
 * Each wake-up runs the commands, then one "pump" over every outbound
 * queue (send what the credit allows) and every remote channel (announce
 * the buffers freed since the last announcement as new credit). uv_async
 * coalesces wake-ups, so a pump costs O(queues + channels) per wake-up,
 * not per buffer.
 *
 * An outbound queue is a one-channel cf_net_gate_t that the producer's
 * subpartition is connected to, as it would be to a local consumer's
 * gate. The pump moves its buffers to a FIFO of its own (by pointer) and
 * sends the head while credit lasts, telling the consumer how many data
 * buffers wait behind it (the backlog). Frames are not written one by
 * one: each connection collects what a pump sends (buffer frames, credit
 * announcements) in one write request, headers in the request, payloads
 * straight from the producer's segments (recycled in the write callback),
 * and the end of the pump writes it with one uv_write (one writev).
 * Memory is bounded by the producer's pool: nothing is copied and nothing
 * is allocated per buffer (write requests come from a free list).
 *
 * Receiving, a connection parses frames from its read buffer as a small
 * state machine (frames may split anywhere) and copies a data payload
 * into a free buffer of the channel: one of the floating buffers granted
 * to it, else one of its exclusive pool. There is one, because the sender
 * only sends against credit, and each credit stands for one free buffer.
 * The backlog each buffer announces makes the pump grant the channel
 * floating buffers from its gate's pool (cf_netmgr_gate_floating), as
 * Flink does. A frame that breaks the protocol closes that connection
 * only.
 *
 * The wire format and the protocol are described in
 * docs/internals/network.md ("Remote channels and the network manager").
 */
#include "netmgr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* ------------------------------------------------------------------ */
/* Wire format                                                         */
/* ------------------------------------------------------------------ */

#define NM_MAGIC 0x43464e4du /* "CFNM" */
#define NM_VERSION 2
#define NM_FRAME_HDR 5 /* u32 len (of what follows), u8 type */
/* + u32 receiver id, u16 kind, u16 event, u32 backlog */
#define NM_BUF_HDR 17
#define NM_BUF_BODY (NM_BUF_HDR - NM_FRAME_HDR)
#define NM_CTRL_MAX 1024 /* largest control frame body */
#define NM_ADDR_MAX 255
#define NM_READ_SIZE 65536

enum nm_frame_e {
    NM_T_HELLO = 1,   /* u32 magic, u16 version, u16 n, n bytes address */
    NM_T_REQUEST = 2, /* 16 attempt, i32 output, i32 sub, u32 rid, i32 cr */
    NM_T_BUFFER = 3,  /* u32 rid, u16 kind, u16 event, u32 backlog, data */
    NM_T_CREDIT = 4,  /* u32 rid, u32 delta */
    NM_T_CANCEL = 5,  /* u32 rid */
    NM_T_ERROR = 6,   /* u32 rid, message */
};

#define NM_REQUEST_BODY 32

static inline void
nm_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
nm_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint16_t
nm_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
nm_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

typedef struct nm_conn_s nm_conn_t;
typedef struct nm_part_s nm_part_t;
typedef struct nm_wreq_s nm_wreq_t;

/* A subpartition read by a remote input channel. */
typedef struct nm_out_s {
    nm_part_t *part;
    int sub;
    nm_conn_t *conn;            /* NULL once dead */
    struct nm_out_s *conn_next; /* in conn->outs */
    uint32_t rid;               /* the consumer's receiver id */
    cf_net_gate_t *gate;        /* what the producer pushes to */
    cf_net_buf_t *head, *tail;  /* taken from gate, waiting for credit */
    uint32_t backlog;           /* data buffers in head..tail */
    int64_t credit;
    int inflight; /* buffers inside uv_write */
    int dead;     /* peer gone or cancelled: recycle whatever comes */
} nm_out_t;

/* A published partition. */
struct nm_part_s {
    nm_part_t *next;
    cf_net_pid_t pid;
    cf_net_partition_t *part;
    atomic_int *connected;
    cf_signal_t *owner;
    uint8_t *attached; /* per subpartition */
    nm_out_t **outs;   /* per subpartition (remote consumers) */
    int released;
    cf_netmgr_done_cb done;
    void *done_arg;
};

/* A gate release waiting for local producers to release. */
typedef struct nm_grel_s {
    int waits;
    cf_netmgr_done_cb done;
    void *arg;
} nm_grel_t;

/* The floating buffers of a gate, shared by its remote channels. */
typedef struct nm_fgate_s {
    struct nm_fgate_s *next; /* m->fgates */
    cf_net_gate_t *gate;
    int n;               /* floating buffers asked for */
    cf_net_pool_t *pool; /* made on the first remote channel */
} nm_fgate_t;

/* A subscription: one input channel. */
typedef struct nm_sub_s {
    struct nm_sub_s *next;      /* m->subs */
    struct nm_sub_s *conn_next; /* conn->subs */
    cf_net_pid_t pid;
    int sub;
    cf_net_gate_t *gate;
    int ch;
    int local;
    /* local */
    nm_part_t *part; /* the producer's partition once attached */
    nm_grel_t *grel; /* a gate release waiting for that producer */
    /* remote */
    char *peer; /* "host:port" */
    nm_conn_t *conn;
    uint32_t rid;
    cf_net_pool_t *pool; /* exclusive buffers */
    int credits;
    uint32_t credit_out; /* credit the producer holds */
    nm_fgate_t *fg;      /* the gate's floating buffers, or NULL */
    cf_net_buf_t *spare; /* floating buffers granted as credit */
    uint32_t nspare;
    uint32_t backlog; /* the producer's, from its last buffer */
    int requested;
    int failed; /* an error event was pushed: nothing more will be */
    int ended;  /* end of partition received */
} nm_sub_t;

/* A remote partition request for a partition not published yet. */
typedef struct nm_req_s {
    struct nm_req_s *next;
    nm_conn_t *conn;
    uint32_t rid;
    cf_net_pid_t pid;
    int sub;
    int64_t credit;
} nm_req_t;

enum nm_conn_state_e {
    NM_C_NEW,
    NM_C_RESOLVING,
    NM_C_CONNECTING,
    NM_C_OPEN,
    NM_C_CLOSING,
};

enum nm_read_state_e {
    NM_R_HDR,
    NM_R_BODY,
    NM_R_PAYLOAD,
};

struct nm_conn_s {
    nm_conn_t *next;
    cf_netmgr_t *m;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai;
    int refs; /* the handle, a pending getaddrinfo */
    int state;
    int outgoing;
    char *host; /* outgoing: to resolve */
    int port;
    char *peer;        /* the peer's data address; accepted: from its hello */
    char desc[96];     /* socket address, for logs before the hello */
    int hello;         /* the peer's hello arrived */
    nm_sub_t *subs;    /* our channels reading from the peer */
    nm_out_t *outs;    /* the peer's channels reading from us */
    uint32_t next_rid; /* receiver ids we assigned: 1..next_rid */
    uint32_t max_peer_rid; /* highest id the peer assigned */
    nm_sub_t *last_sub;    /* lookup cache */
    /* reading */
    uint8_t *rbuf;
    int rstate;
    uint8_t hbuf[NM_FRAME_HDR + NM_CTRL_MAX];
    uint32_t hhave, hneed;
    uint32_t flen;
    uint8_t ftype;
    /* the BUFFER frame being received */
    nm_sub_t *fsub; /* NULL: skip the payload */
    cf_net_buf_t *fbuf;
    uint16_t fkind, fevent;
    uint32_t fpay, fgot;
    uint8_t *ev; /* event payload staging */
    uint32_t ev_cap;
    /* writing */
    nm_wreq_t *wpend; /* frames not written yet (see nm_flush) */
};

/* One uv_write: the frames a connection has to send after one run of the
 * loop, coalesced (headers in hdr, payloads straight from the producer's
 * segments, which are recycled when the write completes). */
#define NM_BATCH 32 /* buffers per write */
struct nm_wreq_s {
    uv_write_t req;
    struct nm_wreq_s *next_free;
    nm_conn_t *conn;
    int niov;
    int nheld;
    uint32_t hused;
    uv_buf_t iov[2 * NM_BATCH + 2];
    cf_net_buf_t *held[NM_BATCH]; /* payloads to recycle */
    nm_out_t *outs[NM_BATCH];     /* their queues */
    uint8_t hdr[NM_BATCH * NM_BUF_HDR + NM_FRAME_HDR + NM_CTRL_MAX];
};

enum nm_cmd_e {
    NM_CMD_PUBLISH,
    NM_CMD_RELEASE_PART,
    NM_CMD_SUBSCRIBE,
    NM_CMD_RELEASE_GATE,
    NM_CMD_FLOATING,
    NM_CMD_STOP,
};

typedef struct nm_cmd_s {
    struct nm_cmd_s *next;
    int type;
    cf_net_pid_t pid;
    cf_net_partition_t *part;
    atomic_int *connected;
    cf_signal_t *owner;
    int discard;
    cf_netmgr_done_cb done;
    void *arg;
    int sub;
    char *host;
    int port;
    cf_net_gate_t *gate;
    int ch;
    int credits;
} nm_cmd_t;

struct cf_netmgr_s {
    cf_net_env_t *env;
    uint32_t seg;
    uv_loop_t loop;
    uv_async_t async;
    uv_tcp_t listener;
    pthread_t thread;
    char *bind_host;
    char *adv_host;
    char *adv; /* "adv_host:port" */
    int port;
    cf_signal_t sig;
    pthread_mutex_t mu;
    nm_cmd_t *cmd_head, *cmd_tail; /* guarded by mu */
    /* net thread */
    int stopping;
    nm_conn_t *conns;
    nm_part_t *parts;
    nm_sub_t *subs;
    nm_req_t *reqs;
    nm_fgate_t *fgates;
    nm_wreq_t *wfree;
    /* stats */
    atomic_int nconns;
    atomic_int npublished;
    atomic_int nsubs;
    atomic_uint_fast64_t bytes_sent;
    atomic_uint_fast64_t bytes_received;
    atomic_uint_fast64_t buffers_sent;
};

static void nm_pump(cf_netmgr_t *m);
static void nm_part_try_finish(cf_netmgr_t *m, nm_part_t *p);
static void nm_conn_close(nm_conn_t *c, const char *msg);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void
nm_pid_str(const cf_net_pid_t *pid, char out[CF_ID_HEX_LEN + 16])
{
    char hex[CF_ID_HEX_LEN + 1];

    cf_id_to_hex(&pid->attempt, hex);
    snprintf(out, CF_ID_HEX_LEN + 16, "%s#%d", hex, (int)pid->output);
}

static int
nm_pid_eq(const cf_net_pid_t *a, const cf_net_pid_t *b)
{
    return a->output == b->output && cf_id_equal(&a->attempt, &b->attempt);
}

static void
nm_push_error(cf_net_gate_t *gate, int ch, const char *msg)
{
    cf_net_gate_push(
        gate, ch,
        cf_net_event_new(CF_NET_EV_ERROR, msg, (uint32_t)strlen(msg)));
}

static const char *
nm_conn_name(const nm_conn_t *c)
{
    return c->peer != NULL ? c->peer : c->desc;
}

static nm_part_t *
nm_part_find(cf_netmgr_t *m, const cf_net_pid_t *pid)
{
    nm_part_t *p;

    for (p = m->parts; p != NULL; p = p->next)
        if (!p->released && nm_pid_eq(&p->pid, pid))
            return p;
    return NULL;
}

static void
nm_wake(void *arg)
{
    cf_netmgr_t *m = arg;

    uv_async_send(&m->async);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static nm_wreq_t *
nm_wreq_get(cf_netmgr_t *m)
{
    nm_wreq_t *w = m->wfree;

    if (w != NULL)
        m->wfree = w->next_free;
    else
        w = cf_malloc(sizeof *w);
    w->next_free = NULL;
    w->conn = NULL;
    w->niov = 0;
    w->nheld = 0;
    w->hused = 0;
    return w;
}

static void
nm_wreq_put(cf_netmgr_t *m, nm_wreq_t *w)
{
    w->next_free = m->wfree;
    m->wfree = w;
}

static const char *
nm_lost_fmt(void)
{
    return "Connection unexpectedly closed by remote task manager '%s'. "
           "This might indicate that the remote task manager was lost.";
}

static void
nm_conn_lost(nm_conn_t *c)
{
    char *msg = cf_asprintf(nm_lost_fmt(), nm_conn_name(c));

    nm_conn_close(c, msg);
    cf_free(msg);
}

/* The write of w is over (or will never happen): recycle its payloads,
 * then finish the released partitions that held them. */
static void
nm_wreq_done(cf_netmgr_t *m, nm_wreq_t *w)
{
    nm_part_t *parts[NM_BATCH];
    int i, j, np = 0;

    for (i = 0; i < w->nheld; i++) {
        nm_out_t *out = w->outs[i];
        cf_net_buf_recycle(w->held[i]);
        out->inflight--;
        if (!out->part->released || m->stopping)
            continue;
        for (j = 0; j < np && parts[j] != out->part; j++)
            ;
        if (j == np)
            parts[np++] = out->part;
    }
    nm_wreq_put(m, w);
    /* Each may free its partition and queues: collected first. */
    for (j = 0; j < np; j++)
        nm_part_try_finish(m, parts[j]);
}

/* The write of w will never happen (its connection failed or closed):
 * recycle its payloads. Called deep inside the loop's work (a pump, a
 * close), where a partition must not be freed: the pump that the wake-up
 * runs finishes released partitions. */
static void
nm_wreq_drop(cf_netmgr_t *m, nm_wreq_t *w)
{
    int i;

    for (i = 0; i < w->nheld; i++) {
        cf_net_buf_recycle(w->held[i]);
        w->outs[i]->inflight--;
    }
    nm_wreq_put(m, w);
    if (!m->stopping)
        uv_async_send(&m->async);
}

static void
nm_on_write(uv_write_t *req, int status)
{
    nm_wreq_t *w = (nm_wreq_t *)req;
    nm_conn_t *c = w->conn;
    cf_netmgr_t *m = c->m;

    if (status < 0 && status != UV_ECANCELED && c->state != NM_C_CLOSING) {
        cf_log_warn("network manager: writing to task manager '%s' "
                    "failed: %s",
                    nm_conn_name(c), uv_strerror(status));
        nm_conn_lost(c);
    }
    nm_wreq_done(m, w);
}

/* Write the frames collected for c, in one uv_write. */
static void
nm_flush(nm_conn_t *c)
{
    nm_wreq_t *w = c->wpend;
    size_t bytes = 0;
    int i, rc;

    if (w == NULL)
        return;
    c->wpend = NULL;
    for (i = 0; i < w->niov; i++)
        bytes += w->iov[i].len;
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, w->iov, (unsigned)w->niov,
                  nm_on_write);
    if (rc < 0) {
        cf_log_warn("network manager: writing to task manager '%s' "
                    "failed: %s",
                    nm_conn_name(c), uv_strerror(rc));
        nm_wreq_drop(c->m, w);
        nm_conn_lost(c);
        return;
    }
    atomic_fetch_add_explicit(&c->m->bytes_sent, bytes, memory_order_relaxed);
}

/* Room for a frame header of n bytes (and, with payload, one buffer) in
 * c's pending write, flushing it first when it is full. NULL when that
 * flush failed (c is closed). */
static uint8_t *
nm_frame_room(nm_conn_t *c, uint32_t n, int payload)
{
    nm_wreq_t *w = c->wpend;
    uint8_t *h;

    if (w != NULL &&
        (w->hused + n > sizeof w->hdr || w->niov + 2 > 2 * NM_BATCH + 2 ||
         (payload && w->nheld == NM_BATCH))) {
        nm_flush(c);
        if (c->state != NM_C_OPEN)
            return NULL;
        w = NULL;
    }
    if (w == NULL) {
        w = nm_wreq_get(c->m);
        w->conn = c;
        c->wpend = w;
    }
    h = w->hdr + w->hused;
    /* Headers written back to back share one iov. */
    if (w->niov > 0 &&
        w->iov[w->niov - 1].base + w->iov[w->niov - 1].len == (char *)h)
        w->iov[w->niov - 1].len += n;
    else
        w->iov[w->niov++] = uv_buf_init((char *)h, n);
    w->hused += n;
    return h;
}

/* Queue a control frame. Credit announcements wait for the flush at the
 * end of the pump (coalesced with the rest); others go out now. */
static void
nm_send_ctrl(nm_conn_t *c, uint8_t type, const uint8_t *body, uint32_t n)
{
    uint8_t *h;

    if (c->state != NM_C_OPEN)
        return;
    CF_ASSERT(n <= NM_CTRL_MAX);
    h = nm_frame_room(c, NM_FRAME_HDR + n, 0);
    if (h == NULL)
        return;
    nm_put32(h, n + 1);
    h[4] = type;
    memcpy(h + NM_FRAME_HDR, body, n);
    if (type != NM_T_CREDIT)
        nm_flush(c);
}

static void
nm_send_rid(nm_conn_t *c, uint8_t type, uint32_t rid, uint32_t v, int hasv)
{
    uint8_t b[8];

    nm_put32(b, rid);
    nm_put32(b + 4, v);
    nm_send_ctrl(c, type, b, hasv ? 8 : 4);
}

static void
nm_send_error(nm_conn_t *c, uint32_t rid, const char *msg)
{
    uint8_t b[NM_CTRL_MAX];
    size_t n = strlen(msg);

    if (n > NM_CTRL_MAX - 4)
        n = NM_CTRL_MAX - 4;
    nm_put32(b, rid);
    memcpy(b + 4, msg, n);
    nm_send_ctrl(c, NM_T_ERROR, b, (uint32_t)(4 + n));
}

static void
nm_send_hello(nm_conn_t *c)
{
    cf_netmgr_t *m = c->m;
    uint8_t b[8 + NM_ADDR_MAX];
    size_t n = strlen(m->adv);

    if (n > NM_ADDR_MAX)
        n = NM_ADDR_MAX;
    nm_put32(b, NM_MAGIC);
    nm_put16(b + 4, NM_VERSION);
    nm_put16(b + 6, (uint16_t)n);
    memcpy(b + 8, m->adv, n);
    nm_send_ctrl(c, NM_T_HELLO, b, (uint32_t)(8 + n));
}

static void
nm_send_request(nm_conn_t *c, nm_sub_t *s)
{
    uint8_t b[NM_REQUEST_BODY];

    memcpy(b, s->pid.attempt.b, 16);
    nm_put32(b + 16, (uint32_t)s->pid.output);
    nm_put32(b + 20, (uint32_t)s->sub);
    nm_put32(b + 24, s->rid);
    nm_put32(b + 28, (uint32_t)s->credits);
    s->credit_out = (uint32_t)s->credits;
    s->requested = 1;
    nm_send_ctrl(c, NM_T_REQUEST, b, sizeof b);
}

/* Send one buffer of out (taking the producer's segment as it is) and
 * the number of data buffers still queued behind it (the backlog). */
static void
nm_send_buf(nm_out_t *out, cf_net_buf_t *b)
{
    nm_conn_t *c = out->conn;
    uint8_t *h = nm_frame_room(c, NM_BUF_HDR, 1);
    nm_wreq_t *w = c->wpend;

    if (h == NULL) {
        cf_net_buf_recycle(b); /* the connection is gone */
        return;
    }
    nm_put32(h, NM_BUF_HDR - 4 + b->len);
    h[4] = NM_T_BUFFER;
    nm_put32(h + 5, out->rid);
    nm_put16(h + 9, b->kind);
    nm_put16(h + 11, b->event);
    nm_put32(h + 13, out->backlog);
    if (b->len > 0)
        w->iov[w->niov++] = uv_buf_init((char *)b->data, b->len);
    w->held[w->nheld] = b;
    w->outs[w->nheld] = out;
    w->nheld++;
    out->inflight++;
    atomic_fetch_add_explicit(&c->m->buffers_sent, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Outbound queues (producer side)                                     */
/* ------------------------------------------------------------------ */

static void
nm_out_recycle_queued(nm_out_t *out)
{
    cf_net_buf_t *b;

    while ((b = out->head) != NULL) {
        out->head = b->next;
        cf_net_buf_recycle(b);
    }
    out->tail = NULL;
    out->backlog = 0;
    while ((b = cf_net_gate_poll(out->gate, NULL)) != NULL)
        cf_net_buf_recycle(b);
}

static void
nm_out_unlink(nm_out_t *out)
{
    nm_out_t **pp;

    if (out->conn == NULL)
        return;
    for (pp = &out->conn->outs; *pp != NULL; pp = &(*pp)->conn_next) {
        if (*pp == out) {
            *pp = out->conn_next;
            break;
        }
    }
    out->conn = NULL;
    out->conn_next = NULL;
}

/* The consumer is gone: whatever the producer pushes is recycled. */
static void
nm_out_kill(nm_out_t *out)
{
    out->dead = 1;
    nm_out_unlink(out);
    nm_out_recycle_queued(out);
}

static void
nm_out_pump(nm_out_t *out)
{
    cf_net_buf_t *b;

    while ((b = cf_net_gate_poll(out->gate, NULL)) != NULL) {
        if (out->dead) {
            cf_net_buf_recycle(b);
            continue;
        }
        b->next = NULL;
        if (out->tail != NULL)
            out->tail->next = b;
        else
            out->head = b;
        out->tail = b;
        if (b->kind == CF_NET_DATA)
            out->backlog++;
    }
    while (out->conn != NULL && out->conn->state == NM_C_OPEN &&
           (b = out->head) != NULL &&
           (b->kind != CF_NET_DATA || out->credit > 0)) {
        out->head = b->next;
        if (out->head == NULL)
            out->tail = NULL;
        b->next = NULL;
        if (b->kind == CF_NET_DATA) {
            out->credit--;
            out->backlog--;
        }
        nm_send_buf(out, b);
    }
}

static void
nm_part_free(cf_netmgr_t *m, nm_part_t *p)
{
    int i;

    for (i = 0; i < p->part->n; i++) {
        nm_out_t *out = p->outs[i];
        if (out == NULL)
            continue;
        nm_out_unlink(out);
        out->dead = 1;
        nm_out_recycle_queued(out);
        cf_net_gate_destroy(out->gate);
        cf_free(out);
    }
    cf_free(p->outs);
    cf_free(p->attached);
    cf_free(p);
    atomic_fetch_sub(&m->npublished, 1);
}

/* A released partition is finished when no buffer of it is held here. */
static void
nm_part_try_finish(cf_netmgr_t *m, nm_part_t *p)
{
    nm_part_t **pp;
    int i;

    if (!p->released)
        return;
    for (i = 0; i < p->part->n; i++) {
        nm_out_t *out = p->outs[i];
        if (out == NULL)
            continue;
        if (out->dead)
            nm_out_recycle_queued(out);
        if (out->head != NULL || cf_net_gate_queued(out->gate) > 0 ||
            out->inflight > 0)
            return;
    }
    for (pp = &m->parts; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    {
        cf_netmgr_done_cb done = p->done;
        void *arg = p->done_arg;
        nm_part_free(m, p);
        if (done != NULL)
            done(arg);
    }
}

/* Connect subpartition sub of p to a remote channel on c. */
static void
nm_attach_remote(cf_netmgr_t *m, nm_part_t *p, int sub, nm_conn_t *c,
                 uint32_t rid, int64_t credit)
{
    char ps[CF_ID_HEX_LEN + 16];
    nm_out_t *out;

    nm_pid_str(&p->pid, ps);
    if (sub < 0 || sub >= p->part->n || p->attached[sub]) {
        char *msg;
        if (sub < 0 || sub >= p->part->n)
            msg = cf_asprintf("Subpartition %d of partition %s does not "
                              "exist (it has %d) at task manager '%s'.",
                              sub, ps, p->part->n, m->adv);
        else
            msg = cf_asprintf("Subpartition %d of partition %s is already "
                              "consumed (task manager '%s').",
                              sub, ps, m->adv);
        cf_log_warn("network manager: %s", msg);
        nm_send_error(c, rid, msg);
        cf_free(msg);
        return;
    }
    out = CF_NEW(nm_out_t);
    out->part = p;
    out->sub = sub;
    out->conn = c;
    out->rid = rid;
    out->credit = credit;
    out->gate = cf_net_gate_new(1, &m->sig);
    out->conn_next = c->outs;
    c->outs = out;
    p->outs[sub] = out;
    p->attached[sub] = 1;
    cf_log_debug("network manager: subpartition %d of %s -> task manager "
                 "'%s' (receiver %u, credit %lld)",
                 sub, ps, nm_conn_name(c), rid, (long long)credit);
    cf_net_partition_connect(p->part, sub, out->gate, 0);
    atomic_fetch_add_explicit(p->connected, 1, memory_order_release);
    cf_signal_notify(p->owner);
}

/* ------------------------------------------------------------------ */
/* Subscriptions (consumer side)                                       */
/* ------------------------------------------------------------------ */

static void
nm_sub_attach_local(cf_netmgr_t *m, nm_sub_t *s, nm_part_t *p)
{
    char ps[CF_ID_HEX_LEN + 16];

    if (s->sub < 0 || s->sub >= p->part->n || p->attached[s->sub]) {
        char *msg;
        nm_pid_str(&p->pid, ps);
        msg = cf_asprintf("Subpartition %d of partition %s %s (task manager "
                          "'%s').",
                          s->sub, ps,
                          s->sub < 0 || s->sub >= p->part->n
                              ? "does not exist"
                              : "is already consumed",
                          m->adv);
        cf_log_warn("network manager: %s", msg);
        nm_push_error(s->gate, s->ch, msg);
        cf_free(msg);
        s->failed = 1;
        return;
    }
    p->attached[s->sub] = 1;
    s->part = p;
    cf_net_partition_connect(p->part, s->sub, s->gate, s->ch);
    atomic_fetch_add_explicit(p->connected, 1, memory_order_release);
    cf_signal_notify(p->owner);
}

static nm_sub_t *
nm_rx_find(nm_conn_t *c, uint32_t rid)
{
    nm_sub_t *s;

    if (c->last_sub != NULL && c->last_sub->rid == rid)
        return c->last_sub;
    for (s = c->subs; s != NULL; s = s->conn_next) {
        if (s->rid == rid) {
            c->last_sub = s;
            return s;
        }
    }
    return NULL;
}

/* Return the floating buffers s holds (no more data will use them). */
static void
nm_sub_drop_spares(nm_sub_t *s)
{
    cf_net_buf_t *b;

    while ((b = s->spare) != NULL) {
        s->spare = b->next;
        b->next = NULL;
        cf_net_buf_recycle(b);
    }
    s->nspare = 0;
}

/* s receives nothing more on its connection. */
static void
nm_sub_unlink_conn(nm_sub_t *s)
{
    nm_conn_t *c = s->conn;
    nm_sub_t **pp;

    if (c == NULL)
        return;
    for (pp = &c->subs; *pp != NULL; pp = &(*pp)->conn_next) {
        if (*pp == s) {
            *pp = s->conn_next;
            break;
        }
    }
    if (c->last_sub == s)
        c->last_sub = NULL;
    if (c->fsub == s) {
        /* In the middle of a frame for it: skip the rest. */
        cf_net_buf_recycle(c->fbuf);
        c->fbuf = NULL;
        c->fsub = NULL;
    }
    s->conn = NULL;
    s->conn_next = NULL;
    nm_sub_drop_spares(s);
}

static void
nm_sub_free(cf_netmgr_t *m, nm_sub_t *s)
{
    nm_sub_t **pp;

    for (pp = &m->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->conn != NULL) {
        if (s->requested && s->conn->state == NM_C_OPEN)
            nm_send_rid(s->conn, NM_T_CANCEL, s->rid, 0, 0);
        nm_sub_unlink_conn(s);
    }
    nm_sub_drop_spares(s); /* when never connected */
    /* The gate may still hold some of its buffers. */
    cf_net_pool_release(s->pool);
    cf_free(s->peer);
    cf_free(s);
    atomic_fetch_sub(&m->nsubs, 1);
}

/* Grant floating buffers for the producer's backlog (Flink: as many as
 * make the channel's free buffers backlog + exclusive buffers), then
 * announce every free buffer the producer has no credit for yet. */
static void
nm_sub_announce(nm_sub_t *s)
{
    uint32_t nfree = cf_net_pool_free_count(s->pool);

    if (s->fg != NULL && s->fg->pool != NULL) {
        uint64_t want = (uint64_t)s->backlog + (uint64_t)s->credits;
        cf_net_buf_t *b;
        while ((uint64_t)nfree + s->nspare < want &&
               (b = cf_net_pool_try_request(s->fg->pool)) != NULL) {
            b->next = s->spare;
            s->spare = b;
            s->nspare++;
        }
    }
    nfree += s->nspare;
    if (nfree > s->credit_out) {
        nm_send_rid(s->conn, NM_T_CREDIT, s->rid, nfree - s->credit_out, 1);
        s->credit_out = nfree;
    }
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static nm_conn_t *
nm_conn_new(cf_netmgr_t *m)
{
    nm_conn_t *c = CF_NEW(nm_conn_t);

    c->m = m;
    c->refs = 1;
    c->state = NM_C_NEW;
    c->rbuf = cf_malloc(NM_READ_SIZE);
    c->rstate = NM_R_HDR;
    c->hneed = NM_FRAME_HDR;
    uv_tcp_init(&m->loop, &c->tcp);
    c->tcp.data = c;
    c->next = m->conns;
    m->conns = c;
    atomic_fetch_add(&m->nconns, 1);
    return c;
}

static void
nm_conn_unref(nm_conn_t *c)
{
    nm_conn_t **pp;

    if (--c->refs > 0)
        return;
    for (pp = &c->m->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    cf_free(c->rbuf);
    cf_free(c->ev);
    cf_free(c->host);
    cf_free(c->peer);
    cf_free(c);
}

static void
nm_on_close(uv_handle_t *h)
{
    nm_conn_unref(h->data);
}

/* Close c; every live channel on it receives msg as an error event. */
static void
nm_conn_close(nm_conn_t *c, const char *msg)
{
    cf_netmgr_t *m = c->m;
    nm_req_t **rp;
    nm_sub_t *s;

    if (c->state == NM_C_CLOSING)
        return;
    c->state = NM_C_CLOSING;
    atomic_fetch_sub(&m->nconns, 1);
    cf_net_buf_recycle(c->fbuf);
    c->fbuf = NULL;
    c->fsub = NULL;
    while ((s = c->subs) != NULL) {
        if (!s->ended && !s->failed) {
            nm_push_error(s->gate, s->ch, msg);
            s->failed = 1;
        }
        nm_sub_unlink_conn(s);
    }
    while (c->outs != NULL)
        nm_out_kill(c->outs);
    if (c->wpend != NULL) {
        nm_wreq_t *w = c->wpend;
        c->wpend = NULL;
        nm_wreq_drop(m, w);
    }
    for (rp = &m->reqs; *rp != NULL;) {
        nm_req_t *r = *rp;
        if (r->conn == c) {
            *rp = r->next;
            cf_free(r);
        } else {
            rp = &r->next;
        }
    }
    uv_close((uv_handle_t *)&c->tcp, nm_on_close);
}

static void nm_conn_violation(nm_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
nm_conn_violation(nm_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    char *detail, *msg;

    va_start(ap, fmt);
    detail = cf_vasprintf(fmt, ap);
    va_end(ap);
    cf_log_error("network manager: closing the connection to task manager "
                 "'%s': protocol violation: %s",
                 nm_conn_name(c), detail);
    msg = cf_asprintf("Closed the connection to task manager '%s' after a "
                      "protocol violation: %s",
                      nm_conn_name(c), detail);
    nm_conn_close(c, msg);
    cf_free(msg);
    cf_free(detail);
}

static void nm_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void
nm_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    nm_conn_t *c = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)c->rbuf, NM_READ_SIZE);
}

static void
nm_conn_open(nm_conn_t *c)
{
    nm_sub_t *s;
    int rc;

    c->state = NM_C_OPEN;
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, nm_on_alloc, nm_on_read);
    if (rc < 0) {
        cf_log_warn("network manager: reading from '%s' failed: %s",
                    nm_conn_name(c), uv_strerror(rc));
        nm_conn_lost(c);
        return;
    }
    nm_send_hello(c);
    for (s = c->subs; s != NULL && c->state == NM_C_OPEN; s = s->conn_next)
        if (!s->requested)
            nm_send_request(c, s);
}

static void
nm_conn_connect_failed(nm_conn_t *c, int status)
{
    char *msg;

    cf_log_warn("network manager: connecting to task manager '%s' failed: "
                "%s",
                nm_conn_name(c), uv_strerror(status));
    msg = cf_asprintf("Connecting to remote task manager '%s' has failed. "
                      "This might indicate that the remote task manager "
                      "has been lost.",
                      nm_conn_name(c));
    nm_conn_close(c, msg);
    cf_free(msg);
}

static void
nm_on_connect(uv_connect_t *req, int status)
{
    nm_conn_t *c = req->data;

    if (c->state == NM_C_CLOSING)
        return;
    if (status < 0) {
        nm_conn_connect_failed(c, status);
        return;
    }
    cf_log_debug("network manager: connected to task manager '%s'",
                 nm_conn_name(c));
    nm_conn_open(c);
}

static void
nm_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    nm_conn_t *c = req->data;
    int rc;

    if (c->state == NM_C_CLOSING) {
        uv_freeaddrinfo(ai);
        nm_conn_unref(c);
        return;
    }
    nm_conn_unref(c); /* still held by its handle */
    if (status < 0) {
        nm_conn_connect_failed(c, status);
        return;
    }
    c->state = NM_C_CONNECTING;
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, nm_on_connect);
    uv_freeaddrinfo(ai);
    if (rc < 0)
        nm_conn_connect_failed(c, rc);
}

/* Start connecting an outgoing connection. */
static void
nm_conn_start(nm_conn_t *c)
{
    struct addrinfo hints;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", c->port);
    c->state = NM_C_RESOLVING;
    c->gai.data = c;
    c->refs++;
    rc = uv_getaddrinfo(&c->m->loop, &c->gai, nm_on_resolved, c->host, port,
                        &hints);
    if (rc < 0) {
        c->refs--;
        nm_conn_connect_failed(c, rc);
    }
}

static nm_conn_t *
nm_conn_find(cf_netmgr_t *m, const char *key)
{
    nm_conn_t *c;

    for (c = m->conns; c != NULL; c = c->next)
        if (c->state != NM_C_CLOSING && c->peer != NULL &&
            strcmp(c->peer, key) == 0)
            return c;
    return NULL;
}

static void
nm_on_connection(uv_stream_t *server, int status)
{
    cf_netmgr_t *m = server->data;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    nm_conn_t *c;
    int rc;

    if (status < 0) {
        cf_log_warn("network manager: accept failed: %s", uv_strerror(status));
        return;
    }
    c = nm_conn_new(m);
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        cf_log_warn("network manager: accept failed: %s", uv_strerror(rc));
        nm_conn_close(c, "accept failed");
        return;
    }
    snprintf(c->desc, sizeof c->desc, "unknown (incoming)");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[64] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            uv_ip4_name(sin, ip, sizeof ip);
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(sin6, ip, sizeof ip);
            port = ntohs(sin6->sin6_port);
        }
        snprintf(c->desc, sizeof c->desc, "%s:%d (incoming)", ip, port);
    }
    cf_log_debug("network manager: accepted a connection from %s", c->desc);
    nm_conn_open(c);
}

/* ------------------------------------------------------------------ */
/* Reading: frames                                                     */
/* ------------------------------------------------------------------ */

static void
nm_frame_reset(nm_conn_t *c)
{
    c->rstate = NM_R_HDR;
    c->hhave = 0;
    c->hneed = NM_FRAME_HDR;
}

/* The payload of the current BUFFER frame is complete. */
static void
nm_buffer_end(nm_conn_t *c)
{
    nm_sub_t *s = c->fsub;

    if (c->fbuf != NULL) {
        cf_net_buf_t *b = c->fbuf;
        c->fbuf = NULL;
        b->len = c->fpay;
        b->kind = CF_NET_DATA;
        b->event = 0;
        cf_net_gate_push(s->gate, s->ch, b);
    } else if (s != NULL) {
        if (c->fevent == CF_NET_EV_END_OF_PARTITION)
            s->ended = 1;
        if (c->fevent == CF_NET_EV_ERROR)
            s->failed = 1;
        if (s->ended || s->failed)
            nm_sub_drop_spares(s);
        cf_net_gate_push(s->gate, s->ch,
                         cf_net_event_new(c->fevent, c->ev, c->fpay));
    }
    c->fsub = NULL;
    nm_frame_reset(c);
}

/* The 8-byte header of a BUFFER frame is in. */
static int
nm_buffer_begin(nm_conn_t *c)
{
    const uint8_t *h = c->hbuf + NM_FRAME_HDR;
    uint32_t rid = nm_get32(h);
    nm_sub_t *s;

    c->fkind = nm_get16(h + 4);
    c->fevent = nm_get16(h + 6);
    c->fpay = c->flen - 1 - NM_BUF_BODY;
    c->fgot = 0;
    c->fsub = NULL;
    c->fbuf = NULL;
    s = nm_rx_find(c, rid);
    if (s == NULL) {
        if (rid == 0 || rid > c->next_rid) {
            nm_conn_violation(c, "buffer for unknown receiver id %u", rid);
            return -1;
        }
        /* A channel released since: drop what was in flight. */
    } else if (c->fkind == CF_NET_DATA) {
        cf_net_buf_t *b = NULL;
        s->backlog = nm_get32(h + 8);
        if (s->credit_out > 0 && s->spare != NULL) {
            /* Floating buffers first (Flink's order). */
            b = s->spare;
            s->spare = b->next;
            s->nspare--;
            b->next = NULL;
            b->len = 0;
        } else if (s->credit_out > 0) {
            b = cf_net_pool_try_request(s->pool);
        }
        if (b == NULL) {
            nm_conn_violation(c, "buffer without credit for receiver id %u",
                              rid);
            return -1;
        }
        if (c->fpay > b->size) {
            cf_net_buf_recycle(b);
            nm_conn_violation(c,
                              "buffer of %u bytes for receiver id %u "
                              "exceeds the segment size %u",
                              c->fpay, rid, b->size);
            return -1;
        }
        s->credit_out--;
        c->fbuf = b;
        c->fsub = s;
    } else if (c->fkind == CF_NET_EVENT) {
        if (c->fpay > c->ev_cap) {
            c->ev = cf_realloc(c->ev, c->fpay);
            c->ev_cap = c->fpay;
        }
        c->fsub = s;
    } else {
        nm_conn_violation(c, "bad buffer kind %u for receiver id %u", c->fkind,
                          rid);
        return -1;
    }
    c->rstate = NM_R_PAYLOAD;
    if (c->fpay == 0)
        nm_buffer_end(c);
    return 0;
}

/* The 5-byte frame header is in: check it, say how much body to read. */
static int
nm_frame_begin(nm_conn_t *c)
{
    uint32_t body;

    c->flen = nm_get32(c->hbuf);
    c->ftype = c->hbuf[4];
    if (c->flen < 1) {
        nm_conn_violation(c, "empty frame");
        return -1;
    }
    body = c->flen - 1;
    if (!c->hello && c->ftype != NM_T_HELLO) {
        nm_conn_violation(c, "frame of type %u before the hello", c->ftype);
        return -1;
    }
    switch (c->ftype) {
    case NM_T_HELLO:
        if (c->hello || body < 8 || body > 8 + NM_ADDR_MAX) {
            nm_conn_violation(c, "bad hello frame");
            return -1;
        }
        break;
    case NM_T_REQUEST:
        if (body != NM_REQUEST_BODY) {
            nm_conn_violation(c, "bad partition request frame");
            return -1;
        }
        break;
    case NM_T_CREDIT:
        if (body != 8) {
            nm_conn_violation(c, "bad add-credit frame");
            return -1;
        }
        break;
    case NM_T_CANCEL:
        if (body != 4) {
            nm_conn_violation(c, "bad cancel frame");
            return -1;
        }
        break;
    case NM_T_ERROR:
        if (body < 4 || body > NM_CTRL_MAX) {
            nm_conn_violation(c, "bad error frame");
            return -1;
        }
        break;
    case NM_T_BUFFER:
        if (body < NM_BUF_BODY || body - NM_BUF_BODY > c->m->seg) {
            nm_conn_violation(c,
                              "oversized or short buffer frame (%u "
                              "bytes, segment size %u)",
                              body, c->m->seg);
            return -1;
        }
        c->rstate = NM_R_BODY;
        c->hneed = NM_BUF_HDR;
        return 0;
    default: nm_conn_violation(c, "bad frame type %u", c->ftype); return -1;
    }
    c->rstate = NM_R_BODY;
    c->hneed = NM_FRAME_HDR + body;
    return 0;
}

static nm_out_t *
nm_tx_find(nm_conn_t *c, uint32_t rid)
{
    nm_out_t *out;

    for (out = c->outs; out != NULL; out = out->conn_next)
        if (out->rid == rid)
            return out;
    return NULL;
}

static nm_req_t **
nm_req_find(cf_netmgr_t *m, nm_conn_t *c, uint32_t rid)
{
    nm_req_t **rp;

    for (rp = &m->reqs; *rp != NULL; rp = &(*rp)->next)
        if ((*rp)->conn == c && (*rp)->rid == rid)
            return rp;
    return NULL;
}

static int
nm_on_request(nm_conn_t *c, const uint8_t *b)
{
    cf_netmgr_t *m = c->m;
    cf_net_pid_t pid;
    int sub;
    uint32_t rid;
    int32_t credit;
    nm_part_t *p;

    memcpy(pid.attempt.b, b, 16);
    pid.output = (int32_t)nm_get32(b + 16);
    sub = (int32_t)nm_get32(b + 20);
    rid = nm_get32(b + 24);
    credit = (int32_t)nm_get32(b + 28);
    if (rid <= c->max_peer_rid || credit < 0) {
        nm_conn_violation(c,
                          "partition request with receiver id %u "
                          "(last %u) and credit %d",
                          rid, c->max_peer_rid, (int)credit);
        return -1;
    }
    c->max_peer_rid = rid;
    p = nm_part_find(m, &pid);
    if (p != NULL) {
        nm_attach_remote(m, p, sub, c, rid, credit);
    } else {
        nm_req_t *r = CF_NEW(nm_req_t);
        r->conn = c;
        r->rid = rid;
        r->pid = pid;
        r->sub = sub;
        r->credit = credit;
        r->next = m->reqs;
        m->reqs = r;
    }
    return 0;
}

static int
nm_on_control(nm_conn_t *c)
{
    const uint8_t *b = c->hbuf + NM_FRAME_HDR;
    uint32_t n = c->flen - 1;
    uint32_t rid = n >= 4 ? nm_get32(b) : 0;
    nm_out_t *out;
    nm_req_t **rp;

    switch (c->ftype) {
    case NM_T_HELLO: {
        uint16_t alen = nm_get16(b + 6);
        if (nm_get32(b) != NM_MAGIC || nm_get16(b + 4) != NM_VERSION ||
            8u + alen != n || alen == 0) {
            nm_conn_violation(c, "bad hello (not a cflink network manager "
                                 "or another protocol version)");
            return -1;
        }
        c->hello = 1;
        if (c->peer == NULL) {
            c->peer = cf_strndup((const char *)b + 8, alen);
            cf_log_debug("network manager: %s is task manager '%s'", c->desc,
                         c->peer);
        }
        return 0;
    }
    case NM_T_REQUEST: return nm_on_request(c, b);
    case NM_T_CREDIT: {
        uint32_t delta = nm_get32(b + 4);
        out = nm_tx_find(c, rid);
        if (out != NULL) {
            out->credit += delta;
        } else if ((rp = nm_req_find(c->m, c, rid)) != NULL) {
            (*rp)->credit += delta;
        } else if (rid == 0 || rid > c->max_peer_rid) {
            nm_conn_violation(c, "credit for unknown receiver id %u", rid);
            return -1;
        }
        return 0;
    }
    case NM_T_CANCEL:
        out = nm_tx_find(c, rid);
        if (out != NULL) {
            cf_log_debug("network manager: task manager '%s' cancelled "
                         "receiver %u",
                         nm_conn_name(c), rid);
            nm_out_kill(out);
            if (out->part->released)
                nm_part_try_finish(c->m, out->part);
        } else if ((rp = nm_req_find(c->m, c, rid)) != NULL) {
            nm_req_t *r = *rp;
            *rp = r->next;
            cf_free(r);
        } else if (rid == 0 || rid > c->max_peer_rid) {
            nm_conn_violation(c, "cancel for unknown receiver id %u", rid);
            return -1;
        }
        return 0;
    case NM_T_ERROR: {
        nm_sub_t *s = nm_rx_find(c, rid);
        if (s == NULL) {
            if (rid == 0 || rid > c->next_rid) {
                nm_conn_violation(c, "error for unknown receiver id %u", rid);
                return -1;
            }
            return 0;
        }
        if (!s->failed) {
            cf_net_gate_push(s->gate, s->ch,
                             cf_net_event_new(CF_NET_EV_ERROR, b + 4, n - 4));
            s->failed = 1;
            nm_sub_drop_spares(s);
        }
        return 0;
    }
    default: return 0;
    }
}

/* Consume n bytes from the stream. -1 when the connection was closed. */
static int
nm_parse(nm_conn_t *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint32_t take;

        if (c->state == NM_C_CLOSING)
            return -1;
        if (c->rstate == NM_R_PAYLOAD) {
            take = c->fpay - c->fgot;
            if (take > n)
                take = (uint32_t)n;
            if (c->fbuf != NULL)
                memcpy(c->fbuf->data + c->fgot, p, take);
            else if (c->fsub != NULL)
                memcpy(c->ev + c->fgot, p, take);
            c->fgot += take;
            p += take;
            n -= take;
            if (c->fgot == c->fpay)
                nm_buffer_end(c);
            continue;
        }
        take = c->hneed - c->hhave;
        if (take > n)
            take = (uint32_t)n;
        memcpy(c->hbuf + c->hhave, p, take);
        c->hhave += take;
        p += take;
        n -= take;
        if (c->hhave < c->hneed)
            break;
        if (c->rstate == NM_R_HDR) {
            if (nm_frame_begin(c) < 0)
                return -1;
            continue;
        }
        /* NM_R_BODY */
        if (c->ftype == NM_T_BUFFER) {
            if (nm_buffer_begin(c) < 0)
                return -1;
            continue;
        }
        if (nm_on_control(c) < 0)
            return -1;
        nm_frame_reset(c);
    }
    return c->state == NM_C_CLOSING ? -1 : 0;
}

static void
nm_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    nm_conn_t *c = st->data;

    if (n < 0) {
        if (n != UV_EOF)
            cf_log_warn("network manager: reading from task manager '%s' "
                        "failed: %s",
                        nm_conn_name(c), uv_strerror((int)n));
        else
            cf_log_info("network manager: task manager '%s' closed the "
                        "connection",
                        nm_conn_name(c));
        nm_conn_lost(c);
        return;
    }
    if (n == 0)
        return;
    atomic_fetch_add_explicit(&c->m->bytes_received, (uint64_t)n,
                              memory_order_relaxed);
    nm_parse(c, (const uint8_t *)buf->base, (size_t)n);
    nm_pump(c->m);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

static void
nm_do_publish(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    char ps[CF_ID_HEX_LEN + 16];
    nm_req_t **rp;
    nm_sub_t *s;
    nm_part_t *p;

    nm_pid_str(&cmd->pid, ps);
    if (nm_part_find(m, &cmd->pid) != NULL) {
        cf_log_error("network manager: partition %s is already published", ps);
        return;
    }
    p = CF_NEW(nm_part_t);
    p->pid = cmd->pid;
    p->part = cmd->part;
    p->connected = cmd->connected;
    p->owner = cmd->owner;
    p->attached = cf_calloc((size_t)p->part->n, 1);
    p->outs = cf_calloc((size_t)p->part->n, sizeof(nm_out_t *));
    p->next = m->parts;
    m->parts = p;
    atomic_fetch_add(&m->npublished, 1);
    cf_log_debug("network manager: published %s (%d subpartitions)", ps,
                 p->part->n);
    /* Requests that were waiting for it. */
    for (rp = &m->reqs; *rp != NULL;) {
        nm_req_t *r = *rp;
        if (nm_pid_eq(&r->pid, &p->pid)) {
            *rp = r->next;
            nm_attach_remote(m, p, r->sub, r->conn, r->rid, r->credit);
            cf_free(r);
        } else {
            rp = &r->next;
        }
    }
    for (s = m->subs; s != NULL; s = s->next)
        if (s->local && s->part == NULL && !s->failed &&
            nm_pid_eq(&s->pid, &p->pid))
            nm_sub_attach_local(m, s, p);
}

static void
nm_do_release_part(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    nm_sub_t *s, *next;
    nm_part_t *p;
    int i;

    p = nm_part_find(m, &cmd->pid);
    if (p == NULL) {
        char ps[CF_ID_HEX_LEN + 16];
        nm_pid_str(&cmd->pid, ps);
        cf_log_debug("network manager: release of unknown partition %s", ps);
        if (cmd->done != NULL)
            cmd->done(cmd->arg);
        return;
    }
    p->released = 1;
    p->done = cmd->done;
    p->done_arg = cmd->arg;
    if (cmd->discard)
        for (i = 0; i < p->part->n; i++)
            if (p->outs[i] != NULL)
                nm_out_kill(p->outs[i]);
    /* The producer pushes nothing any more: local consumers' gates that
     * wait for their release are free. */
    for (s = m->subs; s != NULL; s = next) {
        next = s->next;
        if (!s->local || s->part != p)
            continue;
        s->part = NULL;
        if (s->grel != NULL) {
            nm_grel_t *g = s->grel;
            nm_sub_free(m, s);
            if (--g->waits == 0) {
                if (g->done != NULL)
                    g->done(g->arg);
                cf_free(g);
            }
        } else {
            s->failed = 1; /* never attach again */
        }
    }
    /* Send or drop what is queued, then finish when nothing is held. */
    for (i = 0; i < p->part->n; i++)
        if (p->outs[i] != NULL)
            nm_out_pump(p->outs[i]);
    nm_part_try_finish(m, p);
}

static int
nm_is_local(cf_netmgr_t *m, const char *host, int port)
{
    if (host == NULL)
        return 1;
    if (port != m->port)
        return 0;
    return strcmp(host, m->adv_host) == 0 || strcmp(host, m->bind_host) == 0 ||
           strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
           strcmp(host, "::1") == 0;
}

static nm_fgate_t *
nm_fgate_find(cf_netmgr_t *m, const cf_net_gate_t *gate)
{
    nm_fgate_t *fg;

    for (fg = m->fgates; fg != NULL; fg = fg->next)
        if (fg->gate == gate)
            return fg;
    return NULL;
}

/* Reserve the floating buffers of s's gate when its first remote channel
 * needs them. They are optional: a budget too small for them leaves the
 * channels with their exclusive buffers only (with a warning). */
static void
nm_sub_link_floating(cf_netmgr_t *m, nm_sub_t *s)
{
    nm_fgate_t *fg = nm_fgate_find(m, s->gate);
    cf_error_t *err = NULL;

    if (fg == NULL || fg->n <= 0)
        return;
    if (fg->pool == NULL) {
        fg->pool = cf_net_pool_new(m->env, (uint32_t)fg->n, &m->sig, &err);
        if (fg->pool == NULL) {
            cf_log_warn("network manager: no floating buffers for an input "
                        "gate (its remote channels use their exclusive "
                        "buffers only): %s",
                        cf_error_msg(err));
            cf_error_free(err);
            fg->n = 0;
            return;
        }
    }
    s->fg = fg;
}

static void
nm_do_floating(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    nm_fgate_t *fg = nm_fgate_find(m, cmd->gate);
    nm_sub_t *s;

    if (fg != NULL) {
        if (fg->pool == NULL)
            fg->n = cmd->credits;
        return; /* a pool once made keeps its size */
    }
    fg = CF_NEW(nm_fgate_t);
    fg->gate = cmd->gate;
    fg->n = cmd->credits;
    fg->next = m->fgates;
    m->fgates = fg;
    /* Remote channels subscribed before. */
    for (s = m->subs; s != NULL; s = s->next)
        if (s->gate == cmd->gate && !s->local && s->pool != NULL &&
            s->fg == NULL)
            nm_sub_link_floating(m, s);
}

static void
nm_fgate_free(nm_fgate_t *fg)
{
    /* The gate may still hold some floating buffers. */
    cf_net_pool_release(fg->pool);
    cf_free(fg);
}

static void
nm_do_subscribe(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    nm_sub_t *s = CF_NEW(nm_sub_t);
    cf_error_t *err = NULL;
    nm_sub_t **pp;
    nm_conn_t *c;
    int fresh = 0;

    s->pid = cmd->pid;
    s->sub = cmd->sub;
    s->gate = cmd->gate;
    s->ch = cmd->ch;
    s->credits = cmd->credits < 1 ? 1 : cmd->credits;
    s->next = m->subs;
    m->subs = s;
    atomic_fetch_add(&m->nsubs, 1);

    if (nm_is_local(m, cmd->host, cmd->port)) {
        nm_part_t *p = nm_part_find(m, &s->pid);
        s->local = 1;
        if (p != NULL)
            nm_sub_attach_local(m, s, p);
        return;
    }

    s->peer = cf_asprintf("%s:%d", cmd->host, cmd->port);
    s->pool = cf_net_pool_new(m->env, (uint32_t)s->credits, &m->sig, &err);
    if (s->pool == NULL) {
        cf_log_error("network manager: input channel for %s: %s", s->peer,
                     cf_error_msg(err));
        nm_push_error(s->gate, s->ch, cf_error_msg(err));
        cf_error_free(err);
        s->failed = 1;
        return;
    }
    nm_sub_link_floating(m, s);
    c = nm_conn_find(m, s->peer);
    if (c == NULL) {
        c = nm_conn_new(m);
        c->outgoing = 1;
        c->host = cf_strdup(cmd->host);
        c->port = cmd->port;
        c->peer = cf_strdup(s->peer);
        fresh = 1;
    }
    s->conn = c;
    s->rid = ++c->next_rid;
    /* In receiver id order: requests go out in that order on open. */
    for (pp = &c->subs; *pp != NULL; pp = &(*pp)->conn_next)
        ;
    *pp = s;
    if (fresh)
        nm_conn_start(c);
    else if (c->state == NM_C_OPEN)
        nm_send_request(c, s);
}

static void
nm_do_release_gate(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    nm_grel_t *g = CF_NEW(nm_grel_t);
    nm_fgate_t **fp;
    nm_sub_t *s, *next;

    g->done = cmd->done;
    g->arg = cmd->arg;
    g->waits = 1; /* held by this function */
    for (s = m->subs; s != NULL; s = next) {
        next = s->next;
        if (s->gate != cmd->gate || s->grel != NULL)
            continue;
        if (s->local && s->part != NULL) {
            /* Its producer may still push: wait for its release. */
            s->grel = g;
            g->waits++;
            continue;
        }
        nm_sub_free(m, s);
    }
    /* Its remote channels are gone (local ones use no floating buffer). */
    for (fp = &m->fgates; *fp != NULL; fp = &(*fp)->next) {
        if ((*fp)->gate == cmd->gate) {
            nm_fgate_t *fg = *fp;
            *fp = fg->next;
            for (s = m->subs; s != NULL; s = s->next)
                if (s->fg == fg)
                    s->fg = NULL;
            nm_fgate_free(fg);
            break;
        }
    }
    if (--g->waits == 0) {
        if (g->done != NULL)
            g->done(g->arg);
        cf_free(g);
    }
}

static void
nm_do_stop(cf_netmgr_t *m)
{
    nm_part_t *p;
    nm_conn_t *c, *next;
    int i;

    m->stopping = 1;
    /* No pool or queue notifies the loop any more. */
    cf_signal_set_hook(&m->sig, NULL, NULL);
    if (m->subs != NULL)
        cf_log_warn("network manager: destroyed with subscriptions left");
    while (m->subs != NULL) {
        nm_sub_t *s = m->subs;
        if (s->grel != NULL && --s->grel->waits == 0)
            cf_free(s->grel);
        nm_sub_free(m, s);
    }
    while (m->fgates != NULL) {
        nm_fgate_t *fg = m->fgates;
        m->fgates = fg->next;
        nm_fgate_free(fg);
    }
    for (p = m->parts; p != NULL; p = p->next) {
        cf_log_warn("network manager: destroyed with a published "
                    "partition left");
        for (i = 0; i < p->part->n; i++)
            if (p->outs[i] != NULL)
                nm_out_kill(p->outs[i]);
    }
    for (c = m->conns; c != NULL; c = next) {
        next = c->next;
        nm_conn_close(c, "The network manager was shut down.");
    }
    uv_close((uv_handle_t *)&m->listener, NULL);
    uv_close((uv_handle_t *)&m->async, NULL);
}

static void
nm_on_async(uv_async_t *a)
{
    cf_netmgr_t *m = a->data;
    nm_cmd_t *cmd, *next;

    pthread_mutex_lock(&m->mu);
    cmd = m->cmd_head;
    m->cmd_head = m->cmd_tail = NULL;
    pthread_mutex_unlock(&m->mu);
    for (; cmd != NULL; cmd = next) {
        next = cmd->next;
        if (!m->stopping) {
            switch (cmd->type) {
            case NM_CMD_PUBLISH: nm_do_publish(m, cmd); break;
            case NM_CMD_RELEASE_PART: nm_do_release_part(m, cmd); break;
            case NM_CMD_SUBSCRIBE: nm_do_subscribe(m, cmd); break;
            case NM_CMD_RELEASE_GATE: nm_do_release_gate(m, cmd); break;
            case NM_CMD_FLOATING: nm_do_floating(m, cmd); break;
            case NM_CMD_STOP: nm_do_stop(m); break;
            }
        }
        cf_free(cmd->host);
        cf_free(cmd);
    }
    if (!m->stopping)
        nm_pump(m);
}

/* Send what credit allows; announce freed buffers as credit. */
static void
nm_pump(cf_netmgr_t *m)
{
    nm_part_t *p, *pnext;
    nm_conn_t *c;
    nm_sub_t *s;
    int i;

    if (m->stopping)
        return;
    for (p = m->parts; p != NULL; p = pnext) {
        pnext = p->next;
        for (i = 0; i < p->part->n; i++)
            if (p->outs[i] != NULL)
                nm_out_pump(p->outs[i]);
        if (p->released)
            nm_part_try_finish(m, p);
    }
    for (s = m->subs; s != NULL; s = s->next)
        if (!s->local && s->requested && !s->failed && s->conn != NULL &&
            s->conn->state == NM_C_OPEN)
            nm_sub_announce(s);
    /* One write per connection for all of the above. */
    for (c = m->conns; c != NULL; c = c->next)
        if (c->wpend != NULL && c->state == NM_C_OPEN)
            nm_flush(c);
}

static void
nm_post(cf_netmgr_t *m, nm_cmd_t *cmd)
{
    pthread_mutex_lock(&m->mu);
    if (m->cmd_tail != NULL)
        m->cmd_tail->next = cmd;
    else
        m->cmd_head = cmd;
    m->cmd_tail = cmd;
    pthread_mutex_unlock(&m->mu);
    uv_async_send(&m->async);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static void *
nm_thread(void *arg)
{
    cf_netmgr_t *m = arg;

    cf_log_set_thread_name("net");
    uv_run(&m->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int
nm_resolve_bind(const char *host, int port, struct sockaddr_storage *ss)
{
    struct addrinfo hints, *ai = NULL;
    uv_getaddrinfo_t req;
    uv_loop_t loop;
    char ps[16];
    int rc;

    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(ps, sizeof ps, "%d", port);
    uv_loop_init(&loop);
    rc = uv_getaddrinfo(&loop, &req, NULL, host, ps, &hints);
    if (rc == 0) {
        ai = req.addrinfo;
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        uv_freeaddrinfo(ai);
    }
    uv_loop_close(&loop);
    return rc;
}

static void
nm_free(cf_netmgr_t *m)
{
    cf_signal_deinit(&m->sig);
    pthread_mutex_destroy(&m->mu);
    cf_free(m->bind_host);
    cf_free(m->adv_host);
    cf_free(m->adv);
    cf_free(m);
}

cf_netmgr_t *
cf_netmgr_new(cf_net_env_t *env, const char *bind_host, int port,
              const char *advertised_host, cf_error_t **errp)
{
    cf_netmgr_t *m = CF_NEW(cf_netmgr_t);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int rc;

    m->env = env;
    m->seg = cf_net_env_segment_size(env);
    m->bind_host = cf_strdup(bind_host != NULL ? bind_host : "0.0.0.0");
    m->adv_host = cf_strdup(advertised_host != NULL ? advertised_host
                            : bind_host != NULL     ? bind_host
                                                    : "localhost");
    pthread_mutex_init(&m->mu, NULL);
    cf_signal_init(&m->sig);
    atomic_init(&m->nconns, 0);
    atomic_init(&m->npublished, 0);
    atomic_init(&m->nsubs, 0);
    atomic_init(&m->bytes_sent, 0);
    atomic_init(&m->bytes_received, 0);
    atomic_init(&m->buffers_sent, 0);

    uv_loop_init(&m->loop);
    uv_async_init(&m->loop, &m->async, nm_on_async);
    m->async.data = m;
    uv_tcp_init(&m->loop, &m->listener);
    m->listener.data = m;

    memset(&ss, 0, sizeof ss);
    rc = nm_resolve_bind(m->bind_host, port, &ss);
    if (rc == 0)
        rc = uv_tcp_bind(&m->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&m->listener, 128, nm_on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        cf_error_set(errp, CF_EIO,
                     "Could not start the network manager "
                     "on %s:%d: %s",
                     m->bind_host, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&m->listener, NULL);
        uv_close((uv_handle_t *)&m->async, NULL);
        uv_run(&m->loop, UV_RUN_DEFAULT);
        uv_loop_close(&m->loop);
        nm_free(m);
        return NULL;
    }
    m->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    m->adv = cf_asprintf("%s:%d", m->adv_host, m->port);
    cf_signal_set_hook(&m->sig, nm_wake, m);

    rc = pthread_create(&m->thread, NULL, nm_thread, m);
    if (rc != 0) {
        cf_log_error("network manager: cannot start its thread: %s",
                     strerror(rc));
        abort();
    }
    cf_log_info("network manager listening on %s:%d (advertised as %s)",
                m->bind_host, m->port, m->adv);
    return m;
}

void
cf_netmgr_destroy(cf_netmgr_t *m)
{
    nm_cmd_t *cmd;
    nm_part_t *p;
    nm_wreq_t *w;

    if (m == NULL)
        return;
    cmd = CF_NEW(nm_cmd_t);
    cmd->type = NM_CMD_STOP;
    nm_post(m, cmd);
    pthread_join(m->thread, NULL);
    /* The loop has closed every handle; write callbacks have run. */
    while ((p = m->parts) != NULL) {
        m->parts = p->next;
        nm_part_free(m, p);
    }
    while (m->reqs != NULL) {
        nm_req_t *r = m->reqs;
        m->reqs = r->next;
        cf_free(r);
    }
    while ((w = m->wfree) != NULL) {
        m->wfree = w->next_free;
        cf_free(w);
    }
    /* Commands posted after the stop (a caller's bug) are dropped. */
    while ((cmd = m->cmd_head) != NULL) {
        m->cmd_head = cmd->next;
        cf_free(cmd->host);
        cf_free(cmd);
    }
    if (uv_loop_close(&m->loop) != 0)
        cf_log_warn("network manager: loop closed with handles left");
    nm_free(m);
}

int
cf_netmgr_port(const cf_netmgr_t *m)
{
    return m->port;
}

void
cf_netmgr_publish(cf_netmgr_t *m, const cf_net_pid_t *pid,
                  cf_net_partition_t *part, atomic_int *connected,
                  cf_signal_t *owner)
{
    nm_cmd_t *cmd = CF_NEW(nm_cmd_t);

    cmd->type = NM_CMD_PUBLISH;
    cmd->pid = *pid;
    cmd->part = part;
    cmd->connected = connected;
    cmd->owner = owner;
    nm_post(m, cmd);
}

void
cf_netmgr_release_partition(cf_netmgr_t *m, const cf_net_pid_t *pid,
                            int discard, cf_netmgr_done_cb done, void *arg)
{
    nm_cmd_t *cmd = CF_NEW(nm_cmd_t);

    cmd->type = NM_CMD_RELEASE_PART;
    cmd->pid = *pid;
    cmd->discard = discard;
    cmd->done = done;
    cmd->arg = arg;
    nm_post(m, cmd);
}

void
cf_netmgr_subscribe(cf_netmgr_t *m, const cf_net_pid_t *pid, int sub,
                    const char *host, int port, cf_net_gate_t *gate, int ch,
                    int credits)
{
    nm_cmd_t *cmd = CF_NEW(nm_cmd_t);

    CF_ASSERT(ch >= 0 && ch < cf_net_gate_nchannels(gate));
    cmd->type = NM_CMD_SUBSCRIBE;
    cmd->pid = *pid;
    cmd->sub = sub;
    cmd->host = host != NULL ? cf_strdup(host) : NULL;
    cmd->port = port;
    cmd->gate = gate;
    cmd->ch = ch;
    cmd->credits = credits;
    nm_post(m, cmd);
}

void
cf_netmgr_release_gate(cf_netmgr_t *m, cf_net_gate_t *gate,
                       cf_netmgr_done_cb done, void *arg)
{
    nm_cmd_t *cmd = CF_NEW(nm_cmd_t);

    cmd->type = NM_CMD_RELEASE_GATE;
    cmd->gate = gate;
    cmd->done = done;
    cmd->arg = arg;
    nm_post(m, cmd);
}

void
cf_netmgr_gate_floating(cf_netmgr_t *m, cf_net_gate_t *gate, int n)
{
    nm_cmd_t *cmd = CF_NEW(nm_cmd_t);

    cmd->type = NM_CMD_FLOATING;
    cmd->gate = gate;
    cmd->credits = n < 0 ? 0 : n;
    nm_post(m, cmd);
}

void
cf_netmgr_stats(cf_netmgr_t *m, cf_netmgr_stats_t *out)
{
    out->connections = atomic_load(&m->nconns);
    out->published = atomic_load(&m->npublished);
    out->subscriptions = atomic_load(&m->nsubs);
    out->bytes_sent = atomic_load(&m->bytes_sent);
    out->bytes_received = atomic_load(&m->bytes_received);
    out->buffers_sent = atomic_load(&m->buffers_sent);
}
