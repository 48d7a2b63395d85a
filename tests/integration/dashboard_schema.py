#!/usr/bin/python3
"""dashboard_schema.py: what Flink's web dashboard (release 2.2) reads from
the REST API, as data, and a checker.

Sources: flink-runtime-web/web-dashboard/src/app/services/*.service.ts and
src/app/interfaces/*.ts (apache/flink, 2.x), the Java response classes they
mirror (runtime/rest/messages/...), and /work/shared/reference/
FLINK_INTERFACES.md sections 1.3 and 6.2. Not a test by itself: used by
rest_dashboard_compat.sh.

Schema language (plain Python values):
  "int"    JSON integer (Flink sends a Java int/long)
  "float"  JSON number; an integer is accepted (Flink sends a double, the
           UI does arithmetic on it, so 3 and 3.0 are the same to it)
  "num"    integer or float
  "str", "bool", "any"
  "numstr" a string holding a number (metric values are strings in Flink)
  Enum(a, b, ...)    a string among these values
  Null(s)            s or JSON null
  {"key": s, ...}    object with these required keys; a key written
                     "key?" may be absent (Flink omits it when null/empty,
                     or the UI tolerates its absence); other keys allowed
  MapOf(s)           object whose every value matches s (any keys)
  MapOf(s, keys=K)   ... and which has at least the keys K
  [s]                array whose every item matches s
  NonEmpty([s])      the same, at least one item

Usage:
  dashboard_schema.py check ENDPOINT FILE   -> one line per problem
                                               ("$.path: message"),
                                               exit 1 when any
  dashboard_schema.py list                  -> the endpoint names
"""
import json
import sys


class Enum:
    def __init__(self, *values):
        self.values = values


class Null:
    def __init__(self, inner):
        self.inner = inner


class MapOf:
    def __init__(self, inner, keys=()):
        self.inner = inner
        self.keys = keys


class NonEmpty:
    def __init__(self, inner):
        self.inner = inner


JOB_STATUS = Enum("INITIALIZING", "CREATED", "RUNNING", "FAILING", "FAILED",
                  "CANCELLING", "CANCELED", "FINISHED", "RESTARTING",
                  "SUSPENDED", "RECONCILING")
EXEC_STATES = ("CREATED", "SCHEDULED", "DEPLOYING", "RUNNING", "FINISHED",
               "CANCELING", "CANCELED", "FAILED", "RECONCILING",
               "INITIALIZING")
EXEC_STATE = Enum(*EXEC_STATES)
JOB_STATUSES = JOB_STATUS.values

# ExecutionState -> count (vertices[].tasks, status-counts): upper case.
EXEC_COUNTS = {s: "int" for s in EXEC_STATES}

# IOMetricsInfo (runtime/rest/messages/job/metrics/IOMetricsInfo.java).
IO_METRICS = {
    "read-bytes": "int", "read-bytes-complete": "bool",
    "write-bytes": "int", "write-bytes-complete": "bool",
    "read-records": "int", "read-records-complete": "bool",
    "write-records": "int", "write-records-complete": "bool",
    "accumulated-backpressured-time": "int",
    "accumulated-idle-time": "int",
    "accumulated-busy-time": "float",
}

# AggregatedTaskDetailsInfo: Map<String, Map<String, Long>>.
AGG_STATS = {k: "int" for k in
             ("min", "max", "avg", "sum", "median", "p25", "p75", "p95")}
AGGREGATED = {
    "metrics": {k: AGG_STATS for k in
                ("read-bytes", "write-bytes", "read-records",
                 "write-records", "accumulated-backpressured-time",
                 "accumulated-busy-time", "accumulated-idle-time")},
    "status-duration": {k: AGG_STATS for k in
                        ("CREATED", "SCHEDULED", "INITIALIZING",
                         "DEPLOYING", "RUNNING")},
}

