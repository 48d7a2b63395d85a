/*
 * test_runtime_join.c: two-input operators (join.c) in the local runtime
 * (cf_job_run_local): keyed connect with keyed state and timers shared
 * per key by both inputs (inputs with different record layouts and key
 * selectors, p=1 and p=2); non-keyed connect (bytes and timestamps
 * preserved, empty records, a pending rebalance kept after the tag map,
 * a union of keyed streams as an input); the window join against a
 * brute-force oracle (tumbling and sliding event-time windows, input out
 * of order within the watermark bound, p=1 and p=2); the graph (names,
 * uid on the final node only, tag maps chained to their producers); and
 * the builder's errors (mixed keyed / non-keyed, window join on
 * non-keyed streams, missing functions).
 *
 * Task threads must not fail cmocka assertions: they count violations
 * (g_bad) that the test checks after the run.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventtime.h"
#include "runtime_int.h"

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* Input 1 ("left"): the key first. */
typedef struct lrec_s {
    int64_t key;
    int64_t ts;
    int64_t id;
} lrec_t;

/* Input 2 ("right"): another layout, so the two key selectors differ. */
typedef struct rrec_s {
    int64_t id;
    int64_t ts;
    int64_t key;
    int64_t extra;
} rrec_t;

static int
key_left(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = (const char *)in->data + offsetof(lrec_t, key);
    key->len = sizeof(int64_t);
    return in->len == sizeof(lrec_t) ? CF_OK : CF_ERR;
}

static int
key_right(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    /* Copied into the key's scratch: the other way a selector works. */
    memcpy(key->scratch, (const char *)in->data + offsetof(rrec_t, key),
           sizeof(int64_t));
    key->data = key->scratch;
    key->len = sizeof(int64_t);
    return in->len == sizeof(rrec_t) ? CF_OK : CF_ERR;
}

/* ------------------------------------------------------------------ */
/* Sources: a table of records, record i to subtask i % parallelism    */
/* ------------------------------------------------------------------ */

#define MAXSRC 4
#define MAXSUB 4

typedef struct srcdef_s {
    int idx;          /* 0 .. MAXSRC-1: position slot */
    const void *recs; /* n records of recsz bytes */
    size_t recsz;
    int n;
    const uint32_t *lens; /* variable lengths (recsz: stride), or NULL */
    const int64_t *ts;    /* timestamps, or NULL: the record's ts field */
} srcdef_t;

static int g_pos[MAXSRC][MAXSUB];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_bad;    /* violations seen on task threads */
static int g_opened; /* open() calls with the right udata */
static int g_finished;
static int g_early; /* join pairs of firings before the end of input */

static void
sleep_us(int us)
{
    struct timespec t = {0, (long)us * 1000};
    nanosleep(&t, NULL);
}

static void
bad(void)
{
    pthread_mutex_lock(&g_mu);
    g_bad++;
    pthread_mutex_unlock(&g_mu);
}

static int
src_next(cf_ctx_t *ctx)
{
    const srcdef_t *d = cf_ctx_udata(ctx);
    int sub = cf_ctx_subtask_index(ctx), p = cf_ctx_parallelism(ctx);
    int *pos = &g_pos[d->idx][sub];
    int i = *pos * p + sub;
    const char *rec;
    uint32_t len;
    int64_t ts;

    if (i >= d->n)
        return CF_SOURCE_END;
    (*pos)++;
    rec = (const char *)d->recs + (size_t)i * d->recsz;
    len = d->lens ? d->lens[i] : (uint32_t)d->recsz;
    if (d->ts)
        ts = d->ts[i];
    else
        memcpy(&ts, rec + 8, sizeof ts); /* lrec_t / rrec_t: ts second */
    if (cf_emit(ctx, rec, len, ts) < 0)
        return CF_ERR;
    /* Some pace, so that periodic watermarks interleave with records. */
    if (*pos % 8 == 0)
        sleep_us(500);
    return CF_SOURCE_MORE;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL, src_next,
                                        NULL};

/* ------------------------------------------------------------------ */
/* Sink: every record with its timestamp                               */
/* ------------------------------------------------------------------ */

typedef struct got_s {
    uint8_t data[64];
    uint32_t len;
    int64_t ts;
} got_t;

static got_t *g_got;
static int g_ngot, g_capgot;

static void
reset(void)
{
    pthread_mutex_lock(&g_mu);
    free(g_got);
    g_got = NULL;
    g_ngot = g_capgot = 0;
    g_bad = g_opened = g_finished = g_early = 0;
    memset(g_pos, 0, sizeof g_pos);
    pthread_mutex_unlock(&g_mu);
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    if (g_ngot == g_capgot) {
        g_capgot = g_capgot ? 2 * g_capgot : 1024;
        g_got = realloc(g_got, sizeof *g_got * (size_t)g_capgot);
    }
    if (in->len > sizeof g_got[0].data) {
        g_bad++;
    } else {
        memcpy(g_got[g_ngot].data, in->data, in->len);
        g_got[g_ngot].len = in->len;
        g_got[g_ngot].ts = in->ts;
        g_ngot++;
    }
    pthread_mutex_unlock(&g_mu);
    return CF_OK;
}

