#!/usr/bin/env bash
# Failover strategies (jobmanager.execution.failover-strategy). A
# JobManager (fixed-delay restarts) and one TaskManager with four slots
# run tp_region at parallelism 2: source -> mapper -> sink with chaining
# disabled, subtask 1 of the mapper failing once.
#
# - region (default), FORWARD edges: two pipelined regions. Only the
#   three subtasks of pipeline 1 restart (attempt 1); pipeline 0 keeps
#   attempt 0, its start time and its RUNNING state, and keeps counting
#   records. As Flink's DefaultScheduler, the job is RESTARTING while the
#   region waits for its restart, then RUNNING; the failure is in
#   /jobs/:id/exceptions and the JobManager logs Flink's lines.
# - full (-D jobmanager.execution.failover-strategy=full): all six
#   subtasks restart.
# - region with a keyed (all-to-all) edge: one region, all six restart.
#
# Exits 77 (skipped) when the daemons or the test plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
PLUGIN="$PLUGINS/tp_region.so"
if [ ! -f "$PLUGIN" ]; then
    echo "SKIP: $PLUGIN is not built"
    exit 77
fi
cluster_trap

HB=(-D heartbeat.interval=500 -D heartbeat.timeout=5000)
cluster_start_jm "${HB[@]}" -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=3 \
    -D restart-strategy.fixed-delay.delay=300ms
cluster_start_tm a -D taskmanager.numberOfTaskSlots=4 "${HB[@]}"
if cluster_wait_tms 1 20; then ok "TaskManager registered"; else
    fail "TaskManager registered"; fi

# region_snapshot JID: one line per subtask, in vertex order:
# "<vertex index> <subtask> <status> <attempt> <start-time> <records in>
# <TaskManager id>","
# after a first line "job <state> <exceptions>".
region_snapshot() {
    python3 - "$REST_URL" "$1" <<'PY'
import json, sys, urllib.request
base, jid = sys.argv[1], sys.argv[2]
def get(p):
    with urllib.request.urlopen(base + p, timeout=10) as r:
        return json.load(r)
job = get("/jobs/" + jid)
exc = get("/jobs/" + jid + "/exceptions")
n = len(exc.get("exceptionHistory", {}).get("entries", []))
print("job", job["state"], n)
for i, v in enumerate(job["vertices"]):
    d = get("/jobs/%s/vertices/%s" % (jid, v["id"]))
    for s in d["subtasks"]:
        print(i, s["subtask"], s["status"], s["attempt"], s["start-time"],
              s["metrics"]["read-records"], s["taskmanager-id"])
PY
}

# region_submit OUT ARGS...: submit tp_region detached; prints the job id.
region_submit() {
    local out=$1
    shift
    run_cf "$WORK/$out.out" "$WORK/$out.err" 30 run -d \
        -m "127.0.0.1:$REST_PORT" -p 2 "$@"
    sed -nE 's/.*JobID ([0-9a-f]{32}).*/\1/p' "$WORK/$out.out" | head -1
}

