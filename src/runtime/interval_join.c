/*
 * interval_join.c: the interval join of two keyed streams,
 * a.intervalJoin(b).between(lower, upper).process(fn) (Flink's
 * IntervalJoinOperator, event time, both bounds inclusive).
 *
 * No runtime plumbing of its own: the join is assembled from existing
 * operators, the way Flink builds coGroup.
 *
 *   a (keyed) --> tag map "1|rec" --+
 *                                   +--> union --keyBy(dispatch)--> join
 *   b (keyed) --> tag map "2|rec" --+                        (keyed process)
 *
 *  - Each input ref of a and b gets a map that prepends a 1-byte tag
 *    (1 = left, 2 = right) and keeps the timestamp. The map consumes the
 *    producer directly (the keyBy of a / b is not applied there: its HASH
 *    partitioner and key selector are taken off the ref), with the
 *    producer's parallelism, so it chains to it.
 *  - The union of the tagged streams is keyed by cf_ij_key, which looks
 *    at the tag and calls a's or b's key selector on the untagged record;
 *    the shuffle therefore sends equal keys of both sides to the same
 *    instance, and the join's input watermark is the minimum over all its
 *    channels (both inputs), as for Flink's two-input operators.
 *  - The join is a keyed process node with a host-internal
 *    cf_process_ops_t (process + on_timer). Its udata is the user's (so
 *    cf_ctx_udata() in the join function is the user's); the join's own
 *    configuration is the key selector's udata, which the node keeps in
 *    key_udata (cf_connect copies it from the keyed stream).
 *
 * State, per key: two MapStates "_cflink_ij_left" / "_cflink_ij_right"
 * (the "_cflink" prefix is reserved: user state cannot collide), map key
 * = the timestamp as 8 bytes big-endian with the sign bit flipped (so
 * that byte order is numeric order), value = the records of that
 * timestamp, each [u32 length, native order][bytes], in arrival order.
 *
 * Per element of side s with timestamp ts (IntervalJoinOperator
 * .processElement):
 *  - ts < current watermark: late, dropped (counted);
 *  - added to its side's buffer;
 *  - joined with every buffered element of the other side in range
 *    (left ts_l, right ts_r: lower <= ts_r - ts_l <= upper); fn gets
 *    (left, right) without the tag, and cf_ctx_timestamp() =
 *    max(ts_l, ts_r) during the call: the join function should emit with
 *    that timestamp (cf_emit(ctx, ..., cf_ctx_timestamp(ctx)));
 *  - a cleanup timer at ts + upper (left; ts when upper <= 0) or
 *    ts - lower (right; ts when lower >= 0).
 * Timers of a process function carry no namespace, so the side is not
 * known when one fires at t: both buffers lose the timestamp whose
 * cleanup time is t (left t - upper or t, right t + lower or t). That is
 * exact: an entry is removed only at its own cleanup time, whichever side
 * registered the timer.
 */
#include <stdatomic.h>
#include <string.h>

#include "eventtime.h"
#include "state.h"

#define CF_IJ_LEFT 1
#define CF_IJ_RIGHT 2

static const char *const cf_ij_state_name[2] = {"_cflink_ij_left",
                                                "_cflink_ij_right"};

/* The join's configuration, shared (read-only) by every instance. */
typedef struct cf_ij_conf_s {
    cf_key_fn key[2]; /* a's and b's key selectors */
    int64_t lower, upper;
    cf_join_fn fn;
} cf_ij_conf_t;

/* Late elements dropped by interval joins of this process (for tests;
 * the task metric numLateRecordsDropped sums ctx->late_dropped). */
static _Atomic uint64_t cf_ij_late_total;

uint64_t cf_ij_late_dropped(void);

uint64_t
cf_ij_late_dropped(void)
{
    return atomic_load_explicit(&cf_ij_late_total, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void
cf_ij_ts_key(int64_t ts, uint8_t out[8])
{
    uint64_t u = (uint64_t)ts ^ (UINT64_C(1) << 63);
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)u;
        u >>= 8;
    }
}

static int64_t
cf_ij_ts_of_key(const uint8_t *k)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | k[i];
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static int64_t
cf_ij_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* lower <= other - ts <= upper, without overflow (a difference that does
 * not fit in int64 is outside any int64 bounds). */
static int
cf_ij_in_range(int64_t other, int64_t ts, int64_t lower, int64_t upper)
{
    int64_t d;
    if (__builtin_sub_overflow(other, ts, &d))
        return 0;
    return d >= lower && d <= upper;
}

