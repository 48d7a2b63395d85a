/*
 * taskmanager_int.h: the TaskManager's components (Flink's TaskExecutor,
 * TaskSlotTable, Task and BlobCache) and how they share the process.
 *
 *   task_executor.c  the JobManager connection: registration, heartbeats,
 *                    slots (RequestSlot, OfferSlots, FreeSlot), message
 *                    dispatch, connection loss and shutdown
 *   tasks.c          SubmitTask and CancelTask: the per-job plugin cache
 *                    (one loaded plugin and one bound cf_job_t per job),
 *                    task deployment (with restore state and checkpoint
 *                    settings), state reports (also the counters sent
 *                    with each heartbeat), checkpoint trigger/notify
 *                    dispatch, acknowledgements and declines, teardown
 *   blob_cache.c     plugin files by SHA-256 key: the cache directory and
 *                    fetching with BlobGet
 *   tm_ops.c         TaskManagerInfoRequest: log list and files, stdout,
 *                    thread dump, metrics (relayed by the JobManager's
 *                    REST API)
 *
 * Threads: everything here runs on the TaskManager's control loop, except
 * what the comments mark (task threads post state changes to the loop,
 * task and snapshot writer threads post checkpoint acks and declines;
 * the network manager's done callbacks post too; plugin loading runs on
 * the loop's worker pool).
 */
#ifndef CF_TASKMANAGER_INT_H
#define CF_TASKMANAGER_INT_H

#include <stdint.h>

#include "config.h"
#include "core.h"
#include "loop.h"
#include "net.h"
#include "netmgr.h"
#include "proc_info.h"
#include "rpc.h"
#include "runtime.h"

#ifndef CF_VERSION
#define CF_VERSION "0.0.0"
#endif

typedef struct cf_tm_s cf_tm_t;
typedef struct cf_tm_job_s cf_tm_job_t;
typedef struct cf_tm_task_s cf_tm_task_t;

/* Flink's TaskSlotState, reduced to what a slot report needs. */
typedef enum cf_tm_slot_state_e {
    CF_TM_SLOT_FREE = 0,
    CF_TM_SLOT_ALLOCATED, /* to (job_id, allocation_id) */
    CF_TM_SLOT_RELEASING, /* freed, waiting for its tasks to end */
} cf_tm_slot_state_t;

typedef struct cf_tm_slot_s {
    int index;
    cf_tm_slot_state_t state;
    cf_id_t job_id;
    cf_id_t allocation_id;
    int ntasks; /* task records (running or being torn down) */
} cf_tm_slot_t;

/* The TaskManager process. */
struct cf_tm_s {
    cf_loop_t *loop;
    const cf_config_t *cfg; /* borrowed */
    char *resource_id;
    char *host; /* advertised to the JobManager and to peers */
    char *jm_host;
    int jm_port;
    int data_port;
    int64_t start_ms;
    int64_t network_bytes;
    int64_t physical_memory;
    int cpu_cores;
    int64_t rpc_timeout_ms; /* pekko.ask.timeout */
    int64_t hb_timeout_ms;  /* heartbeat.timeout */
    int64_t retry_ms;       /* connection and registration retries */
    int buffers_per_channel;
    int floating_per_gate; /* floating-buffers-per-gate */

    cf_net_env_t *env;
    cf_netmgr_t *net;

    int nslots;
    cf_tm_slot_t *slots;

    /* JobManager connection. epoch grows at every (re)connection, so a
     * reply meant for an older connection is never sent on a newer one. */
    cf_rpc_conn_t *conn;
    uint32_t epoch;
    int registering;
    int registered;
    cf_id_t registration_id;
    char *jm_id;
    int64_t last_hb_ms; /* monotonic */
    cf_timer_t *hb_check;
    cf_timer_t *report_timer; /* cflink.metrics.report-interval */
    int64_t report_ms;
    cf_timer_t *reg_retry;

