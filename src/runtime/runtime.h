/*
 * runtime.h: what the runtime module offers the layers above it (the CLI
 * now; the JobManager and TaskManager daemons next): loading a job
 * plugin, building its StreamGraph and JobGraph, printing the JSON plan,
 * and running a job in this process (Flink's MiniCluster, "-t local").
 */
#ifndef CF_RUNTIME_H
#define CF_RUNTIME_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

/* ------------------------------------------------------------------ */
/* States with Flink's names (JobStatus, ExecutionState).              */
/* ------------------------------------------------------------------ */

#define CF_JOB_STATUS_MAP(XX)                                                \
    XX(INITIALIZING)                                                         \
    XX(CREATED)                                                              \
    XX(RUNNING)                                                              \
    XX(FAILING)                                                              \
    XX(FAILED)                                                               \
    XX(CANCELLING)                                                           \
    XX(CANCELED)                                                             \
    XX(FINISHED)                                                             \
    XX(RESTARTING)                                                           \
    XX(SUSPENDED)                                                            \
    XX(RECONCILING)

typedef enum cf_job_status_e {
#define CF__XX(n) CF_JOB_##n,
    CF_JOB_STATUS_MAP(CF__XX)
#undef CF__XX
        CF_JOB_STATUS_COUNT
} cf_job_status_t;

#define CF_EXEC_STATE_MAP(XX)                                                \
    XX(CREATED)                                                              \
    XX(SCHEDULED)                                                            \
    XX(DEPLOYING)                                                            \
    XX(RUNNING)                                                              \
    XX(FINISHED)                                                             \
    XX(CANCELING)                                                            \
    XX(CANCELED)                                                             \
    XX(FAILED)                                                               \
    XX(RECONCILING)                                                          \
    XX(INITIALIZING)

typedef enum cf_exec_state_e {
#define CF__XX(n) CF_EXEC_##n,
    CF_EXEC_STATE_MAP(CF__XX)
#undef CF__XX
        CF_EXEC_STATE_COUNT
} cf_exec_state_t;

const char *cf_job_status_name(cf_job_status_t s);
const char *cf_exec_state_name(cf_exec_state_t s);
int cf_job_status_is_globally_terminal(cf_job_status_t s);
int cf_exec_state_is_terminal(cf_exec_state_t s);
/* Whether a transition is legal (Flink's state machines). */
int cf_job_status_can_move(cf_job_status_t from, cf_job_status_t to);
int cf_exec_state_can_move(cf_exec_state_t from, cf_exec_state_t to);

/* ------------------------------------------------------------------ */
/* Plugins                                                             */
/* ------------------------------------------------------------------ */

typedef struct cf_plugin_lib_s cf_plugin_lib_t;

/* Check the file (an ELF shared library with a .cflink_abi section of a
 * compatible version) before any of its code runs, then load it. Errors
 * name the file and the reason. */
int cf_plugin_open(const char *path, cf_plugin_lib_t **out,
                   cf_error_t **errp);
void cf_plugin_close(cf_plugin_lib_t *lib);
const char *cf_plugin_name(const cf_plugin_lib_t *lib);
const char *cf_plugin_description(const cf_plugin_lib_t *lib);
const char *cf_plugin_path(const cf_plugin_lib_t *lib);
/* Only the ABI check (no loading): 0 or an error naming the file. */
int cf_plugin_check_file(const char *path, cf_error_t **errp);

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

typedef struct cf_job_s cf_job_t;

typedef struct cf_job_opts_s {
    int parallelism; /* -p; <= 0: parallelism.default */
    int argc;        /* program arguments; argv[0] is the plugin path */
    char **argv;
    const char *job_id_hex; /* NULL: random */
} cf_job_opts_t;

/* Run the plugin's entry to build the StreamGraph, then derive the
 * JobGraph (chaining). cfg is borrowed and must outlive the job. */
int cf_job_build(cf_plugin_lib_t *lib, const cf_config_t *cfg,
                 const cf_job_opts_t *opts, cf_job_t **out,
                 cf_error_t **errp);
