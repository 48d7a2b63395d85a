/*
 * join.c: two-input operators built from one-input ones, the way Flink
 * builds coGroup / join (CoGroupedStreams): tag and union.
 *
 *   a --(FORWARD)--> Map [tag 1] --+
 *                                  +--(a's / b's exchange)--> operator
 *   b --(FORWARD)--> Map [tag 2] --+
 *
 *  - Tag: an internal map on each producer of an input prepends a 1-byte
 *    input tag (1 for a, 2 for b) to the record, keeping its timestamp.
 *    It consumes the producer's output with the default partitioner (so it
 *    chains to it: same parallelism), and the input's pending exchange
 *    (HASH with its key selector, REBALANCE, ...) moves to the edge after
 *    the tag map, so that the partitioning still happens where the user
 *    asked for it.
 *  - Union the two tagged streams (cf_b_union).
 *  - Keyed inputs: key the union by a selector that dispatches on the tag
 *    byte to a's or b's key selector, given the record without the tag
 *    (cf_join_key). Equal keys of a and b therefore meet in one instance
 *    and one key context: keyed state and timers are shared per key.
 *  - connect: a process node over the (keyed) union whose process()
 *    strips the tag and calls process1 or process2 with the same ctx
 *    (cf_join_co_process); open, finish, close and on_timer are the
 *    user's functions themselves.
 *  - window join: the window operator over the keyed union with a process
 *    window function that splits the window's elements by tag and calls
 *    the join function for every (left, right) pair (cf_join_window_fn).
 *
 * Watermarks need nothing special: the operator's input watermark is the
 * minimum over all its input channels (eventtime.c), and the channels of
 * the union are those of both inputs, so it is min(watermark of a,
 * watermark of b), exactly as Flink's two-input operators combine
 * theirs (AbstractStreamOperator.processWatermark1/2). An idle input
 * leaves the minimum like an idle channel does.
 *
 * Where the internal functions find their configuration: key selectors
 * are called with the ctx of the operator on either side of the exchange
 * (the tag map when partitioning, the two-input operator when setting the
 * key), with no udata of their own, and the operator's udata must stay
 * the user's (cf_ctx_udata). So the host-owned cf_join_t hangs off
 * node->key_udata of the tag maps and of the final node (a field the
 * runtime stores for keyed nodes but never reads; for the non-keyed
 * nodes here it is otherwise unused). cf_join_t lives as long as the
 * environment (cf_env_alloc).
 */
#include <string.h>

#include "eventtime.h"
#include "window.h"

/* Input tags: the first byte of every record between the tag maps and
 * the two-input operator. */
enum {
    CF_JOIN_TAG1 = 1,
    CF_JOIN_TAG2 = 2
};

/* The host's side of one two-input operator (or, for a non-keyed
 * connect of hash-partitioned inputs, of one tag map: only key[]). */
typedef struct cf_join_s {
    /* key[t]: the key selector of the input tagged t (index 0 unused). */
    cf_key_fn key[3];
    cf_co_process_ops_t co; /* connect */
    cf_join_fn fn;          /* window join */
} cf_join_t;

/* A cf_join_t freed with env. */
static cf_join_t *
cf_join_new(cf_env_t *env)
{
    return cf_env_alloc(env, sizeof(cf_join_t));
}

/* ------------------------------------------------------------------ */
/* Run time                                                            */
/* ------------------------------------------------------------------ */

/* The record without its tag byte (len >= 1 is checked by the caller). */
static inline cf_record_t
cf_join_untag(const cf_record_t *in)
{
    cf_record_t r = {(const uint8_t *)in->data + 1, in->len - 1, in->ts};
    return r;
}

static int
cf_join_bad_record(cf_ctx_t *ctx, const cf_record_t *in)
{
    return cf_fail(ctx,
                   "operator '%s': a record of %u bytes without a valid "
                   "input tag reached a two-input operator",
                   ctx->node->name, in ? in->len : 0u);
}

/* The tag map: tag t, then the record's bytes, in the map's scratch
 * buffer (the output record is pushed before the next call reuses it);
 * out->ts is in->ts already. */
