/*
 * rest_ops.c: the JobManager's operational REST endpoints, with Flink's
 * paths and JSON (FLINK_INTERFACES.md; rest_v1_dispatcher.yml):
 *
 *   GET /jobmanager/environment            EnvironmentInfo
 *   GET /jobs/:jobid/jobmanager/environment
 *   GET /jobmanager/log                    the daemon's log (text/plain)
 *   GET /jobmanager/stdout                 its .out file (text/plain)
 *   GET /jobmanager/logs                   LogListInfo of the log directory
 *   GET /jobmanager/logs/:filename         one file of that listing
 *   GET /jobmanager/thread-dump            ThreadDumpInfo from /proc
 *   GET /jobs/:jobid/jobmanager/config     the job's configuration
 *   GET /jobs/:jobid/jobmanager/log-url    LogUrlResponse
 *   GET /jobs/:jobid/taskmanagers/:taskmanagerid/log-url
 *   GET /taskmanagers/:taskmanagerid/{log,stdout,logs,logs/:filename,
 *       thread-dump,metrics}      asked of the TaskManager over RPC
 *   GET /taskmanagers/metrics     aggregated over the TaskManagers
 *   (rest_metrics.c: /jobmanager/metrics, /jobs/:jobid/metrics,
 *    /jobs/metrics)
 *
 * TaskManager endpoints: the handler checks the id (404 "Could not find
 * TaskExecutor <id>." when none is registered) and the file name, sends
 * a TaskManagerInfoRequest and defers its answer (cf_rest_defer); the
 * reply callback completes it. The RPC call ends within pekko.ask.timeout
 * (504 naming the TaskManager); the deferral's own bound is 2 s longer.
 * A TaskManager's file is relayed as its last 8 MiB at most (one RPC
 * frame), where the JobManager's own files are served up to 64 MiB.
 *
 * Where the log is (Flink's WebMonitorUtils.LogFileLocation): web.log.path
 * when set, else the --log-file the daemon was started with (read from
 * /proc/self/cmdline, so no start-up state has to be handed over); the
 * stdout file is the log's path with ".log" replaced by ".out" (the
 * daemon script redirects the daemon's stdout and stderr there); the log
 * directory is the log file's directory, else env.log.dir.
 *
 * File names (CVE-2020-17519, RELIABILITY.md): the server percent-decodes
 * the path exactly once; a name that still holds '%', '/', '\', a control
 * character or is "." / ".." is refused with 400, and only a name equal
 * to a regular file of the directory's listing is served (404 else). The
 * file is opened relative to the directory with O_NOFOLLOW and checked to
 * be a regular file again, so a symlink planted in the directory is not
 * followed. Responses hold at most the last min(64 MiB,
 * rest.server.max-content-length) bytes of a file (Flink sends it whole;
 * the tail is what an operator wants from a huge log and keeps memory
 * bounded).
 *
 * Threads: loop only.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "dispatcher_int.h"
#include "jobmanager_int.h"
#include "proc_info.h"
#include "rest.h"
#include "rest_metrics.h"

#define CF_RO_MAX_FILE ((int64_t)64 << 20)
#define CF_RO_MAX_TMID 128
#define CF_RO_TEXT_TYPE "text/plain; charset=UTF-8"
#define CF_RO_NO_FILE "This file does not exist in JobManager log dir."
#define CF_RO_MAX_FILES 1000
/* Most bytes of a TaskManager's file relayed (one RPC frame of at most
 * 10 MiB carries it; the TaskManager caps it the same way). */
#define CF_RO_TM_MAX_READ ((int64_t)8 << 20)
/* Bytes of TaskManager log files the JobManager holds for clients at
 * most (fetched over RPC, then queued until the client has them all):
 * past it a new TaskManager log transfer answers 503, so many (or slow)
 * downloads cannot grow the JobManager without bound. A soft limit: one
 * transfer may overshoot it by CF_RO_TM_MAX_READ. The JobManager's own
 * files are sent from the file (sendfile) and hold no memory. */
#define CF_RO_TEXT_BUDGET ((size_t)128 << 20)

/* TaskManager file fetches in flight (loop thread only). */
static int cf_ro_tm_files_in_flight;

