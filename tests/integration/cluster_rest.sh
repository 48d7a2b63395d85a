#!/usr/bin/env bash
# The REST API of a real cluster: a JobManager and two TaskManagers (2 slots
# each) on 127.0.0.1 with ephemeral ports. Checks /config, /overview,
# /taskmanagers field by field against Flink's names, uploads WordCount,
# runs it with parallelism 4 (records cross the TaskManagers) and checks
# the exact counts and every job view, cancels a running job, then feeds
# the API bad input (non-ELF upload, hostile file name, oversized body,
# malformed JSON, bad and unknown ids) and checks the JobManager survives
# and shuts down cleanly on SIGTERM.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
WC="$EXAMPLES/wordcount.so"
[ -f "$WC" ] || { echo "SKIP: $WC is not built"; exit 77; }
cluster_trap

# jexpect NAME FILE EXPR EXPECTED: a field of a JSON answer.
jexpect() {
    local got
    got=$(json_py "$2" "$3" 2>&1) || got="ERROR: $got"
    expect_eq "$1" "$4" "$got"
}

# code_expect NAME EXPECTED: the last rest_call's status.
code_expect() {
    expect_eq "$1 (HTTP status)" "$2" "$HTTP_CODE"
}

oracle() { cat "$@" | tr 'A-Z' 'a-z' | grep -oE '[a-z]+' | sort | uniq -c | awk '{print $2, $1}' | sort; }
last_counts() { sed -E 's/^[0-9]+> //' | grep -E '^\(' | sed -E 's/^\(([^,]*),([0-9]+)\)$/\1 \2/' |
    awk '{last[$1] = $2} END { for (w in last) print w, last[w] }' | sort; }

J="$WORK/r.json"

cluster_start_jm -D rest.server.max-content-length=1048576 \
    -D my.service.password=hunter2 || { fail "JobManager start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=2
cluster_start_tm b -D taskmanager.numberOfTaskSlots=2
if cluster_wait_tms 2 30; then ok "2 TaskManagers registered"; else fail "TaskManagers registered"; fi

# ---- /config -----------------------------------------------------------
rest_call GET /config "$J"
code_expect "/config" 200
jexpect "/config fields" "$J" 'sorted(d)' \
    '["features","flink-revision","flink-version","refresh-interval","timezone-name","timezone-offset"]'
jexpect "/config refresh-interval" "$J" 'd["refresh-interval"]' 3000
jexpect "/config timezone-offset is an int" "$J" 'type(d["timezone-offset"]).__name__' int
jexpect "/config timezone-name is a string" "$J" 'type(d["timezone-name"]).__name__ + str(len(d["timezone-name"]) > 0)' strTrue
jexpect "/config flink-version" "$J" 'bool(d["flink-version"]) and isinstance(d["flink-version"], str)' true
jexpect "/config flink-revision" "$J" '" @ " in d["flink-revision"]' true
jexpect "/config features" "$J" 'd["features"]' \
    '{"web-submit":true,"web-cancel":true,"web-rescale":false,"web-history":false}'
rest_call GET /v1/config "$J"
code_expect "/v1/config" 200

# ---- /overview ---------------------------------------------------------
rest_call GET /overview "$J"
code_expect "/overview" 200
jexpect "/overview fields" "$J" 'sorted(d)' \
    '["flink-commit","flink-version","jobs-cancelled","jobs-failed","jobs-finished","jobs-running","slots-available","slots-total","taskmanagers"]'
jexpect "/overview counts" "$J" \
    '[d[k] for k in ("taskmanagers","slots-total","slots-available","jobs-running","jobs-finished","jobs-cancelled","jobs-failed")]' \
    '[2,4,4,0,0,0,0]'

# ---- /taskmanagers -----------------------------------------------------
rest_call GET /taskmanagers "$J"
code_expect "/taskmanagers" 200
jexpect "/taskmanagers fields" "$J" 'sorted(set(k for t in d["taskmanagers"] for k in t))' \
    '["dataPort","freeResource","freeSlots","hardware","id","jmxPort","memoryConfiguration","path","slotsNumber","timeSinceLastHeartbeat","totalResource"]'
jexpect "/taskmanagers slots" "$J" '[(t["slotsNumber"], t["freeSlots"], t["jmxPort"]) for t in d["taskmanagers"]]' \
    '[[2,2,-1],[2,2,-1]]'
jexpect "/taskmanagers data ports" "$J" 'all(isinstance(t["dataPort"], int) and t["dataPort"] > 0 for t in d["taskmanagers"])' true
jexpect "/taskmanagers heartbeat is a timestamp" "$J" 'all(t["timeSinceLastHeartbeat"] > 1600000000000 for t in d["taskmanagers"])' true
jexpect "/taskmanagers hardware" "$J" 'sorted(d["taskmanagers"][0]["hardware"])' \
    '["cpuCores","freeMemory","managedMemory","physicalMemory"]'
jexpect "/taskmanagers totalResource" "$J" 'sorted(d["taskmanagers"][0]["totalResource"])' \
    '["cpuCores","extendedResources","managedMemory","networkMemory","taskHeapMemory","taskOffHeapMemory"]'
jexpect "/taskmanagers memoryConfiguration" "$J" 'sorted(d["taskmanagers"][0]["memoryConfiguration"])' \
    '["frameworkHeap","frameworkOffHeap","jvmMetaspace","jvmOverhead","managedMemory","networkMemory","taskHeap","taskOffHeap","totalFlinkMemory","totalProcessMemory"]'
TM_IDS=$(json_py "$J" 'sorted(t["id"] for t in d["taskmanagers"])')
TM0=$(json_py "$J" 'd["taskmanagers"][0]["id"]')
rest_call GET "/taskmanagers/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TM0")" "$J"
code_expect "/taskmanagers/:id" 200
jexpect "/taskmanagers/:id id" "$J" 'd["id"]' "$TM0"
jexpect "/taskmanagers/:id metrics" "$J" '"heapUsed" in d["metrics"] and "garbageCollectors" in d["metrics"] and d["allocatedSlots"] == []' true
rest_call GET /taskmanagers/nosuchtm "$J"
code_expect "unknown TaskManager" 404

