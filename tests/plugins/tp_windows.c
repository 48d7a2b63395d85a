/*
 * tp_windows.c: test plugin of the event-time acceptance tests
 * (tests/integration/eventtime_windows.sh, eventtime_recovery.sh):
 *
 *   source -> parse -> timestamps/watermarks -> drop keep-alives
 *          -> key_by(key) -> window -> format -> text sink (--out)
 *                                    \-> late side output -> text sink
 *                                        (--late-out)
 *
 * Input records are text lines "key,timestamp_ms,value". The parser turns
 * them into rec_t; every window function produces one rec_t per firing
 * (count and sum of the values, min and max timestamp, the window when
 * known), and the formatter writes "key,window_start,window_end,count,sum"
 * (global windows: INT64_MIN,INT64_MAX). Late records on the side output
 * are written back as "key,timestamp_ms,value".
 *
 * Sources (--source):
 *   text    cf_env_read_text_file(--in): a file or a directory whose
 *           sorted files are spread over the instances (file i goes to
 *           instance i % parallelism); lines starting with '#' are
 *           ignored.
 *   paced   the same files and spreading, read by a source of this
 *           plugin that understands control lines, for tests whose
 *           result depends on watermarks having moved before some
 *           records arrive (lateness, idleness). It never blocks the task
 *           thread: while it waits it returns CF_SOURCE_IDLE, so the
 *           task keeps emitting periodic watermarks and detecting
 *           idleness.
 *             #pause,MS[,ka]   emit nothing for MS ms
 *             #sync,NAME[,ka]  a barrier of all instances: create
 *                              --sync-dir/NAME.<instance> and wait until
 *                              parallelism such files exist (instances of
 *                              one job run on one machine in the tests)
 *           With ",ka" the source emits a keep-alive record "#ka,<max
 *           timestamp emitted so far>" every 50 ms while it waits: it goes
 *           through the watermark assigner (so the instance is not marked
 *           idle and its watermark does not move) and is dropped before
 *           key_by. Without it the instance is silent, and becomes idle
 *           after --idle-ms.
 *   gen     (--gen) a generator for the recovery test, Flink's
 *           EventTimeWindowCheckpointingITCase source: keys k0..k<K-1>
 *           (--keys), for each sequence numbers 0..N-1 (--events; 0:
 *           unbounded) with timestamp seq * --step ms (plus --jump ms
 *           after every --every sequence numbers: gaps for sessions)
 *           and value seq; an instance owns the keys k with
 *           k % parallelism == instance and emits them round-robin at
 *           --rate records/s (0: unlimited). Its positions are in
 *           operator list state, so a restore continues exactly.
 *
 * Options:
 *   --window tumbling|sliding|session|global-count  (default tumbling)
 *   --size MS --slide MS --gap MS --count N
 *   --lateness MS       allowed lateness (default 0)
 *   --late-tag TAG      side output of late data, written to --late-out
 *   --fn reduce|aggregate|process  (default reduce)
 *   --evictor count:N|time:MS      (evict before the function)
 *   --ooo MS            bounded out-of-orderness (default 0)
 *   --idle-ms MS        withIdleness (default 0: never idle)
 *   --fail-after-checkpoint MARKER  the parser's instance 0 fails once
 *                       (--fail-delay records, default 100, after the
 *                       --fail-checkpoint-th completed checkpoint it is
 *                       notified of, default the first), unless MARKER
 *                       exists; it creates MARKER before failing.
 *
 * Global windows with --count N: without an evictor Flink's
 * countWindow(N) (a purging CountTrigger); with --evictor count:M,
 * countWindow(M, N) (CountTrigger(N), CountEvictor(M)).
 *
 * Operator uids: tw-source, tw-parse, tw-wm, tw-window, tw-sink,
 * tw-late-sink (and the unnamed filter/format maps).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cflink/cflink.h>

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

#define REC_DATA 0
#define REC_KEEPALIVE 1
#define REC_RESULT 2 /* a window result with start/end set */

#define KEY_MAX 46

typedef struct rec_s {
    int64_t ts;
    int64_t value;
    int64_t count;
    int64_t sum;
    int64_t min_ts;
    int64_t max_ts;
    int64_t start; /* REC_RESULT only */
    int64_t end;
    uint8_t kind;
    uint8_t keylen;
    char key[KEY_MAX];
} rec_t;