/* Whether one more log transfer fits the budget; else the 503 body. */
static json_t *
cf_ro_text_budget(const cf_jm_t *jm, int *status)
{
    size_t held = cf_rest_raw_bytes(jm->rest) +
                  (size_t)cf_ro_tm_files_in_flight * (size_t)CF_RO_TM_MAX_READ;

    if (held < CF_RO_TEXT_BUDGET)
        return NULL;
    cf_log_warn("REST: refused a log transfer: %zu MiB of log data held "
                "for clients already (limit %zu MiB).",
                held >> 20, CF_RO_TEXT_BUDGET >> 20);
    return cf_rest_error(status, 503,
                         "Too many log transfers in progress; try again "
                         "later.");
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A TaskManager id as cflink makes them (resource ids: letters, digits,
 * '-', '_', '.', ':'), bounded. */
static int
cf_ro_tmid_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
            return 0;
    }
    return n > 0 && n <= CF_RO_MAX_TMID;
}

/* The JobManager's log file (cf_malloc'd), or NULL when it logs to
 * stderr: web.log.path, else --log-file. */
static char *
cf_ro_log_file(const cf_jm_t *jm)
{
    return cf_proc_log_file(cf_config_get(jm->cfg, "web.log.path"));
}

/* The log directory (cf_malloc'd), or NULL. */
static char *
cf_ro_log_dir(const cf_jm_t *jm)
{
    char *f = cf_ro_log_file(jm);
    char *d = cf_proc_log_dir(f, jm->cfg);

    cf_free(f);
    return d;
}

static int64_t
cf_ro_max_body(const cf_jm_t *jm)
{
    int64_t m = cf_config_get_int(jm->cfg, "rest.server.max-content-length",
                                  104857600);
    return m > 0 && m < CF_RO_MAX_FILE ? m : CF_RO_MAX_FILE;
}

/* Answer with the tail of the open file fd (closed here). */
static json_t *
cf_ro_send_fd(cf_jm_t *jm, cf_rest_req_t *req, int fd, int *status)
{
    int64_t off, len, total;

    if (cf_proc_file_range(fd, -1, cf_ro_max_body(jm), &off, &len, &total) <
        0) {
        close(fd);
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    }
    /* Sent from the file as the client takes it: nothing read into
     * memory, nothing held for a slow client. */
    *status = 200;
    cf_rest_respond_fd(req, CF_RO_TEXT_TYPE, fd, (uint64_t)off,
                       (uint64_t)len);
    return NULL;
}

/* Answer with the file at path, or 404. */
static json_t *
cf_ro_send_path(cf_jm_t *jm, cf_rest_req_t *req, const char *path,
                int *status)
{
    int fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
                          : -1;

    if (fd < 0)
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    return cf_ro_send_fd(jm, req, fd, status);
}

/* Flink's LogListInfo entries of the regular files of dir, by name. */
static json_t *
cf_ro_list_dir(const char *dir)
{
    json_t *arr = json_array();
    cf_proc_file_t *files;
    size_t n = cf_proc_list_dir(dir, CF_RO_MAX_FILES, &files);

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "name",
                                             files[i].name, "size",
                                             (json_int_t)files[i].size,
                                             "mtime",
                                             (json_int_t)files[i].mtime_ms));
    cf_free(files);
    return arr;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static json_t *
cf_ro_environment_dto(void)
{
    json_t *o = json_object(), *jvm = json_object(), *opts = json_array();
    struct utsname u;
    char *cmd;
    size_t len, i = 0;

    json_object_set_new(jvm, "version",
                        json_string("cflink " CF_VERSION " (C11, no JVM)"));
    json_object_set_new(jvm, "arch",
                        json_string(uname(&u) == 0 ? u.machine : "unknown"));
    /* The process's arguments stand for the JVM options. */
    cmd = cf_proc_cmdline(&len);
    while (cmd != NULL && i < len) {
        json_array_append_new(opts, json_string(cmd + i));
        i += strlen(cmd + i) + 1;
    }
    cf_free(cmd);
    json_object_set_new(jvm, "options", opts);
    json_object_set_new(o, "jvm", jvm);
    json_object_set_new(o, "classpath", json_array());
    return o;
}

static json_t *
cf_ro_environment(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    (void)req;
    (void)jm;
    *status = 200;
    return cf_ro_environment_dto();
}

static json_t *
cf_ro_job_environment(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    *status = 200;
    return cf_ro_environment_dto();
}

