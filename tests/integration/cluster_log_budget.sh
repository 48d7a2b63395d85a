#!/usr/bin/env bash
# TaskManager log downloads cannot grow the JobManager without bound: a
# TaskManager's file comes to the JobManager over RPC (its last 8 MiB) and
# stays there until the client has it all, so sixteen clients reading an
# 8 MiB log at 1 KiB/s hold 128 MiB, the budget of log data held for
# clients (rest_ops.c). The next download then answers 503 with
# {"errors": [...]} and the JobManager logs why; the JobManager's own
# files, sent from the file (sendfile), are not refused; once the slow
# clients are gone the budget is free again.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
cluster_trap

cluster_start_jm || { fail "JobManager did not start"; finish; }
cluster_start_tm a -D taskmanager.numberOfTaskSlots=1
cluster_wait_tms 1 || { fail "TaskManager did not register"; finish; }
rest_call GET /taskmanagers "$WORK/tms.json"
TM=$(json_py "$WORK/tms.json" 'd["taskmanagers"][0]["id"]')
TMQ=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TM")

# Both daemons log to $WORK, their log directory: a sparse file (read as
# zeros) larger than what one TaskManager transfer carries.
truncate -s 9M "$WORK/big.log"
URL="$REST_URL/taskmanagers/$TMQ/logs/big.log"

SLOW=()
for _ in $(seq 1 16); do
    curl -s --limit-rate 1k -o /dev/null --max-time 120 "$URL" &
    SLOW+=($!)
    CLUSTER_PIDS+=($!)
    # One at a time: each is fetched and queued before the next arrives.
    sleep 0.3
done

HTTP_CODE=$(curl -s -o "$WORK/busy.json" -w '%{http_code}' --max-time 10 "$URL") ||
    HTTP_CODE=000
expect_eq "a 17th TaskManager log download while 128 MiB are held: 503" 503 "$HTTP_CODE"
expect_eq "503 body names the cause" "Too many log transfers in progress; try again later." \
    "$(json_py "$WORK/busy.json" 'd["errors"][0]' 2>&1)"
expect_contains "the JobManager logs the refusal" "$JM_LOG" \
    "refused a log transfer"
HTTP_CODE=$(curl -s -o "$WORK/jmbig.out" -w '%{http_code}' --max-time 20 \
    "$REST_URL/jobmanager/logs/big.log") || HTTP_CODE=000
expect_eq "the JobManager's own file is still served (from the file)" 200 "$HTTP_CODE"
expect_eq "its last 9 MiB, whole" 9437184 "$(stat -c %s "$WORK/jmbig.out" 2>/dev/null)"
rest_call GET /overview "$WORK/o.json"
expect_eq "/overview still answers" 200 "$HTTP_CODE"

# The slow clients leave: their bodies are freed when MHD finds the
# connections closed, and downloads are served again.
kill "${SLOW[@]}" 2>/dev/null || true
wait "${SLOW[@]}" 2>/dev/null || true
code=000
for _ in $(seq 1 50); do
    code=$(curl -s -o "$WORK/big.out" -w '%{http_code}' --max-time 20 "$URL") || code=000
    [ "$code" = 200 ] && break
    sleep 0.2
done
expect_eq "after the slow clients left: 200" 200 "$code"
expect_eq "the last 8 MiB of the TaskManager's file" 8388608 \
    "$(stat -c %s "$WORK/big.out" 2>/dev/null)"
kill -0 "$JM_PID" 2>/dev/null && ok "JobManager still running" ||
    fail "JobManager died"
finish