static int
cf_join_tag(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out, uint8_t t)
{
    uint8_t *p;
    if (in->len == UINT32_MAX)
        return cf_fail(ctx, "operator '%s': record too large", ctx->node->name);
    p = cf_task_scratch(ctx, in->len + 1);
    p[0] = t;
    if (in->len > 0)
        memcpy(p + 1, in->data, in->len);
    out->data = p;
    out->len = in->len + 1;
    return CF_OK;
}

static int
cf_join_tag1(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    return cf_join_tag(ctx, in, out, CF_JOIN_TAG1);
}

static int
cf_join_tag2(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    return cf_join_tag(ctx, in, out, CF_JOIN_TAG2);
}

/* The key selector of the union: the selector of the record's input,
 * given the record without its tag. The key may point into the record
 * (still valid: the untagged view is inside the tagged bytes) or into
 * key->scratch. Called on both sides of the exchange; ctx->node is the
 * tag map or the two-input operator, both carry the cf_join_t. */
static int
cf_join_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const cf_join_t *j = ctx->node->key_udata;
    const uint8_t *p = in->data;
    cf_record_t r;

    if (in->len < 1 || (p[0] != CF_JOIN_TAG1 && p[0] != CF_JOIN_TAG2) ||
        j == NULL || j->key[p[0]] == NULL)
        return cf_join_bad_record(ctx, in);
    r = cf_join_untag(in);
    return j->key[p[0]](ctx, &r, key);
}

/* connect: the co-process function's process1 / process2, with the same
 * ctx (key, keyed state, timers, udata, cf_ctx_timestamp = the record's
 * timestamp, set by the process operator before this call). */
static int
cf_join_co_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    const cf_join_t *j = ctx->node->key_udata;
    const uint8_t *p = in->data;
    cf_record_t r;

    if (in->len < 1 || j == NULL)
        return cf_join_bad_record(ctx, in);
    r = cf_join_untag(in);
    switch (p[0]) {
    case CF_JOIN_TAG1: return j->co.process1(ctx, &r);
    case CF_JOIN_TAG2: return j->co.process2(ctx, &r);
    default: return cf_join_bad_record(ctx, in);
    }
}

/* Right-hand elements of a firing up to this many are indexed on the
 * stack; bigger windows allocate once per firing (never per element). */
#define CF_JOIN_STACK_RIGHT 256

/* window join: Flink's JoinCoGroupFunction over the window's elements:
 * for each left element (input 1) in window order, for each right one
 * (input 2) in window order, fn(left, right), both without the tag. An
 * inner join: a window with one side empty yields nothing. The window
 * operator set cf_ctx_timestamp() to the window's max timestamp (the
 * default timestamp of what fn emits, cf_emit(..., cf_ctx_timestamp())
 * in the user's code). */
static int
cf_join_window_fn(cf_ctx_t *ctx, const cf_window_t *w, const cf_record_t *el,
                  uint32_t n)
{
    const cf_join_t *j = ctx->node->key_udata;
    uint32_t small[CF_JOIN_STACK_RIGHT], *right = small;
    uint32_t nl = 0, nr = 0;
    int rc = CF_OK;

    (void)w;
    if (j == NULL)
        return cf_join_bad_record(ctx, NULL);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = el[i].data;
        if (el[i].len < 1 || (p[0] != CF_JOIN_TAG1 && p[0] != CF_JOIN_TAG2))
            return cf_join_bad_record(ctx, &el[i]);
        if (p[0] == CF_JOIN_TAG1)
            nl++;
        else
            nr++;
    }
    if (nl == 0 || nr == 0)
        return CF_OK;
    if (nr > CF_JOIN_STACK_RIGHT)
        right = cf_malloc(sizeof *right * (size_t)nr);
    nr = 0;
    for (uint32_t i = 0; i < n; i++)
        if (((const uint8_t *)el[i].data)[0] == CF_JOIN_TAG2)
            right[nr++] = i;
    for (uint32_t i = 0; i < n && rc >= 0; i++) {
        cf_record_t l;
        if (((const uint8_t *)el[i].data)[0] != CF_JOIN_TAG1)
            continue;
        l = cf_join_untag(&el[i]);
        for (uint32_t k = 0; k < nr; k++) {
            cf_record_t r = cf_join_untag(&el[right[k]]);
            if ((rc = j->fn(ctx, &l, &r)) < 0)
                break;
        }
    }
    if (right != small)
        cf_free(right);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

