/*
 * test_jobmanager_vertex.c: the job vertex views of rest_vertex.c
 * (subtasktimes, taskmanagers, backpressure, accumulators) checked field
 * by field against Flink's JSON (names, types, the values Flink's
 * handlers compute), the id resolution (400 for malformed ids, 404 with
 * the job views' messages), and the routes on a real HTTP server with an
 * empty Dispatcher (unknown ids over the wire, "deprecated" back
 * pressure for an unknown job as Flink's metric store answers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ctype.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "core.h"
#include "jobmanager_int.h"
#include "loop.h"
#include "rest.h"


#define NOW 1700000100000LL
#define T0 1700000000000LL

static const char *const all_states[] = {
    "CANCELED", "CANCELING",    "CREATED",     "DEPLOYING", "FAILED",
    "FINISHED", "INITIALIZING", "RECONCILING", "RUNNING",   "SCHEDULED"};

/* ------------------------------------------------------------------ */
/* Fixture: a vertex of four subtasks                                  */
/* ------------------------------------------------------------------ */

/* Subtasks 0 and 2 on TaskManager a (10.0.0.1:6121), 1 on b
 * (10.0.0.2:6121), 3 never scheduled. 0 RUNNING, 1 RUNNING, 2 FINISHED,
 * 3 CREATED. */
typedef struct fx_s {
    cf_jobmaster_t jmr;
    cf_ejv_t v;
    cf_exec_vertex_t ev[4];
} fx_t;

static void
fx_sub(fx_t *fx, int i, cf_exec_state_t st, const char *tm, const char *host,
       int64_t base)
{
    cf_exec_vertex_t *ev = &fx->ev[i];

    ev->subtask = i;
    ev->state = st;
    ev->attempt = i == 1 ? 2 : 0;
    ev->tm_resource_id = (char *)tm;
    ev->tm_host = (char *)host;
    ev->tm_data_port = 6121;
    ev->state_ts[CF_EXEC_CREATED] = T0;
    if (host == NULL)
        return;
    ev->state_ts[CF_EXEC_SCHEDULED] = base + 10;
    ev->state_ts[CF_EXEC_DEPLOYING] = base + 20;
    ev->state_ts[CF_EXEC_INITIALIZING] = base + 30;
    ev->state_ts[CF_EXEC_RUNNING] = base + 40;
    if (st == CF_EXEC_FINISHED)
        ev->state_ts[CF_EXEC_FINISHED] = base + 1000;
}

static void
fx_init(fx_t *fx)
{
    memset(fx, 0, sizeof *fx);
    cf_id_random(&fx->jmr.job_id);
    cf_id_to_hex(&fx->jmr.job_id, fx->jmr.job_id_hex);
    fx->jmr.name = (char *)"vertex job";
    fx->jmr.vertices = &fx->v;
    fx->jmr.nvertices = 1;
    cf_id_random(&fx->v.id);
    cf_id_to_hex(&fx->v.id, fx->v.id_hex);
    fx->v.name = (char *)"Source: gen -> Map";
    fx->v.parallelism = 4;
    fx->v.max_parallelism = 128;
    fx->v.subtasks = fx->ev;
    fx_sub(fx, 0, CF_EXEC_RUNNING, "tm-a", "10.0.0.1", T0);
    fx_sub(fx, 1, CF_EXEC_RUNNING, "tm-b", "10.0.0.2", T0 + 5);
    fx_sub(fx, 2, CF_EXEC_FINISHED, "tm-a", "10.0.0.1", T0 + 100);
    fx_sub(fx, 3, CF_EXEC_CREATED, NULL, NULL, 0);
    fx->ev[0].records_out = 10;
    fx->ev[2].records_out = 20;
    fx->ev[0].bytes_out = 100;
    fx->ev[2].bytes_out = 300;
    fx->ev[1].records_in = 7;
}

