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
 * File sink: an instance writes dir/.part-<uuid>-<i>-0.inprogress through
 * a 64 KiB buffer and, when its input ends (finish), flushes, fsyncs and
 * renames it to dir/part-<uuid>-<i>-0, as Flink's FileSink commits a part
 * file. A job that fails or is cancelled leaves the in-progress file.
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
    char uuid[37];
} fsink_conf_t;

typedef struct fsink_state_s {
    int fd;
    char *tmp;  /* dir/.part-<uuid>-<i>-0.inprogress */
    char *part; /* dir/part-<uuid>-<i>-0 */
    size_t len; /* bytes in buf */
    char buf[CF_CONN_WRITE_BUF];
} fsink_state_t;

static char *
fsink_path(const char *dir, const char *fmt, const char *uuid, int index)
{
    size_t dl = strlen(dir);
    const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
    int n = snprintf(NULL, 0, fmt, dir, sep, uuid, index);
    char *p = cf_conn_malloc((size_t)n + 1);
    snprintf(p, (size_t)n + 1, fmt, dir, sep, uuid, index);
    return p;
}

static int
fsink_open(cf_ctx_t *ctx)
{
    const fsink_conf_t *conf = cf_ctx_udata(ctx);
    fsink_state_t *st = cf_conn_malloc(sizeof(*st));
    int i = cf_ctx_subtask_index(ctx);
    int rc;

    st->fd = -1;
    st->len = 0;
    st->tmp = NULL;
    st->part = NULL;
    cf_ctx_set_local(ctx, st);
    if (!conf->dir)
        return cf_fail(ctx, "File Sink: the output directory is empty");
    st->tmp =
        fsink_path(conf->dir, "%s%s.part-%s-%d-0.inprogress", conf->uuid, i);
    st->part = fsink_path(conf->dir, "%s%spart-%s-%d-0", conf->uuid, i);
    rc = cf_conn_mkdirs(conf->dir);
    if (rc < 0)
        return cf_fail(ctx, "Could not create output directory '%s': %s",
                       conf->dir, strerror(-rc));
    st->fd = open(st->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (st->fd < 0)
        return cf_fail(ctx, "Could not create file '%s': %s", st->tmp,
                       strerror(errno));
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
        return cf_fail(ctx, "Could not write to file '%s': %s", st->tmp,
                       strerror(-rc));
    return CF_OK;
}

static int
fsink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    size_t need = (size_t)in->len + 1;
    int rc;

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
            return cf_fail(ctx, "Could not write to file '%s': %s", st->tmp,
                           strerror(-rc));
        return CF_OK;
    }
    memcpy(st->buf + st->len, in->data, in->len);
    st->buf[st->len + in->len] = '\n';
    st->len += need;
    return CF_OK;
}

static int
fsink_finish(cf_ctx_t *ctx)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    int rc;

    if (st->fd < 0)
        return CF_OK;
    rc = fsink_flush(ctx, st);
    if (rc < 0)
        return rc;
    if (fsync(st->fd) < 0 && errno != EINVAL && errno != EROFS)
        return cf_fail(ctx, "Could not sync file '%s': %s", st->tmp,
                       strerror(errno));
    if (close(st->fd) < 0) {
        st->fd = -1;
        return cf_fail(ctx, "Could not write to file '%s': %s", st->tmp,
                       strerror(errno));
    }
    st->fd = -1;
    if (rename(st->tmp, st->part) < 0)
        return cf_fail(ctx, "Could not rename '%s' to '%s': %s", st->tmp,
                       st->part, strerror(errno));
    return CF_OK;
}

static void
fsink_close(cf_ctx_t *ctx)
{
    fsink_state_t *st = cf_ctx_local(ctx);
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd); /* not finished: keep the in-progress file */
    free(st->tmp);
    free(st->part);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_sink_ops_t fsink_ops = {
    .size = sizeof(cf_sink_ops_t),
    .open = fsink_open,
    .invoke = fsink_invoke,
    .finish = fsink_finish,
    .close = fsink_close,
};

cf_stream_t *
cf_conn_write_text(cf_stream_t *s, const char *dir)
{
    fsink_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));

    conf->dir = cf_conn_registry_strdup(dir);
    cf_conn_uuid_generate(conf->uuid);
    if (!dir || !*dir)
        conf->dir = NULL; /* no environment to fail here: fail at open */
    return cf_stream_sink(s, "File Sink", &fsink_ops, conf);
}
