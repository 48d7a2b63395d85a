#!/usr/bin/env bash
# Log downloads cannot grow the JobManager without bound: a log body stays
# in the JobManager until its client has it all, so three clients reading
# a 60 MiB log file at 1 KiB/s hold 180 MiB, over the 128 MiB budget of
# log data held for clients (rest_ops.c). A fourth download then answers
# 503 with {"errors": [...]}, and the JobManager logs why; once the slow
# clients are gone the budget is free again and the file is served.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
cluster_trap

cluster_start_jm || { fail "JobManager did not start"; finish; }

# The log directory is the one of --log-file ($WORK); a sparse 60 MiB file
# (read as zeros) is served whole (rest.server.max-content-length and the
# 64 MiB cap are above it).
truncate -s 60M "$WORK/big.log"

SLOW=()
for i in 1 2 3; do
    curl -s --limit-rate 1k -o /dev/null --max-time 120 \
        "$REST_URL/jobmanager/logs/big.log" &
    SLOW+=($!)
    CLUSTER_PIDS+=($!)
    # One at a time: each is read into memory before the next arrives.
    sleep 0.5
done

HTTP_CODE=$(curl -s -o "$WORK/busy.json" -w '%{http_code}' --max-time 10 \
    "$REST_URL/jobmanager/logs/big.log") || HTTP_CODE=000
expect_eq "a fourth download while 180 MiB are held: 503" 503 "$HTTP_CODE"
expect_eq "503 body names the cause" "Too many log transfers in progress; try again later." \
    "$(json_py "$WORK/busy.json" 'd["errors"][0]' 2>&1)"
expect_contains "the JobManager logs the refusal" "$JM_LOG" \
    "refused a log transfer"
HTTP_CODE=$(curl -s -o "$WORK/log.txt" -w '%{http_code}' --max-time 10 \
    "$REST_URL/jobmanager/log") || HTTP_CODE=000
expect_eq "/jobmanager/log is refused too (the same budget)" 503 "$HTTP_CODE"
# Other endpoints are not affected.
rest_call GET /overview "$WORK/o.json"
expect_eq "/overview still answers" 200 "$HTTP_CODE"

# The slow clients leave: their bodies are freed when MHD finds the
# connections closed, and downloads are served again.
kill "${SLOW[@]}" 2>/dev/null || true
wait "${SLOW[@]}" 2>/dev/null || true
code=000
for _ in $(seq 1 50); do
    code=$(curl -s -o "$WORK/big.out" -w '%{http_code}' --max-time 20 \
        "$REST_URL/jobmanager/logs/big.log") || code=000
    [ "$code" = 200 ] && break
    sleep 0.2
done
expect_eq "after the slow clients left: 200" 200 "$code"
expect_eq "the whole file" 62914560 "$(stat -c %s "$WORK/big.out" 2>/dev/null)"
kill -0 "$JM_PID" 2>/dev/null && ok "JobManager still running" ||
    fail "JobManager died"
finish
