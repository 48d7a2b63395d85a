/*
 * tp_partition.c: test plugin for partitioners.
 *   --n N        values 0..N-1 (default 1000)
 *   --part P     forward|rebalance|rescale|broadcast|shuffle|global|hash
 *   --src S      source parallelism (default 2)
 *   --dst D      sink parallelism (default 4)
 *   --keys K     for hash: key = v % K as 8 bytes (default 10)
 * The print sink shows "i> v" (i = sink subtask + 1) for each record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

static int64_t g_keys;

static int
key_mod(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    int64_t v, k;
    (void)ctx;
    memcpy(&v, in->data, 8);
    k = v % g_keys;
    memcpy(key->scratch, &k, 8);
    key->data = key->scratch;
    key->len = 8;
    return CF_OK;
}

static int
to_text(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    int64_t v;
    char *buf = cf_ctx_scratch(ctx, 32);
    memcpy(&v, in->data, 8);
    out->len = (uint32_t)snprintf(buf, 32, "%lld", (long long)v);
    out->data = buf;
    return CF_OK;
}

static int
pass(cf_ctx_t *ctx, const cf_record_t *in)
{
    return cf_emit(ctx, in->data, in->len, in->ts);
}

static const cf_process_ops_t pass_ops = {sizeof(cf_process_ops_t), NULL,
                                          pass, NULL, NULL, NULL};

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *part = cf_param_get(argc, argv, "part", "rebalance");
    int src = atoi(cf_param_get(argc, argv, "src", "2"));
    int dst = atoi(cf_param_get(argc, argv, "dst", "4"));
    int64_t n = atoll(cf_param_get(argc, argv, "n", "1000"));
    cf_stream_t *s;

    g_keys = atoll(cf_param_get(argc, argv, "keys", "10"));
    s = cf_env_from_sequence(env, 0, n - 1);
    cf_stream_set_parallelism(s, src);
    if (strcmp(part, "forward") == 0)
        s = cf_stream_forward(s);
    else if (strcmp(part, "rebalance") == 0)
        s = cf_stream_rebalance(s);
    else if (strcmp(part, "rescale") == 0)
        s = cf_stream_rescale(s);
    else if (strcmp(part, "broadcast") == 0)
        s = cf_stream_broadcast(s);
    else if (strcmp(part, "shuffle") == 0)
        s = cf_stream_shuffle(s);
    else if (strcmp(part, "global") == 0)
        s = cf_stream_global(s);
    else if (strcmp(part, "hash") == 0)
        s = cf_stream_key_by(s, key_mod, NULL);
    else
        return cf_env_fail(env, "unknown --part %s", part);
    /* A pass-through first, so the partitioner feeds a fresh vertex. */
    s = cf_stream_process(s, "receiver", &pass_ops, NULL);
    cf_stream_set_parallelism(s, dst);
    s = cf_stream_map(s, "format", to_text, NULL);
    cf_stream_set_parallelism(s, dst);
    s = cf_stream_print(s);
    cf_stream_set_parallelism(s, dst);
    return CF_OK;
}

CF_PLUGIN("Partition test", "partitioners", build);
