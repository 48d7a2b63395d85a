/*
 * rest.c: the JobManager's HTTP server plumbing: libmicrohttpd driven by
 * the control loop, routing, request bodies and their limit, multipart
 * uploads to server-made files, JSON responses, static files of the web
 * UI. The endpoint handlers (Flink's JSON) live in rest_handlers.c.
 *
 * Design: MHD runs without threads of its own (MHD_USE_EPOLL, external
 * polling). Its epoll fd is watched by a uv_poll_t on the loop; after
 * every MHD_run() a uv timer is re-armed with MHD_get_timeout(), which is
 * 0 when MHD still has buffered work and otherwise the nearest connection
 * timeout. Every callback below therefore runs on the loop thread.
 *
 * A request goes through three calls of the access handler: the first
 * (headers read) routes it and answers at once what needs no body (404,
 * 405, 413 by Content-Length, static files); the next ones carry body
 * bytes, counted against rest.server.max-content-length and appended to
 * the body or fed to the multipart parser; the last one runs the handler.
 * MHD does not allow answering while a body is being read, so an error
 * found mid-body is remembered, the rest of the body is discarded, and
 * the error is answered at the end (or, past CF_REST_DISCARD_MAX, the
 * connection is closed). Per-request state lives in a rest_rq_t made by
 * the URI-log callback and freed by the completion callback, which also
 * deletes an upload that no handler took. See docs/internals/rest.md.
 *
 * Deferred responses: a handler may call cf_rest_defer(); the access
 * handler then suspends the connection (MHD_ALLOW_SUSPEND_RESUME) and
 * returns. The pending object has two owners: the request (released when
 * the request is answered, or freed by MHD) and the caller (released by
 * cf_rest_complete). Whichever goes last frees it, so a late completion
 * never touches a freed request and a request never waits on a freed
 * pending object. A completion queues the response on the suspended
 * connection, resumes it and re-arms the loop timer at 0 so MHD_run()
 * sends it. A one-shot loop timer answers 504 when the caller takes too
 * long; shutdown answers 503 to every suspended request and resumes it,
 * because MHD must not be stopped with suspended connections.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "rest.h"

#define CF_REST_MAX_SEGS 32
#define CF_REST_MAX_CONNECTIONS 512
#define CF_REST_CONN_MEMORY (64 * 1024)
#define CF_REST_PP_BUFFER (16 * 1024)
/* Bytes read and dropped after the limit before the connection is
 * closed instead of answered with 413 (bodies without Content-Length). */
#define CF_REST_DISCARD_MAX (1024 * 1024)
#define CF_REST_UPLOAD_FIELD "jarfile"
#define CF_REST_REQUEST_FIELD "request"
#define CF_REST_JSON_TYPE "application/json; charset=UTF-8"
#define CF_REST_DEFAULT_BIND "127.0.0.1"

typedef struct rest_route_s {
    char *method;
    char *pattern;
    char **segs; /* pattern segments; ":x" are parameters */
    int nsegs;
    cf_rest_handler_fn fn;
    void *arg;
} rest_route_t;

/* A deferred answer (see the header comment): refs counts the request's
 * and the caller's hold. */
struct cf_rest_pending_s {
    int refs;
    int caller_done;    /* cf_rest_complete called */
    cf_rest_t *rest;    /* NULL once the request side let go */
    struct rest_rq_s *q;
    struct MHD_Connection *conn;
    int suspended;
    cf_timer_t *timer;
    char *what;
    int64_t timeout_ms;
    /* A completion inside the handler, answered when it returns. */
    int have_result;
    int status;
    json_t *body;
    char *raw;
    size_t raw_len;
    const char *raw_type;
    struct cf_rest_pending_s *prev, *next;
};

/* The uv handles live apart from cf_rest_t: they are freed by their
 * close callbacks, which may run after cf_rest_destroy() returned. */
typedef struct rest_uv_s {
    uv_poll_t poll;
    uv_timer_t timer;
    int open;
    cf_rest_t *rest;
} rest_uv_t;

struct cf_rest_s {
    cf_loop_t *loop;
    rest_uv_t *uv;
    struct MHD_Daemon *mhd;
    int port;
    char *upload_dir; /* NULL: uploads refused */
    int upload_dirfd;
    char *static_dir; /* realpath, or NULL */
    rest_route_t *routes;
    int nroutes, cap;
    uint64_t max_len;
    char *cors; /* Access-Control-Allow-Origin, or NULL */
    int in_run;
    int destroy_pending;
    int kick;           /* a connection was resumed during MHD_run() */
    int64_t timeout_ms; /* web.timeout: default bound of deferrals */
    cf_rest_pending_t pendings; /* list head of deferred requests */
    int npending;
    size_t raw_bytes; /* text bodies queued and not yet sent */
};

/* One request. */
typedef struct rest_rq_s {
    cf_rest_t *rest;
    char *raw_uri; /* as sent, with the query: for "Not found" */
    int started;
    char *static_url; /* a GET for a static file, answered at the end */
    char *path;   /* the routed path: no /v1, no query */
    char *segbuf; /* the same, split in place */
    char *segs[CF_REST_MAX_SEGS];
    int nsegs;
    const rest_route_t *route;
    uint64_t received;
    int too_large;
    int err_status; /* an error found mid-body, answered at end */
    char *err_msg;
    cf_sbuf_t body;
    /* Multipart. */
    struct MHD_PostProcessor *pp;
    int nfiles;
    int in_file;       /* the current part is a file part */
    int cur_is_upload; /* ... and it is the stored jarfile */
    uint64_t cur_written;
    int upload_fd;
    char *upload_path; /* owned until the handler runs */
    char *upload_name;
    cf_rest_pending_t *pending; /* deferred answer, or NULL */
    int deferred;               /* the handler ran and deferred */
} rest_rq_t;

/* ------------------------------------------------------------------ */
/* Errors and responses                                                */
/* ------------------------------------------------------------------ */

json_t *
cf_rest_json_text(const char *s)
{
    json_t *t = json_string(s != NULL ? s : "");
    char *copy;

    if (t != NULL)
        return t;
    copy = cf_strdup(s);
    for (char *c = copy; *c != '\0'; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    t = json_string(copy);
    cf_free(copy);
    return t;
}

json_t *
cf_rest_error(int *status, int code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    json_t *o;

    va_start(ap, fmt);
    msg = cf_vasprintf(fmt, ap);
    va_end(ap);
    if (status != NULL)
        *status = code;
    /* The message may quote a client's bytes (a path parameter). */
    o = json_object();
    json_object_set_new(o, "errors", json_pack("[o]", cf_rest_json_text(msg)));
    cf_free(msg);
    return o;
}

static void
rest_add_common_headers(cf_rest_t *r, struct MHD_Response *resp)
{
    if (r->cors != NULL)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors);
}

