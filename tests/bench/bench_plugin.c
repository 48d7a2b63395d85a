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
 *   --keys K       distinct keys of the keyed case (default 100000)
 */
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
                                           bench_check_process, NULL, NULL};

static const cf_process_ops_t sum_ops = {
    sizeof(cf_process_ops_t), bench_sum_open, bench_sum_process, NULL, NULL};

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
    } else {
        return cf_env_fail(env, "unknown --case %s", c);
    }
    return CF_OK;
}

CF_PLUGIN("Benchmark", "cflink runtime benchmarks", build);
