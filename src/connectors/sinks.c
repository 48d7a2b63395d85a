/*
 * sinks.c: Flink's PrintSink ("Print to Std. Out"), DiscardingSink
 * ("Discard") and a FileSink of text lines ("File Sink").
 *
 * Print: an instance assembles "N> record\n" in its own buffer and hands
 * it to stdio in one fwrite (a line longer than the buffer is written
 * under flockfile), so lines of concurrent instances never mix. stdout is
 * flushed at the end of the input, at close, and, while records flow, when
 * 100 ms have passed since the last flush.
 *
 * File sink: an exactly-once two-phase-commit sink, as Flink's FileSink.
 * An instance draws a uuid when it opens (so names never clash across
 * instances, attempts and restarts) and writes its records, through a
 * 64 KiB buffer, to the in-progress part file
 * dir/.part-<uuid>-<i>-<n>.inprogress, created with the first record of
 * a transaction. pre_commit (at a checkpoint barrier, or at the end of
 * the input without checkpointing) flushes, fsyncs and closes it and
 * renames it to dir/.part-<uuid>-<i>-<n>.pending (fsyncing dir); the
 * transaction bytes name the pending and the final file. commit (when
 * the checkpoint completes, or again after a restore) renames pending to
 * the visible dir/part-<uuid>-<i>-<n>; a pending file that is gone while
 * the final one exists is a committed transaction, both gone is an
 * error naming the file. abort removes the in-progress file (the open
 * transaction) or a transaction's pending file. A transaction without a
 * record has no file: its bytes are empty and its commit does nothing.
 *
 * Transaction bytes: "CFP1", then the pending and the final path, each
 * as a 4-byte little-endian length and the bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors_int.h"

/* ------------------------------------------------------------------ */
/* Print                                                               */
/* ------------------------------------------------------------------ */

#define CF_CONN_PRINT_LINE 16384
#define CF_CONN_PRINT_FLUSH_NS 100000000u

typedef struct print_state_s {
    size_t plen;       /* length of the "N> " prefix at the start of line */
    uint64_t flush_ns; /* when stdout was last flushed */
    char line[CF_CONN_PRINT_LINE];
} print_state_t;

static uint64_t
coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
print_open(cf_ctx_t *ctx)
{
    print_state_t *st = cf_conn_malloc(sizeof(*st));
    st->plen = 0;
    if (cf_ctx_parallelism(ctx) > 1)
        st->plen = (size_t)snprintf(st->line, 16, "%d> ",
                                    cf_ctx_subtask_index(ctx) + 1);
    st->flush_ns = coarse_ns();
    cf_ctx_set_local(ctx, st);
    return CF_OK;
}

static int
print_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    print_state_t *st = cf_ctx_local(ctx);
    size_t need = st->plen + in->len + 1;
    uint64_t now;

    if (need <= sizeof(st->line)) {
        memcpy(st->line + st->plen, in->data, in->len);
        st->line[need - 1] = '\n';
        fwrite(st->line, 1, need, stdout);
    } else {
        flockfile(stdout);
        fwrite_unlocked(st->line, 1, st->plen, stdout);
        fwrite_unlocked(in->data, 1, in->len, stdout);
        fputc_unlocked('\n', stdout);
        funlockfile(stdout);
    }
    now = coarse_ns();
    if (now - st->flush_ns >= CF_CONN_PRINT_FLUSH_NS) {
        st->flush_ns = now;
        fflush(stdout);
    }
    return CF_OK;
}

static int
print_finish(cf_ctx_t *ctx)
{
    if (fflush(stdout) != 0)
        return cf_fail(ctx, "Could not write to standard output: %s",
                       strerror(errno));
    return CF_OK;
}

static void
print_close(cf_ctx_t *ctx)
{
    fflush(stdout);
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_sink_ops_t print_ops = {
    .size = sizeof(cf_sink_ops_t),
    .open = print_open,
    .invoke = print_invoke,
    .finish = print_finish,
    .close = print_close,
};

cf_stream_t *
cf_conn_print(cf_stream_t *s)
{
    return cf_stream_sink(s, "Print to Std. Out", &print_ops, NULL);
}

/* ------------------------------------------------------------------ */
/* Discard                                                             */
/* ------------------------------------------------------------------ */

static int
discard_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    return CF_OK;
}

static const cf_sink_ops_t discard_ops = {
    .size = sizeof(cf_sink_ops_t),
    .invoke = discard_invoke,
};

cf_stream_t *
cf_conn_discard(cf_stream_t *s)
{
    return cf_stream_sink(s, "Discard", &discard_ops, NULL);
}

/* ------------------------------------------------------------------ */
/* Text file sink                                                      */
/* ------------------------------------------------------------------ */

#define CF_CONN_WRITE_BUF (64 * 1024)

typedef struct fsink_conf_s {
    const char *dir;
} fsink_conf_t;

typedef struct fsink_state_s {
    const char *dir;
    char uuid[37];
    int index;     /* subtask */
    uint64_t part; /* n of the current or next part file */
    int fd;        /* the open in-progress file, or -1 */
    char *inprog;  /* its path, and those it will have */
    char *pending;
    char *final;
    size_t len; /* bytes in buf */
    char buf[CF_CONN_WRITE_BUF];
} fsink_state_t;

