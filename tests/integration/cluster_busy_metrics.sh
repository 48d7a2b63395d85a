#!/usr/bin/env bash
# Measured back pressure, busy and idle time, and per-second rates, end to
# end (runtime -> TaskManager reports -> JobMaster -> REST, and the
# TaskManager's Prometheus reporter), as Flink since 1.13:
#  - a JobManager (heartbeats every 500 ms, so reports arrive often) and
#    one TaskManager with the Prometheus reporter; tp_slow at parallelism
#    1: a fast source of 1 KiB records into a sink that sleeps 1 ms per
#    record (~1000 records/s, a minute of work), rebalanced, so the source
#    waits for output buffers nearly all the time and the sink works;
#  - GET .../vertices/:source/backpressure reaches level "high" with a
#    ratio > 0.5 (bounded wait), the sink's level is "ok" and its
#    busyRatio > 0.5; every subtask's ratio + idleRatio + busyRatio ~ 1;
#  - GET .../vertices/:sink/subtasks/metrics?get=busyTimeMsPerSecond&agg=max
#    > 500, numRecordsInPerSecond > 0 (and backPressuredTimeMsPerSecond of
#    the source > 500); the single-subtask and vertex metric views serve
#    the same names as strings;
#  - GET /jobs/:jid and GET /jobs/:jid/vertices/:vid: the IOMetricsInfo
#    accumulated-* figures are numbers and not the old constants (the
#    source's accumulated-backpressured-time and the sink's
#    accumulated-busy-time grow);
#  - the TaskManager's /metrics exports
#    flink_taskmanager_job_task_backPressuredTimeMsPerSecond (> 500 for
#    the source) and the accumulated times.
# Every check would fail with the former constant 0 ratios and times.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
cluster_trap

J="$WORK/b.json"

