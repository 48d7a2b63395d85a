/*
 * cli_remote.c: the actions that talk to a running cluster through the
 * JobManager's REST API, with Flink's printed messages:
 *   run     POST /jars/upload, POST /jars/:jarid/run, then (attached)
 *           polls GET /jobs/:jobid/execution-result until COMPLETED;
 *   list    GET /jobs/overview;
 *   cancel  PATCH /jobs/:jobid?mode=cancel.
 *
 * Failures print Flink's error banner (the action's FlinkException and
 * its cause: the connection problem, or the server's "errors") and exit
 * with 1. The uploaded plugin is kept on the JobManager (GET /jars lists
 * it; DELETE /jars/:jarid removes it), as a web upload is.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

/* Connect to the JobManager named by -m or the configuration. NULL after
 * printing an error. */
static cf_cli_rest_t *
cf_cli_connect(const cf_config_t *cfg, const cf_cli_opts_t *o)
{
    cf_error_t *err = NULL;
    char *url = NULL;
    cf_cli_rest_t *r;

    if (cf_cli_rest_base_url(cfg, o->jobmanager, &url, &err) < 0) {
        cf_cli_usage_error("%s", cf_error_msg(err));
        cf_error_free(err);
        return NULL;
    }
    r = cf_cli_rest_new(url, cfg);
    cf_log_info("JobManager REST endpoint: %s", url);
    cf_free(url);
    return r;
}

/* The banner for a failed request: err set (no response) or resp (an
 * error status or an unexpected body). */
static void
cf_cli_request_failed(const char *exception, const char *what,
                      const cf_error_t *err, const cf_cli_resp_t *resp)
{
    if (err) {
        cf_cli_banner(exception, what,
                      err->code == CF_EIO &&
                              strncmp(cf_error_msg(err), "Could not connect",
                                      17) == 0
                          ? CF_CLI_EXC_CONNECT
                          : CF_CLI_EXC_IO,
                      cf_error_msg(err));
    } else if (resp->status >= 300) {
        char *text = cf_cli_rest_error_text(resp);
        cf_cli_banner(exception, what, CF_CLI_EXC_REST, text);
        cf_free(text);
    } else {
        char *text = cf_asprintf("unexpected response (HTTP %ld): %.300s",
                                 resp->status, resp->raw ? resp->raw : "");
        cf_cli_banner(exception, what, CF_CLI_EXC_IO, text);
        cf_free(text);
    }
}

/* Sleep ms, ending early on an interrupt. */
static void
cf_cli_nap(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    if (!cf_cli_interrupted)
        nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* run                                                                 */
/* ------------------------------------------------------------------ */

int
cf_cli_report_result(FILE *out, FILE *err, const char *job_id,
                     const json_t *result)
{
    const json_t *jer = json_object_get(result, "job-execution-result");
    const char *app =
        json_string_value(json_object_get(jer, "application-status"));
    const json_t *cause = json_object_get(jer, "failure-cause");

    if (app && strcmp(app, "SUCCEEDED") == 0 && !json_is_object(cause)) {
        json_int_t ms =
            json_integer_value(json_object_get(jer, "net-runtime"));
        fprintf(out,
                "Program execution finished\n"
                "Job with JobID %s has finished.\n"
                "Job Runtime: %lld ms\n",
                job_id, (long long)ms);
        fflush(out);
        return 0;
    }
    fflush(out);
    if (app && strcmp(app, "CANCELED") == 0) {
        cf_cli_fbanner(err, CF_CLI_EXC_CANCELLATION, "Job was cancelled.",
                       NULL, NULL);
        return 1;
    }
    /* FAILED or UNKNOWN: the root cause, as Flink's SerializedThrowable
     * shows it: the stack trace, which starts with "class: message"
     * (the class is added when the trace holds only the message). */
    const char *trace =
        json_string_value(json_object_get(cause, "stack-trace"));
    const char *cls = json_string_value(json_object_get(cause, "class"));
    char *text;
    if (trace && *trace) {
        size_t n = strlen(trace);
        while (n > 0 && (trace[n - 1] == '\n' || trace[n - 1] == ' ' ||
                         trace[n - 1] == '\r' || trace[n - 1] == '\t'))
            n--;
        if (cls && *cls && strncmp(trace, cls, strlen(cls)) != 0)
            text = cf_asprintf("%s: %.*s", cls, (int)n, trace);
        else
            text = cf_strndup(trace, n);
    } else if (cls && *cls) {
        text = cf_strdup(cls);
    } else {
        text = cf_asprintf("the job ended with application status %s",
                           app ? app : "(none)");
    }
    char *m = cf_asprintf("Job execution failed.\nCaused by: %s", text);
    cf_cli_fbanner(err, CF_CLI_EXC_EXECUTION, m, NULL, NULL);
    cf_free(m);
    cf_free(text);
    return 1;
}

/* Upload the plugin; the jar id (basename of "filename") or NULL. */
static char *
cf_cli_upload(cf_cli_rest_t *r, const char *plugin)
{
    cf_cli_resp_t resp = {0};
    cf_error_t *err = NULL;
    char *what = cf_asprintf("Could not upload the plugin %s.", plugin);
    char *id = NULL;

    if (cf_cli_rest_upload(r, "/jars/upload", plugin, &resp, &err) < 0) {
        cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, err, NULL);
        goto out;
    }
    const char *fn =
        json_string_value(json_object_get(resp.body, "filename"));
    if (resp.status != 200 || !fn || !*fn) {
        cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, NULL, &resp);
        goto out;
    }
    const char *slash = strrchr(fn, '/');
    id = cf_strdup(slash ? slash + 1 : fn);
    cf_log_info("Uploaded %s as %s", plugin, id);
