/*
 * jobmanager_int.h: the JobManager's components and the in-process
 * gateways between them (Flink's Dispatcher, ResourceManager, JobMaster).
 *
 * The components talk through the functions below, passing the same
 * protobuf structs as the RPC (proto/rpc.proto) where a message crosses a
 * component boundary, so each could move to its own process later.
 *
 *   REST (rest.c, rest_handlers.c) -> Dispatcher (dispatcher.c)
 *   Dispatcher -> JobMaster (jobmaster.c): one per submitted job
 *   JobMaster -> ResourceManager (resourcemanager.c): slot requests
 *   ResourceManager -> TaskManager (RPC RequestSlot) -> JobMaster (RPC
 *   OfferSlots) -> TaskManager (RPC SubmitTask)
 *
 * Threads: everything here runs on the JobManager's control loop.
 */
#ifndef CF_JOBMANAGER_INT_H
#define CF_JOBMANAGER_INT_H

#include <stdint.h>

#include "config.h"
#include "core.h"
#include "jobgraph.pb-c.h"
#include "loop.h"
#include "rest.h"
#include "rpc.h"
#include "runtime.h"

typedef struct cf_jm_s cf_jm_t;
typedef struct cf_dispatcher_s cf_dispatcher_t;
typedef struct cf_rm_s cf_rm_t;
typedef struct cf_jobmaster_s cf_jobmaster_t;
typedef struct cf_blob_store_s cf_blob_store_t;
typedef struct cf_ckpt_coord_s cf_ckpt_coord_t;

/* The JobManager process. */
struct cf_jm_s {
    cf_loop_t *loop;
    cf_config_t *cfg;
    char resource_id[64];
    char *work_dir;        /* web.upload.dir / blob dirs live under it */
    int64_t start_ms;
    cf_rpc_server_t *rpc;  /* jobmanager.rpc.port */
    cf_rest_t *rest;       /* rest.port */
    cf_blob_store_t *blobs;
    cf_dispatcher_t *dispatcher;
    cf_rm_t *rm;
    int shutting_down;
    /* The graceful shutdown of SIGTERM, for DELETE /cluster: called on
     * the loop once the REST answer is out (NULL: not offered). */
    void (*shutdown_fn)(void *arg);
    void *shutdown_arg;
};

/* ------------------------------------------------------------------ */
/* Blob store (blob.c): plugins by content, SHA-256 keys.              */
/* ------------------------------------------------------------------ */

cf_blob_store_t *cf_blob_store_new(const char *dir, cf_error_t **errp);
void cf_blob_store_destroy(cf_blob_store_t *b);
/* Move (rename) the file at path into the store; *key_hex gets the
 * 64-hex SHA-256 key (a static buffer of the caller, 65 bytes). */
int cf_blob_store_put(cf_blob_store_t *b, const char *path,
                      char key_hex[65], cf_error_t **errp);
/* The stored file of key, or NULL. */
const char *cf_blob_store_path(cf_blob_store_t *b, const char *key_hex);
/* SHA-256 of a file as 64 hex characters (libcrypto). */
int cf_blob_sha256_file(const char *path, char key_hex[65]);
/* Answer a BlobGet request (chunks of at most 1 MiB). */
void cf_blob_store_on_get(cf_blob_store_t *b, cf_rpc_conn_t *c,
                          uint64_t req_id, const Cflink__BlobGet *get);

/* ------------------------------------------------------------------ */
/* ResourceManager (resourcemanager.c)                                 */
/* ------------------------------------------------------------------ */

typedef enum cf_slot_state_e {
    CF_SLOT_FREE = 0,
    CF_SLOT_PENDING,   /* RequestSlot sent, offer not yet accepted */
    CF_SLOT_ALLOCATED, /* offered to and accepted by a JobMaster */
} cf_slot_state_t;

typedef struct cf_rm_slot_s {
    cf_slot_state_t state;
    cf_id_t allocation_id;
    cf_id_t job_id;
} cf_rm_slot_t;

