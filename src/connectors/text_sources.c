/*
 * text_sources.c: sources of text lines: Flink's FileSource with
 * TextLineInputFormat ("file-input") and socketTextStream ("Socket
 * Stream").
 *
 * Both read with read(2) into a 64 KiB buffer per next() call and split it
 * into lines with cf_conn_lines_t, which emits complete lines straight
 * from the buffer and copies only a line that spans reads; a line may have
 * any length up to the 4 GiB a record can hold.
 *
 * The file source lists its path at open time, on the instance's
 * TaskManager: every instance lists the same sorted files and reads those
 * whose index i satisfies i % parallelism == instance (a file is never
 * split, as Flink does not split text files).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors_int.h"

#define CF_CONN_READ_BUF (64 * 1024)

/* Emitting lines: the argument of the line callback. */
typedef struct line_sink_s {
    cf_ctx_t *ctx;
    const char *what; /* the file or host:port, for messages */
} line_sink_t;

static int
emit_line(void *arg, const char *line, size_t len)
{
    line_sink_t *ls = arg;
    if (len > UINT32_MAX)
        return cf_fail(ls->ctx, "A line of %s is longer than 4 GiB", ls->what);
    return cf_emit(ls->ctx, line, (uint32_t)len, CF_NO_TIMESTAMP);
}

/* ------------------------------------------------------------------ */
/* Text files                                                          */
/* ------------------------------------------------------------------ */

typedef struct file_conf_s {
    const char *path;
} file_conf_t;

typedef struct file_state_s {
    char **files; /* every file under the path, sorted */
    size_t n;
    size_t next;   /* index of the file to read (or being read) */
    size_t stride; /* parallelism */
    int fd;        /* of files[next], or -1 */
    cf_conn_lines_t lines;
    char buf[CF_CONN_READ_BUF];
} file_state_t;

static int
file_open(cf_ctx_t *ctx)
{
    const file_conf_t *conf = cf_ctx_udata(ctx);
    file_state_t *st = cf_conn_malloc(sizeof(*st));
    int rc;

    st->files = NULL;
    st->n = 0;
    st->fd = -1;
    st->stride = (size_t)cf_ctx_parallelism(ctx);
    st->next = (size_t)cf_ctx_subtask_index(ctx);
    cf_conn_lines_init(&st->lines);
    cf_ctx_set_local(ctx, st);
    if (!conf->path)
        return cf_fail(ctx, "file-input: the input path is empty");
    rc = cf_conn_list_files(conf->path, &st->files, &st->n);
    if (rc == -ENOENT)
        return cf_fail(ctx, "Input path '%s' does not exist", conf->path);
    if (rc < 0)
        return cf_fail(ctx, "Could not list input path '%s': %s", conf->path,
                       strerror(-rc));
    return CF_OK;
}

static int
file_next(cf_ctx_t *ctx)
{
    file_state_t *st = cf_ctx_local(ctx);
    line_sink_t ls;
    ssize_t n;
    int rc;

    if (st->next >= st->n)
        return CF_SOURCE_END;
    ls.ctx = ctx;
    ls.what = st->files[st->next];
    if (st->fd < 0) {
        st->fd = open(ls.what, O_RDONLY | O_CLOEXEC);
        if (st->fd < 0)
            return cf_fail(ctx, "Could not open input file '%s': %s", ls.what,
                           strerror(errno));
        (void)posix_fadvise(st->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    n = read(st->fd, st->buf, sizeof(st->buf));
    if (n < 0) {
        if (errno == EINTR)
            return CF_SOURCE_MORE;
        return cf_fail(ctx, "Could not read input file '%s': %s", ls.what,
                       strerror(errno));
    }
    if (n > 0) {
        rc = cf_conn_lines_feed(&st->lines, st->buf, (size_t)n, emit_line, &ls);
        return rc < 0 ? rc : CF_SOURCE_MORE;
    }
    /* End of this file: its last line may lack a '\n'. */
    rc = cf_conn_lines_flush(&st->lines, emit_line, &ls);
    close(st->fd);
    st->fd = -1;
    st->next += st->stride;
    if (rc < 0)
        return rc;
    return st->next >= st->n ? CF_SOURCE_END : CF_SOURCE_MORE;
}

static void
file_close(cf_ctx_t *ctx)
{
    file_state_t *st = cf_ctx_local(ctx);
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    cf_conn_paths_free(st->files, st->n);
    cf_conn_lines_deinit(&st->lines);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t file_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = file_open,
    .next = file_next,
    .close = file_close,
};

cf_stream_t *
cf_conn_read_text_file(cf_env_t *env, const char *path)
{
    file_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));
    struct stat st;

    conf->path = cf_conn_registry_strdup(path);
    if (!path || !*path) {
        conf->path = NULL;
        cf_env_fail(env, "readTextFile: the input path is empty");
    } else if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            cf_env_fail(env, "Input path '%s' does not exist", path);
        else
            cf_env_fail(env, "Cannot access input path '%s': %s", path,
                        strerror(errno));
    }
    return cf_env_add_source(env, "file-input", &file_ops, conf);
}

