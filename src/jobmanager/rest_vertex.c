/*
 * rest_vertex.c: the job vertex views of the monitoring REST API that the
 * dashboard's vertex detail tabs poll, with Flink's paths and JSON
 * (FLINK_INTERFACES.md 1.1 and 1.3; rest_v1_dispatcher.yml):
 *
 *   GET /jobs/:jobid/vertices/:vertexid/...
 *       subtasktimes            SubtasksTimesInfo
 *       taskmanagers            JobVertexTaskManagersInfo
 *       backpressure            JobVertexBackPressureInfo
 *       accumulators            JobVertexAccumulatorsInfo
 *       subtasks/accumulators   SubtasksAllAccumulatorsInfo
 *   GET /jobs/:jobid/accumulators   JobAccumulatorsInfo
 *
 * Everything is read from the JobMaster's ExecutionGraph (per subtask:
 * the current attempt's state timestamps, its TaskManager, its IO
 * counters), on the loop thread like every handler.
 *
 * Choices where cflink differs from Flink or Flink leaves room:
 *  - Back pressure is measured by the tasks (time blocked waiting for an
 *    output buffer, idle time waiting for input, busy time the rest;
 *    docs/internals/metrics.md): the ratios are the JobMaster's
 *    backPressuredTimeMsPerSecond, idleTimeMsPerSecond and
 *    busyTimeMsPerSecond rates / 1000 (cf_jobmaster_rate). A subtask
 *    without them (not reported yet, a TaskManager that does not send
 *    times, a terminal attempt) is served with 0, level "ok", as Flink's
 *    handler reads the gauges with a "0" default. The figures move at
 *    each report, so at the heartbeat interval. An unknown (well-formed)
 *    job or vertex answers 200 {"status": "deprecated"} as Flink's
 *    handler does when the metric store has no entry for them; malformed
 *    ids answer 400.
 *  - "attempt-number" and "other-concurrent-attempts" are left out, as
 *    Flink leaves them out when a subtask has a single attempt (cflink
 *    has no speculative execution).
 *  - cflink plugins have no user accumulators (the ABI has none): the
 *    accumulator views are the right shapes with empty lists.
 *  - The IO metrics' "-complete" flags are true once every subtask of
 *    the set is terminal (their final counters are then known), as the
 *    other job views of rest_handlers.c.
 *
 * Threads: loop.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatcher_int.h"

/* Flink's JobVertexBackPressureHandler thresholds on the ratio of time
 * back-pressured: ok up to 10 %, low up to 50 %, high above. */
#define CF_RV_BP_LOW 0.10
#define CF_RV_BP_HIGH 0.5


/* ------------------------------------------------------------------ */
/* Helpers (the same rules as rest_handlers.c's job views)             */
/* ------------------------------------------------------------------ */

json_t *
cf_rest_vertex_resolve(cf_jobmaster_t *jobs, const char *jid, const char *vid,
                       cf_jobmaster_t **jp, cf_ejv_t **vp, int *status)
{
    char low[CF_ID_HEX_LEN + 1];
    cf_jobmaster_t *j;
    cf_ejv_t *v;
    cf_id_t id;

    *jp = NULL;
    if (vp)
        *vp = NULL;
    if (jid == NULL || !cf_rest_is_hex32(jid) || cf_id_from_hex(&id, jid) < 0)
        return cf_rest_bad_path_param(status, "jobid", jid ? jid : "");
    if (vid != NULL && !cf_rest_is_hex32(vid))
        return cf_rest_bad_path_param(status, "vertexid", vid);
    for (j = jobs; j != NULL; j = j->next)
        if (cf_id_equal(&j->job_id, &id))
            break;
    if (j == NULL) {
        cf_id_to_hex(&id, low);
        return cf_rest_error(status, 404, "Job %s not found", low);
    }
    *jp = j;
    if (vid == NULL)
        return NULL;
    for (size_t i = 0; i < CF_ID_HEX_LEN; i++)
        low[i] = (char)tolower((unsigned char)vid[i]);
    low[CF_ID_HEX_LEN] = '\0';
    v = cf_jobmaster_find_vertex(j, low);
    if (v == NULL)
        return cf_rest_error(status, 404, "JobVertex %s not found", low);
    *vp = v;
    return NULL;
}