static char *
fsink_path(const fsink_state_t *st, const char *fmt)
{
    size_t dl = strlen(st->dir);
    const char *sep = (dl > 0 && st->dir[dl - 1] == '/') ? "" : "/";
    unsigned long long n = (unsigned long long)st->part;
    int len = snprintf(NULL, 0, fmt, st->dir, sep, st->uuid, st->index, n);
    char *p = cf_conn_malloc((size_t)len + 1);
    snprintf(p, (size_t)len + 1, fmt, st->dir, sep, st->uuid, st->index, n);
    return p;
}

static void
fsink_drop_names(fsink_state_t *st)
{
    free(st->inprog);
    free(st->pending);
    free(st->final);
    st->inprog = st->pending = st->final = NULL;
}

static int
fsink_open(cf_ctx_t *ctx)
{
    const fsink_conf_t *conf = cf_ctx_udata(ctx);
    fsink_state_t *st = cf_conn_calloc(1, sizeof(*st));
    int rc;

    st->fd = -1;
    st->dir = conf->dir;
    st->index = cf_ctx_subtask_index(ctx);
    cf_conn_uuid_generate(st->uuid);
    cf_ctx_set_local(ctx, st);
    if (!conf->dir)
        return cf_fail(ctx, "File Sink: the output directory is empty");
    rc = cf_conn_mkdirs(conf->dir);
    if (rc < 0)
        return cf_fail(ctx, "Could not create output directory '%s': %s",
                       conf->dir, strerror(-rc));
    return CF_OK;
}

/* Start a transaction: create the next in-progress file. */
static int
fsink_begin(cf_ctx_t *ctx, fsink_state_t *st)
{
    st->inprog = fsink_path(st, "%s%s.part-%s-%d-%llu.inprogress");
    st->pending = fsink_path(st, "%s%s.part-%s-%d-%llu.pending");
    st->final = fsink_path(st, "%s%spart-%s-%d-%llu");
    st->fd = open(st->inprog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (st->fd < 0)
        return cf_fail(ctx, "Could not create file '%s': %s", st->inprog,
                       strerror(errno));
    st->len = 0;
    return CF_OK;
}

static int
fsink_flush(cf_ctx_t *ctx, fsink_state_t *st)
{
    int rc;
    if (st->len == 0)
        return CF_OK;
    rc = cf_conn_write_all(st->fd, st->buf, st->len);
    st->len = 0;
    if (rc < 0)
        return cf_fail(ctx, "Could not write to file '%s': %s", st->inprog,
                       strerror(-rc));
    return CF_OK;
}

static int
fsink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    size_t need = (size_t)in->len + 1;
    int rc;

    if (st->fd < 0 && (rc = fsink_begin(ctx, st)) < 0)
        return rc;
    if (st->len + need > sizeof(st->buf)) {
        rc = fsink_flush(ctx, st);
        if (rc < 0)
            return rc;
    }
    if (need > sizeof(st->buf)) {
        /* A record larger than the buffer goes straight to the file. */
        rc = cf_conn_write_all(st->fd, in->data, in->len);
        if (rc == 0)
            rc = cf_conn_write_all(st->fd, "\n", 1);
        if (rc < 0)
            return cf_fail(ctx, "Could not write to file '%s': %s", st->inprog,
                           strerror(-rc));
        return CF_OK;
    }
    memcpy(st->buf + st->len, in->data, in->len);
    st->buf[st->len + in->len] = '\n';
    st->len += need;
    return CF_OK;
}

static int
fsink_txn_encode(cf_ctx_t *ctx, cf_buf_t *txn, const char *pending,
                 const char *final)
{
    size_t pl = strlen(pending), fl = strlen(final);
    size_t n = 4 + 4 + pl + 4 + fl;
    uint8_t *p;
    int rc;

    if (n > UINT32_MAX)
        return cf_fail(ctx, "File Sink: path '%s' is too long", final);
    if (txn->cap < n && (rc = cf_buf_reserve(ctx, txn, (uint32_t)n)) < 0)
        return rc;
    p = txn->data;
    memcpy(p, "CFP1", 4);
    cf_conn_put_u32(p + 4, (uint32_t)pl);
    memcpy(p + 8, pending, pl);
    cf_conn_put_u32(p + 8 + pl, (uint32_t)fl);
    memcpy(p + 12 + pl, final, fl);
    txn->len = (uint32_t)n;
    return CF_OK;
}