typedef struct conf_s {
    int kind; /* CF_WINDOW_* */
    int64_t size, slide, gap, count;
    int64_t lateness;
    int64_t ooo, idle_ms;
    /* Paths used at run time are copied: argv need not outlive the
     * entry. Empty: not set. */
    char sync_dir[1024];
    char in[1024];
    /* gen */
    int64_t keys, events, step, every, jump;
    double rate;
    /* failure */
    char fail_marker[1024];
    int64_t fail_delay;
    int64_t fail_checkpoint;
} conf_t;

/* Configurations of the jobs built in this process. A TaskManager
 * loads the plugin file once (dlopen of the same cached blob) for every
 * job that uses it, so a single static configuration would be shared by
 * concurrent jobs with different arguments. Each distinct configuration
 * gets a slot here for the life of the process (no allocation to leak);
 * identical ones share it (it is read-only once built). */
#define CONF_SLOTS 64
static conf_t g_confs[CONF_SLOTS];
static int g_nconfs;
static int g_conf_lock;

static const conf_t *
conf_intern(const conf_t *c)
{
    const conf_t *r = NULL;
    int i;
    while (__atomic_exchange_n(&g_conf_lock, 1, __ATOMIC_ACQUIRE))
        ;
    for (i = 0; i < g_nconfs && !r; i++)
        if (memcmp(&g_confs[i], c, sizeof(*c)) == 0)
            r = &g_confs[i];
    if (!r && g_nconfs < CONF_SLOTS) {
        g_confs[g_nconfs] = *c;
        r = &g_confs[g_nconfs++];
    }
    __atomic_store_n(&g_conf_lock, 0, __ATOMIC_RELEASE);
    return r;
}