/* Queue a JSON response (body may be NULL: empty); takes body. */
static enum MHD_Result
rest_respond_json(cf_rest_t *r, struct MHD_Connection *conn, int status,
                  json_t *body, const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *s = NULL;
    size_t len = 0;

    if (body != NULL) {
        /* 16 significant digits: 0.3 prints as 0.3 (Jackson's
         * shortest form), not jansson's default 0.29999999999999999. */
        s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(16));
        json_decref(body);
        if (s == NULL) {
            cf_log_error("REST: could not serialize a response");
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            s = strdup("{\"errors\":[\"Internal server error.\"]}");
            if (s == NULL)
                return MHD_NO;
        }
        len = strlen(s);
    }
    if (s != NULL)
        resp = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", CF_REST_JSON_TYPE);
    if (allow != NULL)
        MHD_add_response_header(resp, "Allow", allow);
    rest_add_common_headers(r, resp);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

void
cf_rest_respond_raw(cf_rest_req_t *req, const char *content_type,
                    char *data, size_t len)
{
    free(req->raw);
    req->raw = data;
    req->raw_len = len;
    req->raw_type = content_type;
}

void
cf_rest_respond_fd(cf_rest_req_t *req, const char *content_type, int fd,
                   uint64_t offset, uint64_t len)
{
    if (req->has_fd)
        close(req->fd);
    req->has_fd = 1;
    req->fd = fd;
    req->fd_off = offset;
    req->fd_len = len;
    req->raw_type = content_type;
}