void cf_job_destroy(cf_job_t *job);
const char *cf_job_name(const cf_job_t *job);
const char *cf_job_id_hex(const cf_job_t *job);
/* Flink's JSON plan ({"jid","name","type","nodes":[...]}); free() it. */
char *cf_job_plan_json(const cf_job_t *job, int pretty);
/* The JobGraph as a protobuf message (cflink.JobGraph); free() it. */
int cf_job_encode(const cf_job_t *job, uint8_t **buf, size_t *len);

/* ------------------------------------------------------------------ */
/* Local execution (MiniCluster)                                       */
/* ------------------------------------------------------------------ */

typedef struct cf_local_result_s {
    cf_job_status_t status; /* FINISHED, FAILED or CANCELED */
    int64_t start_ms;
    int64_t end_ms;
    char *failure; /* the root cause when FAILED (free()) */
} cf_local_result_t;

/* Run the job in this process until it ends. *cancel (set from a signal
 * handler, for instance) cancels it. */
int cf_job_run_local(cf_job_t *job, const volatile sig_atomic_t *cancel,
                     cf_local_result_t *res, cf_error_t **errp);


/* ------------------------------------------------------------------ */
/* Cluster deployment (TaskManager side, and JobManager helpers)       */
/* ------------------------------------------------------------------ */

struct cf_net_env_s;
struct cf_net_gate_s;
struct cf_net_partition_s;

/* The network memory of a process from taskmanager.memory.network.*
 * (Flink's derivation), and the output flush interval from
 * execution.buffer-timeout.* (ns; -1: flush only full buffers). */
int64_t cf_runtime_network_bytes(const cf_config_t *cfg);
int64_t cf_runtime_flush_ns(const cf_config_t *cfg);

/* Bind a job that the plugin's entry just built (cf_job_build, with the
 * same arguments and parallelism) to the JobGraph the JobManager shipped:
 * vertices, chains and parallelisms come from buf. Fails, naming the
 * operator, when the entry built another graph. */
int cf_job_bind(cf_job_t *job, const uint8_t *buf, size_t len,
                cf_error_t **errp);

/* Consumers [*lo, *lo + *n) of producer subtask i on an edge of
 * partitioner (CF_PARTITION_*, 7 = HASH) from P producers to C
 * consumers: all of them, or Flink's POINTWISE pattern for FORWARD and
 * RESCALE. A consumer's input channels are, per input in order, the
 * connected producers in index order; producer i addresses consumer k
 * through its subpartition k - lo. */
void cf_job_edge_consumers(int partitioner, int P, int C, int i, int *lo,
                           int *n);

/* One deployed subtask (Flink's Task): a thread running the vertex's
 * chain. Created with its output partitions (pools reserved from net)
 * and its input gate; the caller connects them (the network manager),
 * then starts it. The thread waits until every output subpartition is
 * connected (cf_task_connected() reaches cf_task_subpartitions()) before
 * running the chain. */
typedef struct cf_task_s cf_task_t;

/* Called on the task's thread at every ExecutionState change (failure is
 * the root cause when FAILED). Must not block. */
typedef void (*cf_task_state_cb)(cf_task_t *t, cf_exec_state_t state,
                                 const char *failure, void *arg);

/* ---- Checkpoints (the checkpoint issue) ---- */

/* Checkpoint kinds (TriggerCheckpoint.kind, the barrier's kind). */
#define CF_CKPT_KIND_CHECKPOINT 0
#define CF_CKPT_KIND_SAVEPOINT 1
#define CF_CKPT_KIND_SYNC_SAVEPOINT 2 /* stop-with-savepoint */

/* A barrier, as triggered at a source and carried in-band. */
typedef struct cf_barrier_s {
    int64_t id;
    int64_t timestamp; /* epoch ms of the trigger */
    int kind;          /* CF_CKPT_KIND_* */
    int drain;         /* stop-with-savepoint --drain */
    const char *location; /* directory for state files (absolute) */
} cf_barrier_t;

/* A state file handle (checkpoint.proto StateHandle). */
typedef struct cf_state_handle_s {
    char *path; /* absolute */
    uint64_t size;
    int subtask;
    int has_keyed;
    int kg_start, kg_end;
    int has_operator;
} cf_state_handle_t;

/* A subtask's acknowledgement: per operator of its chain that has state,
 * one handle. Everything is owned by the ack (cf_task_ack_free). */
