/*
 * test_jobmanager_counters.c: cf_jobmaster_update_counters, the JobMaster
 * side of the task reports in HeartbeatResponse (src/jobmanager/
 * jobmaster.c): counters of the current attempt only, never negative,
 * never backwards, no state change, bad ids ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jobmanager_int.h"
#include "jm_fixture.h"

typedef struct fx_s {
    cf_jobmaster_t jmr;
    cf_ejv_t v;
    cf_exec_vertex_t ev[2];
} fx_t;

static void
fx_init(fx_t *fx)
{
    jm_fixture_init(&fx->jmr, &fx->v, fx->ev, 2, "test job",
                    "Source");
}

static void
report(fx_t *fx, const cf_id_t *job, const cf_id_t *att, int state, int64_t ri,
       int64_t ro, int64_t bi, int64_t bo)
{
    Cflink__UpdateTaskExecutionState u =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
    u.job_id = cf_rpc_id_bytes(job);
    u.attempt_id = cf_rpc_id_bytes(att);
    u.state = state;
    u.records_in = ri;
    u.records_out = ro;
    u.bytes_in = bi;
    u.bytes_out = bo;
    cf_jobmaster_update_counters(&fx->jmr, &u);
}

static void
test_counters(void **state)
{
    fx_t fx;
    cf_id_t other;
    cf_exec_vertex_t *e1 = &fx.ev[1];
    Cflink__UpdateTaskExecutionState bad =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
    uint8_t junk[5] = {1, 2, 3, 4, 5};
    (void)state;

    fx_init(&fx);
    cf_id_random(&other);
    report(&fx, &fx.jmr.job_id, &e1->attempt_id, CF_EXEC_RUNNING, 10, 20, 300,
           400);
    assert_int_equal(e1->records_in, 10);
    assert_int_equal(e1->records_out, 20);
    assert_int_equal(e1->bytes_in, 300);
    assert_int_equal(e1->bytes_out, 400);
    assert_int_equal(fx.ev[0].records_out, 0);
    /* Never backwards, negative ignored, the state is not applied. */
    report(&fx, &fx.jmr.job_id, &e1->attempt_id, CF_EXEC_FAILED, 5, -1, 301,
           INT64_MIN);
    assert_int_equal(e1->records_in, 10);
    assert_int_equal(e1->records_out, 20);
    assert_int_equal(e1->bytes_in, 301);
    assert_int_equal(e1->bytes_out, 400);
    assert_int_equal(e1->state, CF_EXEC_RUNNING);
    /* A stale attempt, another job, bad ids: ignored. */
    report(&fx, &fx.jmr.job_id, &other, CF_EXEC_RUNNING, 99, 99, 999, 999);
    report(&fx, &other, &e1->attempt_id, CF_EXEC_RUNNING, 99, 99, 999, 999);
    memset(&other, 0, sizeof other);
    fx.ev[0].attempt_id = other; /* a subtask not deployed yet */
    report(&fx, &fx.jmr.job_id, &other, CF_EXEC_RUNNING, 99, 99, 999, 999);
    bad.job_id.data = junk;
    bad.job_id.len = sizeof junk;
    bad.attempt_id = cf_rpc_id_bytes(&e1->attempt_id);
    bad.records_out = 99;
    cf_jobmaster_update_counters(&fx.jmr, &bad);
    bad.job_id = cf_rpc_id_bytes(&fx.jmr.job_id);
    bad.attempt_id.data = junk;
    bad.attempt_id.len = sizeof junk;
    cf_jobmaster_update_counters(&fx.jmr, &bad);
    cf_jobmaster_update_counters(&fx.jmr, NULL);
    assert_int_equal(e1->records_out, 20);
    assert_int_equal(fx.ev[0].records_out, 0);
    assert_int_equal(fx.ev[0].bytes_out, 0);
    /* Growing counters are applied. */
    report(&fx, &fx.jmr.job_id, &e1->attempt_id, CF_EXEC_RUNNING, 11, 21, 302,
           401);
    assert_int_equal(e1->records_in, 11);
    assert_int_equal(e1->records_out, 21);
    assert_int_equal(e1->bytes_out, 401);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
