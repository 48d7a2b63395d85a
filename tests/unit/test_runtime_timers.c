/*
 * test_runtime_timers.c: timers of operator instances (timer_rt.c) on
 * real task contexts (cf_task_new over a built job graph, as the
 * operator checkpoint tests do): event-time timers fire in timestamp
 * order with their key current (backend, ctx->key, keyed state) and
 * cf_ctx_timestamp() = ts; registration is deduplicated; deletion;
 * timers set inside on_timer that are due fire in the same advance;
 * processing-time timers on the test clock; errors (non-keyed operators
 * with Flink's message, no current key, no on_timer, bad domain, a
 * failing on_timer); large keys; and timers snapshotted with the keyed
 * state and restored (same and another parallelism), their queues
 * rebuilt by cf_rt_timers_open.
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
#include <unistd.h>

#include "eventtime.h"
#include "op_ckpt.h"
#include "task.h"
#include "timers.h"

#include <cmocka.h>

#define MAXP 16
#define NKEYS 20

/* ------------------------------------------------------------------ */
/* The job: src -> plain (non-keyed process) -> keyBy -> timed (keyed  */
/* process with on_timer); plain -> keyBy -> notimer (no on_timer).    */
/* ------------------------------------------------------------------ */

static int
src_next(cf_ctx_t *ctx)
{
    (void)ctx;
    return CF_SOURCE_END;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL,
                                        src_next, NULL};

static int
key_all(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

static int
proc_fn(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    return CF_OK;
}

/* What on_timer saw. */
typedef struct fired_s {
    char key[300];
    uint32_t klen;
    int64_t ts;
    int domain;
    int64_t ctx_ts; /* cf_rt_timestamp */
    int64_t wm;     /* cf_rt_current_watermark */
    int64_t value;  /* keyed state "v" of the current key, or -1 */
} fired_t;

static fired_t fired[512];
static int nfired;
/* Extra behaviour of on_timer for a test, or NULL. */
static int (*timer_hook)(cf_ctx_t *ctx, int64_t ts, int domain);

static int
timed_on_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    fired_t *f = &fired[nfired++];
    cf_state_t *v = cf_task_state_value(ctx, "v");
    cf_slice_t k, val;

    assert_true(nfired <= (int)(sizeof fired / sizeof fired[0]));
    assert_int_equal(cf_task_current_key(ctx, &k), 0);
    assert_true(k.len < sizeof f->key);
    memcpy(f->key, k.data, k.len);
    f->key[k.len] = '\0';
    f->klen = k.len;
    /* ctx->key is the same key (cf_op_keyed's equivalent). */
    assert_int_equal(ctx->key.len, k.len);
    assert_memory_equal(ctx->key.data, k.data, k.len);
    f->ts = ts;
    f->domain = domain;
    f->ctx_ts = cf_ctx_timestamp(ctx);
    f->wm = cf_ctx_current_watermark(ctx);
    f->value = -1;
    assert_non_null(v);
    if (cf_kstate_value_get(v, &val) == 1) {
        assert_int_equal(val.len, 8);
        memcpy(&f->value, val.data, 8);
    }
    return timer_hook ? timer_hook(ctx, ts, domain) : CF_OK;
}

static const cf_process_ops_t timed_ops = {
    sizeof(cf_process_ops_t), NULL, proc_fn, NULL, NULL, timed_on_timer};
static const cf_process_ops_t plain_ops = {sizeof(cf_process_ops_t), NULL,
                                           proc_fn, NULL, NULL, NULL};

static cf_job_t *
job_new(int p)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_error_t *err = NULL;
    cf_stream_t *s, *k;

    job->env = cf_env_new(NULL, p);
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    cf_b_env_set_max_parallelism(job->env, MAXP);
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_set_uid(s, "src");
    s = cf_b_process(s, "plain", &plain_ops, NULL);
    cf_b_set_uid(s, "plain");
    k = cf_b_process(cf_b_key_by(s, key_all, NULL), "timed", &timed_ops,
                     NULL);
    cf_b_set_uid(k, "timed");
    k = cf_b_process(cf_b_key_by(s, key_all, NULL), "notimer", &plain_ops,
                     NULL);
    cf_b_set_uid(k, "notimer");
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    return job;
}

