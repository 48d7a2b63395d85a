/*
 * test_runtime_interval_join.c: the interval join (interval_join.c),
 * a.intervalJoin(b).between(lower, upper).process(fn).
 *
 *  - end to end in the local runtime (cf_job_run_local), p = 1 and 2,
 *    negative, positive, mixed and zero bounds: random out-of-order
 *    input within the watermark bound against a brute-force oracle (all
 *    pairs with the same key and lower <= ts_b - ts_a <= upper), the
 *    result timestamp max(ts_a, ts_b) (cf_ctx_timestamp() in fn and the
 *    emitted record's), the user's udata in fn, and both buffers empty
 *    when the join finishes;
 *  - on one task instance, deterministically: the pairs of each element,
 *    cleanup timers removing exactly the due buckets (buffer sizes),
 *    late elements dropped and counted, records without a timestamp
 *    failing the task;
 *  - buffers and cleanup timers survive a snapshot and restore;
 *  - the graph: the tag maps chain to the inputs' producers, the join is
 *    behind a HASH exchange;
 *  - builder errors: lower > upper (Flink's message), non-keyed inputs.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "eventtime.h"
#include "op_ckpt.h"
#include "runtime_int.h"
#include "state.h"
#include "task.h"
#include "timers.h"

#include <cmocka.h>

uint64_t cf_ij_late_dropped(void); /* interval_join.c */

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

typedef struct ev_s {
    int64_t key;
    int64_t id; /* unique over both sides */
    int64_t ts;
} ev_t;

typedef struct out_s {
    int64_t lid, rid;
    int64_t lkey, rkey;
    int64_t fn_ts;   /* cf_ctx_timestamp() in fn */
    int64_t rec_ts;  /* the emitted record's, seen by the sink */
    int64_t lts, rts; /* the timestamps fn got */
} out_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static out_t *g_out;
static int g_nout, g_cap;
static int g_bad_udata;     /* fn saw another udata */
static int g_finish_calls;  /* join instances that finished */
static int g_finish_nonempty; /* ... with buffered entries left */
static int g_emit = 1;      /* fn emits (end to end) or only records */
static int g_user_token;

/* The inputs: per side, per source subtask. */
#define MAXSUB 2
static ev_t *g_in[2][MAXSUB];
static int g_nin[2][MAXSUB];
static int g_pos[2][MAXSUB];

static void
out_reset(void)
{
    pthread_mutex_lock(&g_mu);
    free(g_out);
    g_out = NULL;
    g_nout = g_cap = 0;
    g_bad_udata = 0;
    g_finish_calls = g_finish_nonempty = 0;
    pthread_mutex_unlock(&g_mu);
}

static void
out_add(const out_t *o)
{
    pthread_mutex_lock(&g_mu);
    if (g_nout == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 1024;
        g_out = realloc(g_out, sizeof *g_out * (size_t)g_cap);
    }
    g_out[g_nout++] = *o;
    pthread_mutex_unlock(&g_mu);
}