/* After an error: a handle the plugin's entry can go on with (the
 * submission fails with the recorded message anyway). */
static cf_stream_t *
cf_join_refused(cf_stream_t *a)
{
    cf_stream_t *r = cf_stream_new(a->env, a->nrefs);
    for (int i = 0; i < a->nrefs; i++) {
        r->refs[i] = a->refs[i];
        r->refs[i].partitioner = 0;
        r->refs[i].key_fn = NULL;
        r->refs[i].key_udata = NULL;
    }
    return r;
}

/* Tag input s (t = 1 or 2): one tag map per producer of s (several after
 * a union), each right after its producer: the default partitioner
 * (FORWARD at equal parallelism, so it chains), the producer's
 * parallelism and max parallelism, and the producer's udata (a key
 * selector that looks at cf_ctx_udata on the sending side sees what it
 * saw before). The returned stream's refs are the tag maps with s's
 * pending exchange. keyed_j: the join's cf_join_t when both inputs are
 * keyed (the union is keyed after this); otherwise a pending HASH
 * exchange of a non-keyed input (a union of keyed streams) gets its own
 * dispatching selector, called on the sending side only. */
static cf_stream_t *
cf_join_tag_input(cf_stream_t *s, int t, cf_join_t *keyed_j)
{
    cf_env_t *env = s->env;
    cf_stream_t *out = cf_stream_new(env, s->nrefs);

    for (int i = 0; i < s->nrefs; i++) {
        const cf_sref_t *r = &s->refs[i];
        cf_snode_t *prod = cf_env_node(env, r->node);
        cf_stream_t *in = cf_stream_new(env, 1), *m;
        cf_snode_t *mn;

        in->refs[0].node = r->node;
        in->refs[0].tag = r->tag; /* a side output stays one */
        m = cf_b_map(in, "Map", t == CF_JOIN_TAG1 ? cf_join_tag1 : cf_join_tag2,
                     prod->udata);
        mn = cf_env_node(env, m->refs[0].node);
        mn->parallelism = prod->parallelism;
        mn->max_parallelism = prod->max_parallelism;
        out->refs[i] = *r;
        out->refs[i].node = mn->id;
        out->refs[i].tag = NULL;
        if (keyed_j != NULL) {
            mn->key_udata = keyed_j;
        } else if (r->key_fn != NULL) {
            cf_join_t *kj = cf_join_new(env);
            kj->key[t] = r->key_fn;
            mn->key_udata = kj;
            out->refs[i].key_fn = cf_join_key;
            out->refs[i].key_udata = kj;
        }
    }
    return out;
}

/* Common checks and the tagged, unioned (and keyed) input of a
 * two-input operator, or NULL after an error. *keyed: both inputs are
 * keyed (mixed is an error). */
