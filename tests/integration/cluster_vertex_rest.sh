#!/usr/bin/env bash
# The job vertex views of the REST API (src/jobmanager/rest_vertex.c) on a
# real cluster, field names and types against Flink's
# (FLINK_INTERFACES.md 1.3, rest_v1_dispatcher.yml):
#  - a JobManager and two TaskManagers of one slot each; an unbounded
#    event-time job (tp_windows' generator) at parallelism 2, so each
#    vertex has a subtask on each TaskManager;
#  - while it runs: GET .../vertices/:vid/subtasktimes (SubtasksTimesInfo),
#    .../taskmanagers (JobVertexTaskManagersInfo: one entry per
#    TaskManager, ids those of /taskmanagers, AggregatedTaskDetailsInfo),
#    .../backpressure (JobVertexBackPressureInfo with both
#    "backpressureLevel" and "backpressure-level"), .../accumulators,
#    .../subtasks/accumulators and /jobs/:jobid/accumulators;
#  - bad ids: 400 for malformed ones, 404 "JobVertex <id> not found" for
#    an unknown vertex, 200 {"status":"deprecated"} for the back pressure
#    of an unknown vertex (Flink's metric store answer);
#  - after a cancel: the subtasks' CANCELED timestamps and the
#    TaskManagers' entries ended.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_windows.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

J="$WORK/v.json"
STATES='["CANCELED","CANCELING","CREATED","DEPLOYING","FAILED","FINISHED","INITIALIZING","RECONCILING","RUNNING","SCHEDULED"]'
STATS='["avg","max","median","min","p25","p75","p95","sum"]'

