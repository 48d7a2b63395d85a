/*
 * test_runtime_graph.c: StreamGraph to JobGraph: Flink's chaining rule,
 * default partitioners, validation messages, the JobGraph's protobuf round
 * trip, and the state machines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "runtime_int.h"

#include <cmocka.h>

static int
src_next(cf_ctx_t *ctx)
{
    (void)ctx;
    return CF_SOURCE_END;
}

static int
id_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    (void)ctx;
    *out = *in;
    return CF_OK;
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
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
job_new(int parallelism)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    job->env = cf_env_new(NULL, parallelism);
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    return job;
}

static void
test_chaining(void **st)
{
    cf_job_t *job = job_new(2);
    cf_stream_t *s;
    cf_error_t *err = NULL;
    (void)st;

    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_map(s, "a", id_map, NULL);
    s = cf_b_map(s, "b", id_map, NULL);
    cf_b_start_new_chain(s); /* b heads a new chain */
    s = cf_b_key_by(s, key_all, NULL);
    s = cf_b_map(s, "c", id_map, NULL); /* HASH edge: not chained */
    s = cf_b_set_parallelism(s, 3);
    cf_b_sink(s, "out", &sink_ops, NULL); /* p 2 vs 3: REBALANCE */
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    assert_int_equal(job->nvertices, 4);
    assert_string_equal(job->vertices[0].name, "Source: src -> a");
    assert_string_equal(job->vertices[1].name, "b");
    assert_string_equal(job->vertices[2].name, "c");
    assert_string_equal(job->vertices[3].name, "Sink: out");
    assert_int_equal(job->vertices[0].outs[0].partitioner,
                     CF_PARTITION_FORWARD);
    assert_int_equal(job->vertices[1].outs[0].partitioner, CF_PARTITION_HASH);
    assert_int_equal(job->vertices[2].outs[0].partitioner,
                     CF_PARTITION_REBALANCE);
    assert_int_equal(job->vertices[2].parallelism, 3);
    assert_int_equal(job->vertices[2].max_parallelism, 128);

    /* The protobuf round trip yields the same vertices and edges. */
    uint8_t *buf;
    size_t len;
    assert_int_equal(cf_job_encode(job, &buf, &len), 0);
    cf_job_t copy = *job;
    copy.vertices = NULL;
    copy.nvertices = 0;
    assert_int_equal(cf_job_decode(&copy, buf, len, &err), 0);
    assert_int_equal(copy.nvertices, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(copy.vertices[i].name, job->vertices[i].name);
        assert_true(cf_id_equal(&copy.vertices[i].id, &job->vertices[i].id));
        assert_int_equal(copy.vertices[i].nops, job->vertices[i].nops);
        assert_int_equal(copy.vertices[i].nins, job->vertices[i].nins);
    }
    /* A corrupted message is refused. */
    cf_job_t bad = copy;
    bad.vertices = NULL;
    bad.nvertices = 0;
    buf[0] ^= 0xff;
    buf[1] ^= 0xff;
    assert_true(cf_job_decode(&bad, buf, len, &err) < 0);
    assert_non_null(err);
    cf_error_free(err);
    cf_jobgraph_free(&bad);
    cf_free(buf);
    cf_jobgraph_free(&copy);
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

static void
test_fan_out_name_and_union(void **st)
{
    cf_job_t *job = job_new(1);
    cf_stream_t *s, *a, *b;
    cf_error_t *err = NULL;
    (void)st;

    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    a = cf_b_map(s, "a", id_map, NULL);
    b = cf_b_map(s, "b", id_map, NULL);
    cf_b_sink(cf_b_union(a, &b, 1), "out", &sink_ops, NULL);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    /* The sink has two inputs: it heads its own vertex. */
    assert_int_equal(job->nvertices, 2);
    assert_string_equal(job->vertices[0].name, "Source: src -> (a, b)");
    assert_int_equal(job->vertices[1].nins, 2);
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

static void
test_validation(void **st)
{
    cf_job_t *job = job_new(2);
    cf_stream_t *s;
    cf_error_t *err = NULL;
    (void)st;

    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_partition(s, CF_PARTITION_FORWARD);
    s = cf_b_map(s, "m", id_map, NULL);
    cf_b_set_parallelism(s, 1);
    assert_true(cf_jobgraph_build(job, &err) < 0);
    assert_non_null(strstr(cf_error_msg(err),
                           "Forward partitioning does not allow change of "
                           "parallelism"));
    cf_error_free(err);
    err = NULL;
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);

    job = job_new(1);
    assert_true(cf_jobgraph_build(job, &err) < 0);
    assert_string_equal(cf_error_msg(err), "No operators defined in "
                                           "streaming topology. Cannot "
                                           "execute.");
    cf_error_free(err);
    /* Builder misuse is recorded, the first message wins. */
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_reduce(s, "r", NULL, NULL);
    cf_b_set_parallelism(s, 0);
    assert_string_equal(job->env->error, "reduce() requires a keyed "
                                         "stream: call key_by() first");
    cf_env_destroy(job->env);
    cf_free(job);
}

static void
test_states(void **st)
{
    (void)st;
    assert_string_equal(cf_job_status_name(CF_JOB_CANCELLING), "CANCELLING");
    assert_string_equal(cf_job_status_name(CF_JOB_CANCELED), "CANCELED");
    assert_string_equal(cf_exec_state_name(CF_EXEC_CANCELING), "CANCELING");
    assert_true(cf_job_status_can_move(CF_JOB_RUNNING, CF_JOB_FINISHED));
    assert_false(cf_job_status_can_move(CF_JOB_FINISHED, CF_JOB_RUNNING));
    assert_false(cf_job_status_can_move(CF_JOB_CREATED, CF_JOB_FINISHED));
    assert_true(cf_exec_state_can_move(CF_EXEC_DEPLOYING,
                                       CF_EXEC_INITIALIZING));
    assert_false(cf_exec_state_can_move(CF_EXEC_FAILED, CF_EXEC_RUNNING));
    assert_false(cf_exec_state_can_move(CF_EXEC_CREATED, CF_EXEC_FINISHED));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chaining),
        cmocka_unit_test(test_fan_out_name_and_union),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