/* A registered TaskManager. */
typedef struct cf_rm_tm_s {
    char *resource_id;
    cf_id_t instance_id; /* new at every registration */
    char *host;
    int data_port;
    char *rpc_peer;      /* "host:port" of its RPC connection */
    cf_rpc_conn_t *conn;
    int num_slots;
    cf_rm_slot_t *slots; /* num_slots entries */
    int cpu_cores;
    int64_t physical_memory;
    int64_t network_memory;
    int64_t managed_memory;
    int64_t registered_ms;
    int64_t last_heartbeat_ms;
    char *version;
    struct cf_rm_tm_s *next;
} cf_rm_tm_t;

cf_rm_t *cf_rm_new(cf_jm_t *jm);
void cf_rm_destroy(cf_rm_t *rm);
/* RegisterTaskExecutor (a request) and other TaskManager messages. */
void cf_rm_on_message(cf_rm_t *rm, cf_rpc_conn_t *c, uint64_t req_id,
                      const Cflink__Envelope *msg);
/* A TaskManager connection closed: the TaskManager is removed at once,
 * its slots failed (JobMasters told through cf_jobmaster_tm_lost). */
void cf_rm_on_close(cf_rm_t *rm, cf_rpc_conn_t *c, const char *reason);

/* Gateway for JobMasters. Ask for n more slots for job: the RM sends
 * RequestSlot to TaskManagers with free slots (spreading the requests
 * over TaskManagers in registration order, filling each), keeping what it
 * cannot serve pending until slots free up or TaskManagers register. */
void cf_rm_request_slots(cf_rm_t *rm, const cf_id_t *job_id, int n);
/* Drop the job's pending requests (job ended or restarting). */
void cf_rm_cancel_requests(cf_rm_t *rm, const cf_id_t *job_id);
/* The JobMaster accepted / declined / released a slot it was offered. */
void cf_rm_slot_accepted(cf_rm_t *rm, const char *resource_id,
                         const cf_id_t *allocation_id);
void cf_rm_slot_released(cf_rm_t *rm, const char *resource_id,
                         const cf_id_t *allocation_id);
cf_rm_tm_t *cf_rm_find_tm(cf_rm_t *rm, const char *resource_id);
cf_rm_tm_t *cf_rm_tms(cf_rm_t *rm); /* list head (->next) */
int cf_rm_tm_count(cf_rm_t *rm);
int cf_rm_slots_total(cf_rm_t *rm);
int cf_rm_slots_free(cf_rm_t *rm);

/* ------------------------------------------------------------------ */
/* JobMaster (jobmaster.c, restart.c)                                  */
/* ------------------------------------------------------------------ */

/* One execution of a subtask (Flink's ExecutionVertex + its current
 * Execution). */
typedef struct cf_exec_vertex_s {
    int subtask;
    int attempt;          /* attempt number, 0 first */
    cf_id_t attempt_id;   /* ExecutionAttemptID of the current attempt */
    cf_exec_state_t state;
    int64_t state_ts[CF_EXEC_STATE_COUNT]; /* epoch ms, 0: never */
    char *tm_resource_id; /* where deployed, or NULL */
    char *tm_host;
    int tm_data_port;
    cf_id_t allocation_id;
    int64_t records_in, records_out, bytes_in, bytes_out;
    /* Event-time figures of the current attempt, from its reports'
     * TaskEventTime (Flink's task metrics currentInputWatermark and
     * numLateRecordsDropped): has_event_time is 0 until a report carried
     * them (a TaskManager that predates them never does), as Flink's
     * metric store knows no metric before the task's first report. */
    int has_event_time;
    int64_t input_watermark; /* INT64_MIN: no watermark received yet */
    uint64_t late_records_dropped;
    /* Where the current attempt's time went (TaskTimes of its reports:
     * ms since it started RUNNING, each only raised; has_times 0 until a
     * report carried them, as Flink's store has no busy time before the
     * first report), and the per-second rates derived from successive
     * reports (cf_task_rates_feed; read them with cf_jobmaster_rate).
     * reported: a report of the attempt arrived (its counters and rates
     * exist as metrics). */
    int reported;
    int has_times;
    cf_task_times_t times;
    cf_task_rates_t rates;
    char *failure;
} cf_exec_vertex_t;