# vexpect NAME EXPR EXPECTED: a Python expression over the last answer $J.
vexpect() {
    local got
    got=$(json_py "$J" "$2" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$3" "$got"
}

# get NAME PATH: GET PATH into $J, expecting 200.
get() {
    rest_call GET "$2" "$J"
    expect_eq "$1 (HTTP status)" 200 "$HTTP_CODE"
}

TM_PROM_PORT=$(free_port)
cluster_start_jm -D heartbeat.interval=500 -D heartbeat.timeout=20000 ||
    { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2 \
    -D metrics.reporter.prom.factory.class=prometheus \
    -D metrics.reporter.prom.port="$TM_PROM_PORT-$((TM_PROM_PORT + 20))" \
    -D metrics.reporter.prom.host=127.0.0.1
cluster_wait_tms 1 || { fail "TaskManager did not register"; finish; }
TM_PROM=$(cluster_wait_log "$WORK/taskmanager-a.log" \
    'Started PrometheusReporter on port [0-9]+' |
    sed -E 's/.*on port ([0-9]+).*/\1/')

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":1,"programArgsList":["--records","60000","--size","1024","--every","1"]}'
expect_eq "run the slow job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || { fail "job not running"; finish; }
ok "job running"
SRC=$(cluster_job_field "$JID" '[v["id"] for v in d["vertices"] if v["name"].startswith("Source")][0]')
SNK=$(cluster_job_field "$JID" '[v["id"] for v in d["vertices"] if not v["name"].startswith("Source")][0]')

# ---- backpressure: poll until the source is "high" (bounded) ----------
level=
for ((i = 0; i < 150; i++)); do
    rest_call GET "/jobs/$JID/vertices/$SRC/backpressure" "$J"
    level=$(json_py "$J" 'd.get("backpressure-level","") + ":" + str(d["subtasks"][0]["ratio"] > 0.5 if d.get("subtasks") else False)' 2>/dev/null)
    [ "$level" = "high:True" ] && break
    sleep 0.1
done
expect_eq "source back pressure level high, ratio > 0.5 (within 15 s)" "high:True" "$level"
vexpect "source backpressureLevel" 'd["backpressureLevel"]' high
vexpect "source status" 'd["status"]' ok
vexpect "source subtask level" '[d["subtasks"][0]["backpressureLevel"], d["subtasks"][0]["backpressure-level"]]' '["high","high"]'
vexpect "source ratios add up to ~1" \
    'abs(sum(d["subtasks"][0][k] for k in ("ratio","idleRatio","busyRatio")) - 1) < 0.05' true
echo "source back pressure: $(cat "$J")"

# The sink is busy (sleeping in its function is work), not back-pressured.
busy=
for ((i = 0; i < 50; i++)); do
    rest_call GET "/jobs/$JID/vertices/$SNK/backpressure" "$J"
    busy=$(json_py "$J" 'd["subtasks"][0]["busyRatio"] > 0.5' 2>/dev/null)
    [ "$busy" = true ] && break
    sleep 0.1
done
expect_eq "sink busyRatio > 0.5" true "$busy"
vexpect "sink level ok" 'd["backpressure-level"]' ok
echo "sink back pressure: $(cat "$J")"

# ---- subtask metrics --------------------------------------------------
get "sink subtasks/metrics" \
    "/jobs/$JID/vertices/$SNK/subtasks/metrics?get=busyTimeMsPerSecond,numRecordsInPerSecond&agg=max"
echo "sink subtasks/metrics: $(cat "$J")"
vexpect "sink busyTimeMsPerSecond max > 500" \
    '[m["max"] > 500 for m in d if m["id"] == "busyTimeMsPerSecond"]' '[true]'
vexpect "sink numRecordsInPerSecond max > 0" \
    '[m["max"] > 0 for m in d if m["id"] == "numRecordsInPerSecond"]' '[true]'
vexpect "agg values are numbers" \
    'all(type(m["max"]) is float for m in d)' true
get "source subtasks/metrics" \
    "/jobs/$JID/vertices/$SRC/subtasks/metrics?get=backPressuredTimeMsPerSecond,numRecordsOutPerSecond,numBytesOutPerSecond,idleTimeMsPerSecond&agg=max,min"
vexpect "source backPressuredTimeMsPerSecond > 500" \
    '[m["min"] > 500 for m in d if m["id"] == "backPressuredTimeMsPerSecond"]' '[true]'
vexpect "source numRecordsOutPerSecond > 0" \
    '[m["max"] > 0 for m in d if m["id"] == "numRecordsOutPerSecond"]' '[true]'
vexpect "source numBytesOutPerSecond > 0" \
    '[m["max"] > 0 for m in d if m["id"] == "numBytesOutPerSecond"]' '[true]'
vexpect "source idle below 500 ms/s" \
    '[m["max"] < 500 for m in d if m["id"] == "idleTimeMsPerSecond"]' '[true]'
get "subtasks/metrics ids" "/jobs/$JID/vertices/$SNK/subtasks/metrics"
vexpect "the available task metrics" \
    'set(m["id"] for m in d) >= set(["accumulatedBackpressuredTime","accumulatedBusyTime","accumulatedIdleTime","backPressuredTimeMsPerSecond","busyTimeMsPerSecond","idleTimeMsPerSecond","numBytesIn","numBytesInPerSecond","numBytesOut","numBytesOutPerSecond","numRecordsIn","numRecordsInPerSecond","numRecordsOut","numRecordsOutPerSecond"])' true
get "one subtask's metrics" \
    "/jobs/$JID/vertices/$SNK/subtasks/0/metrics?get=busyTimeMsPerSecond,accumulatedBusyTime,idleTimeMsPerSecond,numRecordsIn"
vexpect "values are strings" 'sorted((m["id"], type(m["value"]).__name__) for m in d)' \
    '[["accumulatedBusyTime","str"],["busyTimeMsPerSecond","str"],["idleTimeMsPerSecond","str"],["numRecordsIn","str"]]'
vexpect "sink busyTimeMsPerSecond > 500 (string)" \
    '[float(m["value"]) > 500 for m in d if m["id"] == "busyTimeMsPerSecond"]' '[true]'
vexpect "idleTimeMsPerSecond is a long (Flink TimerGauge)" \
    '[m["value"].lstrip("-").isdigit() for m in d if m["id"] == "idleTimeMsPerSecond"]' '[true]'
vexpect "accumulatedBusyTime is a double" \
    '["." in m["value"] or "E" in m["value"] for m in d if m["id"] == "accumulatedBusyTime"]' '[true]'
get "vertex metrics" "/jobs/$JID/vertices/$SRC/metrics?get=0.backPressuredTimeMsPerSecond,0.accumulatedBackpressuredTime"
vexpect "vertex metric ids" 'sorted(m["id"] for m in d)' \
    '["0.accumulatedBackpressuredTime","0.backPressuredTimeMsPerSecond"]'
vexpect "source accumulatedBackpressuredTime > 0" \
    '[int(m["value"]) > 0 for m in d if m["id"] == "0.accumulatedBackpressuredTime"]' '[true]'

# ---- IOMetricsInfo in the job and vertex views ------------------------
get "job" "/jobs/$JID"
vexpect "accumulated-* are numbers" \
    'all(type(v["metrics"][k]).__name__ in ("int","float") for v in d["vertices"] for k in ("accumulated-backpressured-time","accumulated-idle-time","accumulated-busy-time"))' true
vexpect "accumulated-busy-time is a double" \
    'all(type(v["metrics"]["accumulated-busy-time"]) is float for v in d["vertices"])' true
vexpect "source accumulated-backpressured-time > 0" \
    '[v["metrics"]["accumulated-backpressured-time"] > 0 for v in d["vertices"] if v["id"] == "'"$SRC"'"]' '[true]'
vexpect "sink accumulated-busy-time > 0" \
    '[v["metrics"]["accumulated-busy-time"] > 0 for v in d["vertices"] if v["id"] == "'"$SNK"'"]' '[true]'
BP1=$(json_py "$J" '[v["metrics"]["accumulated-backpressured-time"] for v in d["vertices"] if v["id"] == "'"$SRC"'"][0]')
get "sink vertex" "/jobs/$JID/vertices/$SNK"
vexpect "subtask accumulated-busy-time > 0" 'd["subtasks"][0]["metrics"]["accumulated-busy-time"] > 0' true
vexpect "aggregated accumulated-busy-time" \
    'd["aggregated"]["metrics"]["accumulated-busy-time"]["max"] > 0' true
get "source taskmanagers view" "/jobs/$JID/vertices/$SRC/taskmanagers"
vexpect "taskmanagers accumulated-backpressured-time > 0" \
    'd["taskmanagers"][0]["metrics"]["accumulated-backpressured-time"] > 0' true
sleep 1.2
BP2=$(cluster_job_field "$JID" '[v["metrics"]["accumulated-backpressured-time"] for v in d["vertices"] if v["id"] == "'"$SRC"'"][0]')
if [ "${BP2:-0}" -gt "${BP1:-0}" ] 2>/dev/null; then
    ok "source accumulated-backpressured-time grows ($BP1 -> $BP2 ms)"
else
    fail "source accumulated-backpressured-time did not grow ($BP1 -> $BP2)"
fi

# ---- Prometheus on the TaskManager -------------------------------------
if [ -n "$TM_PROM" ]; then
    curl -s --max-time 10 -o "$WORK/tm.txt" "http://127.0.0.1:$TM_PROM/metrics"
    bp=$(awk '$1 ~ /^flink_taskmanager_job_task_backPressuredTimeMsPerSecond\{/ && /task_name="Source/ {print $NF; exit}' "$WORK/tm.txt")
    if awk -v v="${bp:-0}" 'BEGIN { exit !(v > 500) }'; then
        ok "Prometheus: source backPressuredTimeMsPerSecond $bp"
    else
        fail "Prometheus: source backPressuredTimeMsPerSecond '$bp'"
        grep -E 'TimeMsPerSecond|accumulated' "$WORK/tm.txt" >&2 || true
    fi
    for m in busyTimeMsPerSecond idleTimeMsPerSecond accumulatedBusyTime \
        accumulatedBackpressuredTime accumulatedIdleTime numRecordsInPerSecond; do
        expect_contains "Prometheus: $m" "$WORK/tm.txt" "flink_taskmanager_job_task_$m{"
    done
else
    fail "the TaskManager's Prometheus reporter did not start"
fi

rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
expect_eq "cancel" 202 "$HTTP_CODE"
finish
