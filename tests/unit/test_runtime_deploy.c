/*
 * test_runtime_deploy.c: subtasks deployed one at a time (the TaskManager
 * path): a JobGraph from the network is checked index by index before use
 * (malformed or fuzzed graphs are refused, never crash), and deployed
 * tasks wait for their consumers, run, and report their states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "jobgraph.pb-c.h"
#include "runtime_int.h"

#include <cmocka.h>

#define NREC 10000

static atomic_int sink_count;
static atomic_llong sink_sum;

static int
src_next(cf_ctx_t *ctx)
{
    int *i = cf_task_local(ctx);
    int64_t v;
    if (i == NULL) {
        i = cf_calloc(1, sizeof *i);
        cf_task_set_local(ctx, i);
    }
    if (*i >= NREC) {
        cf_free(i);
        cf_task_set_local(ctx, NULL);
        return CF_SOURCE_END;
    }
    v = (*i)++;
    return cf_task_emit(ctx, &v, sizeof v, v);
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    int64_t v;
    (void)ctx;
    memcpy(&v, in->data, sizeof v);
    atomic_fetch_add(&sink_count, 1);
    atomic_fetch_add(&sink_sum, v);
    return CF_OK;
}

static int
key_all(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL,
                                        src_next, NULL};
static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                       sink_invoke, NULL, NULL};

static cf_job_t *
job_new(const cf_config_t *cfg)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_stream_t *s;
    cf_error_t *err = NULL;

    job->env = cf_env_new(cfg, 1);
    job->cfg = cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_key_by(s, key_all, NULL);
    cf_b_sink(s, "out", &sink_ops, NULL);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    assert_int_equal(job->nvertices, 2);
    return job;
}

static void
job_free(cf_job_t *job)
{
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

/* Re-encode jg after a mutation, bind, expect failure naming `what`. */
static void
expect_refused(cf_job_t *job, Cflink__JobGraph *jg, const char *what)
{
    size_t len = cflink__job_graph__get_packed_size(jg);
    uint8_t *buf = cf_malloc(len + 1);
    cf_error_t *err = NULL;
    cflink__job_graph__pack(jg, buf);
    assert_true(cf_job_bind(job, buf, len, &err) < 0);
    assert_non_null(err);
    if (strstr(cf_error_msg(err), what) == NULL)
        fail_msg("'%s' does not mention '%s'", cf_error_msg(err), what);
    cf_error_free(err);
    cf_free(buf);
}

static void
test_bind_checks(void **st)
{
    cf_job_t *job = job_new(NULL);
    uint8_t *buf;
    size_t len;
    Cflink__JobGraph *jg;
    cf_error_t *err = NULL;
    (void)st;

    assert_int_equal(cf_job_encode(job, &buf, &len), 0);
    assert_int_equal(cf_job_bind(job, buf, len, &err), 0);
    jg = cflink__job_graph__unpack(NULL, len, buf);
    assert_non_null(jg);

    jg->vertices[0]->outputs[0]->target_vertex = 7;
    expect_refused(job, jg, "bad output");
    jg->vertices[0]->outputs[0]->target_vertex = 0; /* a self loop */
    expect_refused(job, jg, "bad output");
    jg->vertices[0]->outputs[0]->target_vertex = 1;

    jg->vertices[0]->outputs[0]->partitioner = 99;
    expect_refused(job, jg, "bad output");
    jg->vertices[0]->outputs[0]->partitioner = CF_PARTITION_HASH;

    jg->vertices[1]->parallelism = 0;
    expect_refused(job, jg, "parallelism");
    jg->vertices[1]->parallelism = 1;

    jg->vertices[1]->inputs[0]->source_output = 3;
    expect_refused(job, jg, "does not match");
    jg->vertices[1]->inputs[0]->source_output = 0;

    {
        int32_t bad = 0; /* operator 0 "chains" to itself */
        int32_t *old = jg->vertices[0]->operators[0]->chained;
        size_t oldn = jg->vertices[0]->operators[0]->n_chained;
        jg->vertices[0]->operators[0]->chained = &bad;
        jg->vertices[0]->operators[0]->n_chained = 1;
        expect_refused(job, jg, "chained");
        jg->vertices[0]->operators[0]->chained = old;
        jg->vertices[0]->operators[0]->n_chained = oldn;
    }
    {
        int32_t bad = 5;
        int32_t *old = jg->vertices[0]->operators[0]->outputs;
        size_t oldn = jg->vertices[0]->operators[0]->n_outputs;
        jg->vertices[0]->operators[0]->outputs = &bad;
        jg->vertices[0]->operators[0]->n_outputs = 1;
        expect_refused(job, jg, "output index");
        jg->vertices[0]->operators[0]->outputs = old;
        jg->vertices[0]->operators[0]->n_outputs = oldn;
    }
    cflink__job_graph__free_unpacked(jg, NULL);

    /* Random corruption: refused or accepted, never a crash (ASan). */
    {
        uint64_t x = 88172645463325252ULL;
        uint8_t *copy = cf_malloc(len);
        for (int round = 0; round < 3000; round++) {
            memcpy(copy, buf, len);
            for (int k = 0; k < 1 + round % 4; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                copy[x % len] ^= (uint8_t)(x >> 32);
            }
            err = NULL;
            if (cf_job_bind(job, copy, len, &err) < 0)
                cf_error_free(err);
        }
        cf_free(copy);
    }
    cf_free(buf);
    job_free(job);
}