typedef struct cf_task_ack_s {
    int64_t checkpoint_id;
    int nops;
    cf_id_t *op_ids;            /* nops */
    cf_state_handle_t *handles; /* nops */
    uint64_t state_size;
    int64_t sync_ms, async_ms, alignment_ms;
    uint64_t processed_data;
    int finished; /* the task had ended its input (final checkpoint) */
} cf_task_ack_t;
void cf_task_ack_free(cf_task_ack_t *ack);

/* Restore input of one operator and of one subtask (TaskRestore). */
typedef struct cf_op_restore_s {
    cf_id_t op_id;
    int old_parallelism;
    cf_state_handle_t *handles;
    int nhandles;
    int finished; /* every old subtask had finished */
} cf_op_restore_t;

typedef struct cf_task_restore_s {
    int64_t checkpoint_id;
    cf_op_restore_t *ops;
    int nops;
} cf_task_restore_t;

/* Called by the task (on the task thread or a snapshot writer thread)
 * when its part of a checkpoint is done (ack: owned by the callee) or
 * failed (decline: reason borrowed for the call). Must not block. */
typedef struct cf_task_ckpt_cbs_s {
    void (*ack)(cf_task_t *t, cf_task_ack_t *ack, void *arg);
    void (*decline)(cf_task_t *t, int64_t checkpoint_id, const char *reason,
                    void *arg);
} cf_task_ckpt_cbs_t;

typedef struct cf_task_spec_s {
    int vertex;        /* index in the job's vertices */
    int subtask;
    int attempt;       /* attempt number (the "#n" of the task name) */
    int nchannels;     /* input channels over all inputs */
    struct cf_net_env_s *net; /* the TaskManager's network budget */
    cf_task_state_cb state_cb;
    void *cb_arg;
    /* Checkpointing (all optional). checkpointing: periodic checkpoints
     * are configured (a task that ended its input then waits for one more
     * completed checkpoint before it finishes, as Flink's final
     * checkpoint). exactly_once: align barriers; else at-least-once.
     * restore: copied by cf_task_deploy. */
    int checkpointing;
    int exactly_once;
    int compress;
    const cf_task_ckpt_cbs_t *ckpt_cbs; /* called with cb_arg */
    const cf_task_restore_t *restore;
} cf_task_spec_t;

cf_task_t *cf_task_deploy(cf_job_t *job, const cf_task_spec_t *spec,
                          cf_error_t **errp);
int cf_task_noutputs(const cf_task_t *t);
struct cf_net_partition_s *cf_task_output(cf_task_t *t, int o);
/* NULL for a source vertex. */
struct cf_net_gate_s *cf_task_gate(cf_task_t *t);
/* Sum of the outputs' subpartitions, and the counter the network manager
 * increments as each is connected (with cf_task_signal() notified). */
int cf_task_subpartitions(const cf_task_t *t);
atomic_int *cf_task_connected(cf_task_t *t);
cf_signal_t *cf_task_signal(cf_task_t *t);
const char *cf_task_name_get(const cf_task_t *t); /* "Map (1/2)#0" */
cf_exec_state_t cf_task_state(const cf_task_t *t);
void cf_task_counters(const cf_task_t *t, int64_t *records_in,
                      int64_t *records_out, int64_t *bytes_in,
                      int64_t *bytes_out);
/* Event-time figures of a running task (any thread; ABI 1.2): the
 * currentInputWatermark of its head operator (INT64_MIN: none yet; a
 * source task: the watermark its chain emitted last) and
 * numLateRecordsDropped summed over its window operators. */
int64_t cf_task_input_watermark(const cf_task_t *t);
uint64_t cf_task_late_records_dropped(const cf_task_t *t);
/* Where a task's time went since it started RUNNING (Flink's
 * accumulatedBusyTime, accumulatedBackpressuredTime, accumulatedIdleTime),
 * in ms: idle is the time blocked waiting for input (an empty input gate,
 * a source with nothing to emit, an ended task waiting for its final
 * checkpoint); back_pressured the time blocked waiting for an output
 * buffer (every output must have a free buffer before the task takes the
 * next input, and a write that finds its pool empty waits inside the
 * record writer); busy the rest of the wall time. Each figure never
 * decreases and their sum is the RUNNING wall time (up to now, or to the
 * task's end). Returns 1, or 0 with zeros when the task is not measured
 * (not RUNNING yet, or the measurement was off when it started). Lock-free;
 * thread: any. */
