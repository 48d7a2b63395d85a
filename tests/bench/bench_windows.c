/*
 * bench_windows.c: event-time windows through the local runtime, per core,
 * against a hand-written loop that does the same per-record work with the
 * same user functions (from the same plugin) in the same run.
 *
 *   bench_windows [--records N] [--session-records M] [--keys K]
 *                 [--only tumbling|sliding|session]
 *
 * Cases (bench_plugin.c --case tumbling | sliding | session): a data
 * generator of (key, event time, 1) records, K keys (default 10 000)
 * round-robin, 1 ms of event time per 1000 records with up to 15 ms of
 * disorder -> timestamps and bounded out-of-orderness watermarks (20 ms,
 * periodic every 200 ms) -> key_by -> event-time window -> reduce (count
 * per key per window) -> a sink that fails the job unless every record
 * was counted once per window it belongs to. Parallelism 1 everywhere.
 * Issue targets in brackets:
 *  1. tumbling 1 s                              [>= 5 M records/s per core]
 *     beside the hand loop: assign the window, count per key per window
 *     in an open-addressing hash map, fire a window when the watermark
 *     (computed every 4096 records) passes its end
 *  2. sliding 10 s, slide 2 s                   [>= 3.5 M records/s per
 *     core, >= 0.7 of tumbling: work is shared between the 5 overlapping
 *     windows of each record]
 *  3. session windows, gap 100 ms (each key busy 500 ms, silent 500 ms of
 *     event time: one session of 50 records per key per second)
 *
 * "Per core" is records per CPU second of the whole process (user +
 * system, all threads): a parallelism-1 job has two tasks (the source
 * chain and the window operator, separated by the key_by exchange), so it
 * may use more than one core; records per wall-clock second are printed
 * beside it. Each run covers deployment, the run and the teardown.
 * --records N (default 20 M) is the number of records of the tumbling
 * and sliding cases, --session-records M (default N / 4) of the session
 * case.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cflink/cflink.h>

#include "config.h"
#include "core.h"
#include "runtime.h"

extern const cf_host_api_t cf_host_api;

/* The plugin's watermark bound (bench_plugin.c WIN_BOUND_MS). */
#define BOUND_MS 20
/* Watermark period of the hand loop, in records. */
#define HAND_WM_EVERY 4096

typedef struct rate_s {
    double wall_s;
    double cpu_s;
    uint64_t records;
} rate_t;

static double
wall_rate(const rate_t *r)
{
    return (double)r->records / r->wall_s;
}

static double
cpu_rate(const rate_t *r)
{
    return (double)r->records / r->cpu_s;
}

static double
cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* The engine                                                          */
/* ------------------------------------------------------------------ */

static rate_t
run_engine(const char *plugin, char **args, int nargs, uint64_t records)
{
    cf_config_t *cfg = cf_config_new();
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    cf_error_t *err = NULL;
    cf_local_result_t res;
    char *argv[24];
    int64_t t0, t1;
    double c0, c1;
    rate_t r;

    argv[0] = (char *)plugin;
    for (int i = 0; i < nargs && i < 22; i++)
        argv[i + 1] = args[i];
    cf_job_opts_t o = {0, nargs + 1, argv, NULL};
    if (cf_plugin_open(plugin, &lib, &err) < 0 ||
        cf_job_build(lib, cfg, &o, &job, &err) < 0) {
        fprintf(stderr, "bench_windows: %s\n", cf_error_msg(err));
        exit(1);
    }
    c0 = cpu_now();
    t0 = cf_mono_ns();
    if (cf_job_run_local(job, NULL, &res, &err) < 0 ||
        res.status != CF_JOB_FINISHED) {
        fprintf(stderr, "bench_windows: job failed: %s\n",
                res.failure ? res.failure : cf_error_msg(err));
        exit(1);
    }
    t1 = cf_mono_ns();
    c1 = cpu_now();
    free(res.failure);
    cf_job_destroy(job);
    cf_plugin_close(lib);
    cf_config_destroy(cfg);
    r.wall_s = (double)(t1 - t0) / 1e9;
    r.cpu_s = c1 - c0;
    r.records = records;
    return r;
}

/* ------------------------------------------------------------------ */
/* The hand-written loop: tumbling event-time windows with no engine.   */
/* The plugin's generator emits straight into h_record, which calls the */
/* plugin's timestamp assigner, key selector and reduce function, keeps */
/* one open-addressing table (key -> accumulator) per live window in a  */
/* small ring, and fires the windows the watermark passed into the      */
/* plugin's sink function.                                              */
/* ------------------------------------------------------------------ */