typedef struct seen_s {
    atomic_int finished;
    atomic_int failed;
} seen_t;

static void
state_cb(cf_task_t *t, cf_exec_state_t s, const char *failure, void *arg)
{
    seen_t *seen = arg;
    (void)t;
    (void)failure;
    if (s == CF_EXEC_FINISHED)
        atomic_fetch_add(&seen->finished, 1);
    if (s == CF_EXEC_FAILED)
        atomic_fetch_add(&seen->failed, 1);
}

static void
test_deploy_and_run(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = job_new(cfg);
    cf_net_env_t *net = cf_net_env_new(8 << 20, 32 * 1024);
    seen_t seen;
    cf_error_t *err = NULL;
    cf_task_t *src, *snk;
    cf_task_spec_t spec;
    (void)st;

    atomic_init(&seen.finished, 0);
    atomic_init(&seen.failed, 0);
    atomic_store(&sink_count, 0);
    atomic_store(&sink_sum, 0);

    memset(&spec, 0, sizeof spec);
    spec.vertex = 1;
    spec.subtask = 0;
    spec.attempt = 2;
    spec.nchannels = 1;
    spec.net = net;
    spec.state_cb = state_cb;
    spec.cb_arg = &seen;
    snk = cf_task_deploy(job, &spec, &err);
    assert_non_null(snk);
    assert_string_equal(cf_task_name_get(snk), "Sink: out (1/1)#2");
    assert_int_equal(cf_task_noutputs(snk), 0);

    spec.vertex = 0;
    spec.nchannels = 0;
    src = cf_task_deploy(job, &spec, &err);
    assert_non_null(src);
    assert_int_equal(cf_task_noutputs(src), 1);
    assert_int_equal(cf_task_subpartitions(src), 1);

    /* Bad specs are refused with a message. */
    spec.vertex = 9;
    assert_null(cf_task_deploy(job, &spec, &err));
    assert_non_null(err);
    cf_error_free(err);
    err = NULL;
    spec.vertex = 1;
    spec.nchannels = 0; /* the sink has an input */
    assert_null(cf_task_deploy(job, &spec, &err));
    cf_error_free(err);
    err = NULL;

    assert_int_equal(cf_task_start(snk, &err), 0);
    assert_int_equal(cf_task_start(src, &err), 0);
    /* The source waits for its consumer: nothing flows yet. */
    cf_sleep_ms(50);
    assert_int_equal(atomic_load(&sink_count), 0);
    assert_int_equal(cf_task_state(src), CF_EXEC_DEPLOYING);

    cf_net_partition_connect(cf_task_output(src, 0), 0, cf_task_gate(snk),
                             0);
    atomic_fetch_add_explicit(cf_task_connected(src), 1,
                              memory_order_release);
    cf_signal_notify(cf_task_signal(src));

    cf_task_join(src);
    cf_task_join(snk);
    assert_int_equal(atomic_load(&seen.finished), 2);
    assert_int_equal(atomic_load(&seen.failed), 0);
    assert_int_equal(atomic_load(&sink_count), NREC);
    assert_int_equal(atomic_load(&sink_sum),
                     (long long)NREC * (NREC - 1) / 2);
    {
        int64_t ri, ro, bi, bo;
        cf_task_counters(src, &ri, &ro, &bi, &bo);
        assert_int_equal(ro, NREC);
        cf_task_counters(snk, &ri, &ro, &bi, &bo);
        assert_int_equal(ri, NREC);
    }
    /* The source's pool outlives it until the sink's gate lets go. */
    cf_task_free(src);
    cf_task_free(snk);
    assert_int_equal(cf_net_env_free_segments(net),
                     cf_net_env_total_segments(net));
    cf_net_env_destroy(net);
    job_free(job);
    cf_config_destroy(cfg);
}