/* ------------------------------------------------------------------ */
/* Socket text stream                                                  */
/* ------------------------------------------------------------------ */

/* next() waits this long for data before it returns CF_SOURCE_IDLE. */
#define CF_CONN_SOCKET_POLL_MS 20
/* open() gives up connecting after this long. */
#define CF_CONN_CONNECT_TIMEOUT_MS 10000

typedef struct sock_conf_s {
    const char *host;
    int port;
    const char *where; /* "host:port" */
} sock_conf_t;

typedef struct sock_state_s {
    int fd;
    cf_conn_lines_t lines;
    char buf[CF_CONN_READ_BUF];
} sock_state_t;

/* Connect to one address, waiting at most CF_CONN_CONNECT_TIMEOUT_MS.
 * Returns the connected (non-blocking) socket or -errno. */
static int
sock_try(const struct addrinfo *ai)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    struct pollfd pfd;
    int err = 0, rc;
    socklen_t elen = sizeof(err);

    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        err = errno;
        close(fd);
        return -err;
    }
    pfd.fd = fd;
    pfd.events = POLLOUT;
    do {
        rc = poll(&pfd, 1, CF_CONN_CONNECT_TIMEOUT_MS);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        close(fd);
        return -ETIMEDOUT;
    }
    if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        err = errno;
    if (err) {
        close(fd);
        return -err;
    }
    return fd;
}

static int
sock_open(cf_ctx_t *ctx)
{
    const sock_conf_t *conf = cf_ctx_udata(ctx);
    sock_state_t *st = cf_conn_malloc(sizeof(*st));
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int rc, last = -ECONNREFUSED;

    st->fd = -1;
    cf_conn_lines_init(&st->lines);
    cf_ctx_set_local(ctx, st);
    if (cf_ctx_subtask_index(ctx) > 0)
        return CF_OK; /* parallelism raised by the user: one reader only */
    if (!conf->host)
        return cf_fail(ctx, "Could not connect to socket %s: invalid address",
                       conf->where);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", conf->port);
    rc = getaddrinfo(conf->host, port, &hints, &res);
    if (rc != 0)
        return cf_fail(ctx, "Could not connect to socket %s: %s", conf->where,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = sock_try(ai);
        if (fd >= 0) {
            st->fd = fd;
            break;
        }
        last = fd;
    }
    freeaddrinfo(res);
    if (st->fd < 0)
        return cf_fail(ctx, "Could not connect to socket %s: %s", conf->where,
                       strerror(-last));
    return CF_OK;
}

static int
sock_next(cf_ctx_t *ctx)
{
    const sock_conf_t *conf = cf_ctx_udata(ctx);
    sock_state_t *st = cf_ctx_local(ctx);
    struct pollfd pfd;
    line_sink_t ls;
    ssize_t n;
    int rc;

    if (st->fd < 0)
        return CF_SOURCE_END;
    pfd.fd = st->fd;
    pfd.events = POLLIN;
    rc = poll(&pfd, 1, CF_CONN_SOCKET_POLL_MS);
    if (rc == 0 || (rc < 0 && errno == EINTR))
        return CF_SOURCE_IDLE;
    ls.ctx = ctx;
    ls.what = conf->where;
    n = read(st->fd, st->buf, sizeof(st->buf));
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return CF_SOURCE_IDLE;
        return cf_fail(ctx, "Could not read from socket %s: %s", conf->where,
                       strerror(errno));
    }
    if (n > 0) {
        rc = cf_conn_lines_feed(&st->lines, st->buf, (size_t)n, emit_line, &ls);
        return rc < 0 ? rc : CF_SOURCE_MORE;
    }
    /* The server closed the connection. */
    close(st->fd);
    st->fd = -1;
    rc = cf_conn_lines_flush(&st->lines, emit_line, &ls);
    return rc < 0 ? rc : CF_SOURCE_END;
}

static void
sock_close(cf_ctx_t *ctx)
{
    sock_state_t *st = cf_ctx_local(ctx);
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    cf_conn_lines_deinit(&st->lines);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t sock_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = sock_open,
    .next = sock_next,
    .close = sock_close,
};

cf_stream_t *
cf_conn_socket_text_stream(cf_env_t *env, const char *host, int port)
{
    sock_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));
    char where[300];
    cf_stream_t *s;

    snprintf(where, sizeof(where), "%s:%d", host ? host : "", port);
    conf->host = cf_conn_registry_strdup(host);
    conf->port = port;
    conf->where = cf_conn_registry_strdup(where);
    if (!host || !*host) {
        conf->host = NULL;
        cf_env_fail(env, "socketTextStream: the host name is empty");
    } else if (port <= 0 || port > 65535) {
        conf->host = NULL;
        cf_env_fail(env,
                    "socketTextStream: port %d of host '%s' is not "
                    "between 1 and 65535",
                    port, host);
    }
    s = cf_env_add_source(env, "Socket Stream", &sock_ops, conf);
    return cf_stream_set_parallelism(s, 1);
}