static void
sleep_us(int us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static int
src_next(cf_ctx_t *ctx, int side)
{
    int sub = cf_ctx_subtask_index(ctx);
    ev_t *e;
    if (g_pos[side][sub] >= g_nin[side][sub])
        return CF_SOURCE_END;
    e = &g_in[side][sub][g_pos[side][sub]++];
    if (cf_emit(ctx, e, sizeof *e, e->ts) < 0)
        return CF_ERR;
    /* Let watermarks and cleanup timers happen while the input runs. */
    if (g_pos[side][sub] % 16 == 0)
        sleep_us(300);
    return CF_SOURCE_MORE;
}

static int
src_left(cf_ctx_t *ctx)
{
    return src_next(ctx, 0);
}

static int
src_right(cf_ctx_t *ctx)
{
    return src_next(ctx, 1);
}

static const cf_source_ops_t left_ops = {sizeof(cf_source_ops_t), NULL,
                                         src_left, NULL};
static const cf_source_ops_t right_ops = {sizeof(cf_source_ops_t), NULL,
                                          src_right, NULL};

static int
key_ev(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    if (in->len != sizeof(ev_t))
        return CF_ERR; /* the tag must be gone */
    key->data = in->data; /* ev.key */
    key->len = sizeof(int64_t);
    return CF_OK;
}

static int
join_fn(cf_ctx_t *ctx, const cf_record_t *l, const cf_record_t *r)
{
    ev_t a, b;
    out_t o;
    if (l->len != sizeof a || r->len != sizeof b)
        return cf_fail(ctx, "bad record lengths %u %u", l->len, r->len);
    memcpy(&a, l->data, sizeof a);
    memcpy(&b, r->data, sizeof b);
    if (cf_ctx_udata(ctx) != &g_user_token) {
        pthread_mutex_lock(&g_mu);
        g_bad_udata++;
        pthread_mutex_unlock(&g_mu);
    }
    memset(&o, 0, sizeof o);
    o.lid = a.id;
    o.rid = b.id;
    o.lkey = a.key;
    o.rkey = b.key;
    o.fn_ts = cf_ctx_timestamp(ctx);
    o.lts = l->ts;
    o.rts = r->ts;
    o.rec_ts = CF_NO_TIMESTAMP;
    if (!g_emit) {
        out_add(&o);
        return CF_OK;
    }
    return cf_emit(ctx, &o, sizeof o, cf_ctx_timestamp(ctx));
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    out_t o;
    (void)ctx;
    memcpy(&o, in->data, sizeof o);
    o.rec_ts = in->ts;
    out_add(&o);
    return CF_OK;
}

static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                       sink_invoke, NULL, NULL};

/* The buffers of the join instance (introspection: every key). */
static uint64_t
buffered_keys(cf_ctx_t *ctx, int side)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(
        ctx->kstate, side == 0 ? "_cflink_ij_left" : "_cflink_ij_right",
        CF_STATE_MAP, NULL, ctx, &err);
    if (st == NULL) {
        cf_error_free(err);
        return UINT64_MAX;
    }
    return cf_kstate_size(st);
}

static int
join_finish(cf_ctx_t *ctx)
{
    uint64_t n = buffered_keys(ctx, 0) + buffered_keys(ctx, 1);
    pthread_mutex_lock(&g_mu);
    g_finish_calls++;
    g_finish_nonempty += n != 0;
    pthread_mutex_unlock(&g_mu);
    return CF_OK;
}

