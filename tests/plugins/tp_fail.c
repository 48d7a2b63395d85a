/*
 * tp_fail.c: test plugin whose user functions fail.
 *   --mode map       a map fails with a message at value --at (default 500)
 *   --mode code      a map returns -7 without a message
 *   --mode open      open fails with a message
 *   --mode unkeyed   a process function asks for keyed state on a
 *                    non-keyed stream
 *   --mode build     the entry fails through cf_env_fail
 *   --mode graph     builder misuse: reduce on a non-keyed stream
 *   --n N            values 1..N (default 100000; an unbounded source with
 *                    --unbounded)
 */
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

static int64_t g_at;
static const char *g_mode;

static int
check(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v;
    memcpy(&v, in->data, 8);
    (void)out;
    if (v == g_at) {
        if (strcmp(g_mode, "code") == 0)
            return -7;
        return cf_fail(ctx, "bad value %lld in subtask %d", (long long)v,
                       cf_ctx_subtask_index(ctx));
    }
    return CF_OK;
}

static int
failing_open(cf_ctx_t *ctx)
{
    return cf_fail(ctx, "cannot open resource for %s", cf_ctx_task_name(ctx));
}

static int
unkeyed_open(cf_ctx_t *ctx)
{
    cf_state_t *st = cf_state_value(ctx, "v");
    return st ? CF_OK : CF_ERR;
}

static int
noop_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    return cf_emit(ctx, in->data, in->len, in->ts);
}

static const cf_process_ops_t unkeyed_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = unkeyed_open,
    .process = noop_process,
};

static int
add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    (void)ctx;
    (void)acc;
    (void)in;
    return CF_OK;
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    cf_stream_t *s;
    g_mode = cf_param_get(argc, argv, "mode", "map");
    g_at = atoll(cf_param_get(argc, argv, "at", "500"));
    if (strcmp(g_mode, "build") == 0)
        return cf_env_fail(env, "the entry refuses to build (mode build)");
    s = cf_env_from_sequence(env, 1,
                             cf_param_get(argc, argv, "unbounded", NULL)
                                 ? INT64_MAX
                                 : atoll(cf_param_get(argc, argv, "n",
                                                      "100000")));
    if (strcmp(g_mode, "graph") == 0) {
        cf_stream_print(cf_stream_reduce(s, "bad", add, NULL));
        return CF_OK;
    }
    s = cf_stream_rebalance(s);
    if (strcmp(g_mode, "unkeyed") == 0) {
        s = cf_stream_process(s, "needs-keys", &unkeyed_ops, NULL);
    } else {
        s = cf_stream_map(s, "check", check, NULL);
        if (strcmp(g_mode, "open") == 0) {
            cf_hooks_t h = {.size = sizeof h, .open = failing_open};
            cf_stream_hooks(s, &h);
        }
    }
    cf_stream_discard(s);
    return CF_OK;
}

CF_PLUGIN("Failure test", "user functions that fail", build);