PLAN_INPUT = {"num": "int", "id": "str", "ship_strategy": "str",
              "exchange": "str", "local_strategy?": "str",
              "caching?": "str"}
PLAN = {
    "jid": "str", "name": "str", "type": Enum("STREAMING", "BATCH"),
    "nodes": NonEmpty([{
        "id": "str", "parallelism": "int", "operator": "str",
        "operator_strategy": "str", "description": "str",
        "inputs?": [PLAN_INPUT], "optimizer_properties": {},
    }]),
}

JOB_DETAILS = {  # JobDetailsInfo, GET /jobs/:jobid
    "jid": "str", "name": "str", "isStoppable": "bool",
    "state": JOB_STATUS, "job-type": Enum("BATCH", "STREAMING"),
    "start-time": "int", "end-time": "int", "duration": "int",
    "maxParallelism": "int", "now": "int",
    "timestamps": MapOf("int", keys=JOB_STATUSES),
    "vertices": NonEmpty([{
        "id": "str", "slotSharingGroupId": "str", "name": "str",
        "maxParallelism": "int", "parallelism": "int",
        "status": EXEC_STATE, "start-time": "int", "end-time": "int",
        "duration": "int", "tasks": EXEC_COUNTS, "metrics": IO_METRICS,
    }]),
    "status-counts": EXEC_COUNTS,
    "plan": PLAN,
    "stream-graph?": {"nodes": [{"id": "str", "inputs?": [PLAN_INPUT]}]},
    "pending-operators": "int",
}

JOB_OVERVIEW_ITEM = {  # JobDetails (runtime/messages/webmonitor)
    "jid": "str", "name": "str", "state": JOB_STATUS,
    "start-time": "int", "end-time": "int", "duration": "int",
    "last-modification": "int",
    # Lower case here (the UI upper-cases the keys itself).
    "tasks": {k: "int" for k in
              ("total", "created", "scheduled", "deploying", "running",
               "finished", "canceling", "canceled", "failed",
               "reconciling", "initializing")},
    "pending-operators": "int",
}

SUBTASK_ATTEMPT = {  # SubtaskExecutionAttemptDetailsInfo
    "subtask": "int", "status": EXEC_STATE, "attempt": "int",
    "endpoint": "str", "start-time": "int", "start_time": "int",
    "end-time": "int", "duration": "int", "metrics": IO_METRICS,
    "taskmanager-id": "str",
    "status-duration": MapOf("int", keys=("CREATED", "SCHEDULED",
                                          "DEPLOYING", "INITIALIZING",
                                          "RUNNING")),
}
SUBTASK = dict(SUBTASK_ATTEMPT)
SUBTASK["other-concurrent-attempts?"] = [SUBTASK_ATTEMPT]

MIN_MAX_AVG = {k: "num" for k in
               ("min", "max", "avg", "p50", "p90", "p95", "p99", "p999")}

TASK_CKPT = {  # TaskCheckpointStatistics (values of CheckpointStatistics.tasks)
    "id": "int", "status": Enum("IN_PROGRESS", "COMPLETED", "FAILED"),
    "latest_ack_timestamp": "int", "checkpointed_size": "int",
    "state_size": "int", "end_to_end_duration": "int",
    "alignment_buffered": "int", "processed_data": "int",
    "persisted_data": "int", "num_subtasks": "int",
    "num_acknowledged_subtasks": "int",
}

CKPT_COMMON = {  # CheckpointStatistics
    "className": Enum("completed", "failed", "in_progress"),
    "id": "int", "status": Enum("IN_PROGRESS", "COMPLETED", "FAILED"),
    "is_savepoint": "bool", "savepointFormat": Null("str"),
    "trigger_timestamp": "int", "latest_ack_timestamp": "int",
    "checkpointed_size": "int", "state_size": "int",
    "end_to_end_duration": "int", "alignment_buffered": "int",
    "processed_data": "int", "persisted_data": "int",
    "num_subtasks": "int", "num_acknowledged_subtasks": "int",
    "checkpoint_type": Enum("CHECKPOINT", "UNALIGNED_CHECKPOINT",
                            "SAVEPOINT", "SYNC_SAVEPOINT"),
    "tasks": MapOf(TASK_CKPT),
    # completed: external_path, discarded; failed: failure_*
    "external_path?": Null("str"), "discarded?": "bool",
    "failure_timestamp?": "int", "failure_message?": Null("str"),
}
CKPT_COMPLETED = dict(CKPT_COMMON, **{"external_path": Null("str"),
                                      "discarded": "bool"})