#define HAND_ACC_MAX 32 /* accumulator bytes kept inline in a slot */
#define HAND_RING 8     /* live windows (a power of 2) */

typedef struct hslot_s {
    int64_t key;
    uint32_t used;
    uint32_t len;
    uint8_t acc[HAND_ACC_MAX];
} hslot_t;

typedef struct hwin_s {
    int64_t start;
    int live;
    hslot_t *slots;
} hwin_t;

typedef struct hctx_s {
    const cf_host_api_t *api; /* first: the plugin's CF__API reads it */
} hctx_t;

static cf_host_api_t h_api;
static hctx_t h_ctx;
static cf_timestamp_fn h_ts_fn;
static cf_key_fn h_key_fn;
static cf_reduce_fn h_reduce_fn;
static int (*h_sink_fn)(cf_ctx_t *, const cf_record_t *);
static hwin_t h_win[HAND_RING];
static uint32_t h_mask;
static int64_t h_size, h_max_ts, h_wm;
static uint64_t h_since, h_late;
static int h_failed;

static int
h_fail(cf_ctx_t *ctx, const char *fmt, va_list ap)
{
    (void)ctx;
    fprintf(stderr, "bench_windows: hand loop: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    h_failed = 1;
    return CF_ERR;
}

/* Accumulators live inline in their slot: a reduce that wants more than
 * HAND_ACC_MAX bytes is an error (the count never does). */
static int
h_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap)
{
    (void)ctx;
    if (cap <= buf->cap)
        return CF_OK;
    fprintf(stderr, "bench_windows: hand loop: accumulator of %u bytes\n",
            cap);
    exit(1);
}

static void
h_fire(hwin_t *w)
{
    int64_t max_ts = w->start + h_size - 1;

    for (uint32_t i = 0; i <= h_mask; i++) {
        hslot_t *s = &w->slots[i];
        if (s->used) {
            cf_record_t o = {s->acc, s->len, max_ts};
            h_sink_fn((cf_ctx_t *)&h_ctx, &o);
            s->used = 0;
        }
    }
    w->live = 0;
}

/* The watermark advanced to wm: fire every window whose max timestamp it
 * passed, oldest first (as timers fire in order). */
static void
h_advance(int64_t wm)
{
    if (wm <= h_wm)
        return;
    h_wm = wm;
    for (;;) {
        hwin_t *first = NULL;
        for (int i = 0; i < HAND_RING; i++)
            if (h_win[i].live && h_win[i].start + h_size - 1 <= wm &&
                (first == NULL || h_win[i].start < first->start))
                first = &h_win[i];
        if (first == NULL)
            return;
        h_fire(first);
    }
}

static int
h_record(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    cf_record_t r = {data, len, ts};
    cf_key_t key;
    int64_t start, k;
    uint32_t i;
    hwin_t *w;
    hslot_t *s;

    (void)ctx;
    r.ts = h_ts_fn((cf_ctx_t *)&h_ctx, &r);
    if (r.ts > h_max_ts)
        h_max_ts = r.ts;
    /* TimeWindow.getWindowStartWithOffset with offset 0. */
    start = r.ts - ((r.ts % h_size) + h_size) % h_size;
    if (start + h_size - 1 <= h_wm) { /* late: Flink drops it */
        h_late++;
        goto wm;
    }
    h_key_fn((cf_ctx_t *)&h_ctx, &r, &key);
    memcpy(&k, key.data, sizeof k);
    w = &h_win[(uint64_t)(start / h_size) & (HAND_RING - 1)];
    if (!w->live) {
        w->live = 1;
        w->start = start;
    } else if (w->start != start) {
        fprintf(stderr, "bench_windows: hand loop: more than %d live "
                        "windows\n", HAND_RING);
        exit(1);
    }
    i = (uint32_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 32) & h_mask;
    for (s = &w->slots[i]; s->used && s->key != k; s = &w->slots[i])
        i = (i + 1) & h_mask;
    if (!s->used) {
        if (len > HAND_ACC_MAX) {
            fprintf(stderr, "bench_windows: hand loop: record of %u bytes\n",
                    len);
            exit(1);
        }
        s->used = 1;
        s->key = k;
        s->len = len;
        memcpy(s->acc, data, len);
    } else {
        cf_buf_t acc = {s->acc, s->len, HAND_ACC_MAX};
        h_reduce_fn((cf_ctx_t *)&h_ctx, &acc, &r);
        s->len = acc.len;
    }
wm:
    if (++h_since == HAND_WM_EVERY) {
        h_since = 0;
        h_advance(h_max_ts - BOUND_MS - 1); /* forBoundedOutOfOrderness */
    }
    return CF_OK;
}

