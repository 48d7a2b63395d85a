/*
 * metrics_prom.c: the TaskManager's metrics for the Prometheus reporter.
 *
 * Flink's TaskManager metric group reported as
 * flink_taskmanager_<name>{host, tm_id}: the process figures standing in
 * for Status.JVM.* (Status.Process.CPU.Time in seconds,
 * Status.Process.RSS in bytes, Status.Process.Threads); and the task
 * group (scope <host>.taskmanager.<tm_id>.<job>.<task>.<subtask>) as
 * flink_taskmanager_job_task_<name>{host, tm_id, job_id, task_attempt_id,
 * task_name, subtask_index, task_attempt_num}: numRecordsIn,
 * numRecordsOut, numBytesIn, numBytesOut, currentInputWatermark.
 *
 * The task records live on the loop thread: a one-second timer there
 * renders the whole text from cf_tm_task_reports() (the figures the
 * heartbeats carry: cf_task_counters, cf_task_input_watermark) and hands
 * it to the HTTP thread. Tasks that ended drop out of the output, as
 * Flink unregisters a task's metric group when the task ends.
 */
#include <stdio.h>
#include <string.h>

#include "metrics_prom.h"
#include "prom_server.h"

#define CF_TM_PROM_INTERVAL_MS 1000

struct cf_tm_prom_s {
    cf_tm_t *tm;
    cf_prom_server_t *srv;
    cf_timer_t *timer;
    cf_prom_text_t text; /* reused: no allocation once grown */
    int filter;
};

/* Labels of one task, for every family. */
typedef struct cf_tm_prom_task_s {
    char job[CF_ID_HEX_LEN + 1];
    char attempt[CF_ID_HEX_LEN + 1];
    char name[256];
    char subtask[16];
    char attempt_num[16];
    const char *labels[15];
} cf_tm_prom_task_t;

/* "Map (1/2)#0" -> name "Map", subtask_index "0" (0-based, as Flink's
 * label), task_attempt_num "0". A name without the suffix is kept
 * whole. */
static void
cf_tm_prom_split_name(const char *full, cf_tm_prom_task_t *t)
{
    const char *paren = strrchr(full, '(');
    int idx, par, att;

    snprintf(t->name, sizeof t->name, "%s", full);
    t->subtask[0] = t->attempt_num[0] = '\0';
    if (paren == NULL || paren == full ||
        sscanf(paren, "(%d/%d)#%d", &idx, &par, &att) != 3)
        return;
    size_t n = (size_t)(paren - full);
    while (n > 0 && full[n - 1] == ' ')
        n--;
    if (n >= sizeof t->name)
        n = sizeof t->name - 1;
    memcpy(t->name, full, n);
    t->name[n] = '\0';
    snprintf(t->subtask, sizeof t->subtask, "%d", idx - 1);
    snprintf(t->attempt_num, sizeof t->attempt_num, "%d", att);
}

static void
cf_tm_prom_proc(cf_tm_prom_t *p, const char *const *labels)
{
    cf_prom_proc_t proc;

    if (cf_prom_proc_read(&proc) < 0)
        return;
    cf_prom_text_family(&p->text, "flink_taskmanager_Status_Process_CPU_Time",
                        "CPU time used by the TaskManager process, in "
                        "seconds.");
    cf_prom_text_sample(&p->text, "flink_taskmanager_Status_Process_CPU_Time",
                        labels, p->filter, proc.cpu_seconds);
    cf_prom_text_family(&p->text, "flink_taskmanager_Status_Process_RSS",
                        "Resident memory of the TaskManager process, in "
                        "bytes.");
    cf_prom_text_sample_i64(&p->text, "flink_taskmanager_Status_Process_RSS",
                            labels, p->filter, proc.rss_bytes);
    cf_prom_text_family(&p->text, "flink_taskmanager_Status_Process_Threads",
                        "Threads of the TaskManager process.");
    cf_prom_text_sample_i64(&p->text,
                            "flink_taskmanager_Status_Process_Threads", labels,
                            p->filter, proc.threads);
}

/* Which per-task figure a family reports. */
enum {
    CF_TM_PROM_RIN,
    CF_TM_PROM_ROUT,
    CF_TM_PROM_BIN,
    CF_TM_PROM_BOUT,
    CF_TM_PROM_WM,
    CF_TM_PROM_NFAM
};

static const struct {
    const char *name, *help;
} cf_tm_prom_fams[CF_TM_PROM_NFAM] = {
    {"flink_taskmanager_job_task_numRecordsIn",
     "numRecordsIn (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numRecordsOut",
     "numRecordsOut (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numBytesIn",
     "numBytesIn (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numBytesOut",
     "numBytesOut (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_currentInputWatermark",
     "currentInputWatermark (scope: taskmanager_job_task); "
     "-9223372036854775808 (Long.MIN_VALUE): none yet"},
};