/* The sorted keys of an object, as a JSON array text. */
static char *
keys(const json_t *o)
{
    json_t *a = json_array();
    const char *k;
    json_t *val;
    char *s;

    assert_true(json_is_object(o));
    json_object_foreach((json_t *)o, k, val)
        json_array_append_new(a, json_string(k));
    /* json_object_foreach is in insertion order: sort for comparison. */
    for (size_t i = 1; i < json_array_size(a); i++)
        for (size_t j = i;
             j > 0 && strcmp(json_string_value(json_array_get(a, j - 1)),
                             json_string_value(json_array_get(a, j))) > 0;
             j--) {
            json_t *x = json_incref(json_array_get(a, j - 1));
            json_array_set(a, j - 1, json_array_get(a, j));
            json_array_set_new(a, j, x);
        }
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void
expect_keys(const json_t *o, const char *want)
{
    char *got = keys(o);
    assert_string_equal(got, want);
    free(got);
}

static int64_t
geti(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *
gets_(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* ------------------------------------------------------------------ */
/* subtasktimes                                                        */
/* ------------------------------------------------------------------ */

static void
test_subtasktimes(void **state)
{
    (void)state;
    fx_t fx;
    json_t *o, *subs, *s, *ts;

    fx_init(&fx);
    o = cf_rest_subtasktimes_dto(&fx.v, NOW);
    expect_keys(o, "[\"id\",\"name\",\"now\",\"subtasks\"]");
    assert_string_equal(gets_(o, "id"), fx.v.id_hex);
    assert_string_equal(gets_(o, "name"), "Source: gen -> Map");
    assert_int_equal(geti(o, "now"), NOW);
    subs = json_object_get(o, "subtasks");
    assert_int_equal(json_array_size(subs), 4);
    for (int i = 0; i < 4; i++) {
        s = json_array_get(subs, (size_t)i);
        expect_keys(s, "[\"duration\",\"endpoint\",\"subtask\","
                       "\"timestamps\"]");
        assert_int_equal(geti(s, "subtask"), i);
        ts = json_object_get(s, "timestamps");
        assert_int_equal(json_object_size(ts), 10);
        for (size_t k = 0; k < CF_ARRAY_LEN(all_states); k++)
            assert_true(json_is_integer(json_object_get(ts, all_states[k])));
    }
    /* Running: now - SCHEDULED; finished: FINISHED - SCHEDULED; never
     * scheduled: -1 (Flink's SubtasksTimesHandler). */
    s = json_array_get(subs, 0);
    assert_string_equal(gets_(s, "endpoint"), "10.0.0.1:6121");
    assert_int_equal(geti(s, "duration"), NOW - (T0 + 10));
    ts = json_object_get(s, "timestamps");
    assert_int_equal(geti(ts, "CREATED"), T0);
    assert_int_equal(geti(ts, "SCHEDULED"), T0 + 10);
    assert_int_equal(geti(ts, "DEPLOYING"), T0 + 20);
    assert_int_equal(geti(ts, "INITIALIZING"), T0 + 30);
    assert_int_equal(geti(ts, "RUNNING"), T0 + 40);
    assert_int_equal(geti(ts, "FINISHED"), 0);
    s = json_array_get(subs, 2);
    assert_int_equal(geti(s, "duration"), 1000 - 10);
    s = json_array_get(subs, 3);
    assert_string_equal(gets_(s, "endpoint"), "(unassigned)");
    assert_int_equal(geti(s, "duration"), -1);
    json_decref(o);
}

/* ------------------------------------------------------------------ */
/* taskmanagers                                                        */
/* ------------------------------------------------------------------ */

static void
expect_stats(const json_t *st, int64_t mn, int64_t mx, int64_t avg, int64_t sum,
             int64_t median, int64_t p25, int64_t p75, int64_t p95)
{
    expect_keys(st, "[\"avg\",\"max\",\"median\",\"min\",\"p25\",\"p75\","
                    "\"p95\",\"sum\"]");
    assert_int_equal(geti(st, "min"), mn);
    assert_int_equal(geti(st, "max"), mx);
    assert_int_equal(geti(st, "avg"), avg);
    assert_int_equal(geti(st, "sum"), sum);
    assert_int_equal(geti(st, "median"), median);
    assert_int_equal(geti(st, "p25"), p25);
    assert_int_equal(geti(st, "p75"), p75);
    assert_int_equal(geti(st, "p95"), p95);
}

static void
test_taskmanagers(void **state)
{
    (void)state;
    fx_t fx;
    json_t *o, *tms, *t, *m, *sc, *agg;

    fx_init(&fx);
    o = cf_rest_vertex_taskmanagers_dto(&fx.v, NOW);
    expect_keys(o, "[\"id\",\"name\",\"now\",\"taskmanagers\"]");
    assert_int_equal(geti(o, "now"), NOW);
    tms = json_object_get(o, "taskmanagers");
    /* a (subtasks 0, 2), b (1), unassigned (3): first-subtask order. */
    assert_int_equal(json_array_size(tms), 3);
    for (size_t i = 0; i < 3; i++)
        expect_keys(json_array_get(tms, i),
                    "[\"aggregated\",\"duration\",\"end-time\",\"endpoint\","
                    "\"metrics\",\"start-time\",\"status\","
                    "\"status-counts\",\"taskmanager-id\"]");

    t = json_array_get(tms, 0);
    assert_string_equal(gets_(t, "endpoint"), "10.0.0.1:6121");
    assert_string_equal(gets_(t, "taskmanager-id"), "tm-a");
    /* One RUNNING, one FINISHED: RUNNING, not ended, since the earliest
     * DEPLOYING. */
    assert_string_equal(gets_(t, "status"), "RUNNING");
    assert_int_equal(geti(t, "start-time"), T0 + 20);
    assert_int_equal(geti(t, "end-time"), -1);
    assert_int_equal(geti(t, "duration"), NOW - (T0 + 20));
    m = json_object_get(t, "metrics");
    expect_keys(m, "[\"accumulated-backpressured-time\","
                   "\"accumulated-busy-time\",\"accumulated-idle-time\","
                   "\"read-bytes\",\"read-bytes-complete\","
                   "\"read-records\",\"read-records-complete\","
                   "\"write-bytes\",\"write-bytes-complete\","
                   "\"write-records\",\"write-records-complete\"]");
    assert_int_equal(geti(m, "write-records"), 30);
    assert_int_equal(geti(m, "write-bytes"), 400);
    assert_int_equal(geti(m, "read-records"), 0);
    assert_true(json_is_false(json_object_get(m, "write-records-complete")));
    assert_true(
        json_is_integer(json_object_get(m, "accumulated-backpressured-time")));
    assert_true(json_is_integer(json_object_get(m, "accumulated-idle-time")));
    assert_true(json_is_real(json_object_get(m, "accumulated-busy-time")));
    sc = json_object_get(t, "status-counts");
    assert_int_equal(json_object_size(sc), 10);
    assert_int_equal(geti(sc, "RUNNING"), 1);
    assert_int_equal(geti(sc, "FINISHED"), 1);
    assert_int_equal(geti(sc, "CREATED"), 0);

    /* aggregated: Flink's AggregatedTaskDetailsInfo, seven IO figures
     * and five status durations with Commons Math's percentiles. */
    agg = json_object_get(t, "aggregated");
    expect_keys(agg, "[\"metrics\",\"status-duration\"]");
    expect_keys(json_object_get(agg, "metrics"),
                "[\"accumulated-backpressured-time\","
                "\"accumulated-busy-time\",\"accumulated-idle-time\","
                "\"read-bytes\",\"read-records\",\"write-bytes\","
                "\"write-records\"]");
    expect_keys(json_object_get(agg, "status-duration"),
                "[\"CREATED\",\"DEPLOYING\",\"INITIALIZING\",\"RUNNING\","
                "\"SCHEDULED\"]");
    /* write-records {10, 20}: median at pos 1.5 -> 15, p25 pos 0.75 ->
     * min, p75 pos 2.25 -> max. */
    expect_stats(
        json_object_get(json_object_get(agg, "metrics"), "write-records"), 10,
        20, 15, 30, 15, 10, 20, 20);
    /* CREATED lasted 10 ms (subtask 0) and 110 ms (subtask 2); RUNNING
     * now - (T0 + 40) and 1000 - 40 = 960. */
    expect_stats(
        json_object_get(json_object_get(agg, "status-duration"), "CREATED"), 10,
        110, 60, 120, 60, 10, 110, 110);
    {
        int64_t r0 = NOW - (T0 + 40);
        expect_stats(
            json_object_get(json_object_get(agg, "status-duration"), "RUNNING"),
            960, r0, (960 + r0) / 2, 960 + r0, (960 + r0) / 2, 960, r0, r0);
    }

    t = json_array_get(tms, 1);
    assert_string_equal(gets_(t, "endpoint"), "10.0.0.2:6121");
    assert_string_equal(gets_(t, "taskmanager-id"), "tm-b");
    assert_int_equal(geti(json_object_get(t, "metrics"), "read-records"), 7);

    t = json_array_get(tms, 2);
    assert_string_equal(gets_(t, "endpoint"), "(unassigned)");
    assert_string_equal(gets_(t, "taskmanager-id"), "(unassigned)");
    assert_string_equal(gets_(t, "status"), "CREATED");
    assert_int_equal(geti(t, "start-time"), -1);
    assert_int_equal(geti(t, "end-time"), -1);
    assert_int_equal(geti(t, "duration"), -1);
    json_decref(o);

    /* Everything on a finished: FINISHED, ended at the last state
     * change, complete metrics. */
    fx.ev[0].state = CF_EXEC_FINISHED;
    fx.ev[0].state_ts[CF_EXEC_FINISHED] = T0 + 5000;
    o = cf_rest_vertex_taskmanagers_dto(&fx.v, NOW);
    t = json_array_get(json_object_get(o, "taskmanagers"), 0);
    assert_string_equal(gets_(t, "status"), "FINISHED");
    assert_int_equal(geti(t, "end-time"), T0 + 5000);
    assert_int_equal(geti(t, "duration"), 5000 - 20);
    assert_true(json_is_true(
        json_object_get(json_object_get(t, "metrics"), "read-bytes-complete")));
    json_decref(o);
}

/* ------------------------------------------------------------------ */
/* backpressure                                                        */
/* ------------------------------------------------------------------ */

static void
test_backpressure(void **state)
{
    (void)state;
    fx_t fx;
    json_t *o, *subs;

    fx_init(&fx);
    o = cf_rest_backpressure_dto(&fx.v, NOW);
    expect_keys(o, "[\"backpressure-level\",\"backpressureLevel\","
                   "\"end-timestamp\",\"status\",\"subtasks\"]");
    assert_string_equal(gets_(o, "status"), "ok");
    assert_string_equal(gets_(o, "backpressureLevel"), "ok");
    assert_string_equal(gets_(o, "backpressure-level"), "ok");
    assert_int_equal(geti(o, "end-timestamp"), NOW);
    subs = json_object_get(o, "subtasks");
    assert_int_equal(json_array_size(subs), 4);
    for (int i = 0; i < 4; i++) {
        json_t *s = json_array_get(subs, (size_t)i);
        /* No attempt-number nor other-concurrent-attempts: Flink omits
         * them for a single attempt. */
        expect_keys(s, "[\"backpressure-level\",\"backpressureLevel\","
                       "\"busyRatio\",\"idleRatio\",\"ratio\",\"subtask\"]");
        assert_int_equal(geti(s, "subtask"), i);
        assert_true(json_is_real(json_object_get(s, "ratio")));
        assert_true(json_is_real(json_object_get(s, "idleRatio")));
        assert_true(json_is_real(json_object_get(s, "busyRatio")));
        assert_string_equal(gets_(s, "backpressure-level"), "ok");
    }
    json_decref(o);

    /* Flink's thresholds: <= 0.10 ok, <= 0.5 low, else high. */
    assert_string_equal(cf_rest_backpressure_level(0.0), "ok");
    assert_string_equal(cf_rest_backpressure_level(0.10), "ok");
    assert_string_equal(cf_rest_backpressure_level(0.11), "low");
    assert_string_equal(cf_rest_backpressure_level(0.5), "low");
    assert_string_equal(cf_rest_backpressure_level(0.51), "high");
    assert_string_equal(cf_rest_backpressure_level(1.0), "high");
}

/* ------------------------------------------------------------------ */
/* accumulators                                                        */
/* ------------------------------------------------------------------ */

static void
test_accumulators(void **state)
{
    (void)state;
    fx_t fx;
    json_t *o, *subs, *s;
    char *txt;

    fx_init(&fx);
    o = cf_rest_vertex_accumulators_dto(&fx.v);
    expect_keys(o, "[\"id\",\"user-accumulators\"]");
    assert_string_equal(gets_(o, "id"), fx.v.id_hex);
    assert_true(json_is_array(json_object_get(o, "user-accumulators")));
    json_decref(o);

    o = cf_rest_subtasks_accumulators_dto(&fx.v);
    expect_keys(o, "[\"id\",\"parallelism\",\"subtasks\"]");
    assert_int_equal(geti(o, "parallelism"), 4);
    subs = json_object_get(o, "subtasks");
    assert_int_equal(json_array_size(subs), 4);
    s = json_array_get(subs, 1);
    expect_keys(s, "[\"attempt\",\"endpoint\",\"subtask\","
                   "\"user-accumulators\"]");
    assert_int_equal(geti(s, "subtask"), 1);
    assert_int_equal(geti(s, "attempt"), 2);
    assert_string_equal(gets_(s, "endpoint"), "10.0.0.2:6121");
    assert_true(json_is_array(json_object_get(s, "user-accumulators")));
    assert_string_equal(gets_(json_array_get(subs, 3), "endpoint"),
                        "(unassigned)");
    json_decref(o);

    o = cf_rest_job_accumulators_dto(&fx.jmr);
    txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(txt, "{\"job-accumulators\":[],"
                             "\"serialized-user-task-accumulators\":{},"
                             "\"user-task-accumulators\":[]}");
    free(txt);
    json_decref(o);
}

/* ------------------------------------------------------------------ */
/* Id resolution                                                       */
/* ------------------------------------------------------------------ */

static void
expect_error(json_t *e, const int *status, int want_status, const char *want)
{
    /* status by address: it is set by the call in the argument e. */
    assert_non_null(e);
    assert_int_equal(*status, want_status);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(e, "errors"), 0)),
        want);
    json_decref(e);
}

