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
 * numRecordsOut, numBytesIn, numBytesOut, currentInputWatermark, the
 * rates numRecordsInPerSecond, numRecordsOutPerSecond,
 * numBytesInPerSecond, numBytesOutPerSecond, busyTimeMsPerSecond,
 * backPressuredTimeMsPerSecond, idleTimeMsPerSecond, and the counters
 * accumulatedBusyTime, accumulatedBackpressuredTime, accumulatedIdleTime
 * (ms since the task started RUNNING).
 *
 * The rates are computed here, from this reporter's successive readings
 * of each task attempt (cf_task_rates_feed over at least
 * CF_TM_PROM_RATE_WINDOW_MS): the same cumulative figures the JobMaster
 * turns into the REST API's rates, but sampled every second rather than
 * at each heartbeat. Until an attempt has two readings its rates are 0.
 * The times (and the three time rates) are left out for a task that is
 * not measured (not RUNNING yet, or measurement off).
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
/* A little under the timer's period, so that a tick a few ms early still
 * gives a new rate rather than keeping the older reading for a second
 * more. */
#define CF_TM_PROM_RATE_WINDOW_MS 900

/* The rates of one task attempt between this reporter's readings. */
typedef struct cf_tm_prom_rates_s {
    cf_id_t attempt;
    cf_task_rates_t r;
    int seen; /* in the current tick */
} cf_tm_prom_rates_t;

struct cf_tm_prom_s {
    cf_tm_t *tm;
    cf_prom_server_t *srv;
    cf_timer_t *timer;
    cf_prom_text_t text; /* reused: no allocation once grown */
    int filter;
    cf_tm_prom_rates_t *rates; /* one per task attempt reported last */
    size_t nrates, caprates;
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
    CF_TM_PROM_ACC_BUSY, /* the times: only for measured tasks */
    CF_TM_PROM_ACC_BP,
    CF_TM_PROM_ACC_IDLE,
    CF_TM_PROM_RATE0, /* the rates, in CF_RATE_* order */
    CF_TM_PROM_NFAM = CF_TM_PROM_RATE0 + CF_RATE_COUNT
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
    {"flink_taskmanager_job_task_accumulatedBusyTime",
     "accumulatedBusyTime (scope: taskmanager_job_task); ms"},
    {"flink_taskmanager_job_task_accumulatedBackpressuredTime",
     "accumulatedBackpressuredTime (scope: taskmanager_job_task); ms"},
    {"flink_taskmanager_job_task_accumulatedIdleTime",
     "accumulatedIdleTime (scope: taskmanager_job_task); ms"},
    {"flink_taskmanager_job_task_numRecordsInPerSecond",
     "numRecordsInPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numRecordsOutPerSecond",
     "numRecordsOutPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numBytesInPerSecond",
     "numBytesInPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_numBytesOutPerSecond",
     "numBytesOutPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_busyTimeMsPerSecond",
     "busyTimeMsPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
     "backPressuredTimeMsPerSecond (scope: taskmanager_job_task)"},
    {"flink_taskmanager_job_task_idleTimeMsPerSecond",
     "idleTimeMsPerSecond (scope: taskmanager_job_task)"},
};

/* The index in p->rates of attempt aid's rates, fed with its reading u
 * (created when new; marked seen for this tick). An index, not a
 * pointer: a later attempt of the same tick may grow the array. */