static int
copy_path(char *dst, size_t cap, const char *src)
{
    if (!src)
        return 0;
    if (strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Records arrive unaligned: copy them. */
static int
rec_get(cf_ctx_t *ctx, const cf_record_t *in, rec_t *r)
{
    if (in->len != sizeof(*r))
        return cf_fail(ctx, "record of %u bytes, expected %zu",
                       (unsigned)in->len, sizeof(*r));
    memcpy(r, in->data, sizeof(*r));
    return CF_OK;
}

static void
rec_fold(rec_t *acc, const rec_t *in)
{
    acc->count += in->count;
    acc->sum += in->sum;
    if (in->min_ts < acc->min_ts)
        acc->min_ts = in->min_ts;
    if (in->max_ts > acc->max_ts)
        acc->max_ts = in->max_ts;
}

/* "key,ts,value" (or "#ka,ts"); 1 when r is set, 0 for a line to skip,
 * -1 when malformed. */
static int
parse_line(const char *p, uint32_t len, rec_t *r)
{
    char buf[128];
    char *c1, *c2, *end;

    if (len == 0)
        return 0;
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    memset(r, 0, sizeof(*r));
    if (buf[0] == '#') {
        if (strncmp(buf, "#ka,", 4) != 0)
            return 0;
        r->kind = REC_KEEPALIVE;
        r->ts = strtoll(buf + 4, &end, 10);
        return *end ? -1 : 1;
    }
    c1 = strchr(buf, ',');
    if (!c1 || c1 == buf || c1 - buf > KEY_MAX)
        return -1;
    c2 = strchr(c1 + 1, ',');
    if (!c2)
        return -1;
    r->kind = REC_DATA;
    r->keylen = (uint8_t)(c1 - buf);
    memcpy(r->key, buf, r->keylen);
    *c2 = '\0';
    r->ts = strtoll(c1 + 1, &end, 10);
    if (*end)
        return -1;
    r->value = strtoll(c2 + 1, &end, 10);
    if (*end)
        return -1;
    r->count = 1;
    r->sum = r->value;
    r->min_ts = r->max_ts = r->ts;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Parse, timestamps, keep-alive filter, key                           */
/* ------------------------------------------------------------------ */

typedef struct parse_local_s {
    int ckpt_done;    /* --fail-checkpoint checkpoints completed */
    int64_t notified; /* notify_complete calls */
    int64_t after;    /* records seen since */
} parse_local_t;

static int
parse_open(cf_ctx_t *ctx)
{
    parse_local_t *l = calloc(1, sizeof(*l));
    if (!l)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, l);
    return CF_OK;
}

static void
parse_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static void
parse_notify(cf_ctx_t *ctx, int64_t id)
{
    parse_local_t *l = cf_ctx_local(ctx);
    const conf_t *c = cf_ctx_udata(ctx);
    (void)id;
    if (l && ++l->notified >= c->fail_checkpoint)
        l->ckpt_done = 1;
}

/* --fail-after-checkpoint: instance 0 fails once, a few records after
 * the first completed checkpoint (so that windows and their timers are
 * in flight in that checkpoint). */
static int
maybe_fail(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    parse_local_t *l = cf_ctx_local(ctx);
    int fd;

    if (!c->fail_marker[0] || !l || !l->ckpt_done ||
        cf_ctx_subtask_index(ctx) != 0)
        return CF_OK;
    if (++l->after < c->fail_delay)
        return CF_OK;
    fd = open(c->fail_marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        l->ckpt_done = 0; /* failed already (marker exists) */
        return CF_OK;
    }
    close(fd);
    return cf_fail(ctx, "tp_windows: planned failure after a completed "
                        "checkpoint");
}

static int
parse_fn(cf_ctx_t *ctx, const cf_record_t *in)
{
    rec_t r;
    int rc = parse_line(in->data, in->len, &r);

    if (rc < 0)
        return cf_fail(ctx, "bad input line '%.*s' (want key,ts,value)",
                       (int)(in->len > 100 ? 100 : in->len),
                       (const char *)in->data);
    if (rc == 0)
        return CF_OK;
    if ((rc = maybe_fail(ctx)) < 0)
        return rc;
    return cf_emit(ctx, &r, sizeof(r), r.ts);
}

static int64_t
ts_fn(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t ts;
    (void)ctx;
    memcpy(&ts, in->data, sizeof(ts)); /* rec_t.ts is first */
    return ts;
}

static int
drop_keepalive(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    return ((const uint8_t *)in->data)[offsetof(rec_t, kind)] == REC_KEEPALIVE
               ? CF_FILTER_DROP
               : CF_FILTER_KEEP;
}

static int
key_fn(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const uint8_t *b = in->data;
    (void)ctx;
    key->len = b[offsetof(rec_t, keylen)];
    key->data = b + offsetof(rec_t, key);
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* Window functions                                                    */
/* ------------------------------------------------------------------ */

static int
win_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    rec_t a, r;
    int rc;
    if ((rc = rec_get(ctx, in, &r)) < 0)
        return rc;
    if (acc->len != sizeof(a))
        return cf_fail(ctx, "reduce accumulator of %u bytes",
                       (unsigned)acc->len);
    memcpy(&a, acc->data, sizeof(a));
    rec_fold(&a, &r);
    memcpy(acc->data, &a, sizeof(a));
    return CF_OK;
}

static int
agg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    rec_t a, r;
    int rc;
    if ((rc = rec_get(ctx, in, &r)) < 0)
        return rc;
    if (acc->len == 0) {
        if (cf_buf_reserve(ctx, acc, sizeof(a)) < 0)
            return cf_fail(ctx, "cannot grow the accumulator");
        a = r;
    } else {
        if (acc->len != sizeof(a))
            return cf_fail(ctx, "accumulator of %u bytes", (unsigned)acc->len);
        memcpy(&a, acc->data, sizeof(a));
        rec_fold(&a, &r);
    }
    memcpy(acc->data, &a, sizeof(a));
    acc->len = sizeof(a);
    return CF_OK;
}

static int
agg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    if (acc->len != sizeof(rec_t))
        return cf_fail(ctx, "accumulator of %u bytes", (unsigned)acc->len);
    if (cf_buf_reserve(ctx, out, sizeof(rec_t)) < 0)
        return cf_fail(ctx, "cannot grow the result");
    memcpy(out->data, acc->data, sizeof(rec_t));
    out->len = sizeof(rec_t);
    return CF_OK;
}