# vexpect NAME EXPR EXPECTED: a Python expression over the last answer $J.
vexpect() {
    local got
    got=$(json_py "$J" "$2" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$3" "$got"
}

# get NAME PATH [STATUS]: GET PATH into $J and check the HTTP status.
get() {
    rest_call GET "$2" "$J"
    expect_eq "$1 (HTTP status)" "${3:-200}" "$HTTP_CODE"
}

cluster_start_jm -D heartbeat.interval=300 ||
    { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
cluster_start_tm b -D taskmanager.numberOfTaskSlots=1
cluster_wait_tms 2 || { fail "TaskManagers did not register"; finish; }
rest_call GET /taskmanagers "$WORK/tms.json"
TM_IDS=$(json_py "$WORK/tms.json" 'sorted(t["id"] for t in d["taskmanagers"])')

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":2,\"programArgsList\":[\"--gen\",\"1\",\"--keys\",\"4\",\"--events\",\"0\",\"--step\",\"10\",\"--rate\",\"400\",\"--size\",\"1000\",\"--out\",\"$WORK/out\"]}"
expect_eq "run the unbounded job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || { fail "job not running"; finish; }
ok "job running"
VID=$(cluster_job_field "$JID" 'd["vertices"][0]["id"]')
VNAME=$(cluster_job_field "$JID" 'd["vertices"][0]["name"]')
sleep 1 # a few heartbeats: counters move
V="/jobs/$JID/vertices/$VID"

# ---- subtasktimes -----------------------------------------------------
get "subtasktimes" "$V/subtasktimes"
vexpect "subtasktimes fields" 'sorted(d)' '["id","name","now","subtasks"]'
vexpect "subtasktimes id, name" '[d["id"] == "'"$VID"'", d["name"] == '"$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$VNAME")"']' '[true,true]'
vexpect "subtasktimes now is an int" 'type(d["now"]).__name__' int
vexpect "subtasktimes subtask fields" 'sorted(set(k for s in d["subtasks"] for k in s))' \
    '["duration","endpoint","subtask","timestamps"]'
vexpect "subtasktimes subtask indexes" '[s["subtask"] for s in d["subtasks"]]' '[0,1]'
vexpect "subtasktimes timestamps: every ExecutionState" \
    'all(sorted(s["timestamps"]) == '"$STATES"' for s in d["subtasks"])' true
vexpect "subtasktimes timestamps are ints" \
    'all(type(v) is int for s in d["subtasks"] for v in s["timestamps"].values())' true
vexpect "subtasktimes RUNNING after SCHEDULED" \
    'all(s["timestamps"]["RUNNING"] >= s["timestamps"]["SCHEDULED"] > 0 for s in d["subtasks"])' true
vexpect "subtasktimes durations running" \
    'all(type(s["duration"]) is int and s["duration"] > 0 for s in d["subtasks"])' true
vexpect "subtasktimes endpoints host:port" \
    'all(s["endpoint"].startswith("127.0.0.1:") and s["endpoint"].split(":")[1].isdigit() for s in d["subtasks"])' true

# ---- taskmanagers -----------------------------------------------------
get "taskmanagers" "$V/taskmanagers"
vexpect "taskmanagers fields" 'sorted(d)' '["id","name","now","taskmanagers"]'
vexpect "taskmanagers: one per TaskManager" 'len(d["taskmanagers"])' 2
vexpect "taskmanagers entry fields" 'sorted(set(k for t in d["taskmanagers"] for k in t))' \
    '["aggregated","duration","end-time","endpoint","metrics","start-time","status","status-counts","taskmanager-id"]'
vexpect "taskmanagers ids are /taskmanagers ids" 'sorted(t["taskmanager-id"] for t in d["taskmanagers"])' "$TM_IDS"
vexpect "taskmanagers endpoints differ" 'len(set(t["endpoint"] for t in d["taskmanagers"]))' 2
vexpect "taskmanagers status RUNNING" '[t["status"] for t in d["taskmanagers"]]' '["RUNNING","RUNNING"]'
vexpect "taskmanagers times" \
    'all(type(t["start-time"]) is int and t["start-time"] > 0 and t["end-time"] == -1 and t["duration"] >= 0 for t in d["taskmanagers"])' true
vexpect "taskmanagers status-counts" \
    '[sorted(t["status-counts"]) == '"$STATES"' and t["status-counts"]["RUNNING"] for t in d["taskmanagers"]]' '[1,1]'
vexpect "taskmanagers metrics fields" 'sorted(d["taskmanagers"][0]["metrics"])' \
    '["accumulated-backpressured-time","accumulated-busy-time","accumulated-idle-time","read-bytes","read-bytes-complete","read-records","read-records-complete","write-bytes","write-bytes-complete","write-records","write-records-complete"]'
vexpect "taskmanagers metrics types" \
    'all(type(m[k]) is (bool if k.endswith("-complete") else float if k == "accumulated-busy-time" else int) for m in (t["metrics"] for t in d["taskmanagers"]) for k in m)' true
vexpect "taskmanagers aggregated fields" 'sorted(d["taskmanagers"][0]["aggregated"])' '["metrics","status-duration"]'
vexpect "taskmanagers aggregated metrics" 'sorted(d["taskmanagers"][0]["aggregated"]["metrics"])' \
    '["accumulated-backpressured-time","accumulated-busy-time","accumulated-idle-time","read-bytes","read-records","write-bytes","write-records"]'
vexpect "taskmanagers aggregated status-duration" 'sorted(d["taskmanagers"][0]["aggregated"]["status-duration"])' \
    '["CREATED","DEPLOYING","INITIALIZING","RUNNING","SCHEDULED"]'
vexpect "taskmanagers aggregated statistics" \
    'all(sorted(s) == '"$STATS"' and all(type(x) is int for x in s.values()) for t in d["taskmanagers"] for g in t["aggregated"].values() for s in g.values())' true
vexpect "taskmanagers source wrote records" \
    'sum(t["metrics"]["write-records"] for t in d["taskmanagers"]) > 0' true

# ---- backpressure -----------------------------------------------------
get "backpressure" "$V/backpressure"
vexpect "backpressure fields" 'sorted(d)' \
    '["backpressure-level","backpressureLevel","end-timestamp","status","subtasks"]'
vexpect "backpressure status" 'd["status"]' ok
vexpect "backpressure levels" \
    'd["backpressure-level"] == d["backpressureLevel"] and d["backpressureLevel"] in ("ok","low","high")' true
vexpect "backpressure end-timestamp" 'type(d["end-timestamp"]).__name__ + str(d["end-timestamp"] > 1600000000000)' intTrue
vexpect "backpressure subtask fields" 'sorted(set(k for s in d["subtasks"] for k in s))' \
    '["backpressure-level","backpressureLevel","busyRatio","idleRatio","ratio","subtask"]'
vexpect "backpressure subtasks" '[s["subtask"] for s in d["subtasks"]]' '[0,1]'
vexpect "backpressure ratios are doubles in [0,1]" \
    'all(type(s[k]) is float and 0 <= s[k] <= 1 for s in d["subtasks"] for k in ("ratio","idleRatio","busyRatio"))' true
vexpect "backpressure subtask levels" \
    'all(s["backpressure-level"] == s["backpressureLevel"] in ("ok","low","high") for s in d["subtasks"])' true

# ---- accumulators -----------------------------------------------------
get "vertex accumulators" "$V/accumulators"
vexpect "vertex accumulators" 'd == {"id": "'"$VID"'", "user-accumulators": []}' true
get "subtask accumulators" "$V/subtasks/accumulators"
vexpect "subtask accumulators fields" 'sorted(d)' '["id","parallelism","subtasks"]'
vexpect "subtask accumulators parallelism" 'd["parallelism"]' 2
vexpect "subtask accumulators entries" \
    '[sorted(s) for s in d["subtasks"]] == [["attempt","endpoint","subtask","user-accumulators"]] * 2 and [s["subtask"] for s in d["subtasks"]] == [0, 1] and all(type(s["attempt"]) is int and s["user-accumulators"] == [] for s in d["subtasks"])' true
get "job accumulators" "/jobs/$JID/accumulators"
vexpect "job accumulators" 'd' \
    '{"job-accumulators":[],"user-task-accumulators":[],"serialized-user-task-accumulators":{}}'

# ---- one subtask and its attempts ---------------------------------------
# Flink's SubtaskExecutionAttemptDetailsInfo: the same entry as in the
# vertex's subtasks; attempts other than the current one are 404.
get "subtask 1" "$V/subtasks/1"
vexpect "subtask 1 fields" \
    '[k for k in ["attempt","duration","end-time","endpoint","metrics","start-time","status","status-duration","subtask","taskmanager-id"] if k not in d]' '[]'
vexpect "subtask 1 index, status, attempt" '[d["subtask"], d["status"], d["attempt"]]' '[1,"RUNNING",0]'
vexpect "subtask 1 metrics are IOMetricsInfo" \
    '[type(d["metrics"]["read-records"]).__name__, type(d["metrics"]["accumulated-busy-time"]).__name__]' '["int","float"]'
get "subtask 1 attempt 0" "$V/subtasks/1/attempts/0"
vexpect "attempt 0 is the current one" '[d["subtask"], d["attempt"], d["status"]]' '[1,0,"RUNNING"]'
get "subtask 1 attempt 0 accumulators" "$V/subtasks/1/attempts/0/accumulators"
vexpect "attempt accumulators" \
    '[sorted(d), d["subtask"], d["attempt"], len(d["id"]), d["user-accumulators"]]' \
    '[["attempt","id","subtask","user-accumulators"],1,0,32,[]]'
get "subtask 2 of 2" "$V/subtasks/2" 404
vexpect "subtask out of range message" 'd["errors"][0]' "Invalid subtask index for vertex $VID"
get "attempt 5" "$V/subtasks/0/attempts/5" 404
vexpect "attempt 5 message" 'd["errors"][0]' "Invalid attempt num 5"
get "subtask -1" "$V/subtasks/-1" 400
get "attempt x" "$V/subtasks/0/attempts/x" 400
get "jm-operator-metrics" "$V/jm-operator-metrics"
vexpect "no operator coordinator metrics" 'd' '[]'
get "jm-operator-metrics of a malformed vertex" "/jobs/$JID/vertices/xyz/jm-operator-metrics" 400
get "literal subtasks/accumulators still wins" "$V/subtasks/accumulators"
vexpect "subtasks/accumulators shape" 'sorted(d)' '["id","parallelism","subtasks"]'

# ---- bad ids ----------------------------------------------------------
UNKNOWN=0123456789abcdef0123456789abcdef
for tail in subtasktimes taskmanagers accumulators subtasks/accumulators; do
    get "unknown vertex $tail" "/jobs/$JID/vertices/$UNKNOWN/$tail" 404
    vexpect "unknown vertex $tail message" 'd["errors"][0]' "JobVertex $UNKNOWN not found"
    get "malformed vertex $tail" "/jobs/$JID/vertices/xyz/$tail" 400
    get "unknown job $tail" "/jobs/$UNKNOWN/vertices/$VID/$tail" 404
    vexpect "unknown job $tail message" 'd["errors"][0]' "Job $UNKNOWN not found"
done
get "unknown vertex backpressure" "/jobs/$JID/vertices/$UNKNOWN/backpressure" 200
vexpect "unknown vertex backpressure: deprecated" 'd' '{"status":"deprecated"}'
get "malformed vertex backpressure" "/jobs/$JID/vertices/not-a-vertex-id/backpressure" 400
get "malformed job accumulators" "/jobs/zz/accumulators" 400

# ---- after cancel -----------------------------------------------------
rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
expect_eq "cancel" 202 "$HTTP_CODE"
expect_eq "cancelled job" CANCELED "$(cluster_wait_job_done "$JID" 30 || true)"
get "subtasktimes after cancel" "$V/subtasktimes"
vexpect "subtasktimes CANCELED timestamps" \
    'all(s["timestamps"]["CANCELED"] >= s["timestamps"]["RUNNING"] > 0 for s in d["subtasks"])' true
vexpect "subtasktimes durations end at CANCELED" \
    'all(s["duration"] == s["timestamps"]["CANCELED"] - s["timestamps"]["SCHEDULED"] for s in d["subtasks"])' true
get "taskmanagers after cancel" "$V/taskmanagers"
vexpect "taskmanagers ended" \
    'all(t["status"] == "CANCELED" and t["end-time"] >= t["start-time"] > 0 and t["duration"] == t["end-time"] - t["start-time"] and t["metrics"]["read-bytes-complete"] for t in d["taskmanagers"])' true

cluster_check_sanitizers
finish
