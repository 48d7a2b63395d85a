/*
 * gen_sources.c: Flink's fromSequence (NumberSequenceSource) and
 * DataGeneratorSource.
 *
 * Both split their numbers over the parallel instances in contiguous
 * ranges (cf_conn_range_split), as NumberSequenceSource does: instance i
 * of p reads the i-th range, in increasing order. A next() call emits at
 * most CF_CONN_BATCH numbers.
 *
 * The data generator's function is called with a context of its own (a
 * "shim" ctx) whose function table forwards every call to the real context
 * except udata and the local pointer: cf_ctx_udata() inside gen returns the
 * udata given to cf_env_datagen, not the connector's configuration, and
 * gen's local pointer does not overwrite the connector's state.
 *
 * Checkpointing (ABI 1.1 hosts): an instance keeps the numbers it still
 * has to emit as inclusive ranges [next, last] (cf_conn_ranges_t) and,
 * at every checkpoint (the snapshot hook, set on the source stream with
 * cf_stream_hooks), stores them in its operator list state (SPLIT mode,
 * one 17-byte item per range; fromSequence stores values, the generator
 * indices). A restored instance emits the ranges it gets back, whatever
 * its index and parallelism: after a rescale the remaining ranges are
 * spread over the new instances, none is lost or emitted twice. Without
 * a restore it starts with its part of the split.
 *
 * Rate limiting: an instance allowed r records a second may have emitted
 * floor(t * r) + 1 records t seconds after its first next(); when it is
 * ahead, next() returns CF_SOURCE_IDLE. A backlog (after backpressure) is
 * capped at one second of records, so a stalled source does not burst.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors_int.h"

#define CF_CONN_BATCH 4096

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* fromSequence                                                        */
/* ------------------------------------------------------------------ */

typedef struct seq_conf_s {
    int64_t from;
    int64_t to;
} seq_conf_t;

typedef struct seq_state_s {
    cf_conn_ranges_t remaining; /* offsets from conf->from */
    cf_state_t *pos;       /* operator state, or NULL (old host) */
} seq_state_t;

#define SEQ_WHAT "Sequence Source"
#define SEQ_STATE "sequence-positions"

/* Register the positions state and fill remaining: the restored ranges, or
 * the instance's part of [0, last]. */
static int
pos_init(cf_ctx_t *ctx, const char *state, const char *what, cf_state_t **pos,
         cf_conn_ranges_t *remaining, uint64_t base, uint64_t last, int empty)
{
    uint64_t lo, hi;

    *pos = NULL;
    if (cf_conn_has_opstate(ctx)) {
        *pos = cf_op_state_list(ctx, state, CF_OPSTATE_SPLIT);
        if (!*pos)
            return cf_fail(ctx, "%s: could not register operator state '%s'",
                           what, state);
        if (cf_ctx_is_restored(ctx))
            return empty
                       ? 0
                       : cf_conn_ranges_load(ctx, *pos, remaining, base, last, what);
    }
    if (!empty && cf_conn_range_split(last, cf_ctx_parallelism(ctx),
                                      cf_ctx_subtask_index(ctx), &lo, &hi))
        cf_conn_ranges_add(remaining, lo, hi);
    return 0;
}

static int
seq_open(cf_ctx_t *ctx)
{
    const seq_conf_t *conf = cf_ctx_udata(ctx);
    seq_state_t *st = cf_conn_calloc(1, sizeof(*st));
    int bad = conf->from > conf->to; /* the environment has failed */

    cf_ctx_set_local(ctx, st);
    return pos_init(ctx, SEQ_STATE, SEQ_WHAT, &st->pos, &st->remaining,
                    (uint64_t)conf->from,
                    bad ? 0 : (uint64_t)conf->to - (uint64_t)conf->from, bad);
}

static int
seq_next(cf_ctx_t *ctx)
{
    const seq_conf_t *conf = cf_ctx_udata(ctx);
    seq_state_t *st = cf_ctx_local(ctx);
    uint64_t off;
    int n;

    for (n = 0; n < CF_CONN_BATCH && cf_conn_ranges_take(&st->remaining, &off);
         n++) {
        /* Two's complement wrap: from + offset stays within [from, to]. */
        int64_t v = (int64_t)((uint64_t)conf->from + off);
        int rc = cf_emit(ctx, &v, sizeof(v), CF_NO_TIMESTAMP);
        if (rc < 0)
            return rc;
    }
    return cf_conn_ranges_done(&st->remaining) ? CF_SOURCE_END : CF_SOURCE_MORE;
}

