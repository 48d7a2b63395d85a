/*
 * cli_ckpt.c: the checkpoint and savepoint actions of the cflink command,
 * with Flink's CliFrontend messages, over the JobManager's asynchronous
 * REST operations:
 *   savepoint <jobid> [dir]  POST /jobs/:jobid/savepoints, then polls
 *                            GET /jobs/:jobid/savepoints/:triggerid;
 *   savepoint -d <path>      POST /savepoint-disposal, then polls
 *                            GET /savepoint-disposal/:triggerid;
 *   stop [-p [dir]] [-d]     POST /jobs/:jobid/stop, then polls the
 *                            savepoint status;
 *   checkpoint [-full]       POST /jobs/:jobid/checkpoints, then polls
 *                            GET /jobs/:jobid/checkpoints/:triggerid;
 *   cancel -s [dir] <jobid>  POST /jobs/:jobid/savepoints with
 *                            "cancel-job": true (deprecated in Flink).
 * "-detached" only triggers and prints the trigger id. The wait is
 * bounded by client.timeout (default here 10 min, not Flink's 1 min: a
 * savepoint of a large state may take longer).
 *
 * Failures print Flink's banner: the action's FlinkException, then the
 * cause: the connection problem, the server's "errors", or the
 * operation's failure-cause.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int
cf_cli_fusage(FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cf_cli_fusage(FILE *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fprintf(err, "\n\nUse the help option (-h or --help) to get help on "
                 "the command.\n");
    fflush(err);
    return 1;
}

/* Flink's parseJobId: NULL -> "Missing JobId". */
static int
cf_cli_job_arg(FILE *err, const char *s, char out[33])
{
    if (s == NULL)
        return cf_cli_fusage(err, "Missing JobId");
    if (cf_cli_parse_job_id(s, out) < 0)
        return cf_cli_fusage(err,
                             "Cannot parse JobID from \"%s\". The expected "
                             "format is [0-9a-fA-F]{32}, e.g. "
                             "fd72014d4c864993a2e5a9287b4a9c5d.",
                             s);
    return 0;
}

void
cf_cli_failure_text(const json_t *cause, char **cls, char **msg)
{
    const char *c = json_string_value(json_object_get(cause, "class"));
    const char *t = json_string_value(json_object_get(cause, "stack-trace"));
    size_t n;

    if (c == NULL || *c == '\0')
        c = "java.lang.Exception";
    *cls = cf_strdup(c);
    if (t == NULL) {
        *msg = cf_strdup("");
        return;
    }
    n = strlen(c);
    if (strncmp(t, c, n) == 0 && t[n] == ':')
        t += n + (t[n + 1] == ' ' ? 2 : 1);
    n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' ||
                     t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    *msg = cf_strndup(t, n);
}

static cf_cli_rest_t *
cf_cli_ckpt_connect(const cf_config_t *cfg, const cf_cli_opts_t *o,
                    FILE *err)
{
    cf_error_t *e = NULL;
    char *url = NULL;
    cf_cli_rest_t *r;

    cf_cli_setup_log(cfg);
    if (cf_cli_rest_base_url(cfg, o->jobmanager, &url, &e) < 0) {
        cf_cli_fusage(err, "%s", cf_error_msg(e));
        cf_error_free(e);
        return NULL;
    }
    r = cf_cli_rest_new(url, cfg);
    cf_log_info("JobManager REST endpoint: %s", url);
    cf_free(url);
    return r;
}

static void
cf_cli_ckpt_nap(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    if (!cf_cli_interrupted)
        nanosleep(&ts, NULL);
}

/* The banner of a failed request (no response, or an error status). */
static void
cf_cli_ckpt_failed(FILE *err, const char *what, const cf_error_t *e,
                   const cf_cli_resp_t *resp)
{
    if (e) {
        cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what,
                       strncmp(cf_error_msg(e), "Could not connect", 17) == 0
                           ? CF_CLI_EXC_CONNECT
                           : CF_CLI_EXC_IO,
                       cf_error_msg(e));
    } else if (resp->status >= 300) {
        char *text = cf_cli_rest_error_text(resp);
        cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what, CF_CLI_EXC_REST, text);
        cf_free(text);
    } else {
        char *text = cf_asprintf("unexpected response (HTTP %ld): %.300s",
                                 resp->status, resp->raw ? resp->raw : "");
        cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what, CF_CLI_EXC_IO, text);
        cf_free(text);
    }
}

