#!/usr/bin/env bash
# The Prometheus reporter (metrics.reporter.prom.*) in both daemons: a
# JobManager with the reporter on a free port, a TaskManager with a port
# range starting at the JobManager's (busy) port, so it takes a later
# one. While an unbounded job (tp_slow, parallelism 2) runs, GET /metrics
# of each daemon answers 200 with the 0.0.4 content type; the
# JobManager's figures (registered TaskManagers, running jobs, slots,
# process metrics) are right; the TaskManager lists every task of the job
# with Flink's labels, and a task's numRecordsOut grows between two
# scrapes. Afterwards a TaskManager with a malformed port logs an error
# naming metrics.reporter.prom.port and still registers; one without
# the factory class starts no reporter.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
cluster_trap

FACTORY=org.apache.flink.metrics.prometheus.PrometheusReporterFactory
JM_PROM=$(free_port)
[ "$JM_PROM" -gt 0 ] || { fail "no free port"; finish; }

# prom_port LOG: the port of "Started PrometheusReporter on port N".
prom_port() {
    local l
    l=$(cluster_wait_log "$1" 'Started PrometheusReporter on port [0-9]+') ||
        { echo 0; return 0; }
    sed -E 's/.*on port ([0-9]+).*/\1/' <<<"$l"
}

# scrape PORT OUT: GET /metrics; HTTP status in HTTP_CODE, content type
# in CTYPE, body in OUT.
scrape() {
    local r
    r=$(curl -s -o "$2" -w '%{http_code} %{content_type}' --max-time 10 \
        "http://127.0.0.1:$1/metrics") || r="000 none"
    HTTP_CODE=${r%% *}
    CTYPE=${r#* }
}

# sample FILE NAME [LABEL_SUBSTRING]: the value of the first sample of
# NAME (with a label set holding the substring); empty when none.
sample() {
    awk -v n="$2" -v sub_="${3:-}" '
        $1 ~ /^#/ { next }
        { split($1, a, "{"); if (a[1] != n) next
          if (sub_ != "" && index($0, sub_) == 0) next
          print $NF; exit }' "$1"
}

# sum_of FILE NAME LABEL_SUBSTRING: the sum over the matching samples.
sum_of() {
    awk -v n="$2" -v sub_="$3" '
        $1 ~ /^#/ { next }
        { split($1, a, "{"); if (a[1] == n && index($0, sub_) > 0) s += $NF }
        END { printf "%d\n", s }' "$1"
}

cluster_start_jm -D heartbeat.interval=300 \
    -D metrics.reporter.prom.factory.class=$FACTORY \
    -D metrics.reporter.prom.port="$JM_PROM" \
    -D metrics.reporter.prom.host=127.0.0.1 ||
    { fail "JobManager did not start"; finish; }
expect_eq "JobManager reporter port" "$JM_PROM" "$(prom_port "$JM_LOG")"

# The range starts at the JobManager's port: the TaskManager skips it.
cluster_start_tm a -D taskmanager.numberOfTaskSlots=10 \
    -D metrics.reporter.prom.factory.class=prometheus \
    -D metrics.reporter.prom.port="$JM_PROM-$((JM_PROM + 30))" \
    -D metrics.reporter.prom.host=127.0.0.1
cluster_wait_tms 1 || { fail "TaskManager did not register"; finish; }
TM_PROM=$(prom_port "$WORK/taskmanager-a.log")
if [ "$TM_PROM" -gt "$JM_PROM" ] && [ "$TM_PROM" -le $((JM_PROM + 30)) ]; then
    ok "TaskManager took a later port of the range ($TM_PROM)"
else
    fail "TaskManager reporter port '$TM_PROM' (range $JM_PROM-$((JM_PROM + 30)))"
fi

J="$WORK/run.json"
rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
expect_eq "upload" 200 "$HTTP_CODE"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":2,"programArgsList":["--records","100000000","--size","64","--every","100"]}'
expect_eq "run the unbounded job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || { fail "job not running"; finish; }
ok "job running"
sleep 1.2 # a snapshot after the tasks started

# JobManager.
scrape "$JM_PROM" "$WORK/jm.txt"
expect_eq "JobManager GET /metrics" 200 "$HTTP_CODE"
expect_eq "JobManager content type" "text/plain; version=0.0.4; charset=utf-8" "$CTYPE"
expect_eq "numRegisteredTaskManagers" 1 "$(sample "$WORK/jm.txt" flink_jobmanager_numRegisteredTaskManagers)"
expect_eq "numRunningJobs" 1 "$(sample "$WORK/jm.txt" flink_jobmanager_numRunningJobs)"
expect_eq "taskSlotsTotal" 10 "$(sample "$WORK/jm.txt" flink_jobmanager_taskSlotsTotal)"
avail=$(sample "$WORK/jm.txt" flink_jobmanager_taskSlotsAvailable)
if [ "${avail:-99}" -lt 10 ] 2>/dev/null; then
    ok "taskSlotsAvailable below the total while the job runs ($avail)"
else
    fail "taskSlotsAvailable '$avail'"
fi
rss=$(sample "$WORK/jm.txt" flink_jobmanager_Status_Process_RSS)
thr=$(sample "$WORK/jm.txt" flink_jobmanager_Status_Process_Threads)
if [ "${rss:-0}" -gt 1000000 ] && [ "${thr:-0}" -ge 2 ] 2>/dev/null; then
    ok "JobManager process metrics (RSS $rss, threads $thr)"
else
    fail "JobManager process metrics: RSS '$rss', threads '$thr'"
fi
expect_contains "JobManager TYPE line" "$WORK/jm.txt" "# TYPE flink_jobmanager_numRunningJobs gauge"
expect_contains "JobManager CPU time" "$WORK/jm.txt" "flink_jobmanager_Status_Process_CPU_Time{host="
# The job's metric group (scope jobmanager_job), as GET /jobs/:jobid/metrics.
up=$(sample "$WORK/jm.txt" flink_jobmanager_job_uptime "job_id=\"$JID\"")
if [ "${up:-0}" -gt 0 ] 2>/dev/null; then
    ok "flink_jobmanager_job_uptime of the job ($up ms)"
else
    fail "flink_jobmanager_job_uptime of the job: '$up'"
fi
expect_eq "flink_jobmanager_job_numRestarts" 0 \
    "$(sample "$WORK/jm.txt" flink_jobmanager_job_numRestarts "job_id=\"$JID\"")"
