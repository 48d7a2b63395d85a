/*
 * test_jobmanager_task_times.c: the JobMaster side of busy /
 * back-pressured / idle time: TaskTimes of the reports stored per
 * execution (raised, reset with a new attempt), the rates derived from
 * successive reports, and how the REST views serve them (task metrics as
 * Java-formatted strings, back pressure ratios and levels, IOMetricsInfo
 * accumulated times).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "dispatcher_int.h"

#include <cmocka.h>

#include "jm_fixture.h"

typedef struct fx_s {
    cf_jobmaster_t jmr;
    cf_ejv_t v;
    cf_exec_vertex_t ev[3];
} fx_t;

static void
fx_init(fx_t *fx)
{
    jm_fixture_init(&fx->jmr, &fx->v, fx->ev, 3, "times job",
                    "Source: gen");
}

/* A heartbeat report of subtask k; times NULL: a report without them. */
static void
report(fx_t *fx, int k, int64_t rin, int64_t rout, int64_t bin, int64_t bout,
       const cf_task_times_t *times)
{
    Cflink__UpdateTaskExecutionState u =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
    Cflink__TaskTimes t = CFLINK__TASK_TIMES__INIT;

    u.job_id = cf_rpc_id_bytes(&fx->jmr.job_id);
    u.attempt_id = cf_rpc_id_bytes(&fx->ev[k].attempt_id);
    u.state = CF_EXEC_RUNNING;
    u.records_in = rin;
    u.records_out = rout;
    u.bytes_in = bin;
    u.bytes_out = bout;
    if (times != NULL) {
        t.busy_ms = times->busy_ms;
        t.back_pressured_ms = times->back_pressured_ms;
        t.idle_ms = times->idle_ms;
        u.times = &t;
    }
    cf_jobmaster_update_counters(&fx->jmr, &u);
}

static char *
dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void
expect_dto(json_t *j, const char *want)
{
    char *s = dump(j);
    if (strcmp(s, want) != 0)
        fail_msg("got  %s\nwant %s", s, want);
    free(s);
}

/* Subtask 0: 3 s of task time between two reports; 1: only one report;
 * 2: a report without times. */
static void
fx_reports(fx_t *fx)
{
    cf_task_times_t t0 = {0, 0, 0}, t1 = {369, 2400, 231};

    report(fx, 0, 0, 0, 0, 0, &t0);
    report(fx, 0, 1234, 1, 45000000, 7, &t1);
    report(fx, 1, 10, 10, 10, 10, &t1);
    report(fx, 2, 5, 5, 5, 5, NULL);
}

static void
test_subtask_metrics(void **st)
{
    fx_t fx;
    (void)st;

    fx_init(&fx);
    fx_reports(&fx);
    assert_true(fx.ev[0].has_times);
    assert_int_equal(fx.ev[0].times.back_pressured_ms, 2400);
    /* Values as Java writes them: doubles with a fraction digit or an
     * exponent, longs plain. */
    expect_dto(cf_rest_subtask_metrics_dto(
                   &fx.ev[0],
                   "numRecordsIn,numRecordsInPerSecond,numRecordsOutPerSecond,"
                   "numBytesInPerSecond,numBytesOutPerSecond,"
                   "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,"
                   "idleTimeMsPerSecond,accumulatedBusyTime,"
                   "accumulatedBackpressuredTime,accumulatedIdleTime"),
               "[{\"id\":\"numRecordsIn\",\"value\":\"1234\"},"
               "{\"id\":\"numRecordsInPerSecond\","
               "\"value\":\"411.3333333333333\"},"
               "{\"id\":\"numRecordsOutPerSecond\","
               "\"value\":\"0.3333333333333333\"},"
               "{\"id\":\"numBytesInPerSecond\",\"value\":\"1.5E7\"},"
               "{\"id\":\"numBytesOutPerSecond\","
               "\"value\":\"2.3333333333333335\"},"
               "{\"id\":\"busyTimeMsPerSecond\",\"value\":\"123.0\"},"
               "{\"id\":\"backPressuredTimeMsPerSecond\",\"value\":\"800\"},"
               "{\"id\":\"idleTimeMsPerSecond\",\"value\":\"77\"},"
               "{\"id\":\"accumulatedBusyTime\",\"value\":\"369.0\"},"
               "{\"id\":\"accumulatedBackpressuredTime\","
               "\"value\":\"2400\"},"
               "{\"id\":\"accumulatedIdleTime\",\"value\":\"231\"}]");
    /* One report: the rates exist and are 0. */
    expect_dto(cf_rest_subtask_metrics_dto(
                   &fx.ev[1], "busyTimeMsPerSecond,numRecordsInPerSecond"),
               "[{\"id\":\"busyTimeMsPerSecond\",\"value\":\"0.0\"},"
               "{\"id\":\"numRecordsInPerSecond\",\"value\":\"0.0\"}]");
    /* No times reported: no time metrics, the IO ones exist. */
    expect_dto(cf_rest_subtask_metrics_dto(
                   &fx.ev[2], "busyTimeMsPerSecond,accumulatedIdleTime,"
                              "numRecordsOut"),
               "[{\"id\":\"numRecordsOut\",\"value\":\"5\"}]");
    /* Aggregated over the subtasks that have it: numbers. */
    {
        int status = 0;
        expect_dto(cf_rest_subtasks_metrics_dto(&fx.v,
                                                "backPressuredTimeMsPerSecond",
                                                "min,max,sum", NULL, &status),
                   "[{\"id\":\"backPressuredTimeMsPerSecond\","
                   "\"max\":800.0,\"min\":0.0,\"sum\":800.0}]");
        assert_int_equal(status, 200);
    }
}

