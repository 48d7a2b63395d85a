/*
 * tm_ops.c: the TaskManager's answers to TaskManagerInfoRequest (Flink's
 * TaskExecutorGateway.requestLogList, requestFileUploadByName,
 * requestThreadDump and the metric queries), which the JobManager's REST
 * API relays (/taskmanagers/:id/{log,stdout,logs,thread-dump,metrics}).
 *
 * Where the log is: taskmanager.log.path when set (Flink's old
 * TASK_MANAGER_LOG_PATH_KEY), else the --log-file the daemon was started
 * with (scripts/cflink-daemon.sh passes it), read from /proc/self/cmdline
 * as the JobManager does; the .out file beside it holds stdout and
 * stderr; the directory of the log (else env.log.dir) is what LOG_LIST
 * lists. LOG_FILE serves only a plain name of that listing (never a path
 * built from the request) and reads at most CF_TM_OPS_MAX_READ bytes per
 * request (offset < 0: the tail), so one answer stays under the RPC frame
 * limit and the control loop is never blocked for long.
 *
 * Metrics are computed when asked (no registry): Status.Process.* from
 * /proc/self (proc_info.c, shared with the Prometheus reporter), slots
 * from the slot table and Status.Shuffle.Netty.* from the network
 * buffer budget. docs/user-guide/metrics.md lists them.
 *
 * Threads: the TaskManager's loop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proc_info.h"
#include "taskmanager_int.h"

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

/* The TaskManager's metric names, in the order they are listed. */
static const char *const cf_tm_ops_metric_names[] = {
    "Status.Process.CPU.Load",
    "Status.Process.CPU.Time",
    "Status.Process.Memory.RSS",
    "Status.Process.Memory.Virtual",
    "Status.Process.Threads.Count",
    "Status.Process.FileDescriptors.Count",
    "Status.Shuffle.Netty.TotalMemorySegments",
    "Status.Shuffle.Netty.AvailableMemorySegments",
    "Status.Shuffle.Netty.UsedMemorySegments",
    "Status.Shuffle.Netty.TotalMemory",
    "Status.Shuffle.Netty.AvailableMemory",
    "Status.Shuffle.Netty.UsedMemory",
    "Status.Flink.Memory.Managed.Total",
    "Status.Flink.Memory.Managed.Used",
    "taskSlotsTotal",
    "taskSlotsAvailable",
    "numRunningTasks",
};

size_t
cf_tm_ops_metric_count(void)
{
    return CF_ARRAY_LEN(cf_tm_ops_metric_names);
}

const char *
cf_tm_ops_metric_name(size_t i)
{
    return i < CF_ARRAY_LEN(cf_tm_ops_metric_names) ? cf_tm_ops_metric_names[i]
                                                    : NULL;
}