static void
job_free(cf_job_t *job)
{
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

/* A task of the vertex holding operator name; *ctx is that operator's. */
static cf_task_t *
task_of(cf_job_t *job, const char *name, int subtask, cf_ctx_t **ctx)
{
    for (int v = 0; v < job->nvertices; v++) {
        for (int o = 0; o < job->vertices[v].nops; o++) {
            cf_snode_t *n = cf_env_node(job->env, job->vertices[v].ops[o].node);
            if (strcmp(n->name, name) != 0)
                continue;
            cf_task_t *t = cf_task_new(NULL, job, v, subtask, 0, 0, -1);
            *ctx = &t->ctxs[o];
            return t;
        }
    }
    fail_msg("no operator '%s'", name);
    return NULL;
}

static void
task_free(cf_task_t *t)
{
    for (int i = 0; i < t->nctxs; i++) {
        cf_op_ckpt_close(&t->ctxs[i], 0);
        /* Freed before the backend (task.c may do it too). */
        if (t->ctxs[i].timers != NULL) {
            cf_timers_free(t->ctxs[i].timers);
            t->ctxs[i].timers = NULL;
        }
    }
    cf_task_destroy(t);
}

static void
key_name(int k, char *buf, size_t n)
{
    snprintf(buf, n, "key-%d", k);
}

static int
key_group(int k)
{
    char kb[32];
    key_name(k, kb, sizeof kb);
    return (int)(cf_murmur3_32_key(kb, strlen(kb)) % MAXP);
}

/* Make key k current, as a record of that key does (the backend borrows
 * the bytes until the next set_key). */
static void
set_key(cf_ctx_t *ctx, int k)
{
    key_name(k, (char *)ctx->key.scratch, sizeof ctx->key.scratch);
    ctx->key.data = ctx->key.scratch;
    ctx->key.len = (uint32_t)strlen((char *)ctx->key.scratch);
    cf_kstate_set_key(ctx->kstate, ctx->key.data, ctx->key.len,
                      cf_murmur3_32_key(ctx->key.data, ctx->key.len));
}

/* Value state "v" of key k := 1000 + k (read back in on_timer). */
static void
put_value(cf_ctx_t *ctx, int k)
{
    cf_state_t *v = cf_task_state_value(ctx, "v");
    int64_t x = 1000 + k;
    assert_non_null(v);
    set_key(ctx, k);
    assert_int_equal(cf_kstate_value_put(v, &x, sizeof x), 0);
}

static int
key_index(const fired_t *f)
{
    int k;
    assert_int_equal(sscanf(f->key, "key-%d", &k), 1);
    return k;
}

static void
reset_fired(void)
{
    nfired = 0;
    timer_hook = NULL;
}

static int64_t fake_now;

static int64_t
fake_clock(void)
{
    return fake_now;
}

/* ------------------------------------------------------------------ */
/* Event time                                                          */
/* ------------------------------------------------------------------ */

static void
test_event_order_dedup_delete(void **st)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, "timed", 0, &ctx);
    /* (key, ts) registrations, out of order, with duplicates. */
    static const int reg[][2] = {{3, 30}, {1, 10}, {2, 20}, {1, 10},
                                 {4, 20}, {0, 5},  {2, 20}, {5, 40},
                                 {6, 10}, {7, 50}};
    static const int64_t want_ts[] = {5, 10, 10, 20, 20, 30};
    static const int want_key[] = {0, 1, 6, 2, 4, 3};

    (void)st;
    reset_fired();
    assert_int_equal(cf_rt_timers_open(ctx), 0);
    assert_null(ctx->timers); /* lazy: no timer yet */
    /* Task creation starts every instance without a watermark or a
     * timestamp; the host table reaches this file's functions. */
    assert_int_equal(cf_ctx_current_watermark(ctx), CF_WATERMARK_MIN);
    assert_int_equal(cf_ctx_timestamp(ctx), CF_NO_TIMESTAMP);
    assert_ptr_equal(cf_host_api.timer_register, cf_rt_timer_register);
    assert_ptr_equal(cf_host_api.timer_delete, cf_rt_timer_delete);
    assert_int_equal(cf_rt_next_processing_timer(ctx), INT64_MAX);
    assert_int_equal(cf_rt_fire_event_timers(ctx, 100), 0); /* no service */
    ctx->watermark = CF_WATERMARK_MIN;

    for (int k = 0; k < 8; k++)
        put_value(ctx, k);
    for (size_t i = 0; i < sizeof reg / sizeof reg[0]; i++) {
        set_key(ctx, reg[i][0]);
        assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, reg[i][1]),
                         0);
    }
    assert_non_null(ctx->timers);
    /* Dedup: 10 registrations, 2 duplicates. */
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 8);
    /* Delete key 5's timer; deleting a missing one is fine. */
    set_key(ctx, 5);
    assert_int_equal(cf_rt_timer_delete(ctx, CF_TIME_EVENT, 40), 0);
    assert_int_equal(cf_rt_timer_delete(ctx, CF_TIME_EVENT, 41), 0);
    set_key(ctx, 7);
    assert_int_equal(cf_rt_timer_delete(ctx, CF_TIME_PROCESSING, 50), 0);
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 7);
    assert_int_equal(cf_rt_next_processing_timer(ctx), INT64_MAX);

    /* Nothing is due below 5. */
    ctx->cur_ts = 777;
    assert_int_equal(cf_rt_fire_event_timers(ctx, 4), 0);
    assert_int_equal(nfired, 0);
    assert_int_equal(cf_rt_current_watermark(ctx), 4);

    assert_int_equal(cf_rt_fire_event_timers(ctx, 30), 0);
    assert_int_equal(nfired, 6);
    for (int i = 0; i < nfired; i++) {
        assert_int_equal(fired[i].ts, want_ts[i]);
        /* Equal timestamps: registration order. */
        assert_int_equal(key_index(&fired[i]), want_key[i]);
        assert_int_equal(fired[i].domain, CF_TIME_EVENT);
        assert_int_equal(fired[i].ctx_ts, want_ts[i]);
        assert_int_equal(fired[i].wm, 30);
        /* Keyed state is the timer's key's. */
        assert_int_equal(fired[i].value, 1000 + want_key[i]);
    }
    /* The record's timestamp is back after firing. */
    assert_int_equal(cf_rt_timestamp(ctx), 777);
    /* Fired timers are gone: the same watermark fires nothing. */
    assert_int_equal(cf_rt_fire_event_timers(ctx, 30), 0);
    assert_int_equal(nfired, 6);
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 1);
    /* The deleted one (key 5 at 40) never fires; key 7 at 50 does. */
    assert_int_equal(cf_rt_fire_event_timers(ctx, CF_WATERMARK_MAX), 0);
    assert_int_equal(nfired, 7);
    assert_int_equal(fired[6].ts, 50);
    assert_int_equal(key_index(&fired[6]), 7);
    assert_int_equal(fired[6].wm, CF_WATERMARK_MAX);
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 0);
    assert_null(t->failure);
    task_free(t);
    job_free(job);
}