static cf_config_t *
cfg_new(const char *interval)
{
    cf_config_t *cfg = cf_config_new();
    cf_error_t *err = NULL;
    if (cf_config_set(cfg, "pipeline.auto-watermark-interval", interval,
                      "test", &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    return cfg;
}

static cf_job_t *
job_new(cf_config_t *cfg, int parallelism)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    job->env = cf_env_new(cfg, parallelism);
    job->cfg = cfg;
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

/* left.keyBy(key).intervalJoin(right.keyBy(key)).between(lo, hi)
 * .process(join_fn) -> sink; watermarks: bounded out-of-orderness B. */
static cf_stream_t *
build_join(cf_job_t *job, int64_t lo, int64_t hi, int64_t bound,
           cf_stream_t **left, cf_stream_t **right)
{
    cf_wm_strategy_t ws = cf_wm_for_bounded_out_of_orderness(bound);
    cf_stream_t *l, *r, *j;
    cf_hooks_t hooks;

    memset(&hooks, 0, sizeof hooks);
    hooks.size = sizeof hooks;
    hooks.finish = join_finish;
    l = cf_b_env_add_source(job->env, "left", &left_ops, NULL);
    l = cf_b_assign_watermarks(l, &ws, NULL);
    r = cf_b_env_add_source(job->env, "right", &right_ops, NULL);
    r = cf_b_assign_watermarks(r, &ws, NULL);
    if (left)
        *left = l;
    if (right)
        *right = r;
    j = cf_b_interval_join(cf_b_key_by(l, key_ev, NULL),
                           cf_b_key_by(r, key_ev, NULL), lo, hi, "ij",
                           join_fn, &g_user_token);
    cf_b_set_hooks(j, &hooks);
    return j;
}

static char *
job_run(cf_job_t *job, cf_job_status_t want)
{
    volatile sig_atomic_t cancel = 0;
    cf_local_result_t res;
    cf_error_t *err = NULL;

    if (job->env->error)
        fail_msg("builder: %s", job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    if (cf_job_run_local(job, &cancel, &res, &err) < 0 &&
        want == CF_JOB_FINISHED)
        fail_msg("%s", cf_error_msg(err));
    cf_error_free(err);
    if (res.status != want)
        fail_msg("status %d (want %d): %s", (int)res.status, (int)want,
                 res.failure ? res.failure : "");
    return res.failure;
}

/* ------------------------------------------------------------------ */
/* End to end against the oracle                                       */
/* ------------------------------------------------------------------ */

static uint64_t g_rng;

static uint64_t
rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void
inputs_free(void)
{
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < MAXSUB; k++) {
            free(g_in[s][k]);
            g_in[s][k] = NULL;
            g_nin[s][k] = g_pos[s][k] = 0;
        }
}

/* Per side and subtask n events: ts = i * step + jitter in [0, bound],
 * so a record is never behind max - bound - 1 (never late). */
static void
inputs_make(int p, int n, int64_t step, int64_t bound, int nkeys)
{
    int64_t id = 0;
    inputs_free();
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < p; k++) {
            g_in[s][k] = calloc((size_t)n, sizeof(ev_t));
            g_nin[s][k] = n;
            for (int i = 0; i < n; i++) {
                ev_t *e = &g_in[s][k][i];
                e->key = (int64_t)(rnd() % (uint64_t)nkeys);
                e->id = id++;
                e->ts = 1000 + i * step +
                        (int64_t)(rnd() % (uint64_t)(bound + 1));
            }
        }
}

static int
cmp_pair(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    if (a[1] != b[1])
        return a[1] < b[1] ? -1 : 1;
    return 0;
}

static void
run_oracle(int p, int64_t lo, int64_t hi, uint64_t seed)
{
    const int n = 300, nkeys = 5;
    const int64_t step = 3, bound = 25;
    cf_config_t *cfg = cfg_new("1 ms");
    cf_job_t *job = job_new(cfg, p);
    int64_t *want = NULL, *got;
    int nwant = 0, cap = 0;
    cf_stream_t *j;

    g_rng = seed;
    out_reset();
    g_emit = 1;
    inputs_make(p, n, step, bound, nkeys);
    j = build_join(job, lo, hi, bound, NULL, NULL);
    cf_b_sink(j, "sink", &sink_ops, NULL);
    free(job_run(job, CF_JOB_FINISHED));

    /* The oracle: every pair of the same key in range. */
    for (int a = 0; a < p; a++)
        for (int i = 0; i < g_nin[0][a]; i++)
            for (int b = 0; b < p; b++)
                for (int k = 0; k < g_nin[1][b]; k++) {
                    const ev_t *l = &g_in[0][a][i], *r = &g_in[1][b][k];
                    int64_t d = r->ts - l->ts;
                    if (l->key != r->key || d < lo || d > hi)
                        continue;
                    if (nwant + 1 > cap) {
                        cap = cap ? cap * 2 : 1024;
                        want = realloc(want, sizeof *want * 2 * (size_t)cap);
                    }
                    want[2 * nwant] = l->id;
                    want[2 * nwant + 1] = r->id;
                    nwant++;
                }
    assert_true(nwant > 50); /* the test means something */
    assert_int_equal(g_nout, nwant);
    got = calloc((size_t)g_nout + 1, 2 * sizeof *got);
    for (int i = 0; i < g_nout; i++) {
        const out_t *o = &g_out[i];
        int64_t mx = o->lts > o->rts ? o->lts : o->rts;
        got[2 * i] = o->lid;
        got[2 * i + 1] = o->rid;
        assert_int_equal(o->lkey, o->rkey);
        assert_int_equal(o->fn_ts, mx);
        assert_int_equal(o->rec_ts, mx);
    }
    qsort(want, (size_t)nwant, 2 * sizeof *want, cmp_pair);
    qsort(got, (size_t)g_nout, 2 * sizeof *got, cmp_pair);
    for (int i = 0; i < nwant; i++) {
        if (want[2 * i] != got[2 * i] || want[2 * i + 1] != got[2 * i + 1])
            fail_msg("pair %d: want (%lld, %lld), got (%lld, %lld)", i,
                     (long long)want[2 * i], (long long)want[2 * i + 1],
                     (long long)got[2 * i], (long long)got[2 * i + 1]);
    }
    /* The timestamps fn got are the elements' own. */
    for (int i = 0; i < g_nout; i++) {
        const out_t *o = &g_out[i];
        assert_true((o->rts - o->lts) >= lo && (o->rts - o->lts) <= hi);
    }
    assert_int_equal(g_bad_udata, 0);
    assert_int_equal(g_finish_calls, p);
    assert_int_equal(g_finish_nonempty, 0);
    free(want);
    free(got);
    inputs_free();
    job_free(job);
    cf_config_destroy(cfg);
}

static void
test_oracle_p1(void **st)
{
    (void)st;
    run_oracle(1, -20, 10, 0x9e3779b97f4a7c15ull);
    run_oracle(1, 5, 40, 0x1234567ull);
}

static void
test_oracle_p2(void **st)
{
    (void)st;
    run_oracle(2, -20, 10, 0xabcdefull);
    run_oracle(2, -40, -5, 0x5555aaaaull);
    run_oracle(2, 0, 0, 0x77777ull);
}

/* ------------------------------------------------------------------ */
/* One instance, step by step                                          */
/* ------------------------------------------------------------------ */

/* The join's task (subtask 0) and its ctx. */
static cf_task_t *
join_task(cf_job_t *job, cf_ctx_t **ctx)
{
    for (int v = 0; v < job->nvertices; v++)
        for (int o = 0; o < job->vertices[v].nops; o++) {
            cf_snode_t *n =
                cf_env_node(job->env, job->vertices[v].ops[o].node);
            if (strcmp(n->name, "ij") != 0)
                continue;
            cf_task_t *t = cf_task_new(NULL, job, v, 0, 0, 0, -1);
            *ctx = &t->ctxs[o];
            return t;
        }
    fail_msg("no join operator");
    return NULL;
}

static void
task_free(cf_task_t *t)
{
    for (int i = 0; i < t->nctxs; i++) {
        cf_op_ckpt_close(&t->ctxs[i], 0);
        if (t->ctxs[i].timers != NULL) {
            cf_timers_free(t->ctxs[i].timers);
            t->ctxs[i].timers = NULL;
        }
    }
    cf_task_destroy(t);
}

/* Feed one element: side 1 left, 2 right. */
static int
feed(cf_ctx_t *ctx, int side, int64_t key, int64_t id, int64_t ts)
{
    uint8_t buf[1 + sizeof(ev_t)];
    ev_t e = {key, id, ts};
    cf_record_t r = {buf, sizeof buf, ts};
    buf[0] = (uint8_t)side;
    memcpy(buf + 1, &e, sizeof e);
    return ctx->invoke(ctx, &r);
}

static void
advance(cf_ctx_t *ctx, int64_t wm)
{
    ctx->watermark = wm;
    assert_int_equal(cf_rt_fire_event_timers(ctx, wm), 0);
}

/* Entries (timestamps) buffered for key on one side. */
static uint64_t
bucket_count(cf_ctx_t *ctx, int side, int64_t key)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(
        ctx->kstate, side == 0 ? "_cflink_ij_left" : "_cflink_ij_right",
        CF_STATE_MAP, NULL, ctx, &err);
    assert_non_null(st);
    cf_kstate_set_key(ctx->kstate, &key, sizeof key,
                      cf_murmur3_32_key(&key, sizeof key));
    return cf_kstate_map_size(st);
}