/* Rate k (CF_RATE_*) of a subtask's current attempt: numRecordsIn /
 * Out / numBytesIn / Out per second, busy / back-pressured / idle ms per
 * second. 0 before two reports at least CF_TASK_RATE_WINDOW_MS apart,
 * and once the attempt is terminal (it no longer processes anything).
 * Thread: loop. */
double cf_jobmaster_rate(const cf_exec_vertex_t *ev, int k);

/* Flink's ExecutionJobVertex. */
typedef struct cf_ejv_s {
    cf_id_t id;
    char id_hex[CF_ID_HEX_LEN + 1];
    char *name;
    int parallelism;
    int max_parallelism;
    cf_exec_vertex_t *subtasks;
} cf_ejv_t;

typedef struct cf_job_exception_s {
    int64_t timestamp;
    char *exception;     /* the message, Flink's "exceptionName: message" */
    char *task_name;     /* NULL for a global failure */
    char *location;      /* TaskManager "host:port", or NULL */
    char *tm_id;
    struct cf_job_exception_s *next; /* newest first */
} cf_job_exception_t;

/* Everything a JobMaster needs to run a job, as the Dispatcher hands it
 * over (copied). */
typedef struct cf_jobmaster_spec_s {
    const cf_id_t *job_id;
    const char *name;
    const uint8_t *graph_pb; /* encoded cflink.JobGraph */
    size_t graph_len;
    const char *plan_json;   /* Flink's JSON plan */
    const char *plugin_key;  /* blob key (64 hex) */
    const char *plugin_name; /* file name as uploaded */
    const char *jar_id;      /* for the REST API */
    char *const *args;
    int nargs;
    int parallelism;         /* job-level parallelism used to build */
    const cf_config_t *job_cfg; /* cluster config + job -D overrides */
    const char *savepoint_path; /* restore from (savepointPath), or NULL */
    int allow_non_restored;     /* allowNonRestoredState */
} cf_jobmaster_spec_t;

struct cf_jobmaster_s {
    cf_jm_t *jm;
    cf_id_t job_id;
    char job_id_hex[CF_ID_HEX_LEN + 1];
    char *name;
    cf_job_status_t status;
    int64_t status_ts[CF_JOB_STATUS_COUNT]; /* epoch ms, 0: never */
    int64_t start_ms; /* submission */
    int64_t end_ms;   /* globally terminal, or 0 */
    uint8_t *graph_pb;
    size_t graph_len;
    Cflink__JobGraph *graph; /* decoded */
    char *plan_json;
    char *plugin_key;
    char *plugin_name;
    char *jar_id;
    char **args;
    int nargs;
    int parallelism;
    cf_config_t *job_cfg;
    cf_ejv_t *vertices; /* graph order */
    int nvertices;
    int num_restarts;
    cf_job_exception_t *exceptions; /* newest first */
    char *failure; /* root cause when FAILED */
    cf_ckpt_coord_t *ckpt; /* CheckpointCoordinator */
    void *priv;    /* jobmaster.c's scheduling state */
    struct cf_jobmaster_s *next;
};

/* Build the ExecutionGraph (status INITIALIZING -> CREATED). */
cf_jobmaster_t *cf_jobmaster_new(cf_jm_t *jm, const cf_jobmaster_spec_t *spec,
                                 cf_error_t **errp);
/* Free everything (the job must be globally terminal, or the JobManager
 * is shutting down: then running tasks are cancelled best effort). */
void cf_jobmaster_destroy(cf_jobmaster_t *jmr);
/* CREATED -> RUNNING: request slots, deploy when offered. */
void cf_jobmaster_start(cf_jobmaster_t *jmr);
/* CANCELLING -> CANCELED (tasks cancelled, slots freed). */
void cf_jobmaster_cancel(cf_jobmaster_t *jmr);
/* OfferSlots and UpdateTaskExecutionState from a TaskManager. */
void cf_jobmaster_on_message(cf_jobmaster_t *jmr, cf_rpc_conn_t *c,
                             uint64_t req_id, const Cflink__Envelope *msg);