CKPT_FAILED = dict(CKPT_COMMON, **{"failure_timestamp": "int",
                                   "failure_message": Null("str")})

CHECKPOINTS = {  # CheckpointingStatistics
    "counts": {k: "int" for k in
               ("restored", "total", "in_progress", "completed", "failed")},
    "summary": {k: MIN_MAX_AVG for k in
                ("checkpointed_size", "state_size", "end_to_end_duration",
                 "alignment_buffered", "processed_data", "persisted_data")},
    "latest": {
        "completed": Null(CKPT_COMPLETED),
        "savepoint": Null(CKPT_COMPLETED),
        "failed": Null(CKPT_FAILED),
        "restored": Null({"id": "int", "restore_timestamp": "int",
                          "is_savepoint": "bool",
                          "external_path": Null("str")}),
    },
    "history": [CKPT_COMMON],
}

CHECKPOINTS_CONFIG = {  # CheckpointConfigInfo
    "mode": Enum("exactly_once", "at_least_once"),
    "interval": "int", "timeout": "int", "min_pause": "int",
    "max_concurrent": "int",
    "externalization": {"enabled": "bool",
                        "delete_on_cancellation": "bool"},
    "state_backend": "str", "checkpoint_storage": "str",
    "unaligned_checkpoints": "bool", "tolerable_failed_checkpoints": "int",
    "aligned_checkpoint_timeout": "int",
    "checkpoints_after_tasks_finish": "bool",
    "state_changelog_enabled": "bool",
    "changelog_periodic_materialization_interval": "int",
    "changelog_storage": "str",
}

CKPT_SUBTASK_COMPLETED = {  # SubtaskCheckpointStatistics.Completed...
    "index": "int", "status": "str",
    "ack_timestamp?": "int", "end_to_end_duration?": "int",
    "checkpointed_size?": "int", "state_size?": "int",
    "checkpoint?": {"sync": "int", "async": "int"},
    "alignment?": {"buffered": "int", "processed": "int",
                   "persisted": "int", "duration": "int"},
    "start_delay?": "int", "unaligned_checkpoint?": "bool",
    "aborted?": "bool",
}
CHECKPOINT_SUBTASKS = dict(TASK_CKPT, **{  # TaskCheckpointStatisticsWithSubtaskDetails
    "summary": {
        "checkpointed_size": MIN_MAX_AVG, "state_size": MIN_MAX_AVG,
        "end_to_end_duration": MIN_MAX_AVG,
        "checkpoint_duration": {"sync": MIN_MAX_AVG, "async": MIN_MAX_AVG},
        "alignment": {"buffered": MIN_MAX_AVG, "processed": MIN_MAX_AVG,
                      "persisted": MIN_MAX_AVG, "duration": MIN_MAX_AVG},
        "start_delay": MIN_MAX_AVG,
    },
    "subtasks": NonEmpty([CKPT_SUBTASK_COMPLETED]),
})

RESOURCE = {"cpuCores": "float", "taskHeapMemory": "int",
            "taskOffHeapMemory": "int", "managedMemory": "int",
            "networkMemory": "int", "extendedResources": MapOf("any")}
HARDWARE = {"cpuCores": "int", "physicalMemory": "int",
            "freeMemory": "int", "managedMemory": "int"}