static json_t *
cf_ro_log(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *f = cf_ro_log_file(jm);
    json_t *r = cf_ro_send_path(jm, req, f, status);

    cf_free(f);
    return r;
}

static json_t *
cf_ro_stdout(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *f = cf_ro_log_file(jm), *out = cf_proc_out_file(f);
    json_t *r = cf_ro_send_path(jm, req, out, status);

    cf_free(out);
    cf_free(f);
    return r;
}

static json_t *
cf_ro_logs(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *dir = cf_ro_log_dir(jm);
    json_t *o = json_object();

    (void)req;
    json_object_set_new(o, "logs", cf_ro_list_dir(dir));
    cf_free(dir);
    *status = 200;
    return o;
}

static json_t *
cf_ro_log_named(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    const char *name = req->nparams > 0 ? req->params[0] : "";
    char *dir;
    int fd;

    if (!cf_proc_plain_name(name))
        return cf_rest_bad_path_param(status, "filename", name);
    dir = cf_ro_log_dir(jm);
    /* Only a name the listing would list: never a path built from the
     * request. */
    fd = cf_proc_open_named(dir, name);
    cf_free(dir);
    if (fd < 0)
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    return cf_ro_send_fd(jm, req, fd, status);
}

/* Flink's ThreadInfo entry of a thread dump. */
static json_t *
cf_ro_thread_info(const char *name, const char *info)
{
    return json_pack("{s:o,s:o}", "threadName", cf_rest_json_text(name),
                     "stringifiedThreadInfo", cf_rest_json_text(info));
}

static json_t *
cf_ro_threads_dto(const cf_proc_thread_t *th, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cf_ro_thread_info(th[i].name, th[i].info));
    return json_pack("{s:o}", "threadInfos", arr);
}

static json_t *
cf_ro_thread_dump(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    cf_proc_thread_t *th;
    size_t n = cf_proc_threads(&th);
    json_t *o = cf_ro_threads_dto(th, n);

    (void)req;
    (void)jm;
    cf_proc_threads_free(th, n);
    *status = 200;
    return o;
}

static void
cf_ro_cfg_each(const char *key, const char *value, int is_set, void *ud)
{
    json_t *e;

    if (!is_set)
        return;
    e = json_object();
    json_object_set_new(e, "key", json_string(key));
    json_object_set_new(e, "value",
                        json_string(cf_config_key_is_sensitive(key)
                                        ? CF_CONFIG_HIDDEN_VALUE
                                        : (value ? value : "")));
    json_array_append_new(ud, e);
}

static json_t *
cf_ro_job_config(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *arr;
    cf_jobmaster_t *j = cf_rest_job_param(jm, req, 0, status, &err);

    if (j == NULL)
        return err;
    arr = json_array();
    cf_config_foreach(j->job_cfg != NULL ? j->job_cfg : jm->cfg,
                      cf_ro_cfg_each, arr);
    *status = 200;
    return arr;
}

/* "<rest base url>": http://rest.address:port. */
static char *
cf_ro_base_url(const cf_jm_t *jm)
{
    const char *a = cf_config_get(jm->cfg, "rest.address");

    if (a == NULL || *a == '\0')
        a = "localhost";
    return cf_asprintf("http://%s:%d", a, cf_rest_port(jm->rest));
}

static json_t *
cf_ro_jm_log_url(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *o;
    char *base, *url;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    base = cf_ro_base_url(jm);
    url = cf_asprintf("%s/#/job-manager/logs", base);
    o = json_pack("{s:s}", "url", url);
    cf_free(url);
    cf_free(base);
    *status = 200;
    return o;
}

static json_t *
cf_ro_tm_log_url(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *o;
    const char *tm = req->nparams > 1 ? req->params[1] : "";
    char *base, *url;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    if (!cf_ro_tmid_ok(tm))
        return cf_rest_bad_path_param(status, "taskmanagerid", tm);
    base = cf_ro_base_url(jm);
    url = cf_asprintf("%s/#/task-manager/%s/logs", base, tm);
    o = json_pack("{s:s}", "url", url);
    cf_free(url);
    cf_free(base);
    *status = 200;
    return o;
}

/* ------------------------------------------------------------------ */
/* TaskManager endpoints: relayed over RPC with deferred answers        */
/* ------------------------------------------------------------------ */

