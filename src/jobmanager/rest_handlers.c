/*
 * rest_handlers.c: the JobManager's REST endpoints with Flink's paths,
 * JSON field names and error messages (see FLINK_INTERFACES.md section 1
 * and rest_v1_dispatcher.yml): cluster and job views, TaskManagers, the
 * JobManager's configuration, and plugin (jar) upload, run, plan, delete.
 * Checkpoints and savepoints are in rest_checkpoints.c, registered from
 * here.
 *
 * Every handler runs on the JobManager's loop (rest.c drives MHD there),
 * so it reads the Dispatcher, ResourceManager and JobMasters directly.
 *
 * Choices where cflink differs from Flink or Flink leaves room:
 *  - /config "flink-version" is the Flink REST API version cflink
 *    implements (CF_REST_FLINK_VERSION), so dashboards and clients that
 *    parse it behave; "flink-revision" names cflink's commit and version.
 *  - Errors carry the message only (Flink appends a Java stack trace),
 *    except a failed jar run, which keeps Flink's wrapping:
 *    "org.apache.flink.runtime.rest.handler.RestHandlerException: Could
 *    not execute application.\nCaused by: <cause>".
 *  - /jobs/:jobid/exceptions has both the 2.x exceptionHistory and the
 *    1.x top-level fields (root-exception, all-exceptions, ...).
 *  - failure-cause.serialized-throwable is the base64 of the message (no
 *    Java serialization).
 *
 * Threads: loop.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dispatcher_int.h"
#include "rest_checkpoints.h"
#include "rest_metrics.h"

/* The Flink release whose REST API cflink serves. */
#define CF_REST_FLINK_VERSION "2.2.0"
#define CF_REST_MAX_EXCEPTIONS_DEFAULT 20

typedef struct cf_rh_route_s {
    const char *method;
    const char *pattern;
    cf_rest_handler_fn fn;
    int uploads;   /* takes the multipart "jarfile" */
    int submit;    /* registered only with web.submit.enable */
    cf_jm_t *jm;
} cf_rh_route_t;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static const char *
cf_rh_commit(void)
{
    return CF_GIT_COMMIT[0] ? CF_GIT_COMMIT : "unknown";
}

