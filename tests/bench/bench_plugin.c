/*
 * bench_plugin.c: the job plugin of scripts/bench.sh. Its user functions
 * are exported so that the benchmark's hand-written loop (no engine) calls
 * exactly the same code on the same records.
 *   --case chain   datagen(p=1) -> map -> filter -> discard
 *   --case keyed   datagen(p=2) -> key_by -> keyed sum in value state (p=2)
 *                  -> discard
 *   --case exchange  datagen(p=2) -> key_by -> discard (p=2): a pure
 *                  network exchange (between TaskManagers in a cluster)
 *   --case cross   datagen(p=2) -> key_by -> check (p=2): every record
 *                  goes to the other subtask (keys are picked by their
 *                  key group, max parallelism 128), so with one slot per
 *                  TaskManager every record crosses the network; the
 *                  sink fails the job if a record stayed local
 *   --size S       record size in bytes of the exchange (>= 8) and cross
 *                  (>= 16) cases
 *   --n N          records (default 10000000; 0: unbounded)
 *   --rate R       records/s over all sources of the exchange and cross
 *                  cases (default 0: as fast as possible)
 *   --keys K       distinct keys of the keyed and window cases (default
 *                  100000; bench_windows passes 10000)
 *   --case tumbling | sliding | session   (bench_windows) datagen(p=1) of
 *                  (key, event time, 1) -> timestamps and bounded
 *                  out-of-orderness watermarks (20 ms) -> key_by ->
 *                  event-time window -> reduce (sum of the counts) (p=1)
 *                  -> a sink that checks the counts add up; keys
 *                  round-robin, --per-ms P records per ms of event time
 *                  (default 1000), --size-ms (default 1000; sliding 10000)
 *                  and --slide-ms (default 2000) of the tumbling and
 *                  sliding windows, --gap-ms (default 100) of the session
 *                  windows, whose keys are busy --active-ms (default 500)
 *                  then silent --idle-ms (default 500) of event time
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

#define BENCH_API __attribute__((visibility("default")))

typedef struct kv_s {
    int64_t key;
    int64_t value;
} kv_t;

static int64_t g_keys = 100000;

BENCH_API int
bench_gen_seq(cf_ctx_t *ctx, uint64_t index)
{
    int64_t v = (int64_t)index;
    return cf_emit(ctx, &v, sizeof v, CF_NO_TIMESTAMP);
}

BENCH_API int
bench_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v, *o = cf_ctx_scratch(ctx, sizeof *o);
    memcpy(&v, in->data, sizeof v);
    *o = v * 3 + 1;
    out->data = o;
    out->len = sizeof *o;
    return CF_OK;
}

BENCH_API int
bench_filter(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    (void)ctx;
    memcpy(&v, in->data, sizeof v);
    return (v & 3) != 0 ? CF_FILTER_KEEP : CF_FILTER_DROP;
}

BENCH_API int
bench_gen_kv(cf_ctx_t *ctx, uint64_t index)
{
    kv_t r = {(int64_t)((index * 2654435761u) % (uint64_t)g_keys), 1};
    return cf_emit(ctx, &r, sizeof r, CF_NO_TIMESTAMP);
}

BENCH_API int
bench_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = sizeof(int64_t);
    return CF_OK;
}

BENCH_API int
bench_sum_open(cf_ctx_t *ctx)
{
    cf_state_t *st = cf_state_value(ctx, "sum");
    cf_ctx_set_local(ctx, st);
    return st ? CF_OK : CF_ERR;
}

BENCH_API int
bench_sum_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    kv_t r;
    int64_t *sum = cf_value_update(cf_ctx_local(ctx), sizeof *sum, NULL);
    memcpy(&r, in->data, sizeof r);
    *sum += r.value;
    return CF_OK;
}

static uint32_t g_size = 64;

BENCH_API int
bench_gen_sized(cf_ctx_t *ctx, uint64_t index)
{
    uint8_t *b = cf_ctx_scratch(ctx, g_size);
    int64_t key = (int64_t)((index * 2654435761u) % (uint64_t)g_keys);
    memcpy(b, &key, sizeof key);
    return cf_emit(ctx, b, g_size, CF_NO_TIMESTAMP);
}

/* The cross case: CROSS_KEYS keys per target subtask, found by the
 * runtime's partitioning (murmur3_32 of the 8 key bytes, Flink's key group
 * assignment). Record layout: key (8 bytes), source subtask (1 byte). */
#define CROSS_KEYS 1024
#define CROSS_MAXP 128

static int64_t g_cross_keys[2][CROSS_KEYS];

static uint32_t
bench_rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