/* on_timer of ts 10 sets 12 (due at watermark 20) and 30 (not due) for
 * its key, and deletes its pending timer at 15. */
static int
hook_chain(cf_ctx_t *ctx, int64_t ts, int domain)
{
    assert_int_equal(domain, CF_TIME_EVENT);
    if (ts == 10) {
        assert_int_equal(cf_timer_register(ctx, CF_TIME_EVENT, 12), 0);
        assert_int_equal(cf_timer_register(ctx, CF_TIME_EVENT, 30), 0);
        /* Deleting a pending timer of this key from on_timer. */
        assert_int_equal(cf_timer_delete(ctx, CF_TIME_EVENT, 15), 0);
    }
    return CF_OK;
}

static void
test_register_in_on_timer(void **st)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, "timed", 0, &ctx);

    (void)st;
    reset_fired();
    timer_hook = hook_chain;
    put_value(ctx, 1);
    put_value(ctx, 2);
    set_key(ctx, 1);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 10), 0);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 15), 0);
    set_key(ctx, 2);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 11), 0);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 20), 0);

    assert_int_equal(cf_rt_fire_event_timers(ctx, 20), 0);
    /* 10 (k1) -> sets 12, 30, deletes 15; 11 (k2); 12 (k1); 20 (k2). */
    assert_int_equal(nfired, 4);
    assert_int_equal(fired[0].ts, 10);
    assert_int_equal(key_index(&fired[0]), 1);
    assert_int_equal(fired[1].ts, 11);
    assert_int_equal(key_index(&fired[1]), 2);
    assert_int_equal(fired[2].ts, 12);
    assert_int_equal(key_index(&fired[2]), 1);
    assert_int_equal(fired[2].value, 1001);
    assert_int_equal(fired[3].ts, 20);
    assert_int_equal(key_index(&fired[3]), 2);
    assert_int_equal(fired[3].value, 1002);
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 1);
    assert_int_equal(cf_rt_fire_event_timers(ctx, 30), 0);
    assert_int_equal(nfired, 5);
    assert_int_equal(fired[4].ts, 30);
    assert_int_equal(key_index(&fired[4]), 1);
    assert_null(t->failure);
    task_free(t);
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Processing time                                                     */
/* ------------------------------------------------------------------ */