/* One asynchronous operation: POST trigger_path with body, then, unless
 * detached, poll "<status_prefix>/<request-id>" until COMPLETED. On
 * success *operation gets the "operation" object (json_decref it; NULL
 * when detached) and trigger the request id. Failures print the banner
 * with what as the FlinkException; failure_key names the operation's
 * failure field ("failure-cause" or "failureCause"). 0 or -1. */
static int
cf_cli_async_op(cf_cli_rest_t *r, const cf_config_t *cfg,
                const char *trigger_path, json_t *body,
                const char *status_prefix, int detached, const char *what,
                const char *failure_key, FILE *err, char trigger[33],
                json_t **operation)
{
    int64_t timeout_ms =
        cf_config_get_duration_ms(cfg, "client.timeout", 600000);
    int64_t start = cf_now_ms(), delay = 10;
    cf_cli_resp_t resp = {0};
    cf_error_t *e = NULL;
    const char *id;
    char *path = NULL;
    int rc = -1;

    *operation = NULL;
    trigger[0] = '\0';
    if (cf_cli_rest_call(r, "POST", trigger_path, body, &resp, &e) < 0) {
        cf_cli_ckpt_failed(err, what, e, NULL);
        goto out;
    }
    id = json_string_value(json_object_get(resp.body, "request-id"));
    if (resp.status < 200 || resp.status >= 300 || id == NULL ||
        cf_cli_parse_job_id(id, trigger) < 0) {
        cf_cli_ckpt_failed(err, what, NULL, &resp);
        goto out;
    }
    cf_cli_resp_deinit(&resp);
    if (detached) {
        rc = 0;
        goto out;
    }
    path = cf_asprintf("%s/%s", status_prefix, trigger);
    for (;;) {
        const json_t *st, *op, *cause;
        if (cf_cli_interrupted) {
            cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what,
                           "java.lang.InterruptedException",
                           "interrupted while waiting for the operation");
            goto out;
        }
        if (cf_cli_rest_call(r, "GET", path, NULL, &resp, &e) < 0) {
            cf_cli_ckpt_failed(err, what, e, NULL);
            goto out;
        }
        st = json_object_get(json_object_get(resp.body, "status"), "id");
        if (resp.status != 200 || !json_is_string(st)) {
            cf_cli_ckpt_failed(err, what, NULL, &resp);
            goto out;
        }
        if (strcmp(json_string_value(st), "COMPLETED") == 0) {
            op = json_object_get(resp.body, "operation");
            cause = json_object_get(op, failure_key);
            if (json_is_object(cause)) {
                char *cls, *msg;
                cf_cli_failure_text(cause, &cls, &msg);
                cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what, cls, msg);
                cf_free(cls);
                cf_free(msg);
                goto out;
            }
            *operation = json_is_object(op) ? json_incref((json_t *)op)
                                            : json_object();
            rc = 0;
            goto out;
        }
        cf_cli_resp_deinit(&resp);
        if (cf_now_ms() - start > timeout_ms) {
            char *m = cf_asprintf("no result after %lld ms (client.timeout)",
                                  (long long)timeout_ms);
            cf_cli_fbanner(err, CF_CLI_EXC_FLINK, what,
                           "java.util.concurrent.TimeoutException", m);
            cf_free(m);
            goto out;
        }
        cf_cli_ckpt_nap(delay);
        if (delay < 500)
            delay *= 2;
    }
out:
    cf_cli_resp_deinit(&resp);
    cf_error_free(e);
    cf_free(path);
    return rc;
}

static const char *
cf_cli_format(const cf_cli_opts_t *o)
{
    return o->format_native ? "NATIVE" : "CANONICAL";
}

/* ------------------------------------------------------------------ */
/* savepoint                                                           */
/* ------------------------------------------------------------------ */

static int
cf_cli_dispose(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out, FILE *err)
{
    cf_cli_rest_t *r = cf_cli_ckpt_connect(cfg, o, err);
    json_t *body, *op = NULL;
    char trig[33], *what;
    int rc;

    if (r == NULL)
        return 1;
    fprintf(out, "Disposing savepoint '%s'.\n", o->dispose);
    fprintf(out, "Waiting for response...\n");
    fflush(out);
    body = json_pack("{ss}", "savepoint-path", o->dispose);
    what = cf_asprintf("Failed to dispose the savepoint '%s'.", o->dispose);
    rc = cf_cli_async_op(r, cfg, "/savepoint-disposal", body,
                         "/savepoint-disposal", 0, what, "failure-cause",
                         err, trig, &op);
    if (rc == 0)
        fprintf(out, "Savepoint '%s' disposed.\n", o->dispose);
    fflush(out);
    json_decref(op);
    json_decref(body);
    cf_free(what);
    cf_cli_rest_destroy(r);
    return rc == 0 ? 0 : 1;
}