/* Where a subtask runs: Flink's TaskManagerLocation.getEndpoint(),
 * "host:data port", or "(unassigned)". */
static char *
cf_rv_endpoint(const cf_exec_vertex_t *ev)
{
    return ev->tm_host ? cf_asprintf("%s:%d", ev->tm_host, ev->tm_data_port)
                       : cf_strdup("(unassigned)");
}

static json_t *
cf_rv_head(const cf_ejv_t *v)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(v->id_hex));
    json_object_set_new(o, "name", json_string(v->name ? v->name : ""));
    return o;
}

/* When the subtask's terminal state was entered, or -1. */
static int64_t
cf_rv_subtask_end(const cf_exec_vertex_t *ev)
{
    if (!cf_exec_state_is_terminal(ev->state) || ev->state_ts[ev->state] <= 0)
        return -1;
    return ev->state_ts[ev->state];
}

/* Time spent in each state up to RUNNING (Flink's status-duration): -1
 * for a state never entered. */
static const cf_exec_state_t cf_rv_duration_states[] = {
    CF_EXEC_CREATED, CF_EXEC_SCHEDULED, CF_EXEC_DEPLOYING, CF_EXEC_INITIALIZING,
    CF_EXEC_RUNNING};
#define CF_RV_NDURATION ((int)CF_ARRAY_LEN(cf_rv_duration_states))

static int64_t
cf_rv_status_duration(const cf_exec_vertex_t *ev, int i, int64_t now)
{
    int64_t start = ev->state_ts[cf_rv_duration_states[i]], end = 0;

    if (start <= 0)
        return -1;
    for (int k = i + 1; k < CF_RV_NDURATION && end <= 0; k++)
        end = ev->state_ts[cf_rv_duration_states[k]];
    if (end <= 0)
        end = cf_rv_subtask_end(ev);
    if (end <= 0)
        end = now;
    return end - start;
}

json_t *
cf_rest_io_metrics(int64_t rb, int64_t wb, int64_t rr, int64_t wr,
                   int complete, const cf_task_times_t *tt)
{
    json_t *m = json_object();

    json_object_set_new(m, "read-bytes", json_integer(rb));
    json_object_set_new(m, "read-bytes-complete", json_boolean(complete));
    json_object_set_new(m, "write-bytes", json_integer(wb));
    json_object_set_new(m, "write-bytes-complete", json_boolean(complete));
    json_object_set_new(m, "read-records", json_integer(rr));
    json_object_set_new(m, "read-records-complete", json_boolean(complete));
    json_object_set_new(m, "write-records", json_integer(wr));
    json_object_set_new(m, "write-records-complete", json_boolean(complete));
    json_object_set_new(m, "accumulated-backpressured-time",
                        json_integer((json_int_t)tt->back_pressured_ms));
    json_object_set_new(m, "accumulated-idle-time",
                        json_integer((json_int_t)tt->idle_ms));
    json_object_set_new(m, "accumulated-busy-time",
                        json_real((double)tt->busy_ms));
    return m;
}

static int
cf_rv_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Apache Commons Math's Percentile (the LEGACY estimation Flink's
 * MetricsStatistics uses) of sorted[0..n), cast to long as Flink does;
 * 0 for no values (NaN cast to long). */
static int64_t
cf_rv_percentile(const int64_t *sorted, int n, double p)
{
    double pos, d;
    int ip;

    if (n == 0)
        return 0;
    if (n == 1)
        return sorted[0];
    pos = p * (n + 1) / 100.0;
    if (pos < 1)
        return sorted[0];
    if (pos >= n)
        return sorted[n - 1];
    ip = (int)pos; /* pos >= 1: truncation is floor */
    d = pos - ip;
    return (int64_t)((double)sorted[ip - 1] +
                     d * (double)(sorted[ip] - sorted[ip - 1]));
}

