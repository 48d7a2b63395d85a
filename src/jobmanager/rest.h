/*
 * rest.h: the JobManager's HTTP server (libmicrohttpd) driven by the
 * control loop: MHD runs in external-select mode, its epoll fd watched by
 * a uv_poll_t and its timeout by a uv timer, so every handler runs on the
 * loop thread and may touch control state without locks.
 *
 * Routing: handlers register Flink-style patterns ("/jobs/:jobid/plan");
 * the optional "/v1" prefix is stripped before matching. An unknown path
 * answers 404 {"errors":["Not found: /x"]}; a known path with another
 * method answers 405 {"errors":["Not found: ..."]} as Flink does. Request
 * bodies over rest.server.max-content-length answer 413.
 *
 * Uploads (multipart/form-data, field "jarfile"): the file is streamed to
 * a server-made name under the upload directory (never the client's
 * name); the handler gets that path and the client's file name reduced to
 * its basename, and owns the file (moves or deletes it).
 *
 * Deferred responses: a handler that needs an answer from elsewhere (a
 * TaskManager over RPC) calls cf_rest_defer(), returns NULL, and later
 * answers with cf_rest_complete() or cf_rest_complete_raw(); meanwhile
 * the connection is suspended (MHD_suspend_connection) and the loop runs
 * on. The pending object outlives the request: when the request ends
 * first (the REST server shuts down, or the deferral timed out and was
 * answered with 504) a later completion is dropped. The caller must
 * complete every pending object exactly once; see docs/internals/rest.md.
 *
 * Threads: loop only.
 */
#ifndef CF_REST_H
#define CF_REST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "core.h"
#include "loop.h"

typedef struct cf_rest_s cf_rest_t;
typedef struct cf_rest_pending_s cf_rest_pending_t;

#define CF_REST_MAX_PARAMS 4

typedef struct cf_rest_req_s {
    const char *method;   /* "GET", "POST", "PATCH", "DELETE", "PUT",
                           * "OPTIONS"; HEAD reaches GET handlers as
                           * "HEAD" */
    const char *path;     /* without the /v1 prefix and the query */
    const char *params[CF_REST_MAX_PARAMS]; /* ":x" segments, in order */
    int nparams;
    const char *body;     /* NUL-terminated request body (or "") */
    size_t body_len;
    const char *upload_path; /* multipart "jarfile": stored file, or NULL */
    const char *upload_name; /* its client file name (basename only) */
    void *conn;           /* struct MHD_Connection *, for cf_rest_query */
    /* Set by cf_rest_respond_raw: a non-JSON body. */
    char *raw;
    size_t raw_len;
    const char *raw_type;
    /* Set by cf_rest_respond_fd: a body sent from a file. */
    int has_fd;
    int fd;
    uint64_t fd_off, fd_len;
    /* Set by cf_rest_defer: the answer comes later. */
    cf_rest_pending_t *pending;
    struct rest_rq_s *rq; /* private to rest.c */
} cf_rest_req_t;

/* Answer with a non-JSON body (log files as text/plain): the handler
 * calls this, sets *status and returns NULL. data (malloc'd, len bytes)
 * passes to the server; content_type must outlive the request (a
 * literal). */
void cf_rest_respond_raw(cf_rest_req_t *req, const char *content_type,
                         char *data, size_t len);

/* Answer with len bytes of the open file fd from offset (log files):
 * sent by the kernel (sendfile) as the client takes them, never read
 * into memory; fd passes to the server, which closes it. The handler
 * sets *status and returns NULL; content_type as above. */
void cf_rest_respond_fd(cf_rest_req_t *req, const char *content_type, int fd,
                        uint64_t offset, uint64_t len);

/* Bytes of non-JSON bodies (log files) queued and not yet sent to their
 * clients: handlers that read files refuse new transfers past a budget
 * (a slow client holds its body until it has it all). */
size_t cf_rest_raw_bytes(const cf_rest_t *r);

/* Defer the answer of req (a handler calls this, then returns NULL; its
 * *status is ignored). The response is sent when the caller completes
 * the returned object, or, after timeout_ms (<= 0: web.timeout), the
 * request is answered 504 {"errors":["Timed out after <n> ms waiting for
 * <what>."]} (what is copied, e.g. "TaskManager <id>"). At most one
 * deferral per request. */
cf_rest_pending_t *cf_rest_defer(cf_rest_req_t *req, int64_t timeout_ms,
                                 const char *what);
/* Answer a deferred request with a JSON body (taken; NULL: empty) and
 * free p. May be called inside the handler that deferred (the answer
 * is then sent when it returns). When the request already ended
 * (timeout, shutdown) the body is freed and nothing is sent. */
void cf_rest_complete(cf_rest_pending_t *p, int status, json_t *body);
/* The same with a non-JSON body: data (malloc'd, len bytes) is taken;
 * content_type must be a literal. */
void cf_rest_complete_raw(cf_rest_pending_t *p, int status,
                          const char *content_type, char *data, size_t len);
/* Whether the request of p still waits for its answer (1), or ended
 * (0): a caller may skip work whose result would be dropped. */
int cf_rest_pending_alive(const cf_rest_pending_t *p);
/* Requests currently deferred (tests, diagnostics). */
int cf_rest_pending_count(const cf_rest_t *r);

/* A query parameter, or NULL. */
const char *cf_rest_query(const cf_rest_req_t *req, const char *key);

/* Set *status and return the response body (ownership passes to the
 * server). A NULL body means an empty body. */
typedef json_t *(*cf_rest_handler_fn)(cf_rest_req_t *req, void *arg,
                                      int *status);

/* Listen on rest.bind-address (unset: 127.0.0.1, see docs/internals/
 * rest.md) : rest.bind-port (a port, range or list; unset: rest.port; 0:
 * ephemeral). Uploads go to upload_dir (created). */
cf_rest_t *cf_rest_new(cf_loop_t *loop, const cf_config_t *cfg,
                       const char *upload_dir, cf_error_t **errp);
int cf_rest_port(const cf_rest_t *r);
/* Stops accepting, closes connections, frees. */
void cf_rest_destroy(cf_rest_t *r);

/* Register a route; pattern segments starting with ':' match one path
 * segment and are passed in req->params. */
void cf_rest_route(cf_rest_t *r, const char *method, const char *pattern,
                   cf_rest_handler_fn fn, void *arg);

/* Serve files under dir for GET paths that match no route ("/" ->
 * index.html); for the web UI (NULL: none). */
void cf_rest_set_static_dir(cf_rest_t *r, const char *dir);

/* A JSON string of s; bytes of a string that is not UTF-8 (a client's
 * path parameter, a thread name Linux cut inside a character) become
 * '?' rather than losing the string. */
json_t *cf_rest_json_text(const char *s);

/* {"errors": [message]} with *status = status. */
json_t *cf_rest_error(int *status, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Standard base64 (RFC 4648, with padding) of a string; the caller frees
 * the result with cf_free. Flink sends serialized throwables this way. */
char *cf_rest_base64(const char *s);

#endif /* CF_REST_H */