/* Queue the handler's file body; takes req->fd. */
static enum MHD_Result
rest_respond_fd(cf_rest_t *r, struct MHD_Connection *conn, int status,
                cf_rest_req_t *req)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    req->has_fd = 0;
    resp = MHD_create_response_from_fd_at_offset64(req->fd_len, req->fd,
                                                   req->fd_off);
    if (resp == NULL) {
        close(req->fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", req->raw_type);
    rest_add_common_headers(r, resp);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A text body MHD holds until it is sent (or the connection closes):
 * counted in r->raw_bytes, so that log transfers can be bounded. */
typedef struct rest_rawbuf_s {
    cf_rest_t *r;
    char *data;
    size_t len;
} rest_rawbuf_t;

/* MHD frees the response: before cf_rest_destroy frees r, since
 * MHD_stop_daemon releases every response. */
static void
rest_rawbuf_free(void *cls)
{
    rest_rawbuf_t *b = cls;

    b->r->raw_bytes -= b->len;
    free(b->data);
    cf_free(b);
}

size_t
cf_rest_raw_bytes(const cf_rest_t *r)
{
    return r != NULL ? r->raw_bytes : 0;
}

/* Queue a non-JSON body; takes data (malloc'd). */
static enum MHD_Result
rest_respond_buf(cf_rest_t *r, struct MHD_Connection *conn, int status,
                 const char *type, char *data, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    rest_rawbuf_t *b = CF_NEW(rest_rawbuf_t);

    b->r = r;
    b->data = data;
    b->len = len;
    resp = MHD_create_response_from_buffer_with_free_callback_cls(
        len, data, rest_rawbuf_free, b);
    if (resp == NULL) {
        free(data);
        cf_free(b);
        return MHD_NO;
    }
    r->raw_bytes += len;
    MHD_add_response_header(resp, "Content-Type", type);
    rest_add_common_headers(r, resp);
    ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Queue the handler's non-JSON body; takes req->raw. */
static enum MHD_Result
rest_respond_raw(cf_rest_t *r, struct MHD_Connection *conn, int status,
                 cf_rest_req_t *req)
{
    char *data = req->raw;

    req->raw = NULL;
    return rest_respond_buf(r, conn, status, req->raw_type, data,
                            req->raw_len);
}

static enum MHD_Result
rest_respond_error(cf_rest_t *r, struct MHD_Connection *conn, int status,
                   const char *msg)
{
    int st;
    json_t *body = cf_rest_error(&st, status, "%s", msg);
    return rest_respond_json(r, conn, st, body, NULL);
}

static enum MHD_Result
rest_respond_not_found(cf_rest_t *r, struct MHD_Connection *conn,
                       const rest_rq_t *q, const char *url, int status,
                       const char *allow)
{
    int st;
    json_t *body = cf_rest_error(&st, status, "Not found: %s",
                                 q->raw_uri != NULL ? q->raw_uri : url);
    return rest_respond_json(r, conn, st, body, allow);
}

/* ------------------------------------------------------------------ */
/* Deferred responses                                                  */
/* ------------------------------------------------------------------ */

static void rest_timer_cb(uv_timer_t *t);

/* Make the loop call MHD_run() soon: a resumed connection has work. */
static void
rest_kick(cf_rest_t *r)
{
    if (r->in_run) {
        r->kick = 1;
        return;
    }
    if (r->uv != NULL)
        uv_timer_start(&r->uv->timer, rest_timer_cb, 0, 0);
}

static void
rest_pending_unref(cf_rest_pending_t *p)
{
    if (--p->refs > 0)
        return;
    json_decref(p->body);
    free(p->raw);
    cf_free(p->what);
    cf_free(p);
}

/* The request side lets go of p: off the server's list, timer stopped,
 * unlinked from its request. */
static void
rest_pending_detach(cf_rest_pending_t *p)
{
    if (p->rest == NULL)
        return;
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->rest->npending--;
    p->rest = NULL;
    if (p->timer != NULL) {
        cf_timer_cancel(p->timer);
        p->timer = NULL;
    }
    if (p->q != NULL)
        p->q->pending = NULL;
    p->q = NULL;
    p->conn = NULL;
    rest_pending_unref(p);
}

/* Answer a suspended request now (takes body or raw) and resume it. */
static void
rest_pending_answer(cf_rest_pending_t *p, int status, json_t *body,
                    const char *type, char *raw, size_t raw_len)
{
    cf_rest_t *r = p->rest;
    struct MHD_Connection *conn = p->conn;
    enum MHD_Result ok;

    if (raw != NULL) {
        json_decref(body);
        ok = rest_respond_buf(r, conn, status, type, raw, raw_len);
    } else {
        ok = rest_respond_json(r, conn, status, body, NULL);
    }
    if (ok != MHD_YES)
        cf_log_warn("REST: could not queue a deferred response (%d)", status);
    p->suspended = 0;
    MHD_resume_connection(conn);
    /* Without a queued response MHD calls the access handler again:
     * rest_finish then closes the connection (it never runs a handler
     * twice). */
    rest_kick(r);
    rest_pending_detach(p);
}

static void
rest_pending_timeout_cb(void *arg)
{
    cf_rest_pending_t *p = arg;
    int st;
    json_t *b;

    p->timer = NULL; /* a one-shot timer frees itself */
    if (p->rest == NULL || !p->suspended)
        return;
    cf_log_warn("REST: request %s timed out after %lld ms waiting for %s",
                p->q != NULL ? p->q->raw_uri : "?",
                (long long)p->timeout_ms, p->what);
    b = cf_rest_error(&st, MHD_HTTP_GATEWAY_TIMEOUT,
                      "Timed out after %lld ms waiting for %s.",
                      (long long)p->timeout_ms, p->what);
    rest_pending_answer(p, st, b, NULL, NULL, 0);
}

cf_rest_pending_t *
cf_rest_defer(cf_rest_req_t *req, int64_t timeout_ms, const char *what)
{
    rest_rq_t *q;
    cf_rest_t *r;
    cf_rest_pending_t *p;

    CF_ASSERT(req != NULL && req->rq != NULL && req->pending == NULL);
    q = req->rq;
    r = q->rest;
    p = CF_NEW(cf_rest_pending_t);
    p->refs = 2;
    p->rest = r;
    p->q = q;
    p->conn = req->conn;
    p->what = cf_strdup(what != NULL ? what : "an answer");
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : r->timeout_ms;
    p->next = r->pendings.next;
    p->prev = &r->pendings;
    r->pendings.next->prev = p;
    r->pendings.next = p;
    r->npending++;
    q->pending = p;
    req->pending = p;
    if (r->loop != NULL)
        p->timer = cf_loop_timer(r->loop, p->timeout_ms, 0,
                                 rest_pending_timeout_cb, p);
    return p;
}

static void
rest_complete(cf_rest_pending_t *p, int status, json_t *body,
              const char *type, char *raw, size_t len)
{
    CF_ASSERT(p != NULL && !p->caller_done);
    p->caller_done = 1;
    if (status < 100 || status > 599) {
        cf_log_error("REST: deferred answer with status %d", status);
        json_decref(body);
        free(raw);
        raw = NULL;
        body = cf_rest_error(&status, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "Internal server error.");
    }
    if (p->rest == NULL) {
        /* The request ended (timeout, shutdown): drop the answer. */
        json_decref(body);
        free(raw);
    } else if (!p->suspended) {
        /* Inside the deferring handler: rest_finish answers. */
        p->have_result = 1;
        p->status = status;
        p->body = body;
        p->raw = raw;
        p->raw_len = len;
        p->raw_type = type;
    } else {
        rest_pending_answer(p, status, body, type, raw, len);
    }
    rest_pending_unref(p);
}

void
cf_rest_complete(cf_rest_pending_t *p, int status, json_t *body)
{
    rest_complete(p, status, body, NULL, NULL, 0);
}

void
cf_rest_complete_raw(cf_rest_pending_t *p, int status,
                     const char *content_type, char *data, size_t len)
{
    if (data == NULL) {
        data = malloc(1);
        CF_ASSERT(data != NULL);
        len = 0;
    }
    rest_complete(p, status, NULL, content_type, data, len);
}

int
cf_rest_pending_alive(const cf_rest_pending_t *p)
{
    return p != NULL && p->rest != NULL;
}

int
cf_rest_pending_count(const cf_rest_t *r)
{
    return r != NULL ? r->npending : 0;
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

/* Split path (modified in place) into at most max non-empty segments.
 * Returns the count, or -1 when there are too many. */
static int
rest_split(char *path, char **segs, int max)
{
    int n = 0;
    char *p = path;

    while (*p != '\0') {
        while (*p == '/')
            *p++ = '\0';
        if (*p == '\0')
            break;
        if (n == max)
            return -1;
        segs[n++] = p;
        while (*p != '\0' && *p != '/')
            p++;
    }
    return n;
}

/* The path without the optional "/v1" version prefix. */
static const char *
rest_strip_version(const char *url)
{
    if (strncmp(url, "/v1", 3) == 0 && (url[3] == '\0' || url[3] == '/'))
        return url[3] == '\0' ? "/" : url + 3;
    return url;
}

static int
rest_route_matches(const rest_route_t *rt, char **segs, int nsegs,
                   uint64_t *score)
{
    uint64_t s = 0;

    if (rt->nsegs != nsegs)
        return 0;
    for (int i = 0; i < nsegs; i++) {
        if (rt->segs[i][0] == ':')
            continue;
        if (strcmp(rt->segs[i], segs[i]) != 0)
            return 0;
        /* Literal segments win over parameters, leftmost first. */
        s |= (uint64_t)1 << (CF_REST_MAX_SEGS - 1 - i);
    }
    *score = s;
    return 1;
}

static int
rest_method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

/* Find the route for method and the split path. Sets *known when some
 * route has this path under any method, and fills allow (the methods
 * that path accepts, comma separated). */
static const rest_route_t *
rest_match(const cf_rest_t *r, const char *method, char **segs, int nsegs,
           int *known, cf_sbuf_t *allow)
{
    const rest_route_t *best = NULL;
    uint64_t best_score = 0;
    const char *m = method;

    /* HEAD is answered by the GET route (MHD drops the body). */
    if (rest_method_is(method, "HEAD"))
        m = "GET";
    *known = 0;
    for (int i = 0; i < r->nroutes; i++) {
        const rest_route_t *rt = &r->routes[i];
        uint64_t score;

        if (!rest_route_matches(rt, segs, nsegs, &score))
            continue;
        *known = 1;
        if (allow != NULL &&
            (allow->s == NULL || strstr(allow->s, rt->method) == NULL)) {
            if (allow->len > 0)
                cf_sbuf_append(allow, ", ");
            cf_sbuf_append(allow, rt->method);
        }
        if (strcmp(rt->method, m) != 0)
            continue;
        if (best == NULL || score > best_score) {
            best = rt;
            best_score = score;
        }
    }
    return best;
}

void
cf_rest_route(cf_rest_t *r, const char *method, const char *pattern,
              cf_rest_handler_fn fn, void *arg)
{
    rest_route_t *rt;
    char *copy;
    char *segs[CF_REST_MAX_SEGS];
    int n, np = 0;

    CF_ASSERT(r != NULL && method != NULL && pattern != NULL && fn != NULL);
    copy = cf_strdup(rest_strip_version(pattern));
    n = rest_split(copy, segs, CF_REST_MAX_SEGS);
    CF_ASSERT(n >= 0);
    CF_GROW(&r->routes, &r->cap, r->nroutes + 1);
    rt = &r->routes[r->nroutes++];
    memset(rt, 0, sizeof *rt);
    rt->method = cf_strdup(method);
    rt->pattern = cf_strdup(pattern);
    rt->nsegs = n;
    rt->segs = cf_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    for (int i = 0; i < n; i++) {
        rt->segs[i] = cf_strdup(segs[i]);
        if (segs[i][0] == ':')
            np++;
    }
    CF_ASSERT(np <= CF_REST_MAX_PARAMS);
    rt->fn = fn;
    rt->arg = arg;
    cf_free(copy);
}

const char *
cf_rest_query(const cf_rest_req_t *req, const char *key)
{
    if (req == NULL || req->conn == NULL || key == NULL)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn,
                                       MHD_GET_ARGUMENT_KIND, key);
}

/* ------------------------------------------------------------------ */
/* Static files                                                        */
/* ------------------------------------------------------------------ */

static const char *
rest_content_type(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=UTF-8"},
        {".htm", "text/html; charset=UTF-8"},
        {".js", "application/javascript; charset=UTF-8"},
        {".mjs", "application/javascript; charset=UTF-8"},
        {".css", "text/css; charset=UTF-8"},
        {".json", "application/json; charset=UTF-8"},
        {".map", "application/json; charset=UTF-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=UTF-8"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".ttf", "font/ttf"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');

    if (dot != NULL && (slash == NULL || dot > slash)) {
        for (size_t i = 0; i < CF_ARRAY_LEN(types); i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

/* Whether the decoded path has a ".." or "." segment, a backslash or a
 * control character: refused before touching the file system. */
static int
rest_path_suspicious(const char *p)
{
    for (const char *s = p; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
            return 1;
        if (*s == '.' && (s == p || s[-1] == '/')) {
            if (s[1] == '\0' || s[1] == '/')
                return 1;
            if (s[1] == '.' && (s[2] == '\0' || s[2] == '/'))
                return 1;
        }
    }
    return 0;
}

/* Answer a GET for a static file. Returns 1 when it answered (ret set),
 * 0 when there is no such file. */
static int
rest_serve_static(cf_rest_t *r, struct MHD_Connection *conn, const char *url,
                  enum MHD_Result *ret)
{
    char *want, *real;
    size_t dl;
    struct stat st;
    struct MHD_Response *resp;
    int fd;

    if (r->static_dir == NULL || url[0] != '/' || rest_path_suspicious(url))
        return 0;
    want = cf_asprintf("%s%s%s", r->static_dir, url,
                       url[strlen(url) - 1] == '/' ? "index.html" : "");
    real = realpath(want, NULL);
    cf_free(want);
    if (real == NULL)
        return 0;
    dl = strlen(r->static_dir);
    if (strncmp(real, r->static_dir, dl) != 0 || real[dl] != '/') {
        cf_log_warn("REST: refused static path %s (outside %s)", url,
                    r->static_dir);
        free(real);
        return 0;
    }
    /* O_NONBLOCK: a FIFO in the directory must not block the loop (it
     * is then refused as not a regular file). */
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        free(real);
        return 0;
    }
    /* Revalidation instead of transfer on a reload: the browser sends
     * back our Last-Modified, and an unchanged file answers 304 with no
     * body (no-cache: always ask, so a new UI is seen at once). */
    char lm[64];
    struct tm gm;
    const char *ims;
    int status = MHD_HTTP_OK;

    gmtime_r(&st.st_mtime, &gm);
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &gm);
    ims = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
    if (ims != NULL && strcmp(ims, lm) == 0)
        status = MHD_HTTP_NOT_MODIFIED; /* MHD sends no body for a 304 */
    resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (resp == NULL) {
        close(fd);
        free(real);
        return 0;
    }
    MHD_add_response_header(resp, "Content-Type", rest_content_type(real));
    MHD_add_response_header(resp, "Last-Modified", lm);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    rest_add_common_headers(r, resp);
    *ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    free(real);
    return 1;
}

void
cf_rest_set_static_dir(cf_rest_t *r, const char *dir)
{
    cf_free(r->static_dir);
    r->static_dir = NULL;
    if (dir == NULL)
        return;
    char *real = realpath(dir, NULL);
    if (real == NULL) {
        cf_log_warn("REST: static file directory %s: %s; not serving "
                    "the web UI",
                    dir, strerror(errno));
        return;
    }
    r->static_dir = cf_strdup(real);
    free(real);
}

/* ------------------------------------------------------------------ */
/* Requests: state, uploads                                            */
/* ------------------------------------------------------------------ */

static void rest_rq_set_error(rest_rq_t *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rest_rq_set_error(rest_rq_t *q, int status, const char *fmt, ...)
{
    va_list ap;

    if (q->err_status != 0)
        return; /* the first error is the one answered */
    q->err_status = status;
    va_start(ap, fmt);
    q->err_msg = cf_vasprintf(fmt, ap);
    va_end(ap);
}

/* Close the upload file and, unless keep, delete it. */
static void
rest_rq_drop_upload(rest_rq_t *q, int keep)
{
    if (q->upload_fd >= 0) {
        close(q->upload_fd);
        q->upload_fd = -1;
    }
    if (q->upload_path != NULL && !keep) {
        if (unlink(q->upload_path) != 0 && errno != ENOENT)
            cf_log_warn("REST: could not delete upload %s: %s", q->upload_path,
                        strerror(errno));
    }
    cf_free(q->upload_path);
    q->upload_path = NULL;
    cf_free(q->upload_name);
    q->upload_name = NULL;
    q->cur_is_upload = 0;
}

static void
rest_rq_free(rest_rq_t *q)
{
    if (q == NULL)
        return;
    if (q->pending != NULL) {
        /* The request ends while deferred (shutdown, client gone): the
         * caller's completion will be dropped. */
        q->pending->suspended = 0;
        rest_pending_detach(q->pending);
    }
    if (q->pp != NULL)
        MHD_destroy_post_processor(q->pp);
    rest_rq_drop_upload(q, 0);
    cf_sbuf_deinit(&q->body);
    cf_free(q->err_msg);
    cf_free(q->segbuf);
    cf_free(q->path);
    cf_free(q->raw_uri);
    cf_free(q->static_url);
    cf_free(q);
}

/* The client's file name reduced to its basename; NULL when nothing
 * safe remains (RELIABILITY.md 10.4 rule 1). */
static char *
rest_upload_basename(const char *name)
{
    const char *b = name;
    size_t n;

    for (const char *p = name; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    n = strlen(b);
    if (n == 0 || n > NAME_MAX || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 ||
        b[0] == '-')
        return NULL;
    for (const char *p = b; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    return cf_strdup(b);
}

/* Create the server-named file of an upload. */
static int
rest_rq_open_upload(cf_rest_t *r, rest_rq_t *q, const char *client_name)
{
    char name[CF_ID_HEX_LEN + sizeof ".upload"];
    char hex[CF_ID_HEX_LEN + 1];

    q->upload_name = rest_upload_basename(client_name);
    if (q->upload_name == NULL) {
        rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                          "Invalid name of the uploaded file.");
        return -1;
    }
    for (int tries = 0; tries < 8; tries++) {
        cf_random_hex(hex, CF_ID_HEX_LEN);
        snprintf(name, sizeof name, "%s.upload", hex);
        q->upload_fd =
            openat(r->upload_dirfd, name,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (q->upload_fd >= 0 || errno != EEXIST)
            break;
    }
    if (q->upload_fd < 0) {
        cf_log_error("REST: could not create an upload file in %s: %s",
                     r->upload_dir, strerror(errno));
        rest_rq_set_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "Could not store the uploaded file.");
        cf_free(q->upload_name);
        q->upload_name = NULL;
        return -1;
    }
    q->upload_path = cf_asprintf("%s/%s", r->upload_dir, name);
    q->cur_is_upload = 1;
    return 0;
}

static int
rest_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The multipart parser's callback: one call per chunk of a part. */
static enum MHD_Result
rest_post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
               const char *filename, const char *content_type,
               const char *transfer_encoding, const char *data, uint64_t off,
               size_t size)
{
    rest_rq_t *q = cls;
    cf_rest_t *r = q->rest;
    int rc;

    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    if (q->err_status != 0)
        return MHD_YES; /* answered at the end; drop the data */
    if (filename == NULL) {
        q->in_file = 0;
        if (key != NULL && strcmp(key, CF_REST_REQUEST_FIELD) == 0) {
            cf_sbuf_appendn(&q->body, data != NULL ? data : "", size);
            return MHD_YES;
        }
        rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                          "Received unknown attribute %.64s.",
                          key != NULL ? key : "");
        return MHD_YES;
    }
    /* A file part: off == 0 starts a new one (an empty first call of a
     * part is followed by its data at off 0 too). */
    if (off == 0 && !(q->in_file && q->cur_written == 0)) {
        q->nfiles++;
        q->in_file = 1;
        q->cur_written = 0;
        if (q->cur_is_upload) {
            /* The stored upload is complete; keep it, stop writing. */
            if (q->upload_fd >= 0) {
                close(q->upload_fd);
                q->upload_fd = -1;
            }
            q->cur_is_upload = 0;
        }
        if (q->nfiles == 1 && key != NULL &&
            strcmp(key, CF_REST_UPLOAD_FIELD) == 0) {
            if (r->upload_dir == NULL) {
                rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                                  "File uploads not allowed.");
                return MHD_YES;
            }
            if (rest_rq_open_upload(r, q, filename) != 0)
                return MHD_YES;
        }
    }
    q->cur_written += size;
    if (!q->cur_is_upload || size == 0)
        return MHD_YES;
    rc = rest_write_all(q->upload_fd, data, size);
    if (rc != 0) {
        cf_log_error("REST: could not write upload %s: %s", q->upload_path,
                     strerror(-rc));
        rest_rq_set_error(q, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "Could not store the uploaded file.");
        rest_rq_drop_upload(q, 0);
    }
    return MHD_YES;
}

static rest_rq_t *
rest_rq_new(cf_rest_t *r, const char *uri)
{
    rest_rq_t *q = CF_NEW(rest_rq_t);
    q->rest = r;
    q->raw_uri = cf_strdup(uri != NULL ? uri : "");
    q->upload_fd = -1;
    return q;
}

static void *
rest_uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    return rest_rq_new(cls, uri);
}

static void
rest_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        cf_log_debug("REST: request ended early (%d)", (int)toe);
    rest_rq_free(*con_cls);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* The access handler                                                  */
/* ------------------------------------------------------------------ */

/* Percent-decoding of the path and query values as MHD's default, except
 * that "%00" stays as it is: a decoded NUL would cut the C string, so
 * "/jars/<id>%00.so" would act on "<id>". The literal "%00" then fails
 * the id checks like any other bad character. */
static size_t
rest_unescape_cb(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;
    const char *p = s;

    (void)cls;
    (void)conn;
    while (*p != '\0') {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
            isxdigit((unsigned char)p[2]) && (p[1] != '0' || p[2] != '0')) {
            char hx[3] = {p[1], p[2], '\0'};

            *w++ = (char)strtol(hx, NULL, 16);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static int
rest_is_multipart(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    static const char mp[] = "multipart/form-data";
    return ct != NULL && strncasecmp(ct, mp, sizeof mp - 1) == 0;
}

static enum MHD_Result
rest_too_large(cf_rest_t *r, struct MHD_Connection *conn, uint64_t len)
{
    int st;
    json_t *b;

    if (len > 0)
        b = cf_rest_error(&st, MHD_HTTP_CONTENT_TOO_LARGE,
                          "Request of %llu bytes is larger than the "
                          "limit of %llu bytes "
                          "(rest.server.max-content-length).",
                          (unsigned long long)len,
                          (unsigned long long)r->max_len);
    else
        b = cf_rest_error(&st, MHD_HTTP_CONTENT_TOO_LARGE,
                          "Request is larger than the limit of %llu bytes "
                          "(rest.server.max-content-length).",
                          (unsigned long long)r->max_len);
    return rest_respond_json(r, conn, st, b, NULL);
}

/* First call: route, and answer what needs no body. */
static enum MHD_Result
rest_begin(cf_rest_t *r, rest_rq_t *q, struct MHD_Connection *conn,
           const char *url, const char *method)
{
    cf_sbuf_t allow = {0};
    int known;
    enum MHD_Result ret;
    const char *cl;

    q->started = 1;
    q->path = cf_strdup(rest_strip_version(url));
    q->segbuf = cf_strdup(q->path);
    q->nsegs = rest_split(q->segbuf, q->segs, CF_REST_MAX_SEGS);
    if (q->nsegs < 0)
        return rest_respond_not_found(r, conn, q, url, MHD_HTTP_NOT_FOUND,
                                      NULL);
    q->route = rest_match(r, method, q->segs, q->nsegs, &known, &allow);
    if (q->route == NULL) {
        int is_get =
            rest_method_is(method, "GET") || rest_method_is(method, "HEAD");
        if (is_get && !known && r->static_dir != NULL) {
            /* Answered by the last call (rest_access_cb): MHD closes the
             * connection after an answer queued before the request was
             * read to its end, and a page loads several files on one
             * keep-alive connection. */
            q->static_url = cf_strdup(url);
            cf_sbuf_deinit(&allow);
            return MHD_YES;
        }
        if (rest_method_is(method, "OPTIONS") && known) {
            struct MHD_Response *resp = MHD_create_response_from_buffer(
                0, (void *)"", MHD_RESPMEM_PERSISTENT);
            if (resp == NULL) {
                cf_sbuf_deinit(&allow);
                return MHD_NO;
            }
            MHD_add_response_header(resp, "Allow", allow.s);
            MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                    allow.s);
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Content-Type");
            rest_add_common_headers(r, resp);
            ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
            MHD_destroy_response(resp);
            cf_sbuf_deinit(&allow);
            return ret;
        }
        ret = rest_respond_not_found(r, conn, q, url,
                                     known ? MHD_HTTP_METHOD_NOT_ALLOWED
                                           : MHD_HTTP_NOT_FOUND,
                                     known ? allow.s : NULL);
        cf_sbuf_deinit(&allow);
        return ret;
    }
    cf_sbuf_deinit(&allow);

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL) {
        char *end;
        unsigned long long n;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && n > r->max_len)
            return rest_too_large(r, conn, n);
    }
    if (rest_is_multipart(conn)) {
        q->pp = MHD_create_post_processor(conn, CF_REST_PP_BUFFER,
                                          rest_post_iter, q);
        if (q->pp == NULL)
            return rest_respond_error(r, conn, MHD_HTTP_BAD_REQUEST,
                                      "Malformed multipart request: no "
                                      "boundary.");
    }
    return MHD_YES;
}

/* Body bytes. */
static enum MHD_Result
rest_consume(cf_rest_t *r, rest_rq_t *q, const char *data, size_t size)
{
    q->received += size;
    if (q->received > r->max_len) {
        if (!q->too_large) {
            q->too_large = 1;
            rest_rq_drop_upload(q, 0);
            cf_sbuf_deinit(&q->body);
            memset(&q->body, 0, sizeof q->body);
        }
        if (q->received - r->max_len > CF_REST_DISCARD_MAX) {
            cf_log_info("REST: closing a connection sending more than "
                        "rest.server.max-content-length (%llu bytes)",
                        (unsigned long long)r->max_len);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (q->err_status != 0)
        return MHD_YES;
    if (q->pp != NULL) {
        if (MHD_post_process(q->pp, data, size) != MHD_YES) {
            rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                              "Malformed multipart request.");
            rest_rq_drop_upload(q, 0);
        }
        return MHD_YES;
    }
    cf_sbuf_appendn(&q->body, data, size);
    return MHD_YES;
}

/* Last call: the body is complete; run the handler. */
static enum MHD_Result
rest_finish(cf_rest_t *r, rest_rq_t *q, struct MHD_Connection *conn,
            const char *method)
{
    cf_rest_req_t req;
    int status = MHD_HTTP_OK;
    json_t *body;
    const rest_route_t *rt = q->route;
    int np = 0;

    if (q->deferred) {
        /* Resumed without a queued response (queueing failed): never
         * run the handler twice. */
        return MHD_NO;
    }
    if (q->too_large) {
        rest_rq_drop_upload(q, 0);
        return rest_too_large(r, conn, q->received);
    }
    if (q->pp != NULL) {
        enum MHD_Result ok = MHD_destroy_post_processor(q->pp);
        q->pp = NULL;
        if (ok != MHD_YES)
            rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                              "Malformed multipart request.");
        if (q->upload_fd >= 0) {
            close(q->upload_fd);
            q->upload_fd = -1;
        }
        if (q->nfiles > 1)
            rest_rq_set_error(q, MHD_HTTP_BAD_REQUEST,
                              "Exactly 1 file must be sent, received %d.",
                              q->nfiles);
    }
    if (q->err_status != 0) {
        rest_rq_drop_upload(q, 0);
        return rest_respond_error(r, conn, q->err_status, q->err_msg);
    }

    memset(&req, 0, sizeof req);
    req.method = method;
    req.path = q->path;
    for (int i = 0; i < rt->nsegs; i++) {
        if (rt->segs[i][0] != ':')
            continue;
        if (np < CF_REST_MAX_PARAMS)
            req.params[np++] = q->segs[i];
    }
    req.nparams = np;
    req.body = q->body.s != NULL ? q->body.s : "";
    req.body_len = q->body.len;
    req.upload_path = q->upload_path;
    req.upload_name = q->upload_name;
    req.conn = conn;
    req.rq = q;

    body = rt->fn(&req, rt->arg, &status);
    /* The handler owns the upload now. */
    rest_rq_drop_upload(q, 1);
    if (req.pending != NULL) {
        cf_rest_pending_t *p = req.pending;

        json_decref(body);
        free(req.raw);
        if (req.has_fd)
            close(req.fd);
        req.has_fd = 0;
        q->deferred = 1;
        if (!p->have_result) {
            p->suspended = 1;
            MHD_suspend_connection(conn);
            return MHD_YES;
        }
        /* Completed inside the handler: answer now. */
        status = p->status;
        body = p->body;
        req.raw = p->raw;
        req.raw_len = p->raw_len;
        req.raw_type = p->raw_type;
        p->body = NULL;
        p->raw = NULL;
        rest_pending_detach(p);
        if (req.raw != NULL) {
            json_decref(body);
            return rest_respond_raw(r, conn, status, &req);
        }
        return rest_respond_json(r, conn, status, body, NULL);
    }
    if (status < 100 || status > 599) {
        cf_log_error("REST: handler of %s %s returned status %d", method,
                     rt->pattern, status);
        json_decref(body);
        free(req.raw);
        if (req.has_fd)
            close(req.fd);
        return rest_respond_error(r, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "Internal server error.");
    }
    if (req.has_fd) {
        json_decref(body);
        free(req.raw);
        return rest_respond_fd(r, conn, status, &req);
    }
    if (req.raw != NULL) {
        json_decref(body);
        return rest_respond_raw(r, conn, status, &req);
    }
    return rest_respond_json(r, conn, status, body, NULL);
}

static enum MHD_Result
rest_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
               const char *method, const char *version, const char *upload_data,
               size_t *upload_data_size, void **con_cls)
{
    cf_rest_t *r = cls;
    rest_rq_t *q = *con_cls;

    (void)version;
    if (q == NULL) {
        q = rest_rq_new(r, url);
        *con_cls = q;
    }
    if (!q->started)
        return rest_begin(r, q, conn, url, method);
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->static_url != NULL) { /* a GET body: dropped, bounded */
            q->received += n;
            return q->received > CF_REST_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        return rest_consume(r, q, upload_data, n);
    }
    if (q->static_url != NULL) {
        enum MHD_Result ret;
        if (rest_serve_static(r, conn, q->static_url, &ret))
            return ret;
        return rest_respond_not_found(r, conn, q, q->static_url,
                                      MHD_HTTP_NOT_FOUND, NULL);
    }
    return rest_finish(r, q, conn, method);
}