/* Flink's MetricsStatistics.toMap over vals[0..n) (sorted in place). */
static json_t *
cf_rv_stats(int64_t *vals, int n)
{
    json_t *o = json_object();
    int64_t mn = 0, mx = 0, sum = 0;

    qsort(vals, (size_t)n, sizeof *vals, cf_rv_cmp_i64);
    for (int i = 0; i < n; i++)
        sum += vals[i];
    if (n > 0) {
        mn = vals[0];
        mx = vals[n - 1];
    }
    json_object_set_new(o, "min", json_integer(mn));
    json_object_set_new(o, "max", json_integer(mx));
    json_object_set_new(o, "avg", json_integer(n > 0 ? sum / n : 0));
    json_object_set_new(o, "sum", json_integer(sum));
    json_object_set_new(o, "median",
                        json_integer(cf_rv_percentile(vals, n, 50)));
    json_object_set_new(o, "p25", json_integer(cf_rv_percentile(vals, n, 25)));
    json_object_set_new(o, "p75", json_integer(cf_rv_percentile(vals, n, 75)));
    json_object_set_new(o, "p95", json_integer(cf_rv_percentile(vals, n, 95)));
    return o;
}

/* Flink's AggregatedTaskDetailsInfo over the subtasks idx[0..n) of v
 * (idx NULL: all of them): the seven IOMetricsInfo figures and the five
 * status durations, each {min,max,avg,sum,median,p25,p75,p95}. */
