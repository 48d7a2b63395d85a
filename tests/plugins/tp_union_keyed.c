/*
 * tp_union_keyed.c: a union of two keyed streams feeding a non-keyed
 * sink (each record still routed by its key), and a function that calls
 * cf_fail() but returns CF_OK (--failok): the task must still fail.
 */
#include <stdio.h>
#include <string.h>

#include <cflink/cflink.h>

static int
key8(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = 8;
    return CF_OK;
}

static int
fmt(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v;
    char *b = cf_ctx_scratch(ctx, 32);
    memcpy(&v, in->data, 8);
    out->len = (uint32_t)snprintf(b, 32, "%lld", (long long)v);
    out->data = b;
    return CF_OK;
}

static int
failok(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    memcpy(&v, in->data, 8);
    if (v == 7)
        cf_fail(ctx, "failed at 7 but returned CF_OK");
    return CF_FILTER_KEEP;
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    cf_stream_t *a = cf_stream_key_by(cf_env_from_sequence(env, 0, 9), key8, NULL);
    cf_stream_t *b = cf_stream_key_by(cf_env_from_sequence(env, 10, 19), key8, NULL);
    cf_stream_t *u = cf_stream_union2(a, b);
    if (cf_param_get(argc, argv, "failok", NULL))
        u = cf_stream_filter(u, "failok", failok, NULL);
    cf_stream_print(cf_stream_map(u, "fmt", fmt, NULL));
    return CF_OK;
}

CF_PLUGIN("Union of keyed streams", "union test", build);