static cf_stream_t *
cf_join_input(cf_stream_t *a, cf_stream_t *b, const char *opname,
              const char *what, int need_keyed, cf_join_t *j, int *keyed)
{
    cf_env_t *env = a->env;
    cf_stream_t *ta, *tb, *u;

    if (b == NULL || b->env != env) {
        cf_env_error(env,
                     "'%s': %s() of streams from different "
                     "environments",
                     opname, what);
        return NULL;
    }
    if (cf_check_input(a, what) < 0 || cf_check_input(b, what) < 0)
        return NULL;
    if (a->win != NULL || b->win != NULL) {
        cf_env_error(env,
                     "'%s': %s() cannot be applied to a windowed stream: "
                     "end it with reduce, aggregate or process first",
                     opname, what);
        return NULL;
    }
    if (need_keyed && (!a->keyed || !b->keyed)) {
        cf_env_error(env,
                     "'%s': %s() needs two keyed streams (key_by() both "
                     "inputs: their key selectors are where() and "
                     "equalTo()); input %d is not keyed",
                     opname, what, a->keyed ? 2 : 1);
        return NULL;
    }
    if (a->keyed != b->keyed) {
        cf_env_error(env,
                     "'%s': %s() of a keyed and a non-keyed stream (input "
                     "%d is not keyed): key both inputs (keyed state and "
                     "timers are per key) or neither",
                     opname, what, a->keyed ? 2 : 1);
        return NULL;
    }
    *keyed = a->keyed;
    if (*keyed) {
        j->key[CF_JOIN_TAG1] = a->refs[0].key_fn;
        j->key[CF_JOIN_TAG2] = b->refs[0].key_fn;
    }
    ta = cf_join_tag_input(a, CF_JOIN_TAG1, *keyed ? j : NULL);
    tb = cf_join_tag_input(b, CF_JOIN_TAG2, *keyed ? j : NULL);
    u = cf_b_union(ta, &tb, 1);
    /* Keyed: the union is hash-partitioned by the dispatching selector
     * (replacing a's and b's, which it calls); the consumer's
     * key_udata becomes j. Otherwise the union's refs keep each input's
     * exchange (default: FORWARD at equal parallelism, else
     * REBALANCE). */
    return *keyed ? cf_b_key_by(u, cf_join_key, j) : u;
}

cf_stream_t *
cf_b_connect_process(cf_stream_t *a, cf_stream_t *b, const char *name,
                     const cf_co_process_ops_t *ops, void *udata)
{
    const char *opname = name && *name ? name : "Co-Process";
    cf_join_t *j = cf_join_new(a->env);
    cf_process_ops_t w;
    cf_stream_t *in, *r;
    cf_snode_t *n;
    int keyed = 0;

    cf_copy_ops(&j->co, sizeof j->co, ops);
    if (ops == NULL || j->co.process1 == NULL || j->co.process2 == NULL) {
        cf_env_error(a->env,
                     "'%s': the co-process function needs process1() and "
                     "process2()",
                     opname);
        return cf_join_refused(a);
    }
    in = cf_join_input(a, b, opname, "connect", 0, j, &keyed);
    if (in == NULL)
        return cf_join_refused(a);
    /* Only process() needs a wrapper: the others take the same ctx. */
    memset(&w, 0, sizeof w);
    w.size = sizeof w;
    w.open = j->co.open;
    w.process = cf_join_co_process;
    w.finish = j->co.finish;
    w.close = j->co.close;
    w.on_timer = j->co.on_timer;
    r = cf_b_process(in, opname, &w, udata);
    n = cf_env_node(a->env, r->refs[0].node);
    n->key_udata = j; /* keyed: already, by cf_b_key_by */
    return r;
}

cf_stream_t *
cf_b_window_join(cf_stream_t *a, cf_stream_t *b, const cf_window_assigner_t *w,
                 const char *name, cf_join_fn fn, void *udata)
{
    static const cf_window_process_ops_t wops = {
        sizeof(cf_window_process_ops_t), NULL, cf_join_window_fn, NULL};
    const char *opname = name && *name ? name : "Window Join";
    cf_join_t *j = cf_join_new(a->env);
    cf_stream_t *in, *ws, *r;
    cf_snode_t *n;
    int keyed = 0;

    j->fn = fn;
    if (fn == NULL) {
        cf_env_error(a->env, "'%s': join() needs a join function", opname);
        return cf_join_refused(a);
    }
    if (w == NULL) {
        cf_env_error(a->env, "'%s': join() needs a window assigner", opname);
        return cf_join_refused(a);
    }
    in = cf_join_input(a, b, opname, "join", 1, j, &keyed);
    if (in == NULL)
        return cf_join_refused(a);
    /* The assigner's validation (and its messages) are cf_b_window's. */
    ws = cf_b_window(in, w);
    r = cf_b_window_process(ws, opname, &wops, udata);
    n = cf_env_node(a->env, r->refs[0].node);
    if (n != NULL && n->kind == CF_OP_WINDOW)
        n->key_udata = j;
    return r;
}
