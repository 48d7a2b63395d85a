/*
 * rest_checkpoints.c: the REST endpoints of checkpoints and savepoints,
 * with Flink's paths, JSON and messages (FLINK_INTERFACES.md 1.0, 1.3,
 * 1.5; rest_v1_dispatcher.yml):
 *
 *   POST /jobs/:jobid/savepoints          SavepointTriggerRequestBody
 *   GET  /jobs/:jobid/savepoints/:trigger savepoint and stop status
 *   POST /jobs/:jobid/stop                StopWithSavepointRequestBody
 *   POST /jobs/:jobid/checkpoints         CheckpointTriggerRequestBody
 *   GET  /jobs/:jobid/checkpoints/:trigger
 *   POST /savepoint-disposal              SavepointDisposalRequest
 *   GET  /savepoint-disposal/:trigger
 *   GET  /jobs/:jobid/checkpoints         CheckpointingStatistics
 *   GET  /jobs/:jobid/checkpoints/config  CheckpointConfigInfo
 *   GET  /jobs/:jobid/checkpoints/details/:checkpointid
 *   GET  /jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid
 *
 * It owns the asynchronous operations (Flink's CompletedOperationCache):
 * one record per trigger id, kept while in progress and for
 * rest.async.store-duration after it completed. Savepoints, stops and
 * checkpoints are started with cf_ckpt_coord_trigger (the record is the
 * callback's argument); a disposal runs cf_ckpt_dispose_savepoint on the
 * loop's worker pool. A record in progress is freed only once the
 * callback ran or the coordinator that holds it is gone with its job,
 * so a callback never sees freed memory.
 *
 * Choices where cflink differs from Flink or Flink leaves room:
 *  - A trigger for an unknown job answers 404 "Job <id> not found" at
 *    once (Flink accepts it and fails the operation); a globally terminal
 *    job is accepted and the operation fails with Flink's
 *    FlinkJobNotFoundException "Could not find Flink job (<id>)".
 *  - "location" is the savepoint directory as a plain path (Flink adds a
 *    "file:" scheme); savepointPath, -s and disposal accept both.
 *  - failure-cause.serialized-throwable is the base64 of the stack trace
 *    text (no Java serialization).
 *  - The statistics are served when checkpointing is enabled or any
 *    checkpoint or savepoint was taken; else 404 with Flink's message.
 *
 * Threads: loop (the disposal's file work on a worker thread).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ckpt.h"
#include "dispatcher_int.h"
#include "rest_checkpoints.h"

#define CF_RC_EXC_CHECKPOINT "org.apache.flink.runtime.checkpoint.CheckpointException"
#define CF_RC_EXC_NO_JOB "org.apache.flink.runtime.messages.FlinkJobNotFoundException"
#define CF_RC_EXC_IO "java.io.IOException"
#define CF_RC_EXC_NOT_FOUND "java.io.FileNotFoundException"
#define CF_RC_SAVEPOINT_DIR_KEY "execution.checkpointing.savepoint-dir"

/* ------------------------------------------------------------------ */
/* Asynchronous operations                                             */
/* ------------------------------------------------------------------ */

typedef enum cf_rc_kind_e {
    CF_RC_SAVEPOINT = 0, /* savepoint, cancel-with-savepoint, stop */
    CF_RC_CHECKPOINT,
    CF_RC_DISPOSAL,
} cf_rc_kind_t;

typedef struct cf_rc_op_s {
    cf_rc_kind_t kind;
    char trigger[CF_ID_HEX_LEN + 1];
    char job[CF_ID_HEX_LEN + 1];   /* "" for a disposal */
    cf_jm_t *jm;
    cf_ckpt_coord_t *cc;           /* holds the callback while pending */
    int cancel_job;                /* cancel once the savepoint is done */
    int done;
    int64_t done_ms;
    /* outcome */
    char *location;                /* savepoint directory */
    int64_t checkpoint_id;
    char *err_class, *err_msg;     /* failure */
    /* disposal */
    char *path;
    int rc;
    cf_error_t *err;
    struct cf_rc_op_s *next;
} cf_rc_op_t;

static cf_rc_op_t *cf_rc_ops;

static void
cf_rc_op_free(cf_rc_op_t *op)
{
    cf_free(op->location);
    cf_free(op->err_class);
    cf_free(op->err_msg);
    cf_free(op->path);
    cf_error_free(op->err);
    cf_free(op);
}

/* Whether the coordinator that holds op's callback still exists. */
static int
cf_rc_op_holder_alive(const cf_rc_op_t *op)
{
    cf_id_t id;
    cf_jobmaster_t *j;

    if (op->kind == CF_RC_DISPOSAL)
        return 1; /* the worker pool holds it until done */
    if (op->cc == NULL || op->jm->dispatcher == NULL ||
        cf_id_from_hex(&id, op->job) < 0)
        return 0;
    j = cf_dispatcher_find_job(op->jm->dispatcher, &id);
    return j != NULL && j->ckpt == op->cc;
}

/* Drop completed records older than rest.async.store-duration, and
 * pending ones whose coordinator went away with its job. */
static void
cf_rc_expire(cf_jm_t *jm)
{
    int64_t keep = cf_config_get_duration_ms(jm->cfg,
                                             "rest.async.store-duration",
                                             300000);
    int64_t now = cf_now_ms();

    for (cf_rc_op_t **pp = &cf_rc_ops; *pp;) {
        cf_rc_op_t *op = *pp;
        if ((op->done && now - op->done_ms > keep) ||
            (!op->done && !cf_rc_op_holder_alive(op))) {
            *pp = op->next;
            cf_rc_op_free(op);
            continue;
        }
        pp = &op->next;
    }
}

static cf_rc_op_t *
cf_rc_find(cf_rc_kind_t kind, const char *job, const char *trigger)
{
    for (cf_rc_op_t *op = cf_rc_ops; op; op = op->next)
        if (op->kind == kind && strcmp(op->trigger, trigger) == 0 &&
            strcmp(op->job, job) == 0)
            return op;
    return NULL;
}

