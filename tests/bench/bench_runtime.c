/*
 * bench_runtime.c: throughput of the local runtime against a hand-written
 * loop that calls the same user functions (from the same plugin) on the
 * same records, with no engine: no threads, no buffers, no exchange. Both
 * are measured in the same run, so the ratio is the engine's overhead.
 *
 *   bench_runtime [--records N] [--keyed-records N] [--rss-gb G]
 *
 * Cases (issue targets in brackets):
 *  1. chain: datagen(p=1) -> map -> filter -> discard   [>= 30 M/s, >= 40 %]
 *  2. keyed: datagen(p=2) -> key_by -> sum in value state(p=2) -> discard,
 *     100 k keys                                         [>= 10 M/s]
 *  3. peak RSS of a fast source into a slow sink pushing G GB (default 10)
 *     compared with the same job pushing 1/100 of it    [flat]
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cflink/cflink.h>

#include "config.h"
#include "core.h"
#include "runtime.h"
#include "state.h"

extern const cf_host_api_t cf_host_api;

/* ------------------------------------------------------------------ */
/* The engine                                                          */
/* ------------------------------------------------------------------ */

static double
run_engine(const char *plugin, char **args, int nargs, uint64_t records)
{
    cf_config_t *cfg = cf_config_new();
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    cf_error_t *err = NULL;
    cf_local_result_t res;
    char *argv[16];
    int64_t t0, t1;

    argv[0] = (char *)plugin;
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = args[i];
    cf_job_opts_t o = {0, nargs + 1, argv, NULL};
    if (cf_plugin_open(plugin, &lib, &err) < 0 ||
        cf_job_build(lib, cfg, &o, &job, &err) < 0) {
        fprintf(stderr, "bench: %s\n", cf_error_msg(err));
        exit(1);
    }
    t0 = cf_mono_ns();
    if (cf_job_run_local(job, NULL, &res, &err) < 0 ||
        res.status != CF_JOB_FINISHED) {
        fprintf(stderr, "bench: job failed: %s\n",
                res.failure ? res.failure : cf_error_msg(err));
        exit(1);
    }
    t1 = cf_mono_ns();
    free(res.failure);
    cf_job_destroy(job);
    cf_plugin_close(lib);
    cf_config_destroy(cfg);
    return (double)records / ((double)(t1 - t0) / 1e9);
}

/* ------------------------------------------------------------------ */
/* The hand-written loop: a minimal host table around the same user    */
/* functions.                                                          */
/* ------------------------------------------------------------------ */

typedef struct bctx_s {
    const cf_host_api_t *api;
    void *scratch;
    uint32_t cap;
    void *local;
} bctx_t;

static cf_host_api_t b_api;
static bctx_t b_src, b_map, b_filter, b_proc;
static cf_map_fn b_map_fn;
static cf_filter_fn b_filter_fn;
static cf_key_fn b_key_fn;
static int (*b_proc_fn)(cf_ctx_t *, const cf_record_t *);
static cf_kstate_backend_t *b_backend;
static uint64_t b_count;
static int b_keyed;

static void *
b_scratch(cf_ctx_t *ctx, uint32_t n)
{
    bctx_t *c = (bctx_t *)ctx;
    if (n > c->cap) {
        c->scratch = realloc(c->scratch, n);
        c->cap = n;
    }
    return c->scratch;
}

static void *
b_local(cf_ctx_t *ctx)
{
    return ((bctx_t *)ctx)->local;
}

static void
b_set_local(cf_ctx_t *ctx, void *p)
{
    ((bctx_t *)ctx)->local = p;
}

static cf_state_t *
b_state_value(cf_ctx_t *ctx, const char *name)
{
    return cf_kstate_register(b_backend, name, CF_STATE_VALUE, NULL, ctx,
                              NULL);
}

static int
b_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    cf_record_t r = {data, len, ts};
    (void)ctx;
    if (!b_keyed) {
        cf_record_t o = r;
        b_map_fn((cf_ctx_t *)&b_map, &r, &o);
        b_count += b_filter_fn((cf_ctx_t *)&b_filter, &o) == CF_FILTER_KEEP;
    } else {
        cf_key_t key;
        b_key_fn((cf_ctx_t *)&b_proc, &r, &key);
        cf_kstate_set_key(b_backend, key.data, key.len,
                          cf_murmur3_32(key.data, key.len, 0));
        b_proc_fn((cf_ctx_t *)&b_proc, &r);
        b_count++;
    }
    return 0;
}