/* All metric values at once (one /proc read), as strings in vals. */
static void
cf_tm_ops_metric_values(cf_tm_t *tm, char vals[][32])
{
    cf_proc_stats_t ps;
    int64_t total = 0, avail = 0, seg = 0;
    int free_slots = 0;
    size_t i = 0;

    if (cf_proc_stats_read(&ps) < 0)
        memset(&ps, 0, sizeof ps);
    if (tm->env != NULL) {
        total = cf_net_env_total_segments(tm->env);
        avail = cf_net_env_free_segments(tm->env);
        seg = (int64_t)cf_net_env_segment_size(tm->env);
    }
    for (int s = 0; s < tm->nslots; s++)
        free_slots += tm->slots[s].state == CF_TM_SLOT_FREE;
    snprintf(vals[i++], 32, "%.4f",
             cf_proc_cpu_load(&tm->cpu_load, ps.cpu_seconds, cf_mono_ms()));
    /* Flink's Status.JVM.CPU.Time is in nanoseconds. */
    snprintf(vals[i++], 32, "%" PRId64, (int64_t)(ps.cpu_seconds * 1e9));
    snprintf(vals[i++], 32, "%" PRId64, ps.rss_bytes);
    snprintf(vals[i++], 32, "%" PRId64, ps.virtual_bytes);
    snprintf(vals[i++], 32, "%" PRId64, ps.threads);
    snprintf(vals[i++], 32, "%" PRId64, ps.fds);
    snprintf(vals[i++], 32, "%" PRId64, total);
    snprintf(vals[i++], 32, "%" PRId64, avail);
    snprintf(vals[i++], 32, "%" PRId64, total - avail);
    snprintf(vals[i++], 32, "%" PRId64, total * seg);
    snprintf(vals[i++], 32, "%" PRId64, avail * seg);
    snprintf(vals[i++], 32, "%" PRId64, (total - avail) * seg);
    /* No managed memory: cflink's state backends use the heap. */
    snprintf(vals[i++], 32, "0");
    snprintf(vals[i++], 32, "0");
    snprintf(vals[i++], 32, "%d", tm->nslots);
    snprintf(vals[i++], 32, "%d", free_slots);
    snprintf(vals[i++], 32, "%d", tm->ntasks);
    CF_ASSERT(i == CF_ARRAY_LEN(cf_tm_ops_metric_names));
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static void
cf_tm_ops_reply(cf_tm_t *tm, uint64_t req_id,
                Cflink__TaskManagerInfoResponse *resp)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;

    env.body_case = CFLINK__ENVELOPE__BODY_TM_INFO_RESPONSE;
    env.tm_info_response = resp;
    int rc = cf_rpc_reply(tm->conn, req_id, &env);
    if (rc < 0)
        cf_log_warn("Could not answer a TaskManagerInfoRequest: %s.",
                    cf_strerror(rc));
}

static void
cf_tm_ops_log_list(cf_tm_t *tm, uint64_t req_id)
{
    Cflink__TaskManagerInfoResponse resp =
        CFLINK__TASK_MANAGER_INFO_RESPONSE__INIT;
    char *log = cf_tm_ops_log_file(tm);
    char *dir = cf_proc_log_dir(log, tm->cfg);
    cf_proc_file_t *files;
    size_t n = cf_proc_list_dir(dir, CF_TM_OPS_MAX_FILES, &files);
    Cflink__LogFileInfo *infos = NULL, **ptrs = NULL;

    if (n > 0) {
        infos = cf_calloc(n, sizeof *infos);
        ptrs = cf_calloc(n, sizeof *ptrs);
    }
    for (size_t i = 0; i < n; i++) {
        cflink__log_file_info__init(&infos[i]);
        infos[i].name = files[i].name;
        infos[i].size = files[i].size;
        infos[i].mtime_ms = files[i].mtime_ms;
        ptrs[i] = &infos[i];
    }
    resp.n_logs = n;
    resp.logs = ptrs;
    cf_tm_ops_reply(tm, req_id, &resp);
    cf_free(ptrs);
    cf_free(infos);
    cf_free(files);
    cf_free(dir);
    cf_free(log);
}

static void
cf_tm_ops_file(cf_tm_t *tm, uint64_t req_id,
               const Cflink__TaskManagerInfoRequest *rq)
{
    Cflink__TaskManagerInfoResponse resp =
        CFLINK__TASK_MANAGER_INFO_RESPONSE__INIT;
    char *log = cf_tm_ops_log_file(tm), *dir = NULL, *base = NULL;
    const char *name = rq->name != NULL ? rq->name : "";
    int64_t max = rq->length > 0 && rq->length < CF_TM_OPS_MAX_READ
                      ? rq->length
                      : CF_TM_OPS_MAX_READ;
    char *data = NULL;
    size_t len = 0;
    int64_t total = 0;
    int rc;

    if (rq->kind == CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__STDOUT ||
        name[0] == '\0') {
        /* The main log or its .out file: by their base names in the log
         * directory, so the same listing rule applies. */
        char *path = rq->kind == CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__STDOUT
                         ? cf_proc_out_file(log)
                         : (log != NULL ? cf_strdup(log) : NULL);
        if (path == NULL) {
            cf_rpc_reply_error(tm->conn, req_id,
                               "TaskManager %s has no log file (it logs "
                               "to stderr).",
                               tm->resource_id);
            cf_free(log);
            return;
        }
        dir = cf_proc_log_dir(path, NULL);
        base = cf_strdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
        cf_free(path);
        name = base;
    } else {
        dir = cf_proc_log_dir(log, tm->cfg);
    }
    if (!cf_proc_plain_name(name))
        rc = CF_EINVAL;
    else
        rc =
            cf_proc_read_named(dir, name, rq->offset, max, &data, &len, &total);
    if (rc < 0) {
        cf_rpc_reply_error(tm->conn, req_id,
                           "The file %.255s does not exist on the "
                           "TaskManager %s.",
                           name, tm->resource_id);
    } else {
        resp.data.data = (uint8_t *)data;
        resp.data.len = len;
        resp.total_size = total;
        cf_tm_ops_reply(tm, req_id, &resp);
    }
    cf_free(data);
    cf_free(base);
    cf_free(dir);
    cf_free(log);
}

