/*
 * top_speed_windowing.c: Flink's TopSpeedWindowing example as a cflink
 * job plugin: the top speed of each car over its last 10 seconds,
 * reported every time it has driven another 50 meters.
 *
 *   cflink run -t local -p 2 build/examples/top_speed_windowing.so \
 *       [--events N] [--cars C] [--output DIR]
 *
 *   on a cluster (the JobManager's REST address):
 *   cflink run -m localhost:8081 -p 2 build/examples/top_speed_windowing.so \
 *       --events 100000 --output /tmp/topspeed
 *
 * A car data generator (Flink's CarSource / CarGeneratorFunction) sends
 * N events (default 1000) from C cars (default 2): every 100 ms of event
 * time each car, in turn, changes its speed by +5 or -5 km/h (within
 * 0..100, starting at 50) and adds speed / 3.6 meters to its distance
 * (as Flink's example does per tick), and reports
 *
 *   (carId, speed km/h, distance m, timestamp ms)
 *
 * Timestamps start at 1700000000000 (epoch ms) and increase by 100 per
 * tick, so event time runs ten times faster than in Flink's example,
 * where ticks are 100 ms of wall time; the speed and distance changes
 * come from a fixed pseudo-random sequence (splitmix64 of the event's
 * index), so every run produces the same events and the same output.
 *
 * The job, as Flink's:
 *
 *   car-source (parallelism 1)
 *     -> timestamps (forMonotonousTimestamps, ts from the event)
 *     -> key_by(carId) -> window(GlobalWindows)
 *          .evictor(TimeEvictor.of(10 s))
 *          .trigger(DeltaTrigger.of(50, distance delta))
 *     -> top-speed (window reduce: maxBy(speed))
 *     -> format -> print-sink | file-sink
 *
 * A car's global window collects its events; the delta trigger fires
 * when the car has driven more than 50 meters since the event of the
 * previous firing (the first event only sets the reference). Before the
 * reduce runs, the time evictor drops the events older than 10 seconds
 * (timestamp <= newest - 10000) for good. The reduce keeps the event
 * with the highest speed (the earliest of equal ones), printed as
 *
 *   (1,70,133.33,1700000000700)
 *
 * with the distance rounded to centimetres. The window is never purged
 * and global windows have no end, so nothing fires at the end of input.
 *
 * The source keeps its position, speeds and distances in operator state
 * (a snapshot hook), so with checkpointing a restarted job continues the
 * same sequence.
 */
#include <cflink/cflink.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_MAX_CARS 1000
#define TS_START_MS INT64_C(1700000000000)
#define TS_TICK_MS 100
#define TS_BATCH 1000

#define TS_TRIGGER_METERS 50.0
#define TS_EVICTION_MS 10000

/* An event. */
typedef struct ts_car_s {
    int32_t car;
    int32_t speed;   /* km/h */
    double distance; /* meters */
    int64_t ts;      /* epoch ms */
} ts_car_t;

/* The job's parameters, in static storage (udata must outlive the job;
 * the entry writes the same values every time it runs). */
typedef struct ts_conf_s {
    uint64_t events;
    int32_t cars;
} ts_conf_t;

static ts_conf_t ts_conf;

/* ------------------------------------------------------------------ */
/* The car source                                                      */
/* ------------------------------------------------------------------ */

/* An instance's generator state; also its operator state item. */
typedef struct ts_gen_s {
    uint64_t next; /* index of the next event */
    int32_t speeds[TS_MAX_CARS];
    double distances[TS_MAX_CARS];
} ts_gen_t;

typedef struct ts_source_s {
    ts_gen_t gen;
    cf_state_t *pos; /* operator state "car-source-position" */
} ts_source_t;