static int
has_pair(int64_t lid, int64_t rid, int64_t ts)
{
    int n = 0;
    for (int i = 0; i < g_nout; i++)
        if (g_out[i].lid == lid && g_out[i].rid == rid) {
            assert_int_equal(g_out[i].fn_ts, ts);
            n++;
        }
    return n;
}

/* between(-2, 3): pairs, timestamps, cleanup at ts + 3 (left) and
 * ts + 2 (right), late elements dropped. */
static void
test_steps_cleanup_and_late(void **st)
{
    cf_config_t *cfg = cfg_new("1 ms");
    cf_job_t *job = job_new(cfg, 1);
    cf_error_t *err = NULL;
    cf_ctx_t *ctx;
    cf_task_t *t;
    uint64_t late0 = cf_ij_late_dropped();
    const int64_t K = 7, K2 = 8;
    (void)st;

    out_reset();
    g_emit = 0;
    build_join(job, -2, 3, 0, NULL, NULL);
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    t = join_task(job, &ctx);
    assert_int_equal(cf_rt_timers_open(ctx), 0);

    assert_int_equal(feed(ctx, 1, K, 1, 10), 0); /* L10 */
    assert_int_equal(g_nout, 0);
    assert_int_equal(feed(ctx, 2, K, 2, 12), 0); /* R12: 12-10 = 2 */
    assert_int_equal(g_nout, 1);
    assert_int_equal(has_pair(1, 2, 12), 1);
    /* The record's timestamp is back after fn. */
    assert_int_equal(cf_ctx_timestamp(ctx), 12);
    assert_int_equal(feed(ctx, 2, K, 3, 7), 0); /* R7: 7-10 = -3 */
    assert_int_equal(g_nout, 1);
    assert_int_equal(feed(ctx, 2, K2, 4, 10), 0); /* another key */
    assert_int_equal(g_nout, 1);
    assert_int_equal(feed(ctx, 1, K, 5, 9), 0); /* L9: R12 (3), R7 (-2) */
    assert_int_equal(g_nout, 3);
    assert_int_equal(has_pair(5, 2, 12), 1);
    assert_int_equal(has_pair(5, 3, 9), 1);
    assert_int_equal(cf_ctx_timestamp(ctx), 9);
    assert_int_equal(bucket_count(ctx, 0, K), 2);  /* L9, L10 */
    assert_int_equal(bucket_count(ctx, 1, K), 2);  /* R7, R12 */
    assert_int_equal(bucket_count(ctx, 1, K2), 1); /* R10 */

    /* Watermark 9: R7's cleanup (7 + 2). */
    advance(ctx, 9);
    assert_int_equal(bucket_count(ctx, 0, K), 2);
    assert_int_equal(bucket_count(ctx, 1, K), 1);
    /* L8 is late (8 < 9): no pair, not buffered. */
    assert_int_equal(feed(ctx, 1, K, 6, 8), 0);
    assert_int_equal(g_nout, 3);
    assert_int_equal(bucket_count(ctx, 0, K), 2);
    assert_int_equal(cf_ij_late_dropped() - late0, 1);
    /* The task metric numLateRecordsDropped has it too. */
    cf_et_update_late(t);
    assert_int_equal(cf_task_late_records_dropped(t), 1);
    /* R9 on the watermark is not late; a second L9 shares a bucket. */
    assert_int_equal(feed(ctx, 1, K, 7, 9), 0); /* pairs R12 only */
    assert_int_equal(g_nout, 4);
    assert_int_equal(has_pair(7, 2, 12), 1);
    assert_int_equal(bucket_count(ctx, 0, K), 2);
    assert_int_equal(feed(ctx, 2, K, 8, 11), 0); /* L9 x2 (2), L10 (1) */
    assert_int_equal(g_nout, 7);
    assert_int_equal(has_pair(5, 8, 11), 1);
    assert_int_equal(has_pair(7, 8, 11), 1);
    assert_int_equal(has_pair(1, 8, 11), 1);

    /* Watermark 12: L9 (9 + 3) and R10 of K2 (10 + 2). */
    advance(ctx, 12);
    assert_int_equal(bucket_count(ctx, 0, K), 1); /* L10 */
    assert_int_equal(bucket_count(ctx, 1, K), 2); /* R11, R12 */
    assert_int_equal(bucket_count(ctx, 1, K2), 0);
    /* Watermark 13: L10 and R11. */
    advance(ctx, 13);
    assert_int_equal(bucket_count(ctx, 0, K), 0);
    assert_int_equal(bucket_count(ctx, 1, K), 1);
    /* A late right one. */
    assert_int_equal(feed(ctx, 2, K, 9, 12), 0);
    assert_int_equal(cf_ij_late_dropped() - late0, 2);
    cf_et_update_late(t);
    assert_int_equal(cf_task_late_records_dropped(t), 2);
    advance(ctx, 14);
    assert_int_equal(bucket_count(ctx, 1, K), 0);
    /* Nothing left for any key. */
    assert_int_equal(buffered_keys(ctx, 0), 0);
    assert_int_equal(buffered_keys(ctx, 1), 0);
    assert_int_equal(g_nout, 7);
    assert_int_equal(g_bad_udata, 0);
    assert_null(t->failure);
    task_free(t);
    job_free(job);
    cf_config_destroy(cfg);
    g_emit = 1;
}

