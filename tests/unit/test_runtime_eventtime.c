/*
 * test_runtime_eventtime.c: event time in the local runtime: timestamps
 * assigned by the timestamps operator, periodic bounded watermarks, the
 * input watermark as the minimum over channels, idleness, the end of
 * event time (CF_WATERMARK_MAX) firing event-time timers, side outputs,
 * emit_watermark outside a generator, builder validation, and the side
 * output tags of a decoded JobGraph.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eventtime.h"
#include "runtime_int.h"

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* Test fixtures                                                       */
/* ------------------------------------------------------------------ */

typedef struct ev_s {
    int64_t sub;  /* source subtask */
    int64_t seq;  /* index in that subtask */
    int64_t ts;   /* timestamp set by the source, or CF_NO_TIMESTAMP */
    int64_t mark; /* punctuated watermark to emit after it, or MIN */
} ev_t;

/* What a test observed (any task thread). */
typedef struct obs_s {
    ev_t ev;
    int64_t ts; /* record / timer timestamp */
    int64_t wm; /* current watermark when seen */
    int tag;    /* which observer */
} obs_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static obs_t *g_obs;
static int g_nobs, g_cap;

/* Sources: per subtask, n records, sleep_us after each; idle_tail:
 * stay idle (CF_SOURCE_IDLE) until wait_obs records were observed
 * downstream, then end. */
typedef struct src_conf_s {
    int64_t n[4];
    int sleep_us[4];
    int idle_tail[4];
    int ts_on_source; /* ts = seq * 10 */
    int marks;        /* mark = the seq-th entry of a per-subtask ramp */
    int wait_obs;
} src_conf_t;

static src_conf_t g_src;
static int64_t g_pos[4];

static void
obs_reset(void)
{
    pthread_mutex_lock(&g_mu);
    free(g_obs);
    g_obs = NULL;
    g_nobs = g_cap = 0;
    pthread_mutex_unlock(&g_mu);
    memset(g_pos, 0, sizeof g_pos);
}

static void
obs_add(const ev_t *e, int64_t ts, int64_t wm, int tag)
{
    pthread_mutex_lock(&g_mu);
    if (g_nobs == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 256;
        g_obs = realloc(g_obs, sizeof *g_obs * (size_t)g_cap);
    }
    g_obs[g_nobs].ev = *e;
    g_obs[g_nobs].ts = ts;
    g_obs[g_nobs].wm = wm;
    g_obs[g_nobs].tag = tag;
    g_nobs++;
    pthread_mutex_unlock(&g_mu);
}

static void
sleep_us(int us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static int
src_next(cf_ctx_t *ctx)
{
    int sub = cf_ctx_subtask_index(ctx);
    ev_t e;

    if (g_pos[sub] >= g_src.n[sub]) {
        int seen;
        pthread_mutex_lock(&g_mu);
        seen = g_nobs;
        pthread_mutex_unlock(&g_mu);
        if (g_src.idle_tail[sub] && seen < g_src.wait_obs) {
            sleep_us(1000);
            return CF_SOURCE_IDLE;
        }
        return CF_SOURCE_END;
    }
    e.sub = sub;
    e.seq = g_pos[sub]++;
    e.ts = g_src.ts_on_source ? e.seq * 10 : CF_NO_TIMESTAMP;
    /* Subtask k's ramp: 3 * seq + k (different per channel). */
    e.mark = g_src.marks ? 3 * e.seq + sub : CF_WATERMARK_MIN;
    if (cf_emit(ctx, &e, sizeof e, e.ts) < 0)
        return CF_ERR;
    if (g_src.sleep_us[sub] > 0)
        sleep_us(g_src.sleep_us[sub]);
    return CF_OK;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL,
                                        src_next, NULL};

static int64_t
ts_from_seq(cf_ctx_t *ctx, const cf_record_t *in)
{
    ev_t e;
    (void)ctx;
    memcpy(&e, in->data, sizeof e);
    return e.seq * 10;
}

static int
key_by_sub(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data; /* ev.sub */
    key->len = sizeof(int64_t);
    return CF_OK;
}

static int
key_by_seq(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = (const char *)in->data + offsetof(ev_t, seq);
    key->len = sizeof(int64_t);
    return CF_OK;
}

/* An observer: records (event, ts, current watermark), tag from udata,
 * and passes the record on. */
static int
observe(cf_ctx_t *ctx, const cf_record_t *in)
{
    ev_t e;
    memcpy(&e, in->data, sizeof e);
    obs_add(&e, cf_ctx_timestamp(ctx), cf_ctx_current_watermark(ctx),
            (int)(intptr_t)cf_ctx_udata(ctx));
    return cf_emit(ctx, in->data, in->len, in->ts);
}

static const cf_process_ops_t observe_ops = {
    sizeof(cf_process_ops_t), NULL, observe, NULL, NULL, NULL};

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    ev_t e;
    memcpy(&e, in->data, sizeof e);
    obs_add(&e, in->ts, cf_ctx_current_watermark(ctx),
            (int)(intptr_t)cf_ctx_udata(ctx));
    return CF_OK;
}