    char *blob_dir;
    cf_tm_job_t *jobs;
    cf_tm_task_t *tasks;
    int ntasks;
    int npreparing; /* jobs whose plugin is being fetched or loaded */

    int shutting_down;
    cf_timer_t *shutdown_timer;
    int exit_code;

    cf_proc_cpu_load_t cpu_load; /* Status.Process.CPU.Load samples */
};

/* ------------------------------------------------------------------ */
/* task_executor.c                                                     */
/* ------------------------------------------------------------------ */

/* Create the TaskManager from cfg (borrowed; must outlive it): network
 * budget, network manager, slots, blob cache directory. Errors name the
 * key or resource at fault. */
cf_tm_t *cf_tm_new(cf_loop_t *loop, const cf_config_t *cfg, cf_error_t **errp);
/* Connect to the JobManager (retrying until it appears) and register. */
int cf_tm_start(cf_tm_t *tm);
/* Graceful shutdown: cancel every task, wait for them (at most
 * timeout_ms), say goodbye to the JobManager, then stop the loop. */
void cf_tm_shutdown(cf_tm_t *tm, int64_t timeout_ms);
/* Free everything (the loop must have stopped). Tasks still running
 * (shutdown timed out) are left behind: the process is exiting. */
void cf_tm_destroy(cf_tm_t *tm);

cf_tm_slot_t *cf_tm_slot_by_allocation(cf_tm_t *tm, const cf_id_t *alloc);
/* Whether a slot of job_id is allocated or releasing. */
int cf_tm_job_has_slots(cf_tm_t *tm, const cf_id_t *job_id);
/* A task of slot ended and was freed: a releasing slot without tasks
 * becomes free; the shutdown may complete. */
void cf_tm_task_gone(cf_tm_t *tm, int slot);
/* Whether the connection epoch is still current and open (replies to
 * requests of that epoch may be sent). */
int cf_tm_conn_current(cf_tm_t *tm, uint32_t epoch);
/* Check whether a pending shutdown can complete. */
void cf_tm_check_shutdown(cf_tm_t *tm);

/* ------------------------------------------------------------------ */
/* tasks.c                                                             */
/* ------------------------------------------------------------------ */

/* SubmitTask (a request): deploy now, or once the job's plugin is
 * ready; the reply is an Ack or an error naming the cause. */
void cf_tm_on_submit(cf_tm_t *tm, uint64_t req_id,
                     const Cflink__SubmitTask *st);
/* CancelTask (a request): always answered with an Ack. */
void cf_tm_on_cancel(cf_tm_t *tm, uint64_t req_id,
                     const Cflink__CancelTask *ct);
/* TriggerCheckpoint (one-way): start the checkpoint at the task of the
 * attempt (cf_task_trigger_checkpoint); an unknown or ended attempt, or
 * an invalid trigger, is answered with a DeclineCheckpoint ("Task <name
 * or attempt> is not running"). The task acknowledges or declines later
 * through its checkpoint callbacks (posted to the loop, sent as
 * AcknowledgeCheckpoint / DeclineCheckpoint on the connection the task
 * was deployed on). */
void cf_tm_on_trigger_checkpoint(cf_tm_t *tm,
                                 const Cflink__TriggerCheckpoint *tc);
/* NotifyCheckpoint (one-way): cf_task_notify_checkpoint; ignored for an
 * unknown or ended attempt. */
void cf_tm_on_notify_checkpoint(cf_tm_t *tm,
                                const Cflink__NotifyCheckpoint *nc);
/* Cancel every task (slot < 0) or the tasks of one slot. Returns how
 * many task records remain (ending). */
int cf_tm_cancel_tasks(cf_tm_t *tm, int slot);
/* Drop submissions waiting for a plugin (the connection they came on is
 * gone). */
void cf_tm_drop_pending(cf_tm_t *tm);
/* Destroy the cached job of job_id if it has no task, no slot and is not
 * being prepared. */