/* A task report of a HeartbeatResponse (the ResourceManager hands each
 * to the JobMaster of its job): raise the IO counters and event-time
 * figures of the subtask whose current attempt it names. Only these are
 * applied, never the state; reports of other jobs, stale or unknown
 * attempts, and negative or decreasing counters (or watermarks) are
 * ignored. */
void cf_jobmaster_update_counters(cf_jobmaster_t *jmr,
                                  const Cflink__UpdateTaskExecutionState *u);
/* A global failure of the job (e.g. the checkpoint failure threshold was
 * exceeded): an entry in the exception history and a failover of every
 * region by the restart strategy. Ignored unless the job runs. */
void cf_jobmaster_fail_global(cf_jobmaster_t *jmr, const char *failure);
/* A TaskManager was lost (heartbeat timeout or connection loss). */
void cf_jobmaster_tm_lost(cf_jobmaster_t *jmr, const char *resource_id,
                          const char *reason);
/* The JobMaster's accessors for the REST API. */
cf_ejv_t *cf_jobmaster_find_vertex(cf_jobmaster_t *jmr, const char *id_hex);
/* Task counts by ExecutionState over all subtasks. */
void cf_jobmaster_task_counts(const cf_jobmaster_t *jmr,
                              int counts[CF_EXEC_STATE_COUNT]);

/* Pipelined regions (regions.c): the connected components of the
 * ExecutionGraph (all results are pipelined), for the `region` failover
 * strategy. Subtask k of vertex v has index base[v] + k. */
typedef struct cf_regions_s {
    int nvertices;
    int *base;        /* nvertices + 1 entries; base[nvertices]: total */
    int *region_of;   /* per subtask index: 0..nregions-1, numbered in
                       * the order of their first subtask */
    int *region_size; /* subtasks per region */
    int nregions;
} cf_regions_t;
/* Compute the regions of a (checked) job graph: an all-to-all edge joins
 * all its subtasks, a pointwise one producer i with the consumers of
 * cf_job_edge_consumers(). 0, or < 0 for a malformed graph. */
int cf_regions_compute(const Cflink__JobGraph *g, cf_regions_t *r,
                       cf_error_t **errp);
void cf_regions_free(cf_regions_t *r);

/* Restart strategies (restart.c): restart-strategy.type none,
 * fixed-delay, failure-rate, exponential-delay with Flink's keys and
 * defaults. */
typedef struct cf_restart_s cf_restart_t;
cf_restart_t *cf_restart_new(const cf_config_t *cfg, cf_error_t **errp);
void cf_restart_destroy(cf_restart_t *r);
/* After a failure at now_ms: whether to restart, and after which delay. */
int cf_restart_can_restart(cf_restart_t *r, int64_t now_ms,
                           int64_t *delay_ms);
/* Flink's description, e.g. "FixedDelayRestartBackoffTimeStrategy(
 * maxNumberRestartAttempts=3, backoffTimeMS=1000)". */
const char *cf_restart_describe(const cf_restart_t *r);

/* ------------------------------------------------------------------ */
/* CheckpointCoordinator (checkpoint.c)                                */
/* ------------------------------------------------------------------ */
/*
 * One per JobMaster. Periodic checkpoints (execution.checkpointing.*),
 * savepoints, stop-with-savepoint, manual checkpoints; completed
 * checkpoints are written as _metadata (on the loop's worker pool) and
 * retained (num-retained); the latest one is what a failover restores.
 * Its statistics are what /jobs/:jobid/checkpoints* serve.
 */
typedef enum cf_ckpt_status_e {
    CF_CKPT_IN_PROGRESS = 0,
    CF_CKPT_COMPLETED,
    CF_CKPT_FAILED,
} cf_ckpt_status_t;

/* Per job vertex of one checkpoint. */
typedef struct cf_ckpt_vertex_stats_s {
    int num_subtasks;
    int num_acked;
    int64_t latest_ack_ts;   /* epoch ms, 0: none */
    uint64_t state_size;
    int64_t *ack_ts;         /* per subtask, 0: pending */
    uint64_t *sub_state_size;
    int64_t *sub_sync_ms, *sub_async_ms, *sub_alignment_ms;
} cf_ckpt_vertex_stats_t;