# ---- /jobmanager/config ------------------------------------------------
rest_call GET /jobmanager/config "$J"
code_expect "/jobmanager/config" 200
jexpect "/jobmanager/config shape" "$J" 'all(sorted(e) == ["key", "value"] for e in d)' true
jexpect "/jobmanager/config shows -D" "$J" '[e["value"] for e in d if e["key"] == "rest.server.max-content-length"]' '["1048576"]'
jexpect "/jobmanager/config hides secrets" "$J" '[e["value"] for e in d if e["key"] == "my.service.password"]' '["******"]'

# ---- upload, list, plan -----------------------------------------------
UPLOAD_DIR=$(ls -d "$WORK"/cflink-jm-*/flink-web-upload)
rest_call POST /jars/upload "$J" -F "jarfile=@$WC"
code_expect "upload wordcount.so" 200
jexpect "upload status" "$J" 'd["status"]' success
JAR_PATH=$(json_py "$J" 'd["filename"]')
JAR_ID=$(basename "$JAR_PATH")
expect_eq "upload stored in the upload dir" "$UPLOAD_DIR" "$(dirname "$JAR_PATH")"
expect_eq "jar id is <uuid>_wordcount.so" 1 \
    "$(grep -cE '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_wordcount\.so$' <<<"$JAR_ID" || true)"
cmp -s "$WC" "$JAR_PATH" && ok "uploaded bytes intact" || fail "uploaded bytes differ"

rest_call GET /jars "$J"
code_expect "/jars" 200
jexpect "/jars address" "$J" 'd["address"]' "http://127.0.0.1:$REST_PORT"
jexpect "/jars lists the upload" "$J" '[(f["id"], f["name"]) for f in d["files"]]' "[[\"$JAR_ID\",\"wordcount.so\"]]"
jexpect "/jars entry" "$J" 'sorted(d["files"][0]["entry"][0]) == ["description", "name"] and bool(d["files"][0]["entry"][0]["name"])' true
jexpect "/jars uploaded" "$J" 'd["files"][0]["uploaded"] > 1600000000000' true