/* Processing-time on_timer of key 3 at 100 sets another at 150. */
static int
hook_proc(cf_ctx_t *ctx, int64_t ts, int domain)
{
    assert_int_equal(domain, CF_TIME_PROCESSING);
    assert_int_equal(cf_rt_processing_time(ctx), fake_now);
    if (ts == 100)
        return cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 150);
    return CF_OK;
}

static void
test_processing_time(void **st)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, "timed", 0, &ctx);
    int64_t before, now;

    (void)st;
    reset_fired();
    timer_hook = hook_proc;
    cf_rt_set_clock(fake_clock);
    fake_now = 1000000;
    assert_int_equal(cf_rt_processing_time(ctx), 1000000);
    fake_now = 40;
    put_value(ctx, 3);
    put_value(ctx, 4);
    set_key(ctx, 3);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 100), 0);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 100), 0);
    set_key(ctx, 4);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 50), 0);
    /* An event-time timer is another domain: not fired by the clock. */
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 10), 0);
    assert_int_equal(cf_rt_next_processing_timer(ctx), 50);

    fake_now = 60;
    assert_int_equal(cf_rt_fire_processing_timers(ctx, fake_now), 0);
    assert_int_equal(nfired, 1);
    assert_int_equal(fired[0].ts, 50);
    assert_int_equal(key_index(&fired[0]), 4);
    assert_int_equal(fired[0].domain, CF_TIME_PROCESSING);
    /* No timestamp in a processing-time timer's context (Flink). */
    assert_int_equal(fired[0].ctx_ts, CF_NO_TIMESTAMP);
    assert_int_equal(fired[0].value, 1004);
    assert_int_equal(cf_rt_next_processing_timer(ctx), 100);

    /* 100 fires, sets 150, which is due too at 200: same call. */
    fake_now = 200;
    assert_int_equal(cf_rt_fire_processing_timers(ctx, fake_now), 0);
    assert_int_equal(nfired, 3);
    assert_int_equal(fired[1].ts, 100);
    assert_int_equal(fired[2].ts, 150);
    assert_int_equal(key_index(&fired[2]), 3);
    assert_int_equal(fired[2].value, 1003);
    assert_int_equal(cf_rt_next_processing_timer(ctx), INT64_MAX);
    assert_int_equal(cf_timers_count(ctx->timers, CF_TIMERS_EVENT), 1);

    /* Back to the wall clock. */
    cf_rt_set_clock(NULL);
    before = cf_now_ms();
    now = cf_rt_processing_time(ctx);
    assert_true(now >= before && now <= cf_now_ms());
    assert_null(t->failure);
    task_free(t);
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void
expect_failure(const char *op, int (*call)(cf_ctx_t *), const char *want1,
               const char *want2)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, op, 0, &ctx);

    assert_true(call(ctx) < 0);
    assert_non_null(t->failure);
    if (strstr(t->failure, want1) == NULL ||
        (want2 && strstr(t->failure, want2) == NULL))
        fail_msg("failure '%s' lacks '%s' / '%s'", t->failure, want1,
                 want2 ? want2 : "");
    assert_true(atomic_load(&t->user_failed));
    task_free(t);
    job_free(job);
}

static int
call_register_event(cf_ctx_t *ctx)
{
    return cf_rt_timer_register(ctx, CF_TIME_EVENT, 10);
}

static int
call_register_proc(cf_ctx_t *ctx)
{
    return cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 10);
}

static int
call_delete(cf_ctx_t *ctx)
{
    return cf_rt_timer_delete(ctx, CF_TIME_EVENT, 10);
}

