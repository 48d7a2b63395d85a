/*
 * tp_pipeline.c: test plugin: sequence -> map -> filter -> print, with the
 * chaining and partitioning chosen by arguments.
 *   --n N          sequence 1..N (default 20)
 *   --rebalance    rebalance between map and filter
 *   --nochain      disable chaining for the job
 * Prints each value that is a multiple of 3 after doubling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

static int
double_it(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v;
    int64_t *o = cf_ctx_scratch(ctx, sizeof *o);
    memcpy(&v, in->data, sizeof v);
    *o = v * 2;
    out->data = o;
    out->len = sizeof *o;
    return CF_OK;
}

static int
mult3(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    (void)ctx;
    memcpy(&v, in->data, sizeof v);
    return v % 3 == 0 ? CF_FILTER_KEEP : CF_FILTER_DROP;
}

static int
to_text(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v;
    char *buf = cf_ctx_scratch(ctx, 32);
    memcpy(&v, in->data, sizeof v);
    out->len = (uint32_t)snprintf(buf, 32, "%lld", (long long)v);
    out->data = buf;
    return CF_OK;
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    long n = atol(cf_param_get(argc, argv, "n", "20"));
    cf_stream_t *s;

    if (cf_param_get(argc, argv, "nochain", NULL))
        cf_env_disable_operator_chaining(env);
    s = cf_env_from_sequence(env, 1, n);
    s = cf_stream_map(s, "double", double_it, NULL);
    if (cf_param_get(argc, argv, "rebalance", NULL))
        s = cf_stream_rebalance(s);
    s = cf_stream_filter(s, "multiple-of-3", mult3, NULL);
    s = cf_stream_map(s, "format", to_text, NULL);
    cf_stream_print(s);
    return CF_OK;
}

CF_PLUGIN("Pipeline test", "sequence -> map -> filter -> print", build);