/* murmur3 x86_32 with seed 0 of an 8-byte key, as cf_murmur3_32. */
static uint32_t
bench_murmur3_8(const void *key)
{
    const uint8_t *p = key;
    uint32_t h = 0, k;

    for (int i = 0; i < 2; i++) {
        memcpy(&k, p + 4 * i, 4);
        k *= 0xcc9e2d51u;
        k = bench_rotl32(k, 15);
        k *= 0x1b873593u;
        h ^= k;
        h = bench_rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    h ^= 8u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static void
bench_cross_keys_init(void)
{
    int n[2] = {0, 0};

    for (int64_t k = 0; n[0] < CROSS_KEYS || n[1] < CROSS_KEYS; k++) {
        int kg = (int)(bench_murmur3_8(&k) % CROSS_MAXP);
        int t = kg * 2 / CROSS_MAXP;
        if (n[t] < CROSS_KEYS)
            g_cross_keys[t][n[t]++] = k;
    }
}

BENCH_API int
bench_gen_cross(cf_ctx_t *ctx, uint64_t index)
{
    uint8_t *b = cf_ctx_scratch(ctx, g_size);
    int me = cf_ctx_subtask_index(ctx);
    int64_t key = g_cross_keys[1 - me][index % CROSS_KEYS];

    memcpy(b, &key, sizeof key);
    b[8] = (uint8_t)me;
    return cf_emit(ctx, b, g_size, CF_NO_TIMESTAMP);
}

static int
bench_check_open(cf_ctx_t *ctx)
{
    /* The subtask index + 1 (the local is a pointer). */
    cf_ctx_set_local(ctx, (void *)(intptr_t)(cf_ctx_subtask_index(ctx) + 1));
    return CF_OK;
}

static int
bench_check_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    int me = (int)(intptr_t)cf_ctx_local(ctx) - 1;
    const uint8_t *b = in->data;

    if (in->len < 9 || b[8] == me)
        return cf_fail(ctx, "record from subtask %d stayed local",
                       in->len < 9 ? -1 : b[8]);
    return CF_OK;
}

static const cf_process_ops_t check_ops = {sizeof(cf_process_ops_t),
                                           bench_check_open,
                                           bench_check_process, NULL, NULL,
                                           NULL};

static const cf_process_ops_t sum_ops = {
    sizeof(cf_process_ops_t), bench_sum_open, bench_sum_process, NULL, NULL,
    NULL};

/* ------------------------------------------------------------------ */
/* Event-time windows (bench_windows): a count per key per window.     */
/* ------------------------------------------------------------------ */

/* A record of the window cases: the key, the event time, and a count (1
 * at the source) that the reduce function sums, so that the same reduce
 * folds records into a window, panes of a sliding window into each
 * other, and merged session windows into each other. */
typedef struct evt_s {
    int64_t key;
    int64_t ts;
    int64_t cnt;
} evt_t;

/* Event time starts at a realistic epoch (2023-11-14) rather than 0. */
#define WIN_BASE_TS 1700000000000LL
/* Each record's event time is up to WIN_JITTER_MS - 1 behind the
 * generator's clock: out of order, but always within the watermark bound
 * (WIN_BOUND_MS), so that no record is late and the counts add up. */
#define WIN_JITTER_MS 16
#define WIN_BOUND_MS 20

static int64_t g_win_per_ms = 1000;  /* records per ms of event time */
static int64_t g_win_active_ms = 0;  /* session case: busy period ... */
static int64_t g_win_idle_ms = 0;    /* ... followed by this much silence */
static int64_t g_win_sum;            /* sum of the counts the sink saw */
static int64_t g_win_results;        /* results the sink saw */
static int64_t g_win_expect;         /* the sum it must see at the end */

/* Keys round-robin (every key once per g_keys records); event time
 * advances 1 ms per g_win_per_ms records, minus a jitter from a
 * multiplicative hash of the index. In the session case the clock skips
 * g_win_idle_ms after every g_win_active_ms, so that every key has one
 * session per busy period (its records are g_keys / g_win_per_ms ms
 * apart plus jitter, well under the session gap). */
BENCH_API int
bench_gen_evt(cf_ctx_t *ctx, uint64_t index)
{
    int64_t t = (int64_t)(index / (uint64_t)g_win_per_ms);
    evt_t r;

    if (g_win_active_ms > 0)
        t += t / g_win_active_ms * g_win_idle_ms;
    r.key = (int64_t)(index % (uint64_t)g_keys);
    r.ts = WIN_BASE_TS + t -
           (int64_t)((index * 0x9E3779B97F4A7C15ull) >> 60); /* 0..15 */
    r.cnt = 1;
    return cf_emit(ctx, &r, sizeof r, CF_NO_TIMESTAMP);
}

/* The timestamp assigner: the record's event time field. */
BENCH_API int64_t
bench_evt_ts(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t ts;
    (void)ctx;
    memcpy(&ts, (const uint8_t *)in->data + offsetof(evt_t, ts), sizeof ts);
    return ts;
}

/* The window function: the first record of a window is its accumulator
 * (copied by the host); the others add their count. */
BENCH_API int
bench_evt_count(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, b;
    (void)ctx;
    memcpy(&a, acc->data + offsetof(evt_t, cnt), sizeof a);
    memcpy(&b, (const uint8_t *)in->data + offsetof(evt_t, cnt), sizeof b);
    a += b;
    memcpy(acc->data + offsetof(evt_t, cnt), &a, sizeof a);
    return CF_OK;
}

/* The sink (parallelism 1): sums the counts of the window results and, at
 * the end of the input, fails the job unless every record was counted
 * once per window it belongs to (a wrong window operator cannot post a
 * figure). */
BENCH_API int
bench_evt_sink_open(cf_ctx_t *ctx)
{
    (void)ctx;
    g_win_sum = 0;
    g_win_results = 0;
    return CF_OK;
}

BENCH_API int
bench_evt_sink(cf_ctx_t *ctx, const cf_record_t *in)
{
    evt_t r;
    if (in->len != sizeof r)
        return cf_fail(ctx, "window result of %u bytes, expected %zu",
                       in->len, sizeof r);
    memcpy(&r, in->data, sizeof r);
    g_win_sum += r.cnt;
    g_win_results++;
    return CF_OK;
}

BENCH_API int
bench_evt_sink_finish(cf_ctx_t *ctx)
{
    if (g_win_sum != g_win_expect)
        return cf_fail(ctx,
                       "window counts add up to %lld over %lld results, "
                       "expected %lld",
                       (long long)g_win_sum, (long long)g_win_results,
                       (long long)g_win_expect);
    return CF_OK;
}

/* For the hand loop: configure the generator and the expected sum as the
 * job's build does, and read the sink's figures. */
BENCH_API void
bench_evt_setup(int64_t keys, int64_t per_ms, int64_t active_ms,
                int64_t idle_ms, int64_t expect)
{
    g_keys = keys;
    g_win_per_ms = per_ms;
    g_win_active_ms = active_ms;
    g_win_idle_ms = idle_ms;
    g_win_expect = expect;
}

BENCH_API int64_t
bench_evt_results(void)
{
    return g_win_results;
}

static const cf_sink_ops_t evt_sink_ops = {
    sizeof(cf_sink_ops_t), bench_evt_sink_open, bench_evt_sink,
    bench_evt_sink_finish, NULL};

/* datagen(p=1) -> timestamps + bounded out-of-orderness watermarks
 * (chained) -> key_by -> window -> reduce(count) (p=1) -> checking sink. */
static int
build_windows(cf_env_t *env, const char *c, uint64_t n, int argc,
              char **argv)
{
    int64_t size = atoll(cf_param_get(argc, argv, "size-ms",
                                      strcmp(c, "sliding") == 0 ? "10000"
                                                                : "1000"));
    int64_t slide = atoll(cf_param_get(argc, argv, "slide-ms", "2000"));
    int64_t gap = atoll(cf_param_get(argc, argv, "gap-ms", "100"));
    cf_wm_strategy_t wm = cf_wm_for_bounded_out_of_orderness(WIN_BOUND_MS);
    cf_window_assigner_t a;
    int64_t mult = 1;
    cf_stream_t *s;

    /* A host of ABI 1.2 still being built may lack the entries. */
    if (!CF_API_HAS(env, stream_interval_join) ||
        CF__API(env)->stream_assign_watermarks == NULL ||
        CF__API(env)->stream_window == NULL ||
        CF__API(env)->window_reduce == NULL)
        return cf_env_fail(env, "%s: this host has no event-time windows",
                           c);
    g_win_per_ms = atoll(cf_param_get(argc, argv, "per-ms", "1000"));
    g_win_active_ms = 0;
    g_win_idle_ms = 0;
    if (g_keys <= 0 || g_win_per_ms <= 0 || n == UINT64_MAX)
        return cf_env_fail(env, "%s: --keys, --per-ms and --n must be > 0",
                           c);
    if (strcmp(c, "tumbling") == 0) {
        a = cf_tumbling_windows(CF_TIME_EVENT, size, 0);
    } else if (strcmp(c, "sliding") == 0) {
        if (size <= 0 || slide <= 0 || size % slide != 0)
            return cf_env_fail(env, "sliding: --size-ms must be a multiple "
                                    "of --slide-ms");
        a = cf_sliding_windows(CF_TIME_EVENT, size, slide, 0);
        mult = size / slide; /* every record is in size / slide windows */
    } else {
        /* Busy, then silent for longer than the gap: one session per key
         * per busy period. */
        g_win_active_ms = atoll(cf_param_get(argc, argv, "active-ms", "500"));
        g_win_idle_ms = atoll(cf_param_get(argc, argv, "idle-ms", "500"));
        if (g_win_idle_ms <= gap + WIN_JITTER_MS || g_win_active_ms <= 0)
            return cf_env_fail(env, "session: --idle-ms must exceed "
                                    "--gap-ms + %d", WIN_JITTER_MS);
        a = cf_session_windows(CF_TIME_EVENT, gap);
    }
    g_win_expect = (int64_t)n * mult;
    wm.timestamp = bench_evt_ts;
    s = cf_env_datagen(env, "gen", bench_gen_evt, NULL, n, 0);
    cf_stream_set_parallelism(s, 1);
    s = cf_stream_assign_timestamps_and_watermarks(s, &wm, NULL);
    cf_stream_set_parallelism(s, 1);
    s = cf_stream_key_by(s, bench_key, NULL);
    s = cf_stream_window(s, &a);
    s = cf_window_reduce(s, "count", bench_evt_count, NULL);
    cf_stream_set_parallelism(s, 1);
    s = cf_stream_sink(s, "check", &evt_sink_ops, NULL);
    cf_stream_set_parallelism(s, 1);
    return CF_OK;
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *c = cf_param_get(argc, argv, "case", "chain");
    uint64_t n = strtoull(cf_param_get(argc, argv, "n", "10000000"), NULL, 10);
    uint64_t rate = strtoull(cf_param_get(argc, argv, "rate", "0"), NULL, 10);
    cf_stream_t *s;

    if (n == 0)
        n = UINT64_MAX;
    g_keys = atoll(cf_param_get(argc, argv, "keys", "100000"));
    if (strcmp(c, "chain") == 0) {
        s = cf_env_datagen(env, "gen", bench_gen_seq, NULL, n, 0);
        cf_stream_set_parallelism(s, 1);
        s = cf_stream_map(s, "map", bench_map, NULL);
        cf_stream_set_parallelism(s, 1);
        s = cf_stream_filter(s, "filter", bench_filter, NULL);
        cf_stream_set_parallelism(s, 1);
        s = cf_stream_discard(s);
        cf_stream_set_parallelism(s, 1);
    } else if (strcmp(c, "keyed") == 0) {
        s = cf_env_datagen(env, "gen", bench_gen_kv, NULL, n, 0);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_key_by(s, bench_key, NULL);
        s = cf_stream_process(s, "sum", &sum_ops, NULL);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_discard(s);
        cf_stream_set_parallelism(s, 2);
    } else if (strcmp(c, "exchange") == 0) {
        g_size = (uint32_t)atoi(cf_param_get(argc, argv, "size", "64"));
        if (g_size < 8 || g_size > (1u << 20))
            return cf_env_fail(env, "--size must be in [8, 1048576]");
        s = cf_env_datagen(env, "gen", bench_gen_sized, NULL, n, rate);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_key_by(s, bench_key, NULL);
        s = cf_stream_discard(s);
        cf_stream_set_parallelism(s, 2);
    } else if (strcmp(c, "cross") == 0) {
        g_size = (uint32_t)atoi(cf_param_get(argc, argv, "size", "64"));
        if (g_size < 16 || g_size > (1u << 20))
            return cf_env_fail(env, "--size must be in [16, 1048576]");
        bench_cross_keys_init();
        cf_env_set_max_parallelism(env, CROSS_MAXP);
        s = cf_env_datagen(env, "gen", bench_gen_cross, NULL, n, rate);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_key_by(s, bench_key, NULL);
        s = cf_stream_process(s, "check", &check_ops, NULL);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_discard(s);
        cf_stream_set_parallelism(s, 2);
    } else if (strcmp(c, "tumbling") == 0 || strcmp(c, "sliding") == 0 ||
               strcmp(c, "session") == 0) {
        return build_windows(env, c, n, argc, argv);
    } else {
        return cf_env_fail(env, "unknown --case %s", c);
    }
    return CF_OK;
}

CF_PLUGIN("Benchmark", "cflink runtime benchmarks", build);