/* splitmix64: the pseudo-random bits of event index i. */
static uint64_t
ts_mix(uint64_t i)
{
    uint64_t z = i + UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int
ts_source_open(cf_ctx_t *ctx)
{
    const ts_conf_t *conf = cf_ctx_udata(ctx);
    ts_source_t *src = calloc(1, sizeof(*src));
    cf_list_iter_t it;
    cf_slice_t item;
    int c, n = 0;

    if (!src)
        return cf_fail(ctx, "car-source: out of memory");
    cf_ctx_set_local(ctx, src);
    for (c = 0; c < conf->cars; c++)
        src->gen.speeds[c] = 50;

    src->pos = cf_op_state_list(ctx, "car-source-position", CF_OPSTATE_SPLIT);
    if (!src->pos)
        return cf_fail(ctx, "car-source: could not register its operator "
                            "state");
    if (!cf_ctx_is_restored(ctx))
        return CF_OK;
    if (cf_list_iter(src->pos, &it) < 0)
        return cf_fail(ctx, "car-source: could not read its restored state");
    while (cf_list_next(src->pos, &it, &item)) {
        if (item.len != sizeof(src->gen))
            return cf_fail(ctx,
                           "car-source: restored state of %u bytes, expected "
                           "%zu (another version of the job?)",
                           (unsigned)item.len, sizeof(src->gen));
        memcpy(&src->gen, item.data, sizeof(src->gen));
        n++;
    }
    if (n > 1)
        return cf_fail(ctx,
                       "car-source: %d restored positions, expected one "
                       "(the source runs with parallelism 1)",
                       n);
    return CF_OK;
}

static int
ts_source_next(cf_ctx_t *ctx)
{
    const ts_conf_t *conf = cf_ctx_udata(ctx);
    ts_source_t *src = cf_ctx_local(ctx);
    ts_gen_t *g = &src->gen;
    int n;

    for (n = 0; n < TS_BATCH && g->next < conf->events; n++, g->next++) {
        uint64_t i = g->next;
        int32_t car = (int32_t)(i % (uint64_t)conf->cars);
        ts_car_t ev;
        int rc;

        if (ts_mix(i) & 1)
            g->speeds[car] =
                g->speeds[car] + 5 > 100 ? 100 : g->speeds[car] + 5;
        else
            g->speeds[car] = g->speeds[car] - 5 < 0 ? 0 : g->speeds[car] - 5;
        g->distances[car] += g->speeds[car] / 3.6;

        memset(&ev, 0, sizeof(ev));
        ev.car = car;
        ev.speed = g->speeds[car];
        ev.distance = g->distances[car];
        ev.ts = TS_START_MS + (int64_t)(i / (uint64_t)conf->cars) * TS_TICK_MS;
        rc = cf_emit(ctx, &ev, sizeof(ev), ev.ts);
        if (rc < 0)
            return rc;
    }
    return g->next < conf->events ? CF_SOURCE_MORE : CF_SOURCE_END;
}

static int
ts_source_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    ts_source_t *src = cf_ctx_local(ctx);

    (void)checkpoint_id;
    if (!src || !src->pos)
        return CF_OK;
    if (cf_state_clear(src->pos) < 0 ||
        cf_list_add(src->pos, &src->gen, sizeof(src->gen)) < 0)
        return cf_fail(ctx, "car-source: could not store its position");
    return CF_OK;
}

static void
ts_source_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t ts_source_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = ts_source_open,
    .next = ts_source_next,
    .close = ts_source_close,
};

static const cf_hooks_t ts_source_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = ts_source_snapshot,
};

/* ------------------------------------------------------------------ */
/* Timestamps, key, trigger, reduce, format                            */
/* ------------------------------------------------------------------ */

/* CarTimestamp: the event's own timestamp field. */
static int64_t
ts_timestamp(cf_ctx_t *ctx, const cf_record_t *in)
{
    ts_car_t ev;
    (void)ctx;
    memcpy(&ev, in->data, sizeof(ev));
    return ev.ts;
}

static int
ts_car_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data; /* car, at offset 0 */
    key->len = sizeof(int32_t);
    return CF_OK;
}

/* The DeltaTrigger's delta function: meters driven from old to new. */
static double
ts_distance_delta(cf_ctx_t *ctx, const cf_record_t *old_ev,
                  const cf_record_t *new_ev)
{
    ts_car_t a, b;
    (void)ctx;
    memcpy(&a, old_ev->data, sizeof(a));
    memcpy(&b, new_ev->data, sizeof(b));
    return b.distance - a.distance;
}

/* maxBy(speed): replace the accumulator only with a strictly faster
 * event, so the earliest of equal speeds is kept (Flink's maxBy). */
static int
ts_max_speed(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    ts_car_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, sizeof(a));
    memcpy(&b, in->data, sizeof(b));
    if (b.speed > a.speed)
        memcpy(acc->data, &b, sizeof(b));
    return CF_OK;
}

