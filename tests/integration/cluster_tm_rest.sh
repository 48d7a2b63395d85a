#!/usr/bin/env bash
# The TaskManager endpoints the JobManager relays over RPC (deferred REST
# answers) and the metric endpoints, on a real cluster (a JobManager and
# two TaskManagers on 127.0.0.1, each with a --log-file):
#   /taskmanagers/:id/{log,stdout,logs,logs/:filename,thread-dump,metrics}
#   /taskmanagers/metrics (aggregated), /jobmanager/metrics,
#   /jobs/:jobid/metrics, /jobs/metrics (aggregated)
# plus hostile file names, an unknown TaskManager id, and a TaskManager
# stopped with SIGSTOP (the request must end with an error in bounded
# time, and the JobManager must go on answering meanwhile).
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

jexpect() {
    local got
    got=$(json_py "$2" "$3" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$4" "$got"
}
code_expect() { expect_eq "$1 (HTTP status)" "$2" "$HTTP_CODE"; }

J="$WORK/r.json"
T="$WORK/r.txt"

# pekko.ask.timeout bounds a TaskManager's answer (the SIGSTOP check).
cluster_start_jm -D pekko.ask.timeout=3s -D heartbeat.timeout=120s \
    -D execution.checkpointing.interval=300ms || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2
TM_A=$TM_PID
cluster_start_tm b -D taskmanager.numberOfTaskSlots=1
TM_B=$TM_PID
if cluster_wait_tms 2 30; then ok "TaskManagers registered"; else fail "TaskManagers registered"; finish; fi

# The id of the TaskManager whose log is $WORK/taskmanager-$1.log: its
# log names its resource id ("... with resource id <id>" or similar), so
# match the /taskmanagers entries against the log.
tm_id_of() {
    local id
    for id in $(curl -s "$REST_URL/taskmanagers" |
        python3 -c 'import json,sys; print(" ".join(t["id"] for t in json.load(sys.stdin)["taskmanagers"]))'); do
        if grep -qF -- "$id" "$WORK/taskmanager-$1.log"; then
            echo "$id"
            return 0
        fi
    done
    return 1
}
TMA=$(tm_id_of a) || { fail "id of TaskManager a"; finish; }
TMB=$(tm_id_of b) || { fail "id of TaskManager b"; finish; }
[ "$TMA" != "$TMB" ] && ok "two TaskManager ids ($TMA, $TMB)" || fail "TaskManager ids differ"
TMA_URL=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TMA")

# ---- logs list, log, stdout ----------------------------------------------
rest_call GET "/taskmanagers/$TMA_URL/logs" "$J"
code_expect "/taskmanagers/:id/logs" 200
jexpect "logs lists the TaskManager's log" "$J" '"taskmanager-a.log" in [l["name"] for l in d["logs"]]' true
jexpect "logs entry fields" "$J" 'all(sorted(l) == ["mtime", "name", "size"] and isinstance(l["size"], int) and l["mtime"] > 1600000000000 for l in d["logs"])' true
jexpect "logs size of the log" "$J" '[l["size"] > 0 for l in d["logs"] if l["name"] == "taskmanager-a.log"]' '[true]'

rest_call GET "/taskmanagers/$TMA_URL/log" "$T"
code_expect "/taskmanagers/:id/log" 200
if grep -q "Starting TaskManager\|Starting TaskExecutor\|Starting the TaskManager" "$T" && grep -qF "$TMA" "$T"; then
    ok "/taskmanagers/:id/log is TaskManager a's log"
else
    fail "/taskmanagers/:id/log is TaskManager a's log: $(head -c 300 "$T")"
fi
if grep -qF "$TMB" "$T" && ! grep -qF "$TMA" "$T"; then fail "log of the wrong TaskManager"; fi
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$REST_URL/taskmanagers/$TMA_URL/log")
expect_eq "/taskmanagers/:id/log is text/plain" "text/plain; charset=UTF-8" "$ctype"

echo "hello from tm a stdout" >>"$WORK/taskmanager-a.out"
rest_call GET "/taskmanagers/$TMA_URL/stdout" "$T"
code_expect "/taskmanagers/:id/stdout" 200
expect_contains "/taskmanagers/:id/stdout is the .out file" "$T" "hello from tm a stdout"

cp "$WORK/taskmanager-b.log" "$WORK/extra-file.txt"
rest_call GET "/taskmanagers/$TMA_URL/logs/extra-file.txt" "$T"
code_expect "/taskmanagers/:id/logs/extra-file.txt" 200
cmp -s "$T" "$WORK/extra-file.txt" && ok "logs/:filename serves the listed file" ||
    fail "logs/:filename differs from the file"

# ---- hostile file names ---------------------------------------------------
mkdir -p "$WORK/secret-dir"
echo "TOP SECRET" >"$WORK/secret-dir/secret.txt"
ln -s /etc/passwd "$WORK/passwd.log"
long=$(head -c 300 /dev/zero | tr '\0' 'a')
for p in "..%2f..%2fetc%2fpasswd" "..%252f..%252fetc%252fpasswd" "%2e%2e" "%252e%252e" \
    "%2fetc%2fpasswd" "secret-dir%2fsecret.txt" "secret-dir%252fsecret.txt" "secret-dir" \
    "passwd.log" "nonexistent.log" "taskmanager-a.log%00" "..%5ctaskmanager-a.log" \
    "a%0ab.log" "$long"; do
    code=$(curl -s --path-as-is --max-time 20 -o "$T" -w '%{http_code}' \
        "$REST_URL/taskmanagers/$TMA_URL/logs/$p")
    case "$code" in
    400 | 404) ok "logs/${p:0:40} refused ($code)" ;;
    *) fail "logs/${p:0:40} answered $code" ;;
    esac
    if grep -q "TOP SECRET\|root:" "$T"; then fail "logs/${p:0:40} leaked a file"; fi
    jexpect "logs/${p:0:40} has errors" "$T" 'isinstance(d["errors"], list) and len(d["errors"]) == 1' true