static int
call_keyed_register(cf_ctx_t *ctx)
{
    set_key(ctx, 1);
    return cf_rt_timer_register(ctx, CF_TIME_EVENT, 10);
}

static int
call_bad_domain(cf_ctx_t *ctx)
{
    set_key(ctx, 1);
    return cf_rt_timer_register(ctx, 7, 10);
}

static int
fail_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    (void)ctx;
    (void)ts;
    (void)domain;
    return -5;
}

static int
call_failing_on_timer(cf_ctx_t *ctx)
{
    int rc;
    set_key(ctx, 1);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 10), 0);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 11), 0);
    reset_fired();
    timer_hook = fail_timer;
    rc = cf_rt_fire_event_timers(ctx, 20);
    /* The failing timer stops the firing. */
    assert_int_equal(nfired, 1);
    timer_hook = NULL;
    return rc;
}

static int
cf_fail_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    (void)ts;
    (void)domain;
    cf_fail(ctx, "on_timer says no");
    return CF_OK; /* cf_fail then CF_OK still fails */
}

static int
call_cf_fail_on_timer(cf_ctx_t *ctx)
{
    int rc;
    set_key(ctx, 1);
    assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_PROCESSING, 10), 0);
    reset_fired();
    timer_hook = cf_fail_timer;
    rc = cf_rt_fire_processing_timers(ctx, 10);
    timer_hook = NULL;
    return rc;
}

static void
test_errors(void **st)
{
    (void)st;
    /* Flink's messages for a non-keyed operator, naming it. */
    expect_failure("plain", call_register_event,
                   "Setting timers is only supported on a keyed streams.",
                   "'plain'");
    expect_failure("plain", call_register_proc,
                   "Setting timers is only supported on a keyed streams.",
                   "'plain'");
    expect_failure("plain", call_delete,
                   "Deleting timers is only supported on a keyed streams.",
                   "'plain'");
    /* Keyed, but no current key (as in open). */
    expect_failure("timed", call_register_event, "without a current key",
                   "'timed'");
    /* Keyed without on_timer. */
    expect_failure("notimer", call_keyed_register, "no on_timer",
                   "'notimer'");
    expect_failure("timed", call_bad_domain, "unknown time domain 7",
                   "'timed'");
    /* A failing on_timer names the operator and the code. */
    expect_failure("timed", call_failing_on_timer,
                   "timer function of operator 'timed' failed (code -5)",
                   NULL);
    expect_failure("timed", call_cf_fail_on_timer, "on_timer says no", NULL);
}

/* A key longer than ctx->key's scratch goes through the instance's
 * buffer. */
static void
test_large_key(void **st)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, "timed", 0, &ctx);
    char big[2][260];

    (void)st;
    reset_fired();
    for (int i = 0; i < 2; i++) {
        memset(big[i], 'a' + i, sizeof big[i] - 1);
        big[i][sizeof big[i] - 1] = '\0';
        memcpy(big[i], "key-", 4);
        big[i][4] = (char)('7' + i);
        big[i][5] = '-';
        cf_kstate_set_key(ctx->kstate, big[i], (uint32_t)strlen(big[i]),
                          cf_murmur3_32_key(big[i], strlen(big[i])));
        assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT, 5 - i), 0);
    }
    /* The caller's key memory is gone by the time timers fire. */
    memset(big, 0, sizeof big);
    assert_int_equal(cf_rt_fire_event_timers(ctx, 10), 0);
    assert_int_equal(nfired, 2);
    assert_int_equal(fired[0].klen, 259);
    assert_int_equal(fired[0].key[4], '8');
    assert_int_equal(fired[0].key[258], 'b');
    assert_int_equal(fired[1].key[4], '7');
    assert_int_equal(fired[1].key[258], 'a');
    assert_null(t->failure);
    task_free(t);
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Snapshot and restore                                                */
/* ------------------------------------------------------------------ */

static char tmpdir[256];

/* Sync + async snapshot of ctx into tmpdir/chk-<id>; 1 with *h filled. */
static int
snapshot(cf_ctx_t *ctx, int64_t id, cf_state_handle_t *h)
{
    cf_op_snap_t *s = NULL;
    cf_error_t *err = NULL;
    char dir[300];

    memset(h, 0, sizeof *h);
    assert_int_equal(cf_op_snapshot_sync(ctx, id, &s), 0);
    if (s == NULL)
        return 0;
    snprintf(dir, sizeof dir, "%s/chk-%lld", tmpdir, (long long)id);
    mkdir(dir, 0755);
    if (cf_op_snapshot_write(s, dir, id % 2, h, &err) < 0)
        fail_msg("write: %s", cf_error_msg(err));
    cf_op_snapshot_free(s);
    return 1;
}

