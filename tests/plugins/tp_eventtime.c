/*
 * tp_eventtime.c: test plugin for event time (ABI 1.2) through the host
 * table: assignTimestampsAndWatermarks, event-time timers of a keyed
 * process function, side outputs.
 *   --n N       records 0..N-1 of a sequence (default 1000)
 *   --keys K    key = v % K (default 7)
 *   --bound B   bounded out-of-orderness in ms (default 20)
 *   --out FILE  where the lines go (parallelism 1), default stdout
 * Timestamps are v * 10. Per record the keyed process function registers
 * an event-time timer at ts + 5 and sends records with v % 10 == 0 to the
 * side output "tens". Lines:
 *   "T <key> <timer ts> <watermark>"  a timer fired (watermark >= ts)
 *   "S <v> <ts>"                       a record of the side output
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

typedef struct conf_s {
    int64_t n, keys, bound;
    const char *out;
} conf_t;

static conf_t g_conf;

static int64_t
ts_of(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    (void)ctx;
    memcpy(&v, in->data, sizeof v);
    return v * 10;
}

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const conf_t *c = &g_conf;
    int64_t *k = cf_ctx_scratch(ctx, sizeof *k);
    int64_t v;
    memcpy(&v, in->data, sizeof v);
    *k = v % c->keys;
    key->data = k;
    key->len = sizeof *k;
    return CF_OK;
}

static int
proc(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    char line[64];
    int n;

    memcpy(&v, in->data, sizeof v);
    if (cf_timer_register(ctx, CF_TIME_EVENT, cf_ctx_timestamp(ctx) + 5) < 0)
        return CF_ERR;
    if (v % 10 != 0)
        return CF_OK;
    n = snprintf(line, sizeof line, "S %" PRId64 " %" PRId64, v,
                 cf_ctx_timestamp(ctx));
    return cf_emit_side(ctx, "tens", line, (uint32_t)n, in->ts);
}

static int
on_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    cf_slice_t k;
    int64_t key;
    char line[96];
    int n;

    (void)domain;
    cf_ctx_key(ctx, &k);
    memcpy(&key, k.data, sizeof key);
    n = snprintf(line, sizeof line, "T %" PRId64 " %" PRId64 " %" PRId64,
                 key, ts, cf_ctx_current_watermark(ctx));
    return cf_emit(ctx, line, (uint32_t)n, ts);
}

static const cf_process_ops_t proc_ops = {
    .size = sizeof(cf_process_ops_t),
    .process = proc,
    .on_timer = on_timer,
};

static int
out_open(cf_ctx_t *ctx)
{
    FILE *f = g_conf.out ? fopen(g_conf.out, "w") : stdout;
    if (f == NULL)
        return cf_fail(ctx, "cannot open %s", g_conf.out);
    cf_ctx_set_local(ctx, f);
    return CF_OK;
}

static int
out_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    FILE *f = cf_ctx_local(ctx);
    fprintf(f, "%.*s\n", (int)in->len, (const char *)in->data);
    return CF_OK;
}

static void
out_close(cf_ctx_t *ctx)
{
    FILE *f = cf_ctx_local(ctx);
    if (f != NULL && f != stdout)
        fclose(f);
    else if (f != NULL)
        fflush(f);
}

static const cf_sink_ops_t out_ops = {
    .size = sizeof(cf_sink_ops_t),
    .open = out_open,
    .invoke = out_invoke,
    .close = out_close,
};

static int
build(cf_env_t *env, int argc, char **argv)
{
    cf_wm_strategy_t ws;
    cf_stream_t *s, *side, *u;

    if (!CF_API_HAS(env, stream_interval_join))
        return cf_env_fail(env, "the host does not support event time");
    g_conf.n = atoll(cf_param_get(argc, argv, "n", "1000"));
    g_conf.keys = atoll(cf_param_get(argc, argv, "keys", "7"));
    g_conf.bound = atoll(cf_param_get(argc, argv, "bound", "20"));
    g_conf.out = cf_param_get(argc, argv, "out", NULL);
    if (g_conf.keys < 1 || g_conf.n < 1)
        return cf_env_fail(env, "--n and --keys must be at least 1");
    ws = cf_wm_for_bounded_out_of_orderness(g_conf.bound);
    ws.timestamp = ts_of;
    s = cf_env_from_sequence(env, 0, g_conf.n - 1);
    s = cf_stream_assign_timestamps_and_watermarks(s, &ws, NULL);
    s = cf_stream_key_by(s, key_of, NULL);
    s = cf_stream_process(s, "timers", &proc_ops, NULL);
    side = cf_stream_side_output(s, "tens");
    u = cf_stream_union(s, &side, 1);
    u = cf_stream_sink(cf_stream_rebalance(u), "out", &out_ops, NULL);
    cf_stream_set_parallelism(u, 1);
    return CF_OK;
}

CF_PLUGIN("Event time test", "timestamps, watermarks, timers, side outputs",
          build);