static void *
h_sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (p == NULL) {
        fprintf(stderr, "bench_windows: %s: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

static rate_t
run_hand_tumbling(void *h, uint64_t records, int64_t keys, int64_t size_ms,
                  int64_t *results)
{
    int (*gen)(cf_ctx_t *, uint64_t) =
        (int (*)(cf_ctx_t *, uint64_t))h_sym(h, "bench_gen_evt");
    void (*setup)(int64_t, int64_t, int64_t, int64_t, int64_t) =
        (void (*)(int64_t, int64_t, int64_t, int64_t, int64_t))h_sym(
            h, "bench_evt_setup");
    int (*sink_open)(cf_ctx_t *) =
        (int (*)(cf_ctx_t *))h_sym(h, "bench_evt_sink_open");
    int (*sink_finish)(cf_ctx_t *) =
        (int (*)(cf_ctx_t *))h_sym(h, "bench_evt_sink_finish");
    int64_t (*nresults)(void) =
        (int64_t(*)(void))h_sym(h, "bench_evt_results");
    uint32_t cap = 16;
    int64_t t0, t1;
    double c0, c1;
    rate_t r;

    h_api = cf_host_api;
    h_api.emit = h_record;
    h_api.ctx_fail = h_fail;
    h_api.buf_reserve = h_buf_reserve;
    h_ctx.api = &h_api;
    h_ts_fn = (cf_timestamp_fn)h_sym(h, "bench_evt_ts");
    h_key_fn = (cf_key_fn)h_sym(h, "bench_key");
    h_reduce_fn = (cf_reduce_fn)h_sym(h, "bench_evt_count");
    h_sink_fn =
        (int (*)(cf_ctx_t *, const cf_record_t *))h_sym(h, "bench_evt_sink");
    /* Load factor <= 0.7 with every key in a window. */
    while (cap < (uint64_t)keys * 10 / 7)
        cap *= 2;
    h_mask = cap - 1;
    for (int i = 0; i < HAND_RING; i++) {
        h_win[i].live = 0;
        h_win[i].slots = calloc(cap, sizeof(hslot_t));
        if (h_win[i].slots == NULL) {
            fprintf(stderr, "bench_windows: out of memory\n");
            exit(1);
        }
    }
    h_size = size_ms;
    h_max_ts = h_wm = INT64_MIN;
    h_since = h_late = 0;
    h_failed = 0;
    setup(keys, 1000, 0, 0, (int64_t)records);
    sink_open((cf_ctx_t *)&h_ctx);

    c0 = cpu_now();
    t0 = cf_mono_ns();
    for (uint64_t i = 0; i < records; i++)
        gen((cf_ctx_t *)&h_ctx, i);
    h_advance(INT64_MAX); /* end of input: the final watermark */
    t1 = cf_mono_ns();
    c1 = cpu_now();

    sink_finish((cf_ctx_t *)&h_ctx);
    if (h_failed || h_late != 0) {
        fprintf(stderr, "bench_windows: hand loop: wrong counts (%llu late)\n",
                (unsigned long long)h_late);
        exit(1);
    }
    *results = nresults();
    for (int i = 0; i < HAND_RING; i++)
        free(h_win[i].slots);
    r.wall_s = (double)(t1 - t0) / 1e9;
    r.cpu_s = c1 - c0;
    r.records = records;
    return r;
}

/* ------------------------------------------------------------------ */

static uint64_t
arg_u64(int argc, char **argv, const char *name, uint64_t def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoull(argv[i + 1], NULL, 10);
    return def;
}

static const char *
arg_str(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int
run_case(const char *only, const char *name)
{
    return only == NULL || strcmp(only, name) == 0;
}

static const char *
verdict(double v, double target)
{
    return v >= target ? "PASS" : "BELOW";
}

static void
print_engine(const char *label, const rate_t *r, int64_t results)
{
    printf("  %-14s %8.2f M records/s per core (%.2f CPU s)\n"
           "  %-14s %8.2f M records/s wall     (%.2f s), %lld window "
           "results\n",
           label, cpu_rate(r) / 1e6, r->cpu_s, "", wall_rate(r) / 1e6,
           r->wall_s, (long long)results);
}

int
main(int argc, char **argv)
{
    uint64_t n = arg_u64(argc, argv, "--records", 20000000);
    /* Session windows merge a window per record: a quarter of the
     * records keeps the whole program well under a minute. */
    uint64_t ns = arg_u64(argc, argv, "--session-records", n / 4);
    int64_t keys = (int64_t)arg_u64(argc, argv, "--keys", 10000);
    int64_t (*nresults)(void);
    char nbuf[32], nsbuf[32], kbuf[32];
    char *tum_args[] = {"--case", "tumbling", "--n", nbuf, "--keys", kbuf,
                        "--size-ms", "1000"};
    char *sli_args[] = {"--case", "sliding", "--n", nbuf, "--keys", kbuf,
                        "--size-ms", "10000", "--slide-ms", "2000"};
    char *ses_args[] = {"--case", "session", "--n", nsbuf, "--keys", kbuf,
                        "--gap-ms", "100", "--active-ms", "500",
                        "--idle-ms", "500"};
    /* --only tumbling | sliding | session: one case (for profiling). */
    const char *only = arg_str(argc, argv, "--only");
    rate_t hand, tum = {0, 0, 0}, sli, ses;
    int64_t hand_res, res;
    void *h;

    if (n == 0 || ns == 0 || keys <= 0) {
        fprintf(stderr, "bench_windows: --records, --session-records and "
                        "--keys must be > 0\n");
        return 2;
    }
    cf_log_set_level(CF_LOGL_WARN);
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
    snprintf(nsbuf, sizeof nsbuf, "%llu", (unsigned long long)ns);
    snprintf(kbuf, sizeof kbuf, "%lld", (long long)keys);
    /* Kept open for the whole run: the runtime's dlopen of the same file
     * gets this handle, so the sink's counters are readable here. */
    h = dlopen(CF_BENCH_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "bench_windows: %s\n", dlerror());
        return 1;
    }
    nresults = (int64_t(*)(void))h_sym(h, "bench_evt_results");
    printf("cflink event-time window benchmark (%ld cores), count per key "
           "per window,\n%lld keys, %llu records a case, 1000 records "
           "per ms of event time, p=1\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), (long long)keys,
           (unsigned long long)n);
    fflush(stdout);

    if (run_case(only, "tumbling")) {
        hand = run_hand_tumbling(h, n, keys, 1000, &hand_res);
        printf("tumbling  1 s windows\n");
        printf("  %-14s %8.2f M records/s (one thread, hash map per "
               "window), %lld window results\n",
               "hand loop", cpu_rate(&hand) / 1e6, (long long)hand_res);
        fflush(stdout);
        tum = run_engine(CF_BENCH_PLUGIN, tum_args, 8, n);
        res = nresults();
        print_engine("engine", &tum, res);
        printf("  %-14s %8s target >= 5 M/s per core: %s\n", "", "",
               verdict(cpu_rate(&tum), 5e6));
        printf("  %-14s %8.1f %%   (engine per core / hand loop)\n\n",
               "ratio", 100.0 * cpu_rate(&tum) / cpu_rate(&hand));
        fflush(stdout);
    }

    if (run_case(only, "sliding")) {
        sli = run_engine(CF_BENCH_PLUGIN, sli_args, 10, n);
        res = nresults();
        printf("sliding   10 s windows, slide 2 s (every record in 5 "
               "windows)\n");
        print_engine("engine", &sli, res);
        printf("  %-14s %8s target >= 3.5 M/s per core: %s\n", "", "",
               verdict(cpu_rate(&sli), 3.5e6));
        if (tum.records > 0) {
            double ratio = cpu_rate(&sli) / cpu_rate(&tum);
            printf("  %-14s %8.2f       (per core; target >= 0.7: %s)\n",
                   "vs tumbling", ratio, verdict(ratio, 0.7));
        }
        printf("\n");
        fflush(stdout);
    }

    if (run_case(only, "session")) {
        ses = run_engine(CF_BENCH_PLUGIN, ses_args, 12, ns);
        res = nresults();
        printf("session   gap 100 ms (each key busy 500 ms, silent 500 ms), "
               "%llu records\n",
               (unsigned long long)ns);
        print_engine("engine", &ses, res);
        if (tum.records > 0)
            printf("  %-14s %8.2f       (per core)\n", "vs tumbling",
                   cpu_rate(&ses) / cpu_rate(&tum));
        printf("\n");
    }
    printf("context: Flink Nexmark q5 (sliding) 22-75 k records/s per core; "
           "best published\nengine (Feldera) 412 k records/s per core\n");
    dlclose(h);
    return 0;
}