int
cf_cli_savepoint(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out, FILE *err)
{
    cf_cli_rest_t *r;
    json_t *body, *op = NULL;
    char job[33], trig[33], *what, *path;
    const char *dir;
    int rc;

    if (o->dispose)
        return cf_cli_dispose(cfg, o, out, err);
    if (o->argc < 1)
        return cf_cli_fusage(err, "Missing JobID. Specify a Job ID to "
                                  "trigger a savepoint.");
    if (cf_cli_job_arg(err, o->argv[0], job))
        return 1;
    dir = o->argc >= 2 ? o->argv[1] : NULL;
    if (o->argc >= 3) {
        fprintf(out, "Provided more arguments than required. Ignoring not "
                     "needed arguments.\n");
    }
    if ((r = cf_cli_ckpt_connect(cfg, o, err)) == NULL)
        return 1;
    body = json_pack("{sbss}", "cancel-job", 0, "formatType",
                     cf_cli_format(o));
    if (dir)
        json_object_set_new(body, "target-directory", json_string(dir));
    path = cf_asprintf("/jobs/%s/savepoints", job);
    if (o->detached_op) {
        fprintf(out, "Triggering savepoint in detached mode for job %s.\n",
                job);
        fflush(out);
        what = cf_asprintf("Triggering a detached savepoint for the job %s "
                           "failed.",
                           job);
        rc = cf_cli_async_op(r, cfg, path, body, path, 1, what,
                             "failure-cause", err, trig, &op);
        if (rc == 0)
            fprintf(out, "Successfully trigger manual savepoint, "
                         "triggerId: %s\n",
                    trig);
    } else {
        fprintf(out, "Triggering savepoint for job %s.\n", job);
        fprintf(out, "Waiting for response...\n");
        fflush(out);
        what = cf_asprintf("Failed to trigger a savepoint for the job %s.",
                           job);
        rc = cf_cli_async_op(r, cfg, path, body, path, 0, what,
                             "failure-cause", err, trig, &op);
        if (rc == 0) {
            const char *loc =
                json_string_value(json_object_get(op, "location"));
            fprintf(out, "Savepoint completed. Path: %s\n", loc ? loc : "");
            fprintf(out, "You can resume your program from this savepoint "
                         "with the run command.\n");
        }
    }
    fflush(out);
    json_decref(op);
    json_decref(body);
    cf_free(what);
    cf_free(path);
    cf_cli_rest_destroy(r);
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* stop                                                                */
/* ------------------------------------------------------------------ */

int
cf_cli_stop(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out, FILE *err)
{
    cf_cli_rest_t *r;
    json_t *body, *op = NULL;
    char job[33], trig[33], *what, *path, *status;
    const char *dir;
    int rc;

    /* Flink: the job id is the first argument, or the value of -p when
     * there is none (-p takes an optional value); the directory counts
     * only beside a job id argument. */
    if (cf_cli_job_arg(err, o->argc > 0 ? o->argv[0] : o->savepoint_dir,
                       job))
        return 1;
    dir = o->savepoint_flag && o->argc > 0 ? o->savepoint_dir : NULL;
    fprintf(out, "%s job \"%s\" with a %s savepoint.\n",
            o->drain ? "Draining" : "Suspending", job, cf_cli_format(o));
    fflush(out);
    if ((r = cf_cli_ckpt_connect(cfg, o, err)) == NULL)
        return 1;
    body = json_pack("{sbss}", "drain", o->drain, "formatType",
                     cf_cli_format(o));
    if (dir)
        json_object_set_new(body, "targetDirectory", json_string(dir));
    path = cf_asprintf("/jobs/%s/stop", job);
    status = cf_asprintf("/jobs/%s/savepoints", job);
    if (o->detached_op) {
        fprintf(out, "Triggering stop-with-savepoint in detached mode for "
                     "job %s.\n",
                job);
        fflush(out);
        what = cf_asprintf("Could not stop with a detached savepoint job "
                           "\"%s\".",
                           job);
        rc = cf_cli_async_op(r, cfg, path, body, status, 1, what,
                             "failure-cause", err, trig, &op);
        if (rc == 0)
            fprintf(out, "Successfully trigger stop-with-savepoint in "
                         "detached mode, triggerId: %s\n",
                    trig);
    } else {
        fprintf(out, "Triggering stop-with-savepoint for job %s.\n", job);
        fprintf(out, "Waiting for response...\n");
        fflush(out);
        what = cf_asprintf("Could not stop with a savepoint job \"%s\".",
                           job);
        rc = cf_cli_async_op(r, cfg, path, body, status, 0, what,
                             "failure-cause", err, trig, &op);
        if (rc == 0) {
            const char *loc =
                json_string_value(json_object_get(op, "location"));
            fprintf(out, "Savepoint completed. Path: %s\n", loc ? loc : "");
        }
    }
    fflush(out);
    json_decref(op);
    json_decref(body);
    cf_free(what);
    cf_free(path);
    cf_free(status);
    cf_cli_rest_destroy(r);
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* checkpoint                                                          */
/* ------------------------------------------------------------------ */

int
cf_cli_checkpoint(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out, FILE *err)
{
    cf_cli_rest_t *r;
    json_t *body, *op = NULL;
    char job[33], trig[33], *what, *path;
    int rc;

    if (o->argc < 1)
        return cf_cli_fusage(err, "Missing JobID. Specify a Job ID to "
                                  "manipulate a checkpoint.");
    if (cf_cli_job_arg(err, o->argv[0], job))
        return 1;
    if ((r = cf_cli_ckpt_connect(cfg, o, err)) == NULL)
        return 1;
    fprintf(out, "Triggering checkpoint for job %s.\n", job);
    fprintf(out, "Waiting for response...\n");
    fflush(out);
    body = json_pack("{ss}", "checkpointType",
                     o->full ? "FULL" : "CONFIGURED");
    path = cf_asprintf("/jobs/%s/checkpoints", job);
    what = cf_asprintf("Failed to trigger a checkpoint for the job %s.", job);
    rc = cf_cli_async_op(r, cfg, path, body, path, 0, what, "failureCause",
                         err, trig, &op);
    if (rc == 0) {
        fprintf(out, "Checkpoint%s %lld for job %s completed.\n",
                o->full ? "(FULL)" : "",
                (long long)json_integer_value(
                    json_object_get(op, "checkpointId")),
                job);
        fprintf(out, "You can resume your program from this checkpoint "
                     "with the run command.\n");
    }
    fflush(out);
    json_decref(op);
    json_decref(body);
    cf_free(what);
    cf_free(path);
    cf_cli_rest_destroy(r);
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* cancel -s                                                           */
/* ------------------------------------------------------------------ */

int
cf_cli_cancel_with_savepoint(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out,
                             FILE *err)
{
    cf_cli_rest_t *r;
    json_t *body, *op = NULL;
    char job[33], trig[33], *what, *path;
    const char *dir;
    int rc;

    fprintf(out, "DEPRECATION WARNING: Cancelling a job with savepoint is "
                 "deprecated. Use \"stop\" instead.\n");
    fflush(out);
    if (cf_cli_job_arg(err, o->argc > 0 ? o->argv[0] : o->savepoint_dir,
                       job))
        return 1;
    dir = o->argc > 0 ? o->savepoint_dir : NULL;
    if (dir)
        fprintf(out, "Cancelling job %s with %s savepoint to %s.\n", job,
                cf_cli_format(o), dir);
    else
        fprintf(out, "Cancelling job %s with %s savepoint to default "
                     "savepoint directory.\n",
                job, cf_cli_format(o));
    fflush(out);
    if ((r = cf_cli_ckpt_connect(cfg, o, err)) == NULL)
        return 1;
    body = json_pack("{sbss}", "cancel-job", 1, "formatType",
                     cf_cli_format(o));
    if (dir)
        json_object_set_new(body, "target-directory", json_string(dir));
    path = cf_asprintf("/jobs/%s/savepoints", job);
    what = cf_asprintf("Could not cancel job %s.", job);
    rc = cf_cli_async_op(r, cfg, path, body, path, 0, what, "failure-cause",
                         err, trig, &op);
    if (rc == 0) {
        const char *loc = json_string_value(json_object_get(op, "location"));
        fprintf(out, "Cancelled job %s. Savepoint stored in %s.\n", job,
                loc ? loc : "");
    }
    fflush(out);
    json_decref(op);
    json_decref(body);
    cf_free(what);
    cf_free(path);
    cf_cli_rest_destroy(r);
    return rc == 0 ? 0 : 1;
}
