/*
 * rpc.h: framed protobuf messages over TCP on a daemon's control loop.
 *
 * A frame is [u32 big-endian length][cflink.Envelope bytes] (proto/rpc.proto).
 * The first frame each way is a Hello request/response: magic
 * "cflink-rpc", protocol version, software version, role and resource id.
 * A peer of another protocol version is refused with an error that names
 * both versions, logged on both sides, and the connection is closed.
 *
 * Requests carry a request id; the reply carries the same id with
 * is_response set (and `error` when the request failed). Calls time out
 * (callback with -ETIMEDOUT and a message naming the peer, the message
 * type and the timeout); a connection that closes fails its pending calls
 * with CF_EIO ("connection to <peer> closed: <reason>").
 *
 * A frame that cannot be decoded, is longer than the maximum frame size
 * (64 KiB before the handshake), or is not a Hello before the handshake
 * closes that connection only (logged with the peer address); the daemon
 * keeps running. Replies to a peer that does not read them are dropped
 * (CF_EIO) once more than max_frame + 16 MiB wait to be written.
 *
 * Client connections retry until the server appears (every retry_ms) and,
 * with reconnect set, reconnect after a loss. Server-side connections are
 * freed after on_close returns.
 *
 * Threads: everything runs on the loop thread of the cf_loop_t given.
 */
#ifndef CF_RPC_H
#define CF_RPC_H

#include <stdint.h>

#include "core.h"
#include "loop.h"
#include "rpc.pb-c.h"

#define CF_RPC_MAGIC "cflink-rpc"
#define CF_RPC_PROTOCOL_VERSION 2
/* Default maximum frame (Flink's pekko.framesize, 10485760b). */
#define CF_RPC_MAX_FRAME_DEFAULT (10 * 1024 * 1024)

typedef struct cf_rpc_conn_s cf_rpc_conn_t;
typedef struct cf_rpc_server_s cf_rpc_server_t;

typedef struct cf_rpc_handler_s {
    /* The handshake succeeded: messages may flow. hello is the peer's. */
    void (*on_open)(cf_rpc_conn_t *c, const Cflink__Hello *hello, void *arg);
    /* A request (req_id != 0: answer it with cf_rpc_reply or
     * cf_rpc_reply_error, now or later) or a one-way message (req_id 0).
     * msg is valid only during the call. */
    void (*on_message)(cf_rpc_conn_t *c, uint64_t req_id,
                       const Cflink__Envelope *msg, void *arg);
    /* The connection closed (after on_open, or a handshake failure on a
     * client connection: then c may retry). reason names the cause. */
    void (*on_close)(cf_rpc_conn_t *c, const char *reason, void *arg);
} cf_rpc_handler_t;

/* What this end says about itself in its Hello. */
typedef struct cf_rpc_ident_s {
    const char *role; /* "jobmanager", "taskmanager" */
    const char *id;   /* resource id */
    const char *version;
} cf_rpc_ident_t;

/* Listen on host:port (port 0: ephemeral). handler/arg serve every
 * accepted connection. */
cf_rpc_server_t *cf_rpc_server_new(cf_loop_t *loop, const char *host,
                                   int port, const cf_rpc_ident_t *ident,
                                   const cf_rpc_handler_t *handler,
                                   void *arg, cf_error_t **errp);
int cf_rpc_server_port(const cf_rpc_server_t *s);
/* Closes the listener and every accepted connection (on_close called). */
void cf_rpc_server_destroy(cf_rpc_server_t *s);

/* A client connection to host:port, connecting (and, with reconnect,
 * reconnecting) every retry_ms until closed with cf_rpc_conn_close. */
cf_rpc_conn_t *cf_rpc_connect(cf_loop_t *loop, const char *host, int port,
                              const cf_rpc_ident_t *ident,
                              const cf_rpc_handler_t *handler, void *arg,
                              int64_t retry_ms, int reconnect);
/* Close (both kinds). A client connection object is freed; a server one
 * is freed after its on_close. Pending calls fail with CF_EIO. */
void cf_rpc_conn_close(cf_rpc_conn_t *c, const char *reason);

int cf_rpc_conn_is_open(const cf_rpc_conn_t *c);
const char *cf_rpc_conn_peer(const cf_rpc_conn_t *c); /* "host:port" */
/* The peer's Hello (NULL before the handshake). */
const Cflink__Hello *cf_rpc_conn_hello(const cf_rpc_conn_t *c);
void cf_rpc_conn_set_udata(cf_rpc_conn_t *c, void *udata);
void *cf_rpc_conn_udata(const cf_rpc_conn_t *c);
void cf_rpc_conn_set_max_frame(cf_rpc_conn_t *c, uint32_t max);

/* Send a one-way message (request_id 0). msg is borrowed (encoded now).
 * Returns 0, or CF_EIO when the connection is not open. */
int cf_rpc_send(cf_rpc_conn_t *c, Cflink__Envelope *msg);

/* reply is NULL when status < 0; error then names the failure: the
 * peer's error string for a refused request (status CF_EPROTO),
 * -ETIMEDOUT, or CF_EIO when the connection closed. reply is valid only
 * during the callback. */
typedef void (*cf_rpc_reply_cb)(cf_rpc_conn_t *c, int status,
                                const char *error,
                                const Cflink__Envelope *reply, void *arg);

/* Send a request; cb runs exactly once (reply, error, timeout or close).
 * Returns CF_EIO without calling cb when the connection is not open. */
int cf_rpc_call(cf_rpc_conn_t *c, Cflink__Envelope *msg, int64_t timeout_ms,
                cf_rpc_reply_cb cb, void *arg);
int cf_rpc_reply(cf_rpc_conn_t *c, uint64_t req_id, Cflink__Envelope *msg);
int cf_rpc_reply_error(cf_rpc_conn_t *c, uint64_t req_id, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
/* Convenience: reply with an empty Ack. */
int cf_rpc_reply_ack(cf_rpc_conn_t *c, uint64_t req_id);

/* "RegisterTaskExecutor", "SubmitTask", ... for logs and errors. */
const char *cf_rpc_body_name(int body_case);

/* Id helpers for the 16-byte ids in messages. */
ProtobufCBinaryData cf_rpc_id_bytes(const cf_id_t *id); /* borrows id */
/* 0, or CF_EPROTO when b is not 16 bytes. */
int cf_rpc_id_get(const ProtobufCBinaryData *b, cf_id_t *id);

#endif /* CF_RPC_H */