out:
    cf_cli_resp_deinit(&resp);
    cf_error_free(err);
    cf_free(what);
    return id;
}

/* Run the uploaded plugin; writes the job id. 0 or -1 (printed). */
static int
cf_cli_submit(cf_cli_rest_t *r, const cf_cli_opts_t *o, const char *jar_id,
              char job_id[33])
{
    cf_cli_resp_t resp = {0};
    cf_error_t *err = NULL;
    json_t *body = json_object();
    json_t *args = json_array();
    char *path = NULL;
    char *what = cf_asprintf("Could not run the job of the plugin %s.",
                             o->plugin);
    int rc = -1;

    for (int i = 1; i < o->argc; i++)
        json_array_append_new(args, json_string(o->argv[i]));
    json_object_set_new(body, "programArgsList", args);
    if (o->parallelism > 0)
        json_object_set_new(body, "parallelism",
                            json_integer(o->parallelism));
    if (o->from_savepoint)
        json_object_set_new(body, "savepointPath",
                            json_string(o->from_savepoint));
    if (o->allow_non_restored)
        json_object_set_new(body, "allowNonRestoredState", json_true());
    if (o->claim_mode) {
        char mode[16];
        size_t k = 0;
        for (; o->claim_mode[k] && k + 1 < sizeof mode; k++)
            mode[k] = (char)toupper((unsigned char)o->claim_mode[k]);
        mode[k] = '\0';
        json_object_set_new(body, "claimMode", json_string(mode));
    }
    json_object_set(body, "flinkConfiguration", o->dynamic);

    path = cf_asprintf("/jars/%s/run", jar_id);
    if (cf_cli_rest_call(r, "POST", path, body, &resp, &err) < 0) {
        cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, err, NULL);
        goto out;
    }
    const char *jid = json_string_value(json_object_get(resp.body, "jobid"));
    if (resp.status != 200 || !jid || cf_cli_parse_job_id(jid, job_id) < 0) {
        cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, NULL, &resp);
        goto out;
    }
    rc = 0;
out:
    json_decref(body);
    cf_cli_resp_deinit(&resp);
    cf_error_free(err);
    cf_free(path);
    cf_free(what);
    return rc;
}

/* Attached mode: poll the execution result until the job ends. */
static int
cf_cli_wait(cf_cli_rest_t *r, const cf_config_t *cfg, const char *job_id)
{
    char *path = cf_asprintf("/jobs/%s/execution-result", job_id);
    char *what = cf_asprintf("Could not retrieve the execution result of "
                             "job %s.",
                             job_id);
    int max_attempts = cf_config_get_int(cfg, "rest.retry.max-attempts", 20);
    int64_t retry_ms =
        cf_config_get_duration_ms(cfg, "rest.retry.delay", 3000);
    int64_t delay = 10;
    int failures = 0;
    int rc = 1;

    while (!cf_cli_interrupted) {
        cf_cli_resp_t resp = {0};
        cf_error_t *err = NULL;

        if (cf_cli_rest_call(r, "GET", path, NULL, &resp, &err) < 0) {
            /* The JobManager may be restarting: retry as Flink's
             * client does for connection problems. */
            if (++failures > max_attempts) {
                cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, err, NULL);
                cf_error_free(err);
                break;
            }
            cf_log_warn("%s (attempt %d of %d, retrying in %lld ms)",
                        cf_error_msg(err), failures, max_attempts,
                        (long long)retry_ms);
            cf_error_free(err);
            cf_cli_nap(retry_ms);
            continue;
        }
        failures = 0;
        const char *st = json_string_value(
            json_object_get(json_object_get(resp.body, "status"), "id"));
        if (resp.status != 200 || !st) {
            cf_cli_request_failed(CF_CLI_EXC_PROGRAM, what, NULL, &resp);
            cf_cli_resp_deinit(&resp);
            break;
        }
        if (strcmp(st, "COMPLETED") == 0) {
            rc = cf_cli_report_result(stdout, stderr, job_id, resp.body);
            cf_cli_resp_deinit(&resp);
            break;
        }
        cf_cli_resp_deinit(&resp);
        cf_cli_nap(delay);
        if (delay < 500)
            delay *= 2;
    }
    cf_free(path);
    cf_free(what);
    return rc;
}

