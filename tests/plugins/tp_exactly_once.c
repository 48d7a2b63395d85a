/*
 * tp_exactly_once.c: test plugin for exactly-once checkpointing, Flink's
 * SequenceGeneratorSource and SemanticsCheckMapper as one job:
 *
 *   SequenceGeneratorSource -> key_by(key) -> SemanticsCheckMapper
 *       [-> DrainBuffer] -> File Sink (2PC, --out) or print
 *
 * Arguments:
 *   --keys K       number of keys 0..K-1 (default 16)
 *   --events N     sequence numbers per key 0..N-1, then the source ends
 *                  (default 1000; 0: unbounded)
 *   --rate R       records a second per source instance (default 0:
 *                  unlimited)
 *   --out DIR      write the checker's output with the exactly-once text
 *                  file sink into DIR (default: print to standard output)
 *   --sleep-ms S   the checker sleeps S ms per record (default 0)
 *   --drain-test   add DrainBuffer after the checker: it keeps every
 *                  record in operator state and emits them only in
 *                  finish() (at the end of the input, or at stop --drain);
 *                  a stop without drain emits nothing
 *
 * Records are text, one per line in the output:
 *   "<key> <seq>"                          the checker saw seq of key
 *   "ALERT <key> expected <x> got <y>"      a step other than +1
 * The source owns keys k with k % parallelism == instance and emits them
 * round-robin; it keeps "<key> <next>" per owned key (finished keys
 * included) in operator list state "eo-positions" (SPLIT), so a restore
 * with another parallelism spreads the keys over the new instances. The
 * checker keeps the last sequence number per key in ValueState "last";
 * the first number of a key must be 0. After any number of failures and
 * restores, the output holds every "<key> <seq>" exactly once and no
 * ALERT.
 *
 * Operator uids: eo-source, eo-checker, eo-buffer, eo-sink.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cflink/cflink.h>

typedef struct conf_s {
    int64_t keys;
    int64_t events; /* 0: unbounded */
    double rate;    /* per instance; 0: unlimited */
    int64_t sleep_ms;
} conf_t;

static conf_t g_conf;

#define EO_BATCH 1000

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* SequenceGeneratorSource                                             */
/* ------------------------------------------------------------------ */

typedef struct keypos_s {
    int64_t key;
    int64_t next;
} keypos_t;

typedef struct src_s {
    keypos_t *keys;
    size_t n;
    size_t rr; /* round-robin position */
    cf_state_t *pos;
    uint64_t start_ns;
    uint64_t emitted;
} src_t;

static void
src_add(src_t *s, int64_t key, int64_t next)
{
    keypos_t *k = realloc(s->keys, (s->n + 1) * sizeof(*k));
    if (!k)
        abort();
    s->keys = k;
    s->keys[s->n].key = key;
    s->keys[s->n].next = next;
    s->n++;
}

static int
src_open(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    src_t *s = calloc(1, sizeof(*s));
    int64_t k;

    if (!s)
        return cf_fail(ctx, "out of memory");
    cf_ctx_set_local(ctx, s);
    s->pos = cf_op_state_list(ctx, "eo-positions", CF_OPSTATE_SPLIT);
    if (!s->pos)
        return cf_fail(ctx, "cannot register operator state eo-positions");
    if (cf_ctx_is_restored(ctx)) {
        cf_list_iter_t it;
        cf_slice_t item;
        cf_list_iter(s->pos, &it);
        while (cf_list_next(s->pos, &it, &item) > 0) {
            char buf[64];
            long long key, next;
            if (item.len >= sizeof(buf))
                return cf_fail(ctx, "corrupt position item (%u bytes)",
                               (unsigned)item.len);
            memcpy(buf, item.data, item.len);
            buf[item.len] = '\0';
            if (sscanf(buf, "%lld %lld", &key, &next) != 2 || key < 0 ||
                next < 0)
                return cf_fail(ctx, "corrupt position item '%s'", buf);
            src_add(s, key, next);
        }
    } else {
        int p = cf_ctx_parallelism(ctx), i = cf_ctx_subtask_index(ctx);
        for (k = 0; k < c->keys; k++)
            if (k % p == i)
                src_add(s, k, 0);
    }
    return CF_OK;
}

