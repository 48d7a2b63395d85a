/*
 * tp_bigstate.c: test plugin that builds a large keyed state quickly, for
 * the recovery benchmark (tests/bench/bench_cluster.sh) and tests that
 * need many megabytes of state:
 *
 *   KeySource -> key_by(key) -> BlobState -> discard
 *
 * Arguments:
 *   --mb M         total keyed state in MiB (default 1024)
 *   --value-kb V   bytes per key in KiB (default 64): M * 1024 / V keys
 *   --bounded      the source ends once every key was emitted (default:
 *                  it stays idle, so the job keeps running)
 *
 * The source instance i of p emits each key k with k % p == i once, in
 * increasing order, and keeps its position in operator list state
 * "bs-position" ("<instance> <next>"), so a restore does not emit again.
 * BlobState stores a V KiB value derived from the key in ValueState
 * "blob" (written once per key) and checks the value when a key it
 * already holds arrives again (after a restore that rewound the source),
 * failing on a mismatch.
 *
 * Operator uids: bs-source, bs-state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cflink/cflink.h>

#define BS_BATCH 64

typedef struct conf_s {
    int64_t keys;
    uint32_t value_len;
    int bounded;
} conf_t;

static conf_t g_conf;

typedef struct src_s {
    int64_t next; /* the next multiple: key = index + next * parallelism */
    int index, parallelism;
    cf_state_t *pos;
} src_t;

static int
src_open(cf_ctx_t *ctx)
{
    src_t *s = calloc(1, sizeof(*s));
    if (!s)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, s);
    s->index = cf_ctx_subtask_index(ctx);
    s->parallelism = cf_ctx_parallelism(ctx);
    s->pos = cf_op_state_list(ctx, "bs-position", CF_OPSTATE_SPLIT);
    if (!s->pos)
        return cf_fail(ctx, "cannot register operator state bs-position");
    if (cf_ctx_is_restored(ctx)) {
        cf_list_iter_t it;
        cf_slice_t item;
        cf_list_iter(s->pos, &it);
        while (cf_list_next(s->pos, &it, &item) > 0) {
            char buf[64];
            long long inst, next;
            if (item.len >= sizeof(buf))
                return cf_fail(ctx, "corrupt position (%u bytes)",
                               (unsigned)item.len);
            memcpy(buf, item.data, item.len);
            buf[item.len] = '\0';
            if (sscanf(buf, "%lld %lld", &inst, &next) != 2 || next < 0)
                return cf_fail(ctx, "corrupt position '%s'", buf);
            if (inst != s->index)
                return cf_fail(ctx,
                               "position of instance %lld restored at "
                               "instance %d (rescaling is not supported)",
                               inst, s->index);
            s->next = next;
        }
    }
    return CF_OK;
}

static int
src_next(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    src_t *s = cf_ctx_local(ctx);

    for (int n = 0; n < BS_BATCH; n++) {
        int64_t key = s->index + s->next * s->parallelism;
        int rc;
        if (key >= c->keys)
            return c->bounded ? CF_SOURCE_END : CF_SOURCE_IDLE;
        if ((rc = cf_emit(ctx, &key, sizeof(key), CF_NO_TIMESTAMP)) < 0)
            return rc;
        s->next++;
    }
    return CF_SOURCE_MORE;
}

static int
src_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    src_t *s = cf_ctx_local(ctx);
    char line[64];
    int len;

    (void)checkpoint_id;
    if (cf_state_clear(s->pos) < 0)
        return cf_fail(ctx, "cannot clear bs-position");
    len = snprintf(line, sizeof(line), "%d %" PRId64, s->index, s->next);
    if (cf_list_add(s->pos, line, (uint32_t)len) < 0)
        return cf_fail(ctx, "cannot store bs-position");
    return CF_OK;
}

static void
src_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t src_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = src_open,
    .next = src_next,
    .close = src_close,
};

static const cf_hooks_t src_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = src_snapshot,
};

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = sizeof(int64_t);
    return CF_OK;
}

typedef struct blob_s {
    cf_state_t *st;
    uint8_t *buf;
} blob_t;

/* The value of key: its 8 bytes, then a pattern derived from it. */
static void
fill_value(uint8_t *b, uint32_t len, int64_t key)
{
    uint64_t x = (uint64_t)key * 0x9e3779b97f4a7c15u + 1;
    memcpy(b, &key, sizeof(key));
    for (uint32_t i = sizeof(key); i + 8 <= len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(b + i, &x, 8);
    }
}

static int
blob_open(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    blob_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->buf = malloc(c->value_len))) {
        free(b);
        return cf_fail(ctx, "out of memory");
    }
    cf_ctx_set_local(ctx, b);
    b->st = cf_state_value(ctx, "blob");
    if (!b->st)
        return cf_fail(ctx, "cannot register ValueState blob");
    return CF_OK;
}

static int
blob_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const conf_t *c = cf_ctx_udata(ctx);
    blob_t *b = cf_ctx_local(ctx);
    cf_slice_t v;
    int64_t key;

    memcpy(&key, in->data, sizeof(key));
    fill_value(b->buf, c->value_len, key);
    if (cf_value_get(b->st, &v) == 1) {
        if (v.len != c->value_len || memcmp(v.data, b->buf, v.len) != 0)
            return cf_fail(ctx, "restored value of key %" PRId64 " differs",
                           key);
        return CF_OK;
    }
    if (cf_value_put(b->st, b->buf, c->value_len) < 0)
        return cf_fail(ctx, "cannot store the value of key %" PRId64, key);
    return CF_OK;
}

static void
blob_close(cf_ctx_t *ctx)
{
    blob_t *b = cf_ctx_local(ctx);
    if (b)
        free(b->buf);
    free(b);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_process_ops_t blob_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = blob_open,
    .process = blob_process,
    .close = blob_close,
};

static int
build(cf_env_t *env, int argc, char **argv)
{
    int64_t mb = atoll(cf_param_get(argc, argv, "mb", "1024"));
    int64_t vkb = atoll(cf_param_get(argc, argv, "value-kb", "64"));
    cf_stream_t *s;

    if (mb <= 0 || vkb <= 0 || vkb > 1024)
        return cf_env_fail(env, "--mb must be > 0 and --value-kb in "
                                "[1, 1024]");
    g_conf.value_len = (uint32_t)(vkb * 1024);
    g_conf.keys = mb * 1024 / vkb;
    if (g_conf.keys < 1)
        g_conf.keys = 1;
    g_conf.bounded = cf_param_get(argc, argv, "bounded", NULL) != NULL;
    cf_env_set_job_name(env, "Big keyed state");

    s = cf_env_add_source(env, "KeySource", &src_ops, &g_conf);
    s = cf_stream_uid(cf_stream_hooks(s, &src_hooks), "bs-source");
    s = cf_stream_key_by(s, key_of, NULL);
    s = cf_stream_process(s, "BlobState", &blob_ops, &g_conf);
    s = cf_stream_uid(s, "bs-state");
    cf_stream_discard(s);
    return CF_OK;
}

CF_PLUGIN("Big keyed state", "KeySource + BlobState (large keyed state)",
          build);