static char *
cf_rh_lower(const char *s, char *buf, size_t size)
{
    size_t i = 0;

    for (; s[i] && i + 1 < size; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = '\0';
    return buf;
}

char *
cf_rest_base64(const char *s)
{
    static const char tb[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    const unsigned char *p = (const unsigned char *)s;
    char *out = cf_malloc(4 * ((n + 2) / 3) + 1);

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tb[(v >> 18) & 63];
        out[o++] = tb[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tb[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tb[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* "java.lang.RuntimeException: msg" -> "java.lang.RuntimeException"; a
 * message without a class-like prefix gets fallback. */
static char *
cf_rh_exception_class(const char *msg, const char *fallback)
{
    const char *colon = msg ? strstr(msg, ": ") : NULL;

    if (colon && colon > msg) {
        int ok = 1;
        for (const char *s = msg; s < colon; s++)
            if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' ||
                  *s == '$'))
                ok = 0;
        if (ok)
            return cf_strndup(msg, (size_t)(colon - msg));
    }
    return cf_strdup(fallback);
}

/* ------------------------------------------------------------------ */
/* Jobs: computed views                                                */
/* ------------------------------------------------------------------ */

static int64_t
cf_rh_job_end(const cf_jobmaster_t *j)
{
    return cf_job_status_is_globally_terminal(j->status) && j->end_ms > 0
               ? j->end_ms
               : -1;
}

static int64_t
cf_rh_duration(int64_t start, int64_t end, int64_t now)
{
    if (start <= 0)
        return -1;
    return (end > 0 ? end : now) - start;
}

typedef struct cf_rh_vstat_s {
    int counts[CF_EXEC_STATE_COUNT];
    cf_exec_state_t state;
    int64_t start, end;
    int64_t rec_in, rec_out, bytes_in, bytes_out;
    cf_task_times_t times; /* summed over the subtasks */
    int complete;
} cf_rh_vstat_t;

static int64_t
cf_rh_subtask_start(const cf_exec_vertex_t *ev)
{
    return ev->state_ts[CF_EXEC_DEPLOYING] > 0
               ? ev->state_ts[CF_EXEC_DEPLOYING]
               : -1;
}

static int64_t
cf_rh_subtask_end(const cf_exec_vertex_t *ev)
{
    if (!cf_exec_state_is_terminal(ev->state) || ev->state_ts[ev->state] <= 0)
        return -1;
    return ev->state_ts[ev->state];
}

static void
cf_rh_vertex_stat(const cf_ejv_t *v, cf_rh_vstat_t *s)
{
    int all_done = 1;

    memset(s, 0, sizeof *s);
    s->start = -1;
    s->end = -1;
    for (int i = 0; i < v->parallelism; i++) {
        const cf_exec_vertex_t *ev = &v->subtasks[i];
        int64_t st = cf_rh_subtask_start(ev), en = cf_rh_subtask_end(ev);
        s->counts[ev->state]++;
        if (st > 0 && (s->start < 0 || st < s->start))
            s->start = st;
        if (en < 0)
            all_done = 0;
        else if (en > s->end)
            s->end = en;
        s->rec_in += ev->records_in;
        s->rec_out += ev->records_out;
        s->bytes_in += ev->bytes_in;
        s->bytes_out += ev->bytes_out;
        s->times.busy_ms += ev->times.busy_ms;
        s->times.back_pressured_ms += ev->times.back_pressured_ms;
        s->times.idle_ms += ev->times.idle_ms;
    }
    if (!all_done || v->parallelism == 0)
        s->end = -1;
    s->complete = all_done && v->parallelism > 0;
    s->state = cf_rest_vertex_state(s->counts, v->parallelism);
}

/* {STATE: count} for every ExecutionState, upper (Flink's JobDetailsInfo)
 * or lower case with "total" (JobDetails in /jobs/overview). */
static json_t *
cf_rh_state_counts(const int counts[CF_EXEC_STATE_COUNT], int lower)
{
    json_t *o = json_object();
    char buf[32];
    int total = 0;

    for (int s = 0; s < CF_EXEC_STATE_COUNT; s++) {
        const char *n = cf_exec_state_name((cf_exec_state_t)s);
        json_object_set_new(o, lower ? cf_rh_lower(n, buf, sizeof buf) : n,
                            json_integer(counts[s]));
        total += counts[s];
    }
    if (lower)
        json_object_set_new(o, "total", json_integer(total));
    return o;
}

static int64_t
cf_rh_last_modification(const cf_jobmaster_t *j)
{
    int64_t m = j->start_ms;

    for (int s = 0; s < CF_JOB_STATUS_COUNT; s++)
        if (j->status_ts[s] > m)
            m = j->status_ts[s];
    for (int v = 0; v < j->nvertices; v++)
        for (int i = 0; i < j->vertices[v].parallelism; i++)
            for (int s = 0; s < CF_EXEC_STATE_COUNT; s++)
                if (j->vertices[v].subtasks[i].state_ts[s] > m)
                    m = j->vertices[v].subtasks[i].state_ts[s];
    return m;
}

/* Flink's JobDetails (an element of /jobs/overview). */
static json_t *
cf_rh_job_details(const cf_jobmaster_t *j, int64_t now)
{
    int counts[CF_EXEC_STATE_COUNT] = {0};
    int64_t end = cf_rh_job_end(j);
    json_t *o = json_object();

    cf_jobmaster_task_counts(j, counts);
    json_object_set_new(o, "jid", json_string(j->job_id_hex));
    json_object_set_new(o, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(o, "start-time", json_integer(j->start_ms));
    json_object_set_new(o, "end-time", json_integer(end));
    json_object_set_new(o, "duration",
                        json_integer(cf_rh_duration(j->start_ms, end, now)));
    json_object_set_new(o, "state",
                        json_string(cf_job_status_name(j->status)));
    json_object_set_new(o, "last-modification",
                        json_integer(cf_rh_last_modification(j)));
    json_object_set_new(o, "tasks", cf_rh_state_counts(counts, 1));
    json_object_set_new(o, "pending-operators", json_integer(0));
    return o;
}

static json_t *
cf_rh_plan(const cf_jobmaster_t *j)
{
    json_t *p = j->plan_json ? json_loads(j->plan_json, 0, NULL) : NULL;

    if (p == NULL) {
        p = json_object();
        json_object_set_new(p, "jid", json_string(j->job_id_hex));
        json_object_set_new(p, "name", json_string(j->name ? j->name : ""));
        json_object_set_new(p, "type", json_string("STREAMING"));
        json_object_set_new(p, "nodes", json_array());
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Cluster                                                             */
/* ------------------------------------------------------------------ */

static void
cf_rh_timezone(const char **name, int64_t *offset_ms, char *buf,
               size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    const char *tz = getenv("TZ");
    ssize_t n;

    tzset();
    localtime_r(&now, &tm);
    *offset_ms = (int64_t)tm.tm_gmtoff * 1000;
    if (tz && *tz) {
        snprintf(buf, size, "%s", tz[0] == ':' ? tz + 1 : tz);
        *name = buf;
        return;
    }
    n = readlink("/etc/localtime", buf, size - 1);
    if (n > 0) {
        const char *z;
        buf[n] = '\0';
        z = strstr(buf, "zoneinfo/");
        if (z) {
            memmove(buf, z + 9, strlen(z + 9) + 1);
            *name = buf;
            return;
        }
    }
    snprintf(buf, size, "%s", tm.tm_zone ? tm.tm_zone : "UTC");
    *name = buf;
}

static json_t *
cf_rh_config(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    json_t *o = json_object(), *f = json_object();
    char tzbuf[256], rev[128];
    const char *tzname;
    int64_t off;

    cf_rh_timezone(&tzname, &off, tzbuf, sizeof tzbuf);
    snprintf(rev, sizeof rev, "%s @ cflink %s", cf_rh_commit(), CF_VERSION);
    json_object_set_new(
        o, "refresh-interval",
        json_integer(cf_config_get_duration_ms(jm->cfg,
                                               "web.refresh-interval", 3000)));
    json_object_set_new(o, "timezone-name", json_string(tzname));
    json_object_set_new(o, "timezone-offset", json_integer(off));
    json_object_set_new(o, "flink-version",
                        json_string(CF_REST_FLINK_VERSION));
    json_object_set_new(o, "flink-revision", json_string(rev));
    json_object_set_new(
        f, "web-submit",
        json_boolean(cf_config_get_bool(jm->cfg, "web.submit.enable", 1)));
    json_object_set_new(
        f, "web-cancel",
        json_boolean(cf_config_get_bool(jm->cfg, "web.cancel.enable", 1)));
    /* Only the adaptive scheduler rescales (not implemented). */
    json_object_set_new(f, "web-rescale", json_false());
    json_object_set_new(f, "web-history", json_false());
    json_object_set_new(o, "features", f);
    *status = 200;
    return o;
}

static json_t *
cf_rh_overview(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    int running = 0, finished = 0, cancelled = 0, failed = 0;
    json_t *o = json_object();

    for (cf_jobmaster_t *j = cf_dispatcher_jobs(jm->dispatcher); j;
         j = j->next) {
        switch (j->status) {
        case CF_JOB_FINISHED:
            finished++;
            break;
        case CF_JOB_CANCELED:
            cancelled++;
            break;
        case CF_JOB_FAILED:
            failed++;
            break;
        default:
            running++;
        }
    }
    json_object_set_new(o, "taskmanagers",
                        json_integer(cf_rm_tm_count(jm->rm)));
    json_object_set_new(o, "slots-total",
                        json_integer(cf_rm_slots_total(jm->rm)));
    json_object_set_new(o, "slots-available",
                        json_integer(cf_rm_slots_free(jm->rm)));
    json_object_set_new(o, "jobs-running", json_integer(running));
    json_object_set_new(o, "jobs-finished", json_integer(finished));
    json_object_set_new(o, "jobs-cancelled", json_integer(cancelled));
    json_object_set_new(o, "jobs-failed", json_integer(failed));
    json_object_set_new(o, "flink-version",
                        json_string(CF_REST_FLINK_VERSION));
    json_object_set_new(o, "flink-commit", json_string(cf_rh_commit()));
    *status = 200;
    return o;
}

typedef struct cf_rh_cfg_ctx_s {
    json_t *arr;
} cf_rh_cfg_ctx_t;

static void
cf_rh_cfg_each(const char *key, const char *value, int is_set, void *ud)
{
    cf_rh_cfg_ctx_t *c = ud;
    json_t *e;

    if (!is_set)
        return;
    e = json_object();
    json_object_set_new(e, "key", json_string(key));
    json_object_set_new(e, "value",
                        json_string(cf_config_key_is_sensitive(key)
                                        ? CF_CONFIG_HIDDEN_VALUE
                                        : (value ? value : "")));
    json_array_append_new(c->arr, e);
}

static json_t *
cf_rh_jobmanager_config(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_rh_cfg_ctx_t c = {json_array()};

    cf_config_foreach(jm->cfg, cf_rh_cfg_each, &c);
    *status = 200;
    return c.arr;
}

/* ------------------------------------------------------------------ */
/* TaskManagers                                                        */
/* ------------------------------------------------------------------ */

static int
cf_rh_tm_free_slots(const cf_rm_tm_t *tm)
{
    int n = 0;

    for (int i = 0; i < tm->num_slots; i++)
        if (tm->slots[i].state == CF_SLOT_FREE)
            n++;
    return n;
}

static json_t *
cf_rh_resource(const cf_rm_tm_t *tm, int slots)
{
    json_t *r = json_object();
    double share = tm->num_slots > 0 ? (double)slots / tm->num_slots : 0;

    json_object_set_new(r, "cpuCores",
                        json_real((tm->cpu_cores > 0 ? tm->cpu_cores
                                                     : tm->num_slots) *
                                  share));
    json_object_set_new(r, "taskHeapMemory", json_integer(0));
    json_object_set_new(r, "taskOffHeapMemory", json_integer(0));
    json_object_set_new(
        r, "managedMemory",
        json_integer((int64_t)((double)tm->managed_memory * share) >> 20));
    json_object_set_new(
        r, "networkMemory",
        json_integer((int64_t)((double)tm->network_memory * share) >> 20));
    json_object_set_new(r, "extendedResources", json_object());
    return r;
}

static json_t *
cf_rh_tm_info(const cf_rm_tm_t *tm)
{
    json_t *o = json_object(), *hw = json_object(), *mem = json_object();
    int free_slots = cf_rh_tm_free_slots(tm);
    int64_t total = tm->network_memory + tm->managed_memory;
    char *path = cf_asprintf("cflink://%s", tm->rpc_peer ? tm->rpc_peer
                                                         : tm->host);

    json_object_set_new(o, "id", json_string(tm->resource_id));
    json_object_set_new(o, "path", json_string(path));
    cf_free(path);
    json_object_set_new(o, "dataPort", json_integer(tm->data_port));
    json_object_set_new(o, "jmxPort", json_integer(-1));
    json_object_set_new(o, "timeSinceLastHeartbeat",
                        json_integer(tm->last_heartbeat_ms));
    json_object_set_new(o, "slotsNumber", json_integer(tm->num_slots));
    json_object_set_new(o, "freeSlots", json_integer(free_slots));
    json_object_set_new(o, "totalResource",
                        cf_rh_resource(tm, tm->num_slots));
    json_object_set_new(o, "freeResource", cf_rh_resource(tm, free_slots));
    json_object_set_new(hw, "cpuCores", json_integer(tm->cpu_cores));
    json_object_set_new(hw, "physicalMemory",
                        json_integer(tm->physical_memory));
    json_object_set_new(hw, "freeMemory", json_integer(tm->physical_memory));
    json_object_set_new(hw, "managedMemory",
                        json_integer(tm->managed_memory));
    json_object_set_new(o, "hardware", hw);
    json_object_set_new(mem, "frameworkHeap", json_integer(0));
    json_object_set_new(mem, "taskHeap", json_integer(0));
    json_object_set_new(mem, "frameworkOffHeap", json_integer(0));
    json_object_set_new(mem, "taskOffHeap", json_integer(0));
    json_object_set_new(mem, "networkMemory",
                        json_integer(tm->network_memory));
    json_object_set_new(mem, "managedMemory",
                        json_integer(tm->managed_memory));
    json_object_set_new(mem, "jvmMetaspace", json_integer(0));
    json_object_set_new(mem, "jvmOverhead", json_integer(0));
    json_object_set_new(mem, "totalFlinkMemory", json_integer(total));
    json_object_set_new(mem, "totalProcessMemory", json_integer(total));
    json_object_set_new(o, "memoryConfiguration", mem);
    return o;
}

static json_t *
cf_rh_taskmanagers(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    json_t *o = json_object(), *arr = json_array();

    for (cf_rm_tm_t *tm = cf_rm_tms(jm->rm); tm; tm = tm->next)
        json_array_append_new(arr, cf_rh_tm_info(tm));
    json_object_set_new(o, "taskmanagers", arr);
    *status = 200;
    return o;
}

/* Flink's TaskManagerDetailsInfo allocatedSlots[].assignedTasks: the
 * tasks of the slot's job deployed to it and not yet ended. */
static int
cf_rh_slot_tasks(cf_jm_t *jm, const cf_rm_slot_t *slot)
{
    cf_jobmaster_t *j = jm->dispatcher != NULL
                            ? cf_dispatcher_find_job(jm->dispatcher,
                                                     &slot->job_id)
                            : NULL;
    int n = 0;

    for (int v = 0; j != NULL && v < j->nvertices; v++)
        for (int i = 0; i < j->vertices[v].parallelism; i++) {
            const cf_exec_vertex_t *ev = &j->vertices[v].subtasks[i];
            if (ev->tm_resource_id != NULL &&
                !cf_exec_state_is_terminal(ev->state) &&
                cf_id_equal(&ev->allocation_id, &slot->allocation_id))
                n++;
        }
    return n;
}

static json_t *
cf_rh_taskmanager(cf_rest_req_t *req, void *arg, int *status)
{
    static const char *const zero[] = {
        "heapUsed", "heapCommitted", "heapMax", "nonHeapUsed",
        "nonHeapCommitted", "nonHeapMax", "directCount", "directUsed",
        "directMax", "mappedCount", "mappedUsed", "mappedMax",
        "nettyShuffleMemorySegmentsAvailable",
        "nettyShuffleMemorySegmentsUsed", "nettyShuffleMemorySegmentsTotal",
        "nettyShuffleMemoryAvailable", "nettyShuffleMemoryUsed",
        "nettyShuffleMemoryTotal"};
    cf_jm_t *jm = arg;
    const char *id = req->nparams > 0 ? req->params[0] : "";
    cf_rm_tm_t *tm = cf_rm_find_tm(jm->rm, id);
    json_t *o, *m, *slots;

    if (tm == NULL)
        return cf_rest_error(status, 404, "Could not find TaskExecutor %s.",
                             id);
    o = cf_rh_tm_info(tm);
    m = json_object();
    for (size_t i = 0; i < CF_ARRAY_LEN(zero); i++)
        json_object_set_new(m, zero[i], json_integer(0));
    json_object_set_new(m, "nettyShuffleMemoryTotal",
                        json_integer(tm->network_memory));
    json_object_set_new(m, "nettyShuffleMemoryAvailable",
                        json_integer(tm->network_memory));
    json_object_set_new(m, "garbageCollectors", json_array());
    json_object_set_new(o, "metrics", m);
    slots = json_array();
    for (int i = 0; i < tm->num_slots; i++) {
        char hex[CF_ID_HEX_LEN + 1];
        json_t *s;
        if (tm->slots[i].state == CF_SLOT_FREE)
            continue;
        cf_id_to_hex(&tm->slots[i].job_id, hex);
        s = json_object();
        json_object_set_new(s, "jobId", json_string(hex));
        json_object_set_new(
            s, "assignedTasks",
            json_integer(cf_rh_slot_tasks(jm, &tm->slots[i])));
        json_object_set_new(s, "resource", cf_rh_resource(tm, 1));
        json_array_append_new(slots, s);
    }
    json_object_set_new(o, "allocatedSlots", slots);
    *status = 200;
    return o;
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

/* {"jobs": [one(j, now) for every job]}, status 200. */
static json_t *
cf_rh_job_list(cf_jm_t *jm, int *status,
               json_t *(*one)(const cf_jobmaster_t *j, int64_t now))
{
    json_t *o = json_object(), *arr = json_array();
    int64_t now = cf_now_ms();

    for (cf_jobmaster_t *j = cf_dispatcher_jobs(jm->dispatcher); j;
         j = j->next)
        json_array_append_new(arr, one(j, now));
    json_object_set_new(o, "jobs", arr);
    *status = 200;
    return o;
}

/* A job's id and status (GET /jobs). */
static json_t *
cf_rh_job_id_status(const cf_jobmaster_t *j, int64_t now)
{
    json_t *e = json_object();

    (void)now;
    json_object_set_new(e, "id", json_string(j->job_id_hex));
    json_object_set_new(e, "status",
                        json_string(cf_job_status_name(j->status)));
    return e;
}

static json_t *
cf_rh_jobs(cf_rest_req_t *req, void *arg, int *status)
{
    return cf_rh_job_list(arg, status, cf_rh_job_id_status);
}

static json_t *
cf_rh_jobs_overview(cf_rest_req_t *req, void *arg, int *status)
{
    return cf_rh_job_list(arg, status, cf_rh_job_details);
}

static json_t *
cf_rh_job_info(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    json_t *err = NULL, *o, *ts, *vs, *sc;
    cf_jobmaster_t *j = cf_rest_job_param(jm, req, 0, status, &err);
    int vcounts[CF_EXEC_STATE_COUNT] = {0};
    int64_t now = cf_now_ms(), end;
    char ssg[CF_ID_HEX_LEN + 1];

    if (j == NULL)
        return err;
    end = cf_rh_job_end(j);
    o = json_object();
    json_object_set_new(o, "jid", json_string(j->job_id_hex));
    json_object_set_new(o, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(o, "isStoppable", json_false());
    json_object_set_new(o, "state",
                        json_string(cf_job_status_name(j->status)));
    json_object_set_new(o, "job-type", json_string("STREAMING"));
    json_object_set_new(o, "start-time", json_integer(j->start_ms));
    json_object_set_new(o, "end-time", json_integer(end));
    json_object_set_new(o, "duration",
                        json_integer(cf_rh_duration(j->start_ms, end, now)));
    json_object_set_new(o, "maxParallelism", json_integer(-1));
    json_object_set_new(o, "now", json_integer(now));
    ts = json_object();
    for (int s = 0; s < CF_JOB_STATUS_COUNT; s++)
        json_object_set_new(ts, cf_job_status_name((cf_job_status_t)s),
                            json_integer(j->status_ts[s]));
    json_object_set_new(o, "timestamps", ts);
    /* One slot sharing group per job (Flink's "default" group). */
    {
        cf_id_t g;
        cf_murmur3_128(j->job_id.b, sizeof j->job_id.b, 0x5106u, g.b);
        cf_id_to_hex(&g, ssg);
    }
    vs = json_array();
    for (int v = 0; v < j->nvertices; v++) {
        const cf_ejv_t *ejv = &j->vertices[v];
        cf_rh_vstat_t st;
        json_t *e = json_object();
        cf_rh_vertex_stat(ejv, &st);
        vcounts[st.state]++;
        json_object_set_new(e, "id", json_string(ejv->id_hex));
        json_object_set_new(e, "slotSharingGroupId",
                            json_string(ssg));
        json_object_set_new(e, "name",
                            json_string(ejv->name ? ejv->name : ""));
        json_object_set_new(e, "maxParallelism",
                            json_integer(ejv->max_parallelism));
        json_object_set_new(e, "parallelism",
                            json_integer(ejv->parallelism));
        json_object_set_new(e, "status",
                            json_string(cf_exec_state_name(st.state)));
        json_object_set_new(e, "start-time", json_integer(st.start));
        json_object_set_new(e, "end-time", json_integer(st.end));
        json_object_set_new(
            e, "duration", json_integer(cf_rh_duration(st.start, st.end, now)));
        json_object_set_new(e, "tasks", cf_rh_state_counts(st.counts, 0));
        json_object_set_new(e, "metrics",
                            cf_rest_io_metrics(st.bytes_in, st.bytes_out,
                                             st.rec_in, st.rec_out,
                                             st.complete, &st.times));
        json_array_append_new(vs, e);
    }
    json_object_set_new(o, "vertices", vs);
    sc = cf_rh_state_counts(vcounts, 0);
    json_object_set_new(o, "status-counts", sc);
    json_object_set_new(o, "plan", cf_rh_plan(j));
    json_object_set_new(o, "pending-operators", json_integer(0));
    *status = 200;
    return o;
}

static json_t *
cf_rh_job_plan(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);

    if (j == NULL)
        return err;
    o = json_object();
    json_object_set_new(o, "plan", cf_rh_plan(j));
    *status = 200;
    return o;
}

static json_t *
cf_rh_job_status(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);

    if (j == NULL)
        return err;
    o = json_object();
    json_object_set_new(o, "status",
                        json_string(cf_job_status_name(j->status)));
    *status = 200;
    return o;
}

static json_t *
cf_rh_job_config(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o, *ec;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);
    cf_restart_t *r;
    cf_error_t *e = NULL;

    if (j == NULL)
        return err;
    o = json_object();
    ec = json_object();
    json_object_set_new(o, "jid", json_string(j->job_id_hex));
    json_object_set_new(o, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(ec, "execution-mode", json_string("PIPELINED"));
    r = cf_restart_new(j->job_cfg ? j->job_cfg
                                  : ((cf_jm_t *)arg)->cfg,
                       &e);
    if (r) {
        json_object_set_new(ec, "restart-strategy",
                            json_string(cf_restart_describe(r)));
        cf_restart_destroy(r);
    } else {
        json_object_set_new(ec, "restart-strategy",
                            json_string(cf_error_msg(e)));
        cf_error_free(e);
    }
    json_object_set_new(ec, "job-parallelism", json_integer(j->parallelism));
    json_object_set_new(ec, "object-reuse-mode", json_false());
    json_object_set_new(ec, "user-config", json_object());
    json_object_set_new(o, "execution-config", ec);
    *status = 200;
    return o;
}

static json_t *
cf_rh_exception_entry(const cf_job_exception_t *x, int history)
{
    json_t *e = json_object();
    const char *msg = x->exception ? x->exception : "";
    char *cls;

    if (!history) {
        /* 1.x all-exceptions element. */
        json_object_set_new(e, "exception", json_string(msg));
        json_object_set_new(e, "task",
                            json_string(x->task_name ? x->task_name : ""));
        json_object_set_new(e, "location",
                            json_string(x->location ? x->location
                                                    : "(unassigned)"));
        json_object_set_new(e, "timestamp", json_integer(x->timestamp));
        json_object_set_new(e, "taskManagerId",
                            json_string(x->tm_id ? x->tm_id
                                                 : "(unassigned)"));
        return e;
    }
    cls = cf_rh_exception_class(msg, "org.apache.flink.util.FlinkException");
    json_object_set_new(e, "exceptionName", json_string(cls));
    cf_free(cls);
    json_object_set_new(e, "stacktrace", json_string(msg));
    json_object_set_new(e, "timestamp", json_integer(x->timestamp));
    if (x->task_name)
        json_object_set_new(e, "taskName", json_string(x->task_name));
    if (x->location)
        json_object_set_new(e, "endpoint", json_string(x->location));
    if (x->tm_id)
        json_object_set_new(e, "taskManagerId", json_string(x->tm_id));
    json_object_set_new(e, "failureLabels", json_object());
    json_object_set_new(e, "concurrentExceptions", json_array());
    return e;
}

static json_t *
cf_rh_job_exceptions(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o, *all, *hist, *entries;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);
    const char *q = cf_rest_query(req, "maxExceptions");
    const cf_job_exception_t *x;
    long max = CF_REST_MAX_EXCEPTIONS_DEFAULT;
    int n = 0, truncated = 0;

    if (j == NULL)
        return err;
    if (q) {
        char *end;
        errno = 0;
        max = strtol(q, &end, 10);
        if (*q == '\0' || *end || errno || max < 0)
            return cf_rest_metrics_bad_query(status, "maxExceptions", q);
    }
    o = json_object();
    all = json_array();
    entries = json_array();
    for (x = j->exceptions; x; x = x->next) {
        if (n >= max) {
            truncated = 1;
            break;
        }
        json_array_append_new(entries, cf_rh_exception_entry(x, 1));
        if (x->task_name)
            json_array_append_new(all, cf_rh_exception_entry(x, 0));
        n++;
    }
    if (j->exceptions || j->failure) {
        const char *root = j->failure ? j->failure : j->exceptions->exception;
        json_object_set_new(o, "root-exception",
                            json_string(root ? root : ""));
        json_object_set_new(
            o, "timestamp",
            json_integer(j->exceptions ? j->exceptions->timestamp
                                       : j->status_ts[CF_JOB_FAILED]));
    } else {
        json_object_set_new(o, "root-exception", json_null());
        json_object_set_new(o, "timestamp", json_null());
    }
    json_object_set_new(o, "all-exceptions", all);
    json_object_set_new(o, "truncated", json_boolean(truncated));
    hist = json_object();
    json_object_set_new(hist, "entries", entries);
    json_object_set_new(hist, "truncated", json_boolean(truncated));
    json_object_set_new(o, "exceptionHistory", hist);
    *status = 200;
    return o;
}

static json_t *
cf_rh_job_result(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o, *st, *r;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);
    const char *app;
    int64_t end;

    if (j == NULL)
        return err;
    o = json_object();
    st = json_object();
    *status = 200;
    if (!cf_job_status_is_globally_terminal(j->status)) {
        json_object_set_new(st, "id", json_string("IN_PROGRESS"));
        json_object_set_new(o, "status", st);
        return o;
    }
    json_object_set_new(st, "id", json_string("COMPLETED"));
    json_object_set_new(o, "status", st);
    switch (j->status) {
    case CF_JOB_FINISHED:
        app = "SUCCEEDED";
        break;
    case CF_JOB_FAILED:
        app = "FAILED";
        break;
    case CF_JOB_CANCELED:
        app = "CANCELED";
        break;
    default:
        app = "UNKNOWN";
    }
    end = j->end_ms > 0 ? j->end_ms : cf_now_ms();
    r = json_object();
    json_object_set_new(r, "id", json_string(j->job_id_hex));
    json_object_set_new(r, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(r, "application-status", json_string(app));
    json_object_set_new(r, "accumulator-results", json_object());
    json_object_set_new(r, "net-runtime", json_integer(end - j->start_ms));
    json_object_set_new(r, "start-time", json_integer(j->start_ms));
    json_object_set_new(r, "end-time", json_integer(end));
    if (j->status == CF_JOB_FAILED) {
        const char *msg =
            j->failure ? j->failure
                       : (j->exceptions && j->exceptions->exception
                              ? j->exceptions->exception
                              : "The job failed.");
        json_t *fc = json_object();
        char *cls = cf_rh_exception_class(
            msg, "org.apache.flink.runtime.JobException");
        char *b64 = cf_rest_base64(msg);
        json_object_set_new(fc, "class", json_string(cls));
        json_object_set_new(fc, "stack-trace", json_string(msg));
        json_object_set_new(fc, "serialized-throwable", json_string(b64));
        json_object_set_new(r, "failure-cause", fc);
        cf_free(cls);
        cf_free(b64);
    }
    json_object_set_new(o, "job-execution-result", r);
    return o;
}

/* The vertex of path parameter 1 of job j, or NULL with *err set. */
static cf_ejv_t *
cf_rh_vertex(cf_jobmaster_t *j, const cf_rest_req_t *req, int *status,
             json_t **err)
{
    const char *vid = req->nparams > 1 ? req->params[1] : "";
    char low[CF_ID_HEX_LEN + 1];
    cf_ejv_t *v;

    if (!cf_rest_is_hex32(vid)) {
        *err = cf_rest_bad_path_param(status, "vertexid", vid);
        return NULL;
    }
    cf_rh_lower(vid, low, sizeof low);
    v = cf_jobmaster_find_vertex(j, low);
    if (v == NULL)
        *err = cf_rest_error(status, 404, "JobVertex %s not found", low);
    return v;
}

/* The job (path parameter 0) and its vertex (parameter 1) of a request;
 * NULL with *err the error response when either is not found. */
static cf_ejv_t *
cf_rh_req_vertex(void *arg, const cf_rest_req_t *req, int *status,
                 json_t **err)
{
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, err);

    return j != NULL ? cf_rh_vertex(j, req, status, err) : NULL;
}

/* A vertex's response object, with its "id" and "name". */
static json_t *
cf_rh_vertex_head(const cf_ejv_t *v)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(v->id_hex));
    json_object_set_new(o, "name", json_string(v->name ? v->name : ""));
    return o;
}

/* Where a subtask runs: "host:data port", or "(unassigned)". */
static char *
cf_rh_endpoint(const cf_exec_vertex_t *ev)
{
    return ev->tm_host ? cf_asprintf("%s:%d", ev->tm_host, ev->tm_data_port)
                       : cf_strdup("(unassigned)");
}

/* A subtask's state timestamps, by state name. */
static json_t *
cf_rh_timestamps(const cf_exec_vertex_t *ev)
{
    json_t *ts = json_object();

    for (int k = 0; k < CF_EXEC_STATE_COUNT; k++)
        json_object_set_new(ts, cf_exec_state_name((cf_exec_state_t)k),
                            json_integer(ev->state_ts[k]));
    return ts;
}

/* Time spent in each state before RUNNING (Flink's status-duration). */
static json_t *
cf_rh_status_duration(const cf_exec_vertex_t *ev, int64_t now)
{
    static const cf_exec_state_t seq[] = {
        CF_EXEC_CREATED, CF_EXEC_SCHEDULED, CF_EXEC_DEPLOYING,
        CF_EXEC_INITIALIZING, CF_EXEC_RUNNING};
    json_t *o = json_object();

    for (size_t i = 0; i < CF_ARRAY_LEN(seq); i++) {
        int64_t start = ev->state_ts[seq[i]], end = 0;
        if (start <= 0) {
            json_object_set_new(o, cf_exec_state_name(seq[i]),
                                json_integer(-1));
            continue;
        }
        for (size_t k = i + 1; k < CF_ARRAY_LEN(seq) && end <= 0; k++)
            end = ev->state_ts[seq[k]];
        if (end <= 0)
            end = cf_rh_subtask_end(ev);
        if (end <= 0)
            end = now;
        json_object_set_new(o, cf_exec_state_name(seq[i]),
                            json_integer(end - start));
    }
    return o;
}

static json_t *
cf_rh_subtask(const cf_exec_vertex_t *ev, int64_t now)
{
    json_t *s = json_object();
    int64_t st = cf_rh_subtask_start(ev), en = cf_rh_subtask_end(ev);
    char *ep = cf_rh_endpoint(ev);

    json_object_set_new(s, "subtask", json_integer(ev->subtask));
    json_object_set_new(s, "status",
                        json_string(cf_exec_state_name(ev->state)));
    json_object_set_new(s, "attempt", json_integer(ev->attempt));
    json_object_set_new(s, "endpoint", json_string(ep));
    json_object_set_new(s, "host", json_string(ep));
    cf_free(ep);
    json_object_set_new(s, "start-time", json_integer(st));
    json_object_set_new(s, "start_time", json_integer(st));
    json_object_set_new(s, "end-time", json_integer(en));
    json_object_set_new(s, "duration",
                        json_integer(cf_rh_duration(st, en, now)));
    json_object_set_new(s, "metrics",
                        cf_rest_io_metrics(ev->bytes_in, ev->bytes_out,
                                         ev->records_in, ev->records_out,
                                         cf_exec_state_is_terminal(ev->state),
                                         &ev->times));
    json_object_set_new(s, "taskmanager-id",
                        json_string(ev->tm_resource_id ? ev->tm_resource_id
                                                       : "(unassigned)"));
    json_object_set_new(s, "status-duration",
                        cf_rh_status_duration(ev, now));
    json_object_set_new(s, "timestamps", cf_rh_timestamps(ev));
    return s;
}

static json_t *
cf_rh_vertex_info(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL, *o, *subs;
    cf_ejv_t *v = cf_rh_req_vertex(arg, req, status, &err);
    int64_t now = cf_now_ms();

    if (v == NULL)
        return err;
    o = cf_rh_vertex_head(v);
    json_object_set_new(o, "parallelism", json_integer(v->parallelism));
    json_object_set_new(o, "maxParallelism",
                        json_integer(v->max_parallelism));
    json_object_set_new(o, "now", json_integer(now));
    subs = json_array();
    for (int i = 0; i < v->parallelism; i++)
        json_array_append_new(subs, cf_rh_subtask(&v->subtasks[i], now));
    json_object_set_new(o, "subtasks", subs);
    json_object_set_new(o, "aggregated",
                        cf_rest_vertex_aggregated(v, NULL, v->parallelism,
                                                  now));
    *status = 200;
    return o;
}

/* ------------------------------------------------------------------ */
/* Task metrics and watermarks                                         */
/* ------------------------------------------------------------------ */

/*
 * cflink has no metrics system: the JobMaster keeps a few task figures
 * per subtask from the TaskManagers' reports, and these endpoints serve
 * them as Flink's MetricStore would. A subtask's metrics exist once a
 * report carried them (its attempt deployed on a TaskManager that sends
 * them); before that Flink's store has no entry, so the subtask is left
 * out rather than shown with a made-up value. Values are strings, as
 * Flink's metric store keeps gauges and counters, formatted as Java
 * does (Long.toString, Double.toString: "12.5", "1000.0", "1.5E7").
 * Metric names (Flink's task-level MetricNames):
 *  - currentInputWatermark: Flink's task-level gauge (Long.MIN_VALUE,
 *    "-9223372036854775808", before the first watermark);
 *  - numLateRecordsDropped: in Flink a counter of each window operator
 *    ("<operator>.numLateRecordsDropped"); cflink knows only the task's
 *    sum over its window operators and serves it at task level;
 *  - numRecordsIn, numRecordsOut, numBytesIn, numBytesOut (counters) and
 *    their meters numRecordsInPerSecond & co. (doubles), once the attempt
 *    reported; the rates come from successive reports at least a second
 *    apart (cf_task_rates_feed) and are 0 before two such reports and
 *    once the attempt is terminal;
 *  - busyTimeMsPerSecond (a double in Flink), backPressuredTimeMsPerSecond
 *    and idleTimeMsPerSecond (longs in Flink: TimerGauge), and the
 *    accumulated ms since RUNNING accumulatedBusyTime (double),
 *    accumulatedBackpressuredTime and accumulatedIdleTime (longs), once a
 *    report carried the task's times (not for a task that is not
 *    measured: Flink's busy time would be NaN there).
 * Like Flink's AbstractMetricsHandler, the metrics endpoints answer an
 * unknown job, vertex or subtask with an empty array (only a malformed
 * id is a 400); /watermarks is a job vertex handler and answers 404.
 */
enum {
    CF_RH_AVAIL_ET,    /* a report carried the event-time figures */
    CF_RH_AVAIL_REP,   /* a report of the attempt arrived */
    CF_RH_AVAIL_TIMES, /* a report carried the task's times */
};

static const struct {
    const char *name;
    int avail; /* CF_RH_AVAIL_* */
    int dbl;   /* a double in Flink, else a long */
} cf_rh_task_metrics[] = {
    {"currentInputWatermark", CF_RH_AVAIL_ET, 0},
    {"numLateRecordsDropped", CF_RH_AVAIL_ET, 0},
    {"numRecordsIn", CF_RH_AVAIL_REP, 0},
    {"numRecordsOut", CF_RH_AVAIL_REP, 0},
    {"numBytesIn", CF_RH_AVAIL_REP, 0},
    {"numBytesOut", CF_RH_AVAIL_REP, 0},
    {"numRecordsInPerSecond", CF_RH_AVAIL_REP, 1},
    {"numRecordsOutPerSecond", CF_RH_AVAIL_REP, 1},
    {"numBytesInPerSecond", CF_RH_AVAIL_REP, 1},
    {"numBytesOutPerSecond", CF_RH_AVAIL_REP, 1},
    {"busyTimeMsPerSecond", CF_RH_AVAIL_TIMES, 1},
    {"backPressuredTimeMsPerSecond", CF_RH_AVAIL_TIMES, 0},
    {"idleTimeMsPerSecond", CF_RH_AVAIL_TIMES, 0},
    {"accumulatedBusyTime", CF_RH_AVAIL_TIMES, 1},
    {"accumulatedBackpressuredTime", CF_RH_AVAIL_TIMES, 0},
    {"accumulatedIdleTime", CF_RH_AVAIL_TIMES, 0},
};
#define CF_RH_NTASK_METRICS ((int)CF_ARRAY_LEN(cf_rh_task_metrics))
/* "-9223372036854775808", "-1.2345678901234567E-308" and a NUL. */
#define CF_RH_METRIC_VALUE_LEN 32

/* Whether subtask ev has metric m. */
static int
cf_rh_task_metric_has(const cf_exec_vertex_t *ev, int m)
{
    switch (cf_rh_task_metrics[m].avail) {
    case CF_RH_AVAIL_ET: return ev->has_event_time;
    case CF_RH_AVAIL_REP: return ev->reported;
    default: return ev->has_times;
    }
}

/* Metric m of ev (which has it): a long in *i, or a double in *d. */
static void
cf_rh_task_metric_get(const cf_exec_vertex_t *ev, int m, int64_t *i,
                      double *d)
{
    *i = 0;
    *d = 0;
    switch (m) {
    case 0: *i = ev->input_watermark; break;
    case 1: *i = (int64_t)ev->late_records_dropped; break;
    case 2: *i = ev->records_in; break;
    case 3: *i = ev->records_out; break;
    case 4: *i = ev->bytes_in; break;
    case 5: *i = ev->bytes_out; break;
    case 6: *d = cf_jobmaster_rate(ev, CF_RATE_RECORDS_IN); break;
    case 7: *d = cf_jobmaster_rate(ev, CF_RATE_RECORDS_OUT); break;
    case 8: *d = cf_jobmaster_rate(ev, CF_RATE_BYTES_IN); break;
    case 9: *d = cf_jobmaster_rate(ev, CF_RATE_BYTES_OUT); break;
    case 10: *d = cf_jobmaster_rate(ev, CF_RATE_BUSY); break;
    /* Flink's TimerGauge rounds down to a long. */
    case 11: *i = (int64_t)cf_jobmaster_rate(ev, CF_RATE_BACKPRESSURED); break;
    case 12: *i = (int64_t)cf_jobmaster_rate(ev, CF_RATE_IDLE); break;
    case 13: *d = (double)ev->times.busy_ms; break;
    case 14: *i = (int64_t)ev->times.back_pressured_ms; break;
    case 15: *i = (int64_t)ev->times.idle_ms; break;
    default: break;
    }
}

/* Metric m of ev as a number (for agg). */
static double
cf_rh_task_metric_num(const cf_exec_vertex_t *ev, int m)
{
    int64_t i;
    double d;

    cf_rh_task_metric_get(ev, m, &i, &d);
    return cf_rh_task_metrics[m].dbl ? d : (double)i;
}

/* d as Java's Double.toString writes it (what Flink's metric store keeps
 * for a Double gauge): the shortest digits that read back as d, plain
 * with at least one fraction digit for 1e-3 <= |d| < 1e7, else
 * "d.dddE<exp>". */
static void
cf_rh_java_double(double d, char *buf, size_t size)
{
    char tmp[40], dig[24], *o = buf, *e = buf + size - 1;
    const char *q;
    int nd = 0, exp, p;

    if (isnan(d)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (d == 0) {
        snprintf(buf, size, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    for (p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    q = tmp;
    if (*q == '-' && o < e)
        *o++ = *q++;
    for (; *q != '\0' && *q != 'e'; q++)
        if (isdigit((unsigned char)*q) && nd < (int)sizeof dig - 1)
            dig[nd++] = *q;
    exp = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
#define CF_RH_PUT(c)                                                         \
    do {                                                                     \
        if (o < e)                                                           \
            *o++ = (c);                                                      \
    } while (0)
    if (exp >= -3 && exp < 7) {
        if (exp < 0) {
            CF_RH_PUT('0');
            CF_RH_PUT('.');
            for (int z = 0; z < -exp - 1; z++)
                CF_RH_PUT('0');
            for (int k = 0; k < nd; k++)
                CF_RH_PUT(dig[k]);
        } else {
            for (int k = 0; k <= exp; k++)
                CF_RH_PUT(k < nd ? dig[k] : '0');
            CF_RH_PUT('.');
            if (nd <= exp + 1)
                CF_RH_PUT('0');
            for (int k = exp + 1; k < nd; k++)
                CF_RH_PUT(dig[k]);
        }
        *o = '\0';
    } else {
        CF_RH_PUT(dig[0]);
        CF_RH_PUT('.');
        if (nd == 1)
            CF_RH_PUT('0');
        for (int k = 1; k < nd; k++)
            CF_RH_PUT(dig[k]);
        *o = '\0';
        snprintf(o, (size_t)(e - o) + 1, "E%d", exp);
    }
#undef CF_RH_PUT
}

/* Metric m of subtask ev as Flink's string in buf; 0 when the subtask
 * has not reported it. */
static int
cf_rh_task_metric(const cf_exec_vertex_t *ev, int m, char *buf, size_t size)
{
    int64_t i;
    double d;

    if (!cf_rh_task_metric_has(ev, m))
        return 0;
    cf_rh_task_metric_get(ev, m, &i, &d);
    if (cf_rh_task_metrics[m].dbl)
        cf_rh_java_double(d, buf, size);
    else
        snprintf(buf, size, "%" PRId64, i);
    return 1;
}

/* The index of metric name (len bytes) in cf_rh_task_metrics, or -1. */
static int
cf_rh_task_metric_find(const char *name, size_t len)
{
    for (int m = 0; m < CF_RH_NTASK_METRICS; m++)
        if (strlen(cf_rh_task_metrics[m].name) == len &&
            memcmp(cf_rh_task_metrics[m].name, name, len) == 0)
            return m;
    return -1;
}

/* The next comma-separated token of *p (possibly empty), or NULL at the
 * end; *len gets its length. Flink splits query values on ',' alone. */
static const char *
cf_rh_token(const char **p, size_t *len)
{
    const char *s = *p, *c;

    if (s == NULL)
        return NULL;
    c = strchr(s, ',');
    *len = c ? (size_t)(c - s) : strlen(s);
    *p = c ? c + 1 : NULL;
    return s;
}

/* Whether the token tok (len bytes) appears before it in list (Flink
 * collects the requested names into a set). */
static int
cf_rh_token_seen(const char *list, const char *tok, size_t len)
{
    const char *p = list, *t;
    size_t n;

    while ((t = cf_rh_token(&p, &n)) != NULL && t < tok)
        if (n == len && memcmp(t, tok, len) == 0)
            return 1;
    return 0;
}

static json_t *
cf_rh_metric_value(const char *id, size_t len, const char *value)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_stringn(id, len));
    json_object_set_new(o, "value", json_string(value));
    return o;
}

json_t *
cf_rest_watermarks_dto(const cf_ejv_t *v)
{
    json_t *a = json_array();
    char val[CF_RH_METRIC_VALUE_LEN], id[64];

    for (int i = 0; i < v->parallelism; i++) {
        if (!cf_rh_task_metric(&v->subtasks[i], 0, val, sizeof val))
            continue;
        snprintf(id, sizeof id, "%d.%s", i, cf_rh_task_metrics[0].name);
        json_array_append_new(a, cf_rh_metric_value(id, strlen(id), val));
    }
    return a;
}

/* Vertex metric id tok ("<subtask>.<name>", len bytes): the subtask and
 * metric index, or 0 when it names no metric of v (Flink's task metric
 * store keys: a canonical decimal index, no sign, no leading zero). */
static int
cf_rh_vertex_metric_parse(const cf_ejv_t *v, const char *tok, size_t len,
                          int *sub, int *m)
{
    size_t i = 0;
    long k = 0;

    while (i < len && tok[i] >= '0' && tok[i] <= '9' && i < 10)
        k = k * 10 + (tok[i++] - '0');
    if (i == 0 || i >= len || tok[i] != '.' || (tok[0] == '0' && i > 1) ||
        k >= v->parallelism)
        return 0;
    *sub = (int)k;
    *m = cf_rh_task_metric_find(tok + i + 1, len - i - 1);
    return *m >= 0;
}

json_t *
cf_rest_vertex_metrics_dto(const cf_ejv_t *v, const char *get)
{
    json_t *a = json_array();
    char val[CF_RH_METRIC_VALUE_LEN], id[64];
    const char *p = get, *tok;
    size_t len;
    int sub, m;

    if (get == NULL || get[0] == '\0') { /* the available ids */
        for (int i = 0; i < v->parallelism; i++)
            for (m = 0; m < CF_RH_NTASK_METRICS; m++) {
                json_t *o;
                if (!cf_rh_task_metric_has(&v->subtasks[i], m))
                    continue;
                snprintf(id, sizeof id, "%d.%s", i,
                         cf_rh_task_metrics[m].name);
                o = json_object();
                json_object_set_new(o, "id", json_string(id));
                json_array_append_new(a, o);
            }
        return a;
    }
    while ((tok = cf_rh_token(&p, &len)) != NULL)
        if (!cf_rh_token_seen(get, tok, len) &&
            cf_rh_vertex_metric_parse(v, tok, len, &sub, &m) &&
            cf_rh_task_metric(&v->subtasks[sub], m, val, sizeof val))
            json_array_append_new(a, cf_rh_metric_value(tok, len, val));
    return a;
}

json_t *
cf_rest_subtask_metrics_dto(const cf_exec_vertex_t *ev, const char *get)
{
    json_t *a = json_array();
    char val[CF_RH_METRIC_VALUE_LEN];
    const char *p = get, *tok;
    size_t len;
    int m;

    if (get == NULL || get[0] == '\0') {
        for (m = 0; m < CF_RH_NTASK_METRICS; m++)
            if (cf_rh_task_metric_has(ev, m)) {
                json_t *o = json_object();
                json_object_set_new(o, "id",
                                    json_string(cf_rh_task_metrics[m].name));
                json_array_append_new(a, o);
            }
        return a;
    }
    while ((tok = cf_rh_token(&p, &len)) != NULL)
        if (!cf_rh_token_seen(get, tok, len) &&
            (m = cf_rh_task_metric_find(tok, len)) >= 0 &&
            cf_rh_task_metric(ev, m, val, sizeof val))
            json_array_append_new(a, cf_rh_metric_value(tok, len, val));
    return a;
}

/* The "subtasks" query value ("1,3,5-9"; NULL or empty: all) into sel
 * (n entries); -1 when malformed. Indices beyond n select nothing, as
 * Flink's handler finds no store for them. */
static int
cf_rh_parse_subtasks(const char *spec, unsigned char *sel, int n)
{
    const char *p = spec, *tok;
    size_t len;

    if (spec == NULL || spec[0] == '\0') {
        memset(sel, 1, (size_t)n);
        return 0;
    }
    memset(sel, 0, (size_t)n);
    while ((tok = cf_rh_token(&p, &len)) != NULL) {
        char buf[32], *end;
        long lo, hi;

        if (len == 0 || len >= sizeof buf)
            return -1;
        memcpy(buf, tok, len);
        buf[len] = '\0';
        errno = 0;
        lo = strtol(buf, &end, 10);
        hi = lo;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (errno != 0 || *end != '\0' || end == buf || lo < 0 || hi < lo ||
            !isdigit((unsigned char)buf[0]))
            return -1;
        for (long k = lo; k <= hi && k < n; k++)
            sel[k] = 1;
    }
    return 0;
}

json_t *
cf_rest_subtasks_metrics_dto(const cf_ejv_t *v, const char *get,
                             const char *agg, const char *subtasks,
                             int *status)
{
    int mask = cf_rest_metrics_parse_agg(agg), n = v->parallelism;
    unsigned char *sel;
    double *x;
    json_t *a;
    const char *p = get, *tok;
    size_t len;

    if (mask < 0)
        return cf_rest_metrics_bad_query(status, "agg", agg);
    sel = cf_malloc((size_t)n + 1);
    if (cf_rh_parse_subtasks(subtasks, sel, n) < 0) {
        cf_free(sel);
        return cf_rest_metrics_bad_query(status, "subtasks", subtasks);
    }
    *status = 200;
    a = json_array();
    if (get == NULL || get[0] == '\0') { /* union of the subtasks' ids */
        for (int m = 0; m < CF_RH_NTASK_METRICS; m++)
            for (int i = 0; i < n; i++)
                if (sel[i] && cf_rh_task_metric_has(&v->subtasks[i], m)) {
                    json_t *o = json_object();
                    json_object_set_new(
                        o, "id", json_string(cf_rh_task_metrics[m].name));
                    json_array_append_new(a, o);
                    break;
                }
        cf_free(sel);
        return a;
    }
    x = cf_malloc(((size_t)n + 1) * sizeof *x);
    while ((tok = cf_rh_token(&p, &len)) != NULL) {
        int m = cf_rh_task_metric_find(tok, len), k = 0;

        for (int i = 0; m >= 0 && i < n; i++) {
            const cf_exec_vertex_t *ev = &v->subtasks[i];
            if (sel[i] && cf_rh_task_metric_has(ev, m))
                x[k++] = cf_rh_task_metric_num(ev, m);
        }
        /* Flink: a requested metric no subtask has empties the answer. */
        if (k == 0) {
            json_array_clear(a);
            break;
        }
        /* m >= 0: tok is the name of a known metric. */
        json_array_append_new(a,
                              cf_rest_metrics_aggregate(
                                  cf_rh_task_metrics[m].name, x, (size_t)k,
                                  mask));
    }
    cf_free(x);
    cf_free(sel);
    return a;
}

/* The job and vertex of a metrics request: NULL with *err NULL when
 * either is unknown (Flink: no metric store, an empty array), with *err
 * the 400 when an id is malformed. */
static cf_ejv_t *
cf_rh_metrics_vertex(void *arg, const cf_rest_req_t *req, int *status,
                     json_t **err)
{
    cf_ejv_t *v = cf_rh_req_vertex(arg, req, status, err);

    if (v == NULL && *status == 404) {
        json_decref(*err);
        *err = NULL;
    }
    return v;
}

static json_t *
cf_rh_vertex_watermarks(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_ejv_t *v = cf_rh_req_vertex(arg, req, status, &err);

    if (v == NULL)
        return err;
    *status = 200;
    return cf_rest_watermarks_dto(v);
}

static json_t *
cf_rh_vertex_metrics(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_ejv_t *v = cf_rh_metrics_vertex(arg, req, status, &err);

    if (v == NULL && err != NULL)
        return err;
    *status = 200;
    return v ? cf_rest_vertex_metrics_dto(v, cf_rest_query(req, "get"))
             : json_array();
}

/* GET .../vertices/:vid/jm-operator-metrics: the metrics of the
 * vertex's operator coordinators on the JobManager (Flink's
 * JobVertexMetricsHandler over the JM operator scope); cflink's
 * operators have no coordinators, so a bare empty array. */
static json_t *
cf_rh_jm_operator_metrics(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_ejv_t *v = cf_rh_metrics_vertex(arg, req, status, &err);

    if (v == NULL && err != NULL)
        return err;
    *status = 200;
    return json_array();
}

static json_t *
cf_rh_subtasks_metrics(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_ejv_t *v = cf_rh_metrics_vertex(arg, req, status, &err);
    static const cf_ejv_t none = {.parallelism = 0};

    if (v == NULL && err != NULL)
        return err;
    /* Unknown vertex: the query parameters are still checked. */
    return cf_rest_subtasks_metrics_dto(v ? v : &none,
                                        cf_rest_query(req, "get"),
                                        cf_rest_query(req, "agg"),
                                        cf_rest_query(req, "subtasks"),
                                        status);
}

/* Flink's SubtaskIndexPathParameter and SubtaskAttemptPathParameter: an
 * int, not negative; -1 otherwise. */
static long
cf_rh_index_param(const char *s)
{
    char *end;
    long k;

    errno = 0;
    k = strtol(s, &end, 10);
    if (!(isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '-') ||
        *end != '\0' || errno != 0 || k < 0 || k > INT_MAX)
        return -1;
    return k;
}

static json_t *
cf_rh_subtask_metrics(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    const char *s = req->nparams > 2 ? req->params[2] : "";
    cf_ejv_t *v;
    long k = cf_rh_index_param(s);

    if (k < 0)
        return cf_rest_bad_path_param(status, "subtaskindex", s);
    v = cf_rh_metrics_vertex(arg, req, status, &err);
    if (v == NULL && err != NULL)
        return err;
    *status = 200;
    if (v == NULL || k >= v->parallelism)
        return json_array();
    return cf_rest_subtask_metrics_dto(&v->subtasks[k],
                                       cf_rest_query(req, "get"));
}

/* The subtask of GET .../subtasks/:subtaskindex[/attempts/:attempt[/..]]
 * (Flink's AbstractSubtaskHandler and AbstractSubtaskAttemptHandler):
 * NULL with the error body and *status set when the job, vertex,
 * subtask or attempt is unknown or malformed. cflink keeps the current
 * attempt of each subtask only (earlier ones are in the exception
 * history): an earlier attempt number is "not found". */
static cf_exec_vertex_t *
cf_rh_req_subtask(void *arg, cf_rest_req_t *req, int with_attempt,
                  int *status, json_t **err)
{
    const char *si = req->nparams > 2 ? req->params[2] : "";
    const char *sa = req->nparams > 3 ? req->params[3] : "";
    long k = cf_rh_index_param(si), a = 0;
    cf_exec_vertex_t *ev;
    cf_ejv_t *v;

    if (k < 0) {
        *err = cf_rest_bad_path_param(status, "subtaskindex", si);
        return NULL;
    }
    if (with_attempt && (a = cf_rh_index_param(sa)) < 0) {
        *err = cf_rest_bad_path_param(status, "attempt", sa);
        return NULL;
    }
    if ((v = cf_rh_req_vertex(arg, req, status, err)) == NULL)
        return NULL;
    if (k >= v->parallelism) {
        *err = cf_rest_error(status, 404,
                             "Invalid subtask index for vertex %s",
                             v->id_hex);
        return NULL;
    }
    ev = &v->subtasks[k];
    if (!with_attempt || a == ev->attempt)
        return ev;
    if (a < ev->attempt)
        *err = cf_rest_error(status, 404,
                             "Attempt %ld not found in subtask %s (%ld/%d)",
                             a, v->name, k + 1, v->parallelism);
    else
        *err = cf_rest_error(status, 404, "Invalid attempt num %ld", a);
    return NULL;
}

/* GET .../subtasks/:subtaskindex and .../attempts/:attempt: Flink's
 * SubtaskExecutionAttemptDetailsInfo, as in the vertex's subtasks. */
static json_t *
cf_rh_subtask_attempt(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_exec_vertex_t *ev =
        cf_rh_req_subtask(arg, req, req->nparams > 3, status, &err);

    if (ev == NULL)
        return err;
    *status = 200;
    return cf_rh_subtask(ev, cf_now_ms());
}

/* GET .../attempts/:attempt/accumulators: Flink's
 * SubtaskExecutionAttemptAccumulatorsInfo (cflink has no user
 * accumulators yet, as the other accumulator endpoints). */
static json_t *
cf_rh_subtask_attempt_acc(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_exec_vertex_t *ev = cf_rh_req_subtask(arg, req, 1, status, &err);
    char hex[CF_ID_HEX_LEN + 1];

    if (ev == NULL)
        return err;
    cf_id_to_hex(&ev->attempt_id, hex);
    *status = 200;
    return json_pack("{s:i,s:i,s:s,s:[]}", "subtask", ev->subtask, "attempt",
                     ev->attempt, "id", hex, "user-accumulators");
}

/* PATCH /jobs/:jobid?mode=cancel and GET /jobs/:jobid/yarn-cancel. */
static json_t *
cf_rh_do_cancel(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *err = NULL;
    cf_jobmaster_t *j = cf_rest_job_param(arg, req, 0, status, &err);

    if (j == NULL)
        return err;
    if (cf_job_status_is_globally_terminal(j->status))
        return cf_rest_error(status, 409,
                             "Job cancellation failed because the job has "
                             "already reached another terminal state (%s).",
                             cf_job_status_name(j->status));
    if (j->status != CF_JOB_CANCELLING) {
        cf_log_info("Cancelling job %s (REST %s %s).", j->job_id_hex,
                    req->method, req->path);
        cf_jobmaster_cancel(j);
    }
    *status = 202;
    return json_object();
}

static json_t *
cf_rh_job_patch(cf_rest_req_t *req, void *arg, int *status)
{
    const char *mode = cf_rest_query(req, "mode");

    /* Flink's TerminationModeQueryParameter: optional, default cancel. */
    if (mode != NULL && strcasecmp(mode, "cancel") != 0) {
        if (strcasecmp(mode, "stop") == 0)
            return cf_rest_error(
                status, 308,
                "The termination mode \"stop\" has been removed. For an "
                "ungraceful shutdown, please use \"cancel\" instead. For a "
                "graceful shutdown, please use \"jobs/:jobId/stop\" "
                "instead.");
        return cf_rest_metrics_bad_query(status, "mode", mode);
    }
    return cf_rh_do_cancel(req, arg, status);
}

/* ------------------------------------------------------------------ */
/* Jars                                                                */
/* ------------------------------------------------------------------ */

static json_t *
cf_rh_jars(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    json_t *o = json_object(), *files = json_array();
    const char *host = cf_config_get(jm->cfg, "rest.address");
    char *addr;

    if (host == NULL || *host == '\0')
        host = "localhost";
    addr = cf_asprintf("http://%s:%d", host,
                       jm->rest ? cf_rest_port(jm->rest) : 0);
    json_object_set_new(o, "address", json_string(addr));
    cf_free(addr);
    for (cf_jar_t *j = cf_dispatcher_jars(jm->dispatcher); j; j = j->next) {
        json_t *f = json_object(), *entry = json_array(), *e = json_object();
        json_object_set_new(f, "id", json_string(j->id));
        json_object_set_new(f, "name", json_string(j->name));
        json_object_set_new(f, "uploaded", json_integer(j->uploaded_ms));
        json_object_set_new(e, "name", json_string(j->plugin_name
                                                       ? j->plugin_name
                                                       : j->name));
        json_object_set_new(e, "description",
                            j->description ? json_string(j->description)
                                           : json_null());
        json_array_append_new(entry, e);
        json_object_set_new(f, "entry", entry);
        json_array_append_new(files, f);
    }
    json_object_set_new(o, "files", files);
    *status = 200;
    return o;
}

static json_t *
cf_rh_jar_upload(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_error_t *err = NULL;
    cf_jar_t *jar;
    json_t *o;

    if (req->upload_path == NULL)
        return cf_rest_error(status, 400,
                             "Exactly 1 file must be sent, received 0.");
    if (cf_dispatcher_jar_add(jm->dispatcher, req->upload_path,
                              req->upload_name, &jar, &err) < 0) {
        o = cf_rest_error(status, 400, "%s", cf_error_msg(err));
        cf_log_warn("Refused upload %s: %s",
                    req->upload_name ? req->upload_name : "(no name)",
                    cf_error_msg(err));
        cf_error_free(err);
        return o;
    }
    o = json_object();
    json_object_set_new(o, "filename", json_string(jar->path));
    json_object_set_new(o, "status", json_string("success"));
    *status = 200;
    return o;
}

/* Flink's JarIdPathParameter: a file name directly inside the upload
 * directory. NULL when valid, else the 400 answer. */
static json_t *
cf_rh_check_jar_id(const cf_rest_req_t *req, int *status)
{
    const char *id = req->nparams > 0 ? req->params[0] : "";

    if (*id == '\0' || strchr(id, '/') || strchr(id, '\\') ||
        strstr(id, "..") || strcmp(id, ".") == 0)
        return cf_rest_bad_path_param(status, "jarid", id);
    return NULL;
}

static json_t *
cf_rh_jar_delete(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    json_t *bad = cf_rh_check_jar_id(req, status);

    if (bad)
        return bad;
    if (cf_dispatcher_jar_delete(jm->dispatcher, req->params[0]) < 0)
        return cf_rest_error(status, 400, "File %s does not exist in %s.",
                             req->params[0],
                             cf_dispatcher_upload_dir(jm->dispatcher));
    *status = 200;
    return json_object();
}

/* Parsed parameters of a run or plan request. */
typedef struct cf_rh_run_s {
    cf_jar_run_t run;
    json_t *body;
    char **args;
    int nargs, cap;
    const char **keys, **values;
    char **owned; /* coerced configuration values */
    int nowned;
    const char *savepoint; /* savepointPath, or NULL */
    int allow_non_restored; /* allowNonRestoredState */
} cf_rh_run_t;

static void
cf_rh_run_free(cf_rh_run_t *r)
{
    for (int i = 0; i < r->nargs; i++)
        cf_free(r->args[i]);
    cf_free(r->args);
    cf_free(r->keys);
    cf_free(r->values);
    for (int i = 0; i < r->nowned; i++)
        cf_free(r->owned[i]);
    cf_free(r->owned);
    json_decref(r->body);
}

static void
cf_rh_add_arg(cf_rh_run_t *r, char *a)
{
    CF_GROW(&r->args, &r->cap, r->nargs + 1);
    r->args[r->nargs++] = a;
}

/* Flink's JarHandlerUtils.tokenizeArguments: tokens are runs of non-space
 * or quoted strings; quotes are then removed. */
static void
cf_rh_tokenize(cf_rh_run_t *r, const char *s)
{
    while (*s) {
        const char *start, *end;
        char *tok, *w;

        while (*s && isspace((unsigned char)*s))
            s++;
        if (*s == '\0')
            break;
        start = s;
        end = NULL;
        if ((*s == '"' || *s == '\'') && s[1] && s[1] != *s) {
            const char *q = strchr(s + 2, *s);
            if (q)
                end = q + 1;
        }
        if (end == NULL) {
            end = s + 1;
            while (*end && !isspace((unsigned char)*end))
                end++;
        }
        tok = cf_strndup(start, (size_t)(end - start));
        for (w = tok, s = tok; *s; s++)
            if (*s != '"' && *s != '\'')
                *w++ = *s;
        *w = '\0';
        cf_rh_add_arg(r, tok);
        s = end;
    }
}

/* A JSON scalar as text (Jackson coerces scalars to String). */
static char *
cf_rh_scalar_text(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return cf_strdup(json_string_value(v));
    case JSON_INTEGER:
        return cf_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return cf_asprintf("%.17g", json_real_value(v));
    case JSON_TRUE:
        return cf_strdup("true");
    case JSON_FALSE:
        return cf_strdup("false");
    default:
        return NULL;
    }
}

/* An int from JSON (number or numeric string, Jackson-style); *set 0 for
 * null or "". Returns -1 when not an int. */
static int
cf_rh_json_int(const json_t *v, int *out, int *set)
{
    *set = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < INT_MIN || x > INT_MAX)
            return -1;
        *out = (int)x;
        *set = 1;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long x;
        if (*s == '\0')
            return 0;
        errno = 0;
        x = strtol(s, &end, 10);
        if (*end || errno || x < INT_MIN || x > INT_MAX)
            return -1;
        *out = (int)x;
        *set = 1;
        return 0;
    }
    return -1;
}

static int
cf_rh_json_bool_ok(const json_t *v)
{
    const char *s;

    if (v == NULL || json_is_null(v) || json_is_boolean(v))
        return 1;
    if (!json_is_string(v))
        return 0;
    s = json_string_value(v);
    return *s == '\0' || strcasecmp(s, "true") == 0 ||
           strcasecmp(s, "false") == 0;
}

static int
cf_rh_json_opt_string(const json_t *v)
{
    return v == NULL || json_is_null(v) || json_is_string(v);
}

/* Parse Flink's JarRunRequestBody / JarPlanRequestBody and the query
 * parameters (the body wins). NULL when fine, else the error answer. */
static json_t *
cf_rh_parse_run(cf_rest_req_t *req, const char *body_class, cf_rh_run_t *r,
                int *status)
{
    const char *b = req->body ? req->body : "";
    const json_t *v, *list = NULL, *conf = NULL;
    const char *args_str = NULL, *q;
    int p = CF_PARALLELISM_DEFAULT, set = 0;
    size_t i;

    memset(r, 0, sizeof *r);
    r->run.jar_id = req->params[0];
    while (*b && isspace((unsigned char)*b))
        b++;
    if (*b) {
        json_error_t je;
        r->body = json_loadb(req->body, req->body_len, 0, &je);
        if (r->body == NULL || !json_is_object(r->body))
            goto bad_body;
    } else {
        r->body = json_object();
    }
    /* Body fields: check their types as Jackson would. */
    if (!cf_rh_json_opt_string(json_object_get(r->body, "entryClass")) ||
        !cf_rh_json_opt_string(json_object_get(r->body, "savepointPath")) ||
        !cf_rh_json_opt_string(json_object_get(r->body, "restoreMode")) ||
        !cf_rh_json_opt_string(json_object_get(r->body, "claimMode")) ||
        !cf_rh_json_bool_ok(json_object_get(r->body,
                                            "allowNonRestoredState")))
        goto bad_body;
    v = json_object_get(r->body, "programArgs");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            goto bad_body;
        args_str = json_string_value(v);
    }
    v = json_object_get(r->body, "programArgsList");
    if (v && !json_is_null(v)) {
        json_t *e;
        if (!json_is_array(v))
            goto bad_body;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e) && !json_is_number(e) &&
                !json_is_boolean(e))
                goto bad_body;
        }
        list = v;
    }
    if (cf_rh_json_int(json_object_get(r->body, "parallelism"), &p, &set) <
        0)
        goto bad_body;
    v = json_object_get(r->body, "jobId");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !cf_rest_is_hex32(json_string_value(v)))
            goto bad_body;
        r->run.job_id_hex = json_string_value(v);
    }
    v = json_object_get(r->body, "flinkConfiguration");
    if (v && !json_is_null(v)) {
        const char *k;
        json_t *e;
        if (!json_is_object(v))
            goto bad_body;
        json_object_foreach((json_t *)v, k, e) {
            if (json_is_object(e) || json_is_array(e))
                goto bad_body;
        }
        conf = v;
    }
    v = json_object_get(r->body, "savepointPath");
    if (v && json_is_string(v) && *json_string_value(v))
        r->savepoint = json_string_value(v);
    v = json_object_get(r->body, "allowNonRestoredState");
    if (v && (json_is_true(v) ||
              (json_is_string(v) &&
               strcasecmp(json_string_value(v), "true") == 0)))
        r->allow_non_restored = 1;

    /* Query parameters where the body left a field null. */
    if (!set && (q = cf_rest_query(req, "parallelism")) && *q) {
        char *end;
        long x;
        errno = 0;
        x = strtol(q, &end, 10);
        if (*end || errno || x < INT_MIN || x > INT_MAX)
            return cf_rest_metrics_bad_query(status, "parallelism", q);
        p = (int)x;
        set = 1;
    }
    /* The shipped web UI puts its program arguments into the
     * savepointPath query parameter and the real value into the body:
     * the query counts only when the body has no savepointPath at all. */
    if (r->savepoint == NULL &&
        json_object_get(r->body, "savepointPath") == NULL &&
        (q = cf_rest_query(req, "savepointPath")) && *q)
        r->savepoint = q;
    if ((q = cf_rest_query(req, "allowNonRestoredState")) && *q &&
        strcasecmp(q, "true") != 0 && strcasecmp(q, "false") != 0)
        return cf_rest_metrics_bad_query(status, "allowNonRestoredState", q);
    v = json_object_get(r->body, "allowNonRestoredState");
    if ((v == NULL || json_is_null(v) ||
         (json_is_string(v) && *json_string_value(v) == '\0')) &&
        q && strcasecmp(q, "true") == 0)
        r->allow_non_restored = 1;
    if (args_str == NULL)
        args_str = cf_rest_query(req, "program-args");
    if (list && json_array_size(list) > 0) {
        json_t *e;
        if (args_str)
            return cf_rest_error(status, 400,
                                 "Confusing request: programArgs and "
                                 "programArgsList are specified, please, "
                                 "use only programArgsList");
        json_array_foreach(list, i, e)
            cf_rh_add_arg(r, cf_rh_scalar_text(e));
    } else if (list == NULL && (q = cf_rest_query(req, "programArg")) &&
               *q) {
        const char *s = q;
        if (args_str)
            return cf_rest_error(status, 400,
                                 "Confusing request: programArgs and "
                                 "programArgsList are specified, please, "
                                 "use only programArgsList");
        for (;;) {
            const char *c = strchr(s, ',');
            cf_rh_add_arg(r, c ? cf_strndup(s, (size_t)(c - s))
                               : cf_strdup(s));
            if (c == NULL)
                break;
            s = c + 1;
        }
    } else if (args_str) {
        cf_rh_tokenize(r, args_str);
    }
    {
        const char *k;
        json_t *e;
        size_t n = conf ? json_object_size(conf) : 0;
        /* two more: the restore settings of savepointPath */
        r->keys = cf_calloc(n + 3, sizeof(char *));
        r->values = cf_calloc(n + 3, sizeof(char *));
        r->owned = cf_calloc(n + 3, sizeof(char *));
        if (conf) {
            json_object_foreach((json_t *)conf, k, e) {
                char *t = cf_rh_scalar_text(e);
                r->keys[r->run.nconf] = k;
                r->values[r->run.nconf++] = t;
                if (t)
                    r->owned[r->nowned++] = t;
            }
        }
        /* savepointPath and allowNonRestoredState become Flink's
         * execution.state-recovery.* keys of the job's configuration,
         * which the Dispatcher hands to the JobMaster (a "file:" scheme
         * is dropped: checkpoints live on the local file system). */
        if (r->savepoint) {
            const char *sp = r->savepoint;
            if (strncmp(sp, "file://", 7) == 0 && sp[7] == '/')
                sp += 7;
            else if (strncmp(sp, "file:", 5) == 0 && sp[5] == '/')
                sp += 5;
            r->keys[r->run.nconf] = "execution.state-recovery.path";
            r->values[r->run.nconf++] = sp;
            r->keys[r->run.nconf] =
                "execution.state-recovery.ignore-unclaimed-state";
            r->values[r->run.nconf++] =
                r->allow_non_restored ? "true" : "false";
        }
        r->run.conf_keys = r->keys;
        r->run.conf_values = r->values;
    }
    r->run.parallelism = set ? p : CF_PARALLELISM_DEFAULT;
    r->run.args = r->args;
    r->run.nargs = r->nargs;
    return NULL;