/* format: "(car,speed,distance,ts)". */
static int
ts_format(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    char *line = cf_ctx_scratch(ctx, 96);
    ts_car_t ev;
    int n;

    if (!line)
        return cf_fail(ctx, "TopSpeedWindowing: out of memory");
    memcpy(&ev, in->data, sizeof(ev));
    n = snprintf(line, 96, "(%" PRId32 ",%" PRId32 ",%.2f,%" PRId64 ")", ev.car,
                 ev.speed, ev.distance, ev.ts);
    out->data = line;
    out->len = (uint32_t)n;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

static int
ts_usage(cf_env_t *env, const char *what)
{
    fprintf(stderr,
            "Usage: top_speed_windowing.so [--events N] [--cars C] "
            "[--output <dir>]\n"
            "  --events  car events to generate, >= 1 (default 1000)\n"
            "  --cars    number of cars, 1..%d (default 2)\n"
            "  --output  write the top speeds to part files under this "
            "directory\n"
            "            (default: print them)\n",
            TS_MAX_CARS);
    return cf_env_fail(env, "TopSpeedWindowing: %s", what);
}

/* A positive decimal option within [1, max]: 0, or -1 (bad). */
static int
ts_parse_count(int argc, char **argv, const char *name, uint64_t def,
               uint64_t max, uint64_t *out)
{
    const char *v = cf_param_get(argc, argv, name, NULL);
    unsigned long long x;
    char *end;

    if (!v) {
        *out = def;
        return 0;
    }
    if (*v < '0' || *v > '9')
        return -1;
    errno = 0;
    x = strtoull(v, &end, 10);
    if (*end || errno || x < 1 || x > max)
        return -1;
    *out = x;
    return 0;
}

static int
ts_main(cf_env_t *env, int argc, char **argv)
{
    const char *output = cf_param_get(argc, argv, "output", NULL);
    cf_window_assigner_t global = cf_global_windows();
    cf_wm_strategy_t wm = cf_wm_for_monotonous_timestamps();
    cf_trigger_t delta;
    cf_evictor_t evictor;
    cf_stream_t *cars, *top;
    uint64_t events, ncars;
    char msg[160];
    int i;

    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *name = a + (a[0] == '-' ? (a[1] == '-' ? 2 : 1) : 0);
        if (a[0] != '-' ||
            (strcmp(name, "events") != 0 && strcmp(name, "cars") != 0 &&
             strcmp(name, "output") != 0)) {
            snprintf(msg, sizeof(msg), "unknown argument '%.100s'", a);
            return ts_usage(env, msg);
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0' ||
            (argv[i + 1][0] == '-' && argv[i + 1][1] == '-')) {
            snprintf(msg, sizeof(msg), "%.100s lacks its value", a);
            return ts_usage(env, msg);
        }
    }
    /* Timestamps grow by 100 ms per tick: keep them far from INT64_MAX. */
    if (ts_parse_count(argc, argv, "events", 1000, UINT64_C(1) << 40, &events) <
        0)
        return ts_usage(env, "--events must be a number >= 1");
    if (ts_parse_count(argc, argv, "cars", 2, TS_MAX_CARS, &ncars) < 0) {
        snprintf(msg, sizeof(msg), "--cars must be a number in 1..%d",
                 TS_MAX_CARS);
        return ts_usage(env, msg);
    }
    ts_conf.events = events;
    ts_conf.cars = (int32_t)ncars;

    cf_env_set_job_name(env, "CarTopSpeedWindowingExample");

    /* One generator: the cars' speeds and distances are its state. */
    cars = cf_env_add_source(env, "car-source", &ts_source_ops, &ts_conf);
    cf_stream_set_parallelism(cars, 1);
    cf_stream_hooks(cars, &ts_source_hooks);
    cf_stream_uid(cars, "car-source");

    wm.timestamp = ts_timestamp;
    cars = cf_stream_assign_timestamps_and_watermarks(cars, &wm, NULL);
    cf_stream_name(cars, "timestamps");

    memset(&delta, 0, sizeof(delta));
    delta.size = sizeof(delta);
    delta.kind = CF_TRIGGER_DELTA;
    delta.threshold = TS_TRIGGER_METERS;
    delta.delta = ts_distance_delta;

    memset(&evictor, 0, sizeof(evictor));
    evictor.size = sizeof(evictor);
    evictor.kind = CF_EVICTOR_TIME;
    evictor.window_ms = TS_EVICTION_MS;

    top = cf_stream_key_by(cars, ts_car_key, NULL);
    top = cf_stream_window(top, &global);
    top = cf_window_evictor(top, &evictor);
    top = cf_window_trigger(top, &delta);
    top = cf_window_reduce(top, "top-speed", ts_max_speed, NULL);
    cf_stream_uid(top, "top-speed");
    top = cf_stream_map(top, "format", ts_format, NULL);
    if (output)
        cf_stream_name(cf_stream_write_text(top, output), "file-sink");
    else
        cf_stream_name(cf_stream_print(top), "print-sink");
    return CF_OK;
}

CF_PLUGIN("TopSpeedWindowing",
          "The top speed of each car in its last 10 s, every 50 m "
          "(Flink's TopSpeedWindowing: global windows, DeltaTrigger, "
          "TimeEvictor)",
          ts_main);
