/*
 * bench_metrics.c: the cost of measuring busy, back-pressured and idle
 * time (cf_task_times): throughput of in-process pipelines with the
 * measurement on and off (cf_runtime_task_times_enable), alternating
 * rounds in the same run (on, off, off, on, ...) so that drift of the
 * machine hits both alike. The measurement only brackets blocking waits
 * (two clock reads each), so the pipelines chosen are the ones that wait
 * most: exchanges where producers and consumers block on each other all
 * the time.
 *
 *   bench_metrics [--records N] [--rounds R] [--case keyed|exchange]
 *
 * Cases:
 *  1. keyed:    datagen(p=2) -> key_by -> sum in value state(p=2), 100 k
 *               keys (bench_plugin --case keyed)
 *  2. exchange: datagen(p=2) of 64-byte records -> rebalance -> sink(p=1)
 *               (tp_slow --every 0: the sink does nothing, so the two
 *               sources are back-pressured and the sink idles by turns)
 * Printed: the median records/s of each side and the overhead
 * (off - on) / off in percent [target < 2 %], of the medians and as the
 * median over back-to-back on/off pairs. On a shared machine the rounds
 * vary by more than that, so the run also prints a cost that does not
 * depend on the noise: the cost of one metered wait (begin + end on a
 * meter with two clock reads, measured in a loop: an upper bound, as
 * the task shares one of them with its flush check) times the number of
 * waits the pipeline's tasks metered per second (counted by the runtime,
 * cf_runtime_task_times_waits), as a share of the cores.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cflink/cflink.h>

#include "config.h"
#include "core.h"
#include "net.h"
#include "runtime.h"

/* Voluntary context switches of the process (all threads) during the
 * last run_engine, and its length. */
static long last_nvcsw;
static uint64_t last_waits; /* metered waits of the run */
static double last_seconds;

/* One local run of the plugin at parallelism p (0: the default);
 * records/s. The job's own output (tp_slow prints a line) goes to
 * /dev/null. */
static double
run_engine(const char *plugin, char **args, int nargs, int p, uint64_t records)
{
    cf_config_t *cfg = cf_config_new();
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    cf_error_t *err = NULL;
    cf_local_result_t res;
    char *argv[16];
    int64_t t0, t1;
    uint64_t w0;
    int saved, devnull;
    struct rusage ru0, ru1;

    argv[0] = (char *)plugin;
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = args[i];
    cf_job_opts_t o = {p, nargs + 1, argv, NULL};
    if (cf_plugin_open(plugin, &lib, &err) < 0 ||
        cf_job_build(lib, cfg, &o, &job, &err) < 0) {
        fprintf(stderr, "bench: %s\n", cf_error_msg(err));
        exit(1);
    }
    fflush(stdout);
    saved = dup(1);
    devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    close(devnull);
    getrusage(RUSAGE_SELF, &ru0);
    w0 = cf_runtime_task_times_waits();
    t0 = cf_mono_ns();
    if (cf_job_run_local(job, NULL, &res, &err) < 0 ||
        res.status != CF_JOB_FINISHED) {
        fprintf(stderr, "bench: job failed: %s\n",
                res.failure ? res.failure : cf_error_msg(err));
        exit(1);
    }
    t1 = cf_mono_ns();
    getrusage(RUSAGE_SELF, &ru1);
    last_nvcsw = ru1.ru_nvcsw - ru0.ru_nvcsw;
    last_waits = cf_runtime_task_times_waits() - w0;
    last_seconds = (double)(t1 - t0) / 1e9;
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    free(res.failure);
    cf_job_destroy(job);
    cf_plugin_close(lib);
    cf_config_destroy(cfg);
    return (double)records / ((double)(t1 - t0) / 1e9);
}

/* ns per metered wait: begin + end on a meter with nothing in between
 * (two clock reads and the seqlock stores), in a loop. */
static double wait_cost_ns;
static long ncores = 1;

static void
measure_wait_cost(void)
{
    static cf_net_wait_meter_t m;
    const int n = 5000000;
    int64_t t0 = cf_mono_ns();

    for (int i = 0; i < n; i++)
        cf_net_meter_end(&m, cf_net_meter_begin(&m, i & 1));
    wait_cost_ns = (double)(cf_mono_ns() - t0) / n;
}