bad_body:
    return cf_rest_error(status, 400,
                         "Request did not match expected format %s.",
                         body_class);
}

/* The answer to a failed build or submission. */
static json_t *
cf_rh_submit_error(int rc, cf_error_t *err, int *status)
{
    const char *m = err ? cf_error_msg(err) : cf_strerror(rc);
    json_t *o;

    switch (rc) {
    case CF_ENOTFOUND:
    case CF_ECONFIG:
        o = cf_rest_error(status, 400, "%s", m);
        break;
    case CF_ESTATE:
        o = cf_rest_error(status, 409, "%s", m);
        break;
    default:
        o = cf_rest_error(status, 400,
                          "org.apache.flink.runtime.rest.handler."
                          "RestHandlerException: Could not execute "
                          "application.\nCaused by: %s",
                          m);
    }
    cf_error_free(err);
    return o;
}

static json_t *
cf_rh_jar_run(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr;
    cf_rh_run_t r;
    json_t *o;
    int rc;

    if ((o = cf_rh_check_jar_id(req, status)) != NULL)
        return o;
    if ((o = cf_rh_parse_run(req, "JarRunRequestBody", &r, status)) !=
        NULL) {
        cf_rh_run_free(&r);
        return o;
    }
    if (r.savepoint)
        cf_log_info("Running %s from savepoint %s%s.", req->params[0],
                    r.savepoint,
                    r.allow_non_restored ? " (allowNonRestoredState)" : "");
    rc = cf_dispatcher_submit(jm->dispatcher, &r.run, &jmr, &err);
    cf_rh_run_free(&r);
    if (rc < 0) {
        cf_log_warn("Could not run %s: %s", req->params[0],
                    err ? cf_error_msg(err) : cf_strerror(rc));
        return cf_rh_submit_error(rc, err, status);
    }
    o = json_object();
    json_object_set_new(o, "jobid", json_string(jmr->job_id_hex));
    *status = 200;
    return o;
}

