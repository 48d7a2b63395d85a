/*
 * tp_stateful.c: test plugin for keyed state under checkpoints, recovery
 * and savepoints (and the recovery benchmark): a keyed counter.
 *
 *   DataGeneratorSource -> key_by(key) -> KeyedCounter -> sink
 *
 * Arguments:
 *   --keys K       keys 0..K-1, record i has key i % K (default 100)
 *   --events N     records in all, then the source ends (default 0:
 *                  unbounded)
 *   --rate R       records a second over all source instances
 *                  (default 1000; 0: unlimited)
 *   --state-mb M   pad each key's count value so that the keyed state is
 *                  about M MiB once every key has been seen (value size
 *                  M MiB / K, at least 8 bytes; default 0: 8 bytes). The
 *                  padding is pseudo-random (it does not compress away).
 *   --ttl-ms T     also keep a ValueState "last-seen" with a TTL of T ms
 *                  (update on create and write); default 0: none
 *   --out DIR      exactly-once text file sink into DIR (default: print)
 *   --discard      discard the output (benchmarks)
 *
 * Output, one record per input record: "<key> <count>", the key's count
 * so far (ValueState "count"). The counter also keeps the count in an
 * aggregating state ("agg-count") and emits
 * "MISMATCH <key> <count> <agg>" instead when the two differ. The source
 * rewinds to its checkpointed position (datagen positions in operator
 * state), so after a savepoint and a restore, with any parallelism, each
 * key's counts continue where they stopped, and with the exactly-once
 * sink every "<key> <count>" appears exactly once.
 *
 * Operator uids: st-source, st-counter, st-sink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

typedef struct conf_s {
    int64_t keys;
    uint32_t value_size; /* bytes of the count value, >= 8 */
    int64_t ttl_ms;
} conf_t;

static conf_t g_conf;

static int
gen(cf_ctx_t *ctx, uint64_t index)
{
    const conf_t *c = cf_ctx_udata(ctx);
    int64_t key = (int64_t)(index % (uint64_t)c->keys);
    return cf_emit(ctx, &key, sizeof(key), CF_NO_TIMESTAMP);
}

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    if (in->len != sizeof(int64_t))
        return CF_ERR;
    key->data = in->data;
    key->len = sizeof(int64_t);
    return CF_OK;
}

/* Aggregating state: the accumulator and the result are an int64 count. */
static int
agg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t n = 0;
    (void)in;
    if (acc->len == sizeof(n))
        memcpy(&n, acc->data, sizeof(n));
    else if (cf_buf_reserve(ctx, acc, sizeof(n)) < 0)
        return CF_ERR;
    n++;
    memcpy(acc->data, &n, sizeof(n));
    acc->len = sizeof(n);
    return CF_OK;
}

static int
agg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    if (out->cap < acc->len && cf_buf_reserve(ctx, out, acc->len) < 0)
        return CF_ERR;
    memcpy(out->data, acc->data, acc->len);
    out->len = acc->len;
    return CF_OK;
}

static const cf_agg_ops_t agg_ops = {
    .size = sizeof(cf_agg_ops_t),
    .add = agg_add,
    .result = agg_result,
};

typedef struct counter_s {
    cf_state_t *count, *agg, *seen;
} counter_t;

static int
counter_open(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    counter_t *s = calloc(1, sizeof(*s));

    if (!s)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, s);
    s->count = cf_state_value(ctx, "count");
    s->agg = cf_state_aggregating(ctx, "agg-count", &agg_ops);
    if (!s->count || !s->agg)
        return cf_fail(ctx, "cannot register the keyed states");
    if (c->ttl_ms > 0) {
        s->seen = cf_state_value(ctx, "last-seen");
        if (!s->seen ||
            cf_state_ttl(s->seen, c->ttl_ms, CF_TTL_ON_CREATE_AND_WRITE) < 0)
            return cf_fail(ctx, "cannot register last-seen with a TTL");
    }
    return CF_OK;
}