static int
seq_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    const seq_conf_t *conf = cf_ctx_udata(ctx);
    seq_state_t *st = cf_ctx_local(ctx);
    int rc;

    (void)checkpoint_id;
    if (!st || !st->pos)
        return CF_OK;
    rc = cf_conn_ranges_store(st->pos, &st->remaining, (uint64_t)conf->from);
    if (rc < 0)
        return cf_fail(ctx, "%s: could not store its positions", SEQ_WHAT);
    return CF_OK;
}

static void
seq_close(cf_ctx_t *ctx)
{
    seq_state_t *st = cf_ctx_local(ctx);
    if (st)
        cf_conn_ranges_free(&st->remaining);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t seq_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = seq_open,
    .next = seq_next,
    .close = seq_close,
};

static const cf_hooks_t seq_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = seq_snapshot,
};

/* Set the snapshot hook of a built-in source (a host without ABI 1.1
 * ignores the fields it does not know). */
static cf_stream_t *
with_hooks(cf_stream_t *s, const cf_hooks_t *hooks)
{
    return cf_stream_hooks(s, hooks);
}

cf_stream_t *
cf_conn_from_sequence(cf_env_t *env, int64_t from, int64_t to)
{
    seq_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));
    conf->from = from;
    conf->to = to;
    if (from > to)
        cf_env_fail(env,
                    "fromSequence: from (%" PRId64 ") must not be greater "
                    "than to (%" PRId64 ")",
                    from, to);
    return with_hooks(cf_env_add_source(env, SEQ_WHAT, &seq_ops, conf),
                      &seq_hooks);
}

/* ------------------------------------------------------------------ */
/* DataGeneratorSource                                                 */
/* ------------------------------------------------------------------ */

typedef struct gen_conf_s {
    const char *name;
    cf_gen_fn gen;
    void *udata;
    uint64_t count;
    double records_per_second;
} gen_conf_t;

/* The context gen sees. Its first member is the function table pointer,
 * as every handle's. */
typedef struct gen_ctx_s {
    const cf_host_api_t *api; /* &table */
    const cf_host_api_t *host;
    cf_ctx_t *real;
    void *user_udata;
    void *user_local;
    cf_host_api_t table;
} gen_ctx_t;

typedef struct gen_state_s {
    gen_ctx_t shim;
    cf_conn_ranges_t remaining; /* indices still to generate */
    cf_state_t *pos;       /* operator state, or NULL (old host) */
    double rate;           /* records a second for this instance; 0: none */
    int started;           /* base_ns is set */
    uint64_t base_ns;      /* rate: the schedule's origin */
    uint64_t base_count;   /* records granted before base_ns */
    uint64_t emitted;      /* records emitted in all */
} gen_state_t;

static gen_ctx_t *
shim_of(cf_ctx_t *ctx)
{
    return (gen_ctx_t *)(void *)ctx;
}

static int
shim_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->emit(g->real, data, len, ts);
}

static int
shim_fail(cf_ctx_t *ctx, const char *fmt, va_list ap)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->ctx_fail(g->real, fmt, ap);
}

static void
shim_log(cf_ctx_t *ctx, int level, const char *fmt, va_list ap)
{
    gen_ctx_t *g = shim_of(ctx);
    g->host->log(g->real, level, fmt, ap);
}

static void *
shim_udata(cf_ctx_t *ctx)
{
    return shim_of(ctx)->user_udata;
}

static void *
shim_local(cf_ctx_t *ctx)
{
    return shim_of(ctx)->user_local;
}

static void
shim_set_local(cf_ctx_t *ctx, void *local)
{
    shim_of(ctx)->user_local = local;
}

static int
shim_subtask_index(cf_ctx_t *ctx)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->subtask_index(g->real);
}

static int
shim_parallelism(cf_ctx_t *ctx)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->parallelism(g->real);
}