/* ------------------------------------------------------------------ */
/* The loop integration                                                */
/* ------------------------------------------------------------------ */

static void rest_do_destroy(cf_rest_t *r);
static void rest_timer_cb(uv_timer_t *t);

static void
rest_run(cf_rest_t *r)
{
    MHD_UNSIGNED_LONG_LONG to;

    r->in_run = 1;
    MHD_run(r->mhd);
    r->in_run = 0;
    if (r->destroy_pending) {
        rest_do_destroy(r);
        return;
    }
    if (r->kick) {
        r->kick = 0;
        uv_timer_start(&r->uv->timer, rest_timer_cb, 0, 0);
        return;
    }
    if (MHD_get_timeout(r->mhd, &to) == MHD_YES) {
        if (to > (MHD_UNSIGNED_LONG_LONG)INT32_MAX)
            to = INT32_MAX;
        uv_timer_start(&r->uv->timer, rest_timer_cb, (uint64_t)to, 0);
    } else {
        uv_timer_stop(&r->uv->timer);
    }
}

static void
rest_timer_cb(uv_timer_t *t)
{
    rest_uv_t *u = t->data;
    if (u->rest != NULL)
        rest_run(u->rest);
}

static void
rest_poll_cb(uv_poll_t *p, int status, int events)
{
    rest_uv_t *u = p->data;

    (void)events;
    if (status < 0)
        cf_log_warn("REST: poll error: %s", uv_strerror(status));
    if (u->rest != NULL)
        rest_run(u->rest);
}