/* The configuration: the node's key_udata on the join (keyed by
 * cf_ij_key), its udata on a tag map (the writer calls the key selector
 * with the producing operator's ctx). */
static const cf_ij_conf_t *
cf_ij_conf(cf_ctx_t *ctx)
{
    const cf_snode_t *n = ctx->node;
    return n->keyed && n->key_udata != NULL ? n->key_udata : n->udata;
}

static cf_state_t *
cf_ij_state(cf_ctx_t *ctx, int side)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(ctx->kstate, cf_ij_state_name[side],
                                        CF_STATE_MAP, NULL, ctx, &err);
    if (st == NULL) {
        cf_fail(ctx, "interval join '%s': %s", ctx->node->name,
                err ? cf_error_msg(err) : "cannot register its buffer");
        cf_error_free(err);
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* Run time: tag maps, key selector, join                              */
/* ------------------------------------------------------------------ */

static int
cf_ij_tag(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out,
          uint8_t tag)
{
    uint8_t *p;
    if (in->len == UINT32_MAX)
        return cf_fail(ctx, "record too large for interval join '%s'",
                       ctx->node->name);
    /* The scratch is reused: the record is written (or handed on) before
     * the next call. */
    p = cf_task_scratch(ctx, in->len + 1);
    p[0] = tag;
    if (in->len > 0)
        memcpy(p + 1, in->data, in->len);
    out->data = p;
    out->len = in->len + 1;
    out->ts = in->ts;
    return CF_OK;
}

static int
cf_ij_tag_left(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    return cf_ij_tag(ctx, in, out, CF_IJ_LEFT);
}

static int
cf_ij_tag_right(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    return cf_ij_tag(ctx, in, out, CF_IJ_RIGHT);
}

/* The union's key selector: a's or b's on the untagged record. */
static int
cf_ij_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const cf_ij_conf_t *c = cf_ij_conf(ctx);
    const uint8_t *p = in->data;
    cf_record_t r;

    if (in->len < 1 || (p[0] != CF_IJ_LEFT && p[0] != CF_IJ_RIGHT))
        return cf_fail(ctx, "interval join: untagged record in '%s'",
                       ctx->node->name);
    r.data = p + 1;
    r.len = in->len - 1;
    r.ts = in->ts;
    return c->key[p[0] - 1](ctx, &r, key);
}

/* Append rec to the bucket of ts in st (copy-append-put, as Flink's
 * addToBuffer does with its list; the per-instance scratch holds the new
 * value, so nothing is allocated once it is large enough). */
static int
cf_ij_buffer_add(cf_ctx_t *ctx, cf_state_t *st, const uint8_t tk[8],
                 const cf_record_t *rec)
{
    cf_slice_t old = {0};
    uint32_t olen, n;
    uint8_t *v;
    int rc;

    rc = cf_kstate_map_get(st, tk, 8, &old);
    if (rc < 0)
        return rc;
    olen = rc == 1 ? (uint32_t)old.len : 0;
    if ((uint64_t)olen + 4 + rec->len > UINT32_MAX)
        return cf_fail(ctx,
                       "interval join '%s': more than 4 GiB of records "
                       "with one key and timestamp",
                       ctx->node->name);
    n = olen + 4 + rec->len;
    v = cf_task_scratch(ctx, n);
    if (olen > 0)
        memcpy(v, old.data, olen);
    memcpy(v + olen, &rec->len, 4);
    if (rec->len > 0)
        memcpy(v + olen + 4, rec->data, rec->len);
    return cf_kstate_map_put(st, tk, 8, v, n);
}

static int
cf_ij_call(cf_ctx_t *ctx, const cf_ij_conf_t *c, const cf_record_t *l,
           const cf_record_t *r)
{
    ctx->cur_ts = l->ts > r->ts ? l->ts : r->ts;
    return c->fn(ctx, l, r);
}