done
rest_call GET "/taskmanagers/$TMA_URL/logs/nonexistent.log" "$J"
jexpect "unknown file names the file" "$J" '"nonexistent.log" in d["errors"][0]' true
kill -0 "$TM_A" 2>/dev/null && ok "TaskManager a survived hostile names" || fail "TaskManager a died"

# ---- thread dump ----------------------------------------------------------
rest_call GET "/taskmanagers/$TMA_URL/thread-dump" "$J"
code_expect "/taskmanagers/:id/thread-dump" 200
jexpect "thread-dump entries" "$J" 'len(d["threadInfos"]) >= 2 and all(sorted(t) == ["stringifiedThreadInfo", "threadName"] for t in d["threadInfos"])' true
jexpect "thread-dump format" "$J" 'all(t["stringifiedThreadInfo"].startswith("\"" + t["threadName"] + "\" Id=") for t in d["threadInfos"])' true
# The first thread (lowest id) is the process itself: its id is the pid.
jexpect "thread-dump is TaskManager a's" "$J" 'd["threadInfos"][0]["stringifiedThreadInfo"].split(" Id=")[1].split(" ")[0]' "$TM_A"
tcount=$(ls "/proc/$TM_A/task" | wc -l)
jexpect "thread-dump lists every thread" "$J" "abs(len(d['threadInfos']) - $tcount) <= 2" true

# ---- TaskManager metrics --------------------------------------------------
rest_call GET "/taskmanagers/$TMA_URL/metrics" "$J"
code_expect "/taskmanagers/:id/metrics" 200
jexpect "metrics list is [{id}]" "$J" 'isinstance(d, list) and all(sorted(m) == ["id"] for m in d)' true
jexpect "metrics list names" "$J" 'all(n in [m["id"] for m in d] for n in ["Status.Process.Memory.RSS", "Status.Process.CPU.Load", "Status.Shuffle.Netty.TotalMemorySegments", "taskSlotsTotal"])' true
rest_call GET "/taskmanagers/$TMA_URL/metrics?get=Status.Process.Memory.RSS,taskSlotsTotal,no.such.metric,Status.Process.Threads.Count" "$J"
code_expect "/taskmanagers/:id/metrics?get=" 200
jexpect "metrics get ids (unknown left out)" "$J" '[m["id"] for m in d]' '["Status.Process.Memory.RSS","taskSlotsTotal","Status.Process.Threads.Count"]'
jexpect "metrics values are strings" "$J" 'all(isinstance(m["value"], str) for m in d)' true
jexpect "RSS > 0" "$J" 'int(d[0]["value"]) > 1000000' true
jexpect "taskSlotsTotal of a" "$J" 'd[1]["value"]' 2
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$TM_A/status")
jexpect "RSS is TaskManager a's" "$J" "abs(int(d[0]['value']) / 1024 - $rss_kb) < 0.5 * $rss_kb" true
rest_call GET "/taskmanagers/$TMA_URL/metrics?get=a%01b" "$J"
code_expect "control character in get" 400