json_t *
cf_rest_vertex_aggregated(const cf_ejv_t *v, const int *idx, int n,
                          int64_t now)
{
    static const char *const names[] = {"read-bytes",
                                        "write-bytes",
                                        "read-records",
                                        "write-records",
                                        "accumulated-backpressured-time",
                                        "accumulated-busy-time",
                                        "accumulated-idle-time"};
    json_t *o = json_object(), *m = json_object(), *sd = json_object();
    int64_t *vals = cf_calloc((size_t)(n > 0 ? n : 1), sizeof *vals);

    for (int k = 0; k < (int)CF_ARRAY_LEN(names); k++) {
        for (int i = 0; i < n; i++) {
            const cf_exec_vertex_t *ev = &v->subtasks[idx ? idx[i] : i];
            vals[i] = k == 0   ? ev->bytes_in
                      : k == 1 ? ev->bytes_out
                      : k == 2 ? ev->records_in
                      : k == 3 ? ev->records_out
                      : k == 4 ? (int64_t)ev->times.back_pressured_ms
                      : k == 5 ? (int64_t)ev->times.busy_ms
                               : (int64_t)ev->times.idle_ms;
        }
        json_object_set_new(m, names[k], cf_rv_stats(vals, n));
    }
    for (int s = 0; s < CF_RV_NDURATION; s++) {
        for (int i = 0; i < n; i++)
            vals[i] = cf_rv_status_duration(&v->subtasks[idx ? idx[i] : i],
                                            s, now);
        json_object_set_new(sd, cf_exec_state_name(cf_rv_duration_states[s]),
                            cf_rv_stats(vals, n));
    }
    cf_free(vals);
    json_object_set_new(o, "metrics", m);
    json_object_set_new(o, "status-duration", sd);
    return o;
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */
/* ------------------------------------------------------------------ */

/* Flink's SubtasksTimesHandler: per subtask of the current attempts, the
 * timestamp of every ExecutionState (0: never entered) and the duration
 * from SCHEDULED to the terminal state (or now), -1 when never
 * scheduled. */
json_t *
cf_rest_subtasktimes_dto(const cf_ejv_t *v, int64_t now)
{
    json_t *o = cf_rv_head(v), *subs = json_array();

    json_object_set_new(o, "now", json_integer(now));
    for (int i = 0; i < v->parallelism; i++) {
        const cf_exec_vertex_t *ev = &v->subtasks[i];
        json_t *s = json_object(), *ts = json_object();
        int64_t sched = ev->state_ts[CF_EXEC_SCHEDULED];
        int64_t end = cf_exec_state_is_terminal(ev->state)
                          ? ev->state_ts[ev->state]
                          : now;
        char *ep = cf_rv_endpoint(ev);

        json_object_set_new(s, "subtask", json_integer(i));
        json_object_set_new(s, "endpoint", json_string(ep));
        cf_free(ep);
        json_object_set_new(s, "duration",
                            json_integer(sched > 0 ? end - sched : -1));
        for (int k = 0; k < CF_EXEC_STATE_COUNT; k++)
            json_object_set_new(ts, cf_exec_state_name((cf_exec_state_t)k),
                                json_integer(ev->state_ts[k]));
        json_object_set_new(s, "timestamps", ts);
        json_array_append_new(subs, s);
    }
    json_object_set_new(o, "subtasks", subs);
    return o;
}

/* One TaskManager's entry of JobVertexTaskManagersInfo over the subtasks
 * idx[0..n) of v that run (or ran) there. */
static json_t *
cf_rv_tm_entry(const cf_ejv_t *v, const int *idx, int n, int64_t now)
{
    int counts[CF_EXEC_STATE_COUNT] = {0};
    int64_t start = -1, end = 0, duration;
    int64_t rb = 0, wb = 0, rr = 0, wr = 0;
    cf_task_times_t tt = {0, 0, 0};
    int all_done = 1;
    const cf_exec_vertex_t *first = &v->subtasks[idx[0]];
    json_t *o = json_object(), *sc = json_object();
    char *ep = cf_rv_endpoint(first);

    for (int i = 0; i < n; i++) {
        const cf_exec_vertex_t *ev = &v->subtasks[idx[i]];
        int64_t dep = ev->state_ts[CF_EXEC_DEPLOYING];
        counts[ev->state]++;
        /* The earliest deployment; the latest state change. */
        if (dep > 0 && (start < 0 || dep < start))
            start = dep;
        all_done &= cf_exec_state_is_terminal(ev->state);
        if (ev->state_ts[ev->state] > end)
            end = ev->state_ts[ev->state];
        rb += ev->bytes_in;
        wb += ev->bytes_out;
        rr += ev->records_in;
        wr += ev->records_out;
        tt.busy_ms += ev->times.busy_ms;
        tt.back_pressured_ms += ev->times.back_pressured_ms;
        tt.idle_ms += ev->times.idle_ms;
    }
    if (start < 0) {
        end = -1;
        duration = -1;
    } else if (all_done) {
        duration = end - start;
    } else {
        end = -1;
        duration = now - start;
    }
    json_object_set_new(o, "endpoint", json_string(ep));
    cf_free(ep);
    json_object_set_new(
        o, "status",
        json_string(cf_exec_state_name(cf_rest_vertex_state(counts, n))));
    json_object_set_new(o, "start-time", json_integer(start));
    json_object_set_new(o, "end-time", json_integer(end));
    json_object_set_new(o, "duration", json_integer(duration));
    json_object_set_new(o, "metrics",
                        cf_rest_io_metrics(rb, wb, rr, wr, all_done, &tt));
    for (int s = 0; s < CF_EXEC_STATE_COUNT; s++)
        json_object_set_new(sc, cf_exec_state_name((cf_exec_state_t)s),
                            json_integer(counts[s]));
    json_object_set_new(o, "status-counts", sc);
    json_object_set_new(o, "taskmanager-id",
                        json_string(first->tm_host && first->tm_resource_id
                                        ? first->tm_resource_id
                                        : "(unassigned)"));
    json_object_set_new(o, "aggregated", cf_rest_vertex_aggregated(v, idx, n, now));
    return o;
}

/* Flink's JobVertexTaskManagersHandler: the subtasks grouped by the
 * TaskManager endpoint of their current attempt (unassigned ones
 * together), in the order of each group's first subtask. */
json_t *
cf_rest_vertex_taskmanagers_dto(const cf_ejv_t *v, int64_t now)
{
    json_t *o = cf_rv_head(v), *tms = json_array();
    int n = v->parallelism > 0 ? v->parallelism : 1;
    char **eps = cf_calloc((size_t)n, sizeof *eps);
    int *done = cf_calloc((size_t)n, sizeof *done);
    int *idx = cf_calloc((size_t)n, sizeof *idx);

    json_object_set_new(o, "now", json_integer(now));
    for (int i = 0; i < v->parallelism; i++)
        eps[i] = cf_rv_endpoint(&v->subtasks[i]);
    for (int i = 0; i < v->parallelism; i++) {
        int m = 0;
        if (done[i])
            continue;
        for (int k = i; k < v->parallelism; k++) {
            if (!done[k] && strcmp(eps[k], eps[i]) == 0) {
                done[k] = 1;
                idx[m++] = k;
            }
        }
        json_array_append_new(tms, cf_rv_tm_entry(v, idx, m, now));
    }
    for (int i = 0; i < v->parallelism; i++)
        cf_free(eps[i]);
    cf_free(eps);
    cf_free(done);
    cf_free(idx);
    json_object_set_new(o, "taskmanagers", tms);
    return o;
}

const char *
cf_rest_backpressure_level(double ratio)
{
    if (ratio <= CF_RV_BP_LOW)
        return "ok";
    if (ratio <= CF_RV_BP_HIGH)
        return "low";
    return "high";
}

/* Flink's JobVertexBackPressureHandler (since 1.13: ratios of the
 * backPressuredTimeMsPerSecond, idleTimeMsPerSecond and
 * busyTimeMsPerSecond gauges / 1000; the vertex level from the largest
 * subtask ratio). The level is served under both "backpressureLevel"
 * (the spec) and "backpressure-level" (what the dashboard reads).
 * end-timestamp is when the figures were taken (Flink: the metric
 * fetcher's last update), now. As Flink's TimerGauge, the back-pressured
 * and idle ms per second are whole numbers (the ratios have 3 decimals);
 * the busy one is a double. */
json_t *
cf_rest_backpressure_dto(const cf_ejv_t *v, int64_t now)
{
    json_t *o = json_object(), *subs = json_array();
    double max = 0.0;

    for (int i = 0; i < v->parallelism; i++) {
        json_t *s = json_object();
        const cf_exec_vertex_t *ev = &v->subtasks[i];
        /* The rates are >= 0: a cast rounds down (no libm). */
        double bp = (double)(int64_t)cf_jobmaster_rate(
                        ev, CF_RATE_BACKPRESSURED) /
                    1000.0,
               idle = (double)(int64_t)cf_jobmaster_rate(ev, CF_RATE_IDLE) /
                      1000.0,
               busy = cf_jobmaster_rate(ev, CF_RATE_BUSY) / 1000.0;
        const char *lvl = cf_rest_backpressure_level(bp);

        if (bp > max)
            max = bp;
        json_object_set_new(s, "subtask", json_integer(i));
        json_object_set_new(s, "backpressureLevel", json_string(lvl));
        json_object_set_new(s, "backpressure-level", json_string(lvl));
        json_object_set_new(s, "ratio", json_real(bp));
        json_object_set_new(s, "idleRatio", json_real(idle));
        json_object_set_new(s, "busyRatio", json_real(busy));
        json_array_append_new(subs, s);
    }
    json_object_set_new(o, "status", json_string("ok"));
    json_object_set_new(o, "backpressureLevel",
                        json_string(cf_rest_backpressure_level(max)));
    json_object_set_new(o, "backpressure-level",
                        json_string(cf_rest_backpressure_level(max)));
    json_object_set_new(o, "end-timestamp", json_integer(now));
    json_object_set_new(o, "subtasks", subs);
    return o;
}

/* Flink's JobVertexAccumulatorsInfo: no user accumulators in cflink. */
json_t *
cf_rest_vertex_accumulators_dto(const cf_ejv_t *v)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(v->id_hex));
    json_object_set_new(o, "user-accumulators", json_array());
    return o;
}