/* Decode txn into two NUL-terminated copies. Returns 0 or -EINVAL. */
static int
fsink_txn_decode(const void *txn, uint32_t len, char **pending, char **final)
{
    const uint8_t *p = txn;
    uint32_t pl, fl;

    *pending = *final = NULL;
    if (len < 12 || memcmp(p, "CFP1", 4) != 0)
        return -EINVAL;
    pl = cf_conn_get_u32(p + 4);
    if (pl == 0 || pl > len - 12)
        return -EINVAL;
    fl = cf_conn_get_u32(p + 8 + pl);
    if (fl == 0 || fl != len - 12 - pl || memchr(p + 8, 0, pl) ||
        memchr(p + 12 + pl, 0, fl))
        return -EINVAL;
    *pending = cf_conn_malloc(pl + 1);
    memcpy(*pending, p + 8, pl);
    (*pending)[pl] = '\0';
    *final = cf_conn_malloc(fl + 1);
    memcpy(*final, p + 12 + pl, fl);
    (*final)[fl] = '\0';
    return 0;
}

static int
fsink_pre_commit(cf_ctx_t *ctx, int64_t checkpoint_id, cf_buf_t *txn)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    int rc, fd;

    (void)checkpoint_id;
    txn->len = 0;
    if (!st || st->fd < 0)
        return CF_OK; /* no record since the last one: nothing to commit */
    rc = fsink_flush(ctx, st);
    if (rc < 0)
        return rc;
    if (fsync(st->fd) < 0 && errno != EINVAL && errno != EROFS)
        return cf_fail(ctx, "Could not sync file '%s': %s", st->inprog,
                       strerror(errno));
    fd = st->fd;
    st->fd = -1;
    if (close(fd) < 0)
        return cf_fail(ctx, "Could not write to file '%s': %s", st->inprog,
                       strerror(errno));
    if (rename(st->inprog, st->pending) < 0)
        return cf_fail(ctx, "Could not rename '%s' to '%s': %s", st->inprog,
                       st->pending, strerror(errno));
    rc = cf_conn_fsync_dir(st->dir);
    if (rc < 0)
        return cf_fail(ctx, "Could not sync directory '%s': %s", st->dir,
                       strerror(-rc));
    rc = fsink_txn_encode(ctx, txn, st->pending, st->final);
    fsink_drop_names(st);
    st->part++;
    return rc;
}

/* The directory part of path, in a new string. */
static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;
    if (!slash)
        return cf_conn_strdup(".");
    if (slash == path)
        return cf_conn_strdup("/");
    d = cf_conn_malloc((size_t)(slash - path) + 1);
    memcpy(d, path, (size_t)(slash - path));
    d[slash - path] = '\0';
    return d;
}

static int
fsink_commit(cf_ctx_t *ctx, const void *txn, uint32_t len)
{
    char *pending, *final, *dir;
    int rc = CF_OK;

    if (len == 0)
        return CF_OK; /* an empty transaction */
    if (fsink_txn_decode(txn, len, &pending, &final) < 0)
        return cf_fail(ctx,
                       "File Sink: cannot commit a corrupt transaction "
                       "(%u bytes)",
                       (unsigned)len);
    if (rename(pending, final) < 0) {
        int err = errno;
        if (err == ENOENT && access(final, F_OK) == 0)
            goto out; /* committed before */
        if (err == ENOENT)
            rc = cf_fail(ctx,
                         "File Sink: cannot commit part file '%s': neither "
                         "it nor its pending file '%s' exists",
                         final, pending);
        else
            rc = cf_fail(ctx, "Could not rename '%s' to '%s': %s", pending,
                         final, strerror(err));
        goto out;
    }
    dir = dir_of(final);
    if (cf_conn_fsync_dir(dir) < 0) {
        /* The rename happened: a failed directory sync only weakens its
         * durability; a retry after a crash would commit again. */
        cf_log(ctx, CF_LOG_WARN, "Could not sync directory '%s'", dir);
    }
    free(dir);
out:
    free(pending);
    free(final);
    return rc;
}

static void
fsink_abort(cf_ctx_t *ctx, const void *txn, uint32_t len)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    char *pending, *final;

    if (!txn || len == 0) {
        /* The open transaction. */
        if (!st || !st->inprog)
            return;
        if (st->fd >= 0)
            close(st->fd);
        st->fd = -1;
        st->len = 0;
        unlink(st->inprog);
        fsink_drop_names(st);
        st->part++;
        return;
    }
    if (fsink_txn_decode(txn, len, &pending, &final) == 0)
        unlink(pending); /* never the final file: it may be committed */
    free(pending);
    free(final);
}

static void
fsink_close(cf_ctx_t *ctx)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    if (!st)
        return;
    if (st->fd >= 0) {
        /* Not pre-committed: nothing will ever commit this file. */
        close(st->fd);
        unlink(st->inprog);
    }
    fsink_drop_names(st);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_2pc_sink_ops_t fsink_ops = {
    .size = sizeof(cf_2pc_sink_ops_t),
    .open = fsink_open,
    .invoke = fsink_invoke,
    .pre_commit = fsink_pre_commit,
    .commit = fsink_commit,
    .abort = fsink_abort,
    .close = fsink_close,
};

cf_stream_t *
cf_conn_write_text(cf_stream_t *s, const char *dir)
{
    fsink_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));

    conf->dir = cf_conn_registry_strdup(dir);
    if (!dir || !*dir)
        conf->dir = NULL; /* no environment to fail here: fail at open */
    return cf_stream_sink_2pc(s, "File Sink", &fsink_ops, conf);
}
