/*
 * bench_plugin.c: the job plugin of scripts/bench.sh. Its user functions
 * are exported so that the benchmark's hand-written loop (no engine) calls
 * exactly the same code on the same records.
 *   --case chain   datagen(p=1) -> map -> filter -> discard
 *   --case keyed   datagen(p=2) -> key_by -> keyed sum in value state (p=2)
 *                  -> discard
 *   --case exchange  datagen(p=2) -> key_by -> discard (p=2): a pure
 *                  network exchange (between TaskManagers in a cluster)
 *   --size S       record size in bytes of the exchange case (>= 8)
 *   --n N          records (default 10000000)
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

static const cf_process_ops_t sum_ops = {
    sizeof(cf_process_ops_t), bench_sum_open, bench_sum_process, NULL, NULL};

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *c = cf_param_get(argc, argv, "case", "chain");
    uint64_t n = strtoull(cf_param_get(argc, argv, "n", "10000000"), NULL, 10);
    cf_stream_t *s;

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
        s = cf_env_datagen(env, "gen", bench_gen_sized, NULL, n, 0);
        cf_stream_set_parallelism(s, 2);
        s = cf_stream_key_by(s, bench_key, NULL);
        s = cf_stream_discard(s);
        cf_stream_set_parallelism(s, 2);
    } else {
        return cf_env_fail(env, "unknown --case %s", c);
    }
    return CF_OK;
}

CF_PLUGIN("Benchmark", "cflink runtime benchmarks", build);