/* Pseudo-random padding, a function of the key. */
static void
pad_fill(uint8_t *p, uint32_t n, int64_t key)
{
    uint64_t x = (uint64_t)key * 0x9e3779b97f4a7c15ULL + 1;
    uint32_t i;
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static int
counter_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const conf_t *c = cf_ctx_udata(ctx);
    counter_t *s = cf_ctx_local(ctx);
    int64_t key, count, agg = -1;
    uint8_t *v;
    cf_slice_t a;
    char line[96];
    int created = 0, len;

    memcpy(&key, in->data, sizeof(key));
    v = cf_value_update(s->count, c->value_size, &created);
    if (!v)
        return cf_fail(ctx, "cannot update the count of key %lld",
                       (long long)key);
    if (created && c->value_size > 8)
        pad_fill(v + 8, c->value_size - 8, key);
    memcpy(&count, v, sizeof(count));
    count++;
    memcpy(v, &count, sizeof(count));

    if (cf_aggregating_add(s->agg, in->data, in->len, in->ts) < 0)
        return cf_fail(ctx, "cannot add to agg-count of key %lld",
                       (long long)key);
    if (cf_aggregating_get(s->agg, &a) == 1 && a.len == sizeof(agg))
        memcpy(&agg, a.data, sizeof(agg));
    if (s->seen && cf_value_put(s->seen, &count, sizeof(count)) < 0)
        return cf_fail(ctx, "cannot update last-seen of key %lld",
                       (long long)key);

    if (agg != count)
        len = snprintf(line, sizeof(line), "MISMATCH %lld %lld %lld",
                       (long long)key, (long long)count, (long long)agg);
    else
        len = snprintf(line, sizeof(line), "%lld %lld", (long long)key,
                       (long long)count);
    return cf_emit(ctx, line, (uint32_t)len, in->ts);
}

static void
counter_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_process_ops_t counter_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = counter_open,
    .process = counter_process,
    .close = counter_close,
};

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *out = cf_param_get(argc, argv, "out", NULL);
    uint64_t events =
        strtoull(cf_param_get(argc, argv, "events", "0"), NULL, 10);
    double rate = atof(cf_param_get(argc, argv, "rate", "1000"));
    double mb = atof(cf_param_get(argc, argv, "state-mb", "0"));
    double vs;
    cf_stream_t *s;

    g_conf.keys = atoll(cf_param_get(argc, argv, "keys", "100"));
    g_conf.ttl_ms = atoll(cf_param_get(argc, argv, "ttl-ms", "0"));
    if (g_conf.keys <= 0)
        return cf_env_fail(env, "--keys must be > 0");
    if (rate < 0 || mb < 0 || g_conf.ttl_ms < 0)
        return cf_env_fail(env, "--rate, --state-mb and --ttl-ms must be "
                                ">= 0");
    vs = mb * 1048576.0 / (double)g_conf.keys;
    if (vs > 64.0 * 1048576.0)
        return cf_env_fail(env, "--state-mb over --keys gives values above "
                                "64 MiB: use more keys");
    g_conf.value_size = vs > 8 ? (uint32_t)vs : 8;
    cf_env_set_job_name(env, "Stateful test");

    s = cf_env_datagen(env, "DataGeneratorSource", gen, &g_conf,
                       events ? events : UINT64_MAX, rate);
    s = cf_stream_uid(s, "st-source");
    s = cf_stream_key_by(s, key_of, NULL);
    s = cf_stream_uid(
        cf_stream_process(s, "KeyedCounter", &counter_ops, &g_conf),
        "st-counter");
    if (cf_param_get(argc, argv, "discard", NULL))
        s = cf_stream_discard(s);
    else if (out && *out)
        s = cf_stream_write_text(s, out);
    else
        s = cf_stream_print(s);
    cf_stream_uid(s, "st-sink");
    return CF_OK;
}

CF_PLUGIN("Stateful test", "keyed counter with large keyed state", build);