static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                       sink_invoke, NULL, NULL};

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

/* Run to the end; the expected status; returns the failure (free()). */
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
/* Timestamps and periodic watermarks                                  */
/* ------------------------------------------------------------------ */

/* The assigner's timestamps reach the records and cf_ctx_timestamp; a
 * chained operator after the timestamps operator sees the generator's
 * watermarks: bounded out-of-orderness B gives max ts - B - 1. */
static void
test_timestamps_and_bounded_watermarks(void **st)
{
    cf_config_t *cfg = cfg_new("5 ms");
    cf_job_t *job = job_new(cfg, 1);
    cf_wm_strategy_t ws = cf_wm_for_bounded_out_of_orderness(7);
    cf_stream_t *s;
    int nwm = 0;
    int64_t last_wm = CF_WATERMARK_MIN;
    (void)st;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 150;
    g_src.sleep_us[0] = 1000;
    ws.timestamp = ts_from_seq;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_assign_watermarks(s, &ws, NULL);
    s = cf_b_process(s, "observe", &observe_ops, (void *)(intptr_t)1);
    cf_b_sink(s, "sink", &sink_ops, (void *)(intptr_t)2);
    free(job_run(job, CF_JOB_FINISHED));

    assert_int_equal(g_nobs, 300);
    for (int i = 0; i < g_nobs; i++) {
        obs_t *o = &g_obs[i];
        assert_int_equal(o->ts, o->ev.seq * 10); /* assigned */
        if (o->tag != 1)
            continue;
        /* Advance only; the formula; never ahead of the data. */
        assert_true(o->wm >= last_wm);
        if (o->wm != CF_WATERMARK_MIN) {
            assert_int_equal((o->wm + 7 + 1) % 10, 0);
            assert_true(o->wm < o->ev.seq * 10);
            nwm += o->wm != last_wm;
        }
        last_wm = o->wm;
    }
    /* 150 ms of records at 5 ms intervals: many watermarks. */
    assert_true(nwm >= 5);
    job_free(job);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Minimum over channels                                               */
/* ------------------------------------------------------------------ */

static int
gen_on_event(cf_ctx_t *ctx, const cf_record_t *in, int64_t ts)
{
    ev_t e;
    (void)ts;
    memcpy(&e, in->data, sizeof e);
    return cf_emit_watermark(ctx, e.mark);
}

static const cf_wm_gen_ops_t punct_gen = {sizeof(cf_wm_gen_ops_t),
                                          gen_on_event, NULL};

/* Two source subtasks at different speeds emit punctuated watermarks
 * (the mark after each record); the downstream operator's watermark at
 * each record is the minimum over the channels of the marks that preceded
 * it (MIN for a channel that sent none yet), up to a mark still in
 * flight. */
static void
test_min_over_channels(void **st)
{
    cf_config_t *cfg = cfg_new("0 ms"); /* punctuated only */
    cf_job_t *job = job_new(cfg, 2);
    cf_wm_strategy_t ws = cf_wm_for_generator(&punct_gen);
    cf_stream_t *s;
    int64_t last[2] = {CF_WATERMARK_MIN, CF_WATERMARK_MIN};
    int64_t before[2] = {CF_WATERMARK_MIN, CF_WATERMARK_MIN};
    int64_t prev = CF_WATERMARK_MIN;
    int advanced = 0, exact = 0;
    (void)st;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 400;
    g_src.n[1] = 60;
    g_src.sleep_us[1] = 2000; /* slow */
    g_src.marks = 1;
    g_src.ts_on_source = 1;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_assign_watermarks(s, &ws, NULL);
    s = cf_b_partition(s, CF_PARTITION_REBALANCE);
    s = cf_b_process(s, "observe", &observe_ops, (void *)(intptr_t)1);
    s = cf_b_set_parallelism(s, 1);
    free(job_run(job, CF_JOB_FINISHED));

    assert_int_equal(g_nobs, 460);
    for (int i = 0; i < g_nobs; i++) {
        obs_t *o = &g_obs[i];
        int c = (int)o->ev.sub;
        int64_t hi = last[0] < last[1] ? last[0] : last[1];
        /* The mark of the other channel's latest record may still be in
         * flight (its event is queued after that record's buffer), but
         * every earlier one, and every mark of this record's own channel
         * before it, has been applied. */
        int64_t lo_c = last[c], lo_o = before[1 - c];
        int64_t lo = lo_c < lo_o ? lo_c : lo_o;
        if (o->wm < lo || o->wm > hi)
            fail_msg("record %d (channel %d): watermark %lld outside "
                     "[%lld, %lld]",
                     i, c, (long long)o->wm, (long long)lo, (long long)hi);
        assert_true(o->wm >= prev);
        advanced += o->wm != prev;
        exact += o->wm == hi;
        prev = o->wm;
        before[c] = last[c];
        last[c] = o->ev.mark;
    }
    assert_true(advanced > 10);
    assert_true(exact > g_nobs / 2);
    job_free(job);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Idleness                                                            */
/* ------------------------------------------------------------------ */

/* Subtask 1 emits one record and then nothing until subtask 0 ended.
 * With withIdleness its channel stops holding the watermark back; without
 * it the watermark stays at subtask 1's (0 - 1) while subtask 0 runs. */
static int64_t
run_idle_job(int64_t idle_ms)
{
    cf_config_t *cfg = cfg_new("5 ms");
    cf_job_t *job = job_new(cfg, 2);
    cf_wm_strategy_t ws = cf_wm_for_monotonous_timestamps();
    cf_stream_t *s;
    int64_t maxwm = CF_WATERMARK_MIN;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 300;
    g_src.sleep_us[0] = 1000;
    g_src.n[1] = 1;
    g_src.idle_tail[1] = 1;
    g_src.wait_obs = 301;
    g_src.ts_on_source = 1;
    ws.idle_timeout_ms = idle_ms;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_assign_watermarks(s, &ws, NULL);
    s = cf_b_partition(s, CF_PARTITION_REBALANCE);
    s = cf_b_process(s, "observe", &observe_ops, (void *)(intptr_t)1);
    s = cf_b_set_parallelism(s, 1);
    free(job_run(job, CF_JOB_FINISHED));
    assert_int_equal(g_nobs, 301);
    for (int i = 0; i < g_nobs; i++)
        if (g_obs[i].wm > maxwm)
            maxwm = g_obs[i].wm;
    job_free(job);
    cf_config_destroy(cfg);
    return maxwm;
}

static void
test_idleness(void **st)
{
    (void)st;
    assert_true(run_idle_job(0) <= -1);
    assert_true(run_idle_job(30) > 500);
}

/* ------------------------------------------------------------------ */
/* End of input: MAX fires event-time timers                           */
/* ------------------------------------------------------------------ */

static int
timer_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    ev_t e;
    memcpy(&e, in->data, sizeof e);
    /* Far in the future: only the end of event time reaches it. */
    return cf_timer_register(ctx, CF_TIME_EVENT, 1000000000 + e.seq);
}

static int
timer_fired(cf_ctx_t *ctx, int64_t ts, int domain)
{
    ev_t e = {0};
    cf_slice_t k;
    (void)domain;
    cf_ctx_key(ctx, &k);
    memcpy(&e.seq, k.data, sizeof e.seq);
    obs_add(&e, ts, cf_ctx_current_watermark(ctx), 3);
    return cf_emit(ctx, &e, sizeof e, ts);
}

static const cf_process_ops_t timer_ops = {sizeof(cf_process_ops_t), NULL,
                                           timer_process, NULL, NULL,
                                           timer_fired};

static void
end_of_input_job(int with_timestamps)
{
    cf_config_t *cfg = cfg_new("0 ms"); /* no periodic watermarks */
    cf_job_t *job = job_new(cfg, 2);
    cf_wm_strategy_t ws = cf_wm_for_monotonous_timestamps();
    cf_stream_t *s;
    int fired = 0, sunk = 0;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 20;
    g_src.n[1] = 20;
    g_src.ts_on_source = 1;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    if (with_timestamps)
        s = cf_b_assign_watermarks(s, &ws, NULL);
    s = cf_b_key_by(s, key_by_seq, NULL);
    s = cf_b_process(s, "timers", &timer_ops, NULL);
    cf_b_sink(s, "sink", &sink_ops, (void *)(intptr_t)4);
    free(job_run(job, CF_JOB_FINISHED));
    for (int i = 0; i < g_nobs; i++) {
        if (g_obs[i].tag == 3) {
            fired++;
            assert_int_equal(g_obs[i].ts, 1000000000 + g_obs[i].ev.seq);
            assert_true(g_obs[i].wm == CF_WATERMARK_MAX);
        } else {
            sunk++;
            assert_int_equal(g_obs[i].ts, 1000000000 + g_obs[i].ev.seq);
        }
    }
    /* Keys 0..19 (two records each, one timer per key). */
    assert_int_equal(fired, 20);
    assert_int_equal(sunk, 20);
    job_free(job);
    cf_config_destroy(cfg);
}

static void
test_end_of_input_fires_timers(void **st)
{
    (void)st;
    end_of_input_job(1);
    end_of_input_job(0); /* MAX without a timestamps operator too */
}

/* ------------------------------------------------------------------ */
/* Side outputs                                                        */
/* ------------------------------------------------------------------ */

static int
split(cf_ctx_t *ctx, const cf_record_t *in)
{
    ev_t e;
    memcpy(&e, in->data, sizeof e);
    if (cf_emit_side(ctx, "nobody", in->data, in->len, in->ts) < 0)
        return CF_ERR;
    if (e.seq % 2)
        return cf_emit_side(ctx, "odd", in->data, in->len, in->ts);
    return cf_emit(ctx, in->data, in->len, in->ts);
}

static const cf_process_ops_t split_ops = {sizeof(cf_process_ops_t), NULL,
                                           split, NULL, NULL, NULL};

/* Main output to one sink; the "odd" side output to a chained sink and to
 * a sink at another parallelism (a network edge); "nobody" is dropped. A
 * union of main and side into one consumer keeps the two apart. */
static void
test_side_outputs(void **st)
{
    cf_config_t *cfg = cfg_new("200 ms");
    cf_job_t *job = job_new(cfg, 2);
    cf_stream_t *s, *odd, *u;
    char tag[8];
    int count[8] = {0};
    (void)st;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 50;
    g_src.n[1] = 50;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_process(s, "split", &split_ops, NULL);
    strcpy(tag, "odd"); /* the plugin's string may go away */
    odd = cf_b_side_output(s, tag);
    memset(tag, 'x', 3);
    cf_b_sink(s, "main", &sink_ops, (void *)(intptr_t)1);
    cf_b_sink(odd, "odd-chained", &sink_ops, (void *)(intptr_t)2);
    cf_b_set_parallelism(cf_b_sink(odd, "odd-net", &sink_ops,
                                   (void *)(intptr_t)3),
                         1);
    u = cf_b_union(cf_b_side_output(s, "odd"), (cf_stream_t *[]){s}, 1);
    u = cf_b_partition(u, CF_PARTITION_REBALANCE);
    cf_b_set_parallelism(cf_b_sink(u, "both", &sink_ops,
                                   (void *)(intptr_t)4),
                         1);
    free(job_run(job, CF_JOB_FINISHED));
    for (int i = 0; i < g_nobs; i++) {
        obs_t *o = &g_obs[i];
        count[o->tag]++;
        if (o->tag == 1)
            assert_int_equal(o->ev.seq % 2, 0);
        if (o->tag == 2 || o->tag == 3)
            assert_int_equal(o->ev.seq % 2, 1);
    }
    assert_int_equal(count[1], 50);
    assert_int_equal(count[2], 50);
    assert_int_equal(count[3], 50);
    assert_int_equal(count[4], 100);
    job_free(job);
    cf_config_destroy(cfg);
}

/* The decoded JobGraph gives each output its edge: a union of main and
 * side output into one consumer is two outputs with different tags. */
static void
test_decode_matches_edges(void **st)
{
    cf_job_t *job = job_new(NULL, 1);
    cf_stream_t *s, *u;
    cf_error_t *err = NULL;
    uint8_t *buf;
    size_t len;
    cf_jvertex_t *v;
    (void)st;

    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_process(s, "split", &split_ops, NULL);
    u = cf_b_union(s, (cf_stream_t *[]){cf_b_side_output(s, "odd")}, 1);
    cf_b_sink(u, "both", &sink_ops, NULL);
    assert_null(job->env->error);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    assert_int_equal(cf_job_encode(job, &buf, &len), 0);
    assert_int_equal(cf_job_decode(job, buf, len, &err), 0);
    cf_free(buf);
    v = &job->vertices[0];
    assert_int_equal(v->nouts, 2);
    assert_true(v->outs[0].edge >= 0 && v->outs[1].edge >= 0);
    assert_null(job->env->edges[v->outs[0].edge].tag);
    assert_string_equal(job->env->edges[v->outs[1].edge].tag, "odd");
    /* Interned: one copy per distinct tag. */
    assert_ptr_equal(cf_env_intern(job->env, "odd"),
                     job->env->edges[v->outs[1].edge].tag);
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int
bad_wm_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    *out = *in;
    return cf_emit_watermark(ctx, 5) < 0 ? CF_ERR : CF_OK;
}

static void
test_emit_watermark_outside_generator(void **st)
{
    cf_config_t *cfg = cfg_new("200 ms");
    cf_job_t *job = job_new(cfg, 1);
    cf_stream_t *s;
    char *why;
    (void)st;

    obs_reset();
    memset(&g_src, 0, sizeof g_src);
    g_src.n[0] = 5;
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_map(s, "sneaky", bad_wm_map, NULL);
    cf_b_sink(s, "sink", &sink_ops, NULL);
    why = job_run(job, CF_JOB_FAILED);
    assert_non_null(why);
    assert_non_null(strstr(why, "cf_emit_watermark() can only be called"));
    assert_non_null(strstr(why, "sneaky"));
    free(why);
    job_free(job);
    cf_config_destroy(cfg);
}

static void
expect_error(cf_stream_t *(*build)(cf_env_t *env), const char *needle)
{
    cf_env_t *env = cf_env_new(NULL, 1);
    build(env);
    if (env->error == NULL || strstr(env->error, needle) == NULL)
        fail_msg("want '%s', got '%s'", needle,
                 env->error ? env->error : "(none)");
    cf_env_destroy(env);
}

static cf_stream_t *
b_src(cf_env_t *env)
{
    return cf_b_env_add_source(env, "src", &src_ops, NULL);
}

static cf_stream_t *
b_neg_bound(cf_env_t *env)
{
    cf_wm_strategy_t ws = cf_wm_for_bounded_out_of_orderness(-1);
    return cf_b_assign_watermarks(b_src(env), &ws, NULL);
}

static cf_stream_t *
b_neg_idle(cf_env_t *env)
{
    cf_wm_strategy_t ws = cf_wm_for_monotonous_timestamps();
    ws.idle_timeout_ms = -5;
    return cf_b_assign_watermarks(b_src(env), &ws, NULL);
}

static cf_stream_t *
b_custom_no_gen(cf_env_t *env)
{
    cf_wm_strategy_t ws = cf_wm_for_generator(NULL);
    return cf_b_assign_watermarks(b_src(env), &ws, NULL);
}

static cf_stream_t *
b_bad_kind(cf_env_t *env)
{
    cf_wm_strategy_t ws = cf_wm_for_monotonous_timestamps();
    ws.kind = 42;
    return cf_b_assign_watermarks(b_src(env), &ws, NULL);
}

static cf_stream_t *
b_no_strategy(cf_env_t *env)
{
    return cf_b_assign_watermarks(b_src(env), NULL, NULL);
}

static cf_stream_t *
b_side_of_keyed(cf_env_t *env)
{
    return cf_b_side_output(cf_b_key_by(b_src(env), key_by_sub, NULL), "x");
}

static cf_stream_t *
b_side_setting(cf_env_t *env)
{
    return cf_b_set_parallelism(cf_b_side_output(b_src(env), "x"), 2);
}

static cf_stream_t *
b_side_no_tag(cf_env_t *env)
{
    return cf_b_side_output(b_src(env), "");
}

static void
test_builder_errors(void **st)
{
    (void)st;
    expect_error(b_neg_bound, "out-of-orderness must not be negative");
    expect_error(b_neg_bound, "Timestamps/Watermarks");
    expect_error(b_neg_idle, "idleness timeout must not be negative");
    expect_error(b_custom_no_gen, "needs a generator");
    expect_error(b_bad_kind, "unknown watermark strategy kind 42");
    expect_error(b_no_strategy, "has no watermark strategy");
    expect_error(b_side_of_keyed, "getSideOutput('x') applies to an "
                                  "operator's output");
    expect_error(b_side_no_tag, "needs a non-empty tag");
    expect_error(b_side_setting, "setParallelism() applies to an operator, "
                                 "not to a union, partitioned, keyed or "
                                 "side output stream");
    /* Two-input operators: their own tests (test_runtime_join.c,
     * test_runtime_interval_join.c). */
}

/* ------------------------------------------------------------------ */
/* Through a plugin (the host table of ABI 1.2)                        */
/* ------------------------------------------------------------------ */

static void
test_plugin(void **st)
{
    char exe[4096], path[4200], out[64], line[128];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cf_plugin_lib_t *lib = NULL;
    cf_error_t *err = NULL;
    cf_job_t *job = NULL;
    cf_local_result_t res = {0};
    cf_job_opts_t opts = {0};
    cf_config_t *cfg = cfg_new("5 ms");
    volatile sig_atomic_t cancel = 0;
    char *argv[] = {"tp_eventtime.so", "--n", "3000", "--out", out, NULL};
    int timers = 0, side = 0, fd;
    FILE *f;
    (void)st;

    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(path, sizeof path, "%s/plugins/tp_eventtime.so", exe);
    if (access(path, R_OK) != 0)
        skip();
    strcpy(out, "/tmp/tp_eventtime.XXXXXX");
    fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    if (cf_plugin_open(path, &lib, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    opts.parallelism = 2;
    opts.argc = 5;
    opts.argv = argv;
    if (cf_job_build(lib, cfg, &opts, &job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    if (cf_job_run_local(job, &cancel, &res, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    if (res.status != CF_JOB_FINISHED)
        fail_msg("status %d: %s", (int)res.status,
                 res.failure ? res.failure : "");
    f = fopen(out, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        long long a, b, c;
        if (sscanf(line, "T %lld %lld %lld", &a, &b, &c) == 3) {
            timers++;
            assert_true(c >= b); /* fired once the watermark passed */
            assert_int_equal((b - 5) / 10 % 7, a);
        } else if (sscanf(line, "S %lld %lld", &a, &b) == 2) {
            side++;
            assert_int_equal(a % 10, 0);
            assert_int_equal(b, a * 10);
        } else {
            fail_msg("unexpected line %s", line);
        }
    }
    fclose(f);
    unlink(out);
    assert_int_equal(timers, 3000);
    assert_int_equal(side, 300);
    free(res.failure);
    cf_job_destroy(job);
    cf_config_destroy(cfg);
    cf_plugin_close(lib);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_and_bounded_watermarks),
        cmocka_unit_test(test_min_over_channels),
        cmocka_unit_test(test_idleness),
        cmocka_unit_test(test_end_of_input_fires_timers),
        cmocka_unit_test(test_side_outputs),
        cmocka_unit_test(test_decode_matches_edges),
        cmocka_unit_test(test_emit_watermark_outside_generator),
        cmocka_unit_test(test_builder_errors),
        cmocka_unit_test(test_plugin),
    };
    cf_log_set_level(CF_LOGL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
