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
 *
 * Checkpointing (ABI 1.1 hosts): an instance's work is a list of (file,
 * byte offset of the next line to emit); at every checkpoint (the
 * snapshot hook) it stores what remains, the file being read with the
 * offset of the first line not emitted yet (bytes read minus the partial
 * line held back) and the files not started with offset 0, in its
 * operator list state (SPLIT mode, items: version byte 1, the offset as
 * 8 little-endian bytes, the path). A restored instance reads the items
 * it gets back, seeking to each offset, instead of listing the path: a
 * rescale spreads the remaining files over the new instances.
 *
 * The socket source keeps no state: what it read before a failure is not
 * read again (a socket is not replayable).
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

typedef struct file_work_s {
    char *path;
    uint64_t offset; /* where to start reading */
} file_work_t;

typedef struct file_state_s {
    file_work_t *work; /* files to read, in order */
    size_t n;
    size_t next;       /* index of the file to read (or being read) */
    int fd;            /* of work[next], or -1 */
    uint64_t read_pos; /* file offset after the bytes read from fd */
    cf_state_t *pos;   /* operator state, or NULL (old host) */
    cf_conn_lines_t lines;
    char buf[CF_CONN_READ_BUF];
} file_state_t;

#define FILE_WHAT "file-input"
#define FILE_STATE "file-positions"

static void
file_work_add(file_state_t *st, char *path, uint64_t offset)
{
    if ((st->n & (st->n - 1)) == 0) /* 0, 1, 2, 4...: double the room */
        st->work = cf_conn_realloc(st->work,
                                   (st->n ? st->n * 2 : 1) * sizeof(*st->work));
    st->work[st->n].path = path;
    st->work[st->n].offset = offset;
    st->n++;
}

/* The restored work of the instance. */
static int
file_restore(cf_ctx_t *ctx, file_state_t *st)
{
    cf_list_iter_t it;
    cf_slice_t item;
    size_t k = 0;

    if (cf_list_iter(st->pos, &it) < 0)
        return cf_fail(ctx, "%s: could not read the restored positions",
                       FILE_WHAT);
    while (cf_list_next(st->pos, &it, &item) > 0) {
        const uint8_t *b = item.data;
        char *path;
        if (item.len < 10 || b[0] != 1 || memchr(b + 9, 0, item.len - 9))
            return cf_fail(ctx,
                           "%s: restored position %zu is corrupt (%u bytes)",
                           FILE_WHAT, k, (unsigned)item.len);
        path = cf_conn_malloc(item.len - 9 + 1);
        memcpy(path, b + 9, item.len - 9);
        path[item.len - 9] = '\0';
        file_work_add(st, path, cf_conn_get_u64(b + 1));
        k++;
    }
    return CF_OK;
}

static int
file_open(cf_ctx_t *ctx)
{
    const file_conf_t *conf = cf_ctx_udata(ctx);
    file_state_t *st = cf_conn_calloc(1, sizeof(*st));
    size_t stride = (size_t)cf_ctx_parallelism(ctx);
    size_t i, nfiles = 0;
    char **files = NULL;
    int rc;

    st->fd = -1;
    cf_conn_lines_init(&st->lines);
    cf_ctx_set_local(ctx, st);
    if (!conf->path)
        return cf_fail(ctx, "file-input: the input path is empty");
    if (cf_conn_has_opstate(ctx)) {
        st->pos = cf_op_state_list(ctx, FILE_STATE, CF_OPSTATE_SPLIT);
        if (!st->pos)
            return cf_fail(ctx, "%s: could not register operator state '%s'",
                           FILE_WHAT, FILE_STATE);
        if (cf_ctx_is_restored(ctx))
            return file_restore(ctx, st);
    }
    rc = cf_conn_list_files(conf->path, &files, &nfiles);
    if (rc == -ENOENT)
        return cf_fail(ctx, "Input path '%s' does not exist", conf->path);
    if (rc < 0)
        return cf_fail(ctx, "Could not list input path '%s': %s", conf->path,
                       strerror(-rc));
    if (stride == 0)
        stride = 1;
    for (i = 0; i < nfiles; i++) {
        if (i % stride == (size_t)cf_ctx_subtask_index(ctx))
            file_work_add(st, files[i], 0);
        else
            free(files[i]);
    }
    free(files);
    return CF_OK;
}