static int
cf_ij_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const cf_ij_conf_t *c = cf_ij_conf(ctx);
    const uint8_t *p = in->data;
    cf_record_t rec;
    cf_state_t *ours, *other;
    cf_map_iter_t it;
    cf_slice_t k, v;
    uint8_t tk[8];
    int side, rc;
    int64_t ts = in->ts, wm = ctx->watermark, cleanup;

    if (in->len < 1 || (p[0] != CF_IJ_LEFT && p[0] != CF_IJ_RIGHT))
        return cf_fail(ctx, "interval join: untagged record in '%s'",
                       ctx->node->name);
    side = p[0] - 1; /* 0 left, 1 right */
    rec.data = p + 1;
    rec.len = in->len - 1;
    rec.ts = ts;
    if (ts == CF_NO_TIMESTAMP)
        return cf_fail(ctx,
                       "Long.MIN_VALUE timestamp: Elements used in interval "
                       "stream joins need to have meaningful timestamps "
                       "(interval join '%s', %s input): assign timestamps "
                       "and watermarks first",
                       ctx->node->name, side == 0 ? "first" : "second");
    /* IntervalJoinOperator.isLate. Flink sends late elements to a side
     * output when one is set; the API has none, so they are dropped. */
    if (wm != CF_WATERMARK_MIN && ts < wm) {
        ctx->late_dropped++;
        atomic_fetch_add_explicit(&cf_ij_late_total, 1,
                                  memory_order_relaxed);
        return CF_OK;
    }
    if ((ours = cf_ij_state(ctx, side)) == NULL ||
        (other = cf_ij_state(ctx, !side)) == NULL)
        return CF_ERR;
    cf_ij_ts_key(ts, tk);
    if ((rc = cf_ij_buffer_add(ctx, ours, tk, &rec)) < 0)
        return rc;

    /* Flink iterates the whole other buffer too (a hash map, unordered):
     * a pair matches when lower <= ts_r - ts_l <= upper. */
    if ((rc = cf_kstate_map_iter(other, &it)) < 0)
        return rc;
    while (cf_kstate_map_next(&it, &k, &v) == 1) {
        int64_t ots;
        const uint8_t *q, *end;
        if (k.len != 8)
            continue;
        ots = cf_ij_ts_of_key(k.data);
        if (side == 0 ? !cf_ij_in_range(ots, ts, c->lower, c->upper)
                      : !cf_ij_in_range(ts, ots, c->lower, c->upper))
            continue;
        q = v.data;
        end = q + v.len;
        while (end - q >= 4) {
            cf_record_t o;
            uint32_t n;
            memcpy(&n, q, 4);
            q += 4;
            if ((size_t)(end - q) < n)
                break;
            o.data = q;
            o.len = n;
            o.ts = ots;
            rc = side == 0 ? cf_ij_call(ctx, c, &rec, &o)
                           : cf_ij_call(ctx, c, &o, &rec);
            if (rc < 0) {
                ctx->cur_ts = ts;
                return rc;
            }
            q += n;
        }
    }
    ctx->cur_ts = ts;

    /* Flink's cleanup time: the last watermark at which the element can
     * still meet a non-late element of the other side. */
    if (side == 0)
        cleanup = c->upper > 0 ? cf_ij_sat_add(ts, c->upper) : ts;
    else
        cleanup = c->lower >= 0            ? ts
                  : c->lower == INT64_MIN ? INT64_MAX
                                          : cf_ij_sat_add(ts, -c->lower);
    return cf_rt_timer_register(ctx, CF_TIME_EVENT, cleanup);
}

/* Remove the bucket of ts from one buffer, if any. */
static int
cf_ij_remove(cf_ctx_t *ctx, int side, int64_t ts)
{
    cf_state_t *st = cf_ij_state(ctx, side);
    uint8_t tk[8];
    if (st == NULL)
        return CF_ERR;
    cf_ij_ts_key(ts, tk);
    return cf_kstate_map_remove(st, tk, 8);
}

static int
cf_ij_on_timer(cf_ctx_t *ctx, int64_t t, int domain)
{
    const cf_ij_conf_t *c = cf_ij_conf(ctx);
    int64_t ts;
    int rc;

    if (domain != CF_TIME_EVENT)
        return CF_OK; /* the join sets none; a user's is not ours */
    if (t == INT64_MAX) {
        /* The end of event time (or a saturated cleanup time that cannot
         * be mapped back): nothing can join any more. */
        cf_state_t *l = cf_ij_state(ctx, 0), *r = cf_ij_state(ctx, 1);
        if (l == NULL || r == NULL)
            return CF_ERR;
        if ((rc = cf_kstate_clear(l)) < 0)
            return rc;
        return cf_kstate_clear(r);
    }
    /* Left entries cleaned at t: ts + upper = t (upper > 0), ts = t. */
    if (c->upper <= 0)
        ts = t;
    else if (__builtin_sub_overflow(t, c->upper, &ts))
        ts = INT64_MIN; /* no such entry (CF_NO_TIMESTAMP is refused) */
    if (ts != INT64_MIN && (rc = cf_ij_remove(ctx, 0, ts)) < 0)
        return rc;
    /* Right entries: ts - lower = t (lower < 0), ts = t. */
    if (c->lower >= 0)
        ts = t;
    else if (__builtin_add_overflow(t, c->lower, &ts))
        ts = INT64_MIN;
    if (ts != INT64_MIN && (rc = cf_ij_remove(ctx, 1, ts)) < 0)
        return rc;
    return CF_OK;
}