/* Bounds both negative / both positive: cleanup times are ts (left,
 * upper <= 0) and ts (right, lower >= 0), as Flink's. */
static void
test_steps_one_sided_bounds(void **st)
{
    static const int64_t bounds[][2] = {{-10, -5}, {5, 10}};
    (void)st;
    for (size_t b = 0; b < 2; b++) {
        cf_config_t *cfg = cfg_new("1 ms");
        cf_job_t *job = job_new(cfg, 1);
        cf_error_t *err = NULL;
        cf_ctx_t *ctx;
        cf_task_t *t;
        int64_t lo = bounds[b][0], hi = bounds[b][1];

        out_reset();
        g_emit = 0;
        build_join(job, lo, hi, 0, NULL, NULL);
        if (cf_jobgraph_build(job, &err) < 0)
            fail_msg("%s", cf_error_msg(err));
        t = join_task(job, &ctx);
        assert_int_equal(cf_rt_timers_open(ctx), 0);
        /* L100 and R100 + lo .. R100 + hi, plus one just outside each. */
        assert_int_equal(feed(ctx, 1, 1, 1, 100), 0);
        for (int64_t d = lo - 1; d <= hi + 1; d++)
            assert_int_equal(feed(ctx, 2, 1, 1000 + d, 100 + d), 0);
        assert_int_equal(g_nout, hi - lo + 1);
        for (int64_t d = lo; d <= hi; d++)
            assert_int_equal(has_pair(1, 1000 + d, d > 0 ? 100 + d : 100),
                             1);
        /* Everything is cleaned by the time the watermark passes every
         * element's cleanup time, and not before its own. */
        {
            int64_t left_clean = hi > 0 ? 100 + hi : 100;
            advance(ctx, left_clean - 1);
            assert_int_equal(bucket_count(ctx, 0, 1), 1);
            advance(ctx, left_clean);
            assert_int_equal(bucket_count(ctx, 0, 1), 0);
        }
        advance(ctx, 100 + hi + 1 + (lo < 0 ? -lo : 0) + 1);
        assert_int_equal(bucket_count(ctx, 1, 1), 0);
        assert_null(t->failure);
        task_free(t);
        job_free(job);
        cf_config_destroy(cfg);
    }
    g_emit = 1;
}