for i in $(seq 50); do cat "$CF_SOURCE_DIR/examples/data/hamlet.txt"; echo "Line $i: MiXeD-case words_and 123 digits"; done > "$WORK/big.txt"

rest_call GET "/jars/$JAR_ID/plan?parallelism=4&programArg=--input,$WORK/big.txt" "$J"
code_expect "GET /jars/:id/plan" 200
jexpect "plan has nodes" "$J" 'len(d["plan"]["nodes"]) > 0 and all(n["parallelism"] == 4 for n in d["plan"]["nodes"])' true
rest_call POST "/jars/$JAR_ID/plan" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":\"2\",\"programArgs\":\"--input '$WORK/big.txt'\"}"
code_expect "POST /jars/:id/plan (string parallelism, programArgs)" 200
jexpect "plan parallelism 2" "$J" 'sorted(set(n["parallelism"] for n in d["plan"]["nodes"]))' '[2]'

# ---- run WordCount with parallelism 4 ------------------------------------
rest_call POST "/jars/$JAR_ID/run" "$J" -H 'Content-Type: application/json' \
    -d "{\"parallelism\":4,\"programArgsList\":[\"--input\",\"$WORK/big.txt\",\"--output\",\"$WORK/result\"]}"
code_expect "run wordcount" 200
JID=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
expect_eq "job id is 32 hex" 1 "$(grep -cE '^[0-9a-f]{32}$' <<<"$JID" || true)"
expect_eq "wordcount SUCCEEDED" SUCCEEDED "$(cluster_wait_job_done "$JID" 120 || true)"
expect_eq "wordcount counts" "$(oracle "$WORK/big.txt")" "$(cat "$WORK"/result/part-* 2>/dev/null | last_counts)"
expect_eq "no in-progress files left" "" "$(ls -A "$WORK/result" 2>/dev/null | grep inprogress || true)"

rest_call GET "/jobs/$JID/execution-result" "$J"
code_expect "execution-result" 200
jexpect "execution-result fields" "$J" 'd["status"]["id"] + " " + str(sorted(d["job-execution-result"]))' \
    "COMPLETED ['accumulator-results', 'application-status', 'end-time', 'id', 'name', 'net-runtime', 'start-time']"
jexpect "execution-result id" "$J" 'd["job-execution-result"]["id"]' "$JID"
jexpect "execution-result net-runtime" "$J" '(lambda r: r["net-runtime"] == r["end-time"] - r["start-time"] and r["net-runtime"] >= 0)(d["job-execution-result"])' true

rest_call GET /jobs "$J"
code_expect "/jobs" 200
jexpect "/jobs" "$J" 'd["jobs"]' "[{\"id\":\"$JID\",\"status\":\"FINISHED\"}]"

rest_call GET /jobs/overview "$J"
code_expect "/jobs/overview" 200
jexpect "/jobs/overview fields" "$J" 'sorted(d["jobs"][0])' \
    '["duration","end-time","jid","last-modification","name","pending-operators","start-time","state","tasks"]'
jexpect "/jobs/overview job" "$J" '[d["jobs"][0][k] for k in ("jid", "state")]' "[\"$JID\",\"FINISHED\"]"
jexpect "/jobs/overview tasks keys" "$J" 'sorted(d["jobs"][0]["tasks"])' \
    '["canceled","canceling","created","deploying","failed","finished","initializing","reconciling","running","scheduled","total"]'
jexpect "/jobs/overview all tasks finished" "$J" '(lambda t: t["total"] == t["finished"] and t["total"] >= 4)(d["jobs"][0]["tasks"])' true
jexpect "/jobs/overview times" "$J" '(lambda j: j["end-time"] >= j["start-time"] > 0 and j["duration"] == j["end-time"] - j["start-time"])(d["jobs"][0])' true

rest_call GET "/jobs/$JID" "$J"
code_expect "/jobs/:jobid" 200
cp "$J" "$WORK/job.json"
jexpect "/jobs/:jobid fields" "$J" 'sorted(k for k in d if k != "pending-operators")' \
    '["duration","end-time","isStoppable","jid","job-type","maxParallelism","name","now","plan","start-time","state","status-counts","timestamps","vertices"]'