static void
test_backpressure(void **st)
{
    fx_t fx;
    cf_task_times_t a = {0, 0, 0}, b = {500, 400, 100};
    json_t *o;
    (void)st;

    fx_init(&fx);
    /* 0: 80 % back-pressured, 1: 30 %, 2: 10 % (exactly Flink's "ok"
     * bound). */
    report(&fx, 0, 0, 0, 0, 0, &a);
    report(&fx, 0, 0, 0, 0, 0, &(cf_task_times_t){100, 800, 100});
    report(&fx, 1, 0, 0, 0, 0, &a);
    report(&fx, 1, 0, 0, 0, 0, &(cf_task_times_t){200, 300, 500});
    report(&fx, 2, 0, 0, 0, 0, &a);
    report(&fx, 2, 0, 0, 0, 0, &(cf_task_times_t){800, 100, 100});
    o = cf_rest_backpressure_dto(&fx.v, 42);
    json_object_del(o, "end-timestamp");
    expect_dto(
        o, "{\"backpressure-level\":\"high\","
           "\"backpressureLevel\":\"high\",\"status\":\"ok\","
           "\"subtasks\":["
           "{\"backpressure-level\":\"high\","
           "\"backpressureLevel\":\"high\",\"busyRatio\":0.10000000000000001,"
           "\"idleRatio\":0.10000000000000001,\"ratio\":0.80000000000000004,"
           "\"subtask\":0},"
           "{\"backpressure-level\":\"low\",\"backpressureLevel\":\"low\","
           "\"busyRatio\":0.20000000000000001,\"idleRatio\":0.5,"
           "\"ratio\":0.29999999999999999,\"subtask\":1},"
           "{\"backpressure-level\":\"ok\",\"backpressureLevel\":\"ok\","
           "\"busyRatio\":0.80000000000000004,"
           "\"idleRatio\":0.10000000000000001,"
           "\"ratio\":0.10000000000000001,\"subtask\":2}]}");
    /* Reports closer than a second of task time keep the older sample:
     * the rates do not move. */
    report(&fx, 0, 0, 0, 0, 0, &(cf_task_times_t){600, 800, 100});
    assert_true(cf_jobmaster_rate(&fx.ev[0], CF_RATE_BACKPRESSURED) == 800.0);
    /* An older report lowers nothing. */
    report(&fx, 0, 0, 0, 0, 0, &b);
    assert_int_equal(fx.ev[0].times.busy_ms, 600);
    assert_int_equal(fx.ev[0].times.back_pressured_ms, 800);
    /* A terminal attempt: rates 0, level ok; accumulated times stay. */
    fx.ev[0].state = CF_EXEC_FINISHED;
    assert_true(cf_jobmaster_rate(&fx.ev[0], CF_RATE_BACKPRESSURED) == 0.0);
    o = cf_rest_backpressure_dto(&fx.v, 42);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "subtasks"), 0),
                            "backpressure-level")),
                        "ok");
    assert_string_equal(
        json_string_value(json_object_get(o, "backpressure-level")), "low");
    json_decref(o);
}

static void
test_io_metrics(void **st)
{
    fx_t fx;
    json_t *o, *m;
    (void)st;

    fx_init(&fx);
    fx.ev[0].tm_resource_id = (char *)"tm-a";
    fx.ev[0].tm_host = (char *)"127.0.0.1";
    report(&fx, 0, 1, 1, 1, 1, &(cf_task_times_t){10, 20, 30});
    report(&fx, 1, 1, 1, 1, 1, &(cf_task_times_t){1, 2, 3});
    o = cf_rest_vertex_taskmanagers_dto(&fx.v, 1000);
    /* Subtasks 1 and 2 share the "(unassigned)" entry. */
    m = json_object_get(json_array_get(json_object_get(o, "taskmanagers"), 0),
                        "metrics");
    assert_int_equal(json_integer_value(
                         json_object_get(m, "accumulated-backpressured-time")),
                     20);
    assert_int_equal(
        json_integer_value(json_object_get(m, "accumulated-idle-time")), 30);
    assert_true(json_is_real(json_object_get(m, "accumulated-busy-time")));
    assert_true(json_real_value(json_object_get(m, "accumulated-busy-time")) ==
                10.0);
    m = json_object_get(json_array_get(json_object_get(o, "taskmanagers"), 1),
                        "metrics");
    assert_int_equal(json_integer_value(
                         json_object_get(m, "accumulated-backpressured-time")),
                     2);
    json_decref(o);
}

/* The reports of an attempt that is no longer current are ignored (a new
 * attempt's fields start at zero, exec_reset in jobmaster.c). */
static void
test_stale_attempt(void **st)
{
    fx_t fx;
    cf_id_t old;
    (void)st;

    fx_init(&fx);
    old = fx.ev[0].attempt_id;
    cf_id_random(&fx.ev[0].attempt_id);
    {
        Cflink__UpdateTaskExecutionState u =
            CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
        Cflink__TaskTimes t = CFLINK__TASK_TIMES__INIT;
        t.busy_ms = 5;
        u.job_id = cf_rpc_id_bytes(&fx.jmr.job_id);
        u.attempt_id = cf_rpc_id_bytes(&old);
        u.times = &t;
        cf_jobmaster_update_counters(&fx.jmr, &u);
    }
    assert_false(fx.ev[0].has_times);
    assert_false(fx.ev[0].reported);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subtask_metrics),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_io_metrics),
        cmocka_unit_test(test_stale_attempt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