static int
file_next(cf_ctx_t *ctx)
{
    file_state_t *st = cf_ctx_local(ctx);
    file_work_t *w;
    line_sink_t ls;
    ssize_t n;
    int rc;

    if (st->next >= st->n)
        return CF_SOURCE_END;
    w = &st->work[st->next];
    ls.ctx = ctx;
    ls.what = w->path;
    if (st->fd < 0) {
        st->fd = open(w->path, O_RDONLY | O_CLOEXEC);
        if (st->fd < 0) {
            if (errno == ENOENT)
                return cf_fail(ctx, "Input path '%s' does not exist", w->path);
            return cf_fail(ctx, "Could not open input file '%s': %s", w->path,
                           strerror(errno));
        }
        if (w->offset > 0 &&
            lseek(st->fd, (off_t)w->offset, SEEK_SET) == (off_t)-1)
            return cf_fail(ctx,
                           "Could not seek to offset %llu of input "
                           "file '%s': %s",
                           (unsigned long long)w->offset, w->path,
                           strerror(errno));
        st->read_pos = w->offset;
        (void)posix_fadvise(st->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    n = read(st->fd, st->buf, sizeof(st->buf));
    if (n < 0) {
        if (errno == EINTR)
            return CF_SOURCE_MORE;
        return cf_fail(ctx, "Could not read input file '%s': %s", w->path,
                       strerror(errno));
    }
    if (n > 0) {
        st->read_pos += (uint64_t)n;
        rc = cf_conn_lines_feed(&st->lines, st->buf, (size_t)n, emit_line, &ls);
        return rc < 0 ? rc : CF_SOURCE_MORE;
    }
    /* End of this file: its last line may lack a '\n'. */
    rc = cf_conn_lines_flush(&st->lines, emit_line, &ls);
    close(st->fd);
    st->fd = -1;
    st->next++;
    if (rc < 0)
        return rc;
    return st->next >= st->n ? CF_SOURCE_END : CF_SOURCE_MORE;
}

static int
file_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    file_state_t *st = cf_ctx_local(ctx);
    uint8_t *item = NULL;
    size_t i, cap = 0;
    int rc;

    (void)checkpoint_id;
    if (!st || !st->pos)
        return CF_OK;
    rc = cf_state_clear(st->pos);
    for (i = st->next; rc >= 0 && i < st->n; i++) {
        const file_work_t *w = &st->work[i];
        size_t pl = strlen(w->path);
        uint64_t off = w->offset;
        if (i == st->next && st->fd >= 0)
            off = st->read_pos - (uint64_t)st->lines.len;
        if (9 + pl > cap) {
            cap = 9 + pl;
            item = cf_conn_realloc(item, cap);
        }
        item[0] = 1;
        cf_conn_put_u64(item + 1, off);
        memcpy(item + 9, w->path, pl);
        if (9 + pl > UINT32_MAX)
            rc = -1;
        else
            rc = cf_list_add(st->pos, item, (uint32_t)(9 + pl));
    }
    free(item);
    if (rc < 0)
        return cf_fail(ctx, "%s: could not store its positions", FILE_WHAT);
    return CF_OK;
}

static void
file_close(cf_ctx_t *ctx)
{
    file_state_t *st = cf_ctx_local(ctx);
    size_t i;
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    for (i = 0; i < st->n; i++)
        free(st->work[i].path);
    free(st->work);
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

static const cf_hooks_t file_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = file_snapshot,
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
    return cf_stream_hooks(cf_env_add_source(env, FILE_WHAT, &file_ops, conf),
                           &file_hooks);
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