static void
cf_cli_cancel_request(cf_cli_rest_t *r, const char *job_id)
{
    cf_cli_resp_t resp = {0};
    cf_error_t *err = NULL;
    char *path = cf_asprintf("/jobs/%s?mode=cancel", job_id);

    if (cf_cli_rest_call(r, "PATCH", path, NULL, &resp, &err) < 0)
        fprintf(stderr, "cflink: could not cancel job %s: %s\n", job_id,
                cf_error_msg(err));
    else if (resp.status >= 300) {
        char *text = cf_cli_rest_error_text(&resp);
        fprintf(stderr, "cflink: could not cancel job %s: %s\n", job_id,
                text);
        cf_free(text);
    }
    cf_cli_resp_deinit(&resp);
    cf_error_free(err);
    cf_free(path);
}

int
cf_cli_run_remote(cf_config_t *cfg, cf_cli_opts_t *o)
{
    struct stat st;
    cf_cli_rest_t *r = NULL;
    char *jar_id = NULL;
    char job_id[33];
    int rc = 1;

    if (stat(o->plugin, &st) < 0) {
        fprintf(stderr, "cflink: %s: %s\n", o->plugin, strerror(errno));
        return 1;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "cflink: %s: not a regular file\n", o->plugin);
        return 1;
    }
    cf_cli_setup_log(cfg);
    cf_config_log(cfg);
    r = cf_cli_connect(cfg, o);
    if (!r)
        return 1;
    if (!o->detached)
        cf_cli_install_signals(0);
    jar_id = cf_cli_upload(r, o->plugin);
    if (!jar_id)
        goto out;
    if (cf_cli_submit(r, o, jar_id, job_id) < 0)
        goto out;
    printf("Job has been submitted with JobID %s\n", job_id);
    fflush(stdout);
    if (o->detached) {
        rc = 0;
        goto out;
    }
    rc = cf_cli_wait(r, cfg, job_id);
    if (cf_cli_interrupted) {
        /* Flink's client leaves the job running when interrupted, unless
         * -sae (execution.shutdown-on-attached-exit) asks to cancel it. */
        fflush(stdout);
        if (o->shutdown_on_exit) {
            fprintf(stderr, "\nInterrupted: cancelling job %s "
                            "(-sae, --shutdownOnAttachedExit).\n",
                    job_id);
            cf_cli_cancel_request(r, job_id);
        } else {
            fprintf(stderr,
                    "\nInterrupted: job %s keeps running on the cluster; "
                    "cancel it with \"cflink cancel %s\".\n",
                    job_id, job_id);
        }
        rc = 130;
    }