/* After the sync part of a snapshot, firing must not change it. */
static void
restore_rescaled(int p_old, int p_new)
{
    cf_job_t *job = job_new(p_old), *job2 = job_new(p_new);
    cf_state_handle_t h[8];
    int nh = 0, fired_per_key[NKEYS] = {0}, proc_per_key[NKEYS] = {0};
    int ntimers = 0;
    char cmd[300];

    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-timers-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    reset_fired();
    for (int s = 0; s < p_old; s++) {
        cf_ctx_t *ctx;
        cf_task_t *t = task_of(job, "timed", s, &ctx);
        int lo, hi;
        cf_keygroup_range(MAXP, p_old, s, &lo, &hi);
        for (int k = 0; k < NKEYS; k++) {
            if (key_group(k) < lo || key_group(k) > hi)
                continue;
            put_value(ctx, k);
            /* Event timers at 100 + k and 200 + k, processing at
             * 1000 + k; the one at 100 + k fires before the snapshot,
             * 300 + k is set after it (neither is restored). */
            assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT,
                                                  100 + k), 0);
            assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT,
                                                  200 + k), 0);
            assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_PROCESSING,
                                                  1000 + k), 0);
            ntimers++;
        }
        assert_int_equal(cf_rt_fire_event_timers(ctx, 150), 0);
        if (snapshot(ctx, 3, &h[nh]))
            nh++;
        for (int k = 0; k < NKEYS; k++) {
            if (key_group(k) < lo || key_group(k) > hi)
                continue;
            set_key(ctx, k);
            assert_int_equal(cf_rt_timer_register(ctx, CF_TIME_EVENT,
                                                  300 + k), 0);
        }
        assert_null(t->failure);
        task_free(t);
    }
    assert_int_equal(ntimers, NKEYS);
    assert_int_equal(nfired, NKEYS);
    assert_true(nh > 0);

    reset_fired();
    for (int s = 0; s < p_new; s++) {
        cf_ctx_t *ctx;
        cf_task_t *t = task_of(job2, "timed", s, &ctx);
        cf_op_restore_t r = {ctx->node->op_id, p_old, h, nh, 0};
        cf_error_t *err = NULL;
        int lo, hi, before = nfired;

        cf_keygroup_range(MAXP, p_new, s, &lo, &hi);
        if (cf_op_restore(ctx, &r, s, p_new, &err) < 0)
            fail_msg("restore: %s", cf_error_msg(err));
        assert_null(ctx->timers);
        assert_int_equal(cf_rt_timers_open(ctx), 0);
        /* Restored timers: a service at open, queues rebuilt. */
        assert_non_null(ctx->timers);
        assert_int_equal(cf_rt_next_processing_timer(ctx) >= 1000, 1);
        cf_rt_set_clock(fake_clock);
        fake_now = 5000;
        assert_int_equal(cf_rt_fire_processing_timers(ctx, fake_now), 0);
        assert_int_equal(cf_rt_fire_event_timers(ctx, CF_WATERMARK_MAX), 0);
        cf_rt_set_clock(NULL);
        for (int i = before; i < nfired; i++) {
            int k = key_index(&fired[i]);
            /* Only keys of this subtask's key groups. */
            assert_true(key_group(k) >= lo && key_group(k) <= hi);
            assert_int_equal(fired[i].value, 1000 + k);
            if (fired[i].domain == CF_TIME_EVENT) {
                assert_int_equal(fired[i].ts, 200 + k);
                fired_per_key[k]++;
            } else {
                assert_int_equal(fired[i].ts, 1000 + k);
                proc_per_key[k]++;
            }
        }
        /* In timestamp order within a domain. */
        for (int i = before + 1; i < nfired; i++)
            if (fired[i].domain == fired[i - 1].domain)
                assert_true(fired[i].ts >= fired[i - 1].ts);
        assert_null(t->failure);
        task_free(t);
    }
    for (int k = 0; k < NKEYS; k++) {
        assert_int_equal(fired_per_key[k], 1);
        assert_int_equal(proc_per_key[k], 1);
    }
    for (int i = 0; i < nh; i++)
        cf_free(h[i].path);
    job_free(job);
    job_free(job2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void
test_restore(void **st)
{
    (void)st;
    restore_rescaled(1, 1);
    restore_rescaled(2, 2);
    restore_rescaled(1, 3);
    restore_rescaled(3, 2);
}

/* A keyed operator that never set a timer: no service, no timer state
 * in its snapshot, none at open after restore. */
static void
test_lazy_no_timers(void **st)
{
    cf_job_t *job = job_new(1);
    cf_ctx_t *ctx;
    cf_task_t *t = task_of(job, "timed", 0, &ctx);
    cf_state_handle_t h;
    char cmd[300];

    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-timers-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    put_value(ctx, 1);
    assert_int_equal(snapshot(ctx, 1, &h), 1);
    task_free(t);
    t = task_of(job, "timed", 0, &ctx);
    {
        cf_op_restore_t r = {ctx->node->op_id, 1, &h, 1, 0};
        cf_error_t *err = NULL;
        if (cf_op_restore(ctx, &r, 0, 1, &err) < 0)
            fail_msg("restore: %s", cf_error_msg(err));
    }
    assert_int_equal(cf_rt_timers_open(ctx), 0);
    assert_null(ctx->timers);
    assert_int_equal(cf_rt_next_processing_timer(ctx), INT64_MAX);
    /* User keyed state cannot take the timers' reserved names. */
    assert_null(cf_task_state_aggregating(ctx, CF_TIMERS_STATE_EVENT, NULL));
    assert_non_null(strstr(t->failure, "reserved"));
    task_free(t);
    cf_free(h.path);
    job_free(job);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------ */
/* End to end: the local runtime                                       */
/* ------------------------------------------------------------------ */

#define E2E_N 60

/* Source subtask s emits records i = s, s + 2, ... < E2E_N: record i
 * has key "k<j % 3>" and timestamp 10 * j for j = i / 2, so the two
 * subtasks emit every record twice: its timer is set twice (dedup). */
static int
e2e_src_next(cf_ctx_t *ctx)
{
    int *i = cf_ctx_local(ctx);
    char rec[16];
    int rc;

    if (i == NULL) {
        i = calloc(1, sizeof *i);
        *i = cf_ctx_subtask_index(ctx);
        cf_ctx_set_local(ctx, i);
    }
    if (*i >= E2E_N) {
        free(i);
        cf_ctx_set_local(ctx, NULL);
        return CF_SOURCE_END;
    }
    snprintf(rec, sizeof rec, "k%d", (*i / 2) % 3);
    rc = cf_emit(ctx, rec, (uint32_t)strlen(rec), 10 * (*i / 2));
    *i += 2;
    return rc < 0 ? rc : CF_SOURCE_MORE;
}

/* Also after a failure (the non-keyed job fails at the first record). */
static void
e2e_src_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static const cf_source_ops_t e2e_src_ops = {sizeof(cf_source_ops_t), NULL,
                                            e2e_src_next, e2e_src_close};

/* Each record sets an event-time timer at its timestamp + 5. */
static int
e2e_process(cf_ctx_t *ctx, const cf_record_t *in)
{
    return cf_timer_register(ctx, CF_TIME_EVENT, in->ts + 5);
}

/* Emits "<key> <ts> <subtask> <watermark >= ts>". */
static int
e2e_on_timer(cf_ctx_t *ctx, int64_t ts, int domain)
{
    cf_slice_t k;
    char out[96];
    int n;

    if (domain != CF_TIME_EVENT || cf_ctx_timestamp(ctx) != ts ||
        cf_ctx_key(ctx, &k) < 0)
        return cf_fail(ctx, "bad timer context");
    n = snprintf(out, sizeof out, "%.*s %lld %d %d", (int)k.len,
                 (const char *)k.data, (long long)ts,
                 cf_ctx_subtask_index(ctx),
                 cf_ctx_current_watermark(ctx) >= ts);
    return cf_emit(ctx, out, (uint32_t)n, ts);
}

static const cf_process_ops_t e2e_ops = {
    sizeof(cf_process_ops_t), NULL, e2e_process, NULL, NULL, e2e_on_timer};

static pthread_mutex_t e2e_mu = PTHREAD_MUTEX_INITIALIZER;
static char e2e_out[4 * E2E_N][96];
static int64_t e2e_ts[4 * E2E_N];
static int e2e_nout;

static int
e2e_sink(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    pthread_mutex_lock(&e2e_mu);
    if (e2e_nout < 4 * E2E_N && in->len < sizeof e2e_out[0]) {
        memcpy(e2e_out[e2e_nout], in->data, in->len);
        e2e_out[e2e_nout][in->len] = '\0';
        e2e_ts[e2e_nout] = in->ts;
        e2e_nout++;
    }
    pthread_mutex_unlock(&e2e_mu);
    return CF_OK;
}

static const cf_sink_ops_t e2e_sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                           e2e_sink, NULL, NULL};

static int
e2e_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

/* keyed: the process function is keyed (else not). */
static void
e2e_run(int keyed, cf_local_result_t *res)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_wm_strategy_t wm = cf_wm_for_monotonous_timestamps();
    volatile sig_atomic_t cancel = 0;
    cf_error_t *err = NULL;
    cf_stream_t *s;

    job->cfg = cfg;
    job->env = cf_env_new(cfg, 2);
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "gen", &e2e_src_ops, NULL);
    s = cf_b_assign_watermarks(s, &wm, NULL);
    if (keyed)
        s = cf_b_key_by(s, e2e_key, NULL);
    s = cf_b_process(s, "timed", &e2e_ops, NULL);
    s = cf_b_sink(s, "collect", &e2e_sink_ops, NULL);
    cf_b_set_parallelism(s, 1);
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    e2e_nout = 0;
    memset(res, 0, sizeof *res);
    if (cf_job_run_local(job, &cancel, res, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    cf_job_destroy(job);
    cf_config_destroy(cfg);
}

static void
test_local_job(void **st)
{
    cf_local_result_t res;
    int seen[3][E2E_N] = {{0}}, nexp = 0;
    int64_t last[2][3];

    (void)st;
    e2e_run(1, &res);
    if (res.status != CF_JOB_FINISHED)
        fail_msg("status %d: %s", (int)res.status,
                 res.failure ? res.failure : "");
    free(res.failure);
    /* One timer per j = 0 .. E2E_N / 2 - 1, at 10 * j + 5. */
    nexp = E2E_N / 2;
    memset(seen, 0, sizeof seen);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++)
            last[s][k] = INT64_MIN;
    assert_int_equal(e2e_nout, nexp);
    for (int i = 0; i < e2e_nout; i++) {
        int k, sub, wm_ok;
        long long ts;
        assert_int_equal(sscanf(e2e_out[i], "k%d %lld %d %d", &k, &ts, &sub,
                                &wm_ok),
                         4);
        assert_true(k >= 0 && k < 3 && sub >= 0 && sub < 2);
        /* What on_timer emitted carries the timer's timestamp, and the
         * watermark had passed it. */
        assert_int_equal(e2e_ts[i], ts);
        assert_int_equal(wm_ok, 1);
        assert_int_equal(ts % 10, 5);
        assert_int_equal(k, (int)(ts / 10) % 3);
        /* Once per key and timestamp. */
        assert_int_equal(seen[k][ts / 10]++, 0);
        /* In timestamp order per key (one subtask owns a key). */
        assert_true(ts > last[sub][k]);
        last[sub][k] = ts;
    }
}

/* A timer in a non-keyed process function fails the job with Flink's
 * message, naming the operator. */
static void
test_local_job_not_keyed(void **st)
{
    cf_local_result_t res;

    (void)st;
    e2e_run(0, &res);
    assert_int_equal(res.status, CF_JOB_FAILED);
    assert_non_null(res.failure);
    if (strstr(res.failure,
               "Setting timers is only supported on a keyed streams.") ==
            NULL ||
        strstr(res.failure, "'timed'") == NULL)
        fail_msg("failure: %s", res.failure);
    free(res.failure);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_order_dedup_delete),
        cmocka_unit_test(test_register_in_on_timer),
        cmocka_unit_test(test_processing_time),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_large_key),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_lazy_no_timers),
        cmocka_unit_test(test_local_job),
        cmocka_unit_test(test_local_job_not_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