static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL, sink_invoke,
                                       NULL, NULL};

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

static cf_config_t *g_cfg;

static cf_job_t *
job_new(int parallelism)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_error_t *err = NULL;
    if (g_cfg == NULL) {
        g_cfg = cf_config_new();
        if (cf_config_set(g_cfg, "pipeline.auto-watermark-interval", "2 ms",
                          "test", &err) < 0)
            fail_msg("%s", cf_error_msg(err));
    }
    job->env = cf_env_new(g_cfg, parallelism);
    job->cfg = g_cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    return job;
}

static void
job_free(cf_job_t *job)
{
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

static void
job_run(cf_job_t *job)
{
    volatile sig_atomic_t cancel = 0;
    cf_local_result_t res;
    cf_error_t *err = NULL;

    if (job->env->error)
        fail_msg("builder: %s", job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    if (cf_job_run_local(job, &cancel, &res, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    cf_error_free(err);
    if (res.status != CF_JOB_FINISHED)
        fail_msg("status %d: %s", (int)res.status,
                 res.failure ? res.failure : "");
    free(res.failure);
}

/* A source of d's records with bounded out-of-orderness watermarks. */
static cf_stream_t *
source(cf_env_t *env, const char *name, const srcdef_t *d, int64_t bound)
{
    cf_wm_strategy_t ws = cf_wm_for_bounded_out_of_orderness(bound);
    cf_stream_t *s = cf_b_env_add_source(env, name, &src_ops, (void *)d);
    return cf_b_assign_watermarks(s, &ws, NULL);
}

/* Deterministic pseudo-random numbers. */
static uint64_t g_rng;

static uint32_t
rnd(uint32_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

/* ------------------------------------------------------------------ */
/* Keyed connect: shared keyed state and timers                        */
/* ------------------------------------------------------------------ */

static int g_udata_marker;

typedef struct cnt_out_s {
    int64_t key;
    int64_t n1, n2; /* records of input 1 / 2 of the key */
    int64_t sum1;   /* sum of input 1's ids */
    int64_t timer;  /* the timer that emitted this */
    int64_t subtask;
} cnt_out_t;

#define T1 100000
#define T2 200000

static int
co_open(cf_ctx_t *ctx)
{
    pthread_mutex_lock(&g_mu);
    if (cf_ctx_udata(ctx) == &g_udata_marker)
        g_opened++;
    else
        g_bad++;
    pthread_mutex_unlock(&g_mu);
    return CF_OK;
}

static int
co_finish(cf_ctx_t *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    g_finished++;
    pthread_mutex_unlock(&g_mu);
    return CF_OK;
}

/* Add d to the int64 value state name of the current key. */
static void
add_state(cf_ctx_t *ctx, const char *name, int64_t d)
{
    cf_state_t *st = cf_state_value(ctx, name);
    cf_slice_t v;
    int64_t x = 0;
    if (st == NULL) {
        bad();
        return;
    }
    if (cf_value_get(st, &v) == 1)
        memcpy(&x, v.data, sizeof x);
    x += d;
    cf_value_put(st, &x, sizeof x);
}

static int64_t
get_state(cf_ctx_t *ctx, const char *name)
{
    cf_state_t *st = cf_state_value(ctx, name);
    cf_slice_t v;
    int64_t x = 0;
    if (st != NULL && cf_value_get(st, &v) == 1)
        memcpy(&x, v.data, sizeof x);
    return x;
}

/* The current key is k (8 bytes). */
static void
check_key(cf_ctx_t *ctx, int64_t k)
{
    cf_slice_t key;
    if (cf_ctx_key(ctx, &key) < 0 || key.len != sizeof k ||
        memcmp(key.data, &k, sizeof k) != 0)
        bad();
}

static int
co_process1(cf_ctx_t *ctx, const cf_record_t *in)
{
    lrec_t r;
    if (in->len != sizeof r || cf_ctx_udata(ctx) != &g_udata_marker) {
        bad();
        return CF_OK;
    }
    memcpy(&r, in->data, sizeof r);
    check_key(ctx, r.key);
    if (cf_ctx_timestamp(ctx) != r.ts)
        bad();
    add_state(ctx, "n1", 1);
    add_state(ctx, "sum1", r.id);
    return cf_timer_register(ctx, CF_TIME_EVENT, T1);
}

static int
co_process2(cf_ctx_t *ctx, const cf_record_t *in)
{
    rrec_t r;
    if (in->len != sizeof r || cf_ctx_udata(ctx) != &g_udata_marker) {
        bad();
        return CF_OK;
    }
    memcpy(&r, in->data, sizeof r);
    check_key(ctx, r.key);
    if (cf_ctx_timestamp(ctx) != r.ts)
        bad();
    add_state(ctx, "n2", 1);
    return cf_timer_register(ctx, CF_TIME_EVENT, T2);
}

static int
co_on_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    cnt_out_t o;
    cf_slice_t key;

    if (domain != CF_TIME_EVENT || cf_ctx_udata(ctx) != &g_udata_marker ||
        cf_ctx_key(ctx, &key) < 0 || key.len != 8)
        bad();
    memcpy(&o.key, key.data, 8);
    o.n1 = get_state(ctx, "n1");
    o.n2 = get_state(ctx, "n2");
    o.sum1 = get_state(ctx, "sum1");
    o.timer = ts;
    o.subtask = cf_ctx_subtask_index(ctx);
    return cf_emit(ctx, &o, sizeof o, ts);
}

static const cf_co_process_ops_t count_ops = {sizeof(cf_co_process_ops_t),
                                              co_open,
                                              co_process1,
                                              co_process2,
                                              co_on_timer,
                                              co_finish,
                                              NULL};

#define NK 9

static void
run_keyed_connect(int p)
{
    enum {
        N1 = 400,
        N2 = 300
    };
    static lrec_t l[N1];
    static rrec_t r[N2];
    srcdef_t dl = {0, l, sizeof l[0], N1, NULL, NULL};
    srcdef_t dr = {1, r, sizeof r[0], N2, NULL, NULL};
    int64_t n1[NK] = {0}, n2[NK] = {0}, sum1[NK] = {0};
    int seen1[NK] = {0}, seen2[NK] = {0};
    int64_t sub_of[NK];
    cf_job_t *job = job_new(p);
    cf_stream_t *a, *b, *c;

    reset();
    g_rng = 0x1234567ull + (uint64_t)p;
    /* Key NK-1 only on input 1, key NK-2 only on input 2. */
    for (int i = 0; i < N1; i++) {
        l[i] = (lrec_t){(int64_t)rnd(NK - 1), i * 5 + rnd(30), i};
        if (l[i].key == NK - 2)
            l[i].key = NK - 1;
        n1[l[i].key]++;
        sum1[l[i].key] += i;
    }
    for (int i = 0; i < N2; i++) {
        r[i] = (rrec_t){i, i * 7 + rnd(30), (int64_t)rnd(NK - 1), -i};
        n2[r[i].key]++;
    }
    a = cf_b_key_by(source(job->env, "control", &dl, 30), key_left, NULL);
    b = cf_b_key_by(source(job->env, "data", &dr, 30), key_right, NULL);
    c = cf_b_connect_process(a, b, NULL, &count_ops, &g_udata_marker);
    cf_b_sink(c, "out", &sink_ops, NULL);
    job_run(job);

    assert_int_equal(g_bad, 0);
    assert_int_equal(g_opened, p);
    assert_int_equal(g_finished, p);
    for (int k = 0; k < NK; k++)
        sub_of[k] = -1;
    for (int i = 0; i < g_ngot; i++) {
        cnt_out_t o;
        assert_int_equal(g_got[i].len, sizeof o);
        memcpy(&o, g_got[i].data, sizeof o);
        assert_true(o.key >= 0 && o.key < NK);
        assert_int_equal(g_got[i].ts, o.timer);
        /* Both inputs updated the same per-key state, and each timer saw
         * the final counts (the timers fire at the end of input). */
        assert_int_equal(o.n1, n1[o.key]);
        assert_int_equal(o.n2, n2[o.key]);
        assert_int_equal(o.sum1, sum1[o.key]);
        /* One instance per key. */
        if (sub_of[o.key] < 0)
            sub_of[o.key] = o.subtask;
        assert_int_equal(sub_of[o.key], o.subtask);
        if (o.timer == T1)
            seen1[o.key]++;
        else if (o.timer == T2)
            seen2[o.key]++;
        else
            fail_msg("timer %lld", (long long)o.timer);
    }
    /* A timer per key and input that had records (registered many times,
     * unique per key and timestamp). */
    for (int k = 0; k < NK; k++) {
        assert_int_equal(seen1[k], n1[k] > 0);
        assert_int_equal(seen2[k], n2[k] > 0);
    }
    assert_int_equal(seen1[NK - 2], 0);
    assert_int_equal(seen2[NK - 1], 0);
    if (p > 1) {
        int on[MAXSUB] = {0};
        for (int k = 0; k < NK; k++)
            if (sub_of[k] >= 0)
                on[sub_of[k]]++;
        assert_true(on[0] > 0 && on[1] > 0); /* keys spread */
    }
    job_free(job);
}

static void
test_keyed_connect_p1(void **st)
{
    (void)st;
    run_keyed_connect(1);
}

static void
test_keyed_connect_p2(void **st)
{
    (void)st;
    run_keyed_connect(2);
}

/* ------------------------------------------------------------------ */
/* Non-keyed connect                                                   */
/* ------------------------------------------------------------------ */

/* Emit input tag + the record's bytes, at the record's timestamp. */
static int
echo(cf_ctx_t *ctx, const cf_record_t *in, uint8_t t)
{
    uint8_t buf[64];
    if (in->len + 1 > sizeof buf || cf_ctx_timestamp(ctx) != in->ts ||
        cf_ctx_udata(ctx) != &g_udata_marker) {
        bad();
        return CF_OK;
    }
    buf[0] = t;
    memcpy(buf + 1, in->data, in->len);
    return cf_emit(ctx, buf, in->len + 1, cf_ctx_timestamp(ctx));
}

static int
echo1(cf_ctx_t *ctx, const cf_record_t *in)
{
    return echo(ctx, in, 1);
}

static int
echo2(cf_ctx_t *ctx, const cf_record_t *in)
{
    return echo(ctx, in, 2);
}

static const cf_co_process_ops_t echo_ops = {
    sizeof(cf_co_process_ops_t), co_open, echo1, echo2, NULL, co_finish, NULL};

static int
cmp_got(const void *x, const void *y)
{
    const got_t *a = x, *b = y;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    int c = memcmp(a->data, b->data, a->len);
    if (c)
        return c;
    return a->ts < b->ts ? -1 : a->ts > b->ts;
}

/* Input 1: strings of 0..20 bytes (some empty), one source at p=1;
 * input 2: rrec_t at p=2; the co-process at p=2. Every record reaches
 * process1 / process2 of its input once, unchanged, with its
 * timestamp. */
static void
test_nonkeyed_connect(void **st)
{
    enum {
        N1 = 200,
        N2 = 150,
        W = 24
    };
    static char strs[N1][W];
    static uint32_t lens[N1];
    static int64_t ts1[N1];
    static rrec_t r[N2];
    srcdef_t d1 = {0, strs, W, N1, lens, ts1};
    srcdef_t d2 = {1, r, sizeof r[0], N2, NULL, NULL};
    got_t *want;
    int nwant = 0;
    cf_job_t *job = job_new(2);
    cf_stream_t *a, *b, *c;
    (void)st;

    reset();
    g_rng = 99;
    for (int i = 0; i < N1; i++) {
        lens[i] = i % 10 == 0 ? 0 : rnd(21);
        for (uint32_t k = 0; k < lens[i]; k++)
            strs[i][k] = (char)('a' + rnd(26));
        ts1[i] = 1000 + i;
    }
    for (int i = 0; i < N2; i++)
        r[i] = (rrec_t){i, 5000 + i * 3, rnd(5), i * 11};
    want = calloc(N1 + N2, sizeof *want);
    for (int i = 0; i < N1; i++) {
        want[nwant].data[0] = 1;
        memcpy(want[nwant].data + 1, strs[i], lens[i]);
        want[nwant].len = lens[i] + 1;
        want[nwant++].ts = ts1[i];
    }
    for (int i = 0; i < N2; i++) {
        want[nwant].data[0] = 2;
        memcpy(want[nwant].data + 1, &r[i], sizeof r[i]);
        want[nwant].len = sizeof r[i] + 1;
        want[nwant++].ts = r[i].ts;
    }

    a = cf_b_env_add_source(job->env, "strings", &src_ops, &d1);
    cf_b_set_parallelism(a, 1);
    b = cf_b_env_add_source(job->env, "recs", &src_ops, &d2);
    /* A pending rebalance of input 1: the tag map keeps it on its
     * output (it runs at the source's parallelism, chained). */
    a = cf_b_partition(a, CF_PARTITION_REBALANCE);
    c = cf_b_connect_process(a, b, "echo", &echo_ops, &g_udata_marker);
    cf_b_set_uid(c, "echo-uid");
    cf_b_sink(c, "out", &sink_ops, NULL);
    job_run(job);

    assert_int_equal(g_bad, 0);
    assert_int_equal(g_opened, 2);
    assert_int_equal(g_finished, 2);
    assert_int_equal(g_ngot, nwant);
    qsort(g_got, (size_t)g_ngot, sizeof *g_got, cmp_got);
    qsort(want, (size_t)nwant, sizeof *want, cmp_got);
    for (int i = 0; i < nwant; i++) {
        assert_int_equal(g_got[i].len, want[i].len);
        assert_memory_equal(g_got[i].data, want[i].data, want[i].len);
        assert_int_equal(g_got[i].ts, want[i].ts);
    }

    /* The graph: the tag maps chain to their sources (the first at
     * p=1), the rebalance sits on the edge into the co-process, which
     * has the user's name and uid; the internal maps have none. */
    {
        int found = 0;
        for (int v = 0; v < job->nvertices; v++) {
            cf_jvertex_t *jv = &job->vertices[v];
            cf_snode_t *head = cf_env_node(job->env, jv->ops[0].node);
            if (strcmp(jv->name, "Source: strings -> Map") == 0) {
                assert_int_equal(jv->parallelism, 1);
                assert_int_equal(jv->nouts, 1);
                assert_int_equal(jv->outs[0].partitioner,
                                 CF_PARTITION_REBALANCE);
                found |= 1;
            } else if (strcmp(jv->name, "Source: recs -> Map") == 0) {
                assert_int_equal(jv->outs[0].partitioner, CF_PARTITION_FORWARD);
                found |= 2;
            } else if (strncmp(jv->name, "echo", 4) == 0) {
                assert_string_equal(head->uid, "echo-uid");
                assert_int_equal(jv->nins, 2);
                found |= 4;
            }
        }
        assert_int_equal(found, 7);
        for (int i = 0; i < job->env->nnodes; i++) {
            cf_snode_t *n = job->env->nodes[i];
            if (strcmp(n->name, "Map") == 0)
                assert_null(n->uid);
        }
    }
    free(want);
    job_free(job);
}

/* A non-keyed connect whose input 1 is a union of keyed streams (not
 * a keyed stream, but hash-partitioned): the hash exchange happens
 * after the tag map with the input's own selector, so equal keys of
 * input 1 still meet in one instance. */
typedef struct sub_out_s {
    int64_t key;
    int64_t subtask;
    int64_t input;
} sub_out_t;

static int
where1(cf_ctx_t *ctx, const cf_record_t *in)
{
    lrec_t r;
    sub_out_t o;
    memcpy(&r, in->data, sizeof r);
    o = (sub_out_t){r.key, cf_ctx_subtask_index(ctx), 1};
    return cf_emit(ctx, &o, sizeof o, in->ts);
}

static int
where2(cf_ctx_t *ctx, const cf_record_t *in)
{
    rrec_t r;
    sub_out_t o;
    memcpy(&r, in->data, sizeof r);
    o = (sub_out_t){r.key, cf_ctx_subtask_index(ctx), 2};
    return cf_emit(ctx, &o, sizeof o, in->ts);
}

static const cf_co_process_ops_t where_ops = {
    sizeof(cf_co_process_ops_t), NULL, where1, where2, NULL, NULL, NULL};

static void
test_nonkeyed_connect_hash_input(void **st)
{
    enum {
        N = 300
    };
    static lrec_t l1[N], l2[N];
    static rrec_t r[N];
    srcdef_t d1 = {0, l1, sizeof l1[0], N, NULL, NULL};
    srcdef_t d2 = {1, l2, sizeof l2[0], N, NULL, NULL};
    srcdef_t d3 = {2, r, sizeof r[0], N, NULL, NULL};
    int64_t sub_of[16];
    cf_job_t *job = job_new(2);
    cf_stream_t *x, *y, *u, *b, *c;
    int n1 = 0, n2 = 0;
    (void)st;

    reset();
    for (int i = 0; i < N; i++) {
        l1[i] = (lrec_t){i % 16, i, i};
        l2[i] = (lrec_t){(i * 7) % 16, i, i};
        r[i] = (rrec_t){i, i, i % 16, 0};
    }
    x = cf_b_key_by(cf_b_env_add_source(job->env, "x", &src_ops, &d1), key_left,
                    NULL);
    y = cf_b_key_by(cf_b_env_add_source(job->env, "y", &src_ops, &d2), key_left,
                    NULL);
    u = cf_b_union(x, &y, 1);
    b = cf_b_env_add_source(job->env, "z", &src_ops, &d3);
    c = cf_b_connect_process(u, b, NULL, &where_ops, NULL);
    cf_b_sink(c, "out", &sink_ops, NULL);
    job_run(job);

    for (int k = 0; k < 16; k++)
        sub_of[k] = -1;
    for (int i = 0; i < g_ngot; i++) {
        sub_out_t o;
        memcpy(&o, g_got[i].data, sizeof o);
        if (o.input == 2) {
            n2++;
            continue;
        }
        n1++;
        if (sub_of[o.key] < 0)
            sub_of[o.key] = o.subtask;
        assert_int_equal(sub_of[o.key], o.subtask);
    }
    assert_int_equal(n1, 2 * N);
    assert_int_equal(n2, N);
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Window join                                                         */
/* ------------------------------------------------------------------ */

typedef struct jout_s {
    int64_t key, lid, rid, wmax; /* wmax: cf_ctx_timestamp() */
} jout_t;

static int
join_fn(cf_ctx_t *ctx, const cf_record_t *left, const cf_record_t *right)
{
    lrec_t l;
    rrec_t r;
    jout_t o;

    if (left->len != sizeof l || right->len != sizeof r ||
        cf_ctx_udata(ctx) != &g_udata_marker) {
        bad();
        return CF_OK;
    }
    memcpy(&l, left->data, sizeof l);
    memcpy(&r, right->data, sizeof r);
    if (l.key != r.key || left->ts != l.ts || right->ts != r.ts)
        bad();
    check_key(ctx, l.key);
    if (cf_ctx_current_watermark(ctx) != CF_WATERMARK_MAX) {
        pthread_mutex_lock(&g_mu);
        g_early++;
        pthread_mutex_unlock(&g_mu);
    }
    o = (jout_t){l.key, l.id, r.id, cf_ctx_timestamp(ctx)};
    return cf_emit(ctx, &o, sizeof o, cf_ctx_timestamp(ctx));
}

static int
cmp_jout(const void *x, const void *y)
{
    const jout_t *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->lid != b->lid)
        return a->lid < b->lid ? -1 : 1;
    if (a->rid != b->rid)
        return a->rid < b->rid ? -1 : 1;
    return a->wmax < b->wmax ? -1 : a->wmax > b->wmax;
}

/* The window starts of ts (Flink's assigners, offset 0, ts >= 0). */
static int
windows_of(const cf_window_assigner_t *w, int64_t ts, int64_t *starts)
{
    int n = 0;
    if (w->kind == CF_WINDOW_TUMBLING) {
        starts[n++] = ts - ts % w->size_ms;
        return n;
    }
    for (int64_t s = ts - ts % w->slide_ms; s > ts - w->size_ms;
         s -= w->slide_ms)
        starts[n++] = s;
    return n;
}

/* Session windows of one key: Flink merges [ts, ts + gap) windows that
 * intersect (TimeWindow.intersects: touching counts). Sets the session
 * end of every element of the key, given their timestamps. */
typedef struct sess_el_s {
    int64_t ts;
    int64_t *end; /* where to store the session's end */
} sess_el_t;

static int
cmp_sess(const void *x, const void *y)
{
    const sess_el_t *a = x, *b = y;
    return a->ts < b->ts ? -1 : a->ts > b->ts;
}

static void
sessions(sess_el_t *el, int n, int64_t gap)
{
    int first = 0;
    int64_t end = 0;
    qsort(el, (size_t)n, sizeof *el, cmp_sess);
    for (int i = 0; i <= n; i++) {
        if (i == n || (i > first && el[i].ts > end)) {
            for (int k = first; k < i; k++)
                *el[k].end = end;
            first = i;
        }
        if (i < n)
            end = i == first ? el[i].ts + gap
                             : (el[i].ts + gap > end ? el[i].ts + gap : end);
    }
}

static void
run_window_join(int p, cf_window_assigner_t w, int64_t bound, int keys,
                int check_order)
{
    enum {
        N1 = 300,
        N2 = 260
    };
    static lrec_t l[N1];
    static rrec_t r[N2];
    static int64_t lend[N1], rend[N2];
    srcdef_t dl = {0, l, sizeof l[0], N1, NULL, NULL};
    srcdef_t dr = {1, r, sizeof r[0], N2, NULL, NULL};
    jout_t *want = NULL;
    size_t nwant = 0, capwant = 0;
    cf_job_t *job = job_new(p);
    cf_stream_t *a, *b, *j;

    reset();
    g_rng = 0xfeedull + (uint64_t)p * 31 + (uint64_t)w.kind;
    /* Out of order by less than the bound: ts_i = step * i + jitter,
     * jitter < bound - step, so no record is ever late. */
    for (int i = 0; i < N1; i++)
        l[i] = (lrec_t){(int64_t)rnd((uint32_t)keys),
                        i * 7 + rnd((uint32_t)bound - 7), i};
    for (int i = 0; i < N2; i++)
        r[i] = (rrec_t){i, i * 8 + rnd((uint32_t)bound - 8),
                        (int64_t)rnd((uint32_t)keys), 0};
    if (w.kind == CF_WINDOW_SESSION) {
        /* Gaps in time (no records in [1000, 1200) and [2000, 2100)),
         * so that sessions split. */
        for (int i = 0; i < N1; i++)
            if ((l[i].ts >= 1000 && l[i].ts < 1200) ||
                (l[i].ts >= 2000 && l[i].ts < 2100))
                l[i].ts = l[i].ts < 1200 ? 999 : 1999;
        for (int i = 0; i < N2; i++)
            if ((r[i].ts >= 1000 && r[i].ts < 1200) ||
                (r[i].ts >= 2000 && r[i].ts < 2100))
                r[i].ts = r[i].ts < 1200 ? 999 : 1999;
        for (int k = 0; k < keys; k++) {
            sess_el_t el[N1 + N2];
            int n = 0;
            for (int i = 0; i < N1; i++)
                if (l[i].key == k)
                    el[n++] = (sess_el_t){l[i].ts, &lend[i]};
            for (int i = 0; i < N2; i++)
                if (r[i].key == k)
                    el[n++] = (sess_el_t){r[i].ts, &rend[i]};
            sessions(el, n, w.gap_ms);
        }
    }

    /* The oracle: every (left, right) of the same key in the same
     * window, at the window's max timestamp. */
    for (int i = 0; i < N1; i++) {
        int64_t ls[64];
        int nl = w.kind == CF_WINDOW_SESSION ? 0 : windows_of(&w, l[i].ts, ls);
        for (int k = 0; k < N2; k++) {
            int64_t rs[64];
            int nr;
            if (r[k].key != l[i].key)
                continue;
            if (w.kind == CF_WINDOW_SESSION) {
                if (lend[i] != rend[k])
                    continue;
                if (nwant == capwant) {
                    capwant = capwant ? 2 * capwant : 4096;
                    want = realloc(want, sizeof *want * capwant);
                }
                want[nwant++] =
                    (jout_t){l[i].key, l[i].id, r[k].id, lend[i] - 1};
                continue;
            }
            nr = windows_of(&w, r[k].ts, rs);
            for (int x = 0; x < nl; x++)
                for (int y = 0; y < nr; y++) {
                    if (ls[x] != rs[y])
                        continue;
                    if (nwant == capwant) {
                        capwant = capwant ? 2 * capwant : 4096;
                        want = realloc(want, sizeof *want * capwant);
                    }
                    want[nwant++] = (jout_t){l[i].key, l[i].id, r[k].id,
                                             ls[x] + w.size_ms - 1};
                }
        }
    }
    assert_true(nwant > 100);

    a = cf_b_key_by(source(job->env, "left", &dl, bound), key_left, NULL);
    b = cf_b_key_by(source(job->env, "right", &dr, bound), key_right, NULL);
    j = cf_b_window_join(a, b, &w, NULL, join_fn, &g_udata_marker);
    cf_b_sink(j, "out", &sink_ops, NULL);
    job_run(job);

    assert_int_equal(g_bad, 0);
    fprintf(stderr, "window join p=%d: %zu pairs, %d before the end\n", p,
            nwant, g_early);
    assert_int_equal((size_t)g_ngot, nwant);
    {
        jout_t *got = calloc((size_t)g_ngot + 1, sizeof *got);
        for (int i = 0; i < g_ngot; i++) {
            assert_int_equal(g_got[i].len, sizeof(jout_t));
            memcpy(&got[i], g_got[i].data, sizeof got[i]);
            /* The emitted timestamp: the window's max timestamp. */
            assert_int_equal(g_got[i].ts, got[i].wmax);
        }
        qsort(want, nwant, sizeof *want, cmp_jout);
        /* One window at p=1: Flink's nested loop, for each left in
         * arrival order, for each right in arrival order, i.e. (lid,
         * rid) ascending as the sources emit in id order. */
        if (!check_order)
            qsort(got, (size_t)g_ngot, sizeof *got, cmp_jout);
        for (size_t i = 0; i < nwant; i++)
            if (cmp_jout(&got[i], &want[i]) != 0)
                fail_msg("pair %zu: got (%lld %lld %lld %lld) want (%lld "
                         "%lld %lld %lld)",
                         i, (long long)got[i].key, (long long)got[i].lid,
                         (long long)got[i].rid, (long long)got[i].wmax,
                         (long long)want[i].key, (long long)want[i].lid,
                         (long long)want[i].rid, (long long)want[i].wmax);
        free(got);
    }
    /* Default name. */
    {
        int found = 0;
        for (int i = 0; i < job->env->nnodes; i++)
            found += strcmp(job->env->nodes[i]->name, "Window Join") == 0 &&
                     job->env->nodes[i]->kind == CF_OP_WINDOW;
        assert_int_equal(found, 1);
    }
    free(want);
    job_free(job);
}

static void
test_window_join_tumbling_p1(void **st)
{
    (void)st;
    run_window_join(1, cf_tumbling_windows(CF_TIME_EVENT, 100, 0), 40, 5, 0);
}

/* One key, one window holding every element: more right elements than
 * the stack index holds, and the pairs' order. */
static void
test_window_join_one_big_window(void **st)
{
    (void)st;
    run_window_join(1, cf_tumbling_windows(CF_TIME_EVENT, 1 << 20, 0), 40, 1,
                    1);
}

static void
test_window_join_session_p2(void **st)
{
    (void)st;
    run_window_join(2, cf_session_windows(CF_TIME_EVENT, 30), 40, 4, 0);
}

static void
test_window_join_tumbling_p2(void **st)
{
    (void)st;
    run_window_join(2, cf_tumbling_windows(CF_TIME_EVENT, 100, 0), 40, 5, 0);
}

static void
test_window_join_sliding_p1(void **st)
{
    (void)st;
    run_window_join(1, cf_sliding_windows(CF_TIME_EVENT, 100, 30, 0), 40, 5, 0);
}

static void
test_window_join_sliding_p2(void **st)
{
    (void)st;
    run_window_join(2, cf_sliding_windows(CF_TIME_EVENT, 100, 30, 0), 40, 5, 0);
}

/* ------------------------------------------------------------------ */
/* Builder errors                                                      */
/* ------------------------------------------------------------------ */

static void
expect_error(cf_env_t *env, const char *a, const char *b)
{
    if (env->error == NULL)
        fail_msg("no error (want '%s')", a);
    if (strstr(env->error, a) == NULL || (b && strstr(env->error, b) == NULL))
        fail_msg("error '%s' does not name '%s' / '%s'", env->error, a,
                 b ? b : "");
}

static void
test_build_errors(void **st)
{
    static const srcdef_t d = {0, NULL, 1, 0, NULL, NULL};
    cf_window_assigner_t tw = cf_tumbling_windows(CF_TIME_EVENT, 100, 0);
    cf_co_process_ops_t half = echo_ops;
    cf_job_t *job;
    cf_stream_t *a, *b, *r;
    (void)st;

    /* Mixed keyed / non-keyed connect: named after the operator. */
    job = job_new(1);
    a = cf_b_key_by(cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d),
                    key_left, NULL);
    b = cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d);
    r = cf_b_connect_process(a, b, NULL, &echo_ops, NULL);
    assert_non_null(r); /* a usable handle */
    cf_b_sink(r, "s", &sink_ops, NULL);
    expect_error(job->env, "'Co-Process'", "input 2 is not keyed");
    job_free(job);

    job = job_new(1);
    a = cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d);
    b = cf_b_key_by(cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d),
                    key_right, NULL);
    cf_b_connect_process(a, b, "my-co", &echo_ops, NULL);
    expect_error(job->env, "'my-co'", "input 1 is not keyed");
    job_free(job);

    /* Window join of non-keyed streams (one or both). */
    job = job_new(1);
    a = cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d);
    b = cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d);
    r = cf_b_window_join(a, b, &tw, "my-join", join_fn, NULL);
    cf_b_sink(r, "s", &sink_ops, NULL);
    expect_error(job->env, "'my-join'", "keyed");
    job_free(job);

    job = job_new(1);
    a = cf_b_key_by(cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d),
                    key_left, NULL);
    b = cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d);
    cf_b_window_join(a, b, &tw, NULL, join_fn, NULL);
    expect_error(job->env, "'Window Join'", "input 2 is not keyed");
    job_free(job);

    /* The assigner's validation is the window operator's. */
    job = job_new(1);
    a = cf_b_key_by(cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d),
                    key_left, NULL);
    b = cf_b_key_by(cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d),
                    key_right, NULL);
    tw.size_ms = 0;
    cf_b_window_join(a, b, &tw, NULL, join_fn, NULL);
    expect_error(job->env, "TumblingEventTimeWindows", NULL);
    job_free(job);

    /* Missing functions. */
    job = job_new(1);
    a = cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d);
    b = cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d);
    half.process2 = NULL;
    cf_b_connect_process(a, b, NULL, &half, NULL);
    expect_error(job->env, "'Co-Process'", "process2()");
    job_free(job);

    job = job_new(1);
    a = cf_b_key_by(cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d),
                    key_left, NULL);
    b = cf_b_key_by(cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d),
                    key_right, NULL);
    cf_b_window_join(a, b, &tw, NULL, NULL, NULL);
    expect_error(job->env, "'Window Join'", "join function");
    job_free(job);

    /* Applied to a sink. */
    job = job_new(1);
    a = cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d);
    b = cf_b_sink(cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d),
                  "snk", &sink_ops, NULL);
    cf_b_connect_process(a, b, NULL, &echo_ops, NULL);
    expect_error(job->env, "connect()", "snk");
    job_free(job);
}