# region_wait_recovered JID WANT: wait (30 s) until the job is RUNNING
# with one exception and every subtask RUNNING, the attempts being WANT
# (the attempt numbers in snapshot order, space separated); the last
# snapshot is in $WORK/snap.txt.
region_wait_recovered() {
    local jid=$1 want=$2 i got
    for ((i = 0; i < 300; i++)); do
        region_snapshot "$jid" >"$WORK/snap.txt" 2>/dev/null || true
        got=$(awk 'NR == 1 { s = $2 " " $3; next }
            { a = a " " $4; if ($3 != "RUNNING") s = s " " $3 }
            END { print s a }' "$WORK/snap.txt")
        [ "$got" = "RUNNING 1 $want" ] && return 0
        sleep 0.1
    done
    echo "job $jid: [$got], wanted [RUNNING 1 $want]" >&2
    return 1
}

# region_cancel JID: cancel through REST and wait until CANCELED.
region_cancel() {
    local st= i
    rest_call PATCH "/jobs/$1?mode=cancel" "$WORK/cancel.json"
    for ((i = 0; i < 200; i++)); do
        st=$(cluster_job_field "$1" 'd["state"]')
        [ "$st" = CANCELED ] && break
        sleep 0.05
    done
    expect_eq "job $1 canceled" CANCELED "$st"
}

# --- region, two pipelines -------------------------------------------
JID=$(region_submit r1 "$PLUGIN" --fail-once "$WORK/marker1" --after 300)
if [ -z "$JID" ]; then
    fail "no job id in: $(cat "$WORK/r1.out" "$WORK/r1.err")"
    finish
    exit 1
fi
if cluster_wait_running "$JID" 20 || [ -f "$WORK/marker1" ]; then
    ok "region job running"
else
    fail "region job running"
fi
if grep -qE "Using failover strategy region for .* \($JID\): 2 pipelined region\(s\)\.$" \
    "$JM_LOG"; then ok "two pipelined regions"; else
    fail "no 'Using failover strategy region ... 2 pipelined region(s)' line"; fi
if region_wait_recovered "$JID" "0 1 0 1 0 1"; then
    ok "region: only pipeline 1 restarted"
else
    fail "region: only pipeline 1 restarted"
    cat "$WORK/snap.txt" >&2
fi
cp "$WORK/snap.txt" "$WORK/snap1.txt"
expect_eq "marker created by the failure" yes \
    "$([ -f "$WORK/marker1" ] && echo yes || echo no)"
MAPPER=$(cluster_job_field "$JID" 'd["vertices"][1]["id"]')
expect_eq "mapper vertex" mapper \
    "$(cluster_job_field "$JID" 'd["vertices"][1]["name"]')"
expect_contains "Flink's region log" "$JM_LOG" \
    "Calculating tasks to restart to recover the failed task ${MAPPER}_1."
if grep -qE "^.*3 tasks will be restarted to recover the failed task [0-9a-f]{32}\.$" \
    "$JM_LOG"; then ok "3 tasks restarted (log)"; else
    fail "no '3 tasks will be restarted' line in the JobManager log"; fi
expect_eq "job went through RESTARTING" True \
    "$(cluster_job_field "$JID" 'str(d["timestamps"].get("RESTARTING", 0) > 0)')"
expect_eq "job RUNNING after the region restart" RUNNING \
    "$(cluster_job_field "$JID" 'd["state"]')"
rest_call GET "/jobs/$JID/exceptions" "$WORK/exc.json"
expect_eq "exception entry" "1 mapper (2/2) True" \
    "$(json_py "$WORK/exc.json" '" ".join([str(len(d["exceptionHistory"]["entries"])), d["exceptionHistory"]["entries"][0]["taskName"], str("planned failure of subtask 1" in d["exceptionHistory"]["entries"][0]["exceptionName"] + d["exceptionHistory"]["entries"][0].get("stacktrace", ""))])' 2>&1)"
expect_eq "Received task count (6 first, 3 again)" 9 \
    "$(grep -c 'Received task' "$WORK/taskmanager-a.log" || true)"

# Pipeline 0 was never interrupted: same attempt, same start time, and
# its sink keeps counting (heartbeats carry the counters every 500 ms).
BEFORE=$(awk '$1 == 2 && $2 == 0 { print $5 " " $6 }' "$WORK/snap1.txt")
sleep 1.5
region_snapshot "$JID" >"$WORK/snap2.txt"
AFTER=$(awk '$1 == 2 && $2 == 0 { print $5 " " $6 }' "$WORK/snap2.txt")
expect_eq "pipeline 0 not interrupted since the recovery" \
    "$(awk '$1 != "job" && $2 == 0 { print $1, $3, $4, $5 }' "$WORK/snap1.txt")" \
    "$(awk '$1 != "job" && $2 == 0 { print $1, $3, $4, $5 }' "$WORK/snap2.txt")"
if [ "${AFTER#* }" -gt "${BEFORE#* }" ] 2>/dev/null; then
    ok "pipeline 0 sink keeps reading (${BEFORE#* } -> ${AFTER#* })"
else
    fail "pipeline 0 sink records: before [$BEFORE], after [$AFTER]"
fi
ST1=$(awk '$1 == 0 && $2 == 0 { print $5 }' "$WORK/snap1.txt")
RS=$(cluster_job_field "$JID" 'str(d["timestamps"]["RESTARTING"])')
if [ "$ST1" -lt "$RS" ]; then ok "pipeline 0 started before the failover"; else
    fail "pipeline 0 start $ST1 not before RESTARTING $RS"; fi
region_cancel "$JID"

# --- full ---------------------------------------------------------------
JID=$(region_submit r2 -D jobmanager.execution.failover-strategy=full \
    "$PLUGIN" --fail-once "$WORK/marker2" --after 300)
expect_eq "full job submitted" 32 "${#JID}"
if region_wait_recovered "$JID" "1 1 1 1 1 1"; then
    ok "full: every subtask restarted"
else
    fail "full: every subtask restarted"
    cat "$WORK/snap.txt" >&2
fi
if grep -qE "Using failover strategy full for .* \($JID\): 2 pipelined region\(s\)\.$" \
    "$JM_LOG"; then ok "full strategy used"; else
    fail "no 'Using failover strategy full' line"; fi
if grep -qE "6 tasks will be restarted to recover the failed task [0-9a-f]{32}\.$" \
    "$JM_LOG"; then ok "6 tasks restarted (full, log)"; else
    fail "no '6 tasks will be restarted' line (full)"; fi
region_cancel "$JID"

# --- region, keyed: one region ----------------------------------------
N6=$(grep -c '6 tasks will be restarted' "$JM_LOG" || true)
JID=$(region_submit r3 "$PLUGIN" --edges keyed --fail-once "$WORK/marker3" \
    --after 150)
expect_eq "keyed job submitted" 32 "${#JID}"
if region_wait_recovered "$JID" "1 1 1 1 1 1"; then
    ok "keyed: one region, every subtask restarted"
else
    fail "keyed: one region, every subtask restarted"
    cat "$WORK/snap.txt" >&2
fi
expect_eq "keyed restart logged" $((N6 + 1)) \
    "$(grep -c '6 tasks will be restarted' "$JM_LOG" || true)"
if grep -qE "Using failover strategy region for .* \($JID\): 1 pipelined region\(s\)\.$" \
    "$JM_LOG"; then ok "keyed job has one region"; else
    fail "no 'Using failover strategy region ... 1 pipelined region(s)' line"; fi
region_cancel "$JID"

# --- region, both pipelines fail: two failovers, both restart ------------
R0=$(grep -c 'Restarting job' "$JM_LOG" || true)
JID=$(region_submit r4 "$PLUGIN" --fail-once "$WORK/marker4" \
    --fail-subtask all --after 300)
expect_eq "two-failure job submitted" 32 "${#JID}"
for ((i = 0; i < 300; i++)); do
    region_snapshot "$JID" >"$WORK/snap.txt" 2>/dev/null || true
    got=$(awk 'NR == 1 { s = $2 " " $3; next }
        { a = a " " $4; if ($3 != "RUNNING") s = s " " $3 }
        END { print s a }' "$WORK/snap.txt")
    [ "$got" = "RUNNING 2 1 1 1 1 1 1" ] && break
    sleep 0.1
done
expect_eq "both regions restarted once" "RUNNING 2 1 1 1 1 1 1" "$got"
expect_eq "two restarts" $((R0 + 2)) \
    "$(grep -c 'Restarting job' "$JM_LOG" || true)"
region_cancel "$JID"

# --- region, restart strategy none: the job fails ------------------------
JID=$(region_submit r5 -D restart-strategy.type=none "$PLUGIN" \
    --fail-once "$WORK/marker5" --after 300)
expect_eq "no-restart job submitted" 32 "${#JID}"
st=
for ((i = 0; i < 300; i++)); do
    st=$(cluster_job_field "$JID" 'd["state"]')
    [ "$st" = FAILED ] && break
    sleep 0.1
done
expect_eq "job FAILED without restarts" FAILED "$st"
expect_eq "it went through FAILING, never RESTARTING" "True False" \
    "$(cluster_job_field "$JID" 'str(d["timestamps"].get("FAILING", 0) > 0) + " " + str(d["timestamps"].get("RESTARTING", 0) > 0)')"
rest_call GET "/jobs/$JID/exceptions" "$WORK/exc5.json"
expect_eq "its exception" "1 True" \
    "$(json_py "$WORK/exc5.json" 'str(len(d["exceptionHistory"]["entries"])) + " " + str("planned failure" in d["exceptionHistory"]["entries"][0]["exceptionName"] + d["exceptionHistory"]["entries"][0].get("stacktrace", ""))')"
expect_eq "every subtask ended, attempt 0" \
    "0 0 0 0 0 0" \
    "$(region_snapshot "$JID" | awk 'NR > 1 { printf "%s%s", (NR > 2 ? " " : ""), $4 }')"

# --- region, TaskManager loss: only the lost pipeline moves ------------
# One-slot TaskManagers x and y host slot 0 and slot 1 (pipelines 0 and
# 1); z registers later. kill -9 of the TaskManager of pipeline 1: its
# region restarts on a new slot (z), pipeline 0 stays where it is.
kill -TERM "${TM_PIDS[a]}"
wait "${TM_PIDS[a]}" 2>/dev/null || true
cluster_start_tm x -D taskmanager.numberOfTaskSlots=1 "${HB[@]}"
cluster_wait_tms 1 20 || fail "TaskManager x registered"
cluster_start_tm y -D taskmanager.numberOfTaskSlots=1 "${HB[@]}"
cluster_wait_tms 2 20 || fail "TaskManager y registered"
JID=$(region_submit r6 "$PLUGIN")
expect_eq "TaskManager-loss job submitted" 32 "${#JID}"
if cluster_wait_running "$JID" 20; then ok "job on x and y running"; else
    fail "job on x and y running"; fi
region_snapshot "$JID" >"$WORK/snap6.txt"
TM0=$(awk '$1 == 0 && $2 == 0 { print $7 }' "$WORK/snap6.txt")
TM1=$(awk '$1 == 0 && $2 == 1 { print $7 }' "$WORK/snap6.txt")
if [ -n "$TM0" ] && [ -n "$TM1" ] && [ "$TM0" != "$TM1" ]; then
    ok "pipelines on two TaskManagers"
else
    fail "pipelines on TaskManagers [$TM0] and [$TM1]"
fi
VICTIM=x
grep -qF "ResourceID: $TM1" "$WORK/taskmanager-y.log" && VICTIM=y
cluster_start_tm z -D taskmanager.numberOfTaskSlots=1 "${HB[@]}"
cluster_wait_tms 3 20 || fail "TaskManager z registered"
kill -9 "${TM_PIDS[$VICTIM]}"
wait "${TM_PIDS[$VICTIM]}" 2>/dev/null || true
if region_wait_recovered "$JID" "0 1 0 1 0 1"; then
    ok "TaskManager loss: only pipeline 1 restarted"
else
    fail "TaskManager loss: only pipeline 1 restarted"
    cat "$WORK/snap.txt" >&2
fi
expect_eq "pipeline 0 untouched" \
    "$(awk '$1 != "job" && $2 == 0 { print $1, $4, $5, $7 }' "$WORK/snap6.txt")" \
    "$(awk '$1 != "job" && $2 == 0 { print $1, $4, $5, $7 }' "$WORK/snap.txt")"
ZID=$(sed -nE 's/.*Starting TaskManager with ResourceID: ([^ ]+).*/\1/p' \
    "$WORK/taskmanager-z.log" | head -1)
expect_eq "pipeline 1 moved to z" "$ZID $ZID $ZID" \
    "$(awk '$1 != "job" && $2 == 1 { printf "%s%s", (n++ ? " " : ""), $7 }' "$WORK/snap.txt")"
region_cancel "$JID"

if ! grep -qE 'ERROR|Assertion|AddressSanitizer|runtime error' \
    "$WORK"/taskmanager-*.log "$WORK"/taskmanager-*.out "$JM_LOG"; then
    ok "no errors in the logs"
else
    fail "errors in the logs:"
    grep -hE 'ERROR|Assertion|AddressSanitizer|runtime error' \
        "$WORK"/taskmanager-*.log "$WORK"/taskmanager-*.out "$JM_LOG" |
        head -10 >&2
fi
finish