static const cf_process_ops_t cf_ij_ops = {
    sizeof(cf_process_ops_t), NULL, cf_ij_process, NULL, NULL,
    cf_ij_on_timer};

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

/* A configuration freed with the environment. */
static cf_ij_conf_t *
cf_ij_conf_new(cf_env_t *env)
{
    return cf_env_alloc(env, sizeof(cf_ij_conf_t));
}

/* One tag map per input ref of s, each consuming its producer directly
 * (keyBy dropped) with the producer's parallelism, so it chains. Named
 * "Map", as the tag maps of Flink's coGroup (and of join.c). */
static int
cf_ij_tag_input(cf_stream_t *s, uint8_t tag, cf_ij_conf_t *c,
                cf_stream_t **out, int n)
{
    for (int i = 0; i < s->nrefs; i++) {
        cf_stream_t *in = cf_stream_new(s->env, 1);
        cf_stream_t *m;
        cf_snode_t *src = cf_env_node(s->env, s->refs[i].node);
        cf_snode_t *mn;
        in->refs[0] = s->refs[i];
        in->refs[0].partitioner = 0;
        in->refs[0].key_fn = NULL;
        in->refs[0].key_udata = NULL;
        m = cf_b_map(in, "Map",
                     tag == CF_IJ_LEFT ? cf_ij_tag_left : cf_ij_tag_right, c);
        mn = cf_env_node(s->env, m->refs[0].node);
        if (src != NULL && mn != NULL)
            mn->parallelism = src->parallelism;
        out[n++] = m;
    }
    return n;
}

cf_stream_t *
cf_b_interval_join(cf_stream_t *a, cf_stream_t *b, int64_t lower_ms,
                   int64_t upper_ms, const char *name, cf_join_fn fn,
                   void *udata)
{
    cf_env_t *env = a->env;
    const char *nm = name && *name ? name : "Interval Join";
    cf_ij_conf_t *c;
    cf_stream_t **tagged, *u, *k;
    int n = 0;

    cf_check_input(a, "intervalJoin");
    if (b == NULL || b->env != env) {
        cf_env_error(env, "'%s': intervalJoin() of streams from different "
                          "environments",
                     nm);
        b = a; /* go on with a usable graph; the submission fails */
    }
    cf_check_input(b, "intervalJoin");
    if (!a->keyed || a->win != NULL)
        cf_env_error(env,
                     "'%s': intervalJoin() needs two keyed streams: the "
                     "first input is %s (call key_by() on it first)",
                     nm, a->win ? "a windowed stream" : "not keyed");
    if (!b->keyed || b->win != NULL)
        cf_env_error(env,
                     "'%s': intervalJoin() needs two keyed streams: the "
                     "second input is %s (call key_by() on it first)",
                     nm, b->win ? "a windowed stream" : "not keyed");
    if (lower_ms > upper_ms)
        cf_env_error(env,
                     "'%s': lowerBound <= upperBound must be fulfilled "
                     "(between(%lld, %lld))",
                     nm, (long long)lower_ms, (long long)upper_ms);
    if (fn == NULL)
        cf_env_error(env, "'%s': intervalJoin() needs a join function", nm);

    c = cf_ij_conf_new(env);
    c->key[0] = a->nrefs > 0 ? a->refs[0].key_fn : NULL;
    c->key[1] = b->nrefs > 0 ? b->refs[0].key_fn : NULL;
    c->lower = lower_ms;
    c->upper = upper_ms;
    c->fn = fn;

    tagged = cf_calloc((size_t)(a->nrefs + b->nrefs) + 1, sizeof *tagged);
    n = cf_ij_tag_input(a, CF_IJ_LEFT, c, tagged, n);
    n = cf_ij_tag_input(b, CF_IJ_RIGHT, c, tagged, n);
    u = n > 1 ? cf_b_union(tagged[0], tagged + 1, n - 1) : tagged[0];
    cf_free(tagged);
    if (u == NULL) /* no refs at all: cannot happen for builder handles */
        return a;
    k = cf_b_key_by(u, cf_ij_key, c);
    return cf_b_process(k, nm, &cf_ij_ops, udata);
}