/* A valid keyed graph builds: the keyed operator's input edges are HASH
 * from the two tag maps, which chain to their producers. */
static void
test_graph_keyed(void **st)
{
    static const srcdef_t d = {0, NULL, 1, 0, NULL, NULL};
    cf_window_assigner_t tw = cf_tumbling_windows(CF_TIME_EVENT, 100, 0);
    cf_job_t *job = job_new(2);
    cf_error_t *err = NULL;
    cf_stream_t *a, *b, *r;
    int hash_ins = 0;
    (void)st;

    a = cf_b_key_by(cf_b_env_add_source(job->env, "a", &src_ops, (void *)&d),
                    key_left, NULL);
    b = cf_b_key_by(cf_b_env_add_source(job->env, "b", &src_ops, (void *)&d),
                    key_right, NULL);
    r = cf_b_window_join(a, b, &tw, "wj", join_fn, NULL);
    cf_b_set_uid(r, "wj-uid");
    cf_b_set_parallelism(r, 1);
    cf_b_set_parallelism(cf_b_sink(r, "s", &sink_ops, NULL), 1);
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    assert_int_equal(job->nvertices, 3);
    for (int v = 0; v < job->nvertices; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        if (strncmp(jv->name, "Source: ", 8) == 0) {
            assert_non_null(strstr(jv->name, " -> Map"));
            assert_int_equal(jv->parallelism, 2);
            assert_int_equal(jv->nouts, 1);
            hash_ins += jv->outs[0].partitioner == CF_PARTITION_HASH;
        } else {
            cf_snode_t *head = cf_env_node(job->env, jv->ops[0].node);
            assert_string_equal(head->name, "wj");
            assert_string_equal(head->uid, "wj-uid");
            assert_int_equal(head->keyed, 1);
            assert_int_equal(jv->parallelism, 1);
        }
    }
    assert_int_equal(hash_ins, 2);
    job_free(job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_connect_p1),
        cmocka_unit_test(test_keyed_connect_p2),
        cmocka_unit_test(test_nonkeyed_connect),
        cmocka_unit_test(test_nonkeyed_connect_hash_input),
        cmocka_unit_test(test_window_join_tumbling_p1),
        cmocka_unit_test(test_window_join_tumbling_p2),
        cmocka_unit_test(test_window_join_sliding_p1),
        cmocka_unit_test(test_window_join_sliding_p2),
        cmocka_unit_test(test_window_join_one_big_window),
        cmocka_unit_test(test_window_join_session_p2),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_graph_keyed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    reset();
    if (g_cfg)
        cf_config_destroy(g_cfg);
    return rc;
}