/* Flink: "Long.MIN_VALUE timestamp: Elements used in interval stream
 * joins need to have ... timestamps". */
static void
test_no_timestamp_fails(void **st)
{
    cf_config_t *cfg = cfg_new("1 ms");
    cf_job_t *job = job_new(cfg, 1);
    cf_error_t *err = NULL;
    cf_ctx_t *ctx;
    cf_task_t *t;
    (void)st;

    out_reset();
    build_join(job, -1, 1, 0, NULL, NULL);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    t = join_task(job, &ctx);
    assert_true(feed(ctx, 1, 1, 1, CF_NO_TIMESTAMP) < 0);
    assert_non_null(t->failure);
    assert_non_null(strstr(t->failure, "Long.MIN_VALUE timestamp"));
    assert_non_null(strstr(t->failure, "'ij'"));
    task_free(t);
    job_free(job);
    cf_config_destroy(cfg);
}

/* Buffers and cleanup timers are keyed state: a snapshot taken with
 * L10 and R7 buffered restores both, their timers (13 and 9) still clean
 * them, and a new R12 meets the restored L10. between(-2, 3). */
static void
test_snapshot_restore(void **st)
{
    cf_config_t *cfg = cfg_new("1 ms");
    cf_job_t *job = job_new(cfg, 1);
    cf_error_t *err = NULL;
    cf_state_handle_t h;
    cf_op_snap_t *snap = NULL;
    cf_ctx_t *ctx;
    cf_task_t *t;
    char dir[300], tmp[64], cmd[128];
    const int64_t K = 3;
    (void)st;

    snprintf(tmp, sizeof tmp, "/tmp/cf-ij-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    out_reset();
    g_emit = 0;
    build_join(job, -2, 3, 0, NULL, NULL);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    t = join_task(job, &ctx);
    assert_int_equal(cf_rt_timers_open(ctx), 0);
    assert_int_equal(feed(ctx, 1, K, 1, 10), 0);
    assert_int_equal(feed(ctx, 2, K, 2, 7), 0);
    assert_int_equal(g_nout, 0);
    memset(&h, 0, sizeof h);
    assert_int_equal(cf_op_snapshot_sync(ctx, 1, &snap), 0);
    assert_non_null(snap);
    snprintf(dir, sizeof dir, "%s/chk-1", tmp);
    mkdir(dir, 0755);
    if (cf_op_snapshot_write(snap, dir, 1, &h, &err) < 0)
        fail_msg("write: %s", cf_error_msg(err));
    cf_op_snapshot_free(snap);
    task_free(t);

    t = join_task(job, &ctx);
    {
        cf_op_restore_t r = {ctx->node->op_id, 1, &h, 1, 0};
        if (cf_op_restore(ctx, &r, 0, 1, &err) < 0)
            fail_msg("restore: %s", cf_error_msg(err));
    }
    assert_int_equal(cf_rt_timers_open(ctx), 0);
    assert_non_null(ctx->timers); /* the restored cleanup timers */
    assert_int_equal(bucket_count(ctx, 0, K), 1);
    assert_int_equal(bucket_count(ctx, 1, K), 1);
    advance(ctx, 9); /* R7's cleanup */
    assert_int_equal(bucket_count(ctx, 1, K), 0);
    assert_int_equal(feed(ctx, 2, K, 3, 12), 0);
    assert_int_equal(g_nout, 1);
    assert_int_equal(has_pair(1, 3, 12), 1);
    advance(ctx, 13); /* L10's cleanup */
    assert_int_equal(bucket_count(ctx, 0, K), 0);
    advance(ctx, 14);
    assert_int_equal(buffered_keys(ctx, 0), 0);
    assert_int_equal(buffered_keys(ctx, 1), 0);
    assert_null(t->failure);
    task_free(t);
    cf_free(h.path);
    job_free(job);
    cf_config_destroy(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
    g_emit = 1;
}

/* ------------------------------------------------------------------ */
/* Graph and builder errors                                            */
/* ------------------------------------------------------------------ */

static void
test_graph_shape(void **st)
{
    cf_job_t *job = job_new(NULL, 2);
    cf_error_t *err = NULL;
    cf_stream_t *j;
    int join_v = -1;
    (void)st;

    j = build_join(job, -1, 1, 0, NULL, NULL);
    cf_b_sink(j, "sink", &sink_ops, NULL);
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    /* left -> timestamps -> tag, right -> ... -> tag, join -> sink. */
    assert_int_equal(job->nvertices, 3);
    assert_string_equal(job->vertices[0].name,
                        "Source: left -> Timestamps/Watermarks -> Map");
    assert_string_equal(job->vertices[1].name,
                        "Source: right -> Timestamps/Watermarks -> Map");
    for (int v = 0; v < job->nvertices; v++)
        if (strcmp(job->vertices[v].name, "ij -> Sink: sink") == 0)
            join_v = v;
    assert_int_equal(join_v, 2);
    assert_int_equal(job->vertices[2].nins, 2);
    for (int v = 0; v < 2; v++) {
        assert_int_equal(job->vertices[v].nouts, 1);
        assert_int_equal(job->vertices[v].outs[0].partitioner,
                         CF_PARTITION_HASH);
        assert_int_equal(job->vertices[v].parallelism, 2);
    }
    job_free(job);

    /* A keyed union as the first input, its parts at parallelism 1 and
     * 2: one tag map per part, each chained to its producer at the
     * producer's parallelism; a self-join uses one producer twice. */
    job = job_new(NULL, 2);
    {
        cf_stream_t *a1, *a2, *u, *b;
        a1 = cf_b_env_add_source(job->env, "a1", &left_ops, NULL);
        cf_b_set_parallelism(a1, 1);
        a2 = cf_b_env_add_source(job->env, "a2", &left_ops, NULL);
        u = cf_b_union(a1, &a2, 1);
        b = cf_b_key_by(a2, key_ev, NULL);
        j = cf_b_interval_join(cf_b_key_by(u, key_ev, NULL), b, 0, 1, "ij",
                               join_fn, NULL);
        cf_b_sink(j, "sink", &sink_ops, NULL);
    }
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    assert_int_equal(job->nvertices, 3);
    assert_string_equal(job->vertices[0].name,
                        "Source: a1 -> Map");
    assert_int_equal(job->vertices[0].parallelism, 1);
    assert_string_equal(job->vertices[1].name,
                        "Source: a2 -> (Map, Map)");
    assert_int_equal(job->vertices[1].parallelism, 2);
    assert_int_equal(job->vertices[1].nouts, 2);
    assert_string_equal(job->vertices[2].name, "ij -> Sink: sink");
    assert_int_equal(job->vertices[2].nins, 3);
    job_free(job);
}

static void
test_builder_errors(void **st)
{
    cf_job_t *job;
    cf_stream_t *l, *r;
    (void)st;

    /* lower > upper */
    job = job_new(NULL, 1);
    l = cf_b_env_add_source(job->env, "left", &left_ops, NULL);
    r = cf_b_env_add_source(job->env, "right", &right_ops, NULL);
    cf_b_interval_join(cf_b_key_by(l, key_ev, NULL),
                       cf_b_key_by(r, key_ev, NULL), 5, 4, "myjoin", join_fn,
                       NULL);
    assert_non_null(job->env->error);
    assert_non_null(
        strstr(job->env->error, "lowerBound <= upperBound must be fulfilled"));
    assert_non_null(strstr(job->env->error, "'myjoin'"));
    job_free(job);

    /* the first input not keyed */
    job = job_new(NULL, 1);
    l = cf_b_env_add_source(job->env, "left", &left_ops, NULL);
    r = cf_b_env_add_source(job->env, "right", &right_ops, NULL);
    cf_b_interval_join(l, cf_b_key_by(r, key_ev, NULL), -1, 1, "myjoin",
                       join_fn, NULL);
    assert_non_null(job->env->error);
    assert_non_null(strstr(job->env->error, "'myjoin'"));
    assert_non_null(strstr(job->env->error, "first input is not keyed"));
    job_free(job);

    /* the second input not keyed; the default name */
    job = job_new(NULL, 1);
    l = cf_b_env_add_source(job->env, "left", &left_ops, NULL);
    r = cf_b_env_add_source(job->env, "right", &right_ops, NULL);
    cf_b_interval_join(cf_b_key_by(l, key_ev, NULL), r, -1, 1, NULL,
                       join_fn, NULL);
    assert_non_null(job->env->error);
    assert_non_null(strstr(job->env->error, "'Interval Join'"));
    assert_non_null(strstr(job->env->error, "second input is not keyed"));
    job_free(job);

    /* lower == upper is fine; so is through the public wrapper. */
    job = job_new(NULL, 1);
    l = cf_b_env_add_source(job->env, "left", &left_ops, NULL);
    r = cf_b_env_add_source(job->env, "right", &right_ops, NULL);
    cf_stream_interval_join(cf_stream_key_by(l, key_ev, NULL),
                            cf_stream_key_by(r, key_ev, NULL), 3, 3, NULL,
                            join_fn, NULL);
    assert_null(job->env->error);
    job_free(job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_errors),
        cmocka_unit_test(test_graph_shape),
        cmocka_unit_test(test_steps_cleanup_and_late),
        cmocka_unit_test(test_steps_one_sided_bounds),
        cmocka_unit_test(test_no_timestamp_fails),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_oracle_p1),
        cmocka_unit_test(test_oracle_p2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