static cf_rc_op_t *
cf_rc_new(cf_jm_t *jm, cf_rc_kind_t kind, const char *job,
          const char *trigger)
{
    cf_rc_op_t *op = CF_NEW(cf_rc_op_t);
    cf_id_t id;

    op->kind = kind;
    op->jm = jm;
    snprintf(op->job, sizeof op->job, "%s", job ? job : "");
    if (trigger) {
        snprintf(op->trigger, sizeof op->trigger, "%s", trigger);
    } else {
        cf_id_random(&id);
        cf_id_to_hex(&id, op->trigger);
    }
    op->next = cf_rc_ops;
    cf_rc_ops = op;
    return op;
}

/* "<class>: <message>" of a coordinator error: the class when the
 * message starts with one, else fallback. */
static void
cf_rc_fail(cf_rc_op_t *op, const char *fallback, const char *msg)
{
    const char *colon = msg ? strstr(msg, ": ") : NULL;
    int cls = 0;

    if (op->done)
        return;
    if (colon && colon > msg && memchr(msg, '.', (size_t)(colon - msg))) {
        cls = 1;
        for (const char *s = msg; s < colon; s++)
            if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' ||
                  *s == '$'))
                cls = 0;
    }
    if (cls) {
        op->err_class = cf_strndup(msg, (size_t)(colon - msg));
        op->err_msg = cf_strdup(colon + 2);
    } else {
        op->err_class = cf_strdup(fallback);
        op->err_msg = cf_strdup(msg && *msg ? msg : "unknown error");
    }
    op->done = 1;
    op->done_ms = cf_now_ms();
    op->cc = NULL;
}

/* cf_ckpt_done_cb of savepoints, stops and checkpoints (on the loop). */
static void
cf_rc_on_done(void *arg, int status, int64_t id, const char *path,
              const char *error)
{
    cf_rc_op_t *op = arg;
    cf_jm_t *jm = op->jm;

    if (op->done)
        return;
    if (status < 0) {
        cf_log_warn("%s %s of job %s failed: %s",
                    op->kind == CF_RC_CHECKPOINT ? "Checkpoint" : "Savepoint",
                    op->trigger, op->job, error ? error : cf_strerror(status));
        cf_rc_fail(op, CF_RC_EXC_CHECKPOINT,
                   error ? error : cf_strerror(status));
        return;
    }
    op->checkpoint_id = id;
    op->location = path ? cf_strdup(path) : NULL;
    op->done = 1;
    op->done_ms = cf_now_ms();
    op->cc = NULL;
    if (op->kind == CF_RC_SAVEPOINT)
        cf_log_info("Savepoint stored in %s (trigger %s, job %s).",
                    path ? path : "?", op->trigger, op->job);
    if (op->cancel_job && !jm->shutting_down && jm->dispatcher) {
        cf_id_t jid;
        cf_jobmaster_t *j;
        if (cf_id_from_hex(&jid, op->job) == 0 &&
            (j = cf_dispatcher_find_job(jm->dispatcher, &jid)) != NULL &&
            !cf_job_status_is_globally_terminal(j->status) &&
            j->status != CF_JOB_CANCELLING) {
            cf_log_info("Cancelling job %s after savepoint %s.", op->job,
                        path ? path : "?");
            cf_jobmaster_cancel(j);
        }
    }
}

static void
cf_rc_dispose_work(void *arg)
{
    cf_rc_op_t *op = arg;
    op->rc = cf_ckpt_dispose_savepoint(op->path, &op->err);
}

static void
cf_rc_dispose_done(void *arg)
{
    cf_rc_op_t *op = arg;

    if (op->rc < 0) {
        const char *m = op->err ? cf_error_msg(op->err)
                                : cf_strerror(op->rc);
        cf_log_warn("Disposing savepoint '%s' failed: %s", op->path, m);
        cf_rc_fail(op,
                   op->rc == CF_ENOTFOUND || op->rc == -ENOENT
                       ? CF_RC_EXC_NOT_FOUND
                       : CF_RC_EXC_IO,
                   m);
        return;
    }
    cf_log_info("Disposed savepoint '%s'.", op->path);
    op->done = 1;
    op->done_ms = cf_now_ms();
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static int
cf_rc_is_hex32(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]))
            return 0;
    return n == CF_ID_HEX_LEN;
}