out:
    fflush(stdout);
    cf_free(jar_id);
    cf_cli_rest_destroy(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* list                                                                */
/* ------------------------------------------------------------------ */

typedef struct cf_cli_job_row_s {
    const char *jid;
    const char *name;
    const char *state;
    int64_t start;
    size_t index;
} cf_cli_job_row_t;

/* Flink's order: grouped by state name (case-insensitive), then a stable
 * sort by start time. */
static int
cf_cli_row_cmp(const void *pa, const void *pb)
{
    const cf_cli_job_row_t *a = pa, *b = pb;
    int c;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    c = strcasecmp(a->state, b->state);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void
cf_cli_print_rows(FILE *f, cf_cli_job_row_t *rows, size_t n)
{
    qsort(rows, n, sizeof(*rows), cf_cli_row_cmp);
    for (size_t i = 0; i < n; i++) {
        time_t t = (time_t)(rows[i].start / 1000);
        struct tm tm;
        char when[32];
        localtime_r(&t, &tm);
        strftime(when, sizeof(when), "%d.%m.%Y %H:%M:%S", &tm);
        fprintf(f, "%s : %s : %s (%s)\n", when, rows[i].jid, rows[i].name,
                rows[i].state);
    }
}

int
cf_cli_print_job_list(FILE *f, const json_t *overview, int running,
                      int scheduled, int all)
{
    const json_t *jobs = json_object_get(overview, "jobs");
    cf_cli_job_row_t *rows[3];
    size_t n[3] = {0, 0, 0}; /* running, scheduled, terminated */
    size_t i;
    const json_t *j;

    if (!json_is_array(jobs))
        return CF_EPROTO;
    for (int k = 0; k < 3; k++)
        rows[k] = cf_calloc(json_array_size(jobs) + 1, sizeof(**rows));
    json_array_foreach(jobs, i, j)
    {
        cf_cli_job_row_t row;
        int k;
        row.jid = json_string_value(json_object_get(j, "jid"));
        row.name = json_string_value(json_object_get(j, "name"));
        row.state = json_string_value(json_object_get(j, "state"));
        row.start = json_integer_value(json_object_get(j, "start-time"));
        row.index = i;
        if (!row.jid || !row.state)
            continue;
        if (!row.name)
            row.name = "";
        if (strcmp(row.state, "CREATED") == 0 ||
            strcmp(row.state, "INITIALIZING") == 0)
            k = 1;
        else if (strcmp(row.state, "FINISHED") == 0 ||
                 strcmp(row.state, "CANCELED") == 0 ||
                 strcmp(row.state, "FAILED") == 0)
            k = 2; /* globally terminal */
        else
            k = 0;
        rows[k][n[k]++] = row;
    }
    if (running || all) {
        if (n[0] == 0) {
            fprintf(f, "No running jobs.\n");
        } else {
            fprintf(f, "------------------ Running/Restarting Jobs "
                       "-------------------\n");
            cf_cli_print_rows(f, rows[0], n[0]);
            fprintf(f, CF_CLI_LINE62 "\n");
        }
    }
    if (scheduled || all) {
        if (n[1] == 0) {
            fprintf(f, "No scheduled jobs.\n");
        } else {
            fprintf(f, "----------------------- Scheduled Jobs "
                       "-----------------------\n");
            cf_cli_print_rows(f, rows[1], n[1]);
            fprintf(f, CF_CLI_LINE62 "\n");
        }
    }
    if (all && n[2] > 0) {
        fprintf(f, "---------------------- Terminated Jobs "
                   "-----------------------\n");
        cf_cli_print_rows(f, rows[2], n[2]);
        fprintf(f, CF_CLI_LINE62 "\n");
    }
    for (int k = 0; k < 3; k++)
        cf_free(rows[k]);
    return 0;
}

int
cf_cli_list(cf_config_t *cfg, cf_cli_opts_t *o)
{
    const char *what = "Failed to retrieve job list.";
    int running = o->list_running, scheduled = o->list_scheduled;
    cf_cli_resp_t resp = {0};
    cf_error_t *err = NULL;
    cf_cli_rest_t *r;
    int rc = 1;

    if (!running && !scheduled && !o->list_all)
        running = scheduled = 1;
    cf_cli_setup_log(cfg);
    r = cf_cli_connect(cfg, o);
    if (!r)
        return 1;
    printf("Waiting for response...\n");
    fflush(stdout);
    if (cf_cli_rest_call(r, "GET", "/jobs/overview", NULL, &resp, &err) < 0)
        cf_cli_request_failed(CF_CLI_EXC_FLINK, what, err, NULL);
    else if (resp.status != 200 ||
             cf_cli_print_job_list(stdout, resp.body, running, scheduled,
                                   o->list_all) < 0)
        cf_cli_request_failed(CF_CLI_EXC_FLINK, what, NULL, &resp);
    else
        rc = 0;
    fflush(stdout);
    cf_cli_resp_deinit(&resp);
    cf_error_free(err);
    cf_cli_rest_destroy(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* cancel                                                              */
/* ------------------------------------------------------------------ */

int
cf_cli_cancel(cf_config_t *cfg, cf_cli_opts_t *o)
{
    cf_cli_resp_t resp = {0};
    cf_error_t *err = NULL;
    cf_cli_rest_t *r;
    char job_id[33];
    char *what, *path;
    int rc = 1;

    if (o->argc < 1)
        return cf_cli_usage_error(
            "Missing JobID. Specify a JobID to cancel a job.");
    if (cf_cli_parse_job_id(o->argv[0], job_id) < 0)
        return cf_cli_usage_error("Cannot parse JobID from \"%s\".",
                                  o->argv[0]);
    cf_cli_setup_log(cfg);
    r = cf_cli_connect(cfg, o);
    if (!r)
        return 1;
    printf("Cancelling job %s.\n", job_id);
    fflush(stdout);
    what = cf_asprintf("Could not cancel job %s.", job_id);
    path = cf_asprintf("/jobs/%s?mode=cancel", job_id);
    if (cf_cli_rest_call(r, "PATCH", path, NULL, &resp, &err) < 0) {
        cf_cli_request_failed(CF_CLI_EXC_FLINK, what, err, NULL);
    } else if (resp.status < 200 || resp.status >= 300) {
        cf_cli_request_failed(CF_CLI_EXC_FLINK, what, NULL, &resp);
    } else {
        printf("Cancelled job %s.\n", job_id);
        rc = 0;
    }
    fflush(stdout);
    cf_cli_resp_deinit(&resp);
    cf_error_free(err);
    cf_free(what);
    cf_free(path);
    cf_cli_rest_destroy(r);
    return rc;
}