static int64_t
cf_tm_prom_value(const Cflink__UpdateTaskExecutionState *u, int fam)
{
    switch (fam) {
    case CF_TM_PROM_RIN: return u->records_in;
    case CF_TM_PROM_ROUT: return u->records_out;
    case CF_TM_PROM_BIN: return u->bytes_in;
    case CF_TM_PROM_BOUT: return u->bytes_out;
    default: return u->event_time ? u->event_time->input_watermark : INT64_MIN;
    }
}

/* Render the snapshot (loop thread). */
static void
cf_tm_prom_tick(void *arg)
{
    cf_tm_prom_t *p = arg;
    cf_tm_t *tm = p->tm;
    Cflink__UpdateTaskExecutionState **reps = NULL;
    cf_tm_prom_task_t *tasks = NULL;
    const char *host = tm->host ? tm->host : "localhost";
    const char *tm_id = tm->resource_id ? tm->resource_id : "";
    const char *tm_labels[] = {"host", host, "tm_id", tm_id, NULL};
    size_t n = 0, k = 0;

    cf_prom_text_reset(&p->text);
    cf_tm_prom_proc(p, tm_labels);
    if (!tm->shutting_down)
        n = cf_tm_task_reports(tm, &reps);
    if (n > 0)
        tasks = cf_calloc(n, sizeof *tasks);
    for (size_t i = 0; i < n; i++) {
        cf_tm_prom_task_t *t = &tasks[k];
        const char *full = NULL;
        cf_id_t jid, aid;

        if (cf_rpc_id_get(&reps[i]->job_id, &jid) < 0 ||
            cf_rpc_id_get(&reps[i]->attempt_id, &aid) < 0)
            continue;
        cf_id_to_hex(&jid, t->job);
        cf_id_to_hex(&aid, t->attempt);
        full = cf_tm_task_name(tm, &aid);
        cf_tm_prom_split_name(full ? full : t->attempt, t);
        const char *l[] = {"host",
                           host,
                           "tm_id",
                           tm_id,
                           "job_id",
                           t->job,
                           "task_attempt_id",
                           t->attempt,
                           "task_name",
                           t->name,
                           "subtask_index",
                           t->subtask,
                           "task_attempt_num",
                           t->attempt_num,
                           NULL};
        memcpy(t->labels, l, sizeof l);
        reps[k] = reps[i];
        k++;
    }
    /* The text format wants each family's samples together. */
    for (int f = 0; f < CF_TM_PROM_NFAM && k > 0; f++) {
        cf_prom_text_family(&p->text, cf_tm_prom_fams[f].name,
                            cf_tm_prom_fams[f].help);
        for (size_t i = 0; i < k; i++)
            cf_prom_text_sample_i64(&p->text, cf_tm_prom_fams[f].name,
                                    tasks[i].labels, p->filter,
                                    cf_tm_prom_value(reps[i], f));
    }
    cf_free(tasks);
    cf_free(reps);
    cf_prom_server_set(p->srv, p->text.buf ? p->text.buf : "", p->text.len);
}

cf_tm_prom_t *
cf_tm_prom_start(cf_tm_t *tm)
{
    cf_prom_server_t *srv = NULL;
    cf_prom_conf_t conf;
    cf_error_t *err = NULL;
    cf_tm_prom_t *p;

    if (cf_prom_start(tm->cfg, &srv, &conf, &err) < 0) {
        cf_log_error("Could not start the PrometheusReporter: %s. The "
                     "TaskManager runs without it.",
                     cf_error_msg(err));
        cf_error_free(err);
        return NULL;
    }
    if (srv == NULL)
        return NULL;
    p = CF_NEW(cf_tm_prom_t);
    p->tm = tm;
    p->srv = srv;
    p->filter = conf.filter_label_values;
    cf_tm_prom_tick(p);
    p->timer = cf_loop_timer(tm->loop, CF_TM_PROM_INTERVAL_MS,
                             CF_TM_PROM_INTERVAL_MS, cf_tm_prom_tick, p);
    return p;
}

int
cf_tm_prom_port(const cf_tm_prom_t *p)
{
    return p ? cf_prom_server_port(p->srv) : 0;
}

void
cf_tm_prom_destroy(cf_tm_prom_t *p)
{
    if (p == NULL)
        return;
    if (p->timer)
        cf_timer_cancel(p->timer);
    cf_prom_server_destroy(p->srv);
    cf_prom_text_free(&p->text);
    cf_free(p);
}