static void
test_resolve(void **state)
{
    (void)state;
    fx_t fx, other;
    cf_jobmaster_t *j;
    cf_ejv_t *v;
    char up[CF_ID_HEX_LEN + 1], msg[256];
    int status = 0;

    fx_init(&fx);
    fx_init(&other);
    other.jmr.next = &fx.jmr; /* a list of two jobs */

    /* Found, with either case of hex. */
    for (size_t i = 0; i <= CF_ID_HEX_LEN; i++)
        up[i] = (char)toupper((unsigned char)fx.v.id_hex[i]);
    assert_null(cf_rest_vertex_resolve(&other.jmr, fx.jmr.job_id_hex, up, &j,
                                       &v, &status));
    assert_ptr_equal(j, &fx.jmr);
    assert_ptr_equal(v, &fx.v);
    assert_null(cf_rest_vertex_resolve(&other.jmr, other.jmr.job_id_hex, NULL,
                                       &j, NULL, &status));
    assert_ptr_equal(j, &other.jmr);

    /* Malformed: 400 naming the parameter. */
    expect_error(
        cf_rest_vertex_resolve(&other.jmr, "abc", fx.v.id_hex, &j, &v, &status),
        &status, 400,
        "Bad request, could not parse parameters: Cannot resolve "
        "path parameter (jobid) from value \"abc\".");
    assert_null(j);
    expect_error(cf_rest_vertex_resolve(&other.jmr, fx.jmr.job_id_hex,
                                        "0123456789abcdef0123456789abcdeg", &j,
                                        &v, &status),
                 &status, 400,
                 "Bad request, could not parse parameters: Cannot resolve "
                 "path parameter (vertexid) from value "
                 "\"0123456789abcdef0123456789abcdeg\".");
    expect_error(
        cf_rest_vertex_resolve(&other.jmr, "", NULL, &j, NULL, &status),
        &status, 400,
        "Bad request, could not parse parameters: Cannot resolve "
        "path parameter (jobid) from value \"\".");

    /* Unknown: 404, ids in lower case. */
    expect_error(
        cf_rest_vertex_resolve(&other.jmr, "ABCDEF0123456789ABCDEF0123456789",
                               NULL, &j, NULL, &status),
        &status, 404, "Job abcdef0123456789abcdef0123456789 not found");
    expect_error(
        cf_rest_vertex_resolve(&other.jmr, fx.jmr.job_id_hex, other.v.id_hex,
                               &j, &v, &status),
        &status, 404,
        (snprintf(msg, sizeof msg, "JobVertex %s not found", other.v.id_hex),
         msg));
    assert_null(v);
}

