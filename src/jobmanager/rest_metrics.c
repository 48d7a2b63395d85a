/*
 * rest_metrics.c: the metric endpoints of the JobManager's REST API that
 * are answered from the JobManager's own state (see rest_metrics.h), and
 * the query helpers the TaskManager metric endpoints (rest_ops.c) share:
 * the "get" and "agg" parameters and Flink's bodies.
 *
 * Flink's MetricStore holds what the reporters fetched last; cflink has
 * no store and computes each table when asked (a handful of figures from
 * loop-owned structures and /proc/self), so a value is never older than
 * the request. Values are strings, as Flink sends them.
 *
 * Threads: loop only.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dispatcher_int.h"
#include "proc_info.h"
#include "rest.h"
#include "rest_metrics.h"

/* ------------------------------------------------------------------ */
/* Query parameters and bodies                                         */
/* ------------------------------------------------------------------ */

int
cf_rest_metrics_parse_get(const char *get, cf_rest_get_t *g)
{
    const char *p = get;

    g->names = NULL;
    g->n = 0;
    if (get == NULL)
        return 0;
    while (*p != '\0') {
        const char *c = strchr(p, ',');
        size_t len = c != NULL ? (size_t)(c - p) : strlen(p);
        int dup = 0;

        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                goto bad;
        if (len > CF_REST_METRICS_MAX_NAME)
            goto bad;
        for (size_t i = 0; i < g->n && !dup; i++)
            dup =
                strlen(g->names[i]) == len && memcmp(g->names[i], p, len) == 0;
        if (len > 0 && !dup) {
            if (g->n == CF_REST_METRICS_MAX_NAMES)
                goto bad;
            if (g->names == NULL)
                g->names =
                    cf_calloc(CF_REST_METRICS_MAX_NAMES, sizeof *g->names);
            g->names[g->n] = cf_malloc(len + 1);
            memcpy(g->names[g->n], p, len);
            g->names[g->n][len] = '\0';
            g->n++;
        }
        if (c == NULL)
            break;
        p = c + 1;
    }
    return 0;
bad:
    cf_rest_get_free(g);
    return -1;
}

void
cf_rest_get_free(cf_rest_get_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        cf_free(g->names[i]);
    cf_free(g->names);
    g->names = NULL;
    g->n = 0;
}

int
cf_rest_metrics_parse_agg(const char *agg)
{
    static const char *const names[] = {"min", "max", "avg", "sum", "skew"};
    const char *p = agg;
    int mask = 0;

    if (agg == NULL || agg[0] == '\0')
        return CF_REST_AGG_ALL;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c != NULL ? (size_t)(c - p) : strlen(p);
        int found = 0;

        for (int i = 0; i < (int)CF_ARRAY_LEN(names) && !found; i++)
            if (strlen(names[i]) == len && strncasecmp(names[i], p, len) == 0) {
                mask |= 1 << i;
                found = 1;
            }
        if (!found)
            return -1;
        if (c == NULL)
            break;
        p = c + 1;
    }
    return mask;
}

json_t *
cf_rest_metrics_bad_query(int *status, const char *key, const char *value)
{
    return cf_rest_error(status, 400,
                         "Bad request, could not parse parameters: Cannot "
                         "resolve query parameter (%s) from value \"%.100s\".",
                         key, value != NULL ? value : "");
}

json_t *
cf_rest_metrics_body(const cf_rest_metric_t *m, size_t n,
                     const cf_rest_get_t *g)
{
    json_t *a = json_array();

    if (g == NULL || g->n == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_pack("{s:s}", "id", m[i].id));
        return a;
    }
    for (size_t k = 0; k < g->n; k++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(g->names[k], m[i].id) == 0) {
                json_array_append_new(a, json_pack("{s:s,s:s}", "id", m[i].id,
                                                   "value", m[i].value));
                break;
            }
    return a;
}

double
cf_rest_metrics_skew(const double *x, size_t n)
{
    double sum = 0, avg, dev = 0;

    if (n == 0)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    avg = sum / (double)n;
    if (avg == 0.0)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        dev += fabs(x[i] - avg);
    dev = dev / (double)n / fabs(avg) * 100.0;
    return dev < 100.0 ? dev : 100.0;
}

