/*
 * keyed_state.c: per-sensor statistics with keyed state and a rolling
 * reduce, as a cflink job plugin.
 *
 *   cflink run -t local -p 2 build/examples/keyed_state.so \
 *       [--count N] [--rate R] [--every E]
 *
 * A data generator produces N temperature readings (default 1000; 0: no
 * end) from 10 sensors, at most R a second (default 0: no limit). Reading
 * i comes from sensor i % 10 and its temperature is a pure function of i,
 * so every run produces the same readings. The generator runs with
 * parallelism 1, so the readings of each sensor arrive in index order and
 * the output lines are the same on every run (only their interleaving
 * differs).
 *
 *   sensor-readings --key_by(sensor)--> sensor-stats ------------+
 *                   \                                            union -> print
 *                    to-max --key_by(sensor)--> max-temperature  |
 *                             --> report-max --> format-max -----+
 *
 * sensor-stats is a keyed process function with two keyed states:
 *  - "stats", a ValueState {count, sum, min, max}, updated in place with
 *    cf_value_update;
 *  - "bands", a MapState from a band name ("cold" below 18 degrees,
 *    "mild", "warm" from 24 degrees) to the number of readings in it.
 * After every E-th reading of a sensor (default 50), and after its last
 * one, it emits
 *   sensor-3 count=100 avg=20.87 min=16.93 max=24.90 cold=9 mild=78 warm=13
 *
 * max-temperature is a rolling reduce over {sensor, max, readings}
 * records; report-max keeps its results after every E-th and the last
 * reading of a sensor, and format-max turns them into
 *   sensor-3 max=24.90 readings=100
 *
 * Records are C structs: a reading is {int32 sensor; int32 centi} with
 * the temperature in hundredths of a degree, and the timestamp i * 1000
 * (one reading a second). The key is the 4-byte sensor id at the start of
 * each record.
 */
#include <cflink/cflink.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS_SENSORS 10

typedef struct ks_reading_s {
    int32_t sensor;
    int32_t centi; /* temperature in 1/100 degree Celsius */
} ks_reading_t;

typedef struct ks_max_s {
    int32_t sensor;
    int32_t max_centi;
    uint32_t readings;
} ks_max_t;

/* The value of the "stats" state. */
typedef struct ks_stats_s {
    uint64_t count;
    int64_t sum;
    int32_t min;
    int32_t max;
} ks_stats_t;

/* The job's parameters, read-only once the entry has returned.
 *
 * udata must outlive the job and the ABI has no destructor for it, so this
 * example keeps its parameters in static storage: the entry runs again in
 * the same process (to bind functions) with the same arguments and writes
 * the same values. */
typedef struct ks_conf_s {
    uint64_t count; /* readings in all; 0: unbounded */
    uint64_t every; /* report after every this many readings of a sensor */
} ks_conf_t;

static ks_conf_t ks_conf;

/* The number of readings sensor gets (0: unbounded). */
static uint64_t
ks_sensor_total(const ks_conf_t *conf, int32_t sensor)
{
    if (conf->count == 0)
        return 0;
    return conf->count / KS_SENSORS +
           ((uint64_t)sensor < conf->count % KS_SENSORS ? 1 : 0);
}

static int
ks_report_due(const ks_conf_t *conf, int32_t sensor, uint64_t n)
{
    return n % conf->every == 0 || n == ks_sensor_total(conf, sensor);
}

/* "21.50" from 2150; "-0.05" from -5. */
static void
ks_fmt_centi(char *out, size_t size, int64_t centi)
{
    uint64_t a = centi < 0 ? (uint64_t)-centi : (uint64_t)centi;
    snprintf(out, size, "%s%" PRIu64 ".%02u", centi < 0 ? "-" : "", a / 100,
             (unsigned)(a % 100));
}

/* ------------------------------------------------------------------ */
/* The source                                                          */
/* ------------------------------------------------------------------ */

/* Sensor s has a base temperature of 18.00 + s * 0.50 degrees; a reading
 * adds a pseudo-random -4.00..+4.00 derived from its index. */
static int
ks_generate(cf_ctx_t *ctx, uint64_t index)
{
    ks_reading_t r;
    uint32_t h = (uint32_t)index * 2654435761u;

    r.sensor = (int32_t)(index % KS_SENSORS);
    r.centi = 1800 + r.sensor * 50 + (int32_t)((h >> 16) % 801) - 400;
    return cf_emit(ctx, &r, sizeof(r), (int64_t)index * 1000);
}