/* ------------------------------------------------------------------ */
/* The routes over HTTP (an empty Dispatcher)                          */
/* ------------------------------------------------------------------ */

static char tmp_dir[] = "/tmp/cf-test-vertex-XXXXXX";
static cf_jm_t jm;
static pthread_t loop_thread;
static int port;

static void *
loop_main(void *arg)
{
    (void)arg;
    cf_loop_run(jm.loop);
    return NULL;
}

static int
setup_http(void **state)
{
    cf_error_t *err = NULL;
    char up[600];

    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    jm.work_dir = tmp_dir;
    jm.cfg = cf_config_new();
    if (cf_config_set(jm.cfg, "rest.bind-address", "127.0.0.1", "test", &err) !=
            0 ||
        cf_config_set(jm.cfg, "rest.bind-port", "0", "test", &err) != 0)
        return -1;
    jm.loop = cf_loop_new("vertex-test");
    snprintf(up, sizeof up, "%s/up", tmp_dir);
    jm.rest = cf_rest_new(jm.loop, jm.cfg, up, &err);
    if (jm.rest == NULL)
        return -1;
    jm.dispatcher = cf_dispatcher_new(&jm, &err);
    if (jm.dispatcher == NULL)
        return -1;
    port = cf_rest_port(jm.rest);
    cf_rest_vertex_register(&jm);
    return pthread_create(&loop_thread, NULL, loop_main, NULL) == 0 ? 0 : -1;
}