typedef struct cf_task_times_s {
    uint64_t busy_ms;
    uint64_t back_pressured_ms;
    uint64_t idle_ms;
} cf_task_times_t;
int cf_task_times(const cf_task_t *t, cf_task_times_t *out);
/* The process-wide switch of that measurement (on by default; not a
 * configuration key: benchmarks turn it off to measure its cost). A task
 * reads it when it starts RUNNING. Thread: any. */
void cf_runtime_task_times_enable(int on);
int cf_runtime_task_times_enabled(void);
/* The waits metered by the tasks of this process that have ended (each
 * task adds its count once, when it stops RUNNING): benchmarks divide
 * the cost of one metered wait by it. Thread: any. */
uint64_t cf_runtime_task_times_waits(void);

/* Per-second rates from successive cumulative figures of one task attempt
 * (Flink's numRecordsInPerSecond & co. and busyTimeMsPerSecond & co.), as
 * the JobMaster and the TaskManager's Prometheus reporter compute them.
 * A sample closer than window_ms to the kept one is not used (the kept,
 * older one stays, so that reports arriving often still give rates over
 * at least window_ms); otherwise the rates become the change between the
 * two over the time between them, and the new sample is kept. The time
 * between two samples is the change of busy + back-pressured + idle (the
 * task's own RUNNING wall time, free of the reports' transport delay)
 * when both carry times, else the change of t_ms. Time rates are in ms
 * per second, clamped to [0, 1000]; counter rates are per second, >= 0.
 * Before two samples: every rate is 0 (valid is 0). */
enum {
    CF_RATE_RECORDS_IN,
    CF_RATE_RECORDS_OUT,
    CF_RATE_BYTES_IN,
    CF_RATE_BYTES_OUT,
    CF_RATE_BUSY,
    CF_RATE_BACKPRESSURED,
    CF_RATE_IDLE,
    CF_RATE_COUNT
};
typedef struct cf_task_sample_s {
    int64_t t_ms;         /* when taken: any monotonic ms clock */
    int64_t counts[4];    /* records in, records out, bytes in, bytes out */
    int has_times;
    cf_task_times_t times;
} cf_task_sample_t;
typedef struct cf_task_rates_s {
    cf_task_sample_t kept;
    int has_kept;
    int valid; /* rate[] was computed from two samples */
    double rate[CF_RATE_COUNT];
} cf_task_rates_t;
void cf_task_rates_reset(cf_task_rates_t *r);
void cf_task_rates_feed(cf_task_rates_t *r, const cf_task_sample_t *s,
                        int64_t window_ms);
/* The minimum window the JobMaster and the reporter use (Flink's
 * MeterView ticks every second). */
#define CF_TASK_RATE_WINDOW_MS 1000

/* SCHEDULED -> DEPLOYING, start the thread. */
int cf_task_start(cf_task_t *t, cf_error_t **errp);
/* Ask the thread to stop (CANCELING -> CANCELED). Thread: any. */
void cf_task_cancel(cf_task_t *t);
/* Start checkpoint b at this task (a source, or a task whose inputs have
 * all ended): posted to the task's mailbox; the task snapshots, emits the
 * barrier downstream and acknowledges. A task that cannot (not running
 * yet, already finished) declines. Thread: any (b is copied). */
void cf_task_trigger_checkpoint(cf_task_t *t, const cf_barrier_t *b);
/* Checkpoint id completed (aborted = 0) or was aborted. Thread: any. */
void cf_task_notify_checkpoint(cf_task_t *t, int64_t id, int aborted);
/* Wait for the thread (after a terminal state). */
void cf_task_join(cf_task_t *t);
/* Free after join, once the network manager released the task's
 * partitions and gate: destroys the gate (recycling what is queued),
 * the partitions, and hands the pools back (each freed when its last
 * buffer, possibly held by a local consumer, returns). */
void cf_task_free(cf_task_t *t);

#endif /* CF_RUNTIME_H */