static void
cf_rc_lower(const char *s, char out[CF_ID_HEX_LEN + 1])
{
    size_t i = 0;

    for (; s[i] && i < CF_ID_HEX_LEN; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static json_t *
cf_rc_bad_path_param(int *status, const char *key, const char *value)
{
    return cf_rest_error(status, 400,
                         "Bad request, could not parse parameters: Cannot "
                         "resolve path parameter (%s) from value \"%s\".",
                         key, value);
}

static json_t *
cf_rc_bad_body(int *status, const char *cls)
{
    return cf_rest_error(status, 400,
                         "Request did not match expected format %s.", cls);
}

/* The job of path parameter 0, or NULL with *err set (400 or 404). */
static cf_jobmaster_t *
cf_rc_job(cf_jm_t *jm, const cf_rest_req_t *req, int *status, json_t **err)
{
    const char *hex = req->nparams > 0 ? req->params[0] : "";
    char low[CF_ID_HEX_LEN + 1];
    cf_jobmaster_t *jmr;
    cf_id_t id;

    if (!cf_rc_is_hex32(hex) || cf_id_from_hex(&id, hex) < 0) {
        *err = cf_rc_bad_path_param(status, "jobid", hex);
        return NULL;
    }
    jmr = cf_dispatcher_find_job(jm->dispatcher, &id);
    if (jmr == NULL) {
        cf_rc_lower(hex, low);
        *err = cf_rest_error(status, 404, "Job %s not found", low);
    }
    return jmr;
}

/* The request body as a JSON object ({} when empty), or NULL when it is
 * not one. */
static json_t *
cf_rc_body(const cf_rest_req_t *req)
{
    const char *b = req->body ? req->body : "";
    json_error_t je;
    json_t *o;

    while (*b && isspace((unsigned char)*b))
        b++;
    if (*b == '\0')
        return json_object();
    o = json_loadb(req->body, req->body_len, 0, &je);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Optional string field: 0 (absent or null: *out NULL), -1 wrong type. */
static int
cf_rc_opt_string(const json_t *body, const char *key, const char **out)
{
    const json_t *v = json_object_get(body, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* Optional boolean (Jackson coerces "true"/"false" strings). */
static int
cf_rc_opt_bool(const json_t *body, const char *key, int *out)
{
    const json_t *v = json_object_get(body, key);

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s == '\0' || strcasecmp(s, "false") == 0)
            return 0;
        if (strcasecmp(s, "true") == 0) {
            *out = 1;
            return 0;
        }
    }
    return -1;
}

/* Optional enum: 0 with *out the index (-1: absent), -1 otherwise. */
static int
cf_rc_opt_enum(const json_t *body, const char *key,
               const char *const *values, int *out)
{
    const char *s;

    *out = -1;
    if (cf_rc_opt_string(body, key, &s) < 0)
        return -1;
    if (s == NULL)
        return 0;
    for (int i = 0; values[i]; i++) {
        if (strcmp(s, values[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* Optional triggerId: 32 hex digits (lower-cased into out, "" when
 * absent). */
static int
cf_rc_opt_trigger(const json_t *body, char out[CF_ID_HEX_LEN + 1])
{
    const char *s;

    out[0] = '\0';
    if (cf_rc_opt_string(body, "triggerId", &s) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (!cf_rc_is_hex32(s))
        return -1;
    cf_rc_lower(s, out);
    return 0;
}

/* "file:///x", "file:/x" -> "/x" (Flink's file system URIs). */
static const char *
cf_rc_strip_file_scheme(const char *p)
{
    if (p && strncmp(p, "file://", 7) == 0 && p[7] == '/')
        return p + 7;
    if (p && strncmp(p, "file:", 5) == 0 && p[5] == '/')
        return p + 5;
    return p;
}

static json_t *
cf_rc_trigger_response(const cf_rc_op_t *op, int code, int *status)
{
    json_t *o = json_object();
    json_object_set_new(o, "request-id", json_string(op->trigger));
    *status = code;
    return o;
}

/* ------------------------------------------------------------------ */
/* JSON of results and statistics                                      */
/* ------------------------------------------------------------------ */

json_t *
cf_rest_ckpt_failure_cause(const char *cls, const char *msg)
{
    json_t *o = json_object();
    char *trace = cf_asprintf("%s: %s", cls, msg ? msg : "");
    char *b64 = cf_rest_base64(trace);

    json_object_set_new(o, "class", json_string(cls));
    json_object_set_new(o, "stack-trace", json_string(trace));
    json_object_set_new(o, "serialized-throwable", json_string(b64));
    cf_free(trace);
    cf_free(b64);
    return o;
}

/* AsynchronousOperationResult of a record. */
static json_t *
cf_rc_op_result(const cf_rc_op_t *op)
{
    json_t *o = json_object(), *st = json_object(), *info;

    json_object_set_new(st, "id", json_string(op->done ? "COMPLETED"
                                                       : "IN_PROGRESS"));
    json_object_set_new(o, "status", st);
    if (!op->done)
        return o;
    info = json_object();
    if (op->err_class) {
        /* CheckpointInfo names it failureCause, SavepointInfo and
         * AsynchronousOperationInfo failure-cause. */
        json_object_set_new(info,
                            op->kind == CF_RC_CHECKPOINT ? "failureCause"
                                                         : "failure-cause",
                            cf_rest_ckpt_failure_cause(op->err_class,
                                                       op->err_msg));
    } else if (op->kind == CF_RC_SAVEPOINT) {
        json_object_set_new(info, "location",
                            json_string(op->location ? op->location : ""));
    } else if (op->kind == CF_RC_CHECKPOINT) {
        json_object_set_new(info, "checkpointId",
                            json_integer(op->checkpoint_id));
    }
    json_object_set_new(o, "operation", info);
    return o;
}

static int
cf_rc_cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Commons Math Percentile, EstimationType.LEGACY, of sorted v (n > 0). */
static double
cf_rc_quantile(const int64_t *v, int n, double q)
{
    double pos = q * (n + 1), d;
    int lo;

    if (pos < 1)
        return (double)v[0];
    if (pos >= n)
        return (double)v[n - 1];
    lo = (int)pos; /* pos >= 1: truncation is floor */
    d = pos - lo;
    return (double)v[lo - 1] + d * (double)(v[lo] - v[lo - 1]);
}

json_t *
cf_rest_ckpt_summary_dto(const int64_t *samples, int n)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99},
              {"p999", 0.999}};
    json_t *o = json_object();
    int64_t *v, sum = 0;

    if (n <= 0 || samples == NULL) {
        json_object_set_new(o, "min", json_integer(0));
        json_object_set_new(o, "max", json_integer(0));
        json_object_set_new(o, "avg", json_integer(0));
        for (size_t i = 0; i < CF_ARRAY_LEN(qs); i++)
            json_object_set_new(o, qs[i].name, json_string("NaN"));
        return o;
    }
    v = cf_malloc((size_t)n * sizeof *v);
    memcpy(v, samples, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cf_rc_cmp64);
    for (int i = 0; i < n; i++)
        sum += v[i];
    json_object_set_new(o, "min", json_integer(v[0]));
    json_object_set_new(o, "max", json_integer(v[n - 1]));
    json_object_set_new(o, "avg", json_integer(sum / n));
    for (size_t i = 0; i < CF_ARRAY_LEN(qs); i++)
        json_object_set_new(o, qs[i].name,
                            json_real(cf_rc_quantile(v, n, qs[i].q)));
    cf_free(v);
    return o;
}

static const char *
cf_rc_kind_name(int kind)
{
    switch (kind) {
    case CF_CKPT_KIND_SAVEPOINT:
        return "SAVEPOINT";
    case CF_CKPT_KIND_SYNC_SAVEPOINT:
        return "SYNC_SAVEPOINT";
    default:
        return "CHECKPOINT";
    }
}

static const char *
cf_rc_status_name(cf_ckpt_status_t s)
{
    switch (s) {
    case CF_CKPT_COMPLETED:
        return "COMPLETED";
    case CF_CKPT_FAILED:
        return "FAILED";
    default:
        return "IN_PROGRESS";
    }
}

/* Flink's end_to_end_duration: completed or failed: end - trigger;
 * pending: latest ack - trigger (-1 without an ack). */
static int64_t
cf_rc_e2e(const cf_ckpt_stats_t *s)
{
    if (s->status != CF_CKPT_IN_PROGRESS && s->end_ts > 0)
        return s->end_ts > s->trigger_ts ? s->end_ts - s->trigger_ts : 0;
    if (s->latest_ack_ts > 0)
        return s->latest_ack_ts > s->trigger_ts
                   ? s->latest_ack_ts - s->trigger_ts
                   : 0;
    return -1;
}

/* TaskCheckpointStatistics fields of vertex vs of checkpoint s into o. */
static void
cf_rc_task_fields(json_t *o, const cf_ckpt_stats_t *s,
                  const cf_ckpt_vertex_stats_t *vs)
{
    int64_t e2e = vs->latest_ack_ts > 0
                      ? (vs->latest_ack_ts > s->trigger_ts
                             ? vs->latest_ack_ts - s->trigger_ts
                             : 0)
                      : -1;
    json_object_set_new(o, "id", json_integer(s->id));
    json_object_set_new(o, "status",
                        json_string(cf_rc_status_name(s->status)));
    json_object_set_new(o, "latest_ack_timestamp",
                        json_integer(vs->latest_ack_ts > 0
                                         ? vs->latest_ack_ts
                                         : -1));
    json_object_set_new(o, "checkpointed_size",
                        json_integer((json_int_t)vs->state_size));
    json_object_set_new(o, "state_size",
                        json_integer((json_int_t)vs->state_size));
    json_object_set_new(o, "end_to_end_duration", json_integer(e2e));
    json_object_set_new(o, "alignment_buffered", json_integer(0));
    json_object_set_new(o, "processed_data", json_integer(0));
    json_object_set_new(o, "persisted_data", json_integer(0));
    json_object_set_new(o, "num_subtasks", json_integer(vs->num_subtasks));
    json_object_set_new(o, "num_acknowledged_subtasks",
                        json_integer(vs->num_acked));
}

json_t *
cf_rest_ckpt_entry(const cf_ckpt_stats_t *s, const cf_ejv_t *vs,
                   int nvertices, int with_tasks)
{
    json_t *o = json_object(), *tasks = json_object();
    int savepoint = s->kind != CF_CKPT_KIND_CHECKPOINT;

    json_object_set_new(o, "className",
                        json_string(s->status == CF_CKPT_COMPLETED
                                        ? "completed"
                                        : s->status == CF_CKPT_FAILED
                                              ? "failed"
                                              : "in_progress"));
    json_object_set_new(o, "id", json_integer(s->id));
    json_object_set_new(o, "status",
                        json_string(cf_rc_status_name(s->status)));
    json_object_set_new(o, "is_savepoint", json_boolean(savepoint));
    json_object_set_new(o, "savepointFormat",
                        savepoint ? json_string("CANONICAL") : json_null());
    json_object_set_new(o, "trigger_timestamp", json_integer(s->trigger_ts));
    json_object_set_new(o, "latest_ack_timestamp",
                        json_integer(s->latest_ack_ts > 0 ? s->latest_ack_ts
                                                          : -1));
    json_object_set_new(o, "checkpointed_size",
                        json_integer((json_int_t)s->state_size));
    json_object_set_new(o, "state_size",
                        json_integer((json_int_t)s->state_size));
    json_object_set_new(o, "end_to_end_duration", json_integer(cf_rc_e2e(s)));
    json_object_set_new(o, "alignment_buffered", json_integer(0));
    json_object_set_new(o, "processed_data",
                        json_integer((json_int_t)s->processed_data));
    json_object_set_new(o, "persisted_data", json_integer(0));
    json_object_set_new(o, "num_subtasks", json_integer(s->num_subtasks));
    json_object_set_new(o, "num_acknowledged_subtasks",
                        json_integer(s->num_acked));
    json_object_set_new(o, "checkpoint_type",
                        json_string(cf_rc_kind_name(s->kind)));
    if (with_tasks && s->vertices) {
        for (int v = 0; v < nvertices; v++) {
            json_t *t = json_object();
            cf_rc_task_fields(t, s, &s->vertices[v]);
            json_object_set_new(tasks, vs[v].id_hex, t);
        }
    }
    json_object_set_new(o, "tasks", tasks);
    if (s->status == CF_CKPT_COMPLETED) {
        json_object_set_new(o, "external_path",
                            s->external_path ? json_string(s->external_path)
                                             : json_null());
        json_object_set_new(o, "discarded", json_boolean(s->discarded));
    } else if (s->status == CF_CKPT_FAILED) {
        json_object_set_new(o, "failure_timestamp",
                            json_integer(s->end_ts > 0 ? s->end_ts : -1));
        json_object_set_new(o, "failure_message",
                            s->failure ? json_string(s->failure)
                                       : json_null());
    }
    return o;
}

json_t *
cf_rest_ckpt_statistics(const cf_ckpt_view_t *v)
{
    json_t *o = json_object(), *c = json_object(), *sum = json_object();
    json_t *latest = json_object(), *hist = json_array();
    int n = v->nsamples > 0 ? v->nsamples : 0;
    int64_t *tmp = cf_calloc((size_t)n + 1, sizeof *tmp);

    json_object_set_new(c, "restored", json_integer(v->restored));
    json_object_set_new(c, "total", json_integer(v->total));
    json_object_set_new(c, "in_progress", json_integer(v->in_progress));
    json_object_set_new(c, "completed", json_integer(v->completed));
    json_object_set_new(c, "failed", json_integer(v->failed));
    json_object_set_new(o, "counts", c);

    for (int i = 0; i < n; i++)
        tmp[i] = v->sizes ? (int64_t)v->sizes[i] : 0;
    json_object_set_new(sum, "checkpointed_size",
                        cf_rest_ckpt_summary_dto(tmp, n));
    json_object_set_new(sum, "state_size", cf_rest_ckpt_summary_dto(tmp, n));
    json_object_set_new(sum, "end_to_end_duration",
                        cf_rest_ckpt_summary_dto(v->durations,
                                                 v->durations ? n : 0));
    for (int i = 0; i < n; i++)
        tmp[i] = 0;
    json_object_set_new(sum, "alignment_buffered",
                        cf_rest_ckpt_summary_dto(tmp, n));
    json_object_set_new(sum, "persisted_data",
                        cf_rest_ckpt_summary_dto(tmp, n));
    for (int i = 0; i < n; i++)
        tmp[i] = v->processed ? (int64_t)v->processed[i] : 0;
    json_object_set_new(sum, "processed_data",
                        cf_rest_ckpt_summary_dto(tmp, n));
    json_object_set_new(o, "summary", sum);
    cf_free(tmp);

    json_object_set_new(latest, "completed",
                        v->latest_completed
                            ? cf_rest_ckpt_entry(v->latest_completed, NULL,
                                                 0, 0)
                            : json_null());
    json_object_set_new(latest, "savepoint",
                        v->latest_savepoint
                            ? cf_rest_ckpt_entry(v->latest_savepoint, NULL,
                                                 0, 0)
                            : json_null());
    json_object_set_new(latest, "failed",
                        v->latest_failed
                            ? cf_rest_ckpt_entry(v->latest_failed, NULL, 0,
                                                 0)
                            : json_null());
    if (v->restored_id >= 0) {
        json_t *r = json_object();
        json_object_set_new(r, "id", json_integer(v->restored_id));
        json_object_set_new(r, "restore_timestamp",
                            json_integer(v->restore_ts));
        json_object_set_new(r, "is_savepoint",
                            json_boolean(v->restored_is_savepoint));
        json_object_set_new(r, "external_path",
                            v->restored_path ? json_string(v->restored_path)
                                             : json_null());
        json_object_set_new(latest, "restored", r);
    } else {
        json_object_set_new(latest, "restored", json_null());
    }
    json_object_set_new(o, "latest", latest);

    for (const cf_ckpt_stats_t *s = v->history; s; s = s->next)
        json_array_append_new(hist, cf_rest_ckpt_entry(s, NULL, 0, 0));
    json_object_set_new(o, "history", hist);
    return o;
}

json_t *
cf_rest_ckpt_config(const cf_ckpt_view_t *v, const char *state_backend)
{
    json_t *o = json_object(), *ext = json_object();

    json_object_set_new(o, "mode", json_string(v->exactly_once
                                                   ? "exactly_once"
                                                   : "at_least_once"));
    json_object_set_new(o, "interval", json_integer(v->interval_ms));
    json_object_set_new(o, "timeout", json_integer(v->timeout_ms));
    json_object_set_new(o, "min_pause", json_integer(v->min_pause_ms));
    json_object_set_new(o, "max_concurrent",
                        json_integer(v->max_concurrent));
    json_object_set_new(ext, "enabled", json_boolean(v->externalized));
    json_object_set_new(ext, "delete_on_cancellation",
                        json_boolean(v->delete_on_cancellation));
    json_object_set_new(o, "externalization", ext);
    json_object_set_new(o, "state_backend",
                        json_string(state_backend ? state_backend
                                                  : "hashmap"));
    json_object_set_new(o, "checkpoint_storage",
                        json_string(v->dir ? "FileSystemCheckpointStorage"
                                           : "JobManagerCheckpointStorage"));
    json_object_set_new(o, "unaligned_checkpoints", json_false());
    json_object_set_new(o, "tolerable_failed_checkpoints",
                        json_integer(v->tolerable_failed));
    json_object_set_new(o, "aligned_checkpoint_timeout", json_integer(0));
    json_object_set_new(o, "checkpoints_after_tasks_finish", json_true());
    json_object_set_new(o, "state_changelog_enabled", json_false());
    json_object_set_new(o, "changelog_periodic_materialization_interval",
                        json_integer(600000));
    json_object_set_new(o, "changelog_storage", json_string("memory"));
    return o;
}

json_t *
cf_rest_ckpt_task_details(const cf_ckpt_stats_t *s, int vi)
{
    const cf_ckpt_vertex_stats_t *vs = &s->vertices[vi];
    json_t *o = json_object(), *subs = json_array(), *sum = json_object();
    json_t *cd = json_object(), *al = json_object();
    int n = vs->num_subtasks, m = 0;
    int64_t *size = cf_calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *e2e = cf_calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *sync = cf_calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *async = cf_calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *align = cf_calloc((size_t)n + 1, sizeof(int64_t));
    int64_t *zero = cf_calloc((size_t)n + 1, sizeof(int64_t));

    cf_rc_task_fields(o, s, vs);
    for (int k = 0; k < n; k++) {
        json_t *t = json_object();
        int64_t ack = vs->ack_ts ? vs->ack_ts[k] : 0;
        json_object_set_new(t, "index", json_integer(k));
        if (ack <= 0) {
            json_object_set_new(t, "status", json_string("pending_or_failed"));
            json_object_set_new(t, "className", json_string("pending"));
            json_array_append_new(subs, t);
            continue;
        }
        size[m] = vs->sub_state_size ? (int64_t)vs->sub_state_size[k] : 0;
        e2e[m] = ack > s->trigger_ts ? ack - s->trigger_ts : 0;
        sync[m] = vs->sub_sync_ms ? vs->sub_sync_ms[k] : 0;
        async[m] = vs->sub_async_ms ? vs->sub_async_ms[k] : 0;
        align[m] = vs->sub_alignment_ms ? vs->sub_alignment_ms[k] : 0;
        json_object_set_new(t, "status", json_string("completed"));
        json_object_set_new(t, "className", json_string("completed"));
        json_object_set_new(t, "ack_timestamp", json_integer(ack));
        json_object_set_new(t, "end_to_end_duration", json_integer(e2e[m]));
        json_object_set_new(t, "checkpointed_size", json_integer(size[m]));
        json_object_set_new(t, "state_size", json_integer(size[m]));
        json_object_set_new(t, "checkpoint",
                            json_pack("{sIsI}", "sync", (json_int_t)sync[m],
                                      "async", (json_int_t)async[m]));
        json_object_set_new(t, "alignment",
                            json_pack("{sIsIsIsI}", "buffered",
                                      (json_int_t)0, "processed",
                                      (json_int_t)0, "persisted",
                                      (json_int_t)0, "duration",
                                      (json_int_t)align[m]));
        json_object_set_new(t, "start_delay", json_integer(0));
        json_object_set_new(t, "unaligned_checkpoint", json_false());
        json_object_set_new(t, "aborted", json_false());
        json_array_append_new(subs, t);
        m++;
    }
    json_object_set_new(sum, "checkpointed_size",
                        cf_rest_ckpt_summary_dto(size, m));
    json_object_set_new(sum, "state_size", cf_rest_ckpt_summary_dto(size, m));
    json_object_set_new(sum, "end_to_end_duration",
                        cf_rest_ckpt_summary_dto(e2e, m));
    json_object_set_new(cd, "sync", cf_rest_ckpt_summary_dto(sync, m));
    json_object_set_new(cd, "async", cf_rest_ckpt_summary_dto(async, m));
    json_object_set_new(sum, "checkpoint_duration", cd);
    json_object_set_new(al, "buffered", cf_rest_ckpt_summary_dto(zero, m));
    json_object_set_new(al, "processed", cf_rest_ckpt_summary_dto(zero, m));
    json_object_set_new(al, "persisted", cf_rest_ckpt_summary_dto(zero, m));
    json_object_set_new(al, "duration", cf_rest_ckpt_summary_dto(align, m));
    json_object_set_new(sum, "alignment", al);
    json_object_set_new(sum, "start_delay", cf_rest_ckpt_summary_dto(zero, m));
    json_object_set_new(o, "summary", sum);
    json_object_set_new(o, "subtasks", subs);
    cf_free(size);
    cf_free(e2e);
    cf_free(sync);
    cf_free(async);
    cf_free(align);
    cf_free(zero);
    return o;
}

/* ------------------------------------------------------------------ */
/* Triggers                                                            */
/* ------------------------------------------------------------------ */

/* Start a savepoint, stop or checkpoint of j for a new record. */
static cf_rc_op_t *
cf_rc_start(cf_jm_t *jm, cf_jobmaster_t *j, cf_rc_kind_t rk, int ckind,
            const char *trigger, const char *target, int drain,
            int cancel_job)
{
    cf_rc_op_t *op = cf_rc_new(jm, rk, j->job_id_hex,
                               trigger && *trigger ? trigger : NULL);
    cf_error_t *err = NULL;
    char *m;

    op->cancel_job = cancel_job;
    if (cf_job_status_is_globally_terminal(j->status) || j->ckpt == NULL) {
        m = cf_asprintf("Could not find Flink job (%s)", j->job_id_hex);
        cf_rc_fail(op, CF_RC_EXC_NO_JOB, m);
        cf_free(m);
        return op;
    }
    cf_log_info("Triggering %s for job %s (trigger %s%s%s).",
                ckind == CF_CKPT_KIND_CHECKPOINT ? "a checkpoint"
                : ckind == CF_CKPT_KIND_SAVEPOINT
                    ? "a savepoint"
                    : drain ? "stop-with-savepoint (drain)"
                            : "stop-with-savepoint",
                j->job_id_hex, op->trigger, target ? ", directory " : "",
                target ? target : "");
    op->cc = j->ckpt;
    if (cf_ckpt_coord_trigger(j->ckpt, ckind, target, drain, cf_rc_on_done,
                              op, &err) < 0) {
        cf_rc_fail(op, CF_RC_EXC_CHECKPOINT,
                   err ? cf_error_msg(err) : "triggering failed");
        cf_error_free(err);
    }
    return op;
}

/* The target directory of a savepoint: the request's, or the job's
 * execution.checkpointing.savepoint-dir. NULL: neither. */
static const char *
cf_rc_target(const cf_jobmaster_t *j, const char *requested)
{
    const char *d;

    if (requested && *requested)
        return cf_rc_strip_file_scheme(requested);
    d = j->job_cfg ? cf_config_get(j->job_cfg, CF_RC_SAVEPOINT_DIR_KEY)
                   : NULL;
    return d && *d ? cf_rc_strip_file_scheme(d) : NULL;
}

/* POST /jobs/:jobid/savepoints and POST /jobs/:jobid/stop: the same body
 * but for the names of the directory and the flag (cancel-job or
 * drain), and the kind of savepoint. */
typedef struct cf_rc_sp_req_s {
    const char *body_name; /* Flink's request body class, for errors */
    const char *dir_field;
    const char *flag_field;
    int kind; /* CF_CKPT_KIND_SAVEPOINT or _SYNC_SAVEPOINT */
} cf_rc_sp_req_t;

static json_t *
cf_rc_savepoint_common(cf_rest_req_t *req, cf_jm_t *jm, int *status,
                       const cf_rc_sp_req_t *how)
{
    static const char *const formats[] = {"CANONICAL", "NATIVE", NULL};
    char trig[CF_ID_HEX_LEN + 1];
    const char *dir, *target;
    json_t *body, *err = NULL;
    cf_jobmaster_t *j;
    cf_rc_op_t *op;
    int flag, fmt, sync = how->kind == CF_CKPT_KIND_SYNC_SAVEPOINT;

    cf_rc_expire(jm);
    if ((j = cf_rc_job(jm, req, status, &err)) == NULL)
        return err;
    body = cf_rc_body(req);
    if (body == NULL || cf_rc_opt_string(body, how->dir_field, &dir) ||
        cf_rc_opt_bool(body, how->flag_field, &flag) ||
        cf_rc_opt_enum(body, "formatType", formats, &fmt) ||
        cf_rc_opt_trigger(body, trig)) {
        json_decref(body);
        return cf_rc_bad_body(status, how->body_name);
    }
    if (*trig && (op = cf_rc_find(CF_RC_SAVEPOINT, j->job_id_hex, trig))) {
        json_decref(body);
        return cf_rc_trigger_response(op, 202, status);
    }
    target = cf_rc_target(j, dir);
    if (target == NULL) {
        json_decref(body);
        return cf_rest_error(status, 400,
                             "Config key [%s] is not set. Property [%s] "
                             "must be provided.",
                             CF_RC_SAVEPOINT_DIR_KEY, how->dir_field);
    }
    /* drain for stop, cancel-job for a savepoint */
    op = cf_rc_start(jm, j, CF_RC_SAVEPOINT, how->kind, trig, target,
                     sync ? flag : 0, sync ? 0 : flag);
    json_decref(body);
    return cf_rc_trigger_response(op, 202, status);
}

static json_t *
cf_rc_savepoint_trigger(cf_rest_req_t *req, void *arg, int *status)
{
    static const cf_rc_sp_req_t how = {"SavepointTriggerRequestBody",
                                       "target-directory", "cancel-job",
                                       CF_CKPT_KIND_SAVEPOINT};
    return cf_rc_savepoint_common(req, arg, status, &how);
}

static json_t *
cf_rc_stop(cf_rest_req_t *req, void *arg, int *status)
{
    static const cf_rc_sp_req_t how = {"StopWithSavepointRequestBody",
                                       "targetDirectory", "drain",
                                       CF_CKPT_KIND_SYNC_SAVEPOINT};
    return cf_rc_savepoint_common(req, arg, status, &how);
}

static json_t *
cf_rc_checkpoint_trigger(cf_rest_req_t *req, void *arg, int *status)
{
    static const char *const types[] = {"CONFIGURED", "FULL", "INCREMENTAL",
                                        NULL};
    cf_jm_t *jm = arg;
    char trig[CF_ID_HEX_LEN + 1];
    json_t *body, *err = NULL;
    cf_jobmaster_t *j;
    cf_rc_op_t *op;
    int type;

    cf_rc_expire(jm);
    if ((j = cf_rc_job(jm, req, status, &err)) == NULL)
        return err;
    body = cf_rc_body(req);
    if (body == NULL || cf_rc_opt_enum(body, "checkpointType", types, &type) ||
        cf_rc_opt_trigger(body, trig)) {
        json_decref(body);
        return cf_rc_bad_body(status, "CheckpointTriggerRequestBody");
    }
    json_decref(body);
    if (type == 2)
        return cf_rest_error(status, 400,
                             "Triggering an INCREMENTAL checkpoint is not "
                             "supported, use CONFIGURED or FULL (see "
                             "FLINK-33723).");
    if (*trig && (op = cf_rc_find(CF_RC_CHECKPOINT, j->job_id_hex, trig)))
        return cf_rc_trigger_response(op, 202, status);
    /* Every cflink checkpoint is a full one: CONFIGURED and FULL alike. */
    op = cf_rc_start(jm, j, CF_RC_CHECKPOINT, CF_CKPT_KIND_CHECKPOINT, trig,
                     NULL, 0, 0);
    return cf_rc_trigger_response(op, 202, status);
}

/* GET /jobs/:jobid/savepoints/:triggerid and /checkpoints/:triggerid. */
static json_t *
cf_rc_job_op_status(cf_rest_req_t *req, cf_jm_t *jm, cf_rc_kind_t kind,
                    int *status)
{
    const char *jid = req->nparams > 0 ? req->params[0] : "";
    const char *tid = req->nparams > 1 ? req->params[1] : "";
    char job[CF_ID_HEX_LEN + 1], trig[CF_ID_HEX_LEN + 1];
    cf_rc_op_t *op;

    cf_rc_expire(jm);
    if (!cf_rc_is_hex32(jid))
        return cf_rc_bad_path_param(status, "jobid", jid);
    if (!cf_rc_is_hex32(tid))
        return cf_rc_bad_path_param(status, "triggerid", tid);
    cf_rc_lower(jid, job);
    cf_rc_lower(tid, trig);
    op = cf_rc_find(kind, job, trig);
    if (op == NULL)
        return cf_rest_error(status, 404,
                             "There is no %s operation with triggerId=%s "
                             "for job %s.",
                             kind == CF_RC_CHECKPOINT ? "checkpoint"
                                                      : "savepoint",
                             trig, job);
    *status = 200;
    return cf_rc_op_result(op);
}

static json_t *
cf_rc_savepoint_status(cf_rest_req_t *req, void *arg, int *status)
{
    return cf_rc_job_op_status(req, arg, CF_RC_SAVEPOINT, status);
}

static json_t *
cf_rc_checkpoint_status(cf_rest_req_t *req, void *arg, int *status)
{
    return cf_rc_job_op_status(req, arg, CF_RC_CHECKPOINT, status);
}

static json_t *
cf_rc_disposal_trigger(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    char trig[CF_ID_HEX_LEN + 1];
    const char *path;
    json_t *body;
    cf_rc_op_t *op;

    cf_rc_expire(jm);
    body = cf_rc_body(req);
    if (body == NULL || cf_rc_opt_string(body, "savepoint-path", &path) ||
        cf_rc_opt_trigger(body, trig) || path == NULL || *path == '\0') {
        json_decref(body);
        return cf_rc_bad_body(status, "SavepointDisposalRequest");
    }
    if (*trig && (op = cf_rc_find(CF_RC_DISPOSAL, "", trig))) {
        json_decref(body);
        return cf_rc_trigger_response(op, 200, status);
    }
    op = cf_rc_new(jm, CF_RC_DISPOSAL, "", *trig ? trig : NULL);
    op->path = cf_strdup(cf_rc_strip_file_scheme(path));
    json_decref(body);
    cf_log_info("Disposing savepoint '%s' (trigger %s).", op->path,
                op->trigger);
    if (cf_loop_work(jm->loop, cf_rc_dispose_work, cf_rc_dispose_done, op) <
        0)
        cf_rc_fail(op, CF_RC_EXC_IO, "could not start the disposal");
    /* Flink's SavepointDisposalTriggerHeaders answer 200 OK. */
    return cf_rc_trigger_response(op, 200, status);
}

static json_t *
cf_rc_disposal_status(cf_rest_req_t *req, void *arg, int *status)
{
    const char *tid = req->nparams > 0 ? req->params[0] : "";
    char trig[CF_ID_HEX_LEN + 1];
    cf_rc_op_t *op;

    cf_rc_expire(arg);
    if (!cf_rc_is_hex32(tid))
        return cf_rc_bad_path_param(status, "triggerid", tid);
    cf_rc_lower(tid, trig);
    op = cf_rc_find(CF_RC_DISPOSAL, "", trig);
    if (op == NULL)
        return cf_rest_error(status, 404,
                             "Operation not found under key: "
                             "OperationKey{triggerId=%s}",
                             trig);
    *status = 200;
    return cf_rc_op_result(op);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

/* The view of a job whose statistics are served, or NULL with the 404. */
static const cf_ckpt_view_t *
cf_rc_view(const cf_jobmaster_t *j, int *status, json_t **err)
{
    const cf_ckpt_view_t *v = j->ckpt ? cf_ckpt_coord_view(j->ckpt) : NULL;

    if (v == NULL || (!v->enabled && v->total == 0 && v->restored_id < 0)) {
        *err = cf_rest_error(status, 404,
                             "Checkpointing has not been enabled.");
        return NULL;
    }
    return v;
}

static json_t *
cf_rc_statistics(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_jobmaster_t *j = cf_rc_job(arg, req, status, &err);
    const cf_ckpt_view_t *v;

    if (j == NULL)
        return err;
    if ((v = cf_rc_view(j, status, &err)) == NULL)
        return err;
    *status = 200;
    return cf_rest_ckpt_statistics(v);
}

static json_t *
cf_rc_config(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_jobmaster_t *j = cf_rc_job(arg, req, status, &err);
    const cf_ckpt_view_t *v;

    if (j == NULL)
        return err;
    v = j->ckpt ? cf_ckpt_coord_view(j->ckpt) : NULL;
    if (v == NULL || !v->enabled)
        return cf_rest_error(status, 404,
                             "Checkpointing is not enabled for this job "
                             "(%s).",
                             j->job_id_hex);
    *status = 200;
    return cf_rest_ckpt_config(
        v, j->job_cfg ? cf_config_get(j->job_cfg, "state.backend.type")
                      : NULL);
}

/* The checkpoint of path parameter 1, or NULL with the answer. */
static const cf_ckpt_stats_t *
cf_rc_checkpoint(cf_jm_t *jm, cf_rest_req_t *req, cf_jobmaster_t **jp,
                 int *status, json_t **err)
{
    const char *cid = req->nparams > 1 ? req->params[1] : "";
    const cf_ckpt_stats_t *s;
    cf_jobmaster_t *j;
    char *end;
    long long id;

    if ((j = cf_rc_job(jm, req, status, err)) == NULL)
        return NULL;
    errno = 0;
    id = strtoll(cid, &end, 10);
    if (*cid == '\0' || *end || errno) {
        *err = cf_rc_bad_path_param(status, "checkpointid", cid);
        return NULL;
    }
    if (cf_rc_view(j, status, err) == NULL)
        return NULL;
    s = cf_ckpt_coord_find(j->ckpt, (int64_t)id);
    if (s == NULL) {
        *err = cf_rest_error(status, 404,
                             "Could not find checkpointing statistics for "
                             "checkpoint %lld.",
                             id);
        return NULL;
    }
    *jp = j;
    return s;
}

static json_t *
cf_rc_details(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_jobmaster_t *j = NULL;
    const cf_ckpt_stats_t *s = cf_rc_checkpoint(arg, req, &j, status, &err);

    if (s == NULL)
        return err;
    *status = 200;
    return cf_rest_ckpt_entry(s, j->vertices, j->nvertices, 1);
}

static json_t *
cf_rc_subtask_details(cf_rest_req_t *req, void *arg, int *status)
{
    const char *vid = req->nparams > 2 ? req->params[2] : "";
    json_t *err = NULL;
    cf_jobmaster_t *j = NULL;
    const cf_ckpt_stats_t *s = cf_rc_checkpoint(arg, req, &j, status, &err);
    char low[CF_ID_HEX_LEN + 1];

    if (s == NULL)
        return err;
    if (!cf_rc_is_hex32(vid))
        return cf_rc_bad_path_param(status, "vertexid", vid);
    cf_rc_lower(vid, low);
    for (int v = 0; v < j->nvertices; v++) {
        if (strcmp(j->vertices[v].id_hex, low) == 0 && s->vertices) {
            *status = 200;
            return cf_rest_ckpt_task_details(s, v);
        }
    }
    return cf_rest_error(status, 404,
                         "There is no checkpoint statistics for task %s.",
                         low);
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

typedef struct cf_rc_route_s {
    const char *method;
    const char *pattern;
    cf_rest_handler_fn fn;
    cf_jm_t *jm;
} cf_rc_route_t;

static json_t *
cf_rc_entry(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rc_route_t *rt = arg;

    /* Flink's AbstractHandler: a file part where none is expected. */
    if (req->upload_path) {
        unlink(req->upload_path);
        return cf_rest_error(status, 400, "File uploads not allowed.");
    }
    *status = 200;
    return rt->fn(req, rt->jm, status);
}

/* Literal segments ("config", "details") before the patterns. */
static cf_rc_route_t cf_rc_routes[] = {
    {"GET", "/jobs/:jobid/checkpoints", cf_rc_statistics, NULL},
    {"POST", "/jobs/:jobid/checkpoints", cf_rc_checkpoint_trigger, NULL},
    {"GET", "/jobs/:jobid/checkpoints/config", cf_rc_config, NULL},
    {"GET", "/jobs/:jobid/checkpoints/details/:checkpointid", cf_rc_details,
     NULL},
    {"GET",
     "/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid",
     cf_rc_subtask_details, NULL},
    {"GET", "/jobs/:jobid/checkpoints/:triggerid", cf_rc_checkpoint_status,
     NULL},
    {"POST", "/jobs/:jobid/savepoints", cf_rc_savepoint_trigger, NULL},
    {"GET", "/jobs/:jobid/savepoints/:triggerid", cf_rc_savepoint_status,
     NULL},
    {"POST", "/jobs/:jobid/stop", cf_rc_stop, NULL},
    {"POST", "/savepoint-disposal", cf_rc_disposal_trigger, NULL},
    {"GET", "/savepoint-disposal/:triggerid", cf_rc_disposal_status, NULL},
};

void
cf_rest_ckpt_register(cf_jm_t *jm)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_rc_routes); i++) {
        cf_rc_routes[i].jm = jm;
        cf_rest_route(jm->rest, cf_rc_routes[i].method,
                      cf_rc_routes[i].pattern, cf_rc_entry,
                      &cf_rc_routes[i]);
    }
}