expect_eq "flink_jobmanager_job_totalNumberOfCheckpoints" 0 \
    "$(sample "$WORK/jm.txt" flink_jobmanager_job_totalNumberOfCheckpoints "job_id=\"$JID\"")"
expect_contains "job metric labels" "$WORK/jm.txt" \
    "flink_jobmanager_job_uptime{host="
if grep -q "flink_jobmanager_job_lastCheckpointExternalPath" "$WORK/jm.txt"; then
    fail "a string gauge was exported"
else
    ok "string gauges are left out"
fi

# TaskManager.
scrape "$TM_PROM" "$WORK/tm1.txt"
expect_eq "TaskManager GET /metrics" 200 "$HTTP_CODE"
expect_eq "TaskManager content type" "text/plain; version=0.0.4; charset=utf-8" "$CTYPE"
for m in Status_Process_CPU_Time Status_Process_RSS Status_Process_Threads; do
    v=$(sample "$WORK/tm1.txt" "flink_taskmanager_$m")
    [ -n "$v" ] && ok "flink_taskmanager_$m = $v" || fail "flink_taskmanager_$m missing"
done
ntasks=$(grep -c "^flink_taskmanager_job_task_numRecordsOut{.*job_id=\"$JID\"" "$WORK/tm1.txt" || true)
if [ "$ntasks" -ge 3 ]; then
    ok "numRecordsOut for each task of the job ($ntasks)"
else
    fail "numRecordsOut samples of job $JID: $ntasks"
    cat "$WORK/tm1.txt" >&2
fi
for m in numRecordsIn numBytesIn numBytesOut currentInputWatermark; do
    expect_contains "family $m" "$WORK/tm1.txt" "# TYPE flink_taskmanager_job_task_$m gauge"
done
grep -m1 "^flink_taskmanager_job_task_numRecordsOut{.*job_id=\"$JID\"" \
    "$WORK/tm1.txt" >"$WORK/line.txt" || true
for l in host= "tm_id=" task_attempt_id= task_name= subtask_index= task_attempt_num=; do
    expect_contains "task label $l" "$WORK/line.txt" "$l"
done
# Task names come from the TaskManager's task records (cf_tm_task_name).
if grep -q 'task_name="[0-9a-f]\{32\}"' "$WORK/line.txt"; then
    fail "task_name is an attempt id: $(cat "$WORK/line.txt")"