/* The ResourceManager's accessors: set by cf_rm_new. Going through this
 * table keeps rest_ops.o free of references to the ResourceManager and
 * the Dispatcher, so tests can link it with a fake Dispatcher. */
const cf_rest_ops_backend_t *cf_rest_ops_backend;
#define B cf_rest_ops_backend

/* What a TaskManager request answers. */
typedef enum cf_ro_tm_what_e {
    CF_RO_TM_LOG,
    CF_RO_TM_STDOUT,
    CF_RO_TM_LOGS,
    CF_RO_TM_LOG_NAMED,
    CF_RO_TM_THREADS,
    CF_RO_TM_METRICS,
} cf_ro_tm_what_t;

/* One relayed request: lives until the RPC callback ran. */
typedef struct cf_ro_tm_call_s {
    cf_rest_pending_t *p;
    cf_ro_tm_what_t what;
    char tm_id[CF_RO_MAX_TMID + 1];
    char name[CF_PROC_MAX_NAME + 1];
    int64_t timeout_ms;
    int list_only; /* METRICS without get: ids only */
    int file;      /* LOG, STDOUT, LOG_NAMED: counted in flight */
    cf_rest_get_t get; /* METRICS: the names asked, in order */
} cf_ro_tm_call_t;

static void
cf_ro_tm_call_free(cf_ro_tm_call_t *cl)
{
    if (cl->file)
        cf_ro_tm_files_in_flight--;
    cf_rest_get_free(&cl->get);
    cf_free(cl);
}

/* The bound of a TaskManager's answer (pekko.ask.timeout); the REST
 * deferral gets a little more, so the RPC timeout answers first and
 * names the TaskManager. */
static int64_t
cf_ro_tm_timeout(const cf_jm_t *jm)
{
    return B != NULL ? B->ask_timeout_ms(jm->rm) : 10000;
}

static json_t *
cf_ro_tm_not_found(int *status, const char *id)
{
    return cf_rest_error(status, 404, "Could not find TaskExecutor %.*s.",
                         CF_RO_MAX_TMID, id);
}

/* The JSON error of a failed request. */
static json_t *
cf_ro_tm_error_body(const cf_ro_tm_call_t *cl, int rc, const char *error,
                    int *status)
{
    if (rc == -ETIMEDOUT)
        return cf_rest_error(status, 504,
                             "TaskManager %s did not answer within %lld ms.",
                             cl->tm_id, (long long)cl->timeout_ms);
    if (rc == CF_EPROTO && (cl->what == CF_RO_TM_LOG_NAMED ||
                            cl->what == CF_RO_TM_LOG ||
                            cl->what == CF_RO_TM_STDOUT))
        return cf_rest_error(status, 404, "%s", error ? error : "Not found");
    if (rc == CF_EIO)
        return cf_rest_error(status, 500,
                             "The connection to TaskManager %s closed: %s",
                             cl->tm_id, error ? error : "closed");
    return cf_rest_error(status, 500, "TaskManager %s failed to answer: %s",
                         cl->tm_id, error ? error : cf_strerror(rc));
}