# ---- unknown TaskManager ----------------------------------------------------
for ep in log stdout logs thread-dump metrics logs/x.log; do
    rest_call GET "/taskmanagers/no-such-tm/$ep" "$J"
    code_expect "unknown TaskManager /$ep" 404
    jexpect "unknown TaskManager /$ep message" "$J" 'd["errors"]' '["Could not find TaskExecutor no-such-tm."]'
done
rest_call GET "/taskmanagers/a%252fb/log" "$J"
code_expect "hostile TaskManager id" 404

# ---- JobManager metrics -----------------------------------------------------
rest_call GET /jobmanager/metrics "$J"
code_expect "/jobmanager/metrics" 200
jexpect "jobmanager metrics list" "$J" 'sorted(m["id"] for m in d if not m["id"].startswith("Status."))' '["numRegisteredTaskManagers","numRunningJobs","taskSlotsAvailable","taskSlotsTotal"]'
rest_call GET "/jobmanager/metrics?get=numRegisteredTaskManagers,taskSlotsTotal,taskSlotsAvailable,Status.Process.Memory.RSS" "$J"
jexpect "jobmanager metrics values" "$J" '[m["value"] for m in d[:3]]' '["2","3","3"]'
jexpect "jobmanager RSS > 0" "$J" 'int(d[3]["value"]) > 1000000' true

# ---- a running job: job metrics ---------------------------------------------
rest_call POST /jars/upload "$J" -F "jarfile=@$PLUGIN"
code_expect "upload tp_slow" 200
JAR=$(json_py "$J" 'd["filename"].split("/")[-1]')
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":1,"programArgsList":["--records","300000000","--every","1000","--size","16"]}'
code_expect "run tp_slow" 200
JID=$(json_py "$J" 'd["jobid"]')
cluster_wait_running "$JID" 30 && ok "tp_slow running" || fail "tp_slow running"
# Wait for a completed checkpoint (interval 300 ms).
for ((i = 0; i < 100; i++)); do
    rest_call GET "/jobs/$JID/metrics?get=numberOfCompletedCheckpoints" "$J"
    [ "$(json_py "$J" 'd[0]["value"]' 2>/dev/null)" != 0 ] && break
    sleep 0.1
done
sleep 1.2
rest_call GET "/jobs/$JID/metrics" "$J"
code_expect "/jobs/:jobid/metrics" 200
jexpect "job metrics list" "$J" 'all(n in [m["id"] for m in d] for n in ["uptime","downtime","restartingTime","numRestarts","fullRestarts","lastCheckpointDuration","lastCheckpointSize","lastCheckpointFullSize","numberOfCompletedCheckpoints","numberOfFailedCheckpoints","numberOfInProgressCheckpoints","totalNumberOfCheckpoints","lastCheckpointRestoreTimestamp"])' true
rest_call GET "/jobs/$JID/metrics?get=uptime,numRestarts,downtime,numberOfCompletedCheckpoints,totalNumberOfCheckpoints,lastCheckpointRestoreTimestamp,bogus" "$J"
jexpect "job metrics ids" "$J" '[m["id"] for m in d]' '["uptime","numRestarts","downtime","numberOfCompletedCheckpoints","totalNumberOfCheckpoints","lastCheckpointRestoreTimestamp"]'
jexpect "uptime > 1000 ms" "$J" 'int(d[0]["value"]) > 1000' true
jexpect "numRestarts 0, downtime 0" "$J" '[d[1]["value"], d[2]["value"]]' '["0","0"]'
jexpect "completed checkpoints > 0" "$J" 'int(d[3]["value"]) > 0' true
jexpect "total >= completed" "$J" 'int(d[4]["value"]) >= int(d[3]["value"])' true
jexpect "no restore" "$J" 'd[5]["value"]' "-1"
rest_call GET "/jobs/00000000000000000000000000000000/metrics" "$J"
code_expect "unknown job metrics" 404