/* One checkpoint or savepoint in the statistics (CheckpointStatistics). */
typedef struct cf_ckpt_stats_s {
    int64_t id;
    cf_ckpt_status_t status;
    int kind;                /* CF_CKPT_KIND_* */
    int64_t trigger_ts;      /* epoch ms */
    int64_t latest_ack_ts;
    int64_t end_ts;          /* completion or failure, 0 while pending */
    uint64_t state_size;     /* bytes over all acknowledged subtasks */
    uint64_t processed_data;
    int64_t alignment_ms;    /* max over subtasks */
    int num_subtasks;
    int num_acked;
    char *external_path;     /* completed: the directory; else NULL */
    int discarded;           /* dropped by retention */
    char *failure;           /* failed: the reason */
    cf_ckpt_vertex_stats_t *vertices; /* jmr->nvertices entries */
    struct cf_ckpt_stats_s *next;     /* older */
} cf_ckpt_stats_t;

typedef struct cf_ckpt_view_s {
    /* configuration, as /checkpoints/config shows it */
    int enabled;             /* periodic checkpoints configured */
    int exactly_once;
    int64_t interval_ms, timeout_ms, min_pause_ms;
    int max_concurrent, tolerable_failed, num_retained;
    int externalized;        /* retention != NO_EXTERNALIZED_CHECKPOINTS */
    int delete_on_cancellation;
    const char *dir;         /* execution.checkpointing.dir, or NULL */
    const char *savepoint_dir;
    /* counts */
    int64_t restored, total, in_progress, completed, failed;
    /* history, newest first, at most web.checkpoints.history entries */
    cf_ckpt_stats_t *history;
    /* latest (each NULL when none): they stay valid while listed; the
     * coordinator keeps them apart from the history when trimmed */
    const cf_ckpt_stats_t *latest_completed, *latest_savepoint,
        *latest_failed;
    /* restored: id < 0 when the job did not restore */
    int64_t restored_id;
    int64_t restore_ts;
    int restored_is_savepoint;
    const char *restored_path;
    /* durations of completed checkpoints (ms) and their sizes, for the
     * summary percentiles: the last 1024 */
    const int64_t *durations;
    const uint64_t *sizes;
    const uint64_t *processed;
    int nsamples;
} cf_ckpt_view_t;

/* Created with the JobMaster (reads its job_cfg); restore_path
 * (savepointPath, may be NULL) is read now: a missing or corrupt path,
 * or state of an operator the job lacks without allow_non_restored,
 * fails here with a message naming the path or the operator. */
cf_ckpt_coord_t *cf_ckpt_coord_new(cf_jobmaster_t *jmr,
                                   const char *restore_path,
                                   int allow_non_restored, cf_error_t **errp);
void cf_ckpt_coord_destroy(cf_ckpt_coord_t *cc);
const cf_ckpt_view_t *cf_ckpt_coord_view(const cf_ckpt_coord_t *cc);
/* Find a checkpoint in the history by id (NULL: unknown). */
const cf_ckpt_stats_t *cf_ckpt_coord_find(const cf_ckpt_coord_t *cc,
                                          int64_t id);

/* Job life cycle (jobmaster.c calls): every task RUNNING -> start the
 * periodic trigger; a failover/cancel/end -> abort pending checkpoints
 * (their directories are removed) and stop triggering; job ended ->
 * retention on cancellation (externalized-checkpoint-retention). */
void cf_ckpt_coord_job_running(cf_ckpt_coord_t *cc);
void cf_ckpt_coord_abort_pending(cf_ckpt_coord_t *cc, const char *reason);
void cf_ckpt_coord_job_ended(cf_ckpt_coord_t *cc, cf_job_status_t status);
/* AcknowledgeCheckpoint / DeclineCheckpoint from a TaskManager. */
void cf_ckpt_coord_on_ack(cf_ckpt_coord_t *cc,
                          const Cflink__AcknowledgeCheckpoint *ack);
void cf_ckpt_coord_on_decline(cf_ckpt_coord_t *cc,
                              const Cflink__DeclineCheckpoint *d);