json_t *
cf_rest_metrics_aggregate(const char *id, const double *x, size_t n, int mask)
{
    json_t *o = json_object();
    double mn = 0, mx = 0, sum = 0;

    for (size_t i = 0; i < n; i++) {
        mn = i == 0 || x[i] < mn ? x[i] : mn;
        mx = i == 0 || x[i] > mx ? x[i] : mx;
        sum += x[i];
    }
    json_object_set_new(o, "id", json_string(id));
    if (mask & CF_REST_AGG_MIN)
        json_object_set_new(o, "min", json_real(mn));
    if (mask & CF_REST_AGG_MAX)
        json_object_set_new(o, "max", json_real(mx));
    if (mask & CF_REST_AGG_AVG)
        json_object_set_new(o, "avg", json_real(n > 0 ? sum / (double)n : 0));
    if (mask & CF_REST_AGG_SUM)
        json_object_set_new(o, "sum", json_real(sum));
    if (mask & CF_REST_AGG_SKEW)
        json_object_set_new(o, "skew", json_real(cf_rest_metrics_skew(x, n)));
    return o;
}

int
cf_rest_metrics_number(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

/* The ResourceManager's and Dispatcher's accessors (see
 * cf_rest_ops_backend in dispatcher_int.h). */
#define B cf_rest_ops_backend

static cf_jobmaster_t *
cf_rmx_jobs(cf_jm_t *jm)
{
    return B != NULL && jm->dispatcher != NULL ? B->jobs(jm->dispatcher) : NULL;
}

static void cf_rmx_put(cf_rest_metric_t *out, size_t max, size_t *n,
                       const char *id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
cf_rmx_put(cf_rest_metric_t *out, size_t max, size_t *n, const char *id,
           const char *fmt, ...)
{
    va_list ap;

    if (*n >= max)
        return;
    out[*n].id = id;
    va_start(ap, fmt);
    vsnprintf(out[*n].value, sizeof out[*n].value, fmt, ap);
    va_end(ap);
    (*n)++;
}

/* The JobManager's CPU load samples (one JobManager per process). */
static cf_proc_cpu_load_t cf_rmx_jm_cpu;

size_t
cf_rest_jm_metrics(cf_jm_t *jm, cf_rest_metric_t *out, size_t max)
{
    cf_proc_stats_t ps;
    size_t n = 0;
    int running = 0;

    if (cf_proc_stats_read(&ps) < 0)
        memset(&ps, 0, sizeof ps);
    /* Flink's numRunningJobs: JobManagerRunners not yet globally
     * terminal (as metrics_prom.c counts them). */
    if (jm->dispatcher != NULL)
        for (cf_jobmaster_t *j = cf_rmx_jobs(jm); j != NULL; j = j->next)
            running += !cf_job_status_is_globally_terminal(j->status);
    cf_rmx_put(out, max, &n, "Status.Process.CPU.Load", "%.4f",
               cf_proc_cpu_load(&cf_rmx_jm_cpu, ps.cpu_seconds, cf_mono_ms()));
    cf_rmx_put(out, max, &n, "Status.Process.CPU.Time", "%" PRId64,
               (int64_t)(ps.cpu_seconds * 1e9));
    cf_rmx_put(out, max, &n, "Status.Process.Memory.RSS", "%" PRId64,
               ps.rss_bytes);
    cf_rmx_put(out, max, &n, "Status.Process.Memory.Virtual", "%" PRId64,
               ps.virtual_bytes);
    cf_rmx_put(out, max, &n, "Status.Process.Threads.Count", "%" PRId64,
               ps.threads);
    cf_rmx_put(out, max, &n, "Status.Process.FileDescriptors.Count", "%" PRId64,
               ps.fds);
    cf_rmx_put(out, max, &n, "numRegisteredTaskManagers", "%d",
               B ? B->tm_count(jm->rm) : 0);
    cf_rmx_put(out, max, &n, "numRunningJobs", "%d", running);
    cf_rmx_put(out, max, &n, "taskSlotsAvailable", "%d",
               B ? B->slots_free(jm->rm) : 0);
    cf_rmx_put(out, max, &n, "taskSlotsTotal", "%d",
               B ? B->slots_total(jm->rm) : 0);
    return n;
}

size_t
cf_rest_job_metrics(const cf_jobmaster_t *j, int64_t now, cf_rest_metric_t *out,
                    size_t max)
{
    const cf_ckpt_view_t *v =
        j->ckpt != NULL && B != NULL ? B->ckpt_view(j->ckpt) : NULL;
    const cf_ckpt_stats_t *last = v != NULL ? v->latest_completed : NULL;
    int terminal = cf_job_status_is_globally_terminal(j->status);
    int64_t up = 0, down = 0, restarting = 0;
    int64_t ts_run = j->status_ts[CF_JOB_RUNNING];
    int64_t ts_restart = j->status_ts[CF_JOB_RESTARTING];
    size_t n = 0;

    /* Flink's UpTimeGauge / DownTimeGauge: -1 once globally terminal. */
    if (terminal) {
        up = -1;
        down = -1;
    } else if (j->status == CF_JOB_RUNNING) {
        up = ts_run > 0 ? now - ts_run : 0;
    } else if (j->status == CF_JOB_FAILING || j->status == CF_JOB_RESTARTING) {
        int64_t ts = j->status_ts[j->status];
        down = ts > 0 ? now - ts : 0;
    }
    /* restartingTime: the ongoing restart, else the last one's length. */
    if (j->status == CF_JOB_RESTARTING && ts_restart > 0)
        restarting = now - ts_restart;
    else if (ts_restart > 0 && ts_run > ts_restart)
        restarting = ts_run - ts_restart;
    if (up < -1)
        up = 0;
    if (down < -1)
        down = 0;
    cf_rmx_put(out, max, &n, "uptime", "%" PRId64, up);
    cf_rmx_put(out, max, &n, "downtime", "%" PRId64, down);
    cf_rmx_put(out, max, &n, "restartingTime", "%" PRId64,
               restarting > 0 ? restarting : 0);
    cf_rmx_put(out, max, &n, "numRestarts", "%d", j->num_restarts);
    cf_rmx_put(out, max, &n, "fullRestarts", "%d", j->num_restarts);
    cf_rmx_put(out, max, &n, "lastCheckpointDuration", "%" PRId64,
               last != NULL && last->end_ts >= last->trigger_ts
                   ? last->end_ts - last->trigger_ts
                   : -1);
    cf_rmx_put(out, max, &n, "lastCheckpointSize", "%" PRId64,
               last != NULL ? (int64_t)last->state_size : -1);
    cf_rmx_put(out, max, &n, "lastCheckpointFullSize", "%" PRId64,
               last != NULL ? (int64_t)last->state_size : -1);
    cf_rmx_put(out, max, &n, "lastCheckpointExternalPath", "%.250s",
               last != NULL && last->external_path != NULL ? last->external_path
                                                           : "n/a");
    cf_rmx_put(out, max, &n, "numberOfCompletedCheckpoints", "%" PRId64,
               v != NULL ? v->completed : 0);
    cf_rmx_put(out, max, &n, "numberOfFailedCheckpoints", "%" PRId64,
               v != NULL ? v->failed : 0);
    cf_rmx_put(out, max, &n, "numberOfInProgressCheckpoints", "%" PRId64,
               v != NULL ? v->in_progress : 0);
    cf_rmx_put(out, max, &n, "totalNumberOfCheckpoints", "%" PRId64,
               v != NULL ? v->total : 0);
    cf_rmx_put(out, max, &n, "lastCheckpointRestoreTimestamp", "%" PRId64,
               v != NULL && v->restored_id >= 0 && v->restore_ts > 0
                   ? v->restore_ts
                   : -1);
    return n;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static json_t *
cf_rmx_jm_handler(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_rest_metric_t m[CF_REST_METRICS_TABLE_MAX];
    cf_rest_get_t g;
    const char *get = cf_rest_query(req, "get");
    size_t n;
    json_t *body;

    if (cf_rest_metrics_parse_get(get, &g) < 0)
        return cf_rest_metrics_bad_query(status, "get", get);
    n = cf_rest_jm_metrics(jm, m, CF_ARRAY_LEN(m));
    body = cf_rest_metrics_body(m, n, &g);
    cf_rest_get_free(&g);
    *status = 200;
    return body;
}

static json_t *
cf_rmx_job_handler(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_rest_metric_t m[CF_REST_METRICS_TABLE_MAX];
    cf_rest_get_t g;
    const char *get = cf_rest_query(req, "get");
    json_t *err = NULL, *body;
    cf_jobmaster_t *j = cf_rest_job_param(jm, req, 0, status, &err);
    size_t n;

    if (j == NULL)
        return err;
    if (cf_rest_metrics_parse_get(get, &g) < 0)
        return cf_rest_metrics_bad_query(status, "get", get);
    n = cf_rest_job_metrics(j, cf_now_ms(), m, CF_ARRAY_LEN(m));
    body = cf_rest_metrics_body(m, n, &g);
    cf_rest_get_free(&g);
    *status = 200;
    return body;
}

/* Whether job j is selected by the "jobs" list (NULL: all). */
static int
cf_rmx_job_selected(const cf_jobmaster_t *j, const cf_rest_get_t *jobs)
{
    if (jobs->n == 0)
        return 1;
    for (size_t i = 0; i < jobs->n; i++)
        if (strcasecmp(jobs->names[i], j->job_id_hex) == 0)
            return 1;
    return 0;
}

/* GET /jobs/metrics: Flink's AggregatingJobsMetricsHandler. */
static json_t *
cf_rmx_jobs_agg_handler(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    const char *get = cf_rest_query(req, "get");
    const char *agg = cf_rest_query(req, "agg");
    const char *jobs_q = cf_rest_query(req, "jobs");
    cf_rest_get_t g, jobs;
    int mask = cf_rest_metrics_parse_agg(agg);
    json_t *a;
    cf_rest_metric_t m[CF_REST_METRICS_TABLE_MAX];
    double *x;
    size_t njobs = 0, cap = 0;
    int64_t now = cf_now_ms();

    if (mask < 0)
        return cf_rest_metrics_bad_query(status, "agg", agg);
    if (cf_rest_metrics_parse_get(jobs_q, &jobs) < 0)
        return cf_rest_metrics_bad_query(status, "jobs", jobs_q);
    for (size_t i = 0; i < jobs.n; i++)
        if (!cf_rest_is_hex32(jobs.names[i])) {
            json_t *e = cf_rest_metrics_bad_query(status, "jobs", jobs_q);
            cf_rest_get_free(&jobs);
            return e;
        }
    if (cf_rest_metrics_parse_get(get, &g) < 0) {
        cf_rest_get_free(&jobs);
        return cf_rest_metrics_bad_query(status, "get", get);
    }
    for (cf_jobmaster_t *j = cf_rmx_jobs(jm); j != NULL; j = j->next)
        cap++;
    x = cf_calloc(cap + 1, sizeof *x);
    a = json_array();
    if (g.n == 0) {
        /* The ids any selected job has (all jobs have the same table). */
        for (cf_jobmaster_t *j = cf_rmx_jobs(jm); j != NULL; j = j->next)
            if (cf_rmx_job_selected(j, &jobs)) {
                size_t n = cf_rest_job_metrics(j, now, m, CF_ARRAY_LEN(m));
                json_decref(a);
                a = cf_rest_metrics_body(m, n, NULL);
                break;
            }
    }
    for (size_t k = 0; k < g.n; k++) {
        njobs = 0;
        for (cf_jobmaster_t *j = cf_rmx_jobs(jm); j != NULL && njobs < cap;
             j = j->next) {
            size_t n;
            if (!cf_rmx_job_selected(j, &jobs))
                continue;
            n = cf_rest_job_metrics(j, now, m, CF_ARRAY_LEN(m));
            for (size_t i = 0; i < n; i++)
                if (strcmp(m[i].id, g.names[k]) == 0 &&
                    cf_rest_metrics_number(m[i].value, &x[njobs])) {
                    njobs++;
                    break;
                }
        }
        if (njobs > 0)
            json_array_append_new(
                a, cf_rest_metrics_aggregate(g.names[k], x, njobs, mask));
    }
    cf_free(x);
    cf_rest_get_free(&g);
    cf_rest_get_free(&jobs);
    *status = 200;
    return a;
}

void
cf_rest_metrics_register(cf_jm_t *jm)
{
    cf_rest_route(jm->rest, "GET", "/jobmanager/metrics", cf_rmx_jm_handler,
                  jm);
    cf_rest_route(jm->rest, "GET", "/jobs/metrics", cf_rmx_jobs_agg_handler,
                  jm);
    cf_rest_route(jm->rest, "GET", "/jobs/:jobid/metrics", cf_rmx_job_handler,
                  jm);
}