static int
teardown_http(void **state)
{
    char cmd[600];

    (void)state;
    cf_loop_stop_async(jm.loop);
    pthread_join(loop_thread, NULL);
    cf_rest_destroy(jm.rest);
    cf_dispatcher_destroy(jm.dispatcher);
    cf_loop_destroy(jm.loop);
    cf_config_destroy(jm.cfg);
    curl_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
    cf_sbuf_appendn(ud, p, sz * n);
    return sz * n;
}

/* GET path: the status and the JSON body. */
static json_t *
http_get(const char *path, long *status)
{
    CURL *c = curl_easy_init();
    cf_sbuf_t body = {0};
    char url[512];
    json_t *j;

    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    j = json_loadb(body.s ? body.s : "", body.len, 0, NULL);
    cf_sbuf_deinit(&body);
    assert_non_null(j);
    return j;
}

static void
expect_http(const char *path, long want_status, const char *want_body)
{
    long st = 0;
    json_t *j = http_get(path, &st);
    char *txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    assert_int_equal(st, want_status);
    assert_string_equal(txt, want_body);
    free(txt);
    json_decref(j);
}

#define JID "0123456789abcdef0123456789abcdef"
#define VID "fedcba9876543210fedcba9876543210"

static void
test_http_routes(void **state)
{
    (void)state;
    static const char *const tails[] = {"subtasktimes", "taskmanagers",
                                        "accumulators",
                                        "subtasks/accumulators"};
    char path[256];

    for (size_t i = 0; i < CF_ARRAY_LEN(tails); i++) {
        snprintf(path, sizeof path, "/jobs/%s/vertices/%s/%s", JID, VID,
                 tails[i]);
        expect_http(path, 404, "{\"errors\":[\"Job " JID " not found\"]}");
        snprintf(path, sizeof path, "/v1/jobs/%s/vertices/xyz/%s", JID,
                 tails[i]);
        expect_http(path, 400,
                    "{\"errors\":[\"Bad request, could not parse "
                    "parameters: Cannot resolve path parameter (vertexid) "
                    "from value \\\"xyz\\\".\"]}");
    }
    expect_http("/jobs/" JID "/accumulators", 404,
                "{\"errors\":[\"Job " JID " not found\"]}");
    expect_http("/jobs/nope/accumulators", 400,
                "{\"errors\":[\"Bad request, could not parse parameters: "
                "Cannot resolve path parameter (jobid) from value "
                "\\\"nope\\\".\"]}");
    /* Back pressure of a job the metric store does not know: Flink's
     * JobVertexBackPressureInfo.deprecated(). Malformed ids stay 400. */
    expect_http("/jobs/" JID "/vertices/" VID "/backpressure", 200,
                "{\"status\":\"deprecated\"}");
    expect_http("/jobs/" JID "/vertices/1/backpressure", 400,
                "{\"errors\":[\"Bad request, could not parse parameters: "
                "Cannot resolve path parameter (vertexid) from value "
                "\\\"1\\\".\"]}");
}

int
main(void)
{
    const struct CMUnitTest dto[] = {
        cmocka_unit_test(test_subtasktimes),
        cmocka_unit_test(test_taskmanagers),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_accumulators),
        cmocka_unit_test(test_resolve),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_http_routes),
    };
    int rc = cmocka_run_group_tests_name("vertex views", dto, NULL, NULL);

    rc |= cmocka_run_group_tests_name("vertex routes", http, setup_http,
                                      teardown_http);
    return rc;
}