static json_t *
cf_rh_jar_plan(cf_rest_req_t *req, void *arg, int *status)
{
    cf_jm_t *jm = arg;
    cf_error_t *err = NULL;
    char *plan = NULL;
    cf_rh_run_t r;
    json_t *o, *p;
    int rc;

    if ((o = cf_rh_check_jar_id(req, status)) != NULL)
        return o;
    if ((o = cf_rh_parse_run(req, "JarPlanRequestBody", &r, status)) !=
        NULL) {
        cf_rh_run_free(&r);
        return o;
    }
    rc = cf_dispatcher_plan(jm->dispatcher, &r.run, &plan, &err);
    cf_rh_run_free(&r);
    if (rc < 0)
        return cf_rh_submit_error(rc, err, status);
    p = plan ? json_loads(plan, 0, NULL) : NULL;
    free(plan);
    if (p == NULL)
        return cf_rest_error(status, 500, "Could not render the plan.");
    o = json_object();
    json_object_set_new(o, "plan", p);
    *status = 200;
    return o;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

static json_t *
cf_rh_entry(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rh_route_t *rt = arg;

    /* Flink's AbstractHandler: a file part where none is expected. */
    if (req->upload_path && !rt->uploads) {
        unlink(req->upload_path);
        return cf_rest_error(status, 400, "File uploads not allowed.");
    }
    *status = 200;
    return rt->fn(req, rt->jm, status);
}

/* Literal paths before the patterns that would also match them. */
static cf_rh_route_t cf_rh_routes[] = {
    {"GET", "/config", cf_rh_config, 0, 0, NULL},
    {"GET", "/overview", cf_rh_overview, 0, 0, NULL},
    {"GET", "/jobs", cf_rh_jobs, 0, 0, NULL},
    {"GET", "/jobs/overview", cf_rh_jobs_overview, 0, 0, NULL},
    {"GET", "/jobs/:jobid", cf_rh_job_info, 0, 0, NULL},
    {"PATCH", "/jobs/:jobid", cf_rh_job_patch, 0, 0, NULL},
    {"GET", "/jobs/:jobid/plan", cf_rh_job_plan, 0, 0, NULL},
    {"GET", "/jobs/:jobid/status", cf_rh_job_status, 0, 0, NULL},
    {"GET", "/jobs/:jobid/config", cf_rh_job_config, 0, 0, NULL},
    {"GET", "/jobs/:jobid/exceptions", cf_rh_job_exceptions, 0, 0, NULL},
    {"GET", "/jobs/:jobid/execution-result", cf_rh_job_result, 0, 0, NULL},
    {"GET", "/jobs/:jobid/yarn-cancel", cf_rh_do_cancel, 0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid", cf_rh_vertex_info, 0, 0,
     NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/metrics", cf_rh_vertex_metrics,
     0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/subtasks/metrics",
     cf_rh_subtasks_metrics, 0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/jm-operator-metrics",
     cf_rh_jm_operator_metrics, 0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics",
     cf_rh_subtask_metrics, 0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex",
     cf_rh_subtask_attempt, 0, 0, NULL},
    {"GET",
     "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/"
     ":attempt",
     cf_rh_subtask_attempt, 0, 0, NULL},
    {"GET",
     "/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/"
     ":attempt/accumulators",
     cf_rh_subtask_attempt_acc, 0, 0, NULL},
    {"GET", "/jobs/:jobid/vertices/:vertexid/watermarks",
     cf_rh_vertex_watermarks, 0, 0, NULL},
    {"GET", "/taskmanagers", cf_rh_taskmanagers, 0, 0, NULL},
    {"GET", "/taskmanagers/:taskmanagerid", cf_rh_taskmanager, 0, 0, NULL},
    {"GET", "/jobmanager/config", cf_rh_jobmanager_config, 0, 0, NULL},
    {"GET", "/jars", cf_rh_jars, 0, 1, NULL},
    {"POST", "/jars/upload", cf_rh_jar_upload, 1, 1, NULL},
    {"POST", "/jars/:jarid/run", cf_rh_jar_run, 0, 1, NULL},
    {"GET", "/jars/:jarid/plan", cf_rh_jar_plan, 0, 1, NULL},
    {"POST", "/jars/:jarid/plan", cf_rh_jar_plan, 0, 1, NULL},
    {"DELETE", "/jars/:jarid", cf_rh_jar_delete, 0, 1, NULL},
};

void
cf_rest_handlers_register(cf_jm_t *jm)
{
    int submit = cf_config_get_bool(jm->cfg, "web.submit.enable", 1);

    for (size_t i = 0; i < CF_ARRAY_LEN(cf_rh_routes); i++) {
        cf_rh_route_t *rt = &cf_rh_routes[i];
        if (rt->submit && !submit)
            continue;
        rt->jm = jm;
        cf_rest_route(jm->rest, rt->method, rt->pattern, cf_rh_entry, rt);
    }
    /* Checkpoints, savepoints, stop, disposal: rest_checkpoints.c. */
    cf_rest_ckpt_register(jm);
    /* Monitoring endpoints in their own files. */
    cf_rest_ops_register(jm);
    cf_rest_vertex_register(jm);
}