static double
run_loop(const char *plugin, int keyed, uint64_t records)
{
    void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    int (*gen)(cf_ctx_t *, uint64_t);
    int64_t t0, t1;

    if (h == NULL) {
        fprintf(stderr, "bench: %s\n", dlerror());
        exit(1);
    }
    b_api = cf_host_api;
    b_api.emit = b_emit;
    b_api.scratch = b_scratch;
    b_api.local = b_local;
    b_api.set_local = b_set_local;
    b_api.state_value = b_state_value;
    b_src.api = b_map.api = b_filter.api = b_proc.api = &b_api;
    b_keyed = keyed;
    b_count = 0;
    b_map_fn = (cf_map_fn)dlsym(h, "bench_map");
    b_filter_fn = (cf_filter_fn)dlsym(h, "bench_filter");
    b_key_fn = (cf_key_fn)dlsym(h, "bench_key");
    b_proc_fn = (int (*)(cf_ctx_t *, const cf_record_t *))dlsym(
        h, "bench_sum_process");
    gen = (int (*)(cf_ctx_t *, uint64_t))dlsym(
        h, keyed ? "bench_gen_kv" : "bench_gen_seq");
    if (keyed) {
        int (*open)(cf_ctx_t *) =
            (int (*)(cf_ctx_t *))dlsym(h, "bench_sum_open");
        b_backend = cf_kstate_backend_new(&b_api, 128, 0, 127);
        open((cf_ctx_t *)&b_proc);
    }
    t0 = cf_mono_ns();
    for (uint64_t i = 0; i < records; i++)
        gen((cf_ctx_t *)&b_src, i);
    t1 = cf_mono_ns();
    if (keyed) {
        cf_kstate_backend_destroy(b_backend);
        b_backend = NULL;
    }
    dlclose(h);
    return (double)records / ((double)(t1 - t0) / 1e9);
}

/* ------------------------------------------------------------------ */
/* Peak RSS: the job runs in a child; wait4 gives its maxrss.          */
/* ------------------------------------------------------------------ */

static long
peak_rss_kb(uint64_t records, double *seconds)
{
    char nrec[32];
    char *args[] = {"--records", nrec, "--size", "1024", "--every", "2000"};
    struct rusage ru;
    int64_t t0 = cf_mono_ns();
    int st;
    pid_t pid;

    snprintf(nrec, sizeof nrec, "%llu", (unsigned long long)records);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        run_engine(CF_SLOW_PLUGIN, args, 6, records);
        _exit(0);
    }
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: RSS job failed\n");
        exit(1);
    }
    *seconds = (double)(cf_mono_ns() - t0) / 1e9;
    return ru.ru_maxrss;
}

static uint64_t
arg_u64(int argc, char **argv, const char *name, uint64_t def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return strtoull(argv[i + 1], NULL, 10);
    return def;
}

int
main(int argc, char **argv)
{
    uint64_t n = arg_u64(argc, argv, "--records", 100000000);
    uint64_t nk = arg_u64(argc, argv, "--keyed-records", 50000000);
    uint64_t gb = arg_u64(argc, argv, "--rss-gb", 10);
    char nbuf[32], nkbuf[32];
    char *chain_args[] = {"--case", "chain", "--n", nbuf};
    char *keyed_args[] = {"--case", "keyed", "--n", nkbuf, "--keys",
                          "100000"};
    double e, l, s_small, s_big;
    long r_small, r_big;

    cf_log_set_level(CF_LOGL_WARN);
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
    snprintf(nkbuf, sizeof nkbuf, "%llu", (unsigned long long)nk);
    printf("cflink runtime benchmark (%ld cores)\n\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    l = run_loop(CF_BENCH_PLUGIN, 0, n);
    e = run_engine(CF_BENCH_PLUGIN, chain_args, 4, n);
    printf("chain  source -> map -> filter -> discard, p=1, %llu records\n"
           "  engine         %8.2f M records/s   (target >= 30 M/s)\n"
           "  hand loop      %8.2f M records/s\n"
           "  ratio          %8.1f %%            (target >= 40 %%)\n\n",
           (unsigned long long)n, e / 1e6, l / 1e6, 100.0 * e / l);

    l = run_loop(CF_BENCH_PLUGIN, 1, nk);
    e = run_engine(CF_BENCH_PLUGIN, keyed_args, 6, nk);
    printf("keyed  source(p=2) -> key_by -> sum in value state(p=2) -> "
           "discard, 100 k keys, %llu records\n"
           "  engine         %8.2f M records/s   (target >= 10 M/s; Flink "
           "tupleKeyBy ~5.3 M/s)\n"
           "  hand loop      %8.2f M records/s   (one thread, state backend, "
           "no exchange)\n"
           "  ratio          %8.1f %%\n\n",
           (unsigned long long)nk, e / 1e6, l / 1e6, 100.0 * e / l);

    r_small = peak_rss_kb(gb * 1000000 / 100, &s_small);
    r_big = peak_rss_kb(gb * 1000000, &s_big);
    printf("memory fast source -> slow sink, 1 KiB records\n"
           "  %5.2f GB pushed  peak RSS %7.1f MB  (%.1f s)\n"
           "  %5.2f GB pushed  peak RSS %7.1f MB  (%.1f s)\n"
           "  growth         %8.1f MB for %llux the volume (target: flat)\n",
           (double)gb / 100 * 1.024, r_small / 1024.0, s_small,
           (double)gb * 1.024, r_big / 1024.0, s_big,
           (r_big - r_small) / 1024.0, 100ULL);
    return 0;
}