MEMORY_CONFIG = {k: "int" for k in
                 ("frameworkHeap", "taskHeap", "frameworkOffHeap",
                  "taskOffHeap", "networkMemory", "managedMemory",
                  "jvmMetaspace", "jvmOverhead", "totalFlinkMemory",
                  "totalProcessMemory")}
TM_ITEM = {  # TaskManagerInfo
    "id": "str", "path": "str", "dataPort": "int", "jmxPort": "int",
    "timeSinceLastHeartbeat": "int", "slotsNumber": "int",
    "freeSlots": "int", "totalResource": RESOURCE,
    "freeResource": RESOURCE, "hardware": HARDWARE,
    "memoryConfiguration": MEMORY_CONFIG, "blocked?": "bool",
}
TM_DETAIL = dict(TM_ITEM, **{  # TaskManagerDetailsInfo
    "metrics": dict({k: "int" for k in
                     ("heapUsed", "heapCommitted", "heapMax",
                      "nonHeapUsed", "nonHeapCommitted", "nonHeapMax",
                      "directCount", "directUsed", "directMax",
                      "mappedCount", "mappedUsed", "mappedMax",
                      "nettyShuffleMemorySegmentsAvailable",
                      "nettyShuffleMemorySegmentsUsed",
                      "nettyShuffleMemorySegmentsTotal",
                      "nettyShuffleMemoryAvailable",
                      "nettyShuffleMemoryUsed",
                      "nettyShuffleMemoryTotal")},
                    garbageCollectors=[{"name": "str", "count": "int",
                                        "time": "int"}]),
    "allocatedSlots": [{"jobId": "str", "assignedTasks": "int", "resource": RESOURCE}],
})

METRIC_IDS = [{"id": "str"}]                       # list of metric names
METRIC_VALUES = [{"id": "str", "value": "numstr"}]  # ?get=a,b
AGG_METRIC_VALUES = [{"id": "str", "min?": "num", "max?": "num",
                      "avg?": "num", "sum?": "num", "skew?": "num"}]

USER_ACC = {"name": "str", "type": "str", "value": "str"}
LOG_LIST = {"logs": [{"name": "str", "size": "int", "mtime": "int"}]}
THREAD_DUMP = {"threadInfos": NonEmpty([{"threadName": "str",
                                         "stringifiedThreadInfo": "str"}])}
CONFIG_ENTRIES = NonEmpty([{"key": "str", "value": "str"}])
ENVIRONMENT = {"jvm": {"version": "str", "arch": "str", "options": ["str"]},
               "classpath": ["str"]}