/* Pointwise wiring equals Flink's EdgeManagerBuildUtil.connectPointwise
 * (re-derived here from its loops over consumers and producers). */
static void
test_pointwise_like_flink(void **st)
{
    (void)st;
    for (int P = 1; P <= 13; P++) {
        for (int C = 1; C <= 13; C++) {
            int want[13][13]; /* want[i][k]: producer i feeds consumer k */
            memset(want, 0, sizeof want);
            if (P == C) {
                for (int i = 0; i < P; i++)
                    want[i][i] = 1;
            } else if (P > C) {
                for (int k = 0; k < C; k++)
                    for (int i = k * P / C; i < (k + 1) * P / C; i++)
                        want[i][k] = 1;
            } else {
                for (int i = 0; i < P; i++) {
                    int a = (i * C + P - 1) / P;
                    int b = ((i + 1) * C + P - 1) / P;
                    for (int k = a; k < b; k++)
                        want[i][k] = 1;
                }
            }
            for (int i = 0; i < P; i++) {
                int lo, n;
                cf_job_edge_consumers(CF_PARTITION_RESCALE, P, C, i, &lo, &n);
                for (int k = 0; k < C; k++) {
                    int got = k >= lo && k < lo + n;
                    if (got != want[i][k])
                        fail_msg("P=%d C=%d producer %d consumer %d: %d, "
                                 "Flink %d",
                                 P, C, i, k, got, want[i][k]);
                }
            }
            /* Every consumer has at least one producer. */
            for (int k = 0; k < C; k++) {
                int any = 0;
                for (int i = 0; i < P; i++)
                    any |= want[i][k];
                assert_true(any);
            }
        }
    }
}

/* Buffer timeout 0: a record ships at once, even while the source is
 * still inside its next() call (Flink flushes after every record). */
static atomic_int slow_first_seen_ms;
static int64_t slow_t0;

static int
slow_src_next(cf_ctx_t *ctx)
{
    int *done = cf_task_local(ctx);
    int64_t v = 7;
    int rc;
    if (done != NULL)
        return CF_SOURCE_END;
    cf_task_set_local(ctx, &slow_first_seen_ms); /* any non-NULL marker */
    rc = cf_task_emit(ctx, &v, sizeof v, 0);
    cf_sleep_ms(400); /* still inside next(): nothing would flush */
    return rc < 0 ? rc : CF_OK;
}

static int
slow_sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    if (atomic_load(&slow_first_seen_ms) < 0)
        atomic_store(&slow_first_seen_ms, (int)(cf_mono_ms() - slow_t0));
    return CF_OK;
}

static const cf_source_ops_t slow_src_ops = {sizeof(cf_source_ops_t), NULL,
                                             slow_src_next, NULL};
static const cf_sink_ops_t slow_sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                            slow_sink_invoke, NULL, NULL};