static void
cf_ro_tm_reply(int rc, const char *error,
               const Cflink__TaskManagerInfoResponse *resp, void *arg)
{
    cf_ro_tm_call_t *cl = arg;
    int status = 200;
    json_t *body = NULL, *arr;

    if (!cf_rest_pending_alive(cl->p)) {
        /* Timed out or shut down meanwhile: the answer is dropped. */
        cf_rest_complete(cl->p, 500, NULL);
        cf_ro_tm_call_free(cl);
        return;
    }
    if (rc < 0) {
        body = cf_ro_tm_error_body(cl, rc, error, &status);
        cf_rest_complete(cl->p, status, body);
        cf_ro_tm_call_free(cl);
        return;
    }
    switch (cl->what) {
    case CF_RO_TM_LOG:
    case CF_RO_TM_STDOUT:
    case CF_RO_TM_LOG_NAMED: {
        char *data = cf_malloc(resp->data.len + 1);
        if (resp->data.len > 0)
            memcpy(data, resp->data.data, resp->data.len);
        data[resp->data.len] = '\0';
        cf_rest_complete_raw(cl->p, 200, CF_RO_TEXT_TYPE, data,
                             resp->data.len);
        cf_ro_tm_call_free(cl);
        return;
    }
    case CF_RO_TM_LOGS:
        arr = json_array();
        for (size_t i = 0; i < resp->n_logs; i++)
            json_array_append_new(
                arr, json_pack("{s:s,s:I,s:I}", "name",
                               resp->logs[i]->name ? resp->logs[i]->name : "",
                               "size", (json_int_t)resp->logs[i]->size,
                               "mtime", (json_int_t)resp->logs[i]->mtime_ms));
        body = json_pack("{s:o}", "logs", arr);
        break;
    case CF_RO_TM_THREADS:
        arr = json_array();
        for (size_t i = 0; i < resp->n_threads; i++)
            json_array_append_new(
                arr, cf_ro_thread_info(resp->threads[i]->name,
                                       resp->threads[i]->info));
        body = json_pack("{s:o}", "threadInfos", arr);
        break;
    case CF_RO_TM_METRICS:
        body = json_array();
        /* Ids in the TaskManager's order; values in the order asked. */
        for (size_t k = 0; k < (cl->list_only ? 1 : cl->get.n); k++)
            for (size_t i = 0; i < resp->n_metrics; i++) {
                const Cflink__MetricValue *m = resp->metrics[i];
                if (m->id == NULL)
                    continue;
                if (cl->list_only) {
                    json_array_append_new(body,
                                          json_pack("{s:s}", "id", m->id));
                } else if (strcmp(m->id, cl->get.names[k]) == 0) {
                    json_array_append_new(
                        body, json_pack("{s:s,s:s}", "id", m->id, "value",
                                        m->value ? m->value : ""));
                    break;
                }
            }
        break;
    }
    cf_rest_complete(cl->p, status, body);
    cf_ro_tm_call_free(cl);
}

/* Validate, find the TaskManager, send the request and defer. */
static json_t *
cf_ro_tm_start(cf_rest_req_t *req, cf_jm_t *jm, int *status,
               cf_ro_tm_what_t what)
{
    Cflink__TaskManagerInfoRequest rq = CFLINK__TASK_MANAGER_INFO_REQUEST__INIT;
    const char *id = req->nparams > 0 ? req->params[0] : "";
    const char *name = req->nparams > 1 ? req->params[1] : "";
    cf_rest_get_t g = {0};
    cf_ro_tm_call_t *cl;
    const char *get = cf_rest_query(req, "get");
    char *what_s;
    int rc;

    if (!cf_ro_tmid_ok(id) || B == NULL || B->find_tm(jm->rm, id) == NULL)
        return cf_ro_tm_not_found(status, id);
    if (what == CF_RO_TM_LOG_NAMED && !cf_proc_plain_name(name))
        return cf_rest_bad_path_param(status, "filename", name);
    if (what == CF_RO_TM_METRICS &&
        cf_rest_metrics_parse_get(get, &g) < 0)
        return cf_rest_metrics_bad_query(status, "get", get);
    if (what == CF_RO_TM_LOG || what == CF_RO_TM_STDOUT ||
        what == CF_RO_TM_LOG_NAMED) {
        json_t *busy = cf_ro_text_budget(jm, status);
        if (busy != NULL)
            return busy;
    }
    cl = CF_NEW(cf_ro_tm_call_t);
    cl->get = g; /* the call owns the names now */
    cl->what = what;
    snprintf(cl->tm_id, sizeof cl->tm_id, "%s", id);
    cl->timeout_ms = cf_ro_tm_timeout(jm);
    cl->list_only = what == CF_RO_TM_METRICS && g.n == 0;
    cl->file = what == CF_RO_TM_LOG || what == CF_RO_TM_STDOUT ||
               what == CF_RO_TM_LOG_NAMED;
    if (cl->file)
        cf_ro_tm_files_in_flight++;
    switch (what) {
    case CF_RO_TM_LOG:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__LOG_FILE;
        break;
    case CF_RO_TM_STDOUT:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__STDOUT;
        break;
    case CF_RO_TM_LOG_NAMED:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__LOG_FILE;
        snprintf(cl->name, sizeof cl->name, "%s", name);
        rq.name = cl->name;
        break;
    case CF_RO_TM_LOGS:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__LOG_LIST;
        break;
    case CF_RO_TM_THREADS:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__THREAD_DUMP;
        break;
    case CF_RO_TM_METRICS:
        rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__METRICS;
        rq.n_metric_names = g.n;
        rq.metric_names = g.names;
        break;
    }
    /* Files: the tail, at most what one RPC frame carries (the
     * TaskManager caps it at CF_TM_OPS_MAX_READ too). */
    rq.offset = -1;
    rq.length = CF_RO_TM_MAX_READ;
    what_s = cf_asprintf("TaskManager %s", cl->tm_id);
    cl->p = cf_rest_defer(req, cl->timeout_ms + 2000, what_s);
    cf_free(what_s);
    rc = B->tm_info(jm->rm, id, &rq, cl->timeout_ms, cf_ro_tm_reply, cl);
    if (rc < 0) {
        int st;
        json_t *b = rc == CF_ENOTFOUND
                        ? cf_ro_tm_not_found(&st, id)
                        : cf_rest_error(&st, 500,
                                        "Could not send the request to "
                                        "TaskManager %s: %s",
                                        cl->tm_id, cf_strerror(rc));
        cf_rest_complete(cl->p, st, b);
        cf_ro_tm_call_free(cl);
    }
    return NULL;
}

