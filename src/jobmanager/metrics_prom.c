/*
 * metrics_prom.c: the JobManager's metrics for the Prometheus reporter.
 *
 * Flink's JobManager metric group (scope <host>.jobmanager) reported as
 * flink_jobmanager_<name>{host="..."}: numRegisteredTaskManagers,
 * numRunningJobs, taskSlotsAvailable, taskSlotsTotal, and the process
 * figures that stand in for Status.JVM.* (Status.Process.CPU.Time in
 * seconds, Status.Process.RSS in bytes, Status.Process.Threads); and per
 * job not yet globally terminal, Flink's job metric group (scope
 * <host>.jobmanager.<job_name>) as flink_jobmanager_job_<name>{host,
 * job_id, job_name}: uptime, downtime, restartingTime, numRestarts and
 * the checkpoint figures, the numeric ones of GET /jobs/:jobid/metrics
 * (rest_metrics.c computes both, so they agree).
 *
 * The ResourceManager and Dispatcher live on the loop thread, so the
 * exposition text is rendered there by a one-second timer and handed to
 * the HTTP thread (prom_server.c); a scrape sees figures at most a second
 * old, as Flink's gauges sampled at scrape time would be.
 */
#include <string.h>
#include <unistd.h>

#include "metrics_prom.h"
#include "prom_server.h"
#include "rest_metrics.h"

#define CF_JM_PROM_INTERVAL_MS 1000

struct cf_jm_prom_s {
    cf_jm_t *jm;
    cf_prom_server_t *srv;
    cf_timer_t *timer;
    cf_prom_text_t text; /* reused: no allocation once grown */
    int filter;
    char host[256];
    /* The job metric tables of a tick, CF_REST_METRICS_TABLE_MAX rows per
     * job (reused, grown with the number of jobs). */
    cf_rest_metric_t *tables;
    size_t *counts;
    cf_jobmaster_t **jobs;
    size_t cap_jobs;
};

/* Jobs with a JobMaster that has not reached a globally terminal state
 * (Flink's numRunningJobs counts the running JobManagerRunners). */
static int
cf_jm_prom_running_jobs(cf_jm_t *jm)
{
    int n = 0;

    if (jm->dispatcher == NULL)
        return 0;
    for (cf_jobmaster_t *j = cf_dispatcher_jobs(jm->dispatcher); j != NULL;
         j = j->next) {
        if (j->status != CF_JOB_FINISHED && j->status != CF_JOB_FAILED &&
            j->status != CF_JOB_CANCELED)
            n++;
    }
    return n;
}

static void
cf_jm_prom_gauge(cf_jm_prom_t *p, const char *name, const char *help, double v)
{
    const char *labels[] = {"host", p->host, NULL};

    cf_prom_text_family(&p->text, name, help);
    cf_prom_text_sample(&p->text, name, labels, p->filter, v);
}

/* Flink's job metrics of the jobs not yet globally terminal (Flink
 * drops a job's metric group when it ends): one family per metric, a
 * sample per job. String gauges (lastCheckpointExternalPath) are left
 * out, as Flink's Prometheus reporter does. */
static void
cf_jm_prom_jobs(cf_jm_prom_t *p)
{
    const size_t rows = CF_REST_METRICS_TABLE_MAX;
    int64_t now = cf_now_ms();
    size_t nj = 0;

    if (p->jm->dispatcher == NULL)
        return;
    for (cf_jobmaster_t *j = cf_dispatcher_jobs(p->jm->dispatcher); j;
         j = j->next) {
        if (cf_job_status_is_globally_terminal(j->status))
            continue;
        if (nj == p->cap_jobs) {
            p->cap_jobs = p->cap_jobs ? 2 * p->cap_jobs : 8;
            p->tables = cf_realloc(p->tables,
                                   p->cap_jobs * rows * sizeof *p->tables);
            p->counts = cf_realloc(p->counts,
                                   p->cap_jobs * sizeof *p->counts);
            p->jobs = cf_realloc(p->jobs, p->cap_jobs * sizeof *p->jobs);
        }
        p->jobs[nj] = j;
        p->counts[nj] = cf_rest_job_metrics(j, now, &p->tables[nj * rows],
                                            rows);
        nj++;
    }
    if (nj == 0)
        return;
    /* Every table lists the same names in the same order. */
    for (size_t k = 0; k < p->counts[0]; k++) {
        const char *id = p->tables[k].id;
        char name[160];
        double v;
        int family = 0;

        snprintf(name, sizeof name, "flink_jobmanager_job_%s", id);
        for (size_t i = 0; i < nj; i++) {
            const cf_rest_metric_t *m = &p->tables[i * rows + k];
            const char *labels[] = {"host",     p->host,
                                    "job_id",   p->jobs[i]->job_id_hex,
                                    "job_name", p->jobs[i]->name
                                                    ? p->jobs[i]->name
                                                    : "",
                                    NULL};
            if (k >= p->counts[i] || strcmp(m->id, id) != 0 ||
                !cf_rest_metrics_number(m->value, &v))
                continue;
            if (!family) {
                char help[200];
                snprintf(help, sizeof help, "%s (scope: jobmanager_job)", id);
                cf_prom_text_family(&p->text, name, help);
                family = 1;
            }
            cf_prom_text_sample(&p->text, name, labels, p->filter, v);
        }
    }
}