void cf_tm_job_gc(cf_tm_t *tm, const cf_id_t *job_id);
/* Free every cached job (shutdown; no task may remain). */
void cf_tm_jobs_destroy(cf_tm_t *tm);
/* For a HeartbeatResponse: the counters (cf_task_counters), event-time
 * figures (cf_task_input_watermark, cf_task_late_records_dropped) and
 * current state of every task deployed and not yet ended. *out gets n pointers
 * into one block (free it with cf_free; the ids borrow the task records,
 * so send before the loop runs on), or NULL when n is 0. */
size_t cf_tm_task_reports(cf_tm_t *tm,
                          Cflink__UpdateTaskExecutionState ***out);
/* The name of the task of an attempt ("Map (1/2)#0"), or NULL when none is
 * deployed here. */
const char *cf_tm_task_name(cf_tm_t *tm, const cf_id_t *attempt_id);

/* ------------------------------------------------------------------ */
/* tm_ops.c                                                            */
/* ------------------------------------------------------------------ */

/* Most bytes of a log file one TaskManagerInfoResponse carries (under
 * the 10 MiB RPC frame with room for the envelope). */
#define CF_TM_OPS_MAX_READ ((int64_t)8 << 20)
/* Most files a LOG_LIST answer names. */
#define CF_TM_OPS_MAX_FILES 1000

/* TaskManagerInfoRequest (a request): answered on tm->conn with a
 * TaskManagerInfoResponse, or an error naming the file or the kind. */
void cf_tm_on_info_request(cf_tm_t *tm, uint64_t req_id,
                           const Cflink__TaskManagerInfoRequest *rq);
/* The TaskManager's log file (cf_free), or NULL when it logs to
 * stderr: taskmanager.log.path, else --log-file. */
char *cf_tm_ops_log_file(const cf_tm_t *tm);
/* The metric names a METRICS request may name, for tests and docs. */
size_t cf_tm_ops_metric_count(void);
const char *cf_tm_ops_metric_name(size_t i);

/* ------------------------------------------------------------------ */
/* blob_cache.c                                                        */
/* ------------------------------------------------------------------ */

/* <blob.storage.directory | first io.tmp.dirs | $TMPDIR | /tmp>/
 * cflink-tm-blobs-<resource id with [^A-Za-z0-9._-] replaced by '_'>,
 * created. */
char *cf_tm_blob_dir(const cf_config_t *cfg, const char *resource_id,
                     cf_error_t **errp);
/* The cache path of a key ("<dir>/<64 hex>.so"). free() it. */
char *cf_tm_blob_path(const char *dir, const char *key_hex);
/* A blob key as sent in SubmitTask.plugin_key (32 raw bytes, or 64 hex
 * characters) to 64 lower-case hex. 0 or CF_EPROTO. */
int cf_tm_blob_key_hex(const ProtobufCBinaryData *key, char out[65]);

/* Fetched bytes of one blob. */
typedef struct cf_tm_blob_data_s {
    uint8_t *data;
    size_t len;
} cf_tm_blob_data_t;

/* Called on the loop when the fetch ends: status 0 with data (owned by
 * the callee: free(data->data)) whose SHA-256 matched, or an error. */
typedef void (*cf_tm_blob_cb)(cf_tm_t *tm, int status, const char *error,
                              cf_tm_blob_data_t *data, void *arg);
/* Fetch the blob key (sent back exactly as received) from the
 * JobManager in BlobGet chunks of 1 MiB and check its SHA-256. */
int cf_tm_blob_fetch(cf_tm_t *tm, const ProtobufCBinaryData *key,
                     const char *key_hex, cf_tm_blob_cb cb, void *arg);
/* Worker thread: write data to a temporary file in dir and rename it to
 * path (atomically visible, complete). */
int cf_tm_blob_store(const char *path, const cf_tm_blob_data_t *data,
                     cf_error_t **errp);
/* SHA-256 of a buffer as 64 hex characters. */
void cf_tm_sha256_hex(const void *data, size_t len, char out[65]);

#endif /* CF_TASKMANAGER_INT_H */