jexpect "/jobs/:jobid state" "$J" '[d["jid"], d["state"], d["job-type"], d["isStoppable"]]' "[\"$JID\",\"FINISHED\",\"STREAMING\",false]"
jexpect "/jobs/:jobid timestamps" "$J" 'sorted(d["timestamps"])' \
    '["CANCELED","CANCELLING","CREATED","FAILED","FAILING","FINISHED","INITIALIZING","RECONCILING","RESTARTING","RUNNING","SUSPENDED"]'
jexpect "/jobs/:jobid FINISHED timestamp" "$J" 'd["timestamps"]["FINISHED"] == d["end-time"] > 0' true
jexpect "/jobs/:jobid vertices fields" "$J" 'sorted(set(k for v in d["vertices"] for k in v))' \
    '["duration","end-time","id","maxParallelism","metrics","name","parallelism","slotSharingGroupId","start-time","status","tasks"]'
jexpect "/jobs/:jobid vertices finished" "$J" 'all(v["status"] == "FINISHED" and v["tasks"]["FINISHED"] == v["parallelism"] for v in d["vertices"])' true
jexpect "/jobs/:jobid vertex parallelism" "$J" 'sorted(set(v["parallelism"] for v in d["vertices"]))' '[4]'
jexpect "/jobs/:jobid plan joins vertices" "$J" 'sorted(n["id"] for n in d["plan"]["nodes"]) == sorted(v["id"] for v in d["vertices"])' true
jexpect "/jobs/:jobid status-counts" "$J" '(d["status-counts"]["FINISHED"], sum(d["status-counts"].values()), len(d["status-counts"]))' \
    "[$(json_py "$J" 'len(d["vertices"])'),$(json_py "$J" 'len(d["vertices"])'),10]"
jexpect "/jobs/:jobid metrics fields" "$J" 'sorted(d["vertices"][0]["metrics"])' \
    '["accumulated-backpressured-time","accumulated-busy-time","accumulated-idle-time","read-bytes","read-bytes-complete","read-records","read-records-complete","write-bytes","write-bytes-complete","write-records","write-records-complete"]'
jexpect "/jobs/:jobid source wrote records" "$J" 'd["vertices"][0]["metrics"]["write-records"] > 0' true
jexpect "/jobs/:jobid sink read records" "$J" 'd["vertices"][-1]["metrics"]["read-records"] > 0' true

rest_call GET "/jobs/$JID/plan" "$J"
code_expect "/jobs/:jobid/plan" 200
jexpect "/jobs/:jobid/plan" "$J" '[d["plan"]["jid"], d["plan"]["type"]]' "[\"$JID\",\"STREAMING\"]"
rest_call GET "/jobs/$JID/status" "$J"
code_expect "/jobs/:jobid/status" 200
jexpect "/jobs/:jobid/status" "$J" 'd' '{"status":"FINISHED"}'
rest_call GET "/jobs/$JID/config" "$J"
code_expect "/jobs/:jobid/config" 200
jexpect "/jobs/:jobid/config" "$J" '[d["jid"], sorted(d["execution-config"]), d["execution-config"]["job-parallelism"]]' \
    "[\"$JID\",[\"execution-mode\",\"job-parallelism\",\"object-reuse-mode\",\"restart-strategy\",\"user-config\"],4]"
rest_call GET "/jobs/$JID/exceptions" "$J"
code_expect "/jobs/:jobid/exceptions" 200
jexpect "/jobs/:jobid/exceptions" "$J" '[d["exceptionHistory"], d["root-exception"], d["all-exceptions"], d["truncated"]]' \
    '[{"entries":[],"truncated":false},null,[],false]'

VID=$(json_py "$WORK/job.json" 'd["vertices"][-1]["id"]')
rest_call GET "/jobs/$JID/vertices/$VID" "$J"
code_expect "/jobs/:jobid/vertices/:vid" 200
jexpect "vertex fields" "$J" '[d["id"], d["parallelism"], len(d["subtasks"]), sorted(k for k in d if k != "aggregated")]' \
    "[\"$VID\",4,4,[\"id\",\"maxParallelism\",\"name\",\"now\",\"parallelism\",\"subtasks\"]]"