static json_t *
cf_ro_tm_log(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_LOG);
}

static json_t *
cf_ro_tm_stdout(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_STDOUT);
}

static json_t *
cf_ro_tm_logs(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_LOGS);
}

static json_t *
cf_ro_tm_log_named(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_LOG_NAMED);
}

static json_t *
cf_ro_tm_threads(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_THREADS);
}

static json_t *
cf_ro_tm_metrics(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    return cf_ro_tm_start(req, jm, status, CF_RO_TM_METRICS);
}

/* GET /taskmanagers/metrics: Flink's AggregatingTaskManagersMetricsHandler.
 * One METRICS request per selected TaskManager; the answer is built when
 * the last one is in (each ends within the RPC timeout). A TaskManager
 * that fails or does not answer is left out, as Flink leaves out a
 * TaskManager without a metric store. */
typedef struct cf_ro_agg_s {
    cf_rest_pending_t *p;
    int outstanding;
    int mask;
    cf_rest_get_t get;
    /* per requested name: the values received */
    double **vals;
    size_t *nvals;
    size_t ntms;
    /* without get: the ids seen */
    json_t *ids;
} cf_ro_agg_t;

static void
cf_ro_agg_finish(cf_ro_agg_t *ag)
{
    json_t *a = json_array();

    if (ag->get.n == 0) {
        const char *k;
        json_t *v;
        json_object_foreach(ag->ids, k, v)
            json_array_append_new(a, json_pack("{s:s}", "id", k));
    } else {
        for (size_t i = 0; i < ag->get.n; i++)
            if (ag->nvals[i] > 0)
                json_array_append_new(
                    a, cf_rest_metrics_aggregate(ag->get.names[i], ag->vals[i],
                                                 ag->nvals[i], ag->mask));
    }
    cf_rest_complete(ag->p, 200, a);
    for (size_t i = 0; i < ag->get.n; i++)
        cf_free(ag->vals[i]);
    cf_free(ag->vals);
    cf_free(ag->nvals);
    json_decref(ag->ids);
    cf_rest_get_free(&ag->get);
    cf_free(ag);
}

static void
cf_ro_agg_reply(int rc, const char *error,
                const Cflink__TaskManagerInfoResponse *resp, void *arg)
{
    cf_ro_agg_t *ag = arg;

    (void)error;
    for (size_t i = 0; rc == 0 && i < resp->n_metrics; i++) {
        const Cflink__MetricValue *m = resp->metrics[i];
        double x;
        if (m->id == NULL)
            continue;
        if (ag->get.n == 0) {
            json_object_set_new(ag->ids, m->id, json_true());
            continue;
        }
        for (size_t k = 0; k < ag->get.n; k++)
            if (strcmp(ag->get.names[k], m->id) == 0 &&
                cf_rest_metrics_number(m->value, &x) &&
                ag->nvals[k] < ag->ntms)
                ag->vals[k][ag->nvals[k]++] = x;
    }
    if (--ag->outstanding == 0)
        cf_ro_agg_finish(ag);
}

/* Whether TaskManager id is selected by the "taskmanagers" list. */
static int
cf_ro_tm_selected(const char *id, const cf_rest_get_t *sel)
{
    if (sel->n == 0)
        return 1;
    for (size_t i = 0; i < sel->n; i++)
        if (strcmp(sel->names[i], id) == 0)
            return 1;
    return 0;
}