fi
got=$(grep -o '^flink_taskmanager_job_task_numRecordsOut{[^}]*job_id="'"$JID"'"[^}]*}' \
    "$WORK/tm1.txt" | grep -o 'subtask_index="[0-9]*"' | sort -u | tr '\n' ' ')
expect_eq "subtask_index labels (0-based)" 'subtask_index="0" subtask_index="1" ' "$got"
expect_contains "first attempt" "$WORK/line.txt" 'task_attempt_num="0"'

o1=$(sum_of "$WORK/tm1.txt" flink_taskmanager_job_task_numRecordsOut "job_id=\"$JID\"")
sleep 1.5
scrape "$TM_PROM" "$WORK/tm2.txt"
o2=$(sum_of "$WORK/tm2.txt" flink_taskmanager_job_task_numRecordsOut "job_id=\"$JID\"")
echo "numRecordsOut: $o1 -> $o2"
if [ "$o1" -gt 0 ] && [ "$o2" -gt "$o1" ]; then
    ok "numRecordsOut grows while the job runs ($o1 -> $o2)"
else
    fail "numRecordsOut did not grow: '$o1' -> '$o2'"
fi

# Other paths.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TM_PROM/nope")
expect_eq "unknown path" 404 "$code"

rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
expect_eq "cancel" 202 "$HTTP_CODE"
expect_eq "cancelled job" CANCELED "$(cluster_wait_job_done "$JID" 30 || true)"
sleep 1.2
scrape "$TM_PROM" "$WORK/tm3.txt"
left=$(grep -c "job_id=\"$JID\"" "$WORK/tm3.txt" || true)
expect_eq "task series gone after the cancel" 0 "$left"
scrape "$JM_PROM" "$WORK/jm2.txt"
expect_eq "numRunningJobs after the cancel" 0 "$(sample "$WORK/jm2.txt" flink_jobmanager_numRunningJobs)"

# Many tasks on one TaskManager (8 sources and the sink: more than the
# reporter's first table of per-attempt rates holds): every task has its
# series, rates included, and the TaskManager stays up (under ASan too).
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":8,"programArgsList":["--records","100000000","--size","64","--every","100"]}'
expect_eq "run a job of 9 tasks" 200 "$HTTP_CODE"
JID2=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID2" 30 || fail "job of 9 tasks not running"
sleep 2.5 # two reporter ticks: rates of every task
scrape "$TM_PROM" "$WORK/tm4.txt"
expect_eq "numRecordsOut series of the 9 tasks" 9 \
    "$(grep -c "^flink_taskmanager_job_task_numRecordsOut{.*job_id=\"$JID2\"" "$WORK/tm4.txt" || true)"
expect_eq "numRecordsOutPerSecond series of the 9 tasks" 9 \
    "$(grep -c "^flink_taskmanager_job_task_numRecordsOutPerSecond{.*job_id=\"$JID2\"" "$WORK/tm4.txt" || true)"
kill -0 "$TM_PID" 2>/dev/null && ok "TaskManager alive with 9 tasks" || fail "TaskManager died"
rest_call PATCH "/jobs/$JID2?mode=cancel" "$J"
expect_eq "cancel the job of 9 tasks" CANCELED "$(cluster_wait_job_done "$JID2" 30 || true)"

# Bad configuration: logged with the key; the TaskManager runs on.
cluster_start_tm b -D taskmanager.numberOfTaskSlots=1 \
    -D metrics.reporter.prom.factory.class=prometheus \
    -D metrics.reporter.prom.port=92x49
cluster_wait_tms 2 || fail "TaskManager with a bad reporter port did not register"
if cluster_wait_log "$WORK/taskmanager-b.log" \
    'Could not start the PrometheusReporter: metrics.reporter.prom.port' 5 >/dev/null; then
    ok "bad port logged with its key"
else
    fail "no error naming metrics.reporter.prom.port"
    cat "$WORK/taskmanager-b.log" >&2
fi
# No factory class: no reporter.
cluster_start_tm c -D taskmanager.numberOfTaskSlots=1
cluster_wait_tms 3 || fail "third TaskManager did not register"
if grep -q PrometheusReporter "$WORK/taskmanager-c.log"; then
    fail "a reporter started without metrics.reporter.prom.factory.class"
else
    ok "no reporter without the factory class"
fi
expect_eq "JobManager alive" 0 "$(kill -0 "$JM_PID"; echo $?)"
finish
