/*
 * config_keys.h: the table of known configuration keys (Flink's names,
 * types and defaults, FLINK_INTERFACES.md section 3), plus cflink's own
 * keys (prefix "cflink.").
 *
 * Each row: key, type, default as text (NULL: none), enum values ('|'),
 * deprecated names ('|', stored under the current name), one-line doc.
 * A deprecated name may belong to several keys (Flink's
 * state.backend.local-recovery sets two options); setting it sets all.
 *
 * Fallback keys (cf_config_fallbacks) are other known keys read when a
 * key is not set, before its default (Flink's withFallbackKeys).
 *
 * Included by config.c only: the table is the single source of truth,
 * read by everyone else through cf_config_keys() and cf_config_key_find().
 * docs/user-guide/configuration.md lists the same keys (a unit test
 * checks it).
 */
#ifndef CF_CONFIG_KEYS_H
#define CF_CONFIG_KEYS_H

#include "config.h"

#define S CF_CFG_STRING
#define I CF_CFG_INT
#define L CF_CFG_LONG
#define F CF_CFG_DOUBLE
#define B CF_CFG_BOOL
#define D CF_CFG_DURATION
#define M CF_CFG_MEMORY
#define E CF_CFG_ENUM

static const cf_config_key_t cf_config_key_table[] = {
    /* Hosts and ports. */
    {"jobmanager.rpc.address", S, NULL, NULL, NULL,
     "Address of the JobManager, for TaskManagers and clients."},
    {"jobmanager.rpc.port", I, "6123", NULL, NULL,
     "RPC port of the JobManager."},
    {"jobmanager.bind-host", S, NULL, NULL, NULL,
     "Interface the JobManager RPC server binds to (e.g. 0.0.0.0)."},
    {"jobmanager.rpc.bind-port", I, NULL, NULL, NULL,
     "Local RPC port the JobManager binds to; unset: jobmanager.rpc.port."},
    {"taskmanager.host", S, NULL, NULL, NULL,
     "Address of the TaskManager, for the JobManager and other "
     "TaskManagers."},
    {"taskmanager.bind-host", S, NULL, NULL, NULL,
     "Interface the TaskManager servers bind to (e.g. 0.0.0.0)."},
    {"taskmanager.rpc.port", S, "0", NULL, NULL,
     "RPC port of the TaskManager: a port, a range (50100-50200) or 0 "
     "(any)."},
    {"taskmanager.rpc.bind-port", I, NULL, NULL, NULL,
     "Local RPC port the TaskManager binds to; unset: taskmanager.rpc.port."},
    {"taskmanager.data.port", I, "0", NULL, NULL,
     "Data (shuffle) port of the TaskManager; 0: any free port."},
    {"taskmanager.resource-id", S, NULL, NULL, NULL,
     "Resource id of the TaskManager; unset: generated from host and port."},
    {"blob.server.port", S, "0", NULL, NULL,
     "Port of the JobManager's blob server: a port, a range or 0 (any)."},
    {"blob.storage.directory", S, NULL, NULL, NULL,
     "Directory of the blob server and caches; unset: io.tmp.dirs."},

    /* REST and web. */
    {"rest.address", S, NULL, NULL, NULL,
     "Address REST clients connect to; unset: jobmanager.rpc.address."},
    {"rest.port", I, "8081", NULL, NULL,
     "Port REST clients connect to (and the server binds to when "
     "rest.bind-port is unset)."},
    {"rest.bind-address", S, NULL, NULL,
     "jobmanager.web.address|web.address",
     "Address the REST and web server binds to."},
    {"rest.bind-port", S, "8081", NULL, "web.port|jobmanager.web.port",
     "Port or range (8080-8090) the REST server binds to; unset: "
     "rest.port."},
    {"rest.path", S, NULL, NULL, NULL,
     "Path prefix REST clients use to reach the server."},
    {"rest.url-prefix", S, "/", NULL, NULL,
     "URL prefix of the REST API."},
    {"rest.async.store-duration", D, "5 min", NULL, NULL,
     "How long results of asynchronous operations are kept."},
    {"rest.server.max-content-length", I, "104857600", NULL, NULL,
     "Maximum size of a request the REST server accepts, in bytes."},
    {"rest.client.max-content-length", I, "104857600", NULL, NULL,
     "Maximum size of a response the REST client accepts, in bytes."},
    {"rest.server.numThreads", I, "4", NULL, NULL,
     "Number of threads of the REST server."},
    {"rest.idleness-timeout", D, "5 min", NULL, NULL,
     "Idle time after which a REST connection is closed."},
    {"rest.connection-timeout", D, "15 s", NULL, NULL,
     "Timeout of the REST client to establish a connection."},
    {"rest.await-leader-timeout", D, "30 s", NULL, NULL,
     "Time the REST client waits for the leader address."},
    {"rest.retry.max-attempts", I, "20", NULL, NULL,
     "Retries of the REST client on retriable errors."},
    {"rest.retry.delay", D, "3 s", NULL, NULL,
     "Delay between retries of the REST client."},
    {"rest.flamegraph.enabled", B, "false", NULL, NULL,
     "Whether the flame graph endpoints are enabled."},
    {"rest.profiling.enabled", B, "false", NULL, NULL,
     "Whether the profiling endpoints are enabled."},
    {"web.submit.enable", B, "true", NULL, "jobmanager.web.submit.enable",
     "Whether jobs can be uploaded and submitted from the web UI."},
    {"web.cancel.enable", B, "true", NULL, NULL,
     "Whether jobs can be cancelled from the web UI."},
    {"web.rescale.enable", B, "true", NULL, NULL,
     "Whether jobs can be rescaled from the web UI."},
    {"web.refresh-interval", D, "3 s", NULL,
     "jobmanager.web.refresh-interval",
     "Refresh interval of the web UI."},
    {"web.upload.dir", S, NULL, NULL, "jobmanager.web.upload.dir",
     "Directory of uploaded job plugins; unset: under web.tmpdir."},
    {"web.tmpdir", S, NULL, NULL, "jobmanager.web.tmpdir",
     "Temporary directory of the web server; unset: $TMPDIR, else /tmp."},
    {"web.checkpoints.history", I, "10", NULL,
     "jobmanager.web.checkpoints.history",
     "Number of checkpoints kept in the checkpoint statistics history."},
    {"jobstore.max-capacity", I, "1000", NULL, NULL,
     "Finished jobs kept by the JobManager for the REST API."},
    {"web.exception-history-size", I, "16", NULL, NULL,
     "Number of failures kept in a job's exception history."},
    {"web.history", I, "5", NULL, "jobmanager.web.history",
     "Number of archived jobs the JobManager keeps."},
    {"web.log.path", S, NULL, NULL, "jobmanager.web.log.path",
     "Path of the JobManager log shown in the web UI."},
    {"taskmanager.log.path", S, NULL, NULL, NULL,
     "Path of the TaskManager log served by /taskmanagers/:id/log; unset: "
     "the TaskManager's --log-file."},
    {"web.timeout", D, "10 min", NULL, NULL,
     "Timeout of asynchronous operations of the web server."},
    {"web.access-control-allow-origin", S, "*", NULL,
     "jobmanager.web.access-control-allow-origin",
     "Access-Control-Allow-Origin header of REST responses."},

    /* Slots and parallelism. */
    {"taskmanager.numberOfTaskSlots", I, "1", NULL, NULL,
     "Number of task slots a TaskManager offers."},
    {"parallelism.default", I, "1", NULL, NULL,
     "Parallelism of jobs and operators that set none."},
    {"pipeline.max-parallelism", I, "-1", NULL, NULL,
     "Maximum parallelism (number of key groups); -1: derived from the "
     "parallelism."},
    {"jobmanager.scheduler", E, "Default", "Default|Adaptive|AdaptiveBatch",
     NULL, "Scheduler of jobs."},
    {"jobmanager.execution.failover-strategy", E, "region", "full|region",
     NULL, "What is restarted on a task failure: all tasks, or the "
     "failed region."},

    /* Execution and pipeline. */
    {"execution.runtime-mode", E, "STREAMING", "STREAMING|BATCH|AUTOMATIC",
     NULL, "Runtime execution mode of jobs."},
    {"execution.buffer-timeout.enabled", B, "true", NULL, NULL,
     "If false, output buffers are flushed only when full (maximum "
     "throughput)."},
    {"execution.buffer-timeout.interval", D, "100 ms", NULL,
     "execution.buffer-timeout",
     "Maximum time before a non-full output buffer is flushed; 0: after "
     "every record."},
    {"execution.target", S, NULL, NULL, NULL,
     "Deployment target of the client (remote, local)."},
    {"execution.attached", B, "false", NULL, NULL,
     "Whether the client waits for the job to finish."},
    {"pipeline.name", S, NULL, NULL, NULL,
     "Name of the job; unset: the job's own name."},
    {"pipeline.auto-watermark-interval", D, "200 ms", NULL, NULL,
     "Interval of periodic watermark emission; 0: disabled."},
    {"pipeline.object-reuse", B, "false", NULL, NULL,
     "Whether chained operators may reuse record objects."},
    {"slot.request.timeout", D, "5 min", NULL, NULL,
     "Timeout of a slot request from the job to the resource manager."},
    {"taskmanager.registration.timeout", D, "5 min", NULL,
     "taskmanager.maxRegistrationDuration",
     "Time after which a TaskManager that could not register exits."},
    {"taskmanager.slot.timeout", D, "10 s", NULL, NULL,
     "Time after which an idle allocated slot is released."},
    {"pekko.ask.timeout", D, "10 s", NULL, "akka.ask.timeout",
     "Timeout of RPC requests."},
    {"heartbeat.interval", D, "10 s", NULL, NULL,
     "Interval of heartbeats between components."},
    {"heartbeat.timeout", D, "50 s", NULL, NULL,
     "Time without heartbeat after which a component is considered "
     "lost."},
    {"heartbeat.rpc-failure-threshold", I, "2", NULL, NULL,
     "Consecutive failed heartbeat RPCs after which the target is "
     "considered lost."},

    /* State backend, checkpointing. */
    {"state.backend.type", S, "hashmap", NULL, "state.backend",
     "State backend: hashmap (cflink implements hashmap only)."},
    {"execution.checkpointing.interval", D, NULL, NULL, NULL,
     "Interval between checkpoints; checkpointing is on when set and > 0."},
    {"execution.checkpointing.dir", S, NULL, NULL,
     "state.checkpoints.dir|state.backend.fs.checkpointdir",
     "Directory of checkpoint data and metadata."},
    {"execution.checkpointing.savepoint-dir", S, NULL, NULL,
     "state.savepoints.dir|savepoints.state.backend.fs.dir",
     "Default directory of savepoints."},
    {"execution.checkpointing.storage", S, NULL, NULL,
     "state.checkpoint-storage",
     "Checkpoint storage: jobmanager or filesystem; unset: filesystem "
     "when a directory is set."},
    {"execution.checkpointing.mode", E, "EXACTLY_ONCE",
     "EXACTLY_ONCE|AT_LEAST_ONCE", NULL, "Checkpointing guarantee."},
    {"execution.checkpointing.timeout", D, "10 min", NULL, NULL,
     "Time after which a checkpoint in progress is aborted."},
    {"execution.checkpointing.min-pause", D, "0 ms", NULL, NULL,
     "Minimum pause between the end of a checkpoint and the next start."},
    {"execution.checkpointing.max-concurrent-checkpoints", I, "1", NULL,
     NULL, "Maximum number of checkpoints in progress at once."},
    {"execution.checkpointing.tolerable-failed-checkpoints", I, "0", NULL,
     NULL, "Consecutive checkpoint failures tolerated before the job "
     "fails."},
    {"execution.checkpointing.num-retained", I, "1", NULL,
     "state.checkpoints.num-retained",
     "Number of completed checkpoints retained."},
    {"execution.checkpointing.externalized-checkpoint-retention", E,
     "NO_EXTERNALIZED_CHECKPOINTS",
     "DELETE_ON_CANCELLATION|RETAIN_ON_CANCELLATION|"
     "NO_EXTERNALIZED_CHECKPOINTS",
     NULL, "Whether checkpoints are retained when the job is cancelled."},
    {"execution.checkpointing.incremental", B, "false", NULL,
     "state.backend.incremental",
     "Whether checkpoints are incremental (where the backend supports "
     "it)."},
    {"execution.checkpointing.unaligned.enabled", B, "false", NULL,
     "execution.checkpointing.unaligned",
     "Whether checkpoints are unaligned (barriers overtake in-flight "
     "data)."},
    {"execution.checkpointing.aligned-checkpoint-timeout", D, "0 ms", NULL,
     "execution.checkpointing.alignment-timeout",
     "Alignment time after which an aligned checkpoint turns unaligned; "
     "0: never."},
    {"execution.checkpointing.create-subdir", B, "true", NULL,
     "state.checkpoints.create-subdir",
     "Whether checkpoints go to a subdirectory named after the job id."},
    {"execution.checkpointing.data-inline-threshold", M, "20 kb", NULL,
     "state.storage.fs.memory-threshold|state.backend.fs.memory-threshold",
     "State smaller than this is inlined in the metadata (max 1 mb)."},
    {"execution.checkpointing.write-buffer-size", I, "4096", NULL,
     "state.storage.fs.write-buffer-size|state.backend.fs.write-buffer-size",
     "Write buffer size of checkpoint streams, in bytes."},
    {"execution.checkpointing.checkpoints-after-tasks-finish", B, "true",
     NULL, "execution.checkpointing.checkpoints-after-tasks-finish.enabled",
     "Whether checkpoints continue after some tasks have finished."},
    {"execution.checkpointing.cleaner.parallel-mode", B, "true", NULL,
     "state.checkpoint.cleaner.parallel-mode",
     "Whether discarded checkpoints are deleted in parallel."},
    {"execution.checkpointing.snapshot-compression", B, "false", NULL,
     NULL, "Whether state snapshots are compressed."},
    {"execution.checkpointing.local-backup.enabled", B, "false", NULL,
     "state.backend.local-recovery",
     "Whether a local copy of state is kept for local recovery."},
    {"execution.checkpointing.local-backup.dirs", S, NULL, NULL,
     "taskmanager.state.local.root-dirs",
     "Directories of local state copies."},
    {"execution.state-recovery.path", S, NULL, NULL,
     "execution.savepoint.path",
     "Savepoint or checkpoint to restore a job from."},
    {"execution.state-recovery.ignore-unclaimed-state", B, "false", NULL,
     "execution.savepoint.ignore-unclaimed-state",
     "Whether state that maps to no operator is ignored on restore."},
    {"execution.state-recovery.claim-mode", E, "NO_CLAIM", "CLAIM|NO_CLAIM",
     "execution.savepoint-restore-mode",
     "Whether the job takes ownership of the snapshot it restores from."},
    {"execution.state-recovery.from-local", B, "false", NULL,
     "state.backend.local-recovery",
     "Whether state is restored from local copies when possible."},

    /* Restart strategies. */
    {"restart-strategy.type", E, NULL,
     "none|off|disable|fixed-delay|fixeddelay|failure-rate|failurerate|"
     "exponential-delay|exponentialdelay",
     "restart-strategy",
     "Restart strategy; unset: none without checkpointing, else "
     "exponential-delay."},
    {"restart-strategy.fixed-delay.attempts", I, "1", NULL, NULL,
     "fixed-delay: attempts before the job fails."},
    {"restart-strategy.fixed-delay.delay", D, "1 s", NULL, NULL,
     "fixed-delay: delay between attempts."},
    {"restart-strategy.failure-rate.max-failures-per-interval", I, "1",
     NULL, NULL, "failure-rate: failures per interval before the job "
     "fails."},
    {"restart-strategy.failure-rate.failure-rate-interval", D, "1 min",
     NULL, NULL, "failure-rate: the interval failures are counted in."},
    {"restart-strategy.failure-rate.delay", D, "1 s", NULL, NULL,
     "failure-rate: delay between attempts."},
    {"restart-strategy.exponential-delay.initial-backoff", D, "1 s", NULL,
     NULL, "exponential-delay: first delay."},
    {"restart-strategy.exponential-delay.max-backoff", D, "1 min", NULL,
     NULL, "exponential-delay: largest delay."},
    {"restart-strategy.exponential-delay.backoff-multiplier", F, "1.5",
     NULL, NULL, "exponential-delay: factor applied to the delay after "
     "each failure."},
    {"restart-strategy.exponential-delay.reset-backoff-threshold", D, "1 h",
     NULL, NULL, "exponential-delay: time without failure after which the "
     "delay resets."},
    {"restart-strategy.exponential-delay.jitter-factor", F, "0.1", NULL,
     NULL, "exponential-delay: random share added to or taken from the "
     "delay."},
    {"restart-strategy.exponential-delay.attempts-before-reset-backoff", I,
     "2147483647", NULL, NULL,
     "exponential-delay: attempts before the job fails (infinite by "
     "default)."},

    /* High availability. */
    {"high-availability.type", S, "NONE", NULL,
     "high-availability|recovery.mode",
     "High-availability mode: NONE, ZOOKEEPER or KUBERNETES."},
    {"high-availability.storageDir", S, NULL, NULL,
     "high-availability.zookeeper.storageDir|"
     "recovery.zookeeper.storageDir",
     "Directory of high-availability metadata."},
    {"high-availability.cluster-id", S, "/default", NULL,
     "high-availability.zookeeper.path.namespace|"
     "recovery.zookeeper.path.namespace",
     "Id of the cluster in high-availability storage."},
    {"high-availability.zookeeper.quorum", S, NULL, NULL,
     "recovery.zookeeper.quorum",
     "ZooKeeper quorum (host1:2181,host2:2181)."},
    {"high-availability.zookeeper.path.root", S, "/flink", NULL,
     "recovery.zookeeper.path.root",
     "Root node of the cluster in ZooKeeper."},
    {"high-availability.jobmanager.port", S, "0", NULL,
     "recovery.jobmanager.port",
     "JobManager RPC port (or range) in high-availability mode."},

    /* TaskManager memory and network buffers. */
    {"taskmanager.memory.process.size", M, NULL, NULL, NULL,
     "Total memory of the TaskManager process."},
    {"taskmanager.memory.flink.size", M, NULL, NULL, NULL,
     "Memory of the TaskManager without JVM metaspace and overhead."},
    {"taskmanager.memory.task.heap.size", M, NULL, NULL, NULL,
     "Heap memory for tasks."},
    {"taskmanager.memory.task.off-heap.size", M, "0 bytes", NULL, NULL,
     "Off-heap memory for tasks."},
    {"taskmanager.memory.framework.heap.size", M, "128 mb", NULL, NULL,
     "Heap memory of the TaskManager framework."},
    {"taskmanager.memory.framework.off-heap.size", M, "128 mb", NULL, NULL,
     "Off-heap memory of the TaskManager framework."},
    {"taskmanager.memory.managed.size", M, NULL, NULL,
     "taskmanager.memory.size",
     "Managed memory (state backends, sorting); unset: the managed "
     "fraction."},
    {"taskmanager.memory.managed.fraction", F, "0.4", NULL, NULL,
     "Share of Flink memory used as managed memory."},
    {"taskmanager.memory.network.min", M, "64 mb", NULL,
     "taskmanager.network.memory.min",
     "Minimum memory of network buffers."},
    {"taskmanager.memory.network.max", M, "infinite", NULL,
     "taskmanager.network.memory.max",
     "Maximum memory of network buffers."},
    {"taskmanager.memory.network.fraction", F, "0.1", NULL,
     "taskmanager.network.memory.fraction",
     "Share of Flink memory used for network buffers."},
    {"taskmanager.memory.jvm-metaspace.size", M, "256 mb", NULL, NULL,
     "JVM metaspace (accepted for compatibility)."},
    {"taskmanager.memory.jvm-overhead.min", M, "192 mb", NULL, NULL,
     "Minimum JVM overhead (accepted for compatibility)."},
    {"taskmanager.memory.jvm-overhead.max", M, "1 gb", NULL, NULL,
     "Maximum JVM overhead (accepted for compatibility)."},
    {"taskmanager.memory.jvm-overhead.fraction", F, "0.1", NULL, NULL,
     "Share of process memory for JVM overhead (accepted for "
     "compatibility)."},
    {"taskmanager.memory.segment-size", M, "32 kb", NULL, NULL,
     "Size of a network buffer (memory segment)."},
    {"taskmanager.network.memory.buffers-per-channel", I, "2", NULL, NULL,
     "Exclusive buffers of each input channel (credits); fixed in "
     "Flink 2.x."},
    {"taskmanager.network.memory.floating-buffers-per-gate", I, "8", NULL,
     NULL, "Floating buffers shared by the channels of an input gate; "
     "fixed in Flink 2.x."},
    {"taskmanager.network.memory.max-buffers-per-channel", I, "10", NULL,
     NULL, "Buffers one output subpartition may hold before the task is "
     "back-pressured."},

    /* JobManager memory. */
    {"jobmanager.memory.process.size", M, NULL, NULL, NULL,
     "Total memory of the JobManager process."},
    {"jobmanager.memory.flink.size", M, NULL, NULL, NULL,
     "Memory of the JobManager without JVM metaspace and overhead."},
    {"jobmanager.memory.heap.size", M, NULL, NULL, NULL,
     "Heap memory of the JobManager."},
    {"jobmanager.memory.off-heap.size", M, "128 mb", NULL, NULL,
     "Off-heap memory of the JobManager."},
    {"jobmanager.memory.jvm-metaspace.size", M, "256 mb", NULL, NULL,
     "JVM metaspace (accepted for compatibility)."},
    {"jobmanager.memory.jvm-overhead.min", M, "192 mb", NULL, NULL,
     "Minimum JVM overhead (accepted for compatibility)."},
    {"jobmanager.memory.jvm-overhead.max", M, "1 gb", NULL, NULL,
     "Maximum JVM overhead (accepted for compatibility)."},
    {"jobmanager.memory.jvm-overhead.fraction", F, "0.1", NULL, NULL,
     "Share of process memory for JVM overhead (accepted for "
     "compatibility)."},
    {"jobmanager.archive.fs.dir", S, NULL, NULL, NULL,
     "Directory finished jobs are archived to (for a history server)."},

    /* Metrics: the Prometheus reporter named "prom" (Flink's
     * metrics.reporter.<name>.*; cflink knows this one reporter). */
    {"metrics.reporter.prom.factory.class", S, NULL, NULL, NULL,
     "Enables the Prometheus reporter in each daemon when set to "
     "org.apache.flink.metrics.prometheus.PrometheusReporterFactory (or "
     "prometheus)."},
    {"metrics.reporter.prom.port", S, "9249", NULL, NULL,
     "Port or range (9250-9260) the Prometheus reporter listens on; the "
     "first free port of the range is taken."},
    {"metrics.reporter.prom.host", S, NULL, NULL, NULL,
     "Interface the Prometheus reporter binds to; unset: 0.0.0.0 (cflink "
     "only)."},
    {"metrics.reporter.prom.filterLabelValueCharacters", B, "true", NULL,
     NULL,
     "Whether label value characters outside [a-zA-Z0-9:_] are replaced "
     "by '_' in the Prometheus reporter's output."},

    /* Environment and logging. */
    {"io.tmp.dirs", S, NULL, NULL, "taskmanager.tmp.dirs",
     "Temporary directories (':'-separated); unset: $TMPDIR, else /tmp."},
    {"env.log.dir", S, NULL, NULL, NULL,
     "Directory of log files; unset: <install>/log for daemons, standard "
     "error for the CLI."},
    {"env.pid.dir", S, "/tmp", NULL, NULL,
     "Directory of daemon pid files."},
    {"cflink.log.level", E, "INFO", "ERROR|WARN|INFO|DEBUG", NULL,
     "Log level of cflink daemons and the CLI (cflink only)."},
    {"cflink.web.dir", S, NULL, NULL, NULL,
     "Directory of the web UI the JobManager serves at /; unset: "
     "<install>/share/cflink/webui, else the source tree's src/webui; "
     "empty: no web UI (cflink only)."},
    {"cflink.metrics.report-interval", D, "1 s", NULL, NULL,
     "How often a TaskManager sends its running tasks' metrics to the "
     "JobManager (cflink only; Flink's JobManager fetches them every "
     "metrics.fetcher.update-interval); at least 100 ms; 0: only with "
     "heartbeats."},
};

#undef S
#undef I
#undef L
#undef F
#undef B
#undef D
#undef M
#undef E

/* Known keys read, when not set, before their default. */
static const struct cf_config_fallback_s {
    const char *key;
    const char *fallback;
} cf_config_fallbacks[] = {
    {"rest.address", "jobmanager.rpc.address"},
    {"rest.bind-port", "rest.port"},
};

#endif /* CF_CONFIG_KEYS_H */