static void
test_buffer_timeout_zero(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_net_env_t *net = cf_net_env_new(8 << 20, 32 * 1024);
    cf_error_t *err = NULL;
    cf_task_spec_t spec;
    cf_task_t *src, *snk;
    cf_stream_t *s;
    (void)st;

    assert_int_equal(cf_config_set(cfg, "execution.buffer-timeout.interval",
                                   "0 ms", "test", &err),
                     0);
    job->env = cf_env_new(cfg, 1);
    job->cfg = cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "src", &slow_src_ops, NULL);
    s = cf_b_key_by(s, key_all, NULL);
    cf_b_sink(s, "out", &slow_sink_ops, NULL);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);

    memset(&spec, 0, sizeof spec);
    spec.net = net;
    spec.vertex = 1;
    spec.nchannels = 1;
    snk = cf_task_deploy(job, &spec, &err);
    spec.vertex = 0;
    spec.nchannels = 0;
    src = cf_task_deploy(job, &spec, &err);
    assert_non_null(snk);
    assert_non_null(src);
    cf_net_partition_connect(cf_task_output(src, 0), 0, cf_task_gate(snk),
                             0);
    atomic_fetch_add(cf_task_connected(src), 1);
    atomic_store(&slow_first_seen_ms, -1);
    slow_t0 = cf_mono_ms();
    assert_int_equal(cf_task_start(snk, &err), 0);
    assert_int_equal(cf_task_start(src, &err), 0);
    cf_task_join(src);
    cf_task_join(snk);
    /* Seen long before the source's next() returned (400 ms). */
    assert_true(atomic_load(&slow_first_seen_ms) >= 0);
    assert_true(atomic_load(&slow_first_seen_ms) < 200);
    cf_task_free(src);
    cf_task_free(snk);
    cf_net_env_destroy(net);
    job_free(job);
    cf_config_destroy(cfg);
}

/* Cancellation is seen within a few records, not after a whole input
 * buffer: a sink taking 1 ms per record holds ~2700 12-byte-header
 * records per 32 KiB buffer (seconds of work). */
static int
sleepy_sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    cf_sleep_ms(1);
    return CF_OK;
}

static const cf_sink_ops_t sleepy_sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                              sleepy_sink_invoke, NULL,
                                              NULL};

static void
test_cancel_inside_buffer(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_net_env_t *net = cf_net_env_new(8 << 20, 32 * 1024);
    cf_error_t *err = NULL;
    cf_task_spec_t spec;
    cf_task_t *src, *snk;
    cf_stream_t *s;
    int64_t t0;
    (void)st;

    job->env = cf_env_new(cfg, 1);
    job->cfg = cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_key_by(s, key_all, NULL);
    cf_b_sink(s, "out", &sleepy_sink_ops, NULL);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);

    memset(&spec, 0, sizeof spec);
    spec.net = net;
    spec.vertex = 1;
    spec.nchannels = 1;
    snk = cf_task_deploy(job, &spec, &err);
    spec.vertex = 0;
    spec.nchannels = 0;
    src = cf_task_deploy(job, &spec, &err);
    assert_non_null(snk);
    assert_non_null(src);
    cf_net_partition_connect(cf_task_output(src, 0), 0, cf_task_gate(snk),
                             0);
    atomic_fetch_add(cf_task_connected(src), 1);
    assert_int_equal(cf_task_start(snk, &err), 0);
    assert_int_equal(cf_task_start(src, &err), 0);
    cf_sleep_ms(100); /* the sink is inside its first buffer */
    t0 = cf_mono_ms();
    cf_task_cancel(snk);
    cf_task_cancel(src);
    cf_task_join(snk);
    cf_task_join(src);
    if (cf_mono_ms() - t0 > 500)
        fail_msg("cancel took %lld ms", (long long)(cf_mono_ms() - t0));
    assert_int_equal(cf_task_state(snk), CF_EXEC_CANCELED);
    cf_task_free(src);
    cf_task_free(snk);
    cf_net_env_destroy(net);
    job_free(job);
    cf_config_destroy(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointwise_like_flink),
        cmocka_unit_test(test_buffer_timeout_zero),
        cmocka_unit_test(test_cancel_inside_buffer),
        cmocka_unit_test(test_bind_checks),
        cmocka_unit_test(test_deploy_and_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