jexpect "subtask fields" "$J" 'sorted(set(k for s in d["subtasks"] for k in s) - {"host", "timestamps"})' \
    '["attempt","duration","end-time","endpoint","metrics","start-time","start_time","status","status-duration","subtask","taskmanager-id"]'
jexpect "subtasks finished" "$J" '[(s["subtask"], s["status"], s["attempt"]) for s in d["subtasks"]]' \
    '[[0,"FINISHED",0],[1,"FINISHED",0],[2,"FINISHED",0],[3,"FINISHED",0]]'
jexpect "subtask endpoints" "$J" 'all(s["endpoint"].startswith("127.0.0.1:") for s in d["subtasks"])' true
jexpect "subtasks on both TaskManagers" "$J" 'sorted(set(s["taskmanager-id"] for s in d["subtasks"]))' "$TM_IDS"
rest_call GET "/jobs/$JID/vertices/0123456789abcdef0123456789abcdef" "$J"
code_expect "unknown vertex" 404

rest_call PATCH "/jobs/$JID?mode=cancel" "$J"
code_expect "cancel a finished job" 409

rest_call GET /overview "$J"
jexpect "/overview after the job" "$J" '[d["jobs-finished"], d["jobs-running"], d["slots-available"]]' '[1,0,4]'

# ---- cancel a running job (socket source that never ends) ----------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4); s.settimeout(60)
c, _ = s.accept(); c.sendall(b"to be or not to be\n"); time.sleep(60)
PY
server=$!
hexport=$(printf '%04X' "$port")
for _ in $(seq 100); do
    grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp && break
    sleep 0.05
done
rest_call POST "/jars/$JAR_ID/run?parallelism=2" "$J" -d "{\"programArgsList\":[\"--hostname\",\"127.0.0.1\",\"--port\",\"$port\"]}"
code_expect "run socket wordcount" 200
JID2=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
st=
for _ in $(seq 200); do
    rest_call GET "/jobs/$JID2" "$J"
    st=$(json_py "$J" 'd["state"] + ":" + ",".join(sorted(set(v["status"] for v in d["vertices"])))' 2>/dev/null || true)
    [ "$st" = "RUNNING:RUNNING" ] && break
    sleep 0.1
done
expect_eq "socket job running" "RUNNING:RUNNING" "$st"
rest_call GET "/jobs/$JID2/execution-result" "$J"
jexpect "execution-result in progress" "$J" 'd' '{"status":{"id":"IN_PROGRESS"}}'
rest_call PATCH "/jobs/$JID2" "$J"
code_expect "PATCH /jobs/:jobid (mode defaults to cancel)" 202
jexpect "cancel answer" "$J" 'd' '{}'
expect_eq "cancelled job" CANCELED "$(cluster_wait_job_done "$JID2" 20 || true)"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
for _ in $(seq 50); do
    rest_call GET /overview "$J"
    [ "$(json_py "$J" 'd["slots-available"]')" = 4 ] && break
    sleep 0.1
done
jexpect "slots freed after cancel" "$J" '[d["slots-available"], d["jobs-cancelled"]]' '[4,1]'

# ---- a job that fails at run time (nobody listens on its socket) ----------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rest_call POST "/jars/$JAR_ID/run" "$J" -d "{\"flinkConfiguration\":{\"restart-strategy.type\":\"none\"},\"programArgsList\":[\"--hostname\",\"127.0.0.1\",\"--port\",\"$port\"]}"
code_expect "run a job that fails" 200
FJ=$(json_py "$J" 'd["jobid"]' 2>/dev/null || echo none)
expect_eq "failing job FAILED" FAILED "$(cluster_wait_job_done "$FJ" 30 || true)"
rest_call GET "/jobs/$FJ/exceptions" "$J"
code_expect "exceptions of the failed job" 200
jexpect "root-exception names the port" "$J" 'str('"$port"') in d["root-exception"]' true
jexpect "exception history entry" "$J" '(lambda e: sorted(set(e) & {"exceptionName", "stacktrace", "timestamp", "failureLabels", "concurrentExceptions"}) == sorted({"exceptionName", "stacktrace", "timestamp", "failureLabels", "concurrentExceptions"}) and e["timestamp"] > 0)(d["exceptionHistory"]["entries"][0])' true
rest_call GET "/jobs/$FJ/execution-result" "$J"
jexpect "failure-cause" "$J" '(lambda f: sorted(f) == ["class", "serialized-throwable", "stack-trace"] and str('"$port"') in f["stack-trace"])(d["job-execution-result"]["failure-cause"])' true
rest_call GET "/jobs/$FJ/config" "$J"
jexpect "job config: restart strategy from flinkConfiguration" "$J" '"NoRestart" in d["execution-config"]["restart-strategy"]' true
rest_call GET /overview "$J"
jexpect "/overview counts failed jobs" "$J" 'd["jobs-failed"]' 1