static const cf_agg_ops_t agg_ops = {
    .size = sizeof(cf_agg_ops_t),
    .add = agg_add,
    .result = agg_result,
};

static int
win_process(cf_ctx_t *ctx, const cf_window_t *w, const cf_record_t *el,
            uint32_t n)
{
    rec_t a, r;
    cf_slice_t key;
    uint32_t i;
    int rc;

    if (n == 0)
        return cf_fail(ctx, "window [%" PRId64 ",%" PRId64 ") fired empty",
                       w->start, w->end);
    for (i = 0; i < n; i++) {
        if ((rc = rec_get(ctx, &el[i], &r)) < 0)
            return rc;
        if (i == 0)
            a = r;
        else
            rec_fold(&a, &r);
    }
    /* The key comes from the context: checks cf_ctx_key in windows. */
    if (cf_ctx_key(ctx, &key) < 0 || key.len != a.keylen ||
        memcmp(key.data, a.key, key.len) != 0)
        return cf_fail(ctx, "window function: the current key is not the "
                            "key of the elements");
    a.kind = REC_RESULT;
    a.start = w->start;
    a.end = w->end;
    return cf_emit(ctx, &a, sizeof(a), cf_ctx_timestamp(ctx));
}

static const cf_window_process_ops_t proc_ops = {
    .size = sizeof(cf_window_process_ops_t),
    .process = win_process,
};

/* The result as a line. Reduce and aggregate results carry no window:
 * it is derived from the result's timestamp (the window's max timestamp)
 * and the assigner, sessions from the earliest element. */