static int
src_next(cf_ctx_t *ctx)
{
    const conf_t *c = cf_ctx_udata(ctx);
    src_t *s = cf_ctx_local(ctx);
    uint64_t budget = EO_BATCH, n, scanned = 0;
    char line[64];
    int len, rc;

    if (c->rate > 0) {
        uint64_t now = mono_ns(), allowed;
        if (!s->start_ns)
            s->start_ns = now;
        allowed = (uint64_t)((double)(now - s->start_ns) / 1e9 * c->rate) + 1;
        if (allowed <= s->emitted)
            return CF_SOURCE_IDLE;
        if (allowed - s->emitted < budget)
            budget = allowed - s->emitted;
    }
    if (s->n == 0)
        return c->events > 0 ? CF_SOURCE_END : CF_SOURCE_IDLE;
    for (n = 0; n < budget && scanned < s->n;) {
        keypos_t *k = &s->keys[s->rr];
        s->rr = (s->rr + 1) % s->n;
        if (c->events > 0 && k->next >= c->events) {
            scanned++; /* this key is done */
            continue;
        }
        scanned = 0;
        len = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64, k->key,
                       k->next);
        rc = cf_emit(ctx, line, (uint32_t)len, CF_NO_TIMESTAMP);
        if (rc < 0)
            return rc;
        k->next++;
        s->emitted++;
        n++;
    }
    if (scanned >= s->n)
        return CF_SOURCE_END; /* every key reached --events */
    return CF_SOURCE_MORE;
}

static int
src_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    src_t *s = cf_ctx_local(ctx);
    size_t i;
    char line[64];

    (void)checkpoint_id;
    if (!s || !s->pos)
        return CF_OK;
    if (cf_state_clear(s->pos) < 0)
        return cf_fail(ctx, "cannot clear eo-positions");
    for (i = 0; i < s->n; i++) {
        int len = snprintf(line, sizeof(line), "%" PRId64 " %" PRId64,
                           s->keys[i].key, s->keys[i].next);
        if (cf_list_add(s->pos, line, (uint32_t)len) < 0)
            return cf_fail(ctx, "cannot store eo-positions");
    }
    return CF_OK;
}

static void
src_close(cf_ctx_t *ctx)
{
    src_t *s = cf_ctx_local(ctx);
    if (s)
        free(s->keys);
    free(s);
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

/* ------------------------------------------------------------------ */
/* key_by and SemanticsCheckMapper                                     */
/* ------------------------------------------------------------------ */

/* The key: the text before the space. */
static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const char *sp = memchr(in->data, ' ', in->len);
    (void)ctx;
    key->data = in->data;
    key->len = sp ? (uint32_t)(sp - (const char *)in->data) : in->len;
    return CF_OK;
}

static int
parse_rec(const cf_record_t *in, long long *key, long long *seq)
{
    char buf[64];
    if (in->len >= sizeof(buf))
        return -1;
    memcpy(buf, in->data, in->len);
    buf[in->len] = '\0';
    return sscanf(buf, "%lld %lld", key, seq) == 2 ? 0 : -1;
}

static int
check_open(cf_ctx_t *ctx)
{
    cf_state_t *last = cf_state_value(ctx, "last");
    if (!last)
        return cf_fail(ctx, "cannot register ValueState last");
    cf_ctx_set_local(ctx, last);
    return CF_OK;
}