static size_t
cf_tm_prom_rates(cf_tm_prom_t *p, const cf_id_t *aid,
                 const Cflink__UpdateTaskExecutionState *u, int64_t now_ms)
{
    cf_tm_prom_rates_t *e = NULL;
    cf_task_sample_t s;

    for (size_t i = 0; i < p->nrates && e == NULL; i++)
        if (cf_id_equal(&p->rates[i].attempt, aid))
            e = &p->rates[i];
    if (e == NULL) {
        CF_GROW(&p->rates, &p->caprates, p->nrates + 1);
        e = &p->rates[p->nrates++];
        e->attempt = *aid;
        cf_task_rates_reset(&e->r);
    }
    e->seen = 1;
    memset(&s, 0, sizeof s);
    s.t_ms = now_ms;
    s.counts[0] = u->records_in;
    s.counts[1] = u->records_out;
    s.counts[2] = u->bytes_in;
    s.counts[3] = u->bytes_out;
    if (u->times != NULL) {
        s.has_times = 1;
        s.times.busy_ms = u->times->busy_ms;
        s.times.back_pressured_ms = u->times->back_pressured_ms;
        s.times.idle_ms = u->times->idle_ms;
    }
    cf_task_rates_feed(&e->r, &s, CF_TM_PROM_RATE_WINDOW_MS);
    return (size_t)(e - p->rates);
}

/* Forget the attempts this tick did not report (ended tasks); after the
 * rendering, which holds indices into p->rates. */
static void
cf_tm_prom_rates_sweep(cf_tm_prom_t *p)
{
    size_t k = 0;

    for (size_t i = 0; i < p->nrates; i++)
        if (p->rates[i].seen) {
            p->rates[i].seen = 0;
            p->rates[k++] = p->rates[i];
        }
    p->nrates = k;
}

static int64_t
cf_tm_prom_value(const Cflink__UpdateTaskExecutionState *u, int fam)
{
    switch (fam) {
    case CF_TM_PROM_RIN: return u->records_in;
    case CF_TM_PROM_ROUT: return u->records_out;
    case CF_TM_PROM_BIN: return u->bytes_in;
    case CF_TM_PROM_BOUT: return u->bytes_out;
    case CF_TM_PROM_ACC_BUSY: return (int64_t)u->times->busy_ms;
    case CF_TM_PROM_ACC_BP: return (int64_t)u->times->back_pressured_ms;
    case CF_TM_PROM_ACC_IDLE: return (int64_t)u->times->idle_ms;
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
    size_t *rates = NULL; /* per task: its index in p->rates */
    int64_t now_ms = cf_mono_ms();
    const char *host = tm->host ? tm->host : "localhost";
    const char *tm_id = tm->resource_id ? tm->resource_id : "";
    const char *tm_labels[] = {"host", host, "tm_id", tm_id, NULL};
    size_t n = 0, k = 0;

    cf_prom_text_reset(&p->text);
    cf_tm_prom_proc(p, tm_labels);
    if (!tm->shutting_down)
        n = cf_tm_task_reports(tm, &reps);
    if (n > 0) {
        tasks = cf_calloc(n, sizeof *tasks);
        rates = cf_calloc(n, sizeof *rates);
    }
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
        rates[k] = cf_tm_prom_rates(p, &aid, reps[i], now_ms);
        reps[k] = reps[i];
        k++;
    }
    /* The text format wants each family's samples together. */
    for (int f = 0; f < CF_TM_PROM_NFAM && k > 0; f++) {
        cf_prom_text_family(&p->text, cf_tm_prom_fams[f].name,
                            cf_tm_prom_fams[f].help);
        for (size_t i = 0; i < k; i++) {
            int timed =
                f >= CF_TM_PROM_ACC_BUSY &&
                (f < CF_TM_PROM_RATE0 || f - CF_TM_PROM_RATE0 >= CF_RATE_BUSY);
            if (timed && reps[i]->times == NULL)
                continue; /* not measured: no value, as Flink */
            if (f >= CF_TM_PROM_RATE0)
                cf_prom_text_sample(&p->text, cf_tm_prom_fams[f].name,
                                    tasks[i].labels, p->filter,
                                    p->rates[rates[i]]
                                        .r.rate[f - CF_TM_PROM_RATE0]);
            else
                cf_prom_text_sample_i64(&p->text, cf_tm_prom_fams[f].name,
                                        tasks[i].labels, p->filter,
                                        cf_tm_prom_value(reps[i], f));
        }
    }
    cf_tm_prom_rates_sweep(p);
    cf_free(rates);
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
    cf_free(p->rates);
    cf_free(p);
}