/* Render the snapshot (loop thread). */
static void
cf_jm_prom_tick(void *arg)
{
    cf_jm_prom_t *p = arg;
    cf_jm_t *jm = p->jm;
    cf_prom_proc_t proc;
    int tms = 0, total = 0, avail = 0;

    if (jm->rm != NULL) {
        tms = cf_rm_tm_count(jm->rm);
        total = cf_rm_slots_total(jm->rm);
        avail = cf_rm_slots_free(jm->rm);
    }
    cf_prom_text_reset(&p->text);
    if (cf_prom_proc_read(&proc) == 0) {
        cf_jm_prom_gauge(p, "flink_jobmanager_Status_Process_CPU_Time",
                         "CPU time used by the JobManager process, in "
                         "seconds.",
                         proc.cpu_seconds);
        cf_jm_prom_gauge(p, "flink_jobmanager_Status_Process_RSS",
                         "Resident memory of the JobManager process, in "
                         "bytes.",
                         (double)proc.rss_bytes);
        cf_jm_prom_gauge(p, "flink_jobmanager_Status_Process_Threads",
                         "Threads of the JobManager process.",
                         (double)proc.threads);
    }
    cf_jm_prom_gauge(p, "flink_jobmanager_numRegisteredTaskManagers",
                     "numRegisteredTaskManagers (scope: jobmanager)", tms);
    cf_jm_prom_gauge(p, "flink_jobmanager_numRunningJobs",
                     "numRunningJobs (scope: jobmanager)",
                     cf_jm_prom_running_jobs(jm));
    cf_jm_prom_gauge(p, "flink_jobmanager_taskSlotsAvailable",
                     "taskSlotsAvailable (scope: jobmanager)", avail);
    cf_jm_prom_gauge(p, "flink_jobmanager_taskSlotsTotal",
                     "taskSlotsTotal (scope: jobmanager)", total);
    cf_jm_prom_jobs(p);
    cf_prom_server_set(p->srv, p->text.buf ? p->text.buf : "", p->text.len);
}

cf_jm_prom_t *
cf_jm_prom_start(cf_jm_t *jm)
{
    cf_prom_server_t *srv = NULL;
    cf_prom_conf_t conf;
    cf_error_t *err = NULL;
    cf_jm_prom_t *p;

    if (cf_prom_start(jm->cfg, &srv, &conf, &err) < 0) {
        cf_log_error("Could not start the PrometheusReporter: %s. The "
                     "JobManager runs without it.",
                     cf_error_msg(err));
        cf_error_free(err);
        return NULL;
    }
    if (srv == NULL)
        return NULL;
    p = CF_NEW(cf_jm_prom_t);
    p->jm = jm;
    p->srv = srv;
    p->filter = conf.filter_label_values;
    if (gethostname(p->host, sizeof p->host - 1) != 0)
        strcpy(p->host, "localhost");
    cf_jm_prom_tick(p); /* serve figures from the first scrape on */
    p->timer = cf_loop_timer(jm->loop, CF_JM_PROM_INTERVAL_MS,
                             CF_JM_PROM_INTERVAL_MS, cf_jm_prom_tick, p);
    return p;
}

int
cf_jm_prom_port(const cf_jm_prom_t *p)
{
    return p ? cf_prom_server_port(p->srv) : 0;
}

void
cf_jm_prom_destroy(cf_jm_prom_t *p)
{
    if (p == NULL)
        return;
    if (p->timer)
        cf_timer_cancel(p->timer);
    cf_prom_server_destroy(p->srv);
    cf_prom_text_free(&p->text);
    cf_free(p->tables);
    cf_free(p->counts);
    cf_free(p->jobs);
    cf_free(p);
}