static int
shim_max_parallelism(cf_ctx_t *ctx)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->max_parallelism(g->real);
}

static const char *
shim_task_name(cf_ctx_t *ctx)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->task_name(g->real);
}

static void *
shim_scratch(cf_ctx_t *ctx, uint32_t size)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->scratch(g->real, size);
}

static int
shim_current_key(cf_ctx_t *ctx, cf_slice_t *key)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->current_key(g->real, key);
}

static const char *
shim_config(cf_ctx_t *ctx, const char *key)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->config(g->real, key);
}

static int
shim_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->buf_reserve(g->real, buf, cap);
}

static cf_state_t *
shim_state_value(cf_ctx_t *ctx, const char *name)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->state_value(g->real, name);
}

static cf_state_t *
shim_state_list(cf_ctx_t *ctx, const char *name)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->state_list(g->real, name);
}

static cf_state_t *
shim_state_map(cf_ctx_t *ctx, const char *name)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->state_map(g->real, name);
}

static cf_state_t *
shim_state_reducing(cf_ctx_t *ctx, const char *name, cf_reduce_fn fn)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->state_reducing(g->real, name, fn);
}

static int
shim_is_restored(cf_ctx_t *ctx)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->is_restored(g->real);
}

static cf_state_t *
shim_op_state_list(cf_ctx_t *ctx, const char *name, int mode)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->op_state_list(g->real, name, mode);
}

static cf_state_t *
shim_op_state_broadcast(cf_ctx_t *ctx, const char *name)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->op_state_broadcast(g->real, name);
}

static cf_state_t *
shim_state_aggregating(cf_ctx_t *ctx, const char *name, const cf_agg_ops_t *ops)
{
    gen_ctx_t *g = shim_of(ctx);
    return g->host->state_aggregating(g->real, name, ops);
}

/* Build g's table: a copy of the host's (as far as both know it) with
 * every entry that takes a context replaced by a forwarder. Entries a
 * later ABI adds are absent from the copy (its size says so), so gen
 * cannot call them with the shim by mistake. */
static void
shim_init(gen_ctx_t *g, cf_ctx_t *real, void *user_udata)
{
    const cf_host_api_t *host = CF__API(real);
    size_t n =
        host->size < sizeof(cf_host_api_t) ? host->size : sizeof(cf_host_api_t);

    memset(g, 0, sizeof(*g));
    memcpy(&g->table, host, n);
    g->table.size = (uint32_t)n;
    g->api = &g->table;
    g->host = host;
    g->real = real;
    g->user_udata = user_udata;
    g->table.emit = shim_emit;
    g->table.ctx_fail = shim_fail;
    g->table.log = shim_log;
    g->table.udata = shim_udata;
    g->table.local = shim_local;
    g->table.set_local = shim_set_local;
    g->table.subtask_index = shim_subtask_index;
    g->table.parallelism = shim_parallelism;
    g->table.max_parallelism = shim_max_parallelism;
    g->table.task_name = shim_task_name;
    g->table.scratch = shim_scratch;
    g->table.current_key = shim_current_key;
    g->table.config = shim_config;
    g->table.buf_reserve = shim_buf_reserve;
    g->table.state_value = shim_state_value;
    g->table.state_list = shim_state_list;
    g->table.state_map = shim_state_map;
    g->table.state_reducing = shim_state_reducing;
    /* ABI 1.1 entries that take a context, when the host has them. */
#define SHIM_11(FIELD, FN)                                                     \
    if (CF_API_HAS(real, FIELD) && host->FIELD)                                \
        g->table.FIELD = FN;
    SHIM_11(is_restored, shim_is_restored)
    SHIM_11(op_state_list, shim_op_state_list)
    SHIM_11(op_state_broadcast, shim_op_state_broadcast)
    SHIM_11(state_aggregating, shim_state_aggregating)
#undef SHIM_11
}

#define GEN_STATE "datagen-positions"