static void
cf_tm_ops_threads(cf_tm_t *tm, uint64_t req_id)
{
    Cflink__TaskManagerInfoResponse resp =
        CFLINK__TASK_MANAGER_INFO_RESPONSE__INIT;
    cf_proc_thread_t *th;
    size_t n = cf_proc_threads(&th);
    Cflink__ThreadInfo *infos = NULL, **ptrs = NULL;

    if (n > 0) {
        infos = cf_calloc(n, sizeof *infos);
        ptrs = cf_calloc(n, sizeof *ptrs);
    }
    for (size_t i = 0; i < n; i++) {
        cflink__thread_info__init(&infos[i]);
        infos[i].name = th[i].name;
        infos[i].info = th[i].info;
        ptrs[i] = &infos[i];
    }
    resp.n_threads = n;
    resp.threads = ptrs;
    cf_tm_ops_reply(tm, req_id, &resp);
    cf_free(ptrs);
    cf_free(infos);
    cf_proc_threads_free(th, n);
}

static void
cf_tm_ops_metrics(cf_tm_t *tm, uint64_t req_id,
                  const Cflink__TaskManagerInfoRequest *rq)
{
    enum {
        N = CF_ARRAY_LEN(cf_tm_ops_metric_names)
    };
    Cflink__TaskManagerInfoResponse resp =
        CFLINK__TASK_MANAGER_INFO_RESPONSE__INIT;
    Cflink__MetricValue mv[N], *ptrs[N];
    char vals[N][32];
    size_t k = 0;

    cf_tm_ops_metric_values(tm, vals);
    for (size_t i = 0; i < N; i++) {
        int want = rq->n_metric_names == 0;

        for (size_t j = 0; j < rq->n_metric_names && !want; j++)
            want = rq->metric_names[j] != NULL &&
                   strcmp(rq->metric_names[j], cf_tm_ops_metric_names[i]) == 0;
        if (!want)
            continue;
        cflink__metric_value__init(&mv[k]);
        mv[k].id = (char *)cf_tm_ops_metric_names[i];
        mv[k].value = vals[i];
        ptrs[k] = &mv[k];
        k++;
    }
    resp.n_metrics = k;
    resp.metrics = ptrs;
    cf_tm_ops_reply(tm, req_id, &resp);
}

char *
cf_tm_ops_log_file(const cf_tm_t *tm)
{
    return cf_proc_log_file(tm->cfg != NULL
                                ? cf_config_get(tm->cfg, "taskmanager.log.path")
                                : NULL);
}

void
cf_tm_on_info_request(cf_tm_t *tm, uint64_t req_id,
                      const Cflink__TaskManagerInfoRequest *rq)
{
    if (req_id == 0)
        return; /* nobody would read the answer */
    switch (rq->kind) {
    case CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__LOG_LIST:
        cf_tm_ops_log_list(tm, req_id);
        return;
    case CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__LOG_FILE:
    case CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__STDOUT:
        cf_tm_ops_file(tm, req_id, rq);
        return;
    case CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__THREAD_DUMP:
        cf_tm_ops_threads(tm, req_id);
        return;
    case CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__METRICS:
        cf_tm_ops_metrics(tm, req_id, rq);
        return;
    default:
        cf_rpc_reply_error(tm->conn, req_id,
                           "TaskManager %s: unknown information request "
                           "kind %d.",
                           tm->resource_id, (int)rq->kind);
        return;
    }
}