static void
rest_uv_close_cb(uv_handle_t *h)
{
    rest_uv_t *u = h->data;
    if (--u->open == 0)
        cf_free(u);
}

static void
rest_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char *s;
    size_t n;

    (void)cls;
    s = cf_vasprintf(fmt, ap);
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    cf_log_debug("microhttpd: %s", s);
    cf_free(s);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

/* Parse "8081", "8080-8090", "50100-50200,50300" into ranges. */
static int
rest_parse_ports(const char *spec, int (*ranges)[2], int max)
{
    int n = 0;
    const char *p = spec;

    while (*p != '\0') {
        char *end;
        long lo, hi;
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        lo = strtol(p, &end, 10);
        if (end == p)
            return -1;
        hi = lo;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == '-') {
            p++;
            hi = strtol(p, &end, 10);
            if (end == p)
                return -1;
            p = end;
        }
        while (*p == ' ')
            p++;
        if (*p != '\0' && *p != ',')
            return -1;
        if (lo < 0 || hi > 65535 || lo > hi || n == max)
            return -1;
        ranges[n][0] = (int)lo;
        ranges[n][1] = (int)hi;
        n++;
    }
    return n > 0 ? n : -1;
}

static struct MHD_Daemon *
rest_start_one(cf_rest_t *r, const struct addrinfo *ai, int port,
               unsigned idle_s)
{
    struct sockaddr_storage ss;
    unsigned flags =
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET6) {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    }
    return MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, rest_access_cb, r,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CF_REST_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CF_REST_CONN_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, rest_uri_log_cb, r,
        MHD_OPTION_UNESCAPE_CALLBACK, rest_unescape_cb, r,
        MHD_OPTION_NOTIFY_COMPLETED, rest_completed_cb, r,
        MHD_OPTION_EXTERNAL_LOGGER, rest_mhd_log, r, MHD_OPTION_END);
}