static json_t *
cf_ro_tms_metrics(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    const char *get = cf_rest_query(req, "get");
    const char *agg = cf_rest_query(req, "agg");
    const char *tms_q = cf_rest_query(req, "taskmanagers");
    Cflink__TaskManagerInfoRequest rq = CFLINK__TASK_MANAGER_INFO_REQUEST__INIT;
    cf_rest_get_t sel;
    cf_ro_agg_t *ag;
    size_t ntms = 0;
    int mask = cf_rest_metrics_parse_agg(agg);

    if (mask < 0)
        return cf_rest_metrics_bad_query(status, "agg", agg);
    if (cf_rest_metrics_parse_get(tms_q, &sel) < 0)
        return cf_rest_metrics_bad_query(status, "taskmanagers", tms_q);
    ag = CF_NEW(cf_ro_agg_t);
    ag->mask = mask;
    if (cf_rest_metrics_parse_get(get, &ag->get) < 0) {
        cf_rest_get_free(&sel);
        cf_free(ag);
        return cf_rest_metrics_bad_query(status, "get", get);
    }
    for (cf_rm_tm_t *t = B != NULL ? B->tms(jm->rm) : NULL; t != NULL;
         t = t->next)
        ntms += cf_ro_tm_selected(t->resource_id, &sel);
    ag->ntms = ntms;
    ag->ids = json_object();
    if (ag->get.n > 0) {
        ag->vals = cf_calloc(ag->get.n, sizeof *ag->vals);
        ag->nvals = cf_calloc(ag->get.n, sizeof *ag->nvals);
        for (size_t i = 0; i < ag->get.n; i++)
            ag->vals[i] = cf_calloc(ntms + 1, sizeof **ag->vals);
    }
    rq.kind = CFLINK__TASK_MANAGER_INFO_REQUEST__KIND__METRICS;
    rq.n_metric_names = ag->get.n;
    rq.metric_names = ag->get.names;
    ag->p = cf_rest_defer(req, cf_ro_tm_timeout(jm) + 2000, "TaskManagers");
    /* outstanding starts at 1 so that no reply finishes early. */
    ag->outstanding = 1;
    for (cf_rm_tm_t *t = B != NULL ? B->tms(jm->rm) : NULL; t != NULL;
         t = t->next) {
        if (!cf_ro_tm_selected(t->resource_id, &sel))
            continue;
        ag->outstanding++;
        if (B->tm_info(jm->rm, t->resource_id, &rq, cf_ro_tm_timeout(jm),
                          cf_ro_agg_reply, ag) < 0)
            ag->outstanding--;
    }
    cf_rest_get_free(&sel);
    if (--ag->outstanding == 0)
        cf_ro_agg_finish(ag);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

typedef json_t *(*cf_ro_fn)(cf_rest_req_t *req, cf_jm_t *jm, int *status);

typedef struct cf_ro_entry_s {
    const char *method;
    const char *pattern;
    cf_ro_fn fn;
    cf_jm_t *jm;
} cf_ro_entry_t;

static json_t *
cf_ro_dispatch(cf_rest_req_t *req, void *arg, int *status)
{
    cf_ro_entry_t *en = arg;

    /* AbstractHandler: no file parts here. */
    if (req->upload_path != NULL) {
        unlink(req->upload_path);
        return cf_rest_error(status, 400, "File uploads not allowed.");
    }
    *status = 200;
    return en->fn(req, en->jm, status);
}

/* ------------------------------------------------------------------ */
/* Cluster: shutdown, data sets, client heartbeats                     */
/* ------------------------------------------------------------------ */

/* A DELETE /cluster is on its way (one timer, one log line). */
static int cf_ro_shutdown_scheduled;

static void
cf_ro_shutdown_fire(void *arg)
{
    cf_jm_t *jm = arg;

    if (!jm->shutting_down && jm->shutdown_fn != NULL)
        jm->shutdown_fn(jm->shutdown_arg);
}

/* DELETE /cluster: Flink's ShutdownHandler. The JobManager shuts down as
 * on SIGTERM (JobMasters stopped, their tasks cancelled); TaskManagers
 * keep running and look for a JobManager, as in a Flink standalone
 * cluster. The answer goes out first: the shutdown closes the REST
 * server, so it runs on the loop a little later. */
static json_t *
cf_ro_cluster_shutdown(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    (void)req;
    if (jm->shutdown_fn == NULL)
        return cf_rest_error(status, 503, "Shutdown is not available.");
    if (!jm->shutting_down && !cf_ro_shutdown_scheduled) {
        cf_ro_shutdown_scheduled = 1;
        cf_log_info("Shutting down the cluster as requested over REST "
                    "(DELETE /cluster).");
        cf_loop_timer(jm->loop, 100, 0, cf_ro_shutdown_fire, jm);
    }
    *status = 200;
    return json_object();
}

/* GET /datasets: Flink's cluster data sets (cached intermediate results
 * of batch jobs); cflink keeps none. */
static json_t *
cf_ro_datasets(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    (void)req;
    (void)jm;
    *status = 200;
    return json_pack("{s:[]}", "dataSets");
}

/* PATCH /jobs/:jobid/clientHeartbeat: Flink's JobClientHeartbeatHandler
 * (an attached client's liveness, client.heartbeat.*). cflink does not
 * cancel jobs whose client went away, so the heartbeat is checked and
 * accepted. */
static json_t *
cf_ro_client_heartbeat(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *body = NULL, *ts;
    json_error_t je;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    if (req->body_len > 0)
        body = json_loadb(req->body, req->body_len, 0, &je);
    ts = body != NULL ? json_object_get(body, "expiredTimestamp") : NULL;
    if (body == NULL || !json_is_object(body) ||
        (ts != NULL && !json_is_integer(ts) && !json_is_null(ts))) {
        json_decref(body);
        return cf_rest_error(status, 400,
                             "Request did not match expected format "
                             "JobClientHeartbeatRequestBody.");
    }
    json_decref(body);
    *status = 202;
    return json_object();
}

static cf_ro_entry_t cf_ro_routes[] = {
    {"DELETE", "/cluster", cf_ro_cluster_shutdown, NULL},
    {"GET", "/datasets", cf_ro_datasets, NULL},
    {"PATCH", "/jobs/:jobid/clientHeartbeat", cf_ro_client_heartbeat, NULL},
    {"GET", "/jobmanager/environment", cf_ro_environment, NULL},
    {"GET", "/jobmanager/log", cf_ro_log, NULL},
    {"GET", "/jobmanager/stdout", cf_ro_stdout, NULL},
    {"GET", "/jobmanager/logs", cf_ro_logs, NULL},
    {"GET", "/jobmanager/logs/:filename", cf_ro_log_named, NULL},
    {"GET", "/jobmanager/thread-dump", cf_ro_thread_dump, NULL},
    {"GET", "/jobs/:jobid/jobmanager/config", cf_ro_job_config, NULL},
    {"GET", "/jobs/:jobid/jobmanager/environment", cf_ro_job_environment,
     NULL},
    {"GET", "/jobs/:jobid/jobmanager/log-url", cf_ro_jm_log_url, NULL},
    {"GET", "/jobs/:jobid/taskmanagers/:taskmanagerid/log-url",
     cf_ro_tm_log_url, NULL},
    {"GET", "/taskmanagers/:taskmanagerid/log", cf_ro_tm_log, NULL},
    {"GET", "/taskmanagers/:taskmanagerid/stdout", cf_ro_tm_stdout, NULL},
    {"GET", "/taskmanagers/:taskmanagerid/logs", cf_ro_tm_logs, NULL},
    {"GET", "/taskmanagers/:taskmanagerid/logs/:filename", cf_ro_tm_log_named,
     NULL},
    {"GET", "/taskmanagers/:taskmanagerid/thread-dump", cf_ro_tm_threads,
     NULL},
    {"GET", "/taskmanagers/:taskmanagerid/metrics", cf_ro_tm_metrics, NULL},
    {"GET", "/taskmanagers/metrics", cf_ro_tms_metrics, NULL},
};

void
cf_rest_ops_register(cf_jm_t *jm)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_ro_routes); i++) {
        cf_ro_routes[i].jm = jm;
        cf_rest_route(jm->rest, cf_ro_routes[i].method,
                      cf_ro_routes[i].pattern, cf_ro_dispatch,
                      &cf_ro_routes[i]);
    }
    cf_rest_metrics_register(jm);
}