# ---- aggregated ---------------------------------------------------------------
rest_call GET "/jobs/metrics?get=numRestarts,uptime&agg=sum,max&jobs=$JID" "$J"
code_expect "/jobs/metrics" 200
jexpect "jobs metrics agg" "$J" '[sorted(m) for m in d]' '[["id","max","sum"],["id","max","sum"]]'
jexpect "jobs metrics numRestarts sum" "$J" 'd[0]["sum"]' 0.0
rest_call GET "/jobs/metrics?get=uptime&agg=median" "$J"
code_expect "bad agg" 400
jexpect "bad agg message" "$J" 'd["errors"][0]' 'Bad request, could not parse parameters: Cannot resolve query parameter (agg) from value "median".'
rest_call GET "/taskmanagers/metrics?get=taskSlotsTotal,Status.Process.Memory.RSS" "$J"
code_expect "/taskmanagers/metrics" 200
jexpect "taskmanagers metrics fields" "$J" '[sorted(m) for m in d]' '[["avg","id","max","min","skew","sum"],["avg","id","max","min","skew","sum"]]'
jexpect "taskSlotsTotal aggregated" "$J" '[d[0]["min"], d[0]["max"], d[0]["sum"], d[0]["avg"]]' '[1.0,2.0,3.0,1.5]'
rest_call GET "/taskmanagers/metrics?get=taskSlotsTotal&agg=sum&taskmanagers=$TMB" "$J"
jexpect "taskmanagers selection" "$J" 'd' '[{"id":"taskSlotsTotal","sum":1.0}]'
rest_call GET "/taskmanagers/metrics" "$J"
jexpect "taskmanagers metrics ids" "$J" '"Status.Process.Memory.RSS" in [m["id"] for m in d]' true
rest_call GET "/taskmanagers/metrics?get=x&agg=bogus" "$J"
code_expect "taskmanagers bad agg" 400

# ---- a stopped TaskManager ------------------------------------------------------
kill -STOP "$TM_B"
start=$(date +%s%N)
curl -s --max-time 30 -o "$WORK/stopped.json" -w '%{http_code}' \
    "$REST_URL/taskmanagers/$TMB/metrics?get=taskSlotsTotal" >"$WORK/stopped.code" &
CURL_PID=$!
sleep 0.5
# Meanwhile the JobManager answers other requests (the deferral does not
# block its loop).
rest_call GET /overview "$J"
code_expect "/overview while a TaskManager request waits" 200
rest_call GET "/taskmanagers/$TMA_URL/metrics?get=taskSlotsTotal" "$J"
jexpect "TaskManager a answers meanwhile" "$J" 'd[0]["value"]' 2
wait "$CURL_PID"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(cat "$WORK/stopped.code")
case "$code" in 5*) ok "stopped TaskManager: $code" ;; *) fail "stopped TaskManager answered $code" ;; esac
jexpect "stopped TaskManager error names it" "$WORK/stopped.json" "\"$TMB\" in d[\"errors\"][0]" true
[ "$ms" -ge 2500 ] && [ "$ms" -le 8000 ] && ok "stopped TaskManager: error after $ms ms" ||
    fail "stopped TaskManager: error after $ms ms (want about 3000)"
# The aggregation over both ends too, with what a answered.
rest_call GET "/taskmanagers/metrics?get=taskSlotsTotal&agg=sum" "$J"
code_expect "/taskmanagers/metrics with one stopped" 200
jexpect "aggregation without the stopped one" "$J" 'd' '[{"id":"taskSlotsTotal","sum":2.0}]'
kill -CONT "$TM_B"

# A client that goes away while its request is deferred.
kill -STOP "$TM_B"
curl -s --max-time 1 -o /dev/null "$REST_URL/taskmanagers/$TMB/thread-dump" || true
kill -CONT "$TM_B"
sleep 3
rest_call GET "/taskmanagers/$TMB/metrics?get=taskSlotsTotal" "$J"
code_expect "TaskManager b after SIGCONT" 200

rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
# Shutdown with a deferred request pending (checked for leaks by ASan).
kill -STOP "$TM_B"
curl -s --max-time 10 -o /dev/null "$REST_URL/taskmanagers/$TMB/logs" &
CURL_PID=$!
sleep 0.5
kill -TERM "$JM_PID"
wait "$CURL_PID" || true
kill -CONT "$TM_B"
for ((i = 0; i < 100; i++)); do kill -0 "$JM_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$JM_PID" 2>/dev/null && fail "JobManager did not stop with a deferred request" ||
    ok "JobManager stopped with a deferred request"
wait "$JM_PID"
expect_eq "JobManager exit status" 0 "$?"
finish
