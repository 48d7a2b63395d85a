/*
 * bench_state_checkpoint.c: checkpointing keyed state of about 1 GB in
 * one heap backend (8-byte keys, 100-byte ValueState values).
 *
 * (a) The synchronous pause of a checkpoint: snapshots are taken one after
 *     the other (cf_kstate_snapshot_begin, timed) while the main thread
 *     keeps updating random keys and a writer thread writes each snapshot
 *     with cf_state_file_write; prints p50, p99 and max of the pause
 *     (target: p99 under 10 ms), the update rate during the writes and
 *     the longest cf_kstate_backend_maintain (also a task-thread pause).
 * (b) The write speed of one full snapshot (begin to a renamed, fsynced
 *     file) in MB/s, next to a plain sequential write of as many bytes
 *     (1 MiB write(2) calls, then fsync) into the same directory in the
 *     same run, and the ratio (target: at least 0.50).
 *
 * Usage: bench_state_checkpoint [--mb N (state size, default 1024)]
 *            [--snapshots N (default 12)] [--dir D (default: a new
 *            directory under $TMPDIR or /tmp, removed afterwards)]
 *            [--compress]
 * 1 MB = 1e6 bytes. Not part of ctest (scripts/bench.sh runs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define VALUE_LEN 100
#define SEQ_BUF (1u << 20)

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};

static uint64_t g_mb = 1024;
static int g_snapshots = 12;
static int g_compress;
static const char *g_dir;

/* ------------------------------------------------------------------ */
/* The writer thread                                                   */
/* ------------------------------------------------------------------ */

typedef struct writer_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cf_kstate_snapshot_t *job; /* to write; NULL: idle */
    int busy;
    int quit;
    int seq;
    int failed;
    uint64_t bytes; /* of the files written */
    int64_t ns;     /* spent writing them */
} writer_t;