static int
rest_listen(cf_rest_t *r, const cf_config_t *cfg, cf_error_t **errp)
{
    const char *bind = cf_config_get(cfg, "rest.bind-address");
    const char *ports = cf_config_get(cfg, "rest.bind-port");
    int ranges[16][2];
    int nr;
    struct addrinfo hints, *res = NULL;
    int64_t idle_ms;
    unsigned idle_s;
    int gai;

    if (bind == NULL || bind[0] == '\0')
        bind = CF_REST_DEFAULT_BIND;
    if (ports == NULL)
        ports = cf_config_get(cfg, "rest.port");
    if (ports == NULL)
        ports = "8081";
    nr = rest_parse_ports(ports, ranges, (int)CF_ARRAY_LEN(ranges));
    if (nr < 0)
        return cf_error_set(errp, CF_ECONFIG,
                            "rest.bind-port: invalid port or range '%s'",
                            ports);
    idle_ms = cf_config_get_duration_ms(cfg, "rest.idleness-timeout", 300000);
    idle_s = idle_ms <= 0 ? 0 : (unsigned)((idle_ms + 999) / 1000);

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    gai = getaddrinfo(bind, NULL, &hints, &res);
    if (gai != 0)
        return cf_error_set(errp, CF_ECONFIG,
                            "rest.bind-address: cannot resolve '%s': %s", bind,
                            gai_strerror(gai));
    for (int i = 0; i < nr && r->mhd == NULL; i++) {
        for (int port = ranges[i][0]; port <= ranges[i][1] && r->mhd == NULL;
             port++) {
            /* IPv4 addresses first ("localhost" binds 127.0.0.1). */
            for (int fam = 0; fam < 2 && r->mhd == NULL; fam++) {
                for (struct addrinfo *ai = res; ai != NULL && !r->mhd;
                     ai = ai->ai_next) {
                    if ((fam == 0) != (ai->ai_family == AF_INET))
                        continue;
                    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                        continue;
                    r->mhd = rest_start_one(r, ai, port, idle_s);
                }
            }
        }
    }
    freeaddrinfo(res);
    if (r->mhd == NULL)
        return cf_error_set(errp, CF_EIO,
                            "Could not start rest endpoint on any port in "
                            "port range %s at %s",
                            ports, bind);
    {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(r->mhd, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (di != NULL &&
            getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET6)
                r->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            else
                r->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    return 0;
}

cf_rest_t *
cf_rest_new(cf_loop_t *loop, const cf_config_t *cfg, const char *upload_dir,
            cf_error_t **errp)
{
    cf_rest_t *r = CF_NEW(cf_rest_t);
    const union MHD_DaemonInfo *di;
    const char *cors, *addr;
    int32_t max;
    int rc;

    r->loop = loop;
    r->upload_dirfd = -1;
    r->pendings.next = r->pendings.prev = &r->pendings;
    r->timeout_ms = cf_config_get_duration_ms(cfg, "web.timeout", 600000);
    if (r->timeout_ms <= 0)
        r->timeout_ms = 600000;
    max = cf_config_get_int(cfg, "rest.server.max-content-length", 104857600);
    r->max_len = max > 0 ? (uint64_t)max : 104857600u;
    cors = cf_config_get(cfg, "web.access-control-allow-origin");
    if (cors != NULL && cors[0] != '\0')
        r->cors = cf_strdup(cors);

    if (upload_dir != NULL) {
        rc = cf_mkdirs(upload_dir, 0700);
        if (rc == 0) {
            r->upload_dirfd =
                open(upload_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (r->upload_dirfd < 0)
                rc = -errno;
        }
        if (rc != 0) {
            cf_error_set(errp, rc, "upload directory %s: %s", upload_dir,
                         strerror(-rc));
            cf_rest_destroy(r);
            return NULL;
        }
        r->upload_dir = cf_strdup(upload_dir);
    }

    if (rest_listen(r, cfg, errp) != 0) {
        cf_rest_destroy(r);
        return NULL;
    }

    di = MHD_get_daemon_info(r->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL) {
        cf_error_set(errp, CF_EIO, "REST: microhttpd has no epoll fd");
        cf_rest_destroy(r);
        return NULL;
    }
    r->uv = CF_NEW(rest_uv_t);
    r->uv->rest = r;
    r->uv->poll.data = r->uv;
    r->uv->timer.data = r->uv;
    rc = uv_poll_init(cf_loop_uv(loop), &r->uv->poll, di->epoll_fd);
    if (rc != 0) {
        cf_free(r->uv);
        r->uv = NULL;
        cf_error_set(errp, CF_EIO, "REST: cannot watch the epoll fd: %s",
                     uv_strerror(rc));
        cf_rest_destroy(r);
        return NULL;
    }
    r->uv->open++;
    uv_timer_init(cf_loop_uv(loop), &r->uv->timer);
    r->uv->open++;
    uv_poll_start(&r->uv->poll, UV_READABLE, rest_poll_cb);

    addr = cf_config_get(cfg, "rest.address");
    cf_log_info("Rest endpoint listening at %s:%d",
                addr != NULL && addr[0] != '\0' ? addr : "localhost", r->port);
    return r;
}

int
cf_rest_port(const cf_rest_t *r)
{
    return r != NULL ? r->port : -1;
}

static void
rest_do_destroy(cf_rest_t *r)
{
    int answered = 0;

    if (r->uv != NULL) {
        /* Stop watching before MHD closes its epoll fd. */
        r->uv->rest = NULL;
        uv_poll_stop(&r->uv->poll);
        uv_timer_stop(&r->uv->timer);
        uv_close((uv_handle_t *)&r->uv->poll, rest_uv_close_cb);
        uv_close((uv_handle_t *)&r->uv->timer, rest_uv_close_cb);
        r->uv = NULL;
    }
    /* MHD must not stop with suspended connections: answer each
     * deferred request 503 and resume it; its caller's completion will
     * be dropped. */
    while (r->pendings.next != &r->pendings) {
        cf_rest_pending_t *p = r->pendings.next;

        if (p->suspended && r->mhd != NULL) {
            int st;
            json_t *b = cf_rest_error(&st, MHD_HTTP_SERVICE_UNAVAILABLE,
                                      "The REST server is shutting down.");
            rest_pending_answer(p, st, b, NULL, NULL, 0);
            answered++;
        } else {
            rest_pending_detach(p);
        }
    }
    if (r->mhd != NULL && answered > 0) {
        /* Give the 503s a chance to leave (a few non-blocking runs; what
         * does not fit the socket now is dropped with the connection). */
        for (int i = 0; i < 8; i++)
            MHD_run(r->mhd);
    }
    if (r->mhd != NULL) {
        MHD_stop_daemon(r->mhd); /* completes and frees open requests */
        r->mhd = NULL;
    }
    for (int i = 0; i < r->nroutes; i++) {
        rest_route_t *rt = &r->routes[i];
        for (int j = 0; j < rt->nsegs; j++)
            cf_free(rt->segs[j]);
        cf_free(rt->segs);
        cf_free(rt->method);
        cf_free(rt->pattern);
    }
    cf_free(r->routes);
    if (r->upload_dirfd >= 0)
        close(r->upload_dirfd);
    cf_free(r->upload_dir);
    cf_free(r->static_dir);
    cf_free(r->cors);
    cf_free(r);
}

void
cf_rest_destroy(cf_rest_t *r)
{
    if (r == NULL)
        return;
    if (r->in_run) {
        /* Called from a handler: finish after MHD_run() returns. */
        r->destroy_pending = 1;
        return;
    }
    rest_do_destroy(r);
}
