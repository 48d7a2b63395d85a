/*
 * tp_keyed.c: test plugin for key_by, keyed state and reduce.
 *   --n N      sequence 0..N-1 (default 1000)
 *   --keys K   key = v % K (default 7)
 *   --mode reduce   rolling sum per key: prints "k sum" per record
 *   --mode process  keyed process with value, list, map and reducing
 *                   state; prints one summary line per key when the key's
 *                   last value arrives (its count reaches the expected one):
 *                   "k count=C sum=S even=E odd=O max=M"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

typedef struct pair_s {
    int64_t key;
    int64_t val;
} pair_t;

typedef struct conf_s {
    int64_t n, keys;
} conf_t;

static conf_t g_conf;

static int
to_pair(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    const conf_t *c = cf_ctx_udata(ctx);
    pair_t *p = cf_ctx_scratch(ctx, sizeof *p);
    int64_t v;
    memcpy(&v, in->data, sizeof v);
    p->key = v % c->keys;
    p->val = v;
    out->data = p;
    out->len = sizeof *p;
    return CF_OK;
}

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data; /* the first 8 bytes: pair.key */
    key->len = sizeof(int64_t);
    return CF_OK;
}

static int
sum_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    pair_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, sizeof a);
    memcpy(&b, in->data, sizeof b);
    a.val += b.val;
    memcpy(acc->data, &a, sizeof a);
    return CF_OK;
}

static int
max_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, 8);
    memcpy(&b, in->data, 8);
    if (b > a)
        memcpy(acc->data, &b, 8);
    return CF_OK;
}

static int
pair_text(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    pair_t p;
    char *buf = cf_ctx_scratch(ctx, 64);
    memcpy(&p, in->data, sizeof p);
    out->len = (uint32_t)snprintf(buf, 64, "%lld %lld", (long long)p.key,
                                  (long long)p.val);
    out->data = buf;
    return CF_OK;
}

typedef struct states_s {
    cf_state_t *count, *values, *parity, *max;
} states_t;

static int
proc_open(cf_ctx_t *ctx)
{
    states_t *s = calloc(1, sizeof *s);
    cf_ctx_set_local(ctx, s);
    s->count = cf_state_value(ctx, "count");
    s->values = cf_state_list(ctx, "values");
    s->parity = cf_state_map(ctx, "parity");
    s->max = cf_state_reducing(ctx, "max", max_reduce);
    if (!s->count || !s->values || !s->parity || !s->max)
        return CF_ERR;
    return CF_OK;
}

static void
proc_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
}

static int
proc_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const conf_t *c = cf_ctx_udata(ctx);
    states_t *s = cf_ctx_local(ctx);
    pair_t p;
    int64_t *count, last, sum = 0, even = 0, odd = 0, zero = 0, max;
    cf_list_iter_t it;
    cf_slice_t item, v;
    char line[160];
    uint8_t par;

    memcpy(&p, in->data, sizeof p);
    count = cf_value_update(s->count, sizeof *count, NULL);
    (*count)++;
    if (cf_list_add(s->values, &p.val, sizeof p.val) < 0)
        return CF_ERR;
    par = (uint8_t)(p.val & 1);
    if (cf_map_get(s->parity, &par, 1, &v) == 1)
        memcpy(&zero, v.data, 8);
    else
        zero = 0;
    zero++;
    cf_map_put(s->parity, &par, 1, &zero, 8);
    cf_reducing_add(s->max, &p.val, 8, in->ts);

    /* The key's last record (whatever the arrival order): its count. */
    last = (c->n - 1 - p.key) / c->keys + 1;
    if (*count != last)
        return CF_OK;
    for (cf_list_iter(s->values, &it); cf_list_next(s->values, &it, &item);) {
        int64_t x;
        memcpy(&x, item.data, 8);
        sum += x;
    }
    par = 0;
    if (cf_map_get(s->parity, &par, 1, &v) == 1)
        memcpy(&even, v.data, 8);
    par = 1;
    if (cf_map_get(s->parity, &par, 1, &v) == 1)
        memcpy(&odd, v.data, 8);
    cf_reducing_get(s->max, &v);
    memcpy(&max, v.data, 8);
    int n = snprintf(line, sizeof line,
                     "%lld count=%lld sum=%lld even=%lld odd=%lld max=%lld",
                     (long long)p.key, (long long)*count, (long long)sum,
                     (long long)even, (long long)odd, (long long)max);
    return cf_emit(ctx, line, (uint32_t)n, in->ts);
}

static const cf_process_ops_t proc_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = proc_open,
    .process = proc_process,
    .close = proc_close,
};

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *mode = cf_param_get(argc, argv, "mode", "reduce");
    cf_stream_t *s;

    g_conf.n = atoll(cf_param_get(argc, argv, "n", "1000"));
    g_conf.keys = atoll(cf_param_get(argc, argv, "keys", "7"));
    if (g_conf.keys < 1)
        return cf_env_fail(env, "--keys must be at least 1");
    s = cf_env_from_sequence(env, 0, g_conf.n - 1);
    s = cf_stream_map(s, "to-pair", to_pair, &g_conf);
    s = cf_stream_key_by(s, key_of, NULL);
    if (strcmp(mode, "reduce") == 0) {
        s = cf_stream_reduce(s, "sum", sum_reduce, NULL);
        s = cf_stream_map(s, "format", pair_text, NULL);
    } else if (strcmp(mode, "process") == 0) {
        s = cf_stream_process(s, "summary", &proc_ops, &g_conf);
        s = cf_stream_uid(s, "summary");
    } else {
        return cf_env_fail(env, "unknown --mode %s", mode);
    }
    cf_stream_print(s);
    return CF_OK;
}

CF_PLUGIN("Keyed test", "key_by, keyed state and reduce", build);