/* Both keyed streams use the sensor id at offset 0 of the record. */
static int
ks_sensor_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = sizeof(int32_t);
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* sensor-stats: a keyed process function with ValueState and MapState */
/* ------------------------------------------------------------------ */

/* An instance's handles to its keyed states (local data: the states
 * themselves belong to the host and are checkpointed by it). */
typedef struct ks_states_s {
    cf_state_t *stats;
    cf_state_t *bands;
} ks_states_t;

static const char *const ks_band_names[] = {"cold", "mild", "warm"};

static int
ks_stats_open(cf_ctx_t *ctx)
{
    ks_states_t *st = calloc(1, sizeof(*st));
    if (!st)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, st);
    st->stats = cf_state_value(ctx, "stats");
    st->bands = cf_state_map(ctx, "bands");
    if (!st->stats || !st->bands)
        return cf_fail(ctx, "could not register the keyed states");
    return CF_OK;
}

static int
ks_stats_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const ks_conf_t *conf = cf_ctx_udata(ctx);
    ks_states_t *st = cf_ctx_local(ctx);
    ks_reading_t r;
    ks_stats_t *s, snap;
    const char *band;
    cf_slice_t v;
    cf_map_iter_t it;
    cf_slice_t bk, bv;
    uint64_t n, bands[3] = {0, 0, 0};
    char avg[32], min[32], max[32], line[256];
    int created, len, i;

    memcpy(&r, in->data, sizeof(r));

    /* ValueState, updated in place. */
    s = cf_value_update(st->stats, sizeof(*s), &created);
    if (!s)
        return cf_fail(ctx, "could not update the stats of sensor %d",
                       (int)r.sensor);
    if (created) {
        s->min = r.centi;
        s->max = r.centi;
    }
    s->count++;
    s->sum += r.centi;
    if (r.centi < s->min)
        s->min = r.centi;
    if (r.centi > s->max)
        s->max = r.centi;
    snap = *s; /* s is valid until the next call on the state only */

    /* MapState: one more reading in the band. */
    band = r.centi < 1800 ? "cold" : r.centi < 2400 ? "mild" : "warm";
    n = 0;
    if (cf_map_get(st->bands, band, (uint32_t)strlen(band), &v) == 1)
        memcpy(&n, v.data, sizeof(n));
    n++;
    if (cf_map_put(st->bands, band, (uint32_t)strlen(band), &n, sizeof(n)) < 0)
        return cf_fail(ctx, "could not update the bands of sensor %d",
                       (int)r.sensor);

    if (!ks_report_due(conf, r.sensor, snap.count))
        return CF_OK;

    /* Read the whole map back (its order is unspecified). */
    if (cf_map_iter(st->bands, &it) < 0)
        return cf_fail(ctx, "could not read the bands of sensor %d",
                       (int)r.sensor);
    while (cf_map_next(st->bands, &it, &bk, &bv)) {
        for (i = 0; i < 3; i++)
            if (bk.len == strlen(ks_band_names[i]) &&
                memcmp(bk.data, ks_band_names[i], bk.len) == 0)
                memcpy(&bands[i], bv.data, sizeof(uint64_t));
    }

    /* The average, rounded half up to hundredths. */
    ks_fmt_centi(avg, sizeof(avg),
                 (snap.sum * 2 + (int64_t)snap.count) /
                     (2 * (int64_t)snap.count));
    ks_fmt_centi(min, sizeof(min), snap.min);
    ks_fmt_centi(max, sizeof(max), snap.max);
    len = snprintf(line, sizeof(line),
                   "sensor-%d count=%" PRIu64 " avg=%s min=%s max=%s "
                   "cold=%" PRIu64 " mild=%" PRIu64 " warm=%" PRIu64,
                   (int)r.sensor, snap.count, avg, min, max, bands[0], bands[1],
                   bands[2]);
    return cf_emit(ctx, line, (uint32_t)len, in->ts);
}

static void
ks_stats_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_process_ops_t ks_stats_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = ks_stats_open,
    .process = ks_stats_process,
    .close = ks_stats_close,
};

/* ------------------------------------------------------------------ */
/* max-temperature: map, rolling reduce, filter, map                   */
/* ------------------------------------------------------------------ */

static int
ks_to_max(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    ks_max_t *m = cf_ctx_scratch(ctx, sizeof(*m));
    ks_reading_t r;

    memcpy(&r, in->data, sizeof(r));
    m->sensor = r.sensor;
    m->max_centi = r.centi;
    m->readings = 1;
    out->data = m;
    out->len = sizeof(*m);
    return CF_OK;
}