/* Flink's SubtasksAllAccumulatorsInfo: one entry per subtask's current
 * attempt with its endpoint. */
json_t *
cf_rest_subtasks_accumulators_dto(const cf_ejv_t *v)
{
    json_t *o = json_object(), *subs = json_array();

    json_object_set_new(o, "id", json_string(v->id_hex));
    json_object_set_new(o, "parallelism", json_integer(v->parallelism));
    for (int i = 0; i < v->parallelism; i++) {
        const cf_exec_vertex_t *ev = &v->subtasks[i];
        json_t *s = json_object();
        char *ep = cf_rv_endpoint(ev);

        json_object_set_new(s, "subtask", json_integer(i));
        json_object_set_new(s, "attempt", json_integer(ev->attempt));
        json_object_set_new(s, "endpoint", json_string(ep));
        cf_free(ep);
        json_object_set_new(s, "user-accumulators", json_array());
        json_array_append_new(subs, s);
    }
    json_object_set_new(o, "subtasks", subs);
    return o;
}

/* Flink's JobAccumulatorsInfo (job-accumulators is always empty in
 * Flink too; serialized-user-task-accumulators only with
 * ?includeSerializedValue=true). */
json_t *
cf_rest_job_accumulators_dto(const cf_jobmaster_t *j)
{
    json_t *o = json_object();

    (void)j;
    json_object_set_new(o, "job-accumulators", json_array());
    json_object_set_new(o, "user-task-accumulators", json_array());
    json_object_set_new(o, "serialized-user-task-accumulators", json_object());
    return o;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

typedef enum cf_rv_kind_e {
    CF_RV_SUBTASKTIMES,
    CF_RV_TASKMANAGERS,
    CF_RV_BACKPRESSURE,
    CF_RV_VERTEX_ACC,
    CF_RV_SUBTASKS_ACC,
    CF_RV_JOB_ACC,
    CF_RV_FLAMEGRAPH,
} cf_rv_kind_t;

typedef struct cf_rv_route_s {
    const char *pattern;
    cf_rv_kind_t kind;
    cf_jm_t *jm;
} cf_rv_route_t;

static json_t *
cf_rv_entry(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rv_route_t *rt = arg;
    cf_jobmaster_t *j;
    cf_ejv_t *v = NULL;
    json_t *err;
    int64_t now = cf_now_ms();
    int job_only = rt->kind == CF_RV_JOB_ACC;

    /* Flink's AbstractHandler: a file part where none is expected. */
    if (req->upload_path) {
        unlink(req->upload_path);
        return cf_rest_error(status, 400, "File uploads not allowed.");
    }
    err = cf_rest_vertex_resolve(
        cf_dispatcher_jobs(rt->jm->dispatcher),
        req->nparams > 0 ? req->params[0] : "",
        job_only ? NULL : (req->nparams > 1 ? req->params[1] : ""), &j,
        job_only ? NULL : &v, status);
    if (err != NULL) {
        /* Flink serves back pressure from the metric store: a job or
         * vertex it knows nothing of is "deprecated", not an error. */
        if (rt->kind == CF_RV_BACKPRESSURE && *status == 404) {
            json_decref(err);
            *status = 200;
            return json_pack("{s:s}", "status", "deprecated");
        }
        return err;
    }
    *status = 200;
    switch (rt->kind) {
    case CF_RV_SUBTASKTIMES: return cf_rest_subtasktimes_dto(v, now);
    case CF_RV_TASKMANAGERS: return cf_rest_vertex_taskmanagers_dto(v, now);
    case CF_RV_BACKPRESSURE: return cf_rest_backpressure_dto(v, now);
    case CF_RV_VERTEX_ACC: return cf_rest_vertex_accumulators_dto(v);
    case CF_RV_SUBTASKS_ACC: return cf_rest_subtasks_accumulators_dto(v);
    case CF_RV_JOB_ACC: return cf_rest_job_accumulators_dto(j);
    case CF_RV_FLAMEGRAPH:
        /* cflink samples no stacks: Flink's answer with the feature off
         * (VertexFlameGraph.disabled()), which its dashboard shows as a
         * hint instead of an error. */
        return json_pack("{s:i,s:n}", "endTimestamp", -2, "data");
    }
    return cf_rest_error(status, 500, "Unknown route.");
}

/* Literal "subtasks/accumulators" does not collide with
 * ".../subtasks/:subtaskindex/metrics" (another segment count). */
static cf_rv_route_t cf_rv_routes[] = {
    {"/jobs/:jobid/vertices/:vertexid/subtasktimes", CF_RV_SUBTASKTIMES, NULL},
    {"/jobs/:jobid/vertices/:vertexid/taskmanagers", CF_RV_TASKMANAGERS, NULL},
    {"/jobs/:jobid/vertices/:vertexid/backpressure", CF_RV_BACKPRESSURE, NULL},
    {"/jobs/:jobid/vertices/:vertexid/accumulators", CF_RV_VERTEX_ACC, NULL},
    {"/jobs/:jobid/vertices/:vertexid/subtasks/accumulators",
     CF_RV_SUBTASKS_ACC, NULL},
    {"/jobs/:jobid/accumulators", CF_RV_JOB_ACC, NULL},
    {"/jobs/:jobid/vertices/:vertexid/flamegraph", CF_RV_FLAMEGRAPH, NULL},
};

void
cf_rest_vertex_register(cf_jm_t *jm)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_rv_routes); i++) {
        cf_rv_routes[i].jm = jm;
        cf_rest_route(jm->rest, "GET", cf_rv_routes[i].pattern, cf_rv_entry,
                      &cf_rv_routes[i]);
    }
}
