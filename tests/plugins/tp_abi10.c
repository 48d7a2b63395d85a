/*
 * tp_abi10.c: a plugin built for ABI 1.0, run by a 1.1 host. Its
 * .cflink_abi section says 1.0 and its hooks struct has the 1.0 size
 * (it ends before snapshot): the fields after it hold functions that
 * abort, which the host must never call. The job: a sequence 1..N, a map
 * and a keyed process (value state, key v % 5) with such hooks, and a
 * sink that checks the per-key counts at finish and fails the job
 * otherwise.
 *   --n N   (default 1000, a multiple of 5)
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

__attribute__((used, section(".cflink_abi"),
               visibility("default"))) const cf_plugin_abi_t cf_plugin_abi =
    {CF_ABI_MAGIC, 1, 0, 0};

#define NKEYS 5

static int64_t g_n = 1000;

static int
poison_snapshot(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    (void)id;
    abort();
}

static void
poison_notify(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    (void)id;
    abort();
}

static int
counting_open(cf_ctx_t *ctx)
{
    cf_ctx_set_local(ctx, calloc(1, sizeof(int64_t)));
    return CF_OK;
}

static void
counting_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

/* ABI 1.0 hooks: size ends before snapshot. */
static const cf_hooks_t hooks10 = {offsetof(cf_hooks_t, snapshot),
                                   counting_open,
                                   NULL,
                                   counting_close,
                                   poison_snapshot,
                                   poison_notify,
                                   poison_notify};

static int
count_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t *n = cf_ctx_local(ctx);
    (*n)++;
    *out = *in;
    return CF_OK;
}

static int
key_mod(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    int64_t v;
    (void)ctx;
    memcpy(&v, in->data, sizeof v);
    v %= NKEYS;
    memcpy(key->scratch, &v, sizeof v);
    key->data = key->scratch;
    key->len = sizeof v;
    return CF_OK;
}

static int
proc_open(cf_ctx_t *ctx)
{
    return cf_state_value(ctx, "count") ? CF_OK : CF_ERR;
}

/* Emits the key's new count. */
static int
proc_fn(cf_ctx_t *ctx, const cf_record_t *in)
{
    cf_state_t *st = cf_state_value(ctx, "count");
    int64_t *c = cf_value_update(st, sizeof(int64_t), NULL);
    (*c)++;
    return cf_emit(ctx, c, sizeof *c, in->ts);
}

/* The size of ABI 1.0's struct (before on_timer). */
static const cf_process_ops_t proc_ops = {
    .size = offsetof(cf_process_ops_t, on_timer),
    .open = proc_open,
    .process = proc_fn};

typedef struct sink_acc_s {
    int64_t n, sum;
} sink_acc_t;

static int
sink_open(cf_ctx_t *ctx)
{
    cf_ctx_set_local(ctx, calloc(1, sizeof(sink_acc_t)));
    return CF_OK;
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    sink_acc_t *a = cf_ctx_local(ctx);
    int64_t v;
    memcpy(&v, in->data, sizeof v);
    a->n++;
    a->sum += v;
    return CF_OK;
}

static int
sink_finish(cf_ctx_t *ctx)
{
    sink_acc_t *a = cf_ctx_local(ctx);
    int64_t per = g_n / NKEYS, want = NKEYS * per * (per + 1) / 2;
    if (a->n != g_n || a->sum != want)
        return cf_fail(ctx, "abi10: %lld records, sum %lld (want %lld, %lld)",
                       (long long)a->n, (long long)a->sum, (long long)g_n,
                       (long long)want);
    return CF_OK;
}

static void
sink_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), sink_open,
                                       sink_invoke, sink_finish, sink_close};

static int
build(cf_env_t *env, int argc, char **argv)
{
    cf_stream_t *s;
    g_n = atoll(cf_param_get(argc, argv, "n", "1000"));
    s = cf_env_from_sequence(env, 1, g_n);
    s = cf_stream_map(s, "count", count_map, NULL);
    cf_stream_hooks(s, &hooks10);
    s = cf_stream_key_by(s, key_mod, NULL);
    s = cf_stream_process(s, "keyed count", &proc_ops, NULL);
    cf_stream_hooks(s, &hooks10);
    s = cf_stream_sink(s, "check", &sink_ops, NULL);
    cf_stream_set_parallelism(s, 1);
    return CF_OK;
}

__attribute__((visibility("default"))) const cf_plugin_t cf_plugin = {
    sizeof(cf_plugin_t), "abi10", "a plugin built for ABI 1.0", build};