static int
format_fn(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    const conf_t *c = cf_ctx_udata(ctx);
    rec_t r;
    int64_t start, end;
    char *line;
    int rc, len;

    if ((rc = rec_get(ctx, in, &r)) < 0)
        return rc;
    if (r.kind == REC_RESULT) {
        start = r.start;
        end = r.end;
    } else if (c->kind == CF_WINDOW_GLOBAL) {
        start = INT64_MIN;
        end = INT64_MAX;
    } else {
        if (in->ts == CF_NO_TIMESTAMP)
            return cf_fail(ctx, "a window result without a timestamp");
        end = in->ts + 1;
        start = c->kind == CF_WINDOW_SESSION ? r.min_ts : end - c->size;
    }
    line = cf_ctx_scratch(ctx, 160);
    len =
        snprintf(line, 160, "%.*s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                 (int)r.keylen, r.key, start, end, r.count, r.sum);
    out->data = line;
    out->len = (uint32_t)len;
    return CF_OK;
}

static int
format_late(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    rec_t r;
    char *line;
    int rc, len;

    if ((rc = rec_get(ctx, in, &r)) < 0)
        return rc;
    line = cf_ctx_scratch(ctx, 128);
    len = snprintf(line, 128, "%.*s,%" PRId64 ",%" PRId64, (int)r.keylen, r.key,
                   r.ts, r.value);
    out->data = line;
    out->len = (uint32_t)len;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* The paced source                                                    */
/* ------------------------------------------------------------------ */

typedef struct paced_s {
    char **lines; /* this instance's lines, in file order */
    size_t n, cap, next;
    int waiting; /* 0, 'p' (pause) or 's' (sync) */
    int ka;      /* keep-alives while waiting */
    uint64_t until;
    uint64_t last_ka;
    int64_t max_ts;
    char sync_name[64];
} paced_t;

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
paced_add_file(cf_ctx_t *ctx, paced_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    if (!f)
        return cf_fail(ctx, "cannot open %s: %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 256;
            char **v = realloc(s->lines, nc * sizeof(*v));
            if (!v)
                abort();
            s->lines = v;
            s->cap = nc;
        }
        s->lines[s->n] = strdup(line);
        if (!s->lines[s->n])
            abort();
        s->n++;
    }
    free(line);
    fclose(f);
    return CF_OK;
}

static int
paced_open(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    paced_t *s = calloc(1, sizeof(*s));
    struct stat st;
    char **names = NULL;
    size_t nn = 0, i;
    int p = cf_ctx_parallelism(ctx), me = cf_ctx_subtask_index(ctx), rc;

    if (!s)
        return cf_fail(ctx, "out of memory");
    s->max_ts = INT64_MIN;
    cf_ctx_set_local(ctx, s);
    if (stat(c->in, &st) < 0)
        return cf_fail(ctx, "Input path '%s': %s", c->in, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(c->in);
        struct dirent *de;
        if (!d)
            return cf_fail(ctx, "cannot list %s", c->in);
        while ((de = readdir(d)) != NULL) {
            char *path;
            if (de->d_name[0] == '.' || de->d_name[0] == '_')
                continue;
            if (asprintf(&path, "%s/%s", c->in, de->d_name) < 0)
                abort();
            names = realloc(names, (nn + 1) * sizeof(*names));
            if (!names)
                abort();
            names[nn++] = path;
        }
        closedir(d);
        qsort(names, nn, sizeof(*names), name_cmp);
    } else {
        names = malloc(sizeof(*names));
        if (!names || !(names[0] = strdup(c->in)))
            abort();
        nn = 1;
    }
    rc = CF_OK;
    for (i = 0; i < nn; i++) {
        if (rc == CF_OK && (int)(i % (size_t)p) == me)
            rc = paced_add_file(ctx, s, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Files NAME.* in the sync directory. */
static int
sync_count(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t l = strlen(name);
    int n = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, name, l) == 0 && de->d_name[l] == '.')
            n++;
    closedir(d);
    return n;
}

static int
paced_wait(cf_ctx_t *ctx, paced_t *s)
{
    const conf_t *c = cf_ctx_udata(ctx);
    uint64_t now = mono_ms();
    int done;

    if (s->waiting == 'p') {
        done = now >= s->until;
    } else {
        int n = sync_count(c->sync_dir, s->sync_name);
        if (n < 0)
            return cf_fail(ctx, "cannot list --sync-dir %s", c->sync_dir);
        done = n >= cf_ctx_parallelism(ctx);
        if (!done && now >= s->until)
            return cf_fail(ctx, "sync %s: %d of %d instances after 30 s",
                           s->sync_name, n, cf_ctx_parallelism(ctx));
    }
    if (done) {
        s->waiting = 0;
        return CF_SOURCE_MORE;
    }
    if (s->ka && s->max_ts != INT64_MIN && now - s->last_ka >= 50) {
        char line[48];
        int len = snprintf(line, sizeof(line), "#ka,%" PRId64, s->max_ts);
        s->last_ka = now;
        return cf_emit(ctx, line, (uint32_t)len, CF_NO_TIMESTAMP) < 0
                   ? CF_ERR
                   : CF_SOURCE_IDLE;
    }
    return CF_SOURCE_IDLE;
}

static int
paced_control(cf_ctx_t *ctx, paced_t *s, const char *line)
{
    const conf_t *c = cf_ctx_udata(ctx);
    char name[64];
    long long ms;

    s->ka = strstr(line, ",ka") != NULL;
    s->last_ka = 0;
    if (sscanf(line, "#pause,%lld", &ms) == 1) {
        s->waiting = 'p';
        s->until = mono_ms() + (uint64_t)ms;
        return CF_OK;
    }
    if (sscanf(line, "#sync,%63[^,]", name) == 1) {
        char *path;
        int fd;
        if (!c->sync_dir[0])
            return cf_fail(ctx, "%s needs --sync-dir", line);
        if (asprintf(&path, "%s/%s.%d", c->sync_dir, name,
                     cf_ctx_subtask_index(ctx)) < 0)
            abort();
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        free(path);
        if (fd < 0)
            return cf_fail(ctx, "cannot create a sync file in %s", c->sync_dir);
        close(fd);
        snprintf(s->sync_name, sizeof(s->sync_name), "%s", name);
        s->waiting = 's';
        s->until = mono_ms() + 30000;
        return CF_OK;
    }
    return CF_OK; /* other comments are ignored */
}

static int
paced_next(cf_ctx_t *ctx)
{
    paced_t *s = cf_ctx_local(ctx);
    int n, rc;

    if (s->waiting)
        return paced_wait(ctx, s);
    for (n = 0; n < 500 && s->next < s->n; n++) {
        const char *line = s->lines[s->next++];
        if (line[0] == '#') {
            if ((rc = paced_control(ctx, s, line)) < 0)
                return rc;
            if (s->waiting)
                return CF_SOURCE_MORE;
            continue;
        } else {
            const char *c1 = strchr(line, ',');
            if (c1) {
                int64_t ts = strtoll(c1 + 1, NULL, 10);
                if (ts > s->max_ts)
                    s->max_ts = ts;
            }
        }
        if ((rc = cf_emit(ctx, line, (uint32_t)strlen(line), CF_NO_TIMESTAMP)) <
            0)
            return rc;
    }
    return s->next < s->n ? CF_SOURCE_MORE : CF_SOURCE_END;
}

static void
paced_close(cf_ctx_t *ctx)
{
    paced_t *s = cf_ctx_local(ctx);
    size_t i;
    if (!s)
        return;
    for (i = 0; i < s->n; i++)
        free(s->lines[i]);
    free(s->lines);
    free(s);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t paced_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = paced_open,
    .next = paced_next,
    .close = paced_close,
};

/* ------------------------------------------------------------------ */
/* The generator (recovery test)                                       */
/* ------------------------------------------------------------------ */

typedef struct keypos_s {
    int64_t key;
    int64_t next;
} keypos_t;

typedef struct gen_s {
    keypos_t *keys;
    size_t n, rr;
    cf_state_t *pos;
    uint64_t start_ms;
    uint64_t emitted;
} gen_t;

static void
gen_add(gen_t *g, int64_t key, int64_t next)
{
    keypos_t *k = realloc(g->keys, (g->n + 1) * sizeof(*k));
    if (!k)
        abort();
    g->keys = k;
    g->keys[g->n].key = key;
    g->keys[g->n].next = next;
    g->n++;
}

static int
gen_open(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    gen_t *g = calloc(1, sizeof(*g));
    int64_t k;

    if (!g)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, g);
    g->pos = cf_op_state_list(ctx, "tw-positions", CF_OPSTATE_SPLIT);
    if (!g->pos)
        return cf_fail(ctx, "cannot register operator state tw-positions");
    if (cf_ctx_is_restored(ctx)) {
        cf_list_iter_t it;
        cf_slice_t item;
        cf_list_iter(g->pos, &it);
        while (cf_list_next(g->pos, &it, &item) > 0) {
            keypos_t kp;
            if (item.len != sizeof(kp))
                return cf_fail(ctx, "corrupt position (%u bytes)",
                               (unsigned)item.len);
            memcpy(&kp, item.data, sizeof(kp));
            gen_add(g, kp.key, kp.next);
        }
    } else {
        int p = cf_ctx_parallelism(ctx), i = cf_ctx_subtask_index(ctx);
        for (k = 0; k < c->keys; k++)
            if (k % p == i)
                gen_add(g, k, 0);
    }
    return CF_OK;
}

static int
gen_next(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    gen_t *g = cf_ctx_local(ctx);
    uint64_t budget = 500, n, scanned = 0;
    char line[96];
    int len, rc;

    if (c->rate > 0) {
        uint64_t now = mono_ms(), allowed;
        if (!g->start_ms)
            g->start_ms = now;
        allowed = (uint64_t)((double)(now - g->start_ms) / 1e3 * c->rate) + 1;
        if (allowed <= g->emitted)
            return CF_SOURCE_IDLE;
        if (allowed - g->emitted < budget)
            budget = allowed - g->emitted;
    }
    if (g->n == 0)
        return c->events > 0 ? CF_SOURCE_END : CF_SOURCE_IDLE;
    for (n = 0; n < budget && scanned < g->n;) {
        keypos_t *k = &g->keys[g->rr];
        g->rr = (g->rr + 1) % g->n;
        if (c->events > 0 && k->next >= c->events) {
            scanned++;
            continue;
        }
        scanned = 0;
        len = snprintf(line, sizeof(line), "k%" PRId64 ",%" PRId64 ",%" PRId64,
                       k->key,
                       k->next * c->step +
                           (c->every > 0 ? k->next / c->every * c->jump : 0),
                       k->next);
        if ((rc = cf_emit(ctx, line, (uint32_t)len, CF_NO_TIMESTAMP)) < 0)
            return rc;
        k->next++;
        g->emitted++;
        n++;
    }
    return scanned >= g->n ? CF_SOURCE_END : CF_SOURCE_MORE;
}

static int
gen_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    gen_t *g = cf_ctx_local(ctx);
    size_t i;
    (void)checkpoint_id;
    if (!g || !g->pos)
        return CF_OK;
    if (cf_state_clear(g->pos) < 0)
        return cf_fail(ctx, "cannot clear tw-positions");
    for (i = 0; i < g->n; i++)
        if (cf_list_add(g->pos, &g->keys[i], sizeof(g->keys[i])) < 0)
            return cf_fail(ctx, "cannot store tw-positions");
    return CF_OK;
}