SCHEMAS = {
    "config": {
        "refresh-interval": "int", "timezone-name": "str",
        "timezone-offset": "int", "flink-version": "str",
        "flink-revision": "str",
        "features": {"web-submit": "bool", "web-cancel": "bool",
                     "web-rescale": "bool", "web-history": "bool"},
    },
    "overview": {
        "taskmanagers": "int", "slots-total": "int",
        "slots-available": "int", "jobs-running": "int",
        "jobs-finished": "int", "jobs-cancelled": "int",
        "jobs-failed": "int", "flink-version": "str", "flink-commit": "str",
        "taskmanagers-blocked?": "int", "slots-free-and-blocked?": "int",
    },
    "jobs": {"jobs": [{"id": "str", "status": JOB_STATUS}]},
    "jobs_overview": {"jobs": [JOB_OVERVIEW_ITEM]},
    "job": JOB_DETAILS,
    "job_status": {"status": JOB_STATUS},
    "job_plan": {"plan": PLAN},
    "job_config": {"jid": "str", "name": "str",
                   "execution-config": {"restart-strategy": "str",
                                        "job-parallelism": "int",
                                        "object-reuse-mode": "bool",
                                        "user-config": MapOf("str")}},
    "job_exceptions": {"exceptionHistory": {
        "entries": [{
            "exceptionName": "str", "stacktrace": "str", "timestamp": "int",
            "taskName?": "str", "endpoint?": "str", "taskManagerId?": "str",
            "failureLabels": MapOf("str"),
            "concurrentExceptions": [{
                "exceptionName": "str", "stacktrace": "str",
                "timestamp": "int", "taskName?": "str", "endpoint?": "str",
                "taskManagerId?": "str", "failureLabels": MapOf("str")}],
        }],
        "truncated": "bool"}},
    "job_accumulators": {"job-accumulators": ["any"],
                         "user-task-accumulators": [USER_ACC],
                         "serialized-user-task-accumulators": MapOf("any")},
    "job_metrics_list": METRIC_IDS,
    "job_metrics_get": METRIC_VALUES,
    "job_resource_requirements": MapOf({"parallelism": {
        "lowerBound": "int", "upperBound": "int"}}),
    "vertex": {"id": "str", "name": "str", "parallelism": "int",
               "maxParallelism": "int", "now": "int",
               "subtasks": NonEmpty([SUBTASK]), "aggregated": AGGREGATED},
    "vertex_subtasktimes": {
        "id": "str", "name": "str", "now": "int",
        "subtasks": NonEmpty([{"subtask": "int", "endpoint": "str",
                               "duration": "int",
                               "timestamps": MapOf("int")}])},
    "vertex_taskmanagers": {
        "id": "str", "name": "str", "now": "int",
        "taskmanagers": NonEmpty([{
            "endpoint": "str", "status": EXEC_STATE, "start-time": "int",
            "end-time": "int", "duration": "int", "metrics": IO_METRICS,
            "status-counts": EXEC_COUNTS, "taskmanager-id": "str",
            "aggregated": AGGREGATED}])},
    "vertex_backpressure": {
        "status": Enum("ok", "deprecated"),
        # Present when status is "ok" (the UI reads backpressure-level).
        "backpressureLevel?": Enum("ok", "low", "high"),
        "backpressure-level?": Enum("ok", "low", "high"),
        "end-timestamp?": "int",
        "subtasks?": [{"subtask": "int", "attempt-number?": "int",
                       "backpressureLevel": Enum("ok", "low", "high"),
                       "backpressure-level": Enum("ok", "low", "high"),
                       "ratio": "float", "idleRatio": "float",
                       "busyRatio": "float",
                       "other-concurrent-attempts?": ["any"]}]},
    "vertex_metrics_list": NonEmpty(METRIC_IDS),
    "vertex_metrics_get": NonEmpty(METRIC_VALUES),
    "subtasks_metrics_list": NonEmpty(METRIC_IDS),
    "subtasks_metrics_get": NonEmpty(AGG_METRIC_VALUES),
    "vertex_watermarks": [{"id": "str", "value": "numstr"}],
    "vertex_accumulators": {"id": "str", "user-accumulators": [USER_ACC]},
    "subtasks_accumulators": {
        "id": "str", "parallelism": "int",
        "subtasks": [{"subtask": "int", "attempt": "int",
                      "endpoint": "str",
                      "user-accumulators": [USER_ACC]}]},
    "checkpoints": CHECKPOINTS,
    "checkpoints_config": CHECKPOINTS_CONFIG,
    "checkpoint_details": CKPT_COMPLETED,
    "checkpoint_subtasks": CHECKPOINT_SUBTASKS,
    "taskmanagers": {"taskmanagers": NonEmpty([TM_ITEM])},
    "taskmanager": TM_DETAIL,
    "tm_metrics_list": NonEmpty(METRIC_IDS),
    "tm_metrics_get": NonEmpty(METRIC_VALUES),
    "tm_logs": LOG_LIST,
    "tm_thread_dump": THREAD_DUMP,
    "jm_config": CONFIG_ENTRIES,
    "jm_environment": ENVIRONMENT,
    "jm_metrics_list": NonEmpty(METRIC_IDS),
    "jm_metrics_get": NonEmpty(METRIC_VALUES),
    "jm_logs": LOG_LIST,
    "jm_thread_dump": THREAD_DUMP,
    "log_url": {"url": "str"},
    "jars": {"address": "str",
             "files": [{"id": "str", "name": "str", "uploaded": "int",
                        "entry": [{"name": "str",
                                   "description": Null("str")}]}]},
    # JobVertexFlameGraphHandler: {"endTimestamp", "data"}; with
    # rest.flamegraph.enabled=false Flink still answers 200 (data null,
    # the UI shows "flame graph is disabled").
    "flamegraph": {"endTimestamp": "int", "data": Null(MapOf("any"))},
    "cancel": {},  # yarn-cancel / PATCH ?mode=cancel: 202 {}
    "errors": {"errors": NonEmpty(["str"])},
}


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    return "obj"