/* Subtask k of vertex v reached FINISHED: pending checkpoints count it
 * (with its handles of the latest completed checkpoint when it did not
 * acknowledge) and trigger the subtasks downstream of it whose inputs
 * have all finished now. */
void cf_ckpt_coord_task_finished(cf_ckpt_coord_t *cc, int v, int k);
/* For SubmitTask: what subtask k of vertex v restores (NULL when the job
 * starts fresh; owned by the caller: free with
 * cflink__task_restore__free_unpacked(r, NULL)), and the settings. */
Cflink__TaskRestore *cf_ckpt_coord_task_restore(cf_ckpt_coord_t *cc, int v,
                                                int k);
void cf_ckpt_coord_settings(cf_ckpt_coord_t *cc,
                            Cflink__CheckpointSettings *out);

/* Triggers from REST. done is called once on the loop with the completed
 * checkpoint id and its directory, or an error message (e.g. Flink's
 * "Checkpoint triggering task ... is not being executed at the moment"
 * while the job is not running). kind: CF_CKPT_KIND_CHECKPOINT (manual,
 * POST /jobs/:id/checkpoints), CF_CKPT_KIND_SAVEPOINT, or
 * CF_CKPT_KIND_SYNC_SAVEPOINT (stop-with-savepoint: after it completes
 * the job ends FINISHED; drain first ends the input of the sources). A
 * NULL target_dir uses execution.checkpointing.savepoint-dir; without
 * either, the call fails at once: Flink's "No savepoint directory
 * configured. You can either specify a directory while cancelling via
 * -s :targetDirectory or configure a cluster-wide default via key
 * 'execution.checkpointing.savepoint-dir'." Returns 0 (done runs
 * later) or < 0 with *errp set, and then done is never called (no
 * directory, job not running, a stop-with-savepoint already pending, a
 * directory that cannot be created). path: a plain directory (no
 * "file:" scheme). */
typedef void (*cf_ckpt_done_cb)(void *arg, int status, int64_t id,
                                const char *path, const char *error);
int cf_ckpt_coord_trigger(cf_ckpt_coord_t *cc, int kind,
                          const char *target_dir, int drain,
                          cf_ckpt_done_cb done, void *arg, cf_error_t **errp);
/* The REST side is going away (the callback must not run any more). */
void cf_ckpt_coord_forget_cb(cf_ckpt_coord_t *cc, void *arg);

/* ------------------------------------------------------------------ */
/* Dispatcher (dispatcher.c): jars, jobs, the REST handlers' data.     */
/* ------------------------------------------------------------------ */

typedef struct cf_jar_s {
    char id[128];       /* "<uuid>_<basename>" as Flink */
    char *name;         /* basename as uploaded */
    char *path;         /* stored file */
    int64_t uploaded_ms;
    char *plugin_name;  /* from the ABI descriptor */
    char *description;
    struct cf_jar_s *next;
} cf_jar_t;

cf_dispatcher_t *cf_dispatcher_new(cf_jm_t *jm, cf_error_t **errp);
void cf_dispatcher_destroy(cf_dispatcher_t *d);
cf_jobmaster_t *cf_dispatcher_jobs(cf_dispatcher_t *d); /* newest first */
cf_jobmaster_t *cf_dispatcher_find_job(cf_dispatcher_t *d,
                                       const cf_id_t *job_id);
/* A JobMaster reached a globally terminal state (FINISHED, FAILED,
 * CANCELED): it stays listed for the REST API; its slots are free. */
void cf_dispatcher_job_terminated(cf_dispatcher_t *d, cf_jobmaster_t *jmr);
/* A TaskManager was lost: tell every running JobMaster. */
void cf_dispatcher_tm_lost(cf_dispatcher_t *d, const char *resource_id,
                           const char *reason);
/* Register the REST routes (rest_handlers.c). */
void cf_rest_handlers_register(cf_jm_t *jm);
/* Monitoring endpoints (rest_ops.c, rest_vertex.c), called by
 * cf_rest_handlers_register. */