static void
gen_close(cf_ctx_t *ctx)
{
    gen_t *g = cf_ctx_local(ctx);
    if (g)
        free(g->keys);
    free(g);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t gen_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = gen_open,
    .next = gen_next,
    .close = gen_close,
};

static const cf_hooks_t gen_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = gen_snapshot,
};

static const cf_hooks_t parse_hooks = {
    .size = sizeof(cf_hooks_t),
    .open = parse_open,
    .close = parse_close,
    .notify_complete = parse_notify,
};

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

static int64_t
arg_i64(int argc, char **argv, const char *name, const char *def)
{
    return atoll(cf_param_get(argc, argv, name, def));
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    conf_t conf, *c = &conf;
    const char *fn = cf_param_get(argc, argv, "fn", "reduce");
    const char *late_tag = cf_param_get(argc, argv, "late-tag", NULL);
    const char *fail_marker;
    const char *window = cf_param_get(argc, argv, "window", "tumbling");
    const char *source = cf_param_get(argc, argv, "source", "text");
    const char *out = cf_param_get(argc, argv, "out", NULL);
    const char *late_out = cf_param_get(argc, argv, "late-out", NULL);
    const char *evictor = cf_param_get(argc, argv, "evictor", NULL);
    cf_window_assigner_t a;
    cf_wm_strategy_t wm;
    cf_stream_t *s, *w, *res;

    memset(c, 0, sizeof(*c));
    c->size = arg_i64(argc, argv, "size", "5000");
    c->slide = arg_i64(argc, argv, "slide", "1000");
    c->gap = arg_i64(argc, argv, "gap", "1000");
    c->count = arg_i64(argc, argv, "count", "3");
    c->lateness = arg_i64(argc, argv, "lateness", "0");
    c->ooo = arg_i64(argc, argv, "ooo", "0");
    c->idle_ms = arg_i64(argc, argv, "idle-ms", "0");
    if (copy_path(c->sync_dir, sizeof(c->sync_dir),
                  cf_param_get(argc, argv, "sync-dir", NULL)) < 0 ||
        copy_path(c->in, sizeof(c->in), cf_param_get(argc, argv, "in", NULL)) <
            0)
        return cf_env_fail(env, "--in or --sync-dir is too long");
    c->keys = arg_i64(argc, argv, "keys", "8");
    c->events = arg_i64(argc, argv, "events", "1000");
    c->step = arg_i64(argc, argv, "step", "10");
    c->every = arg_i64(argc, argv, "every", "0");
    c->jump = arg_i64(argc, argv, "jump", "0");
    c->rate = atof(cf_param_get(argc, argv, "rate", "0"));
    fail_marker = cf_param_get(argc, argv, "fail-after-checkpoint", NULL);
    c->fail_delay = arg_i64(argc, argv, "fail-delay", "100");
    c->fail_checkpoint = arg_i64(argc, argv, "fail-checkpoint", "1");
    if (fail_marker && !*fail_marker)
        return cf_env_fail(env, "--fail-after-checkpoint needs a file");
    if (copy_path(c->fail_marker, sizeof(c->fail_marker), fail_marker) < 0)
        return cf_env_fail(env, "--fail-after-checkpoint: path too long");
    if (!out || !*out)
        return cf_env_fail(env, "--out DIR is required");
    if (cf_param_get(argc, argv, "gen", NULL))
        source = "gen";
    if (strcmp(source, "gen") != 0 && !c->in[0])
        return cf_env_fail(env, "--in PATH is required");

    if (strcmp(window, "tumbling") == 0)
        a = cf_tumbling_windows(CF_TIME_EVENT, c->size, 0);
    else if (strcmp(window, "sliding") == 0)
        a = cf_sliding_windows(CF_TIME_EVENT, c->size, c->slide, 0);
    else if (strcmp(window, "session") == 0)
        a = cf_session_windows(CF_TIME_EVENT, c->gap);
    else if (strcmp(window, "global-count") == 0)
        a = cf_global_windows();
    else
        return cf_env_fail(env, "unknown --window %s", window);
    c->kind = a.kind;
    /* From here on c is the process-wide copy given to the functions. */
    if (!(c = (conf_t *)conf_intern(&conf)))
        return cf_env_fail(env,
                           "more than %d distinct configurations of "
                           "this plugin in one process",
                           CONF_SLOTS);
    cf_env_set_job_name(env, "Event-time windows test");

    if (strcmp(source, "text") == 0) {
        s = cf_env_read_text_file(env, c->in);
    } else if (strcmp(source, "paced") == 0) {
        s = cf_env_add_source(env, "paced-source", &paced_ops, c);
    } else if (strcmp(source, "gen") == 0) {
        s = cf_env_add_source(env, "generator", &gen_ops, c);
        s = cf_stream_hooks(s, &gen_hooks);
    } else {
        return cf_env_fail(env, "unknown --source %s", source);
    }
    s = cf_stream_uid(s, "tw-source");
    s = cf_stream_flat_map(s, "parse", parse_fn, c);
    s = cf_stream_uid(cf_stream_hooks(s, &parse_hooks), "tw-parse");

    wm = cf_wm_for_bounded_out_of_orderness(c->ooo);
    wm.timestamp = ts_fn;
    wm.idle_timeout_ms = c->idle_ms;
    s = cf_stream_assign_timestamps_and_watermarks(s, &wm, c);
    s = cf_stream_uid(s, "tw-wm");
    s = cf_stream_filter(s, "drop-keepalives", drop_keepalive, NULL);
    s = cf_stream_key_by(s, key_fn, NULL);

    w = cf_stream_window(s, &a);
    if (c->kind == CF_WINDOW_GLOBAL) {
        cf_trigger_t t = {.size = sizeof(cf_trigger_t),
                          .kind = CF_TRIGGER_COUNT,
                          .purging = evictor == NULL,
                          .count = c->count};
        w = cf_window_trigger(w, &t);
    }
    if (evictor) {
        cf_evictor_t e = {.size = sizeof(cf_evictor_t)};
        if (strncmp(evictor, "count:", 6) == 0) {
            e.kind = CF_EVICTOR_COUNT;
            e.count = atoll(evictor + 6);
        } else if (strncmp(evictor, "time:", 5) == 0) {
            e.kind = CF_EVICTOR_TIME;
            e.window_ms = atoll(evictor + 5);
        } else {
            return cf_env_fail(env, "bad --evictor %s", evictor);
        }
        w = cf_window_evictor(w, &e);
    }
    if (c->lateness)
        w = cf_window_allowed_lateness(w, c->lateness);
    if (late_tag)
        w = cf_window_side_output_late_data(w, late_tag);

    if (strcmp(fn, "reduce") == 0)
        res = cf_window_reduce(w, "window-reduce", win_reduce, c);
    else if (strcmp(fn, "aggregate") == 0)
        res = cf_window_aggregate(w, "window-aggregate", &agg_ops, c);
    else if (strcmp(fn, "process") == 0)
        res = cf_window_process(w, "window-process", &proc_ops, c);
    else
        return cf_env_fail(env, "unknown --fn %s", fn);
    res = cf_stream_uid(res, "tw-window");

    s = cf_stream_map(res, "format", format_fn, c);
    cf_stream_uid(cf_stream_write_text(s, out), "tw-sink");

    if (late_tag) {
        if (!late_out || !*late_out)
            return cf_env_fail(env, "--late-tag needs --late-out DIR");
        s = cf_stream_side_output(res, late_tag);
        s = cf_stream_map(s, "format-late", format_late, NULL);
        cf_stream_uid(cf_stream_write_text(s, late_out), "tw-late-sink");
    }
    return CF_OK;
}

CF_PLUGIN("Event-time windows test",
          "windows over key,timestamp,value lines, checked by an oracle",
          build);
