#!/usr/bin/env bash
# The cluster-level REST endpoints of Flink's API that are not about one
# job: GET /datasets (no cached data sets), PATCH
# /jobs/:jobid/clientHeartbeat (202 for a known job, Flink's errors
# otherwise) and DELETE /cluster, which shuts the JobManager down
# gracefully (its running job's tasks are cancelled, the process exits
# 0) while the TaskManager keeps running, as in a Flink standalone
# cluster.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_slow.so"
[ -f "$PLUGIN" ] || { echo "SKIP: $PLUGIN is not built"; exit 77; }
cluster_trap

J="$WORK/r.json"
cluster_start_jm || { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
TM=$TM_PID
cluster_wait_tms 1 || { fail "TaskManager did not register"; finish; }

rest_call GET /datasets "$J"
expect_eq "GET /datasets" 200 "$HTTP_CODE"
expect_eq "no data sets" '{"dataSets": []}' "$(json_py "$J" 'json.dumps(d)' 2>&1)"

rest_call POST /jars/upload "$WORK/upload.json" -F "jarfile=@$PLUGIN"
JAR=$(json_py "$WORK/upload.json" 'd["filename"].split("/")[-1]')
rest_call POST "/jars/$JAR/run" "$J" -H 'Content-Type: application/json' \
    -d '{"parallelism":1,"programArgsList":["--records","100000000","--every","1"]}'
expect_eq "run an unbounded job" 200 "$HTTP_CODE"
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
cluster_wait_running "$JID" 30 || fail "job not running"

# ---- client heartbeats -------------------------------------------------
beat() {
    HTTP_CODE=$(curl -s -o "$J" -w '%{http_code}' --max-time 10 -X PATCH \
        -H 'Content-Type: application/json' -d "$2" "$REST_URL$1") ||
        HTTP_CODE=000
}
beat "/jobs/$JID/clientHeartbeat" '{"expiredTimestamp": 4102444800000}'
expect_eq "heartbeat of a running job: 202" 202 "$HTTP_CODE"
beat "/jobs/0123456789abcdef0123456789abcdef/clientHeartbeat" '{"expiredTimestamp": 1}'
expect_eq "heartbeat of an unknown job: 404" 404 "$HTTP_CODE"
beat "/jobs/$JID/clientHeartbeat" '{"expiredTimestamp": "soon"}'
expect_eq "heartbeat with a bad body: 400" 400 "$HTTP_CODE"
expect_eq "bad body message" \
    "Request did not match expected format JobClientHeartbeatRequestBody." \
    "$(json_py "$J" 'd["errors"][0]' 2>&1)"
beat "/jobs/not-a-job/clientHeartbeat" '{}'
expect_eq "heartbeat of a malformed id: 400" 400 "$HTTP_CODE"

# ---- shutdown ------------------------------------------------------------
HTTP_CODE=$(curl -s -o "$J" -w '%{http_code}' --max-time 10 -X GET \
    "$REST_URL/cluster") || HTTP_CODE=000
expect_eq "GET /cluster is not allowed: 405" 405 "$HTTP_CODE"
HTTP_CODE=$(curl -s -o "$J" -w '%{http_code}' --max-time 10 -X DELETE \
    "$REST_URL/cluster") || HTTP_CODE=000
expect_eq "DELETE /cluster" 200 "$HTTP_CODE"
expect_eq "DELETE /cluster body" '{}' "$(json_py "$J" 'json.dumps(d)' 2>&1)"

rc=none
for _ in $(seq 1 100); do
    if ! kill -0 "$JM_PID" 2>/dev/null; then
        wait "$JM_PID" 2>/dev/null && rc=0 || rc=$?
        break
    fi
    sleep 0.1
done
expect_eq "the JobManager exited with status 0" 0 "$rc"
expect_contains "the JobManager logs why" "$JM_LOG" \
    "Shutting down the cluster as requested over REST"
expect_contains "its JobMaster stopped" "$JM_LOG" "Stopping the JobMaster of job $JID"
kill -0 "$TM" 2>/dev/null && ok "the TaskManager keeps running" ||
    fail "the TaskManager exited"
finish