static void *
writer_main(void *arg)
{
    writer_t *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        cf_kstate_snapshot_t *s;
        char *path;
        cf_error_t *err = NULL;
        uint64_t size = 0;
        int64_t t0;
        while (w->job == NULL && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->job == NULL)
            break;
        s = w->job;
        path = cf_asprintf("%s/snap-%d", g_dir, w->seq++);
        pthread_mutex_unlock(&w->mu);

        t0 = cf_mono_ns();
        if (cf_state_file_write(path, s, NULL, g_compress, &size, &err) != 0) {
            fprintf(stderr, "bench_state_checkpoint: %s\n", cf_error_msg(err));
            cf_error_free(err);
        }
        cf_kstate_snapshot_release(s);
        unlink(path);
        free(path);

        pthread_mutex_lock(&w->mu);
        w->failed |= size == 0;
        w->bytes += size;
        w->ns += cf_mono_ns() - t0;
        w->job = NULL;
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void
set_key(cf_kstate_backend_t *b, uint64_t *k)
{
    cf_kstate_set_key(b, k, 8, cf_murmur3_32_key(k, 8));
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double
pct(const int64_t *sorted, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return (double)sorted[i] / 1e6;
}

/* Write len bytes with 1 MiB write(2) calls and fsync: MB/s. */
static double
sequential_write(uint64_t len)
{
    char *path = cf_asprintf("%s/sequential", g_dir);
    char *buf = malloc(SEQ_BUF);
    uint64_t seed = 12345, done = 0;
    int64_t t0;
    int fd;

    for (size_t i = 0; i < SEQ_BUF / 8; i++)
        ((uint64_t *)buf)[i] = xorshift(&seed);
    t0 = cf_mono_ns();
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench_state_checkpoint: %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    while (done < len) {
        size_t n = len - done < SEQ_BUF ? (size_t)(len - done) : SEQ_BUF;
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            fprintf(stderr, "bench_state_checkpoint: %s: %s\n", path,
                    strerror(errno));
            exit(1);
        }
        done += (uint64_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fprintf(stderr, "bench_state_checkpoint: %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    t0 = cf_mono_ns() - t0;
    unlink(path);
    free(path);
    free(buf);
    return (double)len / 1e6 / ((double)t0 / 1e9);
}

static void
usage(void)
{
    fprintf(stderr, "usage: bench_state_checkpoint [--mb N] [--snapshots N] "
                    "[--dir D] [--compress]\n");
}

int
main(int argc, char **argv)
{
    cf_kstate_backend_t *b;
    cf_state_t *st;
    cf_error_t *err = NULL;
    writer_t w;
    pthread_t th;
    char tmpl[512];
    int own_dir = 0;
    uint64_t n = 0, seed = 88172645463325252ull, updates = 0, bytes;
    int64_t t0, build_ns, upd_ns = 0, maint_max = 0, *pause;
    uint8_t val[VALUE_LEN];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            g_mb = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--snapshots") == 0 && i + 1 < argc)
            g_snapshots = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            g_dir = argv[++i];
        else if (strcmp(argv[i], "--compress") == 0)
            g_compress = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(), 0;
        else
            fprintf(stderr, "bench_state_checkpoint: ignoring %s\n", argv[i]);
    }
    if (g_mb == 0 || g_snapshots <= 0)
        return usage(), 2;
    if (g_dir == NULL) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/bench_state_checkpoint.XXXXXX",
                 t != NULL && t[0] ? t : "/tmp");
        if (mkdtemp(tmpl) == NULL) {
            fprintf(stderr, "bench_state_checkpoint: %s: %s\n", tmpl,
                    strerror(errno));
            return 1;
        }
        g_dir = tmpl;
        own_dir = 1;
    }

    /* Build the state. */
    b = cf_kstate_backend_new(&api, 128, 0, 127);
    st = cf_kstate_register(b, "value", CF_STATE_VALUE, NULL, NULL, &err);
    if (st == NULL) {
        fprintf(stderr, "bench_state_checkpoint: %s\n", cf_error_msg(err));
        return 1;
    }
    t0 = cf_mono_ns();
    while (cf_kstate_backend_bytes(b) < g_mb * 1000000ull) {
        for (int i = 0; i < 4096; i++, n++) {
            uint64_t k = n, r;
            /* Random bytes: compression gains nothing on them. */
            for (size_t j = 0; j + 8 <= sizeof val; j += 8) {
                r = xorshift(&seed);
                memcpy(val + j, &r, 8);
            }
            memcpy(val, &n, 8);
            set_key(b, &k);
            cf_kstate_value_put(st, val, sizeof val);
        }
    }
    build_ns = cf_mono_ns() - t0;
    bytes = cf_kstate_backend_bytes(b);
    printf("keyed state: %llu keys (8 B keys, %d B values), %.1f MB in the "
           "backend, built in %.1f s\n",
           (unsigned long long)n, VALUE_LEN, (double)bytes / 1e6,
           (double)build_ns / 1e9);

    /* (a) Pauses while updating. */
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_create(&th, NULL, writer_main, &w);
    pause = calloc((size_t)g_snapshots, sizeof *pause);
    for (int s = 0; s < g_snapshots; s++) {
        cf_kstate_snapshot_t *snap;
        int busy = 1;
        int64_t u0;
        t0 = cf_mono_ns();
        snap = cf_kstate_snapshot_begin(b);
        pause[s] = cf_mono_ns() - t0;
        pthread_mutex_lock(&w.mu);
        w.job = snap;
        w.busy = 1;
        pthread_cond_broadcast(&w.cv);
        pthread_mutex_unlock(&w.mu);
        u0 = cf_mono_ns();
        while (busy) {
            int64_t m0;
            for (int i = 0; i < 1024; i++) {
                uint64_t k = xorshift(&seed) % n;
                uint8_t *v;
                set_key(b, &k);
                v = cf_kstate_value_update(st, VALUE_LEN, NULL);
                if (v != NULL)
                    v[8]++;
            }
            updates += 1024;
            m0 = cf_mono_ns();
            cf_kstate_backend_maintain(b);
            m0 = cf_mono_ns() - m0;
            if (m0 > maint_max)
                maint_max = m0;
            pthread_mutex_lock(&w.mu);
            busy = w.busy;
            pthread_mutex_unlock(&w.mu);
        }
        upd_ns += cf_mono_ns() - u0;
        /* Let the released snapshot's memory go before the next one (a
         * bounded amount per call, as the task does between buffers). */
        for (int more = 1; more;) {
            t0 = cf_mono_ns();
            more = cf_kstate_backend_maintain(b);
            t0 = cf_mono_ns() - t0;
            if (t0 > maint_max)
                maint_max = t0;
        }
    }
    qsort(pause, (size_t)g_snapshots, sizeof *pause, cmp_i64);
    printf("(a) synchronous snapshot pause over %d snapshots of %.1f MB "
           "while updating random keys:\n"
           "    p50 %.3f ms, p99 %.3f ms, max %.3f ms (target: p99 < 10 ms)\n"
           "    %.2f M updates/s during the writes; longest "
           "backend_maintain %.3f ms; writer %.1f MB/s\n",
           g_snapshots, (double)bytes / 1e6, pct(pause, g_snapshots, 0.5),
           pct(pause, g_snapshots, 0.99), (double)pause[g_snapshots - 1] / 1e6,
           (double)updates / ((double)upd_ns / 1e9) / 1e6,
           (double)maint_max / 1e6,
           (double)w.bytes / 1e6 / ((double)w.ns / 1e9));

    /* (b) One snapshot without updates, then the plain write. */
    {
        double ck, seq;
        uint64_t fbytes;
        pthread_mutex_lock(&w.mu);
        w.bytes = 0;
        w.ns = 0;
        t0 = cf_mono_ns();
        w.job = cf_kstate_snapshot_begin(b);
        w.busy = 1;
        pthread_cond_broadcast(&w.cv);
        while (w.busy)
            pthread_cond_wait(&w.cv, &w.mu);
        t0 = cf_mono_ns() - t0;
        fbytes = w.bytes;
        pthread_mutex_unlock(&w.mu);
        while (cf_kstate_backend_maintain(b))
            ;
        ck = (double)fbytes / 1e6 / ((double)t0 / 1e9);
        seq = sequential_write(fbytes);
        printf("(b) checkpoint write of one snapshot: %.1f MB file "
               "(compress %d) in %.2f s = %.1f MB/s (%.1f MB/s of state)\n"
               "    plain sequential write+fsync of %.1f MB (1 MiB writes): "
               "%.1f MB/s\n"
               "    ratio checkpoint/plain: %.2f (target: >= 0.50)\n",
               (double)fbytes / 1e6, g_compress, (double)t0 / 1e9, ck,
               (double)bytes / 1e6 / ((double)t0 / 1e9), (double)fbytes / 1e6,
               seq, ck / seq);
    }

    pthread_mutex_lock(&w.mu);
    w.quit = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    cf_kstate_backend_destroy(b);
    free(pause);
    if (own_dir)
        cf_rmtree(g_dir);
    return w.failed ? 1 : 0;
}