static int
gen_open(cf_ctx_t *ctx)
{
    const gen_conf_t *conf = cf_ctx_udata(ctx);
    gen_state_t *st = cf_conn_calloc(1, sizeof(*st));
    int p = cf_ctx_parallelism(ctx);
    int empty = conf->count == 0 || !conf->gen;

    shim_init(&st->shim, ctx, conf->udata);
    cf_ctx_set_local(ctx, st);
    if (conf->records_per_second > 0)
        st->rate = conf->records_per_second / (p > 0 ? p : 1);
    return pos_init(ctx, GEN_STATE, conf->name, &st->pos, &st->remaining, 0,
                    empty ? 0 : conf->count - 1, empty);
}

/* How many records next() may emit now under the rate limit. */
static uint64_t
gen_budget(gen_state_t *st)
{
    uint64_t now = mono_ns();
    uint64_t allowed, cap;

    if (!st->started) {
        st->started = 1;
        st->base_ns = now;
    }
    allowed =
        st->base_count + cf_conn_rate_allowed(st->rate, now - st->base_ns);
    if (allowed <= st->emitted)
        return 0;
    cap = st->rate >= 1.0 ? (uint64_t)st->rate : 1;
    if (allowed - st->emitted > cap) {
        /* Forget the backlog beyond one second of records: restart the
         * schedule now, granting cap records. */
        st->base_ns = now;
        st->base_count = st->emitted + cap - 1;
        return cap;
    }
    return allowed - st->emitted;
}

static int
gen_next(cf_ctx_t *ctx)
{
    const gen_conf_t *conf = cf_ctx_udata(ctx);
    gen_state_t *st = cf_ctx_local(ctx);
    uint64_t budget = CF_CONN_BATCH, n, index;

    if (cf_conn_ranges_done(&st->remaining))
        return CF_SOURCE_END;
    if (st->rate > 0) {
        uint64_t b = gen_budget(st);
        if (b == 0)
            return CF_SOURCE_IDLE;
        if (b < budget)
            budget = b;
    }
    for (n = 0; n < budget && cf_conn_ranges_take(&st->remaining, &index); n++) {
        int rc = conf->gen((cf_ctx_t *)(void *)&st->shim, index);
        if (rc < 0)
            return rc;
        st->emitted++;
    }
    return cf_conn_ranges_done(&st->remaining) ? CF_SOURCE_END : CF_SOURCE_MORE;
}

static int
gen_snapshot(cf_ctx_t *ctx, int64_t checkpoint_id)
{
    const gen_conf_t *conf = cf_ctx_udata(ctx);
    gen_state_t *st = cf_ctx_local(ctx);

    (void)checkpoint_id;
    if (!st || !st->pos)
        return CF_OK;
    if (cf_conn_ranges_store(st->pos, &st->remaining, 0) < 0)
        return cf_fail(ctx, "%s: could not store its positions", conf->name);
    return CF_OK;
}

static void
gen_close(cf_ctx_t *ctx)
{
    gen_state_t *st = cf_ctx_local(ctx);
    if (st)
        cf_conn_ranges_free(&st->remaining);
    free(st);
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t gen_ops = {
    .size = sizeof(cf_source_ops_t),
    .open = gen_open,
    .next = gen_next,
    .close = gen_close,
};

static const cf_hooks_t gen_hooks = {
    .size = sizeof(cf_hooks_t),
    .snapshot = gen_snapshot,
};

cf_stream_t *
cf_conn_datagen(cf_env_t *env, const char *name, cf_gen_fn gen, void *udata,
                uint64_t count, double records_per_second)
{
    gen_conf_t *conf = cf_conn_registry_alloc(sizeof(*conf));
    conf->name = cf_conn_registry_strdup(name ? name : "DataGeneratorSource");
    conf->gen = gen;
    conf->udata = udata;
    conf->count = count;
    conf->records_per_second = records_per_second;
    if (!gen)
        cf_env_fail(env,
                    "DataGeneratorSource '%s': the generator function "
                    "is NULL",
                    name ? name : "DataGeneratorSource");
    if (!(records_per_second >= 0))
        cf_env_fail(env,
                    "DataGeneratorSource '%s': records per second "
                    "must be >= 0 (0: unlimited), not %g",
                    name ? name : "DataGeneratorSource", records_per_second);
    return with_hooks(cf_env_add_source(env,
                                        name ? name : "DataGeneratorSource",
                                        &gen_ops, conf),
                      &gen_hooks);
}