void cf_rest_ops_register(cf_jm_t *jm);
void cf_rest_vertex_register(cf_jm_t *jm);
/* Shared by the REST handler files (rest_handlers.c). Thread: loop. */
int cf_rest_is_hex32(const char *s);
/* Flink's 400 "Cannot resolve path parameter (key) from value ...". */
json_t *cf_rest_bad_path_param(int *status, const char *key,
                               const char *value);
/* The job named by path parameter idx, or NULL with *err set (400 for a
 * malformed id, 404 "Job <id> not found"). */
cf_jobmaster_t *cf_rest_job_param(cf_jm_t *jm, const cf_rest_req_t *req,
                                  int idx, int *status, json_t **err);
/* Flink's ExecutionJobVertex.getAggregateJobVertexState. */
cf_exec_state_t cf_rest_vertex_state(const int counts[CF_EXEC_STATE_COUNT],
                                     int parallelism);
/* rest_vertex.c's bodies, over a vertex at time now (epoch ms); the unit
 * tests call them. */
json_t *cf_rest_subtasktimes_dto(const cf_ejv_t *v, int64_t now);
json_t *cf_rest_vertex_taskmanagers_dto(const cf_ejv_t *v, int64_t now);
json_t *cf_rest_backpressure_dto(const cf_ejv_t *v, int64_t now);
json_t *cf_rest_vertex_accumulators_dto(const cf_ejv_t *v);
json_t *cf_rest_subtasks_accumulators_dto(const cf_ejv_t *v);
json_t *cf_rest_job_accumulators_dto(const cf_jobmaster_t *j);
/* Flink's IOMetricsInfo; tt: the accumulated times (ms since RUNNING of
 * a task, or summed over tasks; 0 before a report carried them). */
json_t *cf_rest_io_metrics(int64_t rb, int64_t wb, int64_t rr, int64_t wr,
                           int complete, const cf_task_times_t *tt);
/* Flink's AggregatedTaskDetailsInfo over the subtasks idx[0..n) of v
 * (idx NULL: the first n). */
json_t *cf_rest_vertex_aggregated(const cf_ejv_t *v, const int *idx, int n,
                                  int64_t now);
const char *cf_rest_backpressure_level(double ratio);
/* The job jid among jobs (a ->next list) and, when vid is not NULL, its
 * vertex vid: NULL with *jp (and *vp) set, else the error body with
 * *status set (400 malformed id, 404 unknown job or vertex). */
json_t *cf_rest_vertex_resolve(cf_jobmaster_t *jobs, const char *jid,
                               const char *vid, cf_jobmaster_t **jp,
                               cf_ejv_t **vp, int *status);

/* The bodies of the task metric endpoints (rest_handlers.c; exposed for
 * the unit tests), over the subtasks' event-time figures, each a bare
 * JSON array as Flink's; a subtask that has not reported them has no
 * metrics. Thread: loop.
 * GET .../vertices/:vid/watermarks: [{"id":"<i>.currentInputWatermark",
 * "value":"<decimal>"}] in subtask order. */
json_t *cf_rest_watermarks_dto(const cf_ejv_t *v);
/* GET .../vertices/:vid/metrics[?get=]: get NULL or empty: the available
 * ids [{"id":"<i>.<name>"}]; else the values of the comma-separated ids
 * requested that exist [{"id","value"}]. */
json_t *cf_rest_vertex_metrics_dto(const cf_ejv_t *v, const char *get);
/* GET .../vertices/:vid/subtasks/:i/metrics[?get=]: the same without the
 * subtask prefix. */
json_t *cf_rest_subtask_metrics_dto(const cf_exec_vertex_t *ev,
                                    const char *get);
/* GET .../vertices/:vid/subtasks/metrics[?get=&agg=&subtasks=]: without
 * get the ids any selected subtask has; else per metric
 * {"id","min","max","avg","sum","skew"} (numbers; agg selects), or []
 * when a requested metric has no value. A bad agg or subtasks value: the
 * 400 error body with *status set. */
json_t *cf_rest_subtasks_metrics_dto(const cf_ejv_t *v, const char *get,
                                     const char *agg, const char *subtasks,
                                     int *status);

#endif /* CF_JOBMANAGER_INT_H */