def _is_numstr(v):
    if not isinstance(v, str):
        return False
    try:
        float(v)
        return True
    except ValueError:
        return False


def check(schema, value, path="$", out=None):
    """Problems of value against schema, as "path: message" strings."""
    if out is None:
        out = []
    got = _type_name(value)
    if isinstance(schema, Null):
        if value is not None:
            check(schema.inner, value, path, out)
        return out
    if isinstance(schema, str):
        ok = {
            "any": True,
            "int": got == "int",
            "float": got in ("int", "float"),
            "num": got in ("int", "float"),
            "str": got == "str",
            "bool": got == "bool",
            "numstr": _is_numstr(value),
        }[schema]
        if not ok:
            shown = json.dumps(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            out.append("%s: expected %s, got %s %s" % (path, schema, got,
                                                        shown))
        return out
    if isinstance(schema, Enum):
        if value not in schema.values:
            out.append("%s: expected one of %s, got %s" %
                       (path, "|".join(schema.values), json.dumps(value)))
        return out
    if isinstance(schema, NonEmpty):
        if isinstance(value, list) and not value:
            out.append("%s: expected a non-empty list, got []" % path)
        return check(schema.inner, value, path, out)
    if isinstance(schema, list):
        if got != "list":
            out.append("%s: expected list, got %s" % (path, got))
            return out
        for i, item in enumerate(value):
            check(schema[0], item, "%s[%d]" % (path, i), out)
        return out
    if isinstance(schema, MapOf):
        if got != "obj":
            out.append("%s: expected obj, got %s" % (path, got))
            return out
        for k in schema.keys:
            if k not in value:
                out.append("%s.%s: missing" % (path, k))
        for k, v in value.items():
            check(schema.inner, v, "%s.%s" % (path, k), out)
        return out
    if isinstance(schema, dict):
        if got != "obj":
            out.append("%s: expected obj, got %s" % (path, got))
            return out
        for key, sub in schema.items():
            optional = key.endswith("?")
            k = key[:-1] if optional else key
            if k not in value:
                if not optional:
                    out.append("%s.%s: missing (expected %s)" %
                               (path, k, _describe(sub)))
                continue
            check(sub, value[k], "%s.%s" % (path, k), out)
        return out
    raise TypeError("bad schema at %s: %r" % (path, schema))


def _describe(schema):
    if isinstance(schema, str):
        return schema
    if isinstance(schema, Null):
        return _describe(schema.inner) + "|null"
    if isinstance(schema, Enum):
        return "str"
    if isinstance(schema, (list, NonEmpty)):
        return "list"
    return "obj"


def check_endpoint(name, doc):
    return check(SCHEMAS[name], doc)


def main(argv):
    if len(argv) >= 2 and argv[1] == "list":
        print("\n".join(sorted(SCHEMAS)))
        return 0
    if len(argv) != 4 or argv[1] != "check" or argv[2] not in SCHEMAS:
        sys.stderr.write("usage: dashboard_schema.py check ENDPOINT FILE | "
                         "list\n")
        return 2
    try:
        with open(argv[3], "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        print("$: not JSON (%s)" % e)
        return 1
    problems = check_endpoint(argv[2], doc)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