# ---- bad input -----------------------------------------------------------
printf 'just some text\n' > "$WORK/notelf.so"
rest_call POST /jars/upload "$J" -F "jarfile=@$WORK/notelf.so"
code_expect "non-ELF upload" 400
jexpect "non-ELF upload names the reason" "$J" '"not an ELF file" in d["errors"][0] and "notelf.so" in d["errors"][0]' true
cp "$WC" "$WORK/wc.txt"
rest_call POST /jars/upload "$J" -F "jarfile=@$WORK/wc.txt"
code_expect "upload without .so" 400
cc -shared -fPIC -o "$WORK/plain.so" -x c - <<<'int f(void) { return 1; }' 2>/dev/null &&
    {
        rest_call POST /jars/upload "$J" -F "jarfile=@$WORK/plain.so"
        code_expect "upload of a non-cflink library" 400
        jexpect "non-cflink library reason" "$J" '"not a cflink plugin" in d["errors"][0]' true
    }
rest_call POST /jars/upload "$J" -F "jarfile=@$WC;filename=../../evil.so"
if [ "$HTTP_CODE" = 200 ]; then
    EVIL=$(json_py "$J" 'd["filename"]')
    expect_eq "hostile name stored in the upload dir" "$UPLOAD_DIR" "$(dirname "$EVIL")"
    expect_eq "hostile name reduced to its basename" 1 "$(grep -c '_evil\.so$' <<<"$EVIL" || true)"
    rest_call DELETE "/jars/$(basename "$EVIL")" "$J"
    code_expect "delete the hostile-named jar" 200
else
    code_expect "hostile name refused" 400
fi
expect_eq "nothing written outside the upload dir" "" "$(ls "$WORK"/evil.so "$WORK"/cflink-jm-*/evil.so 2>/dev/null || true)"
expect_eq "refused uploads deleted" "$JAR_ID" "$(ls -A "$UPLOAD_DIR")"
rest_call POST /jars/upload "$J" -F "jarfile=@$WC;filename=-rf.so"
code_expect "upload named -rf.so" 400
rest_call POST /jars/upload "$J" -d '{}'
code_expect "upload without a file" 400

head -c 2097152 /dev/zero > "$WORK/big.bin"
rest_call POST "/jars/$JAR_ID/run" "$J" -H 'Content-Type: application/json' --data-binary "@$WORK/big.bin"
code_expect "body over rest.server.max-content-length" 413
rest_call POST /jars/upload "$J" -F "jarfile=@$WORK/big.bin;filename=big.so"
code_expect "upload over rest.server.max-content-length" 413
expect_eq "oversized upload deleted" "$JAR_ID" "$(ls -A "$UPLOAD_DIR")"