static int
check_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const conf_t *c = cf_ctx_udata(ctx);
    cf_state_t *last = cf_ctx_local(ctx);
    cf_slice_t v;
    long long key, seq, expected = 0;
    int64_t prev;
    char line[128];
    int len;

    if (parse_rec(in, &key, &seq) < 0)
        return cf_fail(ctx, "bad record '%.*s'", (int)in->len,
                       (const char *)in->data);
    if (cf_value_get(last, &v) == 1 && v.len == sizeof(prev)) {
        memcpy(&prev, v.data, sizeof(prev));
        expected = prev + 1;
    }
    if (seq != expected)
        len = snprintf(line, sizeof(line), "ALERT %lld expected %lld got %lld",
                       key, expected, seq);
    else
        len = snprintf(line, sizeof(line), "%lld %lld", key, seq);
    prev = seq;
    if (cf_value_put(last, &prev, sizeof(prev)) < 0)
        return cf_fail(ctx, "cannot update ValueState last");
    if (c->sleep_ms > 0) {
        struct timespec ts = {c->sleep_ms / 1000,
                              (long)(c->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return cf_emit(ctx, line, (uint32_t)len, in->ts);
}

static const cf_process_ops_t check_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = check_open,
    .process = check_process,
};

/* ------------------------------------------------------------------ */
/* DrainBuffer (--drain-test)                                          */
/* ------------------------------------------------------------------ */

static int
buf_open(cf_ctx_t *ctx)
{
    cf_state_t *b = cf_op_state_list(ctx, "eo-buffered", CF_OPSTATE_SPLIT);
    if (!b)
        return cf_fail(ctx, "cannot register operator state eo-buffered");
    cf_ctx_set_local(ctx, b);
    return CF_OK;
}

static int
buf_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    if (cf_list_add(cf_ctx_local(ctx), in->data, in->len) < 0)
        return cf_fail(ctx, "cannot buffer a record");
    return CF_OK;
}

static int
buf_finish(cf_ctx_t *ctx)
{
    cf_state_t *b = cf_ctx_local(ctx);
    cf_list_iter_t it;
    cf_slice_t item;
    int rc;

    cf_list_iter(b, &it);
    while (cf_list_next(b, &it, &item) > 0)
        if ((rc = cf_emit(ctx, item.data, item.len, CF_NO_TIMESTAMP)) < 0)
            return rc;
    return cf_state_clear(b) < 0 ? CF_ERR : CF_OK;
}

static const cf_process_ops_t buf_ops = {
    .size = sizeof(cf_process_ops_t),
    .open = buf_open,
    .process = buf_process,
    .finish = buf_finish,
};

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *out = cf_param_get(argc, argv, "out", NULL);
    cf_stream_t *s;

    g_conf.keys = atoll(cf_param_get(argc, argv, "keys", "16"));
    g_conf.events = atoll(cf_param_get(argc, argv, "events", "1000"));
    g_conf.rate = atof(cf_param_get(argc, argv, "rate", "0"));
    g_conf.sleep_ms = atoll(cf_param_get(argc, argv, "sleep-ms", "0"));
    if (g_conf.keys <= 0)
        return cf_env_fail(env, "--keys must be > 0");
    if (g_conf.events < 0 || g_conf.rate < 0 || g_conf.sleep_ms < 0)
        return cf_env_fail(env, "--events, --rate and --sleep-ms must be "
                                ">= 0");
    cf_env_set_job_name(env, "Exactly-once test");

    s = cf_env_add_source(env, "SequenceGeneratorSource", &src_ops, &g_conf);
    s = cf_stream_uid(cf_stream_hooks(s, &src_hooks), "eo-source");
    s = cf_stream_key_by(s, key_of, NULL);
    s = cf_stream_process(s, "SemanticsCheckMapper", &check_ops, &g_conf);
    s = cf_stream_uid(s, "eo-checker");
    if (cf_param_get(argc, argv, "drain-test", NULL))
        s = cf_stream_uid(cf_stream_process(s, "DrainBuffer", &buf_ops, NULL),
                          "eo-buffer");
    if (out && *out)
        s = cf_stream_write_text(s, out);
    else
        s = cf_stream_print(s);
    cf_stream_uid(s, "eo-sink");
    return CF_OK;
}

CF_PLUGIN("Exactly-once test", "SequenceGeneratorSource + SemanticsCheckMapper",
          build);