static int
ks_max_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    ks_max_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, sizeof(a));
    memcpy(&b, in->data, sizeof(b));
    if (b.max_centi > a.max_centi)
        a.max_centi = b.max_centi;
    a.readings += b.readings;
    memcpy(acc->data, &a, sizeof(a));
    return CF_OK;
}

static int
ks_report_max(cf_ctx_t *ctx, const cf_record_t *in)
{
    const ks_conf_t *conf = cf_ctx_udata(ctx);
    ks_max_t m;
    memcpy(&m, in->data, sizeof(m));
    return ks_report_due(conf, m.sensor, m.readings) ? CF_FILTER_KEEP
                                                     : CF_FILTER_DROP;
}

static int
ks_format_max(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    char *line = cf_ctx_scratch(ctx, 96);
    char max[32];
    ks_max_t m;
    int len;

    memcpy(&m, in->data, sizeof(m));
    ks_fmt_centi(max, sizeof(max), m.max_centi);
    len = snprintf(line, 96, "sensor-%d max=%s readings=%u", (int)m.sensor, max,
                   (unsigned)m.readings);
    out->data = line;
    out->len = (uint32_t)len;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

static int
ks_usage(cf_env_t *env, const char *what)
{
    fprintf(stderr,
            "Usage: keyed_state.so [--count N] [--rate R] [--every E]\n"
            "  --count  readings to generate (default 1000; 0: no end)\n"
            "  --rate   at most this many readings a second (default 0: no "
            "limit)\n"
            "  --every  report a sensor after every E readings (default "
            "50)\n");
    return cf_env_fail(env, "KeyedState: %s", what);
}

/* Parse a non-negative integer option; returns 0 or -1. */
static int
ks_parse_u64(int argc, char **argv, const char *name, uint64_t def,
             uint64_t *out)
{
    const char *v = cf_param_get(argc, argv, name, NULL);
    char *end;
    if (!v) {
        *out = def;
        return 0;
    }
    if (*v < '0' || *v > '9')
        return -1;
    *out = strtoull(v, &end, 10);
    return *end ? -1 : 0;
}

static int
ks_main(cf_env_t *env, int argc, char **argv)
{
    const char *rate_arg = cf_param_get(argc, argv, "rate", "0");
    cf_stream_t *readings, *stats, *maxes;
    uint64_t count, every;
    double rate;
    char *end;
    int i;

    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *name = a + (a[0] == '-' ? (a[1] == '-' ? 2 : 1) : 0);
        if (a[0] != '-' ||
            (strcmp(name, "count") != 0 && strcmp(name, "rate") != 0 &&
             strcmp(name, "every") != 0))
            return ks_usage(env, "unknown argument");
        if (i + 1 >= argc)
            return ks_usage(env, "an option lacks its value");
    }
    if (ks_parse_u64(argc, argv, "count", 1000, &count) < 0)
        return ks_usage(env, "--count must be a number");
    if (ks_parse_u64(argc, argv, "every", 50, &every) < 0 || every == 0)
        return ks_usage(env, "--every must be a positive number");
    rate = strtod(rate_arg, &end);
    if (*end || end == rate_arg || !(rate >= 0))
        return ks_usage(env, "--rate must be a number >= 0");
    ks_conf.count = count;
    ks_conf.every = every;

    cf_env_set_job_name(env, "Sensor Statistics");

    readings = cf_env_datagen(env, "sensor-readings", ks_generate, NULL,
                              count == 0 ? UINT64_MAX : count, rate);
    cf_stream_set_parallelism(readings, 1);

    stats = cf_stream_key_by(readings, ks_sensor_key, NULL);
    stats = cf_stream_process(stats, "sensor-stats", &ks_stats_ops, &ks_conf);
    cf_stream_uid(stats, "sensor-stats");

    maxes = cf_stream_map(readings, "to-max", ks_to_max, NULL);
    maxes = cf_stream_key_by(maxes, ks_sensor_key, NULL);
    maxes = cf_stream_reduce(maxes, "max-temperature", ks_max_reduce, NULL);
    cf_stream_uid(maxes, "max-temperature");
    maxes = cf_stream_filter(maxes, "report-max", ks_report_max, &ks_conf);
    maxes = cf_stream_map(maxes, "format-max", ks_format_max, NULL);

    cf_stream_print(cf_stream_union2(stats, maxes));
    return CF_OK;
}

CF_PLUGIN("KeyedState",
          "Per-sensor statistics with keyed ValueState, MapState and a "
          "rolling reduce",
          ks_main);