static int
cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rounds of the case with the measurement on and off, ABBA order. */
static void
bench_case(const char *title, const char *plugin, char **args, int nargs, int p,
           uint64_t records, int rounds)
{
    double on[64], off[64], pair[64], m_on, m_off, prev = 0, waits = 0;
    double metered = 0;
    int non = 0, noff = 0, npair = 0;

    /* A warm-up round (page cache, plugin loading, allocator). */
    run_engine(plugin, args, nargs, p, records);
    for (int r = 0; r < 2 * rounds; r++) {
        int measure = (r % 4 == 0 || r % 4 == 3);
        cf_runtime_task_times_enable(measure);
        double x = run_engine(plugin, args, nargs, p, records);
        if (measure) {
            on[non++] = x;
            waits += (double)last_nvcsw / last_seconds;
            metered += (double)last_waits / last_seconds;
        } else {
            off[noff++] = x;
        }
        /* Rounds 2k and 2k + 1 ran back to back, one on and one off:
         * their ratio is little affected by slower drift of the machine
         * (other processes on shared cores). */
        if (r % 2 == 1)
            pair[npair++] =
                measure ? 100.0 * (prev - x) / prev : 100.0 * (x - prev) / x;
        prev = x;
    }
    cf_runtime_task_times_enable(1);
    m_on = median(on, non);
    m_off = median(off, noff);
    printf("%s, %llu records, %d rounds each\n"
           "  measurement on  %8.2f M records/s (median; rounds %.1f..%.1f)\n"
           "  measurement off %8.2f M records/s (median; rounds %.1f..%.1f)\n"
           "  overhead        %8.2f %% of the medians, %.2f %% median of "
           "back-to-back pairs (target < 2 %%)\n",
           title, (unsigned long long)records, rounds, m_on / 1e6, on[0] / 1e6,
           on[non - 1] / 1e6, m_off / 1e6, off[0] / 1e6, off[noff - 1] / 1e6,
           100.0 * (m_off - m_on) / m_off, median(pair, npair));
    waits /= non;
    metered /= non;
    printf("  waits           %8.0f /s slept (voluntary context switches), "
           "%.0f /s metered\n"
           "  cost            metered waits x %.1f ns = %.3f %% of one core, "
           "%.3f %% of the run's %ld cores\n\n",
           waits, metered, wait_cost_ns,
           metered * wait_cost_ns / 1e9 * 100.0,
           metered * wait_cost_ns / 1e9 * 100.0 / ncores, ncores);
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
    uint64_t n = arg_u64(argc, argv, "--records", 5000000);
    int rounds = (int)arg_u64(argc, argv, "--rounds", 6);
    char nbuf[32];
    char *keyed_args[] = {"--case", "keyed", "--n", nbuf, "--keys", "100000"};
    const char *which = NULL;
    char *xchg_args[] = {"--records", nbuf, "--size", "64", "--every", "0"};

    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--case") == 0)
            which = argv[i + 1];
    if (rounds < 2)
        rounds = 2;
    if (rounds > 64)
        rounds = 64;
    cf_log_set_level(CF_LOGL_WARN);
    snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
    printf("cflink task time measurement benchmark (%ld cores)\n\n",
           ncores = sysconf(_SC_NPROCESSORS_ONLN));
    measure_wait_cost();
    printf("one metered wait (begin + end, two clock reads): %.1f ns\n\n",
           wait_cost_ns);
    if (which == NULL || strcmp(which, "keyed") == 0)
        bench_case("keyed     source(p=2) -> key_by -> sum in value "
                   "state(p=2)",
                   CF_BENCH_PLUGIN, keyed_args, 6, 0, n, rounds);
    if (which == NULL || strcmp(which, "exchange") == 0)
        bench_case("exchange  source(p=2, 64 B records) -> rebalance -> "
                   "sink(p=1)",
                   CF_SLOW_PLUGIN, xchg_args, 6, 2, n, rounds);
    return 0;
}