rest_call POST "/jars/$JAR_ID/run" "$J" -H 'Content-Type: application/json' -d '{"parallelism": 4,'
code_expect "malformed JSON" 400
jexpect "malformed JSON message" "$J" 'd["errors"]' '["Request did not match expected format JarRunRequestBody."]'
rest_call POST "/jars/$JAR_ID/run" "$J" -d '{"parallelism": [4]}'
code_expect "wrong JSON type" 400
rest_call POST "/jars/$JAR_ID/run" "$J" -d '{"parallelism": 0}'
code_expect "parallelism 0" 400
rest_call POST "/jars/$JAR_ID/run" "$J" -d '{"savepointPath": "/tmp/sp"}'
code_expect "savepointPath" 400
rest_call POST "/jars/$JAR_ID/run" "$J" -d "{\"jobId\":\"$JID\",\"programArgsList\":[\"--input\",\"$WORK/big.txt\"]}"
code_expect "duplicate job id" 409
rest_call POST "/jars/$JAR_ID/run" "$J" -d '{"programArgsList":["--input","/nonexistent/input.txt"]}'
if [ "$HTTP_CODE" = 200 ]; then
    BADJ=$(json_py "$J" 'd["jobid"]')
    expect_eq "job with a missing input fails" FAILED "$(cluster_wait_job_done "$BADJ" 30 || true)"
    rest_call GET "/jobs/$BADJ/exceptions" "$J"
    jexpect "exceptions name the input" "$J" '"/nonexistent/input.txt" in json.dumps(d["exceptionHistory"]) and d["root-exception"] is not None' true
    rest_call GET "/jobs/$BADJ/execution-result" "$J"
    jexpect "failure-cause" "$J" 'sorted(d["job-execution-result"]["failure-cause"])' \
        '["class","serialized-throwable","stack-trace"]'
else
    code_expect "run with a missing input refused" 400
fi

rest_call GET /jobs/xyz "$J"
code_expect "job id xyz" 400
jexpect "job id xyz message" "$J" 'd["errors"][0]' \
    'Bad request, could not parse parameters: Cannot resolve path parameter (jobid) from value "xyz".'
rest_call GET /jobs/0123456789abcdef0123456789abcdef "$J"
code_expect "unknown job id" 404
jexpect "unknown job id message" "$J" 'd["errors"][0]' 'Job 0123456789abcdef0123456789abcdef not found'
rest_call PATCH "/jobs/0123456789abcdef0123456789abcdef?mode=cancel" "$J"
code_expect "cancel an unknown job" 404
rest_call PATCH "/jobs/$JID?mode=bogus" "$J"
code_expect "PATCH with mode=bogus" 400
rest_call GET /jobs/0123456789abcdef0123456789abcdef/execution-result "$J"
code_expect "execution-result of an unknown job" 404
rest_call POST /jars/nosuch_wordcount.so/run "$J" -d '{}'
code_expect "unknown jar id" 400
jexpect "unknown jar message" "$J" '"does not exist" in d["errors"][0]' true
rest_call POST "/jars/..%2F..%2Fetc%2Fpasswd/run" "$J" -d '{}'
expect_eq "jar id with ../ refused" 4 "${HTTP_CODE:0:1}"
rest_call DELETE /jars/nosuch_wordcount.so "$J"
code_expect "delete an unknown jar" 400
rest_call GET /no/such/path "$J"
code_expect "unknown route" 404
rest_call DELETE /overview "$J"
code_expect "wrong method" 405
rest_call GET /overview "$J" -F "jarfile=@$WC"
expect_eq "file part where none is expected" 4 "${HTTP_CODE:0:1}"
expect_eq "no stray upload" "$JAR_ID" "$(ls -A "$UPLOAD_DIR")"

kill -0 "$JM_PID" 2>/dev/null && ok "JobManager alive after bad input" || fail "JobManager died"
rest_call GET /overview "$J"
code_expect "JobManager answers after bad input" 200

rest_call DELETE "/jars/$JAR_ID" "$J"
code_expect "delete jar" 200
jexpect "delete answer" "$J" 'd' '{}'
expect_eq "jar file deleted" "" "$(ls -A "$UPLOAD_DIR")"
rest_call GET /jars "$J"
jexpect "/jars empty" "$J" 'd["files"]' '[]'

# ---- graceful shutdown --------------------------------------------------
WORKDIR_JM=$(dirname "$UPLOAD_DIR")
kill -TERM "$JM_PID"
rc=0
for _ in $(seq 100); do kill -0 "$JM_PID" 2>/dev/null || break; sleep 0.1; done
wait "$JM_PID" || rc=$?
expect_eq "JobManager exit code after SIGTERM" 0 "$rc"
expect_contains "shutdown logged" "$JM_LOG" "Shutting down as requested"
expect_eq "work directory removed" "" "$(ls -d "$WORKDIR_JM" 2>/dev/null || true)"
finish
